//! The survival matrix: client × scenario, each cell one client's fate through one lab scenario that every
//! requested client probed at the same time: recovered or stuck, when it was back on the affected shard, and
//! how it got there. Pure: built from what the probes counted ([`TargetSummary`]) and how each client says it
//! recovered; the command ([`crate::commands::matrix`]) runs the labs.

pub mod render;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::probe::outage::TargetSummary;
use crate::probe::styles::RecoveryHow;

/// Whether a client's traffic ran through the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Traffic {
    /// Probes throughout.
    Busy,
    /// No probes from the injection until the scenario ended, then probes again: an application with no
    /// traffic on a shard during the maintenance (at night), where "every address I knew is gone" bites.
    Idle,
}

/// A client's fate through one scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Every shard answered again by the end of the run.
    Recovered,
    /// At least one shard was still failing when the run ended.
    Stuck,
    /// No probe result at all (the client could not start, or the run was stopped first).
    NoData,
}

/// One shard, as one client saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardFate {
    /// `slots 0-5460`.
    pub shard: String,
    /// The scenario acted on this shard.
    pub affected: bool,
    /// Answering again at the end of the run.
    pub recovered: bool,
    /// Unavailability from the injection on, summed over its windows (ms).
    pub outage_ms: u64,
    /// From the injection to the success that ended its last window (ms); `None` if it never failed after the
    /// injection, or is still failing.
    pub back_after_ms: Option<u64>,
}

/// One cell: a client through a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// The client, as given (`lettuce@6,periodic=60s`).
    pub client: String,
    /// Its fate.
    pub fate: Fate,
    /// The affected shard(s): from the injection until the last of them was back (ms).
    pub back_after_ms: Option<u64>,
    /// The affected shard(s): the longest unavailability (ms).
    pub outage_ms: u64,
    /// How it recovered, or what it is stuck on, in a few words.
    pub how: String,
    /// Shards still failing at the end.
    pub stuck: Vec<String>,
    /// Every shard.
    pub shards: Vec<ShardFate>,
    /// What `--expect` asked for: recovered (`pass`) or stuck (`fail`).
    pub expected: Fate,
    /// The fate is the expected one.
    pub as_expected: bool,
    /// A real library only: where it and the preset that models it disagree (a shard's verdict, or recovery
    /// more than [`DISAGREE_MS`] apart), one line each, naming the preset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disagrees: Vec<String>,
}

/// How far apart a real library's recovery and its preset's may be before the matrix flags them (ms).
pub const DISAGREE_MS: u64 = 1_000;

/// Where `real` (a real library's cell) and `preset` (its preset's, same column) disagree: per shard, the
/// verdict (back at the end or not), or the time from the injection until it was back, more than
/// [`DISAGREE_MS`] apart (its unavailability when one never failed after the injection).
pub fn disagreements(real: &Cell, preset: &Cell) -> Vec<String> {
    let mut out = Vec::new();
    for r in &real.shards {
        let Some(p) = preset.shards.iter().find(|p| p.shard == r.shard) else { continue };
        let word = |recovered| if recovered { "back" } else { "stuck" };
        if r.recovered != p.recovered {
            out.push(format!(
                "{}: the library is {} at the end, {} is {}",
                r.shard,
                word(r.recovered),
                preset.client,
                word(p.recovered)
            ));
            continue;
        }
        if !r.recovered {
            continue;
        }
        let (a, b) = match (r.back_after_ms, p.back_after_ms) {
            (Some(a), Some(b)) => (a, b),
            _ => (r.outage_ms, p.outage_ms),
        };
        if a.abs_diff(b) > DISAGREE_MS {
            out.push(format!(
                "{}: the library was back after {}, {} after {}",
                r.shard,
                crate::probe::fmt_ms(a),
                preset.client,
                crate::probe::fmt_ms(b)
            ));
        }
    }
    out
}

/// The lab's ground truth for one shard of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthRow {
    /// `slots 0-5460`.
    pub shard: String,
    /// The scenario acted on it.
    pub affected: bool,
    /// How long the lab's own writer could not write to it (ms).
    pub ground_truth_ms: u64,
}

/// One column: a scenario, with or without traffic, and every client's cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// `kill-primary`.
    pub scenario: String,
    /// With or without traffic through it.
    pub traffic: Traffic,
    /// When it was injected (ms since its run started).
    pub injected_at_ms: u64,
    /// When the scenario ended (ms since its run started), if it ran.
    pub ended_at_ms: Option<u64>,
    /// The lab's ground truth per shard.
    pub truth: Vec<TruthRow>,
    /// Why the scenario did not run, if it did not.
    pub error: Option<String>,
    /// One per client, in the order requested.
    pub cells: Vec<Cell>,
}

impl Column {
    /// `kill-primary`, or `kill-primary (idle)`.
    pub fn title(&self) -> String {
        match self.traffic {
            Traffic::Busy => self.scenario.clone(),
            Traffic::Idle => format!("{} (idle)", self.scenario),
        }
    }
}

/// The whole matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixReport {
    /// The clients, in the order requested (the rows).
    pub clients: Vec<String>,
    /// The columns, in the order run.
    pub columns: Vec<Column>,
    /// How long each scenario's run probed (ms).
    pub duration_ms: u64,
    /// Time between probes (ms).
    pub interval_ms: u64,
    /// The lab clusters' seed: `proxy` (a stable discovery endpoint) or `node` (one node's address).
    pub seed: String,
    /// Cells whose fate was not the expected one, in words.
    pub unexpected: Vec<String>,
    /// Ctrl-C / SIGTERM ended it early.
    pub interrupted: bool,
}

impl MatrixReport {
    /// Every cell as expected (and something ran).
    pub fn passed(&self) -> bool {
        self.unexpected.is_empty() && self.columns.iter().any(|c| c.error.is_none())
    }
}

/// The expectations of `--expect [SCENARIO[/busy|/idle]:]CLIENT=pass|fail`: per client, optionally per
/// scenario, optionally per traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    by_client: BTreeMap<String, Fate>,
    /// Keyed by `(scenario, traffic)`, traffic `None` for both.
    by_cell: BTreeMap<(String, Option<Traffic>, String), Fate>,
}

impl Expectations {
    /// Parses the `--expect` values; `scenarios` are the names a `SCENARIO:` prefix may take.
    pub fn parse(values: &[String], scenarios: &[String]) -> AppResult<Self> {
        let mut out = Expectations::default();
        for v in values {
            let bad =
                |why: &str| AppError::BadInput(format!("--expect '{v}': {why} (expected [SCENARIO:]CLIENT=pass|fail)"));
            let (who, what) = v.rsplit_once('=').ok_or_else(|| bad("no =pass or =fail"))?;
            let fate = match what.trim() {
                "pass" | "recovers" | "recovered" => Fate::Recovered,
                "fail" | "stuck" => Fate::Stuck,
                other => return Err(bad(&format!("'{other}' is not pass or fail"))),
            };
            let who = who.trim();
            let scopes = [(None, ""), (Some(Traffic::Busy), "/busy"), (Some(Traffic::Idle), "/idle")];
            let scoped = scenarios.iter().find_map(|s| {
                scopes.iter().find_map(|(traffic, tail)| {
                    who.strip_prefix(&format!("{s}{tail}:")).map(|c| (s.clone(), *traffic, c.trim().to_string()))
                })
            });
            match scoped {
                Some(key) => out.by_cell.insert(key, fate),
                None => out.by_client.insert(who.to_string(), fate),
            };
        }
        Ok(out)
    }

    /// What `client` should do in `scenario` with `traffic` (default: recover).
    pub fn of(&self, scenario: &str, traffic: Traffic, client: &str) -> Fate {
        let key = |t: Option<Traffic>| (scenario.to_string(), t, client.to_string());
        self.by_cell
            .get(&key(Some(traffic)))
            .or_else(|| self.by_cell.get(&key(None)))
            .or_else(|| self.by_client.get(client))
            .copied()
            .unwrap_or(Fate::Recovered)
    }

    /// The clients named that are not among `clients`.
    pub fn unknown(&self, clients: &[String]) -> Vec<String> {
        let named = self.by_client.keys().chain(self.by_cell.keys().map(|(_, _, c)| c));
        let mut out: Vec<String> = named.filter(|c| !clients.contains(c)).cloned().collect();
        out.dedup();
        out
    }
}

/// One shard of one client: `summary` counted by its probes, the scenario injected at `at_ms`.
pub fn shard_fate(shard: &str, affected: bool, summary: &TargetSummary, at_ms: u64) -> ShardFate {
    let after: Vec<(u64, u64)> = summary
        .windows
        .iter()
        .filter(|w| w.start_ms + w.length_ms >= at_ms)
        .map(|w| (w.start_ms, w.length_ms))
        .collect();
    let outage_ms = after.iter().map(|(_, len)| len).sum();
    let last_end = after.iter().map(|(start, len)| start + len).max();
    let recovered = summary.recovered && summary.probes > 0;
    ShardFate {
        shard: shard.to_string(),
        affected,
        recovered,
        outage_ms,
        back_after_ms: if recovered { last_end.map(|end| end.saturating_sub(at_ms)) } else { None },
    }
}

/// A cell from a client's shards; `how` says how the affected shard recovered (or what holds it).
pub fn cell(client: &str, shards: Vec<ShardFate>, how: String, expected: Fate) -> Cell {
    let probed = !shards.is_empty();
    let stuck: Vec<String> = shards.iter().filter(|s| !s.recovered).map(|s| s.shard.clone()).collect();
    let fate = match (probed, stuck.is_empty()) {
        (false, _) => Fate::NoData,
        (true, true) => Fate::Recovered,
        (true, false) => Fate::Stuck,
    };
    let affected: Vec<&ShardFate> = shards.iter().filter(|s| s.affected).collect();
    let outage_ms = affected.iter().map(|s| s.outage_ms).max().unwrap_or(0);
    let back_after_ms =
        if fate == Fate::Recovered { affected.iter().filter_map(|s| s.back_after_ms).max() } else { None };
    Cell {
        client: client.to_string(),
        fate,
        back_after_ms,
        outage_ms,
        how,
        stuck,
        shards,
        expected,
        disagrees: Vec::new(),
        as_expected: fate == expected,
    }
}

/// How a shard recovered, in a few words, for a cell.
pub fn how_short(how: &RecoveryHow) -> String {
    use RecoveryHow as H;
    match how {
        H::NeverFailed => "never failed".into(),
        H::RefreshedOnMoved { .. } => "refreshed on MOVED".into(),
        H::RefreshedAfterReconnectFailures { after_ms, .. } => {
            format!("refreshed after reconnect failures ({})", crate::probe::fmt_ms(*after_ms))
        }
        H::RefreshedOnFailure { class, .. } => format!("refreshed on {class}"),
        H::Refreshed { trigger, from_seed, .. } => {
            let trigger = trigger.strip_prefix("refresh ").unwrap_or(trigger);
            let trigger = trigger.strip_prefix("0s after ").map_or(trigger.to_string(), |t| format!("on {t}"));
            if *from_seed {
                format!("{trigger}, map read from a seed")
            } else {
                trigger
            }
        }
        H::RecoveredInPlace { .. } => "the same node answered again".into(),
        H::Rerouted { to, .. } => format!("re-routed to {to}"),
        H::StuckRetrying { endpoint, .. } => format!("retrying {endpoint}"),
        H::Failing { endpoint, class, .. } => format!("{class} from {endpoint}"),
    }
}

#[cfg(test)]
mod tests;
