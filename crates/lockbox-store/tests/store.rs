//! The metadata store on a real directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use lockbox_api::{AliasName, KeyId, KeySpec, KeyState, KeyUsage, Origin, Tag, Timestamp};
use lockbox_store::{
    Deletion, Family, GrantRecord, KeyRecord, KeySlot, Material, Revision, Store, StoreError,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[macro_use]
mod common;
use common::Harness;

// Every test of the store's behaviour runs on both backends; those about sled's files
// (modes, the directory lock, snapshots, a crash of the process) stay sled-only below.
on_both_backends!(
    key_records_round_trip_and_survive_reopen,
    keys_page_in_order_without_gaps_or_repeats,
    aliases_are_checked_atomically_against_keys,
    shared_records_follow_every_write_to_the_key_records,
    shared_records_are_not_left_stale_by_racing_reads,
    deletion_leaves_a_tombstone_that_keeps_its_first_time_and_takes_the_aliases,
    audit_entries_are_appended_in_batches_read_in_order_and_survive_reopening,
    multi_region_members_share_an_id_and_have_a_slot_grants_and_aliases_each,
    a_family_is_written_together_and_a_replica_slot_can_be_used_again,
);

const ACCT: &str = "000000000000";
const REGION: &str = "eu-west-3";

fn record(n: u8) -> KeyRecord {
    KeyRecord {
        id: KeyId::from_random_bytes([n; 16]),
        created: Timestamp::from_unix_millis(1_700_000_000_000 + i64::from(n)),
        description: format!("key {n}"),
        spec: KeySpec::SymmetricDefault,
        usage: KeyUsage::EncryptDecrypt,
        origin: Origin::AwsKms,
        state: KeyState::Enabled,
        deletion: None,
        materials: vec![Material {
            version: 1,
            public_object_id: None,
            object_id: [n.wrapping_add(100); 16],
            created: Timestamp::from_unix_millis(1_700_000_000_000),
            rotation: None,
            encryptions_reserved: 0,
        }],
        tags: vec![Tag::new("team", "crypto").unwrap()],
        auto_rotation: None,
        on_demand_rotations: 0,
        account: "000000000000".into(),
        policy: None,
        imports: None,
        region: REGION.into(),
        family: None,
        revision: Revision::NEW,
    }
}

fn alias(s: &str) -> AliasName {
    AliasName::parse(s).unwrap()
}

fn key_records_round_trip_and_survive_reopen(h: &Harness) -> TestResult {
    let mut r = record(1);
    r.state = KeyState::PendingDeletion;
    r.deletion = Some(Deletion {
        date: Timestamp::from_unix_millis(1_800_000_000_000),
        window_days: 7,
    });
    r.materials.push(Material {
        version: 2,
        public_object_id: None,
        object_id: [7; 16],
        created: Timestamp::from_unix_millis(1_750_000_000_000),
        rotation: Some(lockbox_api::RotationType::OnDemand),
        encryptions_reserved: 4096,
    });
    {
        let store = h.open()?;
        assert_eq!(store.key(r.slot())?, None);
        store.put_key(&r)?;
        assert_eq!(store.key(r.slot())?.as_ref(), Some(&r));
    }
    let store = h.open()?;
    let back = store.key(r.slot())?.unwrap();
    assert_eq!(back, r);
    assert_eq!(back.current_material().map(|m| m.version), Some(2));
    assert_eq!(back.material(1).map(|m| m.object_id), Some([101; 16]));
    Ok(())
}

fn keys_page_in_order_without_gaps_or_repeats(h: &Harness) -> TestResult {
    let store = h.open()?;
    for n in 0..25 {
        store.put_key(&record(n))?;
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.keys_page(None, after, 10)?;
        assert!(page.items.len() <= 10);
        seen.extend(page.items.iter().map(|r| r.id));
        after = page.items.last().map(|r| r.slot());
        if !page.more {
            break;
        }
    }
    let mut expected: Vec<_> = (0..25).map(|n| record(n).id).collect();
    expected.sort();
    assert_eq!(seen, expected);
    assert!(!store.keys_page(None, None, 25)?.more);
    assert!(store.keys_page(None, None, 24)?.more);
    Ok(())
}

fn aliases_are_checked_atomically_against_keys(h: &Harness) -> TestResult {
    let store = h.open()?;
    let (a, b) = (record(1), record(2));
    let now = Timestamp::from_unix_millis(1);
    assert!(matches!(
        store.create_alias(ACCT, REGION, &alias("alias/app"), a.id, now),
        Err(StoreError::KeyMissing)
    ));
    store.put_key(&a)?;
    store.put_key(&b)?;
    store.create_alias(ACCT, REGION, &alias("alias/app"), a.id, now)?;
    assert!(matches!(
        store.create_alias(ACCT, REGION, &alias("alias/app"), b.id, now),
        Err(StoreError::AliasExists)
    ));
    assert_eq!(
        store
            .alias(ACCT, REGION, &alias("alias/app"))?
            .unwrap()
            .target,
        a.id
    );

    let later = Timestamp::from_unix_millis(2);
    store.update_alias(ACCT, REGION, &alias("alias/app"), b.id, later)?;
    let rec = store.alias(ACCT, REGION, &alias("alias/app"))?.unwrap();
    assert_eq!((rec.target, rec.created, rec.updated), (b.id, now, later));
    assert!(matches!(
        store.update_alias(ACCT, REGION, &alias("alias/none"), b.id, later),
        Err(StoreError::AliasMissing)
    ));
    assert!(matches!(
        store.update_alias(ACCT, REGION, &alias("alias/app"), record(3).id, later),
        Err(StoreError::KeyMissing)
    ));

    store.create_alias(ACCT, REGION, &alias("alias/b1"), b.id, now)?;
    store.create_alias(ACCT, REGION, &alias("alias/a1"), a.id, now)?;
    let names = |p: lockbox_store::Page<(AliasName, lockbox_store::AliasRecord)>| {
        p.items
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.aliases_page(ACCT, REGION, None, 10, None)?),
        ["alias/a1", "alias/app", "alias/b1"]
    );
    assert_eq!(
        names(store.aliases_page(ACCT, REGION, None, 10, Some(b.id))?),
        ["alias/app", "alias/b1"]
    );
    let first = store.aliases_page(ACCT, REGION, None, 1, Some(b.id))?;
    assert!(first.more);
    assert_eq!(
        names(store.aliases_page(ACCT, REGION, Some("alias/app"), 10, Some(b.id))?),
        ["alias/b1"]
    );
    assert_eq!(names(first), ["alias/app"]);

    store.delete_alias(ACCT, REGION, &alias("alias/app"))?;
    assert!(matches!(
        store.delete_alias(ACCT, REGION, &alias("alias/app")),
        Err(StoreError::AliasMissing)
    ));
    assert_eq!(store.alias(ACCT, REGION, &alias("alias/app"))?, None);
    Ok(())
}

fn assert_private(dir: &Path) {
    let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", dir.display());
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            assert_private(&path);
        } else {
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }
}

#[test]
fn directory_is_0700_and_every_file_0600() -> TestResult {
    let parent = tempfile::tempdir()?;
    let dir = parent.path().join("metadata");
    let store = Store::open(&dir)?;
    for n in 0..200 {
        store.put_key(&record(n))?;
        store.create_alias(
            ACCT,
            REGION,
            &alias(&format!("alias/k{n}")),
            record(n).id,
            Timestamp::now(),
        )?;
    }
    assert_private(&dir);
    drop(store);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    let _store = Store::open(&dir)?;
    assert_private(&dir);
    Ok(())
}

/// Acknowledged means durable: a child process writes records and reports each one as soon
/// as `put_key` returns, then dies without any cleanup. Every reported record must be there.
///
/// This proves the write left the process before the acknowledgement (the test fails if the
/// flush is removed); that sled's flush also fsyncs, so the write survives power loss, is
/// sled's promise and is not something a process kill can show.
#[test]
fn acknowledged_writes_survive_the_process_dying() -> TestResult {
    const CHILD: &str = "LOCKBOX_STORE_CRASH_CHILD";
    if let Some(dir) = std::env::var_os(CHILD) {
        let store = Store::open(Path::new(&dir))?;
        for n in 0..20 {
            store.put_key(&record(n))?;
            println!("acked {n}");
        }
        // No destructors, no final flush: only what put_key already made durable remains.
        std::process::abort();
    }
    let dir = tempfile::tempdir()?;
    let out = std::process::Command::new(std::env::current_exe()?)
        .args([
            "acknowledged_writes_survive_the_process_dying",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD, dir.path())
        .output()?;
    assert!(!out.status.success(), "the child should have aborted");
    let acked: Vec<u8> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("acked ")?.parse().ok())
        .collect();
    assert_eq!(
        acked.len(),
        20,
        "child output: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = Store::open(dir.path())?;
    for n in acked {
        assert_eq!(
            store.key(record(n).slot())?,
            Some(record(n)),
            "record {n} was lost"
        );
    }
    Ok(())
}

#[test]
fn a_second_opener_is_told_the_directory_is_in_use() -> TestResult {
    let dir = tempfile::tempdir()?;
    let _first = Store::open(dir.path())?;
    match Store::open(dir.path()) {
        Err(e @ StoreError::InUse(_)) => assert_eq!(
            e.to_string(),
            format!(
                "{} is in use by another Lockbox process; only one may open it at a time",
                dir.path().display()
            )
        ),
        other => panic!("expected InUse, got {:?}", other.err()),
    }
    Ok(())
}

/// sled finishes its last background writes on its own threads after the `Store` is dropped,
/// and those writes hold the directory's lock. Reopening at once (an embedder restarting its
/// engine, a test reopening) must wait for them rather than report the directory in use.
#[test]
fn reopening_right_after_closing_is_not_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    for n in 0..200u8 {
        let store = Store::open(dir.path())?;
        store.put_key(&record(n))?;
        drop(store);
    }
    assert_eq!(
        Store::open(dir.path())?
            .keys_page(None, None, 1000)?
            .items
            .len(),
        200
    );
    Ok(())
}

/// Records are decoded once and shared (`key_shared`); every write path must be seen by the
/// next read, in the same `Store`.
fn shared_records_follow_every_write_to_the_key_records(h: &Harness) -> TestResult {
    let store = h.open()?;
    let mut r = record(1);
    assert_eq!(store.key_shared(r.slot())?, None);
    store.put_key(&r)?;
    assert_eq!(store.key_shared(r.slot())?.as_deref(), Some(&r));
    r.description = "changed".into();
    r.on_demand_rotations = 3;
    // A write over a version that is no longer stored is refused, and changes nothing.
    assert!(matches!(store.put_key(&r), Err(StoreError::Conflict)));
    assert_eq!(store.key(r.slot())?.unwrap().description, "key 1");
    r.revision = store.key(r.slot())?.unwrap().revision;
    store.put_key(&r)?;
    assert_eq!(store.key_shared(r.slot())?.as_deref(), Some(&r));
    assert_eq!(store.key(r.slot())?, Some(r.clone()));

    store.delete_key(r.slot())?;
    assert_eq!(store.key_shared(r.slot())?, None);

    // Adopting records from before accounts existed rewrites them.
    let mut old = record(2);
    old.account = String::new();
    store.put_key(&old)?;
    assert_eq!(
        store.key_shared(old.slot())?.map(|r| r.account.clone()),
        Some(String::new())
    );
    assert_eq!(store.assign_owner(ACCT)?, 1);
    assert_eq!(
        store.key_shared(old.slot())?.map(|r| r.account.clone()),
        Some(ACCT.to_owned())
    );

    // Adopting records from before Regions existed gives them the Region.
    let mut older = record(4);
    older.region = String::new();
    store.put_key(&older)?;
    assert_eq!(
        store.key_shared(older.slot())?.map(|r| r.region.clone()),
        Some(String::new())
    );
    assert_eq!(store.assign_region("ap-south-1")?, 1);
    assert_eq!(
        store.key_shared(older.slot())?.map(|r| r.region.clone()),
        Some("ap-south-1".to_owned())
    );
    assert_eq!(
        store.key_shared(old.slot())?.map(|r| r.region.clone()),
        Some(REGION.to_owned())
    );
    assert_eq!(store.assign_region("ap-south-1")?, 0);

    // Finishing a deletion removes the record in a transaction.
    store.begin_deletion(old.slot(), Timestamp::from_unix_millis(1))?;
    store.finish_deletion(old.slot(), &[])?;
    assert_eq!(store.key_shared(old.slot())?, None);
    Ok(())
}

/// A read that races a write must not leave the older record cached: once the writer is
/// done, every read sees its last record, and no reader ever goes back to an older one.
fn shared_records_are_not_left_stale_by_racing_reads(h: &Harness) -> TestResult {
    let store = h.open()?;
    let mut r = record(3);
    store.put_key(&r)?;
    r.revision = store.key(r.slot())?.unwrap().revision;
    let id = r.slot();
    const WRITES: u32 = 300;
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut seen = 0;
                    while !done.load(std::sync::atomic::Ordering::Acquire) {
                        let now = store.key_shared(id).unwrap().unwrap().on_demand_rotations;
                        assert!(now >= seen, "read {now} after {seen}");
                        seen = now;
                    }
                })
            })
            .collect();
        for n in 1..=WRITES {
            r.on_demand_rotations = n;
            store.put_key(&r).unwrap();
            r.revision = store.key(r.slot()).unwrap().unwrap().revision;
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        for t in readers {
            t.join().unwrap();
        }
    });
    assert_eq!(store.key_shared(id)?.unwrap().on_demand_rotations, WRITES);
    Ok(())
}

fn deletion_leaves_a_tombstone_that_keeps_its_first_time_and_takes_the_aliases(
    h: &Harness,
) -> TestResult {
    let store = h.open()?;
    let (doomed, kept) = (record(1), record(2));
    store.put_key(&doomed)?;
    store.put_key(&kept)?;
    let now = Timestamp::from_unix_millis(1_800_000_000_000);
    store.create_alias(ACCT, REGION, &alias("alias/a"), doomed.id, now)?;
    store.create_alias(ACCT, REGION, &alias("alias/b"), doomed.id, now)?;
    store.create_alias(ACCT, REGION, &alias("alias/c"), kept.id, now)?;
    store.begin_deletion(doomed.slot(), now)?;
    store.begin_deletion(
        doomed.slot(),
        Timestamp::from_unix_millis(1_900_000_000_000),
    )?;
    assert_eq!(store.tombstone(doomed.slot())?, Some(now));
    assert_eq!(store.unfinished_deletions()?, [doomed.slot()]);
    let removed = store.finish_deletion(doomed.slot(), &[])?;
    assert_eq!(removed, [alias("alias/a"), alias("alias/b")]);
    drop(store);
    let store = h.open()?;
    assert_eq!(store.key(doomed.slot())?, None);
    assert_eq!(store.tombstone(doomed.slot())?, Some(now));
    assert_eq!(store.tombstone(kept.slot())?, None);
    assert!(store.unfinished_deletions()?.is_empty());
    let names: Vec<_> = store
        .aliases_page(ACCT, REGION, None, 10, None)?
        .items
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, [alias("alias/c")]);
    Ok(())
}

fn audit_entries_are_appended_in_batches_read_in_order_and_survive_reopening(
    h: &Harness,
) -> TestResult {
    {
        let store = h.open().unwrap();
        assert_eq!(store.last_audit().unwrap(), None);
        store
            .append_audit(&[(0, b"zero".to_vec()), (1, b"one".to_vec())])
            .unwrap();
        store.append_audit(&[(2, b"two".to_vec())]).unwrap();
        assert_eq!(store.audit_objects().unwrap(), None);
        store
            .set_audit_objects(&lockbox_store::AuditObjects {
                key: [1; 16],
                mark: [2; 16],
            })
            .unwrap();
    }
    let store = h.open().unwrap();
    assert_eq!(store.last_audit().unwrap(), Some((2, b"two".to_vec())));
    let from1: Vec<_> = store.audit_from(1).map(Result::unwrap).collect();
    assert_eq!(from1, [(1, b"one".to_vec()), (2, b"two".to_vec())]);
    assert_eq!(store.audit_from(0).count(), 3);
    let objects = store.audit_objects().unwrap().unwrap();
    assert_eq!((objects.key, objects.mark), ([1; 16], [2; 16]));
    Ok(())
}

/// The state a kill leaves when it strikes sled 0.34.7 while it writes its snapshot at open
/// (spacejam/sled#1527): a `snap.<lsn>.generating` file, cut short, with a higher LSN than the
/// complete snapshot. Made here deterministically from the store's own complete snapshot.
#[test]
fn an_incomplete_snapshot_left_by_a_kill_is_removed_and_every_record_survives() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let store = Store::open(dir.path())?;
        for n in 1..=20 {
            store.put_key(&record(n))?;
        }
        store.create_alias(
            ACCT,
            REGION,
            &alias("alias/kept"),
            record(3).id,
            Timestamp::from_unix_millis(1),
        )?;
    }
    // Reopen once so the store holds a complete snapshot of those records.
    drop(Store::open(dir.path())?);
    let complete: Vec<_> = std::fs::read_dir(dir.path())?
        .map(|e| e.map(|e| e.file_name().into_string().unwrap()))
        .collect::<Result<_, _>>()?;
    let complete: Vec<String> = complete
        .into_iter()
        .filter(|n| n.starts_with("snap.") && !n.ends_with(".generating"))
        .collect();
    assert_eq!(complete.len(), 1, "one complete snapshot: {complete:?}");
    let snap = std::fs::read(dir.path().join(&complete[0]))?;
    let lsn = u64::from_str_radix(complete[0].trim_start_matches("snap."), 16)?;
    let generating = dir
        .path()
        .join(format!("snap.{:016X}.generating", lsn + 1000));
    std::fs::write(&generating, &snap[..snap.len() / 2])?;
    assert_eq!(
        lockbox_store::incomplete_snapshots(dir.path())?,
        vec![generating.clone()]
    );

    // The state is the real one: sled itself cannot open it.
    match sled::Config::new().path(dir.path()).open() {
        Err(e) => assert!(
            matches!(e, sled::Error::Corruption { at: None, .. })
                && e.to_string()
                    .starts_with("Read corrupted data at file offset None"),
            "{e}"
        ),
        Ok(_) => panic!("sled opened a directory with a truncated newer snapshot"),
    }

    let store = Store::open(dir.path())?;
    assert!(!generating.exists(), "the incomplete snapshot is gone");
    for n in 1..=20 {
        assert_eq!(store.key(record(n).slot())?, Some(record(n)), "record {n}");
    }
    assert_eq!(
        store
            .alias(ACCT, REGION, &alias("alias/kept"))?
            .map(|a| a.target),
        Some(record(3).id)
    );
    for entry in std::fs::read_dir(dir.path())? {
        let entry = entry?;
        let want = if entry.file_type()?.is_dir() {
            0o700
        } else {
            0o600
        };
        assert_eq!(
            entry.metadata()?.permissions().mode() & 0o777,
            want,
            "{}",
            entry.path().display()
        );
    }
    Ok(())
}

/// Only `snap.<16 hex digits>.generating` files are incomplete snapshots; complete snapshots
/// and other names are never listed (so never removed).
#[test]
fn only_generating_snapshots_are_listed_as_incomplete() -> TestResult {
    let dir = tempfile::tempdir()?;
    for name in [
        "snap.00000000000004D2",
        "snap.00000000000004D2.generating",
        "snap.4D2.generating",
        "snap.00000000000004D2.generating.bak",
        "snap.00000000000004ZZ.generating",
        "db",
    ] {
        std::fs::write(dir.path().join(name), b"x")?;
    }
    assert_eq!(
        lockbox_store::incomplete_snapshots(dir.path())?,
        vec![dir.path().join("snap.00000000000004D2.generating")]
    );
    Ok(())
}

#[test]
fn schema_3_aliases_move_to_the_configured_region_at_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    let a = record(1);
    {
        let store = Store::open(dir.path())?;
        store.put_key(&a)?;
        store.create_alias(
            ACCT,
            REGION,
            &alias("alias/old"),
            a.id,
            Timestamp::from_unix_millis(1),
        )?;
    }
    // Rewrite it as schema 3 left it: `<account>:<name>`, schema 3, a record without Region.
    {
        let db = sled::open(dir.path())?;
        let aliases = db.open_tree("aliases")?;
        let v = aliases
            .remove(format!("{ACCT}:{REGION}:alias/old"))?
            .ok_or("no alias")?;
        aliases.insert(format!("{ACCT}:alias/old"), v)?;
        db.open_tree("meta")?
            .insert("schema", &3u32.to_be_bytes())?;
        db.flush()?;
    }
    let mut unregioned = record(2);
    unregioned.region = String::new();
    {
        let store = Store::open(dir.path())?;
        store.put_key(&unregioned)?;
        assert_eq!(store.alias(ACCT, "ap-south-1", &alias("alias/old"))?, None);
        assert_eq!(store.assign_region("ap-south-1")?, 2);
        assert_eq!(
            store
                .alias(ACCT, "ap-south-1", &alias("alias/old"))?
                .map(|r| r.target),
            Some(a.id)
        );
        assert_eq!(store.alias(ACCT, REGION, &alias("alias/old"))?, None);
        assert_eq!(
            store
                .all_aliases()?
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>(),
            vec![format!("{ACCT}:ap-south-1:alias/old")]
        );
        assert_eq!(
            store.key(unregioned.slot())?.map(|r| r.region),
            Some("ap-south-1".to_owned())
        );
        // A key that had its Region keeps it.
        assert_eq!(
            store.key(a.slot())?.map(|r| r.region),
            Some(REGION.to_owned())
        );
        assert_eq!(store.assign_region("ap-south-1")?, 0);
    }
    let db = sled::open(dir.path())?;
    assert_eq!(
        db.open_tree("meta")?.get("schema")?.map(|v| v.to_vec()),
        Some(4u32.to_be_bytes().to_vec())
    );
    Ok(())
}

fn multi_region_members_share_an_id_and_have_a_slot_grants_and_aliases_each(
    h: &Harness,
) -> TestResult {
    let store = h.open()?;
    let id = KeyId::new_multi_region([9; 16]);
    let mut east = record(1);
    east.id = id;
    east.region = "us-east-1".into();
    let mut west = east.clone();
    west.region = "eu-west-1".into();
    west.description = "replica".into();
    store.put_key(&east)?;
    store.put_key(&west)?;
    assert_ne!(east.slot(), west.slot());
    assert_eq!(east.slot(), KeySlot::of(id, "us-east-1"));
    assert_ne!(east.slot().as_bytes(), id.as_bytes());
    // A single-Region key's slot is its id, wherever it is.
    let single = record(2);
    assert_eq!(single.slot().as_bytes(), single.id.as_bytes());
    assert_eq!(KeySlot::of(single.id, "ap-south-1"), single.slot());
    assert_eq!(store.key(east.slot())?, Some(east.clone()));
    assert_eq!(
        store.key(west.slot())?.map(|r| r.description),
        Some("replica".to_owned())
    );
    // The same alias name in each Region names its own member.
    let now = Timestamp::from_unix_millis(1);
    store.create_alias(ACCT, "us-east-1", &alias("alias/m"), id, now)?;
    store.create_alias(ACCT, "eu-west-1", &alias("alias/m"), id, now)?;
    // Not in a Region with no member.
    assert!(matches!(
        store.create_alias(ACCT, "ap-south-1", &alias("alias/m"), id, now),
        Err(StoreError::KeyMissing)
    ));
    // Grants follow the slot, and keep the id (grant record version 2).
    let grant = |slot: KeySlot, n: u8| GrantRecord {
        key: id,
        slot,
        id: [n; 32],
        name: None,
        created: now,
        grantee: format!("arn:aws:iam::{ACCT}:role/app"),
        retiring: None,
        issuing_account: ACCT.into(),
        operations: vec![lockbox_api::GrantOperation::Decrypt],
        context_subset: None,
        context_equals: None,
    };
    store.put_grant(&grant(east.slot(), 1), 50_000)?;
    store.put_grant(&grant(west.slot(), 2), 50_000)?;
    assert_eq!(store.grants_of(east.slot())?, vec![grant(east.slot(), 1)]);
    assert_eq!(store.grants_of(west.slot())?, vec![grant(west.slot(), 2)]);
    drop(store);
    let store = h.open()?;
    assert_eq!(store.grants_of(west.slot())?, vec![grant(west.slot(), 2)]);
    // Deleting one member takes its aliases and grants, not the other's.
    store.begin_deletion(west.slot(), now)?;
    assert_eq!(
        store.finish_deletion(west.slot(), &[])?,
        vec![alias("alias/m")]
    );
    assert_eq!(store.key(west.slot())?, None);
    assert_eq!(store.tombstone(west.slot())?, Some(now));
    assert_eq!(store.tombstone(east.slot())?, None);
    assert_eq!(store.key(east.slot())?, Some(east.clone()));
    assert_eq!(
        store
            .alias(ACCT, "us-east-1", &alias("alias/m"))?
            .map(|a| a.target),
        Some(id)
    );
    assert_eq!(store.alias(ACCT, "eu-west-1", &alias("alias/m"))?, None);
    assert_eq!(store.grants_of(east.slot())?.len(), 1);
    assert!(store.grants_of(west.slot())?.is_empty());
    Ok(())
}

/// A multi-Region family (issue 15): a replica is written with the family's other members in
/// one transaction, into an empty slot only, and takes the place of a deleted replica's
/// tombstone; deleting a member rewrites the others in the same transaction.
fn a_family_is_written_together_and_a_replica_slot_can_be_used_again(h: &Harness) -> TestResult {
    let store = h.open()?;
    let family = Family {
        primary: REGION.into(),
        replicas: vec!["eu-west-1".into()],
    };
    let mut primary = record(7);
    primary.id = KeyId::new_multi_region([7; 16]);
    primary.family = Some(family.clone());
    let mut replica = primary.clone();
    replica.region = "eu-west-1".into();
    store.create_member(&replica, std::slice::from_ref(&primary))?;
    assert_eq!(store.key(primary.slot())?, Some(primary.clone()));
    assert_eq!(store.key(replica.slot())?, Some(replica.clone()));
    // The slot is taken.
    assert!(matches!(
        store.create_member(&replica, &[]),
        Err(StoreError::KeyExists)
    ));
    // Both members change together.
    primary.description = "both".into();
    replica.description = "both".into();
    // Written over the versions read: a copy whose revision is stale is refused.
    assert!(matches!(
        store.put_keys(&[primary.clone(), replica.clone()]),
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.key(replica.slot())?.unwrap().description, "key 7");
    primary.revision = store.key(primary.slot())?.unwrap().revision;
    replica.revision = store.key(replica.slot())?.unwrap().revision;
    store.put_keys(&[primary.clone(), replica.clone()])?;
    assert_eq!(store.key(replica.slot())?.unwrap().description, "both");
    // Deleting the replica rewrites the primary alone.
    primary.family = None;
    primary.revision = store.key(primary.slot())?.unwrap().revision;
    store.begin_deletion(replica.slot(), Timestamp::from_unix_millis(1))?;
    store.finish_deletion(replica.slot(), std::slice::from_ref(&primary))?;
    assert_eq!(store.key(replica.slot())?, None);
    assert_eq!(store.key(primary.slot())?, Some(primary.clone()));
    assert!(store.tombstone(replica.slot())?.is_some());
    // Replicated again into the same Region: the tombstone goes with the new record.
    primary.family = Some(family);
    primary.revision = store.key(primary.slot())?.unwrap().revision;
    store.create_member(&replica, std::slice::from_ref(&primary))?;
    assert_eq!(store.tombstone(replica.slot())?, None);
    assert_eq!(store.unfinished_deletions()?, vec![]);
    drop(store);
    let store = h.open()?;
    assert_eq!(store.key(replica.slot())?, Some(replica));
    assert_eq!(store.key(primary.slot())?, Some(primary));
    Ok(())
}

/// Issue 18: the key-record cache holds up to its capacity and, when full, gives up one entry
/// per new one (it used to empty itself), so a working set larger than the cache still hits.
#[test]
fn a_full_key_cache_evicts_one_record_at_a_time() -> TestResult {
    let parent = tempfile::tempdir()?;
    let store = Store::open(&parent.path().join("metadata"))?;
    let records: Vec<KeyRecord> = (0..8).map(record).collect();
    for r in &records {
        store.put_key(r)?;
    }
    assert_eq!(lockbox_store::DEFAULT_KEY_CACHE_ENTRIES, 131_072);
    store.set_key_cache_entries(5);
    assert_eq!(store.key_cache_len(), 0);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(store.key_shared(r.slot())?.as_deref(), Some(r));
        assert_eq!(store.key_cache_len(), (i + 1).min(5));
    }
    // Reading a kept record again keeps the count; a capacity of 0 keeps nothing.
    for r in &records {
        assert_eq!(store.key_shared(r.slot())?.as_deref(), Some(r));
        assert_eq!(store.key_cache_len(), 5);
    }
    store.set_key_cache_entries(0);
    assert_eq!(
        store.key_shared(records[0].slot())?.as_deref(),
        Some(&records[0])
    );
    assert_eq!(store.key_cache_len(), 0);
    Ok(())
}
