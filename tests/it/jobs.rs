//! The stack's running SageMaker jobs: stopped before the endpoints go, and
//! waited for until they have ended (`src/phases/jobs.rs`). moto completes
//! every job at once and has no StopTrainingJob; the fault proxy's job model
//! keeps them `InProgress` until stopped, then `Stopping`, then `Stopped`.

use std::time::Duration;

use serde_json::Value;

use crate::fault_proxy::{FaultProxy, Faults};
use crate::support::World;

/// (kind, name, outcome) of the sagemaker phase's jobs.
fn jobs(report: &Value) -> Vec<(String, String, String)> {
    crate::support::outcomes(report, "sagemaker", "_job")
}

/// One running job of each kind that is the stack's (by name and tags), one
/// protected, one of another project under the stack's prefix, and one of
/// another team: the plan lists the stack's four to stop and the other two
/// kept; the teardown stops exactly those four, reports each stopped only once
/// its Describe says `Stopped` (the model keeps each `Stopping` for 2 s), and
/// never asks about the other team's job. A rerun finds nothing left to stop.
#[test]
fn the_stacks_running_jobs_are_stopped_first_and_waited_for() {
    let world = World::start();
    world.seed(&[
        "--endpoints",
        "1",
        "--job",
        "training:retail-forecast-train-1",
        "--job",
        "processing:retail-forecast-prep-1",
        "--job",
        "transform:retail-forecast-batch-1",
        "--job",
        "tuning:retail-forecast-hpo-1",
        "--job",
        "training:retail-forecast-train-keep:Project=retail-forecast,sundown:protect=true",
        "--job",
        "training:retail-forecast-train-billing:Project=billing",
        "--job",
        "training:partner-train-1:Team=partner",
    ]);
    let stopping = Duration::from_secs(2);
    let proxy = FaultProxy::start(
        world.moto.port,
        Faults {
            job_stop: Some(stopping),
            ..Faults::default()
        },
    );
    let config = world.config(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         scope:\n  tags: { Project: retail-forecast }\n\
         sagemaker:\n  endpoint_prefix: retail-forecast\n  wait: 1m\n",
    );
    let run = |args: &[&str]| {
        world
            .sundown()
            .config(&config)
            .env("AWS_ENDPOINT_URL", &proxy.endpoint())
            .args(args)
            .args(&["--output", "json"])
            .run()
    };
    let stack_jobs = [
        ("processing_job", "retail-forecast-prep-1"),
        ("training_job", "retail-forecast-train-1"),
        ("transform_job", "retail-forecast-batch-1"),
        ("tuning_job", "retail-forecast-hpo-1"),
    ];

    let plan = run(&["plan"]);
    assert_eq!(plan.code, 0, "{plan:#?}");
    let plan = plan.json();
    assert_eq!(plan["summary"]["stop"], 4, "{:#}", plan["summary"]);
    let planned: Vec<(String, String)> = plan["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["resources"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["kind"].as_str().unwrap().ends_with("_job"))
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (_, name) in stack_jobs {
        assert!(planned.contains(&(name.to_owned(), "stop".to_owned())), "{planned:?}");
    }
    for name in ["retail-forecast-train-keep", "retail-forecast-train-billing"] {
        assert!(planned.contains(&(name.to_owned(), "keep".to_owned())), "{planned:?}");
    }
    assert!(!planned.iter().any(|(n, _)| n.starts_with("partner")), "{planned:?}");

    let out = run(&["teardown", "--confirm", "destroy"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let report = out.json();
    let mut expected: Vec<(String, String, String)> = stack_jobs
        .iter()
        .map(|(k, n)| ((*k).to_owned(), (*n).to_owned(), "stopped".to_owned()))
        .collect();
    expected.push((
        "training_job".into(),
        "retail-forecast-train-billing".into(),
        "kept".into(),
    ));
    expected.push((
        "training_job".into(),
        "retail-forecast-train-keep".into(),
        "kept".into(),
    ));
    expected.sort();
    assert_eq!(jobs(&report), expected, "{report:#}");
    assert_eq!(
        proxy.stopped_jobs(),
        [
            "HyperParameterTuningJob/retail-forecast-hpo-1",
            "ProcessingJob/retail-forecast-prep-1",
            "TrainingJob/retail-forecast-train-1",
            "TransformJob/retail-forecast-batch-1",
        ],
        "exactly the stack's four were stopped"
    );
    // Reported stopped only once seen Stopped: each job's last Describe came after its time Stopping.
    let received = proxy.received.lock().unwrap().clone();
    for (_, name) in stack_jobs {
        let stop = received
            .iter()
            .find(|(_, op, body)| op.starts_with("Stop") && body.contains(name))
            .unwrap_or_else(|| panic!("no stop of {name}"));
        let last_describe = received
            .iter()
            .rfind(|(_, op, body)| op.starts_with("Describe") && op.ends_with("Job") && body.contains(name))
            .unwrap_or_else(|| panic!("{name} was never described after its stop"));
        assert!(
            last_describe.0.duration_since(stop.0) >= stopping,
            "{name} reported stopped before the model could show it Stopped"
        );
    }
    assert!(
        !received.iter().any(|(_, _, body)| body.contains("partner-train-1")),
        "nothing asked about the other team's job"
    );
    assert!(
        !received
            .iter()
            .any(|(_, op, body)| op.starts_with("Stop") && (body.contains("-keep") || body.contains("-billing"))),
        "the kept jobs were not stopped"
    );

    let again = run(&["teardown", "--confirm", "destroy"]);
    assert_eq!(again.code, 0, "{again:#?}");
    let left = jobs(&again.json());
    assert!(
        left.iter().all(|(_, _, outcome)| outcome == "kept"),
        "the rerun finds nothing left to stop: {left:?}"
    );
}
