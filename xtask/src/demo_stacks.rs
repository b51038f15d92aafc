//! `cargo xtask demo --stacks`: the expiry run on the emulator, across two
//! accounts. Three stacks (two expired, in two accounts; one alive) are
//! listed with `sundown stacks` at a set time (`SUNDOWN_NOW`); each expired
//! one is torn down with `teardown --expired`, in its own account
//! (AssumeRole, as the workflow assumes the role `SUNDOWN_ACCOUNT_ROLES`
//! names); `sundown rollup` sums the run up, and its SNS message is read
//! back. The reminders need GitHub, which is not here: the demo takes them as
//! sent a day earlier and says so.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::demo::with_emulator;
use crate::moto::{Moto, Tools};
use crate::tools;

const NOW: &str = "2026-12-06T11:00:00Z";
const REMINDED: &str = "2026-12-05T10:00:00Z";
const HOME: &str = "123456789012";
const OTHER: &str = "222222222222";

pub fn run() -> Result<()> {
    let tools = tools::ensure()?;
    let sundown = crate::build_debug()?;
    let work = crate::target_dir().join("sundown-demo-stacks");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    eprintln!("xtask demo --stacks: starting the emulator");
    let moto = Moto::start(&tools.moto_server(), Some(&work.join("moto.log"))).map_err(anyhow::Error::msg)?;
    let result = demo(&tools, &moto, &sundown, &work);
    moto.stop();
    result
}

fn demo(tools: &Tools, moto: &Moto, sundown: &Path, work: &Path) -> Result<()> {
    let other: Vec<(String, String)> = seed(tools, moto, &[], &["--assume", OTHER])?
        .as_object()
        .context("credentials")?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let home: Vec<(String, String)> = Vec::new();
    let inbox = seed(tools, moto, &home, &["--inbox"])?;
    let (topic, queue) = (
        inbox["inbox"]["topic_arn"].as_str().context("topic")?.to_owned(),
        inbox["inbox"]["queue_url"].as_str().context("queue")?.to_owned(),
    );
    let endpoint =
        |name: &str| format!(r#"[{{"endpoint": "{name}", "config": "{name}-config", "model": "{name}-model"}}]"#);
    seed(tools, moto, &home, &["--sagemaker", &endpoint("pr-1841")])?;
    seed(tools, moto, &other, &["--sagemaker", &endpoint("acme-demo")])?;

    let envs = work.join("envs");
    for (dir, stack, account, expires) in [
        ("previews/pr-1841", "pr-1841", HOME, "2026-12-05T20:00:00Z"),
        ("demos/acme", "acme-demo", OTHER, "2026-12-06T09:00:00Z"),
        ("dev", "retail-dev", HOME, "2027-01-31T18:00:00Z"),
    ] {
        std::fs::create_dir_all(envs.join(dir))?;
        std::fs::write(
            envs.join(dir).join("sundown.yaml"),
            format!(
                "stack: {stack}\nregion: us-east-1\naccounts: [\"{account}\"]\n\
                 sagemaker:\n  endpoint_prefix: {stack}\n  wait: 1m\nlifetime:\n  expires_at: {expires}\n"
            ),
        )?;
    }
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=Reviewer",
            "-c",
            "user.email=r@example.com",
            "commit",
            "-q",
            "-m",
            "three stacks",
        ],
    ] {
        crate::run_cmd(Command::new("git").current_dir(&envs).args(args))?;
    }

    eprintln!("\nxtask demo --stacks: sundown stacks, as of {NOW}");
    let listing = sundown_at(tools, moto, sundown, work, &home, &["stacks", "--root", "envs"])?;
    print!("{}", String::from_utf8_lossy(&listing.stdout));
    let listing = sundown_at(
        tools,
        moto,
        sundown,
        work,
        &home,
        &["stacks", "--root", "envs", "--output", "json"],
    )?;
    ensure!(listing.status.success(), "sundown stacks failed");
    std::fs::write(work.join("sundown-stacks.json"), &listing.stdout)?;
    let doc: Value = serde_json::from_slice(&listing.stdout)?;

    println!("\ndemo: the reminders need GitHub (the expiry workflow's first job); taken as sent at {REMINDED}");
    for job in doc["matrix"]["include"].as_array().into_iter().flatten() {
        let (stack, account) = (
            job["stack"].as_str().unwrap_or_default(),
            job["account"].as_str().unwrap_or_default(),
        );
        let creds = if account == OTHER { &other } else { &home };
        eprintln!("\nxtask demo --stacks: sundown teardown --expired of {stack}, with account {account}'s credentials");
        let report = work.join("reports").join(stack).join("sundown-teardown.json");
        let out = sundown_at(
            tools,
            moto,
            sundown,
            work,
            creds,
            &[
                "--config",
                envs.join(job["config"].as_str().unwrap_or_default())
                    .to_str()
                    .unwrap_or_default(),
                "teardown",
                "--expired",
                "--reminded-at",
                REMINDED,
                "--report",
                report.to_str().unwrap_or_default(),
            ],
        )?;
        let said = String::from_utf8_lossy(&out.stderr);
        if let Some(line) = said.lines().find(|l| l.contains("confirmed by its lifetime")) {
            println!("demo: {}", line.trim());
        }
        ensure!(out.status.success(), "the teardown of {stack} failed:\n{said}");
    }

    // Proven gone in each account: a plan, with that account's credentials, finds nothing to delete.
    for (config, creds) in [
        ("previews/pr-1841/sundown.yaml", &home),
        ("demos/acme/sundown.yaml", &other),
    ] {
        let config = envs.join(config);
        let out = sundown_at(
            tools,
            moto,
            sundown,
            work,
            creds,
            &[
                "--config",
                config.to_str().unwrap_or_default(),
                "plan",
                "--output",
                "json",
            ],
        )?;
        let plan: Value = serde_json::from_slice(&out.stdout).context("parsing the plan JSON")?;
        ensure!(
            plan["summary"]["delete"] == 0,
            "something of {} is left: {plan:#}",
            config.display()
        );
    }
    println!("\ndemo: a plan in each account finds nothing left of its expired stack");

    eprintln!("\nxtask demo --stacks: sundown rollup");
    let rollup = sundown_at(
        tools,
        moto,
        sundown,
        work,
        &home,
        &[
            "rollup",
            "--listing",
            "sundown-stacks.json",
            "--reports",
            "reports",
            "--sns-topic",
            &topic,
        ],
    )?;
    print!("{}", String::from_utf8_lossy(&rollup.stdout));
    ensure!(
        rollup.status.success(),
        "sundown rollup failed: {}",
        String::from_utf8_lossy(&rollup.stderr)
    );
    let messages = seed(tools, moto, &home, &["--receive", &queue])?;
    let subjects: Vec<&str> = messages
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["Subject"].as_str())
        .collect();
    ensure!(
        subjects == ["sundown: expiry rollup succeeded"],
        "the roll-up's SNS message: {subjects:?}"
    );
    println!("demo: one SNS message for the run: {:?}", subjects[0]);
    Ok(())
}

/// `sundown ARGS` at `NOW`, in the demo folder, with `credentials` over the emulator's.
fn sundown_at(
    tools: &Tools,
    moto: &Moto,
    sundown: &Path,
    work: &Path,
    credentials: &[(String, String)],
    args: &[&str],
) -> Result<std::process::Output> {
    let mut cmd = Command::new(sundown);
    with_emulator(&mut cmd, tools, moto)
        .current_dir(work)
        .env("SUNDOWN_NOW", NOW)
        .env("XDG_CACHE_HOME", work.join("cache"))
        .envs(credentials.iter().map(|(k, v)| (k, v)))
        .args(args);
    Ok(cmd.output()?)
}

/// seed.py with `args`, acting with `credentials` over the emulator's.
fn seed(tools: &Tools, moto: &Moto, credentials: &[(String, String)], args: &[&str]) -> Result<Value> {
    let mut cmd = Command::new(tools.python());
    cmd.arg(crate::root().join("tests/fixtures/seed.py")).args(args);
    let out = with_emulator(&mut cmd, tools, moto)
        .envs(credentials.iter().map(|(k, v)| (k, v)))
        .output()?;
    if !out.status.success() {
        bail!("seed.py {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}
