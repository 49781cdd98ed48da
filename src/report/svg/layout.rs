//! Where things go in the picture: the time scale and its ticks, the markers (topology changes and lab steps)
//! and the lanes their labels take, and text widths estimated from the font size, so that labels fit without a
//! renderer to measure them.

use super::{MARGIN, MARKER_FONT, MAX_LANES, WIDTH};
use crate::probe::collect::TopologyRecord;
use crate::report::parts::{lab_steps, offset};
use crate::report::LabSummary;
use crate::topology::TopologyChange;

/// Least room between two tick labels (px).
const MIN_TICK_PX: f64 = 70.0;
/// Average glyph width as a share of the font size: a little over that of common sans-serif faces, so that
/// estimated text widths err on the wide side and labels placed side by side do not overlap.
const GLYPH: f64 = 0.62;

/// Estimated width of `text` at `size` (px).
pub(super) fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * GLYPH
}

/// `text`, cut with `…` to fit `max_px` at `size`.
pub(super) fn fit(text: &str, size: f64, max_px: f64) -> String {
    let max_chars = (max_px / (size * GLYPH)).floor().max(1.0) as usize;
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// Maps offsets (ms) to x positions.
pub(super) struct Scale {
    /// Where the time axis begins (px).
    pub(super) x0: f64,
    /// Where it ends (px).
    pub(super) x1: f64,
    /// The time it spans (ms).
    pub(super) span_ms: f64,
}

impl Scale {
    /// The x position of an offset, clamped to the axis.
    pub(super) fn x(&self, ms: f64) -> f64 {
        self.x0 + (self.x1 - self.x0) * (ms / self.span_ms).clamp(0.0, 1.0)
    }

    /// Tick spacing (ms): the smallest round step that leaves [`MIN_TICK_PX`] between labels.
    pub(super) fn tick_step(&self) -> u64 {
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
pub(super) fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// What a marker stands for; it sets the colour and the dash of its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MarkKind {
    /// A topology change the watcher saw.
    Topology,
    /// A step of the lab's scenario.
    Lab,
}

/// A vertical line on the timeline, with a short label above the rows and full lines in the key.
#[derive(Debug, Clone)]
pub(super) struct Marker {
    /// Offset of the line (ms).
    pub(super) at_ms: u64,
    /// Topology change or lab step.
    pub(super) kind: MarkKind,
    /// `T1`, `L1`: ties the line to its key lines.
    pub(super) id: String,
    /// What the label above the rows says after the id.
    pub(super) short: String,
    /// Key lines.
    pub(super) details: Vec<String>,
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
pub(super) fn markers(changes: &[TopologyRecord], lab: Option<&LabSummary>) -> Vec<Marker> {
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

/// Where each marker's label goes, parallel to `markers`: its lane and whether it is shown in full (see
/// [`place`]), and its left edge. A label goes right of its line, or left of it where it would leave the picture.
pub(super) fn label_positions(markers: &[Marker], scale: &Scale) -> (Vec<Option<(usize, bool)>>, Vec<f64>) {
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
    (placed, label_x)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
