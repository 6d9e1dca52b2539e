//! The token layer against real, throwaway SoftHSM tokens (one per test, in its own process).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeInfo, AttributeType};
use lockbox_token::{
    GCM_TAG_LEN, HmacDigest, IvGeneration, ObjectId, PinSource, SecretKeyTemplate, Token,
    TokenConfig, TokenError, TokenSelector, ValueAccess, token_test,
};

/// Opening the test token with a wrong PIN fails with a login error that names no PIN.
fn assert_wrong_pin_is_refused(
    t: &lockbox_token::testing::TestToken,
) -> Result<(), Box<dyn std::error::Error>> {
    let bad_pin = t.dir().join("bad.pin");
    if !bad_pin.exists() {
        lockbox_token::softhsm::write_private(&bad_pin, b"wrong-pin")?;
    }
    let mut cfg = t.config();
    cfg.pin = PinSource::File(bad_pin);
    match Token::open(&cfg) {
        Err(TokenError::Login(m)) => assert_eq!(m, "the PIN is incorrect"),
        other => panic!("expected a login error, got {:?}", other.err()),
    }
    Ok(())
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

token_test!(fn cmk_material_is_sensitive_non_extractable_and_refuses_its_value(t) {
    let token = t.open()?;
    let id = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/1")?;
    let report = token.inspect(&id)?;
    assert_eq!(report.label, "lockbox/key/1");
    assert!(report.is_aes);
    assert_eq!(report.value_len, Some(32));
    assert!(report.token && report.private && report.sensitive);
    assert!(!report.extractable && !report.modifiable && !report.copyable);
    assert!(report.always_sensitive && report.never_extractable);
    assert_eq!(report.usages, ["CKA_ENCRYPT", "CKA_DECRYPT"]);
    assert_eq!(report.value, ValueAccess::Sensitive);

    // Ask the token directly, through a context the code under test does not own.
    let s = t.raw_session()?;
    let handles = s.find_objects(&[Attribute::Id(id.as_bytes().to_vec())])?;
    assert_eq!(handles.len(), 1);
    let info = s.get_attribute_info(handles[0], &[AttributeType::Value, AttributeType::Sensitive])?;
    assert!(matches!(info[0], AttributeInfo::Sensitive), "CKA_VALUE must be refused, got {:?}", info[0]);
    let attrs = s.get_attributes(handles[0], &[AttributeType::Value])?;
    assert!(attrs.is_empty(), "the token returned CKA_VALUE");
    // Wrapping it out must fail too: it is not extractable.
    let wrapper = s.generate_key(&Mechanism::AesKeyGen, &[
        Attribute::ValueLen(32.into()), Attribute::Token(false), Attribute::Wrap(true),
    ])?;
    match s.wrap_key(&Mechanism::AesKeyWrapPad, wrapper, handles[0]) {
        Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::KeyUnextractable, _)) => {}
        other => panic!("wrapping the CMK out must fail with CKR_KEY_UNEXTRACTABLE, got {other:?}"),
    }
    Ok(())
});

token_test!(fn gcm_round_trip_and_every_tamper_fails_as_decrypt_failed(t) {
    let token = t.open()?;
    let id = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/1")?;
    let aad = b"header and context";
    let pt = b"attack at dawn";
    let mut out = vec![0u8; pt.len() + GCM_TAG_LEN];
    let sealed = token.encrypt_aes_gcm(&id, aad, pt, &mut out)?;
    assert_eq!(sealed.len, pt.len() + 16);
    assert_ne!(&out[..pt.len()], pt);

    let mut back = vec![0u8; out.len()];
    let n = token.decrypt_aes_gcm(&id, &sealed.iv, aad, &out, &mut back)?;
    assert_eq!(&back[..n], pt);

    for i in 0..out.len() {
        let mut bad = out.clone();
        bad[i] ^= 0x01;
        assert!(matches!(token.decrypt_aes_gcm(&id, &sealed.iv, aad, &bad, &mut back), Err(TokenError::DecryptFailed)), "byte {i}");
    }
    let mut iv = sealed.iv;
    iv[0] ^= 0x80;
    assert!(matches!(token.decrypt_aes_gcm(&id, &iv, aad, &out, &mut back), Err(TokenError::DecryptFailed)));
    assert!(matches!(token.decrypt_aes_gcm(&id, &sealed.iv, b"other", &out, &mut back), Err(TokenError::DecryptFailed)));
    assert!(matches!(token.decrypt_aes_gcm(&id, &sealed.iv, aad, &out[..10], &mut back), Err(TokenError::DecryptFailed)));
    let other = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/2")?;
    assert!(matches!(token.decrypt_aes_gcm(&other, &sealed.iv, aad, &out, &mut back), Err(TokenError::DecryptFailed)));
    // After all those failures the pooled sessions still work.
    let n = token.decrypt_aes_gcm(&id, &sealed.iv, aad, &out, &mut back)?;
    assert_eq!(&back[..n], pt);
    Ok(())
});

token_test!(fn gcm_matches_the_published_vector_and_an_independent_implementation(t) {
    // Test case 16 of the GCM specification (McGrew & Viega): AES-256, 96-bit IV, AAD.
    let key = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    let iv: [u8; 12] = hex("cafebabefacedbaddecaf888").try_into().unwrap();
    let pt = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let ct_tag = hex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f66276fc6ece0f4e1768cddf8853bb2d551b");
    t.import_known_aes_key(&key, [9; 16], "lockbox/test-vector")?;
    let id = ObjectId::from_bytes([9; 16]);
    let token = t.open()?;
    let mut out = vec![0u8; ct_tag.len()];
    let n = token.decrypt_aes_gcm(&id, &iv, &aad, &ct_tag, &mut out)?;
    assert_eq!(&out[..n], pt.as_slice());

    // Our encryption (host-drawn IV, caller-sized buffer) decrypts with RustCrypto's AES-GCM.
    let soft = Aes256Gcm::new_from_slice(&key).unwrap();
    for len in [1usize, 15, 16, 17, 1000, 4096] {
        let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut out = vec![0u8; len + 16];
        let sealed = token.encrypt_aes_gcm(&id, &aad, &msg, &mut out)?;
        let back = soft.decrypt(&Nonce::from(sealed.iv), Payload { msg: &out, aad: &aad }).map_err(|_| "aes-gcm rejected the token's ciphertext")?;
        assert_eq!(back, msg);
    }
    Ok(())
});

token_test!(fn ivs_are_fresh_for_every_encryption(t) {
    let token = t.open()?;
    let id = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/1")?;
    let mut seen = std::collections::HashSet::new();
    let mut out = [0u8; 17];
    for _ in 0..500 {
        assert!(seen.insert(token.encrypt_aes_gcm(&id, b"", b"x", &mut out)?.iv));
    }
    Ok(())
});

token_test!(fn output_buffers_are_checked_not_overrun(t) {
    let token = t.open()?;
    let id = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/1")?;
    let mut small = [0u8; 20];
    assert!(matches!(token.encrypt_aes_gcm(&id, b"", &[0u8; 5], &mut small), Err(TokenError::BufferTooSmall { needed: 21, given: 20 })));
    let mut out = [0u8; 21];
    let sealed = token.encrypt_aes_gcm(&id, b"", &[0u8; 5], &mut out)?;
    let mut back = [0u8; 20];
    assert!(matches!(token.decrypt_aes_gcm(&id, &sealed.iv, b"", &out, &mut back), Err(TokenError::BufferTooSmall { needed: 21, given: 20 })));
    Ok(())
});

token_test!(fn a_token_that_does_not_write_back_an_iv_is_refused(t) {
    let mut cfg = t.config();
    cfg.iv_generation = IvGeneration::Token;
    let token = Token::open(&cfg)?;
    let id = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/1")?;
    let mut out = [0u8; 17];
    match token.encrypt_aes_gcm(&id, b"", b"x", &mut out) {
        Err(TokenError::NotSupported(m)) => assert!(m.contains("token-generated GCM IVs"), "{m}"),
        other => panic!("expected NotSupported, got {other:?}"),
    }
    Ok(())
});

token_test!(fn random_bytes_come_back_fresh(t) {
    let token = t.open()?;
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    token.random(&mut a)?;
    token.random(&mut b)?;
    assert_ne!(a, b);
    assert_ne!(a, [0u8; 32]);
    Ok(())
});

token_test!(fn objects_are_listed_by_prefix_and_destroyed(t) {
    let token = t.open()?;
    let a = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/a")?;
    let b = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/b")?;
    let mut other_cfg = t.config();
    other_cfg.label_prefix = "other".into();
    let other = Token::open(&other_cfg)?;
    let c = other.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/c")?;

    let listed: Vec<_> = token.list_objects()?.into_iter().map(|o| (o.id, o.label)).collect();
    assert_eq!(listed, [(a, "lockbox/key/a".to_owned()), (b, "lockbox/key/b".to_owned())]);
    assert_eq!(other.list_objects()?.len(), 1);
    // An instance cannot use another instance's objects.
    let mut out = [0u8; 17];
    assert!(matches!(token.encrypt_aes_gcm(&c, b"", b"x", &mut out), Err(TokenError::ObjectNotFound(_))));

    token.destroy(&a)?;
    assert_eq!(token.list_objects()?.len(), 1);
    assert!(matches!(token.encrypt_aes_gcm(&a, b"", b"x", &mut out), Err(TokenError::ObjectNotFound(_))));
    assert!(matches!(token.destroy(&a), Err(TokenError::ObjectNotFound(_))));
    // A fresh Token (empty handle cache) finds the survivors by CKA_ID.
    drop(token);
    let token = t.open()?;
    token.encrypt_aes_gcm(&b, b"", b"x", &mut out)?;
    Ok(())
});

token_test!(fn recovers_once_when_every_session_is_closed_behind_its_back(t) {
    let token = t.open()?;
    let id = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/1")?;
    let mut out = [0u8; 17];
    token.encrypt_aes_gcm(&id, b"", b"x", &mut out)?;
    token.inject_close_all_sessions()?;
    // Closing every session also logged the process out; the next call recovers and succeeds.
    let sealed = token.encrypt_aes_gcm(&id, b"", b"x", &mut out)?;
    assert_eq!(token.recoveries(), 1);
    let mut back = [0u8; 17];
    assert_eq!(token.decrypt_aes_gcm(&id, &sealed.iv, b"", &out, &mut back)?, 1);
    assert_eq!(token.recoveries(), 1);
    Ok(())
});

token_test!(fn recovers_once_when_cached_handles_go_stale(t) {
    let token = t.open()?;
    let id = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/1")?;
    let mut out = [0u8; 17];
    token.encrypt_aes_gcm(&id, b"", b"x", &mut out)?;
    token.inject_relogin_behind_cache()?;
    token.encrypt_aes_gcm(&id, b"", b"x", &mut out)?;
    assert_eq!(token.recoveries(), 1);
    Ok(())
});

token_test!(fn decrypt_failures_never_trigger_recovery(t) {
    let token = t.open()?;
    let id = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/1")?;
    let mut out = [0u8; 17];
    let sealed = token.encrypt_aes_gcm(&id, b"", b"x", &mut out)?;
    out[0] ^= 1;
    let mut back = [0u8; 17];
    for _ in 0..10 {
        assert!(matches!(token.decrypt_aes_gcm(&id, &sealed.iv, b"", &out, &mut back), Err(TokenError::DecryptFailed)));
    }
    assert_eq!(token.recoveries(), 0);
    Ok(())
});

token_test!(fn many_threads_share_one_token(t) {
    let token = std::sync::Arc::new(t.open()?);
    let id = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/1")?;
    let workers: Vec<_> = (0..4).map(|w| {
        let token = token.clone();
        std::thread::spawn(move || -> Result<(), TokenError> {
            for i in 0..200u32 {
                let msg = [w as u8, (i % 256) as u8, 7];
                let mut out = [0u8; 19];
                let sealed = token.encrypt_aes_gcm(&id, b"aad", &msg, &mut out)?;
                let mut back = [0u8; 19];
                let n = token.decrypt_aes_gcm(&id, &sealed.iv, b"aad", &out, &mut back)?;
                assert_eq!(&back[..n], &msg);
                if i % 50 == 0 {
                    let k = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), &format!("key/w{w}-{i}"))?;
                    token.destroy(&k)?;
                }
            }
            Ok(())
        })
    }).collect();
    for w in workers {
        w.join().map_err(|_| "worker panicked")??;
    }
    assert_eq!(token.list_objects()?.len(), 1);
    Ok(())
});

token_test!(fn a_wrong_pin_is_refused_even_while_the_process_is_logged_in(t) {
    let first = t.open()?;
    assert_wrong_pin_is_refused(t)?;
    // The same PIN from another source is fine.
    let copy = t.dir().join("copy.pin");
    std::fs::copy(t.dir().join("user.pin"), &copy)?;
    let mut cfg = t.config();
    cfg.pin = PinSource::File(copy);
    Token::open(&cfg)?;
    drop(first);
    Ok(())
});

token_test!(fn recovery_holds_when_several_threads_fault_at_once(t) {
    // SoftHSM 2.6.1 frees sessions closed by C_CloseAllSessions even while another thread is
    // inside the module with them (it crashes in C_DecryptInit), so the fault is injected
    // while the workers wait at a barrier; then all of them meet the dead sessions at once.
    const WORKERS: usize = 4;
    const ROUNDS: usize = 3;
    let token = std::sync::Arc::new(t.open()?);
    let id = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/1")?;
    let parked = std::sync::Arc::new(std::sync::Barrier::new(WORKERS + 1));
    let resume = std::sync::Arc::new(std::sync::Barrier::new(WORKERS + 1));
    let workers: Vec<_> = (0..WORKERS).map(|_| {
        let (token, parked, resume) = (token.clone(), parked.clone(), resume.clone());
        // A failure is recorded, not returned: every worker must keep meeting the barriers.
        std::thread::spawn(move || -> Vec<String> {
            let mut errors = Vec::new();
            for _ in 0..ROUNDS {
                parked.wait();
                resume.wait();
                for _ in 0..50 {
                    let mut out = [0u8; 19];
                    let r = token.encrypt_aes_gcm(&id, b"a", b"abc", &mut out).and_then(|sealed| {
                        let mut back = [0u8; 19];
                        token.decrypt_aes_gcm(&id, &sealed.iv, b"a", &out, &mut back)
                    });
                    if let Err(e) = r {
                        errors.push(e.to_string());
                    }
                }
            }
            errors
        })
    }).collect();
    for _ in 0..ROUNDS {
        parked.wait();
        token.inject_close_all_sessions()?;
        resume.wait();
    }
    let errors: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap_or_else(|_| vec!["worker panicked".into()]))
        .collect();
    assert_eq!(errors, Vec::<String>::new());
    // Each injection was recovered from; the threads that faulted together shared recoveries.
    assert!((ROUNDS as u64..=(ROUNDS * WORKERS) as u64).contains(&token.recoveries()), "recoveries: {}", token.recoveries());
    Ok(())
});

token_test!(fn open_reports_what_is_wrong(t) {
    let mut cfg = t.config();
    cfg.token = TokenSelector::Label("no-such-token".into());
    assert!(matches!(Token::open(&cfg), Err(TokenError::TokenNotFound(_))));

    let serial = t.open()?.description().serial.clone();
    let mut cfg = t.config();
    cfg.token = TokenSelector::Serial(serial);
    Token::open(&cfg)?;

    assert_wrong_pin_is_refused(t)?;

    let mut cfg = t.config();
    cfg.label_prefix = "a/b".into();
    assert!(matches!(Token::open(&cfg), Err(TokenError::Config(_))));

    let mut cfg = t.config();
    cfg.softhsm_conf = Some(t.dir().join("elsewhere.conf"));
    match Token::open(&cfg) {
        Err(TokenError::Config(m)) => assert!(m.contains("SOFTHSM2_CONF="), "{m}"),
        other => panic!("expected a configuration error, got {:?}", other.err()),
    }

    let mut cfg = TokenConfig::new("/nonexistent/libpkcs11.so", TokenSelector::Label("x".into()), PinSource::Env("X".into()));
    cfg.softhsm_conf = None;
    assert!(matches!(Token::open(&cfg), Err(TokenError::Module { .. })));
    Ok(())
});

token_test!(fn the_audit_hmac_key_is_sensitive_sign_verify_only_and_refuses_its_value(t) {
    let token = t.open()?;
    let id = token.generate_key(&SecretKeyTemplate::hmac(HmacDigest::Sha256), "audit-hmac")?;
    let report = token.inspect(&id)?;
    assert_eq!(report.label, "lockbox/audit-hmac");
    assert!(report.is_generic_secret && !report.is_aes);
    assert_eq!(report.value_len, Some(32));
    assert!(report.token && report.private && report.sensitive);
    assert!(!report.extractable && !report.modifiable && !report.copyable);
    assert!(report.always_sensitive && report.never_extractable);
    assert_eq!(report.usages, ["CKA_SIGN", "CKA_VERIFY"]);
    assert_eq!(report.value, ValueAccess::Sensitive);

    // Ask the token directly, through a context the code under test does not own.
    let s = t.raw_session()?;
    let handles = s.find_objects(&[Attribute::Id(id.as_bytes().to_vec())])?;
    assert_eq!(handles.len(), 1);
    let info = s.get_attribute_info(handles[0], &[AttributeType::Value])?;
    assert!(matches!(info[0], AttributeInfo::Sensitive), "CKA_VALUE must be refused, got {:?}", info[0]);
    // It is listed with Lockbox's other objects (reconciliation must know it is claimed).
    assert!(token.list_objects()?.iter().any(|o| o.id == id));
    Ok(())
});

token_test!(fn hmac_is_deterministic_input_sensitive_and_verified_in_the_token(t) {
    let token = t.open()?;
    let key = token.generate_key(&SecretKeyTemplate::hmac(HmacDigest::Sha256), "audit-hmac")?;
    let a = token.hmac_sha256(&key, b"seal 1")?;
    assert_eq!(a, token.hmac_sha256(&key, b"seal 1")?);
    let b = token.hmac_sha256(&key, b"seal 2")?;
    assert_ne!(a, b);
    assert_ne!(a, [0u8; 32]);
    assert!(token.hmac_sha256_verify(&key, b"seal 1", &a)?);
    assert!(!token.hmac_sha256_verify(&key, b"seal 2", &a)?);
    let mut bad = a;
    bad[31] ^= 1;
    assert!(!token.hmac_sha256_verify(&key, b"seal 1", &bad)?);
    // A MAC of the wrong length is a bad MAC, not a fault.
    assert!(!token.hmac_sha256_verify(&key, b"seal 1", &a[..16])?);
    assert!(!token.hmac_sha256_verify(&key, b"seal 1", &[])?);
    // Another key gives another MAC.
    let other = token.generate_key(&SecretKeyTemplate::hmac(HmacDigest::Sha256), "audit-hmac-2")?;
    assert_ne!(token.hmac_sha256(&other, b"seal 1")?, a);
    assert!(!token.hmac_sha256_verify(&other, b"seal 1", &a)?);
    // After the refusals the pooled sessions still work.
    assert!(token.hmac_sha256_verify(&key, b"seal 1", &a)?);
    // The MAC is HMAC-SHA256: an AES key cannot make one.
    let aes = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/1")?;
    assert!(token.hmac_sha256(&aes, b"x").is_err());
    Ok(())
});

token_test!(fn a_mark_round_trips_and_survives_reopening_the_token(t) {
    let token = t.open()?;
    let mark = token.create_mark("audit-mark", b"")?;
    assert_eq!(token.read_mark(&mark)?, b"");
    for i in 0..5u8 {
        token.write_mark(&mark, &[i; 40])?;
        assert_eq!(token.read_mark(&mark)?, [i; 40]);
    }
    // Data objects are not key objects: the mark is never listed with them.
    assert!(token.list_objects()?.is_empty());
    // The mark is two slots on the token, private, labelled under the prefix; the newest
    // names generation 6 (created at 1, five writes) and the payload.
    let s = t.raw_session()?;
    let found = s.find_objects(&[Attribute::Class(cryptoki::object::ObjectClass::DATA)])?;
    assert_eq!(found.len(), 2);
    let mut labels = Vec::new();
    for h in found {
        let attrs = s.get_attributes(h, &[AttributeType::Label, AttributeType::Private, AttributeType::Token])?;
        assert!(attrs.contains(&Attribute::Private(true)) && attrs.contains(&Attribute::Token(true)));
        for a in attrs {
            if let Attribute::Label(l) = a {
                labels.push(String::from_utf8(l)?);
            }
        }
    }
    let newest = format!("lockbox/audit-mark#{}{}#", hex::encode(6u64.to_be_bytes()), hex::encode([4u8; 40]));
    assert!(labels.iter().all(|l| l.starts_with("lockbox/audit-mark#")), "{labels:?}");
    assert!(labels.iter().any(|l| l.starts_with(&newest)), "{labels:?}");
    drop(s);
    drop(token);

    let token = t.open()?;
    assert_eq!(token.read_mark(&mark)?, [4u8; 40]);
    token.write_mark(&mark, b"after reopening")?;
    assert_eq!(token.read_mark(&mark)?, b"after reopening");
    // Another instance (label prefix) cannot see or write it; an unknown mark is not found.
    let mut other_cfg = t.config();
    other_cfg.label_prefix = "other".into();
    let other = Token::open(&other_cfg)?;
    assert!(matches!(other.read_mark(&mark), Err(TokenError::ObjectNotFound(_))));
    assert!(matches!(token.read_mark(&ObjectId::from_bytes([7; 16])), Err(TokenError::ObjectNotFound(_))));
    assert!(matches!(token.write_mark(&ObjectId::from_bytes([7; 16]), b"x"), Err(TokenError::ObjectNotFound(_))));
    Ok(())
});

token_test!(fn hmac_matches_rfc_4231_with_a_known_test_key(t) {
    // The audit key itself is unknown by design; a non-sensitive test key with a known value
    // checks that the token computes HMAC-SHA256 (RFC 4231, test case 6: SoftHSM refuses
    // HMAC-SHA256 keys shorter than 32 bytes with CKR_KEY_SIZE_RANGE, so not "Jefe").
    t.raw_session()?.create_object(&[
        Attribute::Class(cryptoki::object::ObjectClass::SECRET_KEY),
        Attribute::KeyType(cryptoki::object::KeyType::GENERIC_SECRET),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sign(true),
        Attribute::Verify(true),
        Attribute::Value(vec![0xaa; 131]),
        Attribute::Id(vec![5; 16]),
        Attribute::Label(b"lockbox/test-hmac".to_vec()),
    ])?;
    let token = t.open()?;
    let key = ObjectId::from_bytes([5; 16]);
    let data = b"Test Using Larger Than Block-Size Key - Hash Key First";
    let mac = token.hmac_sha256(&key, data)?;
    assert_eq!(mac.to_vec(), hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));
    assert!(token.hmac_sha256_verify(&key, data, &mac)?);
    Ok(())
});
