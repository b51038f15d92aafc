//! AWS configuration and clients, built once from the standard credential chain.
//!
//! Owns how clients are made (region, retries, path-style S3 behind an
//! endpoint override) and how pre-flight failures become one-line refusals.
//! It calls no deleting API.

use std::error::Error as StdError;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;

use crate::exit::refuse;

/// How many independent requests a run keeps in flight at once, per service.
pub const CONCURRENCY: usize = 8;

/// The loaded AWS configuration and the clients made from it.
#[derive(Clone)]
pub struct Aws {
    pub sdk: SdkConfig,
}

/// Who the credentials belong to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Identity {
    pub account: String,
    pub arn: String,
}

impl Aws {
    /// Loads credentials and settings the way the AWS CLI does; `region` wins over the environment.
    pub async fn load(region: &str) -> Aws {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .retry_config(RetryConfig::standard().with_max_attempts(5))
            .load()
            .await;
        Aws { sdk }
    }

    /// Wraps an existing SDK configuration (tests aim it at the emulator).
    pub fn from_sdk(sdk: SdkConfig) -> Aws {
        Aws { sdk }
    }

    /// The endpoint override (`AWS_ENDPOINT_URL`), when one is set.
    pub fn endpoint(&self) -> Option<&str> {
        self.sdk.endpoint_url()
    }

    pub fn region(&self) -> &str {
        self.sdk.region().map(|r| r.as_ref()).unwrap_or("")
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.sdk)
    }
    pub fn eks(&self) -> aws_sdk_eks::Client {
        aws_sdk_eks::Client::new(&self.sdk)
    }
    pub fn sagemaker(&self) -> aws_sdk_sagemaker::Client {
        aws_sdk_sagemaker::Client::new(&self.sdk)
    }
    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::new(&self.sdk)
    }
    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk)
    }
    pub fn elbv2(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk)
    }
    /// Classic load balancers, which the in-tree AWS cloud provider makes for `type: LoadBalancer` Services.
    pub fn elb(&self) -> aws_sdk_elasticloadbalancing::Client {
        aws_sdk_elasticloadbalancing::Client::new(&self.sdk)
    }
    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.sdk)
    }
    pub fn budgets(&self) -> aws_sdk_budgets::Client {
        aws_sdk_budgets::Client::new(&self.sdk)
    }
    pub fn events(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(&self.sdk)
    }
    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk)
    }
    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk)
    }
    /// Cost Explorer answers in us-east-1 whatever the stack's region.
    pub fn cost_explorer(&self) -> aws_sdk_costexplorer::Client {
        let config = aws_sdk_costexplorer::config::Builder::from(&self.sdk)
            .region(aws_sdk_costexplorer::config::Region::new("us-east-1"))
            .build();
        aws_sdk_costexplorer::Client::from_conf(config)
    }
    pub fn tagging(&self) -> aws_sdk_resourcegroupstagging::Client {
        aws_sdk_resourcegroupstagging::Client::new(&self.sdk)
    }

    /// S3 with path-style addressing behind an endpoint override, where
    /// virtual-hosted bucket names would not resolve.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let mut config = aws_sdk_s3::config::Builder::from(&self.sdk);
        if self.endpoint().is_some() {
            config = config.force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(config.build())
    }

    /// STS GetCallerIdentity, the first request of every command. Credential
    /// and network problems become refusals (exit 2) that say what to do.
    pub async fn identity(&self) -> anyhow::Result<Identity> {
        match self.sts().get_caller_identity().send().await {
            Ok(out) => Ok(Identity {
                account: out.account().unwrap_or_default().to_owned(),
                arn: out.arn().unwrap_or_default().to_owned(),
            }),
            Err(err) => Err(self.preflight_error(err)),
        }
    }

    fn preflight_error<E>(&self, err: SdkError<E, HttpResponse>) -> anyhow::Error
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let detail = DisplayErrorContext(&err).to_string();
        let where_ = self.endpoint().map(|e| format!(" at {e}")).unwrap_or_default();
        match &err {
            SdkError::ServiceError(service) => {
                let said = answered(
                    service.raw().status().as_u16(),
                    service.err().code(),
                    service.err().message(),
                    service.raw().body().bytes(),
                );
                refuse(format!(
                    "AWS rejected the credentials ({said}); refresh them (e.g. `aws sso login`, or new keys) and retry"
                ))
            }
            _ if detail.contains("credentials") || detail.contains("Credentials") => match missing_profile() {
                Some(why) => refuse(why),
                None => refuse(format!(
                    "no usable AWS credentials ({}); set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws sso login`",
                    first_line(&detail)
                )),
            },
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => refuse(format!(
                "cannot reach AWS STS{where_} ({}); check the network and AWS_ENDPOINT_URL",
                first_line(&detail)
            )),
            _ => refuse(format!(
                "AWS pre-flight (GetCallerIdentity) failed: {}",
                first_line(&detail)
            )),
        }
    }
}

/// When `AWS_PROFILE` names a profile that neither the config file nor the
/// credentials file holds: the refusal that says so (the SDK only says no
/// credentials were found).
fn missing_profile() -> Option<String> {
    let profile = std::env::var("AWS_PROFILE")
        .ok()
        .filter(|p| !p.is_empty() && p != "default")?;
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"));
    let file = |var: &str, default: &str| {
        std::env::var_os(var).map(std::path::PathBuf::from).or_else(|| {
            home.as_ref()
                .map(|h| std::path::Path::new(h).join(".aws").join(default))
        })
    };
    let (config, credentials) = (
        file("AWS_CONFIG_FILE", "config"),
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
    );
    let holds = |path: &Option<std::path::PathBuf>, header: &str| {
        let text = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        text.lines()
            .any(|l| l.trim().replace(' ', "") == header.replace(' ', ""))
    };
    if holds(&config, &format!("[profile {profile}]")) || holds(&credentials, &format!("[{profile}]")) {
        return None;
    }
    let shown =
        |path: &Option<std::path::PathBuf>| path.as_ref().map_or("~/.aws/…".into(), |p| p.display().to_string());
    Some(format!(
        "AWS_PROFILE={profile} names a profile that is in neither {} nor {}; fix AWS_PROFILE, or add it (`aws configure --profile {profile}`)",
        shown(&config),
        shown(&credentials)
    ))
}

/// The human part of an SDK error's context, without its Debug dump.
fn first_line(text: &str) -> &str {
    let line = text.lines().next().unwrap_or(text);
    [
        "(DispatchFailure(",
        "(TimeoutError(",
        "(ConstructionFailure(",
        "(ResponseError(",
        "(ServiceError(",
    ]
    .iter()
    .filter_map(|marker| line.find(marker))
    .min()
    .map_or(line, |at| line[..at].trim_end())
}

/// One line describing an SDK error with what is known of it, for reports:
/// AWS's code and message, and the HTTP status when either is missing; never
/// a bare `Unknown` (the SDK's code when no code could be read).
pub fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(service) => answered(
            service.raw().status().as_u16(),
            service.err().code(),
            service.err().message(),
            service.raw().body().bytes(),
        ),
        other => DisplayErrorContext(other).to_string().replace('\n', " "),
    }
}

/// An error answer as one line: see [`describe`].
fn answered(status: u16, code: Option<&str>, message: Option<&str>, body: Option<&[u8]>) -> String {
    let code = code.filter(|c| !c.is_empty() && *c != "Unknown");
    let message = message.map(str::trim).filter(|m| !m.is_empty());
    match (code, message) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => format!("{code} (HTTP {status})"),
        (None, Some(message)) => format!("HTTP {status}: {message}"),
        // S3 answers a HEAD with a status and no body; an emulator answers a call it lacks with an HTML page.
        (None, None) => match body.map(|b| String::from_utf8_lossy(b).trim_start().to_owned()) {
            Some(text) if text.starts_with('<') => {
                format!("HTTP {status} with an HTML page, not an AWS error (the endpoint lacks this call)")
            }
            _ => format!("HTTP {status} with no error code"),
        },
    }
}

/// The AWS error code of an SDK error, when the service answered.
pub fn code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// Every node group of `cluster` (ListNodegroups, all pages), shared by the
/// schedule, the spot check and the pricing of node groups.
pub async fn node_group_names(eks: &aws_sdk_eks::Client, cluster: &str) -> anyhow::Result<Vec<String>> {
    eks.list_nodegroups()
        .cluster_name(cluster)
        .into_paginator()
        .items()
        .send()
        .every(format!("eks ListNodegroups {cluster}"))
        .await
}

/// Every item of a paginated listing (`….into_paginator().items().send()`),
/// its failure named by `call` and AWS's error: the one paginate-and-collect.
pub trait Every<T> {
    fn every(self, call: impl Into<String>) -> impl std::future::Future<Output = anyhow::Result<Vec<T>>> + Send;
}

impl<T, E> Every<T>
    for aws_smithy_async::future::pagination_stream::PaginationStream<Result<T, SdkError<E, HttpResponse>>>
where
    T: Send,
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    fn every(self, call: impl Into<String>) -> impl std::future::Future<Output = anyhow::Result<Vec<T>>> + Send {
        let call = call.into();
        async move {
            self.try_collect()
                .await
                .map_err(|e| anyhow::anyhow!("{call}: {}", describe(&e)))
        }
    }
}

/// One DescribeNodegroup; `None` when the node group is gone (deleted since
/// ListNodegroups, or meanwhile): the one reader of a node group, for the
/// schedule, the spot check and the price.
pub async fn describe_node_group(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    name: &str,
) -> anyhow::Result<Option<aws_sdk_eks::types::Nodegroup>> {
    match eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
    {
        Ok(described) => described
            .nodegroup()
            .cloned()
            .map(Some)
            .ok_or_else(|| anyhow::anyhow!("eks DescribeNodegroup {name} returned nothing")),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(anyhow::anyhow!("eks DescribeNodegroup {name}: {}", describe(&e))),
    }
}

/// The training jobs created in the last `days` days, each as DescribeTrainingJob
/// answered (ListTrainingJobs, all pages, then one Describe per job): the one
/// reader for the spot-training check and the spot savings of `sundown cost`.
pub async fn recent_training_jobs(
    sm: &aws_sdk_sagemaker::Client,
    days: i64,
) -> anyhow::Result<Vec<aws_sdk_sagemaker::operation::describe_training_job::DescribeTrainingJobOutput>> {
    let since = std::time::SystemTime::now() - std::time::Duration::from_secs(days.max(0) as u64 * 86_400);
    let jobs: Vec<_> = sm
        .list_training_jobs()
        .creation_time_after(aws_smithy_types::DateTime::from(since))
        .into_paginator()
        .items()
        .send()
        .every("sagemaker ListTrainingJobs")
        .await?;
    let mut described = Vec::with_capacity(jobs.len());
    for job in jobs {
        let name = job.training_job_name().unwrap_or_default();
        described.push(
            sm.describe_training_job()
                .training_job_name(name)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("sagemaker DescribeTrainingJob {name}: {}", describe(&e)))?,
        );
    }
    Ok(described)
}

/// Every log group under `prefix` (DescribeLogGroups, all pages), shared by the
/// retention check and the pricing of log storage.
pub async fn log_groups(
    logs: &aws_sdk_cloudwatchlogs::Client,
    prefix: &str,
) -> anyhow::Result<Vec<aws_sdk_cloudwatchlogs::types::LogGroup>> {
    logs.describe_log_groups()
        .log_group_name_prefix(prefix)
        .into_paginator()
        .items()
        .send()
        .every(format!("logs DescribeLogGroups {prefix}"))
        .await
}

#[cfg(test)]
mod tests {
    use super::answered;

    #[test]
    fn an_error_says_what_is_known_and_never_a_bare_unknown() {
        let html = Some(b"<!DOCTYPE html><title>500 Internal Server Error</title>".as_slice());
        assert_eq!(
            answered(400, Some("ValidationException"), Some("bad"), None),
            "ValidationException: bad"
        );
        assert_eq!(
            answered(403, Some("AccessDenied"), Some(" "), None),
            "AccessDenied (HTTP 403)"
        );
        assert_eq!(
            answered(500, Some("Unknown"), Some("it broke"), None),
            "HTTP 500: it broke"
        );
        assert_eq!(answered(404, None, None, Some(b"")), "HTTP 404 with no error code");
        let page = answered(500, Some("Unknown"), None, html);
        assert!(page.starts_with("HTTP 500 with an HTML page"), "{page}");
        for said in [page, answered(500, Some("Unknown"), None, None)] {
            assert!(!said.contains("Unknown"), "{said}");
        }
    }
}
