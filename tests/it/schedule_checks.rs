//! The schedule checks what it did, as AWS has it (the latency model: node-group
//! updates InProgress, then Successful or Failed; endpoints Creating, then
//! InService or Failed), alerts on failure through SNS (read back through the
//! subscribed SQS queue), and honours holidays, manual starts and keep-on marks.

use std::time::Duration;

use serde_json::Value;

use crate::fault_proxy::{EndpointCreation, FaultProxy, Faults};
use crate::support::World;

const STACK: &str = "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n";
const CLUSTER: &str = "kubernetes:\n  cluster: retail-forecast-cluster\n  namespaces: []\n";
const ENDPOINTS: &str = "sagemaker:\n  endpoint_prefix: retail-forecast\n";

/// A config of `sections`, alerting to `topic`, written under `name`.
fn config(world: &World, name: &str, sections: &str, topic: &str) -> std::path::PathBuf {
    let path = world.path(name);
    std::fs::write(
        &path,
        format!("{STACK}{sections}notify:\n  sns_topic_arn: {topic}\n  github_comment: \"off\"\n"),
    )
    .unwrap();
    path
}

/// What the subscribed queue received.
fn inbox(world: &World, queue_url: &str) -> Vec<Value> {
    world.seed(&["--receive", queue_url]).as_array().unwrap().clone()
}

/// The `sundown:…` tag keys on one endpoint config.
async fn memory_of(world: &World, config: &str) -> Vec<String> {
    let sm = aws_sdk_sagemaker::Client::new(&world.sdk().await);
    let arn = sm
        .describe_endpoint_config()
        .endpoint_config_name(config)
        .send()
        .await
        .unwrap()
        .endpoint_config_arn()
        .unwrap()
        .to_owned();
    let tags = sm.list_tags().resource_arn(arn).send().await.unwrap();
    tags.tags()
        .iter()
        .filter_map(|t| Some(format!("{}={}", t.key()?, t.value()?)))
        .filter(|t| t.starts_with("sundown:"))
        .collect()
}

/// A recreated endpoint that ends Failed (InsufficientInstanceCapacity, as
/// SageMaker reports it) makes `start` exit 1 and sends one SNS message naming
/// it and the reason. Its sibling, Creating for a while, is reported only once
/// InService, and only it is forgotten; the failed one stays remembered.
#[tokio::test(flavor = "multi_thread")]
async fn a_recreated_endpoint_that_ends_failed_fails_the_start_and_alerts_once() {
    let world = World::start();
    let seeded = world.seed(&["--endpoints", "2", "--inbox"]);
    let (topic, queue) = (
        seeded["inbox"]["topic_arn"].as_str().unwrap(),
        seeded["inbox"]["queue_url"].as_str().unwrap(),
    );
    let path = config(
        &world,
        "sundown.yaml",
        &format!("{ENDPOINTS}schedule:\n  wait: 2m\n"),
        topic,
    );
    let stop = world.sundown().config(&path).args(&["schedule", "stop"]).run();
    assert_eq!(stop.code, 0, "{stop:#?}");
    assert!(inbox(&world, queue).is_empty(), "a stop that succeeded alerted");

    let reason = "InsufficientInstanceCapacity: We currently do not have sufficient ml.m5.large capacity in the Availability Zone you requested";
    let proxy = FaultProxy::start(
        world.moto.port,
        Faults {
            endpoint_creation: Some(EndpointCreation {
                delay: Duration::from_secs(3),
                fail: vec![("retail-forecast-ep-1".into(), reason.into())],
            }),
            ..Faults::default()
        },
    );
    let start = world
        .sundown()
        .config(&path)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint())
        .args(&["schedule", "start"])
        .run();
    assert_eq!(start.code, 1, "{start:#?}");
    assert!(
        start.stdout.contains(&format!(
            "error: endpoint retail-forecast-ep-1: Failed after CreateEndpoint: {reason}; config retail-forecast-ep-1-config still remembers it"
        )),
        "{}",
        start.stdout
    );
    // Reported recreated only once InService: the model kept it Creating for 3 s.
    assert!(
        start
            .stdout
            .contains("recreated from config retail-forecast-ep-0-config, InService"),
        "{}",
        start.stdout
    );
    assert!(memory_of(&world, "retail-forecast-ep-0-config").await.is_empty());
    assert_eq!(
        memory_of(&world, "retail-forecast-ep-1-config").await,
        ["sundown:stopped-endpoints:retail-forecast=retail-forecast-ep-1"]
    );

    let messages = inbox(&world, queue);
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert_eq!(messages[0]["Subject"], "sundown: retail-forecast schedule start failed");
    let body = messages[0]["Message"].as_str().unwrap();
    assert!(body.contains("retail-forecast-ep-1") && body.contains(reason), "{body}");
    assert_eq!(messages[0]["MessageAttributes"]["status"]["Value"], "failed");
}

/// A node-group update that ends Failed (a PodDisruptionBudget that blocks the
/// drain: PodEvictionFailure) makes `stop` exit 1 with EKS's reason, and the
/// same alert is sent; the other node group is scaled to 0 and reported so
/// only after DescribeUpdate said Successful. The failed one keeps its size
/// and its memory, for the next run.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_node_group_update_fails_the_stop_and_alerts_once() {
    let world = World::start();
    let seeded = world.seed(&["--nodegroup", "spot-a:1:2:5", "--nodegroup", "spot-b:0:3:6", "--inbox"]);
    let (topic, queue) = (
        seeded["inbox"]["topic_arn"].as_str().unwrap(),
        seeded["inbox"]["queue_url"].as_str().unwrap(),
    );
    let reason = "PodEvictionFailure: Reached max retries while trying to evict pods from nodes in node group spot-b";
    let proxy = FaultProxy::start(
        world.moto.port,
        Faults {
            node_group_update: Some(Duration::from_secs(2)),
            node_group_failure: vec![("spot-b".into(), reason.into())],
            ..Faults::default()
        },
    );
    let path = config(
        &world,
        "sundown.yaml",
        &format!("{CLUSTER}schedule:\n  wait: 1m\n"),
        topic,
    );
    let stop = world
        .sundown()
        .config(&path)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint())
        .args(&["schedule", "stop"])
        .run();
    assert_eq!(stop.code, 1, "{stop:#?}");
    assert!(
        stop.stdout
            .contains("error: node group retail-forecast-cluster/spot-b: update failing-")
            && stop
                .stdout
                .contains(&format!(" to min=0 desired=0 max=6 failed: {reason}")),
        "{}",
        stop.stdout
    );
    assert!(
        stop.stdout.contains("scaled to 0 (was min=1 desired=2 max=5)"),
        "{}",
        stop.stdout
    );
    let eks = aws_sdk_eks::Client::new(&world.sdk().await);
    let size = |name: &'static str| {
        let eks = eks.clone();
        async move {
            let g = eks
                .describe_nodegroup()
                .cluster_name("retail-forecast-cluster")
                .nodegroup_name(name)
                .send()
                .await
                .unwrap();
            let g = g.nodegroup().unwrap().clone();
            (
                g.scaling_config().unwrap().desired_size().unwrap(),
                g.tags().cloned().unwrap_or_default(),
            )
        }
    };
    assert_eq!(size("spot-a").await.0, 0);
    let (desired, tags) = size("spot-b").await;
    assert_eq!(desired, 3, "the failed update changed nothing");
    assert_eq!(tags["sundown:scaling:retail-forecast"], "min=0 desired=3 max=6");
    let checks = proxy.count("GET /clusters/retail-forecast-cluster/updates/");
    assert!(checks >= 2, "each update was checked until it ended: {checks}");

    let messages = inbox(&world, queue);
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert_eq!(messages[0]["Subject"], "sundown: retail-forecast schedule stop failed");
    let body = messages[0]["Message"].as_str().unwrap();
    assert!(body.contains("spot-b") && body.contains(reason), "{body}");
}

/// Today, in UTC, as `schedule.holidays` writes it.
fn today() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    sundown::clock::utc_date(now)
}

/// On a holiday the start rule (here `--scheduled`, as the Lambda and a
/// scheduled workflow run it) changes nothing and says the stack stays
/// stopped: the recorder shows no mutating request. With `start: manual` the
/// rule does nothing either (the Lambda handler, in-process), while a start
/// by hand brings the stack back.
#[tokio::test(flavor = "multi_thread")]
async fn holidays_and_manual_starts_keep_the_stack_stopped_until_a_person_starts_it() {
    let world = World::start();
    world.seed(&["--endpoints", "1", "--nodegroup", "spot-a:1:2:5"]);
    let sections = format!("{CLUSTER}{ENDPOINTS}");
    let holiday = config(
        &world,
        "holiday.yaml",
        &format!("{sections}schedule:\n  holidays: [{}]\n", today()),
        "null",
    );
    let stop = world.sundown().config(&holiday).args(&["schedule", "stop"]).run();
    assert_eq!(stop.code, 0, "{stop:#?}");

    world.moto.start_recording();
    let start = world
        .sundown()
        .config(&holiday)
        .args(&["schedule", "start", "--scheduled"])
        .run();
    assert_eq!(start.code, 0, "{start:#?}");
    assert!(
        start.stdout.contains(&format!(
            "{} is a holiday (schedule.holidays): the start rule does nothing; the stack stays stopped",
            today()
        )),
        "{}",
        start.stdout
    );
    let mutating: Vec<_> = world.moto.recording().into_iter().filter(|r| !r.is_read()).collect();
    assert!(mutating.is_empty(), "a holiday start changed something: {mutating:#?}");

    // `start: manual`: the Lambda's start does nothing either.
    let manual = config(
        &world,
        "manual.yaml",
        &format!("{sections}schedule:\n  start: manual\n"),
        "null",
    );
    let loaded = sundown::config::Config::load(&manual).unwrap();
    let aws = sundown::aws::Aws::from_sdk(world.sdk().await);
    world.moto.start_recording();
    let outcome = sundown::lambda::handle(&loaded, &aws, serde_json::json!({"action": "start"}))
        .await
        .unwrap();
    assert!(
        outcome["skipped"]
            .as_str()
            .unwrap()
            .starts_with("schedule.start is manual"),
        "{outcome:#}"
    );
    let mutating: Vec<_> = world.moto.recording().into_iter().filter(|r| !r.is_read()).collect();
    assert!(
        mutating.is_empty(),
        "a manual start rule changed something: {mutating:#?}"
    );

    // By hand, on the holiday and with manual starts alike, start works.
    let by_hand = world.sundown().config(&manual).args(&["schedule", "start"]).run();
    assert_eq!(by_hand.code, 0, "{by_hand:#?}");
    assert!(
        by_hand.stdout.contains("restored min=1 desired=2 max=5"),
        "{}",
        by_hand.stdout
    );
    assert!(by_hand.stdout.contains("recreated from config"), "{}", by_hand.stdout);
}

/// `schedule keep-on` marks one endpoint and one node group: the next `stop`
/// leaves both running and stops the rest; once the mark's time has passed,
/// `stop` stops them too and removes the node group's expired mark.
#[tokio::test(flavor = "multi_thread")]
async fn a_keep_on_mark_keeps_its_resource_running_until_its_time() {
    let world = World::start();
    world.seed(&[
        "--endpoints",
        "2",
        "--nodegroup",
        "spot-a:1:2:5",
        "--nodegroup",
        "spot-b:0:3:6",
    ]);
    let path = config(&world, "sundown.yaml", &format!("{CLUSTER}{ENDPOINTS}"), "null");
    let schedule = |args: &[&str]| world.sundown().config(&path).args(args).run();
    let marked_at = std::time::Instant::now();
    for only in [["--endpoint", "retail-forecast-ep-0"], ["--node-group", "spot-a"]] {
        let mark = schedule(&["schedule", "keep-on", "--until", "20s", only[0], only[1]]);
        assert_eq!(mark.code, 0, "{mark:#?}");
        assert!(mark.stdout.contains("kept on until"), "{}", mark.stdout);
    }

    let stop = schedule(&["--output", "json", "schedule", "stop"]);
    assert_eq!(stop.code, 0, "{stop:#?}");
    let detail = |out: &crate::support::Outcome, name: &str| {
        out.json()["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| {
                (
                    c["changed"].as_bool().unwrap(),
                    c["detail"].as_str().unwrap().to_owned(),
                )
            })
            .unwrap_or_else(|| panic!("no change for {name}: {}", out.stdout))
    };
    for kept in ["retail-forecast-ep-0", "retail-forecast-cluster/spot-a"] {
        let (changed, why) = detail(&stop, kept);
        assert!(!changed && why.contains("(sundown schedule keep-on)"), "{kept}: {why}");
    }
    for stopped in ["retail-forecast-ep-1", "retail-forecast-cluster/spot-b"] {
        assert!(detail(&stop, stopped).0, "{stopped}: {}", stop.stdout);
    }
    let sm = aws_sdk_sagemaker::Client::new(&world.sdk().await);
    let running = sm.list_endpoints().send().await.unwrap();
    let names: Vec<_> = running.endpoints().iter().filter_map(|e| e.endpoint_name()).collect();
    assert_eq!(names, ["retail-forecast-ep-0"]);

    // The marks' time passes (they are absolute times on the resources).
    std::thread::sleep(Duration::from_secs(21).saturating_sub(marked_at.elapsed()));
    let later = schedule(&["--output", "json", "schedule", "stop"]);
    assert_eq!(later.code, 0, "{later:#?}");
    assert!(detail(&later, "retail-forecast-ep-0").0, "{}", later.stdout);
    assert!(detail(&later, "retail-forecast-cluster/spot-a").0, "{}", later.stdout);
    assert!(sm.list_endpoints().send().await.unwrap().endpoints().is_empty());
    let eks = aws_sdk_eks::Client::new(&world.sdk().await);
    let g = eks
        .describe_nodegroup()
        .cluster_name("retail-forecast-cluster")
        .nodegroup_name("spot-a")
        .send()
        .await
        .unwrap();
    let tags = g.nodegroup().unwrap().tags().cloned().unwrap_or_default();
    assert!(!tags.contains_key("sundown:keep-on:retail-forecast"), "{tags:?}");
}
