//! `watch`: left running next to an application for weeks. A low-rate baseline (the default probe, one probe
//! per shard per `--interval`), the topology watcher and the maintenance-notice listeners all the time; on the
//! first sign of trouble an incident opens ([`crate::incident`]), the probes go to `--incident-interval`, and
//! when it closes its folder is written ([`folder`]). Nothing kept grows with run time: the baseline is rolled
//! up into counters, the minute before an incident is a bounded ring, one incident is at most `--incident-max`.

mod folder;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::sources::{self, Prepared, Probing};
use super::Ctx;
use crate::cli::WatchArgs;
use crate::clock::Clock;
use crate::error::{AppError, AppResult};
use crate::events::{Event, NoticeEvent};
use crate::exit::ExitCode;
use crate::incident::ring::Ring;
use crate::incident::rollup::Rollup;
use crate::incident::rotate::RotatingLog;
use crate::incident::{target_key, Ending, Step, Tracker, TrackerConfig, Trigger};
use crate::metrics::{MetricsSink, WatchState};
use crate::mode::Mode;
use crate::probe::engine::{self, EngineConfig};
use crate::probe::styles::{ClientSpec, DEFAULT_REFRESH_AFTER};
use crate::settings::{ProbeSettings, MIN_INTERVAL};
use folder::{FolderPlan, Recording};

/// How long a watcher runs when nobody stops it: for ever, in practice (ten years keeps `Instant` arithmetic
/// far from overflow).
const FOREVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// The baseline kept before an incident.
const BEFORE: Duration = Duration::from_secs(60);
/// The most events kept in that minute (a 10 ms baseline on many shards stays bounded too).
const BEFORE_CAP: usize = 100_000;
/// Longest wait between two connection attempts to a target that is unreachable at start.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Runs `watch` until SIGTERM or Ctrl-C; exit 0 then, since that is how a watcher ends.
pub async fn run(c: &Ctx, args: &WatchArgs) -> AppResult<ExitCode> {
    for (flag, d) in [
        ("--interval", args.interval),
        ("--incident-interval", args.incident_interval),
        ("--topology-interval", args.topology_interval),
    ] {
        if d < MIN_INTERVAL {
            return Err(AppError::BadInput(format!("{flag} {} is below the 10ms minimum", crate::duration::human(d))));
        }
    }
    let log = args.events.as_deref().map(|p| RotatingLog::create(p, args.events_max)).transpose()?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| AppError::BadInput(format!("--out {}: cannot create it: {e}", args.out.display())))?;
    let metrics = MetricsSink::start_watch(args.metrics_listen.as_deref()).await?;
    let target = c.settings.target.clone();
    let clock = Clock::start();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut signal = std::pin::pin!(crate::signals::interrupted());
    let probe = ProbeSettings {
        duration: FOREVER,
        interval: args.incident_interval,
        prefix: args.prefix.clone(),
        ttl: Duration::from_secs(60).max(args.incident_interval * 10),
        max_outage: None,
        events: None,
        report: None,
        read_only: false,
        metrics_listen: None,
        metrics_file: None,
        topology_interval: args.topology_interval,
        refresh_after: DEFAULT_REFRESH_AFTER,
    };
    let run_id = crate::connect::run_id();
    let mut cfg = crate::probe::plan::engine_config(&probe, "", target.timeout, &run_id);
    cfg.interval = args.interval;
    let plan = FolderPlan {
        out: args.out.clone(),
        info: crate::report::SourceInfo {
            name: String::new(),
            mode: target.mode.to_string(),
            client: "direct".into(),
            endpoints: target.display_urls(),
        },
        targets: Vec::new(),
        clock,
        probe,
        baseline: args.interval,
        timeout: target.timeout,
    };
    let tracker = Tracker::new(TrackerConfig { quiet: args.quiet, max_len: args.incident_max });
    let mut w = Watcher {
        tracker,
        ring: Ring::new(BEFORE, BEFORE_CAP),
        rollup: Rollup::default(),
        log,
        log_failed: false,
        rec: None,
        plan,
        metrics,
        last_incident_s: None,
        baseline: args.interval,
        fast: args.incident_interval,
        rate: watch::channel(args.interval).0,
    };
    println!(
        "watch: {} ({}), baseline every {}, incidents into {}",
        target.display_urls().join(", "),
        target.mode,
        crate::probe::fmt_duration(args.interval),
        args.out.display()
    );
    // An unreachable target is an incident, not an exit: try again with backoff and say so.
    let mut backoff = Duration::from_secs(1);
    let prepared: Prepared = loop {
        let how = Probing::one_key(DEFAULT_REFRESH_AFTER);
        match sources::prepare("", Arc::clone(&c.factory), &ClientSpec::direct(), how, cfg.clone(), clock, &tx).await {
            Ok(p) => break p,
            Err(e) => {
                let now = clock.elapsed();
                let steps = w.tracker.open_now(now.as_millis() as u64, Trigger::Unreachable(e.to_string()));
                w.apply(steps.into_iter().collect());
                let detail = format!("{e}; trying again in {}", crate::probe::fmt_duration(backoff));
                w.handle(Event::Notice(NoticeEvent {
                    stamp: clock.now(),
                    kind: "unreachable".into(),
                    detail: detail.clone(),
                    data: None,
                }));
                eprintln!("watch: target unreachable: {}", crate::secret::scrub(&detail));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = &mut signal => {
                        w.stop(clock.elapsed());
                        return Ok(ExitCode::Ok);
                    }
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    };
    w.tracker.hold(clock.elapsed().as_millis() as u64);
    w.plan.targets = prepared.targets.iter().map(|t| t.name.clone()).collect();
    let (publish, feed) = watch::channel(prepared.topology.clone());
    let watcher = (target.mode == Mode::OssCluster).then(|| {
        let plan = crate::watch::WatchPlan {
            mode: target.mode,
            interval: args.topology_interval,
            duration: FOREVER,
            publish: Some(publish),
        };
        tokio::spawn(crate::watch::run(Arc::clone(&c.factory), plan, clock, tx.clone(), stop_rx.clone()))
    });
    let feed = (target.mode == Mode::OssCluster).then_some(feed);
    let listeners = super::monitor::start_listeners(c, clock, &tx, true, false).await;
    let cfg = EngineConfig { duration: FOREVER, rate: Some(w.rate.subscribe()), ..prepared.cfg.clone() };
    let _ = w.rate.send(if w.tracker.is_open() { w.fast } else { w.baseline });
    let engine = tokio::spawn(engine::run(
        Arc::clone(&prepared.prober),
        prepared.conn.clone(),
        prepared.targets.clone(),
        feed,
        cfg,
        clock,
        tx.clone(),
        stop_rx,
    ));
    drop(tx);
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut next_summary = args.summary_every;
    let period = format!("last {}", crate::probe::fmt_duration(args.summary_every));
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => w.handle(ev),
                None => break,
            },
            _ = ticker.tick() => {
                let now = clock.elapsed();
                let steps = w.tracker.tick(now.as_millis() as u64);
                w.apply(steps);
                w.publish();
                if now >= next_summary {
                    println!("{}", w.rollup.period_line(&period, now.as_millis() as u64));
                    next_summary += args.summary_every;
                }
            }
            _ = &mut signal => break,
        }
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(target.timeout * 2 + Duration::from_secs(1), engine).await;
    while let Ok(ev) = rx.try_recv() {
        w.handle(ev);
    }
    for h in listeners {
        h.abort();
    }
    if let Some(h) = watcher {
        h.abort();
    }
    w.stop(clock.elapsed());
    sources::cleanup(&prepared).await;
    Ok(ExitCode::Ok)
}

/// Everything a running watcher keeps.
struct Watcher {
    tracker: Tracker,
    ring: Ring,
    rollup: Rollup,
    log: Option<RotatingLog>,
    log_failed: bool,
    rec: Option<Recording>,
    plan: FolderPlan,
    metrics: MetricsSink,
    last_incident_s: Option<f64>,
    baseline: Duration,
    fast: Duration,
    rate: watch::Sender<Duration>,
}

impl Watcher {
    /// One event: counted, logged, judged, and kept (in the incident, or in the minute before the next one).
    fn handle(&mut self, ev: Event) {
        if matches!(ev, Event::Snapshot(_)) {
            return;
        }
        self.metrics.observe(&ev);
        if let Event::Probe(p) = &ev {
            self.rollup.probe(&target_key(&p.source, &p.target), p.outcome.class().is_none(), p.stamp.offset_ms);
        }
        if let Some(log) = &mut self.log {
            if let Err(e) = log.write(&ev) {
                if !self.log_failed {
                    eprintln!("warning: {e}");
                    self.log_failed = true;
                }
            }
        }
        let steps: Vec<Step> = self.tracker.observe(&ev).into_iter().collect();
        self.apply(steps);
        match &mut self.rec {
            Some(r) => r.events.push(ev.rebased(r.base_ms)),
            None => self.ring.push(ev),
        }
    }

    /// Opens and closes incidents as the tracker says.
    fn apply(&mut self, steps: Vec<Step>) {
        if steps.is_empty() {
            return;
        }
        for step in steps {
            match step {
                Step::Open { at_ms, trigger } => {
                    let base_ms = at_ms.saturating_sub(crate::incident::duration_ms(BEFORE));
                    let events = self.ring.take().into_iter().map(|e| e.rebased(base_ms)).collect();
                    let at = self.plan.clock.stamp_at(self.plan.clock.origin() + Duration::from_millis(at_ms));
                    println!("watch: incident opened at {}: {}", at.wall, crate::secret::scrub(&trigger.to_string()));
                    self.rec = Some(Recording { base_ms, started_ms: at_ms, trigger: trigger.to_string(), events });
                    self.rollup.incident();
                    let _ = self.rate.send(self.fast);
                }
                Step::Close { at_ms, ending } => {
                    let word = match ending {
                        Ending::Quiet => "every shard back and quiet",
                        Ending::Cut => "cut at --incident-max",
                    };
                    self.close(at_ms, word, false);
                    let _ = self.rate.send(self.baseline);
                }
            }
        }
        self.publish();
    }

    /// Writes the open incident, if any.
    fn close(&mut self, at_ms: u64, ending: &str, interrupted: bool) {
        let Some(rec) = self.rec.take() else { return };
        match folder::write(&self.plan, rec, at_ms, ending, interrupted) {
            Ok((dir, len)) => {
                self.last_incident_s = Some(len.as_secs_f64());
                let how = if interrupted { "written as interrupted" } else { ending };
                println!("watch: incident closed after {} ({how}): {}", crate::probe::fmt_duration(len), dir.display());
            }
            Err(e) => eprintln!("warning: {e}"),
        }
    }

    /// The gauges of the metrics endpoint.
    fn publish(&self) {
        let down: Vec<&str> = self.tracker.down().collect();
        let now = self.plan.clock.elapsed().as_millis() as u64;
        let targets = self
            .rollup
            .total
            .iter()
            .map(|(t, c)| (t.clone(), down.contains(&t.as_str()), c.availability(now)))
            .collect();
        self.metrics.watch_state(&WatchState {
            targets,
            incident_open: self.tracker.is_open(),
            incidents: self.rollup.incidents,
            last_incident_s: self.last_incident_s,
        });
    }

    /// The end of the run: an open incident is written as interrupted, then the last summary line.
    fn stop(&mut self, now: Duration) {
        self.close(now.as_millis() as u64, "stopped", true);
        let label = format!("stopped after {}, since the last summary", crate::probe::fmt_duration(now));
        let line = self.rollup.period_line(&label, now.as_millis() as u64);
        println!("{line}");
    }
}
