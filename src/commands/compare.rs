//! `compare`: several connection styles probed side by side through the same failover: real endpoints
//! (`--target`), or a rehearsal (`--lab`) with a cluster probed by direct (the shards' own availability), fred,
//! moved-only and reconnect-refresh, and an enterprise endpoint, the scenario injected into both labs at the same
//! moment.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::sources::{self, cleanup, futures_join, prepare, Probing};
use super::{failover_recovery, rehearsal, Ctx};
use crate::cli::CompareArgs;
use crate::clock::Clock;
use crate::connect::{self, Factory};
use crate::error::{AppError, AppResult};
use crate::events::EventLog;
use crate::exit::ExitCode;
use crate::lab::TopologyKind;
use crate::mode::Mode;
use crate::probe::session::Session;
use crate::probe::styles::ClientSpec;
use crate::probe::{collect::Collector, judge, plan, Verdict, VerdictPolicy};
use crate::report::{SourceInfo, SourceRecovery, SourceVerdict};
use crate::settings::Target;

/// Where a `--target` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A URL (credentials from the usual flags and env).
    Url(String),
    /// A profile of the profiles file.
    Profile(String),
}

/// One parsed `--target NAME=URL[,mode=MODE][,client=CLIENT]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    /// Name shown in tables and used by `--expect`.
    pub name: String,
    /// Where.
    pub location: Location,
    /// Mode override.
    pub mode: Option<Mode>,
    /// Who probes it.
    pub client: ClientSpec,
}

/// Parses a `--target` value.
pub fn parse_spec(text: &str) -> AppResult<TargetSpec> {
    let bad = |why: &str| {
        AppError::BadInput(format!(
            "--target '{}': {why} (expected NAME=URL[,mode=MODE][,client=CLIENT] or NAME=profile:NAME; client= comes last, \
             its own ,param=value included)",
            crate::secret::redact_urls(text)
        ))
    };
    let (name, rest) = text.split_once('=').ok_or_else(|| bad("no NAME="))?;
    let name = name.trim();
    if name.is_empty() || name.contains(['/', ' ']) {
        return Err(bad("the name must be non-empty, without spaces or '/'"));
    }
    // `client=` takes the rest: a preset's own `,param=value` overrides belong to it.
    let (rest, client) = match rest.find(",client=") {
        Some(i) => (&rest[..i], Some(&rest[i + ",client=".len()..])),
        None => (rest, None),
    };
    let mut parts = rest.split(',');
    let first = parts.next().unwrap_or("").trim();
    if first.is_empty() {
        return Err(bad("no URL"));
    }
    let location = match first.strip_prefix("profile:") {
        Some(p) => Location::Profile(p.to_string()),
        None => Location::Url(first.to_string()),
    };
    let client = match client {
        Some(c) => ClientSpec::parse(c).map_err(|e| bad(&e))?,
        None => ClientSpec::direct(),
    };
    let mut spec = TargetSpec { name: name.to_string(), location, mode: None, client };
    for opt in parts {
        let (k, v) = opt.split_once('=').ok_or_else(|| bad(&format!("'{opt}' is not key=value")))?;
        match k.trim() {
            "mode" => {
                spec.mode = Some(
                    <Mode as clap::ValueEnum>::from_str(v.trim(), true)
                        .map_err(|_| bad(&format!("unknown mode '{v}'")))?,
                )
            }
            other => return Err(bad(&format!("unknown option '{other}'"))),
        }
    }
    Ok(spec)
}

/// Parses `--expect NAME=pass|fail` values into expected-to-pass flags.
pub fn parse_expectations(values: &[String]) -> AppResult<BTreeMap<String, bool>> {
    let mut out = BTreeMap::new();
    for v in values {
        let (name, what) =
            v.split_once('=').ok_or_else(|| AppError::BadInput(format!("--expect '{v}': expected NAME=pass|fail")))?;
        let pass = match what.trim() {
            "pass" | "passed" | "ok" => true,
            "fail" | "failed" => false,
            other => return Err(AppError::BadInput(format!("--expect '{v}': '{other}' is not pass or fail"))),
        };
        out.insert(name.trim().to_string(), pass);
    }
    Ok(out)
}

/// A factory for one `--target`.
fn factory_for(c: &Ctx, spec: &TargetSpec) -> AppResult<Arc<Factory>> {
    let mut args = c.raw_target.clone();
    match &spec.location {
        Location::Url(u) => {
            args.urls = vec![u.clone()];
            args.profile = None;
        }
        Location::Profile(p) => {
            args.urls = vec![];
            args.profile = Some(p.clone());
        }
    }
    if spec.mode.is_some() {
        args.mode = spec.mode;
    }
    let target = crate::cli::resolve_target(&args)?;
    Ok(Arc::new(Factory::new(target)?))
}

/// Runs `compare`.
pub async fn run(c: &Ctx, args: &CompareArgs) -> AppResult<ExitCode> {
    let probe = crate::cli::probe_settings(&args.probe)?;
    rehearsal::validate(&args.lab, probe.duration)?;
    let expectations = parse_expectations(&args.expect)?;
    let specs: Vec<TargetSpec> = args.targets.iter().map(|t| parse_spec(t)).collect::<AppResult<_>>()?;
    if args.lab.lab.is_none() && specs.is_empty() {
        return Err(AppError::BadInput("compare needs --target NAME=URL (twice or more) or --lab SCENARIO".into()));
    }
    if args.lab.lab.is_some() && !specs.is_empty() {
        return Err(AppError::BadInput("--lab brings its own targets: leave out --target".into()));
    }
    sources::preflight(args.clients.iter().chain(specs.iter().map(|s| &s.client)))?;
    let log = probe.events.as_deref().map(EventLog::create).transpose()?;
    let metrics =
        crate::metrics::MetricsSink::start(probe.metrics_listen.as_deref(), probe.metrics_file.as_deref()).await?;
    let timeout = c.settings.target.timeout;

    // Labs first (slow), then the sources.
    let mut labs = Vec::new();
    let mut plan_sources: Vec<(String, Arc<Factory>, ClientSpec)> = Vec::new();
    if args.lab.lab.is_some() {
        for kind in [TopologyKind::Cluster, TopologyKind::Enterprise] {
            match rehearsal::start(kind, &args.lab).await {
                Ok(lab) => labs.push(lab),
                Err(e) => {
                    for lab in labs {
                        lab.shutdown().await;
                    }
                    return Err(e);
                }
            }
        }
        let cluster = Arc::new(Factory::new(Target {
            timeout,
            reconnect_max: c.settings.target.reconnect_max,
            fred_use_cache: c.settings.target.fred_use_cache,
            ..labs[0].target()
        })?);
        let enterprise = Arc::new(Factory::new(Target {
            timeout,
            reconnect_max: c.settings.target.reconnect_max,
            fred_use_cache: c.settings.target.fred_use_cache,
            ..labs[1].target()
        })?);
        for client in &args.clients {
            plan_sources.push((client.to_string(), Arc::clone(&cluster), client.clone()));
        }
        plan_sources.push(("enterprise".into(), enterprise, ClientSpec::direct()));
    } else {
        for spec in &specs {
            plan_sources.push((spec.name.clone(), factory_for(c, spec)?, spec.client.clone()));
        }
    }
    let run_id = connect::run_id();
    let clock = Clock::start();
    let session = Session::new(clock);
    let tx = session.sender();
    let mut prepared = Vec::new();
    for (i, (name, factory, style)) in plan_sources.into_iter().enumerate() {
        // Each source writes its own keys, so sources on the same cluster never read each other's values.
        let cfg = plan::engine_config(&probe, &name, timeout, &format!("{run_id}{i}"));
        match prepare(&name, factory, &style, Probing::one_key(probe.refresh_after), cfg, clock, &tx).await {
            Ok(p) => prepared.push(p),
            Err(e) => {
                for p in &prepared {
                    cleanup(p).await;
                }
                for lab in labs {
                    lab.shutdown().await;
                }
                return Err(e);
            }
        }
    }
    let (watcher, sources) = sources::watch_and_plan(&prepared, &probe, clock, &tx, session.stopped());
    let deaths = sources::stop_on_driver_death(&prepared, session.stopper());
    let collector = Collector::new(clock, probe.duration, plan::STRIP_WIDTH, log);
    let view = crate::render::choose(c.settings.output, probe.duration, "compare");
    let stopped = session.stopped();
    let injections = async {
        let mut out = Vec::new();
        if let Some(kind) = args.lab.lab {
            let scenario = rehearsal::scenario(kind, &args.lab);
            let mut futures = Vec::new();
            for (lab, name) in labs.drain(..).zip(["cluster", "enterprise"]) {
                futures.push(rehearsal::inject(
                    lab,
                    scenario.clone(),
                    args.lab.at,
                    clock,
                    name.to_string(),
                    tx.clone(),
                    stopped.clone(),
                ));
            }
            drop(tx);
            out = futures_join(futures).await;
        } else {
            drop(tx);
        }
        out
    };
    let (outcome, injected) = session.run_with(sources, collector, view, metrics, injections).await;
    if let Some(w) = watcher {
        w.abort();
    }
    let targets = outcome.collector.target_reports(outcome.elapsed);
    let mut lab_summaries = Vec::new();
    if let Some(kind) = args.lab.lab {
        for ((lab, result), source) in injected.into_iter().zip(["direct", "enterprise"]) {
            lab_summaries.push(rehearsal::summarize(kind, args.lab.at, &result, &targets, source));
            lab.shutdown().await;
        }
    }
    let recovery: Vec<SourceRecovery> = prepared
        .iter()
        .filter_map(|p| {
            p.emulated.as_ref().map(|e| SourceRecovery { source: p.info.name.clone(), shards: e.recovery() })
        })
        .collect();
    for p in &prepared {
        cleanup(p).await;
    }
    for h in deaths {
        h.abort();
    }
    if let Some(e) = sources::driver_death(&prepared) {
        return Err(e);
    }
    let policy = VerdictPolicy { max_outage: probe.max_outage };
    let per_source: Vec<SourceVerdict> = prepared
        .iter()
        .map(|p| {
            let named: Vec<(String, crate::probe::TargetSummary)> = targets
                .iter()
                .filter(|t| t.source == p.info.name)
                .map(|t| (format!("{}/{}", t.source, t.name), t.summary.clone()))
                .collect();
            let verdict = judge(&named, &policy);
            let expect_pass = expectations.get(&p.info.name).copied().unwrap_or(true);
            SourceVerdict {
                source: p.info.name.clone(),
                as_expected: verdict.is_passed() == expect_pass,
                expected: if expect_pass { "pass" } else { "fail" }.to_string(),
                verdict,
            }
        })
        .collect();
    for name in expectations.keys() {
        if !per_source.iter().any(|v| &v.source == name) {
            eprintln!("warning: --expect names '{name}', which is not a target of this run");
        }
    }
    let infos: Vec<SourceInfo> = prepared.iter().map(|p| p.info.clone()).collect();
    let mut lab_iter = lab_summaries.into_iter();
    let mut summary = failover_recovery::summarize("compare", infos, &probe, &clock, &outcome, lab_iter.next());
    summary.extra_labs = lab_iter.collect();
    summary.recovery = recovery;
    let unexpected: Vec<String> = per_source
        .iter()
        .filter(|v| !v.as_expected)
        .map(|v| {
            format!(
                "{}: expected to {}, but it {}",
                v.source,
                v.expected,
                if v.verdict.is_passed() { "passed" } else { "failed" }
            )
        })
        .collect();
    summary.verdict = if unexpected.is_empty() { Verdict::Passed } else { Verdict::Failed { reasons: unexpected } };
    summary.per_source = per_source;
    Ok(failover_recovery::finish(c, &summary, probe.report.as_deref(), outcome.collector.log_error.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_specs_parse() {
        let s = parse_spec("oss=rediss://h:10000,mode=oss-cluster,client=moved-only").unwrap();
        assert_eq!(s.name, "oss");
        assert_eq!(s.location, Location::Url("rediss://h:10000".into()));
        assert_eq!(s.mode, Some(Mode::OssCluster));
        assert_eq!(s.client.label, "moved-only");
        let s = parse_spec("prod=profile:PROD").unwrap();
        assert_eq!(s.location, Location::Profile("PROD".into()));
        assert_eq!(s.client, ClientSpec::direct());
        let s = parse_spec("l=redis://h,mode=oss-cluster,client=lettuce@6,periodic=60s").unwrap();
        assert_eq!((s.mode, s.client.label.as_str()), (Some(Mode::OssCluster), "lettuce@6,periodic=60s"));
        assert!(parse_spec("noname").is_err());
        assert!(parse_spec("x=redis://h,client=jedis").unwrap_err().to_string().contains("unknown client 'jedis'"));
        let e = parse_spec("x=redis://u:pw-secret@h,bogus=1").unwrap_err().to_string();
        assert!(e.contains("unknown option") && !e.contains("pw-secret"), "{e}");
    }

    #[test]
    fn expectations_parse() {
        let e = parse_expectations(&["moved-only=fail".into(), "fred=pass".into()]).unwrap();
        assert_eq!(e.get("moved-only"), Some(&false));
        assert_eq!(e.get("fred"), Some(&true));
        assert!(parse_expectations(&["x=maybe".into()]).is_err());
    }
}
