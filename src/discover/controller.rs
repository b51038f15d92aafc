//! What the AWS Load Balancer Controller leaves for the stack's cluster once
//! its load balancers are gone: the security groups and target groups it
//! made, tagged `elbv2.k8s.aws/cluster=<cluster>`. They block the VPC's
//! destroy. Each is judged by the protect tag and by the namespace the
//! controller made it for (`service.k8s.aws/stack` or
//! `ingress.k8s.aws/stack`): one made for a namespace that is not the
//! stack's is kept. One without that tag (the controller's shared backend
//! security group) serves the whole cluster, which is the stack's. Reads only.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};

use super::kubernetes::tags_of_listed;
use crate::aws::{Aws, Every, describe};
use crate::model::inventory::{Kind, Resource};
use crate::scope::{self, Owner};

/// The controller's cluster tag.
pub const CLUSTER_TAG: &str = "elbv2.k8s.aws/cluster";

/// One security group or target group the controller made for the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    pub kind: Kind,
    /// The security group's id, the target group's name.
    pub name: String,
    /// The security group's name, the target group's ARN.
    pub id: String,
    /// Why it stays, when it does.
    pub kept: Option<String>,
}

impl Made {
    pub fn resource(&self) -> Resource {
        Resource::unless_protected(self.kind, &self.name, self.kept.as_deref()).id(Some(self.id.clone()))
    }
}

/// The controller's security groups and target groups for `cluster`, judged
/// by the protect tag and by the stack's `namespaces`.
pub async fn made(aws: &Aws, cluster: &str, owner: &Owner<'_>, namespaces: &[String]) -> Result<Vec<Made>> {
    let (groups, targets) = tokio::try_join!(security_groups(aws, cluster), target_groups(aws, cluster))?;
    let mut made: Vec<Made> = groups
        .into_iter()
        .chain(targets)
        .map(|(kind, name, id, tags)| {
            let kept = owner
                .judge_protect(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .kept()
                .or_else(|| scope::made_for_another_namespace(namespaces, &tags));
            Made { kind, name, id, kept }
        })
        .collect();
    made.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    Ok(made)
}

type Found = (Kind, String, String, BTreeMap<String, String>);

/// An SDK's tags (EC2's, ELB's: each has its own type) as a map.
fn tag_map<'a>(tags: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>) -> BTreeMap<String, String> {
    tags.map(|(k, v)| (k.unwrap_or_default().to_owned(), v.unwrap_or_default().to_owned()))
        .collect()
}

/// Security groups tagged for the cluster: one filtered DescribeSecurityGroups, every page.
async fn security_groups(aws: &Aws, cluster: &str) -> Result<Vec<Found>> {
    let groups: Vec<_> = aws
        .ec2()
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name(format!("tag:{CLUSTER_TAG}"))
                .values(cluster)
                .build(),
        )
        .into_paginator()
        .items()
        .send()
        .every("ec2 DescribeSecurityGroups")
        .await?;
    Ok(groups
        .iter()
        .map(|g| {
            let tags = tag_map(g.tags().iter().map(|t| (t.key(), t.value())));
            (
                Kind::SecurityGroup,
                g.group_id().unwrap_or_default().to_owned(),
                g.group_name().unwrap_or_default().to_owned(),
                tags,
            )
        })
        .collect())
}

/// Target groups tagged for the cluster: DescribeTargetGroups, every page, and
/// DescribeTags for 20 at a time (one deleted meanwhile counts as gone).
async fn target_groups(aws: &Aws, cluster: &str) -> Result<Vec<Found>> {
    let elb = &aws.elbv2();
    let listed: Vec<_> = elb
        .describe_target_groups()
        .into_paginator()
        .items()
        .send()
        .every("elbv2 DescribeTargetGroups")
        .await?;
    let mut found = Vec::new();
    for chunk in listed.chunks(20) {
        let arns: Vec<String> = chunk
            .iter()
            .filter_map(|t| t.target_group_arn().map(str::to_owned))
            .collect();
        let described = tags_of_listed(arns, |arns| async move {
            match elb.describe_tags().set_resource_arns(Some(arns)).send().await {
                Ok(out) => Ok(Some(out.tag_descriptions.unwrap_or_default())),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_target_group_not_found_exception()) =>
                {
                    Ok(None)
                }
                Err(e) => Err(anyhow!("elbv2 DescribeTags: {}", describe(&e))),
            }
        })
        .await?;
        for d in described {
            let tags = tag_map(d.tags().iter().map(|t| (t.key(), t.value())));
            if tags.get(CLUSTER_TAG).map(String::as_str) != Some(cluster) {
                continue;
            }
            let arn = d.resource_arn().unwrap_or_default().to_owned();
            let name = chunk
                .iter()
                .find(|t| t.target_group_arn() == Some(arn.as_str()))
                .and_then(|t| t.target_group_name())
                .unwrap_or(&arn)
                .to_owned();
            found.push((Kind::TargetGroup, name, arn, tags));
        }
    }
    Ok(found)
}
