//! The engine beside the raw token, on one SoftHSM token, in one process.
//!
//! ```text
//! cargo bench -p lockbox-tests --bench engine
//! ```
//!
//! For each operation the same work is measured three ways:
//! - `raw`: what a program calling PKCS#11 directly through cryptoki must do: draw an IV
//!   from the token's RNG, C_EncryptInit with AES-GCM (same key, same AAD bytes), C_Encrypt;
//!   or C_DecryptInit and C_Decrypt; for a data key, C_GenerateRandom for the key first.
//! - `token`: the same through lockbox-token (session pool, handle cache, one C_Encrypt into
//!   a caller-sized buffer).
//! - `engine`: the `Kms` operation as the default caller (key lookup in sled, policy
//!   decision, state checks, blob format, context encoding, one audit record). The audit
//!   trail is batched (the default); `LOCKBOX_BENCH_AUDIT=every-record` flushes every record.
//!
//! Criterion gives each way's absolute figures. The ratios (raw time / engine time, so 1.0 is
//! "as fast as raw") come from paired rounds run afterwards: raw and the other way alternate
//! in blocks of 2000 calls, order swapped every round, and the median of 15 rounds is
//! reported with its range. SoftHSM's speed drifts by 10-20% over minutes on this machine;
//! pairing keeps that drift out of the ratio.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput};
use lockbox::api::*;
use lockbox::token::softhsm;
use lockbox::{Config, Engine};
use lockbox_token::testing::cryptoki::mechanism::Mechanism;
use lockbox_token::testing::cryptoki::mechanism::aead::GcmParams;
use lockbox_token::testing::cryptoki::object::{Attribute, ObjectHandle};
use lockbox_token::testing::cryptoki::session::Session;
use lockbox_token::testing::raw_session;

#[path = "common/paired.rs"]
mod paired;

use paired::{ROUNDS, paired};

const CASES: [(&str, &str); 4] = [
    ("encrypt", "32B"),
    ("encrypt", "4KiB"),
    ("decrypt", "32B"),
    ("generate_data_key", "AES_256"),
];

fn main() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lockbox-bench");
    // SoftHSM reads SOFTHSM2_CONF when it starts: re-run this binary with it set, first.
    softhsm::ensure_conf_env(&Config::softhsm_conf_path(&dir)).unwrap();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let mut config = Config::provision_softhsm(&dir).unwrap();
    // The audit trail's durability: batched (the default) unless this says every-record.
    if std::env::var("LOCKBOX_BENCH_AUDIT").as_deref() == Ok("every-record") {
        config.audit.durability = lockbox::audit::Durability::EveryRecord;
    }
    println!("audit durability: {:?}", config.audit.durability);
    let engine = Engine::open(config.clone()).unwrap();
    let kms = engine.client(engine.default_caller("bench"));
    let key = kms
        .create_key(CreateKeyRequest::new())
        .unwrap()
        .key_metadata
        .key_id;
    let object = engine
        .token()
        .list_objects()
        .unwrap()
        .into_iter()
        .find(|o| o.label.ends_with(&format!("{key}/1")))
        .unwrap()
        .id;
    let raw_owned = raw_session(&config.token).unwrap();
    let raw = &raw_owned;
    let handle = raw
        .find_objects(&[Attribute::Id(object.as_bytes().to_vec())])
        .unwrap()[0];

    let ctx = EncryptionContext::from_pairs([("purpose", "bench")]).unwrap();
    // The raw calls authenticate the same bytes the engine does: a blob header and the context.
    let mut aad = lockbox::blob::allocate(lockbox::blob::ALG_AES_256_GCM, key, 1, 1)
        [..lockbox::blob::HEADER_LEN]
        .to_vec();
    ctx.encode_into(&mut aad);
    let p32 = [0x5a_u8; 32];
    let p4k = [0xa5_u8; 4096];

    let blob32 = kms
        .encrypt(
            EncryptRequest::new(key, Plaintext::copy_from(&p32))
                .with_encryption_context(ctx.clone()),
        )
        .unwrap()
        .ciphertext_blob;
    let (raw_iv, raw_sealed) = raw_encrypt(raw, handle, &aad, &p32);
    let token = engine.token();

    // One closure per (operation, way); criterion and the paired rounds run the same ones.
    type Op<'a> = Box<dyn FnMut() + 'a>;
    let mut cases: Vec<(String, [Op<'_>; 3])> = Vec::new();
    for (op, size) in CASES {
        let name = format!("{op}/{size}");
        let ways: [Op<'_>; 3] = match op {
            "encrypt" => {
                let pt: &[u8] = if size == "32B" { &p32 } else { &p4k };
                let (aad, ctx, kms) = (&aad, ctx.clone(), &kms);
                [
                    Box::new(move || {
                        black_box(raw_encrypt(raw, handle, aad, black_box(pt)));
                    }),
                    Box::new(move || {
                        let mut buf = [0u8; 4096 + 16];
                        black_box(
                            token
                                .encrypt_aes_gcm(&object, aad, black_box(pt), &mut buf)
                                .unwrap(),
                        );
                    }),
                    Box::new(move || {
                        black_box(
                            kms.encrypt(
                                EncryptRequest::new(key, Plaintext::copy_from(black_box(pt)))
                                    .with_encryption_context(ctx.clone()),
                            )
                            .unwrap(),
                        );
                    }),
                ]
            }
            "decrypt" => {
                let (aad, ctx, kms, blob, sealed) = (&aad, ctx.clone(), &kms, &blob32, &raw_sealed);
                [
                    Box::new(move || {
                        black_box(raw_decrypt(raw, handle, aad, raw_iv, black_box(sealed)));
                    }),
                    Box::new(move || {
                        let mut buf = [0u8; 48];
                        black_box(
                            token
                                .decrypt_aes_gcm(&object, &raw_iv, aad, black_box(sealed), &mut buf)
                                .unwrap(),
                        );
                    }),
                    Box::new(move || {
                        black_box(
                            kms.decrypt(
                                DecryptRequest::new(black_box(blob).clone())
                                    .with_encryption_context(ctx.clone()),
                            )
                            .unwrap(),
                        );
                    }),
                ]
            }
            _ => {
                let (aad, ctx, kms) = (&aad, ctx.clone(), &kms);
                [
                    Box::new(move || {
                        let mut dk = [0u8; 32];
                        raw.generate_random_slice(&mut dk).unwrap();
                        black_box(raw_encrypt(raw, handle, aad, &dk));
                    }),
                    Box::new(move || {
                        let mut dk = [0u8; 32];
                        let mut buf = [0u8; 48];
                        token.random(&mut dk).unwrap();
                        black_box(token.encrypt_aes_gcm(&object, aad, &dk, &mut buf).unwrap());
                    }),
                    Box::new(move || {
                        black_box(
                            kms.generate_data_key(
                                GenerateDataKeyRequest::new(key, DataKeySpec::Aes256)
                                    .with_encryption_context(ctx.clone()),
                            )
                            .unwrap(),
                        );
                    }),
                ]
            }
        };
        cases.push((name, ways));
    }

    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    let mut c = Criterion::default()
        .output_directory(&out_dir)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    for (name, ways) in &mut cases {
        let mut g = c.benchmark_group(name.as_str());
        g.throughput(Throughput::Elements(1));
        for (way, f) in ["raw", "token", "engine"].iter().zip(ways.iter_mut()) {
            g.bench_function(*way, |b| b.iter(&mut *f));
        }
        g.finish();
    }
    c.final_summary();
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }

    // Ratios from paired rounds: raw and engine alternate in short blocks (order swapped each
    // round), so drift in the machine's speed hits both sides of every ratio alike.
    println!(
        "\nengine/raw and token/raw throughput, median of {ROUNDS} paired rounds [min-max]; criterion means in ops/s"
    );
    println!(
        "{:<26} {:>10} {:>10} {:>10}   {:<22} {:<22}",
        "operation", "raw", "token", "engine", "token/raw", "engine/raw"
    );
    for (name, [raw_op, token_op, engine_op]) in &mut cases {
        let t = paired(BLOCK, raw_op, token_op).ratio();
        let e = paired(BLOCK, raw_op, engine_op).ratio();
        let mean = |id: &str| {
            criterion_mean_ns(&out_dir, name, id)
                .map(|ns| format!("{:.0}", 1e9 / ns))
                .unwrap_or_default()
        };
        println!(
            "{name:<26} {:>10} {:>10} {:>10}   {:<22} {:<22}",
            mean("raw"),
            mean("token"),
            mean("engine"),
            t,
            e
        );
    }
    drop(cases);
    drop(kms);
    let _ = std::fs::remove_dir_all(&dir);
}

const BLOCK: usize = 2000;

fn criterion_mean_ns(out_dir: &Path, group: &str, id: &str) -> Option<f64> {
    let path = out_dir
        .join(group.replace('/', "_"))
        .join(id)
        .join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    v["mean"]["point_estimate"].as_f64()
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
