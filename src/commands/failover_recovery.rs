//! `failover-recovery`: probe every shard for the duration and tell whether the connection survived the
//! failover, how long each shard was unavailable, and why (was `GET /redis/failover-recovery`).

use super::Ctx;
use crate::cli::FailoverRecoveryArgs;
use crate::clock::Clock;
use crate::connect::{self, Connection};
use crate::error::AppResult;
use crate::events::EventLog;
use crate::exit::ExitCode;
use crate::output;
use crate::probe::collect::{self, Collector};
use crate::probe::session::{Session, SessionOutcome, Source};
use crate::probe::{engine, judge, plan, VerdictPolicy};
use crate::report::{self, LabSummary, RunSummary, SourceInfo, SourceSchedule};

/// Builds the summary of a finished session.
pub fn summarize(
    command: &str,
    sources: Vec<SourceInfo>,
    args: &crate::cli::ProbeArgs,
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
        interrupted: outcome.interrupted,
        overall: collect::overall(&targets),
        targets,
        client_events: c.client_events.clone(),
        topology_changes: c.topology.clone(),
        notices: c.notices.clone(),
        lab,
        schedule: outcome
            .schedule
            .iter()
            .map(|(s, st)| SourceSchedule { source: s.clone(), stats: st.clone() })
            .collect(),
        verdict,
    }
}

/// Prints the summary and maps it to the exit code: 130 when interrupted, 1 when the verdict failed.
pub fn finish(c: &Ctx, summary: &RunSummary, log_error: Option<&str>) -> ExitCode {
    match c.settings.output {
        crate::cli::OutputFormat::Json => output::println(&output::to_json(summary)),
        crate::cli::OutputFormat::Table => output::println(report::render_table(summary).trim_end()),
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

/// Runs `failover-recovery`.
pub async fn run(c: &Ctx, args: &FailoverRecoveryArgs) -> AppResult<ExitCode> {
    plan::validate(&args.probe)?;
    let log = args.probe.events.as_deref().map(EventLog::create).transpose()?;
    let metrics =
        crate::metrics::MetricsSink::start(args.probe.metrics_listen.as_deref(), args.probe.metrics_file.as_deref())
            .await?;
    let conn = c.factory.connect().await?;
    let run_id = connect::run_id();
    let cfg = plan::engine_config(&args.probe, "", c.settings.target.timeout, &run_id);
    let (targets, topology) = engine::plan(&conn, &c.settings.target.seeds[0], args.keys as usize, &cfg).await;
    let keys: Vec<String> = targets.iter().map(|t| t.key.clone()).collect();
    let clock = Clock::start();
    let session = Session::new(clock);
    let collector = Collector::new(clock, args.probe.duration, plan::STRIP_WIDTH, log);
    let view = crate::render::choose(c.settings.output, args.probe.duration, "failover-recovery");
    let source = Source {
        prober: std::sync::Arc::new(engine::FredProber(conn.clone())),
        conn: Some(conn.clone()),
        targets,
        topology,
        cfg,
    };
    let outcome = session.run(vec![source], collector, view, metrics).await;
    cleanup(&conn, &keys).await;
    conn.close().await;
    let info = SourceInfo {
        name: String::new(),
        mode: conn.mode.to_string(),
        client: "fred".into(),
        endpoints: c.settings.target.display_urls(),
    };
    let summary = summarize("failover-recovery", vec![info], &args.probe, &clock, &outcome, None);
    Ok(finish(c, &summary, outcome.collector.log_error.as_deref()))
}
