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
use lockbox_token::{KeyPairTemplate, Mech, OaepHash, Requirement, RsaBits, RsaPurpose, Token};
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

    /// Key generation at the spec's modulus size; PKCS#1 v1.5 (over a DigestInfo made
    /// outside) and PSS to sign; OAEP, and raw RSA for OAEP's hashes the token's OAEP lacks
    /// (SoftHSM 2.6.1's has SHA-1 only), to encrypt.
    fn token_requirements(&self, spec: KeySpec, usage: KeyUsage) -> Vec<Requirement> {
        let bits = match spec {
            KeySpec::Rsa3072 => 3072,
            KeySpec::Rsa4096 => 4096,
            _ => 2048,
        };
        let mut r = vec![
            Requirement::Mechanism(Mech::RsaKeyPairGen),
            Requirement::RsaModulus(bits),
        ];
        match usage {
            KeyUsage::SignVerify => {
                r.extend([Mech::RsaPkcs, Mech::RsaPkcsPss].map(Requirement::Mechanism))
            }
            _ => r.extend([Mech::RsaPkcsOaep, Mech::RsaX509].map(Requirement::Mechanism)),
        }
        r
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

    fn public_key(&self, token: &Token, m: &MaterialRef) -> Result<Vec<u8>, KindError> {
        super::signatures::public_key(token, m)
    }

    fn sign(
        &self,
        token: &Token,
        m: &MaterialRef,
        algorithm: SigningAlgorithm,
        digest: &[u8],
    ) -> Result<Vec<u8>, KindError> {
        super::signatures::sign(token, m, algorithm, digest)
    }

    fn verify(
        &self,
        token: &Token,
        m: &MaterialRef,
        algorithm: SigningAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<bool, KindError> {
        super::signatures::verify(token, m, algorithm, digest, signature)
    }

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
