//! A command through a client [`Habit`]: where it goes (a dead node's slots may go elsewhere), what each reply
//! makes the client do (follow a redirect, patch a slot, refresh, retry), and the client's background life
//! (timers, and for clients that hold connections, noticing a connection that broke, even without traffic).
//! Every decision is one of the habit's pure rules ([`should_refresh`](super::habit::should_refresh),
//! [`sources`](super::habit::sources), [`dead_node_route`], [`next_backoff`]); this file only wires them to
//! the connections.

use std::sync::Arc;
use std::time::Duration;

use super::cluster::{Call, Inner};
use super::habit::{dead_node_route, next_backoff, Backoff, DeadNode, DeadRoute, MovedRetry, Observation, Trigger};
use super::pool::lock;
use super::recovery::is_connection_class;
use super::redirect::Redirect;
use super::refresh::Asked;
use super::send::Failure;
use crate::events::ClientEventKind;
use crate::probe::ErrorClass;
use crate::topology::Endpoint;

/// How often the background task looks at the timers and the connections.
const TICK: Duration = Duration::from_millis(100);

/// Tries of one command when the habit does not say (one retry, as most clients make at least one).
const DEFAULT_TRIES: u32 = 2;

impl Inner {
    /// Decides on `obs` with the habit's rules and books a refresh it calls for.
    pub(super) fn observe(&self, obs: Observation) -> Option<Trigger> {
        let h = self.habit.as_ref()?;
        lock(&self.tracker).observe(h, self.offset(), &obs)
    }

    pub(super) async fn run_habit(
        self: &Arc<Self>,
        call: &Call<'_>,
        in_flight: &mut Option<(Endpoint, std::time::Instant)>,
    ) -> Result<Option<String>, Failure> {
        let Some(h) = self.habit.clone() else { return Err(Failure::unrouted(call.slot)) };
        let c = &h.connections;
        // A client that makes its connection when a command needs one, or that dropped a dead node's, fails
        // such a command at once; the others queue it behind the reconnect.
        let fail_fast = c.on_demand || c.dead_node == DeadNode::DropToRandom;
        let tries = c.attempts.unwrap_or(DEFAULT_TRIES).clamp(1, 32);
        if let Some(t) = self.observe(Observation::Use) {
            self.refresh_for(t, None, Asked::default()).await;
        }
        let mut target = self.pick(call.slot).await?;
        let mut asking = false;
        let mut consecutive = 0u32;
        let mut last = None;
        for _ in 0..tries {
            let failure = match self.attempt(call, &target, asking, fail_fast, in_flight).await {
                Ok(v) => return Ok(v),
                Err(f) => f,
            };
            asking = false;
            match failure.redirect.clone() {
                Some(Redirect::Ask { to, .. }) => {
                    let target_known = self.router.known().contains(&to);
                    if let Some(t) = self.observe(Observation::Ask { target_known }) {
                        let asked =
                            Asked { redirector: Some(target.clone()), redirect_target: Some(to.clone()), away: None };
                        self.refresh_for(t, Some(&target), asked).await;
                    }
                    target = to;
                    asking = true;
                }
                Some(Redirect::Moved { slot, to }) => {
                    let target_known = self.router.known().contains(&to);
                    match self.observe(Observation::Moved { target_known }) {
                        Some(t) => {
                            if h.refresh.lazy {
                                self.router.patch_slot(slot, &to);
                            }
                            let asked = Asked {
                                redirector: Some(target.clone()),
                                redirect_target: Some(to.clone()),
                                away: None,
                            };
                            self.refresh_for(t, Some(&target), asked).await;
                        }
                        None => self.router.patch_slot(slot, &to),
                    }
                    let next = match h.refresh.moved_retry {
                        MovedRetry::RedirectTarget => to,
                        MovedRetry::RefreshedMap => self.router.route(call.slot).unwrap_or(to),
                    };
                    target = self.steer(call.slot, next).await;
                }
                None if is_connection_class(failure.class) => {
                    consecutive += 1;
                    let trigger = self.observe(Observation::ConnectionError { consecutive });
                    if let Some(t) = trigger {
                        self.refresh_for(t, Some(&target), Asked::default()).await;
                    }
                    // A command that waited out its node's reconnect has nothing left to retry in time.
                    if !fail_fast {
                        return Err(failure);
                    }
                    if c.on_demand && trigger.is_none() {
                        tokio::time::sleep(retry_wait(&c.backoff, consecutive, self.roll())).await;
                    }
                    target = self.pick(call.slot).await?;
                }
                None if failure.class == ErrorClass::ClusterDown || failure.class == ErrorClass::ReadOnly => {
                    let obs = if failure.class == ErrorClass::ClusterDown {
                        Observation::ClusterDown
                    } else {
                        Observation::ReadOnly
                    };
                    let Some(t) = self.observe(obs) else { return Err(failure) };
                    self.refresh_for(t, Some(&target), Asked::default()).await;
                    target = self.pick(call.slot).await?;
                }
                None => return Err(failure),
            }
            last = Some(failure);
        }
        Err(last.unwrap_or_else(|| Failure::unrouted(call.slot)))
    }

    /// Where a command for `slot` goes now: its owner in the map, unless the owner is failing and the habit
    /// sends its slots elsewhere. A slot without owner may call for a refresh first.
    async fn pick(self: &Arc<Self>, slot: u16) -> Result<Endpoint, Failure> {
        let owner = match self.router.route(slot) {
            Some(ep) => ep,
            None => {
                if let Some(t) = self.observe(Observation::UncoveredSlot) {
                    self.refresh_for(t, None, Asked::default()).await;
                }
                self.router.route(slot).ok_or_else(|| Failure::unrouted(slot))?
            }
        };
        Ok(self.steer(slot, owner).await)
    }

    /// `ep` for a command of `slot`, or, when `ep` is failing, where the habit sends it instead (a refresh
    /// for a route without connection first, for the habits that make one).
    async fn steer(self: &Arc<Self>, slot: u16, ep: Endpoint) -> Endpoint {
        let Some(h) = self.habit.as_ref() else { return ep };
        if !self.is_failing(&ep) {
            return ep;
        }
        if let Some(t) = self.observe(Observation::NoConnection) {
            self.refresh_for(t, Some(&ep), Asked::default()).await;
            match self.router.route(slot) {
                Some(next) if !self.is_failing(&next) => return next,
                _ => {}
            }
        }
        if h.connections.dead_node == DeadNode::Reconnect {
            return ep;
        }
        let shard = self.router.shard_nodes(slot);
        let pool: Vec<Endpoint> = self.router.known().into_iter().filter(|e| !self.is_failing(e)).collect();
        match dead_node_route(h, &ep, &shard, &pool, self.roll()) {
            DeadRoute::Owner(e) | DeadRoute::Shard(e) | DeadRoute::Random(e) => e,
            DeadRoute::Nowhere => {
                // Every connection is gone: the client goes back to its seeds (its sources say so).
                let seen = self.router.generation();
                let cause = super::policy::Cause::of(Trigger::NoConnection, Some(&ep), Duration::ZERO);
                self.refresh(cause, seen, &Asked::default()).await;
                self.router.route(slot).unwrap_or(ep)
            }
        }
    }

    /// A command at `ep` got no answer within its bound: a connection error to the habit, in the background.
    pub(super) fn after_timeout(self: &Arc<Self>, ep: &Endpoint) {
        if let Some(t) = self.observe(Observation::ConnectionError { consecutive: 1 }) {
            let (inner, ep) = (Arc::clone(self), ep.clone());
            tokio::spawn(async move { inner.refresh_for(t, Some(&ep), Asked::default()).await });
        }
    }

    /// The client's background life, until it is closed: its timers (periodic refresh) and, for a client
    /// that holds its connections, the connections themselves: one that broke is a lost connection to the
    /// habit at once (traffic or not), its reconnect attempts go on with the habit's backoff, and one that
    /// came back is a restored connection.
    pub(super) async fn watch_connections(self: Arc<Self>) {
        let Some(h) = self.habit.clone() else { return };
        let mut every = tokio::time::interval(TICK);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if self.is_closed() {
                return;
            }
            if let Some(t) = self.observe(Observation::Tick) {
                self.refresh_for(t, None, Asked::default()).await;
            }
            // A client that connects on demand notices nothing until a command needs the connection.
            if h.connections.on_demand {
                continue;
            }
            let held = if h.connections.replica_connections { self.router.known() } else { self.router.primaries() };
            for ep in held {
                match self.router.pool.connected(&ep) {
                    Some(false) => self.still_down(&ep, &h.connections.backoff).await,
                    Some(true) => {
                        let was_down = lock(&self.router.failing).get(&ep).is_some_and(|f| f.disconnected);
                        if was_down {
                            self.node_answered(&ep);
                            if let Some(t) = self.observe(Observation::Reconnected) {
                                self.refresh_for(t, Some(&ep), Asked::default()).await;
                            }
                        }
                    }
                    None => {}
                }
            }
        }
    }

    /// `ep`'s connection is down: a new failing streak is a connection error; every tick its reconnect
    /// attempts so far (by the habit's backoff) may call for a refresh.
    async fn still_down(self: &Arc<Self>, ep: &Endpoint, backoff: &Backoff) {
        if self.node_failed(ep, true) {
            if let Some(t) = self.observe(Observation::ConnectionLost) {
                self.refresh_for(t, Some(ep), Asked::default()).await;
            }
        }
        let Some(for_) = self.failing_for(ep) else { return };
        let attempt = attempts_within(backoff, for_);
        if let Some(t) = self.observe(Observation::ReconnectAttempt { attempt, for_ }) {
            self.refresh_for(t, Some(ep), Asked::default()).await;
            let still = self.router.known().contains(ep) && self.is_failing(ep);
            let first =
                lock(&self.router.failing).get_mut(ep).is_some_and(|f| !std::mem::replace(&mut f.stuck_reported, true));
            if still && first && self.router.primaries().contains(ep) {
                self.emit(
                    ClientEventKind::Stuck,
                    Some(ep),
                    format!(
                        "{} keeps retrying {ep}: reconnecting for {}, and the refreshed map still names it",
                        self.client,
                        crate::duration::human(for_)
                    ),
                );
            }
        }
    }
}

/// How many reconnect attempts a connection down for `down` has made with `backoff` (the median wait, no
/// jitter roll): the first at once, each next one after its wait.
pub(super) fn attempts_within(backoff: &Backoff, down: Duration) -> u32 {
    let mut spent = Duration::ZERO;
    for n in 0..10_000u32 {
        spent += next_backoff(backoff, n, 0.5);
        if spent > down {
            return n + 1;
        }
        if spent.is_zero() && n > 0 {
            // No wait between attempts: a client reconnecting when asked makes one per use.
            return n + 1;
        }
    }
    10_000
}

/// The wait before retry `consecutive` (from 1) of a command, with the habit's backoff.
fn retry_wait(backoff: &Backoff, consecutive: u32, roll: u64) -> Duration {
    let roll = (roll >> 11) as f64 / (1u64 << 53) as f64;
    next_backoff(backoff, consecutive.saturating_sub(1), roll).min(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_attempts_follow_the_backoff() {
        // Lettuce: 1 ms doubling: attempts at 0, 1, 3, 7, 15, 31 ms...
        let lettuce = Backoff::Exponential {
            base: Duration::from_millis(1),
            factor: 2.0,
            max: Duration::from_secs(30),
            jitter: super::super::habit::Jitter::None,
        };
        assert_eq!(attempts_within(&lettuce, Duration::ZERO), 1);
        assert!(attempts_within(&lettuce, Duration::from_millis(40)) >= 5);
        let fixed = Backoff::Fixed(Duration::from_millis(500));
        assert_eq!(attempts_within(&fixed, Duration::from_millis(1200)), 3);
        assert_eq!(attempts_within(&Backoff::None, Duration::from_secs(5)), 2);
    }

    #[test]
    fn retries_wait_at_most_a_second() {
        let b = Backoff::Fixed(Duration::from_secs(5));
        assert_eq!(retry_wait(&b, 1, u64::MAX), Duration::from_secs(1));
        assert_eq!(retry_wait(&Backoff::None, 3, 0), Duration::ZERO);
    }
}
