//! `monitor`: a live topology timeline with maintenance notices and the stale-topology diagnoses
//! (was `GET /redis/monitor`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::cli::MonitorArgs;
use crate::clock::Clock;
use crate::error::AppResult;
use crate::events::{Event, EventLog, NoticeEvent};
use crate::exit::ExitCode;
use crate::mode::Mode;
use crate::notices::{azure, maint};
use crate::output;
use crate::probe::collect::{Collector, TopologyRecord};
use crate::probe::session::Session;
use crate::topology::Topology;
use crate::watch;

/// The `monitor` summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorSummary {
    /// Mode.
    pub mode: Mode,
    /// Seed URLs, password masked.
    pub endpoints: Vec<String>,
    /// Start (RFC 3339).
    pub started_at: String,
    /// How long it watched (ms).
    pub elapsed_ms: u64,
    /// Polls made.
    pub polls: u64,
    /// Topology changes in order (the first 5000).
    pub changes: Vec<TopologyRecord>,
    /// Topology changes left out of `changes` because of the cap (the events file has them all).
    #[serde(default)]
    pub changes_dropped: u64,
    /// Reachability changes, diagnoses, maintenance notices, warnings, in order (the first 5000).
    pub notices: Vec<NoticeEvent>,
    /// Notices left out of `notices` because of the cap (the events file has them all).
    #[serde(default)]
    pub notices_dropped: u64,
    /// Client events by kind.
    pub client_events: std::collections::BTreeMap<String, u64>,
    /// Topology at the start (oss-cluster).
    pub topology_start: Option<Topology>,
    /// Topology at the end.
    pub topology_end: Option<Topology>,
    /// Replication state at the start (standalone / enterprise).
    pub replication_start: Option<std::collections::BTreeMap<String, String>>,
    /// Replication state at the end.
    pub replication_end: Option<std::collections::BTreeMap<String, String>>,
    /// Ended by Ctrl-C / SIGTERM.
    pub interrupted: bool,
}

impl MonitorSummary {
    /// The same facts in the shape the report writers take: no probe targets, the changes and notices.
    pub fn as_run_summary(&self, args: &MonitorArgs) -> crate::report::RunSummary {
        crate::report::RunSummary {
            command: "monitor".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            sources: vec![crate::report::SourceInfo {
                name: String::new(),
                mode: self.mode.to_string(),
                client: "fred".into(),
                endpoints: self.endpoints.clone(),
            }],
            started_at: self.started_at.clone(),
            planned_duration_ms: args.duration.as_millis() as u64,
            elapsed_ms: self.elapsed_ms,
            interval_ms: args.interval.as_millis() as u64,
            baseline_interval_ms: None,
            interrupted: self.interrupted,
            targets: vec![],
            overall: Default::default(),
            client_events: self.client_events.clone(),
            topology_changes: self.changes.clone(),
            topology_changes_dropped: self.changes_dropped,
            notices: self.notices.clone(),
            notices_dropped: self.notices_dropped,
            lab: None,
            schedule: vec![],
            verdict: crate::probe::Verdict::Passed,
            per_source: vec![],
            recovery: vec![],
            extra_labs: vec![],
        }
    }

    fn render(&self) -> String {
        let mut out = format!(
            "monitored {} for {:.1}s ({} polls): {} topology change(s), {} notice(s)\n",
            self.endpoints.join(", "),
            self.elapsed_ms as f64 / 1000.0,
            self.polls,
            self.changes.len(),
            self.notices.len()
        );
        let mut t = output::table(&["at", "event"]);
        let mut rows: Vec<(u64, String)> = self
            .changes
            .iter()
            .map(|c| (c.stamp.offset_ms, c.change.to_string()))
            .chain(self.notices.iter().map(|n| (n.stamp.offset_ms, format!("{}: {}", n.kind, n.detail))))
            .collect();
        rows.sort_by_key(|r| r.0);
        for (at, text) in rows {
            t.add_row(vec![format!("+{:.1}s", at as f64 / 1000.0), text]);
        }
        out.push_str(&t.to_string());
        if let Some(end) = &self.topology_end {
            let mut s = output::table(&["slots", "primary", "replicas"]);
            for shard in &end.shards {
                s.add_row(vec![
                    shard.slots.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(" "),
                    shard.primary.endpoint.to_string(),
                    shard.replicas.iter().map(|r| r.endpoint.to_string()).collect::<Vec<_>>().join(", "),
                ]);
            }
            out.push_str(&format!("\ntopology at the end:\n{s}"));
        }
        if let Some(r) = &self.replication_end {
            let parts: Vec<String> = r.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("\nreplication at the end: {}", parts.join(" ")));
        }
        if self.interrupted {
            out.push_str("\nINTERRUPTED: partial results");
        }
        out
    }
}

/// Starts the notice listeners that apply: Azure's channel (unless disabled) and, when asked, the RESP3
/// maintenance push notices. A refusal is one notice line; monitoring goes on.
pub async fn start_listeners(
    c: &Ctx,
    clock: Clock,
    tx: &tokio::sync::mpsc::UnboundedSender<Event>,
    azure_events: bool,
    maint_notifications: bool,
) -> Vec<tokio::task::JoinHandle<()>> {
    let seed = c.settings.target.seeds[0].clone();
    let mut handles = Vec::new();
    let warn =
        |detail: String| Event::Notice(NoticeEvent { stamp: clock.now(), kind: "warning".into(), detail, data: None });
    if azure_events {
        match azure::subscribe_azure_events(&c.factory, &seed, clock, tx.clone()).await {
            Ok(h) => handles.push(h),
            Err(e) => {
                let _ = tx.send(warn(format!("cannot subscribe to {}: {e}", azure::AZURE_CHANNEL)));
            }
        }
    }
    if maint_notifications {
        match maint::listen_maint_notices(&c.settings.target, &seed, clock, tx.clone()).await {
            Ok(h) => handles.push(h),
            Err(e) => {
                let _ = tx.send(warn(format!("maintenance notifications not available: {e}")));
            }
        }
    }
    handles
}

/// Runs `monitor`.
pub async fn run(c: &Ctx, args: &MonitorArgs) -> AppResult<ExitCode> {
    crate::settings::check_cadence(args.interval, args.duration)?;
    let log = args.events.as_deref().map(EventLog::create).transpose()?;
    if let Some(path) = &args.report {
        crate::report::check_report_path(path)?;
    }
    // Connecting first checks the mode against the server and gives the client's own events.
    let conn = c.factory.connect().await?;
    let clock = Clock::start();
    let session = Session::new(clock);
    let tx = session.sender();
    let forwarders = crate::probe::engine::spawn_client_forwarders(&conn, "", clock, tx.clone());
    let listeners = start_listeners(c, clock, &tx, !args.no_azure_events, args.maint_notifications).await;
    let plan = watch::WatchPlan { mode: conn.mode, interval: args.interval, duration: args.duration, publish: None };
    let watcher = tokio::spawn(watch::run(Arc::clone(&c.factory), plan, clock, tx.clone(), session.stopped()));
    drop(tx);
    let collector = Collector::new(clock, args.duration, crate::probe::plan::STRIP_WIDTH, log);
    let view = crate::render::choose(c.settings.output, args.duration, "monitor");
    // The watcher ends at the duration (or on a signal); the session ends with it.
    let (outcome, result) = session
        .run_with(vec![], collector, view, Default::default(), async { watcher.await.unwrap_or_default() })
        .await;
    for h in forwarders.into_iter().chain(listeners) {
        h.abort();
    }
    conn.close().await;
    let col = &outcome.collector;
    let summary = MonitorSummary {
        mode: conn.mode,
        endpoints: c.settings.target.display_urls(),
        started_at: clock.stamp_at(clock.origin()).wall,
        elapsed_ms: outcome.elapsed.as_millis() as u64,
        polls: result.polls,
        changes: col.topology.clone(),
        changes_dropped: col.topology_dropped,
        notices: col.notices.clone(),
        notices_dropped: col.notices_dropped,
        client_events: col.client_events.clone(),
        topology_start: result.start,
        topology_end: result.end,
        replication_start: result.replication_start,
        replication_end: result.replication_end,
        interrupted: outcome.interrupted,
    };
    match c.settings.output {
        crate::output::OutputFormat::Json => output::println(&output::to_json(&summary)),
        crate::output::OutputFormat::Table => output::println(summary.render().trim_end()),
    }
    if let Some(path) = &args.report {
        if let Err(e) = crate::report::write_report(path, &summary.as_run_summary(args)) {
            eprintln!("warning: {e}");
        }
    }
    Ok(if summary.interrupted { ExitCode::Interrupted } else { ExitCode::Ok })
}
