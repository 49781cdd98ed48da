//! What to probe: one key per shard in oss-cluster mode (a hash tag inside the shard's slots), one key (or
//! `--keys N`) on a single endpoint otherwise. Keys carry the prefix and the run id, never user data.

use serde::{Deserialize, Serialize};

use crate::topology::{self, Endpoint, SlotRange, Topology};

/// One thing the engine probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeTarget {
    /// Stable name: the shard's first slot range (`slots 0-5460`) or `endpoint` / `key N`.
    pub name: String,
    /// The probe key.
    pub key: String,
    /// The key's slot.
    pub slot: u16,
    /// The shard's ranges when the target is a shard.
    pub ranges: Vec<SlotRange>,
    /// The primary that owned the slot when the target was planned.
    pub endpoint: Option<Endpoint>,
}

/// Targets for a cluster: one per shard, keyed into that shard's slots.
pub fn for_cluster(topo: &Topology, prefix: &str, run_id: &str) -> Vec<ProbeTarget> {
    topo.shards
        .iter()
        .filter_map(|s| {
            let tag = topology::tag_in_ranges(&s.slots)?;
            let key = format!("{prefix}{run_id}:{{{tag}}}");
            let first = s.slots.first()?;
            Some(ProbeTarget {
                name: format!("slots {first}"),
                slot: topology::key_slot(key.as_bytes()),
                key,
                ranges: s.slots.clone(),
                endpoint: Some(s.primary.endpoint.clone()),
            })
        })
        .collect()
}

/// Targets for one endpoint: `keys` keys (at least one).
pub fn for_endpoint(endpoint: &Endpoint, keys: usize, prefix: &str, run_id: &str) -> Vec<ProbeTarget> {
    (0..keys.max(1))
        .map(|i| {
            let key = format!("{prefix}{run_id}:{i}");
            ProbeTarget {
                name: if keys <= 1 { endpoint.to_string() } else { format!("key {i}") },
                slot: topology::key_slot(key.as_bytes()),
                key,
                ranges: vec![],
                endpoint: Some(endpoint.clone()),
            }
        })
        .collect()
}

/// Keeps the targets whose shard still exists and adds targets for new shards, when the slot map changed.
/// A target keeps its key (and so its record) as long as its slot is still served.
pub fn replan(old: &[ProbeTarget], topo: &Topology, prefix: &str, run_id: &str) -> Vec<ProbeTarget> {
    let mut out: Vec<ProbeTarget> = Vec::new();
    for t in old {
        let mut t = t.clone();
        if let Some(shard) = topo.shards.iter().find(|s| s.slots.iter().any(|r| r.contains(t.slot))) {
            t.endpoint = Some(shard.primary.endpoint.clone());
            t.ranges = shard.slots.clone();
        }
        out.push(t);
    }
    for fresh in for_cluster(topo, prefix, run_id) {
        let covered = out.iter().any(|t| fresh.ranges.iter().any(|r| r.contains(t.slot)));
        if !covered {
            out.push(fresh);
        }
    }
    out
}
