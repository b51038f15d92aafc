//! `sundown verify` against the emulator: a compliant stack passes every check
//! moto can answer, each seeded violation fails exactly its own check, and the
//! post-teardown sweep names what is left.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde_json::Value;

use crate::fault_proxy::{FaultProxy, Faults};
use crate::support::World;

/// Checks the emulator cannot answer (moto does not implement the API): always `error` here.
const EMULATOR_GAPS: [&str; 1] = ["s3.tiering"];

const VERIFY: &str = "kubernetes:\n  cluster: retail-forecast-cluster\n  namespaces: [retail-forecast]\n\
    verify:\n  buckets: [retail-forecast-data]\n\
    \x20 log_group_prefixes: [/aws/eks/retail-forecast-cluster, /aws/retail-forecast, /aws/sagemaker]\n\
    schedule:\n  scheduler: retail-forecast-scheduler\n";

fn seeded(broken: Option<&str>) -> World {
    let world = World::start();
    let mut args = vec![
        "--extras",
        "--endpoints",
        "1",
        "--repo",
        "retail-forecast:3",
        "--repo",
        "mlops/retail-api:3",
    ];
    if let Some(check) = broken {
        args.extend(["--break", check]);
    }
    world.seed(&args);
    world
}

fn statuses(verify: &Value) -> BTreeMap<String, (String, String)> {
    verify["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let evidence = c["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap())
                .collect::<Vec<_>>();
            (
                c["id"].as_str().unwrap().to_owned(),
                (c["status"].as_str().unwrap().to_owned(), evidence.join("\n")),
            )
        })
        .collect()
}

fn verify(world: &World) -> (i32, BTreeMap<String, (String, String)>) {
    let config = world.stack_config("1m", VERIFY);
    let out = world
        .sundown()
        .config(&config)
        .args(&["verify", "--output", "json"])
        .run();
    let json = out.json();
    assert_eq!(json["schema"], "sundown.verify/v1");
    (out.code, statuses(&json))
}

#[test]
fn a_compliant_stack_passes_every_check_the_emulator_answers_and_only_reads() {
    let world = seeded(None);
    world.moto.start_recording();
    let (code, checks) = verify(&world);
    let recording = world.moto.recording();
    assert_eq!(checks.len(), 9, "{checks:#?}");
    for (id, (status, evidence)) in &checks {
        let want = if EMULATOR_GAPS.contains(&id.as_str()) {
            "error"
        } else {
            "pass"
        };
        assert_eq!(status, want, "{id}: {evidence}");
    }
    // An error is not a pass: the run says so.
    assert_eq!(code, 1);
    let writes: Vec<_> = recording.iter().filter(|r| !r.is_read()).collect();
    assert!(writes.is_empty(), "verify sent non-read requests: {writes:#?}");
}

/// Seeds one violation and expects exactly `check` to fail, naming `resource`.
fn only_this_check_fails(check: &str, resource: &str) {
    let world = seeded(Some(check));
    let (code, checks) = verify(&world);
    assert_eq!(code, 1);
    for (id, (status, evidence)) in &checks {
        if id == check {
            assert_eq!(status, "fail", "{id}: {evidence}");
            assert!(evidence.contains(resource), "{id} does not name {resource}: {evidence}");
        } else {
            let want = if EMULATOR_GAPS.contains(&id.as_str()) {
                "error"
            } else {
                "pass"
            };
            assert_eq!(status, want, "{id} changed when only {check} was broken: {evidence}");
        }
    }
}

#[test]
fn an_on_demand_node_group_fails_eks_spot() {
    only_this_check_fails("eks.spot", "node group retail-forecast-ondemand: ON_DEMAND");
}

#[test]
fn a_missing_lifecycle_rule_fails_s3_lifecycle() {
    only_this_check_fails(
        "s3.lifecycle",
        "bucket retail-forecast-data: no enabled rule for tmp/ with tag temporary=true",
    );
}

#[test]
fn a_log_group_without_retention_fails_logs_retention() {
    only_this_check_fails("logs.retention", "log group /aws/retail-forecast/debug: never expires");
}

#[test]
fn a_repository_without_policy_fails_ecr_lifecycle() {
    only_this_check_fails("ecr.lifecycle", "repository mlops/retail-api: no lifecycle policy");
}

#[test]
fn a_budget_without_the_100_percent_alert_fails_budget() {
    only_this_check_fails(
        "budget",
        "budget retail-forecast-monthly: no ACTUAL notification at 100%",
    );
}

#[test]
fn a_missing_start_rule_fails_schedule() {
    only_this_check_fails("schedule", "no enabled rule with schedule cron(0 7 * * ? *) (start)");
}

#[test]
fn an_on_demand_training_job_fails_spot_training() {
    only_this_check_fails(
        "sagemaker.spot_training",
        "training job retail-forecast-train-ondemand: on-demand",
    );
}

#[test]
fn an_untagged_resource_fails_tags() {
    only_this_check_fails("tags", "arn:aws:s3:::retail-forecast-scratch: no Project tag");
}

#[test]
fn check_selects_a_subset_and_an_unknown_id_is_refused() {
    let world = seeded(None);
    let config = world.stack_config("1m", VERIFY);
    let out = world
        .sundown()
        .config(&config)
        .args(&["verify", "--check", "eks.spot", "--check", "budget", "--output", "json"])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(statuses(&out.json()).keys().collect::<Vec<_>>(), ["budget", "eks.spot"]);
    let bad = world
        .sundown()
        .config(&config)
        .args(&["verify", "--check", "eks.spotty"])
        .run();
    assert_eq!(bad.code, 2, "{bad:#?}");
    assert!(bad.stderr.contains("unknown check \"eks.spotty\""), "{bad:#?}");
    let md = world
        .sundown()
        .config(&config)
        .args(&["verify", "--check", "eks.spot", "--output", "markdown"])
        .run();
    assert!(md.stdout.contains("| `eks.spot`"), "{md:#?}");
}

#[test]
fn after_a_teardown_the_sweep_passes_and_then_names_a_leftover() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&[
        "--extras",
        "--endpoints",
        "2",
        "--repo",
        "retail-forecast:5",
        "--repo",
        "mlops/retail-api:5",
    ]);
    let seed = format!(
        "on_destroy={} {} --destroy-extras --stack retail-forecast",
        world.tools.python().display(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seed.py")
    );
    world.terraform(&["resources=2", &seed]);
    let config = world.stack_config("20s", "verify:\n  buckets: [retail-forecast-data]\n");
    let down = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy"])
        .run();
    assert_eq!(down.code, 0, "{down:#?}");

    let sweep = world
        .sundown()
        .config(&config)
        .args(&["verify", "--after-teardown", "--output", "json"])
        .run();
    assert_eq!(sweep.code, 0, "{sweep:#?}");
    assert_eq!(statuses(&sweep.json())["teardown.nothing_left"].0, "pass");

    // Something reappears (or was never the stack's to delete): the sweep names it.
    world.seed(&["--endpoints", "1"]);
    let sweep = world
        .sundown()
        .config(&config)
        .args(&["verify", "--after-teardown", "--output", "json"])
        .run();
    assert_eq!(sweep.code, 1, "{sweep:#?}");
    let (status, evidence) = &statuses(&sweep.json())["teardown.nothing_left"];
    assert_eq!(status, "fail");
    assert!(
        evidence.contains("still exists: endpoint retail-forecast-ep-0"),
        "{evidence}"
    );
}

/// A check whose call AWS refuses is an error whose fix names the call and the
/// policy that allows it; the other checks are unaffected.
#[test]
fn a_refused_call_names_itself_and_the_policy_in_the_fix() {
    let world = seeded(None);
    let proxy = FaultProxy::start(
        world.moto.port,
        Faults {
            always: Some(("DescribeBudgets", 400, "AccessDeniedException")),
            ..Faults::default()
        },
    );
    let config = world.stack_config("1m", VERIFY);
    let out = world
        .sundown()
        .config(&config)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint())
        .args(&["verify", "--output", "json"])
        .run();
    assert_eq!(out.code, 1, "{out:#?}");
    let json = out.json();
    let budget = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "budget")
        .unwrap();
    assert_eq!(budget["status"], "error", "{budget:#}");
    assert_eq!(
        budget["fix"],
        "AWS refused `budgets DescribeBudgets`: give the role verify runs as the policy `sundown iam-policy --for read-only` prints",
        "{budget:#}"
    );
    let others = statuses(&json);
    for (id, (status, evidence)) in others.iter().filter(|(id, _)| *id != "budget") {
        let want = if EMULATOR_GAPS.contains(&id.as_str()) {
            "error"
        } else {
            "pass"
        };
        assert_eq!(status, want, "{id}: {evidence}");
    }
}

/// A refusal that carries no error code, as S3 answers a HEAD request it
/// refuses (403 and no body, so the SDK has only the status), is still named
/// as a refusal: the sweep's fix names the call and the policy.
#[test]
fn a_refused_head_request_points_at_the_policy_too() {
    let world = seeded(None);
    let proxy = FaultProxy::start(
        world.moto.port,
        Faults {
            always: Some(("HEAD /retail-forecast-data", 403, "AccessDenied")),
            ..Faults::default()
        },
    );
    let config = world.stack_config("1m", "verify:\n  buckets: [retail-forecast-data]\n");
    let out = world
        .sundown()
        .config(&config)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint())
        .args(&["verify", "--after-teardown", "--output", "json"])
        .run();
    assert_eq!(out.code, 1, "{out:#?}");
    let json = out.json();
    let sweep = &json["checks"][0];
    assert_eq!(sweep["id"], "teardown.nothing_left", "{json:#}");
    assert_eq!(sweep["status"], "error", "{sweep:#}");
    assert!(
        sweep["evidence"][0].as_str().unwrap().contains("HTTP 403"),
        "the status is what the refusal says: {sweep:#}"
    );
    assert_eq!(
        sweep["fix"],
        "AWS refused `s3 HeadBucket retail-forecast-data`: give the role verify runs as the policy `sundown iam-policy --for read-only` prints",
        "{sweep:#}"
    );
    assert_eq!(proxy.injected.load(Ordering::Relaxed), 1, "one HeadBucket, refused");
}
