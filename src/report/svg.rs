//! The availability timeline as a picture: one row per target across the run, green while probes succeeded,
//! amber where some failed, red over each outage window (labelled with its length), thin vertical lines where
//! the topology changed or the lab acted, the verdict on top and a key below. Built with the `svg` crate, which
//! escapes every text and attribute. [`render_html`] puts the picture and the summary table on one page.

use svg::node::element::{Group, Line, Rectangle, Text, Title};
use svg::Document;

use super::parts::{lab_line, lab_steps, offset, shard_line, summary_row, target_label, verdict_line, SUMMARY_HEADER};
use super::{LabSummary, RunSummary};
use crate::probe::collect::{TargetReport, TopologyRecord};
use crate::probe::fmt_ms;
use crate::topology::TopologyChange;

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
/// Least room between two tick labels (px).
const MIN_TICK_PX: f64 = 70.0;

const TITLE_FONT: f64 = 16.0;
const LABEL_FONT: f64 = 12.0;
const SMALL_FONT: f64 = 11.0;
const MARKER_FONT: f64 = 10.0;
/// Average glyph width as a share of the font size: a little over that of common sans-serif faces, so that
/// estimated text widths err on the wide side and labels placed side by side do not overlap.
const GLYPH: f64 = 0.62;

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
    let o = &s.overall;
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
<p>Overall: {probes} probes, {failures} failed; longest period with a target down {longest}, {total} in total.</p>
</body>
</html>
"#,
        title = esc(&format!("{}: {}", s.command, if passed { "PASSED" } else { "FAILED" })),
        heading = esc(&format!("Failover probe report: {}", s.command)),
        meta = esc(&subtitle(s)),
        verdict_class = if passed { "passed" } else { "failed" },
        // The reasons follow as a list, so the line says only the outcome when there are any.
        verdict = esc(&if passed || s.verdict.reasons().is_empty() {
            format!("Verdict: {}", verdict_line(&s.verdict))
        } else {
            "Verdict: FAILED".into()
        }),
        svg = render_svg(s),
        probes = o.probes,
        failures = o.failures,
        longest = fmt_ms(o.longest_outage_ms),
        total = fmt_ms(o.total_unavailable_ms),
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

/// Estimated width of `text` at `size` (px).
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * GLYPH
}

/// `text`, cut with `…` to fit `max_px` at `size`.
fn fit(text: &str, size: f64, max_px: f64) -> String {
    let max_chars = (max_px / (size * GLYPH)).floor().max(1.0) as usize;
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

fn text(content: impl Into<String>, x: f64, y: f64, size: f64) -> Text {
    Text::new(content).set("x", px(x)).set("y", px(y)).set("font-size", size)
}

fn rect(x: f64, y: f64, w: f64, h: f64, fill: &str) -> Rectangle {
    Rectangle::new().set("x", px(x)).set("y", px(y)).set("width", px(w)).set("height", px(h)).set("fill", fill)
}

fn line(x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str) -> Line {
    Line::new().set("x1", px(x1)).set("y1", px(y1)).set("x2", px(x2)).set("y2", px(y2)).set("stroke", stroke)
}

/// Coordinates rounded to a tenth of a pixel, so the document stays short and stable.
fn px(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Maps offsets (ms) to x positions.
struct Scale {
    x0: f64,
    x1: f64,
    span_ms: f64,
}

impl Scale {
    fn x(&self, ms: f64) -> f64 {
        self.x0 + (self.x1 - self.x0) * (ms / self.span_ms).clamp(0.0, 1.0)
    }

    /// Tick spacing (ms): the smallest round step that leaves [`MIN_TICK_PX`] between labels.
    fn tick_step(&self) -> u64 {
        const STEPS: [u64; 17] = [
            100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
            1_800_000, 3_600_000, 7_200_000,
        ];
        let width = self.x1 - self.x0;
        let most = (width / MIN_TICK_PX).max(1.0);
        STEPS
            .iter()
            .copied()
            .find(|&step| self.span_ms / step as f64 <= most)
            .unwrap_or_else(|| ((self.span_ms / most) as u64 / 3_600_000 + 1) * 3_600_000)
    }
}

/// Tick label in seconds: `5s`, `0.5s`.
fn seconds(ms: u64) -> String {
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MarkKind {
    Topology,
    Lab,
}

/// A vertical line on the timeline, with a short label above the rows and full lines in the key.
#[derive(Debug, Clone)]
struct Marker {
    at_ms: u64,
    kind: MarkKind,
    /// `T1`, `L1`: ties the line to its key lines.
    id: String,
    /// What the label above the rows says after the id.
    short: String,
    /// Key lines.
    details: Vec<String>,
}

/// A few words for a change, for the label above the rows; the key has the full text.
fn short_change(c: &TopologyChange) -> String {
    use TopologyChange::*;
    match c {
        StateChanged { to, .. } => format!("state {to}"),
        EpochChanged { to, .. } => format!("epoch {to}"),
        NodeRemoved { .. } => "node removed".into(),
        NodeAdded { .. } => "node added".into(),
        EndpointChanged { .. } => "node moved".into(),
        NodeFailFlag { failed: true, .. } => "node failed".into(),
        NodeFailFlag { failed: false, .. } => "node ok".into(),
        Promoted { endpoint, .. } => format!("promoted {endpoint}"),
        Demoted { .. } => "demoted".into(),
        SlotsMoved { .. } => "slots moved".into(),
        SlotsUnassigned { .. } => "slots lost".into(),
        SlotsAssigned { .. } => "slots assigned".into(),
    }
}

/// One marker per topology poll that saw changes (changes seen together share a stamp), then one per lab step.
fn markers(changes: &[TopologyRecord], lab: Option<&LabSummary>) -> Vec<Marker> {
    let mut out: Vec<Marker> = Vec::new();
    let mut n = 0;
    let mut last: Option<(u64, &str)> = None;
    // The collector keeps them in arrival order, which is time order; sorting (stable) makes sure the ids
    // count up along the axis whatever the input.
    let mut changes: Vec<&TopologyRecord> = changes.iter().collect();
    changes.sort_by_key(|c| c.stamp.offset_ms);
    for c in changes {
        let key = (c.stamp.offset_ms, c.source.as_str());
        let source = if c.source.is_empty() { String::new() } else { format!("{}: ", c.source) };
        let detail = format!("{source}{}", c.change);
        match out.last_mut() {
            Some(m) if last == Some(key) => {
                m.details.push(format!("{} {detail}", offset(c.stamp.offset_ms)));
                // Promotions say the most about a failover: prefer them for the label.
                if matches!(c.change, TopologyChange::Promoted { .. }) {
                    m.short = short_change(&c.change);
                }
            }
            _ => {
                n += 1;
                out.push(Marker {
                    at_ms: c.stamp.offset_ms,
                    kind: MarkKind::Topology,
                    id: format!("T{n}"),
                    short: short_change(&c.change),
                    details: vec![format!("{} {detail}", offset(c.stamp.offset_ms))],
                });
            }
        }
        last = Some(key);
    }
    for m in &mut out {
        if m.details.len() > 1 {
            m.short = format!("{} +{} more", m.short, m.details.len() - 1);
        }
    }
    if let Some(lab) = lab {
        let steps: Vec<_> = lab_steps(lab).into_iter().filter_map(|st| st.offset_ms.map(|at| (at, st))).collect();
        if steps.is_empty() {
            out.push(Marker {
                at_ms: lab.injected_at_ms,
                kind: MarkKind::Lab,
                id: "L1".into(),
                short: "inject".into(),
                details: vec![format!("{} {} injected", offset(lab.injected_at_ms), lab.scenario)],
            });
        }
        for (i, (at, st)) in steps.into_iter().enumerate() {
            let detail = if st.detail.is_empty() { st.kind.clone() } else { format!("{}: {}", st.kind, st.detail) };
            out.push(Marker {
                at_ms: at,
                kind: MarkKind::Lab,
                id: format!("L{}", i + 1),
                short: st.kind.replace('_', " "),
                details: vec![format!("{} {detail}", offset(at))],
            });
        }
    }
    out
}

/// Puts labels `(left x, full width, short width)`, sorted by x, into lanes so that none overlaps another in
/// its lane. Each label is shown in full when there is room; when no lane has room, the last label of some lane
/// is cut to its short text (the id) to make room. Returns per label its lane and whether it is shown in full,
/// or `None` when even that left no room.
fn place(labels: &[(f64, f64, f64)], lanes: usize) -> Vec<Option<(usize, bool)>> {
    const GAP: f64 = 6.0;
    let mut out: Vec<Option<(usize, bool)>> = vec![None; labels.len()];
    // Per lane: the index of its last label.
    let mut last: Vec<Option<usize>> = vec![None; lanes];
    let end = |i: usize, full: bool| {
        let (x, f, s) = labels[i];
        x + if full { f } else { s }
    };
    for (i, &(x, _, _)) in labels.iter().enumerate() {
        let free = last.iter().position(|l| match *l {
            None => true,
            Some(j) => end(j, out[j].is_some_and(|(_, full)| full)) + GAP <= x,
        });
        let lane = free.or_else(|| {
            let lane = last.iter().position(|l| l.is_some_and(|j| end(j, false) + GAP <= x))?;
            let j = last[lane].expect("checked");
            out[j] = Some((lane, false));
            Some(lane)
        });
        if let Some(lane) = lane {
            out[i] = Some((lane, true));
            last[lane] = Some(i);
        }
    }
    out
}

/// The layout of one picture.
struct Picture<'a> {
    s: &'a RunSummary,
    scale: Scale,
    markers: Vec<Marker>,
    /// Marker label placements, parallel to `markers`.
    placed: Vec<Option<(usize, bool)>>,
    /// Left edge of each marker's label.
    label_x: Vec<f64>,
    rows_top: f64,
}

impl<'a> Picture<'a> {
    fn new(s: &'a RunSummary) -> Self {
        let labels: Vec<String> = s.targets.iter().map(target_label).collect();
        let longest = labels.iter().map(|l| text_width(l, LABEL_FONT)).fold(0.0, f64::max);
        let x0 = MARGIN + longest.clamp(80.0, 260.0) + 10.0;
        let x1 = WIDTH - MARGIN - 14.0;
        let mut markers = markers(&s.topology_changes, s.lab.as_ref());
        markers.sort_by_key(|m| m.at_ms);
        let window_end =
            s.targets.iter().flat_map(|r| &r.summary.windows).map(|w| w.start_ms + w.length_ms).max().unwrap_or(0);
        let marker_end = markers.iter().map(|m| m.at_ms).max().unwrap_or(0);
        let span_ms = s.planned_duration_ms.max(s.elapsed_ms).max(window_end).max(marker_end).max(1) as f64;
        let scale = Scale { x0, x1, span_ms };
        // Labels go right of their line, or left of it where they would leave the picture.
        let candidates: Vec<(f64, f64, f64)> = markers
            .iter()
            .map(|m| {
                let full = text_width(&format!("{} {}", m.id, m.short), MARKER_FONT);
                let short = text_width(&m.id, MARKER_FONT);
                let x = scale.x(m.at_ms as f64);
                let left = if x + 3.0 + full > WIDTH - MARGIN { x - 3.0 - full } else { x + 3.0 };
                (left, full, short)
            })
            .collect();
        let label_x: Vec<f64> = candidates.iter().map(|c| c.0).collect();
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| candidates[a].0.total_cmp(&candidates[b].0));
        let sorted: Vec<(f64, f64, f64)> = order.iter().map(|&i| candidates[i]).collect();
        let mut placed = vec![None; candidates.len()];
        for (slot, p) in order.iter().zip(place(&sorted, MAX_LANES)) {
            placed[*slot] = p;
        }
        let lanes = placed.iter().flatten().map(|(lane, _)| lane + 1).max().unwrap_or(0);
        let rows_top = 62.0 + lanes as f64 * LANE_H + 6.0;
        Picture { s, scale, markers, placed, label_x, rows_top }
    }

    fn row_y(&self, i: usize) -> f64 {
        self.rows_top + i as f64 * (ROW_H + ROW_GAP)
    }

    fn axis_y(&self) -> f64 {
        self.row_y(self.s.targets.len()) - ROW_GAP + 8.0
    }

    fn draw(&self) -> Document {
        let s = self.s;
        let passed = s.verdict.is_passed();
        let verdict = verdict_line(&s.verdict);
        let mut doc = Document::new()
            .set("font-family", "DejaVu Sans, Helvetica, Arial, sans-serif")
            .add(Title::new(format!("redis-failover-probe {}: {verdict}", s.command)))
            .add(Rectangle::new().set("width", "100%").set("height", "100%").set("fill", "#ffffff"))
            .add(
                text(fit(&format!("Verdict: {verdict}"), TITLE_FONT, WIDTH - 2.0 * MARGIN), MARGIN, 28.0, TITLE_FONT)
                    .set("class", "verdict")
                    .set("font-weight", "bold")
                    .set("fill", if passed { OK } else { DOWN }),
            )
            .add(
                text(fit(&subtitle(s), SMALL_FONT, WIDTH - 2.0 * MARGIN), MARGIN, 48.0, SMALL_FONT).set("fill", MUTED),
            );
        for (i, r) in s.targets.iter().enumerate() {
            doc = doc.add(self.row(r, self.row_y(i)));
        }
        doc = doc.add(self.axis());
        doc = doc.add(self.marker_lines());
        doc = doc.add(self.outage_labels());
        let (legend, y) = self.legend(self.axis_y() + 50.0);
        doc = doc.add(legend);
        let (key, y) = self.key(y + 10.0);
        doc = doc.add(key);
        let height = (y + MARGIN).ceil();
        doc.set("width", WIDTH).set("height", height).set("viewBox", (0, 0, WIDTH, height))
    }

    /// One target: label, then the strip's cells as the base colours, then its outage windows in red.
    fn row(&self, r: &TargetReport, y: f64) -> Group {
        let label = target_label(r);
        let sum = &r.summary;
        let mut g = Group::new()
            .set("class", "row")
            .set("data-target", label.clone())
            .add(Title::new(format!(
                "{label}: {} probes, {} failed, {} outage{}, longest {}, total down {}{}",
                sum.probes,
                sum.failures,
                sum.outages,
                if sum.outages == 1 { "" } else { "s" },
                fmt_ms(sum.longest_outage_ms),
                fmt_ms(sum.total_outage_ms),
                if sum.recovered { "" } else { ", NOT recovered" }
            )))
            .add(
                text(
                    fit(&label, LABEL_FONT, self.scale.x0 - MARGIN - 10.0),
                    self.scale.x0 - 8.0,
                    y + ROW_H / 2.0 + 4.0,
                    LABEL_FONT,
                )
                .set("text-anchor", "end")
                // A target still down at the end stands out by its name too.
                .set("fill", if sum.recovered { "#222222" } else { DOWN_TEXT })
                .set("font-weight", if sum.recovered { "normal" } else { "bold" }),
            )
            .add(rect(self.scale.x0, y, self.scale.x1 - self.scale.x0, ROW_H, NO_PROBE));

        // Runs of equal characters become one rectangle each.
        let cells: Vec<char> = r.timeline.chars().collect();
        let per_cell = self.s.planned_duration_ms as f64 / cells.len().max(1) as f64;
        let mut i = 0;
        while i < cells.len() {
            let c = cells[i];
            let mut j = i + 1;
            while j < cells.len() && cells[j] == c {
                j += 1;
            }
            let fill = match c {
                '.' => Some(OK),
                '~' => Some(DEGRADED),
                'X' => Some(DOWN),
                _ => None,
            };
            if let Some(fill) = fill {
                let a = self.scale.x(i as f64 * per_cell);
                let b = self.scale.x(j as f64 * per_cell);
                g = g.add(rect(a, y, b - a, ROW_H, fill).set("class", "cell"));
            }
            i = j;
        }

        for w in &sum.windows {
            let a = self.scale.x(w.start_ms as f64);
            let b = self.scale.x((w.start_ms + w.length_ms) as f64).max(a + 1.5);
            g = g.add(
                rect(a, y, b - a, ROW_H, DOWN)
                    .set("class", "outage")
                    .set("data-start-ms", w.start_ms)
                    .set("data-length-ms", w.length_ms),
            );
        }
        if let Some(lab) = &self.s.lab {
            if lab.shard.as_deref() == Some(label.as_str()) || lab.shard.as_deref() == Some(&r.name) {
                if let Some(stop) = lab.write_stopped_ms {
                    let end = lab.write_resumed_ms.map(|v| v as f64).unwrap_or(self.scale.span_ms);
                    let a = self.scale.x(stop as f64);
                    let b = self.scale.x(end).max(a + 1.5);
                    g = g.add(rect(a, y + ROW_H + 2.0, b - a, 4.0, TRUTH).set("class", "ground-truth"));
                }
            }
        }
        g
    }

    /// The length of each outage window, drawn after the marker lines so that none strikes through it: inside
    /// the window when it fits, else just after it; a label that would cover the one before is left out (the
    /// Markdown report lists every window).
    fn outage_labels(&self) -> Group {
        let mut g = Group::new().set("class", "outage-labels");
        for (i, r) in self.s.targets.iter().enumerate() {
            let y = self.row_y(i);
            let baseline = y + ROW_H / 2.0 + 4.0;
            let mut label_end = f64::NEG_INFINITY;
            for w in &r.summary.windows {
                let a = self.scale.x(w.start_ms as f64);
                let b = self.scale.x((w.start_ms + w.length_ms) as f64).max(a + 1.5);
                let len = fmt_ms(w.length_ms);
                let mut texts = vec![len.clone()];
                if w.end_ms.is_none() {
                    texts.insert(0, format!("{len}, still down"));
                }
                let inside = texts.iter().find(|t| text_width(t, SMALL_FONT) + 6.0 <= b - a);
                let outside =
                    texts.iter().find(|t| a >= label_end && b + 7.0 + text_width(t, SMALL_FONT) <= self.scale.x1);
                if let Some(t) = inside {
                    g = g.add(
                        text(t.clone(), (a + b) / 2.0, baseline, SMALL_FONT)
                            .set("class", "outage-length")
                            .set("text-anchor", "middle")
                            .set("font-weight", "bold")
                            .set("fill", "#ffffff")
                            .set("stroke", DOWN)
                            .set("stroke-width", 3)
                            .set("stroke-linejoin", "round")
                            .set("paint-order", "stroke"),
                    );
                    label_end = b;
                } else if let Some(t) = outside {
                    // On a white plate, so it reads on green.
                    let tw = text_width(t, SMALL_FONT);
                    g = g.add(rect(b + 1.0, y + 5.0, tw + 4.0, ROW_H - 10.0, "#ffffff").set("opacity", 0.9)).add(
                        text(t.clone(), b + 3.0, baseline, SMALL_FONT)
                            .set("class", "outage-length")
                            .set("font-weight", "bold")
                            .set("fill", DOWN_TEXT),
                    );
                    label_end = b + 3.0 + tw + 4.0;
                }
            }
        }
        g
    }

    fn axis(&self) -> Group {
        let y = self.axis_y();
        let step = self.scale.tick_step();
        let mut g = Group::new().set("class", "axis").add(line(self.scale.x0, y, self.scale.x1, y, MUTED));
        let mut t = 0;
        while (t as f64) <= self.scale.span_ms {
            let x = self.scale.x(t as f64);
            // Faint guides through the rows help read the time of a transition.
            if !self.s.targets.is_empty() {
                g = g.add(line(x, self.rows_top, x, y, "#ffffff").set("stroke-opacity", 0.45).set("stroke-width", 1));
            }
            g = g.add(line(x, y, x, y + 5.0, MUTED)).add(
                text(seconds(t), x, y + 18.0, SMALL_FONT)
                    .set("class", "tick")
                    .set("text-anchor", "middle")
                    .set("fill", MUTED),
            );
            t += step;
        }
        g.add(
            text("seconds since start", self.scale.x1, y + 34.0, SMALL_FONT)
                .set("text-anchor", "end")
                .set("fill", MUTED),
        )
    }

    /// The lines first, then every label on top of all of them, each on a white halo, so a line passing
    /// behind another marker's label does not strike through its text.
    fn marker_lines(&self) -> Group {
        let axis = self.axis_y();
        let mut lines = Group::new().set("class", "markers");
        let mut labels = Group::new().set("class", "marker-labels");
        for ((m, placed), &label_x) in self.markers.iter().zip(&self.placed).zip(&self.label_x) {
            let x = self.scale.x(m.at_ms as f64);
            let (class, colour) = match m.kind {
                MarkKind::Topology => ("marker topology", TOPOLOGY),
                MarkKind::Lab => ("marker lab", LAB),
            };
            // Lane 0 sits right above the rows; the line starts at its label.
            let label_y = placed.map(|(lane, _)| self.rows_top - 6.0 - lane as f64 * LANE_H);
            let top = label_y.map_or(self.rows_top - 4.0, |y| y - MARKER_FONT);
            let mut l = line(x, top, x, axis, colour).set("stroke-width", 1.5);
            if m.kind == MarkKind::Lab {
                l = l.set("stroke-dasharray", "5 3");
            }
            lines = lines.add(
                Group::new()
                    .set("class", class)
                    .set("data-id", m.id.clone())
                    .set("data-at-ms", m.at_ms)
                    .add(Title::new(m.details.join("\n")))
                    .add(l),
            );
            if let (Some((_, full)), Some(y)) = (placed, label_y) {
                let label = if *full { format!("{} {}", m.id, m.short) } else { m.id.clone() };
                // A label flipped to the left of its line keeps its right edge by the line, in either form.
                let flipped = label_x < x;
                let (lx, anchor) = if flipped { (x - 3.0, "end") } else { (label_x, "start") };
                labels = labels.add(
                    text(label, lx, y, MARKER_FONT)
                        .set("text-anchor", anchor)
                        .set("class", "marker-label")
                        .set("data-id", m.id.clone())
                        .set("fill", colour)
                        .set("font-weight", "bold")
                        .set("stroke", "#ffffff")
                        .set("stroke-width", 3)
                        .set("stroke-linejoin", "round")
                        .set("paint-order", "stroke"),
                );
            }
        }
        Group::new().add(lines).add(labels)
    }

    /// Colour swatches; returns the group and the y below it.
    fn legend(&self, y: f64) -> (Group, f64) {
        let mut items: Vec<(&str, &str, bool)> = vec![
            ("ok", OK, false),
            ("degraded (some probes failed)", DEGRADED, false),
            ("down (outage)", DOWN, false),
            ("no probe", NO_PROBE, false),
        ];
        if !self.s.topology_changes.is_empty() {
            items.push(("T: topology change", TOPOLOGY, true));
        }
        if let Some(lab) = &self.s.lab {
            items.push(("L: lab step", LAB, true));
            if lab.write_stopped_ms.is_some() {
                items.push(("ground truth (lab)", TRUTH, false));
            }
        }
        let mut g = Group::new().set("class", "legend");
        let mut x = MARGIN;
        let mut row_y = y;
        for (name, colour, is_line) in items {
            let w = 18.0 + text_width(name, SMALL_FONT) + 12.0;
            if x + w > WIDTH - MARGIN {
                x = MARGIN;
                row_y += KEY_LINE_H;
            }
            if is_line {
                g = g.add(line(x + 6.0, row_y - 10.0, x + 6.0, row_y + 2.0, colour).set("stroke-width", 2));
            } else {
                g = g.add(rect(x, row_y - 9.0, 12.0, 10.0, colour));
            }
            g = g.add(text(name, x + 18.0, row_y, SMALL_FONT));
            x += w;
        }
        (g, row_y + KEY_LINE_H)
    }

    /// What each marker stands for, and the lab's ground truth; returns the group and the y below it.
    fn key(&self, y: f64) -> (Group, f64) {
        // (id, text, colour); the id stands in its own column.
        let mut lines: Vec<(&str, String, &str)> = Vec::new();
        if let Some(lab) = &self.s.lab {
            lines.push(("", lab_line(lab), TRUTH));
            lines.extend(lab.shards.iter().map(|c| ("", format!("  {}", shard_line(c)), TRUTH)));
        }
        for m in &self.markers {
            let colour = match m.kind {
                MarkKind::Topology => TOPOLOGY,
                MarkKind::Lab => LAB,
            };
            for (i, d) in m.details.iter().enumerate() {
                let id = if i == 0 { m.id.as_str() } else { "" };
                lines.push((id, d.clone(), colour));
            }
        }
        let total = lines.len();
        let mut g = Group::new().set("class", "key");
        let mut y = y;
        let indent = 34.0;
        for (id, l, colour) in lines.into_iter().take(MAX_KEY_LINES) {
            y += KEY_LINE_H;
            let x = if id.is_empty() && colour == TRUTH { MARGIN } else { MARGIN + indent };
            if !id.is_empty() {
                g = g.add(text(id, MARGIN, y, SMALL_FONT).set("fill", colour).set("font-weight", "bold"));
            }
            g = g.add(text(fit(&l, SMALL_FONT, WIDTH - MARGIN - x), x, y, SMALL_FONT).set("fill", colour));
        }
        if total > MAX_KEY_LINES {
            y += KEY_LINE_H;
            g = g.add(
                text(
                    format!("… and {} more (see the Markdown report or the events file)", total - MAX_KEY_LINES),
                    MARGIN,
                    y,
                    SMALL_FONT,
                )
                .set("fill", MUTED),
            );
        }
        (g, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata::{sample, FAILING};

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}\n{svg}"))
    }

    fn with_class<'a, 'i>(
        doc: &'a roxmltree::Document<'i>,
        class: &'a str,
    ) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> + 'a {
        doc.descendants().filter(move |n| n.attribute("class").is_some_and(|c| c.split(' ').any(|w| w == class)))
    }

    #[test]
    fn one_row_group_per_target() {
        let s = sample();
        let svg = render_svg(&s);
        let doc = parse(&svg);
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let rows: Vec<_> = with_class(&doc, "row").collect();
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.tag_name().name() == "g"));
        let names: Vec<&str> = rows.iter().map(|r| r.attribute("data-target").unwrap()).collect();
        assert_eq!(names, ["slots 0-5460", FAILING, "slots 10923-16383"]);
    }

    #[test]
    fn outages_are_red_and_labelled_with_their_length() {
        let svg = render_svg(&sample());
        let doc = parse(&svg);
        let failing = with_class(&doc, "row").find(|r| r.attribute("data-target") == Some(FAILING)).unwrap();
        let outages: Vec<_> = failing.children().filter(|n| n.attribute("class") == Some("outage")).collect();
        assert_eq!(with_class(&doc, "outage").count(), 2);
        assert_eq!(outages.len(), 1);
        assert_eq!(outages[0].attribute("fill"), Some(DOWN));
        assert_eq!(outages[0].attribute("data-length-ms"), Some("4300"));
        let labels: Vec<&str> = with_class(&doc, "outage-length").filter_map(|n| n.text()).map(str::trim).collect();
        assert_eq!(labels, ["4.3s", "100ms"]);
        // The blip on the third shard shows as a degraded stretch.
        assert!(svg.contains(&format!("fill=\"{DEGRADED}\"")));
    }

    #[test]
    fn verdict_axis_and_markers() {
        let svg = render_svg(&sample());
        let doc = parse(&svg);
        let verdict = with_class(&doc, "verdict").next().unwrap();
        assert!(verdict.text().unwrap().trim().starts_with("Verdict: FAILED: shard slots 5461-10922: outage 4.3s"));
        let ticks: Vec<&str> = with_class(&doc, "tick").filter_map(|n| n.text()).map(str::trim).collect();
        assert_eq!(ticks.first(), Some(&"0s"));
        assert_eq!(ticks.last(), Some(&"30s"));
        let topo: Vec<_> = with_class(&doc, "topology").collect();
        // Two polls saw changes: the fail flag, then the promotion with its slots.
        assert_eq!(topo.len(), 2);
        assert_eq!(topo[1].attribute("data-at-ms"), Some("12100"));
        let lab: Vec<_> = with_class(&doc, "lab").collect();
        assert_eq!(lab.len(), 2);
        assert_eq!(with_class(&doc, "ground-truth").count(), 1);
        assert!(svg.contains("T2 promoted 127.0.0.1:7004 +1 more"), "{svg}");
    }

    #[test]
    fn text_is_escaped_and_empty_runs_still_draw() {
        let mut s = sample();
        s.targets[0].name = "a<b & \"c\"".into();
        let doc_text = render_svg(&s);
        let doc = parse(&doc_text);
        assert!(with_class(&doc, "row").any(|r| r.attribute("data-target") == Some("a<b & \"c\"")));

        s.targets.clear();
        s.topology_changes.clear();
        s.lab = None;
        s.planned_duration_ms = 0;
        s.elapsed_ms = 0;
        let empty = render_svg(&s);
        assert_eq!(with_class(&parse(&empty), "row").count(), 0);
    }

    #[test]
    fn crowded_markers_are_all_drawn_and_the_key_is_capped() {
        let mut s = sample();
        let template = s.topology_changes[0].clone();
        s.topology_changes = (0..50)
            .map(|i| {
                let mut c = template.clone();
                c.stamp.offset_ms = 9_000 + i * 50;
                c
            })
            .collect();
        let svg = render_svg(&s);
        let doc = parse(&svg);
        assert_eq!(with_class(&doc, "topology").count(), 50);
        let text = svg.matches("… and ").count();
        assert_eq!(text, 1, "the key is capped");
    }

    #[test]
    fn a_label_near_the_right_edge_turns_left() {
        let mut s = sample();
        s.lab = None;
        s.topology_changes.truncate(1);
        s.topology_changes[0].stamp.offset_ms = 29_900;
        let svg = render_svg(&s);
        let doc = parse(&svg);
        let label = with_class(&doc, "marker-label").next().unwrap();
        assert_eq!(label.text().map(str::trim), Some("T1 node failed"));
        assert_eq!(label.attribute("text-anchor"), Some("end"));
        let x: f64 = label.attribute("x").unwrap().parse().unwrap();
        assert!(x < WIDTH - MARGIN, "{x}");
    }

    #[test]
    fn ticks_are_round_and_not_crowded() {
        let scale = |span_ms: f64| Scale { x0: 100.0, x1: 970.0, span_ms };
        assert_eq!(scale(30_000.0).tick_step(), 5_000);
        assert_eq!(scale(2_000.0).tick_step(), 200);
        assert_eq!(scale(600_000.0).tick_step(), 60_000);
        assert_eq!(scale(36_000_000.0).tick_step(), 3_600_000);
    }

    #[test]
    fn labels_take_the_first_free_lane() {
        let placed = place(&[(0.0, 100.0, 10.0), (50.0, 100.0, 10.0), (200.0, 30.0, 10.0)], 2);
        assert_eq!(placed, [Some((0, true)), Some((1, true)), Some((0, true))]);
        // No lane free: the label before is cut to its id to make room; then nothing is left.
        let crowded = place(&[(0.0, 100.0, 10.0), (20.0, 100.0, 10.0), (25.0, 50.0, 10.0)], 1);
        assert_eq!(crowded, [Some((0, false)), Some((0, true)), None]);
    }

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
    fn the_key_has_the_lab_line_and_one_line_per_shard() {
        let svg = render_svg(&sample());
        let doc = parse(&svg);
        let texts: Vec<String> =
            doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text().map(str::to_string)).collect();
        let at =
            |want: &str| texts.iter().position(|t| t.contains(want)).unwrap_or_else(|| panic!("{want}: {texts:?}"));
        let lab =
            at("lab: kill-primary injected at +8.0s on slots 5461-10922; ground truth: writes stopped for 4350ms");
        assert_eq!(at("slots 5461-10922 (acted on): writes stopped for 4350ms"), lab + 1);
        assert_eq!(at("slots 0-5460: writes stopped for 1020ms, probes measured 1100ms"), lab + 2);
    }
}
