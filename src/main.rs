//! The binary: parse flags, run the library, turn the outcome into an exit code. Nothing else.

use redis_failover_probe::{cli, run};

fn main() {
    let (matches, cli) = match cli::try_parse_from(std::env::args_os()) {
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
