//! `deploy/prometheus` and `deploy/grafana` against the metrics the binary really exports:
//! every metric an alert or a panel queries is in a real `Metrics::encode()` output (with
//! every family made to show up), every label it filters or groups by is one that metric
//! has, and closed-set label values (`verdict="deny"`) are values toolgate writes.
//! `promtool check rules` and `promtool test rules` run in an ignored test (`.ci/run` runs it).

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use toolgate::metrics::{Metrics, UpstreamErrorKind};
use toolgate::policy::{IssueCode, IssueSet, Verdict};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Labels a scrape adds (Kubernetes service discovery, the target), and a histogram's `le`.
const TARGET_LABELS: &[&str] = &["job", "instance", "namespace", "pod", "container", "le"];
/// Labels whose values toolgate takes from closed enums: a matcher must use those values.
const CLOSED: &[&str] = &["verdict", "result", "kind"];

/// family name -> label name -> values seen.
type Families = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// The exported families, each made to have at least one series.
fn exported() -> Families {
    let m = Metrics::new(&prometheus::Registry::new(), "test").unwrap();
    let table = m.for_routes(&[Arc::from("payouts-create")]);
    let issues = IssueSet::of(IssueCode::ApprovalRequired);
    table.decided(Some(0), Verdict::Defer, false, issues, 1e-5);
    table.decided(Some(0), Verdict::Deny, true, issues, 1e-5);
    table.candidate_disagreement(Some(0), Verdict::Allow, Verdict::Deny);
    table.upstream(Some(0), 0.01);
    table.upstream_error(Some(0), UpstreamErrorKind::Timeout);
    let snapshot =
        toolgate::bundle::load(&root().join("policies/tools"), jiff::Timestamp::now()).unwrap();
    let meta = &snapshot.meta;
    m.bundle_activated(&meta.name, &meta.version, &meta.digest, meta.loaded_at);
    m.reload_failed();
    m.audit_dropped().inc();
    let _in_flight = m.in_flight();

    let text = m.encode();
    let mut families = Families::new();
    let mut histograms = BTreeSet::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            let (name, kind) = t.split_once(' ').unwrap();
            families.entry(name.to_owned()).or_default();
            if kind == "histogram" {
                histograms.insert(name.to_owned());
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap();
        let mut family = &line[..name_end];
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = family.strip_suffix(suffix) {
                if histograms.contains(base) {
                    family = base;
                }
            }
        }
        let labels = families.get_mut(family).unwrap();
        if let Some(inner) = line[name_end..].strip_prefix('{') {
            for pair in inner[..inner.find('}').unwrap()].split("\",") {
                let (k, v) = pair.split_once("=\"").unwrap();
                let v = v.trim_end_matches('"');
                labels.entry(k.to_owned()).or_default().insert(v.to_owned());
            }
        }
    }
    // Histogram series: the queried names carry the suffixes.
    for h in histograms {
        let labels = families[&h].clone();
        for suffix in ["_bucket", "_sum", "_count"] {
            families.insert(format!("{h}{suffix}"), labels.clone());
        }
    }
    families
}

/// `label`, `op`, `"value"` of one label matcher.
type Matcher = (String, String, String);
/// A metric name and its matchers.
type Selector = (String, Vec<Matcher>);

/// A PromQL expression's selectors, and the labels of its `by`/`without`/`on`/`ignoring`.
fn parse(expr: &str) -> (Vec<Selector>, Vec<String>) {
    let bytes = expr.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let (mut selectors, mut grouping) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < bytes.len() {
        if !ident(bytes[i]) || (i > 0 && ident(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && ident(bytes[i]) {
            i += 1;
        }
        let word = &expr[start..i];
        let rest = expr[i..].trim_start();
        if word.starts_with("toolgate_") {
            let mut matchers = Vec::new();
            if let Some(inner) = rest.strip_prefix('{') {
                let inner = &inner[..inner.find('}').unwrap()];
                for m in inner.split(',').filter(|m| !m.trim().is_empty()) {
                    let op_at = m.find(['=', '!']).unwrap();
                    let op_end = op_at + m[op_at..].find('"').unwrap();
                    matchers.push((
                        m[..op_at].trim().to_owned(),
                        m[op_at..op_end].trim().to_owned(),
                        m[op_end..].trim().trim_matches('"').to_owned(),
                    ));
                }
            }
            selectors.push((word.to_owned(), matchers));
        } else if matches!(word, "by" | "without" | "ignoring" | "on") && rest.starts_with('(') {
            let inner = &rest[1..rest.find(')').unwrap()];
            grouping.extend(inner.split(',').map(|l| l.trim().to_owned()));
        }
    }
    (selectors, grouping)
}

/// Checks one expression against the exported families; returns the metrics it uses.
fn check_expr(where_: &str, expr: &str, families: &Families) -> Vec<String> {
    let (selectors, grouping) = parse(expr);
    assert!(
        !selectors.is_empty(),
        "{where_}: queries no toolgate metric: {expr}"
    );
    let mut labels_in_scope: BTreeSet<&str> = TARGET_LABELS.iter().copied().collect();
    for (metric, matchers) in &selectors {
        let labels = families
            .get(metric)
            .unwrap_or_else(|| panic!("{where_}: {metric} is not a metric toolgate exports"));
        labels_in_scope.extend(labels.keys().map(String::as_str));
        for (label, op, value) in matchers {
            if TARGET_LABELS.contains(&label.as_str()) {
                continue;
            }
            let values = labels
                .get(label)
                .unwrap_or_else(|| panic!("{where_}: {metric} has no label {label}"));
            if CLOSED.contains(&label.as_str()) && (op == "=" || op == "=~") {
                for v in value.split('|') {
                    assert!(
                        values.contains(v),
                        "{where_}: {label}={v:?}; toolgate writes {values:?}"
                    );
                }
            }
        }
    }
    for g in grouping.iter().filter(|g| !g.is_empty()) {
        assert!(
            labels_in_scope.contains(g.as_str()),
            "{where_}: no metric here has label {g}"
        );
    }
    selectors.into_iter().map(|(m, _)| m).collect()
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn alert_rules_query_exported_metrics_and_cover_the_issue() {
    let families = exported();
    let rules = yaml("deploy/prometheus/toolgate-alerts.yaml");
    let mut used = BTreeSet::new();
    let mut names = Vec::new();
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let name = rule["alert"].as_str().expect("alerting rules only");
            assert!(name.starts_with("Toolgate"), "{name}");
            let severity = rule["labels"]["severity"].as_str().unwrap();
            assert!(
                ["info", "warning", "critical"].contains(&severity),
                "{name}"
            );
            for a in ["summary", "description"] {
                assert!(
                    rule["annotations"][a].is_string(),
                    "{name}: annotations.{a}"
                );
            }
            let expr = rule["expr"].as_str().unwrap();
            for m in check_expr(name, expr, &families) {
                used.insert(m);
            }
            names.push(name.to_owned());
        }
    }
    let want = [
        "ToolgateBundleReloadFailing",
        "ToolgateBundleStale",
        "ToolgateDenyRateSpike",
        "ToolgateDeferRateSpike",
        "ToolgateUpstreamErrors",
        "ToolgateAuditRecordsDropped",
    ];
    for w in want {
        assert!(names.iter().any(|n| n == w), "missing alert {w}");
    }
    for m in [
        "toolgate_bundle_reloads_total",
        "toolgate_bundle_last_reload_success_timestamp_seconds",
        "toolgate_decisions_total",
        "toolgate_upstream_errors_total",
        "toolgate_audit_records_dropped_total",
    ] {
        assert!(used.contains(m), "no alert on {m}");
    }
}

/// promtool checks the alert rules and runs their unit tests, exactly as the README says.
/// It needs promtool (Debian's `prometheus` package): `.ci/run` installs it and runs the
/// ignored tests; without it this test fails, it does not pass unchecked.
#[test]
#[ignore = "needs promtool (Debian package prometheus); .ci/run installs it and runs ignored tests"]
fn promtool_accepts_the_rules_and_their_tests() {
    for args in [
        ["check", "rules", "deploy/prometheus/toolgate-alerts.yaml"],
        [
            "test",
            "rules",
            "deploy/prometheus/toolgate-alerts.test.yaml",
        ],
    ] {
        let out = std::process::Command::new("promtool")
            .args(args)
            .current_dir(root())
            .output()
            .unwrap_or_else(|e| panic!("promtool {args:?}: {e} (install Debian's prometheus)"));
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every panel, rows' nested panels included.
fn panels(v: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in v["panels"].as_array().into_iter().flatten() {
        out.push(p);
        out.extend(panels(p));
    }
    out
}

#[test]
fn dashboard_queries_exported_metrics_and_shows_what_the_issue_asks() {
    let families = exported();
    let text = std::fs::read_to_string(root().join("deploy/grafana/toolgate.json")).unwrap();
    let dash: Value = serde_json::from_str(&text).unwrap();
    let vars: Vec<&str> = dash["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(vars.contains(&"datasource"), "{vars:?}");
    let mut ids = BTreeSet::new();
    let mut used = BTreeSet::new();
    for p in panels(&dash) {
        let title = p["title"].as_str().unwrap();
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "{title}: duplicate id"
        );
        let g = &p["gridPos"];
        assert!(
            g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
            "{title}"
        );
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            used.extend(check_expr(title, expr, &families));
        }
    }
    for m in [
        "toolgate_decisions_total",
        "toolgate_decision_issues_total",
        "toolgate_decision_duration_seconds_bucket",
        "toolgate_upstream_duration_seconds_bucket",
        "toolgate_bundle_reloads_total",
        "toolgate_requests_in_flight",
    ] {
        assert!(used.contains(m), "no panel shows {m}");
    }
}

#[test]
fn the_checker_catches_what_it_should() {
    let families = exported();
    let wrong = [
        "rate(toolgate_decisions_totl[5m])",
        "rate(toolgate_decisions_total{verdict=\"DENY\"}[5m])",
        "rate(toolgate_decisions_total{path=\"/x\"}[5m])",
        "sum by (issue) (rate(toolgate_decisions_total[5m]))",
    ];
    for expr in wrong {
        let caught = std::panic::catch_unwind(|| check_expr("t", expr, &families)).is_err();
        assert!(caught, "accepted: {expr}");
    }
}
