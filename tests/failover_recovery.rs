//! failover-recovery against the lab: each scenario's outage is seen on the right shard, recovers, and agrees
//! with the lab's ground truth; a target that dies for good is "not recovered" (exit 1); SIGINT writes the
//! partial summary (exit 130); `--events` holds every probe.

mod support;

use std::io::BufRead;
use std::process::Stdio;
use std::time::{Duration, Instant};

use redis_failover_probe::report::RunSummary;

/// Runs `failover-recovery --lab ...` through the binary and returns its JSON summary and exit code.
fn rehearse(mode: &str, args: &[&str]) -> (RunSummary, i32) {
    let mut all = vec!["--mode", mode, "failover-recovery", "--output", "json"];
    all.extend_from_slice(args);
    support::run_json(&all, Duration::from_secs(120))
}

/// The default probe (direct) agrees with the lab's ground truth on EVERY shard, healthy shards included
/// (their CLUSTERDOWN period is ground truth too): measured within `interval + 150 ms` of the truth, as the
/// README promises. A shard the probes did not measure fails the test.
fn assert_every_shard_agrees(s: &RunSummary, interval_ms: u64) {
    let lab = s.lab.as_ref().expect("lab summary");
    assert!(lab.error.is_none(), "scenario failed: {:?}", lab.error);
    assert!(!lab.shards.is_empty(), "per-shard ground truth: {lab:?}");
    let bound = (interval_ms + 150) as i64;
    for row in &lab.shards {
        let measured = row.measured_ms.unwrap_or_else(|| panic!("{}: not measured: {lab:?}", row.shard));
        let diff = measured as i64 - row.ground_truth_ms as i64;
        assert!(
            diff.abs() <= bound,
            "{}: measured {measured} ms vs ground truth {} ms: {diff:+} ms, bound {bound} ms; all shards: {:?}",
            row.shard,
            row.ground_truth_ms,
            lab.shards
        );
    }
}

fn shard_target(s: &RunSummary) -> &redis_failover_probe::probe::collect::TargetReport {
    let shard = s.lab.as_ref().and_then(|l| l.shard.clone()).expect("the lab names the shard");
    s.targets.iter().find(|t| shard.starts_with(&t.name)).unwrap_or_else(|| panic!("no target for {shard}"))
}

#[test]
fn kill_primary_is_seen_on_its_shard_and_recovers() {
    support::heavy(|| async {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("events.jsonl");
        let (s, code) = rehearse(
            "oss-cluster",
            &[
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
                "--events",
                events.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 0, "{:?}", s.verdict);
        assert_eq!(s.targets.len(), 3);
        let t = shard_target(&s);
        assert!(t.summary.outages >= 1 && t.summary.recovered, "{t:?}");
        assert_ne!(t.first_node, t.last_node, "the shard moved to the promoted replica");
        assert!(s.overall.recovered);
        // The seed node itself was the victim, and no discovery proxy stands in front: every shard still recovers.
        assert_eq!(s.sources[0].client, "direct");
        assert_every_shard_agrees(&s, 100);
        assert!(
            s.topology_changes.iter().any(|c| c.change.kind() == "promoted"),
            "the watcher saw the promotion: {:?}",
            s.topology_changes
        );
        assert!(s.notices.iter().any(|n| n.kind == "diagnosis"), "dead_owner_moved is raised: {:?}", s.notices);
        // --events holds every probe, as JSON lines.
        let file = std::fs::File::open(&events).unwrap();
        let mut probes = 0u64;
        let mut labs = 0;
        for line in std::io::BufReader::new(file).lines() {
            let v: serde_json::Value = serde_json::from_str(&line.unwrap()).expect("each line is JSON");
            match v["type"].as_str() {
                Some("probe") => probes += 1,
                Some("lab") => labs += 1,
                _ => {}
            }
        }
        assert_eq!(probes, s.overall.probes, "every probe is in the events file");
        assert!(labs >= 2, "lab steps are in the events file");
    });
}

#[test]
fn role_swap_and_hang_primary_recover() {
    support::heavy(|| async {
        let (s, code) =
            rehearse("oss-cluster", &["--lab", "role-swap", "--at", "2s", "--duration", "6s", "--interval", "100ms"]);
        assert_eq!(code, 0, "{:?}", s.verdict);
        assert!(shard_target(&s).summary.recovered);
        assert_every_shard_agrees(&s, 100);

        let (s, code) = rehearse(
            "oss-cluster",
            // Hung for longer than failover + probe timeout: no probe still queued on the hung node when it
            // resumes (a SET queued then is acknowledged by the old primary and lost: a real lost write).
            &["--lab", "hang-primary", "--for", "5s", "--at", "2s", "--duration", "12s", "--interval", "100ms"],
        );
        assert_eq!(code, 0, "{:?}", s.verdict);
        let t = shard_target(&s);
        assert!(t.summary.outages >= 1 && t.summary.recovered, "{t:?}");
        assert!(t.summary.failures_by_class.keys().any(|c| c.as_str() == "timeout"), "a hung node times out: {t:?}");
        assert!(s.schedule.iter().all(|st| st.stats.ticks >= 95), "the schedule kept going: {:?}", s.schedule);
    });
}

#[test]
fn kill_primary_of_another_shard_with_the_seed_alive() {
    support::heavy(|| async {
        let (s, code) = rehearse(
            "oss-cluster",
            &[
                "--lab",
                "kill-primary",
                "--shard",
                "1",
                "--seed",
                "node",
                "--at",
                "2s",
                "--duration",
                "9s",
                "--interval",
                "100ms",
            ],
        );
        assert_eq!(code, 0, "{:?}", s.verdict);
        assert_eq!(s.lab.as_ref().and_then(|l| l.shard.clone()).as_deref(), Some("slots 5461-10922"));
        assert_every_shard_agrees(&s, 100);
    });
}

#[test]
fn rolling_replace_without_a_discovery_proxy_recovers_every_shard() {
    support::heavy(|| async {
        // Every node is replaced, the seed included; the probes know only the seed's address at start.
        let (s, code) = rehearse(
            "oss-cluster",
            &[
                "--lab",
                "rolling-replace",
                "--seed",
                "node",
                "--drain",
                "1s",
                "--at",
                "2s",
                "--duration",
                "30s",
                "--interval",
                "100ms",
            ],
        );
        let lab = s.lab.as_ref().expect("lab summary");
        assert!(lab.error.is_none(), "scenario failed: {:?}", lab.error);
        assert_eq!(code, 0, "{:?}; shards {:?}", s.verdict, lab.shards);
        assert_eq!(s.targets.len(), 3);
        for t in &s.targets {
            assert!(t.summary.recovered, "{} did not recover: {t:?}", t.name);
            assert_ne!(t.first_node, t.last_node, "{}: served by a new node at the end", t.name);
        }
        assert_eq!(lab.report["retired_endpoints"].as_array().map(|a| a.len()), Some(6), "{}", lab.report);
    });
}

#[test]
fn replace_node_on_a_cluster_and_on_enterprise() {
    support::heavy(|| async {
        let (s, code) = rehearse(
            "oss-cluster",
            &["--lab", "replace-node", "--at", "2s", "--duration", "8s", "--interval", "100ms"],
        );
        assert_eq!(code, 0, "{:?}", s.verdict);
        assert!(shard_target(&s).summary.recovered);
        let report = &s.lab.as_ref().unwrap().report;
        assert_eq!(report["retired_endpoints"].as_array().map(|a| a.len()), Some(1), "{report}");

        let (s, code) =
            rehearse("enterprise", &["--lab", "replace-node", "--at", "2s", "--duration", "8s", "--interval", "100ms"]);
        assert_eq!(code, 0, "{:?}", s.verdict);
        assert_eq!(s.targets.len(), 1, "one stable endpoint");
        let t = &s.targets[0];
        assert!(t.summary.recovered, "{t:?}");
        assert_eq!(t.first_node, t.last_node, "the endpoint did not change");
    });
}

#[test]
fn a_target_that_dies_for_good_is_not_recovered() {
    support::heavy(|| async {
        let lab = support::start_standalone().await;
        let url = lab.seed_url();
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("redis-failover-probe"))
            .args(["--url", &url, "failover-recovery", "--duration", "5s", "--interval", "100ms", "--output", "json"])
            .env_remove("REDIS_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        for pid in lab.pids() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
        let s: RunSummary = serde_json::from_slice(&out.stdout).unwrap();
        let t = &s.targets[0];
        assert!(!t.summary.recovered && t.summary.ongoing_outage_ms.unwrap_or(0) >= 2500, "{t:?}");
        assert!(s.verdict.reasons().iter().any(|r| r.contains("not recovered")), "{:?}", s.verdict);
        drop(lab);
    });
}

#[test]
fn sigint_writes_the_partial_summary_and_exits_130() {
    support::heavy(|| async {
        let lab = support::start_standalone().await;
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("partial.jsonl");
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("redis-failover-probe"))
            .args(["--url", &lab.seed_url(), "failover-recovery", "--duration", "60s", "--interval", "100ms"])
            .args(["--output", "json", "--events", events.to_str().unwrap()])
            .env_remove("REDIS_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let sent = Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT)
            .unwrap();
        let out = loop {
            if let Some(_status) = child.try_wait().unwrap() {
                break child.wait_with_output().unwrap();
            }
            assert!(sent.elapsed() < Duration::from_secs(10), "the run did not stop after SIGINT");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
        let s: RunSummary = serde_json::from_slice(&out.stdout).expect("the partial summary is printed");
        assert!(s.interrupted);
        assert!(s.overall.probes >= 10, "probes before the signal are counted: {}", s.overall.probes);
        let lines = std::fs::read_to_string(&events).unwrap();
        let probes = lines.lines().filter(|l| l.contains(r#""type":"probe""#)).count() as u64;
        assert_eq!(probes, s.overall.probes, "the events file is complete");
    });
}
