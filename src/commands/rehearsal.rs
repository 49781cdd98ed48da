//! Rehearsals on the local lab (`--lab SCENARIO`): start the topology, inject the scenario at `--at` while the
//! probes run, forward the lab's steps into the event stream as they happen, and set the lab's ground truth
//! next to what the probes measured.

use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::cli::RehearsalArgs;
use crate::clock::Clock;
use crate::error::{AppError, AppResult};
use crate::events::Event;
use crate::lab::{
    GroundTruth, Lab, LabOptions, Scenario, ScenarioKind, ScenarioReport, SeedKind, ShardTruth, TopologyKind,
};
use crate::mode::Mode;
use crate::probe::collect::TargetReport;
use crate::probe::outage::OutageWindow;
use crate::report::{LabSummary, ShardComparison};

/// The lab topology that matches a connection mode.
pub fn topology_for(mode: Mode) -> TopologyKind {
    match mode {
        Mode::OssCluster => TopologyKind::Cluster,
        Mode::Enterprise => TopologyKind::Enterprise,
        Mode::Standalone => TopologyKind::Standalone,
    }
}

/// Checks the rehearsal flags against the probing duration.
pub fn validate(args: &RehearsalArgs, duration: Duration) -> AppResult<()> {
    if args.lab.is_some() && args.at >= duration {
        return Err(AppError::BadInput(format!(
            "--at {} is not before the end of --duration {}: the scenario would never be seen",
            crate::probe::fmt_duration(args.at),
            crate::probe::fmt_duration(duration)
        )));
    }
    Ok(())
}

/// Starts a lab of `kind` with the rehearsal's sizes (TLS-only with `--tls`: the lab's target then carries the
/// lab's CA, so the probes verify the certificates).
pub async fn start(kind: TopologyKind, args: &RehearsalArgs) -> AppResult<Lab> {
    let replicas = if kind == TopologyKind::Standalone { args.replicas.min(1) } else { args.replicas };
    // A cluster gets a stable discovery endpoint as its seed, as a managed OSS cluster has: without it, replacing
    // every node would leave even a client that falls back to its seeds nowhere to go. `--seed node` asks for
    // exactly that: the one node owning slot 0, as a client configured with one node's address.
    let cluster = kind == TopologyKind::Cluster;
    let opts = LabOptions {
        primaries: args.primaries,
        replicas,
        seed_proxy: cluster && args.seed == SeedKind::Proxy,
        seed_node: cluster && args.seed == SeedKind::Node,
        tls: args.tls,
        ..LabOptions::default()
    };
    Lab::start(kind, &opts, Clock::start(), None).await
}

/// The scenario the flags ask for.
pub fn scenario(kind: ScenarioKind, args: &RehearsalArgs) -> Scenario {
    Scenario::from_kind(kind, args.shard, args.hang_for, false, args.drain)
}

/// What an injection hands back: the lab (to shut down) and the scenario's report, if it ran.
pub type Injected = (Lab, Option<Result<ScenarioReport, AppError>>);

/// Runs `scenario` on `lab` at `at` on `clock`, forwarding lab events (tagged with `source`) to `tx` as they
/// happen. A stop before `at` skips the scenario. Meant to be joined with the session (the lab's scenario
/// future is not `Send`, so it runs on the command's own task).
pub async fn inject(
    mut lab: Lab,
    scenario: Scenario,
    at: Duration,
    clock: Clock,
    source: String,
    tx: mpsc::UnboundedSender<Event>,
    mut stop: watch::Receiver<bool>,
) -> Injected {
    {
        let (lab_tx, mut lab_rx) = mpsc::unbounded_channel();
        lab.rebase(clock, Some(lab_tx));
        tokio::select! {
            _ = tokio::time::sleep_until((clock.origin() + at).into()) => {}
            _ = stop.changed() => return (lab, None),
        }
        let report = {
            let run = lab.run(&scenario);
            tokio::pin!(run);
            loop {
                tokio::select! {
                    r = &mut run => break r,
                    Some(ev) = lab_rx.recv() => forward(ev, &source, &tx),
                    // Ctrl-C / SIGTERM ends the run now, scenario or not: the lab is shut down after.
                    Ok(()) = stop.changed() => break Err(AppError::Lab("interrupted during the scenario".into())),
                }
            }
        };
        while let Ok(ev) = lab_rx.try_recv() {
            forward(ev, &source, &tx);
        }
        lab.rebase(clock, None);
        (lab, Some(report))
    }
}

fn forward(ev: crate::lab::LabEvent, source: &str, tx: &mpsc::UnboundedSender<Event>) {
    let _ = tx.send(Event::Lab(crate::events::LabStep { source: source.to_string(), event: ev }));
}

/// The lab part of the summary: ground truth next to the outage the probes measured on the affected shard.
pub fn summarize(
    kind: ScenarioKind,
    at: Duration,
    result: &Option<Result<ScenarioReport, AppError>>,
    targets: &[TargetReport],
    source: &str,
) -> LabSummary {
    let mut summary = LabSummary {
        scenario: kind.to_string(),
        injected_at_ms: at.as_millis() as u64,
        shard: None,
        write_stopped_ms: None,
        write_resumed_ms: None,
        ground_truth_ms: None,
        measured_ms: None,
        report: serde_json::Value::Null,
        shards: Vec::new(),
        error: None,
    };
    let report = match result {
        None => {
            summary.error = Some("not injected (the run stopped first)".into());
            return summary;
        }
        Some(Err(e)) => {
            summary.error = Some(e.to_string());
            return summary;
        }
        Some(Ok(r)) => r,
    };
    summary.report = serde_json::to_value(report).unwrap_or_default();
    summary.shard = Some(report.shard.clone());
    let ours: Vec<&TargetReport> = targets.iter().filter(|t| t.source == source).collect();
    let affected = target_of(&report.shard, &ours);
    if let Some(truth) = &report.ground_truth {
        summary.write_stopped_ms = Some(truth.write_stopped_ms);
        summary.write_resumed_ms = Some(truth.write_resumed_ms);
        summary.ground_truth_ms = Some(truth.unavailable_ms);
        // The window that overlaps the interruption; else the longest on that target.
        summary.measured_ms = affected.and_then(|t| {
            t.summary
                .windows
                .iter()
                .filter(|w| {
                    w.start_ms <= truth.write_resumed_ms + 1000
                        && w.start_ms + w.length_ms + 1000 >= truth.write_stopped_ms
                })
                .map(|w| w.length_ms)
                .max()
        });
    }
    if summary.measured_ms.is_none() {
        summary.measured_ms = affected.map(|t| t.summary.longest_outage_ms).filter(|ms| *ms > 0);
    }
    summary.shards = report.shards.iter().map(|truth| compare_shard(truth, target_of(&truth.shard, &ours))).collect();
    summary
}

/// The target that probes the shard `label` (`slots 0-5460,...`): a cluster target is named after its shard's
/// first slot range (`slots 0-5460`); a run with one target (a replication group's endpoint) has only that one.
fn target_of<'a>(label: &str, ours: &[&'a TargetReport]) -> Option<&'a TargetReport> {
    let by_slots = ours.iter().find(|t| label == t.name || label.starts_with(&format!("{},", t.name)));
    by_slots.or(if ours.len() == 1 { ours.first() } else { None }).copied()
}

/// Whether a probe window and a lab window overlap, give or take a second: the probes start and end their
/// windows at scheduled ticks, up to an interval plus a timeout away from the lab's writes.
fn overlaps(w: &OutageWindow, truth: &GroundTruth) -> bool {
    w.start_ms <= truth.write_resumed_ms + 1000 && w.start_ms + w.length_ms + 1000 >= truth.write_stopped_ms
}

/// One shard's truth next to what the probes measured on its target: the probe windows that overlap any of the
/// lab's windows, summed; else the target's longest outage (0 when it had none).
pub fn compare_shard(truth: &ShardTruth, target: Option<&TargetReport>) -> ShardComparison {
    let measured = target.map(|t| {
        let windows = &t.summary.windows;
        let matched: Vec<&OutageWindow> =
            windows.iter().filter(|w| truth.windows.iter().any(|g| overlaps(w, g))).collect();
        if matched.is_empty() {
            t.summary.longest_outage_ms
        } else {
            matched.iter().map(|w| w.length_ms).sum()
        }
    });
    ShardComparison {
        shard: truth.shard.clone(),
        affected: truth.affected,
        ground_truth_ms: truth.unavailable_ms,
        measured_ms: measured,
        difference_ms: measured.map(|m| m as i64 - truth.unavailable_ms as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata::{sample, FAILING};

    fn truth(shard: &str, windows: &[(u64, u64)]) -> ShardTruth {
        let windows = windows
            .iter()
            .map(|&(s, r)| GroundTruth { write_stopped_ms: s, write_resumed_ms: r, unavailable_ms: r - s })
            .collect();
        ShardTruth::from_windows(shard.into(), false, windows)
    }

    #[test]
    fn targets_are_matched_by_their_first_slot_range() {
        let s = sample();
        let ours: Vec<&TargetReport> = s.targets.iter().collect();
        let names: Vec<&str> = ours.iter().map(|t| t.name.as_str()).collect();
        assert!(names.contains(&FAILING), "{names:?}");
        assert_eq!(target_of(FAILING, &ours).map(|t| t.name.as_str()), Some(FAILING));
        assert_eq!(target_of(&format!("{FAILING},16000-16383"), &ours).map(|t| t.name.as_str()), Some(FAILING));
        // A prefix of a range is another range.
        assert!(target_of("slots 5461-109", &ours).is_none());
        assert!(target_of("slots 546", &ours).is_none());
        // One target: it is the replication group's endpoint.
        assert_eq!(target_of("replication group", &ours[..1]).map(|t| t.name.as_str()), Some(names[0]));
        assert!(target_of("replication group", &ours).is_none());
    }

    #[test]
    fn measured_is_the_overlapping_window_else_the_longest() {
        let s = sample();
        let t = s.targets.iter().find(|t| t.name == FAILING).unwrap();
        let w = &t.summary.windows;
        assert!(!w.is_empty(), "the sample's failing target has an outage");
        let (start, len) = (w[0].start_ms, w[0].length_ms);

        let c = compare_shard(&truth(FAILING, &[(start + 20, start + len - 30)]), Some(t));
        assert_eq!(c.measured_ms, Some(len));
        assert_eq!(c.ground_truth_ms, len - 50);
        assert_eq!(c.difference_ms, Some(50));

        // A lab window far from any probe window: the target's longest outage.
        let far = start + len + 60_000;
        let c = compare_shard(&truth(FAILING, &[(far, far + 900)]), Some(t));
        assert_eq!(c.measured_ms, Some(t.summary.longest_outage_ms));
        assert_eq!(c.difference_ms, Some(t.summary.longest_outage_ms as i64 - 900));

        // The truth saw nothing: the longest outage all the same, and a negative difference the other way round.
        let c = compare_shard(&truth(FAILING, &[]), Some(t));
        assert_eq!((c.ground_truth_ms, c.measured_ms), (0, Some(t.summary.longest_outage_ms)));

        // No target: nothing measured.
        let c = compare_shard(&truth(FAILING, &[(1, 2)]), None);
        assert_eq!((c.measured_ms, c.difference_ms), (None, None));
    }

    #[test]
    fn a_quiet_target_and_a_quiet_shard_agree_on_zero() {
        let s = sample();
        let quiet = s.targets.iter().find(|t| t.summary.longest_outage_ms == 0).expect("a target without outage");
        let c = compare_shard(&truth(&quiet.name, &[]), Some(quiet));
        assert_eq!((c.ground_truth_ms, c.measured_ms, c.difference_ms), (0, Some(0), Some(0)));
        let c = compare_shard(&truth(&quiet.name, &[(5000, 6000)]), Some(quiet));
        assert_eq!((c.measured_ms, c.difference_ms), (Some(0), Some(-1000)));
    }
}
