//! `docs/configuration.md` is made from this module's doc comments and
//! defaults, so the reference cannot drift from the code: the test below
//! renders it and compares. After changing a setting, regenerate it with
//! `BLESS=1 cargo test --lib config::doc`.

use serde_json::Value;

use super::Config;

/// A field as written in the source: name (or dotted key), type, doc comment.
type Field = (String, String, String);

/// Every setting: its dotted key, the Rust type as written, its doc comment.
fn settings(source: &str) -> Vec<Field> {
    // Struct name → its fields in source order.
    let mut structs: Vec<(String, Vec<Field>)> = Vec::new();
    let mut doc = Vec::new();
    for line in source.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("pub struct ").and_then(|l| l.strip_suffix(" {")) {
            structs.push((name.to_string(), Vec::new()));
            doc.clear();
        } else if let Some(text) = line.strip_prefix("///") {
            doc.push(text.trim().to_string());
        } else if let (Some(field), Some((_, fields))) = (line.strip_prefix("pub "), structs.last_mut()) {
            if let Some((name, ty)) = field.split_once(": ") {
                fields.push((name.to_string(), ty.trim_end_matches(',').to_string(), doc.join(" ")));
            }
            doc.clear();
        } else if !line.starts_with("#[") {
            doc.clear();
        }
    }
    let fields_of = |name: &str| structs.iter().find(|(n, _)| n == name).map(|(_, f)| f.clone()).unwrap_or_default();
    let mut out = Vec::new();
    for (field, ty, doc) in fields_of("Config") {
        if ty.ends_with("Config") {
            for (inner, ty, doc) in fields_of(&ty) {
                out.push((format!("{field}.{inner}"), ty, doc));
            }
        } else {
            out.push((field, ty, doc));
        }
    }
    out
}

/// A default as a reader writes it in `herald.toml`.
fn shown(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "unset".into(),
        Some(Value::String(s)) => format!("`{s}`"),
        Some(other) => format!("`{other}`"),
    }
}

fn render() -> String {
    let defaults = serde_json::to_value(Config::default()).unwrap_or(Value::Null);
    let mut out = String::from(
        "# Configuration\n\n\
         Every setting, generated from the doc comments and defaults in `src/config.rs` \
         (a test keeps this file and the code in step). Sources, later ones winning: built-in defaults < \
         `herald.toml` (`--config PATH`, else `<data_dir>/herald.toml` if present) < `HERALD_*` environment \
         variables (nested keys with `__`) < command-line flags (`--config`, `--data-dir`, `--listen`, \
         `--database-url`). `herald config` prints the effective configuration with secrets redacted; a bad \
         value stops herald with an error naming the key (exit code 2).\n\n\
         | key | environment variable | default | meaning |\n|---|---|---|---|\n",
    );
    for (key, _, doc) in settings(include_str!("../config.rs")) {
        let env = format!("HERALD_{}", key.to_uppercase().replace('.', "__"));
        let default = shown(key.split('.').try_fold(&defaults, |v, k| v.get(k)));
        let doc = doc.replace('|', "\\|");
        out.push_str(&format!("| `{key}` | `{env}` | {default} | {doc} |\n"));
    }
    out
}

#[test]
fn the_configuration_reference_is_generated_from_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
    let expected = render();
    if std::env::var("BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(path, &expected).expect("write docs/configuration.md");
    }
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/configuration.md is not what src/config.rs says; regenerate it with \
         `BLESS=1 cargo test --lib config::doc`\n--- expected ---\n{expected}"
    );
}

#[test]
fn every_setting_has_a_doc_comment_and_a_default_entry() {
    let defaults = serde_json::to_value(Config::default()).unwrap_or(Value::Null);
    let all = settings(include_str!("../config.rs"));
    assert!(all.len() > 40, "{all:?}");
    for (key, _, doc) in all {
        assert!(!doc.is_empty(), "{key} has no doc comment");
        let present = key.split('.').try_fold(&defaults, |v, k| v.get(k)).is_some();
        assert!(present, "{key} is not a key of the serialized configuration");
    }
}
