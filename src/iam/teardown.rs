//! The teardown's part of the policy: what it deletes, stops and marks, and
//! its notification, each scoped to the stack's names and tags where IAM allows.

use super::*;

/// What the teardown deletes and marks, and its notification.
pub(super) fn teardown(config: &Config, arns: &Arns, out: &mut Vec<Statement>, optional: &mut Vec<Statement>) {
    let all = || vec!["*".to_owned()];
    if let Some(sm) = &config.sagemaker {
        let mut endpoints = Statement::new(
            "DeleteStackEndpoints",
            &["sagemaker:DeleteEndpoint"],
            arns.sagemaker("endpoint", &sm.endpoint_prefix).into(),
        );
        // Endpoints must carry scope.tags to be deleted; configs and models that follow
        // their endpoint may be untagged, so they get no condition.
        endpoints.tags = config.scope.tags.clone();
        out.push(endpoints);
        let mut kinds = Vec::new();
        if sm.delete_configs {
            kinds.push(("endpoint-config", "sagemaker:DeleteEndpointConfig"));
        }
        if sm.delete_models {
            kinds.push(("model", "sagemaker:DeleteModel"));
        }
        for (kind, action) in kinds {
            out.push(Statement::new(
                &format!(
                    "Delete{}",
                    if kind == "model" {
                        "StackModels"
                    } else {
                        "StackEndpointConfigs"
                    }
                ),
                &[action],
                arns.sagemaker(kind, &sm.endpoint_prefix).into(),
            ));
        }
        if sm.logs == crate::config::EndpointLogs::Delete {
            // The log groups of the stack's endpoints, named by the same rule.
            let logs = crate::discover::sagemaker::ENDPOINT_LOGS;
            let prefix = &sm.endpoint_prefix;
            out.push(Statement::new(
                "DeleteStackEndpointLogGroups",
                &["logs:DeleteLogGroup"],
                vec![
                    arns.arn("logs", &format!("log-group:{logs}{prefix}")),
                    arns.arn("logs", &format!("log-group:{logs}{prefix}-*")),
                ],
            ));
        }
        out.extend(jobs(config, sm, arns));
        // Marking the configs `schedule stop` remembers endpoints in, against `schedule start`.
        out.push(Statement::new("FindStoppedConfigs", &["tag:GetResources"], all()));
        out.push(Statement::new(
            "MarkStoppedConfigs",
            &["sagemaker:AddTags"],
            vec![arns.arn("sagemaker", "endpoint-config/*")],
        ));
    }
    if config.kubernetes.is_some() {
        // The size and type of the EBS volume a retained PersistentVolume keeps, for its $/month.
        out.push(Statement::new("PriceRetainedVolumes", &["ec2:DescribeVolumes"], all()));
    }
    if let Some(cluster) = config.kubernetes.as_ref().and_then(|k| k.cluster.as_ref()) {
        // The security and target groups the Load Balancer Controller made for the cluster,
        // once its load balancers are gone; only those it tagged for this cluster.
        let mut groups = Statement::new(
            "DeleteControllerGroups",
            &["ec2:DeleteSecurityGroup", "elasticloadbalancing:DeleteTargetGroup"],
            vec![
                arns.arn("ec2", "security-group/*"),
                arns.arn("elasticloadbalancing", "targetgroup/*/*"),
            ],
        );
        groups.tags = [(crate::discover::controller::CLUSTER_TAG.to_owned(), cluster.clone())].into();
        out.push(groups);
    }
    if let (Some(k), Some(_)) = (&config.kubernetes, &config.terraform)
        && let Some(cluster) = &k.cluster
        && k.logs == crate::config::EndpointLogs::Delete
    {
        // The cluster's control-plane log group, once `terraform destroy` has taken the cluster.
        out.push(Statement::new(
            "DeleteClusterLogGroup",
            &["logs:DeleteLogGroup", "logs:ListTagsForResource"],
            vec![arns.arn("logs", &format!("log-group:/aws/eks/{cluster}/cluster"))],
        ));
        out.push(Statement::new(
            "ReadClusterLogGroup",
            &["logs:DescribeLogGroups"],
            all(),
        ));
    }
    if let Some(ecr) = &config.ecr {
        out.push(Statement::new(
            "DeleteImages",
            &["ecr:BatchDeleteImage"],
            repositories(arns, &ecr.repositories),
        ));
    }
    if let Some(topic) = &config.notify.sns_topic_arn {
        optional.push(Statement::new("OptionalNotify", &["sns:Publish"], vec![topic.clone()]).optional());
    }
    out.extend(sweep(config, arns));
}

/// Stopping the stack's running jobs (named by the job prefix, tagged with
/// `scope.tags`), and reading each one's status until it has ended.
fn jobs(config: &Config, sm: &crate::config::SageMaker, arns: &Arns) -> [Statement; 2] {
    let kinds = [
        (
            "training-job",
            "sagemaker:StopTrainingJob",
            "sagemaker:DescribeTrainingJob",
        ),
        (
            "processing-job",
            "sagemaker:StopProcessingJob",
            "sagemaker:DescribeProcessingJob",
        ),
        (
            "transform-job",
            "sagemaker:StopTransformJob",
            "sagemaker:DescribeTransformJob",
        ),
        (
            "hyper-parameter-tuning-job",
            "sagemaker:StopHyperParameterTuningJob",
            "sagemaker:DescribeHyperParameterTuningJob",
        ),
    ];
    let resources: Vec<String> = kinds
        .iter()
        .flat_map(|(kind, _, _)| arns.sagemaker(kind, sm.job_prefix()))
        .collect();
    let stops: Vec<&str> = kinds.iter().map(|k| k.1).collect();
    let describes: Vec<&str> = kinds.iter().map(|k| k.2).collect();
    let mut stop = Statement::new("StopStackJobs", &stops, resources.clone());
    stop.tags = config.scope.tags.clone();
    [stop, Statement::new("WatchStackJobsEnd", &describes, resources)]
}
