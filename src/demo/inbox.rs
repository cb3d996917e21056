//! The demo's review inbox: `toolgate review`'s inbox in this process, sharing the signed
//! sidecar's (in-process) state store, behind a stand-in for the authenticating proxy
//! that says who the reviewer is (`x-forwarded-email`, as oauth2-proxy does), so a person
//! can open it in a browser. And the replay of the review loop through it: a payout held,
//! retried while pending, approved through the inbox's HTTP API, retried and forwarded
//! once; a refund held, rejected, and its retry denied with the reason.

use super::upstream::MockToolApi;
use crate::inbox::Inbox;
use anyhow::Context as _;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The demo's reviewer, as the stand-in sign-in proxy asserts it.
pub const REVIEWER: &str = "lead@example.com";
/// Their groups: `payments-lead` may approve payouts (the bundle's `reviewer_roles`).
pub const REVIEWER_GROUPS: &str = "payments-lead,finance";
/// The agent whose payouts and refunds are held.
const AGENT: &str = r#"{"iss":"https://idp.example.test","aud":"toolgate","sub":"agent-7","roles":["finance_operator"]}"#;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Serves the inbox on `inbox` and a sign-in stand-in on `front` that forwards every
/// request to it with the demo reviewer's identity headers.
pub fn serve(inbox: Arc<Inbox>, listener: TcpListener, front: TcpListener) -> anyhow::Result<()> {
    let backend = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        if let Err(e) = inbox.run(listener, None, std::future::pending()).await {
            tracing::warn!(error = %e, "demo review inbox stopped");
        }
    });
    let client: Client<HttpConnector, Incoming> =
        Client::builder(TokioExecutor::new()).build_http();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = front.accept().await else {
                continue;
            };
            let (client, backend) = (client.clone(), backend.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    let client = client.clone();
                    let target = format!(
                        "{backend}{}",
                        req.uri().path_and_query().map_or("/", |p| p.as_str())
                    );
                    async move {
                        // Whatever the browser sent as identity is replaced, as the real
                        // proxy does.
                        let h = req.headers_mut();
                        h.insert(
                            "x-forwarded-email",
                            http::HeaderValue::from_static(REVIEWER),
                        );
                        h.insert(
                            "x-forwarded-groups",
                            http::HeaderValue::from_static(REVIEWER_GROUPS),
                        );
                        *req.uri_mut() = target.parse().unwrap_or_default();
                        let resp = match client.request(req).await {
                            Ok(r) => r.map(|b| b.boxed()),
                            Err(_) => Response::builder()
                                .status(502)
                                .body(
                                    Full::new(Bytes::from_static(b"inbox unavailable\n"))
                                        .map_err(|e| match e {})
                                        .boxed(),
                                )
                                .unwrap_or_default(),
                        };
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(())
}

/// One step of the review loop, as printed.
pub struct Step {
    pub step: &'static str,
    pub status: u16,
    pub verdict: String,
    pub review: String,
    pub forwarded: bool,
    pub unexpected: Option<String>,
}

/// Drives the review loop through the signed sidecar at `signed` and the inbox at `inbox`.
pub async fn drive(
    signed: &str,
    inbox: &str,
    keys: &Path,
    mock: &MockToolApi,
) -> anyhow::Result<Vec<Step>> {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let token =
        super::replay::identity_token(keys, AGENT).context("review loop: identity token")?;
    // Unique per run, so a shared Redis does not answer with an earlier run's review.
    let nonce = crate::state::review::new_id().map_err(anyhow::Error::msg)?;
    let payout = json!({"amount": 2500, "currency": "EUR", "destination": {"account_number": "DE89 3704 0044 0532 0130 00", "name": "ACME GmbH"}, "reference": nonce}).to_string();
    let refund = json!({"amount": 900, "currency": "EUR", "payment": "pay-77", "reference": nonce})
        .to_string();
    let agent = |path: &'static str, body: String| {
        let token = token.clone();
        let client = client.clone();
        let url = format!("{signed}{path}");
        async move {
            let req = Request::post(url)
                .header("authorization", format!("Bearer {token}"))
                .header("x-environment", "production")
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))?;
            send(&client, req).await
        }
    };
    let reviewer = |path: String, body: Value| {
        let client = client.clone();
        let url = format!("{inbox}{path}");
        async move {
            let req = Request::post(url)
                .header("x-forwarded-email", REVIEWER)
                .header("x-forwarded-groups", REVIEWER_GROUPS)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.to_string())))?;
            send(&client, req).await
        }
    };
    let mut steps = Vec::new();
    // `sent`: how many requests the tool received during the step; forwarded means once.
    let mut step = |name, got: (u16, String, Value), sent: usize, want: (u16, &str, bool)| {
        let forwarded = sent > 0;
        let (status, verdict, body) = got;
        // The sidecar's 409 says where the request waits; the inbox answers the review.
        let review = match verdict.as_str() {
            "-" => body["status"]
                .as_str()
                .map(|s| format!("{s} by {REVIEWER}")),
            _ => body["review"]["status"]
                .as_str()
                .map(|s| format!("{s} {}", body["review"]["id"].as_str().unwrap_or(""))),
        }
        .unwrap_or_else(|| "-".into());
        let once = usize::from(want.2);
        let unexpected = ((status, verdict.as_str(), sent) != (want.0, want.1, once)).then(|| {
            format!("got {status} {verdict}, the tool received it {sent} times, expected {want:?}: {body}")
        });
        steps.push(Step {
            step: name,
            status,
            verdict,
            review,
            forwarded,
            unexpected,
        });
        body
    };
    let seen = || mock.received().len();

    let before = seen();
    let held = step(
        "payout held for review",
        agent("/payments/v1/payouts", payout.clone()).await?,
        seen() - before,
        (409, "DEFER", false),
    );
    let id = held["review"]["id"].as_str().unwrap_or_default().to_owned();
    let before = seen();
    let again = step(
        "identical retry, still pending",
        agent("/payments/v1/payouts", payout.clone()).await?,
        seen() - before,
        (409, "DEFER", false),
    );
    if again["review"]["id"].as_str() != Some(id.as_str()) {
        anyhow::bail!(
            "review loop: the retry opened another review ({} then {})",
            id,
            again["review"]["id"]
        );
    }
    step(
        "reviewer approves in the inbox",
        reviewer(
            format!("/api/reviews/{id}/approve"),
            json!({"ttl_seconds": 900}),
        )
        .await?,
        0,
        (200, "-", false),
    );
    let before = seen();
    step(
        "identical retry: forwarded once",
        agent("/payments/v1/payouts", payout.clone()).await?,
        seen() - before,
        (201, "ALLOW", true),
    );
    let before = seen();
    step(
        "the same again: a new review",
        agent("/payments/v1/payouts", payout).await?,
        seen() - before,
        (409, "DEFER", false),
    );

    let before = seen();
    let held = step(
        "refund held for review",
        agent("/payments/v1/refunds", refund.clone()).await?,
        seen() - before,
        (409, "DEFER", false),
    );
    let id = held["review"]["id"].as_str().unwrap_or_default().to_owned();
    step(
        "reviewer rejects in the inbox",
        reviewer(
            format!("/api/reviews/{id}/reject"),
            json!({"reason": "duplicate of refund r-12"}),
        )
        .await?,
        0,
        (200, "-", false),
    );
    let before = seen();
    step(
        "identical retry: denied",
        agent("/payments/v1/refunds", refund).await?,
        seen() - before,
        (403, "DENY", false),
    );
    Ok(steps)
}

/// Sends a request: its status, `x-toolgate-verdict` (`-` when none), and JSON body.
async fn send(
    client: &HttpClient,
    req: Request<Full<Bytes>>,
) -> anyhow::Result<(u16, String, Value)> {
    let resp = client
        .request(req)
        .await
        .context("review loop: request failed")?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    let verdict = parts
        .headers
        .get("x-toolgate-verdict")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    Ok((
        parts.status.as_u16(),
        verdict,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    ))
}

/// The steps as a table.
pub fn render(steps: &[Step]) -> String {
    let mut out = format!(
        "{:<34} {:>6}  {:<7}  {:<9}  {}\n",
        "review loop", "status", "verdict", "forwarded", "review"
    );
    for s in steps {
        out.push_str(&format!(
            "{:<34} {:>6}  {:<7}  {:<9}  {}\n",
            s.step,
            s.status,
            s.verdict,
            if s.forwarded { "yes" } else { "no" },
            s.review
        ));
    }
    out
}
