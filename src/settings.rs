//! Validated settings: flags, environment and profile merged once into the target the rest of the tool uses.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{Mode, OutputFormat, TargetArgs};
use crate::error::{AppError, AppResult};
use crate::profiles;
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

/// Turns the raw target flags into a validated [`Target`].
pub fn resolve_target(args: &TargetArgs) -> AppResult<Target> {
    let profile = match &args.profile {
        Some(name) => Some((name.clone(), profiles::load(name, args.profiles_file.as_deref())?)),
        None => None,
    };
    let mut urls = args.urls.clone();
    urls.retain(|u| !u.trim().is_empty());
    if urls.is_empty() {
        if let Some((_, p)) = &profile {
            urls = p.all_urls();
        }
    }
    if urls.is_empty() {
        urls.push(DEFAULT_URL.to_string());
    }
    let parsed: Vec<ParsedUrl> = urls.iter().map(|u| parse_url(u.trim())).collect::<AppResult<_>>()?;
    let tls = parsed[0].tls;
    if parsed.iter().any(|p| p.tls != tls) {
        return Err(AppError::BadInput("mixing redis:// and rediss:// seeds: use one scheme".into()));
    }
    let use_cluster = std::env::var("USE_CLUSTER").map(|v| v.eq_ignore_ascii_case("true")).unwrap_or(false);
    let mode = args
        .mode
        .or_else(|| profile.as_ref().map(|(_, p)| p.mode.unwrap_or(Mode::OssCluster)))
        .unwrap_or(if use_cluster { Mode::OssCluster } else { Mode::Standalone });
    let username = args
        .user
        .clone()
        .or_else(|| profile.as_ref().and_then(|(_, p)| p.user.clone()))
        .or_else(|| parsed.iter().find_map(|p| p.username.clone()));
    let profile_key = match &profile {
        Some((name, p)) if args.access_key.is_none() => match &p.access_key_env {
            Some(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Some(Secret::new(v)),
                _ => {
                    return Err(AppError::BadInput(format!(
                        "profile '{name}': the variable {var} that holds its access key is not set"
                    )))
                }
            },
            None => None,
        },
        _ => None,
    };
    let password = args
        .access_key
        .as_ref()
        .filter(|k| !k.is_empty())
        .map(|k| Secret::new(k.clone()))
        .or(profile_key)
        .or_else(|| parsed.iter().find_map(|p| p.password.clone()));
    if let Some(ca) = &args.tls_ca {
        if !ca.is_file() {
            return Err(AppError::BadInput(format!("--tls-ca {}: no such file", ca.display())));
        }
    }
    Ok(Target {
        seeds: parsed.into_iter().map(|p| p.endpoint).collect(),
        tls,
        mode,
        username,
        password,
        tls_ca: args.tls_ca.clone(),
        insecure: args.insecure,
        timeout: args.timeout,
        profile: profile.map(|(n, _)| n),
        password_command: args.password_command.clone().filter(|c| !c.trim().is_empty()),
        password_refresh: args.password_refresh,
        reconnect_max: args.reconnect_max,
        fred_use_cache: args.fred_use_cache,
    })
}

/// Builds the settings shared by every subcommand.
pub fn resolve(args: &TargetArgs) -> AppResult<Settings> {
    let target = resolve_target(args)?;
    let color = !args.no_color && std::env::var_os("NO_COLOR").is_none();
    Ok(Settings { target, output: args.output, color })
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
