//! The `sundown.plan/v1` document: what a teardown would delete and keep,
//! phase by phase, with the digest `teardown --plan` checks and its renderers.
//! A document is output, never a cache: the inventory it lists is passed to
//! whoever needs it (`discover::Stack`), not carried in here.

use std::fmt::Write as _;

use anyhow::Result;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::inventory::{Action, Kind, Phase, Resource};

pub const SCHEMA: &str = "sundown.plan/v1";

#[derive(Debug, Serialize)]
pub struct Plan {
    pub schema: &'static str,
    pub stack: String,
    pub region: String,
    pub account: String,
    pub created_at: String,
    /// sha256 over what the teardown would delete (with identities), stack,
    /// account, region and `created_at`: what `teardown --plan` checks.
    pub digest: String,
    /// Whether `accounts` lists this account; teardown refuses when false.
    pub account_allowed: bool,
    pub phases: Vec<PhasePlan>,
    pub summary: Summary,
    /// What the teardown stops, in dollars a month (`sundown cost`'s figure), when it could be priced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stops_usd_per_month: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Ready,
    NotConfigured,
    Error,
}

#[derive(Debug, Serialize)]
pub struct PhasePlan {
    pub phase: Phase,
    pub status: PlanStatus,
    /// Where the phase looks: a kubeconfig, an EKS cluster, a Terraform directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub resources: Vec<Resource>,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub delete: usize,
    /// Running SageMaker jobs that would be stopped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stop: usize,
    pub keep: usize,
    pub absent: usize,
    /// ECR images that would be deleted.
    pub images: usize,
    /// Phases whose discovery failed.
    pub errors: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl PhasePlan {
    pub fn not_configured(phase: Phase) -> PhasePlan {
        PhasePlan {
            phase,
            status: PlanStatus::NotConfigured,
            source: None,
            error: None,
            resources: Vec::new(),
        }
    }

    pub fn from_result(phase: Phase, source: Option<String>, result: Result<Vec<Resource>, String>) -> PhasePlan {
        match result {
            Ok(resources) => PhasePlan {
                phase,
                status: PlanStatus::Ready,
                source,
                error: None,
                resources,
            },
            Err(e) => PhasePlan {
                phase,
                status: PlanStatus::Error,
                source,
                error: Some(e),
                resources: Vec::new(),
            },
        }
    }
}

pub fn summarize(phases: &[PhasePlan]) -> Summary {
    let mut s = Summary::default();
    for p in phases {
        if p.status == PlanStatus::Error {
            s.errors += 1;
        }
        for r in &p.resources {
            match r.action {
                Action::Delete => {
                    s.delete += 1;
                    s.images += r.images.map_or(0, |c| c.images);
                }
                Action::Stop => s.stop += 1,
                Action::Keep => s.keep += 1,
                Action::Absent => s.absent += 1,
            }
        }
    }
    s
}

/// The digest of a plan: sha256 over its schema, stack, account, region,
/// creation time and the sorted list of what it would delete, each with the
/// identity that tells it from a resource recreated under the same name.
pub fn digest(stack: &str, account: &str, region: &str, created_at: &str, resources: &[&Resource]) -> String {
    let mut lines: Vec<String> = resources
        .iter()
        .filter(|r| matches!(r.action, Action::Delete | Action::Stop))
        .flat_map(|r| {
            if r.kind == Kind::Repository {
                r.digests.iter().map(|d| format!("image\t{}\t{d}", r.name)).collect()
            } else {
                vec![format!(
                    "{}\t{}\t{}",
                    r.kind.name(),
                    r.name,
                    r.id.as_deref().unwrap_or("")
                )]
            }
        })
        .collect();
    lines.sort();
    let mut hasher = Sha256::new();
    hasher.update(format!("{}\n{stack}\n{account}\n{region}\n{created_at}\n", SCHEMA));
    for line in &lines {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    let hash = hasher.finalize();
    let mut hex = String::with_capacity(71);
    hex.push_str("sha256:");
    for byte in hash {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

impl Plan {
    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0
    }

    /// Writes the plan document (as `--output json` prints it) for `teardown --plan`.
    pub fn write(&self, path: &std::path::Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        std::fs::write(path, text).map_err(|e| anyhow::anyhow!("writing the plan to {}: {e}", path.display()))
    }

    /// The terminal rendering: one block per phase in teardown order.
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Plan for stack {} in account {} ({})",
            self.stack, self.account, self.region
        );
        let _ = writeln!(out, "Digest {} (created {})", self.digest, self.created_at);
        if !self.account_allowed {
            let _ = writeln!(
                out,
                "  note: account {} is not in `accounts`; teardown would refuse",
                self.account
            );
        }
        for (i, p) in self.phases.iter().enumerate() {
            let source = p.source.as_deref().map(|s| format!("  ({s})")).unwrap_or_default();
            let _ = writeln!(out, "\n{}. {}{}", i + 1, p.phase.name(), source);
            match p.status {
                PlanStatus::NotConfigured => {
                    let _ = writeln!(out, "   not configured");
                }
                PlanStatus::Error => {
                    let _ = writeln!(out, "   error: {}", p.error.as_deref().unwrap_or("unknown"));
                }
                PlanStatus::Ready if p.resources.is_empty() => {
                    let _ = writeln!(out, "   nothing to delete");
                }
                PlanStatus::Ready => {
                    for r in &p.resources {
                        let _ = writeln!(out, "   {}", resource_line(r));
                    }
                }
            }
        }
        let s = &self.summary;
        if let Some(usd) = self.stops_usd_per_month {
            let _ = writeln!(
                out,
                "\nThe teardown stops ≈ {} (sundown cost shows the figures).",
                crate::text::per_month(usd)
            );
        }
        let _ = writeln!(
            out,
            "\nSummary: {} to delete ({} images){}, {} kept, {} absent{}.",
            s.delete,
            s.images,
            stopping(s.stop),
            s.keep,
            s.absent,
            match s.errors {
                0 => String::new(),
                1 => ", 1 phase could not be read".to_owned(),
                n => format!(", {n} phases could not be read"),
            }
        );
        out
    }
}

/// ", 2 jobs to stop", or nothing without jobs.
fn stopping(jobs: usize) -> String {
    match jobs {
        0 => String::new(),
        1 => ", 1 job to stop".to_owned(),
        n => format!(", {n} jobs to stop"),
    }
}

impl Plan {
    /// Markdown for a job summary or a pull-request comment: the digest a
    /// reviewer approves, and what the teardown will delete, phase by phase.
    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### sundown plan of `{}`\n", self.stack);
        let _ = writeln!(
            out,
            "Account `{}`, region `{}`. Plan digest `{}` (created {}).\n",
            self.account, self.region, self.digest, self.created_at
        );
        let s = &self.summary;
        // "And nothing else" only when every phase could be read.
        let unread = match s.errors {
            0 => " and nothing else".to_owned(),
            1 => " of what could be read (**1 phase could not be read**)".to_owned(),
            n => format!(" of what could be read (**{n} phases could not be read**)"),
        };
        let _ = writeln!(
            out,
            "A teardown with this plan deletes **{} resources ({} images)**{}{unread}; {} kept, {} absent.\n",
            s.delete,
            s.images,
            stopping(s.stop),
            s.keep,
            s.absent
        );
        if let Some(usd) = self.stops_usd_per_month {
            let _ = writeln!(out, "It stops ≈ **{}**.\n", crate::text::per_month(usd));
        }
        for (i, p) in self.phases.iter().enumerate() {
            let source = p.source.as_deref().map(|s| format!(" on `{s}`")).unwrap_or_default();
            let _ = writeln!(out, "**{}. {}**{source}\n", i + 1, p.phase.name());
            match p.status {
                PlanStatus::NotConfigured => out.push_str("not configured\n\n"),
                PlanStatus::Error => {
                    let _ = writeln!(out, "error: {}\n", p.error.as_deref().unwrap_or("unknown"));
                }
                PlanStatus::Ready if p.resources.is_empty() => out.push_str("nothing to delete\n\n"),
                PlanStatus::Ready => {
                    out.push_str("| action | kind | name | detail |\n| --- | --- | --- | --- |\n");
                    for r in &p.resources {
                        let _ = writeln!(
                            out,
                            "| {} | {} | `{}` | {} |",
                            r.action.name(),
                            r.kind.name(),
                            r.name,
                            detail_of(r).replace('|', "\\|")
                        );
                    }
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// The last column of a plan line: image counts, the reason, or the state.
fn detail_of(r: &Resource) -> String {
    match (&r.images, &r.reason, &r.state) {
        (Some(c), _, _) if r.action == Action::Delete => {
            format!("{} images ({} tagged, {} untagged)", c.images, c.tagged, c.untagged)
        }
        (_, Some(reason), _) => reason.clone(),
        (_, None, Some(state)) => state.clone(),
        _ => String::new(),
    }
}

/// `delete  endpoint         retail-forecast-a   InService`
pub fn resource_line(r: &Resource) -> String {
    let detail = detail_of(r);
    format!("{:<7} {:<18} {:<40} {}", r.action.name(), r.kind.name(), r.name, detail)
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::inventory::ImageCounts;

    #[test]
    fn the_summary_counts_each_action_the_images_deleted_and_the_phases_that_failed() {
        let repo = |name: &str, action: Action, images: usize| {
            let mut r = Resource::new(Kind::Repository, name, action);
            r.images = Some(ImageCounts {
                images,
                ..Default::default()
            });
            r
        };
        let phases = [
            PhasePlan::from_result(
                Phase::Kubernetes,
                None,
                Ok(vec![
                    Resource::new(Kind::Namespace, "a", Action::Delete),
                    Resource::new(Kind::Namespace, "b", Action::Absent),
                ]),
            ),
            PhasePlan::from_result(
                Phase::Sagemaker,
                None,
                Err("sagemaker ListEndpoints: AccessDenied".into()),
            ),
            PhasePlan::from_result(
                Phase::Ecr,
                None,
                Ok(vec![repo("r1", Action::Delete, 3), repo("r2", Action::Keep, 5)]),
            ),
            PhasePlan::not_configured(Phase::Terraform),
        ];
        let s = summarize(&phases);
        assert_eq!(
            (s.delete, s.keep, s.absent, s.images, s.errors),
            (2, 1, 1, 3, 1),
            "kept images are not counted as deleted"
        );
        assert_eq!(phases[1].status, PlanStatus::Error);
        assert_eq!(phases[3].status, PlanStatus::NotConfigured);
    }
}
