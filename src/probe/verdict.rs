//! Pass or fail for a whole run, with one human line per reason, from the
//! per-target summaries and the limits the user set.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::fmt::{duration_ms, fmt_ms};
use super::outage::TargetSummary;

/// Limits a run must stay within.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictPolicy {
    /// Longest acceptable outage of any one target (`--max-outage`); `None` means no limit.
    pub max_outage: Option<Duration>,
}

/// The outcome of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Every target recovered, within the limits, with no wrong values.
    Passed,
    /// At least one reason, one line each.
    Failed {
        /// What went wrong, one line per target and problem.
        reasons: Vec<String>,
    },
}

impl Verdict {
    /// Whether the run passed.
    pub fn is_passed(&self) -> bool {
        matches!(self, Verdict::Passed)
    }

    /// The reasons for failure (empty when passed).
    pub fn reasons(&self) -> &[String] {
        match self {
            Verdict::Passed => &[],
            Verdict::Failed { reasons } => reasons,
        }
    }
}

/// Judges a run from `(target name, summary)` pairs, in the given order.
///
/// A target fails when it is still down at the end, when its longest outage
/// (the ongoing one included) is strictly longer than `policy.max_outage`, or
/// when any read returned a wrong value.
pub fn judge(summaries: &[(String, TargetSummary)], policy: &VerdictPolicy) -> Verdict {
    let mut reasons = Vec::new();
    for (name, s) in summaries {
        let name = &label(name);
        if !s.recovered {
            let down = s.ongoing_outage_ms.unwrap_or(0);
            reasons.push(format!("{name} not recovered: down for {} at the end", fmt_ms(down)));
        }
        if let Some(max) = policy.max_outage {
            let max_ms = duration_ms(max);
            if s.longest_outage_ms > max_ms {
                // Count only the windows kept; dropped ones were counted but not kept.
                let over = s.windows.iter().filter(|w| w.length_ms > max_ms).count();
                let more = if over > 1 { format!(" ({over} outages over the limit)") } else { String::new() };
                reasons.push(format!(
                    "{name}: outage {} > --max-outage {}{more}",
                    fmt_ms(s.longest_outage_ms),
                    fmt_ms(max_ms)
                ));
            }
        }
        if s.wrong_values > 0 {
            let n = s.wrong_values;
            let what = if n == 1 { "wrong value" } else { "wrong values" };
            reasons.push(format!("{name}: {n} {what} read back (lost or stale write)"));
        }
    }
    if reasons.is_empty() {
        Verdict::Passed
    } else {
        Verdict::Failed { reasons }
    }
}

/// How a verdict names a target: "shard" only for a shard (`slots 0-5460`, `oss/slots 0-5460` in compare), the
/// endpoint or key name as it is otherwise.
fn label(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.starts_with("slots ") {
        format!("shard {name}")
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::outage::OutageTracker;
    use crate::probe::outcome::{ErrorClass, Op, ProbeOutcome};

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn fail() -> ProbeOutcome {
        ProbeOutcome::failed(ErrorClass::Timeout, Op::Set, "timeout")
    }

    /// A target down from `down_at` to `up_at` (or to the end when `None`).
    fn target(down_at: u64, up_at: Option<u64>, end: u64) -> TargetSummary {
        let mut t = OutageTracker::new();
        t.record(ms(0), &ProbeOutcome::Ok);
        t.record(ms(down_at), &fail());
        if let Some(up) = up_at {
            t.record(ms(up), &ProbeOutcome::Ok);
        }
        t.summary(ms(end))
    }

    fn healthy() -> TargetSummary {
        let mut t = OutageTracker::new();
        t.record(ms(0), &ProbeOutcome::Ok);
        t.summary(ms(1000))
    }

    #[test]
    fn passes_when_all_recovered_within_limit() {
        let runs = vec![("slots 0".to_owned(), healthy()), ("slots 5461".to_owned(), target(1000, Some(5000), 10_000))];
        let policy = VerdictPolicy { max_outage: Some(Duration::from_secs(5)) };
        let v = judge(&runs, &policy);
        assert_eq!(v, Verdict::Passed);
        assert!(v.is_passed());
        assert!(v.reasons().is_empty());
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"verdict":"passed"}"#);
    }

    #[test]
    fn exactly_at_the_limit_passes() {
        let runs = vec![("slots 0".to_owned(), target(1000, Some(6000), 10_000))];
        let policy = VerdictPolicy { max_outage: Some(Duration::from_secs(5)) };
        assert!(judge(&runs, &policy).is_passed());
    }

    #[test]
    fn not_recovered_at_the_end() {
        let runs = vec![("10.0.0.1:6379".to_owned(), target(7700, None, 20_000))];
        let v = judge(&runs, &VerdictPolicy::default());
        assert_eq!(v.reasons(), ["10.0.0.1:6379 not recovered: down for 12.3s at the end"]);
    }

    #[test]
    fn outage_longer_than_max() {
        let runs = vec![("slots 0".to_owned(), target(1000, Some(8200), 10_000)), ("slots 5461".to_owned(), healthy())];
        let policy = VerdictPolicy { max_outage: Some(Duration::from_secs(5)) };
        let v = judge(&runs, &policy);
        assert_eq!(v.reasons(), ["shard slots 0: outage 7.2s > --max-outage 5s"]);
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"verdict":"failed","reasons":["shard slots 0: outage 7.2s > --max-outage 5s"]}"#
        );
    }

    #[test]
    fn several_reasons_in_order() {
        let mut t = OutageTracker::new();
        t.record(ms(0), &fail());
        t.record(ms(6000), &ProbeOutcome::Ok);
        t.record(ms(7000), &fail());
        t.record(ms(13_500), &ProbeOutcome::Ok);
        t.record(ms(14_000), &ProbeOutcome::wrong_value("x", None));
        t.record(ms(15_000), &ProbeOutcome::wrong_value("y", Some("x")));
        let runs =
            vec![("slots 0".to_owned(), t.summary(ms(16_000))), ("slots 5461".to_owned(), target(1000, None, 1850))];
        let policy = VerdictPolicy { max_outage: Some(ms(1500)) };
        let v = judge(&runs, &policy);
        assert!(!v.is_passed());
        assert_eq!(
            v.reasons(),
            [
                "shard slots 0: outage 6.5s > --max-outage 1.5s (2 outages over the limit)",
                "shard slots 0: 2 wrong values read back (lost or stale write)",
                "shard slots 5461 not recovered: down for 850ms at the end",
            ]
        );
    }

    #[test]
    fn ongoing_outage_also_counts_against_the_limit() {
        let runs = vec![("key 2".to_owned(), target(0, None, 125_000))];
        let policy = VerdictPolicy { max_outage: Some(Duration::from_secs(30)) };
        assert_eq!(
            judge(&runs, &policy).reasons(),
            ["key 2 not recovered: down for 2m05s at the end", "key 2: outage 2m05s > --max-outage 30s",]
        );
    }
}
