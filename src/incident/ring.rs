//! The baseline kept before an incident: the events of the last minute (by their run offset), at most a fixed
//! number of them, so an incident's record starts with what the cache looked like just before.

use std::collections::VecDeque;
use std::time::Duration;

use crate::events::Event;

/// The newest events within a time window, at most `cap` of them.
#[derive(Debug)]
pub struct Ring {
    window_ms: u64,
    cap: usize,
    events: VecDeque<Event>,
}

impl Ring {
    /// Keeps `window` of events, at most `cap`.
    pub fn new(window: Duration, cap: usize) -> Self {
        Ring { window_ms: super::duration_ms(window), cap: cap.max(1), events: VecDeque::new() }
    }

    /// Adds an event (snapshots are not kept: they are for the live view) and drops what fell out.
    pub fn push(&mut self, ev: Event) {
        let Some(at) = ev.stamp().map(|s| s.offset_ms) else { return };
        self.events.push_back(ev);
        while self.events.len() > self.cap {
            self.events.pop_front();
        }
        let from = at.saturating_sub(self.window_ms);
        while self.events.front().and_then(Event::stamp).is_some_and(|s| s.offset_ms < from) {
            self.events.pop_front();
        }
    }

    /// Takes everything kept, oldest first, and starts empty.
    pub fn take(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    /// How many events are kept.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}
