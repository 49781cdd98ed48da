//! Outage windows of one target, built from probe results in constant memory.
//!
//! An outage window runs from the offset of the first failed probe to the
//! offset of the first successful probe after it; its length is the
//! difference. The tracker takes whatever offset its caller gives with each
//! result. The collector ([`super::collect`]) gives the *scheduled* time of
//! a failure, so a probe that hangs for a 1 s timeout still marks the moment
//! it was sent, and the *completion* time of a success that ends a window
//! (scheduled time + lateness + SET + GET), so a success that waited in the
//! client's queue through a reconnect ends the outage when the shard served
//! it, not when it was queued.
//!
//! Ordering: probes overlap, so results can arrive out of order. A result
//! whose offset is earlier than the latest offset already seen is *late*: it
//! is counted in the totals (probes, ok, failures, failures by class, wrong
//! values, and `late_results`), and a late failure whose offset falls inside
//! the currently open window is added to that window's failure count, but a
//! late result never opens or closes a window and never moves
//! `first_failure_ms`. A result with the *same* offset as the latest is not
//! late. Callers that want every result to shape the windows should hand
//! results over in scheduled order.
//!
//! Wrong values ([`ErrorClass::WrongValue`]) are counted as failures and in
//! `wrong_values`, but they neither open nor close a window: the shard
//! answered, so it was available, and the data loss is judged separately.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::fmt::duration_ms;
use super::outcome::{ErrorClass, ProbeOutcome};

/// Completed windows kept for the summary; later ones are only counted.
pub const MAX_WINDOWS: usize = 1000;

/// A change of a target's state caused by one result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "transition", rename_all = "snake_case")]
pub enum Transition {
    /// The target went down at offset `at`, failing with `class`.
    Started {
        /// Scheduled offset of the first failed probe.
        at: Duration,
        /// Class of that failure.
        class: ErrorClass,
    },
    /// The target came back.
    Ended {
        /// Offset of the first failed probe of the window.
        started: Duration,
        /// Offset given with the successful probe that ended it (its completion time, from the collector).
        ended: Duration,
        /// `ended - started`.
        length: Duration,
        /// Failed probes counted in the window.
        failures: u64,
    },
}

/// One outage window in the summary, in milliseconds since the run started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutageWindow {
    /// Offset of the first failed probe.
    pub start_ms: u64,
    /// When the success that ended it completed; `None` if still down at the end.
    pub end_ms: Option<u64>,
    /// Length; for an ongoing window, up to the end of the run.
    pub length_ms: u64,
    /// Failed probes counted in the window.
    pub failures: u64,
    /// Class of the failure that opened the window.
    pub first_class: ErrorClass,
}

/// Everything the report needs about one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSummary {
    /// Results recorded.
    pub probes: u64,
    /// Successful results.
    pub ok: u64,
    /// Failed results (wrong values included).
    pub failures: u64,
    /// Outage windows, the ongoing one included.
    pub outages: u64,
    /// Longest window, the ongoing one counted up to the end of the run.
    pub longest_outage_ms: u64,
    /// Sum of all windows, the ongoing one counted up to the end of the run.
    pub total_outage_ms: u64,
    /// Start of the first outage window.
    pub first_failure_ms: Option<u64>,
    /// Offset of the success that ended the last window; `None` while down.
    pub recovered_ms: Option<u64>,
    /// `recovered_ms - first_failure_ms`, when both are known.
    pub first_failure_to_recovery_ms: Option<u64>,
    /// False when the run ended inside an outage. True if it never failed.
    pub recovered: bool,
    /// Length of the window still open at the end of the run.
    pub ongoing_outage_ms: Option<u64>,
    /// Failed results per class.
    pub failures_by_class: BTreeMap<ErrorClass, u64>,
    /// The first [`MAX_WINDOWS`] completed windows, then the ongoing one.
    pub windows: Vec<OutageWindow>,
    /// Completed windows left out of `windows` because of the cap.
    pub windows_dropped: u64,
    /// Reads that returned a value other than the one written.
    pub wrong_values: u64,
    /// Results that arrived after a later-scheduled one (see module docs).
    pub late_results: u64,
}

/// The window currently open.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Open {
    start: Duration,
    class: ErrorClass,
    failures: u64,
}

/// Turns one target's probe results into outage windows and counters.
#[derive(Debug, Clone, Default)]
pub struct OutageTracker {
    probes: u64,
    ok: u64,
    failures: u64,
    wrong_values: u64,
    late: u64,
    failures_by_class: BTreeMap<ErrorClass, u64>,
    latest: Option<Duration>,
    open: Option<Open>,
    completed: u64,
    longest: Duration,
    total: Duration,
    first_failure: Option<Duration>,
    last_recovery: Option<Duration>,
    windows: Vec<OutageWindow>,
    windows_dropped: u64,
}

impl OutageTracker {
    /// A tracker for a target that has not been probed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the result of the probe scheduled at `offset`; returns the
    /// transition it caused, if any.
    pub fn record(&mut self, offset: Duration, outcome: &ProbeOutcome) -> Option<Transition> {
        self.probes += 1;
        let class = outcome.class();
        match class {
            None => self.ok += 1,
            Some(class) => {
                self.failures += 1;
                *self.failures_by_class.entry(class).or_insert(0) += 1;
                if class == ErrorClass::WrongValue {
                    self.wrong_values += 1;
                }
            }
        }

        let late = self.latest.is_some_and(|latest| offset < latest);
        if late {
            self.late += 1;
            if let (Some(class), Some(open)) = (class, self.open.as_mut()) {
                if class != ErrorClass::WrongValue && offset >= open.start {
                    open.failures += 1;
                }
            }
            return None;
        }
        self.latest = Some(offset);

        match (class, self.open.as_mut()) {
            (Some(ErrorClass::WrongValue), _) => None,
            (Some(_), Some(open)) => {
                open.failures += 1;
                None
            }
            (Some(class), None) => {
                self.open = Some(Open { start: offset, class, failures: 1 });
                self.first_failure.get_or_insert(offset);
                Some(Transition::Started { at: offset, class })
            }
            (None, Some(_)) => {
                let open = self.open.take().expect("matched Some");
                Some(self.close(open, offset))
            }
            (None, None) => None,
        }
    }

    fn close(&mut self, open: Open, ended: Duration) -> Transition {
        let length = ended.saturating_sub(open.start);
        self.completed += 1;
        self.longest = self.longest.max(length);
        self.total += length;
        self.last_recovery = Some(ended);
        if self.windows.len() < MAX_WINDOWS {
            self.windows.push(OutageWindow {
                start_ms: duration_ms(open.start),
                end_ms: Some(duration_ms(ended)),
                length_ms: duration_ms(length),
                failures: open.failures,
                first_class: open.class,
            });
        } else {
            self.windows_dropped += 1;
        }
        Transition::Ended { started: open.start, ended, length, failures: open.failures }
    }

    /// Whether the target is inside an outage window now.
    pub fn is_down(&self) -> bool {
        self.open.is_some()
    }

    /// Start of the open window, if the target is down.
    pub fn down_since(&self) -> Option<Duration> {
        self.open.as_ref().map(|o| o.start)
    }

    /// Results recorded so far.
    pub fn probes(&self) -> u64 {
        self.probes
    }

    /// Failed results recorded so far.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// The summary for a run that ended at offset `end`; an open window is
    /// counted up to `end`.
    pub fn summary(&self, end: Duration) -> TargetSummary {
        let mut windows = self.windows.clone();
        let mut longest = self.longest;
        let mut total = self.total;
        let mut outages = self.completed;
        let mut ongoing = None;
        if let Some(open) = &self.open {
            let length = end.saturating_sub(open.start);
            longest = longest.max(length);
            total += length;
            outages += 1;
            ongoing = Some(duration_ms(length));
            windows.push(OutageWindow {
                start_ms: duration_ms(open.start),
                end_ms: None,
                length_ms: duration_ms(length),
                failures: open.failures,
                first_class: open.class,
            });
        }
        let recovered = self.open.is_none();
        let recovered_at = self.last_recovery.filter(|_| recovered);
        let first_failure_to_recovery_ms = match (self.first_failure, recovered_at) {
            (Some(first), Some(rec)) => Some(duration_ms(rec.saturating_sub(first))),
            _ => None,
        };
        TargetSummary {
            probes: self.probes,
            ok: self.ok,
            failures: self.failures,
            outages,
            longest_outage_ms: duration_ms(longest),
            total_outage_ms: duration_ms(total),
            first_failure_ms: self.first_failure.map(duration_ms),
            recovered_ms: recovered_at.map(duration_ms),
            first_failure_to_recovery_ms,
            recovered,
            ongoing_outage_ms: ongoing,
            failures_by_class: self.failures_by_class.clone(),
            windows,
            windows_dropped: self.windows_dropped,
            wrong_values: self.wrong_values,
            late_results: self.late,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::outcome::Op;

    /// Seconds, exact to the millisecond (no float drift in lengths).
    fn s(v: f64) -> Duration {
        Duration::from_millis((v * 1000.0).round() as u64)
    }

    fn fail(class: ErrorClass) -> ProbeOutcome {
        ProbeOutcome::failed(class, Op::Set, class.as_str())
    }

    #[test]
    fn never_failed_is_recovered() {
        let mut t = OutageTracker::new();
        for i in 0..10 {
            assert_eq!(t.record(s(i as f64), &ProbeOutcome::Ok), None);
        }
        let sum = t.summary(s(10.0));
        assert_eq!(sum.probes, 10);
        assert_eq!(sum.ok, 10);
        assert_eq!(sum.failures, 0);
        assert_eq!(sum.outages, 0);
        assert!(sum.recovered);
        assert_eq!(sum.first_failure_ms, None);
        assert_eq!(sum.recovered_ms, None);
        assert_eq!(sum.ongoing_outage_ms, None);
        assert!(sum.windows.is_empty());
    }

    #[test]
    fn one_outage_of_two_seconds() {
        let mut t = OutageTracker::new();
        assert_eq!(t.record(s(1.0), &ProbeOutcome::Ok), None);
        assert_eq!(t.record(s(2.0), &ProbeOutcome::Ok), None);
        assert_eq!(
            t.record(s(3.0), &fail(ErrorClass::ConnectionRefused)),
            Some(Transition::Started { at: s(3.0), class: ErrorClass::ConnectionRefused })
        );
        assert!(t.is_down());
        assert_eq!(t.down_since(), Some(s(3.0)));
        assert_eq!(t.record(s(4.0), &fail(ErrorClass::ClusterDown)), None);
        assert_eq!(
            t.record(s(5.0), &ProbeOutcome::Ok),
            Some(Transition::Ended { started: s(3.0), ended: s(5.0), length: s(2.0), failures: 2 })
        );
        assert!(!t.is_down());
        let sum = t.summary(s(6.0));
        assert_eq!(sum.probes, 5);
        assert_eq!(sum.ok, 3);
        assert_eq!(sum.failures, 2);
        assert_eq!(sum.outages, 1);
        assert_eq!(sum.longest_outage_ms, 2000);
        assert_eq!(sum.total_outage_ms, 2000);
        assert_eq!(sum.first_failure_ms, Some(3000));
        assert_eq!(sum.recovered_ms, Some(5000));
        assert_eq!(sum.first_failure_to_recovery_ms, Some(2000));
        assert!(sum.recovered);
        assert_eq!(sum.ongoing_outage_ms, None);
        assert_eq!(
            sum.failures_by_class,
            BTreeMap::from([(ErrorClass::ConnectionRefused, 1), (ErrorClass::ClusterDown, 1)])
        );
        assert_eq!(
            sum.windows,
            vec![OutageWindow {
                start_ms: 3000,
                end_ms: Some(5000),
                length_ms: 2000,
                failures: 2,
                first_class: ErrorClass::ConnectionRefused,
            }]
        );
    }

    #[test]
    fn two_outages_longest_and_total() {
        let mut t = OutageTracker::new();
        let seq = [
            (0.0, true),
            (1.0, false),
            (1.5, true), // 500 ms
            (2.0, true),
            (3.0, false),
            (4.0, false),
            (6.2, true), // 3.2 s
            (7.0, true),
        ];
        for (at, ok) in seq {
            let o = if ok { ProbeOutcome::Ok } else { fail(ErrorClass::Timeout) };
            t.record(s(at), &o);
        }
        let sum = t.summary(s(8.0));
        assert_eq!(sum.outages, 2);
        assert_eq!(sum.longest_outage_ms, 3200);
        assert_eq!(sum.total_outage_ms, 3700);
        assert_eq!(sum.first_failure_ms, Some(1000));
        assert_eq!(sum.recovered_ms, Some(6200));
        assert_eq!(sum.first_failure_to_recovery_ms, Some(5200));
        assert_eq!(sum.windows.len(), 2);
        assert_eq!(sum.windows[1].failures, 2);
        assert_eq!(sum.failures_by_class[&ErrorClass::Timeout], 3);
    }

    #[test]
    fn ongoing_outage_at_the_end_is_not_recovered() {
        let mut t = OutageTracker::new();
        t.record(s(0.0), &ProbeOutcome::Ok);
        t.record(s(1.0), &fail(ErrorClass::Timeout));
        t.record(s(1.5), &ProbeOutcome::Ok); // 500 ms, recovered
        t.record(s(10.0), &fail(ErrorClass::ConnectionRefused));
        t.record(s(20.0), &fail(ErrorClass::ConnectionRefused));
        let sum = t.summary(s(22.3));
        assert!(!sum.recovered);
        assert_eq!(sum.outages, 2);
        assert_eq!(sum.ongoing_outage_ms, Some(12_300));
        assert_eq!(sum.longest_outage_ms, 12_300);
        assert_eq!(sum.total_outage_ms, 12_800);
        assert_eq!(sum.first_failure_ms, Some(1000));
        // The last outage never ended, so there is no recovery to report.
        assert_eq!(sum.recovered_ms, None);
        assert_eq!(sum.first_failure_to_recovery_ms, None);
        assert_eq!(
            sum.windows.last(),
            Some(&OutageWindow {
                start_ms: 10_000,
                end_ms: None,
                length_ms: 12_300,
                failures: 2,
                first_class: ErrorClass::ConnectionRefused,
            })
        );
        // Summaries do not change the tracker: a later end gives a longer outage.
        assert_eq!(t.summary(s(30.0)).ongoing_outage_ms, Some(20_000));
    }

    #[test]
    fn out_of_order_results_are_counted_but_do_not_transition() {
        let mut t = OutageTracker::new();
        t.record(s(0.00), &ProbeOutcome::Ok);
        // Probe at 1.00 hangs; 1.01 fails fast and opens the window.
        assert!(matches!(t.record(s(1.01), &fail(ErrorClass::ConnectionRefused)), Some(Transition::Started { .. })));
        // 1.02 succeeds and closes it.
        assert!(matches!(t.record(s(1.02), &ProbeOutcome::Ok), Some(Transition::Ended { .. })));
        // The hung 1.00 probe times out now: late, so no new window.
        assert_eq!(t.record(s(1.00), &fail(ErrorClass::Timeout)), None);
        // A late success must not close the window opened at 2.0 either.
        assert!(t.record(s(2.0), &fail(ErrorClass::ReadOnly)).is_some());
        assert_eq!(t.record(s(1.5), &ProbeOutcome::Ok), None);
        assert!(t.is_down());
        // A late failure inside the open window counts into it.
        t.record(s(2.5), &fail(ErrorClass::ReadOnly));
        t.record(s(2.2), &fail(ErrorClass::ReadOnly));
        // Same offset as the latest is in order: it closes the window.
        assert!(matches!(t.record(s(2.5), &ProbeOutcome::Ok), Some(Transition::Ended { failures: 3, .. })));

        let sum = t.summary(s(3.0));
        assert_eq!(sum.probes, 9);
        assert_eq!(sum.ok, 4);
        assert_eq!(sum.failures, 5);
        assert_eq!(sum.late_results, 3);
        assert_eq!(sum.outages, 2);
        assert_eq!(sum.first_failure_ms, Some(1010));
        assert_eq!(sum.windows[0].length_ms, 10);
        assert_eq!(sum.windows[1].length_ms, 500);
        assert_eq!(sum.failures_by_class[&ErrorClass::Timeout], 1);
        assert_eq!(sum.failures_by_class[&ErrorClass::ReadOnly], 3);
        assert!(sum.recovered);
        assert_eq!(sum.recovered_ms, Some(2500));
    }

    #[test]
    fn wrong_values_are_failures_but_not_outages() {
        let mut t = OutageTracker::new();
        t.record(s(0.0), &ProbeOutcome::Ok);
        assert_eq!(t.record(s(1.0), &ProbeOutcome::wrong_value("a", None)), None);
        assert!(!t.is_down());
        t.record(s(2.0), &fail(ErrorClass::Timeout));
        // Nor does a wrong value close an open window.
        assert_eq!(t.record(s(3.0), &ProbeOutcome::wrong_value("b", Some("a"))), None);
        assert!(t.is_down());
        t.record(s(4.0), &ProbeOutcome::Ok);
        let sum = t.summary(s(5.0));
        assert_eq!(sum.wrong_values, 2);
        assert_eq!(sum.failures, 3);
        assert_eq!(sum.outages, 1);
        assert_eq!(sum.longest_outage_ms, 2000);
        assert_eq!(sum.windows[0].failures, 1);
        assert_eq!(sum.failures_by_class[&ErrorClass::WrongValue], 2);
    }

    #[test]
    fn windows_are_capped_but_counted() {
        let mut t = OutageTracker::new();
        let n = MAX_WINDOWS as u64 + 5;
        for i in 0..n {
            t.record(Duration::from_millis(i * 20), &fail(ErrorClass::Timeout));
            t.record(Duration::from_millis(i * 20 + 10), &ProbeOutcome::Ok);
        }
        t.record(Duration::from_millis(n * 20), &fail(ErrorClass::Timeout));
        let sum = t.summary(Duration::from_millis(n * 20 + 7));
        assert_eq!(sum.outages, n + 1);
        assert_eq!(sum.windows_dropped, 5);
        assert_eq!(sum.windows.len(), MAX_WINDOWS + 1);
        assert_eq!(sum.windows.last().unwrap().end_ms, None);
        assert_eq!(sum.total_outage_ms, n * 10 + 7);
        assert_eq!(sum.longest_outage_ms, 10);
    }

    #[test]
    fn constant_memory_over_a_long_run() {
        // 300 s at 10 ms, flapping every probe: only the capped windows grow.
        let mut t = OutageTracker::new();
        for i in 0..30_000u64 {
            let o = if i % 2 == 0 { fail(ErrorClass::Moved) } else { ProbeOutcome::Ok };
            t.record(Duration::from_millis(i * 10), &o);
        }
        assert!(t.windows.len() <= MAX_WINDOWS);
        assert_eq!(t.summary(Duration::from_secs(300)).outages, 15_000);
    }

    #[test]
    fn summary_json_contract() {
        let mut t = OutageTracker::new();
        t.record(s(1.0), &fail(ErrorClass::ConnectionClosed));
        let json = serde_json::to_value(t.summary(s(2.0))).unwrap();
        assert_eq!(json["recovered"], false);
        assert_eq!(json["ongoing_outage_ms"], 1000);
        assert_eq!(json["failures_by_class"]["connection_closed"], 1);
        assert_eq!(json["windows"][0]["end_ms"], serde_json::Value::Null);
        assert_eq!(json["windows"][0]["first_class"], "connection_closed");
        let back: TargetSummary = serde_json::from_value(json).unwrap();
        assert_eq!(back, t.summary(s(2.0)));
    }
}
