//! A fleet's view of one watcher: a real Prometheus server (Debian's `prometheus` package) scrapes a watcher on a
//! lab every second with the shipped alert rules; a kill-primary fires `RfpIncidentOpen`, and `rfp_target_down`
//! of the killed shard reads back as 1 through Prometheus's HTTP API.

mod support;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis_failover_probe::lab::Scenario;

/// A process of the test's own, killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` on 127.0.0.1:`port`, bounded; the body when the status is 200.
fn get(port: u16, path: &str) -> Option<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    (head.split_whitespace().nth(1) == Some("200")).then(|| body.to_string())
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The first value of an instant query's result, if any.
fn query(port: u16, q: &str) -> Option<String> {
    let body = get(port, &format!("/api/v1/query?query={}", encode(q)))?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"][0]["value"][1].as_str().map(str::to_string)
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[test]
fn prometheus_scrapes_a_watcher_and_fires_on_a_kill_primary() {
    support::require_redis();
    let found = Command::new("prometheus").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "prometheus not found: apt-get install prometheus (scripts/test.sh does)");
    support::heavy(|| async {
        let mut lab = support::start_cluster(3, 1).await;
        let dir = tempfile::tempdir().unwrap();
        let (metrics, web) = (support::free_port(), support::free_port());
        let mut cmd = support::bin_std();
        for s in &lab.target().seeds {
            cmd.args(["--url", &format!("redis://{s}")]);
        }
        cmd.args([
            "--mode",
            "oss-cluster",
            "watch",
            "--quiet",
            "20s",
            "--metrics-listen",
            &format!("127.0.0.1:{metrics}"),
        ]);
        cmd.arg("--out").arg(dir.path().join("incidents"));
        let run = support::Background::spawn(cmd);
        let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/alerts.yml");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: ['{rules}']\n\
                 scrape_configs:\n  - job_name: rfp\n    static_configs: [{{targets: ['127.0.0.1:{metrics}']}}]\n"
            ),
        )
        .unwrap();
        let _prometheus = Killed(
            Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{web}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start prometheus"),
        );
        wait_for("prometheus ready", Duration::from_secs(30), || get(web, "/-/ready").is_some()).await;
        wait_for("the watcher scraped", Duration::from_secs(30), || {
            query(web, "rfp_incident_open{job=\"rfp\"}").as_deref() == Some("0")
        })
        .await;
        let r = lab.run(&Scenario::KillPrimary { shard: Some(0) }).await.expect("kill-primary");
        let killed = r.shards.iter().find(|s| s.affected).unwrap().shard.clone();
        wait_for("RfpIncidentOpen firing", Duration::from_secs(30), || {
            get(web, "/api/v1/alerts").is_some_and(|b| {
                let v: serde_json::Value = serde_json::from_str(&b).unwrap_or_default();
                v["data"]["alerts"].as_array().is_some_and(|a| {
                    a.iter().any(|x| x["labels"]["alertname"] == "RfpIncidentOpen" && x["state"] == "firing")
                })
            })
        })
        .await;
        let down = query(web, &format!("max_over_time(rfp_target_down{{target=\"{killed}\"}}[5m])"));
        assert_eq!(down.as_deref(), Some("1"), "{killed} was seen down through Prometheus");
        let healthy = query(web, "min(rfp_availability_ratio)").and_then(|v| v.parse::<f64>().ok());
        assert!(healthy.is_some_and(|a| a < 1.0 && a > 0.5), "availability after a 2 s outage: {healthy:?}");
        let done = run.terminate(Duration::from_secs(20));
        assert_eq!(done.code, Some(0), "{}", done.stderr);
        lab.shutdown().await;
    });
}
