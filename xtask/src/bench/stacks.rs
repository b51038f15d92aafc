//! `cargo xtask bench stacks`: `sundown stacks` over 500 configs, one process
//! reading them all, against a shell loop that starts sundown once per config
//! to read it (`sundown --config F iam-policy --for read-only`, which reads
//! the config and no AWS). Target: ≥ 20× faster.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};

const CONFIGS: usize = 500;

pub fn run(sundown: &Path, work: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(work);
    for i in 0..CONFIGS {
        let dir = work.join(format!("team-{}", i / 50)).join(format!("stack-{i:03}"));
        std::fs::create_dir_all(&dir)?;
        let lifetime = match i % 3 {
            0 => "lifetime:\n  expires_at: 2026-01-31T18:00:00Z\n",
            1 => "lifetime:\n  expires_at: 2099-01-31T18:00:00Z\n  remind_before: 48h\n",
            _ => "",
        };
        std::fs::write(
            dir.join("sundown.yaml"),
            format!(
                "stack: stack-{i:03}\nregion: us-east-1\naccounts: [\"{:012}\"]\n\
                 sagemaker:\n  endpoint_prefix: stack-{i:03}\necr:\n  repositories: [stack-{i:03}]\n{lifetime}",
                100_000_000_000u64 + (i % 7) as u64
            ),
        )?;
    }
    let one = time(|| {
        let out = Command::new(sundown)
            .args(["stacks", "--root"])
            .arg(work)
            .args(["--output", "json"])
            .env("SUNDOWN_NOW", "2026-06-01T00:00:00Z")
            .stderr(Stdio::null())
            .output()?;
        ensure!(
            out.status.success(),
            "sundown stacks failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        ensure!(
            doc["stacks"].as_array().map(Vec::len) == Some(CONFIGS),
            "sundown stacks did not list {CONFIGS} stacks"
        );
        Ok(())
    })?;
    let script = "for f in $(find \"$1\" -name sundown.yaml); do \"$2\" --config \"$f\" iam-policy --for read-only >/dev/null || exit 1; done";
    let looped = time(|| {
        let status = Command::new("sh")
            .args(["-c", script, "sh"])
            .arg(work)
            .arg(sundown)
            .stderr(Stdio::null())
            .status()?;
        ensure!(status.success(), "the shell loop failed");
        Ok(())
    })?;
    println!("stacks ({CONFIGS} configs, {} binary):", super::build_of(sundown));
    println!("  sundown stacks             {:>8.1} ms", one.as_secs_f64() * 1000.0);
    println!("  shell loop, one per config {:>8.1} ms", looped.as_secs_f64() * 1000.0);
    println!(
        "  ratio                      {:>8.1}× faster (target ≥ 20×)",
        looped.as_secs_f64() / one.as_secs_f64()
    );
    Ok(())
}

/// The median of three runs of `f`, after one warm-up run.
fn time(mut f: impl FnMut() -> Result<()>) -> Result<Duration> {
    f()?;
    let mut samples = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        f()?;
        samples.push(start.elapsed());
    }
    Ok(super::median(samples))
}
