//! The one place that runs the `terraform` binary, through duct.
//!
//! Owns argument vectors (never a shell string), the environment Terraform
//! runs with, how it is started, watched and stopped, the state it reads
//! back, and errors that keep the child's stderr. It decides nothing about
//! phases; `phases::terraform` does.
//!
//! Terraform never writes to a pipe that depends on sundown being alive: its
//! stdout and stderr are files, read as they grow. A Terraform whose reader
//! died would get SIGPIPE at its next line ("Interrupt received…") and could
//! die halfway through rewriting its state. Each run is spawned and waited
//! for on a thread of its own (PR_SET_PDEATHSIG fires when the spawning
//! *thread* exits), in a process group of its own (a terminal's Ctrl-C
//! reaches sundown, which decides), and is stopped the way Terraform expects:
//! one SIGINT to its process group, as a terminal sends, then a wait.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use crate::cancel::{Level, Stop};

mod backend;
use crate::config;
use crate::exit::refuse;

/// How often a running Terraform's output files are read.
const POLL: Duration = Duration::from_millis(100);
/// A line of progress at least this often while Terraform runs silently.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// A Terraform root module and how to run Terraform in it.
#[derive(Debug, Clone)]
pub struct Terraform {
    pub binary: String,
    pub dir: PathBuf,
    pub workspace: Option<String>,
    pub var_files: Vec<PathBuf>,
    /// `-backend-config` files, relative to `dir`.
    pub backend_config: Vec<PathBuf>,
    pub lock_timeout: Duration,
    /// Bound of `terraform destroy`; on expiry it is stopped as on a cancel.
    pub timeout: Duration,
}

/// What a finished Terraform command printed, and whether sundown stopped it.
#[derive(Debug)]
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub stopped: Option<Stopped>,
}

/// Why sundown stopped a running Terraform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The run was asked to stop (SIGINT or SIGTERM to sundown).
    Signal,
    /// `terraform.timeout` passed.
    Timeout,
}

/// How a long-running command is watched: when to stop it, and who reads its lines.
pub struct Watch<'a> {
    pub stop: &'a Stop,
    pub limit: Duration,
    /// Called with each stdout line as soon as Terraform has written it.
    pub on_line: &'a mut (dyn FnMut(&str) + Send),
}

impl Terraform {
    pub fn new(cfg: &config::Terraform) -> Terraform {
        Terraform {
            binary: cfg.binary.clone(),
            dir: cfg.dir.clone(),
            workspace: cfg.workspace.clone(),
            var_files: cfg.var_files.clone(),
            backend_config: cfg.backend_config.clone(),
            lock_timeout: cfg.lock_timeout,
            timeout: cfg.timeout,
        }
    }

    /// Pre-flight: the directory and backend files exist and the binary runs. Every failure is a refusal.
    pub fn check(&self) -> Result<String> {
        if !self.dir.is_dir() {
            return Err(refuse(format!(
                "terraform.dir {} is not a directory; fix terraform.dir in sundown.yaml",
                self.dir.display()
            )));
        }
        if let Some(missing) = self.backend_config.iter().find(|f| !self.dir.join(f).is_file()) {
            return Err(refuse(format!(
                "terraform.backend_config {} does not exist in {}; fix the path (it is relative to terraform.dir)",
                missing.display(),
                self.dir.display()
            )));
        }
        let cannot_run = |e: &dyn std::fmt::Display| {
            refuse(format!(
                "cannot run terraform binary {:?} ({e}); install Terraform or set terraform.binary in sundown.yaml",
                self.binary
            ))
        };
        let out = self.run(&["version"]).map_err(|e| cannot_run(&format!("{e:#}")))?;
        let first = out.stdout.lines().next().unwrap_or("").trim().to_owned();
        if !out.success || !first.starts_with("Terraform") {
            return Err(refuse(format!(
                "{:?} is not a working terraform binary ({first}); set terraform.binary in sundown.yaml",
                self.binary
            )));
        }
        Ok(first)
    }

    /// Runs terraform with `args` in the module directory and returns what it printed.
    pub fn run(&self, args: &[&str]) -> Result<Output> {
        self.execute(args.iter().map(OsString::from).collect(), None)
    }

    /// `terraform init -input=false` with the backend config files; an error carries Terraform's own message.
    pub fn init(&self) -> Result<()> {
        let mut args: Vec<OsString> = ["init", "-input=false", "-no-color"].map(OsString::from).into();
        for file in &self.backend_config {
            let mut arg = OsString::from("-backend-config=");
            arg.push(file.as_os_str());
            args.push(arg);
        }
        let out = self.execute(args, None)?;
        if !out.success {
            anyhow::bail!("terraform init failed: {}", last_lines(&out.stderr, &out.stdout));
        }
        Ok(())
    }

    /// The state as the backend holds it (`terraform state pull`); it does not lock.
    pub fn state_pull(&self) -> Result<State> {
        let out = self.run(&["state", "pull"])?;
        if !out.success {
            anyhow::bail!("terraform state pull failed: {}", last_lines(&out.stderr, &out.stdout));
        }
        State::parse(&out.stdout)
    }

    /// `terraform destroy -auto-approve -input=false -json -lock-timeout=…` with the
    /// var files, its events handed to `watch` as they come.
    pub fn destroy(&self, watch: Watch<'_>) -> Result<Output> {
        let mut args: Vec<OsString> = ["destroy", "-auto-approve", "-input=false", "-json"]
            .map(OsString::from)
            .into();
        args.push(format!("-lock-timeout={}s", self.lock_timeout.as_secs()).into());
        for file in &self.var_files {
            let mut arg = OsString::from("-var-file=");
            arg.push(file.as_os_str());
            args.push(arg);
        }
        self.execute(args, Some(watch))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn expression(&self, args: Vec<OsString>) -> duct::Expression {
        let mut expr = duct::cmd(&self.binary, args)
            .dir(&self.dir)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .stdin_null()
            .unchecked()
            .before_spawn(|cmd| {
                supervise_child(cmd);
                Ok(())
            });
        if let Some(ws) = &self.workspace {
            expr = expr.env("TF_WORKSPACE", ws);
        }
        expr
    }

    /// Starts Terraform with its output going to files, follows them until it
    /// exits, and stops it when `watch` says so. Never returns while the child runs.
    fn execute(&self, args: Vec<OsString>, watch: Option<Watch<'_>>) -> Result<Output> {
        let what = args
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stdout = OutputFile::create("stdout").context("creating a file for Terraform's output")?;
        let stderr = OutputFile::create("stderr").context("creating a file for Terraform's output")?;
        let expr = self
            .expression(args)
            .stdout_file(stdout.writer()?)
            .stderr_file(stderr.writer()?);
        // A thread of its own: it spawns the child and lives until the child has exited.
        let supervised = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name(format!("terraform {what}"))
                .spawn_scoped(scope, || supervise(&what, &expr, stdout, stderr, watch))
                .map_err(|e| anyhow!("starting a thread for terraform {what}: {e}"))?
                .join()
                .map_err(|_| anyhow!("the thread running terraform {what} panicked"))?
        });
        supervised.with_context(|| format!("terraform {what}: cannot run {:?}", self.binary))
    }
}

/// Runs on the supervising thread: spawn, follow the output, stop on request, wait.
fn supervise(
    what: &str,
    expr: &duct::Expression,
    mut stdout: OutputFile,
    mut stderr: OutputFile,
    mut watch: Option<Watch<'_>>,
) -> Result<Output> {
    let started = Instant::now();
    let handle = expr.start();
    stdout.unlink();
    stderr.unlink();
    let handle = handle?;
    let pid = handle.pids().first().copied();
    let mut text = String::new();
    let mut interrupts_sent = 0u8;
    let mut stopped = None;
    let mut quiet_since = Instant::now();
    loop {
        let exited = match handle.try_wait() {
            Ok(status) => status.is_some(),
            Err(e) => {
                // Cannot poll it: wait for it blindly rather than leave it unsupervised.
                let _ = handle.wait();
                return Err(anyhow!("waiting for terraform {what}: {e}"));
            }
        };
        for line in stdout.new_lines(exited) {
            if let Some(w) = watch.as_mut() {
                (w.on_line)(&line);
            }
            text.push_str(&line);
            text.push('\n');
            quiet_since = Instant::now();
        }
        if exited {
            break;
        }
        if let Some(w) = &watch {
            let wanted = match w.stop.level() {
                Level::Now => 2,
                Level::Stopping => 1,
                Level::Running if started.elapsed() >= w.limit => 1,
                Level::Running => 0,
            };
            if wanted > interrupts_sent {
                if stopped.is_none() {
                    stopped = Some(if w.stop.requested() {
                        Stopped::Signal
                    } else {
                        Stopped::Timeout
                    });
                    tracing::warn!(
                        "terraform: {}; sent SIGINT, waiting for Terraform to finish what is in flight and save its state",
                        match stopped {
                            Some(Stopped::Timeout) =>
                                format!("terraform.timeout ({}) reached", humantime::format_duration(w.limit)),
                            _ => "stopping on request".to_owned(),
                        }
                    );
                }
                if let Some(pid) = pid {
                    interrupt(pid);
                }
                interrupts_sent += 1;
            }
            if quiet_since.elapsed() >= HEARTBEAT {
                tracing::info!(
                    "terraform: {what} still running ({})",
                    crate::text::short_duration(started.elapsed())
                );
                quiet_since = Instant::now();
            }
        }
        std::thread::sleep(POLL);
    }
    let status = handle
        .wait()
        .map_err(|e| anyhow!("waiting for terraform {what}: {e}"))?
        .status;
    let mut err_text = String::new();
    for line in stderr.new_lines(true) {
        err_text.push_str(&line);
        err_text.push('\n');
    }
    Ok(Output {
        success: status.success(),
        stdout: text,
        stderr: err_text,
        stopped,
    })
}

/// One of Terraform's output streams: a file it writes and sundown reads as it grows.
struct OutputFile {
    path: PathBuf,
    reader: File,
    pending: Vec<u8>,
}

impl OutputFile {
    fn create(stream: &str) -> std::io::Result<OutputFile> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "sundown-terraform-{}-{}.{stream}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        let reader = File::open(&path)?;
        Ok(OutputFile {
            path,
            reader,
            pending: Vec::new(),
        })
    }

    /// A write handle for the child, appending so that nothing it writes is overwritten.
    fn writer(&self) -> std::io::Result<File> {
        std::fs::OpenOptions::new().append(true).open(&self.path)
    }

    /// Removes the name; the open handles keep the data (on Windows it goes on drop).
    fn unlink(&self) {
        let _ = std::fs::remove_file(&self.path);
    }

    /// The complete lines written since the last call; at `end`, the unterminated rest too.
    fn new_lines(&mut self, end: bool) -> Vec<String> {
        let _ = self.reader.read_to_end(&mut self.pending);
        let mut lines = Vec::new();
        while let Some(at) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=at).collect();
            lines.push(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_owned());
        }
        if end && !self.pending.is_empty() {
            lines.push(String::from_utf8_lossy(&self.pending).into_owned());
            self.pending.clear();
        }
        lines
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        self.unlink();
    }
}

/// Prepares the child: a process group of its own, and (Linux) SIGTERM if sundown dies.
fn supervise_child(cmd: &mut std::process::Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    #[cfg(target_os = "linux")]
    end_with_parent(cmd);
    // Windows: a process group of its own, so that CTRL_BREAK reaches Terraform alone.
    // (macOS has no PR_SET_PDEATHSIG: if sundown is killed there, Terraform finishes its
    // destroy and saves its state, since its output goes to files and not to a dead pipe.)
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        cmd.creation_flags(CREATE_NEW_PROCESS_GROUP);
    }
}

/// If sundown dies (even by SIGKILL), Terraform gets SIGTERM, which it treats
/// like SIGINT: finish what is in flight, save state, release the lock. With
/// its output in files it lives to do so. The parent's pid is recorded before
/// the fork and compared after `prctl`, closing the race where sundown dies
/// in between (not compared with 1: sundown is PID 1 in a container).
#[cfg(target_os = "linux")]
fn end_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid is async-signal-safe.
    let parent = unsafe { libc::getpid() };
    // SAFETY: prctl and getppid are async-signal-safe and touch only the child being spawned;
    // the closure allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Sends SIGINT to Terraform's process group, as a terminal's Ctrl-C does.
/// That is the signal Terraform's process tree is built for: Terraform stops
/// gracefully, its provider plugins ignore it, and under Terraform ≤ 1.0 the
/// panicwrap parent ignores it while its child handles it.
#[cfg(unix)]
fn interrupt(pid: u32) {
    // SAFETY: kill has no memory effects; a negative pid names the process group.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGINT);
    }
}

/// Windows has no SIGINT: CTRL_BREAK to Terraform's process group is what Go
/// delivers as `os.Interrupt`, on which Terraform stops gracefully. Never a
/// hard kill, which would leave the state half-written and the lock held.
#[cfg(windows)]
fn interrupt(pid: u32) {
    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn GenerateConsoleCtrlEvent(ctrl_event: u32, process_group_id: u32) -> i32;
    }
    const CTRL_BREAK_EVENT: u32 = 1;
    // SAFETY: plain Win32 call with integer arguments; the group is the child's own.
    if unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, pid) } == 0 {
        tracing::warn!("terraform: could not send CTRL_BREAK to Terraform; waiting for it to finish");
    }
}

#[cfg(not(any(unix, windows)))]
fn interrupt(_pid: u32) {
    tracing::warn!("terraform: stopping Terraform is not supported on this platform; waiting for it to finish");
}

/// A Terraform state as `terraform state pull` prints it (format version 4).
#[derive(Debug, Default, Clone)]
pub struct State {
    /// Absent when the backend holds no state at all (never applied, wrong workspace).
    pub lineage: Option<String>,
    pub serial: u64,
    pub instances: Vec<Instance>,
}

/// One resource instance in the state.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// `module.x.aws_s3_bucket.data["a"]`, as `terraform state list` prints it.
    pub address: String,
    pub managed: bool,
    pub resource_type: String,
    pub id: Option<String>,
    pub arn: Option<String>,
    /// `tags_all` merged over `tags` (AWS provider's default tags included).
    pub tags: BTreeMap<String, String>,
}

impl State {
    /// Parses `terraform state pull`'s output; empty output means no state.
    pub fn parse(text: &str) -> Result<State> {
        if text.trim().is_empty() {
            return Ok(State::default());
        }
        let v: Value = serde_json::from_str(text).context("terraform state pull printed something that is not JSON")?;
        let mut instances = Vec::new();
        for r in v["resources"].as_array().into_iter().flatten() {
            let managed = r["mode"] != "data";
            let resource_type = r["type"].as_str().unwrap_or_default().to_owned();
            let mut base = String::new();
            if let Some(module) = r["module"].as_str().filter(|m| !m.is_empty()) {
                base.push_str(module);
                base.push('.');
            }
            if !managed {
                base.push_str("data.");
            }
            base.push_str(&format!("{}.{}", resource_type, r["name"].as_str().unwrap_or_default()));
            for i in r["instances"].as_array().into_iter().flatten() {
                let address = match &i["index_key"] {
                    Value::Number(n) => format!("{base}[{n}]"),
                    Value::String(s) => format!("{base}[{}]", Value::String(s.clone())),
                    _ => base.clone(),
                };
                let attributes = &i["attributes"];
                let text = |key: &str| attributes[key].as_str().map(str::to_owned);
                let mut tags = BTreeMap::new();
                for key in ["tags", "tags_all"] {
                    for (k, v) in attributes[key].as_object().into_iter().flatten() {
                        if let Some(v) = v.as_str() {
                            tags.insert(k.clone(), v.to_owned());
                        }
                    }
                }
                instances.push(Instance {
                    address,
                    managed,
                    resource_type: resource_type.clone(),
                    id: text("id"),
                    arn: text("arn"),
                    tags,
                });
            }
        }
        Ok(State {
            lineage: v["lineage"].as_str().filter(|l| !l.is_empty()).map(str::to_owned),
            serial: v["serial"].as_u64().unwrap_or(0),
            instances,
        })
    }

    /// The managed resource instances: what `terraform destroy` destroys.
    pub fn managed(&self) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter(|i| i.managed)
    }
}

/// The last few meaningful lines of a failed command, on one line.
pub fn last_lines(stderr: &str, stdout: &str) -> String {
    let text = if stderr.trim().is_empty() { stdout } else { stderr };
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_matches(|c: char| c.is_whitespace() || c == '│' || c == '╷' || c == '╵'))
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(4);
    lines[start..].join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_addresses_match_terraform_state_list() {
        let state = State::parse(
            r#"{"version":4,"serial":7,"lineage":"abc","resources":[
              {"mode":"managed","type":"null_resource","name":"stack","instances":[
                {"index_key":0,"attributes":{"id":"1"}},{"index_key":1,"attributes":{"id":"2"}}]},
              {"module":"module.data[\"eu\"]","mode":"managed","type":"aws_s3_bucket","name":"this","instances":[
                {"attributes":{"id":"b","arn":"arn:aws:s3:::b","tags":{"Project":"p"},"tags_all":{"Project":"p","sundown:protect":"true"}}}]},
              {"mode":"data","type":"aws_eks_cluster","name":"this","instances":[{"attributes":{"id":"c"}}]},
              {"mode":"managed","type":"aws_ecr_repository","name":"r","instances":[{"index_key":"api","attributes":{"id":"api"}}]}
            ]}"#,
        )
        .unwrap();
        assert_eq!(state.lineage.as_deref(), Some("abc"));
        assert_eq!(state.serial, 7);
        let addresses: Vec<&str> = state.instances.iter().map(|i| i.address.as_str()).collect();
        assert_eq!(
            addresses,
            [
                "null_resource.stack[0]",
                "null_resource.stack[1]",
                "module.data[\"eu\"].aws_s3_bucket.this",
                "data.aws_eks_cluster.this",
                "aws_ecr_repository.r[\"api\"]",
            ]
        );
        assert_eq!(state.managed().count(), 4);
        let bucket = &state.instances[2];
        assert_eq!(bucket.arn.as_deref(), Some("arn:aws:s3:::b"));
        assert_eq!(bucket.tags.get("sundown:protect").map(String::as_str), Some("true"));
    }

    #[test]
    fn no_output_is_no_state_and_an_emptied_state_keeps_its_lineage() {
        assert!(State::parse("").unwrap().lineage.is_none());
        let destroyed = State::parse(r#"{"version":4,"serial":9,"lineage":"abc","resources":[]}"#).unwrap();
        assert_eq!(destroyed.lineage.as_deref(), Some("abc"));
        assert_eq!(destroyed.managed().count(), 0);
    }
}
