//! `public_key_info` against a real, throwaway SoftHSM token, checked from outside: Python's
//! `cryptography` loads every SubjectPublicKeyInfo, and what it reads from it must be what the
//! token holds (CKA_MODULUS and CKA_PUBLIC_EXPONENT, or CKA_EC_POINT), read through a cryptoki
//! session of the test's own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod oracle;

use cryptoki::object::{Attribute, AttributeType};
use lockbox_token::{
    Curve, EcPurpose, KeyPairTemplate, ObjectId, RsaBits, RsaPurpose, TokenError, token_test,
};

type R = Result<(), Box<dyn std::error::Error>>;

/// The public attributes of `id`, read directly.
fn attributes(
    t: &lockbox_token::testing::TestToken,
    id: &ObjectId,
    types: &[AttributeType],
) -> Result<Vec<Attribute>, Box<dyn std::error::Error>> {
    let s = t.raw_session()?;
    let h = s.find_objects(&[Attribute::Id(id.as_bytes().to_vec())])?;
    assert_eq!(h.len(), 1);
    Ok(s.get_attributes(h[0], types)?)
}

fn hex_trimmed(bytes: &[u8]) -> String {
    let h = hex::encode(bytes);
    h.trim_start_matches('0').to_owned()
}

token_test!(fn rsa_public_keys_export_as_spki_that_cryptography_loads(t) {
    let token = t.open()?;
    for (bits, n) in [(RsaBits::Rsa2048, 2048), (RsaBits::Rsa3072, 3072), (RsaBits::Rsa4096, 4096)] {
        for purpose in [RsaPurpose::SignVerify, RsaPurpose::EncryptDecrypt] {
            let pair = token.generate_key_pair(&KeyPairTemplate::rsa(bits, purpose), "k/1")?;
            let spki = token.public_key_info(&pair.public)?;
            let seen = oracle::describe_spki(t.dir(), &spki)?;
            let attrs = attributes(t, &pair.public, &[AttributeType::Modulus])?;
            let [Attribute::Modulus(modulus)] = attrs.as_slice() else { panic!("{attrs:?}") };
            assert_eq!(seen, format!("RSA {n} {} 65537", hex_trimmed(modulus)), "{bits:?} {purpose:?}");
        }
    }
    Ok(())
});

token_test!(fn ec_public_keys_export_as_spki_that_cryptography_loads(t) {
    let token = t.open()?;
    for (curve, name) in [
        (Curve::P256, "secp256r1"),
        (Curve::P384, "secp384r1"),
        (Curve::P521, "secp521r1"),
        (Curve::Secp256k1, "secp256k1"),
    ] {
        let purposes: &[EcPurpose] = match curve {
            Curve::Secp256k1 => &[EcPurpose::SignVerify],
            _ => &[EcPurpose::SignVerify, EcPurpose::KeyAgreement],
        };
        for purpose in purposes {
            let pair = token.generate_key_pair(&KeyPairTemplate::ec(curve, *purpose), "k/1")?;
            let spki = token.public_key_info(&pair.public)?;
            let seen = oracle::describe_spki(t.dir(), &spki)?;
            // SoftHSM returns CKA_EC_POINT as a DER OCTET STRING around 04 || X || Y.
            let attrs = attributes(t, &pair.public, &[AttributeType::EcPoint])?;
            let [Attribute::EcPoint(wrapped)] = attrs.as_slice() else { panic!("{attrs:?}") };
            let len = curve.field_len();
            let point = &wrapped[wrapped.len() - (1 + 2 * len)..];
            assert_eq!(point[0], 0x04);
            let (x, y) = point[1..].split_at(len);
            assert_eq!(seen, format!("EC {name} {} {}", hex_trimmed(x), hex_trimmed(y)), "{curve:?}");
        }
    }
    Ok(())
});

token_test!(fn only_public_key_objects_are_exported(t) {
    let token = t.open()?;
    let pair = token.generate_key_pair(&KeyPairTemplate::ec(Curve::P256, EcPurpose::SignVerify), "k/1")?;
    match token.public_key_info(&pair.private) {
        Err(TokenError::Cryptoki(m)) => assert!(m.contains("is not a public key"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    match token.public_key_info(&ObjectId::from_bytes([9; 16])) {
        Err(TokenError::ObjectNotFound(_)) => {}
        other => panic!("expected ObjectNotFound, got {other:?}"),
    }
    Ok(())
});

#[test]
fn a_known_spki_is_what_cryptography_reads() -> R {
    // Independent of the token: the encoder's output for a fixed P-256 point (the RFC 6979
    // A.2.5 public key) is loaded by `cryptography` as that point.
    let x = "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6";
    let y = "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299";
    let point = hex::decode(format!("04{x}{y}"))?;
    let spki = lockbox_token::ec_public_key_info(Curve::P256, &point)?;
    let dir = tempfile::tempdir()?;
    assert_eq!(
        oracle::describe_spki(dir.path(), &spki)?,
        format!("EC secp256r1 {x} {y}")
    );
    Ok(())
}
