//! Bodies on methods without body semantics (GET, HEAD, DELETE, OPTIONS), against the
//! shipped `policies/tools` bundle. An upstream that ignores such a body (a "CL.0" reading)
//! would run whatever request hides in it, unevaluated; so a route that neither reads nor
//! allows a body refuses a non-empty one (400, INVALID_REQUEST), over HTTP/1.1 and HTTP/2,
//! whatever its framing, and forwards an empty one with no body at all. Each case is
//! checked against a lenient upstream that reads requests exactly as such a stack would,
//! and against its audit record.

mod support;
use std::sync::{Arc, Mutex};
use support::h2raw::{h2_request, H2Outcome};
use support::wire::{exchange, req};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use toolgate::audit::FinalAction;

/// The payout a CL.0 upstream would run if a GET's body reached it.
const HIDDEN: &str = "POST /payments/v1/payouts HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 58\r\n\r\n{\"amount\":9000,\"currency\":\"EUR\",\"destination\":\"acct-evil\"}";

/// What a lenient upstream executed: method, target and the body it read.
type Ran = Arc<Mutex<Vec<(String, String, String)>>>;

/// An HTTP/1.1 upstream that ignores the body of GET, HEAD, DELETE and OPTIONS (whatever
/// Content-Length or Transfer-Encoding say) and reads the bytes after their head as the
/// next request: the CL.0 reading. It answers every request it parses with 200.
async fn cl0_upstream() -> (String, Ran) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let ran: Ran = Arc::default();
    let log = ran.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(used) = parse_lenient(&buf, &log) {
                        buf.drain(..used);
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if s.write_all(ok).await.is_err() {
                            return;
                        }
                    }
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (url, ran)
}

/// One request off the front of `buf`, read leniently; the bytes it used.
fn parse_lenient(buf: &[u8], log: &Ran) -> Option<usize> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Request::new(&mut fields);
    let httparse::Status::Complete(head) = r.parse(buf).ok()? else {
        return None;
    };
    let method = r.method?.to_owned();
    let length = r
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
        .unwrap_or(0usize);
    let bodiless = matches!(method.as_str(), "GET" | "HEAD" | "DELETE" | "OPTIONS");
    let length = if bodiless { 0 } else { length };
    let body = buf.get(head..head + length)?;
    log.lock().unwrap().push((
        method,
        r.path?.to_owned(),
        String::from_utf8_lossy(body).into_owned(),
    ));
    Some(head + length)
}

const APPROVED_ADMIN: &[&str] = &[
    "x-actor: agent-5",
    "x-actor-role: platform_admin",
    "x-environment: production",
    "x-approval-status: approved",
    "x-approved-by: [email protected]",
    "x-approved-at: 2026-03-16T09:30:00Z",
];

struct Row {
    name: &'static str,
    bytes: Vec<u8>,
    status: u16,
    /// What the lenient upstream ran: method, target, body.
    ran: Vec<(&'static str, &'static str, &'static str)>,
}

fn rows() -> Vec<Row> {
    let get = "GET /payments/v1/payouts/po-1 HTTP/1.1";
    let row = |name, bytes, status, ran: &[(&'static str, &'static str, &'static str)]| Row {
        name,
        bytes,
        status,
        ran: ran.to_vec(),
    };
    let mut delete = APPROVED_ADMIN.to_vec();
    let cl = format!("Content-Length: {}", HIDDEN.len());
    delete.push(&cl);
    vec![
        row(
            "the issue's reproduction: a payout in a GET's Content-Length body",
            req(get, &["Content-Length: 165"], HIDDEN),
            400,
            &[],
        ),
        row(
            "a chunked GET body",
            req(
                get,
                &["Transfer-Encoding: chunked"],
                &format!("{:x}\r\n{HIDDEN}\r\n0\r\n\r\n", HIDDEN.len()),
            ),
            400,
            &[],
        ),
        row(
            "an approved DELETE carrying a payout",
            req("DELETE /db/v1/tenants/t-42 HTTP/1.1", &delete, HIDDEN),
            400,
            &[],
        ),
        row(
            "an empty chunked GET body is no body",
            req(get, &["Transfer-Encoding: chunked"], "0\r\n\r\n"),
            200,
            &[("GET", "/payments/v1/payouts/po-1", "")],
        ),
        row(
            "Content-Length: 0 is no body",
            req(get, &["Content-Length: 0"], ""),
            200,
            &[("GET", "/payments/v1/payouts/po-1", "")],
        ),
        row(
            "an approved DELETE without a body",
            req("DELETE /db/v1/tenants/t-42 HTTP/1.1", APPROVED_ADMIN, ""),
            200,
            &[("DELETE", "/db/v1/tenants/t-42", "")],
        ),
    ]
}

#[tokio::test]
async fn a_body_on_a_bodiless_method_never_reaches_a_cl0_upstream() {
    let (url, ran) = cl0_upstream().await;
    let gate = Gate::start(tools_bundle(), &url, |_| {}).await;
    let mut failures = Vec::new();
    for r in rows() {
        let before = ran.lock().unwrap().len();
        let ex = exchange(gate.addr, &r.bytes, 1, false).await;
        let got: Vec<(String, String, String)> = ran.lock().unwrap()[before..].to_vec();
        let want: Vec<(String, String, String)> = r
            .ran
            .iter()
            .map(|(m, t, b)| (m.to_string(), t.to_string(), b.to_string()))
            .collect();
        if ex.status() != r.status || got != want {
            failures.push(format!(
                "[{}] status {} (want {}), upstream ran {got:?} (want {want:?})",
                r.name,
                ex.status(),
                r.status
            ));
            continue;
        }
        let resp = &ex.finals()[0];
        let id = resp.header("x-request-id").unwrap_or_default().to_owned();
        let rec = gate.audit_record(&id).await;
        let Some(rec) = rec else {
            failures.push(format!("[{}] no audit record for {id:?}", r.name));
            continue;
        };
        let refused = r.status == 400;
        let action = if refused {
            FinalAction::ExecutionStopped
        } else {
            FinalAction::Forwarded
        };
        if rec.final_runtime_action != action {
            failures.push(format!(
                "[{}] audited as {:?}",
                r.name, rec.final_runtime_action
            ));
        }
        if refused {
            let body = resp.json();
            let detail = body["details"][0].as_str().unwrap_or_default();
            if body["issues"] != serde_json::json!(["INVALID_REQUEST"])
                || !detail.contains("may not carry a body")
            {
                failures.push(format!("[{}] refusal body {body}", r.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same over HTTP/2: `:method GET` with DATA frames is refused; without DATA (END_STREAM
/// on HEADERS) it is forwarded.
#[tokio::test]
async fn an_h2_get_with_data_frames_is_refused() {
    let (url, ran) = cl0_upstream().await;
    let gate = Gate::start(tools_bundle(), &url, |_| {}).await;
    let len = HIDDEN.len().to_string();
    let base: [(&[u8], &[u8]); 4] = [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":authority", b"t"),
        (b":path", b"/payments/v1/payouts/po-1"),
    ];
    let mut declared = base.to_vec();
    declared.push((b"content-length", len.as_bytes()));
    let with_body = h2_request(gate.addr, &declared, Some(HIDDEN.as_bytes())).await;
    let undeclared = h2_request(gate.addr, &base, Some(HIDDEN.as_bytes())).await;
    let without = h2_request(gate.addr, &base, None).await;
    assert_eq!(with_body, H2Outcome::Status(400));
    assert_eq!(undeclared, H2Outcome::Status(400));
    assert_eq!(without, H2Outcome::Status(200));
    let ran = ran.lock().unwrap().clone();
    assert_eq!(
        ran,
        [(
            "GET".to_owned(),
            "/payments/v1/payouts/po-1".to_owned(),
            String::new()
        )],
        "only the bodiless GET reached the upstream"
    );
}

/// A route that sets `allow_body: true` streams the body as sent, with its framing rebuilt
/// (hyper's client would otherwise drop a GET body of unknown length).
#[tokio::test]
async fn allow_body_streams_it() {
    let dir = tempfile::tempdir().unwrap();
    support::sidecar::copy_bundle(dir.path());
    support::sidecar::edit(
        dir.path(),
        "routes.yaml",
        "      goal: Read a payout\n",
        "      goal: Read a payout\n      allow_body: true\n",
    );
    let snapshot = toolgate::bundle::load(dir.path(), NOW.parse().unwrap()).unwrap();
    let up = Upstream::start().await;
    let gate = Gate::start(snapshot, &up.url(), |_| {}).await;
    let get = "GET /payments/v1/payouts/po-1 HTTP/1.1";
    for (bytes, body) in [
        (req(get, &[], "abc"), "abc"),
        (
            req(
                get,
                &["Transfer-Encoding: chunked"],
                "3\r\nxyz\r\n0\r\n\r\n",
            ),
            "xyz",
        ),
    ] {
        let ex = exchange(gate.addr, &bytes, 1, false).await;
        assert_eq!(ex.status(), 200, "{ex:?}");
        let seen = up.seen();
        let last = seen.last().unwrap();
        assert_eq!(
            (last.method.as_str(), &last.body[..]),
            ("GET", body.as_bytes())
        );
    }
    assert_eq!(up.seen().len(), 2);
}
