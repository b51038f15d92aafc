//! `sundown schedule stop|start` and the Lambda handler against the emulator:
//! the exact sizes and endpoints come back, and a second run changes nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::fault_proxy::{EndpointDeletion, FaultProxy, Faults};
use crate::support::{Outcome, World};

const CONFIG: &str = "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
                      kubernetes:\n  cluster: retail-forecast-cluster\n  namespaces: [retail-forecast]\n\
                      sagemaker:\n  endpoint_prefix: retail-forecast\n";

/// What the schedule touches, as the emulator lists it, with sundown's memory tags.
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    /// name → (min, desired, max, sundown's tags on it)
    node_groups: BTreeMap<String, (i32, i32, i32, Memory)>,
    /// endpoint → its config
    endpoints: BTreeMap<String, String>,
    /// config → sundown's tags on it
    configs: BTreeMap<String, Memory>,
    models: Vec<String>,
}

/// The `sundown:…` tags of one resource.
type Memory = BTreeMap<String, String>;

fn memory<'a>(tags: impl IntoIterator<Item = (&'a String, &'a String)>) -> Memory {
    tags.into_iter()
        .filter(|(k, _)| k.starts_with("sundown:") && k.as_str() != "sundown:protect")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

async fn snapshot(world: &World) -> Snapshot {
    snapshot_of(world, "retail-forecast-cluster").await
}

async fn snapshot_of(world: &World, cluster: &str) -> Snapshot {
    let sdk = world.sdk().await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let sm = aws_sdk_sagemaker::Client::new(&sdk);
    let mut node_groups = BTreeMap::new();
    let listed = eks.list_nodegroups().cluster_name(cluster).send().await;
    for name in listed.iter().flat_map(|l| l.nodegroups()) {
        let out = eks
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await
            .unwrap();
        let g = out.nodegroup().unwrap();
        let s = g.scaling_config().unwrap();
        node_groups.insert(
            name.clone(),
            (
                s.min_size().unwrap(),
                s.desired_size().unwrap(),
                s.max_size().unwrap(),
                memory(g.tags().into_iter().flatten()),
            ),
        );
    }
    let mut endpoints = BTreeMap::new();
    for e in sm.list_endpoints().send().await.unwrap().endpoints() {
        let name = e.endpoint_name().unwrap();
        let d = sm.describe_endpoint().endpoint_name(name).send().await.unwrap();
        endpoints.insert(name.to_owned(), d.endpoint_config_name().unwrap().to_owned());
    }
    let mut configs = BTreeMap::new();
    for c in sm.list_endpoint_configs().send().await.unwrap().endpoint_configs() {
        let tags = sm
            .list_tags()
            .resource_arn(c.endpoint_config_arn().unwrap())
            .send()
            .await
            .unwrap();
        let tags: Vec<(String, String)> = tags
            .tags()
            .iter()
            .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
            .collect();
        configs.insert(
            c.endpoint_config_name().unwrap().to_owned(),
            memory(tags.iter().map(|(k, v)| (k, v))),
        );
    }
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

fn tags(pairs: &[(&str, &str)]) -> Memory {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
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
    let key = "sundown:scaling:retail-forecast";
    assert_eq!(
        groups["spot-a"],
        (0, 0, 5, tags(&[(key, "min=1 desired=2 max=5")])),
        "{groups:?}"
    );
    assert_eq!(
        groups["spot-b"],
        (0, 0, 6, tags(&[(key, "min=0 desired=3 max=6")])),
        "{groups:?}"
    );
    assert_eq!(groups["spot-keep"], before.node_groups["spot-keep"]);
    assert_eq!(
        after.endpoints.keys().collect::<Vec<_>>(),
        ["retail-forecast-keep-2"],
        "{after:?}"
    );
    assert_eq!(
        after.configs.keys().collect::<Vec<_>>(),
        before.configs.keys().collect::<Vec<_>>()
    );
    // Each stopped endpoint is remembered on its config, under the stack's key.
    let key = "sundown:stopped-endpoints:retail-forecast";
    for e in ["retail-forecast-ep-0", "retail-forecast-ep-1"] {
        assert_eq!(after.configs[&format!("{e}-config")], tags(&[(key, e)]), "{after:?}");
    }
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
    // The namespace stays Terminating until released: the start below runs while the teardown waits for it.
    // Strict order, so the SageMaker phase (which deletes the stopped configs at once) waits for it too and
    // the start surely meets the marked configs; overlapped, it may meet them marked or already deleted.
    world.kube().hold_terminating("retail-forecast");
    let config = world.stack_config("60s", "teardown:\n  order: strict\n");

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
    assert!(world.kube().removed_at("retail-forecast").is_none());
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
    world.kube().release("retail-forecast");
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

/// `stack`'s config for the tests with several stacks: its endpoints are named `stack` or `stack-…`.
fn stack_config(world: &World, stack: &str, extra: &str) -> PathBuf {
    let path = world.path(&format!("{stack}.yaml"));
    std::fs::write(
        &path,
        format!(
            "stack: {stack}\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
             sagemaker:\n  endpoint_prefix: {stack}\n{extra}"
        ),
    )
    .unwrap();
    path
}

/// Runs `schedule ACTION` for `config` while the recorder records; returns the
/// outcome and the requests it made.
fn recorded(world: &World, config: &std::path::Path, action: &str) -> (Outcome, Vec<crate::moto::Recorded>) {
    world.moto.start_recording();
    let out = world
        .sundown()
        .config(config)
        .args(&["--output", "json", "schedule", action])
        .run();
    (out, world.moto.recording())
}

/// Asserts that no request of `requests` names one of `names` (`mutating`: no
/// mutating one; the rest may read what the name rule cannot tell apart).
fn untouched(requests: &[crate::moto::Recorded], names: &[&str], mutating: bool) {
    let touching: Vec<_> = requests
        .iter()
        .filter(|r| !(mutating && r.is_read()))
        .filter(|r| names.iter().any(|n| r.names(n)))
        .collect();
    assert!(
        touching.is_empty(),
        "requests on another stack's resources: {touching:#?}"
    );
}

/// Three stacks in one account: `acme` and `acme-churn` share an EKS cluster
/// and a name prefix (`acme-churn-e0` is named like an `acme` endpoint too),
/// told apart by `scope.tags`; `other-svc` has a prefix of its own. Each
/// stack's stop and start leaves the others exactly as they were, and makes
/// no request on their resources (none at all for `other-svc`, whose names
/// the others' name rule never matches; no mutating one between the two
/// `acme` stacks, whose tags must be read to tell them apart).
#[tokio::test(flavor = "multi_thread")]
async fn each_stacks_schedule_leaves_the_other_stacks_as_they_were() {
    let world = World::start();
    world.seed(&[
        "--stack",
        "acme",
        "--nodegroup",
        "acme-ng:1:2:4",
        "--nodegroup",
        "churn-ng:1:3:5:Project=acme-churn",
    ]);
    let spec = |endpoint: &str, project: &str| {
        json!({"endpoint": endpoint, "config": format!("{endpoint}-config"),
               "model": format!("{endpoint}-model"), "tags": {"Project": project}})
    };
    let specs = json!([
        spec("acme-e0", "acme"),
        spec("acme-e1", "acme"),
        spec("acme-churn-e0", "acme-churn"),
        spec("acme-churn-e1", "acme-churn"),
        spec("other-svc", "other-svc"),
    ]);
    world.seed(&["--sagemaker", &specs.to_string()]);
    let cluster = "kubernetes:\n  cluster: acme-cluster\n  namespaces: []\n";
    let acme = stack_config(
        &world,
        "acme",
        &format!("scope:\n  tags: {{ Project: acme }}\n{cluster}"),
    );
    let churn = stack_config(
        &world,
        "acme-churn",
        &format!("scope:\n  tags: {{ Project: acme-churn }}\n{cluster}"),
    );
    let other = stack_config(&world, "other-svc", "");
    let world_now = || snapshot_of(&world, "acme-cluster");
    let before = world_now().await;
    assert_eq!(before.endpoints.len(), 5, "{before:?}");
    let changed = |out: &Outcome| {
        let mut names: Vec<String> = out.json()["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["changed"] == true)
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };

    let (stop, _) = recorded(&world, &other, "stop");
    assert_eq!(stop.code, 0, "{stop:#?}");
    assert_eq!(changed(&stop), ["other-svc"]);
    let other_stopped = world_now().await;
    let (stop, requests) = recorded(&world, &churn, "stop");
    assert_eq!(stop.code, 0, "{stop:#?}");
    assert_eq!(
        changed(&stop),
        ["acme-churn-e0", "acme-churn-e1", "acme-cluster/churn-ng"]
    );
    untouched(&requests, &["other-svc"], false);
    untouched(&requests, &["acme-e0", "acme-e1", "acme-ng"], true);
    let both_stopped = world_now().await;
    assert_eq!(
        both_stopped.configs["acme-churn-e0-config"],
        tags(&[("sundown:stopped-endpoints:acme-churn", "acme-churn-e0")])
    );

    // acme's night: its stop and start bring back exactly its own.
    for action in ["stop", "start"] {
        let (out, requests) = recorded(&world, &acme, action);
        assert_eq!(out.code, 0, "acme {action}: {out:#?}");
        assert_eq!(
            changed(&out),
            ["acme-cluster/acme-ng", "acme-e0", "acme-e1"],
            "acme {action}: {}",
            out.stdout
        );
        untouched(&requests, &["other-svc"], false);
        untouched(&requests, &["acme-churn-e0", "acme-churn-e1", "churn-ng"], true);
    }
    assert_eq!(
        world_now().await,
        both_stopped,
        "acme's stop and start changed another stack"
    );

    // acme-churn's morning: its own back, other-svc still stopped.
    let (start, requests) = recorded(&world, &churn, "start");
    assert_eq!(start.code, 0, "{start:#?}");
    assert_eq!(
        changed(&start),
        ["acme-churn-e0", "acme-churn-e1", "acme-cluster/churn-ng"]
    );
    untouched(&requests, &["other-svc"], false);
    untouched(&requests, &["acme-e0", "acme-e1", "acme-ng"], true);
    assert_eq!(world_now().await, other_stopped);

    let (start, requests) = recorded(&world, &other, "start");
    assert_eq!(start.code, 0, "{start:#?}");
    assert_eq!(changed(&start), ["other-svc"]);
    untouched(&requests, &["acme"], false);
    assert_eq!(world_now().await, before, "the three stacks are not as they were");
}

/// `schedule ACTION` through the latency model, with `config` and `schedule.wait: WAIT`.
fn through_the_model(
    world: &World,
    proxy: &FaultProxy,
    config: &str,
    action: &str,
    wait: &str,
) -> crate::support::Sundown {
    let path = world.path(&format!("wait-{wait}.yaml"));
    std::fs::write(&path, format!("{config}schedule:\n  wait: {wait}\n")).unwrap();
    world
        .sundown()
        .config(&path)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint())
        .args(&["schedule", action])
}

/// Starts `start`, sees it say it waits (`line`), releases what the latency
/// model holds, and expects it to finish with exit 0.
fn waits_until_released(start: crate::support::Sundown, line: &str, proxy: &FaultProxy) {
    let waiting = start.start();
    waiting.wait_for_line(line, Duration::from_secs(60));
    proxy.release();
    let (code, _, lines) = waiting.finish(Duration::from_secs(120));
    assert_eq!(code, 0, "{lines:#?}");
}

const ENDPOINTS_ONLY: &str = "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
                              sagemaker:\n  endpoint_prefix: retail-forecast\n";

/// On AWS a stopped endpoint stays Deleting for minutes, and cannot be
/// recreated before it is gone. A `start` in that window waits for it, within
/// `schedule.wait`; past the bound it fails naming each endpoint and keeps
/// every one remembered, so no endpoint is ever forgotten. The latency model
/// holds the deletions until the test releases them.
#[tokio::test(flavor = "multi_thread")]
async fn a_start_while_endpoints_are_still_deleting_waits_for_them_and_forgets_none() {
    let world = World::start();
    world.seed(&["--endpoints", "7"]);
    let proxy = FaultProxy::start(
        world.moto.port,
        Faults {
            endpoint_deletion: Some(EndpointDeletion {
                hold: true,
                ..EndpointDeletion::default()
            }),
            ..Faults::default()
        },
    );
    let before = snapshot(&world).await;
    assert_eq!(before.endpoints.len(), 7);
    let schedule = |action, wait| through_the_model(&world, &proxy, ENDPOINTS_ONLY, action, wait);

    let stop = schedule("stop", "1m").run();
    assert_eq!(stop.code, 0, "{stop:#?}");
    assert_eq!(proxy.deleting().len(), 7, "the deletions are held");
    let stopped = snapshot(&world).await.configs;

    // Too short a wait: exit 1, each endpoint named, every memory kept.
    let short = schedule("start", "1s").run();
    assert_eq!(short.code, 1, "{short:#?}");
    for e in &before.endpoints {
        assert!(
            short.stdout.contains(&format!(
                "error: endpoint {}: still Deleting after schedule.wait (1s)",
                e.0
            )),
            "{}",
            short.stdout
        );
    }
    assert_eq!(
        snapshot(&world).await.configs,
        stopped,
        "a failed start forgot an endpoint"
    );

    // A start that can wait: it meets them Deleting, waits, and recreates all 7 once they are gone.
    waits_until_released(schedule("start", "2m"), "to finish deleting before recreating", &proxy);
    assert_eq!(
        snapshot(&world).await,
        before,
        "not every endpoint is back, or memory is left"
    );
    let creates = proxy
        .received
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, op, _)| op == "CreateEndpoint")
        .count();
    assert_eq!(
        creates, 7,
        "one CreateEndpoint per endpoint, none while it was Deleting"
    );
}

/// A node group mid-update (EKS refuses a second update meanwhile with
/// ResourceInUseException) is waited for before it is scaled; past
/// `schedule.wait` the run fails and the node group keeps its memory. Each
/// update sundown sends is checked (DescribeUpdate) until it is Successful:
/// one still InProgress at the deadline is reported pending, not done. The
/// latency model holds every update until the test releases it.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_group_still_updating_is_waited_for_and_keeps_its_memory_meanwhile() {
    let world = World::start();
    world.seed(&["--nodegroup", "spot-a:1:2:5"]);
    let proxy = FaultProxy::start(
        world.moto.port,
        Faults {
            node_group_update: Some(Duration::from_secs(3600)),
            ..Faults::default()
        },
    );
    let before = snapshot(&world).await;
    let config = "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
                  kubernetes:\n  cluster: retail-forecast-cluster\n  namespaces: []\n";
    let schedule = |action, wait| through_the_model(&world, &proxy, config, action, wait);

    let stop = schedule("stop", "2s").run();
    assert_eq!(stop.code, 1, "{stop:#?}");
    assert!(
        stop.stdout.contains("pending: update InProgress")
            && stop.stdout.contains(
                "to min=0 desired=0 max=5 still InProgress after schedule.wait (2s); it keeps what it remembers, and the next run checks it"
            ),
        "{}",
        stop.stdout
    );
    assert_eq!(proxy.updating(), ["retail-forecast-cluster/spot-a"]);
    let stopped = snapshot(&world).await;
    assert_eq!(
        stopped.node_groups["spot-a"],
        (
            0,
            0,
            5,
            tags(&[("sundown:scaling:retail-forecast", "min=1 desired=2 max=5")])
        )
    );

    let short = schedule("start", "1s").run();
    assert_eq!(short.code, 1, "{short:#?}");
    assert!(
        short
            .stdout
            .contains("error: node group retail-forecast-cluster/spot-a: still UPDATING after schedule.wait (1s)"),
        "{}",
        short.stdout
    );
    assert_eq!(
        snapshot(&world).await,
        stopped,
        "a failed start changed or forgot the node group"
    );

    // A start that can wait: it waits for the stop's update to end, scales, waits for its own.
    let start = schedule("start", "2m").start();
    start.wait_for_line("waiting for its update to end", Duration::from_secs(60));
    proxy.release();
    start.wait_for_line("waiting for the node-group updates to end", Duration::from_secs(60));
    proxy.release();
    let (code, _, lines) = start.finish(Duration::from_secs(120));
    assert_eq!(code, 0, "{lines:#?}");
    assert_eq!(snapshot(&world).await, before);
    let describes = proxy.count("GET /clusters/retail-forecast-cluster/updates/");
    assert!(
        describes >= 2,
        "each update was checked with DescribeUpdate: {describes}"
    );
}
