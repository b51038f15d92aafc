//! The binary as the GitHub Action: a synthesized Actions environment, the
//! emulator for AWS (SNS delivered to a subscribed SQS queue), and a GitHub
//! fake on wiremock for the pull-request comment.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::fault_proxy::{FaultProxy, Faults};
use crate::github_fake::{BOT, GithubFake};
use crate::support::{Outcome, World};

const REPOSITORY: &str = "acme/retail";
const PR: u64 = 42;
const TOKEN: &str = "ghs_sundownTestToken123";

/// One run of the Action: its environment files and what it wrote in them.
struct ActionRun {
    out: Outcome,
    outputs: HashMap<String, String>,
    summary: String,
}

fn run_action(world: &World, github: &GithubFake, inputs: &[(&str, &str)], run: u32) -> ActionRun {
    run_action_with(world, github, inputs, run, &[])
}

/// `run_action` with more environment (an endpoint through the fault proxy).
fn run_action_with(
    world: &World,
    github: &GithubFake,
    inputs: &[(&str, &str)],
    run: u32,
    env: &[(&str, &str)],
) -> ActionRun {
    let output_file = world.path(&format!("github-output-{run}"));
    let summary_file = world.path(&format!("step-summary-{run}"));
    let event = world.path("event.json");
    std::fs::write(
        &event,
        json!({ "action": "synchronize", "pull_request": { "number": PR } }).to_string(),
    )
    .unwrap();
    let mut sundown = world
        .sundown()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", output_file.to_str().unwrap())
        .env("GITHUB_STEP_SUMMARY", summary_file.to_str().unwrap())
        .env("GITHUB_EVENT_PATH", event.to_str().unwrap())
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_WORKSPACE", world.dir.path().to_str().unwrap())
        .env("GITHUB_REPOSITORY", REPOSITORY)
        .env("GITHUB_API_URL", &github.api_url())
        .env("GITHUB_SERVER_URL", "https://github.example.com")
        .env("GITHUB_RUN_ID", "777")
        // The defaults action.yml gives; inputs override them.
        .env("INPUT_COMMAND", "teardown")
        .env("INPUT_CONFIG", "sundown.yaml")
        .env("INPUT_WORKING-DIRECTORY", ".")
        .env("INPUT_GITHUB-TOKEN", TOKEN)
        .env("INPUT_PR-NUMBER", "")
        .env("INPUT_COMMENT", "")
        .env("INPUT_SNS-TOPIC-ARN", "")
        .env("INPUT_CONFIRMATION", "");
    for (name, value) in inputs {
        sundown = sundown.env(&format!("INPUT_{}", name.to_uppercase()), value);
    }
    for (name, value) in env {
        sundown = sundown.env(name, value);
    }
    let out = sundown.run();
    ActionRun {
        outputs: parse_outputs(&std::fs::read_to_string(&output_file).unwrap_or_default()),
        summary: std::fs::read_to_string(&summary_file).unwrap_or_default(),
        out,
    }
}

/// Parses `name<<DELIM\nvalue\nDELIM` blocks, checking each delimiter closes its own block.
fn parse_outputs(text: &str) -> HashMap<String, String> {
    let mut outputs = HashMap::new();
    let mut lines = text.lines();
    while let Some(head) = lines.next() {
        let (name, delimiter) = head.split_once("<<").expect("name<<delimiter");
        assert!(delimiter.starts_with("ghadelimiter_") && delimiter.len() > 20, "{head}");
        let mut value = Vec::new();
        for line in lines.by_ref() {
            if line == delimiter {
                break;
            }
            value.push(line);
        }
        outputs.insert(name.to_string(), value.join("\n"));
    }
    outputs
}

fn inbox(world: &World, queue_url: &str) -> Vec<Value> {
    world.seed(&["--receive", queue_url]).as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn action_tears_down_notifies_and_keeps_one_comment_up_to_date() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    let seeded = world.seed(&["--endpoints", "2", "--repo", "retail-forecast:7", "--inbox"]);
    world.terraform(&["resources=3"]);
    world.stack_config("20s", "");
    let topic = seeded["inbox"]["topic_arn"].as_str().unwrap();
    let queue = seeded["inbox"]["queue_url"].as_str().unwrap();

    let github = GithubFake::start(REPOSITORY, PR, TOKEN).await;
    let marker = "<!-- sundown:stack=retail-forecast -->";
    // Someone else's comment carrying the marker must never be edited.
    let foreign = github.add_comment("mallory", &format!("{marker}\nnot sundown's"));
    github.add_comment("alice", "LGTM");
    // The first create reaches GitHub but its response is lost: sundown must not post twice.
    github.lose_next_create();

    let first = run_action(
        &world,
        &github,
        &[("confirmation", "destroy"), ("sns-topic-arn", topic)],
        1,
    );
    assert_eq!(first.out.code, 0, "{:#?}", first.out);

    // The world: nothing of the stack is left.
    let left = world.leftovers(&["retail-forecast"]).await;
    assert!(left.is_empty(), "left after the Action's teardown: {left:?}");

    // Outputs: status, the report's path (relative to the workspace) and the count.
    // 1 namespace + 2 endpoints, 2 configs, 2 models + 7 images + 3 Terraform resources.
    assert_eq!(first.outputs["status"], "success", "{:?}", first.outputs);
    assert_eq!(first.outputs["destroyed"], "17", "{:?}", first.outputs);
    assert_eq!(first.outputs["report"], "sundown-teardown.json");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(world.path("sundown-teardown.json")).unwrap()).unwrap();
    assert_eq!(report["schema"], "sundown.report/v1");
    assert_eq!(report["result"], "succeeded");
    // What it stopped, priced before the deletions (built-in prices: the emulator has no Price List):
    // 2 endpoints of 1 × ml.m5.large at $0.115/hour, 730 hours a month.
    let stopped = report["stopped_usd_per_month"].as_f64().expect("stopped_usd_per_month");
    assert!((stopped - 2.0 * 0.115 * 730.0).abs() < 0.02, "{stopped}");
    let says = format!("stops ≈ ${stopped:.0}/month");

    // Job summary, groups per phase, and the token masked before anything else.
    assert!(
        first
            .summary
            .contains("sundown teardown of `retail-forecast` succeeded"),
        "{}",
        first.summary
    );
    assert!(first.summary.contains("| ecr | done | 7 | 7 |"), "{}", first.summary);
    let stdout = &first.out.stdout;
    assert!(stdout.starts_with(&format!("::add-mask::{TOKEN}\n")), "{stdout}");
    assert_eq!(stdout.matches(TOKEN).count(), 1, "the token leaked: {stdout}");
    for phase in ["kubernetes", "sagemaker", "ecr", "terraform"] {
        assert!(
            stdout.contains(&format!("::group::sundown: {phase}\n")),
            "{phase}: {stdout}"
        );
    }
    assert_eq!(stdout.matches("::endgroup::").count(), 4, "{stdout}");

    // SNS, as the subscribed queue received it.
    let messages = inbox(&world, queue);
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let sns = &messages[0];
    assert_eq!(sns["Subject"], "sundown: retail-forecast teardown succeeded");
    let body = sns["Message"].as_str().unwrap();
    assert!(
        body.contains("Run: https://github.example.com/acme/retail/actions/runs/777"),
        "{body}"
    );
    assert!(body.contains("ecr") && body.contains("terraform"), "{body}");
    assert!(body.contains(&says), "{says:?} not in the SNS message: {body}");
    assert_eq!(sns["MessageAttributes"]["stack"]["Value"], "retail-forecast");
    assert_eq!(sns["MessageAttributes"]["status"]["Value"], "succeeded");

    // One comment by the bot, despite the lost response.
    let comments = github.comments();
    let ours: Vec<_> = comments.iter().filter(|c| c.login == BOT).collect();
    assert_eq!(ours.len(), 1, "{comments:#?}");
    let id = ours[0].id;
    assert!(ours[0].body.starts_with(marker), "{}", ours[0].body);
    assert!(ours[0].body.contains("| ecr | done | 7 | 7 |"), "{}", ours[0].body);
    assert!(
        ours[0].body.contains(&format!("stops ≈ **${stopped:.0}/month**")),
        "{}",
        ours[0].body
    );

    // Second run: nothing left to delete; the same comment is edited, no new one.
    let second = run_action(&world, &github, &[("confirmation", "destroy")], 2);
    assert_eq!(second.out.code, 0, "{:#?}", second.out);
    assert_eq!(second.outputs["status"], "success");
    assert_eq!(second.outputs["destroyed"], "0");
    let comments = github.comments();
    let ours: Vec<_> = comments.iter().filter(|c| c.login == BOT).collect();
    assert_eq!(ours.len(), 1, "{comments:#?}");
    assert_eq!(ours[0].id, id);
    assert!(ours[0].body.contains("| ecr | done | 0 | 0 |"), "{}", ours[0].body);
    assert_eq!(
        comments.iter().find(|c| c.id == foreign).unwrap().body,
        format!("{marker}\nnot sundown's")
    );
    let requests = github.requests().await;
    let posts = requests.iter().filter(|r| r.starts_with("POST")).count();
    let patches = requests.iter().filter(|r| r.starts_with("PATCH")).count();
    assert_eq!((posts, patches), (1, 1), "{requests:#?}");
    // The second run used the config's topic: none, so no second message.
    assert!(inbox(&world, queue).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn action_refuses_a_wrong_confirmation_before_any_request() {
    let world = World::start();
    world.seed(&["--endpoints", "1", "--repo", "retail-forecast:2"]);
    world.stack_config(
        "20s",
        "notify:\n  sns_topic_arn: arn:aws:sns:us-east-1:123456789012:alerts\n",
    );
    let github = GithubFake::start(REPOSITORY, PR, TOKEN).await;

    // `expired` (the expiry workflow's) needs reminded-at, and a stack with a lifetime that has passed.
    for (inputs, why) in [
        (
            &[("confirmation", "yes")][..],
            "the confirmation input is \"yes\", not \"destroy\"",
        ),
        (&[("confirmation", "")], "the confirmation input is empty"),
        (
            &[("confirmation", "expired")],
            "the confirmation input is \"expired\" without reminded-at",
        ),
        (
            &[("confirmation", "expired"), ("reminded-at", "2026-12-01T10:00:00Z")],
            "has no lifetime; only a stack with `lifetime:` is torn down without --confirm destroy",
        ),
    ] {
        world.moto.start_recording();
        let run = run_action(&world, &github, inputs, 1);
        let recorded = world.moto.recording();
        assert_eq!(run.out.code, 2, "{:#?}", run.out);
        assert_eq!(run.outputs["status"], "refused", "{:?}", run.outputs);
        assert_eq!(run.outputs["destroyed"], "0");
        assert_eq!(run.outputs["report"], "");
        assert!(
            run.out.stdout.contains("::error title=sundown::") && run.out.stdout.contains(why),
            "{}",
            run.out.stdout
        );
        assert!(recorded.is_empty(), "requests reached the emulator: {recorded:#?}");
        std::fs::remove_file(world.path("github-output-1")).unwrap();
    }
    assert_eq!(github.requests().await, Vec::<String>::new());
    let left = world.leftovers(&["retail-forecast"]).await;
    assert_eq!((left.endpoints.len(), left.images), (1, 2), "{left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn action_points_a_config_error_at_its_line() {
    let world = World::start();
    world.config("stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\necr:\n  repos: [x]\n");
    let github = GithubFake::start(REPOSITORY, PR, TOKEN).await;
    world.moto.start_recording();
    let run = run_action(&world, &github, &[("confirmation", "destroy")], 1);
    assert_eq!(run.out.code, 2, "{:#?}", run.out);
    assert_eq!(run.outputs["status"], "refused");
    assert!(
        run.out.stdout.contains("::error file=sundown.yaml,line=5"),
        "{}",
        run.out.stdout
    );
    assert!(world.moto.recording().is_empty());
    assert_eq!(github.requests().await, Vec::<String>::new());
}

/// The summary's mermaid block with every number replaced by `N` (times vary from run to run).
fn gantt_block(summary: &str) -> String {
    let start = summary.find("```mermaid").expect("a mermaid block in the summary");
    let end = start + summary[start..].find("\n```\n").expect("the block's end") + 5;
    let mut out = String::new();
    let mut digits = false;
    for c in summary[start..end].chars() {
        if c.is_ascii_digit() {
            if !digits {
                out.push('N');
            }
            digits = true;
        } else {
            digits = false;
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn action_plans_and_then_tears_down_exactly_that_plan() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&["--endpoints", "1", "--repo", "retail-forecast:3"]);
    world.terraform(&["resources=1"]);
    world.stack_config("20s", "");
    let github = GithubFake::start(REPOSITORY, PR, TOKEN).await;

    let plan = run_action(&world, &github, &[("command", "plan"), ("comment", "off")], 1);
    assert_eq!(plan.out.code, 0, "{:#?}", plan.out);
    let digest = plan.outputs["plan-digest"].clone();
    assert!(digest.starts_with("sha256:"), "{:?}", plan.outputs);
    assert_eq!(plan.outputs["report"], "sundown-plan.json");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(world.path("sundown-plan.json")).unwrap()).unwrap();
    assert_eq!(written["digest"], digest.as_str());
    // The summary a reviewer reads: the digest and what will be deleted, phase by phase.
    assert!(plan.summary.contains(&digest), "{}", plan.summary);
    assert!(
        plan.summary.contains("| delete | endpoint | `retail-forecast-ep-0` |"),
        "{}",
        plan.summary
    );
    assert!(plan.summary.contains("**4. terraform**"), "{}", plan.summary);

    let teardown = run_action(
        &world,
        &github,
        &[
            ("confirmation", "destroy"),
            ("plan", "sundown-plan.json"),
            ("comment", "off"),
        ],
        2,
    );
    assert_eq!(teardown.out.code, 0, "{:#?}", teardown.out);
    assert_eq!(teardown.outputs["plan-digest"], digest);
    assert!(
        teardown
            .summary
            .contains(&format!("Carried out the reviewed plan `{digest}`")),
        "{}",
        teardown.summary
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(world.path("sundown-teardown.json")).unwrap()).unwrap();
    assert_eq!(report["plan_digest"], digest.as_str());
    assert!(world.leftovers(&["retail-forecast"]).await.is_empty());
    assert_eq!(
        gantt_block(&teardown.summary),
        include_str!("../snapshots/action-gantt.md"),
        "the summary's timeline (tests/snapshots/action-gantt.md)"
    );
    assert_eq!(github.requests().await, Vec::<String>::new());
}

/// Notifications never change a result: with SNS refusing the publish
/// (AuthorizationError, as for a role without sns:Publish) and GitHub refusing
/// the comment (403, as for a token without `pull-requests: write`), the
/// teardown still succeeds, with the same outputs and report as when both
/// work, and each failure is a warning annotation naming it.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_sns_publish_and_a_github_403_leave_the_result_as_it_is() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    let seeded = world.seed(&["--endpoints", "1", "--repo", "retail-forecast:3", "--inbox"]);
    world.terraform(&["resources=1"]);
    world.stack_config("20s", "");
    let topic = seeded["inbox"]["topic_arn"].as_str().unwrap();
    let queue = seeded["inbox"]["queue_url"].as_str().unwrap();
    let proxy = FaultProxy::start(
        world.moto.port,
        Faults {
            always: Some(("Action=Publish", 403, "AuthorizationError")),
            ..Faults::default()
        },
    );
    let github = GithubFake::start(REPOSITORY, PR, TOKEN).await;
    github.forbid_writes();

    let run = run_action_with(
        &world,
        &github,
        &[("confirmation", "destroy"), ("sns-topic-arn", topic)],
        1,
        &[("AWS_ENDPOINT_URL", &proxy.endpoint())],
    );
    assert_eq!(run.out.code, 0, "{:#?}", run.out);
    assert_eq!(run.outputs["status"], "success", "{:?}", run.outputs);
    // 1 namespace + 1 endpoint, its config and model + 3 images + 1 Terraform resource.
    assert_eq!(run.outputs["destroyed"], "8", "{:?}", run.outputs);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(world.path("sundown-teardown.json")).unwrap()).unwrap();
    assert_eq!(report["result"], "succeeded", "{report:#}");
    let left = world.leftovers(&["retail-forecast"]).await;
    assert!(left.is_empty(), "{left:?}");

    // Each failure is a warning that names it; neither was delivered.
    let stdout = &run.out.stdout;
    let warning = |title: &str, says: &str| {
        stdout
            .lines()
            .any(|l| l.starts_with(&format!("::warning title={title}")) && l.contains(says))
    };
    assert!(warning("sundown notify", "AuthorizationError"), "{stdout}");
    assert!(warning("sundown comment", "403"), "{stdout}");
    assert!(inbox(&world, queue).is_empty(), "the refused publish was delivered");
    assert!(github.comments().is_empty(), "{:?}", github.comments());
    assert!(
        proxy.injected.load(std::sync::atomic::Ordering::Relaxed) >= 1,
        "the publish never reached the proxy"
    );
}

/// The Action's `verify`, `schedule-stop` and `schedule-start` commands: their
/// outputs, job summary and exit code, and for the schedule the world (the
/// endpoint deleted at night, back in the morning, the node group at 0 and back).
#[tokio::test(flavor = "multi_thread")]
async fn the_action_runs_verify_and_the_schedule() {
    let world = World::start();
    // The extras include the cluster's spot node group, retail-forecast-spot (desired 2).
    world.seed(&["--extras", "--endpoints", "1"]);
    world.config(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         kubernetes:\n  cluster: retail-forecast-cluster\n  namespaces: []\n\
         sagemaker:\n  endpoint_prefix: retail-forecast\n\
         notify:\n  github_comment: \"off\"\n\
         verify:\n  buckets: [retail-forecast-data]\n\
         schedule:\n  scheduler: retail-forecast-scheduler\n",
    );
    let github = GithubFake::start(REPOSITORY, PR, TOKEN).await;
    let sdk = world.sdk().await;
    let sm = aws_sdk_sagemaker::Client::new(&sdk);
    let eks = aws_sdk_eks::Client::new(&sdk);
    let endpoints = || async {
        sm.list_endpoints()
            .send()
            .await
            .unwrap()
            .endpoints()
            .iter()
            .map(|e| e.endpoint_name().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let desired = || async {
        eks.describe_nodegroup()
            .cluster_name("retail-forecast-cluster")
            .nodegroup_name("retail-forecast-spot")
            .send()
            .await
            .unwrap()
            .nodegroup()
            .unwrap()
            .scaling_config()
            .unwrap()
            .desired_size()
            .unwrap()
    };

    // verify: no check fails but the one moto cannot answer; that one is an error annotation.
    let verify = run_action(&world, &github, &[("command", "verify")], 1);
    assert_eq!(verify.out.code, 1, "{:#?}", verify.out);
    assert_eq!(verify.outputs["status"], "failed", "{:?}", verify.outputs);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(world.path(&verify.outputs["report"])).unwrap()).unwrap();
    assert_eq!(report["schema"], "sundown.verify/v1");
    let failing: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail" || c["status"] == "error")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["s3.tiering"], "{report:#}");
    assert!(
        verify
            .out
            .stdout
            .lines()
            .any(|l| l.starts_with("::error title=sundown verify s3.tiering")),
        "{}",
        verify.out.stdout
    );
    assert!(verify.summary.contains("s3.tiering"), "{}", verify.summary);

    let stop = run_action(&world, &github, &[("command", "schedule-stop")], 2);
    assert_eq!(stop.out.code, 0, "{:#?}", stop.out);
    assert_eq!(stop.outputs["status"], "success", "{:?}", stop.outputs);
    assert!(
        stop.summary.contains("schedule stop of `retail-forecast`: 2 changed"),
        "{}",
        stop.summary
    );
    assert!(endpoints().await.is_empty());
    assert_eq!(desired().await, 0);

    let start = run_action(&world, &github, &[("command", "schedule-start")], 3);
    assert_eq!(start.out.code, 0, "{:#?}", start.out);
    assert_eq!(start.outputs["status"], "success", "{:?}", start.outputs);
    assert!(
        start.summary.contains("schedule start of `retail-forecast`: 2 changed"),
        "{}",
        start.summary
    );
    assert_eq!(endpoints().await, ["retail-forecast-ep-0"]);
    assert_eq!(desired().await, 2);
    // The comment is off in the config: GitHub saw no request.
    assert!(github.requests().await.is_empty());
}
