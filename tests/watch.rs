//! `watch` on real servers: incidents open on the first sign of trouble and close a quiet time after every shard
//! is back, one folder each, complete, with per-shard outages against the lab's ground truth; a target down at
//! start is an incident, not an exit; SIGTERM writes an open incident as interrupted; the events file rotates
//! at its cap.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis_failover_probe::lab::Scenario;

/// Incident folders under `out` (hidden partial ones left out), oldest first.
fn incidents(out: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file an incident folder holds, each whole.
fn complete(dir: &Path) -> (serde_json::Value, serde_json::Value) {
    for f in ["report.md", "timeline.svg", "summary.json", "events.jsonl", "incident.json"] {
        let len = std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{} has no {f}", dir.display());
    }
    let svg = std::fs::read_to_string(dir.join("timeline.svg")).unwrap();
    roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("timeline.svg: {e}"));
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    for line in events.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("whole JSON lines");
    }
    (json(&dir.join("summary.json")), json(&dir.join("incident.json")))
}

/// `summary.json`'s total outage of the target named `shard`.
fn outage_ms(summary: &serde_json::Value, shard: &str) -> u64 {
    let t = summary["targets"].as_array().unwrap().iter().find(|t| t["name"] == shard);
    t.unwrap_or_else(|| panic!("no target {shard}: {summary}"))["total_outage_ms"].as_u64().unwrap()
}

#[test]
fn two_kill_primary_injections_a_minute_apart_are_two_incidents_against_ground_truth() {
    support::require_redis();
    support::heavy(|| async {
        let mut lab = support::start_cluster(3, 1).await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("incidents");
        let events = dir.path().join("events.jsonl");
        let seeds: Vec<String> = lab.target().seeds.iter().map(|s| format!("redis://{s}")).collect();
        let mut cmd = support::bin_std();
        for s in &seeds {
            cmd.args(["--url", s]);
        }
        cmd.args(["--mode", "oss-cluster", "watch", "--quiet", "5s", "--out"]).arg(&out).arg("--events").arg(&events);
        let run = support::Background::spawn(cmd);
        // A few baseline probes first: the folder's minute before has them.
        wait_for("baseline probes", Duration::from_secs(30), || {
            std::fs::read_to_string(&events).is_ok_and(|t| t.matches(r#""type":"probe""#).count() >= 9)
        })
        .await;
        let mut truths = Vec::new();
        let first = Instant::now();
        for (n, shard) in [(1usize, 0usize), (2, 1)] {
            // The second injection a minute after the first.
            tokio::time::sleep(
                (first + Duration::from_secs(60 * (n as u64 - 1))).saturating_duration_since(Instant::now()),
            )
            .await;
            let r = lab.run(&Scenario::KillPrimary { shard: Some(shard) }).await.expect("kill-primary");
            truths.push(r);
            // Closes 5 s after every shard is back; a folder appears then.
            wait_for("the incident's folder", Duration::from_secs(60), || incidents(&out).len() == n).await;
        }
        let done = run.terminate(Duration::from_secs(20));
        assert_eq!(done.code, Some(0), "{}", done.stderr);
        assert_eq!(done.stdout.matches("watch: incident opened").count(), 2, "{}", done.stdout);
        let folders = incidents(&out);
        assert_eq!(folders.len(), 2, "{folders:?}");
        for (folder, truth) in folders.iter().zip(&truths) {
            let (summary, about) = complete(folder);
            assert_eq!(about["interrupted"], false, "{about}");
            assert_eq!(about["ending"], "every shard back and quiet", "{about}");
            // Whichever saw it first: a probe of the killed shard, or the topology watcher's ping of its node.
            let first = about["first_sign"].as_str().unwrap();
            let known = ["failed probe: ", "notice: endpoint_unreachable: ", "topology change: "];
            assert!(known.iter().any(|k| first.starts_with(k)), "{about}");
            assert_eq!(summary["command"], "watch");
            assert_eq!(summary["interval_ms"], 100, "the incident's own rate");
            assert_eq!(summary["baseline_interval_ms"], 1000, "the rate of the minute before");
            let report = std::fs::read_to_string(folder.join("report.md")).unwrap();
            assert!(report.contains(", every 100ms (before the incident opened: every 1s); "), "{report}");
            // Every shard against the lab's own write watch: the baseline's 1 s finds the first failure, the
            // incident's 100 ms the recovery.
            let mut seen = Vec::new();
            for s in &truth.shards {
                let measured = outage_ms(&summary, &s.shard);
                seen.push(format!("{}: truth {} ms, measured {measured} ms", s.shard, s.unavailable_ms));
                assert!(
                    measured <= s.unavailable_ms + 250 && measured + 1_150 >= s.unavailable_ms,
                    "{folder:?}\n{}",
                    seen.join("\n")
                );
            }
            let killed = truth.shards.iter().find(|s| s.affected).unwrap();
            assert!(outage_ms(&summary, &killed.shard) > 0, "{}", seen.join("\n"));
            eprintln!("{}: {}", folder.display(), seen.join("; "));
        }
        lab.shutdown().await;
    });
}

/// A redis-server of the test's own on `port`, killed when dropped.
struct Server(Child);

impl Server {
    fn start(port: u16) -> Server {
        let child = Command::new(support::redis_server_bin())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn standalone_watch(port: u16, out: &Path, extra: &[&str]) -> support::Background {
    let mut cmd = support::bin_std();
    cmd.args(["--url", &format!("redis://127.0.0.1:{port}"), "--mode", "standalone", "--timeout", "500ms", "watch"]);
    cmd.arg("--out").arg(out).args(extra);
    support::Background::spawn(cmd)
}

#[test]
fn a_target_down_at_start_is_an_incident_that_closes_when_it_comes_up() {
    support::require_redis();
    support::light(|| async {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("incidents");
        let port = support::free_port();
        let run = standalone_watch(port, &out, &["--quiet", "2s"]);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(incidents(&out).is_empty(), "still open: nothing written yet");
        let _server = Server::start(port);
        // Backoff 1 s, 2 s, 4 s: connected within ~5 s of the start, closed 2 s after the first good probes.
        wait_for("the incident's folder", Duration::from_secs(30), || incidents(&out).len() == 1).await;
        let done = run.terminate(Duration::from_secs(10));
        assert_eq!(done.code, Some(0), "{}", done.stderr);
        assert!(done.stderr.contains("watch: target unreachable:"), "{}", done.stderr);
        let (summary, about) = complete(&incidents(&out)[0]);
        assert!(about["first_sign"].as_str().unwrap().starts_with("unreachable: "), "{about}");
        assert_eq!(about["interrupted"], false);
        assert!(summary["targets"][0]["ok"].as_u64().unwrap() > 0, "probed once it came up: {summary}");
        let notices = std::fs::read_to_string(incidents(&out)[0].join("events.jsonl")).unwrap();
        assert!(notices.contains(r#""kind":"unreachable""#), "the attempts are in the record");
    });
}

#[test]
fn sigterm_writes_an_open_incident_as_interrupted_and_the_events_file_rotates() {
    support::require_redis();
    support::light(|| async {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("incidents");
        let events = dir.path().join("events.jsonl");
        let port = support::free_port();
        let server = Server::start(port);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ev = events.display().to_string();
        let run = standalone_watch(
            port,
            &out,
            &["--interval", "20ms", "--events", &ev, "--events-max", "16KiB", "--summary-every", "1s"],
        );
        let rotated = dir.path().join("events.jsonl.1");
        wait_for("a rotation", Duration::from_secs(20), || rotated.exists()).await;
        drop(server);
        // Probes fail from now on: the incident opens and stays open (the target never comes back).
        wait_for("failed probes", Duration::from_secs(10), || {
            std::fs::read_to_string(&events).is_ok_and(|t| t.contains(r#""status":"failed""#))
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let done = run.terminate(Duration::from_secs(10));
        assert_eq!(done.code, Some(0), "{}", done.stderr);
        let folders = incidents(&out);
        assert_eq!(folders.len(), 1, "{folders:?}\n{}", done.stdout);
        let (summary, about) = complete(&folders[0]);
        assert_eq!(about["interrupted"], true, "{about}");
        assert_eq!(summary["interrupted"], true);
        assert_eq!(summary["targets"][0]["recovered"], false, "{summary}");
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(size(&events) + size(&rotated) <= 16 * 1024, "{} + {}", size(&events), size(&rotated));
        assert!(done.stdout.contains("written as interrupted"), "{}", done.stdout);
        // The periodic summary line, every second here (24 h by default), and the last one at the stop.
        assert!(done.stdout.contains("watch: last 1s: "), "{}", done.stdout);
        assert!(done.stdout.contains(", since the last summary: "), "{}", done.stdout);
    });
}
