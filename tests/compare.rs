//! compare against the lab: the incident in one command. With the seed on the killed node (no discovery proxy):
//! direct (the shards' own availability) recovers every shard within interval + 150 ms of the ground truth; fred,
//! which rediscovers from its seed only, stays stuck on every shard; moved-only stays stuck on the killed
//! primary's shard only; reconnect-refresh recovers after its refresh delay; the enterprise endpoint recovers.

mod support;

use std::time::Duration;

use redis_failover_probe::report::RunSummary;

fn compare(args: &[&str]) -> (RunSummary, i32) {
    let mut all = vec!["compare", "--output", "json", "--interval", "100ms", "--refresh-after", "2s"];
    all.extend_from_slice(args);
    support::run_json(&all, Duration::from_secs(180))
}

fn recovered(s: &RunSummary, source: &str) -> Vec<(String, bool)> {
    s.targets.iter().filter(|t| t.source == source).map(|t| (t.name.clone(), t.summary.recovered)).collect()
}

#[test]
fn kill_primary_reproduces_the_incident() {
    support::heavy(|| async {
        let (s, code) = compare(&[
            "--lab",
            "kill-primary",
            "--seed",
            "node",
            "--at",
            "2s",
            "--duration",
            "12s",
            "--expect",
            "moved-only=fail",
            "--expect",
            "fred=fail",
        ]);
        assert_eq!(code, 0, "every expectation holds: {:?}", s.per_source);
        let shard = s.lab.as_ref().and_then(|l| l.shard.clone()).expect("killed shard");
        for source in ["direct", "reconnect-refresh", "enterprise"] {
            let r = recovered(&s, source);
            assert!(!r.is_empty() && r.iter().all(|(_, ok)| *ok), "{source}: {r:?}");
        }
        // The cluster's own availability: every shard within interval + 150 ms of its ground truth.
        let lab = s.lab.as_ref().unwrap();
        assert_eq!(lab.shards.len(), 3, "{lab:?}");
        for row in &lab.shards {
            let d = row.difference_ms.unwrap_or_else(|| panic!("{} not measured", row.shard));
            assert!(d.abs() <= 250, "direct {}: {d:+} ms off the ground truth: {:?}", row.shard, lab.shards);
        }
        // fred, seeded by the node that died, never rediscovers: stuck on every shard (its habit, as measured).
        let fred = recovered(&s, "fred");
        assert!(fred.len() == 3 && fred.iter().all(|(_, ok)| !*ok), "fred: {fred:?}");
        // moved-only: stuck on the killed shard only.
        for (name, ok) in recovered(&s, "moved-only") {
            assert_eq!(ok, !shard.starts_with(&name), "moved-only {name} (killed shard {shard})");
        }
        let mo = s.recovery.iter().find(|r| r.source == "moved-only").expect("moved-only recovery");
        let stuck = serde_json::to_value(&mo.shards).unwrap().to_string();
        assert!(stuck.contains("stuck_retrying"), "{stuck}");
        // reconnect-refresh: back roughly refresh-after (2 s) after the first failure, or at the promotion if later.
        let rr = s
            .targets
            .iter()
            .find(|t| t.source == "reconnect-refresh" && shard.starts_with(&t.name))
            .expect("reconnect-refresh on the killed shard");
        let lab = s.lab.as_ref().unwrap();
        let promotion = lab.ground_truth_ms.expect("ground truth");
        let outage = rr.summary.longest_outage_ms;
        assert!(
            outage >= 1800 && outage <= promotion.max(2000) + 2500,
            "reconnect-refresh outage {outage} ms, promotion {promotion} ms after the kill"
        );
        let rec = s.recovery.iter().find(|r| r.source == "reconnect-refresh").unwrap();
        assert!(serde_json::to_value(&rec.shards).unwrap().to_string().contains("refreshed_after_reconnect_failures"));
        assert_eq!(s.extra_labs.len(), 1, "the enterprise lab's ground truth is reported too");
        let mo_verdict = s.per_source.iter().find(|v| v.source == "moved-only").unwrap();
        assert!(!mo_verdict.verdict.is_passed() && mo_verdict.as_expected);
    });
}

#[test]
fn role_swap_all_four_recover() {
    support::heavy(|| async {
        let (s, code) = compare(&["--lab", "role-swap", "--at", "2s", "--duration", "7s"]);
        // The cluster (direct), fred and the enterprise endpoint pass. The emulated node-redis styles have been
        // seen to read one stale value right after the swap in some runs (not explained yet): recovery is
        // asserted for them, not the verdict.
        let unexpected: Vec<_> = s
            .per_source
            .iter()
            .filter(|v| !v.as_expected && ["direct", "fred", "enterprise"].contains(&v.source.as_str()))
            .collect();
        assert!(unexpected.is_empty(), "{unexpected:?}");
        assert_eq!(code == 0, s.per_source.iter().all(|v| v.as_expected), "exit code follows the expectations");
        for source in ["direct", "fred", "moved-only", "reconnect-refresh", "enterprise"] {
            let r = recovered(&s, source);
            assert!(!r.is_empty() && r.iter().all(|(_, ok)| *ok), "{source}: {r:?}");
        }
        // moved-only learns the new owner from the demoted node's MOVED.
        let mo = s.recovery.iter().find(|r| r.source == "moved-only").unwrap();
        let text = serde_json::to_value(&mo.shards).unwrap().to_string();
        assert!(!text.contains("stuck_retrying"), "{text}");
    });
}

#[test]
fn rolling_replace_fred_and_enterprise_recover_and_moved_only_is_explained() {
    support::heavy(|| async {
        // With a discovery proxy as the seed (a managed cluster), no drain: whether moved-only recovers depends on
        // timing, so its expectation is not asserted by the exit code; every other one is.
        let (s, code) = compare(&["--lab", "rolling-replace", "--drain", "0", "--at", "2s", "--duration", "20s"]);
        let lab = s.lab.as_ref().expect("lab summary");
        assert!(lab.error.is_none(), "{:?}", lab.error);
        for source in ["direct", "fred", "enterprise"] {
            let r = recovered(&s, source);
            assert!(!r.is_empty() && r.iter().all(|(_, ok)| *ok), "{source}: {r:?}");
        }
        // The cluster (direct), fred and the enterprise endpoint pass; the emulated node-redis styles' fates are
        // reported, not asserted (a stale read after a replacement is their experience).
        let unexpected: Vec<_> = s
            .per_source
            .iter()
            .filter(|v| !v.as_expected && ["direct", "fred", "enterprise"].contains(&v.source.as_str()))
            .collect();
        assert!(unexpected.is_empty(), "{unexpected:?}");
        assert_eq!(code == 0, s.per_source.iter().all(|v| v.as_expected), "exit code follows the expectations");
        // How each moved-only shard fared is reported, whatever it was (the outcome depends on timing).
        let mo = s.recovery.iter().find(|r| r.source == "moved-only").expect("moved-only recovery");
        let labels: std::collections::BTreeSet<&str> = mo.shards.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels.len(), 3, "one verdict per shard: {:?}", mo.shards);
        assert!(
            s.notices.iter().any(|n| n.kind == "endpoint_unreachable" || n.kind == "diagnosis"),
            "the retired endpoints are noticed: {:?}",
            s.notices
        );
    });
}
