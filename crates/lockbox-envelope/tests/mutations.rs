//! The reader against damaged messages, with no KMS: a fixed data key (`fixed::FixedKey`),
//! valid messages of both suites, and a few thousand pseudo-random mutations of each, fed
//! through the same harness as the cargo-fuzz target `envelope_message`. Every mutated
//! message must be refused as a bad message (never a panic, never other plaintext).

mod fixed;

use std::collections::BTreeMap;

use fixed::{FixedKey, decrypt_all, decrypt_pipelined};
use lockbox_envelope::{
    EncryptOptions, Encryptor, EnvelopeError, FINAL_FRAME_MARKER, PUBLIC_KEY_CONTEXT_KEY, Suite,
};

const SUITES: [Suite; 2] = [
    Suite::Aes256GcmHkdfSha512CommitKey,
    Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
];

fn options(suite: Suite, frame_length: u32) -> EncryptOptions {
    EncryptOptions::default()
        .with_suite(suite)
        .with_frame_length(frame_length)
        .with_context([("purpose", "mutation test")])
}

/// xorshift64*: deterministic, so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One or a few random edits: bit flips, byte sets, cuts, inserts, deletes, chunk copies,
/// appends.
fn mutate(rng: &mut Rng, msg: &[u8]) -> Vec<u8> {
    let mut m = msg.to_vec();
    for _ in 0..1 + rng.below(3) {
        let len = m.len();
        match rng.below(7) {
            0 => {
                let i = rng.below(len);
                if let Some(b) = m.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
            1 => {
                let i = rng.below(len);
                let v = rng.next() as u8;
                if let Some(b) = m.get_mut(i) {
                    *b = v;
                }
            }
            2 => m.truncate(rng.below(len)),
            3 => {
                let i = rng.below(len + 1);
                m.insert(i, rng.next() as u8);
            }
            4 => {
                let i = rng.below(len);
                let n = (1 + rng.below(32)).min(len - i.min(len));
                m.drain(i..i + n);
            }
            5 => {
                let from = rng.below(len);
                let n = (1 + rng.below(64)).min(len - from.min(len));
                let chunk = m[from..from + n].to_vec();
                let to = rng.below(len + 1);
                m.splice(to..to, chunk);
            }
            _ => {
                let n = 1 + rng.below(8);
                for _ in 0..n {
                    m.push(rng.next() as u8);
                }
            }
        }
    }
    m
}

fn encrypt(suite: Suite, frame_length: u32, plaintext: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    lockbox_envelope::encrypt(&FixedKey, &options(suite, frame_length), plaintext)
}

#[test]
fn fixed_key_messages_round_trip() -> Result<(), EnvelopeError> {
    for suite in SUITES {
        for len in [0usize, 1, 15, 16, 17, 48, 100] {
            let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let msg = encrypt(suite, 16, &plaintext)?;
            assert_eq!(
                decrypt_all(&msg)?,
                plaintext,
                "suite {suite:?}, {len} bytes"
            );
            assert_eq!(
                decrypt_pipelined(&msg)?,
                plaintext,
                "suite {suite:?}, {len} bytes, pipelined"
            );
        }
    }
    Ok(())
}

#[test]
fn mutated_messages_are_refused_as_bad_messages() -> Result<(), EnvelopeError> {
    let plaintext: Vec<u8> = (0..50u8).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for suite in SUITES {
        // Frames of 16 bytes: three regular frames and a final one of 2 bytes.
        let msg = encrypt(suite, 16, &plaintext)?;
        let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
        for case in 0..2000 {
            let bad = mutate(&mut rng, &msg);
            if bad == msg {
                continue;
            }
            let outcome = decrypt_all(&bad);
            // The pipelined reader refuses exactly as the streaming one does.
            assert_eq!(
                decrypt_pipelined(&bad).map_err(|e| e.to_string()),
                outcome.as_ref().map_err(|e| e.to_string()).cloned(),
                "suite {suite:?} case {case}: the pipelined reader differs"
            );
            match outcome {
                Ok(out) => panic!(
                    "suite {suite:?} case {case}: a mutated message decrypted ({} bytes)",
                    out.len()
                ),
                Err(e) => {
                    assert!(e.is_bad_message(), "suite {suite:?} case {case}: {e}");
                    let kind = match e {
                        EnvelopeError::Malformed(_) => "malformed",
                        EnvelopeError::Truncated(_) => "truncated",
                        EnvelopeError::Authentication(_) => "authentication",
                        EnvelopeError::Unsupported(_) => "unsupported",
                        _ => "other",
                    };
                    *kinds.entry(kind).or_default() += 1;
                }
            }
        }
        // The mutations reach every layer of the reader, not only the first bytes.
        for kind in ["malformed", "truncated", "authentication", "unsupported"] {
            assert!(
                kinds.get(kind).copied().unwrap_or(0) > 0,
                "suite {suite:?}: no mutation failed as {kind}: {kinds:?}"
            );
        }
    }
    Ok(())
}

#[test]
fn an_unsigned_suite_with_a_public_key_in_its_context_is_malformed() -> Result<(), EnvelopeError> {
    // Only a manager that skips the reserved-prefix check can write this; the reader
    // refuses it as the AWS SDKs do, whatever manager it is given.
    let opts = options(Suite::Aes256GcmHkdfSha512CommitKey, 16)
        .with_context([(PUBLIC_KEY_CONTEXT_KEY, "AAAA")]);
    let msg = lockbox_envelope::encrypt(&FixedKey, &opts, b"data")?;
    assert!(matches!(
        decrypt_all(&msg),
        Err(EnvelopeError::Malformed(_))
    ));
    Ok(())
}

#[test]
fn the_frame_count_limit_counts_a_full_final_frame() -> Result<(), EnvelopeError> {
    // 2^32 - 1 bytes in 1-byte frames: 2^32 - 2 regular frames and a full final frame,
    // exactly the most frames a message may hold.
    let opts = options(Suite::Aes256GcmHkdfSha512CommitKey, 1);
    let most = u64::from(FINAL_FRAME_MARKER);
    Encryptor::new(&FixedKey, &opts, Some(most), Vec::new())?;
    assert!(matches!(
        Encryptor::new(&FixedKey, &opts, Some(most + 1), Vec::new()),
        Err(EnvelopeError::Limit(_))
    ));
    Ok(())
}
