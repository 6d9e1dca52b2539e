//! `sign_digest` and `verify_digest` against a real, throwaway SoftHSM token, checked from
//! outside: Python's `cryptography` verifies every signature over the exported public key,
//! and the token's verification must reject every kind of damage without an error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod oracle;

use lockbox_token::{
    Curve, EcPurpose, KeyPairObjects, KeyPairTemplate, RsaBits, RsaPurpose, SignatureHash,
    SignatureScheme, Token, TokenError, token_test,
};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const HASHES: [SignatureHash; 3] = [
    SignatureHash::Sha256,
    SignatureHash::Sha384,
    SignatureHash::Sha512,
];

/// AWS's name for a scheme, as the oracle takes it.
fn aws_name(scheme: SignatureScheme) -> String {
    let bits = scheme.hash().digest_len() * 8;
    match scheme {
        SignatureScheme::RsaPkcs1v15(_) => format!("RSASSA_PKCS1_V1_5_SHA_{bits}"),
        SignatureScheme::RsaPss(_) => format!("RSASSA_PSS_SHA_{bits}"),
        SignatureScheme::Ecdsa(..) => format!("ECDSA_SHA_{bits}"),
    }
}

fn digest(token: &Token, scheme: SignatureScheme) -> Res<Vec<u8>> {
    let mut d = vec![0u8; scheme.hash().digest_len()];
    token.random(&mut d)?;
    Ok(d)
}

/// Signs a random digest, has the oracle and the token verify it, then checks that damage
/// of every kind is `false` from both, never an error.
fn check(
    t: &lockbox_token::testing::TestToken,
    token: &Token,
    pair: &KeyPairObjects,
    other: &KeyPairObjects,
    scheme: SignatureScheme,
) -> Res<()> {
    let spki = token.public_key_info(&pair.public)?;
    let d = digest(token, scheme)?;
    let sig = token.sign_digest(&pair.private, scheme, &d)?;
    let name = aws_name(scheme);
    assert!(
        oracle::verifies(t.dir(), &spki, &name, "DIGEST", &d, &sig)?,
        "{scheme:?}"
    );
    assert!(
        token.verify_digest(&pair.public, scheme, &d, &sig)?,
        "{scheme:?}"
    );

    let mut changed_digest = d.clone();
    changed_digest[0] ^= 1;
    assert!(!oracle::verifies(
        t.dir(),
        &spki,
        &name,
        "DIGEST",
        &changed_digest,
        &sig
    )?);
    assert!(!token.verify_digest(&pair.public, scheme, &changed_digest, &sig)?);
    let mut changed_sig = sig.clone();
    let last = changed_sig.len() - 1;
    changed_sig[last] ^= 1;
    let mut longer = sig.clone();
    longer.push(0);
    for bad in [
        &changed_sig[..],
        &sig[..sig.len() - 1],
        &longer,
        &[],
        &[0xff; 512][..sig.len()],
        &[0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00],
    ] {
        assert!(
            !token.verify_digest(&pair.public, scheme, &d, bad)?,
            "{scheme:?} accepted {}",
            hex::encode(bad)
        );
    }
    assert!(
        !token.verify_digest(&other.public, scheme, &d, &sig)?,
        "{scheme:?} other key"
    );
    Ok(())
}

token_test!(fn rsa_signatures_verify_outside_and_damage_is_false(t) {
    let token = t.open()?;
    let pair = token.generate_key_pair(&KeyPairTemplate::rsa(RsaBits::Rsa2048, RsaPurpose::SignVerify), "k/1")?;
    let other = token.generate_key_pair(&KeyPairTemplate::rsa(RsaBits::Rsa2048, RsaPurpose::SignVerify), "k/2")?;
    for h in HASHES {
        check(t, &token, &pair, &other, SignatureScheme::RsaPkcs1v15(h))?;
        check(t, &token, &pair, &other, SignatureScheme::RsaPss(h))?;
    }
    // PKCS#1 v1.5 is deterministic; PSS is salted (the salt comes from the token's RNG).
    let d = digest(&token, SignatureScheme::RsaPss(SignatureHash::Sha256))?;
    let p1 = SignatureScheme::RsaPkcs1v15(SignatureHash::Sha256);
    assert_eq!(token.sign_digest(&pair.private, p1, &d)?, token.sign_digest(&pair.private, p1, &d)?);
    let pss = SignatureScheme::RsaPss(SignatureHash::Sha256);
    assert_ne!(token.sign_digest(&pair.private, pss, &d)?, token.sign_digest(&pair.private, pss, &d)?);
    // A signature under one scheme does not verify under another.
    let sig = token.sign_digest(&pair.private, p1, &d)?;
    assert!(!token.verify_digest(&pair.public, pss, &d, &sig)?);
    // The larger sizes, once each.
    for bits in [RsaBits::Rsa3072, RsaBits::Rsa4096] {
        let pair = token.generate_key_pair(&KeyPairTemplate::rsa(bits, RsaPurpose::SignVerify), "k/3")?;
        check(t, &token, &pair, &other, SignatureScheme::RsaPss(SignatureHash::Sha512))?;
        check(t, &token, &pair, &other, SignatureScheme::RsaPkcs1v15(SignatureHash::Sha384))?;
    }
    Ok(())
});

token_test!(fn ecdsa_signatures_are_der_verify_outside_and_damage_is_false(t) {
    let token = t.open()?;
    for (curve, hash) in [
        (Curve::P256, SignatureHash::Sha256),
        (Curve::P384, SignatureHash::Sha384),
        // 64-byte digests with a 66-byte field: the whole digest is the integer (ECDSA
        // truncates only digests longer than the order); `cryptography` agrees.
        (Curve::P521, SignatureHash::Sha512),
        (Curve::Secp256k1, SignatureHash::Sha256),
    ] {
        let pair = token.generate_key_pair(&KeyPairTemplate::ec(curve, EcPurpose::SignVerify), "k/1")?;
        let other = token.generate_key_pair(&KeyPairTemplate::ec(curve, EcPurpose::SignVerify), "k/2")?;
        let scheme = SignatureScheme::Ecdsa(curve, hash);
        // Several signatures, so that some have an r or s with its high bit set or a
        // leading zero byte (DER INTEGERs of different lengths).
        for _ in 0..8 {
            check(t, &token, &pair, &other, scheme)?;
        }
        let d = digest(&token, scheme)?;
        let sig = token.sign_digest(&pair.private, scheme, &d)?;
        assert_eq!(sig[0], 0x30, "DER SEQUENCE");
    }
    Ok(())
});

token_test!(fn digests_of_the_wrong_length_are_refused(t) {
    let token = t.open()?;
    let pair = token.generate_key_pair(&KeyPairTemplate::ec(Curve::P256, EcPurpose::SignVerify), "k/1")?;
    let scheme = SignatureScheme::Ecdsa(Curve::P256, SignatureHash::Sha256);
    match token.sign_digest(&pair.private, scheme, &[1; 31]) {
        Err(TokenError::Cryptoki(m)) => assert_eq!(m, "a Sha256 digest has 32 bytes, not 31"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(token.verify_digest(&pair.public, scheme, &[1; 48], &[0x30, 0]), Err(TokenError::Cryptoki(_))));
    Ok(())
});
