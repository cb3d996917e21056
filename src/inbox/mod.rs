//! The review inbox (`toolgate review`): the requests sidecars hold for a human approval
//! (pending reviews, in the state store), a reviewer's Approve or Reject, and the trace of
//! any decision by request id. It alone holds the approval signing key; it never forwards
//! anything. Server-rendered HTML ([`html`]) with CSRF-protected forms ([`csrf`]), a small
//! JSON API for machines, reviewer identity from a verified source ([`reviewer`]), an
//! audit line per decision, and a webhook for new reviews ([`webhook`]).

pub mod action;
pub mod csrf;
pub mod html;
pub mod reviewer;
mod routes;
pub mod start;
pub mod webhook;

use crate::clock::Clock;
use crate::jose::keys::SigningKey;
use crate::ops::Ops;
use crate::server::service::Endpoint;
use crate::state::review::{Review, ReviewStatus};
use reviewer::{Reviewer, ReviewerSource};
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Connections at once; more wait in the backlog.
const MAX_CONNECTIONS: usize = 256;
/// How often new pending reviews are looked for, to notify the webhook.
const NOTIFY_EVERY: Duration = Duration::from_secs(1);
/// How many reviews a page lists.
pub const LISTED: usize = 200;

/// The inbox: the state store (through `ops`), the key it signs with, who may review.
pub struct Inbox {
    pub ops: Arc<Ops>,
    pub signer: SigningKey,
    pub key_id: Option<String>,
    pub csrf: csrf::Csrf,
    pub reviewers: ReviewerSource,
    /// `review.url`: the base of links in webhooks.
    pub url: Option<String>,
    pub clock: Clock,
    pub header_read_timeout: Duration,
}

impl Inbox {
    /// Serves until `shutdown` completes.
    pub async fn run(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let endpoint = Endpoint {
            name: "review inbox",
            max_connections: MAX_CONNECTIONS,
            header_read_timeout: self.header_read_timeout,
        };
        let handle = move |req, cert: Option<Arc<crate::identity::ClientCert>>| {
            let inbox = self.clone();
            async move { routes::route(&inbox, req, cert.as_deref()).await }
        };
        crate::server::service::serve(endpoint, listener, tls, shutdown, handle).await
    }

    /// Notifies `hook` of each new pending review, once however many inbox replicas run
    /// (the store marks a review notified for the first that asks). Runs until dropped.
    pub async fn notify_new(self: Arc<Self>, hook: webhook::Webhook) {
        let mut seen: HashSet<String> = HashSet::new();
        loop {
            let now = (self.clock)();
            match self.ops.state.reviews(LISTED, now).await {
                Ok(reviews) => {
                    let pending = reviews.iter().filter(|r| r.status == ReviewStatus::Pending);
                    // Only what is still listed is remembered; a failed claim is tried again.
                    seen.retain(|id| reviews.iter().any(|r| &r.id == id));
                    for r in pending {
                        if seen.contains(&r.id) {
                            continue;
                        }
                        match self.ops.state.review_notify(&r.id, now).await {
                            Ok(first) => {
                                seen.insert(r.id.clone());
                                if first {
                                    hook.notify(self.notice(r));
                                }
                            }
                            Err(e) => {
                                tracing::debug!(review_id = r.id, error = %e, "review inbox: notify claim failed; retried next round")
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "review inbox: cannot list reviews to notify")
                }
            }
            tokio::time::sleep(NOTIFY_EVERY).await;
        }
    }

    fn notice(&self, r: &Review) -> webhook::Notice {
        let base = self.url.as_deref().unwrap_or("").trim_end_matches('/');
        webhook::Notice {
            review_id: r.id.clone(),
            url: format!("{base}/reviews/{}", r.id),
            goal: r.record.approval.goal.clone(),
            route: r.record.route.clone(),
            tool: r.record.tool.clone(),
            actor: r.record.actor.clone(),
            environment: r.record.environment.clone(),
            issues: r.record.issues.clone(),
        }
    }

    /// One audit line per decision: who decided what, on which deferred request.
    fn audit_action(&self, r: &Review, reviewer: &Reviewer, now: jiff::Timestamp) {
        let d = r.decided.as_ref();
        let line = serde_json::json!({
            "ts": now.to_string(),
            "event": "review_decision",
            "review_id": r.id,
            "request_id": r.record.approval.request_id,
            "policy_version": r.record.approval.policy_version,
            "route": r.record.route,
            "mcp_tool": r.record.tool,
            "environment": r.record.environment,
            "actor": r.record.actor,
            "reviewer": reviewer.name,
            "decision": r.status.as_str(),
            "reason": d.map(|d| d.reason.as_str()).filter(|s| !s.is_empty()),
            "approval_expires_at": d.filter(|d| d.exp > 0).and_then(|d| jiff::Timestamp::from_second(d.exp).ok()).map(|t| t.to_string()),
        });
        tracing::info!(
            review_id = r.id,
            reviewer = reviewer.name,
            decision = r.status.as_str(),
            "review decided"
        );
        self.ops.audit.line(&r.id, line.to_string());
    }
}
