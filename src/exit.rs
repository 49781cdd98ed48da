//! Exit codes: the contract a runbook or CI job branches on.

/// How a run ended, as the process exit code. Documented in `--help` and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    /// Everything asked for was done and every check passed.
    Ok,
    /// The run completed but a check failed (not recovered, outage too long, lost write, a failed health check).
    CheckFailed,
    /// Usage or bad input: malformed URL, bad duration, unknown profile, wrong `--mode` for the server, unwritable file.
    BadInput,
    /// Cannot connect or authenticate: refused, unreachable, timed out, wrong password, TLS failure.
    Connect,
    /// The local lab could not be started (redis-server or haproxy missing, a node did not come up).
    Lab,
    /// A local failure that has nothing to do with the target: the async runtime could not start, generated
    /// output (man page, completions) could not be rendered.
    Local,
    /// A real client's driver could not run: its library is not installed, `node`/`npm`/`python3` is missing,
    /// or the driver crashed, hung or printed something that is not the protocol.
    Driver,
    /// Interrupted by Ctrl-C or SIGTERM; partial results were written.
    Interrupted,
}

impl ExitCode {
    /// The numeric process exit code.
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Ok => 0,
            ExitCode::CheckFailed => 1,
            ExitCode::BadInput => 2,
            ExitCode::Connect => 3,
            ExitCode::Lab => 4,
            ExitCode::Local => 5,
            ExitCode::Driver => 6,
            ExitCode::Interrupted => 130,
        }
    }

    /// Combines the outcome of two parts of a run: the more serious one wins.
    pub fn merge(self, other: ExitCode) -> ExitCode {
        fn rank(c: ExitCode) -> u8 {
            match c {
                ExitCode::Ok => 0,
                ExitCode::CheckFailed => 1,
                ExitCode::Lab => 2,
                ExitCode::Connect => 3,
                ExitCode::Local => 4,
                ExitCode::Driver => 5,
                ExitCode::BadInput => 6,
                ExitCode::Interrupted => 7,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// The exit-code table shown at the end of `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    ok: every check passed
  1    a check failed (not recovered, outage longer than --max-outage, lost write, failed health check)
  2    usage or bad input (malformed URL, bad duration, unknown profile, wrong --mode, unwritable file)
  3    cannot connect or authenticate (refused, unreachable, timeout, wrong password, TLS)
  4    the local lab could not start (redis-server or haproxy missing, a node did not come up)
  5    a local failure unrelated to the target (the async runtime could not start, output could not be rendered)
  6    a real client's driver could not run (library not installed, node/npm/python3 missing, driver crashed,
       hung or broke the protocol)
  130  interrupted (Ctrl-C / SIGTERM); partial results were printed and written (watch: 0, its normal end)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_the_more_serious_code() {
        assert_eq!(ExitCode::Ok.merge(ExitCode::CheckFailed), ExitCode::CheckFailed);
        assert_eq!(ExitCode::CheckFailed.merge(ExitCode::Ok), ExitCode::CheckFailed);
        assert_eq!(ExitCode::Connect.merge(ExitCode::CheckFailed), ExitCode::Connect);
        assert_eq!(ExitCode::CheckFailed.merge(ExitCode::Interrupted), ExitCode::Interrupted);
    }

    #[test]
    fn codes_are_the_documented_numbers() {
        let all = [
            ExitCode::Ok,
            ExitCode::CheckFailed,
            ExitCode::BadInput,
            ExitCode::Connect,
            ExitCode::Lab,
            ExitCode::Local,
            ExitCode::Driver,
            ExitCode::Interrupted,
        ];
        for c in all {
            assert!(EXIT_CODES_HELP.contains(&format!("  {} ", c.code())));
        }
    }
}
