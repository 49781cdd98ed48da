//! Faults the prober itself survives: a network blackhole of its endpoint, the server coming back on the same
//! port with a new identity (every node down and back), and probe keys that never outlive the run. The schedule
//! keeps going, no probe blocks past the timeout, and the record is right.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis_failover_probe::report::RunSummary;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP forwarder in front of `backend` that stops moving bytes in both directions while `dark` is set: the
/// connection stays open and nothing arrives, as when a route blackholes packets. Like TCP after the route comes
/// back, what was held is delivered afterwards, in order.
async fn blackhole_proxy(backend: SocketAddr, dark: Arc<AtomicBool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let dark = dark.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(backend).await else { return };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let d1 = dark.clone();
                let up = tokio::spawn(async move {
                    let mut buf = [0u8; 16384];
                    loop {
                        while d1.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        match cr.read(&mut buf).await {
                            Ok(n) if n > 0 => {
                                while d1.load(Ordering::SeqCst) {
                                    tokio::time::sleep(Duration::from_millis(10)).await;
                                }
                                if sw.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                            _ => break,
                        }
                    }
                });
                let mut buf = [0u8; 16384];
                loop {
                    while dark.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    match sr.read(&mut buf).await {
                        Ok(n) if n > 0 => {
                            while dark.load(Ordering::SeqCst) {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                            if cw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        _ => break,
                    }
                }
                up.abort();
            });
        }
    });
    addr
}

fn run(url: &str, duration: &str) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("redis-failover-probe"))
        .args(["--url", url, "--timeout", "500ms", "failover-recovery", "--duration", duration])
        .args(["--interval", "100ms", "--output", "json"])
        .env_remove("REDIS_URL")
        .env_remove("REDIS_MODE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn summary(child: std::process::Child) -> (RunSummary, i32) {
    let out = child.wait_with_output().unwrap();
    let s =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (s, out.status.code().unwrap_or(-1))
}

#[test]
fn a_blackholed_endpoint_times_out_on_schedule_and_recovers() {
    support::light(|| async {
        let lab = support::start_standalone().await;
        let dark = Arc::new(AtomicBool::new(false));
        let backend: SocketAddr = lab.seeds()[0].to_string().parse().unwrap();
        let front = blackhole_proxy(backend, dark.clone()).await;
        let child = run(&format!("redis://{front}"), "7s");
        tokio::time::sleep(Duration::from_secs(2)).await;
        dark.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(2)).await;
        dark.store(false, Ordering::SeqCst);
        let (s, code) = tokio::task::spawn_blocking(move || summary(child)).await.unwrap();
        let t = &s.targets[0];
        assert!(t.summary.outages >= 1, "the blackhole is an outage: {t:?}");
        assert!(t.summary.failures_by_class.keys().any(|c| c.as_str() == "timeout"), "{t:?}");
        assert!(t.summary.recovered, "back once the path is open again: {t:?}");
        assert_eq!(code, 0, "{:?}", s.verdict);
        // The schedule kept going: every tick was sent, none delayed by the hung probes.
        let st = &s.schedule[0].stats;
        assert_eq!(st.ticks, 70, "{st:?}");
        assert!(st.overlapping > 0, "probes overlapped while the endpoint was dark: {st:?}");
        assert!(st.lateness_max_ms < 100.0, "no tick waited for a hung probe: {st:?}");
        // No probe took longer than the timeout (+ slack).
        assert!(t.set_latency.max_ms < 700.0 && t.get_latency.max_ms < 700.0, "{t:?}");
    });
}

#[test]
fn the_server_back_on_the_same_port_with_a_new_identity() {
    support::light(|| async {
        let lab = support::start_standalone().await;
        let port = lab.seeds()[0].port;
        let url = lab.seed_url();
        let child = run(&url, "8s");
        tokio::time::sleep(Duration::from_secs(2)).await;
        // Every node down (the one node, SIGKILL) ...
        for pid in lab.pids() {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // ... and back on the same port: a new process, a new run id, an empty dataset.
        let dir = tempfile::tempdir().unwrap();
        let mut again = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("restart redis-server");
        let (s, code) = tokio::task::spawn_blocking(move || summary(child)).await.unwrap();
        let _ = again.kill();
        let _ = again.wait();
        let t = &s.targets[0];
        assert_eq!(t.summary.outages, 1, "{t:?}");
        assert!(t.summary.longest_outage_ms >= 1200, "{t:?}");
        assert!(t.summary.recovered, "{t:?}");
        assert_eq!(code, 0, "{:?}", s.verdict);
        assert_eq!(s.schedule[0].stats.ticks, 80);
        assert!(s.client_events.get("reconnected").copied().unwrap_or(0) >= 1, "{:?}", s.client_events);
    });
}

#[test]
fn probe_keys_carry_a_ttl_and_are_gone_after_the_run() {
    support::light(|| async {
        let lab = support::start_standalone().await;
        let url = lab.seed_url();
        let factory = redis_failover_probe::connect::Factory::new(lab.target()).unwrap();
        let client = factory.node(&lab.seeds()[0]).await.unwrap();
        // User data that must not be touched.
        redis_failover_probe::connect::command(&client, &["SET", "user:1", "keep me"]).await.unwrap();
        let child = run(&url, "3s");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let keys = redis_failover_probe::connect::command(&client, &["KEYS", "rfp:*"]).await.unwrap();
        let keys: Vec<String> = keys.into_array().into_iter().filter_map(|k| k.as_string()).collect();
        assert_eq!(keys.len(), 1, "one probe key while probing: {keys:?}");
        let ttl = redis_failover_probe::connect::command(&client, &["PTTL", &keys[0]]).await.unwrap();
        assert!(ttl.as_i64().unwrap_or(-1) > 0, "the probe key has a TTL: {ttl:?}");
        let (_s, code) = tokio::task::spawn_blocking(move || summary(child)).await.unwrap();
        assert_eq!(code, 0);
        let left = redis_failover_probe::connect::command(&client, &["KEYS", "rfp:*"]).await.unwrap();
        assert!(left.into_array().is_empty(), "probe keys are deleted at the end");
        let user = redis_failover_probe::connect::command(&client, &["GET", "user:1"]).await.unwrap();
        assert_eq!(user.as_string().as_deref(), Some("keep me"));
        redis_failover_probe::connect::quit(&client).await;
    });
}
