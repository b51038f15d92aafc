//! `sundown schedule stop|start` and the Lambda handler against the emulator:
//! the exact sizes and endpoints come back, and a second run changes nothing.

use std::collections::BTreeMap;

use serde_json::json;

use crate::support::World;

const CONFIG: &str = "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
                      kubernetes:\n  cluster: retail-forecast-cluster\n  namespaces: [retail-forecast]\n\
                      sagemaker:\n  endpoint_prefix: retail-forecast\n";

/// What the schedule touches, as the emulator lists it.
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    /// name → (min, desired, max, remembered-scaling tag)
    node_groups: BTreeMap<String, (i32, i32, i32, Option<String>)>,
    /// endpoint → its config
    endpoints: BTreeMap<String, String>,
    configs: Vec<String>,
    models: Vec<String>,
}

async fn snapshot(world: &World) -> Snapshot {
    let sdk = world.sdk().await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let sm = aws_sdk_sagemaker::Client::new(&sdk);
    let cluster = "retail-forecast-cluster";
    let mut node_groups = BTreeMap::new();
    for name in eks
        .list_nodegroups()
        .cluster_name(cluster)
        .send()
        .await
        .unwrap()
        .nodegroups()
    {
        let out = eks
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await
            .unwrap();
        let g = out.nodegroup().unwrap();
        let s = g.scaling_config().unwrap();
        let tag = g.tags().and_then(|t| t.get("sundown:scaling")).cloned();
        node_groups.insert(
            name.clone(),
            (
                s.min_size().unwrap(),
                s.desired_size().unwrap(),
                s.max_size().unwrap(),
                tag,
            ),
        );
    }
    let mut endpoints = BTreeMap::new();
    for e in sm.list_endpoints().send().await.unwrap().endpoints() {
        let name = e.endpoint_name().unwrap();
        let d = sm.describe_endpoint().endpoint_name(name).send().await.unwrap();
        endpoints.insert(name.to_owned(), d.endpoint_config_name().unwrap().to_owned());
    }
    let mut configs: Vec<String> = sm
        .list_endpoint_configs()
        .send()
        .await
        .unwrap()
        .endpoint_configs()
        .iter()
        .map(|c| c.endpoint_config_name().unwrap().to_owned())
        .collect();
    configs.sort();
    let mut models: Vec<String> = sm
        .list_models()
        .send()
        .await
        .unwrap()
        .models()
        .iter()
        .map(|m| m.model_name().unwrap().to_owned())
        .collect();
    models.sort();
    Snapshot {
        node_groups,
        endpoints,
        configs,
        models,
    }
}

/// Two endpoints and a protected one; two spot node groups and a protected one.
fn seeded() -> World {
    let world = World::start();
    world.seed(&[
        "--endpoints",
        "2",
        "--protected-endpoints",
        "1",
        "--nodegroup",
        "spot-a:1:2:5",
        "--nodegroup",
        "spot-b:0:3:6",
        "--nodegroup",
        "spot-keep:2:2:4:protected",
    ]);
    world.config(CONFIG);
    world
}

/// After `stop`: the two node groups at 0/0 with their sizes remembered, the
/// protected one as it was; only the protected endpoint; every config and model kept.
fn assert_stopped(before: &Snapshot, after: &Snapshot) {
    let groups = &after.node_groups;
    assert_eq!(
        groups["spot-a"],
        (0, 0, 5, Some("min=1 desired=2 max=5".into())),
        "{groups:?}"
    );
    assert_eq!(
        groups["spot-b"],
        (0, 0, 6, Some("min=0 desired=3 max=6".into())),
        "{groups:?}"
    );
    assert_eq!(groups["spot-keep"], before.node_groups["spot-keep"]);
    assert_eq!(
        after.endpoints.keys().collect::<Vec<_>>(),
        ["retail-forecast-keep-2"],
        "{after:?}"
    );
    assert_eq!(after.configs, before.configs);
    assert_eq!(after.models, before.models);
}

#[tokio::test(flavor = "multi_thread")]
async fn schedule_stop_and_start_restore_the_exact_stack_and_repeat_as_no_ops() {
    let world = seeded();
    let config = world.path("sundown.yaml");
    let before = snapshot(&world).await;
    assert_eq!(before.endpoints.len(), 3);

    let stop = world
        .sundown()
        .config(&config)
        .args(&["--output", "json", "schedule", "stop"])
        .run();
    assert_eq!(stop.code, 0, "{stop:#?}");
    let changed = stop.json()["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["changed"] == true)
        .count();
    assert_eq!(changed, 4, "{}", stop.stdout);
    let stopped = snapshot(&world).await;
    assert_stopped(&before, &stopped);

    // Stop again: nothing changes, and nothing but reads reaches AWS.
    world.moto.start_recording();
    let again = world.sundown().config(&config).args(&["schedule", "stop"]).run();
    let writes: Vec<_> = world.moto.recording().into_iter().filter(|r| !r.is_read()).collect();
    assert_eq!(again.code, 0, "{again:#?}");
    assert!(again.stdout.contains("0 changed"), "{}", again.stdout);
    assert_eq!(writes.len(), 0, "a second stop changed something: {writes:#?}");
    assert_eq!(snapshot(&world).await, stopped);

    let start = world.sundown().config(&config).args(&["schedule", "start"]).run();
    assert_eq!(start.code, 0, "{start:#?}");
    assert!(start.stdout.contains("4 changed"), "{}", start.stdout);
    assert_eq!(
        snapshot(&world).await,
        before,
        "start did not restore the stack exactly"
    );

    // Start again (a start without a stop): nothing changes.
    world.moto.start_recording();
    let again = world.sundown().config(&config).args(&["schedule", "start"]).run();
    let writes: Vec<_> = world.moto.recording().into_iter().filter(|r| !r.is_read()).collect();
    assert_eq!(again.code, 0, "{again:#?}");
    assert_eq!(writes.len(), 0, "a second start changed something: {writes:#?}");
    assert_eq!(snapshot(&world).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn lambda_handler_runs_the_same_schedule_in_process() {
    let world = seeded();
    let config = sundown::config::Config::parse(CONFIG, &world.path("sundown.yaml")).unwrap();
    let aws = sundown::aws::Aws::from_sdk(world.sdk().await);
    let before = snapshot(&world).await;

    let out = sundown::lambda::handle(&config, &aws, json!({"action": "stop"}))
        .await
        .unwrap();
    assert_eq!(out["schema"], "sundown.schedule/v1");
    assert_eq!(out["action"], "stop");
    let stopped = snapshot(&world).await;
    assert_stopped(&before, &stopped);
    sundown::lambda::handle(&config, &aws, json!({"action": "stop"}))
        .await
        .unwrap();
    assert_eq!(snapshot(&world).await, stopped);

    sundown::lambda::handle(&config, &aws, json!({"action": "start"}))
        .await
        .unwrap();
    assert_eq!(snapshot(&world).await, before);
    sundown::lambda::handle(&config, &aws, json!({"action": "start"}))
        .await
        .unwrap();
    assert_eq!(snapshot(&world).await, before);

    // An event without a known action is refused before any request.
    world.moto.start_recording();
    let err = sundown::lambda::handle(&config, &aws, json!({"action": "pause"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"stop\" or \"start\""), "{err}");
    assert!(world.moto.recording().is_empty());
}

/// A `schedule start` while a teardown is under way, and after it: nothing the
/// teardown deletes comes back. The teardown marks the stopped configs before
/// its first deletion; `start` recreates nothing from a marked config.
#[tokio::test(flavor = "multi_thread")]
async fn schedule_start_during_or_after_a_teardown_recreates_nothing() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&["--endpoints", "2", "--repo", "retail-forecast:3"]);
    world.terraform(&["resources=1"]);
    // The namespace takes 6 s to go: the start below runs while the teardown waits for it.
    world.kube().set_termination(std::time::Duration::from_secs(6));
    let config = world.stack_config("60s", "");

    // Night: the endpoints are stopped; their configs remember them.
    let stop = world.sundown().config(&config).args(&["schedule", "stop"]).run();
    assert_eq!(stop.code, 0, "{stop:#?}");
    assert!(snapshot(&world).await.endpoints.is_empty());

    let teardown = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy"])
        .start();
    // Before its first deletion the teardown marks the two stopped configs.
    teardown.wait_for_line("marked 2 endpoint configs", std::time::Duration::from_secs(60));
    world.moto.start_recording();
    let during = world
        .sundown()
        .config(&config)
        .args(&["--output", "json", "schedule", "start"])
        .run();
    assert_eq!(during.code, 0, "{during:#?}");
    assert!(
        world.kube().removed_at("retail-forecast").is_none(),
        "the start ran after the namespace phase: the test needs a slower termination"
    );
    let endpoints: Vec<_> = during.json()["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "endpoint")
        .cloned()
        .collect();
    assert_eq!(endpoints.len(), 2, "{}", during.stdout);
    for change in &endpoints {
        assert_eq!(change["changed"], false, "{change:#}");
        assert!(change["detail"].as_str().unwrap().contains("teardown"), "{change:#}");
    }
    let (code, _, lines) = teardown.finish(std::time::Duration::from_secs(120));
    assert_eq!(code, 0, "{lines:#?}");

    // After the teardown, again: nothing to start from.
    let after = world.sundown().config(&config).args(&["schedule", "start"]).run();
    assert_eq!(after.code, 0, "{after:#?}");
    let creates: Vec<_> = world
        .moto
        .recording()
        .into_iter()
        .filter(|r| r.operation == "CreateEndpoint")
        .collect();
    assert!(creates.is_empty(), "a start recreated an endpoint: {creates:#?}");
    let left = world.leftovers(&["retail-forecast"]).await;
    assert!(left.is_empty(), "{left:#?}");
}
