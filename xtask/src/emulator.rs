//! `cargo xtask emulator install|start [--seed]|stop|status`: a long-running
//! moto for trying sundown by hand; `--seed` puts the demo's stack on it (its
//! endpoints, images, bucket and a local Terraform module) with a
//! `sundown.yaml` in `target/sundown-emulator/`. The demo and the tests start their own.

use anyhow::{Context, Result, bail};

use crate::moto::{Moto, Tools};
use crate::tools;

pub fn run(args: &[String]) -> Result<()> {
    let tools = Tools::new(&crate::root());
    let state = tools.root.join("emulator.json");
    match args.first().map(String::as_str) {
        Some("install") => {
            tools::ensure()?;
            println!("emulator installed in {}", tools.venv().display());
        }
        Some("start") => {
            let seed = match args.get(1).map(String::as_str) {
                None => false,
                Some("--seed") => true,
                Some(other) => bail!("unknown option {other:?}; usage: cargo xtask emulator start [--seed]"),
            };
            if let Some(port) = running(&state) {
                println!("emulator already running: http://127.0.0.1:{port}");
                if seed {
                    seed_stack(&tools::ensure()?, port)?;
                }
                return Ok(());
            }
            let tools = tools::ensure()?;
            let log = tools.root.join("emulator.log");
            let moto = Moto::start_lasting(&tools.moto_server(), Some(&log)).map_err(anyhow::Error::msg)?;
            let port = moto.port;
            let pid = moto.detach();
            std::fs::write(&state, serde_json::json!({"pid": pid, "port": port}).to_string())?;
            println!(
                "emulator running: http://127.0.0.1:{port} (pid {pid}, log {})",
                log.display()
            );
            println!(
                "export AWS_ENDPOINT_URL=http://127.0.0.1:{port} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
            );
            if seed {
                seed_stack(&tools, port)?;
            }
        }
        Some("stop") => {
            let Ok(text) = std::fs::read_to_string(&state) else {
                println!("emulator not running");
                return Ok(());
            };
            let v: serde_json::Value = serde_json::from_str(&text).context("reading emulator.json")?;
            if let Some(pid) = v["pid"].as_u64() {
                let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
            }
            std::fs::remove_file(&state)?;
            println!("emulator stopped");
        }
        Some("status") => match running(&state) {
            Some(port) => println!("emulator running: http://127.0.0.1:{port}"),
            None => println!("emulator not running (start it with `cargo xtask emulator start`)"),
        },
        _ => bail!("usage: cargo xtask emulator install|start [--seed]|stop|status"),
    }
    Ok(())
}

/// The port of a started emulator that still answers.
fn running(state: &std::path::Path) -> Option<u16> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(state).ok()?).ok()?;
    let port = u16::try_from(v["port"].as_u64()?).ok()?;
    let moto = Moto::attach(port);
    matches!(moto.request("GET", "/moto-api/data.json", ""), Ok((200, _))).then_some(port)
}

/// Seeds the demo's stack on the running emulator and writes a config for it;
/// prints the commands to try. No Kubernetes fake lasts, so no namespace phase.
fn seed_stack(tools: &Tools, port: u16) -> Result<()> {
    let moto = Moto::attach(port);
    let work = crate::target_dir().join("sundown-emulator");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let seeded = crate::demo::seed(tools, &moto)?;
    crate::demo::apply_terraform(tools, &moto, &work)?;
    let config = crate::demo::write_config(tools, &work, &seeded, None)?;
    let sundown = crate::build_sundown()?;
    println!("seeded the demo's stack; try, in this shell:");
    println!(
        "  export AWS_ENDPOINT_URL=http://127.0.0.1:{port} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
         AWS_REGION=us-east-1 TF_CLI_CONFIG_FILE={}",
        tools.terraform_rc().display()
    );
    for command in ["plan", "cost", "verify", "schedule stop", "teardown"] {
        println!("  {} --config {} {command}", sundown.display(), config.display());
    }
    println!("  (`cargo xtask emulator stop` when done)");
    Ok(())
}
