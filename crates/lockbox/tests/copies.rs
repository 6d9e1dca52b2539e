//! Session-object copies through the engine: symmetric keys made copyable when the token's
//! `session_copies` flag is on, and their copies gone when the key is disabled, scheduled for
//! deletion, deleted, or rotated away from (docs/SECURITY.md, decision 0036).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{DAY, Root, T0, TestClock};
use lockbox::api::*;
use lockbox::{Config, Engine};
use lockbox_token::testing::TestToken;
use lockbox_token::{ObjectId, token_test};
use parking_lot::Mutex;

fn engine(t: &TestToken, copies: bool) -> Result<(Root, Arc<TestClock>), lockbox::Error> {
    let clock = Arc::new(TestClock(Mutex::new(Timestamp::from_unix_millis(T0))));
    let mut config = Config::new(t.dir().join("data"), t.config());
    config.token.session_copies = copies;
    let e = Engine::open_with_clock(config, clock.clone())?;
    Ok((Root(e), clock))
}

fn new_key(kms: &Root) -> KeyId {
    kms.create_key(CreateKeyRequest::new())
        .unwrap()
        .key_metadata
        .key_id
}

/// The token object of version `version` of `key`.
fn object(kms: &Root, key: KeyId, version: u32) -> ObjectId {
    kms.key_objects()
        .unwrap()
        .into_iter()
        .find(|o| o.label.ends_with(&format!("/{key}/{version}")))
        .unwrap()
        .id
}

/// Encrypts and decrypts once each (two uses: the second makes a copy).
fn use_twice(kms: &Root, key: KeyId) -> Vec<u8> {
    let blob = kms
        .encrypt(EncryptRequest::new(key, Plaintext::copy_from(b"msg")))
        .unwrap()
        .ciphertext_blob;
    let out = kms.decrypt(DecryptRequest::new(blob.clone())).unwrap();
    assert_eq!(out.plaintext.expose_secret(), b"msg");
    blob
}

/// Whether `id` has a copy, asked of the map and of the token (the two must agree).
fn copied(kms: &Root, id: &ObjectId) -> bool {
    let token = kms.token();
    let on_token = token.count_session_objects(id).unwrap();
    assert_eq!(
        token.has_session_copy(id),
        on_token == 1,
        "map and token agree"
    );
    on_token == 1
}

token_test!(fn disable_deletion_and_rotation_drop_the_copies(t) {
    let (kms, clock) = engine(t, true)?;
    let key = new_key(&kms);
    let v1 = object(&kms, key, 1);
    let report = kms.token().inspect(&v1)?;
    assert!(report.copyable && report.modifiable && report.sensitive && !report.extractable);
    use_twice(&kms, key);
    assert!(copied(&kms, &v1));

    // Disabled: the copy goes; the key refuses to be used; enabled again it is copied again.
    kms.disable_key(DisableKeyRequest::new(key))?;
    assert!(!copied(&kms, &v1));
    let e = kms.encrypt(EncryptRequest::new(key, Plaintext::copy_from(b"x"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Disabled);
    assert!(!copied(&kms, &v1));
    kms.enable_key(EnableKeyRequest::new(key))?;
    let old = use_twice(&kms, key);
    assert!(copied(&kms, &v1));

    // Rotated away from: version 1's copy goes; version 2 is copied on use; old
    // ciphertexts still decrypt.
    kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key))?;
    let v2 = object(&kms, key, 2);
    assert!(!copied(&kms, &v1));
    use_twice(&kms, key);
    assert!(copied(&kms, &v2));
    let out = kms.decrypt(DecryptRequest::new(old.clone()))?;
    assert_eq!(out.plaintext.expose_secret(), b"msg");

    // Scheduled for deletion: every copy goes, and nothing is copied while it waits.
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest::new(key).with_pending_window_in_days(7))?;
    assert!(!copied(&kms, &v1) && !copied(&kms, &v2));
    let e = common::err(kms.decrypt(DecryptRequest::new(old.clone())));
    assert_eq!(e.kind(), ErrorKind::KmsInvalidState);
    assert!(!copied(&kms, &v1) && !copied(&kms, &v2));

    // Deleted at its date: material and copies gone from the token.
    clock.set(T0 + 7 * DAY);
    assert_eq!(kms.maintain()?.deleted, [key]);
    assert!(!copied(&kms, &v1) && !copied(&kms, &v2));
    assert!(!kms.token().is_present(&v1)? && !kms.token().is_present(&v2)?);
    assert_eq!(kms.token().session_copies(), 0);
    Ok(())
});

token_test!(fn with_the_flag_off_keys_are_as_before_and_old_keys_keep_the_token_object(t) {
    let (old, plain) = {
        let (kms, _) = engine(t, false)?;
        let key = new_key(&kms);
        let v1 = object(&kms, key, 1);
        let r = kms.token().inspect(&v1)?;
        assert!(!r.copyable && !r.modifiable && r.sensitive && !r.extractable, "{r:?}");
        use_twice(&kms, key);
        use_twice(&kms, key);
        assert!(!copied(&kms, &v1));
        assert_eq!(kms.token().session_copies_made(), 0);
        (key, v1)
    };
    // The same directory with the flag on: the old key works from its token object, and a
    // new key is copyable and copied.
    let (kms, _) = engine(t, true)?;
    use_twice(&kms, old);
    use_twice(&kms, old);
    assert!(!copied(&kms, &plain));
    let key = new_key(&kms);
    use_twice(&kms, key);
    assert!(copied(&kms, &object(&kms, key, 1)));
    assert_eq!(kms.token().session_copies_made(), 1);
    Ok(())
});

/// Two nodes over one PostgreSQL database and one token (as `cluster.rs`).
fn node(t: &TestToken, name: &str, db: &str) -> Engine {
    use lockbox::{Consistency, PasswordSource, PostgresConfig, StoreConfig};
    use lockbox_store::testing::PgCluster;
    let pg = PgCluster::shared().unwrap();
    let password = t.dir().join("db.password");
    if !password.exists() {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&password)
            .unwrap();
        std::io::Write::write_all(&mut f, pg.password().as_bytes()).unwrap();
    }
    let mut config = Config::new(t.dir().join(name), t.config());
    config.token.session_copies = true;
    config.store = StoreConfig::Postgres(PostgresConfig {
        url: pg.url_for(db),
        password: Some(PasswordSource::File(password)),
        ca_file: None,
        consistency: Consistency::Strict,
        cache_ttl: std::time::Duration::from_millis(1000),
        pool_size: 2,
    });
    Engine::open(config).unwrap()
}

token_test!(fn a_node_drops_its_copy_of_a_key_another_node_disabled(t) {
    let pg = lockbox_store::testing::PgCluster::shared()?;
    pg.create_database("copies")?;
    let (a, b) = (node(t, "a", "copies"), node(t, "b", "copies"));
    let root = || Caller::new(Principal::parse("arn:aws:iam::000000000000:root").unwrap());
    let (ca, cb) = (a.client(root()), b.client(root()));
    let key = ca.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    let blob = ca.encrypt(EncryptRequest::new(key, Plaintext::copy_from(b"m")))?.ciphertext_blob;
    for _ in 0..2 {
        cb.decrypt(DecryptRequest::new(blob.clone()))?;
    }
    let id = b.token().list_objects()?.into_iter().find(|o| o.label.ends_with(&format!("/{key}/1"))).unwrap().id;
    assert!(b.token().has_session_copy(&id));
    assert_eq!(b.token().count_session_objects(&id)?, 1);
    // Disabled through node a: node b's next call is refused by the record, and its copy goes.
    ca.disable_key(DisableKeyRequest::new(key))?;
    assert!(b.token().has_session_copy(&id), "nothing told node b yet");
    let e = common::err(cb.decrypt(DecryptRequest::new(blob.clone())));
    assert_eq!(e.kind(), ErrorKind::Disabled);
    assert!(!b.token().has_session_copy(&id));
    assert_eq!(b.token().count_session_objects(&id)?, 0);
    Ok(())
});
