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
    tools::ensure()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_cmd(
        Command::new(cargo)
            .current_dir(crate::root())
            .env("SUNDOWN_DRILL_TRIALS", trials.to_string())
            .args([
                "test",
                "--test",
                "integration",
                "faults::kill_and_resume_drill",
                "--",
                "--exact",
                "--nocapture",
            ]),
    )
}
