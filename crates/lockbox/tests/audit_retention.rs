//! Audit retention: sealed segments exported to segment files and pruned from the store;
//! `verify` across the pruned start; the files checked on their own and against the store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use lockbox::Clock;
use lockbox::api::Timestamp;
use lockbox::audit::{
    AuditConfig, AuditEvent, AuditLog, Durability, ProblemKind, Retention, prune,
    segment_file_name, segment_files, verify, verify_segments,
};
use lockbox_store::{AuditBody, AuditEntry, Store};
use lockbox_token::{Token, token_test};

use common::{T0, TestClock};

type Parts = (Arc<Store>, Arc<Token>);

fn parts(t: &lockbox_token::testing::TestToken) -> Result<Parts, Box<dyn std::error::Error>> {
    let store = Arc::new(Store::open(&t.dir().join("data/metadata"))?);
    Ok((store, Arc::new(t.open()?)))
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(TestClock(parking_lot::Mutex::new(
        Timestamp::from_unix_millis(T0),
    )))
}

fn event(i: u64) -> AuditEvent {
    AuditEvent {
        time: Timestamp::from_unix_millis(T0 + i as i64),
        request_id: format!("00000000-0000-4000-8000-{i:012}"),
        account: "111122223333".into(),
        principal: "arn:aws:iam::111122223333:user/alice".into(),
        operation: "Encrypt".into(),
        key_arn: Some("arn:aws:kms:eu-west-3:111122223333:key/k1".into()),
        encryption_context: [("n".to_owned(), i.to_string())].into(),
        error: None,
        source: "in-process".into(),
        grant_id: None,
        region: None,
    }
}

/// A log of 35 events with a seal after every 10: events 0-9, seal 10, events 11-20, seal 21,
/// events 22-31, seal 32, events 33-37 (unsealed). Closed without its final seal.
fn log_of_35(p: &Parts) -> Result<(), Box<dyn std::error::Error>> {
    let config = AuditConfig {
        durability: Durability::EveryRecord,
        seal_every: 10,
        seal_interval: Duration::from_secs(86_400),
        ..AuditConfig::default()
    };
    let log = AuditLog::open(p.0.clone(), p.1.clone(), config, clock())?;
    for i in 0..35 {
        log.append(event(i))?;
    }
    std::mem::forget(log); // no closing seal: the tail stays unsealed
    assert_eq!(p.0.last_audit()?.map(|(s, _)| s), Some(37));
    Ok(())
}

fn retention(
    t: &lockbox_token::testing::TestToken,
    max_records: Option<u64>,
    max_age: Option<Duration>,
) -> Retention {
    Retention {
        max_age,
        max_records,
        export_dir: t.dir().join("export"),
    }
}

token_test!(fn pruning_by_record_count_exports_whole_segments_and_keeps_their_seal(t) {
    let p = parts(t)?;
    log_of_35(&p)?;
    let r = retention(t, Some(10), None);
    let report = prune(&p.0, &p.1, &r, Timestamp::from_unix_millis(T0))?;
    // Segments ending at seals 10 and 21 leave 27 and 16 entries after them (>= 10); the one
    // ending at 32 would leave 5.
    assert_eq!((report.segments, report.entries, report.starts_at, report.skipped), (2, 21, Some(21), false));
    let dir = t.dir().join("export");
    assert_eq!(
        report.files,
        vec![dir.join(segment_file_name(0, 10)), dir.join(segment_file_name(11, 21))]
    );
    assert_eq!(segment_files(&dir)?, report.files);
    {
        use std::os::unix::fs::PermissionsExt;
        for f in &report.files {
            assert_eq!(std::fs::metadata(f)?.permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(std::fs::metadata(&dir)?.permissions().mode() & 0o777, 0o700);
    }
    // The store starts at the kept seal 21.
    assert_eq!(p.0.audit_pruned()?, Some(21));
    assert_eq!(p.0.audit_count()?, 17);
    assert_eq!(p.0.audit_raw(20)?, None);
    assert!(matches!(
        AuditEntry::decode(&p.0.audit_raw(21)?.unwrap())?.body,
        AuditBody::Seal { through_seq: 20, .. }
    ));
    // verify checks the chain from the kept seal (its MAC in the token) on.
    let v = verify(&p.0, &p.1)?;
    assert!(v.is_clean(), "{:?}", v.problems);
    assert_eq!((v.records, v.seals, v.last_seq, v.unsealed_tail, v.pruned_before), (15, 2, Some(37), 5, Some(21)), "{v:?}");
    // The files verify on their own and against the store.
    let s = verify_segments(&dir, &p.1, Some(&p.0))?;
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!((s.files, s.entries, s.first_seq, s.last_seq), (2, 22, Some(0), Some(21)));
    // A prune killed after writing the next file and before removing its segment: the files
    // reach past the store's start, and still agree with it.
    let ahead: Vec<(u64, Vec<u8>)> = p.0.audit_from(22).take(11).map(|i| i.unwrap()).collect();
    assert_eq!(ahead.last().map(|(s, _)| *s), Some(32));
    std::fs::write(dir.join(segment_file_name(22, 32)), lockbox::audit::encode_segment(&ahead))?;
    let s = verify_segments(&dir, &p.1, Some(&p.0))?;
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!((s.files, s.last_seq), (3, Some(32)));
    // Nothing more is due: pruning again does nothing.
    let again = prune(&p.0, &p.1, &r, Timestamp::from_unix_millis(T0))?;
    assert_eq!((again.segments, again.starts_at), (0, Some(21)));

    // The log reopens on the pruned store, goes on, and a later prune continues the files.
    let config = AuditConfig { durability: Durability::EveryRecord, seal_every: 10, ..AuditConfig::default() };
    let log = AuditLog::open(p.0.clone(), p.1.clone(), config, clock())?;
    for i in 35..60 {
        log.append(event(i))?;
    }
    log.close()?;
    let more = prune(&p.0, &p.1, &r, Timestamp::from_unix_millis(T0))?;
    assert!(more.segments >= 2, "{more:?}");
    assert_eq!(more.files[0], dir.join(segment_file_name(22, 32)));
    let v = verify(&p.0, &p.1)?;
    assert!(v.is_clean(), "{:?}", v.problems);
    let s = verify_segments(&dir, &p.1, Some(&p.0))?;
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.last_seq, more.starts_at);
    // Every event is in the store or in a file, once.
    let mut seen = Vec::new();
    for f in segment_files(&dir)? {
        for (_, bytes) in lockbox::audit::decode_segment(&std::fs::read(f)?)? {
            if let AuditBody::Event(e) = AuditEntry::decode(&bytes)?.body {
                seen.push(e.request_id);
            }
        }
    }
    for item in p.0.audit_from(more.starts_at.unwrap() + 1) {
        if let AuditBody::Event(e) = AuditEntry::decode(&item?.1)?.body {
            seen.push(e.request_id);
        }
    }
    let want: Vec<String> = (0..60).map(|i| event(i).request_id).collect();
    assert_eq!(seen, want);
    Ok(())
});

token_test!(fn pruning_by_age_takes_segments_sealed_before_the_retention(t) {
    let p = parts(t)?;
    log_of_35(&p)?;
    let r = retention(t, None, Some(Duration::from_secs(3600)));
    // The seals were made at T0 (the test clock): not an hour old yet.
    let now = |ms: i64| Timestamp::from_unix_millis(T0 + ms);
    let none = prune(&p.0, &p.1, &r, now(3_599_999))?;
    assert_eq!((none.segments, none.starts_at), (0, None));
    assert_eq!(p.0.audit_count()?, 38);
    // An hour later every sealed segment goes; the unsealed tail stays.
    let all = prune(&p.0, &p.1, &r, now(3_600_000))?;
    assert_eq!((all.segments, all.entries, all.starts_at), (3, 32, Some(32)));
    assert_eq!(p.0.audit_count()?, 6);
    assert!(verify(&p.0, &p.1)?.is_clean());
    Ok(())
});

token_test!(fn damaged_missing_or_foreign_segment_files_are_reported(t) {
    let p = parts(t)?;
    log_of_35(&p)?;
    let r = retention(t, Some(1), None);
    let report = prune(&p.0, &p.1, &r, Timestamp::from_unix_millis(T0))?;
    assert_eq!(report.segments, 3);
    let dir = t.dir().join("export");
    // One bit changed in the middle file: its checksum says so.
    let middle = dir.join(segment_file_name(11, 21));
    let mut bytes = std::fs::read(&middle)?;
    bytes[100] ^= 1;
    std::fs::write(&middle, &bytes)?;
    let s = verify_segments(&dir, &p.1, Some(&p.0))?;
    assert_eq!(s.problems.first().map(|x| x.kind), Some(ProblemKind::Undecodable), "{:?}", s.problems);
    assert!(s.problems[0].message.contains("SHA-256"), "{:?}", s.problems);
    // Without it, the gap between the first and the last file is named.
    std::fs::remove_file(&middle)?;
    let s = verify_segments(&dir, &p.1, Some(&p.0))?;
    assert_eq!(s.problems.iter().map(|x| (x.seq, x.kind)).collect::<Vec<_>>(), vec![(11, ProblemKind::Gap)]);
    // Without the last, the files end before the store starts.
    std::fs::remove_file(dir.join(segment_file_name(22, 32)))?;
    let s = verify_segments(&dir, &p.1, Some(&p.0))?;
    assert_eq!(s.problems.iter().map(|x| (x.seq, x.kind)).collect::<Vec<_>>(), vec![(10, ProblemKind::Gap)]);
    // A file that is not a segment file at all.
    std::fs::write(dir.join(segment_file_name(11, 21)), b"not a segment file, just some bytes of text that are long enough")?;
    let s = verify_segments(&dir, &p.1, Some(&p.0))?;
    assert!(s.problems.iter().any(|x| x.kind == ProblemKind::Undecodable && x.message.contains("LBAUDSEG")), "{:?}", s.problems);
    Ok(())
});

token_test!(fn a_pruned_store_whose_kept_seal_is_removed_or_replaced_does_not_verify(t) {
    let p = parts(t)?;
    log_of_35(&p)?;
    prune(&p.0, &p.1, &retention(t, Some(10), None), Timestamp::from_unix_millis(T0))?;
    assert_eq!(p.0.audit_pruned()?, Some(21));
    // The kept seal replaced by an event: the start is not a seal.
    let seal = p.0.audit_raw(21)?.unwrap();
    let stand_in = AuditEntry { seq: 21, prev_hash: [0; 32], body: AuditBody::Event(event(99)) };
    p.0.put_audit_raw(21, &stand_in.encode()?)?;
    let v = verify(&p.0, &p.1)?;
    assert!(v.problems.iter().any(|x| (x.seq, x.kind) == (21, ProblemKind::ChainBroken)), "{:?}", v.problems);
    // The kept seal removed: the entries before 22 are missing.
    p.0.put_audit_raw(21, &seal)?;
    assert!(verify(&p.0, &p.1)?.is_clean());
    p.0.remove_audit_raw(21)?;
    let v = verify(&p.0, &p.1)?;
    assert_eq!(v.problems.first().map(|x| (x.seq, x.kind)), Some((21, ProblemKind::Gap)), "{:?}", v.problems);
    Ok(())
});

// The engine's maintenance pass prunes what `[audit] retention` lets go, and nothing before.
token_test!(fn the_maintenance_pass_prunes_segments_past_the_retention(t) {
    use lockbox::api::{CreateKeyRequest, Kms};
    let clock = Arc::new(TestClock(parking_lot::Mutex::new(Timestamp::from_unix_millis(T0))));
    let mut config = lockbox::Config::new(t.dir().join("data"), t.config());
    config.audit.seal_every = 5;
    config.audit_retention.max_age = Some(Duration::from_secs(86_400));
    let export = config.audit_retention.export_dir.clone();
    assert_eq!(export, t.dir().join("data/audit-export"));
    let e = common::Root(lockbox::Engine::open_with_clock(config, clock.clone())?);
    for _ in 0..12 {
        e.create_key(CreateKeyRequest::new())?;
    }
    e.audit().seal()?;
    let sealed_through = e.store().last_audit()?.map(|(s, _)| s);
    e.maintain()?;
    assert_eq!(e.store().audit_pruned()?, None, "nothing is a day old yet");
    clock.set(T0 + 86_400_000);
    e.maintain()?;
    // Every segment sealed at T0 went; the store starts at the last of those seals.
    let starts = e.store().audit_pruned()?;
    assert_eq!(starts, sealed_through);
    let v = verify(e.store(), e.token())?;
    assert!(v.is_clean(), "{:?}", v.problems);
    let s = verify_segments(&export, e.token(), Some(e.store()))?;
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!((s.first_seq, s.last_seq), (Some(0), starts));
    Ok(())
});
