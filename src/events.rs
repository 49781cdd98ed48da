//! The one event stream of a run: probe results, the client's own events, topology changes, outage
//! transitions and lab steps. Producers send [`Event`]s down a channel; the collector records them and the
//! renderer shows them. [`EventLog`] writes them as JSON lines, flushed per event.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock::Stamp;
use crate::error::{AppError, AppResult};
use crate::probe::{ErrorClass, ProbeOutcome};
use crate::topology::TopologyChange;

/// One probe: SET then GET of one target's key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeEvent {
    /// When it was scheduled (wall and offset).
    pub stamp: Stamp,
    /// Which group of targets it belongs to (compare runs several; empty otherwise).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Target name.
    pub target: String,
    /// Tick number.
    pub seq: u64,
    /// The node the client routed it to, where known.
    pub node: Option<String>,
    /// SET round trip (ms).
    pub set_ms: Option<f64>,
    /// GET round trip (ms).
    pub get_ms: Option<f64>,
    /// How late the probe started after its scheduled time (ms).
    pub late_ms: f64,
    /// Ok or the classified failure.
    pub outcome: ProbeOutcome,
}

/// Something the client library reported by itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientEvent {
    /// When it was seen.
    pub stamp: Stamp,
    /// Which group of targets.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// What happened.
    pub kind: ClientEventKind,
    /// The server concerned, where known.
    pub server: Option<String>,
    /// Detail.
    pub detail: String,
}

/// What a client reported of itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientEventKind {
    /// A connection to a node is up again.
    Reconnected,
    /// A real client library said it is reconnecting to a node.
    Reconnecting,
    /// An error the client saw on a connection.
    Error,
    /// The client re-read its slot map.
    TopologyResync,
    /// The client tried to re-read its slot map and no node answered.
    TopologyResyncFailed,
    /// A node did not answer within the client's unresponsive timeout.
    Unresponsive,
    /// An emulated client keeps retrying a node that will not answer, and by its habit never refreshes.
    Stuck,
}

impl ClientEventKind {
    /// The JSON name, e.g. `topology_resync`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientEventKind::Reconnected => "reconnected",
            ClientEventKind::Reconnecting => "reconnecting",
            ClientEventKind::Error => "error",
            ClientEventKind::TopologyResync => "topology_resync",
            ClientEventKind::TopologyResyncFailed => "topology_resync_failed",
            ClientEventKind::Unresponsive => "unresponsive",
            ClientEventKind::Stuck => "stuck",
        }
    }
}

impl std::fmt::Display for ClientEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an outage began or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageTransition {
    /// The first failure after a success.
    Started,
    /// The first success after failures.
    Ended,
}

impl OutageTransition {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutageTransition::Started => "started",
            OutageTransition::Ended => "ended",
        }
    }
}

/// A lab step on the event stream, with the group of targets it was rehearsed for (compare runs two labs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabStep {
    /// Which group of targets the lab serves (empty when there is one).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// The step.
    #[serde(flatten)]
    pub event: crate::lab::LabEvent,
}

impl LabStep {
    /// The step's kind as its JSON name, e.g. `replica_promoted`.
    pub fn kind_name(&self) -> String {
        serde_json::to_value(self.event.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }
}

/// A change of the slot map or of node roles, seen by polling.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopologyEvent {
    /// When it was seen.
    pub stamp: Stamp,
    /// Which group of targets.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// The changes, in order.
    pub changes: Vec<TopologyChange>,
}

/// A target went down or came back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutageEvent {
    /// When the transition happened (the probe's scheduled time).
    pub stamp: Stamp,
    /// Which group of targets.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Target name.
    pub target: String,
    /// Down or back.
    pub transition: OutageTransition,
    /// Class of the failure that started it.
    pub class: Option<ErrorClass>,
    /// Length, for `ended`.
    pub length_ms: Option<u64>,
}

/// A free-form notice on the timeline (maintenance notices, diagnoses, warnings).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoticeEvent {
    /// When it was seen.
    pub stamp: Stamp,
    /// Kind, e.g. `azure_maintenance`, `diagnosis`, `warning`.
    pub kind: String,
    /// What it says.
    pub detail: String,
    /// Structured content, when there is any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// Everything that flows through a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A probe result.
    Probe(ProbeEvent),
    /// The client's own event.
    Client(ClientEvent),
    /// A topology change.
    Topology(TopologyEvent),
    /// An outage transition.
    Outage(OutageEvent),
    /// A lab step.
    Lab(LabStep),
    /// A notice.
    Notice(NoticeEvent),
    /// The current topology as display lines, for the live view only (not recorded: the changes are).
    Snapshot(Vec<String>),
}

impl Event {
    /// The event's stamp (`None` for a snapshot, which has none).
    pub fn stamp(&self) -> Option<&Stamp> {
        match self {
            Event::Probe(e) => Some(&e.stamp),
            Event::Client(e) => Some(&e.stamp),
            Event::Topology(e) => Some(&e.stamp),
            Event::Outage(e) => Some(&e.stamp),
            Event::Lab(e) => Some(&e.event.stamp),
            Event::Notice(e) => Some(&e.stamp),
            Event::Snapshot(_) => None,
        }
    }

    /// The event with its offset counted from `base_ms` later (events before that count from 0): for a clock
    /// [`shifted`](crate::clock::Clock::shifted) by the same amount. Wall times are unchanged.
    pub fn rebased(mut self, base_ms: u64) -> Event {
        let stamp = match &mut self {
            Event::Probe(e) => &mut e.stamp,
            Event::Client(e) => &mut e.stamp,
            Event::Topology(e) => &mut e.stamp,
            Event::Outage(e) => &mut e.stamp,
            Event::Lab(e) => &mut e.event.stamp,
            Event::Notice(e) => &mut e.stamp,
            Event::Snapshot(_) => return self,
        };
        stamp.offset_ms = stamp.offset_ms.saturating_sub(base_ms);
        self
    }
}

/// JSON-lines writer for `--events FILE`: one line per event, flushed as it is written, so a killed run keeps
/// everything up to its last event.
pub struct EventLog {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EventLog {
    /// Creates (truncates) the file. Called before the run starts, so a bad path fails at once.
    pub fn create(path: &Path) -> AppResult<Self> {
        let file = File::create(path)
            .map_err(|e| AppError::BadInput(format!("cannot write the events file {}: {e}", path.display())))?;
        Ok(EventLog { path: path.to_path_buf(), out: BufWriter::new(file) })
    }

    /// Opens the file to add to what it holds (a matrix writes one session after another into it).
    pub fn append(path: &Path) -> AppResult<Self> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| AppError::BadInput(format!("cannot write the events file {}: {e}", path.display())))?;
        Ok(EventLog { path: path.to_path_buf(), out: BufWriter::new(file) })
    }

    /// Appends one event and flushes.
    pub fn write(&mut self, event: &Event) -> AppResult<()> {
        let line = serde_json::to_string(event).unwrap_or_default();
        let line = crate::secret::scrub(&line);
        self.out
            .write_all(line.as_bytes())
            .and_then(|_| self.out.write_all(b"\n"))
            .and_then(|_| self.out.flush())
            .map_err(|e| AppError::BadInput(format!("writing {} failed: {e}", self.path.display())))
    }
}

/// Checks that a file can be created, before a long run starts (the file is left empty).
pub fn check_writable(path: &Path, what: &str) -> AppResult<()> {
    File::create(path)
        .map(|_| ())
        .map_err(|e| AppError::BadInput(format!("cannot write the {what} {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::{LabEvent, LabEventKind};

    #[test]
    fn a_lab_step_keeps_the_flat_json_shape_and_reads_back_typed() {
        let step = LabStep {
            source: "oss".into(),
            event: LabEvent {
                stamp: crate::clock::Clock::start().now(),
                kind: LabEventKind::ReplicaPromoted,
                node: None,
                detail: "127.0.0.1:7003 is primary".into(),
            },
        };
        let line = serde_json::to_string(&Event::Lab(step)).unwrap();
        let raw: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (raw["type"].as_str(), raw["kind"].as_str(), raw["source"].as_str()),
            (Some("lab"), Some("replica_promoted"), Some("oss"))
        );
        match serde_json::from_str::<Event>(&line).unwrap() {
            Event::Lab(l) => {
                assert_eq!((l.kind_name().as_str(), l.event.kind), ("replica_promoted", LabEventKind::ReplicaPromoted))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn client_event_kinds_and_transitions_use_their_json_names() {
        for k in [
            ClientEventKind::Reconnected,
            ClientEventKind::Error,
            ClientEventKind::TopologyResync,
            ClientEventKind::TopologyResyncFailed,
            ClientEventKind::Unresponsive,
            ClientEventKind::Stuck,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for t in [OutageTransition::Started, OutageTransition::Ended] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }
}
