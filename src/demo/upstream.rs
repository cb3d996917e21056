//! A mock of the three tool APIs behind `policies/tools` (payments, deploy, database): a
//! small hyper server that answers the bundle's routes with plausible JSON and records
//! every request it receives, so the demo can show what reached the tool and what never
//! did. It trusts its caller completely, as a real tool behind a sidecar does: it binds
//! loopback only and checks nothing.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// One request as the mock tool API received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub method: String,
    /// Path and query, as they arrived.
    pub target: String,
    /// The `x-request-id` toolgate forwarded (its decision's id).
    pub request_id: Option<String>,
    /// The `x-toolgate-verdict` toolgate forwarded.
    pub verdict: Option<String>,
    /// Whether an `x-approval` header arrived (a signed sidecar strips it).
    pub approval: bool,
    pub body_len: usize,
}

impl Received {
    /// `METHOD target`, plus the body size when there is one: the demo table's cell.
    pub fn summary(&self) -> String {
        match self.body_len {
            0 => format!("{} {}", self.method, self.target),
            n => format!("{} {} ({n} B body)", self.method, self.target),
        }
    }
}

/// The running mock. Dropping it does not stop the server: it runs until the runtime ends.
#[derive(Clone)]
pub struct MockToolApi {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Received>>>,
}

impl MockToolApi {
    /// Serves on `listener` (HTTP/1.1 and h2c) in a background task.
    pub fn start(listener: TcpListener) -> std::io::Result<MockToolApi> {
        let addr = listener.local_addr()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = log.clone();
        tokio::spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "mock tool API: accept failed");
                        continue;
                    }
                };
                let log = shared.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| answer(req, log.clone()));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(MockToolApi { addr, log })
    }

    /// `http://ip:port`, for toolgate's `upstream.url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

async fn answer(
    req: Request<Incoming>,
    log: Arc<Mutex<Vec<Received>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    if let Ok(mut l) = log.lock() {
        l.push(Received {
            method: parts.method.to_string(),
            target,
            request_id: header("x-request-id"),
            verdict: header("x-toolgate-verdict"),
            approval: parts.headers.contains_key("x-approval"),
            body_len: body.len(),
        });
    }
    let sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (status, reply) = route(&parts.method, parts.uri.path(), &sent);
    let mut resp = Response::new(Full::new(Bytes::from(reply.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// What each tool API answers. The ids are fixed: the mock keeps no state.
fn route(method: &Method, path: &str, sent: &Value) -> (StatusCode, Value) {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let field = |k: &str| sent.get(k).cloned().unwrap_or(Value::Null);
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["payments", "v1", "payouts", id]) => (
            StatusCode::OK,
            json!({"id": id, "status": "paid", "amount": 500, "currency": "EUR",
                   "destination": "acct-1"}),
        ),
        ("POST", ["payments", "v1", "payouts"]) => (
            StatusCode::CREATED,
            json!({"id": "po-2001", "status": "pending", "amount": field("amount"),
                   "currency": field("currency"), "destination": field("destination")}),
        ),
        ("POST", ["payments", "v1", "refunds"]) => (
            StatusCode::CREATED,
            json!({"id": "re-3001", "status": "pending", "amount": field("amount")}),
        ),
        ("POST", ["deploy", "v1", "deployments"]) => (
            StatusCode::ACCEPTED,
            json!({"id": "dep-4001", "status": "rolling_out", "service": field("service"),
                   "release": field("release"), "environment": field("environment")}),
        ),
        ("POST", ["deploy", "v1", "migrations"]) => (
            StatusCode::ACCEPTED,
            json!({"id": "mig-5001", "status": "running", "service": field("service"),
                   "environment": field("environment")}),
        ),
        ("GET", ["db", "v1", "tenants", id]) => (
            StatusCode::OK,
            json!({"id": id, "name": "Acme GmbH", "plan": "enterprise", "region": "eu-central"}),
        ),
        ("DELETE", ["db", "v1", "tenants", id]) => {
            (StatusCode::OK, json!({"id": id, "deleted": true}))
        }
        _ => (
            StatusCode::NOT_FOUND,
            json!({"error": "not_found", "path": path}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_example_bundle_has_an_answer() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tools");
        let snapshot = crate::bundle::load(&dir, jiff::Timestamp::now()).unwrap();
        for r in &snapshot.routes {
            // `/db/v1/tenants/{id}` -> `/db/v1/tenants/x1`
            let path: Vec<&str> = r
                .path
                .split('/')
                .map(|s| if s.starts_with('{') { "x1" } else { s })
                .collect();
            let (status, _) = route(&r.method, &path.join("/"), &Value::Null);
            assert!(status.is_success(), "{} {}", r.method, r.path);
        }
        let (status, _) = route(&Method::GET, "/payments/v1/balances", &Value::Null);
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_created_payout_echoes_what_was_sent() {
        let sent = json!({"amount": 500, "currency": "EUR", "destination": "acct-1"});
        let (_, reply) = route(&Method::POST, "/payments/v1/payouts", &sent);
        assert_eq!(reply["amount"], 500);
        assert_eq!(reply["destination"], "acct-1");
    }
}
