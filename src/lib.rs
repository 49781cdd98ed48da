//! redis-failover-probe: tells whether Redis connections survive a failover.
//!
//! The binary is a thin shell around [`run::main_with`]; everything else lives here so tests can drive it
//! in-process: flags ([`cli`]) become [`settings`], the [`connect`] factory makes fred clients, subcommands
//! ([`commands`]) wire the pieces and hand typed reports to [`output`].

pub mod cli;
pub mod clock;
pub mod commands;
pub mod connect;
pub mod duration;
pub mod error;
pub mod exit;
pub mod inspect;
pub mod lab;
pub mod output;
pub mod probe;
pub mod profiles;
pub mod run;
pub mod secret;
pub mod settings;
pub mod signals;
pub mod tls;
pub mod topology;
