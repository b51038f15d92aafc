//! `cargo xtask teardown [-- FLAGS]`: tear down the stack in the repository's
//! `sundown.yaml` from a laptop, with the user's own AWS credentials.
//!
//! It builds the binary and runs `sundown teardown` with the terminal attached,
//! so the typed confirmation is asked there. Same code path as the Action.

use std::process::Command;

use anyhow::Result;

pub fn run(args: &[String]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    crate::run_cmd(
        Command::new(cargo)
            .current_dir(crate::root())
            .args(["build", "--quiet", "--bin", "sundown"]),
    )?;
    let sundown = crate::target_dir().join("debug").join("sundown");
    let mut cmd = Command::new(sundown);
    let args: Vec<&String> = args.iter().filter(|a| a.as_str() != "--").collect();
    if !args
        .iter()
        .any(|a| a.as_str() == "--config" || a.starts_with("--config="))
    {
        cmd.arg("--config").arg(crate::root().join("sundown.yaml"));
    }
    cmd.arg("teardown").args(args);
    // Pass sundown's exit code through: 2 (refused) must stay 2.
    let status = cmd.status()?;
    std::process::exit(status.code().unwrap_or(1));
}
