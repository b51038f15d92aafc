//! `sundown plan` against the emulator: counts equal the seed, protected
//! resources are kept, and the recorder shows only read requests.

use serde_json::Value;

use crate::support::{World, phase};

fn names(phase: &Value, kind: &str, action: &str) -> Vec<String> {
    let mut v: Vec<String> = phase["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == kind && r["action"] == action)
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

fn sorted(v: &Value) -> Vec<String> {
    let mut v: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn plan_lists_the_seeded_stack_and_sends_only_reads() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    let seeded = world.seed(&[
        "--endpoints",
        "3",
        "--protected-endpoints",
        "1",
        "--repo",
        "retail-forecast:12",
        "--repo",
        "mlops/retail-api:7",
    ]);
    world.terraform(&["resources=5"]);
    let config = world.stack_config("20s", "");

    world.moto.start_recording();
    let out = world
        .sundown()
        .config(&config)
        .args(&["plan", "--output", "json"])
        .run();
    let recording = world.moto.recording();

    assert_eq!(out.code, 0, "{out:#?}");
    let plan = out.json();
    assert_eq!(plan["schema"], "sundown.plan/v1");
    assert_eq!(plan["account"], "123456789012");
    assert_eq!(plan["account_allowed"], true);
    let order: Vec<&str> = plan["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["kubernetes", "sagemaker", "ecr", "terraform"]);

    assert_eq!(
        names(phase(&plan, "kubernetes"), "namespace", "delete"),
        ["retail-forecast"]
    );
    let sm = phase(&plan, "sagemaker");
    assert_eq!(names(sm, "endpoint", "delete"), sorted(&seeded["endpoints"]));
    assert_eq!(names(sm, "endpoint", "keep"), sorted(&seeded["protected_endpoints"]));
    assert_eq!(
        names(sm, "endpoint_config", "delete"),
        sorted(&seeded["endpoint_configs"])
    );
    assert_eq!(names(sm, "model", "delete"), sorted(&seeded["models"]));
    // The protected endpoint's config and model stay with it.
    assert_eq!(names(sm, "endpoint_config", "keep").len(), 1);
    assert_eq!(names(sm, "model", "keep").len(), 1);

    for repo in phase(&plan, "ecr")["resources"].as_array().unwrap() {
        let name = repo["name"].as_str().unwrap();
        for field in ["images", "tagged", "untagged"] {
            assert_eq!(
                repo["images"][field], seeded["repositories"][name][field],
                "{name} {field}"
            );
        }
    }
    assert_eq!(
        names(phase(&plan, "terraform"), "terraform_resource", "delete").len(),
        5
    );

    assert!(
        recording.iter().any(|r| r.operation == "GetCallerIdentity"),
        "{recording:#?}"
    );
    assert!(
        recording.iter().any(|r| r.operation == "ListEndpoints"),
        "{recording:#?}"
    );
    assert!(
        recording.iter().any(|r| r.operation == "DescribeImages"),
        "{recording:#?}"
    );
    let writes: Vec<_> = recording.iter().filter(|r| !r.is_read()).collect();
    assert!(writes.is_empty(), "plan sent non-read requests: {writes:#?}");
    assert_eq!(
        world
            .kube()
            .requests()
            .iter()
            .filter(|r| !r.starts_with("GET "))
            .count(),
        0
    );
}

#[test]
fn plan_reports_missing_sections_as_not_configured() {
    let world = World::start();
    let config = world.config("stack: bare\nregion: us-east-1\n");
    let out = world
        .sundown()
        .config(&config)
        .args(&["plan", "--output", "json"])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    let plan = out.json();
    for p in plan["phases"].as_array().unwrap() {
        assert_eq!(p["status"], "not_configured", "{p}");
    }
    assert_eq!(plan["account_allowed"], false);
    let human = world.sundown().config(&config).args(&["plan"]).run();
    assert_eq!(human.stdout.matches("not configured").count(), 4, "{human:#?}");
    assert!(human.stdout.contains("not in `accounts`"), "{human:#?}");
}
