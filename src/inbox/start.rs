//! `toolgate review` put together from the config: the signing key, where reviewers come
//! from, the state store it shares with the sidecars, its audit lines and metrics, and the
//! webhook; then the listener, until shutdown.

use super::reviewer::ReviewerSource;
use super::webhook::{Webhook, WebhookMetrics, WebhookSettings};
use super::Inbox;
use crate::clock::Clock;
use crate::config::Config;
use crate::jose::keys::SigningKey;
use crate::metrics::Metrics;
use crate::ops::Ops;
use crate::state::StateStore;
use anyhow::Context;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The inbox for `cfg.review` over `ops` (whose state store the sidecars share).
pub fn build(cfg: &Config, ops: Arc<Ops>, clock: Clock) -> anyhow::Result<Inbox> {
    let r = &cfg.review;
    let path = r
        .signing_key
        .as_deref()
        .context("review.signing_key: required by toolgate review")?;
    let bytes = std::fs::read(path)
        .with_context(|| format!("review.signing_key {}: cannot read", path.display()))?;
    let signer = SigningKey::parse(&bytes, None)
        .map_err(|e| anyhow::anyhow!("review.signing_key {}: {e}", path.display()))?;
    let reviewers = match r.client_ca {
        Some(_) => ReviewerSource::ClientCert,
        None => ReviewerSource::Header {
            name: r
                .reviewer_header
                .parse()
                .context("review.reviewer_header")?,
            roles: r.roles_header.parse().context("review.roles_header")?,
        },
    };
    // Every replica holding the signing key derives the same CSRF key from it, so a form
    // served by one is accepted by another.
    let csrf = super::csrf::Csrf::new(&bytes);
    Ok(Inbox {
        ops,
        signer,
        key_id: r.key_id.clone(),
        csrf,
        reviewers,
        url: r.url.clone(),
        clock,
        header_read_timeout: cfg.limits.header_read_timeout.get(),
    })
}

/// Refuses a signing key whose approvals the bundle (`policies`) would not accept: every
/// approval it signed would be refused at the sidecar as APPROVAL_SIGNATURE_INVALID.
pub fn check_key(cfg: &Config, inbox: &Inbox) -> anyhow::Result<()> {
    let dir = cfg.policies.as_deref().context("policies: required")?;
    let now = (inbox.clock)();
    let snapshot = crate::bundle::load(dir, now)
        .map_err(|e| anyhow::anyhow!("policy bundle {}:\n{e}", dir.display()))?;
    let verifier = snapshot.trust.approvals.as_ref().with_context(|| {
        format!(
            "policy bundle {}: approvals are not signed (approval.source: signed); the inbox has nothing to sign for it",
            dir.display()
        )
    })?;
    let probe = crate::approval::Binding::default();
    let (token, _) = crate::approval::request::mint_claims(
        &inbox.signer,
        inbox.key_id.as_deref(),
        &probe,
        "toolgate-review-key-check",
        now,
        jiff::SignedDuration::from_secs(60),
    )
    .map_err(|e| anyhow::anyhow!("review.signing_key: {e}"))?;
    verifier.verify(&token, now).map_err(|e| {
        anyhow::anyhow!(
            "review.signing_key: the bundle {} does not accept approvals signed with it ({e:?}); use the private half of its approval key",
            dir.display()
        )
    })?;
    Ok(())
}

/// Starts the webhook notifier when `cfg.review.webhook` is set.
pub fn notifier(
    cfg: &Config,
    inbox: &Arc<Inbox>,
    registry: &prometheus::Registry,
) -> anyhow::Result<()> {
    let Some(w) = &cfg.review.webhook else {
        return Ok(());
    };
    let settings = WebhookSettings {
        url: w.url.parse().context("review.webhook.url")?,
        timeout: w.timeout.get(),
        attempts: w.attempts,
        backoff: Duration::from_secs(1),
    };
    let hook = Webhook::start(settings, WebhookMetrics::register(registry)?);
    tokio::spawn(inbox.clone().notify_new(hook));
    Ok(())
}

/// `toolgate review`: serves the inbox on `review.listen` until `shutdown` completes.
pub async fn serve(cfg: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let mut taken = vec![cfg.listen, cfg.admin_listen];
    taken.extend(cfg.decision_api.listen);
    let problems = cfg.review.inbox_problems(&taken);
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(|(p, m)| format!("{p}: {m}")).collect();
        anyhow::bail!(lines.join("\n"));
    }
    let registry = prometheus::Registry::new();
    let metrics = Metrics::new(&registry, crate::ops::BUILD_VERSION)?;
    let audit = Ops::audit_sink(&cfg, &metrics, None)?;
    let state = StateStore::connect(&cfg.state, metrics.state.clone()).await?;
    if state.backend() == "memory" {
        tracing::warn!("state.url is memory: this inbox sees only its own process's reviews; point it and the sidecars at one Redis (state.url)");
    }
    let ops = Arc::new(Ops::new(metrics, audit, None, state));
    let inbox = Arc::new(build(&cfg, ops.clone(), crate::clock::system_clock())?);
    check_key(&cfg, &inbox)?;
    notifier(&cfg, &inbox, &registry)?;
    let tls = match (&cfg.tls, &cfg.review.client_ca) {
        (Some(t), ca) => Some(crate::server::tls::acceptor(
            &t.cert,
            &t.key,
            ca.as_deref().or(t.client_ca.as_deref()),
        )?),
        (None, Some(_)) => anyhow::bail!(
            "review.client_ca: needs tls.cert and tls.key (the inbox then listens with TLS)"
        ),
        (None, None) => None,
    };
    let listener = TcpListener::bind(cfg.review.listen)
        .await
        .map_err(|e| anyhow::anyhow!("review.listen {}: {e}", cfg.review.listen))?;
    inbox.run(listener, tls, shutdown).await?;
    ops.audit.flush_and_close().await;
    Ok(())
}
