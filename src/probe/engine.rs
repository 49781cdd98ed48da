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
use crate::topology::Topology;

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
    /// While this reads `true`, ticks pass without probes (an application idle through a maintenance);
    /// `None`: never paused.
    pub pause: Option<watch::Receiver<bool>>,
    /// The interval, changed while the engine runs (`watch`: a slow baseline, fast during an incident); a
    /// shorter one takes effect at once, not after the tick already waited for. `None`: `interval` throughout.
    pub rate: Option<watch::Receiver<Duration>>,
}

/// What the scheduler itself measured.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ScheduleStats {
    /// Ticks that were due and probed.
    pub ticks: u64,
    /// Ticks that passed without probes while the source was paused.
    #[serde(default)]
    pub paused_ticks: u64,
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
    /// SET then GET of the probe's key, as [`exec::write_read`].
    async fn write_read(&self, p: &exec::WriteRead<'_>) -> exec::ProbeResult;
    /// The node each target's key is routed to now, where known.
    fn routes(&self, targets: &[ProbeTarget]) -> Vec<Option<String>>;
}

/// fred's own client as a prober.
pub struct FredProber(pub Connection);

#[async_trait::async_trait]
impl Prober for FredProber {
    async fn write_read(&self, p: &exec::WriteRead<'_>) -> exec::ProbeResult {
        exec::write_read(&self.0.client, p).await
    }

    fn routes(&self, targets: &[ProbeTarget]) -> Vec<Option<String>> {
        routes_for(&self.0, targets)
    }
}

#[async_trait::async_trait]
impl Prober for super::styles::EmulatedCluster {
    async fn write_read(&self, p: &exec::WriteRead<'_>) -> exec::ProbeResult {
        super::styles::EmulatedCluster::write_read(self, p).await
    }

    fn routes(&self, targets: &[ProbeTarget]) -> Vec<Option<String>> {
        targets.iter().map(|t| self.route(t.slot).map(|e| e.to_string())).collect()
    }
}

/// Runs the engine until the duration has passed or `stop` turns true. Probe and client events go to `tx`; the
/// client's own events come from `watch_conn` (fred's connection) when given. The engine reads no topology
/// itself: it re-plans its targets from the run's one topology watcher (`crate::watch`), whose reads arrive on
/// `feed`. Returns the scheduler's own figures.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    prober: Arc<dyn Prober>,
    watch_conn: Option<Connection>,
    initial: Vec<ProbeTarget>,
    feed: Option<watch::Receiver<Option<Topology>>>,
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
    let watcher = feed.map(|feed| tokio::spawn(replan_from(feed, cfg.clone(), targets_tx)));

    let cfg = Arc::new(cfg);
    let mut stats = ScheduleStats::default();
    let mut lateness = super::LatencyStats::new();
    let mut in_flight: JoinSet<String> = JoinSet::new();
    let mut busy: std::collections::HashSet<String> = Default::default();
    let mut books: std::collections::HashMap<String, Arc<exec::AckBook>> = Default::default();
    let origin = clock.origin();
    // `offset` keeps the schedule (a sum, so a run of months never overflows a tick count, and the interval
    // may change); `seq` numbers the ticks that probed (a paused tick sends nothing).
    let mut rate = cfg.rate.clone();
    let step = |rate: &Option<watch::Receiver<Duration>>| rate.as_ref().map_or(cfg.interval, |r| *r.borrow());
    let mut offset = Duration::ZERO;
    let mut last: Option<Duration> = None;
    let mut seq: u64 = 0;
    loop {
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
            Some(()) = rate_changed(&mut rate) => {
                // A new interval counts from the last tick, and never schedules one in the past.
                let next = last.map_or(Duration::ZERO, |l| l + step(&rate));
                let now = tokio::time::Instant::now().into_std().saturating_duration_since(origin);
                offset = next.max(now.min(offset));
                continue;
            }
        }
        while let Some(done) = in_flight.try_join_next() {
            if let Ok(name) = done {
                busy.remove(&name);
            }
        }
        last = Some(offset);
        offset += step(&rate);
        if cfg.pause.as_ref().is_some_and(|p| *p.borrow()) {
            stats.paused_ticks += 1;
            continue;
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
                let probe = exec::WriteRead {
                    key: &target.key,
                    value: &value,
                    ttl: cfg.ttl,
                    timeout: cfg.timeout,
                    read_only: cfg.read_only,
                };
                let mut r = prober.write_read(&probe).await;
                if let Some(set) = r.set_latency {
                    // The client's own instant of the acknowledgement; the engine's start can lag its send.
                    let acked = r.acked_at.unwrap_or(started + set);
                    book.acked(seq, acked);
                    if r.outcome.class() == Some(super::ErrorClass::WrongValue)
                        && !book.is_lost(seq, started, r.read.as_deref())
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

/// Resolves when the live interval changes; never when there is none (or its sender is gone).
async fn rate_changed(rate: &mut Option<watch::Receiver<Duration>>) -> Option<()> {
    match rate {
        Some(r) => match r.changed().await {
            Ok(()) => Some(()),
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
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

/// Re-plans the targets from every topology the watcher publishes, including one published before this task
/// first ran (the watch channel keeps only the newest value, so none is taken as already seen).
async fn replan_from(
    mut feed: watch::Receiver<Option<Topology>>,
    cfg: EngineConfig,
    targets_tx: watch::Sender<Vec<ProbeTarget>>,
) {
    feed.mark_changed();
    while feed.changed().await.is_ok() {
        let Some(topo) = feed.borrow_and_update().clone() else { continue };
        let current = targets_tx.borrow().clone();
        let next = targets::replan(&current, &topo, &cfg.prefix, &cfg.run_id);
        if next != current {
            let _ = targets_tx.send(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::nodes::parse_cluster_nodes;

    fn topo(lines: &[&str]) -> Topology {
        Topology::from_nodes(parse_cluster_nodes(&lines.join("\n")).unwrap(), None)
    }

    fn cfg() -> EngineConfig {
        EngineConfig {
            source: String::new(),
            interval: Duration::from_millis(100),
            duration: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            ttl: Duration::from_secs(10),
            read_only: false,
            prefix: "rfp:".into(),
            run_id: "t".into(),
            pause: None,
            rate: None,
        }
    }

    /// Answers every probe at once.
    struct Instant_;

    #[async_trait::async_trait]
    impl Prober for Instant_ {
        async fn write_read(&self, _: &exec::WriteRead<'_>) -> exec::ProbeResult {
            exec::ProbeResult {
                outcome: super::super::ProbeOutcome::Ok,
                set_latency: None,
                get_latency: None,
                read: None,
                acked_at: None,
            }
        }

        fn routes(&self, targets: &[ProbeTarget]) -> Vec<Option<String>> {
            vec![None; targets.len()]
        }
    }

    /// A live rate: 1 s ticks, then 100 ms from the moment it changes (not from the next 1 s tick), then 1 s.
    #[tokio::test(start_paused = true)]
    async fn a_shorter_interval_takes_effect_at_once() {
        let clock = Clock::start();
        let (rate_tx, rate) = watch::channel(Duration::from_secs(1));
        let cfg = EngineConfig {
            interval: Duration::from_secs(1),
            duration: Duration::from_secs(20),
            rate: Some(rate),
            ..cfg()
        };
        let target = targets::for_endpoint(&crate::topology::Endpoint::new("127.0.0.1", 1), 1, "rfp:", "t");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (_stop_tx, stop) = watch::channel(false);
        let engine = tokio::spawn(run(Arc::new(Instant_), None, target, None, cfg, clock, tx, stop));
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        rate_tx.send(Duration::from_millis(100)).unwrap();
        tokio::time::sleep(Duration::from_millis(950)).await;
        rate_tx.send(Duration::from_secs(1)).unwrap();
        let stats = engine.await.unwrap();
        let mut at = Vec::new();
        while let Ok(Event::Probe(p)) = rx.try_recv() {
            // Rounded to 10 ms: the run's clock and tokio's paused clock started a moment apart.
            at.push((p.stamp.offset_ms + 5) / 10 * 10);
        }
        // 0, 1, 2 s; at once at 2.5 s, then every 100 ms until the change back at 3.45 s; then 1 s after the
        // last fast tick, and 1 s steps to the end.
        let mut want: Vec<u64> = vec![0, 1_000, 2_000];
        want.extend((0..10).map(|i| 2_500 + i * 100));
        want.extend((0..16).map(|i| 4_400 + i * 1_000));
        assert_eq!(at, want);
        assert_eq!(stats.ticks, at.len() as u64);
    }

    #[tokio::test]
    async fn targets_follow_the_watchers_topology_and_nothing_else() {
        let two = topo(&[
            "a 127.0.0.1:7000@7100 master - 0 0 1 connected 0-8191",
            "b 127.0.0.1:7001@7101 master - 0 0 2 connected 8192-16383",
        ]);
        // A third primary takes slots from the second: a new shard to probe, the old targets keep their keys.
        let three = topo(&[
            "a 127.0.0.1:7000@7100 master - 0 0 1 connected 0-8191",
            "b 127.0.0.1:7001@7101 master - 0 0 2 connected 8192-12287",
            "c 127.0.0.1:7002@7102 master - 0 0 3 connected 12288-16383",
        ]);
        let initial = targets::for_cluster(&two, "rfp:", "t");
        let (targets_tx, mut targets_rx) = watch::channel(initial.clone());
        let (publish, feed) = watch::channel(Some(two.clone()));
        let task = tokio::spawn(replan_from(feed, cfg(), targets_tx));
        // The same topology again is no change; a read that failed (None) changes nothing either.
        publish.send_replace(Some(two));
        tokio::task::yield_now().await;
        publish.send_replace(None);
        tokio::task::yield_now().await;
        assert!(!targets_rx.has_changed().unwrap());
        publish.send_replace(Some(three));
        tokio::time::timeout(Duration::from_secs(5), targets_rx.changed()).await.unwrap().unwrap();
        let now = targets_rx.borrow().clone();
        assert_eq!(now.len(), 3, "{now:?}");
        assert_eq!(
            now[..2].iter().map(|t| &t.key).collect::<Vec<_>>(),
            initial.iter().map(|t| &t.key).collect::<Vec<_>>()
        );
        drop(publish);
        tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
    }
}
