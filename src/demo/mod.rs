//! `toolgate demo`: the one-minute try. It starts, in this process and on loopback only, a
//! mock of the three tool APIs ([`upstream`]) and the sidecar in front of it, built from
//! the shipped `config/toolgate.yaml` and its bundle by the same [`Server`] code `serve`
//! runs, with the real clock. It then replays the seed [`scenarios`] through the proxy
//! with a real HTTP client, prints what each got ([`table`]), and either exits (`--once`)
//! or prints `curl` lines for the same requests and serves until Ctrl-C.
//!
//! The demo checks itself: a scenario whose status, verdict or forwarding differs from its
//! expectation makes the exit code 1, so `demo --once` is also an end-to-end test.

pub mod scenarios;
mod table;
pub mod upstream;

use crate::authorize::system_clock;
use crate::commands::exit;
use crate::config::{Config, Overrides};
use crate::server::Server;
use anyhow::Context as _;
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use scenarios::Scenario;
use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use table::Row;
use tokio::net::TcpListener;
use upstream::MockToolApi;

/// `toolgate demo` flags.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// The sidecar config to start from; the demo replaces its listen and upstream.
    #[arg(long, value_name = "FILE", default_value = "config/toolgate.yaml")]
    pub config: PathBuf,
    /// The proxy address. If the port is busy, an ephemeral one is used (and printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// The mock tool API's address (toolgate's upstream); busy port: as for --listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub upstream_listen: SocketAddr,
    /// Replay the scenarios, print the table and exit instead of serving until Ctrl-C.
    #[arg(long)]
    pub once: bool,
}

/// Why the demo could not run at all (as opposed to a scenario ending unexpectedly).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The config or the bundle does not load: exit code 2, as for `serve`.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// The command: runs the demo on its own runtime and returns the process exit code.
/// `shutdown` resolves on Ctrl-C (or SIGTERM); it is only awaited without `--once`.
pub fn main(args: Args, shutdown: impl Future<Output = ()>) -> u8 {
    // Quiet by default: the table is the output. RUST_LOG=info shows the request log.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("toolgate demo: cannot start the runtime: {e}");
            return exit::FAILED;
        }
    };
    match runtime.block_on(run(&args, shutdown)) {
        Ok(true) => exit::OK,
        Ok(false) => exit::FAILED,
        Err(DemoError::Invalid(e)) => {
            eprintln!("toolgate demo: {e}");
            exit::INVALID
        }
        Err(DemoError::Failed(e)) => {
            eprintln!("toolgate demo: {e:#}");
            exit::FAILED
        }
    }
}

/// Starts the mock and the sidecar, replays, prints; `Ok(false)` when a scenario did not
/// end as expected.
pub async fn run(args: &Args, shutdown: impl Future<Output = ()>) -> Result<bool, DemoError> {
    let mock = MockToolApi::start(bind(args.upstream_listen, "mock tool API").await?)
        .context("mock tool API")?;
    let proxy = bind(args.listen, "proxy").await?;
    let proxy_addr = proxy.local_addr().context("proxy address")?;
    let overrides = Overrides {
        listen: Some(proxy_addr),
        upstream: Some(mock.url()),
        ..Overrides::default()
    };
    let cfg = Config::load(&args.config, overrides).map_err(|e| {
        DemoError::Invalid(format!("invalid config {}:\n{e}", args.config.display()))
    })?;
    let dir = cfg
        .policies
        .clone()
        .ok_or_else(|| DemoError::Invalid("the config names no policies directory".into()))?;
    let snapshot = crate::bundle::load(&dir, jiff::Timestamp::now()).map_err(|e| {
        DemoError::Invalid(format!("invalid policy bundle {}:\n{e}", dir.display()))
    })?;
    let meta = snapshot.meta.clone();
    let server = Server::new(
        &cfg,
        Arc::new(ArcSwap::from_pointee(snapshot)),
        system_clock(),
    )?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(proxy, async {
        let _ = stopped.await;
    }));

    let base = format!("http://{proxy_addr}");
    println!(
        "toolgate demo: bundle {} ({}...) from {}",
        meta.policy_version,
        meta.digest.get(..19).unwrap_or(&meta.digest),
        dir.display()
    );
    println!("  proxy (toolgate)  {base}");
    println!("  tool API (mock)   {}  (toolgate's upstream)", mock.url());
    println!();

    let all = scenarios::scenarios();
    let rows = replay(&base, &mock, &all).await?;
    print!("{}", table::render(&rows));
    if rows
        .iter()
        .any(|r| r.issues.iter().any(|i| i == "CHANGE_WINDOW_CLOSED"))
    {
        println!(
            "\n(CHANGE_WINDOW_CLOSED: it is outside the bundle's business_hours window now; \
             those requests defer either way.)"
        );
    }
    let mut ok = true;
    for (s, r) in all.iter().zip(&rows) {
        if let Some(why) = unexpected(s, r, &mock) {
            println!("UNEXPECTED: {}: {why}", s.name);
            ok = false;
        }
    }

    if !args.once {
        // tokio installs signal handlers when the signal future is first polled: poll it
        // once before saying "Press Ctrl-C", or an early Ctrl-C kills the process instead.
        let mut shutdown = std::pin::pin!(shutdown);
        let stopped = tokio::select! {
            biased;
            () = &mut shutdown => true,
            () = std::future::ready(()) => false,
        };
        println!("\nTry it: the same requests with curl (Ctrl-C stops the demo):\n");
        for s in &all {
            println!("{}\n{}\n", s.comment(), s.curl(&base));
        }
        println!("Listening. Press Ctrl-C to stop.");
        if !stopped {
            shutdown.await;
        }
        println!("toolgate demo: stopping");
    }
    let _ = stop.send(());
    serving.await.context("proxy task")??;
    Ok(ok)
}

/// Binds `addr`; a fixed port that is taken falls back to an ephemeral one on the same IP,
/// so the demo starts even next to a real toolgate (the printed addresses say where).
async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) if addr.port() != 0 && e.kind() == std::io::ErrorKind::AddrInUse => {
            let l = TcpListener::bind(SocketAddr::new(addr.ip(), 0))
                .await
                .with_context(|| format!("{what}: listen on {}:0", addr.ip()))?;
            println!(
                "note: {addr} is in use; the {what} listens on {} instead",
                l.local_addr()?
            );
            Ok(l)
        }
        Err(e) => Err(anyhow::anyhow!("{what}: cannot listen on {addr}: {e}")),
    }
}

/// Sends each scenario through the proxy, one at a time, so that whatever the mock
/// received in between belongs to that request.
async fn replay(base: &str, mock: &MockToolApi, all: &[Scenario]) -> anyhow::Result<Vec<Row>> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut rows = Vec::with_capacity(all.len());
    for s in all {
        let before = mock.received().len();
        let mut req = Request::builder()
            .method(s.method)
            .uri(format!("{base}{}", s.target));
        for (k, v) in s.headers {
            req = req.header(*k, *v);
        }
        if s.body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Full::new(Bytes::from(s.body.unwrap_or_default())))?;
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
    Ok(rows)
}

/// How a row differs from its scenario's expectation, if it does.
fn unexpected(s: &Scenario, r: &Row, mock: &MockToolApi) -> Option<String> {
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
    // A forwarded request carries its decision's id to the tool: one id end to end.
    if e.forwarded
        && !mock
            .received()
            .iter()
            .any(|got| got.request_id.as_deref() == Some(r.request_id.as_str()))
    {
        return Some(format!(
            "the tool API never saw request_id {}",
            r.request_id
        ));
    }
    None
}
