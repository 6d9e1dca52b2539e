//! GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext end to end through the engine:
//! for every pair spec, Python's `cryptography` loads the PKCS#8 private key and the SPKI
//! public key and finds them one pair; plain Decrypt opens the private key's blob under the
//! same encryption context; CMKs of the wrong kind and unsupported pair specs get AWS's
//! errors; policies (kms:DataKeyPairSpec) and grants decide who may.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::engine;
use der::Decode;
use lockbox::api::*;
use lockbox_token::testing::run_python;
use lockbox_token::token_test;

const A: &str = "111122223333";

fn arn(rest: &str) -> String {
    format!("arn:aws:iam::{A}:{rest}")
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
}

const SPECS: [DataKeyPairSpec; 7] = [
    DataKeyPairSpec::Rsa2048,
    DataKeyPairSpec::Rsa3072,
    DataKeyPairSpec::Rsa4096,
    DataKeyPairSpec::EccNistP256,
    DataKeyPairSpec::EccNistP384,
    DataKeyPairSpec::EccNistP521,
    DataKeyPairSpec::EccSecgP256k1,
];

/// What Python's `cryptography` says of a PKCS#8 private key and an SPKI public key: the
/// key's type and size or curve, and whether the private key's public half is the public
/// key (compared as SPKI DER); and whether OpenSSL encodes it as we did: an RSA key's
/// whole PKCS#8, an EC key's ECPrivateKey (argv[3]: OpenSSL's "traditional" SEC1 form, with
/// the curve and the public key, as RFC 5915 asks; inside PKCS#8 OpenSSL itself drops the
/// curve, which the AlgorithmIdentifier repeats).
const CHECK: &str = "import sys\n\
from cryptography.hazmat.primitives import serialization as s\n\
from cryptography.hazmat.primitives.asymmetric import ec, rsa\n\
priv = s.load_der_private_key(bytes.fromhex(sys.argv[1]), None)\n\
pub = s.load_der_public_key(bytes.fromhex(sys.argv[2]))\n\
same = priv.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo) == bytes.fromhex(sys.argv[2])\n\
rsa_key = isinstance(priv, rsa.RSAPrivateKey)\n\
fmt, mine = (s.PrivateFormat.PKCS8, sys.argv[1]) if rsa_key else (s.PrivateFormat.TraditionalOpenSSL, sys.argv[3])\n\
again = priv.private_bytes(s.Encoding.DER, fmt, s.NoEncryption()) == bytes.fromhex(mine)\n\
what = 'RSA_%d e=%d' % (priv.key_size, priv.private_numbers().public_numbers.e) if rsa_key else priv.curve.name\n\
print(what, same, type(pub).__name__ == type(priv.public_key()).__name__, again)";

fn expected(spec: DataKeyPairSpec) -> &'static str {
    match spec {
        DataKeyPairSpec::Rsa2048 => "RSA_2048 e=65537 True True",
        DataKeyPairSpec::Rsa3072 => "RSA_3072 e=65537 True True",
        DataKeyPairSpec::Rsa4096 => "RSA_4096 e=65537 True True",
        DataKeyPairSpec::EccNistP256 => "secp256r1 True True",
        DataKeyPairSpec::EccNistP384 => "secp384r1 True True",
        DataKeyPairSpec::EccNistP521 => "secp521r1 True True",
        _ => "secp256k1 True True",
    }
}

token_test!(
/// Every pair spec: the PKCS#8 and the SPKI load in Python's `cryptography` as one pair of
/// the spec's type and size; Decrypt of the blob with the same context returns the PKCS#8,
/// with another context fails; the WithoutPlaintext form returns no private key, on the
/// wire too; nothing is left on the token.
fn every_pair_spec_loads_in_python_and_its_blob_decrypts(t) {
    let kms = engine(t)?;
    let key = kms.create_key(CreateKeyRequest::new())?.key_metadata;
    let objects = kms.key_objects()?.len();
    let context = ctx(&[("purpose", "signing"), ("tenant", "acme")]);
    for spec in SPECS {
        let r = kms.generate_data_key_pair(
            GenerateDataKeyPairRequest::new(key.key_id, spec).with_encryption_context(context.clone()),
        )?;
        assert_eq!((r.key_id.clone(), r.key_pair_spec), (key.arn.clone(), spec));
        let pkcs8 = r.private_key_plaintext.expose_secret().to_vec();
        // The PKCS#8 is v1, and an EC key's ECPrivateKey names its curve and holds its point.
        let info = pkcs8::PrivateKeyInfo::from_der(&pkcs8)?;
        assert_eq!(info.public_key, None);
        let args = [hex::encode(&pkcs8), hex::encode(&r.public_key), hex::encode(info.private_key)];
        assert_eq!(run_python(CHECK, &args)?, format!("{} True", expected(spec)), "{spec}");
        if spec.as_str().starts_with("ECC") {
            let ec = sec1::EcPrivateKey::from_der(info.private_key)?;
            assert!(ec.parameters.is_some(), "{spec}");
            let spki = spki::SubjectPublicKeyInfoRef::from_der(&r.public_key)?;
            assert_eq!(ec.public_key, spki.subject_public_key.as_bytes(), "{spec}");
        }
        // Plain Decrypt opens the blob into the same PKCS#8, with the same context only.
        let d = kms.decrypt(DecryptRequest::new(r.private_key_ciphertext_blob.clone()).with_encryption_context(context.clone()))?;
        assert_eq!(d.plaintext.expose_secret(), pkcs8.as_slice());
        assert_eq!(d.key_id, key.arn);
        let e = kms.decrypt(DecryptRequest::new(r.private_key_ciphertext_blob.clone()).with_encryption_context(ctx(&[("purpose", "other")]))).map(drop).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidCiphertext);
        let e = kms.decrypt(DecryptRequest::new(r.private_key_ciphertext_blob)).map(drop).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidCiphertext);

        // WithoutPlaintext: the public key and the blob, which decrypts to a key of the
        // same spec that is the public key's pair.
        let w = kms.generate_data_key_pair_without_plaintext(
            GenerateDataKeyPairRequest::new(key.key_id, spec).with_encryption_context(context.clone()),
        )?;
        let d = kms.decrypt(DecryptRequest::new(w.private_key_ciphertext_blob.clone()).with_encryption_context(context.clone()))?;
        let info = pkcs8::PrivateKeyInfo::from_der(d.plaintext.expose_secret())?;
        let args = [hex::encode(d.plaintext.expose_secret()), hex::encode(&w.public_key), hex::encode(info.private_key)];
        let got = run_python(CHECK, &args)?;
        assert_eq!(got, format!("{} True", expected(spec)), "{spec} without plaintext");
        assert_ne!(w.public_key, r.public_key, "a fresh pair each call");
        let body = Response::GenerateDataKeyPairWithoutPlaintext(w).encode();
        let json: serde_json::Value = serde_json::from_slice(&body)?;
        let mut fields: Vec<&str> = json.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["KeyId", "KeyPairSpec", "PrivateKeyCiphertextBlob", "PublicKey"]);
        assert_eq!(json["KeyPairSpec"], spec.as_str());
    }
    // The wire shape of GenerateDataKeyPair carries the private key.
    let r = kms.generate_data_key_pair(GenerateDataKeyPairRequest::new(key.key_id, DataKeyPairSpec::EccNistP256))?;
    let json: serde_json::Value = serde_json::from_slice(&Response::GenerateDataKeyPair(r).encode())?;
    let mut fields: Vec<&str> = json.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["KeyId", "KeyPairSpec", "PrivateKeyCiphertextBlob", "PrivateKeyPlaintext", "PublicKey"]);
    // The pairs were session objects: nothing was added to the token.
    assert_eq!(kms.key_objects()?.len(), objects);
    Ok(())
});

token_test!(
/// Only symmetric encryption keys seal data key pairs: RSA (either usage), ECC and HMAC
/// keys are InvalidKeyUsageException; SM2 and ECC_NIST_EDWARDS25519 pairs are
/// UnsupportedOperationException.
fn wrong_keys_and_unsupported_pair_specs_are_refused(t) {
    let kms = engine(t)?;
    for (spec, usage) in [
        (KeySpec::Rsa2048, KeyUsage::EncryptDecrypt),
        (KeySpec::Rsa2048, KeyUsage::SignVerify),
        (KeySpec::EccNistP256, KeyUsage::SignVerify),
        (KeySpec::EccNistP256, KeyUsage::KeyAgreement),
        (KeySpec::Hmac256, KeyUsage::GenerateVerifyMac),
    ] {
        let key = kms.create_key(CreateKeyRequest::new().with_key_spec(spec).with_key_usage(usage))?.key_metadata;
        for without in [false, true] {
            let req = GenerateDataKeyPairRequest::new(key.key_id, DataKeyPairSpec::EccNistP256);
            let e = if without {
                kms.generate_data_key_pair_without_plaintext(req).map(drop).unwrap_err()
            } else {
                kms.generate_data_key_pair(req).map(drop).unwrap_err()
            };
            assert_eq!(e.kind(), ErrorKind::InvalidKeyUsage, "{spec} {usage}: {e}");
            if usage == KeyUsage::EncryptDecrypt {
                assert_eq!(e.message(), format!("{} is an asymmetric key; data key pairs are encrypted under symmetric encryption keys only.", key.arn));
            } else {
                assert_eq!(e.message(), format!("{} key usage is {usage} which is not valid for this operation.", key.arn));
            }
        }
    }
    let key = kms.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    for spec in [DataKeyPairSpec::Sm2, DataKeyPairSpec::EccNistEdwards25519] {
        let e = kms.generate_data_key_pair(GenerateDataKeyPairRequest::new(key, spec)).map(drop).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnsupportedOperation);
        assert_eq!(e.message(), format!("KeyPairSpec {spec} is not supported; RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521 and ECC_SECG_P256K1 are."));
        let e = kms.generate_data_key_pair_without_plaintext(GenerateDataKeyPairRequest::new(key, spec)).map(drop).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnsupportedOperation);
    }
    Ok(())
});

token_test!(
/// kms:GenerateDataKeyPair* in key policies with the kms:DataKeyPairSpec condition, and
/// in grants (each form its own operation).
fn policies_conditions_and_grants_decide_who_may_generate_pairs(t) {
    let kms = engine(t)?;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": arn("role/owner")},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "EccOnly", "Effect": "Allow", "Principal": {"AWS": arn("role/ecc")},
             "Action": "kms:GenerateDataKeyPair*", "Resource": "*",
             "Condition": {"StringLike": {"kms:DataKeyPairSpec": "ECC_NIST_*"}}},
            {"Sid": "NoPlaintext", "Effect": "Allow", "Principal": {"AWS": arn("role/blind")},
             "Action": "kms:GenerateDataKeyPairWithoutPlaintext", "Resource": "*"}
        ]
    }).to_string();
    let owner = kms.as_caller(&arn("role/owner"));
    let key = owner.create_key(CreateKeyRequest::new().with_policy(policy))?.key_metadata.key_id;
    let with = |who: &str, spec| kms.as_caller(&arn(who)).generate_data_key_pair(GenerateDataKeyPairRequest::new(key, spec)).map(drop);
    let without = |who: &str, spec| kms.as_caller(&arn(who)).generate_data_key_pair_without_plaintext(GenerateDataKeyPairRequest::new(key, spec)).map(drop);
    let denied = |r: Result<(), KmsError>, who: &str, action: &str| {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AccessDenied, "{who} {action}");
        assert!(e.message().starts_with(&format!("User: {} is not authorized to perform: kms:{action}", arn(who))), "{e}");
    };
    with("role/owner", DataKeyPairSpec::Rsa2048)?;
    with("role/ecc", DataKeyPairSpec::EccNistP384)?;
    without("role/ecc", DataKeyPairSpec::EccNistP256)?;
    denied(with("role/ecc", DataKeyPairSpec::Rsa2048), "role/ecc", "GenerateDataKeyPair");
    denied(with("role/ecc", DataKeyPairSpec::EccSecgP256k1), "role/ecc", "GenerateDataKeyPair");
    without("role/blind", DataKeyPairSpec::Rsa2048)?;
    denied(with("role/blind", DataKeyPairSpec::Rsa2048), "role/blind", "GenerateDataKeyPair");
    denied(with("role/nobody", DataKeyPairSpec::EccNistP256), "role/nobody", "GenerateDataKeyPair");
    // Grants: each form is its own grant operation.
    let grantee = Principal::parse(&arn("role/nobody"))?;
    let g = owner.create_grant(CreateGrantRequest::new(key, grantee.clone(), vec![GrantOperation::GenerateDataKeyPairWithoutPlaintext]))?;
    without("role/nobody", DataKeyPairSpec::EccNistP256)?;
    denied(with("role/nobody", DataKeyPairSpec::EccNistP256), "role/nobody", "GenerateDataKeyPair");
    let g2 = owner.create_grant(CreateGrantRequest::new(key, grantee, vec![GrantOperation::GenerateDataKeyPair]))?;
    with("role/nobody", DataKeyPairSpec::EccNistP256)?;
    owner.revoke_grant(RevokeGrantRequest::new(key, g.grant_id))?;
    owner.revoke_grant(RevokeGrantRequest::new(key, g2.grant_id))?;
    denied(without("role/nobody", DataKeyPairSpec::EccNistP256), "role/nobody", "GenerateDataKeyPairWithoutPlaintext");
    // A grant of GenerateDataKeyPair on an asymmetric key is refused, as AWS refuses it.
    let ecc = owner.create_key(CreateKeyRequest::new().with_key_spec(KeySpec::EccNistP256).with_key_usage(KeyUsage::SignVerify))?.key_metadata.key_id;
    let e = owner.create_grant(CreateGrantRequest::new(ecc, Principal::parse(&arn("role/x"))?, vec![GrantOperation::GenerateDataKeyPair])).map(drop).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    Ok(())
});

token_test!(
/// A pair spec the token cannot generate (here secp256k1, hidden from the capability probe
/// as a token without the curve would lack it) is UnsupportedOperationException naming the
/// curve, before anything is asked of the token; the other specs still work.
fn a_pair_spec_the_token_lacks_is_refused_naming_what_is_missing(t) {
    // SAFETY: this test runs alone in its own process (token_test!), before the engine, the
    // token or any other thread of ours reads the environment.
    unsafe { std::env::set_var(lockbox_token::HIDE_CAPABILITIES_ENV, "secp256k1") };
    let kms = engine(t)?;
    let key = kms.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    let e = kms.generate_data_key_pair(GenerateDataKeyPairRequest::new(key, DataKeyPairSpec::EccSecgP256k1)).map(drop).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnsupportedOperation);
    assert_eq!(e.message(), "KeyPairSpec ECC_SECG_P256K1 needs the curve secp256k1 (CKM_EC_KEY_PAIR_GEN), which this token does not support.");
    kms.generate_data_key_pair(GenerateDataKeyPairRequest::new(key, DataKeyPairSpec::EccNistP256))?;
    Ok(())
});
