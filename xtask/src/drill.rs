//! `cargo xtask drill [TRIALS]`: the kill-and-resume drill with more trials
//! than `cargo xtask test` runs (default 20). Each trial seeds a stack on a
//! fresh emulator, SIGKILLs a teardown at a different moment, runs it again,
//! and checks that nothing is left and the re-run exited 0. The trials are
//! the integration test `faults::kill_and_resume_drill`, so the drill and the
//! test are one implementation; it prints each trial and the tally.

use std::process::Command;

use anyhow::{Context, Result};

use crate::{run_cmd, tools};

pub fn run(args: &[String]) -> Result<()> {
    let trials: u32 = match args.first() {
        Some(n) => n.parse().context("usage: cargo xtask drill [TRIALS]")?,
        None => 20,
    };
    // Random moments, but replayable: the seed is printed, and SUNDOWN_DRILL_SEED reuses one.
    let seed: u64 = match std::env::var("SUNDOWN_DRILL_SEED") {
        Ok(s) => s.parse().context("SUNDOWN_DRILL_SEED must be a number")?,
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .subsec_nanos()
            .into(),
    };
    eprintln!(
        "xtask drill: {trials} trials, seed {seed} (replay: SUNDOWN_DRILL_SEED={seed} cargo xtask drill {trials})"
    );
    tools::ensure()?;
    // `--workspace` as `cargo xtask test` runs it, so both share one build.
    run_cmd(
        Command::new(crate::cargo())
            .current_dir(crate::root())
            .env("SUNDOWN_DRILL_TRIALS", trials.to_string())
            .env("SUNDOWN_DRILL_SEED", seed.to_string())
            .args([
                "test",
                "--workspace",
                "--",
                "faults::kill_and_resume_drill",
                "--exact",
                "--nocapture",
            ]),
    )
}
