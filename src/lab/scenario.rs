//! Scenarios: their names, their parameters and what a run of one reports (steps, ground truth, every shard's
//! write truth).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{LabEvent, TopologyKind};
use crate::topology::Endpoint;

/// The name of a scenario, as typed on the command line (`kill-primary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioKind {
    /// Promote a replica of the target shard in a planned way (CLUSTER FAILOVER / FAILOVER).
    RoleSwap,
    /// SIGKILL the target shard's primary; the cluster (or Sentinel) promotes a replica.
    KillPrimary,
    /// Replace one node as planned maintenance does: new node, sync, fail over to it, retire the old one.
    ReplaceNode,
    /// Replace every node in turn until no original endpoint is left.
    RollingReplace,
    /// SIGSTOP the target primary, SIGCONT after `--for`.
    HangPrimary,
}

impl ScenarioKind {
    /// The command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioKind::RoleSwap => "role-swap",
            ScenarioKind::KillPrimary => "kill-primary",
            ScenarioKind::ReplaceNode => "replace-node",
            ScenarioKind::RollingReplace => "rolling-replace",
            ScenarioKind::HangPrimary => "hang-primary",
        }
    }
}

impl std::fmt::Display for ScenarioKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long `hang-primary` stops the primary when no duration is given.
pub const DEFAULT_HANG: Duration = Duration::from_secs(2);

/// How long a demoted primary keeps running (answering MOVED) after its replacement was promoted, before it is
/// shut down, when no `--drain` is given. Azure Managed Redis's documents describe patching as "nodes being
/// patched are removed from the cluster; any shards on these VMs will be demoted and migrated to one of the new
/// VMs", and then the old VMs are deleted: demote, migrate, remove, so a demoted node lingers a while. The
/// documents give no figure: 5 s is our assumption.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);

/// A fault scenario. `shard` picks the target shard by index in slot order: `None` and `Some(0)` are both the
/// shard that owns slot 0 (the default). Topologies without shards have one "shard": the replication group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scenario {
    /// Planned promotion of a replica of the target shard.
    RoleSwap {
        /// Target shard index.
        shard: Option<usize>,
    },
    /// SIGKILL of the target shard's primary.
    KillPrimary {
        /// Target shard index.
        shard: Option<usize>,
    },
    /// Replacement of the target shard's primary (or, with `replica`, of its first replica).
    ReplaceNode {
        /// Target shard index.
        shard: Option<usize>,
        /// Replace a replica instead of the primary (no write interruption).
        replica: bool,
        /// Cluster: how long the demoted primary keeps running after the new one is promoted (0: shut it down
        /// at once).
        drain: Duration,
    },
    /// Replacement of every node, replicas of a shard before its primary.
    RollingReplace {
        /// Cluster: how long each demoted primary keeps running after its replacement is promoted.
        drain: Duration,
    },
    /// SIGSTOP of the target shard's primary for `duration`, then SIGCONT.
    HangPrimary {
        /// Target shard index.
        shard: Option<usize>,
        /// How long the primary stays stopped.
        duration: Duration,
    },
}

impl Scenario {
    /// Builds a scenario from its command-line name and flags (`None`: [`DEFAULT_HANG`], [`DEFAULT_DRAIN`]).
    pub fn from_kind(
        kind: ScenarioKind,
        shard: Option<usize>,
        hang_for: Option<Duration>,
        replica: bool,
        drain: Option<Duration>,
    ) -> Scenario {
        let drain = drain.unwrap_or(DEFAULT_DRAIN);
        match kind {
            ScenarioKind::RoleSwap => Scenario::RoleSwap { shard },
            ScenarioKind::KillPrimary => Scenario::KillPrimary { shard },
            ScenarioKind::ReplaceNode => Scenario::ReplaceNode { shard, replica, drain },
            ScenarioKind::RollingReplace => Scenario::RollingReplace { drain },
            ScenarioKind::HangPrimary => Scenario::HangPrimary { shard, duration: hang_for.unwrap_or(DEFAULT_HANG) },
        }
    }

    /// Its name.
    pub fn kind(&self) -> ScenarioKind {
        match self {
            Scenario::RoleSwap { .. } => ScenarioKind::RoleSwap,
            Scenario::KillPrimary { .. } => ScenarioKind::KillPrimary,
            Scenario::ReplaceNode { .. } => ScenarioKind::ReplaceNode,
            Scenario::RollingReplace { .. } => ScenarioKind::RollingReplace,
            Scenario::HangPrimary { .. } => ScenarioKind::HangPrimary,
        }
    }

    /// The target shard index (0 = the shard owning slot 0).
    pub fn shard(&self) -> usize {
        match self {
            Scenario::RoleSwap { shard }
            | Scenario::KillPrimary { shard }
            | Scenario::ReplaceNode { shard, .. }
            | Scenario::HangPrimary { shard, .. } => shard.unwrap_or(0),
            Scenario::RollingReplace { .. } => 0,
        }
    }

    /// How long a demoted primary lingers before it is shut down (zero for scenarios that retire no primary).
    pub fn drain(&self) -> Duration {
        match self {
            Scenario::ReplaceNode { drain, .. } | Scenario::RollingReplace { drain } => *drain,
            _ => Duration::ZERO,
        }
    }
}

/// What the lab itself saw of the affected shard's writes, in ms on the run's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// When the lab acted (SIGKILL, SIGSTOP, failover requested).
    pub write_stopped_ms: u64,
    /// The first moment the shard's (new) primary answered OK to a SET of a key in its slots.
    pub write_resumed_ms: u64,
    /// `write_resumed_ms - write_stopped_ms`.
    pub unavailable_ms: u64,
}

/// One action of a scenario on one node (rolling-replace has one per node).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioStep {
    /// What was done, e.g. `replace 127.0.0.1:21004`.
    pub action: String,
    /// The shard concerned, e.g. `slots 0-5460`.
    pub shard: String,
    /// Its primary before.
    pub old_primary: Option<Endpoint>,
    /// Its primary after.
    pub new_primary: Option<Endpoint>,
    /// The endpoint that no longer exists, if any.
    pub retired: Option<Endpoint>,
    /// Write interruption of the shard; `None` when only a replica was touched.
    pub ground_truth: Option<GroundTruth>,
    /// How long the demoted primary kept running after the promotion, ms (cluster replacements of a primary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_ms: Option<u64>,
}

/// One shard's writes during a scenario, as the lab's own watcher saw them: a SET of a key in the shard's slots
/// every ~10 ms on whichever node took the last one (other nodes are tried while it fails), from just before the
/// lab acted until the scenario had settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardTruth {
    /// The shard as its slot ranges (`slots 0-5460`), as [`ScenarioReport::shard`] names it; `replication group`.
    pub shard: String,
    /// Whether the scenario acted on this shard (on its primary or one of its replicas).
    pub affected: bool,
    /// When writes first stopped, ms on the run's clock; `None` when they never did.
    pub write_stopped_ms: Option<u64>,
    /// When writes last resumed, ms on the run's clock; `None` when they never stopped.
    pub write_resumed_ms: Option<u64>,
    /// How long no write succeeded, ms: the sum of `windows`; 0 when writes never stopped.
    pub unavailable_ms: u64,
    /// Every interval in which no write to the shard succeeded, in order.
    pub windows: Vec<GroundTruth>,
}

impl ShardTruth {
    /// The truth of a shard from its windows.
    pub fn from_windows(shard: String, affected: bool, windows: Vec<GroundTruth>) -> ShardTruth {
        ShardTruth {
            shard,
            affected,
            write_stopped_ms: windows.first().map(|w| w.write_stopped_ms),
            write_resumed_ms: windows.last().map(|w| w.write_resumed_ms),
            unavailable_ms: windows.iter().map(|w| w.unavailable_ms).sum(),
            windows,
        }
    }
}

/// The result of one scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// Which scenario.
    pub scenario: ScenarioKind,
    /// On which topology.
    pub topology: TopologyKind,
    /// The target shard as its slot ranges (`slots 0-5460`), `replication group`, or `all shards`.
    pub shard: String,
    /// The target shard's primary before.
    pub old_primary: Option<Endpoint>,
    /// The target shard's primary after.
    pub new_primary: Option<Endpoint>,
    /// Endpoints that no longer exist.
    pub retired_endpoints: Vec<Endpoint>,
    /// The target shard's write interruption (rolling-replace: the one when its primary was replaced).
    pub ground_truth: Option<GroundTruth>,
    /// Every shard's writes during the scenario, in slot order: a cluster's healthy shards too (they refuse
    /// writes while the cluster state is `fail`); a replication group's one shard has `ground_truth`'s figures.
    #[serde(default)]
    pub shards: Vec<ShardTruth>,
    /// Every node action with its own ground truth.
    pub steps: Vec<ScenarioStep>,
    /// How long the scenario took, ms.
    pub duration_ms: u64,
    /// Every event, in order.
    pub events: Vec<LabEvent>,
}

impl ScenarioReport {
    /// Puts a finished scenario's report together. `shards` is empty for a replication group: its one shard gets
    /// the figures of `ground_truth`.
    pub(crate) fn assemble(
        scenario: &Scenario,
        topology: TopologyKind,
        shard: String,
        steps: Vec<ScenarioStep>,
        mut shards: Vec<ShardTruth>,
        duration_ms: u64,
        mut events: Vec<LabEvent>,
    ) -> ScenarioReport {
        let kind = scenario.kind();
        let rolling = kind == ScenarioKind::RollingReplace;
        // The headline step: the target shard's primary change (rolling-replace), else the only step.
        let head = if rolling {
            steps
                .iter()
                .find(|s| s.shard == shard && s.ground_truth.is_some())
                .or_else(|| steps.iter().find(|s| s.ground_truth.is_some()))
                .or(steps.first())
        } else {
            steps.first()
        };
        let (old_primary, new_primary) = if rolling {
            (
                steps.iter().find(|s| s.shard == shard).and_then(|s| s.old_primary.clone()),
                steps.iter().rev().find(|s| s.shard == shard).and_then(|s| s.new_primary.clone()),
            )
        } else {
            (head.and_then(|s| s.old_primary.clone()), head.and_then(|s| s.new_primary.clone()))
        };
        let ground_truth = head.and_then(|s| s.ground_truth);
        if shards.is_empty() {
            shards.push(ShardTruth::from_windows(shard.clone(), true, ground_truth.into_iter().collect()));
        }
        // Ground-truth events are recorded when seen, stamped when they happened.
        events.sort_by_key(|e| e.stamp.offset_ms);
        ScenarioReport {
            scenario: kind,
            topology,
            shard: if rolling && topology == TopologyKind::Cluster { "all shards".into() } else { shard },
            old_primary,
            new_primary,
            retired_endpoints: steps.iter().filter_map(|s| s.retired.clone()).collect(),
            ground_truth,
            shards,
            duration_ms,
            steps,
            events,
        }
    }
}
