//! The renderer: one owner of the terminal. A live view (indicatif bars, event lines above them) on a
//! terminal; plain timestamped lines otherwise. Chosen once; the collector never asks which it has.

mod live;
mod plain;
mod progress;

use std::time::Duration;

use crate::output::OutputFormat;
pub use crate::probe::session::{View, HEARTBEAT};

pub use live::LiveView;
pub use plain::{describe, PlainView};
pub use progress::ProgressView;

/// Picks the view: live bars when stdout is a terminal and the output is tables; plain lines otherwise
/// (to stderr when stdout carries JSON, so stdout holds one document and nothing else).
pub fn choose(output: OutputFormat, duration: Duration, title: &str) -> Box<dyn View> {
    match output {
        OutputFormat::Table if crate::output::stdout_is_terminal() => Box::new(LiveView::new(duration, title)),
        OutputFormat::Table => Box::new(PlainView::stdout()),
        OutputFormat::Json => Box::new(PlainView::stderr()),
    }
}
