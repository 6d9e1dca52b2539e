//! generate-mac, verify-mac: HMAC with GENERATE_VERIFY_MAC keys, computed in the token.
//!
//! The message is read into a zeroizing buffer and never printed; the MAC is not secret and
//! `--mac-out` writes it raw.

use lockbox::api::*;
use serde::Serialize;

use super::crypto::blob_answer;
use crate::cli::{GenerateMacArgs, VerifyMacArgs};
use crate::error::{CliError, OrKms};
use crate::output::print_json;
use crate::params;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateMacOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    mac: Option<String>,
    mac_algorithm: &'static str,
    key_id: String,
}

pub(crate) fn generate_mac(kms: &dyn Kms, a: GenerateMacArgs) -> Result<(), CliError> {
    const OP: &str = "GenerateMac";
    let req = GenerateMacRequest::new(
        params::key_ref(OP, &a.key_id)?,
        params::plaintext("--message", &a.message)?,
        a.mac_algorithm.parse().op(OP)?,
    )
    .with_grant_tokens(params::grant_tokens(OP, &a.grant_tokens.grant_tokens)?)
    .with_dry_run(a.dry_run.dry_run);
    let out = kms.generate_mac(req).op(OP)?;
    blob_answer(a.mac_out.as_ref(), &out.mac, |mac| GenerateMacOut {
        mac,
        mac_algorithm: out.mac_algorithm.as_str(),
        key_id: out.key_id.to_string(),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct VerifyMacOut {
    key_id: String,
    mac_valid: bool,
    mac_algorithm: &'static str,
}

pub(crate) fn verify_mac(kms: &dyn Kms, a: VerifyMacArgs) -> Result<(), CliError> {
    const OP: &str = "VerifyMac";
    let mac = params::blob("--mac", &a.mac)?;
    let req = VerifyMacRequest::new(
        params::key_ref(OP, &a.key_id)?,
        params::plaintext("--message", &a.message)?,
        a.mac_algorithm.parse().op(OP)?,
        mac.to_vec(),
    )
    .with_grant_tokens(params::grant_tokens(OP, &a.grant_tokens.grant_tokens)?)
    .with_dry_run(a.dry_run.dry_run);
    let out = kms.verify_mac(req).op(OP)?;
    print_json(&VerifyMacOut {
        key_id: out.key_id.to_string(),
        mac_valid: out.mac_valid,
        mac_algorithm: out.mac_algorithm.as_str(),
    })
}
