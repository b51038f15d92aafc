//! `cargo xtask bench`: figures measured on the emulator in one run, each
//! printed as a ratio against its baseline or target.
//!
//! - Verify: the whole checklist's wall time against its slowest single check
//!   (target: within 1.5×) and against the checks run one after another.
//! - Teardown (`bench/teardown.rs`): `sundown teardown` against a shell script
//!   of aws-cli calls doing the same deletions, on a large seeded stack
//!   (target: 20× faster), and the API calls each made against the minimum
//!   the work needs (target: sundown within 1.1×).
//! - SageMaker waits (`bench/sagemaker.rs`): the phase for 24 endpoints
//!   against 1, with 3 s deletions through the latency model (target ≤ 1.3×),
//!   and the requests per poll round.
//! - Critical path (`bench/critical_path.rs`): a teardown with AWS's waits
//!   modelled (namespace, endpoints, a training job, each 6 s) against the
//!   longest of them plus `terraform destroy` (issue 28's target: ≤ 1.1×).
//! - Stacks (`bench/stacks.rs`): `sundown stacks` over 500 configs against a
//!   shell loop starting sundown once per config (target: ≥ 20× faster).
//! - The stripped release binary's size and `sundown --help` start-up time.
//!
//! Every timing runs the release binary, process start included; with
//! `--debug`, the debug binary the tests build (no 30-minute release build),
//! for the sections whose figures are ratios of waits and request counts.

mod critical_path;
mod sagemaker;
mod stacks;
mod teardown;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};

use crate::demo::{seed, sundown_cmd, write_config};
use crate::moto::{Moto, Tools};
use crate::tools;

const RUNS: usize = 5;
/// `sundown --help` runs timed for the start-up figure (after one warm-up run).
const HELP_RUNS: usize = 20;

/// `cargo xtask bench [--debug] [verify|teardown|sagemaker|critical-path|stacks|binary ...]`: every section, or those named.
pub fn run(args: &[String]) -> Result<()> {
    const SECTIONS: [&str; 6] = ["verify", "teardown", "sagemaker", "critical-path", "stacks", "binary"];
    let debug = args.first().is_some_and(|a| a == "--debug");
    let args = if debug { &args[1..] } else { args };
    if let Some(unknown) = args.iter().find(|a| !SECTIONS.contains(&a.as_str())) {
        anyhow::bail!("unknown section {unknown:?}; sections: {}", SECTIONS.join(", "));
    }
    let wanted = |section: &str| args.is_empty() || args.iter().any(|a| a == section);
    ensure!(
        !(debug && wanted("binary")),
        "the binary section measures the release binary; leave out --debug or name other sections"
    );
    let tools = tools::ensure()?;
    let sundown = if debug {
        println!("(debug binary: timings are slower than release; the ratios compare like with like)\n");
        crate::build_debug()?
    } else {
        build_release()?
    };
    let work = crate::target_dir().join("sundown-bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("infra"))?;
    std::fs::write(work.join("kubeconfig"), "")?;

    if wanted("verify") {
        eprintln!("xtask bench: verify");
        let moto = Moto::start(&tools.moto_server(), Some(&work.join("moto.log"))).map_err(anyhow::Error::msg)?;
        let seeded = seed(&tools, &moto)?;
        // verify never contacts the Kubernetes API: any URL does.
        let config = write_config(&tools, &work, &seeded, Some("http://127.0.0.1:9"))?;
        verify_figures(&sundown, &tools, &moto, &config)?;
        moto.stop();
        println!();
    }
    if wanted("teardown") {
        let aws = tools::ensure_awscli()?;
        teardown::run(&sundown, &tools, &aws, &work.join("teardown"))?;
        println!();
    }
    if wanted("sagemaker") {
        eprintln!("xtask bench: sagemaker waits");
        sagemaker::run(&sundown, &tools, &work.join("sagemaker"))?;
        println!();
    }
    if wanted("critical-path") {
        eprintln!("xtask bench: critical path");
        critical_path::run(&sundown, &tools, &work.join("critical-path"))?;
        println!();
    }
    if wanted("stacks") {
        eprintln!("xtask bench: stacks");
        stacks::run(&sundown, &work.join("stacks"))?;
        println!();
    }
    if wanted("binary") {
        binary_figures(&sundown)?;
    }
    Ok(())
}

/// "release" or "debug": which build `sundown` is, for the figures' labels.
pub fn build_of(sundown: &Path) -> &'static str {
    if sundown.components().any(|c| c.as_os_str() == "release") {
        "release"
    } else {
        "debug"
    }
}

/// Builds the release binary (stripped, per Cargo.toml's release profile) and returns its path.
fn build_release() -> Result<PathBuf> {
    let cargo = crate::cargo();
    crate::run_cmd(Command::new(cargo).current_dir(crate::root()).args([
        "build",
        "--release",
        "--quiet",
        "--bin",
        "sundown",
    ]))?;
    Ok(crate::target_dir().join("release").join("sundown"))
}

/// The release binary's size on disk and the median wall time of `sundown --help`.
fn binary_figures(sundown: &Path) -> Result<()> {
    let size = std::fs::metadata(sundown)?.len();
    let mut samples = Vec::with_capacity(HELP_RUNS);
    for run in 0..=HELP_RUNS {
        let start = Instant::now();
        let status = Command::new(sundown)
            .arg("--help")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        let elapsed = start.elapsed();
        ensure!(status.success(), "sundown --help exited with {status}");
        // The first run warms the page cache and is not counted.
        if run > 0 {
            samples.push(elapsed);
        }
    }
    println!("binary (target/release/sundown, stripped):");
    println!(
        "  size                       {:>8.1} MiB ({size} bytes)",
        size as f64 / (1024.0 * 1024.0)
    );
    println!(
        "  sundown --help start-up    {:>8.1} ms (median of {HELP_RUNS} runs)",
        median(samples).as_secs_f64() * 1000.0
    );
    Ok(())
}

pub(crate) fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time_verify(sundown: &Path, tools: &Tools, moto: &Moto, config: &Path, checks: &[&str]) -> Result<Duration> {
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let mut cmd: Command = sundown_cmd(sundown, tools, moto, config);
        cmd.args(["verify", "--output", "json"]);
        for id in checks {
            cmd.args(["--check", id]);
        }
        let start = Instant::now();
        let out = cmd.output()?;
        samples.push(start.elapsed());
        // 0 or 1 (a check the emulator cannot answer errors); 2 would be a usage problem.
        ensure!(
            out.status.code() != Some(2),
            "verify refused: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(median(samples))
}

fn verify_figures(sundown: &Path, tools: &Tools, moto: &Moto, config: &Path) -> Result<()> {
    const CHECKS: [&str; 9] = [
        "eks.spot",
        "s3.lifecycle",
        "s3.tiering",
        "logs.retention",
        "ecr.lifecycle",
        "budget",
        "schedule",
        "sagemaker.spot_training",
        "tags",
    ];
    let whole = time_verify(sundown, tools, moto, config, &CHECKS)?;
    let mut singles = Vec::new();
    for id in CHECKS {
        singles.push((id, time_verify(sundown, tools, moto, config, &[id])?));
    }
    let (slowest_id, slowest) = singles.iter().max_by_key(|(_, d)| *d).copied().unwrap();
    let sequential: Duration = singles.iter().map(|(_, d)| *d).sum();
    println!(
        "verify ({} checks, median of {RUNS} runs of the {} binary against moto):",
        CHECKS.len(),
        build_of(sundown)
    );
    println!("  whole checklist            {:>8.3}s", whole.as_secs_f64());
    println!("  slowest check ({slowest_id:<23}) {:>8.3}s", slowest.as_secs_f64());
    println!("  checks one after another   {:>8.3}s", sequential.as_secs_f64());
    let ratio = whole.as_secs_f64() / slowest.as_secs_f64();
    println!(
        "  whole / slowest check      {ratio:>8.2}x  (target <= 1.5x: {})",
        if ratio <= 1.5 { "met" } else { "NOT met" }
    );
    println!(
        "  whole / one after another  {:>8.2}x",
        whole.as_secs_f64() / sequential.as_secs_f64()
    );
    Ok(())
}
