//! Is it still there? One read of the resource's own service per ARN the
//! Tagging API listed: GetResources lists a deleted resource for a while
//! (its documentation: "tagged or previously tagged resources"), so only
//! the service's own answer counts. Each answer also carries what the price needs.

use anyhow::{Result, anyhow};

use crate::aws::{Aws, code, describe};
use crate::cost::leftovers::Billable;
use crate::discover::sagemaker::{Variant, is_not_found, jobs};
use crate::model::inventory::Kind;

/// An ARN, split: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub service: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    pub fn parse(arn: &'a str) -> Option<Arn<'a>> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(_), Some(service), Some(_), Some(_), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        Some(Arn { service, resource })
    }

    /// `service:type`, e.g. `ec2:volume`, `logs:log-group`, `s3:bucket`.
    pub fn kind(&self) -> String {
        let kind = match self.service {
            "s3" => "bucket",
            "sns" => "topic",
            _ => self.resource.split(['/', ':']).next().unwrap_or_default(),
        };
        format!("{}:{kind}", self.service)
    }

    /// The name users know it by: the id, the log group's or bucket's name.
    pub fn name(&self) -> String {
        match (self.service, self.resource.split_once(['/', ':'])) {
            ("s3" | "sns", _) | (_, None) => self.resource.to_owned(),
            ("logs", Some((_, name))) => name.trim_end_matches(":*").to_owned(),
            // loadbalancer/app/NAME/ID, targetgroup/NAME/ID, nodegroup/CLUSTER/NAME/ID
            ("elasticloadbalancing" | "eks", Some((_, rest))) => {
                let parts: Vec<&str> = rest.split('/').collect();
                match parts.as_slice() {
                    [_, name, _] if self.resource.starts_with("loadbalancer/") => (*name).to_owned(),
                    [cluster, name, _] => format!("{cluster}/{name}"),
                    [name, _] => (*name).to_owned(),
                    _ => rest.to_owned(),
                }
            }
            (_, Some((_, rest))) => rest.to_owned(),
        }
    }
}

/// What its service said.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirmed {
    Gone,
    /// Still there: what it is, and what it bills as.
    Exists {
        detail: String,
        bill: Billable,
    },
    /// sundown asks no API about this kind; the Tagging API's listing is all there is.
    Unconfirmed(String),
}

/// Asks the resource's service about `arn`.
pub async fn confirm(aws: &Aws, arn: &str) -> Result<Confirmed> {
    let Some(parsed) = Arn::parse(arn) else {
        return Ok(Confirmed::Unconfirmed(format!("{arn} is not an ARN sundown can read")));
    };
    let kind = parsed.kind();
    let id = parsed.resource.split_once('/').map_or("", |(_, id)| id);
    match kind.as_str() {
        "ec2:volume" => volume(aws, id).await,
        "ec2:instance" => instance(aws, id).await,
        "ec2:natgateway" => nat_gateway(aws, id).await,
        "ec2:elastic-ip" => address(aws, id).await,
        "ec2:snapshot" | "ec2:image" => {
            ec2_tags(
                aws,
                id,
                Billable::Unpriced("not priced: snapshots and images bill per GB-month of the blocks they hold".into()),
            )
            .await
        }
        k if k.starts_with("ec2:") => ec2_tags(aws, id, Billable::Free).await,
        "elasticloadbalancing:loadbalancer" => load_balancer(aws, arn, parsed.resource).await,
        "elasticloadbalancing:targetgroup" => target_group(aws, arn).await,
        "logs:log-group" => log_group(aws, &parsed.name()).await,
        "s3:bucket" => bucket(aws, parsed.resource).await,
        "sns:topic" => topic(aws, arn).await,
        "sagemaker:endpoint" => endpoint(aws, id).await,
        "sagemaker:endpoint-config"
        | "sagemaker:model"
        | "sagemaker:training-job"
        | "sagemaker:processing-job"
        | "sagemaker:transform-job"
        | "sagemaker:hyper-parameter-tuning-job" => sagemaker(aws, &kind, id).await,
        "eks:cluster" => cluster(aws, id).await,
        "eks:nodegroup" => node_group(aws, id).await,
        "ecr:repository" => repository(aws, id).await,
        "events:rule" => rule(aws, id).await,
        _ => Ok(Confirmed::Unconfirmed(format!(
            "sundown asks no API whether a {kind} still exists; the Tagging API lists it"
        ))),
    }
}

fn exists(detail: impl Into<String>, bill: Billable) -> Result<Confirmed> {
    Ok(Confirmed::Exists {
        detail: detail.into(),
        bill,
    })
}

async fn volume(aws: &Aws, id: &str) -> Result<Confirmed> {
    match aws.ec2().describe_volumes().volume_ids(id).send().await {
        Ok(out) => match out.volumes().first() {
            Some(v) if v.state().is_none_or(|s| s.as_str() != "deleted") => {
                let volume_type = v.volume_type().map_or("standard", |t| t.as_str()).to_owned();
                let gib = v.size().unwrap_or(0);
                let attached = if v.attachments().is_empty() {
                    "unattached"
                } else {
                    "attached"
                };
                exists(
                    format!("{gib} GiB {volume_type}, {attached}"),
                    Billable::Volume { volume_type, gib },
                )
            }
            _ => Ok(Confirmed::Gone),
        },
        Err(e) if code(&e) == Some("InvalidVolume.NotFound") => Ok(Confirmed::Gone),
        Err(e) => Err(anyhow!("ec2 DescribeVolumes {id}: {}", describe(&e))),
    }
}

async fn instance(aws: &Aws, id: &str) -> Result<Confirmed> {
    match aws.ec2().describe_instances().instance_ids(id).send().await {
        Ok(out) => {
            let found = out.reservations().iter().flat_map(|r| r.instances()).next();
            match found {
                Some(i)
                    if i.state()
                        .and_then(|s| s.name())
                        .is_none_or(|s| s.as_str() != "terminated") =>
                {
                    let instance_type = i.instance_type().map_or("unknown", |t| t.as_str()).to_owned();
                    let state = i.state().and_then(|s| s.name()).map_or("unknown", |s| s.as_str());
                    exists(
                        format!("{instance_type}, {state}"),
                        Billable::Instance { instance_type },
                    )
                }
                _ => Ok(Confirmed::Gone),
            }
        }
        Err(e) if code(&e) == Some("InvalidInstanceID.NotFound") => Ok(Confirmed::Gone),
        Err(e) => Err(anyhow!("ec2 DescribeInstances {id}: {}", describe(&e))),
    }
}

async fn nat_gateway(aws: &Aws, id: &str) -> Result<Confirmed> {
    match aws.ec2().describe_nat_gateways().nat_gateway_ids(id).send().await {
        Ok(out) => match out.nat_gateways().first() {
            Some(g) if g.state().is_none_or(|s| !matches!(s.as_str(), "deleted" | "failed")) => {
                exists("NAT gateway", Billable::NatGateway)
            }
            _ => Ok(Confirmed::Gone),
        },
        Err(e) if code(&e) == Some("NatGatewayNotFound") => Ok(Confirmed::Gone),
        Err(e) => Err(anyhow!("ec2 DescribeNatGateways {id}: {}", describe(&e))),
    }
}

async fn address(aws: &Aws, id: &str) -> Result<Confirmed> {
    match aws.ec2().describe_addresses().allocation_ids(id).send().await {
        Ok(out) => match out.addresses().first() {
            Some(a) => exists(
                format!("Elastic IP {}", a.public_ip().unwrap_or_default()),
                Billable::PublicIpv4,
            ),
            None => Ok(Confirmed::Gone),
        },
        Err(e) if code(&e) == Some("InvalidAllocationID.NotFound") => Ok(Confirmed::Gone),
        Err(e) => Err(anyhow!("ec2 DescribeAddresses {id}: {}", describe(&e))),
    }
}

/// Any other EC2 resource: EC2 drops a resource's tags when it is deleted,
/// so DescribeTags by its id answers whether it is still there.
async fn ec2_tags(aws: &Aws, id: &str, bill: Billable) -> Result<Confirmed> {
    let filter = aws_sdk_ec2::types::Filter::builder()
        .name("resource-id")
        .values(id)
        .build();
    let out = aws
        .ec2()
        .describe_tags()
        .filters(filter)
        .send()
        .await
        .map_err(|e| anyhow!("ec2 DescribeTags {id}: {}", describe(&e)))?;
    match out.tags().first().and_then(|t| t.resource_type()) {
        None => Ok(Confirmed::Gone),
        Some(t) => exists(t.as_str().replace('-', " "), bill),
    }
}

async fn load_balancer(aws: &Aws, arn: &str, resource: &str) -> Result<Confirmed> {
    // loadbalancer/app/NAME/ID and loadbalancer/net/NAME/ID are v2; loadbalancer/NAME is classic.
    let parts: Vec<&str> = resource.split('/').collect();
    if let [_, name] = parts.as_slice() {
        return match aws
            .elb()
            .describe_load_balancers()
            .load_balancer_names(*name)
            .send()
            .await
        {
            Ok(out) if !out.load_balancer_descriptions().is_empty() => exists(
                "classic load balancer",
                Billable::LoadBalancer { kind: "classic".into() },
            ),
            Ok(_) => Ok(Confirmed::Gone),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_access_point_not_found_exception()) =>
            {
                Ok(Confirmed::Gone)
            }
            Err(e) => Err(anyhow!("elb DescribeLoadBalancers {name}: {}", describe(&e))),
        };
    }
    match aws
        .elbv2()
        .describe_load_balancers()
        .load_balancer_arns(arn)
        .send()
        .await
    {
        Ok(out) => match out.load_balancers().first() {
            Some(lb) => {
                let kind = lb.r#type().map_or("application", |t| t.as_str()).to_owned();
                exists(format!("{kind} load balancer"), Billable::LoadBalancer { kind })
            }
            None => Ok(Confirmed::Gone),
        },
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_load_balancer_not_found_exception()) =>
        {
            Ok(Confirmed::Gone)
        }
        Err(e) => Err(anyhow!("elbv2 DescribeLoadBalancers {arn}: {}", describe(&e))),
    }
}

async fn target_group(aws: &Aws, arn: &str) -> Result<Confirmed> {
    match aws.elbv2().describe_target_groups().target_group_arns(arn).send().await {
        Ok(out) if !out.target_groups().is_empty() => exists("target group", Billable::Free),
        Ok(_) => Ok(Confirmed::Gone),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_target_group_not_found_exception()) =>
        {
            Ok(Confirmed::Gone)
        }
        Err(e) => Err(anyhow!("elbv2 DescribeTargetGroups {arn}: {}", describe(&e))),
    }
}

async fn log_group(aws: &Aws, name: &str) -> Result<Confirmed> {
    let out = aws
        .logs()
        .describe_log_groups()
        .log_group_name_prefix(name)
        .limit(1)
        .send()
        .await
        .map_err(|e| anyhow!("logs DescribeLogGroups {name}: {}", describe(&e)))?;
    match out.log_groups().iter().find(|g| g.log_group_name() == Some(name)) {
        Some(g) => {
            let bytes = g.stored_bytes().unwrap_or(0);
            exists(
                format!("{:.2} GB stored", bytes as f64 / (1024.0 * 1024.0 * 1024.0)),
                Billable::LogGroup { bytes },
            )
        }
        None => Ok(Confirmed::Gone),
    }
}

async fn bucket(aws: &Aws, name: &str) -> Result<Confirmed> {
    match aws.s3().head_bucket().bucket(name).send().await {
        Ok(_) => exists("S3 bucket", Billable::Bucket { name: name.to_owned() }),
        Err(e)
            if matches!(code(&e), Some("NotFound" | "NoSuchBucket"))
                || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
        {
            Ok(Confirmed::Gone)
        }
        Err(e) => Err(anyhow!("s3 HeadBucket {name}: {}", describe(&e))),
    }
}

async fn topic(aws: &Aws, arn: &str) -> Result<Confirmed> {
    match aws.sns().get_topic_attributes().topic_arn(arn).send().await {
        Ok(_) => exists("SNS topic", Billable::Free),
        Err(e) if code(&e) == Some("NotFound") => Ok(Confirmed::Gone),
        Err(e) => Err(anyhow!("sns GetTopicAttributes {arn}: {}", describe(&e))),
    }
}

async fn endpoint(aws: &Aws, name: &str) -> Result<Confirmed> {
    let sm = aws.sagemaker();
    let described = match sm.describe_endpoint().endpoint_name(name).send().await {
        Ok(d) => d,
        Err(e) if is_not_found(&describe(&e)) => return Ok(Confirmed::Gone),
        Err(e) => return Err(anyhow!("sagemaker DescribeEndpoint {name}: {}", describe(&e))),
    };
    let status = described.endpoint_status().map_or("unknown", |s| s.as_str()).to_owned();
    let running = Variant::running(described.production_variants());
    let config_name = described.endpoint_config_name().unwrap_or_default();
    // The instance types are the config's; a config deleted under its endpoint leaves them unknown.
    let configured = match sm
        .describe_endpoint_config()
        .endpoint_config_name(config_name)
        .send()
        .await
    {
        Ok(c) => Variant::configured(c.production_variants()),
        Err(e) if is_not_found(&describe(&e)) => Vec::new(),
        Err(e) => {
            return Err(anyhow!(
                "sagemaker DescribeEndpointConfig {config_name}: {}",
                describe(&e)
            ));
        }
    };
    let variants: Vec<(String, i32)> = configured
        .iter()
        .filter_map(|v| {
            let count = running
                .iter()
                .find(|r| r.name == v.name)
                .and_then(|r| r.count)
                .or(v.count);
            Some((v.instance_type.clone()?, count.unwrap_or(1)))
        })
        .collect();
    let detail = variants
        .iter()
        .map(|(t, n)| format!("{n} × {t}"))
        .collect::<Vec<_>>()
        .join(" + ");
    let bill = if variants.is_empty() {
        Billable::Unpriced("its instance types cannot be read (its config is deleted, or it is serverless)".into())
    } else {
        Billable::Endpoint { variants }
    };
    exists(format!("{status}, {detail}"), bill)
}

/// SageMaker's other kinds. A job that has ended is a record, not a resource:
/// it bills nothing and cannot be deleted, so it counts as gone.
async fn sagemaker(aws: &Aws, kind: &str, name: &str) -> Result<Confirmed> {
    let sm = aws.sagemaker();
    let (call, answer): (&str, std::result::Result<Option<String>, String>) = match kind {
        "sagemaker:endpoint-config" => (
            "DescribeEndpointConfig",
            sm.describe_endpoint_config()
                .endpoint_config_name(name)
                .send()
                .await
                .map(|_| None)
                .map_err(|e| describe(&e)),
        ),
        "sagemaker:model" => (
            "DescribeModel",
            sm.describe_model()
                .model_name(name)
                .send()
                .await
                .map(|_| None)
                .map_err(|e| describe(&e)),
        ),
        job => {
            let kind = match job {
                "sagemaker:training-job" => Kind::TrainingJob,
                "sagemaker:processing-job" => Kind::ProcessingJob,
                "sagemaker:transform-job" => Kind::TransformJob,
                _ => Kind::TuningJob,
            };
            jobs::status(&sm, kind, name).await
        }
    };
    match answer {
        Ok(None) => exists(kind.trim_start_matches("sagemaker:").replace('-', " "), Billable::Free),
        Ok(Some(status)) if jobs::running(&status) => exists(
            status,
            Billable::Unpriced("a running job bills per instance-second until it ends".into()),
        ),
        Ok(Some(_)) => Ok(Confirmed::Gone),
        Err(e) if is_not_found(&e) => Ok(Confirmed::Gone),
        Err(e) => Err(anyhow!("sagemaker {call} {name}: {e}")),
    }
}

async fn cluster(aws: &Aws, name: &str) -> Result<Confirmed> {
    match aws.eks().describe_cluster().name(name).send().await {
        Ok(_) => exists("EKS control plane", Billable::EksCluster),
        Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(Confirmed::Gone),
        Err(e) => Err(anyhow!("eks DescribeCluster {name}: {}", describe(&e))),
    }
}

async fn node_group(aws: &Aws, id: &str) -> Result<Confirmed> {
    // nodegroup/CLUSTER/NAME/UUID
    let mut parts = id.split('/');
    let (Some(cluster), Some(name)) = (parts.next(), parts.next()) else {
        return Ok(Confirmed::Unconfirmed(format!("cannot read a node group from {id}")));
    };
    match crate::aws::describe_node_group(&aws.eks(), cluster, name).await? {
        None => Ok(Confirmed::Gone),
        Some(g) => {
            let types = g.instance_types().to_vec();
            let count = g.scaling_config().and_then(|s| s.desired_size()).unwrap_or(0);
            let spot = g.capacity_type().is_some_and(|c| c.as_str() == "SPOT");
            exists(
                format!("{count} × {}{}", types.join("/"), if spot { " SPOT" } else { "" }),
                Billable::NodeGroup { types, count, spot },
            )
        }
    }
}

async fn repository(aws: &Aws, name: &str) -> Result<Confirmed> {
    match aws.ecr().describe_repositories().repository_names(name).send().await {
        Ok(_) => exists(
            "ECR repository",
            Billable::Unpriced("its images' storage: `sundown cost` prices the configured repositories".into()),
        ),
        Err(e) if code(&e) == Some("RepositoryNotFoundException") => Ok(Confirmed::Gone),
        Err(e) => Err(anyhow!("ecr DescribeRepositories {name}: {}", describe(&e))),
    }
}

async fn rule(aws: &Aws, name: &str) -> Result<Confirmed> {
    match aws.events().describe_rule().name(name).send().await {
        Ok(_) => exists("EventBridge rule", Billable::Free),
        Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(Confirmed::Gone),
        Err(e) => Err(anyhow!("events DescribeRule {name}: {}", describe(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::Arn;

    #[test]
    fn an_arn_names_its_kind_and_the_name_users_know() {
        let cases = [
            ("arn:aws:ec2:us-east-1:123456789012:volume/vol-1", "ec2:volume", "vol-1"),
            (
                "arn:aws:logs:us-east-1:123456789012:log-group:/aws/eks/c/cluster:*",
                "logs:log-group",
                "/aws/eks/c/cluster",
            ),
            ("arn:aws:s3:::retail-data", "s3:bucket", "retail-data"),
            ("arn:aws:sns:us-east-1:123456789012:alerts", "sns:topic", "alerts"),
            (
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/k8s-web/0123",
                "elasticloadbalancing:targetgroup",
                "k8s-web",
            ),
            (
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/k8s-web/0123",
                "elasticloadbalancing:loadbalancer",
                "k8s-web",
            ),
            (
                "arn:aws:eks:us-east-1:123456789012:nodegroup/c/spot/0123",
                "eks:nodegroup",
                "c/spot",
            ),
            (
                "arn:aws:sagemaker:us-east-1:123456789012:endpoint/retail-forecast-0",
                "sagemaker:endpoint",
                "retail-forecast-0",
            ),
        ];
        for (arn, kind, name) in cases {
            let parsed = Arn::parse(arn).unwrap();
            assert_eq!((parsed.kind().as_str(), parsed.name().as_str()), (kind, name), "{arn}");
        }
        assert_eq!(Arn::parse("vol-1"), None);
    }
}
