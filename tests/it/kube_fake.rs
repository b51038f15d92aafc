//! A small fake of the Kubernetes namespace API (no API server can be
//! installed here), shared by the tests and `xtask demo` by path.
//!
//! It serves `GET/DELETE /api/v1/namespaces/{name}` and the namespace list
//! over plain HTTP on loopback, answering as a real API server does. A
//! deleted namespace goes Active → Terminating (with `deletionTimestamp`, and
//! the `NamespaceContentRemaining` / `NamespaceFinalizersRemaining`
//! conditions the namespace controller sets) → gone after a settable time, or
//! stays Terminating when held (a stuck finalizer). A DELETE of a namespace
//! that is already Terminating gets 409 Conflict, as the API server answers
//! while the namespace's finalizers remain (kubernetes/kubernetes#61576;
//! the message is the namespace lifecycle admission plugin's); the fake logs
//! each one.
//!
//! It also serves `GET /api/v1/persistentvolumes`. A PersistentVolume bound
//! to a claim in a namespace outlives that namespace: with reclaimPolicy
//! Delete the EBS CSI driver deletes its volume some time after the claim is
//! gone (settable, 1 s by default), then the external provisioner removes the
//! PersistentVolume (kubernetes-csi/external-provisioner: the PV is deleted
//! once DeleteVolume succeeded); with Retain it stays, `Released`
//! (Kubernetes docs, Persistent Volumes, Reclaiming). A test can give the
//! driver's deletion of the volume itself (`on_volume_deleted`). Std only.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
struct Namespace {
    labels: BTreeMap<String, String>,
    /// None: Active. Some(None): Terminating and held. Some(Some(t)): Terminating, gone at t.
    terminating: Option<Option<Instant>>,
}

#[derive(Debug, Clone)]
struct Volume {
    namespace: String,
    claim: String,
    reclaim: String,
    volume_id: String,
    /// Bound while its claim's namespace exists; then `Released` (Retain), or deleted at this time (Delete).
    released: Option<Instant>,
    /// The driver is deleting its volume now.
    deleting: bool,
}

/// What the EBS CSI driver does to a volume it deletes (a test's hook).
pub type VolumeDeleted = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Default)]
struct State {
    volumes: BTreeMap<String, Volume>,
    /// How long after its namespace is gone a Delete volume goes.
    volume_lag: Duration,
    on_volume_deleted: Option<VolumeDeleted>,
    namespaces: BTreeMap<String, Namespace>,
    /// How long a deleted namespace stays Terminating.
    termination: Duration,
    held: Vec<String>,
    requests: Vec<(Instant, String)>,
    /// Every 409 Conflict served, as `DELETE name`.
    conflicts: Vec<String>,
    /// When each namespace was finally removed.
    removed: BTreeMap<String, Instant>,
}

impl State {
    /// Removes the namespaces whose termination time has passed.
    fn settle(&mut self) {
        let now = Instant::now();
        let done: Vec<String> = self
            .namespaces
            .iter()
            .filter(|(_, ns)| matches!(ns.terminating, Some(Some(at)) if at <= now))
            .map(|(n, _)| n.clone())
            .collect();
        for name in done {
            self.namespaces.remove(&name);
            self.removed.insert(name, now);
        }
        let lag = self.volume_lag;
        for v in self.volumes.values_mut() {
            if v.released.is_none() && !self.namespaces.contains_key(&v.namespace) {
                v.released = Some(now + lag);
            }
        }
    }

    /// The Delete volumes whose time has come and that the driver is not deleting yet: marked deleting.
    fn due(&mut self) -> Vec<(String, String)> {
        let now = Instant::now();
        self.volumes
            .iter_mut()
            .filter(|(_, v)| v.reclaim != "Retain" && !v.deleting && v.released.is_some_and(|at| at <= now))
            .map(|(name, v)| {
                v.deleting = true;
                (name.clone(), v.volume_id.clone())
            })
            .collect()
    }
}

/// The driver's work on the volumes due: the volume deleted (the hook), then the PersistentVolume removed.
fn reclaim(state: &Arc<Mutex<State>>) {
    let (due, hook) = {
        let mut s = state.lock().unwrap();
        s.settle();
        (s.due(), s.on_volume_deleted.clone())
    };
    for (name, volume_id) in due {
        let (state, hook) = (state.clone(), hook.clone());
        std::thread::spawn(move || {
            if let Some(hook) = hook {
                hook(&volume_id);
            }
            state.lock().unwrap().volumes.remove(&name);
        });
    }
}

/// The running fake; stops on drop.
pub struct KubeFake {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl KubeFake {
    pub fn start() -> std::io::Result<KubeFake> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(Mutex::new(State {
            termination: Duration::from_millis(300),
            volume_lag: Duration::from_secs(1),
            ..Default::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let state = state.clone();
                        std::thread::spawn(move || {
                            reclaim(&state);
                            let _ = serve(stream, &state);
                        });
                    }
                }
            })
        };
        Ok(KubeFake {
            port,
            state,
            stop,
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn add_namespace(&self, name: &str, protected: bool) {
        let mut labels = BTreeMap::new();
        labels.insert("kubernetes.io/metadata.name".to_owned(), name.to_owned());
        if protected {
            labels.insert("sundown.io/protect".to_owned(), "true".to_owned());
        }
        self.state.lock().unwrap().namespaces.insert(
            name.to_owned(),
            Namespace {
                labels,
                terminating: None,
            },
        );
    }

    /// A PersistentVolume bound to `namespace/claim`, backed by the EBS volume `volume_id`,
    /// with reclaimPolicy `reclaim` (`Delete` or `Retain`).
    pub fn add_volume(&self, name: &str, (namespace, claim): (&str, &str), reclaim: &str, volume_id: &str) {
        self.state.lock().unwrap().volumes.insert(
            name.to_owned(),
            Volume {
                namespace: namespace.to_owned(),
                claim: claim.to_owned(),
                reclaim: reclaim.to_owned(),
                volume_id: volume_id.to_owned(),
                released: None,
                deleting: false,
            },
        );
    }

    /// How long after its namespace is gone a Delete volume goes (default 1 s).
    pub fn set_volume_lag(&self, lag: Duration) {
        self.state.lock().unwrap().volume_lag = lag;
    }

    /// What the EBS CSI driver does to a volume it deletes, before the PersistentVolume goes.
    pub fn on_volume_deleted(&self, hook: VolumeDeleted) {
        self.state.lock().unwrap().on_volume_deleted = Some(hook);
    }

    /// The PersistentVolumes there are now.
    pub fn volumes(&self) -> Vec<String> {
        reclaim(&self.state);
        self.state.lock().unwrap().volumes.keys().cloned().collect()
    }

    /// Keeps `name` in Terminating forever once deleted, like a stuck finalizer.
    pub fn hold_terminating(&self, name: &str) {
        self.state.lock().unwrap().held.push(name.to_owned());
    }

    /// Ends a held termination: `name`, if Terminating, is gone from now on.
    pub fn release(&self, name: &str) {
        let mut state = self.state.lock().unwrap();
        state.held.retain(|n| n != name);
        if let Some(ns) = state.namespaces.get_mut(name)
            && ns.terminating.is_some()
        {
            ns.terminating = Some(Some(Instant::now()));
        }
    }

    /// How long a deleted namespace stays Terminating (default 300 ms).
    pub fn set_termination(&self, time: Duration) {
        self.state.lock().unwrap().termination = time;
    }

    /// Every 409 Conflict the fake answered (a DELETE of a Terminating namespace).
    pub fn conflicts(&self) -> Vec<String> {
        self.state.lock().unwrap().conflicts.clone()
    }

    /// When `name` was removed (its termination finished), if it was.
    pub fn removed_at(&self, name: &str) -> Option<Instant> {
        let mut state = self.state.lock().unwrap();
        state.settle();
        state.removed.get(name).copied()
    }

    /// The namespaces that exist now, with their phase.
    pub fn namespaces(&self) -> Vec<(String, String)> {
        let mut state = self.state.lock().unwrap();
        state.settle();
        state
            .namespaces
            .iter()
            .map(|(name, ns)| (name.clone(), phase(ns).to_owned()))
            .collect()
    }

    /// Every request served, as `METHOD /path`.
    pub fn requests(&self) -> Vec<String> {
        self.requests_at().into_iter().map(|(_, r)| r).collect()
    }

    /// Every request served, with when it arrived: to order it against the fault proxy's log.
    pub fn requests_at(&self) -> Vec<(Instant, String)> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Writes a kubeconfig that points at this fake.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(
            path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
                 users:\n- name: fake\n  user:\n    token: fake-token\n\
                 contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n\
                 current-context: fake\n",
                self.url()
            ),
        )
    }
}

impl Drop for KubeFake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn phase(ns: &Namespace) -> &'static str {
    if ns.terminating.is_some() {
        "Terminating"
    } else {
        "Active"
    }
}

/// The conditions the namespace controller sets while content and finalizers remain
/// (`NamespaceContentRemaining`, `NamespaceFinalizersRemaining`), as a stuck namespace shows them.
const TERMINATING_CONDITIONS: &str = ",\"conditions\":[\
    {\"type\":\"NamespaceContentRemaining\",\"status\":\"True\",\"reason\":\"SomeResourcesRemain\",\
    \"message\":\"Some resources are remaining: persistentvolumeclaims. has 1 resource instances, pods. has 2 resource instances\",\
    \"lastTransitionTime\":\"2026-01-01T00:00:00Z\"},\
    {\"type\":\"NamespaceFinalizersRemaining\",\"status\":\"True\",\"reason\":\"SomeFinalizersRemain\",\
    \"message\":\"Some content in the namespace has finalizers remaining: kubernetes.io/pvc-protection in 1 resource instances\",\
    \"lastTransitionTime\":\"2026-01-01T00:00:00Z\"}]";

fn namespace_json(name: &str, ns: &Namespace) -> String {
    let labels: Vec<String> = ns.labels.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
    let (deletion, conditions) = if ns.terminating.is_some() {
        (
            ",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"",
            TERMINATING_CONDITIONS,
        )
    } else {
        ("", "")
    };
    format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{{\"name\":{name:?},\"uid\":\"uid-{name}\",\
         \"resourceVersion\":\"1\",\"labels\":{{{}}}{deletion}}},\"spec\":{{\"finalizers\":[\"kubernetes\"]}},\
         \"status\":{{\"phase\":\"{}\"{conditions}}}}}",
        labels.join(","),
        phase(ns)
    )
}

fn volume_json(name: &str, v: &Volume) -> String {
    let phase = if v.released.is_some() { "Released" } else { "Bound" };
    format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{{\"name\":{name:?},\"uid\":\"uid-{name}\"}},\
         \"spec\":{{\"capacity\":{{\"storage\":\"100Gi\"}},\"accessModes\":[\"ReadWriteOnce\"],\
         \"claimRef\":{{\"kind\":\"PersistentVolumeClaim\",\"namespace\":{:?},\"name\":{:?}}},\
         \"persistentVolumeReclaimPolicy\":{:?},\"storageClassName\":\"gp3\",\
         \"csi\":{{\"driver\":\"ebs.csi.aws.com\",\"volumeHandle\":{:?}}}}},\
         \"status\":{{\"phase\":\"{phase}\"}}}}",
        v.namespace, v.claim, v.reclaim, v.volume_id
    )
}

/// The API server's answer to a DELETE of a namespace that is already terminating.
fn conflict(name: &str) -> (u16, String) {
    (
        409,
        format!(
            "{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\"status\":\"Failure\",\
             \"message\":\"Operation cannot be fulfilled on namespaces \\\"{name}\\\": The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.\",\
             \"reason\":\"Conflict\",\"details\":{{\"name\":{name:?},\"kind\":\"namespaces\"}},\"code\":409}}"
        ),
    )
}

fn not_found(name: &str) -> (u16, String) {
    (
        404,
        format!(
            "{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\"status\":\"Failure\",\
             \"message\":\"namespaces \\\"{name}\\\" not found\",\"reason\":\"NotFound\",\
             \"details\":{{\"name\":{name:?},\"kind\":\"namespaces\"}},\"code\":404}}"
        ),
    )
}

fn route(state: &Mutex<State>, method: &str, path: &str) -> (u16, String) {
    let mut state = state.lock().unwrap();
    state.requests.push((Instant::now(), format!("{method} {path}")));
    state.settle();
    let path = path.split('?').next().unwrap_or(path);
    if path == "/api/v1/persistentvolumes" && method == "GET" {
        let items: Vec<String> = state.volumes.iter().map(|(n, v)| volume_json(n, v)).collect();
        return (
            200,
            format!(
                "{{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeList\",\"metadata\":{{}},\"items\":[{}]}}",
                items.join(",")
            ),
        );
    }
    if path == "/api/v1/namespaces" && method == "GET" {
        let items: Vec<String> = state.namespaces.iter().map(|(n, ns)| namespace_json(n, ns)).collect();
        return (
            200,
            format!(
                "{{\"apiVersion\":\"v1\",\"kind\":\"NamespaceList\",\"metadata\":{{}},\"items\":[{}]}}",
                items.join(",")
            ),
        );
    }
    let Some(name) = path.strip_prefix("/api/v1/namespaces/").filter(|n| !n.contains('/')) else {
        return (404, "{\"kind\":\"Status\",\"code\":404,\"reason\":\"NotFound\",\"message\":\"the fake serves namespaces only\"}".into());
    };
    let name = name.to_owned();
    let until = (!state.held.contains(&name)).then(|| Instant::now() + state.termination);
    match method {
        "GET" => match state.namespaces.get(&name) {
            Some(ns) => (200, namespace_json(&name, ns)),
            None => not_found(&name),
        },
        "DELETE" => {
            let Some(ns) = state.namespaces.get_mut(&name) else {
                return not_found(&name);
            };
            if ns.terminating.is_some() {
                state.conflicts.push(format!("DELETE {name}"));
                return conflict(&name);
            }
            ns.terminating = Some(until);
            (200, namespace_json(&name, ns))
        }
        _ => (
            405,
            "{\"kind\":\"Status\",\"code\":405,\"reason\":\"MethodNotAllowed\"}".into(),
        ),
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method.is_empty() {
        return Ok(());
    }
    let (status, body) = route(state, method, path);
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
