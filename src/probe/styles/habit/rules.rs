//! When a [`Habit`] refreshes its slot map: what a command (or the clock) just saw ([`Observation`]), what
//! happened before ([`History`]), and the verdict ([`should_refresh`]). A [`Tracker`] keeps the history the
//! way a client does, so a scripted sequence of node replies can be replayed against any preset.

use std::time::Duration;

use super::{fmt_exact, AskRule, Habit, MovedRule};

/// Something a client just saw that may call for a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// A node answered MOVED; `target_known`: the node it names is in the map.
    Moved {
        /// The named node is in the current map.
        target_known: bool,
    },
    /// A node answered ASK.
    Ask {
        /// The named node is in the current map.
        target_known: bool,
    },
    /// A node answered `CLUSTERDOWN`.
    ClusterDown,
    /// A node answered `READONLY`.
    ReadOnly,
    /// A connection error or timeout; `consecutive` counts this command's connection failures in a row,
    /// this one included.
    ConnectionError {
        /// Connection failures of this command in a row, this one included.
        consecutive: u32,
    },
    /// A held connection broke while no command was using it (noticed by a client that holds its
    /// connections, traffic or not).
    ConnectionLost,
    /// A node's connection made its `attempt`-th reconnect attempt (from 1), reconnecting for `for_`.
    ReconnectAttempt {
        /// Attempts so far, this one included.
        attempt: u32,
        /// Since the connection broke.
        for_: Duration,
    },
    /// A node's connection was restored.
    Reconnected,
    /// A command's slot has no owner in the map.
    UncoveredSlot,
    /// The node a command routes to has no connection in the pool.
    NoConnection,
    /// A command is about to use the map (when a too old map is noticed).
    Use,
    /// Time passed, traffic or not (when a timer fires).
    Tick,
}

/// What happened before, as the rules need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct History {
    /// Since the last refresh of any kind; `None` when there was none since the map was first loaded.
    pub since_refresh: Option<Duration>,
    /// Since the map in use was loaded.
    pub map_age: Duration,
    /// Since the last periodic refresh (or since start).
    pub since_periodic: Duration,
    /// MOVED replies since the last refresh made for MOVED (patched ones).
    pub moved_count: u32,
    /// Since the last refresh made because a node kept reconnecting; `None`: none yet.
    pub since_reconnect_refresh: Option<Duration>,
}

/// Why a refresh is made, with the parameter that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A MOVED.
    Moved,
    /// The n-th MOVED since the last such refresh.
    MovedNth(u32),
    /// An ASK.
    Ask,
    /// A redirect to a node not in the map.
    UnknownNode,
    /// `CLUSTERDOWN`, refreshed after the wait.
    ClusterDown(Duration),
    /// `READONLY`.
    ReadOnly,
    /// A slot with no owner in the map.
    UncoveredSlot,
    /// A route to a node with no connection.
    NoConnection,
    /// A connection error or timeout, refreshed after the wait.
    ConnectionError(Duration),
    /// That many connection failures in a row within one command.
    ConsecutiveFailures(u32),
    /// A node reconnecting for that long.
    ReconnectingFor(Duration),
    /// A node's connection at that many reconnect attempts.
    ReconnectAttempts(u32),
    /// A connection restored.
    Reconnected,
    /// The periodic timer.
    Periodic(Duration),
    /// A map older than that, on its next use.
    Age(Duration),
}

impl Trigger {
    /// A short name, the row label of [`describe`](super::describe()).
    pub fn label(&self) -> &'static str {
        match self {
            Trigger::Moved | Trigger::MovedNth(_) => "on MOVED",
            Trigger::Ask => "on ASK",
            Trigger::UnknownNode => "on an unknown node",
            Trigger::ClusterDown(_) => "on CLUSTERDOWN",
            Trigger::ReadOnly => "on READONLY",
            Trigger::UncoveredSlot => "on an uncovered slot",
            Trigger::NoConnection => "on a route without connection",
            Trigger::ConnectionError(_) => "on a connection error",
            Trigger::ConsecutiveFailures(_) => "on failures in a row",
            Trigger::ReconnectingFor(_) => "on a long reconnect",
            Trigger::ReconnectAttempts(_) => "on reconnect attempts",
            Trigger::Reconnected => "on a restored connection",
            Trigger::Periodic(_) => "periodically",
            Trigger::Age(_) => "on an old map",
        }
    }

    /// The cause in words, e.g. `refresh after 2 connection failures in a row`.
    pub fn describe(&self) -> String {
        match *self {
            Trigger::Moved => "refresh on MOVED".into(),
            Trigger::MovedNth(n) => format!("refresh on the {n}th MOVED"),
            Trigger::Ask => "refresh on ASK".into(),
            Trigger::UnknownNode => "refresh on a redirect to an unknown node".into(),
            Trigger::ClusterDown(d) => format!("refresh {} after CLUSTERDOWN", fmt_exact(d)),
            Trigger::ReadOnly => "refresh on READONLY".into(),
            Trigger::UncoveredSlot => "refresh on a slot without owner".into(),
            Trigger::NoConnection => "refresh on a route without connection".into(),
            Trigger::ConnectionError(d) => format!("refresh {} after a connection error", fmt_exact(d)),
            Trigger::ConsecutiveFailures(n) => format!("refresh after {n} connection failures in a row"),
            Trigger::ReconnectingFor(d) => format!("refresh after a node reconnected for {}", fmt_exact(d)),
            Trigger::ReconnectAttempts(n) => format!("refresh after {n} reconnect attempts"),
            Trigger::Reconnected => "refresh on a restored connection".into(),
            Trigger::Periodic(d) => format!("periodic refresh (every {})", fmt_exact(d)),
            Trigger::Age(d) => format!("reload of a map older than {}", fmt_exact(d)),
        }
    }
}

/// The trigger `obs` fires under `habit`, before the rate limit.
pub fn wanted(habit: &Habit, obs: &Observation, hist: &History) -> Option<Trigger> {
    let t = &habit.triggers;
    match *obs {
        Observation::Moved { target_known } => match t.moved {
            MovedRule::Refresh => Some(Trigger::Moved),
            MovedRule::EveryNth(n) if hist.moved_count.saturating_add(1) >= n => Some(Trigger::MovedNth(n)),
            _ => (t.unknown_node && !target_known).then_some(Trigger::UnknownNode),
        },
        Observation::Ask { target_known } => {
            let ask = t.ask == AskRule::Always || (t.ask == AskRule::UnknownTarget && !target_known);
            if ask {
                Some(Trigger::Ask)
            } else {
                (t.unknown_node && !target_known).then_some(Trigger::UnknownNode)
            }
        }
        Observation::ClusterDown => t.cluster_down.map(Trigger::ClusterDown),
        Observation::ReadOnly => t.read_only.then_some(Trigger::ReadOnly),
        Observation::ConnectionError { consecutive } => t
            .connection_error
            .map(Trigger::ConnectionError)
            .or_else(|| t.consecutive_failures.filter(|n| consecutive >= *n).map(Trigger::ConsecutiveFailures)),
        Observation::ConnectionLost => {
            t.connection_error.filter(|_| !t.error_needs_command).map(Trigger::ConnectionError)
        }
        Observation::ReconnectAttempt { attempt, for_ } => {
            let long = t
                .reconnecting_for
                .filter(|d| for_ >= *d && hist.since_reconnect_refresh.is_none_or(|since| since >= *d));
            long.map(Trigger::ReconnectingFor)
                .or_else(|| t.reconnect_attempts.filter(|n| attempt >= *n).map(Trigger::ReconnectAttempts))
        }
        Observation::Reconnected => t.reconnected.then_some(Trigger::Reconnected),
        Observation::UncoveredSlot => t.uncovered_slot.then_some(Trigger::UncoveredSlot),
        Observation::NoConnection => t.no_connection.then_some(Trigger::NoConnection),
        Observation::Use => t.max_age.filter(|d| hist.map_age >= *d).map(Trigger::Age),
        Observation::Tick => t.periodic.filter(|d| hist.since_periodic >= *d).map(Trigger::Periodic),
    }
}

/// Whether `habit` refreshes on `obs` now, and why: [`wanted`], unless the rate limit holds it back (periodic
/// refreshes keep their own schedule).
pub fn should_refresh(habit: &Habit, obs: &Observation, hist: &History) -> Option<Trigger> {
    let trigger = wanted(habit, obs, hist)?;
    if matches!(trigger, Trigger::Periodic(_)) {
        return Some(trigger);
    }
    let limited = habit.triggers.rate_limit.zip(hist.since_refresh).is_some_and(|(gap, since)| since < gap);
    (!limited).then_some(trigger)
}

/// How long the client waits before the refresh `trigger` asks for (ioredis waits `retryDelayOnFailover`,
/// redis-py sleeps 0.25 s on `CLUSTERDOWN`).
pub fn refresh_delay(trigger: &Trigger) -> Duration {
    match *trigger {
        Trigger::ClusterDown(d) | Trigger::ConnectionError(d) => d,
        _ => Duration::ZERO,
    }
}

/// What a MOVED does to the map when it does not refresh it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovedAction {
    /// The map is refreshed.
    Refresh,
    /// The redirected slot is pointed at the node MOVED named.
    PatchSlot,
}

/// The bookkeeping of one client: when it last refreshed, how old its map is, how many MOVEDs it patched.
/// Times are offsets from any fixed start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    map_loaded: Duration,
    last_refresh: Option<Duration>,
    last_periodic: Duration,
    last_reconnect_refresh: Option<Duration>,
    moved_count: u32,
}

impl Tracker {
    /// A client whose map was loaded at `now`.
    pub fn new(now: Duration) -> Self {
        Tracker {
            map_loaded: now,
            last_refresh: None,
            last_periodic: now,
            last_reconnect_refresh: None,
            moved_count: 0,
        }
    }

    /// The history as of `now`.
    pub fn history(&self, now: Duration) -> History {
        History {
            since_refresh: self.last_refresh.map(|t| now.saturating_sub(t)),
            map_age: now.saturating_sub(self.map_loaded),
            since_periodic: now.saturating_sub(self.last_periodic),
            moved_count: self.moved_count,
            since_reconnect_refresh: self.last_reconnect_refresh.map(|t| now.saturating_sub(t)),
        }
    }

    /// Decides on `obs` at `now` and books the outcome: a refresh (assumed to install a map at once) or,
    /// for a MOVED that refreshes nothing, one more patched slot.
    pub fn observe(&mut self, habit: &Habit, now: Duration, obs: &Observation) -> Option<Trigger> {
        let trigger = should_refresh(habit, obs, &self.history(now));
        match trigger {
            Some(t) => self.refreshed(now, &t),
            None if matches!(obs, Observation::Moved { .. }) => self.moved_count = self.moved_count.saturating_add(1),
            None => {}
        }
        trigger
    }

    /// Books a refresh made at `now` because of `trigger`.
    pub fn refreshed(&mut self, now: Duration, trigger: &Trigger) {
        self.last_refresh = Some(now);
        self.map_loaded = now;
        match trigger {
            Trigger::Moved | Trigger::MovedNth(_) => self.moved_count = 0,
            Trigger::Periodic(_) => self.last_periodic = now,
            Trigger::ReconnectingFor(_) | Trigger::ReconnectAttempts(_) => self.last_reconnect_refresh = Some(now),
            _ => {}
        }
    }

    /// What `habit` does with a MOVED at this point: refresh, or patch the slot.
    pub fn moved_action(&self, habit: &Habit) -> MovedAction {
        match habit.triggers.moved {
            MovedRule::Refresh => MovedAction::Refresh,
            MovedRule::EveryNth(n) if self.moved_count.saturating_add(1) >= n => MovedAction::Refresh,
            _ => MovedAction::PatchSlot,
        }
    }
}

#[cfg(test)]
mod tests;
