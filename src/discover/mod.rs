//! Discovery: reads the stack, every phase at once, into one typed value
//! ([`Stack`]) that the plan document lists, `cost` prices and the teardown's
//! phases delete from. One module per service. Nothing here changes anything
//! in AWS, Kubernetes or Terraform (`cargo xtask tidy` holds that), and
//! nothing here knows about reports.

pub mod controller;
pub mod ecr;
pub mod kubernetes;
pub mod sagemaker;
pub mod terraform;

use anyhow::anyhow;

use crate::aws::Aws;
use crate::config::Config;
use crate::k8s::Connection;
use crate::model::inventory::{Phase, Resource};
use crate::terraform::{State, Terraform};

/// What one phase's discovery came to.
#[derive(Debug)]
pub enum Found<T> {
    /// The phase is not in the config.
    NotConfigured,
    /// Where it looked (a kubeconfig, an EKS cluster, a Terraform directory),
    /// and what it found or why it could not read it (with its cause chain).
    Read {
        source: Option<String>,
        result: Result<T, String>,
    },
}

impl<T> Found<T> {
    fn read(source: Option<String>, result: anyhow::Result<T>) -> Found<T> {
        Found::Read {
            source,
            result: result.map_err(|e| format!("{e:#}")),
        }
    }

    /// What was found, when it could be read.
    pub fn value(&self) -> Option<&T> {
        match self {
            Found::Read { result: Ok(value), .. } => Some(value),
            _ => None,
        }
    }

    /// What was found, taken out, when it could be read.
    pub fn into_value(self) -> Option<T> {
        match self {
            Found::Read { result: Ok(value), .. } => Some(value),
            _ => None,
        }
    }
}

/// The stack as read once, at the start of a run.
#[derive(Debug)]
pub struct Stack {
    pub kubernetes: Found<Vec<Resource>>,
    pub sagemaker: Found<sagemaker::Inventory>,
    pub ecr: Found<Vec<ecr::Repo>>,
    pub terraform: Found<State>,
}

/// One phase of the stack as the plan lists it: where discovery looked, and its
/// resources or why they could not be read; `None` when it is not configured.
pub struct Listed<'a> {
    pub phase: Phase,
    pub source: Option<&'a str>,
    pub resources: Option<Result<Vec<Resource>, &'a str>>,
}

impl Stack {
    /// Every phase, in teardown order.
    pub fn listed(&self) -> [Listed<'_>; 4] {
        [
            listed(Phase::Kubernetes, &self.kubernetes, Vec::clone),
            listed(Phase::Sagemaker, &self.sagemaker, sagemaker::Inventory::resources),
            listed(Phase::Ecr, &self.ecr, |repos| {
                repos.iter().map(ecr::Repo::resource).collect()
            }),
            listed(Phase::Terraform, &self.terraform, terraform::resources),
        ]
    }

    /// Every resource of every phase that could be read.
    pub fn resources(&self) -> Vec<Resource> {
        self.listed()
            .into_iter()
            .filter_map(|l| l.resources?.ok())
            .flatten()
            .collect()
    }
}

fn listed<'a, T>(phase: Phase, found: &'a Found<T>, resources: impl Fn(&T) -> Vec<Resource>) -> Listed<'a> {
    match found {
        Found::NotConfigured => Listed {
            phase,
            source: None,
            resources: None,
        },
        Found::Read { source, result } => Listed {
            phase,
            source: source.as_deref(),
            resources: Some(result.as_ref().map(resources).map_err(String::as_str)),
        },
    }
}

/// What the caller has read already, so discovery does not read it again: the
/// teardown's pre-flight connects to the API server and reads the Terraform state.
#[derive(Default)]
pub struct Preread<'a> {
    /// The connection to the stack's API server (`None` inside: the cluster is gone).
    pub kube: Option<Option<&'a Connection>>,
    pub state: Option<State>,
}

/// Reads every phase concurrently. A phase that cannot be read is a `Found::Read`
/// with its error, and the others are still read.
pub async fn stack(config: &Config, aws: &Aws, preread: Preread<'_>) -> Stack {
    let (kubernetes, sagemaker, ecr, terraform) = tokio::join!(
        kubernetes(config, aws, preread.kube),
        async {
            let Some(s) = &config.sagemaker else {
                return Found::NotConfigured;
            };
            let owner = crate::scope::Owner::new(config);
            let (sm, logs) = (aws.sagemaker(), aws.logs());
            let clients = sagemaker::Clients { sm: &sm, logs: &logs };
            let result = sagemaker::discover(clients, s, &owner, None).await;
            Found::read(Some(sagemaker::source(config, s)), result)
        },
        async {
            let Some(e) = &config.ecr else {
                return Found::NotConfigured;
            };
            Found::read(None, ecr::discover(&aws.ecr(), e, &config.protect).await)
        },
        terraform_state(config, preread.state),
    );
    Stack {
        kubernetes,
        sagemaker,
        ecr,
        terraform,
    }
}

/// The namespaces, then what the Load Balancer Controller made for the cluster
/// (security groups, target groups) that the phase deletes once its load balancers are gone.
async fn kubernetes(config: &Config, aws: &Aws, kube: Option<Option<&Connection>>) -> Found<Vec<Resource>> {
    let found = kubernetes_namespaces(config, aws, kube).await;
    let Some(k) = &config.kubernetes else {
        return found;
    };
    let Some(cluster) = &k.cluster else {
        return found;
    };
    let Found::Read {
        source,
        result: Ok(mut resources),
    } = found
    else {
        return found;
    };
    let owner = crate::scope::Owner::new(config);
    match controller::made(aws, cluster, &owner, &k.namespaces).await {
        Ok(made) => {
            resources.extend(made.iter().map(controller::Made::resource));
            Found::read(source, Ok(resources))
        }
        Err(e) => Found::read(
            source,
            Err(e.context("the load balancer controller's security and target groups")),
        ),
    }
}

async fn kubernetes_namespaces(config: &Config, aws: &Aws, kube: Option<Option<&Connection>>) -> Found<Vec<Resource>> {
    let Some(k) = &config.kubernetes else {
        return Found::NotConfigured;
    };
    if k.namespaces.is_empty() {
        let source = k
            .cluster
            .as_ref()
            .map(|c| format!("EKS cluster {c}: no namespaces configured"));
        return Found::read(source, Ok(Vec::new()));
    }
    let connected;
    let api = match kube {
        Some(api) => api,
        None => match crate::k8s::connect(k, aws).await {
            Ok(api) => {
                connected = api;
                connected.as_ref()
            }
            Err(e) => return Found::read(None, Err(e)),
        },
    };
    match api {
        Some(api) => {
            let result = match api.client().await {
                Ok(client) => match kubernetes::discover(&client, k).await {
                    Ok(mut found) => kubernetes::volumes(&client, &k.namespaces).await.map(|volumes| {
                        found.extend(volumes.iter().map(kubernetes::Volume::resource));
                        found
                    }),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            Found::read(Some(api.source()), result)
        }
        None => Found::read(
            k.cluster.as_ref().map(|c| format!("EKS cluster {c} (not found)")),
            Ok(kubernetes::cluster_gone(k)),
        ),
    }
}

async fn terraform_state(config: &Config, state: Option<State>) -> Found<State> {
    let Some(t) = &config.terraform else {
        return Found::NotConfigured;
    };
    let tf = Terraform::new(t);
    let (runner, protect) = (tf.clone(), config.protect.clone());
    let result = match state {
        Some(state) => Ok(state),
        None => tokio::task::spawn_blocking(move || terraform::preflight(&runner, &protect))
            .await
            .unwrap_or_else(|e| Err(anyhow!("terraform discovery panicked: {e}"))),
    };
    // Once `init` has run: the workspace and the state `terraform destroy` will use.
    let source = match &result {
        Ok(_) => tf.target(),
        Err(_) => tf.dir().display().to_string(),
    };
    Found::read(Some(source), result)
}
