//! How the command fails: one line on stderr, and the AWS CLI's exit codes. Exit 1 is, as
//! for the AWS CLI's s3 transfers, "it ran, and some of what it did failed".

use std::fmt;

use lockbox::api::KmsError;
use lockbox_client::http_client::is_transport_failure;

/// A failed command.
pub(crate) enum CliError {
    /// The operation itself failed (exit 254, as the AWS CLI exits for service errors).
    Kms {
        /// The AWS operation name.
        operation: &'static str,
        /// What the engine said.
        error: KmsError,
    },
    /// A parameter could not be read or parsed (exit 252).
    Param {
        /// The flag, e.g. `--plaintext`.
        param: &'static str,
        /// What was wrong.
        message: String,
    },
    /// Lockbox could not start (configuration, token, store), or the token or store failed
    /// outside any AWS operation, as in `maintain` or `doctor` (exit 255).
    Setup(String),
    /// The command ran and printed its report, and the report shows work that failed or
    /// problems that remain (`maintain`, `doctor`; exit 1). Not 254: no AWS operation failed,
    /// and a script must tell "the check ran and found something" from "it could not run".
    Problems(String),
    /// The command line did not parse; clap has already said why (exit 252).
    Usage,
    /// A command a running server ran for this one (through its admin socket) failed: its
    /// exit code, and its error line as it was written (empty: nothing to print).
    Served {
        /// The exit code.
        code: u8,
        /// The error line.
        message: String,
    },
}

impl CliError {
    pub(crate) fn param(param: &'static str, message: impl Into<String>) -> Self {
        CliError::Param {
            param,
            message: message.into(),
        }
    }

    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            // No response came from the endpoint: the AWS CLI exits 255 for these.
            CliError::Kms { error, .. } if is_transport_failure(error) => 255,
            CliError::Kms { .. } => 254,
            CliError::Param { .. } | CliError::Usage => 252,
            CliError::Setup(_) => 255,
            CliError::Problems(_) => 1,
            CliError::Served { code, .. } => *code,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // As the AWS CLI prints them: botocore's message alone (`Could not connect to the
            // endpoint URL: "http://..."`).
            CliError::Kms { error, .. } if is_transport_failure(error) => {
                f.write_str(error.message())
            }
            CliError::Kms { operation, error } => write!(
                f,
                "An error occurred ({}) when calling the {operation} operation: {}",
                error.code(),
                error.message()
            ),
            CliError::Param { param, message } => {
                write!(f, "Error parsing parameter '{param}': {message}")
            }
            CliError::Setup(message) | CliError::Problems(message) => {
                write!(f, "lockbox: {message}")
            }
            CliError::Usage => f.write_str("lockbox: invalid command line"),
            CliError::Served { message, .. } => f.write_str(message),
        }
    }
}

impl From<lockbox::Error> for CliError {
    fn from(e: lockbox::Error) -> Self {
        // The chain, once: each source adds what the one above did not say.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            let line = s.to_string();
            if !text.contains(&line) {
                text.push_str(": ");
                text.push_str(&line);
            }
            source = s.source();
        }
        CliError::Setup(text)
    }
}

/// Attaches the operation name to an engine error.
pub(crate) trait OrKms<T> {
    fn op(self, operation: &'static str) -> Result<T, CliError>;
}

impl<T> OrKms<T> for Result<T, KmsError> {
    fn op(self, operation: &'static str) -> Result<T, CliError> {
        self.map_err(|error| CliError::Kms { operation, error })
    }
}
