//! The closing sweep's part of the policy: the Tagging API, and the one
//! read per kind of resource it confirms (`sweep::confirm`).

use super::{Arns, Statement};
use crate::config::Config;

/// The closing sweep (the teardown's, and `verify --after-teardown`'s): the
/// Tagging API, then one read per ARN found, of whatever kind it is: on the
/// account's resources of that kind where IAM scopes the call, else on `*`.
/// Without `scope.tags` and a cluster it asks nothing.
pub(super) fn sweep(config: &Config, arns: &Arns) -> Vec<Statement> {
    let cluster = config.kubernetes.as_ref().and_then(|k| k.cluster.as_ref());
    if config.scope.tags.is_empty() && cluster.is_none() {
        return Vec::new();
    }
    let sagemaker_kinds = [
        "endpoint",
        "endpoint-config",
        "model",
        "training-job",
        "processing-job",
        "transform-job",
        "hyper-parameter-tuning-job",
    ];
    vec![
        Statement::new(
            "SweepWhatIsLeft",
            &[
                "tag:GetResources",
                "ec2:DescribeAddresses",
                "ec2:DescribeInstances",
                "ec2:DescribeNatGateways",
                "ec2:DescribeTags",
                "ec2:DescribeVolumes",
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeTargetGroups",
                "logs:DescribeLogGroups",
                "events:DescribeRule",
            ],
            vec!["*".to_owned()],
        ),
        Statement::new(
            "SweepSageMaker",
            &[
                "sagemaker:DescribeEndpoint",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:DescribeModel",
                "sagemaker:DescribeTrainingJob",
                "sagemaker:DescribeProcessingJob",
                "sagemaker:DescribeTransformJob",
                "sagemaker:DescribeHyperParameterTuningJob",
            ],
            sagemaker_kinds
                .iter()
                .map(|k| arns.arn("sagemaker", &format!("{k}/*")))
                .collect(),
        ),
        Statement::new(
            "SweepOthers",
            &[
                "eks:DescribeCluster",
                "eks:DescribeNodegroup",
                "ecr:DescribeRepositories",
                "sns:GetTopicAttributes",
                "s3:ListBucket",
            ],
            vec![
                arns.arn("eks", "cluster/*"),
                arns.arn("eks", "nodegroup/*"),
                arns.arn("ecr", "repository/*"),
                arns.arn("sns", "*"),
                format!("arn:{}:s3:::*", arns.partition),
            ],
        ),
    ]
}
