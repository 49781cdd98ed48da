//! The flags of `lab` and its subcommands.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::duration::parse_positive_duration;
use crate::lab::{ScenarioKind, TopologyKind, DEFAULT_STATE_FILE};

/// Flags of `lab`.
#[derive(Debug, Clone, Args)]
pub struct LabArgs {
    /// What to do with the lab.
    #[command(subcommand)]
    pub action: LabAction,
}

/// The `lab` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum LabAction {
    /// Start a topology and run it until Ctrl-C (or, with --detach, leave it running and write a state file).
    #[command(
        after_help = "Examples:\n  redis-failover-probe lab up --topology cluster --primaries 3 --replicas 1\n  \
                      redis-failover-probe lab up --topology enterprise --detach\n  \
                      redis-failover-probe lab up --tls --detach   # then: --url rediss://... --tls-ca DIR/ca.crt"
    )]
    Up(UpArgs),
    /// Show the processes of a detached lab and whether they run.
    #[command(after_help = "Example:\n  redis-failover-probe lab status --output json")]
    Status(StateArgs),
    /// Run a fault scenario against a detached lab.
    #[command(after_help = "Scenarios: role-swap, kill-primary, replace-node, rolling-replace, hang-primary.\n\
                      The target shard is the one owning slot 0 unless --shard N picks the N-th in slot order.\n\
                      Example:\n  redis-failover-probe lab run kill-primary --shard 1")]
    Run(RunArgs),
    /// Stop every process of a detached lab, remove its dir and the state file.
    #[command(after_help = "Example:\n  redis-failover-probe lab down --state ./.redis-failover-probe-lab.json")]
    Down(StateArgs),
    /// Time the lab on this machine: cluster ready, replace-node, rolling-replace, enterprise ready.
    #[command(after_help = "Example:\n  redis-failover-probe lab bench --runs 3")]
    Bench(BenchArgs),
}

/// Flags of `lab up`.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Which topology.
    #[arg(long, value_enum, default_value_t = TopologyKind::Cluster)]
    pub topology: TopologyKind,
    /// Cluster primaries.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub primaries: u16,
    /// Replicas per primary [default: 1 for cluster and enterprise, 0 for standalone].
    #[arg(long, value_parser = clap::value_parser!(u16).range(0..=5))]
    pub replicas: Option<u16>,
    /// cluster-node-timeout (cluster) and Sentinel down-after-milliseconds (enterprise).
    #[arg(long, default_value = "1s", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub node_timeout: Duration,
    /// Keep the temp dir (configs and logs) when the lab stops.
    #[arg(long)]
    pub keep_dir: bool,
    /// Cluster: a stable discovery endpoint (HAProxy to any live node) as the seed, like a managed cluster's
    /// public address.
    #[arg(long)]
    pub seed_proxy: bool,
    /// TLS only, as managed caches are: every endpoint takes rediss:// with a certificate signed by a CA the lab
    /// makes in its dir (pass it with --tls-ca).
    #[arg(long)]
    pub tls: bool,
    /// Leave the lab running, write the state file and return.
    #[arg(long)]
    pub detach: bool,
    /// Internal: this process is the keeper of a detached lab (started by `lab up --detach` itself).
    #[arg(long, hide = true, requires = "detach")]
    pub keeper: bool,
    /// The state file written by --detach.
    #[arg(long, default_value = DEFAULT_STATE_FILE, value_name = "FILE")]
    pub state: PathBuf,
    /// First port to try (free ports are searched upwards from it).
    #[arg(long, value_name = "PORT")]
    pub base_port: Option<u16>,
}

/// The state file flag.
#[derive(Debug, Clone, Args)]
pub struct StateArgs {
    /// The state file of a detached lab.
    #[arg(long, default_value = DEFAULT_STATE_FILE, value_name = "FILE")]
    pub state: PathBuf,
}

/// Flags of `lab run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The scenario.
    #[arg(value_enum)]
    pub scenario: ScenarioKind,
    /// How long hang-primary keeps the primary stopped [default: 2s].
    #[arg(long = "for", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub hang_for: Option<Duration>,
    /// Target shard: index in slot order (0 = the shard owning slot 0, the default).
    #[arg(long, value_name = "N")]
    pub shard: Option<usize>,
    /// replace-node: replace the shard's first replica instead of its primary.
    #[arg(long)]
    pub replica: bool,
    /// replace-node, rolling-replace on a cluster: how long a demoted primary keeps running (answering MOVED)
    /// after the new primary is promoted, before it is shut down; 0 shuts it down at once [default: 5s, an
    /// assumption: managed caches demote, migrate, then remove nodes, and say nothing of how long that takes].
    #[arg(long, value_parser = crate::duration::parse_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub drain: Option<Duration>,
    /// The state file of a detached lab.
    #[arg(long, default_value = DEFAULT_STATE_FILE, value_name = "FILE")]
    pub state: PathBuf,
}

/// Flags of `lab bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Runs per figure (the median is reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=20))]
    pub runs: u16,
}
