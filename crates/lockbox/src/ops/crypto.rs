//! The cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateRandom; and the two
//! token paths they and the data-key operations share, [`Engine::seal`] and
//! [`Engine::open_blob`], which act only on a key an [`Authorized`] proof carries.

use lockbox_api::*;
use lockbox_store::KeyRecord;
use lockbox_token::ObjectId;
use zeroize::Zeroizing;

use super::grants::check_grant_tokens;
use crate::authz::{Authorized, Facts};
use crate::blob;
use crate::core::{Aliases, Call, Engine};
use crate::error::from_store;

impl Engine {
    /// The key a cryptographic operation uses, resolved (aliases accepted) and authorized
    /// for `action`, once its usage and algorithm allow the operation.
    pub(super) fn usable(
        &self,
        call: &mut Call<'_>,
        action: Action,
        key_id: &KeyRef,
        context: &EncryptionContext,
        algorithm: Option<EncryptionAlgorithm>,
    ) -> Result<Authorized, KmsError> {
        let r = self.resolve(call, key_id, Aliases::Accepted)?;
        let auth = self.authorize(call, action, r, crypto_facts(context, algorithm))?;
        self.check_usable(auth.record(), algorithm)?;
        Ok(auth)
    }

    fn check_usable(
        &self,
        r: &KeyRecord,
        algorithm: Option<EncryptionAlgorithm>,
    ) -> Result<(), KmsError> {
        if r.usage != KeyUsage::EncryptDecrypt {
            return Err(KmsError::new(
                ErrorKind::InvalidKeyUsage,
                format!(
                    "{} key usage is {} which is not valid for this operation.",
                    self.arn(r),
                    r.usage
                ),
            ));
        }
        match algorithm {
            None | Some(EncryptionAlgorithm::SymmetricDefault) => Ok(()),
            Some(other) => Err(KmsError::new(
                ErrorKind::InvalidKeyUsage,
                format!(
                    "{} is a symmetric key; the encryption algorithm {other} is not valid for it.",
                    self.arn(r)
                ),
            )),
        }
    }

    /// Encrypts `plaintext` into a new blob under the current material of the key `auth`
    /// authorizes.
    pub(super) fn seal(
        &self,
        auth: &Authorized,
        ctx: &EncryptionContext,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        let r = auth.record();
        let material = self.count_encryption(r)?;
        let material = &material;
        if let Err(e) = self.check_available(r, material) {
            self.uncount_encryption(r.id, material.version);
            return Err(e);
        }
        let mut out = blob::allocate(r.id, material.version, plaintext.len());
        let mut aad = Vec::with_capacity(blob::HEADER_LEN + ctx.encoded_len());
        aad.extend_from_slice(&out[..blob::HEADER_LEN]);
        ctx.encode_into(&mut aad);
        let object = ObjectId::from_bytes(material.object_id);
        let sealed = self
            .token
            .encrypt_aes_gcm(
                &object,
                &aad,
                plaintext,
                &mut out[blob::HEADER_LEN + blob::IV_LEN..],
            )
            .map_err(|e| {
                self.uncount_encryption(r.id, material.version);
                self.material_error("encrypt", r, material, e)
            })?;
        out[blob::HEADER_LEN..blob::HEADER_LEN + blob::IV_LEN].copy_from_slice(&sealed.iv);
        Ok(out)
    }

    /// Decrypts a blob for `call`'s caller, who must be authorized for `action` on the key
    /// the blob names: returns the proof (which carries the key) and the plaintext.
    fn open_blob(
        &self,
        call: &mut Call<'_>,
        action: Action,
        ciphertext: &[u8],
        ctx: &EncryptionContext,
        expected_key: Option<&KeyRef>,
        algorithm: Option<EncryptionAlgorithm>,
    ) -> Result<(Authorized, Plaintext), KmsError> {
        if ciphertext.is_empty() || ciphertext.len() > MAX_CIPHERTEXT_LEN {
            return Err(KmsError::validation(format!(
                "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy \
                 constraint: Member must have length between 1 and {MAX_CIPHERTEXT_LEN} \
                 (it has {} bytes)",
                ciphertext.len()
            )));
        }
        let expected = match expected_key {
            Some(k) => Some(self.resolve(call, k, Aliases::Accepted)?.id),
            None => None,
        };
        let b = blob::parse(ciphertext).ok_or_else(KmsError::invalid_ciphertext)?;
        if let Some(want) = expected
            && want != b.key_id
        {
            return Err(KmsError::new(
                ErrorKind::IncorrectKey,
                "The key ID in the request does not identify a KMS key that can perform this \
                 operation.",
            ));
        }
        let Some(r) = self.record(b.key_id)? else {
            // A deleted key is named as such; an id no key ever had is indistinguishable
            // from a corrupted one: the same opaque error.
            return Err(match self.store.tombstone(b.key_id) {
                Ok(Some(_)) => KmsError::not_found(format!(
                    "Key with id {} does not exist: it was deleted",
                    b.key_id
                )),
                Ok(None) => KmsError::invalid_ciphertext(),
                Err(e) => from_store("decrypt", e),
            });
        };
        let auth = self.authorize(call, action, r, crypto_facts(ctx, algorithm))?;
        self.check_usable(auth.record(), algorithm)?;
        let plaintext = self.unseal(&auth, &b, ctx)?;
        Ok((auth, plaintext))
    }

    /// Decrypts blob `b` (already parsed) under the key `auth` authorizes.
    fn unseal(
        &self,
        auth: &Authorized,
        b: &blob::Blob<'_>,
        ctx: &EncryptionContext,
    ) -> Result<Plaintext, KmsError> {
        let r = auth.record();
        let material = r
            .material(b.material_version)
            .ok_or_else(KmsError::invalid_ciphertext)?;
        self.check_available(r, material)?;
        let mut aad = Vec::with_capacity(blob::HEADER_LEN + ctx.encoded_len());
        aad.extend_from_slice(b.header);
        ctx.encode_into(&mut aad);
        let mut out = Zeroizing::new(vec![0u8; b.sealed.len()]);
        let n = self
            .token
            .decrypt_aes_gcm(
                &ObjectId::from_bytes(material.object_id),
                &b.iv,
                &aad,
                b.sealed,
                &mut out,
            )
            .map_err(|e| self.material_error("decrypt", r, material, e))?;
        out.truncate(n);
        Ok(Plaintext::from(out))
    }

    pub(crate) fn encrypt(
        &self,
        call: &mut Call<'_>,
        req: EncryptRequest,
    ) -> Result<EncryptResponse, KmsError> {
        let n = req.plaintext.len();
        if n == 0 || n > MAX_PLAINTEXT_LEN {
            return Err(KmsError::validation(format!(
                "1 validation error detected: Value at 'plaintext' failed to satisfy \
                 constraint: Member must have length between 1 and {MAX_PLAINTEXT_LEN} \
                 (it has {n} bytes)"
            )));
        }
        check_grant_tokens(&req.grant_tokens)?;
        let auth = self.usable(
            call,
            Action::Encrypt,
            &req.key_id,
            &req.encryption_context,
            req.encryption_algorithm,
        )?;
        let ciphertext_blob = self.seal(
            &auth,
            &req.encryption_context,
            req.plaintext.expose_secret(),
        )?;
        Ok(EncryptResponse {
            ciphertext_blob,
            key_id: self.arn(auth.record()),
            encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
        })
    }

    pub(crate) fn decrypt(
        &self,
        call: &mut Call<'_>,
        req: DecryptRequest,
    ) -> Result<DecryptResponse, KmsError> {
        check_grant_tokens(&req.grant_tokens)?;
        let (auth, plaintext) = self.open_blob(
            call,
            Action::Decrypt,
            &req.ciphertext_blob,
            &req.encryption_context,
            req.key_id.as_ref(),
            req.encryption_algorithm,
        )?;
        Ok(DecryptResponse {
            key_id: self.arn(auth.record()),
            plaintext,
            encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
        })
    }

    pub(crate) fn re_encrypt(
        &self,
        call: &mut Call<'_>,
        req: ReEncryptRequest,
    ) -> Result<ReEncryptResponse, KmsError> {
        check_grant_tokens(&req.grant_tokens)?;
        let destination = self.usable(
            call,
            Action::ReEncryptTo,
            &req.destination_key_id,
            &req.destination_encryption_context,
            req.destination_encryption_algorithm,
        )?;
        let destination_arn = call.key.take();
        let (source, plaintext) = self.open_blob(
            call,
            Action::ReEncryptFrom,
            &req.ciphertext_blob,
            &req.source_encryption_context,
            req.source_key_id.as_ref(),
            req.source_encryption_algorithm,
        )?;
        let ciphertext_blob = self.seal(
            &destination,
            &req.destination_encryption_context,
            plaintext.expose_secret(),
        )?;
        // The audit record names the source key (the one whose blob was opened), as AWS does.
        if call.key.is_none() {
            call.key = destination_arn;
        }
        Ok(ReEncryptResponse {
            ciphertext_blob,
            source_key_id: self.arn(source.record()),
            key_id: self.arn(destination.record()),
            source_encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
            destination_encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
        })
    }

    pub(crate) fn generate_random(
        &self,
        call: &mut Call<'_>,
        req: GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse, KmsError> {
        let caller = call.caller;
        // Account-level: the proof names the caller's account; the token's RNG needs no key.
        let _auth = self.authorize_account(call, Action::GenerateRandom, caller.account())?;
        Ok(GenerateRandomResponse {
            plaintext: Plaintext::from(self.random(req.number_of_bytes.get())?),
        })
    }
}

/// The facts a cryptographic operation tells its decision: context and algorithm.
pub(super) fn crypto_facts(
    ctx: &EncryptionContext,
    algorithm: Option<EncryptionAlgorithm>,
) -> Facts<'_> {
    Facts {
        context: Some(ctx),
        algorithm: Some(
            algorithm
                .unwrap_or(EncryptionAlgorithm::SymmetricDefault)
                .as_str(),
        ),
        extra: Vec::new(),
        new_grant: None,
    }
}
