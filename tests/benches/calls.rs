//! One engine operation, run a given number of times, for an instruction count per call.
//!
//! ```text
//! cargo bench -p lockbox-tests --bench calls --no-run     # prints the binary's path
//! valgrind --tool=callgrind --trace-children=yes <calls binary> encrypt/4KiB 3000
//! callgrind_annotate --inclusive=yes callgrind.out.<pid>
//! ```
//!
//! Arguments: the case (`encrypt/32B`, `encrypt/4KiB`, `decrypt/32B`,
//! `generate_data_key/AES_256`, as in benches/engine.rs, with the same key, context and
//! caller) and the number of calls (default 20000). It prints the wall time per call and the
//! calling thread's heap allocations per call, counted by a wrapper around the system
//! allocator. `--trace-children` because the binary re-runs itself with SOFTHSM2_CONF set.
//! Under callgrind, the inclusive count of `EngineClient::encrypt` (or `decrypt`,
//! `generate_data_key`) minus that of the token call inside it is the engine's own work on
//! the calling thread, and `audit::Inner::write` is the audit thread's. (This VM exposes no
//! hardware counters to `perf stat`; callgrind counts the same on a busy machine as on an
//! idle one, but counts each byte of a `rep stos`/`rep movs` as an instruction, so a 4 KiB
//! memset or memcpy shows as about 4,000.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::path::PathBuf;

use lockbox::api::*;
use lockbox::token::softhsm;
use lockbox::{Config, Engine};

/// Counts allocations made by the thread that sets `COUNTING`.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is passed unchanged to the system allocator; the thread-locals touched
// are const-initialized `Cell`s, which do not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn count() {
    let _ = COUNTING.try_with(|c| {
        if c.get() {
            let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
        }
    });
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let case = args.next().unwrap_or_else(|| "encrypt/32B".into());
    let calls: u64 = args.next().map_or(20000, |n| n.parse().unwrap());

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lockbox-calls");
    softhsm::ensure_conf_env(&Config::softhsm_conf_path(&dir)).unwrap();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let config = Config::provision_softhsm(&dir).unwrap();
    let engine = Engine::open(config).unwrap();
    let kms = engine.client(engine.default_caller("bench"));
    let key = kms
        .create_key(CreateKeyRequest::new())
        .unwrap()
        .key_metadata
        .key_id;
    let ctx = EncryptionContext::from_pairs([("purpose", "bench")]).unwrap();
    let p32 = [0x5a_u8; 32];
    let p4k = [0xa5_u8; 4096];
    let blob32 = kms
        .encrypt(
            EncryptRequest::new(key, Plaintext::copy_from(&p32))
                .with_encryption_context(ctx.clone()),
        )
        .unwrap()
        .ciphertext_blob;

    let mut one: Box<dyn FnMut()> = match case.as_str() {
        "encrypt/32B" | "encrypt/4KiB" => {
            let pt: &[u8] = if case.ends_with("32B") { &p32 } else { &p4k };
            Box::new(|| {
                black_box(
                    kms.encrypt(
                        EncryptRequest::new(key, Plaintext::copy_from(black_box(pt)))
                            .with_encryption_context(ctx.clone()),
                    )
                    .unwrap(),
                );
            })
        }
        "decrypt/32B" => Box::new(|| {
            black_box(
                kms.decrypt(
                    DecryptRequest::new(black_box(&blob32).clone())
                        .with_encryption_context(ctx.clone()),
                )
                .unwrap(),
            );
        }),
        "generate_data_key/AES_256" => Box::new(|| {
            black_box(
                kms.generate_data_key(
                    GenerateDataKeyRequest::new(key, DataKeySpec::Aes256)
                        .with_encryption_context(ctx.clone()),
                )
                .unwrap(),
            );
        }),
        other => panic!("unknown case {other}"),
    };
    // Warm the caches (policy, handles, sessions) before counting.
    for _ in 0..100 {
        one();
    }
    COUNTING.with(|c| c.set(true));
    let start = std::time::Instant::now();
    for _ in 0..calls {
        one();
    }
    let elapsed = start.elapsed();
    COUNTING.with(|c| c.set(false));
    let allocs = ALLOCS.with(Cell::get);
    println!(
        "{case}: {calls} calls, {:.2} us per call, {:.2} allocations per call on the calling thread",
        elapsed.as_secs_f64() * 1e6 / calls as f64,
        allocs as f64 / calls as f64
    );
    drop(one);
    drop(kms);
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
}
