//! A signed sidecar and the review inbox in this process, sharing one state store (the
//! sidecar's in-process one, or a Redis the test started), over real sockets: the shipped
//! `policies/tools-signed` bundle (its example keys mint identity tokens; the inbox signs
//! with its example approval key), a recording upstream, and the test's clock for all.

use super::{call, Gate, Reply, TestClock, Upstream};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
use toolgate::commands::{mint_token, MintOptions};
use toolgate::config::Config;
use toolgate::inbox::Inbox;

pub const BUNDLE: &str = "policies/tools-signed";
/// The reviewer the tests' authenticating proxy asserts, and their groups.
pub const LEAD: (&str, &str) = ("lead@example.com", "payments-lead");
/// A payout body (under the bundle's max_amount) and its route.
pub const PAYOUT: &str = r#"{"amount":2500,"currency":"EUR","destination":{"account_number":"DE89370400440532013000","name":"<b>ACME</b>"}}"#;
pub const PAYOUTS: &str = "/payments/v1/payouts";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The example keys of the bundle.
pub fn keys() -> PathBuf {
    root().join(BUNDLE).join("example-private-keys")
}

/// A sidecar in front of a recording upstream and an inbox over the same store.
pub struct ReviewSetup {
    /// Holds the audit file.
    pub dir: tempfile::TempDir,
    /// The audit trail both write (JSON lines): requests, and review decisions.
    pub audit: PathBuf,
    pub up: Upstream,
    pub gate: Gate,
    pub inbox: SocketAddr,
    pub inbox_state: Arc<Inbox>,
}

/// The config both share: where the inbox is, its signing key, and `tweak`'s changes.
pub fn config(inbox: SocketAddr, tweak: impl FnOnce(&mut Config)) -> Config {
    let mut cfg = Config::default();
    cfg.review.url = Some(format!("http://{inbox}"));
    cfg.review.signing_key = Some(keys().join("approvals.ed25519.key.pem"));
    tweak(&mut cfg);
    cfg
}

impl ReviewSetup {
    /// The sidecar and the inbox on the sidecar's (in-process) state store.
    pub async fn start() -> ReviewSetup {
        let up = Upstream::start().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let inbox = listener.local_addr().unwrap();
        let snapshot = toolgate::bundle::load(&root().join(BUNDLE), super::NOW.parse().unwrap())
            .unwrap_or_else(|e| panic!("{e}"));
        let cfg = config(inbox, |_| {});
        let for_gate = cfg.clone();
        let (dir, audit, ops) = ops_with_audit_file(&cfg);
        let gate = Gate::start_with_ops(
            snapshot,
            &up.url(),
            move |c| {
                c.review = for_gate.review.clone();
            },
            ops,
        )
        .await;
        let inbox_state = Arc::new(
            toolgate::inbox::start::build(&cfg, gate.ops.clone(), gate.clock.clock()).unwrap(),
        );
        serve_inbox(inbox_state.clone(), listener);
        ReviewSetup {
            dir,
            audit,
            up,
            gate,
            inbox,
            inbox_state,
        }
    }

    pub fn clock(&self) -> &TestClock {
        &self.gate.clock
    }

    /// An identity token for `sub` with `roles`, at the test clock's now.
    pub fn token(&self, sub: &str, roles: &[&str]) -> String {
        agent_token(sub, roles, (self.gate.clock.clock())())
    }

    /// `method path` as agent-7 (finance_operator) in production, with `body`.
    pub async fn agent(&self, method: &str, path: &str, body: &str) -> Reply {
        let bearer = format!("Bearer {}", self.token("agent-7", &["finance_operator"]));
        let headers = [
            ("authorization", bearer.as_str()),
            ("x-environment", "production"),
            ("content-type", "application/json"),
        ];
        call(self.gate.addr, method, path, &headers, body).await
    }

    /// A request to the inbox as `reviewer` (name, groups), or as nobody.
    pub async fn inbox(
        &self,
        method: &str,
        path: &str,
        reviewer: Option<(&str, &str)>,
        extra: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if let Some((name, groups)) = reviewer {
            headers.push(("x-forwarded-email", name));
            headers.push(("x-forwarded-groups", groups));
        }
        call(self.inbox, method, path, &headers, body).await
    }

    /// Approves review `id` through the JSON API as `reviewer`.
    pub async fn approve(&self, id: &str, reviewer: (&str, &str), ttl: i64) -> Reply {
        let body = format!(r#"{{"ttl_seconds":{ttl}}}"#);
        let ct = [("content-type", "application/json")];
        self.inbox(
            "POST",
            &format!("/api/reviews/{id}/approve"),
            Some(reviewer),
            &ct,
            &body,
        )
        .await
    }

    /// Rejects review `id` through the JSON API as `reviewer`.
    pub async fn reject(&self, id: &str, reviewer: (&str, &str), reason: &str) -> Reply {
        let body = serde_json::json!({ "reason": reason }).to_string();
        let ct = [("content-type", "application/json")];
        self.inbox(
            "POST",
            &format!("/api/reviews/{id}/reject"),
            Some(reviewer),
            &ct,
            &body,
        )
        .await
    }
}

/// Operations with the in-process store whose audit trail is a file, and whose written
/// records are shared as decision traces through the store (as `toolgate serve` does).
fn ops_with_audit_file(cfg: &Config) -> (tempfile::TempDir, PathBuf, Arc<toolgate::ops::Ops>) {
    use toolgate::audit::{AuditOptions, AuditSink};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let metrics = toolgate::metrics::Metrics::new(&prometheus::Registry::new(), "test").unwrap();
    let (tap, traces) = toolgate::state::traces::channel(1000);
    let opts = AuditOptions::new(1024, metrics.audit_dropped()).tap(tap);
    let audit = AuditSink::file(&path, opts).unwrap();
    let state = toolgate::state::StateStore::memory(&cfg.state, metrics.state.clone());
    let ops = Arc::new(toolgate::ops::Ops::new(metrics, audit, None, state));
    if let Some(rx) = traces {
        let shared = ops.clone();
        tokio::spawn(async move { toolgate::state::traces::ship(&shared.state, rx, 1000).await });
    }
    (dir, path, ops)
}

/// The audit file's lines, as JSON.
pub fn audit_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// An identity token from the bundle's example identity provider.
pub fn agent_token(sub: &str, roles: &[&str], now: jiff::Timestamp) -> String {
    let claims = serde_json::json!({
        "iss": "https://idp.example.test", "aud": "toolgate", "sub": sub, "roles": roles,
    });
    mint_token(
        claims.to_string().as_bytes(),
        &MintOptions {
            key: &keys().join("idp.es256.key.pem"),
            alg: None,
            kid: Some("example-idp-2026-03"),
            ttl: jiff::SignedDuration::from_hours(1),
            now: Some(now),
        },
    )
    .unwrap()
}

/// Serves `inbox` on `listener` until the test ends.
pub fn serve_inbox(inbox: Arc<Inbox>, listener: TcpListener) {
    tokio::spawn(async move {
        let _ = inbox.run(listener, None, std::future::pending()).await;
    });
}

/// The review id of a 409.
pub fn review_id(r: &Reply) -> String {
    r.json()["review"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no review in {:?}", r.body))
        .to_owned()
}

/// A path under the repository.
pub fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}
