//! The renderer: one owner of the terminal. A live view (indicatif bars, event lines above them) on a
//! terminal; plain timestamped lines otherwise. Chosen once; the collector never asks which it has.

mod live;
mod plain;

use std::time::Duration;

use crate::cli::OutputFormat;
use crate::events::Event;
use crate::probe::collect::Collector;

pub use live::LiveView;
pub use plain::{describe, PlainView, HEARTBEAT};

/// Something that shows a run while it happens.
pub trait View: Send {
    /// An event the collector has processed.
    fn show(&mut self, ev: &Event, c: &Collector);
    /// Called about every 100 ms: refresh bars, print heartbeats.
    fn tick(&mut self, c: &Collector, elapsed: Duration);
    /// The run is over: clear bars before the summary is printed.
    fn finish(&mut self);
}

/// Picks the view: live bars when stdout is a terminal and the output is tables; plain lines otherwise
/// (to stderr when stdout carries JSON, so stdout holds one document and nothing else).
pub fn choose(output: OutputFormat, duration: Duration, title: &str) -> Box<dyn View> {
    match output {
        OutputFormat::Table if crate::output::stdout_is_terminal() => Box::new(LiveView::new(duration, title)),
        OutputFormat::Table => Box::new(PlainView::stdout()),
        OutputFormat::Json => Box::new(PlainView::stderr()),
    }
}
