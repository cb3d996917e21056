//! The review inbox in a real headless Chromium, behind a stand-in for the authenticating
//! proxy (it adds the reviewer's identity headers a browser cannot): a held payout and a
//! held refund are listed; the reviewer opens the payout, sees its questions and its
//! redacted payload, approves it with the page's own form (CSRF token, same-origin POST,
//! 303 back to the review), and the agent's identical retry is forwarded once; the refund
//! is rejected with a reason full of markup, shown escaped, and its retry is denied with
//! that reason. Screenshots of the review and of the inbox (desktop and phone width) go
//! to target/. Needs the Debian packages chromium and chromium-driver (`.ci/run`
//! installs them and runs the ignored tests).

mod support;

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};
use support::browser::Browser;
use support::review::{repo, review_id, ReviewSetup, LEAD, PAYOUT, PAYOUTS};
use tokio::net::TcpListener;

const REFUNDS: &str = "/payments/v1/refunds";
const REFUND: &str = r#"{"amount":900,"currency":"EUR","payment":"pay-77"}"#;
const REASON: &str = "duplicate of refund r-12 <script>alert(1)</script>";
/// How long the browser may take to show what a POST and its redirect led to.
const SETTLE: Duration = Duration::from_secs(10);
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Polls `probe` until it gives `Some`, failing with `what` and the last value seen after
/// [`SETTLE`].
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = (Option<T>, String)>,
{
    let deadline = Instant::now() + SETTLE;
    loop {
        let (got, last) = probe().await;
        if let Some(v) = got {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {SETTLE:?}; last seen: {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the review page's `#status` reads `want` (the POST's redirect has landed).
async fn status_becomes(b: &Browser, want: &str) {
    eventually(&format!("#status {want}"), || async {
        let text = b.text("#status").await.unwrap_or_default();
        let url = b.current_url().await.unwrap_or_default();
        let notice = match b.exists("#notice").await {
            Ok(true) => b.text("#notice").await.unwrap_or_default(),
            _ => String::new(),
        };
        let last = format!("{text:?} on {url}, notice {notice:?}");
        ((text == want).then_some(()), last)
    })
    .await;
}

/// A screenshot that is a real PNG of some size.
fn assert_png(path: &Path) {
    let png = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        png.starts_with(PNG_SIGNATURE),
        "{} is not a PNG",
        path.display()
    );
    assert!(
        png.len() > 1024,
        "{}: only {} bytes",
        path.display(),
        png.len()
    );
}

fn shot(name: &str) -> std::path::PathBuf {
    let path = repo(&format!("target/{name}"));
    let _ = std::fs::remove_file(&path);
    path
}

#[ignore = "needs chromium and chromedriver (.ci/run installs them and runs the ignored tests)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_approves_and_rejects_in_a_real_browser() {
    let s = ReviewSetup::start().await;
    // The same inbox state a second time, behind the stand-in sign-in proxy.
    let behind = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", front.local_addr().unwrap());
    toolgate::demo::inbox::serve(s.inbox_state.clone(), behind, front).unwrap();

    // 1. The payout and the refund are held for review.
    let held = s.agent("POST", PAYOUTS, PAYOUT).await;
    assert_eq!(held.status, 409, "{:?}", held.body);
    assert_eq!(held.header("x-toolgate-verdict"), Some("DEFER"));
    let a = review_id(&held);
    let held = s.agent("POST", REFUNDS, REFUND).await;
    assert_eq!(held.status, 409, "{:?}", held.body);
    assert_eq!(held.header("x-toolgate-verdict"), Some("DEFER"));
    let b = review_id(&held);
    assert_ne!(a, b);
    assert!(s.up.seen().is_empty(), "nothing forwarded while pending");

    let browser = Browser::start().await.unwrap();
    browser.set_window_size(1280, 900).await.unwrap();

    // 2. The inbox lists both; the payout's page shows what a reviewer needs.
    browser.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(browser.text("#reviewer").await.unwrap(), LEAD.0);
    let row_a = format!(r#"#pending tr.review[data-review-id="{a}"]"#);
    let row_b = format!(r#"#pending tr.review[data-review-id="{b}"]"#);
    let row = browser.text(&row_a).await.unwrap();
    assert!(
        row.contains("Create a payout to a destination account"),
        "{row}"
    );
    assert!(row.contains("POST /payments/v1/payouts"), "{row}");
    assert!(row.contains("agent-7"), "{row}");
    let row = browser.text(&row_b).await.unwrap();
    assert!(row.contains("Refund a payment"), "{row}");
    assert!(!browser.exists("#decided").await.unwrap());

    browser.click(&format!("{row_a} a")).await.unwrap();
    eventually("the payout's review page", || async {
        let url = browser.current_url().await.unwrap_or_default();
        let ok = url == format!("{base}/reviews/{a}") && browser.exists("#approve").await.unwrap();
        (ok.then_some(()), url)
    })
    .await;
    assert_eq!(
        browser.text("h1").await.unwrap(),
        "Create a payout to a destination account"
    );
    assert_eq!(browser.text("#status").await.unwrap(), "pending");
    assert!(
        !browser.exists("#notice").await.unwrap(),
        "the lead may decide"
    );
    let questions = browser.text("#questions").await.unwrap();
    assert!(
        questions.contains("Who approved this payout?"),
        "{questions}"
    );
    let issues = browser.text("#issues").await.unwrap();
    assert!(issues.contains("APPROVAL_REQUIRED"), "{issues}");
    let payload = browser.text("#payload").await.unwrap();
    assert!(payload.contains("[redacted]"), "{payload}");
    assert!(payload.contains("<b>ACME</b>"), "shown as text: {payload}");
    let source = browser.source().await.unwrap();
    assert!(!source.contains("DE89370400440532013000"));
    assert!(
        !source.contains("<b>ACME"),
        "markup in the payload is escaped"
    );

    // 3. Approved for 5 minutes with the page's own form.
    browser.select("#ttl", "300").await.unwrap();
    browser.click("#approve").await.unwrap();
    status_becomes(&browser, "approved").await;
    assert_eq!(
        browser.current_url().await.unwrap(),
        format!("{base}/reviews/{a}")
    );
    let source = browser.source().await.unwrap();
    assert!(
        source.contains(r#"<p id="status" class="status-approved">approved</p>"#),
        "{source}"
    );
    assert!(
        !browser.exists("#notice").await.unwrap(),
        "{}",
        browser.text("#notice").await.unwrap_or_default()
    );
    assert!(!browser.exists("#approve-form").await.unwrap());
    let decision = browser.text("#decision").await.unwrap();
    assert!(decision.contains(LEAD.0), "{decision}");
    assert!(
        decision.contains("in 5 min"),
        "expires in 300 s: {decision}"
    );
    assert!(decision.contains("never retried"), "{decision}");
    let approved_png = shot("review-inbox-approved.png");
    browser.screenshot(&approved_png).await.unwrap();

    // 4. The agent's identical retry is forwarded once, as sent; the next one is held anew.
    let through = s.agent("POST", PAYOUTS, PAYOUT).await;
    assert_eq!(through.status, 200, "{:?}", through.body);
    assert_eq!(through.header("x-toolgate-verdict"), Some("ALLOW"));
    let seen = s.up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, PAYOUTS);
    assert_eq!(seen[0].body, PAYOUT.as_bytes());
    let next = s.agent("POST", PAYOUTS, PAYOUT).await;
    assert_eq!(next.status, 409, "{:?}", next.body);
    let c = review_id(&next);
    assert_ne!(c, a, "the approval is used once");
    assert_eq!(s.up.seen().len(), 1);

    // 5. The refund is rejected with a reason full of markup, shown as text.
    browser.goto(&format!("{base}/reviews/{b}")).await.unwrap();
    assert_eq!(browser.text("h1").await.unwrap(), "Refund a payment");
    assert_eq!(browser.text("#status").await.unwrap(), "pending");
    browser.fill("#reason", REASON).await.unwrap();
    browser.click("#reject").await.unwrap();
    status_becomes(&browser, "rejected").await;
    assert_eq!(
        browser.current_url().await.unwrap(),
        format!("{base}/reviews/{b}")
    );
    let decision = browser.text("#decision").await.unwrap();
    assert!(decision.contains(REASON), "{decision}");
    assert!(decision.contains(LEAD.0), "{decision}");
    let source = browser.source().await.unwrap();
    assert!(
        source.contains(r#"<p id="status" class="status-rejected">rejected</p>"#),
        "{source}"
    );
    assert!(
        source.contains("duplicate of refund r-12 &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{source}"
    );
    assert!(!source.to_ascii_lowercase().contains("<script"), "{source}");

    // 6. The refund's identical retry is denied, with the reviewer's reason.
    let denied = s.agent("POST", REFUNDS, REFUND).await;
    assert_eq!(denied.status, 403, "{:?}", denied.body);
    assert_eq!(denied.header("x-toolgate-verdict"), Some("DENY"));
    let body = denied.json();
    let issues = body["issues"].to_string();
    assert!(issues.contains("APPROVAL_REJECTED"), "{body}");
    let details = body["details"].to_string();
    assert!(details.contains("duplicate of refund r-12"), "{body}");
    assert!(details.contains(LEAD.0), "{body}");
    assert_eq!(s.up.seen().len(), 1);

    // 7. The inbox: only the new review is pending; both decisions are in the history.
    browser.goto(&format!("{base}/")).await.unwrap();
    assert!(!browser.exists(&row_a).await.unwrap());
    assert!(!browser.exists(&row_b).await.unwrap());
    assert!(browser
        .exists(&format!(r#"#pending tr.review[data-review-id="{c}"]"#))
        .await
        .unwrap());
    assert_eq!(browser.text("h1").await.unwrap(), "Pending reviews (1)");
    let decided_a = browser
        .text(&format!(r#"#decided tr.decided[data-review-id="{a}"]"#))
        .await
        .unwrap();
    assert!(decided_a.contains(LEAD.0), "{decided_a}");
    assert!(decided_a.contains("approved"), "{decided_a}");
    let decided_b = browser
        .text(&format!(r#"#decided tr.decided[data-review-id="{b}"]"#))
        .await
        .unwrap();
    assert!(decided_b.contains(LEAD.0), "{decided_b}");
    assert!(decided_b.contains("rejected"), "{decided_b}");
    let inbox_png = shot("review-inbox.png");
    browser.screenshot(&inbox_png).await.unwrap();
    browser.set_window_size(390, 844).await.unwrap();
    let phone_png = shot("review-inbox-phone.png");
    browser.screenshot(&phone_png).await.unwrap();
    browser.close().await.unwrap();
    for png in [&approved_png, &inbox_png, &phone_png] {
        assert_png(png);
    }

    // 8. Without the sign-in proxy there is no reviewer: 401.
    let bare = support::call(s.inbox, "GET", "/", &[], "").await;
    assert_eq!(bare.status, 401, "{:?}", bare.body);
}
