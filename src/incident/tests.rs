//! The incident rules against scripted events.

use std::time::Duration;

use super::ring::Ring;
use super::rollup::{percent, Rollup};
use super::rotate::RotatingLog;
use super::*;
use crate::clock::Stamp;
use crate::events::{NoticeEvent, ProbeEvent, TopologyEvent};
use crate::probe::{ErrorClass, Op, ProbeOutcome};

fn stamp(ms: u64) -> Stamp {
    Stamp { wall: String::new(), offset_ms: ms }
}

fn probe(ms: u64, target: &str, ok: bool) -> Event {
    let outcome = if ok { ProbeOutcome::Ok } else { ProbeOutcome::failed(ErrorClass::ConnectionRefused, Op::Set, "x") };
    Event::Probe(ProbeEvent {
        stamp: stamp(ms),
        source: String::new(),
        target: target.into(),
        seq: ms,
        node: None,
        set_ms: None,
        get_ms: None,
        late_ms: 0.0,
        outcome,
    })
}

fn notice(ms: u64, kind: &str) -> Event {
    Event::Notice(NoticeEvent { stamp: stamp(ms), kind: kind.into(), detail: "d".into(), data: None })
}

fn tracker() -> Tracker {
    Tracker::new(TrackerConfig { quiet: Duration::from_secs(60), max_len: Duration::from_secs(3600) })
}

#[test]
fn a_failed_probe_opens_and_a_quiet_minute_after_every_target_is_back_closes() {
    let mut t = tracker();
    assert_eq!(t.observe(&probe(1_000, "slots 0-5460", true)), None);
    let open = t.observe(&probe(2_000, "slots 0-5460", false));
    assert!(
        matches!(&open, Some(Step::Open { at_ms: 2_000, trigger: Trigger::FailedProbe(w) }) if w.contains("slots 0-5460"))
    );
    // More failures and other targets' successes change nothing: it is open.
    assert_eq!(t.observe(&probe(2_100, "slots 0-5460", false)), None);
    assert_eq!(t.observe(&probe(2_100, "slots 5461-10922", true)), None);
    assert!(t.tick(70_000).is_empty(), "still down: never closes, however long");
    assert_eq!(t.observe(&probe(70_100, "slots 0-5460", true)), None);
    // Quiet counts from the last sign of trouble: the failed probe at 2.1 s, so the minute has long passed;
    // the incident closes at the first tick with every target back.
    assert_eq!(t.tick(70_200), vec![Step::Close { at_ms: 70_200, ending: Ending::Quiet }]);
    assert!(!t.is_open());
}

#[test]
fn trouble_while_quiet_holds_the_incident_open_and_warnings_are_no_trouble() {
    let mut t = tracker();
    assert_eq!(t.observe(&notice(500, "warning")), None, "the tool's own warning opens nothing");
    assert!(matches!(t.observe(&notice(1_000, "azure_maintenance")), Some(Step::Open { at_ms: 1_000, .. })));
    let change = Event::Topology(TopologyEvent { stamp: stamp(50_000), source: String::new(), changes: Vec::new() });
    assert_eq!(t.observe(&change), None);
    assert!(t.tick(61_000).is_empty(), "the change at 50 s restarted the quiet minute");
    assert_eq!(t.tick(110_000), vec![Step::Close { at_ms: 110_000, ending: Ending::Quiet }]);
}

#[test]
fn an_incident_is_cut_at_its_longest_and_goes_on_as_the_next() {
    let mut t = Tracker::new(TrackerConfig { quiet: Duration::from_secs(1), max_len: Duration::from_secs(10) });
    t.observe(&probe(0, "a", false));
    assert!(t.tick(9_999).is_empty());
    assert_eq!(
        t.tick(10_000),
        vec![
            Step::Close { at_ms: 10_000, ending: Ending::Cut },
            Step::Open { at_ms: 10_000, trigger: Trigger::Continued }
        ]
    );
    assert_eq!(t.open_since(), Some(10_000));
    assert_eq!(t.down().collect::<Vec<_>>(), ["a"]);
}

#[test]
fn unreachable_at_start_opens_one_incident() {
    let mut t = tracker();
    assert!(matches!(t.open_now(0, Trigger::Unreachable("127.0.0.1:1".into())), Some(Step::Open { at_ms: 0, .. })));
    assert_eq!(t.open_now(5_000, Trigger::Unreachable("127.0.0.1:1".into())), None);
    // Connected at 30 s: quiet counts from there, so the probes of the next minute are in the record.
    t.hold(30_000);
    assert!(t.tick(89_999).is_empty());
    assert_eq!(t.tick(90_000).len(), 1);
}

#[test]
fn the_ring_keeps_the_last_minute_and_at_most_its_cap() {
    let mut r = Ring::new(Duration::from_secs(60), 1_000);
    for s in 0..200u64 {
        r.push(probe(s * 1_000, "a", true));
    }
    let kept = r.take();
    assert_eq!(kept.first().and_then(Event::stamp).map(|s| s.offset_ms), Some(139_000));
    assert_eq!(kept.len(), 61);
    assert!(r.is_empty());
    let mut small = Ring::new(Duration::from_secs(60), 10);
    for ms in 0..100u64 {
        small.push(probe(ms, "a", true));
    }
    assert_eq!(small.len(), 10);
    small.push(Event::Snapshot(vec![]));
    assert_eq!(small.len(), 10, "snapshots are not kept");
}

#[test]
fn availability_is_a_share_of_time_and_the_summary_line_starts_a_new_period() {
    let mut r = Rollup::default();
    // Probed every second for a day, then one shard down for 86.4 s probed every 100 ms, then up to the end of
    // the second day: a share of probes would say 99.0 %; the share of time is 99.95 %.
    let day = 86_400_000;
    for s in 0..86_400u64 {
        r.probe("slots 0-5460", true, s * 1_000);
        r.probe("slots 5461-10922", true, s * 1_000);
    }
    for i in 0..864u64 {
        r.probe("slots 0-5460", false, day + i * 100);
    }
    r.probe("slots 0-5460", true, day + 86_400);
    r.incident();
    let now = 2 * day;
    assert_eq!(
        r.period_line("last 48h", now),
        "watch: last 48h: 173665 probes, 1 incident; availability: slots 0-5460 99.950%, slots 5461-10922 100.000%"
    );
    assert!((r.total["slots 0-5460"].availability(now) - 0.9995).abs() < 1e-9);
    // The next period: nothing new, and the ongoing outage of a shard counts up to now.
    r.probe("slots 5461-10922", false, now + 1_000);
    assert_eq!(
        r.period_line("last 24h", now + 11_000),
        "watch: last 24h: 1 probes, 0 incidents; availability: slots 0-5460 100.000%, slots 5461-10922 9.090%"
    );
    assert_eq!(r.incidents, 1);
    assert_eq!(percent(0.999_999_9), "99.999%", "never rounded up to 100 while anything was down");
    assert_eq!(
        Rollup::default().period_line("last 24h", 5),
        "watch: last 24h: 0 probes, 0 incidents; availability: no probes"
    );
}

#[test]
fn the_events_file_rotates_at_half_its_cap_and_never_holds_more_than_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let mut log = RotatingLog::create(&path, 4_096).unwrap();
    for ms in 0..200u64 {
        log.write(&probe(ms, "slots 0-5460", true)).unwrap();
    }
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let rotated = log.rotated_path();
    assert!(size(&rotated) > 0, "rotated at least once");
    assert!(size(&path) + size(&rotated) <= 4_096, "{} + {}", size(&path), size(&rotated));
    let last = std::fs::read_to_string(&path).unwrap();
    assert!(last.lines().last().unwrap().contains(r#""seq":199"#), "the newest event is in the current file");
    for line in std::fs::read_to_string(&rotated).unwrap().lines().chain(last.lines()) {
        serde_json::from_str::<serde_json::Value>(line).expect("whole JSON lines on both sides of a rotation");
    }
}
