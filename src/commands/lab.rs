//! `lab`: start a local topology of real processes (`up`), look at it (`status`), inject a fault (`run`), stop it
//! (`down`), and time it (`bench`). A detached lab lives in a state file; every later command acts only on what
//! that file lists.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::cli::lab::{BenchArgs, LabAction, LabArgs, RunArgs, StateArgs, UpArgs};
use crate::clock::{self, Clock};
use crate::duration::human;
use crate::error::AppResult;
use crate::exit::ExitCode;
use crate::lab::{BenchReport, Lab, LabOptions, LabState, Scenario, ScenarioReport, TopologyKind};
use crate::output::{self, Report};

/// One process of a lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcRow {
    /// `redis-server`, `sentinel` or `haproxy`.
    pub what: String,
    /// Its port.
    pub port: u16,
    /// Its pid.
    pub pid: u32,
    /// Whether it runs.
    pub running: bool,
}

/// What `lab up` prints: the state facts plus how to point the probe at it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpReport {
    /// The lab's facts (as in the state file).
    #[serde(flatten)]
    pub state: LabState,
    /// How long it took to get ready, ms.
    pub ready_ms: u64,
    /// The shell line that points the probe at the lab.
    pub hint: String,
    /// Whether the processes were left running.
    pub detached: bool,
    /// The state file, when detached.
    pub state_file: Option<PathBuf>,
}

fn hint(state: &LabState) -> String {
    let line = format!("export REDIS_URL={} REDIS_MODE={}", state.seed_url, state.mode);
    // There is no variable for the CA: a shell comment keeps the line pasteable and says what to add.
    match &state.tls_ca {
        Some(ca) => format!("{line}  # and pass --tls-ca {}", ca.display()),
        None => line,
    }
}

fn proc_table(rows: &[ProcRow]) -> String {
    let mut t = output::table(&["process", "port", "pid", "running"]);
    for r in rows {
        t.add_row(vec![
            r.what.clone(),
            r.port.to_string(),
            r.pid.to_string(),
            if r.running { "yes" } else { "no" }.to_string(),
        ]);
    }
    t.to_string()
}

fn rows_of(state: &LabState) -> Vec<ProcRow> {
    let mut rows: Vec<ProcRow> = state
        .nodes
        .iter()
        .filter(|n| n.alive)
        .map(|n| ProcRow { what: "redis-server".into(), port: n.port, pid: n.pid, running: true })
        .collect();
    rows.extend(state.sentinel.iter().map(|s| ProcRow {
        what: "sentinel".into(),
        port: s.port,
        pid: s.pid,
        running: true,
    }));
    rows.extend(state.proxy.iter().map(|p| ProcRow {
        what: "haproxy".into(),
        port: p.port,
        pid: p.pid,
        running: true,
    }));
    rows
}

impl Report for UpReport {
    fn render(&self) -> String {
        let mut out = format!(
            "{} lab ready in {}: {}\n{}\n{}\ndir: {}\n",
            self.state.kind,
            human(Duration::from_millis(self.ready_ms)),
            self.state.seed_url,
            self.hint,
            proc_table(&rows_of(&self.state)),
            self.state.dir.display()
        );
        match &self.state_file {
            Some(f) => out.push_str(&format!(
                "detached: state in {}; stop it with `redis-failover-probe lab down --state {}`\n",
                f.display(),
                f.display()
            )),
            None => out.push_str("running until Ctrl-C\n"),
        }
        out
    }
}

/// What `lab status` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusReport {
    /// The topology.
    pub kind: TopologyKind,
    /// Seed URL.
    pub seed_url: String,
    /// The shell line that points the probe at the lab.
    pub hint: String,
    /// The lab dir.
    pub dir: PathBuf,
    /// Every process the state file lists as alive, and whether it still runs.
    pub processes: Vec<ProcRow>,
}

impl Report for StatusReport {
    fn render(&self) -> String {
        format!(
            "{} lab at {}\n{}\n{}\ndir: {}\n",
            self.kind,
            self.seed_url,
            self.hint,
            proc_table(&self.processes),
            self.dir.display()
        )
    }

    fn exit_code(&self) -> ExitCode {
        if self.processes.iter().all(|p| p.running) {
            ExitCode::Ok
        } else {
            ExitCode::CheckFailed
        }
    }
}

impl Report for ScenarioReport {
    fn render(&self) -> String {
        let ep =
            |e: &Option<crate::topology::Endpoint>| e.as_ref().map(|e| e.to_string()).unwrap_or_else(|| "-".into());
        let mut out = format!(
            "{} on {} ({}) in {}: primary {} -> {}\n",
            self.scenario,
            self.topology,
            self.shard,
            human(Duration::from_millis(self.duration_ms)),
            ep(&self.old_primary),
            ep(&self.new_primary)
        );
        match &self.ground_truth {
            Some(g) => out.push_str(&format!(
                "ground truth: writes stopped at {} ms, resumed at {} ms: unavailable {} ms\n",
                g.write_stopped_ms, g.write_resumed_ms, g.unavailable_ms
            )),
            None => out.push_str("ground truth: no write interruption (only a replica was touched)\n"),
        }
        for t in &self.shards {
            let affected = if t.affected { " (acted on)" } else { "" };
            let windows: Vec<String> = t
                .windows
                .iter()
                .map(|w| format!("{}-{} ms ({} ms)", w.write_stopped_ms, w.write_resumed_ms, w.unavailable_ms))
                .collect();
            match windows.as_slice() {
                [] => out.push_str(&format!("  {}{affected}: writes never stopped\n", t.shard)),
                _ => out.push_str(&format!(
                    "  {}{affected}: no write succeeded for {} ms: {}\n",
                    t.shard,
                    t.unavailable_ms,
                    windows.join(", ")
                )),
            }
        }
        if !self.retired_endpoints.is_empty() {
            let list: Vec<String> = self.retired_endpoints.iter().map(|e| e.to_string()).collect();
            out.push_str(&format!("retired endpoints: {}\n", list.join(", ")));
        }
        let mut t = output::table(&["ms", "time", "event", "node", "detail"]);
        for e in &self.events {
            t.add_row(vec![
                e.stamp.offset_ms.to_string(),
                clock::time_of_day(&e.stamp).to_string(),
                serde_json::to_value(e.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
                e.node.as_ref().map(|n| n.to_string()).unwrap_or_default(),
                e.detail.clone(),
            ]);
        }
        out.push_str(&t.to_string());
        out
    }
}

impl Report for BenchReport {
    fn render(&self) -> String {
        let mut t = output::table(&["figure", "median", "runs", "target", "ok"]);
        for f in &self.figures {
            let runs: Vec<String> = f.runs_ms.iter().map(|ms| human(Duration::from_millis(*ms))).collect();
            t.add_row(vec![
                f.name.clone(),
                human(Duration::from_millis(f.median_ms)),
                runs.join(" "),
                format!("< {}", human(Duration::from_millis(f.target_ms))),
                if f.within_target { "yes" } else { "NO" }.to_string(),
            ]);
        }
        format!("lab bench: median of {} run(s) on {} core(s)\n{t}", self.runs, self.cores)
    }
}

/// Runs `lab`.
pub async fn run(c: &Ctx, args: &LabArgs) -> AppResult<ExitCode> {
    match &args.action {
        LabAction::Up(a) => up(c, a).await,
        LabAction::Status(a) => status(c, a).await,
        LabAction::Run(a) => run_scenario(c, a).await,
        LabAction::Down(a) => down(c, a).await,
        LabAction::Bench(a) => bench(c, a).await,
    }
}

async fn up(c: &Ctx, a: &UpArgs) -> AppResult<ExitCode> {
    let opts = LabOptions {
        primaries: usize::from(a.primaries),
        replicas: a.replicas.map(usize::from).unwrap_or(match a.topology {
            TopologyKind::Standalone => 0,
            _ => 1,
        }),
        node_timeout: a.node_timeout,
        keep_dir: a.keep_dir,
        base_port: a.base_port,
        seed_proxy: a.seed_proxy,
        seed_node: false,
        tls: a.tls,
    };
    // Listening for Ctrl-C / SIGTERM starts before the lab does: a signal during start-up drops the half-started
    // lab (which kills what it started), and one right after the facts are printed still stops the lab cleanly.
    let stop = crate::signals::interrupted();
    tokio::pin!(stop);
    let lab = tokio::select! {
        biased;
        _ = &mut stop => return Ok(ExitCode::Interrupted),
        started = Lab::start(a.topology, &opts, Clock::start(), None) => started?,
    };
    let ready_ms = lab.ready_ms();
    if a.detach {
        let state = lab.detach().await;
        state.write(&a.state)?;
        let report =
            UpReport { hint: hint(&state), state, ready_ms, detached: true, state_file: Some(a.state.clone()) };
        return Ok(output::emit(c.settings.output, &report));
    }
    let state = lab.state();
    let report = UpReport { hint: hint(&state), state, ready_ms, detached: false, state_file: None };
    output::emit(c.settings.output, &report);
    stop.await;
    eprintln!("stopping the lab");
    lab.shutdown().await;
    Ok(ExitCode::Interrupted)
}

async fn status(c: &Ctx, a: &StateArgs) -> AppResult<ExitCode> {
    let state = LabState::read(&a.state)?;
    let mut lab = Lab::attach(&state, Clock::start(), None)?;
    let listed: Vec<u32> = rows_of(&state).iter().map(|r| r.pid).collect();
    let processes = lab
        .processes()
        .into_iter()
        .filter(|(_, _, pid, _)| listed.contains(pid))
        .map(|(what, port, pid, running)| ProcRow { what, port, pid, running })
        .collect();
    let report = StatusReport {
        kind: state.kind,
        seed_url: state.seed_url.clone(),
        hint: hint(&state),
        dir: state.dir.clone(),
        processes,
    };
    Ok(output::emit(c.settings.output, &report))
}

async fn run_scenario(c: &Ctx, a: &RunArgs) -> AppResult<ExitCode> {
    let state = LabState::read(&a.state)?;
    let mut lab = Lab::attach(&state, Clock::start(), None)?;
    let scenario = Scenario::from_kind(a.scenario, a.shard, a.hang_for, a.replica, a.drain);
    let result = lab.run(&scenario).await;
    // New nodes and retired ones are recorded even when the scenario failed half-way.
    let after = lab.detach().await;
    after.write(&a.state)?;
    let report = result?;
    Ok(output::emit(c.settings.output, &report))
}

async fn down(c: &Ctx, a: &StateArgs) -> AppResult<ExitCode> {
    let state = LabState::read(&a.state)?;
    let lab = Lab::attach(&state, Clock::start(), None)?;
    let count = state.pids().len();
    lab.shutdown().await;
    let _ = std::fs::remove_file(&a.state);
    let line = format!(
        "stopped the {} lab ({count} processes){}",
        state.kind,
        if state.keep_dir {
            format!("; kept {}", state.dir.display())
        } else {
            format!("; removed {}", state.dir.display())
        }
    );
    match c.settings.output {
        crate::output::OutputFormat::Json => output::println(&output::to_json(&serde_json::json!({
            "stopped": true, "kind": state.kind, "processes": count, "dir": state.dir,
        }))),
        crate::output::OutputFormat::Table => output::println(&line),
    }
    Ok(ExitCode::Ok)
}

async fn bench(c: &Ctx, a: &BenchArgs) -> AppResult<ExitCode> {
    let report = crate::lab::bench(usize::from(a.runs), |what, ms| {
        eprintln!("{what}: {}", human(Duration::from_millis(ms)));
    })
    .await?;
    output::emit(c.settings.output, &report);
    Ok(ExitCode::Ok)
}
