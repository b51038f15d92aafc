//! The JSON documents users and scripts read (`sundown.plan/v1`, `sundown.cost/v1`,
//! `sundown.verify/v1`, `sundown.report/v1`), held byte for byte against files in
//! `tests/it/snapshots/` on one seeded stack. What changes from run to run (times,
//! durations, the emulator's ports and temp dirs, ids moto draws at random) is
//! replaced by a placeholder first; everything else must match.
//!
//! A deliberate change of a document: run with `SUNDOWN_UPDATE_SNAPSHOTS=1` and
//! review the diff like code.

use std::path::Path;

use serde_json::Value;

use crate::support::World;

#[test]
fn the_documents_of_a_seeded_stack_keep_their_shape() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&[
        "--endpoints",
        "2",
        "--protected-endpoints",
        "1",
        "--extras",
        "--repo",
        "retail-forecast:3",
        "--repo",
        "mlops/retail-api:2:protected",
    ]);
    world.terraform(&["resources=3"]);
    let config = world.stack_config(
        "20s",
        "scope:\n  tags: { Project: retail-forecast }\n\
         verify:\n  buckets: [retail-forecast-data]\n  \
         log_group_prefixes: [/aws/retail-forecast, /aws/sagemaker]\n",
    );
    let run = |args: &[&str]| {
        let out = world.sundown().config(&config).args(args).run();
        (out.json(), out)
    };

    let plan = run(&["plan", "--output", "json"]);
    let cost = run(&["cost", "--offline", "--output", "json"]);
    // What users read in docs/cost.md is what the binary prints for this stack.
    let cost_text = world.sundown().config(&config).args(&["cost", "--offline"]).run();
    assert_eq!(cost_text.code, 0, "{cost_text:#?}");
    let verify = run(&["verify", "--output", "json"]);
    let (report, out) = run(&["teardown", "--confirm", "destroy", "--output", "json"]);
    // The extras (bucket, log groups, topic) stand for the rest of the stack, tagged with its
    // scope.tags but outside this test's Terraform module: the closing sweep names them, and fails the run.
    assert_eq!(out.code, 1, "the sweep finds the extras: {}", out.stderr);
    let after = run(&["verify", "--after-teardown", "--output", "json"]);

    let temp = world.dir.path().display().to_string();
    let mut failures = Vec::new();
    let real = [
        ("sundown.plan/v1", plan.0.clone()),
        ("sundown.report/v1", report.clone()),
    ];
    failures.extend(doc_samples_name_real_fields("docs/plan.md", &real).err());
    failures.extend(matches_doc_sample("docs/cost.md", "cost-table", &normalized_text(&cost_text.stdout, &temp)).err());
    for (name, (document, out)) in [
        ("plan", plan),
        ("cost", cost),
        ("verify", verify),
        ("report", (report, out)),
        ("verify-after-teardown", after),
    ] {
        let text = serde_json::to_string_pretty(&normalized(document, &temp)).unwrap() + "\n";
        let checks = [
            matches_snapshot(&format!("{name}.json"), &text),
            matches_snapshot(&format!("{name}.keys"), &key_orders(&out.stdout)),
        ];
        failures.extend(checks.into_iter().filter_map(Result::err));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The JSON samples in `doc` are condensed by hand (`"…": "…"` stands for the
/// rest), so they are held to the real documents by their shape: every key
/// path a sample shows (arrays looked into) is one the document of its
/// `schema` has on the seeded stack. A renamed or invented field fails.
fn doc_samples_name_real_fields(doc: &str, real: &[(&str, Value)]) -> Result<(), String> {
    fn paths(value: &Value, at: &str, out: &mut std::collections::BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map.iter().filter(|(k, _)| k.as_str() != "…") {
                    out.insert(format!("{at}.{k}"));
                    paths(v, &format!("{at}.{k}"), out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| paths(v, &format!("{at}[]"), out)),
            _ => {}
        }
    }
    let page = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
    let mut problems = Vec::new();
    for block in page.split("```json\n").skip(1) {
        let text = &block[..block.find("```").unwrap_or(block.len())];
        let sample: Value =
            serde_json::from_str(text).map_err(|e| format!("{doc}: a JSON sample does not parse: {e}"))?;
        let Some((schema, document)) = real.iter().find(|(schema, _)| sample["schema"] == *schema) else {
            continue;
        };
        let (mut shown, mut has) = (Default::default(), Default::default());
        paths(&sample, "", &mut shown);
        paths(document, "", &mut has);
        problems.extend(shown.difference(&has).map(|p| format!("{schema} sample shows {p}")));
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "{doc}: fields the documents do not have: {}",
            problems.join(", ")
        )),
    }
}

/// Compares the ```text block after `<!-- MARKER -->` in `doc` with `text`, or
/// writes it when asked to: the output samples in the docs are the binary's.
fn matches_doc_sample(doc: &str, marker: &str, text: &str) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(doc);
    let page = std::fs::read_to_string(&path).unwrap();
    let open = format!("<!-- {marker} -->");
    let at = page.find(&open).unwrap_or_else(|| panic!("{doc} has no {open}"));
    let start = at + page[at..].find("```text\n").expect("a ```text block after the marker") + "```text\n".len();
    let end = start + page[start..].find("```\n").expect("the block's end");
    if std::env::var_os("SUNDOWN_UPDATE_SNAPSHOTS").is_some() || std::env::var_os("SUNDOWN_UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{}{text}{}", &page[..start], &page[end..])).unwrap();
        return Ok(());
    }
    let want = &page[start..end];
    if want == text {
        return Ok(());
    }
    let first = want.lines().zip(text.lines()).position(|(a, b)| a != b).unwrap_or(0);
    Err(format!(
        "{doc}: the sample after {open} is not what the binary prints, at its line {}:\n  doc:    {}\n  binary: {}\n\
         (the samples are generated: run with SUNDOWN_UPDATE_DOCS=1 instead of editing them by hand)",
        first + 1,
        want.lines().nth(first).unwrap_or("<end>"),
        text.lines().nth(first).unwrap_or("<end>"),
    ))
}

/// Compares with `tests/it/snapshots/NAME`, or writes it when asked to.
fn matches_snapshot(name: &str, text: &str) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/it/snapshots/{name}"));
    if std::env::var_os("SUNDOWN_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return Ok(());
    }
    let want = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e}; run with SUNDOWN_UPDATE_SNAPSHOTS=1 to write it",
            path.display()
        )
    })?;
    if want == text {
        return Ok(());
    }
    let first = want
        .lines()
        .zip(text.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| want.lines().count().min(text.lines().count()));
    Err(format!(
        "{name}: the document differs from {} at line {}:\n  want: {}\n  got:  {}\n\
         (run with SUNDOWN_UPDATE_SNAPSHOTS=1 to accept a deliberate change)",
        path.display(),
        first + 1,
        want.lines().nth(first).unwrap_or("<end>"),
        text.lines().nth(first).unwrap_or("<end>"),
    ))
}

/// The document with what varies between runs replaced by placeholders.
fn normalized(value: Value, temp: &str) -> Value {
    match value {
        Value::String(s) => Value::String(normalized_text(&s, temp)),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| normalized(v, temp)).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let mut v = if VARYING.contains(&k.as_str()) && !v.is_null() {
                        Value::String(format!("<{k}>"))
                    } else {
                        normalized(v, temp)
                    };
                    // Deletions run side by side: the report lists them as they finish.
                    if let ("resources", Value::Array(items)) = (k.as_str(), &mut v) {
                        items.sort_by_key(|item| item.to_string());
                    }
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

/// Fields whose values vary by run: times, durations, random ids.
const VARYING: &[&str] = &[
    "created_at",
    "started_at",
    "digest",
    "duration_seconds",
    "start_seconds",
];

fn normalized_text(s: &str, temp: &str) -> String {
    let mut s = s.replace(temp, "<temp>");
    // The emulator's and the fake's loopback ports.
    while let Some(at) = s.find("127.0.0.1:") {
        let digits = s[at + 10..].chars().take_while(char::is_ascii_digit).count();
        s.replace_range(at..at + 10 + digits, "<loopback>");
    }
    // Times the emulator stamps (creation times in ids and details).
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some((before, _time, after)) = split_time(rest) {
        out.push_str(before);
        out.push_str("<time>");
        rest = after;
    }
    out.push_str(rest);
    // Ids Terraform's null provider draws at random.
    if out.len() >= 15 && out.bytes().all(|b| b.is_ascii_digit()) {
        return "<random id>".into();
    }
    out
}

/// The text before the first `YYYY-MM-DDTHH:MM:SS[.frac]Z`, the time, and the text after.
fn split_time(s: &str) -> Option<(&str, &str, &str)> {
    let bytes = s.as_bytes();
    let shape = |at: usize| {
        let want = b"dddd-dd-ddTdd:dd:dd";
        bytes.len() >= at + want.len()
            && want.iter().zip(&bytes[at..]).all(|(w, b)| match w {
                b'd' => b.is_ascii_digit(),
                w => w == b,
            })
    };
    let start = (0..bytes.len()).find(|&at| shape(at))?;
    let mut end = start + 19;
    if bytes.get(end) == Some(&b'.') {
        end += 1;
        while bytes.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
    }
    if bytes.get(end) == Some(&b'Z') {
        end += 1;
    }
    Some((&s[..start], &s[start..end], &s[end..]))
}

/// Each object's keys in the order the command printed them, one line per
/// distinct order: the field order of the documents, which the sorted JSON
/// snapshot cannot show.
fn key_orders(pretty: &str) -> String {
    let mut open: Vec<Vec<String>> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for line in pretty.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix('"')
            && let Some((key, _)) = rest.split_once("\": ")
            && let Some(top) = open.last_mut()
        {
            top.push(key.to_owned());
        }
        if line.ends_with('{') {
            open.push(Vec::new());
        }
        if line.starts_with('}') {
            seen.insert(open.pop().unwrap_or_default().join(", "));
        }
    }
    seen.into_iter().map(|keys| keys + "\n").collect()
}
