//! Materials: the data key of a message and what goes with it, and the managers that
//! produce them: [`KmsKeyring`] calls a [`Kms`]; `cache::CachingMaterials` puts a cache in
//! front of any manager.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use lockbox_api::{
    DataKeySpec, DecryptRequest, DescribeKeyRequest, EncryptRequest, EncryptionContext,
    GenerateDataKeyRequest, GrantTokens, KeyRef, Kms, KmsError, Plaintext,
};
use zeroize::Zeroizing;

use crate::error::EnvelopeError;
use crate::header::EncryptedDataKey;
use crate::sign::{MessageSigningKey, MessageVerifyingKey, PUBLIC_KEY_CONTEXT_KEY};
use crate::suite::Suite;
use crate::{DATA_KEY_LEN, PROVIDER_ID_AWS_KMS, RESERVED_CONTEXT_PREFIX};

/// A plaintext data key: zeroized on drop, no Debug, no Display.
pub struct DataKey(Zeroizing<[u8; DATA_KEY_LEN]>);

impl DataKey {
    /// Takes a KMS plaintext of exactly the suite's key length.
    pub fn from_plaintext(p: &Plaintext) -> Result<DataKey, EnvelopeError> {
        let bytes = p.expose_secret();
        if bytes.len() != DATA_KEY_LEN {
            return Err(EnvelopeError::InvalidInput(format!(
                "the KMS returned a {}-byte data key; the suite needs {DATA_KEY_LEN} bytes",
                bytes.len()
            )));
        }
        let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        key.copy_from_slice(bytes);
        Ok(DataKey(key))
    }

    pub(crate) fn bytes(&self) -> &[u8; DATA_KEY_LEN] {
        &self.0
    }
}

/// What encrypting a message needs.
pub struct EncryptionMaterials {
    /// The suite the message uses.
    pub suite: Suite,
    /// The plaintext data key.
    pub data_key: DataKey,
    /// The data key encrypted under each CMK.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    /// The context written into the header: the caller's, plus `aws-crypto-public-key` for
    /// the signing suite.
    pub context: BTreeMap<String, String>,
    /// The signing key, for the signing suite.
    pub signing_key: Option<MessageSigningKey>,
}

/// What decrypting a message needs.
pub struct DecryptionMaterials {
    /// The plaintext data key.
    pub data_key: DataKey,
    /// The key that checks the signature, for the signing suite.
    pub verifying_key: Option<MessageVerifyingKey>,
}

/// A request for encryption materials.
#[derive(Clone, Copy, Debug)]
pub struct EncryptionRequest<'a> {
    /// The caller's encryption context.
    pub context: &'a BTreeMap<String, String>,
    /// The suite.
    pub suite: Suite,
    /// The plaintext length, when known in advance (needed for caching).
    pub plaintext_length: Option<u64>,
}

/// A request for decryption materials, from a parsed header.
#[derive(Clone, Copy, Debug)]
pub struct DecryptionRequest<'a> {
    /// The header's suite.
    pub suite: Suite,
    /// The header's encrypted data keys.
    pub encrypted_data_keys: &'a [EncryptedDataKey],
    /// The header's encryption context (all of it).
    pub context: &'a BTreeMap<String, String>,
}

/// Produces materials; the equivalent of the AWS Encryption SDK's cryptographic materials
/// manager.
pub trait MaterialsManager: Send + Sync {
    /// The materials to encrypt one message.
    fn encryption_materials(
        &self,
        req: &EncryptionRequest<'_>,
    ) -> Result<Arc<EncryptionMaterials>, EnvelopeError>;
    /// The materials to decrypt one message.
    fn decryption_materials(
        &self,
        req: &DecryptionRequest<'_>,
    ) -> Result<Arc<DecryptionMaterials>, EnvelopeError>;

    /// What a cache in front of this manager keys its entries by, besides suite and context:
    /// for a keyring, the keys it encrypts under and may decrypt with, so that a cache never
    /// serves one set of keys' materials to another.
    fn cache_partition(&self) -> String {
        String::new()
    }
}

/// Which encrypted data keys a keyring may try to decrypt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecryptKeys {
    /// Only those whose provider info is one of these key ARNs.
    Strict(Vec<String>),
    /// Any `aws-kms` encrypted data key (the KMS decides whether the caller may use it).
    Discovery,
}

/// The AWS Encryption SDK's KMS keyring over any [`Kms`]: GenerateDataKey under the first
/// key, Encrypt under the others, one encrypted data key each (provider id `aws-kms`,
/// provider info the key ARN); Decrypt of the first allowed encrypted data key that works.
pub struct KmsKeyring {
    kms: Arc<dyn Kms>,
    encrypt_keys: Vec<KeyRef>,
    decrypt_keys: DecryptKeys,
    grant_tokens: GrantTokens,
}

impl KmsKeyring {
    /// A keyring that encrypts under `key_ids` (the first generates the data key) and
    /// decrypts only what one of them encrypted. Ids may be key ids, key ARNs, alias names
    /// or alias ARNs; those that are not key ARNs are resolved to one with DescribeKey, since
    /// a message names its keys by ARN.
    pub fn new(kms: Arc<dyn Kms>, key_ids: &[String]) -> Result<KmsKeyring, EnvelopeError> {
        if key_ids.is_empty() {
            return Err(EnvelopeError::InvalidInput(
                "at least one key id is needed".into(),
            ));
        }
        let mut refs = Vec::with_capacity(key_ids.len());
        let mut arns = Vec::with_capacity(key_ids.len());
        for id in key_ids {
            let r = KeyRef::parse(id)?;
            let arn = match &r {
                KeyRef::KeyArn(arn) => arn.to_string(),
                _ => kms
                    .describe_key(DescribeKeyRequest::new(r.clone()))?
                    .key_metadata
                    .arn
                    .to_string(),
            };
            refs.push(r);
            arns.push(arn);
        }
        Ok(KmsKeyring {
            kms,
            encrypt_keys: refs,
            decrypt_keys: DecryptKeys::Strict(arns),
            grant_tokens: GrantTokens::none(),
        })
    }

    /// A keyring that only decrypts, trying any `aws-kms` encrypted data key.
    pub fn discovery(kms: Arc<dyn Kms>) -> KmsKeyring {
        KmsKeyring {
            kms,
            encrypt_keys: Vec::new(),
            decrypt_keys: DecryptKeys::Discovery,
            grant_tokens: GrantTokens::none(),
        }
    }

    /// Grant tokens to send with every KMS call.
    pub fn with_grant_tokens(mut self, tokens: GrantTokens) -> KmsKeyring {
        self.grant_tokens = tokens;
        self
    }

    /// Which encrypted data keys this keyring tries.
    pub fn decrypt_keys(&self) -> &DecryptKeys {
        &self.decrypt_keys
    }

    fn allowed(&self, edk: &EncryptedDataKey) -> bool {
        if edk.provider_id != PROVIDER_ID_AWS_KMS {
            return false;
        }
        match (&self.decrypt_keys, edk.provider_info_str()) {
            (_, None) => false,
            (DecryptKeys::Discovery, Some(_)) => true,
            (DecryptKeys::Strict(arns), Some(info)) => arns.iter().any(|a| a == info),
        }
    }
}

fn kms_context(ctx: &BTreeMap<String, String>) -> Result<EncryptionContext, EnvelopeError> {
    Ok(EncryptionContext::new(ctx.clone())?)
}

impl MaterialsManager for KmsKeyring {
    fn encryption_materials(
        &self,
        req: &EncryptionRequest<'_>,
    ) -> Result<Arc<EncryptionMaterials>, EnvelopeError> {
        let Some((generator, others)) = self.encrypt_keys.split_first() else {
            return Err(EnvelopeError::InvalidInput(
                "this keyring was made for decryption only (discovery): it has no key to \
                 encrypt under"
                    .into(),
            ));
        };
        if let Some(k) = req
            .context
            .keys()
            .find(|k| k.starts_with(RESERVED_CONTEXT_PREFIX))
        {
            return Err(EnvelopeError::InvalidInput(format!(
                "encryption context key {:?} uses the reserved prefix {RESERVED_CONTEXT_PREFIX:?}",
                lockbox_api::shorten(k)
            )));
        }
        let mut context = req.context.clone();
        let signing_key = if req.suite.is_signed() {
            let key = MessageSigningKey::generate();
            context.insert(PUBLIC_KEY_CONTEXT_KEY.to_owned(), key.public_key_text());
            Some(key)
        } else {
            None
        };
        let ec = kms_context(&context)?;
        let mut gen_req = GenerateDataKeyRequest::new(generator.clone(), DataKeySpec::Aes256);
        gen_req.encryption_context = ec.clone();
        gen_req.grant_tokens = self.grant_tokens.clone();
        let generated = self.kms.generate_data_key(gen_req)?;
        let data_key = DataKey::from_plaintext(&generated.plaintext)?;
        let mut edks = Vec::with_capacity(self.encrypt_keys.len());
        edks.push(EncryptedDataKey {
            provider_id: PROVIDER_ID_AWS_KMS.to_owned(),
            provider_info: generated.key_id.to_string().into_bytes(),
            ciphertext: generated.ciphertext_blob,
        });
        for key in others {
            let mut enc = EncryptRequest::new(key.clone(), Plaintext::copy_from(data_key.bytes()));
            enc.encryption_context = ec.clone();
            enc.grant_tokens = self.grant_tokens.clone();
            let out = self.kms.encrypt(enc)?;
            edks.push(EncryptedDataKey {
                provider_id: PROVIDER_ID_AWS_KMS.to_owned(),
                provider_info: out.key_id.to_string().into_bytes(),
                ciphertext: out.ciphertext_blob,
            });
        }
        Ok(Arc::new(EncryptionMaterials {
            suite: req.suite,
            data_key,
            encrypted_data_keys: edks,
            context,
            signing_key,
        }))
    }

    fn cache_partition(&self) -> String {
        let mut p = String::from("aws-kms encrypt:");
        for k in &self.encrypt_keys {
            p.push_str(&k.to_string());
            p.push(' ');
        }
        match &self.decrypt_keys {
            DecryptKeys::Strict(arns) => {
                p.push_str("decrypt:");
                p.push_str(&arns.join(" "));
            }
            DecryptKeys::Discovery => p.push_str("decrypt:discovery"),
        }
        p
    }

    fn decryption_materials(
        &self,
        req: &DecryptionRequest<'_>,
    ) -> Result<Arc<DecryptionMaterials>, EnvelopeError> {
        let verifying_key = if req.suite.is_signed() {
            let text = req.context.get(PUBLIC_KEY_CONTEXT_KEY).ok_or_else(|| {
                EnvelopeError::Malformed(format!(
                    "suite 0x{:04X} signs messages but the encryption context has no {}",
                    req.suite.id(),
                    PUBLIC_KEY_CONTEXT_KEY
                ))
            })?;
            Some(MessageVerifyingKey::from_context_text(text)?)
        } else {
            None
        };
        let ec = kms_context(req.context)?;
        let mut tried: Vec<(String, KmsError)> = Vec::new();
        let mut skipped = 0usize;
        for edk in req.encrypted_data_keys {
            if !self.allowed(edk) {
                skipped += 1;
                continue;
            }
            let info = edk.provider_info_str().unwrap_or_default();
            let key_ref = match KeyRef::parse(info) {
                Ok(r) => r,
                Err(e) => {
                    tried.push((info.to_owned(), e));
                    continue;
                }
            };
            let mut dec = DecryptRequest::new(edk.ciphertext.clone());
            dec.encryption_context = ec.clone();
            dec.key_id = Some(key_ref);
            dec.grant_tokens = self.grant_tokens.clone();
            match self.kms.decrypt(dec) {
                Ok(out) if out.key_id.to_string() == info => {
                    let data_key = DataKey::from_plaintext(&out.plaintext)?;
                    return Ok(Arc::new(DecryptionMaterials {
                        data_key,
                        verifying_key,
                    }));
                }
                Ok(out) => tried.push((
                    info.to_owned(),
                    KmsError::new(
                        lockbox_api::ErrorKind::IncorrectKey,
                        format!("the KMS decrypted with {} instead", out.key_id),
                    ),
                )),
                Err(e) => tried.push((info.to_owned(), e)),
            }
        }
        let mut why = format!(
            "{} encrypted data key(s) in the message",
            req.encrypted_data_keys.len()
        );
        if skipped > 0 {
            let _ = write!(
                why,
                "; {skipped} not from an allowed aws-kms key{}",
                match &self.decrypt_keys {
                    DecryptKeys::Strict(arns) => format!(" (allowed: {})", arns.join(", ")),
                    DecryptKeys::Discovery => String::new(),
                }
            );
        }
        for (info, e) in &tried {
            let _ = write!(why, "; {}: {}", lockbox_api::shorten(info), e);
        }
        Err(EnvelopeError::NoDecryptableKey(why))
    }
}
