//! The log groups SageMaker makes for the stack's endpoints
//! (`/aws/sagemaker/Endpoints/<name>`), each judged by its endpoint. Reads only.

use anyhow::Result;

use super::{Found, Inventory, time};
use crate::config;
use crate::model::inventory::Kind;
use crate::model::reviewed::Reviewed;
use crate::scope::{Owner, name_matches};

/// Where SageMaker writes an endpoint's logs; the group outlives the endpoint.
pub const ENDPOINT_LOGS: &str = "/aws/sagemaker/Endpoints/";

/// The log groups of the stack's endpoints (one DescribeLogGroups under the
/// prefix, all pages), each judged by its endpoint: it goes with an endpoint the
/// teardown deletes, and stays with one that is kept or outside the stack. A
/// group whose endpoint is gone is the stack's by its name only when
/// `scope.tags` is empty: SageMaker's log groups carry no tags to show more.
pub(super) async fn log_groups(
    logs: &aws_sdk_cloudwatchlogs::Client,
    cfg: &config::SageMaker,
    owner: &Owner<'_>,
    inventory: &Inventory,
    reviewed: Option<&Reviewed>,
) -> Result<Vec<Found>> {
    let prefix = &cfg.endpoint_prefix;
    let groups = crate::aws::log_groups(logs, &format!("{ENDPOINT_LOGS}{prefix}")).await?;
    let mut found = Vec::new();
    for g in groups {
        let name = g.log_group_name().unwrap_or_default();
        let Some(endpoint) = name.strip_prefix(ENDPOINT_LOGS).filter(|e| name_matches(prefix, e)) else {
            continue;
        };
        let kept = match inventory.endpoints.iter().find(|e| e.name == endpoint) {
            _ if cfg.logs == config::EndpointLogs::Keep => Some("sagemaker.logs: keep".to_owned()),
            Some(e) => e.kept.as_ref().map(|_| format!("its endpoint {endpoint} is kept")),
            None if owner.tags.is_empty() => None,
            None => Some(format!(
                "its endpoint {endpoint} is gone, and the log group carries no tags to show it was the stack's"
            )),
        };
        let created = g
            .creation_time()
            .map(|ms| time(Some(&aws_smithy_types::DateTime::from_millis(ms))));
        found.push(
            Found {
                name: name.to_owned(),
                kept,
                uses: vec![endpoint.to_owned()],
                id: created.map(|t| format!("created {t}")),
                arn: g.arn().map(|a| a.trim_end_matches(":*").to_owned()),
                ..Default::default()
            }
            .review(Kind::LogGroup, reviewed),
        );
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}
