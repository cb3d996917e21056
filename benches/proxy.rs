//! End-to-end, in-process: what toolgate itself costs per request, on one thread.
//!
//! * `handle/*`: `proxy::handle` called directly with a pre-built request (no client
//!   socket, no HTTP parsing on the client leg). DENY and DEFER never reach the upstream,
//!   so they are toolgate alone; ALLOW forwards to an in-process hyper upstream that
//!   answers at once over a pooled loopback connection, and `upstream, direct` is that
//!   same exchange without toolgate (the same pooled client, the same request), so
//!   `handle/ALLOW … - upstream, direct` is toolgate's own cost.
//! * `keepalive/*`: the real server (`Server::run` on 127.0.0.1) and a client over one
//!   keep-alive HTTP/1.1 connection, against the same upstream reached directly.
//!
//! Everything runs on one current-thread runtime, so a time is the CPU of client,
//! toolgate and upstream together: compare within a group. Run: `cargo bench --bench proxy`.

mod common;

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use toolgate::config::Config;
use toolgate::headers::Peer;
use toolgate::proxy::{self, Gate};

/// The request each ALLOW/DENY case sends: (name, method, path, headers, body).
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

const FINANCE: &[(&str, &str)] = &[
    ("x-actor", "agent-7"),
    ("x-actor-role", "finance_operator"),
    ("x-environment", "production"),
    ("x-run-id", "run_pay_001"),
];
const DEPLOY: &[(&str, &str)] = &[
    ("x-actor", "agent-7"),
    ("x-actor-role", "release_manager"),
    ("x-environment", "staging"),
    ("content-type", "application/json"),
];
const WRONG_ROLE: &[(&str, &str)] = &[
    ("x-actor", "agent-7"),
    ("x-actor-role", "support_agent"),
    ("x-environment", "production"),
];
const DEPLOY_BODY: &str =
    r#"{"service":"payments","release":"2026.03.14","environment":"staging"}"#;

const CASES: &[Case] = &[
    (
        "ALLOW, headers (GET payout)",
        "GET",
        "/payments/v1/payouts/po_123",
        FINANCE,
        "",
    ),
    (
        "ALLOW, JSON body (POST deployment)",
        "POST",
        "/deploy/v1/deployments",
        DEPLOY,
        DEPLOY_BODY,
    ),
    (
        "DENY, wrong role (DELETE tenant)",
        "DELETE",
        "/db/v1/tenants/t-42",
        WRONG_ROLE,
        "",
    ),
];

fn build(case: &Case, host: &str, base: Option<&str>) -> Request<Full<Bytes>> {
    let (_, method, path, headers, body) = *case;
    let uri = match base {
        Some(b) => format!("{b}{path}"),
        None => path.to_owned(),
    };
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", host);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("a request")
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let _ = req.into_body().collect().await;
    Ok(Response::new(Full::new(Bytes::from_static(
        b"{\"ok\":true}",
    ))))
}

/// An upstream that answers every request with 200 at once.
async fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), hyper::service::service_fn(answer)),
            );
        }
    });
    addr
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn config(upstream: SocketAddr) -> Config {
    let mut cfg = Config::default();
    cfg.upstream.url = format!("http://{upstream}");
    cfg
}

fn fixed_clock() -> toolgate::clock::Clock {
    let now = common::now();
    Arc::new(move || now)
}

/// Times `iters` sequential runs of `f` on the runtime.
fn timed<F, Fut>(rt: &Runtime, iters: u64, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            f().await;
        }
        start.elapsed()
    })
}

fn bench_handle(c: &mut Criterion) {
    let rt = runtime();
    let up = rt.block_on(upstream());
    let cfg = config(up);
    let snapshot = Arc::new(arc_swap::ArcSwap::from_pointee(common::example()));
    let gate = Gate::new(&cfg, snapshot, fixed_clock()).expect("gate");
    let peer = Peer::new("127.0.0.1:40000".parse().expect("addr"), false);
    let direct: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let base = format!("http://{up}");

    let mut group = c.benchmark_group("handle");
    group.bench_function("upstream, direct (pooled client, no toolgate)", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                let req = build(&CASES[0], "toolgate", Some(&base));
                let direct = &direct;
                async move {
                    let resp = direct.request(req).await.expect("upstream");
                    black_box(resp.into_body().collect().await.expect("body"));
                }
            })
        })
    });
    for case in CASES {
        group.bench_function(case.0, |b| {
            b.iter_custom(|iters| {
                timed(&rt, iters, || {
                    let req = build(case, "toolgate", None);
                    let gate = &gate;
                    let peer = peer.clone();
                    async move {
                        let resp = proxy::handle(gate, peer, req).await;
                        black_box(resp.into_body().collect().await.expect("body"));
                    }
                })
            })
        });
    }
    group.finish();
}

/// The real server on 127.0.0.1:0, with a fixed clock.
async fn start_server(cfg: Config) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let snapshot = Arc::new(arc_swap::ArcSwap::from_pointee(common::example()));
    let server = toolgate::server::Server::new(&cfg, snapshot, fixed_clock()).expect("server");
    tokio::spawn(server.run(listener, std::future::pending()));
    addr
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Sender {
    let s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    tx
}

fn bench_keepalive(c: &mut Criterion) {
    let rt = runtime();
    let up = rt.block_on(upstream());
    let gate_addr = rt.block_on(start_server(config(up)));
    let mut group = c.benchmark_group("keepalive");
    let targets = [
        ("upstream, direct", up, &CASES[0]),
        ("toolgate, ALLOW headers", gate_addr, &CASES[0]),
        ("toolgate, ALLOW JSON body", gate_addr, &CASES[1]),
        ("toolgate, DENY", gate_addr, &CASES[2]),
    ];
    for (name, addr, case) in targets {
        let tx = std::cell::RefCell::new(rt.block_on(connect(addr)));
        let host = addr.to_string();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed(&rt, iters, || {
                    let req = build(case, &host, None);
                    let tx = &tx;
                    async move {
                        std::future::poll_fn(|cx| tx.borrow_mut().poll_ready(cx))
                            .await
                            .expect("ready");
                        let fut = tx.borrow_mut().send_request(req);
                        let resp = fut.await.expect("response");
                        black_box(resp.into_body().collect().await.expect("body"));
                    }
                })
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_handle, bench_keepalive
}
criterion_main!(benches);
