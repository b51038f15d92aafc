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
use crate::exit::refuse;

/// How long the presigned STS URL is valid, as `aws eks get-token` signs it.
pub const TOKEN_EXPIRY: Duration = Duration::from_secs(60);
const TOKEN_PREFIX: &str = "k8s-aws-v1.";
const CLUSTER_HEADER: &str = "x-k8s-aws-id";

/// A client for the API server the stack's namespaces live on.
pub struct Connection {
    client: std::sync::Mutex<kube::Client>,
    /// The API server's URL.
    pub server: String,
    /// How it was found: `EKS cluster X`, or `kubeconfig PATH, context C`.
    pub via: String,
    /// For EKS: how to sign a new token when the current one grows old.
    renewal: Option<Renewal>,
}

/// What an EKS client needs to be rebuilt with a fresh token.
struct Renewal {
    aws: Aws,
    cluster: String,
    info: ClusterInfo,
    /// The token the client carries, and when it was signed.
    token: std::sync::Mutex<(TokenAge, String)>,
}

impl Connection {
    /// `https://… (EKS cluster X)`: what the plan, the prompt and the report show.
    pub fn source(&self) -> String {
        format!("{} via {}", self.server, self.via)
    }

    /// The client, with an EKS token young enough for the next request: a
    /// wait longer than the token's life (`kubernetes.wait` over 15 minutes)
    /// gets a new token, and a new client with it, before the old one expires.
    pub async fn client(&self) -> Result<kube::Client> {
        self.client_at(SystemTime::now()).await
    }

    /// `client` as of `now` (the tests move the clock).
    async fn client_at(&self, now: SystemTime) -> Result<kube::Client> {
        if let Some(r) = &self.renewal {
            let due = r.token.lock().unwrap().0.due(now);
            if due {
                tracing::debug!("kubernetes: renewing the EKS token of cluster {}", r.cluster);
                let (config, token) = eks_config(&r.aws, &r.cluster, &r.info, now).await?;
                let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
                *self.client.lock().unwrap() = client;
                *r.token.lock().unwrap() = (TokenAge::new(now), token);
            }
        }
        Ok(self.client.lock().unwrap().clone())
    }
}

/// How long EKS accepts a `k8s-aws-v1.` token (aws-iam-authenticator: 15 minutes).
pub const TOKEN_LIFE: Duration = Duration::from_secs(15 * 60);
/// A token is renewed when it has less than this left (a slow request, clock skew).
pub const RENEW_MARGIN: Duration = Duration::from_secs(5 * 60);

/// When the current token was signed, and whether it is time for a new one.
#[derive(Debug, Clone, Copy)]
pub struct TokenAge {
    issued: SystemTime,
}

impl TokenAge {
    pub fn new(issued: SystemTime) -> TokenAge {
        TokenAge { issued }
    }

    /// True once less than `RENEW_MARGIN` of the token's life is left at `now`.
    pub fn due(&self, now: SystemTime) -> bool {
        self.age(now) >= TOKEN_LIFE - RENEW_MARGIN
    }

    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.issued).unwrap_or_default()
    }
}

/// Connects to the stack's cluster, never to whatever kubectl context is
/// current. `None` when the named EKS cluster no longer exists: its
/// namespaces are gone with it, and nothing else is contacted.
///
/// With `cluster` alone, the endpoint, CA and a signed token come from EKS.
/// With a `kubeconfig`, its context (`context`, required when it has more
/// than one) must point at the cluster's endpoint or at `api_server`; any
/// other server is refused, naming both URLs.
pub async fn connect(cfg: &config::Kubernetes, aws: &Aws) -> Result<Option<Connection>> {
    let eks = match &cfg.cluster {
        Some(cluster) => match describe_cluster(aws, cluster).await? {
            Some(info) => Some((cluster.as_str(), info)),
            None => return Ok(None),
        },
        None => None,
    };
    let Some(path) = &cfg.kubeconfig else {
        let Some((cluster, info)) = eks else {
            // Config validation requires one of the two; refuse rather than infer.
            return Err(refuse("kubernetes needs kubernetes.cluster or kubernetes.kubeconfig"));
        };
        return eks_connection(aws, cluster, info, SystemTime::now()).await.map(Some);
    };
    let file = Kubeconfig::read_from(path).map_err(|e| {
        refuse(format!(
            "cannot read kubeconfig {} ({e}); fix kubernetes.kubeconfig",
            path.display()
        ))
    })?;
    let context = match (&cfg.context, file.contexts.as_slice()) {
        (Some(context), _) => context.clone(),
        (None, [only]) => only.name.clone(),
        (None, []) => {
            return Err(refuse(format!(
                "kubeconfig {} has no context; fix kubernetes.kubeconfig",
                path.display()
            )));
        }
        (None, many) => {
            let names: Vec<&str> = many.iter().map(|c| c.name.as_str()).collect();
            return Err(refuse(format!(
                "kubeconfig {} has {} contexts ({}); name the stack's with kubernetes.context",
                path.display(),
                names.len(),
                names.join(", ")
            )));
        }
    };
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(file, &options)
        .await
        .map_err(|e| refuse(format!("kubeconfig {}, context {context}: {e}", path.display())))?;
    let server = config.cluster_url.to_string();
    let expected = match (&cfg.api_server, &eks) {
        (Some(url), _) => Some((url.clone(), "kubernetes.api_server".to_owned())),
        (None, Some((cluster, info))) => Some((info.endpoint.clone(), format!("EKS cluster {cluster}'s endpoint"))),
        (None, None) => None,
    };
    if let Some((url, what)) = expected
        && normalise_url(&url) != normalise_url(&server)
    {
        return Err(refuse(format!(
            "kubeconfig {} (context {context}) points at {server}, but {what} is {url}; \
             use the stack's kubeconfig, or set kubernetes.api_server to {server} if that server really is the cluster (a tunnel or proxy)",
            path.display()
        )));
    }
    connection(
        config,
        server,
        format!("kubeconfig {}, context {context}", path.display()),
    )
    .map(Some)
}

/// A connection to an EKS cluster with a token signed at `now`, renewed as it ages.
async fn eks_connection(aws: &Aws, cluster: &str, info: ClusterInfo, now: SystemTime) -> Result<Connection> {
    let (config, token) = eks_config(aws, cluster, &info, now).await?;
    let mut conn = connection(config, info.endpoint.clone(), format!("EKS cluster {cluster}"))?;
    conn.renewal = Some(Renewal {
        aws: aws.clone(),
        cluster: cluster.to_owned(),
        info,
        token: std::sync::Mutex::new((TokenAge::new(now), token)),
    });
    Ok(conn)
}

fn connection(config: kube::Config, server: String, via: String) -> Result<Connection> {
    let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
    Ok(Connection {
        client: std::sync::Mutex::new(client),
        server: server.trim_end_matches('/').to_owned(),
        via,
        renewal: None,
    })
}

/// `HTTPS://Host:443/` and `https://host` are the same server.
pub fn normalise_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/').to_ascii_lowercase();
    for (scheme, port) in [("https://", ":443"), ("http://", ":80")] {
        if url.starts_with(scheme)
            && let Some(bare) = url.strip_suffix(port)
        {
            return bare.to_owned();
        }
    }
    url
}

/// What DescribeCluster says about the cluster's API server.
#[derive(Clone)]
struct ClusterInfo {
    endpoint: String,
    ca: String,
}

async fn describe_cluster(aws: &Aws, cluster: &str) -> Result<Option<ClusterInfo>> {
    let out = match aws.eks().describe_cluster().name(cluster).send().await {
        Ok(out) => out,
        Err(e) if code(&e) == Some("ResourceNotFoundException") => return Ok(None),
        Err(e) => anyhow::bail!("eks DescribeCluster {cluster}: {}", describe(&e)),
    };
    let info = out.cluster().context("DescribeCluster returned no cluster")?;
    Ok(Some(ClusterInfo {
        endpoint: info
            .endpoint()
            .with_context(|| format!("EKS cluster {cluster} has no API endpoint yet"))?
            .to_owned(),
        ca: info
            .certificate_authority()
            .and_then(|c| c.data())
            .unwrap_or_default()
            .to_owned(),
    }))
}

/// A client configuration for the cluster with a token signed at `now`, and that token.
async fn eks_config(aws: &Aws, cluster: &str, info: &ClusterInfo, now: SystemTime) -> Result<(kube::Config, String)> {
    anyhow::ensure!(!info.ca.is_empty(), "EKS cluster {cluster} has no CA data");
    let credentials = aws
        .sdk
        .credentials_provider()
        .context("no AWS credentials provider")?
        .provide_credentials()
        .await
        .context("loading AWS credentials for the EKS token")?;
    let token = eks_token(&credentials, aws.region(), cluster, now)?;
    // An in-memory kubeconfig keeps CA decoding and TLS set-up in kube-rs.
    let kubeconfig: Kubeconfig = serde_json::from_value(serde_json::json!({
        "clusters": [{"name": cluster, "cluster": {"server": info.endpoint, "certificate-authority-data": info.ca}}],
        "users": [{"name": "sundown", "user": {"token": &token}}],
        "contexts": [{"name": "sundown", "context": {"cluster": cluster, "user": "sundown"}}],
        "current-context": "sundown",
    }))
    .context("building the EKS kubeconfig")?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok((config, token))
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
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A stand-in for the API server on a loopback port: it answers every
    /// request with a version document and keeps the bearer token each one
    /// carried, so the test sees what the product's client really sends.
    fn api_server() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let token = head.lines().find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("authorization")
                        .then(|| value.trim().trim_start_matches("Bearer ").to_owned())
                });
                keep.lock().unwrap().push(token.unwrap_or_default());
                let body = r#"{"major":"1","minor":"33","gitVersion":"v1.33.0","gitCommit":"","gitTreeState":"","buildDate":"","goVersion":"","compiler":"","platform":""}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, seen)
    }

    /// When a `k8s-aws-v1.` token was signed: its presigned URL's `X-Amz-Date`,
    /// from which EKS counts the token's 15 minutes.
    fn signed_at(token: &str) -> SystemTime {
        let encoded = token.strip_prefix(TOKEN_PREFIX).expect("an EKS token");
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .unwrap();
        let url = String::from_utf8(url).unwrap();
        let date = url
            .split('&')
            .find_map(|kv| kv.strip_prefix("X-Amz-Date="))
            .expect("X-Amz-Date");
        // `20270115T080000Z` → `2027-01-15T08:00:00Z`.
        let rfc3339 = format!(
            "{}-{}-{}T{}:{}:{}Z",
            &date[0..4],
            &date[4..6],
            &date[6..8],
            &date[9..11],
            &date[11..13],
            &date[13..15]
        );
        humantime::parse_rfc3339(&rfc3339).unwrap()
    }

    /// A wait of an hour, polled as `wait::Rounds` polls (pauses up to 10 s, and
    /// a slow 30 s request now and then), through the connection the product
    /// uses (`connect` builds the same one for an EKS cluster) with the clock
    /// moved by the test. Each poll is a request to a stand-in API server, and
    /// the token it carries is read there: at every request it was signed less
    /// than EKS's 15 minutes before, and a fresh one is signed a few times, not
    /// at every poll.
    #[tokio::test]
    async fn a_wait_longer_than_the_token_life_gets_a_new_token_before_the_old_expires() {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"),
            ))
            .build();
        let (server, seen) = api_server();
        let info = ClusterInfo {
            endpoint: server,
            ca: base64::engine::general_purpose::STANDARD.encode(include_str!("../tests/fixtures/test-ca.pem")),
        };
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let conn = eks_connection(&Aws::from_sdk(sdk), "c", info, start).await.unwrap();
        let mut now = start;
        let mut step = 0u64;
        while now < start + Duration::from_secs(3600) {
            step += 1;
            now += Duration::from_secs(if step.is_multiple_of(17) { 30 } else { 10 });
            conn.client_at(now).await.unwrap().apiserver_version().await.unwrap();
            let token = seen.lock().unwrap().last().cloned().unwrap();
            let age = now.duration_since(signed_at(&token)).unwrap();
            assert!(
                age < TOKEN_LIFE - Duration::from_secs(60),
                "a request at +{:?} carried a token signed {age:?} before",
                now.duration_since(start).unwrap(),
            );
        }
        let mut tokens = seen.lock().unwrap().clone();
        assert_eq!(tokens.len() as u64, step, "one request per poll");
        tokens.dedup();
        // Renewed about every 10 minutes: 6 renewals in an hour, each a token signed at its own time.
        assert_eq!(tokens.len(), 7, "{} tokens sent", tokens.len());
        let mut times: Vec<SystemTime> = tokens.iter().map(|t| signed_at(t)).collect();
        times.dedup();
        assert_eq!(times.len(), 7, "each renewal signs at its own time: {times:?}");
    }

    #[test]
    fn urls_compare_without_case_default_port_or_trailing_slash() {
        assert_eq!(
            normalise_url("HTTPS://ABC.gr7.us-east-1.eks.amazonaws.com:443/"),
            normalise_url("https://abc.gr7.us-east-1.eks.amazonaws.com")
        );
        assert_eq!(normalise_url("http://127.0.0.1:80"), "http://127.0.0.1");
        assert_ne!(
            normalise_url("http://127.0.0.1:8080"),
            normalise_url("http://127.0.0.1")
        );
    }

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
