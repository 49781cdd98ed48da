//! Plain lines for logs and CI: one timestamped line per notable event, a heartbeat every 10 s, no escapes.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use super::View;
use crate::clock::{time_of_day, Stamp};
use crate::events::Event;
use crate::probe::collect::Collector;
use crate::probe::fmt_ms;

/// How often the heartbeat line is printed.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// Plain-line view.
pub struct PlainView {
    to_stderr: bool,
    next_heartbeat: Duration,
    throttle: ClientThrottle,
}

impl PlainView {
    /// Lines on stdout.
    pub fn stdout() -> Self {
        PlainView { to_stderr: false, next_heartbeat: HEARTBEAT, throttle: ClientThrottle::default() }
    }

    /// Lines on stderr.
    pub fn stderr() -> Self {
        PlainView { to_stderr: true, ..Self::stdout() }
    }

    fn line(&self, text: &str) {
        let text = crate::secret::scrub(text);
        if self.to_stderr {
            let _ = writeln!(std::io::stderr(), "{text}");
        } else {
            crate::output::write_stdout(&format!("{text}\n"));
        }
    }
}

fn prefix(stamp: &Stamp) -> String {
    format!("{} [+{:>6.1}s]", time_of_day(stamp), stamp.offset_ms as f64 / 1000.0)
}

fn who(source: &str, target: &str) -> String {
    if source.is_empty() {
        target.to_string()
    } else {
        format!("{source}/{target}")
    }
}

/// Client events can come by the hundred during an outage (errors, resyncs on every reconnect attempt): one line
/// per kind and server per second is shown; the summary counts them all.
#[derive(Debug, Default)]
pub struct ClientThrottle {
    last: HashMap<(String, Option<String>), Instant>,
}

impl ClientThrottle {
    /// Whether this event's line should be left out now.
    pub fn suppress(&mut self, ev: &Event) -> bool {
        let Event::Client(c) = ev else { return false };
        let key = (c.kind.clone(), c.server.clone());
        let now = Instant::now();
        if self.last.get(&key).is_some_and(|last| now.duration_since(*last) < Duration::from_secs(1)) {
            return true;
        }
        self.last.insert(key, now);
        false
    }
}

/// The one-line description of a notable event (`None` for routine ones such as successful probes).
pub fn describe(ev: &Event) -> Option<String> {
    match ev {
        Event::Outage(o) if o.transition == "started" => Some(format!(
            "{} OUTAGE STARTED on {} ({})",
            prefix(&o.stamp),
            who(&o.source, &o.target),
            o.class.map(|c| c.to_string()).unwrap_or_default()
        )),
        Event::Outage(o) => Some(format!(
            "{} recovered: {} after {}",
            prefix(&o.stamp),
            who(&o.source, &o.target),
            fmt_ms(o.length_ms.unwrap_or(0))
        )),
        Event::Topology(t) => {
            let lines: Vec<String> = t
                .changes
                .iter()
                .map(|c| {
                    format!(
                        "{} topology{}: {c}",
                        prefix(&t.stamp),
                        if t.source.is_empty() { String::new() } else { format!(" ({})", t.source) }
                    )
                })
                .collect();
            Some(lines.join("\n"))
        }
        Event::Client(c) => Some(format!(
            "{} client{} {}{}{}",
            prefix(&c.stamp),
            if c.source.is_empty() { String::new() } else { format!(" ({})", c.source) },
            c.kind,
            c.server.as_ref().map(|s| format!(" {s}")).unwrap_or_default(),
            if c.detail.is_empty() { String::new() } else { format!(": {}", c.detail) }
        )),
        Event::Lab(l) => {
            let stamp: Option<Stamp> = l.get("stamp").and_then(|s| serde_json::from_value(s.clone()).ok());
            let kind = l.get("kind").and_then(|k| k.as_str()).unwrap_or("lab");
            let detail = l.get("detail").and_then(|k| k.as_str()).unwrap_or("");
            Some(format!("{} lab {kind}: {detail}", stamp.as_ref().map(prefix).unwrap_or_default()))
        }
        Event::Notice(n) => Some(format!("{} {}: {}", prefix(&n.stamp), n.kind, n.detail)),
        Event::Probe(_) | Event::Snapshot(_) => None,
    }
}

/// The heartbeat line: probes so far and which targets are down.
pub fn heartbeat(c: &Collector, elapsed: Duration) -> String {
    let probes: u64 = c.targets().iter().map(|t| t.tracker.probes()).sum();
    let failed: u64 = c.targets().iter().map(|t| t.tracker.failures()).sum();
    let down: Vec<String> = c
        .targets()
        .iter()
        .filter(|t| t.tracker.is_down())
        .map(|t| {
            let since = t.tracker.down_since().unwrap_or_default();
            format!("{} (for {})", who(&t.source, &t.name), fmt_ms(elapsed.saturating_sub(since).as_millis() as u64))
        })
        .collect();
    format!(
        "heartbeat: {probes} probes, {failed} failed; down: {}",
        if down.is_empty() { "none".to_string() } else { down.join(", ") }
    )
}

impl View for PlainView {
    fn show(&mut self, ev: &Event, _c: &Collector) {
        if self.throttle.suppress(ev) {
            return;
        }
        if let Some(text) = describe(ev) {
            self.line(&text);
        }
    }

    fn tick(&mut self, c: &Collector, elapsed: Duration) {
        if elapsed >= self.next_heartbeat {
            self.next_heartbeat += HEARTBEAT;
            let wall = crate::clock::wall_string(std::time::SystemTime::now());
            let stamp = Stamp { wall, offset_ms: elapsed.as_millis() as u64 };
            self.line(&format!("{} {}", prefix(&stamp), heartbeat(c, elapsed)));
        }
    }

    fn finish(&mut self) {}
}
