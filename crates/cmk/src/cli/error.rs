//! What a command can fail with, and the exit status each failure gives scripts.

use std::fmt;
use std::process::ExitCode;

/// Exit statuses, as documented in `docs/cli.md`.
pub const EXIT_REFUSED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_NOT_FOUND: u8 = 3;
pub const EXIT_AUTHENTICATION: u8 = 4;
pub const EXIT_UNREACHABLE: u8 = 5;

#[derive(Debug)]
pub enum CliError {
    /// The command line was wrong in a way the parser could not see.
    Usage(String),
    /// The server answered with an error.
    Server { status: u16, code: String, message: String },
    /// No login, or the login no longer works.
    NotLoggedIn(String),
    /// The server could not be reached.
    Unreachable(String),
    /// A local failure: a file, the terminal.
    Local(String),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Server { status: 404, .. } => EXIT_NOT_FOUND,
            CliError::Server { status: 401, .. } | CliError::NotLoggedIn(_) => EXIT_AUTHENTICATION,
            CliError::Server { .. } | CliError::Local(_) => EXIT_REFUSED,
            CliError::Unreachable(_) => EXIT_UNREACHABLE,
        })
    }

    pub fn local(context: &str, error: impl fmt::Display) -> Self {
        CliError::Local(format!("{context}: {error}"))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(message) | CliError::Local(message) | CliError::Unreachable(message) => {
                write!(f, "ERROR: {message}")
            }
            CliError::Server { code, message, .. } => write!(f, "ERROR: ({code}) {message}"),
            CliError::NotLoggedIn(message) => write!(f, "ERROR: {message}"),
        }
    }
}
