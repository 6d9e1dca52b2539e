//! sign, verify, get-public-key: the asymmetric SIGN_VERIFY keys (and the public half of any
//! asymmetric key).
//!
//! The message is read like any blob (`fileb://` or base64) into a zeroizing buffer and never
//! printed. Signatures and public keys are not secret; `--signature-out` and
//! `--public-key-out` write them raw (to a 0600 file, as every raw output is written).

use lockbox::api::*;
use serde::Serialize;

use super::crypto::{blob_answer, divert};
use crate::cli::{GetPublicKeyArgs, SignArgs, VerifyArgs};
use crate::error::{CliError, OrKms};
use crate::output::{b64, print_json};
use crate::params;

fn message_type(op: &'static str, s: Option<&String>) -> Result<Option<MessageType>, CliError> {
    s.map(|s| s.parse()).transpose().op(op)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SignOut {
    key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
    signing_algorithm: &'static str,
}

pub(crate) fn sign(kms: &dyn Kms, a: SignArgs) -> Result<(), CliError> {
    const OP: &str = "Sign";
    let mut req = SignRequest::new(
        params::key_ref(OP, &a.key_id)?,
        params::plaintext("--message", &a.message)?,
        a.signing_algorithm.parse().op(OP)?,
    )
    .with_grant_tokens(params::grant_tokens(OP, &a.grant_tokens.grant_tokens)?)
    .with_dry_run(a.dry_run.dry_run);
    req.message_type = message_type(OP, a.message_type.as_ref())?;
    let out = kms.sign(req).op(OP)?;
    blob_answer(a.signature_out.as_ref(), &out.signature, |signature| {
        SignOut {
            key_id: out.key_id.to_string(),
            signature,
            signing_algorithm: out.signing_algorithm.as_str(),
        }
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct VerifyOut {
    key_id: String,
    signature_valid: bool,
    signing_algorithm: &'static str,
}

pub(crate) fn verify(kms: &dyn Kms, a: VerifyArgs) -> Result<(), CliError> {
    const OP: &str = "Verify";
    let signature = params::blob("--signature", &a.signature)?;
    let mut req = VerifyRequest::new(
        params::key_ref(OP, &a.key_id)?,
        params::plaintext("--message", &a.message)?,
        signature.to_vec(),
        a.signing_algorithm.parse().op(OP)?,
    )
    .with_grant_tokens(params::grant_tokens(OP, &a.grant_tokens.grant_tokens)?)
    .with_dry_run(a.dry_run.dry_run);
    req.message_type = message_type(OP, a.message_type.as_ref())?;
    let out = kms.verify(req).op(OP)?;
    print_json(&VerifyOut {
        key_id: out.key_id.to_string(),
        signature_valid: out.signature_valid,
        signing_algorithm: out.signing_algorithm.as_str(),
    })
}

/// GetPublicKey's answer as `aws kms` prints it: the algorithm lists that do not apply to the
/// key's usage are absent, as the service leaves them out.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PublicKeyOut {
    key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
    customer_master_key_spec: &'static str,
    key_spec: &'static str,
    key_usage: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    encryption_algorithms: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    signing_algorithms: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    key_agreement_algorithms: Vec<&'static str>,
}

pub(crate) fn get_public_key(kms: &dyn Kms, a: GetPublicKeyArgs) -> Result<(), CliError> {
    const OP: &str = "GetPublicKey";
    let req = GetPublicKeyRequest::new(params::key_ref(OP, &a.key_id)?)
        .with_grant_tokens(params::grant_tokens(OP, &a.grant_tokens.grant_tokens)?);
    let out = kms.get_public_key(req).op(OP)?;
    let diverted = divert(a.public_key_out.as_ref(), &out.public_key)?;
    if diverted == Some(true) {
        return Ok(());
    }
    print_json(&PublicKeyOut {
        key_id: out.key_id.to_string(),
        public_key: diverted.is_none().then(|| b64(&out.public_key)),
        customer_master_key_spec: out.key_spec.as_str(),
        key_spec: out.key_spec.as_str(),
        key_usage: out.key_usage.as_str(),
        encryption_algorithms: out
            .encryption_algorithms
            .iter()
            .map(|a| a.as_str())
            .collect(),
        signing_algorithms: out.signing_algorithms.iter().map(|a| a.as_str()).collect(),
        key_agreement_algorithms: out
            .key_agreement_algorithms
            .iter()
            .map(|a| a.as_str())
            .collect(),
    })
}
