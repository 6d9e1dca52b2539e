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

fn pt(b: &[u8]) -> Plaintext {
    Plaintext::copy_from(b)
}

/// The SIGN_VERIFY key specs and the algorithms AWS allows for each.
fn signing_keys() -> Vec<(KeySpec, Vec<SigningAlgorithm>)> {
    use SigningAlgorithm::*;
    let rsa = vec![
        RsassaPssSha256,
        RsassaPssSha384,
        RsassaPssSha512,
        RsassaPkcs1V15Sha256,
        RsassaPkcs1V15Sha384,
        RsassaPkcs1V15Sha512,
    ];
    vec![
        (KeySpec::Rsa2048, rsa.clone()),
        (KeySpec::Rsa3072, rsa.clone()),
        (KeySpec::Rsa4096, rsa),
        (KeySpec::EccNistP256, vec![EcdsaSha256]),
        (KeySpec::EccNistP384, vec![EcdsaSha384]),
        (KeySpec::EccNistP521, vec![EcdsaSha512]),
        (KeySpec::EccSecgP256k1, vec![EcdsaSha256]),
    ]
}

/// The digest of `message` under `algorithm`'s hash, computed here with RustCrypto's sha2.
fn hash(algorithm: SigningAlgorithm, message: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let name = algorithm.as_str();
    if name.ends_with("256") {
        sha2::Sha256::digest(message).to_vec()
    } else if name.ends_with("384") {
        sha2::Sha384::digest(message).to_vec()
    } else {
        sha2::Sha512::digest(message).to_vec()
    }
}

fn sign(
    e: &impl Kms,
    key: impl Into<KeyRef>,
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<SignResponse, KmsError> {
    e.sign(SignRequest::new(key, pt(message), algorithm).with_message_type(message_type))
}

fn verify(
    e: &impl Kms,
    key: impl Into<KeyRef>,
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<VerifyResponse, KmsError> {
    e.verify(
        VerifyRequest::new(key, pt(message), signature.to_vec(), algorithm)
            .with_message_type(message_type),
    )
}

const INVALID_SIGNATURE: &str =
    "The signature is not valid for this message, key and signing algorithm.";

/// A Verify that must fail as a bad signature does.
fn assert_invalid(r: Result<VerifyResponse, KmsError>, what: &str) {
    let x = err(r);
    assert_eq!(
        (x.kind(), x.message()),
        (ErrorKind::KmsInvalidSignature, INVALID_SIGNATURE),
        "{what}"
    );
}

token_test!(fn every_spec_algorithm_and_message_type_signs_and_verifies_inside_and_outside(t) {
    let e = engine(t)?;
    let mut message = vec![0u8; 300];
    e.token().random(&mut message)?;
    for (spec, algorithms) in signing_keys() {
        let md = create(&e, spec, KeyUsage::SignVerify)?;
        assert_eq!(md.signing_algorithms, algorithms, "{spec}");
        let spki = e.get_public_key(GetPublicKeyRequest::new(md.key_id))?.public_key;
        for a in algorithms {
            for mt in [MessageType::Raw, MessageType::Digest] {
                let input = match mt {
                    MessageType::Raw => message.clone(),
                    _ => hash(a, &message),
                };
                let s = sign(&e, md.key_id, a, mt, &input)?;
                assert_eq!((s.key_id.clone(), s.signing_algorithm), (md.arn.clone(), a));
                let what = format!("{spec} {a} {mt}");
                // Outside: cryptography, over GetPublicKey's SPKI.
                assert!(oracle::verifies(t.dir(), &spki, a.as_str(), mt.as_str(), &input, &s.signature)?, "{what}");
                // Inside, as given and in the other message type (a RAW message's signature
                // is its digest's signature).
                let v = verify(&e, md.key_id, a, mt, &input, &s.signature)?;
                assert_eq!((v.key_id, v.signature_valid, v.signing_algorithm), (md.arn.clone(), true, a), "{what}");
                verify(&e, md.key_id, a, MessageType::Digest, &hash(a, &message), &s.signature)?;
                if mt == MessageType::Digest {
                    verify(&e, md.key_id, a, MessageType::Raw, &message, &s.signature)?;
                }
            }
        }
    }
    Ok(())
});

token_test!(fn verify_of_anything_changed_is_kms_invalid_signature(t) {
    let e = engine(t)?;
    use SigningAlgorithm::*;
    for (spec, a, other_a) in [
        (KeySpec::Rsa2048, RsassaPssSha256, RsassaPkcs1V15Sha256),
        (KeySpec::Rsa2048, RsassaPkcs1V15Sha384, RsassaPssSha384),
        (KeySpec::EccNistP256, EcdsaSha256, EcdsaSha256),
        (KeySpec::EccNistP521, EcdsaSha512, EcdsaSha512),
    ] {
        let k = create(&e, spec, KeyUsage::SignVerify)?.key_id;
        let other = create(&e, spec, KeyUsage::SignVerify)?.key_id;
        let s = sign(&e, k, a, MessageType::Raw, b"pay 10")?.signature;
        verify(&e, k, a, MessageType::Raw, b"pay 10", &s)?;
        assert_invalid(verify(&e, k, a, MessageType::Raw, b"pay 11", &s), "changed message");
        let mut changed = s.clone();
        let n = changed.len();
        changed[n / 2] ^= 0x40;
        assert_invalid(verify(&e, k, a, MessageType::Raw, b"pay 10", &changed), "changed signature");
        assert_invalid(verify(&e, k, a, MessageType::Raw, b"pay 10", &s[..n - 1]), "truncated signature");
        assert_invalid(verify(&e, k, a, MessageType::Raw, b"pay 10", &[0x30, 0x00]), "malformed signature");
        assert_invalid(verify(&e, other, a, MessageType::Raw, b"pay 10", &s), "other key");
        if other_a != a {
            assert_invalid(verify(&e, k, other_a, MessageType::Raw, b"pay 10", &s), "other algorithm");
        }
        // The message as a digest of itself is another message.
        let d = hash(a, b"pay 10");
        assert_invalid(verify(&e, k, a, MessageType::Raw, &d, &s), "digest taken as RAW");
    }
    Ok(())
});

token_test!(fn bad_requests_get_aws_errors(t) {
    let e = engine(t)?;
    use SigningAlgorithm::*;
    let p256 = create(&e, KeySpec::EccNistP256, KeyUsage::SignVerify)?;
    let rsa_sign = create(&e, KeySpec::Rsa2048, KeyUsage::SignVerify)?;
    let rsa_enc = create(&e, KeySpec::Rsa2048, KeyUsage::EncryptDecrypt)?;
    let ecdh = create(&e, KeySpec::EccNistP384, KeyUsage::KeyAgreement)?;
    let hmac = create(&e, KeySpec::Hmac256, KeyUsage::GenerateVerifyMac)?;
    let sym = e.create_key(CreateKeyRequest::new())?.key_metadata;
    let raw = MessageType::Raw;

    // An algorithm the key's spec does not allow.
    for (key, a, allowed) in [
        (&p256, EcdsaSha384, "ECDSA_SHA_256"),
        (&p256, RsassaPssSha256, "ECDSA_SHA_256"),
        (&rsa_sign, EcdsaSha256, "RSASSA_PSS_SHA_256, RSASSA_PSS_SHA_384, RSASSA_PSS_SHA_512, RSASSA_PKCS1_V1_5_SHA_256, RSASSA_PKCS1_V1_5_SHA_384, RSASSA_PKCS1_V1_5_SHA_512"),
    ] {
        let expected = format!(
            "Signing algorithm {a} is not valid for {}, whose key spec is {}; it supports {allowed}.",
            key.arn, key.key_spec
        );
        let x = err(sign(&e, key.key_id, a, raw, b"m"));
        assert_eq!((x.kind(), x.message()), (ErrorKind::InvalidKeyUsage, expected.as_str()));
        let x = err(verify(&e, key.key_id, a, raw, b"m", b"sig"));
        assert_eq!((x.kind(), x.message()), (ErrorKind::InvalidKeyUsage, expected.as_str()));
    }
    // A key whose usage is not SIGN_VERIFY, for Sign and Verify.
    for key in [&rsa_enc, &ecdh, &hmac, &sym] {
        let expected = format!(
            "{} key usage is {} which is not valid for this operation.",
            key.arn, key.key_usage
        );
        let x = err(sign(&e, key.key_id, RsassaPssSha256, raw, b"m"));
        assert_eq!((x.kind(), x.message()), (ErrorKind::InvalidKeyUsage, expected.as_str()), "{}", key.key_spec);
        let x = err(verify(&e, key.key_id, EcdsaSha384, raw, b"m", b"s"));
        assert_eq!((x.kind(), x.message()), (ErrorKind::InvalidKeyUsage, expected.as_str()), "{}", key.key_spec);
    }
    // A SIGN_VERIFY key used to encrypt.
    for key in [&rsa_sign, &p256] {
        let x = err(e.encrypt(EncryptRequest::new(key.key_id, pt(b"secret"))));
        assert_eq!(x.kind(), ErrorKind::InvalidKeyUsage, "{}: {}", key.key_spec, x.message());
    }
    // A digest of the wrong length, an over-long or empty message, an empty signature.
    let x = err(sign(&e, p256.key_id, EcdsaSha256, MessageType::Digest, &[1; 48]));
    assert_eq!(
        (x.kind(), x.message()),
        (ErrorKind::Validation, "Digest is invalid length for algorithm ECDSA_SHA_256: it has 48 bytes, the algorithm's digest has 32.")
    );
    let x = err(verify(&e, rsa_sign.key_id, RsassaPssSha512, MessageType::Digest, &[1; 32], b"s"));
    assert_eq!(x.kind(), ErrorKind::Validation);
    let x = err(sign(&e, p256.key_id, EcdsaSha256, raw, &[1; 4097]));
    assert_eq!(
        (x.kind(), x.message()),
        (ErrorKind::Validation, "1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096")
    );
    sign(&e, p256.key_id, EcdsaSha256, raw, &[1; 4096])?;
    assert_eq!(kind(sign(&e, p256.key_id, EcdsaSha256, raw, &[])), ErrorKind::Validation);
    assert_eq!(kind(verify(&e, p256.key_id, EcdsaSha256, raw, &[1; 4097], b"s")), ErrorKind::Validation);
    let x = err(verify(&e, p256.key_id, EcdsaSha256, raw, b"m", &[]));
    assert_eq!(
        (x.kind(), x.message()),
        (ErrorKind::Validation, "1 validation error detected: Value at 'signature' failed to satisfy constraint: Member must have length greater than or equal to 1")
    );
    assert_eq!(kind(sign(&e, p256.key_id, EcdsaSha256, MessageType::ExternalMu, &[1; 64])), ErrorKind::Validation);
    // A disabled key, and one pending deletion.
    let s = sign(&e, p256.key_id, EcdsaSha256, raw, b"m")?.signature;
    e.disable_key(DisableKeyRequest::new(p256.key_id))?;
    assert_eq!(kind(sign(&e, p256.key_id, EcdsaSha256, raw, b"m")), ErrorKind::Disabled);
    assert_eq!(kind(verify(&e, p256.key_id, EcdsaSha256, raw, b"m", &s)), ErrorKind::Disabled);
    e.enable_key(EnableKeyRequest::new(p256.key_id))?;
    verify(&e, p256.key_id, EcdsaSha256, raw, b"m", &s)?;
    e.schedule_key_deletion(ScheduleKeyDeletionRequest::new(p256.key_id))?;
    assert_eq!(kind(sign(&e, p256.key_id, EcdsaSha256, raw, b"m")), ErrorKind::KmsInvalidState);
    Ok(())
});

const A: &str = "111122223333";

fn iam(rest: &str) -> String {
    format!("arn:aws:iam::{A}:{rest}")
}

token_test!(
/// Key policies decide Sign, Verify and GetPublicKey, with the conditions kms:SigningAlgorithm,
/// kms:MessageType, kms:KeySpec and kms:KeyUsage; grants delegate them.
fn policies_conditions_and_grants_decide_signing(t) {
    let kms = engine(t)?;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": iam("role/owner")},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "SignerPssDigestsOnly", "Effect": "Allow", "Principal": {"AWS": iam("role/signer")},
             "Action": "kms:Sign", "Resource": "*",
             "Condition": {"StringEquals": {"kms:SigningAlgorithm": "RSASSA_PSS_SHA_256",
                                            "kms:MessageType": "DIGEST"}}},
            {"Sid": "VerifierOfRsaSigningKeys", "Effect": "Allow", "Principal": {"AWS": iam("role/verifier")},
             "Action": ["kms:Verify", "kms:GetPublicKey"], "Resource": "*",
             "Condition": {"StringEquals": {"kms:KeySpec": "RSA_2048", "kms:KeyUsage": "SIGN_VERIFY"}}},
            {"Sid": "NoPkcs1", "Effect": "Deny", "Principal": "*", "Action": "kms:Verify",
             "Resource": "*",
             "Condition": {"StringLike": {"kms:SigningAlgorithm": "RSASSA_PKCS1_*"}}}
        ]
    }).to_string();
    let owner = kms.as_caller(&iam("role/owner"));
    let key = owner.create_key(CreateKeyRequest::new().with_key_spec(KeySpec::Rsa2048)
        .with_key_usage(KeyUsage::SignVerify).with_policy(policy))?.key_metadata;
    let k = key.key_id;
    use SigningAlgorithm::*;
    let d = hash(RsassaPssSha256, b"invoice");
    let pkcs1 = sign(&owner, k, RsassaPkcs1V15Sha256, MessageType::Raw, b"invoice")?.signature;

    let signer = kms.as_caller(&iam("role/signer"));
    let pss = sign(&signer, k, RsassaPssSha256, MessageType::Digest, &d)?.signature;
    assert_eq!(kind(sign(&signer, k, RsassaPssSha256, MessageType::Raw, b"invoice")), ErrorKind::AccessDenied);
    assert_eq!(kind(sign(&signer, k, RsassaPssSha384, MessageType::Digest, &hash(RsassaPssSha384, b"x"))), ErrorKind::AccessDenied);
    assert_eq!(kind(verify(&signer, k, RsassaPssSha256, MessageType::Digest, &d, &pss)), ErrorKind::AccessDenied);
    assert_eq!(kind(signer.get_public_key(GetPublicKeyRequest::new(k))), ErrorKind::AccessDenied);

    let verifier = kms.as_caller(&iam("role/verifier"));
    verify(&verifier, k, RsassaPssSha256, MessageType::Raw, b"invoice", &pss)?;
    verifier.get_public_key(GetPublicKeyRequest::new(k))?;
    // The explicit deny wins over the allow, and is decided before the signature is checked.
    assert_eq!(kind(verify(&verifier, k, RsassaPkcs1V15Sha256, MessageType::Raw, b"invoice", &pkcs1)), ErrorKind::AccessDenied);
    assert_eq!(kind(verify(&owner, k, RsassaPkcs1V15Sha256, MessageType::Raw, b"invoice", &pkcs1)), ErrorKind::AccessDenied);
    assert_eq!(kind(sign(&verifier, k, RsassaPssSha256, MessageType::Digest, &d)), ErrorKind::AccessDenied);
    // kms:KeySpec: the verifier's statement does not cover another spec.
    let other = owner.create_key(CreateKeyRequest::new().with_key_spec(KeySpec::EccNistP256)
        .with_key_usage(KeyUsage::SignVerify).with_policy(serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": iam("role/owner")}, "Action": "kms:*", "Resource": "*"},
                {"Effect": "Allow", "Principal": {"AWS": iam("role/verifier")}, "Action": "kms:GetPublicKey",
                 "Resource": "*", "Condition": {"StringEquals": {"kms:KeySpec": "RSA_2048"}}}
            ]}).to_string()))?.key_metadata;
    assert_eq!(kind(verifier.get_public_key(GetPublicKeyRequest::new(other.key_id))), ErrorKind::AccessDenied);

    // Grants: a worker in another account gets Sign and GetPublicKey only.
    let worker = kms.as_caller("arn:aws:iam::999922223333:role/worker");
    let key_arn = key.arn.to_string();
    let kr = || KeyRef::parse(&key_arn).unwrap();
    assert_eq!(kind(sign(&worker, kr(), RsassaPssSha256, MessageType::Raw, b"w")), ErrorKind::AccessDenied);
    let grant = owner.create_grant(CreateGrantRequest::new(
        k,
        worker.caller().principal().clone(),
        vec![GrantOperation::Sign, GrantOperation::GetPublicKey],
    ))?;
    let s = worker.sign(SignRequest::new(kr(), pt(b"w"), RsassaPssSha512)
        .with_grant_tokens(GrantTokens::new(vec![grant.grant_token.clone()])?))?;
    let spki = worker.get_public_key(GetPublicKeyRequest::new(kr()))?.public_key;
    assert!(oracle::verifies(t.dir(), &spki, "RSASSA_PSS_SHA_512", "RAW", b"w", &s.signature)?);
    assert_eq!(kind(verify(&worker, kr(), RsassaPssSha512, MessageType::Raw, b"w", &s.signature)), ErrorKind::AccessDenied);
    // A Verify grant on a SIGN_VERIFY key is allowed; a MAC one is not (AWS: ValidationException).
    owner.create_grant(CreateGrantRequest::new(k, worker.caller().principal().clone(), vec![GrantOperation::Verify]))?;
    verify(&worker, kr(), RsassaPssSha512, MessageType::Raw, b"w", &s.signature)?;
    assert_eq!(kind(owner.create_grant(CreateGrantRequest::new(k, worker.caller().principal().clone(), vec![GrantOperation::GenerateMac]))), ErrorKind::Validation);
    Ok(())
});

token_test!(fn sign_and_verify_are_audited_with_their_outcome(t) {
    let e = engine(t)?;
    let md = create(&e, KeySpec::EccNistP384, KeyUsage::SignVerify)?;
    let a = SigningAlgorithm::EcdsaSha384;
    let s = sign(&e, md.key_id, a, MessageType::Raw, b"m")?.signature;
    verify(&e, md.key_id, a, MessageType::Raw, b"m", &s)?;
    assert_invalid(verify(&e, md.key_id, a, MessageType::Raw, b"n", &s), "changed message");
    e.get_public_key(GetPublicKeyRequest::new(md.key_id))?;
    e.audit().flush()?;
    let events: Vec<_> = e
        .store()
        .audit_from(0)
        .filter_map(|r| r.ok())
        .filter_map(|(_, bytes)| lockbox_store::AuditEntry::decode(&bytes).ok())
        .filter_map(|en| match en.body {
            lockbox_store::AuditBody::Event(ev) if ev.key_arn.as_deref() == Some(md.arn.to_string().as_str())
                && ev.operation != "CreateKey" => Some(ev),
            _ => None,
        })
        .map(|ev| (ev.operation, ev.error.map(|(code, _)| code)))
        .collect();
    assert_eq!(
        events,
        [
            ("Sign".to_owned(), None),
            ("Verify".to_owned(), None),
            ("Verify".to_owned(), Some("KMSInvalidSignatureException".to_owned())),
            ("GetPublicKey".to_owned(), None),
        ]
    );
    Ok(())
});
