//! No plaintext is left in memory the library frees: a global allocator looks into every
//! block freed while a message is encrypted and decrypted, for a marker that only the
//! plaintext holds. Frame buffers are reused and sometimes grown; growing must not free a
//! block that still holds plaintext (a final frame longer than the slot a regular frame
//! left, a frame longer than the last one).
#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code)]

mod fixed;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use fixed::FixedKey;
use lockbox_envelope::{DecryptOptions, Decryptor, EncryptOptions, Encryptor, Suite};
use zeroize::Zeroizing;

/// 16 bytes that appear in memory only as (part of) the plaintext.
const MARKER: [u8; 16] = *b"\xF0plaintext\x0Fmark!";

struct Scanning;

static ARMED: AtomicBool = AtomicBool::new(false);
static FOUND: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to `System` unchanged; `dealloc` only reads the block it is
// given, which is valid for `layout.size()` bytes until it is passed on.
unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::Relaxed) && layout.size() >= MARKER.len() {
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            if block.windows(MARKER.len()).any(|w| w == MARKER) {
                FOUND.fetch_add(1, Ordering::Relaxed);
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Scanning = Scanning;

/// Serializes the armed windows: the allocator's flag and count are global, and the test
/// harness runs this file's tests on parallel threads. Without it, a test that frees a marked
/// block on purpose (`the_scan_sees_plaintext_that_is_freed`) is counted against whichever
/// test is armed at that moment.
static SCAN: Mutex<()> = Mutex::new(());

/// Blocks holding the marker freed while `f` ran.
fn freed_with_plaintext(f: impl FnOnce()) -> usize {
    let _one_at_a_time = SCAN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    FOUND.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    f();
    ARMED.store(false, Ordering::SeqCst);
    FOUND.load(Ordering::SeqCst)
}

#[test]
fn frame_buffers_are_never_freed_holding_plaintext() {
    for suite in [
        Suite::Aes256GcmHkdfSha512CommitKey,
        Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
    ] {
        // Final frame full, final frame a few bytes short of full, short final frame, an
        // exact multiple, one frame.
        for (frame, len) in [
            (4096usize, 8192usize),
            (4096, 8188),
            (4096, 4196),
            (4096, 3 * 4096),
            (4096, 17),
        ] {
            for threads in [1usize, 2] {
                // The test's own plaintext buffers are zeroized when dropped, so that a block
                // the allocator hands out again cannot carry their bytes into the library.
                let plain: Zeroizing<Vec<u8>> =
                    Zeroizing::new(MARKER.iter().copied().cycle().take(len).collect());
                let opts = EncryptOptions::default()
                    .with_suite(suite)
                    .with_frame_length(frame as u32)
                    .with_threads(threads);
                // Length unknown (slots of whole frames) and declared (the first slot sized
                // for the input).
                let mut message = Vec::with_capacity(len + 4096);
                for declared in [None, Some(len as u64)] {
                    message.clear();
                    let found = freed_with_plaintext(|| {
                        let mut enc =
                            Encryptor::new(&FixedKey, &opts, declared, &mut message).unwrap();
                        for chunk in plain.chunks(1000) {
                            enc.write_all(chunk).unwrap();
                        }
                        enc.finish().unwrap();
                    });
                    assert_eq!(
                        found, 0,
                        "encrypt {suite:?} {frame}/{len} threads {threads} {declared:?}"
                    );
                }

                let mut out = Zeroizing::new(vec![0u8; len]);
                let options = DecryptOptions {
                    threads,
                    ..DecryptOptions::default()
                };
                let found = freed_with_plaintext(|| {
                    let mut dec = Decryptor::new(&FixedKey, &message[..], &options).unwrap();
                    let mut at = 0;
                    loop {
                        let n = dec.read(&mut out[at..]).unwrap();
                        if n == 0 {
                            break;
                        }
                        at += n;
                    }
                    assert!(dec.is_complete());
                    assert_eq!(at, len);
                });
                assert_eq!(
                    found, 0,
                    "decrypt {suite:?} {frame}/{len} threads {threads}"
                );
                assert!(*out == *plain);
            }
        }
    }
}

#[test]
fn the_scan_sees_plaintext_that_is_freed() {
    // The allocator's check itself: a plain Vec of plaintext, dropped, is found.
    let found = freed_with_plaintext(|| {
        let v: Vec<u8> = MARKER.iter().copied().cycle().take(100).collect();
        drop(std::hint::black_box(v));
    });
    assert_eq!(found, 1);
}
