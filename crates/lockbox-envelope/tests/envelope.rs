//! Messages written and read over the real engine on a throwaway SoftHSM token: both
//! suites, many frame lengths and sizes, several keys, streaming, and the errors a reader
//! must give.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::io::{Read, Write};
use std::sync::Arc;

use common::{Setup, data};
use lockbox::api::Kms;
use lockbox_envelope::{
    DecryptOptions, Decryptor, EncryptOptions, Encryptor, EnvelopeError, KmsKeyring,
    PUBLIC_KEY_CONTEXT_KEY, Suite,
};
use lockbox_token::testing::{TestResult, TestToken};

const SUITES: [Suite; 2] = [
    Suite::Aes256GcmHkdfSha512CommitKey,
    Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
];

mod run {
    use lockbox_token::testing::run_isolated;

    isolated!(round_trips_for_both_suites_frame_lengths_and_sizes);
    isolated!(any_one_of_several_keys_decrypts);
    isolated!(streams_in_frames_and_reads_lazily);
    isolated!(threads_change_nothing_in_the_message);
    isolated!(context_is_bound_and_checked);
    isolated!(keys_not_allowed_or_not_usable_are_reported);
    isolated!(bad_parameters_are_refused_before_any_kms_call);
}

fn round_trips_for_both_suites_frame_lengths_and_sizes(t: &TestToken) -> TestResult {
    let s = Setup::new(t, 1)?;
    let keyring = KmsKeyring::new(s.kms(), &s.keys)?;
    for suite in SUITES {
        for frame in [1u32, 7, 4096, 1 << 20] {
            let f = frame as usize;
            let mut sizes = vec![0, 1, f.saturating_sub(1), f, f + 1, 3 * f, 3 * f + 5];
            sizes.retain(|&n| n <= 3 << 20);
            sizes.dedup();
            for n in sizes {
                let plain = data(n, n as u8);
                let opts = EncryptOptions::default()
                    .with_suite(suite)
                    .with_frame_length(frame)
                    .with_context([("purpose", "test")]);
                let msg = lockbox_envelope::encrypt(&keyring, &opts, &plain)?;
                let (back, header) =
                    lockbox_envelope::decrypt(&keyring, &msg, &DecryptOptions::default())?;
                assert!(back == plain, "{suite:?} frame {frame} size {n}");
                assert_eq!(header.suite, suite);
                assert_eq!(header.frame_length, frame);
                assert_eq!(header.context["purpose"], "test");
                assert_eq!(
                    header.context.contains_key(PUBLIC_KEY_CONTEXT_KEY),
                    suite.is_signed()
                );
                assert_eq!(header.encrypted_data_keys.len(), 1);
                assert_eq!(header.encrypted_data_keys[0].provider_id, "aws-kms");
                assert_eq!(
                    header.encrypted_data_keys[0].provider_info_str(),
                    Some(s.keys[0].as_str())
                );
                // Exact length: header, frames (regular: 4+12+f+16, final: 4+4+12+4+len+16),
                // footer (2 + 103) for the signing suite.
                let regular = n / f - usize::from(n % f == 0 && n > 0);
                let last = n - regular * f;
                let header_len = msg.len()
                    - regular * (4 + 12 + f + 16)
                    - (4 + 4 + 12 + 4 + last + 16)
                    - if suite.is_signed() { 2 + 103 } else { 0 };
                assert!(header_len > 100 && header_len < 1000, "header {header_len}");
            }
        }
    }
    // One GenerateDataKey per message: no cache here.
    assert_eq!(s.kms.calls("decrypt"), s.kms.calls("generate_data_key"));
    Ok(())
}

fn any_one_of_several_keys_decrypts(t: &TestToken) -> TestResult {
    let s = Setup::new(t, 3)?;
    let all = KmsKeyring::new(s.kms(), &s.keys)?;
    let plain = data(10_000, 3);
    for suite in SUITES {
        let opts = EncryptOptions::default()
            .with_suite(suite)
            .with_frame_length(1000);
        let msg = lockbox_envelope::encrypt(&all, &opts, &plain)?;
        let (_, header) = lockbox_envelope::decrypt(&all, &msg, &DecryptOptions::default())?;
        let infos: Vec<_> = header
            .encrypted_data_keys
            .iter()
            .map(|e| e.provider_info_str().unwrap().to_owned())
            .collect();
        assert_eq!(infos, s.keys, "one encrypted data key per CMK, in order");
        for key in &s.keys {
            let one = KmsKeyring::new(s.kms(), std::slice::from_ref(key))?;
            let (back, _) = lockbox_envelope::decrypt(&one, &msg, &DecryptOptions::default())?;
            assert!(back == plain);
        }
        let discovery = KmsKeyring::discovery(s.kms());
        let (back, _) = lockbox_envelope::decrypt(&discovery, &msg, &DecryptOptions::default())?;
        assert!(back == plain);
        // A reader may cap the number of encrypted data keys.
        let capped = DecryptOptions {
            max_encrypted_data_keys: 2,
            ..DecryptOptions::default()
        };
        assert!(matches!(
            lockbox_envelope::decrypt(&all, &msg, &capped),
            Err(EnvelopeError::Limit(_))
        ));
        let small_frames = DecryptOptions {
            max_frame_length: 999,
            ..DecryptOptions::default()
        };
        let before = s.kms.calls("decrypt");
        assert!(matches!(
            lockbox_envelope::decrypt(&all, &msg, &small_frames),
            Err(EnvelopeError::Limit(m)) if m.contains("frame length is 1000")
        ));
        assert_eq!(
            s.kms.calls("decrypt"),
            before,
            "refused before any KMS call"
        );
    }
    // Keys named by alias resolve to their ARN.
    s.kms.create_alias(lockbox::api::AliasRequest::new(
        "alias/envelope".parse()?,
        s.keys[1].parse::<lockbox::api::KeyRef>()?,
    ))?;
    let by_alias = KmsKeyring::new(s.kms(), &["alias/envelope".to_owned()])?;
    let msg = lockbox_envelope::encrypt(&by_alias, &EncryptOptions::default(), b"x")?;
    let (_, header) = lockbox_envelope::decrypt(&by_alias, &msg, &DecryptOptions::default())?;
    assert_eq!(
        header.encrypted_data_keys[0].provider_info_str(),
        Some(s.keys[1].as_str())
    );
    Ok(())
}

/// Counts what a reader has consumed.
struct Counted<R> {
    inner: R,
    consumed: Arc<std::sync::atomic::AtomicUsize>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed
            .fetch_add(n, std::sync::atomic::Ordering::SeqCst);
        Ok(n)
    }
}

fn streams_in_frames_and_reads_lazily(t: &TestToken) -> TestResult {
    let s = Setup::new(t, 1)?;
    let keyring = KmsKeyring::new(s.kms(), &s.keys)?;
    let frame = 64 * 1024;
    let plain = data(20 << 20, 9);
    for suite in SUITES {
        let opts = EncryptOptions::default()
            .with_suite(suite)
            .with_frame_length(frame);
        // Unknown length, odd write sizes.
        let mut enc = Encryptor::new(&keyring, &opts, None, Vec::new())?;
        for chunk in plain.chunks(100_003) {
            enc.write_all(chunk)?;
        }
        let msg = enc.finish()?;
        let one_shot = lockbox_envelope::decrypt(&keyring, &msg, &DecryptOptions::default())?;
        assert!(one_shot.0 == plain);

        let consumed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let input = Counted {
            inner: &msg[..],
            consumed: Arc::clone(&consumed),
        };
        let one_thread = DecryptOptions {
            threads: 1,
            ..DecryptOptions::default()
        };
        let mut dec = Decryptor::new(&keyring, input, &one_thread)?;
        let mut first = vec![0u8; 10];
        dec.read_exact(&mut first)?;
        assert_eq!(first, plain[..10]);
        let read = consumed.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            read < 2 * (frame as usize) + 4096,
            "after 10 bytes of plaintext the reader consumed {read} bytes"
        );
        let mut rest = Vec::new();
        dec.read_to_end(&mut rest)?;
        assert!(dec.is_complete());
        assert!(first.len() + rest.len() == plain.len() && rest == plain[10..]);
    }
    Ok(())
}

fn context_is_bound_and_checked(t: &TestToken) -> TestResult {
    let s = Setup::new(t, 1)?;
    let keyring = KmsKeyring::new(s.kms(), &s.keys)?;
    let opts = EncryptOptions::default().with_context([("tenant", "a"), ("purpose", "backup")]);
    let msg = lockbox_envelope::encrypt(&keyring, &opts, b"secret")?;
    let mut expect = DecryptOptions::default();
    expect.expected_context.insert("tenant".into(), "a".into());
    assert_eq!(
        lockbox_envelope::decrypt(&keyring, &msg, &expect)?.0,
        b"secret"
    );
    expect.expected_context.insert("tenant".into(), "b".into());
    let err = lockbox_envelope::decrypt(&keyring, &msg, &expect).unwrap_err();
    assert!(
        matches!(&err, EnvelopeError::Authentication(m) if m.contains("\"tenant\"")),
        "{err}"
    );
    expect.expected_context.clear();
    expect
        .expected_context
        .insert("stage".into(), "prod".into());
    assert!(matches!(
        lockbox_envelope::decrypt(&keyring, &msg, &expect),
        Err(EnvelopeError::Authentication(_))
    ));
    // Reserved prefix.
    let reserved = EncryptOptions::default().with_context([("aws-crypto-x", "1")]);
    assert!(matches!(
        lockbox_envelope::encrypt(&keyring, &reserved, b""),
        Err(EnvelopeError::InvalidInput(m)) if m.contains("aws-crypto-")
    ));
    Ok(())
}

fn keys_not_allowed_or_not_usable_are_reported(t: &TestToken) -> TestResult {
    let s = Setup::new(t, 2)?;
    let a = KmsKeyring::new(s.kms(), &s.keys[..1])?;
    let b = KmsKeyring::new(s.kms(), &s.keys[1..])?;
    let msg = lockbox_envelope::encrypt(&a, &EncryptOptions::default(), b"for a")?;
    let before = s.kms.calls("decrypt");
    let err = lockbox_envelope::decrypt(&b, &msg, &DecryptOptions::default()).unwrap_err();
    assert!(
        matches!(&err, EnvelopeError::NoDecryptableKey(m) if m.contains("1 not from an allowed")),
        "{err}"
    );
    assert_eq!(
        s.kms.calls("decrypt"),
        before,
        "a strict keyring calls no KMS for other keys"
    );
    // Disabled key: the KMS refuses; the error says which key and why.
    s.kms.disable_key(lockbox::api::DisableKeyRequest::new(
        s.keys[0].parse::<lockbox::api::KeyRef>()?,
    ))?;
    let err = lockbox_envelope::decrypt(&a, &msg, &DecryptOptions::default()).unwrap_err();
    assert!(
        matches!(&err, EnvelopeError::NoDecryptableKey(m) if m.contains("DisabledException") && m.contains(&s.keys[0])),
        "{err}"
    );
    let err = lockbox_envelope::encrypt(&a, &EncryptOptions::default(), b"x").unwrap_err();
    assert!(
        matches!(&err, EnvelopeError::Kms(e) if e.kind() == lockbox::api::ErrorKind::Disabled),
        "{err}"
    );
    Ok(())
}

fn bad_parameters_are_refused_before_any_kms_call(t: &TestToken) -> TestResult {
    let s = Setup::new(t, 1)?;
    let keyring = KmsKeyring::new(s.kms(), &s.keys)?;
    for frame in [0, (1u32 << 31)] {
        let err = lockbox_envelope::encrypt(
            &keyring,
            &EncryptOptions::default().with_frame_length(frame),
            b"",
        )
        .unwrap_err();
        assert!(
            matches!(&err, EnvelopeError::InvalidInput(m) if m.contains("frame length")),
            "{err}"
        );
    }
    assert_eq!(s.kms.calls("generate_data_key"), 0);
    // Declared length enforced both ways.
    let mut enc = Encryptor::new(&keyring, &EncryptOptions::default(), Some(3), Vec::new())?;
    assert!(enc.write_all(b"four").is_err());
    let mut enc = Encryptor::new(&keyring, &EncryptOptions::default(), Some(3), Vec::new())?;
    enc.write_all(b"tw")?;
    assert!(matches!(enc.finish(), Err(EnvelopeError::InvalidInput(_))));
    assert!(matches!(
        KmsKeyring::new(s.kms(), &[]),
        Err(EnvelopeError::InvalidInput(_))
    ));
    assert!(matches!(
        KmsKeyring::new(s.kms(), &["alias/none".to_owned()]),
        Err(EnvelopeError::Kms(e)) if e.kind() == lockbox::api::ErrorKind::NotFound
    ));
    let discovery = KmsKeyring::discovery(s.kms());
    assert!(matches!(
        lockbox_envelope::encrypt(&discovery, &EncryptOptions::default(), b""),
        Err(EnvelopeError::InvalidInput(_))
    ));
    // Not a message at all.
    for junk in [&b""[..], b"\x02", b"hello world", &[0x01; 200]] {
        let err =
            lockbox_envelope::decrypt(&keyring, junk, &DecryptOptions::default()).unwrap_err();
        assert!(err.is_bad_message(), "{err}");
    }
    Ok(())
}

fn threads_change_nothing_in_the_message(t: &TestToken) -> TestResult {
    let s = Setup::new(t, 1)?;
    let keyring = KmsKeyring::new(s.kms(), &s.keys)?;
    for suite in SUITES {
        for (frame, n) in [
            (1000u32, 0usize),
            (1000, 999),
            (1000, 1000),
            (1000, 1_000_001),
            (1 << 20, 5 << 20),
        ] {
            let plain = data(n, 5);
            let mut messages = Vec::new();
            for threads in [1usize, 2, 3] {
                let opts = EncryptOptions::default()
                    .with_suite(suite)
                    .with_frame_length(frame)
                    .with_threads(threads);
                let msg = lockbox_envelope::encrypt(&keyring, &opts, &plain)?;
                for dthreads in [1usize, 2, 3] {
                    let dopts = DecryptOptions {
                        threads: dthreads,
                        ..DecryptOptions::default()
                    };
                    let (back, _) = lockbox_envelope::decrypt(&keyring, &msg, &dopts)?;
                    assert!(back == plain, "{suite:?} {frame} {n} {threads}/{dthreads}");
                }
                messages.push(msg);
            }
            // Same layout whatever the threads: only the message id, keys and tags differ.
            assert!(messages.iter().all(|m| m.len() == messages[0].len()));
        }
    }
    Ok(())
}
