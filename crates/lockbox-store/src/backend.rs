//! The store boundary: what a metadata engine must give [`crate::Store`].
//!
//! A backend is a set of named, ordered trees of byte keys and byte values ([`Tree`]), read
//! one entry or one range at a time, and written only through [`Backend::transact`]: one
//! atomic, durable transaction over any of the trees, which the backend may run more than
//! once when a concurrent writer conflicts with it. Everything above (record encodings,
//! checks, which entries a change touches) is written once, in `store.rs`, over this trait;
//! the backends are sled (`sled_backend.rs`, the embedded default) and PostgreSQL
//! (`postgres.rs`, for several nodes).

use std::ops::Bound;

use crate::error::StoreError;

/// The trees of the store. Their names are part of the backup format
/// (`docs/formats/backup.md`) and of PostgreSQL's schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Tree {
    /// 16-byte key slot -> key record.
    Keys,
    /// `<account>:<region>:<alias name>` -> alias record.
    Aliases,
    /// Key slot -> when its deletion began (tombstones).
    Deleted,
    /// CKA_ID of a token object no record claims -> its label and when first seen.
    Orphans,
    /// Key slot and grant id -> grant record.
    Grants,
    /// Big-endian sequence number -> audit entry.
    Audit,
    /// The schema version, the audit log's token objects.
    Meta,
}

impl Tree {
    /// Every tree, in name order.
    pub(crate) const ALL: [Tree; 7] = [
        Tree::Aliases,
        Tree::Audit,
        Tree::Deleted,
        Tree::Grants,
        Tree::Keys,
        Tree::Meta,
        Tree::Orphans,
    ];

    /// The tree's name (sled's tree name; the `tree` column in PostgreSQL).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Tree::Keys => "keys",
            Tree::Aliases => "aliases",
            Tree::Deleted => "deleted",
            Tree::Orphans => "orphans",
            Tree::Grants => "grants",
            Tree::Audit => "audit",
            Tree::Meta => "meta",
        }
    }

    /// The tree named `name`, if there is one.
    pub(crate) fn named(name: &[u8]) -> Option<Tree> {
        Tree::ALL.into_iter().find(|t| t.name().as_bytes() == name)
    }
}

/// One entry: key and value.
pub(crate) type Entry = (Vec<u8>, Vec<u8>);

/// Why a transaction's body stopped.
#[derive(Debug)]
pub(crate) enum TxError {
    /// A concurrent writer conflicted with what the body read: the backend rolls back and runs
    /// the body again (it never overwrites a change it did not read).
    Retry,
    /// The body refused (a missing key, an existing alias...) or the backend failed: the
    /// transaction is rolled back and this is the answer.
    Fail(StoreError),
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Fail(e)
    }
}

/// The view of the trees inside a transaction: reads see the transaction's own writes.
pub(crate) trait Txn {
    /// The value of `key` in `tree`.
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, TxError>;
    /// Sets `key` in `tree` to `value`.
    fn insert(&mut self, tree: Tree, key: &[u8], value: &[u8]) -> Result<(), TxError>;
    /// Removes `key` from `tree`; the value it had.
    fn remove(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, TxError>;
    /// Every entry of `tree` whose key starts with `prefix`, in key order. In PostgreSQL the
    /// range is part of the transaction (a concurrent insert into it conflicts); sled's
    /// transactions cannot scan, so its scan reads the tree as committed, which is the same
    /// thing there because one process writes a sled store and the engine serializes its
    /// writes.
    fn scan_prefix(&mut self, tree: Tree, prefix: &[u8]) -> Result<Vec<Entry>, TxError>;
}

/// A metadata engine under the store.
pub(crate) trait Backend: Send + Sync {
    /// The value of `key` in `tree`, as committed.
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Up to `limit` entries of `tree` from `start` on, in key order, only keys that start
    /// with `prefix` (the range stops at the first key that does not).
    fn range(
        &self,
        tree: Tree,
        start: Bound<&[u8]>,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError>;

    /// The entry with the greatest key in `tree`.
    fn last(&self, tree: Tree) -> Result<Option<Entry>, StoreError>;

    /// How many entries `tree` holds.
    fn count(&self, tree: Tree) -> Result<u64, StoreError>;

    /// Runs `body` as one atomic transaction and makes it durable before returning (sled
    /// flushed, PostgreSQL committed). The body may run several times (after
    /// [`TxError::Retry`], or a conflict the backend detects at commit); it must compute its
    /// writes from what it reads inside the transaction. `failpoint` is hit before the
    /// transaction becomes durable.
    fn transact(
        &self,
        failpoint: &'static str,
        body: &mut (dyn FnMut(&mut dyn Txn) -> Result<(), TxError> + Send),
    ) -> Result<(), StoreError>;

    /// Runs `body` as [`Backend::transact`] does, for a change that only appends (the audit
    /// chain: new entries, then the head that names the last). PostgreSQL runs it as one
    /// transaction. sled applies the writes one at a time in key order (entries before `meta`)
    /// under a lock of their own, then flushes: a crash part-way leaves a prefix of the
    /// entries and the old head, which readers must accept (the audit head is checked
    /// against the tree). This keeps sled's process-wide transaction lock, which would stall
    /// every key lookup for a large batch, out of the audit path.
    fn transact_append(
        &self,
        failpoint: &'static str,
        body: &mut (dyn FnMut(&mut dyn Txn) -> Result<(), TxError> + Send),
    ) -> Result<(), StoreError>;

    /// Writes `entries` into `tree` in order, each on its own (a crash part-way leaves a prefix
    /// of them, never a later entry without an earlier one), then makes them durable; hits
    /// `failpoint` between the writes and the flush. For append-only trees (the audit log),
    /// where a transaction would stall other writers for nothing.
    fn append(
        &self,
        tree: Tree,
        entries: &[Entry],
        failpoint: &'static str,
    ) -> Result<(), StoreError>;

    /// Makes every committed change durable (after writes made outside `transact`'s
    /// durability, for example a batch of audit entries: see `Store::append_audit`).
    fn sync(&self, failpoint: &'static str) -> Result<(), StoreError>;

    /// Where the store is, for messages: a directory, or a database without its password.
    fn describe(&self) -> String;

    /// Tries to take the cluster-wide lock `name` without waiting: `Ok(None)` when another
    /// holder has it. No transaction stays open while it is held (jobs holding it call the
    /// token). Released when the guard is dropped, and when the holder dies.
    fn try_lock(&self, name: &str) -> Result<Option<Box<dyn LockHold>>, StoreError>;
}

/// A held cluster lock (see [`Backend::try_lock`]); dropping it releases the lock.
pub(crate) trait LockHold: Send {
    /// Whether the lock is still held (a database connection that died took it with it).
    fn still_held(&mut self) -> bool;
}
