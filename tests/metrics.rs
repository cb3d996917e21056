//! The metrics registry as a scraper sees it: the encoded text is parsed by a strict parser
//! of the Prometheus text format 0.0.4 (below), and counters are read back from it.

use prometheus::Registry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use toolgate::metrics::{Metrics, UpstreamErrorKind};
use toolgate::policy::{IssueCode, IssueSet, Verdict};
use toolgate::snapshot::BundleMeta;

/// One parsed exposition: family name -> (help, type), and series -> value, where a series is
/// `name{sorted labels}`.
#[derive(Debug, Default)]
struct Exposition {
    families: BTreeMap<String, (Option<String>, Option<String>)>,
    series: BTreeMap<String, f64>,
}

impl Exposition {
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.series.get(&series_key(name, labels)).copied()
    }
    fn count(&self, name: &str) -> usize {
        self.series
            .keys()
            .filter(|k| k.split('{').next() == Some(name))
            .count()
    }
}

fn series_key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut l: Vec<_> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    l.sort();
    format!("{name}{{{}}}", l.join(","))
}

fn valid_name(s: &str, colon: bool) -> bool {
    let mut chars = s.chars();
    let first_ok = |c: char| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':');
    chars.next().is_some_and(first_ok) && chars.all(|c| first_ok(c) || c.is_ascii_digit())
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| format!("bad value {s:?}")),
    }
}

/// Parses `{a="x",b="y\"z"}` (the leading `{` already consumed); returns labels and rest.
type Labels = Vec<(String, String)>;

fn parse_labels(mut s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let eq = s.find('=').ok_or("label without '='")?;
        let name = &s[..eq];
        if !valid_name(name, false) {
            return Err(format!("bad label name {name:?}"));
        }
        s = s[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (_, c) => value.push(c),
            }
        };
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("duplicate label {name}"));
        }
        labels.push((name.to_string(), value));
        s = &s[end + 1..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

/// A strict parser: every sample must belong to a family announced by `# TYPE` earlier, with
/// a suffix its type allows; every family needs HELP and TYPE; no series may repeat.
fn parse(text: &str) -> Result<Exposition, String> {
    let mut exp = Exposition::default();
    for (n, line) in text.lines().enumerate() {
        let err = |m: String| format!("line {}: {m}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name, tail) = (parts.next(), parts.next(), parts.next());
            let name = name.ok_or_else(|| err("comment without name".into()))?;
            let fam = exp.families.entry(name.to_string()).or_default();
            match kw {
                Some("HELP") if fam.0.is_none() => fam.0 = Some(tail.unwrap_or("").into()),
                Some("TYPE") if fam.1.is_none() => {
                    let t = tail.ok_or_else(|| err("TYPE without type".into()))?;
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) {
                        return Err(err(format!("unknown type {t}")));
                    }
                    fam.1 = Some(t.into());
                }
                Some("HELP" | "TYPE") => return Err(err("repeated HELP/TYPE".into())),
                _ => {}
            }
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| err("no value".into()))?;
        let name = &line[..name_end];
        if !valid_name(name, true) {
            return Err(err(format!("bad metric name {name:?}")));
        }
        let (labels, rest) = match line[name_end..].strip_prefix('{') {
            Some(l) => parse_labels(l).map_err(err)?,
            None => (Vec::new(), &line[name_end..]),
        };
        let mut fields = rest.trim_start().split(' ');
        let value = parse_value(fields.next().unwrap_or("")).map_err(err)?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().map_err(|_| err("bad timestamp".into()))?;
        }
        let family = [
            ("_bucket", "histogram"),
            ("_sum", "histogram"),
            ("_count", "histogram"),
        ]
        .iter()
        .find_map(|(suffix, ty)| {
            let base = name.strip_suffix(suffix)?;
            let t = exp.families.get(base)?.1.as_deref()?;
            (t == *ty).then_some(base)
        })
        .unwrap_or(name);
        match exp.families.get(family) {
            Some((Some(_), Some(_))) => {}
            _ => return Err(err(format!("sample before HELP and TYPE of {family}"))),
        }
        let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (&**k, &**v)).collect();
        if exp.series.insert(series_key(name, &l), value).is_some() {
            return Err(err("duplicate series".into()));
        }
    }
    for (name, (help, ty)) in &exp.families {
        if help.is_none() || ty.is_none() {
            return Err(format!("family {name} lacks HELP or TYPE"));
        }
    }
    Ok(exp)
}

fn meta(name: &str, version: &str, digest: &str, secs: i64) -> BundleMeta {
    BundleMeta {
        name: name.into(),
        version: version.into(),
        policy_version: format!("{name}@{version}").into(),
        digest: digest.into(),
        dir: "/bundles/tools".into(),
        loaded_at: jiff::Timestamp::from_second(secs).unwrap(),
    }
}

fn routes(names: &[&str]) -> Vec<Arc<str>> {
    names.iter().map(|n| Arc::from(*n)).collect()
}

#[test]
fn the_parser_is_strict() {
    assert!(parse("# HELP a x\n# TYPE a counter\na 1\n").is_ok());
    assert!(parse("a 1\n").is_err(), "sample without HELP/TYPE");
    assert!(parse("# TYPE a counter\na 1\n").is_err(), "no HELP");
    assert!(parse("# HELP a x\n# TYPE a counter\na{b=\"1\"} 1\na{b=\"1\"} 2\n").is_err());
    assert!(parse("# HELP a x\n# TYPE a counter\na{b=1} 1\n").is_err());
    assert!(parse("# HELP a x\n# TYPE a counter\na one\n").is_err());
}

#[test]
fn counters_move_as_calls_are_made() {
    let registry = Registry::new();
    let m = Metrics::new(&registry, "1.2.3").unwrap();
    let table = m.for_routes(&routes(&["payout", "deploy"]));
    assert_eq!(table.len(), 2);

    let issues: IssueSet = [IssueCode::RoleNotAuthorized, IssueCode::ApprovalRequired]
        .into_iter()
        .collect();
    table.decided(Some(0), Verdict::Allow, false, IssueSet::EMPTY, 3e-6);
    table.decided(Some(0), Verdict::Allow, false, IssueSet::EMPTY, 3e-6);
    table.decided(Some(1), Verdict::Deny, false, issues, 2e-5);
    table.decided(
        None,
        Verdict::Deny,
        false,
        IssueSet::of(IssueCode::RouteNotMapped),
        1e-6,
    );
    table.decided(
        Some(1),
        Verdict::Defer,
        true,
        IssueSet::of(IssueCode::MfaRequired),
        1e-6,
    );
    table.upstream(Some(0), 0.042);
    table.upstream_error(Some(0), UpstreamErrorKind::Timeout);
    table.candidate_disagreement(Some(0), Verdict::Allow, Verdict::Defer);
    let guard = m.in_flight();
    let _second = m.in_flight();
    drop(guard);
    m.audit_dropped().inc();
    m.reload_failed();

    let e = parse(&m.encode()).unwrap();
    let d = "toolgate_decisions_total";
    assert_eq!(
        e.get(d, &[("route", "payout"), ("verdict", "allow")]),
        Some(2.0)
    );
    assert_eq!(
        e.get(d, &[("route", "payout"), ("verdict", "deny")]),
        Some(0.0)
    );
    assert_eq!(
        e.get(d, &[("route", "deploy"), ("verdict", "deny")]),
        Some(1.0)
    );
    assert_eq!(
        e.get(d, &[("route", "unmatched"), ("verdict", "deny")]),
        Some(1.0)
    );
    // A shadow decision counts only as shadow.
    assert_eq!(
        e.get(d, &[("route", "deploy"), ("verdict", "defer")]),
        Some(0.0)
    );
    let s = "toolgate_shadow_decisions_total";
    assert_eq!(
        e.get(s, &[("route", "deploy"), ("verdict", "defer")]),
        Some(1.0)
    );
    assert_eq!(e.count(s), 1, "shadow series are created on first use");

    let i = "toolgate_decision_issues_total";
    for (route, issue) in [
        ("deploy", "ROLE_NOT_AUTHORIZED"),
        ("deploy", "APPROVAL_REQUIRED"),
        ("deploy", "MFA_REQUIRED"),
        ("unmatched", "ROUTE_NOT_MAPPED"),
    ] {
        assert_eq!(
            e.get(i, &[("route", route), ("issue", issue)]),
            Some(1.0),
            "{issue}"
        );
    }
    assert_eq!(e.count(i), 4, "issue series are created on first use");

    assert_eq!(
        e.get("toolgate_decision_duration_seconds_count", &[]),
        Some(5.0)
    );
    let le = |b: &str| e.get("toolgate_decision_duration_seconds_bucket", &[("le", b)]);
    assert_eq!(le("0.000001"), Some(2.0));
    assert_eq!(le("0.000005"), Some(4.0));
    assert_eq!(le("+Inf"), Some(5.0));

    let up = &[("route", "payout")];
    assert_eq!(
        e.get("toolgate_upstream_duration_seconds_count", up),
        Some(1.0)
    );
    assert_eq!(
        e.get("toolgate_upstream_duration_seconds_sum", up),
        Some(0.042)
    );
    let ue = "toolgate_upstream_errors_total";
    assert_eq!(
        e.get(ue, &[("route", "payout"), ("kind", "timeout")]),
        Some(1.0)
    );
    assert_eq!(
        e.get(ue, &[("route", "payout"), ("kind", "reset")]),
        Some(0.0)
    );
    let cd = "toolgate_candidate_disagreements_total";
    let l = [
        ("route", "payout"),
        ("live", "allow"),
        ("candidate", "defer"),
    ];
    assert_eq!(e.get(cd, &l), Some(1.0));
    assert_eq!(e.get("toolgate_requests_in_flight", &[]), Some(1.0));
    assert_eq!(
        e.get("toolgate_audit_records_dropped_total", &[]),
        Some(1.0)
    );
    let r = "toolgate_bundle_reloads_total";
    assert_eq!(e.get(r, &[("result", "failure")]), Some(1.0));
    assert_eq!(e.get(r, &[("result", "success")]), Some(0.0));
    assert_eq!(
        e.get("toolgate_build_info", &[("version", "1.2.3")]),
        Some(1.0)
    );
}

#[test]
fn every_family_has_help_and_type() {
    let registry = Registry::new();
    let m = Metrics::new(&registry, "dev").unwrap();
    let table = m.for_routes(&routes(&["payout"]));
    // Touch the families that only show series once used.
    table.decided(
        Some(0),
        Verdict::Defer,
        true,
        IssueSet::of(IssueCode::MfaRequired),
        1e-6,
    );
    table.candidate_disagreement(Some(0), Verdict::Allow, Verdict::Deny);
    m.bundle_activated(&meta("tools", "1", "sha256:aa", 1_700_000_000));

    let e = parse(&m.encode()).unwrap();
    let expected: HashMap<&str, &str> = [
        ("toolgate_decisions_total", "counter"),
        ("toolgate_shadow_decisions_total", "counter"),
        ("toolgate_decision_issues_total", "counter"),
        ("toolgate_decision_duration_seconds", "histogram"),
        ("toolgate_upstream_duration_seconds", "histogram"),
        ("toolgate_upstream_errors_total", "counter"),
        ("toolgate_requests_in_flight", "gauge"),
        ("toolgate_bundle_reloads_total", "counter"),
        ("toolgate_bundle_info", "gauge"),
        (
            "toolgate_bundle_last_reload_success_timestamp_seconds",
            "gauge",
        ),
        ("toolgate_audit_records_dropped_total", "counter"),
        ("toolgate_build_info", "gauge"),
        ("toolgate_candidate_disagreements_total", "counter"),
    ]
    .into();
    let got: HashMap<&str, &str> = e
        .families
        .iter()
        .map(|(n, (_, t))| (n.as_str(), t.as_deref().unwrap()))
        .collect();
    assert_eq!(got, expected);
    for (name, (help, _)) in &e.families {
        assert!(
            help.as_ref().is_some_and(|h| h.len() > 10),
            "{name} needs real help text"
        );
    }
}

#[test]
fn bundle_info_has_one_series_after_two_activations() {
    let registry = Registry::new();
    let m = Metrics::new(&registry, "dev").unwrap();
    m.bundle_activated(&meta("tools", "1", "sha256:aa", 1_700_000_000));
    m.bundle_activated(&meta("tools", "2", "sha256:bb", 1_700_000_060));

    let e = parse(&m.encode()).unwrap();
    assert_eq!(e.count("toolgate_bundle_info"), 1);
    let info = [("name", "tools"), ("version", "2"), ("digest", "sha256:bb")];
    assert_eq!(e.get("toolgate_bundle_info", &info), Some(1.0));
    let r = "toolgate_bundle_reloads_total";
    assert_eq!(e.get(r, &[("result", "success")]), Some(2.0));
    let ts = "toolgate_bundle_last_reload_success_timestamp_seconds";
    assert_eq!(e.get(ts, &[]), Some(1_700_000_060.0));

    m.reload_unchanged(jiff::Timestamp::from_second(1_700_000_120).unwrap());
    let e = parse(&m.encode()).unwrap();
    assert_eq!(e.get(r, &[("result", "success")]), Some(3.0));
    assert_eq!(e.get(ts, &[]), Some(1_700_000_120.0));
    assert_eq!(e.count("toolgate_bundle_info"), 1);
}

#[test]
fn label_values_from_the_bundle_are_escaped() {
    let registry = Registry::new();
    let m = Metrics::new(&registry, "dev").unwrap();
    let table = m.for_routes(&routes(&["we\"ird\\route"]));
    table.decided(Some(0), Verdict::Allow, false, IssueSet::EMPTY, 1e-6);
    let e = parse(&m.encode()).unwrap();
    let l = [("route", "we\"ird\\route"), ("verdict", "allow")];
    assert_eq!(e.get("toolgate_decisions_total", &l), Some(1.0));
}

#[test]
fn one_registry_cannot_hold_two_metrics() {
    let registry = Registry::new();
    let _m = Metrics::new(&registry, "dev").unwrap();
    assert!(Metrics::new(&registry, "dev").is_err());
}
