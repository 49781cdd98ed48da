//! `PRESET[,param=value...]` → [`Habit`]: a preset's defaults overridden the way a user's own client
//! configuration does (`lettuce@6,periodic=60s`, `redis-py@8,dynamic-startup-nodes=false`). Errors are one
//! line and name what would have been valid.

use std::time::Duration;

use super::backoff::{parse_backoff, BACKOFF_FORMS};
use super::presets::{preset, ALIASES, PRESETS};
use super::{fmt_exact, AskRule, Consensus, DeadNode, Failing, Habit, MovedRetry, MovedRule, Order, SeedsWhen, Step};
use crate::duration::{parse_duration, parse_positive_duration};

/// Every parameter, with the values it takes (for error messages and `clients show`).
pub const PARAMS: [(&str, &str); 32] = [
    ("moved", "refresh | every:N | patch"),
    ("reinitialize-steps", "N (redis-py: 0 patches only, 1 refreshes on every MOVED)"),
    ("ask", "never | unknown | always"),
    ("cluster-down", "off | DUR (refresh after DUR)"),
    ("readonly", "on | off"),
    ("connection-error", "off | DUR (refresh after DUR, 0 at once)"),
    ("error-needs-command", "on | off (a connection that ends while idle does not count)"),
    ("consecutive-failures", "off | N"),
    ("reconnecting-for", "off | DUR"),
    ("reconnect-attempts", "off | N"),
    ("reconnected", "on | off"),
    ("uncovered-slot", "on | off"),
    ("unknown-node", "on | off"),
    ("no-connection", "on | off"),
    ("periodic", "off | DUR"),
    ("max-age", "off | DUR"),
    ("rate-limit", "off | DUR"),
    ("sources", "STEP+STEP...: redirector, redirect-target, known[:shuffled][:failing-last|:skip-failing], seeds[...][:if-no-connection|:after-failed-round]"),
    ("consensus", "first | majority | newest-epoch"),
    ("lazy", "on | off"),
    ("moved-retry", "redirect | map"),
    ("dynamic-startup-nodes", "true | false"),
    ("dead-node", "reconnect | drop | fallback"),
    ("backoff", BACKOFF_FORMS),
    ("forget-retired", "on | off"),
    ("shared-router", "on | off"),
    ("replica-connections", "on | off (off: connections to the primaries only)"),
    ("on-demand", "on | off (connections made when a command needs one)"),
    ("health-check", "off | DUR"),
    ("timeout", "off | DUR"),
    ("connect-timeout", "off | DUR"),
    ("attempts", "off | N"),
];

/// Parses `PRESET[,param=value...]`. Later parameters win over earlier ones; each applied one is kept in
/// [`Habit::overrides`].
pub fn parse_habit(spec: &str) -> Result<Habit, String> {
    let mut parts = spec.split(',').map(str::trim);
    let name = parts.next().unwrap_or_default();
    let mut habit = preset(name).ok_or_else(|| {
        let aliases: Vec<&str> = ALIASES.iter().map(|(a, _)| *a).collect();
        format!(
            "unknown client preset '{name}': valid presets are {} (aliases: {})",
            PRESETS.join(", "),
            aliases.join(", ")
        )
    })?;
    for part in parts {
        if part.is_empty() {
            continue;
        }
        let (key, value) = part
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| format!("'{part}' in --client {spec} is no param=value"))?;
        apply(&mut habit, key, value).map_err(|e| format!("{name}: {e}"))?;
        habit.overrides.push((key.to_string(), value.to_string()));
    }
    Ok(habit)
}

/// Sets one parameter.
fn apply(h: &mut Habit, key: &str, value: &str) -> Result<(), String> {
    let bad = |why: String| format!("bad value '{value}' for {key}: {why}");
    let t = &mut h.triggers;
    let c = &mut h.connections;
    match key {
        "moved" => t.moved = moved(value).ok_or_else(|| bad("give refresh, every:N or patch".into()))?,
        "reinitialize-steps" => {
            t.moved = match count(value).map_err(bad)? {
                0 => MovedRule::PatchOnly,
                1 => MovedRule::Refresh,
                n => MovedRule::EveryNth(n),
            }
        }
        "ask" => {
            t.ask = match value {
                "never" => AskRule::Never,
                "unknown" => AskRule::UnknownTarget,
                "always" => AskRule::Always,
                _ => return Err(bad("give never, unknown or always".into())),
            }
        }
        "cluster-down" => t.cluster_down = optional(value, parse_duration).map_err(bad)?,
        "readonly" => t.read_only = flag(value).map_err(bad)?,
        "connection-error" => t.connection_error = optional(value, parse_duration).map_err(bad)?,
        "error-needs-command" => t.error_needs_command = flag(value).map_err(bad)?,
        "consecutive-failures" => t.consecutive_failures = optional(value, positive_count).map_err(bad)?,
        "reconnecting-for" => t.reconnecting_for = optional(value, parse_positive_duration).map_err(bad)?,
        "reconnect-attempts" => t.reconnect_attempts = optional(value, positive_count).map_err(bad)?,
        "reconnected" => t.reconnected = flag(value).map_err(bad)?,
        "uncovered-slot" => t.uncovered_slot = flag(value).map_err(bad)?,
        "unknown-node" => t.unknown_node = flag(value).map_err(bad)?,
        "no-connection" => t.no_connection = flag(value).map_err(bad)?,
        "periodic" => t.periodic = optional(value, parse_positive_duration).map_err(bad)?,
        "max-age" => t.max_age = optional(value, parse_positive_duration).map_err(bad)?,
        "rate-limit" => t.rate_limit = optional(value, parse_duration).map_err(bad)?,
        "sources" => h.refresh.sources = steps(value).map_err(bad)?,
        "consensus" => {
            h.refresh.consensus = match value {
                "first" => Consensus::First,
                "majority" => Consensus::Majority,
                "newest-epoch" => Consensus::NewestEpoch,
                _ => return Err(bad("give first, majority or newest-epoch".into())),
            }
        }
        "lazy" => h.refresh.lazy = flag(value).map_err(bad)?,
        "moved-retry" => {
            h.refresh.moved_retry = match value {
                "redirect" => MovedRetry::RedirectTarget,
                "map" => MovedRetry::RefreshedMap,
                _ => return Err(bad("give redirect or map".into())),
            }
        }
        "dynamic-startup-nodes" => h.dynamic_seeds = flag(value).map_err(bad)?,
        "dead-node" => {
            c.dead_node = match value {
                "reconnect" => DeadNode::Reconnect,
                "drop" => DeadNode::DropToRandom,
                "fallback" => DeadNode::ReconnectWithFallback,
                _ => return Err(bad("give reconnect, drop or fallback".into())),
            }
        }
        "backoff" => c.backoff = parse_backoff(value)?,
        "forget-retired" => c.forget_retired = flag(value).map_err(bad)?,
        "shared-router" => c.shared_router = flag(value).map_err(bad)?,
        "replica-connections" => c.replica_connections = flag(value).map_err(bad)?,
        "on-demand" => c.on_demand = flag(value).map_err(bad)?,
        "health-check" => c.health_check = optional(value, parse_positive_duration).map_err(bad)?,
        "timeout" => c.command_timeout = optional(value, parse_positive_duration).map_err(bad)?,
        "connect-timeout" => c.connect_timeout = optional(value, parse_positive_duration).map_err(bad)?,
        "attempts" => c.attempts = optional(value, positive_count).map_err(bad)?,
        _ => {
            let names: Vec<&str> = PARAMS.iter().map(|(k, _)| *k).collect();
            return Err(format!("unknown parameter '{key}': valid parameters are {}", names.join(", ")));
        }
    }
    Ok(())
}

fn moved(v: &str) -> Option<MovedRule> {
    match v {
        "refresh" => Some(MovedRule::Refresh),
        "patch" => Some(MovedRule::PatchOnly),
        _ => match v.strip_prefix("every:")?.parse::<u32>().ok()? {
            0 => None,
            1 => Some(MovedRule::Refresh),
            n => Some(MovedRule::EveryNth(n)),
        },
    }
}

/// `on`/`off` and their synonyms.
fn flag(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err("give on or off (true/false, yes/no)".into()),
    }
}

/// `off` (or `none`) for nothing, else `parse`.
fn optional<T>(v: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>, String> {
    match v {
        "off" | "none" => Ok(None),
        _ => parse(v).map(Some).map_err(|e| format!("{e}, or off")),
    }
}

fn count(v: &str) -> Result<u32, String> {
    v.parse::<u32>().map_err(|_| "give a whole number".to_string())
}

fn positive_count(v: &str) -> Result<u32, String> {
    match count(v)? {
        0 => Err("give a whole number above 0".into()),
        n => Ok(n),
    }
}

/// `redirector+known:shuffled+seeds:if-no-connection`.
fn steps(v: &str) -> Result<Vec<Step>, String> {
    let mut out = Vec::new();
    for token in v.split('+') {
        let mut words = token.split(':');
        let kind = words.next().unwrap_or_default();
        let mut order = Order::LISTED;
        let mut when = SeedsWhen::Always;
        for word in words {
            match word {
                "shuffled" => order.shuffled = true,
                "failing-last" => order.failing = Failing::Last,
                "skip-failing" => order.failing = Failing::Skip,
                "if-no-connection" if kind == "seeds" => when = SeedsWhen::NoConnectionLeft,
                "after-failed-round" if kind == "seeds" => when = SeedsWhen::AfterFailedRound,
                _ => return Err(format!("unknown option '{word}' of '{kind}'")),
            }
        }
        out.push(match kind {
            "redirector" | "redirect-target" if token.contains(':') => {
                return Err(format!("'{kind}' takes no options"));
            }
            "redirector" => Step::Redirector,
            "redirect-target" => Step::RedirectTarget,
            "known" => Step::Known(order),
            "seeds" => Step::Seeds(order, when),
            _ => return Err(format!("unknown source '{kind}': give redirector, redirect-target, known or seeds")),
        });
    }
    Ok(out)
}

/// The `sources` value that parses back to `steps`.
pub fn fmt_steps(steps: &[Step]) -> String {
    let order = |o: &Order| {
        let mut s = String::new();
        if o.shuffled {
            s.push_str(":shuffled");
        }
        match o.failing {
            Failing::Include => {}
            Failing::Last => s.push_str(":failing-last"),
            Failing::Skip => s.push_str(":skip-failing"),
        }
        s
    };
    let words: Vec<String> = steps
        .iter()
        .map(|step| match step {
            Step::Redirector => "redirector".to_string(),
            Step::RedirectTarget => "redirect-target".to_string(),
            Step::Known(o) => format!("known{}", order(o)),
            Step::Seeds(o, when) => {
                let when = match when {
                    SeedsWhen::Always => "",
                    SeedsWhen::NoConnectionLeft => ":if-no-connection",
                    SeedsWhen::AfterFailedRound => ":after-failed-round",
                };
                format!("seeds{}{when}", order(o))
            }
        })
        .collect();
    words.join("+")
}

/// An optional duration as a parameter value.
pub fn fmt_optional(d: Option<Duration>) -> String {
    d.map_or_else(|| "off".to_string(), fmt_exact)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::styles::habit::{Backoff, Jitter};

    #[test]
    fn a_bare_preset_is_the_preset() {
        assert_eq!(parse_habit("lettuce@7").unwrap(), preset("lettuce@7").unwrap());
        assert_eq!(parse_habit("moved-only").unwrap(), preset("node-redis@4").unwrap());
        assert_eq!(parse_habit(" go-redis@9.22 , ").unwrap().name, "go-redis@9.22");
    }

    #[test]
    fn overrides_change_only_what_they_name() {
        let h = parse_habit("lettuce@6,periodic=60s").unwrap();
        assert_eq!(h.triggers.periodic, Some(Duration::from_secs(60)));
        let mut expect = preset("lettuce@6").unwrap();
        expect.triggers.periodic = Some(Duration::from_secs(60));
        expect.overrides = vec![("periodic".into(), "60s".into())];
        assert_eq!(h, expect);
        assert_eq!(h.spec(), "lettuce@6,periodic=60s");

        let h = parse_habit("redis-py@8,dynamic-startup-nodes=false").unwrap();
        assert!(!h.dynamic_seeds);
        let h = parse_habit("redis-py@8,reinitialize-steps=1,cluster-down=off").unwrap();
        assert_eq!((h.triggers.moved, h.triggers.cluster_down), (MovedRule::Refresh, None));
        let h = parse_habit("node-redis@6,reconnecting-for=off,reconnecting-for=2s").unwrap();
        assert_eq!(h.triggers.reconnecting_for, Some(Duration::from_secs(2)), "the last one wins");
    }

    #[test]
    fn every_parameter_is_accepted() {
        let spec = "jedis@7,reinitialize-steps=4,moved=every:3,ask=always,cluster-down=100ms,readonly=on,connection-error=0,\
                    error-needs-command=on,consecutive-failures=3,reconnecting-for=5s,reconnect-attempts=5,reconnected=yes,uncovered-slot=true,\
                    unknown-node=1,no-connection=on,periodic=30s,max-age=1m,rate-limit=5s,\
                    sources=redirector+known:shuffled:skip-failing+seeds:if-no-connection,consensus=majority,lazy=on,\
                    moved-retry=map,dynamic-startup-nodes=on,dead-node=drop,backoff=exp:50ms..2s+200ms,forget-retired=off,\
                    shared-router=on,replica-connections=off,on-demand=off,health-check=3s,timeout=250ms,connect-timeout=1s,attempts=off";
        let h = parse_habit(spec).unwrap();
        assert_eq!(h.overrides.len(), 32);
        assert_eq!(h.triggers.moved, MovedRule::EveryNth(3));
        assert!(h.triggers.error_needs_command);
        assert!(!h.connections.replica_connections);
        assert_eq!(h.triggers.max_age, Some(Duration::from_secs(60)));
        assert_eq!(
            h.refresh.sources,
            [
                Step::Redirector,
                Step::Known(Order { shuffled: true, failing: Failing::Skip }),
                Step::Seeds(Order::LISTED, SeedsWhen::NoConnectionLeft)
            ]
        );
        assert_eq!(
            h.connections.backoff,
            Backoff::Exponential {
                base: Duration::from_millis(50),
                factor: 2.0,
                max: Duration::from_secs(2),
                jitter: Jitter::Add(Duration::from_millis(200))
            }
        );
        assert_eq!(h.connections.dead_node, DeadNode::DropToRandom);
        assert_eq!(h.connections.attempts, None);
        for (key, _) in PARAMS {
            assert!(spec.contains(&format!(",{key}=")), "{key} untested");
        }
    }

    #[test]
    fn every_presets_sources_print_and_parse_back() {
        for name in PRESETS {
            let h = preset(name).unwrap();
            assert_eq!(steps(&fmt_steps(&h.refresh.sources)), Ok(h.refresh.sources.clone()), "{name}");
        }
    }

    #[test]
    fn unknown_presets_list_the_valid_ones() {
        let e = parse_habit("lettuce@5,periodic=60s").unwrap_err();
        assert!(e.starts_with("unknown client preset 'lettuce@5': valid presets are node-redis@4, "), "{e}");
        assert!(e.contains("redis-rs@1.6") && e.contains("moved-only"), "{e}");
        assert!(parse_habit("").unwrap_err().contains("valid presets"));
    }

    #[test]
    fn unknown_parameters_list_the_valid_ones() {
        let e = parse_habit("lettuce@6,refresh-period=60s").unwrap_err();
        assert!(e.starts_with("lettuce@6: unknown parameter 'refresh-period': valid parameters are moved, "), "{e}");
        assert!(e.contains("periodic") && e.contains("dynamic-startup-nodes"));
        assert!(parse_habit("lettuce@6,periodic").unwrap_err().contains("is no param=value"));
    }

    #[test]
    fn bad_values_say_what_fits() {
        let cases = [
            ("lettuce@6,periodic=soon", "bad value 'soon' for periodic: 'soon' is not a duration"),
            ("lettuce@6,periodic=0s", "is zero"),
            ("redis-py@8,dynamic-startup-nodes=maybe", "give on or off"),
            ("redis-py@8,moved=every:0", "give refresh, every:N or patch"),
            ("jedis@7,consecutive-failures=0", "above 0"),
            ("jedis@7,sources=known+peers", "unknown source 'peers'"),
            ("jedis@7,sources=known:if-no-connection", "unknown option 'if-no-connection' of 'known'"),
            ("jedis@7,sources=redirector:shuffled", "'redirector' takes no options"),
            ("jedis@7,backoff=slow", "give none, fixed:DUR"),
            ("jedis@7,ask=sometimes", "give never, unknown or always"),
        ];
        for (spec, want) in cases {
            let e = parse_habit(spec).unwrap_err();
            assert!(e.contains(want), "{spec}: {e}");
            assert!(!e.contains('\n'), "{spec}: one line");
        }
    }

    #[test]
    fn optional_durations_print_as_they_parse() {
        assert_eq!(fmt_optional(None), "off");
        assert_eq!(fmt_optional(Some(Duration::from_millis(250))), "250ms");
    }
}
