//! A [`Habit`] in words, as plain rows for a `clients` listing ([`summary`]) and `clients show PRESET`
//! ([`describe`]): rules, sources and where they were read. No table drawing here: the caller renders.

use super::backoff::{Backoff, Jitter};
use super::parse::fmt_steps;
use super::presets::{preset, PRESETS};
use super::{fmt_exact, AskRule, Consensus, DeadNode, Failing, Habit, MovedRetry, Order, SeedsWhen, Step, Trigger};

/// One line of the `clients` listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PresetRow {
    /// The preset name.
    pub name: String,
    /// Its triggers, short: `MOVED, ASK (unknown node), reconnecting 5s`.
    pub triggers: String,
    /// Where it was read: `repo: paths @ tag`.
    pub source: String,
}

/// Every preset, one row each, in [`PRESETS`] order.
pub fn summary() -> Vec<PresetRow> {
    PRESETS
        .iter()
        .filter_map(|name| preset(name))
        .map(|h| {
            let triggers: Vec<String> = h.triggers().iter().map(short).collect();
            let triggers = if triggers.is_empty() { "none".to_string() } else { triggers.join(", ") };
            PresetRow { name: h.name.clone(), triggers, source: h.source.cite() }
        })
        .collect()
}

/// A trigger in a few words.
fn short(t: &Trigger) -> String {
    match *t {
        Trigger::Moved => "MOVED".into(),
        Trigger::MovedNth(n) => format!("every {n}th MOVED"),
        Trigger::Ask => "ASK".into(),
        Trigger::UnknownNode => "unknown node".into(),
        Trigger::ClusterDown(d) => format!("CLUSTERDOWN (+{})", fmt_exact(d)),
        Trigger::ReadOnly => "READONLY".into(),
        Trigger::UncoveredSlot => "uncovered slot".into(),
        Trigger::NoConnection => "no connection".into(),
        Trigger::ConnectionError(d) if d.is_zero() => "connection error".into(),
        Trigger::ConnectionError(d) => format!("connection error (+{})", fmt_exact(d)),
        Trigger::ConsecutiveFailures(n) => format!("{n} failures in a row"),
        Trigger::ReconnectingFor(d) => format!("reconnecting {}", fmt_exact(d)),
        Trigger::ReconnectAttempts(n) => format!("{n} reconnect attempts"),
        Trigger::Reconnected => "reconnected".into(),
        Trigger::Periodic(d) => format!("every {}", fmt_exact(d)),
        Trigger::Age(d) => format!("age {}", fmt_exact(d)),
    }
}

/// Every rule of `habit` as `(what, how)` rows: the client, its source, each trigger (labelled with
/// [`Trigger::label`]), what never triggers a refresh, the refresh sources, the seeds, dead nodes, backoff
/// and timeouts.
pub fn describe(habit: &Habit) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
    let r = &habit.refresh;
    row("client", habit.spec());
    row("source", habit.source.cite());
    for t in habit.triggers() {
        row(t.label(), trigger_words(habit, &t));
    }
    if let Some(gap) = habit.triggers.rate_limit {
        row("rate limit", format!("at most one refresh per {} (periodic ones excepted)", fmt_exact(gap)));
    }
    let never = never_refreshes_on(habit);
    if !never.is_empty() {
        row("no refresh on", never.join(", "));
    }
    let steps: Vec<String> = r.sources.iter().map(step_words).collect();
    row("refresh sources", format!("{} (sources={})", steps.join(", then "), fmt_steps(&r.sources)));
    row(
        "answer used",
        match r.consensus {
            Consensus::First => "the first map with slots, one node after another".into(),
            Consensus::Majority => "the map most of the asked nodes agree on".into(),
            Consensus::NewestEpoch => "every source at once; the newest cluster epoch wins".into(),
        },
    );
    row(
        "seeds",
        if habit.dynamic_seeds {
            "replaced by the discovered node addresses after each refresh".into()
        } else {
            "kept as configured".into()
        },
    );
    let c = &habit.connections;
    row(
        "dead node",
        match c.dead_node {
            DeadNode::Reconnect => "its connection reconnects to the same address; its slots keep routing there".into(),
            DeadNode::DropToRandom => {
                "dropped from the pool, no reconnect; its slots go to a random node, which answers MOVED".into()
            }
            DeadNode::ReconnectWithFallback => "reconnects to the same address in the background; meanwhile its \
                slots go to a connected node of its shard, else a random node, which answers MOVED"
                .into(),
        },
    );
    row("reconnect backoff", format!("{} (backoff={})", backoff_words(&c.backoff), c.backoff));
    row(
        "retired nodes",
        if c.forget_retired {
            "connections closed once the map no longer names them".into()
        } else {
            "kept and dialled forever after they leave the map".into()
        },
    );
    row(
        "dead node's commands",
        if c.on_demand {
            "fail at once: a connection is made when a command needs one, and the connect is refused".into()
        } else {
            "wait for the reconnect (or their timeout)".into()
        },
    );
    row(
        "connections held",
        if c.on_demand {
            "taken from a pool when a command needs one".into()
        } else if c.replica_connections {
            "to every node of the map, replicas included".into()
        } else {
            "to the primaries of the map only: a replica's loss goes unnoticed".into()
        },
    );
    if c.shared_router {
        row("one router", "every node's commands wait while it reconnects to one".into());
    }
    if let Some(d) = c.health_check {
        row("connection check", format!("every {}, reconnecting broken connections", fmt_exact(d)));
    }
    let mut limits = Vec::new();
    limits.push(format!("command {}", c.command_timeout.map_or("the probe's".into(), fmt_exact)));
    limits.push(format!("connect {}", c.connect_timeout.map_or("the probe's".into(), fmt_exact)));
    if let Some(n) = c.attempts {
        limits.push(format!("{n} tries per command"));
    }
    row("timeouts", limits.join(", "));
    rows
}

/// What the trigger does under this habit, in a sentence.
fn trigger_words(h: &Habit, t: &Trigger) -> String {
    let after_moved = match (h.refresh.lazy, h.refresh.moved_retry) {
        (true, _) => "in the background, while the command follows the redirect",
        (false, MovedRetry::RefreshedMap) => "the command waits for it, then goes where the new map says",
        (false, MovedRetry::RedirectTarget) => "the command waits for it, then follows the redirect",
    };
    let waits = if h.refresh.lazy { "in the background" } else { "the command waits for it" };
    match *t {
        Trigger::Moved => format!("every MOVED refreshes the whole map, {after_moved}"),
        Trigger::MovedNth(n) => {
            format!("MOVED patches the one slot; every {n}th MOVED refreshes the whole map, {after_moved}")
        }
        Trigger::Ask if h.triggers.ask == AskRule::UnknownTarget => {
            format!("an ASK to a node not in the map refreshes it ({waits}); other ASKs change nothing")
        }
        Trigger::Ask => format!("every ASK refreshes the map ({waits}); the command is sent again with ASKING"),
        Trigger::ConnectionError(_) if h.triggers.error_needs_command => format!(
            "{} ({waits}), only when a command fails on it: a connection that ends while idle just leaves the pool",
            t.describe()
        ),
        _ => format!("{} ({waits})", t.describe()),
    }
}

/// The headline failures this habit never refreshes on.
fn never_refreshes_on(h: &Habit) -> Vec<String> {
    let t = &h.triggers;
    let mut out = Vec::new();
    if t.connection_error.is_none() && t.consecutive_failures.is_none() {
        out.push("connection errors or timeouts".to_string());
    }
    if t.reconnecting_for.is_none() && t.reconnect_attempts.is_none() && !t.reconnected {
        out.push("reconnects".into());
    }
    if t.cluster_down.is_none() {
        out.push("CLUSTERDOWN".into());
    }
    if t.periodic.is_none() && t.max_age.is_none() {
        out.push("a timer or the map's age".into());
    }
    out
}

fn step_words(step: &Step) -> String {
    let order = |o: &Order| {
        let mut s = String::from(if o.shuffled { "shuffled" } else { "as listed" });
        match o.failing {
            Failing::Include => {}
            Failing::Last => s.push_str(", failing ones last"),
            Failing::Skip => s.push_str(", failing ones skipped"),
        }
        s
    };
    match step {
        Step::Redirector => "the node that redirected".into(),
        Step::RedirectTarget => "the node the MOVED named".into(),
        Step::Known(o) => format!("the known nodes ({})", order(o)),
        Step::Seeds(o, when) => {
            let when = match when {
                SeedsWhen::Always => "",
                SeedsWhen::NoConnectionLeft => " once no connection is left",
                SeedsWhen::AfterFailedRound => " after a round in which no known node answered",
            };
            format!("the seeds ({}){when}", order(o))
        }
    }
}

fn backoff_words(b: &Backoff) -> String {
    match *b {
        Backoff::None => "none: reconnects when a command next needs the connection".into(),
        Backoff::Fixed(d) => format!("{} every time", fmt_exact(d)),
        Backoff::Linear { start, step, max } => {
            format!("min({} + n x {}, {})", fmt_exact(start), fmt_exact(step), fmt_exact(max))
        }
        Backoff::Exponential { base, factor, max, jitter } => {
            let d = format!("min({} x {factor}^n, {})", fmt_exact(base), fmt_exact(max));
            match jitter {
                Jitter::None => d,
                Jitter::Add(j) => format!("{d} + 0-{} jitter", fmt_exact(j)),
                Jitter::Spread(p) => format!("{d} +-{p}%"),
                Jitter::Full => format!("random up to {d}"),
                Jitter::FromBase => format!("random between {} and {d}", fmt_exact(base)),
                Jitter::Above(floor) => {
                    format!("{} + random up to {d}, capped at {}", fmt_exact(floor), fmt_exact(max))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::styles::habit::parse_habit;

    /// The number or duration a trigger carries, as the description must show it.
    fn value(t: &Trigger) -> Option<String> {
        match *t {
            Trigger::MovedNth(n) | Trigger::ConsecutiveFailures(n) | Trigger::ReconnectAttempts(n) => {
                Some(n.to_string())
            }
            Trigger::ClusterDown(d)
            | Trigger::ConnectionError(d)
            | Trigger::ReconnectingFor(d)
            | Trigger::Periodic(d)
            | Trigger::Age(d) => Some(fmt_exact(d)),
            _ => None,
        }
    }

    #[test]
    fn every_preset_describes_every_trigger_it_has() {
        for name in PRESETS {
            let h = preset(name).unwrap();
            let rows = describe(&h);
            for t in h.triggers() {
                let (_, text) = rows
                    .iter()
                    .find(|(k, _)| k == t.label())
                    .unwrap_or_else(|| panic!("{name}: no row for {t:?}: {rows:?}"));
                if let Some(v) = value(&t) {
                    assert!(text.contains(&v), "{name}: {t:?} row says '{text}'");
                }
            }
            let labels: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
            for must in ["client", "source", "refresh sources", "seeds", "dead node", "reconnect backoff", "timeouts"] {
                assert!(labels.contains(&must), "{name}: no {must}");
            }
            assert!(rows.iter().all(|(k, v)| !k.is_empty() && !v.is_empty() && !v.contains('\n')), "{name}");
            assert_eq!(rows[1].1, h.source.cite());
        }
    }

    #[test]
    fn descriptions_say_what_never_refreshes() {
        let rows = describe(&preset("node-redis@4").unwrap());
        let never = &rows.iter().find(|(k, _)| k == "no refresh on").unwrap().1;
        assert!(never.contains("connection errors") && never.contains("a timer"), "{never}");
        let rows = describe(&preset("redis-py@8").unwrap());
        let never = &rows.iter().find(|(k, _)| k == "no refresh on").unwrap().1;
        assert!(!never.contains("connection errors"), "{never}");
        let moved = &rows.iter().find(|(k, _)| k == "on MOVED").unwrap().1;
        assert!(moved.contains("patches the one slot") && moved.contains("5th"), "{moved}");
    }

    #[test]
    fn overrides_show_in_the_description() {
        let h = parse_habit("lettuce@6,periodic=60s").unwrap();
        let rows = describe(&h);
        assert_eq!(rows[0], ("client".to_string(), "lettuce@6,periodic=60s".to_string()));
        assert!(rows.iter().any(|(k, v)| k == "periodically" && v.contains("60s")));
        let seeds =
            |spec: &str| describe(&parse_habit(spec).unwrap()).into_iter().find(|(k, _)| k == "seeds").unwrap().1;
        assert!(seeds("redis-py@8").contains("replaced"));
        assert_eq!(seeds("redis-py@8,dynamic-startup-nodes=false"), "kept as configured");
    }

    #[test]
    fn the_listing_has_one_row_per_preset_with_its_source() {
        let rows = summary();
        assert_eq!(rows.len(), PRESETS.len());
        let lettuce6 = rows.iter().find(|r| r.name == "lettuce@6").unwrap();
        assert_eq!(lettuce6.triggers, "none");
        let redis_py = rows.iter().find(|r| r.name == "redis-py@8").unwrap();
        assert!(redis_py.triggers.contains("every 5th MOVED") && redis_py.source.contains("v8.1.0"), "{redis_py:?}");
        let node6 = rows.iter().find(|r| r.name == "node-redis@6").unwrap();
        assert!(node6.triggers.contains("reconnecting 5s"), "{node6:?}");
    }

    #[test]
    fn backoffs_read_as_formulas() {
        let h = preset("node-redis@4").unwrap();
        assert_eq!(backoff_words(&h.connections.backoff), "min(0s + n x 50ms, 500ms)");
        let h = preset("node-redis@6").unwrap();
        assert_eq!(backoff_words(&h.connections.backoff), "min(50ms x 2^n, 2s) + 0-200ms jitter");
    }
}
