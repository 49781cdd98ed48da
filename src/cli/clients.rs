//! Flags of `clients`: the presets (list, show) and the real libraries (install, list installed).

use clap::{Args, Subcommand};

/// Flags of `clients`.
#[derive(Debug, Clone, Args)]
pub struct ClientsArgs {
    /// What to show (default: every preset, one line each).
    #[command(subcommand)]
    pub action: Option<ClientsAction>,
}

/// The `clients` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum ClientsAction {
    /// One preset's rules in full, with your overrides applied: PRESET[,param=value...].
    Show {
        /// e.g. `redis-py@8,dynamic-startup-nodes=false`.
        #[arg(value_name = "PRESET[,param=value...]")]
        spec: String,
    },
    /// Installs real client libraries into the cache directory, each in its own npm prefix or Python venv,
    /// for `--client real:LIB@VERSION`.
    Install {
        /// `node-redis@4`, `node-redis@5.12.1`, `ioredis@5`, `redis-py@8` (no version: the newest).
        #[arg(required = true, value_name = "LIB@VERSION")]
        libs: Vec<String>,
    },
    /// The real client libraries installed, with the version each resolved to and where it lives.
    List,
}
