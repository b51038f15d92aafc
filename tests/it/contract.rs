//! The plan is a contract: `plan --out` writes what a reviewer approves, and
//! `teardown --plan` deletes exactly that, or refuses (exit 2, nothing
//! touched) when the stack changed since, or the file is not that plan.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Outcome, World};

const REPOS: [&str; 1] = ["retail-forecast"];

/// A namespace, 3 endpoints with configs and models, 12 images and 2 Terraform resources.
fn stack() -> (World, PathBuf) {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&["--endpoints", "3", "--repo", "retail-forecast:12"]);
    world.terraform(&["resources=2"]);
    let config = world.stack_config("20s", "");
    (world, config)
}

fn plan_out(world: &World, config: &Path, name: &str) -> (PathBuf, Value) {
    let path = world.path(name);
    let out = world
        .sundown()
        .config(config)
        .args(&["plan", "--out", path.to_str().unwrap()])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(plan["digest"].as_str().unwrap().starts_with("sha256:"), "{plan:#}");
    (path, plan)
}

fn teardown_with(world: &World, config: &Path, plan: &Path, extra: &[&str]) -> Outcome {
    let mut args = vec![
        "teardown",
        "--confirm",
        "destroy",
        "--output",
        "json",
        "--plan",
        plan.to_str().unwrap(),
    ];
    args.extend(extra);
    world.sundown().config(config).args(&args).run()
}

/// Exit 2, nothing mutated on the emulator, no namespace deleted.
fn assert_refused(world: &World, out: &Outcome) {
    assert_eq!(out.code, 2, "{out:#?}");
    let writes: Vec<_> = world.moto.recording().into_iter().filter(|r| !r.is_read()).collect();
    assert!(writes.is_empty(), "mutating requests: {writes:#?}");
    assert!(
        !world.kube().requests().iter().any(|r| r.starts_with("DELETE")),
        "{:#?}",
        world.kube().requests()
    );
}

fn sagemaker(world: &World, spec: Value) {
    world.seed(&["--sagemaker", &spec.to_string()]);
}

async fn delete_endpoint(world: &World, name: &str, with_config_and_model: bool) {
    let sm = aws_sdk_sagemaker::Client::new(&world.sdk().await);
    sm.delete_endpoint().endpoint_name(name).send().await.unwrap();
    if with_config_and_model {
        sm.delete_endpoint_config()
            .endpoint_config_name(format!("{name}-config"))
            .send()
            .await
            .unwrap();
        sm.delete_model()
            .model_name(format!("{name}-model"))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_the_stack_outgrew_is_refused_and_a_fresh_one_is_carried_out_exactly() {
    let (world, config) = stack();
    let (stale, _) = plan_out(&world, &config, "plan.json");
    // Since the review: a new endpoint of the stack, and a planned one deleted by someone else.
    sagemaker(
        &world,
        json!([{"endpoint": "retail-forecast-late", "config": "retail-forecast-late-config",
                "model": "retail-forecast-late-model", "tags": {"Project": "retail-forecast"}}]),
    );
    delete_endpoint(&world, "retail-forecast-ep-0", false).await;

    world.moto.start_recording();
    let out = teardown_with(&world, &config, &stale, &[]);
    assert_refused(&world, &out);
    assert!(out.stderr.contains("retail-forecast-late"), "{out:#?}");
    assert!(
        !out.stderr.contains("retail-forecast-ep-0"),
        "gone since the plan is not drift: {out:#?}"
    );

    // A fresh plan, reviewed, is carried out exactly: all of it, and only it.
    let (fresh, plan) = plan_out(&world, &config, "plan2.json");
    let out = teardown_with(&world, &config, &fresh, &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    let report = out.json();
    assert_eq!(report["plan_digest"], plan["digest"]);
    let left = world.leftovers(&REPOS).await;
    assert!(left.is_empty(), "{left:#?}");
    let planned = plan["summary"]["delete"].as_u64().unwrap();
    let deleted: u64 = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["resources"].as_array().unwrap())
        .filter(|r| r["outcome"] == "deleted")
        .count() as u64;
    assert_eq!(deleted, planned, "{report:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_something_gone_since_the_plan_is_fine() {
    let (world, config) = stack();
    let (plan, _) = plan_out(&world, &config, "plan.json");
    delete_endpoint(&world, "retail-forecast-ep-1", true).await;
    let out = teardown_with(&world, &config, &plan, &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    let report = out.json();
    let absent: Vec<&Value> = report["phases"][1]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "absent")
        .collect();
    let names: Vec<&str> = absent.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names.len(),
        3,
        "the endpoint, its config and its model are absent: {report:#}"
    );
    assert!(names.contains(&"retail-forecast-ep-1"), "{names:?}");
    assert!(world.leftovers(&REPOS).await.is_empty());
}

#[test]
fn an_image_a_terraform_resource_or_a_recreated_endpoint_since_the_plan_is_drift() {
    type Change = Box<dyn Fn(&World)>;
    let changes: Vec<(&str, Change, &str)> = vec![
        (
            "an image pushed after the plan",
            Box::new(|w: &World| {
                w.seed(&["--push-image", "retail-forecast:1000"]);
            }),
            "images in repository retail-forecast",
        ),
        (
            "a new Terraform address",
            Box::new(|w: &World| {
                w.terraform_cmd(&[
                    "apply",
                    "-auto-approve",
                    "-input=false",
                    "-no-color",
                    "-var=resources=3",
                ]);
            }),
            "terraform_resource null_resource.stack[2]",
        ),
        (
            "an endpoint recreated under a planned name",
            Box::new(|w: &World| {
                crate::support::block_on(delete_endpoint(w, "retail-forecast-ep-2", true));
                // Creation times must differ: AWS's have milliseconds, moto's too, but be sure.
                std::thread::sleep(Duration::from_millis(1100));
                sagemaker(
                    w,
                    json!([{"endpoint": "retail-forecast-ep-2", "config": "retail-forecast-ep-2-config",
                            "model": "retail-forecast-ep-2-model", "tags": {"Project": "retail-forecast"}}]),
                );
            }),
            "changed endpoint retail-forecast-ep-2",
        ),
    ];
    for (what, change, named) in changes {
        let (world, config) = stack();
        let (plan, _) = plan_out(&world, &config, "plan.json");
        change(&world);
        world.moto.start_recording();
        let out = teardown_with(&world, &config, &plan, &[]);
        assert_refused(&world, &out);
        assert!(out.stderr.contains(named), "{what}: {named:?} not named: {out:#?}");
    }
}

#[test]
fn a_plan_that_is_not_this_reviewed_plan_is_refused_with_one_line() {
    let (world, config) = stack();
    let (plan_path, plan) = plan_out(&world, &config, "plan.json");
    let write = |name: &str, value: &Value| {
        let path = world.path(name);
        std::fs::write(&path, value.to_string()).unwrap();
        path
    };
    // Tampered: one planned resource taken out, the digest left as it was.
    let mut tampered = plan.clone();
    tampered["phases"][1]["resources"].as_array_mut().unwrap().remove(0);
    // Another account, with a digest that fits it: a real plan of another account.
    let mut other = plan.clone();
    other["account"] = json!("210987654321");
    let resources: Vec<sundown::model::inventory::Resource> = other["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["resources"].as_array().unwrap().clone())
        .map(|r| serde_json::from_value(r).unwrap())
        .collect();
    let refs: Vec<&sundown::model::inventory::Resource> = resources.iter().collect();
    other["digest"] = json!(sundown::model::plan::digest(
        "retail-forecast",
        "210987654321",
        "us-east-1",
        other["created_at"].as_str().unwrap(),
        &refs
    ));
    let cases = [
        (
            "tampered",
            write("tampered.json", &tampered),
            vec![],
            "was changed after it was written",
        ),
        (
            "another account",
            write("other.json", &other),
            vec![],
            "made in account 210987654321",
        ),
        (
            "not a plan",
            write("report.json", &json!({"schema": "sundown.report/v1"})),
            vec![],
            "is not a sundown plan",
        ),
        (
            "not JSON",
            write("notes.json", &json!("just text")),
            vec![],
            "is not a sundown plan",
        ),
        (
            "too old",
            plan_path.clone(),
            vec!["--max-plan-age", "1s"],
            "older than --max-plan-age",
        ),
    ];
    std::thread::sleep(Duration::from_millis(1500));
    for (what, path, extra, says) in cases {
        world.moto.start_recording();
        let out = teardown_with(&world, &config, &path, &extra);
        assert_refused(&world, &out);
        assert_eq!(out.stderr.trim_end().lines().count(), 1, "{what}: {out:#?}");
        assert!(out.stderr.contains(says), "{what}: {says:?} missing: {out:#?}");
    }
    assert!(!crate::support::block_on(world.leftovers(&REPOS)).is_empty());
}
