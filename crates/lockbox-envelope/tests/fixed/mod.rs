//! A materials manager with one fixed data key and no KMS, and the harness that feeds
//! arbitrary bytes to the reader. Shared by `tests/mutations.rs` and the cargo-fuzz target
//! `fuzz/fuzz_targets/envelope_message.rs` (which includes this file by path), so CI runs
//! the same harness the fuzzer does.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use lockbox_api::Plaintext;
use lockbox_envelope::materials::{
    DataKey, DecryptionMaterials, DecryptionRequest, EncryptionMaterials, EncryptionRequest,
};
use lockbox_envelope::{
    DecryptOptions, Decryptor, EncryptedDataKey, EnvelopeError, MaterialsManager,
    MessageSigningKey, MessageVerifyingKey, PROVIDER_ID_AWS_KMS, PUBLIC_KEY_CONTEXT_KEY,
};

/// The data key of every message this manager makes or reads.
pub const DATA_KEY: [u8; 32] = [0x5A; 32];
/// The provider info of its one encrypted data key.
pub const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/fixed";

/// Encrypts under [`DATA_KEY`] and "decrypts" any encrypted data key to it; for the signing
/// suite, signs with a fresh key and verifies with the key the context carries.
pub struct FixedKey;

impl FixedKey {
    fn data_key() -> Result<DataKey, EnvelopeError> {
        DataKey::from_plaintext(&Plaintext::copy_from(&DATA_KEY))
    }
}

impl MaterialsManager for FixedKey {
    fn encryption_materials(
        &self,
        req: &EncryptionRequest<'_>,
    ) -> Result<Arc<EncryptionMaterials>, EnvelopeError> {
        let mut context: BTreeMap<String, String> = req.context.clone();
        let signing_key = req.suite.is_signed().then(MessageSigningKey::generate);
        if let Some(k) = &signing_key {
            context.insert(PUBLIC_KEY_CONTEXT_KEY.to_owned(), k.public_key_text());
        }
        Ok(Arc::new(EncryptionMaterials {
            suite: req.suite,
            data_key: Self::data_key()?,
            encrypted_data_keys: vec![EncryptedDataKey {
                provider_id: PROVIDER_ID_AWS_KMS.to_owned(),
                provider_info: KEY_ARN.as_bytes().to_vec(),
                ciphertext: vec![0xC1; 8],
            }],
            context,
            signing_key,
        }))
    }

    fn decryption_materials(
        &self,
        req: &DecryptionRequest<'_>,
    ) -> Result<Arc<DecryptionMaterials>, EnvelopeError> {
        let verifying_key = match req.context.get(PUBLIC_KEY_CONTEXT_KEY) {
            Some(text) if req.suite.is_signed() => {
                Some(MessageVerifyingKey::from_context_text(text)?)
            }
            None if req.suite.is_signed() => {
                return Err(EnvelopeError::Malformed(format!(
                    "a signing suite without {PUBLIC_KEY_CONTEXT_KEY}"
                )));
            }
            _ => None,
        };
        Ok(Arc::new(DecryptionMaterials {
            data_key: Self::data_key()?,
            verifying_key,
        }))
    }
}

/// Decrypts `bytes` as one whole message with [`FixedKey`]: the reader, then every frame,
/// then the check that the message ended. Must return, never panic, whatever the bytes.
pub fn decrypt_all(bytes: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let mut dec = Decryptor::new(&FixedKey, bytes, &DecryptOptions::default())?;
    let mut out = Vec::new();
    dec.read_to_end(&mut out).map_err(EnvelopeError::from_io)?;
    if !dec.is_complete() {
        return Err(EnvelopeError::Truncated("the message did not end".into()));
    }
    Ok(out)
}

/// As [`decrypt_all`], through [`Decryptor::decrypt_to`] (the pipelined path). Whatever the
/// bytes, it must give what `decrypt_all` gives: the same plaintext or the same error.
pub fn decrypt_pipelined(bytes: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let dec = Decryptor::new(&FixedKey, bytes, &DecryptOptions::default())?;
    let mut out = Vec::new();
    dec.decrypt_to(&mut out)?;
    Ok(out)
}
