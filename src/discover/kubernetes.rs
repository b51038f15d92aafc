//! Kubernetes discovery: the stack's namespaces on the API server the
//! pre-flight bound to the stack's cluster (`k8s::connect`), or absent when the
//! cluster is gone; and the load balancers the cluster's controllers made
//! (ELBv2 from the AWS Load Balancer Controller, Classic ELBs from the in-tree
//! cloud provider), found by the cluster's tags; and the PersistentVolumes
//! bound to claims in the stack's namespaces. Reads only.

use anyhow::{Context, Result, anyhow};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolume};
use kube::Api;

use crate::aws::Every;
use crate::aws::{Aws, describe};
use crate::config::{self, NAMESPACE_PROTECT_LABEL};
use crate::model::inventory::{Action, Kind, Resource};

/// The configured namespaces as they are now.
pub async fn discover(client: &kube::Client, cfg: &config::Kubernetes) -> Result<Vec<Resource>> {
    discover_with(&Api::all(client.clone()), cfg).await
}

/// The namespaces when their EKS cluster no longer exists: all absent.
pub fn cluster_gone(cfg: &config::Kubernetes) -> Vec<Resource> {
    cfg.namespaces
        .iter()
        .map(|n| Resource::new(Kind::Namespace, n, Action::Absent).reason("cluster not found"))
        .collect()
}

fn classify(name: &str, ns: Option<&Namespace>) -> Resource {
    let Some(ns) = ns else {
        return Resource::new(Kind::Namespace, name, Action::Absent).reason("not found");
    };
    let phase = ns
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Active".into());
    let protected = ns
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(NAMESPACE_PROTECT_LABEL))
        .is_some_and(|v| v == "true");
    let resource = if protected {
        Resource::new(Kind::Namespace, name, Action::Keep).reason(format!("labelled {NAMESPACE_PROTECT_LABEL}=true"))
    } else {
        Resource::new(Kind::Namespace, name, Action::Delete)
    };
    resource
        .state(phase)
        .id(ns.metadata.uid.as_ref().map(|uid| format!("uid {uid}")))
}

/// Deletes the namespaces on `api` (`None`: the cluster is gone), waits until
/// each is gone, then waits for the cluster's load balancers to go.
/// Everything is bounded by `kubernetes.wait`.
/// The configured namespaces, from one list of the cluster's namespaces.
pub async fn discover_with(api: &Api<Namespace>, cfg: &config::Kubernetes) -> Result<Vec<Resource>> {
    let listed = api.list(&Default::default()).await.context("listing namespaces")?;
    Ok(cfg
        .namespaces
        .iter()
        .map(|name| {
            let ns = listed
                .items
                .iter()
                .find(|ns| ns.metadata.name.as_deref() == Some(name.as_str()));
            classify(name, ns)
        })
        .collect())
}

/// One load balancer a cluster's controllers made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancer {
    pub name: String,
    /// `application`, `network`, `gateway` or `classic`.
    pub kind: String,
}

impl std::fmt::Display for LoadBalancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind == "classic" {
            write!(f, "classic load balancer {}", self.name)
        } else {
            write!(f, "load balancer {}", self.name)
        }
    }
}

/// The cluster's load balancers, named with their kind: ELBv2 tagged
/// `elbv2.k8s.aws/cluster=<cluster>` or `kubernetes.io/cluster/<cluster>`, and
/// Classic ELBs tagged `kubernetes.io/cluster/<cluster>`.
pub async fn cluster_load_balancers(aws: &Aws, cluster: &str) -> Result<Vec<LoadBalancer>> {
    let (v2, classic) = tokio::try_join!(elbv2_load_balancers(aws, cluster), classic_load_balancers(aws, cluster))?;
    Ok(v2
        .into_iter()
        .chain(classic.into_iter().map(|name| LoadBalancer {
            name,
            kind: "classic".into(),
        }))
        .collect())
}

/// The tags of load balancers listed a moment ago. One of them deleted since (its
/// controller finishing, which is what the wait is for) fails the whole DescribeTags
/// call with LoadBalancerNotFound; then each is asked alone, and those not found are
/// gone. `describe_tags` answers `None` for LoadBalancerNotFound.
pub(super) async fn tags_of_listed<T, F, Fut>(batch: Vec<String>, describe_tags: F) -> Result<Vec<T>>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Option<Vec<T>>>>,
{
    if let Some(tags) = describe_tags(batch.clone()).await? {
        return Ok(tags);
    }
    let mut tags = Vec::new();
    if batch.len() > 1 {
        for one in batch {
            tags.extend(describe_tags(vec![one]).await?.unwrap_or_default());
        }
    }
    Ok(tags)
}

async fn elbv2_load_balancers(aws: &Aws, cluster: &str) -> Result<Vec<LoadBalancer>> {
    let elb = &aws.elbv2();
    let lbs: Vec<_> = elb
        .describe_load_balancers()
        .into_paginator()
        .items()
        .send()
        .every("elbv2 DescribeLoadBalancers")
        .await?;
    let legacy_key = format!("kubernetes.io/cluster/{cluster}");
    let mut names = Vec::new();
    // DescribeTags takes at most 20 ARNs a call.
    for chunk in lbs.chunks(20) {
        let arns: Vec<String> = chunk
            .iter()
            .filter_map(|lb| lb.load_balancer_arn().map(str::to_owned))
            .collect();
        let tags = tags_of_listed(arns, |arns| async move {
            match elb.describe_tags().set_resource_arns(Some(arns)).send().await {
                Ok(out) => Ok(Some(out.tag_descriptions.unwrap_or_default())),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_load_balancer_not_found_exception()) =>
                {
                    Ok(None)
                }
                Err(e) => Err(anyhow!("elbv2 DescribeTags: {}", describe(&e))),
            }
        })
        .await?;
        for description in &tags {
            let owned = description.tags().iter().any(|t| {
                (t.key() == Some("elbv2.k8s.aws/cluster") && t.value() == Some(cluster)) || t.key() == Some(&legacy_key)
            });
            if owned {
                let arn = description.resource_arn().unwrap_or_default();
                let lb = chunk.iter().find(|lb| lb.load_balancer_arn() == Some(arn));
                names.push(LoadBalancer {
                    name: lb.and_then(|lb| lb.load_balancer_name()).unwrap_or(arn).to_owned(),
                    kind: lb
                        .and_then(|lb| lb.r#type())
                        .map_or("application", |t| t.as_str())
                        .to_owned(),
                });
            }
        }
    }
    Ok(names)
}

async fn classic_load_balancers(aws: &Aws, cluster: &str) -> Result<Vec<String>> {
    let elb = &aws.elb();
    let lbs: Vec<_> = elb
        .describe_load_balancers()
        .into_paginator()
        .items()
        .send()
        .every("elb DescribeLoadBalancers")
        .await?;
    let key = format!("kubernetes.io/cluster/{cluster}");
    let mut names = Vec::new();
    // Classic DescribeTags takes at most 20 names a call.
    for chunk in lbs.chunks(20) {
        let batch: Vec<String> = chunk
            .iter()
            .filter_map(|lb| lb.load_balancer_name().map(str::to_owned))
            .collect();
        let tags = tags_of_listed(batch, |names| async move {
            match elb.describe_tags().set_load_balancer_names(Some(names)).send().await {
                Ok(out) => Ok(Some(out.tag_descriptions.unwrap_or_default())),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_access_point_not_found_exception()) =>
                {
                    Ok(None)
                }
                Err(e) => Err(anyhow!("elb DescribeTags: {}", describe(&e))),
            }
        })
        .await?;
        for description in &tags {
            if description.tags().iter().any(|t| t.key() == key.as_str()) {
                names.push(description.load_balancer_name().unwrap_or_default().to_owned());
            }
        }
    }
    Ok(names)
}

/// A PersistentVolume bound to a claim in one of the stack's namespaces.
#[derive(Debug, Clone)]
pub struct Volume {
    pub name: String,
    pub uid: String,
    pub namespace: String,
    pub claim: String,
    /// `Delete` or `Retain` (`Recycle` is deprecated and treated as Delete).
    pub reclaim: String,
    /// The EBS volume behind it (EBS CSI's `volumeHandle`, or the in-tree `awsElasticBlockStore`).
    pub volume_id: Option<String>,
}

impl Volume {
    pub fn retained(&self) -> bool {
        self.reclaim == "Retain"
    }

    /// The plan's view: a Delete volume goes with its claim, a Retain one stays.
    pub fn resource(&self) -> Resource {
        let ebs = self.volume_id.as_deref().unwrap_or("not EBS");
        let r = if self.retained() {
            Resource::new(Kind::PersistentVolume, &self.name, Action::Keep)
                .reason(format!("reclaimPolicy Retain: its volume ({ebs}) stays, and bills"))
        } else {
            Resource::new(Kind::PersistentVolume, &self.name, Action::Delete)
                .reason(format!("goes with claim {}/{} ({ebs})", self.namespace, self.claim))
        };
        r.id(Some(format!("uid {}", self.uid)))
    }
}

/// The PersistentVolumes bound to claims in `namespaces`: one list of the cluster's volumes.
pub async fn volumes(client: &kube::Client, namespaces: &[String]) -> Result<Vec<Volume>> {
    let api: Api<PersistentVolume> = Api::all(client.clone());
    let listed = api
        .list(&Default::default())
        .await
        .context("listing PersistentVolumes")?;
    let mut found: Vec<Volume> = listed
        .items
        .into_iter()
        .filter_map(|pv| {
            let spec = pv.spec?;
            let claim = spec.claim_ref?;
            let namespace = claim.namespace?;
            namespaces.contains(&namespace).then(|| Volume {
                name: pv.metadata.name.unwrap_or_default(),
                uid: pv.metadata.uid.unwrap_or_default(),
                namespace,
                claim: claim.name.unwrap_or_default(),
                reclaim: spec.persistent_volume_reclaim_policy.unwrap_or_else(|| "Delete".into()),
                volume_id: spec
                    .csi
                    .filter(|c| c.driver == "ebs.csi.aws.com")
                    .map(|c| c.volume_handle)
                    .or_else(|| {
                        spec.aws_elastic_block_store
                            .map(|e| e.volume_id.rsplit('/').next().unwrap_or_default().to_owned())
                    }),
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}
