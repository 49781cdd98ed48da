//! Incidents of a long `watch` run, as pure logic: when one opens (the first sign of trouble), when it closes (a
//! quiet time after every target is back), the minute of baseline kept before it ([`ring`]), the run's
//! rolled-up totals and daily line ([`rollup`]) and the size-capped events file ([`rotate`]). The command
//! (`commands::watch`) feeds events in and acts on the steps that come out.

pub mod ring;
pub mod rollup;
pub mod rotate;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::events::Event;

/// When incidents close.
#[derive(Debug, Clone, Copy)]
pub struct TrackerConfig {
    /// How long every target must be back, and nothing else amiss, before an open incident closes.
    pub quiet: Duration,
    /// The longest one incident records; a longer trouble is cut there and goes on as the next incident
    /// (memory stays bounded however long a cache stays broken).
    pub max_len: Duration,
}

/// Why an incident opened: the first sign of trouble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A probe failed: the target and the error class.
    FailedProbe(String),
    /// The topology changed: what changed first.
    Topology(String),
    /// A maintenance notice or a diagnosis.
    Notice(String),
    /// The target could not be reached at all (at start, or every node it knew).
    Unreachable(String),
    /// The trouble of the incident cut at its longest goes on.
    Continued,
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trigger::FailedProbe(what) => write!(f, "failed probe: {what}"),
            Trigger::Topology(what) => write!(f, "topology change: {what}"),
            Trigger::Notice(what) => write!(f, "notice: {what}"),
            Trigger::Unreachable(what) => write!(f, "unreachable: {what}"),
            Trigger::Continued => write!(f, "the previous incident reached its longest and the trouble goes on"),
        }
    }
}

/// How an incident ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every target back and quiet for the quiet time.
    Quiet,
    /// Cut at its longest while trouble went on.
    Cut,
}

/// What the tracker tells the command to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Open an incident (probe fast, record everything), starting at this offset.
    Open {
        /// Run offset (ms) of the first sign.
        at_ms: u64,
        /// The first sign.
        trigger: Trigger,
    },
    /// Close the open incident at this offset.
    Close {
        /// Run offset (ms).
        at_ms: u64,
        /// Why it closed.
        ending: Ending,
    },
}

/// The open incident's state.
#[derive(Debug, Clone)]
struct Open {
    started_ms: u64,
    /// The last sign of trouble: a failed probe, a change, a notice.
    last_trouble_ms: u64,
}

/// Decides when incidents open and close from the events of the run.
#[derive(Debug, Clone)]
pub struct Tracker {
    cfg: TrackerConfig,
    down: BTreeMap<String, bool>,
    open: Option<Open>,
}

impl Tracker {
    /// A tracker with no incident open.
    pub fn new(cfg: TrackerConfig) -> Self {
        Tracker { cfg, down: BTreeMap::new(), open: None }
    }

    /// Whether an incident is open.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// The open incident's start (run offset, ms).
    pub fn open_since(&self) -> Option<u64> {
        self.open.as_ref().map(|o| o.started_ms)
    }

    /// The targets down now, by name.
    pub fn down(&self) -> impl Iterator<Item = &str> {
        self.down.iter().filter(|(_, d)| **d).map(|(t, _)| t.as_str())
    }

    /// Opens an incident now unless one is open (the target unreachable at start, say).
    pub fn open_now(&mut self, at_ms: u64, trigger: Trigger) -> Option<Step> {
        self.trouble(at_ms, trigger)
    }

    /// Restarts the open incident's quiet time from `at_ms` (the target answered again after being
    /// unreachable: it closes a quiet time after that, with the probes of that time in its record).
    pub fn hold(&mut self, at_ms: u64) {
        if let Some(o) = &mut self.open {
            o.last_trouble_ms = o.last_trouble_ms.max(at_ms);
        }
    }

    /// Takes one event; `Some(Step::Open)` when it is the first sign of trouble.
    pub fn observe(&mut self, ev: &Event) -> Option<Step> {
        let at_ms = ev.stamp()?.offset_ms;
        let trigger = match ev {
            Event::Probe(p) => {
                let key = target_key(&p.source, &p.target);
                match p.outcome.class() {
                    None => {
                        self.down.insert(key, false);
                        return None;
                    }
                    Some(class) => {
                        self.down.insert(key.clone(), true);
                        Trigger::FailedProbe(format!("{key} {class}"))
                    }
                }
            }
            Event::Topology(t) => {
                let first = t.changes.first().map(|c| c.to_string()).unwrap_or_default();
                Trigger::Topology(first)
            }
            // A warning is the tool's own (a listener that could not subscribe), not the cache's trouble.
            Event::Notice(n) if n.kind != "warning" => Trigger::Notice(format!("{}: {}", n.kind, n.detail)),
            _ => return None,
        };
        self.trouble(at_ms, trigger)
    }

    fn trouble(&mut self, at_ms: u64, trigger: Trigger) -> Option<Step> {
        match &mut self.open {
            Some(o) => {
                o.last_trouble_ms = o.last_trouble_ms.max(at_ms);
                None
            }
            None => {
                self.open = Some(Open { started_ms: at_ms, last_trouble_ms: at_ms });
                Some(Step::Open { at_ms, trigger })
            }
        }
    }

    /// Called regularly with the run's offset: closes the open incident once every target is back and nothing
    /// was amiss for the quiet time, or cuts it at its longest (then a new one opens at once if targets are
    /// still down, [`Trigger::Continued`]).
    pub fn tick(&mut self, now_ms: u64) -> Vec<Step> {
        let Some(o) = &self.open else { return Vec::new() };
        let any_down = self.down.values().any(|d| *d);
        let quiet_ms = duration_ms(self.cfg.quiet);
        if !any_down && now_ms >= o.last_trouble_ms.saturating_add(quiet_ms) {
            self.open = None;
            return vec![Step::Close { at_ms: now_ms, ending: Ending::Quiet }];
        }
        if now_ms >= o.started_ms.saturating_add(duration_ms(self.cfg.max_len)) {
            self.open = None;
            let mut steps = vec![Step::Close { at_ms: now_ms, ending: Ending::Cut }];
            if any_down {
                steps.extend(self.trouble(now_ms, Trigger::Continued));
            }
            return steps;
        }
        Vec::new()
    }
}

/// `source/target`, or the target alone when there is one source.
pub fn target_key(source: &str, target: &str) -> String {
    if source.is_empty() {
        target.to_string()
    } else {
        format!("{source}/{target}")
    }
}

/// Milliseconds of a duration, saturating.
pub fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
