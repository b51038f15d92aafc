//! What vanishes between two of sundown's requests. On AWS, resources go while
//! sundown works: an endpoint finishes its deletion minutes after the call, a
//! load balancer controller or a colleague deletes something, a config is
//! deleted while its endpoint runs (AWS allows it). A resource listed a moment
//! ago and gone at the next call is gone, not an error; one whose use cannot be
//! read is kept. The fault proxy's hook deletes the resource at the emulator
//! just before the named request reaches it, so each race happens every run.
//! (The load balancer's race is in `ownership`.)

use std::sync::Mutex;

use serde_json::{Value, json};

use crate::fault_proxy::{FaultProxy, Faults, Hook};
use crate::support::World;

/// A proxy that deletes `what` (seed.py's `--delete KIND:NAME`) just before the
/// first request naming `before` is forwarded.
fn deleting_before(world: &World, before: &'static str, what: &str) -> FaultProxy {
    let delete = Mutex::new(world.deleting(what));
    FaultProxy::start(
        world.moto.port,
        Faults {
            before_first: Some((
                before,
                Hook::new(move || assert!(delete.lock().unwrap().status().unwrap().success())),
            )),
            ..Faults::default()
        },
    )
}

/// `sundown ARGS --output json` on the stack's config, through the proxy.
fn sundown(world: &World, proxy: &FaultProxy, args: &[&str]) -> crate::support::Outcome {
    let config = world.stack_config("20s", "");
    let mut args = args.to_vec();
    args.extend(["--output", "json"]);
    world
        .sundown()
        .config(&config)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint())
        .args(&args)
        .run()
}

fn teardown(world: &World, proxy: &FaultProxy) -> crate::support::Outcome {
    sundown(world, proxy, &["teardown", "--confirm", "destroy"])
}

/// ListEndpoints shows an endpoint still `Deleting` (an earlier run's, or a
/// colleague's); it is gone by the DescribeEndpoint that follows. The plan
/// reads the phase without an error, and the teardown deletes what is left.
#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_gone_between_list_and_describe_is_not_an_error() {
    endpoint_gone_before("SageMaker.DescribeEndpoint").await;
}

/// The same, gone by the ListTags that judges it. (moto answers ListTags on a
/// missing resource with HTTP 500, AWS with a ValidationException; either way
/// the Describe call shows it gone.)
#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_gone_before_its_tags_are_read_is_not_an_error() {
    endpoint_gone_before("SageMaker.ListTags").await;
}

async fn endpoint_gone_before(request: &'static str) {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&["--endpoints", "1", "--repo", "retail-forecast:3"]);
    world.terraform(&["resources=1"]);
    let proxy = deleting_before(&world, request, "endpoint:retail-forecast-ep-0");
    let plan = sundown(&world, &proxy, &["plan"]);
    assert_eq!(plan.code, 0, "{plan:#?}");
    let sagemaker = plan.json()["phases"][1].clone();
    assert_eq!(sagemaker["status"], "ready", "{sagemaker:#}");
    let names: Vec<&str> = sagemaker["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    // Its config and model are still there: leftovers of the stack.
    assert_eq!(
        names,
        ["retail-forecast-ep-0-config", "retail-forecast-ep-0-model"],
        "{sagemaker:#}"
    );
    let out = teardown(&world, &proxy);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()["result"], "succeeded");
    let left = world.leftovers(&["retail-forecast"]).await;
    assert!(left.is_empty(), "{left:#?}");
}

/// The stopped stack's config, to be marked before the first deletion, is
/// deleted (by someone else) before the AddTags: the teardown is not refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_config_gone_before_its_teardown_mark_is_not_an_error() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&["--endpoints", "2", "--repo", "retail-forecast:3"]);
    world.terraform(&["resources=1"]);
    let config = world.stack_config("20s", "");
    let stop = world.sundown().config(&config).args(&["schedule", "stop"]).run();
    assert_eq!(stop.code, 0, "{stop:#?}");
    let proxy = deleting_before(
        &world,
        "SageMaker.AddTags",
        "endpoint-config:retail-forecast-ep-0-config",
    );
    let out = teardown(&world, &proxy);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stderr.contains("marked 1 endpoint config"), "{out:#?}");
    let left = world.leftovers(&["retail-forecast"]).await;
    assert!(left.is_empty(), "{left:#?}");
}

/// The repository is deleted (images and all) between the inventory and the
/// teardown's BatchDeleteImage: nothing is left to delete, and Terraform runs.
#[tokio::test(flavor = "multi_thread")]
async fn a_repository_deleted_during_the_teardown_is_not_an_error() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&["--endpoints", "1", "--repo", "retail-forecast:3"]);
    world.terraform(&["resources=1"]);
    let proxy = deleting_before(&world, "BatchDeleteImage", "repository:retail-forecast");
    let out = teardown(&world, &proxy);
    assert_eq!(out.code, 0, "{out:#?}");
    let report = out.json();
    assert_eq!(report["phases"][2]["status"], "done", "{report:#}");
    assert_eq!(report["phases"][3]["status"], "done", "{report:#}");
    assert!(world.state_list().is_empty());
    // The race happened: the repository went just before the teardown's BatchDeleteImage
    // (the proxy fails the test when its hook did not run or failed).
    let ecr = aws_sdk_ecr::Client::new(&world.sdk().await);
    let listed = ecr.describe_repositories().send().await.unwrap();
    assert!(listed.repositories().is_empty(), "{listed:?}");
}

/// The repository is deleted between the read of its tags and DescribeImages:
/// the plan shows it not found, as one deleted before DescribeRepositories,
/// not as an empty repository that exists.
#[tokio::test(flavor = "multi_thread")]
async fn a_repository_deleted_before_its_images_are_read_is_not_found() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&["--repo", "retail-forecast:3"]);
    world.terraform(&["resources=1"]);
    let proxy = deleting_before(&world, "DescribeImages", "repository:retail-forecast");
    let plan = sundown(&world, &proxy, &["plan"]);
    assert_eq!(plan.code, 0, "{plan:#?}");
    let ecr = plan.json()["phases"][2].clone();
    let repo = &ecr["resources"][0];
    assert_eq!(repo["name"], "retail-forecast", "{ecr:#}");
    assert_eq!(repo["action"], "absent", "{ecr:#}");
    assert_eq!(repo["reason"], "repository not found", "{ecr:#}");
}

const SCHEDULE: &str = "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
                        kubernetes:\n  cluster: retail-forecast-cluster\n  namespaces: [retail-forecast]\n\
                        sagemaker:\n  endpoint_prefix: retail-forecast\n";

/// `schedule stop` through the proxy, which must succeed; its changes by name.
fn schedule_stop(world: &World, proxy: &FaultProxy) -> std::collections::BTreeMap<String, Value> {
    let config = world.config(SCHEDULE);
    let out = world
        .sundown()
        .config(&config)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint())
        .args(&["--output", "json", "schedule", "stop"])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    out.json()["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c.clone()))
        .collect()
}

/// `schedule stop` lists the endpoints, then stops each; one deleted in
/// between (a teardown, a colleague) is passed over, and the rest is stopped.
#[test]
fn schedule_stop_passes_over_an_endpoint_gone_since_the_listing() {
    let world = World::start();
    world.seed(&["--endpoints", "2", "--nodegroup", "spot-a:1:2:5"]);
    let proxy = deleting_before(&world, "SageMaker.DescribeEndpoint", "endpoint:retail-forecast-ep-0");
    let changes = schedule_stop(&world, &proxy);
    let gone = &changes["retail-forecast-ep-0"];
    assert_eq!(gone["changed"], false, "{changes:#?}");
    assert_eq!(gone["detail"], "unchanged: deleted since it was listed", "{changes:#?}");
    assert_eq!(changes["retail-forecast-ep-1"]["changed"], true, "{changes:#?}");
    assert_eq!(
        changes["retail-forecast-cluster/spot-a"]["changed"], true,
        "{changes:#?}"
    );
}

/// The same for a node group deleted between ListNodegroups and its
/// DescribeNodegroup (EKS answers ResourceNotFoundException).
#[test]
fn schedule_stop_passes_over_a_node_group_gone_since_the_listing() {
    let world = World::start();
    world.seed(&[
        "--endpoints",
        "1",
        "--nodegroup",
        "spot-a:1:2:5",
        "--nodegroup",
        "spot-b:0:3:6",
    ]);
    let proxy = deleting_before(
        &world,
        "GET /clusters/retail-forecast-cluster/node-groups/spot-a HTTP",
        "nodegroup:retail-forecast-cluster/spot-a",
    );
    let changes = schedule_stop(&world, &proxy);
    let gone = &changes["retail-forecast-cluster/spot-a"];
    assert_eq!(gone["changed"], false, "{changes:#?}");
    assert_eq!(gone["detail"], "unchanged: deleted since it was listed", "{changes:#?}");
    assert_eq!(
        changes["retail-forecast-cluster/spot-b"]["changed"], true,
        "{changes:#?}"
    );
    assert_eq!(changes["retail-forecast-ep-0"]["changed"], true, "{changes:#?}");
}

/// An endpoint outside the stack runs from a config deleted since (AWS allows
/// it): which models it uses cannot be read, so no model of the stack is
/// shown unused, and all are kept with the reason.
#[test]
fn models_are_kept_while_an_outside_endpoint_runs_from_a_deleted_config() {
    let world = World::start();
    let spec = json!([
        {"endpoint": "retail-forecast-ep", "config": "retail-forecast-ep-config", "model": "retail-forecast-ep-model"},
        {"endpoint": "churn-api", "config": "churn-api-config", "model": "retail-forecast-shared-model"},
    ]);
    world.seed(&["--sagemaker", &spec.to_string()]);
    world.deleting("endpoint-config:churn-api-config").status().unwrap();
    let config = world.config(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         sagemaker:\n  endpoint_prefix: retail-forecast\n",
    );
    let plan = world
        .sundown()
        .config(&config)
        .args(&["plan", "--output", "json"])
        .run();
    assert_eq!(plan.code, 0, "{plan:#?}");
    let resources = plan.json()["phases"][1]["resources"].clone();
    let model = |name: &str| {
        resources
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {resources:#}"))
            .clone()
    };
    for name in ["retail-forecast-ep-model", "retail-forecast-shared-model"] {
        let m = model(name);
        assert_eq!(m["action"], "keep", "{m:#}");
        assert!(
            m["reason"]
                .as_str()
                .unwrap()
                .contains("churn-api-config, which is deleted"),
            "{m:#}"
        );
    }
    assert_eq!(model("retail-forecast-ep")["action"], "delete");
}
