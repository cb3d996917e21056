//! The README's examples are outputs of the real code: these tests recompute them.

use serde_json::Value;
use std::path::Path;
use toolgate::bundle::{self, TestRequest};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The first ```json block after `heading`.
fn json_after(text: &str, heading: &str) -> Value {
    let at = text
        .find(heading)
        .unwrap_or_else(|| panic!("README lacks {heading:?}"));
    let start = at + text[at..].find("```json\n").unwrap() + 8;
    let end = start + text[start..].find("```").unwrap();
    serde_json::from_str(&text[start..end]).unwrap()
}

#[test]
fn decision_json_example_is_what_the_blocked_delete_gets() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tools");
    let snap = bundle::load(&dir, jiff::Timestamp::UNIX_EPOCH).unwrap();
    let req = TestRequest {
        method: http::Method::DELETE,
        path: "/db/v1/tenants/t-42".into(),
        headers: vec![
            ("x-actor".into(), "agent-5".into()),
            ("x-actor-role".into(), "support_agent".into()),
            ("x-environment".into(), "production".into()),
        ],
        body: None,
        client_cert: None,
    };
    let now = "2026-03-16T10:00:00Z".parse().unwrap();
    let decision = bundle::decide_request(&snap, &req, now);
    let mut got = serde_json::to_value(&decision).unwrap();
    let mut want = json_after(&readme(), "### The decision JSON");
    // Per-request and per-build values.
    for v in [&mut got, &mut want] {
        v["request_id"] = Value::Null;
        v["policy_digest"] = Value::Null;
    }
    assert_eq!(
        want,
        got,
        "README decision example is out of date:\n{}",
        serde_json::to_string_pretty(&got).unwrap()
    );
}
