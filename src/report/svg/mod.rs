//! The availability timeline as a picture: one row per target across the run, green while probes succeeded,
//! amber where some failed, red over each outage window (labelled with its length), thin vertical lines where
//! the topology changed or the lab acted, the verdict on top and a key below. Built with the `svg` crate, which
//! escapes every text and attribute. [`render_html`] puts the picture and the summary table on one page.
//!
//! `layout` works out where things go (time scale, markers, label lanes, text widths); `picture` draws them.
//! The dimensions, fonts and palette below are shared by both and by the HTML page.

mod layout;
mod picture;

use super::parts::{overall_line, run_verdict_line, summary_row, SUMMARY_HEADER};
use super::RunSummary;
use crate::probe::fmt_ms;
use picture::Picture;

/// Picture width (px); the height follows from the number of rows and key lines.
const WIDTH: f64 = 1000.0;
const MARGIN: f64 = 16.0;
const ROW_H: f64 = 24.0;
const ROW_GAP: f64 = 12.0;
/// Height of one lane of marker labels above the rows.
const LANE_H: f64 = 14.0;
/// Lanes of marker labels; a label that finds no room in any is left to the key below.
const MAX_LANES: usize = 4;
const KEY_LINE_H: f64 = 16.0;
/// Key lines shown before the rest are only counted.
const MAX_KEY_LINES: usize = 16;

const TITLE_FONT: f64 = 16.0;
const LABEL_FONT: f64 = 12.0;
const SMALL_FONT: f64 = 11.0;
const MARKER_FONT: f64 = 10.0;

const OK: &str = "#3a9d5d";
const DEGRADED: &str = "#f2a900";
const DOWN: &str = "#d62839";
const DOWN_TEXT: &str = "#a3162a";
const NO_PROBE: &str = "#e4e4e4";
const TOPOLOGY: &str = "#1c5bd9";
const LAB: &str = "#7a2fa6";
const TRUTH: &str = "#222222";
const MUTED: &str = "#555555";

/// Renders the timeline picture as a standalone SVG document.
pub fn render_svg(s: &RunSummary) -> String {
    Picture::new(s).draw().to_string()
}

/// A minimal HTML page: heading, verdict, the picture and the summary table.
pub fn render_html(s: &RunSummary) -> String {
    let passed = s.verdict.is_passed();
    let mut rows = String::new();
    for r in &s.targets {
        rows.push_str("<tr>");
        for (i, c) in summary_row(r).iter().enumerate() {
            let class = if (2..=6).contains(&i) { " class=\"num\"" } else { "" };
            rows.push_str(&format!("<td{class}>{}</td>", esc(c)));
        }
        rows.push_str("</tr>\n");
    }
    let header: String = SUMMARY_HEADER.iter().map(|h| format!("<th>{}</th>", esc(h))).collect();
    let reasons: String = s.verdict.reasons().iter().map(|r| format!("<li>{}</li>", esc(r))).collect();
    let reasons = if reasons.is_empty() { String::new() } else { format!("<ul>{reasons}</ul>\n") };
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; }}
.passed {{ color: {OK}; }}
.failed {{ color: {DOWN}; }}
figure {{ margin: 16px 0; }}
svg {{ max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; }}
td {{ white-space: nowrap; }}
td.num {{ text-align: right; }}
td:last-child {{ white-space: normal; }}
</style>
</head>
<body>
<h1>{heading}</h1>
<p>{meta}</p>
<p class="{verdict_class}"><strong>{verdict}</strong></p>
{reasons}<figure>
{svg}
</figure>
<h2>Summary</h2>
<table>
<thead><tr>{header}</tr></thead>
<tbody>
{rows}</tbody>
</table>
<p>{overall}</p>
</body>
</html>
"#,
        title = esc(&format!("{}: {}", s.command, if passed { "PASSED" } else { "FAILED" })),
        heading = esc(&format!("Failover probe report: {}", s.command)),
        meta = esc(&subtitle(s)),
        verdict_class = if passed { "passed" } else { "failed" },
        // The reasons follow as a list, so the line says only the outcome when there are any.
        verdict = esc(&if passed || s.verdict.reasons().is_empty() {
            format!("Verdict: {}", run_verdict_line(s))
        } else {
            "Verdict: FAILED".into()
        }),
        svg = render_svg(s),
        overall = esc(&overall_line(s)),
    )
}

/// HTML text and attribute escaping.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// What the run was, in one line.
fn subtitle(s: &RunSummary) -> String {
    let mut line = format!(
        "{} · started {} · probed {} of {} every {} · {} target{}",
        s.command,
        s.started_at,
        fmt_ms(s.elapsed_ms),
        fmt_ms(s.planned_duration_ms),
        fmt_ms(s.interval_ms),
        s.targets.len(),
        if s.targets.len() == 1 { "" } else { "s" }
    );
    if s.interrupted {
        line.push_str(" · INTERRUPTED, partial results");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Verdict;
    use crate::report::testdata::sample;

    #[test]
    fn html_page_holds_the_picture_and_the_table() {
        let mut s = sample();
        s.targets[0].name = "x<y".into();
        let html = render_html(&s);
        assert!(html.starts_with("<!DOCTYPE html>"));
        let doc = roxmltree::Document::parse_with_options(
            &html,
            roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() },
        )
        .unwrap_or_else(|e| panic!("{e}\n{html}"));
        assert_eq!(doc.descendants().filter(|n| n.has_tag_name("svg")).count(), 1);
        let rows = doc.descendants().filter(|n| n.has_tag_name("tr")).count();
        assert_eq!(rows, 1 + 3);
        assert!(html.contains("<td>x&lt;y</td>"));
        assert!(html.contains("<li>shard slots 5461-10922: outage 4.3s &gt; --max-outage 3s</li>"));
    }

    #[test]
    fn the_page_words_the_overall_line_and_a_compare_pass_as_the_other_writers_do() {
        let mut s = sample();
        let html = render_html(&s);
        assert!(html.contains(&format!("<p>{}</p>", esc(&overall_line(&s)))), "{html}");
        s.verdict = Verdict::Passed;
        s.per_source = vec![crate::report::SourceVerdict {
            source: "emulated".into(),
            verdict: Verdict::Failed { reasons: vec!["expected".into()] },
            expected: "fail".into(),
            as_expected: true,
        }];
        let html = render_html(&s);
        assert!(html.contains("<strong>Verdict: PASSED: every target as expected</strong>"), "{html}");
        assert!(render_svg(&s).contains("Verdict: PASSED: every target as expected"));
    }
}
