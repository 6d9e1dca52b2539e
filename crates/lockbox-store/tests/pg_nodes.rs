//! Several nodes on one PostgreSQL database: concurrent writers never lose each other's
//! changes, the checks made in a transaction hold across nodes, another node's change reaches
//! a node's cache within a bounded time (and at once under strict consistency), a lost
//! listener turns the cache off, and a PostgreSQL restart loses nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Barrier;
use std::time::{Duration, Instant};

use lockbox_api::{AliasName, KeyId, KeySpec, KeyState, KeyUsage, Origin, Timestamp};
use lockbox_store::testing::PgCluster;
use lockbox_store::{Consistency, GrantRecord, KeyRecord, Material, Revision, Store, StoreError};

mod common;
use common::{Harness, pg_options_on};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const ACCT: &str = "000000000000";
const REGION: &str = "eu-west-3";

fn record(n: u8) -> KeyRecord {
    KeyRecord {
        id: KeyId::from_random_bytes([n; 16]),
        created: Timestamp::from_unix_millis(1_700_000_000_000),
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
        tags: vec![],
        auto_rotation: None,
        on_demand_rotations: 0,
        account: ACCT.into(),
        policy: None,
        imports: None,
        region: REGION.into(),
        family: None,
        revision: Revision::NEW,
    }
}

fn grant(r: &KeyRecord, g: u8) -> GrantRecord {
    GrantRecord {
        key: r.id,
        slot: r.slot(),
        id: [g; 32],
        name: None,
        created: Timestamp::from_unix_millis(1),
        grantee: format!("arn:aws:iam::{ACCT}:role/app"),
        retiring: None,
        issuing_account: ACCT.into(),
        operations: vec![lockbox_api::GrantOperation::Decrypt],
        context_subset: None,
        context_equals: None,
    }
}

/// Waits until `f` holds, at most `within`; false if it never did.
fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}

/// Read, add one, write over the version read; on `Conflict` read again. Several threads on
/// each of two nodes: the count ends equal to the increments acknowledged.
#[test]
fn nodes_incrementing_one_record_lose_no_update() -> TestResult {
    let h = Harness::postgres("lost_update")?;
    let (a, b) = (h.open()?, h.open()?);
    let r = record(1);
    a.put_key(&r)?;
    const THREADS: usize = 3;
    const EACH: u32 = 15;
    let (done, conflicts) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2 * THREADS)
            .map(|i| {
                let store = if i % 2 == 0 { &a } else { &b };
                s.spawn(move || {
                    let (mut done, mut conflicts) = (0u32, 0u32);
                    while done < EACH {
                        let mut r = store.key(record(1).slot()).unwrap().unwrap();
                        r.on_demand_rotations += 1;
                        match store.put_key(&r) {
                            Ok(()) => done += 1,
                            Err(StoreError::Conflict) => conflicts += 1,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    (done, conflicts)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .fold((0, 0), |(d, c), (d1, c1)| (d + d1, c + c1))
    });
    println!("{done} increments acknowledged, {conflicts} conflicts retried");
    assert_eq!(done, 2 * THREADS as u32 * EACH);
    assert_eq!(a.key(r.slot())?.unwrap().on_demand_rotations, done);
    assert_eq!(b.key(r.slot())?.unwrap().on_demand_rotations, done);
    Ok(())
}

/// Both nodes create the same alias at the same moment: one wins, the other is told it
/// exists.
#[test]
fn one_alias_name_is_won_by_exactly_one_node() -> TestResult {
    let h = Harness::postgres("alias_race")?;
    let (a, b) = (h.open()?, h.open()?);
    let (ka, kb) = (record(1), record(2));
    a.put_key(&ka)?;
    a.put_key(&kb)?;
    for round in 0..20 {
        let name = AliasName::parse(&format!("alias/r{round}"))?;
        let barrier = Barrier::new(2);
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| {
                barrier.wait();
                a.create_alias(ACCT, REGION, &name, ka.id, Timestamp::from_unix_millis(1))
            });
            let tb = s.spawn(|| {
                barrier.wait();
                b.create_alias(ACCT, REGION, &name, kb.id, Timestamp::from_unix_millis(2))
            });
            (ta.join().unwrap(), tb.join().unwrap())
        });
        let winner = match (ra, rb) {
            (Ok(()), Err(StoreError::AliasExists)) => ka.id,
            (Err(StoreError::AliasExists), Ok(())) => kb.id,
            other => panic!("round {round}: {other:?}"),
        };
        assert_eq!(
            b.alias(ACCT, REGION, &name)?.map(|r| r.target),
            Some(winner)
        );
    }
    Ok(())
}

/// A grant written on one node while the other deletes its key: either the grant is refused
/// (`KeyMissing`) or it is written first and the deletion takes it; never a grant of a key
/// that is gone.
#[test]
fn a_grant_racing_the_deletion_of_its_key_never_outlives_it() -> TestResult {
    let h = Harness::postgres("grant_race")?;
    let (a, b) = (h.open()?, h.open()?);
    let (mut refused, mut taken) = (0, 0);
    for round in 0..30u8 {
        let r = record(round);
        a.put_key(&r)?;
        let barrier = Barrier::new(2);
        let (granted, removed) = std::thread::scope(|s| {
            let tg = s.spawn(|| {
                barrier.wait();
                a.put_grant(&grant(&r, 1), 10)
            });
            let td = s.spawn(|| {
                barrier.wait();
                b.begin_deletion(r.slot(), Timestamp::from_unix_millis(1))?;
                b.finish_deletion(r.slot(), &[])
            });
            (tg.join().unwrap(), td.join().unwrap())
        });
        removed?;
        match granted {
            Ok(()) => taken += 1,
            Err(StoreError::KeyMissing) => refused += 1,
            Err(e) => panic!("round {round}: {e}"),
        }
        assert_eq!(a.key(r.slot())?, None);
        assert_eq!(a.grants_of(r.slot())?, vec![], "round {round}");
        assert_eq!(b.grants_of(r.slot())?, vec![], "round {round}");
    }
    println!("{taken} grants written then taken by the deletion, {refused} refused");
    Ok(())
}

/// A record changed on node A is seen by node B's cached reads within a bounded time (B's
/// listener drops its cache on A's notification), and at once by a node in strict mode.
#[test]
fn another_nodes_change_reaches_the_cache_soon_and_strict_reads_at_once() -> TestResult {
    let h = Harness::postgres("invalidation")?;
    let a = h.open()?;
    let b = h.open()?;
    let strict = h.open_with(Consistency::Strict)?;
    assert!(!strict.caches_records());
    assert!(
        eventually(Duration::from_secs(10), || b.caches_records()),
        "B's listener never came up"
    );
    let mut r = record(1);
    a.put_key(&r)?;
    const CHANGES: u32 = 200;
    let mut latencies = Vec::new();
    for n in 1..=CHANGES {
        // B holds the current record in its cache.
        let before = b.key_shared(r.slot())?.unwrap();
        assert_eq!(before.on_demand_rotations, n - 1);
        r.revision = a.key(r.slot())?.unwrap().revision;
        r.on_demand_rotations = n;
        a.put_key(&r)?;
        let written = Instant::now();
        assert_eq!(
            strict.key_shared(r.slot())?.unwrap().on_demand_rotations,
            n,
            "strict read after change {n}"
        );
        loop {
            if b.key_shared(r.slot())?.unwrap().on_demand_rotations == n {
                break;
            }
            assert!(
                written.elapsed() < Duration::from_secs(2),
                "change {n} not seen by B after 2 s"
            );
            std::thread::sleep(Duration::from_micros(100));
        }
        latencies.push(written.elapsed());
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    let max = latencies[latencies.len() - 1];
    println!(
        "invalidation latency over {CHANGES} changes: median {median:?}, p99 {p99:?}, max {max:?}"
    );
    assert!(b.caches_records());
    Ok(())
}

/// Kills the listening connections of database `db` (as a network failure or an
/// administrator would); the stores' pooled connections are left alone.
fn kill_listeners(pg: &PgCluster, db: &str) -> Result<usize, Box<dyn std::error::Error>> {
    let out = pg.admin_sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{db}' AND usename = 'lockbox' \
         AND (query LIKE 'LISTEN%' OR query = 'SELECT 1');\n"
    ))?;
    Ok(out.lines().filter(|l| l.trim() == "t").count())
}

/// When B's listener connection is killed, B stops caching (so it cannot serve a record
/// another node changed meanwhile) until the listener is back; then changes reach it again.
#[test]
fn a_killed_listener_turns_the_cache_off_until_it_is_back() -> TestResult {
    let h = Harness::postgres("listener_killed")?;
    let pg = PgCluster::shared()?;
    let a = h.open_with(Consistency::Strict)?;
    let b = h.open()?;
    assert!(eventually(Duration::from_secs(10), || b.caches_records()));
    let mut r = record(1);
    a.put_key(&r)?;
    for round in 1..=3u32 {
        assert_eq!(
            b.key_shared(r.slot())?.unwrap().on_demand_rotations,
            round - 1
        );
        assert_eq!(kill_listeners(pg, h.database())?, 1, "round {round}");
        assert!(
            eventually(Duration::from_secs(2), || !b.caches_records()),
            "round {round}: B still caches with its listener gone"
        );
        // Changed while B hears nothing: B reads the database.
        r.revision = a.key(r.slot())?.unwrap().revision;
        r.on_demand_rotations = round;
        a.put_key(&r)?;
        assert_eq!(b.key_shared(r.slot())?.unwrap().on_demand_rotations, round);
        assert!(
            eventually(Duration::from_secs(10), || b.caches_records()),
            "round {round}: B's listener did not come back"
        );
        assert_eq!(b.key_shared(r.slot())?.unwrap().on_demand_rotations, round);
    }
    Ok(())
}

/// PostgreSQL restarted (as after a crash) under two nodes: every committed change is there
/// afterwards, the nodes' next calls succeed once the server is back (the first may fail),
/// and their caches come back.
#[test]
fn a_postgresql_restart_loses_nothing_and_the_nodes_carry_on() -> TestResult {
    let pg = PgCluster::start()?;
    let url = pg.url();
    let dir = tempfile::tempdir()?;
    let open = || Store::open_postgres(&pg_options_on(&pg, &url, Consistency::Default), dir.path());
    let (a, b) = (open()?, open()?);
    for n in 1..=20 {
        a.put_key(&record(n))?;
        b.create_alias(
            ACCT,
            REGION,
            &AliasName::parse(&format!("alias/k{n}"))?,
            record(n).id,
            Timestamp::from_unix_millis(1),
        )?;
    }
    assert!(eventually(Duration::from_secs(10), || a.caches_records()
        && b.caches_records()));
    pg.restart()?;
    let mut failed = 0;
    let back = eventually(Duration::from_secs(20), || match b.key(record(1).slot()) {
        Ok(r) => r.is_some(),
        Err(_) => {
            failed += 1;
            false
        }
    });
    assert!(back, "B never read again after the restart");
    println!("{failed} calls failed while the server restarted");
    for n in 1..=20 {
        assert_eq!(a.key(record(n).slot())?, Some(record(n)), "record {n}");
        assert_eq!(
            b.alias(ACCT, REGION, &AliasName::parse(&format!("alias/k{n}"))?)?
                .map(|r| r.target),
            Some(record(n).id)
        );
    }
    // Writes work again, from both.
    a.put_key(&record(21))?;
    b.put_key(&record(22))?;
    assert!(
        eventually(Duration::from_secs(20), || a.caches_records()
            && b.caches_records()),
        "the caches did not come back"
    );
    // And changes propagate again.
    let cached = b.key_shared(record(21).slot())?.unwrap();
    assert_eq!(cached.on_demand_rotations, 0);
    let mut r = a.key(record(21).slot())?.unwrap();
    r.on_demand_rotations = 5;
    a.put_key(&r)?;
    assert!(eventually(Duration::from_secs(2), || {
        b.key_shared(record(21).slot())
            .unwrap()
            .unwrap()
            .on_demand_rotations
            == 5
    }));
    Ok(())
}

/// The server runs engine calls on each connection's own tokio runtime thread (decision
/// 0037), where rust-postgres's own `block_on` would panic: every store call, a cluster
/// lock taken and let go, and the store itself dropped, from inside a runtime.
#[test]
fn a_store_works_from_a_tokio_runtime_thread() -> TestResult {
    let h = Harness::postgres("from_runtime")?;
    let store = h.open()?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let r = record(7);
    rt.block_on(async {
        store.put_key(&r)?;
        let mut read = store.key(r.slot())?.ok_or("the record is missing")?;
        assert_eq!(read.description, "key 7");
        read.description = "changed".into();
        store.put_key(&read)?;
        let lock = store
            .try_cluster_lock("from_runtime")?
            .ok_or("the lock is taken")?;
        drop(lock);
        assert!(store.try_cluster_lock("from_runtime")?.is_some());
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    rt.block_on(async move { drop(store) });
    assert_eq!(
        h.open()?.key(r.slot())?.map(|k| k.description),
        Some("changed".to_owned())
    );
    Ok(())
}
