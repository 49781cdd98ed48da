//! The summary as a Markdown incident report, ready to paste into a postmortem: verdict, what was probed, the
//! numbers per target, the timeline strips, topology changes, notices and, for lab runs, the ground truth.

use std::fmt::Write as _;

use super::parts::{
    ground_truth, lab_steps, ms_per_char, offset, overall_line, run_verdict_line, shard_line, summary_row,
    target_label, SUMMARY_HEADER,
};
use super::{LabSummary, RunSummary};
use crate::probe::{fmt_ms, Verdict};

/// Topology changes listed before the rest are only counted (the events file has them all).
const MAX_CHANGES: usize = 200;

/// Renders the incident report.
pub fn render_markdown(s: &RunSummary) -> String {
    let mut out = String::new();
    header(&mut out, s);
    verdict(&mut out, s);
    targets(&mut out, s);
    summary(&mut out, s);
    timeline(&mut out, s);
    topology(&mut out, s);
    notices(&mut out, s);
    if let Some(lab) = &s.lab {
        lab_truth(&mut out, lab);
    }
    out
}

/// A table cell: `|` escaped, line breaks flattened, empty shown as `-`.
fn cell(text: &str) -> String {
    let flat = text.replace(['\r', '\n'], " ").replace('|', "\\|");
    if flat.trim().is_empty() {
        "-".into()
    } else {
        flat
    }
}

/// Inline code that survives backticks in the text.
fn code(text: &str) -> String {
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

fn table_row<S: AsRef<str>>(out: &mut String, cells: &[S]) {
    out.push('|');
    for c in cells {
        let _ = write!(out, " {} |", cell(c.as_ref()));
    }
    out.push('\n');
}

fn table_header(out: &mut String, names: &[&str]) {
    table_row(out, names);
    out.push('|');
    for _ in names {
        out.push_str(" --- |");
    }
    out.push('\n');
}

fn header(out: &mut String, s: &RunSummary) {
    let _ = writeln!(out, "# Failover probe report: {}\n", s.command);
    let every = match s.baseline_interval_ms {
        Some(base) if base != s.interval_ms => {
            format!("every {} (before the incident opened: every {})", fmt_ms(s.interval_ms), fmt_ms(base))
        }
        _ => format!("every {}", fmt_ms(s.interval_ms)),
    };
    let _ = writeln!(
        out,
        "Started {}; probed for {} of {} planned, {every}; redis-failover-probe {}.",
        s.started_at,
        fmt_ms(s.elapsed_ms),
        fmt_ms(s.planned_duration_ms),
        s.version
    );
    if s.interrupted {
        let _ = writeln!(out, "\n**Interrupted** after {}: the results are partial.", fmt_ms(s.elapsed_ms));
    }
    out.push('\n');
}

fn verdict(out: &mut String, s: &RunSummary) {
    out.push_str("## Verdict\n\n");
    match &s.verdict {
        Verdict::Passed => {
            let _ = writeln!(out, "**{}**", run_verdict_line(s));
        }
        Verdict::Failed { reasons } => {
            out.push_str("**FAILED**\n\n");
            for r in reasons {
                let _ = writeln!(out, "- {r}");
            }
        }
    }
    out.push('\n');
}

fn targets(out: &mut String, s: &RunSummary) {
    out.push_str("## Targets\n\n");
    if s.sources.is_empty() {
        out.push_str("None recorded.\n\n");
        return;
    }
    table_header(out, &["source", "mode", "client", "endpoints"]);
    for src in &s.sources {
        let endpoints: Vec<String> = src.endpoints.iter().map(|e| code(e)).collect();
        let name = if src.name.is_empty() { "target" } else { &src.name };
        table_row(out, &[name.to_string(), src.mode.clone(), src.client.clone(), endpoints.join(", ")]);
    }
    out.push('\n');
}

fn summary(out: &mut String, s: &RunSummary) {
    out.push_str("## Summary\n\n");
    if s.targets.is_empty() {
        out.push_str("No target was probed.\n\n");
        return;
    }
    table_header(out, &SUMMARY_HEADER);
    for r in &s.targets {
        table_row(out, &summary_row(r));
    }
    let _ = writeln!(out, "\n{}", overall_line(s));
    if !s.client_events.is_empty() {
        let parts: Vec<String> = s.client_events.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(out, "\nClient events: {}.", parts.join(", "));
    }
    out.push('\n');
}

fn timeline(out: &mut String, s: &RunSummary) {
    out.push_str("## Timeline\n\n");
    if s.targets.is_empty() {
        out.push_str("No target was probed.\n\n");
        return;
    }
    let _ = writeln!(
        out,
        "One character per {} of the planned {}: `.` ok, `~` degraded (some probes failed), `X` down, blank: no probe.\n",
        fmt_ms(ms_per_char(s)),
        fmt_ms(s.planned_duration_ms)
    );
    let labels: Vec<String> = s.targets.iter().map(target_label).collect();
    let width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    out.push_str("```text\n");
    for (label, r) in labels.iter().zip(&s.targets) {
        let _ = writeln!(out, "{label:<width$} |{}|", r.timeline);
    }
    out.push_str("```\n\n");
}

fn topology(out: &mut String, s: &RunSummary) {
    out.push_str("## Topology changes\n\n");
    if s.topology_changes.is_empty() {
        out.push_str("None seen.\n\n");
        return;
    }
    for c in s.topology_changes.iter().take(MAX_CHANGES) {
        let source = if c.source.is_empty() { String::new() } else { format!(" ({})", c.source) };
        let _ = writeln!(out, "- `{}`{source} {}", offset(c.stamp.offset_ms), c.change);
    }
    if s.topology_changes.len() > MAX_CHANGES {
        let _ = writeln!(
            out,
            "- ... and {} more (see the events file or the JSON output)",
            s.topology_changes.len() - MAX_CHANGES
        );
    }
    out.push('\n');
}

fn notices(out: &mut String, s: &RunSummary) {
    out.push_str("## Diagnoses and notices\n\n");
    if s.notices.is_empty() {
        out.push_str("None.\n\n");
        return;
    }
    for n in &s.notices {
        let _ = writeln!(out, "- `{}` **{}**: {}", offset(n.stamp.offset_ms), n.kind, n.detail);
    }
    out.push('\n');
}

fn lab_truth(out: &mut String, lab: &LabSummary) {
    out.push_str("## Lab ground truth\n\n");
    let _ = writeln!(out, "- Scenario: {}", code(&lab.scenario));
    let _ = writeln!(out, "- Injected at: `{}`", offset(lab.injected_at_ms));
    if let Some(shard) = &lab.shard {
        let _ = writeln!(out, "- Shard: {shard}");
    }
    // Exact milliseconds here: the point of this section is the difference between truth and measurement.
    let at = |ms: u64| format!("`+{:.3}s`", ms as f64 / 1000.0);
    match (lab.write_stopped_ms, lab.write_resumed_ms) {
        (Some(a), Some(b)) => {
            let _ = writeln!(out, "- Writes stopped at {}, resumed at {}", at(a), at(b));
        }
        (Some(a), None) => {
            let _ = writeln!(out, "- Writes stopped at {}, never resumed", at(a));
        }
        _ => {}
    }
    let _ = writeln!(out, "- Ground truth: {}", ground_truth(lab));
    if !lab.shards.is_empty() {
        out.push_str("- Per shard:\n");
        for c in &lab.shards {
            let _ = writeln!(out, "  - {}", shard_line(c));
        }
    }
    if let Some(e) = &lab.error {
        let _ = writeln!(out, "- **Scenario failed**: {e}");
    }
    let steps = lab_steps(lab);
    if !steps.is_empty() {
        out.push_str("\n### Lab events\n\n");
        table_header(out, &["at", "kind", "detail"]);
        for st in &steps {
            let at = st.offset_ms.map(offset).unwrap_or_else(|| "-".into());
            table_row(out, &[at, st.kind.clone(), st.detail.clone()]);
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata::{sample, FAILING};

    const SECTIONS: [&str; 7] = [
        "## Verdict",
        "## Targets",
        "## Summary",
        "## Timeline",
        "## Topology changes",
        "## Diagnoses and notices",
        "## Lab ground truth",
    ];

    /// The text of one `## ` section, up to the next.
    fn section<'a>(md: &'a str, heading: &str) -> &'a str {
        let start = md.find(&format!("{heading}\n")).unwrap_or_else(|| panic!("{heading} missing in\n{md}"));
        let body = &md[start + heading.len()..];
        &body[..body.find("\n## ").unwrap_or(body.len())]
    }

    #[test]
    fn every_section_in_order() {
        let md = render_markdown(&sample());
        let positions: Vec<usize> = SECTIONS.iter().map(|h| md.find(&format!("\n{h}\n")).expect(h)).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{md}");
        assert_eq!(md.matches("\n## ").count(), SECTIONS.len());
    }

    #[test]
    fn verdict_and_targets() {
        let md = render_markdown(&sample());
        let v = section(&md, "## Verdict");
        assert!(v.contains("**FAILED**"), "{v}");
        assert!(v.contains(&format!("- shard {FAILING}: outage 4.3s > --max-outage 3s")), "{v}");
        let t = section(&md, "## Targets");
        assert!(t.contains("| target | oss-cluster | cluster (fred) | `redis://:***@127.0.0.1:7000` |"));
    }

    #[test]
    fn summary_numbers() {
        let md = render_markdown(&sample());
        let s = section(&md, "## Summary");
        assert!(
            s.contains(
                "| target | node | probes | failed | outages | longest | total down | recovered | error classes |"
            ),
            "{s}"
        );
        assert!(s.contains("| --- | --- |"));
        assert!(s.contains(
            "| slots 5461-10922 | 127.0.0.1:7001 -> 127.0.0.1:7004 | 300 | 43 | 1 | 4.3s | 4.3s | yes | connection_refused 18, cluster_down 25 |"
        ), "{s}");
        assert!(s.contains("| slots 0-5460 | 127.0.0.1:7000 | 300 | 0 | 0 | 0ms | 0ms | yes | - |"));
        assert!(s.contains("| slots 10923-16383 | 127.0.0.1:7002 | 300 | 1 | 1 | 100ms | 100ms | yes | timeout 1 |"));
        assert!(s.contains("Overall: 900 probes, 44 failed; 2 periods with at least one target down, longest 4.3s, 4.4s in total; first failure at +8.2s."), "{s}");
        assert!(s.contains("Client events: reconnected 2, topology_resync 1."));
    }

    #[test]
    fn timeline_strips_in_a_code_block() {
        let md = render_markdown(&sample());
        let t = section(&md, "## Timeline");
        assert!(t.contains("One character per 500ms of the planned 30s"), "{t}");
        let block = &t[t.find("```text\n").expect("fence") + 8..];
        let block = &block[..block.find("```").expect("closing fence")];
        let lines: Vec<&str> = block.lines().collect();
        assert_eq!(lines.len(), 3);
        // The middle shard is down from 8.2 s to 12.5 s: character 16 (8.0-8.5 s) is degraded, 17 to 24 down.
        assert!(lines[1].starts_with("slots 5461-10922  |................~XXXXXXXX...."), "{}", lines[1]);
        assert!(lines.iter().all(|l| l.ends_with('|') && l.contains(" |")));
    }

    #[test]
    fn topology_notices_and_lab() {
        let md = render_markdown(&sample());
        let t = section(&md, "## Topology changes");
        assert!(t.contains("- `+9.3s` 127.0.0.1:7001 (b1c2d3e4) flagged failed"), "{t}");
        assert!(t.contains("- `+12.1s` promoted 127.0.0.1:7004"), "{t}");
        assert!(t.contains("- `+12.1s` 5462 slots (5461-10922) moved from 127.0.0.1:7001 to 127.0.0.1:7004"), "{t}");
        let n = section(&md, "## Diagnoses and notices");
        assert!(n.contains("- `+12.6s` **diagnosis**: slots 5461-10922 recovered"));
        let l = section(&md, "## Lab ground truth");
        for want in [
            "- Scenario: `kill-primary`",
            "- Injected at: `+8.0s`",
            "- Shard: slots 5461-10922",
            "- Writes stopped at `+8.050s`, resumed at `+12.400s`",
            "- Ground truth: writes stopped for 4350ms, probes measured 4300ms (50ms less than the truth)",
            "  - slots 5461-10922 (acted on): writes stopped for 4350ms, probes measured 4300ms (50ms less than the truth)",
            "  - slots 0-5460: writes stopped for 1020ms, probes measured 1100ms (80ms more than the truth)",
            "| +8.0s | inject | SIGKILL primary 127.0.0.1:7001 |",
            "| +12.4s | writes_resumed | 127.0.0.1:7004 accepts writes |",
        ] {
            assert!(l.contains(want), "{want} missing in\n{l}");
        }
        assert!(l.find("| inject |").unwrap() < l.find("| writes_resumed |").unwrap(), "lab events in order");
    }

    #[test]
    fn no_lab_section_without_a_lab_and_empty_sections_say_so() {
        let mut s = sample();
        s.lab = None;
        s.topology_changes.clear();
        s.notices.clear();
        s.verdict = Verdict::Passed;
        let md = render_markdown(&s);
        assert!(!md.contains("## Lab ground truth"));
        assert!(section(&md, "## Topology changes").contains("None seen."));
        assert!(section(&md, "## Diagnoses and notices").contains("None."));
        assert!(section(&md, "## Verdict").contains("**PASSED: every target recovered**"));
    }

    #[test]
    fn pipes_in_cells_are_escaped() {
        let mut s = sample();
        s.targets[0].name = "a|b".into();
        s.sources[0].client = "x|y\nz".into();
        let md = render_markdown(&s);
        assert!(md.contains("| a\\|b | 127.0.0.1:7000 |"), "{md}");
        assert!(md.contains("| x\\|y z |"), "{md}");
        for line in md.lines().filter(|l| l.starts_with("| a\\|b")) {
            // 9 columns: 10 unescaped bars.
            let bars = line.replace("\\|", "").matches('|').count();
            assert_eq!(bars, 10, "{line}");
        }
    }

    #[test]
    fn interrupted_runs_say_so() {
        let mut s = sample();
        s.interrupted = true;
        s.elapsed_ms = 12_345;
        let md = render_markdown(&s);
        assert!(md.contains("**Interrupted** after 12.3s"));
        assert!(md.starts_with("# Failover probe report: failover-recovery\n"));
    }

    #[test]
    fn a_watch_incident_names_both_intervals() {
        let mut s = sample();
        assert!(render_markdown(&s).contains(" planned, every 100ms; "));
        s.baseline_interval_ms = Some(1000);
        let md = render_markdown(&s);
        assert!(md.contains(" planned, every 100ms (before the incident opened: every 1s); "), "{md}");
        s.baseline_interval_ms = Some(100);
        assert!(render_markdown(&s).contains(" planned, every 100ms; "));
    }
}
