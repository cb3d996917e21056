//! A three-node Redis Cluster of [`RedisServer`]s, for the `redis+cluster://` state store.

use super::{cli_output, free_port, run, text, tool, RedisOpts, RedisServer, POLL};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long `--cluster create` and the wait for `cluster_state:ok` may take.
const CLUSTER_READY: Duration = Duration::from_secs(20);

/// Three `redis-server` nodes in cluster mode, the 16384 slots split between them, no
/// replicas.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::launch(RedisOpts::default(), || {
                    // An explicit bus port: PORT + 10000 may be past 65535 for an ephemeral
                    // PORT.
                    format!(
                        "--cluster-enabled yes --cluster-config-file nodes.conf \
                         --cluster-node-timeout 2000 --cluster-port {}",
                        free_port()
                    )
                    .split(' ')
                    .map(str::to_owned)
                    .collect()
                })
            })
            .collect();
        let cluster = RedisCluster { nodes };
        let mut create = Command::new(tool("redis-cli", "redis-tools"));
        create.args(["--cluster", "create"]);
        create.args(cluster.ports().iter().map(|p| format!("127.0.0.1:{p}")));
        create.args(["--cluster-replicas", "0", "--cluster-yes"]);
        let out = run(&mut create, CLUSTER_READY)
            .unwrap_or_else(|| panic!("{create:?} did not finish within {CLUSTER_READY:?}"));
        assert!(
            out.status.success(),
            "{create:?}: {}\n{}{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        let deadline = Instant::now() + CLUSTER_READY;
        for node in 0..cluster.nodes.len() {
            loop {
                let info = cluster.cli(node, &["cluster", "info"]);
                if info.lines().any(|l| l.trim() == "cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "node {node} not ok within {CLUSTER_READY:?}:\n{info}"
                );
                std::thread::sleep(POLL);
            }
        }
        cluster
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(RedisServer::port).collect()
    }

    /// `redis-cli -c` (following MOVED redirections) against node `node` (0, 1 or 2).
    pub fn cli(&self, node: usize, args: &[&str]) -> String {
        let mut c = self.nodes[node].cli_command(&["-c"]);
        c.args(args);
        cli_output(&mut c)
    }

    /// One node, to stop, restart or pause.
    pub fn node(&mut self, node: usize) -> &mut RedisServer {
        &mut self.nodes[node]
    }
}
