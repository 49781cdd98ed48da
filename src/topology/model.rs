//! The cluster as one value — shards, nodes and `CLUSTER INFO` — with slot lookups,
//! and a diff between two snapshots that names what a failover changed: promotions,
//! demotions, failure flags, nodes joining or leaving, and slots changing owner.

use super::endpoint::Endpoint;
use super::info::ClusterInfo;
use super::nodes::{short, ClusterNode};
use super::role::Role;
use super::shards::{shards_from_nodes, Shard, ShardNode};
use super::slot::{covered_count, uncovered, SlotRange, SLOT_COUNT};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Snapshot of a cluster as reported by one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// Shards sorted by first slot.
    pub shards: Vec<Shard>,
    /// `CLUSTER NODES` lines, if that command was used (may be empty).
    pub nodes: Vec<ClusterNode>,
    /// `CLUSTER INFO`, if fetched.
    pub info: Option<ClusterInfo>,
}

impl Topology {
    /// Topology from `CLUSTER NODES` alone; shards are derived with [`shards_from_nodes`].
    pub fn from_nodes(nodes: Vec<ClusterNode>, info: Option<ClusterInfo>) -> Topology {
        Topology { shards: shards_from_nodes(&nodes), nodes, info }
    }

    /// Topology from a shard list (`CLUSTER SHARDS` or `CLUSTER SLOTS`), without node lines.
    pub fn from_shards(shards: Vec<Shard>, info: Option<ClusterInfo>) -> Topology {
        Topology { shards, nodes: Vec::new(), info }
    }

    /// The shard serving `slot`, if any.
    pub fn shard_for_slot(&self, slot: u16) -> Option<&Shard> {
        self.shards.iter().find(|s| s.owns(slot))
    }

    /// The primary serving `slot`, if any.
    pub fn primary_for_slot(&self, slot: u16) -> Option<&ShardNode> {
        self.shard_for_slot(slot).map(|s| &s.primary)
    }

    /// Every known endpoint (primaries, replicas, node lines), sorted and deduplicated;
    /// unknown addresses such as `noaddr` nodes are left out.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let from_shards = self.shards.iter().flat_map(Shard::nodes).map(|n| &n.endpoint);
        let from_nodes = self.nodes.iter().map(|n| &n.endpoint);
        from_shards
            .chain(from_nodes)
            .filter(|e| !e.is_unknown())
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// Number of distinct slots some shard serves.
    pub fn covered_slots(&self) -> u32 {
        covered_count(&self.all_ranges())
    }

    /// Whether all 16384 slots are served.
    pub fn all_covered(&self) -> bool {
        self.covered_slots() == u32::from(SLOT_COUNT)
    }

    /// Slots no shard serves.
    pub fn uncovered(&self) -> Vec<SlotRange> {
        uncovered(&self.all_ranges())
    }

    fn all_ranges(&self) -> Vec<SlotRange> {
        self.shards.iter().flat_map(|s| s.slots.iter().copied()).collect()
    }
}

/// One difference between two topology snapshots. Serialised with a `kind` tag,
/// e.g. `{"kind":"promoted","id":"…","endpoint":{"host":"…","port":7003}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TopologyChange {
    /// `cluster_state` changed (e.g. `ok` to `fail`).
    StateChanged {
        /// Old state.
        from: String,
        /// New state.
        to: String,
    },
    /// `cluster_current_epoch` changed, as every failover election does.
    EpochChanged {
        /// Old epoch.
        from: u64,
        /// New epoch.
        to: u64,
    },
    /// A node disappeared.
    NodeRemoved {
        /// Node id, if known.
        id: Option<String>,
        /// Its last endpoint.
        endpoint: Endpoint,
    },
    /// A node appeared.
    NodeAdded {
        /// Node id, if known.
        id: Option<String>,
        /// Its endpoint.
        endpoint: Endpoint,
    },
    /// A node kept its id but now announces another address.
    EndpointChanged {
        /// Node id.
        id: String,
        /// Old endpoint.
        from: Endpoint,
        /// New endpoint.
        to: Endpoint,
    },
    /// A node gained or lost the `fail`/`fail?` flag (or `fail` health).
    NodeFailFlag {
        /// Node id, if known.
        id: Option<String>,
        /// Node endpoint (new snapshot).
        endpoint: Endpoint,
        /// Whether the node is now flagged failed.
        failed: bool,
    },
    /// A replica became a primary.
    Promoted {
        /// Node id, if known.
        id: Option<String>,
        /// Node endpoint (new snapshot).
        endpoint: Endpoint,
    },
    /// A primary became a replica.
    Demoted {
        /// Node id, if known.
        id: Option<String>,
        /// Node endpoint (new snapshot).
        endpoint: Endpoint,
    },
    /// Slots now served by another primary endpoint.
    SlotsMoved {
        /// Slots that moved, sorted.
        ranges: Vec<SlotRange>,
        /// Old owner.
        from: Endpoint,
        /// New owner.
        to: Endpoint,
    },
    /// Slots that were served and no longer are.
    SlotsUnassigned {
        /// Slots lost, sorted.
        ranges: Vec<SlotRange>,
        /// Old owner.
        from: Endpoint,
    },
    /// Slots that were unserved and now are.
    SlotsAssigned {
        /// Slots gained, sorted.
        ranges: Vec<SlotRange>,
        /// New owner.
        to: Endpoint,
    },
}

impl TopologyChange {
    /// The serialised `kind` tag, e.g. `"slots_moved"`.
    pub fn kind(&self) -> &'static str {
        match self {
            TopologyChange::StateChanged { .. } => "state_changed",
            TopologyChange::EpochChanged { .. } => "epoch_changed",
            TopologyChange::NodeRemoved { .. } => "node_removed",
            TopologyChange::NodeAdded { .. } => "node_added",
            TopologyChange::EndpointChanged { .. } => "endpoint_changed",
            TopologyChange::NodeFailFlag { .. } => "node_fail_flag",
            TopologyChange::Promoted { .. } => "promoted",
            TopologyChange::Demoted { .. } => "demoted",
            TopologyChange::SlotsMoved { .. } => "slots_moved",
            TopologyChange::SlotsUnassigned { .. } => "slots_unassigned",
            TopologyChange::SlotsAssigned { .. } => "slots_assigned",
        }
    }
}

struct Who<'a>(&'a Endpoint, Option<&'a str>);

impl fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(id) => write!(f, "{} ({})", self.0, short(id)),
            None => write!(f, "{}", self.0),
        }
    }
}

struct Ranges<'a>(&'a [SlotRange]);

impl fmt::Display for Ranges<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count: u32 = self.0.iter().map(SlotRange::len).sum();
        write!(f, "{count} slot{} (", if count == 1 { "" } else { "s" })?;
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for TopologyChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TopologyChange::*;
        match self {
            StateChanged { from, to } => write!(f, "cluster state {from} -> {to}"),
            EpochChanged { from, to } => write!(f, "current epoch {from} -> {to}"),
            NodeRemoved { id, endpoint } => {
                write!(f, "node {} removed", Who(endpoint, id.as_deref()))
            }
            NodeAdded { id, endpoint } => write!(f, "node {} added", Who(endpoint, id.as_deref())),
            EndpointChanged { id, from, to } => {
                write!(f, "node {} moved from {from} to {to}", short(id))
            }
            NodeFailFlag { id, endpoint, failed } => write!(
                f,
                "{} {}",
                Who(endpoint, id.as_deref()),
                if *failed { "flagged failed" } else { "no longer failed" }
            ),
            Promoted { id, endpoint } => {
                write!(f, "promoted {} to primary", Who(endpoint, id.as_deref()))
            }
            Demoted { id, endpoint } => {
                write!(f, "demoted {} to replica", Who(endpoint, id.as_deref()))
            }
            SlotsMoved { ranges, from, to } => {
                write!(f, "{} moved from {from} to {to}", Ranges(ranges))
            }
            SlotsUnassigned { ranges, from } => {
                write!(f, "{} no longer served (was {from})", Ranges(ranges))
            }
            SlotsAssigned { ranges, to } => write!(f, "{} now served by {to}", Ranges(ranges)),
        }
    }
}

/// A node as the diff compares it, from either `CLUSTER NODES` or a shard list.
struct NodeView<'a> {
    id: Option<&'a str>,
    endpoint: &'a Endpoint,
    role: Role,
    failed: Option<bool>,
}

fn node_views(t: &Topology) -> Vec<NodeView<'_>> {
    if !t.nodes.is_empty() {
        t.nodes
            .iter()
            .map(|n| NodeView {
                id: Some(n.id.as_str()),
                endpoint: &n.endpoint,
                role: n.role,
                failed: Some(n.is_failed()),
            })
            .collect()
    } else {
        t.shards
            .iter()
            .flat_map(Shard::nodes)
            .map(|n| NodeView {
                id: n.id.as_deref(),
                endpoint: &n.endpoint,
                role: n.role,
                failed: n.health.as_ref().map(|_| n.is_failed()),
            })
            .collect()
    }
}

fn same_node(a: &NodeView<'_>, b: &NodeView<'_>) -> bool {
    match (a.id, b.id) {
        (Some(x), Some(y)) => x == y,
        _ => a.endpoint == b.endpoint,
    }
}

fn slot_owners(t: &Topology) -> Vec<Option<&Endpoint>> {
    let mut owners = vec![None; usize::from(SLOT_COUNT)];
    for shard in &t.shards {
        for range in &shard.slots {
            for slot in range.slots() {
                if let Some(owner) = owners.get_mut(usize::from(slot)) {
                    *owner = Some(&shard.primary.endpoint);
                }
            }
        }
    }
    owners
}

fn push_slot(ranges: &mut Vec<SlotRange>, slot: u16) {
    match ranges.last_mut() {
        Some(last) if u32::from(last.end) + 1 == u32::from(slot) => last.end = slot,
        _ => ranges.push(SlotRange::single(slot)),
    }
}

/// Changes from `old` to `new`, grouped by kind in this order: state, epoch, nodes
/// removed, added, endpoint changes, fail flags, promotions, demotions, then slot
/// moves, losses and gains; node events are sorted by endpoint. Nodes are matched by
/// id when both sides know it, else by endpoint. Slot ownership is compared by the
/// primary's endpoint, so a failover also shows as slots moving to the promoted node.
/// Identical snapshots give an empty list.
pub fn diff(old: &Topology, new: &Topology) -> Vec<TopologyChange> {
    let mut changes = Vec::new();

    if let (Some(a), Some(b)) = (&old.info, &new.info) {
        if a.state != b.state {
            changes.push(TopologyChange::StateChanged { from: a.state.clone(), to: b.state.clone() });
        }
        if a.current_epoch != b.current_epoch {
            changes.push(TopologyChange::EpochChanged { from: a.current_epoch, to: b.current_epoch });
        }
    }

    let old_nodes = node_views(old);
    let new_nodes = node_views(new);
    let mut new_matched = vec![false; new_nodes.len()];
    let mut removed = Vec::new();
    let mut moved = Vec::new();
    let mut fail_flags = Vec::new();
    let mut promoted = Vec::new();
    let mut demoted = Vec::new();
    let owned_id = |v: &NodeView<'_>| v.id.map(str::to_string);

    for o in &old_nodes {
        let found = new_nodes.iter().enumerate().find(|(i, n)| !new_matched[*i] && same_node(o, n));
        let Some((i, n)) = found else {
            removed.push(TopologyChange::NodeRemoved { id: owned_id(o), endpoint: o.endpoint.clone() });
            continue;
        };
        new_matched[i] = true;
        if let (Some(id), true) = (n.id, o.endpoint != n.endpoint) {
            moved.push(TopologyChange::EndpointChanged {
                id: id.to_string(),
                from: o.endpoint.clone(),
                to: n.endpoint.clone(),
            });
        }
        if let (Some(was), Some(now)) = (o.failed, n.failed) {
            if was != now {
                fail_flags.push(TopologyChange::NodeFailFlag {
                    id: owned_id(n),
                    endpoint: n.endpoint.clone(),
                    failed: now,
                });
            }
        }
        match (o.role, n.role) {
            (Role::Replica, Role::Primary) => {
                promoted.push(TopologyChange::Promoted { id: owned_id(n), endpoint: n.endpoint.clone() })
            }
            (Role::Primary, Role::Replica) => {
                demoted.push(TopologyChange::Demoted { id: owned_id(n), endpoint: n.endpoint.clone() })
            }
            _ => {}
        }
    }
    let added: Vec<TopologyChange> = new_nodes
        .iter()
        .zip(&new_matched)
        .filter(|(_, matched)| !**matched)
        .map(|(n, _)| TopologyChange::NodeAdded { id: owned_id(n), endpoint: n.endpoint.clone() })
        .collect();

    for mut group in [removed, added, moved, fail_flags, promoted, demoted] {
        group.sort_by(|a, b| node_sort_key(a).cmp(&node_sort_key(b)));
        changes.extend(group);
    }

    let before = slot_owners(old);
    let after = slot_owners(new);
    let mut slots_moved: BTreeMap<(&Endpoint, &Endpoint), Vec<SlotRange>> = BTreeMap::new();
    let mut lost: BTreeMap<&Endpoint, Vec<SlotRange>> = BTreeMap::new();
    let mut gained: BTreeMap<&Endpoint, Vec<SlotRange>> = BTreeMap::new();
    for (slot, (was, now)) in (0..SLOT_COUNT).zip(before.iter().zip(&after)) {
        match (*was, *now) {
            (Some(a), Some(b)) if a != b => push_slot(slots_moved.entry((a, b)).or_default(), slot),
            (Some(a), None) => push_slot(lost.entry(a).or_default(), slot),
            (None, Some(b)) => push_slot(gained.entry(b).or_default(), slot),
            _ => {}
        }
    }
    changes.extend(slots_moved.into_iter().map(|((from, to), ranges)| TopologyChange::SlotsMoved {
        ranges,
        from: from.clone(),
        to: to.clone(),
    }));
    changes
        .extend(lost.into_iter().map(|(from, ranges)| TopologyChange::SlotsUnassigned { ranges, from: from.clone() }));
    changes.extend(gained.into_iter().map(|(to, ranges)| TopologyChange::SlotsAssigned { ranges, to: to.clone() }));
    changes
}

fn node_sort_key(change: &TopologyChange) -> Option<&Endpoint> {
    match change {
        TopologyChange::NodeRemoved { endpoint, .. }
        | TopologyChange::NodeAdded { endpoint, .. }
        | TopologyChange::NodeFailFlag { endpoint, .. }
        | TopologyChange::Promoted { endpoint, .. }
        | TopologyChange::Demoted { endpoint, .. } => Some(endpoint),
        TopologyChange::EndpointChanged { to, .. } => Some(to),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::info::parse_cluster_info;
    use crate::topology::nodes::parse_cluster_nodes;
    use crate::topology::nodes::tests::{AFTER_FAILOVER, HEALTHY, ID_A, ID_A1, ID_B, ID_C, ID_NEW};
    use crate::topology::shards::shards_from_nodes;

    fn ep(port: u16) -> Endpoint {
        Endpoint::new("127.0.0.1", port)
    }

    fn info(state: &str, epoch: u64) -> ClusterInfo {
        parse_cluster_info(&format!(
            "cluster_state:{state}\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:6\r\n\
             cluster_size:3\r\ncluster_current_epoch:{epoch}\r\ncluster_my_epoch:1\r\n"
        ))
        .unwrap()
    }

    fn topo(text: &str, state: &str, epoch: u64) -> Topology {
        Topology::from_nodes(parse_cluster_nodes(text).unwrap(), Some(info(state, epoch)))
    }

    #[test]
    fn slot_lookups_and_coverage() {
        let t = topo(HEALTHY, "ok", 6);
        assert_eq!(t.primary_for_slot(0).unwrap().endpoint, ep(7000));
        assert_eq!(t.primary_for_slot(5461).unwrap().id.as_deref(), Some(ID_B));
        assert_eq!(t.primary_for_slot(16383).unwrap().id.as_deref(), Some(ID_C));
        assert_eq!(t.covered_slots(), 16384);
        assert!(t.all_covered());
        assert!(t.uncovered().is_empty());
        let endpoints = t.endpoints();
        assert_eq!(endpoints.len(), 6);
        assert_eq!(endpoints[0], ep(7000));
        assert_eq!(endpoints[5], ep(7005));

        let mut partial = t.clone();
        partial.shards.remove(1);
        assert_eq!(partial.covered_slots(), 16384 - 5462);
        assert!(!partial.all_covered());
        assert_eq!(partial.uncovered(), vec![SlotRange::new(5461, 10922)]);
        assert!(partial.primary_for_slot(6000).is_none());
        assert!(Topology::default().primary_for_slot(0).is_none());
    }

    #[test]
    fn endpoints_skip_noaddr() {
        let text =
            format!("{HEALTHY}464f24147ad773f35fcc1ec33158ebbcccaab7fd :0@0 master,fail,noaddr - 0 0 0 disconnected\n");
        let t = Topology::from_nodes(parse_cluster_nodes(&text).unwrap(), None);
        assert_eq!(t.endpoints().len(), 6);
    }

    #[test]
    fn identical_snapshots_have_no_changes() {
        let t = topo(HEALTHY, "ok", 6);
        assert_eq!(diff(&t, &t), vec![]);
        // Mixed sources describing the same cluster are no change either.
        let shards_only = Topology::from_shards(shards_from_nodes(&t.nodes), Some(info("ok", 6)));
        assert_eq!(diff(&t, &shards_only), vec![]);
        assert_eq!(diff(&shards_only, &t), vec![]);
    }

    #[test]
    fn failover_promotion() {
        let old = topo(HEALTHY, "ok", 6);
        let new = topo(AFTER_FAILOVER, "ok", 7);
        let changes = diff(&old, &new);
        assert_eq!(
            changes,
            vec![
                TopologyChange::EpochChanged { from: 6, to: 7 },
                TopologyChange::NodeFailFlag { id: Some(ID_A.into()), endpoint: ep(7000), failed: true },
                TopologyChange::Promoted { id: Some(ID_A1.into()), endpoint: ep(7003) },
                TopologyChange::SlotsMoved { ranges: vec![SlotRange::new(0, 5460)], from: ep(7000), to: ep(7003) },
            ]
        );
        let lines: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "current epoch 6 -> 7",
                "127.0.0.1:7000 (905eb478) flagged failed",
                "promoted 127.0.0.1:7003 (03bccb10) to primary",
                "5461 slots (0-5460) moved from 127.0.0.1:7000 to 127.0.0.1:7003",
            ]
        );
    }

    #[test]
    fn old_primary_rejoins_as_replica() {
        let rejoined = AFTER_FAILOVER.replacen(
            "127.0.0.1:7000@17000 master,fail - 1700000010000 1700000006000 1 disconnected",
            "127.0.0.1:7000@17000 slave 03bccb10549f46b701e6ecbfaf94d45053701f79 0 1700000030000 7 connected",
            1,
        );
        let changes = diff(&topo(AFTER_FAILOVER, "ok", 7), &topo(&rejoined, "ok", 7));
        assert_eq!(
            changes,
            vec![
                TopologyChange::NodeFailFlag { id: Some(ID_A.into()), endpoint: ep(7000), failed: false },
                TopologyChange::Demoted { id: Some(ID_A.into()), endpoint: ep(7000) },
            ]
        );
        assert_eq!(changes[1].to_string(), "demoted 127.0.0.1:7000 (905eb478) to replica");
    }

    #[test]
    fn node_replaced_on_new_port() {
        // 7000 was forgotten; a fresh node on 7010 took its slots and 7003 follows it.
        let replaced = HEALTHY
            .replacen(
                "905eb478a604058b5b22d6b3be7ae1276f14f0a3 127.0.0.1:7000@17000 myself,master - 0 1700000000000 1 connected 0-5460",
                "f375c0843b563645186df82938db470f55d86e67 127.0.0.1:7010@17010 myself,master - 0 0 8 connected 0-5460",
                1,
            )
            .replacen(
                "slave 905eb478a604058b5b22d6b3be7ae1276f14f0a3",
                "slave f375c0843b563645186df82938db470f55d86e67",
                1,
            );
        let new = topo(&replaced, "ok", 8);
        assert_eq!(new.primary_for_slot(100).unwrap().id.as_deref(), Some(ID_NEW));
        let changes = diff(&topo(HEALTHY, "ok", 6), &new);
        assert_eq!(
            changes,
            vec![
                TopologyChange::EpochChanged { from: 6, to: 8 },
                TopologyChange::NodeRemoved { id: Some(ID_A.into()), endpoint: ep(7000) },
                TopologyChange::NodeAdded { id: Some(ID_NEW.into()), endpoint: ep(7010) },
                TopologyChange::SlotsMoved { ranges: vec![SlotRange::new(0, 5460)], from: ep(7000), to: ep(7010) },
            ]
        );
        assert_eq!(changes[1].to_string(), "node 127.0.0.1:7000 (905eb478) removed");
        assert_eq!(changes[2].to_string(), "node 127.0.0.1:7010 (f375c084) added");
    }

    #[test]
    fn same_id_new_address_is_endpoint_change() {
        let moved = HEALTHY.replace("127.0.0.1:7002@17002", "10.0.0.12:7002@17002");
        let changes = diff(&topo(HEALTHY, "ok", 6), &topo(&moved, "ok", 6));
        assert_eq!(
            changes,
            vec![
                TopologyChange::EndpointChanged {
                    id: ID_C.into(),
                    from: ep(7002),
                    to: Endpoint::new("10.0.0.12", 7002)
                },
                TopologyChange::SlotsMoved {
                    ranges: vec![SlotRange::new(10923, 16383)],
                    from: ep(7002),
                    to: Endpoint::new("10.0.0.12", 7002)
                },
            ]
        );
        assert_eq!(changes[0].to_string(), "node e9c462ee moved from 127.0.0.1:7002 to 10.0.0.12:7002");
    }

    #[test]
    fn lost_shard_marks_slots_unassigned_and_state() {
        let old = topo(HEALTHY, "ok", 6);
        let mut new = old.clone();
        new.shards.remove(1);
        new.info = Some(info("fail", 6));
        let changes = diff(&old, &new);
        assert_eq!(
            changes,
            vec![
                TopologyChange::StateChanged { from: "ok".into(), to: "fail".into() },
                TopologyChange::SlotsUnassigned { ranges: vec![SlotRange::new(5461, 10922)], from: ep(7001) },
            ]
        );
        assert_eq!(changes[0].to_string(), "cluster state ok -> fail");
        assert_eq!(changes[1].to_string(), "5462 slots (5461-10922) no longer served (was 127.0.0.1:7001)");
        let back = diff(&new, &old);
        assert_eq!(back[1], TopologyChange::SlotsAssigned { ranges: vec![SlotRange::new(5461, 10922)], to: ep(7001) });
    }

    #[test]
    fn without_ids_nodes_match_by_endpoint() {
        let strip = |t: &Topology| {
            let mut shards = t.shards.clone();
            for shard in &mut shards {
                shard.primary.id = None;
                shard.primary.health = None;
                for r in &mut shard.replicas {
                    r.id = None;
                    r.health = None;
                }
            }
            Topology::from_shards(shards, None)
        };
        let old = strip(&topo(HEALTHY, "ok", 6));
        let new = strip(&topo(AFTER_FAILOVER, "ok", 7));
        let changes = diff(&old, &new);
        assert_eq!(
            changes,
            vec![
                TopologyChange::Promoted { id: None, endpoint: ep(7003) },
                TopologyChange::SlotsMoved { ranges: vec![SlotRange::new(0, 5460)], from: ep(7000), to: ep(7003) },
            ]
        );
        assert_eq!(changes[0].to_string(), "promoted 127.0.0.1:7003 to primary");
    }

    #[test]
    fn changes_serialise_with_kind_tag() {
        let promoted = TopologyChange::Promoted { id: Some(ID_A1.into()), endpoint: ep(7003) };
        assert_eq!(
            serde_json::to_value(&promoted).unwrap(),
            serde_json::json!({
                "kind": "promoted",
                "id": ID_A1,
                "endpoint": {"host": "127.0.0.1", "port": 7003}
            })
        );
        let moved = TopologyChange::SlotsMoved {
            ranges: vec![SlotRange::new(0, 10), SlotRange::new(12, 12)],
            from: ep(7000),
            to: ep(7003),
        };
        let json = serde_json::to_string(&moved).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"slots_moved","ranges":[{"start":0,"end":10},{"start":12,"end":12}],"from":{"host":"127.0.0.1","port":7000},"to":{"host":"127.0.0.1","port":7003}}"#
        );
        assert_eq!(serde_json::from_str::<TopologyChange>(&json).unwrap(), moved);
        assert_eq!(moved.kind(), "slots_moved");
        assert_eq!(moved.to_string(), "12 slots (0-10,12-12) moved from 127.0.0.1:7000 to 127.0.0.1:7003");
        let flag = TopologyChange::NodeFailFlag { id: None, endpoint: ep(7001), failed: true };
        assert_eq!(serde_json::to_value(&flag).unwrap()["kind"], "node_fail_flag");
        assert_eq!(flag.kind(), "node_fail_flag");
        let epoch = TopologyChange::EpochChanged { from: 1, to: 2 };
        assert_eq!(serde_json::to_string(&epoch).unwrap(), r#"{"kind":"epoch_changed","from":1,"to":2}"#);
    }

    #[test]
    fn topology_round_trips_through_json() {
        let t = topo(AFTER_FAILOVER, "ok", 7);
        let json = serde_json::to_string(&t).unwrap();
        let back: Topology = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }
}
