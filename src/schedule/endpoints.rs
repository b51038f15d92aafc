//! The schedule's endpoints: each deleted after its name is remembered in a
//! tag on its endpoint config (the config and its model stay), and recreated
//! from that config at `start`; an endpoint still Deleting is waited for, and
//! a recreated one is checked until it is InService (Failed: an error with
//! SageMaker's reason). An endpoint between two states is never sent a request.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, anyhow};

use crate::aws::Every;
use crate::aws::describe;
use crate::config::Protect;
use crate::discover::sagemaker::{configs_remembering, endpoints, is_not_found, list_endpoints, tags, unless_gone};
use crate::markers::{self, Memory};
use crate::model::inventory::Kind;
use crate::scope::{Verdict, name_matches};
use aws_sdk_sagemaker::types::EndpointStatus;

pub(super) fn sm_tag(key: &str, value: &str) -> aws_sdk_sagemaker::types::Tag {
    aws_sdk_sagemaker::types::Tag::builder().key(key).value(value).build()
}

pub(super) fn endpoint_change(name: &str, (changed, detail, running): Done) -> Change {
    Change {
        usd_per_hour: None,
        running,
        kind: Target::Endpoint,
        name: name.to_owned(),
        changed,
        detail,
    }
}

pub(super) async fn stop_endpoints(
    sm: &aws_sdk_sagemaker::Client,
    prefix: &str,
    run: &Run<'_>,
    out: &mut Outcome,
) -> Result<()> {
    let summaries = endpoints(sm, Some(prefix)).await?;
    for s in summaries
        .iter()
        .filter(|s| name_matches(prefix, s.endpoint_name().unwrap_or_default()))
    {
        let name = s.endpoint_name().unwrap_or_default();
        let result = async {
            if s.endpoint_status() == Some(&EndpointStatus::Deleting) {
                return Ok(Stopped::Busy(EndpointStatus::Deleting));
            }
            let endpoint_tags = tags(sm, s.endpoint_arn().unwrap_or_default()).await?;
            if let Verdict::Kept(why) = run.owner.judge(pairs(&endpoint_tags)) {
                return Ok(Stopped::Done(unchanged(format!("kept ({why})"))));
            }
            // An expired mark goes with the endpoint.
            if let Some(until) = super::keep_on::holds(run.stack, pairs(&endpoint_tags), crate::clock::now()) {
                return Ok(Stopped::Done(unchanged(format!(
                    "kept on until {until} (sundown schedule keep-on)"
                ))));
            }
            stop_endpoint(sm, name, run.stack).await
        }
        .await;
        match result {
            Ok(Stopped::Done(done)) => out.changes.push(endpoint_change(name, done)),
            Ok(Stopped::Busy(status)) => {
                out.changes.push(endpoint_change(
                    name,
                    unchanged(format!("unchanged: {}", status.as_str())),
                ));
                if status != EndpointStatus::Deleting {
                    out.errors.push(format!(
                        "endpoint {name}: {}, so not stopped (AWS refuses to delete it meanwhile); it runs until a later stop",
                        status.as_str()
                    ));
                }
            }
            Err(e) => match unless_gone(sm, Kind::Endpoint, name, e).await {
                Ok(()) => out.changes.push(endpoint_change(
                    name,
                    unchanged("unchanged: deleted since it was listed"),
                )),
                Err(e) => out.errors.push(format!("endpoint {name}: {e:#}")),
            },
        }
    }
    Ok(())
}

/// What `stop` did with one endpoint.
pub(super) enum Stopped {
    Done(Done),
    /// Left as it is: in this transitional status, it takes no deletion.
    Busy(EndpointStatus),
}

/// Whether an endpoint in this status is between two states (SageMaker refuses
/// to delete or recreate it until it settles).
pub(super) fn transitional(status: &EndpointStatus) -> bool {
    matches!(
        status,
        EndpointStatus::Creating
            | EndpointStatus::Updating
            | EndpointStatus::SystemUpdating
            | EndpointStatus::RollingBack
            | EndpointStatus::Deleting
    )
}

/// Remembers the endpoint on its config, under the stack's key, then deletes
/// the endpoint; one found in a transitional status (it may have turned so
/// since the listing) is left as it is.
pub(super) async fn stop_endpoint(sm: &aws_sdk_sagemaker::Client, name: &str, stack: &str) -> Result<Stopped> {
    let endpoint = sm
        .describe_endpoint()
        .endpoint_name(name)
        .send()
        .await
        .map_err(|e| anyhow!("sagemaker DescribeEndpoint: {}", describe(&e)))?;
    if let Some(status) = endpoint.endpoint_status().filter(|s| transitional(s)) {
        return Ok(Stopped::Busy(status.clone()));
    }
    let config_name = endpoint.endpoint_config_name().unwrap_or_default().to_owned();
    let config = sm
        .describe_endpoint_config()
        .endpoint_config_name(&config_name)
        .send()
        .await
        .map_err(|e| anyhow!("sagemaker DescribeEndpointConfig {config_name}: {}", describe(&e)))?;
    let config_arn = config.endpoint_config_arn().unwrap_or_default();
    let config_tags = tags(sm, config_arn).await?;
    let key = Memory::StoppedEndpoints.key(stack);
    let mut stopped = tag(&config_tags, &key).map(markers::endpoints).unwrap_or_default();
    if !stopped.contains(&name) {
        stopped.push(name);
    }
    sm.add_tags()
        .resource_arn(config_arn)
        .tags(sm_tag(&key, &markers::endpoints_value(stopped)))
        .send()
        .await
        .map_err(|e| anyhow!("sagemaker AddTags {config_name}: {}", describe(&e)))?;
    tracing::info!("schedule: deleting endpoint {name} (config {config_name} kept)");
    match sm.delete_endpoint().endpoint_name(name).send().await {
        Ok(_) => {}
        Err(e) if is_not_found(&describe(&e)) => {}
        Err(e) => return Err(anyhow!("sagemaker DeleteEndpoint: {}", describe(&e))),
    }
    let variants = config
        .production_variants()
        .iter()
        .filter_map(|v| {
            Some((
                v.instance_type()?.as_str().to_owned(),
                v.initial_instance_count().unwrap_or(1),
            ))
        })
        .collect();
    Ok(Stopped::Done((
        true,
        format!("deleted (config {config_name} kept)"),
        Some(crate::cost::Running::Endpoint(variants)),
    )))
}

/// An endpoint config that holds the stack's memory of stopped endpoints.
pub(super) struct Remembering {
    config: String,
    arn: String,
    tags: Tags,
    /// The endpoints it remembers, as written.
    names: Vec<String>,
    /// Remembered under the key without the stack (sundown before 0.2).
    legacy: bool,
}

/// The endpoint configs that are the stack's and remember its endpoints:
/// those named by the rule (listed, then their tags read) and those named
/// otherwise that the tagging API finds under the stack's key. A config
/// named otherwise and remembering only another stack's endpoints is never
/// read; one remembering under the legacy key counts only when its name and
/// `scope.tags` make it the stack's.
pub(super) async fn remembering(
    sm: &aws_sdk_sagemaker::Client,
    tagging: &aws_sdk_resourcegroupstagging::Client,
    prefix: &str,
    run: &Run<'_>,
    out: &mut Outcome,
) -> Result<Vec<Remembering>> {
    let listed: Vec<_> = sm
        .list_endpoint_configs()
        .max_results(100)
        .into_paginator()
        .items()
        .send()
        .every("sagemaker ListEndpointConfigs")
        .await?;
    // name → ARN
    let mut candidates: BTreeMap<String, String> = listed
        .iter()
        .filter_map(|c| {
            let name = c.endpoint_config_name()?;
            name_matches(prefix, name)
                .then(|| (name.to_owned(), c.endpoint_config_arn().unwrap_or_default().to_owned()))
        })
        .collect();
    for (name, arn) in configs_remembering(tagging, run.stack).await? {
        candidates.entry(name).or_insert(arn);
    }
    let mut configs = Vec::new();
    for (config, arn) in candidates {
        let config_tags = match tags(sm, &arn).await {
            Ok(t) => t,
            Err(e) => {
                // One deleted since the listing remembers nothing; the tagging API lists
                // deleted resources for a while too.
                if let Err(e) = unless_gone(sm, Kind::EndpointConfig, &config, e).await {
                    out.errors.push(format!("endpoint config {config}: {e:#}"));
                }
                continue;
            }
        };
        let Some(memory) = Memory::StoppedEndpoints.read(run.stack, pairs(&config_tags)) else {
            continue;
        };
        if memory.legacy && !(name_matches(prefix, &config) && run.owner.judge(pairs(&config_tags)) == Verdict::Ours) {
            continue;
        }
        let (names, legacy) = (
            markers::endpoints(memory.value)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            memory.legacy,
        );
        configs.push(Remembering {
            config,
            arn,
            tags: config_tags,
            names,
            legacy,
        });
    }
    Ok(configs)
}

/// The stack's endpoints and their status, once none that `wanted` names is
/// still Deleting (it cannot be recreated before it is gone), or at the run's
/// deadline: one paginated ListEndpoints per round.
pub(super) async fn endpoint_status(
    sm: &aws_sdk_sagemaker::Client,
    prefix: &str,
    wanted: &BTreeSet<&str>,
    run: &Run<'_>,
) -> Result<BTreeMap<String, EndpointStatus>> {
    let mut status = BTreeMap::new();
    let mut said = Vec::new();
    let mut rounds = run.rounds();
    while rounds.next().await? {
        status = list_endpoints(sm, prefix).await?;
        let deleting: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|n| status.get(*n).is_some_and(|s| *s == EndpointStatus::Deleting))
            .collect();
        if deleting.is_empty() {
            break;
        }
        // One line when the set changes, not one per round.
        if deleting != said {
            tracing::info!(
                "schedule: waiting for {} to finish deleting before recreating",
                deleting.join(", ")
            );
            said = deleting;
        }
    }
    Ok(status)
}

/// Recreates every endpoint of the stack its configs remember, checks each
/// one until it is InService (or exists as it should), then forgets each one
/// that is back, and only those.
pub(super) async fn start_endpoints(
    sm: &aws_sdk_sagemaker::Client,
    tagging: &aws_sdk_resourcegroupstagging::Client,
    prefix: &str,
    run: &Run<'_>,
    out: &mut Outcome,
) -> Result<()> {
    let configs = remembering(sm, tagging, prefix, run, out).await?;
    let wanted: BTreeSet<&str> = configs
        .iter()
        .filter(|c| tag(&c.tags, markers::TEARDOWN).is_none())
        .flat_map(|c| c.names.iter().map(String::as_str))
        .filter(|n| name_matches(prefix, n))
        .collect();
    let status = if wanted.is_empty() {
        BTreeMap::new()
    } else {
        endpoint_status(sm, prefix, &wanted, run).await?
    };
    // Per config, the endpoints already back; and every endpoint to watch until InService.
    let mut back: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); configs.len()];
    let mut watched: Vec<Watched<'_>> = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        if let Some(since) = tag(&c.tags, markers::TEARDOWN) {
            for name in &c.names {
                out.changes.push(endpoint_change(
                    name,
                    unchanged(format!("not recreated: a teardown of the stack started at {since}")),
                ));
            }
            continue;
        }
        for name in &c.names {
            let kept = || format!("config {} still remembers it", c.config);
            let mut watch = |created: bool| {
                watched.push(Watched {
                    config: i,
                    name,
                    created,
                })
            };
            if !name_matches(prefix, name) {
                out.changes.push(endpoint_change(
                    name,
                    unchanged(format!("not recreated: not named {prefix} or {prefix}-…; {}", kept())),
                ));
                continue;
            }
            match status.get(name.as_str()) {
                None => match start_endpoint(sm, name, c, run.protect).await {
                    Ok(Started::Created) => watch(true),
                    Ok(Started::Exists) => watch(false),
                    Ok(Started::Undone(why)) => out.changes.push(endpoint_change(
                        name,
                        unchanged(format!("not recreated: {why}; the endpoint created meanwhile was deleted")),
                    )),
                    Err(e) => out.errors.push(format!("endpoint {name}: {e:#}; {}", kept())),
                },
                Some(EndpointStatus::Deleting) => out.errors.push(format!(
                    "endpoint {name}: {}, so not recreated yet; {}, so the next start recreates it",
                    run.still("Deleting"),
                    kept()
                )),
                Some(EndpointStatus::Failed) => out.errors.push(format!(
                    "endpoint {name}: exists as Failed, so it cannot be recreated; delete it, then run `sundown schedule start` again ({})",
                    kept()
                )),
                // Creating, Updating…: no request is sent; it is watched like one just created.
                Some(other) if transitional(other) => watch(false),
                Some(other) => {
                    back[i].insert(name.as_str());
                    out.changes
                        .push(endpoint_change(name, unchanged(format!("unchanged: exists ({})", other.as_str()))));
                }
            }
        }
    }
    let ended = in_service(sm, prefix, run, &watched).await?;
    for (w, end) in watched.iter().zip(ended) {
        let c = &configs[w.config];
        let kept = format!("config {} still remembers it", c.config);
        match end {
            Ok(status) => {
                back[w.config].insert(w.name);
                let detail = if w.created {
                    (true, format!("recreated from config {}, {status}", c.config), None)
                } else {
                    unchanged(format!("unchanged: exists ({status})"))
                };
                out.changes.push(endpoint_change(w.name, detail));
            }
            Err(Ended::Failed(why)) => {
                out.changes
                    .push(endpoint_change(w.name, unchanged(format!("failed: {why}"))));
                out.errors.push(format!(
                    "endpoint {}: Failed after CreateEndpoint: {why}; {kept}",
                    w.name
                ));
            }
            Err(Ended::Pending(status)) => {
                out.changes
                    .push(endpoint_change(w.name, unchanged(format!("pending: {status}"))));
                out.errors.push(format!(
                    "endpoint {}: {}; {kept}, and the next start checks it",
                    w.name,
                    run.still(&status)
                ));
            }
        }
    }
    for (c, back) in configs.iter().zip(&back) {
        if tag(&c.tags, markers::TEARDOWN).is_some() {
            continue;
        }
        if let Err(e) = forget(sm, c, back, run.stack).await {
            out.errors.push(format!("{e:#}"));
        }
    }
    Ok(())
}

/// An endpoint `start` waits for until it is InService.
pub(super) struct Watched<'a> {
    /// Index of the config that remembers it.
    config: usize,
    name: &'a str,
    /// Created by this run (else it existed, between two states).
    created: bool,
}

/// How a watched endpoint's wait ended short of InService.
pub(super) enum Ended {
    /// Failed, with SageMaker's FailureReason.
    Failed(String),
    /// Still in this status at the deadline (or gone meanwhile).
    Pending(String),
}

/// Waits until each watched endpoint is InService (or Failed): one
/// paginated ListEndpoints per round within the run's deadline, and one
/// DescribeEndpoint per failed endpoint for its reason.
pub(super) async fn in_service(
    sm: &aws_sdk_sagemaker::Client,
    prefix: &str,
    run: &Run<'_>,
    watched: &[Watched<'_>],
) -> Result<Vec<std::result::Result<String, Ended>>> {
    if watched.is_empty() {
        return Ok(Vec::new());
    }
    let settled = |s: Option<&EndpointStatus>| s.is_some_and(|s| !transitional(s));
    let mut status = BTreeMap::new();
    let mut rounds = run.rounds();
    let mut said = false;
    loop {
        match rounds.next().await {
            Ok(true) => {}
            Ok(false) | Err(_) => break,
        }
        status = list_endpoints(sm, prefix).await?;
        if watched.iter().all(|w| settled(status.get(w.name))) {
            break;
        }
        if !std::mem::replace(&mut said, true) {
            tracing::info!("schedule: waiting for the recreated endpoints to be InService");
        }
    }
    let mut ends = Vec::new();
    for w in watched {
        ends.push(match status.get(w.name) {
            Some(EndpointStatus::Failed) => {
                let why = sm
                    .describe_endpoint()
                    .endpoint_name(w.name)
                    .send()
                    .await
                    .ok()
                    .and_then(|d| d.failure_reason)
                    .unwrap_or_else(|| "SageMaker gave no FailureReason".to_owned());
                Err(Ended::Failed(why))
            }
            Some(s) if !transitional(s) => Ok(s.as_str().to_owned()),
            Some(s) => Err(Ended::Pending(s.as_str().to_owned())),
            None => Err(Ended::Pending("not listed".to_owned())),
        });
    }
    Ok(ends)
}

/// Removes from a config's memory the endpoints that are back; keeps the rest.
pub(super) async fn forget(
    sm: &aws_sdk_sagemaker::Client,
    c: &Remembering,
    back: &BTreeSet<&str>,
    stack: &str,
) -> Result<()> {
    let left: Vec<&str> = c
        .names
        .iter()
        .map(String::as_str)
        .filter(|n| !back.contains(n))
        .collect();
    let key = Memory::StoppedEndpoints.key(stack);
    let mut remove = Vec::new();
    if c.legacy {
        remove.push(Memory::StoppedEndpoints.legacy_key().to_owned());
    }
    if left.is_empty() {
        if !c.legacy {
            remove.push(key);
        }
    } else if left.len() < c.names.len() || c.legacy {
        sm.add_tags()
            .resource_arn(&c.arn)
            .tags(sm_tag(&key, &markers::endpoints_value(left)))
            .send()
            .await
            .map_err(|e| anyhow!("sagemaker AddTags {}: {}", c.config, describe(&e)))?;
    }
    if !remove.is_empty() {
        sm.delete_tags()
            .resource_arn(&c.arn)
            .set_tag_keys(Some(remove))
            .send()
            .await
            .map_err(|e| anyhow!("sagemaker DeleteTags {}: {}", c.config, describe(&e)))?;
    }
    Ok(())
}

/// What one CreateEndpoint came to.
pub(super) enum Started {
    Created,
    /// Created meanwhile by someone else.
    Exists,
    /// Created, then deleted again: a teardown started meanwhile (why).
    Undone(String),
}

pub(super) async fn start_endpoint(
    sm: &aws_sdk_sagemaker::Client,
    name: &str,
    c: &Remembering,
    protect: &Protect,
) -> Result<Started> {
    // The endpoint gets its config's tags (minus sundown's and AWS's own); the
    // protect tag is not carried over: protection is a decision per resource.
    let carried: Vec<_> = c
        .tags
        .iter()
        .filter(|(k, _)| !Memory::StoppedEndpoints.is_key(k) && !k.starts_with("aws:") && *k != protect.tag)
        .map(|(k, v)| sm_tag(k, v))
        .collect();
    tracing::info!("schedule: creating endpoint {name} from config {}", c.config);
    let created = sm
        .create_endpoint()
        .endpoint_name(name)
        .endpoint_config_name(&c.config)
        .set_tags(Some(carried).filter(|t| !t.is_empty()))
        .send()
        .await;
    match created {
        Ok(_) => {}
        // SageMaker: "Cannot create already existing endpoint".
        Err(e) if describe(&e).contains("already existing") => return Ok(Started::Exists),
        Err(e) => return Err(anyhow!("sagemaker CreateEndpoint: {}", describe(&e))),
    }
    // A teardown that started meanwhile has marked the config before its first deletion (or
    // deleted it already): then this endpoint must not outlive it. Undo, failing closed.
    let teardown = match tags(sm, &c.arn).await {
        Ok(now) => tag(&now, markers::TEARDOWN).map(|since| format!("a teardown of the stack started at {since}")),
        Err(e) => Some(format!("the config's tags cannot be read back ({e:#})")),
    };
    if let Some(why) = teardown {
        tracing::warn!("schedule: deleting endpoint {name} again: {why}");
        sm.delete_endpoint().endpoint_name(name).send().await.map_err(|e| {
            anyhow!(
                "sagemaker DeleteEndpoint {name} (undoing the start: {why}): {}",
                describe(&e)
            )
        })?;
        return Ok(Started::Undone(why));
    }
    Ok(Started::Created)
}
