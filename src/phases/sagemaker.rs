//! Phase 2: the stack's running SageMaker jobs stopped, its endpoints, then
//! their endpoint configs and models deleted, from the inventory
//! `discover::sagemaker` read (see there for how the stack's resources are
//! found and judged).

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use aws_sdk_sagemaker::Client;
use aws_sdk_sagemaker::types::EndpointStatus;
use futures_util::{StreamExt, stream};

use super::jobs;
use crate::aws::CONCURRENCY;
use crate::aws::describe;
use crate::cancel::Stop;
use crate::config;
use crate::discover::sagemaker::{
    Clients, ENDPOINT_LOGS, Found, Inventory, arrived, configs_remembering, current, failure_reason, is_not_found,
    list_endpoints, unless_gone,
};
use crate::markers::{self, Memory};
use crate::model::inventory::{Kind, Phase};
use crate::model::report::{Outcome, PhaseReport};
use crate::model::reviewed::Reviewed;
use crate::order::Place;
use crate::scope::Owner;
use crate::wait;
/// Marks, before the teardown's first deletion, every endpoint config that
/// remembers endpoints `schedule stop` deleted for this stack (the only
/// configs `schedule start` recreates from) with `markers::TEARDOWN`: among
/// the configs the teardown deletes (judged from the tags the inventory
/// read), and any other config the tagging API finds under the stack's key.
/// Returns the configs marked. A teardown of a stack that is not stopped
/// changes nothing here.
pub async fn mark_teardown(
    sm: &Client,
    tagging: &aws_sdk_resourcegroupstagging::Client,
    stack: &str,
    inventory: Option<&Inventory>,
    started_at: &str,
) -> Result<Vec<String>> {
    // name → ARN
    let mut arns: BTreeMap<String, String> = BTreeMap::new();
    for c in inventory.iter().flat_map(|i| &i.configs).filter(|c| c.kept.is_none()) {
        // These are the stack's (by name and tags, or by an endpoint of the stack):
        // legacy memory counts here, as `schedule start` reads it on such configs.
        let pairs = c.tags.iter().flatten().map(|(k, v)| (k.as_str(), v.as_str()));
        if Memory::StoppedEndpoints.read(stack, pairs).is_some()
            && let Some(arn) = &c.arn
        {
            arns.insert(c.name.clone(), arn.clone());
        }
    }
    // Configs named otherwise, through the tagging API (which covers SageMaker on AWS).
    for (name, arn) in configs_remembering(tagging, stack).await? {
        arns.entry(name).or_insert(arn);
    }
    let mut marked = Vec::new();
    for (name, arn) in arns {
        let tagged = sm
            .add_tags()
            .resource_arn(&arn)
            .tags(
                aws_sdk_sagemaker::types::Tag::builder()
                    .key(markers::TEARDOWN)
                    .value(started_at)
                    .build(),
            )
            .send()
            .await;
        match tagged {
            Ok(_) => marked.push(name),
            // The tagging API still lists resources for a while after their deletion;
            // a config that is gone needs no mark.
            Err(e) => {
                unless_gone(
                    sm,
                    Kind::EndpointConfig,
                    &name,
                    anyhow!("sagemaker AddTags {arn}: {}", describe(&e)),
                )
                .await?
            }
        }
    }
    Ok(marked)
}

/// Stops the stack's running jobs and deletes every endpoint of the
/// inventory (`known`, read before the first deletion, when nothing changed
/// since; see [`current`]; at most `CONCURRENCY` requests in flight), hands
/// the next phase its turn (`order`), then waits for all of them at once,
/// with one paginated ListEndpoints per round, against one deadline for the
/// whole phase (`sagemaker.wait`). A config goes as soon as the endpoints
/// that use it are gone, a model as soon as the configs that reference it are
/// deleted. At the deadline the configs and models of endpoints already gone
/// are still deleted; those of endpoints still `Deleting` are left for the
/// re-run and named. Already gone is success; kept resources are reported.
///
/// When the phase before was still at work as this one read its listing (the
/// namespace terminating, its workloads still running), this one looks again
/// once that phase is complete: what was made meanwhile goes in a second pass.
pub async fn teardown(
    clients: Clients<'_>,
    cfg: &config::SageMaker,
    owner: &Owner<'_>,
    reviewed: Option<&Reviewed>,
    known: Option<Inventory>,
    (stop, place): (&Stop, &Place),
) -> PhaseReport {
    let deadline = tokio::time::Instant::now() + cfg.wait;
    let before_complete = place.before.is_complete();
    let (mut report, seen) = pass(clients, cfg, (owner, reviewed), known, (stop, place), deadline).await;
    let Some(seen) = seen.filter(|_| !before_complete) else {
        return report;
    };
    place.before.complete().await;
    if stop.requested() {
        return report;
    }
    match arrived(clients.sm, cfg, &seen).await {
        Ok(arrived) if arrived.is_empty() => {}
        Ok(arrived) => {
            tracing::info!(
                "sagemaker: made while the phase before was at work: {}; deleting them too",
                arrived.join(", ")
            );
            let (second, _) = pass(clients, cfg, (owner, reviewed), Some(seen), (stop, place), deadline).await;
            report.merge(second);
        }
        Err(e) => report.fail(format!("looking again once the phase before was complete: {e:#}")),
    }
    report
}

/// One pass of the phase: read (or reuse) the inventory, stop, delete, wait.
/// Returns the report and the inventory it worked from (`None` when it could not be read).
async fn pass(
    clients: Clients<'_>,
    cfg: &config::SageMaker,
    (owner, reviewed): (&Owner<'_>, Option<&Reviewed>),
    known: Option<Inventory>,
    (stop, place): (&Stop, &Place),
    deadline: tokio::time::Instant,
) -> (PhaseReport, Option<Inventory>) {
    let sm = clients.sm;
    let mut report = PhaseReport::new(Phase::Sagemaker);
    let inventory = match current(clients, cfg, owner, reviewed, known).await {
        Ok(inventory) => inventory,
        Err(e) => {
            report.fail(format!("{e:#}"));
            return (report, None);
        }
    };
    for (kind, found) in [
        (Kind::Endpoint, &inventory.endpoints),
        (Kind::EndpointConfig, &inventory.configs),
        (Kind::Model, &inventory.models),
        (Kind::LogGroup, &inventory.log_groups),
    ] {
        for f in found.iter().filter(|f| f.kept.is_some()) {
            let outcome = if f.drift { Outcome::Drift } else { Outcome::Kept };
            report.record(kind, &f.name, outcome, f.kept.clone());
        }
    }
    let mut work = Work::new(&inventory);

    // The running jobs first: every stop sent, then their wait overlaps the endpoints'.
    let stopping = jobs::stop(sm, &inventory.jobs, &mut report).await;
    let limit = deadline.saturating_duration_since(tokio::time::Instant::now());
    let (stopped, interrupted) = tokio::join!(
        jobs::wait(sm, stopping, limit, stop),
        endpoints(sm, cfg, &inventory, &mut work, (limit, stop, place), &mut report)
    );
    jobs::record(&mut report, stopped);
    work.report_left(&mut report, interrupted);
    let prefix = &cfg.endpoint_prefix;
    delete_log_groups(clients.logs, prefix, &inventory, &work, interrupted, &mut report).await;
    (report, Some(inventory))
}

/// Deletes every endpoint of the inventory and waits for them all, deleting
/// each config and model as soon as nothing of the stack waits for it. The
/// next phase gets its turn after the first round: every deletion that needs
/// no wait has been sent by then. Returns whether the wait was interrupted.
async fn endpoints(
    sm: &Client,
    cfg: &config::SageMaker,
    inventory: &Inventory,
    work: &mut Work,
    (limit, stop, place): (std::time::Duration, &Stop, &Place),
    report: &mut PhaseReport,
) -> bool {
    // Every DeleteEndpoint first; one already Deleting (a re-run) is only awaited.
    let sends: Vec<(String, Result<Outcome>)> = stream::iter(inventory.endpoints.iter().filter(|f| f.kept.is_none()))
        .map(|f| async move {
            if f.state.as_deref().map(EndpointStatus::from) == Some(EndpointStatus::Deleting) {
                return (f.name.clone(), Ok(Outcome::Deleted));
            }
            (f.name.clone(), delete(sm, Kind::Endpoint, &f.name).await)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (name, sent) in sends {
        match sent {
            Ok(Outcome::Absent) => {
                report.record(Kind::Endpoint, &name, Outcome::Absent, None);
                work.gone.insert(name);
            }
            Ok(_) => {
                work.awaiting.insert(name);
            }
            Err(e) => {
                report.record(Kind::Endpoint, &name, Outcome::Failed, Some(format!("{e:#}")));
                report.fail(format!("{e:#}"));
            }
        }
    }
    // Configs and models nothing of the stack still waits for go at once.
    work.delete_ready(sm, report).await;

    // One wait for all of them, against the phase's deadline.
    let mut rounds = wait::Rounds::new(limit, stop);
    let mut interrupted = false;
    while !work.awaiting.is_empty() {
        match rounds.next().await {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                interrupted = true;
                report.fail(format!("{e:#}"));
                break;
            }
        }
        let listed = match list_endpoints(sm, &cfg.endpoint_prefix).await {
            Ok(listed) => listed,
            Err(e) => {
                report.fail(format!("{e:#}"));
                break;
            }
        };
        for name in work.awaiting.clone() {
            match listed.get(&name) {
                None => {
                    work.awaiting.remove(&name);
                    report.record(Kind::Endpoint, &name, Outcome::Deleted, None);
                    work.gone.insert(name);
                }
                Some(EndpointStatus::Failed) => {
                    work.awaiting.remove(&name);
                    let why = format!("endpoint {name} failed to delete: {}", failure_reason(sm, &name).await);
                    report.record(Kind::Endpoint, &name, Outcome::Failed, Some(why.clone()));
                    report.fail(why);
                }
                Some(_) => {}
            }
        }
        work.delete_ready(sm, report).await;
        place.issued();
    }
    place.issued();
    if !work.awaiting.is_empty() && !interrupted {
        for name in &work.awaiting {
            let why = format!(
                "endpoint {name} still Deleting after {} (sagemaker.wait)",
                humantime::format_duration(cfg.wait)
            );
            report.record(Kind::Endpoint, name, Outcome::Failed, Some(why.clone()));
            report.fail(why);
        }
    }
    interrupted
}

/// Deletes the log group of each endpoint seen gone (or gone before the run),
/// then proves them gone with one listing; the group of an endpoint still
/// there is left for the re-run and named.
async fn delete_log_groups(
    logs: &aws_sdk_cloudwatchlogs::Client,
    prefix: &str,
    inventory: &Inventory,
    work: &Work,
    interrupted: bool,
    report: &mut PhaseReport,
) {
    let mut sent: Vec<(&str, Result<Outcome>)> = Vec::new();
    for group in inventory.log_groups.iter().filter(|g| g.kept.is_none()) {
        let endpoint = group.uses.first().map(String::as_str).unwrap_or_default();
        let still_there = inventory.endpoints.iter().any(|e| e.name == endpoint) && !work.gone.contains(endpoint);
        if still_there || interrupted {
            let why = match interrupted {
                true => "left for the re-run: the teardown was interrupted".to_owned(),
                false => format!("left for the re-run: waits for endpoint {endpoint}"),
            };
            report.record(Kind::LogGroup, &group.name, Outcome::Failed, Some(why.clone()));
            report.errors.push(format!("log_group {} {why}", group.name));
            continue;
        }
        tracing::info!("sagemaker: deleting log group {}", group.name);
        let outcome = match logs.delete_log_group().log_group_name(&group.name).send().await {
            Ok(_) => Ok(Outcome::Deleted),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(Outcome::Absent)
            }
            Err(e) => Err(anyhow!("logs DeleteLogGroup {}: {}", group.name, describe(&e))),
        };
        sent.push((group.name.as_str(), outcome));
    }
    // Proven gone by one listing under the prefix, not taken from DeleteLogGroup's answer.
    if sent.iter().any(|(_, o)| matches!(o, Ok(Outcome::Deleted))) {
        let listed = crate::aws::log_groups(logs, &format!("{ENDPOINT_LOGS}{prefix}")).await;
        let still: Vec<String> = match &listed {
            Ok(groups) => groups
                .iter()
                .filter_map(|g| g.log_group_name().map(str::to_owned))
                .collect(),
            Err(_) => Vec::new(),
        };
        for (name, outcome) in &mut sent {
            if matches!(outcome, Ok(Outcome::Deleted)) {
                if let Err(e) = &listed {
                    *outcome = Err(anyhow!(
                        "log group {name} deleted, but its absence cannot be checked: {e:#}"
                    ));
                } else if still.iter().any(|s| s == name) {
                    *outcome = Err(anyhow!("log group {name} is still listed after DeleteLogGroup"));
                }
            }
        }
    }
    for (name, outcome) in sent {
        record(report, Kind::LogGroup, name, outcome);
    }
}

/// The deletions the SageMaker phase still owes, and what each waits for.
struct Work {
    /// Endpoints deleted and not yet seen gone.
    awaiting: std::collections::BTreeSet<String>,
    /// Endpoints seen gone (or already absent).
    gone: std::collections::BTreeSet<String>,
    /// Configs to delete → the endpoints that must be gone first.
    configs: BTreeMap<String, Vec<String>>,
    /// Models to delete → the configs that must be deleted first.
    models: BTreeMap<String, Vec<String>>,
    /// Configs deleted (or found gone).
    deleted_configs: std::collections::BTreeSet<String>,
}

impl Work {
    fn new(inventory: &Inventory) -> Work {
        let doomed = |f: &&Found| f.kept.is_none();
        let configs = inventory
            .configs
            .iter()
            .filter(doomed)
            .map(|c| {
                let users = inventory
                    .endpoints
                    .iter()
                    .filter(|e| e.kept.is_none() && e.uses.contains(&c.name))
                    .map(|e| e.name.clone())
                    .collect();
                (c.name.clone(), users)
            })
            .collect();
        let models = inventory
            .models
            .iter()
            .filter(doomed)
            .map(|m| {
                let users = inventory
                    .configs
                    .iter()
                    .filter(|c| c.kept.is_none() && c.uses.contains(&m.name))
                    .map(|c| c.name.clone())
                    .collect();
                (m.name.clone(), users)
            })
            .collect();
        Work {
            awaiting: Default::default(),
            gone: Default::default(),
            configs,
            models,
            deleted_configs: Default::default(),
        }
    }

    /// The configs whose endpoints are all gone.
    fn ready_configs(&self) -> Vec<String> {
        self.configs
            .iter()
            .filter(|(_, users)| users.iter().all(|e| self.gone.contains(e)))
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// The models whose configs are all deleted.
    fn ready_models(&self) -> Vec<String> {
        self.models
            .iter()
            .filter(|(_, users)| users.iter().all(|c| self.deleted_configs.contains(c)))
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// Deletes the configs whose endpoints are all gone, then the models whose configs are all deleted.
    async fn delete_ready(&mut self, sm: &Client, report: &mut PhaseReport) {
        let ready = self.ready_configs();
        for (name, outcome) in delete_all(sm, Kind::EndpointConfig, &ready).await {
            self.configs.remove(&name);
            if record(report, Kind::EndpointConfig, &name, outcome) {
                self.deleted_configs.insert(name);
            }
        }
        let ready = self.ready_models();
        for (name, outcome) in delete_all(sm, Kind::Model, &ready).await {
            self.models.remove(&name);
            record(report, Kind::Model, &name, outcome);
        }
    }

    /// Names the configs and models left for the re-run, with what they wait for.
    fn report_left(&self, report: &mut PhaseReport, interrupted: bool) {
        for (kind, left) in [(Kind::EndpointConfig, &self.configs), (Kind::Model, &self.models)] {
            for (name, waits_for) in left {
                let pending: Vec<&str> = waits_for
                    .iter()
                    .filter(|w| !self.gone.contains(*w) && !self.deleted_configs.contains(*w))
                    .map(String::as_str)
                    .collect();
                let why = if interrupted {
                    "left for the re-run: the teardown was interrupted".to_owned()
                } else {
                    format!("left for the re-run: waits for {}", pending.join(", "))
                };
                report.record(kind, name, Outcome::Failed, Some(why.clone()));
                report.errors.push(format!("{} {name} {why}", kind.name()));
            }
        }
    }
}

/// Records one deletion's outcome; true when the resource is gone now.
fn record(report: &mut PhaseReport, kind: Kind, name: &str, outcome: Result<Outcome>) -> bool {
    match outcome {
        Ok(outcome) => {
            report.record(kind, name, outcome, None);
            true
        }
        Err(e) => {
            report.record(kind, name, Outcome::Failed, Some(format!("{e:#}")));
            report.fail(format!("{e:#}"));
            false
        }
    }
}

async fn delete_all(sm: &Client, kind: Kind, names: &[String]) -> Vec<(String, Result<Outcome>)> {
    stream::iter(names)
        .map(|name| async move { (name.clone(), delete(sm, kind, name).await) })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

/// Sends one delete; "not found" is `Absent`.
async fn delete(sm: &Client, kind: Kind, name: &str) -> Result<Outcome> {
    tracing::info!("sagemaker: deleting {} {name}", kind.name());
    let result = match kind {
        Kind::Endpoint => sm
            .delete_endpoint()
            .endpoint_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| describe(&e)),
        Kind::EndpointConfig => sm
            .delete_endpoint_config()
            .endpoint_config_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| describe(&e)),
        _ => sm
            .delete_model()
            .model_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| describe(&e)),
    };
    match result {
        Ok(()) => Ok(Outcome::Deleted),
        Err(message) if is_not_found(&message) => Ok(Outcome::Absent),
        Err(message) => Err(anyhow!("deleting {} {name}: {message}", kind.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, uses: &[&str], kept: bool) -> Found {
        Found {
            name: name.into(),
            uses: uses.iter().map(|u| (*u).to_owned()).collect(),
            kept: kept.then(|| "tagged sundown:protect=true".to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn a_config_goes_after_its_endpoints_and_a_model_after_its_configs() {
        let inventory = Inventory {
            endpoints: vec![
                found("e1", &["c-shared"], false),
                found("e2", &["c-shared"], false),
                found("e3", &["c3"], false),
                found("keep", &["c-kept"], true),
            ],
            configs: vec![
                found("c-shared", &["m1"], false),
                found("c3", &["m1", "m3"], false),
                found("c-kept", &["m-kept"], true),
            ],
            models: vec![
                found("m1", &[], false),
                found("m3", &[], false),
                found("m-kept", &[], true),
            ],
            ..Default::default()
        };
        let mut work = Work::new(&inventory);
        // Kept resources are not in the work at all.
        assert_eq!(work.configs.keys().collect::<Vec<_>>(), ["c-shared", "c3"]);
        assert_eq!(work.models.keys().collect::<Vec<_>>(), ["m1", "m3"]);
        // Nothing is ready while every endpoint still runs.
        assert!(work.ready_configs().is_empty());
        assert!(work.ready_models().is_empty());
        // A config shared by two endpoints waits for both.
        work.gone.insert("e1".into());
        work.gone.insert("e3".into());
        assert_eq!(work.ready_configs(), ["c3"]);
        work.gone.insert("e2".into());
        assert_eq!(work.ready_configs(), ["c-shared", "c3"]);
        // A model waits for every config that references it to be deleted.
        work.deleted_configs.insert("c3".into());
        assert_eq!(work.ready_models(), ["m3"]);
        work.deleted_configs.insert("c-shared".into());
        assert_eq!(work.ready_models(), ["m1", "m3"]);
    }

    #[test]
    fn what_is_left_names_what_it_waits_for() {
        let inventory = Inventory {
            endpoints: vec![found("e1", &["c1"], false)],
            configs: vec![found("c1", &["m1"], false)],
            models: vec![found("m1", &[], false)],
            ..Default::default()
        };
        let work = Work::new(&inventory);
        let mut report = PhaseReport::new(Phase::Sagemaker);
        work.report_left(&mut report, false);
        assert_eq!(
            report.errors,
            [
                "endpoint_config c1 left for the re-run: waits for e1",
                "model m1 left for the re-run: waits for c1"
            ]
        );
    }
}
