//! What the RSA and ECC kinds share for Sign, Verify and GetPublicKey: the signing
//! algorithm's token scheme (the private object signs, the public object verifies), and the
//! export of the public half's SubjectPublicKeyInfo (docs/formats/asymmetric.md).

use lockbox_api::{ErrorKind, KeySpec, KmsError, SigningAlgorithm};
use lockbox_token::{Curve, ObjectId, SignatureHash, SignatureScheme, Token};

use super::{KindError, MaterialRef, Unsupported};

/// GetPublicKey: the DER SubjectPublicKeyInfo of `m`'s public half, read from its public
/// key object (public attributes only).
pub(super) fn public_key(token: &Token, m: &MaterialRef) -> Result<Vec<u8>, KindError> {
    Ok(token.public_key_info(&public_object(m)?)?)
}

/// The public key object of a key pair's material version. A key-pair record always names
/// one (key record v4); one without it is damaged metadata, not a caller's mistake.
pub(super) fn public_object(m: &MaterialRef) -> Result<ObjectId, KindError> {
    m.public.ok_or_else(|| {
        KindError::Refused(KmsError::new(
            ErrorKind::KmsInternal,
            format!(
                "Material version {} of key {} has no public key object.",
                m.version, m.key_id
            ),
        ))
    })
}

/// Sign: `m`'s private key object signs `digest` with `algorithm`.
pub(super) fn sign(
    token: &Token,
    m: &MaterialRef,
    algorithm: SigningAlgorithm,
    digest: &[u8],
) -> Result<Vec<u8>, KindError> {
    let scheme = scheme(m.spec, algorithm).ok_or(Unsupported::new("Sign", m.spec))?;
    Ok(token.sign_digest(&m.object, scheme, digest)?)
}

/// Verify: `m`'s public key object checks `signature` over `digest` with `algorithm`.
pub(super) fn verify(
    token: &Token,
    m: &MaterialRef,
    algorithm: SigningAlgorithm,
    digest: &[u8],
    signature: &[u8],
) -> Result<bool, KindError> {
    let scheme = scheme(m.spec, algorithm).ok_or(Unsupported::new("Verify", m.spec))?;
    Ok(token.verify_digest(&public_object(m)?, scheme, digest, signature)?)
}

/// The token's signature scheme for `algorithm` on a key of `spec`: `None` for a pair the
/// kinds do not allow (the engine has refused those already, with AWS's error).
fn scheme(spec: KeySpec, algorithm: SigningAlgorithm) -> Option<SignatureScheme> {
    use SigningAlgorithm::*;
    let rsa = matches!(spec, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096);
    let curve = match spec {
        KeySpec::EccNistP256 => Some(Curve::P256),
        KeySpec::EccNistP384 => Some(Curve::P384),
        KeySpec::EccNistP521 => Some(Curve::P521),
        KeySpec::EccSecgP256k1 => Some(Curve::Secp256k1),
        _ => None,
    };
    let (h256, h384, h512) = (
        SignatureHash::Sha256,
        SignatureHash::Sha384,
        SignatureHash::Sha512,
    );
    Some(match (algorithm, rsa, curve) {
        (RsassaPssSha256, true, _) => SignatureScheme::RsaPss(h256),
        (RsassaPssSha384, true, _) => SignatureScheme::RsaPss(h384),
        (RsassaPssSha512, true, _) => SignatureScheme::RsaPss(h512),
        (RsassaPkcs1V15Sha256, true, _) => SignatureScheme::RsaPkcs1v15(h256),
        (RsassaPkcs1V15Sha384, true, _) => SignatureScheme::RsaPkcs1v15(h384),
        (RsassaPkcs1V15Sha512, true, _) => SignatureScheme::RsaPkcs1v15(h512),
        (EcdsaSha256, _, Some(c @ (Curve::P256 | Curve::Secp256k1))) => {
            SignatureScheme::Ecdsa(c, h256)
        }
        (EcdsaSha384, _, Some(c @ Curve::P384)) => SignatureScheme::Ecdsa(c, h384),
        (EcdsaSha512, _, Some(c @ Curve::P521)) => SignatureScheme::Ecdsa(c, h512),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use lockbox_api::KeyUsage;

    use super::*;
    use crate::keykind::{ECC, KeyKind, RSA};

    #[test]
    fn every_algorithm_a_kind_allows_has_a_scheme_and_no_other_does() {
        for kind in [&RSA as &dyn KeyKind, &ECC] {
            for spec in kind.specs() {
                let allowed = kind.signing_algorithms(*spec, KeyUsage::SignVerify);
                for a in SigningAlgorithm::ALL {
                    assert_eq!(
                        scheme(*spec, *a).is_some(),
                        allowed.contains(a),
                        "{spec} {a}"
                    );
                }
            }
        }
    }
}
