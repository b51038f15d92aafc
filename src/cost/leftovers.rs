//! What a resource the closing sweep found still bills, a month: the same
//! prices and rules as the rows of `sundown cost`, for one resource at a time
//! as its own service described it.

use super::prices::{Prices, Product, Unit};
use super::services::{Running, per_hour};
use super::window::HOURS_PER_MONTH;
use super::{GB, round};
use crate::aws::Aws;

/// What a found resource is, as far as its price goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Billable {
    Volume {
        volume_type: String,
        gib: i32,
    },
    LogGroup {
        bytes: i64,
    },
    Bucket {
        name: String,
    },
    Endpoint {
        variants: Vec<(String, i32)>,
    },
    LoadBalancer {
        kind: String,
    },
    Instance {
        instance_type: String,
    },
    NatGateway,
    PublicIpv4,
    EksCluster,
    NodeGroup {
        types: Vec<String>,
        count: i32,
        spot: bool,
    },
    Repository {
        bytes: f64,
    },
    /// Billed nothing of its own (a security group, a target group, a model…).
    Free,
    /// Billed, but not in a way sundown prices; why.
    Unpriced(String),
}

/// A price a month, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum Priced {
    Usd(f64),
    Unpriced(String),
}

/// What `bill` costs a month.
pub async fn price(aws: &Aws, prices: &mut Prices, bill: &Billable) -> Priced {
    let storage = |prices: &Prices, product: &Product, price: Option<super::prices::Price>, gb: f64| match price {
        Some(p) if p.unit == Unit::GbMonth => Priced::Usd(round(gb * p.usd)),
        Some(_) => Priced::Unpriced(format!("the price of {product:?} is not per GB-month")),
        None => Priced::Unpriced(prices.why_not(product)),
    };
    let hourly = |prices: &Prices, product: &Product, price: Option<super::prices::Price>, count: f64| match price {
        Some(p) if p.unit == Unit::Hour => Priced::Usd(round(p.usd * count * HOURS_PER_MONTH)),
        Some(_) => Priced::Unpriced(format!("the price of {product:?} is not per hour")),
        None => Priced::Unpriced(prices.why_not(product)),
    };
    match bill {
        Billable::Free => Priced::Usd(0.0),
        Billable::Unpriced(why) => Priced::Unpriced(why.clone()),
        Billable::Volume { volume_type, gib } => {
            let product = Product::Ebs(volume_type.clone());
            let p = prices.price(&product).await;
            storage(prices, &product, p, f64::from(*gib))
        }
        Billable::LogGroup { bytes } => {
            let product = Product::LogsStorage;
            let p = prices.price(&product).await;
            storage(prices, &product, p, *bytes as f64 / GB)
        }
        Billable::Repository { bytes } => {
            let product = Product::EcrStorage;
            let p = prices.price(&product).await;
            storage(prices, &product, p, bytes / GB)
        }
        Billable::LoadBalancer { kind } => {
            let product = Product::LoadBalancer(kind.clone());
            let p = prices.price(&product).await;
            hourly(prices, &product, p, 1.0)
        }
        Billable::Instance { instance_type } => {
            let product = Product::Ec2(instance_type.clone());
            let p = prices.price(&product).await;
            hourly(prices, &product, p, 1.0)
        }
        Billable::NatGateway => {
            let p = prices.price(&Product::NatGateway).await;
            hourly(prices, &Product::NatGateway, p, 1.0)
        }
        Billable::PublicIpv4 => {
            let p = prices.price(&Product::PublicIpv4).await;
            hourly(prices, &Product::PublicIpv4, p, 1.0)
        }
        Billable::EksCluster => {
            let p = prices.price(&Product::EksCluster).await;
            hourly(prices, &Product::EksCluster, p, 1.0)
        }
        Billable::Endpoint { variants } => {
            let running = Running::Endpoint(variants.clone());
            match per_hour(aws, prices, &running).await {
                Some(usd) => Priced::Usd(round(usd * HOURS_PER_MONTH)),
                None => Priced::Unpriced("no hosting price for its instance types".to_owned()),
            }
        }
        Billable::NodeGroup { types, count, spot } => {
            let running = Running::NodeGroup {
                types: types.clone(),
                count: *count,
                spot: *spot,
            };
            match per_hour(aws, prices, &running).await {
                Some(usd) => Priced::Usd(round(usd * HOURS_PER_MONTH)),
                None => Priced::Unpriced(format!("no price for {}", types.join(", "))),
            }
        }
        Billable::Bucket { name } => bucket(aws, prices, name).await,
    }
}

/// A bucket's storage, as `sundown cost` prices it (CloudWatch's daily size metrics per class).
async fn bucket(aws: &Aws, prices: &mut Prices, name: &str) -> Priced {
    let (mut rows, mut unpriced) = (Vec::new(), Vec::new());
    let listed = super::services::s3_storage(
        aws,
        &[name.to_owned()],
        |_| super::OnTeardown::NotTouched,
        prices,
        &mut rows,
        &mut unpriced,
    )
    .await;
    if let Err(e) = listed {
        return Priced::Unpriced(format!("{e:#}"));
    }
    if let Some(u) = unpriced.first() {
        return Priced::Unpriced(u.why.clone());
    }
    // No size metric at all: an empty bucket, or one younger than CloudWatch's daily metric.
    Priced::Usd(rows.iter().map(|r| r.usd_per_month).sum())
}
