//! `cargo xtask home-check`: proves that the demo writes nothing into the
//! user's home but caches. It runs `cargo xtask demo` with an empty `HOME`
//! (Cargo and rustup still pointed at the real toolchain) and a tools
//! directory of its own, so the installation is exercised too, then lists
//! what appeared in `HOME` outside `~/.cache`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

pub fn run(args: &[String]) -> Result<()> {
    anyhow::ensure!(args.is_empty(), "usage: cargo xtask home-check");
    let base = crate::target_dir().join("home-check");
    let home = base.join("home");
    let tools = base.join("sundown-tools");
    if base.exists() {
        std::fs::remove_dir_all(&base).with_context(|| format!("removing {}", base.display()))?;
    }
    std::fs::create_dir_all(&home)?;
    let real_home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let cargo_home = std::env::var_os("CARGO_HOME").map_or_else(|| real_home.join(".cargo"), PathBuf::from);
    let rustup_home = std::env::var_os("RUSTUP_HOME").map_or_else(|| real_home.join(".rustup"), PathBuf::from);
    let mut demo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    demo.args(["xtask", "demo"])
        .current_dir(crate::root())
        .env("HOME", &home)
        .env("CARGO_HOME", &cargo_home)
        .env("RUSTUP_HOME", &rustup_home)
        .env("SUNDOWN_TOOLS_DIR", &tools);
    for var in [
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "TF_CLI_CONFIG_FILE",
        "TF_PLUGIN_CACHE_DIR",
    ] {
        demo.env_remove(var);
    }
    crate::run_cmd(&mut demo)?;
    let mut written = Vec::new();
    walk(&home, &home, &mut written)?;
    written.retain(|p| !p.starts_with(".cache"));
    anyhow::ensure!(
        written.is_empty(),
        "the demo wrote outside target/ and ~/.cache: {}",
        written
            .iter()
            .map(|p| format!("~/{}", p.display()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "home-check: `cargo xtask demo` with HOME={} and fresh tools in {} left nothing in HOME but ~/.cache",
        home.display(),
        tools.display()
    );
    Ok(())
}

/// Every file (and empty directory) under `dir`, relative to `home`.
fn walk(home: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut empty = true;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        empty = false;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(home, &path, out)?;
        } else {
            out.push(path.strip_prefix(home)?.to_owned());
        }
    }
    if empty && dir != home {
        out.push(dir.strip_prefix(home)?.to_owned());
    }
    Ok(())
}
