use std::collections::BTreeMap;

use super::*;
use crate::probe::{ErrorClass, OutageWindow};
use crate::topology::Endpoint;

fn summary(windows: &[(u64, Option<u64>)], end_ms: u64) -> TargetSummary {
    let windows: Vec<OutageWindow> = windows
        .iter()
        .map(|&(start_ms, end)| OutageWindow {
            start_ms,
            end_ms: end,
            length_ms: end.unwrap_or(end_ms) - start_ms,
            failures: 3,
            first_class: ErrorClass::Timeout,
        })
        .collect();
    let recovered = windows.last().is_none_or(|w| w.end_ms.is_some());
    TargetSummary {
        probes: 100,
        ok: 90,
        failures: 10,
        outages: windows.len() as u64,
        longest_outage_ms: windows.iter().map(|w| w.length_ms).max().unwrap_or(0),
        total_outage_ms: windows.iter().map(|w| w.length_ms).sum(),
        first_failure_ms: windows.first().map(|w| w.start_ms),
        recovered_ms: windows.last().and_then(|w| w.end_ms),
        first_failure_to_recovery_ms: None,
        recovered,
        ongoing_outage_ms: windows.last().filter(|w| w.end_ms.is_none()).map(|w| w.length_ms),
        failures_by_class: BTreeMap::new(),
        windows,
        windows_dropped: 0,
        wrong_values: 0,
        late_results: 0,
    }
}

#[test]
fn a_shard_back_after_the_injection_counts_only_windows_from_then_on() {
    // A blip before the injection at 5 s, then 2.4 s down from 5.1 s.
    let s = summary(&[(1_000, Some(1_200)), (5_100, Some(7_500))], 20_000);
    let f = shard_fate("slots 0-5460", true, &s, 5_000);
    assert!(f.recovered);
    assert_eq!(f.outage_ms, 2_400);
    assert_eq!(f.back_after_ms, Some(2_500));
    // Still down at the end: stuck, no recovery time.
    let s = summary(&[(5_100, None)], 20_000);
    let f = shard_fate("slots 0-5460", true, &s, 5_000);
    assert!(!f.recovered);
    assert_eq!((f.outage_ms, f.back_after_ms), (14_900, None));
    // Never failed after the injection.
    let f = shard_fate("slots 5461-10922", false, &summary(&[], 20_000), 5_000);
    assert!(f.recovered && f.outage_ms == 0 && f.back_after_ms.is_none());
}

#[test]
fn a_cell_is_stuck_when_any_shard_is_and_reports_the_affected_shard() {
    let killed =
        ShardFate { shard: "a".into(), affected: true, recovered: true, outage_ms: 2_000, back_after_ms: Some(2_100) };
    let quiet = ShardFate { shard: "b".into(), affected: false, recovered: true, outage_ms: 0, back_after_ms: None };
    let c = cell("ioredis@5", vec![killed.clone(), quiet.clone()], "refreshed on MOVED".into(), Fate::Recovered);
    assert_eq!((c.fate, c.back_after_ms, c.outage_ms, c.as_expected), (Fate::Recovered, Some(2_100), 2_000, true));
    let stalled = ShardFate { recovered: false, back_after_ms: None, ..quiet };
    let c = cell("fred", vec![killed, stalled], "fred".into(), Fate::Recovered);
    assert_eq!(c.fate, Fate::Stuck);
    assert_eq!(c.stuck, ["b"]);
    assert!(!c.as_expected);
    assert_eq!(c.back_after_ms, None, "a stuck cell has no recovery time");
    assert_eq!(cell("x", vec![], String::new(), Fate::Stuck).fate, Fate::NoData);
}

#[test]
fn expectations_take_a_scenario_prefix_and_a_client_with_parameters() {
    let scenarios = vec!["kill-primary".to_string(), "rolling-replace".to_string()];
    let values = vec![
        "node-redis@4=fail".to_string(),
        "rolling-replace:redis-py@8=pass".to_string(),
        "kill-primary:lettuce@6,periodic=60s=pass".to_string(),
        "redis-py@8=stuck".to_string(),
        "rolling-replace/idle:ioredis@5=fail".to_string(),
    ];
    let e = Expectations::parse(&values, &scenarios).unwrap();
    let busy = Traffic::Busy;
    assert_eq!(e.of("kill-primary", busy, "node-redis@4"), Fate::Stuck);
    assert_eq!(e.of("rolling-replace", busy, "redis-py@8"), Fate::Recovered);
    assert_eq!(e.of("rolling-replace", Traffic::Idle, "redis-py@8"), Fate::Recovered);
    assert_eq!(e.of("kill-primary", busy, "redis-py@8"), Fate::Stuck);
    assert_eq!(e.of("kill-primary", busy, "lettuce@6,periodic=60s"), Fate::Recovered);
    assert_eq!(e.of("kill-primary", busy, "ioredis@5"), Fate::Recovered, "the default is to recover");
    assert_eq!(e.of("rolling-replace", busy, "ioredis@5"), Fate::Recovered);
    assert_eq!(e.of("rolling-replace", Traffic::Idle, "ioredis@5"), Fate::Stuck);
    assert_eq!(
        e.unknown(&["node-redis@4".into(), "redis-py@8".into(), "ioredis@5".into()]),
        ["lettuce@6,periodic=60s"]
    );
    for bad in ["x", "x=maybe"] {
        let err = Expectations::parse(&[bad.to_string()], &scenarios).unwrap_err().to_string();
        assert!(err.starts_with(&format!("--expect '{bad}'")), "{err}");
    }
}

#[test]
fn recovery_in_a_few_words() {
    let ep = Endpoint::new("127.0.0.1", 7001);
    assert_eq!(how_short(&RecoveryHow::RefreshedOnMoved { from: ep.clone(), at_ms: 1 }), "refreshed on MOVED");
    assert_eq!(how_short(&RecoveryHow::StuckRetrying { endpoint: ep.clone(), since_ms: 1 }), "retrying 127.0.0.1:7001");
    let periodic = RecoveryHow::Refreshed {
        trigger: "periodic refresh (every 60s)".into(),
        endpoint: None,
        map_from: ep.clone(),
        from_seed: true,
        at_ms: 1,
    };
    assert_eq!(how_short(&periodic), "periodic refresh (every 60s), map read from a seed");
    let attempts = RecoveryHow::Refreshed {
        trigger: "refresh after 5 reconnect attempts".into(),
        endpoint: Some(ep.clone()),
        map_from: ep,
        from_seed: false,
        at_ms: 1,
    };
    assert_eq!(how_short(&attempts), "after 5 reconnect attempts");
    let at_once = RecoveryHow::Refreshed {
        trigger: "refresh 0s after a connection error".into(),
        endpoint: None,
        map_from: Endpoint::new("127.0.0.1", 7002),
        from_seed: false,
        at_ms: 1,
    };
    assert_eq!(how_short(&at_once), "on a connection error");
}

#[test]
fn a_real_library_and_its_preset_disagree_on_a_verdict_or_more_than_a_second() {
    let shard = |name: &str, recovered, outage_ms, back: Option<u64>| ShardFate {
        shard: name.into(),
        affected: name == "slots 0-5460",
        recovered,
        outage_ms,
        back_after_ms: back,
    };
    let preset = cell(
        "ioredis@5",
        vec![shard("slots 0-5460", true, 2_000, Some(2_300)), shard("slots 5461-10922", true, 0, None)],
        String::new(),
        Fate::Recovered,
    );
    let close = cell(
        "real:ioredis@5",
        vec![shard("slots 0-5460", true, 2_600, Some(3_200)), shard("slots 5461-10922", true, 0, None)],
        String::new(),
        Fate::Recovered,
    );
    assert!(disagreements(&close, &preset).is_empty(), "900 ms apart is agreement");
    let slow =
        cell("real:ioredis@5", vec![shard("slots 0-5460", true, 3_000, Some(3_400))], String::new(), Fate::Recovered);
    assert_eq!(disagreements(&slow, &preset), ["slots 0-5460: the library was back after 3.4s, ioredis@5 after 2.3s"]);
    let stuck = cell(
        "real:ioredis@5",
        vec![shard("slots 0-5460", false, 20_000, None), shard("slots 5461-10922", true, 1_500, Some(1_600))],
        String::new(),
        Fate::Recovered,
    );
    assert_eq!(
        disagreements(&stuck, &preset),
        [
            "slots 0-5460: the library is stuck at the end, ioredis@5 is back",
            "slots 5461-10922: the library was back after 1.5s, ioredis@5 after 0ms"
        ]
    );
}
