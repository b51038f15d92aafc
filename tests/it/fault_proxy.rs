//! A fault-injecting HTTP proxy between sundown and the emulator (std only),
//! shared by the tests and `cargo xtask bench` (which includes it by path).
//!
//! Each request is forwarded to moto unless the dice say otherwise. Faults,
//! in equal shares: HTTP 503 before forwarding; a throttling error before
//! forwarding, shaped for the request's protocol (awsJson, awsQuery, REST);
//! and HTTP 500 *after* forwarding, as when the work was done but the
//! response was lost, so retries meet their own earlier success. A fixed
//! rule can answer one operation with one error every time (expired
//! credentials). One request per connection (`Connection: close`).
//!
//! The latency model (`Faults::endpoint_deletion`) makes SageMaker endpoint
//! deletion take time, as AWS does (minutes; moto deletes at once):
//! DeleteEndpoint is answered at once, the endpoint then shows `Deleting` in
//! DescribeEndpoint and ListEndpoints for its delay, and is gone afterwards
//! (the proxy sends moto the original request then), or shows `Failed` with
//! a `FailureReason` and stays. AWS documents the states in the
//! DescribeEndpoint API reference (`EndpointStatus`: … `Deleting`, `Failed`).
//!
//! It also makes node-group updates take time (`Faults::node_group_update`):
//! moto applies UpdateNodegroupConfig at once, answers its update
//! `Successful` and has no DescribeUpdate; EKS answers the update
//! `InProgress`, shows the node group `UPDATING` until the update ends,
//! refuses another update meanwhile with 409 ResourceInUseException, and
//! tells the end by DescribeUpdate: `Successful`, or `Failed` with `errors`
//! (EKS API reference: UpdateNodegroupConfig, Errors; DescribeUpdate;
//! `Update.status`: InProgress | Failed | Cancelled | Successful). A node
//! group named in `Faults::node_group_failure` keeps its size (the update
//! is not sent to moto) and its update ends `Failed` with the given error.
//!
//! It makes SageMaker endpoints take time to create (`Faults::endpoint_creation`):
//! moto's CreateEndpoint makes the endpoint `InService` at once; on AWS it is
//! `Creating` for minutes, then `InService`, or `Failed` with a
//! `FailureReason` (DescribeEndpoint API reference, `EndpointStatus`).
//!
//! It makes SageMaker jobs run until they are stopped (`Faults::job_stop`):
//! moto completes training, processing, transform and tuning jobs at once and
//! has no StopTrainingJob. In the model every job moto holds when the proxy
//! starts is `InProgress` until its Stop…Job; then `Stopping` for the given
//! time, then `Stopped`, in its Describe…Job and List…Jobs (whose
//! `NameContains` and `StatusEquals` the model applies). A second stop is
//! refused, as AWS refuses to stop a job that is not in progress
//! (StopTrainingJob API reference; `TrainingJobStatus`). Each request still
//! goes to moto first, unchanged, so that IAM enforcement judges it.
//!
//! It makes security groups outlive their load balancers' deletion for a
//! while (`Faults::sg_dependency`): moto deletes a group whatever refers to
//! it; AWS answers DependencyViolation while a rule of another group or a
//! network interface of a just-deleted load balancer still does.
//!
//! And it makes the Tagging API lag (`Faults::tagging_lag`): GetResources
//! "returns tagged or previously tagged resources" (its API reference) and
//! goes on listing a deleted resource for a while, where moto forgets it at
//! once. The proxy reads the whole Tagging API once, at the first request it
//! serves, and every later GetResources also lists what that reading held and
//! moto no longer does, when its tags match the request's filters.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the proxy does to requests.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Share of requests answered with a fault, 0.0 to 1.0.
    pub rate: f64,
    /// Added before every forwarded request.
    pub latency: Duration,
    /// Requests whose target, request line or body contains `.0` get status `.1` with error code `.2`, always.
    pub always: Option<(&'static str, u16, &'static str)>,
    /// Seed of the dice, so a failing run can be replayed.
    pub seed: u64,
    /// SageMaker endpoints take time to delete (the latency model).
    pub endpoint_deletion: Option<EndpointDeletion>,
    /// The first request whose target, request line or body contains `.0` waits for `.1` to run before it
    /// is forwarded: a change in the world at a known point between two of sundown's requests.
    pub before_first: Option<(&'static str, Hook)>,
    /// Each node-group update takes this long: the node group shows `UPDATING`
    /// meanwhile, a second update is refused, DescribeUpdate says `InProgress` (the latency model).
    pub node_group_update: Option<Duration>,
    /// Node groups (by name) whose updates end `Failed` with this error (`ErrorCode: message`).
    pub node_group_failure: Vec<(String, String)>,
    /// SageMaker endpoints are `Creating` this long after CreateEndpoint (the latency model).
    pub endpoint_creation: Option<EndpointCreation>,
    /// GetResources goes on listing deleted resources (the latency model).
    pub tagging_lag: bool,
    /// SageMaker jobs run until stopped, then stay `Stopping` this long (the latency model).
    pub job_stop: Option<Duration>,
    /// DeleteSecurityGroup is refused with DependencyViolation until this long after the first
    /// attempt on a group (the dependency model).
    pub sg_dependency: Option<Duration>,
}

/// Something the proxy runs once (see `Faults::before_first`). It runs on the
/// proxy's thread, where a failed assertion cannot fail the test; so the hook
/// keeps its outcome, and the proxy's owner fails the test when the hook
/// failed or never ran (the race it stages did not happen): see `Drop for FaultProxy`.
#[derive(Clone)]
pub struct Hook {
    run: Arc<dyn Fn() + Send + Sync>,
    fired: Arc<AtomicBool>,
    /// `Some(Err(panic message))` when it failed.
    outcome: Arc<Mutex<Option<Result<(), String>>>>,
}

impl Hook {
    pub fn new(run: impl Fn() + Send + Sync + 'static) -> Hook {
        Hook {
            run: Arc::new(run),
            fired: Arc::default(),
            outcome: Arc::default(),
        }
    }

    /// Runs it the first time only, keeping what came of it.
    fn fire(&self) {
        if self.fired.swap(true, Ordering::SeqCst) {
            return;
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.run)())).map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "the hook panicked".to_owned())
        });
        *self.outcome.lock().unwrap() = Some(result);
    }

    /// Why the hook did not do its part: it never ran, or it failed.
    pub fn failure(&self) -> Option<String> {
        match &*self.outcome.lock().unwrap() {
            None => Some("it never ran: no request named its trigger".to_owned()),
            Some(Err(why)) => Some(format!("it failed: {why}")),
            Some(Ok(())) => None,
        }
    }
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hook")
            .field("fired", &self.fired)
            .finish_non_exhaustive()
    }
}

/// How long each SageMaker endpoint stays `Deleting` after DeleteEndpoint.
#[derive(Debug, Clone, Default)]
pub struct EndpointDeletion {
    pub delay: Duration,
    /// Endpoints (by name) that take this long instead.
    pub slow: Vec<(String, Duration)>,
    /// Endpoints (by name) that end `Failed` with this reason instead of gone.
    pub fail: Vec<(String, String)>,
    /// Every deletion stays `Deleting` until `FaultProxy::release` ends it, whatever `delay` says:
    /// a test then acts while an endpoint is surely still being deleted, however loaded the machine.
    pub hold: bool,
}

impl EndpointDeletion {
    fn delay_of(&self, name: &str) -> Duration {
        self.slow
            .iter()
            .find(|(n, _)| n == name)
            .map_or(self.delay, |(_, d)| *d)
    }

    fn failure_of(&self, name: &str) -> Option<String> {
        self.fail.iter().find(|(n, _)| n == name).map(|(_, why)| why.clone())
    }
}

/// How long each SageMaker endpoint stays `Creating` after CreateEndpoint, and which end `Failed`.
#[derive(Debug, Clone, Default)]
pub struct EndpointCreation {
    pub delay: Duration,
    /// Endpoints (by name) that end `Failed` with this reason instead of `InService`.
    pub fail: Vec<(String, String)>,
}

/// An endpoint whose creation the proxy is playing out: `Creating` until when, then failed why (or fine).
type Creating = Arc<Mutex<HashMap<String, (Instant, Option<String>)>>>;
/// Node-group updates the latency model plays out, by id: `InProgress` until when, then failed with what.
type Updates = Arc<Mutex<HashMap<String, (Instant, Option<String>)>>>;

/// An endpoint whose deletion the proxy is playing out.
#[derive(Debug, Clone)]
struct Deleting {
    until: Instant,
    failure: Option<String>,
    /// A held deletion's DeleteEndpoint, sent to moto on release.
    held: Option<(String, Vec<u8>)>,
}

type Pending = Arc<Mutex<HashMap<String, Deleting>>>;
/// Node groups (`cluster/group`) whose update the latency model is playing out, until when.
type Updating = Arc<Mutex<HashMap<String, Instant>>>;
/// Security groups the dependency model has been asked to delete: since when.
type Tries = Arc<Mutex<HashMap<String, Instant>>>;

/// The jobs the latency model runs.
#[derive(Debug, Default)]
struct JobModel {
    /// Kind (`TrainingJob`, …) → the summaries moto listed when the proxy started.
    known: HashMap<String, Vec<serde_json::Value>>,
    /// Jobs (`Kind/name`, e.g. `TrainingJob/x`) stopped: `Stopping` until when.
    stopped: HashMap<String, Instant>,
}
type Jobs = Arc<Mutex<JobModel>>;
/// The Tagging API as the first request found it (`None`: not read yet): its ResourceTagMappings.
type Remembered = Arc<Mutex<Option<Vec<serde_json::Value>>>>;

pub struct FaultProxy {
    pub port: u16,
    pub injected: Arc<AtomicU64>,
    pub forwarded: Arc<AtomicU64>,
    /// Every request received, as (when, operation, body): what the client sent, faults included.
    pub received: Arc<Mutex<Vec<(Instant, String, String)>>>,
    /// Endpoints the latency model holds in `Deleting` (or `Failed`) now.
    pending: Pending,
    /// Node groups the latency model shows `UPDATING`.
    updating: Updating,
    /// Node-group updates, by id.
    updates: Updates,
    /// Endpoints the latency model shows `Creating` (or `Failed`).
    creating: Creating,
    /// Jobs the latency model has seen stopped.
    stopped_jobs: Jobs,
    upstream: u16,
    /// The staged change (`Faults::before_first`), checked when the proxy is dropped.
    hook: Option<(&'static str, Hook)>,
}

impl Drop for FaultProxy {
    /// A staged change that failed, or never happened, fails the test that staged it.
    fn drop(&mut self) {
        if let Some((trigger, hook)) = &self.hook
            && let Some(why) = hook.failure()
            && !std::thread::panicking()
        {
            panic!("the fault proxy's hook before the first {trigger:?} did not do its part: {why}");
        }
    }
}

impl FaultProxy {
    /// Listens on a free port and forwards to `127.0.0.1:upstream`.
    pub fn start(upstream: u16, faults: Faults) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let port = listener.local_addr().unwrap().port();
        let injected = Arc::new(AtomicU64::new(0));
        let forwarded = Arc::new(AtomicU64::new(0));
        let dice = Arc::new(Mutex::new(
            faults.seed.wrapping_mul(6364136223846793005).wrapping_add(1),
        ));
        let pending: Pending = Arc::default();
        let updating: Updating = Arc::default();
        let updates: Updates = Arc::default();
        let creating: Creating = Arc::default();
        let stopped_jobs: Jobs = Arc::default();
        if faults.job_stop.is_some() {
            stopped_jobs.lock().unwrap().known = read_jobs(upstream);
        }
        let remembered: Remembered = Arc::default();
        let tries: Tries = Arc::default();
        let hook = faults.before_first.clone();
        let received = Arc::new(Mutex::new(Vec::new()));
        let (inj, fwd, pend, upd, recv, jobs) = (
            injected.clone(),
            forwarded.clone(),
            pending.clone(),
            updating.clone(),
            received.clone(),
            stopped_jobs.clone(),
        );
        let (ups, creat) = (updates.clone(), creating.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (tries, ups, creat) = (tries.clone(), ups.clone(), creat.clone());
                let (faults, dice, inj, fwd, pend, upd, recv, mem, jobs) = (
                    faults.clone(),
                    dice.clone(),
                    inj.clone(),
                    fwd.clone(),
                    pend.clone(),
                    upd.clone(),
                    recv.clone(),
                    remembered.clone(),
                    jobs.clone(),
                );
                std::thread::spawn(move || {
                    let models = Models {
                        pending: &pend,
                        updating: &upd,
                        remembered: &mem,
                        jobs: &jobs,
                        tries: &tries,
                        updates: &ups,
                        creating: &creat,
                    };
                    let _ = serve(stream, upstream, &faults, &dice, &inj, &fwd, models, &recv);
                });
            }
        });
        FaultProxy {
            port,
            injected,
            forwarded,
            received,
            pending,
            updating,
            updates,
            creating,
            stopped_jobs,
            upstream,
            hook,
        }
    }

    /// Jobs (`TrainingJob/name`, …) the latency model has seen stopped.
    pub fn stopped_jobs(&self) -> Vec<String> {
        let mut names: Vec<String> = self.stopped_jobs.lock().unwrap().stopped.keys().cloned().collect();
        names.sort();
        names
    }

    /// Endpoints still being deleted (or failed) in the latency model.
    pub fn deleting(&self) -> Vec<String> {
        let mut names: Vec<String> = self.pending.lock().unwrap().keys().cloned().collect();
        names.sort();
        names
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Ends every held endpoint deletion (they are gone at moto when this
    /// returns) and every node-group update in progress.
    pub fn release(&self) {
        let held: Vec<(String, (String, Vec<u8>))> = self
            .pending
            .lock()
            .unwrap()
            .iter_mut()
            .filter_map(|(name, d)| Some((name.clone(), d.held.take()?)))
            .collect();
        for (name, (head, body)) in held {
            forward(&Request { head, body }, self.upstream).expect("forward a held DeleteEndpoint");
            self.pending.lock().unwrap().remove(&name);
        }
        let now = Instant::now();
        for until in self.updating.lock().unwrap().values_mut() {
            *until = now;
        }
        for (until, _) in self.updates.lock().unwrap().values_mut() {
            *until = now;
        }
        for (until, _) in self.creating.lock().unwrap().values_mut() {
            *until = now;
        }
    }

    /// How many requests whose operation (target, or REST request line) starts with `prefix` it received.
    pub fn count(&self, prefix: &str) -> usize {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, op, _)| op.starts_with(prefix))
            .count()
    }

    /// Node groups (`cluster/group`) the latency model shows `UPDATING` now.
    pub fn updating(&self) -> Vec<String> {
        let now = Instant::now();
        let mut names: Vec<String> = self
            .updating
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }
}

/// A 64-bit LCG step, returning a number in [0, 1).
fn roll(state: &Mutex<u64>) -> f64 {
    let mut s = state.lock().unwrap();
    *s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (*s >> 11) as f64 / (1u64 << 53) as f64
}

struct Request {
    head: String,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Request> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let end = line == "\r\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Request { head, body })
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The error response a throttled or refused request gets, in its protocol's shape.
fn error_response(req: &Request, status: u16, code: &str) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let query = header(&req.head, "content-type").is_some_and(|c| c.contains("x-www-form-urlencoded"));
    let (content_type, body) = if query {
        (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected by the fault proxy</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
            ),
        )
    } else {
        (
            "application/x-amz-json-1.1",
            format!("{{\"__type\":\"{code}\",\"message\":\"injected by the fault proxy\"}}"),
        )
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nx-amzn-ErrorType: {code}\r\nx-amzn-RequestId: fault\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends the request to moto with `Connection: close` and returns its whole response.
fn forward(req: &Request, upstream: u16) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    let mut head: String = req
        .head
        .lines()
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    head.push_str("Connection: close\r\n\r\n");
    up.write_all(head.as_bytes())?;
    up.write_all(&req.body)?;
    // A response ends where its length says, not when moto closes: moto now and then keeps a
    // connection open after `Connection: close`, and a proxy waiting for the close waits forever.
    up.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut reader = BufReader::new(up);
    let mut response = Vec::new();
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(response);
        }
        response.extend_from_slice(line.as_bytes());
        if let Some((k, v)) = line.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = v.trim().parse::<usize>().ok(),
                "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
                _ => {}
            }
        }
        if line == "\r\n" {
            break;
        }
    }
    // A HEAD answer, and a 204 or 304, has no body whatever its Content-Length says.
    let status = String::from_utf8_lossy(&response)
        .split_whitespace()
        .nth(1)
        .map(str::to_owned);
    if req.head.starts_with("HEAD ") || matches!(status.as_deref(), Some("204" | "304")) {
        return Ok(response);
    }
    match (length, chunked) {
        (Some(n), false) => {
            let mut body = vec![0; n];
            reader.read_exact(&mut body)?;
            response.extend_from_slice(&body);
        }
        (_, true) => loop {
            let mut size = String::new();
            if reader.read_line(&mut size)? == 0 {
                break;
            }
            response.extend_from_slice(size.as_bytes());
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            response.extend_from_slice(&chunk);
            if n == 0 {
                break;
            }
        },
        _ => {
            reader.read_to_end(&mut response)?;
        }
    }
    Ok(response)
}

/// The body of a JSON response, de-chunked.
fn response_json(response: &[u8]) -> Option<(String, serde_json::Value)> {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((head.to_owned(), serde_json::from_str(&body).ok()?))
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

/// Rebuilds a response around a new JSON body (Content-Length, no chunking).
fn with_json(head: &str, body: &serde_json::Value) -> Vec<u8> {
    let body = body.to_string();
    let mut lines: Vec<&str> = head
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("content-length:") && !l.starts_with("transfer-encoding:")
        })
        .collect();
    let length = format!("Content-Length: {}", body.len());
    lines.push(&length);
    format!("{}\r\n\r\n{body}", lines.join("\r\n")).into_bytes()
}

/// How the latency model shows one endpoint now: `Deleting`, or `Failed` and why.
fn shown(pending: &Pending, name: &str) -> Option<(&'static str, Option<String>)> {
    let state = pending.lock().unwrap().get(name).cloned()?;
    match state.failure {
        Some(why) if Instant::now() >= state.until => Some(("Failed", Some(why))),
        _ => Some(("Deleting", None)),
    }
}

/// How a model shows one endpoint now: its status and, when Failed, why; `None`: as moto says.
type Shown<'a> = &'a dyn Fn(&str) -> Option<(&'static str, Option<String>)>;

/// A DescribeEndpoint or ListEndpoints answer from moto, with each endpoint's
/// status as the model shows it (`None` when it shows the request's endpoint as moto does).
fn shown_status(req: &Request, upstream: u16, shown: Shown<'_>) -> std::io::Result<Option<Vec<u8>>> {
    let describe = header(&req.head, "x-amz-target") == Some("SageMaker.DescribeEndpoint");
    let asked = serde_json::from_slice::<serde_json::Value>(&req.body)
        .ok()
        .and_then(|v| v["EndpointName"].as_str().map(str::to_owned));
    if describe && asked.as_deref().and_then(shown).is_none() {
        return Ok(None);
    }
    let response = forward(req, upstream)?;
    let Some((head, mut body)) = response_json(&response) else {
        return Ok(Some(response));
    };
    let endpoints: Vec<&mut serde_json::Value> = if describe {
        vec![&mut body]
    } else {
        body["Endpoints"].as_array_mut().into_iter().flatten().collect()
    };
    for e in endpoints {
        let name = e["EndpointName"].as_str().unwrap_or_default().to_owned();
        if let Some((status, why)) = shown(&name) {
            e["EndpointStatus"] = status.into();
            if let Some(why) = why.filter(|_| describe) {
                e["FailureReason"] = why.into();
            }
        }
    }
    Ok(Some(with_json(&head, &body)))
}

/// The latency model's part of a request: `Some(response)` when it answers or rewrites it.
fn endpoint_deletion(
    req: &Request,
    upstream: u16,
    model: &EndpointDeletion,
    pending: &Pending,
) -> std::io::Result<Option<Vec<u8>>> {
    let target = header(&req.head, "x-amz-target").unwrap_or("");
    let name = || {
        serde_json::from_slice::<serde_json::Value>(&req.body)
            .ok()
            .and_then(|v| v["EndpointName"].as_str().map(str::to_owned))
    };
    match target {
        "SageMaker.DeleteEndpoint" => {
            let Some(name) = name() else { return Ok(None) };
            if pending.lock().unwrap().contains_key(&name) {
                return Ok(Some(ok_json("{}")));
            }
            // AWS refuses to delete what does not exist: ask moto first.
            let probe = Request {
                head: req
                    .head
                    .replace("SageMaker.DeleteEndpoint", "SageMaker.DescribeEndpoint"),
                body: req.body.clone(),
            };
            let described = forward(&probe, upstream)?;
            if !String::from_utf8_lossy(&described).starts_with("HTTP/1.1 200") {
                return Ok(None);
            }
            let delay = model.delay_of(&name);
            let failure = model.failure_of(&name);
            let held = (model.hold && failure.is_none()).then(|| (req.head.clone(), req.body.clone()));
            pending.lock().unwrap().insert(
                name.clone(),
                Deleting {
                    until: Instant::now() + delay,
                    failure: failure.clone(),
                    held: held.clone(),
                },
            );
            if failure.is_none() && held.is_none() {
                let (original, pending) = (
                    Request {
                        head: req.head.clone(),
                        body: req.body.clone(),
                    },
                    pending.clone(),
                );
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    let _ = forward(&original, upstream);
                    pending.lock().unwrap().remove(&name);
                });
            }
            Ok(Some(ok_json("{}")))
        }
        "SageMaker.DescribeEndpoint" | "SageMaker.ListEndpoints" if !pending.lock().unwrap().is_empty() => {
            shown_status(req, upstream, &|name| shown(pending, name))
        }
        _ => Ok(None),
    }
}

/// The latency model's part of an EKS node-group request (REST: the request
/// line names it): `Some(response)` when it answers or rewrites it.
fn node_group_update(
    req: &Request,
    upstream: u16,
    (delay, failing): (Duration, &[(String, String)]),
    updating: &Updating,
    updates: &Updates,
) -> std::io::Result<Option<Vec<u8>>> {
    let line = req.head.lines().next().unwrap_or_default();
    let mut words = line.split_whitespace();
    let (method, path) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
    let parts: Vec<&str> = path.split('?').next().unwrap_or_default().split('/').collect();
    // DescribeUpdate: GET /clusters/C/updates/ID?nodegroupName=G
    if let ("GET", ["", "clusters", _, "updates", id]) = (method, parts.as_slice()) {
        let Some((until, failure)) = updates.lock().unwrap().get(*id).cloned() else {
            return Ok(None);
        };
        let (status, errors) = match failure {
            _ if Instant::now() < until => ("InProgress", serde_json::json!([])),
            Some(error) => {
                let (code, message) = error.split_once(": ").unwrap_or(("NodeCreationFailure", &error));
                (
                    "Failed",
                    serde_json::json!([{"errorCode": code, "errorMessage": message, "resourceIds": []}]),
                )
            }
            None => ("Successful", serde_json::json!([])),
        };
        let body =
            serde_json::json!({"update": {"id": id, "status": status, "type": "ConfigUpdate", "errors": errors}});
        return Ok(Some(rest_json(200, &body.to_string())));
    }
    // ["", "clusters", C, "node-groups", G] or [..., G, "update-config"]
    let (cluster, group, rest) = match parts.as_slice() {
        ["", "clusters", c, "node-groups", g, rest @ ..] => (*c, *g, rest),
        _ => return Ok(None),
    };
    let key = format!("{cluster}/{group}");
    let busy = updating
        .lock()
        .unwrap()
        .get(&key)
        .is_some_and(|until| Instant::now() < *until);
    match (method, rest) {
        ("POST", ["update-config"]) => {
            if busy {
                let body = format!(
                    "{{\"message\":\"Nodegroup {group} is currently UPDATING; wait for its update to finish\",\"clusterName\":\"{cluster}\",\"nodegroupName\":\"{group}\"}}"
                );
                return Ok(Some(
                    format!(
                        "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nx-amzn-ErrorType: ResourceInUseException\r\nx-amzn-RequestId: latency-model\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .into_bytes(),
                ));
            }
            let failure = failing.iter().find(|(g, _)| g == group).map(|(_, why)| why.clone());
            let until = Instant::now() + delay;
            // A failing update leaves the node group as it was: moto never sees it.
            let (head, update) = if failure.is_some() {
                let id = format!("failing-{}", updates.lock().unwrap().len());
                (
                    None,
                    serde_json::json!({"id": id, "status": "InProgress", "type": "ConfigUpdate", "errors": []}),
                )
            } else {
                let response = forward(req, upstream)?;
                let Some((head, mut body)) = response_json(&response).filter(|(h, _)| h.starts_with("HTTP/1.1 200"))
                else {
                    return Ok(Some(response));
                };
                body["update"]["status"] = "InProgress".into();
                (Some(head), body["update"].clone())
            };
            let id = update["id"].as_str().unwrap_or_default().to_owned();
            updates.lock().unwrap().insert(id, (until, failure));
            updating.lock().unwrap().insert(key, until);
            let body = serde_json::json!({"update": update});
            Ok(Some(match head {
                Some(head) => with_json(&head, &body),
                None => rest_json(200, &body.to_string()),
            }))
        }
        ("GET", []) if busy => {
            let response = forward(req, upstream)?;
            let Some((head, mut body)) = response_json(&response) else {
                return Ok(Some(response));
            };
            body["nodegroup"]["status"] = "UPDATING".into();
            Ok(Some(with_json(&head, &body)))
        }
        _ => Ok(None),
    }
}

/// A REST-JSON answer of the latency model.
fn rest_json(status: u16, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nx-amzn-RequestId: latency-model\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// How the creation model shows one endpoint now: `Creating`, or `Failed` and why; `None` once it is InService.
fn created(creating: &Creating, name: &str) -> Option<(&'static str, Option<String>)> {
    let (until, failure) = creating.lock().unwrap().get(name).cloned()?;
    match failure {
        _ if Instant::now() < until => Some(("Creating", None)),
        Some(why) => Some(("Failed", Some(why))),
        None => None,
    }
}

/// The creation model's part of a SageMaker request: CreateEndpoint goes to
/// moto, and the endpoint then shows `Creating` in DescribeEndpoint and
/// ListEndpoints for the delay, then `InService` or `Failed` with its reason.
fn endpoint_creation(
    req: &Request,
    upstream: u16,
    model: &EndpointCreation,
    creating: &Creating,
) -> std::io::Result<Option<Vec<u8>>> {
    let target = header(&req.head, "x-amz-target").unwrap_or("");
    let name = || {
        serde_json::from_slice::<serde_json::Value>(&req.body)
            .ok()
            .and_then(|v| v["EndpointName"].as_str().map(str::to_owned))
    };
    match target {
        "SageMaker.CreateEndpoint" => {
            let Some(name) = name() else { return Ok(None) };
            let response = forward(req, upstream)?;
            if String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200") {
                let failure = model.fail.iter().find(|(n, _)| *n == name).map(|(_, why)| why.clone());
                creating
                    .lock()
                    .unwrap()
                    .insert(name, (Instant::now() + model.delay, failure));
            }
            Ok(Some(response))
        }
        "SageMaker.DescribeEndpoint" | "SageMaker.ListEndpoints" if !creating.lock().unwrap().is_empty() => {
            shown_status(req, upstream, &|name| created(creating, name))
        }
        _ => Ok(None),
    }
}

/// The dependency model's part of an EC2 request: DeleteSecurityGroup is
/// refused with DependencyViolation until `delay` after the first attempt on
/// that group, as AWS refuses while another group's rule or a network
/// interface of a just-deleted load balancer still refers to it (EC2 API
/// reference, DeleteSecurityGroup: "If you attempt to delete a security group
/// that is associated with an instance or network interface, is referenced by
/// another security group in the same VPC, … the operation fails with
/// DependencyViolation").
fn sg_dependency(req: &Request, delay: Duration, first_tries: &Tries) -> Option<Vec<u8>> {
    let body = String::from_utf8_lossy(&req.body);
    if !body.contains("Action=DeleteSecurityGroup") {
        return None;
    }
    let group = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("GroupId="))
        .unwrap_or_default()
        .to_owned();
    let first = *first_tries
        .lock()
        .unwrap()
        .entry(group.clone())
        .or_insert_with(Instant::now);
    if first.elapsed() >= delay {
        return None;
    }
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>DependencyViolation</Code>\
         <Message>resource {group} has a dependent object</Message></Error></Errors><RequestID>latency-model</RequestID></Response>"
    );
    Some(
        format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// The job kinds of the model, as SageMaker's operations and fields name them.
const JOB_KINDS: [&str; 4] = [
    "TrainingJob",
    "ProcessingJob",
    "TransformJob",
    "HyperParameterTuningJob",
];

/// Reads every job moto holds (List…Jobs, every page, unsigned), before any
/// request is served: the jobs the model runs. A job created later is not modelled.
fn read_jobs(upstream: u16) -> HashMap<String, Vec<serde_json::Value>> {
    let mut known = HashMap::new();
    for kind in JOB_KINDS {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = serde_json::json!({"MaxResults": 100});
            if let Some(t) = &token {
                body["NextToken"] = t.clone().into();
            }
            let Some(page) = unsigned(upstream, "sagemaker", &format!("SageMaker.List{kind}s"), &body) else {
                break;
            };
            all.extend(page[format!("{kind}Summaries")].as_array().cloned().unwrap_or_default());
            token = page["NextToken"].as_str().filter(|t| !t.is_empty()).map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        known.insert(kind.to_owned(), all);
    }
    known
}

/// A job's status in the model: `InProgress` until stopped, then `Stopping` until its time is up.
fn job_status(jobs: &Jobs, key: &str) -> &'static str {
    match jobs.lock().unwrap().stopped.get(key) {
        None => "InProgress",
        Some(until) if Instant::now() < *until => "Stopping",
        Some(_) => "Stopped",
    }
}

/// A 400 ValidationException in SageMaker's JSON shape.
fn validation(message: &str) -> Vec<u8> {
    let body = format!("{{\"__type\":\"ValidationException\",\"message\":\"{message}\"}}");
    format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: ValidationException\r\nx-amzn-RequestId: latency-model\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The job model's part of a SageMaker request: `Some(response)` when it
/// answers or rewrites it. Every request is first sent to moto as it came
/// (signed), so that moto's IAM enforcement judges it; the model then answers
/// for the jobs it runs.
fn job_stop(req: &Request, upstream: u16, delay: Duration, jobs: &Jobs) -> std::io::Result<Option<Vec<u8>>> {
    let target = header(&req.head, "x-amz-target").unwrap_or("");
    let Some(operation) = target.strip_prefix("SageMaker.") else {
        return Ok(None);
    };
    let Some(kind) = JOB_KINDS
        .iter()
        .find(|k| [format!("Stop{k}"), format!("Describe{k}"), format!("List{k}s")].contains(&operation.to_owned()))
    else {
        return Ok(None);
    };
    let request: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let name = request[format!("{kind}Name")].as_str().unwrap_or_default().to_owned();
    let key = format!("{kind}/{name}");
    let response = forward(req, upstream)?;
    let status_line = String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let known = |name: &str| {
        jobs.lock()
            .unwrap()
            .known
            .get(*kind)
            .is_some_and(|all| all.iter().any(|j| j[format!("{kind}Name")] == name))
    };
    if operation.starts_with("Stop") {
        // Denied, or refused by moto (a missing processing job): as moto answered.
        // Otherwise moto's answer (200, or 500 where it has no Stop call) is replaced by the model's.
        if status_line.contains(" 4") {
            return Ok(Some(response));
        }
        if !known(&name) {
            return Ok(Some(validation(&format!("Could not find job {name}."))));
        }
        if job_status(jobs, &key) != "InProgress" {
            return Ok(Some(validation(&format!("The job {name} is not in progress."))));
        }
        jobs.lock().unwrap().stopped.insert(key, Instant::now() + delay);
        return Ok(Some(ok_json("{}")));
    }
    if !status_line.contains(" 200") {
        return Ok(Some(response));
    }
    let Some((head, mut body)) = response_json(&response) else {
        return Ok(Some(response));
    };
    if operation.starts_with("Describe") {
        if known(&name) {
            body[format!("{kind}Status")] = job_status(jobs, &key).into();
        }
        return Ok(Some(with_json(&head, &body)));
    }
    // List…Jobs: moto filters by its own status (Completed); the model lists its jobs by theirs, on one page.
    let contains = request["NameContains"].as_str().unwrap_or_default();
    let wanted = request["StatusEquals"].as_str();
    let all = jobs.lock().unwrap().known.get(*kind).cloned().unwrap_or_default();
    let shown: Vec<serde_json::Value> = all
        .into_iter()
        .filter_map(|mut j| {
            let name = j[format!("{kind}Name")].as_str().unwrap_or_default().to_owned();
            let status = job_status(jobs, &format!("{kind}/{name}"));
            j[format!("{kind}Status")] = status.into();
            (name.contains(contains) && wanted.is_none_or(|w| w == status)).then_some(j)
        })
        .collect();
    body[format!("{kind}Summaries")] = serde_json::Value::Array(shown);
    if let Some(o) = body.as_object_mut() {
        o.remove("NextToken");
    }
    Ok(Some(with_json(&head, &body)))
}

/// One JSON request to moto without a signature (moto checks none unless IAM is
/// enforced): its answer's body, or `None` when it failed.
fn unsigned(upstream: u16, service: &str, target: &str, body: &serde_json::Value) -> Option<serde_json::Value> {
    let body = body.to_string();
    // moto takes the region and the account from the credential scope.
    let head = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{upstream}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: {target}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let response = forward(
        &Request {
            head,
            body: body.into_bytes(),
        },
        upstream,
    )
    .ok()?;
    response_json(&response).map(|(_, v)| v)
}

const GET_RESOURCES: &str = "ResourceGroupsTaggingAPI_20170126.GetResources";

/// Reads the whole Tagging API once (every page), before the first request is served.
fn remember(remembered: &Remembered, upstream: u16) {
    let mut memory = remembered.lock().unwrap();
    if memory.is_some() {
        return;
    }
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let body = serde_json::json!({"ResourcesPerPage": 100, "PaginationToken": token});
        let Some(page) = unsigned(upstream, "tagging", GET_RESOURCES, &body) else {
            break;
        };
        all.extend(page["ResourceTagMappingList"].as_array().cloned().unwrap_or_default());
        token = page["PaginationToken"].as_str().unwrap_or_default().to_owned();
        if token.is_empty() {
            break;
        }
    }
    *memory = Some(all);
}

/// The lag's part of a GetResources: the last page also lists what the first
/// reading held, moto no longer lists, and the request's tag filters match.
fn tagging_lag(req: &Request, upstream: u16, remembered: &Remembered) -> std::io::Result<Option<Vec<u8>>> {
    if header(&req.head, "x-amz-target") != Some(GET_RESOURCES) {
        return Ok(None);
    }
    let response = forward(req, upstream)?;
    let Some((head, mut body)) = response_json(&response) else {
        return Ok(Some(response));
    };
    if !body["PaginationToken"].as_str().unwrap_or_default().is_empty() {
        return Ok(Some(response));
    }
    let request: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let filters = request["TagFilters"].as_array().cloned().unwrap_or_default();
    let matches = |mapping: &serde_json::Value| {
        let tags = mapping["Tags"].as_array().cloned().unwrap_or_default();
        filters.iter().all(|f| {
            let values = f["Values"].as_array().cloned().unwrap_or_default();
            tags.iter()
                .any(|t| t["Key"] == f["Key"] && (values.is_empty() || values.contains(&t["Value"])))
        })
    };
    let listed: Vec<serde_json::Value> = body["ResourceTagMappingList"].as_array().cloned().unwrap_or_default();
    let ghosts: Vec<serde_json::Value> = remembered
        .lock()
        .unwrap()
        .iter()
        .flatten()
        .filter(|m| matches(m) && !listed.iter().any(|l| l["ResourceARN"] == m["ResourceARN"]))
        .cloned()
        .collect();
    if ghosts.is_empty() {
        return Ok(Some(response));
    }
    let mut all = listed;
    all.extend(ghosts);
    body["ResourceTagMappingList"] = serde_json::Value::Array(all);
    Ok(Some(with_json(&head, &body)))
}

fn ok_json(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: latency-model\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Whether the request's target header, request line (REST APIs such as EKS:
/// `GET /clusters/C/node-groups/G`) or body contains `needle`.
fn names(req: &Request, needle: &str) -> bool {
    header(&req.head, "x-amz-target").is_some_and(|t| t.contains(needle))
        || req.head.lines().next().is_some_and(|line| line.contains(needle))
        || String::from_utf8_lossy(&req.body).contains(needle)
}

/// The latency models' state, shared by the proxy's threads.
#[derive(Clone, Copy)]
struct Models<'a> {
    pending: &'a Pending,
    updating: &'a Updating,
    remembered: &'a Remembered,
    jobs: &'a Jobs,
    tries: &'a Tries,
    updates: &'a Updates,
    creating: &'a Creating,
}

#[allow(clippy::too_many_arguments)]
fn serve(
    stream: TcpStream,
    upstream: u16,
    faults: &Faults,
    dice: &Mutex<u64>,
    injected: &AtomicU64,
    forwarded: &AtomicU64,
    models: Models<'_>,
    received: &Mutex<Vec<(Instant, String, String)>>,
) -> std::io::Result<()> {
    let Models {
        pending,
        updating,
        remembered,
        jobs,
        tries,
        updates,
        creating,
    } = models;
    let mut reader = BufReader::new(stream.try_clone()?);
    let req = read_request(&mut reader)?;
    if faults.tagging_lag {
        remember(remembered, upstream);
    }
    let operation = header(&req.head, "x-amz-target")
        .map(|t| t.rsplit('.').next().unwrap_or(t).to_owned())
        .unwrap_or_else(|| req.head.lines().next().unwrap_or_default().to_owned());
    received.lock().unwrap().push((
        Instant::now(),
        operation,
        String::from_utf8_lossy(&req.body).into_owned(),
    ));
    let mut out = stream;
    if let Some(model) = &faults.endpoint_deletion
        && let Some(response) = endpoint_deletion(&req, upstream, model, pending)?
    {
        forwarded.fetch_add(1, Ordering::Relaxed);
        return out.write_all(&response);
    }
    if let Some(delay) = faults.node_group_update
        && let Some(response) =
            node_group_update(&req, upstream, (delay, &faults.node_group_failure), updating, updates)?
    {
        forwarded.fetch_add(1, Ordering::Relaxed);
        return out.write_all(&response);
    }
    if let Some(model) = &faults.endpoint_creation
        && let Some(response) = endpoint_creation(&req, upstream, model, creating)?
    {
        forwarded.fetch_add(1, Ordering::Relaxed);
        return out.write_all(&response);
    }
    if let Some(delay) = faults.sg_dependency
        && let Some(response) = sg_dependency(&req, delay, tries)
    {
        return out.write_all(&response);
    }
    if let Some(delay) = faults.job_stop
        && let Some(response) = job_stop(&req, upstream, delay, jobs)?
    {
        forwarded.fetch_add(1, Ordering::Relaxed);
        return out.write_all(&response);
    }
    if faults.tagging_lag
        && let Some(response) = tagging_lag(&req, upstream, remembered)?
    {
        forwarded.fetch_add(1, Ordering::Relaxed);
        return out.write_all(&response);
    }
    if let Some((needle, hook)) = &faults.before_first
        && names(&req, needle)
    {
        hook.fire();
    }
    if let Some((needle, status, code)) = faults.always
        && names(&req, needle)
    {
        injected.fetch_add(1, Ordering::Relaxed);
        return out.write_all(&error_response(&req, status, code));
    }
    let r = roll(dice);
    let share = faults.rate / 3.0;
    let fault = if r < share {
        Some(error_response(&req, 503, "ServiceUnavailable"))
    } else if r < 2.0 * share {
        let query = header(&req.head, "content-type").is_some_and(|c| c.contains("x-www-form-urlencoded"));
        let json = header(&req.head, "x-amz-target").is_some();
        Some(match (query, json) {
            (true, _) => error_response(&req, 400, "Throttling"),
            (_, true) => error_response(&req, 400, "ThrottlingException"),
            _ => error_response(&req, 429, "ThrottlingException"),
        })
    } else {
        None
    };
    if let Some(response) = fault {
        injected.fetch_add(1, Ordering::Relaxed);
        return out.write_all(&response);
    }
    std::thread::sleep(faults.latency);
    let response = forward(&req, upstream)?;
    forwarded.fetch_add(1, Ordering::Relaxed);
    if r < 3.0 * share {
        // Done upstream, lost on the way back.
        injected.fetch_add(1, Ordering::Relaxed);
        return out.write_all(&error_response(&req, 500, "InternalFailure"));
    }
    out.write_all(&response)
}
