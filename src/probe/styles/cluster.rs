//! [`EmulatedCluster`]: one probing client with the habits of a [`ClientSpec`] (anything but fred, which is
//! fred's own client). It keeps its own slot map and per-node connections ([`Router`]) and decides itself when
//! to refresh: direct by its own rule ([`super::direct`]), the others by their [`Habit`] ([`super::steer`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::habit::{fmt_exact, Habit, Tracker};
use super::pool::lock;
use super::recovery::{is_connection_class, RecoveryBook, ShardRecovery};
use super::redirect::Redirect;
use super::router::{Failing, Router};
use super::send::{send, Cmd, Failure};
use super::{ClientKind, ClientSpec, DEFAULT_REFRESH_AFTER};
use crate::clock::Clock;
use crate::connect::Factory;
use crate::duration::human;
use crate::error::{AppError, AppResult};
use crate::events::{ClientEvent, ClientEventKind, Event};
use crate::probe::exec::{sequence, ProbeResult, WriteRead};
use crate::probe::{ErrorClass, Op, ProbeOutcome};
use crate::topology::{key_slot, Endpoint, SlotRange, Topology};

/// Slack on top of the probe timeout, as [`exec::write_read`](crate::probe::exec::write_read) allows, so the
/// client's own timeout fires first when it can and the error says what the client saw.
const SLACK: Duration = Duration::from_millis(50);

/// Everything but the factory, the client and the clock.
#[derive(Debug, Clone)]
pub struct StyleOptions {
    /// node-redis 6 (`reconnect-refresh`): how long a node must fail, continuously, before the map is
    /// refreshed. A client that only a redirect moves off a silent node: how long before it is reported `stuck`.
    pub refresh_after: Duration,
    /// Where `topology_resync`, `topology_resync_failed` and `stuck` client events go.
    pub events: Option<UnboundedSender<Event>>,
    /// The `source` of those events (compare and matrix runs); empty otherwise.
    pub source: String,
}

impl Default for StyleOptions {
    fn default() -> Self {
        StyleOptions { refresh_after: DEFAULT_REFRESH_AFTER, events: None, source: String::new() }
    }
}

/// A cluster client that probes with the habits of one [`ClientSpec`]. Cheap to clone; clones share
/// connections, map and bookkeeping. Its background task (a habit's timers and connection watch) ends with
/// [`close`](Self::close) or when the last clone is dropped.
#[derive(Clone)]
pub struct EmulatedCluster {
    inner: Arc<Inner>,
    _ticker: Arc<Ticker>,
}

/// Aborts the background task when the last clone goes.
struct Ticker(Option<tokio::task::JoinHandle<()>>);

impl Drop for Ticker {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.abort();
        }
    }
}

pub(super) struct Inner {
    pub(super) client: ClientSpec,
    /// The habit behind the refreshes; `None` for direct.
    pub(super) habit: Option<Habit>,
    pub(super) refresh_after: Duration,
    pub(super) clock: Clock,
    events: Option<UnboundedSender<Event>>,
    source: String,
    pub(super) router: Router,
    pub(super) book: Mutex<RecoveryBook>,
    /// The habit's refresh bookkeeping (rate limit, map age, MOVED count).
    pub(super) tracker: Mutex<Tracker>,
    /// The last refresh got no map from a node the map named.
    pub(super) round_failed: AtomicBool,
    /// The client's randomness (shuffled sources, random nodes), advanced on every use.
    rng: AtomicU64,
    closed: AtomicBool,
}

/// One command of a probe on its way through a client.
pub(super) struct Call<'a> {
    pub(super) slot: u16,
    pub(super) cmd: &'a Cmd<'a>,
    /// When the command started (run offset, ms): failures of commands sent before a recovery are stragglers.
    pub(super) started: u64,
}

impl EmulatedCluster {
    /// Connects as `client`: loads the slot map from the factory's seeds (in order, `CLUSTER SHARDS` else
    /// `CLUSTER SLOTS`). No events are sent.
    pub async fn connect(
        factory: Arc<Factory>,
        client: &ClientSpec,
        refresh_after: Duration,
        clock: Clock,
    ) -> AppResult<Self> {
        let options = StyleOptions { refresh_after, ..StyleOptions::default() };
        Self::connect_with(factory, client, clock, options).await
    }

    /// [`connect`](Self::connect) with an event channel and source name. `fred` is no client of this kind: it
    /// probes through fred's own cluster client ([`crate::probe::engine::FredProber`]).
    pub async fn connect_with(
        factory: Arc<Factory>,
        client: &ClientSpec,
        clock: Clock,
        options: StyleOptions,
    ) -> AppResult<Self> {
        let habit = match &client.kind {
            ClientKind::Fred => {
                return Err(AppError::BadInput(format!("--client {client} probes through fred's own cluster client")))
            }
            ClientKind::Real(_) => {
                return Err(AppError::BadInput(format!("--client {client} probes through the library itself")))
            }
            ClientKind::Direct => None,
            ClientKind::Emulated(h) => {
                let mut h = (**h).clone();
                // --refresh-after is the user's own node-redis 6 setting.
                if h.triggers.reconnecting_for.is_some_and(|d| d != options.refresh_after)
                    && options.refresh_after != DEFAULT_REFRESH_AFTER
                {
                    h.triggers.reconnecting_for = Some(options.refresh_after);
                    h.overrides.push(("reconnecting-for".into(), fmt_exact(options.refresh_after)));
                }
                Some(h)
            }
        };
        let router = Router::connect(factory).await?;
        let ticks = habit.is_some();
        let inner = Arc::new(Inner {
            client: client.clone(),
            habit,
            refresh_after: options.refresh_after,
            clock,
            events: options.events,
            source: options.source,
            router,
            book: Mutex::new(RecoveryBook::default()),
            tracker: Mutex::new(Tracker::new(clock.elapsed())),
            round_failed: AtomicBool::new(false),
            rng: AtomicU64::new(clock.origin().elapsed().as_nanos() as u64 ^ 0x5DEE_CE66),
            closed: AtomicBool::new(false),
        });
        let ticker = ticks.then(|| tokio::spawn(Arc::clone(&inner).watch_connections()));
        Ok(EmulatedCluster { inner, _ticker: Arc::new(Ticker(ticker)) })
    }

    /// The client this emulates.
    pub fn client(&self) -> &ClientSpec {
        &self.inner.client
    }

    /// The client habit behind the refreshes (`None` for direct).
    pub fn habit(&self) -> Option<&Habit> {
        self.inner.habit.as_ref()
    }

    /// One probe, with the same contract as [`exec::write_read`](crate::probe::exec::write_read): SET `key` to
    /// `value` with a TTL, GET it and check it with [`same_or_newer`](crate::probe::exec::same_or_newer). Each
    /// of SET and GET is bounded by `timeout` (or the client's own, shorter, command timeout) including any
    /// refresh and retry it triggers. A redirect that was followed is not a failure if the retry succeeds.
    /// `read_only` probes with GET alone (a missing key is ok).
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

    /// Deletes `keys` through the client's own routing, each bounded by `timeout`: they expire anyway.
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
        let mut order = r.seeds();
        order.extend(r.known().into_iter().filter(|e| !order.contains(e)).collect::<Vec<_>>());
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

    /// Where the current map sends `slot`: the primary the client would send a key of that slot to.
    pub fn route(&self, slot: u16) -> Option<Endpoint> {
        self.inner.router.route(slot)
    }

    /// The current slot map.
    pub fn topology(&self) -> Topology {
        self.inner.router.map()
    }

    /// The seeds the client holds now (a client with dynamic startup nodes replaces them with what it found).
    pub fn seeds(&self) -> Vec<Endpoint> {
        self.inner.router.seeds()
    }

    /// Per shard seen failing, one entry per failure episode saying how it recovered (or why it has not);
    /// shards of the current map that never failed are listed as `NeverFailed`. Sorted by first slot.
    pub fn recovery(&self) -> Vec<ShardRecovery> {
        let shards: Vec<Vec<SlotRange>> =
            self.topology().shards.into_iter().map(|s| s.slots).filter(|s| !s.is_empty()).collect();
        lock(&self.inner.book).snapshot(&shards)
    }

    /// Stops the background task and closes every connection, bounded.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.router.pool.close().await;
    }
}

impl Inner {
    pub(super) fn ms(&self, at: Instant) -> u64 {
        self.clock.stamp_at(at).offset_ms
    }

    /// Now, as an offset on the run's clock (the tracker's time).
    pub(super) fn offset(&self) -> Duration {
        self.clock.elapsed()
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// The next random number of this client.
    pub(super) fn roll(&self) -> u64 {
        self.rng.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
    }

    pub(super) fn emit(&self, kind: ClientEventKind, server: Option<&Endpoint>, detail: String) {
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

    /// One command with everything it triggers, bounded by `timeout` (or the habit's shorter command timeout).
    async fn bounded(self: &Arc<Self>, slot: u16, cmd: &Cmd<'_>, timeout: Duration) -> Result<Option<String>, Failure> {
        let call = Call { slot, cmd, started: self.ms(Instant::now()) };
        let bound = match self.habit.as_ref().and_then(|h| h.connections.command_timeout) {
            Some(own) => own.min(timeout),
            None => timeout,
        };
        let mut in_flight: Option<(Endpoint, Instant)> = None;
        let run = async {
            match self.habit {
                None => self.run_direct(&call, &mut in_flight).await,
                Some(_) => self.run_habit(&call, &mut in_flight).await,
            }
        };
        match tokio::time::timeout(bound + SLACK, run).await {
            Ok(result) => result,
            Err(_) => {
                let failure = Failure::timed_out(bound);
                // A node that had the command for a good part of the bound and did not answer is failing; a
                // timeout spent refreshing, waiting or retrying elsewhere is not the last node's fault.
                let blamed = in_flight.filter(|(_, since)| since.elapsed() >= bound / 2).map(|(ep, _)| ep);
                match blamed {
                    Some(ep) => {
                        self.node_failed(&ep, false);
                        self.book_failure(&call, &ep, failure.class);
                        self.timed_out_at(&ep, failure.class);
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

    /// Sends the command to `ep` and keeps the books: node health and the shard's episode. `fail_fast`: a
    /// connection that is down fails the command at once instead of queueing it until the reconnect.
    pub(super) async fn attempt(
        &self,
        call: &Call<'_>,
        ep: &Endpoint,
        asking: bool,
        fail_fast: bool,
        in_flight: &mut Option<(Endpoint, Instant)>,
    ) -> Result<Option<String>, Failure> {
        *in_flight = Some((ep.clone(), Instant::now()));
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
                    self.node_failed(ep, false);
                } else {
                    self.node_answered(ep);
                }
                // ASK is a migration in progress, not a failure; the ASKING attempt keeps the books. A MOVED
                // opens an episode that the retry closes, saying how the client learnt the new owner.
                if !matches!(f.redirect, Some(Redirect::Ask { .. })) {
                    self.book_failure(call, ep, f.class);
                }
                Err(f)
            }
        }
    }

    pub(super) fn book_failure(&self, call: &Call<'_>, ep: &Endpoint, class: ErrorClass) {
        let shard = self.router.shard_slots(call.slot);
        let now = self.ms(Instant::now());
        lock(&self.book).failure(call.slot, &shard, ep, class, now, call.started);
    }

    /// Any reply, even an error reply, means the node is up: its failing streak ends.
    pub(super) fn node_answered(&self, ep: &Endpoint) {
        lock(&self.router.failing).remove(ep);
    }

    /// A connection error or timeout at `ep` (`disconnected`: its connection was seen down). Returns whether
    /// this starts a failing streak. A habit that nothing but a redirect moves off a silent node reports the
    /// node `stuck` once it has failed for `refresh_after`.
    pub(super) fn node_failed(&self, ep: &Endpoint, disconnected: bool) -> bool {
        let now = Instant::now();
        let stays = self.habit.as_ref().is_some_and(|h| !h.leaves_silent_nodes());
        let (new, stuck_for) = {
            let mut failing = lock(&self.router.failing);
            let new = !failing.contains_key(ep);
            let f = failing.entry(ep.clone()).or_insert_with(|| Failing::new(now));
            f.disconnected |= disconnected;
            let failing_for = now.saturating_duration_since(f.since);
            if stays && !f.stuck_reported && failing_for >= self.refresh_after {
                f.stuck_reported = true;
                (new, Some(failing_for))
            } else {
                (new, None)
            }
        };
        if let Some(d) = stuck_for {
            self.emit(
                ClientEventKind::Stuck,
                Some(ep),
                format!(
                    "{} keeps retrying {ep}: failing for {}, and it refreshes its map only on a redirect",
                    self.client,
                    human(d)
                ),
            );
        }
        new
    }

    /// Whether `ep` is failing now.
    pub(super) fn is_failing(&self, ep: &Endpoint) -> bool {
        lock(&self.router.failing).contains_key(ep)
    }

    /// Since when `ep` has been failing, if it is.
    pub(super) fn failing_for(&self, ep: &Endpoint) -> Option<Duration> {
        lock(&self.router.failing).get(ep).map(|f| f.since.elapsed())
    }

    /// A command whose node did not answer within its bound.
    fn timed_out_at(self: &Arc<Self>, ep: &Endpoint, class: ErrorClass) {
        match self.habit {
            None => self.refresh_in_background(super::policy::Cause::Failure { endpoint: ep.clone(), class }),
            Some(_) => self.after_timeout(ep),
        }
    }
}
