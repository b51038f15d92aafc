//! `sundown stacks` as a user runs it: every stack under a root with its
//! lifetime status at a set time (`SUNDOWN_NOW`, the test-only clock), the
//! expiry matrix, a broken config reported without hiding the others, and
//! not one AWS request (the emulator's recorder).

use serde_json::Value;

use crate::support::World;

fn write(world: &World, dir: &str, text: &str) {
    let dir = world.path("envs").join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sundown.yaml"), text).unwrap();
}

fn stack(name: &str, account: &str, lifetime: &str) -> String {
    format!(
        "stack: {name}\nregion: us-east-1\naccounts: [\"{account}\"]\nsagemaker:\n  endpoint_prefix: {name}\n{lifetime}"
    )
}

#[test]
fn stacks_lists_each_stacks_lifetime_and_the_expired_matrix_without_asking_aws() {
    let world = World::start();
    write(
        &world,
        "previews/pr-1841",
        &stack(
            "pr-1841",
            "111111111111",
            "lifetime:\n  expires_at: 2026-12-05T10:00:00Z\n",
        ),
    );
    write(
        &world,
        "demos/acme",
        &stack(
            "demo-acme",
            "222222222222",
            "lifetime:\n  expires_at: 2026-12-06T09:00:00Z\n  remind_before: 48h\n",
        ),
    );
    write(
        &world,
        "dev",
        &stack(
            "retail-dev",
            "111111111111",
            "lifetime:\n  expires_at: 2027-01-31T18:00:00Z\n",
        ),
    );
    write(&world, "prod", &stack("retail-forecast", "333333333333", ""));
    let stacks = |root: &str| {
        world
            .sundown()
            .env("SUNDOWN_NOW", "2026-12-05T17:00:00Z")
            .args(&["stacks", "--root", root, "--output", "json"])
            .run()
    };

    world.moto.start_recording();
    let out = stacks("envs");
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        world.moto.recording().is_empty(),
        "sundown stacks asked AWS: {:#?}",
        world.moto.recording()
    );
    let doc = out.json();
    assert_eq!(doc["schema"], "sundown.stacks/v1");
    assert_eq!(doc["now"], "2026-12-05T17:00:00Z");
    let status: Vec<(String, String)> = doc["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stack"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("demo-acme", "expiring"),
        ("retail-dev", "alive"),
        ("pr-1841", "expired"),
        ("retail-forecast", "no_lifetime"),
    ];
    assert_eq!(
        status,
        expected.map(|(s, t)| (s.to_owned(), t.to_owned())),
        "sorted by config path"
    );
    // What `strategy.matrix: ${{ fromJSON(…).matrix }}` takes: an object whose `include` lists
    // objects of strings, one job per expired stack.
    assert_eq!(
        doc["matrix"],
        serde_json::json!({"include": [{
            "config": "previews/pr-1841/sundown.yaml",
            "stack": "pr-1841",
            "account": "111111111111",
            "region": "us-east-1",
        }]})
    );
    assert!(
        doc["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["usd_per_day"] == Value::Null)
    );

    // A broken config is reported for its stack; the others are still listed; exit 1 at the end.
    write(
        &world,
        "broken",
        "stack: broken\nregion: us-east-1\nlifetime:\n  expires_at: 2027-01-31T18:00:00\n",
    );
    let out = stacks("envs");
    assert_eq!(out.code, 1, "{out:#?}");
    let doc = out.json();
    assert_eq!(doc["stacks"].as_array().unwrap().len(), 5);
    let broken = &doc["stacks"][0];
    assert_eq!(broken["status"], "invalid");
    let error = broken["error"].as_str().unwrap();
    assert!(
        error.contains("sundown.yaml:4:3: lifetime.expires_at") && error.contains("has no zone"),
        "{error}"
    );
    assert_eq!(doc["matrix"]["include"].as_array().unwrap().len(), 1);

    let human = world
        .sundown()
        .env("SUNDOWN_NOW", "2026-12-05T17:00:00Z")
        .args(&["stacks", "--root", "envs"])
        .run();
    assert!(
        human
            .stdout
            .contains("5 stacks under envs as of 2026-12-05T17:00:00Z: 1 expired, 1 expiring, 1 with errors."),
        "{}",
        human.stdout
    );
}

/// `git` in `dir`, as a reviewer's merge would leave it.
fn git(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=Reviewer", "-c", "user.email=reviewer@example.com"])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `teardown --expired` is confirmed by the stack's lifetime, never by less:
/// refused (exit 2, not one AWS request) without a lifetime, before it has
/// passed, when the reminder went out less than `remind_before` ago, and when
/// the config has changes not committed; once all hold, the stack is torn
/// down and the run names the commit that set `expires_at`.
#[tokio::test(flavor = "multi_thread")]
async fn an_expired_stack_goes_only_by_its_committed_lifetime_after_its_reminder() {
    let world = World::start();
    world.seed(&["--endpoints", "2"]);
    let dir = world.path("repo");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("sundown.yaml");
    let base = "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
                sagemaker:\n  endpoint_prefix: retail-forecast\n  wait: 1m\n";
    std::fs::write(&config, base).unwrap();
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "sundown.yaml"]);
    git(&dir, &["commit", "-q", "-m", "retail-forecast without a lifetime"]);
    let teardown = |now: &str, reminded: &str| {
        world
            .sundown()
            .config(&config)
            .env("SUNDOWN_NOW", now)
            .args(&["--output", "json", "teardown", "--expired", "--reminded-at", reminded])
            .run()
    };
    let refused = |out: &crate::support::Outcome, says: &str| {
        assert_eq!(out.code, 2, "{out:#?}");
        assert!(out.stderr.contains(says), "{says:?} not in: {}", out.stderr);
    };

    world.moto.start_recording();
    refused(
        &teardown("2026-12-08T12:00:00Z", "2026-12-06T10:00:00Z"),
        "has no lifetime; only a stack with `lifetime:` is torn down without --confirm destroy",
    );
    std::fs::write(
        &config,
        format!("{base}lifetime:\n  expires_at: 2026-12-07T10:00:00Z\n"),
    )
    .unwrap();
    git(&dir, &["commit", "-q", "-am", "retail-forecast goes on Monday"]);
    refused(
        &teardown("2026-12-07T09:00:00Z", "2026-12-06T09:00:00Z"),
        "expires at 2026-12-07T10:00:00Z, not yet",
    );
    refused(
        &teardown("2026-12-07T12:00:00Z", "2026-12-07T11:00:00Z"),
        "less than lifetime.remind_before (24h00m00s) ago; it is torn down from 2026-12-08T11:00:00Z on",
    );
    std::fs::write(
        &config,
        format!("{base}lifetime:\n  expires_at: 2026-12-07T11:00:00Z\n"),
    )
    .unwrap();
    refused(
        &teardown("2026-12-08T12:00:00Z", "2026-12-06T10:00:00Z"),
        "has changes that are not committed",
    );
    let requests = world.moto.recording();
    assert!(requests.is_empty(), "a refused expiry asked AWS: {requests:#?}");

    git(&dir, &["checkout", "-q", "sundown.yaml"]);
    let out = teardown("2026-12-08T12:00:00Z", "2026-12-06T10:00:00Z");
    assert_eq!(out.code, 0, "{out:#?}");
    let says = out.json()["confirmed_by"].as_str().unwrap().to_owned();
    assert!(
        says.starts_with("confirmed by its lifetime: expired at 2026-12-07T10:00:00Z, set by commit ")
            && says.ends_with("(Reviewer): retail-forecast goes on Monday; reminded at 2026-12-06T10:00:00Z"),
        "{says}"
    );
    assert!(out.stderr.contains(&says), "{}", out.stderr);
    let left = world.leftovers(&[]).await;
    assert!(left.is_empty(), "{left:#?}");
}

/// The hourly listing with `--remind`, twice, against the GitHub issues fake and SNS
/// (read back through SQS): a stack that expires today is reminded at the first
/// run and is in the second run's matrix, 25 hours later, with the time of its
/// reminder, which `teardown --expired` then accepts; a stack expiring later is
/// reminded once over both runs and is never in the matrix; a stack committed
/// already expired gets its reminder first and waits `remind_before`; a stack
/// without a lifetime gets nothing.
#[tokio::test(flavor = "multi_thread")]
async fn reminders_go_out_once_and_the_matrix_waits_for_them() {
    let world = World::start();
    let seeded = world.seed(&["--inbox"]);
    let (topic, queue) = (
        seeded["inbox"]["topic_arn"].as_str().unwrap().to_owned(),
        seeded["inbox"]["queue_url"].as_str().unwrap().to_owned(),
    );
    world.seed(&[
        "--sagemaker",
        r#"[{"endpoint": "pr-1841", "config": "pr-1841-config", "model": "pr-1841-model"}]"#,
    ]);
    let lifetime = |at: &str, before: &str| format!("lifetime:\n  expires_at: {at}\n  remind_before: {before}\n");
    let account = "123456789012";
    write(
        &world,
        "previews/pr-1841",
        &stack("pr-1841", account, &lifetime("2026-12-05T20:00:00Z", "24h")),
    );
    write(
        &world,
        "demos/acme",
        &stack("demo-acme", account, &lifetime("2026-12-07T09:00:00Z", "48h")),
    );
    write(
        &world,
        "demos/late",
        &stack("demo-late", account, &lifetime("2026-12-04T00:00:00Z", "24h")),
    );
    write(&world, "prod", &stack("retail-forecast", account, ""));
    let envs = committed(&world, "four stacks");
    let github = crate::github_fake::GithubIssues::start(REPOSITORY, TOKEN, "2026-12-05T10:00:00Z").await;
    let listing = |now: &str| hourly(&world, &github, now, &["--sns-topic", &topic]);
    let inbox = || world.seed(&["--receive", &queue]).as_array().unwrap().clone();
    let in_matrix = |doc: &Value| -> Vec<String> {
        doc["matrix"]["include"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["stack"].as_str().unwrap().to_owned())
            .collect()
    };

    let first = listing("2026-12-05T10:00:00Z");
    assert_eq!(first.code, 0, "{first:#?}");
    let doc = first.json();
    assert!(
        in_matrix(&doc).is_empty(),
        "nothing goes before its reminder is 24 h old: {doc:#}"
    );
    let issues = github.issues();
    let titles: Vec<&str> = issues.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(titles.len(), 3, "{titles:?}");
    assert!(!titles.iter().any(|t| t.contains("retail-forecast")), "{titles:?}");
    assert!(issues.iter().all(|i| i.comments.len() == 1), "{issues:#?}");
    let late = issues.iter().find(|i| i.title.contains("demo-late")).unwrap();
    assert!(
        late.comments[0]
            .0
            .contains("expired at 2026-12-04T00:00:00Z; it is torn down from 2026-12-06T10:00:00Z on"),
        "{late:#?}"
    );
    let acme = issues.iter().find(|i| i.title.contains("demo-acme")).unwrap();
    assert!(
        acme.comments[0]
            .0
            .contains("changes `lifetime.expires_at` in `demos/acme/sundown.yaml`"),
        "{acme:#?}"
    );
    let messages = inbox();
    assert_eq!(messages.len(), 3, "{messages:#?}");

    // An hour later, and a day later: no second reminder; then the two stacks reminded 25 h ago go.
    github.set_now("2026-12-05T11:00:00Z");
    let again = listing("2026-12-05T11:00:00Z");
    assert_eq!(again.code, 0, "{again:#?}");
    github.set_now("2026-12-06T11:00:00Z");
    let later = listing("2026-12-06T11:00:00Z");
    assert_eq!(later.code, 0, "{later:#?}");
    let doc = later.json();
    assert_eq!(in_matrix(&doc), ["demo-late", "pr-1841"]);
    assert!(
        github.issues().iter().all(|i| i.comments.len() == 1),
        "{:#?}",
        github.issues()
    );
    assert!(inbox().is_empty(), "a reminder was sent twice");

    // The matrix entry is what `teardown --expired` takes.
    let entry = doc["matrix"]["include"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["stack"] == "pr-1841")
        .unwrap()
        .clone();
    assert_eq!(entry["reminded_at"], "2026-12-05T10:00:00Z");
    // Every `${{ matrix.X }}` the expiry workflow reads is a field of each entry, a string.
    let workflow =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows/expiry.yml"))
            .unwrap();
    let used: std::collections::BTreeSet<&str> = workflow
        .split("{{ matrix.")
        .skip(1)
        .map(|rest| {
            rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(
        used.iter().copied().collect::<Vec<_>>(),
        ["account", "config", "issue", "region", "reminded_at", "stack"]
    );
    let issue = github
        .issues()
        .into_iter()
        .find(|i| i.title.contains("pr-1841"))
        .unwrap();
    assert_eq!(entry["issue"], issue.number, "the matrix names the stack's issue");
    for field in used {
        assert!(
            entry[field].is_string() || entry[field].is_u64(),
            "matrix.{field} is not in the entry: {entry:#}"
        );
    }
    let teardown = world
        .sundown()
        .config(&envs.join(entry["config"].as_str().unwrap()))
        .env("SUNDOWN_NOW", "2026-12-06T11:00:00Z")
        .args(&[
            "teardown",
            "--expired",
            "--reminded-at",
            entry["reminded_at"].as_str().unwrap(),
        ])
        .args(&[
            "--report",
            world.path("reports/pr-1841/sundown-teardown.json").to_str().unwrap(),
        ])
        .run();
    assert_eq!(teardown.code, 0, "{teardown:#?}");
    assert!(teardown.stderr.contains("set by commit"), "{}", teardown.stderr);
    let sm = aws_sdk_sagemaker::Client::new(&world.sdk().await);
    assert!(sm.list_endpoints().send().await.unwrap().endpoints().is_empty());

    // The roll-up: pr-1841 torn down, demo-late's job left no report (failed), demo-acme next.
    let listing = world.path("sundown-stacks.json");
    std::fs::write(&listing, &later.stdout).unwrap();
    let rollup = world
        .sundown()
        .args(&["rollup", "--listing", listing.to_str().unwrap(), "--reports"])
        .args(&[
            world.path("reports").to_str().unwrap(),
            "--sns-topic",
            &topic,
            "--output",
            "json",
        ])
        .run();
    assert_eq!(rollup.code, 1, "demo-late's job left no report: {rollup:#?}");
    let doc = rollup.json();
    let results: Vec<(String, String)> = doc["torn_down"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["stack"].as_str().unwrap().to_owned(),
                t["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("demo-late".to_owned(), "no report".to_owned()),
            ("pr-1841".to_owned(), "succeeded".to_owned())
        ]
    );
    assert_eq!(doc["next"][0]["stack"], "demo-acme");
    let messages = inbox();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert_eq!(messages[0]["Subject"], "sundown: expiry rollup failed");
    let body = messages[0]["Message"].as_str().unwrap();
    assert!(
        body.contains("`pr-1841`") && body.contains("its job left no report") && body.contains("`demo-acme`"),
        "{body}"
    );
}

/// The repository of the stacks' issues, and its token, in the expiry tests.
const REPOSITORY: &str = "acme/infra";
const TOKEN: &str = "ghs_expiry";

/// `envs/` committed as a reviewer's merge would leave it; returns its path.
fn committed(world: &World, message: &str) -> std::path::PathBuf {
    let envs = world.path("envs");
    git(&envs, &["init", "-q"]);
    git(&envs, &["add", "."]);
    git(&envs, &["commit", "-q", "-m", message]);
    envs
}

/// The expiry workflow's listing at `now`: `sundown stacks --remind` against the GitHub issues fake.
fn hourly(
    world: &World,
    github: &crate::github_fake::GithubIssues,
    now: &str,
    extra: &[&str],
) -> crate::support::Outcome {
    world
        .sundown()
        .env("SUNDOWN_NOW", now)
        .env("GITHUB_API_URL", &github.api_url())
        .env("GITHUB_REPOSITORY", REPOSITORY)
        .env("GITHUB_TOKEN", TOKEN)
        .args(&["stacks", "--root", "envs", "--remind", "--output", "json"])
        .args(extra)
        .run()
}

/// Credentials that act in `account` on the emulator: AssumeRole into a role of that account
/// (moto then keeps that account's resources apart), as the expiry workflow assumes the role
/// its `SUNDOWN_ACCOUNT_ROLES` names.
async fn account_credentials(world: &World, account: &str) -> Vec<(&'static str, String)> {
    let sts = aws_sdk_sts::Client::new(&world.sdk().await);
    let out = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/sundown-expiry"))
        .role_session_name("expiry")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    vec![
        ("AWS_ACCESS_KEY_ID", c.access_key_id().to_owned()),
        ("AWS_SECRET_ACCESS_KEY", c.secret_access_key().to_owned()),
        ("AWS_SESSION_TOKEN", c.session_token().to_owned()),
    ]
}

/// Two expired stacks in two accounts and one alive: each matrix job runs with
/// its own account's credentials and tears down only its own stack; run with
/// the other account's credentials, the account guard refuses it, touching nothing.
#[tokio::test(flavor = "multi_thread")]
async fn the_expiry_run_tears_down_each_stack_in_its_own_account() {
    let world = World::start();
    let (home, other) = ("123456789012", "222222222222");
    let creds = account_credentials(&world, other).await;
    let as_other: Vec<(&str, &str)> = creds.iter().map(|(k, v)| (*k, v.as_str())).collect();
    world.seed(&[
        "--sagemaker",
        r#"[{"endpoint": "pr-1841", "config": "pr-1841-config", "model": "pr-1841-model"}]"#,
    ]);
    world.seed_as(
        &as_other,
        &[
            "--sagemaker",
            r#"[{"endpoint": "acme-demo", "config": "acme-demo-config", "model": "acme-demo-model"}]"#,
        ],
    );
    let expired = "lifetime:\n  expires_at: 2026-12-05T08:00:00Z\n";
    write(&world, "previews/pr-1841", &stack("pr-1841", home, expired));
    write(&world, "demos/acme", &stack("acme-demo", other, expired));
    write(
        &world,
        "dev",
        &stack("retail-dev", home, "lifetime:\n  expires_at: 2027-01-31T18:00:00Z\n"),
    );
    let envs = committed(&world, "three stacks in two accounts");
    let github = crate::github_fake::GithubIssues::start(REPOSITORY, TOKEN, "2026-12-05T10:00:00Z").await;
    let listing = |now: &str| hourly(&world, &github, now, &[]);
    assert_eq!(listing("2026-12-05T10:00:00Z").code, 0);
    let later = listing("2026-12-06T11:00:00Z");
    assert_eq!(later.code, 0, "{later:#?}");
    let jobs = later.json()["matrix"]["include"].as_array().unwrap().clone();
    let accounts: Vec<(&str, &str)> = jobs
        .iter()
        .map(|j| (j["stack"].as_str().unwrap(), j["account"].as_str().unwrap()))
        .collect();
    assert_eq!(accounts, [("acme-demo", other), ("pr-1841", home)]);

    let teardown = |job: &Value, credentials: &[(&str, &str)]| {
        let mut run = world
            .sundown()
            .config(&envs.join(job["config"].as_str().unwrap()))
            .env("SUNDOWN_NOW", "2026-12-06T11:00:00Z");
        for (k, v) in credentials {
            run = run.env(k, v);
        }
        run.args(&[
            "teardown",
            "--expired",
            "--reminded-at",
            job["reminded_at"].as_str().unwrap(),
        ])
        .run()
    };
    let sm_home = aws_sdk_sagemaker::Client::new(&world.sdk().await);
    let endpoints = |out: aws_sdk_sagemaker::operation::list_endpoints::ListEndpointsOutput| -> Vec<String> {
        out.endpoints()
            .iter()
            .filter_map(|e| e.endpoint_name().map(str::to_owned))
            .collect()
    };
    // acme-demo's job run with the home account's credentials: refused by the account guard.
    let wrong = teardown(&jobs[0], &[]);
    assert_eq!(wrong.code, 2, "{wrong:#?}");
    assert!(
        wrong.stderr.contains(home) && wrong.stderr.contains("not"),
        "{}",
        wrong.stderr
    );
    assert_eq!(endpoints(sm_home.list_endpoints().send().await.unwrap()), ["pr-1841"]);

    // Each job with its own account's credentials.
    let out = teardown(&jobs[0], &as_other);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(
        endpoints(sm_home.list_endpoints().send().await.unwrap()),
        ["pr-1841"],
        "the other account's teardown touched this one"
    );
    let out = teardown(&jobs[1], &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(endpoints(sm_home.list_endpoints().send().await.unwrap()).is_empty());
    // The other account's world, read with its credentials, is empty too.
    let other_sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region("us-east-1")
        .endpoint_url(world.moto.endpoint())
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            creds[0].1.clone(),
            creds[1].1.clone(),
            Some(creds[2].1.clone()),
            None,
            "assumed",
        ))
        .load()
        .await;
    let sm_other = aws_sdk_sagemaker::Client::new(&other_sdk);
    assert!(endpoints(sm_other.list_endpoints().send().await.unwrap()).is_empty());
}

/// `--prices` prices each stack of the credentials' account as `sundown cost`
/// does, as $/day; a stack of another account stays unpriced, saying why.
#[test]
fn prices_are_the_cost_of_each_stack_of_the_credentials_account_per_day() {
    let world = World::start();
    world.seed(&[
        "--sagemaker",
        r#"[{"endpoint": "pr-1841", "config": "pr-1841-config", "model": "pr-1841-model"}]"#,
    ]);
    let expired = "lifetime:\n  expires_at: 2026-12-05T08:00:00Z\n";
    write(&world, "previews/pr-1841", &stack("pr-1841", "123456789012", expired));
    write(&world, "demos/acme", &stack("acme-demo", "222222222222", expired));
    let out = world
        .sundown()
        .args(&["stacks", "--root", "envs", "--prices", "--output", "json"])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    let doc = out.json();
    let (acme, pr) = (&doc["stacks"][0], &doc["stacks"][1]);
    let cost = world
        .sundown()
        .config(&world.path("envs/previews/pr-1841/sundown.yaml"))
        .args(&["cost", "--output", "json"])
        .run()
        .json();
    let per_month = cost["totals"]["running_usd_per_month"].as_f64().unwrap();
    assert!(per_month > 0.0, "{cost:#}");
    let per_day = pr["usd_per_day"].as_f64().unwrap();
    assert!(
        (per_day - per_month * 24.0 / 730.0).abs() < 0.01,
        "{per_day} against {per_month}/month"
    );
    assert_eq!(acme["usd_per_day"], Value::Null);
    assert!(
        acme["not_priced"]
            .as_str()
            .unwrap()
            .starts_with("in account 222222222222, not the credentials' (123456789012)"),
        "{acme:#}"
    );
}
