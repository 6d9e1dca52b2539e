//! The public half of a key pair, exported as a DER X.509 SubjectPublicKeyInfo (RFC 5280
//! §4.1.2.7): what GetPublicKey returns and what a verifier outside Lockbox loads.
//!
//! Only public attributes of the **public key object** are read: CKA_MODULUS and
//! CKA_PUBLIC_EXPONENT of an RSA key, CKA_EC_PARAMS and CKA_EC_POINT of an EC key. The
//! private object is never asked for anything.
//!
//! - RSA: AlgorithmIdentifier rsaEncryption (1.2.840.113549.1.1.1) with NULL parameters; the
//!   BIT STRING holds the DER RSAPublicKey `SEQUENCE { modulus INTEGER, publicExponent
//!   INTEGER }` (RFC 8017 A.1.1).
//! - EC: AlgorithmIdentifier id-ecPublicKey (1.2.840.10045.2.1) with the named curve's OID as
//!   parameters (RFC 5480 §2.1.1); the BIT STRING holds the uncompressed point `04 || X || Y`
//!   (RFC 5480 §2.2). PKCS#11 says CKA_EC_POINT is the DER OCTET STRING of the point, and
//!   SoftHSM 2.6.1 returns it so; some tokens return the bare point. Both are accepted, told
//!   apart by length (a bare uncompressed point is exactly `1 + 2 * field length` bytes).

use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use der::asn1::{AnyRef, BitStringRef, OctetStringRef, UintRef};
use der::{Decode, Encode};
use spki::{AlgorithmIdentifier, ObjectIdentifier, SubjectPublicKeyInfo};

use super::{Curve, ObjectId, Token};
use crate::error::TokenError;

/// rsaEncryption (RFC 8017 A.1).
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-ecPublicKey (RFC 5480 §2.1.1).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

impl Curve {
    /// The length in bytes of a field element (and of each of ECDSA's r and s): 32 for P-256
    /// and secp256k1, 48 for P-384, 66 for P-521.
    pub fn field_len(self) -> usize {
        match self {
            Curve::P256 | Curve::Secp256k1 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    /// The curve whose CKA_EC_PARAMS (DER OID) is `params`, if Lockbox knows it.
    pub fn from_ec_params(params: &[u8]) -> Option<Curve> {
        [Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1]
            .into_iter()
            .find(|c| c.ec_params() == params)
    }
}

impl Token {
    /// The DER SubjectPublicKeyInfo of the public key object `public` (an RSA or EC public
    /// key Lockbox made). Reads public attributes only.
    pub fn public_key_info(&self, public: &ObjectId) -> Result<Vec<u8>, TokenError> {
        self.run(|t, s| {
            let handle = t.handle(s, public)?;
            let mut class = None;
            let mut key_type = None;
            for a in s.get_attributes(handle, &[AttributeType::Class, AttributeType::KeyType])? {
                match a {
                    Attribute::Class(c) => class = Some(c),
                    Attribute::KeyType(k) => key_type = Some(k),
                    _ => {}
                }
            }
            if class != Some(ObjectClass::PUBLIC_KEY) {
                return Err(TokenError::Cryptoki(format!(
                    "object {public} is not a public key (CKA_CLASS {class:?})"
                )));
            }
            match key_type {
                Some(KeyType::RSA) => {
                    let (mut n, mut e) = (None, None);
                    for a in s.get_attributes(
                        handle,
                        &[AttributeType::Modulus, AttributeType::PublicExponent],
                    )? {
                        match a {
                            Attribute::Modulus(v) => n = Some(v),
                            Attribute::PublicExponent(v) => e = Some(v),
                            _ => {}
                        }
                    }
                    match (n, e) {
                        (Some(n), Some(e)) => rsa_public_key_info(&n, &e),
                        _ => Err(TokenError::Cryptoki(format!(
                            "RSA public key {public} has no CKA_MODULUS or CKA_PUBLIC_EXPONENT"
                        ))),
                    }
                }
                Some(KeyType::EC) => {
                    let (mut params, mut point) = (None, None);
                    for a in s.get_attributes(
                        handle,
                        &[AttributeType::EcParams, AttributeType::EcPoint],
                    )? {
                        match a {
                            Attribute::EcParams(v) => params = Some(v),
                            Attribute::EcPoint(v) => point = Some(v),
                            _ => {}
                        }
                    }
                    let (Some(params), Some(point)) = (params, point) else {
                        return Err(TokenError::Cryptoki(format!(
                            "EC public key {public} has no CKA_EC_PARAMS or CKA_EC_POINT"
                        )));
                    };
                    let curve = Curve::from_ec_params(&params).ok_or_else(|| {
                        TokenError::Cryptoki(format!(
                            "EC public key {public} is on a curve Lockbox does not know \
                             (CKA_EC_PARAMS {})",
                            hex::encode(&params)
                        ))
                    })?;
                    ec_public_key_info(curve, &ec_point(curve, &point)?)
                }
                other => Err(TokenError::Cryptoki(format!(
                    "public key {public} has key type {other:?}, neither RSA nor EC"
                ))),
            }
        })
    }
}

/// The DER SubjectPublicKeyInfo of the RSA public key (`modulus`, `public_exponent`), both
/// big-endian unsigned integers (leading zeros allowed).
pub fn rsa_public_key_info(modulus: &[u8], public_exponent: &[u8]) -> Result<Vec<u8>, TokenError> {
    // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
    let rsa_public_key = [
        UintRef::new(modulus).map_err(der_error)?,
        UintRef::new(public_exponent).map_err(der_error)?,
    ]
    .to_der()
    .map_err(der_error)?;
    let spki = SubjectPublicKeyInfo {
        algorithm: AlgorithmIdentifier {
            oid: RSA_ENCRYPTION,
            parameters: Some(AnyRef::NULL),
        },
        subject_public_key: BitStringRef::from_bytes(&rsa_public_key).map_err(der_error)?,
    };
    spki.to_der().map_err(der_error)
}

/// The DER SubjectPublicKeyInfo of the EC public key `point` (uncompressed, `04 || X || Y`)
/// on `curve`.
pub fn ec_public_key_info(curve: Curve, point: &[u8]) -> Result<Vec<u8>, TokenError> {
    if point.len() != 1 + 2 * curve.field_len() || point.first() != Some(&0x04) {
        return Err(TokenError::Cryptoki(format!(
            "an uncompressed {curve:?} point has {} bytes and starts with 04; this one has {}",
            1 + 2 * curve.field_len(),
            point.len()
        )));
    }
    let curve_oid = ObjectIdentifier::from_der(curve.ec_params()).map_err(der_error)?;
    let spki = SubjectPublicKeyInfo {
        algorithm: AlgorithmIdentifier {
            oid: EC_PUBLIC_KEY,
            parameters: Some(AnyRef::from(&curve_oid)),
        },
        subject_public_key: BitStringRef::from_bytes(point).map_err(der_error)?,
    };
    spki.to_der().map_err(der_error)
}

/// The uncompressed point in a CKA_EC_POINT value: the DER OCTET STRING PKCS#11 specifies,
/// or the bare point some tokens return.
fn ec_point(curve: Curve, value: &[u8]) -> Result<Vec<u8>, TokenError> {
    let bare = 1 + 2 * curve.field_len();
    if value.len() == bare && value[0] == 0x04 {
        return Ok(value.to_vec());
    }
    let inner = OctetStringRef::from_der(value).map_err(der_error)?;
    Ok(inner.as_bytes().to_vec())
}

/// A DER encoding or decoding failure of something the token returned.
pub(super) fn der_error(e: der::Error) -> TokenError {
    TokenError::Cryptoki(format!("DER: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_are_found_by_their_params_and_have_their_field_lengths() {
        for (c, len) in [
            (Curve::P256, 32),
            (Curve::P384, 48),
            (Curve::P521, 66),
            (Curve::Secp256k1, 32),
        ] {
            assert_eq!(Curve::from_ec_params(c.ec_params()), Some(c));
            assert_eq!(c.field_len(), len);
        }
        assert_eq!(Curve::from_ec_params(&[0x06, 0x03, 0x2b, 0x65, 0x70]), None);
    }

    #[test]
    fn an_rsa_spki_has_the_rfc_layout() {
        // A toy modulus with its high bit set gets a leading zero in its INTEGER.
        let der = rsa_public_key_info(&[0xc1, 0x02], &[0x01, 0x00, 0x01]).unwrap();
        assert_eq!(
            hex::encode(der),
            // SEQUENCE { SEQUENCE { OID rsaEncryption, NULL },
            //            BIT STRING (0 unused) { SEQUENCE { INTEGER 00c102, INTEGER 010001 } } }
            "301e300d06092a864886f70d0101010500030d00300a020300c1020203010001"
        );
    }

    #[test]
    fn an_ec_spki_has_the_rfc_layout_and_points_are_checked() {
        let mut point = vec![0x04];
        point.extend_from_slice(&[0x11; 64]);
        let der = ec_public_key_info(Curve::P256, &point).unwrap();
        let expected = format!(
            "3059301306072a8648ce3d020106082a8648ce3d030107034200{}",
            hex::encode(&point)
        );
        assert_eq!(hex::encode(der), expected);
        // A compressed point, or one of another curve's length, is refused.
        assert!(ec_public_key_info(Curve::P256, &point[..33]).is_err());
        assert!(ec_public_key_info(Curve::P384, &point).is_err());
        // CKA_EC_POINT as PKCS#11 says (DER OCTET STRING) and bare.
        let mut wrapped = vec![0x04, 0x41];
        wrapped.extend_from_slice(&point);
        assert_eq!(ec_point(Curve::P256, &wrapped).unwrap(), point);
        assert_eq!(ec_point(Curve::P256, &point).unwrap(), point);
        assert!(ec_point(Curve::P256, &wrapped[..40]).is_err());
    }
}
