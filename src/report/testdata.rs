//! A run summary built by hand for the writers' tests: a 30 s rehearsal on a three-shard cluster where the
//! middle shard's primary is killed at 8 s and its replica takes over, probed every 100 ms.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::{LabSummary, RunSummary, ShardComparison, SourceInfo, SourceSchedule};
use crate::clock::Stamp;
use crate::events::NoticeEvent;
use crate::probe::collect::{overall, TargetReport, TopologyRecord};
use crate::probe::engine::ScheduleStats;
use crate::probe::{judge, ErrorClass, LatencyStats, Op, OutageTracker, ProbeOutcome, TimelineStrip, VerdictPolicy};
use crate::topology::{Endpoint, TopologyChange};

/// The run's planned length (ms).
pub const PLANNED_MS: u64 = 30_000;

/// The shard that fails over.
pub const FAILING: &str = "slots 5461-10922";

fn stamp(offset_ms: u64) -> Stamp {
    Stamp { wall: format!("2026-11-25T20:00:{:02}.{:03}Z", offset_ms / 1000, offset_ms % 1000), offset_ms }
}

/// One target probed every 100 ms for the planned run; `fails(t)` gives the failure class of the probe at
/// offset `t`, if it fails.
fn target(name: &str, nodes: (&str, &str), fails: impl Fn(u64) -> Option<ErrorClass>) -> TargetReport {
    let mut tracker = OutageTracker::new();
    let mut strip = TimelineStrip::new(Duration::from_millis(PLANNED_MS), 60);
    let mut latency = LatencyStats::new();
    for t in (0..PLANNED_MS).step_by(100) {
        let outcome = match fails(t) {
            Some(class) => ProbeOutcome::failed(class, Op::Set, class.as_str()),
            None => {
                latency.record(Duration::from_micros(400));
                ProbeOutcome::Ok
            }
        };
        tracker.record(Duration::from_millis(t), &outcome);
        strip.record(Duration::from_millis(t), outcome.is_ok());
    }
    TargetReport {
        source: String::new(),
        name: name.into(),
        first_node: Some(nodes.0.into()),
        last_node: Some(nodes.1.into()),
        summary: tracker.summary(Duration::from_millis(PLANNED_MS)),
        set_latency: latency.summary(),
        get_latency: latency.summary(),
        timeline: strip.render(),
    }
}

fn ep(port: u16) -> Endpoint {
    Endpoint::new("127.0.0.1", port)
}

/// The sample: three shards, one outage of 4.3 s on the middle one (8.2 s to 12.5 s), a brief blip on the
/// third, two topology polls that saw changes (the fail flag, then the promotion with its slots), two lab
/// steps, one diagnosis; judged with `--max-outage 3s`, so it failed.
pub fn sample() -> RunSummary {
    let targets = vec![
        target("slots 0-5460", ("127.0.0.1:7000", "127.0.0.1:7000"), |_| None),
        target(FAILING, ("127.0.0.1:7001", "127.0.0.1:7004"), |t| match t {
            8200..=9900 => Some(ErrorClass::ConnectionRefused),
            10_000..=12_400 => Some(ErrorClass::ClusterDown),
            _ => None,
        }),
        target("slots 10923-16383", ("127.0.0.1:7002", "127.0.0.1:7002"), |t| {
            (t == 20_000).then_some(ErrorClass::Timeout)
        }),
    ];
    let named: Vec<_> = targets.iter().map(|r| (r.name.clone(), r.summary.clone())).collect();
    let verdict = judge(&named, &VerdictPolicy { max_outage: Some(Duration::from_secs(3)) });
    let topology_changes = vec![
        TopologyRecord {
            stamp: stamp(9_300),
            source: String::new(),
            change: TopologyChange::NodeFailFlag { id: Some("b1c2d3e4f5".into()), endpoint: ep(7001), failed: true },
        },
        TopologyRecord {
            stamp: stamp(12_100),
            source: String::new(),
            change: TopologyChange::Promoted { id: Some("e4f5a6b7c8".into()), endpoint: ep(7004) },
        },
        TopologyRecord {
            stamp: stamp(12_100),
            source: String::new(),
            change: TopologyChange::SlotsMoved {
                ranges: vec![crate::topology::slot::SlotRange::new(5461, 10922)],
                from: ep(7001),
                to: ep(7004),
            },
        },
    ];
    RunSummary {
        command: "failover-recovery".into(),
        version: "0.1.0".into(),
        sources: vec![SourceInfo {
            name: String::new(),
            mode: "oss-cluster".into(),
            client: "cluster (fred)".into(),
            endpoints: vec!["redis://:***@127.0.0.1:7000".into()],
        }],
        started_at: stamp(0).wall,
        planned_duration_ms: PLANNED_MS,
        elapsed_ms: PLANNED_MS,
        interval_ms: 100,
        baseline_interval_ms: None,
        interrupted: false,
        overall: overall(&targets),
        targets,
        client_events: BTreeMap::from([("reconnected".into(), 2), ("topology_resync".into(), 1)]),
        topology_changes,
        topology_changes_dropped: 0,
        notices_dropped: 0,
        notices: vec![NoticeEvent {
            stamp: stamp(12_600),
            kind: "diagnosis".into(),
            detail: "slots 5461-10922 recovered 200ms after the new primary was announced".into(),
            data: None,
        }],
        lab: Some(LabSummary {
            scenario: "kill-primary".into(),
            injected_at_ms: 8_000,
            shard: Some(FAILING.into()),
            write_stopped_ms: Some(8_050),
            write_resumed_ms: Some(12_400),
            ground_truth_ms: Some(4_350),
            measured_ms: Some(4_300),
            report: json!({
                "events": [
                    {"stamp": {"wall": stamp(8_000).wall, "offset_ms": 8_000},
                     "kind": "inject", "detail": "SIGKILL primary 127.0.0.1:7001"},
                    {"stamp": {"wall": stamp(12_400).wall, "offset_ms": 12_400},
                     "kind": "writes_resumed", "detail": "127.0.0.1:7004 accepts writes"},
                ]
            }),
            shards: vec![
                ShardComparison {
                    shard: FAILING.into(),
                    affected: true,
                    ground_truth_ms: 4_350,
                    measured_ms: Some(4_300),
                    difference_ms: Some(-50),
                },
                ShardComparison {
                    shard: "slots 0-5460".into(),
                    affected: false,
                    ground_truth_ms: 1_020,
                    measured_ms: Some(1_100),
                    difference_ms: Some(80),
                },
            ],
            error: None,
        }),
        schedule: vec![SourceSchedule { source: String::new(), stats: ScheduleStats::default() }],
        verdict,
        per_source: Vec::new(),
        recovery: Vec::new(),
        extra_labs: Vec::new(),
    }
}
