//! The data-key operations: GenerateDataKey and GenerateDataKeyWithoutPlaintext.

use lockbox_api::*;

use super::crypto::Sealed;
use super::grants::check_grant_tokens;
use crate::core::{Call, Engine};

/// A fresh data key and its blob.
struct DataKey {
    key_arn: KeyArn,
    plaintext: Plaintext,
    ciphertext_blob: Vec<u8>,
}

impl Engine {
    /// Draws a data key from the token's RNG and seals it under the key `req` names, which
    /// the caller must be authorized to use for `action`.
    fn data_key(
        &self,
        call: &mut Call<'_>,
        action: Action,
        req: &GenerateDataKeyRequest,
    ) -> Result<DataKey, KmsError> {
        check_grant_tokens(&req.grant_tokens)?;
        let auth = self.usable(call, action, &req.key_id, &req.encryption_context, None)?;
        call.proceed()?;
        let plaintext = self.random(req.size.byte_len())?;
        let ciphertext_blob =
            self.seal(&auth, &req.encryption_context, Sealed::DataKey, &plaintext)?;
        Ok(DataKey {
            key_arn: self.arn(auth.record()),
            plaintext: Plaintext::from(plaintext),
            ciphertext_blob,
        })
    }

    pub(crate) fn generate_data_key(
        &self,
        call: &mut Call<'_>,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        let dk = self.data_key(call, Action::GenerateDataKey, &req)?;
        Ok(GenerateDataKeyResponse {
            ciphertext_blob: dk.ciphertext_blob,
            plaintext: dk.plaintext,
            key_id: dk.key_arn,
        })
    }

    pub(crate) fn generate_data_key_without_plaintext(
        &self,
        call: &mut Call<'_>,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse, KmsError> {
        // The plaintext key is dropped (and zeroized) here, unseen.
        let dk = self.data_key(call, Action::GenerateDataKeyWithoutPlaintext, &req)?;
        Ok(GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob: dk.ciphertext_blob,
            key_id: dk.key_arn,
        })
    }
}
