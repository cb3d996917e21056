//! Tests of the inbox pages: the markup contract the server and the browser tests rely
//! on, and that hostile text from a request, a record, a reviewer or a notice is shown
//! escaped, never interpreted.

use super::*;
use crate::approval::{ApprovalRequest, Binding};
use crate::state::review::{Decided, Review, ReviewRecord, ReviewStatus};
use serde_json::json;

const NOW: i64 = 1_796_427_612_000;

const ALICE: Page<'static> = Page {
    reviewer: "alice",
    csrf: "1.ab",
};

const HOSTILE: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "' onmouseover='",
    "</pre><form action=//evil>",
];

fn review_with(text: &str, status: ReviewStatus) -> Review {
    let decided = (status != ReviewStatus::Pending).then(|| Decided {
        approver: format!("approver {text}"),
        decided_at_ms: NOW - 60_000,
        reason: format!("reason {text}"),
        exp: if status == ReviewStatus::Approved {
            NOW / 1000 + 900
        } else {
            0
        },
    });
    Review {
        id: "0123456789abcdef01234567".into(),
        status,
        record: ReviewRecord {
            approval: ApprovalRequest {
                binding: Binding {
                    route: format!("payouts {text}"),
                    method: "POST".into(),
                    path: format!("/payouts/{text}"),
                    body_sha256: "9f86d081884c7d659a2feaa0c55ad015".into(),
                    ..Binding::default()
                },
                goal: format!("Pay out {text}"),
                request_id: format!("tg-1/{text}"),
                policy_version: format!("v1 {text}"),
                max_ttl_seconds: 3600,
            },
            route: format!("payouts {text}"),
            tool: Some(format!("tool {text}")),
            method: format!("POST{text}"),
            path: format!("/payouts/{text}"),
            payload: format!("{{\"memo\": \"{text}\"}}"),
            actor: Some(format!("agent {text}")),
            role: Some(format!("role {text}")),
            environment: Some(format!("production {text}")),
            run_id: Some(format!("run {text}")),
            issues: vec!["APPROVAL_REQUIRED".into(), format!("X{text}")],
            questions: vec![format!("Who approved {text}?")],
            reviewer_roles: vec![format!("finance {text}")],
        },
        first_seen_ms: NOW - 180_000,
        last_seen_ms: NOW - 30_000,
        retries: 2,
        decided,
        outcome: Some(format!("forwarded 200 {text}")),
        token: None,
    }
}

fn record_with(text: &str) -> serde_json::Value {
    json!({
        "ts": "2026-12-04T23:40:12Z",
        "request_id": format!("tg-1/{text}"),
        "route": format!("payouts {text}"),
        "method": "POST",
        "path": format!("/payouts/{text}"),
        "policy_version": format!("v1 {text}"),
        "decision": "DEFER",
        "verdict": "DEFER",
        "issues": ["APPROVAL_REQUIRED", text],
        "actor": format!("agent {text}"),
        "actor_role": null,
        "environment": format!("production {text}"),
        "approved_by": text,
        "final_runtime_action": "execution_stopped",
        "upstream_status": null,
        "mcp_tool": text,
        text: text,
    })
}

/// Every page a hostile text can reach, for one text.
fn pages(text: &str) -> Vec<(&'static str, String)> {
    let reviewer = format!("rev {text}");
    let csrf = format!("1.{text}");
    let p = Page {
        reviewer: &reviewer,
        csrf: &csrf,
    };
    let pending = review_with(text, ReviewStatus::Pending);
    let approved = review_with(text, ReviewStatus::Approved);
    let rejected = review_with(text, ReviewStatus::Rejected);
    let record = record_with(text);
    vec![
        (
            "inbox",
            inbox(
                &p,
                std::slice::from_ref(&pending),
                &[approved.clone(), rejected.clone()],
                NOW,
            ),
        ),
        ("pending", review(&p, &pending, NOW, Some(text))),
        ("approved", review(&p, &approved, NOW, None)),
        ("rejected", review(&p, &rejected, NOW, Some(text))),
        ("trace", trace(&p, text, Some(&record), Some(&pending))),
        ("trace-unknown", trace(&p, text, None, None)),
        ("message", message(Some(&p), text, text)),
        ("message-anon", message(None, text, text)),
    ]
}

/// The tags of a page and, for each, its attribute names. Attribute values are quoted
/// and escaped, so a `>` always ends a tag.
fn tags(html: &str) -> Vec<(String, Vec<String>)> {
    let tag = |chunk: &str| {
        let inner = chunk.split_once('>').expect("an unterminated tag").0;
        assert!(
            inner.matches('"').count().is_multiple_of(2),
            "unbalanced quotes: <{inner}>"
        );
        // Every other piece between quotes is a value; what is left: the name, attribute names.
        let bare = inner.split('"').step_by(2).collect::<Vec<_>>().join(" ");
        let mut words = bare
            .split_whitespace()
            .map(|w| w.split('=').next().unwrap_or("").to_ascii_lowercase());
        let name = words.next().unwrap_or_default();
        (name, words.filter(|w| !w.is_empty()).collect())
    };
    html.split('<').skip(1).map(tag).collect()
}

/// The elements the pages use (opening or closing); anything else got in from the data.
const ALLOWED_TAGS: &str = "!doctype html head meta title link body header main a span h1 h2 p \
    div table thead tbody tr th td code time dl dt dd ul ol li pre form input label select \
    option textarea button";

#[test]
fn hostile_text_is_shown_escaped_never_interpreted() {
    for text in HOSTILE {
        let escaped = escape(text).into_owned();
        assert_ne!(&escaped, text);
        for (name, html) in pages(text) {
            let ctx = format!("page {name} with {text:?}");
            assert!(!html.contains("<script"), "{ctx}: <script");
            assert!(!html.contains("<img"), "{ctx}: <img");
            assert!(!html.contains("onerror=alert(1)>"), "{ctx}: onerror");
            assert!(!html.contains("onmouseover='"), "{ctx}: onmouseover");
            assert!(!html.contains("<form action=//evil"), "{ctx}: evil form");
            assert!(html.contains(&escaped), "{ctx}: the text is not shown");
            for (tag, attrs) in tags(&html) {
                let mut known = ALLOWED_TAGS.split_whitespace();
                assert!(
                    known.any(|t| t == tag.trim_start_matches('/')),
                    "{ctx}: <{tag}>"
                );
                for a in attrs {
                    assert!(!a.starts_with("on"), "{ctx}: <{tag} {a}=");
                    assert_ne!(a, "style", "{ctx}: inline style on <{tag}>");
                }
            }
        }
    }
}

#[test]
fn escape_covers_the_five_characters_and_borrows_clean_text() {
    assert_eq!(escape("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&#39;f");
    assert!(matches!(escape("plain text é"), Cow::Borrowed(_)));
}

#[test]
fn the_policy_forbids_inline_code_and_the_stylesheet_is_external() {
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-eval"));
    assert!(CONTENT_SECURITY_POLICY.contains("default-src 'none'"));
    assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
    assert!(STYLESHEET.contains(".verdict-allow"));
    assert!(STYLESHEET.contains("overflow-x: auto"));
    assert!(!STYLESHEET.contains("</"));
}

#[test]
fn every_page_has_the_common_frame() {
    for (name, html) in pages("plain") {
        for needle in [
            "<!doctype html>",
            "<meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<link rel=\"stylesheet\" href=\"/inbox.css\">",
            "<a class=\"brand\" href=\"/\">toolgate review</a>",
        ] {
            assert!(html.contains(needle), "{name}: {needle}");
        }
        let named = html.contains("<span id=\"reviewer\">rev plain</span>");
        assert_eq!(named, name != "message-anon", "{name}: reviewer");
        assert!(!html.contains("style="), "{name}");
    }
}

#[test]
fn the_inbox_lists_pending_oldest_first_and_history_newest_first() {
    let p = ALICE;
    let mut old = review_with("old", ReviewStatus::Pending);
    old.id = "aa".into();
    old.first_seen_ms = NOW - 600_000;
    let young = review_with("young", ReviewStatus::Pending);
    let mut early = review_with("early", ReviewStatus::Rejected);
    early.id = "bb".into();
    early.decided.as_mut().unwrap().decided_at_ms = NOW - 3_600_000;
    let mut late = review_with("late", ReviewStatus::Approved);
    late.id = "cc".into();
    late.outcome = None;
    let html = inbox(&p, &[young, old], &[early, late], NOW);
    assert!(html.contains("<table id=\"pending\">"));
    assert!(html.contains("<table id=\"decided\">"));
    assert!(!html.contains("pending-empty"));
    let at = |s: &str| html.find(s).unwrap_or_else(|| panic!("{s} missing"));
    assert!(
        at("<tr class=\"review\" data-review-id=\"aa\"><td><a href=\"/reviews/aa\">")
            < at("data-review-id=\"0123456789abcdef01234567\"")
    );
    assert!(at("data-review-id=\"cc\"") < at("data-review-id=\"bb\""));
    assert!(html.contains("class=\"status-approved\">approved<"));
    assert!(html.contains("class=\"status-rejected\">rejected<"));
    assert!(html.contains("never retried"));
    assert!(html.contains("(3 min ago)"));
    assert!(html.contains("2026-12-04 23:37:12Z"));
    // The request id holds a `/`: one path segment, percent-encoded.
    assert!(html.contains("href=\"/decisions/tg-1%2Flate\""));

    let empty = inbox(&p, &[], &[], NOW);
    assert!(empty.contains("<p id=\"pending-empty\">Nothing is waiting for review.</p>"));
    assert!(!empty.contains("<table id=\"pending\">"));
}

#[test]
fn a_pending_review_has_both_forms_and_its_details() {
    let p = ALICE;
    let mut r = review_with("x", ReviewStatus::Pending);
    r.record.approval.max_ttl_seconds = 5400;
    let html = review(
        &p,
        &r,
        NOW,
        Some("You are the requesting actor: four eyes required."),
    );
    for needle in [
        "<p id=\"notice\" class=\"notice\">You are the requesting actor: four eyes required.</p>",
        "<h1>Pay out x</h1>",
        "<p id=\"status\" class=\"status-pending\">pending</p>",
        "<ul id=\"issues\">",
        "<li class=\"issue issue-defer\"><code>APPROVAL_REQUIRED</code></li>",
        "<ul id=\"questions\">",
        "<pre id=\"payload\">{&quot;memo&quot;: &quot;x&quot;}</pre>",
        "href=\"/decisions/tg-1%2Fx\"",
        "<form method=\"post\" action=\"/reviews/0123456789abcdef01234567/approve\" id=\"approve-form\">",
        "<input type=\"hidden\" name=\"csrf\" value=\"1.ab\">",
        "<select name=\"ttl\" id=\"ttl\">",
        "<option value=\"300\" selected>5 min</option>",
        "<option value=\"900\">15 min</option>",
        "<option value=\"3600\">1 h</option>",
        "<option value=\"5400\">1 h 30 min</option>",
        "<button type=\"submit\" id=\"approve\">Approve</button>",
        "<form method=\"post\" action=\"/reviews/0123456789abcdef01234567/reject\" id=\"reject-form\">",
        "<textarea name=\"reason\" id=\"reason\" required maxlength=\"500\"></textarea>",
        "<button type=\"submit\" id=\"reject\">Reject</button>",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    assert!(!html.contains("value=\"14400\""));
    assert_eq!(html.matches("name=\"csrf\"").count(), 2);
}

#[test]
fn ttl_choices_stop_at_max_ttl() {
    assert_eq!(ttl_choices(3600), vec![300, 900, 3600]);
    assert_eq!(ttl_choices(600), vec![300, 600]);
    assert_eq!(ttl_choices(120), vec![120]);
    assert_eq!(
        ttl_choices(172_800),
        vec![300, 900, 3600, 14_400, 86_400, 172_800]
    );
    assert_eq!(ttl_choices(0), TTL_CHOICES.to_vec());
}

#[test]
fn a_decided_review_shows_its_decision_and_no_forms() {
    let p = ALICE;
    let approved = review(&p, &review_with("x", ReviewStatus::Approved), NOW, None);
    assert!(approved.contains("<p id=\"status\" class=\"status-approved\">approved</p>"));
    assert!(approved.contains("approver x"));
    assert!(approved.contains("Expires"));
    assert!(approved.contains("(in 15 min)"));
    assert!(approved.contains("forwarded 200 x"));
    assert!(!approved.contains("<form"));
    assert!(!approved.contains("reason x"));

    let rejected = review(&p, &review_with("x", ReviewStatus::Rejected), NOW, None);
    assert!(rejected.contains("<p id=\"status\" class=\"status-rejected\">rejected</p>"));
    assert!(rejected.contains("reason x"));
    assert!(!rejected.contains("Expires"));
    assert!(!rejected.contains("<form"));
}

#[test]
fn a_trace_shows_the_chain_and_the_coloured_verdict() {
    let p = ALICE;
    let mut record = record_with("x");
    record["final_runtime_action"] = json!("forwarded");
    record["upstream_status"] = json!(201);
    let r = review_with("x", ReviewStatus::Approved);
    let html = trace(&p, "tg-1/x", Some(&record), Some(&r));
    assert!(html.contains("<span id=\"verdict\" class=\"verdict verdict-defer\">DEFER</span>"));
    let chain = &html[html.find("<ol id=\"chain\">").unwrap()..html.find("</ol>").unwrap()];
    assert_eq!(chain.matches("<li>").count(), 5);
    let labels = [
        "request_id",
        "policy_version",
        "environment",
        "approver",
        "final runtime action",
    ];
    let mut last = 0;
    for l in labels {
        let at = chain.find(&format!(">{l}<")).unwrap();
        assert!(at > last, "{l} out of order");
        last = at;
    }
    assert!(chain.contains("<code>forwarded (201)</code>"));
    assert!(html.contains("<table id=\"record\">"));
    assert!(html.contains("<th><code>mcp_tool</code></th>"));
    assert!(html.contains("<td>APPROVAL_REQUIRED, x</td>"));
    assert!(html.contains("href=\"/reviews/0123456789abcdef01234567\""));

    for (verdict, decision, class) in [
        (json!("ALLOW"), json!("GO"), "verdict-allow"),
        (json!("DENY"), json!("NO_GO"), "verdict-deny"),
        (json!(null), json!("NO_GO"), "verdict-deny"),
        (json!(null), json!("GO"), "verdict-allow"),
        (json!(null), json!(null), "verdict-unknown"),
    ] {
        let v = json!({"verdict": verdict, "decision": decision});
        assert!(trace(&p, "r", Some(&v), None).contains(class), "{class}");
    }

    let unknown = trace(&p, "tg-2", None, None);
    assert!(unknown.contains("<p id=\"unknown\">No decision with this request id is known (yet)."));
    assert!(!unknown.contains("id=\"chain\""));
}

#[test]
fn relative_times_read_naturally() {
    assert_eq!(relative(NOW - 5_000, NOW), "5 s ago");
    assert_eq!(relative(NOW - 180_000, NOW), "3 min ago");
    assert_eq!(relative(NOW - 7_200_000, NOW), "2 h ago");
    assert_eq!(relative(NOW - 172_800_000, NOW), "2 d ago");
    assert_eq!(relative(NOW + 900_000, NOW), "in 15 min");
    assert_eq!(utc(NOW), "2026-12-04 23:40:12Z");
    assert_eq!(utc(i64::MAX), i64::MAX.to_string());
}
