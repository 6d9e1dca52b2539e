//! DeriveSharedSecret end to end through the engine: the secret equals what Python's
//! `cryptography` computes on the other side, for every curve; keys of the wrong kind or
//! usage, and malformed peer keys, get AWS's errors; policies and grants decide who may.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::engine;
use lockbox::api::*;
use lockbox_token::testing::run_python;
use lockbox_token::token_test;

const A: &str = "111122223333";

fn arn(rest: &str) -> String {
    format!("arn:aws:iam::{A}:{rest}")
}

fn agreement_key(kms: &dyn Kms, spec: KeySpec) -> KeyMetadata {
    kms.create_key(
        CreateKeyRequest::new()
            .with_key_spec(spec)
            .with_key_usage(KeyUsage::KeyAgreement),
    )
    .unwrap()
    .key_metadata
}

fn curve_of(spec: KeySpec) -> &'static str {
    match spec {
        KeySpec::EccNistP256 => "SECP256R1",
        KeySpec::EccNistP384 => "SECP384R1",
        _ => "SECP521R1",
    }
}

/// Lockbox's public key for `key`: GetPublicKey's SubjectPublicKeyInfo, whose spec, usage
/// and algorithms are checked on the way.
fn lockbox_public_key(kms: &dyn Kms, key: KeyId) -> Vec<u8> {
    let r = kms.get_public_key(GetPublicKeyRequest::new(key)).unwrap();
    assert_eq!(r.key_usage, KeyUsage::KeyAgreement);
    assert_eq!(r.key_agreement_algorithms, [KeyAgreementAlgorithm::Ecdh]);
    assert!(r.signing_algorithms.is_empty() && r.encryption_algorithms.is_empty());
    r.public_key
}

/// Python makes a peer key pair on `curve_name`, and answers its SPKI (DER) and the ECDH
/// secret it computes with Lockbox's public key (its SPKI, as GetPublicKey gave it).
const PEER: &str = "import sys\n\
from cryptography.hazmat.primitives.asymmetric import ec\n\
from cryptography.hazmat.primitives import serialization as s\n\
curve = getattr(ec, sys.argv[1])()\n\
peer = ec.generate_private_key(curve)\n\
theirs = s.load_der_public_key(bytes.fromhex(sys.argv[2]))\n\
assert theirs.curve.name == curve.name\n\
spki = peer.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)\n\
print(spki.hex(), peer.exchange(ec.ECDH(), theirs).hex())";

fn python_peer(curve_name: &str, lockbox_public_key: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let out = run_python(
        PEER,
        &[curve_name.to_owned(), hex::encode(lockbox_public_key)],
    )
    .unwrap();
    let (spki, secret) = out.split_once(' ').unwrap();
    (hex::decode(spki).unwrap(), hex::decode(secret).unwrap())
}

fn derive(
    kms: &dyn Kms,
    key: impl Into<KeyRef>,
    peer: Vec<u8>,
) -> Result<DeriveSharedSecretResponse, KmsError> {
    kms.derive_shared_secret(DeriveSharedSecretRequest::new(key, peer))
}

token_test!(
/// For P-256, P-384 and P-521: Lockbox's secret is the one Python computes on the other
/// side, with the response's algorithm, origin and key ARN; the private key stays sensitive
/// and no derived object is left on the token.
fn the_shared_secret_equals_pythons_on_every_curve(t) {
    let kms = engine(t)?;
    for (spec, len) in [(KeySpec::EccNistP256, 32), (KeySpec::EccNistP384, 48), (KeySpec::EccNistP521, 66)] {
        let key = agreement_key(&kms, spec);
        assert_eq!(key.key_agreement_algorithms, [KeyAgreementAlgorithm::Ecdh]);
        let name = curve_of(spec);
        let objects = kms.key_objects()?.len();
        let (peer, expected) = python_peer(name, &lockbox_public_key(&kms, key.key_id));
        let r = derive(&kms, key.key_id, peer.clone())?;
        assert_eq!(r.shared_secret.expose_secret(), expected.as_slice(), "{spec}");
        assert_eq!(r.shared_secret.len(), len);
        assert_eq!(r.key_agreement_algorithm, KeyAgreementAlgorithm::Ecdh);
        assert_eq!(r.key_origin, Origin::AwsKms);
        assert_eq!(r.key_id, key.arn);
        // By ARN and again: the same secret (ECDH is deterministic).
        let again = derive(&kms, KeyRef::parse(&key.arn.to_string())?, peer)?;
        assert_eq!(again.shared_secret.expose_secret(), expected.as_slice());
        assert_eq!(kms.key_objects()?.len(), objects, "no derived object is left behind");
    }
    for o in kms.key_objects()? {
        let r = kms.token().inspect(&o.id)?;
        if r.usages.contains(&"CKA_DERIVE") {
            assert!(r.sensitive && !r.extractable && r.never_extractable && r.token, "{o:?}");
            assert_eq!(r.value, lockbox::token::ValueAccess::Sensitive);
        }
    }
    Ok(())
});

token_test!(
/// Keys that do not agree: an ECC SIGN_VERIFY key, an RSA key, an HMAC key and a symmetric
/// key are InvalidKeyUsageException, as AWS answers, before the peer key is even read.
fn keys_without_key_agreement_usage_are_refused(t) {
    let kms = engine(t)?;
    let (peer, _) = python_peer("SECP256R1", &{
        let k = agreement_key(&kms, KeySpec::EccNistP256);
        lockbox_public_key(&kms, k.key_id)
    });
    let keys = [
        (KeySpec::EccNistP256, Some(KeyUsage::SignVerify)),
        (KeySpec::Rsa2048, Some(KeyUsage::EncryptDecrypt)),
        (KeySpec::Hmac256, Some(KeyUsage::GenerateVerifyMac)),
        (KeySpec::SymmetricDefault, None),
    ];
    for (spec, usage) in keys {
        let mut req = CreateKeyRequest::new().with_key_spec(spec);
        if let Some(u) = usage {
            req = req.with_key_usage(u);
        }
        let key = kms.create_key(req)?.key_metadata;
        let e = derive(&kms, key.key_id, peer.clone()).map(drop).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidKeyUsage, "{spec}: {e}");
        assert_eq!(
            e.message(),
            format!("{} key usage is {} which is not valid for this operation.", key.arn, key.key_usage)
        );
        // A malformed peer key changes nothing: the key's usage is refused first.
        assert_eq!(derive(&kms, key.key_id, b"junk".to_vec()).map(drop).unwrap_err().kind(), ErrorKind::InvalidKeyUsage);
    }
    Ok(())
});

/// Python's SPKI of a fresh key: an RSA key, or an EC key on `curve`.
fn python_spki(kind: &str) -> Vec<u8> {
    let script = "import sys\n\
from cryptography.hazmat.primitives.asymmetric import ec, rsa\n\
from cryptography.hazmat.primitives import serialization as s\n\
k = rsa.generate_private_key(65537, 2048) if sys.argv[1] == 'RSA' else ec.generate_private_key(getattr(ec, sys.argv[1])())\n\
print(k.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo).hex())";
    hex::decode(run_python(script, &[kind.to_owned()]).unwrap()).unwrap()
}

token_test!(
/// Malformed peer keys are ValidationException naming what is wrong, never a panic or a
/// token error: not DER, trailing bytes, truncated, an RSA key, another curve, secp256k1,
/// a point off the curve; a compressed point on the right curve is accepted.
fn malformed_peer_keys_are_validation_errors(t) {
    let kms = engine(t)?;
    let key = agreement_key(&kms, KeySpec::EccNistP256);
    let (good, expected) = python_peer("SECP256R1", &lockbox_public_key(&kms, key.key_id));
    let mut trailing = good.clone();
    trailing.push(0);
    let mut off_curve = good.clone();
    *off_curve.last_mut().unwrap() ^= 1;
    let not_der = "PublicKey is not a DER-encoded X.509 SubjectPublicKeyInfo";
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        ("empty", vec![], not_der.into()),
        ("not DER", b"-----BEGIN PUBLIC KEY-----".to_vec(), not_der.into()),
        ("base64 of the DER", hex::encode(&good).into_bytes(), not_der.into()),
        ("trailing bytes", trailing, not_der.into()),
        ("truncated", good[..good.len() - 1].to_vec(), not_der.into()),
        ("RSA", python_spki("RSA"), "PublicKey is an RSA public key; DeriveSharedSecret needs an elliptic curve (id-ecPublicKey) public key on the curve of the KMS key (ECC_NIST_P256).".into()),
        ("P-384", python_spki("SECP384R1"), "PublicKey is on NIST P-384 (secp384r1); the KMS key is ECC_NIST_P256 and agrees only with public keys on its own curve.".into()),
        ("secp256k1", python_spki("SECP256K1"), "PublicKey is on secp256k1; the KMS key is ECC_NIST_P256 and agrees only with public keys on its own curve.".into()),
        ("off the curve", off_curve, "PublicKey's point is not a valid point on the curve of ECC_NIST_P256.".into()),
    ];
    let objects = kms.key_objects()?.len();
    for (name, peer, message) in cases {
        let e = derive(&kms, key.key_id, peer).map(drop).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Validation, "{name}: {e}");
        assert!(e.message().starts_with(&message), "{name}: {}", e.message());
    }
    assert_eq!(kms.key_objects()?.len(), objects);
    // The same peer key, its point compressed (RFC 5480 allows it): the same secret.
    let script = "import sys\n\
from cryptography.hazmat.primitives import serialization as s\n\
k = s.load_der_public_key(bytes.fromhex(sys.argv[1]))\n\
print(k.public_bytes(s.Encoding.X962, s.PublicFormat.CompressedPoint).hex())";
    let compressed = hex::decode(run_python(script, &[hex::encode(&good)])?)?;
    assert_eq!(compressed.len(), 33);
    let mut spki = vec![0x30, 0x39];
    spki.extend(&good[2..23]);
    spki.extend([0x03, 0x22, 0x00]);
    spki.extend(&compressed);
    let r = derive(&kms, key.key_id, spki)?;
    assert_eq!(r.shared_secret.expose_secret(), expected.as_slice());
    Ok(())
});

token_test!(
/// kms:DeriveSharedSecret in key policies with the kms:KeyAgreementAlgorithm condition, and
/// in grants.
fn policies_conditions_and_grants_decide_who_may_derive(t) {
    let kms = engine(t)?;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": arn("role/owner")},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "EcdhOnly", "Effect": "Allow", "Principal": {"AWS": arn("role/ecdh")},
             "Action": "kms:DeriveSharedSecret", "Resource": "*",
             "Condition": {"StringEquals": {"kms:KeyAgreementAlgorithm": "ECDH"}}},
            {"Sid": "OtherAlgorithm", "Effect": "Allow", "Principal": {"AWS": arn("role/sm2")},
             "Action": "kms:DeriveSharedSecret", "Resource": "*",
             "Condition": {"StringEquals": {"kms:KeyAgreementAlgorithm": "SM2DH"}}},
            {"Sid": "SpecAndUsage", "Effect": "Allow", "Principal": {"AWS": arn("role/spec")},
             "Action": "kms:DeriveSharedSecret", "Resource": "*",
             "Condition": {"StringEquals": {"kms:KeySpec": "ECC_NIST_P384",
                                            "kms:KeyUsage": "KEY_AGREEMENT"}}}
        ]
    }).to_string();
    let owner = kms.as_caller(&arn("role/owner"));
    let key = owner
        .create_key(CreateKeyRequest::new().with_key_spec(KeySpec::EccNistP256)
            .with_key_usage(KeyUsage::KeyAgreement).with_policy(policy))?
        .key_metadata;
    let (peer, expected) = python_peer("SECP256R1", &lockbox_public_key(&owner, key.key_id));
    let try_as = |who: &str| derive(&kms.as_caller(&arn(who)), key.key_id, peer.clone());
    assert_eq!(try_as("role/owner")?.shared_secret.expose_secret(), expected.as_slice());
    assert_eq!(try_as("role/ecdh")?.shared_secret.expose_secret(), expected.as_slice());
    for who in ["role/sm2", "role/spec", "role/nobody"] {
        let e = try_as(who).map(drop).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AccessDenied, "{who}");
        assert!(e.message().starts_with(&format!("User: {} is not authorized to perform: kms:DeriveSharedSecret", arn(who))), "{e}");
    }
    // A grant of DeriveSharedSecret lets the grantee derive; a grant of another operation
    // does not; retired, it no longer does.
    let grantee = Principal::parse(&arn("role/nobody"))?;
    let other = owner.create_grant(CreateGrantRequest::new(key.key_id, grantee.clone(), vec![GrantOperation::DescribeKey]))?;
    assert_eq!(try_as("role/nobody").map(drop).unwrap_err().kind(), ErrorKind::AccessDenied);
    let g = owner.create_grant(CreateGrantRequest::new(key.key_id, grantee, vec![GrantOperation::DeriveSharedSecret]))?;
    assert_eq!(try_as("role/nobody")?.shared_secret.expose_secret(), expected.as_slice());
    owner.revoke_grant(RevokeGrantRequest::new(key.key_id, g.grant_id))?;
    owner.revoke_grant(RevokeGrantRequest::new(key.key_id, other.grant_id))?;
    assert_eq!(try_as("role/nobody").map(drop).unwrap_err().kind(), ErrorKind::AccessDenied);
    // A grant of DeriveSharedSecret on a symmetric key is refused, as AWS refuses it.
    let sym = owner.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    let e = owner.create_grant(CreateGrantRequest::new(sym, Principal::parse(&arn("role/x"))?, vec![GrantOperation::DeriveSharedSecret])).map(drop).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    Ok(())
});
