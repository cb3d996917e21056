//! The review inbox's pages, rendered to strings: the inbox list, one review with its
//! Approve / Reject forms, a request's decision trace, plain message pages, and the one
//! stylesheet they share. Pure functions of their arguments, so the markup contract the
//! server and the browser tests rely on is checked here without a listener.
//!
//! Everything shown comes from a deferred request (body, path, actor, tool: attacker
//! text), an audit record, a reviewer's name or a notice, and goes through [`escape`];
//! ids in links are also percent-encoded. The pages carry no script and no inline style,
//! so [`CONTENT_SECURITY_POLICY`] can forbid both.

use crate::policy::{IssueClass, IssueCode};
use crate::state::review::{Review, ReviewStatus};
use jiff::Timestamp;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt::Write;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The stylesheet served at /inbox.css (no inline styles anywhere: the CSP forbids them).
pub const STYLESHEET: &str = include_str!("inbox.css");

/// RFC 3986 unreserved characters stay; everything else in an id is percent-encoded, so
/// no id can add a segment, a query or a fragment to a link.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The approval lifetimes offered, in seconds, before `max_ttl` trims them.
const TTL_CHOICES: [i64; 5] = [300, 900, 3600, 14_400, 86_400];

/// Who is looking, and the CSRF token their forms carry.
pub struct Page<'a> {
    pub reviewer: &'a str,
    pub csrf: &'a str,
}

/// Escapes text for HTML element content and double-quoted attribute values: & < > " '
/// (as &amp; &lt; &gt; &quot; &#39;).
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// An id as one path segment of an attribute value: percent-encoded, then escaped.
fn segment(id: &str) -> String {
    escape(&utf8_percent_encode(id, SEGMENT).to_string()).into_owned()
}

/// Writing to a `String` cannot fail; this keeps the renderers free of unused `Result`s.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// The frame every page shares: head, header with the reviewer, `main`.
fn layout(page: Option<&Page<'_>>, title: &str, body: &str) -> String {
    let reviewer = page.map_or(String::new(), |p| {
        format!("<span id=\"reviewer\">{}</span>", escape(p.reviewer))
    });
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"referrer\" content=\"same-origin\">\n<title>{} · toolgate review</title>\n<link rel=\"stylesheet\" href=\"/inbox.css\">\n</head>\n<body>\n<header><a class=\"brand\" href=\"/\">toolgate review</a>{reviewer}</header>\n<main>\n{body}</main>\n</body>\n</html>\n",
        escape(title)
    )
}

/// `2026-12-04 23:40:12Z`; the raw number when it is no instant jiff can represent.
fn utc(ms: i64) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
        Err(_) => ms.to_string(),
    }
}

/// `3 min ago`, or `in 3 min` for an instant still ahead (an approval's expiry).
fn relative(ms: i64, now_ms: i64) -> String {
    let secs = now_ms.saturating_sub(ms) / 1000;
    let span = |s: i64| match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    };
    if secs >= 0 {
        format!("{} ago", span(secs))
    } else {
        format!("in {}", span(secs.saturating_neg()))
    }
}

/// An instant in UTC with its relative age beside it.
fn when(ms: i64, now_ms: i64) -> String {
    format!(
        "<time>{}</time> <span class=\"ago\">({})</span>",
        utc(ms),
        relative(ms, now_ms)
    )
}

/// `5 min`, `4 h`, `1 h 30 min`, `45 s`: a ttl choice's label.
fn duration_label(secs: i64) -> String {
    let parts: Vec<String> = [
        (secs / 3600, "h"),
        (secs % 3600 / 60, "min"),
        (secs % 60, "s"),
    ]
    .into_iter()
    .filter(|&(n, _)| n > 0)
    .map(|(n, unit)| format!("{n} {unit}"))
    .collect();
    parts.join(" ")
}

/// The lifetimes a reviewer may pick: the standard ones up to `max_ttl`, and `max_ttl`
/// itself. A request without a known `max_ttl` (0) gets the standard ones: the sidecar
/// still checks the lifetime against its bundle.
fn ttl_choices(max_ttl: i64) -> Vec<i64> {
    let fits = |t: &i64| max_ttl <= 0 || *t <= max_ttl;
    let mut v: Vec<i64> = TTL_CHOICES.into_iter().filter(fits).collect();
    if max_ttl > 0 && !v.contains(&max_ttl) {
        v.push(max_ttl);
    }
    v
}

fn or_dash(v: Option<&str>) -> Cow<'_, str> {
    match v {
        Some(s) if !s.is_empty() => escape(s),
        _ => Cow::Borrowed("—"),
    }
}

/// Escaped items, comma-joined.
fn joined(items: &[String]) -> String {
    let items: Vec<Cow<'_, str>> = items.iter().map(|i| escape(i)).collect();
    items.join(", ")
}

/// The trace page's link for a request id, or a dash for none.
fn decision_link(request_id: &str) -> String {
    if request_id.is_empty() {
        return "—".into();
    }
    let (seg, id) = (segment(request_id), escape(request_id));
    format!("<a class=\"trace\" href=\"/decisions/{seg}\"><code>{id}</code></a>")
}

fn goal_text(review: &Review) -> &str {
    match review.record.approval.goal.as_str() {
        "" => "(no goal given)",
        g => g,
    }
}

fn status_class(s: ReviewStatus) -> &'static str {
    match s {
        ReviewStatus::Pending => "status-pending",
        ReviewStatus::Approved => "status-approved",
        ReviewStatus::Rejected => "status-rejected",
    }
}

/// The issue's class for colouring; codes this build does not know get none.
fn issue_item(code: &str) -> String {
    let class = match IssueCode::parse(code).map(IssueCode::class) {
        Some(IssueClass::Deny) => " issue-deny",
        Some(IssueClass::Defer) => " issue-defer",
        None => "",
    };
    let code = escape(code);
    format!("<li class=\"issue{class}\"><code>{code}</code></li>")
}

/// The inbox: pending reviews (oldest first), then recently decided ones (newest first).
pub fn inbox(page: &Page<'_>, pending: &[Review], decided: &[Review], now_ms: i64) -> String {
    let mut pending: Vec<&Review> = pending.iter().collect();
    pending.sort_by_key(|r| r.first_seen_ms);
    let mut decided: Vec<&Review> = decided.iter().collect();
    let at = |r: &Review| {
        r.decided
            .as_ref()
            .map_or(r.last_seen_ms, |d| d.decided_at_ms)
    };
    decided.sort_by_key(|r| std::cmp::Reverse(at(r)));

    let mut b = String::new();
    w!(b, "<h1>Pending reviews ({})</h1>\n", pending.len());
    if pending.is_empty() {
        b.push_str("<p id=\"pending-empty\">Nothing is waiting for review.</p>\n");
    } else {
        b.push_str("<div class=\"scroll\"><table id=\"pending\">\n<thead><tr><th>Goal</th><th>Route</th><th>Request</th><th>Actor</th><th>Environment</th><th>Issues</th><th>First seen</th><th>Retries</th></tr></thead>\n<tbody>\n");
        for r in pending {
            let rec = &r.record;
            let tool = rec.tool.as_deref().map_or(String::new(), |t| {
                format!(" <span class=\"muted\">({})</span>", escape(t))
            });
            w!(
                b,
                "<tr class=\"review\" data-review-id=\"{id}\"><td><a href=\"/reviews/{seg}\">{goal}</a></td><td>{route}{tool}</td><td><code>{method} {path}</code></td><td>{actor}</td><td>{env}</td><td><code>{issues}</code></td><td>{first}</td><td>{retries}</td></tr>\n",
                id = escape(&r.id),
                seg = segment(&r.id),
                goal = escape(goal_text(r)),
                route = escape(&rec.route),
                method = escape(&rec.method),
                path = escape(&rec.path),
                actor = or_dash(rec.actor.as_deref()),
                env = or_dash(rec.environment.as_deref()),
                issues = joined(&rec.issues),
                first = when(r.first_seen_ms, now_ms),
                retries = r.retries,
            );
        }
        b.push_str("</tbody>\n</table></div>\n");
    }

    b.push_str("<h2>History</h2>\n");
    if decided.is_empty() {
        b.push_str("<p id=\"decided-empty\">No review has been decided yet.</p>\n");
    } else {
        b.push_str("<div class=\"scroll\"><table id=\"decided\">\n<thead><tr><th>Goal</th><th>Approver</th><th>Status</th><th>Decided</th><th>Outcome</th><th>Trace</th></tr></thead>\n<tbody>\n");
        for r in decided {
            let d = r.decided.as_ref();
            w!(
                b,
                "<tr class=\"decided\" data-review-id=\"{id}\"><td><a href=\"/reviews/{seg}\">{goal}</a></td><td>{approver}</td><td class=\"{class}\">{status}</td><td>{at}</td><td>{outcome}</td><td>{trace}</td></tr>\n",
                id = escape(&r.id),
                seg = segment(&r.id),
                goal = escape(goal_text(r)),
                approver = or_dash(d.map(|d| d.approver.as_str())),
                class = status_class(r.status),
                status = r.status.as_str(),
                at = d.map_or_else(|| "—".into(), |d| when(d.decided_at_ms, now_ms)),
                outcome = escape(r.outcome.as_deref().unwrap_or("never retried")),
                trace = decision_link(&r.record.approval.request_id),
            );
        }
        b.push_str("</tbody>\n</table></div>\n");
    }
    layout(Some(page), "Inbox", &b)
}

/// One review: everything a reviewer needs, and for a pending one the Approve form (ttl
/// select of choices up to `record.approval.max_ttl_seconds`: 5m, 15m, 1h, 4h, 24h
/// filtered to <= max_ttl, plus max_ttl itself if not in the list; default the smallest)
/// and Reject form (reason textarea, required, maxlength 500). `notice`: an error or
/// confirmation line shown at the top.
pub fn review(page: &Page<'_>, review: &Review, now_ms: i64, notice: Option<&str>) -> String {
    let rec = &review.record;
    let ap = &rec.approval;
    let mut b = String::new();
    if let Some(n) = notice {
        w!(b, "<p id=\"notice\" class=\"notice\">{}</p>\n", escape(n));
    }
    w!(b, "<h1>{}</h1>\n", escape(goal_text(review)));
    let (class, status) = (status_class(review.status), review.status.as_str());
    w!(b, "<p id=\"status\" class=\"{class}\">{status}</p>\n");

    b.push_str("<h2>Request</h2>\n<dl id=\"details\">\n");
    let mut row = |label: &str, value: &str| w!(b, "<dt>{label}</dt><dd>{value}</dd>\n");
    row("Route", &escape(&rec.route));
    row("Tool", &or_dash(rec.tool.as_deref()));
    row("Method", &format!("<code>{}</code>", escape(&rec.method)));
    row("Path", &format!("<code>{}</code>", escape(&rec.path)));
    row("Actor", &or_dash(rec.actor.as_deref()));
    row("Role", &or_dash(rec.role.as_deref()));
    row("Environment", &or_dash(rec.environment.as_deref()));
    row("Run id", &or_dash(rec.run_id.as_deref()));
    row("Policy version", &or_dash(Some(&ap.policy_version)));
    row("Request id", &decision_link(&ap.request_id));
    row("First seen", &when(review.first_seen_ms, now_ms));
    row("Last seen", &when(review.last_seen_ms, now_ms));
    row("Retries", &review.retries.to_string());
    if !rec.reviewer_roles.is_empty() {
        row("Reviewer roles", &joined(&rec.reviewer_roles));
    }
    row(
        "Body SHA-256",
        &format!("<code>{}</code>", escape(&ap.binding.body_sha256)),
    );
    b.push_str("</dl>\n");

    b.push_str("<h2>Issues</h2>\n<ul id=\"issues\">\n");
    for code in &rec.issues {
        b.push_str(&issue_item(code));
        b.push('\n');
    }
    b.push_str("</ul>\n");
    if !rec.questions.is_empty() {
        b.push_str("<h2>Questions</h2>\n<ul id=\"questions\">\n");
        for q in &rec.questions {
            w!(b, "<li>{}</li>\n", escape(q));
        }
        b.push_str("</ul>\n");
    }
    w!(
        b,
        "<h2>Payload</h2>\n<pre id=\"payload\">{}</pre>\n",
        escape(&rec.payload)
    );

    if review.status == ReviewStatus::Pending {
        decide_forms(&mut b, page, review);
        return layout(Some(page), goal_text(review), &b);
    }
    b.push_str("<h2>Decision</h2>\n<dl id=\"decision\">\n");
    let mut row = |label: &str, value: &str| w!(b, "<dt>{label}</dt><dd>{value}</dd>\n");
    if let Some(d) = &review.decided {
        row("Approver", &escape(&d.approver));
        row("Decided", &when(d.decided_at_ms, now_ms));
        if review.status == ReviewStatus::Rejected {
            row("Reason", &escape(&d.reason));
        } else if d.exp > 0 {
            row("Expires", &when(d.exp.saturating_mul(1000), now_ms));
        }
    }
    let outcome = review.outcome.as_deref().unwrap_or("never retried");
    row("Outcome", &escape(outcome));
    b.push_str("</dl>\n");
    layout(Some(page), goal_text(review), &b)
}

/// The Approve and Reject forms of a pending review.
fn decide_forms(b: &mut String, page: &Page<'_>, review: &Review) {
    let id = segment(&review.id);
    let csrf = escape(page.csrf);
    b.push_str("<div class=\"decide\">\n");
    w!(
        b,
        "<form method=\"post\" action=\"/reviews/{id}/approve\" id=\"approve-form\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n<label for=\"ttl\">Approval valid for</label>\n<select name=\"ttl\" id=\"ttl\">\n"
    );
    for (i, secs) in ttl_choices(crate::inbox::action::max_ttl(review))
        .into_iter()
        .enumerate()
    {
        let selected = if i == 0 { " selected" } else { "" };
        w!(
            b,
            "<option value=\"{secs}\"{selected}>{}</option>\n",
            duration_label(secs)
        );
    }
    b.push_str("</select>\n<button type=\"submit\" id=\"approve\">Approve</button>\n</form>\n");
    w!(
        b,
        "<form method=\"post\" action=\"/reviews/{id}/reject\" id=\"reject-form\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n<label for=\"reason\">Reason for rejecting</label>\n<textarea name=\"reason\" id=\"reason\" required maxlength=\"500\"></textarea>\n<button type=\"submit\" id=\"reject\">Reject</button>\n</form>\n</div>\n"
    );
}

/// `allow` / `defer` / `deny` from a record's `verdict` (`ALLOW`, ...) or, failing that,
/// its Stage0 `decision` (`GO`, `NO_GO`, `DEFER`).
fn verdict_of(record: &Value) -> &'static str {
    let field = |k: &str| record.get(k).and_then(Value::as_str).unwrap_or("");
    match (
        field("verdict").to_ascii_uppercase().as_str(),
        field("decision"),
    ) {
        ("ALLOW", _) | ("", "GO") => "allow",
        ("DENY", _) | ("", "NO_GO") => "deny",
        ("DEFER", _) | ("", "DEFER") => "defer",
        _ => "unknown",
    }
}

/// A field's value as text: strings bare, lists of strings comma-joined, the rest as JSON.
fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// The trace of one request id: request_id → policy_version → environment → approver →
/// final runtime action, as a visible chain, the verdict coloured, then all fields of the
/// record in a table. `record` None: a page saying no decision with that id is known
/// (yet). `review`: the review that request opened or used, linked.
pub fn trace(
    page: &Page<'_>,
    request_id: &str,
    record: Option<&Value>,
    review: Option<&Review>,
) -> String {
    let mut b = String::new();
    w!(b, "<h1>Decision <code>{}</code></h1>\n", escape(request_id));
    if let Some(r) = review {
        let (id, goal) = (segment(&r.id), escape(goal_text(r)));
        let (class, status) = (status_class(r.status), r.status.as_str());
        w!(b, "<p id=\"review-link\">Review: <a href=\"/reviews/{id}\">{goal}</a> <span class=\"{class}\">{status}</span></p>\n");
    }
    let Some(record) = record else {
        b.push_str("<p id=\"unknown\">No decision with this request id is known (yet). Recent decisions are kept for a while; an older one is in the audit log.</p>\n");
        return layout(Some(page), request_id, &b);
    };
    let field = |k: &str| record.get(k).map(value_text).unwrap_or_else(|| "—".into());

    // Shown in the record's spelling (ALLOW / DENY / DEFER), whichever field gave it.
    let verdict = verdict_of(record);
    let text = match verdict {
        "unknown" => escape(&field("verdict")).into_owned(),
        v => v.to_ascii_uppercase(),
    };
    w!(
        b,
        "<p>Verdict: <span id=\"verdict\" class=\"verdict verdict-{verdict}\">{text}</span></p>\n"
    );

    let mut action = field("final_runtime_action");
    if let Some(status) = record.get("upstream_status").and_then(Value::as_u64) {
        action = format!("{action} ({status})");
    }
    b.push_str("<ol id=\"chain\">\n");
    for (label, value) in [
        ("request_id", field("request_id")),
        ("policy_version", field("policy_version")),
        ("environment", field("environment")),
        ("approver", field("approved_by")),
        ("final runtime action", action),
    ] {
        let value = escape(&value);
        w!(
            b,
            "<li><span class=\"label\">{label}</span><code>{value}</code></li>\n"
        );
    }
    b.push_str("</ol>\n");

    b.push_str("<h2>Record</h2>\n<div class=\"scroll\"><table id=\"record\">\n<tbody>\n");
    if let Some(fields) = record.as_object() {
        for (k, v) in fields {
            let (k, v) = (escape(k), value_text(v));
            w!(
                b,
                "<tr><th><code>{k}</code></th><td>{}</td></tr>\n",
                escape(&v)
            );
        }
    }
    b.push_str("</tbody>\n</table></div>\n");
    layout(Some(page), request_id, &b)
}

/// A plain message page (errors: 401 without reviewer identity, 403, 404, 409 already
/// decided). `page` None when there is no reviewer (then no reviewer name in the header).
pub fn message(page: Option<&Page<'_>>, title: &str, text: &str) -> String {
    let body = format!(
        "<h1>{}</h1>\n<p id=\"message\">{}</p>\n<p><a href=\"/\">Back to the inbox</a></p>\n",
        escape(title),
        escape(text)
    );
    layout(page, title, &body)
}

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
