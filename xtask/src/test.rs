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
    let mut test = Command::new(&cargo);
    test.current_dir(&root).args(["test", "--workspace"]).args(args);
    run_counting(&mut test)
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
