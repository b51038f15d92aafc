//! Phase 2: SageMaker endpoints, then their endpoint configs and models.
//!
//! Discovery finds endpoints by name prefix, the configs they use and the
//! models those configs reference. Configs and models that match the prefix
//! are found on their own too, so a run interrupted after deleting an
//! endpoint still finds what it left. Protection cascades downwards: the
//! config and models of a kept endpoint are kept.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use aws_sdk_sagemaker::Client;
use futures_util::{StreamExt, TryStreamExt, stream};

use super::CONCURRENCY;
use crate::aws::describe;
use crate::cancel::Stop;
use crate::config::{self, Protect};
use crate::inventory::{Kind, Phase, Resource};
use crate::report::{Outcome, PhaseReport};
use crate::wait;

/// One SageMaker resource found, with what it uses.
#[derive(Debug, Clone)]
pub struct Found {
    pub name: String,
    pub state: Option<String>,
    /// Why it is kept, when it is.
    pub kept: Option<String>,
    /// Endpoint: its config. Config: its models.
    pub uses: Vec<String>,
}

/// Everything the phase would touch, in deletion order.
#[derive(Debug, Default)]
pub struct Inventory {
    pub endpoints: Vec<Found>,
    pub configs: Vec<Found>,
    pub models: Vec<Found>,
}

impl Inventory {
    pub fn resources(&self) -> Vec<Resource> {
        let one = |kind, f: &Found| {
            let r = Resource::unless_protected(kind, &f.name, f.kept.as_deref());
            match &f.state {
                Some(s) => r.state(s),
                None => r,
            }
        };
        let mut out: Vec<Resource> = self.endpoints.iter().map(|f| one(Kind::Endpoint, f)).collect();
        out.extend(self.configs.iter().map(|f| one(Kind::EndpointConfig, f)));
        out.extend(self.models.iter().map(|f| one(Kind::Model, f)));
        out
    }
}

fn protected_reason(protect: &Protect) -> String {
    format!("tagged {}={}", protect.tag, protect.value)
}

async fn is_protected(sm: &Client, arn: &str, protect: &Protect) -> Result<bool> {
    let tags = tags(sm, arn).await?;
    Ok(protect.matches(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
}

/// A SageMaker resource's tags, as (key, value) pairs, every page.
pub(crate) async fn tags(sm: &Client, arn: &str) -> Result<Vec<(String, String)>> {
    let tags: Vec<_> = sm
        .list_tags()
        .resource_arn(arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| anyhow!("sagemaker ListTags {arn}: {}", describe(&e)))?;
    Ok(tags
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

/// Read-only discovery of the stack's endpoints, configs and models.
pub async fn discover(sm: &Client, cfg: &config::SageMaker, protect: &Protect) -> Result<Inventory> {
    let prefix = cfg.endpoint_prefix.as_str();
    let kept_reason = protected_reason(protect);

    // Endpoints: by prefix, each described for its config and checked for the protect tag.
    let summaries: Vec<_> = sm
        .list_endpoints()
        .name_contains(prefix)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| anyhow!("sagemaker ListEndpoints: {}", describe(&e)))?;
    let endpoints: Vec<Found> = stream::iter(
        summaries
            .into_iter()
            .filter(|s| s.endpoint_name().unwrap_or_default().starts_with(prefix)),
    )
    .map(|s| {
        let kept_reason = kept_reason.clone();
        async move {
            let name = s.endpoint_name().unwrap_or_default().to_owned();
            let described = sm
                .describe_endpoint()
                .endpoint_name(&name)
                .send()
                .await
                .map_err(|e| anyhow!("sagemaker DescribeEndpoint {name}: {}", describe(&e)))?;
            let kept = is_protected(sm, s.endpoint_arn().unwrap_or_default(), protect)
                .await?
                .then_some(kept_reason);
            Ok::<_, anyhow::Error>(Found {
                state: s.endpoint_status().map(|st| st.as_str().to_owned()),
                uses: described
                    .endpoint_config_name()
                    .map(str::to_owned)
                    .into_iter()
                    .collect(),
                kept,
                name,
            })
        }
    })
    .buffer_unordered(CONCURRENCY)
    .try_collect()
    .await?;
    let mut endpoints = endpoints;
    endpoints.sort_by(|a, b| a.name.cmp(&b.name));
    let mut inventory = Inventory {
        endpoints,
        ..Default::default()
    };
    if !cfg.delete_configs {
        return Ok(inventory);
    }

    // Configs: those the endpoints use, plus leftovers matching the prefix.
    let mut config_users: BTreeMap<String, Option<String>> = BTreeMap::new();
    for e in &inventory.endpoints {
        for c in &e.uses {
            let entry = config_users.entry(c.clone()).or_default();
            if e.kept.is_some() {
                *entry = Some(format!("used by kept endpoint {}", e.name));
            }
        }
    }
    let leftovers: Vec<_> = sm
        .list_endpoint_configs()
        .name_contains(prefix)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| anyhow!("sagemaker ListEndpointConfigs: {}", describe(&e)))?;
    for c in leftovers
        .iter()
        .filter(|c| c.endpoint_config_name().unwrap_or_default().starts_with(prefix))
    {
        config_users
            .entry(c.endpoint_config_name().unwrap_or_default().to_owned())
            .or_default();
    }
    let configs: Vec<Option<Found>> = stream::iter(config_users)
        .map(|(name, used_by_kept)| {
            let kept_reason = kept_reason.clone();
            async move {
                let described = match sm.describe_endpoint_config().endpoint_config_name(&name).send().await {
                    Ok(d) => d,
                    // Gone between listing and describing: nothing to do.
                    Err(e) if is_not_found(&describe(&e)) => return Ok(None),
                    Err(e) => {
                        return Err(anyhow!("sagemaker DescribeEndpointConfig {name}: {}", describe(&e)));
                    }
                };
                let kept = match used_by_kept {
                    Some(why) => Some(why),
                    None => is_protected(sm, described.endpoint_config_arn().unwrap_or_default(), protect)
                        .await?
                        .then_some(kept_reason),
                };
                let uses = described
                    .production_variants()
                    .iter()
                    .filter_map(|v| v.model_name().map(str::to_owned));
                Ok::<_, anyhow::Error>(Some(Found {
                    name,
                    state: None,
                    kept,
                    uses: uses.collect(),
                }))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    inventory.configs = configs.into_iter().flatten().collect();
    inventory.configs.sort_by(|a, b| a.name.cmp(&b.name));
    if !cfg.delete_models {
        return Ok(inventory);
    }

    // Models: those the configs reference, plus leftovers matching the prefix.
    let mut model_users: BTreeMap<String, Option<String>> = BTreeMap::new();
    for c in &inventory.configs {
        for m in &c.uses {
            let entry = model_users.entry(m.clone()).or_default();
            if c.kept.is_some() {
                *entry = Some(format!("used by kept endpoint config {}", c.name));
            }
        }
    }
    let listed: Vec<_> = sm
        .list_models()
        .name_contains(prefix)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| anyhow!("sagemaker ListModels: {}", describe(&e)))?;
    let mut arns: BTreeMap<String, String> = BTreeMap::new();
    for m in listed
        .iter()
        .filter(|m| m.model_name().unwrap_or_default().starts_with(prefix))
    {
        model_users
            .entry(m.model_name().unwrap_or_default().to_owned())
            .or_default();
        arns.insert(
            m.model_name().unwrap_or_default().to_owned(),
            m.model_arn().unwrap_or_default().to_owned(),
        );
    }
    let arns = &arns;
    let models: Vec<Option<Found>> = stream::iter(model_users)
        .map(|(name, used_by_kept)| {
            let kept_reason = kept_reason.clone();
            async move {
                let arn = match arns.get(&name) {
                    Some(arn) => arn.clone(),
                    None => match sm.describe_model().model_name(&name).send().await {
                        Ok(d) => d.model_arn().unwrap_or_default().to_owned(),
                        Err(e) if is_not_found(&describe(&e)) => return Ok(None),
                        Err(e) => {
                            return Err(anyhow!("sagemaker DescribeModel {name}: {}", describe(&e)));
                        }
                    },
                };
                let kept = match used_by_kept {
                    Some(why) => Some(why),
                    None => is_protected(sm, &arn, protect).await?.then_some(kept_reason),
                };
                Ok::<_, anyhow::Error>(Some(Found {
                    name,
                    state: None,
                    kept,
                    uses: Vec::new(),
                }))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    inventory.models = models.into_iter().flatten().collect();
    inventory.models.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(inventory)
}

/// SageMaker says "Could not find …" with a ValidationException for a missing resource.
pub fn is_not_found(message: &str) -> bool {
    message.contains("Could not find") || message.contains("does not exist") || message.contains("ResourceNotFound")
}

/// Deletes the endpoints and waits until they are gone, then their configs,
/// then their models. Already gone is success; kept resources are reported.
pub async fn teardown(sm: &Client, cfg: &config::SageMaker, protect: &Protect, stop: &Stop) -> PhaseReport {
    let mut report = PhaseReport::new(Phase::Sagemaker);
    let inventory = match discover(sm, cfg, protect).await {
        Ok(inventory) => inventory,
        Err(e) => {
            report.fail(format!("{e:#}"));
            return report;
        }
    };
    let kinds = [
        (Kind::Endpoint, &inventory.endpoints),
        (Kind::EndpointConfig, &inventory.configs),
        (Kind::Model, &inventory.models),
    ];
    for (kind, found) in kinds {
        for f in found.iter().filter(|f| f.kept.is_some()) {
            report.record(kind, &f.name, Outcome::Kept, f.kept.clone());
        }
        let doomed: Vec<&str> = found
            .iter()
            .filter(|f| f.kept.is_none())
            .map(|f| f.name.as_str())
            .collect();
        let results: Vec<(&str, Result<Outcome>)> = stream::iter(doomed)
            .map(|name| async move { (name, delete_one(sm, kind, name, cfg.wait, stop).await) })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut failed = false;
        for (name, result) in results {
            match result {
                Ok(Outcome::Failed) => {
                    let why = format!(
                        "{} {name} still exists after {}",
                        kind.name(),
                        humantime::format_duration(cfg.wait)
                    );
                    report.record(kind, name, Outcome::Failed, Some(why.clone()));
                    report.fail(why);
                    failed = true;
                }
                Ok(outcome) => report.record(kind, name, outcome, None),
                Err(e) => {
                    report.record(kind, name, Outcome::Failed, Some(format!("{e:#}")));
                    report.fail(format!("{e:#}"));
                    failed = true;
                }
            }
        }
        // Configs and models still in use by an endpoint cannot go; stop here.
        if failed {
            break;
        }
    }
    report
}

/// Deletes one resource; for an endpoint, also waits until describing it says it is gone.
async fn delete_one(sm: &Client, kind: Kind, name: &str, wait: std::time::Duration, stop: &Stop) -> Result<Outcome> {
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
        Ok(()) => {}
        Err(message) if is_not_found(&message) => return Ok(Outcome::Absent),
        Err(message) => return Err(anyhow!("deleting {} {name}: {message}", kind.name())),
    }
    if kind != Kind::Endpoint {
        return Ok(Outcome::Deleted);
    }
    let gone = wait::until(wait, stop, || async move {
        match sm.describe_endpoint().endpoint_name(name).send().await {
            Ok(_) => Ok(false),
            Err(e) if is_not_found(&describe(&e)) => Ok(true),
            Err(e) => Err(anyhow!("sagemaker DescribeEndpoint {name}: {}", describe(&e))),
        }
    })
    .await?;
    Ok(if gone { Outcome::Deleted } else { Outcome::Failed })
}
