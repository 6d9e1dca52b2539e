//! `--endpoint-url`: the KMS commands against a server instead of the local engine.

use lockbox_client::http_client::{EnvCredentials, HttpTransport};
use lockbox_client::remote::RemoteKms;

use crate::cli::RemoteArgs;
use crate::error::CliError;

/// A `Kms` for `endpoint`, signing with the environment's AWS credentials (as the AWS CLI
/// reads them) for `--region`, else the environment's region.
pub(crate) fn connect(endpoint: &str, args: &RemoteArgs) -> Result<RemoteKms, CliError> {
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
    let transport = builder
        .build()
        .map_err(|e| CliError::param("--endpoint-url", e.message()))?;
    Ok(RemoteKms::new(transport))
}
