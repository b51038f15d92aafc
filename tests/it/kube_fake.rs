//! A small fake of the Kubernetes namespace API (no API server can be
//! installed here), shared by the tests and `xtask demo` by path.
//!
//! It serves `GET/DELETE /api/v1/namespaces/{name}` and the namespace list
//! over plain HTTP on loopback. A deleted namespace goes Active → Terminating
//! → gone after a number of reads, or stays Terminating when held. Std only.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

#[derive(Debug, Clone)]
struct Namespace {
    labels: BTreeMap<String, String>,
    /// None: Active. Some(n): Terminating, gone after n more reads (u32::MAX: held).
    terminating: Option<u32>,
}

#[derive(Default)]
struct State {
    namespaces: BTreeMap<String, Namespace>,
    /// Reads a deleted namespace stays Terminating for.
    terminating_reads: u32,
    held: Vec<String>,
    requests: Vec<String>,
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
            terminating_reads: 2,
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

    /// Keeps `name` in Terminating forever once deleted, like a stuck finalizer.
    pub fn hold_terminating(&self, name: &str) {
        self.state.lock().unwrap().held.push(name.to_owned());
    }

    /// How many reads a deleted namespace stays Terminating (default 2).
    pub fn set_terminating_reads(&self, reads: u32) {
        self.state.lock().unwrap().terminating_reads = reads;
    }

    /// The namespaces that exist now, with their phase.
    pub fn namespaces(&self) -> Vec<(String, String)> {
        let state = self.state.lock().unwrap();
        state
            .namespaces
            .iter()
            .map(|(name, ns)| (name.clone(), phase(ns).to_owned()))
            .collect()
    }

    /// Every request served, as `METHOD /path`.
    pub fn requests(&self) -> Vec<String> {
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

fn namespace_json(name: &str, ns: &Namespace) -> String {
    let labels: Vec<String> = ns.labels.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
    let deletion = if ns.terminating.is_some() {
        ",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\""
    } else {
        ""
    };
    format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{{\"name\":{name:?},\"uid\":\"uid-{name}\",\
         \"resourceVersion\":\"1\",\"labels\":{{{}}}{deletion}}},\"spec\":{{\"finalizers\":[\"kubernetes\"]}},\
         \"status\":{{\"phase\":\"{}\"}}}}",
        labels.join(","),
        phase(ns)
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
    state.requests.push(format!("{method} {path}"));
    let path = path.split('?').next().unwrap_or(path);
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
    let terminating_reads = state.terminating_reads;
    let held = state.held.contains(&name);
    match method {
        "GET" => {
            let Some(ns) = state.namespaces.get_mut(&name) else {
                return not_found(&name);
            };
            match ns.terminating {
                Some(0) => {
                    state.namespaces.remove(&name);
                    not_found(&name)
                }
                Some(n) => {
                    if n != u32::MAX {
                        ns.terminating = Some(n - 1);
                    }
                    (200, namespace_json(&name, ns))
                }
                None => (200, namespace_json(&name, ns)),
            }
        }
        "DELETE" => {
            let Some(ns) = state.namespaces.get_mut(&name) else {
                return not_found(&name);
            };
            if ns.terminating.is_none() {
                ns.terminating = Some(if held { u32::MAX } else { terminating_reads });
            }
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
