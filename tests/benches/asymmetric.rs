//! Sign, Verify, GenerateMac and DeriveSharedSecret through the engine, beside the same token
//! work done by a program calling PKCS#11 directly, on one SoftHSM token, in one process.
//!
//! ```text
//! cargo bench -p lockbox-tests --bench asymmetric
//! ```
//!
//! For each case, `raw` is what such a program must do for the same answer: hash the 32-byte
//! message (SHA-256) and C_SignInit + C_Sign with the private key (RSA PKCS #1 PSS with
//! SHA-256, MGF1-SHA-256 and a 32-byte salt; or CKM_ECDSA); C_VerifyInit + C_Verify with the
//! public key; C_SignInit + C_Sign with CKM_SHA256_HMAC; C_DeriveKey with CKM_ECDH1_DERIVE
//! into a session object, C_GetAttributeValue of its value and C_DestroyObject. `engine` is
//! the `Kms` operation as the default caller (key lookup, policy decision, state checks, the
//! kind's work, one audit record, batched).
//!
//! The ratio (raw time / engine time: 1.0 is as fast as raw) is the median of 15 paired
//! rounds, raw and engine alternating in blocks (order swapped every round), with its range;
//! ops/s are the medians of the same rounds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::path::PathBuf;

use lockbox::api::*;
use lockbox::token::softhsm;
use lockbox::{Config, Engine};
use lockbox_token::testing::cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use lockbox_token::testing::cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use lockbox_token::testing::cryptoki::mechanism::{Mechanism, MechanismType};
use lockbox_token::testing::cryptoki::object::{
    Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle,
};
use lockbox_token::testing::cryptoki::session::Session;
use lockbox_token::testing::raw_session;
use sha2::Digest;

#[path = "common/paired.rs"]
mod paired;

use paired::{ROUNDS, paired};

fn main() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lockbox-bench-asymmetric");
    softhsm::ensure_conf_env(&Config::softhsm_conf_path(&dir)).unwrap();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let config = Config::provision_softhsm(&dir).unwrap();
    let engine = Engine::open(config.clone()).unwrap();
    let kms = engine.client(engine.default_caller("bench"));
    let create = |spec: KeySpec, usage: KeyUsage| {
        kms.create_key(
            CreateKeyRequest::new()
                .with_key_spec(spec)
                .with_key_usage(usage),
        )
        .unwrap()
        .key_metadata
        .key_id
    };
    let rsa = create(KeySpec::Rsa2048, KeyUsage::SignVerify);
    let ecc = create(KeySpec::EccNistP256, KeyUsage::SignVerify);
    let hmac = create(KeySpec::Hmac256, KeyUsage::GenerateVerifyMac);
    let agree = create(KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    let peer = create(KeySpec::EccNistP256, KeyUsage::KeyAgreement);

    let raw_owned = raw_session(&config.token).unwrap();
    let raw = &raw_owned;
    let object = |key: KeyId, class: ObjectClass| -> ObjectHandle {
        let label = engine
            .token()
            .list_objects()
            .unwrap()
            .into_iter()
            .find(|o| o.label.ends_with(&format!("{key}/1")))
            .unwrap()
            .label;
        raw.find_objects(&[
            Attribute::Label(label.into_bytes()),
            Attribute::Class(class),
        ])
        .unwrap()[0]
    };
    let rsa_private = object(rsa, ObjectClass::PRIVATE_KEY);
    let rsa_public = object(rsa, ObjectClass::PUBLIC_KEY);
    let ecc_private = object(ecc, ObjectClass::PRIVATE_KEY);
    let ecc_public = object(ecc, ObjectClass::PUBLIC_KEY);
    let hmac_key = object(hmac, ObjectClass::SECRET_KEY);
    let agree_private = object(agree, ObjectClass::PRIVATE_KEY);
    let peer_spki = kms
        .get_public_key(GetPublicKeyRequest::new(peer))
        .unwrap()
        .public_key;
    // The uncompressed point ends a P-256 SubjectPublicKeyInfo.
    let peer_point = peer_spki[peer_spki.len() - 65..].to_vec();

    let message = [0x5a_u8; 32];
    let msg = || Plaintext::copy_from(&message);
    let pss = Mechanism::RsaPkcsPss(PkcsPssParams {
        hash_alg: MechanismType::SHA256,
        mgf: PkcsMgfType::MGF1_SHA256,
        s_len: 32.into(),
    });
    let rsa_signature = kms
        .sign(SignRequest::new(
            rsa,
            msg(),
            SigningAlgorithm::RsassaPssSha256,
        ))
        .unwrap()
        .signature;
    let ecc_signature_der = kms
        .sign(SignRequest::new(ecc, msg(), SigningAlgorithm::EcdsaSha256))
        .unwrap()
        .signature;
    let digest = sha2::Sha256::digest(message);
    let ecc_signature_raw = raw.sign(&Mechanism::Ecdsa, ecc_private, &digest).unwrap();

    type Op<'a> = Box<dyn FnMut() + 'a>;
    let kms = &kms;
    let cases: Vec<(&str, usize, Op<'_>, Op<'_>)> = vec![
        (
            "sign/RSA_2048 PSS SHA-256",
            100,
            Box::new(|| {
                let d = sha2::Sha256::digest(black_box(message));
                black_box(raw.sign(&pss, rsa_private, &d).unwrap());
            }),
            Box::new(|| {
                black_box(
                    kms.sign(SignRequest::new(
                        rsa,
                        msg(),
                        SigningAlgorithm::RsassaPssSha256,
                    ))
                    .unwrap(),
                );
            }),
        ),
        (
            "sign/ECC_NIST_P256",
            500,
            Box::new(|| {
                let d = sha2::Sha256::digest(black_box(message));
                black_box(raw.sign(&Mechanism::Ecdsa, ecc_private, &d).unwrap());
            }),
            Box::new(|| {
                black_box(
                    kms.sign(SignRequest::new(ecc, msg(), SigningAlgorithm::EcdsaSha256))
                        .unwrap(),
                );
            }),
        ),
        (
            "verify/RSA_2048 PSS SHA-256",
            1000,
            Box::new(|| {
                let d = sha2::Sha256::digest(black_box(message));
                raw.verify(&pss, rsa_public, &d, &rsa_signature).unwrap();
            }),
            Box::new(|| {
                black_box(
                    kms.verify(VerifyRequest::new(
                        rsa,
                        msg(),
                        rsa_signature.clone(),
                        SigningAlgorithm::RsassaPssSha256,
                    ))
                    .unwrap(),
                );
            }),
        ),
        (
            "verify/ECC_NIST_P256",
            500,
            Box::new(|| {
                let d = sha2::Sha256::digest(black_box(message));
                raw.verify(&Mechanism::Ecdsa, ecc_public, &d, &ecc_signature_raw)
                    .unwrap();
            }),
            Box::new(|| {
                black_box(
                    kms.verify(VerifyRequest::new(
                        ecc,
                        msg(),
                        ecc_signature_der.clone(),
                        SigningAlgorithm::EcdsaSha256,
                    ))
                    .unwrap(),
                );
            }),
        ),
        (
            "generate_mac/HMAC_256 32B",
            2000,
            Box::new(|| {
                black_box(
                    raw.sign(&Mechanism::Sha256Hmac, hmac_key, black_box(&message))
                        .unwrap(),
                );
            }),
            Box::new(|| {
                black_box(
                    kms.generate_mac(GenerateMacRequest::new(
                        hmac,
                        msg(),
                        MacAlgorithm::HmacSha256,
                    ))
                    .unwrap(),
                );
            }),
        ),
        (
            "derive_shared_secret/P256",
            500,
            Box::new(|| {
                black_box(raw_ecdh(raw, agree_private, &peer_point));
            }),
            Box::new(|| {
                black_box(
                    kms.derive_shared_secret(DeriveSharedSecretRequest::new(
                        agree,
                        peer_spki.clone(),
                    ))
                    .unwrap(),
                );
            }),
        ),
    ];

    println!("engine/raw throughput, median of {ROUNDS} paired rounds [min-max]");
    println!(
        "{:<30} {:>10} {:>10}   {:<20}",
        "operation", "raw ops/s", "engine", "engine/raw"
    );
    for (name, block, mut raw_op, mut engine_op) in cases {
        if std::env::args().any(|a| a == "--test" || a == "--list") {
            raw_op();
            engine_op();
            continue;
        }
        let p = paired(block, &mut raw_op, &mut engine_op);
        println!(
            "{name:<30} {:>10.0} {:>10.0}   {:<20}",
            p.base_rate,
            p.candidate_rate,
            p.ratio()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// ECDH in the token, as a program calling PKCS#11 directly does it: derive a session
/// generic secret, read its value, destroy it.
fn raw_ecdh(s: &Session, private: ObjectHandle, peer_point: &[u8]) -> Vec<u8> {
    let params = Ecdh1DeriveParams::new(EcKdf::null(), peer_point);
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::ValueLen(32.into()),
    ];
    let derived = s
        .derive_key(&Mechanism::Ecdh1Derive(params), private, &template)
        .unwrap();
    let value = s.get_attributes(derived, &[AttributeType::Value]).unwrap();
    s.destroy_object(derived).unwrap();
    match value.into_iter().next() {
        Some(Attribute::Value(v)) => v,
        other => panic!("no value: {other:?}"),
    }
}
