//! The one place that runs the `terraform` binary, through duct.
//!
//! Owns argument vectors (never a shell string), the environment Terraform
//! runs with, and errors that keep the child's stderr. It decides nothing
//! about phases; `phases::terraform` does.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::config;
use crate::exit::refuse;

/// A Terraform root module and how to run Terraform in it.
#[derive(Debug, Clone)]
pub struct Terraform {
    pub binary: String,
    pub dir: PathBuf,
    pub workspace: Option<String>,
    pub var_files: Vec<PathBuf>,
    pub lock_timeout: Duration,
}

/// What a finished Terraform command printed.
#[derive(Debug)]
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Terraform {
    pub fn new(cfg: &config::Terraform) -> Terraform {
        Terraform {
            binary: cfg.binary.clone(),
            dir: cfg.dir.clone(),
            workspace: cfg.workspace.clone(),
            var_files: cfg.var_files.clone(),
            lock_timeout: cfg.lock_timeout,
        }
    }

    /// Pre-flight: the binary runs and the directory exists. Both failures are refusals.
    pub fn check(&self) -> Result<String> {
        if !self.dir.is_dir() {
            return Err(refuse(format!(
                "terraform.dir {} is not a directory; fix terraform.dir in sundown.yaml",
                self.dir.display()
            )));
        }
        let out = duct::cmd(&self.binary, ["version"])
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .map_err(|e| {
                refuse(format!(
                    "cannot run terraform binary {:?} ({e}); install Terraform or set terraform.binary in sundown.yaml",
                    self.binary
                ))
            })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let first = text.lines().next().unwrap_or("").trim().to_owned();
        if !out.status.success() || !first.starts_with("Terraform") {
            return Err(refuse(format!(
                "{:?} is not a working terraform binary ({first}); set terraform.binary in sundown.yaml",
                self.binary
            )));
        }
        Ok(first)
    }

    /// Runs terraform with `args` in the module directory and captures its output.
    pub fn run(&self, args: &[&str]) -> Result<Output> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        self.run_args(args)
    }

    fn run_args(&self, args: Vec<OsString>) -> Result<Output> {
        let what = args
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut expr = duct::cmd(&self.binary, args)
            .dir(&self.dir)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .stdin_null()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .before_spawn(|cmd| {
                end_with_parent(cmd);
                Ok(())
            });
        if let Some(ws) = &self.workspace {
            expr = expr.env("TF_WORKSPACE", ws);
        }
        let out = expr
            .run()
            .with_context(|| format!("terraform {what}: cannot run {:?}", self.binary))?;
        Ok(Output {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// `terraform init -input=false`; an error carries Terraform's own message.
    pub fn init(&self) -> Result<()> {
        let out = self.run(&["init", "-input=false", "-no-color"])?;
        if !out.success {
            anyhow::bail!("terraform init failed: {}", last_lines(&out.stderr, &out.stdout));
        }
        Ok(())
    }

    /// Addresses of the resources in state (`terraform state list`).
    pub fn state_list(&self) -> Result<Vec<String>> {
        let out = self.run(&["state", "list"])?;
        if !out.success {
            // An empty state with no state file is not an error worth failing on.
            if out.stderr.contains("No state file was found") {
                return Ok(Vec::new());
            }
            anyhow::bail!("terraform state list failed: {}", last_lines(&out.stderr, &out.stdout));
        }
        Ok(out
            .stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// `terraform destroy -auto-approve -input=false -json -lock-timeout=…` with the var files.
    pub fn destroy(&self) -> Result<Output> {
        let mut args: Vec<OsString> = ["destroy", "-auto-approve", "-input=false", "-json"]
            .into_iter()
            .map(OsString::from)
            .collect();
        args.push(format!("-lock-timeout={}s", self.lock_timeout.as_secs()).into());
        for file in &self.var_files {
            let mut arg = OsString::from("-var-file=");
            arg.push(file.as_os_str());
            args.push(arg);
        }
        self.run_args(args)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// If sundown dies (even by SIGKILL), Terraform gets SIGTERM and stops
/// gracefully, writing its state, instead of running on unsupervised and
/// holding the state lock against the re-run.
fn end_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only the child being spawned.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
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
