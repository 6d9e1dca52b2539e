//! HMAC keys end to end through the engine: CreateKey and DescribeKey for every HMAC spec,
//! GenerateMac and VerifyMac (and what they refuse), rotation refused for every kind but
//! symmetric, key policies with `kms:MacAlgorithm`, grants, and the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{engine, err};
use lockbox::api::*;
use lockbox_token::token_test;

/// The account of the engine's default caller (which `engine(t)` calls as).
const A: &str = "000000000000";

/// Another account: its principals have only what a key policy or a grant gives them (in
/// the key's own account, the default policy's root statement allows them everything).
const B: &str = "444455556666";

fn arn(rest: &str) -> String {
    format!("arn:aws:iam::{B}:{rest}")
}

fn pt(b: &[u8]) -> Plaintext {
    Plaintext::copy_from(b)
}

const SPECS: [(KeySpec, MacAlgorithm, usize); 4] = [
    (KeySpec::Hmac224, MacAlgorithm::HmacSha224, 28),
    (KeySpec::Hmac256, MacAlgorithm::HmacSha256, 32),
    (KeySpec::Hmac384, MacAlgorithm::HmacSha384, 48),
    (KeySpec::Hmac512, MacAlgorithm::HmacSha512, 64),
];

fn hmac_key(kms: &dyn Kms, spec: KeySpec) -> Result<KeyMetadata, KmsError> {
    Ok(kms
        .create_key(
            CreateKeyRequest::new()
                .with_key_spec(spec)
                .with_key_usage(KeyUsage::GenerateVerifyMac),
        )?
        .key_metadata)
}

token_test!(
/// Every HMAC spec: created with GENERATE_VERIFY_MAC only, described with its one MAC
/// algorithm, and its MACs verify while any change to message or MAC does not.
fn every_hmac_spec_generates_and_verifies_macs(t) {
    let kms = engine(t)?;
    for (spec, alg, len) in SPECS {
        // KeyUsage is required for HMAC keys, and only GENERATE_VERIFY_MAC is accepted.
        let e = err(kms.create_key(CreateKeyRequest::new().with_key_spec(spec)));
        assert_eq!(e.kind(), ErrorKind::Validation, "{spec}: {e}");
        for usage in [KeyUsage::EncryptDecrypt, KeyUsage::SignVerify, KeyUsage::KeyAgreement] {
            let e = err(kms.create_key(CreateKeyRequest::new().with_key_spec(spec).with_key_usage(usage)));
            assert_eq!(e.kind(), ErrorKind::Validation, "{spec} {usage}");
            assert_eq!(e.message(), format!("KeyUsage {usage} is not compatible with KeySpec {spec}."));
        }
        let key = hmac_key(&kms, spec)?;
        let described = kms.describe_key(DescribeKeyRequest::new(key.key_id))?.key_metadata;
        assert_eq!(described.key_spec, spec);
        assert_eq!(described.key_usage, KeyUsage::GenerateVerifyMac);
        assert_eq!(described.mac_algorithms, [alg]);
        assert!(described.encryption_algorithms.is_empty(), "{spec}");
        assert!(described.signing_algorithms.is_empty(), "{spec}");
        assert!(described.key_agreement_algorithms.is_empty(), "{spec}");

        let msg = b"Lockbox MAC test message".as_slice();
        let made = kms.generate_mac(GenerateMacRequest::new(key.key_id, pt(msg), alg))?;
        assert_eq!(made.mac.len(), len, "{spec}");
        assert_eq!(made.mac_algorithm, alg);
        assert_eq!(made.key_id, key.arn);
        // HMAC is deterministic; another key gives another MAC.
        assert_eq!(kms.generate_mac(GenerateMacRequest::new(key.key_id, pt(msg), alg))?.mac, made.mac);
        let other = hmac_key(&kms, spec)?;
        assert_ne!(kms.generate_mac(GenerateMacRequest::new(other.key_id, pt(msg), alg))?.mac, made.mac);

        let ok = kms.verify_mac(VerifyMacRequest::new(key.key_id, pt(msg), alg, made.mac.clone()))?;
        assert!(ok.mac_valid);
        assert_eq!((ok.key_id, ok.mac_algorithm), (key.arn.clone(), alg));

        let invalid = |message: &[u8], mac: Vec<u8>| {
            let e = err(kms.verify_mac(VerifyMacRequest::new(key.key_id, pt(message), alg, mac)));
            assert_eq!(e.kind(), ErrorKind::KmsInvalidMac, "{spec}");
            assert_eq!(e.message(), "The MAC is not valid for this message, key and MAC algorithm.");
        };
        let mut changed = msg.to_vec();
        changed[3] ^= 0x01;
        invalid(&changed, made.mac.clone());
        let mut flipped = made.mac.clone();
        flipped[len / 2] ^= 0x80;
        invalid(msg, flipped);
        invalid(msg, made.mac[..len - 1].to_vec());
        invalid(msg, made.mac[..16].to_vec());
        let mut longer = made.mac.clone();
        longer.push(0);
        invalid(msg, longer);
        // The other key's MAC is not this key's.
        let theirs = kms.generate_mac(GenerateMacRequest::new(other.key_id, pt(msg), alg))?.mac;
        invalid(msg, theirs);
        // The longest message AWS accepts works.
        let long = vec![0x5a; MAX_MESSAGE_LEN];
        let m = kms.generate_mac(GenerateMacRequest::new(key.key_id, pt(&long), alg))?.mac;
        kms.verify_mac(VerifyMacRequest::new(key.key_id, pt(&long), alg, m))?;
    }
    Ok(())
});

token_test!(
/// What MAC operations refuse, with AWS's error kinds.
fn mac_operations_refuse_what_aws_refuses(t) {
    let kms = engine(t)?;
    let key = hmac_key(&kms, KeySpec::Hmac256)?;
    let msg = b"m".as_slice();
    // A MAC algorithm the spec does not have.
    for alg in [MacAlgorithm::HmacSha224, MacAlgorithm::HmacSha384, MacAlgorithm::HmacSha512] {
        let e = err(kms.generate_mac(GenerateMacRequest::new(key.key_id, pt(msg), alg)));
        assert_eq!(e.kind(), ErrorKind::InvalidKeyUsage);
        assert_eq!(e.message(), format!(
            "MAC algorithm {alg} is not valid for {}, whose key spec is HMAC_256; it supports \
             HMAC_SHA_256.", key.arn));
        let e = err(kms.verify_mac(VerifyMacRequest::new(key.key_id, pt(msg), alg, vec![0; 32])));
        assert_eq!(e.kind(), ErrorKind::InvalidKeyUsage);
    }
    // An HMAC key does not encrypt, sign or make data keys.
    assert_eq!(err(kms.encrypt(EncryptRequest::new(key.key_id, pt(msg)))).kind(), ErrorKind::InvalidKeyUsage);
    assert_eq!(
        err(kms.generate_data_key(GenerateDataKeyRequest::new(key.key_id, DataKeySpec::Aes256))).kind(),
        ErrorKind::InvalidKeyUsage
    );
    assert_eq!(
        err(kms.sign(SignRequest::new(key.key_id, pt(msg), SigningAlgorithm::EcdsaSha256))).kind(),
        ErrorKind::InvalidKeyUsage
    );
    // A symmetric key does not make MACs.
    let sym = kms.create_key(CreateKeyRequest::new())?.key_metadata;
    let e = err(kms.generate_mac(GenerateMacRequest::new(sym.key_id, pt(msg), MacAlgorithm::HmacSha256)));
    assert_eq!(e.kind(), ErrorKind::InvalidKeyUsage);
    let e = err(kms.verify_mac(VerifyMacRequest::new(sym.key_id, pt(msg), MacAlgorithm::HmacSha256, vec![0; 32])));
    assert_eq!(e.kind(), ErrorKind::InvalidKeyUsage);
    // A disabled key, then enabled again.
    let mac = kms.generate_mac(GenerateMacRequest::new(key.key_id, pt(msg), MacAlgorithm::HmacSha256))?.mac;
    kms.disable_key(DisableKeyRequest::new(key.key_id))?;
    assert_eq!(
        err(kms.generate_mac(GenerateMacRequest::new(key.key_id, pt(msg), MacAlgorithm::HmacSha256))).kind(),
        ErrorKind::Disabled
    );
    assert_eq!(
        err(kms.verify_mac(VerifyMacRequest::new(key.key_id, pt(msg), MacAlgorithm::HmacSha256, mac.clone()))).kind(),
        ErrorKind::Disabled
    );
    kms.enable_key(EnableKeyRequest::new(key.key_id))?;
    kms.verify_mac(VerifyMacRequest::new(key.key_id, pt(msg), MacAlgorithm::HmacSha256, mac))?;
    // A key that does not exist.
    let e = err(kms.generate_mac(GenerateMacRequest::new(KeyRef::parse("alias/none")?, pt(msg), MacAlgorithm::HmacSha256)));
    assert_eq!(e.kind(), ErrorKind::NotFound);
    Ok(())
});

#[test]
fn a_message_longer_than_4096_bytes_or_empty_is_refused_at_the_api() {
    let key = KeyRef::parse("1234abcd-12ab-34cd-56ef-1234567890ab").unwrap();
    let body = |op: Operation, n: usize| {
        let message = pt(&vec![7u8; n]);
        let alg = MacAlgorithm::HmacSha256;
        let request = match op {
            Operation::GenerateMac => {
                Request::GenerateMac(GenerateMacRequest::new(key.clone(), message, alg))
            }
            _ => Request::VerifyMac(VerifyMacRequest::new(
                key.clone(),
                message,
                alg,
                vec![0; 32],
            )),
        };
        request.encode().to_vec()
    };
    for op in [Operation::GenerateMac, Operation::VerifyMac] {
        assert!(
            Request::decode(op, &body(op, MAX_MESSAGE_LEN)).is_ok(),
            "{op:?}"
        );
        let Err(e) = Request::decode(op, &body(op, MAX_MESSAGE_LEN + 1)) else {
            panic!("{op:?} accepted 4097 bytes")
        };
        assert_eq!(
            (e.status, e.code.as_ref()),
            (400, "ValidationException"),
            "{op:?}: {e:?}"
        );
        assert!(
            e.message.contains("'message'") && e.message.contains("4096"),
            "{e:?}"
        );
        let Err(e) = Request::decode(op, &body(op, 0)) else {
            panic!("{op:?} accepted an empty message")
        };
        assert_eq!(
            (e.status, e.code.as_ref()),
            (400, "ValidationException"),
            "{op:?}: {e:?}"
        );
    }
}

token_test!(
/// Rotation is for symmetric keys: EnableKeyRotation and RotateKeyOnDemand on HMAC, RSA and
/// ECC keys are UnsupportedOperationException, as in AWS.
fn hmac_rsa_and_ecc_keys_do_not_rotate(t) {
    let kms = engine(t)?;
    for (spec, usage) in [
        (KeySpec::Hmac256, KeyUsage::GenerateVerifyMac),
        (KeySpec::Hmac512, KeyUsage::GenerateVerifyMac),
        (KeySpec::Rsa2048, KeyUsage::SignVerify),
        (KeySpec::Rsa2048, KeyUsage::EncryptDecrypt),
        (KeySpec::EccNistP256, KeyUsage::SignVerify),
        (KeySpec::EccNistP384, KeyUsage::KeyAgreement),
        (KeySpec::EccSecgP256k1, KeyUsage::SignVerify),
    ] {
        let key = kms.create_key(CreateKeyRequest::new().with_key_spec(spec).with_key_usage(usage))?.key_metadata;
        let want = format!(
            "{} cannot be rotated: only SYMMETRIC_DEFAULT keys with origin AWS_KMS can.",
            key.arn
        );
        let e = err(kms.enable_key_rotation(EnableKeyRotationRequest::new(key.key_id)));
        assert_eq!((e.kind(), e.message()), (ErrorKind::UnsupportedOperation, want.as_str()), "{spec} {usage}");
        let e = err(kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key.key_id)));
        assert_eq!((e.kind(), e.message()), (ErrorKind::UnsupportedOperation, want.as_str()), "{spec} {usage}");
    }
    Ok(())
});

token_test!(
/// `kms:MacAlgorithm` in a key policy allows and denies GenerateMac and VerifyMac.
fn the_mac_algorithm_condition_allows_and_denies(t) {
    let kms = engine(t)?;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{A}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "Sha256Only", "Effect": "Allow", "Principal": {"AWS": arn("role/app")},
             "Action": ["kms:GenerateMac", "kms:VerifyMac"], "Resource": "*",
             "Condition": {"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_256"}}},
            {"Sid": "Sha512Only", "Effect": "Allow", "Principal": {"AWS": arn("role/other")},
             "Action": "kms:GenerateMac", "Resource": "*",
             "Condition": {"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_512"}}},
            {"Sid": "Everything", "Effect": "Allow", "Principal": {"AWS": arn("role/denied")},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "NotSha256", "Effect": "Deny", "Principal": {"AWS": arn("role/denied")},
             "Action": "kms:GenerateMac", "Resource": "*",
             "Condition": {"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_256"}}}
        ]
    }).to_string();
    let key = kms.create_key(
        CreateKeyRequest::new().with_key_spec(KeySpec::Hmac256).with_key_usage(KeyUsage::GenerateVerifyMac).with_policy(policy),
    )?.key_metadata;
    let msg = b"policy".as_slice();
    let k = || KeyRef::parse(&key.arn.to_string()).unwrap();
    let make = |who: &str, alg| kms.as_caller(&arn(who)).generate_mac(GenerateMacRequest::new(k(), pt(msg), alg));
    let mac = make("role/app", MacAlgorithm::HmacSha256)?.mac;
    kms.as_caller(&arn("role/app")).verify_mac(VerifyMacRequest::new(k(), pt(msg), MacAlgorithm::HmacSha256, mac.clone()))?;
    // role/app may not ask with another algorithm: the policy decides before the key spec.
    assert_eq!(err(make("role/app", MacAlgorithm::HmacSha512)).kind(), ErrorKind::AccessDenied);
    // role/other is allowed HMAC_SHA_512 only, which this key does not have.
    let e = err(make("role/other", MacAlgorithm::HmacSha256));
    assert_eq!(e.kind(), ErrorKind::AccessDenied);
    assert!(e.message().contains("kms:GenerateMac"), "{e}");
    assert_eq!(err(make("role/other", MacAlgorithm::HmacSha512)).kind(), ErrorKind::InvalidKeyUsage);
    // The explicit deny wins over role/denied's kms:*, for GenerateMac only.
    assert_eq!(err(make("role/denied", MacAlgorithm::HmacSha256)).kind(), ErrorKind::AccessDenied);
    kms.as_caller(&arn("role/denied")).verify_mac(VerifyMacRequest::new(k(), pt(msg), MacAlgorithm::HmacSha256, mac))?;
    // Nobody else.
    assert_eq!(err(make("role/stranger", MacAlgorithm::HmacSha256)).kind(), ErrorKind::AccessDenied);
    Ok(())
});

token_test!(
/// A grant of GenerateMac lets its grantee make MACs, and nothing else; a grant of an
/// operation an HMAC key cannot do is refused.
fn grants_allow_generate_mac(t) {
    let kms = engine(t)?;
    let key = hmac_key(&kms, KeySpec::Hmac384)?;
    let worker = kms.as_caller(&arn("role/worker"));
    let msg = b"granted".as_slice();
    let k = || KeyRef::parse(&key.arn.to_string()).unwrap();
    let req = || GenerateMacRequest::new(k(), pt(msg), MacAlgorithm::HmacSha384);
    assert_eq!(err(worker.generate_mac(req())).kind(), ErrorKind::AccessDenied);
    let grantee = Principal::parse(&arn("role/worker"))?;
    let grant = kms.create_grant(CreateGrantRequest::new(key.key_id, grantee.clone(), vec![GrantOperation::GenerateMac]))?;
    let tokens = GrantTokens::new(vec![grant.grant_token.clone()])?;
    let mac = worker.generate_mac(req().with_grant_tokens(tokens.clone()))?.mac;
    assert_eq!(mac, kms.generate_mac(req())?.mac);
    // VerifyMac was not granted.
    let e = err(worker.verify_mac(VerifyMacRequest::new(k(), pt(msg), MacAlgorithm::HmacSha384, mac).with_grant_tokens(tokens)));
    assert_eq!(e.kind(), ErrorKind::AccessDenied);
    // Operations an HMAC key cannot perform are not grantable on it, and MAC operations are
    // not grantable on a symmetric key.
    for op in [GrantOperation::Encrypt, GrantOperation::Sign, GrantOperation::GenerateDataKey, GrantOperation::DeriveSharedSecret] {
        let e = err(kms.create_grant(CreateGrantRequest::new(key.key_id, grantee.clone(), vec![op])));
        assert_eq!(e.kind(), ErrorKind::Validation);
        assert_eq!(e.message(), format!("Grant operation {op} is not valid for a HMAC_384 key with key usage GENERATE_VERIFY_MAC."));
    }
    let sym = kms.create_key(CreateKeyRequest::new())?.key_metadata;
    let e = err(kms.create_grant(CreateGrantRequest::new(sym.key_id, grantee.clone(), vec![GrantOperation::GenerateMac])));
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert_eq!(e.message(), "Grant operation GenerateMac is not valid for a SYMMETRIC_DEFAULT key with key usage ENCRYPT_DECRYPT.");
    kms.create_grant(CreateGrantRequest::new(sym.key_id, grantee, vec![GrantOperation::Encrypt, GrantOperation::DescribeKey]))?;
    Ok(())
});

token_test!(
/// GenerateMac and VerifyMac calls, succeeded or failed, are in the audit log, with the key
/// and the algorithm and never the message or the MAC.
fn mac_calls_are_audited(t) {
    let kms = engine(t)?;
    let key = hmac_key(&kms, KeySpec::Hmac256)?;
    let secret_message = b"audit-secret-message-0123456789".as_slice();
    let mac = kms.generate_mac(GenerateMacRequest::new(key.key_id, pt(secret_message), MacAlgorithm::HmacSha256))?.mac;
    kms.verify_mac(VerifyMacRequest::new(key.key_id, pt(secret_message), MacAlgorithm::HmacSha256, mac.clone()))?;
    let mut bad = mac.clone();
    bad[0] ^= 1;
    err(kms.verify_mac(VerifyMacRequest::new(key.key_id, pt(secret_message), MacAlgorithm::HmacSha256, bad)));
    kms.audit().flush()?;
    let mut out = Vec::new();
    lockbox::audit::export(kms.store(), &lockbox::audit::ExportFilter::default(), "us-east-1", &mut out)?;
    let text = String::from_utf8(out)?;
    let events: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary: Vec<(&str, Option<&str>)> = events.iter()
        .map(|e| (e["eventName"].as_str().unwrap(), e["errorCode"].as_str()))
        .collect();
    assert_eq!(summary, [
        ("CreateKey", None),
        ("GenerateMac", None),
        ("VerifyMac", None),
        ("VerifyMac", Some("KMSInvalidMacException")),
    ]);
    for e in &events[1..] {
        assert_eq!(e["resources"][0]["ARN"], key.arn.to_string(), "{e}");
    }
    assert!(!text.contains("audit-secret-message"), "the message is not logged");
    assert!(!text.contains(&hex::encode(&mac)), "nor the MAC in hex");
    kms.audit().seal()?;
    assert!(lockbox::audit::verify(kms.store(), kms.token())?.is_clean());
    Ok(())
});
