//! redis-failover-probe: tells whether Redis connections survive a failover.
//!
//! The binary is a thin shell around [`run::main_with`]; everything else lives here so tests can drive it
//! in-process: flags ([`cli`]) become [`settings`], the [`connect`] factory makes fred clients, subcommands
//! ([`commands`]) wire the pieces and hand typed reports to [`output`].

// fred's command futures nest deeply; awaited inside the probe's generic SET/GET sequence their layout needs more
// than the default 128 levels of query depth on a clean build.
#![recursion_limit = "256"]

pub mod certs;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod connect;
pub mod credentials;
pub mod diagnose;
pub mod drivers;
pub mod duration;
pub mod errfmt;
pub mod error;
pub mod events;
pub mod exit;
pub mod incident;
pub mod inspect;
pub mod known_nodes;
pub mod lab;
pub mod matrix;
pub mod metrics;
pub mod mode;
pub mod notices;
pub mod output;
pub mod probe;
pub mod profiles;
pub mod render;
pub mod report;
pub mod run;
pub mod secret;
pub mod settings;
pub mod signals;
pub mod tls;
pub mod topology;
pub mod watch;

/// The tool's version and the fred version it was built with, for `--version`.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (fred ", env!("RFP_FRED_VERSION"), ")");
