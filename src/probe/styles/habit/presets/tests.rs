//! Each preset against its row of `clients.md`: one test per preset, pinning the row's key facts.

use std::time::Duration;

use super::*;
use crate::probe::styles::habit::{next_backoff, Trigger};

fn get(name: &str) -> Habit {
    preset(name).unwrap_or_else(|| panic!("no preset {name}"))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The triggers that fire on connection trouble of any kind.
fn connection_triggers(h: &Habit) -> Vec<Trigger> {
    h.triggers()
        .into_iter()
        .filter(|t| {
            matches!(
                t,
                Trigger::ConnectionError(_)
                    | Trigger::ConsecutiveFailures(_)
                    | Trigger::ReconnectingFor(_)
                    | Trigger::ReconnectAttempts(_)
                    | Trigger::Reconnected
                    | Trigger::NoConnection
            )
        })
        .collect()
}

#[test]
fn every_name_resolves_to_itself_with_a_source() {
    for name in PRESETS {
        let h = get(name);
        assert_eq!(h.name, name);
        assert!(h.overrides.is_empty());
        assert!(h.source.repo.contains('/') && !h.source.paths.is_empty() && !h.source.tag.is_empty(), "{name}");
        assert!(h.source.cite().contains(h.source.tag));
        assert!(!h.refresh.sources.is_empty(), "{name} refreshes from somewhere");
    }
    assert!(preset("node-redis@3").is_none());
    assert!(preset("").is_none());
}

#[test]
fn the_style_names_are_aliases() {
    assert_eq!(get("moved-only"), get("node-redis@4"));
    assert_eq!(get("reconnect-refresh"), get("node-redis@6"));
    for (alias, to) in ALIASES {
        assert!(PRESETS.contains(&to), "{alias} -> {to}");
        assert!(!PRESETS.contains(&alias));
    }
}

#[test]
fn node_redis_4_moved_and_ask_only_with_linear_backoff() {
    let h = get("node-redis@4");
    assert_eq!(h.source.tag, "redis@4.7.1");
    assert_eq!(h.triggers.moved, MovedRule::Refresh);
    assert_eq!(h.triggers.ask, AskRule::UnknownTarget);
    assert!(connection_triggers(&h).is_empty(), "socket errors never refresh");
    assert_eq!(h.triggers.periodic, None);
    assert_eq!(h.refresh.sources, [Step::Redirector, Step::Seeds(Order::LISTED, SeedsWhen::Always)]);
    assert_eq!(h.connections.dead_node, DeadNode::Reconnect);
    // min(retries*50, 500) ms.
    assert_eq!(next_backoff(&h.connections.backoff, 3, 0.0), ms(150));
    assert_eq!(next_backoff(&h.connections.backoff, 30, 0.0), ms(500));
    assert!(!h.dynamic_seeds);
}

#[test]
fn node_redis_5_refreshes_like_4() {
    let (h, four) = (get("node-redis@5"), get("node-redis@4"));
    assert_eq!(h.source.tag, "redis@5.12.1");
    assert_eq!((h.triggers.clone(), h.refresh.clone()), (four.triggers, four.refresh));
    assert!(connection_triggers(&h).is_empty());
}

#[test]
fn node_redis_6_refreshes_after_5s_of_reconnecting() {
    let h = get("node-redis@6");
    assert_eq!(h.source.tag, "redis@6.2.1");
    assert_eq!(h.triggers.moved, MovedRule::Refresh);
    assert_eq!(connection_triggers(&h), [Trigger::ReconnectingFor(Duration::from_secs(5))]);
    // MOVED sender, known nodes (reconnecting ones skipped), rootNodes.
    assert_eq!(h.refresh.sources[0], Step::Redirector);
    assert!(matches!(h.refresh.sources[1], Step::Known(Order { failing: Failing::Skip, .. })));
    assert!(matches!(h.refresh.sources[2], Step::Seeds(_, SeedsWhen::Always)));
    // min(2^retries*50, 2000) ms + 0-199 ms jitter, connectTimeout 5 s.
    assert_eq!(next_backoff(&h.connections.backoff, 2, 0.0), ms(200));
    assert_eq!(next_backoff(&h.connections.backoff, 10, 0.0), ms(2000));
    assert!(next_backoff(&h.connections.backoff, 10, 0.999) < ms(2200));
    assert_eq!(h.connections.connect_timeout, Some(Duration::from_secs(5)));
}

#[test]
fn ioredis_5_drops_dead_nodes_and_has_no_periodic_refresh() {
    let h = get("ioredis@5");
    assert_eq!(h.source.tag, "v5.11.1");
    assert_eq!(h.triggers.moved, MovedRule::Refresh);
    assert_eq!(h.triggers.cluster_down, Some(ms(100)));
    // "Connection is closed", after retryDelayOnFailover 100 ms.
    assert_eq!(h.triggers.connection_error, Some(ms(100)));
    assert_eq!(h.triggers.periodic, None, "slotsRefreshInterval is off since v5.0.0");
    assert_eq!(h.connections.dead_node, DeadNode::DropToRandom);
    assert_eq!(h.refresh.sources[0], Step::Known(Order::SHUFFLED));
    assert_eq!(h.refresh.sources[1], Step::Seeds(Order::LISTED, SeedsWhen::NoConnectionLeft));
}

#[test]
fn redis_py_8_reinitialises_on_errors_and_every_5th_moved() {
    let h = get("redis-py@8");
    assert_eq!(h.source.tag, "v8.1.0");
    assert_eq!(h.triggers.connection_error, Some(Duration::ZERO), "immediate full re-initialisation");
    assert_eq!(h.triggers.moved, MovedRule::EveryNth(5));
    assert_eq!(h.triggers.cluster_down, Some(ms(250)));
    assert!(h.dynamic_seeds, "dynamic_startup_nodes=True");
    assert!(matches!(h.refresh.sources[0], Step::Seeds(_, SeedsWhen::Always)), "startup_nodes");
}

#[test]
fn go_redis_9_21_reloads_lazily_and_at_10s_of_age() {
    let h = get("go-redis@9.21");
    assert_eq!(h.source.tag, "v9.21.0");
    assert_eq!((h.triggers.moved, h.triggers.ask, h.triggers.read_only), (MovedRule::Refresh, AskRule::Always, true));
    assert!(h.refresh.lazy);
    assert_eq!(h.triggers.max_age, Some(Duration::from_secs(10)));
    assert!(connection_triggers(&h).is_empty(), "connection refused: no reload (go-redis #3979)");
    assert_eq!(h.refresh.sources[1], Step::Seeds(Order::LISTED, SeedsWhen::AfterFailedRound));
}

#[test]
fn go_redis_9_22_reloads_at_60s_of_age() {
    let h = get("go-redis@9.22");
    assert_eq!(h.source.tag, "v9.22.0");
    assert_eq!(h.triggers.max_age, Some(Duration::from_secs(60)));
    assert_eq!(h.triggers.periodic, None, "age-based on next use, not a timer");
    assert!(connection_triggers(&h).is_empty());
}

#[test]
fn lettuce_6_refreshes_on_nothing() {
    let h = get("lettuce@6");
    assert!(h.source.tag.starts_with("6.8"));
    assert!(h.triggers().is_empty(), "adaptive and periodic refresh both off: {:?}", h.triggers());
    assert_eq!(h.refresh.sources[0], Step::Known(Order::LISTED), "partitions, then seeds");
}

#[test]
fn lettuce_7_has_every_adaptive_trigger_rate_limited_to_5s() {
    let h = get("lettuce@7");
    assert!(h.source.tag.starts_with("7.7"));
    assert_eq!((h.triggers.moved, h.triggers.ask), (MovedRule::Refresh, AskRule::Always));
    assert_eq!(h.triggers.reconnect_attempts, Some(5));
    assert!(h.triggers.uncovered_slot && h.triggers.unknown_node);
    assert_eq!(h.triggers.rate_limit, Some(Duration::from_secs(5)));
    assert_eq!(h.triggers.periodic, None, "periodic off (60 s when on)");
}

#[test]
fn jedis_7_refreshes_after_2_failures_in_one_command() {
    let h = get("jedis@7");
    assert_eq!(h.source.tag, "v7.5.3");
    assert_eq!(h.triggers.moved, MovedRule::Refresh);
    assert_eq!(connection_triggers(&h), [Trigger::ConsecutiveFailures(2)]);
    assert_eq!(h.connections.attempts, Some(5));
    assert_eq!(h.connections.command_timeout, Some(Duration::from_secs(2)));
    assert_eq!(h.triggers.periodic, None);
    // MOVED connection, startNodes, known pools (shuffled).
    assert_eq!(
        h.refresh.sources,
        [Step::Redirector, Step::Seeds(Order::LISTED, SeedsWhen::Always), Step::Known(Order::SHUFFLED)]
    );
}

#[test]
fn stackexchange_2_reconfigures_every_60s_and_keeps_retired_endpoints() {
    let h = get("stackexchange@2");
    assert_eq!(h.triggers.moved, MovedRule::Refresh);
    assert_eq!(h.triggers.connection_error, Some(Duration::ZERO), "connection failed");
    assert!(h.triggers.reconnected, "connection restored");
    assert_eq!(h.triggers.periodic, Some(Duration::from_secs(60)), "ConfigCheckSeconds");
    assert!(!h.connections.forget_retired, "keeps dialling retired endpoints (SE.Redis #3054)");
}

#[test]
fn stackexchange_3_2_drops_retired_endpoints() {
    let (h, two) = (get("stackexchange@3.2"), get("stackexchange@2"));
    assert!(h.source.paths.contains("#3177"));
    assert_eq!(h.triggers, two.triggers, "same triggers");
    assert!(h.connections.forget_retired);
}

#[test]
fn glide_2_checks_topology_every_60s_and_io_errors_only_reconnect() {
    let h = get("glide@2");
    assert_eq!(h.source.tag, "v2.5.1");
    assert_eq!((h.triggers.moved, h.triggers.read_only, h.triggers.no_connection), (MovedRule::Refresh, true, true));
    assert_eq!(h.triggers.connection_error, None, "IO errors only reconnect the same address");
    assert_eq!(h.triggers.periodic, Some(Duration::from_secs(60)));
    assert_eq!(h.connections.health_check, Some(Duration::from_secs(3)));
    assert_eq!(h.refresh.consensus, Consensus::Majority);
    assert_eq!(h.refresh.sources[1], Step::Seeds(Order::LISTED, SeedsWhen::NoConnectionLeft));
}

#[test]
fn redis_rs_1_6_reconnects_forever_and_never_refreshes_periodically() {
    let h = get("redis-rs@1.6");
    assert_eq!(h.source.tag, "redis-1.6.0");
    assert_eq!((h.triggers.moved, h.triggers.read_only, h.triggers.no_connection), (MovedRule::Refresh, true, true));
    assert_eq!(h.triggers.connection_error, None);
    assert_eq!(h.triggers.periodic, None);
    // The reconnect loop goes to the same address; commands meanwhile go to the shard or anywhere.
    assert_eq!(h.connections.dead_node, DeadNode::ReconnectWithFallback);
    // 50 ms..1 s.
    assert_eq!(next_backoff(&h.connections.backoff, 0, 0.5), ms(50));
    assert_eq!(next_backoff(&h.connections.backoff, 10, 0.5), ms(1000));
    assert_eq!(h.refresh.sources[1], Step::Seeds(Order::LISTED, SeedsWhen::NoConnectionLeft));
}

#[test]
fn fred_10_rediscovers_from_its_seeds_only_through_one_router() {
    let h = get("fred@10");
    assert_eq!(h.source.tag, "v10.1.0");
    assert_eq!(h.triggers.moved, MovedRule::Refresh);
    assert_eq!(h.triggers.connection_error, Some(Duration::ZERO), "any connection loss: full rediscovery");
    assert_eq!(h.refresh.sources, [Step::Seeds(Order::LISTED, SeedsWhen::Always)], "ConfigEndpoint");
    assert!(h.connections.shared_router);
}

#[test]
fn only_pool_clients_connect_on_demand() {
    // redis-py, Jedis and go-redis take a connection from a pool when a command needs one, so a dead node's
    // command fails at once with the refused connect; the others keep a socket that reconnects behind it.
    let on_demand: Vec<&str> = PRESETS.into_iter().filter(|n| preset(n).unwrap().connections.on_demand).collect();
    assert_eq!(on_demand, ["redis-py@8", "go-redis@9.21", "go-redis@9.22", "jedis@7"]);
}
