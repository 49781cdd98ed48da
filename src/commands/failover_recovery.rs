//! `failover-recovery`: probe every shard for the duration and tell whether the connection survived the
//! failover, how long each shard was unavailable, and why (was `GET /redis/failover-recovery`).

use std::sync::Arc;

use super::{rehearsal, Ctx};
use crate::cli::FailoverRecoveryArgs;
use crate::clock::Clock;
use crate::connect::{self, Connection, Factory};
use crate::error::{AppError, AppResult};
use crate::events::EventLog;
use crate::exit::ExitCode;
use crate::mode::Mode;
use crate::output;
use crate::probe::collect::{self, Collector};
use crate::probe::session::{Session, SessionOutcome, Source};
use crate::probe::styles::ClientSpec;
use crate::probe::{judge, plan, VerdictPolicy};
use crate::report::{self, LabSummary, RunSummary, SourceInfo, SourceSchedule};
use crate::settings::Target;

/// Builds the summary of a finished session.
pub fn summarize(
    command: &str,
    sources: Vec<SourceInfo>,
    args: &crate::settings::ProbeSettings,
    clock: &Clock,
    outcome: &SessionOutcome,
    lab: Option<LabSummary>,
) -> RunSummary {
    let c = &outcome.collector;
    let targets = c.target_reports(outcome.elapsed);
    let named: Vec<(String, crate::probe::TargetSummary)> = targets
        .iter()
        .map(|t| {
            (if t.source.is_empty() { t.name.clone() } else { format!("{}/{}", t.source, t.name) }, t.summary.clone())
        })
        .collect();
    let verdict = judge(&named, &VerdictPolicy { max_outage: args.max_outage });
    RunSummary {
        command: command.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        sources,
        started_at: clock.stamp_at(clock.origin()).wall,
        planned_duration_ms: args.duration.as_millis() as u64,
        elapsed_ms: outcome.elapsed.as_millis() as u64,
        interval_ms: args.interval.as_millis() as u64,
        baseline_interval_ms: None,
        interrupted: outcome.interrupted,
        overall: collect::overall(&targets),
        targets,
        client_events: c.client_events.clone(),
        topology_changes: c.topology.clone(),
        topology_changes_dropped: c.topology_dropped,
        notices: c.notices.clone(),
        notices_dropped: c.notices_dropped,
        lab,
        schedule: outcome
            .schedule
            .iter()
            .map(|(s, st)| SourceSchedule { source: s.clone(), stats: st.clone() })
            .collect(),
        verdict,
        per_source: Vec::new(),
        recovery: Vec::new(),
        extra_labs: Vec::new(),
    }
}

/// Prints the summary, writes the report, and maps it to the exit code: 130 when interrupted, 1 when the verdict
/// failed.
pub fn finish(
    c: &Ctx,
    summary: &RunSummary,
    report_path: Option<&std::path::Path>,
    log_error: Option<&str>,
) -> ExitCode {
    if let Some(path) = report_path {
        if let Err(e) = report::write_report(path, summary) {
            eprintln!("warning: {e}");
        }
    }
    match c.settings.output {
        crate::output::OutputFormat::Json => output::println(&output::to_json(summary)),
        crate::output::OutputFormat::Table => output::println(report::render_table(summary).trim_end()),
    }
    if let Some(e) = log_error {
        eprintln!("warning: {e}");
    }
    if summary.interrupted {
        ExitCode::Interrupted
    } else if summary.verdict.is_passed() {
        ExitCode::Ok
    } else {
        ExitCode::CheckFailed
    }
}

/// Deletes the probe keys, bounded: they expire anyway.
pub async fn cleanup(conn: &Connection, keys: &[String]) {
    use fred::prelude::*;
    for key in keys {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), conn.client.del::<i64, _>(key)).await;
    }
}

/// Whether `client` routes keys itself in `mode`: every client but fred on a cluster. One endpoint
/// (standalone, enterprise) has nothing to route, so direct probes it over fred's one connection.
pub fn routes_itself(client: &ClientSpec, mode: Mode) -> bool {
    client.is_emulated() && mode == Mode::OssCluster
}

/// Refuses a client that cannot probe `mode`, before anything is started.
pub fn check_style(client: &ClientSpec, mode: Mode) -> AppResult<()> {
    if client.habit().is_some() && mode != Mode::OssCluster {
        return Err(AppError::BadInput(format!(
            "--client {client} emulates a cluster client: it needs --mode oss-cluster"
        )));
    }
    if let Some(real) = client.real() {
        if mode != Mode::OssCluster {
            return Err(AppError::BadInput(format!(
                "--client {client} drives the library's cluster client: it needs --mode oss-cluster"
            )));
        }
        real.preflight()?;
    }
    Ok(())
}

/// Runs `failover-recovery`.
pub async fn run(c: &Ctx, args: &FailoverRecoveryArgs) -> AppResult<ExitCode> {
    let probe = crate::cli::probe_settings(&args.probe)?;
    rehearsal::validate(&args.lab, probe.duration)?;
    let client = args.client.with_options(args.client_options.as_deref()).map_err(AppError::BadInput)?;
    check_style(&client, c.settings.target.mode)?;
    let log = probe.events.as_deref().map(EventLog::create).transpose()?;
    let metrics =
        crate::metrics::MetricsSink::start(probe.metrics_listen.as_deref(), probe.metrics_file.as_deref()).await?;
    // A rehearsal probes its own lab; the target flags only choose the mode (and the timeout).
    let lab = match args.lab.lab {
        Some(_) => Some(rehearsal::start(rehearsal::topology_for(c.settings.target.mode), &args.lab).await?),
        None => None,
    };
    let (factory, target) = match &lab {
        Some(lab) => {
            let target = Target {
                timeout: c.settings.target.timeout,
                reconnect_max: c.settings.target.reconnect_max,
                fred_use_cache: c.settings.target.fred_use_cache,
                ..lab.target()
            };
            (Arc::new(Factory::new(target.clone())?), target)
        }
        None => (Arc::clone(&c.factory), c.settings.target.clone()),
    };
    let run_id = connect::run_id();
    let cfg = plan::engine_config(&probe, "", target.timeout, &run_id);
    let clock = Clock::start();
    let session = Session::new(clock);
    let tx = session.sender();
    let stopped = session.stopped();
    // The probing client: a routed style over its own per-node connections, fred's client, or the real library.
    let how = super::sources::Probing { refresh_after: probe.refresh_after, keys: args.keys as usize };
    let prepared = super::sources::prepare("", Arc::clone(&factory), &client, how, cfg.clone(), clock, &tx).await;
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => {
            if let Some(lab) = lab {
                lab.shutdown().await;
            }
            return Err(e);
        }
    };
    let mode = target.mode;
    let (publish, feed) = tokio::sync::watch::channel(prepared.topology.clone());
    let feed = (mode == Mode::OssCluster).then_some(feed);
    let watcher = (mode == Mode::OssCluster).then(|| {
        let plan = crate::watch::WatchPlan {
            mode,
            interval: probe.topology_interval,
            duration: probe.duration,
            publish: Some(publish),
        };
        tokio::spawn(crate::watch::run(Arc::clone(&factory), plan, clock, tx.clone(), session.stopped()))
    });
    let listeners = if lab.is_none() {
        let ctx = Ctx { settings: c.settings.clone(), raw_target: c.raw_target.clone(), factory: Arc::clone(&factory) };
        super::monitor::start_listeners(&ctx, clock, &tx, true, false).await
    } else {
        Vec::new()
    };
    let deaths = super::sources::stop_on_driver_death(std::slice::from_ref(&prepared), session.stopper());
    let collector = Collector::new(clock, probe.duration, plan::STRIP_WIDTH, log);
    let view = crate::render::choose(c.settings.output, probe.duration, "failover-recovery");
    let source = Source {
        prober: Arc::clone(&prepared.prober),
        conn: prepared.conn.clone(),
        targets: prepared.targets.clone(),
        feed,
        cfg,
    };
    let injection = async {
        match (lab, args.lab.lab) {
            (Some(lab), Some(kind)) => {
                let scenario = rehearsal::scenario(kind, &args.lab);
                Some(rehearsal::inject(lab, scenario, args.lab.at, clock, String::new(), tx, stopped).await)
            }
            _ => {
                drop(tx);
                None
            }
        }
    };
    let (outcome, injected) = session.run_with(vec![source], collector, view, metrics, injection).await;
    for h in listeners.into_iter().chain(deaths) {
        h.abort();
    }
    if let Some(w) = watcher {
        w.abort();
    }
    let recovery = match &prepared.emulated {
        Some(emu) => vec![crate::report::SourceRecovery { source: String::new(), shards: emu.recovery() }],
        None => Vec::new(),
    };
    super::sources::cleanup(&prepared).await;
    let died = super::sources::driver_death(std::slice::from_ref(&prepared));
    let lab_summary = match (&injected, args.lab.lab) {
        (Some((_, result)), Some(kind)) => {
            let targets = outcome.collector.target_reports(outcome.elapsed);
            Some(rehearsal::summarize(kind, args.lab.at, result, &targets, ""))
        }
        _ => None,
    };
    if let Some((lab, _)) = injected {
        lab.shutdown().await;
    }
    if let Some(e) = died {
        return Err(e);
    }
    let info = SourceInfo { name: String::new(), ..prepared.info.clone() };
    let mut summary = summarize("failover-recovery", vec![info], &probe, &clock, &outcome, lab_summary);
    summary.recovery = recovery;
    Ok(finish(c, &summary, probe.report.as_deref(), outcome.collector.log_error.as_deref()))
}
