//! The cost checks of `sundown verify`. Each check only reads: List,
//! Describe and Get requests, never a change. Each returns a `Finding` with
//! the resources it looked at as evidence and a fix hint when it does not pass.

pub mod budget;
pub mod ecr;
pub mod eks;
pub mod leftovers;
pub mod logs;
pub mod s3;
pub mod sagemaker;
pub mod schedule;
pub mod tags;

use serde::Serialize;

use crate::aws::{Aws, Identity};
use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Error,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }
}

/// What one check found.
#[derive(Debug, Clone)]
pub struct Finding {
    pub status: Status,
    /// One line per resource looked at, naming it.
    pub evidence: Vec<String>,
    pub fix: Option<String>,
}

impl Finding {
    /// Pass when `failures` is empty, else fail with `fix`; evidence lists both.
    pub fn from_lines(passing: Vec<String>, failures: Vec<String>, fix: &str) -> Finding {
        let status = if failures.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        };
        let mut evidence = failures;
        evidence.extend(passing);
        Finding {
            status,
            evidence,
            fix: (status == Status::Fail).then(|| fix.to_owned()),
        }
    }

    pub fn warn(evidence: impl Into<String>, fix: &str) -> Finding {
        Finding {
            status: Status::Warn,
            evidence: vec![evidence.into()],
            fix: Some(fix.to_owned()),
        }
    }
}

/// What every check may read.
pub struct Context<'a> {
    pub config: &'a Config,
    pub aws: &'a Aws,
    pub identity: &'a Identity,
}

/// The checks, in report order: (id, title).
pub const ALL: [(&str, &str); 10] = [
    ("eks.spot", "EKS node groups run on spot capacity"),
    ("s3.lifecycle", "Data buckets tier and expire objects"),
    ("s3.tiering", "Intelligent-Tiering archives cold data"),
    ("logs.retention", "Log groups expire"),
    ("ecr.lifecycle", "ECR repositories expire old images"),
    ("budget", "A monthly cost budget alerts at its thresholds"),
    ("schedule", "Off-hours stop and start rules exist"),
    ("sagemaker.spot_training", "Training jobs use managed spot training"),
    ("tags", "Stack resources carry the project tag"),
    ("teardown.nothing_left", "Nothing is left after teardown"),
];

/// Runs the check `id`; an API error becomes `Err` with its cause.
pub async fn run(id: &str, cx: &Context<'_>) -> anyhow::Result<Finding> {
    match id {
        "eks.spot" => eks::spot(cx).await,
        "s3.lifecycle" => s3::lifecycle(cx).await,
        "s3.tiering" => s3::tiering(cx).await,
        "logs.retention" => logs::retention(cx).await,
        "ecr.lifecycle" => ecr::lifecycle(cx).await,
        "budget" => budget::budget(cx).await,
        "schedule" => schedule::schedule(cx).await,
        "sagemaker.spot_training" => sagemaker::spot_training(cx).await,
        "tags" => tags::tags(cx).await,
        "teardown.nothing_left" => leftovers::nothing_left(cx).await,
        other => anyhow::bail!("unknown check {other}"),
    }
}
