//! `toolgate demo`: the one-minute try. It starts, in this process and on loopback only, a
//! mock of the three tool APIs ([`upstream`]) and two sidecars in front of it, built by the
//! same server code `serve` runs, with the real clock: one from the shipped
//! `config/toolgate.yaml` and its bundle, one with `policies/tools-signed` (verified
//! identity, signed approvals). It then replays the seed [`scenarios`] through the first
//! and the approve-and-retry loop through the second with a real HTTP client, minting the
//! loop's identity token and approval with the code of `toolgate token` and `toolgate
//! approve` and the bundle's example keys, prints what each got (`table`), and either
//! exits (`--once`) or prints `curl` lines for the same requests and serves until Ctrl-C.
//!
//! The demo checks itself: a scenario whose status, verdict or forwarding differs from its
//! expectation makes the exit code 1, so `demo --once` is also an end-to-end test.

pub mod inbox;
mod replay;
mod window;
use replay::{replay, unexpected};
pub mod mcp;
pub mod mcp_drive;
pub mod scenarios;
mod table;
pub mod upstream;

use crate::app::{Listeners, Sidecar};
use crate::clock::system_clock;
use crate::commands::exit;
use crate::config::{AuditSinkKind, Config, Overrides};
use anyhow::Context as _;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
    /// The admin listener of the proxy (`/metrics`, `/v1/decisions/{id}`, ...); busy
    /// port: as for --listen. The signed sidecar's admin listener is ephemeral.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9901")]
    pub admin_listen: SocketAddr,
    /// The mock tool API's address (toolgate's upstream); busy port: as for --listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub upstream_listen: SocketAddr,
    /// The signed sidecar's address (the approval loop). Default: the proxy's port + 1
    /// (ephemeral if the proxy's is); busy port: as for --listen.
    #[arg(long, value_name = "ADDR")]
    pub signed_listen: Option<SocketAddr>,
    /// The signed sidecar's bundle; its `example-private-keys/` mint the loop's tokens.
    #[arg(long, value_name = "DIR", default_value = "policies/tools-signed")]
    pub signed_policies: PathBuf,
    /// The MCP sidecar's address (`policies/mcp` in front of the demo's payments MCP
    /// server). Default: the proxy's port + 2 (ephemeral if the proxy's is); busy port: as
    /// for --listen.
    #[arg(long, value_name = "ADDR")]
    pub mcp_listen: Option<SocketAddr>,
    /// The MCP sidecar's bundle.
    #[arg(long, value_name = "DIR", default_value = "policies/mcp")]
    pub mcp_policies: PathBuf,
    /// The review inbox, as a browser reaches it (behind the demo's stand-in sign-in
    /// proxy); busy port: as for --listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9400")]
    pub review_listen: SocketAddr,
    /// Replay the scenarios, print the table and exit instead of serving until Ctrl-C.
    #[arg(long)]
    pub once: bool,
    /// The sidecars' state store (state.url), e.g. redis://127.0.0.1:6379/0. Default: the
    /// config's (in process).
    #[arg(long, value_name = "URL")]
    pub state_url: Option<String>,
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

/// Starts the mock and the sidecars, replays, prints; `Ok(false)` when a scenario did not
/// end as expected.
pub async fn run(args: &Args, shutdown: impl Future<Output = ()>) -> Result<bool, DemoError> {
    let mock = MockToolApi::start(bind(args.upstream_listen, "mock tool API").await?)
        .context("mock tool API")?;
    let listeners = Listeners {
        proxy: bind(args.listen, "proxy").await?,
        admin: bind(args.admin_listen, "admin listener").await?,
        api: None,
    };
    let plain = Gate::start(args, listeners, &mock.url(), None).await?;
    let next = |n: u16| {
        let port = match args.listen.port() {
            0 => 0,
            p => p.checked_add(n).unwrap_or(0),
        };
        SocketAddr::new(args.listen.ip(), port)
    };
    let signed_addr = args.signed_listen.unwrap_or_else(|| next(1));
    let signed_admin = SocketAddr::new(args.admin_listen.ip(), 0);
    let listeners = Listeners {
        proxy: bind(signed_addr, "signed proxy").await?,
        admin: bind(signed_admin, "signed admin listener").await?,
        api: None,
    };
    // The review inbox the signed sidecar's 409s link to: the stand-in sign-in proxy in
    // front, the inbox itself on an ephemeral port behind it.
    let front = bind(args.review_listen, "review inbox").await?;
    let inbox_base = format!("http://{}", front.local_addr().context("inbox address")?);
    let behind = bind(SocketAddr::new(args.review_listen.ip(), 0), "review inbox").await?;
    let signed_review = Some(inbox_base.clone());
    let scratch = tempfile_dir()?;
    let widened = window::always_open(&args.signed_policies, &scratch)?;
    let (signed, signed_cfg) = Gate::start_with(
        args,
        listeners,
        &mock.url(),
        Some(widened.as_deref().unwrap_or(&args.signed_policies)),
        signed_review,
    )
    .await?;
    let keys = args.signed_policies.join("example-private-keys");
    let mut inbox_cfg = signed_cfg;
    inbox_cfg.review.signing_key = Some(keys.join(scenarios::APPROVAL_KEY));
    let review = crate::inbox::start::build(&inbox_cfg, signed.ops.clone(), system_clock())
        .map_err(|e| DemoError::Invalid(format!("review inbox: {e:#}")))?;
    inbox::serve(std::sync::Arc::new(review), behind, front)?;
    let payments =
        mcp::PaymentsServer::start(bind(SocketAddr::new(args.listen.ip(), 0), "MCP server").await?)
            .context("payments MCP server")?;
    let listeners = Listeners {
        proxy: bind(args.mcp_listen.unwrap_or_else(|| next(2)), "MCP proxy").await?,
        admin: bind(
            SocketAddr::new(args.admin_listen.ip(), 0),
            "MCP admin listener",
        )
        .await?,
        api: None,
    };
    let mcp = Gate::start(args, listeners, &payments.url(), Some(&args.mcp_policies)).await?;

    println!(
        "toolgate demo: bundle {} ({}...) from {}",
        plain.meta.policy_version,
        plain.meta.digest.get(..19).unwrap_or(&plain.meta.digest),
        plain.dir.display()
    );
    println!(
        "  and bundle {} ({}...) from {}, with signed approvals",
        signed.meta.policy_version,
        signed.meta.digest.get(..19).unwrap_or(&signed.meta.digest),
        signed.dir.display()
    );
    println!("  proxy (toolgate)         {}", plain.base);
    println!(
        "  admin (toolgate)         {}  (/metrics, /readyz, /v1/decisions/<request_id>)",
        plain.admin
    );
    println!("  audit trail              {}", plain.audit.display());
    println!(
        "  signed proxy (toolgate)  {}  ({})",
        signed.base, signed.meta.policy_version
    );
    println!(
        "  review inbox             {inbox_base}  (signed in as {})",
        inbox::REVIEWER
    );
    println!(
        "  tool API (mock)          {}  (the upstream of both)",
        mock.url()
    );
    println!(
        "  MCP proxy (toolgate)     {}  ({} at /mcp, in front of the payments MCP server at {}/mcp)",
        mcp.base,
        mcp.meta.policy_version,
        payments.url()
    );
    println!();

    let all = scenarios::scenarios();
    if widened.is_some() {
        println!(
            "(the signed sidecar runs a copy of {} whose business_hours window is open all \
             week, so the review loop below can move money at any hour)\n",
            args.signed_policies.display()
        );
    }
    let replayed = replay(&plain.base, &signed.base, &keys, &mock, &all).await?;
    let rows = replayed.rows;
    print!("{}", table::render(&rows));
    if let Some(approval) = &replayed.approval {
        println!("\n{approval}");
    }
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

    println!("\nThe review inbox ({inbox_base}): what a reviewer decides, the agent's identical retry obeys\n");
    let steps = inbox::drive(&signed.base, &inbox_base, &keys, &mock).await?;
    print!("{}", inbox::render(&steps));
    for s in &steps {
        if let Some(why) = &s.unexpected {
            println!("UNEXPECTED: review loop: {}: {why}", s.step);
            ok = false;
        }
    }

    let agent: Vec<String> = mcp_drive::AGENT_HEADERS
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    println!(
        "\nMCP: an rmcp client ({}) through {}/mcp\n",
        agent.join(", "),
        mcp.base
    );
    let steps = mcp_drive::drive(&mcp.base, &payments).await?;
    print!("{}", mcp_drive::render(&steps));
    for s in &steps {
        if let Some(why) = &s.unexpected {
            println!("UNEXPECTED: MCP {}: {why}", s.call);
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
        for s in all.iter().filter(|s| !s.evidence.signed()) {
            println!("{}\n{}\n", s.comment(), s.curl(&plain.base));
        }
        println!(
            "# approval loop: the signed proxy at {} believes only a bearer token and a\n\
             # signed x-approval; README \"The approval loop\" walks it with toolgate token\n\
             # and toolgate approve.\n",
            signed.base
        );
        println!(
            "# MCP: a tools/call toolgate defers (HTTP 200, a JSON-RPC error whose data is the\n\
             # decision); an rmcp client decodes it as the table above shows.\n\
             curl -sS {}/mcp -H 'content-type: application/json' \\\n  \
             -H 'accept: application/json, text/event-stream' \\\n  \
             -H 'x-actor-role: finance_operator' -H 'x-environment: production' \\\n  \
             -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"create_payout\",\"arguments\":{{\"account\":\"acc-9\",\"amount\":2500,\"currency\":\"EUR\"}}}}}}'\n",
            mcp.base
        );
        println!(
            "# review inbox: open {inbox_base} in a browser (the demo signs you in as {}),\n\
             # then send a payout to the signed proxy without x-approval and watch it arrive.\n",
            inbox::REVIEWER
        );
        println!("Listening. Press Ctrl-C to stop.");
        if !stopped {
            shutdown.await;
        }
        println!("toolgate demo: stopping");
    }
    plain.stop().await?;
    signed.stop().await?;
    mcp.stop().await?;
    Ok(ok)
}

/// One sidecar of the demo: the shipped config, listening where the demo bound it, in
/// front of `upstream`, and optionally another bundle.
struct Gate {
    base: String,
    /// The admin listener's base URL.
    admin: String,
    /// Where the audit trail is written.
    audit: PathBuf,
    meta: crate::snapshot::BundleMeta,
    dir: PathBuf,
    /// Its state store (shared with the demo's review inbox), audit and metrics.
    ops: std::sync::Arc<crate::ops::Ops>,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Gate {
    async fn start(
        args: &Args,
        listeners: Listeners,
        upstream: &str,
        policies: Option<&Path>,
    ) -> Result<Gate, DemoError> {
        Ok(Gate::start_with(args, listeners, upstream, policies, None)
            .await?
            .0)
    }

    /// [`Gate::start`], its 409s linking to the review inbox at `review_url`; and the
    /// config it runs with.
    async fn start_with(
        args: &Args,
        listeners: Listeners,
        upstream: &str,
        policies: Option<&Path>,
        review_url: Option<String>,
    ) -> Result<(Gate, Config), DemoError> {
        let addr = listeners.proxy.local_addr().context("proxy address")?;
        let admin = listeners.admin.local_addr().context("admin address")?;
        let overrides = Overrides {
            listen: Some(addr),
            admin_listen: Some(admin),
            upstream: Some(upstream.to_owned()),
            policies: policies.map(Path::to_path_buf),
            state_url: args.state_url.clone(),
        };
        let mut cfg = Config::load(&args.config, overrides).map_err(|e| {
            DemoError::Invalid(format!("invalid config {}:\n{e}", args.config.display()))
        })?;
        let dir = cfg
            .policies
            .clone()
            .ok_or_else(|| DemoError::Invalid("the config names no policies directory".into()))?;
        // The table is the demo's output: the audit trail goes to a file beside it.
        let audit = std::env::temp_dir().join(format!(
            "toolgate-demo-{}-{}.jsonl",
            std::process::id(),
            admin.port()
        ));
        cfg.audit.sink = AuditSinkKind::File;
        cfg.audit.path = Some(audit.clone());
        cfg.review.url = review_url;
        let kept = cfg.clone();
        let sidecar = Sidecar::load(cfg, system_clock()).await.map_err(|e| {
            DemoError::Invalid(format!("invalid policy bundle {}:\n{e:#}", dir.display()))
        })?;
        let meta = sidecar.snapshot().meta.clone();
        let ops = sidecar.ops();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(sidecar.run(listeners, async {
            let _ = stopped.await;
        }));
        let gate = Gate {
            base: format!("http://{addr}"),
            admin: format!("http://{admin}"),
            audit,
            meta,
            dir,
            ops,
            stop,
            serving,
        };
        Ok((gate, kept))
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.serving.await.context("proxy task")?
    }
}

/// A directory for the demo's scratch files (the widened bundle), removed at exit only
/// by the OS's temp cleaning: it is small, and a running demo may still read it.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("toolgate-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    Ok(dir)
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
