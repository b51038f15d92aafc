//! The SageMaker phase's first step: the stack's running training,
//! processing, transform and tuning jobs (as `discover::sagemaker::jobs`
//! found them) stopped, and proven ended by their own Describe call. A job
//! bills per instance-second until it has ended, and a job in a VPC holds
//! network interfaces that block the VPC's destroy; StopTrainingJob's answer
//! only starts the stop (the job is `Stopping`, then `Stopped`).

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Result, anyhow};
use aws_sdk_sagemaker::Client;
use futures_util::{StreamExt, stream};

use crate::aws::{CONCURRENCY, describe};
use crate::cancel::Stop;
use crate::discover::sagemaker::is_not_found;
use crate::discover::sagemaker::jobs::{Answer, Job, running, status};
use crate::model::inventory::Kind;
use crate::model::report::{Outcome, PhaseReport};
use crate::wait;

/// One job, and what its Describe call answered.
type Asked = ((Kind, String), (&'static str, Answer));

/// Jobs stopped and not yet seen ended.
pub type Stopping = BTreeSet<(Kind, String)>;

/// Records the kept jobs and sends every stop (one already `Stopping`, from
/// an earlier run, is only awaited). Returns the jobs to wait for.
pub async fn stop(sm: &Client, jobs: &[Job], report: &mut PhaseReport) -> Stopping {
    for j in jobs.iter().filter(|j| j.found.kept.is_some()) {
        let outcome = if j.found.drift { Outcome::Drift } else { Outcome::Kept };
        report.record(j.kind, &j.found.name, outcome, j.found.kept.clone());
    }
    let sends: Vec<(&Job, Result<Outcome>)> = stream::iter(jobs.iter().filter(|j| j.found.kept.is_none()))
        .map(|j| async move {
            if j.found.state.as_deref() == Some("Stopping") {
                return (j, Ok(Outcome::Stopped));
            }
            (j, send(sm, j.kind, &j.found.name).await)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut stopping = Stopping::new();
    for (j, sent) in sends {
        match sent {
            Ok(Outcome::Stopped) => {
                stopping.insert((j.kind, j.found.name.clone()));
            }
            Ok(outcome) => report.record(j.kind, &j.found.name, outcome, Some("it ended on its own".into())),
            Err(e) => {
                report.record(j.kind, &j.found.name, Outcome::Failed, Some(format!("{e:#}")));
                report.fail(format!("{e:#}"));
            }
        }
    }
    stopping
}

/// Waits until every stopped job has ended, one Describe per job and round,
/// within `limit`. Returns each job's outcome: ended (with how, when not
/// `Stopped`), or why it is not proven ended.
pub async fn wait(
    sm: &Client,
    mut stopping: Stopping,
    limit: Duration,
    stop: &Stop,
) -> Vec<(Kind, String, Result<Option<String>>)> {
    let mut done = Vec::new();
    let mut rounds = wait::Rounds::new(limit, stop);
    let mut why_not: Option<String> = None;
    while !stopping.is_empty() {
        match rounds.next().await {
            Ok(true) => {}
            Ok(false) => {
                why_not = Some(format!(
                    "still Stopping after {} (sagemaker.wait)",
                    humantime::format_duration(limit)
                ));
                break;
            }
            Err(_) => {
                why_not = Some("left for the re-run: the teardown was interrupted".into());
                break;
            }
        }
        let statuses: Vec<Asked> = stream::iter(stopping.iter().cloned())
            .map(|(kind, name)| async move {
                let answer = status(sm, kind, &name).await;
                ((kind, name), answer)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for ((kind, name), (call, answer)) in statuses {
            // Any status but a running one is an end: the job bills nothing more. The SDK has
            // retried what was transient; any other error leaves the end unproven.
            let outcome = match answer {
                Ok(Some(s)) if running(&s) => continue,
                Ok(None) => continue,
                Ok(Some(s)) if s == "Stopped" => Ok(None),
                Ok(Some(s)) => Ok(Some(format!("it ended {s} while stopping"))),
                Err(e) if is_not_found(&e) => Ok(Some("it is gone".to_owned())),
                Err(e) => Err(anyhow!(
                    "{} {name} stopped, but its end cannot be checked: sagemaker {call}: {e}",
                    kind.name()
                )),
            };
            stopping.remove(&(kind, name.clone()));
            done.push((kind, name, outcome));
        }
    }
    let why_not = why_not.unwrap_or_default();
    done.extend(stopping.into_iter().map(|(kind, name)| {
        let e = anyhow!("{} {name} {why_not}", kind.name());
        (kind, name, Err(e))
    }));
    done
}

/// Records what `wait` found.
pub fn record(report: &mut PhaseReport, waited: Vec<(Kind, String, Result<Option<String>>)>) {
    for (kind, name, outcome) in waited {
        match outcome {
            Ok(detail) => report.record(kind, name, Outcome::Stopped, detail),
            Err(e) => {
                report.record(kind, &name, Outcome::Failed, Some(format!("{e:#}")));
                report.fail(format!("{e:#}"));
            }
        }
    }
}

/// Sends one stop: `Stopped` when the stop was accepted (the job is
/// stopping), `Absent` when the job has ended since it was listed.
async fn send(sm: &Client, kind: Kind, name: &str) -> Result<Outcome> {
    tracing::info!("sagemaker: stopping {} {name}", kind.name());
    let sent = match kind {
        Kind::TrainingJob => sm
            .stop_training_job()
            .training_job_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| describe(&e)),
        Kind::ProcessingJob => sm
            .stop_processing_job()
            .processing_job_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| describe(&e)),
        Kind::TransformJob => sm
            .stop_transform_job()
            .transform_job_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| describe(&e)),
        _ => sm
            .stop_hyper_parameter_tuning_job()
            .hyper_parameter_tuning_job_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| describe(&e)),
    };
    let Err(message) = sent else {
        return Ok(Outcome::Stopped);
    };
    // AWS refuses to stop a job that is no longer in progress; its Describe tells that from a real failure.
    match status(sm, kind, name).await {
        (_, Ok(Some(s))) if s == "Stopping" => Ok(Outcome::Stopped),
        (_, Ok(Some(s))) if !running(&s) => Ok(Outcome::Absent),
        (_, Err(e)) if is_not_found(&e) => Ok(Outcome::Absent),
        _ => Err(anyhow!("stopping {} {name}: {message}", kind.name())),
    }
}
