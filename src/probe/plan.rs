//! Validating the probing flags and turning them into engine settings, shared by failover-recovery and compare.

use std::time::Duration;

use super::engine::EngineConfig;
use crate::cli::ProbeArgs;
use crate::error::{AppError, AppResult};

/// The smallest interval the engine accepts.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Checks the probing flags that clap cannot check alone.
pub fn validate(args: &ProbeArgs) -> AppResult<()> {
    if args.interval < MIN_INTERVAL {
        return Err(AppError::BadInput(format!(
            "--interval {} is below the 10ms minimum",
            crate::probe::fmt_duration(args.interval)
        )));
    }
    if args.interval > args.duration {
        return Err(AppError::BadInput(format!(
            "--interval {} is longer than --duration {}: nothing would be probed twice",
            crate::probe::fmt_duration(args.interval),
            crate::probe::fmt_duration(args.duration)
        )));
    }
    if args.prefix.is_empty() {
        return Err(AppError::BadInput("--prefix must not be empty: probe keys need their own namespace".into()));
    }
    if args.ttl < args.interval * 2 {
        return Err(AppError::BadInput("--ttl must be at least twice --interval".into()));
    }
    if let Some(path) = &args.events {
        crate::events::check_writable(path, "events file")?;
    }
    Ok(())
}

/// Engine settings for one source.
pub fn engine_config(args: &ProbeArgs, source: &str, timeout: Duration, run_id: &str) -> EngineConfig {
    EngineConfig {
        source: source.to_string(),
        interval: args.interval,
        duration: args.duration,
        timeout,
        ttl: args.ttl,
        read_only: args.read_only,
        prefix: args.prefix.clone(),
        run_id: run_id.to_string(),
        topology_interval: args.topology_interval,
    }
}

/// Width of the timeline strips.
pub const STRIP_WIDTH: usize = 60;
