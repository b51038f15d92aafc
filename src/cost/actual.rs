//! What is not priced but runs, what Cost Explorer says the stack actually
//! cost (cached for 12 hours), and the spot savings of recent training jobs.

use super::*;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use anyhow::Result;

use crate::aws::{Aws, describe};
use crate::config::Config;

/// The stack's running jobs, as discovery found them: listed, not priced
/// (their instances and hours so far are the job's, not the stack's).
pub(super) fn running_jobs(stack: &Stack, unpriced: &mut Vec<Unpriced>) {
    for j in stack.sagemaker.value().iter().flat_map(|i| &i.jobs) {
        let then = match j.found.kept {
            Some(_) => "it is kept",
            None => "the teardown stops it",
        };
        unpriced.push(Unpriced {
            kind: CostKind::SagemakerJob,
            name: j.found.name.clone(),
            why: format!(
                "not priced: a running {} bills per instance-second until it ends; {then}",
                j.kind.name().replace('_', " ")
            ),
        });
    }
}

/// What costs money but is not priced here: NAT gateways, EBS volumes and
/// public IPv4 addresses tagged with the project tag.
pub(super) async fn not_priced(aws: &Aws, config: &Config, unpriced: &mut Vec<Unpriced>) -> Result<()> {
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
            kind: CostKind::NatGateway,
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
            kind: CostKind::EbsVolume,
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
            kind: CostKind::PublicIpv4,
            name: a.public_ip().unwrap_or_default().to_owned(),
            why: "not priced: public IPv4 addresses bill per hour".into(),
        });
    }
    Ok(())
}

/// Cost Explorer's last 30 days for the project tag, by service; one request
/// per run at most, reused for 12 hours (each request costs $0.01).
pub(super) async fn actual(aws: &Aws, config: &Config) -> Result<Actual, String> {
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
pub(super) async fn spot_training(aws: &Aws, days: i64) -> Result<Vec<Training>> {
    let mut out = Vec::new();
    for d in crate::aws::recent_training_jobs(&aws.sagemaker(), days).await? {
        let name = d.training_job_name().unwrap_or_default();
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
