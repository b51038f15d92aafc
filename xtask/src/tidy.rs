//! `cargo xtask tidy`: holds the house to the drawing in ARCHITECTURE.md.
//!
//! It reads `src/` as text (no build needed) and fails on
//! - an import (`crate::module`) that goes up a layer, or around a circle inside one;
//! - a mutating AWS call (`.delete_*(`, `.create_*(`, `.put_*(` …) outside the layers that may make one;
//! - a module that does not open with a `//!` line saying what it owns;
//! - a file over 600 lines of non-test code, or a function over 120 lines.
//!
//! `cargo xtask test` runs it first; its own test feeds it a fixture that breaks each rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Result, bail};

/// The layers, lowest first; each module may import only its own layer and those below.
/// A module is named by its path under `src/` (`phases`, `model`); the longest entry that
/// is a prefix of a module's path decides its layer.
pub const LAYERS: &[(&str, &[&str])] = &[
    (
        "base",
        &[
            "exit", "cancel", "clock", "order", "wait", "text", "markers", "config", "schema",
        ],
    ),
    ("clients", &["aws", "k8s", "terraform", "scope"]),
    ("model", &["model", "inventory", "report", "reviewed"]),
    ("discover", &["discover"]),
    ("analyses", &["cost", "checks", "verify", "iam", "sweep"]),
    ("gate", &["confirm"]),
    ("mutating", &["phases", "schedule"]),
    ("operations", &["plan", "teardown", "stacks", "rollup", "notify"]),
    ("faces", &["cli", "action", "lambda"]),
];

/// The layers whose code may call a mutating AWS API, and the operation that
/// publishes the outcome (an SNS message, a pull-request comment).
const MAY_MUTATE: &[&str] = &["mutating", "notify"];

/// Method-name beginnings of AWS SDK calls that change something.
const MUTATING_CALLS: &[&str] = &[
    "delete_",
    "create_",
    "update_",
    "tag_resource",
    "untag_resource",
    "add_tags",
    "batch_delete_image",
    "stop_",
    "put_",
    "start_",
];

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 120;

pub fn run() -> Result<()> {
    let src = crate::root().join("src");
    let files = read_tree(&src, &src)?;
    let problems = check(&files);
    if !problems.is_empty() {
        bail!(
            "tidy: {} problem(s) in src/:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    println!(
        "tidy: {} files in {} layers; imports go down, mutating calls stay in {}",
        files.len(),
        LAYERS.len(),
        MAY_MUTATE.join(" and ")
    );
    Ok(())
}

/// Every `.rs` file under `dir`, as (path relative to `src/`, text).
fn read_tree(src: &Path, dir: &Path) -> Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(read_tree(src, &path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(src)?.to_string_lossy().replace('\\', "/");
            files.push((relative, std::fs::read_to_string(&path)?));
        }
    }
    files.sort();
    Ok(files)
}

/// The module path of a file: `phases/mod.rs` → `phases`, `cost/prices.rs` → `cost::prices`.
fn module_of(file: &str) -> String {
    let path = file.trim_end_matches(".rs").trim_end_matches("/mod");
    path.replace('/', "::")
}

/// The layer of a module path, by the longest table entry that is a prefix of it.
fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, (_, modules))| modules.iter().map(move |m| (i, *m)))
        .filter(|(_, m)| module == *m || module.starts_with(&format!("{m}::")))
        .max_by_key(|(_, m)| m.len())
        .map(|(i, _)| i)
}

/// The code of a file without its test modules (a `#[cfg(test)]` item, to the
/// brace that closes it at its own indentation, as rustfmt writes it) and
/// without comments.
fn code_of(text: &str) -> Vec<(usize, &str)> {
    let mut lines = Vec::new();
    let mut skipping: Option<String> = None;
    let mut after_cfg_test = false;
    for (n, line) in text.lines().enumerate() {
        if let Some(close) = &skipping {
            if line.trim_end() == close {
                skipping = None;
            }
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            after_cfg_test = true;
            continue;
        }
        if after_cfg_test {
            after_cfg_test = false;
            if line.trim_end().ends_with('{') {
                let indent = &line[..line.len() - trimmed.len()];
                skipping = Some(format!("{indent}}}"));
            }
            continue;
        }
        let code = line.split("//").next().unwrap_or("");
        lines.push((n + 1, code));
    }
    lines
}

/// The top-level modules a file's code names through `crate::`, with the line of each.
fn imports(code: &[(usize, &str)]) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut in_group = false;
    for &(n, line) in code {
        let mut rest = line;
        if in_group {
            found.extend(group_members(rest).into_iter().map(|m| (n, m)));
            in_group = !rest.contains('}');
        }
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                found.extend(group_members(group).into_iter().map(|m| (n, m)));
                in_group = !group.contains('}');
            } else {
                let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    found.push((n, name));
                }
            }
            rest = after;
        }
    }
    found
}

/// `aws::{Aws, Identity}, config::Config}` → the first segment of each member at depth 0.
fn group_members(text: &str) -> Vec<String> {
    let mut members = Vec::new();
    let mut depth = 0;
    let mut start_of_member = true;
    for token in text.split_inclusive(|c: char| "{},".contains(c)) {
        if depth == 0 && start_of_member {
            let name: String = token
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != "self" {
                members.push(name);
            }
        }
        start_of_member = false;
        match token.chars().last() {
            Some('{') => depth += 1,
            Some('}') if depth == 0 => break,
            Some('}') => depth -= 1,
            Some(',') if depth == 0 => start_of_member = true,
            _ => {}
        }
    }
    members
}

/// Every rule, over files given as (path under `src/`, text).
pub fn check(files: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    // Edges between top-level modules of one layer, for the circle check.
    let mut same_layer: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in files {
        let module = module_of(file);
        if module == "lib" || module == "main" {
            continue;
        }
        if !text.trim_start().starts_with("//!") {
            problems.push(format!(
                "src/{file}: does not open with a `//!` line saying what it owns"
            ));
        }
        let Some(layer) = layer_of(&module) else {
            problems.push(format!(
                "src/{file}: module {module} is in no layer; add it to LAYERS in xtask/src/tidy.rs and to ARCHITECTURE.md"
            ));
            continue;
        };
        let code = code_of(text);
        let top = module.split("::").next().unwrap_or(&module).to_owned();
        for (line, target) in imports(&code) {
            match layer_of(&target) {
                Some(t) if t > layer => problems.push(format!(
                    "src/{file}:{line}: {} ({}) imports crate::{target} from the {} layer above it",
                    module, LAYERS[layer].0, LAYERS[t].0
                )),
                Some(t) if t == layer && target != top => {
                    same_layer.entry(top.clone()).or_default().insert(target);
                }
                _ => {}
            }
        }
        if !MAY_MUTATE.contains(&LAYERS[layer].0) && !MAY_MUTATE.contains(&top.as_str()) {
            for &(line, code) in &code {
                if let Some(call) = mutating_call(code) {
                    problems.push(format!(
                        "src/{file}:{line}: {module} ({}) calls .{call}(…), a mutating API; only {} may",
                        LAYERS[layer].0,
                        MAY_MUTATE.join(" and ")
                    ));
                }
            }
        }
        if code.len() > MAX_FILE_LINES {
            problems.push(format!(
                "src/{file}: {} lines of non-test code, over {MAX_FILE_LINES}; split it by concept",
                code.len()
            ));
        }
        for (line, name, length) in long_functions(&code) {
            problems.push(format!(
                "src/{file}:{line}: fn {name} is {length} lines, over {MAX_FN_LINES}; split it into named steps"
            ));
        }
    }
    for circle in circles(&same_layer) {
        problems.push(format!("imports go around a circle: {}", circle.join(" → ")));
    }
    problems
}

/// The first mutating SDK call on a line: `.name()` where name starts with one of
/// `MUTATING_CALLS` (the SDK's fluent builders take no arguments, which tells
/// `client.create_endpoint()` from `OpenOptions::create_new(true)`).
fn mutating_call(code: &str) -> Option<String> {
    code.match_indices('.').find_map(|(at, _)| {
        let name: String = code[at + 1..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let called = code[at + 1 + name.len()..].starts_with("()");
        (called && MUTATING_CALLS.iter().any(|m| name.starts_with(m))).then_some(name)
    })
}

/// Functions longer than the limit: (line, name, length), found by indentation
/// (rustfmt puts a function's closing brace at its own indentation).
fn long_functions(code: &[(usize, &str)]) -> Vec<(usize, String, usize)> {
    let mut long = Vec::new();
    for (i, &(line, text)) in code.iter().enumerate() {
        let trimmed = text.trim_start();
        let signature = ["pub(crate) ", "pub ", "async ", "const ", "unsafe "]
            .iter()
            .fold(trimmed, |t, p| t.strip_prefix(p).unwrap_or(t));
        let signature = signature.strip_prefix("async ").unwrap_or(signature);
        let Some(after) = signature.strip_prefix("fn ") else {
            continue;
        };
        let indent = &text[..text.len() - trimmed.len()];
        let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let close = format!("{indent}}}");
        if let Some(end) = code[i..].iter().position(|(_, t)| t.trim_end() == close)
            && end + 1 > MAX_FN_LINES
        {
            long.push((line, name, end + 1));
        }
    }
    long
}

/// Circles among modules of one layer, each as the path that closes it.
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_owned());
            found.push(circle);
            return;
        }
        if !done.insert(node.to_owned()) {
            return;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done, found);
        }
        path.pop();
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        visit(node, edges, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> (String, String) {
        (path.to_owned(), text.to_owned())
    }

    #[test]
    fn a_tidy_tree_passes_and_each_broken_rule_is_named() {
        let tidy = vec![
            file("text.rs", "//! Formatters.\npub fn money() {}\n"),
            file(
                "phases/ecr.rs",
                "//! Deletes images.\nuse crate::{text::money, model::{inventory::Kind, report}};\nfn go() { ecr.batch_delete_image().send(); }\n",
            ),
            file("model/mod.rs", "//! The documents.\npub mod report;\n"),
        ];
        assert_eq!(check(&tidy), Vec::<String>::new());

        let upward = [file("text.rs", "//! Formatters.\nuse crate::phases::ecr;\n")];
        assert_eq!(
            check(&upward),
            ["src/text.rs:2: text (base) imports crate::phases from the mutating layer above it"]
        );
        let grouped = [file(
            "aws.rs",
            "//! Clients.\nuse crate::{\n    config::Config,\n    plan::Plan,\n};\n",
        )];
        assert_eq!(
            check(&grouped),
            ["src/aws.rs:4: aws (clients) imports crate::plan from the operations layer above it"]
        );
        let circle = [
            file("cost/mod.rs", "//! Prices.\nuse crate::checks::x;\n"),
            file("checks/mod.rs", "//! Checks.\nuse crate::cost::y;\n"),
        ];
        assert_eq!(check(&circle), ["imports go around a circle: checks → cost → checks"]);
        let mutating = [file(
            "discover/sagemaker.rs",
            "//! Reads.\nasync fn f() { sm.delete_endpoint().send().await; }\n",
        )];
        assert_eq!(
            check(&mutating),
            [
                "src/discover/sagemaker.rs:2: discover::sagemaker (discover) calls .delete_endpoint(…), a mutating API; only mutating and notify may"
            ]
        );
        let unowned = [file("text.rs", "pub fn money() {}\n")];
        assert_eq!(
            check(&unowned),
            ["src/text.rs: does not open with a `//!` line saying what it owns"]
        );
        let long = format!("//! Long.\nfn long() {{\n{}}}\n", "    x();\n".repeat(MAX_FN_LINES));
        assert_eq!(
            check(&[file("text.rs", &long)]),
            [format!(
                "src/text.rs:2: fn long is {} lines, over {MAX_FN_LINES}; split it into named steps",
                MAX_FN_LINES + 2
            )]
        );
        let big = format!("//! Big.\n{}", "const X: u8 = 0;\n".repeat(MAX_FILE_LINES));
        assert_eq!(
            check(&[file("text.rs", &big)]),
            [format!(
                "src/text.rs: {} lines of non-test code, over {MAX_FILE_LINES}; split it by concept",
                MAX_FILE_LINES + 1
            )]
        );
        let nowhere = [file("misc.rs", "//! Odds and ends.\n")];
        assert_eq!(
            check(&nowhere),
            ["src/misc.rs: module misc is in no layer; add it to LAYERS in xtask/src/tidy.rs and to ARCHITECTURE.md"]
        );
        // Test modules are not held to the rules.
        let tests = [file(
            "text.rs",
            "//! Formatters.\n#[cfg(test)]\nmod tests { use crate::phases::ecr; }\n",
        )];
        assert_eq!(check(&tests), Vec::<String>::new());
    }
}
