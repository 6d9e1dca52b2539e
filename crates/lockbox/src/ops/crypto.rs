//! The cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateRandom; and the two
//! token paths they and the data-key operations share, [`Engine::seal`] and
//! [`Engine::open_blob`], which act only on a key an [`Authorized`] proof carries.
//!
//! A key kind with raw ciphertexts (RSA: the OAEP output, which names no key and binds no
//! context) is opened only when the request names the key (KeyId, SourceKeyId) and the
//! algorithm, as AWS requires; without a KeyId a ciphertext is read as a Lockbox blob. Such
//! keys refuse an encryption context, and their encryptions are not counted: the count
//! bounds AES-GCM IVs per material version, and RSA-OAEP has none.

use lockbox_api::*;
use lockbox_store::{KeyRecord, KeySlot, Material};
use lockbox_token::ObjectId;

use super::check_length;
use super::grants::check_grant_tokens;
use crate::authz::{Authorized, Facts};
use crate::blob;
use crate::core::{Aliases, Call, Engine, missing_material};
use crate::error::from_store;
use crate::keykind::{self, KeyKind, KindError, MaterialRef};

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
        Ok(self
            .usable_with_algorithm(call, action, key_id, context, algorithm)?
            .0)
    }

    /// [`Engine::usable`], and the encryption algorithm the call uses.
    fn usable_with_algorithm(
        &self,
        call: &mut Call<'_>,
        action: Action,
        key_id: &KeyRef,
        context: &EncryptionContext,
        algorithm: Option<EncryptionAlgorithm>,
    ) -> Result<(Authorized, EncryptionAlgorithm), KmsError> {
        let r = self.resolve(call, key_id, Aliases::Accepted)?;
        let auth = self.authorize(call, action, r, crypto_facts(context, algorithm))?;
        let algorithm = self.check_usable(auth.record(), algorithm, context)?;
        Ok((auth, algorithm))
    }

    /// Refuses a key that cannot encrypt or decrypt with `algorithm` and `context`, as AWS
    /// does; returns the algorithm the call uses.
    ///
    /// An absent algorithm is AWS's default, SYMMETRIC_DEFAULT: a kind that does not allow
    /// it (RSA) needs the algorithm named ("Algorithm SYMMETRIC_DEFAULT is incompatible with
    /// key spec RSA_2048."). A kind with raw ciphertexts cannot bind an encryption context,
    /// so it refuses a non-empty one.
    fn check_usable(
        &self,
        r: &KeyRecord,
        algorithm: Option<EncryptionAlgorithm>,
        context: &EncryptionContext,
    ) -> Result<EncryptionAlgorithm, KmsError> {
        self.check_usage(r, KeyUsage::EncryptDecrypt)?;
        let kind = keykind::for_spec(r.spec)?;
        if algorithm.is_none()
            && !kind
                .encryption_algorithms(r.usage)
                .contains(&EncryptionAlgorithm::SymmetricDefault)
        {
            return Err(KmsError::new(
                ErrorKind::InvalidKeyUsage,
                format!(
                    "Algorithm {} is incompatible with key spec {}.",
                    EncryptionAlgorithm::SymmetricDefault,
                    r.spec
                ),
            ));
        }
        let algorithm = kind.encryption_algorithm(&|| self.arn(r), r.usage, algorithm)?;
        if kind.raw_ciphertexts() && !context.is_empty() {
            return Err(KmsError::validation(format!(
                "EncryptionContext is not supported with asymmetric KMS keys: {} has key spec \
                 {}; send the request without an encryption context.",
                self.arn(r),
                r.spec
            )));
        }
        Ok(algorithm)
    }

    /// Encrypts `plaintext` (for `what`) into a new blob under the current material of the
    /// key `auth` authorizes, as its key kind does it.
    pub(super) fn seal(
        &self,
        auth: &Authorized,
        ctx: &EncryptionContext,
        what: Sealed,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        let r = auth.record();
        let kind = keykind::for_spec(r.spec)?;
        // Counting bounds AES-GCM IVs per material version; a raw (RSA-OAEP) ciphertext has
        // no IV, so its encryptions are neither counted nor reserved.
        let counted = !kind.raw_ciphertexts();
        let material = if counted {
            self.count_encryption(r)?
        } else {
            r.current_material()
                .cloned()
                .ok_or_else(|| missing_material(self.arn(r)))?
        };
        let material = &material;
        let uncount = || {
            if counted {
                self.uncount_encryption(material);
            }
        };
        if let Err(e) = self.check_available(r, material) {
            uncount();
            return Err(e);
        }
        let m = material_ref(r, material);
        let sealed = match what {
            Sealed::Plaintext(algorithm) => {
                kind.encrypt(&self.token, &m, algorithm, ctx, plaintext)
            }
            Sealed::DataKey => kind.encrypt_data_key(&self.token, &m, ctx, plaintext),
        };
        sealed.map_err(|e| {
            uncount();
            self.kind_error("encrypt", r, material, e)
        })
    }

    /// Decrypts a ciphertext for `call`'s caller, who must be authorized for `action` on the
    /// key the blob names (or, for a raw ciphertext, the key `expected_key` names): returns
    /// the proof (which carries the key), the plaintext, and the algorithm used.
    fn open_blob(
        &self,
        call: &mut Call<'_>,
        action: Action,
        ciphertext: &[u8],
        ctx: &EncryptionContext,
        expected_key: Option<&KeyRef>,
        algorithm: Option<EncryptionAlgorithm>,
    ) -> Result<(Authorized, Plaintext, EncryptionAlgorithm), KmsError> {
        check_length("ciphertextBlob", ciphertext.len(), MAX_CIPHERTEXT_LEN)?;
        let expected = match expected_key {
            Some(k) => {
                let r = self.resolve(call, k, Aliases::Accepted)?;
                if keykind::for_spec(r.spec)?.raw_ciphertexts() {
                    return self.open_raw(call, action, r, ciphertext, ctx, algorithm);
                }
                Some(r.id)
            }
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
        // A key of another Region does not exist here (as in AWS, a blob taken to another
        // Region is InvalidCiphertextException): as opaque as an id no key ever had.
        let region = self.call_region(call);
        let r = match self.record_in(b.key_id, region)? {
            Some(r) if self.region_of_record(&r) != region => {
                return Err(KmsError::invalid_ciphertext());
            }
            r => r,
        };
        let Some(r) = r else {
            // A deleted key is named as such; an id no key ever had is indistinguishable
            // from a corrupted one: the same opaque error.
            return Err(match self.store.tombstone(KeySlot::of(b.key_id, region)) {
                Ok(Some(_)) => KmsError::not_found(format!(
                    "Key with id {} does not exist: it was deleted",
                    b.key_id
                )),
                Ok(None) => KmsError::invalid_ciphertext(),
                Err(e) => from_store("decrypt", e),
            });
        };
        let auth = self.authorize(call, action, r, crypto_facts(ctx, algorithm))?;
        if keykind::for_spec(auth.record().spec)?.raw_ciphertexts() {
            // A blob naming a key that makes no blobs: forged, as opaque as any other.
            return Err(KmsError::invalid_ciphertext());
        }
        let algorithm = self.check_usable(auth.record(), algorithm, ctx)?;
        call.proceed()?;
        let plaintext = self.unseal(&auth, &b, ctx)?;
        Ok((auth, plaintext, algorithm))
    }

    /// Decrypts a raw ciphertext (RSA-OAEP) under key `r`, named by the request, with the
    /// current material version (such keys are not rotated). Any failure to decrypt is one
    /// opaque InvalidCiphertextException.
    fn open_raw(
        &self,
        call: &mut Call<'_>,
        action: Action,
        r: std::sync::Arc<KeyRecord>,
        ciphertext: &[u8],
        ctx: &EncryptionContext,
        algorithm: Option<EncryptionAlgorithm>,
    ) -> Result<(Authorized, Plaintext, EncryptionAlgorithm), KmsError> {
        let auth = self.authorize(call, action, r, crypto_facts(ctx, algorithm))?;
        let algorithm = self.check_usable(auth.record(), algorithm, ctx)?;
        call.proceed()?;
        let out = self.with_current_material("decrypt", &auth, |kind, m| {
            kind.decrypt_raw(&self.token, m, algorithm, ciphertext)
        })?;
        Ok((auth, Plaintext::from(out), algorithm))
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
        let out = keykind::for_spec(r.spec)?
            .decrypt(&self.token, &material_ref(r, material), b, ctx)
            .map_err(|e| self.kind_error("decrypt", r, material, e))?;
        Ok(Plaintext::from(out))
    }

    /// The key an operation of `usage` uses (Sign, GenerateMac, DeriveSharedSecret...):
    /// resolved (aliases accepted), authorized for `action` with `facts`, and of that usage.
    pub(super) fn key_of_usage(
        &self,
        call: &mut Call<'_>,
        action: Action,
        key_id: &KeyRef,
        usage: KeyUsage,
        facts: Facts<'_>,
    ) -> Result<Authorized, KmsError> {
        let r = self.resolve(call, key_id, Aliases::Accepted)?;
        let auth = self.authorize(call, action, r, facts)?;
        self.check_usage(auth.record(), usage)?;
        Ok(auth)
    }

    /// Refuses a key whose usage is not `usage`, as AWS words it.
    pub(super) fn check_usage(&self, r: &KeyRecord, usage: KeyUsage) -> Result<(), KmsError> {
        if r.usage != usage {
            return Err(KmsError::new(
                ErrorKind::InvalidKeyUsage,
                format!(
                    "{} key usage is {} which is not valid for this operation.",
                    self.arn(r),
                    r.usage
                ),
            ));
        }
        Ok(())
    }

    /// Runs `op` with the key kind and current material version of the key `auth`
    /// authorizes (checked available), mapping a kind's failure to the operation's error.
    pub(super) fn with_current_material<T>(
        &self,
        what: &'static str,
        auth: &Authorized,
        op: impl FnOnce(&'static dyn KeyKind, &MaterialRef) -> Result<T, KindError>,
    ) -> Result<T, KmsError> {
        let r = auth.record();
        let kind = keykind::for_spec(r.spec)?;
        let material = r.current_material().ok_or_else(|| {
            KmsError::new(
                ErrorKind::KmsInternal,
                format!("{} has no key material", self.arn(r)),
            )
        })?;
        self.check_available(r, material)?;
        op(kind, &material_ref(r, material)).map_err(|e| self.kind_error(what, r, material, e))
    }

    /// A key kind's failure seen by an operation.
    pub(super) fn kind_error(
        &self,
        op: &'static str,
        r: &KeyRecord,
        m: &Material,
        e: KindError,
    ) -> KmsError {
        match e {
            KindError::Unsupported(u) => u.into(),
            KindError::Refused(e) => e,
            KindError::Token(e) => self.material_error(op, r, m, e),
        }
    }

    pub(crate) fn encrypt(
        &self,
        call: &mut Call<'_>,
        req: EncryptRequest,
    ) -> Result<EncryptResponse, KmsError> {
        check_length("plaintext", req.plaintext.len(), MAX_PLAINTEXT_LEN)?;
        check_grant_tokens(&req.grant_tokens)?;
        let (auth, algorithm) = self.usable_with_algorithm(
            call,
            Action::Encrypt,
            &req.key_id,
            &req.encryption_context,
            req.encryption_algorithm,
        )?;
        call.proceed()?;
        let ciphertext_blob = self.seal(
            &auth,
            &req.encryption_context,
            Sealed::Plaintext(algorithm),
            req.plaintext.expose_secret(),
        )?;
        Ok(EncryptResponse {
            ciphertext_blob,
            key_id: self.arn(auth.record()),
            encryption_algorithm: algorithm,
        })
    }

    pub(crate) fn decrypt(
        &self,
        call: &mut Call<'_>,
        req: DecryptRequest,
    ) -> Result<DecryptResponse, KmsError> {
        check_grant_tokens(&req.grant_tokens)?;
        let (auth, plaintext, algorithm) = self.open_blob(
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
            encryption_algorithm: algorithm,
        })
    }

    pub(crate) fn re_encrypt(
        &self,
        call: &mut Call<'_>,
        req: ReEncryptRequest,
    ) -> Result<ReEncryptResponse, KmsError> {
        check_grant_tokens(&req.grant_tokens)?;
        let (destination, destination_algorithm) = self.usable_with_algorithm(
            call,
            Action::ReEncryptTo,
            &req.destination_key_id,
            &req.destination_encryption_context,
            req.destination_encryption_algorithm,
        )?;
        let destination_arn = call.key.take();
        let (source, plaintext, source_algorithm) = self.open_blob(
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
            Sealed::Plaintext(destination_algorithm),
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
            source_encryption_algorithm: source_algorithm,
            destination_encryption_algorithm: destination_algorithm,
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

/// What a blob is sealed for: the key kind may allow one and not the other (an RSA key
/// encrypts, but makes no data keys).
#[derive(Clone, Copy)]
pub(super) enum Sealed {
    /// Encrypt's (or ReEncrypt's) plaintext, with this algorithm.
    Plaintext(EncryptionAlgorithm),
    /// A data key (GenerateDataKey*, or a data key pair's private key).
    DataKey,
}

/// The material version `m` of `r`, as a key kind takes it.
pub(super) fn material_ref(r: &KeyRecord, m: &Material) -> MaterialRef {
    MaterialRef {
        spec: r.spec,
        usage: r.usage,
        key_id: r.id,
        version: m.version,
        object: ObjectId::from_bytes(m.object_id),
        public: m.public_object_id.map(ObjectId::from_bytes),
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
