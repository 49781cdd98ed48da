//! One run: settings, the subcommand, and the error line with its exit code.

use crate::cli::{Cli, Command};
use crate::error::{AppError, AppResult};
use crate::exit::ExitCode;

/// Runs a parsed command line to completion and returns the exit code; errors are printed here, once.
pub fn main_with(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let err = AppError::Local(format!("cannot start the async runtime: {e}"));
            eprintln!("error: {err}");
            return err.exit_code();
        }
    };
    let result = runtime.block_on(dispatch(cli));
    // Background reconnect loops of closed clients must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", crate::secret::scrub(&e.to_string()));
            e.exit_code()
        }
    }
}

/// Dispatches to the subcommand. Every error is an [`AppError`], so its type decides the exit code.
pub async fn dispatch(cli: Cli) -> AppResult<ExitCode> {
    match &cli.command {
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut crate::cli::command(), "redis-failover-probe", &mut out);
            crate::output::write_stdout(&String::from_utf8_lossy(&out));
            return Ok(ExitCode::Ok);
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(crate::cli::command())
                .render(&mut out)
                .map_err(|e| AppError::Local(format!("cannot render the man page: {e}")))?;
            crate::output::write_stdout(&String::from_utf8_lossy(&out));
            return Ok(ExitCode::Ok);
        }
        _ => {}
    }
    let settings = crate::cli::resolve(&cli.target)?;
    let c = &crate::commands::Ctx::new(settings, cli.target.clone())?;
    let code = match cli.command {
        Command::Status(args) => crate::commands::status::run(c, &args).await?,
        Command::ClusterInfo => crate::commands::cluster_info::run(c).await?,
        Command::Slots => crate::commands::slots::run(c).await?,
        Command::TestKeys(args) => crate::commands::test_keys::run(c, &args).await?,
        Command::ClientList => crate::commands::client_list::run(c).await?,
        Command::Health(args) => crate::commands::health::run(c, &args).await?,
        Command::ConnectionMode => crate::commands::connection_mode::run(c).await?,
        Command::FailoverRecovery(args) => crate::commands::failover_recovery::run(c, &args).await?,
        Command::Compare(args) => crate::commands::compare::run(c, &args).await?,
        Command::Matrix(args) => crate::commands::matrix::run(c, &args).await?,
        Command::Monitor(args) => crate::commands::monitor::run(c, &args).await?,
        Command::Watch(args) => crate::commands::watch::run(c, &args).await?,
        Command::Clients(args) => crate::commands::clients::run(c, &args).await?,
        Command::Completions { .. } | Command::Man => ExitCode::Ok,
        Command::Lab(args) => crate::commands::lab::run(c, &args).await?,
    };
    Ok(code)
}

/// clap's message on one line: its first line, and when that ends with a colon (`the following required
/// arguments were not provided:`), what follows it.
fn one_line(text: &str) -> String {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("error: bad arguments").to_string();
    if !first.ends_with(':') {
        return first;
    }
    let rest: Vec<&str> = lines.take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more")).collect();
    format!("{first} {}", rest.join(", "))
}

/// Ends the process for a clap error: help and version as clap prints them, usage errors as one line (exit 2).
pub fn clap_exit(e: clap::Error) -> ! {
    if !e.use_stderr() {
        e.exit();
    }
    let text = e.render().to_string();
    eprintln!("{}", crate::secret::scrub(&one_line(&text)));
    std::process::exit(ExitCode::BadInput.code());
}

#[cfg(test)]
mod clap_line_tests {
    #[test]
    fn a_list_after_a_colon_joins_the_line() {
        let text = "error: the following required arguments were not provided:\n  --lab <SCENARIO,...>\n\nUsage: rfp matrix --lab <SCENARIO,...>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            super::one_line(text),
            "error: the following required arguments were not provided: --lab <SCENARIO,...>"
        );
        assert_eq!(super::one_line("error: invalid value 'x'\n\nFor more"), "error: invalid value 'x'");
    }
}
