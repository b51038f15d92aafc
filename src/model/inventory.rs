//! The resource model shared by the plan and the teardown report.
//!
//! Owns the names that appear in JSON output (`sundown.plan/v1`,
//! `sundown.report/v1`); changing a serialized name is a breaking change.

use serde::{Deserialize, Serialize};

/// The teardown phases, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Kubernetes,
    Sagemaker,
    Ecr,
    Terraform,
}

impl Phase {
    pub const ALL: [Phase; 4] = [Phase::Kubernetes, Phase::Sagemaker, Phase::Ecr, Phase::Terraform];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Kubernetes => "kubernetes",
            Phase::Sagemaker => "sagemaker",
            Phase::Ecr => "ecr",
            Phase::Terraform => "terraform",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Namespace,
    Endpoint,
    EndpointConfig,
    Model,
    Repository,
    TerraformResource,
    /// A log group a service made for the stack (`/aws/sagemaker/Endpoints/<name>`).
    LogGroup,
    /// SageMaker jobs: stopped, not deleted (an ended job is a record that bills nothing).
    TrainingJob,
    ProcessingJob,
    TransformJob,
    /// A hyperparameter-tuning job.
    TuningJob,
    /// A security group or target group the AWS Load Balancer Controller made for the cluster.
    SecurityGroup,
    TargetGroup,
    /// A PersistentVolume bound to a claim in one of the stack's namespaces (its EBS volume goes with it, or stays).
    PersistentVolume,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace",
            Kind::Endpoint => "endpoint",
            Kind::EndpointConfig => "endpoint_config",
            Kind::Model => "model",
            Kind::Repository => "repository",
            Kind::TerraformResource => "terraform_resource",
            Kind::LogGroup => "log_group",
            Kind::TrainingJob => "training_job",
            Kind::ProcessingJob => "processing_job",
            Kind::TransformJob => "transform_job",
            Kind::TuningJob => "tuning_job",
            Kind::SecurityGroup => "security_group",
            Kind::TargetGroup => "target_group",
            Kind::PersistentVolume => "persistent_volume",
        }
    }
}

/// What a teardown does with a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// It will be deleted (for a repository: its images).
    Delete,
    /// It will be stopped (a running SageMaker job).
    Stop,
    /// It is protected and stays.
    Keep,
    /// It is configured but does not exist: nothing to do.
    Absent,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Delete => "delete",
            Action::Stop => "stop",
            Action::Keep => "keep",
            Action::Absent => "absent",
        }
    }
}

/// Image counts of one ECR repository. An image is one digest; it is tagged
/// when at least one tag points at it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageCounts {
    pub images: usize,
    pub tagged: usize,
    pub untagged: usize,
    pub tags: usize,
}

/// One resource a teardown would touch or keep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resource {
    pub kind: Kind,
    pub name: String,
    pub action: Action,
    /// The resource's own status where it has one (namespace phase, endpoint status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Why it is kept or absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images: Option<ImageCounts>,
    /// What tells this resource from one recreated under the same name: the
    /// creation time (and an endpoint's config) for SageMaker, the uid of a
    /// namespace, the instance id of a Terraform resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// For a repository: the image digests a teardown would delete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub digests: Vec<String>,
}

impl Resource {
    pub fn new(kind: Kind, name: impl Into<String>, action: Action) -> Resource {
        Resource {
            kind,
            name: name.into(),
            action,
            state: None,
            reason: None,
            images: None,
            id: None,
            digests: Vec::new(),
        }
    }

    pub fn id(mut self, id: Option<String>) -> Resource {
        self.id = id;
        self
    }

    pub fn state(mut self, state: impl Into<String>) -> Resource {
        self.state = Some(state.into());
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Resource {
        self.reason = Some(reason.into());
        self
    }

    /// Deleted unless `protected`, in which case kept with the protect tag as reason.
    pub fn unless_protected(kind: Kind, name: impl Into<String>, protected: Option<&str>) -> Resource {
        match protected {
            Some(why) => Resource::new(kind, name, Action::Keep).reason(why.to_owned()),
            None => Resource::new(kind, name, Action::Delete),
        }
    }
}
