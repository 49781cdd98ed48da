//! The lab on real processes: every topology started, every scenario run, and the real state checked afterwards
//! (roles, ports, slots, keys); nothing left running when a lab ends, even after a panic; the `lab` subcommand
//! through the binary. Heavy tests are serialised by `support::heavy`.

mod support;

use std::time::Duration;

use fred::prelude::*;
use redis_failover_probe::clock::Clock;
use redis_failover_probe::commands::lab::UpReport;
use redis_failover_probe::connect::{self, Factory};
use redis_failover_probe::lab::{
    pid_running, port_accepts, Lab, LabEventKind, LabOptions, LabState, Scenario, ScenarioReport, TopologyKind,
};
use redis_failover_probe::mode::Mode;
use redis_failover_probe::settings::Target;
use redis_failover_probe::topology::{parse_cluster_nodes, Endpoint, Topology};
use support::{bin, heavy};

async fn write_keys(lab: &Lab, n: usize) -> Vec<String> {
    let conn = Factory::new(lab.target()).unwrap().connect().await.unwrap();
    let keys: Vec<String> = (0..n).map(|i| format!("rfp:test:key:{i}")).collect();
    for k in &keys {
        conn.client
            .set::<(), _, _>(k.as_str(), k.as_str(), None, None, false)
            .await
            .unwrap_or_else(|e| panic!("SET {k}: {e}"));
    }
    conn.close().await;
    keys
}

async fn read_keys(lab: &Lab, keys: &[String]) {
    let conn = Factory::new(lab.target()).unwrap().connect().await.unwrap();
    for k in keys {
        let v: Option<String> = conn.client.get(k.as_str()).await.unwrap_or_else(|e| panic!("GET {k}: {e}"));
        assert_eq!(v.as_deref(), Some(k.as_str()), "key {k} lost");
    }
    conn.close().await;
}

async fn role_of(ep: &Endpoint) -> String {
    let f = Factory::new(Target::local(vec![ep.clone()], Mode::Standalone)).unwrap();
    let c = f.node(ep).await.unwrap();
    let info = connect::info_section(&c, "replication").await.unwrap();
    connect::quit(&c).await;
    info.get("role").cloned().unwrap_or_default()
}

async fn cluster_topology(lab: &Lab) -> Topology {
    let ep = lab.node_endpoints()[0].clone();
    let f = Factory::new(Target::local(vec![ep.clone()], Mode::Standalone)).unwrap();
    let c = f.node(&ep).await.unwrap();
    let text = connect::text_command(&c, &["CLUSTER", "NODES"]).await.unwrap();
    connect::quit(&c).await;
    Topology::from_nodes(parse_cluster_nodes(&text).unwrap(), None)
}

fn check_truth(r: &ScenarioReport) {
    let g = r.ground_truth.unwrap_or_else(|| panic!("{} has no ground truth", r.scenario));
    assert!(g.write_resumed_ms >= g.write_stopped_ms, "{g:?}");
    assert_eq!(g.unavailable_ms, g.write_resumed_ms - g.write_stopped_ms);
    let kinds: Vec<LabEventKind> = r.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds.first(), Some(&LabEventKind::ScenarioStarted));
    assert_eq!(kinds.last(), Some(&LabEventKind::ScenarioFinished));
    assert!(kinds.contains(&LabEventKind::WritesResumed), "{kinds:?}");
}

#[test]
fn cluster_scenarios_change_the_real_roles() {
    heavy(|| async {
        let mut lab = support::start_cluster(3, 1).await;
        assert_eq!(lab.mode(), Mode::OssCluster);
        assert_eq!(lab.node_endpoints().len(), 6);
        let keys = write_keys(&lab, 60).await;

        let r = lab.run(&Scenario::RoleSwap { shard: None }).await.unwrap();
        check_truth(&r);
        assert_eq!(r.shard, "slots 0-5460");
        assert_eq!(role_of(r.new_primary.as_ref().unwrap()).await, "master");
        assert_eq!(role_of(r.old_primary.as_ref().unwrap()).await, "slave");

        let r = lab.run(&Scenario::KillPrimary { shard: Some(1) }).await.unwrap();
        check_truth(&r);
        assert_eq!(r.shard, "slots 5461-10922");
        let (old, new) = (r.old_primary.clone().unwrap(), r.new_primary.clone().unwrap());
        assert!(!port_accepts(old.port), "killed primary {old} still listens");
        assert_eq!(role_of(&new).await, "master", "old replica {new} not primary");
        assert!(r.events.iter().any(|e| e.kind == LabEventKind::NodeKilled));

        // Shorter than the node timeout: the same primary comes back.
        let r = lab.run(&Scenario::HangPrimary { shard: Some(2), duration: Duration::from_millis(400) }).await.unwrap();
        check_truth(&r);
        let g = r.ground_truth.unwrap();
        assert!(g.unavailable_ms >= 390, "{g:?}");
        assert_eq!(r.old_primary, r.new_primary);

        let r = lab.run(&Scenario::ReplaceNode { shard: None, replica: false, drain: Duration::ZERO }).await.unwrap();
        check_truth(&r);
        let retired = r.retired_endpoints.clone();
        assert_eq!(retired.len(), 1);
        assert!(!port_accepts(retired[0].port));
        assert!(!lab.node_endpoints().contains(&retired[0]));
        let kinds: Vec<LabEventKind> = r.events.iter().map(|e| e.kind).collect();
        for k in [
            LabEventKind::NodeStarted,
            LabEventKind::NodeJoined,
            LabEventKind::ReplicaSynced,
            LabEventKind::FailoverRequested,
            LabEventKind::ReplicaPromoted,
            LabEventKind::NodeShutdown,
            LabEventKind::NodeForgotten,
            LabEventKind::EndpointRetired,
        ] {
            assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
        }
        let topo = cluster_topology(&lab).await;
        assert!(topo.all_covered());
        assert!(!topo.endpoints().contains(&retired[0]), "retired node still known");

        let r = lab.run(&Scenario::ReplaceNode { shard: Some(2), replica: true, drain: Duration::ZERO }).await.unwrap();
        assert!(r.ground_truth.is_none(), "a replica swap interrupts no write");
        read_keys(&lab, &keys).await;
        let err = lab.run(&Scenario::RoleSwap { shard: Some(7) }).await.unwrap_err();
        assert!(err.to_string().contains("--shard 7"), "{err}");
        lab.shutdown().await;
    });
}

#[test]
fn rolling_replace_leaves_no_original_endpoint() {
    heavy(|| async {
        let mut lab = support::start_cluster(3, 1).await;
        let original: Vec<Endpoint> = lab.node_endpoints();
        let keys = write_keys(&lab, 60).await;
        let r = lab.run(&Scenario::RollingReplace { drain: Duration::ZERO }).await.unwrap();
        assert_eq!(r.steps.len(), 6);
        assert_eq!(r.retired_endpoints.len(), 6);
        assert_eq!(
            r.steps.iter().filter(|s| s.ground_truth.is_some()).count(),
            3,
            "one write interruption per primary"
        );
        check_truth(&r);
        for ep in &original {
            assert!(!port_accepts(ep.port), "{ep} still accepts connections");
            assert!(!port_accepts(ep.port + 100), "bus of {ep} still open");
        }
        let now = lab.node_endpoints();
        assert_eq!(now.len(), 6);
        assert!(now.iter().all(|e| !original.contains(e)));
        assert!(lab.seeds().iter().all(|e| !original.contains(e)));
        let topo = cluster_topology(&lab).await;
        assert_eq!(topo.covered_slots(), 16384);
        assert_eq!(topo.shards.iter().filter(|s| !s.slots.is_empty()).count(), 3);
        read_keys(&lab, &keys).await;

        // Longer than the node timeout: the replica takes over, the old primary comes back as its replica.
        let r =
            lab.run(&Scenario::HangPrimary { shard: Some(1), duration: Duration::from_millis(4000) }).await.unwrap();
        check_truth(&r);
        assert_ne!(r.old_primary, r.new_primary, "the cluster should have promoted");
        assert!(r.ground_truth.unwrap().unavailable_ms < 4000);
        assert_eq!(role_of(r.old_primary.as_ref().unwrap()).await, "slave");
        assert_eq!(role_of(r.new_primary.as_ref().unwrap()).await, "master");
        read_keys(&lab, &keys).await;
        lab.shutdown().await;
    });
}

async fn endpoint_takes_writes(lab: &Lab) {
    let conn = Factory::new(lab.target()).unwrap().connect().await.unwrap();
    conn.client.set::<(), _, _>("rfp:test:endpoint", "1", None, None, false).await.expect("the endpoint takes a write");
    conn.close().await;
}

#[test]
fn enterprise_endpoint_stays_put_through_every_scenario() {
    heavy(|| async {
        let mut lab = support::start_enterprise().await;
        assert_eq!(lab.mode(), Mode::Enterprise);
        let endpoint = lab.seeds();
        assert_eq!(endpoint.len(), 1);
        endpoint_takes_writes(&lab).await;
        let first_nodes = lab.node_endpoints();
        for scenario in [
            Scenario::RoleSwap { shard: None },
            Scenario::ReplaceNode { shard: None, replica: false, drain: Duration::ZERO },
            Scenario::RollingReplace { drain: Duration::ZERO },
            Scenario::KillPrimary { shard: None },
        ] {
            let r = lab.run(&scenario).await.unwrap_or_else(|e| panic!("{scenario:?}: {e}"));
            check_truth(&r);
            assert_eq!(lab.seeds(), endpoint, "{scenario:?} moved the endpoint");
            endpoint_takes_writes(&lab).await;
            assert_eq!(role_of(r.new_primary.as_ref().unwrap()).await, "master", "{scenario:?}");
        }
        assert!(lab.node_endpoints().iter().all(|e| !first_nodes.contains(e)));
        lab.shutdown().await;
    });
}

#[test]
fn enterprise_hang_longer_than_down_after_fails_over_and_fences() {
    heavy(|| async {
        let mut lab = support::start_enterprise().await;
        let endpoint = lab.seeds();
        let r = lab.run(&Scenario::HangPrimary { shard: None, duration: Duration::from_millis(4000) }).await.unwrap();
        check_truth(&r);
        assert_ne!(r.old_primary, r.new_primary, "Sentinel should have promoted");
        assert!(r.ground_truth.unwrap().unavailable_ms < 4000);
        assert_eq!(role_of(r.old_primary.as_ref().unwrap()).await, "slave");
        assert_eq!(lab.seeds(), endpoint);
        endpoint_takes_writes(&lab).await;
        lab.shutdown().await;
    });
}

#[test]
fn standalone_scenarios() {
    heavy(|| async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut lab = Lab::start(
            TopologyKind::Standalone,
            &LabOptions { replicas: 0, ..LabOptions::default() },
            Clock::start(),
            Some(tx),
        )
        .await
        .unwrap();
        assert_eq!(lab.node_endpoints().len(), 1);
        let r = lab.run(&Scenario::HangPrimary { shard: None, duration: Duration::from_millis(300) }).await.unwrap();
        check_truth(&r);
        lab.shutdown().await;
        // Every event also went down the channel, in the lab's order.
        let mut sent = Vec::new();
        while let Ok(e) = rx.try_recv() {
            sent.push(e.kind);
        }
        assert_eq!(sent.first(), Some(&LabEventKind::NodeStarted));
        assert!(sent.contains(&LabEventKind::LabReady));
        for e in &r.events {
            assert!(sent.contains(&e.kind), "{:?} not sent", e.kind);
        }

        let lab = support::start_standalone().await;
        assert_eq!(lab.seeds(), lab.node_endpoints());
        lab.shutdown().await;

        let mut lab = support::start_standalone_with(1).await;
        let err = lab.run(&Scenario::KillPrimary { shard: None }).await.unwrap_err();
        assert!(err.to_string().contains("nothing would promote"), "{err}");
        let r = lab.run(&Scenario::RoleSwap { shard: None }).await.unwrap();
        check_truth(&r);
        assert_eq!(lab.seeds(), vec![r.new_primary.clone().unwrap()]);
        let before = lab.seeds();
        let r = lab.run(&Scenario::ReplaceNode { shard: None, replica: false, drain: Duration::ZERO }).await.unwrap();
        check_truth(&r);
        assert_ne!(lab.seeds(), before, "a standalone endpoint moves with its node");
        assert!(!port_accepts(before[0].port));
        endpoint_takes_writes(&lab).await;
        lab.shutdown().await;
    });
}

fn assert_all_gone(pids: &[u32], ports: &[u16]) {
    assert!(!pids.is_empty() && !ports.is_empty());
    for pid in pids {
        // Reaped, not merely dead: a zombie still has its /proc entry.
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} is still there (running or zombie)"
        );
    }
    for port in ports {
        assert!(!port_accepts(*port), "port {port} still open");
    }
}

#[test]
fn nothing_is_left_after_drop_shutdown_or_panic() {
    support::require_redis();
    support::require_haproxy();
    let _guard = support::heavy_lock();

    // Dropped at the end of a scope.
    let rt = support::runtime();
    let (pids, ports, dir) = rt.block_on(async {
        let lab = support::start_cluster(1, 1).await;
        (lab.pids(), lab.ports(), lab.dir().to_path_buf())
    });
    assert_eq!(pids.len(), 2);
    assert_eq!(ports.len(), 4, "two nodes and their bus ports");
    assert_all_gone(&pids, &ports);
    assert!(!dir.exists(), "temp dir left behind");

    // Shut down explicitly.
    let (pids, ports) = rt.block_on(async {
        let lab = support::start_enterprise().await;
        let facts = (lab.pids(), lab.ports());
        lab.shutdown().await;
        facts
    });
    assert_eq!(pids.len(), 4, "primary, replica, sentinel, haproxy");
    assert_all_gone(&pids, &ports);

    // A panic inside the test body.
    let seen = std::sync::Mutex::new((vec![], vec![]));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            let mut lab = support::start_enterprise().await;
            let _ =
                lab.run(&Scenario::ReplaceNode { shard: None, replica: true, drain: Duration::ZERO }).await.unwrap();
            *seen.lock().unwrap() = (lab.pids(), lab.ports());
            panic!("boom inside the test body");
        })
    }));
    assert!(outcome.is_err());
    let (pids, ports) = seen.into_inner().unwrap();
    assert_all_gone(&pids, &ports);
    rt.shutdown_timeout(Duration::from_millis(500));
}

#[test]
fn lab_subcommand_detach_status_run_down() {
    support::require_redis();
    let _guard = support::heavy_lock();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("lab.json");
    let state_arg = state.to_str().unwrap();
    let _cleanup = support::DetachedLabGuard(state.clone());

    let out = bin()
        .args(["lab", "up", "--topology", "cluster", "--detach", "--output", "json", "--state"])
        .arg(state_arg)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let raw: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(raw["kind"], "cluster");
    assert_eq!(raw["mode"], "oss-cluster");
    let up: UpReport = serde_json::from_value(raw).unwrap();
    assert!(up.detached);
    assert!(up.hint.starts_with("export REDIS_URL=redis://127.0.0.1:"));
    assert!(up.hint.ends_with(" REDIS_MODE=oss-cluster"));
    let facts = LabState::read(&state).unwrap();
    assert_eq!(up.state, facts);
    assert_eq!(facts.nodes.len(), 6);
    assert_eq!(facts.kind, TopologyKind::Cluster);
    let pids = facts.pids();
    assert!(pids.iter().all(|p| pid_running(*p)), "detached nodes died");
    // Something of ours is the parent of every node for the lab's lifetime: the keeper, not PID 1.
    let keeper = facts.keeper_pid.expect("a detached lab has a keeper");
    assert!(pid_running(keeper));
    for p in &pids {
        assert_eq!(parent_of(*p), Some(keeper), "parent of node pid {p}");
    }

    let out = bin().args(["lab", "status", "--state", state_arg]).timeout(Duration::from_secs(30)).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("REDIS_MODE=oss-cluster"));
    let out = bin()
        .args(["lab", "status", "--output", "json", "--state", state_arg])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The same field names as the state file.
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed: LabState = serde_json::from_value(status.clone()).unwrap();
    assert_eq!(listed, facts);
    assert_eq!(
        (status["keeper_running"].as_bool(), status["not_running"].as_array().map(Vec::len)),
        (Some(true), Some(0))
    );

    let out = bin()
        .args(["lab", "run", "kill-primary", "--output", "json", "--state", state_arg])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: ScenarioReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.scenario.as_str(), "kill-primary");
    let killed = report.old_primary.clone().unwrap();
    assert!(!port_accepts(killed.port));
    let after = LabState::read(&state).unwrap();
    let gone = after.nodes.iter().find(|n| n.port == killed.port).unwrap();
    assert!(!gone.alive);
    // Killed and reaped by the keeper at once: no zombie left behind.
    assert!(!std::path::Path::new(&format!("/proc/{}", gone.pid)).exists(), "killed node {} not reaped", gone.pid);

    let out = bin().args(["lab", "down", "--state", state_arg]).timeout(Duration::from_secs(30)).output().unwrap();
    assert!(out.status.success());
    assert!(!state.exists(), "state file left behind");
    // The keeper reaped every node before it answered: not even a zombie is left (the keeper itself belongs to
    // PID 1 once `lab up` has exited, so only its not running is checked).
    for p in &pids {
        assert!(!std::path::Path::new(&format!("/proc/{p}")).exists(), "node pid {p} left behind (zombie or alive)");
    }
    assert!(!pid_running(keeper), "the keeper outlived lab down");
    for n in &facts.nodes {
        assert!(!port_accepts(n.port), "{} still open", n.port);
    }
    assert!(!facts.dir.exists());
}

/// The parent pid of `pid`, from /proc.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn missing_redis_server_is_one_clear_line_and_exit_4() {
    let out = bin()
        .args(["lab", "up", "--topology", "cluster"])
        .env("RFP_REDIS_SERVER", "/nonexistent")
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("redis-server not found"), "{err}");
    assert!(err.contains("apt-get install redis-server"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn lab_run_refuses_a_state_file_that_is_not_a_lab() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("lab.json");
    let fake = serde_json::json!({
        "kind": "standalone", "mode": "standalone", "seed_url": "redis://127.0.0.1:6379",
        "dir": "/var/lib/redis", "keep_dir": false, "node_timeout_ms": 1000, "primaries": 1, "replicas": 0,
        "nodes": [{"port": 6379, "cluster": false, "pid": 1, "id": null, "original": true, "alive": true,
                   "dir": "/var/lib/redis"}],
        "sentinel": null, "proxy": null, "primary": 6379
    });
    std::fs::write(&state, fake.to_string()).unwrap();
    for action in [vec!["run", "kill-primary"], vec!["down"]] {
        let out = bin()
            .arg("lab")
            .args(&action)
            .args(["--state", state.to_str().unwrap()])
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{action:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("refusing"));
    }
}

#[test]
fn lab_up_runs_until_sigterm_then_stops_everything_and_exits_130() {
    use std::io::BufRead;
    support::require_redis();
    let _guard = support::heavy_lock();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_redis-failover-probe"))
        .args(["lab", "up", "--topology", "standalone", "--replicas", "1", "--output", "json"])
        .env_remove("REDIS_URL")
        .env_remove("REDIS_MODE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The JSON document is printed once the lab is ready; it ends with a closing brace alone on its line.
    let mut text = String::new();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line == "}" {
            break;
        }
    }
    let up: UpReport = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(!up.detached);
    let pids: Vec<u32> = up.state.pids();
    let ports: Vec<u16> = up.state.nodes.iter().map(|n| n.port).collect();
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|p| pid_running(*p)));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    // `lab up` was their parent and reaped them: not even zombies remain.
    assert_all_gone(&pids, &ports);
    assert!(!up.state.dir.exists());
}
