//! `sagemaker.spot_training`: recent training jobs used managed spot training.

use std::time::{Duration, SystemTime};

use anyhow::{Result, anyhow};
use aws_smithy_types::DateTime;

use super::{Context, Finding};
use crate::aws::describe;

pub async fn spot_training(cx: &Context<'_>) -> Result<Finding> {
    let days = cx.config.verify.training_days;
    let since = SystemTime::now() - Duration::from_secs(days.max(0) as u64 * 86_400);
    let sm = cx.aws.sagemaker();
    let jobs: Vec<_> = sm
        .list_training_jobs()
        .creation_time_after(DateTime::from(since))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| anyhow!("sagemaker ListTrainingJobs: {}", describe(&e)))?;
    if jobs.is_empty() {
        return Ok(Finding::from_lines(
            vec![format!("no training jobs in the last {days} days")],
            vec![],
            "",
        ));
    }
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for job in jobs {
        let name = job.training_job_name().unwrap_or_default();
        let out = sm
            .describe_training_job()
            .training_job_name(name)
            .send()
            .await
            .map_err(|e| anyhow!("sagemaker DescribeTrainingJob {name}: {}", describe(&e)))?;
        if out.enable_managed_spot_training() == Some(true) {
            ok.push(format!("training job {name}: managed spot"));
        } else {
            bad.push(format!("training job {name}: on-demand"));
        }
    }
    Ok(Finding::from_lines(
        ok,
        bad,
        "create training jobs with EnableManagedSpotTraining=true and StoppingCondition.MaxWaitTimeInSeconds",
    ))
}
