//! `cargo xtask test`: every check CI runs, with its own set-up.
//! Installs the emulator and Terraform (if missing), then runs rustfmt,
//! clippy and the whole test suite. `.ci/run` calls exactly this.

use std::process::Command;

use anyhow::Result;

use crate::{run_cmd, tools};

pub fn run(args: &[String]) -> Result<()> {
    tools::ensure()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
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
    run_cmd(
        Command::new(&cargo)
            .current_dir(&root)
            .args(["test", "--workspace"])
            .args(args),
    )?;
    Ok(())
}
