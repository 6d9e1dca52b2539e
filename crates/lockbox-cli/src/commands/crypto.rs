//! encrypt, decrypt, re-encrypt, generate-data-key, generate-data-key-without-plaintext,
//! generate-random.
//!
//! Plaintext shown in JSON is base64 in a zeroizing string; `--plaintext-out` writes it raw
//! to a 0600 file instead, and `-` writes only the raw bytes to standard output.

use lockbox::api::*;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::{
    DecryptArgs, EncryptArgs, GenerateDataKeyArgs, GenerateRandomArgs, ReEncryptArgs,
};
use crate::error::{CliError, OrKms};
use crate::output::{RawOut, b64, print_json, write_raw};
use crate::params;

fn algorithm(
    op: &'static str,
    s: Option<&String>,
) -> Result<Option<EncryptionAlgorithm>, CliError> {
    s.map(|s| s.parse()).transpose().op(op)
}

/// Handles `--X-out`: writes the bytes raw and says whether JSON output should go on.
/// `None` keeps the field in the JSON; `Some(false)` drops it; `Some(true)` means the raw
/// bytes went to standard output, so nothing else may be printed.
pub(crate) fn divert(out: Option<&String>, bytes: &[u8]) -> Result<Option<bool>, CliError> {
    match out.map(|s| RawOut::parse(s)) {
        None => Ok(None),
        Some(to) => {
            write_raw(&to, bytes)?;
            Ok(Some(matches!(to, RawOut::Stdout)))
        }
    }
}

/// Answers with a ciphertext blob: raw to `--ciphertext-out` (and nothing else printed when
/// that is standard output), otherwise the JSON `json` builds, with the blob in base64 unless
/// it went to a file.
pub(crate) fn blob_answer<T: Serialize>(
    ciphertext_out: Option<&String>,
    blob: &[u8],
    json: impl FnOnce(Option<String>) -> T,
) -> Result<(), CliError> {
    match divert(ciphertext_out, blob)? {
        Some(true) => Ok(()),
        Some(false) => print_json(&json(None)),
        None => print_json(&json(Some(b64(blob)))),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    ciphertext_blob: Option<String>,
    key_id: String,
    encryption_algorithm: &'static str,
}

pub(crate) fn encrypt(kms: &dyn Kms, a: EncryptArgs) -> Result<(), CliError> {
    const OP: &str = "Encrypt";
    let mut req = EncryptRequest::new(
        params::key_ref(OP, &a.key_id)?,
        params::plaintext("--plaintext", &a.plaintext)?,
    )
    .with_encryption_context(params::context(
        "--encryption-context",
        a.encryption_context.as_deref(),
    )?)
    .with_grant_tokens(params::grant_tokens(OP, &a.grant_tokens.grant_tokens)?)
    .with_dry_run(a.dry_run.dry_run);
    req.encryption_algorithm = algorithm(OP, a.encryption_algorithm.as_ref())?;
    let out = kms.encrypt(req).op(OP)?;
    blob_answer(a.ciphertext_out.as_ref(), &out.ciphertext_blob, |blob| {
        EncryptOut {
            ciphertext_blob: blob,
            key_id: out.key_id.to_string(),
            encryption_algorithm: out.encryption_algorithm.as_str(),
        }
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptOut<'a> {
    key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    plaintext: Option<&'a str>,
    encryption_algorithm: &'static str,
}

pub(crate) fn decrypt(kms: &dyn Kms, a: DecryptArgs) -> Result<(), CliError> {
    const OP: &str = "Decrypt";
    let blob = params::blob("--ciphertext-blob", &a.ciphertext_blob)?;
    let mut req = DecryptRequest::new(blob.to_vec())
        .with_encryption_context(params::context(
            "--encryption-context",
            a.encryption_context.as_deref(),
        )?)
        .with_grant_tokens(params::grant_tokens(OP, &a.grant_tokens.grant_tokens)?)
        .with_dry_run(a.dry_run.dry_run);
    req.key_id = a
        .key_id
        .as_deref()
        .map(|k| params::key_ref(OP, k))
        .transpose()?;
    req.encryption_algorithm = algorithm(OP, a.encryption_algorithm.as_ref())?;
    let out = kms.decrypt(req).op(OP)?;
    let diverted = divert(a.plaintext_out.as_ref(), out.plaintext.expose_secret())?;
    if diverted == Some(true) {
        return Ok(());
    }
    let shown = Zeroizing::new(b64(out.plaintext.expose_secret()));
    print_json(&DecryptOut {
        key_id: out.key_id.to_string(),
        plaintext: diverted.is_none().then_some(shown.as_str()),
        encryption_algorithm: out.encryption_algorithm.as_str(),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReEncryptOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    ciphertext_blob: Option<String>,
    source_key_id: String,
    key_id: String,
    source_encryption_algorithm: &'static str,
    destination_encryption_algorithm: &'static str,
}

pub(crate) fn re_encrypt(kms: &dyn Kms, a: ReEncryptArgs) -> Result<(), CliError> {
    const OP: &str = "ReEncrypt";
    let blob = params::blob("--ciphertext-blob", &a.ciphertext_blob)?;
    let mut req = ReEncryptRequest::new(blob.to_vec(), params::key_ref(OP, &a.destination_key_id)?)
        .with_source_encryption_context(params::context(
            "--source-encryption-context",
            a.source_encryption_context.as_deref(),
        )?)
        .with_destination_encryption_context(params::context(
            "--destination-encryption-context",
            a.destination_encryption_context.as_deref(),
        )?)
        .with_grant_tokens(params::grant_tokens(OP, &a.grant_tokens.grant_tokens)?)
        .with_dry_run(a.dry_run.dry_run);
    req.source_key_id = a
        .source_key_id
        .as_deref()
        .map(|k| params::key_ref(OP, k))
        .transpose()?;
    req.source_encryption_algorithm = algorithm(OP, a.source_encryption_algorithm.as_ref())?;
    req.destination_encryption_algorithm =
        algorithm(OP, a.destination_encryption_algorithm.as_ref())?;
    let out = kms.re_encrypt(req).op(OP)?;
    blob_answer(a.ciphertext_out.as_ref(), &out.ciphertext_blob, |blob| {
        ReEncryptOut {
            ciphertext_blob: blob,
            source_key_id: out.source_key_id.to_string(),
            key_id: out.key_id.to_string(),
            source_encryption_algorithm: out.source_encryption_algorithm.as_str(),
            destination_encryption_algorithm: out.destination_encryption_algorithm.as_str(),
        }
    })
}

fn data_key_request(
    op: &'static str,
    a: &GenerateDataKeyArgs,
) -> Result<GenerateDataKeyRequest, CliError> {
    let spec = a.key_spec.as_deref().map(str::parse).transpose().op(op)?;
    let size = DataKeySize::from_parts(a.number_of_bytes, spec).op(op)?;
    Ok(
        GenerateDataKeyRequest::new(params::key_ref(op, &a.key_id)?, size)
            .with_encryption_context(params::context(
                "--encryption-context",
                a.encryption_context.as_deref(),
            )?)
            .with_grant_tokens(params::grant_tokens(op, &a.grant_tokens.grant_tokens)?)
            .with_dry_run(a.dry_run.dry_run),
    )
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DataKeyOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ciphertext_blob: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plaintext: Option<&'a str>,
    key_id: String,
}

pub(crate) fn generate_data_key(kms: &dyn Kms, a: GenerateDataKeyArgs) -> Result<(), CliError> {
    const OP: &str = "GenerateDataKey";
    if a.plaintext_out.as_deref() == Some("-") && a.ciphertext_out.as_deref() == Some("-") {
        return Err(CliError::param(
            "--plaintext-out",
            "--plaintext-out and --ciphertext-out cannot both be standard output",
        ));
    }
    let req = data_key_request(OP, &a)?;
    let out = kms.generate_data_key(req).op(OP)?;
    // The encrypted key first: if writing the plaintext then fails, what is left is harmless
    // and still decrypts; the other order could leave a data key with no encrypted copy.
    let cipher = divert(a.ciphertext_out.as_ref(), &out.ciphertext_blob)?;
    let plain = divert(a.plaintext_out.as_ref(), out.plaintext.expose_secret())?;
    if plain == Some(true) || cipher == Some(true) {
        return Ok(());
    }
    let shown = Zeroizing::new(b64(out.plaintext.expose_secret()));
    print_json(&DataKeyOut {
        ciphertext_blob: cipher.is_none().then(|| b64(&out.ciphertext_blob)),
        plaintext: plain.is_none().then_some(shown.as_str()),
        key_id: out.key_id.to_string(),
    })
}

pub(crate) fn generate_data_key_without_plaintext(
    kms: &dyn Kms,
    a: GenerateDataKeyArgs,
) -> Result<(), CliError> {
    const OP: &str = "GenerateDataKeyWithoutPlaintext";
    if a.plaintext_out.is_some() {
        return Err(CliError::param(
            "--plaintext-out",
            "generate-data-key-without-plaintext returns no plaintext",
        ));
    }
    let out = kms
        .generate_data_key_without_plaintext(data_key_request(OP, &a)?)
        .op(OP)?;
    blob_answer(a.ciphertext_out.as_ref(), &out.ciphertext_blob, |blob| {
        DataKeyOut {
            ciphertext_blob: blob,
            plaintext: None,
            key_id: out.key_id.to_string(),
        }
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RandomOut<'a> {
    plaintext: &'a str,
}

pub(crate) fn generate_random(kms: &dyn Kms, a: GenerateRandomArgs) -> Result<(), CliError> {
    const OP: &str = "GenerateRandom";
    let n = a.number_of_bytes.ok_or_else(|| CliError::Kms {
        operation: OP,
        error: KmsError::validation("NumberOfBytes is required"),
    })?;
    let out = kms
        .generate_random(GenerateRandomRequest::new(NumberOfBytes::new(n).op(OP)?))
        .op(OP)?;
    if divert(a.plaintext_out.as_ref(), out.plaintext.expose_secret())?.is_some() {
        return Ok(());
    }
    let shown = Zeroizing::new(b64(out.plaintext.expose_secret()));
    print_json(&RandomOut {
        plaintext: shown.as_str(),
    })
}
