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
