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

/// A check of `verify`; the serde name is its id (`eks.spot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CheckId {
    #[serde(rename = "eks.spot")]
    EksSpot,
    #[serde(rename = "s3.lifecycle")]
    S3Lifecycle,
    #[serde(rename = "s3.tiering")]
    S3Tiering,
    #[serde(rename = "logs.retention")]
    LogsRetention,
    #[serde(rename = "ecr.lifecycle")]
    EcrLifecycle,
    #[serde(rename = "budget")]
    Budget,
    #[serde(rename = "schedule")]
    Schedule,
    #[serde(rename = "sagemaker.spot_training")]
    SagemakerSpotTraining,
    #[serde(rename = "tags")]
    Tags,
    #[serde(rename = "teardown.nothing_left")]
    TeardownNothingLeft,
}

impl CheckId {
    /// Every check, in report order.
    pub const ALL: [CheckId; 10] = [
        CheckId::EksSpot,
        CheckId::S3Lifecycle,
        CheckId::S3Tiering,
        CheckId::LogsRetention,
        CheckId::EcrLifecycle,
        CheckId::Budget,
        CheckId::Schedule,
        CheckId::SagemakerSpotTraining,
        CheckId::Tags,
        CheckId::TeardownNothingLeft,
    ];

    /// The id users pass to `--check` and read in the report.
    pub fn id(self) -> &'static str {
        match self {
            CheckId::EksSpot => "eks.spot",
            CheckId::S3Lifecycle => "s3.lifecycle",
            CheckId::S3Tiering => "s3.tiering",
            CheckId::LogsRetention => "logs.retention",
            CheckId::EcrLifecycle => "ecr.lifecycle",
            CheckId::Budget => "budget",
            CheckId::Schedule => "schedule",
            CheckId::SagemakerSpotTraining => "sagemaker.spot_training",
            CheckId::Tags => "tags",
            CheckId::TeardownNothingLeft => "teardown.nothing_left",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            CheckId::EksSpot => "EKS node groups run on spot capacity",
            CheckId::S3Lifecycle => "Data buckets tier and expire objects",
            CheckId::S3Tiering => "Intelligent-Tiering archives cold data",
            CheckId::LogsRetention => "Log groups expire",
            CheckId::EcrLifecycle => "ECR repositories expire old images",
            CheckId::Budget => "A monthly cost budget alerts at its thresholds",
            CheckId::Schedule => "Off-hours stop and start rules exist",
            CheckId::SagemakerSpotTraining => "Training jobs use managed spot training",
            CheckId::Tags => "Stack resources carry the project tag",
            CheckId::TeardownNothingLeft => "Nothing is left after teardown",
        }
    }

    pub fn from_id(id: &str) -> Option<CheckId> {
        CheckId::ALL.into_iter().find(|c| c.id() == id)
    }
}

/// Runs one check; an API error becomes `Err` with its cause.
pub async fn run(check: CheckId, cx: &Context<'_>) -> anyhow::Result<Finding> {
    match check {
        CheckId::EksSpot => eks::spot(cx).await,
        CheckId::S3Lifecycle => s3::lifecycle(cx).await,
        CheckId::S3Tiering => s3::tiering(cx).await,
        CheckId::LogsRetention => logs::retention(cx).await,
        CheckId::EcrLifecycle => ecr::lifecycle(cx).await,
        CheckId::Budget => budget::budget(cx).await,
        CheckId::Schedule => schedule::schedule(cx).await,
        CheckId::SagemakerSpotTraining => sagemaker::spot_training(cx).await,
        CheckId::Tags => tags::tags(cx).await,
        CheckId::TeardownNothingLeft => leftovers::nothing_left(cx).await,
    }
}
