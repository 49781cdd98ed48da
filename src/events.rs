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
    /// `reconnected`, `error`, `topology_resync`, `unresponsive`.
    pub kind: String,
    /// The server concerned, where known.
    pub server: Option<String>,
    /// Detail.
    pub detail: String,
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
    /// `started` or `ended`.
    pub transition: String,
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
    /// A lab step (as JSON, from the lab module).
    Lab(serde_json::Value),
    /// A notice.
    Notice(NoticeEvent),
    /// The current topology as display lines, for the live view only (not recorded: the changes are).
    Snapshot(Vec<String>),
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
