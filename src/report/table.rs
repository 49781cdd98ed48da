//! The summary as tables and timeline strips, for people.

use super::parts::{
    lab_block, ms_per_char, offset, recovery_text, run_verdict_line, summary_row, target_label, verdict_line,
    SUMMARY_HEADER,
};
use super::RunSummary;
use crate::output;
use crate::probe::{fmt_ms, Verdict};

/// Renders a run summary: per-target table, timeline strips, topology changes, lab truth, verdict.
pub fn render_table(s: &RunSummary) -> String {
    let mut out = String::new();
    let mut t = output::table(&SUMMARY_HEADER);
    for r in &s.targets {
        t.add_row(summary_row(r));
    }
    out.push_str(&t.to_string());
    out.push_str(&format!("\n\ntimeline ({} per character; . ok  ~ degraded  X down):\n", fmt_ms(ms_per_char(s))));
    let width = s.targets.iter().map(|r| r.name.len() + r.source.len() + 1).max().unwrap_or(0);
    for r in &s.targets {
        out.push_str(&format!("  {:<width$} |{}|\n", target_label(r), r.timeline));
    }
    if !s.topology_changes.is_empty() {
        out.push_str("\ntopology changes:\n");
        for c in s.topology_changes.iter().take(40) {
            out.push_str(&format!("  {} {}\n", offset(c.stamp.offset_ms), c.change));
        }
        if s.topology_changes.len() > 40 {
            out.push_str(&format!("  ... and {} more (see --events / --output json)\n", s.topology_changes.len() - 40));
        }
    }
    if !s.client_events.is_empty() {
        let parts: Vec<String> = s.client_events.iter().map(|(k, n)| format!("{k} {n}")).collect();
        out.push_str(&format!("\nclient events: {}\n", parts.join(", ")));
    }
    for n in &s.notices {
        out.push_str(&format!("{}: {}\n", n.kind, n.detail));
    }
    for lab in s.lab.iter().chain(&s.extra_labs) {
        out.push('\n');
        for line in lab_block(lab) {
            out.push_str(&format!("{line}\n"));
        }
    }
    for r in &s.recovery {
        out.push_str(&format!(
            "\nhow {} recovered, per shard:\n",
            if r.source.is_empty() { "the client" } else { &r.source }
        ));
        for shard in &r.shards {
            out.push_str(&format!("  {:<14} {}\n", shard.label, recovery_text(&shard.how)));
        }
    }
    if !s.per_source.is_empty() {
        out.push_str("\nper target:\n");
        for v in &s.per_source {
            out.push_str(&format!(
                "  {:<20} {:<60} expected to {}{}\n",
                v.source,
                verdict_line(&v.verdict),
                v.expected,
                if v.as_expected { "" } else { "  <- NOT AS EXPECTED" }
            ));
        }
    }
    if s.interrupted {
        out.push_str(&format!("\nINTERRUPTED after {}: partial results\n", fmt_ms(s.elapsed_ms)));
    }
    match &s.verdict {
        Verdict::Passed => out.push_str(&format!("\nverdict: {}\n", run_verdict_line(s))),
        Verdict::Failed { reasons } => {
            out.push_str("\nverdict: FAILED\n");
            for r in reasons {
                out.push_str(&format!("  - {r}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata::sample;

    #[test]
    fn the_lab_line_then_one_line_per_shard() {
        let out = render_table(&sample());
        let at = out
            .find("lab: kill-primary injected at +8.0s on slots 5461-10922; ground truth: writes stopped for 4350ms");
        let first = at.unwrap_or_else(|| panic!("no lab line in\n{out}"));
        let rest: Vec<&str> = out[first..].lines().skip(1).take(2).collect();
        assert_eq!(
            rest,
            [
                "  slots 5461-10922 (acted on): writes stopped for 4350ms, probes measured 4300ms (50ms less than the truth)",
                "  slots 0-5460: writes stopped for 1020ms, probes measured 1100ms (80ms more than the truth)",
            ]
        );
    }
}
