//! Shared harness for the proxy's integration tests, all over real sockets on 127.0.0.1:
//! a recording upstream, raw-socket upstreams that misbehave, toolgate itself on port 0
//! with a fixed clock, and HTTP/1.1, h2c, TLS and raw-socket clients.
#![allow(dead_code)]

pub mod audit_fields;
pub mod browser;
pub mod fixture;
pub mod h2raw;
pub mod processes;
pub mod prom;
pub mod redis;
pub mod review;
pub mod sidecar;
pub mod state_cases;
pub mod wire;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use toolgate::audit::AuditRecord;
use toolgate::clock::Clock;
use toolgate::config::Config;
use toolgate::ops::Ops;
use toolgate::server::Server;
use toolgate::snapshot::Snapshot;

/// The instant every test evaluates at: Monday 2026-03-16 10:00 UTC.
pub const NOW: &str = "2026-03-16T10:00:00Z";

pub fn fixed_clock() -> Clock {
    let now: jiff::Timestamp = NOW.parse().unwrap();
    Arc::new(move || now)
}

/// A clock the test sets; starts at [`NOW`].
#[derive(Clone)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    pub fn new() -> TestClock {
        let now: jiff::Timestamp = NOW.parse().unwrap();
        TestClock(Arc::new(AtomicI64::new(now.as_second())))
    }
    pub fn set(&self, rfc3339: &str) {
        let t: jiff::Timestamp = rfc3339.parse().unwrap();
        self.0.store(t.as_second(), Ordering::SeqCst);
    }
    pub fn clock(&self) -> Clock {
        let secs = self.0.clone();
        Arc::new(move || jiff::Timestamp::from_second(secs.load(Ordering::SeqCst)).unwrap())
    }
}

impl Default for TestClock {
    fn default() -> Self {
        TestClock::new()
    }
}

/// One request as the upstream received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// The request target exactly as it arrived (origin-form path and query).
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// How the recording upstream answers.
#[derive(Clone, Debug)]
pub enum Behavior {
    /// 200 `{"upstream":"ok"}`.
    Ok,
    /// Waits, then 200.
    Slow(Duration),
    /// Answers with this status.
    Status(u16),
}

/// An in-process hyper upstream that records every request it receives.
pub struct Upstream {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    /// Connections open now, and the most ever open at once.
    open: Arc<(AtomicUsize, AtomicUsize)>,
    seen: Arc<Mutex<Vec<Seen>>>,
    behavior: Arc<Mutex<Behavior>>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let behavior = Arc::new(Mutex::new(Behavior::Ok));
        let (s, b) = (seen.clone(), behavior.clone());
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let open = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let gauge = open.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let now = gauge.0.fetch_add(1, Ordering::SeqCst) + 1;
                gauge.1.fetch_max(now, Ordering::SeqCst);
                let (s, b, gauge) = (s.clone(), b.clone(), gauge.clone());
                tokio::spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req| record(req, s.clone(), b.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                    gauge.0.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Upstream {
            addr,
            connections,
            open,
            seen,
            behavior,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, b: Behavior) {
        *self.behavior.lock().unwrap() = b;
    }

    /// How many connections toolgate opened to it.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The most connections that were ever open to it at once.
    pub fn peak_open(&self) -> usize {
        self.open.1.load(Ordering::SeqCst)
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn record(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    behavior: Arc<Mutex<Behavior>>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        target: parts.uri.to_string(),
        headers: parts.headers,
        body,
    });
    let b = behavior.lock().unwrap().clone();
    let status = match b {
        Behavior::Ok => 200,
        Behavior::Slow(d) => {
            tokio::time::sleep(d).await;
            200
        }
        Behavior::Status(s) => s,
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(br#"{"upstream":"ok"}"#)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp.headers_mut()
        .insert("x-upstream", "1".parse().unwrap());
    Ok(resp)
}

/// An upstream that reads a request head and answers with exactly `reply`, then closes.
/// Returns its URL and a count of the connections it accepted.
pub async fn raw_upstream(reply: &'static [u8]) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(reply).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), accepted)
}

/// A URL nothing listens on.
pub async fn dead_upstream() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

/// toolgate's proxy, in process on 127.0.0.1:0: the one way the tests start it (the whole
/// sidecar, admin listener and hot reload included, is [`sidecar::Sidecar`], built on the
/// same parts). Its snapshot can be swapped, its clock set (it starts at [`NOW`]), and its
/// operations (audit ring, metrics) read.
pub struct Gate {
    pub addr: SocketAddr,
    pub draining: Arc<AtomicBool>,
    /// The serving snapshot.
    pub state: Arc<arc_swap::ArcSwap<Snapshot>>,
    /// Metrics and the audit sink (its ring of recent records).
    pub ops: Arc<Ops>,
    pub clock: TestClock,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Gate {
    /// Starts toolgate in front of `upstream` with `snapshot`; `tweak` adjusts the config.
    pub async fn start(
        snapshot: Snapshot,
        upstream: &str,
        tweak: impl FnOnce(&mut Config),
    ) -> Gate {
        let ops = Arc::new(Ops::detached().unwrap());
        Gate::start_with_ops(snapshot, upstream, tweak, ops).await
    }

    /// [`Gate::start`] with operations of the test's own (an audit file, a state store).
    pub async fn start_with_ops(
        snapshot: Snapshot,
        upstream: &str,
        tweak: impl FnOnce(&mut Config),
        ops: Arc<Ops>,
    ) -> Gate {
        let mut cfg = Config::default();
        cfg.upstream.url = upstream.to_owned();
        tweak(&mut cfg);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(arc_swap::ArcSwap::from_pointee(snapshot));
        let clock = TestClock::new();
        let server = Server::with_ops(&cfg, state.clone(), clock.clock(), ops.clone()).unwrap();
        let draining = server.draining();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server.run(listener, async move {
            let _ = rx.await;
        }));
        Gate {
            addr,
            draining,
            state,
            ops,
            clock,
            stop: Some(tx),
            task,
        }
    }

    /// Fires the shutdown future; `finished` then waits for `run` to return.
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    pub async fn finished(self) -> anyhow::Result<()> {
        self.task.await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The audit record of `request_id`, once the sink has filed it (within 2 s).
    pub async fn audit_record(&self, request_id: &str) -> Option<Arc<AuditRecord>> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            if let Some(r) = self.ops.audit.recent(request_id) {
                return Some(r);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Moves the gate's clock to [`NOW`] + `offset`.
    pub fn set_clock(&self, offset: jiff::SignedDuration) {
        let now: jiff::Timestamp = NOW.parse().unwrap();
        self.clock
            .set(&now.checked_add(offset).unwrap().to_string());
    }

    /// The gate's metrics, parsed strictly.
    pub fn metrics(&self) -> prom::Exposition {
        prom::parse(&self.ops.metrics.encode()).unwrap()
    }
}

/// A response as a client saw it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// Reads a whole response; `Err` when its body did not arrive intact.
pub async fn read_reply(resp: Response<Incoming>) -> Result<Reply, hyper::Error> {
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    })
}

/// Builds a request (`Host` set to the gate's address unless given).
pub fn request(
    method: &str,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Request<Full<Bytes>> {
    let mut b = Request::builder().method(method).uri(path);
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        b = b.header("host", addr.to_string());
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::from(body.to_owned()))).unwrap()
}

/// Sends one request over a fresh HTTP/1.1 connection.
pub async fn send_h1(addr: SocketAddr, req: Request<Full<Bytes>>) -> Result<Reply, hyper::Error> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    read_reply(tx.send_request(req).await?).await
}

/// Shorthand: one HTTP/1.1 request, must succeed at the transport level.
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    send_h1(addr, request(method, addr, path, headers, body))
        .await
        .unwrap()
}

/// Sends one request over a fresh h2c (prior knowledge) connection.
pub async fn send_h2c(addr: SocketAddr, req: Request<Full<Bytes>>) -> Result<Reply, hyper::Error> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    read_reply(tx.send_request(req).await?).await
}

/// Writes raw bytes and reads until the server closes (or 5 s pass); returns the text.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP/1.1 response text (0 when there is none).
pub fn raw_status(text: &str) -> u16 {
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A self-signed certificate for `localhost`, written as PEM files into `dir`.
pub struct TestCert {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    pub der: rustls::pki_types::CertificateDer<'static>,
}

pub fn test_cert(dir: &std::path::Path) -> TestCert {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    TestCert {
        cert,
        key,
        der: ck.cert.der().clone(),
    }
}

/// Connects over TLS offering `alpn`; returns the stream and the negotiated protocol.
pub async fn tls_connect(
    addr: SocketAddr,
    cert: &TestCert,
    alpn: &[&[u8]],
) -> (tokio_rustls::client::TlsStream<TcpStream>, Option<Vec<u8>>) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    (tls, negotiated)
}

/// The shipped example bundle, `policies/tools`.
pub fn tools_bundle() -> Snapshot {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tools");
    toolgate::bundle::load(&dir, NOW.parse().unwrap()).unwrap_or_else(|e| panic!("{e}"))
}
