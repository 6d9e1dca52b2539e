//! One audit trail for a cluster: two nodes (two audit logs, each over its own connection to
//! one PostgreSQL database, sealing with one SoftHSM token) append concurrently; the chain
//! stays one dense, unbroken, sealed chain that verifies from either node, with every node's
//! events in it; the token's mark never moves backwards; a tampered entry is named; and a
//! node killed before it sealed has its tail sealed when it reopens while the other appends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lockbox::Clock;
use lockbox::api::Timestamp;
use lockbox::audit::{
    AuditConfig, AuditEvent, AuditLog, Durability, ProblemKind, SEAL_LOCK, verify,
};
use lockbox_store::testing::PgCluster;
use lockbox_store::{AuditBody, AuditEntry, Consistency, DbPassword, PostgresOptions, Store};
use lockbox_token::{ObjectId, Token, token_test};

use common::{T0, TestClock};

fn clock() -> Arc<dyn Clock> {
    Arc::new(TestClock(parking_lot::Mutex::new(
        Timestamp::from_unix_millis(T0),
    )))
}

/// A node's store: its own connections to the database `url`, its own data directory.
fn node_store(url: &str, dir: &std::path::Path) -> Arc<Store> {
    let cluster = PgCluster::shared().unwrap();
    let options = PostgresOptions {
        url: url.to_owned(),
        password: Some(DbPassword::new(cluster.password().to_owned())),
        ca_file: None,
        consistency: Consistency::Default,
        cache_ttl: Duration::from_secs(5),
        pool_size: 4,
    };
    Arc::new(Store::open_postgres(&options, dir).unwrap())
}

fn event(node: &str, i: u64) -> AuditEvent {
    AuditEvent {
        time: Timestamp::from_unix_millis(T0 + i as i64),
        request_id: format!("{node}-{i}"),
        account: "111122223333".into(),
        principal: format!("arn:aws:iam::111122223333:user/{node}"),
        operation: "Encrypt".into(),
        key_arn: None,
        encryption_context: Default::default(),
        error: None,
        source: node.into(),
        grant_id: None,
        region: None,
    }
}

/// The events' request ids in chain order, after checking the sequence numbers are dense.
fn event_ids(store: &Store) -> Vec<String> {
    let mut ids = Vec::new();
    for (i, item) in store.audit_from(0).enumerate() {
        let (seq, bytes) = item.unwrap();
        assert_eq!(seq, i as u64, "sequence numbers are not dense");
        if let AuditBody::Event(e) = AuditEntry::decode(&bytes).unwrap().body {
            ids.push(e.request_id);
        }
    }
    ids
}

fn mark_of(token: &Token, store: &Store) -> Option<u64> {
    let mark = ObjectId::from_bytes(store.audit_objects().unwrap().unwrap().mark);
    let v = token.read_mark(&mark).unwrap();
    (!v.is_empty()).then(|| u64::from_be_bytes(v[..8].try_into().unwrap()))
}

token_test!(fn two_nodes_appending_concurrently_keep_one_sealed_chain_that_verifies_from_either(t) {
    let url = PgCluster::shared()?.create_database("audit_two_nodes")?;
    let dirs = tempfile::tempdir()?;
    let token = Arc::new(t.open()?);
    let (sa, sb) = (node_store(&url, &dirs.path().join("a")), node_store(&url, &dirs.path().join("b")));
    let config = AuditConfig {
        seal_every: 7,
        batch_max: Duration::from_millis(3),
        seal_interval: Duration::from_millis(100),
        ..AuditConfig::default()
    };
    // Both open a fresh store at once: the token objects are made once.
    let open = |s: &Arc<Store>, durability| {
        let (s, token) = (s.clone(), token.clone());
        std::thread::spawn(move || {
            AuditLog::open(s, token, AuditConfig { durability, ..config }, clock()).unwrap()
        })
    };
    let (a, b) = (open(&sa, Durability::Batched), open(&sb, Durability::EveryRecord));
    let (a, b) = (Arc::new(a.join().unwrap()), Arc::new(b.join().unwrap()));
    // Watch the mark while the nodes work: it must never go backwards.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (token, store, stop) = (token.clone(), sa.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                // Under the seal lock, as the nodes read it (SoftHSM fails a mark write
                // that a read of the same object races with).
                if let Some(_held) = store.try_cluster_lock(SEAL_LOCK).unwrap() {
                    seen.push(mark_of(&token, &store));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            seen.push(mark_of(&token, &store));
            seen
        })
    };
    let writers: Vec<_> = [("a", a.clone()), ("b", b.clone())]
        .into_iter()
        .flat_map(|(node, log)| {
            (0..2).map(move |w| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..60 {
                        log.append(event(&format!("{node}{w}"), i)).unwrap();
                        if i % 20 == 19 {
                            log.seal().unwrap();
                        }
                    }
                })
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    Arc::try_unwrap(a).ok().unwrap().close()?;
    Arc::try_unwrap(b).ok().unwrap().close()?;
    stop.store(true, Ordering::SeqCst);
    let seen = watcher.join().unwrap();
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "the mark went backwards: {seen:?}");

    // Dense, with every writer's events in its own order.
    let ids = event_ids(&sa);
    assert_eq!(ids.len(), 240);
    for writer in ["a0", "a1", "b0", "b1"] {
        let mine: Vec<&String> = ids.iter().filter(|id| id.starts_with(&format!("{writer}-"))).collect();
        let want: Vec<String> = (0..60).map(|i| format!("{writer}-{i}")).collect();
        assert_eq!(mine, want.iter().collect::<Vec<_>>());
    }
    // Verified from either node: clean, all sealed, the mark on the last seal.
    let ra = verify(&sa, &token)?;
    let rb = verify(&sb, &token)?;
    assert!(ra.is_clean(), "{:?}", ra.problems);
    assert_eq!((ra.records, ra.unsealed_tail), (240, 0));
    assert!(ra.seals > 0);
    assert_eq!((rb.records, rb.seals, rb.last_seq, rb.problems.len()), (ra.records, ra.seals, ra.last_seq, 0));
    assert_eq!(mark_of(&token, &sb), ra.last_seq);

    // One node tampers with one of the other node's events (one followed by an event, so the
    // break shows as a broken link rather than a seal mismatch); the other node's verify names
    // it.
    let entries: Vec<(u64, AuditEntry)> = sa
        .audit_from(0)
        .map(|i| i.unwrap())
        .map(|(s, b)| (s, AuditEntry::decode(&b).unwrap()))
        .collect();
    let (seq, mut entry) = entries
        .windows(2)
        .find(|w| {
            matches!(&w[0].1.body, AuditBody::Event(ev) if ev.source.starts_with('b'))
                && matches!(w[1].1.body, AuditBody::Event(_))
        })
        .map(|w| w[0].clone())
        .unwrap();
    let AuditBody::Event(ev) = &mut entry.body else { unreachable!() };
    ev.principal = "arn:aws:iam::111122223333:user/mallory".into();
    sa.put_audit_raw(seq, &entry.encode()?)?;
    let r = verify(&sb, &token)?;
    assert_eq!(r.problems.iter().map(|p| (p.seq, p.kind)).collect::<Vec<_>>(), [(seq + 1, ProblemKind::ChainBroken)]);
    Ok(())
});

token_test!(fn a_killed_nodes_tail_is_sealed_when_it_reopens_while_another_node_appends(t) {
    let url = PgCluster::shared()?.create_database("audit_killed_tail")?;
    let dirs = tempfile::tempdir()?;
    let token = Arc::new(t.open()?);
    let every = AuditConfig { durability: Durability::EveryRecord, ..AuditConfig::default() };
    let sa = node_store(&url, &dirs.path().join("a"));
    let a = AuditLog::open(sa.clone(), token.clone(), every, clock())?;
    for i in 0..3 {
        a.append(event("a", i))?;
    }
    // Killed: no close, no seal.
    std::mem::forget(a);
    let last_of_a = sa.last_audit()?.unwrap().0;

    // Meanwhile the other node appends, on and on.
    let sb = node_store(&url, &dirs.path().join("b"));
    let b = Arc::new(AuditLog::open(sb.clone(), token.clone(), every, clock())?);
    let stop = Arc::new(AtomicBool::new(false));
    let appender = {
        let (b, stop) = (b.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                b.append(event("b", i)).unwrap();
                i += 1;
            }
            i
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    // Node a restarts: a new store connection and log; its open seals what is unsealed.
    let sa = node_store(&url, &dirs.path().join("a2"));
    let a = AuditLog::open(sa.clone(), token.clone(), every, clock())?;
    let sealed_through = sa
        .audit_from(last_of_a + 1)
        .map(|i| AuditEntry::decode(&i.unwrap().1).unwrap())
        .find_map(|e| match e.body {
            AuditBody::Seal { through_seq, .. } => Some(through_seq),
            _ => None,
        });
    assert!(sealed_through.is_some_and(|s| s >= last_of_a), "a's tail was not sealed: {sealed_through:?}");
    assert!(mark_of(&token, &sa).is_some_and(|m| m > last_of_a));
    stop.store(true, Ordering::SeqCst);
    let from_b = appender.join().unwrap();
    assert!(from_b > 0);
    a.close()?;
    Arc::try_unwrap(b).ok().unwrap().close()?;
    let r = verify(&sb, &token)?;
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!((r.records, r.unsealed_tail), (3 + from_b, 0));
    let ids = event_ids(&sa);
    assert_eq!(&ids[..3], ["a-0", "a-1", "a-2"]);
    Ok(())
});

// ---- Through the engine: two `Engine`s, each with its own data directory, over one database
// and one token directory.

/// A node's engine at the shared `clock`, over database `db`.
fn engine_node(
    t: &lockbox_token::testing::TestToken,
    name: &str,
    db: &str,
    clock: Arc<TestClock>,
) -> lockbox::Engine {
    lockbox::Engine::open_with_clock(node_config(t, name, db), clock).unwrap()
}

/// The configuration of a node with data directory `<token dir>/<name>` over database `db`.
fn node_config(t: &lockbox_token::testing::TestToken, name: &str, db: &str) -> lockbox::Config {
    use lockbox::{Config, Consistency, PasswordSource, PostgresConfig, StoreConfig};
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
    config.store = StoreConfig::Postgres(PostgresConfig {
        url: pg.url_for(db),
        password: Some(PasswordSource::File(password)),
        ca_file: None,
        consistency: Consistency::Default,
        cache_ttl: Duration::from_millis(1000),
        pool_size: 4,
    });
    config.lifecycle.orphan_grace = Duration::from_secs(3600);
    config
}

fn shared_clock() -> Arc<TestClock> {
    Arc::new(TestClock(parking_lot::Mutex::new(
        Timestamp::from_unix_millis(T0),
    )))
}

fn caller(node: &str) -> lockbox::api::Caller {
    lockbox::api::Caller::new(
        lockbox::api::Principal::parse("arn:aws:iam::000000000000:root").unwrap(),
    )
    .with_source(node)
}

token_test!(fn two_engines_calling_concurrently_keep_one_chain_with_every_call(t) {
    use lockbox::api::*;
    PgCluster::shared()?.create_database("engines_audit")?;
    let clock = shared_clock();
    let a = Arc::new(engine_node(t, "a", "engines_audit", clock.clone()));
    let b = Arc::new(engine_node(t, "b", "engines_audit", clock.clone()));
    let key = a.client(caller("node-a")).create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    let threads: Vec<_> = [("node-a", a.clone()), ("node-b", b.clone())]
        .into_iter()
        .flat_map(|(node, e)| {
            (0..2).map(move |_| {
                let e = e.clone();
                std::thread::spawn(move || {
                    for _ in 0..40 {
                        e.client(caller(node))
                            .encrypt(EncryptRequest::new(key, Plaintext::copy_from(b"x")))
                            .unwrap();
                    }
                })
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    a.audit().seal()?;
    b.audit().seal()?;
    for e in [&a, &b] {
        let r = verify(e.store(), e.token())?;
        assert!(r.is_clean(), "{:?}", r.problems);
        assert_eq!(r.unsealed_tail, 0);
    }
    // `lockbox audit verify` on a third node (no engine: `open_parts`) checks the same chain.
    let (store, token, _lock) = lockbox::audit::open_parts(&node_config(t, "c", "engines_audit"))?;
    let r = verify(&store, &token)?;
    let ra = verify(a.store(), a.token())?;
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!((r.records, r.seals, r.last_seq), (ra.records, ra.seals, ra.last_seq));
    assert!(r.records >= 161, "{} records", r.records);
    // Dense, and every call of each node is in the one chain.
    event_ids(a.store());
    let mut by_source = std::collections::BTreeMap::<String, (u64, u64)>::new();
    for item in b.store().audit_from(0) {
        if let AuditBody::Event(ev) = AuditEntry::decode(&item?.1)?.body {
            let n = by_source.entry(ev.source.clone()).or_default();
            match ev.operation.as_str() {
                "Encrypt" => n.0 += 1,
                _ => n.1 += 1,
            }
        }
    }
    assert_eq!(by_source.get("node-a").map(|n| n.0), Some(80), "{by_source:?}");
    assert_eq!(by_source.get("node-b").map(|n| n.0), Some(80), "{by_source:?}");
    Ok(())
});

token_test!(fn maintenance_and_orphan_destruction_run_on_the_node_that_holds_the_lock(t) {
    use lockbox::api::*;
    use lockbox::{MAINTENANCE_LOCK, ORPHAN_LOCK};
    let url = PgCluster::shared()?.create_database("engines_locks")?;
    let clock = shared_clock();
    let a = engine_node(t, "a", "engines_locks", clock.clone());
    let b = engine_node(t, "b", "engines_locks", clock.clone());
    let key = a.client(caller("node-a")).create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    a.client(caller("node-a"))
        .schedule_key_deletion(ScheduleKeyDeletionRequest::new(key).with_pending_window_in_days(7))?;
    clock.set(T0 + 8 * 86_400_000);
    // A third party (another node's maintenance, say) holds the lock: both skip the pass.
    let other = node_store(&url, &t.dir().join("other"));
    let held = other.try_cluster_lock(MAINTENANCE_LOCK)?.expect("the lock is free");
    assert_eq!(a.maintain()?.deleted, []);
    assert_eq!(b.maintain()?.deleted, []);
    assert_eq!(
        b.client(caller("node-b")).describe_key(DescribeKeyRequest::new(key))?.key_metadata.key_state,
        KeyState::PendingDeletion
    );
    drop(held);
    // Released: the next pass deletes it, once.
    assert_eq!(b.maintain()?.deleted, [key]);
    assert_eq!(a.maintain()?.deleted, []);

    // An orphan past its grace: not destroyed while another node holds the orphan lock.
    lockbox_store::failpoints::arm("engine.create.after_material");
    assert!(a.client(caller("node-a")).create_key(CreateKeyRequest::new()).is_err());
    assert_eq!(a.reconcile()?.orphans.len(), 1);
    clock.set(T0 + 8 * 86_400_000 + 2 * 3_600_000);
    let held = other.try_cluster_lock(ORPHAN_LOCK)?.expect("the lock is free");
    let r = b.reconcile()?;
    assert_eq!((r.orphans.len(), r.orphans[0].destroyed), (1, false));
    drop(held);
    let r = b.reconcile()?;
    assert_eq!((r.orphans.len(), r.orphans[0].destroyed), (1, true));
    assert!(a.reconcile()?.orphans.is_empty());
    Ok(())
});

// Pruning on a cluster (issue 18): one node prunes at a time (the other, finding the prune
// lock held, does nothing), the other node sees the pruned chain, both verify it, and both
// keep appending after it.
token_test!(fn one_node_prunes_the_shared_chain_and_the_other_verifies_it(t) {
    use lockbox::audit::{PRUNE_LOCK, Retention, prune, verify_segments};
    let url = PgCluster::shared()?.create_database("audit_prune_two_nodes")?;
    let dirs = tempfile::tempdir()?;
    let token = Arc::new(t.open()?);
    let (sa, sb) = (node_store(&url, &dirs.path().join("a")), node_store(&url, &dirs.path().join("b")));
    let config = AuditConfig { durability: Durability::EveryRecord, seal_every: 5, ..AuditConfig::default() };
    let a = AuditLog::open(sa.clone(), token.clone(), config, clock())?;
    let b = AuditLog::open(sb.clone(), token.clone(), config, clock())?;
    for i in 0..12 {
        a.append(event("a", i))?;
        b.append(event("b", i))?;
    }
    a.seal()?;
    let retention = Retention { max_age: None, max_records: Some(1), export_dir: dirs.path().join("export") };
    let now = Timestamp::from_unix_millis(T0);
    // B holds the prune lock: A skips.
    let held = sb.try_cluster_lock(PRUNE_LOCK)?.expect("the prune lock is free");
    let skipped = prune(&sa, &token, &retention, now)?;
    assert!(skipped.skipped && skipped.segments == 0, "{skipped:?}");
    drop(held);
    let done = prune(&sa, &token, &retention, now)?;
    assert!(!done.skipped && done.segments >= 4, "{done:?}");
    assert_eq!(sb.audit_pruned()?, done.starts_at);
    // Both nodes append on; B's verify checks across the pruned start, and the files.
    b.append(event("b", 99))?;
    a.append(event("a", 99))?;
    for s in [&sa, &sb] {
        let v = verify(s, &token)?;
        assert!(v.is_clean(), "{:?}", v.problems);
        assert_eq!(v.pruned_before, done.starts_at);
    }
    let files = verify_segments(&retention.export_dir, &token, Some(&sb))?;
    assert!(files.problems.is_empty(), "{:?}", files.problems);
    assert_eq!((files.first_seq, files.last_seq), (Some(0), done.starts_at));
    a.close()?;
    b.close()?;
    Ok(())
});
