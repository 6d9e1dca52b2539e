//! `--endpoint-url`: the KMS commands against a server instead of the local engine.

use std::io::Write;

use lockbox_client::http_client::HttpTransport;
use lockbox_client::remote::RemoteKms;

use crate::cli::RemoteArgs;
use crate::debug::DebugTransport;
use crate::error::CliError;

/// A `Kms` for `endpoint`, signing with the AWS credentials of the environment or the profile
/// (as the AWS CLI finds them, see `profile`) for `--region` (which `aws_options::apply`
/// filled in from the environment or the profile).
pub(crate) fn connect(endpoint: &str, args: &RemoteArgs) -> Result<RemoteKms, CliError> {
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
    if options.debug {
        return Ok(RemoteKms::new(DebugTransport::new(
            transport, endpoint, &region, &key_id,
        )));
    }
    Ok(RemoteKms::new(transport))
}
