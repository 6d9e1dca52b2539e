//! The log of `lockbox serve`: `tracing` events written to standard error, one line each,
//! as text or as JSON (`--log-format`), filtered by `RUST_LOG` (default `info`: startup, one
//! line per request, shutdown; `RUST_LOG=debug` adds connection events, `warn` keeps only
//! problems). Standard output keeps what `serve` prints for its user (the endpoint and the
//! shell lines); the log goes to standard error so that a supervisor (journald) collects it.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::error::CliError;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// `<time> <LEVEL> <target>: <message> field=value ...`
    #[default]
    Text,
    /// One JSON object a line: `timestamp`, `level`, `target`, `message` and the event's
    /// fields
    Json,
}

/// Installs the log for this process. `RUST_LOG` selects levels (`tracing_subscriber`'s
/// `EnvFilter` syntax, e.g. `info`, `warn,lockbox_server::request=info`); a filter that does
/// not parse is an error naming it rather than a silent default.
pub(crate) fn init(format: LogFormat) -> Result<(), CliError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec)
            .map_err(|e| CliError::Setup(format!("RUST_LOG={spec}: {e}")))?,
        _ => EnvFilter::new("info"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(format == LogFormat::Text && std::io::stderr().is_terminal());
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    installed.map_err(|e| CliError::Setup(format!("cannot install the log: {e}")))
}
