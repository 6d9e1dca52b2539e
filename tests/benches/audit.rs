//! Audit durability: engine Encrypt from four client threads with every-record durability
//! (group commit) beside the same calls with batched durability, paired rounds in one run.
//!
//! ```text
//! cargo bench -p lockbox-tests --bench audit
//! ```
//!
//! Two engines share one SoftHSM token (each its own data directory and label prefix, so
//! neither reconciles the other's objects): one with `[audit] durability = "batched"` (the
//! default), one with `"every-record"`. A round runs a block of Encrypt calls (32 bytes,
//! one hot key per engine) split over `LOCKBOX_BENCH_THREADS` client threads (default 4) on
//! each engine, order swapped every round; the ratio is batched time / every-record time,
//! so 1.0 means every-record costs nothing. It also prints how many records each write of
//! the every-record log carried (the group commit's average group).
//!
//! The second part measures the bounded store: `LOCKBOX_BENCH_RETENTION_CALLS` (default
//! 200,000) Encrypt calls on an engine with `retention_records = 20000` and a seal every 1,000
//! records, pruning (as the maintenance pass does) every 10,000 calls, and the same calls on
//! an engine without retention; after each tenth it prints the audit tree's entry count and
//! the size of the `metadata/` directory (and of the export directory).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::path::PathBuf;

use lockbox::api::*;
use lockbox::audit::Durability;
use lockbox::token::softhsm;
use lockbox::{Config, Engine};

#[path = "common/paired.rs"]
mod paired;

use paired::{ROUNDS, paired};

/// Encrypt calls per block, over all threads.
const BLOCK: usize = 4000;

fn main() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lockbox-bench-audit");
    softhsm::ensure_conf_env(&Config::softhsm_conf_path(&dir.join("batched"))).unwrap();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    let threads: usize = std::env::var("LOCKBOX_BENCH_THREADS")
        .ok()
        .map(|v| v.parse().unwrap())
        .unwrap_or(4);
    let batched_config = Config::provision_softhsm(&dir.join("batched")).unwrap();
    let mut every_config = batched_config.clone();
    every_config.data_dir = dir.join("every-record");
    every_config.token.label_prefix = format!("{}-every", batched_config.token.label_prefix);
    every_config.audit.durability = Durability::EveryRecord;
    assert_eq!(batched_config.audit.durability, Durability::Batched);

    let base = batched_config.clone();
    let batched = Engine::open(batched_config).unwrap();
    let every = Engine::open(every_config).unwrap();
    let kb = batched.client(batched.default_caller("bench"));
    let ke = every.client(every.default_caller("bench"));
    let key_b = kb
        .create_key(CreateKeyRequest::new())
        .unwrap()
        .key_metadata
        .key_id;
    let key_e = ke
        .create_key(CreateKeyRequest::new())
        .unwrap()
        .key_metadata
        .key_id;
    let ctx = EncryptionContext::from_pairs([("purpose", "bench")]).unwrap();
    let p32 = [0x5a_u8; 32];

    let run = |kms: &dyn Kms, key: KeyId| {
        std::thread::scope(|s| {
            for t in 0..threads {
                let ctx = ctx.clone();
                s.spawn(move || {
                    let n = BLOCK / threads + usize::from(t < BLOCK % threads);
                    for _ in 0..n {
                        black_box(
                            kms.encrypt(
                                EncryptRequest::new(key, Plaintext::copy_from(&p32))
                                    .with_encryption_context(ctx.clone()),
                            )
                            .unwrap(),
                        );
                    }
                });
            }
        });
    };
    // Warm up both.
    run(&kb, key_b);
    run(&ke, key_e);
    let writes_before = every.audit().writes();
    let p = paired(1, &mut || run(&kb, key_b), &mut || run(&ke, key_e));
    let writes = every.audit().writes() - writes_before;
    let records = (ROUNDS * BLOCK) as f64;
    println!(
        "\nEncrypt 32 B, {threads} client threads, blocks of {BLOCK} calls, median of {ROUNDS} paired rounds [min-max]"
    );
    println!(
        "batched {:.0} calls/s, every-record {:.0} calls/s, every-record/batched {}",
        p.base_rate * BLOCK as f64,
        p.candidate_rate * BLOCK as f64,
        p.ratio()
    );
    println!(
        "every-record: {writes} writes for {records} records ({:.2} records per write)",
        records / writes as f64
    );
    drop((kb, ke));
    drop(every);

    // The bounded store.
    let calls: usize = std::env::var("LOCKBOX_BENCH_RETENTION_CALLS")
        .ok()
        .map(|v| v.parse().unwrap())
        .unwrap_or(200_000);
    drop(batched);
    println!("\nbounded store: {calls} Encrypt calls, seal_every 1000, pruned every 10000 calls");
    println!(
        "{:>8} {:>14} {:>14} {:>14} {:>14} {:>14}",
        "calls", "entries(ret)", "metadata(ret)", "export(ret)", "entries(none)", "metadata(none)"
    );
    let open = |name: &str, retain: Option<u64>| {
        let mut c = base.clone();
        c.data_dir = dir.join(name);
        c.token.label_prefix = format!("{}-{name}", base.token.label_prefix);
        c.audit.seal_every = 1000;
        c.audit_retention.max_records = retain;
        c.audit_retention.export_dir = dir.join(name).join("audit-export");
        Engine::open(c).unwrap()
    };
    let with = open("retention", Some(20_000));
    let without = open("no-retention", None);
    let kw = with.client(with.default_caller("bench"));
    let kn = without.client(without.default_caller("bench"));
    let key_w = kw
        .create_key(CreateKeyRequest::new())
        .unwrap()
        .key_metadata
        .key_id;
    let key_n = kn
        .create_key(CreateKeyRequest::new())
        .unwrap()
        .key_metadata
        .key_id;
    let mut done = 0;
    while done < calls {
        for _ in 0..10_000 {
            for (kms, key) in [(&kw as &dyn Kms, key_w), (&kn as &dyn Kms, key_n)] {
                black_box(
                    kms.encrypt(
                        EncryptRequest::new(key, Plaintext::copy_from(&p32))
                            .with_encryption_context(ctx.clone()),
                    )
                    .unwrap(),
                );
            }
        }
        done += 10_000;
        with.audit().flush().unwrap();
        without.audit().flush().unwrap();
        with.prune_audit().unwrap();
        if done % (calls / 10).max(10_000) == 0 || done >= calls {
            println!(
                "{done:>8} {:>14} {:>14} {:>14} {:>14} {:>14}",
                with.store().audit_count().unwrap(),
                mib(&dir.join("retention/metadata")),
                mib(&dir.join("retention/audit-export")),
                without.store().audit_count().unwrap(),
                mib(&dir.join("no-retention/metadata")),
            );
        }
    }
    drop((kw, kn));
    drop(with);
    drop(without);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The size of the files under `path`, in MiB (what they take on disk).
fn mib(path: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    fn walk(p: &std::path::Path) -> u64 {
        let Ok(md) = std::fs::symlink_metadata(p) else {
            return 0;
        };
        if md.is_dir() {
            std::fs::read_dir(p)
                .map(|d| d.filter_map(Result::ok).map(|e| walk(&e.path())).sum())
                .unwrap_or(0)
        } else {
            md.blocks() * 512
        }
    }
    format!("{:.1} MiB", walk(path) as f64 / (1 << 20) as f64)
}
