//! The store: typed records over a [`Backend`] (sled embedded, PostgreSQL for clusters).
//! Every mutation is one transaction of the backend, durable before it returns.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lockbox_api::{AliasName, KeyId, Timestamp};

use crate::backend::{Backend, Entry, Tree, TxError, Txn};
use crate::cache::KeyCache;
use crate::error::StoreError;
use crate::postgres::{PostgresBackend, PostgresOptions};
use crate::records::{
    AliasRecord, GrantRecord, KeyRecord, KeySlot, decode_alias, decode_grant, decode_key,
    decode_stamp, encode_alias, encode_grant, encode_key, encode_stamp, grant_key, hex,
};
use crate::sled_backend::SledBackend;

/// The layout version of the store as a whole (trees and their keys). 2 added the
/// `deleted` and `orphans` trees; 3 keys aliases by account and added the `grants` tree, the
/// `audit` tree and the audit log's token objects in `meta` (so an older Lockbox, which would
/// take the audit key for an orphan, refuses the store). An older store is upgraded when it is
/// opened (aliases and records without an account get one from [`Store::assign_owner`]).
/// 4 (Regions, issue 15) keys aliases by account and Region (`<account>:<region>:<name>`);
/// [`Store::assign_region`] moves schema 3's aliases, and records without a Region, to the
/// configured Region in one transaction.
pub const SCHEMA_VERSION: u32 = 4;

const SCHEMA_KEY: &[u8] = b"schema";

/// One page of a listing.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The items, in key order.
    pub items: Vec<T>,
    /// True when more items follow the last one.
    pub more: bool,
}

/// The metadata store.
///
/// Trees ([`Tree`]): `keys` (16-byte key slot -> [`KeyRecord`]), `aliases`
/// (`<account>:<region>:<alias name>` -> [`AliasRecord`]), `grants` (key slot and grant id ->
/// [`GrantRecord`]), `deleted` (key slot -> when its deletion began: tombstones), `orphans`
/// (CKA_ID of a token object no record claims -> its label and when it was first seen),
/// `audit` (big-endian sequence number -> audit entry, see `audit`), `meta` (schema version,
/// the audit log's token objects). It never holds key material, plain or wrapped. Every
/// mutating method is one transaction of the backend and returns only after it is durable.
pub struct Store {
    pub(crate) backend: Box<dyn Backend>,
    // Decoded key records; every write to `keys` invalidates it (see `cache.rs`).
    key_cache: Arc<KeyCache>,
    dir: PathBuf,
    // Strict consistency (PostgreSQL): see `Store::is_strict`.
    strict: bool,
}

/// Checks, inside a transaction, that `record`'s slot still holds the stored version it was
/// read from (empty, for a record built in memory); [`StoreError::Conflict`] otherwise.
fn check_revision(tx: &mut dyn Txn, record: &KeyRecord) -> Result<(), TxError> {
    let now = tx.get(Tree::Keys, record.slot().as_bytes())?;
    if now.as_deref() != record.revision.bytes() {
        return Err(TxError::Fail(StoreError::Conflict));
    }
    Ok(())
}

fn encode_all(records: &[KeyRecord]) -> Result<Vec<(KeySlot, Vec<u8>)>, StoreError> {
    records
        .iter()
        .map(|r| Ok((r.slot(), encode_key(r)?)))
        .collect()
}

impl Store {
    /// Opens (creating if needed) the embedded store in `dir` (sled; see
    /// [`SledBackend::open`]: made 0700, files 0600, one process at a time).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let backend = SledBackend::open(dir)?;
        Store::over(Box::new(backend), dir)
    }

    /// Opens the cluster store in PostgreSQL (see `postgres.rs`): connects, applies the
    /// schema's migrations (one node at a time) and starts listening for the other nodes'
    /// changes. `dir` is this node's own metadata directory.
    pub fn open_postgres(options: &PostgresOptions, dir: &Path) -> Result<Store, StoreError> {
        let cache = Arc::new(KeyCache::default());
        let backend = PostgresBackend::open(options, &cache)?;
        let mut store = Store::over_with_cache(Box::new(backend), dir, cache)?;
        store.strict = options.consistency == crate::Consistency::Strict;
        Ok(store)
    }

    /// Whether the store promises strict consistency: no cached record is served, and the
    /// engine checks, before it answers a call, that what authorized it still holds.
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// Keeps at most `entries` decoded key records in memory (default
    /// [`crate::DEFAULT_KEY_CACHE_ENTRIES`]; 0 keeps none). Beyond it one entry is evicted
    /// per insert, so a larger working set degrades gently.
    pub fn set_key_cache_entries(&self, entries: usize) {
        self.key_cache.set_capacity(entries);
    }

    /// How many decoded key records are kept in memory now.
    pub fn key_cache_len(&self) -> usize {
        self.key_cache.len()
    }

    /// Whether key records are cached (off under strict consistency, and while a cluster
    /// node's change listener is down).
    pub fn caches_records(&self) -> bool {
        self.key_cache.is_on()
    }

    /// The store over `backend`, after checking (and recording) its schema version. `dir` is
    /// the node's own metadata directory (named in messages and backups).
    pub(crate) fn over(backend: Box<dyn Backend>, dir: &Path) -> Result<Store, StoreError> {
        Store::over_with_cache(backend, dir, Arc::new(KeyCache::default()))
    }

    fn over_with_cache(
        backend: Box<dyn Backend>,
        dir: &Path,
        key_cache: Arc<KeyCache>,
    ) -> Result<Store, StoreError> {
        let what = backend.describe();
        backend.transact("store.open.schema", &mut |tx| {
            match tx.get(Tree::Meta, SCHEMA_KEY)? {
                None => tx.insert(Tree::Meta, SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes()),
                Some(v) => {
                    let found = <[u8; 4]>::try_from(v.as_slice())
                        .map(u32::from_be_bytes)
                        .map_err(|_| StoreError::Corrupt {
                            tree: "meta",
                            key: "schema".into(),
                            reason: "not a 4-byte version".into(),
                        })?;
                    if found > SCHEMA_VERSION {
                        return Err(TxError::Fail(StoreError::TooNew {
                            what: format!("the metadata store in {what}"),
                            version: found,
                        }));
                    }
                    // Versions 1 and 2 lack only trees and keys that start empty, and 3's alias
                    // keys and records are moved by `assign_region` (which finds them by their
                    // form, so an interrupted move is finished at the next open): record the
                    // upgrade, so that an older Lockbox refuses the store rather than misread it.
                    if found < SCHEMA_VERSION {
                        tx.insert(Tree::Meta, SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
                    }
                    Ok(())
                }
            }
        })?;
        Ok(Store {
            backend,
            key_cache,
            dir: dir.to_owned(),
            strict: false,
        })
    }

    /// The node's metadata directory (for sled, where the store lives).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the store is, for messages: a directory, or a database (without its password).
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// The record kept in `slot` ([`KeySlot::of`] a key id and Region), if it exists.
    pub fn key(&self, slot: KeySlot) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.key_shared(slot)?.map(Arc::unwrap_or_clone))
    }

    /// The record of key `id`, if it exists, shared: decoded once and kept until the next
    /// write to the key records (the engine's cryptographic calls read a record without
    /// changing it).
    pub fn key_shared(&self, slot: KeySlot) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        if let Some(r) = self.key_cache.get(slot) {
            return Ok(Some(r));
        }
        let generation = self.key_cache.generation();
        match self.backend.get(Tree::Keys, slot.as_bytes())? {
            Some(v) => {
                let r = Arc::new(decode_key(slot.as_bytes(), &v)?);
                self.key_cache.insert(generation, r.clone());
                Ok(Some(r))
            }
            None => Ok(None),
        }
    }

    /// The record in `slot` as the store holds it now: the cached copy is dropped first (after
    /// a [`StoreError::Conflict`], when another node changed the record).
    pub fn key_fresh(&self, slot: KeySlot) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        self.key_cache.invalidate();
        self.key_shared(slot)
    }

    /// Writes a key record, new or changed, durably. A changed record is written only if the
    /// store still holds the version it was read from, a new one
    /// ([`Revision::NEW`](crate::Revision::NEW)) only into an empty slot:
    /// [`StoreError::Conflict`] otherwise, and nothing is written.
    ///
    /// An error other than `Conflict` means the write may or may not have become durable.
    pub fn put_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        self.put_keys(std::slice::from_ref(record))
    }

    /// Writes the records of several keys (the members of a multi-Region family) in one
    /// transaction, durably: a crash leaves all of them written or none. Each is checked as
    /// [`Store::put_key`] checks its record.
    pub fn put_keys(&self, records: &[KeyRecord]) -> Result<(), StoreError> {
        crate::failpoints::hit(if records.len() == 1 {
            "store.put_key.before_insert"
        } else {
            "store.put_keys.before_insert"
        })?;
        let encoded = encode_all(records)?;
        // Readers racing this write do not cache what they read (see `cache.rs`).
        let _writing = self.key_cache.writing();
        self.backend
            .transact("store.commit.before_flush", &mut |tx| {
                for (r, (slot, v)) in records.iter().zip(&encoded) {
                    check_revision(tx, r)?;
                    tx.insert(Tree::Keys, slot.as_bytes(), v)?;
                }
                Ok(())
            })
    }

    /// Writes `new`, a key record whose slot must be empty (a replica of a multi-Region key),
    /// with `others` (the family's other members, which now list it; each checked as
    /// [`Store::put_key`] does) in one transaction, durably. The tombstone of an earlier key
    /// in the same slot (a replica deleted before, in the same Region) is removed in the same
    /// transaction: the slot holds a live key again. [`StoreError::KeyExists`] if the slot
    /// holds a record.
    pub fn create_member(&self, new: &KeyRecord, others: &[KeyRecord]) -> Result<(), StoreError> {
        crate::failpoints::hit("store.create_member.before_insert")?;
        let slot = new.slot();
        let value = encode_key(new)?;
        let encoded = encode_all(others)?;
        // Readers racing this write do not cache what they read (see `cache.rs`).
        let _writing = self.key_cache.writing();
        self.backend
            .transact("store.commit.before_flush", &mut |tx| {
                if tx.get(Tree::Keys, slot.as_bytes())?.is_some() {
                    return Err(TxError::Fail(StoreError::KeyExists));
                }
                tx.insert(Tree::Keys, slot.as_bytes(), &value)?;
                tx.remove(Tree::Deleted, slot.as_bytes())?;
                for (r, (s, v)) in others.iter().zip(&encoded) {
                    check_revision(tx, r)?;
                    tx.insert(Tree::Keys, s.as_bytes(), v)?;
                }
                Ok(())
            })
    }

    /// Removes a key record, durably. Removing an absent record is not an error.
    pub fn delete_key(&self, slot: KeySlot) -> Result<(), StoreError> {
        crate::failpoints::hit("store.delete_key.before_remove")?;
        // Readers racing this write do not cache what they read (see `cache.rs`).
        let _writing = self.key_cache.writing();
        self.backend
            .transact("store.commit.before_flush", &mut |tx| {
                tx.remove(Tree::Keys, slot.as_bytes())?;
                Ok(())
            })
    }

    /// Up to `limit` key records after `after`, in slot byte order (key-id order for
    /// single-Region keys); only `account`'s when given.
    pub fn keys_page(
        &self,
        account: Option<&str>,
        after: Option<KeySlot>,
        limit: usize,
    ) -> Result<Page<KeyRecord>, StoreError> {
        self.keys_page_in(account, None, after, limit)
    }

    /// As [`Store::keys_page`], only keys of `region` when given.
    pub fn keys_page_in(
        &self,
        account: Option<&str>,
        region: Option<&str>,
        after: Option<KeySlot>,
        limit: usize,
    ) -> Result<Page<KeyRecord>, StoreError> {
        let mut items = Vec::new();
        let mut from = after.map(|s| s.as_bytes().to_vec());
        loop {
            let start = match &from {
                Some(k) => Bound::Excluded(k.as_slice()),
                None => Bound::Unbounded,
            };
            let batch = self.backend.range(Tree::Keys, start, b"", SCAN_BATCH)?;
            let done = batch.len() < SCAN_BATCH;
            for (k, v) in &batch {
                let record = decode_key(k, v)?;
                if account.is_some_and(|a| a != record.account)
                    || region.is_some_and(|r| r != record.region)
                {
                    continue;
                }
                if items.len() == limit {
                    return Ok(Page { items, more: true });
                }
                items.push(record);
            }
            if done {
                return Ok(Page { items, more: false });
            }
            from = batch.last().map(|(k, _)| k.clone());
        }
    }

    /// Where alias `name` of `account` in `region` points, if it exists.
    pub fn alias(
        &self,
        account: &str,
        region: &str,
        name: &AliasName,
    ) -> Result<Option<AliasRecord>, StoreError> {
        let k = alias_key(account, region, name);
        match self.backend.get(Tree::Aliases, &k)? {
            Some(v) => Ok(Some(decode_alias(&k, &v)?)),
            None => Ok(None),
        }
    }

    /// Creates alias `name` -> `target`, atomically checking that the key exists and the
    /// alias does not.
    pub fn create_alias(
        &self,
        account: &str,
        region: &str,
        name: &AliasName,
        target: KeyId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let value = encode_alias(
            name.as_str(),
            &AliasRecord {
                target,
                created: now,
                updated: now,
            },
        )?;
        let k = alias_key(account, region, name);
        let slot = KeySlot::of(target, region);
        self.backend
            .transact("store.commit.before_flush", &mut |tx| {
                if tx.get(Tree::Keys, slot.as_bytes())?.is_none() {
                    return Err(TxError::Fail(StoreError::KeyMissing));
                }
                if tx.get(Tree::Aliases, &k)?.is_some() {
                    return Err(TxError::Fail(StoreError::AliasExists));
                }
                tx.insert(Tree::Aliases, &k, &value)
            })
    }

    /// Points existing alias `name` at `target`, atomically checking both exist.
    pub fn update_alias(
        &self,
        account: &str,
        region: &str,
        name: &AliasName,
        target: KeyId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let k = alias_key(account, region, name);
        let slot = KeySlot::of(target, region);
        self.backend
            .transact("store.commit.before_flush", &mut |tx| {
                if tx.get(Tree::Keys, slot.as_bytes())?.is_none() {
                    return Err(TxError::Fail(StoreError::KeyMissing));
                }
                let Some(old) = tx.get(Tree::Aliases, &k)? else {
                    return Err(TxError::Fail(StoreError::AliasMissing));
                };
                let mut record = decode_alias(&k, &old)?;
                record.target = target;
                record.updated = now;
                let bytes = encode_alias(name.as_str(), &record)?;
                tx.insert(Tree::Aliases, &k, &bytes)
            })
    }

    /// Deletes alias `name` of `account` in `region`.
    pub fn delete_alias(
        &self,
        account: &str,
        region: &str,
        name: &AliasName,
    ) -> Result<(), StoreError> {
        let k = alias_key(account, region, name);
        self.backend
            .transact(
                "store.commit.before_flush",
                &mut |tx| match tx.remove(Tree::Aliases, &k)? {
                    Some(_) => Ok(()),
                    None => Err(TxError::Fail(StoreError::AliasMissing)),
                },
            )
    }

    /// Every alias of every account and Region, as `<account>:<region>:<alias name>` and its
    /// record.
    pub fn all_aliases(&self) -> Result<Vec<(String, AliasRecord)>, StoreError> {
        let mut out = Vec::new();
        for (k, v) in self.scan_all(Tree::Aliases, b"")? {
            let record = decode_alias(&k, &v)?;
            out.push((String::from_utf8_lossy(&k).into_owned(), record));
        }
        Ok(out)
    }

    /// Up to `limit` aliases of `account` in `region` after `after` in name order, only those
    /// pointing at `target` when given.
    pub fn aliases_page(
        &self,
        account: &str,
        region: &str,
        after: Option<&str>,
        limit: usize,
        target: Option<KeyId>,
    ) -> Result<Page<(AliasName, AliasRecord)>, StoreError> {
        let prefix = format!("{account}:{region}:");
        let mut from = after.map(|name| format!("{prefix}{name}").into_bytes());
        let mut items = Vec::new();
        loop {
            let start = match &from {
                Some(k) => Bound::Excluded(k.as_slice()),
                None => Bound::Unbounded,
            };
            let batch = self
                .backend
                .range(Tree::Aliases, start, prefix.as_bytes(), SCAN_BATCH)?;
            let done = batch.len() < SCAN_BATCH;
            for (k, v) in &batch {
                let rest = &k[prefix.len()..];
                let record = decode_alias(k, v)?;
                if target.is_some_and(|t| t != record.target) {
                    continue;
                }
                if items.len() == limit {
                    return Ok(Page { items, more: true });
                }
                let name = std::str::from_utf8(rest)
                    .ok()
                    .and_then(|s| AliasName::parse(s).ok())
                    .ok_or_else(|| StoreError::Corrupt {
                        tree: "aliases",
                        key: String::from_utf8_lossy(k).into_owned(),
                        reason: "not a valid alias name".into(),
                    })?;
                items.push((name, record));
            }
            if done {
                return Ok(Page { items, more: false });
            }
            from = batch.last().map(|(k, _)| k.clone());
        }
    }

    /// Records that the key in `slot` is being deleted, durably. The tombstone outlives the
    /// record: it is how a deleted key is told apart from one that never existed, and how an
    /// interrupted deletion is found and finished. A retried deletion keeps the time the first
    /// attempt began.
    pub fn begin_deletion(&self, slot: KeySlot, at: Timestamp) -> Result<(), StoreError> {
        let value = encode_stamp("deleted", &slot.to_string(), at, "")?;
        self.backend
            .transact("store.commit.before_flush", &mut |tx| {
                if tx.get(Tree::Deleted, slot.as_bytes())?.is_none() {
                    tx.insert(Tree::Deleted, slot.as_bytes(), &value)?;
                }
                Ok(())
            })
    }

    /// When the deletion of the key in `slot` began, if it did.
    pub fn tombstone(&self, slot: KeySlot) -> Result<Option<Timestamp>, StoreError> {
        match self.backend.get(Tree::Deleted, slot.as_bytes())? {
            Some(v) => Ok(Some(decode_stamp("deleted", slot.as_bytes(), &v)?.0)),
            None => Ok(None),
        }
    }

    /// Removes the record in `slot`, every alias that points at it (aliases of its account and
    /// Region naming its id) and its grants, and writes `others` (the remaining members of a
    /// multi-Region family, which no longer list it; each checked as [`Store::put_key`] does),
    /// in one transaction, durably. Returns the aliases removed. Its tombstone stays. An
    /// absent record removes nothing.
    pub fn finish_deletion(
        &self,
        slot: KeySlot,
        others: &[KeyRecord],
    ) -> Result<Vec<AliasName>, StoreError> {
        let encoded = encode_all(others)?;
        crate::failpoints::hit("store.finish_deletion.before_remove")?;
        let mut names = Vec::new();
        // Readers racing this write do not cache what they read (see `cache.rs`).
        let _writing = self.key_cache.writing();
        let removed = self
            .backend
            .transact("store.commit.before_flush", &mut |tx| {
                names.clear();
                let Some(bytes) = tx.get(Tree::Keys, slot.as_bytes())? else {
                    return Ok(());
                };
                let record = decode_key(slot.as_bytes(), &bytes)?;
                let prefix = format!("{}:{}:", record.account, record.region);
                let aliases = tx.scan_prefix(Tree::Aliases, prefix.as_bytes())?;
                let grants = tx.scan_prefix(Tree::Grants, slot.as_bytes())?;
                tx.remove(Tree::Keys, slot.as_bytes())?;
                for (r, (s, v)) in others.iter().zip(&encoded) {
                    check_revision(tx, r)?;
                    tx.insert(Tree::Keys, s.as_bytes(), v)?;
                }
                for (k, v) in &aliases {
                    if decode_alias(k, v)?.target == record.id {
                        // `<account>:<region>:<name>`; names have no ':'.
                        if let Some(name) = std::str::from_utf8(k)
                            .ok()
                            .and_then(|s| s.rsplit_once(':'))
                            .and_then(|(_, n)| AliasName::parse(n).ok())
                        {
                            names.push(name);
                        }
                        tx.remove(Tree::Aliases, k)?;
                    }
                }
                for (k, _) in &grants {
                    tx.remove(Tree::Grants, k)?;
                }
                Ok(())
            });
        removed?;
        Ok(names)
    }

    /// Gives every record and alias written before accounts existed to `account`, durably.
    /// Idempotent: a store with nothing to adopt is left alone.
    pub fn assign_owner(&self, account: &str) -> Result<usize, StoreError> {
        let mut changed = 0;
        // Readers racing this write do not cache what they read (see `cache.rs`).
        let _writing = self.key_cache.writing();
        let adopted = self
            .backend
            .transact("store.commit.before_flush", &mut |tx| {
                changed = 0;
                for (k, v) in tx.scan_prefix(Tree::Keys, b"")? {
                    let mut record = decode_key(&k, &v)?;
                    if record.account.is_empty() {
                        record.account = account.to_owned();
                        tx.insert(Tree::Keys, &k, &encode_key(&record)?)?;
                        changed += 1;
                    }
                }
                // Schema 2 keyed aliases by name alone ("alias/..."); 3 prefixes the account.
                for (k, v) in tx.scan_prefix(Tree::Aliases, b"alias/")? {
                    let mut new_key = format!("{account}:").into_bytes();
                    new_key.extend_from_slice(&k);
                    tx.insert(Tree::Aliases, &new_key, &v)?;
                    tx.remove(Tree::Aliases, &k)?;
                    changed += 1;
                }
                Ok(())
            });
        adopted?;
        Ok(changed)
    }

    /// Gives every key record without a Region, and every alias keyed without one (schema
    /// 3's `<account>:<name>`), to `region`, in one transaction, durably. Idempotent: a store
    /// with nothing to adopt is left alone. Returns how many records and aliases moved.
    pub fn assign_region(&self, region: &str) -> Result<usize, StoreError> {
        let mut records = Vec::new();
        for (k, v) in self.scan_all(Tree::Keys, b"")? {
            let mut record = decode_key(&k, &v)?;
            if record.region.is_empty() {
                record.region = region.to_owned();
                records.push((k, encode_key(&record)?));
            }
        }
        let mut aliases = Vec::new();
        for (k, v) in self.scan_all(Tree::Aliases, b"")? {
            // Schema 3: `<account>:alias/...`; 4: `<account>:<region>:alias/...`.
            if let Some((account, name)) = std::str::from_utf8(&k)
                .ok()
                .and_then(|s| s.split_once(':'))
                .filter(|(_, rest)| rest.starts_with("alias/"))
            {
                let new_key = format!("{account}:{region}:{name}").into_bytes();
                aliases.push((k.clone(), new_key, v));
            }
        }
        let changed = records.len() + aliases.len();
        if changed == 0 {
            return Ok(0);
        }
        crate::failpoints::hit("store.assign_region.before_move")?;
        // Readers racing this write do not cache what they read (see `cache.rs`).
        let _writing = self.key_cache.writing();
        let moved = self
            .backend
            .transact("store.commit.before_flush", &mut |tx| {
                for (k, v) in &records {
                    tx.insert(Tree::Keys, k, v)?;
                }
                for (old, new, v) in &aliases {
                    tx.insert(Tree::Aliases, new, v)?;
                    tx.remove(Tree::Aliases, old)?;
                }
                Ok(())
            });
        moved?;
        Ok(changed)
    }

    /// Writes a grant, checking in the same transaction that its key exists and has fewer
    /// than `max_per_key` grants; durably.
    pub fn put_grant(&self, grant: &GrantRecord, max_per_key: usize) -> Result<(), StoreError> {
        let value = encode_grant(grant)?;
        self.backend
            .transact("store.commit.before_flush", &mut |tx| {
                if tx.get(Tree::Keys, grant.slot.as_bytes())?.is_none() {
                    return Err(TxError::Fail(StoreError::KeyMissing));
                }
                let count = tx.scan_prefix(Tree::Grants, grant.slot.as_bytes())?.len();
                if count >= max_per_key {
                    return Err(TxError::Fail(StoreError::TooManyGrants(max_per_key)));
                }
                tx.insert(Tree::Grants, &grant.tree_key(), &value)
            })
    }

    /// Grant `id` of key `key`, if it exists.
    pub fn grant(&self, key: KeySlot, id: &[u8; 32]) -> Result<Option<GrantRecord>, StoreError> {
        let k = grant_key(key, id);
        match self.backend.get(Tree::Grants, &k)? {
            Some(v) => Ok(Some(decode_grant(&k, &v)?)),
            None => Ok(None),
        }
    }

    /// Every grant of the key in slot `key`, in grant-id order.
    pub fn grants_of(&self, key: KeySlot) -> Result<Vec<GrantRecord>, StoreError> {
        self.scan_all(Tree::Grants, key.as_bytes())?
            .iter()
            .map(|(k, v)| decode_grant(k, v))
            .collect()
    }

    /// Every grant whose retiring principal is `principal`, in key then grant-id order.
    pub fn grants_retirable_by(&self, principal: &str) -> Result<Vec<GrantRecord>, StoreError> {
        let mut out = Vec::new();
        for (k, v) in self.scan_all(Tree::Grants, b"")? {
            let g = decode_grant(&k, &v)?;
            if g.retiring.as_deref() == Some(principal) {
                out.push(g);
            }
        }
        Ok(out)
    }

    /// Removes grant `id` of key `key`, durably; false if there was none.
    pub fn delete_grant(&self, key: KeySlot, id: &[u8; 32]) -> Result<bool, StoreError> {
        let k = grant_key(key, id);
        let mut found = false;
        self.backend
            .transact("store.commit.before_flush", &mut |tx| {
                found = tx.remove(Tree::Grants, &k)?.is_some();
                Ok(())
            })?;
        Ok(found)
    }

    /// Keys whose deletion began but whose record is still present (the process stopped in
    /// the middle of a deletion).
    pub fn unfinished_deletions(&self) -> Result<Vec<KeySlot>, StoreError> {
        let mut out = Vec::new();
        for (k, _) in self.scan_all(Tree::Deleted, b"")? {
            let id = <[u8; 16]>::try_from(k.as_slice())
                .map(KeySlot::from_bytes)
                .map_err(|_| StoreError::Corrupt {
                    tree: "deleted",
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: "not a 16-byte key id".into(),
                })?;
            if self.backend.get(Tree::Keys, &k)?.is_some() {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Notes that token object `object` (labelled `label`) belongs to no record, and
    /// returns when it was first noted (`now`, if this is the first time). Durable.
    pub fn note_orphan(
        &self,
        object: [u8; 16],
        label: &str,
        now: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        let value = encode_stamp("orphans", &hex(object), now, label)?;
        let mut first = now;
        self.backend
            .transact("store.commit.before_flush", &mut |tx| {
                match tx.get(Tree::Orphans, &object)? {
                    Some(v) => first = decode_stamp("orphans", &object, &v)?.0,
                    None => {
                        first = now;
                        tx.insert(Tree::Orphans, &object, &value)?;
                    }
                }
                Ok(())
            })?;
        Ok(first)
    }

    /// Forgets a noted orphan (destroyed, or claimed by a record after all). Durable.
    pub fn forget_orphan(&self, object: [u8; 16]) -> Result<(), StoreError> {
        if self.backend.get(Tree::Orphans, &object)?.is_none() {
            return Ok(());
        }
        self.backend
            .transact("store.commit.before_flush", &mut |tx| {
                tx.remove(Tree::Orphans, &object)?;
                Ok(())
            })
    }

    /// Every noted orphan: object id, label, and when it was first noted.
    pub fn orphans(&self) -> Result<Vec<([u8; 16], String, Timestamp)>, StoreError> {
        let mut out = Vec::new();
        for (k, v) in self.scan_all(Tree::Orphans, b"")? {
            let id = <[u8; 16]>::try_from(k.as_slice()).map_err(|_| StoreError::Corrupt {
                tree: "orphans",
                key: String::from_utf8_lossy(&k).into_owned(),
                reason: "not a 16-byte object id".into(),
            })?;
            let (at, label) = decode_stamp("orphans", &k, &v)?;
            out.push((id, label, at));
        }
        Ok(out)
    }

    /// Every entry of `tree` whose key starts with `prefix`, read in batches.
    pub(crate) fn scan_all(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<Entry>, StoreError> {
        let mut out: Vec<Entry> = Vec::new();
        loop {
            let start = match out.last() {
                Some((k, _)) => Bound::Excluded(k.as_slice()),
                None => Bound::Unbounded,
            };
            let batch = self.backend.range(tree, start, prefix, SCAN_BATCH)?;
            let done = batch.len() < SCAN_BATCH;
            out.extend(batch);
            if done {
                return Ok(out);
            }
        }
    }
}

/// Entries read from the backend at a time by listings and scans.
const SCAN_BATCH: usize = 512;

fn alias_key(account: &str, region: &str, name: &AliasName) -> Vec<u8> {
    format!("{account}:{region}:{}", name.as_str()).into_bytes()
}
