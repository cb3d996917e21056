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

#[test]
fn metrics_table_lists_every_family_with_its_type() {
    use toolgate::metrics::{Metrics, UpstreamErrorKind};
    use toolgate::policy::{IssueSet, Verdict};
    let m = Metrics::new(&prometheus::Registry::new(), "test").unwrap();
    // Touch the lazily created series, so every family is exported.
    let t = m.for_routes(&[std::sync::Arc::from("r")]);
    t.decided(
        Some(0),
        Verdict::Deny,
        true,
        IssueSet::of(IssueCode::AmountMissing),
        1e-6,
    );
    t.decided(Some(0), Verdict::Deny, false, IssueSet::EMPTY, 1e-6);
    t.candidate_disagreement(Some(0), Verdict::Allow, Verdict::Deny);
    t.upstream_error(Some(0), UpstreamErrorKind::Reset);
    m.bundle_activated(&toolgate::snapshot::BundleMeta {
        name: "b".into(),
        version: "1".into(),
        policy_version: "b@1".into(),
        digest: "sha256:0".into(),
        dir: "/b".into(),
        loaded_at: jiff::Timestamp::UNIX_EPOCH,
    });
    let exported: std::collections::BTreeSet<(String, String)> = m
        .encode()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, ty) = l.split_once(' ').unwrap();
            (name.to_owned(), ty.to_owned())
        })
        .collect();
    let documented: std::collections::BTreeSet<(String, String)> =
        table_after(&readme(), "## Metrics")
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect();
    assert_eq!(documented, exported, "README metrics table is out of date");
}

#[test]
fn the_audit_record_example_has_every_field() {
    use toolgate::audit::AuditRecord;
    use toolgate::policy::Verdict;
    let text = readme();
    let start = text
        .find("### Audit record")
        .expect("README lacks the audit example");
    let block = text[start..].split("```json").nth(1).unwrap();
    let example: serde_json::Value =
        serde_json::from_str(block.split("```").next().unwrap()).expect("the example is JSON");
    let rec = AuditRecord::new(
        jiff::Timestamp::UNIX_EPOCH,
        "id".into(),
        http::Method::GET,
        "/".into(),
        "b@1".into(),
        Verdict::Allow,
    );
    let real = serde_json::to_value(rec).unwrap();
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&example),
        keys(&real),
        "README audit example is out of date"
    );
}
