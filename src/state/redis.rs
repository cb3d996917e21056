//! The Redis state store (standalone, TLS or Cluster) through the `redis` crate: one script
//! call per stateful request (`apply.lua`: check every op, then apply all or none), a
//! connection that reconnects by itself, and a health check off the request path.

use super::plan::{Applied, Op, Plan, Refused};
use crate::config::StateConfig;
use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Client, IntoConnectionInfo, Script, TlsCertificates, Value};
use smallvec::SmallVec;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::OnceCell;

static APPLY: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("apply.lua")));
static REFUND: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("refund.lua")));
static PEEK: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("peek.lua")));

#[path = "redis_reviews.rs"]
mod reviews;

/// How long a (re)connection attempt may take; the request path never waits for one
/// longer than `state.timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    /// Set once the cluster's topology was read; until then stateful requests fail closed.
    Cluster(Arc<OnceCell<ClusterConnection>>),
}

/// A connection to the configured Redis; cheap to clone.
#[derive(Clone)]
pub struct Redis {
    conn: Conn,
}

/// Why a call failed, as the metrics count it.
#[derive(Debug)]
pub enum CallError {
    /// The client's own response timeout (`state.timeout`) passed.
    Timeout,
    Connection(String),
    Server(String),
}

impl Redis {
    /// Builds the client for `cfg.url` (`redis://`, `rediss://`, `redis+cluster://`,
    /// `rediss+cluster://`) with the password from `password` and the CA from `cfg.ca_file`.
    /// Connects lazily: a Redis that is down at start only refuses stateful requests.
    pub async fn connect(cfg: &StateConfig, password: Option<&str>) -> anyhow::Result<Redis> {
        let ca = match &cfg.ca_file {
            Some(path) => Some(
                std::fs::read(path).with_context(|| format!("state.ca_file {}", path.display()))?,
            ),
            None => None,
        };
        let certs = || TlsCertificates {
            client_tls: None,
            root_cert: ca.clone(),
        };
        let url = cfg.url.as_str();
        let cluster = url
            .strip_prefix("redis+cluster://")
            .map(|n| (n, "redis"))
            .or_else(|| url.strip_prefix("rediss+cluster://").map(|n| (n, "rediss")));
        if let Some((nodes, scheme)) = cluster {
            let nodes: Vec<String> = nodes
                .split(',')
                .map(|n| format!("{scheme}://{}", n.trim()))
                .collect();
            let mut b = ClusterClientBuilder::new(nodes)
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(cfg.timeout.get())
                .retries(1);
            if let Some(pw) = password {
                b = b.password(pw);
            }
            if scheme == "rediss" {
                b = b.tls(redis::TlsMode::Secure).certs(certs());
            }
            let client = b.build().context("state.url")?;
            let cell = Arc::new(OnceCell::new());
            // A cluster that answers now serves the first request; one that does not is
            // retried in the background, and until then stateful requests fail closed.
            match tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_connection()).await {
                Ok(Ok(c)) => {
                    let _ = cell.set(c);
                    return Ok(Redis {
                        conn: Conn::Cluster(cell),
                    });
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "state store: cluster not reachable yet"),
                Err(_) => tracing::warn!("state store: cluster not reachable yet (timeout)"),
            }
            let filling = cell.clone();
            tokio::spawn(async move {
                loop {
                    match client.get_async_connection().await {
                        Ok(c) => {
                            let _ = filling.set(c);
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "state store: cluster not reachable yet");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            });
            return Ok(Redis {
                conn: Conn::Cluster(cell),
            });
        }
        let mut info = url.into_connection_info().context("state.url")?;
        if let Some(pw) = password {
            info = info
                .clone()
                .set_redis_settings(info.redis_settings().clone().set_password(pw));
        }
        let client = if url.starts_with("rediss://") {
            Client::build_with_tls(info, certs()).context("state.url")?
        } else {
            Client::open(info).context("state.url")?
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(cfg.timeout.get()))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let manager =
            ConnectionManager::new_lazy_with_config(client, config).context("state.url")?;
        Ok(Redis {
            conn: Conn::Single(manager),
        })
    }

    async fn call(&self, script: &Script, plan: &Plan) -> Result<Value, CallError> {
        let mut inv = script.prepare_invoke();
        inv.arg(plan.now_ms).arg(plan.member.as_str());
        for op in &plan.ops {
            inv.key(op.key());
            match op {
                Op::Claim { ttl_ms, .. } => inv.arg("c").arg(ttl_ms).arg(0).arg(0),
                Op::Rate {
                    limit, window_ms, ..
                } => inv.arg("r").arg(limit).arg(window_ms).arg(0),
                Op::Calls { limit, ttl_ms, .. } => inv.arg("n").arg(limit).arg(ttl_ms).arg(0),
                Op::Amount {
                    limit, add, ttl_ms, ..
                } => inv.arg("a").arg(limit).arg(add).arg(ttl_ms),
            };
        }
        self.run(&inv).await
    }

    /// Runs a prepared script invocation on the connection.
    async fn run(&self, inv: &redis::ScriptInvocation<'_>) -> Result<Value, CallError> {
        let result = match &self.conn {
            Conn::Single(m) => inv.invoke_async(&mut m.clone()).await,
            Conn::Cluster(cell) => match cell.get() {
                Some(c) => inv.invoke_async(&mut c.clone()).await,
                None => return Err(CallError::Connection("cluster not reachable yet".into())),
            },
        };
        result.map_err(|e| {
            if e.is_timeout() {
                CallError::Timeout
            } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
                CallError::Connection(e.to_string())
            } else {
                CallError::Server(e.to_string())
            }
        })
    }

    /// Runs `apply.lua` for the plan.
    pub async fn apply(&self, plan: &Plan) -> Result<Applied, CallError> {
        let value = self.call(&APPLY, plan).await?;
        let Value::Array(items) = value else {
            return Err(CallError::Server(format!(
                "unexpected script answer {value:?}"
            )));
        };
        if items.is_empty() {
            return Ok(Applied::Granted);
        }
        let mut refused: SmallVec<[Refused; 1]> = SmallVec::new();
        for pair in items.chunks(2) {
            match pair {
                [Value::Int(op), Value::Int(value)] if (*op as usize) < plan.ops.len() => refused
                    .push(Refused {
                        op: *op as usize,
                        value: *value,
                    }),
                _ => {
                    return Err(CallError::Server(format!(
                        "unexpected script answer {pair:?}"
                    )))
                }
            }
        }
        Ok(Applied::Refused(refused))
    }

    /// Runs `refund.lua` for a plan that was applied.
    pub async fn refund(&self, plan: &Plan) -> Result<(), CallError> {
        self.call(&REFUND, plan).await.map(drop)
    }

    /// Runs `peek.lua`: what each op of the plan has counted.
    pub async fn peek(&self, plan: &Plan) -> Result<Vec<i64>, CallError> {
        match self.call(&PEEK, plan).await? {
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::Int(n) => Ok(n),
                    other => Err(CallError::Server(format!(
                        "unexpected peek answer {other:?}"
                    ))),
                })
                .collect(),
            other => Err(CallError::Server(format!(
                "unexpected peek answer {other:?}"
            ))),
        }
    }

    /// One `PING`.
    pub async fn ping(&self) -> Result<(), CallError> {
        let cmd = redis::cmd("PING");
        let r: redis::RedisResult<String> = match &self.conn {
            Conn::Single(m) => cmd.query_async(&mut m.clone()).await,
            Conn::Cluster(cell) => match cell.get() {
                Some(c) => cmd.query_async(&mut c.clone()).await,
                None => return Err(CallError::Connection("cluster not reachable yet".into())),
            },
        };
        r.map(drop)
            .map_err(|e| CallError::Connection(e.to_string()))
    }
}
