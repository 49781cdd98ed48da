//! The survival matrix on real labs, against `clients.md`:
//! - kill-primary with every preset: stuck where its "SIGKILLed primary" column says stuck (node-redis 4 and 5,
//!   Lettuce 6), recovered where it says recovered, each within its own timers plus the cluster's failover time;
//!   redis-rs 1.6 ("slow or stuck") either way.
//! - rolling-replace with the seed node replaced too, traffic throughout and idle through it: the presets that
//!   refresh on connection errors recover with traffic (redis-py 8, ioredis 5, as the real clients did when
//!   measured that way); fred, as measured, does not; idle, redis-py with its default dynamic startup nodes has
//!   lost every address it knew (redis-py #3310).

mod support;

use std::time::Duration;

use redis_failover_probe::matrix::{Cell, Column, Fate, MatrixReport, Traffic};

fn matrix(args: &[&str], limit: Duration) -> (MatrixReport, i32) {
    let mut all = vec!["matrix", "--output", "json"];
    all.extend_from_slice(args);
    support::run_json(&all, limit)
}

fn cell<'a>(col: &'a Column, client: &str) -> &'a Cell {
    col.cells.iter().find(|c| c.client == client).unwrap_or_else(|| panic!("no cell for {client}: {col:?}"))
}

/// What `clients.md` says of a preset when its primary is SIGKILLed and never comes back.
enum Column_ {
    /// Recovers; the preset's own timer (0 when it refreshes on the failure itself) bounds when.
    Recovers(Duration),
    /// Stays stuck on the killed shard.
    Stuck,
    /// "slow or stuck".
    Either,
}

#[test]
fn kill_primary_agrees_with_the_sigkilled_primary_column() {
    use Column_::*;
    let s = Duration::from_secs;
    let expected: [(&str, Column_); 17] = [
        ("direct", Recovers(s(0))),
        ("node-redis@4", Stuck),
        ("node-redis@5", Stuck),
        // topologyRefreshOnReconnectionAttemptStrategy: 5 s.
        ("node-redis@6", Recovers(s(5))),
        ("ioredis@5", Recovers(s(0))),
        ("redis-py@8", Recovers(s(0))),
        // A map older than 10 s (60 s) reloads on its next use.
        ("go-redis@9.21", Recovers(s(10))),
        ("go-redis@9.22", Recovers(s(60))),
        ("lettuce@6", Stuck),
        // 5 reconnect attempts, then one refresh per 5 s.
        ("lettuce@7", Recovers(s(5))),
        ("jedis@7", Recovers(s(0))),
        ("stackexchange@2", Recovers(s(0))),
        ("stackexchange@3.2", Recovers(s(0))),
        // "at worst the 60 s check".
        ("glide@2", Recovers(s(60))),
        ("redis-rs@1.6", Either),
        ("fred@10", Recovers(s(0))),
        ("fred", Recovers(s(0))),
    ];
    support::heavy(|| async {
        let (m, _code) = matrix(
            &["--lab", "kill-primary", "--clients", "all", "--at", "3s", "--duration", "75s"],
            Duration::from_secs(240),
        );
        let col = &m.columns[0];
        assert!(col.error.is_none(), "{col:?}");
        assert_eq!(m.clients.len(), expected.len(), "{:?}", m.clients);
        let truth = col.truth.iter().find(|t| t.affected).expect("the killed shard's ground truth");
        // The cluster's own failover, with room for the probe interval and a loaded two-core machine.
        let failover = Duration::from_millis(truth.ground_truth_ms) + s(3);
        let mut seen = Vec::new();
        for (client, what) in &expected {
            let c = cell(col, client);
            seen.push(format!("{client}: {:?} {:?} ({})", c.fate, c.back_after_ms, c.how));
            match what {
                Stuck => {
                    assert_eq!(c.fate, Fate::Stuck, "{client} stays stuck: {c:?}");
                    let killed = c.shards.iter().find(|sh| sh.affected).expect("the killed shard");
                    assert!(!killed.recovered, "{client}: stuck on the killed shard: {c:?}");
                    assert!(c.how.starts_with("retrying 127.0.0.1:"), "{client} says what it retries: {}", c.how);
                }
                Recovers(timer) => {
                    assert_eq!(c.fate, Fate::Recovered, "{client} recovers: {c:?}");
                    let back = Duration::from_millis(c.back_after_ms.unwrap_or(0));
                    assert!(
                        back <= *timer + failover,
                        "{client}: back after {back:?}, more than {timer:?} + {failover:?}"
                    );
                }
                Either => assert_ne!(c.fate, Fate::NoData, "{client} probed: {c:?}"),
            }
        }
        // direct is the shard's own outage: the lab's ground truth within an interval and a timeout.
        let direct = cell(col, "direct");
        let diff = direct.outage_ms as i64 - truth.ground_truth_ms as i64;
        assert!(
            diff.abs() <= 1_400,
            "direct measured {} ms against ground truth {} ms",
            direct.outage_ms,
            truth.ground_truth_ms
        );
        eprintln!("kill-primary, ground truth {} ms:\n  {}", truth.ground_truth_ms, seen.join("\n  "));
    });
}

#[test]
fn rolling_replace_of_every_node_seed_included_busy_and_idle() {
    support::heavy(|| async {
        let clients = "redis-py@8,ioredis@5,real:ioredis@5,fred,redis-py@8,dynamic-startup-nodes=false";
        let (m, code) = matrix(
            &[
                "--lab",
                "rolling-replace",
                "--seed",
                "node",
                "--clients",
                clients,
                "--traffic",
                "both",
                "--at",
                "3s",
                "--duration",
                "40s",
                "--expect",
                "fred=fail",
                "--expect",
                "rolling-replace/idle:redis-py@8=fail",
                "--expect",
                "rolling-replace/idle:redis-py@8,dynamic-startup-nodes=false=fail",
                "--expect",
                "rolling-replace/idle:ioredis@5=fail",
                "--expect",
                "rolling-replace/idle:real:ioredis@5=fail",
            ],
            Duration::from_secs(300),
        );
        assert_eq!(m.columns.len(), 2, "busy and idle");
        let (busy, idle) = (&m.columns[0], &m.columns[1]);
        assert_eq!((busy.traffic, idle.traffic), (Traffic::Busy, Traffic::Idle));
        for col in [busy, idle] {
            assert!(col.error.is_none(), "{col:?}");
            assert!(col.truth.iter().all(|t| t.affected), "every shard is replaced: {:?}", col.truth);
        }
        // With traffic throughout: every shard of redis-py and ioredis back within 0.5 s of each replacement.
        for client in ["redis-py@8", "ioredis@5", "real:ioredis@5"] {
            let c = cell(busy, client);
            assert_eq!(c.fate, Fate::Recovered, "{client}: {c:?}");
            for sh in &c.shards {
                assert!(sh.recovered && sh.outage_ms <= 500, "{client} {}: {} ms down", sh.shard, sh.outage_ms);
            }
        }
        // fred rediscovers from its seed only, and the seed was replaced.
        assert_eq!(cell(busy, "fred").fate, Fate::Stuck, "{:?}", cell(busy, "fred"));
        // Idle through it: redis-py's startup nodes were the old nodes (dynamic) or the replaced seed.
        for client in ["redis-py@8", "redis-py@8,dynamic-startup-nodes=false"] {
            let c = cell(idle, client);
            assert_eq!(c.fate, Fate::Stuck, "{client} idle: {c:?}");
        }
        // ioredis only forgets a node whose connection ended; idle, it reads no new map, its pool drains and
        // its startup node was replaced: stuck, the library as its preset, which says so without a disagreement.
        for client in ["ioredis@5", "real:ioredis@5"] {
            let c = cell(idle, client);
            assert_eq!(c.fate, Fate::Stuck, "{client} idle: {c:?}");
        }
        let real = cell(idle, "real:ioredis@5");
        assert!(real.how.starts_with("the library: ioredis 5."), "{real:?}");
        for col in [busy, idle] {
            let c = cell(col, "real:ioredis@5");
            assert!(c.disagrees.is_empty(), "real:ioredis@5 flagged against its preset: {c:?}");
        }
        assert_eq!(code, 0, "every expectation holds: {:?}", m.unexpected);
        assert!(m.passed());
    });
}
