//! The picture itself: the verdict and subtitle on top, one row per target with its timeline and outage
//! windows, the time axis, the marker lines and their labels, then the legend and the key.

use svg::node::element::{Group, Line, Rectangle, Text, Title};
use svg::Document;

use super::layout::{fit, label_positions, markers, seconds, text_width, MarkKind, Marker, Scale};
use super::subtitle;
use super::{DEGRADED, DOWN, DOWN_TEXT, LAB, MUTED, NO_PROBE, OK, TOPOLOGY, TRUTH};
use super::{KEY_LINE_H, LABEL_FONT, LANE_H, MARGIN, MARKER_FONT, MAX_KEY_LINES, ROW_GAP, ROW_H, SMALL_FONT};
use super::{TITLE_FONT, WIDTH};
use crate::probe::collect::TargetReport;
use crate::probe::fmt_ms;
use crate::report::parts::{lab_block, run_verdict_line, target_label};
use crate::report::RunSummary;

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

/// The layout of one picture.
pub(super) struct Picture<'a> {
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
    /// Lays out the picture of `s`.
    pub(super) fn new(s: &'a RunSummary) -> Self {
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
        let (placed, label_x) = label_positions(&markers, &scale);
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

    /// Draws the laid-out picture.
    pub(super) fn draw(&self) -> Document {
        let s = self.s;
        let passed = s.verdict.is_passed();
        let verdict = run_verdict_line(s);
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
            lines.extend(lab_block(lab).into_iter().map(|l| ("", l, TRUTH)));
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
    use crate::report::render_svg;
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
