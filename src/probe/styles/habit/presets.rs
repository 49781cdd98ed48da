//! The presets: one [`Habit`] per client version of `clients.md`, each with the source it was read from.
//! Values `clients.md` states are taken from it; the few it leaves out (backoffs of some clients, timeouts,
//! attempts) were read in the same files at the same tags and are marked as such. `None` where a client's
//! default was not read: the probe's own value applies.

use std::time::Duration;

use super::{
    AskRule, Backoff, Connections, Consensus, DeadNode, Failing, Habit, Jitter, MovedRetry, MovedRule, Order, Refresh,
    SeedsWhen, Source, Step, Triggers,
};

/// Every preset name, in the order `clients` lists them.
pub const PRESETS: [&str; 15] = [
    "node-redis@4",
    "node-redis@5",
    "node-redis@6",
    "ioredis@5",
    "redis-py@8",
    "go-redis@9.21",
    "go-redis@9.22",
    "lettuce@6",
    "lettuce@7",
    "jedis@7",
    "stackexchange@2",
    "stackexchange@3.2",
    "glide@2",
    "redis-rs@1.6",
    "fred@10",
];

/// The names of this tool's emulated styles, kept as aliases of the presets they stand for.
pub const ALIASES: [(&str, &str); 2] = [("moved-only", "node-redis@4"), ("reconnect-refresh", "node-redis@6")];

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The preset named `name` (or an alias of one), with no overrides; `None` for an unknown name.
pub fn preset(name: &str) -> Option<Habit> {
    let name = ALIASES.iter().find(|(alias, _)| *alias == name).map_or(name, |(_, to)| to);
    let habit = match name {
        "node-redis@4" | "node-redis@5" => node_redis(name),
        "node-redis@6" => node_redis_6(),
        "ioredis@5" => ioredis_5(),
        "redis-py@8" => redis_py_8(),
        "go-redis@9.21" | "go-redis@9.22" => go_redis(name),
        "lettuce@6" | "lettuce@7" => lettuce(name),
        "jedis@7" => jedis_7(),
        "stackexchange@2" | "stackexchange@3.2" => stackexchange(name),
        "glide@2" => glide_2(),
        "redis-rs@1.6" => redis_rs_1_6(),
        "fred@10" => fred_10(),
        _ => return None,
    };
    Some(habit)
}

/// The connections most clients have: reconnect the same address, drop nodes that left the map.
fn reconnecting(backoff: Backoff) -> Connections {
    Connections {
        dead_node: DeadNode::Reconnect,
        backoff,
        forget_retired: true,
        shared_router: false,
        replica_connections: true,
        on_demand: false,
        health_check: None,
        command_timeout: None,
        connect_timeout: None,
        attempts: None,
    }
}

fn habit(name: &str, source: Source, triggers: Triggers, refresh: Refresh, connections: Connections) -> Habit {
    Habit {
        name: name.to_string(),
        source,
        overrides: Vec::new(),
        triggers,
        refresh,
        dynamic_seeds: false,
        connections,
    }
}

/// A refresh that asks one node after another and waits.
fn in_order(sources: Vec<Step>, moved_retry: MovedRetry) -> Refresh {
    Refresh { sources, consensus: Consensus::First, lazy: false, moved_retry }
}

/// node-redis 4.x / 5.x `createCluster`: MOVED rediscovers (from the node that answered, then rootNodes);
/// ASK only when its node is unknown; sockets reconnect forever and never refresh. The backoff is the
/// socket's default `reconnectStrategy` (5.x: read in `lib/client/socket.ts` at redis@5.12.1).
fn node_redis(name: &str) -> Habit {
    let (tag, backoff) = if name == "node-redis@4" {
        ("redis@4.7.1", Backoff::Linear { start: ms(0), step: ms(50), max: ms(500) })
    } else {
        (
            "redis@5.12.1",
            Backoff::Exponential { base: ms(50), factor: 2.0, max: ms(2000), jitter: Jitter::Add(ms(200)) },
        )
    };
    let source = Source {
        repo: "redis/node-redis",
        paths: "packages/client/lib/cluster/index.ts, packages/client/lib/cluster/cluster-slots.ts, packages/client/lib/client/socket.ts",
        tag,
    };
    let triggers = Triggers { moved: MovedRule::Refresh, ask: AskRule::UnknownTarget, ..Triggers::NONE };
    let refresh =
        in_order(vec![Step::Redirector, Step::Seeds(Order::LISTED, SeedsWhen::Always)], MovedRetry::RefreshedMap);
    // maxCommandRedirections 16: 17 tries; connectTimeout 5000. Without `useReplicas` a discovery makes
    // clients for the primaries only and destroys those of nodes no longer in use (`#discover`).
    let connections = Connections {
        connect_timeout: Some(secs(5)),
        attempts: Some(17),
        replica_connections: false,
        ..reconnecting(backoff)
    };
    habit(name, source, triggers, refresh, connections)
}

/// node-redis 6.x: node-redis 5 plus `topologyRefreshOnReconnectionAttemptStrategy` (5 s from the first
/// reconnect attempt, then again every 5 s); a refresh asks the known nodes in a random rotation, skipping
/// the reconnecting ones, then rootNodes.
fn node_redis_6() -> Habit {
    let mut h = node_redis("node-redis@5");
    h.name = "node-redis@6".into();
    h.source = Source {
        repo: "redis/node-redis",
        paths: "packages/client/lib/cluster/cluster-slots.ts, packages/client/lib/cluster/cluster-reconnection-tracker.ts (option added in #3223)",
        tag: "redis@6.2.1",
    };
    h.triggers.reconnecting_for = Some(secs(5));
    let known = Order { shuffled: true, failing: Failing::Skip };
    h.refresh.sources = vec![Step::Redirector, Step::Known(known), Step::Seeds(Order::LISTED, SeedsWhen::Always)];
    h
}

/// ioredis 5.x (iovalkey alike): MOVED patches the slot, retries at the target and refreshes in the
/// background; CLUSTERDOWN and "Connection is closed" retry and refresh after 100 ms; no periodic refresh
/// (`slotsRefreshInterval` off since v5.0.0), and only when a command fails: a connection that ends under an
/// idle client just leaves the pool. Node connections never reconnect: a dead node leaves the pool and its
/// slots go to a random node. Once the pool drained it reconnects to startupNodes with
/// `clusterRetryStrategy` `min(100 + times*2, 2000)` ms.
fn ioredis_5() -> Habit {
    let source = Source {
        repo: "redis/ioredis",
        paths: "lib/cluster/index.ts, lib/cluster/ClusterOptions.ts, lib/cluster/ConnectionPool.ts (periodic refresh disabled in commit 370fa62)",
        tag: "v5.11.1",
    };
    let triggers = Triggers {
        moved: MovedRule::Refresh,
        cluster_down: Some(ms(100)),
        connection_error: Some(ms(100)),
        // The pool only forgets a node whose connection ended ("-node"); the refresh after "Connection is
        // closed" is in the command's error handler, so an idle client reads no new map.
        error_needs_command: true,
        ..Triggers::NONE
    };
    let refresh = Refresh {
        sources: vec![Step::Known(Order::SHUFFLED), Step::Seeds(Order::LISTED, SeedsWhen::NoConnectionLeft)],
        consensus: Consensus::First,
        lazy: true,
        moved_retry: MovedRetry::RedirectTarget,
    };
    let connections = Connections {
        dead_node: DeadNode::DropToRandom,
        // maxRedirections 16.
        attempts: Some(17),
        ..reconnecting(Backoff::Linear { start: ms(102), step: ms(2), max: ms(2000) })
    };
    habit("ioredis@5", source, triggers, refresh, connections)
}

/// redis-py `RedisCluster` 8.x (same since 4.6): a connection error or timeout re-initialises at once;
/// MOVED patches the slot and every 5th re-initialises (`reinitialize_steps=5`); CLUSTERDOWN sleeps 0.25 s,
/// then re-initialises. It asks its startup nodes shuffled, the node that just failed last, then the MOVED
/// target; `dynamic_startup_nodes=True` replaces the startup nodes with every discovered node. Connections
/// are made again when a command needs them; commands retry 10 times with `ExponentialWithJitterBackoff`
/// (base 10 ms, cap 1 s: `uniform(0, min(1 s, 10 ms·2^failures))`, failures from 1).
fn redis_py_8() -> Habit {
    let source = Source {
        repo: "redis/redis-py",
        paths: "redis/cluster.py, redis/_defaults.py, redis/backoff.py",
        tag: "v8.1.0",
    };
    let triggers = Triggers {
        moved: MovedRule::EveryNth(5),
        cluster_down: Some(ms(250)),
        connection_error: Some(Duration::ZERO),
        ..Triggers::NONE
    };
    let startup = Order { shuffled: true, failing: Failing::Last };
    let refresh =
        in_order(vec![Step::Seeds(startup, SeedsWhen::Always), Step::RedirectTarget], MovedRetry::RedirectTarget);
    let backoff = Backoff::Exponential { base: ms(20), factor: 2.0, max: ms(1000), jitter: Jitter::Full };
    let connections = Connections { attempts: Some(11), on_demand: true, ..reconnecting(backoff) };
    Habit { dynamic_seeds: true, ..habit("redis-py@8", source, triggers, refresh, connections) }
}

/// go-redis v9: MOVED, ASK and READONLY reload lazily (in the background, at most once per 200 ms
/// cooldown) while the command follows the redirect; a state older than `ClusterStateReloadInterval` (10 s,
/// 60 s from v9.22) reloads on its next use; connection refused retries and marks the node failing, with no
/// reload. A reload asks the active addresses shuffled; the seeds only after a round where none answered.
fn go_redis(name: &str) -> Habit {
    let v22 = name == "go-redis@9.22";
    let source = Source {
        repo: "redis/go-redis",
        paths: "osscluster.go, internal/internal.go (reload interval change #3918)",
        tag: if v22 { "v9.22.0" } else { "v9.21.0" },
    };
    let triggers = Triggers {
        moved: MovedRule::Refresh,
        ask: AskRule::Always,
        read_only: true,
        max_age: Some(secs(if v22 { 60 } else { 10 })),
        rate_limit: Some(ms(200)),
        ..Triggers::NONE
    };
    let refresh = Refresh {
        sources: vec![Step::Known(Order::SHUFFLED), Step::Seeds(Order::LISTED, SeedsWhen::AfterFailedRound)],
        consensus: Consensus::First,
        lazy: true,
        moved_retry: MovedRetry::RedirectTarget,
    };
    // RetryBackoff: min + rand(min << attempt), capped; Min/MaxRetryBackoff 8/512 ms, 10 ms/1 s from v9.22.
    let (min, max) = if v22 { (ms(10), ms(1000)) } else { (ms(8), ms(512)) };
    let backoff = Backoff::Exponential { base: min * 2, factor: 2.0, max, jitter: Jitter::Above(min) };
    let connections = Connections {
        command_timeout: Some(secs(if v22 { 5 } else { 3 })),
        connect_timeout: Some(secs(5)),
        // MaxRedirects 3.
        attempts: Some(4),
        on_demand: true,
        ..reconnecting(backoff)
    };
    habit(name, source, triggers, refresh, connections)
}

/// Lettuce: 6.x has no refresh at all by default (adaptive and periodic both off); 7.x turns every adaptive
/// trigger on (MOVED, ASK, PERSISTENT_RECONNECTS after 5 attempts, UNCOVERED_SLOT, UNKNOWN_NODE),
/// rate-limited to one per 5 s (30 s in 6.x, where it applies once a trigger is enabled). Periodic stays off
/// (60 s when enabled). Sources: the partitions (`dynamicRefreshSources`), then the seeds. Reconnect delay
/// `Delay.exponential()`: 1 ms doubling to 30 s; timeout 60 s, connect timeout 10 s.
fn lettuce(name: &str) -> Habit {
    let v7 = name == "lettuce@7";
    let source = Source {
        repo: "redis/lettuce",
        paths: "src/main/java/io/lettuce/core/cluster/ClusterTopologyRefreshOptions.java, src/main/java/io/lettuce/core/cluster/RedisClusterClient.java (defaults changed in #3316)",
        tag: if v7 { "7.7.0.RELEASE" } else { "6.8.0.RELEASE" },
    };
    let triggers = if v7 {
        Triggers {
            moved: MovedRule::Refresh,
            ask: AskRule::Always,
            reconnect_attempts: Some(5),
            uncovered_slot: true,
            unknown_node: true,
            rate_limit: Some(secs(5)),
            ..Triggers::NONE
        }
    } else {
        Triggers { rate_limit: Some(secs(30)), ..Triggers::NONE }
    };
    let refresh = Refresh {
        sources: vec![Step::Known(Order::LISTED), Step::Seeds(Order::LISTED, SeedsWhen::Always)],
        consensus: Consensus::First,
        lazy: true,
        moved_retry: MovedRetry::RedirectTarget,
    };
    let backoff = Backoff::Exponential { base: ms(1), factor: 2.0, max: secs(30), jitter: Jitter::None };
    let connections =
        Connections { command_timeout: Some(secs(60)), connect_timeout: Some(secs(10)), ..reconnecting(backoff) };
    habit(name, source, triggers, refresh, connections)
}

/// Jedis 7.x `JedisCluster`: MOVED renews the slot cache from that connection, then the command follows the
/// redirect; 2 connection failures in a row within one command renew it (after a random sleep bounded by
/// the time left); `maxAttempts` 5, timeout 2 s; no periodic refresh. Sources: the MOVED connection,
/// startNodes, then the known pools shuffled. Connections come from per-node pools, made again on use.
fn jedis_7() -> Habit {
    let source = Source {
        repo: "redis/jedis",
        paths: "src/main/java/redis/clients/jedis/executors/ClusterCommandExecutor.java, src/main/java/redis/clients/jedis/JedisClusterInfoCache.java",
        tag: "v7.5.3",
    };
    let triggers = Triggers { moved: MovedRule::Refresh, consecutive_failures: Some(2), ..Triggers::NONE };
    let refresh = in_order(
        vec![Step::Redirector, Step::Seeds(Order::LISTED, SeedsWhen::Always), Step::Known(Order::SHUFFLED)],
        MovedRetry::RedirectTarget,
    );
    let connections = Connections {
        command_timeout: Some(secs(2)),
        connect_timeout: Some(secs(2)),
        attempts: Some(5),
        on_demand: true,
        ..reconnecting(Backoff::None)
    };
    habit("jedis@7", source, triggers, refresh, connections)
}

/// StackExchange.Redis: MOVED, a failed and a restored connection, and every 60 s (`ConfigCheckSeconds`)
/// reconfigure from every known and configured endpoint. 2.x keeps dialling endpoints that left the map
/// forever (SE.Redis #3054); 3.2 routes from CLUSTER SLOTS with an endpoint lifecycle and drops them (PR
/// #3177). Reconnects with `ExponentialRetry(ConnectTimeout/2)`: 2.5 s growing by a tenth per attempt to
/// 10 s; sync/async timeout 5 s, connect timeout 5 s.
fn stackexchange(name: &str) -> Habit {
    let v3 = name == "stackexchange@3.2";
    let source = Source {
        repo: "StackExchange/StackExchange.Redis",
        paths: if v3 {
            "src/StackExchange.Redis/ConnectionMultiplexer.cs, PR #3177 (endpoint lifecycle)"
        } else {
            "src/StackExchange.Redis/ConnectionMultiplexer.cs, ExponentialRetry.cs, Configuration/DefaultOptionsProvider.cs"
        },
        tag: "3.1.31",
    };
    let triggers = Triggers {
        moved: MovedRule::Refresh,
        connection_error: Some(Duration::ZERO),
        reconnected: true,
        periodic: Some(secs(60)),
        ..Triggers::NONE
    };
    let refresh = Refresh {
        sources: vec![Step::Known(Order::LISTED), Step::Seeds(Order::LISTED, SeedsWhen::Always)],
        consensus: Consensus::First,
        lazy: true,
        moved_retry: MovedRetry::RedirectTarget,
    };
    let backoff = Backoff::Exponential { base: ms(2500), factor: 1.1, max: secs(10), jitter: Jitter::FromBase };
    let connections = Connections {
        forget_retired: v3,
        command_timeout: Some(secs(5)),
        connect_timeout: Some(secs(5)),
        ..reconnecting(backoff)
    };
    habit(name, source, triggers, refresh, connections)
}

/// valkey-glide 1.x / 2.x: MOVED, READONLY and a route without connection refresh; IO errors only reconnect
/// the same address; a periodic topology check every 60 s (on by default) and a connection check every 3 s.
/// A refresh asks several existing connections and takes the majority view; the seeds when all are
/// unavailable. Reconnect: 200 ms doubling for 5 tries, then 3.2 s forever, ±20 %; request timeout 250 ms.
fn glide_2() -> Habit {
    let source = Source {
        repo: "valkey-io/valkey-glide",
        paths: "glide-core/src/client/mod.rs, glide-core/redis-rs/redis/src/cluster_async/mod.rs, glide-core/redis-rs/redis/src/retry_strategies.rs",
        tag: "v2.5.1",
    };
    let triggers = Triggers {
        moved: MovedRule::Refresh,
        read_only: true,
        no_connection: true,
        periodic: Some(secs(60)),
        ..Triggers::NONE
    };
    let healthy = Order { shuffled: false, failing: Failing::Skip };
    let refresh = Refresh {
        sources: vec![Step::Known(healthy), Step::Seeds(Order::LISTED, SeedsWhen::NoConnectionLeft)],
        consensus: Consensus::Majority,
        lazy: true,
        moved_retry: MovedRetry::RedirectTarget,
    };
    let backoff = Backoff::Exponential { base: ms(200), factor: 2.0, max: ms(3200), jitter: Jitter::Spread(20) };
    let connections =
        Connections { health_check: Some(secs(3)), command_timeout: Some(ms(250)), ..reconnecting(backoff) };
    habit("glide@2", source, triggers, refresh, connections)
}

/// redis-rs cluster-async 1.6: MOVED, READONLY and a route without connection refresh; an IO error starts a
/// reconnect loop to the same address (50 ms doubling to 1 s, unlimited); no periodic refresh. Sources: the
/// connected known nodes; the seeds only once no connection is left. Connection timeout 1 s. Read at the
/// tag, not in `clients.md`: while a node reconnects, its commands go to a connected node of its shard, else
/// a random connected node (which answers MOVED) instead of waiting (`get_connection`).
fn redis_rs_1_6() -> Habit {
    let source = Source {
        repo: "redis-rs/redis-rs",
        paths: "redis/src/cluster_handling/async_connection/mod.rs, redis/src/cluster_handling/client.rs",
        tag: "redis-1.6.0",
    };
    let triggers = Triggers { moved: MovedRule::Refresh, read_only: true, no_connection: true, ..Triggers::NONE };
    let healthy = Order { shuffled: false, failing: Failing::Skip };
    let refresh = Refresh {
        sources: vec![Step::Known(healthy), Step::Seeds(Order::LISTED, SeedsWhen::NoConnectionLeft)],
        consensus: Consensus::First,
        lazy: true,
        moved_retry: MovedRetry::RedirectTarget,
    };
    let backoff = Backoff::Exponential { base: ms(50), factor: 2.0, max: secs(1), jitter: Jitter::None };
    let connections = Connections {
        dead_node: DeadNode::ReconnectWithFallback,
        connect_timeout: Some(secs(1)),
        ..reconnecting(backoff)
    };
    habit("redis-rs@1.6", source, triggers, refresh, connections)
}

/// fred 10.1, as this tool configures it (probed for real, not emulated): MOVED re-syncs; any connection
/// loss reconnects fully and rediscovers (fred's builder has no reconnect policy by default; this tool sets
/// 50 ms doubling, capped at `--reconnect-max`, 250 ms by default). One router serves every node. With
/// `ClusterDiscoveryPolicy::ConfigEndpoint` (the default) it rediscovers from the configured seeds only.
fn fred_10() -> Habit {
    let source = Source { repo: "aembke/fred.rs", paths: "src/router, src/types/config.rs", tag: "v10.1.0" };
    let triggers = Triggers { moved: MovedRule::Refresh, connection_error: Some(Duration::ZERO), ..Triggers::NONE };
    let refresh = in_order(vec![Step::Seeds(Order::LISTED, SeedsWhen::Always)], MovedRetry::RefreshedMap);
    let backoff = Backoff::Exponential { base: ms(50), factor: 2.0, max: ms(250), jitter: Jitter::None };
    let connections = Connections { shared_router: true, ..reconnecting(backoff) };
    habit("fred@10", source, triggers, refresh, connections)
}

#[cfg(test)]
mod tests;
