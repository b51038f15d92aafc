//! The JSON Schema of `sundown.yaml` and `docs/configuration.md`, both
//! generated from the config types in `config`, so that editors, the
//! published schema and the reference agree with what the parser accepts.
//! Pure functions: the tests compare their output with the files in the
//! repository (and rewrite them with `SUNDOWN_UPDATE_DOCS=1`).

use std::fmt::Write as _;

use serde_json::Value;

use crate::config::Config;

/// Where the schema is published, relative to the repository root.
pub const SCHEMA_FILE: &str = "sundown.schema.json";
/// Where the reference is published, relative to the repository root.
pub const REFERENCE_FILE: &str = "docs/configuration.md";

/// The JSON Schema (draft 2020-12) of `sundown.yaml`, pretty-printed with a final newline.
pub fn json_schema() -> String {
    let mut schema = serde_json::to_value(schemars::schema_for!(Config)).expect("a schema serializes");
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "$id".into(),
            "https://raw.githubusercontent.com/sundown-dev/sundown/main/sundown.schema.json".into(),
        );
        object.insert("title".into(), "sundown.yaml".into());
    }
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}

/// `docs/configuration.md`: every key with its type, default and description,
/// section by section, then the annotated example file.
pub fn reference(example_yaml: &str) -> String {
    let schema: Value = serde_json::from_str(&json_schema()).expect("the schema parses");
    let defs = &schema["$defs"];
    let mut out = String::from(
        "# Configuration: `sundown.yaml`\n\n\
         <!-- Generated from the config types (src/config/) by src/schema.rs; do not edit.\n     \
         Regenerate: SUNDOWN_UPDATE_DOCS=1 cargo test -p sundown schema:: -->\n\n\
         One file configures every command. Unknown keys are errors (with the file, line and key), so a typo never \
         silently turns a phase off. A missing section means that phase is skipped and reported as \"not configured\".\n\n\
         Editors validate it with the JSON Schema [`sundown.schema.json`](../sundown.schema.json): the example file's \
         first line, `# yaml-language-server: $schema=./sundown.schema.json`, is what the YAML language server \
         (VS Code's YAML extension, Neovim, JetBrains) reads.\n\n\
         Durations are written like `90s`, `10m` or `1h30m`.\n\n",
    );
    section(&mut out, "Top level", "", &schema, defs);
    let Some(properties) = schema["properties"].as_object() else {
        return out;
    };
    for (key, property) in properties {
        if let Some(def) = reference_target(property).and_then(|name| defs.get(name)) {
            section(&mut out, &format!("`{key}`"), &format!("{key}."), def, defs);
        }
    }
    out.push_str("## Example: `sundown.example.yaml`\n\nEvery key with its default, commented.\n\n```yaml\n");
    out.push_str(example_yaml);
    if !example_yaml.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("```\n");
    out
}

fn section(out: &mut String, title: &str, prefix: &str, def: &Value, defs: &Value) {
    let _ = writeln!(out, "## {title}\n");
    if let Some(description) = def["description"].as_str() {
        let _ = writeln!(out, "{}\n", one_line(description));
    }
    let required: Vec<&str> = def["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let _ = writeln!(out, "| Key | Type | Default | Description |\n|---|---|---|---|");
    if let Some(properties) = def["properties"].as_object() {
        for (key, property) in properties {
            let default = match property.get("default") {
                Some(Value::Object(keys)) if keys.len() > 2 => "each key's, below".into(),
                Some(value) => format!("`{value}`"),
                None if required.contains(&key.as_str()) => "required".into(),
                None => "none".into(),
            };
            let description = property["description"]
                .as_str()
                .or_else(|| reference_target(property).and_then(|name| defs[name]["description"].as_str()))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| `{prefix}{key}` | {} | {default} | {} |",
                type_name(property, defs),
                one_line(description).replace('|', "\\|")
            );
        }
    }
    out.push('\n');
}

/// The `$defs` name a property refers to, directly or as `anyOf [ref, null]`.
fn reference_target(property: &Value) -> Option<&str> {
    if let Some(r) = property["$ref"].as_str() {
        return r.strip_prefix("#/$defs/");
    }
    property["anyOf"]
        .as_array()?
        .iter()
        .find_map(|v| v["$ref"].as_str()?.strip_prefix("#/$defs/"))
}

fn type_name(property: &Value, defs: &Value) -> String {
    if let Some(name) = reference_target(property) {
        let def = &defs[name];
        if let Some(values) = def["oneOf"].as_array().or_else(|| def["enum"].as_array()) {
            let names: Vec<String> = values
                .iter()
                .filter_map(|v| {
                    v["const"]
                        .as_str()
                        .or_else(|| v["enum"][0].as_str())
                        .or_else(|| v.as_str())
                })
                .map(|v| format!("`{v}`"))
                .collect();
            return names.join(" \\| ");
        }
        return "mapping".into();
    }
    let kind = match &property["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ => String::new(),
    };
    match kind.as_str() {
        "array" => format!("list of {}", type_name(&property["items"], defs)),
        "object" => "mapping of string to string".into(),
        "" => "any".into(),
        other => other.into(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published file must equal what the code generates; `SUNDOWN_UPDATE_DOCS=1` rewrites it.
    fn published(relative: &str, generated: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
        if std::env::var_os("SUNDOWN_UPDATE_DOCS").is_some() {
            std::fs::write(&path, generated).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "{relative} differs from what the config types generate; run `SUNDOWN_UPDATE_DOCS=1 cargo test -p sundown schema::` and commit it"
        );
    }

    fn example() -> String {
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sundown.example.yaml")).unwrap()
    }

    #[test]
    fn the_published_schema_is_the_codes() {
        published(SCHEMA_FILE, &json_schema());
    }

    #[test]
    fn the_configuration_reference_is_the_codes() {
        published(REFERENCE_FILE, &reference(&example()));
    }

    #[test]
    fn the_example_names_the_schema_and_every_top_level_key() {
        let example = example();
        assert!(example.starts_with("# yaml-language-server: $schema=./sundown.schema.json\n"));
        let schema: Value = serde_json::from_str(&json_schema()).unwrap();
        for key in schema["properties"].as_object().unwrap().keys() {
            assert!(
                example.lines().any(|l| l.starts_with(&format!("{key}:"))),
                "example lacks {key}"
            );
        }
    }
}
