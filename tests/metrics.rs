//! The metrics registry as a scraper sees it: the encoded text is parsed by a strict parser
//! of the Prometheus text format 0.0.4 (`support/prom.rs`), and counters are read back from
//! it.

#[path = "support/prom.rs"]
mod prom;

use prom::parse;
use prometheus::Registry;
use std::collections::HashMap;
use std::sync::Arc;
use toolgate::metrics::{Metrics, UpstreamErrorKind};
use toolgate::policy::{IssueCode, IssueSet, Verdict};

/// Reports bundle `name@version` with `digest` as activated at Unix second `secs`.
fn activate(m: &Metrics, name: &str, version: &str, digest: &str, secs: i64) {
    m.bundle_activated(
        name,
        version,
        digest,
        jiff::Timestamp::from_second(secs).unwrap(),
    );
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
    let call = toolgate::metrics::mcp_method_label(false, Some("tools/call"));
    table.mcp(0, "payments-mcp", "create_payout", call, Verdict::Defer);
    activate(&m, "tools", "1", "sha256:aa", 1_700_000_000);

    let e = parse(&m.encode()).unwrap();
    let labels = [
        ("server", "payments-mcp"),
        ("method", "tools/call"),
        ("tool", "create_payout"),
        ("verdict", "defer"),
    ];
    assert_eq!(e.get("toolgate_mcp_messages_total", &labels), Some(1.0));
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
        ("toolgate_connection_errors_total", "counter"),
        ("toolgate_upstream_connections", "gauge"),
        ("toolgate_mcp_messages_total", "counter"),
        ("toolgate_state_up", "gauge"),
        ("toolgate_state_round_trip_seconds", "histogram"),
        ("toolgate_state_errors_total", "counter"),
        ("toolgate_state_checks_total", "counter"),
        ("toolgate_api_unauthorized_total", "counter"),
        ("toolgate_reviews_opened_total", "counter"),
        ("toolgate_review_decisions_total", "counter"),
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
    activate(&m, "tools", "1", "sha256:aa", 1_700_000_000);
    activate(&m, "tools", "2", "sha256:bb", 1_700_000_060);

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
