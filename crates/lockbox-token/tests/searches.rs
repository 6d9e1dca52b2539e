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

/// How many objects of the mark `mark` the token holds, asked through a session of the test's own.
fn mark_objects(t: &lockbox_token::testing::TestToken, mark: &ObjectId) -> usize {
    let s = t.raw_session().unwrap();
    s.find_objects(&[Attribute::Class(ObjectClass::DATA), Attribute::Token(true)])
        .unwrap()
        .into_iter()
        .filter(|h| {
            s.get_attributes(*h, &[AttributeType::Value])
                .unwrap()
                .iter()
                .any(|a| matches!(a, Attribute::Value(v) if v.starts_with(mark.as_bytes())))
        })
        .count()
}

token_test!(fn a_mark_is_followed_through_its_handle_and_found_again_after_recovery(t) {
    let token = t.open()?;
    let mark = token.create_mark("audit-mark", b"zero")?;
    let before = token.searches();
    for i in 0..5u8 {
        token.write_mark(&mark, &[i; 40])?;
        assert_eq!(token.read_mark(&mark)?, vec![i; 40]);
    }
    assert_eq!(token.searches(), before, "writes and reads through the kept handle search nothing");
    assert_eq!(mark_objects(t, &mark), 1, "each write removed the generation before it");

    // Recovery forgets handles (its sessions were closed, which logs the process out, and
    // SoftHSM drops private handles on logout): the mark is found again, once.
    token.inject_close_all_sessions()?;
    assert_eq!(token.read_mark(&mark)?, vec![4; 40]);
    assert_eq!(token.recoveries(), 1);
    assert_eq!(token.searches(), before + 1);
    token.write_mark(&mark, b"after recovery")?;
    assert_eq!(token.read_mark(&mark)?, b"after recovery");
    assert_eq!(token.searches(), before + 1);
    assert_eq!(mark_objects(t, &mark), 1);

    // Another writer (another node's Token) replaces the mark behind this one's handle:
    // the kept handle no longer holds it, and the mark is searched for again.
    let other = t.open()?;
    other.write_mark(&mark, b"from the other node")?;
    assert_eq!(token.read_mark(&mark)?, b"from the other node");
    token.write_mark(&mark, b"back here")?;
    assert_eq!(other.read_mark(&mark)?, b"back here");
    assert_eq!(mark_objects(t, &mark), 1);
    Ok(())
});
