//! Waits as AWS and Kubernetes have them, through the latency model: SageMaker
//! endpoints that stay `Deleting` for seconds (`fault_proxy::EndpointDeletion`),
//! namespaces that take seconds to terminate and answer a second DELETE with
//! 409 Conflict (`kube_fake`). Delete everything first, then wait once
//! against one deadline.

use std::time::{Duration, Instant};

use crate::fault_proxy::{EndpointDeletion, FaultProxy, Faults};
use crate::support::{World, phase};

#[test]
fn a_rerun_while_the_namespace_still_terminates_waits_for_it_and_then_destroys() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    // Terminating until the test releases it, so the re-run below surely meets it so.
    world.kube().hold_terminating("retail-forecast");
    world.terraform(&["resources=2"]);

    // First run: the namespace stays, the phase may take 2 s.
    let short = world.stack_config("2s", "");
    let first = world
        .sundown()
        .config(&short)
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    assert_eq!(first.code, 1, "{first:#?}");
    let report = first.json();
    let k = phase(&report, "kubernetes");
    assert_eq!(k["status"], "failed", "{k:#}");
    let why = k["errors"][0].as_str().unwrap();
    assert!(
        why.contains("namespace retail-forecast still Terminating after 2s"),
        "{why}"
    );
    // The namespace controller's conditions name what holds it.
    assert!(
        why.contains("NamespaceContentRemaining: Some resources are remaining"),
        "{why}"
    );
    assert!(why.contains("NamespaceFinalizersRemaining"), "{why}");
    assert_eq!(phase(&report, "terraform")["status"], "skipped");
    assert!(world.kube().conflicts().is_empty());

    // At once again, with time enough: the DELETE meets 409 Conflict, and the run waits.
    let long = world.stack_config("30s", "");
    let running = world
        .sundown()
        .config(&long)
        .args(&["teardown", "--confirm", "destroy"])
        .start();
    let asked = std::time::Instant::now();
    while world.kube().conflicts().is_empty() {
        assert!(
            asked.elapsed() < Duration::from_secs(60),
            "no second DELETE reached the fake"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    world.kube().release("retail-forecast");
    let (code, _, lines) = running.finish(Duration::from_secs(60));
    assert_eq!(code, 0, "{lines:#?}");
    assert_eq!(world.kube().conflicts(), ["DELETE retail-forecast"]);
    let removed = world
        .kube()
        .removed_at("retail-forecast")
        .expect("the fake removed the namespace");
    assert!(
        removed < crate::support::first_destroy(&lines),
        "terraform destroy started before the namespace was gone"
    );
    assert!(world.state_list().is_empty());
}

/// 4 endpoints through the latency model: 0 and 1 take 1 s to delete, 2 and 3 take 20 s.
fn slow_endpoints(world: &World) -> FaultProxy {
    world.seed(&["--endpoints", "4"]);
    FaultProxy::start(
        world.moto.port,
        Faults {
            endpoint_deletion: Some(EndpointDeletion {
                delay: Duration::from_secs(1),
                slow: ["retail-forecast-ep-2", "retail-forecast-ep-3"]
                    .map(|n| (n.to_owned(), Duration::from_secs(20)))
                    .into(),
                ..EndpointDeletion::default()
            }),
            ..Faults::default()
        },
    )
}

fn sagemaker_config(world: &World, wait: &str) -> std::path::PathBuf {
    world.config(&format!(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         sagemaker:\n  endpoint_prefix: retail-forecast\n  wait: {wait}\n\
         terraform:\n  dir: infra\n  binary: {}\n",
        world.tools.terraform().display()
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_still_deleting_at_the_deadline_are_named_and_the_rerun_finishes() {
    let world = World::start();
    let proxy = slow_endpoints(&world);
    world.terraform(&["resources=1"]);
    let out = world
        .sundown()
        .config(&sagemaker_config(&world, "5s"))
        .env("AWS_ENDPOINT_URL", &proxy.endpoint())
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    assert_eq!(out.code, 1, "{out:#?}");
    let report = out.json();
    let sm = phase(&report, "sagemaker");
    assert_eq!(sm["status"], "failed", "{sm:#}");
    let errors = sm["errors"].to_string();
    for slow in ["retail-forecast-ep-2", "retail-forecast-ep-3"] {
        assert!(
            errors.contains(&format!("endpoint {slow} still Deleting after 5s")),
            "{errors}"
        );
        assert!(
            errors.contains(&format!(
                "endpoint_config {slow}-config left for the re-run: waits for {slow}"
            )),
            "{errors}"
        );
    }
    // The deadline bounds the whole phase: it waited its 5 s, and it ended while the
    // slow endpoints (20 s) were still Deleting (`proxy.deleting()` below).
    assert!(
        sm["duration_seconds"].as_f64().unwrap() >= 5.0,
        "the phase gave up before its deadline: {sm:#}"
    );
    // And no later than the deadline: its last look (a ListEndpoints, as the proxy saw it)
    // came within 5 s of its first DeleteEndpoint, plus 2.5 s for that one request to
    // arrive on a loaded machine. A deadline twice as long, or one per endpoint, looks until about 10 s.
    let (first_delete, last_look) = {
        let received = proxy.received.lock().unwrap();
        let at = |op: &str| -> Vec<Instant> {
            received
                .iter()
                .filter(|(_, o, _)| o == op)
                .map(|(at, _, _)| *at)
                .collect()
        };
        (
            *at("DeleteEndpoint").iter().min().unwrap(),
            *at("ListEndpoints").iter().max().unwrap(),
        )
    };
    let looked = last_look.saturating_duration_since(first_delete);
    assert!(
        looked < Duration::from_millis(7500),
        "the phase looked at the endpoints {looked:?} after its first deletion, past its 5 s deadline: {sm:#}"
    );
    assert_eq!(phase(&report, "terraform")["status"], "skipped");
    // The configs and models of the endpoints already gone were deleted; the others wait.
    let left = world.leftovers(&[]).await;
    assert_eq!(
        left.configs,
        ["retail-forecast-ep-2-config", "retail-forecast-ep-3-config"]
    );
    assert_eq!(
        left.models,
        ["retail-forecast-ep-2-model", "retail-forecast-ep-3-model"]
    );
    assert_eq!(proxy.deleting(), ["retail-forecast-ep-2", "retail-forecast-ep-3"]);
    assert_eq!(world.state_list().len(), 1);

    // The re-run finds them still Deleting, waits for them without deleting again, and finishes.
    let rerun = world
        .sundown()
        .config(&sagemaker_config(&world, "1m"))
        .env("AWS_ENDPOINT_URL", &proxy.endpoint())
        .args(&["teardown", "--confirm", "destroy"])
        .run();
    assert_eq!(rerun.code, 0, "{rerun:#?}");
    let left = world.leftovers(&[]).await;
    assert!(left.is_empty(), "{left:#?}");
    let deletes = proxy
        .received
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, op, _)| op == "DeleteEndpoint")
        .count();
    assert_eq!(deletes, 4, "one DeleteEndpoint per endpoint over both runs");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_that_fails_to_delete_is_reported_with_its_reason() {
    let world = World::start();
    world.seed(&["--endpoints", "2"]);
    let proxy = FaultProxy::start(
        world.moto.port,
        Faults {
            endpoint_deletion: Some(EndpointDeletion {
                delay: Duration::from_secs(1),
                slow: Vec::new(),
                fail: vec![(
                    "retail-forecast-ep-1".into(),
                    "Unable to delete the endpoint: the VPC endpoint service is in use".into(),
                )],
                ..EndpointDeletion::default()
            }),
            ..Faults::default()
        },
    );
    let config = world.config(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         sagemaker:\n  endpoint_prefix: retail-forecast\n  wait: 30s\n",
    );
    let out = world
        .sundown()
        .config(&config)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint())
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    assert_eq!(out.code, 1, "{out:#?}");
    let sm = phase(&out.json(), "sagemaker").clone();
    let errors = sm["errors"].to_string();
    assert!(
        errors.contains("endpoint retail-forecast-ep-1 failed to delete: Unable to delete the endpoint"),
        "{sm:#}"
    );
    assert!(
        sm["duration_seconds"].as_f64().unwrap() < 10.0,
        "a Failed endpoint is not waited for: {sm:#}"
    );
    let left = world.leftovers(&[]).await;
    assert_eq!(left.endpoints, ["retail-forecast-ep-1"]);
    assert_eq!(left.configs, ["retail-forecast-ep-1-config"]);
    assert_eq!(left.models, ["retail-forecast-ep-1-model"]);
}
