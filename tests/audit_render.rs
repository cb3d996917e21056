//! `AuditRecord::render` writes exactly what `serde_json::to_vec(&record)` writes, byte for
//! byte: for generated records (hostile strings, every option both ways, every enum variant,
//! awkward floats) and for a few records written out by hand.

use http::Method;
use jiff::Timestamp;
use proptest::prelude::*;
use proptest::sample::select;
use std::sync::Arc;
use toolgate::audit::{AuditRecord, CandidateVerdict, FinalAction, StateAction};
use toolgate::policy::{DecisionKind, IssueCode, IssueSet, Verdict};
use toolgate::snapshot::Mode;

fn rendered(rec: &AuditRecord) -> String {
    let mut out = b"prefix:".to_vec();
    rec.render(&mut out);
    let line = String::from_utf8(out).expect("render writes UTF-8");
    line.strip_prefix("prefix:")
        .expect("render appends")
        .to_owned()
}

fn serde(rec: &AuditRecord) -> String {
    String::from_utf8(serde_json::to_vec(rec).expect("serializable")).expect("UTF-8")
}

fn assert_same(rec: &AuditRecord) {
    assert_eq!(rendered(rec), serde(rec), "{rec:#?}");
}

// ---- strategies ----

/// Strings with everything JSON escaping cares about: quotes, backslashes, every control
/// byte, DEL, non-ASCII, emoji, and text that looks like an escape already.
fn text() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        select(vec![
            "\"", "\\", "/", "\u{7f}", "é", "中", "😀", "\u{2028}", "\u{feff}", "\\u0041", "\\n",
            "\\x", "\\u", "\\ud800", "%22", "'", " ", "a", "Z", "0",
        ])
        .prop_map(str::to_owned),
        (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap().to_string()),
        "[a-zA-Z0-9_./:@-]{1,12}",
        any::<char>().prop_map(String::from),
    ];
    prop_oneof![
        proptest::collection::vec(atom, 0..12).prop_map(|v| v.concat()),
        any::<String>(),
        "[a-z0-9_./-]{0,40}",
    ]
}

fn opt_text() -> impl Strategy<Value = Option<Arc<str>>> {
    proptest::option::of(text().prop_map(Arc::from))
}

fn labels() -> impl Strategy<Value = Arc<[Box<str>]>> {
    proptest::collection::vec(text().prop_map(Box::from), 0..4).prop_map(Arc::from)
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    let (min, max) = (Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    let nanos = prop_oneof![
        Just(0),
        (0i32..1000).prop_map(|ms| ms * 1_000_000),
        (0i32..1_000_000).prop_map(|us| us * 1000),
        0i32..1_000_000_000,
    ];
    (min..=max, nanos).prop_filter_map("in range", |(s, n)| Timestamp::new(s, n).ok())
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        select(vec![
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::HEAD,
            Method::OPTIONS,
            Method::CONNECT,
            Method::TRACE,
        ]),
        "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
}

fn issues() -> impl Strategy<Value = IssueSet> {
    prop_oneof![
        Just(IssueSet::EMPTY),
        any::<u64>().prop_map(|bits| {
            IssueCode::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, c)| *c)
                .collect()
        }),
    ]
}

fn verdict() -> impl Strategy<Value = Verdict> {
    select(vec![Verdict::Allow, Verdict::Deny, Verdict::Defer])
}

/// Floats serde_json formats in every way it can: zero and minus zero, integral values
/// (`1.0`), exponents both ways, extremes, subnormals, NaN and the infinities (`null`).
fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        select(vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            1e-7,
            1e21,
            1e15,
            1e16,
            1e-5,
            123.456,
            0.1,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            5e-324,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ]),
        (0u64..100_000_000).prop_map(|us| us as f64 / 1000.0),
        any::<f64>(),
        any::<u64>().prop_map(f64::from_bits),
    ]
}

fn candidate() -> impl Strategy<Value = Option<CandidateVerdict>> {
    proptest::option::of(
        (text(), verdict(), issues()).prop_map(|(v, verdict, issues)| CandidateVerdict {
            policy_version: v.into(),
            verdict,
            issues,
        }),
    )
}

prop_compose! {
    fn record()(
        head in (timestamp(), text(), opt_text(), opt_text(), method(), text(), text()),
        decided in (
            select(vec![DecisionKind::Go, DecisionKind::NoGo, DecisionKind::Defer]),
            verdict(),
            issues(),
        ),
        facts in (opt_text(), opt_text(), opt_text(), opt_text(), opt_text(),
                  proptest::option::of(timestamp()), opt_text()),
        labels in (labels(), labels(), any::<u8>()),
        result in (
            select(vec![
                FinalAction::Forwarded,
                FinalAction::ExecutionStopped,
                FinalAction::UpstreamError,
                FinalAction::UpstreamOverloaded,
                FinalAction::ClientCancelled,
                FinalAction::DecisionOnly,
            ]),
            proptest::option::of(any::<u16>()),
            any::<u64>(),
            proptest::option::of(float()),
            float(),
            select(vec![Mode::Enforce, Mode::Shadow]),
        ),
        tail in (
            proptest::option::of(verdict()),
            proptest::option::of(any::<u16>()),
            candidate(),
            opt_text(),
            opt_text(),
            proptest::option::of(select(vec![
                StateAction::Claimed,
                StateAction::Counted,
                StateAction::Refused,
                StateAction::Unavailable,
            ])),
            opt_text(),
            opt_text(),
        ),
    ) -> AuditRecord {
        let (ts, request_id, trace_id, route, method, path, policy_version) = head;
        let (decision, verdict, issues) = decided;
        let (actor, actor_role, environment, approval_status, approved_by, approved_at, run_id) =
            facts;
        let (tools, side_effects, risk) = labels;
        let (final_runtime_action, upstream_status, decision_us, upstream_ms, total_ms, mode) =
            result;
        let (shadow_verdict, shadow_status, candidate, mcp_method, mcp_tool, state, api_key,
             review_id) = tail;
        // A struct literal, not `..AuditRecord::new(..)`: a new field fails to compile
        // here until the generator (and the renderer) know about it.
        AuditRecord {
            ts,
            request_id: request_id.into(),
            trace_id,
            route,
            method,
            path: path.into(),
            policy_version: policy_version.into(),
            decision,
            verdict,
            issues,
            actor,
            actor_role,
            environment,
            approval_status,
            approved_by,
            approved_at,
            run_id,
            tools,
            side_effects,
            risk,
            final_runtime_action,
            upstream_status,
            decision_us,
            upstream_ms,
            total_ms,
            mode,
            shadow_verdict,
            shadow_status,
            candidate,
            mcp_method,
            mcp_tool,
            state,
            api_key,
            review_id,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn render_matches_serde_json_byte_for_byte(rec in record()) {
        prop_assert_eq!(rendered(&rec), serde(&rec));
    }
}

// ---- written out by hand ----

fn base() -> AuditRecord {
    AuditRecord::new(
        "2026-03-14T09:26:53Z".parse().unwrap(),
        "req-1".into(),
        Method::POST,
        "/payouts".into(),
        "tools@7".into(),
        Verdict::Allow,
    )
}

#[test]
fn a_fresh_record_renders_every_contract_field_and_no_optional_one() {
    let rec = base();
    let expected = concat!(
        r#"{"ts":"2026-03-14T09:26:53Z","request_id":"req-1","trace_id":null,"route":null,"#,
        r#""method":"POST","path":"/payouts","policy_version":"tools@7","decision":"GO","#,
        r#""verdict":"ALLOW","issues":[],"actor":null,"actor_role":null,"environment":null,"#,
        r#""approval_status":null,"approved_by":null,"approved_at":null,"run_id":null,"#,
        r#""tools":[],"side_effects":[],"risk":0,"final_runtime_action":"execution_stopped","#,
        r#""upstream_status":null,"decision_us":0,"upstream_ms":null,"total_ms":0.0,"#,
        r#""mode":"enforce"}"#,
    );
    assert_eq!(rendered(&rec), expected);
    assert_same(&rec);
}

#[test]
fn every_optional_field_renders_in_declaration_order() {
    let mut rec = base();
    rec.set_verdict(Verdict::Deny);
    rec.issues = [IssueCode::SelfApproval, IssueCode::RouteNotMapped]
        .into_iter()
        .collect();
    rec.approved_at = Some("2026-03-14T09:00:00.5Z".parse().unwrap());
    rec.tools = Arc::from(vec!["a".into(), "b\"c".into()]);
    rec.mode = Mode::Shadow;
    rec.shadow_verdict = Some(Verdict::Defer);
    rec.shadow_status = Some(409);
    rec.candidate = Some(CandidateVerdict {
        policy_version: "tools@8".into(),
        verdict: Verdict::Allow,
        issues: IssueSet::EMPTY,
    });
    rec.mcp_method = Some("tools/call".into());
    rec.mcp_tool = Some("refund".into());
    rec.state = Some(StateAction::Refused);
    rec.api_key = Some("ci".into());
    rec.review_id = Some("rv-9".into());
    let line = rendered(&rec);
    assert!(
        line.contains(r#""issues":["ROUTE_NOT_MAPPED","SELF_APPROVAL"]"#),
        "{line}"
    );
    assert!(
        line.contains(r#""approved_at":"2026-03-14T09:00:00.5Z""#),
        "{line}"
    );
    assert!(line.contains(r#""tools":["a","b\"c"]"#), "{line}");
    assert!(line.ends_with(concat!(
        r#""mode":"shadow","shadow_verdict":"DEFER","shadow_status":409,"#,
        r#""candidate":{"policy_version":"tools@8","verdict":"ALLOW","issues":[]},"#,
        r#""mcp_method":"tools/call","mcp_tool":"refund","state":"refused","#,
        r#""api_key":"ci","review_id":"rv-9"}"#,
    )));
    assert_same(&rec);
}

#[test]
fn floats_render_as_serde_json_writes_them() {
    for (v, text) in [
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1.0, "1.0"),
        (123.456, "123.456"),
        (1e-7, "1e-7"),
        (1e21, "1e+21"),
        (f64::MAX, "1.7976931348623157e+308"),
        (f64::NAN, "null"),
        (f64::INFINITY, "null"),
        (f64::NEG_INFINITY, "null"),
    ] {
        let mut rec = base();
        rec.total_ms = v;
        rec.upstream_ms = Some(v);
        let line = rendered(&rec);
        let want = format!(r#""upstream_ms":{text},"total_ms":{text},"#);
        assert!(line.contains(&want), "{v}: {line}");
        assert_same(&rec);
    }
}

#[test]
fn strings_escape_as_serde_json_escapes_them() {
    for (s, text) in [
        ("plain", r#""plain""#),
        ("q\"b\\s/", r#""q\"b\\s/""#),
        ("\u{8}\t\n\u{c}\r", r#""\b\t\n\f\r""#),
        (
            "\u{0}\u{1}\u{1b}\u{1f}\u{7f}",
            "\"\\u0000\\u0001\\u001b\\u001f\u{7f}\"",
        ),
        ("é中😀\u{2028}", "\"é中😀\u{2028}\""),
        ("\\u0041", r#""\\u0041""#),
    ] {
        let mut rec = base();
        rec.actor = Some(s.into());
        let line = rendered(&rec);
        assert!(
            line.contains(&format!(r#""actor":{text},"#)),
            "{s:?}: {line}"
        );
        assert_same(&rec);
    }
}
