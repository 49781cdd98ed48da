//! `slots`: the slot map, from CLUSTER SHARDS where the server has it, else CLUSTER SLOTS
//! (was `GET /redis/cluster-slots`).

use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::error::AppResult;
use crate::exit::ExitCode;
use crate::inspect::{self, SlotSource};
use crate::output::{self, Report};
use crate::topology::{self, SlotRange, Topology};

/// The `slots` report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlotsReport {
    /// True when the endpoint refused CLUSTER commands.
    pub hidden: bool,
    /// Which command the map came from.
    pub source: Option<SlotSource>,
    /// One row per shard, by first slot.
    pub shards: Vec<ShardRow>,
    /// Slots served.
    pub covered: u32,
    /// Whether all 16384 slots are served.
    pub all_covered: bool,
    /// Ranges nobody serves.
    pub uncovered: Vec<SlotRange>,
    /// Number of primaries that serve slots (a failed primary still listed with no slots is not counted).
    pub primaries: usize,
}

/// One shard of the slot map.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardRow {
    /// Its slot ranges.
    pub ranges: Vec<SlotRange>,
    /// Number of slots.
    pub slot_count: u32,
    /// Primary endpoint.
    pub primary: String,
    /// Replica endpoints.
    pub replicas: Vec<String>,
}

impl SlotsReport {
    /// Builds the report from a topology.
    pub fn from_topology(topo: &Topology, source: SlotSource) -> Self {
        let shards: Vec<ShardRow> = topo
            .shards
            .iter()
            .map(|s| ShardRow {
                ranges: s.slots.clone(),
                slot_count: s.slots.iter().map(|r| r.len()).sum(),
                primary: s.primary.endpoint.to_string(),
                replicas: s.replicas.iter().map(|r| r.endpoint.to_string()).collect(),
            })
            .collect();
        let all: Vec<SlotRange> = topo.shards.iter().flat_map(|s| s.slots.iter().copied()).collect();
        let uncovered = topology::uncovered(&all);
        SlotsReport {
            hidden: false,
            source: Some(source),
            primaries: shards.iter().filter(|s| s.slot_count > 0).count(),
            covered: topology::covered_count(&all),
            all_covered: uncovered.is_empty(),
            uncovered,
            shards,
        }
    }
}

impl Report for SlotsReport {
    fn render(&self) -> String {
        if self.hidden {
            return inspect::hidden_line();
        }
        let mut t = output::table(&["ranges", "slots", "primary", "replicas"]);
        for s in &self.shards {
            t.add_row(vec![
                if s.ranges.is_empty() {
                    "(no slots)".into()
                } else {
                    s.ranges.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(" ")
                },
                s.slot_count.to_string(),
                s.primary.clone(),
                if s.replicas.is_empty() { "none".into() } else { s.replicas.join(", ") },
            ]);
        }
        for r in &self.uncovered {
            t.add_row(vec![r.to_string(), r.len().to_string(), "UNCOVERED".into(), "-".into()]);
        }
        let verdict = if self.all_covered {
            format!("all 16384 slots covered by {} primaries", self.primaries)
        } else {
            format!("{} of 16384 slots covered: {} range(s) UNCOVERED", self.covered, self.uncovered.len())
        };
        format!("{t}\n{verdict}")
    }

    fn exit_code(&self) -> ExitCode {
        if self.hidden || self.all_covered {
            ExitCode::Ok
        } else {
            ExitCode::CheckFailed
        }
    }
}

/// Runs `slots`.
pub async fn run(c: &Ctx) -> AppResult<ExitCode> {
    let conn = c.factory.connect().await?;
    let found = inspect::topology_or_hidden(&conn).await;
    conn.close().await;
    let report = match found? {
        None => SlotsReport {
            hidden: true,
            source: None,
            shards: vec![],
            covered: 0,
            all_covered: false,
            uncovered: vec![],
            primaries: 0,
        },
        Some((topo, source)) => SlotsReport::from_topology(&topo, source),
    };
    Ok(output::emit(c.settings.output, &report))
}
