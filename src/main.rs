//! The `toolgate` command line: parses flags and hands off to the library.

#![deny(unsafe_code)]

use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use toolgate::commands::{self, exit};

// Each request allocates a handful of small buffers, and the audit record is freed on the
// audit writer's thread, not the one that built it: glibc's arenas spend a tenth of the
// sidecar's CPU on that under load, mimalloc's per-thread free lists a fraction of it
// (README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// toolgate: an authorization sidecar for AI-agent tool calls. ALLOW forwards, DEFER (409)
/// holds for review or missing evidence, DENY (403) stops.
#[derive(Parser)]
#[command(name = "toolgate", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate one Stage0 /check payload and print the decision JSON.
    /// Exit code: 0 ALLOW, 3 DEFER, 4 DENY, 2 invalid bundle or payload.
    Check {
        /// The bundle directory.
        #[arg(long, value_name = "DIR")]
        policies: PathBuf,
        /// The payload file, or `-` for standard input.
        #[arg(long, value_name = "FILE", default_value = "-")]
        request: String,
        /// Evaluate at this instant (RFC 3339) instead of now.
        #[arg(long, value_name = "RFC3339")]
        now: Option<jiff::Timestamp>,
        /// The request_id to report (default: derived from the payload).
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Validate a bundle; print every error with file, line and field. Exit 2 if invalid.
    Validate {
        #[arg(long, value_name = "DIR")]
        policies: PathBuf,
    },
    /// Run a bundle's own test cases. Exit 1 if any fails, 2 if the bundle is invalid.
    Test {
        #[arg(long, value_name = "DIR")]
        policies: PathBuf,
    },
    /// Mint a signed approval for an approval_request (a 409 body, or its approval_request
    /// object) and print it, for the x-approval header. Exit 2 on invalid input.
    Approve {
        /// The signing key: PEM private key (RS256, ES256, EdDSA) or raw HMAC secret (HS256).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The 409 body or approval_request JSON, or `-` for standard input.
        #[arg(long, value_name = "FILE", default_value = "-")]
        request: String,
        /// Who approves (the approved_by claim).
        #[arg(long, value_name = "NAME")]
        approver: String,
        /// How long the approval is valid (at most the bundle's approval.max_ttl).
        #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_ttl)]
        ttl: jiff::SignedDuration,
        #[command(flatten)]
        mint: MintFlags,
    },
    /// Mint a bearer identity token with the given claims (for tests and demos; production
    /// tokens come from your identity provider). Exit 2 on invalid input.
    Token {
        /// The signing key: PEM private key (RS256, ES256, EdDSA) or raw HMAC secret (HS256).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The claims, a JSON object, e.g. {"sub":"agent-7","roles":["finance_operator"],
        /// "iss":"...","aud":"toolgate"}; iat and exp are added unless given.
        #[arg(long, value_name = "JSON")]
        claims: String,
        /// Lifetime (sets exp unless the claims give one).
        #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_ttl)]
        ttl: jiff::SignedDuration,
        #[command(flatten)]
        mint: MintFlags,
    },
    /// Run the sidecar. Flags override the config file. Exit 2 on an invalid config or
    /// bundle; 0 after a graceful shutdown (SIGTERM or SIGINT).
    Serve {
        /// The proxy listener address, e.g. 0.0.0.0:8000.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// The upstream URL, e.g. http://127.0.0.1:8080.
        #[arg(long, value_name = "URL")]
        upstream: Option<String>,
        #[command(flatten)]
        flags: ServerFlags,
    },
    /// The decision API alone (Stage0's POST /check, with API keys), no proxy: for a central
    /// deployment behind a Service. Needs decision_api.listen and decision_api.keys_file in
    /// the config; the admin listener serves health, metrics and decisions as usual.
    Api {
        /// The decision API's address (decision_api.listen), e.g. 0.0.0.0:8100.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        #[command(flatten)]
        flags: ServerFlags,
    },
    /// The review inbox: requests held for human approval, approved or rejected in a
    /// browser (behind an authenticating proxy). Holds the approval signing key
    /// (review.signing_key); shares the sidecars' state store (state.url).
    Review {
        /// The inbox's address (review.listen), e.g. 127.0.0.1:9400.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        #[command(flatten)]
        flags: ServerFlags,
    },
    /// API keys for the decision API.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Try toolgate in one minute: a mock tool API, the sidecar in front of it with the
    /// shipped config and bundle, the seed scenarios replayed through it, then serving
    /// until Ctrl-C. Exit 1 if a scenario ends unexpectedly.
    Demo(toolgate::demo::Args),
}

/// What `serve` and `api` share: the config file, the flags that override it, the logs.
#[derive(clap::Args)]
struct ServerFlags {
    /// The config file.
    #[arg(long, value_name = "FILE", default_value = "config/toolgate.yaml")]
    config: PathBuf,
    /// The admin listener address, e.g. 127.0.0.1:9901.
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<std::net::SocketAddr>,
    /// The policy bundle directory.
    #[arg(long, value_name = "DIR")]
    policies: Option<PathBuf>,
    /// The state store (state.url): memory, redis://host:port/db, rediss://...,
    /// redis+cluster://host:port,host:port. The password comes from the config's
    /// state.password_file or state.password_env, never from the command line.
    #[arg(long, value_name = "URL")]
    state_url: Option<String>,
    /// Log format for application logs (filter with RUST_LOG).
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

impl ServerFlags {
    /// The config overrides these flags and `listen`/`upstream` make.
    fn overrides(
        &mut self,
        listen: Option<std::net::SocketAddr>,
        upstream: Option<String>,
    ) -> toolgate::config::Overrides {
        toolgate::config::Overrides {
            listen,
            admin_listen: self.admin_listen,
            upstream,
            policies: self.policies.take(),
            state_url: self.state_url.take(),
        }
    }
}

#[derive(clap::Subcommand)]
enum KeysCommand {
    /// Print a new key (shown once: keep it in the caller's secret store) and the line to
    /// add to the keys file (it holds the key's SHA-256, never the key).
    New {
        /// The key's name: 1-64 characters of A-Z a-z 0-9 - _ . (audit records and the
        /// `key` metric label carry it).
        name: String,
    },
}

/// Flags shared by `approve` and `token`.
#[derive(clap::Args)]
struct MintFlags {
    /// The algorithm (default: the key's; HS256 for a raw secret).
    #[arg(long, value_name = "ALG")]
    alg: Option<String>,
    /// The key id to put in the header, when the verifier holds a key set (JWKS).
    #[arg(long, value_name = "KID")]
    kid: Option<String>,
    /// Mint as of this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    now: Option<jiff::Timestamp>,
}

fn parse_ttl(text: &str) -> Result<jiff::SignedDuration, String> {
    toolgate::duration::parse_signed(text)
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to stderr: stdout carries the audit trail.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Installs the SIGTERM and SIGINT handlers now, and returns the future that resolves on
/// either: the start of a graceful shutdown. Installing before the listeners bind means a
/// signal can never find the process without its handler (and kill it outright).
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutting down"),
            _ = int.recv() => tracing::info!(signal = "SIGINT", "shutting down"),
        }
    })
}

/// The most worker threads a sidecar takes: it shares its pod with the service it guards.
const MAX_WORKERS: usize = 2;

/// A runtime sized for a sidecar: as many workers as CPUs this process may use (its
/// affinity mask and cgroup quota), at most [`MAX_WORKERS`]. With one CPU, a
/// current-thread runtime: no work stealing and no cross-thread wake-ups on a core that
/// could not run a second worker anyway.
fn sidecar_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    if cpus <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cpus.min(MAX_WORKERS))
            .enable_all()
            .build()
    }
}

fn serve(config: PathBuf, overrides: toolgate::config::Overrides, log_format: LogFormat) -> u8 {
    init_logs(log_format);
    match toolgate::config::Config::load(&config, overrides) {
        Ok(cfg) => run_until_signalled(|signals| toolgate::app::serve(cfg, signals)),
        Err(e) => {
            eprintln!("toolgate: invalid config {}:\n{e}", config.display());
            exit::INVALID
        }
    }
}

/// Runs a server on the sidecar runtime until SIGTERM or SIGINT; its error exits 2.
fn run_until_signalled<F, Fut>(serve: F) -> u8
where
    F: FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let runtime = match sidecar_runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("toolgate: cannot start the runtime: {e}");
            return exit::FAILED;
        }
    };
    let served = runtime.block_on(async {
        let signals = shutdown_signal()?;
        serve(Box::pin(signals)).await
    });
    match served {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("toolgate: {e:#}");
            exit::INVALID
        }
    }
}

/// Reads the config file, applies the flags and `adjust`, validates; `Err` is the exit
/// code, the errors printed.
fn load_config(
    config: &std::path::Path,
    overrides: toolgate::config::Overrides,
    adjust: impl FnOnce(&mut toolgate::config::Config),
) -> Result<toolgate::config::Config, u8> {
    let invalid = |e: &dyn std::fmt::Display| {
        eprintln!("toolgate: invalid config {}:\n{e}", config.display());
        exit::INVALID
    };
    let mut cfg = toolgate::config::Config::from_file(config).map_err(|e| invalid(&e))?;
    cfg.apply(overrides);
    adjust(&mut cfg);
    cfg.validate().map_err(|e| invalid(&e))?;
    Ok(cfg)
}

fn review(
    config: PathBuf,
    listen: Option<std::net::SocketAddr>,
    overrides: toolgate::config::Overrides,
    log_format: LogFormat,
) -> u8 {
    init_logs(log_format);
    let adjust = |cfg: &mut toolgate::config::Config| {
        if let Some(addr) = listen {
            cfg.review.listen = addr;
        }
    };
    match load_config(&config, overrides, adjust) {
        Ok(cfg) => run_until_signalled(|signals| toolgate::inbox::start::serve(cfg, signals)),
        Err(code) => code,
    }
}

fn api(
    config: PathBuf,
    listen: Option<std::net::SocketAddr>,
    overrides: toolgate::config::Overrides,
    log_format: LogFormat,
) -> u8 {
    init_logs(log_format);
    let adjust = |cfg: &mut toolgate::config::Config| {
        if listen.is_some() {
            cfg.decision_api.listen = listen;
        }
    };
    match load_config(&config, overrides, adjust) {
        Ok(cfg) => run_until_signalled(|signals| toolgate::app::serve_api(cfg, signals)),
        Err(code) => code,
    }
}

impl MintFlags {
    fn options<'a>(
        &'a self,
        key: &'a std::path::Path,
        ttl: jiff::SignedDuration,
    ) -> commands::MintOptions<'a> {
        commands::MintOptions {
            key,
            alg: self.alg.as_deref(),
            kid: self.kid.as_deref(),
            ttl,
            now: self.now,
        }
    }
}

fn read_request(source: &str) -> std::io::Result<Vec<u8>> {
    if source == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(source)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check {
            policies,
            request,
            now,
            request_id,
        } => match read_request(&request) {
            Ok(payload) => commands::check(&policies, &payload, now, request_id),
            Err(e) => {
                eprintln!("toolgate: cannot read {request}: {e}");
                exit::FAILED
            }
        },
        Command::Approve {
            key,
            request,
            approver,
            ttl,
            mint,
        } => match read_request(&request) {
            Ok(payload) => commands::approve(&payload, &approver, &mint.options(&key, ttl)),
            Err(e) => {
                eprintln!("toolgate: cannot read {request}: {e}");
                exit::FAILED
            }
        },
        Command::Token {
            key,
            claims,
            ttl,
            mint,
        } => commands::token(claims.as_bytes(), &mint.options(&key, ttl)),
        Command::Validate { policies } => commands::validate(&policies),
        Command::Test { policies } => commands::test(&policies),
        Command::Serve {
            listen,
            upstream,
            mut flags,
        } => {
            let overrides = flags.overrides(listen, upstream);
            serve(flags.config, overrides, flags.log_format)
        }
        Command::Api { listen, mut flags } => {
            let overrides = flags.overrides(None, None);
            api(flags.config, listen, overrides, flags.log_format)
        }
        Command::Review { listen, mut flags } => {
            let overrides = flags.overrides(None, None);
            review(flags.config, listen, overrides, flags.log_format)
        }
        Command::Keys(KeysCommand::New { name }) => match toolgate::api::keys::new_key(&name) {
            Ok((key, line)) => {
                println!("key (shown once): {key}");
                println!("keys file line:   {line}");
                exit::OK
            }
            Err(e) => {
                eprintln!("toolgate keys new: {e}");
                exit::INVALID
            }
        },
        // The demo polls this before it prints its addresses, which installs the handlers.
        Command::Demo(args) => toolgate::demo::main(args, async {
            match shutdown_signal() {
                Ok(signals) => signals.await,
                Err(e) => {
                    eprintln!("toolgate demo: cannot install signal handlers: {e}");
                    std::future::pending().await
                }
            }
        }),
    };
    ExitCode::from(code)
}
