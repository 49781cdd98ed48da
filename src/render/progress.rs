//! A quiet view for runs with many sources (`matrix`): on stderr, the lab's steps and topology changes as they
//! happen, and every heartbeat one line counting the sources that are down; per-probe lines and per-client
//! events are left to the events file, because with a dozen clients they would bury the scenario.

use std::io::Write;
use std::time::Duration;

use super::plain::describe_at;
use crate::events::Event;
use crate::probe::collect::Collector;
use crate::probe::session::{View, HEARTBEAT};

/// Lab steps, topology changes and a heartbeat, on stderr, each line prefixed with `title`.
pub struct ProgressView {
    title: String,
    next_heartbeat: Duration,
}

impl ProgressView {
    /// A view whose lines start with `title` (e.g. `kill-primary`).
    pub fn new(title: &str) -> Self {
        ProgressView { title: title.to_string(), next_heartbeat: HEARTBEAT }
    }

    fn line(&self, text: &str) {
        let text = crate::errfmt::without_debug(&crate::secret::scrub(text));
        let _ = writeln!(std::io::stderr(), "{}: {text}", self.title);
    }
}

/// The sources with at least one target down, of all the sources: the heartbeat's figure.
pub fn sources_down(c: &Collector) -> (Vec<String>, usize) {
    let mut all: Vec<&str> = c.targets().iter().map(|t| t.source.as_str()).collect();
    all.dedup();
    let mut down: Vec<String> = c.targets().iter().filter(|t| t.tracker.is_down()).map(|t| t.source.clone()).collect();
    down.dedup();
    (down, all.len())
}

impl View for ProgressView {
    fn show(&mut self, ev: &Event, c: &Collector) {
        if matches!(ev, Event::Lab(_) | Event::Topology(_)) {
            if let Some(text) = describe_at(ev, Some(&c.clock().now())) {
                for line in text.lines() {
                    self.line(line);
                }
            }
        }
    }

    fn tick(&mut self, c: &Collector, elapsed: Duration) {
        if elapsed >= self.next_heartbeat {
            self.next_heartbeat += HEARTBEAT;
            let (down, of) = sources_down(c);
            let down_text = if down.is_empty() { "none".to_string() } else { down.join(", ") };
            self.line(&format!("+{}s: {} of {of} clients down: {down_text}", elapsed.as_secs(), down.len()));
        }
    }

    fn finish(&mut self) {}
}
