//! `sagemaker.spot_training`: recent training jobs used managed spot training.

use anyhow::Result;

use super::{Context, Finding};

pub async fn spot_training(cx: &Context<'_>) -> Result<Finding> {
    let days = cx.config.verify.training_days;
    let jobs = crate::aws::recent_training_jobs(&cx.aws.sagemaker(), days).await?;
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
        if job.enable_managed_spot_training() == Some(true) {
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
