//! Phase 4: `terraform destroy` of the root module.
//!
//! The pre-flight (before anything is deleted) initialises the module and
//! reads its state: no state at all is a refusal, because destroying nothing
//! would leave the stack billing under a green report. Teardown runs
//! `destroy -json`, turns its events into progress lines as they come,
//! counts what it destroyed, keeps Terraform's diagnostics, stops Terraform
//! cleanly on a signal or at `terraform.timeout`, and proves the state is
//! empty afterwards.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::cancel::Stop;
use crate::model::inventory::{Kind, Phase};
use crate::model::report::{Outcome, PhaseCode, PhaseReport, PhaseStatus};
use crate::model::reviewed::{DRIFT, Reviewed};
use crate::terraform::{HEARTBEAT, State, Stopped, Terraform, Watch, last_lines};
use crate::text::short_duration;

/// What `terraform destroy -json` said, reduced to what the report needs,
/// and the progress lines it is worth telling a person as it goes.
#[derive(Debug, Default)]
pub struct Events {
    pub destroyed: Vec<String>,
    /// Error diagnostics, as `summary: detail`.
    pub errors: Vec<String>,
    pub state_locked: bool,
    /// Heartbeats printed per resource still being destroyed.
    heartbeats: BTreeMap<String, u64>,
}

impl Events {
    /// Takes one line of Terraform's machine-readable UI; returns a progress line when it deserves one.
    pub fn feed(&mut self, line: &str) -> Option<String> {
        let v = serde_json::from_str::<Value>(line).ok()?;
        let hook = &v["hook"];
        let address = hook["resource"]["addr"].as_str().unwrap_or_default();
        let elapsed = || Duration::from_secs_f64(hook["elapsed_seconds"].as_f64().unwrap_or(0.0));
        let deleting = hook["action"] == "delete";
        match v["type"].as_str()? {
            "apply_start" if deleting => Some(format!("terraform: destroying {address}…")),
            "apply_progress" if deleting => {
                let elapsed = elapsed();
                let beats = elapsed.as_secs() / HEARTBEAT.as_secs();
                let printed = self.heartbeats.entry(address.to_owned()).or_default();
                if beats > *printed {
                    *printed = beats;
                    Some(format!(
                        "terraform: still destroying {address} ({})",
                        short_duration(elapsed)
                    ))
                } else {
                    None
                }
            }
            "apply_complete" if deleting => {
                self.heartbeats.remove(address);
                self.destroyed.push(address.to_owned());
                Some(format!(
                    "terraform: destroyed {address} ({})",
                    short_duration(elapsed())
                ))
            }
            "apply_errored" if deleting => {
                self.heartbeats.remove(address);
                Some(format!(
                    "terraform: failed to destroy {address} ({})",
                    short_duration(elapsed())
                ))
            }
            "diagnostic" if v["diagnostic"]["severity"] == "error" => {
                let summary = v["diagnostic"]["summary"].as_str().unwrap_or_default();
                let detail = v["diagnostic"]["detail"].as_str().unwrap_or_default();
                if summary.contains("state lock") {
                    self.state_locked = true;
                }
                let detail = detail.split_whitespace().collect::<Vec<_>>().join(" ");
                let error = if detail.is_empty() {
                    summary.to_owned()
                } else {
                    format!("{summary}: {detail}")
                };
                self.errors.push(error.clone());
                Some(format!("terraform: error: {error}"))
            }
            _ => None,
        }
    }
}

/// Parses a whole `terraform destroy -json` output at once.
pub fn parse_events(stdout: &str) -> Events {
    let mut events = Events::default();
    for line in stdout.lines() {
        events.feed(line);
    }
    events
}

/// Runs the phase on the state the pre-flight read; blocking (runs Terraform).
/// With a reviewed plan, the state is read again first: `terraform destroy`
/// destroys everything in it, so it runs only when the plan lists all of it.
pub fn teardown(tf: &Terraform, state: &State, reviewed: Option<&Reviewed>, stop: &Stop) -> PhaseReport {
    let mut report = PhaseReport::new(Phase::Terraform);
    let fresh;
    let state = match reviewed {
        None => state,
        Some(plan) => {
            fresh = match tf.state_pull() {
                Ok(s) => s,
                Err(e) => {
                    report.fail(format!("{e:#}"));
                    return report;
                }
            };
            let unplanned: Vec<&str> = fresh
                .managed()
                .filter(|i| !plan.allows(Kind::TerraformResource, &i.address, i.id.as_deref()))
                .map(|i| i.address.as_str())
                .collect();
            if !unplanned.is_empty() {
                for address in &unplanned {
                    report.record(Kind::TerraformResource, *address, Outcome::Drift, Some(DRIFT.into()));
                }
                report.code = Some(PhaseCode::Drift);
                report.fail(format!(
                    "terraform destroy refused: the state holds resources the reviewed plan does not list: {}",
                    unplanned.join(", ")
                ));
                return report;
            }
            &fresh
        }
    };
    let planned = state.managed().count();
    if planned == 0 {
        tracing::info!("terraform: the state of {} holds no resources", tf.dir().display());
        return report;
    }
    tracing::info!(
        "terraform: destroying {planned} resources in {} (bounded by terraform.timeout, {})",
        tf.dir().display(),
        humantime::format_duration(tf.timeout)
    );
    let mut events = Events::default();
    let mut on_line = |line: &str| {
        if let Some(progress) = events.feed(line) {
            tracing::info!("{progress}");
        }
    };
    let destroyed = tf.destroy(Watch {
        stop,
        limit: tf.timeout,
        on_line: &mut on_line,
    });
    let out = match destroyed {
        Ok(out) => out,
        Err(e) => {
            report.fail(format!("{e:#}"));
            return report;
        }
    };
    for address in &events.destroyed {
        report.record(Kind::TerraformResource, address, Outcome::Deleted, None);
    }
    if events.state_locked {
        report.code = Some(PhaseCode::StateLocked);
    }
    match out.stopped {
        Some(Stopped::Signal) => {
            report.status = PhaseStatus::Interrupted;
            report.errors.push(format!(
                "terraform destroy was interrupted after destroying {}; Terraform saved its state, re-run the teardown to finish",
                events.destroyed.len()
            ));
        }
        Some(Stopped::Timeout) => {
            report.code = Some(PhaseCode::Timeout);
            report.fail(format!(
                "terraform destroy did not finish within terraform.timeout ({}) and was stopped; re-run the teardown to finish",
                humantime::format_duration(tf.timeout)
            ));
        }
        None if !out.success => {
            if events.errors.is_empty() {
                report.fail(format!(
                    "terraform destroy failed: {}",
                    last_lines(&out.stderr, &out.stdout)
                ));
            }
            for e in &events.errors {
                report.fail(e.clone());
            }
            return report;
        }
        None => {}
    }
    prove_empty(tf, &mut report);
    report
}

/// Proves the destroy: what is still in the state now is named, and fails the phase.
fn prove_empty(tf: &Terraform, report: &mut PhaseReport) {
    match tf.state_pull() {
        Ok(after) => {
            let left: Vec<String> = after.managed().map(|i| i.address.clone()).collect();
            if left.is_empty() {
                return;
            }
            for address in &left {
                report.record(
                    Kind::TerraformResource,
                    address,
                    Outcome::Failed,
                    Some("still in state".into()),
                );
            }
            let why = format!(
                "{} resources remain in state after destroy: {}",
                left.len(),
                left.join(", ")
            );
            if report.status == PhaseStatus::Done {
                report.fail(why);
            } else {
                report.errors.push(why);
            }
        }
        Err(e) => {
            if report.status == PhaseStatus::Done {
                report.fail(format!("{e:#}"));
            } else {
                report.errors.push(format!("{e:#}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_deletes_and_keeps_error_diagnostics() {
        let stdout = r#"{"type":"version","terraform":"1.11.4"}
{"type":"apply_complete","hook":{"resource":{"addr":"null_resource.stack[0]"},"action":"delete"}}
{"type":"apply_complete","hook":{"resource":{"addr":"null_resource.stack[1]"},"action":"delete"}}
{"type":"apply_complete","hook":{"resource":{"addr":"null_resource.new"},"action":"create"}}
{"type":"diagnostic","diagnostic":{"severity":"warning","summary":"Deprecated","detail":""}}
{"type":"diagnostic","diagnostic":{"severity":"error","summary":"local-exec provisioner error","detail":"Error running command: exit status 1.\n  Output: DependencyViolation"}}
not json"#;
        let events = parse_events(stdout);
        assert_eq!(events.destroyed, ["null_resource.stack[0]", "null_resource.stack[1]"]);
        assert_eq!(
            events.errors,
            ["local-exec provisioner error: Error running command: exit status 1. Output: DependencyViolation"]
        );
        assert!(!events.state_locked);
    }

    #[test]
    fn recognises_a_state_lock_error() {
        let stdout = r#"{"type":"diagnostic","diagnostic":{"severity":"error","summary":"Error acquiring the state lock","detail":"ConditionalCheckFailedException"}}"#;
        assert!(parse_events(stdout).state_locked);
    }

    #[test]
    fn progress_lines_start_beat_every_thirty_seconds_and_finish() {
        let mut events = Events::default();
        let hook = |kind: &str, secs: f64| {
            format!(
                r#"{{"type":"{kind}","hook":{{"resource":{{"addr":"aws_eks_node_group.spot"}},"action":"delete","elapsed_seconds":{secs}}}}}"#
            )
        };
        let lines: Vec<Option<String>> = [
            hook("apply_start", 0.0),
            hook("apply_progress", 10.0),
            hook("apply_progress", 20.0),
            hook("apply_progress", 30.0),
            hook("apply_progress", 40.0),
            hook("apply_progress", 60.0),
            hook("apply_complete", 182.4),
        ]
        .iter()
        .map(|l| events.feed(l))
        .collect();
        assert_eq!(
            lines,
            [
                Some("terraform: destroying aws_eks_node_group.spot…".to_owned()),
                None,
                None,
                Some("terraform: still destroying aws_eks_node_group.spot (30s)".to_owned()),
                None,
                Some("terraform: still destroying aws_eks_node_group.spot (1m00s)".to_owned()),
                Some("terraform: destroyed aws_eks_node_group.spot (3m02s)".to_owned()),
            ]
        );
        assert_eq!(events.destroyed, ["aws_eks_node_group.spot"]);
    }
}
