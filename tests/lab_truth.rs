//! The lab's ground truth on every shard (the healthy ones lose writes while the cluster state is `fail`), the
//! `--seed node` lab and the drain of a replaced primary, on real processes. Heavy tests are serialised by
//! `support::heavy`.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_failover_probe::clock::Clock;
use redis_failover_probe::lab::{
    port_accepts, Lab, LabEventKind, LabOptions, Scenario, ScenarioReport, TopologyKind, DEFAULT_DRAIN,
};
use support::heavy;

fn print_shards(r: &ScenarioReport) {
    for s in &r.shards {
        eprintln!("{}: affected {} unavailable {} ms {:?}", s.shard, s.affected, s.unavailable_ms, s.windows);
    }
}

#[test]
fn kill_primary_shows_the_cluster_down_period_on_healthy_shards() {
    heavy(|| async {
        let mut lab = support::start_cluster(3, 1).await;
        let r = lab.run(&Scenario::KillPrimary { shard: None }).await.unwrap();
        print_shards(&r);
        assert_eq!(r.shards.len(), 3, "{:?}", r.shards);
        let labels: Vec<&str> = r.shards.iter().map(|s| s.shard.as_str()).collect();
        assert_eq!(labels, ["slots 0-5460", "slots 5461-10922", "slots 10923-16383"]);
        let affected: Vec<_> = r.shards.iter().filter(|s| s.affected).collect();
        assert_eq!(affected.len(), 1);
        assert_eq!(affected[0].shard, r.shard);
        let g = r.ground_truth.unwrap();
        assert!(affected[0].unavailable_ms > 0);
        // The affected shard's own watch and the every-shard watch see the same interruption, a poll or so apart.
        assert!(affected[0].unavailable_ms.abs_diff(g.unavailable_ms) < 300, "{g:?} vs {:?}", affected[0]);
        // The others refused writes (CLUSTERDOWN) between the failure report and the promotion.
        let healthy: Vec<_> = r.shards.iter().filter(|s| !s.affected).collect();
        assert!(healthy.iter().any(|s| s.unavailable_ms > 0), "{healthy:?}");
        for s in &healthy {
            assert!(s.unavailable_ms < g.unavailable_ms, "{s:?} lost more than the killed shard ({g:?})");
            for w in &s.windows {
                assert!(w.write_stopped_ms >= g.write_stopped_ms && w.write_resumed_ms <= g.write_resumed_ms + 500);
            }
        }
        // The JSON names them.
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["shards"][1]["shard"], "slots 5461-10922");
        assert!(v["shards"][0]["windows"][0]["unavailable_ms"].as_u64().unwrap() > 0);
        let back: ScenarioReport = serde_json::from_value(v).unwrap();
        assert_eq!(back.shards, r.shards);
        lab.shutdown().await;
    });
}

#[test]
fn seed_node_lab_is_seeded_by_the_node_owning_slot_0() {
    heavy(|| async {
        let opts = LabOptions { seed_node: true, ..LabOptions::default() };
        let mut lab = Lab::start(TopologyKind::Cluster, &opts, Clock::start(), None).await.unwrap();
        let seeds = lab.seeds();
        assert_eq!(seeds.len(), 1, "{seeds:?}");
        assert!(lab.node_endpoints().contains(&seeds[0]), "{seeds:?} is not a node");
        assert_eq!(lab.target().seeds, seeds);
        assert!(lab.pids().len() == 6, "no HAProxy in a --seed node lab");
        // The seed is the default victim of kill-primary.
        let r = lab.run(&Scenario::KillPrimary { shard: None }).await.unwrap();
        assert_eq!(r.old_primary.as_ref(), Some(&seeds[0]));
        assert_eq!(lab.seeds(), seeds, "a client keeps its configured seed");
        lab.shutdown().await;
    });
}

/// Runs replace-node on shard 0 with `drain` and returns how long after the promotion the old primary's port
/// stopped accepting connections, ms.
async fn closed_after_promotion(lab: &mut Lab, clock: Clock, drain: Duration) -> (i64, ScenarioReport) {
    let old = primary_of_slot_0(lab).await;
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if !port_accepts(old) {
                    return Some(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            None
        })
    };
    let r = lab.run(&Scenario::ReplaceNode { shard: None, replica: false, drain }).await.unwrap();
    stop.store(true, Ordering::SeqCst);
    let closed = watcher.join().unwrap().expect("the old primary's port never closed");
    let closed_ms = closed.saturating_duration_since(clock.origin()).as_millis() as i64;
    let promoted = r
        .events
        .iter()
        .find(|e| e.kind == LabEventKind::ReplicaPromoted)
        .unwrap_or_else(|| panic!("no promotion in {:?}", r.events))
        .stamp
        .offset_ms as i64;
    assert_eq!(r.steps[0].old_primary.as_ref().map(|e| e.port), Some(old));
    assert_eq!(r.steps[0].drain_ms, Some(drain.as_millis() as u64));
    (closed_ms - promoted, r)
}

/// The port of the primary owning slot 0, read from the cluster itself.
async fn primary_of_slot_0(lab: &Lab) -> u16 {
    let ep = lab.node_endpoints()[0].clone();
    let f = redis_failover_probe::connect::Factory::new(lab.target()).unwrap();
    let c = f.node(&ep).await.unwrap();
    let text = redis_failover_probe::connect::text_command(&c, &["CLUSTER", "NODES"]).await.unwrap();
    redis_failover_probe::connect::quit(&c).await;
    let nodes = redis_failover_probe::topology::parse_cluster_nodes(&text).unwrap();
    let topo = redis_failover_probe::topology::Topology::from_nodes(nodes, None);
    topo.shards.iter().find(|s| s.owns(0)).expect("slot 0 is served").primary.endpoint.port
}

#[test]
fn a_replaced_primary_lingers_for_the_drain() {
    heavy(|| async {
        assert_eq!(DEFAULT_DRAIN, Duration::from_secs(5));
        let clock = Clock::start();
        let opts = LabOptions { primaries: 3, replicas: 1, ..LabOptions::default() };
        let mut lab = Lab::start(TopologyKind::Cluster, &opts, clock, None).await.unwrap();

        let (after, r) = closed_after_promotion(&mut lab, clock, Duration::ZERO).await;
        eprintln!("drain 0: closed {after} ms after the promotion");
        assert!(after < 1500, "drain 0: the old primary ran on for {after} ms");
        assert!(!r.events.iter().any(|e| e.kind == LabEventKind::NodeDraining));

        let (after, r) = closed_after_promotion(&mut lab, clock, Duration::from_secs(2)).await;
        eprintln!("drain 2s: closed {after} ms after the promotion");
        assert!(after >= 2000, "drain 2s: closed after only {after} ms");
        assert!(after < 5000, "drain 2s: closed after {after} ms");
        assert!(r.events.iter().any(|e| e.kind == LabEventKind::NodeDraining));
        lab.shutdown().await;
    });
}

#[test]
fn a_rehearsal_seeded_by_a_node_compares_every_shard() {
    use redis_failover_probe::report::RunSummary;
    heavy(|| async {
        let args = [
            "--mode",
            "oss-cluster",
            "failover-recovery",
            "--output",
            "json",
            "--lab",
            "kill-primary",
            "--seed",
            "node",
            "--at",
            "2s",
            "--duration",
            "9s",
            "--interval",
            "100ms",
        ];
        // The exit code is the probes' business (fred seeded by the killed node did not recover within 7 s here).
        let (s, code): (RunSummary, i32) = support::run_json(&args, Duration::from_secs(120));
        eprintln!("exit code {code}");
        let lab = s.lab.as_ref().expect("lab summary");
        assert!(lab.error.is_none(), "{:?}", lab.error);
        for c in &lab.shards {
            eprintln!("{c:?}");
        }
        assert_eq!(lab.shards.len(), 3, "{:?}", lab.shards);
        assert_eq!(lab.shards.iter().filter(|c| c.affected).count(), 1);
        let affected = lab.shards.iter().find(|c| c.affected).unwrap();
        assert_eq!(Some(&affected.shard), lab.shard.as_ref());
        // The every-shard watch and the affected shard's own watch agree to within a few polls.
        let g = lab.ground_truth_ms.expect("ground truth");
        assert!(affected.ground_truth_ms.abs_diff(g) < 300, "{affected:?} vs {g} ms");
        for c in &lab.shards {
            assert!(s.targets.iter().any(|t| t.name == c.shard), "{} has no target", c.shard);
            let m = c.measured_ms.unwrap_or_else(|| panic!("{} measured nothing", c.shard));
            assert_eq!(c.difference_ms, Some(m as i64 - c.ground_truth_ms as i64));
        }
        // The lab's own report inside the summary carries the shards too.
        let report: ScenarioReport = serde_json::from_value(lab.report.clone()).unwrap();
        assert_eq!(report.shards.len(), 3);
        assert!(report.shards.iter().filter(|t| !t.affected).any(|t| t.unavailable_ms > 0), "{:?}", report.shards);
    });
}
