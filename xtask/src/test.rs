//! `cargo xtask test`: every check CI runs, with its own set-up.
//! Installs the emulator and Terraform (if missing), then runs rustfmt,
//! clippy, the linters of `cargo xtask lint` and the whole test suite. `.ci/run` calls exactly this.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use anyhow::{Result, ensure};

use crate::{display, run_cmd, tools};

pub fn run(args: &[String]) -> Result<()> {
    tools::ensure()?;
    let cargo = crate::cargo();
    let root = crate::root();
    run_cmd(
        Command::new(&cargo)
            .current_dir(&root)
            .args(["fmt", "--all", "--", "--check"]),
    )?;
    run_cmd(Command::new(&cargo).current_dir(&root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The Lambda build of the scheduler (`--features lambda`) is checked too;
    // its first run rebuilds part of the tree with that feature set.
    run_cmd(Command::new(&cargo).current_dir(&root).args([
        "clippy",
        "-p",
        "sundown",
        "--features",
        "lambda",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    crate::lint::run()?;
    let before = terraform_processes();
    let mut test = Command::new(&cargo);
    test.current_dir(&root).args(["test", "--workspace"]).args(args);
    run_counting(&mut test)?;
    no_process_outlives_the_suite(&before)
}

/// Running processes whose name starts with `terraform` (Terraform and its
/// provider plugins), by pid; empty where there is no /proc.
fn terraform_processes() -> Vec<(u32, String)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|p| {
            let pid: u32 = p.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(p.path().join("comm")).ok()?;
            name.starts_with("terraform").then(|| (pid, name.trim().to_owned()))
        })
        .collect()
}

/// A killed teardown's Terraform must stop by itself and take its plugins with
/// it: after the suite, no Terraform process may be left that was not there before.
fn no_process_outlives_the_suite(before: &[(u32, String)]) -> Result<()> {
    let started = std::time::Instant::now();
    loop {
        let left: Vec<(u32, String)> = terraform_processes()
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        if left.is_empty() {
            println!("processes: none left behind by the suite");
            return Ok(());
        }
        ensure!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "processes outlived the test suite: {left:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Runs the test command, echoing its output, and closes with one line that
/// totals every test binary's result (cargo's last line is a doc-test run of 0).
fn run_counting(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", display(cmd));
    let mut child = cmd.stdout(Stdio::piped()).spawn()?;
    let (mut passed, mut failed) = (0u64, 0u64);
    for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
        let line = line?;
        println!("{line}");
        if let Some(result) = line.strip_prefix("test result: ") {
            let count = |word: &str| {
                result
                    .split([';', '.'])
                    .find_map(|part| {
                        part.trim()
                            .strip_suffix(word)
                            .and_then(|n| n.trim().parse::<u64>().ok())
                    })
                    .unwrap_or(0)
            };
            passed += count(" passed");
            failed += count(" failed");
        }
    }
    let status = child.wait()?;
    println!("tests: {passed} passed, {failed} failed");
    ensure!(status.success(), "{} failed with {status}", display(cmd));
    Ok(())
}
