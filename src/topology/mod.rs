//! Cluster topology model: pure parsing and comparison of what Redis reports about
//! itself (`CLUSTER NODES`, `CLUSTER SHARDS`, `CLUSTER SLOTS`, `CLUSTER INFO`,
//! `INFO`, `CLIENT LIST`), hash-slot arithmetic, and a diff that names the changes a
//! failover causes. Nothing here touches the network.

#![warn(missing_docs)]

pub mod endpoint;
pub mod info;
pub mod model;
pub mod nodes;
pub mod role;
pub mod shards;
pub mod slot;

pub use endpoint::{Endpoint, EndpointParseError};
pub use info::{
    parse_client_list, parse_cluster_info, parse_info, parse_info_subfields, ClientEntry, ClusterInfo, InfoParseError,
};
pub use model::{diff, Topology, TopologyChange};
pub use nodes::{parse_cluster_nodes, ClusterNode, NodesParseError};
pub use role::Role;
pub use shards::{
    parse_cluster_shards, parse_cluster_shards_with, parse_cluster_slots, shards_from_nodes, PortPreference, Shard,
    ShardNode, ShardsParseError,
};
pub use slot::{
    covered_count, key_slot, merge, ranges_from_slots, tag_for_slot, tag_in_ranges, uncovered, SlotRange,
    SlotRangeParseError, MAX_SLOT, SLOT_COUNT,
};
