//! The `toolgate` command line: parses flags and hands off to the library.

use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use toolgate::commands::{self, exit};

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
        Command::Validate { policies } => commands::validate(&policies),
        Command::Test { policies } => commands::test(&policies),
    };
    ExitCode::from(code)
}
