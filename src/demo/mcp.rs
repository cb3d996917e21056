//! The demo's payments MCP server, built with the official MCP SDK (`rmcp`) and served over
//! Streamable HTTP at `/mcp`: four tools, one more than `policies/mcp` maps
//! (`export_customers`), so the demo can show a tool hidden from `tools/list` and refused.
//! Like the mock tool API it trusts its caller completely and records every tool call that
//! reaches it, so the demo (and the tests) can tell what toolgate let through.

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{schemars, tool, tool_handler, tool_router, ServerHandler};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// One tool call as the MCP server received it.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    pub tool: &'static str,
    pub arguments: Value,
}

/// What reached the server, shared by every session.
pub type CallLog = Arc<Mutex<Vec<ToolCall>>>;

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct Account {
    /// The account to read.
    pub account: String,
}

#[derive(Debug, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
pub struct Payout {
    /// The destination account.
    pub account: String,
    /// The amount, in `currency`.
    pub amount: f64,
    /// ISO 4217 code, e.g. EUR.
    pub currency: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct Customer {
    /// The customer to delete.
    pub customer_id: String,
}

/// The payments MCP server: one instance per session, the call log shared.
#[derive(Clone)]
pub struct PaymentsMcp {
    log: CallLog,
    // Read by the code `tool_handler` generates.
    #[allow(dead_code)]
    tool_router: ToolRouter<PaymentsMcp>,
}

impl PaymentsMcp {
    fn record(&self, tool: &'static str, arguments: Value) {
        if let Ok(mut log) = self.log.lock() {
            log.push(ToolCall { tool, arguments });
        }
    }
}

#[tool_router]
impl PaymentsMcp {
    #[tool(description = "Read an account's balance")]
    fn get_balance(&self, Parameters(a): Parameters<Account>) -> String {
        self.record("get_balance", json!({ "account": a.account }));
        json!({ "account": a.account, "balance": 18250.75, "currency": "EUR" }).to_string()
    }

    #[tool(description = "Create a payout to a destination account")]
    fn create_payout(&self, Parameters(p): Parameters<Payout>) -> String {
        self.record("create_payout", json!(p));
        json!({ "payout_id": "po_demo_1", "status": "created", "amount": p.amount }).to_string()
    }

    #[tool(description = "Delete a customer and their data")]
    fn delete_customer(&self, Parameters(c): Parameters<Customer>) -> String {
        self.record("delete_customer", json!({ "customer_id": c.customer_id }));
        json!({ "deleted": c.customer_id }).to_string()
    }

    #[tool(description = "Export every customer record")]
    fn export_customers(&self) -> String {
        self.record("export_customers", json!({}));
        json!({ "customers": 48213 }).to_string()
    }
}

#[tool_handler]
impl ServerHandler for PaymentsMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("Payments: balances, payouts, customers")
    }
}

/// The running server. It serves until the runtime ends.
#[derive(Clone)]
pub struct PaymentsServer {
    pub addr: SocketAddr,
    pub log: CallLog,
}

impl PaymentsServer {
    /// Serves on `listener` in a background task: sessions (`Mcp-Session-Id`) for the
    /// protocol revisions that have them, answers as event streams.
    pub fn start(listener: TcpListener) -> std::io::Result<PaymentsServer> {
        let addr = listener.local_addr()?;
        let log = CallLog::default();
        let shared = log.clone();
        let service: StreamableHttpService<PaymentsMcp, LocalSessionManager> =
            StreamableHttpService::new(
                move || {
                    Ok(PaymentsMcp {
                        log: shared.clone(),
                        tool_router: PaymentsMcp::tool_router(),
                    })
                },
                Default::default(),
                StreamableHttpServerConfig::default(),
            );
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = TowerToHyperService::new(service.clone());
                tokio::spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(PaymentsServer { addr, log })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The tools called so far, in order.
    pub fn calls(&self) -> Vec<ToolCall> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}
