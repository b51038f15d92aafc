//! The teardown's order with AWS's waits modelled (issue 28): the namespace
//! Terminating for seconds (the Kubernetes fake), the endpoints `Deleting`
//! and the training job `Stopping` (the fault proxy's latency model). The
//! deletions go out namespace, jobs, endpoints, images; their waits overlap;
//! `terraform destroy` starts only once all of them are over. Under
//! `teardown.order: strict` nothing of SageMaker is touched before the
//! namespace is gone. A failure in one phase and a cancel while every phase
//! waits keep today's semantics.
//!
//! The order is read from the fault proxy's log of what sundown sent (moto's
//! own recorder sees a DeleteEndpoint only when the latency model lets it
//! through, seconds later, and never sees StopTrainingJob, which moto lacks)
//! and from the Kubernetes fake's log, both timed by the test's clock.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fault_proxy::{EndpointDeletion, FaultProxy, Faults};
use crate::support::{World, phase};

/// Each modelled wait: namespace termination, endpoint deletion, job stop.
const WAIT: Duration = Duration::from_secs(3);
const REPOS: [&str; 1] = ["retail-forecast"];
/// The operations that change something, as the proxy names them, in the order they must first appear.
const ORDER: [&str; 3] = ["StopTrainingJob", "DeleteEndpoint", "BatchDeleteImage"];

/// A namespace, 2 endpoints, a running training job, 3 images and 2 Terraform resources,
/// with each wait `WAIT` long (`hold`: the endpoints stay Deleting until released).
fn world_with_waits(hold: bool, fail: &[&str]) -> (World, FaultProxy) {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.kube().set_termination(WAIT);
    world.seed(&[
        "--endpoints",
        "2",
        "--repo",
        "retail-forecast:3",
        "--job",
        "training:retail-forecast-train-1",
    ]);
    world.terraform(&["resources=2"]);
    let proxy = FaultProxy::start(
        world.moto.port,
        Faults {
            endpoint_deletion: Some(EndpointDeletion {
                delay: WAIT,
                hold,
                fail: fail
                    .iter()
                    .map(|n| {
                        (
                            (*n).to_owned(),
                            "InternalFailure: the endpoint's instances did not stop".to_owned(),
                        )
                    })
                    .collect(),
                ..EndpointDeletion::default()
            }),
            job_stop: Some(WAIT),
            ..Faults::default()
        },
    );
    (world, proxy)
}

/// When each operation first reached the proxy.
fn first_sent(proxy: &FaultProxy, op: &str) -> Instant {
    let received = proxy.received.lock().unwrap();
    received
        .iter()
        .find(|(_, o, _)| o == op)
        .map(|(at, _, _)| *at)
        .unwrap_or_else(|| panic!("sundown never sent {op}"))
}

/// When the namespace DELETE reached the Kubernetes fake.
fn namespace_deleted(world: &World) -> Instant {
    world
        .kube()
        .requests_at()
        .into_iter()
        .find(|(_, r)| r.starts_with("DELETE /api/v1/namespaces/retail-forecast"))
        .map(|(at, _)| at)
        .expect("no namespace DELETE reached the fake")
}

/// Seconds after the teardown started at which `name`'s phase ended.
fn ended(report: &Value, name: &str) -> f64 {
    let p = phase(report, name);
    p["start_seconds"].as_f64().unwrap() + p["duration_seconds"].as_f64().unwrap()
}

fn teardown(world: &World, proxy: &FaultProxy, config: &std::path::Path) -> crate::support::Running {
    let report = world.path("report.json");
    world
        .sundown()
        .config(config)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint())
        .args(&["teardown", "--confirm", "destroy", "--report", report.to_str().unwrap()])
        .start()
}

fn report(world: &World) -> Value {
    serde_json::from_str(&std::fs::read_to_string(world.path("report.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deletions_go_out_in_order_and_their_waits_overlap() {
    let (world, proxy) = world_with_waits(false, &[]);
    let config = world.stack_config("1m", "");
    let (code, _, lines) = teardown(&world, &proxy, &config).finish(Duration::from_secs(120));
    assert_eq!(code, 0, "{lines:#?}");
    let left = world.leftovers(&REPOS).await;
    assert!(left.is_empty(), "left after the teardown: {left:?}");
    assert!(world.state_list().is_empty());
    assert_eq!(proxy.stopped_jobs(), ["TrainingJob/retail-forecast-train-1"]);

    // The order: the namespace, then the job, then the endpoints, then the images.
    let mut at = vec![("namespace DELETE", namespace_deleted(&world))];
    at.extend(ORDER.map(|op| (op, first_sent(&proxy, op))));
    for pair in at.windows(2) {
        assert!(pair[0].1 < pair[1].1, "{} came after {}: {at:?}", pair[0].0, pair[1].0);
    }
    // Overlapped: every phase issued its deletions while the namespace was still Terminating.
    let removed = world
        .kube()
        .removed_at("retail-forecast")
        .expect("the namespace is gone");
    for op in ORDER {
        assert!(first_sent(&proxy, op) < removed, "{op} waited for the namespace to go");
    }
    // Terraform last: its first destroy after the namespace was gone and every earlier phase ended.
    let destroy = crate::support::first_destroy(&lines);
    assert!(
        removed < destroy,
        "terraform destroy started before the namespace was gone"
    );
    let report = report(&world);
    let terraform_start = phase(&report, "terraform")["start_seconds"].as_f64().unwrap();
    for name in ["kubernetes", "sagemaker", "ecr"] {
        assert!(
            ended(&report, name) <= terraform_start,
            "{name} ended after terraform started: {report:#}"
        );
        assert_eq!(phase(&report, name)["status"], "done", "{report:#}");
    }
    // The report draws the overlap: SageMaker started before the namespace phase ended.
    assert!(phase(&report, "sagemaker")["start_seconds"].as_f64().unwrap() < ended(&report, "kubernetes"));
    assert!(report["phases"][0]["start_seconds"].is_f64());
}

#[tokio::test(flavor = "multi_thread")]
async fn under_a_strict_order_nothing_of_sagemaker_is_touched_before_the_namespace_is_gone() {
    let (world, proxy) = world_with_waits(false, &[]);
    let config = world.stack_config("1m", "teardown:\n  order: strict\n");
    let (code, _, lines) = teardown(&world, &proxy, &config).finish(Duration::from_secs(120));
    assert_eq!(code, 0, "{lines:#?}");
    let left = world.leftovers(&REPOS).await;
    assert!(left.is_empty(), "left after the teardown: {left:?}");
    let removed = world
        .kube()
        .removed_at("retail-forecast")
        .expect("the namespace is gone");
    assert!(namespace_deleted(&world) < removed);
    for op in ORDER {
        assert!(
            removed < first_sent(&proxy, op),
            "{op} was sent while the namespace terminated"
        );
    }
    let report = report(&world);
    for pair in ["kubernetes", "sagemaker", "ecr", "terraform"].windows(2) {
        let start = phase(&report, pair[1])["start_seconds"].as_f64().unwrap();
        assert!(
            ended(&report, pair[0]) <= start,
            "{} overlapped {}: {report:#}",
            pair[1],
            pair[0]
        );
    }
}

/// An endpoint that fails to delete while the namespace still terminates: the
/// namespace and the images still go, the SageMaker phase fails with AWS's
/// reason, and `terraform destroy` does not run.
#[tokio::test(flavor = "multi_thread")]
async fn a_failure_in_one_phase_leaves_the_others_waiting_to_their_end_and_terraform_untouched() {
    let (world, proxy) = world_with_waits(false, &["retail-forecast-ep-1"]);
    let config = world.stack_config("1m", "");
    let (code, _, lines) = teardown(&world, &proxy, &config).finish(Duration::from_secs(120));
    assert_eq!(code, 1, "{lines:#?}");
    let report = report(&world);
    assert_eq!(report["result"], "failed");
    let sm = phase(&report, "sagemaker");
    assert_eq!(sm["status"], "failed", "{sm:#}");
    assert!(
        sm["errors"]
            .to_string()
            .contains("endpoint retail-forecast-ep-1 failed to delete"),
        "{sm:#}"
    );
    assert_eq!(phase(&report, "kubernetes")["status"], "done", "{report:#}");
    assert_eq!(phase(&report, "ecr")["status"], "done", "{report:#}");
    assert_eq!(phase(&report, "terraform")["status"], "skipped", "{report:#}");
    // The failure came while the namespace was still terminating, and the namespace still went.
    let removed = world
        .kube()
        .removed_at("retail-forecast")
        .expect("the namespace is gone");
    assert!(first_sent(&proxy, "DeleteEndpoint") < removed);
    let left = world.leftovers(&REPOS).await;
    assert_eq!((left.namespaces, left.images, left.terraform), (0, 0, 2), "{left:#?}");
}

/// SIGINT while the namespace, the endpoints and the job all wait: every wait
/// ends at once, the report says `interrupted` for the phases cut short, and
/// `terraform destroy` never starts; the re-run finishes the teardown.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_during_the_overlapped_waits_stops_them_all_and_the_rerun_finishes() {
    let (world, proxy) = world_with_waits(true, &[]);
    world.kube().hold_terminating("retail-forecast");
    let config = world.stack_config("1m", "");
    let running = teardown(&world, &proxy, &config);
    // Every phase has issued its deletions and is waiting.
    let asked = Instant::now();
    while proxy.count("BatchDeleteImage") == 0 || proxy.deleting().len() < 2 {
        assert!(
            asked.elapsed() < Duration::from_secs(60),
            "the phases never all issued: {:#?}",
            running.lines()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    running.signal(libc::SIGINT);
    let (code, _, lines) = running.finish(Duration::from_secs(30));
    assert_eq!(code, 1, "{lines:#?}");
    let report = report(&world);
    assert_eq!(report["result"], "interrupted", "{report:#}");
    assert_eq!(phase(&report, "kubernetes")["status"], "interrupted", "{report:#}");
    assert_eq!(phase(&report, "sagemaker")["status"], "interrupted", "{report:#}");
    assert_eq!(phase(&report, "terraform")["status"], "skipped", "{report:#}");
    assert_eq!(world.state_list().len(), 2, "terraform destroy ran after the cancel");

    // The re-run meets the namespace Terminating (409) and the endpoints Deleting, and finishes.
    world.kube().release("retail-forecast");
    proxy.release();
    let rerun = world
        .sundown()
        .config(&config)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint())
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    assert_eq!(rerun.code, 0, "{rerun:#?}");
    let left = world.leftovers(&REPOS).await;
    assert!(left.is_empty(), "left after the re-run: {left:?}");
    assert!(world.state_list().is_empty());
}
