//! The envelope message reader (header, frames, footer) on arbitrary bytes: with a fixed
//! data key, and for the signing suite the verifying key the context carries, it must
//! return an error or plaintext, never panic. The harness is shared with the crate's
//! `tests/mutations.rs`, which runs it in CI over mutations of valid messages.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/lockbox-envelope/tests/fixed/mod.rs"]
mod fixed;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = fixed::decrypt_all(data) {
        // Nothing but the bytes can be at fault: no KMS, no I/O, no caller error.
        assert!(e.is_bad_message(), "{e}");
    }
});
