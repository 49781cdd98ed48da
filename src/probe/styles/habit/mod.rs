//! One parametric model of how a cluster client learns a new topology: a [`Habit`]. Every client of
//! `clients.md` (node-redis, ioredis, redis-py, go-redis, Lettuce, Jedis, StackExchange.Redis, valkey-glide,
//! redis-rs, fred) is a [preset](presets) of it, named after the client and version and citing the source it
//! was read from, so a new client is a new preset, not new code.
//!
//! The model is pure data plus small pure rules, apart from the connections they will act on:
//! - [`rules`]: when a refresh is due ([`should_refresh`]) given what a command just saw ([`Observation`])
//!   and what happened before ([`History`], kept by a [`Tracker`]);
//! - [`sources`](mod@sources): whom a refresh asks, in which order ([`sources()`]), what becomes of the seeds
//!   afterwards, and where a key of a dead node's slot goes;
//! - [`backoff`]: the client's reconnect backoff ([`next_backoff`]);
//! - [`parse`]: `PRESET[,param=value...]`, the way a user states their own configuration ([`parse_habit`]);
//! - [`describe`](mod@describe): the rules in words, for a `clients` listing ([`describe()`]).
//!
//! Times are offsets and durations handed in by the caller, never read from a clock, so every rule can be
//! checked against a scripted sequence of node replies.

pub mod backoff;
pub mod describe;
pub mod parse;
pub mod presets;
pub mod rules;
pub mod sources;

use std::time::Duration;

pub use backoff::{next_backoff, Backoff, Jitter};
pub use describe::{describe, summary};
pub use parse::{parse_habit, PARAMS};
pub use presets::{preset, ALIASES, PRESETS};
pub use rules::{refresh_delay, should_refresh, wanted, History, MovedAction, Observation, Tracker, Trigger};
pub use sources::{dead_node_route, seeds_after_failure, seeds_after_refresh, sources, DeadRoute, View};

/// Where a preset's defaults were read: repository, files and tag (or pull request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// `owner/name` on GitHub.
    pub repo: &'static str,
    /// The files read, comma-separated.
    pub paths: &'static str,
    /// The tag (or commit, or pull request) they were read at.
    pub tag: &'static str,
}

impl Source {
    /// `repo: paths @ tag`, for people.
    pub fn cite(&self) -> String {
        format!("{}: {} @ {}", self.repo, self.paths, self.tag)
    }
}

/// Everything that decides how one client version reacts to a changing cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Habit {
    /// The preset it started from, e.g. `lettuce@7`.
    pub name: String,
    /// Where the preset's defaults come from.
    pub source: Source,
    /// `(param, value)` overrides applied on top of the preset, in the order given.
    pub overrides: Vec<(String, String)>,
    /// What makes the client read a new slot map.
    pub triggers: Triggers,
    /// How it reads one.
    pub refresh: Refresh,
    /// Whether the seeds it was configured with are replaced by the addresses it discovers.
    pub dynamic_seeds: bool,
    /// What it does with a node that stopped answering, and its timeouts.
    pub connections: Connections,
}

/// What a MOVED reply does to the slot map (the command itself always follows the redirect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovedRule {
    /// Every MOVED refreshes the whole map.
    Refresh,
    /// Only the redirected slot is patched, and every n-th MOVED refreshes the whole map (redis-py's
    /// `reinitialize_steps`).
    EveryNth(u32),
    /// Only the redirected slot is patched; MOVED never refreshes.
    PatchOnly,
}

/// What an ASK reply does to the slot map (the command itself is always sent again with `ASKING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskRule {
    /// Nothing.
    Never,
    /// A refresh only when the node ASK names is not in the map (node-redis).
    UnknownTarget,
    /// A refresh on every ASK (Lettuce's `ASK_REDIRECT`).
    Always,
}

/// The refresh triggers; `None` / `false` is off.
#[derive(Debug, Clone, PartialEq)]
pub struct Triggers {
    /// MOVED.
    pub moved: MovedRule,
    /// ASK.
    pub ask: AskRule,
    /// `CLUSTERDOWN`: refresh after waiting this long.
    pub cluster_down: Option<Duration>,
    /// `READONLY` (a write reached a replica).
    pub read_only: bool,
    /// A connection error or timeout: refresh after waiting this long (zero: at once).
    pub connection_error: Option<Duration>,
    /// A connection error counts only when a command fails on it (ioredis refreshes in the command's error
    /// handler): a held connection that breaks while no command uses it only leaves the pool.
    pub error_needs_command: bool,
    /// This many consecutive connection failures within one command (Jedis).
    pub consecutive_failures: Option<u32>,
    /// A node has been reconnecting for this long (node-redis 6); again every as long while it still is.
    pub reconnecting_for: Option<Duration>,
    /// A node's connection has made this many reconnect attempts (Lettuce `PERSISTENT_RECONNECTS`).
    pub reconnect_attempts: Option<u32>,
    /// A node's connection was restored (StackExchange.Redis).
    pub reconnected: bool,
    /// A command's slot has no owner in the map (Lettuce `UNCOVERED_SLOT`).
    pub uncovered_slot: bool,
    /// A redirect names a node that is not in the map (Lettuce `UNKNOWN_NODE`).
    pub unknown_node: bool,
    /// The node a command routes to has no connection in the pool (valkey-glide, redis-rs).
    pub no_connection: bool,
    /// A refresh on a timer, traffic or not.
    pub periodic: Option<Duration>,
    /// A map older than this is reloaded when the next command uses it (go-redis): idle clients never do.
    pub max_age: Option<Duration>,
    /// At most one refresh per this long, periodic ones excepted (Lettuce's adaptive timeout, go-redis's
    /// reload cooldown).
    pub rate_limit: Option<Duration>,
}

impl Triggers {
    /// No trigger at all (Lettuce 6's defaults), the base every preset starts from.
    pub const NONE: Triggers = Triggers {
        moved: MovedRule::PatchOnly,
        ask: AskRule::Never,
        cluster_down: None,
        read_only: false,
        connection_error: None,
        error_needs_command: false,
        consecutive_failures: None,
        reconnecting_for: None,
        reconnect_attempts: None,
        reconnected: false,
        uncovered_slot: false,
        unknown_node: false,
        no_connection: false,
        periodic: None,
        max_age: None,
        rate_limit: None,
    };
}

/// How a refresh reads the new map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refresh {
    /// Whom it asks, step by step, in order.
    pub sources: Vec<Step>,
    /// Which answer wins.
    pub consensus: Consensus,
    /// The command that triggered the refresh goes on without waiting for it (go-redis's lazy reload,
    /// ioredis, Lettuce's adaptive refresh); otherwise it waits for the new map.
    pub lazy: bool,
    /// Where the command goes after a MOVED.
    pub moved_retry: MovedRetry,
}

/// One step of a refresh's source order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The node that answered MOVED or ASK.
    Redirector,
    /// The node the MOVED named (redis-py adds it to its startup nodes).
    RedirectTarget,
    /// The nodes of the current map (and, for a client that keeps them, retired ones).
    Known(Order),
    /// The seeds (startup nodes, root nodes), when `when` allows.
    Seeds(Order, SeedsWhen),
}

/// The order of a set of nodes within a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    /// Shuffled (with the caller's seed), else as listed.
    pub shuffled: bool,
    /// What becomes of the nodes that are failing.
    pub failing: Failing,
}

impl Order {
    /// As listed, failing nodes included.
    pub const LISTED: Order = Order { shuffled: false, failing: Failing::Include };
    /// Shuffled, failing nodes included.
    pub const SHUFFLED: Order = Order { shuffled: true, failing: Failing::Include };
}

/// Failing nodes within a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failing {
    /// Asked in their place.
    Include,
    /// Asked after the others (redis-py defers the node that just failed).
    Last,
    /// Not asked (node-redis 6 skips reconnecting nodes).
    Skip,
}

/// When the seeds step is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedsWhen {
    /// After the earlier steps, in the same refresh.
    Always,
    /// Only when every known node is failing or gone (ioredis's pool drained, redis-rs, valkey-glide).
    NoConnectionLeft,
    /// Only in a refresh after one in which no known node answered (go-redis).
    AfterFailedRound,
}

/// Which of the maps a refresh gets back is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consensus {
    /// The first map with slots, asking one node after another.
    First,
    /// The map most of the asked nodes agree on (valkey-glide).
    Majority,
    /// Every source at once; the newest cluster epoch wins (this tool's `direct`).
    NewestEpoch,
}

/// Where a command goes after a MOVED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovedRetry {
    /// To the node the MOVED named.
    RedirectTarget,
    /// To the owner the refreshed map names (node-redis waits for the refresh, then routes again).
    RefreshedMap,
}

/// A node whose connection broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadNode {
    /// Keep it and reconnect to the same address with the client's backoff; its slots keep routing there.
    Reconnect,
    /// Drop it from the pool (no reconnect); its slots go to a random pooled node, which answers MOVED
    /// (ioredis, `retryStrategy: null` for node connections).
    DropToRandom,
    /// Reconnect to the same address in the background; meanwhile its slots go to a connected node of the
    /// same shard, else to a random connected node, which answers MOVED (redis-rs 1.6).
    ReconnectWithFallback,
}

/// Connections, backoff and timeouts.
#[derive(Debug, Clone, PartialEq)]
pub struct Connections {
    /// A broken connection.
    pub dead_node: DeadNode,
    /// Waits between reconnect attempts (for [`DeadNode::DropToRandom`]: between attempts to reach the
    /// seeds once the pool drained).
    pub backoff: Backoff,
    /// Connections to nodes that left the map are closed; otherwise they are kept and dialled forever
    /// (StackExchange.Redis 2.x).
    pub forget_retired: bool,
    /// One router serves every node, so while it reconnects to one, every shard's commands wait (fred).
    pub shared_router: bool,
    /// It holds connections to the replicas too, so a replica that goes away is a lost connection to it;
    /// otherwise only the primaries of its current map are watched (node-redis without `useReplicas`): a
    /// replica's death, a demoted primary's included, goes unnoticed.
    pub replica_connections: bool,
    /// Connections are made when a command needs one (redis-py, Jedis, go-redis pools), so a command for a
    /// dead node fails at once with the refused connect; otherwise a broken connection reconnects in the
    /// background and commands for its node wait for it (or for their timeout).
    pub on_demand: bool,
    /// A periodic check of every connection, reconnecting broken ones (valkey-glide).
    pub health_check: Option<Duration>,
    /// The client's own bound on a command; `None`: none of its own (the probe's timeout applies).
    pub command_timeout: Option<Duration>,
    /// The client's own bound on a connection attempt; `None`: not modelled (the probe's).
    pub connect_timeout: Option<Duration>,
    /// Tries of one command, redirects and retries included, before its error reaches the caller; `None`:
    /// not modelled.
    pub attempts: Option<u32>,
}

impl Habit {
    /// Every trigger this habit has, with its parameters, in the order [`describe()`] lists them.
    pub fn triggers(&self) -> Vec<Trigger> {
        let t = &self.triggers;
        let mut out = Vec::new();
        match t.moved {
            MovedRule::Refresh => out.push(Trigger::Moved),
            MovedRule::EveryNth(n) => out.push(Trigger::MovedNth(n)),
            MovedRule::PatchOnly => {}
        }
        if t.ask != AskRule::Never {
            out.push(Trigger::Ask);
        }
        if t.unknown_node {
            out.push(Trigger::UnknownNode);
        }
        if let Some(d) = t.cluster_down {
            out.push(Trigger::ClusterDown(d));
        }
        if t.read_only {
            out.push(Trigger::ReadOnly);
        }
        if t.uncovered_slot {
            out.push(Trigger::UncoveredSlot);
        }
        if t.no_connection {
            out.push(Trigger::NoConnection);
        }
        if let Some(d) = t.connection_error {
            out.push(Trigger::ConnectionError(d));
        }
        if let Some(n) = t.consecutive_failures {
            out.push(Trigger::ConsecutiveFailures(n));
        }
        if let Some(d) = t.reconnecting_for {
            out.push(Trigger::ReconnectingFor(d));
        }
        if let Some(n) = t.reconnect_attempts {
            out.push(Trigger::ReconnectAttempts(n));
        }
        if t.reconnected {
            out.push(Trigger::Reconnected);
        }
        if let Some(d) = t.periodic {
            out.push(Trigger::Periodic(d));
        }
        if let Some(d) = t.max_age {
            out.push(Trigger::Age(d));
        }
        out
    }

    /// Whether anything but a redirect moves this client off a node that stopped answering: a trigger on
    /// connection trouble, a timer, the map's age, or dropping the node from the pool. `false` (node-redis
    /// 4/5, Lettuce 6) means it retries such a node until a MOVED arrives, which a dead node never sends.
    pub fn leaves_silent_nodes(&self) -> bool {
        let t = &self.triggers;
        t.connection_error.is_some()
            || t.consecutive_failures.is_some()
            || t.reconnecting_for.is_some()
            || t.reconnect_attempts.is_some()
            || t.reconnected
            || t.no_connection
            || t.periodic.is_some()
            || t.max_age.is_some()
            || self.connections.dead_node != DeadNode::Reconnect
    }

    /// The preset name followed by the overrides, as it would be typed: `lettuce@6,periodic=60s`.
    pub fn spec(&self) -> String {
        let mut s = self.name.clone();
        for (k, v) in &self.overrides {
            s.push(',');
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        s
    }
}

/// A duration exactly, as parameters are written: `250ms`, `5s`, `60s`.
pub fn fmt_exact(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{ms}ms")
    } else {
        format!("{}us", d.as_micros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_durations_round_trip_through_the_duration_parser() {
        for d in [Duration::ZERO, Duration::from_millis(250), Duration::from_secs(5), Duration::from_millis(1500)] {
            assert_eq!(crate::duration::parse_duration(&fmt_exact(d)).unwrap(), d, "{}", fmt_exact(d));
        }
        assert_eq!(fmt_exact(Duration::from_secs(60)), "60s");
        assert_eq!(fmt_exact(Duration::from_millis(100)), "100ms");
    }

    #[test]
    fn a_habit_lists_its_triggers_and_its_spec() {
        let mut h = preset("lettuce@7").unwrap();
        let t = h.triggers();
        assert!(t.contains(&Trigger::Moved) && t.contains(&Trigger::ReconnectAttempts(5)), "{t:?}");
        assert!(!t.iter().any(|t| matches!(t, Trigger::Periodic(_))));
        h.overrides.push(("periodic".into(), "60s".into()));
        assert_eq!(h.spec(), "lettuce@7,periodic=60s");
        assert!(preset("lettuce@6").unwrap().triggers().is_empty());
    }

    #[test]
    fn only_redirect_driven_clients_stay_on_a_silent_node() {
        let stays: Vec<&str> = PRESETS.into_iter().filter(|n| !preset(n).unwrap().leaves_silent_nodes()).collect();
        assert_eq!(stays, ["node-redis@4", "node-redis@5", "lettuce@6"]);
        assert!(parse_habit("lettuce@6,periodic=60s").unwrap().leaves_silent_nodes());
    }
}
