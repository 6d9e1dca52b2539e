//! Envelope encryption throughput, file to file, beside `openssl speed -evp aes-256-gcm` on
//! the same machine in the same run; and many small messages with and without the data-key
//! cache.
//!
//! ```text
//! cargo bench -p lockbox-tests --bench envelope
//! ```
//!
//! - **Files**: a 256 MiB file of pseudo-random bytes (in the page cache) is encrypted to a
//!   second file and that file decrypted to a third, through `Encryptor` (a `Write`) and
//!   `Decryptor` (a `Read`) with 1 MiB frames, for both suites, over the real engine on a
//!   SoftHSM token (one GenerateDataKey or Decrypt per file), and again through
//!   `Encryptor::encrypt_from`/`Decryptor::decrypt_to` (**pipelined**: reading and writing
//!   overlapped with the cryptography). Each round runs
//!   `openssl speed -evp aes-256-gcm -bytes 1048576 -seconds 2` first, then our passes;
//!   the ratio is our bytes per second over OpenSSL's in that round (OpenSSL encrypts in
//!   memory, with no I/O, no key derivation and no signature). The median of the rounds is
//!   reported with its range.
//! - **Small messages**: 20 000 messages of 1 KiB under one encryption context, with no cache
//!   (one GenerateDataKey each) and with a cache (max age 60 s, defaults otherwise).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockbox::api::*;
use lockbox::token::softhsm;
use lockbox::{Config, Engine};
use lockbox_envelope::{
    CacheLimits, CachingMaterials, DecryptOptions, Decryptor, EncryptOptions, Encryptor,
    KmsKeyring, MaterialsManager, Suite,
};

const FILE_LEN: usize = 256 << 20;
const FRAME: u32 = 1 << 20;
const ROUNDS: usize = 5;
const SMALL: usize = 20_000;

fn main() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lockbox-bench-envelope");
    softhsm::ensure_conf_env(&Config::softhsm_conf_path(&dir)).unwrap();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let config = Config::provision_softhsm(&dir).unwrap();
    let engine = Arc::new(Engine::open(config).unwrap());
    let kms: Arc<dyn Kms> = Arc::new(engine.shared_client(engine.default_caller("bench")));
    let key = kms
        .create_key(CreateKeyRequest::new())
        .unwrap()
        .key_metadata
        .arn
        .to_string();
    let keyring = KmsKeyring::new(Arc::clone(&kms), &[key]).unwrap();

    let input = dir.join("input.bin");
    write_input(&input);
    let sealed = dir.join("sealed.bin");
    let opened = dir.join("opened.bin");
    let plain = std::fs::read(&input).unwrap();
    let mut sealed_mem = Vec::with_capacity(FILE_LEN + (FILE_LEN >> 10) + 4096);
    let mut opened_mem = vec![0u8; FILE_LEN];

    println!(
        "envelope file-to-file throughput, {} MiB, frames of {} KiB; MB/s (10^6 bytes/s)",
        FILE_LEN >> 20,
        FRAME >> 10
    );
    let mut rows: Vec<(String, Vec<f64>, Vec<f64>)> = Vec::new();
    let mut openssl_all = Vec::new();
    let mut copy_all = Vec::new();
    for round in 0..ROUNDS {
        let openssl = openssl_speed();
        openssl_all.push(openssl);
        // The file system's own speed for the same bytes: a copy to a new file.
        let copy = timed(|| {
            std::fs::remove_file(&opened).ok();
            copy_file(&input, &opened);
        });
        copy_all.push(FILE_LEN as f64 / copy / 1e6 / openssl);
        let mut i = 0;
        for (suite, threads) in [
            (Suite::Aes256GcmHkdfSha512CommitKey, 1),
            (Suite::Aes256GcmHkdfSha512CommitKey, 0),
            (Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384, 0),
        ] {
            let opts = EncryptOptions::default()
                .with_suite(suite)
                .with_frame_length(FRAME)
                .with_threads(threads);
            let e = timed(|| encrypt_file(&keyring, &opts, &input, &sealed));
            let d = timed(|| decrypt_file(&keyring, threads, &sealed, &opened));
            let pe = timed(|| encrypt_file_pipelined(&keyring, &opts, &input, &sealed));
            let pd = timed(|| decrypt_file_pipelined(&keyring, threads, &sealed, &opened));
            if round == 0 {
                assert!(
                    std::fs::read(&opened).unwrap() == plain,
                    "pipelined round trip"
                );
            }
            let (me, md) = in_memory(&keyring, &opts, &plain, &mut sealed_mem, &mut opened_mem);
            if round == 0 {
                assert_eq!(
                    std::fs::metadata(&opened).unwrap().len(),
                    FILE_LEN as u64,
                    "round trip"
                );
            }
            for (what, secs) in [
                ("file encrypt", e),
                ("file decrypt", d),
                ("file pipelined encrypt", pe),
                ("file pipelined decrypt", pd),
                ("memory encrypt", me),
                ("memory decrypt", md),
            ] {
                let mbps = FILE_LEN as f64 / secs / 1e6;
                if round == 0 {
                    let t = if threads == 0 {
                        "all cores".to_owned()
                    } else {
                        format!("{threads} thread")
                    };
                    rows.push((format!("{what} 0x{:04X} {t}", suite.id()), vec![], vec![]));
                }
                rows[i].1.push(mbps);
                rows[i].2.push(mbps / openssl);
                i += 1;
            }
        }
    }
    println!(
        "openssl speed -evp aes-256-gcm (1 MiB blocks): median {:.0} MB/s [{:.0}-{:.0}]",
        median(&openssl_all),
        min(&openssl_all),
        max(&openssl_all)
    );
    println!(
        "copy to a new file (no cryptography), as a ratio to openssl: median {:.2} [{:.2}-{:.2}]",
        median(&copy_all),
        min(&copy_all),
        max(&copy_all)
    );
    println!("{:<36} {:>8} {:>22}", "pass", "MB/s", "ratio to openssl");
    for (name, mbps, ratio) in &rows {
        println!(
            "{name:<36} {:>8.0} {:>8.2} [{:.2}-{:.2}]",
            median(mbps),
            median(ratio),
            min(ratio),
            max(ratio)
        );
    }
    assert!(opened_mem == plain, "in-memory round trip");
    std::fs::remove_file(&sealed).ok();
    std::fs::remove_file(&opened).ok();
    std::fs::remove_file(&input).ok();

    small_messages(&kms, &keyring);
}

fn small_messages(kms: &Arc<dyn Kms>, keyring: &KmsKeyring) {
    let plain = vec![7u8; 1024];
    let opts = EncryptOptions::default()
        .with_suite(Suite::Aes256GcmHkdfSha512CommitKey)
        .with_context([("purpose", "bench")]);
    let cached = CachingMaterials::new(
        Arc::new(KmsKeyring::new(Arc::clone(kms), &keyring_keys(keyring)).unwrap()),
        CacheLimits::with_max_age(Duration::from_secs(60)),
    )
    .unwrap();
    println!("\n{SMALL} messages of 1 KiB (suite 0x0478, one context)");
    println!(
        "{:<10} {:>12} {:>22}",
        "materials", "messages/s", "GenerateDataKey calls"
    );
    for (name, mm) in [
        ("keyring", keyring as &dyn MaterialsManager),
        ("cached", &cached as &dyn MaterialsManager),
    ] {
        let start = Instant::now();
        for _ in 0..SMALL {
            std::hint::black_box(lockbox_envelope::encrypt(mm, &opts, &plain).unwrap());
        }
        let secs = start.elapsed().as_secs_f64();
        let calls = if name == "cached" {
            cached.stats().misses
        } else {
            SMALL as u64
        };
        println!("{name:<10} {:>12.0} {:>22}", SMALL as f64 / secs, calls);
    }
}

fn keyring_keys(k: &KmsKeyring) -> Vec<String> {
    match k.decrypt_keys() {
        lockbox_envelope::DecryptKeys::Strict(arns) => arns.clone(),
        lockbox_envelope::DecryptKeys::Discovery => Vec::new(),
    }
}

fn write_input(path: &Path) {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..(FILE_LEN >> 20) {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        out.write_all(&block).unwrap();
    }
    out.flush().unwrap();
}

/// Encrypts `plain` into `sealed`, then decrypts `sealed` into `opened`, all in memory;
/// returns the two times.
fn in_memory(
    mm: &dyn MaterialsManager,
    opts: &EncryptOptions,
    plain: &[u8],
    sealed: &mut Vec<u8>,
    opened: &mut [u8],
) -> (f64, f64) {
    sealed.clear();
    let e = timed(|| {
        let mut enc = Encryptor::new(mm, opts, Some(plain.len() as u64), &mut *sealed).unwrap();
        for chunk in plain.chunks(1 << 20) {
            enc.write_all(chunk).unwrap();
        }
        enc.finish().unwrap();
    });
    let options = DecryptOptions {
        threads: opts.threads,
        ..DecryptOptions::default()
    };
    let d = timed(|| {
        let mut dec = Decryptor::new(mm, &sealed[..], &options).unwrap();
        let mut at = 0;
        loop {
            let n = dec.read(&mut opened[at..]).unwrap();
            if n == 0 {
                break;
            }
            at += n;
        }
        assert_eq!(at, plain.len());
    });
    (e, d)
}

fn copy_file(from: &Path, to: &Path) {
    let mut input = File::open(from).unwrap();
    let mut out = File::create(to).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).unwrap();
    }
}

fn encrypt_file(mm: &dyn MaterialsManager, opts: &EncryptOptions, from: &Path, to: &Path) {
    let mut input = File::open(from).unwrap();
    let len = input.metadata().unwrap().len();
    std::fs::remove_file(to).ok();
    let mut enc = Encryptor::new(mm, opts, Some(len), File::create(to).unwrap()).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        enc.write_all(&buf[..n]).unwrap();
    }
    enc.finish().unwrap();
}

/// As `encrypt_file`, through `Encryptor::encrypt_from` (reading and writing overlapped
/// with sealing).
fn encrypt_file_pipelined(
    mm: &dyn MaterialsManager,
    opts: &EncryptOptions,
    from: &Path,
    to: &Path,
) {
    let mut input = File::open(from).unwrap();
    let len = input.metadata().unwrap().len();
    std::fs::remove_file(to).ok();
    let enc = Encryptor::new(mm, opts, Some(len), File::create(to).unwrap()).unwrap();
    enc.encrypt_from(&mut input).unwrap();
}

/// As `decrypt_file`, through `Decryptor::decrypt_to`.
fn decrypt_file_pipelined(mm: &dyn MaterialsManager, threads: usize, from: &Path, to: &Path) {
    let input = BufReader::with_capacity(1 << 16, File::open(from).unwrap());
    let options = DecryptOptions {
        threads,
        ..DecryptOptions::default()
    };
    let dec = Decryptor::new(mm, input, &options).unwrap();
    std::fs::remove_file(to).ok();
    let mut out = File::create(to).unwrap();
    dec.decrypt_to(&mut out).unwrap();
}

fn decrypt_file(mm: &dyn MaterialsManager, threads: usize, from: &Path, to: &Path) {
    let input = BufReader::with_capacity(1 << 16, File::open(from).unwrap());
    let options = DecryptOptions {
        threads,
        ..DecryptOptions::default()
    };
    let mut dec = Decryptor::new(mm, input, &options).unwrap();
    std::fs::remove_file(to).ok();
    let mut out = File::create(to).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = dec.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).unwrap();
    }
    assert!(dec.is_complete());
}

fn timed(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

/// OpenSSL's AES-256-GCM encryption speed in MB/s, from `openssl speed`.
fn openssl_speed() -> f64 {
    let out = Command::new("openssl")
        .args([
            "speed",
            "-evp",
            "aes-256-gcm",
            "-bytes",
            "1048576",
            "-seconds",
            "2",
        ])
        .output()
        .expect("openssl must be installed to compare against");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with("AES-256-GCM") || l.starts_with("aes-256-gcm"))
        .unwrap_or_else(|| panic!("no result line in openssl speed output:\n{text}"));
    let kbps: f64 = line
        .split_whitespace()
        .last()
        .and_then(|v| v.trim_end_matches('k').parse().ok())
        .unwrap_or_else(|| panic!("cannot parse {line:?}"));
    kbps * 1000.0 / 1e6
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}
