//! `Engine::backup` while the engine serves, and `backup::restore` of metadata under a token
//! that kept everything since (a real HSM's situation: the test token is not in the data
//! directory, so a backup does not carry it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{DAY, T0, engine_at, kind};
use lockbox::api::*;
use lockbox::backup::{self, RestoreOutcome};
use lockbox::{BackupOptions, Config};
use lockbox_token::token_test;

fn encrypt(kms: &dyn Kms, key: KeyId) -> Result<Vec<u8>, KmsError> {
    Ok(kms
        .encrypt(EncryptRequest::new(key, Plaintext::copy_from(b"hello")))?
        .ciphertext_blob)
}

fn decrypts(kms: &dyn Kms, blob: &[u8]) -> bool {
    kms.decrypt(DecryptRequest::new(blob.to_vec()))
        .map(|r| r.plaintext.expose_secret() == b"hello")
        .unwrap_or(false)
}

token_test!(fn a_backup_taken_while_keys_are_being_made_is_consistent(t) {
    let (engine, _clock) = engine_at(t, T0)?;
    let engine = Arc::new(engine);
    let first = engine.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (engine, stop) = (Arc::clone(&engine), Arc::clone(&stop));
        std::thread::spawn(move || -> Result<usize, KmsError> {
            let mut made = 0;
            while !stop.load(Ordering::Relaxed) {
                let k = engine.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
                engine.create_alias(AliasRequest::new(
                    AliasName::parse(&format!("alias/k{made}"))?,
                    k,
                ))?;
                made += 1;
            }
            Ok(made)
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let dest = t.dir().join("backup");
    let manifest = engine.backup(&dest, BackupOptions::default())?;
    stop.store(true, Ordering::Relaxed);
    let made = writer.join().unwrap()?;
    assert!(made > 0);
    assert!(!manifest.softhsm_token, "the test token is not the directory's own");
    // The writer makes a key, then its alias: a backup lands between two calls, never
    // inside one, so at most the newest key lacks its alias.
    let aliases = manifest.trees["aliases"];
    assert!(
        manifest.keys == aliases + 1 || manifest.keys == aliases + 2,
        "{manifest:?}"
    );
    // The copied log ends with the seal the backup made, which the token's mark named.
    assert_eq!(
        manifest.audit_seal.as_ref().map(|s| s.seq),
        Some(manifest.audit_next_seq - 1)
    );
    assert_eq!(backup::verify_backup(&dest)?, manifest);
    engine.encrypt(EncryptRequest::new(first, Plaintext::copy_from(b"x")))?;
    Ok(())
});

token_test!(fn a_metadata_restore_rolls_back_and_names_what_it_takes_back(t) {
    let data = t.dir().join("data");
    let (engine, clock) = engine_at(t, T0)?;
    let k1 = engine.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    let k2 = engine.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    let c1 = encrypt(&engine, k1)?;
    let c2 = encrypt(&engine, k2)?;
    let dest = t.dir().join("backup");
    engine.backup(&dest, BackupOptions::default())?;

    // After the backup: k2 deleted for good (its material destroyed), k3 made, k1 rotated.
    engine.schedule_key_deletion(ScheduleKeyDeletionRequest::new(k2).with_pending_window_in_days(7))?;
    clock.set(T0 + 8 * DAY);
    assert_eq!(engine.maintain()?.deleted, [k2]);
    let k3 = engine.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    let c3 = encrypt(&engine, k3)?;
    engine.rotate_key_on_demand(RotateKeyOnDemandRequest::new(k1))?;
    let c1_v2 = encrypt(&engine, k1)?;
    drop(engine);

    let config = Config::new(&data, t.config());
    let report = match backup::restore(&data, Some(&dest), false, Some(&config))? {
        RestoreOutcome::Refused(r) => r,
        other => panic!("restored without --accept-rollback: {other:?}"),
    };
    assert_eq!(report.keys_made_after, [k3]);
    assert_eq!(report.keys_deleted_after, [k2]);
    assert_eq!(report.versions_rotated_since, [(k1, vec![2])]);
    assert!(!report.token_restored);
    let text = report.to_string();
    assert!(text.contains("ORPHANS") && text.contains("MISSING MATERIAL"), "{text}");

    let superseded = match backup::restore(&data, Some(&dest), true, Some(&config))? {
        RestoreOutcome::Restored { superseded_mark, .. } => superseded_mark,
        other => panic!("{other:?}"),
    };
    assert!(superseded.is_some(), "the token's mark was newer than the restored log");

    let (engine, _clock) = engine_at(t, T0 + 9 * DAY)?;
    let mut ids: Vec<KeyId> = engine
        .list_keys(ListKeysRequest::new())?
        .keys
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    ids.sort();
    let mut want = vec![k1, k2];
    want.sort();
    assert_eq!(ids, want);
    assert!(decrypts(&engine, &c1));
    // k2 came back as a record whose material the token no longer holds.
    assert_eq!(kind(engine.decrypt(DecryptRequest::new(c2))), ErrorKind::KeyUnavailable);
    let rec = engine.open_report().reconciliation.clone()?;
    assert_eq!(rec.missing.len(), 1);
    assert_eq!(rec.missing[0].key, k2);
    // k3 and k1's second version are orphans on the token, kept for the grace period.
    assert_eq!(rec.orphans.len(), 2);
    assert!(rec.orphans.iter().all(|o| !o.destroyed));
    assert_eq!(kind(engine.decrypt(DecryptRequest::new(c3))), ErrorKind::InvalidCiphertext);
    assert_eq!(kind(engine.decrypt(DecryptRequest::new(c1_v2))), ErrorKind::InvalidCiphertext);
    // The audit log verifies, and records the restore and the mark it superseded.
    let report = lockbox::audit::verify(engine.store(), engine.token())?;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let restore_entry = engine
        .store()
        .audit_from(0)
        .filter_map(|e| e.ok())
        .filter_map(|(_, bytes)| lockbox_store::AuditEntry::decode(&bytes).ok())
        .find_map(|e| match e.body {
            lockbox_store::AuditBody::Event(ev) if ev.operation == "RestoreBackup" => Some(ev),
            _ => None,
        })
        .expect("a RestoreBackup record");
    assert_eq!(
        restore_entry.encryption_context.get("lockbox:superseded-mark-seq"),
        Some(&superseded.unwrap().to_string())
    );
    Ok(())
});
