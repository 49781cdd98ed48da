//! The inspection commands (status, cluster-info, slots, test-keys, client-list, health, connection-mode)
//! against real servers started here, in table and JSON form, and the bad inputs of the foundation.

mod support;

use redis_failover_probe::commands::client_list::ClientListReport;
use redis_failover_probe::commands::cluster_info::ClusterInfoReport;
use redis_failover_probe::commands::connection_mode::{ConnectionModeReport, RiskLevel};
use redis_failover_probe::commands::health::HealthReport;
use redis_failover_probe::commands::slots::SlotsReport;
use redis_failover_probe::commands::status::StatusReport;
use redis_failover_probe::commands::test_keys::TestKeysReport;
use serde::de::DeserializeOwned;

fn json<T: DeserializeOwned>(args: &[&str]) -> T {
    let out = support::bin().args(args).arg("--output").arg("json").output().expect("run the binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{args:?} failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: not the documented JSON ({e}):\n{stdout}"))
}

fn table(args: &[&str]) -> String {
    let out = support::bin().args(args).output().expect("run the binary");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args:?} failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn cluster_inspection_commands() {
    support::heavy(|| async { cluster_inspection().await });
}

async fn cluster_inspection() {
    let lab = support::start_cluster(3, 1).await;
    let url = lab.seed_url();
    let base = ["--url", url.as_str(), "--mode", "oss-cluster"];
    let with = |extra: &[&'static str]| -> Vec<&str> { base.iter().copied().chain(extra.iter().copied()).collect() };

    let slots: SlotsReport = json(&with(&["slots"]));
    assert!(slots.all_covered && slots.covered == 16384, "{slots:?}");
    assert_eq!(slots.primaries, 3);
    assert!(slots.shards.iter().all(|s| s.replicas.len() == 1), "{slots:?}");
    assert!(table(&with(&["slots"])).contains("all 16384 slots covered by 3 primaries"));

    let keys: TestKeysReport = json(&with(&["test-keys", "--count", "30"]));
    assert_eq!(keys.keys.len(), 30);
    assert_eq!(keys.problems, 0, "{keys:?}");
    assert_eq!(keys.distribution.len(), 3, "keys spread over all 3 primaries: {:?}", keys.distribution);
    for k in &keys.keys {
        assert_eq!(k.owner, k.answered_by, "{k:?}");
        assert!(k.owner.is_some());
    }
    assert!(keys.deleted);
    assert!(table(&with(&["test-keys", "--count", "3"])).contains("0 problem(s)"));

    let info: ClusterInfoReport = json(&with(&["cluster-info"]));
    let i = info.info.as_ref().expect("CLUSTER INFO");
    assert_eq!(i.state, "ok");
    assert_eq!(i.known_nodes, 6);
    assert_eq!(info.nodes.len(), 6);
    assert_eq!(info.nodes.iter().filter(|n| n.slot_count > 0).count(), 3);
    assert!(table(&with(&["cluster-info"])).contains("connected"));

    let status: StatusReport = json(&with(&["status", "--count", "3"]));
    assert_eq!(status.pongs, 3);
    assert_eq!(status.cluster_enabled, Some(true));

    let clients: ClientListReport = json(&with(&["client-list"]));
    let nodes: std::collections::BTreeSet<&str> = clients.clients.iter().map(|c| c.node.as_str()).collect();
    assert_eq!(nodes.len(), 6, "CLIENT LIST of every node");
    assert!(clients.clients.iter().any(|c| c.ours), "this tool's own connection is marked");
    assert!(table(&with(&["client-list"])).contains("(this tool)"));

    let health: HealthReport = json(&with(&["health"]));
    assert!(health.ok);
    assert_eq!(health.checks[0].targets.len(), 3, "one probe key per primary");

    let mode: ConnectionModeReport = json(&with(&["connection-mode"]));
    assert_eq!(mode.advertised.len(), 6);
    assert_eq!(mode.risk, RiskLevel::High, "{mode:?}");
    assert!(table(&with(&["connection-mode"])).contains("failover risk"));
}

#[test]
fn standalone_inspection_and_wrong_modes() {
    support::heavy(|| async { standalone_inspection().await });
}

async fn standalone_inspection() {
    let lab = support::start_standalone().await;
    let url = lab.seed_url();
    let status: StatusReport = json(&["--url", &url, "status"]);
    assert_eq!(status.pongs, 5);
    assert_eq!(status.role.as_deref(), Some("master"));
    assert!(table(&["--url", &url, "status"]).contains("5 sent, 5 PONG"));

    let info: ClusterInfoReport = json(&["--url", &url, "cluster-info"]);
    assert!(info.hidden);
    let text = table(&["--url", &url, "cluster-info"]);
    assert!(text.contains("this endpoint hides its topology"), "{text}");

    let health: HealthReport = json(&["--url", &url, "health"]);
    assert!(health.ok && health.checks[0].targets.len() == 1);
    let watch = table(&["--url", &url, "health", "--watch", "--interval", "100ms", "--checks", "3"]);
    assert_eq!(watch.lines().filter(|l| l.contains(" OK ")).count(), 3, "{watch}");

    let mode: ConnectionModeReport = json(&["--url", &url, "connection-mode"]);
    assert_eq!(mode.risk, RiskLevel::High, "standalone without a replica");

    // oss-cluster against a standalone server: a clear line naming the mode to use, exit 2.
    let out = support::bin().args(["--url", &url, "--mode", "oss-cluster", "slots"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--mode standalone") && err.lines().count() == 1, "{err}");
}

#[test]
fn standalone_mode_against_a_cluster_node_names_oss_cluster() {
    support::heavy(|| async { wrong_mode_against_cluster().await });
}

async fn wrong_mode_against_cluster() {
    let lab = support::start_cluster(3, 0).await;
    let out = support::bin().args(["--url", &lab.seed_url(), "status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--mode oss-cluster") && err.lines().count() == 1, "{err}");
    let out = support::bin().args(["--url", &lab.seed_url(), "--mode", "enterprise", "status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_inputs_are_one_line_with_the_documented_exit_code() {
    support::heavy(|| async { bad_inputs().await });
}

async fn bad_inputs() {
    let lab = support::start_standalone().await;
    let port = lab.seeds()[0].port;
    let free = support::free_port();
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (vec!["--url".into(), "redis://u:topsecret@127.0.0.1:99999".into(), "status".into()], 2, "malformed URL"),
        (vec!["--url".into(), "http://127.0.0.1:6379".into(), "status".into()], 2, "unknown URL scheme"),
        (vec!["--url".into(), format!("redis://127.0.0.1:{free}"), "status".into()], 3, "connection refused"),
        (
            vec!["--url".into(), format!("redis://u:topsecret@127.0.0.1:{port}"), "status".into()],
            3,
            "authentication failed",
        ),
        (vec!["status".into(), "--timeout".into(), "0".into()], 2, "zero"),
        (vec!["status".into(), "--timeout".into(), "soon".into()], 2, "not a duration"),
        (
            vec![
                "--url".into(),
                format!("redis://127.0.0.1:{port}"),
                "failover-recovery".into(),
                "--duration".into(),
                "0".into(),
            ],
            2,
            "zero",
        ),
        (
            vec![
                "--url".into(),
                format!("redis://127.0.0.1:{port}"),
                "failover-recovery".into(),
                "--duration".into(),
                "1s".into(),
                "--interval".into(),
                "5s".into(),
            ],
            2,
            "longer than --duration",
        ),
    ];
    for (args, code, needle) in cases {
        let out = support::bin().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: expected '{needle}' in: {err}");
        assert!(!err.contains("topsecret"), "secret leaked: {err}");
        assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}
