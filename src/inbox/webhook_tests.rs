//! The review webhook against real receivers on 127.0.0.1 (plain and TLS): what is posted,
//! retries and giving up, the caller never waiting, the full queue, and mrkdwn escaping.

use super::*;
use http::StatusCode;
use hyper::service::service_fn;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// Every wait in these tests is bounded by this, so a bug fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(10);

/// One POST as the receiver saw it.
#[derive(Debug)]
struct Received {
    path: String,
    content_type: Option<String>,
    body: serde_json::Value,
}

/// How a test receiver answers.
struct Script {
    /// Statuses in order; the last one repeats.
    statuses: Vec<u16>,
    /// Answers wait until this reads `true` (requests are recorded on arrival regardless).
    gate: Option<watch::Receiver<bool>>,
    /// Told "answered" after each answer, so a test can order it against its own events.
    events: Option<mpsc::UnboundedSender<&'static str>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Script {
    fn answering(statuses: &[u16]) -> Script {
        Script {
            statuses: statuses.to_vec(),
            gate: None,
            events: None,
            tls: None,
        }
    }
}

/// A recording HTTP receiver (hyper server) on 127.0.0.1:0: its address and what it got.
async fn receiver(script: Script) -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (got_tx, got) = mpsc::unbounded_channel();
    let script = Arc::new(script);
    let served = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (script, served, got_tx) = (script.clone(), served.clone(), got_tx.clone());
            let tls = script.tls.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (script, served, got_tx) = (script.clone(), served.clone(), got_tx.clone());
                    async move {
                        let path = req.uri().to_string();
                        let content_type = req
                            .headers()
                            .get(header::CONTENT_TYPE)
                            .map(|v| v.to_str().unwrap().to_owned());
                        let bytes = req.into_body().collect().await?.to_bytes();
                        let body = serde_json::from_slice(&bytes).unwrap();
                        let _ = got_tx.send(Received {
                            path,
                            content_type,
                            body,
                        });
                        if let Some(mut gate) = script.gate.clone() {
                            let _ = gate.wait_for(|open| *open).await;
                        }
                        let n = served.fetch_add(1, Ordering::SeqCst);
                        let status = script.statuses[n.min(script.statuses.len() - 1)];
                        if let Some(events) = &script.events {
                            let _ = events.send("answered");
                        }
                        let mut response =
                            http::Response::new(Full::new(Bytes::from("no_service")));
                        *response.status_mut() = StatusCode::from_u16(status).unwrap();
                        Ok::<_, hyper::Error>(response)
                    }
                });
                let http = hyper::server::conn::http1::Builder::new();
                let _ = match &tls {
                    None => http.serve_connection(TokioIo::new(tcp), service).await,
                    Some(tls) => match tls.accept(tcp).await {
                        Ok(s) => http.serve_connection(TokioIo::new(s), service).await,
                        Err(_) => return,
                    },
                };
            });
        }
    });
    (addr, got)
}

fn settings(url: &str) -> WebhookSettings {
    WebhookSettings {
        url: url.parse().unwrap(),
        timeout: Duration::from_secs(2),
        attempts: 3,
        // Small real backoffs: the sockets are real, so time is not paused.
        backoff: Duration::from_millis(10),
    }
}

fn metrics() -> WebhookMetrics {
    WebhookMetrics::register(&Registry::new()).unwrap()
}

fn notices(m: &WebhookMetrics, result: &str) -> u64 {
    m.notices.with_label_values(&[result]).get()
}

fn attempts(m: &WebhookMetrics, result: &str) -> u64 {
    m.attempts.with_label_values(&[result]).get()
}

/// Waits (bounded) until the task has settled the notice one way or the other.
async fn settled(m: &WebhookMetrics, total: u64) {
    tokio::time::timeout(DEADLINE, async {
        while notices(m, "sent") + notices(m, "failed") < total {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the notice was neither sent nor failed in time");
}

fn notice() -> Notice {
    Notice {
        review_id: "rv_7f3a".into(),
        url: "https://toolgate.example/reviews/rv_7f3a".into(),
        goal: "Create a payout".into(),
        route: "payouts-create".into(),
        tool: None,
        actor: Some("agent-7".into()),
        environment: Some("production".into()),
        issues: vec!["APPROVAL_REQUIRED".into()],
    }
}

#[tokio::test]
async fn posts_one_json_notice_with_the_review_link() {
    let (addr, mut got) = receiver(Script::answering(&[200])).await;
    let m = metrics();
    let hook = Webhook::start(
        settings(&format!("http://{addr}/hook?token=s3cret")),
        m.clone(),
    );
    hook.notify(notice());
    settled(&m, 1).await;

    let post = got.try_recv().expect("one POST");
    assert_eq!(post.path, "/hook?token=s3cret");
    assert_eq!(post.content_type.as_deref(), Some("application/json"));
    let text = post.body["text"].as_str().unwrap();
    assert!(
        text.contains("https://toolgate.example/reviews/rv_7f3a"),
        "{text}"
    );
    assert_eq!(post.body["toolgate"]["review_id"], "rv_7f3a");
    assert!(got.try_recv().is_err(), "exactly one POST");
    assert_eq!((notices(&m, "sent"), notices(&m, "failed")), (1, 0));
    assert_eq!(attempts(&m, "ok"), 1);
}

#[tokio::test]
async fn retries_after_errors_then_sends() {
    let (addr, mut got) = receiver(Script::answering(&[500, 500, 200])).await;
    let m = metrics();
    let hook = Webhook::start(settings(&format!("http://{addr}/")), m.clone());
    hook.notify(notice());
    settled(&m, 1).await;

    for _ in 0..3 {
        assert_eq!(
            got.try_recv().unwrap().body["toolgate"]["review_id"],
            "rv_7f3a"
        );
    }
    assert!(got.try_recv().is_err());
    assert_eq!((notices(&m, "sent"), notices(&m, "failed")), (1, 0));
    assert_eq!((attempts(&m, "error"), attempts(&m, "ok")), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gives_up_after_the_attempts_and_never_blocks_the_caller() {
    // The receiver answers nothing until the test opens the gate, which it does only once
    // `notify` has returned: a `notify` that waited on the post would never return.
    let (gate_tx, gate) = watch::channel(false);
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let script = Script {
        gate: Some(gate),
        events: Some(events_tx.clone()),
        ..Script::answering(&[503])
    };
    let (addr, mut got) = receiver(script).await;
    let m = metrics();
    let hook = Webhook::start(settings(&format!("http://{addr}/")), m.clone());
    tokio::time::timeout(DEADLINE, async { hook.notify(notice()) })
        .await
        .expect("notify returned");
    events_tx.send("returned").unwrap();
    gate_tx.send(true).unwrap();
    settled(&m, 1).await;

    let order: Vec<_> = std::iter::from_fn(|| events.try_recv().ok()).collect();
    assert_eq!(order, ["returned", "answered", "answered", "answered"]);
    assert_eq!(std::iter::from_fn(|| got.try_recv().ok()).count(), 3);
    assert_eq!((notices(&m, "sent"), notices(&m, "failed")), (0, 1));
    assert_eq!(attempts(&m, "error"), 3);
}

#[tokio::test]
async fn nothing_listening_fails_after_the_attempts() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let m = metrics();
    let hook = Webhook::start(settings(&format!("http://127.0.0.1:{port}/")), m.clone());
    hook.notify(notice());
    settled(&m, 1).await;
    assert_eq!((notices(&m, "sent"), notices(&m, "failed")), (0, 1));
    assert_eq!((attempts(&m, "error"), attempts(&m, "ok")), (3, 0));
}

#[tokio::test]
async fn a_silent_receiver_times_out_each_attempt() {
    let (_never, gate) = watch::channel(false);
    let script = Script {
        gate: Some(gate),
        ..Script::answering(&[200])
    };
    let (addr, _got) = receiver(script).await;
    let m = metrics();
    let mut s = settings(&format!("http://{addr}/"));
    (s.timeout, s.attempts) = (Duration::from_millis(50), 2);
    Webhook::start(s, m.clone()).notify(notice());
    settled(&m, 1).await;
    assert_eq!(attempts(&m, "timeout"), 2);
    assert_eq!(notices(&m, "failed"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_and_counts_instead_of_waiting() {
    let (_never, gate) = watch::channel(false);
    let script = Script {
        gate: Some(gate),
        ..Script::answering(&[200])
    };
    let (addr, _got) = receiver(script).await;
    let m = metrics();
    let hook = Webhook::start(settings(&format!("http://{addr}/")), m.clone());
    for _ in 0..300 {
        hook.notify(notice());
    }
    // 256 queued, plus the one the task may already have taken (stuck at the gate).
    let dropped = notices(&m, "failed");
    assert!(dropped == 300 - 256 || dropped == 300 - 257, "{dropped}");
    assert_eq!(notices(&m, "sent"), 0);
}

/// A self-signed certificate for 127.0.0.1: the acceptor serving it, and roots trusting it.
fn tls_pair() -> (tokio_rustls::TlsAcceptor, rustls::RootCertStore) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key.into())
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), roots)
}

#[tokio::test]
async fn posts_over_https_with_ring_and_refuses_an_untrusted_receiver() {
    let (acceptor, roots) = tls_pair();
    let script = Script {
        tls: Some(acceptor),
        ..Script::answering(&[200])
    };
    let (addr, mut got) = receiver(script).await;
    let url = format!("https://{addr}/services/T0/B0/secret");

    let m = metrics();
    Webhook::start_with(settings(&url), m.clone(), Some(roots)).notify(notice());
    settled(&m, 1).await;
    assert_eq!(notices(&m, "sent"), 1);
    assert_eq!(got.try_recv().unwrap().path, "/services/T0/B0/secret");

    // Trusting some other certificate only: every handshake fails, nothing is posted.
    let (_, other) = tls_pair();
    let m = metrics();
    Webhook::start_with(settings(&url), m.clone(), Some(other)).notify(notice());
    settled(&m, 1).await;
    assert_eq!((notices(&m, "failed"), attempts(&m, "error")), (1, 3));
    assert!(got.try_recv().is_err());
}

#[test]
fn the_summary_reads_as_one_line() {
    let b = body(&notice());
    assert_eq!(
        b["text"],
        "toolgate: review needed — Create a payout (payouts-create) by agent-7 in production: \
         APPROVAL_REQUIRED <https://toolgate.example/reviews/rv_7f3a|Open the review>"
    );
    assert_eq!(b["blocks"][0]["type"], "section");
    assert_eq!(b["blocks"][0]["text"]["type"], "mrkdwn");
    assert_eq!(b["toolgate"], serde_json::to_value(notice()).unwrap());
}

#[test]
fn attacker_fields_cannot_make_links_or_mentions() {
    let n = Notice {
        goal: "<!channel> <http://evil|click>".into(),
        actor: Some("a&b\n*Approved:* yes".into()),
        tool: Some("<@U123>".into()),
        ..notice()
    };
    let b = body(&n);
    let text = b["text"].as_str().unwrap();
    let block = b["blocks"][0]["text"]["text"].as_str().unwrap();
    for shown in [text, block] {
        assert!(
            shown.contains("&lt;!channel&gt; &lt;http://evil|click&gt;"),
            "{shown}"
        );
        assert!(shown.contains("&lt;@U123&gt;"), "{shown}");
        assert!(shown.contains("a&amp;b *Approved:* yes"), "{shown}");
        // The one link is the review's own.
        assert_eq!(shown.matches('<').count(), 1, "{shown}");
        assert!(shown.ends_with("<https://toolgate.example/reviews/rv_7f3a|Open the review>"));
    }
    // Non-Slack receivers get the fields as they were.
    assert_eq!(b["toolgate"]["goal"], "<!channel> <http://evil|click>");
}

#[test]
fn long_fields_are_clipped_under_slacks_block_limit() {
    let n = Notice {
        goal: "<".repeat(10_000),
        issues: vec!["X&".repeat(1_000); 50],
        ..notice()
    };
    let b = body(&n);
    let block = b["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(block.chars().count() < 3000, "{}", block.len());
    assert!(block.contains("&lt;&lt;…"), "clipped between entities");
    assert_eq!(mrkdwn("a<b", 4), "a…");
    assert_eq!(mrkdwn("a<b", 5), "a&lt;…");
    assert_eq!(mrkdwn("a<b", 6), "a&lt;b");
    assert_eq!(
        link_target("https://x/r?a=1&b=|"),
        "https://x/r?a=1&amp;b=%7C"
    );
}

#[test]
fn the_logged_address_keeps_no_path_query_or_user_info() {
    let t = Target::parse(
        &"https://user:pw@hooks.example:8443/services/secret?token=s"
            .parse()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(t.shown, "https://hooks.example:8443");
    assert_eq!((t.authority.as_str(), t.port), ("hooks.example:8443", 8443));
    assert_eq!(t.path.as_str(), "/services/secret?token=s");
    let t = Target::parse(&"http://[::1]/h".parse().unwrap()).unwrap();
    assert_eq!(
        (t.host.as_str(), t.port, t.authority.as_str()),
        ("::1", 80, "[::1]")
    );
    assert!(Target::parse(&"ftp://x/".parse().unwrap()).is_err());
}
