//! SageMaker discovery: the stack's endpoints, the configs they use and the
//! models those configs reference, with their tags and ownership verdicts.
//!
//! Endpoints are found by name (`scope::name_matches`) and tags (`scope.tags`,
//! the protect tag). Configs and models that match the name are found on their
//! own too, so a run interrupted after deleting an endpoint still finds what it
//! left; those are judged on their own tags. Protection cascades downwards: the
//! config and models of a kept endpoint are kept. A config or model that a live
//! endpoint outside the stack uses is kept: AWS would let it be deleted, and
//! that endpoint would fail at its next scale-out or update. Tags that cannot
//! be read fail the discovery: nothing is deleted on a guess. Reads only.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use aws_sdk_sagemaker::Client;
use futures_util::{StreamExt, TryStreamExt, stream};

use crate::aws::{CONCURRENCY, describe};
use crate::config;
use crate::markers::Memory;
use crate::model::inventory::{Kind, Resource};
use crate::model::reviewed::{DRIFT, Reviewed};
use crate::scope::{Owner, Verdict, name_matches};

/// One SageMaker resource found, with what it uses.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub name: String,
    pub state: Option<String>,
    /// Why it is kept, when it is.
    pub kept: Option<String>,
    /// Endpoint: its config. Config: its models.
    pub uses: Vec<String>,
    /// Its identity in a plan: creation time (and an endpoint's config).
    pub id: Option<String>,
    /// Kept because a reviewed plan does not list it (it appeared since).
    pub drift: bool,
    /// Its ARN, when discovery learnt it.
    pub arn: Option<String>,
    /// Its tags, when discovery read them (judging ownership); `None` when it was judged without them.
    pub tags: Option<Vec<(String, String)>>,
    /// An endpoint's variants as DescribeEndpoint answered; a config's as DescribeEndpointConfig did.
    pub variants: Vec<Variant>,
}

/// One production variant: what `sundown cost` prices.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub name: String,
    /// A config's instance type; `None` for serverless, and on an endpoint.
    pub instance_type: Option<String>,
    /// An endpoint's current instance count, a config's initial one.
    pub count: Option<i32>,
}

impl Variant {
    /// An endpoint's variants, as DescribeEndpoint answers them.
    pub fn running(variants: &[aws_sdk_sagemaker::types::ProductionVariantSummary]) -> Vec<Variant> {
        variants
            .iter()
            .map(|v| Variant {
                name: v.variant_name().unwrap_or_default().to_owned(),
                instance_type: None,
                count: v.current_instance_count(),
            })
            .collect()
    }

    /// A config's variants, as DescribeEndpointConfig answers them.
    pub fn configured(variants: &[aws_sdk_sagemaker::types::ProductionVariant]) -> Vec<Variant> {
        variants
            .iter()
            .map(|v| Variant {
                name: v.variant_name().unwrap_or_default().to_owned(),
                instance_type: v.instance_type().map(|t| t.as_str().to_owned()),
                count: v.initial_instance_count(),
            })
            .collect()
    }
}

impl Found {
    /// Keeps it when a reviewed plan does not list it (with this identity).
    fn review(mut self, kind: Kind, reviewed: Option<&Reviewed>) -> Found {
        if self.kept.is_none()
            && let Some(r) = reviewed
            && !r.allows(kind, &self.name, self.id.as_deref())
        {
            self.kept = Some(DRIFT.to_owned());
            self.drift = true;
        }
        self
    }
}

/// An RFC 3339 time, as plans show identities.
fn time(t: Option<&aws_smithy_types::DateTime>) -> String {
    t.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
        .unwrap_or_default()
}

/// Everything the phase would touch, in deletion order, and the listing it came from.
#[derive(Debug, Default, Clone)]
pub struct Inventory {
    pub endpoints: Vec<Found>,
    pub configs: Vec<Found>,
    pub models: Vec<Found>,
    /// What the List calls answered: a teardown that finds the same listing
    /// later deletes from this inventory instead of reading every resource again.
    pub listing: Listing,
}

/// The identity of a listing: every endpoint (the stack's and the others,
/// whose use of a config or model keeps it) with its creation and last
/// modification time, and the configs and models named like the stack.
/// Two equal listings mean nothing was created, deleted, updated or
/// replaced in between.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Listing {
    endpoints: BTreeMap<String, (String, String)>,
    configs: BTreeMap<String, String>,
    models: BTreeMap<String, String>,
}

/// What the three List calls answered.
struct Listed {
    endpoints: Vec<aws_sdk_sagemaker::types::EndpointSummary>,
    configs: Vec<aws_sdk_sagemaker::types::EndpointConfigSummary>,
    models: Vec<aws_sdk_sagemaker::types::ModelSummary>,
}

impl Listed {
    fn identity(&self) -> Listing {
        Listing {
            endpoints: self
                .endpoints
                .iter()
                .map(|e| {
                    (
                        e.endpoint_name().unwrap_or_default().to_owned(),
                        (time(e.creation_time()), time(e.last_modified_time())),
                    )
                })
                .collect(),
            configs: self
                .configs
                .iter()
                .map(|c| {
                    (
                        c.endpoint_config_name().unwrap_or_default().to_owned(),
                        time(c.creation_time()),
                    )
                })
                .collect(),
            models: self
                .models
                .iter()
                .map(|m| (m.model_name().unwrap_or_default().to_owned(), time(m.creation_time())))
                .collect(),
        }
    }
}

/// Every endpoint, and the configs and models whose names contain the prefix (when the phase deletes them).
async fn list(sm: &Client, cfg: &config::SageMaker) -> Result<Listed> {
    let prefix = cfg.endpoint_prefix.as_str();
    let endpoints = async {
        sm.list_endpoints()
            .max_results(100)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| anyhow!("sagemaker ListEndpoints: {}", describe(&e)))
    };
    let configs = async {
        if !cfg.delete_configs {
            return Ok(Vec::new());
        }
        sm.list_endpoint_configs()
            .name_contains(prefix)
            .max_results(100)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| anyhow!("sagemaker ListEndpointConfigs: {}", describe(&e)))
    };
    // Models left by a run that stopped after their configs went are listed here, so that an
    // inventory without endpoints or configs still finds them.
    let models = async {
        if !(cfg.delete_configs && cfg.delete_models) {
            return Ok(Vec::new());
        }
        sm.list_models()
            .name_contains(prefix)
            .max_results(100)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| anyhow!("sagemaker ListModels: {}", describe(&e)))
    };
    let (endpoints, configs, models) = tokio::try_join!(endpoints, configs, models)?;
    Ok(Listed {
        endpoints,
        configs,
        models,
    })
}

impl Inventory {
    pub fn resources(&self) -> Vec<Resource> {
        let one = |kind, f: &Found| {
            let r = Resource::unless_protected(kind, &f.name, f.kept.as_deref()).id(f.id.clone());
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

/// A SageMaker resource's tags, as (key, value) pairs, every page.
pub async fn tags(sm: &Client, arn: &str) -> Result<Vec<(String, String)>> {
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

/// Judges a resource by its tags, returned with the verdict; `None` when the
/// resource was deleted since it was listed. Tags that cannot be read of a
/// resource that is there are an error (fail closed).
async fn verdict(
    sm: &Client,
    (kind, name, arn): (Kind, &str, &str),
    owner: &Owner<'_>,
    follows: bool,
) -> Result<Option<(Verdict, Vec<(String, String)>)>> {
    let tags = match tags(sm, arn).await {
        Ok(tags) => tags,
        Err(e) => return unless_gone(sm, kind, name, e).await.map(|()| None),
    };
    let pairs = tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let verdict = if follows {
        owner.judge_protect(pairs)
    } else {
        owner.judge(pairs)
    };
    Ok(Some((verdict, tags)))
}

/// A call on a SageMaker resource listed a moment ago failed with `err`: `Ok`
/// when the resource is gone since (an endpoint finishing its deletion, a
/// config or model someone else deleted; there is nothing left to do), else
/// `err`. AWS answers a missing resource with a ValidationException whose
/// wording varies by call (ListTags, AddTags), so the Describe call decides.
pub async fn unless_gone(sm: &Client, kind: Kind, name: &str, err: anyhow::Error) -> Result<()> {
    let described = match kind {
        Kind::Endpoint => sm
            .describe_endpoint()
            .endpoint_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| describe(&e)),
        Kind::EndpointConfig => sm
            .describe_endpoint_config()
            .endpoint_config_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| describe(&e)),
        Kind::Model => sm
            .describe_model()
            .model_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| describe(&e)),
        _ => return Err(err),
    };
    match described {
        Err(message) if is_not_found(&message) => {
            tracing::debug!("sagemaker: {kind:?} {name} is gone since it was listed ({err:#})");
            Ok(())
        }
        _ => Err(err),
    }
}

/// What the live endpoints outside the stack use: config → endpoint, and
/// model → "endpoint E through config C". One DescribeEndpoint per endpoint
/// and one DescribeEndpointConfig per distinct config they use.
#[derive(Debug, Default)]
struct Foreign {
    configs: BTreeMap<String, String>,
    models: BTreeMap<String, String>,
    /// Why no model can be shown unused: a live endpoint outside the stack runs
    /// from a config deleted since it was created (AWS allows that), so the
    /// models it uses cannot be read.
    unknown: Option<String>,
}

async fn foreign_usage(sm: &Client, endpoints: &[String]) -> Result<Foreign> {
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

/// Read-only discovery of the stack's endpoints, configs and models.
/// With a `reviewed` plan, what it does not list is kept as drift.
pub async fn discover(
    sm: &Client,
    cfg: &config::SageMaker,
    owner: &Owner<'_>,
    reviewed: Option<&Reviewed>,
) -> Result<Inventory> {
    let listed = list(sm, cfg).await?;
    discover_listed(sm, cfg, owner, reviewed, listed).await
}

/// Discovery from what the List calls answered: describes and judges each candidate.
async fn discover_listed(
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
    let endpoints: Vec<Option<Found>> = stream::iter(ours)
        .map(|s| async move {
            let name = s.endpoint_name().unwrap_or_default().to_owned();
            let described = match sm.describe_endpoint().endpoint_name(&name).send().await {
                Ok(d) => d,
                // Gone since the listing (an endpoint finishing its deletion): nothing to do.
                Err(e) if is_not_found(&describe(&e)) => return Ok(None),
                Err(e) => return Err(anyhow!("sagemaker DescribeEndpoint {name}: {}", describe(&e))),
            };
            let arn = s.endpoint_arn().unwrap_or_default().to_owned();
            let Some((verdict, tags)) = verdict(sm, (Kind::Endpoint, &name, &arn), owner, false).await? else {
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
                .review(Kind::Endpoint, reviewed),
            ))
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut endpoints: Vec<Found> = endpoints.into_iter().flatten().collect();
    endpoints.sort_by(|a, b| a.name.cmp(&b.name));
    let mut inventory = Inventory {
        endpoints,
        listing,
        ..Default::default()
    };
    if !cfg.delete_configs {
        return Ok(inventory);
    }

    // Configs: those the endpoints use (they follow their endpoint), plus leftovers matching the name.
    #[derive(Default)]
    struct Candidate {
        /// The stack's endpoint that uses it, when one does.
        follows: bool,
        /// Set when an endpoint that stays uses it.
        used_by_kept: Option<String>,
    }
    let mut config_candidates: BTreeMap<String, Candidate> = BTreeMap::new();
    for e in &inventory.endpoints {
        for c in &e.uses {
            let candidate = config_candidates.entry(c.clone()).or_default();
            match &e.kept {
                Some(_) => candidate.used_by_kept = Some(format!("used by kept endpoint {}", e.name)),
                None => candidate.follows = true,
            }
        }
    }
    for c in listed_configs
        .iter()
        .filter(|c| name_matches(prefix, c.endpoint_config_name().unwrap_or_default()))
    {
        config_candidates
            .entry(c.endpoint_config_name().unwrap_or_default().to_owned())
            .or_default();
    }
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
    let foreign = &foreign;
    let configs: Vec<Option<Found>> = stream::iter(config_candidates)
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
            let (kept, tags) = match (candidate.used_by_kept, foreign.configs.get(&name)) {
                (Some(why), _) => (Some(why), None),
                (None, Some(endpoint)) => (Some(format!("in use by endpoint {endpoint}")), None),
                (None, None) => {
                    let judged = verdict(sm, (Kind::EndpointConfig, &name, &arn), owner, candidate.follows).await?;
                    let Some((verdict, tags)) = judged else {
                        return Ok(None);
                    };
                    (verdict.kept(), Some(tags))
                }
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
                .review(Kind::EndpointConfig, reviewed),
            ))
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    inventory.configs = configs.into_iter().flatten().collect();
    inventory.configs.sort_by(|a, b| a.name.cmp(&b.name));
    if !cfg.delete_models {
        return Ok(inventory);
    }

    // Models: those the configs reference (they follow a deleted config), plus leftovers matching the name.
    let mut model_candidates: BTreeMap<String, Candidate> = BTreeMap::new();
    for c in &inventory.configs {
        for m in &c.uses {
            let candidate = model_candidates.entry(m.clone()).or_default();
            match &c.kept {
                Some(_) => candidate.used_by_kept = Some(format!("used by kept endpoint config {}", c.name)),
                None => candidate.follows = true,
            }
        }
    }
    // name → (ARN, creation time)
    let mut arns: BTreeMap<String, (String, String)> = BTreeMap::new();
    for m in listed_models
        .iter()
        .filter(|m| name_matches(prefix, m.model_name().unwrap_or_default()))
    {
        model_candidates
            .entry(m.model_name().unwrap_or_default().to_owned())
            .or_default();
        arns.insert(
            m.model_name().unwrap_or_default().to_owned(),
            (m.model_arn().unwrap_or_default().to_owned(), time(m.creation_time())),
        );
    }
    let arns = &arns;
    let models: Vec<Option<Found>> = stream::iter(model_candidates)
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
            let (kept, tags) = match (candidate.used_by_kept, foreign.models.get(&name)) {
                (Some(why), _) => (Some(why), None),
                (None, Some(through)) => (Some(format!("in use by endpoint {through}")), None),
                (None, None) if foreign.unknown.is_some() => (foreign.unknown.clone(), None),
                (None, None) => {
                    let judged = verdict(sm, (Kind::Model, &name, &arn), owner, candidate.follows).await?;
                    let Some((verdict, tags)) = judged else {
                        return Ok(None);
                    };
                    (verdict.kept(), Some(tags))
                }
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
                .review(Kind::Model, reviewed),
            ))
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    inventory.models = models.into_iter().flatten().collect();
    inventory.models.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(inventory)
}

/// The inventory the phase deletes from: `known` (read before the first
/// deletion) when a fresh listing is the same as the one it came from, with
/// each endpoint's status brought up to date; otherwise a new discovery from
/// that listing. Ownership is judged from the tags read for `known`; a
/// resource created, replaced or updated since is read and judged afresh.
pub async fn current(
    sm: &Client,
    cfg: &config::SageMaker,
    owner: &Owner<'_>,
    reviewed: Option<&Reviewed>,
    known: Option<Inventory>,
) -> Result<Inventory> {
    let listed = list(sm, cfg).await?;
    match known {
        Some(mut inventory) if inventory.listing == listed.identity() => {
            let status: BTreeMap<&str, &str> = listed
                .endpoints
                .iter()
                .filter_map(|e| Some((e.endpoint_name()?, e.endpoint_status()?.as_str())))
                .collect();
            for e in &mut inventory.endpoints {
                e.state = status.get(e.name.as_str()).map(|s| (*s).to_owned());
            }
            for (kind, found) in [
                (Kind::Endpoint, &mut inventory.endpoints),
                (Kind::EndpointConfig, &mut inventory.configs),
                (Kind::Model, &mut inventory.models),
            ] {
                for f in found.iter_mut() {
                    *f = std::mem::take(f).review(kind, reviewed);
                }
            }
            Ok(inventory)
        }
        Some(_) => {
            tracing::info!(
                "sagemaker: the endpoints, configs or models changed since the inventory; reading them again"
            );
            discover_listed(sm, cfg, owner, reviewed, listed).await
        }
        None => discover_listed(sm, cfg, owner, reviewed, listed).await,
    }
}

/// The endpoint configs the tagging API finds with `stack`'s memory of stopped
/// endpoints, as (name, ARN): whatever their names. Like every GetResources
/// answer it may lag behind the tags and list configs deleted a moment ago.
pub async fn configs_remembering(
    tagging: &aws_sdk_resourcegroupstagging::Client,
    stack: &str,
) -> Result<Vec<(String, String)>> {
    let found: Vec<_> = tagging
        .get_resources()
        .resource_type_filters("sagemaker:endpoint-config")
        .tag_filters(
            aws_sdk_resourcegroupstagging::types::TagFilter::builder()
                .key(Memory::StoppedEndpoints.key(stack))
                .build(),
        )
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| anyhow!("tagging GetResources: {}", describe(&e)))?;
    Ok(found
        .iter()
        .filter_map(|mapping| {
            let arn = mapping.resource_arn()?;
            Some((config_name_of(arn)?.to_owned(), arn.to_owned()))
        })
        .collect())
}

/// The name in an endpoint config's ARN; `None` for anything else (moto 5.2.5
/// reports SageMaker ARNs in the tagging API as a Python tuple).
fn config_name_of(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:")
        .and_then(|rest| rest.split_once(":endpoint-config/"))
        .map(|(_, name)| name)
}

/// SageMaker says "Could not find …" with a ValidationException for a missing resource.
pub fn is_not_found(message: &str) -> bool {
    message.contains("Could not find") || message.contains("does not exist") || message.contains("ResourceNotFound")
}

/// The stack's endpoints and their status: one paginated ListEndpoints (100 a page).
pub async fn list_endpoints(sm: &Client, prefix: &str) -> Result<BTreeMap<String, String>> {
    let summaries: Vec<_> = sm
        .list_endpoints()
        .name_contains(prefix)
        .max_results(100)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| anyhow!("sagemaker ListEndpoints: {}", describe(&e)))?;
    Ok(summaries
        .iter()
        .filter_map(|s| {
            let name = s.endpoint_name()?;
            name_matches(prefix, name).then(|| {
                (
                    name.to_owned(),
                    s.endpoint_status().map(|st| st.as_str().to_owned()).unwrap_or_default(),
                )
            })
        })
        .collect())
}

/// Why an endpoint is `Failed`, from one DescribeEndpoint.
pub async fn failure_reason(sm: &Client, name: &str) -> String {
    match sm.describe_endpoint().endpoint_name(name).send().await {
        Ok(d) => d.failure_reason().unwrap_or("no FailureReason given").to_owned(),
        Err(e) => format!("(DescribeEndpoint failed: {})", describe(&e)),
    }
}

/// Where the phase looks, as the plan says it: `endpoints named p or p-…, tagged K=V`.
pub fn source(config: &config::Config, cfg: &config::SageMaker) -> String {
    let tags: Vec<String> = config.scope.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let tagged = match tags.is_empty() {
        true => String::new(),
        false => format!(", tagged {}", tags.join(", ")),
    };
    format!("endpoints named {0} or {0}-…{tagged}", cfg.endpoint_prefix)
}
