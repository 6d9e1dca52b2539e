//! The AWS CLI's global options that a KMS user types without thinking: `--query`,
//! `--output`, `--profile` (with `~/.aws/config` and `~/.aws/credentials`, see `profile`).
//! `run` parses with [`parse`] and settles them with [`apply`] before anything else.

use std::sync::OnceLock;

use clap::{Args, CommandFactory, FromArgMatches};

use crate::cli::{AuditCommand, Cli, Command};
use crate::error::CliError;
use crate::output_format::{self, Format};
use crate::profile::{self, Resolved};

/// The AWS CLI's global options (besides --endpoint-url, --region and --ca-bundle).
#[derive(Args)]
pub(crate) struct AwsArgs {
    /// A JMESPath query applied to the response before it is printed, as the AWS CLI's
    #[arg(long, global = true, value_name = "JMESPATH")]
    pub(crate) query: Option<String>,
    /// How the response is printed: json (default), text (tab-separated), table or yaml; also
    /// $AWS_DEFAULT_OUTPUT or the profile's `output`
    // A string, not a `Format`: encrypt-file's, decrypt-file's and audit export's own
    // --output (a path) shares its id.
    #[arg(long, global = true, value_name = "FORMAT")]
    pub(crate) output: Option<String>,
    /// A profile of ~/.aws/config and ~/.aws/credentials ($AWS_CONFIG_FILE,
    /// $AWS_SHARED_CREDENTIALS_FILE): its region, endpoint_url, output and keys (default:
    /// $AWS_PROFILE, else `default`)
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) profile: Option<String>,
    /// Show each request to the endpoint and its response on standard error (plaintexts,
    /// private keys, shared secrets and signatures redacted; the secret access key never shown)
    #[arg(long, global = true)]
    pub(crate) debug: bool,
    /// DANGEROUS: do not check the endpoint's TLS certificate (anyone on the network path can
    /// pose as the server and read what is sent, plaintexts included); use --ca-bundle instead
    #[arg(long, global = true)]
    pub(crate) no_verify_ssl: bool,
    /// List commands make one call (its --limit and --marker) and print its raw response
    /// (NextMarker, Truncated) instead of fetching every page
    #[arg(long, global = true)]
    pub(crate) no_paginate: bool,
    /// The command's parameters as one JSON object of member names (or file://PATH); flags
    /// on the command line win. (Read by `cli_input` before parsing.)
    #[arg(long, global = true, value_name = "JSON")]
    pub(crate) cli_input_json: Option<String>,
    /// Print the command's parameters as the JSON --cli-input-json takes, and stop
    #[arg(long, global = true, value_name = "input", num_args = 0..=1)]
    pub(crate) generate_cli_skeleton: Option<Option<String>>,
}

static NO_PAGINATE: OnceLock<bool> = OnceLock::new();

/// The one call of `--no-paginate`: its Limit and Marker.
pub(crate) type OneCall = (Option<u32>, Option<String>);

/// With `--no-paginate`, the one call's limit and marker; `None` when pages are fetched as
/// usual. The AWS CLI's pagination flags do not go with `--no-paginate`, and `--limit` and
/// `--marker` go only with it.
pub(crate) fn raw_page(page: &crate::cli::PageArgs) -> Result<Option<OneCall>, CliError> {
    let given = [
        ("--page-size", page.page_size.is_some()),
        ("--max-items", page.max_items.is_some()),
        ("--starting-token", page.starting_token.is_some()),
    ];
    if NO_PAGINATE.get().copied().unwrap_or(false) {
        if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
            // The AWS CLI's words (and exit code).
            return Err(CliError::Setup(format!(
                "Error during pagination: Cannot specify --no-paginate along with pagination \
                 arguments: {flag}"
            )));
        }
        return Ok(Some((page.limit, page.marker.clone())));
    }
    for (flag, g) in [
        ("--limit", page.limit.is_some()),
        ("--marker", page.marker.is_some()),
    ] {
        if g {
            return Err(CliError::param(
                flag,
                "goes with --no-paginate (one call); without it, use --page-size and \
                 --starting-token",
            ));
        }
    }
    Ok(None)
}

/// `--debug` and `--no-verify-ssl`, for `remote`.
#[derive(Clone, Copy, Default)]
pub(crate) struct Transport {
    pub(crate) debug: bool,
    pub(crate) no_verify_ssl: bool,
}

static TRANSPORT: OnceLock<Transport> = OnceLock::new();

/// How this run talks to an endpoint.
pub(crate) fn transport() -> Transport {
    TRANSPORT.get().copied().unwrap_or_default()
}

/// Parses the command line, and names the operation (`create-key` prints as `CreateKey`, the
/// title of a table).
pub(crate) fn parse(args: Vec<std::ffi::OsString>) -> Result<(Cli, String), clap::Error> {
    let mut matches = Cli::command().try_get_matches_from(args)?;
    let operation = matches
        .subcommand_name()
        .map(pascal_case)
        .unwrap_or_default();
    let cli = Cli::from_arg_matches_mut(&mut matches)?;
    Ok((cli, operation))
}

fn pascal_case(kebab: &str) -> String {
    kebab
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

static RESOLVED: OnceLock<Resolved> = OnceLock::new();

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Settles the profile, endpoint, region and output format of this run: fills in
/// `--endpoint-url` and `--region` from the environment and the profile when the command line
/// does not give them (so a configured endpoint is used, never quietly the local directory),
/// and records how responses print.
pub(crate) fn apply(cli: &mut Cli, operation: String) -> Result<(), CliError> {
    let resolved = profile::resolve(
        &profile::Flags {
            profile: cli.aws.profile.as_deref(),
            endpoint_url: cli.remote.endpoint_url.as_deref(),
            region: cli.remote.region.as_deref(),
        },
        &env,
    )?;
    cli.remote.endpoint_url.clone_from(&resolved.endpoint_url);
    if cli.remote.ca_bundle.is_some() && cli.remote.endpoint_url.is_none() {
        return Err(CliError::param(
            "--ca-bundle",
            "goes with an endpoint: --endpoint-url, AWS_ENDPOINT_URL[_KMS] or the profile's \
             endpoint_url",
        ));
    }
    cli.remote.region.clone_from(&resolved.region);
    // Commands whose own --output is a path print no AWS response.
    let own_output = matches!(
        cli.command,
        Command::EncryptFile(_) | Command::DecryptFile(_) | Command::Audit(AuditCommand::Export(_))
    );
    let flag = cli.aws.output.as_deref().filter(|_| !own_output);
    let format = match (flag, &resolved.output) {
        (Some(name), _) => <Format as clap::ValueEnum>::from_str(name, false).map_err(|_| {
            CliError::param(
                "--output",
                format!("invalid choice {name:?}: valid choices are json, text, table, yaml"),
            )
        })?,
        (None, Some(name)) => <Format as clap::ValueEnum>::from_str(name, true).map_err(|_| {
            CliError::param(
                "--output",
                format!(
                    "the configured output format {name:?} ($AWS_DEFAULT_OUTPUT or the \
                         profile's `output`) is not one of json, text, table, yaml"
                ),
            )
        })?,
        (None, None) => Format::Json,
    };
    output_format::configure(output_format::Settings {
        query: cli.aws.query.clone(),
        format,
        raw_page: cli.aws.no_paginate && operation.starts_with("List"),
        operation,
    })?;
    let _ = RESOLVED.set(resolved);
    let _ = NO_PAGINATE.set(cli.aws.no_paginate);
    let _ = TRANSPORT.set(Transport {
        debug: cli.aws.debug,
        no_verify_ssl: cli.aws.no_verify_ssl,
    });
    if cli.aws.debug && cli.remote.endpoint_url.is_none() {
        crate::debug::say(
            "no endpoint: this command runs on the local data directory and sends no requests",
        );
    }
    Ok(())
}

/// The credentials to sign with, from the environment or the profile (see `profile`).
pub(crate) fn credentials() -> Result<(String, lockbox_client::SecretKey), CliError> {
    match RESOLVED.get() {
        Some(r) => r.credentials(&env),
        None => profile::resolve(
            &profile::Flags {
                profile: None,
                endpoint_url: None,
                region: None,
            },
            &env,
        )?
        .credentials(&env),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_global_options_fit_every_command() {
        // clap's own checks (duplicate flags among them), with the global options
        // propagated into every command.
        Cli::command().debug_assert();
    }

    #[test]
    fn operations_are_named_as_aws_names_them() {
        assert_eq!(pascal_case("create-key"), "CreateKey");
        assert_eq!(
            pascal_case("generate-data-key-without-plaintext"),
            "GenerateDataKeyWithoutPlaintext"
        );
    }
}
