//! Signatures over a digest the caller computed: the private key object signs (C_Sign), the
//! public key object verifies (C_Verify). The hash is always computed outside the token (it
//! is public work, and SoftHSM 2.6.1 has no hashing ECDSA mechanism), so every scheme here
//! signs a digest:
//!
//! - RSASSA-PKCS1-v1_5: CKM_RSA_PKCS over `DigestInfo(hash OID, digest)`, the DigestInfo
//!   built here (RFC 8017 §9.2; the token adds the EMSA-PKCS1-v1_5 padding and does the
//!   private-key operation).
//! - RSASSA-PSS: CKM_RSA_PKCS_PSS over the digest, with CK_RSA_PKCS_PSS_PARAMS naming the
//!   hash, MGF1 with the same hash, and a salt as long as the digest (what AWS KMS uses).
//! - ECDSA: CKM_ECDSA over the digest. The token's signature is `r ‖ s`, each as wide as the
//!   curve's field; callers get the DER `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`
//!   (RFC 3279 §2.2.3), as AWS KMS returns it, and Verify takes DER back.
//!
//! Verify is total over the signature's bytes: malformed DER, a wrong length and a signature
//! the token rejects are all `Ok(false)`; only a failure of the token itself is an error.

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::types::Ulong;
use der::asn1::UintRef;
use der::{Decode, Encode};

use super::public_key::der_error;
use super::{Curve, ObjectId, Token};
use crate::error::TokenError;

/// The hash function a signature's digest was made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureHash {
    /// SHA-256 (32-byte digests).
    Sha256,
    /// SHA-384 (48-byte digests).
    Sha384,
    /// SHA-512 (64-byte digests).
    Sha512,
}

impl SignatureHash {
    /// The digest's length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            SignatureHash::Sha256 => 32,
            SignatureHash::Sha384 => 48,
            SignatureHash::Sha512 => 64,
        }
    }

    /// The DER of `DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier (hash OID,
    /// NULL parameters), digest OCTET STRING }` up to the digest itself: the prefixes of
    /// RFC 8017 §9.2, note 1.
    pub fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            // 2.16.840.1.101.3.4.2.1
            SignatureHash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            // 2.16.840.1.101.3.4.2.2
            SignatureHash::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            // 2.16.840.1.101.3.4.2.3
            SignatureHash::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }

    fn mechanism(self) -> MechanismType {
        match self {
            SignatureHash::Sha256 => MechanismType::SHA256,
            SignatureHash::Sha384 => MechanismType::SHA384,
            SignatureHash::Sha512 => MechanismType::SHA512,
        }
    }

    fn mgf1(self) -> PkcsMgfType {
        match self {
            SignatureHash::Sha256 => PkcsMgfType::MGF1_SHA256,
            SignatureHash::Sha384 => PkcsMgfType::MGF1_SHA384,
            SignatureHash::Sha512 => PkcsMgfType::MGF1_SHA512,
        }
    }
}

/// A signature scheme over a digest (see the module docs for the mechanism of each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// RSASSA-PKCS1-v1_5 with this hash.
    RsaPkcs1v15(SignatureHash),
    /// RSASSA-PSS with this hash, MGF1 with the same hash, salt as long as the digest.
    RsaPss(SignatureHash),
    /// ECDSA on this curve, over a digest of this hash (signatures DER-encoded).
    Ecdsa(Curve, SignatureHash),
}

impl SignatureScheme {
    /// The hash whose digest the scheme signs.
    pub fn hash(self) -> SignatureHash {
        match self {
            SignatureScheme::RsaPkcs1v15(h)
            | SignatureScheme::RsaPss(h)
            | SignatureScheme::Ecdsa(_, h) => h,
        }
    }
}

impl Token {
    /// Signs `digest` with the private key object `private` under `scheme`. `digest` must
    /// have the scheme's digest length. ECDSA signatures come back DER-encoded.
    pub fn sign_digest(
        &self,
        private: &ObjectId,
        scheme: SignatureScheme,
        digest: &[u8],
    ) -> Result<Vec<u8>, TokenError> {
        check_digest(scheme, digest)?;
        let input = signing_input(scheme, digest);
        let mechanism = mechanism(scheme);
        let signature = self.run(|t, s| {
            let handle = t.handle(s, private)?;
            Ok(s.sign(&mechanism, handle, &input)?)
        })?;
        match scheme {
            SignatureScheme::Ecdsa(curve, _) => ecdsa_der(curve, &signature),
            _ => Ok(signature),
        }
    }

    /// Whether `signature` is a signature under `scheme` over `digest` by the key pair whose
    /// public key object is `public`. Malformed or rejected signatures are `Ok(false)`.
    pub fn verify_digest(
        &self,
        public: &ObjectId,
        scheme: SignatureScheme,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<bool, TokenError> {
        check_digest(scheme, digest)?;
        let signature = match scheme {
            SignatureScheme::Ecdsa(curve, _) => match ecdsa_fixed(curve, signature) {
                Some(rs) => rs,
                None => return Ok(false),
            },
            _ => signature.to_vec(),
        };
        let input = signing_input(scheme, digest);
        let mechanism = mechanism(scheme);
        self.run(|t, s| {
            let handle = t.handle(s, public)?;
            match s.verify(&mechanism, handle, &input, &signature) {
                Ok(()) => Ok(true),
                // C_Verify ends the operation on either answer, so the session is clean.
                Err(CkError::Pkcs11(RvError::SignatureInvalid | RvError::SignatureLenRange, _)) => {
                    Ok(false)
                }
                Err(e) => Err(e.into()),
            }
        })
    }
}

fn check_digest(scheme: SignatureScheme, digest: &[u8]) -> Result<(), TokenError> {
    let len = scheme.hash().digest_len();
    if digest.len() != len {
        return Err(TokenError::Cryptoki(format!(
            "a {:?} digest has {len} bytes, not {}",
            scheme.hash(),
            digest.len()
        )));
    }
    Ok(())
}

/// What the token's mechanism takes: the DigestInfo for PKCS#1 v1.5, the digest otherwise.
fn signing_input(scheme: SignatureScheme, digest: &[u8]) -> Vec<u8> {
    match scheme {
        SignatureScheme::RsaPkcs1v15(h) => {
            let prefix = h.digest_info_prefix();
            let mut v = Vec::with_capacity(prefix.len() + digest.len());
            v.extend_from_slice(prefix);
            v.extend_from_slice(digest);
            v
        }
        _ => digest.to_vec(),
    }
}

fn mechanism(scheme: SignatureScheme) -> Mechanism<'static> {
    match scheme {
        SignatureScheme::RsaPkcs1v15(_) => Mechanism::RsaPkcs,
        SignatureScheme::RsaPss(h) => Mechanism::RsaPkcsPss(PkcsPssParams {
            hash_alg: h.mechanism(),
            mgf: h.mgf1(),
            s_len: Ulong::from(h.digest_len() as u64),
        }),
        SignatureScheme::Ecdsa(..) => Mechanism::Ecdsa,
    }
}

/// The token's `r ‖ s` as DER `SEQUENCE { r INTEGER, s INTEGER }`.
pub(super) fn ecdsa_der(curve: Curve, rs: &[u8]) -> Result<Vec<u8>, TokenError> {
    let len = curve.field_len();
    if rs.len() != 2 * len {
        return Err(TokenError::Cryptoki(format!(
            "C_Sign returned {} bytes of {curve:?} ECDSA signature, expected {}",
            rs.len(),
            2 * len
        )));
    }
    let (r, s) = rs.split_at(len);
    [
        UintRef::new(r).map_err(der_error)?,
        UintRef::new(s).map_err(der_error)?,
    ]
    .to_der()
    .map_err(der_error)
}

/// A DER ECDSA signature as the fixed-width `r ‖ s` the token verifies, or `None` when it is
/// not one for `curve` (not strict DER, trailing bytes, a negative or over-long integer).
pub(super) fn ecdsa_fixed(curve: Curve, der: &[u8]) -> Option<Vec<u8>> {
    let len = curve.field_len();
    let [r, s] = <[UintRef<'_>; 2]>::from_der(der).ok()?;
    let mut out = vec![0u8; 2 * len];
    for (i, v) in [r.as_bytes(), s.as_bytes()].into_iter().enumerate() {
        if v.len() > len {
            return None;
        }
        let end = (i + 1) * len;
        out[end - v.len()..end].copy_from_slice(v);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use der::asn1::{AnyRef, OctetStringRef};
    use spki::{AlgorithmIdentifier, ObjectIdentifier};

    use super::*;

    #[test]
    fn digest_info_prefixes_are_the_der_of_digest_info() {
        for (h, oid) in [
            (SignatureHash::Sha256, "2.16.840.1.101.3.4.2.1"),
            (SignatureHash::Sha384, "2.16.840.1.101.3.4.2.2"),
            (SignatureHash::Sha512, "2.16.840.1.101.3.4.2.3"),
        ] {
            let digest = vec![0xab; h.digest_len()];
            let alg = AlgorithmIdentifier {
                oid: ObjectIdentifier::new(oid).unwrap(),
                parameters: Some(AnyRef::NULL),
            };
            // DigestInfo is a SEQUENCE of two different types: encode its parts and wrap.
            let mut body = alg.to_der().unwrap();
            body.extend(OctetStringRef::new(&digest).unwrap().to_der().unwrap());
            let mut expected = vec![0x30, body.len() as u8];
            expected.extend(body);
            assert_eq!(
                signing_input(SignatureScheme::RsaPkcs1v15(h), &digest),
                expected
            );
        }
    }

    #[test]
    fn ecdsa_signatures_round_trip_between_der_and_fixed_width() {
        // r with its high bit set (gets a 00 in DER), s with leading zero bytes (trimmed).
        let mut rs = vec![0x80; 32];
        rs.extend([0u8, 0, 0x7f]);
        rs.extend([0x11; 29]);
        let der = ecdsa_der(Curve::P256, &rs).unwrap();
        assert_eq!(
            hex::encode(&der),
            format!("3043022100{}021e7f{}", "80".repeat(32), "11".repeat(29))
        );
        assert_eq!(ecdsa_fixed(Curve::P256, &der), Some(rs.clone()));
        // P-521: 66-byte field elements.
        let rs521 = vec![0x01; 132];
        let der = ecdsa_der(Curve::P521, &rs521).unwrap();
        assert_eq!(ecdsa_fixed(Curve::P521, &der), Some(rs521));
        assert!(ecdsa_der(Curve::P256, &rs[..63]).is_err());
    }

    #[test]
    fn malformed_ecdsa_der_is_not_a_signature() {
        let good = ecdsa_der(Curve::P256, &[0x22; 64]).unwrap();
        let mut trailing = good.clone();
        trailing.push(0);
        let mut negative = good.clone();
        negative[4] = 0x82; // r's first byte: high bit set without a 00 before it
        let mut non_minimal = vec![0x30, 0x45, 0x02, 0x21, 0x00, 0x22];
        non_minimal.extend([0x22; 31]);
        non_minimal.extend(&good[36..]);
        let too_wide = ecdsa_der(Curve::P384, &[0x22; 96]).unwrap();
        for bad in [
            &[][..],
            &[0x30, 0x00],
            &good[..good.len() - 1],
            &trailing,
            &negative,
            &non_minimal,
            &too_wide,
            &[0x30, 0x03, 0x02, 0x01, 0x01],
        ] {
            assert_eq!(ecdsa_fixed(Curve::P256, bad), None, "{}", hex::encode(bad));
        }
        assert!(ecdsa_fixed(Curve::P256, &good).is_some());
    }
}
