//! Issue 18: reconciliation runs after open, beside the engine's work, without holding the
//! write lock while it lists the token and reads the records. A key made while a pass runs
//! is neither taken for an orphan (and destroyed) nor reported missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::cell::RefCell;

use common::{T0, engine_with};
use lockbox::api::*;
use lockbox::{Lifecycle, ReconcileStage};
use lockbox_token::{SecretKeyTemplate, token_test};

fn new_key(kms: &impl Kms) -> KeyId {
    kms.create_key(CreateKeyRequest::new())
        .unwrap()
        .key_metadata
        .key_id
}

fn encrypts(kms: &impl Kms, key: KeyId) -> bool {
    kms.encrypt(EncryptRequest::new(key, Plaintext::copy_from(b"x")))
        .is_ok()
}

token_test!(fn objects_and_keys_made_while_a_pass_runs_are_neither_orphans_nor_missing(t) {
    // No grace period: any object a pass takes for an orphan is destroyed at once.
    let lifecycle = Lifecycle { orphan_grace: std::time::Duration::ZERO, ..Lifecycle::default() };
    let (kms, _clock) = engine_with(t, T0, lifecycle)?;
    let before = new_key(&kms);
    let early = RefCell::new(None);
    let late = RefCell::new(None);
    let report = kms.reconcile_observed(&|stage| match stage {
        // The token object of a key whose creation is under way: listed by this pass, with
        // no record yet for the pass to read (creation writes it after the object).
        ReconcileStage::Watching => {
            let object = kms
                .token()
                .generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "in-flight/1")
                .unwrap();
            *early.borrow_mut() = Some(object);
        }
        // A whole key made after the listing: its record is read, its object was not listed.
        ReconcileStage::Listed => *late.borrow_mut() = Some(new_key(&kms)),
    })?;
    let early = early.into_inner().unwrap();
    let late = late.into_inner().unwrap();
    assert!(report.orphans.is_empty(), "{report:?}");
    assert!(report.missing.is_empty(), "{report:?}");
    assert_eq!(report.keys, 2);
    assert!(kms.token().is_present(&early)?, "the in-flight object was destroyed");
    assert!(encrypts(&kms, before) && encrypts(&kms, late));
    // The next pass reads no record for the in-flight object: with no grace, it goes.
    let next = kms.reconcile()?;
    assert_eq!(next.orphans.len(), 1, "{next:?}");
    assert_eq!(next.orphans[0].object, early);
    assert!(next.orphans[0].destroyed);
    assert!(next.missing.is_empty());
    assert!(!kms.token().is_present(&early)?);
    assert!(encrypts(&kms, before) && encrypts(&kms, late));
    Ok(())
});

token_test!(fn keys_made_and_deleted_beside_passes_stay_whole(t) {
    let lifecycle = Lifecycle { orphan_grace: std::time::Duration::ZERO, ..Lifecycle::default() };
    let (kms, clock) = engine_with(t, T0, lifecycle)?;
    let made = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for i in 0..20 {
                let k = new_key(&kms);
                made.lock().unwrap().push(k);
                if i % 5 == 4 {
                    // A deletion scheduled while passes run (a record change).
                    let gone = made.lock().unwrap().remove(0);
                    kms.schedule_key_deletion(
                        ScheduleKeyDeletionRequest::new(gone).with_pending_window_in_days(7),
                    )
                    .unwrap();
                }
            }
        });
        while !writer.is_finished() {
            let r = kms.reconcile().unwrap();
            assert!(r.missing.is_empty(), "{r:?}");
            assert!(r.orphans.is_empty(), "{r:?}");
        }
    });
    // Every key still has its material, and deletions due later complete cleanly.
    for k in made.lock().unwrap().iter() {
        assert!(encrypts(&kms, *k), "key {k} lost its material");
    }
    clock.set(T0 + 8 * 86_400_000);
    let m = kms.maintain()?;
    assert_eq!(m.deleted.len(), 4);
    let r = kms.reconcile()?;
    assert!(!r.has_problems(), "{r:?}");
    assert_eq!(r.keys, 16);
    Ok(())
});

token_test!(fn open_report_waits_for_the_pass_open_started(t) {
    let lifecycle = Lifecycle { orphan_grace: std::time::Duration::ZERO, ..Lifecycle::default() };
    let (kms, _clock) = engine_with(t, T0, lifecycle)?;
    let key = new_key(&kms);
    // An orphan, as a crash between object and record leaves one.
    let orphan = kms
        .token()
        .generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "crashed/1")?;
    drop(kms);
    let (kms, _clock) = engine_with(t, T0, lifecycle)?;
    // Opening returned before its pass necessarily finished; the report waits for it.
    let at_open = kms.open_report().reconciliation.clone()?;
    assert_eq!(at_open.keys, 1);
    assert_eq!(at_open.orphans.len(), 1);
    assert_eq!(at_open.orphans[0].object, orphan);
    assert!(at_open.orphans[0].destroyed);
    assert!(!kms.token().is_present(&orphan)?);
    assert!(encrypts(&kms, key));
    Ok(())
});
