//! `sundown schedule stop|start`: the off-hours schedule.
//!
//! `stop` remembers, then scales: each node group's scaling goes into a tag
//! on the node group before EKS UpdateNodegroupConfig scales it to 0 (never
//! the Auto Scaling group behind EKS's back); each endpoint's name goes into
//! a tag on its endpoint config before the endpoint is deleted (the config
//! and its model stay). `start` restores what the tags say, then removes the
//! tags. Tag first and untag last, so an interrupted run is resumed by the
//! next one; a node group already at 0 with its tag, or a config without a
//! tag, is left alone, which makes both commands idempotent.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Result, anyhow};
use aws_sdk_eks::types::NodegroupScalingConfig;
use serde::Serialize;

use crate::aws::{Aws, describe};
use crate::config::{Config, Protect};
use crate::inventory::Kind;
use crate::phases::sagemaker::{TEARDOWN_TAG, is_not_found, tags, unless_gone};
use crate::scope::{Owner, Verdict, name_matches};

pub const SCHEMA: &str = "sundown.schedule/v1";
/// On a node group: its scaling before `stop`, as `min=1 desired=2 max=5`.
pub const SCALING_TAG: &str = "sundown:scaling";
/// On an endpoint config: the endpoints `stop` deleted, space-separated.
pub const STOPPED_TAG: &str = "sundown:stopped-endpoints";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Stop,
    Start,
}

impl Action {
    pub fn parse(text: &str) -> Option<Action> {
        match text {
            "stop" => Some(Action::Stop),
            "start" => Some(Action::Start),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::Stop => "stop",
            Action::Start => "start",
        }
    }
}

/// What happened to one node group or endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// `node_group` or `endpoint`.
    pub kind: &'static str,
    pub name: String,
    pub changed: bool,
    pub detail: String,
    /// What it cost per hour while it ran (`stop` only, when it could be priced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd_per_hour: Option<f64>,
    /// What it was, for pricing.
    #[serde(skip)]
    pub running: Option<crate::cost::Running>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub schema: &'static str,
    pub stack: String,
    pub account: String,
    pub action: Action,
    pub changes: Vec<Change>,
    pub errors: Vec<String>,
    /// `stop`: what one stop (a night, on average) saves, in dollars.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub night_saves_usd: Option<f64>,
}

impl Outcome {
    fn night_line(&self) -> Option<String> {
        let usd = self.night_saves_usd?;
        let per_hour: f64 = self
            .changes
            .iter()
            .filter(|c| c.changed)
            .filter_map(|c| c.usd_per_hour)
            .sum();
        Some(format!(
            "A night stopped saves ≈ ${usd:.2} (${per_hour:.4}/hour while stopped)."
        ))
    }

    pub fn succeeded(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn changed(&self) -> usize {
        self.changes.iter().filter(|c| c.changed).count()
    }

    pub fn render_human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Schedule {} of {} in account {}: {} changed, {} unchanged\n",
            self.action.name(),
            self.stack,
            self.account,
            self.changed(),
            self.changes.len() - self.changed()
        );
        for c in &self.changes {
            let kind = if c.kind == "node_group" {
                "node group"
            } else {
                "endpoint"
            };
            let _ = writeln!(out, "{kind:<11} {:<40} {}", c.name, c.detail);
        }
        for e in &self.errors {
            let _ = writeln!(out, "error: {e}");
        }
        if let Some(line) = self.night_line() {
            let _ = writeln!(out, "\n{line}");
        }
        out
    }

    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        let icon = if self.succeeded() { "✅" } else { "❌" };
        let _ = writeln!(
            out,
            "### {icon} sundown schedule {} of `{}`: {} changed\n",
            self.action.name(),
            self.stack,
            self.changed()
        );
        let _ = writeln!(out, "| kind | name | changed | detail |\n| --- | --- | --- | --- |");
        for c in &self.changes {
            let _ = writeln!(out, "| {} | `{}` | {} | {} |", c.kind, c.name, c.changed, c.detail);
        }
        for e in &self.errors {
            let _ = writeln!(out, "\n- **error**: {}", e.replace('\n', " "));
        }
        if let Some(line) = self.night_line() {
            let _ = writeln!(out, "\n{line}");
        }
        out
    }
}

/// Node-group scaling, as remembered in `SCALING_TAG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaling {
    pub min: i32,
    pub desired: i32,
    pub max: i32,
}

impl Scaling {
    pub fn to_tag(self) -> String {
        format!("min={} desired={} max={}", self.min, self.desired, self.max)
    }

    pub fn from_tag(text: &str) -> Option<Scaling> {
        let mut fields = BTreeMap::new();
        for part in text.split_whitespace() {
            let (k, v) = part.split_once('=')?;
            fields.insert(k, v.parse::<i32>().ok()?);
        }
        Some(Scaling {
            min: *fields.get("min")?,
            desired: *fields.get("desired")?,
            max: *fields.get("max")?,
        })
    }
}

/// Runs `stop` or `start`. Checks the account before the first change.
pub async fn run(config: &Config, aws: &Aws, action: Action) -> Result<Outcome> {
    let identity = aws.identity().await?;
    crate::confirm::check_account(config, &identity)?;
    let mut outcome = Outcome {
        schema: SCHEMA,
        stack: config.stack.clone(),
        account: identity.account,
        action,
        changes: Vec::new(),
        errors: Vec::new(),
        night_saves_usd: None,
    };
    let owner = Owner::new(config);
    if let Some(cluster) = config.kubernetes.as_ref().and_then(|k| k.cluster.as_deref()) {
        node_groups(&aws.eks(), cluster, &owner, action, &mut outcome).await;
    }
    if let Some(sm) = &config.sagemaker {
        let client = aws.sagemaker();
        let result = match action {
            Action::Stop => stop_endpoints(&client, &sm.endpoint_prefix, &owner, &mut outcome).await,
            Action::Start => start_endpoints(&client, &config.protect, &mut outcome).await,
        };
        if let Err(e) = result {
            outcome.errors.push(format!("{e:#}"));
        }
    }
    if action == Action::Stop {
        price_the_night(config, aws, &mut outcome).await;
    }
    Ok(outcome)
}

/// What one stop saves: what the stopped node groups and endpoints cost per
/// hour, times the hours a stop lasts on average (`verify.stop_schedule` to
/// `verify.start_schedule`). Best effort: prices that cannot be had leave it out.
async fn price_the_night(config: &Config, aws: &Aws, outcome: &mut Outcome) {
    if outcome.changed() == 0 {
        return;
    }
    let Ok(window) = crate::cost::window::window(&config.verify.stop_schedule, &config.verify.start_schedule) else {
        return;
    };
    let mut prices = crate::cost::prices::Prices::new(aws, &config.region, false);
    let mut per_hour = 0.0;
    for change in outcome.changes.iter_mut().filter(|c| c.changed) {
        if let Some(running) = &change.running {
            change.usd_per_hour = crate::cost::per_hour(aws, &mut prices, running).await;
            per_hour += change.usd_per_hour.unwrap_or(0.0);
        }
    }
    prices.save();
    outcome.night_saves_usd = Some((per_hour * window.hours_per_stop() * 100.0).round() / 100.0);
}

async fn node_groups(eks: &aws_sdk_eks::Client, cluster: &str, owner: &Owner<'_>, action: Action, out: &mut Outcome) {
    let names = match crate::aws::node_group_names(eks, cluster).await {
        Ok(names) => names,
        Err(e) => {
            out.errors.push(format!("{e:#}"));
            return;
        }
    };
    for name in names {
        let label = format!("{cluster}/{name}");
        match node_group(eks, cluster, &name, owner, action).await {
            Ok((changed, detail, running)) => out.changes.push(Change {
                usd_per_hour: None,
                running,
                kind: "node_group",
                name: label,
                changed,
                detail,
            }),
            Err(e) => out.errors.push(format!("node group {label}: {e:#}")),
        }
    }
}

/// Stops or starts one node group; returns (changed, what happened).
async fn node_group(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    name: &str,
    owner: &Owner<'_>,
    action: Action,
) -> Result<(bool, String, Option<crate::cost::Running>)> {
    let described = match eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
    {
        Ok(described) => described,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok((false, "unchanged: deleted since it was listed".into(), None));
        }
        Err(e) => return Err(anyhow!("eks DescribeNodegroup: {}", describe(&e))),
    };
    let group = described
        .nodegroup()
        .ok_or_else(|| anyhow!("DescribeNodegroup returned nothing"))?;
    let arn = group.nodegroup_arn().unwrap_or_default();
    let tags = group.tags().cloned().unwrap_or_default();
    if let Verdict::Kept(why) = owner.judge(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        return Ok((false, format!("kept ({why})"), None));
    }
    let sc = group.scaling_config();
    let now = Scaling {
        min: sc.and_then(|s| s.min_size()).unwrap_or(0),
        desired: sc.and_then(|s| s.desired_size()).unwrap_or(0),
        max: sc.and_then(|s| s.max_size()).unwrap_or(1),
    };
    let remembered = tags.get(SCALING_TAG).and_then(|t| Scaling::from_tag(t));
    match action {
        Action::Stop if now.min == 0 && now.desired == 0 => Ok((false, "unchanged: already at 0".into(), None)),
        Action::Stop => {
            eks.tag_resource()
                .resource_arn(arn)
                .tags(SCALING_TAG, now.to_tag())
                .send()
                .await
                .map_err(|e| anyhow!("eks TagResource: {}", describe(&e)))?;
            scale(
                eks,
                cluster,
                name,
                Scaling {
                    min: 0,
                    desired: 0,
                    max: now.max.max(1),
                },
            )
            .await?;
            let running = crate::cost::Running::NodeGroup {
                types: group.instance_types().to_vec(),
                count: now.desired,
                spot: group.capacity_type().is_some_and(|c| c.as_str() == "SPOT"),
            };
            Ok((true, format!("scaled to 0 (was {})", now.to_tag()), Some(running)))
        }
        Action::Start => {
            let Some(target) = remembered else {
                return Ok((false, "unchanged: not stopped by sundown".into(), None));
            };
            if now != target {
                scale(eks, cluster, name, target).await?;
            }
            eks.untag_resource()
                .resource_arn(arn)
                .tag_keys(SCALING_TAG)
                .send()
                .await
                .map_err(|e| anyhow!("eks UntagResource: {}", describe(&e)))?;
            Ok((true, format!("restored {}", target.to_tag()), None))
        }
    }
}

async fn scale(eks: &aws_sdk_eks::Client, cluster: &str, name: &str, to: Scaling) -> Result<()> {
    tracing::info!("schedule: node group {cluster}/{name} → {}", to.to_tag());
    eks.update_nodegroup_config()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(to.min)
                .desired_size(to.desired)
                .max_size(to.max)
                .build(),
        )
        .send()
        .await
        .map_err(|e| anyhow!("eks UpdateNodegroupConfig: {}", describe(&e)))?;
    Ok(())
}

type Tags = Vec<(String, String)>;

fn tag<'a>(tags: &'a Tags, key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn sm_tag(key: &str, value: &str) -> aws_sdk_sagemaker::types::Tag {
    aws_sdk_sagemaker::types::Tag::builder().key(key).value(value).build()
}

async fn stop_endpoints(
    sm: &aws_sdk_sagemaker::Client,
    prefix: &str,
    owner: &Owner<'_>,
    out: &mut Outcome,
) -> Result<()> {
    let summaries: Vec<_> = sm
        .list_endpoints()
        .name_contains(prefix)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| anyhow!("sagemaker ListEndpoints: {}", describe(&e)))?;
    for s in summaries
        .iter()
        .filter(|s| name_matches(prefix, s.endpoint_name().unwrap_or_default()))
    {
        let name = s.endpoint_name().unwrap_or_default();
        let status = s.endpoint_status().map(|st| st.as_str()).unwrap_or_default();
        let result = async {
            if status == "Deleting" {
                return Ok((false, "unchanged: already being deleted".to_string(), None));
            }
            let endpoint_tags = tags(sm, s.endpoint_arn().unwrap_or_default()).await?;
            if let Verdict::Kept(why) = owner.judge(endpoint_tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
                return Ok((false, format!("kept ({why})"), None));
            }
            stop_endpoint(sm, name)
                .await
                .map(|(detail, running)| (true, detail, Some(running)))
        }
        .await;
        match result {
            Ok((changed, detail, running)) => out.changes.push(Change {
                usd_per_hour: None,
                running,
                kind: "endpoint",
                name: name.to_owned(),
                changed,
                detail,
            }),
            Err(e) => match unless_gone(sm, Kind::Endpoint, name, e).await {
                Ok(()) => out.changes.push(Change {
                    usd_per_hour: None,
                    running: None,
                    kind: "endpoint",
                    name: name.to_owned(),
                    changed: false,
                    detail: "unchanged: deleted since it was listed".into(),
                }),
                Err(e) => out.errors.push(format!("endpoint {name}: {e:#}")),
            },
        }
    }
    Ok(())
}

/// Remembers the endpoint on its config, then deletes the endpoint.
async fn stop_endpoint(sm: &aws_sdk_sagemaker::Client, name: &str) -> Result<(String, crate::cost::Running)> {
    let endpoint = sm
        .describe_endpoint()
        .endpoint_name(name)
        .send()
        .await
        .map_err(|e| anyhow!("sagemaker DescribeEndpoint: {}", describe(&e)))?;
    let config_name = endpoint.endpoint_config_name().unwrap_or_default().to_owned();
    let config = sm
        .describe_endpoint_config()
        .endpoint_config_name(&config_name)
        .send()
        .await
        .map_err(|e| anyhow!("sagemaker DescribeEndpointConfig {config_name}: {}", describe(&e)))?;
    let config_arn = config.endpoint_config_arn().unwrap_or_default();
    let config_tags = tags(sm, config_arn).await?;
    let mut stopped: Vec<&str> = tag(&config_tags, STOPPED_TAG)
        .map(|v| v.split_whitespace().collect())
        .unwrap_or_default();
    if !stopped.contains(&name) {
        stopped.push(name);
    }
    sm.add_tags()
        .resource_arn(config_arn)
        .tags(sm_tag(STOPPED_TAG, &stopped.join(" ")))
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
    Ok((
        format!("deleted (config {config_name} kept)"),
        crate::cost::Running::Endpoint(variants),
    ))
}

/// Recreates every endpoint a config remembers, then forgets it.
async fn start_endpoints(sm: &aws_sdk_sagemaker::Client, protect: &Protect, out: &mut Outcome) -> Result<()> {
    let configs: Vec<_> = sm
        .list_endpoint_configs()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| anyhow!("sagemaker ListEndpointConfigs: {}", describe(&e)))?;
    for c in &configs {
        let config_name = c.endpoint_config_name().unwrap_or_default();
        let config_arn = c.endpoint_config_arn().unwrap_or_default();
        let config_tags = match tags(sm, config_arn).await {
            Ok(t) => t,
            Err(e) => {
                // One deleted since the listing remembers nothing.
                if let Err(e) = unless_gone(sm, Kind::EndpointConfig, config_name, e).await {
                    out.errors.push(format!("endpoint config {config_name}: {e:#}"));
                }
                continue;
            }
        };
        let Some(stopped) = tag(&config_tags, STOPPED_TAG) else {
            continue;
        };
        if let Some(since) = tag(&config_tags, TEARDOWN_TAG) {
            for name in stopped.split_whitespace() {
                out.changes.push(Change {
                    usd_per_hour: None,
                    running: None,
                    kind: "endpoint",
                    name: name.to_owned(),
                    changed: false,
                    detail: format!("not recreated: a teardown of the stack started at {since}"),
                });
            }
            continue;
        }
        let mut failed = false;
        for name in stopped.split_whitespace() {
            match start_endpoint(sm, name, config_name, config_arn, &config_tags, protect).await {
                Ok((changed, detail)) => out.changes.push(Change {
                    usd_per_hour: None,
                    running: None,
                    kind: "endpoint",
                    name: name.to_owned(),
                    changed,
                    detail,
                }),
                Err(e) => {
                    failed = true;
                    out.errors.push(format!("endpoint {name}: {e:#}"));
                }
            }
        }
        if !failed
            && let Err(e) = sm
                .delete_tags()
                .resource_arn(config_arn)
                .tag_keys(STOPPED_TAG)
                .send()
                .await
        {
            out.errors
                .push(format!("sagemaker DeleteTags {config_name}: {}", describe(&e)));
        }
    }
    Ok(())
}

async fn start_endpoint(
    sm: &aws_sdk_sagemaker::Client,
    name: &str,
    config_name: &str,
    config_arn: &str,
    config_tags: &Tags,
    protect: &Protect,
) -> Result<(bool, String)> {
    match sm.describe_endpoint().endpoint_name(name).send().await {
        Ok(e) => {
            return Ok((
                false,
                format!(
                    "unchanged: exists ({})",
                    e.endpoint_status().map(|s| s.as_str()).unwrap_or("unknown")
                ),
            ));
        }
        Err(e) if is_not_found(&describe(&e)) => {}
        Err(e) => return Err(anyhow!("sagemaker DescribeEndpoint: {}", describe(&e))),
    }
    // The endpoint gets its config's tags (minus sundown's and AWS's own); the
    // protect tag is not carried over: protection is a decision per resource.
    let carried: Vec<_> = config_tags
        .iter()
        .filter(|(k, _)| k != STOPPED_TAG && !k.starts_with("aws:") && *k != protect.tag)
        .map(|(k, v)| sm_tag(k, v))
        .collect();
    tracing::info!("schedule: creating endpoint {name} from config {config_name}");
    sm.create_endpoint()
        .endpoint_name(name)
        .endpoint_config_name(config_name)
        .set_tags(Some(carried).filter(|t| !t.is_empty()))
        .send()
        .await
        .map_err(|e| anyhow!("sagemaker CreateEndpoint: {}", describe(&e)))?;
    // A teardown that started meanwhile has marked the config before its first deletion (or
    // deleted it already): then this endpoint must not outlive it. Undo, failing closed.
    let teardown = match tags(sm, config_arn).await {
        Ok(now) => tag(&now, TEARDOWN_TAG).map(|since| format!("a teardown of the stack started at {since}")),
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
        return Ok((
            false,
            format!("not recreated: {why}; the endpoint created meanwhile was deleted"),
        ));
    }
    Ok((true, format!("recreated from config {config_name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_round_trips_through_its_tag() {
        let s = Scaling {
            min: 1,
            desired: 2,
            max: 5,
        };
        assert_eq!(s.to_tag(), "min=1 desired=2 max=5");
        assert_eq!(Scaling::from_tag(&s.to_tag()), Some(s));
        assert_eq!(Scaling::from_tag("min=1 desired=2"), None);
        assert_eq!(Scaling::from_tag("min=x desired=2 max=3"), None);
    }
}
