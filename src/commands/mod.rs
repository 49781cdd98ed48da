//! The subcommands: each file wires settings, the connection factory and a typed report; logic lives elsewhere.

pub mod client_list;
pub mod clients;
pub mod cluster_info;
pub mod compare;
pub mod connection_mode;
pub mod failover_recovery;
pub mod health;
pub mod lab;
pub mod matrix;
pub mod monitor;
pub mod rehearsal;
pub mod slots;
pub mod sources;
pub mod status;
pub mod test_keys;
pub mod watch;

use std::sync::Arc;

use crate::connect::Factory;
use crate::error::AppResult;
use crate::settings::Settings;

/// What every subcommand gets: the validated settings and the connection factory.
pub struct Ctx {
    /// Validated settings.
    pub settings: Settings,
    /// The raw target flags, for commands that resolve several targets (compare).
    pub raw_target: crate::cli::TargetArgs,
    /// The one connection factory.
    pub factory: Arc<Factory>,
}

impl Ctx {
    /// Builds the context once per run.
    pub fn new(settings: Settings, raw_target: crate::cli::TargetArgs) -> AppResult<Self> {
        let factory = Arc::new(Factory::new(settings.target.clone())?);
        Ok(Ctx { settings, raw_target, factory })
    }
}
