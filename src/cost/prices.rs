//! Prices: the AWS Price List Query API (`pricing:GetProducts`), cached on
//! disk under the user's cache directory, else a built-in table whose date,
//! region and sources are stated. It reads only, every call has a timeout,
//! and nothing here can change an exit code.
//!
//! Each product is selected with exact `TERM_MATCH` filters strict enough to
//! leave out Windows, Dedicated, BYOL, unused-reservation, Outposts and
//! reserved-term products; a query that matches no product, or several at
//! different prices, is not guessed from: the built-in table is used instead.
//! Filters follow AWS's Price List attributes as infracost and Karpenter use
//! them (see `cost::prices::Product::query`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_sdk_pricing::types::{Filter, FilterType};
use serde::{Deserialize, Serialize};

pub use super::regions::api_region;
use super::regions::usage_prefix;
use crate::aws::{Aws, describe};

/// How long a price from the API is reused.
const CACHE_LIFE: Duration = Duration::from_secs(7 * 24 * 3600);
/// The bound of one Price List request.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The date the built-in prices were read (see `BUILT_IN`).
pub const BUILT_IN_DATE: &str = "2026-11-29";
pub const BUILT_IN_REGION: &str = "us-east-1";

/// Something with a price.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Product {
    /// EC2 on-demand Linux instance hours.
    Ec2(String),
    /// SageMaker real-time inference (hosting) instance hours.
    SageMakerHosting(String),
    /// The EKS control plane, per cluster-hour; extended support is a surcharge on top.
    EksCluster,
    EksExtendedSupport,
    /// Load balancer hours: `application`, `network` or `classic`.
    LoadBalancer(String),
    /// S3 storage per GB-month, by storage class (`STANDARD`, `STANDARD_IA`, …).
    S3(String),
    /// CloudWatch Logs stored data per GB-month.
    LogsStorage,
    /// ECR storage per GB-month.
    EcrStorage,
    /// EBS volume storage per GB-month, by volume type (`gp3`, `gp2`, `io1`, …).
    Ebs(String),
    /// NAT gateway hours (the data it processes is billed apart).
    NatGateway,
    /// An Elastic IP's public IPv4 address, per hour (idle or in use, the same rate).
    PublicIpv4,
}

/// The unit a price is per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Hour,
    GbMonth,
}

/// Where a price came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum From {
    PriceList,
    Cache,
    BuiltIn,
    /// The current spot price (DescribeSpotPriceHistory), for spot node groups.
    Spot,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub usd: f64,
    pub unit: Unit,
    pub from: From,
}

impl Product {
    fn key(&self) -> String {
        match self {
            Product::Ec2(t) => format!("ec2:{t}"),
            Product::SageMakerHosting(t) => format!("sagemaker-hosting:{t}"),
            Product::EksCluster => "eks:cluster".into(),
            Product::EksExtendedSupport => "eks:extended-support".into(),
            Product::LoadBalancer(k) => format!("elb:{k}"),
            Product::S3(c) => format!("s3:{c}"),
            Product::LogsStorage => "logs:storage".into(),
            Product::EcrStorage => "ecr:storage".into(),
            Product::Ebs(t) => format!("ebs:{t}"),
            Product::NatGateway => "ec2:nat-gateway".into(),
            Product::PublicIpv4 => "vpc:public-ipv4".into(),
        }
    }

    fn unit(&self) -> Unit {
        match self {
            Product::S3(_) | Product::LogsStorage | Product::EcrStorage | Product::Ebs(_) => Unit::GbMonth,
            _ => Unit::Hour,
        }
    }

    /// The service code and the exact filters that select one product in `region`
    /// (in the Region itself: `locationType` leaves out Local Zones, Wavelength
    /// and Outposts, which share the region code), or why there is none.
    pub fn query(&self, region: &str) -> Result<(&'static str, Filters), String> {
        let prefix = usage_prefix(region);
        let mut filters = vec![
            ("regionCode", region.to_owned()),
            ("locationType", "AWS Region".to_owned()),
        ];
        let service = match self {
            Product::Ec2(instance_type) => {
                filters.extend([
                    ("productFamily", "Compute Instance".to_owned()),
                    ("instanceType", instance_type.clone()),
                    ("operatingSystem", "Linux".to_owned()),
                    ("tenancy", "Shared".to_owned()),
                    ("preInstalledSw", "NA".to_owned()),
                    ("licenseModel", "No License required".to_owned()),
                    ("capacitystatus", "Used".to_owned()),
                    ("marketoption", "OnDemand".to_owned()),
                ]);
                "AmazonEC2"
            }
            Product::SageMakerHosting(instance_type) => {
                filters.extend([
                    ("productFamily", "ML Instance".to_owned()),
                    ("component", "Hosting".to_owned()),
                    ("instanceName", instance_type.clone()),
                ]);
                "AmazonSageMaker"
            }
            Product::EksCluster | Product::EksExtendedSupport => {
                let usage = if *self == Product::EksCluster {
                    "AmazonEKS-Hours:perCluster"
                } else {
                    "AmazonEKS-Hours:extendedSupport"
                };
                filters.extend([
                    ("productFamily", "Compute".to_owned()),
                    ("usagetype", format!("{}{usage}", prefix?.new_services)),
                ]);
                "AmazonEKS"
            }
            Product::LoadBalancer(kind) => {
                let family = match kind.as_str() {
                    "application" => "Load Balancer-Application",
                    "network" => "Load Balancer-Network",
                    "classic" => "Load Balancer",
                    other => return Err(format!("no Price List product for a {other} load balancer")),
                };
                filters.extend([
                    ("productFamily", family.to_owned()),
                    ("usagetype", format!("{}LoadBalancerUsage", prefix?.old_services)),
                ]);
                "AWSELB"
            }
            Product::S3(class) => {
                let (service, usage) = match class.as_str() {
                    "STANDARD" => ("AmazonS3", "TimedStorage-ByteHrs"),
                    "STANDARD_IA" => ("AmazonS3", "TimedStorage-SIA-ByteHrs"),
                    "INTELLIGENT_TIERING" => ("AmazonS3", "TimedStorage-INT-FA-ByteHrs"),
                    "GLACIER_IR" => ("AmazonS3", "TimedStorage-GIR-ByteHrs"),
                    "DEEP_ARCHIVE" => ("AmazonS3GlacierDeepArchive", "TimedStorage-GDA-ByteHrs"),
                    other => return Err(format!("no Price List product for S3 storage class {other}")),
                };
                // The Deep Archive SKU (its own service code) carries no `productFamily`.
                if service == "AmazonS3" {
                    filters.push(("productFamily", "Storage".to_owned()));
                }
                filters.push(("usagetype", format!("{}{usage}", prefix?.old_services)));
                service
            }
            Product::LogsStorage => {
                filters.extend([
                    ("productFamily", "Storage Snapshot".to_owned()),
                    ("usagetype", format!("{}TimedStorage-ByteHrs", prefix?.new_services)),
                ]);
                "AmazonCloudWatch"
            }
            Product::EcrStorage => {
                filters.extend([
                    ("productFamily", "EC2 Container Registry".to_owned()),
                    ("usagetype", format!("{}TimedStorage-ByteHrs", prefix?.old_services)),
                ]);
                "AmazonECR"
            }
            Product::Ebs(volume_type) => {
                filters.extend([
                    ("productFamily", "Storage".to_owned()),
                    ("volumeApiName", volume_type.clone()),
                ]);
                "AmazonEC2"
            }
            Product::NatGateway => {
                filters.extend([
                    ("productFamily", "NAT Gateway".to_owned()),
                    ("usagetype", format!("{}NatGateway-Hours", prefix?.old_services)),
                ]);
                "AmazonEC2"
            }
            Product::PublicIpv4 => {
                filters.extend([
                    ("productFamily", "VPC Public IPv4 Address".to_owned()),
                    ("usagetype", format!("{}PublicIPv4:IdleAddress", prefix?.old_services)),
                ]);
                "AmazonVPC"
            }
        };
        Ok((service, filters))
    }

    /// AWS's published us-east-1 price, read on `BUILT_IN_DATE`, with its source.
    pub fn built_in(&self) -> Option<(f64, &'static str)> {
        const KARPENTER: &str = "AWS Price List, as generated into aws/karpenter-provider-aws pkg/providers/pricing/zz_generated.pricing_aws.go (2026-07-20, us-east-1)";
        const EKS: &str = "https://aws.amazon.com/eks/pricing/ (standard support $0.10 per cluster-hour)";
        const EKS_EXTENDED: &str = "https://aws.amazon.com/blogs/containers/amazon-eks-extended-support-for-kubernetes-versions-pricing/ ($0.60 in total: $0.10 plus a $0.50 surcharge)";
        const SAGEMAKER: &str = "https://aws.amazon.com/sagemaker/pricing/ (real-time inference, us-east-1; Price List usage type USE1-Host:<instance>)";
        const ELB: &str = "https://aws.amazon.com/elasticloadbalancing/pricing/ (per load balancer-hour, us-east-1)";
        const S3: &str = "https://aws.amazon.com/s3/pricing/ (first 50 TB tier, us-east-1)";
        const LOGS: &str = "https://aws.amazon.com/cloudwatch/pricing/ (Logs: store, per GB-month)";
        const ECR: &str = "https://aws.amazon.com/ecr/pricing/ (storage, per GB-month)";
        const EBS: &str = "https://aws.amazon.com/ebs/pricing/ (volumes, per GB-month, us-east-1)";
        const NAT: &str = "https://aws.amazon.com/vpc/pricing/ (NAT gateway, per hour, us-east-1)";
        const IPV4: &str = "https://aws.amazon.com/vpc/pricing/ (public IPv4 address, per hour)";
        Some(match self {
            Product::Ec2(t) => match t.as_str() {
                "t3.medium" => (0.0416, KARPENTER),
                "t3a.medium" => (0.0376, KARPENTER),
                "t2.medium" => (0.0464, KARPENTER),
                "m5.large" => (0.096, KARPENTER),
                "m5a.large" => (0.086, KARPENTER),
                _ => return None,
            },
            Product::SageMakerHosting(t) => match t.as_str() {
                "ml.t2.medium" => (0.056, SAGEMAKER),
                "ml.m5.large" => (0.115, SAGEMAKER),
                "ml.m5.xlarge" => (0.23, SAGEMAKER),
                _ => return None,
            },
            Product::EksCluster => (0.10, EKS),
            Product::EksExtendedSupport => (0.50, EKS_EXTENDED),
            Product::LoadBalancer(k) => match k.as_str() {
                "application" | "network" => (0.0225, ELB),
                "classic" => (0.025, ELB),
                _ => return None,
            },
            Product::S3(c) => match c.as_str() {
                "STANDARD" | "INTELLIGENT_TIERING" => (0.023, S3),
                "STANDARD_IA" => (0.0125, S3),
                "GLACIER_IR" => (0.004, S3),
                "DEEP_ARCHIVE" => (0.00099, S3),
                _ => return None,
            },
            Product::LogsStorage => (0.03, LOGS),
            Product::EcrStorage => (0.10, ECR),
            Product::Ebs(t) => match t.as_str() {
                "gp3" => (0.08, EBS),
                "gp2" => (0.10, EBS),
                "io1" | "io2" => (0.125, EBS),
                "st1" => (0.045, EBS),
                "sc1" => (0.015, EBS),
                "standard" => (0.05, EBS),
                _ => return None,
            },
            Product::NatGateway => (0.045, NAT),
            Product::PublicIpv4 => (0.005, IPV4),
        })
    }
}

/// A Price List query's TERM_MATCH filters: (field, value).
pub type Filters = Vec<(&'static str, String)>;

/// The on-disk cache: `$XDG_CACHE_HOME/sundown/prices.json`, else `~/.cache/sundown/prices.json`.
pub fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .map(|d| d.join("sundown"))
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    /// `region/product` → price.
    prices: BTreeMap<String, Cached>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cached {
    usd: f64,
    /// Seconds since the Unix epoch.
    fetched: u64,
}

/// Prices for one run: asks the API once per product, keeps what it learned.
pub struct Prices {
    client: Option<aws_sdk_pricing::Client>,
    region: String,
    cache: CacheFile,
    cache_changed: bool,
    /// Keys the API answered during this run: reported as `price_list`, not `cache`.
    fetched: std::collections::BTreeSet<String>,
    /// What was used, for the `price_source` section.
    pub used: BTreeMap<&'static str, usize>,
    /// Why the API could not be used, when it could not.
    pub api_problem: Option<String>,
    /// Products that could not be priced in this run, by key, with why: asked once, not once per resource.
    failed: BTreeMap<String, String>,
    /// Products the API answered without exactly one price, by key, with what it said: not asked again.
    not_in_api: BTreeMap<String, String>,
}

/// Why the Price List API did not answer, and when: not asked again for 15 minutes (a run; a warm Lambda asks later).
static UNAVAILABLE: std::sync::Mutex<Option<(std::time::Instant, String)>> = std::sync::Mutex::new(None);

fn known_unavailable() -> Option<String> {
    let known = UNAVAILABLE.lock().ok()?;
    known
        .as_ref()
        .filter(|(at, _)| at.elapsed().as_secs() < 15 * 60)
        .map(|(_, why)| why.clone())
}

impl Prices {
    /// `offline`: never ask the API (the cache and the built-in table only).
    pub fn new(aws: &Aws, region: &str, offline: bool) -> Prices {
        let client = (!offline).then(|| {
            let mut config = aws_sdk_pricing::config::Builder::from(&aws.sdk)
                .region(aws_sdk_pricing::config::Region::new(api_region(region)))
                // One try: a Price List that does not answer is not worth a slower teardown.
                .retry_config(aws_config::retry::RetryConfig::disabled());
            if let Some(url) = std::env::var("AWS_ENDPOINT_URL_PRICING").ok().filter(|u| !u.is_empty()) {
                config = config.endpoint_url(url);
            }
            aws_sdk_pricing::Client::from_conf(config.build())
        });
        let cache = cache_dir()
            .and_then(|d| std::fs::read_to_string(d.join("prices.json")).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Prices {
            client,
            region: region.to_owned(),
            cache,
            cache_changed: false,
            fetched: Default::default(),
            used: BTreeMap::new(),
            // A Price List that could not be used earlier in this run is not asked again.
            api_problem: offline.then(|| "--offline".to_owned()).or_else(known_unavailable),
            failed: BTreeMap::new(),
            not_in_api: BTreeMap::new(),
        }
    }

    /// The price of `product`: from the cache, else the API, else the built-in table.
    pub async fn price(&mut self, product: &Product) -> Option<Price> {
        let key = format!("{}/{}", self.region, product.key());
        if self.failed.contains_key(&key) {
            return None;
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if let Some(c) = self.cache.prices.get(&key)
            && now.saturating_sub(c.fetched) < CACHE_LIFE.as_secs()
        {
            let from = if self.fetched.contains(&key) {
                From::PriceList
            } else {
                From::Cache
            };
            *self
                .used
                .entry(if from == From::Cache { "cache" } else { "price_list" })
                .or_default() += 1;
            return Some(Price {
                usd: c.usd,
                unit: product.unit(),
                from,
            });
        }
        let mut api_said = self.not_in_api.get(&key).cloned();
        if self.api_problem.is_none()
            && api_said.is_none()
            && let Some(client) = &self.client
        {
            match query(client, product, &self.region).await {
                Ok(usd) => {
                    self.fetched.insert(key.clone());
                    self.cache.prices.insert(key, Cached { usd, fetched: now });
                    self.cache_changed = true;
                    *self.used.entry("price_list").or_default() += 1;
                    return Some(Price {
                        usd,
                        unit: product.unit(),
                        from: From::PriceList,
                    });
                }
                Err(Lookup::NotOne(why)) => {
                    tracing::warn!("cost: {}: {why}; using the built-in price", product.key());
                    self.not_in_api.insert(key.clone(), why.clone());
                    api_said = Some(why);
                }
                Err(Lookup::Unavailable(why)) => {
                    // Said once per run, however many lookups (cost, volumes, the sweep) meet it.
                    if known_unavailable().is_none() {
                        tracing::warn!(
                            "cost: the AWS Price List API cannot be used ({why}); using the built-in prices"
                        );
                    }
                    let mut known = UNAVAILABLE.lock().unwrap_or_else(|e| e.into_inner());
                    *known = Some((std::time::Instant::now(), why.clone()));
                    self.api_problem = Some(why);
                }
            }
        }
        let api = match (&api_said, &self.api_problem) {
            (Some(why), _) => format!("the Price List: {why}"),
            (None, Some(why)) => format!("the Price List API was not used ({why})"),
            (None, None) => "no Price List answer".to_owned(),
        };
        if self.region != BUILT_IN_REGION {
            self.failed.insert(
                key,
                format!(
                    "{api}; the built-in prices are {BUILT_IN_REGION}'s, not {}'s",
                    self.region
                ),
            );
            return None;
        }
        let Some((usd, _)) = product.built_in() else {
            self.failed.insert(key, format!("{api}; no built-in price for it"));
            return None;
        };
        *self.used.entry("built_in").or_default() += 1;
        Some(Price {
            usd,
            unit: product.unit(),
            from: From::BuiltIn,
        })
    }

    /// Why `product` has no price in this run (after `price` answered `None`).
    pub fn why_not(&self, product: &Product) -> String {
        let key = format!("{}/{}", self.region, product.key());
        self.failed
            .get(&key)
            .cloned()
            .unwrap_or_else(|| "no price found".to_owned())
    }

    /// Writes what the API answered into the cache; a cache that cannot be written is only a warning.
    pub fn save(&self) {
        if !self.cache_changed {
            return;
        }
        let Some(dir) = cache_dir() else { return };
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            std::fs::write(
                dir.join("prices.json"),
                serde_json::to_string_pretty(&self.cache).unwrap_or_default(),
            )
        });
        if let Err(e) = written {
            tracing::warn!("cost: cannot write the price cache in {}: {e}", dir.display());
        }
    }
}

enum Lookup {
    /// The API answered, but not with exactly one price.
    NotOne(String),
    /// The API cannot be reached, refused, or timed out.
    Unavailable(String),
}

async fn query(client: &aws_sdk_pricing::Client, product: &Product, region: &str) -> Result<f64, Lookup> {
    let (service, filters) = product.query(region).map_err(Lookup::NotOne)?;
    let mut request = client
        .get_products()
        .service_code(service)
        .format_version("aws_v1")
        .max_results(100);
    for (field, value) in &filters {
        let filter = Filter::builder()
            .r#type(FilterType::TermMatch)
            .field(*field)
            .value(value)
            .build()
            .map_err(|e| Lookup::NotOne(e.to_string()))?;
        request = request.filters(filter);
    }
    let answer = match tokio::time::timeout(TIMEOUT, request.send()).await {
        Err(_) => return Err(Lookup::Unavailable(format!("no answer within {}s", TIMEOUT.as_secs()))),
        Ok(Err(e)) => return Err(Lookup::Unavailable(describe(&e))),
        Ok(Ok(answer)) => answer,
    };
    let unit = match product.unit() {
        Unit::Hour => ["Hrs", "Hours"].as_slice(),
        Unit::GbMonth => ["GB-Mo"].as_slice(),
    };
    let prices: Vec<f64> = answer
        .price_list()
        .iter()
        .filter_map(|item| on_demand_price(item, unit))
        .collect();
    match prices.as_slice() {
        [] => Err(Lookup::NotOne(format!(
            "the Price List has no {service} product for these filters"
        ))),
        [first, rest @ ..] if rest.iter().all(|p| (p - first).abs() < 1e-12) => Ok(*first),
        many => Err(Lookup::NotOne(format!(
            "{} {service} products match at different prices; not guessing",
            many.len()
        ))),
    }
}

/// The on-demand price of one Price List item: its single OnDemand term's
/// dimension with the expected unit and, when tiered, `beginRange` 0.
pub fn on_demand_price(item: &str, units: &[&str]) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_str(item).ok()?;
    let terms = v["terms"]["OnDemand"].as_object()?;
    let mut found = None;
    for term in terms.values() {
        for dimension in term["priceDimensions"].as_object()?.values() {
            let unit = dimension["unit"].as_str().unwrap_or_default();
            let begins_at_zero = dimension["beginRange"].as_str().is_none_or(|b| b == "0");
            // The Price List writes `Hrs`, `Hours` and `GB-Mo`, not always in one case.
            if units.iter().any(|u| u.eq_ignore_ascii_case(unit)) && begins_at_zero {
                let usd: f64 = dimension["pricePerUnit"]["USD"].as_str()?.parse().ok()?;
                if found.is_some_and(|f: f64| (f - usd).abs() > 1e-12) {
                    return None;
                }
                found = Some(usd);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_on_demand_price_of_the_first_tier_and_ignores_reserved_terms() {
        let item = r#"{"product":{"attributes":{"instanceType":"t3.medium"}},"terms":{
            "OnDemand":{"S.JRTCKXETXF":{"priceDimensions":{"S.JRTCKXETXF.6YS6EN2CT7":{"unit":"Hrs","beginRange":"0","endRange":"Inf","pricePerUnit":{"USD":"0.0416000000"}}}}},
            "Reserved":{"S.X":{"priceDimensions":{"S.X.Y":{"unit":"Hrs","pricePerUnit":{"USD":"0.0260000000"}}}}}}}"#;
        assert_eq!(on_demand_price(item, &["Hrs"]), Some(0.0416));
        let tiered = r#"{"terms":{"OnDemand":{"T":{"priceDimensions":{
            "a":{"unit":"GB-Mo","beginRange":"51200","pricePerUnit":{"USD":"0.022"}},
            "b":{"unit":"GB-Mo","beginRange":"0","pricePerUnit":{"USD":"0.023"}}}}}}}"#;
        assert_eq!(on_demand_price(tiered, &["GB-Mo"]), Some(0.023));
        assert_eq!(on_demand_price(r#"{"terms":{"Reserved":{}}}"#, &["Hrs"]), None);
    }

    #[test]
    fn every_query_names_its_region_and_the_built_in_table_knows_the_notes_instance_types() {
        for product in [
            Product::Ec2("t3.medium".into()),
            Product::SageMakerHosting("ml.t2.medium".into()),
            Product::EksCluster,
            Product::LoadBalancer("application".into()),
            Product::S3("DEEP_ARCHIVE".into()),
            Product::LogsStorage,
            Product::EcrStorage,
            Product::Ebs("gp3".into()),
            Product::NatGateway,
            Product::PublicIpv4,
        ] {
            let (_, filters) = product.query("us-east-1").unwrap();
            assert!(filters.contains(&("regionCode", "us-east-1".into())), "{product:?}");
            // Local Zones, Wavelength and Outposts share the region code at other prices.
            assert!(filters.contains(&("locationType", "AWS Region".into())), "{product:?}");
            assert!(product.built_in().is_some(), "{product:?}");
        }
        let (service, filters) = Product::S3("DEEP_ARCHIVE".into()).query("us-east-1").unwrap();
        assert_eq!(service, "AmazonS3GlacierDeepArchive");
        assert!(filters.contains(&("usagetype", "TimedStorage-GDA-ByteHrs".into())));
        let (_, filters) = Product::EksCluster.query("us-east-1").unwrap();
        assert!(filters.contains(&("usagetype", "USE1-AmazonEKS-Hours:perCluster".into())));
        assert_eq!(api_region("eu-west-1"), "eu-central-1");
        assert_eq!(api_region("ap-northeast-1"), "ap-south-1");
        assert_eq!(api_region("us-west-2"), "us-east-1");
    }

    #[test]
    fn the_deep_archive_sku_is_asked_without_a_product_family_and_the_others_with_theirs() {
        let (_, deep) = Product::S3("DEEP_ARCHIVE".into()).query("us-east-1").unwrap();
        assert!(!deep.iter().any(|(field, _)| *field == "productFamily"), "{deep:?}");
        let (_, standard) = Product::S3("STANDARD".into()).query("us-east-1").unwrap();
        assert!(standard.contains(&("productFamily", "Storage".into())), "{standard:?}");
    }

    #[test]
    fn a_region_without_a_known_usage_prefix_is_not_guessed_and_says_why() {
        for product in [
            Product::EksCluster,
            Product::LoadBalancer("network".into()),
            Product::S3("STANDARD".into()),
            Product::LogsStorage,
            Product::EcrStorage,
        ] {
            let why = product.query("eu-north-1").unwrap_err();
            assert_eq!(why, "no usage-type prefix known for region eu-north-1", "{product:?}");
        }
        // Products selected by attributes, not usage type, are still asked for.
        assert!(Product::Ec2("t3.medium".into()).query("eu-north-1").is_ok());
        let (_, filters) = Product::EcrStorage.query("eu-west-1").unwrap();
        assert!(filters.contains(&("usagetype", "EU-TimedStorage-ByteHrs".into())));
    }

    #[test]
    fn the_unit_is_matched_whatever_its_case() {
        let item = r#"{"terms":{"OnDemand":{"T":{"priceDimensions":{
            "a":{"unit":"hrs","beginRange":"0","pricePerUnit":{"USD":"0.5"}}}}}}}"#;
        assert_eq!(on_demand_price(item, &["Hrs", "Hours"]), Some(0.5));
        let item = r#"{"terms":{"OnDemand":{"T":{"priceDimensions":{
            "a":{"unit":"GB-mo","beginRange":"0","pricePerUnit":{"USD":"0.03"}}}}}}}"#;
        assert_eq!(on_demand_price(item, &["GB-Mo"]), Some(0.03));
        assert_eq!(on_demand_price(item, &["Hrs"]), None, "another unit is not a price");
    }
}
