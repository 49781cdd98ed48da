//! One source of time for a run: a monotonic origin for offsets and durations, wall clock only for records.

use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

/// The start of a run. Offsets are measured from it with the monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    wall_origin: SystemTime,
}

/// A moment in a run: wall time for people, monotonic offset for maths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Wall-clock time, RFC 3339 with milliseconds, UTC.
    pub wall: String,
    /// Milliseconds since the run started (monotonic).
    pub offset_ms: u64,
}

impl Clock {
    /// Starts the clock now.
    pub fn start() -> Self {
        Clock { origin: Instant::now(), wall_origin: SystemTime::now() }
    }

    /// The monotonic origin.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// Time since the origin.
    pub fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }

    /// The stamp of an instant (monotonic), with the wall time derived from the same origin so the two agree.
    pub fn stamp_at(&self, at: Instant) -> Stamp {
        let offset = at.saturating_duration_since(self.origin);
        Stamp { wall: wall_string(self.wall_origin + offset), offset_ms: offset.as_millis() as u64 }
    }

    /// The stamp of now.
    pub fn now(&self) -> Stamp {
        self.stamp_at(Instant::now())
    }

    /// The same clock with its origin `by` later: offsets count from there, wall times stay what they were (an
    /// incident of a long `watch` run is its own run, from a minute before its start).
    pub fn shifted(&self, by: Duration) -> Clock {
        Clock { origin: self.origin + by, wall_origin: self.wall_origin + by }
    }
}

/// RFC 3339 UTC with milliseconds.
pub fn wall_string(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// The time-of-day part (`HH:MM:SS.mmm`) of a stamp, for plain log lines.
pub fn time_of_day(stamp: &Stamp) -> &str {
    stamp.wall.get(11..23).unwrap_or(&stamp.wall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_agree_with_offsets() {
        let c = Clock::start();
        let s = c.stamp_at(c.origin() + Duration::from_millis(1500));
        assert_eq!(s.offset_ms, 1500);
        assert!(s.wall.ends_with('Z') && s.wall.len() == 24, "{}", s.wall);
        assert_eq!(time_of_day(&s).len(), 12);
    }
}
