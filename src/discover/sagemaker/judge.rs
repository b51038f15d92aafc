//! How SageMaker discovery judges what it listed: each of the stack's
//! endpoints described and judged by its tags, then the configs and models
//! that may go with them, each kept when something that stays uses it (a kept
//! endpoint of the stack, or a live endpoint outside it), else judged by its
//! own tags.

use super::*;
use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use aws_sdk_sagemaker::Client;
use futures_util::{StreamExt, TryStreamExt, stream};

use crate::aws::{CONCURRENCY, describe};
use crate::config;
use crate::model::inventory::Kind;
use crate::model::reviewed::Reviewed;
use crate::scope::{Owner, name_matches};

/// What the live endpoints outside the stack use: config → endpoint, and
/// model → "endpoint E through config C". One DescribeEndpoint per endpoint
/// and one DescribeEndpointConfig per distinct config they use.
#[derive(Debug, Default)]
pub(super) struct Foreign {
    configs: BTreeMap<String, String>,
    models: BTreeMap<String, String>,
    /// Why no model can be shown unused: a live endpoint outside the stack runs
    /// from a config deleted since it was created (AWS allows that), so the
    /// models it uses cannot be read.
    unknown: Option<String>,
}

pub(super) async fn foreign_usage(sm: &Client, endpoints: &[String]) -> Result<Foreign> {
    let configs: Vec<(String, Option<String>)> = stream::iter(endpoints)
        .map(|name| async move {
            match sm.describe_endpoint().endpoint_name(name).send().await {
                // Being deleted, it will use nothing.
                Ok(d) if d.endpoint_status() == Some(&aws_sdk_sagemaker::types::EndpointStatus::Deleting) => {
                    Ok((name.clone(), None))
                }
                Ok(d) => Ok((name.clone(), d.endpoint_config_name().map(str::to_owned))),
                // Gone since the listing: it uses nothing any more.
                Err(e) if is_not_found(&describe(&e)) => Ok((name.clone(), None)),
                Err(e) => Err(anyhow!("sagemaker DescribeEndpoint {name}: {}", describe(&e))),
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut foreign = Foreign::default();
    for (endpoint, config) in &configs {
        if let Some(config) = config {
            foreign
                .configs
                .entry(config.clone())
                .or_insert_with(|| endpoint.clone());
        }
    }
    let models: Vec<(String, Option<Vec<String>>)> = stream::iter(foreign.configs.keys())
        .map(|config| async move {
            match sm.describe_endpoint_config().endpoint_config_name(config).send().await {
                Ok(d) => Ok((
                    config.clone(),
                    Some(
                        d.production_variants()
                            .iter()
                            .filter_map(|v| v.model_name().map(str::to_owned))
                            .collect(),
                    ),
                )),
                Err(e) if is_not_found(&describe(&e)) => Ok((config.clone(), None)),
                Err(e) => Err(anyhow!("sagemaker DescribeEndpointConfig {config}: {}", describe(&e))),
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    for (config, used) in models {
        let endpoint = foreign.configs[&config].clone();
        let Some(used) = used else {
            foreign.unknown = Some(format!(
                "endpoint {endpoint} outside the stack runs from endpoint config {config}, which is deleted, \
                 so the models it uses cannot be read"
            ));
            continue;
        };
        for model in used {
            foreign
                .models
                .entry(model)
                .or_insert_with(|| format!("{endpoint} through {config}"));
        }
    }
    Ok(foreign)
}

/// Discovery from what the List calls answered: describes and judges each
/// candidate, endpoints first, then configs, then models (protection and use
/// cascade downwards).
pub(super) async fn discover_listed(
    sm: &Client,
    cfg: &config::SageMaker,
    owner: &Owner<'_>,
    reviewed: Option<&Reviewed>,
    listed: Listed,
) -> Result<Inventory> {
    let prefix = cfg.endpoint_prefix.as_str();
    let listing = listed.identity();
    let Listed {
        endpoints: summaries,
        configs: listed_configs,
        models: listed_models,
    } = listed;
    // The stack's endpoints by name; the others' use of a config or model keeps it.
    let (ours, others): (Vec<_>, Vec<_>) = summaries
        .into_iter()
        .partition(|s| name_matches(prefix, s.endpoint_name().unwrap_or_default()));
    let judge = Judge { sm, owner, reviewed };
    let mut inventory = Inventory {
        endpoints: judge.endpoints(ours).await?,
        listing,
        ..Default::default()
    };
    if !cfg.delete_configs {
        return Ok(inventory);
    }
    let config_candidates = config_candidates(prefix, &inventory, &listed_configs);
    if config_candidates.is_empty()
        && !listed_models
            .iter()
            .any(|m| name_matches(prefix, m.model_name().unwrap_or_default()))
    {
        return Ok(inventory);
    }
    let other_names: Vec<String> = others
        .iter()
        .filter_map(|s| s.endpoint_name().map(str::to_owned))
        .collect();
    let foreign = foreign_usage(sm, &other_names).await?;
    inventory.configs = judge.configs(config_candidates, &foreign).await?;
    if !cfg.delete_models {
        return Ok(inventory);
    }
    let (model_candidates, arns) = model_candidates(prefix, &inventory, &listed_models);
    inventory.models = judge.models(model_candidates, &arns, &foreign).await?;
    Ok(inventory)
}

/// A config or model that may be deleted, and what decides it before its tags.
#[derive(Default)]
pub(super) struct Candidate {
    /// The stack's endpoint (or config) that uses it, when one does.
    follows: bool,
    /// Set when an endpoint (or config) that stays uses it.
    used_by_kept: Option<String>,
}

/// Configs: those the endpoints use (they follow their endpoint), plus leftovers matching the name.
pub(super) fn config_candidates(
    prefix: &str,
    inventory: &Inventory,
    listed: &[aws_sdk_sagemaker::types::EndpointConfigSummary],
) -> BTreeMap<String, Candidate> {
    let mut candidates: BTreeMap<String, Candidate> = BTreeMap::new();
    for e in &inventory.endpoints {
        for c in &e.uses {
            let candidate = candidates.entry(c.clone()).or_default();
            match &e.kept {
                Some(_) => candidate.used_by_kept = Some(format!("used by kept endpoint {}", e.name)),
                None => candidate.follows = true,
            }
        }
    }
    for c in listed
        .iter()
        .filter(|c| name_matches(prefix, c.endpoint_config_name().unwrap_or_default()))
    {
        candidates
            .entry(c.endpoint_config_name().unwrap_or_default().to_owned())
            .or_default();
    }
    candidates
}

/// Models: those the configs reference (they follow a deleted config), plus
/// leftovers matching the name, with the listed ones' name → (ARN, creation time).
#[allow(clippy::type_complexity)]
pub(super) fn model_candidates(
    prefix: &str,
    inventory: &Inventory,
    listed: &[aws_sdk_sagemaker::types::ModelSummary],
) -> (BTreeMap<String, Candidate>, BTreeMap<String, (String, String)>) {
    let mut candidates: BTreeMap<String, Candidate> = BTreeMap::new();
    for c in &inventory.configs {
        for m in &c.uses {
            let candidate = candidates.entry(m.clone()).or_default();
            match &c.kept {
                Some(_) => candidate.used_by_kept = Some(format!("used by kept endpoint config {}", c.name)),
                None => candidate.follows = true,
            }
        }
    }
    let mut arns: BTreeMap<String, (String, String)> = BTreeMap::new();
    for m in listed
        .iter()
        .filter(|m| name_matches(prefix, m.model_name().unwrap_or_default()))
    {
        candidates
            .entry(m.model_name().unwrap_or_default().to_owned())
            .or_default();
        arns.insert(
            m.model_name().unwrap_or_default().to_owned(),
            (m.model_arn().unwrap_or_default().to_owned(), time(m.creation_time())),
        );
    }
    (candidates, arns)
}

/// Describes and judges candidates of one kind, at most `CONCURRENCY` at once;
/// a resource gone since the listing is left out.
pub(super) struct Judge<'a> {
    sm: &'a Client,
    owner: &'a Owner<'a>,
    reviewed: Option<&'a Reviewed>,
}

/// Why a config or model is kept, and the tags it was judged by when they were read.
type Judged = (Option<String>, Option<Vec<(String, String)>>);

/// What was found, by name, without what went between listing and describing.
fn sorted(found: Vec<Option<Found>>) -> Vec<Found> {
    let mut found: Vec<Found> = found.into_iter().flatten().collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

impl Judge<'_> {
    /// A config or model: kept when something that stays uses it (a kept
    /// resource of the stack, then `used_outside`: an endpoint outside it, or
    /// use that cannot be known), else as its own tags say; `None` when it is gone.
    async fn candidate(
        &self,
        (kind, name, arn): (Kind, &str, &str),
        candidate: Candidate,
        used_outside: Option<String>,
    ) -> Result<Option<Judged>> {
        if let Some(why) = candidate.used_by_kept.or(used_outside) {
            return Ok(Some((Some(why), None)));
        }
        let judged = verdict(self.sm, (kind, name, arn), self.owner, candidate.follows).await?;
        Ok(judged.map(|(verdict, tags)| (verdict.kept(), Some(tags))))
    }

    async fn endpoints(&self, ours: Vec<aws_sdk_sagemaker::types::EndpointSummary>) -> Result<Vec<Found>> {
        let sm = self.sm;
        let found: Vec<Option<Found>> = stream::iter(ours)
            .map(|s| async move {
                let name = s.endpoint_name().unwrap_or_default().to_owned();
                let described = match sm.describe_endpoint().endpoint_name(&name).send().await {
                    Ok(d) => d,
                    // Gone since the listing (an endpoint finishing its deletion): nothing to do.
                    Err(e) if is_not_found(&describe(&e)) => return Ok(None),
                    Err(e) => return Err(anyhow!("sagemaker DescribeEndpoint {name}: {}", describe(&e))),
                };
                let arn = s.endpoint_arn().unwrap_or_default().to_owned();
                let Some((verdict, tags)) = verdict(self.sm, (Kind::Endpoint, &name, &arn), self.owner, false).await?
                else {
                    return Ok(None);
                };
                let config = described.endpoint_config_name().unwrap_or_default();
                Ok::<_, anyhow::Error>(Some(
                    Found {
                        state: s.endpoint_status().map(|st| st.as_str().to_owned()),
                        uses: described
                            .endpoint_config_name()
                            .map(str::to_owned)
                            .into_iter()
                            .collect(),
                        id: Some(format!("created {}, config {config}", time(s.creation_time()))),
                        kept: verdict.kept(),
                        name,
                        drift: false,
                        arn: Some(arn),
                        tags: Some(tags),
                        variants: Variant::running(described.production_variants()),
                    }
                    .review(Kind::Endpoint, self.reviewed),
                ))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(sorted(found))
    }

    async fn configs(&self, candidates: BTreeMap<String, Candidate>, foreign: &Foreign) -> Result<Vec<Found>> {
        let sm = self.sm;
        let found: Vec<Option<Found>> = stream::iter(candidates)
            .map(|(name, candidate)| async move {
                let described = match sm.describe_endpoint_config().endpoint_config_name(&name).send().await {
                    Ok(d) => d,
                    // Gone between listing and describing: nothing to do.
                    Err(e) if is_not_found(&describe(&e)) => return Ok(None),
                    Err(e) => {
                        return Err(anyhow!("sagemaker DescribeEndpointConfig {name}: {}", describe(&e)));
                    }
                };
                let arn = described.endpoint_config_arn().unwrap_or_default().to_owned();
                let used_outside = foreign.configs.get(&name).map(|e| format!("in use by endpoint {e}"));
                let judged = self
                    .candidate((Kind::EndpointConfig, &name, &arn), candidate, used_outside)
                    .await?;
                let Some((kept, tags)) = judged else {
                    return Ok(None);
                };
                let variants = described.production_variants();
                Ok::<_, anyhow::Error>(Some(
                    Found {
                        name,
                        state: None,
                        kept,
                        uses: variants
                            .iter()
                            .filter_map(|v| v.model_name().map(str::to_owned))
                            .collect(),
                        id: Some(format!("created {}", time(described.creation_time()))),
                        drift: false,
                        arn: Some(arn),
                        tags,
                        variants: Variant::configured(variants),
                    }
                    .review(Kind::EndpointConfig, self.reviewed),
                ))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(sorted(found))
    }

    async fn models(
        &self,
        candidates: BTreeMap<String, Candidate>,
        arns: &BTreeMap<String, (String, String)>,
        foreign: &Foreign,
    ) -> Result<Vec<Found>> {
        let sm = self.sm;
        let found: Vec<Option<Found>> = stream::iter(candidates)
            .map(|(name, candidate)| async move {
                let (arn, created) = match arns.get(&name) {
                    Some(found) => found.clone(),
                    None => match sm.describe_model().model_name(&name).send().await {
                        Ok(d) => (d.model_arn().unwrap_or_default().to_owned(), time(d.creation_time())),
                        Err(e) if is_not_found(&describe(&e)) => return Ok(None),
                        Err(e) => {
                            return Err(anyhow!("sagemaker DescribeModel {name}: {}", describe(&e)));
                        }
                    },
                };
                let used_outside = foreign
                    .models
                    .get(&name)
                    .map(|through| format!("in use by endpoint {through}"))
                    .or_else(|| foreign.unknown.clone());
                let judged = self
                    .candidate((Kind::Model, &name, &arn), candidate, used_outside)
                    .await?;
                let Some((kept, tags)) = judged else {
                    return Ok(None);
                };
                Ok::<_, anyhow::Error>(Some(
                    Found {
                        name,
                        state: None,
                        kept,
                        uses: Vec::new(),
                        id: Some(format!("created {created}")),
                        drift: false,
                        arn: Some(arn),
                        tags,
                        variants: Vec::new(),
                    }
                    .review(Kind::Model, self.reviewed),
                ))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(sorted(found))
    }
}
