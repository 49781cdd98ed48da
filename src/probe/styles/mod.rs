//! How a probe talks to a cluster: `direct`, the default, measures what each shard's servers offered; the
//! other styles measure what one client library's habits make of it, so a probe can answer "would *this*
//! client have recovered?" beside "was the shard available?".
//!
//! The incident that motivated this: node-redis `createCluster` (4.x/5.x) never recovered after Azure
//! replaced cluster nodes, because it refreshes its slot map only when a node answers `MOVED`, and a node
//! that no longer exists never answers. Every style but fred routes keys itself over per-node connections
//! (one centralized fred client per node endpoint, made by the [`Factory`](crate::connect::Factory)) and
//! follows exactly the rules of its [`ClientSpec`]: direct its own, every other client those of its
//! [`habit::Habit`] (a preset with the user's overrides). fred probes through fred's own cluster client.
//!
//! Shared rules of the routed styles:
//! - At start the slot map is loaded from the seeds, in order, over a direct connection: `CLUSTER SHARDS`,
//!   else `CLUSTER SLOTS`. Each key goes to the primary the map names for its slot.
//! - `ASK` (a slot being migrated) is followed by sending `ASKING` and the command once to the named node,
//!   pipelined on that node's connection so nothing slips in between; the map is not changed unless the habit
//!   refreshes on ASK (the slot still belongs to the old owner until the migration ends, which a `MOVED` says).
//! - A habit reads a new map from its sources one node at a time (or a majority of three at once), each
//!   attempt bounded by the connect timeout; the first node that returns a map with slots wins. direct asks
//!   every candidate at once.
//!   Refreshes are single-flight: operations that wanted a refresh while another ran use its result.
//! - Every operation, including the refreshes it triggers, is bounded by the probe timeout: a refresh that
//!   cannot reach anyone in time is abandoned (direct lets it finish in the background for the next probe).
//! - A node counts as failing from its first connection error or timeout until it answers anything again
//!   (an error reply such as `CLUSTERDOWN` is an answer).

mod client;
mod cluster;
mod direct;
pub mod habit;
mod policy;
mod pool;
mod recovery;
mod redirect;
mod refresh;
mod router;
mod send;
mod steer;

use std::time::Duration;

pub use client::{ClientKind, ClientSpec};
pub use cluster::{EmulatedCluster, StyleOptions};
pub use recovery::{RecoveryHow, ShardRecovery};
pub use redirect::{parse_redirect, Redirect};

/// How long a node must fail, continuously, before `reconnect-refresh` (node-redis 6) refreshes the map,
/// unless `--refresh-after` says otherwise, and before a client that only a redirect moves off a silent node
/// reports it stuck.
pub const DEFAULT_REFRESH_AFTER: Duration = Duration::from_secs(5);
