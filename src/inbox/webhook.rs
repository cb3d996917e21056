//! The review webhook: tells an optional receiver (Slack or anything that takes JSON) that a
//! new pending review is waiting, with a link to it. Owns the notice, its JSON body (Slack's
//! incoming-webhook shape, mrkdwn-escaped), the bounded queue, the one background task that
//! posts in order with bounded retries, and the two counters of how that went.
//!
//! Nothing here is on the request path: [`Webhook::notify`] only offers the notice to the
//! queue; a full queue, a slow or failing receiver only cost a dropped notice, a warn log
//! and a `failed` count.
//!
//! Transport: hyper's connection-level HTTP/1.1 client over a fresh TCP connection per
//! attempt (notices are rare, so pooling buys nothing), wrapped in rustls (ring provider)
//! for `https://`. The roots are the system's PEM bundle (`SSL_CERT_FILE`, else the usual
//! distribution paths), parsed with `rustls::pki_types::pem`: no webpki-roots, no
//! aws-lc.

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{header, Method, Request, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use prometheus::{IntCounterVec, Opts, Registry};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;

/// Notices waiting to be posted; past this, new ones are dropped (and counted as failed).
const QUEUE: usize = 256;
/// However many attempts are configured, no wait between two grows past this.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How much of a refusing receiver's body goes into the log (Slack explains itself there:
/// `invalid_blocks`, `no_service`...).
const ERROR_BODY: usize = 256;
/// Budgets, in escaped bytes, for attacker-controlled fields in the Slack text: a section
/// block's text is refused past 3000 characters, and a refused body would fail every retry.
const GOAL_BUDGET: usize = 600;
const FIELD_BUDGET: usize = 150;
const ISSUES_BUDGET: usize = 600;
/// Where the system CA bundle usually is (Debian/Ubuntu/Alpine, RHEL/Fedora, Alpine/BSD),
/// when `SSL_CERT_FILE` does not say.
const SYSTEM_ROOTS: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Where and how to post (from config; the lead engineer wires it).
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// `http://` or `https://`; its path and query may hold a secret and are never logged.
    pub url: Uri,
    /// Per attempt: connect, TLS, request and response head together. Default 5s.
    pub timeout: Duration,
    /// Attempts in all, the first included (0 is taken as 1). Default 3.
    pub attempts: u32,
    /// The wait before the first retry, doubled before each next one. Default 1s.
    pub backoff: Duration,
}

/// What one notification says.
#[derive(Clone, Debug, serde::Serialize, PartialEq)]
pub struct Notice {
    pub review_id: String,
    /// The link to the review page.
    pub url: String,
    pub goal: String,
    pub route: String,
    pub tool: Option<String>,
    pub actor: Option<String>,
    pub environment: Option<String>,
    pub issues: Vec<String>,
}

/// Counts per outcome: `toolgate_review_webhook_total{result="sent|failed"}` and
/// `toolgate_review_webhook_attempts_total{result="ok|error|timeout"}`.
#[derive(Clone)]
pub struct WebhookMetrics {
    notices: IntCounterVec,
    attempts: IntCounterVec,
}

impl WebhookMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<WebhookMetrics> {
        let notices = IntCounterVec::new(
            Opts::new(
                "toolgate_review_webhook_total",
                "Pending-review notices to the review webhook, by outcome: sent, or failed \
                 (attempts exhausted, queue full, or the webhook unusable).",
            ),
            &["result"],
        )?;
        registry.register(Box::new(notices.clone()))?;
        let attempts = IntCounterVec::new(
            Opts::new(
                "toolgate_review_webhook_attempts_total",
                "POSTs to the review webhook, by outcome: ok (2xx), error, or timeout.",
            ),
            &["result"],
        )?;
        registry.register(Box::new(attempts.clone()))?;
        // Every series exists from the start, so a rate over it is never "no data".
        for r in ["sent", "failed"] {
            notices.with_label_values(&[r]);
        }
        for r in ["ok", "error", "timeout"] {
            attempts.with_label_values(&[r]);
        }
        Ok(WebhookMetrics { notices, attempts })
    }

    fn notice(&self, result: &str) {
        self.notices.with_label_values(&[result]).inc();
    }

    fn attempt(&self, result: &str) {
        self.attempts.with_label_values(&[result]).inc();
    }
}

/// A bounded queue (capacity 256) and one task that posts in order; `notify` never waits:
/// when the queue is full the notice is dropped and counted as failed (with a warn log).
/// The task ends when the last clone is dropped.
#[derive(Clone)]
pub struct Webhook {
    queue: mpsc::Sender<Notice>,
    metrics: WebhookMetrics,
}

impl Webhook {
    /// Must be called inside a tokio runtime.
    pub fn start(settings: WebhookSettings, metrics: WebhookMetrics) -> Webhook {
        Webhook::start_with(settings, metrics, None)
    }

    /// `roots`: the trust anchors for `https://`; `None` loads the system's.
    fn start_with(
        settings: WebhookSettings,
        metrics: WebhookMetrics,
        roots: Option<rustls::RootCertStore>,
    ) -> Webhook {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(settings, metrics.clone(), roots, rx));
        Webhook { queue, metrics }
    }

    pub fn notify(&self, notice: Notice) {
        if let Err(e) = self.queue.try_send(notice) {
            let (reason, notice) = match e {
                mpsc::error::TrySendError::Full(n) => ("queue full", n),
                mpsc::error::TrySendError::Closed(n) => ("webhook task gone", n),
            };
            tracing::warn!(review_id = %notice.review_id, reason, "review webhook notice dropped");
            self.metrics.notice("failed");
        }
    }
}

/// The webhook's address, taken apart once.
struct Target {
    /// `scheme://host[:port]`: all of the URL that may be logged.
    shown: String,
    /// For connecting and for the TLS server name: no brackets around an IPv6 literal.
    host: String,
    port: u16,
    /// The `Host` header: host and explicit port, never user info.
    authority: String,
    path: PathAndQuery,
    https: bool,
}

impl Target {
    fn parse(url: &Uri) -> Result<Target, String> {
        let https = match url.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("the url is neither http:// nor https://".into()),
        };
        let auth = url.authority().ok_or("the url has no host")?;
        let bracketed = auth.host();
        let authority = match auth.port_u16() {
            Some(p) => format!("{bracketed}:{p}"),
            None => bracketed.to_owned(),
        };
        Ok(Target {
            shown: format!("{}://{authority}", if https { "https" } else { "http" }),
            host: bracketed
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: auth.port_u16().unwrap_or(if https { 443 } else { 80 }),
            authority,
            path: url
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
            https,
        })
    }
}

/// The background task: one notice at a time, in queue order.
async fn run(
    settings: WebhookSettings,
    metrics: WebhookMetrics,
    roots: Option<rustls::RootCertStore>,
    mut rx: mpsc::Receiver<Notice>,
) {
    // An unusable webhook is logged once here, and each notice is still counted as failed.
    let transport = match Target::parse(&settings.url) {
        Err(e) => Err(e),
        Ok(t) if !t.https => Ok((t, None)),
        Ok(t) => match roots {
            Some(r) => Ok((t, Some(connector(r)))),
            None => system_roots().await.map(|r| (t, Some(connector(r)))),
        },
    };
    if let Err(e) = &transport {
        tracing::error!(error = %e, "review webhook unusable: every notice will count as failed");
    }
    while let Some(notice) = rx.recv().await {
        let review_id = notice.review_id.as_str();
        let Ok((target, tls)) = &transport else {
            tracing::warn!(review_id, "review webhook unusable: notice dropped");
            metrics.notice("failed");
            continue;
        };
        let payload = Bytes::from(body(&notice).to_string());
        let attempts = settings.attempts.max(1);
        let mut delay = settings.backoff;
        let mut sent = false;
        for attempt in 1..=attempts {
            let post = post(target, tls.as_ref(), payload.clone());
            let (result, error) = match tokio::time::timeout(settings.timeout, post).await {
                Ok(Ok(())) => ("ok", None),
                Ok(Err(e)) => ("error", Some(e)),
                Err(_) => (
                    "timeout",
                    Some(format!("no answer within {:?}", settings.timeout)),
                ),
            };
            metrics.attempt(result);
            let Some(e) = error else {
                tracing::debug!(review_id, attempt, webhook = %target.shown, "webhook posted");
                sent = true;
                break;
            };
            tracing::warn!(review_id, attempt, webhook = %target.shown, error = %e, "webhook post failed");
            if attempt < attempts {
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2).min(MAX_BACKOFF);
            }
        }
        if sent {
            metrics.notice("sent");
        } else {
            metrics.notice("failed");
            tracing::warn!(review_id, attempts, webhook = %target.shown, "webhook gave up on the notice");
        }
    }
}

/// One attempt on a fresh connection: a 2xx, or why not (a refusal's start of body
/// included, for the log).
async fn post(target: &Target, tls: Option<&TlsConnector>, payload: Bytes) -> Result<(), String> {
    let request = Request::builder()
        .method(Method::POST)
        .uri(target.path.clone())
        .header(header::HOST, &target.authority)
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::USER_AGENT,
            concat!("toolgate/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(payload))
        .map_err(|e| format!("request: {e}"))?;
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    match tls {
        None => exchange(TokioIo::new(tcp), request).await,
        Some(tls) => {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|e| format!("tls server name: {e}"))?;
            let stream = tls
                .connect(name, tcp)
                .await
                .map_err(|e| format!("tls: {e}"))?;
            exchange(TokioIo::new(stream), request).await
        }
    }
}

async fn exchange<T>(io: T, request: Request<Full<Bytes>>) -> Result<(), String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    // The connection is driven on its own task, aborted however this attempt ends (a
    // timeout drops this future mid-way), so no socket outlives its attempt.
    let _driver = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    // Only the start of the body: a receiver may send pages of HTML.
    let (mut body, mut said) = (response.into_body(), Vec::new());
    while said.len() < ERROR_BODY {
        match body.frame().await {
            Some(Ok(frame)) => said.extend_from_slice(frame.data_ref().map_or(&[][..], |d| d)),
            _ => break,
        }
    }
    said.truncate(ERROR_BODY);
    match String::from_utf8_lossy(&said).trim() {
        "" => Err(format!("status {status}")),
        said => Err(format!("status {status}: {said:?}")),
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn connector(roots: rustls::RootCertStore) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// The system's trust anchors: `SSL_CERT_FILE` if set, else the first usual bundle that
/// yields any certificate.
async fn system_roots() -> Result<rustls::RootCertStore, String> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let candidates: Vec<std::path::PathBuf> = match from_env {
        Some(p) => vec![p],
        None => SYSTEM_ROOTS.iter().map(Into::into).collect(),
    };
    let mut tried = Vec::new();
    for path in candidates {
        let pem = match tokio::fs::read(&path).await {
            Ok(pem) => pem,
            Err(e) => {
                tried.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let mut roots = rustls::RootCertStore::empty();
        // A bundle may carry a certificate rustls cannot use; the others still count.
        roots
            .add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok));
        if !roots.is_empty() {
            return Ok(roots);
        }
        tried.push(format!("{}: no usable certificate", path.display()));
    }
    Err(format!(
        "https needs CA roots, and none were found ({})",
        tried.join("; ")
    ))
}

/// The JSON body posted: Slack's incoming-webhook shape `{"text": "...", "blocks": [...]}`
/// with the plain-text summary in `text` and a `section` block in mrkdwn; plus the raw
/// fields under `"toolgate"` for non-Slack receivers. Every field but the review link comes
/// from the request (attacker-controlled): Slack's control characters `&`, `<`, `>` are
/// escaped so none can make a link or a mention, and each is clipped so the block stays
/// under Slack's size limit.
pub fn body(notice: &Notice) -> serde_json::Value {
    let goal = if notice.goal.trim().is_empty() {
        "(no goal)".to_owned()
    } else {
        mrkdwn(&notice.goal, GOAL_BUDGET)
    };
    let route = mrkdwn(&notice.route, FIELD_BUDGET);
    let tool = notice.tool.as_deref().map(|t| mrkdwn(t, FIELD_BUDGET));
    let actor = notice.actor.as_deref().map(|a| mrkdwn(a, FIELD_BUDGET));
    let environment = notice
        .environment
        .as_deref()
        .map(|e| mrkdwn(e, FIELD_BUDGET));
    let issues =
        (!notice.issues.is_empty()).then(|| mrkdwn(&notice.issues.join(", "), ISSUES_BUDGET));
    let link = format!("<{}|Open the review>", link_target(&notice.url));

    let mut text = format!("toolgate: review needed — {goal} ({route}");
    if let Some(t) = &tool {
        text.push_str(&format!(", tool {t}"));
    }
    text.push(')');
    if let Some(a) = &actor {
        text.push_str(&format!(" by {a}"));
    }
    if let Some(e) = &environment {
        text.push_str(&format!(" in {e}"));
    }
    if let Some(i) = &issues {
        text.push_str(&format!(": {i}"));
    }
    text.push_str(&format!(" {link}"));

    let mut lines = vec![
        format!("*Review needed:* {goal}"),
        format!("*Route:* {route}"),
    ];
    let optional = [
        ("Tool", &tool),
        ("Actor", &actor),
        ("Environment", &environment),
        ("Issues", &issues),
    ];
    for (label, value) in optional {
        if let Some(v) = value {
            lines.push(format!("*{label}:* {v}"));
        }
    }
    lines.push(link);

    json!({
        "text": text,
        "blocks": [{
            "type": "section",
            "text": { "type": "mrkdwn", "text": lines.join("\n") },
        }],
        "toolgate": notice,
    })
}

/// `raw` escaped for Slack mrkdwn (`&` `<` `>` as entities; control characters, newlines
/// included, as spaces so a field cannot fake lines of its own), clipped to `budget` bytes
/// (then an ellipsis), never inside an entity.
fn mrkdwn(raw: &str, budget: usize) -> String {
    let mut out = String::with_capacity(raw.len().min(budget));
    for c in raw.chars() {
        let mut utf8 = [0; 4];
        let piece: &str = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            c if c.is_control() => " ",
            c => c.encode_utf8(&mut utf8),
        };
        if out.len() + piece.len() > budget {
            out.push('…');
            break;
        }
        out.push_str(piece);
    }
    out
}

/// The review link inside `<...|...>`: the same escapes, and `|`, which would end the
/// address, percent-encoded.
fn link_target(url: &str) -> String {
    url.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "%7C")
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
