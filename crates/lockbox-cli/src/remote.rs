//! `--endpoint-url`: the KMS commands against a server instead of the local engine.

use lockbox_client::http_client::{EnvCredentials, HttpTransport};
use lockbox_client::remote::RemoteKms;

use lockbox_server::admin::CommandOutput;

use crate::cli::RemoteArgs;
use crate::error::CliError;

/// Runs one of Lockbox's own commands (this process's command line: `audit`, `doctor`,
/// `key-usage`, `maintain`) on the `lockbox serve` at `endpoint`, as an operator
/// (server.toml's `operators`); prints what it printed, or writes it to `output`.
pub(crate) fn run_admin(
    endpoint: &str,
    args: &RemoteArgs,
    output: Option<&str>,
) -> Result<(), CliError> {
    let transport = transport(endpoint, args)?;
    let body = serde_json::json!({ "Args": from_subcommand(std::env::args().skip(1)) });
    let (status, answer) = transport
        .post_admin(body.to_string().as_bytes())
        .map_err(|error| CliError::Kms {
            operation: "LockboxAdmin",
            error,
        })?;
    if !(200..300).contains(&status) {
        return Err(CliError::Kms {
            operation: "LockboxAdmin",
            error: lockbox_client::remote::error_from_response(status, &answer),
        });
    }
    let out: CommandOutput = serde_json::from_slice(&answer).map_err(|e| {
        CliError::Setup(format!(
            "--endpoint-url {endpoint}: a malformed answer: {e}"
        ))
    })?;
    crate::through_server::deliver(out, output)
}

/// The command line from the subcommand on: the global flags before it (`--endpoint-url`,
/// `--region`, `--ca-bundle` and their values) are this command's, not the server's.
fn from_subcommand(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        if ["--endpoint-url", "--region", "--ca-bundle"].contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with("--") {
            return std::iter::once(a).chain(args).collect();
        }
    }
    Vec::new()
}

/// A `Kms` for `endpoint`, signing with the environment's AWS credentials (as the AWS CLI
/// reads them) for `--region`, else the environment's region.
pub(crate) fn connect(endpoint: &str, args: &RemoteArgs) -> Result<RemoteKms, CliError> {
    Ok(RemoteKms::new(transport(endpoint, args)?))
}

fn transport(endpoint: &str, args: &RemoteArgs) -> Result<HttpTransport, CliError> {
    let creds = EnvCredentials::from_env()
        .map_err(|e| CliError::Setup(format!("--endpoint-url {endpoint}: {}", e.message())))?;
    let region = match (&args.region, creds.region()) {
        (Some(r), _) => r.clone(),
        (None, Some(r)) => r.to_owned(),
        (None, None) => {
            return Err(CliError::param(
                "--region",
                "no region: pass --region, or set AWS_REGION or AWS_DEFAULT_REGION",
            ));
        }
    };
    let (id, secret) = creds.into_key();
    let mut builder = HttpTransport::builder(endpoint, &region, id, secret);
    if let Some(ca) = &args.ca_bundle {
        builder = builder.ca_bundle(ca);
    }
    builder
        .build()
        .map_err(|e| CliError::param("--endpoint-url", e.message()))
}
