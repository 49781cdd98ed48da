//! One incident's folder, written complete when the incident closes (or the watcher stops): `report.md`,
//! `timeline.svg`, `summary.json` (failover-recovery's schema), `events.jsonl` (the minute of baseline before
//! it, then everything during it) and `incident.json` (when and why it opened and closed). Written into a
//! hidden folder and renamed, so a folder that exists is whole.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::clock::Clock;
use crate::error::{AppError, AppResult};
use crate::events::{Event, EventLog};
use crate::probe::collect::Collector;
use crate::probe::plan::STRIP_WIDTH;
use crate::probe::session::SessionOutcome;
use crate::report::{self, SourceInfo};
use crate::settings::ProbeSettings;

/// An open incident's record.
pub struct Recording {
    /// Run offset (ms) its own clock starts at: the start of the baseline kept before it.
    pub base_ms: u64,
    /// Run offset (ms) of the first sign of trouble.
    pub started_ms: u64,
    /// The first sign, in words.
    pub trigger: String,
    /// Every event, offsets counted from `base_ms`.
    pub events: Vec<Event>,
}

/// What every incident of a run shares.
pub struct FolderPlan {
    /// Where folders go.
    pub out: PathBuf,
    /// The probing source, as summaries name it.
    pub info: SourceInfo,
    /// The targets probed (a target with no event still gets its row).
    pub targets: Vec<String>,
    /// The run's clock.
    pub clock: Clock,
    /// The probe settings of an incident (its interval is the incident interval).
    pub probe: ProbeSettings,
    /// The baseline interval, at which the stretch before the incident was probed.
    pub baseline: Duration,
    /// The probe timeout.
    pub timeout: Duration,
}

/// `incident.json`: the incident itself.
#[derive(Debug, Serialize)]
struct About {
    started_at: String,
    first_sign: String,
    ended_at: String,
    ending: String,
    interrupted: bool,
    length_ms: u64,
    baseline_from: String,
}

/// Writes the incident that ended at run offset `end_ms`; returns its folder and its length.
pub fn write(
    plan: &FolderPlan,
    rec: Recording,
    end_ms: u64,
    ending: &str,
    interrupted: bool,
) -> AppResult<(PathBuf, Duration)> {
    let clock = plan.clock.shifted(Duration::from_millis(rec.base_ms));
    let span = Duration::from_millis(end_ms.saturating_sub(rec.base_ms).max(1));
    let at = |ms: u64| clock.stamp_at(clock.origin() + Duration::from_millis(ms.saturating_sub(rec.base_ms))).wall;
    let started_at = at(rec.started_ms);
    std::fs::create_dir_all(&plan.out).map_err(|e| fail(&plan.out, e))?;
    let name = folder_name(&plan.out, &started_at);
    let tmp = plan.out.join(format!(".{name}.partial"));
    std::fs::create_dir_all(&tmp).map_err(|e| fail(&tmp, e))?;
    let log = EventLog::create(&tmp.join("events.jsonl"))?;
    let mut collector = Collector::new(clock, span, STRIP_WIDTH, Some(log));
    collector.set_gap(plan.timeout * 2 + plan.probe.interval + Duration::from_millis(200));
    for t in &plan.targets {
        collector.add_target("", t);
    }
    for ev in rec.events {
        collector.handle(ev);
    }
    collector.flush();
    let log_error = collector.log_error.clone();
    let outcome = SessionOutcome { collector, schedule: Vec::new(), elapsed: span, interrupted };
    let probe = ProbeSettings { duration: span, ..plan.probe.clone() };
    let mut summary =
        super::super::failover_recovery::summarize("watch", vec![plan.info.clone()], &probe, &clock, &outcome, None);
    summary.baseline_interval_ms = Some(crate::probe::duration_ms(plan.baseline));
    let json = crate::secret::scrub(&crate::output::to_json(&summary));
    std::fs::write(tmp.join("summary.json"), json).map_err(|e| fail(&tmp, e))?;
    report::write_report(&tmp.join("report.md"), &summary)?;
    report::write_report(&tmp.join("timeline.svg"), &summary)?;
    let about = About {
        started_at: started_at.clone(),
        first_sign: rec.trigger,
        ended_at: at(end_ms),
        ending: ending.to_string(),
        interrupted,
        length_ms: end_ms.saturating_sub(rec.started_ms),
        baseline_from: at(rec.base_ms),
    };
    let about = crate::secret::scrub(&crate::output::to_json(&about));
    std::fs::write(tmp.join("incident.json"), about).map_err(|e| fail(&tmp, e))?;
    if let Some(e) = log_error {
        return Err(AppError::Local(e));
    }
    let dir = plan.out.join(&name);
    std::fs::rename(&tmp, &dir).map_err(|e| fail(&dir, e))?;
    Ok((dir, Duration::from_millis(end_ms.saturating_sub(rec.started_ms))))
}

/// The start time as a folder name (`2026-12-07T00-42-08.123Z`), with `-2`, `-3`... when taken.
fn folder_name(out: &Path, started_at: &str) -> String {
    let base = started_at.replace(':', "-");
    let mut name = base.clone();
    let mut n = 2;
    while out.join(&name).exists() {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

fn fail(path: &Path, e: std::io::Error) -> AppError {
    AppError::Local(format!("cannot write the incident folder {}: {e}", path.display()))
}
