//! `health`: one check (PING, and a probe-key write/read on every primary), or one per `--interval` with
//! `--watch` (was `GET /redis/health` and the periodic health-check probe). On a cluster the checks run over
//! direct per-node connections, so a dead seed node does not fail the healthy shards.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::cli::HealthArgs;
use crate::clock::Clock;
use crate::connect::{self, Connection};
use crate::error::AppResult;
use crate::exit::ExitCode;
use crate::inspect;
use crate::mode::Mode;
use crate::output::{self, Report};
use crate::probe::styles::{ClientSpec, EmulatedCluster, DEFAULT_REFRESH_AFTER};
use crate::probe::{exec, targets, ProbeTarget};

/// Default time between checks with `--watch`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// One health check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthCheck {
    /// When it ran (RFC 3339).
    pub at: String,
    /// PING round trip in ms, or null when it failed.
    pub ping_ms: Option<f64>,
    /// Per target: write/read result.
    pub targets: Vec<TargetCheck>,
    /// Whether PING and every target succeeded.
    pub ok: bool,
}

/// The write/read of one probe key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetCheck {
    /// Target name (shard slots or endpoint).
    pub target: String,
    /// Primary that owned the slot when planned.
    pub endpoint: Option<String>,
    /// Whether SET and GET succeeded and the value matched.
    pub ok: bool,
    /// SET + GET round trip in ms.
    pub latency_ms: Option<f64>,
    /// Error class when it failed.
    pub error: Option<String>,
}

/// The `health` report: one check, or every check of a watch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthReport {
    /// The checks, in order.
    pub checks: Vec<HealthCheck>,
    /// Whether every check passed.
    pub ok: bool,
}

impl HealthCheck {
    /// One plain line, for `--watch`.
    pub fn line(&self) -> String {
        let ping = self.ping_ms.map(|p| format!("ping {p:.2}ms")).unwrap_or_else(|| "ping FAILED".into());
        let parts: Vec<String> = self
            .targets
            .iter()
            .map(|t| match (&t.error, t.latency_ms) {
                (None, Some(l)) => format!("{} ok {l:.2}ms", t.target),
                (Some(e), _) => format!("{} FAILED {e}", t.target),
                _ => format!("{} ?", t.target),
            })
            .collect();
        format!("{} {} {}; {}", self.at, if self.ok { "OK  " } else { "FAIL" }, ping, parts.join("; "))
    }
}

impl Report for HealthReport {
    fn render(&self) -> String {
        let mut t = output::table(&["at", "target", "endpoint", "result", "latency"]);
        for c in &self.checks {
            t.add_row(vec![
                c.at.clone(),
                "PING".into(),
                "-".into(),
                if c.ping_ms.is_some() { "ok".into() } else { "FAILED".into() },
                c.ping_ms.map(|p| format!("{p:.2}ms")).unwrap_or_else(|| "-".into()),
            ]);
            for tc in &c.targets {
                t.add_row(vec![
                    c.at.clone(),
                    tc.target.clone(),
                    tc.endpoint.clone().unwrap_or_else(|| "-".into()),
                    tc.error.clone().unwrap_or_else(|| "ok".into()),
                    tc.latency_ms.map(|p| format!("{p:.2}ms")).unwrap_or_else(|| "-".into()),
                ]);
            }
        }
        format!("{t}\n{}", if self.ok { "healthy" } else { "UNHEALTHY" })
    }

    fn exit_code(&self) -> ExitCode {
        if self.ok {
            ExitCode::Ok
        } else {
            ExitCode::CheckFailed
        }
    }
}

/// What runs the checks: on a cluster, direct (per-node connections that follow the cluster through a dead
/// seed); on one endpoint, fred's connection to it.
enum Checker {
    Cluster(EmulatedCluster),
    Endpoint(Connection),
}

async fn connect_checker(c: &Ctx) -> AppResult<Checker> {
    if c.settings.target.mode == Mode::OssCluster {
        let clock = Clock::start();
        let emu =
            EmulatedCluster::connect(c.factory.clone(), &ClientSpec::direct(), DEFAULT_REFRESH_AFTER, clock).await?;
        Ok(Checker::Cluster(emu))
    } else {
        Ok(Checker::Endpoint(c.factory.connect().await?))
    }
}

async fn plan(c: &Ctx, checker: &Checker, run_id: &str) -> AppResult<Vec<ProbeTarget>> {
    let prefix = "rfp:health:";
    match checker {
        Checker::Cluster(emu) => Ok(targets::for_cluster(&emu.topology(), prefix, run_id)),
        Checker::Endpoint(conn) => {
            if conn.mode == Mode::OssCluster {
                if let Some((topo, _)) = inspect::topology_or_hidden(conn).await? {
                    return Ok(targets::for_cluster(&topo, prefix, run_id));
                }
            }
            Ok(targets::for_endpoint(&c.settings.target.seeds[0], 1, prefix, run_id))
        }
    }
}

/// Runs one check.
async fn check(checker: &Checker, plan: &[ProbeTarget], timeout: Duration, clock: &Clock) -> HealthCheck {
    let at = clock.now().wall;
    let ping_ms = match checker {
        Checker::Cluster(emu) => emu.ping(timeout).await.map(|(_, d)| d),
        Checker::Endpoint(conn) => exec::ping(&conn.client, timeout).await.ok(),
    }
    .map(|d| d.as_secs_f64() * 1000.0);
    let mut checks = Vec::new();
    for t in plan {
        let value = format!("{}", clock.elapsed().as_micros());
        let probe =
            exec::WriteRead { key: &t.key, value: &value, ttl: Duration::from_secs(60), timeout, read_only: false };
        let r = match checker {
            Checker::Cluster(emu) => emu.write_read(&probe).await,
            Checker::Endpoint(conn) => exec::write_read(&conn.client, &probe).await,
        };
        let latency = match (r.set_latency, r.get_latency) {
            (Some(s), Some(g)) => Some((s + g).as_secs_f64() * 1000.0),
            _ => None,
        };
        let endpoint = match checker {
            Checker::Cluster(emu) => emu.route(t.slot),
            Checker::Endpoint(_) => t.endpoint.clone(),
        };
        checks.push(TargetCheck {
            target: t.name.clone(),
            endpoint: endpoint.map(|e| e.to_string()),
            ok: r.outcome.is_ok(),
            latency_ms: latency,
            error: r.outcome.class().map(|c| c.to_string()),
        });
    }
    let ok = ping_ms.is_some() && checks.iter().all(|c| c.ok);
    HealthCheck { at, ping_ms, targets: checks, ok }
}

/// The `--watch` interval: the flag, else HEALTH_CHECK_INTERVAL (milliseconds), else 30 s.
pub fn watch_interval(args: &HealthArgs) -> Duration {
    args.interval
        .or_else(|| {
            std::env::var("HEALTH_CHECK_INTERVAL")
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis)
        })
        .unwrap_or(DEFAULT_INTERVAL)
}

/// Runs `health`.
pub async fn run(c: &Ctx, args: &HealthArgs) -> AppResult<ExitCode> {
    let checker = connect_checker(c).await?;
    let run_id = connect::run_id();
    let plan = plan(c, &checker, &run_id).await?;
    let clock = Clock::start();
    let timeout = c.settings.target.timeout;
    let mut checks = Vec::new();
    if !args.watch {
        checks.push(check(&checker, &plan, timeout, &clock).await);
    } else {
        let interval = watch_interval(args);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stop = std::pin::pin!(crate::signals::interrupted());
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = &mut stop => break,
            }
            let one = check(&checker, &plan, timeout, &clock).await;
            if c.settings.output == crate::output::OutputFormat::Table {
                output::println(&one.line());
            }
            checks.push(one);
            if args.checks.is_some_and(|n| checks.len() as u64 >= n) {
                break;
            }
        }
    }
    let keys: Vec<String> = plan.iter().map(|t| t.key.clone()).collect();
    match &checker {
        Checker::Cluster(emu) => {
            emu.delete(&keys, timeout).await;
            emu.close().await;
        }
        Checker::Endpoint(conn) => {
            super::failover_recovery::cleanup(conn, &keys).await;
            conn.close().await;
        }
    }
    let ok = checks.iter().all(|c| c.ok);
    let report = HealthReport { checks, ok };
    if args.watch && c.settings.output == crate::output::OutputFormat::Table {
        output::println(if ok { "every check passed" } else { "at least one check FAILED" });
        return Ok(report.exit_code());
    }
    Ok(output::emit(c.settings.output, &report))
}
