//! Validated settings: flags, environment and profile merged once into the target the rest of the tool uses.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{AppError, AppResult};
use crate::mode::Mode;
use crate::output::OutputFormat;
use crate::secret::Secret;
use crate::topology::Endpoint;

/// Default longest wait between reconnect attempts.
pub const DEFAULT_RECONNECT_MAX: Duration = Duration::from_millis(250);

/// The URL used when none is given.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// Where and how to connect, validated.
#[derive(Debug, Clone)]
pub struct Target {
    /// Seed endpoints, in the order given.
    pub seeds: Vec<Endpoint>,
    /// Whether the URLs were `rediss://`.
    pub tls: bool,
    /// Connection mode.
    pub mode: Mode,
    /// ACL user.
    pub username: Option<String>,
    /// Password or access key.
    pub password: Option<Secret>,
    /// CA bundle for TLS verification.
    pub tls_ca: Option<PathBuf>,
    /// Skip TLS verification.
    pub insecure: bool,
    /// Connect and per-command timeout.
    pub timeout: Duration,
    /// The profile this target came from, if any.
    pub profile: Option<String>,
    /// A command that prints the password (a token), run again every `password_refresh`.
    pub password_command: Option<String>,
    /// How often `password_command` is run again.
    pub password_refresh: Duration,
    /// Longest wait between reconnect attempts.
    pub reconnect_max: Duration,
    /// fred's cluster client rediscovers from the cached routing table too, not only the seeds.
    pub fred_use_cache: bool,
}

impl Target {
    /// A target for seeds on this machine with defaults, as the lab and tests use.
    pub fn local(seeds: Vec<Endpoint>, mode: Mode) -> Self {
        Target {
            seeds,
            tls: false,
            mode,
            username: None,
            password: None,
            tls_ca: None,
            insecure: false,
            timeout: Duration::from_secs(1),
            profile: None,
            password_command: None,
            password_refresh: Duration::from_secs(45 * 60),
            reconnect_max: DEFAULT_RECONNECT_MAX,
            fred_use_cache: false,
        }
    }

    /// The seed URLs for display: the password is never part of them.
    pub fn display_urls(&self) -> Vec<String> {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let auth = match (&self.username, &self.password) {
            (Some(u), Some(_)) => format!("{u}:***@"),
            (Some(u), None) => format!("{u}@"),
            (None, Some(_)) => ":***@".to_string(),
            (None, None) => String::new(),
        };
        self.seeds.iter().map(|e| format!("{scheme}://{auth}{e}")).collect()
    }
}

/// Settings every subcommand sees.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The target.
    pub target: Target,
    /// Output format on stdout.
    pub output: OutputFormat,
    /// Colours allowed.
    pub color: bool,
}

/// The probing settings of failover-recovery and compare, validated once (see `cli::ProbeArgs` for the flags).
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    /// How long to probe.
    pub duration: Duration,
    /// Time between probes of each target.
    pub interval: Duration,
    /// Probe key prefix.
    pub prefix: String,
    /// TTL of the probe keys.
    pub ttl: Duration,
    /// Fail when any outage is longer than this.
    pub max_outage: Option<Duration>,
    /// The JSON-lines events file.
    pub events: Option<PathBuf>,
    /// The report file written at the end.
    pub report: Option<PathBuf>,
    /// Probe with GET only.
    pub read_only: bool,
    /// Where Prometheus metrics are served.
    pub metrics_listen: Option<String>,
    /// The Prometheus textfile written at every heartbeat.
    pub metrics_file: Option<PathBuf>,
    /// How often the topology is polled (oss-cluster).
    pub topology_interval: Duration,
    /// reconnect-refresh: how long a node must fail before the slot map is refreshed.
    pub refresh_after: Duration,
}

/// The smallest interval the probe engine and the topology watcher accept.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Checks a polling cadence: `interval` at least [`MIN_INTERVAL`] and no longer than `duration`. One wording
/// for every command that polls.
pub fn check_cadence(interval: Duration, duration: Duration) -> AppResult<()> {
    use crate::duration::human;
    if interval < MIN_INTERVAL {
        return Err(AppError::BadInput(format!("--interval {} is below the 10ms minimum", human(interval))));
    }
    if interval > duration {
        return Err(AppError::BadInput(format!(
            "--interval {} is longer than --duration {}: nothing would be done twice",
            human(interval),
            human(duration)
        )));
    }
    Ok(())
}

impl ProbeSettings {
    /// Checks what clap cannot check alone: the cadence, a non-empty prefix, a TTL that outlives two probes, and
    /// that the events and report files can be written.
    pub fn validate(self) -> AppResult<Self> {
        check_cadence(self.interval, self.duration)?;
        if self.prefix.is_empty() {
            return Err(AppError::BadInput("--prefix must not be empty: probe keys need their own namespace".into()));
        }
        if self.ttl < self.interval * 2 {
            return Err(AppError::BadInput("--ttl must be at least twice --interval".into()));
        }
        if let Some(path) = &self.events {
            crate::events::check_writable(path, "events file")?;
        }
        if let Some(path) = &self.report {
            crate::report::check_report_path(path)?;
        }
        Ok(self)
    }
}

/// One parsed Redis URL.
#[derive(Debug, Clone)]
pub struct ParsedUrl {
    /// Host and port.
    pub endpoint: Endpoint,
    /// rediss://
    pub tls: bool,
    /// user from the URL.
    pub username: Option<String>,
    /// password from the URL.
    pub password: Option<Secret>,
}

/// Parses `redis://[user:password@]host[:port][/db]` or `rediss://...`.
pub fn parse_url(raw: &str) -> AppResult<ParsedUrl> {
    let shown = crate::secret::redact_urls(raw);
    let bad = |why: &str| AppError::BadInput(format!("malformed URL '{shown}': {why}"));
    if !raw.contains("://") {
        return Err(bad("expected redis://host:port or rediss://host:port"));
    }
    let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    let tls = match url.scheme() {
        "redis" => false,
        "rediss" => true,
        other => {
            return Err(AppError::BadInput(format!(
                "unknown URL scheme '{other}' in '{shown}': use redis:// or rediss:// (TLS)"
            )))
        }
    };
    let host = match url.host() {
        Some(url::Host::Ipv6(a)) => a.to_string(),
        Some(h) => h.to_string(),
        None => return Err(bad("no host")),
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = url.port().unwrap_or(6379);
    if port == 0 {
        return Err(bad("port 0 is not a usable port"));
    }
    let decode = |s: &str| {
        percent_decode(s).map_err(|_| AppError::BadInput(format!("malformed URL '{shown}': bad percent-encoding")))
    };
    let username = if url.username().is_empty() { None } else { Some(decode(url.username())?) };
    let password = match url.password() {
        Some(p) if !p.is_empty() => Some(Secret::new(decode(p)?)),
        _ => None,
    };
    // redis://secret@host puts the password where the user name goes.
    let (username, password) = match (username, password) {
        (Some(u), None) => (None, Some(Secret::new(u))),
        other => other,
    };
    Ok(ParsedUrl { endpoint: Endpoint { host, port }, tls, username, password })
}

fn percent_decode(s: &str) -> Result<String, ()> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or(())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_urls() {
        let p = parse_url("rediss://alice:s3cr%40t@cache.example.net:10000/0").unwrap();
        assert!(p.tls);
        assert_eq!(p.endpoint.to_string(), "cache.example.net:10000");
        assert_eq!(p.username.as_deref(), Some("alice"));
        assert_eq!(p.password.unwrap().expose(), "s3cr@t");
        let p = parse_url("redis://127.0.0.1").unwrap();
        assert_eq!(p.endpoint.port, 6379);
        let p = parse_url("redis://onlypass@h:7000").unwrap();
        assert_eq!(p.password.unwrap().expose(), "onlypass");
        assert!(p.username.is_none());
    }

    #[test]
    fn bad_urls_are_one_clear_line_without_the_password() {
        let e = parse_url("http://h:1").unwrap_err().to_string();
        assert!(e.contains("unknown URL scheme 'http'"), "{e}");
        let e = parse_url("redis://u:topsecret@h:99999").unwrap_err().to_string();
        assert!(e.contains("malformed URL") && !e.contains("topsecret"), "{e}");
        let e = parse_url("localhost:6379").unwrap_err().to_string();
        assert!(e.contains("expected redis://"), "{e}");
    }

    #[test]
    fn display_urls_hide_the_password() {
        let mut t = Target::local(vec!["h:1".parse().unwrap()], Mode::Standalone);
        t.password = Some(Secret::new("pw-display-test"));
        t.username = Some("bob".into());
        assert_eq!(t.display_urls(), vec!["redis://bob:***@h:1".to_string()]);
    }
}
