//! The collector: receives every event of a run, puts each target's probe results back in scheduled order,
//! keeps the per-target trackers, strips and latencies, writes the events file, and builds the summary.
//! Memory stays bounded: nothing per probe is kept once it is counted.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{LatencyStats, LatencySummary, OutageTracker, TargetSummary, TimelineStrip, Transition};
use crate::clock::{Clock, Stamp};
use crate::events::{Event, EventLog, NoticeEvent, OutageEvent, OutageTransition, ProbeEvent};
use crate::topology::TopologyChange;

/// Most topology changes, notices and lab events kept for the summary; later ones are only counted
/// (`*_dropped`). The events file has them all.
const KEEP: usize = 5_000;

/// Live state of one target.
#[derive(Debug)]
pub struct TargetState {
    /// Group (compare) or empty.
    pub source: String,
    /// Target name.
    pub name: String,
    /// Outage windows and counts.
    pub tracker: OutageTracker,
    /// Timeline strip.
    pub strip: TimelineStrip,
    /// SET latency.
    pub set: LatencyStats,
    /// GET latency.
    pub get: LatencyStats,
    /// Node of the first and the latest probe.
    pub first_node: Option<String>,
    /// Node of the latest probe.
    pub last_node: Option<String>,
    /// SET+GET of the latest successful probe (ms).
    pub last_latency_ms: Option<f64>,
    /// Sequence numbers given up on: no result came while later ones waited longer than the gap (see
    /// [`Collector::set_gap`]).
    pub skipped: u64,
    pending: BTreeMap<u64, ProbeEvent>,
    next_seq: Option<u64>,
}

/// One topology change with when it was seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopologyRecord {
    /// When it was seen.
    pub stamp: Stamp,
    /// Group, for compare.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// The change.
    pub change: TopologyChange,
}

/// Per-target results in the summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetReport {
    /// Group, for compare.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Target name (shard slots or endpoint).
    pub name: String,
    /// Node the first probe was routed to.
    pub first_node: Option<String>,
    /// Node the last probe was routed to.
    pub last_node: Option<String>,
    /// Counts, outage windows, recovery.
    #[serde(flatten)]
    pub summary: TargetSummary,
    /// SET latency.
    pub set_latency: LatencySummary,
    /// GET latency.
    pub get_latency: LatencySummary,
    /// One character per time bucket: `.` ok, `~` degraded, `X` down, ` ` no probe.
    pub timeline: String,
}

/// Across all targets.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Overall {
    /// Probes.
    pub probes: u64,
    /// Failed probes.
    pub failures: u64,
    /// Periods during which at least one target was down.
    pub outages: u64,
    /// Longest such period (ms).
    pub longest_outage_ms: u64,
    /// Total time with at least one target down (ms).
    pub total_unavailable_ms: u64,
    /// First failure of any target (ms offset).
    pub first_failure_ms: Option<u64>,
    /// Whether every target was up at the end.
    pub recovered: bool,
}

/// Receives events and keeps what the summary needs.
pub struct Collector {
    clock: Clock,
    duration: Duration,
    width: usize,
    targets: Vec<TargetState>,
    index: HashMap<(String, String), usize>,
    log: Option<EventLog>,
    /// Client events by kind.
    pub client_events: BTreeMap<String, u64>,
    /// Topology changes seen (the first 5000; the rest are counted).
    pub topology: Vec<TopologyRecord>,
    /// Topology changes left out of `topology` because of the cap.
    pub topology_dropped: u64,
    /// Lab events seen (the first 5000; the rest are counted).
    pub lab: Vec<crate::events::LabStep>,
    /// Lab events left out of `lab` because of the cap.
    pub lab_dropped: u64,
    /// Notices seen (the first 5000; the rest are counted).
    pub notices: Vec<NoticeEvent>,
    /// Notices left out of `notices` because of the cap.
    pub notices_dropped: u64,
    /// The first error writing the events file, if any.
    pub log_error: Option<String>,
    gap: Option<Duration>,
}

impl Collector {
    /// A collector for a run of `duration`, strips `width` characters wide, writing to `log` if given.
    pub fn new(clock: Clock, duration: Duration, width: usize, log: Option<EventLog>) -> Self {
        Collector {
            clock,
            duration,
            width,
            targets: Vec::new(),
            index: HashMap::new(),
            log,
            client_events: BTreeMap::new(),
            topology: Vec::new(),
            topology_dropped: 0,
            lab: Vec::new(),
            lab_dropped: 0,
            notices: Vec::new(),
            notices_dropped: 0,
            log_error: None,
            gap: None,
        }
    }

    /// How long a missing result may hold back the later ones of its target: once a result scheduled more than
    /// `gap` after the oldest waiting one has arrived, the missing sequence numbers are given up on (a probe
    /// task that panicked, a target that left the plan for a while) instead of stalling that target until the
    /// end of the run. A result that still comes later is counted as it arrives. Without a gap, results wait
    /// until [`Collector::flush`].
    pub fn set_gap(&mut self, gap: Duration) {
        self.gap = Some(gap);
    }

    /// The run's clock: views stamp their lines with it.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The targets seen so far, in the order they appeared.
    pub fn targets(&self) -> &[TargetState] {
        &self.targets
    }

    /// Registers a target before its first result, so the live view can show it from the start.
    pub fn add_target(&mut self, source: &str, name: &str) -> usize {
        let key = (source.to_string(), name.to_string());
        if let Some(i) = self.index.get(&key) {
            return *i;
        }
        self.targets.push(TargetState {
            source: source.to_string(),
            name: name.to_string(),
            tracker: OutageTracker::new(),
            strip: TimelineStrip::new(self.duration, self.width),
            set: LatencyStats::new(),
            get: LatencyStats::new(),
            first_node: None,
            last_node: None,
            last_latency_ms: None,
            skipped: 0,
            pending: BTreeMap::new(),
            next_seq: None,
        });
        self.index.insert(key, self.targets.len() - 1);
        self.targets.len() - 1
    }

    fn log(&mut self, ev: &Event) {
        if let Some(log) = &mut self.log {
            if let Err(e) = log.write(ev) {
                if self.log_error.is_none() {
                    self.log_error = Some(e.to_string());
                }
            }
        }
    }

    /// Takes one event; returns what the view should show: the event itself and any outage transitions it
    /// caused (probe results in scheduled order).
    pub fn handle(&mut self, ev: Event) -> Vec<Event> {
        if matches!(ev, Event::Snapshot(_)) {
            return vec![ev];
        }
        self.log(&ev);
        let mut out = Vec::new();
        match ev {
            Event::Probe(p) => {
                let i = self.add_target(&p.source, &p.target);
                let t = &mut self.targets[i];
                let next = *t.next_seq.get_or_insert(p.seq);
                if p.seq < next {
                    // Older than what was already counted (a target re-added): count it as is.
                    out.extend(self.apply(i, p));
                } else {
                    t.pending.insert(p.seq, p);
                    out.extend(self.drain(i, false));
                }
            }
            Event::Client(c) => {
                *self.client_events.entry(c.kind.as_str().to_string()).or_insert(0) += 1;
                out.push(Event::Client(c));
            }
            Event::Topology(t) => {
                for change in &t.changes {
                    if self.topology.len() < KEEP {
                        self.topology.push(TopologyRecord {
                            stamp: t.stamp.clone(),
                            source: t.source.clone(),
                            change: change.clone(),
                        });
                    } else {
                        self.topology_dropped += 1;
                    }
                }
                out.push(Event::Topology(t));
            }
            Event::Lab(l) => {
                if self.lab.len() < KEEP {
                    self.lab.push(l.clone());
                } else {
                    self.lab_dropped += 1;
                }
                out.push(Event::Lab(l));
            }
            Event::Notice(n) => {
                if self.notices.len() < KEEP {
                    self.notices.push(n.clone());
                } else {
                    self.notices_dropped += 1;
                }
                out.push(Event::Notice(n));
            }
            Event::Outage(o) => out.push(Event::Outage(o)),
            Event::Snapshot(_) => {}
        }
        for derived in out.iter().filter(|e| matches!(e, Event::Outage(_))).cloned().collect::<Vec<_>>() {
            self.log(&derived);
        }
        out
    }

    /// Counts results whose turn has come; with `all`, every pending one (end of run).
    fn drain(&mut self, i: usize, all: bool) -> Vec<Event> {
        let mut out = Vec::new();
        loop {
            let t = &mut self.targets[i];
            let Some((&seq, _)) = t.pending.first_key_value() else {
                break;
            };
            if !all && Some(seq) != t.next_seq {
                let waited = t.pending.last_key_value().map_or(0, |(_, p)| p.stamp.offset_ms)
                    - t.pending.first_key_value().map_or(0, |(_, p)| p.stamp.offset_ms);
                match self.gap {
                    Some(gap) if Duration::from_millis(waited) > gap => {
                        t.skipped += seq - t.next_seq.unwrap_or(seq);
                    }
                    _ => break,
                }
            }
            let p = t.pending.remove(&seq).expect("present");
            t.next_seq = Some(seq + 1);
            out.extend(self.apply(i, p));
        }
        out
    }

    fn apply(&mut self, i: usize, p: ProbeEvent) -> Vec<Event> {
        let t = &mut self.targets[i];
        let scheduled = Duration::from_millis(p.stamp.offset_ms);
        // An outage ends when the shard served a write again: a success that waited in the client's queue
        // through a reconnect ends it at its completion, not at the moment it was scheduled.
        let offset = if p.outcome.is_ok() && t.tracker.is_down() {
            scheduled
                + Duration::from_secs_f64((p.late_ms + p.set_ms.unwrap_or(0.0) + p.get_ms.unwrap_or(0.0)) / 1000.0)
        } else {
            scheduled
        };
        if let Some(s) = p.set_ms {
            t.set.record(Duration::from_secs_f64(s / 1000.0));
        }
        if let Some(g) = p.get_ms {
            t.get.record(Duration::from_secs_f64(g / 1000.0));
        }
        if p.outcome.is_ok() {
            t.last_latency_ms = Some(p.set_ms.unwrap_or(0.0) + p.get_ms.unwrap_or(0.0));
        }
        if t.first_node.is_none() {
            t.first_node = p.node.clone();
        }
        if p.node.is_some() {
            t.last_node = p.node.clone();
        }
        t.strip.record(scheduled, p.outcome.is_ok());
        let transition = t.tracker.record(offset, &p.outcome);
        let mut out = vec![];
        if let Some(tr) = transition {
            let (transition, at, class, length_ms) = match tr {
                Transition::Started { at, class } => (OutageTransition::Started, at, Some(class), None),
                Transition::Ended { ended, length, .. } => {
                    (OutageTransition::Ended, ended, None, Some(length.as_millis() as u64))
                }
            };
            out.push(Event::Outage(OutageEvent {
                stamp: self.clock.stamp_at(self.clock.origin() + at),
                source: p.source.clone(),
                target: p.target.clone(),
                transition,
                class,
                length_ms,
            }));
        }
        out.push(Event::Probe(p));
        out
    }

    /// Counts every result still waiting for an earlier one (end of run: the earlier ones will not come).
    pub fn flush(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        for i in 0..self.targets.len() {
            out.extend(self.drain(i, true));
        }
        out
    }

    /// Per-target reports at offset `end`.
    pub fn target_reports(&self, end: Duration) -> Vec<TargetReport> {
        self.targets
            .iter()
            .map(|t| TargetReport {
                source: t.source.clone(),
                name: t.name.clone(),
                first_node: t.first_node.clone(),
                last_node: t.last_node.clone(),
                summary: t.tracker.summary(end),
                set_latency: t.set.summary(),
                get_latency: t.get.summary(),
                timeline: t.strip.render(),
            })
            .collect()
    }
}

/// Periods during which at least one of the targets was down, from their windows.
pub fn overall(reports: &[TargetReport]) -> Overall {
    let mut spans: Vec<(u64, u64)> =
        reports.iter().flat_map(|r| r.summary.windows.iter().map(|w| (w.start_ms, w.start_ms + w.length_ms))).collect();
    spans.sort();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    Overall {
        probes: reports.iter().map(|r| r.summary.probes).sum(),
        failures: reports.iter().map(|r| r.summary.failures).sum(),
        outages: merged.len() as u64,
        longest_outage_ms: merged.iter().map(|(s, e)| e - s).max().unwrap_or(0),
        total_unavailable_ms: merged.iter().map(|(s, e)| e - s).sum(),
        first_failure_ms: reports.iter().filter_map(|r| r.summary.first_failure_ms).min(),
        recovered: reports.iter().all(|r| r.summary.recovered),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{ErrorClass, Op, ProbeOutcome};

    fn probe(clock: &Clock, seq: u64, ok: bool) -> Event {
        Event::Probe(ProbeEvent {
            stamp: clock.stamp_at(clock.origin() + Duration::from_millis(seq * 100)),
            source: String::new(),
            target: "t".into(),
            seq,
            node: Some("n:1".into()),
            set_ms: ok.then_some(0.5),
            get_ms: ok.then_some(0.5),
            late_ms: 0.0,
            outcome: if ok {
                ProbeOutcome::Ok
            } else {
                ProbeOutcome::failed(ErrorClass::ConnectionRefused, Op::Set, "refused")
            },
        })
    }

    #[test]
    fn results_are_counted_in_scheduled_order() {
        let clock = Clock::start();
        let mut c = Collector::new(clock, Duration::from_secs(1), 10, None);
        c.handle(probe(&clock, 0, true));
        // seq 2 (ok) completes before the slow, failed seq 1: nothing is counted until seq 1 arrives.
        assert!(c.handle(probe(&clock, 2, true)).is_empty());
        let shown = c.handle(probe(&clock, 1, false));
        let kinds: Vec<&str> = shown
            .iter()
            .map(|e| match e {
                Event::Outage(o) => o.transition.as_str(),
                Event::Probe(_) => "probe",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, vec!["started", "probe", "ended", "probe"]);
        let r = &c.target_reports(Duration::from_secs(1))[0];
        assert_eq!(r.summary.outages, 1);
        // Ends when the success completed: scheduled at 200 ms, plus 1 ms of SET+GET.
        assert_eq!(r.summary.longest_outage_ms, 101);
        assert!(r.summary.recovered);
    }

    #[test]
    fn overall_merges_overlapping_windows() {
        let clock = Clock::start();
        let mut c = Collector::new(clock, Duration::from_secs(2), 10, None);
        for (seq, ok) in [(0, true), (1, false), (2, false), (3, true)] {
            c.handle(probe(&clock, seq, ok));
        }
        for (seq, ok) in [(0u64, true), (1, true), (2, false), (3, false), (4, false), (5, true)] {
            let mut e = probe(&clock, seq, ok);
            if let Event::Probe(p) = &mut e {
                p.target = "u".into();
            }
            c.handle(e);
        }
        let o = overall(&c.target_reports(Duration::from_secs(2)));
        // t: 100-301, u: 200-501 (successes end windows when they complete) -> one period 100-501.
        assert_eq!(o.outages, 1);
        assert_eq!(o.longest_outage_ms, 401);
        assert_eq!(o.first_failure_ms, Some(100));
        assert!(o.recovered);
    }

    #[test]
    fn a_result_that_never_comes_holds_back_the_others_only_for_the_gap() {
        let clock = Clock::start();
        let mut c = Collector::new(clock, Duration::from_secs(5), 10, None);
        c.set_gap(Duration::from_millis(250));
        c.handle(probe(&clock, 0, true));
        // seq 1 never arrives (its task panicked).
        c.handle(probe(&clock, 2, true));
        c.handle(probe(&clock, 3, true));
        c.handle(probe(&clock, 4, true));
        assert_eq!(c.targets()[0].tracker.probes(), 1, "within the gap, seq 1 is still awaited");
        // seq 5 was scheduled 300 ms after seq 2, the oldest waiting one: seq 1 is given up on.
        c.handle(probe(&clock, 5, true));
        assert_eq!(c.targets()[0].tracker.probes(), 5);
        assert_eq!(c.targets()[0].skipped, 1);
        // The straggler, should it come after all, is still counted.
        c.handle(probe(&clock, 1, true));
        assert_eq!(c.targets()[0].tracker.probes(), 6);
    }

    #[test]
    fn notices_past_the_cap_are_counted() {
        let clock = Clock::start();
        let mut c = Collector::new(clock, Duration::from_secs(1), 10, None);
        for i in 0..KEEP + 3 {
            c.handle(Event::Notice(NoticeEvent {
                stamp: clock.now(),
                kind: "warning".into(),
                detail: format!("notice {i}"),
                data: None,
            }));
        }
        assert_eq!(c.notices.len(), KEEP);
        assert_eq!(c.notices_dropped, 3);
        assert_eq!(c.topology_dropped, 0);
    }

    #[test]
    fn flush_counts_results_left_waiting() {
        let clock = Clock::start();
        let mut c = Collector::new(clock, Duration::from_secs(1), 10, None);
        c.handle(probe(&clock, 0, true));
        c.handle(probe(&clock, 2, false));
        assert_eq!(c.targets()[0].tracker.probes(), 1);
        c.flush();
        assert_eq!(c.targets()[0].tracker.probes(), 2);
        assert!(!c.target_reports(Duration::from_secs(1))[0].summary.recovered);
    }
}
