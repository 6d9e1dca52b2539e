//! Sign, Verify and GetPublicKey through the engine, against a throwaway SoftHSM token, with
//! Python's `cryptography` (which nobody here wrote) as the outside check: it loads every
//! GetPublicKey answer and verifies every signature.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../lockbox-token/tests/oracle/mod.rs"]
mod oracle;

use common::*;
use lockbox::api::*;
use lockbox_token::token_test;

type R = Result<(), Box<dyn std::error::Error>>;

/// Every asymmetric key spec with every usage AWS allows for it, and the algorithm lists
/// GetPublicKey and DescribeKey must report.
fn asymmetric_keys() -> Vec<(KeySpec, KeyUsage)> {
    use KeySpec::*;
    use KeyUsage::*;
    vec![
        (Rsa2048, SignVerify),
        (Rsa2048, EncryptDecrypt),
        (Rsa3072, SignVerify),
        (Rsa3072, EncryptDecrypt),
        (Rsa4096, SignVerify),
        (Rsa4096, EncryptDecrypt),
        (EccNistP256, SignVerify),
        (EccNistP256, KeyAgreement),
        (EccNistP384, SignVerify),
        (EccNistP384, KeyAgreement),
        (EccNistP521, SignVerify),
        (EccNistP521, KeyAgreement),
        (EccSecgP256k1, SignVerify),
    ]
}

/// What `cryptography` must read from a key of `spec`: "RSA <bits>" or "EC <curve>".
fn oracle_kind(spec: KeySpec) -> &'static str {
    match spec {
        KeySpec::Rsa2048 => "RSA 2048",
        KeySpec::Rsa3072 => "RSA 3072",
        KeySpec::Rsa4096 => "RSA 4096",
        KeySpec::EccNistP256 => "EC secp256r1",
        KeySpec::EccNistP384 => "EC secp384r1",
        KeySpec::EccNistP521 => "EC secp521r1",
        KeySpec::EccSecgP256k1 => "EC secp256k1",
        other => panic!("not asymmetric: {other}"),
    }
}

fn create(e: &impl Kms, spec: KeySpec, usage: KeyUsage) -> Result<KeyMetadata, KmsError> {
    Ok(e.create_key(
        CreateKeyRequest::new()
            .with_key_spec(spec)
            .with_key_usage(usage),
    )?
    .key_metadata)
}

token_test!(fn get_public_key_answers_for_every_spec_and_usage_with_an_spki_cryptography_loads(t) {
    let e = engine(t)?;
    for (spec, usage) in asymmetric_keys() {
        let md = create(&e, spec, usage)?;
        let r = e.get_public_key(GetPublicKeyRequest::new(md.key_id))?;
        assert_eq!(r.key_id, md.arn);
        assert_eq!((r.key_spec, r.key_usage), (spec, usage));
        // The same algorithm lists DescribeKey gives.
        assert_eq!(r.encryption_algorithms, md.encryption_algorithms, "{spec} {usage}");
        assert_eq!(r.signing_algorithms, md.signing_algorithms, "{spec} {usage}");
        assert_eq!(r.key_agreement_algorithms, md.key_agreement_algorithms, "{spec} {usage}");
        match usage {
            KeyUsage::SignVerify => assert!(!r.signing_algorithms.is_empty()),
            KeyUsage::EncryptDecrypt => assert!(!r.encryption_algorithms.is_empty()),
            _ => assert_eq!(r.key_agreement_algorithms, [KeyAgreementAlgorithm::Ecdh]),
        }
        let seen = oracle::describe_spki(t.dir(), &r.public_key)?;
        assert!(seen.starts_with(&format!("{} ", oracle_kind(spec))), "{spec}: {seen}");
        // The same answer by alias and by ARN.
        let alias = format!("alias/pk-{}", md.key_id);
        e.create_alias(AliasRequest::new(AliasName::parse(&alias)?, md.key_id))?;
        let by_alias = e.get_public_key(GetPublicKeyRequest::new(KeyRef::parse(&alias)?))?;
        assert_eq!(by_alias.public_key, r.public_key);
    }
    Ok(())
});

token_test!(fn get_public_key_on_symmetric_and_hmac_keys_is_unsupported(t) {
    let e = engine(t)?;
    let sym = e.create_key(CreateKeyRequest::new())?.key_metadata;
    let x = err(e.get_public_key(GetPublicKeyRequest::new(sym.key_id)));
    assert_eq!(x.kind(), ErrorKind::UnsupportedOperation);
    assert_eq!(x.message(), "GetPublicKey is not supported for keys with KeySpec SYMMETRIC_DEFAULT.");
    let hmac = create(&e, KeySpec::Hmac256, KeyUsage::GenerateVerifyMac)?;
    let x = err(e.get_public_key(GetPublicKeyRequest::new(hmac.key_id)));
    assert_eq!(x.kind(), ErrorKind::UnsupportedOperation);
    assert_eq!(x.message(), "GetPublicKey is not supported for keys with KeySpec HMAC_256.");
    // A disabled key: DisabledException, as for every key operation.
    let k = create(&e, KeySpec::EccNistP256, KeyUsage::SignVerify)?;
    e.disable_key(DisableKeyRequest::new(k.key_id))?;
    assert_eq!(kind(e.get_public_key(GetPublicKeyRequest::new(k.key_id))), ErrorKind::Disabled);
    Ok(())
});
