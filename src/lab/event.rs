//! The steps of a lab's life as typed events, stamped on the run's clock.

use serde::{Deserialize, Serialize};

use crate::clock::Stamp;
use crate::topology::Endpoint;

/// What happened, as a `LabEvent` kind (snake_case in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabEventKind {
    /// A Redis node (or Sentinel, HAProxy) process started and answers.
    NodeStarted,
    /// A node is known to every other node (cluster) or attached to its primary.
    NodeJoined,
    /// A replica's link to its primary is up and every node lists it as a replica.
    ReplicaSynced,
    /// The lab asked for a failover (CLUSTER FAILOVER, FAILOVER).
    FailoverRequested,
    /// A replica is primary, as every node sees it.
    ReplicaPromoted,
    /// SIGKILL sent to a node.
    NodeKilled,
    /// SIGSTOP sent to a node.
    NodeStopped,
    /// SIGCONT sent to a node.
    NodeResumed,
    /// A node was shut down (SIGTERM) and reaped.
    NodeShutdown,
    /// CLUSTER FORGET of a retired node sent to every remaining node.
    NodeForgotten,
    /// A demoted primary keeps running (answering MOVED) for the drain before it is shut down.
    NodeDraining,
    /// An endpoint no longer exists.
    EndpointRetired,
    /// HAProxy's admin socket changed a server slot.
    ProxyReconfigured,
    /// Sentinel was pointed at the new primary.
    SentinelReconfigured,
    /// A node that still said it was primary was made a replica of the real one (fencing).
    NodeDemoted,
    /// The affected shard's primary accepted a write again (ground truth).
    WritesResumed,
    /// A topology is ready.
    LabReady,
    /// A scenario began.
    ScenarioStarted,
    /// A scenario ended.
    ScenarioFinished,
}

/// One step of a lab's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabEvent {
    /// When, on the run's clock.
    pub stamp: Stamp,
    /// What.
    pub kind: LabEventKind,
    /// The node it concerns, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Endpoint>,
    /// Details for people.
    pub detail: String,
}
