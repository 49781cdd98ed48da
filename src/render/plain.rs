//! Plain lines for logs and CI: one timestamped line per notable event, a heartbeat every 10 s, no escapes.
//!
//! Every line starts with the time it was printed, read from the run's one clock, so the stamps at the start
//! of the lines never go backwards. Events do not reach the view in the order they happened (an outage start
//! is known only once the result of the probe scheduled at that moment arrives, up to a timeout later; the lab
//! reports when writes resumed after the promotion it waited for): a line whose event happened at another
//! tenth of a second says so at its end, `(at +5.0s)`.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use super::{View, HEARTBEAT};
use crate::clock::{time_of_day, Stamp};
use crate::events::Event;
use crate::probe::collect::Collector;
use crate::probe::fmt_ms;

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
        // Library errors reach the view through many producers; none of their Debug text is printed.
        let text = crate::errfmt::without_debug(&crate::secret::scrub(text));
        if self.to_stderr {
            let _ = writeln!(std::io::stderr(), "{text}");
        } else {
            crate::output::write_stdout(&format!("{text}\n"));
        }
    }
}

fn prefix(stamp: &Stamp) -> String {
    format!("{} [+{:>6.1}s]", time_of_day(stamp), seconds(stamp))
}

fn seconds(stamp: &Stamp) -> f64 {
    stamp.offset_ms as f64 / 1000.0
}

/// The start of a line about an event that happened at `at` and is printed at `printed`, and the end that
/// gives the event's own time when the two differ at the tenth of a second shown.
fn stamps(at: &Stamp, printed: Option<&Stamp>) -> (String, String) {
    match printed {
        Some(p) if format!("{:.1}", seconds(p)) != format!("{:.1}", seconds(at)) => {
            (prefix(p), format!(" (at +{:.1}s)", seconds(at)))
        }
        Some(p) => (prefix(p), String::new()),
        None => (prefix(at), String::new()),
    }
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
    last: HashMap<(crate::events::ClientEventKind, Option<String>), Instant>,
}

impl ClientThrottle {
    /// Whether this event's line should be left out now.
    pub fn suppress(&mut self, ev: &Event) -> bool {
        let Event::Client(c) = ev else { return false };
        let key = (c.kind, c.server.clone());
        let now = Instant::now();
        if self.last.get(&key).is_some_and(|last| now.duration_since(*last) < Duration::from_secs(1)) {
            return true;
        }
        self.last.insert(key, now);
        false
    }
}

/// The one-line description of a notable event, stamped with the event's own time (`None` for routine ones
/// such as successful probes).
pub fn describe(ev: &Event) -> Option<String> {
    describe_at(ev, None)
}

/// The one-line description of a notable event printed at `printed` (see the module docs); with `None`, the
/// line starts with the event's own time.
pub fn describe_at(ev: &Event, printed: Option<&Stamp>) -> Option<String> {
    match ev {
        Event::Outage(o) if o.transition == crate::events::OutageTransition::Started => {
            let (start, at) = stamps(&o.stamp, printed);
            Some(format!(
                "{start} OUTAGE STARTED on {} ({}){at}",
                who(&o.source, &o.target),
                o.class.map(|c| c.to_string()).unwrap_or_default()
            ))
        }
        Event::Outage(o) => {
            let (start, at) = stamps(&o.stamp, printed);
            Some(format!(
                "{start} recovered: {} after {}{at}",
                who(&o.source, &o.target),
                fmt_ms(o.length_ms.unwrap_or(0))
            ))
        }
        Event::Topology(t) => {
            let (start, at) = stamps(&t.stamp, printed);
            let lines: Vec<String> = t
                .changes
                .iter()
                .map(|c| {
                    format!(
                        "{start} topology{}: {c}{at}",
                        if t.source.is_empty() { String::new() } else { format!(" ({})", t.source) }
                    )
                })
                .collect();
            Some(lines.join("\n"))
        }
        Event::Client(c) => {
            let (start, at) = stamps(&c.stamp, printed);
            Some(format!(
                "{start} client{} {}{}{}{at}",
                if c.source.is_empty() { String::new() } else { format!(" ({})", c.source) },
                c.kind,
                c.server.as_ref().map(|s| format!(" {s}")).unwrap_or_default(),
                if c.detail.is_empty() { String::new() } else { format!(": {}", crate::errfmt::readable(&c.detail)) }
            ))
        }
        Event::Lab(l) => {
            let (start, at) = stamps(&l.event.stamp, printed);
            Some(format!("{start} lab {}: {}{at}", l.kind_name(), l.event.detail))
        }
        Event::Notice(n) => {
            let (start, at) = stamps(&n.stamp, printed);
            Some(format!("{start} {}: {}{at}", n.kind, n.detail))
        }
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
    fn show(&mut self, ev: &Event, c: &Collector) {
        if self.throttle.suppress(ev) {
            return;
        }
        if let Some(text) = describe_at(ev, Some(&c.clock().now())) {
            self.line(&text);
        }
    }

    fn tick(&mut self, c: &Collector, elapsed: Duration) {
        if elapsed >= self.next_heartbeat {
            self.next_heartbeat += HEARTBEAT;
            self.line(&format!("{} {}", prefix(&c.clock().now()), heartbeat(c, elapsed)));
        }
    }

    fn finish(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::events::{ClientEvent, OutageEvent};
    use crate::probe::ErrorClass;

    fn at(clock: &Clock, ms: u64) -> Stamp {
        clock.stamp_at(clock.origin() + Duration::from_millis(ms))
    }

    #[test]
    fn a_late_line_starts_with_its_printing_time_and_ends_with_its_own() {
        let clock = Clock::start();
        let started = Event::Outage(OutageEvent {
            stamp: at(&clock, 5_000),
            source: String::new(),
            target: "0-5460".into(),
            transition: crate::events::OutageTransition::Started,
            class: Some(ErrorClass::Timeout),
            length_ms: None,
        });
        let line = describe_at(&started, Some(&at(&clock, 5_900))).unwrap();
        assert!(line.contains("[+   5.9s] OUTAGE STARTED on 0-5460 (timeout) (at +5.0s)"), "{line}");
        // Printed in the same tenth of a second: no second time.
        let line = describe_at(&started, Some(&at(&clock, 5_040))).unwrap();
        assert!(line.ends_with("OUTAGE STARTED on 0-5460 (timeout)"), "{line}");
        assert!(line.contains("[+   5.0s]"), "{line}");
        // Without a printing time (the live view), the event's own time.
        assert!(describe(&started).unwrap().contains("[+   5.0s] OUTAGE STARTED"));
    }

    #[test]
    fn client_errors_carry_no_debug_text() {
        let clock = Clock::start();
        let detail = format!("{:?}", std::io::Error::from_raw_os_error(111));
        let ev = Event::Client(ClientEvent {
            stamp: at(&clock, 5_100),
            source: String::new(),
            kind: crate::events::ClientEventKind::Error,
            server: Some("127.0.0.1:24881".into()),
            detail,
        });
        let line = describe_at(&ev, Some(&at(&clock, 5_100))).unwrap();
        assert!(line.ends_with("client error 127.0.0.1:24881: connection refused"), "{line}");
    }
}
