//! The rows of `sundown cost` per service: the EKS control plane and node
//! groups (spot prices averaged), SageMaker endpoints per production variant,
//! ECR, CloudWatch Logs and S3 storage; and what `schedule stop` stops, priced
//! per hour.

use super::*;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};

use super::prices::{Prices, Product, Unit};
use super::window::HOURS_PER_MONTH;
use crate::aws::{Aws, describe};
use crate::discover::sagemaker::Variant;
use crate::model::inventory::{Action, Kind};
use crate::scope::{Owner, Verdict};

/// The EKS control plane and its node groups.
pub(super) async fn eks(
    aws: &Aws,
    cluster: &str,
    owner: &Owner<'_>,
    known: &Known<'_>,
    prices: &mut Prices,
    rows: &mut Vec<Row>,
    unpriced: &mut Vec<Unpriced>,
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
    let base = prices.price(&Product::EksCluster).await;
    if base.is_none() {
        unpriced.push(Unpriced {
            kind: CostKind::EksCluster,
            name: cluster.to_owned(),
            why: prices.why_not(&Product::EksCluster),
        });
    }
    if let Some(base) = base {
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
            CostKind::EksCluster,
            cluster.to_owned(),
            format!(
                "control plane, Kubernetes {version}, {}",
                match (extended, status.is_some()) {
                    (true, _) => "extended support",
                    (false, true) => "standard support",
                    (false, false) => "support status unknown",
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
        // Deleted since ListNodegroups: it costs nothing.
        let Some(group) = crate::aws::describe_node_group(&eks, cluster, &name).await? else {
            continue;
        };
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
                    prices::From::Spot,
                    Some(format!("spot price averaged over {} and their AZs", types.join(", "))),
                ),
                None => {
                    let p = prices.price(&Product::Ec2(first.clone())).await;
                    (
                        p.map(|p| p.usd),
                        p.map_or(prices::From::BuiltIn, |p| p.from),
                        Some("no spot price found: on-demand rate".to_owned()),
                    )
                }
            }
        } else {
            let p = prices.price(&Product::Ec2(first.clone())).await;
            (p.map(|p| p.usd), p.map_or(prices::From::BuiltIn, |p| p.from), None)
        };
        let Some(each) = each else {
            unpriced.push(Unpriced {
                kind: CostKind::NodeGroup,
                name: format!("{cluster}/{name}"),
                why: prices.why_not(&Product::Ec2(first.clone())),
            });
            continue;
        };
        let row = hourly_row(
            CostKind::NodeGroup,
            format!("{cluster}/{name}"),
            format!("{desired} × {first}{}", if spot { " SPOT" } else { "" }),
            each * f64::from(desired),
            outcome,
            verdict == Verdict::Ours,
            from,
            note,
        );
        rows.push(row);
    }
    Ok(())
}

/// The current spot price, averaged over the instance types and their AZs
/// (the latest price per type and AZ from DescribeSpotPriceHistory).
pub(super) async fn spot_price(aws: &Aws, types: &[String]) -> Option<f64> {
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
pub(super) async fn endpoints(
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
                    kind: CostKind::Endpoint,
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
                    kind: CostKind::Endpoint,
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
                    kind: CostKind::Endpoint,
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
            CostKind::Endpoint,
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
pub(super) async fn variants(
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
pub(super) async fn ecr_storage(
    aws: &Aws,
    repositories: &[String],
    known: &Known<'_>,
    prices: &mut Prices,
    rows: &mut Vec<Row>,
    unpriced: &mut Vec<Unpriced>,
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
            unpriced.push(Unpriced {
                kind: CostKind::EcrStorage,
                name: repo.clone(),
                why: prices.why_not(&Product::EcrStorage),
            });
            continue;
        };
        let outcome = match known.action(Kind::Repository, repo) {
            Some(Action::Delete) => OnTeardown::Deleted,
            Some(Action::Keep) => OnTeardown::Kept,
            _ => OnTeardown::NotTouched,
        };
        let mut row = storage(
            CostKind::EcrStorage,
            repo.clone(),
            bytes as f64,
            price.usd,
            outcome,
            price.from,
        );
        row.detail = format!("{count} images, {}", row.detail);
        row.note = Some(
            "approximate: the sum of its images' sizes, while ECR bills a layer shared by several images once".into(),
        );
        rows.push(row);
    }
    Ok(())
}

/// CloudWatch Logs stored bytes of the log groups under the configured prefixes.
pub(super) async fn logs_storage(
    aws: &Aws,
    prefixes: &[String],
    known: &Known<'_>,
    prices: &mut Prices,
    rows: &mut Vec<Row>,
    unpriced: &mut Vec<Unpriced>,
) -> Result<()> {
    let logs = aws.logs();
    for prefix in prefixes {
        let groups = match crate::aws::log_groups(&logs, prefix).await {
            Ok(groups) => groups,
            Err(e) => {
                unpriced.push(Unpriced {
                    kind: CostKind::LogGroup,
                    name: format!("{prefix}*"),
                    why: format!("the log groups cannot be listed: {e:#}"),
                });
                continue;
            }
        };
        for g in groups {
            let name = g.log_group_name().unwrap_or_default().to_owned();
            let Some(price) = prices.price(&Product::LogsStorage).await else {
                unpriced.push(Unpriced {
                    kind: CostKind::LogGroup,
                    name,
                    why: prices.why_not(&Product::LogsStorage),
                });
                continue;
            };
            let arn = g.arn().map(|a| a.trim_end_matches(":*").to_owned());
            let outcome = if known.in_state(arn.as_deref(), Some(&name)) {
                OnTeardown::Deleted
            } else {
                OnTeardown::NotTouched
            };
            rows.push(storage(
                CostKind::LogGroup,
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
pub(super) async fn s3_storage(
    aws: &Aws,
    buckets: &[String],
    outcome_of: impl Fn(&str) -> OnTeardown,
    prices: &mut Prices,
    rows: &mut Vec<Row>,
    unpriced: &mut Vec<Unpriced>,
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
    'bucket: for bucket in buckets {
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
                .await;
            let stats = match stats {
                Ok(stats) => stats,
                Err(e) => {
                    unpriced.push(Unpriced {
                        kind: CostKind::Bucket,
                        name: bucket.clone(),
                        why: format!(
                            "its size cannot be read (cloudwatch GetMetricStatistics: {})",
                            describe(&e)
                        ),
                    });
                    continue 'bucket;
                }
            };
            let Some(bytes) = stats
                .datapoints()
                .iter()
                .max_by_key(|d| d.timestamp().map_or(0, |t| t.secs()))
                .and_then(|d| d.maximum())
            else {
                continue;
            };
            let product = Product::S3(class.to_owned());
            let Some(price) = prices.price(&product).await else {
                unpriced.push(Unpriced {
                    kind: CostKind::Bucket,
                    name: format!("{bucket} ({:.2} GB {class})", bytes / GB),
                    why: prices.why_not(&product),
                });
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
        let mut row = storage(
            CostKind::Bucket,
            bucket.clone(),
            bytes_total,
            0.0,
            outcome_of(bucket),
            from,
        );
        row.usd_per_hour = usd / HOURS_PER_MONTH;
        row.usd_per_month = round(usd);
        row.detail = parts.join(", ");
        rows.push(row);
    }
    Ok(())
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

/// The load balancers the cluster's controllers made, each at its hourly price;
/// they go with their Service's namespace when the teardown deletes namespaces.
pub(super) async fn load_balancers(
    config: &Config,
    aws: &Aws,
    cluster: &str,
    prices: &mut Prices,
    rows: &mut Vec<Row>,
    unpriced: &mut Vec<Unpriced>,
) -> Result<()> {
    let lbs = crate::discover::kubernetes::cluster_load_balancers(aws, cluster).await?;
    let namespaces = config.kubernetes.as_ref().is_some_and(|k| !k.namespaces.is_empty());
    for lb in lbs {
        let Some(price) = prices.price(&Product::LoadBalancer(lb.kind.clone())).await else {
            unpriced.push(Unpriced {
                kind: CostKind::LoadBalancer,
                name: lb.name,
                why: format!("no price for a {} load balancer", lb.kind),
            });
            continue;
        };
        rows.push(hourly_row(
            CostKind::LoadBalancer,
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
    Ok(())
}
