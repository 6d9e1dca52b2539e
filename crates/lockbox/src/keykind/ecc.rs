//! ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521 and ECC_SECG_P256K1: an EC key pair in the
//! token, the private half sensitive and never extractable, the public half a token object.
//!
//! SIGN_VERIFY keys sign with ECDSA over the hash AWS pairs with the curve (SHA-256 for P-256
//! and secp256k1, SHA-384 for P-384, SHA-512 for P-521); signatures are DER, as AWS returns
//! them. KEY_AGREEMENT keys (NIST curves only) derive ECDH shared secrets in the token.

use lockbox_api::{KeyAgreementAlgorithm, KeySpec, KeyUsage, Operation, SigningAlgorithm};
use lockbox_token::{Curve, EcPurpose, KeyPairTemplate, Mech, Requirement};

use super::{KeyKind, MaterialTemplate};

/// The ECC key kind.
pub(crate) static ECC: Ecc = Ecc;

/// EC key pairs (see the module docs).
pub(crate) struct Ecc;

/// The curve of an ECC key spec.
pub(crate) fn curve(spec: KeySpec) -> Curve {
    match spec {
        KeySpec::EccNistP384 => Curve::P384,
        KeySpec::EccNistP521 => Curve::P521,
        KeySpec::EccSecgP256k1 => Curve::Secp256k1,
        _ => Curve::P256,
    }
}

impl KeyKind for Ecc {
    fn name(&self) -> &'static str {
        "ECC"
    }

    fn specs(&self) -> &'static [KeySpec] {
        &[
            KeySpec::EccNistP256,
            KeySpec::EccNistP384,
            KeySpec::EccNistP521,
            KeySpec::EccSecgP256k1,
        ]
    }

    fn usages(&self, spec: KeySpec) -> &'static [KeyUsage] {
        match spec {
            KeySpec::EccSecgP256k1 => &[KeyUsage::SignVerify],
            _ => &[KeyUsage::SignVerify, KeyUsage::KeyAgreement],
        }
    }

    fn default_usage(&self) -> Option<KeyUsage> {
        None
    }

    fn signing_algorithms(&self, spec: KeySpec, usage: KeyUsage) -> &'static [SigningAlgorithm] {
        if usage != KeyUsage::SignVerify {
            return &[];
        }
        match spec {
            KeySpec::EccNistP384 => &[SigningAlgorithm::EcdsaSha384],
            KeySpec::EccNistP521 => &[SigningAlgorithm::EcdsaSha512],
            _ => &[SigningAlgorithm::EcdsaSha256],
        }
    }

    fn key_agreement_algorithms(&self, usage: KeyUsage) -> &'static [KeyAgreementAlgorithm] {
        match usage {
            KeyUsage::KeyAgreement => &[KeyAgreementAlgorithm::Ecdh],
            _ => &[],
        }
    }

    fn material_template(&self, spec: KeySpec, usage: KeyUsage) -> MaterialTemplate {
        let purpose = match usage {
            KeyUsage::KeyAgreement => EcPurpose::KeyAgreement,
            _ => EcPurpose::SignVerify,
        };
        MaterialTemplate::KeyPair(KeyPairTemplate::ec(curve(spec), purpose))
    }

    /// Key generation on the spec's curve; ECDSA (over a digest made outside) to sign, ECDH
    /// to agree.
    fn token_requirements(&self, spec: KeySpec, usage: KeyUsage) -> Vec<Requirement> {
        let operation = match usage {
            KeyUsage::KeyAgreement => Mech::Ecdh1Derive,
            _ => Mech::Ecdsa,
        };
        vec![
            Requirement::Mechanism(Mech::EcKeyPairGen),
            Requirement::Curve(curve(spec)),
            Requirement::Mechanism(operation),
        ]
    }

    fn operations(&self) -> &'static [Operation] {
        &[
            Operation::Sign,
            Operation::Verify,
            Operation::GetPublicKey,
            Operation::DeriveSharedSecret,
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

    // ---- key agreement (DeriveSharedSecret) ----

    /// ECDH in the token (CKM_ECDH1_DERIVE with CKD_NULL): the raw shared secret Z, the
    /// x-coordinate of the shared point, as AWS returns it. The peer's key is parsed and its
    /// point checked on the host first (see `peer_key`); a bad one is a ValidationException.
    fn derive_shared_secret(
        &self,
        token: &lockbox_token::Token,
        m: &super::MaterialRef,
        peer_public_key: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, super::KindError> {
        if m.usage != KeyUsage::KeyAgreement {
            return Err(super::Unsupported::new("DeriveSharedSecret", m.spec).into());
        }
        let point = super::peer_key::parse_peer_public_key(m.spec, peer_public_key)
            .map_err(super::KindError::Refused)?;
        Ok(token.ecdh_derive(&m.object, curve(m.spec), &point)?)
    }
}
