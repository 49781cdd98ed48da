//! The binary: parse flags, run the library, turn the outcome into an exit code. Nothing else.

use clap::{CommandFactory, FromArgMatches};
use redis_failover_probe::{cli::Cli, run};

fn main() {
    let parsed = Cli::command().try_get_matches().and_then(|m| Cli::from_arg_matches(&m).map(|cli| (m, cli)));
    let (matches, cli) = match parsed {
        Ok(pair) => pair,
        Err(e) => run::clap_exit(e),
    };
    if matches.value_source("access_key") == Some(clap::parser::ValueSource::CommandLine) {
        eprintln!(
            "warning: --access-key on the command line is visible in ps and shell history; prefer REDIS_ACCESS_KEY"
        );
    }
    std::process::exit(run::main_with(cli).code());
}
