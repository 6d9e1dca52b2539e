//! Issue 18: what a lookup costs in searches of the token. On SoftHSM every search
//! (C_FindObjectsInit) walks every object of the token, so with 100,000 keys the hot paths
//! must make none: a key not in the handle cache is one search by CKA_ID (not a listing of
//! every object), and an audit mark is followed through its handle across writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lockbox_token::testing::cryptoki::object::{Attribute, AttributeType, ObjectClass};
use lockbox_token::{ObjectId, SecretKeyTemplate, TokenError, token_test};

token_test!(fn a_key_not_in_the_handle_cache_is_found_by_one_search(t) {
    let maker = t.open()?;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(maker.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), &format!("k{i}/1"))?);
    }
    // A second Token knows no handle, as after a restart.
    let token = t.open()?;
    assert_eq!(token.searches(), 0);
    let mut out = [0u8; 64];
    let sealed = token.encrypt_aes_gcm(&ids[3], b"aad", b"data", &mut out)?;
    assert_eq!(token.searches(), 1, "one search for the cold key");
    let mut plain = [0u8; 64];
    let n = token.decrypt_aes_gcm(&ids[3], &sealed.iv, b"aad", &out[..sealed.len], &mut plain)?;
    assert_eq!(&plain[..n], b"data");
    token.encrypt_aes_gcm(&ids[3], b"aad", b"data", &mut out)?;
    assert_eq!(token.searches(), 1, "the handle is kept");
    // Another cold key is its own search; the first stays known.
    token.encrypt_aes_gcm(&ids[1], b"aad", b"data", &mut out)?;
    assert_eq!(token.searches(), 2);
    // One listing knows every key.
    assert_eq!(token.list_objects()?.len(), 5);
    assert_eq!(token.searches(), 3);
    for id in &ids {
        token.encrypt_aes_gcm(id, b"aad", b"data", &mut out)?;
    }
    assert_eq!(token.searches(), 3);
    // A key this Token destroyed is missing at once.
    token.destroy(&ids[0])?;
    match token.encrypt_aes_gcm(&ids[0], b"aad", b"data", &mut out) {
        Err(TokenError::ObjectNotFound(id)) => assert_eq!(id, ids[0].to_string()),
        other => panic!("expected ObjectNotFound, got {:?}", other.map(|s| s.len)),
    }
    // A listing made after the destruction does not bring its handle back.
    assert_eq!(token.list_objects()?.len(), 4);
    assert!(!token.is_present(&ids[0])?);
    Ok(())
});

/// The handles of the token's objects of mark `mark` (both forms), asked through a session of
/// the test's own, sorted.
fn mark_objects(t: &lockbox_token::testing::TestToken, mark: &ObjectId) -> Vec<u64> {
    let s = t.raw_session().unwrap();
    let mut v: Vec<u64> = s
        .find_objects(&[Attribute::Class(ObjectClass::DATA), Attribute::Token(true)])
        .unwrap()
        .into_iter()
        .filter(|h| {
            s.get_attributes(*h, &[AttributeType::Value])
                .unwrap()
                .iter()
                .any(|a| matches!(a, Attribute::Value(v) if v.starts_with(mark.as_bytes())))
        })
        .map(|h| h.handle())
        .collect();
    v.sort_unstable();
    v
}

/// The labels of the token's objects of mark `mark`, by handle.
fn mark_labels(t: &lockbox_token::testing::TestToken, mark: &ObjectId) -> Vec<(u64, String)> {
    let s = t.raw_session().unwrap();
    mark_objects(t, mark)
        .into_iter()
        .map(|h| {
            let found = s
                .find_objects(&[Attribute::Class(ObjectClass::DATA), Attribute::Token(true)])
                .unwrap();
            let handle = found.into_iter().find(|x| x.handle() == h).unwrap();
            let label = match &s.get_attributes(handle, &[AttributeType::Label]).unwrap()[0] {
                Attribute::Label(l) => String::from_utf8(l.clone()).unwrap(),
                other => panic!("{other:?}"),
            };
            (h, label)
        })
        .collect()
}

token_test!(fn a_mark_is_followed_through_its_handles_and_found_again_after_recovery(t) {
    let token = t.open()?;
    let mark = token.create_mark("audit-mark", b"zero")?;
    let before = token.searches();
    let objects = mark_objects(t, &mark);
    assert_eq!(objects.len(), 2, "a mark is two slots");
    for i in 0..5u8 {
        token.write_mark(&mark, &[i; 40])?;
        assert_eq!(token.read_mark(&mark)?, vec![i; 40]);
    }
    assert_eq!(token.searches(), before, "writes and reads through the kept handles search nothing");
    // Writes rewrite a slot's label: no object was made or destroyed (SoftHSM would re-read
    // its whole token directory in every process after either).
    assert_eq!(mark_objects(t, &mark), objects, "the same two objects");

    // Recovery forgets handles (its sessions were closed, which logs the process out, and
    // SoftHSM drops private handles on logout): the mark is found again, once.
    token.inject_close_all_sessions()?;
    assert_eq!(token.read_mark(&mark)?, vec![4; 40]);
    assert_eq!(token.recoveries(), 1);
    assert_eq!(token.searches(), before + 1);
    token.write_mark(&mark, b"after recovery")?;
    assert_eq!(token.read_mark(&mark)?, b"after recovery");
    assert_eq!(token.searches(), before + 1);

    // Another writer (another node's Token) writes the mark: this one reads it through its
    // handles, and writes the slot the other did not.
    let other = t.open()?;
    other.write_mark(&mark, b"from the other node")?;
    assert_eq!(token.read_mark(&mark)?, b"from the other node");
    token.write_mark(&mark, b"back here")?;
    assert_eq!(other.read_mark(&mark)?, b"back here");
    other.write_mark(&mark, b"and there")?;
    assert_eq!(token.read_mark(&mark)?, b"and there");
    assert_eq!(token.searches(), before + 1);
    // (Handles are renumbered after the logout recovery made: count, not compare.)
    assert_eq!(mark_objects(t, &mark).len(), 2);
    Ok(())
});

token_test!(fn a_torn_slot_leaves_the_generation_before_and_is_written_next(t) {
    let token = t.open()?;
    let mark = token.create_mark("audit-mark", b"zero")?;
    token.write_mark(&mark, b"one")?;
    token.write_mark(&mark, b"two")?;
    // Spoil the newest slot's label, as a write torn by a crash could.
    let labels = mark_labels(t, &mark);
    let s = t.raw_session()?;
    let found = s.find_objects(&[Attribute::Class(ObjectClass::DATA), Attribute::Token(true)])?;
    let mut spoiled = None;
    for (h, label) in &labels {
        if label.contains(&hex_of(b"two")) {
            let handle = found.iter().copied().find(|x| x.handle() == *h).unwrap();
            let bad = label.replace(&hex_of(b"two"), &hex_of(b"tw0"));
            s.update_attributes(handle, &[Attribute::Label(bad.into_bytes())])?;
            spoiled = Some(*h);
        }
    }
    assert!(spoiled.is_some(), "{labels:?}");
    // A fresh Token (no kept handles) and this one both read the generation before.
    assert_eq!(t.open()?.read_mark(&mark)?, b"one");
    assert_eq!(token.read_mark(&mark)?, b"one");
    // The next write goes to the spoiled slot, and the good one is left as it was.
    token.write_mark(&mark, b"three")?;
    assert_eq!(t.open()?.read_mark(&mark)?, b"three");
    let after = mark_labels(t, &mark);
    let untouched: Vec<_> = labels.iter().filter(|(h, _)| Some(*h) != spoiled).collect();
    assert!(after.iter().any(|x| x == untouched[0]), "{after:?}");
    Ok(())
});

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

token_test!(fn a_mark_of_the_first_form_is_read_and_moved_to_slots_on_its_next_write(t) {
    let token = t.open()?;
    // A mark as main wrote it before issue 18: one object per generation, value
    // id || generation || payload; a crash had left two generations.
    let mark = ObjectId::from_bytes([0x4d; 16]);
    let s = t.raw_session()?;
    let label = format!("{}/audit-mark", t.config().label_prefix);
    for (generation, payload) in [(6u64, &b"six"[..]), (7, &b"seven"[..])] {
        let mut value = mark.as_bytes().to_vec();
        value.extend_from_slice(&generation.to_be_bytes());
        value.extend_from_slice(payload);
        s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Modifiable(false),
            Attribute::Application(b"lockbox audit mark".to_vec()),
            Attribute::Label(label.clone().into_bytes()),
            Attribute::Value(value),
        ])?;
    }
    assert_eq!(token.read_mark(&mark)?, b"seven");
    token.write_mark(&mark, b"eight")?;
    assert_eq!(token.read_mark(&mark)?, b"eight");
    assert_eq!(t.open()?.read_mark(&mark)?, b"eight");
    // Two slots now, and nothing of the first form.
    let labels = mark_labels(t, &mark);
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert!(labels.iter().all(|(_, l)| l.starts_with(&format!("{label}#"))), "{labels:?}");
    // Later writes go on in the slots.
    token.write_mark(&mark, b"nine")?;
    assert_eq!(t.open()?.read_mark(&mark)?, b"nine");
    Ok(())
});
