//! Rehearsals on the local lab (`--lab SCENARIO`): start the topology, inject the scenario at `--at` while the
//! probes run, forward the lab's steps into the event stream as they happen, and set the lab's ground truth
//! next to what the probes measured.

use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::cli::{Mode, RehearsalArgs};
use crate::clock::Clock;
use crate::error::{AppError, AppResult};
use crate::events::Event;
use crate::lab::{Lab, LabOptions, Scenario, ScenarioKind, ScenarioReport, SeedKind, TopologyKind};
use crate::probe::collect::TargetReport;
use crate::report::LabSummary;

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
    let mut value = serde_json::to_value(&ev).unwrap_or_default();
    if !source.is_empty() {
        value["source"] = serde_json::Value::String(source.to_string());
    }
    let _ = tx.send(Event::Lab(value));
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
    let affected = ours.iter().find(|t| report.shard.starts_with(&t.name) || report.shard == t.name).or_else(|| {
        if ours.len() == 1 {
            ours.first()
        } else {
            None
        }
    });
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
    summary
}
