//! The seed node dies: inspection commands and the topology watcher keep working through the nodes seen behind
//! that seed earlier (the known-nodes cache), and say which node answered.

mod support;

use std::time::Duration;

use redis_failover_probe::commands::slots::SlotsReport;
use redis_failover_probe::lab::{Scenario, ScenarioKind};

fn with_cache(cmd: &mut assert_cmd::Command, cache: &std::path::Path) {
    cmd.env("RFP_CACHE_DIR", cache);
}

#[test]
fn inspection_and_monitor_survive_a_dead_seed_node() {
    support::heavy(|| async {
        let mut lab = support::start_cluster(3, 1).await;
        let seed = lab.seed_url();
        let cache = tempfile::tempdir().unwrap();
        // A first look while the seed is alive fills the cache.
        let mut first = support::bin();
        with_cache(&mut first, cache.path());
        let out = first
            .args(["--url", &seed, "--mode", "oss-cluster", "slots", "--output", "json"])
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            std::fs::read_dir(cache.path().join("known-nodes")).unwrap().count() == 1,
            "slots recorded the nodes it saw"
        );

        // The seed is the primary of slot 0: kill it for good.
        let report =
            lab.run(&Scenario::from_kind(ScenarioKind::KillPrimary, None, None, false, None)).await.expect("kill");
        assert_eq!(
            report.old_primary.as_ref().map(|e| e.to_string()),
            Some(seed.trim_start_matches("redis://").into())
        );

        for args in [
            vec!["slots", "--output", "json"],
            vec!["cluster-info", "--output", "json"],
            vec!["monitor", "--duration", "3s", "--output", "json"],
        ] {
            let mut cmd = support::bin();
            with_cache(&mut cmd, cache.path());
            let out = cmd
                .args(["--url", &seed, "--mode", "oss-cluster"])
                .args(&args)
                .timeout(Duration::from_secs(40))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{args:?} with the seed dead: exit {:?}\n{stderr}", out.status.code());
            assert!(
                stderr.contains("connected through 127.0.0.1:"),
                "{args:?} says which known node answered: {stderr}"
            );
            if args[0] == "slots" {
                let report: SlotsReport = serde_json::from_slice(&out.stdout).expect("slots JSON");
                assert!(report.all_covered, "every slot is served after the failover: {report:?}");
                assert_eq!(report.primaries, 3, "the dead primary with no slots is not counted: {report:?}");
                let seed_ep = seed.trim_start_matches("redis://");
                assert!(
                    report.shards.iter().all(|s| s.primary != seed_ep || s.slot_count == 0),
                    "the dead seed serves nothing: {report:?}"
                );
            }
        }

        // Without a cache, the dead seed is one clear line and exit 3 (cannot connect).
        let empty = tempfile::tempdir().unwrap();
        let mut cmd = support::bin();
        with_cache(&mut cmd, empty.path());
        let out = cmd
            .args(["--url", &seed, "--mode", "oss-cluster", "slots"])
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("connection refused"), "{stderr}");
        lab.shutdown().await;
    });
}
