//! The matrix for people: a table on the terminal, Markdown for `--report`. The JSON form is the
//! [`MatrixReport`] itself.

use super::{Cell, Column, Fate, MatrixReport};
use crate::probe::fmt_ms;

/// A cell in words, one line per fact: the fate with its time, then how.
pub fn cell_lines(c: &Cell) -> Vec<String> {
    let mut lines = vec![match (c.fate, c.back_after_ms) {
        // Several windows (a rolling replacement): how long it was down in all, beside when it was last back.
        (Fate::Recovered, Some(ms)) if ms > c.outage_ms + 1_000 && c.outage_ms > 0 => {
            format!("recovered, back after {} (down {} in all)", fmt_ms(ms), fmt_ms(c.outage_ms))
        }
        (Fate::Recovered, Some(ms)) => format!("recovered, back after {}", fmt_ms(ms)),
        (Fate::Recovered, None) => "recovered, no outage".to_string(),
        (Fate::Stuck, _) if c.stuck.len() > 1 => format!("STUCK on {} shards", c.stuck.len()),
        (Fate::Stuck, _) => "STUCK".to_string(),
        (Fate::NoData, _) => "no data".to_string(),
    }];
    if !c.how.is_empty() {
        lines.push(c.how.clone());
    }
    if !c.as_expected {
        lines.push(format!("UNEXPECTED: expected {}", fate_word(c.expected)));
    }
    if !c.disagrees.is_empty() {
        lines.push("DISAGREES with its preset".to_string());
    }
    lines
}

/// Every disagreement of a real library with its preset, one line each: `kill-primary: real:ioredis@5: ...`.
pub fn disagreement_lines(m: &MatrixReport) -> Vec<String> {
    let mut out = Vec::new();
    for col in &m.columns {
        for c in &col.cells {
            out.extend(c.disagrees.iter().map(|d| format!("{}: {}: {d}", col.title(), c.client)));
        }
    }
    out
}

fn fate_word(f: Fate) -> &'static str {
    match f {
        Fate::Recovered => "to recover",
        Fate::Stuck => "to stay stuck",
        Fate::NoData => "no data",
    }
}

/// The lab's ground truth of a column, one line.
pub fn truth_line(col: &Column) -> String {
    if let Some(e) = &col.error {
        return format!("{}: did not run: {e}", col.title());
    }
    let affected: Vec<String> = col
        .truth
        .iter()
        .filter(|t| t.affected)
        .map(|t| format!("{} down {}", t.shard, fmt_ms(t.ground_truth_ms)))
        .collect();
    let what = if affected.is_empty() { "no shard down".to_string() } else { affected.join(", ") };
    format!("{}: injected at {}; lab ground truth: {what}", col.title(), fmt_ms(col.injected_at_ms))
}

/// The closing line: as expected or not.
pub fn verdict_line(m: &MatrixReport) -> String {
    if m.interrupted {
        return "INTERRUPTED: partial matrix".into();
    }
    if m.passed() {
        "verdict: every cell as expected".into()
    } else if m.unexpected.is_empty() {
        "verdict: FAILED: no scenario ran".into()
    } else {
        format!("verdict: FAILED: {}", m.unexpected.join("; "))
    }
}

fn header(m: &MatrixReport) -> Vec<String> {
    let mut h = vec!["client".to_string()];
    h.extend(m.columns.iter().map(Column::title));
    h
}

fn rows(m: &MatrixReport, sep: &str) -> Vec<Vec<String>> {
    m.clients
        .iter()
        .enumerate()
        .map(|(i, client)| {
            let mut row = vec![client.clone()];
            for col in &m.columns {
                row.push(col.cells.get(i).map(|c| cell_lines(c).join(sep)).unwrap_or_default());
            }
            row
        })
        .collect()
}

/// The matrix as a terminal table, the ground truth and the verdict under it.
pub fn table(m: &MatrixReport) -> String {
    let head = header(m);
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut t = crate::output::table(&head);
    for row in rows(m, "\n") {
        t.add_row(row);
    }
    let mut out = format!("{t}\n");
    for col in &m.columns {
        out.push_str(&truth_line(col));
        out.push('\n');
    }
    for line in disagreement_lines(m) {
        out.push_str(&format!("real vs preset: {line}\n"));
    }
    out.push_str(&verdict_line(m));
    out.push('\n');
    out
}

/// The matrix as a Markdown document.
pub fn markdown(m: &MatrixReport) -> String {
    let head = header(m);
    let mut out = String::from("# Survival matrix\n\n");
    out.push_str(&format!(
        "Each scenario ran once on a fresh lab cluster (seed: {}), every client probing it at the same time, one \
         probe per shard every {} for {}.\n\n",
        m.seed,
        fmt_ms(m.interval_ms),
        fmt_ms(m.duration_ms)
    ));
    out.push_str(&format!("| {} |\n", head.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(head.len())));
    for row in rows(m, "<br>") {
        let escaped: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        out.push_str(&format!("| {} |\n", escaped.join(" | ")));
    }
    out.push('\n');
    for col in &m.columns {
        out.push_str(&format!("- {}\n", truth_line(col)));
    }
    let drift = disagreement_lines(m);
    if !drift.is_empty() {
        out.push_str("\nWhere a real library and the preset that models it disagree:\n\n");
        for line in drift {
            out.push_str(&format!("- {line}\n"));
        }
    }
    out.push_str(&format!("\n**{}**\n", verdict_line(m)));
    out
}

#[cfg(test)]
mod tests {
    use super::super::{cell, ShardFate, Traffic, TruthRow};
    use super::*;

    fn sample() -> MatrixReport {
        let killed = |back: Option<u64>| ShardFate {
            shard: "slots 0-5460".into(),
            affected: true,
            recovered: back.is_some(),
            outage_ms: 2_000,
            back_after_ms: back,
        };
        let cells = vec![
            cell("ioredis@5", vec![killed(Some(2_400))], "refreshed on MOVED".into(), Fate::Recovered),
            cell("node-redis@4", vec![killed(None)], "retrying 127.0.0.1:7001".into(), Fate::Recovered),
        ];
        MatrixReport {
            clients: vec!["ioredis@5".into(), "node-redis@4".into()],
            columns: vec![Column {
                scenario: "kill-primary".into(),
                traffic: Traffic::Idle,
                injected_at_ms: 5_000,
                ended_at_ms: Some(6_000),
                truth: vec![TruthRow { shard: "slots 0-5460".into(), affected: true, ground_truth_ms: 1_900 }],
                error: None,
                cells,
            }],
            duration_ms: 30_000,
            interval_ms: 100,
            seed: "proxy".into(),
            unexpected: vec!["kill-primary: node-redis@4 stayed stuck".into()],
            interrupted: false,
        }
    }

    #[test]
    fn cells_say_fate_time_and_how() {
        let m = sample();
        let cells = &m.columns[0].cells;
        assert_eq!(cell_lines(&cells[0]), ["recovered, back after 2.4s", "refreshed on MOVED"]);
        assert_eq!(cell_lines(&cells[1]), ["STUCK", "retrying 127.0.0.1:7001", "UNEXPECTED: expected to recover"]);
        assert_eq!(m.columns[0].title(), "kill-primary (idle)");
        let rolling = ShardFate {
            shard: "slots 0-5460".into(),
            affected: true,
            recovered: true,
            outage_ms: 900,
            back_after_ms: Some(15_000),
        };
        let c = cell("fred", vec![rolling], "fred's own client".into(), Fate::Recovered);
        assert_eq!(cell_lines(&c)[0], "recovered, back after 15s (down 900ms in all)");
    }

    #[test]
    fn table_and_markdown_carry_every_cell_and_the_verdict() {
        let m = sample();
        let t = table(&m);
        assert!(t.contains("kill-primary (idle)") && t.contains("node-redis@4") && t.contains("STUCK"), "{t}");
        assert!(t.contains("lab ground truth: slots 0-5460 down 1.9s"), "{t}");
        assert!(t.trim_end().ends_with("verdict: FAILED: kill-primary: node-redis@4 stayed stuck"), "{t}");
        let md = markdown(&m);
        assert!(md.contains("| client | kill-primary (idle) |\n|---|---|\n"), "{md}");
        assert!(md.contains("| ioredis@5 | recovered, back after 2.4s<br>refreshed on MOVED |"), "{md}");
    }
}
