//! The audit log against real, throwaway SoftHSM tokens: sealing, durability, and every
//! tampering a holder of the database (but not the token) could try, each caught and named
//! at the right sequence number.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use lockbox::Clock;
use lockbox::api::Timestamp;
use lockbox::audit::{
    AuditConfig, AuditEvent, AuditLog, Durability, ExportFilter, ProblemKind, VerifyReport,
    chain_hash, export, verify,
};
use lockbox_store::{AuditBody, AuditEntry, Store};
use lockbox_token::testing::TestToken;
use lockbox_token::{Token, token_test};

use common::{T0, TestClock};

type Parts = (Arc<Store>, Arc<Token>);

fn parts(t: &TestToken) -> Result<Parts, Box<dyn std::error::Error>> {
    let store = Arc::new(Store::open(&t.dir().join("data/metadata"))?);
    Ok((store, Arc::new(t.open()?)))
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(TestClock(parking_lot::Mutex::new(
        Timestamp::from_unix_millis(T0),
    )))
}

fn open(p: &Parts, config: AuditConfig) -> Result<AuditLog, lockbox::Error> {
    AuditLog::open(p.0.clone(), p.1.clone(), config, clock())
}

fn event(i: u64) -> AuditEvent {
    AuditEvent {
        time: Timestamp::from_unix_millis(T0 + i as i64 * 1000),
        request_id: format!("00000000-0000-4000-8000-{i:012}"),
        account: "111122223333".into(),
        principal: if i.is_multiple_of(2) {
            "arn:aws:iam::111122223333:user/alice".into()
        } else {
            "arn:aws:sts::111122223333:assumed-role/app/s1".into()
        },
        operation: if i.is_multiple_of(3) {
            "Decrypt"
        } else {
            "Encrypt"
        }
        .into(),
        key_arn: Some(format!(
            "arn:aws:kms:eu-west-3:111122223333:key/{}",
            if i.is_multiple_of(5) { "k5" } else { "k1" }
        )),
        encryption_context: [("n".to_owned(), i.to_string())].into(),
        error: i
            .is_multiple_of(7)
            .then(|| ("AccessDeniedException".into(), "denied".into())),
        source: "in-process".into(),
        grant_id: None,
        region: None,
    }
}

/// 300 events in five flushes of 60 with seal_every = 50: each flush ends with a seal.
/// Chunk c: events at 61c..=61c+59, its seal at 61c+60; the last entry is the seal at 304.
fn sealed_log(t: &TestToken) -> Result<Parts, Box<dyn std::error::Error>> {
    let p = parts(t)?;
    let log = open(
        &p,
        AuditConfig {
            seal_every: 50,
            ..AuditConfig::default()
        },
    )?;
    for c in 0..5u64 {
        for i in 0..60 {
            log.append(event(c * 60 + i))?;
        }
        log.flush()?;
    }
    log.close()?;
    Ok(p)
}

fn problems(r: &VerifyReport) -> Vec<(u64, ProblemKind)> {
    r.problems.iter().map(|p| (p.seq, p.kind)).collect()
}

fn entry(store: &Store, seq: u64) -> AuditEntry {
    AuditEntry::decode(&store.audit_raw(seq).unwrap().unwrap()).unwrap()
}

token_test!(fn an_untouched_sealed_log_verifies_clean(t) {
    let p = sealed_log(t)?;
    let r = verify(&p.0, &p.1)?;
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!((r.records, r.seals, r.last_seq, r.unsealed_tail), (300, 5, Some(304), 0));
    assert_eq!(r.first_time, Some(Timestamp::from_unix_millis(T0)));
    assert_eq!(r.last_time, Some(Timestamp::from_unix_millis(T0 + 299_000)));
    for c in 0..5 {
        match entry(&p.0, 61 * c + 60).body {
            AuditBody::Seal { through_seq, .. } => assert_eq!(through_seq, 61 * c + 59),
            other => panic!("expected a seal, got {other:?}"),
        }
    }
    // Records after the last seal are an unsealed tail, not a problem.
    let log = open(&p, AuditConfig::default())?;
    for i in 0..3 {
        log.append(event(1000 + i))?;
    }
    log.flush()?;
    let r = verify(&p.0, &p.1)?;
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(r.unsealed_tail, 3);
    drop(log);
    let r = verify(&p.0, &p.1)?;
    assert!(r.is_clean() && r.unsealed_tail == 0 && r.seals == 6, "{r:?}");
    Ok(())
});

token_test!(fn a_modified_record_is_named(t) {
    let p = sealed_log(t)?;
    let mut e = entry(&p.0, 10);
    let AuditBody::Event(ev) = &mut e.body else { panic!("entry 10 is an event") };
    ev.principal = "arn:aws:iam::111122223333:user/mallory".into();
    p.0.put_audit_raw(10, &e.encode()?)?;
    let r = verify(&p.0, &p.1)?;
    assert_eq!(problems(&r), [(11, ProblemKind::ChainBroken)]);
    assert!(r.problems[0].message.contains("entry 10 was modified"), "{}", r.problems[0]);
    Ok(())
});

token_test!(fn a_deleted_middle_record_is_named(t) {
    let p = sealed_log(t)?;
    p.0.remove_audit_raw(100)?;
    let r = verify(&p.0, &p.1)?;
    assert_eq!(problems(&r), [(100, ProblemKind::Gap)]);
    assert!(r.problems[0].message.contains("entry 100 is missing (deleted)"), "{}", r.problems[0]);
    Ok(())
});

token_test!(fn an_inserted_record_is_named(t) {
    let p = sealed_log(t)?;
    // Shift 50..=304 up by one and put a well-formed forgery at 50, chained to entry 49.
    for seq in (50..=304).rev() {
        let bytes = p.0.audit_raw(seq)?.unwrap();
        p.0.put_audit_raw(seq + 1, &bytes)?;
    }
    let forged = AuditEntry {
        seq: 50,
        prev_hash: chain_hash(&p.0.audit_raw(49)?.unwrap()),
        body: AuditBody::Event(event(9999)),
    };
    p.0.put_audit_raw(50, &forged.encode()?)?;
    let r = verify(&p.0, &p.1)?;
    let found = problems(&r);
    assert_eq!(found[..2], [(51, ProblemKind::Misplaced), (51, ProblemKind::ChainBroken)], "{:?}", r.problems);
    assert!(r.problems[0].message.contains("says it is entry 50"), "{}", r.problems[0]);
    assert!(!found.iter().any(|(s, _)| *s == 50), "the forgery itself chains: {found:?}");
    Ok(())
});

token_test!(fn swapped_records_are_named(t) {
    let p = sealed_log(t)?;
    let (a, b) = (p.0.audit_raw(20)?.unwrap(), p.0.audit_raw(21)?.unwrap());
    p.0.put_audit_raw(20, &b)?;
    p.0.put_audit_raw(21, &a)?;
    let r = verify(&p.0, &p.1)?;
    let found = problems(&r);
    assert!(found.contains(&(20, ProblemKind::Misplaced)), "{found:?}");
    assert!(found.contains(&(21, ProblemKind::Misplaced)), "{found:?}");
    assert!(found.iter().all(|(s, _)| (20..=22).contains(s)), "{found:?}");
    Ok(())
});

token_test!(fn a_modified_seal_mac_is_named(t) {
    let p = sealed_log(t)?;
    let mut e = entry(&p.0, 121);
    let AuditBody::Seal { mac, .. } = &mut e.body else { panic!("entry 121 is a seal") };
    mac[0] ^= 1;
    p.0.put_audit_raw(121, &e.encode()?)?;
    let r = verify(&p.0, &p.1)?;
    // The seal's MAC fails, and its changed bytes break the link to the next entry.
    assert_eq!(problems(&r), [(121, ProblemKind::BadMac), (122, ProblemKind::ChainBroken)]);
    Ok(())
});

token_test!(fn deleting_the_tail_with_its_seal_is_caught_by_the_tokens_mark(t) {
    let p = sealed_log(t)?;
    for seq in 244..=304 {
        p.0.remove_audit_raw(seq)?;
    }
    let r = verify(&p.0, &p.1)?;
    // The chain that is left is perfect: only the token knows it was longer.
    assert_eq!(problems(&r), [(304, ProblemKind::Truncated)]);
    let m = &r.problems[0].message;
    assert!(m.contains("the token's mark says seal at seq 304 with hash") && m.contains("the log ends at seq 243"), "{m}");
    // And the log refuses to open (sealing on top would overwrite the evidence).
    match open(&p, AuditConfig::default()) {
        Err(lockbox::Error::Audit(m)) => assert!(m.contains("truncated"), "{m}"),
        Err(e) => panic!("expected an audit error, got {e}"),
        Ok(_) => panic!("a truncated log opened"),
    }
    Ok(())
});

token_test!(fn a_consistently_rewritten_chain_is_caught_by_the_seal_mac(t) {
    let p = sealed_log(t)?;
    // Rewrite from 130 on with every hash recomputed, seals' chain hashes included.
    let mut prev = chain_hash(&p.0.audit_raw(129)?.unwrap());
    for seq in 130..=304 {
        let mut e = entry(&p.0, seq);
        e.prev_hash = prev;
        match &mut e.body {
            AuditBody::Event(ev) if seq == 130 => ev.operation = "ScheduleKeyDeletion".into(),
            AuditBody::Seal { chain_hash: h, .. } => *h = prev,
            _ => {}
        }
        let bytes = e.encode()?;
        prev = chain_hash(&bytes);
        p.0.put_audit_raw(seq, &bytes)?;
    }
    let r = verify(&p.0, &p.1)?;
    assert_eq!(
        problems(&r),
        [(182, ProblemKind::BadMac), (243, ProblemKind::BadMac), (304, ProblemKind::BadMac), (304, ProblemKind::Truncated)],
        "{:?}", r.problems
    );
    Ok(())
});

token_test!(fn batched_records_are_written_in_the_background_and_durable_after_drop(t) {
    let p = parts(t)?;
    let config = AuditConfig { batch_max: Duration::from_millis(20), ..AuditConfig::default() };
    let log = open(&p, config)?;
    for i in 0..10 {
        log.append(event(i))?;
    }
    // Nobody flushes: the background thread writes them within batch_max.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while p.0.last_audit()?.map(|(s, _)| s) != Some(9) {
        assert!(std::time::Instant::now() < deadline, "the batch was never written");
        std::thread::sleep(Duration::from_millis(5));
    }
    for i in 10..15 {
        log.append(event(i))?;
    }
    drop(log); // writes what is queued and seals
    let log = open(&p, config)?;
    assert_eq!(log.next_seq(), 16); // 15 events and a seal
    log.close()?;
    let r = verify(&p.0, &p.1)?;
    assert!(r.is_clean() && r.records == 15 && r.seals == 1, "{r:?}");
    Ok(())
});

token_test!(fn every_record_durability_writes_before_append_returns(t) {
    let p = parts(t)?;
    let config = AuditConfig { durability: Durability::EveryRecord, seal_every: 4, ..AuditConfig::default() };
    let log = open(&p, config)?;
    for i in 0..3 {
        log.append(event(i))?;
        assert_eq!(p.0.last_audit()?.map(|(s, _)| s), Some(i));
    }
    log.append(event(3))?; // the fourth record: sealed at once
    assert!(matches!(entry(&p.0, 4).body, AuditBody::Seal { through_seq: 3, .. }));
    log.append(event(4))?;
    // Kill nothing, but forget the log without running its close: the record is on disk.
    std::mem::forget(log);
    assert_eq!(p.0.last_audit()?.map(|(s, _)| s), Some(5));
    let r = verify(&p.0, &p.1)?;
    assert!(r.is_clean() && r.unsealed_tail == 1, "{r:?}");
    Ok(())
});

token_test!(fn a_background_write_failure_fails_appends_for_a_while_and_loses_no_queued_record(t) {
    let p = parts(t)?;
    let log = open(&p, AuditConfig { batch_max: Duration::from_millis(10), ..AuditConfig::default() })?;
    log.append(event(0))?;
    log.flush()?;
    lockbox_store::failpoints::arm("store.append_audit.before_insert");
    log.append(event(1))?; // queued: the caller cannot know yet
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let err = loop {
        match log.append(event(2)) {
            Err(e) => break e,
            Ok(()) => {
                assert!(std::time::Instant::now() < deadline, "appends kept succeeding");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    };
    assert!(err.to_string().contains("stopped after a failed write") && err.to_string().contains("injected failure"), "{err}");
    assert!(log.flush().is_err());
    // After RETRY_AFTER the log tries again (a database back from a restart): appends work,
    // and the record of the call answered before the failure (event 1) is written.
    std::thread::sleep(lockbox::audit::RETRY_AFTER);
    log.append(event(5))?;
    log.flush()?;
    let ids: Vec<String> = p
        .0
        .audit_from(0)
        .map(|e| AuditEntry::decode(&e.unwrap().1).unwrap())
        .filter_map(|e| match e.body {
            AuditBody::Event(ev) => Some(ev.request_id),
            _ => None,
        })
        .collect();
    // Every append that was accepted is there: 0, 1, the event-2 appends the loop made
    // before it saw the failure, then 5.
    let id = |i| event(i).request_id;
    assert_eq!(ids[..2], [id(0), id(1)]);
    assert_eq!(ids.last(), Some(&id(5)));
    assert!(ids[2..ids.len() - 1].iter().all(|x| *x == id(2)), "{ids:?}");
    drop(log);
    // Reopened, the log resumes from what is on disk, and it still verifies.
    let log = open(&p, AuditConfig::default())?;
    log.append(event(3))?;
    log.close()?;
    let r = verify(&p.0, &p.1)?;
    assert!(r.is_clean(), "{:?}", r.problems);
    Ok(())
});

token_test!(fn seals_come_on_the_interval_too(t) {
    let p = parts(t)?;
    let log = open(&p, AuditConfig { seal_interval: Duration::from_millis(100), batch_max: Duration::from_millis(5), ..AuditConfig::default() })?;
    log.append(event(0))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while verify(&p.0, &p.1)?.seals == 0 {
        assert!(std::time::Instant::now() < deadline, "no seal came");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
});

token_test!(fn the_audit_key_is_never_reconciled_as_an_orphan(t) {
    let p = parts(t)?;
    open(&p, AuditConfig::default())?.close()?;
    let key = lockbox_token::ObjectId::from_bytes(p.0.audit_objects()?.unwrap().key);
    let token = p.1.clone();
    drop(p);
    let lifecycle = lockbox::Lifecycle { orphan_grace: Duration::ZERO, ..Default::default() };
    let (engine, _) = common::engine_with(t, T0, lifecycle)?;
    let report = engine.reconcile()?;
    assert!(report.orphans.is_empty(), "{:?}", report.orphans);
    assert!(token.inspect(&key)?.is_generic_secret);
    Ok(())
});

token_test!(fn export_writes_cloudtrail_json_lines_with_filters(t) {
    let p = sealed_log(t)?;
    let mut out = Vec::new();
    assert_eq!(export(&p.0, &ExportFilter::default(), "us-east-1", &mut out)?, 300);
    let lines: Vec<serde_json::Value> = out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
    assert_eq!(lines.len(), 300);
    let first = &lines[0];
    assert_eq!(first["eventSource"], "kms.amazonaws.com");
    assert_eq!(first["eventName"], "Decrypt");
    assert_eq!(first["eventTime"], "2025-01-01T00:00:00Z");
    assert_eq!(first["awsRegion"], "eu-west-3");
    assert_eq!(first["userIdentity"]["type"], "IAMUser");
    assert_eq!(first["userIdentity"]["accountId"], "111122223333");
    assert_eq!(first["requestParameters"]["encryptionContext"]["n"], "0");
    assert_eq!(first["resources"][0]["type"], "AWS::KMS::Key");
    assert_eq!(first["errorCode"], "AccessDeniedException");
    assert_eq!(first["readOnly"], true);
    assert_eq!(first["eventCategory"], "Management");
    assert_eq!(first["recipientAccountId"], "111122223333");
    assert_eq!(lines[1]["userIdentity"]["type"], "AssumedRole");
    assert!(lines[1].get("errorCode").is_none());
    assert_ne!(lines[0]["eventID"], lines[1]["eventID"]);

    let count = |f: ExportFilter| export(&p.0, &f, "us-east-1", &mut std::io::sink()).unwrap();
    assert_eq!(count(ExportFilter { key: Some("k5".into()), ..Default::default() }), 60);
    assert_eq!(count(ExportFilter { key: Some("arn:aws:kms:eu-west-3:111122223333:key/k5".into()), ..Default::default() }), 60);
    assert_eq!(count(ExportFilter { principal: Some("arn:aws:iam::111122223333:user/alice".into()), ..Default::default() }), 150);
    assert_eq!(count(ExportFilter {
        start: Some(Timestamp::from_unix_millis(T0 + 10_000)),
        end: Some(Timestamp::from_unix_millis(T0 + 19_000)),
        ..Default::default()
    }), 10);
    Ok(())
});

const KILL_DATA_ENV: &str = "LOCKBOX_AUDIT_KILL_DATA";
const KILL_MODULE_ENV: &str = "LOCKBOX_AUDIT_KILL_MODULE";
const KILL_PIN_ENV: &str = "LOCKBOX_AUDIT_KILL_PIN";
/// How many records the killed child leaves unsealed.
const KILL_RECORDS: u64 = 40;

/// The child of `a_killed_processs_unsealed_tail_is_sealed_when_the_log_reopens`: writes
/// records durably, says so, and waits to be killed. Never sealed: no seal is due (seal_every
/// and seal_interval far away) and SIGKILL runs no destructor.
#[test]
#[ignore = "run by a_killed_processs_unsealed_tail_is_sealed_when_the_log_reopens in a process it kills"]
fn audit_kill_child() {
    use lockbox_token::{PinSource, TokenConfig, TokenSelector};
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let token = TokenConfig::new(
        env(KILL_MODULE_ENV),
        TokenSelector::Label(lockbox_token::testing::TEST_TOKEN_LABEL.into()),
        PinSource::File(env(KILL_PIN_ENV).into()),
    );
    let data = std::path::PathBuf::from(env(KILL_DATA_ENV));
    let p: Parts = (
        Arc::new(Store::open(&data.join("metadata")).unwrap()),
        Arc::new(Token::open(&token).unwrap()),
    );
    let config = AuditConfig {
        durability: Durability::EveryRecord,
        seal_every: 1_000_000,
        seal_interval: Duration::from_secs(86_400),
        ..AuditConfig::default()
    };
    let log = open(&p, config).unwrap();
    // Four threads at once, so their records share group commits; each is durable when its
    // append returns.
    std::thread::scope(|s| {
        for t in 0..4 {
            let log = &log;
            s.spawn(move || {
                for i in (t..KILL_RECORDS).step_by(4) {
                    log.append(event(i)).unwrap();
                }
            });
        }
    });
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "WRITTEN {}", log.next_seq()).unwrap();
        out.flush().unwrap();
    }
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

token_test!(fn a_killed_processs_unsealed_tail_is_sealed_when_the_log_reopens(t) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let data = t.dir().join("data");
    let mut child = Command::new(std::env::current_exe()?)
        .args(["audit_kill_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(KILL_DATA_ENV, &data)
        .env(KILL_MODULE_ENV, &t.config().module)
        .env(KILL_PIN_ENV, t.dir().join("user.pin"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut written = None;
    for line in BufReader::new(stdout).lines() {
        // libtest may have printed "test audit_kill_child ... " on the same line.
        let line = line?;
        if let Some(n) = line.split_once("WRITTEN ").map(|(_, n)| n) {
            written = Some(n.parse::<u64>()?);
            break;
        }
    }
    // SIGKILL: no destructor, no close, no seal.
    child.kill()?;
    child.wait()?;
    assert_eq!(written, Some(KILL_RECORDS), "the child did not write its records");

    let p = parts(t)?;
    // What the kill left: every record durable, none sealed.
    let before = verify(&p.0, &p.1)?;
    assert!(before.is_clean(), "{:?}", before.problems);
    assert_eq!((before.records, before.seals, before.unsealed_tail), (KILL_RECORDS, 0, KILL_RECORDS), "{before:?}");

    // The restart seals them before it returns: durably, then the mark.
    let log = open(&p, AuditConfig::default())?;
    assert_eq!(log.next_seq(), KILL_RECORDS + 1);
    let after = verify(&p.0, &p.1)?;
    assert!(after.is_clean(), "{:?}", after.problems);
    assert_eq!((after.records, after.seals, after.unsealed_tail), (KILL_RECORDS, 1, 0), "{after:?}");
    assert!(after.notes.is_empty(), "the mark did not move to the seal: {:?}", after.notes);
    assert!(matches!(
        entry(&p.0, KILL_RECORDS).body,
        AuditBody::Seal { through_seq, .. } if through_seq == KILL_RECORDS - 1
    ));
    // Even if this process is killed now, before any seal of its own: the tail is protected.
    std::mem::forget(log);
    let again = verify(&p.0, &p.1)?;
    assert_eq!((again.seals, again.unsealed_tail), (1, 0), "{again:?}");
    Ok(())
});

// Every-record durability with concurrent callers: their records share writes (group
// commit), every record is answered only once written, and the chain is whole.
token_test!(fn every_record_appends_from_concurrent_callers_share_writes(t) {
    let p = parts(t)?;
    let config = AuditConfig { durability: Durability::EveryRecord, seal_every: 1_000_000, ..AuditConfig::default() };
    let log = open(&p, config)?;
    const THREADS: u64 = 8;
    const EACH: u64 = 50;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (log, store) = (&log, &p.0);
            s.spawn(move || {
                for i in 0..EACH {
                    let n = t * EACH + i;
                    log.append(event(n)).unwrap();
                    // Answered: the record is in the store (written by this caller or by the
                    // one that wrote its group).
                    let want = event(n).request_id;
                    let found = store.audit_from(0).any(|item| {
                        let (_, bytes) = item.unwrap();
                        matches!(AuditEntry::decode(&bytes).unwrap().body,
                            AuditBody::Event(e) if e.request_id == want)
                    });
                    assert!(found, "record {n} was answered before it was written");
                }
            });
        }
    });
    let writes = log.writes();
    assert!(writes < THREADS * EACH, "{writes} writes for {} records: no group commit", THREADS * EACH);
    assert!(writes >= 1);
    std::mem::forget(log);
    let r = verify(&p.0, &p.1)?;
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!((r.records, r.seals, r.last_seq), (THREADS * EACH, 0, Some(THREADS * EACH - 1)), "{r:?}");
    Ok(())
});

fn refused(i: u64, source: &str) -> lockbox::audit::RefusedRequest {
    lockbox::audit::RefusedRequest {
        request_id: format!("00000000-0000-4000-9000-{i:012}"),
        source: source.into(),
        operation: Some("Encrypt".into()),
        access_key_id: Some("AKIDEXAMPLE".into()),
        principal: None,
        error_code: "InvalidSignatureException".into(),
        error_message:
            "The request signature we calculated does not match the signature you provided.".into(),
    }
}

// A flood of refusals from many sources writes at most the budget's stated bound in bytes,
// and every refusal is either recorded or counted in a summary.
token_test!(fn a_flood_of_refusals_writes_at_most_the_stated_bound(t) {
    use lockbox::audit::{Admission, RefusalBudget};
    let p = parts(t)?;
    let budget = RefusalBudget { summary_interval: Duration::from_millis(200), ..RefusalBudget::default() };
    let config = AuditConfig { refusals: budget, batch_max: Duration::from_millis(5), seal_every: 7, ..AuditConfig::default() };
    let log = open(&p, config)?;
    log.append(event(0))?;
    log.flush()?;
    let first = log.next_seq();
    let started = std::time::Instant::now();
    const N: u64 = 20_000;
    let mut recorded = 0u64;
    for i in 0..N {
        // 40 sources; a few very noisy ones.
        let source = if i % 4 == 0 { format!("198.51.100.{}", i % 40) } else { "203.0.113.9".to_owned() };
        if log.refused(refused(i, &source))? == Admission::Recorded {
            recorded += 1;
        }
        if i % 2000 == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    log.close()?;
    let elapsed = started.elapsed();

    let (mut bytes, mut refusals, mut counted, mut summaries) = (0u64, 0u64, 0u64, 0u64);
    for item in p.0.audit_from(first) {
        let (_, b) = item?;
        bytes += b.len() as u64;
        match AuditEntry::decode(&b)?.body {
            AuditBody::Refused(r) => {
                refusals += 1;
                assert_eq!((r.error_code.as_str(), r.access_key_id.as_deref()), ("InvalidSignatureException", Some("AKIDEXAMPLE")));
            }
            AuditBody::Suppressed(s) => {
                summaries += 1;
                counted += s.count;
                assert!(s.by_source.len() <= lockbox::audit::SUMMARY_SOURCES);
                assert_eq!(s.count, s.by_source.iter().map(|(_, n)| n).sum::<u64>() + s.others);
            }
            AuditBody::Seal { .. } => {}
            AuditBody::Event(e) => panic!("unexpected event {e:?}"),
        }
    }
    let bound = budget.max_bytes(elapsed);
    eprintln!("{N} refusals in {elapsed:?}: {refusals} recorded, {counted} suppressed in {summaries} summaries, {bytes} bytes written (bound {bound})");
    assert_eq!(refusals, recorded);
    assert_eq!(refusals + counted, N, "every refusal is recorded or counted");
    assert!(summaries >= 1);
    assert!(bytes <= bound, "{bytes} bytes written, bound {bound}");
    // The flood did not get far: the global burst and rate allow little in this time.
    assert!(refusals <= u64::from(budget.burst) + (budget.per_second * elapsed.as_secs_f64()).ceil() as u64);
    let r = verify(&p.0, &p.1)?;
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!((r.refusals, r.suppressed.1, r.unsealed_tail), (refusals, counted, 0));
    Ok(())
});

token_test!(fn refusals_are_exported_with_their_shape(t) {
    let p = parts(t)?;
    let log = open(&p, AuditConfig::default())?;
    let mut with_principal = refused(1, "2001:db8::7");
    with_principal.principal = Some("arn:aws:iam::111122223333:user/alice".into());
    (with_principal.error_code, with_principal.error_message) = ("ThrottlingException".into(), "Rate exceeded".into());
    log.refused(refused(0, "192.0.2.1"))?;
    log.refused(with_principal)?;
    // Over the per-source burst (10): the rest from this source are counted.
    for i in 0..15 {
        log.refused(refused(100 + i, "192.0.2.2"))?;
    }
    log.close()?;
    let mut out = Vec::new();
    assert_eq!(export(&p.0, &ExportFilter::default(), "eu-west-3", &mut out)?, 13);
    let lines: Vec<serde_json::Value> = out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
    let mut first = lines[0].clone();
    assert!(first["eventID"].as_str().unwrap().len() == 36);
    first.as_object_mut().unwrap().remove("eventID");
    assert_eq!(first, serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "Unknown", "accessKeyId": "AKIDEXAMPLE"},
        "eventTime": "2025-01-01T00:00:00Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": "Encrypt",
        "awsRegion": "eu-west-3",
        "sourceIPAddress": "192.0.2.1",
        "errorCode": "InvalidSignatureException",
        "errorMessage": "The request signature we calculated does not match the signature you provided.",
        "requestID": "00000000-0000-4000-9000-000000000000",
        "readOnly": true,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "eventCategory": "Management",
        "additionalEventData": {"refused": true},
    }));
    assert_eq!(lines[1]["userIdentity"], serde_json::json!({
        "type": "IAMUser", "principalId": "user/alice", "arn": "arn:aws:iam::111122223333:user/alice",
        "accountId": "111122223333", "accessKeyId": "AKIDEXAMPLE"
    }));
    assert_eq!((lines[1]["errorCode"].as_str(), lines[1]["recipientAccountId"].as_str()), (Some("ThrottlingException"), Some("111122223333")));
    let mut last = lines[12].clone();
    last.as_object_mut().unwrap().remove("eventID");
    assert_eq!(last, serde_json::json!({
        "eventVersion": "1.08",
        "eventTime": "2025-01-01T00:00:00Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": "RefusalsSuppressed",
        "awsRegion": "eu-west-3",
        "readOnly": true,
        "eventType": "AwsServiceEvent",
        "managementEvent": true,
        "eventCategory": "Management",
        "serviceEventDetails": {
            "suppressedRefusals": 5,
            "from": "2025-01-01T00:00:00Z",
            "until": "2025-01-01T00:00:00Z",
            "bySource": [{"sourceIPAddress": "192.0.2.2", "count": 5}],
            "otherSources": 0
        }
    }));
    // A key filter leaves them out; they name no key.
    let mut none = Vec::new();
    let f = ExportFilter { key: Some("k1".into()), ..ExportFilter::default() };
    assert_eq!(export(&p.0, &f, "eu-west-3", &mut none)?, 0);
    Ok(())
});
