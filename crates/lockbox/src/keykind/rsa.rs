//! RSA_2048, RSA_3072, RSA_4096: an RSA key pair in the token (public exponent 65537), the
//! private half sensitive and never extractable, the public half a token object too.
//!
//! ENCRYPT_DECRYPT keys encrypt with RSAES-OAEP (SHA-1 or SHA-256, MGF1 with the same hash,
//! no label); their ciphertexts are raw OAEP output, not Lockbox blobs. SIGN_VERIFY keys sign
//! with RSASSA-PSS (salt as long as the digest) or RSASSA-PKCS1-v1_5, over SHA-256/384/512.

use lockbox_api::{
    EncryptionAlgorithm, EncryptionContext, ErrorKind, KeySpec, KeyUsage, KmsError, Operation,
    SigningAlgorithm,
};
use lockbox_token::{KeyPairTemplate, OaepHash, RsaBits, RsaPurpose, Token};
use zeroize::Zeroizing;

use super::{KeyKind, KindError, MaterialRef, MaterialTemplate, Unsupported};

/// The RSA key kind.
pub(crate) static RSA: Rsa = Rsa;

/// RSA key pairs (see the module docs).
pub(crate) struct Rsa;

impl KeyKind for Rsa {
    fn name(&self) -> &'static str {
        "RSA"
    }

    fn specs(&self) -> &'static [KeySpec] {
        &[KeySpec::Rsa2048, KeySpec::Rsa3072, KeySpec::Rsa4096]
    }

    fn usages(&self, _spec: KeySpec) -> &'static [KeyUsage] {
        &[KeyUsage::EncryptDecrypt, KeyUsage::SignVerify]
    }

    fn default_usage(&self) -> Option<KeyUsage> {
        None
    }

    fn encryption_algorithms(&self, usage: KeyUsage) -> &'static [EncryptionAlgorithm] {
        match usage {
            KeyUsage::EncryptDecrypt => &[
                EncryptionAlgorithm::RsaesOaepSha1,
                EncryptionAlgorithm::RsaesOaepSha256,
            ],
            _ => &[],
        }
    }

    fn signing_algorithms(&self, _spec: KeySpec, usage: KeyUsage) -> &'static [SigningAlgorithm] {
        match usage {
            KeyUsage::SignVerify => &[
                SigningAlgorithm::RsassaPssSha256,
                SigningAlgorithm::RsassaPssSha384,
                SigningAlgorithm::RsassaPssSha512,
                SigningAlgorithm::RsassaPkcs1V15Sha256,
                SigningAlgorithm::RsassaPkcs1V15Sha384,
                SigningAlgorithm::RsassaPkcs1V15Sha512,
            ],
            _ => &[],
        }
    }

    fn raw_ciphertexts(&self) -> bool {
        true
    }

    fn material_template(&self, spec: KeySpec, usage: KeyUsage) -> MaterialTemplate {
        let bits = match spec {
            KeySpec::Rsa3072 => RsaBits::Rsa3072,
            KeySpec::Rsa4096 => RsaBits::Rsa4096,
            _ => RsaBits::Rsa2048,
        };
        let purpose = match usage {
            KeyUsage::SignVerify => RsaPurpose::SignVerify,
            _ => RsaPurpose::EncryptDecrypt,
        };
        MaterialTemplate::KeyPair(KeyPairTemplate::rsa(bits, purpose))
    }

    fn operations(&self) -> &'static [Operation] {
        &[
            Operation::Encrypt,
            Operation::Decrypt,
            Operation::ReEncrypt,
            Operation::Sign,
            Operation::Verify,
            Operation::GetPublicKey,
        ]
    }

    // ---- signatures (Sign, Verify, GetPublicKey) ----

    // ---- encryption (Encrypt, Decrypt, ReEncrypt) ----

    /// RSAES-OAEP with the public half (see `docs/formats/asymmetric.md`). The engine has
    /// refused an encryption context already; the plaintext limit is AWS's, per key spec and
    /// algorithm (RSA_2048: 214 bytes with SHA-1, 190 with SHA-256).
    fn encrypt(
        &self,
        token: &Token,
        m: &MaterialRef,
        algorithm: EncryptionAlgorithm,
        _context: &EncryptionContext,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KindError> {
        let hash = oaep_hash("Encrypt", m, algorithm)?;
        let max = hash.max_plaintext_len(modulus_len(m.spec));
        if plaintext.len() > max {
            return Err(KindError::Refused(KmsError::validation(format!(
                "Algorithm {algorithm} and key spec {} cannot encrypt data larger than {max} \
                 bytes.",
                m.spec
            ))));
        }
        let public = m.public.ok_or_else(|| no_public_half(m))?;
        Ok(token.rsa_oaep_encrypt(&public, hash, plaintext)?)
    }

    /// RSAES-OAEP decryption with the private half, in the token (or raw RSA in the token and
    /// constant-time decoding outside): any failure is `DecryptFailed`.
    fn decrypt_raw(
        &self,
        token: &Token,
        m: &MaterialRef,
        algorithm: EncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KindError> {
        let hash = oaep_hash("Decrypt", m, algorithm)?;
        Ok(token.rsa_oaep_decrypt(&m.object, hash, ciphertext)?)
    }
}

/// The modulus length in bytes of an RSA key spec.
fn modulus_len(spec: KeySpec) -> usize {
    match spec {
        KeySpec::Rsa3072 => 384,
        KeySpec::Rsa4096 => 512,
        _ => 256,
    }
}

/// The OAEP hash of an encryption algorithm (the engine passes only those the kind allows).
fn oaep_hash(
    op: &'static str,
    m: &MaterialRef,
    algorithm: EncryptionAlgorithm,
) -> Result<OaepHash, KindError> {
    match algorithm {
        EncryptionAlgorithm::RsaesOaepSha1 => Ok(OaepHash::Sha1),
        EncryptionAlgorithm::RsaesOaepSha256 => Ok(OaepHash::Sha256),
        _ => Err(Unsupported::new(op, m.spec).into()),
    }
}

/// A key-pair record without its public half: the record is wrong, not the request.
fn no_public_half(m: &MaterialRef) -> KindError {
    KindError::Refused(KmsError::new(
        ErrorKind::KmsInternal,
        format!(
            "Key {} version {} names no public key object.",
            m.key_id, m.version
        ),
    ))
}
