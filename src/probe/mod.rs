//! Pure probe bookkeeping, free of network and tasks: classifying failures,
//! latency percentiles, outage windows per target, a timeline strip and the
//! pass/fail verdict. The runner feeds results in; reports read summaries out.

pub mod collect;
pub mod engine;
pub mod exec;
pub mod fmt;
pub mod outage;
pub mod outcome;
pub mod plan;
pub mod session;
pub mod stats;
pub mod styles;
pub mod targets;
pub mod timeline;
pub mod verdict;

pub use fmt::{duration_ms, fmt_duration, fmt_ms};
pub use outage::{OutageTracker, OutageWindow, TargetSummary, Transition, MAX_WINDOWS};
pub use outcome::{classify, classify_message, ErrorClass, Op, ProbeOutcome};
pub use stats::{LatencyStats, LatencySummary};
pub use targets::ProbeTarget;
pub use timeline::{Cell, TimelineStrip};
pub use verdict::{judge, Verdict, VerdictPolicy};
