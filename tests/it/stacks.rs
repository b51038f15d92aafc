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
