//! `--endpoint-url`: the KMS commands against a server instead of the local engine.

use std::io::Write;

use lockbox_client::http_client::HttpTransport;
use lockbox_client::remote::RemoteKms;

use lockbox_server::admin::CommandOutput;

use crate::cli::RemoteArgs;
use crate::debug::DebugTransport;
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
/// `--region`, `--ca-bundle`, `--profile`, `--query`, `--output`, ... and their values) are
/// this command's, not the server's.
fn from_subcommand(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        if [
            "--endpoint-url",
            "--region",
            "--ca-bundle",
            "--profile",
            "--query",
            "--output",
            "--cli-input-json",
        ]
        .contains(&a.as_str())
        {
            args.next();
        } else if !a.starts_with("--") {
            return std::iter::once(a).chain(args).collect();
        }
    }
    Vec::new()
}

/// A `Kms` for `endpoint`, signing with the AWS credentials of the environment or the profile
/// (as the AWS CLI finds them, see `profile`) for `--region` (which `aws_options::apply`
/// filled in from the environment or the profile); `--debug` shows its exchanges.
pub(crate) fn connect(endpoint: &str, args: &RemoteArgs) -> Result<RemoteKms, CliError> {
    let (transport, region, key_id) = transport_for(endpoint, args)?;
    if crate::aws_options::transport().debug {
        return Ok(RemoteKms::new(DebugTransport::new(
            transport, endpoint, &region, &key_id,
        )));
    }
    Ok(RemoteKms::new(transport))
}

fn transport(endpoint: &str, args: &RemoteArgs) -> Result<HttpTransport, CliError> {
    transport_for(endpoint, args).map(|(t, _, _)| t)
}

/// The signed transport to `endpoint`, with the Region and access key id it signs with.
fn transport_for(
    endpoint: &str,
    args: &RemoteArgs,
) -> Result<(HttpTransport, String, String), CliError> {
    let (id, secret) = crate::aws_options::credentials().map_err(|e| match e {
        CliError::Setup(m) => CliError::Setup(format!("--endpoint-url {endpoint}: {m}")),
        other => other,
    })?;
    let Some(region) = args.region.clone() else {
        return Err(CliError::param(
            "--region",
            "no region: pass --region, or set AWS_REGION or AWS_DEFAULT_REGION, or the \
             profile's region",
        ));
    };
    let options = crate::aws_options::transport();
    let key_id = id.clone();
    let mut builder = HttpTransport::builder(endpoint, &region, id, secret);
    if let Some(ca) = &args.ca_bundle {
        builder = builder.ca_bundle(ca);
    }
    if options.no_verify_ssl {
        // As the AWS CLI warns (urllib3's InsecureRequestWarning), on every run.
        let _ = writeln!(
            std::io::stderr(),
            "lockbox: warning: --no-verify-ssl: the TLS certificate of {endpoint} is not checked. \
             Anyone on the network path can pose as the server and read what is sent, \
             plaintexts included. Use --ca-bundle with the server's CA instead."
        );
        builder = builder.danger_no_verify_tls();
    }
    let transport = builder
        .build()
        .map_err(|e| CliError::param("--endpoint-url", e.message()))?;
    Ok((transport, region, key_id))
}
