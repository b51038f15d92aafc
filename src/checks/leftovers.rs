//! `teardown.nothing_left`: after a teardown, nothing of the stack remains:
//! what the teardown names, looked at again, and the closing sweep (`sweep`).

use anyhow::{Result, anyhow};

use super::{Context, Finding};
use crate::aws::{code, describe};
use crate::model::inventory::Kind;

pub async fn nothing_left(cx: &Context<'_>) -> Result<Finding> {
    let config = cx.config;
    let mut left = Vec::new();
    let mut looked = Vec::new();
    let cluster = config.kubernetes.as_ref().and_then(|k| k.cluster.as_deref());
    if let Some(cluster) = cluster {
        looked.push(format!("EKS cluster {cluster}"));
        match cx.aws.eks().describe_cluster().name(cluster).send().await {
            Ok(_) => left.push(format!("EKS cluster {cluster}")),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => {}
            Err(e) => return Err(anyhow!("eks DescribeCluster {cluster}: {}", describe(&e))),
        }
        let lbs = crate::discover::kubernetes::cluster_load_balancers(cx.aws, cluster).await?;
        left.extend(lbs.iter().map(ToString::to_string));
    }
    let mut kept: Vec<crate::sweep::Kept> = Vec::new();
    if let Some(s) = &config.sagemaker {
        // The teardown's own discovery: what it would delete is what must be gone.
        looked.push(format!("SageMaker resources named {0} or {0}-…", s.endpoint_prefix));
        let owner = crate::scope::Owner::new(config);
        let (sm, logs) = (cx.aws.sagemaker(), cx.aws.logs());
        let clients = crate::discover::sagemaker::Clients { sm: &sm, logs: &logs };
        let found = crate::discover::sagemaker::discover(clients, s, &owner, None).await?;
        for (kind, items) in [
            (Kind::Endpoint, &found.endpoints),
            (Kind::EndpointConfig, &found.configs),
            (Kind::Model, &found.models),
            (Kind::LogGroup, &found.log_groups),
        ] {
            kept.extend(
                items
                    .iter()
                    .filter_map(|f| Some((kind, f.name.clone(), f.kept.clone()?))),
            );
            let kind = kind.name().replace('_', " ");
            left.extend(
                items
                    .iter()
                    .filter(|f| f.kept.is_none())
                    .map(|f| format!("{kind} {}", f.name)),
            );
        }
    }
    if let Some(e) = &config.ecr {
        let ecr = cx.aws.ecr();
        for repo in &e.repositories {
            looked.push(format!("images in {repo}"));
            if let Some(ids) = crate::discover::ecr::list_image_ids(&ecr, repo).await?
                && !ids.is_empty()
            {
                left.push(format!("{} image ids in repository {repo}", ids.len()));
            }
        }
    }
    let s3 = cx.aws.s3();
    for bucket in &config.verify.buckets {
        looked.push(format!("bucket {bucket}"));
        match s3.head_bucket().bucket(bucket).send().await {
            Ok(_) => left.push(format!("bucket {bucket}")),
            Err(e)
                if matches!(code(&e), Some("NotFound" | "NoSuchBucket"))
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {}
            Err(e) => return Err(anyhow!("s3 HeadBucket {bucket}: {}", describe(&e))),
        }
    }
    // The teardown's closing sweep, the same code path: what the Tagging API still lists.
    let sweep = crate::sweep::run(config, cx.aws, &kept).await;
    if let Some(e) = &sweep.error {
        return Err(anyhow!("the closing sweep: {e}"));
    }
    let mut passing = if left.is_empty() {
        vec![format!("none left: {}", looked.join(", "))]
    } else {
        Vec::new()
    };
    passing.push(format!("closing sweep: {}; {}", sweep.headline(), sweep.scope_line()));
    passing.extend(
        sweep
            .kept
            .iter()
            .map(|k| format!("kept: {} {} ({})", k.kind, k.name, k.why)),
    );
    let mut failing: Vec<String> = left.into_iter().map(|l| format!("still exists: {l}")).collect();
    failing.extend(sweep.left_behind.iter().map(|l| {
        let money = l.usd_per_month.map_or_else(
            || format!("unpriced: {}", l.unpriced.as_deref().unwrap_or("no price")),
            crate::text::per_month,
        );
        format!(
            "left behind: {} {} ({}, {money}) {}; remove: {}",
            l.kind, l.name, l.detail, l.arn, l.why
        )
    }));
    Ok(Finding::from_lines(
        passing,
        failing,
        "run `sundown teardown --confirm destroy` again, or delete what is named here",
    ))
}
