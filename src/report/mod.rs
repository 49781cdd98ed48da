//! The result of a probing run (failover-recovery, compare) as one typed summary, and its writers: the table
//! for people, JSON for scripts (the field names are a documented contract).

mod table;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use table::render_table;

use crate::events::NoticeEvent;
use crate::probe::collect::{Overall, TargetReport, TopologyRecord};
use crate::probe::engine::ScheduleStats;
use crate::probe::Verdict;

/// Everything a probing run found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    /// `failover-recovery` or `compare`.
    pub command: String,
    /// Tool version.
    pub version: String,
    /// Targets probed: mode and endpoints per source.
    pub sources: Vec<SourceInfo>,
    /// Wall time of the start (RFC 3339).
    pub started_at: String,
    /// Planned duration (ms).
    pub planned_duration_ms: u64,
    /// How long probing lasted (ms).
    pub elapsed_ms: u64,
    /// Probe interval (ms).
    pub interval_ms: u64,
    /// Ended early by Ctrl-C / SIGTERM.
    pub interrupted: bool,
    /// Per target.
    pub targets: Vec<TargetReport>,
    /// Across all targets.
    pub overall: Overall,
    /// Client events by kind (reconnected, error, topology_resync, unresponsive).
    pub client_events: BTreeMap<String, u64>,
    /// Topology changes seen by polling, in order.
    pub topology_changes: Vec<TopologyRecord>,
    /// Notices (maintenance events, diagnoses, warnings).
    pub notices: Vec<NoticeEvent>,
    /// The lab's scenario and ground truth, for `--lab` runs.
    pub lab: Option<LabSummary>,
    /// Scheduler figures per source.
    pub schedule: Vec<SourceSchedule>,
    /// Passed or failed, with reasons.
    pub verdict: Verdict,
}

/// One probed source.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Group name (empty for a single target).
    pub name: String,
    /// Connection mode.
    pub mode: String,
    /// Client style.
    pub client: String,
    /// Seed URLs, password masked.
    pub endpoints: Vec<String>,
}

/// Scheduler figures of one source.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceSchedule {
    /// Group name.
    pub source: String,
    /// The figures.
    #[serde(flatten)]
    pub stats: ScheduleStats,
}

/// The lab part of a rehearsal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabSummary {
    /// Scenario name.
    pub scenario: String,
    /// When it was injected (ms offset).
    pub injected_at_ms: u64,
    /// The affected shard (e.g. `slots 0`), where one shard was affected.
    pub shard: Option<String>,
    /// The lab's own observation: when writes to the shard stopped and resumed.
    pub write_stopped_ms: Option<u64>,
    /// When the shard took writes again.
    pub write_resumed_ms: Option<u64>,
    /// Ground-truth unavailability (ms).
    pub ground_truth_ms: Option<u64>,
    /// Longest outage the probes measured on that shard (ms).
    pub measured_ms: Option<u64>,
    /// The scenario's full report from the lab.
    pub report: serde_json::Value,
    /// Error, if the scenario failed.
    pub error: Option<String>,
}
