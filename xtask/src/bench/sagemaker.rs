//! The SageMaker phase against the latency model: every endpoint takes
//! `DELETION` to delete (AWS takes minutes; moto no time at all), through the
//! proxy of `tests/it/fault_proxy.rs`. Delete all, then wait once: 24
//! endpoints should take about as long as 1 (target ≤ 1.3×), and 1 about
//! the deletion itself (target ≤ `DELETION` + 1.5 s, so that a slow first
//! poll cannot hide the ratio). Also the requests sundown sends per poll round.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::demo::with_emulator;
use crate::fault_proxy::{EndpointDeletion, FaultProxy, Faults};
use crate::moto::{Moto, Tools};

/// How long each endpoint stays `Deleting`.
const DELETION: Duration = Duration::from_secs(3);
const MANY: usize = 24;
/// Runs per size; the median counts.
const RUNS: usize = 3;

struct Run {
    phase: Duration,
    rounds: usize,
    poll_requests: usize,
}

pub fn run(sundown: &Path, tools: &Tools, work: &Path) -> Result<()> {
    std::fs::create_dir_all(work)?;
    let mut one = Vec::new();
    let mut many = Vec::new();
    for _ in 0..RUNS {
        one.push(measure(sundown, tools, work, 1)?);
        many.push(measure(sundown, tools, work, MANY)?);
    }
    let median = |runs: &[Run]| crate::bench::median(runs.iter().map(|r| r.phase).collect());
    let (t1, tn) = (median(&one), median(&many));
    let ratio = tn.as_secs_f64() / t1.as_secs_f64();
    let bound = DELETION + Duration::from_millis(1500);
    println!(
        "sagemaker phase with {}s deletions (latency model; median of {RUNS} runs of the {} binary):",
        DELETION.as_secs(),
        super::build_of(sundown)
    );
    println!(
        "  1 endpoint                 {:>8.2}s  (target <= {:.1}s: {})",
        t1.as_secs_f64(),
        bound.as_secs_f64(),
        met(t1 <= bound)
    );
    println!("  {MANY} endpoints               {:>8.2}s", tn.as_secs_f64());
    println!(
        "  {MANY} / 1                     {ratio:>8.2}x  (target <= 1.3x: {})",
        met(ratio <= 1.3)
    );
    let last = many.last().expect("runs");
    println!(
        "  requests per poll round    {:>8.2}   ({} requests in {} rounds while {MANY} endpoints were Deleting)",
        last.poll_requests as f64 / last.rounds.max(1) as f64,
        last.poll_requests,
        last.rounds
    );
    Ok(())
}

fn met(yes: bool) -> &'static str {
    if yes { "met" } else { "NOT met" }
}

/// One teardown of `n` endpoints (with configs and models) through the latency model.
fn measure(sundown: &Path, tools: &Tools, work: &Path, n: usize) -> Result<Run> {
    let moto = Moto::start(&tools.moto_server(), Some(&work.join("moto.log"))).map_err(anyhow::Error::msg)?;
    let mut seed = Command::new(tools.python());
    seed.arg(crate::root().join("tests/fixtures/seed.py"))
        .args(["--endpoints", &n.to_string()]);
    let out = with_emulator(&mut seed, tools, &moto).output()?;
    ensure!(
        out.status.success(),
        "seeding: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let proxy = FaultProxy::start(
        moto.port,
        Faults {
            endpoint_deletion: Some(EndpointDeletion {
                delay: DELETION,
                ..EndpointDeletion::default()
            }),
            ..Faults::default()
        },
    );
    let config = work.join("sundown.yaml");
    std::fs::write(
        &config,
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         sagemaker:\n  endpoint_prefix: retail-forecast\n  wait: 2m\n",
    )?;
    let mut cmd = crate::demo::sundown_cmd(sundown, tools, &moto, &config);
    cmd.env("AWS_ENDPOINT_URL", proxy.endpoint())
        .args(["teardown", "--confirm", "destroy", "--output", "json"]);
    let out = cmd.output()?;
    ensure!(
        out.status.success(),
        "teardown of {n} endpoints failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).context("the report")?;
    let phase = report["phases"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["phase"] == "sagemaker"))
        .context("no sagemaker phase")?;
    ensure!(
        phase["deleted"] == 3 * n,
        "deleted {} of {}: {phase}",
        phase["deleted"],
        3 * n
    );
    // The poll rounds: what sundown sent from its last DeleteEndpoint until the first
    // DeleteEndpointConfig that waited for an endpoint to be gone.
    let received = proxy.received.lock().unwrap().clone();
    let last_delete = received
        .iter()
        .rposition(|(_, op, _)| op == "DeleteEndpoint")
        .context("no DeleteEndpoint")?;
    let after: Vec<&(Instant, String, String)> = received[last_delete + 1..].iter().collect();
    let until = after
        .iter()
        .position(|(_, op, _)| op == "DeleteEndpointConfig")
        .unwrap_or(after.len());
    let polling = &after[..until];
    let rounds = polling
        .iter()
        .filter(|(_, op, body)| op == "ListEndpoints" && body.contains("NameContains"))
        .count();
    moto.stop();
    Ok(Run {
        phase: Duration::from_secs_f64(phase["duration_seconds"].as_f64().unwrap_or(0.0)),
        rounds,
        poll_requests: polling.len(),
    })
}
