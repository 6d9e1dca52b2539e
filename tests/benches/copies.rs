//! Session-object copies of CMK material (issue 18, part 2): what the token gains from them,
//! what a copy costs, and the engine with and without them, against the raw token object.
//!
//! ```text
//! cargo bench -p lockbox-tests --bench copies
//! ```
//!
//! One SoftHSM token, one process. Two symmetric keys are made through the engine: `plain`
//! with `session_copies = false` (as every key was before; the token-object path) and
//! `copied` with it on. Every figure is a ratio from paired rounds (see
//! `common/paired.rs`): the baseline and the candidate alternate in blocks, order swapped
//! every round, median of 15 rounds with its range; the rates are the rounds' medians.
//!
//! 1. The token alone (raw cryptoki, its own session): the token object against a session
//!    copy of it (C_CopyObject, CKA_TOKEN false) for AES-GCM (32 B and 4 KiB), HMAC-SHA256,
//!    ECDSA P-256 and RSA-2048 PKCS#1 v1.5 signing; what decides which key kinds are made
//!    copyable. And the cost of one copy (C_CopyObject and C_DestroyObject) against one
//!    AES-GCM encryption with the token object.
//! 2. The engine (Encrypt 32 B, Decrypt 32 B, GenerateDataKey AES_256; default caller,
//!    audit batched) on `copied` and on `plain`, each against the raw operation with the
//!    token object (IV or data key from the token's RNG, as the engine bench's `raw`); then
//!    `plain` again in an engine opened with the flag off.
//!    Targets (issue 18): at least 1.5 with copies, at least 0.9 on the token-object path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::path::PathBuf;

use lockbox::api::*;
use lockbox::token::softhsm;
use lockbox::{Config, Engine};
use lockbox_token::testing::cryptoki::mechanism::Mechanism;
use lockbox_token::testing::cryptoki::mechanism::aead::GcmParams;
use lockbox_token::testing::cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use lockbox_token::testing::cryptoki::session::Session;
use lockbox_token::testing::raw_session;

#[path = "common/paired.rs"]
mod paired;

use paired::{ROUNDS, paired};

const BLOCK: usize = 2000;

fn main() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lockbox-bench-copies");
    softhsm::ensure_conf_env(&Config::softhsm_conf_path(&dir)).unwrap();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let mut config = Config::provision_softhsm(&dir).unwrap();
    assert!(
        config.token.session_copies,
        "on by default for a SoftHSM token"
    );
    // The token-object key, made as before.
    config.token.session_copies = false;
    let plain = {
        let engine = Engine::open(config.clone()).unwrap();
        let kms = engine.client(engine.default_caller("bench"));
        kms.create_key(CreateKeyRequest::new())
            .unwrap()
            .key_metadata
            .key_id
    };
    config.token.session_copies = true;
    let engine = Engine::open(config.clone()).unwrap();
    let kms = engine.client(engine.default_caller("bench"));
    let copied = kms
        .create_key(CreateKeyRequest::new())
        .unwrap()
        .key_metadata
        .key_id;
    let raw_owned = raw_session(&config.token).unwrap();
    let raw = &raw_owned;
    let object_of = |key: KeyId| {
        let id = engine
            .token()
            .list_objects()
            .unwrap()
            .into_iter()
            .find(|o| o.label.ends_with(&format!("{key}/1")))
            .unwrap()
            .id;
        (
            id,
            raw.find_objects(&[
                Attribute::Token(true),
                Attribute::Id(id.as_bytes().to_vec()),
            ])
            .unwrap()[0],
        )
    };
    let (plain_id, plain_handle) = object_of(plain);
    let (copied_id, copied_handle) = object_of(copied);
    println!("date: {}", date());

    // 1. The token alone.
    println!(
        "\n1. raw token: session copy / token object, median of {ROUNDS} paired rounds [min-max]"
    );
    println!(
        "{:<28} {:>12} {:>12}   {:<20}",
        "operation", "object/s", "copy/s", "copy/object"
    );
    let session_copy = raw
        .copy_object(copied_handle, &[Attribute::Token(false)])
        .unwrap();
    let aad = [7u8; 40];
    for (name, pt) in [
        ("AES-GCM encrypt 32 B", &[1u8; 32][..]),
        ("AES-GCM encrypt 4 KiB", &[2u8; 4096][..]),
    ] {
        let p = paired(
            BLOCK,
            &mut || {
                black_box(raw_encrypt(raw, copied_handle, &aad, pt));
            },
            &mut || {
                black_box(raw_encrypt(raw, session_copy, &aad, pt));
            },
        );
        row(name, &p);
    }
    let (iv, ct) = raw_encrypt(raw, copied_handle, &aad, &[1u8; 32]);
    let p = paired(
        BLOCK,
        &mut || {
            black_box(raw_decrypt(raw, copied_handle, &aad, iv, &ct));
        },
        &mut || {
            black_box(raw_decrypt(raw, session_copy, &aad, iv, &ct));
        },
    );
    row("AES-GCM decrypt 32 B", &p);

    // HMAC-SHA256 and two signing key pairs, made copyable here (raw) to measure the gain.
    let copyable = [
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Modifiable(true),
        Attribute::Copyable(true),
    ];
    let mut hmac_template = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::ValueLen(32.into()),
        Attribute::Sign(true),
        Attribute::Label(b"bench/hmac".to_vec()),
    ];
    hmac_template.extend(copyable.iter().cloned());
    let hmac = raw
        .generate_key(&Mechanism::GenericSecretKeyGen, &hmac_template)
        .unwrap();
    let hmac_copy = raw.copy_object(hmac, &[Attribute::Token(false)]).unwrap();
    let msg = [3u8; 32];
    let p = paired(
        BLOCK,
        &mut || {
            black_box(raw.sign(&Mechanism::Sha256Hmac, hmac, &msg).unwrap());
        },
        &mut || {
            black_box(raw.sign(&Mechanism::Sha256Hmac, hmac_copy, &msg).unwrap());
        },
    );
    row("HMAC-SHA256 32 B", &p);

    let mut private = vec![
        Attribute::Sign(true),
        Attribute::Label(b"bench/ec".to_vec()),
    ];
    private.extend(copyable.iter().cloned());
    let (_, ec) = raw
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(false),
                Attribute::Verify(true),
                // P-256
                Attribute::EcParams(vec![
                    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
                ]),
            ],
            &private,
        )
        .unwrap();
    let ec_copy = raw.copy_object(ec, &[Attribute::Token(false)]).unwrap();
    let digest = [4u8; 32];
    let p = paired(
        BLOCK / 10,
        &mut || {
            black_box(raw.sign(&Mechanism::Ecdsa, ec, &digest).unwrap());
        },
        &mut || {
            black_box(raw.sign(&Mechanism::Ecdsa, ec_copy, &digest).unwrap());
        },
    );
    row("ECDSA P-256 sign", &p);

    let mut private = vec![
        Attribute::Sign(true),
        Attribute::Label(b"bench/rsa".to_vec()),
    ];
    private.extend(copyable.iter().cloned());
    let (_, rsa) = raw
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(false),
                Attribute::Verify(true),
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
            ],
            &private,
        )
        .unwrap();
    let rsa_copy = raw.copy_object(rsa, &[Attribute::Token(false)]).unwrap();
    let digest_info = [5u8; 51];
    let p = paired(
        BLOCK / 20,
        &mut || {
            black_box(raw.sign(&Mechanism::RsaPkcs, rsa, &digest_info).unwrap());
        },
        &mut || {
            black_box(
                raw.sign(&Mechanism::RsaPkcs, rsa_copy, &digest_info)
                    .unwrap(),
            );
        },
    );
    row("RSA-2048 PKCS#1 v1.5 sign", &p);

    // The cost of a copy, in AES-GCM encryptions with the token object.
    let p = paired(
        BLOCK / 4,
        &mut || {
            black_box(raw_encrypt(raw, copied_handle, &aad, &[1u8; 32]));
        },
        &mut || {
            let c = raw
                .copy_object(copied_handle, &[Attribute::Token(false)])
                .unwrap();
            raw.destroy_object(c).unwrap();
        },
    );
    println!(
        "{:<28} {:>12.0} {:>12.0}   one copy+destroy costs {:.2} [{:.2}-{:.2}] token-object encryptions",
        "C_CopyObject+C_DestroyObject",
        p.base_rate,
        p.candidate_rate,
        1.0 / p.ratios[ROUNDS / 2],
        1.0 / p.ratios[ROUNDS - 1],
        1.0 / p.ratios[0]
    );
    for h in [session_copy, hmac_copy, ec_copy, rsa_copy, hmac, ec, rsa] {
        raw.destroy_object(h).unwrap();
    }

    // 2. The engine, with and without copies, against the raw token-object operation.
    let ctx = EncryptionContext::from_pairs([("purpose", "bench")]).unwrap();
    println!(
        "\n2. engine / raw token object, median of {ROUNDS} paired rounds [min-max] (targets: copies >= 1.5, token object >= 0.9)"
    );
    println!(
        "{:<28} {:<10} {:>12} {:>12}   {:<20}",
        "operation", "key", "raw/s", "engine/s", "engine/raw"
    );
    for (label, key, id, handle) in [
        ("copies", copied, copied_id, copied_handle),
        ("object", plain, plain_id, plain_handle),
    ] {
        engine_rows(&kms, &engine, raw, &ctx, label, key, id, handle);
    }
    println!(
        "copies made by the engine: {}",
        engine.token().session_copies_made()
    );
    // The same with the flag off: an engine that makes and uses no copies at all.
    drop(kms);
    drop(engine);
    config.token.session_copies = false;
    let engine = Engine::open(config.clone()).unwrap();
    let kms = engine.client(engine.default_caller("bench"));
    engine_rows(
        &kms,
        &engine,
        raw,
        &ctx,
        "flag off",
        plain,
        plain_id,
        plain_handle,
    );
    assert_eq!(engine.token().session_copies_made(), 0);
    drop(kms);
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Engine Encrypt, Decrypt and GenerateDataKey on `key`, each against the raw operation with
/// the key's token object (`handle`), in paired rounds.
#[allow(clippy::too_many_arguments)]
fn engine_rows(
    kms: &impl Kms,
    engine: &Engine,
    raw: &Session,
    ctx: &EncryptionContext,
    label: &str,
    key: KeyId,
    id: lockbox_token::ObjectId,
    handle: ObjectHandle,
) {
    let mut aad = lockbox::blob::allocate(lockbox::blob::ALG_AES_256_GCM, key, 1, 1)
        [..lockbox::blob::HEADER_LEN]
        .to_vec();
    ctx.encode_into(&mut aad);
    let p32 = [0x5a_u8; 32];
    let blob = kms
        .encrypt(
            EncryptRequest::new(key, Plaintext::copy_from(&p32))
                .with_encryption_context(ctx.clone()),
        )
        .unwrap()
        .ciphertext_blob;
    let (raw_iv, raw_sealed) = raw_encrypt(raw, handle, &aad, &p32);
    let p = paired(
        BLOCK,
        &mut || {
            black_box(raw_encrypt(raw, handle, &aad, black_box(&p32)));
        },
        &mut || {
            black_box(
                kms.encrypt(
                    EncryptRequest::new(key, Plaintext::copy_from(black_box(&p32)))
                        .with_encryption_context(ctx.clone()),
                )
                .unwrap(),
            );
        },
    );
    engine_row("Encrypt 32 B", label, &p);
    let p = paired(
        BLOCK,
        &mut || {
            black_box(raw_decrypt(
                raw,
                handle,
                &aad,
                raw_iv,
                black_box(&raw_sealed),
            ));
        },
        &mut || {
            black_box(
                kms.decrypt(
                    DecryptRequest::new(black_box(&blob).clone())
                        .with_encryption_context(ctx.clone()),
                )
                .unwrap(),
            );
        },
    );
    engine_row("Decrypt 32 B", label, &p);
    let p = paired(
        BLOCK,
        &mut || {
            let mut dk = [0u8; 32];
            raw.generate_random_slice(&mut dk).unwrap();
            black_box(raw_encrypt(raw, handle, &aad, &dk));
        },
        &mut || {
            black_box(
                kms.generate_data_key(
                    GenerateDataKeyRequest::new(key, DataKeySpec::Aes256)
                        .with_encryption_context(ctx.clone()),
                )
                .unwrap(),
            );
        },
    );
    engine_row("GenerateDataKey AES_256", label, &p);
    println!(
        "{:<28} {:<10} session copy alive: {}",
        "",
        label,
        engine.token().has_session_copy(&id)
    );
}

fn row(name: &str, p: &paired::Paired) {
    println!(
        "{name:<28} {:>12.0} {:>12.0}   {:<20}",
        p.base_rate,
        p.candidate_rate,
        p.ratio()
    );
}

fn engine_row(name: &str, key: &str, p: &paired::Paired) {
    println!(
        "{name:<28} {key:<10} {:>12.0} {:>12.0}   {:<20}",
        p.base_rate,
        p.candidate_rate,
        p.ratio()
    );
}

fn date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn raw_encrypt(s: &Session, key: ObjectHandle, aad: &[u8], pt: &[u8]) -> ([u8; 12], Vec<u8>) {
    let mut iv = [0u8; 12];
    s.generate_random_slice(&mut iv).unwrap();
    let ct = s
        .encrypt(
            &Mechanism::AesGcm(GcmParams::new(&mut iv, aad, 128.into()).unwrap()),
            key,
            pt,
        )
        .unwrap();
    (iv, ct)
}

fn raw_decrypt(s: &Session, key: ObjectHandle, aad: &[u8], mut iv: [u8; 12], ct: &[u8]) -> Vec<u8> {
    s.decrypt(
        &Mechanism::AesGcm(GcmParams::new(&mut iv, aad, 128.into()).unwrap()),
        key,
        ct,
    )
    .unwrap()
}
