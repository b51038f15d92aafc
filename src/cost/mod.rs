//! `sundown cost`: what the stack costs while it runs, what a teardown stops
//! and what the off-hours schedule saves, in dollars; and what Cost Explorer
//! says it actually cost. Read-only.
//!
//! It prices the inventory the plan found (`plan::build`: which SageMaker
//! endpoints and images a teardown deletes or keeps, and the Terraform state
//! that `terraform destroy` empties) and reads only what prices need beyond
//! it: sizes, instance types and counts. Ownership is never decided here.
//! Prices come from `prices` (the Price List API, a disk cache, a built-in
//! table); no failure here changes the exit code of `plan`, `teardown` or
//! `schedule`.

pub mod prices;
pub mod window;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use serde::Serialize;

use crate::aws::{Aws, Identity, describe};
use crate::config::Config;
use crate::discover::Stack;
use crate::discover::sagemaker::Variant;
use crate::model::inventory::{Action, Kind, Resource};
use crate::scope::{Owner, Verdict};
use prices::{Prices, Product, Unit};
use window::HOURS_PER_MONTH;

pub const SCHEMA: &str = "sundown.cost/v1";
/// Bytes in the GB that prices are per (AWS bills storage in GiB-months as "GB").
const GB: f64 = 1024.0 * 1024.0 * 1024.0;
/// How long a Cost Explorer answer is reused (each request costs $0.01).
const ACTUAL_CACHE_LIFE: Duration = Duration::from_secs(12 * 3600);

/// What a teardown does with a priced resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTeardown {
    /// A sundown phase deletes it, or it is in the Terraform state.
    Deleted,
    /// Protected, or out of the stack's scope.
    Kept,
    /// Neither: sundown and Terraform leave it (e.g. a bucket outside the state).
    NotTouched,
}

/// One priced resource.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub kind: &'static str,
    pub name: String,
    /// `1 × ml.t2.medium`, `4 × t3.medium SPOT`, `12.4 GB`.
    pub detail: String,
    pub usd_per_hour: f64,
    pub usd_per_month: f64,
    pub outcome_on_teardown: OnTeardown,
    pub stopped_by_schedule: bool,
    /// Where the price came from: `price_list`, `cache`, `built_in`, `spot`.
    pub price_from: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Something found that costs money but is not priced.
#[derive(Debug, Clone, Serialize)]
pub struct Unpriced {
    pub kind: &'static str,
    pub name: String,
    pub why: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub running_usd_per_month: f64,
    /// The sum of the `deleted` rows.
    pub teardown_stops_usd_per_month: f64,
    /// What `schedule stop` stops, over the off-hours window.
    pub schedule_saves_usd_per_month: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    pub stop: String,
    pub start: String,
    pub off_hours_per_week: f64,
    pub off_share: f64,
}

/// Cost Explorer's figures for the last 30 days, filtered by the project tag.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Actual {
    pub start: String,
    pub end: String,
    pub tag: String,
    pub by_service: Vec<ServiceCost>,
    pub total_usd: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ServiceCost {
    pub service: String,
    pub usd: f64,
}

/// What managed spot training saved one training job.
#[derive(Debug, Clone, Serialize)]
pub struct Training {
    pub job: String,
    pub spot: bool,
    pub training_seconds: i64,
    pub billable_seconds: i64,
    /// 1 - billable / training, in percent.
    pub saved_percent: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PriceSource {
    /// How many prices came from each source: `price_list`, `cache`, `built_in`.
    pub used: BTreeMap<&'static str, usize>,
    /// Why the Price List API was not used, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_list_unavailable: Option<String>,
    pub built_in_date: &'static str,
    pub built_in_region: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
}

/// The `sundown.cost/v1` document.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub schema: &'static str,
    pub stack: String,
    pub account: String,
    pub region: String,
    pub resources: Vec<Row>,
    pub unpriced: Vec<Unpriced>,
    pub totals: Totals,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Cost Explorer's figures; absent when there are none, with the reason in `actual_unavailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<Actual>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_unavailable: Option<String>,
    pub spot_training: Vec<Training>,
    pub price_source: PriceSource,
}

/// Everything `build` needs to know that discovery found.
struct Known<'a> {
    stack: &'a Stack,
    /// Every resource of the stack, as the plan lists them.
    resources: Vec<Resource>,
}

impl Known<'_> {
    fn action(&self, kind: Kind, name: &str) -> Option<Action> {
        self.resources
            .iter()
            .find(|r| r.kind == kind && r.name == name)
            .map(|r| r.action)
    }

    /// Whether `terraform destroy` destroys it: an instance in the state with this ARN or id.
    fn in_state(&self, arn: Option<&str>, id: Option<&str>) -> bool {
        self.stack.terraform.value().is_some_and(|s| {
            s.managed()
                .any(|i| (arn.is_some() && i.arn.as_deref() == arn) || (id.is_some() && i.id.as_deref() == id))
        })
    }
}

/// How much `build` does.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// No Price List or Cost Explorer request: cached and built-in prices only.
    pub offline: bool,
    /// Also what is not priced, Cost Explorer's figures and training jobs (`sundown cost`);
    /// `plan` and `teardown` only need what the teardown stops.
    pub full: bool,
}

/// Prices the stack that `plan` found.
pub async fn build(config: &Config, aws: &Aws, identity: &Identity, stack: &Stack, options: Options) -> Cost {
    let offline = options.offline;
    let mut prices = Prices::new(aws, &config.region, offline);
    let known = Known {
        stack,
        resources: stack.resources(),
    };
    let owner = Owner::new(config);
    let mut rows = Vec::new();
    let mut unpriced = Vec::new();
    let mut problems = Vec::new();
    if let Some(cluster) = config.kubernetes.as_ref().and_then(|k| k.cluster.as_deref()) {
        if let Err(e) = eks(aws, cluster, &owner, &known, &mut prices, &mut rows).await {
            problems.push(format!("{e:#}"));
        }
        match crate::discover::kubernetes::cluster_load_balancers(aws, cluster).await {
            Ok(lbs) => {
                let namespaces = config.kubernetes.as_ref().is_some_and(|k| !k.namespaces.is_empty());
                for lb in lbs {
                    let Some(price) = prices.price(&Product::LoadBalancer(lb.kind.clone())).await else {
                        unpriced.push(Unpriced {
                            kind: "load_balancer",
                            name: lb.name,
                            why: format!("no price for a {} load balancer", lb.kind),
                        });
                        continue;
                    };
                    rows.push(hourly_row(
                        "load_balancer",
                        lb.name,
                        format!("{} load balancer", lb.kind),
                        price.usd,
                        if namespaces {
                            OnTeardown::Deleted
                        } else {
                            OnTeardown::NotTouched
                        },
                        false,
                        price.from,
                        namespaces.then(|| "goes with its Service's namespace".to_owned()),
                    ));
                }
            }
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    if config.sagemaker.is_some()
        && let Err(e) = endpoints(aws, &known, &mut prices, &mut rows, &mut unpriced).await
    {
        problems.push(format!("{e:#}"));
    }
    if let Some(ecr) = &config.ecr
        && let Err(e) = ecr_storage(aws, &ecr.repositories, &known, &mut prices, &mut rows).await
    {
        problems.push(format!("{e:#}"));
    }
    if let Err(e) = logs_storage(aws, &config.verify.log_group_prefixes, &known, &mut prices, &mut rows).await {
        problems.push(format!("{e:#}"));
    }
    if let Err(e) = s3_storage(aws, &config.verify.buckets, &known, &mut prices, &mut rows).await {
        problems.push(format!("{e:#}"));
    }
    if options.full
        && let Err(e) = not_priced(aws, config, &mut unpriced).await
    {
        problems.push(format!("{e:#}"));
    }
    for p in problems {
        tracing::warn!("cost: {p}");
    }
    prices.save();

    let schedule = match window::window(&config.verify.stop_schedule, &config.verify.start_schedule) {
        Ok(w) => Some((
            w,
            Schedule {
                stop: config.verify.stop_schedule.clone(),
                start: config.verify.start_schedule.clone(),
                off_hours_per_week: w.off_hours_per_week,
                off_share: w.off_share(),
            },
        )),
        Err(e) => {
            tracing::warn!("cost: the schedule's savings are not priced: {e:#}");
            None
        }
    };
    let off_hours = schedule.as_ref().map_or(0.0, |(w, _)| w.off_hours_per_month());
    let totals = Totals {
        running_usd_per_month: round(rows.iter().map(|r| r.usd_per_month).sum()),
        teardown_stops_usd_per_month: round(
            rows.iter()
                .filter(|r| r.outcome_on_teardown == OnTeardown::Deleted)
                .map(|r| r.usd_per_month)
                .sum(),
        ),
        schedule_saves_usd_per_month: round(
            rows.iter()
                .filter(|r| r.stopped_by_schedule)
                .map(|r| r.usd_per_hour * off_hours)
                .sum(),
        ),
    };
    let mut actual = if offline {
        Err("--offline: Cost Explorer was not asked".to_owned())
    } else if !options.full {
        Err("not asked (sundown cost asks)".to_owned())
    } else {
        actual(aws, config).await
    };
    if let Ok(a) = &mut actual
        && a.total_usd == 0.0
        && totals.running_usd_per_month > 0.0
    {
        a.note = Some(format!(
            "Cost Explorer reports $0 for {} while the stack runs: activate {} as a cost-allocation tag \
             (Billing and Cost Management → Cost allocation tags); it counts from then on",
            a.tag,
            config.project_tag().key
        ));
    }
    let spot_training = if options.full {
        spot_training(aws, config.verify.training_days)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!("cost: training jobs: {e:#}");
                Vec::new()
            })
    } else {
        Vec::new()
    };
    Cost {
        schema: SCHEMA,
        stack: config.stack.clone(),
        account: identity.account.clone(),
        region: config.region.clone(),
        resources: rows,
        unpriced,
        totals,
        schedule: schedule.map(|(_, s)| s),
        actual_unavailable: actual.as_ref().err().cloned(),
        actual: actual.ok(),
        spot_training,
        price_source: PriceSource {
            used: prices.used.clone(),
            price_list_unavailable: prices.api_problem.clone(),
            built_in_date: prices::BUILT_IN_DATE,
            built_in_region: prices::BUILT_IN_REGION,
            cache: prices::cache_dir().map(|d| d.join("prices.json").display().to_string()),
        },
    }
}

/// To the cent; never -0.00 (a sum of nothing, or Cost Explorer's "-0.0000001", reads $0.00).
fn round(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0 + 0.0
}

#[allow(clippy::too_many_arguments)]
fn hourly_row(
    kind: &'static str,
    name: String,
    detail: String,
    usd_per_hour: f64,
    outcome: OnTeardown,
    stopped_by_schedule: bool,
    from: prices::From,
    note: Option<String>,
) -> Row {
    Row {
        kind,
        name,
        detail,
        usd_per_hour,
        usd_per_month: round(usd_per_hour * HOURS_PER_MONTH),
        outcome_on_teardown: outcome,
        stopped_by_schedule,
        price_from: from_name(from),
        note,
    }
}

fn storage(
    kind: &'static str,
    name: String,
    bytes: f64,
    usd_per_gb_month: f64,
    outcome: OnTeardown,
    from: prices::From,
) -> Row {
    let gb = bytes / GB;
    let month = gb * usd_per_gb_month;
    Row {
        kind,
        name,
        detail: format!("{gb:.2} GB"),
        usd_per_hour: month / HOURS_PER_MONTH,
        usd_per_month: round(month),
        outcome_on_teardown: outcome,
        stopped_by_schedule: false,
        price_from: from_name(from),
        note: None,
    }
}

fn from_name(from: prices::From) -> &'static str {
    match from {
        prices::From::PriceList => "price_list",
        prices::From::Cache => "cache",
        prices::From::BuiltIn => "built_in",
    }
}

/// The EKS control plane and its node groups.
async fn eks(
    aws: &Aws,
    cluster: &str,
    owner: &Owner<'_>,
    known: &Known<'_>,
    prices: &mut Prices,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let eks = aws.eks();
    let described = match eks.describe_cluster().name(cluster).send().await {
        Ok(d) => d,
        Err(e) if crate::aws::code(&e) == Some("ResourceNotFoundException") => return Ok(()),
        Err(e) => anyhow::bail!("eks DescribeCluster {cluster}: {}", describe(&e)),
    };
    let info = described.cluster();
    let version = info.and_then(|c| c.version()).unwrap_or("unknown").to_owned();
    let arn = info.and_then(|c| c.arn()).map(str::to_owned);
    // The version's support status decides the rate: extended support adds a surcharge.
    let status = match eks.describe_cluster_versions().cluster_versions(&version).send().await {
        Ok(v) => v
            .cluster_versions()
            .first()
            .and_then(|v| v.version_status())
            .map(|s| s.as_str().to_owned()),
        Err(_) => None,
    };
    let extended = status.as_deref() == Some("EXTENDED_SUPPORT");
    if let Some(base) = prices.price(&Product::EksCluster).await {
        let surcharge = if extended {
            prices.price(&Product::EksExtendedSupport).await.map_or(0.0, |p| p.usd)
        } else {
            0.0
        };
        let outcome = if known.in_state(arn.as_deref(), Some(cluster)) {
            OnTeardown::Deleted
        } else {
            OnTeardown::NotTouched
        };
        rows.push(hourly_row(
            "eks_cluster",
            cluster.to_owned(),
            format!(
                "control plane, Kubernetes {version}, {}",
                if extended {
                    "extended support"
                } else {
                    "standard support"
                }
            ),
            base.usd + surcharge,
            outcome,
            false,
            base.from,
            status
                .is_none()
                .then(|| "version support status unknown (DescribeClusterVersions failed): standard rate".to_owned()),
        ));
    }
    let groups = crate::aws::node_group_names(&eks, cluster).await?;
    for name in groups {
        let out = match eks
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(&name)
            .send()
            .await
        {
            Ok(out) => out,
            // Deleted since ListNodegroups: it costs nothing.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                continue;
            }
            Err(e) => anyhow::bail!("eks DescribeNodegroup {name}: {}", describe(&e)),
        };
        let Some(group) = out.nodegroup() else { continue };
        let types: Vec<String> = group.instance_types().to_vec();
        let desired = group.scaling_config().and_then(|s| s.desired_size()).unwrap_or(0);
        let spot = group.capacity_type().is_some_and(|c| c.as_str() == "SPOT");
        let tags = group.tags().cloned().unwrap_or_default();
        let verdict = owner.judge(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let outcome = if known.in_state(group.nodegroup_arn(), Some(&format!("{cluster}:{name}"))) {
            OnTeardown::Deleted
        } else if verdict != Verdict::Ours {
            OnTeardown::Kept
        } else {
            OnTeardown::NotTouched
        };
        let Some(first) = types.first() else { continue };
        let (each, from, note) = if spot {
            match spot_price(aws, &types).await {
                Some(price) => (
                    Some(price),
                    "spot",
                    Some(format!("spot price averaged over {} and their AZs", types.join(", "))),
                ),
                None => {
                    let p = prices.price(&Product::Ec2(first.clone())).await;
                    (
                        p.map(|p| p.usd),
                        p.map_or("built_in", |p| from_name(p.from)),
                        Some("no spot price found: on-demand rate".to_owned()),
                    )
                }
            }
        } else {
            let p = prices.price(&Product::Ec2(first.clone())).await;
            (p.map(|p| p.usd), p.map_or("built_in", |p| from_name(p.from)), None)
        };
        let Some(each) = each else { continue };
        let mut row = hourly_row(
            "node_group",
            format!("{cluster}/{name}"),
            format!("{desired} × {first}{}", if spot { " SPOT" } else { "" }),
            each * f64::from(desired),
            outcome,
            verdict == Verdict::Ours,
            prices::From::PriceList,
            note,
        );
        row.price_from = from;
        rows.push(row);
    }
    Ok(())
}

/// The current spot price, averaged over the instance types and their AZs
/// (the latest price per type and AZ from DescribeSpotPriceHistory).
async fn spot_price(aws: &Aws, types: &[String]) -> Option<f64> {
    let mut request = aws
        .ec2()
        .describe_spot_price_history()
        .start_time(aws_sdk_ec2::primitives::DateTime::from(SystemTime::now()))
        .product_descriptions("Linux/UNIX");
    for t in types {
        request = request.instance_types(aws_sdk_ec2::types::InstanceType::from(t.as_str()));
    }
    let answer = tokio::time::timeout(Duration::from_secs(15), request.send())
        .await
        .ok()?
        .ok()?;
    let mut latest: BTreeMap<(String, String), (i64, f64)> = BTreeMap::new();
    for p in answer.spot_price_history() {
        let key = (
            p.instance_type().map(|t| t.as_str().to_owned()).unwrap_or_default(),
            p.availability_zone().unwrap_or_default().to_owned(),
        );
        let at = p.timestamp().map_or(0, |t| t.secs());
        let Some(price) = p.spot_price().and_then(|s| s.parse::<f64>().ok()) else {
            continue;
        };
        let entry = latest.entry(key).or_insert((at, price));
        if at > entry.0 {
            *entry = (at, price);
        }
    }
    if latest.is_empty() {
        return None;
    }
    Some(latest.values().map(|(_, p)| p).sum::<f64>() / latest.len() as f64)
}

/// The SageMaker endpoints the plan found (the stack's, deleted or kept): per
/// production variant, its instance type × current instance count.
async fn endpoints(
    aws: &Aws,
    known: &Known<'_>,
    prices: &mut Prices,
    rows: &mut Vec<Row>,
    unpriced: &mut Vec<Unpriced>,
) -> Result<()> {
    let sm = aws.sagemaker();
    let found: Vec<(String, Action)> = known
        .resources
        .iter()
        .filter(|r| r.kind == Kind::Endpoint && r.action != Action::Absent)
        .map(|r| (r.name.clone(), r.action))
        .collect();
    let inventory = known.stack.sagemaker.value();
    for (name, action) in found {
        let (endpoint, config) = match variants(&sm, inventory, &name).await? {
            Some((endpoint, Some(config))) => (endpoint, config),
            Some((_, None)) => {
                unpriced.push(Unpriced {
                    kind: "endpoint",
                    name: name.clone(),
                    why: "its endpoint config is deleted, so its instance types cannot be read".into(),
                });
                continue;
            }
            None => continue,
        };
        let mut usd = 0.0;
        let mut detail = Vec::new();
        let mut from = prices::From::PriceList;
        for variant in &config {
            let Some(instance_type) = variant.instance_type.clone() else {
                unpriced.push(Unpriced {
                    kind: "endpoint",
                    name: format!("{name}/{}", variant.name),
                    why: "serverless inference is billed per request and compute time, not per hour".into(),
                });
                continue;
            };
            let count = endpoint
                .iter()
                .find(|v| v.name == variant.name)
                .and_then(|v| v.count)
                .or(variant.count)
                .unwrap_or(1);
            let Some(price) = prices.price(&Product::SageMakerHosting(instance_type.clone())).await else {
                unpriced.push(Unpriced {
                    kind: "endpoint",
                    name: name.clone(),
                    why: format!("no price for {instance_type}"),
                });
                continue;
            };
            from = price.from;
            usd += price.usd * f64::from(count);
            detail.push(format!("{count} × {instance_type}"));
        }
        if detail.is_empty() {
            continue;
        }
        let deleted = action == Action::Delete;
        rows.push(hourly_row(
            "endpoint",
            name,
            detail.join(" + "),
            usd,
            if deleted { OnTeardown::Deleted } else { OnTeardown::Kept },
            deleted,
            from,
            None,
        ));
    }
    Ok(())
}

/// An endpoint's variants (current instance counts) and its config's
/// (instance types): from the inventory when it has them, else from one
/// DescribeEndpoint and one DescribeEndpointConfig. `None` when it is gone;
/// the config's variants `None` when the endpoint runs from a deleted config.
async fn variants(
    sm: &aws_sdk_sagemaker::Client,
    inventory: Option<&crate::discover::sagemaker::Inventory>,
    name: &str,
) -> Result<Option<(Vec<Variant>, Option<Vec<Variant>>)>> {
    if let Some(inventory) = inventory
        && let Some(endpoint) = inventory.endpoints.iter().find(|e| e.name == name)
        && let Some(config) = inventory.configs.iter().find(|c| endpoint.uses.contains(&c.name))
    {
        return Ok(Some((endpoint.variants.clone(), Some(config.variants.clone()))));
    }
    let endpoint = match sm.describe_endpoint().endpoint_name(name).send().await {
        Ok(e) => e,
        Err(e) if crate::discover::sagemaker::is_not_found(&describe(&e)) => return Ok(None),
        Err(e) => anyhow::bail!("sagemaker DescribeEndpoint {name}: {}", describe(&e)),
    };
    let config_name = endpoint.endpoint_config_name().unwrap_or_default();
    let config = match sm
        .describe_endpoint_config()
        .endpoint_config_name(config_name)
        .send()
        .await
    {
        Ok(config) => Some(Variant::configured(config.production_variants())),
        // AWS lets a config be deleted while its endpoint runs.
        Err(e) if crate::discover::sagemaker::is_not_found(&describe(&e)) => None,
        Err(e) => anyhow::bail!("sagemaker DescribeEndpointConfig {config_name}: {}", describe(&e)),
    };
    Ok(Some((Variant::running(endpoint.production_variants()), config)))
}

/// ECR storage of the configured repositories: the sizes of their images.
async fn ecr_storage(
    aws: &Aws,
    repositories: &[String],
    known: &Known<'_>,
    prices: &mut Prices,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let ecr = aws.ecr();
    for repo in repositories {
        // The inventory described the images already; else describe them here.
        let described = match known.stack.ecr.value().into_iter().flatten().find(|r| &r.name == repo) {
            Some(found) if !found.exists => continue,
            Some(found) => found.images.clone(),
            None => match crate::discover::ecr::describe_images(&ecr, repo).await? {
                Some(images) => images,
                None => continue,
            },
        };
        let count = described.len();
        let bytes: i64 = described.values().filter_map(|i| i.bytes).sum();
        let Some(price) = prices.price(&Product::EcrStorage).await else {
            continue;
        };
        let outcome = match known.action(Kind::Repository, repo) {
            Some(Action::Delete) => OnTeardown::Deleted,
            Some(Action::Keep) => OnTeardown::Kept,
            _ => OnTeardown::NotTouched,
        };
        let mut row = storage(
            "ecr_storage",
            repo.clone(),
            bytes as f64,
            price.usd,
            outcome,
            price.from,
        );
        row.detail = format!("{count} images, {}", row.detail);
        rows.push(row);
    }
    Ok(())
}

/// CloudWatch Logs stored bytes of the log groups under the configured prefixes.
async fn logs_storage(
    aws: &Aws,
    prefixes: &[String],
    known: &Known<'_>,
    prices: &mut Prices,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let logs = aws.logs();
    for prefix in prefixes {
        let groups = crate::aws::log_groups(&logs, prefix).await?;
        for g in groups {
            let Some(price) = prices.price(&Product::LogsStorage).await else {
                return Ok(());
            };
            let name = g.log_group_name().unwrap_or_default().to_owned();
            let arn = g.arn().map(|a| a.trim_end_matches(":*").to_owned());
            let outcome = if known.in_state(arn.as_deref(), Some(&name)) {
                OnTeardown::Deleted
            } else {
                OnTeardown::NotTouched
            };
            rows.push(storage(
                "log_group",
                name,
                g.stored_bytes().unwrap_or(0) as f64,
                price.usd,
                outcome,
                price.from,
            ));
        }
    }
    Ok(())
}

/// S3 storage of the configured buckets, per storage class, from CloudWatch's daily `BucketSizeBytes`.
async fn s3_storage(
    aws: &Aws,
    buckets: &[String],
    known: &Known<'_>,
    prices: &mut Prices,
    rows: &mut Vec<Row>,
) -> Result<()> {
    const CLASSES: [(&str, &str); 5] = [
        ("StandardStorage", "STANDARD"),
        ("StandardIAStorage", "STANDARD_IA"),
        ("IntelligentTieringFAStorage", "INTELLIGENT_TIERING"),
        ("GlacierInstantRetrievalStorage", "GLACIER_IR"),
        ("DeepArchiveStorage", "DEEP_ARCHIVE"),
    ];
    let cw = aws.cloudwatch();
    let now = SystemTime::now();
    for bucket in buckets {
        let mut usd = 0.0;
        let mut bytes_total = 0.0;
        let mut parts = Vec::new();
        let mut from = prices::From::PriceList;
        for (storage_type, class) in CLASSES {
            let stats = cw
                .get_metric_statistics()
                .namespace("AWS/S3")
                .metric_name("BucketSizeBytes")
                .dimensions(Dimension::builder().name("BucketName").value(bucket).build())
                .dimensions(Dimension::builder().name("StorageType").value(storage_type).build())
                .start_time(aws_sdk_cloudwatch::primitives::DateTime::from(
                    now - Duration::from_secs(3 * 86400),
                ))
                .end_time(aws_sdk_cloudwatch::primitives::DateTime::from(now))
                .period(86400)
                .statistics(Statistic::Maximum)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("cloudwatch GetMetricStatistics {bucket}: {}", describe(&e)))?;
            let Some(bytes) = stats
                .datapoints()
                .iter()
                .max_by_key(|d| d.timestamp().map_or(0, |t| t.secs()))
                .and_then(|d| d.maximum())
            else {
                continue;
            };
            let Some(price) = prices.price(&Product::S3(class.to_owned())).await else {
                continue;
            };
            from = price.from;
            usd += bytes / GB * price.usd;
            bytes_total += bytes;
            parts.push(format!("{:.2} GB {class}", bytes / GB));
        }
        if parts.is_empty() {
            continue;
        }
        let arn = format!("arn:aws:s3:::{bucket}");
        let outcome = if known.in_state(Some(&arn), Some(bucket)) {
            OnTeardown::Deleted
        } else {
            OnTeardown::NotTouched
        };
        let mut row = storage("bucket", bucket.clone(), bytes_total, 0.0, outcome, from);
        row.usd_per_hour = usd / HOURS_PER_MONTH;
        row.usd_per_month = round(usd);
        row.detail = parts.join(", ");
        rows.push(row);
    }
    Ok(())
}

/// What costs money but is not priced here: NAT gateways, EBS volumes and
/// public IPv4 addresses tagged with the project tag.
async fn not_priced(aws: &Aws, config: &Config, unpriced: &mut Vec<Unpriced>) -> Result<()> {
    let tag = config.project_tag();
    let filter = || {
        aws_sdk_ec2::types::Filter::builder()
            .name(format!("tag:{}", tag.key))
            .values(&tag.value)
            .build()
    };
    let ec2 = aws.ec2();
    let nat = ec2
        .describe_nat_gateways()
        .filter(filter())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("ec2 DescribeNatGateways: {}", describe(&e)))?;
    for g in nat.nat_gateways() {
        unpriced.push(Unpriced {
            kind: "nat_gateway",
            name: g.nat_gateway_id().unwrap_or_default().to_owned(),
            why: "not priced: NAT gateways bill per hour and per GB processed".into(),
        });
    }
    let volumes = ec2
        .describe_volumes()
        .filters(filter())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("ec2 DescribeVolumes: {}", describe(&e)))?;
    for v in volumes.volumes() {
        unpriced.push(Unpriced {
            kind: "ebs_volume",
            name: v.volume_id().unwrap_or_default().to_owned(),
            why: format!(
                "not priced: {} GiB {}",
                v.size().unwrap_or(0),
                v.volume_type().map(|t| t.as_str()).unwrap_or("volume")
            ),
        });
    }
    let addresses = ec2
        .describe_addresses()
        .filters(filter())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("ec2 DescribeAddresses: {}", describe(&e)))?;
    for a in addresses.addresses() {
        unpriced.push(Unpriced {
            kind: "public_ipv4",
            name: a.public_ip().unwrap_or_default().to_owned(),
            why: "not priced: public IPv4 addresses bill per hour".into(),
        });
    }
    Ok(())
}

/// Cost Explorer's last 30 days for the project tag, by service; one request
/// per run at most, reused for 12 hours (each request costs $0.01).
async fn actual(aws: &Aws, config: &Config) -> Result<Actual, String> {
    let tag = config.project_tag();
    let today = humantime::format_rfc3339(SystemTime::now()).to_string()[..10].to_owned();
    let start =
        humantime::format_rfc3339(SystemTime::now() - Duration::from_secs(30 * 86400)).to_string()[..10].to_owned();
    let cache = prices::cache_dir().map(|d| d.join(format!("actual-{}-{}.json", config.stack, today)));
    if let Some(path) = &cache
        && let Ok(meta) = std::fs::metadata(path)
        && meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age < ACTUAL_CACHE_LIFE)
        && let Some(cached) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<Actual>(&t).ok())
    {
        return Ok(cached);
    }
    use aws_sdk_costexplorer::types::{
        DateInterval, Expression, Granularity, GroupDefinition, GroupDefinitionType, MatchOption, TagValues,
    };
    let request = aws
        .cost_explorer()
        .get_cost_and_usage()
        .time_period(
            DateInterval::builder()
                .start(&start)
                .end(&today)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .granularity(Granularity::Monthly)
        .metrics("UnblendedCost")
        .filter(
            Expression::builder()
                .tags(
                    TagValues::builder()
                        .key(&tag.key)
                        .values(&tag.value)
                        .match_options(MatchOption::Equals)
                        .build(),
                )
                .build(),
        )
        .group_by(
            GroupDefinition::builder()
                .r#type(GroupDefinitionType::Dimension)
                .key("SERVICE")
                .build(),
        );
    let answer = match tokio::time::timeout(Duration::from_secs(15), request.send()).await {
        Err(_) => return Err("Cost Explorer did not answer within 15 s".into()),
        Ok(Err(e)) => {
            return Err(match crate::aws::code(&e) {
                Some("AccessDeniedException") => {
                    format!("Cost Explorer denied ({}); grant ce:GetCostAndUsage", describe(&e))
                }
                Some("DataUnavailableException") => "Cost Explorer is not enabled for this account".into(),
                _ => format!("Cost Explorer: {}", describe(&e)),
            });
        }
        Ok(Ok(a)) => a,
    };
    let mut by_service: BTreeMap<String, f64> = BTreeMap::new();
    for period in answer.results_by_time() {
        for group in period.groups() {
            let service = group.keys().join(" ");
            let usd = group
                .metrics()
                .and_then(|m| m.get("UnblendedCost"))
                .and_then(|m| m.amount())
                .and_then(|a| a.parse::<f64>().ok())
                .unwrap_or(0.0);
            *by_service.entry(service).or_default() += usd;
        }
    }
    let mut by_service: Vec<ServiceCost> = by_service
        .into_iter()
        .map(|(service, usd)| ServiceCost {
            service,
            usd: round(usd),
        })
        .collect();
    by_service.sort_by(|a, b| b.usd.total_cmp(&a.usd));
    let actual = Actual {
        start,
        end: today,
        tag: format!("{}={}", tag.key, tag.value),
        total_usd: round(by_service.iter().map(|s| s.usd).sum()),
        by_service,
        note: None,
    };
    if let Some(path) = &cache {
        let _ = std::fs::create_dir_all(path.parent().unwrap_or(path));
        let _ = std::fs::write(path, serde_json::to_string(&actual).unwrap_or_default());
    }
    Ok(actual)
}

/// The training jobs of the last `days` days, and what managed spot saved each.
async fn spot_training(aws: &Aws, days: i64) -> Result<Vec<Training>> {
    let sm = aws.sagemaker();
    let after = SystemTime::now() - Duration::from_secs(days.max(0) as u64 * 86400);
    let jobs: Vec<_> = sm
        .list_training_jobs()
        .creation_time_after(aws_sdk_sagemaker::primitives::DateTime::from(after))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| anyhow::anyhow!("sagemaker ListTrainingJobs: {}", describe(&e)))?;
    let mut out = Vec::new();
    for job in jobs {
        let name = job.training_job_name().unwrap_or_default();
        let d = sm
            .describe_training_job()
            .training_job_name(name)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("sagemaker DescribeTrainingJob {name}: {}", describe(&e)))?;
        let (Some(training), Some(billable)) = (d.training_time_in_seconds(), d.billable_time_in_seconds()) else {
            continue;
        };
        let saved = if training > 0 {
            (1.0 - f64::from(billable) / f64::from(training)) * 100.0
        } else {
            0.0
        };
        out.push(Training {
            job: name.to_owned(),
            spot: d.enable_managed_spot_training().unwrap_or(false),
            training_seconds: i64::from(training),
            billable_seconds: i64::from(billable),
            saved_percent: (saved * 10.0).round() / 10.0,
        });
    }
    Ok(out)
}

impl Cost {
    /// The §8 table of the design notes from live figures: per component,
    /// now, after the teardown, with the schedule, and the savings.
    fn table(&self) -> Vec<(String, f64, f64, f64)> {
        let mut by: BTreeMap<&str, (f64, f64, f64)> = BTreeMap::new();
        let off_share = self.schedule.as_ref().map_or(0.0, |s| s.off_share);
        for r in &self.resources {
            let e = by.entry(component(r.kind)).or_default();
            e.0 += r.usd_per_month;
            if r.outcome_on_teardown != OnTeardown::Deleted {
                e.1 += r.usd_per_month;
            }
            e.2 += if r.stopped_by_schedule {
                r.usd_per_month * (1.0 - off_share)
            } else {
                r.usd_per_month
            };
        }
        by.into_iter().map(|(k, (a, b, c))| (k.to_owned(), a, b, c)).collect()
    }

    pub fn render_human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Cost of stack {} in account {} ({})\n",
            self.stack, self.account, self.region
        );
        let _ = writeln!(
            out,
            "{:<30} {:>12} {:>16} {:>16}",
            "component", "now $/month", "after teardown", "with schedule"
        );
        for (component, now, after, scheduled) in self.table() {
            let _ = writeln!(
                out,
                "{component:<30} {now:>12.2} {after:>9.2} ({:>3.0}%) {scheduled:>9.2} ({:>3.0}%)",
                saving(now, after),
                saving(now, scheduled)
            );
        }
        let t = &self.totals;
        let _ = writeln!(
            out,
            "\nRunning: ${:.2}/month. A teardown stops ${:.2}/month; the off-hours schedule saves ${:.2}/month.",
            t.running_usd_per_month, t.teardown_stops_usd_per_month, t.schedule_saves_usd_per_month
        );
        let _ = writeln!(
            out,
            "\n{:<14} {:<44} {:<28} {:>9} {:>10}  on teardown",
            "kind", "name", "detail", "$/hour", "$/month"
        );
        for r in &self.resources {
            let _ = writeln!(
                out,
                "{:<14} {:<44} {:<28} {:>9.4} {:>10.2}  {}{}",
                r.kind,
                r.name,
                r.detail,
                r.usd_per_hour,
                r.usd_per_month,
                outcome_name(r.outcome_on_teardown),
                if r.stopped_by_schedule {
                    ", stopped by the schedule"
                } else {
                    ""
                }
            );
        }
        for u in &self.unpriced {
            let _ = writeln!(out, "{:<14} {:<44} {}", u.kind, u.name, u.why);
        }
        match (&self.actual, &self.actual_unavailable) {
            (Some(a), _) => {
                let _ = writeln!(
                    out,
                    "\nCost Explorer, {} to {}, {}: ${:.2}",
                    a.start, a.end, a.tag, a.total_usd
                );
                for s in &a.by_service {
                    let _ = writeln!(out, "  {:<50} ${:.2}", s.service, s.usd);
                }
                if let Some(note) = &a.note {
                    let _ = writeln!(out, "  note: {note}");
                }
            }
            (None, why) => {
                let _ = writeln!(out, "\nCost Explorer: {}", why.as_deref().unwrap_or("no figures"));
            }
        }
        for t in &self.spot_training {
            let _ = writeln!(
                out,
                "training job {}: {} s billed of {} s trained, {:.1}% saved{}",
                t.job,
                t.billable_seconds,
                t.training_seconds,
                t.saved_percent,
                if t.spot { " by managed spot training" } else { "" }
            );
        }
        let _ = writeln!(out, "\nPrices: {}", self.price_source.describe());
        out
    }

    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### sundown cost of `{}`\n", self.stack);
        out.push_str(
            "| component | now $/month | after teardown | with the schedule |\n| --- | ---: | ---: | ---: |\n",
        );
        for (component, now, after, scheduled) in self.table() {
            let _ = writeln!(
                out,
                "| {component} | {now:.2} | {after:.2} ({:.0}% saved) | {scheduled:.2} ({:.0}% saved) |",
                saving(now, after),
                saving(now, scheduled)
            );
        }
        let t = &self.totals;
        let _ = writeln!(
            out,
            "\nRunning **${:.2}/month**; a teardown stops **${:.2}/month**; the off-hours schedule saves **${:.2}/month**.\n",
            t.running_usd_per_month, t.teardown_stops_usd_per_month, t.schedule_saves_usd_per_month
        );
        if let Some(a) = &self.actual {
            let _ = writeln!(
                out,
                "Cost Explorer, {} to {} ({}): ${:.2}.\n",
                a.start, a.end, a.tag, a.total_usd
            );
        }
        let _ = writeln!(out, "Prices: {}.", self.price_source.describe());
        out
    }
}

impl PriceSource {
    fn describe(&self) -> String {
        let used: Vec<String> = self
            .used
            .iter()
            .map(|(k, n)| format!("{n} from {}", k.replace('_', " ")))
            .collect();
        let mut text = if used.is_empty() {
            "none".to_owned()
        } else {
            used.join(", ")
        };
        if self.used.contains_key("built_in") {
            let _ = write!(
                text,
                " (built-in table: AWS's published {} prices on {})",
                self.built_in_region, self.built_in_date
            );
        }
        if let Some(why) = &self.price_list_unavailable {
            let _ = write!(text, "; the AWS Price List API was not used: {why}");
        }
        text
    }
}

fn component(kind: &str) -> &'static str {
    match kind {
        "eks_cluster" => "EKS control plane",
        "node_group" => "EKS node groups",
        "endpoint" => "SageMaker endpoints",
        "load_balancer" => "Load balancers",
        "ecr_storage" => "ECR storage",
        "log_group" => "CloudWatch Logs",
        "bucket" => "S3 storage",
        _ => "other",
    }
}

fn outcome_name(o: OnTeardown) -> &'static str {
    match o {
        OnTeardown::Deleted => "deleted",
        OnTeardown::Kept => "kept",
        OnTeardown::NotTouched => "not touched",
    }
}

fn saving(now: f64, then: f64) -> f64 {
    if now <= 0.0 { 0.0 } else { (now - then) / now * 100.0 }
}

/// Something `schedule stop` stops, as it ran.
#[derive(Debug, Clone)]
pub enum Running {
    NodeGroup {
        types: Vec<String>,
        count: i32,
        spot: bool,
    },
    /// (instance type, count) per production variant.
    Endpoint(Vec<(String, i32)>),
}

/// What it cost per hour while it ran.
pub async fn per_hour(aws: &Aws, prices: &mut Prices, running: &Running) -> Option<f64> {
    match running {
        Running::NodeGroup { types, count, spot } => {
            let each = match spot.then_some(()) {
                Some(()) => match spot_price(aws, types).await {
                    Some(p) => p,
                    None => prices.price(&Product::Ec2(types.first()?.clone())).await?.usd,
                },
                None => prices.price(&Product::Ec2(types.first()?.clone())).await?.usd,
            };
            Some(each * f64::from(*count))
        }
        Running::Endpoint(variants) => {
            let mut usd = 0.0;
            for (instance_type, count) in variants {
                let price = prices.price(&Product::SageMakerHosting(instance_type.clone())).await?;
                if price.unit != Unit::Hour {
                    return None;
                }
                usd += price.usd * f64::from(*count);
            }
            Some(usd)
        }
    }
}

/// What a teardown of `plan`'s stack stops, in dollars a month: the figure
/// `plan`, the terminal prompt and the teardown report show.
pub async fn stops(config: &Config, aws: &Aws, identity: &Identity, stack: &Stack) -> f64 {
    let options = Options {
        offline: false,
        full: false,
    };
    build(config, aws, identity, stack, options)
        .await
        .totals
        .teardown_stops_usd_per_month
}
