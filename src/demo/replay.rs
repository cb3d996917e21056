//! Replaying the demo's scenarios through the running sidecars with a real HTTP client, and
//! judging each answer against what the scenario expects.

use super::scenarios::{self, Evidence, Scenario};
use super::table::Row;
use super::upstream::{self, MockToolApi};
use crate::commands::{mint_approval, mint_token, MintOptions};
use anyhow::Context as _;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::path::Path;

/// What the replay got: a row per scenario, and how the loop's approval was minted.
pub(super) struct Replayed {
    pub(super) rows: Vec<Row>,
    pub(super) approval: Option<String>,
}

/// Sends each scenario through its sidecar, one at a time, so that whatever the mock
/// received in between belongs to that request. Identity tokens and the approval are
/// minted as `toolgate token` and `toolgate approve` mint them, with the keys in `keys`.
pub(super) async fn replay(
    plain: &str,
    signed: &str,
    keys: &Path,
    mock: &MockToolApi,
    all: &[Scenario],
) -> anyhow::Result<Replayed> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut rows = Vec::with_capacity(all.len());
    // The body of the last 409 that carried an approval_request, and the approval minted
    // for it (with a line that says so).
    let mut deferred: Option<(String, Bytes)> = None;
    let mut approval: Option<(String, String)> = None;
    for s in all {
        let base = if s.evidence.signed() { signed } else { plain };
        let mut req = Request::builder()
            .method(s.method)
            .uri(format!("{base}{}", s.target));
        for (k, v) in s.headers {
            req = req.header(*k, *v);
        }
        if let Some(claims) = s.evidence.claims() {
            let token = identity_token(keys, claims)
                .with_context(|| format!("{}: identity token", s.name))?;
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Evidence::Approved { approver, .. } = s.evidence {
            if approval.is_none() {
                let (from, body) = deferred.as_ref().with_context(|| {
                    format!("{}: no approval_request to approve before it", s.name)
                })?;
                let minted = mint_approval(
                    body,
                    approver,
                    &MintOptions {
                        key: &keys.join(scenarios::APPROVAL_KEY),
                        alg: None,
                        kid: None,
                        ttl: jiff::SignedDuration::from_mins(15),
                        now: None,
                    },
                )
                .with_context(|| format!("{}: approval", s.name))?;
                anyhow::ensure!(
                    minted.warnings.is_empty(),
                    "{}: approval: {}",
                    s.name,
                    minted.warnings.join("; ")
                );
                let line = approval_line(from, body, approver);
                approval = Some((minted.token, line));
            }
            if let Some((token, _)) = &approval {
                req = req.header("x-approval", token.as_str());
            }
        }
        if s.body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Full::new(Bytes::from(s.body.unwrap_or_default())))?;
        let before = mock.received().len();
        let resp = client
            .request(req)
            .await
            .with_context(|| format!("{}: request failed", s.name))?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?")
                .to_owned()
        };
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let strings = |key: &str| -> Vec<String> {
            json.get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let verdict = header("x-toolgate-verdict");
        if verdict == "DEFER" && json.get("approval_request").is_some() {
            deferred = Some((s.name.to_owned(), body.clone()));
        }
        rows.push(Row {
            scenario: s.name.to_owned(),
            status: parts.status.as_u16(),
            // A forwarded response is the tool's own JSON: its fields are not a decision.
            issues: if verdict == "ALLOW" {
                vec![]
            } else {
                strings("issues")
            },
            questions: if verdict == "ALLOW" {
                vec![]
            } else {
                strings("defer_questions")
            },
            verdict,
            request_id: header("x-request-id"),
            policy_version: header("x-toolgate-policy-version"),
            upstream: mock.received().get(before).map(upstream::Received::summary),
        });
    }
    Ok(Replayed {
        rows,
        approval: approval.map(|(_, line)| line),
    })
}

/// An identity token for `claims` from the signed bundle's example identity key, as
/// `toolgate token` mints it, valid for ten minutes.
pub(super) fn identity_token(
    keys: &Path,
    claims: &str,
) -> Result<String, crate::commands::MintError> {
    mint_token(
        claims.as_bytes(),
        &MintOptions {
            key: &keys.join(scenarios::IDENTITY_KEY),
            alg: None,
            kid: Some(scenarios::IDENTITY_KID),
            ttl: jiff::SignedDuration::from_mins(10),
            now: None,
        },
    )
}

/// What the reviewer approved, for the line under the table.
fn approval_line(from: &str, body: &[u8], approver: &str) -> String {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let b = &json["approval_request"]["binding"];
    let field = |k: &str| b[k].as_str().unwrap_or("-").to_owned();
    format!(
        "{from}: approved by {approver} (toolgate approve, ttl 15m), bound to\n  \
         route {}, {} {}, environment {}, actor {}",
        field("route"),
        field("method"),
        field("path"),
        field("environment"),
        field("actor")
    )
}

/// How a row differs from its scenario's expectation, if it does.
pub(super) fn unexpected(s: &Scenario, r: &Row, mock: &MockToolApi) -> Option<String> {
    let e = &s.expect;
    if (r.status, r.verdict.as_str()) != (e.status, e.verdict) {
        return Some(format!(
            "got {} {}, expected {} {}",
            r.status, r.verdict, e.status, e.verdict
        ));
    }
    if r.upstream.is_some() != e.forwarded {
        return Some(format!(
            "the tool API {} it",
            if e.forwarded {
                "never received"
            } else {
                "received"
            }
        ));
    }
    if let Some(issue) = e.issue {
        if !r.issues.iter().any(|i| i == issue) {
            return Some(format!("no {issue} among {:?}", r.issues));
        }
    }
    if e.forwarded {
        // A forwarded request carries its decision's id to the tool: one id end to end.
        let received = mock.received();
        let Some(got) = received
            .iter()
            .find(|got| got.request_id.as_deref() == Some(r.request_id.as_str()))
        else {
            return Some(format!(
                "the tool API never saw request_id {}",
                r.request_id
            ));
        };
        // The signed sidecar strips the approval: the tool sees the request, not the proof.
        if got.approval {
            return Some("the tool API received x-approval".into());
        }
    }
    None
}
