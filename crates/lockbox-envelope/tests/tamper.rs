//! Every way a stored message can be altered is caught, and no plaintext of an altered or
//! missing part is released: every flipped byte of header, frames and signature, truncation
//! at every byte (so at every frame boundary), swapped, dropped and repeated frames, bytes
//! appended, the wrong context.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;

use common::{Setup, data};
use lockbox_envelope::{
    DecryptOptions, Decryptor, EncryptOptions, EnvelopeError, KmsKeyring, MaterialsManager, Suite,
};
use lockbox_token::testing::{TestResult, TestToken, run_isolated};

const FRAME: usize = 16;
const PLAIN_LEN: usize = 2 * FRAME + 8;
const REGULAR: usize = 4 + 12 + FRAME + 16;
const FINAL: usize = 4 + 4 + 12 + 4 + 8 + 16;

#[test]
fn every_alteration_of_an_unsigned_message_is_caught() {
    run_isolated(
        module_path!(),
        "every_alteration_of_an_unsigned_message_is_caught",
        |t| alterations(t, Suite::Aes256GcmHkdfSha512CommitKey),
    );
}

#[test]
fn every_alteration_of_a_signed_message_is_caught() {
    run_isolated(
        module_path!(),
        "every_alteration_of_a_signed_message_is_caught",
        |t| alterations(t, Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384),
    );
}

/// What a streaming reader releases before it fails (or all of it, if it does not): the
/// most a one-thread reader releases, after checking that a reader with a batch of frames
/// on several threads releases no more.
fn released(km: &dyn MaterialsManager, msg: &[u8]) -> (Vec<u8>, Option<EnvelopeError>) {
    let (batched, batched_err) = released_with(km, msg, 2);
    let (single, single_err) = released_with(km, msg, 1);
    assert!(batched.len() <= single.len());
    assert_eq!(batched_err.is_some(), single_err.is_some());
    (single, single_err)
}

fn released_with(
    km: &dyn MaterialsManager,
    msg: &[u8],
    threads: usize,
) -> (Vec<u8>, Option<EnvelopeError>) {
    let mut out = Vec::new();
    let options = DecryptOptions {
        threads,
        ..DecryptOptions::default()
    };
    let mut dec = match Decryptor::new(km, msg, &options) {
        Ok(d) => d,
        Err(e) => return (out, Some(e)),
    };
    let mut buf = [0u8; 7];
    loop {
        match dec.read(&mut buf) {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Some(EnvelopeError::from_io(e))),
        }
    }
}

fn alterations(t: &TestToken, suite: Suite) -> TestResult {
    let s = Setup::new(t, 1)?;
    let keyring = KmsKeyring::new(s.kms(), &s.keys)?;
    let plain = data(PLAIN_LEN, 42);
    let opts = EncryptOptions::default()
        .with_suite(suite)
        .with_frame_length(FRAME as u32)
        .with_context([("purpose", "tamper")]);
    let msg = lockbox_envelope::encrypt(&keyring, &opts, &plain)?;
    let footer = if suite.is_signed() { 2 + 103 } else { 0 };
    let header_len = msg.len() - 2 * REGULAR - FINAL - footer;
    let frame_start = |k: usize| header_len + k * REGULAR;
    let footer_start = frame_start(2) + FINAL;
    let (all, none) = released(&keyring, &msg);
    assert!(all == plain && none.is_none());

    // Plaintext a reader may have released when the damage is at `at`: the whole frames
    // before the damaged one, never the final frame unless the whole message checked out.
    let allowed = |at: usize| -> usize {
        // In the header or the first frame: nothing.
        if at < frame_start(1) {
            0
        } else if at < frame_start(2) {
            FRAME
        } else {
            2 * FRAME
        }
    };

    // Every byte flipped, each bit pattern 0x01 and 0x80 (a length's low and high bits).
    for at in 0..msg.len() {
        for mask in [0x01u8, 0x80] {
            let mut bad = msg.clone();
            bad[at] ^= mask;
            let whole = lockbox_envelope::decrypt(&keyring, &bad, &DecryptOptions::default());
            let err = whole
                .err()
                .unwrap_or_else(|| panic!("flip {mask:#x} at {at} accepted"));
            assert!(err.is_bad_message(), "flip at {at}: {err}");
            let (out, err) = released(&keyring, &bad);
            assert!(err.is_some(), "flip at {at}: the stream reported success");
            assert!(
                out.len() <= allowed(at) && out[..] == plain[..out.len()],
                "flip at {at} (header {header_len}, footer {footer_start}): released {} bytes",
                out.len()
            );
        }
    }

    // Cut at every length, so at every frame boundary and inside every field.
    for cut in 0..msg.len() {
        let err = lockbox_envelope::decrypt(&keyring, &msg[..cut], &DecryptOptions::default())
            .err()
            .unwrap_or_else(|| panic!("cut at {cut} accepted"));
        assert!(
            matches!(err, EnvelopeError::Truncated(_)),
            "cut at {cut}: {err}"
        );
        let (out, err) = released(&keyring, &msg[..cut]);
        assert!(
            matches!(err, Some(EnvelopeError::Truncated(_))),
            "cut at {cut}"
        );
        assert!(
            out.len() <= allowed(cut) && out[..] == plain[..out.len()],
            "cut at {cut}"
        );
    }
    // The frame boundaries by name, with the message each gives.
    for (cut, says) in [
        (frame_start(0), "after its header, with no frames"),
        (frame_start(1), "after frame 1 with no final frame"),
        (frame_start(2), "after frame 2 with no final frame"),
    ] {
        let err = lockbox_envelope::decrypt(&keyring, &msg[..cut], &DecryptOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains(says), "cut at {cut}: {err}");
    }
    if suite.is_signed() {
        let err =
            lockbox_envelope::decrypt(&keyring, &msg[..footer_start], &DecryptOptions::default())
                .unwrap_err();
        assert!(err.to_string().contains("signature"), "{err}");
    }

    // Frames swapped, dropped, repeated: the sequence check names what was found.
    let frames = |order: &[usize]| -> Vec<u8> {
        let mut v = msg[..header_len].to_vec();
        for &k in order {
            v.extend_from_slice(&msg[frame_start(k)..frame_start(k + 1)]);
        }
        v.extend_from_slice(&msg[frame_start(2)..]);
        v
    };
    for (order, says) in [
        (&[1, 0][..], "frame 2 found where frame 1 belongs"),
        (&[1][..], "frame 2 found where frame 1 belongs"),
        (&[0, 0][..], "frame 1 found where frame 2 belongs"),
        (&[0][..], "frame 3 found where frame 2 belongs"),
    ] {
        let bad = frames(order);
        let err =
            lockbox_envelope::decrypt(&keyring, &bad, &DecryptOptions::default()).unwrap_err();
        assert!(
            matches!(&err, EnvelopeError::Authentication(m) if m.contains(says)),
            "{order:?}: {err}"
        );
        let (out, _) = released(&keyring, &bad);
        assert!(
            out.len() <= FRAME && out[..] == plain[..out.len()],
            "{order:?}"
        );
    }

    // Bytes after the end.
    let mut longer = msg.clone();
    longer.push(0);
    let err = lockbox_envelope::decrypt(&keyring, &longer, &DecryptOptions::default()).unwrap_err();
    assert!(
        matches!(&err, EnvelopeError::Malformed(m) if m.contains("follow the end")),
        "{err}"
    );
    assert!(released(&keyring, &longer).0.len() <= 2 * FRAME);

    // A frame from another message under another data key, spliced in.
    let other = lockbox_envelope::encrypt(&keyring, &opts, &plain)?;
    let other_header = other.len() - 2 * REGULAR - FINAL - footer;
    let mut spliced = msg.clone();
    spliced[frame_start(1)..frame_start(2)]
        .copy_from_slice(&other[other_header + REGULAR..other_header + 2 * REGULAR]);
    let err =
        lockbox_envelope::decrypt(&keyring, &spliced, &DecryptOptions::default()).unwrap_err();
    assert!(
        matches!(&err, EnvelopeError::Authentication(m) if m.contains("frame 2")),
        "{err}"
    );

    // The wrong context: required by the reader, or swapped into the header.
    let mut wrong = DecryptOptions::default();
    wrong
        .expected_context
        .insert("purpose".into(), "other".into());
    let err = lockbox_envelope::decrypt(&keyring, &msg, &wrong).unwrap_err();
    assert!(matches!(err, EnvelopeError::Authentication(_)), "{err}");
    let pos = msg
        .windows(6)
        .position(|w| w == b"tamper")
        .expect("the context is in the header in the clear");
    let mut renamed = msg.clone();
    renamed[pos..pos + 6].copy_from_slice(b"TAMPER");
    let err =
        lockbox_envelope::decrypt(&keyring, &renamed, &DecryptOptions::default()).unwrap_err();
    // The KMS refuses the data key under another context before the header tag is checked.
    assert!(
        matches!(&err, EnvelopeError::NoDecryptableKey(m) if m.contains("InvalidCiphertextException")),
        "{err}"
    );
    Ok(())
}
