//! Model-based test of the store: random sequences of operations applied to the store and to
//! a plain in-memory model (B-tree maps), on both backends; after every step every observable
//! answer (results and the exact error kind, listings and their paging) must match exactly.
//!
//! A failing sequence is shrunk, printed, and saved in `tests/store_model.proptest-regressions`
//! (proptest's failure persistence; commit it), and replayed first by every later run.
//! 256 sequences of up to 40 operations on sled (about 10 s), 32 on PostgreSQL (about 25 s);
//! `PROPTEST_CASES=n` runs `n` on each.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::BTreeMap;

use lockbox_api::{AliasName, KeyId, KeySpec, KeyState, KeyUsage, Origin, Timestamp};
use lockbox_store::{GrantRecord, KeyRecord, KeySlot, Material, Revision, Store, StoreError};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

mod common;
use common::Harness;

const ACCT: &str = "000000000000";
const REGION: &str = "eu-west-3";
/// Keys 1..=KEYS, alias names 0..ALIASES, grant ids 0..GRANTS, orphan objects 0..OBJECTS:
/// few, so that operations meet each other often.
const KEYS: u8 = 4;
const ALIASES: u8 = 4;
const GRANTS: u8 = 4;
const OBJECTS: u8 = 3;
/// The grant limit per key given to `put_grant`.
const MAX_GRANTS: usize = 2;

/// Key `n`'s record holding `value` (a record's contents are a function of `(n, value)`, so
/// the model's value says exactly which bytes the store holds; values are small so that the
/// same bytes come back, as they do in real use).
fn record(n: u8, value: u32) -> KeyRecord {
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
        on_demand_rotations: value,
        account: ACCT.into(),
        policy: None,
        imports: None,
        region: REGION.into(),
        family: None,
        revision: Revision::NEW,
    }
}

fn slot(n: u8) -> KeySlot {
    record(n, 0).slot()
}

fn alias(a: u8) -> AliasName {
    AliasName::parse(&format!("alias/a{a}")).unwrap()
}

fn grant(n: u8, g: u8, at: i64) -> GrantRecord {
    GrantRecord {
        key: record(n, 0).id,
        slot: slot(n),
        id: [g; 32],
        name: None,
        created: Timestamp::from_unix_millis(at),
        grantee: format!("arn:aws:iam::{ACCT}:role/app"),
        retiring: None,
        issuing_account: ACCT.into(),
        operations: vec![lockbox_api::GrantOperation::Decrypt],
        context_subset: None,
        context_equals: None,
    }
}

/// One operation. `held` means: write over the copy of the record last read by `Read` (its
/// revision may be stale by now), or a new record when none was read.
#[derive(Clone, Debug)]
enum Op {
    Read(u8),
    Put {
        n: u8,
        value: u32,
        held: bool,
    },
    PutKeys {
        a: u8,
        b: u8,
        value: u32,
        held: bool,
    },
    CreateMember {
        n: u8,
        other: Option<u8>,
        value: u32,
    },
    DeleteKey(u8),
    CreateAlias {
        a: u8,
        n: u8,
    },
    UpdateAlias {
        a: u8,
        n: u8,
    },
    DeleteAlias(u8),
    PutGrant {
        n: u8,
        g: u8,
    },
    DeleteGrant {
        n: u8,
        g: u8,
    },
    BeginDeletion(u8),
    FinishDeletion {
        n: u8,
        other: Option<u8>,
    },
    NoteOrphan(u8),
    ForgetOrphan(u8),
    AppendAudit(u8),
    Reopen,
}

fn other_than(n: u8, off: u8) -> u8 {
    (n - 1 + off) % KEYS + 1
}

fn op() -> impl Strategy<Value = Op> {
    let key = 1..=KEYS;
    let value = 0u32..4;
    let other = proptest::option::of(1..KEYS);
    prop_oneof![
        3 => key.clone().prop_map(Op::Read),
        4 => (key.clone(), value.clone(), any::<bool>())
            .prop_map(|(n, value, held)| Op::Put { n, value, held }),
        2 => (key.clone(), 1..KEYS, value.clone(), any::<bool>()).prop_map(
            |(a, off, value, held)| Op::PutKeys { a, b: other_than(a, off), value, held }
        ),
        2 => (key.clone(), other.clone(), value).prop_map(|(n, o, value)| Op::CreateMember {
            n,
            other: o.map(|off| other_than(n, off)),
            value
        }),
        1 => key.clone().prop_map(Op::DeleteKey),
        3 => (0..ALIASES, key.clone()).prop_map(|(a, n)| Op::CreateAlias { a, n }),
        2 => (0..ALIASES, key.clone()).prop_map(|(a, n)| Op::UpdateAlias { a, n }),
        1 => (0..ALIASES).prop_map(Op::DeleteAlias),
        3 => (key.clone(), 0..GRANTS).prop_map(|(n, g)| Op::PutGrant { n, g }),
        1 => (key.clone(), 0..GRANTS).prop_map(|(n, g)| Op::DeleteGrant { n, g }),
        2 => key.clone().prop_map(Op::BeginDeletion),
        2 => (key.clone(), other).prop_map(|(n, o)| Op::FinishDeletion {
            n,
            other: o.map(|off| other_than(n, off))
        }),
        1 => (0..OBJECTS).prop_map(Op::NoteOrphan),
        1 => (0..OBJECTS).prop_map(Op::ForgetOrphan),
        1 => (1u8..3).prop_map(Op::AppendAudit),
        1 => Just(Op::Reopen),
    ]
}

/// What the store should hold.
#[derive(Default)]
struct Model {
    /// Key -> the value of its record.
    keys: BTreeMap<u8, u32>,
    /// Alias -> (target key, created, updated).
    aliases: BTreeMap<u8, (u8, i64, i64)>,
    /// (key, grant id) -> created.
    grants: BTreeMap<(u8, u8), i64>,
    /// Key -> when its deletion began.
    tombstones: BTreeMap<u8, i64>,
    /// Object -> (label, first noted).
    orphans: BTreeMap<u8, (String, i64)>,
    /// The newest audit entry's sequence number.
    audit: Option<u64>,
}

/// The observable outcome of a call: `Ok` with a printable answer, or the error's kind.
type Outcome = Result<String, String>;

fn kind(e: StoreError) -> String {
    match e {
        StoreError::AliasExists
        | StoreError::AliasMissing
        | StoreError::TooManyGrants(_)
        | StoreError::KeyMissing
        | StoreError::KeyExists
        | StoreError::Conflict => format!("{e:?}"),
        other => panic!("the store failed: {other}"),
    }
}

fn outcome<T: std::fmt::Debug>(r: Result<T, StoreError>) -> Outcome {
    r.map(|v| format!("{v:?}")).map_err(kind)
}

fn ok<T: std::fmt::Debug>(v: T) -> Outcome {
    Ok(format!("{v:?}"))
}

fn err(e: StoreError) -> Outcome {
    Err(format!("{e:?}"))
}

struct Driver {
    model: Model,
    /// Key -> the record last read from the store and the model's value when it was read.
    held: BTreeMap<u8, (KeyRecord, Option<u32>)>,
    step: i64,
}

/// The record to write for key `n` with `value`, and the value its revision expects.
fn to_write(
    copies: &BTreeMap<u8, (KeyRecord, Option<u32>)>,
    n: u8,
    value: u32,
    held: bool,
) -> (KeyRecord, Option<u32>) {
    match copies.get(&n).filter(|_| held) {
        Some((r, read)) => {
            let mut r = r.clone();
            r.on_demand_rotations = value;
            (r, *read)
        }
        None => (record(n, value), None),
    }
}

impl Driver {
    /// Applies `op` to the store and the model; the outcomes must be equal.
    fn apply(&mut self, store: &Store, op: &Op) -> Result<(), TestCaseError> {
        self.step += 1;
        let now = self.step;
        let at = Timestamp::from_unix_millis(now);
        let m = &mut self.model;
        let (got, want): (Outcome, Outcome) = match *op {
            Op::Read(n) => {
                let got = store.key(slot(n)).map_err(kind);
                let want = m.keys.get(&n).map(|v| record(n, *v));
                prop_assert_eq!(got.as_ref().map(Option::as_ref), Ok(want.as_ref()));
                if let Ok(Some(r)) = got {
                    self.held.insert(n, (r, m.keys.get(&n).copied()));
                } else {
                    self.held.remove(&n);
                }
                return Ok(());
            }
            Op::Put { n, value, held } => {
                let (r, read) = to_write(&self.held, n, value, held);
                let want = if m.keys.get(&n).copied() == read {
                    m.keys.insert(n, value);
                    ok(())
                } else {
                    err(StoreError::Conflict)
                };
                (outcome(store.put_key(&r)), want)
            }
            Op::PutKeys { a, b, value, held } => {
                let (ra, read_a) = to_write(&self.held, a, value, held);
                let (rb, read_b) = to_write(&self.held, b, value + 1, held);
                let want = if m.keys.get(&a).copied() == read_a && m.keys.get(&b).copied() == read_b
                {
                    m.keys.insert(a, value);
                    m.keys.insert(b, value + 1);
                    ok(())
                } else {
                    err(StoreError::Conflict)
                };
                (outcome(store.put_keys(&[ra, rb])), want)
            }
            Op::CreateMember { n, other, value } => {
                let others: Vec<(u8, KeyRecord, Option<u32>)> = other
                    .map(|o| {
                        let (r, read) = to_write(&self.held, o, value + 1, true);
                        (o, r, read)
                    })
                    .into_iter()
                    .collect();
                let want = if m.keys.contains_key(&n) {
                    err(StoreError::KeyExists)
                } else if others
                    .iter()
                    .any(|(o, _, read)| m.keys.get(o).copied() != *read)
                {
                    err(StoreError::Conflict)
                } else {
                    m.keys.insert(n, value);
                    m.tombstones.remove(&n);
                    for (o, _, _) in &others {
                        m.keys.insert(*o, value + 1);
                    }
                    ok(())
                };
                let others: Vec<KeyRecord> = others.into_iter().map(|(_, r, _)| r).collect();
                (
                    outcome(store.create_member(&record(n, value), &others)),
                    want,
                )
            }
            Op::DeleteKey(n) => {
                m.keys.remove(&n);
                (outcome(store.delete_key(slot(n))), ok(()))
            }
            Op::CreateAlias { a, n } => {
                let want = if !m.keys.contains_key(&n) {
                    err(StoreError::KeyMissing)
                } else if let std::collections::btree_map::Entry::Vacant(e) = m.aliases.entry(a) {
                    e.insert((n, now, now));
                    ok(())
                } else {
                    err(StoreError::AliasExists)
                };
                let got = store.create_alias(ACCT, REGION, &alias(a), record(n, 0).id, at);
                (outcome(got), want)
            }
            Op::UpdateAlias { a, n } => {
                let want = if !m.keys.contains_key(&n) {
                    err(StoreError::KeyMissing)
                } else if let Some(entry) = m.aliases.get_mut(&a) {
                    entry.0 = n;
                    entry.2 = now;
                    ok(())
                } else {
                    err(StoreError::AliasMissing)
                };
                let got = store.update_alias(ACCT, REGION, &alias(a), record(n, 0).id, at);
                (outcome(got), want)
            }
            Op::DeleteAlias(a) => {
                let want = match m.aliases.remove(&a) {
                    Some(_) => ok(()),
                    None => err(StoreError::AliasMissing),
                };
                (outcome(store.delete_alias(ACCT, REGION, &alias(a))), want)
            }
            Op::PutGrant { n, g } => {
                let count = m.grants.range((n, 0)..=(n, u8::MAX)).count();
                let want = if !m.keys.contains_key(&n) {
                    err(StoreError::KeyMissing)
                } else if count >= MAX_GRANTS {
                    err(StoreError::TooManyGrants(MAX_GRANTS))
                } else {
                    m.grants.insert((n, g), now);
                    ok(())
                };
                (
                    outcome(store.put_grant(&grant(n, g, now), MAX_GRANTS)),
                    want,
                )
            }
            Op::DeleteGrant { n, g } => {
                let want = ok(m.grants.remove(&(n, g)).is_some());
                (outcome(store.delete_grant(slot(n), &[g; 32])), want)
            }
            Op::BeginDeletion(n) => {
                m.tombstones.entry(n).or_insert(now);
                (outcome(store.begin_deletion(slot(n), at)), ok(()))
            }
            Op::FinishDeletion { n, other } => {
                let others: Vec<(u8, KeyRecord, Option<u32>)> = other
                    .map(|o| {
                        let (r, read) = to_write(&self.held, o, 7, true);
                        (o, r, read)
                    })
                    .into_iter()
                    .collect();
                let want = if !m.keys.contains_key(&n) {
                    ok(Vec::<AliasName>::new())
                } else if others
                    .iter()
                    .any(|(o, _, read)| m.keys.get(o).copied() != *read)
                {
                    err(StoreError::Conflict)
                } else {
                    m.keys.remove(&n);
                    for (o, _, _) in &others {
                        m.keys.insert(*o, 7);
                    }
                    let names: Vec<u8> = m
                        .aliases
                        .iter()
                        .filter(|(_, (t, _, _))| *t == n)
                        .map(|(a, _)| *a)
                        .collect();
                    for a in &names {
                        m.aliases.remove(a);
                    }
                    m.grants.retain(|(k, _), _| *k != n);
                    ok(names.into_iter().map(alias).collect::<Vec<_>>())
                };
                let others: Vec<KeyRecord> = others.into_iter().map(|(_, r, _)| r).collect();
                (outcome(store.finish_deletion(slot(n), &others)), want)
            }
            Op::NoteOrphan(o) => {
                let label = format!("object {o} at {now}");
                let first = m.orphans.entry(o).or_insert((label.clone(), now)).1;
                let got = store.note_orphan([o; 16], &label, at);
                (outcome(got), ok(Timestamp::from_unix_millis(first)))
            }
            Op::ForgetOrphan(o) => {
                m.orphans.remove(&o);
                (outcome(store.forget_orphan([o; 16])), ok(()))
            }
            Op::AppendAudit(count) => {
                let first = m.audit.map_or(0, |s| s + 1);
                let entries: Vec<(u64, Vec<u8>)> = (first..first + u64::from(count))
                    .map(|s| (s, format!("entry {s}").into_bytes()))
                    .collect();
                m.audit = entries.last().map(|(s, _)| *s);
                (outcome(store.append_audit(&entries)), ok(()))
            }
            Op::Reopen => unreachable!("run() reopens"),
        };
        prop_assert_eq!(got, want, "after {:?}", op);
        Ok(())
    }

    /// Every observable answer of the store must be the model's.
    fn check(&self, store: &Store) -> Result<(), TestCaseError> {
        let m = &self.model;
        let fail = |e: StoreError| TestCaseError::fail(format!("the store failed: {e}"));
        // Keys, paged by 1, 2 and 3.
        let all: Vec<KeyRecord> = m.keys.iter().map(|(n, v)| record(*n, *v)).collect();
        for limit in 1..=3 {
            let mut after = None;
            let mut seen = Vec::new();
            loop {
                let page = store.keys_page(None, after, limit).map_err(fail)?;
                let start = seen.len();
                seen.extend(page.items.iter().cloned());
                let rest = all.len() - start.min(all.len());
                prop_assert_eq!(page.items.len(), rest.min(limit));
                prop_assert_eq!(page.more, rest > limit);
                if !page.more {
                    break;
                }
                after = page.items.last().map(KeyRecord::slot);
            }
            prop_assert_eq!(&seen, &all);
        }
        for n in 1..=KEYS {
            prop_assert_eq!(
                store.key(slot(n)).map_err(fail)?,
                m.keys.get(&n).map(|v| record(n, *v))
            );
            let shared = store.key_shared(slot(n)).map_err(fail)?;
            let want = m.keys.get(&n).map(|v| record(n, *v));
            prop_assert_eq!(shared.as_deref(), want.as_ref());
            let grants: Vec<GrantRecord> = m
                .grants
                .range((n, 0)..=(n, u8::MAX))
                .map(|((n, g), at)| grant(*n, *g, *at))
                .collect();
            prop_assert_eq!(store.grants_of(slot(n)).map_err(fail)?, grants);
            prop_assert_eq!(
                store.tombstone(slot(n)).map_err(fail)?,
                m.tombstones
                    .get(&n)
                    .map(|t| Timestamp::from_unix_millis(*t))
            );
        }
        // Aliases: all of them paged by 2, and those of each key paged by 1.
        let aliases = |target: Option<u8>| -> Vec<String> {
            m.aliases
                .iter()
                .filter(|(_, (t, _, _))| target.is_none_or(|n| n == *t))
                .map(|(a, (t, c, u))| format!("{} {:?} {c} {u}", alias(*a), record(*t, 0).id))
                .collect()
        };
        for (target, limit) in [(None, 2)]
            .into_iter()
            .chain((1..=KEYS).map(|n| (Some(n), 1)))
        {
            let want = aliases(target);
            let mut seen = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = store
                    .aliases_page(
                        ACCT,
                        REGION,
                        after.as_deref(),
                        limit,
                        target.map(|n| record(n, 0).id),
                    )
                    .map_err(fail)?;
                let rest = want.len() - seen.len().min(want.len());
                prop_assert_eq!(page.items.len(), rest.min(limit));
                prop_assert_eq!(page.more, rest > limit);
                for (name, r) in &page.items {
                    seen.push(format!(
                        "{name} {:?} {} {}",
                        r.target,
                        r.created.unix_millis(),
                        r.updated.unix_millis()
                    ));
                }
                if !page.more {
                    break;
                }
                after = page.items.last().map(|(n, _)| n.to_string());
            }
            prop_assert_eq!(seen, want);
        }
        let unfinished: Vec<KeySlot> = m
            .tombstones
            .keys()
            .filter(|n| m.keys.contains_key(n))
            .map(|n| slot(*n))
            .collect();
        prop_assert_eq!(store.unfinished_deletions().map_err(fail)?, unfinished);
        let orphans: Vec<([u8; 16], String, Timestamp)> = m
            .orphans
            .iter()
            .map(|(o, (label, at))| ([*o; 16], label.clone(), Timestamp::from_unix_millis(*at)))
            .collect();
        prop_assert_eq!(store.orphans().map_err(fail)?, orphans);
        prop_assert_eq!(
            store.last_audit().map_err(fail)?,
            m.audit.map(|s| (s, format!("entry {s}").into_bytes()))
        );
        Ok(())
    }
}

fn run(h: &Harness, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut store = h.open().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut driver = Driver {
        model: Model::default(),
        held: BTreeMap::new(),
        step: 0,
    };
    for op in ops {
        if let Op::Reopen = op {
            // Closed first: sled allows one opener of a directory at a time.
            drop(store);
            store = h.open().map_err(|e| TestCaseError::fail(e.to_string()))?;
        } else {
            driver.apply(&store, op)?;
        }
        driver.check(&store)?;
    }
    Ok(())
}

/// `cases` sequences, or `$PROPTEST_CASES` when set (for a longer run).
fn config(cases: u32) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

proptest! {
    // About 40 ms a sequence.
    #![proptest_config(config(256))]
    #[test]
    fn the_sled_store_behaves_as_its_model(ops in proptest::collection::vec(op(), 1..40)) {
        run(&Harness::sled().map_err(|e| TestCaseError::fail(e.to_string()))?, &ops)?;
    }
}

proptest! {
    // A fresh database per sequence and a round trip per call: about 0.8 s a sequence.
    #![proptest_config(config(32))]
    #[test]
    fn the_postgres_store_behaves_as_its_model(ops in proptest::collection::vec(op(), 1..40)) {
        let h = Harness::postgres("model").map_err(|e| TestCaseError::fail(e.to_string()))?;
        run(&h, &ops)?;
    }
}
