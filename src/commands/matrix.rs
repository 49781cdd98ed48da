//! `matrix`: each scenario once on a fresh lab cluster, every requested client probing it at the same time
//! (direct first: the shards' own availability), then client × scenario ([`crate::matrix`]). Scenarios run
//! one after another: two cores cannot hold several clusters with a 1 s node timeout without failovers
//! nobody asked for.

use std::sync::Arc;
use std::time::Duration;

use super::rehearsal;
use super::sources::{cleanup, futures_join, prepare, watch_and_plan, Prepared, Probing};
use super::Ctx;
use crate::cli::{MatrixArgs, ProbeArgs, RehearsalArgs, TrafficChoice};
use crate::clock::Clock;
use crate::connect::{self, Factory};
use crate::error::{AppError, AppResult};
use crate::events::EventLog;
use crate::exit::ExitCode;
use crate::lab::{ScenarioKind, TopologyKind};
use crate::matrix::{self, Cell, Column, Expectations, Fate, MatrixReport, ShardFate, Traffic, TruthRow};
use crate::metrics::MetricsSink;
use crate::probe::collect::{Collector, TargetReport};
use crate::probe::plan;
use crate::probe::session::Session;
use crate::probe::styles::{ClientKind, ClientSpec, RecoveryHow, ShardRecovery};
use crate::settings::{ProbeSettings, Target};

/// The longest default run: a minute of the slowest timer (60 s periodic checks, a 60 s map age) and room
/// around it.
const MAX_DEFAULT_DURATION: Duration = Duration::from_secs(120);

/// Parses `--clients`: `all`, or a comma-separated list where a `param=value` belongs to the preset before
/// it. direct comes first, whether named or not; a client named twice is kept once.
pub fn parse_clients(text: &str) -> AppResult<Vec<ClientSpec>> {
    let mut groups: Vec<String> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part.contains('=') {
            let Some(last) = groups.last_mut() else {
                return Err(AppError::BadInput(format!("--clients '{text}': '{part}' comes before any client")));
            };
            last.push(',');
            last.push_str(part);
        } else {
            groups.push(part.to_string());
        }
    }
    let mut out = vec![ClientSpec::direct()];
    for g in groups {
        let specs = if g == "all" {
            ClientSpec::all()
        } else {
            vec![ClientSpec::parse(&g).map_err(|e| AppError::BadInput(format!("--clients: {e}")))?]
        };
        for s in specs {
            if !out.iter().any(|o| o.label == s.label) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// The run length when `--duration` is not given: the injection, 30 s, and the longest timer any requested
/// client waits for before it looks for a new map, at most [`MAX_DEFAULT_DURATION`].
pub fn default_duration(at: Duration, clients: &[ClientSpec]) -> Duration {
    let longest = clients.iter().filter_map(longest_timer).max().unwrap_or_default();
    (at + Duration::from_secs(30) + longest).min(MAX_DEFAULT_DURATION.max(at + Duration::from_secs(10)))
}

/// The longest a client's habit waits on a timer before it looks for a new map (periodic refresh, map age,
/// reconnect time); `None` for a client without such a timer.
/// A real library waits as long as the preset that models it.
fn longest_timer(client: &ClientSpec) -> Option<Duration> {
    let model;
    let habit = match (client.habit(), client.real()) {
        (Some(h), _) => h,
        (None, Some(real)) => {
            let preset = real.preset_among(&crate::probe::styles::habit::PRESETS, "")?;
            model = crate::probe::styles::habit::parse::parse_habit(preset).ok()?;
            &model
        }
        (None, None) => return None,
    };
    let t = &habit.triggers;
    [t.periodic, t.max_age, t.reconnecting_for].into_iter().flatten().max()
}

/// Runs `matrix`.
pub async fn run(c: &Ctx, args: &MatrixArgs) -> AppResult<ExitCode> {
    let clients = parse_clients(&args.clients)?;
    // A real client that cannot run is found before the first lab starts, not after it.
    super::sources::preflight(clients.iter())?;
    let duration = args.duration.unwrap_or_else(|| default_duration(args.at, &clients));
    if args.at >= duration {
        return Err(AppError::BadInput(format!(
            "--at {} is not before the end of --duration {}: the scenario would never be seen",
            crate::probe::fmt_duration(args.at),
            crate::probe::fmt_duration(duration)
        )));
    }
    for (client, timer) in clients.iter().filter_map(|c| Some((c, longest_timer(c)?))) {
        if args.at + timer >= duration {
            eprintln!(
                "warning: {client} waits up to {} before it looks for a new map: --duration {} may end first",
                crate::probe::fmt_duration(timer),
                crate::probe::fmt_duration(duration)
            );
        }
    }
    let scenario_names: Vec<String> = args.scenarios.iter().map(|s| s.to_string()).collect();
    let expectations = Expectations::parse(&args.expect, &scenario_names)?;
    let labels: Vec<String> = clients.iter().map(|c| c.label.clone()).collect();
    for name in expectations.unknown(&labels) {
        eprintln!("warning: --expect names '{name}', which is not a client of this run");
    }
    if let Some(path) = &args.report {
        report_format(path)?;
        crate::events::check_writable(path, "report")?;
    }
    if let Some(path) = &args.events {
        EventLog::create(path)?;
    }
    let probe = crate::cli::probe_settings(&ProbeArgs {
        duration,
        interval: args.interval,
        prefix: "rfp:".into(),
        ttl: Duration::from_secs(60).max(duration),
        max_outage: None,
        events: None,
        report: None,
        read_only: false,
        metrics_listen: None,
        metrics_file: None,
        refresh_after: crate::probe::styles::DEFAULT_REFRESH_AFTER,
        topology_interval: Duration::from_secs(1),
    })?;
    let traffics: &[Traffic] = match args.traffic {
        TrafficChoice::Busy => &[Traffic::Busy],
        TrafficChoice::Idle => &[Traffic::Idle],
        TrafficChoice::Both => &[Traffic::Busy, Traffic::Idle],
    };
    let mut report = MatrixReport {
        clients: labels,
        columns: Vec::new(),
        duration_ms: crate::probe::duration_ms(duration),
        interval_ms: crate::probe::duration_ms(args.interval),
        seed: format!("{:?}", args.seed).to_lowercase(),
        unexpected: Vec::new(),
        interrupted: false,
    };
    'all: for kind in &args.scenarios {
        for traffic in traffics {
            eprintln!(
                "matrix: {kind}{}: {} clients on a fresh lab, {} of probing, injected at {}",
                if *traffic == Traffic::Idle { " (idle)" } else { "" },
                clients.len(),
                crate::probe::fmt_duration(duration),
                crate::probe::fmt_duration(args.at)
            );
            let column = Scenario { c, args, probe: &probe, clients: &clients, kind: *kind, traffic: *traffic };
            let (col, interrupted) = column.run(&expectations).await;
            for cell in col.cells.iter().filter(|cell| !cell.as_expected) {
                report.unexpected.push(format!(
                    "{}: {} {}",
                    col.title(),
                    cell.client,
                    match cell.fate {
                        Fate::Recovered => "recovered, expected to stay stuck",
                        Fate::Stuck => "stayed stuck, expected to recover",
                        Fate::NoData => "gave no data",
                    }
                ));
            }
            report.columns.push(col);
            if interrupted {
                report.interrupted = true;
                break 'all;
            }
        }
    }
    Ok(finish(c, &report, args.report.as_deref()))
}

fn report_format(path: &std::path::Path) -> AppResult<bool> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("md") => Ok(false),
        Some("json") => Ok(true),
        _ => Err(AppError::BadInput(format!("--report {}: give FILE.md or FILE.json", path.display()))),
    }
}

fn finish(c: &Ctx, report: &MatrixReport, path: Option<&std::path::Path>) -> ExitCode {
    if let Some(path) = path {
        let text = match report_format(path) {
            Ok(true) => crate::output::to_json(report),
            _ => matrix::render::markdown(report),
        };
        if let Err(e) = std::fs::write(path, crate::secret::scrub(&text)) {
            eprintln!("warning: cannot write the report {}: {e}", path.display());
        }
    }
    match c.settings.output {
        crate::output::OutputFormat::Json => crate::output::println(&crate::output::to_json(report)),
        crate::output::OutputFormat::Table => crate::output::println(matrix::render::table(report).trim_end()),
    }
    if report.interrupted {
        ExitCode::Interrupted
    } else if report.passed() {
        ExitCode::Ok
    } else {
        ExitCode::CheckFailed
    }
}

/// One column to run.
struct Scenario<'a> {
    c: &'a Ctx,
    args: &'a MatrixArgs,
    probe: &'a ProbeSettings,
    clients: &'a [ClientSpec],
    kind: ScenarioKind,
    traffic: Traffic,
}

impl Scenario<'_> {
    fn rehearsal(&self) -> RehearsalArgs {
        let a = self.args;
        RehearsalArgs {
            lab: Some(self.kind),
            at: a.at,
            hang_for: a.hang_for,
            shard: a.shard,
            primaries: a.primaries,
            replicas: a.replicas,
            tls: false,
            seed: a.seed,
            drain: a.drain,
        }
    }

    fn column(&self, error: Option<String>) -> Column {
        Column {
            scenario: self.kind.to_string(),
            traffic: self.traffic,
            injected_at_ms: crate::probe::duration_ms(self.args.at),
            ended_at_ms: None,
            truth: Vec::new(),
            error,
            cells: Vec::new(),
        }
    }

    /// Runs the column; a lab that cannot start is the column's error, not the run's.
    async fn run(&self, expectations: &Expectations) -> (Column, bool) {
        let rehearsal = self.rehearsal();
        let lab = match rehearsal::start(TopologyKind::Cluster, &rehearsal).await {
            Ok(lab) => lab,
            Err(e) => return (self.column(Some(e.to_string())), false),
        };
        let t = &self.c.settings.target;
        let factory = match Factory::new(Target {
            timeout: t.timeout,
            reconnect_max: t.reconnect_max,
            fred_use_cache: t.fred_use_cache,
            ..lab.target()
        }) {
            Ok(f) => Arc::new(f),
            Err(e) => {
                lab.shutdown().await;
                return (self.column(Some(e.to_string())), false);
            }
        };
        let run_id = connect::run_id();
        let clock = Clock::start();
        let session = Session::new(clock);
        let tx = session.sender();
        let (pause_tx, pause_rx) = tokio::sync::watch::channel(false);
        let mut prepared: Vec<Prepared> = Vec::new();
        let mut refused: Vec<(usize, String)> = Vec::new();
        for (i, client) in self.clients.iter().enumerate() {
            let mut cfg = plan::engine_config(self.probe, &client.label, t.timeout, &format!("{run_id}{i}"));
            if self.traffic == Traffic::Idle && !client.is_direct() {
                cfg.pause = Some(pause_rx.clone());
            }
            match prepare(
                &client.label,
                Arc::clone(&factory),
                client,
                Probing::one_key(self.probe.refresh_after),
                cfg,
                clock,
                &tx,
            )
            .await
            {
                Ok(p) => prepared.push(p),
                Err(e) => refused.push((i, e.to_string())),
            }
        }
        let (watcher, sources) = watch_and_plan(&prepared, self.probe, clock, &tx, session.stopped());
        let log = self.args.events.as_deref().and_then(|p| EventLog::append(p).ok());
        let collector = Collector::new(clock, self.probe.duration, plan::STRIP_WIDTH, log);
        let title = match self.traffic {
            Traffic::Busy => self.kind.to_string(),
            Traffic::Idle => format!("{} (idle)", self.kind),
        };
        let view = Box::new(crate::render::ProgressView::new(&title));
        let scenario = rehearsal::scenario(self.kind, &rehearsal);
        let stopped = session.stopped();
        let idle = self.traffic == Traffic::Idle;
        let at = self.args.at;
        let injection = async move {
            let pausing = async {
                if idle {
                    tokio::time::sleep_until((clock.origin() + at).into()).await;
                    let _ = pause_tx.send(true);
                }
            };
            let inject = rehearsal::inject(lab, scenario, at, clock, "cluster".into(), tx, stopped);
            let (injected, ()) = tokio::join!(inject, pausing);
            // The maintenance is over: the idle clients' traffic resumes.
            let _ = pause_tx.send(false);
            (injected, clock.elapsed())
        };
        let (outcome, ((lab, result), ended)) =
            session.run_with(sources, collector, view, MetricsSink::none(), injection).await;
        if let Some(w) = watcher {
            w.abort();
        }
        let targets = outcome.collector.target_reports(outcome.elapsed);
        let lab_summary = rehearsal::summarize(self.kind, at, &result, &targets, "direct");
        // How each client recovered is read before its connections close; keys go while the lab still runs.
        let books: Vec<Option<Vec<ShardRecovery>>> =
            prepared.iter().map(|p| p.emulated.as_ref().map(|e| e.recovery())).collect();
        let reals: Vec<Option<(String, Option<String>)>> =
            prepared.iter().map(|p| p.real.as_ref().map(|r| (r.version(), r.death()))).collect();
        futures_join(prepared.iter().map(cleanup).collect()).await;
        lab.shutdown().await;
        let mut col = self.column(lab_summary.error.clone());
        col.ended_at_ms = result.as_ref().filter(|r| r.is_ok()).map(|_| crate::probe::duration_ms(ended));
        col.truth = lab_summary
            .shards
            .iter()
            .map(|s| TruthRow { shard: s.shard.clone(), affected: s.affected, ground_truth_ms: s.ground_truth_ms })
            .collect();
        let at_ms = crate::probe::duration_ms(at);
        for (i, client) in self.clients.iter().enumerate() {
            let expected = expectations.of(&col.scenario, self.traffic, &client.label);
            if let Some((_, why)) = refused.iter().find(|(j, _)| *j == i) {
                col.cells.push(matrix::cell(&client.label, Vec::new(), format!("could not start: {why}"), expected));
                continue;
            }
            let Some(k) = prepared.iter().position(|p| p.info.name == client.label) else { continue };
            let cell = match &reals[k] {
                // A driver that died mid-run measured nothing after its death: no data, and why.
                Some((_, Some(death))) => matrix::cell(&client.label, Vec::new(), death.clone(), expected),
                Some((version, None)) => {
                    let mut cell = cell_of(client, None, &targets, &col.truth, at_ms, expected);
                    cell.how = format!("the library: {version}");
                    cell
                }
                None => cell_of(client, books[k].as_deref(), &targets, &col.truth, at_ms, expected),
            };
            col.cells.push(cell);
        }
        flag_disagreements(&mut col, self.clients, &reals_by_label(self.clients, &prepared));
        (col, outcome.interrupted)
    }
}

/// The installed version of every real client that ran, by label.
fn reals_by_label(clients: &[ClientSpec], prepared: &[Prepared]) -> Vec<(String, String)> {
    clients
        .iter()
        .filter_map(|c| {
            let p = prepared.iter().find(|p| p.info.name == c.label)?;
            Some((c.label.clone(), p.real.as_ref()?.installed_version()))
        })
        .collect()
}

/// Puts on each real library's cell where it disagrees with the preset that models it, when that preset ran
/// in the same column (`--clients node-redis@4,real:node-redis@4`).
fn flag_disagreements(col: &mut Column, clients: &[ClientSpec], versions: &[(String, String)]) {
    let presets: Vec<&str> = clients.iter().filter(|c| c.habit().is_some()).map(|c| c.label.as_str()).collect();
    let mut flags = Vec::new();
    for (label, version) in versions {
        let Some(real) = clients.iter().find(|c| &c.label == label).and_then(|c| c.real()) else { continue };
        let Some(preset) = real.preset_among(&presets, version) else { continue };
        let (Some(r), Some(p)) =
            (col.cells.iter().find(|c| &c.client == label), col.cells.iter().find(|c| c.client == preset))
        else {
            continue;
        };
        if r.fate != Fate::NoData && p.fate != Fate::NoData {
            flags.push((label.clone(), matrix::disagreements(r, p)));
        }
    }
    for (label, lines) in flags {
        if let Some(cell) = col.cells.iter_mut().find(|c| c.client == label) {
            cell.disagrees = lines;
        }
    }
}

/// Whether the target named `name` (`slots 0-5460`) probes the shard labelled `label`.
fn same_shard(label: &str, name: &str) -> bool {
    label == name || label.starts_with(&format!("{name},"))
}

/// One client's cell: its shards from its targets, how the affected one recovered from its own book.
fn cell_of(
    client: &ClientSpec,
    book: Option<&[ShardRecovery]>,
    targets: &[TargetReport],
    truth: &[TruthRow],
    at_ms: u64,
    expected: Fate,
) -> Cell {
    let shards: Vec<ShardFate> = targets
        .iter()
        .filter(|t| t.source == client.label)
        .map(|t| {
            let affected = truth.iter().any(|r| r.affected && same_shard(&r.shard, &t.name));
            matrix::shard_fate(&t.name, affected, &t.summary, at_ms)
        })
        .collect();
    let first_affected = shards.iter().find(|s| s.affected && (s.outage_ms > 0 || !s.recovered));
    let stuck_elsewhere = shards.iter().find(|s| !s.recovered);
    let how = match (&client.kind, book) {
        (ClientKind::Fred, _) => match stuck_elsewhere {
            Some(_) => "fred's own client: not back by the end".to_string(),
            None => "fred's own client".to_string(),
        },
        (_, Some(book)) => {
            let focus = stuck_elsewhere.filter(|_| first_affected.is_none_or(|a| a.recovered)).or(first_affected);
            match focus.and_then(|s| last_episode(book, &s.shard)) {
                Some(r) if r.how != RecoveryHow::NeverFailed => matrix::how_short(&r.how),
                _ if focus.is_some() => "the same node answered again".to_string(),
                _ => "never failed".to_string(),
            }
        }
        _ => String::new(),
    };
    matrix::cell(&client.label, shards, how, expected)
}

/// The last failure episode the client booked for the shard its target `name` probes.
fn last_episode<'a>(book: &'a [ShardRecovery], name: &str) -> Option<&'a ShardRecovery> {
    book.iter().rfind(|r| same_shard(&format!("slots {}", r.label), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_group_their_parameters_and_direct_comes_first() {
        let c = parse_clients("lettuce@6,periodic=60s,ioredis@5 , fred").unwrap();
        let labels: Vec<&str> = c.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["direct", "lettuce@6,periodic=60s", "ioredis@5", "fred"]);
        let all = parse_clients("all,direct").unwrap();
        assert_eq!(all.len(), crate::probe::styles::habit::PRESETS.len() + 2);
        assert_eq!(all[0].label, "direct");
        assert!(parse_clients("periodic=60s").unwrap_err().to_string().contains("comes before any client"));
        assert!(parse_clients("nope@1").unwrap_err().to_string().starts_with("--clients: unknown client 'nope@1'"));
    }

    #[test]
    fn a_real_library_is_flagged_against_the_preset_of_its_installed_version() {
        let clients = parse_clients("ioredis@5,real:ioredis,real:node-redis@4").unwrap();
        let shard = |recovered, back: Option<u64>| ShardFate {
            shard: "slots 0-5460".into(),
            affected: true,
            recovered,
            outage_ms: back.unwrap_or(30_000),
            back_after_ms: back,
        };
        let mut col = Column {
            scenario: "kill-primary".into(),
            traffic: Traffic::Busy,
            injected_at_ms: 3_000,
            ended_at_ms: None,
            truth: Vec::new(),
            error: None,
            cells: vec![
                matrix::cell("ioredis@5", vec![shard(true, Some(2_200))], String::new(), Fate::Recovered),
                matrix::cell("real:ioredis", vec![shard(false, None)], String::new(), Fate::Recovered),
                matrix::cell("real:node-redis@4", vec![shard(false, None)], String::new(), Fate::Recovered),
            ],
        };
        // real:ioredis (no version asked) installed 5.11.1: its preset is ioredis@5; node-redis@4 has none here.
        let versions =
            [("real:ioredis".to_string(), "5.11.1".to_string()), ("real:node-redis@4".into(), "4.7.1".into())];
        flag_disagreements(&mut col, &clients, &versions);
        assert_eq!(col.cells[1].disagrees, ["slots 0-5460: the library is stuck at the end, ioredis@5 is back"]);
        assert!(col.cells[2].disagrees.is_empty(), "no preset of node-redis ran");
        assert!(col.cells[0].disagrees.is_empty());
    }

    #[test]
    fn a_real_library_waits_as_long_as_its_preset() {
        let at = Duration::from_secs(5);
        assert_eq!(default_duration(at, &parse_clients("real:node-redis@6").unwrap()), Duration::from_secs(40));
        assert_eq!(default_duration(at, &parse_clients("real:redis-rs").unwrap()), Duration::from_secs(35));
    }

    #[test]
    fn the_default_run_covers_the_slowest_timer() {
        let at = Duration::from_secs(5);
        let only = parse_clients("node-redis@4").unwrap();
        assert_eq!(default_duration(at, &only), Duration::from_secs(35));
        let rr = parse_clients("node-redis@6").unwrap();
        assert_eq!(default_duration(at, &rr), Duration::from_secs(40));
        let all = parse_clients("all").unwrap();
        assert_eq!(default_duration(at, &all), Duration::from_secs(95), "60 s periodic / map age");
        let far = Duration::from_secs(200);
        assert_eq!(default_duration(far, &all), far + Duration::from_secs(10));
    }
}
