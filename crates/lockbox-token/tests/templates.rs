//! `generate_key` and `generate_key_pair` against a real, throwaway SoftHSM token: the token
//! itself is asked (through a cryptoki context the code under test does not own) for every
//! security and usage attribute of what they made, and must refuse the secret parts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use cryptoki::object::{
    Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::Session;
use lockbox_token::{
    Curve, EcPurpose, HmacDigest, KeyPairTemplate, ObjectId, PRIVATE_KEY_USAGES, PUBLIC_KEY_USAGES,
    RsaBits, RsaPurpose, SECRET_KEY_USAGES, SecretKeyTemplate, TokenError, Usage, token_test,
};

type R = Result<(), Box<dyn std::error::Error>>;

fn usage_type(u: Usage) -> AttributeType {
    match u {
        Usage::Encrypt => AttributeType::Encrypt,
        Usage::Decrypt => AttributeType::Decrypt,
        Usage::Sign => AttributeType::Sign,
        Usage::Verify => AttributeType::Verify,
        Usage::SignRecover => AttributeType::SignRecover,
        Usage::VerifyRecover => AttributeType::VerifyRecover,
        Usage::Wrap => AttributeType::Wrap,
        Usage::Unwrap => AttributeType::Unwrap,
        Usage::Derive => AttributeType::Derive,
    }
}

/// The one object with this CKA_ID.
fn find(s: &Session, id: &ObjectId) -> Result<ObjectHandle, Box<dyn std::error::Error>> {
    let handles = s.find_objects(&[Attribute::Id(id.as_bytes().to_vec())])?;
    assert_eq!(handles.len(), 1, "exactly one object has CKA_ID {id}");
    Ok(handles[0])
}

/// The boolean attributes `types` of `h`, as the token reports them (every one must exist).
fn booleans(
    s: &Session,
    h: ObjectHandle,
    types: &[AttributeType],
) -> Result<HashMap<AttributeType, bool>, Box<dyn std::error::Error>> {
    let mut out = HashMap::new();
    for a in s.get_attributes(h, types)? {
        let v = match a {
            Attribute::Token(b)
            | Attribute::Private(b)
            | Attribute::Sensitive(b)
            | Attribute::Extractable(b)
            | Attribute::AlwaysSensitive(b)
            | Attribute::NeverExtractable(b)
            | Attribute::Modifiable(b)
            | Attribute::Copyable(b)
            | Attribute::Encrypt(b)
            | Attribute::Decrypt(b)
            | Attribute::Sign(b)
            | Attribute::Verify(b)
            | Attribute::SignRecover(b)
            | Attribute::VerifyRecover(b)
            | Attribute::Wrap(b)
            | Attribute::Unwrap(b)
            | Attribute::Derive(b) => b,
            ref other => panic!("not a boolean attribute: {other:?}"),
        };
        out.insert(a.attribute_type(), v);
    }
    assert_eq!(
        out.len(),
        types.len(),
        "the token reported {out:?} for {types:?}"
    );
    Ok(out)
}

/// Asserts, by asking the token, that `h` has class `class` and key type `key_type`, is a
/// private token object that cannot be modified or copied (and, when `secret`, is
/// sensitive, always was, and was never extractable), and that of the class's usage
/// attributes exactly `on` are true.
fn assert_attributes(
    s: &Session,
    h: ObjectHandle,
    class: ObjectClass,
    key_type: KeyType,
    secret: bool,
    class_usages: &[Usage],
    on: &[Usage],
) -> R {
    use AttributeType as T;
    let head = s.get_attributes(h, &[T::Class, T::KeyType])?;
    assert_eq!(
        head,
        [Attribute::Class(class), Attribute::KeyType(key_type)]
    );

    let mut expected = vec![
        (T::Token, true),
        (T::Private, true),
        (T::Modifiable, false),
        (T::Copyable, false),
    ];
    if secret {
        expected.extend([
            (T::Sensitive, true),
            (T::Extractable, false),
            (T::AlwaysSensitive, true),
            (T::NeverExtractable, true),
        ]);
    }
    for u in class_usages {
        expected.push((usage_type(*u), on.contains(u)));
    }
    let types: Vec<_> = expected.iter().map(|(t, _)| *t).collect();
    let got = booleans(s, h, &types)?;
    for (t, v) in &expected {
        assert_eq!(got[t], *v, "{t:?} on a {class:?}");
    }
    Ok(())
}

/// Asserts that the token refuses to reveal each of `types` (CKR_ATTRIBUTE_SENSITIVE to a
/// size query, and no value from C_GetAttributeValue).
fn assert_refused(s: &Session, h: ObjectHandle, types: &[AttributeType]) -> R {
    for (t, info) in types.iter().zip(s.get_attribute_info(h, types)?) {
        assert!(
            matches!(info, AttributeInfo::Sensitive),
            "{t:?} must be refused, got {info:?}"
        );
    }
    assert!(
        s.get_attributes(h, types)?.is_empty(),
        "the token revealed one of {types:?}"
    );
    Ok(())
}

token_test!(fn an_aes_key_from_its_template_has_every_attribute_explicit(t) {
    let token = t.open()?;
    let id = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "k/1")?;
    let s = t.raw_session()?;
    let h = find(&s, &id)?;
    assert_attributes(&s, h, ObjectClass::SECRET_KEY, KeyType::AES, true, SECRET_KEY_USAGES, &[Usage::Encrypt, Usage::Decrypt])?;
    assert_eq!(s.get_attributes(h, &[AttributeType::ValueLen, AttributeType::Label])?,
        [Attribute::ValueLen(32.into()), Attribute::Label(b"lockbox/k/1".to_vec())]);
    assert_refused(&s, h, &[AttributeType::Value])?;
    Ok(())
});

token_test!(fn hmac_keys_from_their_templates_have_every_attribute_explicit(t) {
    let token = t.open()?;
    let s = t.raw_session()?;
    for (digest, len) in [(HmacDigest::Sha224, 28u64), (HmacDigest::Sha256, 32), (HmacDigest::Sha384, 48), (HmacDigest::Sha512, 64)] {
        let id = token.generate_key(&SecretKeyTemplate::hmac(digest), &format!("h/{len}"))?;
        let h = find(&s, &id)?;
        assert_attributes(&s, h, ObjectClass::SECRET_KEY, KeyType::GENERIC_SECRET, true, SECRET_KEY_USAGES, &[Usage::Sign, Usage::Verify])?;
        assert_eq!(s.get_attributes(h, &[AttributeType::ValueLen])?, [Attribute::ValueLen(len.into())]);
        assert_refused(&s, h, &[AttributeType::Value])?;
    }
    // The SHA-256 key computes HMACs in the token.
    let key = token.generate_key(&SecretKeyTemplate::hmac(HmacDigest::Sha256), "audit")?;
    let mac = token.hmac_sha256(&key, b"x")?;
    assert!(token.hmac_sha256_verify(&key, b"x", &mac)?);
    Ok(())
});

token_test!(fn an_rsa_2048_pair_has_a_sensitive_private_half_and_a_locked_public_half(t) {
    use AttributeType as T;
    let token = t.open()?;
    let pair = token.generate_key_pair(&KeyPairTemplate::rsa(RsaBits::Rsa2048, RsaPurpose::SignVerify), "rsa/1")?;
    assert_ne!(pair.private, pair.public);
    let s = t.raw_session()?;

    let private = find(&s, &pair.private)?;
    assert_attributes(&s, private, ObjectClass::PRIVATE_KEY, KeyType::RSA, true, PRIVATE_KEY_USAGES, &[Usage::Sign])?;
    assert_refused(&s, private, &[T::PrivateExponent, T::Prime1, T::Prime2, T::Exponent1, T::Exponent2, T::Coefficient])?;

    let public = find(&s, &pair.public)?;
    assert_attributes(&s, public, ObjectClass::PUBLIC_KEY, KeyType::RSA, false, PUBLIC_KEY_USAGES, &[Usage::Verify])?;
    let attrs = s.get_attributes(public, &[T::PublicExponent, T::ModulusBits, T::Label])?;
    assert_eq!(attrs, [Attribute::PublicExponent(vec![1, 0, 1]), Attribute::ModulusBits(2048.into()), Attribute::Label(b"lockbox/rsa/1".to_vec())]);
    // Both halves share the private half's modulus (they are one pair).
    let m = |h| s.get_attributes(h, &[T::Modulus]);
    assert_eq!(m(private)?, m(public)?);

    // The encryption purpose swaps the usages over.
    let pair = token.generate_key_pair(&KeyPairTemplate::rsa(RsaBits::Rsa2048, RsaPurpose::EncryptDecrypt), "rsa/2")?;
    assert_attributes(&s, find(&s, &pair.private)?, ObjectClass::PRIVATE_KEY, KeyType::RSA, true, PRIVATE_KEY_USAGES, &[Usage::Decrypt])?;
    assert_attributes(&s, find(&s, &pair.public)?, ObjectClass::PUBLIC_KEY, KeyType::RSA, false, PUBLIC_KEY_USAGES, &[Usage::Encrypt])?;
    Ok(())
});

token_test!(fn a_p256_pair_has_a_sensitive_private_half_and_a_locked_public_half(t) {
    use AttributeType as T;
    let token = t.open()?;
    let pair = token.generate_key_pair(&KeyPairTemplate::ec(Curve::P256, EcPurpose::SignVerify), "ec/1")?;
    let s = t.raw_session()?;

    let private = find(&s, &pair.private)?;
    assert_attributes(&s, private, ObjectClass::PRIVATE_KEY, KeyType::EC, true, PRIVATE_KEY_USAGES, &[Usage::Sign])?;
    assert_refused(&s, private, &[T::Value])?;

    let public = find(&s, &pair.public)?;
    assert_attributes(&s, public, ObjectClass::PUBLIC_KEY, KeyType::EC, false, PUBLIC_KEY_USAGES, &[Usage::Verify])?;
    let params = s.get_attributes(public, &[T::EcParams])?;
    assert_eq!(params, [Attribute::EcParams(Curve::P256.ec_params().to_vec())]);
    // The public point is readable: an uncompressed P-256 point (65 bytes) in a DER OCTET STRING.
    match s.get_attributes(public, &[T::EcPoint])?.as_slice() {
        [Attribute::EcPoint(p)] => assert_eq!((p.len(), p[0], p[2]), (67, 0x04, 0x04)),
        other => panic!("expected CKA_EC_POINT, got {other:?}"),
    }

    // Key agreement: the private half derives, the public half has no usage at all.
    let pair = token.generate_key_pair(&KeyPairTemplate::ec(Curve::P256, EcPurpose::KeyAgreement), "ec/2")?;
    assert_attributes(&s, find(&s, &pair.private)?, ObjectClass::PRIVATE_KEY, KeyType::EC, true, PRIVATE_KEY_USAGES, &[Usage::Derive])?;
    assert_attributes(&s, find(&s, &pair.public)?, ObjectClass::PUBLIC_KEY, KeyType::EC, false, PUBLIC_KEY_USAGES, &[])?;
    Ok(())
});

token_test!(fn every_named_curve_and_rsa_size_generates(t) {
    let token = t.open()?;
    let s = t.raw_session()?;
    for curve in [Curve::P384, Curve::P521, Curve::Secp256k1] {
        let pair = token.generate_key_pair(&KeyPairTemplate::ec(curve, EcPurpose::SignVerify), "ec")?;
        assert_eq!(s.get_attributes(find(&s, &pair.public)?, &[AttributeType::EcParams])?, [Attribute::EcParams(curve.ec_params().to_vec())]);
        assert_refused(&s, find(&s, &pair.private)?, &[AttributeType::Value])?;
    }
    let pair = token.generate_key_pair(&KeyPairTemplate::rsa(RsaBits::Rsa3072, RsaPurpose::SignVerify), "rsa")?;
    assert_eq!(s.get_attributes(find(&s, &pair.public)?, &[AttributeType::ModulusBits])?, [Attribute::ModulusBits(3072.into())]);
    Ok(())
});

token_test!(fn both_halves_of_a_pair_are_listed_found_again_and_destroyed_by_their_own_ids(t) {
    let token = t.open()?;
    let pair = token.generate_key_pair(&KeyPairTemplate::ec(Curve::P256, EcPurpose::SignVerify), "key/ec")?;
    let aes = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/aes")?;
    let mut listed: Vec<_> = token.list_objects()?.into_iter().map(|o| (o.id, o.label)).collect();
    listed.sort();
    let mut expected = vec![
        (pair.private, "lockbox/key/ec".to_owned()),
        (pair.public, "lockbox/key/ec".to_owned()),
        (aes, "lockbox/key/aes".to_owned()),
    ];
    expected.sort();
    assert_eq!(listed, expected);

    // A fresh Token (empty handle cache) finds each half by its id alone.
    drop(token);
    let token = t.open()?;
    assert_eq!(token.inspect(&pair.public)?.label, "lockbox/key/ec");
    token.destroy(&pair.private)?;
    assert!(matches!(token.inspect(&pair.private), Err(TokenError::ObjectNotFound(_))));
    token.destroy(&pair.public)?;
    assert_eq!(token.list_objects()?.into_iter().map(|o| o.id).collect::<Vec<_>>(), [aes]);
    Ok(())
});
