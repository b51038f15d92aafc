//! The teardown report: one model, rendered as a terminal table, JSON
//! (`sundown.report/v1`) and markdown (for the Action and notifications).
//!
//! Notifications take this report, never raw API results.

use std::fmt::Write as _;

use serde::Serialize;

use crate::model::inventory::{Kind, Phase};

pub const SCHEMA: &str = "sundown.report/v1";

/// How a run ended: the report's `result`, and the Action's `status` output
/// (`RunResult::status`), one vocabulary for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunResult {
    /// Every phase done or not configured.
    Succeeded,
    Failed,
    /// A signal stopped the run.
    Interrupted,
    /// Refused before anything was touched (the Action's status; a refusal writes no report).
    Refused,
}

impl RunResult {
    pub fn name(self) -> &'static str {
        match self {
            RunResult::Succeeded => "succeeded",
            RunResult::Failed => "failed",
            RunResult::Interrupted => "interrupted",
            RunResult::Refused => "refused",
        }
    }

    /// The Action's `status` output: `success`, `failed`, `interrupted` or `refused`.
    pub fn status(self) -> &'static str {
        match self {
            RunResult::Succeeded => "success",
            other => other.name(),
        }
    }
}

/// A machine-readable cause of a phase's end, when there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseCode {
    /// The stack holds something the reviewed plan does not list.
    Drift,
    /// The phase's bound ran out (`terraform.timeout`).
    Timeout,
    /// Another run holds the Terraform state's lock.
    StateLocked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseStatus {
    Done,
    Failed,
    /// Stopped on a signal before it finished; a re-run finishes it.
    Interrupted,
    Skipped,
    NotConfigured,
}

impl PhaseStatus {
    pub fn name(self) -> &'static str {
        match self {
            PhaseStatus::Done => "done",
            PhaseStatus::Failed => "failed",
            PhaseStatus::Interrupted => "interrupted",
            PhaseStatus::Skipped => "skipped",
            PhaseStatus::NotConfigured => "not configured",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Deleted,
    /// A running SageMaker job, seen `Stopped` (or otherwise ended).
    Stopped,
    Kept,
    /// Already gone: success.
    Absent,
    Failed,
    /// Appeared after the plan was reviewed: not deleted (`teardown --plan`).
    Drift,
}

/// What happened to one resource (for a repository: to its images).
#[derive(Debug, Clone, Serialize)]
pub struct ResourceOutcome {
    pub kind: Kind,
    pub name: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub phase: Phase,
    pub status: PhaseStatus,
    /// Where the phase worked, when that is worth showing: the API server the namespaces live on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Units: namespaces; SageMaker endpoints, configs and models; ECR images; Terraform resources.
    pub found: usize,
    pub deleted: usize,
    /// Running SageMaker jobs stopped (the SageMaker phase only).
    #[serde(skip_serializing_if = "is_zero")]
    pub stopped: usize,
    pub kept: usize,
    pub failed: usize,
    /// When the phase started, in seconds after the teardown started.
    pub start_seconds: f64,
    pub duration_seconds: f64,
    /// A machine-readable cause when there is one, e.g. `state-locked`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<PhaseCode>,
    pub errors: Vec<String>,
    pub resources: Vec<ResourceOutcome>,
}

impl PhaseReport {
    pub fn new(phase: Phase) -> PhaseReport {
        PhaseReport {
            phase,
            status: PhaseStatus::Done,
            source: None,
            found: 0,
            deleted: 0,
            stopped: 0,
            kept: 0,
            failed: 0,
            start_seconds: 0.0,
            duration_seconds: 0.0,
            code: None,
            errors: Vec::new(),
            resources: Vec::new(),
        }
    }

    pub fn not_configured(phase: Phase) -> PhaseReport {
        PhaseReport {
            status: PhaseStatus::NotConfigured,
            ..PhaseReport::new(phase)
        }
    }

    pub fn skipped(phase: Phase, why: String) -> PhaseReport {
        PhaseReport {
            status: PhaseStatus::Skipped,
            errors: vec![why],
            ..PhaseReport::new(phase)
        }
    }

    /// Records an error and marks the phase failed.
    pub fn fail(&mut self, error: impl Into<String>) {
        self.status = PhaseStatus::Failed;
        self.errors.push(error.into());
    }

    pub fn record(&mut self, kind: Kind, name: impl Into<String>, outcome: Outcome, detail: Option<String>) {
        match outcome {
            Outcome::Deleted => self.deleted += 1,
            Outcome::Stopped => self.stopped += 1,
            Outcome::Kept => self.kept += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Absent | Outcome::Drift => {}
        }
        if outcome != Outcome::Absent {
            self.found += 1;
        }
        self.resources.push(ResourceOutcome {
            kind,
            name: name.into(),
            outcome,
            detail,
        });
    }

    pub fn ok(&self) -> bool {
        matches!(self.status, PhaseStatus::Done | PhaseStatus::NotConfigured)
    }

    /// Adds what a second pass of the phase did: the resources this report
    /// does not name yet (for one it names, the first pass's word stands),
    /// the errors it does not hold yet, and a failure.
    pub fn merge(&mut self, second: PhaseReport) {
        if !second.ok() {
            self.status = second.status;
            self.code = self.code.or(second.code);
        }
        for r in second.resources {
            if !self.resources.iter().any(|s| s.kind == r.kind && s.name == r.name) {
                self.record(r.kind, r.name, r.outcome, r.detail);
            }
        }
        for e in second.errors {
            if !self.errors.contains(&e) {
                self.errors.push(e);
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub stack: String,
    pub region: String,
    pub account: String,
    /// `succeeded` when every phase is done or not configured; `interrupted`
    /// when a signal stopped the run; else `failed`.
    pub result: RunResult,
    pub started_at: String,
    pub duration_seconds: f64,
    /// What the deleted resources cost while they ran, in dollars a month (priced before the teardown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_usd_per_month: Option<f64>,
    /// The digest of the reviewed plan the teardown carried out (`teardown --plan`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_digest: Option<String>,
    /// `teardown --expired`: the lifetime, the commit that set it and the reminder that confirmed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<String>,
    pub phases: Vec<PhaseReport>,
    /// The closing sweep: what of the stack still exists after the last phase,
    /// and what it bills. Absent when the run was interrupted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<crate::model::sweep::Sweep>,
}

impl Report {
    /// Every phase done or not configured, and nothing of the stack left behind.
    pub fn succeeded(&self) -> bool {
        self.phases.iter().all(PhaseReport::ok) && self.sweep.as_ref().is_none_or(crate::model::sweep::Sweep::ok)
    }

    /// Resources Terraform destroyed plus everything the other phases deleted.
    pub fn deleted(&self) -> usize {
        self.phases.iter().map(|p| p.deleted).sum()
    }

    pub fn render_human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Teardown of {} in account {} ({}): {} in {:.1}s\n",
            self.stack,
            self.account,
            self.region,
            self.result.name(),
            self.duration_seconds
        );
        if let Some(usd) = self.stopped_usd_per_month {
            let _ = writeln!(
                out,
                "The teardown stops ≈ {} of running cost.\n",
                crate::text::per_month(usd)
            );
        }
        // The phases' waits overlap (`teardown.order`): when each started tells how.
        let _ = writeln!(
            out,
            "{:<11} {:<15} {:>6} {:>8} {:>5} {:>7} {:>8} {:>9}",
            "phase", "status", "found", "deleted", "kept", "failed", "started", "duration"
        );
        for p in &self.phases {
            let _ = writeln!(
                out,
                "{:<11} {:<15} {:>6} {:>8} {:>5} {:>7} {:>7} {:>8.1}s",
                p.phase.name(),
                p.status.name(),
                p.found,
                p.deleted,
                p.kept,
                p.failed,
                format!("+{:.1}s", p.start_seconds),
                p.duration_seconds
            );
        }
        for p in &self.phases {
            if let Some(source) = &p.source {
                let _ = writeln!(out, "{}: on {source}", p.phase.name());
            }
            for e in &p.errors {
                let _ = writeln!(out, "{}: {e}", p.phase.name());
            }
            for r in p
                .resources
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Kept | Outcome::Failed))
            {
                let what = if r.outcome == Outcome::Kept { "kept" } else { "failed" };
                let detail = r.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
                let _ = writeln!(out, "{}: {what} {} {}{detail}", p.phase.name(), r.kind.name(), r.name);
            }
        }
        if let Some(sweep) = &self.sweep {
            out.push_str(&sweep.render_human());
        }
        out
    }

    /// Markdown for a job summary or a pull-request comment.
    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        let icon = match self.result {
            _ if self.succeeded() => "✅",
            RunResult::Interrupted => "⏹️",
            _ => "❌",
        };
        let _ = writeln!(
            out,
            "### {icon} sundown teardown of `{}` {}\n",
            self.stack,
            self.result.name()
        );
        let _ = writeln!(
            out,
            "Account `{}`, region `{}`, {:.1}s.\n",
            self.account, self.region, self.duration_seconds
        );
        if let Some(usd) = self.stopped_usd_per_month {
            let _ = writeln!(
                out,
                "The teardown stops ≈ **{}** of running cost.\n",
                crate::text::per_month(usd)
            );
        }
        if let Some(digest) = &self.plan_digest {
            let _ = writeln!(out, "Carried out the reviewed plan `{digest}`.\n");
        }
        out.push_str(&self.gantt());
        let _ = writeln!(out, "| phase | status | found | deleted | kept | failed | duration |");
        let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: | ---: |");
        for p in &self.phases {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {:.1}s |",
                p.phase.name(),
                p.status.name(),
                p.found,
                p.deleted,
                p.kept,
                p.failed,
                p.duration_seconds
            );
        }
        for p in &self.phases {
            if let Some(source) = &p.source {
                let _ = writeln!(out, "\n{} on `{}`", p.phase.name(), escape_md(source));
            }
        }
        let problems: Vec<String> = self
            .phases
            .iter()
            .flat_map(|p| {
                p.errors
                    .iter()
                    .map(move |e| format!("- **{}**: {}", p.phase.name(), escape_md(e)))
            })
            .collect();
        if !problems.is_empty() {
            let _ = writeln!(out, "\n{}", problems.join("\n"));
        }
        let kept: Vec<String> = self
            .phases
            .iter()
            .flat_map(|p| p.resources.iter().filter(|r| r.outcome == Outcome::Kept))
            .map(|r| format!("`{}` {}", r.name, r.kind.name()))
            .collect();
        if !kept.is_empty() {
            let _ = writeln!(out, "\nKept (protected): {}", kept.join(", "));
        }
        if let Some(sweep) = &self.sweep {
            out.push_str(&sweep.render_markdown());
        }
        out
    }
}

impl Report {
    /// A mermaid `gantt` chart of the phases, which GitHub renders in job
    /// summaries and comments: when each started and how long it took; a
    /// failed or interrupted phase is `crit`; skipped and unconfigured phases
    /// are shown as such, with no length.
    pub fn gantt(&self) -> String {
        let mut out = String::from("```mermaid\ngantt\n");
        let _ = writeln!(out, "    title sundown teardown of {}", self.stack.replace(':', " "));
        out.push_str("    dateFormat x\n    axisFormat %M:%S\n    section phases\n");
        for p in &self.phases {
            let ms = |seconds: f64| (seconds * 1000.0).round() as u64;
            let tag = match p.status {
                PhaseStatus::Done => "done, ",
                PhaseStatus::Failed | PhaseStatus::Interrupted => "crit, ",
                PhaseStatus::Skipped | PhaseStatus::NotConfigured => "",
            };
            let _ = writeln!(
                out,
                "    {} ({}) :{tag}{}, {}, {}ms",
                p.phase.name(),
                p.status.name(),
                p.phase.name(),
                ms(p.start_seconds),
                ms(p.duration_seconds).max(1)
            );
        }
        out.push_str("```\n\n");
        out
    }
}

fn escape_md(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gantt_chart_shows_each_phase_when_it_ran_and_how_it_ended_overlaps_included() {
        let phase = |phase, status, start, duration| PhaseReport {
            status,
            start_seconds: start,
            duration_seconds: duration,
            ..PhaseReport::new(phase)
        };
        let report = Report {
            schema: SCHEMA,
            stack: "retail-forecast".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            result: RunResult::Failed,
            started_at: "2026-11-29T00:00:00Z".into(),
            duration_seconds: 12.5,
            stopped_usd_per_month: None,
            plan_digest: None,
            confirmed_by: None,
            sweep: None,
            // Overlapped: SageMaker and ECR issue their deletions while the namespace terminates.
            phases: vec![
                phase(Phase::Kubernetes, PhaseStatus::Done, 0.0, 6.25),
                phase(Phase::Sagemaker, PhaseStatus::Failed, 0.5, 10.0),
                phase(Phase::Ecr, PhaseStatus::Done, 0.75, 10.0),
                phase(Phase::Terraform, PhaseStatus::Skipped, 10.75, 0.0),
            ],
        };
        assert_eq!(
            report.gantt(),
            include_str!("../../tests/snapshots/gantt.md"),
            "the snapshot in tests/snapshots/gantt.md"
        );
    }
}
