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
            AppError::Interrupted => ExitCode::Interrupted,
        }
    }
}

/// Shorthand for results whose error ends a run.
pub type AppResult<T> = Result<T, AppError>;

/// The exit code for any error that reaches `main`: an [`AppError`] anywhere in the chain decides it,
/// anything else is treated as a connection-level failure.
pub fn exit_code_of(err: &anyhow::Error) -> ExitCode {
    err.chain().find_map(|e| e.downcast_ref::<AppError>()).map(AppError::exit_code).unwrap_or(ExitCode::Connect)
}
