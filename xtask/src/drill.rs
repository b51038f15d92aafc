//! `cargo xtask drill [TRIALS]`: the fault drills with more trials than
//! `cargo xtask test` runs (default 20 each).
//!
//! - kill and resume: each trial seeds a stack on a fresh emulator, SIGKILLs
//!   a teardown just after a different one of its progress lines (mid-run,
//!   which the drill asserts), runs it again, and checks that nothing
//!   is left, the re-run exited 0, and Terraform's state agrees with the
//!   marker files its destroy writes.
//! - interrupted destroy: SIGTERM, SIGKILL and GitHub's SIGINT-then-SIGTERM
//!   in turn while `terraform destroy` runs 12 slow resources; the state must
//!   stay whole (each resource in state or destroyed, never both or neither)
//!   and a re-run must finish.
//!
//! The trials are the integration tests `faults::kill_and_resume_drill` and
//! `terraform::an_interrupted_destroy_keeps_the_state_whole_and_the_rerun_finishes`,
//! so the drill and the tests are one implementation; they print each trial and the tally.

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
                "terraform::an_interrupted_destroy_keeps_the_state_whole_and_the_rerun_finishes",
                "--exact",
                "--nocapture",
                // One trial at a time: a drill measures the product, not the machine's contention.
                "--test-threads=1",
            ]),
    )
}
