//! Phase 4: `terraform destroy` of the root module.
//!
//! Discovery initialises the module and lists its state. Teardown runs
//! `destroy -json`, counts what it destroyed from the event stream, keeps
//! Terraform's diagnostics, and proves the state is empty afterwards.

use anyhow::Result;
use serde_json::Value;

use crate::inventory::{Action, Kind, Phase, Resource};
use crate::report::{Outcome, PhaseReport};
use crate::terraform::{Terraform, last_lines};

/// The resources in the module's state; blocking (runs Terraform).
pub fn discover(tf: &Terraform) -> Result<Vec<Resource>> {
    tf.check()?;
    tf.init()?;
    let addresses = tf.state_list()?;
    Ok(addresses
        .into_iter()
        .map(|a| Resource::new(Kind::TerraformResource, a, Action::Delete))
        .collect())
}

/// What `terraform destroy -json` said, reduced to what the report needs.
#[derive(Debug, Default, PartialEq)]
pub struct Events {
    pub destroyed: Vec<String>,
    /// Error diagnostics, as `summary: detail`.
    pub errors: Vec<String>,
    pub state_locked: bool,
}

/// Parses Terraform's machine-readable UI (one JSON object per line).
pub fn parse_events(stdout: &str) -> Events {
    let mut events = Events::default();
    for line in stdout.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        match v["type"].as_str() {
            Some("apply_complete") if v["hook"]["action"] == "delete" => {
                let address = v["hook"]["resource"]["addr"].as_str().unwrap_or_default();
                events.destroyed.push(address.to_owned());
            }
            Some("diagnostic") if v["diagnostic"]["severity"] == "error" => {
                let summary = v["diagnostic"]["summary"].as_str().unwrap_or_default();
                let detail = v["diagnostic"]["detail"].as_str().unwrap_or_default();
                if summary.contains("state lock") {
                    events.state_locked = true;
                }
                let detail = detail.split_whitespace().collect::<Vec<_>>().join(" ");
                events.errors.push(if detail.is_empty() {
                    summary.to_owned()
                } else {
                    format!("{summary}: {detail}")
                });
            }
            _ => {}
        }
    }
    events
}

/// Runs the phase; blocking (runs Terraform).
pub fn teardown(tf: &Terraform) -> PhaseReport {
    let mut report = PhaseReport::new(Phase::Terraform);
    if let Err(e) = tf.init() {
        report.fail(format!("{e:#}"));
        return report;
    }
    tracing::info!("terraform: destroying {}", tf.dir().display());
    let out = match tf.destroy() {
        Ok(out) => out,
        Err(e) => {
            report.fail(format!("{e:#}"));
            return report;
        }
    };
    let events = parse_events(&out.stdout);
    for address in &events.destroyed {
        report.record(Kind::TerraformResource, address, Outcome::Deleted, None);
    }
    if events.state_locked {
        report.code = Some("state-locked".into());
    }
    if !out.success {
        if events.errors.is_empty() {
            report.fail(format!(
                "terraform destroy failed: {}",
                last_lines(&out.stderr, &out.stdout)
            ));
        }
        for e in events.errors {
            report.fail(e);
        }
        return report;
    }
    // Prove it: the state must be empty now.
    match tf.state_list() {
        Ok(left) if left.is_empty() => {}
        Ok(left) => {
            for address in &left {
                report.record(
                    Kind::TerraformResource,
                    address,
                    Outcome::Failed,
                    Some("still in state".into()),
                );
            }
            report.fail(format!(
                "{} resources remain in state after destroy: {}",
                left.len(),
                left.join(", ")
            ));
        }
        Err(e) => report.fail(format!("{e:#}")),
    }
    report
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
}
