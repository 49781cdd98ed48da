//! Flags of `matrix`: the scenarios, the clients (rows), traffic, expectations and the lab's sizes.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::duration::parse_positive_duration;

/// Flags of `matrix`.
#[derive(Debug, Clone, Args)]
pub struct MatrixArgs {
    /// The scenarios, comma-separated, each on a fresh lab cluster, one after another.
    #[arg(long = "lab", value_enum, value_delimiter = ',', required = true, value_name = "SCENARIO,...")]
    pub scenarios: Vec<crate::lab::ScenarioKind>,
    /// The clients (rows): `all` (every preset, then fred), or a comma-separated list of direct, fred and
    /// PRESET[,param=value...]; a `param=value` belongs to the preset before it. direct (the shards' own
    /// availability) is always the first row.
    #[arg(long, default_value = "all", value_name = "CLIENT,...")]
    pub clients: String,
    /// Traffic through each scenario: busy (probes throughout), idle (no probes from the injection until the
    /// scenario ended: a quiet shard, or the night), both (each scenario twice).
    #[arg(long, value_enum, default_value_t = TrafficChoice::Busy)]
    pub traffic: TrafficChoice,
    /// What a client's fate should be: `[SCENARIO[/busy|/idle]:]CLIENT=pass|fail` (pass: recovered; fail:
    /// stuck). Repeat. Every other cell is expected to recover. The exit code is 0 when every cell is as expected.
    #[arg(long = "expect", value_name = "[SCENARIO[/busy|/idle]:]CLIENT=pass|fail")]
    pub expect: Vec<String>,
    /// How long each scenario's run probes [default: --at + 30s + the longest refresh timer of the requested
    /// clients (periodic refresh, map age, reconnect time), at most 120s].
    #[arg(long, value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub duration: Option<Duration>,
    /// Time between probes of each shard, per client.
    #[arg(long, default_value = "200ms", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub interval: Duration,
    /// When to inject each scenario, after probing starts.
    #[arg(long, default_value = "5s", value_parser = crate::duration::parse_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub at: Duration,
    /// hang-primary: how long the primary stays stopped.
    #[arg(long = "for", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub hang_for: Option<Duration>,
    /// Which shard the scenarios act on (index by first slot; default the shard owning slot 0).
    #[arg(long)]
    pub shard: Option<usize>,
    /// Lab cluster primaries.
    #[arg(long, default_value_t = 3)]
    pub primaries: usize,
    /// Lab replicas per primary.
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// The clients' seed: a HAProxy discovery endpoint (proxy), or the node owning slot 0 (node).
    #[arg(long, value_enum, default_value_t = crate::lab::SeedKind::Proxy)]
    pub seed: crate::lab::SeedKind,
    /// replace-node, rolling-replace: how long a demoted primary keeps answering MOVED before it is shut down.
    #[arg(long, value_parser = crate::duration::parse_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub drain: Option<Duration>,
    /// Write the matrix to FILE: FILE.md (Markdown) or FILE.json.
    #[arg(long, help_heading = "Output", value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write every event of every scenario as JSON lines to FILE (one file; each scenario restarts the clock).
    #[arg(long, help_heading = "Output", value_name = "FILE")]
    pub events: Option<PathBuf>,
}

/// `matrix --traffic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrafficChoice {
    /// Probes throughout.
    Busy,
    /// No probes while the scenario runs.
    Idle,
    /// Each scenario twice: busy, then idle.
    Both,
}
