//! `--endpoint-url`: the KMS commands against a server instead of the local engine.

use lockbox_client::http_client::HttpTransport;
use lockbox_client::remote::RemoteKms;

use crate::cli::RemoteArgs;
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
    let mut builder = HttpTransport::builder(endpoint, &region, id, secret);
    if let Some(ca) = &args.ca_bundle {
        builder = builder.ca_bundle(ca);
    }
    let transport = builder
        .build()
        .map_err(|e| CliError::param("--endpoint-url", e.message()))?;
    Ok(RemoteKms::new(transport))
}
