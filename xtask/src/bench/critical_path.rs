//! `cargo xtask bench critical-path`: a teardown against its critical path,
//! with AWS's waits modelled: the namespace stays Terminating for `WAIT`
//! (the Kubernetes fake), each endpoint stays Deleting for `WAIT` and each
//! running training job Stopping for `WAIT` (the fault proxy), and a
//! Terraform fixture of 12 resources. The critical path is the longest of
//! the independent waits plus `terraform destroy`, from the report's own
//! phase times; the figure is the whole teardown against it (issue 28's
//! target: ≤ 1.1×). `teardown.order: strict` runs the same stack one phase
//! after another, and is measured against the sum of the phases.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::demo::with_emulator;
use crate::fault_proxy::{EndpointDeletion, FaultProxy, Faults};
use crate::kube_fake::KubeFake;
use crate::moto::{Moto, Tools};

/// Each modelled wait: namespace termination, endpoint deletion, job stop.
const WAIT: Duration = Duration::from_secs(6);
const RESOURCES: usize = 12;

pub fn run(sundown: &Path, tools: &Tools, work: &Path) -> Result<()> {
    println!(
        "critical path ({}s waits: namespace, endpoints, training job; {RESOURCES} Terraform resources; {} binary):",
        WAIT.as_secs(),
        super::build_of(sundown)
    );
    for order in ["overlapped", "strict"] {
        let report = teardown(sundown, tools, &work.join(order), order)?;
        let phase = |name: &str| -> Result<(f64, f64)> {
            let p = report["phases"]
                .as_array()
                .and_then(|p| p.iter().find(|p| p["phase"] == name))
                .with_context(|| format!("no {name} phase in the report"))?;
            let start = p["start_seconds"].as_f64().context("no start_seconds")?;
            Ok((start, p["duration_seconds"].as_f64().context("no duration_seconds")?))
        };
        let phases = ["kubernetes", "sagemaker", "ecr", "terraform"]
            .into_iter()
            .map(|name| Ok((name, phase(name)?)))
            .collect::<Result<Vec<_>>>()?;
        let total = report["duration_seconds"].as_f64().context("no duration")?;
        let duration = |name: &str| phases.iter().find(|(n, _)| *n == name).map_or(0.0, |(_, (_, d))| *d);
        let terraform = duration("terraform");
        let waits = ["kubernetes", "sagemaker", "ecr"].map(duration);
        let critical = waits.iter().copied().fold(0.0, f64::max) + terraform;
        let sum = waits.iter().sum::<f64>() + terraform;
        println!("teardown.order: {order}");
        for (name, (start, duration)) in &phases {
            println!("  {name:<12} phase    starts {start:>6.2}s, takes {duration:>6.2}s");
        }
        println!("  teardown                   {total:>8.2}s");
        println!("  critical path              {critical:>8.2}s  (longest independent wait + terraform)");
        println!("  sum of the phases          {sum:>8.2}s");
        match order {
            "overlapped" => println!(
                "  teardown / critical path   {:>8.2}x  (target <= 1.1x: {})",
                total / critical,
                if total / critical <= 1.1 { "met" } else { "NOT met" }
            ),
            _ => println!(
                "  teardown / sum             {:>8.2}x  (one phase after another)",
                total / sum
            ),
        }
    }
    Ok(())
}

/// One teardown of a freshly seeded stack in `order`; returns its report,
/// once each modelled wait is seen to have happened (or the figure measures nothing).
fn teardown(sundown: &Path, tools: &Tools, work: &Path, order: &str) -> Result<Value> {
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work.join("infra"))?;
    let moto = Moto::start(&tools.moto_server(), Some(&work.join("moto.log"))).map_err(anyhow::Error::msg)?;
    let result = measure(sundown, tools, &moto, work, order);
    moto.stop();
    let report = result?;
    for (name, field, want) in [
        ("kubernetes", "deleted", 1),
        ("sagemaker", "stopped", 1),
        ("terraform", "deleted", RESOURCES),
    ] {
        let got = report["phases"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["phase"] == name))
            .and_then(|p| p[field].as_u64())
            .unwrap_or(0);
        ensure!(
            got == want as u64,
            "the {name} phase {field} {got}, not {want}: {report:#}"
        );
    }
    Ok(report)
}

/// Seeds the stack, applies the Terraform fixture, and tears it all down through the models.
fn measure(sundown: &Path, tools: &Tools, moto: &Moto, work: &Path, order: &str) -> Result<Value> {
    let mut seed = Command::new(tools.python());
    seed.arg(crate::root().join("tests/fixtures/seed.py")).args([
        "--endpoints",
        "2",
        "--repo",
        "retail-forecast:5",
        "--job",
        "training:retail-forecast-train-1",
        "--cluster",
    ]);
    let out = with_emulator(&mut seed, tools, moto).output()?;
    ensure!(
        out.status.success(),
        "seeding: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let infra = work.join("infra");
    std::fs::copy(
        crate::root().join("tests/fixtures/terraform/main.tf"),
        infra.join("main.tf"),
    )?;
    for args in [
        vec!["init".to_owned(), "-input=false".into(), "-no-color".into()],
        vec![
            "apply".to_owned(),
            "-auto-approve".into(),
            "-input=false".into(),
            "-no-color".into(),
            format!("-var=resources={RESOURCES}"),
        ],
    ] {
        let mut cmd = Command::new(tools.terraform());
        let out = with_emulator(&mut cmd, tools, moto)
            .current_dir(&infra)
            .args(&args)
            .output()?;
        ensure!(
            out.status.success(),
            "terraform {}: {}",
            args[0],
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let kube = KubeFake::start()?;
    kube.add_namespace("retail-forecast", false);
    kube.set_termination(WAIT);
    kube.write_kubeconfig(&work.join("kubeconfig"))?;
    let proxy = FaultProxy::start(
        moto.port,
        Faults {
            endpoint_deletion: Some(EndpointDeletion {
                delay: WAIT,
                ..EndpointDeletion::default()
            }),
            job_stop: Some(WAIT),
            ..Faults::default()
        },
    );
    let config = work.join("sundown.yaml");
    std::fs::write(
        &config,
        format!(
            "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
             kubernetes:\n  cluster: retail-forecast-cluster\n  kubeconfig: kubeconfig\n  api_server: {}\n  \
             namespaces: [retail-forecast]\n  wait: 2m\n\
             sagemaker:\n  endpoint_prefix: retail-forecast\n  wait: 2m\n\
             ecr:\n  repositories: [retail-forecast]\n\
             terraform:\n  dir: infra\n  binary: {}\n\
             teardown:\n  order: {order}\n",
            kube.url(),
            tools.terraform().display()
        ),
    )?;
    let mut cmd = crate::demo::sundown_cmd(sundown, tools, moto, &config);
    cmd.env("AWS_ENDPOINT_URL", proxy.endpoint())
        .args(["teardown", "--confirm", "destroy", "--output", "json"]);
    let out = cmd.output()?;
    ensure!(
        out.status.success(),
        "the teardown failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).context("the report")
}
