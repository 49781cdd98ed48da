//! `status`: PING a few times and say what the endpoint is (was `GET /redis/status`).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::cli::StatusArgs;
use crate::error::{AppError, AppResult};
use crate::exit::ExitCode;
use crate::output::{self, Report};
use fred::prelude::*;

/// The `status` report (JSON contract: see README).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusReport {
    /// Connection mode used.
    pub mode: String,
    /// Seed URLs, password masked.
    pub endpoints: Vec<String>,
    /// Endpoints the client actually holds connections to.
    pub reached: Vec<String>,
    /// `redis_version` from INFO, when INFO is allowed.
    pub server_version: Option<String>,
    /// `role` from INFO replication.
    pub role: Option<String>,
    /// `cluster_enabled` from INFO cluster.
    pub cluster_enabled: Option<bool>,
    /// PINGs sent.
    pub pings: u32,
    /// PINGs answered with PONG.
    pub pongs: u32,
    /// PING round trip.
    pub latency_ms: LatencyMs,
}

/// Min, median, 99th percentile and max, in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LatencyMs {
    /// Fastest.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

impl LatencyMs {
    /// Summarises a few samples (milliseconds) by nearest rank; all zero when there are none.
    pub fn from_samples(mut samples: Vec<f64>) -> Self {
        if samples.is_empty() {
            return LatencyMs { min: 0.0, p50: 0.0, p99: 0.0, max: 0.0 };
        }
        samples.sort_by(|a, b| a.total_cmp(b));
        let rank = |q: f64| samples[((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
        LatencyMs { min: samples[0], p50: rank(0.5), p99: rank(0.99), max: samples[samples.len() - 1] }
    }
}

impl Report for StatusReport {
    fn render(&self) -> String {
        let mut t = output::table(&["field", "value"]);
        t.add_row(vec!["mode".to_string(), self.mode.clone()]);
        t.add_row(vec!["endpoints".to_string(), self.endpoints.join("\n")]);
        t.add_row(vec!["reached".to_string(), self.reached.join("\n")]);
        t.add_row(vec!["server version".to_string(), self.server_version.clone().unwrap_or_else(|| "-".into())]);
        t.add_row(vec!["role".to_string(), self.role.clone().unwrap_or_else(|| "-".into())]);
        let ce = self.cluster_enabled.map(|b| if b { "yes" } else { "no" }).unwrap_or("-");
        t.add_row(vec!["cluster enabled".to_string(), ce.to_string()]);
        t.add_row(vec!["pings".to_string(), format!("{} sent, {} PONG", self.pings, self.pongs)]);
        let l = &self.latency_ms;
        t.add_row(vec![
            "latency".to_string(),
            format!("min {:.2}ms  p50 {:.2}ms  p99 {:.2}ms  max {:.2}ms", l.min, l.p50, l.p99, l.max),
        ]);
        t.to_string()
    }

    fn exit_code(&self) -> ExitCode {
        if self.pongs == self.pings {
            ExitCode::Ok
        } else {
            ExitCode::CheckFailed
        }
    }
}

/// Builds the status report.
pub async fn collect(c: &Ctx, args: &StatusArgs) -> AppResult<StatusReport> {
    let conn = c.factory.connect().await?;
    let mut samples = Vec::with_capacity(args.count as usize);
    let mut pongs = 0;
    for _ in 0..args.count {
        let start = Instant::now();
        match conn.client.ping::<String>(None).await {
            Ok(reply) if reply == "PONG" => {
                pongs += 1;
                samples.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            Ok(_) => {}
            Err(e) if e.details().contains("NOAUTH") || e.details().contains("WRONGPASS") => {
                conn.close().await;
                return Err(AppError::Auth(format!("authentication failed: {}", e.details())));
            }
            Err(_) => {}
        }
    }
    let info = match conn.client.info::<String>(None).await {
        Ok(text) => crate::topology::parse_info(&text),
        Err(_) => Default::default(),
    };
    let report = StatusReport {
        mode: conn.mode.to_string(),
        endpoints: c.settings.target.display_urls(),
        reached: conn.reached().iter().map(|e| e.to_string()).collect(),
        server_version: info.get("redis_version").cloned(),
        role: info.get("role").cloned(),
        cluster_enabled: info.get("cluster_enabled").map(|v| v == "1"),
        pings: args.count,
        pongs,
        latency_ms: LatencyMs::from_samples(samples),
    };
    conn.close().await;
    Ok(report)
}

/// Runs `status`.
pub async fn run(c: &Ctx, args: &StatusArgs) -> AppResult<ExitCode> {
    let report = collect(c, args).await?;
    Ok(output::emit(c.settings.output, &report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let l = LatencyMs::from_samples(vec![5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!(l, LatencyMs { min: 1.0, p50: 3.0, p99: 5.0, max: 5.0 });
        assert_eq!(LatencyMs::from_samples(vec![]).max, 0.0);
    }
}
