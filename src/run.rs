//! One run: settings, the subcommand, and the error line with its exit code.

use crate::cli::{Cli, Command};
use crate::exit::ExitCode;

/// Runs a parsed command line to completion and returns the exit code; errors are printed here, once.
pub fn main_with(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::Connect;
        }
    };
    let result = runtime.block_on(dispatch(cli));
    // Background reconnect loops of closed clients must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", crate::secret::scrub(&format!("{e:#}")));
            crate::error::exit_code_of(&e)
        }
    }
}

/// Dispatches to the subcommand.
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = crate::settings::resolve(&cli.target)?;
    let c = &crate::commands::Ctx::new(settings)?;
    let code = match cli.command {
        Command::Status(args) => crate::commands::status::run(c, &args).await?,
        Command::ClusterInfo => crate::commands::cluster_info::run(c).await?,
        Command::Slots => crate::commands::slots::run(c).await?,
        Command::TestKeys(args) => crate::commands::test_keys::run(c, &args).await?,
        Command::ClientList => crate::commands::client_list::run(c).await?,
        Command::Health(args) => crate::commands::health::run(c, &args).await?,
        Command::ConnectionMode => crate::commands::connection_mode::run(c).await?,
        Command::Lab(args) => crate::commands::lab::run(c, &args).await?,
    };
    Ok(code)
}
