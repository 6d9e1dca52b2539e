//! The peer's public key of a DeriveSharedSecret request: a DER X.509 SubjectPublicKeyInfo
//! from outside, parsed totally (bad bytes are AWS's `ValidationException` with a message
//! naming what was wrong, never a panic and never a token error).
//!
//! Accepted: id-ecPublicKey with the key's own named curve and a point on that curve, in
//! uncompressed (`04 || X || Y`) or compressed (`02/03 || X`) SEC1 form (RFC 5480 allows
//! both). The point is checked on the host (RustCrypto's curve arithmetic: on the curve,
//! not the identity) and handed to the token uncompressed, the form it takes.

use der::Decode;
use der::asn1::ObjectIdentifier;
use lockbox_api::{KeySpec, KmsError};
use spki::SubjectPublicKeyInfoRef;

/// id-ecPublicKey (RFC 5480).
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// rsaEncryption (RFC 8017).
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The named curves by OID, with their names for messages.
const CURVES: [(ObjectIdentifier, &str, Option<KeySpec>); 4] = [
    (
        ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7"),
        "NIST P-256 (secp256r1)",
        Some(KeySpec::EccNistP256),
    ),
    (
        ObjectIdentifier::new_unwrap("1.3.132.0.34"),
        "NIST P-384 (secp384r1)",
        Some(KeySpec::EccNistP384),
    ),
    (
        ObjectIdentifier::new_unwrap("1.3.132.0.35"),
        "NIST P-521 (secp521r1)",
        Some(KeySpec::EccNistP521),
    ),
    (
        ObjectIdentifier::new_unwrap("1.3.132.0.10"),
        "secp256k1",
        None,
    ),
];

/// The OID of the named curve of an ECC key spec.
pub(crate) fn curve_oid(spec: KeySpec) -> Option<ObjectIdentifier> {
    CURVES
        .iter()
        .find(|(_, _, s)| *s == Some(spec))
        .map(|(oid, _, _)| *oid)
        .or((spec == KeySpec::EccSecgP256k1).then_some(CURVES[3].0))
}

fn refused(message: impl Into<String>) -> KmsError {
    KmsError::validation(message)
}

/// Parses `der` as the peer's public key for an ECDH key of `spec` (a NIST curve) and
/// returns its point, uncompressed.
pub(crate) fn parse_peer_public_key(spec: KeySpec, der: &[u8]) -> Result<Vec<u8>, KmsError> {
    let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(|e| {
        refused(format!(
            "PublicKey is not a DER-encoded X.509 SubjectPublicKeyInfo ({e})."
        ))
    })?;
    let algorithm = spki.algorithm.oid;
    if algorithm != ID_EC_PUBLIC_KEY {
        let what = if algorithm == RSA_ENCRYPTION {
            "an RSA public key".to_owned()
        } else {
            format!("a public key of algorithm {algorithm}")
        };
        return Err(refused(format!(
            "PublicKey is {what}; DeriveSharedSecret needs an elliptic curve \
             (id-ecPublicKey) public key on the curve of the KMS key ({spec})."
        )));
    }
    let curve = spki.algorithm.parameters_oid().map_err(|_| {
        refused(
            "PublicKey's algorithm parameters do not name a curve (a namedCurve OID is \
             required).",
        )
    })?;
    let want = curve_oid(spec).ok_or_else(|| {
        refused(format!(
            "DeriveSharedSecret is not available for {spec} keys."
        ))
    })?;
    if curve != want {
        let name = CURVES
            .iter()
            .find(|(oid, _, _)| *oid == curve)
            .map_or_else(|| format!("curve {curve}"), |(_, n, _)| (*n).to_owned());
        return Err(refused(format!(
            "PublicKey is on {name}; the KMS key is {spec} and agrees only with public \
             keys on its own curve."
        )));
    }
    let point = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| refused("PublicKey's subjectPublicKey BIT STRING has unused bits."))?;
    // RFC 5480: uncompressed (04) or compressed (02, 03); not the identity or SEC1's other
    // forms.
    if !matches!(point.first(), Some(0x02..=0x04)) {
        return Err(refused(format!(
            "PublicKey's point is not a valid point on the curve of {spec}."
        )));
    }
    let invalid = || {
        refused(format!(
            "PublicKey's point is not a valid point on the curve of {spec}."
        ))
    };
    macro_rules! uncompressed {
        ($c:ident) => {{
            use $c::elliptic_curve::sec1::ToEncodedPoint;
            let key = $c::PublicKey::from_sec1_bytes(point).map_err(|_| invalid())?;
            if point.first() == Some(&0x04) {
                // Already uncompressed, and now known to be on the curve.
                point.to_vec()
            } else {
                key.to_encoded_point(false).as_bytes().to_vec()
            }
        }};
    }
    Ok(match spec {
        KeySpec::EccNistP256 => uncompressed!(p256),
        KeySpec::EccNistP384 => uncompressed!(p384),
        KeySpec::EccNistP521 => uncompressed!(p521),
        _ => {
            return Err(refused(format!(
                "DeriveSharedSecret is not available for {spec} keys."
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use lockbox_api::ErrorKind;

    use super::*;

    /// A P-256 SPKI prefix (SEQUENCE, AlgorithmIdentifier with id-ecPublicKey and
    /// prime256v1, BIT STRING header) for a 65-byte point.
    const P256_SPKI_PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];

    fn p256_generator() -> Vec<u8> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        p256::PublicKey::from_affine(p256::AffinePoint::GENERATOR)
            .unwrap()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    fn message(spec: KeySpec, der: &[u8]) -> String {
        let e = parse_peer_public_key(spec, der).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Validation, "{}", e.message());
        e.message().to_owned()
    }

    #[test]
    fn a_valid_p256_key_gives_its_uncompressed_point_and_compressed_is_accepted() {
        let g = p256_generator();
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend(&g);
        assert_eq!(
            parse_peer_public_key(KeySpec::EccNistP256, &der).unwrap(),
            g
        );
        // Compressed: 02/03 || X, in a 33-byte point.
        let mut c = vec![0x30, 0x39];
        c.extend(&P256_SPKI_PREFIX[2..24]);
        c.extend([0x22, 0x00, 0x02 | (g[64] & 1)]);
        c.extend(&g[1..33]);
        assert_eq!(parse_peer_public_key(KeySpec::EccNistP256, &c).unwrap(), g);
    }

    #[test]
    fn malformed_keys_are_validation_errors_naming_what_is_wrong() {
        let g = p256_generator();
        let mut good = P256_SPKI_PREFIX.to_vec();
        good.extend(&g);
        assert!(message(KeySpec::EccNistP256, b"").starts_with("PublicKey is not a DER-encoded"));
        assert!(
            message(KeySpec::EccNistP256, &good[..40])
                .starts_with("PublicKey is not a DER-encoded")
        );
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(
            message(KeySpec::EccNistP256, &trailing).starts_with("PublicKey is not a DER-encoded")
        );
        // A point off the curve (y changed).
        let mut off = good.clone();
        let last = off.len() - 1;
        off[last] ^= 1;
        assert_eq!(
            message(KeySpec::EccNistP256, &off),
            "PublicKey's point is not a valid point on the curve of ECC_NIST_P256."
        );
        // The right curve for another key spec.
        assert_eq!(
            message(KeySpec::EccNistP384, &good),
            "PublicKey is on NIST P-256 (secp256r1); the KMS key is ECC_NIST_P384 and \
             agrees only with public keys on its own curve."
        );
        // SEC1's compact form (05 || X) and the identity (00) are not RFC 5480 points.
        let mut compact = vec![0x30, 0x39];
        compact.extend(&P256_SPKI_PREFIX[2..23]);
        compact.extend([0x03, 0x22, 0x00, 0x05]);
        compact.extend(&g[1..33]);
        assert_eq!(
            message(KeySpec::EccNistP256, &compact),
            "PublicKey's point is not a valid point on the curve of ECC_NIST_P256."
        );
        // Every byte value truncated or flipped: never a panic.
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut b = good.clone();
                b[i] ^= 1 << bit;
                let _ = parse_peer_public_key(KeySpec::EccNistP256, &b);
            }
            let _ = parse_peer_public_key(KeySpec::EccNistP256, &good[..i]);
        }
    }
}
