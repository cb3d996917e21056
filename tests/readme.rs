//! The README is the user's manual: these tests keep its tables true to the code.

use toolgate::policy::{IssueClass, IssueCode};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// Rows of the markdown table that follows `heading`.
fn table_after(text: &str, heading: &str) -> Vec<Vec<String>> {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("README lacks {heading:?}"));
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect()
}

#[test]
fn issue_table_lists_every_code_with_its_class_and_question() {
    let rows = table_after(&readme(), "### Issue codes");
    let codes: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    let want: Vec<&str> = IssueCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, want, "README issue table is out of date");
    for (row, code) in rows.iter().zip(IssueCode::ALL) {
        let class = match code.class() {
            IssueClass::Deny => "DENY",
            IssueClass::Defer => "DEFER",
        };
        assert_eq!(row[1], class, "{code}");
        let question = if code.default_question().is_empty() {
            "—"
        } else {
            code.default_question()
        };
        assert_eq!(row[3], question, "{code}");
    }
}

/// Leaf keys of a YAML mapping as dotted paths, with their values as text.
fn leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&path, v, out);
            }
        }
        serde_json::Value::String(s) => out.push((prefix.into(), s.clone())),
        other => out.push((prefix.into(), other.to_string())),
    }
}

#[test]
fn config_table_matches_the_shipped_config_file() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/toolgate.yaml");
    let shipped: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut keys = Vec::new();
    leaves("", &shipped, &mut keys);
    let rows = table_after(&readme(), "## Configuration");
    let documented: Vec<(String, String)> = rows
        .iter()
        .flat_map(|r| {
            r[0].split(", ")
                .map(|k| (k.trim_matches('`').to_string(), r[1].clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    for (key, value) in &keys {
        if key == "apiVersion" || key == "kind" {
            continue;
        }
        let row = documented.iter().find(|(k, _)| k == key);
        let (_, default) = row.unwrap_or_else(|| panic!("README does not document `{key}`"));
        // The shipped file spells out every default; `policies` is the one required key.
        if default != "required" {
            assert_eq!(default, value, "README default of `{key}`");
        }
    }
    // And every documented key is one the config accepts (commented keys included).
    let text = std::fs::read_to_string(path).unwrap();
    for (key, _) in &documented {
        let last = key.rsplit('.').next().unwrap();
        assert!(
            text.contains(&format!("{last}:")),
            "`{key}` is not in config/toolgate.yaml"
        );
    }
}
