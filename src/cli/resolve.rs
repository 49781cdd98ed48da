//! Raw flags become validated settings here, once: the target (flags, environment and profile merged) and the
//! probing settings. Everything below the subcommands sees only `settings`, never a clap struct.

use super::{ProbeArgs, TargetArgs};
use crate::error::{AppError, AppResult};
use crate::mode::Mode;
use crate::profiles;
use crate::secret::Secret;
use crate::settings::{parse_url, ParsedUrl, ProbeSettings, Settings, Target, DEFAULT_URL};

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

/// Validates the probing flags once.
pub fn probe_settings(args: &ProbeArgs) -> AppResult<ProbeSettings> {
    ProbeSettings {
        duration: args.duration,
        interval: args.interval,
        prefix: args.prefix.clone(),
        ttl: args.ttl,
        max_outage: args.max_outage,
        events: args.events.clone(),
        report: args.report.clone(),
        read_only: args.read_only,
        metrics_listen: args.metrics_listen.clone(),
        metrics_file: args.metrics_file.clone(),
        topology_interval: args.topology_interval,
        refresh_after: args.refresh_after,
    }
    .validate()
}
