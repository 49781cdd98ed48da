//! The rules against scripted node behaviour: what each preset does over a sequence of replies (MOVED,
//! refused, timeout, CLUSTERDOWN), reconnect attempts and quiet time.

use std::time::Duration;

use super::*;
use crate::probe::styles::habit::preset;

/// What one node said to one try of a command.
#[derive(Clone, Copy)]
enum Reply {
    Ok,
    Moved,
    MovedUnknown,
    Ask,
    AskUnknown,
    ClusterDown,
    ReadOnly,
    Refused,
    Timeout,
}

/// One scripted moment.
#[derive(Clone)]
enum Ev {
    /// A command and the replies to its tries.
    Cmd(Vec<Reply>),
    /// A node's reconnect attempt (from 1), reconnecting since `since_ms`.
    Reconnect {
        attempt: u32,
        since_ms: u64,
    },
    /// A held connection broke with no command on it.
    Lost,
    Restored,
    Unrouted,
    NoConn,
    Tick,
}

/// Replays `script` against `habit`; every refresh made, with its time.
fn replay(name: &str, script: &[(u64, Ev)]) -> Vec<(u64, Trigger)> {
    let habit = preset(name).unwrap();
    let mut tracker = Tracker::new(Duration::ZERO);
    let mut fired = Vec::new();
    for (at, ev) in script {
        let now = Duration::from_millis(*at);
        let mut see = |obs: Observation| {
            if let Some(t) = tracker.observe(&habit, now, &obs) {
                fired.push((*at, t));
            }
        };
        match ev {
            Ev::Cmd(replies) => {
                see(Observation::Use);
                let mut consecutive = 0;
                for reply in replies {
                    let obs = match reply {
                        Reply::Refused | Reply::Timeout => {
                            consecutive += 1;
                            Observation::ConnectionError { consecutive }
                        }
                        other => {
                            consecutive = 0;
                            match other {
                                Reply::Ok => continue,
                                Reply::Moved => Observation::Moved { target_known: true },
                                Reply::MovedUnknown => Observation::Moved { target_known: false },
                                Reply::Ask => Observation::Ask { target_known: true },
                                Reply::AskUnknown => Observation::Ask { target_known: false },
                                Reply::ClusterDown => Observation::ClusterDown,
                                Reply::ReadOnly => Observation::ReadOnly,
                                Reply::Refused | Reply::Timeout => unreachable!(),
                            }
                        }
                    };
                    see(obs);
                }
            }
            Ev::Reconnect { attempt, since_ms } => see(Observation::ReconnectAttempt {
                attempt: *attempt,
                for_: now.saturating_sub(Duration::from_millis(*since_ms)),
            }),
            Ev::Lost => see(Observation::ConnectionLost),
            Ev::Restored => see(Observation::Reconnected),
            Ev::Unrouted => see(Observation::UncoveredSlot),
            Ev::NoConn => see(Observation::NoConnection),
            Ev::Tick => see(Observation::Tick),
        }
    }
    fired
}

/// A killed primary, never back: a command every 100 ms timing out (or refused) for `secs`, its node
/// reconnecting once a second, and the clock ticking.
fn killed_primary(secs: u64, reply: Reply) -> Vec<(u64, Ev)> {
    let mut script = Vec::new();
    for at in (0..secs * 1000).step_by(100) {
        script.push((at, Ev::Cmd(vec![reply])));
        if at % 1000 == 0 {
            script.push((at, Ev::Reconnect { attempt: (at / 1000 + 1) as u32, since_ms: 0 }));
            script.push((at, Ev::Tick));
        }
    }
    script
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn moved_only_clients_stay_stuck_on_a_killed_primary() {
    for name in ["node-redis@4", "node-redis@5", "lettuce@6"] {
        for reply in [Reply::Timeout, Reply::Refused] {
            assert_eq!(replay(name, &killed_primary(30, reply)), [], "{name}");
        }
    }
    // ... until a MOVED arrives.
    let fired =
        replay("node-redis@4", &[(0, Ev::Cmd(vec![Reply::Timeout])), (100, Ev::Cmd(vec![Reply::Moved, Reply::Ok]))]);
    assert_eq!(fired, [(100, Trigger::Moved)]);
}

#[test]
fn node_redis_6_refreshes_5s_into_the_reconnects_and_every_5s_after() {
    let fired = replay("node-redis@6", &killed_primary(12, Reply::Timeout));
    assert_eq!(fired, [(5000, Trigger::ReconnectingFor(secs(5))), (10_000, Trigger::ReconnectingFor(secs(5)))]);
}

#[test]
fn ioredis_refreshes_100ms_after_a_closed_connection_or_clusterdown() {
    let fired = replay("ioredis@5", &[(0, Ev::Cmd(vec![Reply::Refused]))]);
    assert_eq!(fired, [(0, Trigger::ConnectionError(Duration::from_millis(100)))]);
    assert_eq!(refresh_delay(&fired[0].1), Duration::from_millis(100));
    let fired = replay("ioredis@5", &[(0, Ev::Cmd(vec![Reply::ClusterDown]))]);
    assert_eq!(refresh_delay(&fired[0].1), Duration::from_millis(100));
    // No periodic refresh in v5: an idle client hears nothing.
    assert_eq!(replay("ioredis@5", &[(600_000, Ev::Tick)]), []);
}

#[test]
fn ioredis_does_not_refresh_when_a_connection_ends_under_an_idle_client() {
    // The pool forgets the node; only a command failing with "Connection is closed" refreshes.
    assert_eq!(replay("ioredis@5", &[(0, Ev::Lost), (1000, Ev::Tick)]), []);
    let fired = replay("ioredis@5", &[(0, Ev::Lost), (2000, Ev::Cmd(vec![Reply::Refused]))]);
    assert_eq!(fired, [(2000, Trigger::ConnectionError(Duration::from_millis(100)))]);
    // Clients that watch their connections refresh on the loss itself, traffic or not; the parameter turns
    // that off for them too.
    assert_eq!(replay("stackexchange@2", &[(0, Ev::Lost)]), [(0, Trigger::ConnectionError(Duration::ZERO))]);
    let mut quiet = preset("stackexchange@2").unwrap();
    quiet.triggers.error_needs_command = true;
    assert_eq!(wanted(&quiet, &Observation::ConnectionLost, &History::default()), None);
}

#[test]
fn redis_py_patches_four_moveds_and_reinitialises_on_the_fifth() {
    let moved: Vec<(u64, Ev)> = (0..10).map(|i| (i * 10, Ev::Cmd(vec![Reply::Moved, Reply::Ok]))).collect();
    let fired = replay("redis-py@8", &moved);
    assert_eq!(fired, [(40, Trigger::MovedNth(5)), (90, Trigger::MovedNth(5))]);
    // Timeouts and refusals re-initialise at once; CLUSTERDOWN after 0.25 s.
    let fired = replay("redis-py@8", &[(0, Ev::Cmd(vec![Reply::Timeout])), (50, Ev::Cmd(vec![Reply::ClusterDown]))]);
    assert_eq!(fired[0], (0, Trigger::ConnectionError(Duration::ZERO)));
    assert_eq!(refresh_delay(&fired[1].1), Duration::from_millis(250));
}

#[test]
fn redis_py_counts_moveds_across_commands() {
    let habit = preset("redis-py@8").unwrap();
    let mut t = Tracker::new(Duration::ZERO);
    for i in 0..4 {
        assert_eq!(t.moved_action(&habit), MovedAction::PatchSlot, "MOVED {i}");
        assert_eq!(t.observe(&habit, Duration::from_millis(i), &Observation::Moved { target_known: true }), None);
    }
    assert_eq!(t.moved_action(&habit), MovedAction::Refresh);
    assert_eq!(t.history(Duration::from_millis(5)).moved_count, 4);
}

#[test]
fn go_redis_ignores_refused_connections_and_reloads_an_old_map_on_use() {
    // Refused for 9 s: no reload; the first command after 10 s reloads (9.21), after 60 s (9.22).
    let mut script = killed_primary(9, Reply::Refused);
    script.push((10_001, Ev::Cmd(vec![Reply::Refused])));
    script.push((60_001, Ev::Cmd(vec![Reply::Refused])));
    assert_eq!(replay("go-redis@9.21", &script), [(10_001, Trigger::Age(secs(10))), (60_001, Trigger::Age(secs(10)))]);
    assert_eq!(replay("go-redis@9.22", &script), [(60_001, Trigger::Age(secs(60)))]);
    // Idle: the clock alone reloads nothing.
    assert_eq!(replay("go-redis@9.22", &[(600_000, Ev::Tick)]), []);
}

#[test]
fn go_redis_reloads_at_most_once_per_200ms() {
    let script = [
        (0, Ev::Cmd(vec![Reply::Moved, Reply::Ok])),
        (100, Ev::Cmd(vec![Reply::ReadOnly, Reply::Ok])),
        (250, Ev::Cmd(vec![Reply::Ask, Reply::Ok])),
    ];
    assert_eq!(replay("go-redis@9.21", &script), [(0, Trigger::Moved), (250, Trigger::Ask)]);
}

#[test]
fn lettuce_7_refreshes_at_the_5th_reconnect_attempt_at_most_every_5s() {
    let script: Vec<(u64, Ev)> =
        (1..=12).map(|a| (u64::from(a) * 1000, Ev::Reconnect { attempt: a, since_ms: 0 })).collect();
    assert_eq!(
        replay("lettuce@7", &script),
        [(5000, Trigger::ReconnectAttempts(5)), (10_000, Trigger::ReconnectAttempts(5))]
    );
    // A MOVED within the 5 s is held back too; an uncovered slot after them is not.
    let script = [
        (0, Ev::Cmd(vec![Reply::Moved, Reply::Ok])),
        (1000, Ev::Cmd(vec![Reply::Moved, Reply::Ok])),
        (5000, Ev::Unrouted),
    ];
    assert_eq!(replay("lettuce@7", &script), [(0, Trigger::Moved), (5000, Trigger::UncoveredSlot)]);
    assert_eq!(replay("lettuce@6", &script), []);
}

#[test]
fn jedis_refreshes_on_the_second_connection_failure_in_a_row() {
    assert_eq!(
        replay("jedis@7", &[(0, Ev::Cmd(vec![Reply::Refused, Reply::Timeout, Reply::Ok]))]),
        [(0, Trigger::ConsecutiveFailures(2))]
    );
    // A MOVED in between starts the count again; one failure per command never refreshes.
    assert_eq!(
        replay("jedis@7", &[(0, Ev::Cmd(vec![Reply::Refused, Reply::Moved, Reply::Refused]))]),
        [(0, Trigger::Moved)]
    );
    assert_eq!(replay("jedis@7", &killed_primary(10, Reply::Refused)), []);
}

#[test]
fn glide_and_redis_rs_reconnect_on_io_errors_and_refresh_on_missing_routes() {
    for name in ["glide@2", "redis-rs@1.6"] {
        let fired =
            replay(name, &[(0, Ev::Cmd(vec![Reply::Refused])), (10, Ev::NoConn), (20, Ev::Cmd(vec![Reply::ReadOnly]))]);
        assert_eq!(fired, [(10, Trigger::NoConnection), (20, Trigger::ReadOnly)], "{name}");
    }
    // The 60 s topology check is glide's alone; it fires with no traffic at all.
    let idle = [(59_000, Ev::Tick), (60_000, Ev::Tick), (90_000, Ev::Tick), (120_000, Ev::Tick)];
    assert_eq!(
        replay("glide@2", &idle),
        [(60_000, Trigger::Periodic(secs(60))), (120_000, Trigger::Periodic(secs(60)))]
    );
    assert_eq!(replay("redis-rs@1.6", &idle), []);
}

#[test]
fn stackexchange_refreshes_on_failed_and_restored_connections() {
    let fired = replay("stackexchange@2", &[(0, Ev::Cmd(vec![Reply::Timeout])), (3000, Ev::Restored)]);
    assert_eq!(fired, [(0, Trigger::ConnectionError(Duration::ZERO)), (3000, Trigger::Reconnected)]);
}

#[test]
fn ask_refreshes_only_where_the_client_says_so() {
    let known = [(0, Ev::Cmd(vec![Reply::Ask, Reply::Ok]))];
    let unknown = [(0, Ev::Cmd(vec![Reply::AskUnknown, Reply::Ok]))];
    assert_eq!(replay("node-redis@4", &known), []);
    assert_eq!(replay("node-redis@4", &unknown), [(0, Trigger::Ask)]);
    assert_eq!(replay("lettuce@7", &known), [(0, Trigger::Ask)]);
    assert_eq!(replay("ioredis@5", &unknown), []);
    // redis-py patches a MOVED to a node it has never seen like any other.
    assert_eq!(replay("redis-py@8", &[(0, Ev::Cmd(vec![Reply::MovedUnknown, Reply::Ok]))]), []);
    // Lettuce 7's UNKNOWN_NODE fires for a MOVED to an unknown node when MOVED itself would not.
    let mut h = preset("lettuce@7").unwrap();
    h.triggers.moved = MovedRule::PatchOnly;
    let obs = Observation::Moved { target_known: false };
    assert_eq!(should_refresh(&h, &obs, &History::default()), Some(Trigger::UnknownNode));
}

#[test]
fn periodic_refreshes_ignore_the_rate_limit() {
    let mut h = preset("lettuce@7").unwrap();
    h.triggers.periodic = Some(secs(60));
    let hist = History { since_refresh: Some(secs(1)), since_periodic: secs(60), ..History::default() };
    assert_eq!(should_refresh(&h, &Observation::Tick, &hist), Some(Trigger::Periodic(secs(60))));
    assert_eq!(should_refresh(&h, &Observation::Moved { target_known: true }, &hist), None);
    assert_eq!(wanted(&h, &Observation::Moved { target_known: true }, &hist), Some(Trigger::Moved));
}

#[test]
fn every_trigger_has_a_label_and_words() {
    let all = [
        Trigger::Moved,
        Trigger::MovedNth(5),
        Trigger::Ask,
        Trigger::UnknownNode,
        Trigger::ClusterDown(Duration::from_millis(250)),
        Trigger::ReadOnly,
        Trigger::UncoveredSlot,
        Trigger::NoConnection,
        Trigger::ConnectionError(Duration::ZERO),
        Trigger::ConsecutiveFailures(2),
        Trigger::ReconnectingFor(secs(5)),
        Trigger::ReconnectAttempts(5),
        Trigger::Reconnected,
        Trigger::Periodic(secs(60)),
        Trigger::Age(secs(60)),
    ];
    for t in all {
        assert!(!t.label().is_empty());
        assert!(t.describe().starts_with("refresh") || t.describe().contains("re"), "{t:?}");
    }
    assert_eq!(Trigger::MovedNth(5).describe(), "refresh on the 5th MOVED");
    assert_eq!(Trigger::ClusterDown(Duration::from_millis(250)).describe(), "refresh 250ms after CLUSTERDOWN");
}
