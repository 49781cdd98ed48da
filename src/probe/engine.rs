//! The probe engine: ticks at fixed times, one probe per target per tick (overlaps allowed and counted), the
//! client's own events and a topology watcher, all sent down one event channel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::prelude::*;
use tokio::sync::{mpsc::UnboundedSender, watch};
use tokio::task::JoinSet;

use super::exec;
use super::targets::{self, ProbeTarget};
use crate::clock::Clock;
use crate::connect::Connection;
use crate::events::{ClientEvent, ClientEventKind, Event, ProbeEvent};
use crate::inspect;
use crate::mode::Mode;
use crate::topology::{self, Topology};

/// How the engine probes.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Group name for compare runs; empty otherwise.
    pub source: String,
    /// Time between ticks.
    pub interval: Duration,
    /// How long to probe.
    pub duration: Duration,
    /// Bound of each SET and GET.
    pub timeout: Duration,
    /// TTL of probe keys.
    pub ttl: Duration,
    /// GET only.
    pub read_only: bool,
    /// Probe key prefix.
    pub prefix: String,
    /// This run's id (part of every key).
    pub run_id: String,
    /// How often the topology watcher polls (oss-cluster).
    pub topology_interval: Duration,
}

/// What the scheduler itself measured.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ScheduleStats {
    /// Ticks that were due.
    pub ticks: u64,
    /// Probes sent.
    pub probes_sent: u64,
    /// Probes started while the previous probe of the same target was still in flight.
    pub overlapping: u64,
    /// Most probes in flight at once.
    pub max_in_flight: u64,
    /// 99th percentile of how late a tick started (ms).
    pub lateness_p99_ms: f64,
    /// Worst tick lateness (ms).
    pub lateness_max_ms: f64,
}

/// Plans the targets for a connection: per shard in oss-cluster mode, else `keys` keys on the endpoint.
pub async fn plan(
    conn: &Connection,
    seed: &crate::topology::Endpoint,
    keys: usize,
    cfg: &EngineConfig,
) -> (Vec<ProbeTarget>, Option<Topology>) {
    if conn.mode == Mode::OssCluster {
        if let Ok((topo, _)) = inspect::read_topology(&conn.client).await {
            let t = targets::for_cluster(&topo, &cfg.prefix, &cfg.run_id);
            if !t.is_empty() {
                return (t, Some(topo));
            }
        }
    }
    (targets::for_endpoint(seed, keys, &cfg.prefix, &cfg.run_id), None)
}

/// Something that can run one probe and say where a key is routed: fred's client, or an emulated client style.
#[async_trait::async_trait]
pub trait Prober: Send + Sync + 'static {
    /// SET then GET of `key`, as [`exec::write_read`].
    async fn write_read(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
        timeout: Duration,
        read_only: bool,
    ) -> exec::ProbeResult;
    /// The node each target's key is routed to now, where known.
    fn routes(&self, targets: &[ProbeTarget]) -> Vec<Option<String>>;
}

/// fred's own client as a prober.
pub struct FredProber(pub Connection);

#[async_trait::async_trait]
impl Prober for FredProber {
    async fn write_read(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
        timeout: Duration,
        read_only: bool,
    ) -> exec::ProbeResult {
        exec::write_read(&self.0.client, key, value, ttl, timeout, read_only).await
    }

    fn routes(&self, targets: &[ProbeTarget]) -> Vec<Option<String>> {
        routes_for(&self.0, targets)
    }
}

#[async_trait::async_trait]
impl Prober for super::styles::EmulatedCluster {
    async fn write_read(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
        timeout: Duration,
        read_only: bool,
    ) -> exec::ProbeResult {
        super::styles::EmulatedCluster::write_read(self, key, value, ttl, timeout, read_only).await
    }

    fn routes(&self, targets: &[ProbeTarget]) -> Vec<Option<String>> {
        targets.iter().map(|t| self.route(t.slot).map(|e| e.to_string())).collect()
    }
}

/// Runs the engine until the duration has passed or `stop` turns true. Probe, client and topology events go to
/// `tx`; the client's events and the topology watcher come from `watch` (fred's connection) when given.
/// Returns the scheduler's own figures.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    prober: Arc<dyn Prober>,
    watch_conn: Option<Connection>,
    initial: Vec<ProbeTarget>,
    topology: Option<Topology>,
    cfg: EngineConfig,
    clock: Clock,
    tx: UnboundedSender<Event>,
    mut stop: watch::Receiver<bool>,
) -> ScheduleStats {
    let (targets_tx, targets_rx) = watch::channel(initial);
    let forwarders = match &watch_conn {
        Some(conn) => spawn_client_forwarders(conn, &cfg.source, clock, tx.clone()),
        None => Vec::new(),
    };
    let watcher = watch_conn
        .as_ref()
        .filter(|c| c.mode == Mode::OssCluster)
        .map(|conn| tokio::spawn(watch_topology(conn.client.clone(), topology, cfg.clone(), targets_tx, stop.clone())));

    let cfg = Arc::new(cfg);
    let mut stats = ScheduleStats::default();
    let mut lateness = super::LatencyStats::new();
    let mut in_flight: JoinSet<String> = JoinSet::new();
    let mut busy: std::collections::HashSet<String> = Default::default();
    let mut books: std::collections::HashMap<String, Arc<exec::AckBook>> = Default::default();
    let origin = clock.origin();
    let mut seq: u64 = 0;
    loop {
        let offset = cfg.interval * seq as u32;
        if *stop.borrow() {
            break;
        }
        if offset >= cfg.duration {
            // The run lasts the whole duration, not just until the last tick.
            tokio::select! {
                _ = tokio::time::sleep_until((origin + cfg.duration).into()) => {}
                _ = stop.changed() => {}
            }
            break;
        }
        let due = origin + offset;
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {}
            _ = stop.changed() => break,
        }
        while let Some(done) = in_flight.try_join_next() {
            if let Ok(name) = done {
                busy.remove(&name);
            }
        }
        let late = Instant::now().saturating_duration_since(due);
        lateness.record(late);
        stats.ticks += 1;
        let current = targets_rx.borrow().clone();
        let routes = prober.routes(&current);
        for (target, node) in current.into_iter().zip(routes) {
            if !busy.insert(target.name.clone()) {
                stats.overlapping += 1;
            }
            stats.probes_sent += 1;
            let prober = prober.clone();
            let tx = tx.clone();
            let cfg = cfg.clone();
            let book = books.entry(target.name.clone()).or_default().clone();
            in_flight.spawn(async move {
                let value = format!("{}:{seq}", cfg.run_id);
                let started = Instant::now();
                let mut r = prober.write_read(&target.key, &value, cfg.ttl, cfg.timeout, cfg.read_only).await;
                if let Some(set) = r.set_latency {
                    // The client's own instant of the acknowledgement; the engine's start can lag its send.
                    let acked = r.acked_at.unwrap_or(started + set);
                    book.acked(seq, acked);
                    if r.outcome.class() == Some(super::ErrorClass::WrongValue)
                        && !book.is_lost(seq, acked, r.read.as_deref())
                    {
                        r.outcome = super::ProbeOutcome::Ok;
                    }
                }
                let _ = tx.send(Event::Probe(ProbeEvent {
                    stamp: clock.stamp_at(due),
                    source: cfg.source.clone(),
                    target: target.name.clone(),
                    seq,
                    node,
                    set_ms: r.set_latency.map(ms),
                    get_ms: r.get_latency.map(ms),
                    late_ms: ms(late),
                    outcome: r.outcome,
                }));
                target.name
            });
        }
        stats.max_in_flight = stats.max_in_flight.max(in_flight.len() as u64);
        seq += 1;
    }
    // Every probe is bounded by the timeout, so this wait is bounded too.
    let drain = tokio::time::timeout(cfg.timeout * 2 + Duration::from_millis(200), async {
        while in_flight.join_next().await.is_some() {}
    });
    let _ = drain.await;
    in_flight.abort_all();
    if let Some(w) = watcher {
        w.abort();
    }
    for f in forwarders {
        f.abort();
    }
    stats.lateness_p99_ms = lateness.p99().map(ms).unwrap_or(0.0);
    stats.lateness_max_ms = lateness.max().map(ms).unwrap_or(0.0);
    stats
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The node the client will route each target's key to, from its cached slot map (one copy per tick).
fn routes_for(conn: &Connection, targets: &[ProbeTarget]) -> Vec<Option<String>> {
    if conn.mode != Mode::OssCluster {
        return targets.iter().map(|t| t.endpoint.as_ref().map(|e| e.to_string())).collect();
    }
    let state = conn.client.cached_cluster_state();
    targets
        .iter()
        .map(|t| state.as_ref().and_then(|s| s.get_server(t.slot)).map(|s| format!("{}:{}", s.host, s.port)))
        .collect()
}

/// Forwards the client's own events (reconnect, error, slot-map resync, unresponsive) into the stream.
pub fn spawn_client_forwarders(
    conn: &Connection,
    source: &str,
    clock: Clock,
    tx: UnboundedSender<Event>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let source = source.to_string();
    let mk = move |kind: ClientEventKind, server: Option<String>, detail: String| {
        Event::Client(ClientEvent { stamp: clock.now(), source: source.clone(), kind, server, detail })
    };
    let addr = |s: &Server| format!("{}:{}", s.host, s.port);
    vec![
        forward(conn.client.reconnect_rx(), tx.clone(), {
            let mk = mk.clone();
            move |server| mk(ClientEventKind::Reconnected, Some(addr(&server)), String::new())
        }),
        forward(conn.client.error_rx(), tx.clone(), {
            let mk = mk.clone();
            move |(err, server)| mk(ClientEventKind::Error, server.as_ref().map(addr), crate::errfmt::fred_error(&err))
        }),
        forward(conn.client.cluster_change_rx(), tx.clone(), {
            let mk = mk.clone();
            move |changes| {
                mk(
                    ClientEventKind::TopologyResync,
                    None,
                    format!("{} change(s) to the client's slot map", changes.len()),
                )
            }
        }),
        forward(conn.client.unresponsive_rx(), tx, move |server| {
            mk(ClientEventKind::Unresponsive, Some(addr(&server)), String::new())
        }),
    ]
}

/// Forwards every message of a fred broadcast channel into the event stream until either side closes.
fn forward<T: Clone + Send + 'static>(
    mut rx: tokio::sync::broadcast::Receiver<T>,
    tx: UnboundedSender<Event>,
    to_event: impl Fn(T) -> Event + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(v) => {
                    if tx.send(to_event(v)).is_err() {
                        break;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
    })
}

async fn watch_topology(
    client: Client,
    mut last: Option<Topology>,
    cfg: EngineConfig,
    targets_tx: watch::Sender<Vec<ProbeTarget>>,
    stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(cfg.topology_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if *stop.borrow() {
            break;
        }
        let read = tokio::time::timeout(cfg.timeout * 3, inspect::read_topology(&client)).await;
        let Ok(Ok((topo, _))) = read else { continue };
        // Changes themselves are reported by the topology watcher (crate::watch); here they only re-plan.
        if last.as_ref().is_some_and(|prev| !topology::diff(prev, &topo).is_empty()) {
            let current = targets_tx.borrow().clone();
            let _ = targets_tx.send(targets::replan(&current, &topo, &cfg.prefix, &cfg.run_id));
        }
        last = Some(topo);
    }
}
