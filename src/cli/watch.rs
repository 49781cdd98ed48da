//! Flags of `watch`: the baseline and incident cadences, when an incident closes, where incidents and the
//! baseline events go, and the metrics endpoint.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::duration::parse_positive_duration;

/// Flags of `watch`.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Time between probes of each shard while all is well (the baseline).
    #[arg(long, default_value = "1s", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub interval: Duration,
    /// Time between probes of each shard while an incident is open.
    #[arg(long, default_value = "100ms", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub incident_interval: Duration,
    /// An incident closes this long after every shard is back and nothing else was amiss.
    #[arg(long, default_value = "60s", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub quiet: Duration,
    /// The longest one incident records; a longer trouble goes on as the next incident.
    #[arg(long, default_value = "1h", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub incident_max: Duration,
    /// Where each incident's folder is written (created when missing).
    #[arg(long, default_value = "incidents", value_name = "DIR")]
    pub out: PathBuf,
    /// Every event of the run (baseline and incidents) as JSON lines, rotated to FILE.1 by size.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// The most FILE and FILE.1 hold together: 64MiB, 500KiB, 1GB, or bytes.
    #[arg(long, default_value = "64MiB", value_parser = parse_size, value_name = "SIZE")]
    pub events_max: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics (availability per shard, incidents, latency).
    #[arg(long, value_name = "IP:PORT")]
    pub metrics_listen: Option<String>,
    /// How often the summary line (probes, incidents, availability per shard) is printed.
    #[arg(long, default_value = "24h", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub summary_every: Duration,
    /// How often the topology is polled.
    #[arg(long, default_value = "1s", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub topology_interval: Duration,
    /// Probe key prefix; each run adds its own id, so keys never collide with user data.
    #[arg(long, default_value = "rfp:")]
    pub prefix: String,
}

/// `64MiB`, `500KiB`, `1GB`, `4096`: a size in bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("'{text}': a size is a number and a unit, e.g. 64MiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        other => return Err(format!("'{text}': unknown unit '{other}' (B, KiB, MiB, GiB, KB, MB, GB)")),
    };
    match n.checked_mul(mult) {
        Some(v) if v >= 1024 => Ok(v),
        Some(_) => Err(format!("'{text}': at least 1KiB")),
        None => Err(format!("'{text}': too large")),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("500KiB"), Ok(500 << 10));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12").unwrap_err().contains("at least 1KiB"));
        assert!(parse_size("5 parsecs").unwrap_err().contains("unknown unit 'parsecs'"));
        assert!(parse_size("MiB").is_err());
    }
}
