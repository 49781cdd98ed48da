//! Pieces every human-facing writer (table, Markdown, SVG, HTML) shares, so that the same run reads the same
//! in each: target names, the summary row of a target, the overall line, offsets, the time per timeline
//! character, the verdict, the lab's ground truth and steps, and how an emulated client recovered.

use serde::Deserialize;

use super::{LabSummary, RunSummary, ShardComparison};
use crate::clock::Stamp;
use crate::probe::collect::TargetReport;
use crate::probe::styles::RecoveryHow;
use crate::probe::{fmt_ms, Verdict};

/// Column names of the per-target summary, in the order of [`summary_row`].
pub const SUMMARY_HEADER: [&str; 9] =
    ["target", "node", "probes", "failed", "outages", "longest", "total down", "recovered", "error classes"];

/// `source/name` for compare runs, the bare name otherwise.
pub fn target_label(r: &TargetReport) -> String {
    if r.source.is_empty() {
        r.name.clone()
    } else {
        format!("{}/{}", r.source, r.name)
    }
}

/// One target's cells under [`SUMMARY_HEADER`].
pub fn summary_row(r: &TargetReport) -> [String; 9] {
    let node = match (&r.first_node, &r.last_node) {
        (Some(a), Some(b)) if a != b => format!("{a} -> {b}"),
        (_, Some(b)) => b.clone(),
        _ => "-".into(),
    };
    let classes: Vec<String> = r.summary.failures_by_class.iter().map(|(c, n)| format!("{c} {n}")).collect();
    [
        target_label(r),
        node,
        r.summary.probes.to_string(),
        r.summary.failures.to_string(),
        r.summary.outages.to_string(),
        fmt_ms(r.summary.longest_outage_ms),
        fmt_ms(r.summary.total_outage_ms),
        if r.summary.recovered { "yes".into() } else { "NO".into() },
        if classes.is_empty() { "-".into() } else { classes.join(", ") },
    ]
}

/// Across all targets in one sentence: `Overall: 900 probes, 44 failed; 2 periods with at least one target down,
/// longest 4.3s, 4.4s in total; first failure at +8.2s.`
pub fn overall_line(s: &RunSummary) -> String {
    let o = &s.overall;
    let mut l = format!(
        "Overall: {} probes, {} failed; {} period{} with at least one target down, longest {}, {} in total",
        o.probes,
        o.failures,
        o.outages,
        if o.outages == 1 { "" } else { "s" },
        fmt_ms(o.longest_outage_ms),
        fmt_ms(o.total_unavailable_ms)
    );
    if let Some(first) = o.first_failure_ms {
        l.push_str(&format!("; first failure at {}", offset(first)));
    }
    l.push('.');
    l
}

/// How much of the planned run one character of a timeline strip stands for (ms).
pub fn ms_per_char(s: &RunSummary) -> u64 {
    let chars = s.targets.first().map(|r| r.timeline.chars().count().max(1) as u64).unwrap_or(1);
    s.planned_duration_ms / chars
}

/// An offset since the start of the run, as `+12.3s`.
pub fn offset(ms: u64) -> String {
    format!("+{:.1}s", ms as f64 / 1000.0)
}

/// The verdict in one line: `PASSED: every target recovered`, or `FAILED: <first reason>` with a count of the
/// others.
pub fn verdict_line(v: &Verdict) -> String {
    match v {
        Verdict::Passed => "PASSED: every target recovered".into(),
        Verdict::Failed { reasons } => match reasons.as_slice() {
            [] => "FAILED".into(),
            [one] => format!("FAILED: {one}"),
            [first, rest @ ..] => format!("FAILED: {first} (and {} more)", rest.len()),
        },
    }
}

/// The run's verdict in one line, as [`verdict_line`] words it, except that a compare run whose sources all
/// did what was expected of them passes as `PASSED: every target as expected`: some may have been expected
/// to fail, so "every target recovered" would not be true.
pub fn run_verdict_line(s: &RunSummary) -> String {
    match &s.verdict {
        Verdict::Passed if !s.per_source.is_empty() => "PASSED: every target as expected".into(),
        v => verdict_line(v),
    }
}

/// How a measurement compares with the truth: `50ms less than the truth`, `the same`. Exact milliseconds: rounded,
/// 4350 and 4300 would both read 4.3s or differ by a rounding step.
pub fn against_truth(truth_ms: u64, measured_ms: u64) -> String {
    match measured_ms.cmp(&truth_ms) {
        std::cmp::Ordering::Less => format!("{}ms less than the truth", truth_ms - measured_ms),
        std::cmp::Ordering::Greater => format!("{}ms more than the truth", measured_ms - truth_ms),
        std::cmp::Ordering::Equal => "the same".into(),
    }
}

/// The affected shard's ground truth next to what the probes measured on it: `writes stopped for 4350ms, probes
/// measured 4300ms (50ms less than the truth)`; `unknown, ...` when the lab recorded none.
pub fn ground_truth(lab: &LabSummary) -> String {
    let truth = lab.ground_truth_ms.map_or_else(|| "unknown".to_string(), |g| format!("writes stopped for {g}ms"));
    let measured = match (lab.ground_truth_ms, lab.measured_ms) {
        (Some(g), Some(m)) => format!("probes measured {m}ms ({})", against_truth(g, m)),
        (None, Some(m)) => format!("probes measured {m}ms"),
        (_, None) => "probes measured nothing".into(),
    };
    format!("{truth}, {measured}")
}

/// The lab's scenario and the affected shard's ground truth in one line (the table and the SVG key).
pub fn lab_line(lab: &LabSummary) -> String {
    let mut l = format!("lab: {} injected at {}", lab.scenario, offset(lab.injected_at_ms));
    if let Some(shard) = &lab.shard {
        l.push_str(&format!(" on {shard}"));
    }
    // Without ground truth the line says only what was done; the probes' figures are in the summary.
    if lab.ground_truth_ms.is_some() {
        l.push_str(&format!("; ground truth: {}", ground_truth(lab)));
    }
    if let Some(e) = &lab.error {
        l.push_str(&format!("; scenario FAILED: {e}"));
    }
    l
}

/// One shard's ground truth next to what the probes measured on it, in one line (table, Markdown, SVG key).
pub fn shard_line(c: &ShardComparison) -> String {
    let acted = if c.affected { " (acted on)" } else { "" };
    let truth = match c.ground_truth_ms {
        0 => "writes never stopped".to_string(),
        g => format!("writes stopped for {g}ms"),
    };
    let measured = match c.measured_ms {
        Some(m) => format!("probes measured {m}ms ({})", against_truth(c.ground_truth_ms, m)),
        None => "no probe target on this shard".into(),
    };
    format!("{}{acted}: {truth}, {measured}", c.shard)
}

/// The lab line, then one indented line per shard (the table and the SVG key).
pub fn lab_block(lab: &LabSummary) -> Vec<String> {
    std::iter::once(lab_line(lab)).chain(lab.shards.iter().map(|c| format!("  {}", shard_line(c)))).collect()
}

/// How an emulated client's shard recovered, in words.
pub fn recovery_text(how: &RecoveryHow) -> String {
    use RecoveryHow as H;
    match how {
        H::NeverFailed => "never failed".into(),
        H::RefreshedOnMoved { from, at_ms } => {
            format!("refreshed its slot map on MOVED from {from} at {}", offset(*at_ms))
        }
        H::RefreshedAfterReconnectFailures { endpoint, after_ms, at_ms } => {
            format!("refreshed its slot map after {endpoint} failed for {}, at {}", fmt_ms(*after_ms), offset(*at_ms))
        }
        H::RefreshedOnFailure { endpoint, class, at_ms } => {
            format!("refreshed its slot map after {class} from {endpoint}, at {}", offset(*at_ms))
        }
        H::Refreshed { trigger, endpoint, map_from, from_seed, at_ms } => {
            let behind = endpoint.as_ref().map(|e| format!(" ({e})")).unwrap_or_default();
            let seed = if *from_seed { ", falling back to the seed" } else { "" };
            format!("{trigger}{behind}: map read from {map_from}{seed}, at {}", offset(*at_ms))
        }
        H::RecoveredInPlace { endpoint, at_ms } => format!("{endpoint} answered again at {}", offset(*at_ms)),
        H::Rerouted { from, to, at_ms } => format!("re-routed from {from} to {to} at {}", offset(*at_ms)),
        H::StuckRetrying { endpoint, since_ms } => {
            format!("STUCK retrying the dead endpoint {endpoint} since {}", offset(*since_ms))
        }
        H::Failing { endpoint, class, since_ms } => {
            format!("still failing ({class}) on {endpoint} since {}", offset(*since_ms))
        }
    }
}

/// One step of a lab scenario, as the lab reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabStep {
    /// Offset since the start of the run, when the step carried a stamp.
    pub offset_ms: Option<u64>,
    /// What kind of step (`inject`, `promoted`, ...).
    pub kind: String,
    /// What it says.
    pub detail: String,
}

/// The steps in the lab's report (`report.events`, or `report.steps`), in time order; steps without a stamp
/// keep their place after the stamped ones. Entries that are not objects are skipped: the report is the lab's
/// free-form JSON, so nothing here may fail on it.
pub fn lab_steps(lab: &LabSummary) -> Vec<LabStep> {
    #[derive(Deserialize)]
    struct Raw {
        stamp: Option<Stamp>,
        #[serde(default)]
        kind: Option<String>,
        #[serde(default)]
        detail: Option<serde_json::Value>,
    }
    let list = ["events", "steps"].iter().find_map(|k| lab.report.get(k).and_then(|v| v.as_array()));
    let mut steps: Vec<LabStep> = list
        .into_iter()
        .flatten()
        .filter(|v| v.is_object())
        .filter_map(|v| serde_json::from_value::<Raw>(v.clone()).ok())
        .map(|r| LabStep {
            offset_ms: r.stamp.map(|s| s.offset_ms),
            kind: r.kind.unwrap_or_else(|| "step".into()),
            detail: match r.detail {
                Some(serde_json::Value::String(s)) => s,
                Some(serde_json::Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            },
        })
        .collect();
    // Stable: equal offsets keep the lab's order.
    steps.sort_by_key(|s| s.offset_ms.unwrap_or(u64::MAX));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lab(report: serde_json::Value) -> LabSummary {
        LabSummary {
            scenario: "kill-primary".into(),
            injected_at_ms: 1000,
            shard: None,
            write_stopped_ms: None,
            write_resumed_ms: None,
            ground_truth_ms: None,
            measured_ms: None,
            report,
            shards: vec![],
            error: None,
        }
    }

    #[test]
    fn lab_steps_are_sorted_and_tolerant() {
        let l = lab(json!({"events": [
            {"stamp": {"wall": "w", "offset_ms": 3000}, "kind": "promoted", "detail": "7003"},
            "not an object",
            {"kind": "note"},
            {"stamp": {"wall": "w", "offset_ms": 1000}, "kind": "inject", "detail": {"pid": 42}},
        ]}));
        let steps = lab_steps(&l);
        let kinds: Vec<&str> = steps.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(kinds, ["inject", "promoted", "note"]);
        assert_eq!(steps[0].detail, r#"{"pid":42}"#);
        assert_eq!(steps[2].offset_ms, None);
        assert!(lab_steps(&lab(json!(null))).is_empty());
        assert_eq!(lab_steps(&lab(json!({"steps": [{"kind": "x"}]}))).len(), 1);
    }

    #[test]
    fn one_wording_for_the_lab_and_each_shard() {
        let mut l = lab(json!(null));
        l.shard = Some("slots 0-5460".into());
        l.ground_truth_ms = Some(4350);
        l.measured_ms = Some(4300);
        assert_eq!(
            lab_line(&l),
            "lab: kill-primary injected at +1.0s on slots 0-5460; ground truth: writes stopped for 4350ms, probes \
             measured 4300ms (50ms less than the truth)"
        );
        l.measured_ms = None;
        l.error = Some("boom".into());
        assert!(lab_line(&l).ends_with("probes measured nothing; scenario FAILED: boom"), "{}", lab_line(&l));
        l.ground_truth_ms = None;
        l.measured_ms = Some(900);
        assert_eq!(ground_truth(&l), "unknown, probes measured 900ms");
        assert_eq!(lab_line(&l), "lab: kill-primary injected at +1.0s on slots 0-5460; scenario FAILED: boom");
        l.shards = vec![ShardComparison {
            shard: "slots 0-5460".into(),
            affected: true,
            ground_truth_ms: 0,
            measured_ms: None,
            difference_ms: None,
        }];
        assert_eq!(lab_block(&l), [lab_line(&l), format!("  {}", shard_line(&l.shards[0]))]);
        let c = ShardComparison {
            shard: "slots 5461-10922".into(),
            affected: false,
            ground_truth_ms: 1020,
            measured_ms: Some(1100),
            difference_ms: Some(80),
        };
        assert_eq!(
            shard_line(&c),
            "slots 5461-10922: writes stopped for 1020ms, probes measured 1100ms (80ms more than the truth)"
        );
        let quiet = ShardComparison { ground_truth_ms: 0, measured_ms: Some(0), affected: true, ..c.clone() };
        assert_eq!(
            shard_line(&quiet),
            "slots 5461-10922 (acted on): writes never stopped, probes measured 0ms (the same)"
        );
        let none = ShardComparison { measured_ms: None, ..c };
        assert!(shard_line(&none).ends_with("no probe target on this shard"));
    }

    #[test]
    fn verdict_lines() {
        assert_eq!(verdict_line(&Verdict::Passed), "PASSED: every target recovered");
        let v = Verdict::Failed { reasons: vec!["a".into(), "b".into(), "c".into()] };
        assert_eq!(verdict_line(&v), "FAILED: a (and 2 more)");
        let mut s = crate::report::testdata::sample();
        assert_eq!(run_verdict_line(&s), verdict_line(&s.verdict));
        s.verdict = Verdict::Passed;
        assert_eq!(run_verdict_line(&s), "PASSED: every target recovered");
        s.per_source = vec![crate::report::SourceVerdict {
            source: "emulated".into(),
            verdict: Verdict::Failed { reasons: vec!["x".into()] },
            expected: "fail".into(),
            as_expected: true,
        }];
        assert_eq!(run_verdict_line(&s), "PASSED: every target as expected");
    }

    #[test]
    fn the_overall_line() {
        let mut s = crate::report::testdata::sample();
        assert_eq!(
            overall_line(&s),
            "Overall: 900 probes, 44 failed; 2 periods with at least one target down, longest 4.3s, 4.4s in total; \
             first failure at +8.2s."
        );
        s.overall.outages = 1;
        s.overall.first_failure_ms = None;
        assert!(overall_line(&s).ends_with("; 1 period with at least one target down, longest 4.3s, 4.4s in total."));
    }

    #[test]
    fn recovery_in_words() {
        let ep = || crate::topology::Endpoint::new("127.0.0.1", 7001);
        assert_eq!(recovery_text(&RecoveryHow::NeverFailed), "never failed");
        assert_eq!(
            recovery_text(&RecoveryHow::RefreshedOnMoved { from: ep(), at_ms: 12_100 }),
            "refreshed its slot map on MOVED from 127.0.0.1:7001 at +12.1s"
        );
        assert_eq!(
            recovery_text(&RecoveryHow::StuckRetrying { endpoint: ep(), since_ms: 8_000 }),
            "STUCK retrying the dead endpoint 127.0.0.1:7001 since +8.0s"
        );
    }
}
