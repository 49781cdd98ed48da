//! Turning the validated probing settings into one engine's configuration, shared by failover-recovery and compare.

use std::time::Duration;

use super::engine::EngineConfig;
use crate::settings::ProbeSettings;

/// Engine settings for one source.
pub fn engine_config(args: &ProbeSettings, source: &str, timeout: Duration, run_id: &str) -> EngineConfig {
    EngineConfig {
        source: source.to_string(),
        interval: args.interval,
        duration: args.duration,
        timeout,
        ttl: args.ttl,
        read_only: args.read_only,
        prefix: args.prefix.clone(),
        run_id: run_id.to_string(),
        pause: None,
        rate: None,
    }
}

/// Width of the timeline strips.
pub const STRIP_WIDTH: usize = 60;
