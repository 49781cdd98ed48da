//! How a probe talks to a cluster: `direct`, the default, measures what each shard's servers offered; the
//! other styles measure what one client library's habits make of it, so a probe can answer "would *this*
//! client have recovered?" beside "was the shard available?".
//!
//! The incident that motivated this: node-redis `createCluster` (4.x/5.x) never recovered after Azure
//! replaced cluster nodes, because it refreshes its slot map only when a node answers `MOVED`, and a node
//! that no longer exists never answers. Every style but fred routes keys itself over per-node connections
//! (one centralized fred client per node endpoint, made by the [`Factory`](crate::connect::Factory)) and
//! follows exactly the refresh rules documented on [`ClientStyle`]; everything else (timeouts, reconnect
//! backoff of the per-node connections) is the factory's. fred probes through fred's own cluster client.
//!
//! Shared rules of the routed styles:
//! - At start the slot map is loaded from the seeds, in order, over a direct connection: `CLUSTER SHARDS`,
//!   else `CLUSTER SLOTS`. Each key goes to the primary the map names for its slot.
//! - `ASK` (a slot being migrated) is followed by sending `ASKING` and the command once to the named node,
//!   pipelined on that node's connection so nothing slips in between; the map is not changed (the slot still
//!   belongs to the old owner until the migration ends, which a `MOVED` will then say).
//! - moved-only and reconnect-refresh read a new map from one node at a time, each attempt bounded by the
//!   connect timeout; the first node that returns a map with slots wins. direct asks every candidate at once.
//!   Refreshes are single-flight: operations that wanted a refresh while another ran use its result.
//! - Every operation, including the refreshes it triggers, is bounded by the probe timeout: a refresh that
//!   cannot reach anyone in time is abandoned (direct lets it finish in the background for the next probe).
//! - A node counts as failing from its first connection error or timeout until it answers anything again
//!   (an error reply such as `CLUSTERDOWN` is an answer).

mod cluster;
pub mod habit;
mod policy;
mod pool;
mod recovery;
mod redirect;
mod router;
mod send;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use cluster::{EmulatedCluster, StyleOptions};
pub use recovery::{RecoveryHow, ShardRecovery};
pub use redirect::{parse_redirect, Redirect};

/// How long a node must fail, continuously, before `reconnect-refresh` refreshes the map (node-redis 6's
/// default for `topologyRefreshOnReconnectionAttemptStrategy`), and before `moved-only` reports it stuck.
pub const DEFAULT_REFRESH_AFTER: Duration = Duration::from_secs(5);

/// The habits of the cluster client a probe emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientStyle {
    /// The cluster's own availability, not one library's habit (the default): one connection per node, every
    /// shard's probes independent of the others', and on any failure (connection error, timeout, MOVED,
    /// CLUSTERDOWN, READONLY, TRYAGAIN, LOADING) the slot map is read again at once from every known node and
    /// every seed, in parallel. Every refresh learns the nodes the map names, so it survives the death of its
    /// seed and the replacement of every node, as long as one seed or one known node answers. A connection that
    /// is down fails a command at once instead of queueing it behind the reconnect.
    #[default]
    Direct,
    /// fred's own cluster client (fred 10.1): re-syncs its slot map on MOVED and on connection loss. One router
    /// serves every node, so while it reconnects to one dead node every shard's commands wait; it rediscovers
    /// from the configured seeds only, so with the seed node dead or replaced it stays stuck on every shard.
    Fred,
    /// node-redis 4.x/5.x `createCluster`: refreshes its slot map only when a node answers MOVED (ask the
    /// node that answered, then the other nodes it knows, then the seeds) and retries the command once; ASK
    /// is followed with `ASKING` and changes nothing. On a connection error or timeout it keeps retrying the same node, reconnecting with backoff,
    /// and never refreshes: a primary that died without a trace is retried forever.
    MovedOnly,
    /// node-redis 6.x with `topologyRefreshOnReconnectionAttemptStrategy` (default 5 s): like moved-only,
    /// but once a node has failed continuously for `refresh_after` the map is refreshed from the healthy
    /// known nodes, then the seeds (again every `refresh_after` while that node stays failing and routed to).
    ReconnectRefresh,
}

impl ClientStyle {
    /// Every style, in declaration order.
    pub const ALL: [ClientStyle; 4] =
        [ClientStyle::Direct, ClientStyle::Fred, ClientStyle::MovedOnly, ClientStyle::ReconnectRefresh];

    /// The flag value, identical to the serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientStyle::Direct => "direct",
            ClientStyle::Fred => "fred",
            ClientStyle::MovedOnly => "moved-only",
            ClientStyle::ReconnectRefresh => "reconnect-refresh",
        }
    }

    /// The client habit this style emulates, whose rules decide its refreshes: `None` for direct (the
    /// cluster's own availability, no client's habit) and fred (fred's own client, probed for real).
    /// moved-only and reconnect-refresh are the node-redis@4 and node-redis@6 presets as emulated so far: a
    /// refresh also asks the known nodes, in map order, where node-redis 4/5 ask the MOVED sender and then
    /// rootNodes only, and node-redis 6 takes its known nodes in a random rotation. The overrides say so.
    pub fn habit(self) -> Option<habit::Habit> {
        let spec = match self {
            ClientStyle::Direct | ClientStyle::Fred => return None,
            ClientStyle::MovedOnly => "moved-only,sources=redirector+known+seeds",
            ClientStyle::ReconnectRefresh => "reconnect-refresh,sources=redirector+known:skip-failing+seeds",
        };
        habit::parse_habit(spec).ok()
    }

    /// Whether this style routes keys itself over per-node connections (everything but fred). In standalone
    /// and enterprise mode there is one endpoint and nothing to route: `direct` then probes over one
    /// connection to it, as fred does.
    pub fn is_emulated(self) -> bool {
        !matches!(self, ClientStyle::Fred)
    }
}

impl fmt::Display for ClientStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn names_agree_between_clap_serde_and_display() {
        for style in ClientStyle::ALL {
            let clap_name = style.to_possible_value().unwrap().get_name().to_string();
            assert_eq!(clap_name, style.as_str());
            assert_eq!(style.to_string(), style.as_str());
            assert_eq!(serde_json::to_string(&style).unwrap(), format!("\"{}\"", style.as_str()));
            assert_eq!(ClientStyle::from_str(style.as_str(), false).unwrap(), style);
        }
        assert!(!ClientStyle::Fred.is_emulated());
        assert!(ClientStyle::Direct.is_emulated());
        assert_eq!(ClientStyle::default(), ClientStyle::Direct);
        assert!(ClientStyle::MovedOnly.is_emulated());
    }

    #[test]
    fn the_node_redis_styles_are_habits() {
        let moved_only = ClientStyle::MovedOnly.habit().expect("moved-only is a habit");
        assert_eq!(moved_only.name, "node-redis@4");
        assert!(!moved_only.leaves_silent_nodes());
        let rr = ClientStyle::ReconnectRefresh.habit().expect("reconnect-refresh is a habit");
        assert_eq!(rr.name, "node-redis@6");
        assert_eq!(rr.triggers.reconnecting_for, Some(DEFAULT_REFRESH_AFTER));
        assert!(ClientStyle::Direct.habit().is_none() && ClientStyle::Fred.habit().is_none());
    }
}
