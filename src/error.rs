//! The errors a run can end with, each tied to an exit code. Probe failures are not here: they are data.

use crate::exit::ExitCode;

/// An error that ends a run. Its `Display` is the one line printed on stderr (scrubbed of secrets there).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input from the user: flags, URLs, durations, profiles, files.
    #[error("{0}")]
    BadInput(String),
    /// The server is not what `--mode` says it is.
    #[error("{0}")]
    WrongMode(String),
    /// Cannot reach the server, or it refused the connection or the TLS handshake.
    #[error("{0}")]
    Connect(String),
    /// The server refused the credentials.
    #[error("{0}")]
    Auth(String),
    /// The lab could not start or run a scenario.
    #[error("lab: {0}")]
    Lab(String),
    /// A local failure unrelated to the target: the runtime could not start, output could not be rendered.
    #[error("{0}")]
    Local(String),
    /// A real client's driver could not run (not installed, runtime missing, crashed, hung, broke the protocol).
    #[error("{0}")]
    Driver(String),
    /// The run was interrupted.
    #[error("interrupted")]
    Interrupted,
}

impl AppError {
    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            AppError::BadInput(_) | AppError::WrongMode(_) => ExitCode::BadInput,
            AppError::Connect(_) | AppError::Auth(_) => ExitCode::Connect,
            AppError::Lab(_) => ExitCode::Lab,
            AppError::Local(_) => ExitCode::Local,
            AppError::Driver(_) => ExitCode::Driver,
            AppError::Interrupted => ExitCode::Interrupted,
        }
    }
}

/// Shorthand for results whose error ends a run.
pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_carries_its_exit_code() {
        let cases = [
            (AppError::BadInput("x".into()), 2),
            (AppError::WrongMode("x".into()), 2),
            (AppError::Connect("x".into()), 3),
            (AppError::Auth("x".into()), 3),
            (AppError::Lab("x".into()), 4),
            (AppError::Local("x".into()), 5),
            (AppError::Driver("x".into()), 6),
            (AppError::Interrupted, 130),
        ];
        for (err, code) in cases {
            assert_eq!(err.exit_code().code(), code, "{err:?}");
        }
    }
}
