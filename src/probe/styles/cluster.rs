//! [`EmulatedCluster`]: one probing client with the habits of a [`ClientStyle`]. The emulated styles keep
//! their own slot map and per-node connections and decide themselves when to refresh; the fred style wraps
//! fred's cluster client so every style answers the same questions (route, map, recovery).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use fred::prelude::*;
use fred::types::{ClusterHash, CustomCommand, Expiration};
use tokio::sync::mpsc::UnboundedSender;

use super::pool::{lock, NodePool};
use super::recovery::{is_connection_class, RecoveryBook, RecoveryHow, ShardRecovery};
use super::redirect::{parse_redirect, Redirect};
use super::{ClientStyle, DEFAULT_REFRESH_AFTER};
use crate::cli::Mode;
use crate::clock::Clock;
use crate::connect::{Connection, Factory};
use crate::duration::human;
use crate::errfmt::fred_error;
use crate::error::{AppError, AppResult};
use crate::events::{ClientEvent, Event};
use crate::inspect;
use crate::probe::exec::{self, same_or_newer, ProbeResult};
use crate::probe::{classify, classify_message, ErrorClass, Op, ProbeOutcome};
use crate::topology::{key_slot, merge, Endpoint, Role, Shard, ShardNode, SlotRange, Topology};

/// Slack on top of the probe timeout, as [`exec::write_read`] allows, so the client's own timeout fires
/// first when it can and the error says what the client saw.
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
    refresh_after: Duration,
    clock: Clock,
    events: Option<UnboundedSender<Event>>,
    source: String,
    backend: Backend,
    book: Mutex<RecoveryBook>,
}

enum Backend {
    Fred(Connection),
    Own(Box<Router>),
}

/// The state of an emulated style: slot map, per-node connections, node health.
struct Router {
    pool: Arc<NodePool>,
    seeds: Vec<Endpoint>,
    /// Bound of each node asked during a refresh.
    ask_timeout: Duration,
    map: RwLock<Topology>,
    /// Bumped at each installed map, so operations that queued for a refresh can tell one happened.
    generation: AtomicU64,
    refreshing: tokio::sync::Mutex<()>,
    failing: Mutex<HashMap<Endpoint, Failing>>,
}

/// A node failing since `since`, with no answer in between.
struct Failing {
    since: Instant,
    last_refresh: Option<Instant>,
    stuck_reported: bool,
}

/// Why a refresh was made.
enum Cause {
    Moved { from: Endpoint },
    ReconnectFailures { endpoint: Endpoint, after: Duration },
}

impl Cause {
    fn describe(&self) -> String {
        match self {
            Cause::Moved { from } => format!("refreshed on MOVED from {from}"),
            Cause::ReconnectFailures { endpoint, after } => {
                format!("refreshed after {endpoint} failed for {}", human(*after))
            }
        }
    }
}

/// A failed command, as the emulated client sees it.
#[derive(Debug, Clone)]
struct Failure {
    class: ErrorClass,
    message: String,
    redirect: Option<Redirect>,
}

impl Failure {
    fn from_fred(err: &fred::error::Error, node: &Endpoint) -> Self {
        Failure { class: classify(err), message: fred_error(err), redirect: parse_redirect(err.details(), node) }
    }

    /// A per-node connection that could not be made.
    fn from_connect(err: &AppError) -> Self {
        let message = err.to_string();
        let class = match err {
            AppError::Auth(_) => ErrorClass::Auth,
            _ => match classify_message(&message) {
                ErrorClass::Other if message.contains("did not answer") => ErrorClass::Timeout,
                ErrorClass::Other => ErrorClass::ConnectionClosed,
                class => class,
            },
        };
        Failure { class, message, redirect: None }
    }

    fn timed_out(timeout: Duration) -> Self {
        Failure { class: ErrorClass::Timeout, message: format!("no answer within {}", human(timeout)), redirect: None }
    }
}

/// One command of a probe on its way through an emulated style.
struct Call<'a> {
    r: &'a Router,
    slot: u16,
    cmd: &'a Cmd<'a>,
    /// When the command started (run offset, ms): failures of commands sent before a recovery are stragglers.
    started: u64,
}

enum Cmd<'a> {
    Set { key: &'a str, value: &'a str, px: i64 },
    Get { key: &'a str },
}

impl EmulatedCluster {
    /// Connects with `style`: fred's cluster client for [`ClientStyle::Fred`], else loads the slot map from
    /// the factory's seeds (in order, `CLUSTER SHARDS` else `CLUSTER SLOTS`). No events are sent.
    pub async fn connect(
        factory: Arc<Factory>,
        style: ClientStyle,
        refresh_after: Duration,
        clock: Clock,
    ) -> AppResult<Self> {
        let options = StyleOptions { refresh_after, ..StyleOptions::default() };
        Self::connect_with(factory, style, clock, options).await
    }

    /// [`connect`](Self::connect) with an event channel and source name.
    pub async fn connect_with(
        factory: Arc<Factory>,
        style: ClientStyle,
        clock: Clock,
        options: StyleOptions,
    ) -> AppResult<Self> {
        let backend = match style {
            ClientStyle::Fred => {
                let factory = if factory.target().mode == Mode::OssCluster {
                    factory
                } else {
                    let mut target = factory.target().clone();
                    target.mode = Mode::OssCluster;
                    Arc::new(Factory::new(target)?)
                };
                Backend::Fred(factory.connect().await?)
            }
            ClientStyle::MovedOnly | ClientStyle::ReconnectRefresh => {
                Backend::Own(Box::new(Router::connect(factory).await?))
            }
        };
        Ok(EmulatedCluster {
            inner: Arc::new(Inner {
                style,
                refresh_after: options.refresh_after,
                clock,
                events: options.events,
                source: options.source,
                backend,
                book: Mutex::new(RecoveryBook::default()),
            }),
        })
    }

    /// The style this client emulates.
    pub fn style(&self) -> ClientStyle {
        self.inner.style
    }

    /// The fred connection behind the fred style (to forward fred's own events); `None` for emulated styles.
    pub fn fred_connection(&self) -> Option<&Connection> {
        match &self.inner.backend {
            Backend::Fred(conn) => Some(conn),
            Backend::Own(_) => None,
        }
    }

    /// One probe, with the same contract as [`exec::write_read`]: SET `key` to `value` with a TTL, GET it and
    /// check it with [`same_or_newer`]. Each of SET and GET is bounded by `timeout` including any refresh it
    /// triggers. A MOVED that was followed (refresh and retry) is not a failure if the retry succeeds.
    pub async fn write_read(&self, key: &str, value: &str, ttl: Duration, timeout: Duration) -> ProbeResult {
        match &self.inner.backend {
            Backend::Fred(conn) => self.inner.fred_write_read(conn, key, value, ttl, timeout).await,
            Backend::Own(r) => self.inner.own_write_read(r, key, value, ttl, timeout).await,
        }
    }

    /// Where the current map sends `slot`: the primary the style would send a key of that slot to.
    pub fn route(&self, slot: u16) -> Option<Endpoint> {
        self.inner.route(slot)
    }

    /// The current slot map, for planning targets (fred: primaries only, from its cached routing table).
    pub fn topology(&self) -> Topology {
        self.inner.topology()
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
        match &self.inner.backend {
            Backend::Fred(conn) => conn.close().await,
            Backend::Own(r) => r.pool.close().await,
        }
    }
}

impl Router {
    /// Loads the map from the seeds, in order, over direct connections.
    async fn connect(factory: Arc<Factory>) -> AppResult<Router> {
        let seeds = factory.target().seeds.clone();
        let ask_timeout = factory.target().timeout;
        let pool = NodePool::new(factory);
        let mut last = None;
        for seed in &seeds {
            match initial_map(&pool, seed, ask_timeout).await {
                Ok(map) => {
                    return Ok(Router {
                        pool,
                        seeds,
                        ask_timeout,
                        map: RwLock::new(map),
                        generation: AtomicU64::new(0),
                        refreshing: tokio::sync::Mutex::new(()),
                        failing: Mutex::new(HashMap::new()),
                    })
                }
                Err(e @ (AppError::Auth(_) | AppError::WrongMode(_) | AppError::BadInput(_))) => {
                    pool.close().await;
                    return Err(e);
                }
                Err(e) => last = Some(e),
            }
        }
        pool.close().await;
        Err(last.unwrap_or_else(|| AppError::BadInput("no seed endpoint given".into())))
    }

    fn route(&self, slot: u16) -> Option<Endpoint> {
        read(&self.map).primary_for_slot(slot).map(|n| n.endpoint.clone())
    }

    fn shard_slots(&self, slot: u16) -> Vec<SlotRange> {
        read(&self.map).shard_for_slot(slot).map(|s| s.slots.clone()).unwrap_or_default()
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

async fn initial_map(pool: &Arc<NodePool>, seed: &Endpoint, bound: Duration) -> AppResult<Topology> {
    let client = pool.get(seed).await?;
    match tokio::time::timeout(bound * 3, inspect::read_topology(&client)).await {
        Ok(Ok((map, _))) if map.covered_slots() > 0 => Ok(map),
        Ok(Ok(_)) => Err(AppError::Connect(format!("{seed} reports no slots: is the cluster set up?"))),
        Ok(Err(e)) if e.details().to_ascii_lowercase().contains("cluster support disabled") => {
            Err(AppError::WrongMode(format!(
                "{seed} is not a cluster node (cluster support disabled): client styles emulate cluster clients"
            )))
        }
        Ok(Err(e)) => Err(AppError::Connect(format!("reading the slot map from {seed} failed: {}", fred_error(&e)))),
        Err(_) => {
            Err(AppError::Connect(format!("{seed} did not answer CLUSTER SHARDS/SLOTS within {}", human(bound * 3))))
        }
    }
}

impl Inner {
    fn ms(&self, at: Instant) -> u64 {
        self.clock.stamp_at(at).offset_ms
    }

    fn emit(&self, kind: &str, server: Option<&Endpoint>, detail: String) {
        if let Some(tx) = &self.events {
            let _ = tx.send(Event::Client(ClientEvent {
                stamp: self.clock.now(),
                source: self.source.clone(),
                kind: kind.to_string(),
                server: server.map(Endpoint::to_string),
                detail,
            }));
        }
    }

    fn route(&self, slot: u16) -> Option<Endpoint> {
        match &self.backend {
            Backend::Fred(conn) => conn.client.cached_cluster_state().and_then(|s| s.get_server(slot).map(endpoint_of)),
            Backend::Own(r) => r.route(slot),
        }
    }

    fn topology(&self) -> Topology {
        match &self.backend {
            Backend::Fred(conn) => fred_topology(&conn.client),
            Backend::Own(r) => read(&r.map).clone(),
        }
    }

    // ---- fred ----

    async fn fred_write_read(
        &self,
        conn: &Connection,
        key: &str,
        value: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> ProbeResult {
        let slot = key_slot(key.as_bytes());
        let before = self.route(slot);
        let started = self.ms(Instant::now());
        let result = exec::write_read(&conn.client, key, value, ttl, timeout, false).await;
        let now = self.ms(Instant::now());
        match result.outcome.class() {
            None => {
                if let Some(ep) = self.route(slot) {
                    lock(&self.book).success(slot, &ep, now);
                }
            }
            Some(class) => {
                if let Some(ep) = before.or_else(|| self.route(slot)) {
                    let shard = self.topology().shard_for_slot(slot).map(|s| s.slots.clone()).unwrap_or_default();
                    lock(&self.book).failure(slot, &shard, &ep, class, now, started);
                }
            }
        }
        result
    }

    // ---- emulated styles ----

    async fn own_write_read(
        &self,
        r: &Router,
        key: &str,
        value: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> ProbeResult {
        let slot = key_slot(key.as_bytes());
        let mut result = ProbeResult { outcome: ProbeOutcome::Ok, set_latency: None, get_latency: None, read: None };
        let px = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        let start = Instant::now();
        let set = Cmd::Set { key, value, px };
        match self.bounded(r, slot, &set, timeout).await {
            Ok(_) => result.set_latency = Some(start.elapsed()),
            Err(f) => {
                result.outcome = ProbeOutcome::failed(f.class, Op::Set, f.message);
                return result;
            }
        }
        let start = Instant::now();
        match self.bounded(r, slot, &Cmd::Get { key }, timeout).await {
            Ok(got) => {
                result.get_latency = Some(start.elapsed());
                if !same_or_newer(value, got.as_deref()) {
                    result.outcome = ProbeOutcome::wrong_value(value, got.as_deref());
                    result.read = got.clone();
                }
            }
            Err(f) => result.outcome = ProbeOutcome::failed(f.class, Op::Get, f.message),
        }
        result
    }

    /// One command with everything it triggers, bounded by `timeout`.
    async fn bounded(
        &self,
        r: &Router,
        slot: u16,
        cmd: &Cmd<'_>,
        timeout: Duration,
    ) -> Result<Option<String>, Failure> {
        let call = Call { r, slot, cmd, started: self.ms(Instant::now()) };
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
                        self.node_failed(r, &ep);
                        self.book_failure(&call, &ep, failure.class);
                    }
                    None => {
                        if let Some(ep) = r.route(slot) {
                            self.book_failure(&call, &ep, failure.class);
                        }
                    }
                }
                Err(failure)
            }
        }
    }

    async fn run(&self, call: &Call<'_>, in_flight: &mut Option<Endpoint>) -> Result<Option<String>, Failure> {
        let r = call.r;
        if self.style == ClientStyle::ReconnectRefresh {
            self.refresh_if_failing(r, call.slot).await;
        }
        let ep = route_or_fail(r, call.slot)?;
        let failure = match self.attempt(call, &ep, false, in_flight).await {
            Ok(v) => return Ok(v),
            Err(f) => f,
        };
        match failure.redirect {
            Some(Redirect::Moved { .. }) => {
                let seen = r.generation();
                self.refresh(r, Cause::Moved { from: ep.clone() }, seen, Some(&ep)).await;
                let ep = route_or_fail(r, call.slot)?;
                self.attempt(call, &ep, false, in_flight).await
            }
            Some(Redirect::Ask { to, .. }) => self.attempt(call, &to, true, in_flight).await,
            None => Err(failure),
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
        let r = call.r;
        *in_flight = Some(ep.clone());
        let result = send(r, ep, call.cmd, asking).await;
        *in_flight = None;
        match result {
            Ok(v) => {
                self.node_answered(r, ep);
                lock(&self.book).success(call.slot, ep, self.ms(Instant::now()));
                Ok(v)
            }
            Err(f) => {
                if is_connection_class(f.class) {
                    self.node_failed(r, ep);
                } else {
                    self.node_answered(r, ep);
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
        let shard = call.r.shard_slots(call.slot);
        let now = self.ms(Instant::now());
        lock(&self.book).failure(call.slot, &shard, ep, class, now, call.started);
    }

    /// Any reply, even an error reply, means the node is up: its failing streak ends.
    fn node_answered(&self, r: &Router, ep: &Endpoint) {
        lock(&r.failing).remove(ep);
    }

    /// A connection error or timeout at `ep`. moved-only reports the node `stuck` once it has failed for
    /// `refresh_after`, since nothing but a MOVED will ever move it away.
    fn node_failed(&self, r: &Router, ep: &Endpoint) {
        let now = Instant::now();
        let stuck_for = {
            let mut failing = lock(&r.failing);
            let f =
                failing.entry(ep.clone()).or_insert(Failing { since: now, last_refresh: None, stuck_reported: false });
            let failing_for = now.saturating_duration_since(f.since);
            if self.style == ClientStyle::MovedOnly && !f.stuck_reported && failing_for >= self.refresh_after {
                f.stuck_reported = true;
                Some(failing_for)
            } else {
                None
            }
        };
        if let Some(d) = stuck_for {
            self.emit(
                "stuck",
                Some(ep),
                format!(
                    "moved-only keeps retrying {ep}: failing for {}, and this style refreshes its map only on MOVED/ASK",
                    human(d)
                ),
            );
        }
    }

    /// reconnect-refresh: refreshes when the node `slot` routes to has failed for `refresh_after`, then again
    /// every `refresh_after` while it stays failing and routed to.
    async fn refresh_if_failing(&self, r: &Router, slot: u16) {
        let Some(ep) = r.route(slot) else { return };
        let after = {
            let mut failing = lock(&r.failing);
            let Some(f) = failing.get_mut(&ep) else {
                return;
            };
            let now = Instant::now();
            let failing_for = now.saturating_duration_since(f.since);
            let due = f.last_refresh.is_none_or(|t| now.saturating_duration_since(t) >= self.refresh_after);
            if failing_for < self.refresh_after || !due {
                return;
            }
            f.last_refresh = Some(now);
            failing_for
        };
        let seen = r.generation();
        let cause = Cause::ReconnectFailures { endpoint: ep.clone(), after };
        self.refresh(r, cause, seen, None).await;
        if r.route(slot).as_ref() == Some(&ep) {
            let first_report =
                lock(&r.failing).get_mut(&ep).is_some_and(|f| !std::mem::replace(&mut f.stuck_reported, true));
            if first_report {
                self.emit(
                    "stuck",
                    Some(&ep),
                    format!(
                        "reconnect-refresh keeps retrying {ep}: failing for {}, and the refreshed map still names it",
                        human(after)
                    ),
                );
            }
        }
    }

    /// Reads a new map from one node after another until one answers; single-flight. `seen` is the map
    /// generation the caller acted on: if another refresh installed a newer map meanwhile, that one is used.
    async fn refresh(&self, r: &Router, cause: Cause, seen: u64, first: Option<&Endpoint>) {
        let _one_at_a_time = r.refreshing.lock().await;
        if r.generation() != seen {
            return;
        }
        let candidates = self.candidates(r, first);
        for ep in &candidates {
            let ask = async {
                let client = r.pool.get(ep).await.ok()?;
                inspect::read_topology(&client).await.ok()
            };
            if let Ok(Some((map, _))) = tokio::time::timeout(r.ask_timeout, ask).await {
                if map.covered_slots() > 0 {
                    self.install(r, map, &cause, ep);
                    return;
                }
            }
        }
        self.emit(
            "topology_resync_failed",
            None,
            format!(
                "{}: none of {} node(s) returned a slot map",
                cause.describe().replacen("refreshed", "refresh", 1),
                candidates.len()
            ),
        );
    }

    /// Who a refresh asks, in order. moved-only: the node that answered MOVED, then every other node it
    /// knows, then the seeds. reconnect-refresh: the known nodes that are not failing, then the seeds.
    fn candidates(&self, r: &Router, first: Option<&Endpoint>) -> Vec<Endpoint> {
        let failing: BTreeSet<Endpoint> = lock(&r.failing).keys().cloned().collect();
        let known = read(&r.map).endpoints();
        let mut out: Vec<Endpoint> = Vec::new();
        let mut push = |ep: &Endpoint| {
            if !out.contains(ep) {
                out.push(ep.clone());
            }
        };
        if let Some(ep) = first {
            push(ep);
        }
        for ep in &known {
            if self.style == ClientStyle::MovedOnly || !failing.contains(ep) {
                push(ep);
            }
        }
        for ep in &r.seeds {
            push(ep);
        }
        out
    }

    fn install(&self, r: &Router, map: Topology, cause: &Cause, from: &Endpoint) {
        let now = Instant::now();
        let at_ms = self.ms(now);
        let shards = map.shards.len();
        let mut keep: BTreeSet<Endpoint> = map.endpoints().into_iter().collect();
        keep.extend(r.seeds.iter().cloned());
        *write(&r.map) = map;
        r.generation.fetch_add(1, Ordering::SeqCst);
        let how = match cause {
            Cause::Moved { from } => RecoveryHow::RefreshedOnMoved { from: from.clone(), at_ms },
            Cause::ReconnectFailures { endpoint, after } => RecoveryHow::RefreshedAfterReconnectFailures {
                endpoint: endpoint.clone(),
                after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
                at_ms,
            },
        };
        {
            let mut book = lock(&self.book);
            for (slot, failed_at) in book.open() {
                if r.route(slot).as_ref() != Some(&failed_at) {
                    book.rerouted_by(slot, how.clone());
                }
            }
        }
        // Connections to nodes that left the map are closed, as cluster clients do.
        r.pool.retain(&keep);
        lock(&r.failing).retain(|ep, _| keep.contains(ep));
        self.emit(
            "topology_resync",
            Some(from),
            format!("{} (map read from {from}, {shards} shard(s))", cause.describe()),
        );
    }
}

fn route_or_fail(r: &Router, slot: u16) -> Result<Endpoint, Failure> {
    r.route(slot).ok_or_else(|| Failure {
        class: ErrorClass::ClusterDown,
        message: format!("slot {slot} has no owner in the client's slot map"),
        redirect: None,
    })
}

async fn send(r: &Router, ep: &Endpoint, cmd: &Cmd<'_>, asking: bool) -> Result<Option<String>, Failure> {
    let client = r.pool.get(ep).await.map_err(|e| Failure::from_connect(&e))?;
    let result = if asking {
        asking_then(&client, cmd).await
    } else {
        match *cmd {
            Cmd::Set { key, value, px } => {
                client.set::<(), _, _>(key, value, Some(Expiration::PX(px)), None, false).await.map(|()| None)
            }
            Cmd::Get { key } => client.get::<Option<String>, _>(key).await,
        }
    };
    result.map_err(|e| Failure::from_fred(&e, ep))
}

/// `ASKING` and the command, pipelined so no other command of this connection slips in between.
async fn asking_then(client: &Client, cmd: &Cmd<'_>) -> Result<Option<String>, fred::error::Error> {
    let pipeline = client.pipeline();
    let asking = CustomCommand::new_static("ASKING", ClusterHash::FirstKey, false);
    pipeline.custom::<(), Vec<String>>(asking, Vec::new()).await?;
    match *cmd {
        Cmd::Set { key, value, px } => {
            pipeline.set::<(), _, _>(key, value, Some(Expiration::PX(px)), None, false).await?
        }
        Cmd::Get { key } => pipeline.get::<(), _>(key).await?,
    }
    let last = pipeline.try_all::<Value>().await.pop().unwrap_or_else(|| Ok(Value::Null))?;
    match last {
        Value::Null | Value::Queued => Ok(None),
        other => Ok(other.as_string()),
    }
}

fn endpoint_of(server: &Server) -> Endpoint {
    Endpoint::new(server.host.to_string(), server.port)
}

/// fred's cached routing table as a [`Topology`] of primaries.
fn fred_topology(client: &Client) -> Topology {
    let Some(state) = client.cached_cluster_state() else {
        return Topology::default();
    };
    let mut by_primary: BTreeMap<Endpoint, (String, Vec<SlotRange>)> = BTreeMap::new();
    for range in state.slots() {
        let entry = by_primary.entry(endpoint_of(&range.primary)).or_insert_with(|| (range.id.to_string(), Vec::new()));
        entry.1.push(SlotRange::new(range.start, range.end));
    }
    let mut shards: Vec<Shard> = by_primary
        .into_iter()
        .map(|(endpoint, (id, slots))| Shard {
            slots: merge(&slots),
            primary: ShardNode {
                id: Some(id).filter(|i| !i.is_empty()),
                endpoint,
                hostname: None,
                role: Role::Primary,
                health: None,
                replication_offset: None,
            },
            replicas: Vec::new(),
        })
        .collect();
    shards.sort_by_key(|s| s.slots.first().map(|r| r.start));
    Topology::from_shards(shards, None)
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_failures_are_classified() {
        let refused = AppError::Connect("cannot connect to 127.0.0.1:1: connection refused".into());
        assert_eq!(Failure::from_connect(&refused).class, ErrorClass::ConnectionRefused);
        let slow = AppError::Connect("127.0.0.1:1 did not answer within 3.5s".into());
        assert_eq!(Failure::from_connect(&slow).class, ErrorClass::Timeout);
        let auth = AppError::Auth("authentication failed at x".into());
        assert_eq!(Failure::from_connect(&auth).class, ErrorClass::Auth);
        let other = AppError::Connect("cannot connect to x: boom".into());
        assert_eq!(Failure::from_connect(&other).class, ErrorClass::ConnectionClosed);
    }

    #[test]
    fn moved_errors_carry_their_redirect() {
        let err = fred::error::Error::new(fred::error::ErrorKind::Cluster, "MOVED 3999 127.0.0.1:7004");
        let f = Failure::from_fred(&err, &Endpoint::new("127.0.0.1", 7001));
        assert_eq!(f.class, ErrorClass::Moved);
        assert_eq!(f.redirect, Some(Redirect::Moved { slot: 3999, to: Endpoint::new("127.0.0.1", 7004) }));
    }

    #[test]
    fn causes_describe_themselves() {
        let moved = Cause::Moved { from: Endpoint::new("127.0.0.1", 7001) };
        assert_eq!(moved.describe(), "refreshed on MOVED from 127.0.0.1:7001");
        let rr =
            Cause::ReconnectFailures { endpoint: Endpoint::new("127.0.0.1", 7002), after: Duration::from_millis(2100) };
        assert!(rr.describe().starts_with("refreshed after 127.0.0.1:7002 failed for "));
    }
}
