//! RSA_2048, RSA_3072, RSA_4096: an RSA key pair in the token (public exponent 65537), the
//! private half sensitive and never extractable, the public half a token object too.
//!
//! ENCRYPT_DECRYPT keys encrypt with RSAES-OAEP (SHA-1 or SHA-256, MGF1 with the same hash,
//! no label); their ciphertexts are raw OAEP output, not Lockbox blobs. SIGN_VERIFY keys sign
//! with RSASSA-PSS (salt as long as the digest) or RSASSA-PKCS1-v1_5, over SHA-256/384/512.

use lockbox_api::{EncryptionAlgorithm, KeySpec, KeyUsage, Operation, SigningAlgorithm};
use lockbox_token::{KeyPairTemplate, Mech, Requirement, RsaBits, RsaPurpose};

use super::{KeyKind, MaterialTemplate};

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
    // (Paths spelled out: the other sections' helpers edit this file's imports.)

    fn public_key(
        &self,
        token: &lockbox_token::Token,
        m: &super::MaterialRef,
    ) -> Result<Vec<u8>, super::KindError> {
        super::signatures::public_key(token, m)
    }

    fn sign(
        &self,
        token: &lockbox_token::Token,
        m: &super::MaterialRef,
        algorithm: SigningAlgorithm,
        digest: &[u8],
    ) -> Result<Vec<u8>, super::KindError> {
        super::signatures::sign(token, m, algorithm, digest)
    }

    fn verify(
        &self,
        token: &lockbox_token::Token,
        m: &super::MaterialRef,
        algorithm: SigningAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<bool, super::KindError> {
        super::signatures::verify(token, m, algorithm, digest, signature)
    }

    // ---- encryption (Encrypt, Decrypt, ReEncrypt) ----
}
