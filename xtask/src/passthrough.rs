//! `cargo xtask teardown|verify [-- FLAGS]`: run sundown against the stack in
//! the repository's `sundown.yaml`, with the user's own AWS credentials.
//!
//! It builds the binary and runs it with the terminal attached, so teardown's
//! typed confirmation is asked there. Same code path as the Action.

use std::process::Command;

use anyhow::Result;

/// Runs `sundown <command> <args>`, adding `--config <repo>/sundown.yaml` unless given.
pub fn run(command: &str, args: &[String]) -> Result<()> {
    let sundown = crate::build_debug()?;
    let mut cmd = Command::new(sundown);
    let args: Vec<&String> = args.iter().filter(|a| a.as_str() != "--").collect();
    if !args
        .iter()
        .any(|a| a.as_str() == "--config" || a.starts_with("--config="))
    {
        cmd.arg("--config").arg(crate::root().join("sundown.yaml"));
    }
    cmd.arg(command).args(args);
    // Pass sundown's exit code through: 2 (refused) must stay 2.
    let status = cmd.status()?;
    std::process::exit(status.code().unwrap_or(1));
}
