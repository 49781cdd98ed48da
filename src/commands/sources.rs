//! Sources of a side-by-side run (compare, matrix): one client each, probing its own keys, connected and
//! planned the same way, and cleaned up the same way.

use std::sync::Arc;
use std::time::Duration;

use super::failover_recovery;
use crate::clock::Clock;
use crate::connect::{Connection, Factory};
use crate::drivers::{self, process::EventSink, RealConnection};
use crate::error::{AppError, AppResult};
use crate::events::Event;
use crate::probe::engine::{self, EngineConfig, FredProber, Prober};
use crate::probe::styles::{ClientSpec, EmulatedCluster, StyleOptions};
use crate::probe::targets::{self, ProbeTarget};
use crate::report::SourceInfo;

/// A source ready to probe.
pub struct Prepared {
    /// Its name, mode, client and endpoints, for the summary.
    pub info: SourceInfo,
    /// What runs its probes.
    pub prober: Arc<dyn Prober>,
    /// fred's connection (fred, and direct on one endpoint).
    pub conn: Option<Connection>,
    /// The emulated client (direct and every preset on a cluster).
    pub emulated: Option<EmulatedCluster>,
    /// The real library (`real:...`).
    pub real: Option<RealConnection>,
    /// Its connection factory.
    pub factory: Arc<Factory>,
    /// Its probe targets, one key per shard.
    pub targets: Vec<ProbeTarget>,
    /// The slot map it started from.
    pub topology: Option<crate::topology::Topology>,
    /// Its engine configuration.
    pub cfg: EngineConfig,
}

/// How a source probes, beyond its client.
#[derive(Debug, Clone, Copy)]
pub struct Probing {
    /// `--refresh-after` (node-redis 6's reconnecting time).
    pub refresh_after: Duration,
    /// Keys to probe on one endpoint (standalone, enterprise); a cluster gets one per shard.
    pub keys: usize,
}

impl Probing {
    /// One key per endpoint, the given refresh-after.
    pub fn one_key(refresh_after: Duration) -> Self {
        Probing { refresh_after, keys: 1 }
    }
}

/// Connects `style` to `factory`'s target as the source `name` and plans its keys.
pub async fn prepare(
    name: &str,
    factory: Arc<Factory>,
    style: &ClientSpec,
    how: Probing,
    cfg: EngineConfig,
    clock: Clock,
    tx: &tokio::sync::mpsc::UnboundedSender<Event>,
) -> AppResult<Prepared> {
    let mode = factory.target().mode;
    let info = SourceInfo {
        name: name.to_string(),
        mode: mode.to_string(),
        client: style.to_string(),
        endpoints: factory.target().display_urls(),
    };
    match failover_recovery::check_style(style, mode) {
        Err(AppError::BadInput(_)) => {
            return Err(AppError::BadInput(format!("target {name}: client={style} needs mode=oss-cluster")))
        }
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    if failover_recovery::routes_itself(style, mode) {
        let options =
            StyleOptions { refresh_after: how.refresh_after, events: Some(tx.clone()), source: name.to_string() };
        let emu = EmulatedCluster::connect_with(Arc::clone(&factory), style, clock, options).await?;
        let topology = emu.topology();
        let targets = targets::for_cluster(&topology, &cfg.prefix, &cfg.run_id);
        return Ok(Prepared {
            info,
            prober: Arc::new(emu.clone()),
            conn: None,
            emulated: Some(emu),
            real: None,
            factory,
            targets,
            topology: Some(topology),
            cfg,
        });
    }
    let conn = factory.connect().await?;
    let (targets, topology) = engine::plan(&conn, &factory.target().seeds[0], how.keys, &cfg).await;
    if let Some(real) = style.real() {
        // The keys are planned from the cluster's own map, read once over fred; the library does the rest.
        conn.close().await;
        let events = EventSink { tx: tx.clone(), source: name.to_string(), clock };
        let rc = drivers::connect(&style.label, real, factory.target(), Some(events)).await?;
        let info = SourceInfo { client: format!("{style} ({})", rc.version()), ..info };
        return Ok(Prepared {
            info,
            prober: rc.prober(),
            conn: None,
            emulated: None,
            real: Some(rc),
            factory,
            targets,
            topology,
            cfg,
        });
    }
    Ok(Prepared {
        info,
        prober: Arc::new(FredProber(conn.clone())),
        conn: Some(conn),
        emulated: None,
        real: None,
        factory,
        targets,
        topology,
        cfg,
    })
}

/// Deletes one source's probe keys through the connection it probed with, bounded: they expire anyway.
pub async fn cleanup(p: &Prepared) {
    let keys: Vec<String> = p.targets.iter().map(|t| t.key.clone()).collect();
    if let Some(conn) = &p.conn {
        failover_recovery::cleanup(conn, &keys).await;
        conn.close().await;
    }
    if let Some(emu) = &p.emulated {
        emu.delete(&keys, p.factory.target().timeout).await;
        emu.close().await;
    }
    if let Some(real) = &p.real {
        if real.death().is_none() {
            real.delete(&keys, p.factory.target().timeout).await;
        }
        real.close().await;
    }
}

/// Checks every real client among `clients` before anything starts (labs are slow to start and to stop):
/// installed, runtime on PATH, options file readable.
pub fn preflight<'a>(clients: impl IntoIterator<Item = &'a ClientSpec>) -> AppResult<()> {
    for c in clients {
        if let Some(real) = c.real() {
            real.preflight()?;
        }
    }
    Ok(())
}

/// Stops the session when a real client's driver dies, so the run ends at once instead of counting the
/// driver's death as the shard's outage; [`driver_death`] then says why.
pub fn stop_on_driver_death(
    prepared: &[Prepared],
    stop: tokio::sync::watch::Sender<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    prepared
        .iter()
        .filter_map(|p| p.real.clone())
        .map(|real| {
            let stop = stop.clone();
            tokio::spawn(async move {
                real.died().await;
                let _ = stop.send(true);
            })
        })
        .collect()
}

/// The first driver that died during the run, as the error that ends it.
pub fn driver_death(prepared: &[Prepared]) -> Option<AppError> {
    prepared.iter().filter_map(|p| p.real.as_ref()?.death()).next().map(AppError::Driver)
}

/// Runs futures that are not `Send` side by side on this task and collects their outputs in order.
pub async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => outputs[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("every future finished")).collect()
}

/// The run's one topology watcher, on the first oss-cluster source's cluster, and the sources to probe with:
/// sources on that same cluster (same seeds) re-plan from its reads; a source on another cluster keeps its
/// initial targets.
pub fn watch_and_plan(
    prepared: &[Prepared],
    probe: &crate::settings::ProbeSettings,
    clock: Clock,
    tx: &tokio::sync::mpsc::UnboundedSender<Event>,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> (Option<tokio::task::JoinHandle<crate::watch::WatchResult>>, Vec<crate::probe::session::Source>) {
    use crate::mode::Mode;
    let watched = prepared.iter().find(|p| p.factory.target().mode == Mode::OssCluster);
    let (publish, feed) = tokio::sync::watch::channel(watched.and_then(|p| p.topology.clone()));
    let watched_seeds = watched.map(|p| p.factory.target().seeds.clone());
    let watcher = watched.map(|p| {
        let plan = crate::watch::WatchPlan {
            mode: Mode::OssCluster,
            interval: probe.topology_interval,
            duration: probe.duration,
            publish: Some(publish),
        };
        tokio::spawn(crate::watch::run(p.factory.clone(), plan, clock, tx.clone(), stopped))
    });
    let sources = prepared
        .iter()
        .map(|p| crate::probe::session::Source {
            prober: p.prober.clone(),
            conn: p.conn.clone(),
            targets: p.targets.clone(),
            feed: (p.factory.target().mode == Mode::OssCluster
                && watched_seeds.as_ref() == Some(&p.factory.target().seeds))
            .then(|| feed.clone()),
            cfg: p.cfg.clone(),
        })
        .collect();
    (watcher, sources)
}
