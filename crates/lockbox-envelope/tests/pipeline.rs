//! Whole streams through the pipelined paths (`Encryptor::encrypt_from`,
//! `Decryptor::decrypt_to`), with no KMS (`fixed::FixedKey`): they write the same messages
//! as `write` and release what `read` releases, across batch boundaries, with inputs that
//! arrive in odd pieces, and they refuse what the streaming paths refuse.

mod fixed;

use std::io::{self, Read, Write};

use fixed::{FixedKey, decrypt_all};
use lockbox_envelope::{
    DecryptOptions, Decryptor, EncryptOptions, Encryptor, EnvelopeError, Suite,
};

const SUITES: [Suite; 2] = [
    Suite::Aes256GcmHkdfSha512CommitKey,
    Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
];

fn options(suite: Suite, frame_length: u32, threads: usize) -> EncryptOptions {
    EncryptOptions::default()
        .with_suite(suite)
        .with_frame_length(frame_length)
        .with_threads(threads)
        .with_context([("purpose", "pipeline test")])
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Yields its bytes a few at a time (1 to 7 per read), with an `Interrupted` now and then.
struct Trickle<'a> {
    bytes: &'a [u8],
    n: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.n += 1;
        if self.n.is_multiple_of(5) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let take = (1 + self.n % 7).min(buf.len()).min(self.bytes.len());
        buf[..take].copy_from_slice(&self.bytes[..take]);
        self.bytes = &self.bytes[take..];
        Ok(take)
    }
}

fn pipelined(
    opts: &EncryptOptions,
    input: &mut dyn Read,
    declared: Option<u64>,
) -> Result<Vec<u8>, EnvelopeError> {
    Encryptor::new(&FixedKey, opts, declared, Vec::new())?.encrypt_from(input)
}

fn decrypt_to(msg: &[u8], threads: usize) -> Result<Vec<u8>, EnvelopeError> {
    let options = DecryptOptions {
        threads,
        ..DecryptOptions::default()
    };
    let mut out = Vec::new();
    Decryptor::new(&FixedKey, msg, &options)?.decrypt_to(&mut out)?;
    Ok(out)
}

#[test]
fn whole_streams_round_trip_in_the_same_framing_as_write() -> Result<(), EnvelopeError> {
    // Frames of 64 bytes: 2 threads put 1024 frames in a batch, so 3000 frames cross batch
    // boundaries (and the pending full frame crosses with them).
    for suite in SUITES {
        for threads in [1, 2] {
            for len in [
                0usize,
                1,
                63,
                64,
                65,
                128,
                1024 * 64,
                1024 * 64 + 1,
                3000 * 64,
                3000 * 64 + 5,
            ] {
                let opts = options(suite, 64, threads);
                let plain = plaintext(len);
                let by_write = lockbox_envelope::encrypt(&FixedKey, &opts, &plain)?;
                let declared = (len % 2 == 0).then_some(len as u64);
                let msg = pipelined(&opts, &mut &plain[..], declared)?;
                let what = format!("suite {suite:?}, {threads} thread(s), {len} bytes");
                // The same frames (a message id and, signed, a key differ): the same length.
                assert_eq!(msg.len(), by_write.len(), "{what}");
                assert_eq!(decrypt_all(&msg)?, plain, "{what}: read back by `read`");
                assert_eq!(
                    decrypt_to(&by_write, threads)?,
                    plain,
                    "{what}: `write`'s, by decrypt_to"
                );
                assert_eq!(decrypt_to(&msg, threads)?, plain, "{what}: both pipelined");
            }
        }
    }
    Ok(())
}

#[test]
fn inputs_that_arrive_in_pieces_give_the_same_message() -> Result<(), EnvelopeError> {
    for suite in SUITES {
        let plain = plaintext(5000);
        let opts = options(suite, 100, 2);
        let msg = pipelined(
            &opts,
            &mut Trickle {
                bytes: &plain,
                n: 0,
            },
            Some(5000),
        )?;
        assert_eq!(
            msg.len(),
            lockbox_envelope::encrypt(&FixedKey, &opts, &plain)?.len()
        );
        assert_eq!(decrypt_all(&msg)?, plain);
        let dec = Decryptor::new(
            &FixedKey,
            Trickle { bytes: &msg, n: 0 },
            &DecryptOptions::default(),
        )?;
        let mut out = Vec::new();
        dec.decrypt_to(&mut out)?;
        assert_eq!(out, plain);
    }
    Ok(())
}

#[test]
fn a_declared_length_is_enforced() {
    let opts = options(Suite::Aes256GcmHkdfSha512CommitKey, 16, 2);
    let plain = plaintext(40);
    match pipelined(&opts, &mut &plain[..], Some(39)) {
        Err(EnvelopeError::InvalidInput(m)) => {
            assert_eq!(m, "more than the declared 39 plaintext bytes were written");
        }
        other => panic!("{other:?}"),
    }
    match pipelined(&opts, &mut &plain[..], Some(41)) {
        Err(EnvelopeError::InvalidInput(m)) => {
            assert_eq!(
                m,
                "40 bytes were written but the plaintext length was declared as 41"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_pipelined_paths_take_whole_streams_only() -> Result<(), EnvelopeError> {
    let opts = options(Suite::Aes256GcmHkdfSha512CommitKey, 16, 2);
    let mut enc = Encryptor::new(&FixedKey, &opts, None, Vec::new())?;
    enc.write_all(b"already")?;
    match enc.encrypt_from(&mut &b"more"[..]) {
        Err(EnvelopeError::InvalidInput(m)) => assert!(
            m.starts_with("encrypt_from takes the whole plaintext"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    let msg = lockbox_envelope::encrypt(&FixedKey, &opts, &plaintext(100))?;
    let mut dec = Decryptor::new(&FixedKey, &msg[..], &DecryptOptions::default())?;
    let mut first = [0u8; 1];
    dec.read_exact(&mut first)?;
    match dec.decrypt_to(&mut Vec::new()) {
        Err(EnvelopeError::InvalidInput(m)) => {
            assert!(m.starts_with("decrypt_to takes the whole message"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[test]
fn a_tampered_frame_stops_release_at_its_batch() -> Result<(), EnvelopeError> {
    // 64-byte frames, 2 threads: batches of 1024 frames. Frame 1500 is in the second batch:
    // exactly the first batch is released, as `read` releases it, then the error.
    let opts = options(Suite::Aes256GcmHkdfSha512CommitKey, 64, 2);
    let plain = plaintext(3000 * 64);
    let mut msg = lockbox_envelope::encrypt(&FixedKey, &opts, &plain)?;
    // 2999 regular frames (sequence number, IV, 64 bytes, tag) and a full final frame
    // (marker, sequence number, IV, length, 64 bytes, tag) follow the header.
    let (regular, last) = (4 + 12 + 64 + 16, 4 + 4 + 12 + 4 + 64 + 16);
    let header_len = msg.len() - 2999 * regular - last;
    let frame_at = |seq: usize| header_len + (seq - 1) * regular;
    msg[frame_at(1500) + 4 + 12 + 10] ^= 1;
    let options = DecryptOptions {
        threads: 2,
        ..DecryptOptions::default()
    };
    let mut out = Vec::new();
    match Decryptor::new(&FixedKey, &msg[..], &options)?.decrypt_to(&mut out) {
        Err(EnvelopeError::Authentication(m)) => assert_eq!(m, "frame 1500 does not authenticate"),
        other => panic!("{other:?}"),
    }
    assert_eq!(out.len(), 1024 * 64);
    assert_eq!(out[..], plain[..1024 * 64]);
    // `read` releases the same bytes before the same error.
    let mut dec = Decryptor::new(&FixedKey, &msg[..], &options)?;
    let mut by_read = Vec::new();
    let err = dec
        .read_to_end(&mut by_read)
        .map_err(EnvelopeError::from_io);
    assert_eq!(
        err.map_err(|e| e.to_string()),
        Err("authentication failed: frame 1500 does not authenticate".to_owned())
    );
    assert_eq!(by_read, out);
    Ok(())
}

#[test]
fn a_bad_signature_releases_nothing_of_the_final_batch() -> Result<(), EnvelopeError> {
    let opts = options(Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384, 64, 2);
    let plain = plaintext(10 * 64);
    let mut msg = lockbox_envelope::encrypt(&FixedKey, &opts, &plain)?;
    let last = msg.len() - 1;
    msg[last] ^= 1;
    let mut out = Vec::new();
    let dec = Decryptor::new(&FixedKey, &msg[..], &DecryptOptions::default())?;
    match dec.decrypt_to(&mut out) {
        Err(EnvelopeError::Authentication(m)) => assert!(m.contains("signature"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(out.is_empty(), "{} bytes released", out.len());
    // Cut short: truncated, and again nothing of the final batch.
    let msg = lockbox_envelope::encrypt(&FixedKey, &opts, &plain)?;
    let mut out = Vec::new();
    let dec = Decryptor::new(
        &FixedKey,
        &msg[..msg.len() - 20],
        &DecryptOptions::default(),
    )?;
    assert!(matches!(
        dec.decrypt_to(&mut out),
        Err(EnvelopeError::Truncated(_))
    ));
    assert!(out.is_empty());
    Ok(())
}

/// Fails every read after the first `ok` bytes, or every write after the first `ok` bytes.
struct Failing {
    ok: usize,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ok == 0 {
            return Err(io::Error::other("the disk went away"));
        }
        let n = buf.len().min(self.ok);
        buf[..n].fill(3);
        self.ok -= n;
        Ok(n)
    }
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.ok < buf.len() {
            return Err(io::Error::other("the disk is full"));
        }
        self.ok -= buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn input_and_output_errors_come_back_as_they_were() -> Result<(), EnvelopeError> {
    let opts = options(Suite::Aes256GcmHkdfSha512CommitKey, 64, 2);
    match pipelined(&opts, &mut Failing { ok: 100_000 }, None) {
        Err(EnvelopeError::Io(e)) => assert_eq!(e.to_string(), "the disk went away"),
        other => panic!("{other:?}"),
    }
    let enc = Encryptor::new(&FixedKey, &opts, None, Failing { ok: 5000 })?;
    match enc.encrypt_from(&mut &plaintext(200_000)[..]) {
        Err(EnvelopeError::Io(e)) => assert_eq!(e.to_string(), "the disk is full"),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a full disk went unnoticed"),
    }
    let msg = lockbox_envelope::encrypt(&FixedKey, &opts, &plaintext(200_000))?;
    let dec = Decryptor::new(&FixedKey, &msg[..], &DecryptOptions::default())?;
    match dec.decrypt_to(&mut Failing { ok: 5000 }) {
        Err(EnvelopeError::Io(e)) => assert_eq!(e.to_string(), "the disk is full"),
        other => panic!("{other:?}"),
    }
    Ok(())
}
