//! `cargo xtask test`: every check CI runs, with its own set-up.
//! Installs the emulator and Terraform (if missing), then runs rustfmt,
//! the tidy check, clippy, the linters of `cargo xtask lint` and the whole test suite. `.ci/run` calls this, then `cargo xtask demo`.

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
    crate::tidy::run()?;
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
    let before = leftover_processes();
    let mut test = Command::new(&cargo);
    test.current_dir(&root).args(["test", "--workspace"]).args(args);
    run_counting(&mut test)?;
    no_process_outlives_the_suite(&before)
}

/// Running processes that a suite must not leave behind, by pid: those whose
/// name starts with `terraform` (Terraform and its provider plugins), and moto
/// servers of the harness whose starter is gone (they watch for that and end
/// within a second). Empty where there is no /proc.
fn leftover_processes() -> Vec<(u32, String)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|p| {
            let pid: u32 = p.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(p.path().join("comm")).ok()?;
            if name.starts_with("terraform") {
                return Some((pid, name.trim().to_owned()));
            }
            orphaned_moto(&p.path()).then(|| (pid, "moto server (its starter is gone)".to_owned()))
        })
        .collect()
}

/// A moto server started by `Moto::start` (it carries its starter's pid in
/// `SUNDOWN_MOTO_PARENT`) whose parent is no longer that starter.
fn orphaned_moto(proc_dir: &std::path::Path) -> bool {
    let Ok(environ) = std::fs::read(proc_dir.join("environ")) else {
        return false;
    };
    let Some(starter) = environ
        .split(|b| *b == 0)
        .find_map(|var| var.strip_prefix(b"SUNDOWN_MOTO_PARENT="))
    else {
        return false;
    };
    // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
    let parent = std::fs::read_to_string(proc_dir.join("stat")).ok().and_then(|stat| {
        let (_, rest) = stat.rsplit_once(')')?;
        rest.split_whitespace().nth(1).map(str::to_owned)
    });
    parent.is_some_and(|ppid| ppid.as_bytes() != starter)
}

/// A killed teardown's Terraform must stop by itself and take its plugins with
/// it, and a killed test binary's moto servers must end: after the suite, no
/// such process may be left that was not there before.
fn no_process_outlives_the_suite(before: &[(u32, String)]) -> Result<()> {
    let started = std::time::Instant::now();
    loop {
        let left: Vec<(u32, String)> = leftover_processes()
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

#[cfg(test)]
mod tests {
    use std::process::Command;

    /// A process that carries a starter's pid is a leftover once its parent is someone else.
    #[test]
    fn a_moto_whose_starter_is_gone_is_a_leftover() {
        let spawn = |starter: u32| {
            Command::new("sleep")
                .arg("30")
                .env("SUNDOWN_MOTO_PARENT", starter.to_string())
                .spawn()
                .expect("spawn sleep")
        };
        // spawn returns once exec has closed the child's close-on-exec fds, a
        // moment before the kernel sets up its arguments and environment.
        let execed = |child: &std::process::Child| {
            let cmdline = format!("/proc/{}/cmdline", child.id());
            let start = std::time::Instant::now();
            while std::fs::read(&cmdline).unwrap_or_default().is_empty() {
                assert!(start.elapsed().as_secs() < 10, "sleep did not start");
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        };
        let mut ours = spawn(std::process::id());
        let mut orphan = spawn(1);
        execed(&ours);
        execed(&orphan);
        let dir = |child: &std::process::Child| std::path::PathBuf::from(format!("/proc/{}", child.id()));
        let (ours_left, orphan_left) = (super::orphaned_moto(&dir(&ours)), super::orphaned_moto(&dir(&orphan)));
        for child in [&mut ours, &mut orphan] {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        assert!(!ours_left, "a server whose starter runs is not left behind");
        assert!(orphan_left, "a server whose starter is gone is left behind");
    }
}
