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

use anyhow::Result;
use aws_sdk_sagemaker::Client;
use aws_sdk_sagemaker::types::{EndpointStatus, EndpointSummary};

use crate::aws::Every;
use crate::aws::describe;
use crate::config;
use crate::markers::Memory;
use crate::model::inventory::{Action, Kind, Resource};
use crate::model::reviewed::{DRIFT, Reviewed};
use crate::scope::{Owner, Verdict, name_matches};

pub mod jobs;
mod judge;
mod logs;
use judge::discover_listed;
pub use logs::ENDPOINT_LOGS;
use logs::log_groups;

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
    /// The log groups SageMaker made for the stack's endpoints (`/aws/sagemaker/Endpoints/<name>`);
    /// each `uses` its endpoint.
    pub log_groups: Vec<Found>,
    /// The stack's running jobs (training, processing, transform, tuning): stopped first.
    pub jobs: Vec<jobs::Job>,
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
    let endpoints = endpoints(sm, None);
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
            .every("sagemaker ListEndpointConfigs")
            .await
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
            .every("sagemaker ListModels")
            .await
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
        out.extend(self.log_groups.iter().map(|f| one(Kind::LogGroup, f)));
        out.extend(self.jobs.iter().map(|j| {
            let r = one(j.kind, &j.found);
            match r.action {
                Action::Delete => Resource {
                    action: Action::Stop,
                    ..r
                },
                _ => r,
            }
        }));
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
        .every(format!("sagemaker ListTags {arn}"))
        .await?;
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

/// Read-only discovery of the stack's endpoints, configs and models.
/// With a `reviewed` plan, what it does not list is kept as drift.
pub async fn discover(
    clients: Clients<'_>,
    cfg: &config::SageMaker,
    owner: &Owner<'_>,
    reviewed: Option<&Reviewed>,
) -> Result<Inventory> {
    let listed = list(clients.sm, cfg).await?;
    discover_all(clients, cfg, owner, reviewed, listed).await
}

/// The clients SageMaker discovery reads through.
#[derive(Clone, Copy)]
pub struct Clients<'a> {
    pub sm: &'a Client,
    /// For the log groups SageMaker makes per endpoint.
    pub logs: &'a aws_sdk_cloudwatchlogs::Client,
}

/// Discovery from a listing: endpoints, configs and models, then the endpoints' log groups.
async fn discover_all(
    clients: Clients<'_>,
    cfg: &config::SageMaker,
    owner: &Owner<'_>,
    reviewed: Option<&Reviewed>,
    listed: Listed,
) -> Result<Inventory> {
    let (inventory, running) = tokio::join!(
        discover_listed(clients.sm, cfg, owner, reviewed, listed),
        jobs::jobs(clients.sm, cfg, owner, reviewed)
    );
    let mut inventory = inventory?;
    inventory.jobs = running?;
    inventory.log_groups = log_groups(clients.logs, cfg, owner, &inventory, reviewed).await?;
    Ok(inventory)
}

/// The inventory the phase deletes from: `known` (read before the first
/// deletion) when a fresh listing is the same as the one it came from, with
/// each endpoint's status brought up to date; otherwise a new discovery from
/// that listing. Ownership is judged from the tags read for `known`; a
/// resource created, replaced or updated since is read and judged afresh.
pub async fn current(
    clients: Clients<'_>,
    cfg: &config::SageMaker,
    owner: &Owner<'_>,
    reviewed: Option<&Reviewed>,
    known: Option<Inventory>,
) -> Result<Inventory> {
    let listed = list(clients.sm, cfg).await?;
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
                (Kind::LogGroup, &mut inventory.log_groups),
            ] {
                for f in found.iter_mut() {
                    *f = std::mem::take(f).review(kind, reviewed);
                }
            }
            for j in &mut inventory.jobs {
                j.found = std::mem::take(&mut j.found).review(j.kind, reviewed);
            }
            Ok(inventory)
        }
        Some(_) => {
            tracing::info!(
                "sagemaker: the endpoints, configs or models changed since the inventory; reading them again"
            );
            discover_all(clients, cfg, owner, reviewed, listed).await
        }
        None => discover_all(clients, cfg, owner, reviewed, listed).await,
    }
}

/// What the listings name now that `since` did not: endpoints, configs and
/// models named like the stack, and running jobs, made after `since` was read
/// (by the workloads of a namespace that was still terminating, say). Names
/// only, as `kind name`: nothing is described and no tag is read.
pub async fn arrived(sm: &Client, cfg: &config::SageMaker, since: &Inventory) -> Result<Vec<String>> {
    let (listed, running) = tokio::try_join!(list(sm, cfg), jobs::running_names(sm, cfg))?;
    let (now, before) = (listed.identity(), &since.listing);
    let prefix = cfg.endpoint_prefix.as_str();
    let new = |kind: Kind, now: Vec<&String>, before: &dyn Fn(&str) -> bool| {
        now.into_iter()
            .filter(|n| name_matches(prefix, n) && !before(n))
            .map(|n| format!("{} {n}", kind.name()))
            .collect::<Vec<_>>()
    };
    let mut arrived = new(Kind::Endpoint, now.endpoints.keys().collect(), &|n| {
        before.endpoints.contains_key(n)
    });
    arrived.extend(new(Kind::EndpointConfig, now.configs.keys().collect(), &|n| {
        before.configs.contains_key(n)
    }));
    arrived.extend(new(Kind::Model, now.models.keys().collect(), &|n| {
        before.models.contains_key(n)
    }));
    arrived.extend(
        running
            .into_iter()
            .filter(|(kind, name)| !since.jobs.iter().any(|j| j.kind == *kind && j.found.name == *name))
            .map(|(kind, name)| format!("{} {name}", kind.name())),
    );
    Ok(arrived)
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
        .every("tagging GetResources")
        .await?;
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
pub async fn list_endpoints(sm: &Client, prefix: &str) -> Result<BTreeMap<String, EndpointStatus>> {
    Ok(endpoints(sm, Some(prefix))
        .await?
        .into_iter()
        .filter_map(|s| {
            let name = s.endpoint_name()?;
            // An answer without a status still names an endpoint that exists.
            let status = s.endpoint_status().cloned().unwrap_or_else(|| EndpointStatus::from(""));
            name_matches(prefix, name).then(|| (name.to_owned(), status))
        })
        .collect())
}

/// One paginated ListEndpoints (100 a page): every endpoint in the region, or
/// those whose name contains `name_contains`. The one reader of that listing.
pub async fn endpoints(sm: &Client, name_contains: Option<&str>) -> Result<Vec<EndpointSummary>> {
    sm.list_endpoints()
        .set_name_contains(name_contains.map(str::to_owned))
        .max_results(100)
        .into_paginator()
        .items()
        .send()
        .every("sagemaker ListEndpoints")
        .await
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sagemaker::types::{EndpointConfigSummary, ModelSummary};
    use aws_smithy_types::DateTime;

    fn endpoint(name: &str, created: i64, modified: i64) -> EndpointSummary {
        EndpointSummary::builder()
            .endpoint_name(name)
            .endpoint_arn(format!("arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}"))
            .creation_time(DateTime::from_secs(created))
            .last_modified_time(DateTime::from_secs(modified))
            .endpoint_status(EndpointStatus::InService)
            .build()
    }

    fn listed(endpoints: Vec<EndpointSummary>) -> Listed {
        Listed {
            endpoints,
            configs: vec![
                EndpointConfigSummary::builder()
                    .endpoint_config_name("p-ep-config")
                    .endpoint_config_arn("arn:config")
                    .creation_time(DateTime::from_secs(10))
                    .build(),
            ],
            models: vec![
                ModelSummary::builder()
                    .model_name("p-model")
                    .model_arn("arn:model")
                    .creation_time(DateTime::from_secs(5))
                    .build(),
            ],
        }
    }

    #[test]
    fn a_listing_is_the_same_only_when_nothing_was_created_deleted_updated_or_replaced() {
        let before = listed(vec![endpoint("p-ep", 100, 100), endpoint("other", 50, 60)]).identity();
        assert_eq!(
            before,
            listed(vec![endpoint("other", 50, 60), endpoint("p-ep", 100, 100)]).identity()
        );
        for (what, now) in [
            (
                "an endpoint updated",
                vec![endpoint("p-ep", 100, 200), endpoint("other", 50, 60)],
            ),
            (
                "an endpoint replaced under its name",
                vec![endpoint("p-ep", 300, 300), endpoint("other", 50, 60)],
            ),
            (
                "an endpoint outside the stack deleted",
                vec![endpoint("p-ep", 100, 100)],
            ),
            (
                "an endpoint created",
                vec![
                    endpoint("p-ep", 100, 100),
                    endpoint("other", 50, 60),
                    endpoint("p-new", 400, 400),
                ],
            ),
        ] {
            assert_ne!(before, listed(now).identity(), "{what}");
        }
        let mut model_replaced = listed(vec![endpoint("p-ep", 100, 100), endpoint("other", 50, 60)]);
        model_replaced.models[0] = ModelSummary::builder()
            .model_name("p-model")
            .model_arn("arn:model")
            .creation_time(DateTime::from_secs(6))
            .build();
        assert_ne!(before, model_replaced.identity(), "a model replaced under its name");
    }
}
