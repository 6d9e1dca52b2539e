//! Data key pairs (GenerateDataKeyPair): a key pair the token generates for a caller who
//! will hold its private key.
//!
//! Unlike a CMK, a data key pair's private key is the operation's output, so the token makes
//! the pair as **session** objects (CKA_TOKEN false) whose private half is readable (not
//! sensitive, extractable). Its components are read with one C_GetAttributeValue into
//! zeroizing buffers sized from the token's own length answers (no copies, no reallocation),
//! and both objects are destroyed before the operation returns, whatever happened.
//!
//! The pair comes from the token's generator, as a CMK's material does; only its private
//! key, by design of the operation, leaves the token.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{
    Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::Session;
use cryptoki::types::Ulong;
use der::Decode;
use der::asn1::OctetStringRef;
use zeroize::Zeroizing;

use super::{Curve, ObjectId, RSA_PUBLIC_EXPONENT, RsaBits, Token};
use crate::error::TokenError;

/// The private key of an RSA data key pair, as big-endian unsigned integers (PKCS#11's
/// form), each in a zeroizing buffer. No `Debug`, no `Clone`.
pub struct RsaPrivateComponents {
    /// n (CKA_MODULUS).
    pub modulus: Zeroizing<Vec<u8>>,
    /// e (CKA_PUBLIC_EXPONENT).
    pub public_exponent: Zeroizing<Vec<u8>>,
    /// d (CKA_PRIVATE_EXPONENT).
    pub private_exponent: Zeroizing<Vec<u8>>,
    /// p (CKA_PRIME_1).
    pub prime1: Zeroizing<Vec<u8>>,
    /// q (CKA_PRIME_2).
    pub prime2: Zeroizing<Vec<u8>>,
    /// d mod (p-1) (CKA_EXPONENT_1).
    pub exponent1: Zeroizing<Vec<u8>>,
    /// d mod (q-1) (CKA_EXPONENT_2).
    pub exponent2: Zeroizing<Vec<u8>>,
    /// q^-1 mod p (CKA_COEFFICIENT).
    pub coefficient: Zeroizing<Vec<u8>>,
}

/// The private key of an EC data key pair. No `Debug`, no `Clone`.
pub struct EcPrivateComponents {
    /// The private scalar, big-endian, left-padded to the curve's field size.
    pub private_value: Zeroizing<Vec<u8>>,
    /// The public point, uncompressed SEC1 (`04 || X || Y`).
    pub public_point: Vec<u8>,
}

/// The attributes of a session key pair nobody but this module uses: no usage at all.
fn session_pair(
    key_type: KeyType,
    public_specific: Vec<Attribute>,
) -> (Vec<Attribute>, Vec<Attribute>) {
    let mut public = vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(key_type),
        Attribute::Token(false),
        Attribute::Private(true),
    ];
    public.extend(public_specific);
    let private = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(key_type),
        Attribute::Token(false),
        Attribute::Private(true),
        // The caller receives this key: it must be readable.
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Sign(false),
        Attribute::Decrypt(false),
        Attribute::Derive(false),
        Attribute::Unwrap(false),
    ];
    (public, private)
}

/// Reads `types` of `object` into zeroizing buffers sized from the token's length answers.
fn read_private(
    t: &Token,
    s: &Session,
    object: ObjectHandle,
    types: &[AttributeType],
) -> Result<Vec<Zeroizing<Vec<u8>>>, TokenError> {
    let infos = s.get_attribute_info(object, types)?;
    let mut bufs = Vec::with_capacity(types.len());
    for (ty, info) in types.iter().zip(infos) {
        match info {
            AttributeInfo::Available(n) => bufs.push(Zeroizing::new(vec![0u8; n])),
            other => {
                return Err(TokenError::Cryptoki(format!(
                    "the token did not reveal {ty} of a data key pair's private key ({other:?})"
                )));
            }
        }
    }
    let mut wanted: Vec<_> = types
        .iter()
        .zip(bufs.iter_mut())
        .map(|(ty, b)| (cryptoki_sys::CK_ATTRIBUTE_TYPE::from(*ty), b.as_mut_slice()))
        .collect();
    t.module
        .raw
        .read_attributes(s.handle(), object.handle(), &mut wanted)?;
    drop(wanted);
    Ok(bufs)
}

/// The raw point inside CKA_EC_POINT: PKCS#11 2.40 says DER OCTET STRING (SoftHSM gives
/// that); a token that gives the bare point is accepted too.
pub(super) fn unwrap_ec_point(value: &[u8], field_len: usize) -> Result<Vec<u8>, TokenError> {
    if value.len() == 1 + 2 * field_len && value.first() == Some(&0x04) {
        return Ok(value.to_vec());
    }
    let point = OctetStringRef::from_der(value)
        .map_err(|e| TokenError::Cryptoki(format!("CKA_EC_POINT is not an OCTET STRING: {e}")))?;
    let point = point.as_bytes();
    if point.len() != 1 + 2 * field_len || point.first() != Some(&0x04) {
        return Err(TokenError::Cryptoki(format!(
            "CKA_EC_POINT holds {} bytes, not an uncompressed point of {} bytes",
            point.len(),
            1 + 2 * field_len
        )));
    }
    Ok(point.to_vec())
}

impl Token {
    /// Generates an RSA data key pair of `bits` (public exponent 65537) in the token as
    /// session objects and returns its private key components; both objects are destroyed
    /// before this returns (see the module docs).
    pub fn generate_rsa_data_key_pair(
        &self,
        bits: RsaBits,
    ) -> Result<RsaPrivateComponents, TokenError> {
        use AttributeType as T;
        let (public, private) = session_pair(
            KeyType::RSA,
            vec![
                Attribute::ModulusBits(Ulong::from(bits.bits())),
                Attribute::PublicExponent(RSA_PUBLIC_EXPONENT.to_vec()),
                Attribute::Encrypt(false),
                Attribute::Verify(false),
            ],
        );
        self.run(|t, s| {
            let (pub_h, priv_h) =
                s.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)?;
            let read = read_private(
                t,
                s,
                priv_h,
                &[
                    T::Modulus,
                    T::PublicExponent,
                    T::PrivateExponent,
                    T::Prime1,
                    T::Prime2,
                    T::Exponent1,
                    T::Exponent2,
                    T::Coefficient,
                ],
            );
            let destroyed = destroy_both(s, pub_h, priv_h);
            let mut v = read?.into_iter();
            destroyed?;
            let mut next = || {
                v.next()
                    .ok_or_else(|| TokenError::Cryptoki("an RSA component is missing".into()))
            };
            Ok(RsaPrivateComponents {
                modulus: next()?,
                public_exponent: next()?,
                private_exponent: next()?,
                prime1: next()?,
                prime2: next()?,
                exponent1: next()?,
                exponent2: next()?,
                coefficient: next()?,
            })
        })
    }

    /// Generates an EC data key pair on `curve` in the token as session objects and returns
    /// its private scalar and public point; both objects are destroyed before this returns
    /// (see the module docs).
    pub fn generate_ec_data_key_pair(
        &self,
        curve: Curve,
    ) -> Result<EcPrivateComponents, TokenError> {
        let len = curve.field_len();
        let (public, private) = session_pair(
            KeyType::EC,
            vec![
                Attribute::EcParams(curve.ec_params().to_vec()),
                Attribute::Verify(false),
            ],
        );
        self.run(|t, s| {
            let (pub_h, priv_h) =
                s.generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)?;
            let read = read_private(t, s, priv_h, &[AttributeType::Value]).and_then(|mut v| {
                let point = s.get_attributes(pub_h, &[AttributeType::EcPoint])?;
                let point = match point.into_iter().next() {
                    Some(Attribute::EcPoint(p)) => unwrap_ec_point(&p, len)?,
                    _ => {
                        return Err(TokenError::Cryptoki(
                            "the token gave no CKA_EC_POINT for an EC public key".into(),
                        ));
                    }
                };
                let value = v.pop().ok_or_else(|| {
                    TokenError::Cryptoki("the EC private value is missing".into())
                })?;
                Ok((value, point))
            });
            let destroyed = destroy_both(s, pub_h, priv_h);
            let (value, public_point) = read?;
            destroyed?;
            // Tokens give the scalar as a minimal big-endian integer: pad it to field size.
            let digits = value.iter().position(|b| *b != 0).unwrap_or(value.len());
            let digits = &value[digits..];
            if digits.len() > len {
                return Err(TokenError::Cryptoki(format!(
                    "an EC private value of {} bytes on a curve of {len}",
                    digits.len()
                )));
            }
            let mut private_value = Zeroizing::new(vec![0u8; len]);
            private_value[len - digits.len()..].copy_from_slice(digits);
            Ok(EcPrivateComponents {
                private_value,
                public_point,
            })
        })
    }

    /// The public point of the EC public key object `public_key`, uncompressed SEC1
    /// (`04 || X || Y`), read from its CKA_EC_POINT.
    pub fn ec_point_of(&self, public_key: &ObjectId, curve: Curve) -> Result<Vec<u8>, TokenError> {
        let len = curve.field_len();
        self.run(|t, s| {
            let handle = t.handle(s, public_key)?;
            match s
                .get_attributes(handle, &[AttributeType::EcPoint])?
                .into_iter()
                .next()
            {
                Some(Attribute::EcPoint(p)) => unwrap_ec_point(&p, len),
                _ => Err(TokenError::Cryptoki(format!(
                    "object {public_key} has no CKA_EC_POINT"
                ))),
            }
        })
    }
}

/// Destroys both halves of a session key pair; the first failure is returned after both
/// were tried.
fn destroy_both(s: &Session, a: ObjectHandle, b: ObjectHandle) -> Result<(), TokenError> {
    let first = s.destroy_object(a);
    let second = s.destroy_object(b);
    first?;
    second?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testing::run_python;
    use crate::token_test;
    use crate::{Curve, RsaBits};

    token_test!(fn ec_data_key_pairs_are_consistent_and_leave_no_object(t) {
        let token = t.open()?;
        macro_rules! check {
            ($c:ident, $curve:expr, $n:expr) => {{
                use $c::elliptic_curve::sec1::ToEncodedPoint;
                let pair = token.generate_ec_data_key_pair($curve)?;
                assert_eq!(pair.private_value.len(), $n);
                assert_eq!(pair.public_point.len(), 1 + 2 * $n);
                // RustCrypto computes the public point from the private scalar.
                let sk = $c::SecretKey::from_slice(&pair.private_value)?;
                assert_eq!(
                    sk.public_key().to_encoded_point(false).as_bytes(),
                    pair.public_point.as_slice()
                );
                let other = token.generate_ec_data_key_pair($curve)?;
                assert_ne!(*other.private_value, *pair.private_value);
            }};
        }
        check!(p256, Curve::P256, 32);
        check!(p384, Curve::P384, 48);
        check!(p521, Curve::P521, 66);
        let k1 = token.generate_ec_data_key_pair(Curve::Secp256k1)?;
        assert_eq!((k1.private_value.len(), k1.public_point.len()), (32, 65));
        // Nothing remains on the token: the pairs were session objects, destroyed at once.
        assert!(token.list_objects()?.is_empty());
        Ok(())
    });

    token_test!(fn rsa_data_key_pairs_are_valid_rsa_keys_for_pythons_cryptography(t) {
        let token = t.open()?;
        for (bits, n_len) in [(RsaBits::Rsa2048, 256), (RsaBits::Rsa3072, 384)] {
            let k = token.generate_rsa_data_key_pair(bits)?;
            assert_eq!(k.modulus.len(), n_len);
            assert_eq!(k.public_exponent.as_slice(), [1, 0, 1]);
            // cryptography checks every relation between the components (p*q = n, e*d = 1
            // mod lcm, dp, dq, qinv) when it builds the key.
            let script = "import sys\nfrom cryptography.hazmat.primitives.asymmetric import rsa\n\
                a=[int(x,16) for x in sys.argv[1:]]\n\
                k=rsa.RSAPrivateNumbers(a[3],a[4],a[2],a[5],a[6],a[7],rsa.RSAPublicNumbers(a[1],a[0])).private_key()\n\
                print(k.key_size)";
            let args = [&k.modulus, &k.public_exponent, &k.private_exponent, &k.prime1,
                &k.prime2, &k.exponent1, &k.exponent2, &k.coefficient].map(|v| hex::encode(v.as_slice()));
            assert_eq!(run_python(script, &args)?, bits.bits().to_string());
        }
        assert!(token.list_objects()?.is_empty());
        Ok(())
    });
}
