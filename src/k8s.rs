//! Connecting to Kubernetes: a kubeconfig, or EKS discovery with a natively signed token.
//!
//! Owns client construction only. The EKS token is built like `aws eks get-token`
//! (a presigned STS GetCallerIdentity URL), so neither kubectl nor the aws CLI is
//! needed. It deletes nothing; `phases::kubernetes` does.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::aws::{Aws, code, describe};
use crate::config;

/// How long the presigned STS URL is valid, as `aws eks get-token` signs it.
pub const TOKEN_EXPIRY: Duration = Duration::from_secs(60);
const TOKEN_PREFIX: &str = "k8s-aws-v1.";
const CLUSTER_HEADER: &str = "x-k8s-aws-id";

/// Where the Kubernetes API comes from, for reports.
pub fn describe_source(cfg: &config::Kubernetes) -> String {
    match (&cfg.kubeconfig, &cfg.cluster) {
        (Some(path), _) => format!("kubeconfig {}", path.display()),
        (None, Some(cluster)) => format!("EKS cluster {cluster}"),
        (None, None) => "default kubeconfig".to_owned(),
    }
}

/// A client for the configured cluster: the kubeconfig when one is given,
/// else EKS discovery when a cluster is named, else kube-rs's own inference.
/// `None` when the EKS cluster no longer exists (its namespaces are gone with it).
pub async fn client(cfg: &config::Kubernetes, aws: &Aws) -> Result<Option<kube::Client>> {
    let options = KubeConfigOptions {
        context: cfg.context.clone(),
        ..Default::default()
    };
    let config = match (&cfg.kubeconfig, &cfg.cluster) {
        (Some(path), _) => {
            let file = Kubeconfig::read_from(path).with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
        (None, Some(cluster)) => match eks_config(aws, cluster).await? {
            Some(config) => config,
            None => return Ok(None),
        },
        (None, None) => kube::Config::infer().await.context("finding a kubeconfig")?,
    };
    kube::Client::try_from(config)
        .context("building the Kubernetes client")
        .map(Some)
}

async fn eks_config(aws: &Aws, cluster: &str) -> Result<Option<kube::Config>> {
    let out = match aws.eks().describe_cluster().name(cluster).send().await {
        Ok(out) => out,
        Err(e) if code(&e) == Some("ResourceNotFoundException") => return Ok(None),
        Err(e) => anyhow::bail!("eks DescribeCluster {cluster}: {}", describe(&e)),
    };
    let info = out.cluster().context("DescribeCluster returned no cluster")?;
    let endpoint = info.endpoint().context("the cluster has no API endpoint yet")?;
    let ca = info
        .certificate_authority()
        .and_then(|c| c.data())
        .context("the cluster has no CA data")?;
    let credentials = aws
        .sdk
        .credentials_provider()
        .context("no AWS credentials provider")?
        .provide_credentials()
        .await
        .context("loading AWS credentials for the EKS token")?;
    let token = eks_token(&credentials, aws.region(), cluster, SystemTime::now())?;
    // An in-memory kubeconfig keeps CA decoding and TLS set-up in kube-rs.
    let kubeconfig: Kubeconfig = serde_json::from_value(serde_json::json!({
        "clusters": [{"name": cluster, "cluster": {"server": endpoint, "certificate-authority-data": ca}}],
        "users": [{"name": "sundown", "user": {"token": token}}],
        "contexts": [{"name": "sundown", "context": {"cluster": cluster, "user": "sundown"}}],
        "current-context": "sundown",
    }))
    .context("building the EKS kubeconfig")?;
    Ok(Some(
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?,
    ))
}

/// The bearer token `aws eks get-token` prints: `k8s-aws-v1.` and the
/// base64url (unpadded) of a presigned STS GetCallerIdentity URL whose signed
/// headers include `x-k8s-aws-id: <cluster>`.
pub fn eks_token(credentials: &Credentials, region: &str, cluster: &str, now: SystemTime) -> Result<String> {
    let url = format!("https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15");
    let identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_EXPIRY);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .context("building SigV4 parameters")?
        .into();
    let request = SignableRequest::new(
        "GET",
        &url,
        [(CLUSTER_HEADER, cluster)].into_iter(),
        SignableBody::Bytes(&[]),
    )
    .context("preparing the STS request")?;
    let (instructions, _signature) = sign(request, &params).context("signing the STS request")?.into_parts();
    let mut signed = url;
    for (name, value) in instructions.params() {
        signed.push('&');
        signed.push_str(name);
        signed.push('=');
        signed.push_str(&percent_encode(value));
    }
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signed)
    ))
}

/// RFC 3986 encoding of a query value: everything but unreserved characters.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eks_token_is_a_presigned_get_caller_identity_url() {
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", Some("session/token+=".into()), None, "test");
        let token = eks_token(&credentials, "eu-west-1", "retail-forecast-cluster", SystemTime::now()).unwrap();
        let encoded = token.strip_prefix("k8s-aws-v1.").expect("token prefix");
        assert!(!encoded.contains('='), "base64url without padding");
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(encoded)
                .unwrap(),
        )
        .unwrap();
        assert!(url.starts_with("https://sts.eu-west-1.amazonaws.com/?"), "{url}");
        assert!(url.contains("Action=GetCallerIdentity"), "{url}");
        assert!(url.contains("X-Amz-Expires=60"), "{url}");
        assert!(url.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"), "{url}");
        assert!(url.contains("X-Amz-Security-Token=session%2Ftoken%2B%3D"), "{url}");
        let signed_headers = url
            .split('&')
            .find_map(|kv| kv.strip_prefix("X-Amz-SignedHeaders="))
            .expect("signed headers");
        let signed_headers = signed_headers.replace("%3B", ";");
        assert!(
            signed_headers.split(';').any(|h| h == "x-k8s-aws-id"),
            "{signed_headers}"
        );
        assert!(signed_headers.split(';').any(|h| h == "host"), "{signed_headers}");
    }
}
