//! The stack's SageMaker jobs that still bill: training, processing,
//! transform and hyperparameter-tuning jobs that are `InProgress` (or already
//! `Stopping`, from an earlier run), named by `sagemaker.job_prefix` (default:
//! the endpoint prefix) and judged by their tags like every SageMaker
//! resource. A job that has ended is a record, not a resource: it is not
//! listed. Reads only.

use anyhow::{Result, anyhow};
use aws_sdk_sagemaker::Client;
use aws_sdk_sagemaker::types::{
    HyperParameterTuningJobStatus, ProcessingJobStatus, TrainingJobStatus, TransformJobStatus,
};
use futures_util::{StreamExt, TryStreamExt, stream};

use super::{Found, tags, time};
use crate::aws::{CONCURRENCY, Every, describe};
use crate::config;
use crate::model::inventory::Kind;
use crate::model::reviewed::Reviewed;
use crate::scope::{Owner, name_matches};

/// The job kinds, in the order the phase stops them.
pub const KINDS: [Kind; 4] = [
    Kind::TrainingJob,
    Kind::ProcessingJob,
    Kind::TransformJob,
    Kind::TuningJob,
];

/// The statuses of a job that still runs (and bills).
const RUNNING: [&str; 2] = ["InProgress", "Stopping"];

/// One job found: its kind, and what discovery knows of it (`state` is its status).
#[derive(Debug, Clone)]
pub struct Job {
    pub kind: Kind,
    pub found: Found,
}

/// One row of a List*Jobs answer: name, ARN, creation time, status.
struct Row {
    name: String,
    arn: Option<String>,
    created: String,
    status: String,
}

/// The stack's running jobs of every kind: for each kind and each running
/// status one paginated List call (100 a page) filtered by the prefix, then
/// one ListTags per job named like the stack. Tags that cannot be read fail
/// the discovery: nothing is stopped on a guess.
pub async fn jobs(
    sm: &Client,
    cfg: &config::SageMaker,
    owner: &Owner<'_>,
    reviewed: Option<&Reviewed>,
) -> Result<Vec<Job>> {
    let candidates = candidates(sm, cfg).await?;
    let mut found: Vec<Job> = stream::iter(candidates)
        .map(|(kind, row)| async move {
            let arn = row
                .arn
                .clone()
                .ok_or_else(|| anyhow!("sagemaker lists {} {} without its ARN", kind.name(), row.name))?;
            let tags = tags(sm, &arn).await?;
            let kept = owner.judge(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))).kept();
            Ok::<_, anyhow::Error>(Job {
                kind,
                found: Found {
                    name: row.name,
                    state: Some(row.status),
                    kept,
                    id: Some(format!("created {}", row.created)),
                    arn: Some(arn),
                    tags: Some(tags),
                    ..Default::default()
                }
                .review(kind, reviewed),
            })
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    found.sort_by(|a, b| (a.kind, &a.found.name).cmp(&(b.kind, &b.found.name)));
    Ok(found)
}

/// The running jobs of every kind named like the stack: one paginated List call per kind and running status.
async fn candidates(sm: &Client, cfg: &config::SageMaker) -> Result<Vec<(Kind, Row)>> {
    let prefix = cfg.job_prefix();
    let listings = KINDS
        .iter()
        .flat_map(|kind| RUNNING.map(|status| (*kind, status)))
        .map(|(kind, status)| async move { list(sm, kind, prefix, status).await.map(|rows| (kind, rows)) });
    let listed: Vec<(Kind, Vec<Row>)> = stream::iter(listings)
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    Ok(listed
        .into_iter()
        .flat_map(|(kind, rows)| rows.into_iter().map(move |r| (kind, r)))
        .filter(|(_, r)| name_matches(prefix, &r.name))
        .collect())
}

/// The names of the running jobs named like the stack, without their tags.
pub async fn running_names(sm: &Client, cfg: &config::SageMaker) -> Result<Vec<(Kind, String)>> {
    Ok(candidates(sm, cfg)
        .await?
        .into_iter()
        .map(|(kind, row)| (kind, row.name))
        .collect())
}

/// One kind's jobs in one status whose names contain `prefix`, every page.
async fn list(sm: &Client, kind: Kind, prefix: &str, status: &str) -> Result<Vec<Row>> {
    let call = |api: &str| format!("sagemaker {api} ({status})");
    Ok(match kind {
        Kind::TrainingJob => sm
            .list_training_jobs()
            .name_contains(prefix)
            .status_equals(TrainingJobStatus::from(status))
            .max_results(100)
            .into_paginator()
            .items()
            .send()
            .every(call("ListTrainingJobs"))
            .await?
            .iter()
            .map(|j| Row {
                name: j.training_job_name().unwrap_or_default().to_owned(),
                arn: j.training_job_arn().map(str::to_owned),
                created: time(j.creation_time()),
                status: j.training_job_status().map_or(status, |s| s.as_str()).to_owned(),
            })
            .collect(),
        Kind::ProcessingJob => sm
            .list_processing_jobs()
            .name_contains(prefix)
            .status_equals(ProcessingJobStatus::from(status))
            .max_results(100)
            .into_paginator()
            .items()
            .send()
            .every(call("ListProcessingJobs"))
            .await?
            .iter()
            .map(|j| Row {
                name: j.processing_job_name().unwrap_or_default().to_owned(),
                arn: j.processing_job_arn().map(str::to_owned),
                created: time(j.creation_time()),
                status: j.processing_job_status().map_or(status, |s| s.as_str()).to_owned(),
            })
            .collect(),
        Kind::TransformJob => sm
            .list_transform_jobs()
            .name_contains(prefix)
            .status_equals(TransformJobStatus::from(status))
            .max_results(100)
            .into_paginator()
            .items()
            .send()
            .every(call("ListTransformJobs"))
            .await?
            .iter()
            .map(|j| Row {
                name: j.transform_job_name().unwrap_or_default().to_owned(),
                arn: j.transform_job_arn().map(str::to_owned),
                created: time(j.creation_time()),
                status: j.transform_job_status().map_or(status, |s| s.as_str()).to_owned(),
            })
            .collect(),
        _ => sm
            .list_hyper_parameter_tuning_jobs()
            .name_contains(prefix)
            .status_equals(HyperParameterTuningJobStatus::from(status))
            .max_results(100)
            .into_paginator()
            .items()
            .send()
            .every(call("ListHyperParameterTuningJobs"))
            .await?
            .iter()
            .map(|j| Row {
                name: j.hyper_parameter_tuning_job_name().unwrap_or_default().to_owned(),
                arn: j.hyper_parameter_tuning_job_arn().map(str::to_owned),
                created: time(j.creation_time()),
                status: j
                    .hyper_parameter_tuning_job_status()
                    .map_or(status, |s| s.as_str())
                    .to_owned(),
            })
            .collect(),
    })
}

/// A job's status now, from its own Describe call: the call's name, and its
/// answer (AWS's error text when it failed; `is_not_found` tells a job that
/// does not exist).
pub async fn status(
    sm: &Client,
    kind: Kind,
    name: &str,
) -> (&'static str, std::result::Result<Option<String>, String>) {
    match kind {
        Kind::TrainingJob => (
            "DescribeTrainingJob",
            sm.describe_training_job()
                .training_job_name(name)
                .send()
                .await
                .map(|j| j.training_job_status().map(|s| s.as_str().to_owned()))
                .map_err(|e| describe(&e)),
        ),
        Kind::ProcessingJob => (
            "DescribeProcessingJob",
            sm.describe_processing_job()
                .processing_job_name(name)
                .send()
                .await
                .map(|j| j.processing_job_status().map(|s| s.as_str().to_owned()))
                .map_err(|e| describe(&e)),
        ),
        Kind::TransformJob => (
            "DescribeTransformJob",
            sm.describe_transform_job()
                .transform_job_name(name)
                .send()
                .await
                .map(|j| j.transform_job_status().map(|s| s.as_str().to_owned()))
                .map_err(|e| describe(&e)),
        ),
        _ => (
            "DescribeHyperParameterTuningJob",
            sm.describe_hyper_parameter_tuning_job()
                .hyper_parameter_tuning_job_name(name)
                .send()
                .await
                .map(|j| j.hyper_parameter_tuning_job_status().map(|s| s.as_str().to_owned()))
                .map_err(|e| describe(&e)),
        ),
    }
}

/// A Describe…Job's answer: the job's status, or AWS's error text.
pub type Answer = std::result::Result<Option<String>, String>;

/// Whether a job in this status still runs (and bills).
pub fn running(status: &str) -> bool {
    RUNNING.contains(&status)
}
