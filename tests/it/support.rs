//! Test harness: a private world per test (its own moto, temp dir and,
//! when asked, Kubernetes fake), seeding, and a builder for running the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::kube_fake::KubeFake;
use crate::moto::{Moto, SCRUBBED_ENV, Tools, emulator_env};

/// The installed tools, or a panic that says how to install them.
pub fn tools() -> Tools {
    let tools = Tools::new(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(
        tools.installed(),
        "the emulator and Terraform are not installed in {}: run `cargo xtask test` (or `cargo xtask emulator install` before `cargo test`)",
        tools.root.display()
    );
    tools
}

/// One test's emulator, scratch directory and optional Kubernetes fake.
pub struct World {
    pub tools: Tools,
    pub moto: Moto,
    pub dir: tempfile::TempDir,
    pub kube: Option<KubeFake>,
}

impl World {
    pub fn start() -> World {
        let tools = tools();
        let dir = tempfile::tempdir().expect("temp dir");
        let moto =
            Moto::start(&tools.moto_server(), Some(&dir.path().join("moto.log"))).unwrap_or_else(|e| panic!("{e}"));
        World {
            tools,
            moto,
            dir,
            kube: None,
        }
    }

    /// Starts the Kubernetes fake with these namespaces, writes `kubeconfig` for it,
    /// and creates the stack's EKS cluster on the emulator (a cluster that is gone
    /// takes its namespaces with it: sundown would not contact the fake).
    pub fn with_namespaces(mut self, names: &[&str]) -> World {
        self.seed(&["--cluster"]);
        let kube = KubeFake::start().expect("start the Kubernetes fake");
        for name in names {
            kube.add_namespace(name, false);
        }
        kube.write_kubeconfig(&self.path("kubeconfig"))
            .expect("write kubeconfig");
        self.kube = Some(kube);
        self
    }

    pub fn kube(&self) -> &KubeFake {
        self.kube.as_ref().expect("with_namespaces was called")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn env(&self, cmd: &mut Command) {
        for name in SCRUBBED_ENV {
            cmd.env_remove(name);
        }
        cmd.envs(emulator_env(&self.tools, &self.moto));
        // Prices and Cost Explorer answers are cached per world, never in the developer's ~/.cache.
        cmd.env("XDG_CACHE_HOME", self.path("cache"));
    }

    /// Runs tests/fixtures/seed.py with `args`; returns what it seeded.
    pub fn seed(&self, args: &[&str]) -> Value {
        self.seed_as(&[], args)
    }

    /// `seed` acting with other credentials (another account's, from AssumeRole).
    pub fn seed_as(&self, credentials: &[(&str, &str)], args: &[&str]) -> Value {
        let mut cmd = Command::new(self.tools.python());
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed.py"))
            .args(args);
        self.env(&mut cmd);
        cmd.envs(credentials.iter().copied());
        let out = cmd.output().expect("run seed.py");
        assert!(
            out.status.success(),
            "seed.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("seed.py prints JSON")
    }

    /// The command that deletes `kind:name` at the emulator (see seed.py's `--delete`).
    pub fn deleting(&self, what: &str) -> Command {
        let mut cmd = Command::new(self.tools.python());
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed.py"))
            .args(["--delete", what])
            .stdout(Stdio::null());
        self.env(&mut cmd);
        cmd
    }

    /// Copies the Terraform fixture to `infra/` without applying it: a module never applied here.
    pub fn terraform_module(&self) -> PathBuf {
        let infra = self.path("infra");
        std::fs::create_dir_all(&infra).unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/terraform/main.tf");
        std::fs::copy(fixture, infra.join("main.tf")).unwrap();
        infra
    }

    /// Copies the Terraform fixture to `infra/` and applies it with `vars`.
    pub fn terraform(&self, vars: &[&str]) -> PathBuf {
        self.terraform_module();
        self.terraform_apply(&[], vars)
    }

    /// `terraform init` (with `init_args`) and `apply` with `vars` in `infra/`.
    pub fn terraform_apply(&self, init_args: &[&str], vars: &[&str]) -> PathBuf {
        let mut init = vec!["init", "-input=false", "-no-color"];
        init.extend(init_args);
        self.terraform_cmd(&init);
        let mut apply = vec!["apply", "-auto-approve", "-input=false", "-no-color"];
        let vars: Vec<String> = vars.iter().map(|v| format!("-var={v}")).collect();
        apply.extend(vars.iter().map(String::as_str));
        self.terraform_cmd(&apply);
        self.path("infra")
    }

    /// Waits until no `terraform` process runs in this world's `infra/`.
    ///
    /// A killed sundown's Terraform gets SIGTERM (PR_SET_PDEATHSIG) and stops
    /// gracefully, writing its state as it goes; reading the state before it
    /// has exited can catch the file half-written. Linux only, like the SIGTERM.
    pub fn wait_for_terraform_to_exit(&self) {
        let infra = self.path("infra");
        let started = std::time::Instant::now();
        while processes_under(&infra).iter().any(|(_, name)| name == "terraform") {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "terraform still running in {} a minute after sundown was killed",
                infra.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The Terraform state's addresses, by `terraform state list` (which must work).
    pub fn state_list(&self) -> Vec<String> {
        self.terraform_cmd(&["state", "list"])
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Checks the marker invariant of the fixture's `marker_dir`: each of the
    /// `n` stand-in resources is either still in state or has written its
    /// marker, never both and never neither. Returns (in state, marked).
    pub fn marker_invariant(&self, n: usize) -> Result<(usize, usize), String> {
        let state = self.state_list();
        let mut problems = Vec::new();
        let (mut in_state, mut marked) = (0, 0);
        for i in 0..n {
            let listed = state.contains(&format!("null_resource.stack[{i}]"));
            let marker = self.path("markers").join(format!("stack-{i}")).exists();
            in_state += usize::from(listed);
            marked += usize::from(marker);
            match (listed, marker) {
                (true, true) => problems.push(format!("stack[{i}] destroyed (marker) but still in state")),
                (false, false) => problems.push(format!("stack[{i}] gone from state without its marker")),
                _ => {}
            }
        }
        if problems.is_empty() {
            Ok((in_state, marked))
        } else {
            Err(format!("{}; state: {state:?}", problems.join("; ")))
        }
    }

    /// Runs Terraform in `infra/` and returns its stdout; panics on failure.
    pub fn terraform_cmd(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(self.tools.terraform());
        cmd.current_dir(self.path("infra")).args(args);
        self.env(&mut cmd);
        let out = cmd.output().expect("run terraform");
        assert!(
            out.status.success(),
            "terraform {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes `sundown.yaml` in the scratch directory.
    pub fn config(&self, text: &str) -> PathBuf {
        let path = self.path("sundown.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A config for the whole stack the way the tests seed it; namespaces may
    /// take `kube_wait` to terminate.
    pub fn stack_config(&self, kube_wait: &str, extra: &str) -> PathBuf {
        let mut text = format!(
            "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
             sagemaker:\n  endpoint_prefix: retail-forecast\n  wait: 1m\n\
             ecr:\n  repositories: [retail-forecast, mlops/retail-api]\n\
             terraform:\n  dir: infra\n  binary: {}\n  lock_timeout: 5s\n",
            self.tools.terraform().display()
        );
        if self.kube.is_some() {
            // The fake is not the cluster's endpoint that EKS reports: say where the API server really is.
            text.push_str(&format!(
                "kubernetes:\n  cluster: retail-forecast-cluster\n  kubeconfig: kubeconfig\n  api_server: {}\n  \
                 namespaces: [retail-forecast]\n  wait: {kube_wait}\n",
                self.kube().url()
            ));
        }
        text.push_str(extra);
        self.config(&text)
    }

    /// Any program, with this world's emulator environment.
    pub fn sundown_command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        self.env(&mut cmd);
        cmd.current_dir(self.dir.path());
        cmd
    }

    /// The sundown binary, pointed at this world's emulator.
    pub fn sundown(&self) -> Sundown {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sundown"));
        self.env(&mut cmd);
        cmd.current_dir(self.dir.path()).stdin(Stdio::null());
        Sundown { cmd }
    }
}

/// Processes (pid, name) whose working directory is `dir` or below it: what
/// sundown, Terraform, its provider plugins and provisioners left running.
pub fn processes_under(dir: &Path) -> Vec<(u32, String)> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|p| {
            let pid: u32 = p.file_name().to_str()?.parse().ok()?;
            let cwd = std::fs::read_link(p.path().join("cwd")).ok()?;
            if !cwd.starts_with(&dir) {
                return None;
            }
            let name = std::fs::read_to_string(p.path().join("comm")).ok()?;
            Some((pid, name.trim().to_owned()))
        })
        .collect()
}

impl Drop for World {
    /// No process may outlive its test: a killed teardown's Terraform must
    /// stop by itself, and take its provider plugins with it.
    fn drop(&mut self) {
        let started = std::time::Instant::now();
        let mut left = processes_under(self.dir.path());
        while !left.is_empty() && started.elapsed() < std::time::Duration::from_secs(30) {
            std::thread::sleep(std::time::Duration::from_millis(100));
            left = processes_under(self.dir.path());
        }
        if left.is_empty() {
            return;
        }
        for (pid, _) in &left {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        }
        if !std::thread::panicking() {
            panic!("processes outlived the test by 30 s (now killed): {left:?}");
        }
    }
}

/// A running sundown whose stderr lines are collected, with the moment each arrived.
pub struct Running {
    pub child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<(std::time::Instant, String)>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` (a libc signal number) to sundown.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory effects.
        assert_eq!(
            unsafe { libc::kill(self.pid(), signal) },
            0,
            "kill({}, {signal})",
            self.pid()
        );
    }

    /// Waits until a stderr line contains `text`; panics with what was seen after `limit`.
    pub fn wait_for_line(&self, text: &str, limit: std::time::Duration) {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            if self.lines.lock().unwrap().iter().any(|(_, l)| l.contains(text)) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("no stderr line with {text:?} within {limit:?}: {:#?}", self.lines());
    }

    /// Waits for the exit within `limit`; returns the exit code (-1 on a signal), the
    /// moment of exit, and every stderr line with its arrival.
    pub fn finish(
        mut self,
        limit: std::time::Duration,
    ) -> (i32, std::time::Instant, Vec<(std::time::Instant, String)>) {
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("sundown did not exit within {limit:?}: {:#?}", self.lines());
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let exited = std::time::Instant::now();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let lines = std::mem::take(&mut *self.lines.lock().unwrap());
        (status.code().unwrap_or(-1), exited, lines)
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().iter().map(|(_, l)| l.clone()).collect()
    }
}

/// How many trials a drill runs and the seed of its moments: `SUNDOWN_DRILL_TRIALS`
/// and `SUNDOWN_DRILL_SEED`, which `cargo xtask drill` sets. The test suite
/// always draws the same moments (seed 0), so a failing trial can be replayed.
pub struct Drill {
    pub trials: u64,
    pub seed: u64,
}

impl Drill {
    pub fn from_env(default_trials: u64) -> Drill {
        let number = |name: &str| std::env::var(name).ok().and_then(|n| n.parse().ok());
        Drill {
            trials: number("SUNDOWN_DRILL_TRIALS").unwrap_or(default_trials),
            seed: number("SUNDOWN_DRILL_SEED").unwrap_or(0),
        }
    }

    /// A deterministic number in `[0, below)` drawn from `seed`.
    pub fn pick(seed: u64, below: u64) -> u64 {
        let x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0x2545_F491_4F6C_DD1D;
        x % below
    }
}

/// When Terraform's first "destroying" line arrived: what must come after
/// everything the destroy depends on is gone.
pub fn first_destroy(lines: &[(std::time::Instant, String)]) -> std::time::Instant {
    lines
        .iter()
        .find(|(_, l)| l.contains("terraform: destroying null_resource"))
        .map(|(at, _)| *at)
        .unwrap_or_else(|| panic!("terraform destroyed nothing: {lines:#?}"))
}

/// Runs a future to completion from a synchronous test.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// A fluent builder over the sundown binary.
pub struct Sundown {
    cmd: Command,
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Sundown {
    pub fn args(mut self, args: &[&str]) -> Sundown {
        self.cmd.args(args);
        self
    }

    pub fn config(mut self, path: &Path) -> Sundown {
        self.cmd.arg("--config").arg(path);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Sundown {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Sundown {
        self.cmd.env_remove(key);
        self
    }

    /// Starts the binary with stderr piped, for tests that interrupt it.
    pub fn spawn(mut self) -> std::process::Child {
        self.cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sundown")
    }

    /// Starts the binary and collects its stderr lines as they arrive, with their moments.
    pub fn start(self) -> Running {
        use std::io::BufRead;
        let mut child = self.spawn();
        let stderr = child.stderr.take().expect("piped stderr");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let reader = {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push((std::time::Instant::now(), line));
                }
            })
        };
        Running {
            child,
            lines,
            reader: Some(reader),
        }
    }

    pub fn run(mut self) -> Outcome {
        let out = self.cmd.output().expect("run sundown");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Outcome {
    /// The stdout parsed as JSON, with the run shown when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

impl World {
    /// An AWS SDK config aimed at this world's emulator, for asserting on it.
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.moto.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .load()
            .await
    }

    /// Everything of the stack that still exists, by kind, as the emulator lists it.
    pub async fn leftovers(&self, repositories: &[&str]) -> Leftovers {
        let sdk = self.sdk().await;
        let sm = aws_sdk_sagemaker::Client::new(&sdk);
        let ecr = aws_sdk_ecr::Client::new(&sdk);
        let endpoints = sm.list_endpoints().send().await.unwrap();
        let configs = sm.list_endpoint_configs().send().await.unwrap();
        let models = sm.list_models().send().await.unwrap();
        let mut images = 0;
        for repo in repositories {
            if let Ok(out) = ecr.list_images().repository_name(*repo).send().await {
                images += out.image_ids().len();
            }
        }
        let names = |v: Vec<Option<&str>>| {
            let mut v: Vec<String> = v.into_iter().flatten().map(str::to_owned).collect();
            v.sort();
            v
        };
        Leftovers {
            endpoints: names(endpoints.endpoints().iter().map(|e| e.endpoint_name()).collect()),
            configs: names(
                configs
                    .endpoint_configs()
                    .iter()
                    .map(|e| e.endpoint_config_name())
                    .collect(),
            ),
            models: names(models.models().iter().map(|e| e.model_name()).collect()),
            images,
            namespaces: self.kube.as_ref().map(|k| k.namespaces()).unwrap_or_default().len(),
            terraform: if self.path("infra").exists() {
                self.terraform_cmd(&["state", "list"])
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .count()
            } else {
                0
            },
        }
    }
}

/// What the emulator, the fake and the Terraform state still hold.
#[derive(Debug, Default, PartialEq)]
pub struct Leftovers {
    pub endpoints: Vec<String>,
    pub configs: Vec<String>,
    pub models: Vec<String>,
    pub images: usize,
    pub namespaces: usize,
    pub terraform: usize,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        *self == Leftovers::default()
    }
}

/// The phase `name` of a report or a plan.
pub fn phase<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phase"] == name)
        .unwrap_or_else(|| panic!("no phase {name}: {report:#}"))
}

/// (kind, name, outcome) of the resources a report's `phase` recorded whose kind ends with `suffix`, sorted.
pub fn outcomes(report: &Value, phase: &str, suffix: &str) -> Vec<(String, String, String)> {
    let phase = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phase"] == phase)
        .unwrap_or_else(|| panic!("no {phase} phase: {report:#}"));
    let mut out: Vec<_> = phase["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"].as_str().unwrap().ends_with(suffix))
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_owned(),
                r["name"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}
