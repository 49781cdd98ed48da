//! A one-line picture of a target over the planned run: a fixed number of
//! buckets, each remembering how many probes in its slice of time succeeded
//! and failed, so memory does not grow with the run.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What one bucket of the strip shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cell {
    /// Every probe in the bucket succeeded.
    Ok,
    /// Some probes failed, some succeeded.
    Degraded,
    /// Every probe in the bucket failed.
    Down,
    /// No probe fell in the bucket.
    Empty,
}

impl Cell {
    /// The character [`TimelineStrip::render`] uses: `.`, `~`, `X` or space.
    pub fn as_char(self) -> char {
        match self {
            Cell::Ok => '.',
            Cell::Degraded => '~',
            Cell::Down => 'X',
            Cell::Empty => ' ',
        }
    }
}

/// Probe counts of one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Bucket {
    ok: u64,
    failed: u64,
}

impl Bucket {
    fn cell(self) -> Cell {
        match (self.ok, self.failed) {
            (0, 0) => Cell::Empty,
            (_, 0) => Cell::Ok,
            (0, _) => Cell::Down,
            _ => Cell::Degraded,
        }
    }
}

/// Fixed-width success/failure strip over the planned run duration.
#[derive(Debug, Clone)]
pub struct TimelineStrip {
    duration: Duration,
    buckets: Vec<Bucket>,
}

impl TimelineStrip {
    /// A strip of `width` buckets (at least one) covering `duration`.
    pub fn new(duration: Duration, width: usize) -> Self {
        TimelineStrip { duration, buckets: vec![Bucket::default(); width.max(1)] }
    }

    /// Number of buckets.
    pub fn width(&self) -> usize {
        self.buckets.len()
    }

    /// The planned duration the strip spans.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Bucket index of `offset`; past the duration means the last bucket.
    fn index(&self, offset: Duration) -> usize {
        let last = self.buckets.len() - 1;
        let total = self.duration.as_nanos();
        if total == 0 {
            return last;
        }
        let i = offset.as_nanos().saturating_mul(self.buckets.len() as u128) / total;
        usize::try_from(i).unwrap_or(last).min(last)
    }

    /// Records one probe result at its scheduled `offset`.
    pub fn record(&mut self, offset: Duration, ok: bool) {
        let i = self.index(offset);
        let b = &mut self.buckets[i];
        if ok {
            b.ok += 1;
        } else {
            b.failed += 1;
        }
    }

    /// The state of every bucket, in time order.
    pub fn cells(&self) -> Vec<Cell> {
        self.buckets.iter().map(|b| b.cell()).collect()
    }

    /// One character per bucket: `.` all ok, `~` degraded, `X` all failed,
    /// space for no probe.
    pub fn render(&self) -> String {
        self.buckets.iter().map(|b| b.cell().as_char()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn renders_a_known_pattern() {
        // 10 s in 10 buckets of 1 s, probes every 250 ms.
        let mut strip = TimelineStrip::new(Duration::from_secs(10), 10);
        for i in 0..40u64 {
            let at = i * 250;
            let ok = match at {
                0..=2999 => true,
                3000..=3499 => false,    // bucket 3 degraded
                3500..=3999 => true,     //
                4000..=5999 => false,    // buckets 4 and 5 down
                6000..=6249 => false,    // bucket 6 degraded
                7000..=7999 => continue, // bucket 7 empty
                _ => true,
            };
            strip.record(ms(at), ok);
        }
        assert_eq!(strip.render(), "...~XX~ ..");
        assert_eq!(
            strip.cells(),
            vec![
                Cell::Ok,
                Cell::Ok,
                Cell::Ok,
                Cell::Degraded,
                Cell::Down,
                Cell::Down,
                Cell::Degraded,
                Cell::Empty,
                Cell::Ok,
                Cell::Ok
            ]
        );
    }

    #[test]
    fn past_the_end_lands_in_the_last_bucket() {
        let mut strip = TimelineStrip::new(Duration::from_secs(4), 4);
        strip.record(ms(3999), true);
        strip.record(ms(4000), false);
        strip.record(Duration::from_secs(3600), false);
        assert_eq!(strip.render(), "   ~");
    }

    #[test]
    fn uneven_widths_and_empty() {
        let strip = TimelineStrip::new(Duration::from_secs(1), 0);
        assert_eq!(strip.width(), 1);
        assert_eq!(strip.render(), " ");

        let mut strip = TimelineStrip::new(Duration::from_secs(1), 3);
        strip.record(ms(333), false); // 333 * 3 / 1000 = 0
        strip.record(ms(334), true); // 1002 / 1000 = 1
        strip.record(ms(999), true);
        assert_eq!(strip.render(), "X..");

        let mut zero = TimelineStrip::new(Duration::ZERO, 2);
        zero.record(ms(0), true);
        assert_eq!(zero.render(), " .");
    }

    #[test]
    fn cells_json() {
        let mut strip = TimelineStrip::new(Duration::from_secs(2), 2);
        strip.record(ms(0), false);
        assert_eq!(serde_json::to_string(&strip.cells()).unwrap(), r#"["down","empty"]"#);
    }
}
