//! Cluster mode (issue 17): one node over PostgreSQL against one node over sled, strict
//! consistency against the default, and how long a change on one node takes to be honoured
//! on another.
//!
//! ```text
//! cargo bench -p lockbox-tests --bench cluster
//! ```
//!
//! One SoftHSM token and one throwaway PostgreSQL cluster (`PgCluster`: `initdb` in a
//! temporary directory, TCP on 127.0.0.1, `fsync = off`, `synchronous_commit` on), four
//! engines in this process on that token: `sled` (the embedded store, its own directory),
//! `pg` and `pg2` (default consistency, one database), `strict` (strict consistency, the same
//! database). Each has a key of its own (the propagation case shares one key between `pg`
//! and `pg2`).
//!
//! - Throughput: paired rounds as in the other benches (the two ways alternate in blocks,
//!   order swapped every round; median of 15 rounds with its range, and each way's median
//!   rate): Encrypt of 32 bytes with an encryption context, UpdateKeyDescription (a write:
//!   one store transaction), both in process; Encrypt signed with SigV4 through `Server`
//!   (each engine behind a server of its own on 127.0.0.1:0, one client thread, HTTP keep-alive).
//!   sled is the baseline of `pg`; `pg` is the baseline of `strict`.
//! - Propagation: 50 rounds of DisableKey then EnableKey on `pg` (100 changes), each timed from its
//!   acknowledgement to the first call on `pg2` that honours it (Encrypt refused as disabled,
//!   then allowed again), `pg2` calling in a loop; median and worst.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockbox::api::*;
use lockbox::token::softhsm;
use lockbox::{Config, Consistency, Engine, PasswordSource, PostgresConfig, StoreConfig};
use lockbox_client::http_client::HttpTransport;
use lockbox_client::remote::RemoteKms;
use lockbox_server::credentials::{Credential, CredentialStore, SecretKey};
use lockbox_server::server::{Server, ServerConfig};
use lockbox_store::testing::{self, PgCluster};
use zeroize::Zeroizing;

#[path = "common/paired.rs"]
mod paired;

use paired::{Paired, ROUNDS, paired};

const ACCESS_KEY_ID: &str = "AKIACLUSTERBENCH";
/// Calls per block of a paired round.
const ENCRYPT_BLOCK: usize = 1000;
const WRITE_BLOCK: usize = 100;
const HTTP_BLOCK: usize = 300;
/// Changes timed in the propagation case.
const CHANGES: usize = 50;

fn main() {
    let smoke = std::env::args().any(|a| a == "--test" || a == "--list");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lockbox-bench-cluster");
    // SoftHSM reads SOFTHSM2_CONF when it starts: re-run this binary with it set, first.
    softhsm::ensure_conf_env(&Config::softhsm_conf_path(&dir)).unwrap();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let config = Config::provision_softhsm(&dir).unwrap();
    if smoke {
        return;
    }
    let pg = PgCluster::start().unwrap();
    let password = dir.join("db.password");
    write_private(&password, pg.password().as_bytes());
    let node = |name: &str, consistency: Option<Consistency>| {
        let mut c = config.clone();
        c.data_dir = dir.join(name);
        if let Some(consistency) = consistency {
            c.store = StoreConfig::Postgres(PostgresConfig {
                url: format!(
                    "postgresql://{}@127.0.0.1:{}/{}",
                    testing::ROLE,
                    pg.port(),
                    testing::DATABASE
                ),
                password: Some(PasswordSource::File(password.clone())),
                ca_file: None,
                consistency,
                cache_ttl: lockbox::DEFAULT_CACHE_TTL,
                pool_size: 4,
            });
        }
        Arc::new(Engine::open(c).unwrap())
    };
    let sled = node("sled", None);
    let pgn = node("pg", Some(Consistency::Default));
    let pg2 = node("pg2", Some(Consistency::Default));
    let strict = node("strict", Some(Consistency::Strict));
    let caller = sled.default_caller("127.0.0.1");
    let ctx = EncryptionContext::from_pairs([("purpose", "bench")]).unwrap();
    println!(
        "machine: {} cores; PostgreSQL {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        pg.admin_sql("SHOW server_version;").unwrap().trim()
    );

    // In process.
    let clients: Vec<_> = [&sled, &pgn, &strict]
        .iter()
        .map(|e| e.client(caller.clone()))
        .collect();
    let keys: Vec<KeyId> = clients
        .iter()
        .map(|c| {
            c.create_key(CreateKeyRequest::new())
                .unwrap()
                .key_metadata
                .key_id
        })
        .collect();
    let encrypt = |i: usize| {
        let (c, k, ctx) = (&clients[i], keys[i], &ctx);
        move || {
            black_box(
                c.encrypt(
                    EncryptRequest::new(k, Plaintext::copy_from(&[0x5a; 32]))
                        .with_encryption_context(ctx.clone()),
                )
                .unwrap(),
            );
        }
    };
    let describe = |i: usize| {
        let (c, k) = (&clients[i], keys[i]);
        let mut n = 0u64;
        move || {
            n += 1;
            c.update_key_description(UpdateKeyDescriptionRequest::new(k, format!("d{n}")))
                .unwrap();
        }
    };
    let mut rows = Vec::new();
    let (mut a, mut b) = (encrypt(0), encrypt(1));
    rows.push((
        "Encrypt 32 B + context, in process",
        "sled",
        "pg",
        paired(ENCRYPT_BLOCK, &mut a, &mut b),
    ));
    let (mut a, mut b) = (describe(0), describe(1));
    rows.push((
        "UpdateKeyDescription, in process",
        "sled",
        "pg",
        paired(WRITE_BLOCK, &mut a, &mut b),
    ));
    let (mut a, mut b) = (encrypt(1), encrypt(2));
    rows.push((
        "Encrypt 32 B + context, in process",
        "pg",
        "pg strict",
        paired(ENCRYPT_BLOCK, &mut a, &mut b),
    ));

    // Through the server, SigV4 signed, one client thread.
    let secret = Zeroizing::new(
        clients[0]
            .generate_random(GenerateRandomRequest::new(NumberOfBytes::new(30).unwrap()))
            .unwrap()
            .plaintext
            .expose_secret()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    );
    let region = sled.arn_scope().region().to_owned();
    let serve = |e: &Arc<Engine>| {
        let credentials = CredentialStore::from_entries([Credential::new(
            ACCESS_KEY_ID,
            SecretKey::new(String::clone(&secret)),
            caller.principal().clone(),
        )
        .unwrap()])
        .unwrap();
        let mut sc = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..ServerConfig::default()
        };
        sc.throttle.enabled = false;
        let server = Server::start(e.clone(), credentials, sc).unwrap();
        let kms = RemoteKms::new(
            HttpTransport::new(
                &format!("http://{}", server.local_addr()),
                &region,
                ACCESS_KEY_ID.to_owned(),
                SecretKey::new(String::clone(&secret)),
            )
            .unwrap(),
        );
        (server, kms)
    };
    let remote: Vec<_> = [&sled, &pgn, &strict].iter().map(|e| serve(e)).collect();
    let remote_encrypt = |i: usize| {
        let (kms, k, ctx) = (&remote[i].1, keys[i], &ctx);
        move || {
            black_box(
                kms.encrypt(
                    EncryptRequest::new(k, Plaintext::copy_from(&[0x5a; 32]))
                        .with_encryption_context(ctx.clone()),
                )
                .unwrap(),
            );
        }
    };
    let (mut a, mut b) = (remote_encrypt(0), remote_encrypt(1));
    rows.push((
        "Encrypt 32 B + context, HTTP, 1 thread",
        "sled",
        "pg",
        paired(HTTP_BLOCK, &mut a, &mut b),
    ));
    let (mut a, mut b) = (remote_encrypt(1), remote_encrypt(2));
    rows.push((
        "Encrypt 32 B + context, HTTP, 1 thread",
        "pg",
        "pg strict",
        paired(HTTP_BLOCK, &mut a, &mut b),
    ));

    println!(
        "\nthroughput in ops/s, median of {ROUNDS} paired rounds; ratio = base time / candidate \
         time, median [min-max] (1.00: as fast as the base)"
    );
    println!(
        "{:<42} {:>10} {:>10} {:>10} {:>10}   ratio",
        "operation", "base", "ops/s", "candidate", "ops/s"
    );
    for (op, base, cand, p) in &rows {
        print_row(op, base, cand, p);
    }

    // Propagation: a change on pg, honoured on pg2.
    let (ca, cb) = (pgn.client(caller.clone()), pg2.client(caller.clone()));
    let key = ca
        .create_key(CreateKeyRequest::new())
        .unwrap()
        .key_metadata
        .key_id;
    let try_encrypt = || cb.encrypt(EncryptRequest::new(key, Plaintext::copy_from(b"x")));
    let mut waits = Vec::new();
    let mut calls = 0usize;
    for _ in 0..CHANGES {
        // B has the key cached, enabled.
        try_encrypt().unwrap();
        ca.disable_key(DisableKeyRequest::new(key)).unwrap();
        let acked = Instant::now();
        loop {
            calls += 1;
            match try_encrypt() {
                Err(e) if e.kind() == ErrorKind::Disabled => break,
                Ok(_) => {}
                Err(e) => panic!("unexpected {e}"),
            }
            assert!(acked.elapsed() < Duration::from_secs(10), "never honoured");
        }
        waits.push(acked.elapsed());
        ca.enable_key(EnableKeyRequest::new(key)).unwrap();
        let acked = Instant::now();
        loop {
            calls += 1;
            match try_encrypt() {
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::Disabled => {}
                Err(e) => panic!("unexpected {e}"),
            }
            assert!(acked.elapsed() < Duration::from_secs(10), "never honoured");
        }
        waits.push(acked.elapsed());
    }
    waits.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "\npropagation, default consistency (cache_ttl_ms {}): {} changes on node pg \
         (DisableKey, EnableKey), time from the acknowledgement to the first call on node pg2 \
         that honours it ({calls} calls on pg2): median {:.2} ms, 90th percentile {:.2} ms, \
         worst {:.2} ms",
        lockbox::DEFAULT_CACHE_TTL.as_millis(),
        waits.len(),
        ms(waits[waits.len() / 2]),
        ms(waits[waits.len() * 9 / 10]),
        ms(waits[waits.len() - 1]),
    );
    drop(remote);
}

fn print_row(op: &str, base: &str, cand: &str, p: &Paired) {
    println!(
        "{op:<42} {base:>10} {:>10.0} {cand:>10} {:>10.0}   {}",
        p.base_rate,
        p.candidate_rate,
        p.ratio()
    );
}

/// Writes `bytes` to a new file that only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}
