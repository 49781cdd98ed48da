//! `lab`: start a local topology of real processes (`up`), look at it (`status`), inject a fault (`run`), stop it
//! (`down`), and time it (`bench`). A detached lab lives in a state file; every later command acts only on what
//! that file lists.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::clock::{self, Clock};
use crate::duration::{human, parse_positive_duration};
use crate::error::AppResult;
use crate::exit::ExitCode;
use crate::lab::{
    BenchReport, Lab, LabOptions, LabState, Scenario, ScenarioKind, ScenarioReport, TopologyKind, DEFAULT_STATE_FILE,
};
use crate::output::{self, Report};

/// Flags of `lab`.
#[derive(Debug, Clone, Args)]
pub struct LabArgs {
    /// What to do with the lab.
    #[command(subcommand)]
    pub action: LabAction,
}

/// The `lab` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum LabAction {
    /// Start a topology and run it until Ctrl-C (or, with --detach, leave it running and write a state file).
    #[command(
        after_help = "Examples:\n  redis-failover-probe lab up --topology cluster --primaries 3 --replicas 1\n  \
                      redis-failover-probe lab up --topology enterprise --detach\n  \
                      redis-failover-probe lab up --tls --detach   # then: --url rediss://... --tls-ca DIR/ca.crt"
    )]
    Up(UpArgs),
    /// Show the processes of a detached lab and whether they run.
    #[command(after_help = "Example:\n  redis-failover-probe lab status --output json")]
    Status(StateArgs),
    /// Run a fault scenario against a detached lab.
    #[command(after_help = "Scenarios: role-swap, kill-primary, replace-node, rolling-replace, hang-primary.\n\
                      The target shard is the one owning slot 0 unless --shard N picks the N-th in slot order.\n\
                      Example:\n  redis-failover-probe lab run kill-primary --shard 1")]
    Run(RunArgs),
    /// Stop every process of a detached lab, remove its dir and the state file.
    #[command(after_help = "Example:\n  redis-failover-probe lab down --state ./.redis-failover-probe-lab.json")]
    Down(StateArgs),
    /// Time the lab on this machine: cluster ready, replace-node, rolling-replace, enterprise ready.
    #[command(after_help = "Example:\n  redis-failover-probe lab bench --runs 3")]
    Bench(BenchArgs),
}

/// Flags of `lab up`.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Which topology.
    #[arg(long, value_enum, default_value_t = TopologyKind::Cluster)]
    pub topology: TopologyKind,
    /// Cluster primaries.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub primaries: u16,
    /// Replicas per primary [default: 1 for cluster and enterprise, 0 for standalone].
    #[arg(long, value_parser = clap::value_parser!(u16).range(0..=5))]
    pub replicas: Option<u16>,
    /// cluster-node-timeout (cluster) and Sentinel down-after-milliseconds (enterprise).
    #[arg(long, default_value = "1s", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub node_timeout: Duration,
    /// Keep the temp dir (configs and logs) when the lab stops.
    #[arg(long)]
    pub keep_dir: bool,
    /// Cluster: a stable discovery endpoint (HAProxy to any live node) as the seed, like a managed cluster's
    /// public address.
    #[arg(long)]
    pub seed_proxy: bool,
    /// TLS only, as managed caches are: every endpoint takes rediss:// with a certificate signed by a CA the lab
    /// makes in its dir (pass it with --tls-ca).
    #[arg(long)]
    pub tls: bool,
    /// Leave the lab running, write the state file and return.
    #[arg(long)]
    pub detach: bool,
    /// The state file written by --detach.
    #[arg(long, default_value = DEFAULT_STATE_FILE, value_name = "FILE")]
    pub state: PathBuf,
    /// First port to try (free ports are searched upwards from it).
    #[arg(long, value_name = "PORT")]
    pub base_port: Option<u16>,
}

/// The state file flag.
#[derive(Debug, Clone, Args)]
pub struct StateArgs {
    /// The state file of a detached lab.
    #[arg(long, default_value = DEFAULT_STATE_FILE, value_name = "FILE")]
    pub state: PathBuf,
}

/// Flags of `lab run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The scenario.
    #[arg(value_enum)]
    pub scenario: ScenarioKind,
    /// How long hang-primary keeps the primary stopped [default: 2s].
    #[arg(long = "for", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub hang_for: Option<Duration>,
    /// Target shard: index in slot order (0 = the shard owning slot 0, the default).
    #[arg(long, value_name = "N")]
    pub shard: Option<usize>,
    /// replace-node: replace the shard's first replica instead of its primary.
    #[arg(long)]
    pub replica: bool,
    /// replace-node, rolling-replace on a cluster: how long a demoted primary keeps running (answering MOVED)
    /// after the new primary is promoted, before it is shut down; 0 shuts it down at once [default: 5s, an
    /// assumption: managed caches demote, migrate, then remove nodes, and say nothing of how long that takes].
    #[arg(long, value_parser = crate::duration::parse_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub drain: Option<Duration>,
    /// The state file of a detached lab.
    #[arg(long, default_value = DEFAULT_STATE_FILE, value_name = "FILE")]
    pub state: PathBuf,
}

/// Flags of `lab bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Runs per figure (the median is reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=20))]
    pub runs: u16,
}

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
        crate::cli::OutputFormat::Json => output::println(&output::to_json(&serde_json::json!({
            "stopped": true, "kind": state.kind, "processes": count, "dir": state.dir,
        }))),
        crate::cli::OutputFormat::Table => output::println(&line),
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
