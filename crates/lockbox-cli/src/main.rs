//! `lockbox`: AWS KMS operations on keys held in a PKCS#11 token. Thin: parses, calls, prints.
#![forbid(unsafe_code)]
// A command-line tool's job is to print.
#![allow(clippy::print_stdout)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod aws_options;
mod cli;
mod cli_input;
mod commands;
mod debug;
mod error;
mod files;
mod home;
mod logging;
mod output;
mod output_format;
mod params;
mod pipe;
mod profile;
mod progress;
mod remote;
mod run;
mod through_server;

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Before anything creates a file: whatever this process, SoftHSM or sled creates is
    // readable by its owner only (0600 files, 0700 directories), whatever the caller's umask.
    // Files Lockbox writes for the user (encrypt-file output, audit export) set their mode
    // explicitly where it matters.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    match run::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let silent = match &e {
                error::CliError::Usage => true,
                error::CliError::Served { message, .. } => message.is_empty(),
                _ => false,
            };
            if !silent {
                // Not eprintln!: with stderr closed too (`lockbox ... 2>&1 | head`) it would
                // panic; the exit code still tells.
                let _ = writeln!(std::io::stderr(), "{e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
