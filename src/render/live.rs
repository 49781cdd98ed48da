//! The live view on a terminal: a progress bar for the run, one line per target (endpoint, state, last
//! latency, length of an ongoing outage), and event lines printed above the bars as they happen.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::plain::describe;
use super::View;
use crate::events::Event;
use crate::probe::collect::Collector;
use crate::probe::fmt_ms;

/// Live bars.
pub struct LiveView {
    multi: MultiProgress,
    main: ProgressBar,
    rows: HashMap<(String, String), ProgressBar>,
    snapshot: Vec<ProgressBar>,
    duration: Duration,
    throttle: super::plain::ClientThrottle,
}

impl LiveView {
    /// A live view for a run of `duration`.
    pub fn new(duration: Duration, title: &str) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(10));
        let main = multi.add(ProgressBar::new(duration.as_millis() as u64));
        main.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30.cyan/blue}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        main.set_prefix(title.to_string());
        LiveView { multi, main, rows: HashMap::new(), snapshot: Vec::new(), duration, throttle: Default::default() }
    }

    fn row(&mut self, source: &str, name: &str) -> &ProgressBar {
        let multi = &self.multi;
        self.rows.entry((source.to_string(), name.to_string())).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(ProgressStyle::with_template("  {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
            bar
        })
    }
}

impl View for LiveView {
    fn show(&mut self, ev: &Event, _c: &Collector) {
        if let Event::Snapshot(lines) = ev {
            // The topology table, updated in place: one bar per line, reused.
            while self.snapshot.len() < lines.len() {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("  {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                self.snapshot.push(bar);
            }
            for (i, bar) in self.snapshot.iter().enumerate() {
                bar.set_message(lines.get(i).cloned().unwrap_or_default());
            }
            return;
        }
        if matches!(ev, Event::Client(c) if c.kind == crate::events::ClientEventKind::Error)
            || self.throttle.suppress(ev)
        {
            // Client errors come by the hundred during an outage; the rows and the summary count them.
            return;
        }
        if let Some(text) = describe(ev) {
            let _ = self.multi.println(crate::secret::scrub(&text));
        }
    }

    fn tick(&mut self, c: &Collector, elapsed: Duration) {
        let probes: u64 = c.targets().iter().map(|t| t.tracker.probes()).sum();
        let failed: u64 = c.targets().iter().map(|t| t.tracker.failures()).sum();
        let down = c.targets().iter().filter(|t| t.tracker.is_down()).count();
        self.main.set_position(elapsed.min(self.duration).as_millis() as u64);
        self.main.set_message(format!(
            "{} / {}  probes {probes}  failed {failed}  {}",
            fmt_ms(elapsed.as_millis() as u64),
            fmt_ms(self.duration.as_millis() as u64),
            if down == 0 { "all up".to_string() } else { format!("{down} DOWN") }
        ));
        for t in c.targets() {
            let state = if t.tracker.is_down() {
                let since = t.tracker.down_since().unwrap_or_default();
                format!("DOWN for {}", fmt_ms(elapsed.saturating_sub(since).as_millis() as u64))
            } else if t.tracker.probes() == 0 {
                "waiting".to_string()
            } else {
                "up".to_string()
            };
            let name = if t.source.is_empty() { t.name.clone() } else { format!("{}/{}", t.source, t.name) };
            let msg = format!(
                "{name:<28} {:<22} {state:<16} last {}",
                t.last_node.clone().unwrap_or_else(|| "-".into()),
                t.last_latency_ms.map(|l| format!("{l:.2}ms")).unwrap_or_else(|| "-".into()),
            );
            self.row(&t.source.clone(), &t.name.clone()).set_message(msg);
        }
    }

    fn finish(&mut self) {
        for bar in &self.snapshot {
            bar.finish_and_clear();
        }
        for bar in self.rows.values() {
            bar.finish_and_clear();
        }
        self.main.finish_and_clear();
        let _ = self.multi.clear();
    }
}
