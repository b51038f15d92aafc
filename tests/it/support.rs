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

    /// Starts the Kubernetes fake with these namespaces and writes `kubeconfig` for it.
    pub fn with_namespaces(mut self, names: &[&str]) -> World {
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
    }

    /// Runs tests/fixtures/seed.py with `args`; returns what it seeded.
    pub fn seed(&self, args: &[&str]) -> Value {
        let mut cmd = Command::new(self.tools.python());
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed.py"))
            .args(args);
        self.env(&mut cmd);
        let out = cmd.output().expect("run seed.py");
        assert!(
            out.status.success(),
            "seed.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("seed.py prints JSON")
    }

    /// Copies the Terraform fixture to `infra/` and applies it with `vars`.
    pub fn terraform(&self, vars: &[&str]) -> PathBuf {
        let infra = self.path("infra");
        std::fs::create_dir_all(&infra).unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/terraform/main.tf");
        std::fs::copy(fixture, infra.join("main.tf")).unwrap();
        self.terraform_cmd(&["init", "-input=false", "-no-color"]);
        let mut apply = vec!["apply", "-auto-approve", "-input=false", "-no-color"];
        let vars: Vec<String> = vars.iter().map(|v| format!("-var={v}")).collect();
        apply.extend(vars.iter().map(String::as_str));
        self.terraform_cmd(&apply);
        infra
    }

    /// Waits until no `terraform` process runs in this world's `infra/`.
    ///
    /// A killed sundown's Terraform gets SIGTERM (PR_SET_PDEATHSIG) and stops
    /// gracefully, writing its state as it goes; reading the state before it
    /// has exited can catch the file half-written. Linux only, like the SIGTERM.
    pub fn wait_for_terraform_to_exit(&self) {
        let infra = self.path("infra");
        let infra = infra.canonicalize().unwrap_or(infra);
        let running = || {
            std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|p| {
                let dir = p.path();
                std::fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim() == "terraform")
                    && std::fs::read_link(dir.join("cwd")).is_ok_and(|cwd| cwd == infra)
            })
        };
        let started = std::time::Instant::now();
        while running() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "terraform still running in {} a minute after sundown was killed",
                infra.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
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
            text.push_str("kubernetes:\n  cluster: retail-forecast-cluster\n  kubeconfig: kubeconfig\n  namespaces: [retail-forecast]\n  wait: ");
            text.push_str(kube_wait);
            text.push('\n');
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
