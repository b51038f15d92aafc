//! The closing sweep: after a teardown's last phase, and in `verify
//! --after-teardown` (one code path), what of the stack still exists and bills.
//!
//! It asks the Resource Groups Tagging API for everything tagged with the
//! stack's `scope.tags`, and with the cluster's ownership tags
//! (`kubernetes.io/cluster/<cluster>`, `elbv2.k8s.aws/cluster`,
//! `eks:cluster-name`); confirms each ARN with its own service
//! (`confirm`: GetResources lists deleted resources for a while); prices
//! what is still there through `cost`; and classifies it **kept** (what the
//! teardown's own judgement kept, a SageMaker name outside the stack's rule,
//! the protect tag, shared with the cluster rather than owned by it, another
//! namespace's load balancer, a `keep` setting, the notification topic) or
//! **left behind**. It reads only: whatever it finds, it deletes nothing.

mod confirm;

use std::collections::BTreeMap;

use futures_util::{StreamExt, stream};

use crate::aws::{Aws, Every};
use crate::config::{Config, EndpointLogs};
use crate::cost::leftovers::{self, Priced};
use crate::cost::prices::Prices;
use crate::model::inventory::Kind;
use crate::model::sweep::{Leftover, Sweep, SweptBy};
use confirm::{Arn, Confirmed};

/// One Tagging API query: what users read, and its tag filters (key, values; no values: any value).
struct Query {
    label: String,
    filters: Vec<(String, Vec<String>)>,
}

/// The queries for this config: `scope.tags` (all of them, as one filter set) and the cluster's ownership tags.
fn queries(config: &Config) -> Vec<Query> {
    let mut out = Vec::new();
    if !config.scope.tags.is_empty() {
        out.push(Query {
            label: config
                .scope
                .tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" and "),
            filters: config
                .scope
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), vec![v.clone()]))
                .collect(),
        });
    }
    if let Some(cluster) = cluster(config) {
        out.push(Query {
            label: format!("kubernetes.io/cluster/{cluster}"),
            filters: vec![(format!("kubernetes.io/cluster/{cluster}"), Vec::new())],
        });
        for key in ["elbv2.k8s.aws/cluster", "eks:cluster-name"] {
            out.push(Query {
                label: format!("{key}={cluster}"),
                filters: vec![(key.to_owned(), vec![cluster.to_owned()])],
            });
        }
    }
    out
}

fn cluster(config: &Config) -> Option<&str> {
    config.kubernetes.as_ref().and_then(|k| k.cluster.as_deref())
}

/// What the stack names and a sweep without `scope.tags` can only check by name.
fn checked_by_name(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = &config.sagemaker {
        out.push(format!(
            "SageMaker endpoints, configs, models and endpoint log groups named {0} or {0}-…",
            s.endpoint_prefix
        ));
    }
    if let Some(e) = &config.ecr {
        out.push(format!("images in repositories {}", e.repositories.join(", ")));
    }
    if let Some(k) = &config.kubernetes
        && !k.namespaces.is_empty()
    {
        out.push(format!("namespaces {}", k.namespaces.join(", ")));
    }
    out
}

/// What the teardown's judgement kept (a config a foreign endpoint uses, say):
/// its kind, its name and why.
pub type Kept = (Kind, String, String);

/// Sweeps the stack; a failed query or confirmation is the sweep's `error`.
/// `kept` is what the teardown (or, in `verify`, discovery) judged kept.
pub async fn run(config: &Config, aws: &Aws, kept: &[Kept]) -> Sweep {
    let queries = queries(config);
    let mut sweep = Sweep {
        by: if config.scope.tags.is_empty() {
            SweptBy::NameOnly
        } else {
            SweptBy::Tags
        },
        queries: queries.iter().map(|q| q.label.clone()).collect(),
        checked_by_name: if config.scope.tags.is_empty() {
            checked_by_name(config)
        } else {
            Vec::new()
        },
        gone: 0,
        kept: Vec::new(),
        left_behind: Vec::new(),
        still_billing_usd_per_month: 0.0,
        error: None,
    };
    if let Err(e) = sweep_into(config, aws, &queries, kept, &mut sweep).await {
        sweep.error = Some(format!("{e:#}"));
        sweep.kept.clear();
        sweep.left_behind.clear();
    }
    sweep.still_billing_usd_per_month =
        crate::cost::round(sweep.left_behind.iter().filter_map(|l| l.usd_per_month).sum::<f64>());
    sweep
}

async fn sweep_into(
    config: &Config,
    aws: &Aws,
    queries: &[Query],
    judged: &[Kept],
    sweep: &mut Sweep,
) -> anyhow::Result<()> {
    // ARN → its tags, from every query (a resource may answer more than one).
    let mut found: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let tagging = aws.tagging();
    for query in queries {
        let mut request = tagging.get_resources().resources_per_page(100);
        for (key, values) in &query.filters {
            request = request.tag_filters(
                aws_sdk_resourcegroupstagging::types::TagFilter::builder()
                    .key(key)
                    .set_values((!values.is_empty()).then(|| values.clone()))
                    .build(),
            );
        }
        let mappings = request
            .into_paginator()
            .items()
            .send()
            .every(format!("tag GetResources {}", query.label))
            .await?;
        for m in mappings {
            let Some(arn) = m.resource_arn() else { continue };
            // moto 5.2.5 writes an endpoint config's ARN as a Python tuple, `('arn:…',)`; AWS never does.
            let arn = arn
                .strip_prefix("('")
                .and_then(|a| a.strip_suffix("',)"))
                .unwrap_or(arn);
            let tags = found.entry(arn.to_owned()).or_default();
            for t in m.tags() {
                tags.insert(t.key().to_owned(), t.value().to_owned());
            }
        }
    }
    let confirmed: Vec<(String, anyhow::Result<Confirmed>)> = stream::iter(found.keys().cloned())
        .map(|arn| async move {
            let answer = confirm::confirm(aws, &arn).await;
            (arn, answer)
        })
        .buffered(crate::aws::CONCURRENCY)
        .collect()
        .await;
    let mut prices = Prices::new(aws, &config.region, false);
    for (arn, answer) in confirmed {
        let (detail, bill) = match answer? {
            Confirmed::Gone => {
                sweep.gone += 1;
                continue;
            }
            Confirmed::Exists { detail, bill } => (detail, bill),
            Confirmed::Unconfirmed(why) => (
                why,
                leftovers::Billable::Unpriced("not confirmed, so not priced".into()),
            ),
        };
        let parsed = Arn::parse(&arn);
        let (kind, name) = parsed
            .as_ref()
            .map_or_else(|| ("unknown".to_owned(), arn.clone()), |a| (a.kind(), a.name()));
        let (usd, unpriced) = match leftovers::price(aws, &mut prices, &bill).await {
            Priced::Usd(usd) => (Some(usd), None),
            Priced::Unpriced(why) => (None, Some(why)),
        };
        let tags = &found[&arn];
        let kept = kept_by_teardown(judged, &kind, &name).or_else(|| kept_because(config, &kind, &name, &arn, tags));
        let leftover = Leftover {
            why: kept.clone().unwrap_or_else(|| removal(config, &kind, &name, &arn)),
            arn,
            kind,
            name,
            detail,
            usd_per_month: usd,
            unpriced,
        };
        if kept.is_some() {
            sweep.kept.push(leftover);
        } else {
            sweep.left_behind.push(leftover);
        }
    }
    prices.save();
    Ok(())
}

/// The teardown's own verdict on a resource of a kind it judges, if it kept it.
fn kept_by_teardown(judged: &[Kept], kind: &str, name: &str) -> Option<String> {
    // A volume a PersistentVolume retains: the phase names its EBS volume in the verdict.
    if kind == "ec2:volume" {
        let ebs = format!("EBS volume {name},");
        return judged
            .iter()
            .find(|(k, _, why)| *k == Kind::PersistentVolume && why.contains(&ebs))
            .map(|(_, pv, why)| format!("PersistentVolume {pv}: {why}"));
    }
    let kind = match kind {
        "sagemaker:endpoint" => Kind::Endpoint,
        "sagemaker:endpoint-config" => Kind::EndpointConfig,
        "sagemaker:model" => Kind::Model,
        "logs:log-group" => Kind::LogGroup,
        "ecr:repository" => Kind::Repository,
        "ec2:security-group" => Kind::SecurityGroup,
        _ => return None,
    };
    // SageMaker's ARNs spell names in lower case.
    judged
        .iter()
        .find(|(k, n, _)| *k == kind && n.eq_ignore_ascii_case(name))
        .map(|(_, _, why)| why.clone())
}

/// Why a found resource is not the teardown's to remove, if it is not.
fn kept_because(config: &Config, kind: &str, name: &str, arn: &str, tags: &BTreeMap<String, String>) -> Option<String> {
    let owner = crate::scope::Owner::new(config);
    if let Some(why) = owner
        .judge_protect(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .kept()
    {
        return Some(why);
    }
    // SageMaker's resources are the stack's by the name rule and the tags together.
    if let Some(s) = &config.sagemaker
        && matches!(
            kind,
            "sagemaker:endpoint" | "sagemaker:endpoint-config" | "sagemaker:model"
        )
        && !crate::scope::name_matches(&s.endpoint_prefix.to_ascii_lowercase(), &name.to_ascii_lowercase())
    {
        return Some(format!(
            "named outside the stack's rule ({0} or {0}-…): another service's, whatever its tags",
            s.endpoint_prefix
        ));
    }
    let in_scope = !config.scope.tags.is_empty() && config.scope.tags.iter().all(|(k, v)| tags.get(k) == Some(v));
    if !in_scope && let Some(cluster) = cluster(config) {
        let key = format!("kubernetes.io/cluster/{cluster}");
        if tags.get(&key).is_some_and(|v| v == "shared") {
            return Some(format!("{key}=shared: the cluster uses it, something else owns it"));
        }
        let namespaces = config
            .kubernetes
            .as_ref()
            .map(|k| k.namespaces.as_slice())
            .unwrap_or_default();
        if let Some(why) = crate::scope::made_for_another_namespace(namespaces, tags) {
            return Some(why);
        }
    }
    if config.notify.sns_topic_arn.as_deref() == Some(arn) {
        return Some("notify.sns_topic_arn: the teardown reports to it".to_owned());
    }
    if kind == "logs:log-group"
        && let Some(s) = &config.sagemaker
        && s.logs == EndpointLogs::Keep
        && name
            .strip_prefix(crate::discover::sagemaker::ENDPOINT_LOGS)
            .is_some_and(|e| crate::scope::name_matches(&s.endpoint_prefix, e))
    {
        return Some("sagemaker.logs: keep".to_owned());
    }
    None
}

/// The command that removes a left-behind resource, and the setting that keeps it instead.
fn removal(config: &Config, kind: &str, name: &str, arn: &str) -> String {
    let region = &config.region;
    let command = match kind {
        "ec2:volume" => format!("aws ec2 delete-volume --volume-id {name} --region {region}"),
        "ec2:instance" => format!("aws ec2 terminate-instances --instance-ids {name} --region {region}"),
        "ec2:natgateway" => format!("aws ec2 delete-nat-gateway --nat-gateway-id {name} --region {region}"),
        "ec2:elastic-ip" => format!("aws ec2 release-address --allocation-id {name} --region {region}"),
        "ec2:security-group" => format!("aws ec2 delete-security-group --group-id {name} --region {region}"),
        "ec2:snapshot" => format!("aws ec2 delete-snapshot --snapshot-id {name} --region {region}"),
        "elasticloadbalancing:loadbalancer" => format!("aws elbv2 delete-load-balancer --load-balancer-arn {arn}"),
        "elasticloadbalancing:targetgroup" => format!("aws elbv2 delete-target-group --target-group-arn {arn}"),
        "logs:log-group" => format!("aws logs delete-log-group --log-group-name {name} --region {region}"),
        "s3:bucket" => format!("aws s3 rb s3://{name} --force"),
        "sns:topic" => format!("aws sns delete-topic --topic-arn {arn}"),
        "sagemaker:endpoint" => format!("aws sagemaker delete-endpoint --endpoint-name {name} --region {region}"),
        "sagemaker:training-job" => {
            format!("aws sagemaker stop-training-job --training-job-name {name} --region {region}")
        }
        "eks:cluster" => format!("aws eks delete-cluster --name {name} --region {region}"),
        "ecr:repository" => format!("aws ecr delete-repository --repository-name {name} --force --region {region}"),
        _ => "delete it (its ARN is above)".to_owned(),
    };
    format!(
        "{command}; or, to keep it, tag it {}={}",
        config.protect.tag, config.protect.value
    )
}
