//! The binary: parse flags, run the library, turn the outcome into an exit code. Nothing else.

use clap::{CommandFactory, FromArgMatches};
use redis_failover_probe::{cli::Cli, run};

fn main() {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if matches.value_source("access_key") == Some(clap::parser::ValueSource::CommandLine) {
        eprintln!("warning: --access-key on the command line is visible in ps and shell history; prefer REDIS_ACCESS_KEY");
    }
    std::process::exit(run::main_with(cli).code());
}
