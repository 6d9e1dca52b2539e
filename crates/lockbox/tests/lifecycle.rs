//! Keys over time, with a fake clock: rotation (scheduled, on demand, by use), deletion at
//! its date, and reconciliation of the token with the records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{DAY, T0, engine_at, engine_with, err, kind};
use lockbox::api::*;
use lockbox::{Engine, Lifecycle};
use lockbox_token::token_test;

fn new_key(kms: &impl Kms) -> KeyId {
    kms.create_key(CreateKeyRequest::new())
        .unwrap()
        .key_metadata
        .key_id
}

fn encrypt(kms: &impl Kms, key: KeyId, msg: &[u8]) -> Vec<u8> {
    kms.encrypt(EncryptRequest::new(key, Plaintext::copy_from(msg)))
        .unwrap()
        .ciphertext_blob
}

fn decrypts_to(kms: &impl Kms, blob: &[u8], msg: &[u8]) {
    let out = kms.decrypt(DecryptRequest::new(blob.to_vec())).unwrap();
    assert_eq!(out.plaintext.expose_secret(), msg);
}

/// The material version a blob names (bytes 17..21, big-endian; docs/formats/ciphertext-blob.md).
fn blob_version(blob: &[u8]) -> u32 {
    u32::from_be_bytes(blob[17..21].try_into().unwrap())
}

fn status(kms: &impl Kms, key: KeyId) -> GetKeyRotationStatusResponse {
    kms.get_key_rotation_status(GetKeyRotationStatusRequest::new(key))
        .unwrap()
}

fn rotations(kms: &impl Kms, key: KeyId, all: bool) -> Vec<RotationsListEntry> {
    let mut req = ListKeyRotationsRequest::new(key);
    if all {
        req = req.with_include_key_material(IncludeKeyMaterial::AllKeyMaterial);
    }
    kms.list_key_rotations(req).unwrap().rotations
}

fn at(ms: i64) -> Option<Timestamp> {
    Some(Timestamp::from_unix_millis(ms))
}

token_test!(fn rotation_is_enabled_changed_and_disabled_within_the_aws_limits(t) {
    let (kms, clock) = engine_at(t, T0)?;
    let key = new_key(&kms);
    let s = status(&kms, key);
    assert_eq!((s.key_rotation_enabled, s.key_id, s.rotation_period_in_days, s.next_rotation_date), (false, key, None, None));

    kms.enable_key_rotation(EnableKeyRotationRequest::new(key))?;
    let s = status(&kms, key);
    assert_eq!((s.key_rotation_enabled, s.rotation_period_in_days, s.next_rotation_date), (true, Some(365), at(T0 + 365 * DAY)));

    // AWS's range wording names the bound that was crossed.
    for (bad, rule) in [(0, "greater than or equal to 90"), (89, "greater than or equal to 90"), (2561, "less than or equal to 2560")] {
        let e = kms.enable_key_rotation(EnableKeyRotationRequest::new(key).with_rotation_period_in_days(bad)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Validation);
        assert_eq!(e.message(), format!("1 validation error detected: Value '{bad}' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value {rule}"));
    }
    // A new period runs from the date rotation was enabled, not from the change.
    clock.set(T0 + 10 * DAY);
    kms.enable_key_rotation(EnableKeyRotationRequest::new(key).with_rotation_period_in_days(90))?;
    assert_eq!(status(&kms, key).next_rotation_date, at(T0 + 90 * DAY));
    kms.enable_key_rotation(EnableKeyRotationRequest::new(key).with_rotation_period_in_days(2560))?;
    assert_eq!(status(&kms, key).next_rotation_date, at(T0 + 2560 * DAY));

    kms.disable_key_rotation(DisableKeyRotationRequest::new(key))?;
    let s = status(&kms, key);
    assert_eq!((s.key_rotation_enabled, s.rotation_period_in_days, s.next_rotation_date), (false, None, None));
    // Enabled again, the period starts over.
    kms.enable_key_rotation(EnableKeyRotationRequest::new(key).with_rotation_period_in_days(90))?;
    assert_eq!(status(&kms, key).next_rotation_date, at(T0 + 100 * DAY));

    // Key states, and the key forms these operations take.
    kms.disable_key(DisableKeyRequest::new(key))?;
    assert_eq!(kind(kms.enable_key_rotation(EnableKeyRotationRequest::new(key))), ErrorKind::Disabled);
    assert_eq!(kind(kms.disable_key_rotation(DisableKeyRotationRequest::new(key))), ErrorKind::Disabled);
    assert_eq!(kind(kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key))), ErrorKind::Disabled);
    assert!(status(&kms, key).key_rotation_enabled, "status is readable while disabled");
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest::new(key))?;
    assert_eq!(kind(kms.enable_key_rotation(EnableKeyRotationRequest::new(key))), ErrorKind::KmsInvalidState);
    assert_eq!(kind(kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key))), ErrorKind::KmsInvalidState);
    assert!(status(&kms, key).key_rotation_enabled, "status is readable while pending deletion");
    assert_eq!(rotations(&kms, key, true).len(), 1);
    let other = new_key(&kms);
    kms.create_alias(AliasRequest::new(AliasName::parse("alias/r")?, other))?;
    let alias = KeyRef::parse("alias/r")?;
    assert_eq!(kind(kms.enable_key_rotation(EnableKeyRotationRequest::new(alias.clone()))), ErrorKind::NotFound);
    assert_eq!(kind(kms.get_key_rotation_status(GetKeyRotationStatusRequest::new(alias))), ErrorKind::NotFound);
    let arn = KeyRef::parse(&format!("arn:aws:kms:us-east-1:000000000000:key/{other}"))?;
    kms.enable_key_rotation(EnableKeyRotationRequest::new(arn))?;
    Ok(())
});

token_test!(fn automatic_rotation_happens_when_due_and_not_a_moment_before(t) {
    let (kms, clock) = engine_at(t, T0)?;
    let key = new_key(&kms);
    kms.enable_key_rotation(EnableKeyRotationRequest::new(key).with_rotation_period_in_days(90))?;
    let old = encrypt(&kms, key, b"before");
    assert_eq!(blob_version(&old), 1);

    clock.set(T0 + 90 * DAY - 1);
    let r = kms.maintain()?;
    assert_eq!((r.rotated.len(), r.deleted.len(), r.failed.len()), (0, 0, 0));
    assert_eq!(blob_version(&encrypt(&kms, key, b"x")), 1);

    clock.set(T0 + 90 * DAY);
    assert_eq!(kms.maintain()?.rotated, [(key, 2)]);
    assert_eq!(kms.maintain()?.rotated, [], "a second pass finds nothing due");
    let new = encrypt(&kms, key, b"after");
    assert_eq!(blob_version(&new), 2);
    decrypts_to(&kms, &old, b"before");
    decrypts_to(&kms, &new, b"after");
    assert_eq!(status(&kms, key).next_rotation_date, at(T0 + 180 * DAY));
    let list = rotations(&kms, key, false);
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].rotation_type, list[0].rotation_date, list[0].key_material_state), (Some(RotationType::Automatic), at(T0 + 90 * DAY), KeyMaterialState::Current));
    assert_eq!(list[0].key_material_id.len(), 64);
    assert_eq!(kms.key_objects()?.len(), 2, "the old version stays on the token");

    // A disabled key is not rotated; enabled again, its overdue rotation happens.
    kms.disable_key(DisableKeyRequest::new(key))?;
    clock.set(T0 + 200 * DAY);
    assert_eq!(kms.maintain()?.rotated, []);
    kms.enable_key(EnableKeyRequest::new(key))?;
    assert_eq!(kms.maintain()?.rotated, [(key, 3)]);
    assert_eq!(status(&kms, key).next_rotation_date, at(T0 + 290 * DAY));
    Ok(())
});

token_test!(fn rotation_on_demand_keeps_the_schedule_and_its_limits(t) {
    let (kms, clock) = engine_at(t, T0)?;
    let key = new_key(&kms);
    kms.enable_key_rotation(EnableKeyRotationRequest::new(key).with_rotation_period_in_days(90))?;
    let first = encrypt(&kms, key, b"v1");
    // The answer names the key by its ARN, as AWS's does.
    assert_eq!(kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key))?.key_id.key_id(), key);
    assert_eq!(status(&kms, key).next_rotation_date, at(T0 + 90 * DAY), "on-demand rotation leaves the schedule alone");
    assert_eq!(blob_version(&encrypt(&kms, key, b"v2")), 2);
    decrypts_to(&kms, &first, b"v1");

    // Within 20 minutes of a due automatic rotation: ConflictException; just outside, fine.
    clock.set(T0 + 90 * DAY - 20 * 60_000);
    let e = kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(e.message(), format!("An automatic rotation of arn:aws:kms:us-east-1:000000000000:key/{key} is in progress or due within 20 minutes."));
    clock.set(T0 + 90 * DAY - 20 * 60_000 - 1);
    kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key))?;

    // 25 on-demand rotations per key, then LimitExceededException.
    for _ in 3..=25 {
        kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key))?;
    }
    let e = kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LimitExceeded);
    assert_eq!(e.message(), format!("arn:aws:kms:us-east-1:000000000000:key/{key} has been rotated on demand 25 times, the most allowed."));
    // Scheduled rotation still runs past the on-demand limit.
    clock.set(T0 + 90 * DAY);
    assert_eq!(kms.maintain()?.rotated, [(key, 27)]);

    // ListKeyRotations pages, oldest first; ALL_KEY_MATERIAL adds the first material.
    let only = rotations(&kms, key, false);
    assert_eq!(only.len(), 26);
    assert!(only[..25].iter().all(|r| r.rotation_type == Some(RotationType::OnDemand) && r.key_material_state == KeyMaterialState::NonCurrent));
    assert_eq!((only[25].rotation_type, only[25].key_material_state), (Some(RotationType::Automatic), KeyMaterialState::Current));
    let all = rotations(&kms, key, true);
    assert_eq!(all.len(), 27);
    assert_eq!((all[0].rotation_type, all[0].rotation_date), (None, None));
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let mut req = ListKeyRotationsRequest::new(key).with_limit(10);
        if let Some(m) = marker.take() {
            req = req.with_marker(m);
        }
        let page = kms.list_key_rotations(req)?;
        assert!(page.rotations.len() <= 10);
        seen.extend(page.rotations.into_iter().map(|r| r.key_material_id));
        assert_eq!(page.truncated, page.next_marker.is_some());
        match page.next_marker {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    assert_eq!(seen, only.iter().map(|r| r.key_material_id.clone()).collect::<Vec<_>>());
    assert_eq!(kind(kms.list_key_rotations(ListKeyRotationsRequest::new(key).with_marker("x".into()))), ErrorKind::InvalidMarker);
    assert_eq!(kind(kms.list_key_rotations(ListKeyRotationsRequest::new(key).with_limit(1001))), ErrorKind::Validation);
    decrypts_to(&kms, &first, b"v1");
    Ok(())
});

token_test!(fn encryptions_are_counted_and_the_key_rotates_before_its_limit(t) {
    let lifecycle = Lifecycle { max_encryptions_per_version: 10, encryption_count_block: 4, ..Lifecycle::default() };
    let (kms, _clock) = engine_with(t, T0, lifecycle)?;
    let key = new_key(&kms);
    let usage = |kms: &Engine| -> Vec<(u32, bool, u64)> {
        kms.material_usage(&kms.default_caller("test"), &key.into()).unwrap().iter().map(|u| (u.version, u.current, u.encryptions)).collect()
    };
    assert_eq!(usage(&kms), [(1, true, 0)]);
    let mut blobs = Vec::new();
    for i in 0..9u8 {
        blobs.push((encrypt(&kms, key, &[i]), vec![i]));
    }
    // Data keys are encryptions under the key too.
    let dk = kms.generate_data_key(GenerateDataKeyRequest::new(key, DataKeySpec::Aes256))?;
    blobs.push((dk.ciphertext_blob, dk.plaintext.expose_secret().to_vec()));
    assert_eq!(usage(&kms), [(1, true, 10)]);
    assert!(blobs.iter().all(|(b, _)| blob_version(b) == 1));
    // The eleventh would pass the limit: the key rotates first.
    let b = encrypt(&kms, key, b"eleventh");
    assert_eq!(blob_version(&b), 2);
    blobs.push((b, b"eleventh".to_vec()));
    assert_eq!(usage(&kms), [(1, false, 10), (2, true, 1)]);
    let list = rotations(&kms, key, false);
    assert_eq!((list.len(), list[0].rotation_type), (1, Some(RotationType::Automatic)));
    for (b, msg) in &blobs {
        decrypts_to(&kms, b, msg);
    }
    // While the engine runs, version 2 has a block reserved and one encryption used.
    let reserved = |kms: &Engine| -> Vec<u64> {
        kms.material_usage(&kms.default_caller("test"), &key.into()).unwrap().iter().map(|u| u.reserved).collect()
    };
    assert_eq!(reserved(&kms), [10, 4]);
    // Closed, the engine gives the unused rest of its block back: after a restart the count
    // is exact. (After a crash it would be the durable reservation: never lower than the
    // truth, higher by less than one block; see docs/durability.md.)
    drop(kms);
    let (kms, _clock) = engine_with(t, T0, lifecycle)?;
    assert_eq!(usage(&kms), [(1, false, 10), (2, true, 1)]);
    assert_eq!(reserved(&kms), [10, 1]);
    assert_eq!(blob_version(&encrypt(&kms, key, b"after restart")), 2);
    assert_eq!(usage(&kms), [(1, false, 10), (2, true, 2)]);
    assert_eq!(reserved(&kms), [10, 5]);
    Ok(())
});

token_test!(fn deletion_happens_on_its_date_and_not_the_moment_before(t) {
    let (kms, clock) = engine_at(t, T0)?;
    let key = new_key(&kms);
    kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key))?;
    kms.create_alias(AliasRequest::new(AliasName::parse("alias/doomed")?, key))?;
    let blob = encrypt(&kms, key, b"old");
    let kept = new_key(&kms);
    kms.create_alias(AliasRequest::new(AliasName::parse("alias/kept")?, kept))?;
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest::new(key).with_pending_window_in_days(7))?;
    assert_eq!(kms.key_objects()?.len(), 3);

    clock.set(T0 + 7 * DAY - 1);
    assert_eq!(kms.maintain()?.deleted, []);
    let md = kms.describe_key(DescribeKeyRequest::new(key))?.key_metadata;
    assert_eq!(md.key_state, KeyState::PendingDeletion);

    clock.set(T0 + 7 * DAY);
    assert_eq!(kms.maintain()?.deleted, [key]);
    let e = kms.describe_key(DescribeKeyRequest::new(key)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = err(kms.decrypt(DecryptRequest::new(blob)));
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.message(), format!("Key with id {key} does not exist: it was deleted"));
    let aliases: Vec<_> = kms.list_aliases(ListAliasesRequest::new())?.aliases.into_iter().map(|a| a.alias_name.to_string()).collect();
    assert_eq!(aliases, ["alias/kept"]);
    assert_eq!(kms.list_keys(ListKeysRequest::new())?.keys.len(), 1);
    // Every version's token object is gone; the other key's remains.
    assert_eq!(kms.key_objects()?.len(), 1);
    assert_eq!(kind(kms.schedule_key_deletion(ScheduleKeyDeletionRequest::new(key))), ErrorKind::NotFound);
    // A blob naming a key id that never existed is still just an invalid ciphertext.
    let mut foreign = encrypt(&kms, kept, b"x");
    foreign[1] ^= 1;
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(foreign))), ErrorKind::InvalidCiphertext);
    Ok(())
});

token_test!(fn a_cancelled_deletion_does_not_happen(t) {
    let (kms, clock) = engine_at(t, T0)?;
    let key = new_key(&kms);
    let blob = encrypt(&kms, key, b"kept");
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest::new(key).with_pending_window_in_days(7))?;
    clock.set(T0 + 7 * DAY - 1);
    kms.cancel_key_deletion(CancelKeyDeletionRequest::new(key))?;
    clock.set(T0 + 30 * DAY);
    assert_eq!(kms.maintain()?.deleted, []);
    assert_eq!(kms.describe_key(DescribeKeyRequest::new(key))?.key_metadata.key_state, KeyState::Disabled);
    kms.enable_key(EnableKeyRequest::new(key))?;
    decrypts_to(&kms, &blob, b"kept");
    Ok(())
});

token_test!(fn due_work_runs_when_the_engine_opens_and_on_a_schedule(t) {
    let (kms, clock) = engine_at(t, T0)?;
    let a = new_key(&kms);
    let b = new_key(&kms);
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest::new(a).with_pending_window_in_days(7))?;
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest::new(b).with_pending_window_in_days(8))?;
    drop(kms);
    // Opening runs one maintenance pass.
    let (kms, clock2) = engine_at(t, T0 + 7 * DAY)?;
    drop(clock);
    assert_eq!(kind(kms.describe_key(DescribeKeyRequest::new(a))), ErrorKind::NotFound);
    assert_eq!(kms.describe_key(DescribeKeyRequest::new(b))?.key_metadata.key_state, KeyState::PendingDeletion);
    // A long-running process runs it on a schedule.
    let engine = std::sync::Arc::new(kms.0);
    let _thread = engine.start_maintenance(std::time::Duration::from_millis(10))?;
    let kms = engine.client(engine.default_caller("test"));
    clock2.set(T0 + 8 * DAY);
    let mut waited = 0;
    while kms.describe_key(DescribeKeyRequest::new(b)).is_ok() {
        assert!(waited < 1000, "the maintenance thread did not delete the key");
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    assert_eq!(kind(kms.describe_key(DescribeKeyRequest::new(b))), ErrorKind::NotFound);
    Ok(())
});

token_test!(fn an_interrupted_deletion_cannot_be_cancelled_and_is_finished(t) {
    use lockbox_store::failpoints;
    let (kms, clock) = engine_at(t, T0)?;
    let key = new_key(&kms);
    kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key))?;
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest::new(key).with_pending_window_in_days(7))?;
    clock.set(T0 + 7 * DAY);
    // The first of two objects is destroyed, then the deletion stops.
    failpoints::arm("engine.delete.after_destroy");
    let r = kms.maintain()?;
    assert_eq!((r.deleted.len(), r.failed.len()), (0, 1));
    assert_eq!(r.failed[0].0, key);
    assert_eq!(kms.key_objects()?.len(), 1);
    let e = kms.cancel_key_deletion(CancelKeyDeletionRequest::new(key)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KmsInvalidState);
    assert_eq!(e.message(), format!("arn:aws:kms:us-east-1:000000000000:key/{key} is being deleted; the deletion cannot be cancelled."));
    // Reconciliation finishes it, whatever the clock says.
    clock.set(T0);
    let report = kms.reconcile()?;
    assert_eq!(report.finished_deletions, [key]);
    assert!(report.missing.is_empty() && report.orphans.is_empty(), "{report:?}");
    assert_eq!(kind(kms.describe_key(DescribeKeyRequest::new(key))), ErrorKind::NotFound);
    assert_eq!(kms.key_objects()?.len(), 0);
    Ok(())
});

token_test!(fn orphans_are_destroyed_after_the_grace_period(t) {
    use lockbox_store::failpoints;
    let lifecycle = Lifecycle { orphan_grace: std::time::Duration::from_secs(3600), ..Lifecycle::default() };
    let (kms, clock) = engine_with(t, T0, lifecycle)?;
    let key = new_key(&kms);
    // The process "dies" between making material and writing its record.
    failpoints::arm("engine.create.after_material");
    assert_eq!(kind(kms.create_key(CreateKeyRequest::new())), ErrorKind::KmsInternal);
    failpoints::arm("engine.rotate.after_material");
    assert_eq!(kind(kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key))), ErrorKind::KmsInternal);
    assert_eq!(kms.key_objects()?.len(), 3);
    assert_eq!(rotations(&kms, key, true).len(), 1, "the failed rotation left the record alone");

    let r = kms.reconcile()?;
    assert_eq!((r.objects, r.keys, r.missing.len()), (3, 1, 0));
    assert_eq!(r.orphans.len(), 2);
    assert!(r.has_problems());
    assert!(r.orphans.iter().all(|o| !o.destroyed && o.first_seen == Timestamp::from_unix_millis(T0) && o.destroy_after == Timestamp::from_unix_millis(T0 + 3_600_000)));
    let mut labels: Vec<_> = r.orphans.iter().map(|o| o.label.clone()).collect();
    labels.sort();
    assert!(labels.contains(&format!("lockbox/{key}/2")), "{labels:?}");

    clock.set(T0 + 3_600_000 - 1);
    assert!(kms.reconcile()?.orphans.iter().all(|o| !o.destroyed));
    // First-seen times survive a restart.
    drop(kms);
    let (kms, clock) = engine_with(t, T0 + 3_600_000 - 1, lifecycle)?;
    assert_eq!(kms.key_objects()?.len(), 3);
    clock.set(T0 + 3_600_000);
    let r = kms.reconcile()?;
    assert_eq!(r.orphans.iter().filter(|o| o.destroyed).count(), 2);
    assert!(!r.has_problems());
    assert_eq!(kms.key_objects()?.len(), 1);
    assert_eq!(kms.reconcile()?, lockbox::ReconcileReport { objects: 1, keys: 1, ..Default::default() });
    // The key itself was never touched, and rotates normally afterwards.
    kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key))?;
    assert_eq!(blob_version(&encrypt(&kms, key, b"x")), 2);
    Ok(())
});

token_test!(fn missing_material_is_reported_and_its_key_is_unavailable_never_dropped(t) {
    use lockbox_token::testing::cryptoki::object::Attribute;
    let (kms, _clock) = engine_at(t, T0)?;
    let key = new_key(&kms);
    let blob = encrypt(&kms, key, b"lost");
    let object = kms.key_objects()?[0].id;
    // Someone destroys the material on the token, outside Lockbox.
    let raw = t.raw_session()?;
    let handles = raw.find_objects(&[Attribute::Id(object.as_bytes().to_vec())])?;
    assert_eq!(handles.len(), 1);
    raw.destroy_object(handles[0])?;

    let r = kms.reconcile()?;
    assert_eq!(r.missing, [lockbox::MissingMaterial { key, version: 1, object }]);
    assert!(r.has_problems());
    for e in [
        kms.encrypt(EncryptRequest::new(key, Plaintext::copy_from(b"x"))).unwrap_err(),
        err(kms.decrypt(DecryptRequest::new(blob.clone()))),
        err(kms.generate_data_key(GenerateDataKeyRequest::new(key, DataKeySpec::Aes128))),
    ] {
        assert_eq!(e.kind(), ErrorKind::KeyUnavailable);
        assert_eq!(e.message(), format!("arn:aws:kms:us-east-1:000000000000:key/{key} is unavailable: its key material is missing from the token."));
    }
    // The key is still there for an operator to see, and still reported after a restart.
    assert_eq!(kms.describe_key(DescribeKeyRequest::new(key))?.key_metadata.key_id, key);
    assert_eq!(kms.list_keys(ListKeysRequest::new())?.keys.len(), 1);
    drop(kms);
    let (kms, _clock) = engine_at(t, T0)?;
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(blob))), ErrorKind::KeyUnavailable);
    assert_eq!(kms.reconcile()?.missing.len(), 1);
    Ok(())
});

token_test!(
/// On a cluster, a key another node has just created may reach this node's HSM member a
/// moment after its record: reconciliation looks for material missing from its listing once
/// more, for the token's replication wait, before it reports it missing.
fn material_that_appears_within_the_replication_wait_is_not_reported_missing(t) {
    use lockbox_token::testing::cryptoki::object::Attribute;
    let (kms, _clock) = engine_at(t, T0)?;
    // The pass opening started in the background is over before the timed pass below.
    kms.open_report().reconciliation.clone()?;
    let key = new_key(&kms);
    let object = kms.key_objects()?.remove(0);
    let raw = t.raw_session()?;
    let handles = raw.find_objects(&[Attribute::Id(object.id.as_bytes().to_vec())])?;
    raw.destroy_object(handles[0])?;
    // The object is back (same CKA_ID and label) 300 ms into the reconciliation.
    let r = std::thread::scope(|s| {
        let back = s.spawn(|| -> Result<(), String> {
            std::thread::sleep(std::time::Duration::from_millis(300));
            t.import_known_aes_key(&[7; 32], *object.id.as_bytes(), &object.label)
                .map_err(|e| e.to_string())
        });
        let started = std::time::Instant::now();
        let r = kms.reconcile();
        let took = started.elapsed();
        (r, took, back.join())
    });
    let (r, took, back) = r;
    back.map_err(|_| "the thread panicked")??;
    let r = r?;
    // The listing (taken before it was back) counts no object; nothing is missing.
    assert_eq!((r.keys, r.objects, r.missing.len()), (1, 0, 0), "{r:?}");
    assert!(took >= std::time::Duration::from_millis(250), "took {took:?}");
    assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
    // And the key is not marked unavailable: it encrypts.
    assert_eq!(blob_version(&encrypt(&kms, key, b"x")), 1);
    Ok(())
});

token_test!(
/// Every action a maintenance pass does is an audit event, under AWS CloudTrail's name for
/// it, by the configured caller from source `maintenance`; a pass with nothing due writes none.
fn maintenance_actions_are_audited(t) {
    let (kms, clock) = engine_at(t, T0)?;
    let rotating = new_key(&kms);
    let deleted = new_key(&kms);
    kms.enable_key_rotation(EnableKeyRotationRequest::new(rotating).with_rotation_period_in_days(90))?;
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest::new(deleted).with_pending_window_in_days(7))?;
    let events = |kms: &Engine| -> Vec<serde_json::Value> {
        kms.audit().flush().unwrap();
        let mut out = Vec::new();
        lockbox::audit::export(kms.store(), &lockbox::audit::ExportFilter::default(), "us-east-1", &mut out).unwrap();
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let before = events(&kms).len();
    assert_eq!(kms.maintain()?, lockbox::MaintenanceReport::default());
    assert_eq!(events(&kms).len(), before, "a pass with nothing due writes nothing");
    clock.set(T0 + 90 * DAY);
    let report = kms.maintain()?;
    assert_eq!((report.rotated, report.deleted), (vec![(rotating, 2)], vec![deleted]));
    let all = events(&kms);
    let done: Vec<(&str, &str, &str, &str)> = all[before..].iter()
        .map(|e| (
            e["eventName"].as_str().unwrap(),
            e["resources"][0]["ARN"].as_str().unwrap(),
            e["sourceIPAddress"].as_str().unwrap(),
            e["userIdentity"]["arn"].as_str().unwrap(),
        ))
        .collect();
    let arn = |k: KeyId| format!("arn:aws:kms:us-east-1:000000000000:key/{k}");
    let (a, b) = (arn(deleted), arn(rotating));
    let mut expected = vec![
        ("DeleteKey", a.as_str(), "maintenance", "arn:aws:iam::000000000000:root"),
        ("RotateKey", b.as_str(), "maintenance", "arn:aws:iam::000000000000:root"),
    ];
    let mut done = done;
    done.sort();
    expected.sort();
    assert_eq!(done, expected);
    assert!(all[before..].iter().all(|e| e.get("errorCode").is_none()));
    kms.audit().seal()?;
    assert!(lockbox::audit::verify(kms.store(), kms.token())?.is_clean());
    Ok(())
});
