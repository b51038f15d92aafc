//! `cargo xtask teardown|verify [-- FLAGS]`: run sundown against the stack in
//! the repository's `sundown.yaml`, with the user's own AWS credentials.
//!
//! It builds the binary and runs it with the terminal attached, so teardown's
//! typed confirmation is asked there. Same code path as the Action.

use std::process::Command;

use anyhow::Result;

/// Runs `sundown <command> <args>`, adding `--config <repo>/sundown.yaml` unless given.
pub fn run(command: &str, args: &[String]) -> Result<()> {
    let sundown = build()?;
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

/// Builds the debug binary and returns its path.
pub fn build() -> Result<std::path::PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    crate::run_cmd(
        Command::new(cargo)
            .current_dir(crate::root())
            .args(["build", "--quiet", "--bin", "sundown"]),
    )?;
    Ok(crate::target_dir().join("debug").join("sundown"))
}
