//! A probing session: one or more engines (compare runs several) feeding one collector and one view, until
//! the duration has passed, every producer is done, or Ctrl-C / SIGTERM stops it early with what it has.

use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::collect::Collector;
use std::sync::Arc;

use super::engine::{self, EngineConfig, Prober, ScheduleStats};
use super::targets::ProbeTarget;
use crate::clock::Clock;
use crate::connect::Connection;
use crate::events::Event;
use crate::metrics::MetricsSink;
use crate::topology::Topology;

/// Something that shows a run while it happens.
pub trait View: Send {
    /// An event the collector has processed.
    fn show(&mut self, ev: &Event, c: &Collector);
    /// Called about every 100 ms: refresh bars, print heartbeats.
    fn tick(&mut self, c: &Collector, elapsed: Duration);
    /// The run is over: clear bars before the summary is printed.
    fn finish(&mut self);
}

/// How often a session's observers get a heartbeat: plain views print a line, the metrics file is rewritten.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// One engine's inputs.
pub struct Source {
    /// What runs the probes.
    pub prober: Arc<dyn Prober>,
    /// fred's connection, for the client's own events and the topology watcher (none for emulated styles).
    pub conn: Option<Connection>,
    /// Initial targets.
    pub targets: Vec<ProbeTarget>,
    /// The run's topology watcher's reads, to re-plan from (oss-cluster; `None` keeps the initial targets).
    pub feed: Option<watch::Receiver<Option<Topology>>>,
    /// Engine configuration (its `source` names the group).
    pub cfg: EngineConfig,
}

/// What a session hands back.
pub struct SessionOutcome {
    /// Everything counted.
    pub collector: Collector,
    /// Scheduler figures per source.
    pub schedule: Vec<(String, ScheduleStats)>,
    /// How long probing lasted.
    pub elapsed: Duration,
    /// Whether Ctrl-C / SIGTERM ended it.
    pub interrupted: bool,
}

/// The channel and stop switch of a session, handed out before it runs so other producers (the lab) can join.
pub struct Session {
    clock: Clock,
    tx: mpsc::UnboundedSender<Event>,
    rx: mpsc::UnboundedReceiver<Event>,
    stop_tx: watch::Sender<bool>,
}

impl Session {
    /// A new session on `clock`.
    pub fn new(clock: Clock) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop_tx, _) = watch::channel(false);
        Session { clock, tx, rx, stop_tx }
    }

    /// A sender for another producer (lab, watchers, listeners). The session does not wait for these: it ends
    /// when the engines and the `until` future of [`Session::run_with`] are done.
    pub fn sender(&self) -> mpsc::UnboundedSender<Event> {
        self.tx.clone()
    }

    /// Turns true when the session is asked to stop (signal).
    pub fn stopped(&self) -> watch::Receiver<bool> {
        self.stop_tx.subscribe()
    }

    /// A switch that stops the session early, as a signal would (a real client's driver died).
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop_tx.clone()
    }

    /// Runs the engines and collects until they are done.
    pub async fn run(
        self,
        sources: Vec<Source>,
        collector: Collector,
        view: Box<dyn View>,
        metrics: MetricsSink,
    ) -> SessionOutcome {
        self.run_with(sources, collector, view, metrics, std::future::ready(())).await.0
    }

    /// Runs the engines and collects until they are done and `until` (a lab injection, a watcher) has finished
    /// too; `until` runs on this task, so it need not be `Send`. Returns its output with the outcome.
    pub async fn run_with<T>(
        self,
        sources: Vec<Source>,
        mut collector: Collector,
        mut view: Box<dyn View>,
        metrics: MetricsSink,
        until: impl std::future::Future<Output = T>,
    ) -> (SessionOutcome, T) {
        let Session { clock, tx, mut rx, stop_tx } = self;
        // Every probe ends within its two bounded operations; a result missing for longer than that and a tick
        // will not come (see `Collector::set_gap`).
        if let Some(gap) = sources.iter().map(|s| s.cfg.timeout * 2 + s.cfg.interval + Duration::from_millis(200)).max()
        {
            collector.set_gap(gap);
        }
        for s in &sources {
            for t in &s.targets {
                collector.add_target(&s.cfg.source, &t.name);
            }
        }
        let mut engines = Vec::new();
        for s in sources {
            let name = s.cfg.source.clone();
            let handle = tokio::spawn(engine::run(
                s.prober,
                s.conn,
                s.targets,
                s.feed,
                s.cfg,
                clock,
                tx.clone(),
                stop_tx.subscribe(),
            ));
            engines.push((name, handle));
        }
        drop(tx);
        let mut interrupted = false;
        let mut signal = std::pin::pin!(crate::signals::interrupted());
        let mut ticker = tokio::time::interval(Duration::from_millis(100));
        let mut probing_ended: Option<Duration> = None;
        let mut next_metrics_write = Duration::ZERO;
        let mut until = std::pin::pin!(until);
        let mut until_out: Option<T> = None;
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => {
                        for shown in collector.handle(ev) {
                            metrics.observe(&shown);
                            view.show(&shown, &collector);
                        }
                    }
                    None => break,
                },
                out = &mut until, if until_out.is_none() => until_out = Some(out),
                _ = ticker.tick() => {
                    let elapsed = clock.elapsed();
                    view.tick(&collector, elapsed);
                    let heartbeat = elapsed >= next_metrics_write;
                    if heartbeat {
                        next_metrics_write += HEARTBEAT;
                    }
                    metrics.refresh(&collector, elapsed, heartbeat);
                    let engines_done = engines.iter().all(|(_, h)| h.is_finished());
                    if probing_ended.is_none() && !engines.is_empty() && engines_done {
                        probing_ended = Some(clock.elapsed());
                    }
                    if engines_done && until_out.is_some() {
                        break;
                    }
                }
                _ = &mut signal, if !interrupted => {
                    interrupted = true;
                    let _ = stop_tx.send(true);
                }
            }
        }
        // What producers already sent still counts.
        while let Ok(ev) = rx.try_recv() {
            for shown in collector.handle(ev) {
                metrics.observe(&shown);
                view.show(&shown, &collector);
            }
        }
        for shown in collector.flush() {
            metrics.observe(&shown);
            view.show(&shown, &collector);
        }
        view.tick(&collector, clock.elapsed());
        metrics.refresh(&collector, clock.elapsed(), true);
        view.finish();
        let mut schedule = Vec::new();
        for (name, handle) in engines {
            if let Ok(stats) = handle.await {
                schedule.push((name, stats));
            }
        }
        let elapsed = probing_ended.unwrap_or_else(|| clock.elapsed());
        // The loop can also end because every sender is gone before `until` finished.
        let out = match until_out {
            Some(out) => out,
            None => until.await,
        };
        (SessionOutcome { collector, schedule, elapsed, interrupted }, out)
    }
}
