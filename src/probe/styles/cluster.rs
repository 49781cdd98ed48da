//! [`EmulatedCluster`]: one probing client with the habits of a [`ClientStyle`] (every style but fred, which is
//! fred's own client). It keeps its own slot map and per-node connections ([`Router`]) and decides itself when
//! to refresh: direct by its own rule, the others by the [`Habit`] their style stands for.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::habit::{fmt_exact, Habit};
use super::policy::{direct_candidates, habit_candidates, refreshes_direct, Cause};
use super::pool::lock;
use super::recovery::{is_connection_class, RecoveryBook, ShardRecovery};
use super::redirect::Redirect;
use super::router::{Failing, Router};
use super::send::{send, Cmd, Failure};
use super::{ClientStyle, DEFAULT_REFRESH_AFTER};
use crate::clock::Clock;
use crate::connect::Factory;
use crate::duration::human;
use crate::error::{AppError, AppResult};
use crate::events::{ClientEvent, ClientEventKind, Event};
use crate::probe::exec::{sequence, ProbeResult, WriteRead};
use crate::probe::{ErrorClass, Op, ProbeOutcome};
use crate::topology::{self, key_slot, Endpoint, SlotRange, Topology};

/// Slack on top of the probe timeout, as [`exec::write_read`](crate::probe::exec::write_read) allows, so the
/// client's own timeout fires first when it can and the error says what the client saw.
const SLACK: Duration = Duration::from_millis(50);

/// Everything but the factory, the style and the clock.
#[derive(Debug, Clone)]
pub struct StyleOptions {
    /// reconnect-refresh: how long a node must fail, continuously, before the map is refreshed. moved-only:
    /// how long before a node is reported `stuck`.
    pub refresh_after: Duration,
    /// Where `topology_resync`, `topology_resync_failed` and `stuck` client events go.
    pub events: Option<UnboundedSender<Event>>,
    /// The `source` of those events (compare runs); empty otherwise.
    pub source: String,
}

impl Default for StyleOptions {
    fn default() -> Self {
        StyleOptions { refresh_after: DEFAULT_REFRESH_AFTER, events: None, source: String::new() }
    }
}

/// A cluster client that probes with the habits of one [`ClientStyle`]. Cheap to clone; clones share
/// connections, map and bookkeeping.
#[derive(Clone)]
pub struct EmulatedCluster {
    inner: Arc<Inner>,
}

struct Inner {
    style: ClientStyle,
    /// The habit behind the style's refreshes; `None` for direct.
    habit: Option<Habit>,
    refresh_after: Duration,
    clock: Clock,
    events: Option<UnboundedSender<Event>>,
    source: String,
    router: Router,
    book: Mutex<RecoveryBook>,
}

/// One command of a probe on its way through a style.
struct Call<'a> {
    slot: u16,
    cmd: &'a Cmd<'a>,
    /// When the command started (run offset, ms): failures of commands sent before a recovery are stragglers.
    started: u64,
}

impl EmulatedCluster {
    /// Connects with `style`: loads the slot map from the factory's seeds (in order, `CLUSTER SHARDS` else
    /// `CLUSTER SLOTS`). No events are sent.
    pub async fn connect(
        factory: Arc<Factory>,
        style: ClientStyle,
        refresh_after: Duration,
        clock: Clock,
    ) -> AppResult<Self> {
        let options = StyleOptions { refresh_after, ..StyleOptions::default() };
        Self::connect_with(factory, style, clock, options).await
    }

    /// [`connect`](Self::connect) with an event channel and source name. `fred` is no style of this client:
    /// it probes through fred's own cluster client ([`crate::probe::engine::FredProber`]).
    pub async fn connect_with(
        factory: Arc<Factory>,
        style: ClientStyle,
        clock: Clock,
        options: StyleOptions,
    ) -> AppResult<Self> {
        if !style.is_emulated() {
            return Err(AppError::BadInput(format!("--client {style} probes through fred's own cluster client")));
        }
        let router = Router::connect(factory).await?;
        let habit = style.habit().map(|mut h| {
            // --refresh-after is the user's own node-redis 6 setting.
            if h.triggers.reconnecting_for.is_some_and(|d| d != options.refresh_after) {
                h.triggers.reconnecting_for = Some(options.refresh_after);
                h.overrides.push(("reconnecting-for".into(), fmt_exact(options.refresh_after)));
            }
            h
        });
        Ok(EmulatedCluster {
            inner: Arc::new(Inner {
                style,
                habit,
                refresh_after: options.refresh_after,
                clock,
                events: options.events,
                source: options.source,
                router,
                book: Mutex::new(RecoveryBook::default()),
            }),
        })
    }

    /// The style this client emulates.
    pub fn style(&self) -> ClientStyle {
        self.inner.style
    }

    /// The client habit behind the style's refreshes (`None` for direct).
    pub fn habit(&self) -> Option<&Habit> {
        self.inner.habit.as_ref()
    }

    /// One probe, with the same contract as [`exec::write_read`](crate::probe::exec::write_read): SET `key` to
    /// `value` with a TTL, GET it and check it with [`same_or_newer`](crate::probe::exec::same_or_newer). Each of SET and GET is bounded by
    /// `timeout` including any refresh it triggers. A MOVED that was followed (refresh and retry) is not a
    /// failure if the retry succeeds. `read_only` probes with GET alone (a missing key is ok).
    pub async fn write_read(&self, p: &WriteRead<'_>) -> ProbeResult {
        let inner = &self.inner;
        let slot = key_slot(p.key.as_bytes());
        let set = || async {
            let cmd = Cmd::Set { key: p.key, value: p.value, px: p.px() };
            inner
                .bounded(slot, &cmd, p.timeout)
                .await
                .map(|_| ())
                .map_err(|f| ProbeOutcome::failed(f.class, Op::Set, f.message))
        };
        let get = || async {
            inner
                .bounded(slot, &Cmd::Get { key: p.key }, p.timeout)
                .await
                .map_err(|f| ProbeOutcome::failed(f.class, Op::Get, f.message))
        };
        sequence(p, set, get).await
    }

    /// Deletes `keys` through the style's own routing, each bounded by `timeout`: they expire anyway.
    pub async fn delete(&self, keys: &[String], timeout: Duration) {
        for key in keys {
            let slot = key_slot(key.as_bytes());
            let Some(ep) = self.route(slot) else { continue };
            let del = async {
                let client = self.inner.router.pool.get(&ep).await.ok()?;
                crate::connect::command(&client, &["DEL", key]).await.ok()
            };
            let _ = tokio::time::timeout(timeout, del).await;
        }
    }

    /// PINGs the seeds, then the nodes of the map, until one answers within `timeout`: which one, and the round
    /// trip.
    pub async fn ping(&self, timeout: Duration) -> Option<(Endpoint, Duration)> {
        let r = &self.inner.router;
        let mut order = r.seeds.clone();
        order.extend(r.known().into_iter().filter(|e| !r.seeds.contains(e)));
        for ep in order {
            let start = Instant::now();
            let ping = async {
                let client = r.pool.get(&ep).await.ok()?;
                crate::connect::command(&client, &["PING"]).await.ok()
            };
            if let Ok(Some(_)) = tokio::time::timeout(timeout, ping).await {
                return Some((ep, start.elapsed()));
            }
        }
        None
    }

    /// Where the current map sends `slot`: the primary the style would send a key of that slot to.
    pub fn route(&self, slot: u16) -> Option<Endpoint> {
        self.inner.router.route(slot)
    }

    /// The current slot map.
    pub fn topology(&self) -> Topology {
        self.inner.router.map()
    }

    /// Per shard seen failing, one entry per failure episode saying how it recovered (or why it has not);
    /// shards of the current map that never failed are listed as `NeverFailed`. Sorted by first slot.
    pub fn recovery(&self) -> Vec<ShardRecovery> {
        let shards: Vec<Vec<SlotRange>> =
            self.topology().shards.into_iter().map(|s| s.slots).filter(|s| !s.is_empty()).collect();
        lock(&self.inner.book).snapshot(&shards)
    }

    /// Closes every connection, bounded.
    pub async fn close(&self) {
        self.inner.router.pool.close().await;
    }
}

impl Inner {
    fn ms(&self, at: Instant) -> u64 {
        self.clock.stamp_at(at).offset_ms
    }

    fn emit(&self, kind: ClientEventKind, server: Option<&Endpoint>, detail: String) {
        if let Some(tx) = &self.events {
            let _ = tx.send(Event::Client(ClientEvent {
                stamp: self.clock.now(),
                source: self.source.clone(),
                kind,
                server: server.map(Endpoint::to_string),
                detail,
            }));
        }
    }

    /// One command with everything it triggers, bounded by `timeout`.
    async fn bounded(self: &Arc<Self>, slot: u16, cmd: &Cmd<'_>, timeout: Duration) -> Result<Option<String>, Failure> {
        let call = Call { slot, cmd, started: self.ms(Instant::now()) };
        let mut in_flight: Option<Endpoint> = None;
        let run = tokio::time::timeout(timeout + SLACK, self.run(&call, &mut in_flight));
        match run.await {
            Ok(result) => result,
            Err(_) => {
                let failure = Failure::timed_out(timeout);
                // A node that had the command and did not answer is failing; a timeout spent refreshing is not
                // the routed node's fault.
                match in_flight {
                    Some(ep) => {
                        self.node_failed(&ep);
                        self.book_failure(&call, &ep, failure.class);
                        if self.style == ClientStyle::Direct {
                            self.refresh_in_background(Cause::Failure { endpoint: ep, class: failure.class });
                        }
                    }
                    None => {
                        if let Some(ep) = self.router.route(slot) {
                            self.book_failure(&call, &ep, failure.class);
                        }
                    }
                }
                Err(failure)
            }
        }
    }

    async fn run(
        self: &Arc<Self>,
        call: &Call<'_>,
        in_flight: &mut Option<Endpoint>,
    ) -> Result<Option<String>, Failure> {
        let r = &self.router;
        if let Some(after) = self.habit.as_ref().and_then(|h| h.triggers.reconnecting_for) {
            self.refresh_if_failing(call.slot, after).await;
        }
        let ep = r.route(call.slot).ok_or_else(|| Failure::unrouted(call.slot))?;
        let seen = r.generation();
        let failure = match self.attempt(call, &ep, false, in_flight).await {
            Ok(v) => return Ok(v),
            Err(f) => f,
        };
        if let Some(Redirect::Ask { to, .. }) = &failure.redirect {
            return self.attempt(call, to, true, in_flight).await;
        }
        let cause = match (&failure.redirect, self.style) {
            (Some(Redirect::Moved { .. }), _) => Cause::Moved { from: ep.clone() },
            (None, ClientStyle::Direct) if refreshes_direct(failure.class) => {
                Cause::Failure { endpoint: ep.clone(), class: failure.class }
            }
            _ => return Err(failure),
        };
        let away = is_connection_class(failure.class).then_some((&ep, call.slot));
        if self.style == ClientStyle::Direct {
            // direct acts on what it saw just now: a map installed while this command waited (a refresh for
            // another shard) does not stand in for the refresh this failure asks for.
            let seen = r.generation();
            // In a task of its own: a refresh cut short by this probe's timeout still completes for the next one.
            let inner = Arc::clone(self);
            let away = away.map(|(e, s)| (e.clone(), s));
            let refresh = tokio::spawn(async move {
                inner.refresh(cause, seen, None, away.as_ref().map(|(e, s)| (e, *s))).await;
            });
            let _ = refresh.await;
        } else {
            self.refresh(cause, seen, Some(&ep), None).await;
        }
        let next = r.route(call.slot).ok_or_else(|| Failure::unrouted(call.slot))?;
        match failure.redirect {
            // A map still behind the node that redirected: follow the redirect itself, as clients do.
            Some(Redirect::Moved { to, .. }) if next == ep && self.style == ClientStyle::Direct => {
                self.attempt(call, &to, false, in_flight).await
            }
            Some(Redirect::Moved { .. }) => self.attempt(call, &next, false, in_flight).await,
            _ if next != ep => self.attempt(call, &next, false, in_flight).await,
            _ => Err(failure),
        }
    }

    /// Sends the command to `ep` and keeps the books: node health and the shard's episode.
    async fn attempt(
        &self,
        call: &Call<'_>,
        ep: &Endpoint,
        asking: bool,
        in_flight: &mut Option<Endpoint>,
    ) -> Result<Option<String>, Failure> {
        *in_flight = Some(ep.clone());
        let fail_fast = self.style == ClientStyle::Direct;
        let result = send(&self.router, ep, call.cmd, asking, fail_fast).await;
        *in_flight = None;
        match result {
            Ok(v) => {
                self.node_answered(ep);
                lock(&self.book).success(call.slot, ep, self.ms(Instant::now()));
                Ok(v)
            }
            Err(f) => {
                if is_connection_class(f.class) {
                    self.node_failed(ep);
                } else {
                    self.node_answered(ep);
                }
                // ASK is a migration in progress, not a failure; the ASKING attempt keeps the books.
                if !matches!(f.redirect, Some(Redirect::Ask { .. })) {
                    self.book_failure(call, ep, f.class);
                }
                Err(f)
            }
        }
    }

    fn book_failure(&self, call: &Call<'_>, ep: &Endpoint, class: ErrorClass) {
        let shard = self.router.shard_slots(call.slot);
        let now = self.ms(Instant::now());
        lock(&self.book).failure(call.slot, &shard, ep, class, now, call.started);
    }

    /// Any reply, even an error reply, means the node is up: its failing streak ends.
    fn node_answered(&self, ep: &Endpoint) {
        lock(&self.router.failing).remove(ep);
    }

    /// A connection error or timeout at `ep`. A habit that nothing but a redirect moves off a silent node
    /// (moved-only) reports the node `stuck` once it has failed for `refresh_after`.
    fn node_failed(&self, ep: &Endpoint) {
        let now = Instant::now();
        let stays = self.habit.as_ref().is_some_and(|h| !h.leaves_silent_nodes());
        let stuck_for = {
            let mut failing = lock(&self.router.failing);
            let f = failing.entry(ep.clone()).or_insert_with(|| Failing::new(now));
            let failing_for = now.saturating_duration_since(f.since);
            if stays && !f.stuck_reported && failing_for >= self.refresh_after {
                f.stuck_reported = true;
                Some(failing_for)
            } else {
                None
            }
        };
        if let Some(d) = stuck_for {
            self.emit(
                ClientEventKind::Stuck,
                Some(ep),
                format!(
                    "{} keeps retrying {ep}: failing for {}, and this style refreshes its map only on MOVED",
                    self.style,
                    human(d)
                ),
            );
        }
    }

    /// reconnect-refresh (a habit with `reconnecting_for`): refreshes when the node `slot` routes to has failed
    /// for `after`, then again every `after` while it stays failing and routed to.
    async fn refresh_if_failing(&self, slot: u16, after: Duration) {
        let r = &self.router;
        let Some(ep) = r.route(slot) else { return };
        let failed_for = {
            let mut failing = lock(&r.failing);
            let Some(f) = failing.get_mut(&ep) else {
                return;
            };
            let now = Instant::now();
            let failing_for = now.saturating_duration_since(f.since);
            let due = f.last_refresh.is_none_or(|t| now.saturating_duration_since(t) >= after);
            if failing_for < after || !due {
                return;
            }
            f.last_refresh = Some(now);
            failing_for
        };
        let seen = r.generation();
        let cause = Cause::ReconnectFailures { endpoint: ep.clone(), after: failed_for };
        self.refresh(cause, seen, None, None).await;
        if r.route(slot).as_ref() == Some(&ep) {
            let first_report =
                lock(&r.failing).get_mut(&ep).is_some_and(|f| !std::mem::replace(&mut f.stuck_reported, true));
            if first_report {
                self.emit(
                    ClientEventKind::Stuck,
                    Some(&ep),
                    format!(
                        "{} keeps retrying {ep}: failing for {}, and the refreshed map still names it",
                        self.style,
                        human(failed_for)
                    ),
                );
            }
        }
    }

    /// direct: a refresh nobody waits for (the probe that wanted it timed out).
    fn refresh_in_background(self: &Arc<Self>, cause: Cause) {
        let inner = Arc::clone(self);
        let seen = self.router.generation();
        tokio::spawn(async move { inner.refresh(cause, seen, None, None).await });
    }

    /// Reads a new map and installs it; single-flight. `seen` is the map generation the caller acted on: if
    /// another refresh installed a newer map meanwhile, that one is used. direct asks every candidate at once
    /// (preferring a map that routes `away.1` off the failing `away.0`); the other styles ask the sources of
    /// their habit one after another.
    async fn refresh(&self, cause: Cause, seen: u64, first: Option<&Endpoint>, away: Option<(&Endpoint, u16)>) {
        let r = &self.router;
        let _one_at_a_time = r.refreshing.lock().await;
        if r.generation() != seen {
            return;
        }
        let candidates = match &self.habit {
            Some(h) => habit_candidates(h, first, &r.known(), &r.failing_nodes(), &r.seeds),
            None => direct_candidates(first, &r.known(), &r.seeds),
        };
        let read = if self.style == ClientStyle::Direct {
            r.read_all(&candidates, away).await
        } else {
            r.read_in_order(&candidates).await
        };
        match read {
            Some((map, from)) => self.install(map, &cause, &from),
            None => self.emit(
                ClientEventKind::TopologyResyncFailed,
                None,
                format!(
                    "{}: none of {} node(s) returned a slot map",
                    cause.describe().replacen("refreshed", "refresh", 1),
                    candidates.len()
                ),
            ),
        }
    }

    fn install(&self, map: Topology, cause: &Cause, from: &Endpoint) {
        let at_ms = self.ms(Instant::now());
        let shards = map.shards.len();
        let old = self.router.install(map);
        let changed = !topology::diff(&old, &self.router.map()).is_empty();
        {
            let how = cause.how(at_ms);
            let mut book = lock(&self.book);
            for (slot, failed_at) in book.open() {
                if self.router.route(slot).as_ref() != Some(&failed_at) {
                    book.rerouted_by(slot, how.clone());
                }
            }
        }
        // direct refreshes on every failure: only a map that changed is news.
        if changed || self.style != ClientStyle::Direct {
            self.emit(
                ClientEventKind::TopologyResync,
                Some(from),
                format!("{} (map read from {from}, {shards} shard(s))", cause.describe()),
            );
        }
    }
}
