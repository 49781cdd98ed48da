//! SIGINT and SIGTERM during monitor, compare and a failover-recovery rehearsal: the partial summary is printed,
//! the events file is complete, every lab process is stopped and its directory removed, and the exit code is 130.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

fn spawn(args: &[&str], tmp: &Path) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("redis-failover-probe"))
        .args(args)
        .env_remove("REDIS_URL")
        .env_remove("REDIS_MODE")
        // Lab directories go under this test's own temp dir, so the test can see that they are gone.
        .env("TMPDIR", tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary")
}

/// Waits until `events` holds a probe line (the run is probing), at most `limit`.
async fn wait_for_probes(events: &Path, limit: Duration) {
    let started = Instant::now();
    while started.elapsed() < limit {
        if std::fs::read_to_string(events).map(|t| t.contains(r#""type":"probe""#)).unwrap_or(false) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no probe in {} after {limit:?}", events.display());
}

/// Sends `signal`, waits for the exit, and checks the contract; returns the parsed stdout.
async fn stop_with(mut child: Child, signal: Signal, events: &Path) -> serde_json::Value {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let sent = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(sent.elapsed() < Duration::from_secs(15), "still running 15 s after {signal}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{signal}: {err}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the partial summary on stdout");
    assert_eq!(summary["interrupted"], serde_json::Value::Bool(true));
    let text = std::fs::read_to_string(events).unwrap();
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("every events line is whole JSON");
    }
    summary
}

/// No process runs in `tmp` and no lab directory is left there.
fn nothing_left(tmp: &Path) {
    let mut left = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) {
            if cwd.starts_with(tmp) {
                left.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    assert!(left.is_empty(), "processes still running in the lab dir: {left:?}");
    let dirs: Vec<String> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("rfp-lab-"))
        .collect();
    assert!(dirs.is_empty(), "lab dirs left: {dirs:?}");
}

#[test]
fn monitor_stops_on_sigint_with_its_summary() {
    support::heavy(|| async {
        let lab = support::start_standalone().await;
        let tmp = tempfile::tempdir().unwrap();
        let events = tmp.path().join("monitor.jsonl");
        let url = lab.seed_url();
        let child = spawn(
            &["--url", &url, "monitor", "--duration", "60s", "--output", "json", "--events", events.to_str().unwrap()],
            tmp.path(),
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let summary = stop_with(child, Signal::SIGINT, &events).await;
        assert!(summary["polls"].as_u64().unwrap_or(0) >= 1, "{summary}");
    });
}

#[test]
fn compare_rehearsal_stops_on_sigterm_and_leaves_no_lab() {
    support::heavy(|| async {
        let tmp = tempfile::tempdir().unwrap();
        let events = tmp.path().join("compare.jsonl");
        let child = spawn(
            &[
                "compare",
                "--lab",
                "role-swap",
                "--at",
                "50s",
                "--duration",
                "60s",
                "--interval",
                "100ms",
                "--output",
                "json",
                "--events",
                events.to_str().unwrap(),
            ],
            tmp.path(),
        );
        wait_for_probes(&events, Duration::from_secs(30)).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let summary = stop_with(child, Signal::SIGTERM, &events).await;
        assert_eq!(summary["targets"].as_array().map(|t| t.len()), Some(13), "3 shards x 4 styles + enterprise");
        nothing_left(tmp.path());
    });
}

#[test]
fn failover_recovery_rehearsal_stops_on_sigint_mid_scenario() {
    support::heavy(|| async {
        let tmp = tempfile::tempdir().unwrap();
        let events = tmp.path().join("fr.jsonl");
        let child = spawn(
            &[
                "--mode",
                "oss-cluster",
                "failover-recovery",
                "--lab",
                "rolling-replace",
                "--at",
                "1s",
                "--duration",
                "60s",
                "--interval",
                "100ms",
                "--output",
                "json",
                "--events",
                events.to_str().unwrap(),
            ],
            tmp.path(),
        );
        wait_for_probes(&events, Duration::from_secs(30)).await;
        // In the middle of the rolling replacement.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let summary = stop_with(child, Signal::SIGINT, &events).await;
        assert!(summary["overall"]["probes"].as_u64().unwrap_or(0) > 0);
        nothing_left(tmp.path());
    });
}
