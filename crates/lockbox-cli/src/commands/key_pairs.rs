//! generate-data-key-pair, generate-data-key-pair-without-plaintext, derive-shared-secret:
//! the commands whose answer holds asymmetric secrets made for the caller.
//!
//! The private key (PKCS#8 DER) and the shared secret are secrets: shown in base64 only in a
//! zeroizing string, or written raw to a 0600 file (`--private-key-out`,
//! `--shared-secret-out`), never to standard error.

use lockbox::api::*;
use serde::Serialize;
use zeroize::Zeroizing;

use super::crypto::divert;
use crate::cli::{DeriveSharedSecretArgs, GenerateDataKeyPairArgs};
use crate::error::{CliError, OrKms};
use crate::output::{b64, print_json};
use crate::params;

fn pair_request(
    op: &'static str,
    a: &GenerateDataKeyPairArgs,
) -> Result<GenerateDataKeyPairRequest, CliError> {
    let outs = [&a.ciphertext_out, &a.public_key_out, &a.private_key_out];
    if outs.iter().filter(|o| o.as_deref() == Some("-")).count() > 1 {
        return Err(CliError::param(
            "--private-key-out",
            "only one of --ciphertext-out, --public-key-out and --private-key-out can be \
             standard output",
        ));
    }
    Ok(GenerateDataKeyPairRequest::new(
        params::key_ref(op, &a.key_id)?,
        a.key_pair_spec.parse().op(op)?,
    )
    .with_encryption_context(params::context(
        "--encryption-context",
        a.encryption_context.as_deref(),
    )?)
    .with_grant_tokens(params::grant_tokens(op, &a.grant_tokens.grant_tokens)?)
    .with_dry_run(a.dry_run.dry_run))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DataKeyPairOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key_ciphertext_blob: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key_plaintext: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
    key_id: String,
    key_pair_spec: &'static str,
}

pub(crate) fn generate_data_key_pair(
    kms: &dyn Kms,
    a: GenerateDataKeyPairArgs,
) -> Result<(), CliError> {
    const OP: &str = "GenerateDataKeyPair";
    let req = pair_request(OP, &a)?;
    let out = kms.generate_data_key_pair(req).op(OP)?;
    // The encrypted private key first, as generate-data-key does: if a later write fails,
    // what is left is harmless and the pair can still be recovered with decrypt.
    let cipher = divert(a.ciphertext_out.as_ref(), &out.private_key_ciphertext_blob)?;
    let public = divert(a.public_key_out.as_ref(), &out.public_key)?;
    let private = divert(
        a.private_key_out.as_ref(),
        out.private_key_plaintext.expose_secret(),
    )?;
    if [cipher, public, private].contains(&Some(true)) {
        return Ok(());
    }
    let shown = Zeroizing::new(b64(out.private_key_plaintext.expose_secret()));
    print_json(&DataKeyPairOut {
        private_key_ciphertext_blob: cipher
            .is_none()
            .then(|| b64(&out.private_key_ciphertext_blob)),
        private_key_plaintext: private.is_none().then_some(shown.as_str()),
        public_key: public.is_none().then(|| b64(&out.public_key)),
        key_id: out.key_id.to_string(),
        key_pair_spec: out.key_pair_spec.as_str(),
    })
}

pub(crate) fn generate_data_key_pair_without_plaintext(
    kms: &dyn Kms,
    a: GenerateDataKeyPairArgs,
) -> Result<(), CliError> {
    const OP: &str = "GenerateDataKeyPairWithoutPlaintext";
    if a.private_key_out.is_some() {
        return Err(CliError::param(
            "--private-key-out",
            "generate-data-key-pair-without-plaintext returns no private key",
        ));
    }
    let req = pair_request(OP, &a)?;
    let out = kms.generate_data_key_pair_without_plaintext(req).op(OP)?;
    let cipher = divert(a.ciphertext_out.as_ref(), &out.private_key_ciphertext_blob)?;
    let public = divert(a.public_key_out.as_ref(), &out.public_key)?;
    if [cipher, public].contains(&Some(true)) {
        return Ok(());
    }
    print_json(&DataKeyPairOut {
        private_key_ciphertext_blob: cipher
            .is_none()
            .then(|| b64(&out.private_key_ciphertext_blob)),
        private_key_plaintext: None,
        public_key: public.is_none().then(|| b64(&out.public_key)),
        key_id: out.key_id.to_string(),
        key_pair_spec: out.key_pair_spec.as_str(),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SharedSecretOut<'a> {
    key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    shared_secret: Option<&'a str>,
    key_agreement_algorithm: &'static str,
    key_origin: &'static str,
}

pub(crate) fn derive_shared_secret(
    kms: &dyn Kms,
    a: DeriveSharedSecretArgs,
) -> Result<(), CliError> {
    const OP: &str = "DeriveSharedSecret";
    let peer = params::blob("--public-key", &a.public_key)?;
    let mut req = DeriveSharedSecretRequest::new(params::key_ref(OP, &a.key_id)?, peer.to_vec())
        .with_grant_tokens(params::grant_tokens(OP, &a.grant_tokens.grant_tokens)?)
        .with_dry_run(a.dry_run.dry_run);
    req.key_agreement_algorithm = a.key_agreement_algorithm.parse().op(OP)?;
    let out = kms.derive_shared_secret(req).op(OP)?;
    let diverted = divert(
        a.shared_secret_out.as_ref(),
        out.shared_secret.expose_secret(),
    )?;
    if diverted == Some(true) {
        return Ok(());
    }
    let shown = Zeroizing::new(b64(out.shared_secret.expose_secret()));
    print_json(&SharedSecretOut {
        key_id: out.key_id.to_string(),
        shared_secret: diverted.is_none().then_some(shown.as_str()),
        key_agreement_algorithm: out.key_agreement_algorithm.as_str(),
        key_origin: out.key_origin.as_str(),
    })
}
