//! The result of a probing run (failover-recovery, compare) as one typed summary, and its writers: the table
//! for people, JSON for scripts (the field names are a documented contract), and `--report FILE` as a Markdown
//! incident report, an SVG timeline or an HTML page.

mod markdown;
mod parts;
mod svg;
mod table;
#[cfg(test)]
pub(crate) mod testdata;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use markdown::render_markdown;
pub use svg::{render_html, render_svg};
pub use table::render_table;

use crate::error::{AppError, AppResult};
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
    /// A watch incident: the baseline interval (ms) of the stretch before it opened, which its events include.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_interval_ms: Option<u64>,
    /// Ended early by Ctrl-C / SIGTERM.
    pub interrupted: bool,
    /// Per target.
    pub targets: Vec<TargetReport>,
    /// Across all targets.
    pub overall: Overall,
    /// Client events by kind (reconnected, error, topology_resync, unresponsive).
    pub client_events: BTreeMap<String, u64>,
    /// Topology changes seen by polling, in order (the first 5000).
    pub topology_changes: Vec<TopologyRecord>,
    /// Topology changes left out of `topology_changes` because of the cap (the events file has them all).
    #[serde(default)]
    pub topology_changes_dropped: u64,
    /// Notices (maintenance events, diagnoses, warnings), the first 5000.
    pub notices: Vec<NoticeEvent>,
    /// Notices left out of `notices` because of the cap (the events file has them all).
    #[serde(default)]
    pub notices_dropped: u64,
    /// The lab's scenario and ground truth, for `--lab` runs.
    pub lab: Option<LabSummary>,
    /// Scheduler figures per source.
    pub schedule: Vec<SourceSchedule>,
    /// Passed or failed, with reasons.
    pub verdict: Verdict,
    /// Per source: its own verdict (compare runs several sources).
    #[serde(default)]
    pub per_source: Vec<SourceVerdict>,
    /// How each shard recovered, for emulated client styles.
    #[serde(default)]
    pub recovery: Vec<SourceRecovery>,
    /// Further labs of the rehearsal (compare runs an enterprise lab next to the cluster lab).
    #[serde(default)]
    pub extra_labs: Vec<LabSummary>,
}

/// One source's verdict and the expectation a CI job set for it (`--expect NAME=fail`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceVerdict {
    /// Source name.
    pub source: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// `pass` or `fail`: what the run expected of it.
    pub expected: String,
    /// Whether the verdict matches the expectation.
    pub as_expected: bool,
}

/// How each shard recovered, for one emulated source.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceRecovery {
    /// Source name.
    pub source: String,
    /// Per failure episode (and per shard that never failed).
    pub shards: Vec<crate::probe::styles::ShardRecovery>,
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
    /// Every shard's ground truth next to what the probes measured on its target, in slot order (a replication
    /// group has one); empty when the scenario did not run.
    #[serde(default)]
    pub shards: Vec<ShardComparison>,
    /// The scenario's full report from the lab.
    pub report: serde_json::Value,
    /// Error, if the scenario failed.
    pub error: Option<String>,
}

/// One shard's ground truth next to what the probes measured on the target matched to it by slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardComparison {
    /// The shard as its slot ranges (`slots 0-5460`), or `replication group`.
    pub shard: String,
    /// Whether the scenario acted on it.
    pub affected: bool,
    /// How long no write to the shard succeeded, as the lab saw it (ms; 0 when writes never stopped).
    pub ground_truth_ms: u64,
    /// The probes' outage on its target (ms): the windows that overlap the lab's, else the target's longest
    /// outage (0 when it had none); `None` when no target of the run is that shard.
    pub measured_ms: Option<u64>,
    /// `measured_ms - ground_truth_ms` (ms, negative when the probes saw less), when measured.
    pub difference_ms: Option<i64>,
}

/// The kind of `--report FILE`, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// `.md`: an incident report for a postmortem.
    Markdown,
    /// `.svg`: the availability timeline as a picture.
    Svg,
    /// `.html` / `.htm`: the picture and the summary table on one page.
    Html,
}

impl ReportFormat {
    /// The format a path's extension asks for (case-insensitive).
    pub fn from_path(path: &Path) -> AppResult<ReportFormat> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("md") => Ok(ReportFormat::Markdown),
            Some("svg") => Ok(ReportFormat::Svg),
            Some("html" | "htm") => Ok(ReportFormat::Html),
            _ => Err(AppError::BadInput(format!(
                "--report {}: unsupported file type; use .md (Markdown), .svg (timeline picture) or .html/.htm (page)",
                path.display()
            ))),
        }
    }

    /// The report in this format.
    pub fn render(self, s: &RunSummary) -> String {
        match self {
            ReportFormat::Markdown => render_markdown(s),
            ReportFormat::Svg => render_svg(s),
            ReportFormat::Html => render_html(s),
        }
    }
}

/// Checks `--report FILE` before a run starts: a known extension, and a file that can be created (it is left
/// empty until the report is written), so a typo does not cost a whole run.
pub fn check_report_path(path: &Path) -> AppResult<ReportFormat> {
    let format = ReportFormat::from_path(path)?;
    crate::events::check_writable(path, "report")?;
    Ok(format)
}

/// Writes the report in the format the extension names, secrets masked.
pub fn write_report(path: &Path, s: &RunSummary) -> AppResult<()> {
    let format = ReportFormat::from_path(path)?;
    let text = crate::secret::scrub(&format.render(s));
    std::fs::write(path, text)
        .map_err(|e| AppError::BadInput(format!("cannot write the report {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_extension() {
        for (path, want) in [
            ("r.md", ReportFormat::Markdown),
            ("dir/R.MD", ReportFormat::Markdown),
            ("t.svg", ReportFormat::Svg),
            ("p.html", ReportFormat::Html),
            ("p.htm", ReportFormat::Html),
        ] {
            assert_eq!(ReportFormat::from_path(Path::new(path)).unwrap(), want);
        }
        for bad in ["r.txt", "report", "r.md.bak", ".md"] {
            let err = ReportFormat::from_path(Path::new(bad)).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, AppError::BadInput(_)));
            assert!(msg.contains(".md") && msg.contains(".svg") && msg.contains(".html"), "{msg}");
            assert!(msg.contains(bad), "{msg}");
        }
    }

    #[test]
    fn check_then_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.md");
        assert_eq!(check_report_path(&path).unwrap(), ReportFormat::Markdown);
        assert!(path.exists());
        write_report(&path, &testdata::sample()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("## Verdict"));

        let svg = dir.path().join("run.svg");
        write_report(&svg, &testdata::sample()).unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));

        let missing = dir.path().join("no/such/dir/run.html");
        let err = check_report_path(&missing).unwrap_err();
        assert!(err.to_string().contains("cannot write the report"), "{err}");
        assert!(check_report_path(&dir.path().join("run.pdf")).is_err());
    }
}
