//! `cargo xtask`: the project's tasks. Each task is a module with one `run`.
//!
//! xtask drives the `sundown` binary, the emulator and Terraform from outside,
//! as a user would; it never reaches into the library's internals.

mod bench;
mod demo;
mod demo_stacks;
mod drill;
mod emulator;
mod home_check;
mod lint;
mod passthrough;
mod test;
mod tf;
mod tidy;
mod tools;

#[path = "../../tests/it/fault_proxy.rs"]
#[allow(dead_code)]
mod fault_proxy;
#[path = "../../tests/it/kube_fake.rs"]
#[allow(dead_code)]
mod kube_fake;
#[path = "../../tests/it/moto.rs"]
#[allow(dead_code)]
mod moto;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  demo [--stacks]               seed a sample stack on the local emulator and run sundown against it
                                (--stacks: the expiry run across two accounts, with its roll-up)
  test                          set up the emulator and Terraform, then fmt, clippy, lint and every test
  drill [TRIALS]                kill a teardown at random moments and re-run it, TRIALS times (default 20)
  tidy                          hold src/ to ARCHITECTURE.md's layers: imports go down, mutating calls in their layers, sizes
  lint                          actionlint, zizmor, check-jsonschema and hadolint over .github/ and action/
  teardown [-- FLAGS]            tear down the stack in ./sundown.yaml with your AWS credentials (asks for `destroy`)
  verify [-- FLAGS]              run the cost checklist against the stack in ./sundown.yaml
  tf init|plan|apply|destroy [--env dev] [-- ARGS]
                                Terraform in infra/envs/ENV with ENV.tfvars (plan saves tfplan, apply applies it)
  bench [--debug] [SECTION...]  measure on the emulator and print the figures as ratios
                                (sections: verify, teardown, sagemaker, critical-path, stacks, binary; default all)
  home-check                    run the demo with an empty HOME and fresh tools; fail if it wrote there (caches aside)
  emulator install|start|stop|status
                                manage the local moto emulator (installed under target/sundown-tools)
";

fn main() -> ExitCode {
    forget_cargo_run_env();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match task {
        "demo" if rest.first().is_some_and(|a| a == "--stacks") => demo_stacks::run(),
        "demo" => demo::run(rest),
        "test" => test::run(rest),
        "lint" => lint::run(),
        "tidy" => tidy::run(),
        "drill" => drill::run(rest),
        "emulator" => emulator::run(rest),
        "home-check" => home_check::run(rest),
        "teardown" => passthrough::run("teardown", rest),
        "verify" => passthrough::run("verify", rest),
        "bench" => bench::run(rest),
        "tf" => tf::run(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            eprint!("unknown task {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask {task}: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo run` gives xtask the package variables of xtask itself
/// (`CARGO_MANIFEST_DIR=…/xtask`, `CARGO_PKG_*`, …). A nested `cargo` would
/// pass them on to build scripts, and ring's reruns when `CARGO_MANIFEST_DIR`
/// changes, so every switch between `cargo xtask test` and a plain `cargo
/// test` rebuilt ring and the whole AWS SDK above it (minutes). Dropped here,
/// the nested builds see the same environment as the developer's own.
fn forget_cargo_run_env() {
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        let _ = RUN_FROM.set(PathBuf::from(dir));
    }
    let package_vars: Vec<std::ffi::OsString> = std::env::vars_os()
        .map(|(key, _)| key)
        .filter(|key| {
            let key = key.to_string_lossy();
            key.starts_with("CARGO_PKG_")
                || matches!(
                    key.as_ref(),
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_BIN_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                )
        })
        .collect();
    for key in package_vars {
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::remove_var(key) };
    }
}

/// xtask's directory as `cargo run` named it, read before it is forgotten.
static RUN_FROM: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The repository root, from this crate's manifest directory (never the cwd):
/// the one `cargo run` names, else the one compiled in. Two checkouts that
/// share a CARGO_TARGET_DIR share `target/debug/xtask`, and cargo does not copy
/// it again when its own build is fresh: the compiled-in path may name the
/// other checkout (a bench once built and timed the other checkout's code).
pub fn root() -> PathBuf {
    RUN_FROM
        .get()
        .map(PathBuf::as_path)
        .unwrap_or(Path::new(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .expect("xtask lives in the repository")
        .to_owned()
}

/// Cargo's target directory, honouring CARGO_TARGET_DIR.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => root().join("target"),
    }
}

/// The `cargo` that runs this task (Cargo sets CARGO for `cargo xtask`).
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Builds the debug `sundown` binary and returns its path.
///
/// It is built as `cargo test --workspace` builds it, not with `cargo build`:
/// the tests' dev-dependencies (wiremock) turn on features of crates the AWS
/// SDK shares (hyper, tokio), so a plain `cargo build` resolves other features
/// and compiles the whole SDK a second time, minutes on two cores. This way
/// the demo, the drill, `cargo xtask teardown` and the test suite share one build.
pub fn build_debug() -> anyhow::Result<PathBuf> {
    run_cmd(std::process::Command::new(cargo()).current_dir(root()).args([
        "test",
        "--workspace",
        "--no-run",
        "--quiet",
    ]))?;
    Ok(target_dir().join("debug").join("sundown"))
}

/// Builds the debug `sundown` binary alone, with cargo's progress (the demo
/// needs no test binary, and a fresh clone takes minutes); returns its path.
pub fn build_sundown() -> anyhow::Result<PathBuf> {
    eprintln!("xtask: building sundown (a few minutes on a fresh clone; cargo shows its progress)");
    run_cmd(std::process::Command::new(cargo()).current_dir(root()).args([
        "build",
        "--package",
        "sundown",
        "--bin",
        "sundown",
    ]))?;
    Ok(target_dir().join("debug").join("sundown"))
}

/// Runs a command, echoing it, and fails if it fails.
pub fn run_cmd(cmd: &mut std::process::Command) -> anyhow::Result<()> {
    eprintln!("$ {}", display(cmd));
    let status = cmd
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", display(cmd)))?;
    anyhow::ensure!(status.success(), "{} failed with {status}", display(cmd));
    Ok(())
}

pub fn display(cmd: &std::process::Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}
