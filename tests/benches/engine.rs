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
//! - `engine`: the `Kms` operation (key lookup in sled, state checks, blob format, context
//!   encoding).
//!
//! At the end it prints engine/raw as a throughput ratio (raw time / engine time).
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
    let config = Config::provision_softhsm(&dir).unwrap();
    let kms = Engine::open(config.clone()).unwrap();
    let key = kms
        .create_key(CreateKeyRequest::new())
        .unwrap()
        .key_metadata
        .key_id;
    let object = kms.token().list_objects().unwrap()[0].id;
    let raw = raw_session(&config.token).unwrap();
    let handle = raw
        .find_objects(&[Attribute::Id(object.as_bytes().to_vec())])
        .unwrap()[0];

    let ctx = EncryptionContext::from_pairs([("purpose", "bench")]).unwrap();
    // The raw calls authenticate the same bytes the engine does: a blob header and the context.
    let mut aad = lockbox::blob::allocate(key, 1, 1)[..lockbox::blob::HEADER_LEN].to_vec();
    ctx.encode_into(&mut aad);
    let p32 = [0x5a_u8; 32];
    let p4k = [0xa5_u8; 4096];

    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    let mut c = Criterion::default()
        .output_directory(&out_dir)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(40)
        .configure_from_args();

    for (op, size) in CASES {
        let mut g = c.benchmark_group(format!("{op}/{size}"));
        g.throughput(Throughput::Elements(1));
        match (op, size) {
            ("encrypt", _) => {
                let pt: &[u8] = if size == "32B" { &p32 } else { &p4k };
                g.bench_function("raw", |b| {
                    b.iter(|| raw_encrypt(&raw, handle, &aad, black_box(pt)))
                });
                g.bench_function("token", |b| {
                    let mut out = vec![0u8; pt.len() + 16];
                    b.iter(|| {
                        kms.token()
                            .encrypt_aes_gcm(&object, &aad, black_box(pt), &mut out)
                            .unwrap()
                    })
                });
                g.bench_function("engine", |b| {
                    b.iter(|| {
                        kms.encrypt(
                            EncryptRequest::new(key, Plaintext::copy_from(black_box(pt)))
                                .with_encryption_context(ctx.clone()),
                        )
                        .unwrap()
                    })
                });
            }
            ("decrypt", _) => {
                let (iv, sealed) = raw_encrypt(&raw, handle, &aad, &p32);
                g.bench_function("raw", |b| {
                    b.iter(|| raw_decrypt(&raw, handle, &aad, iv, black_box(&sealed)))
                });
                g.bench_function("token", |b| {
                    let mut out = vec![0u8; sealed.len()];
                    b.iter(|| {
                        kms.token()
                            .decrypt_aes_gcm(&object, &iv, &aad, black_box(&sealed), &mut out)
                            .unwrap()
                    })
                });
                let blob = kms
                    .encrypt(
                        EncryptRequest::new(key, Plaintext::copy_from(&p32))
                            .with_encryption_context(ctx.clone()),
                    )
                    .unwrap()
                    .ciphertext_blob;
                g.bench_function("engine", |b| {
                    b.iter(|| {
                        kms.decrypt(
                            DecryptRequest::new(black_box(&blob).clone())
                                .with_encryption_context(ctx.clone()),
                        )
                        .unwrap()
                    })
                });
            }
            _ => {
                g.bench_function("raw", |b| {
                    b.iter(|| {
                        let mut dk = [0u8; 32];
                        raw.generate_random_slice(&mut dk).unwrap();
                        raw_encrypt(&raw, handle, &aad, &dk)
                    })
                });
                g.bench_function("token", |b| {
                    let mut out = [0u8; 48];
                    b.iter(|| {
                        let mut dk = [0u8; 32];
                        kms.token().random(&mut dk).unwrap();
                        kms.token()
                            .encrypt_aes_gcm(&object, &aad, &dk, &mut out)
                            .unwrap()
                    })
                });
                g.bench_function("engine", |b| {
                    b.iter(|| {
                        kms.generate_data_key(
                            GenerateDataKeyRequest::new(key, DataKeySpec::Aes256)
                                .with_encryption_context(ctx.clone()),
                        )
                        .unwrap()
                    })
                });
            }
        }
        g.finish();
    }
    c.final_summary();
    summarize(&out_dir);
    drop(kms);
    let _ = std::fs::remove_dir_all(&dir);
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

/// Reads criterion's mean estimates back and prints engine/raw and token/raw throughput.
fn summarize(out_dir: &Path) {
    let mean_ns = |group: &str, id: &str| -> Option<f64> {
        let path = out_dir
            .join(group.replace('/', "_"))
            .join(id)
            .join("new/estimates.json");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        v["mean"]["point_estimate"].as_f64()
    };
    println!(
        "\n{:<28} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "operation", "raw ops/s", "token ops/s", "engine ops/s", "token/raw", "engine/raw"
    );
    for (op, size) in CASES {
        let group = format!("{op}/{size}");
        let (Some(raw), Some(tok), Some(eng)) = (
            mean_ns(&group, "raw"),
            mean_ns(&group, "token"),
            mean_ns(&group, "engine"),
        ) else {
            continue;
        };
        println!(
            "{group:<28} {:>12.0} {:>12.0} {:>12.0} {:>12.2} {:>12.2}",
            1e9 / raw,
            1e9 / tok,
            1e9 / eng,
            raw / tok,
            raw / eng
        );
    }
}
