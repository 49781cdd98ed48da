//! `lab`: start a local topology of real processes (`up`), look at it (`status`), inject a fault (`run`), stop it
//! (`down`), and time it (`bench`). A detached lab lives in a state file; every later command acts only on what
//! that file lists.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::cli::lab::{BenchArgs, LabAction, LabArgs, RunArgs, StateArgs, UpArgs};
use crate::clock::{self, Clock};
use crate::duration::human;
use crate::error::AppError;
use crate::error::AppResult;
use crate::exit::ExitCode;
use crate::lab::{keeper, BenchReport, Lab, LabOptions, LabState, Scenario, ScenarioReport, TopologyKind};
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

/// What `lab status` prints: the state file's facts under the state file's names, each node's `alive` read
/// afresh, and which listed processes no longer run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusReport {
    /// The lab's facts, as in the state file (`nodes[].alive` as of now).
    #[serde(flatten)]
    pub state: LabState,
    /// The shell line that points the probe at the lab.
    pub hint: String,
    /// Whether the keeper (the parent of every process) runs.
    pub keeper_running: bool,
    /// Pids the state file lists as alive that no longer run.
    pub not_running: Vec<u32>,
}

impl Report for StatusReport {
    fn render(&self) -> String {
        let mut rows = rows_of(&self.state);
        for r in &mut rows {
            r.running = !self.not_running.contains(&r.pid);
        }
        let keeper = match (self.state.keeper_pid, self.keeper_running) {
            (Some(pid), true) => format!("keeper pid {pid}\n"),
            (Some(pid), false) => format!("keeper pid {pid} is gone: `lab down` kills the processes by pid\n"),
            (None, _) => String::new(),
        };
        format!(
            "{} lab at {}\n{}\n{}\n{keeper}dir: {}\n",
            self.state.kind,
            self.state.seed_url,
            self.hint,
            proc_table(&rows),
            self.state.dir.display()
        )
    }

    fn exit_code(&self) -> ExitCode {
        if self.not_running.is_empty() {
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
    if a.detach && !a.keeper {
        let started = Instant::now();
        let state = spawn_keeper(&a.state).await?;
        let ready_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let report =
            UpReport { hint: hint(&state), state, ready_ms, detached: true, state_file: Some(a.state.clone()) };
        return Ok(output::emit(c.settings.output, &report));
    }
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
    if a.keeper {
        keeper::serve(lab, &a.state).await?;
        return Ok(ExitCode::Ok);
    }
    let ready_ms = lab.ready_ms();
    let state = lab.state();
    let report = UpReport { hint: hint(&state), state, ready_ms, detached: false, state_file: None };
    output::emit(c.settings.output, &report);
    stop.await;
    eprintln!("stopping the lab");
    lab.shutdown().await;
    Ok(ExitCode::Interrupted)
}

/// Starts this binary again as the lab's keeper (same arguments plus `--keeper`, a session of its own, output to
/// a log beside the state file) and waits until it has written the state file of a ready lab. A keeper that
/// exits first fails `lab up` with its own error line and exit code.
async fn spawn_keeper(state_file: &std::path::Path) -> AppResult<LabState> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| AppError::Local(format!("cannot find this binary: {e}")))?;
    let log_path = state_file.with_extension("keeper.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| AppError::BadInput(format!("cannot write {}: {e}", log_path.display())))?;
    let err_log = log.try_clone().map_err(|e| AppError::Local(format!("{}: {e}", log_path.display())))?;
    let _ = std::fs::remove_file(state_file);
    let mut child = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .arg("--keeper")
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(err_log)
        // Its own process group: a Ctrl-C meant for the shell's foreground job does not reach the keeper.
        .process_group(0)
        .spawn()
        .map_err(|e| AppError::Lab(format!("cannot start the lab's keeper: {e}")))?;
    let pid = child.id();
    let stop = crate::signals::interrupted();
    tokio::pin!(stop);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(state) = LabState::read(state_file) {
            if state.keeper_pid == Some(pid) {
                return Ok(state);
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let line =
                text.lines().rev().find_map(|l| l.strip_prefix("error: ")).unwrap_or("no error line").to_string();
            return Err(match status.code() {
                Some(2) => AppError::BadInput(line),
                _ => AppError::Lab(format!("the lab's keeper exited before the lab was ready: {line}")),
            });
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(AppError::Lab(format!("the lab was not ready within 3m (see {})", log_path.display())));
        }
        tokio::select! {
            _ = &mut stop => {
                // The keeper drops its half-started lab on SIGTERM, which kills what it started.
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
                let _ = child.wait();
                return Err(AppError::Interrupted);
            }
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

async fn status(c: &Ctx, a: &StateArgs) -> AppResult<ExitCode> {
    let mut state = LabState::read(&a.state)?;
    let mut lab = Lab::attach(&state, Clock::start(), None)?;
    let listed: Vec<u32> = rows_of(&state).iter().map(|r| r.pid).collect();
    let not_running: Vec<u32> =
        lab.processes().into_iter().filter(|(_, _, pid, up)| listed.contains(pid) && !up).map(|p| p.2).collect();
    for n in &mut state.nodes {
        n.alive = n.alive && !not_running.contains(&n.pid);
    }
    let report = StatusReport { hint: hint(&state), keeper_running: keeper::alive(&state), not_running, state };
    Ok(output::emit(c.settings.output, &report))
}

async fn run_scenario(c: &Ctx, a: &RunArgs) -> AppResult<ExitCode> {
    let state = LabState::read(&a.state)?;
    if keeper::alive(&state) {
        let request = keeper::Request::Run {
            scenario: a.scenario,
            shard: a.shard,
            hang_for_ms: a.hang_for.map(|d| d.as_millis() as u64),
            replica: a.replica,
            drain_ms: a.drain.map(|d| d.as_millis() as u64),
        };
        // A rolling replacement of a big cluster with drains takes minutes; the keeper bounds every step itself.
        return match keeper::ask(&state, &request, Duration::from_secs(1800)).await? {
            keeper::Reply::Ran { report } => Ok(output::emit(c.settings.output, &*report)),
            keeper::Reply::Failed { error, exit } => Err(keeper::failure(error, exit)),
            keeper::Reply::Stopped => Err(AppError::Lab("the lab's keeper stopped instead of running".into())),
        };
    }
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
    let count = state.pids().len();
    if keeper::alive(&state) {
        // The keeper replies once every process is stopped and reaped, and removes the state file itself.
        keeper::ask(&state, &keeper::Request::Down, Duration::from_secs(60)).await?;
        let pid = state.keeper_pid.unwrap_or(0);
        let until = Instant::now() + Duration::from_secs(5);
        while crate::lab::pid_running(pid) && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    } else {
        let lab = Lab::attach(&state, Clock::start(), None)?;
        lab.shutdown().await;
    }
    let _ = std::fs::remove_file(&a.state);
    let _ = std::fs::remove_file(a.state.with_extension("keeper.log"));
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
