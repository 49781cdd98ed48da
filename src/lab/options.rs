//! What a lab is: its topology kind and its options, and the checks they must pass before anything starts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::mode::Mode;

/// Which topology a lab runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TopologyKind {
    /// OSS cluster: N primaries × R replicas.
    #[default]
    Cluster,
    /// One HAProxy endpoint in front of a primary and replicas, Sentinel promoting on failure.
    Enterprise,
    /// One node, optionally with replicas, no proxy.
    Standalone,
}

impl TopologyKind {
    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            TopologyKind::Cluster => "cluster",
            TopologyKind::Enterprise => "enterprise",
            TopologyKind::Standalone => "standalone",
        }
    }

    /// The connection mode a client of this topology uses.
    pub fn mode(self) -> Mode {
        match self {
            TopologyKind::Cluster => Mode::OssCluster,
            TopologyKind::Enterprise => Mode::Enterprise,
            TopologyKind::Standalone => Mode::Standalone,
        }
    }
}

impl std::fmt::Display for TopologyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How big a lab is and how it behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabOptions {
    /// Cluster primaries (cluster only).
    pub primaries: usize,
    /// Replicas per primary (cluster), of the primary (standalone, enterprise: at least 1).
    pub replicas: usize,
    /// `cluster-node-timeout` (cluster) and Sentinel's `down-after-milliseconds` (enterprise).
    pub node_timeout: Duration,
    /// Leave the temp dir (configs, logs) in place when the lab ends.
    pub keep_dir: bool,
    /// First port to try; free ports are searched upwards from it.
    pub base_port: Option<u16>,
    /// Cluster: put a stable discovery endpoint (HAProxy forwarding to any live node) in front, as a managed
    /// OSS cluster's public address is; its URL becomes the seed. Node replacement keeps it pointed at live nodes.
    pub seed_proxy: bool,
    /// Cluster without `seed_proxy`: the only seed is the node that owned slot 0 when the lab started (the
    /// default victim of kill-primary), as a client configured with one node's address has; otherwise every node.
    pub seed_node: bool,
    /// TLS only: every node, Sentinel and the HAProxy endpoint take `rediss://` connections, verified against a
    /// CA the lab makes in its dir ([`Lab::tls_ca`](super::Lab::tls_ca)).
    pub tls: bool,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            primaries: 3,
            replicas: 1,
            node_timeout: Duration::from_millis(1000),
            keep_dir: false,
            base_port: None,
            seed_proxy: false,
            seed_node: false,
            tls: false,
        }
    }
}

/// Checks the options against the topology before any process starts.
pub(crate) fn validate(kind: TopologyKind, opts: &LabOptions) -> AppResult<()> {
    let bad = |m: String| Err(AppError::BadInput(m));
    match kind {
        TopologyKind::Cluster if opts.primaries == 0 || opts.primaries > 50 => {
            bad(format!("--primaries {}: use 1 to 50", opts.primaries))
        }
        TopologyKind::Enterprise if opts.replicas == 0 => {
            bad("enterprise needs at least one replica (--replicas 1 or more)".into())
        }
        TopologyKind::Cluster if opts.seed_proxy && opts.seed_node => {
            bad("a cluster lab has one kind of seed: the proxy or the first node, not both".into())
        }
        _ if opts.replicas > 5 => bad(format!("--replicas {}: use 0 to 5", opts.replicas)),
        _ if opts.node_timeout < Duration::from_millis(100) => {
            bad(format!("--node-timeout {}: use at least 100ms", crate::duration::human(opts.node_timeout)))
        }
        _ => Ok(()),
    }
}
