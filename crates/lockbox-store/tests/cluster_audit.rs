//! The audit chain and the cluster locks over one PostgreSQL database shared by two stores
//! (two nodes): chained appends from both serialize in the database (dense sequence numbers,
//! an unbroken chain, every node's entries there), a seal is appended only after the entry it
//! seals, and a cluster lock is held by one node at a time and freed when its holder's
//! connection dies. The same operations over sled (one process, always granted).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lockbox_api::Timestamp;
use lockbox_store::testing::PgCluster;
use lockbox_store::{
    AuditBody, AuditEntry, AuditEvent, ChainHead, Consistency, DbPassword, PostgresOptions, Store,
};
use sha2::{Digest, Sha256};

fn pg_store(cluster: &PgCluster, url: &str, dir: &std::path::Path) -> Store {
    let options = PostgresOptions {
        url: url.to_owned(),
        password: Some(DbPassword::new(cluster.password().to_owned())),
        ca_file: None,
        consistency: Consistency::Default,
        cache_ttl: Duration::from_secs(5),
        pool_size: 4,
    };
    Store::open_postgres(&options, dir).unwrap()
}

/// Two nodes' stores over a fresh database of the shared cluster.
fn two_nodes(name: &str) -> (Arc<Store>, Arc<Store>, tempfile::TempDir) {
    let cluster = PgCluster::shared().unwrap();
    let url = cluster.create_database(name).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = pg_store(cluster, &url, &dir.path().join("a"));
    let b = pg_store(cluster, &url, &dir.path().join("b"));
    (Arc::new(a), Arc::new(b), dir)
}

fn event(node: &str, i: u64) -> AuditBody {
    AuditBody::Event(AuditEvent {
        time: Timestamp::from_unix_millis(1_700_000_000_000 + i as i64),
        request_id: format!("{node}-{i}"),
        account: "111122223333".into(),
        principal: format!("arn:aws:iam::111122223333:user/{node}"),
        operation: "Encrypt".into(),
        key_arn: None,
        encryption_context: BTreeMap::new(),
        error: None,
        source: node.into(),
        grant_id: None,
        region: None,
    })
}

/// Every entry in order: checks the sequence numbers are dense from 0 and each entry carries
/// the SHA-256 of the one before; returns the request ids of the events.
fn walk(store: &Store) -> Vec<String> {
    let mut prev = [0u8; 32];
    let mut ids = Vec::new();
    for (i, item) in store.audit_from(0).enumerate() {
        let (seq, bytes) = item.unwrap();
        assert_eq!(seq, i as u64, "sequence numbers are not dense");
        let e = AuditEntry::decode(&bytes).unwrap();
        assert_eq!(e.seq, seq);
        assert_eq!(e.prev_hash, prev, "the chain breaks at {seq}");
        prev = Sha256::digest(&bytes).into();
        if let AuditBody::Event(ev) = e.body {
            ids.push(ev.request_id);
        }
    }
    ids
}

#[test]
fn two_nodes_appending_concurrently_make_one_dense_unbroken_chain() {
    let (a, b, _dir) = two_nodes("chain_two_nodes");
    let threads: Vec<_> = [("a", a.clone()), ("b", b.clone())]
        .into_iter()
        .flat_map(|(node, store)| {
            // Two writers per node, batches of 1 to 5 entries.
            (0..2u64).map(move |w| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let mut i = 0;
                    for batch in 0..25u64 {
                        let n = batch % 5 + 1;
                        let bodies: Vec<_> = (0..n)
                            .map(|k| event(&format!("{node}{w}"), i + k))
                            .collect();
                        let appended = store.append_audit_chained(&bodies).unwrap();
                        assert_eq!(appended.last.seq - appended.first + 1, n);
                        i += n;
                    }
                    i
                })
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total, 4 * 75);
    // Either node reads the same chain.
    let ids = walk(&a);
    assert_eq!(walk(&b), ids);
    assert_eq!(ids.len() as u64, total);
    for writer in ["a0", "a1", "b0", "b1"] {
        let mine: Vec<_> = ids
            .iter()
            .filter(|id| id.starts_with(&format!("{writer}-")))
            .collect();
        let want: Vec<String> = (0..75).map(|i| format!("{writer}-{i}")).collect();
        assert_eq!(
            mine,
            want.iter().collect::<Vec<_>>(),
            "{writer}'s entries, in its order"
        );
    }
    let (last, bytes) = a.last_audit().unwrap().unwrap();
    assert_eq!(
        b.audit_head().unwrap(),
        Some(ChainHead {
            seq: last,
            hash: Sha256::digest(&bytes).into()
        })
    );
}

#[test]
fn a_seal_is_appended_only_right_after_the_entry_it_seals() {
    let (a, b, _dir) = two_nodes("chain_seal_after");
    a.append_audit_chained(&[event("a", 0)]).unwrap();
    let head = a.audit_head().unwrap().unwrap();
    assert_eq!(head.seq, 0);
    let seal = AuditBody::Seal {
        through_seq: head.seq,
        chain_hash: head.hash,
        mac: [7; 32],
        at: Timestamp::from_unix_millis(1),
    };
    // Another node appends between the read of the head and the seal: the seal is refused.
    b.append_audit_chained(&[event("b", 0)]).unwrap();
    assert_eq!(a.append_audit_seal(&seal).unwrap(), None);
    assert_eq!(a.last_audit().unwrap().unwrap().0, 1);
    // Over the current head it goes in, right after it.
    let head = b.audit_head().unwrap().unwrap();
    let seal = AuditBody::Seal {
        through_seq: head.seq,
        chain_hash: head.hash,
        mac: [7; 32],
        at: Timestamp::from_unix_millis(1),
    };
    let appended = a.append_audit_seal(&seal).unwrap().unwrap();
    assert_eq!(appended.first, 2);
    assert_eq!(walk(&b), ["a-0", "b-0"]);
    // An event is not a seal.
    assert!(matches!(
        a.append_audit_seal(&event("a", 1)),
        Err(lockbox_store::StoreError::Corrupt { reason, .. }) if reason.contains("not a seal")
    ));
}

#[test]
fn a_cluster_lock_is_held_by_one_node_and_freed_when_its_connection_dies() {
    let cluster = PgCluster::shared().unwrap();
    let (a, b, _dir) = two_nodes("cluster_lock");
    let mut held = a
        .try_cluster_lock("job")
        .unwrap()
        .expect("a free lock is granted");
    assert_eq!(held.name(), "job");
    assert!(held.still_held());
    assert!(b.try_cluster_lock("job").unwrap().is_none(), "two holders");
    assert!(
        a.try_cluster_lock("job").unwrap().is_none(),
        "a second holder on the same node"
    );
    // Another name is another lock.
    let other = b.try_cluster_lock("other job").unwrap();
    assert!(other.is_some());
    drop(held);
    let held_by_b = b
        .try_cluster_lock("job")
        .unwrap()
        .expect("released when dropped");
    drop(held_by_b);
    // A node that dies holds nothing: its session ends and PostgreSQL releases the lock.
    let mut held = a.try_cluster_lock("job").unwrap().unwrap();
    let killed = cluster
        .admin_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks \
             WHERE locktype = 'advisory' AND granted AND database = \
             (SELECT oid FROM pg_database WHERE datname = 'cluster_lock') \
             AND pid <> pg_backend_pid();\n",
        )
        .unwrap();
    // Both held locks ("job" on a, "other job" on b) are on their own connections.
    assert_eq!(killed.trim(), "2");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let taken = loop {
        if let Some(l) = b.try_cluster_lock("job").unwrap() {
            break l;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the dead holder's lock was never freed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        !held.still_held(),
        "the killed holder still thinks it holds the lock"
    );
    drop(held);
    drop(taken);
    drop(other);
}

#[test]
fn on_sled_the_chain_continues_entries_written_before_heads_and_the_lock_is_granted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Entries written the old way (no head recorded): the chained append continues after them.
    let zero = AuditEntry {
        seq: 0,
        prev_hash: [0; 32],
        body: event("old", 0),
    }
    .encode()
    .unwrap();
    let one = AuditEntry {
        seq: 1,
        prev_hash: Sha256::digest(&zero).into(),
        body: event("old", 1),
    }
    .encode()
    .unwrap();
    store.append_audit(&[(0, zero), (1, one)]).unwrap();
    let appended = store
        .append_audit_chained(&[event("new", 0), event("new", 1)])
        .unwrap();
    assert_eq!((appended.first, appended.last.seq), (2, 3));
    // Entries removed behind the head's back (a truncated tail): the head follows the tree.
    store.remove_audit_raw(3).unwrap();
    let appended = store.append_audit_chained(&[event("new", 2)]).unwrap();
    assert_eq!(appended.first, 3);
    assert_eq!(walk(&store), ["old-0", "old-1", "new-0", "new-2"]);
    let l1 = store.try_cluster_lock("job").unwrap();
    assert!(l1.is_some());
    assert!(
        store.try_cluster_lock("job").unwrap().is_some(),
        "sled always grants"
    );
}

/// Pruning (issue 18): entries before a kept seal removed and the chain's new start recorded
/// in one transaction; refused when the start moved (another node pruned) or the kept entry
/// is not a seal. On sled and on PostgreSQL.
fn prune_removes_the_entries_before_a_kept_seal(store: &Store) {
    let seal = |through: u64| AuditBody::Seal {
        through_seq: through,
        chain_hash: [7; 32],
        mac: [8; 32],
        at: Timestamp::from_unix_millis(1_700_000_000_000),
    };
    // 0-3 events, 4 seal, 5-7 events, 8 seal, 9 event.
    let mut bodies: Vec<AuditBody> = (0..4).map(|i| event("p", i)).collect();
    bodies.push(seal(3));
    bodies.extend((5..8).map(|i| event("p", i)));
    bodies.push(seal(7));
    bodies.push(event("p", 9));
    store.append_audit_chained(&bodies).unwrap();
    assert_eq!(
        (store.audit_pruned().unwrap(), store.audit_count().unwrap()),
        (None, 10)
    );
    // Not a seal: refused, nothing changed.
    assert!(store.prune_audit(0, 3).is_err());
    // A start that is not where the chain starts: nothing done.
    assert!(!store.prune_audit(1, 4).unwrap());
    assert_eq!(store.audit_count().unwrap(), 10);
    assert!(store.prune_audit(0, 4).unwrap());
    assert_eq!(
        (store.audit_pruned().unwrap(), store.audit_count().unwrap()),
        (Some(4), 6)
    );
    assert_eq!(store.audit_from(0).next().unwrap().unwrap().0, 4);
    // Again from the old start: the chain starts elsewhere now.
    assert!(!store.prune_audit(0, 8).unwrap());
    assert!(store.prune_audit(4, 8).unwrap());
    let left: Vec<u64> = store.audit_from(0).map(|i| i.unwrap().0).collect();
    assert_eq!(left, vec![8, 9]);
    assert_eq!(store.audit_pruned().unwrap(), Some(8));
    // Appending goes on after the head, as before.
    let a = store.append_audit_chained(&[event("p", 10)]).unwrap();
    assert_eq!(a.first, 10);
}

#[test]
fn pruning_on_sled() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("metadata")).unwrap();
    prune_removes_the_entries_before_a_kept_seal(&store);
}

#[test]
fn pruning_on_postgres_is_seen_by_the_other_node() {
    let (a, b, _dir) = two_nodes("prune_two_nodes");
    prune_removes_the_entries_before_a_kept_seal(&a);
    assert_eq!(b.audit_pruned().unwrap(), Some(8));
    let left: Vec<u64> = b.audit_from(0).map(|i| i.unwrap().0).collect();
    assert_eq!(left, vec![8, 9, 10]);
}
