//! ECDH key agreement with a private key that stays in the token.
//!
//! SoftHSM 2.6.1 offers CKM_ECDH1_DERIVE with the null KDF (CKD_NULL) only: the derived key
//! is the raw shared secret Z, the x-coordinate of the shared point, field-size bytes, which
//! is what AWS's DeriveSharedSecret returns. The token derives it into a **session** generic
//! secret object (CKA_TOKEN false) that is readable (not sensitive, extractable): the only
//! way a PKCS#11 token hands a derived value back. The object lives for the length of one
//! C_GetAttributeValue and is destroyed at once; the CMK's private key, the base key of the
//! derivation, stays a sensitive, never-extractable token object throughout.

use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::types::Ulong;
use cryptoki_sys::CKA_VALUE;
use zeroize::Zeroizing;

use super::{Curve, ObjectId, Token};
use crate::error::TokenError;

impl Token {
    /// ECDH (CKM_ECDH1_DERIVE, CKD_NULL) of the private key `private_key` on `curve` with
    /// the peer's public point `peer_point`, in uncompressed SEC1 form (`04 || X || Y`):
    /// the raw shared secret Z (field-size bytes), in a zeroizing buffer.
    ///
    /// The caller checks that the point is on the curve; the token refuses a point it cannot
    /// use with a PKCS#11 error. The secret passes through a session object that is destroyed
    /// before this returns, whatever happened (see the module docs).
    pub fn ecdh_derive(
        &self,
        private_key: &ObjectId,
        curve: Curve,
        peer_point: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, TokenError> {
        let len = curve.field_len();
        if peer_point.len() != 1 + 2 * len || peer_point.first() != Some(&0x04) {
            return Err(TokenError::Cryptoki(format!(
                "an ECDH peer point on this curve is {} bytes, uncompressed (04 || X || Y); \
                 got {} bytes",
                1 + 2 * len,
                peer_point.len()
            )));
        }
        self.run(|t, s| {
            let base = t.handle(s, private_key)?;
            let mechanism =
                Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), peer_point));
            let template = [
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                // A session object, gone with the session at the latest; destroyed below.
                Attribute::Token(false),
                Attribute::Private(true),
                // Readable, so that the value can be returned: it is the operation's output.
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
                Attribute::ValueLen(Ulong::from(len as u64)),
            ];
            let derived = s.derive_key(&mechanism, base, &template)?;
            let mut secret = Zeroizing::new(vec![0u8; len]);
            let read = t.module.raw.read_attributes(
                s.handle(),
                derived.handle(),
                &mut [(CKA_VALUE, secret.as_mut_slice())],
            );
            let destroyed = s.destroy_object(derived);
            read?;
            destroyed?;
            Ok(secret)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::token_test;
    use crate::{Curve, EcPurpose, KeyPairTemplate, Token, TokenError};

    /// What RustCrypto's ECDH computes with a host secret `k` (a zero byte, then every byte `k`) and the
    /// token's public point; and the host's own public point, for the token's side.
    fn host_side(curve: Curve, k: u8, token_point: &[u8]) -> (Vec<u8>, Vec<u8>) {
        macro_rules! side {
            ($c:ident, $n:expr) => {{
                use $c::elliptic_curve::sec1::ToEncodedPoint;
                let mut bytes = [k; $n];
                // Below every curve's order (P-521's starts 0x01).
                bytes[0] = 0;
                let secret = $c::SecretKey::from_slice(&bytes).unwrap();
                let theirs = $c::PublicKey::from_sec1_bytes(token_point).unwrap();
                let z = $c::ecdh::diffie_hellman(secret.to_nonzero_scalar(), theirs.as_affine());
                (
                    z.raw_secret_bytes().to_vec(),
                    secret
                        .public_key()
                        .to_encoded_point(false)
                        .as_bytes()
                        .to_vec(),
                )
            }};
        }
        match curve {
            Curve::P256 => side!(p256, 32),
            Curve::P384 => side!(p384, 48),
            Curve::P521 => side!(p521, 66),
            Curve::Secp256k1 => unreachable!("no ECDH keys on secp256k1"),
        }
    }

    fn agreement_key(token: &Token, curve: Curve) -> crate::KeyPairObjects {
        token
            .generate_key_pair(&KeyPairTemplate::ec(curve, EcPurpose::KeyAgreement), "a")
            .unwrap()
    }

    token_test!(fn ecdh_equals_rustcrypto_on_the_other_side_and_leaves_no_object(t) {
        let token = t.open()?;
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let a = agreement_key(&token, curve);
            let point = token.ec_point_of(&a.public, curve)?;
            assert_eq!(point.len(), 1 + 2 * curve.field_len());
            let (expected, host_point) = host_side(curve, 0x11, &point);
            let z = token.ecdh_derive(&a.private, curve, &host_point)?;
            assert_eq!(z.len(), curve.field_len());
            assert_eq!(*z, expected, "{curve:?}");
            // No derived object is left behind, and the private half is still sensitive
            // and never extractable.
            assert_eq!(token.list_objects()?.len(), 2);
            let r = token.inspect(&a.private)?;
            assert!(r.sensitive && !r.extractable && r.never_extractable);
            assert_eq!(r.value, crate::ValueAccess::Sensitive);
            assert_eq!(r.usages, ["CKA_DERIVE"]);
            token.destroy(&a.private)?;
            token.destroy(&a.public)?;
        }
        Ok(())
    });

    token_test!(fn ecdh_refuses_points_of_the_wrong_form_and_points_off_the_curve(t) {
        let token = t.open()?;
        let a = agreement_key(&token, Curve::P256);
        let mut compressed = vec![0x02];
        compressed.extend([7u8; 32]);
        let mut wrong_tag = vec![0x05];
        wrong_tag.extend([1u8; 64]);
        for bad in [vec![], vec![0x04; 64], compressed, wrong_tag] {
            match token.ecdh_derive(&a.private, Curve::P256, &bad) {
                Err(TokenError::Cryptoki(m)) => {
                    assert!(m.starts_with("an ECDH peer point on this curve is 65 bytes"), "{m}")
                }
                other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
            }
        }
        // Of the right form but not on the curve: the token refuses it.
        let mut off = vec![0x04];
        off.extend([1u8; 64]);
        assert!(matches!(
            token.ecdh_derive(&a.private, Curve::P256, &off),
            Err(TokenError::Pkcs11 { .. })
        ));
        // A P-384 point for a P-256 key is the wrong length for the key's curve.
        assert!(matches!(
            token.ecdh_derive(&a.private, Curve::P384, &[4u8; 97]),
            Err(TokenError::Pkcs11 { .. })
        ));
        assert_eq!(token.list_objects()?.len(), 2);
        Ok(())
    });
}
