//! [`ClientSpec`]: what `--client` names. `direct` (the cluster's own availability), `fred` (fred's own cluster
//! client, probed for real), or a client habit: a preset (`lettuce@6`), an alias (`moved-only`,
//! `reconnect-refresh`), with the user's own `param=value` overrides (`lettuce@6,periodic=60s`).

use std::fmt;
use std::str::FromStr;

use super::habit::{self, Habit, ALIASES, PRESETS};

/// What a probing client is.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientKind {
    /// The cluster's own availability, not one library's habit (the default): one connection per node, every
    /// shard's probes independent of the others', and on any failure (connection error, timeout, MOVED,
    /// CLUSTERDOWN, READONLY, TRYAGAIN, LOADING) the slot map is read again at once from every known node and
    /// every seed, in parallel. A connection that is down fails a command at once.
    Direct,
    /// fred's own cluster client (fred 10.1), probed for real: one router serves every node, so while it
    /// reconnects to one dead node every shard's commands wait.
    Fred,
    /// A client library's habit, emulated over per-node connections.
    Emulated(Box<Habit>),
    /// The library itself (`real:ioredis@5`): a driver process, or redis-rs in process.
    Real(crate::drivers::RealClient),
}

/// One `--client` value: what was typed (the name in tables, events and `--expect`) and what it means.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSpec {
    /// As typed, trimmed: `direct`, `fred`, `moved-only`, `lettuce@6,periodic=60s`.
    pub label: String,
    /// What it is.
    pub kind: ClientKind,
}

/// The aliases kept from the first version, with the refresh sources it emulated (wider than node-redis's
/// own: every known node, in map order), so existing runbooks measure what they measured.
const ALIAS_SOURCES: [(&str, &str); 2] = [
    ("moved-only", "sources=redirector+known+seeds"),
    ("reconnect-refresh", "sources=redirector+known:skip-failing+seeds"),
];

impl ClientSpec {
    /// `direct`.
    pub fn direct() -> Self {
        ClientSpec { label: "direct".into(), kind: ClientKind::Direct }
    }

    /// `fred`.
    pub fn fred() -> Self {
        ClientSpec { label: "fred".into(), kind: ClientKind::Fred }
    }

    /// Parses `direct`, `fred`, or `PRESET[,param=value...]`; errors are one line naming what is valid.
    pub fn parse(text: &str) -> Result<Self, String> {
        let label = text.trim().trim_end_matches(',').trim().to_string();
        let (name, rest) = label.split_once(',').map_or((label.as_str(), ""), |(n, r)| (n.trim(), r));
        let kind = match name {
            "direct" | "fred" if !rest.trim().is_empty() => {
                return Err(format!("--client {name} takes no parameters (they belong to client presets)"))
            }
            "direct" => ClientKind::Direct,
            "fred" => ClientKind::Fred,
            _ if name.starts_with("real:") => {
                ClientKind::Real(crate::drivers::RealClient::parse(label.trim_start_matches("real:"))?)
            }
            _ => {
                let alias = ALIAS_SOURCES.iter().find(|(a, _)| *a == name).map(|(_, sources)| *sources);
                let spec = match alias {
                    // The alias's own sources first, so the user's overrides still win.
                    Some(sources) => format!("{name},{sources}{}{rest}", if rest.is_empty() { "" } else { "," }),
                    None => label.clone(),
                };
                let mut h =
                    habit::parse_habit(&spec).map_err(|e| e.replace("unknown client preset", "unknown client"))?;
                if alias.is_some() {
                    // The alias's sources are part of what the alias means, not an override the user made.
                    h.overrides.remove(0);
                }
                ClientKind::Emulated(Box::new(h))
            }
        };
        Ok(ClientSpec { label, kind })
    }

    /// The habit behind an emulated client; `None` for direct and fred.
    pub fn habit(&self) -> Option<&Habit> {
        match &self.kind {
            ClientKind::Emulated(h) => Some(h),
            _ => None,
        }
    }

    /// Whether this is `direct`.
    pub fn is_direct(&self) -> bool {
        self.kind == ClientKind::Direct
    }

    /// Whether this client routes keys itself over per-node connections (direct and the presets).
    pub fn is_emulated(&self) -> bool {
        matches!(self.kind, ClientKind::Direct | ClientKind::Emulated(_))
    }

    /// This client with the application's options file (`--client-options`): only a real library takes one,
    /// and only once.
    pub fn with_options(&self, options: Option<&std::path::Path>) -> Result<ClientSpec, String> {
        let Some(path) = options else { return Ok(self.clone()) };
        match &self.kind {
            ClientKind::Real(r) if r.options.is_some() => {
                Err(format!("--client {self} names its options already: leave out --client-options"))
            }
            ClientKind::Real(r) if r.lib == crate::drivers::Lib::RedisRs => {
                Err("real:redis-rs takes no options file (its builder is set from the target)".into())
            }
            ClientKind::Real(r) => {
                let real = crate::drivers::RealClient { options: Some(path.to_path_buf()), ..r.clone() };
                Ok(ClientSpec {
                    label: format!("{},options={}", self.label, path.display()),
                    kind: ClientKind::Real(real),
                })
            }
            _ => Err(format!("--client-options goes with --client real:LIB (a real library), not with {self}")),
        }
    }

    /// The real library behind `real:...`; `None` otherwise.
    pub fn real(&self) -> Option<&crate::drivers::RealClient> {
        match &self.kind {
            ClientKind::Real(r) => Some(r),
            _ => None,
        }
    }

    /// Every client `--clients all` stands for: each preset, then fred's own client.
    pub fn all() -> Vec<ClientSpec> {
        let mut out: Vec<ClientSpec> = PRESETS.iter().filter_map(|p| ClientSpec::parse(p).ok()).collect();
        out.push(ClientSpec::fred());
        out
    }

    /// The names `--client` takes, for help and errors.
    pub fn names() -> String {
        let aliases: Vec<&str> = ALIASES.iter().map(|(a, _)| *a).collect();
        format!(
            "direct, fred, {} (aliases: {}), real:LIB[@VERSION][,options=FILE.json] (LIB: node-redis, ioredis, \
             redis-py, redis-rs)",
            PRESETS.join(", "),
            aliases.join(", ")
        )
    }
}

impl Default for ClientSpec {
    fn default() -> Self {
        ClientSpec::direct()
    }
}

impl fmt::Display for ClientSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl FromStr for ClientSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ClientSpec::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_fred_presets_and_aliases_parse() {
        assert_eq!(ClientSpec::parse("direct").unwrap(), ClientSpec::direct());
        assert!(ClientSpec::parse(" fred ").unwrap().kind == ClientKind::Fred);
        assert!(ClientSpec::parse("fred,periodic=1s").unwrap_err().contains("takes no parameters"));
        let l = ClientSpec::parse("lettuce@6,periodic=60s").unwrap();
        assert_eq!(l.label, "lettuce@6,periodic=60s");
        assert_eq!(l.habit().unwrap().spec(), "lettuce@6,periodic=60s");
        let r = ClientSpec::parse("real:ioredis@5,options=io.json").unwrap();
        assert_eq!(r.label, "real:ioredis@5,options=io.json");
        assert!(matches!(&r.kind, ClientKind::Real(c) if c.version.as_deref() == Some("5") && c.options.is_some()));
        assert!(!r.is_emulated());
        assert!(ClientSpec::parse("real:jedis@7").unwrap_err().starts_with("unknown real client 'jedis'"));
        assert!(ClientSpec::parse("real:ioredis@5,periodic=1s").unwrap_err().contains("options=FILE.json"));
        let p = std::path::Path::new("io.json");
        let with = ClientSpec::parse("real:ioredis@5").unwrap().with_options(Some(p)).unwrap();
        assert_eq!(with, r, "--client-options is the same as options= in the spec");
        assert!(r.with_options(Some(p)).unwrap_err().contains("names its options already"));
        assert!(ClientSpec::parse("ioredis@5").unwrap().with_options(Some(p)).unwrap_err().contains("real:LIB"));
        assert_eq!(ClientSpec::parse("fred").unwrap().with_options(None).unwrap().label, "fred");
        let e = ClientSpec::parse("jedis@2").unwrap_err();
        assert!(e.starts_with("unknown client 'jedis@2'") && e.contains("lettuce@7"), "{e}");
    }

    #[test]
    fn aliases_keep_the_sources_they_had() {
        let mo = ClientSpec::parse("moved-only").unwrap();
        let h = mo.habit().unwrap();
        assert_eq!(h.name, "node-redis@4");
        assert!(h.overrides.is_empty(), "{:?}", h.overrides);
        assert_eq!(habit::parse::fmt_steps(&h.refresh.sources), "redirector+known+seeds");
        let rr = ClientSpec::parse("reconnect-refresh,reconnecting-for=2s").unwrap();
        let h = rr.habit().unwrap();
        assert_eq!(h.name, "node-redis@6");
        assert_eq!(h.overrides, [("reconnecting-for".to_string(), "2s".to_string())]);
        assert_eq!(habit::parse::fmt_steps(&h.refresh.sources), "redirector+known:skip-failing+seeds");
    }

    #[test]
    fn all_is_every_preset_and_fred() {
        let all = ClientSpec::all();
        assert_eq!(all.len(), PRESETS.len() + 1);
        assert!(all.iter().take(PRESETS.len()).all(|c| c.habit().is_some()));
        assert_eq!(all.last().unwrap().kind, ClientKind::Fred);
    }
}
