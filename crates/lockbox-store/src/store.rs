//! The store: three sled trees, every mutation flushed before it returns.

use std::fs;
use std::ops::Bound;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockbox_api::{AliasName, KeyId, Timestamp};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::cache::KeyCache;
use crate::error::StoreError;
use crate::records::{
    AliasRecord, GrantRecord, KeyRecord, KeySlot, decode_alias, decode_grant, decode_key,
    decode_stamp, encode_alias, encode_grant, encode_key, encode_stamp, grant_key, hex,
};

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
// sled's page cache; metadata is small, and the default (1 GiB) is far more than it needs.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// One page of a listing.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The items, in key order.
    pub items: Vec<T>,
    /// True when more items follow the last one.
    pub more: bool,
}

/// The metadata store of one data directory.
///
/// Trees: `keys` (16-byte key id -> [`KeyRecord`]), `aliases` (`<account>:<alias name>` ->
/// [`AliasRecord`]), `grants` (key id and grant id -> [`GrantRecord`]),
/// `deleted` (key id -> when its deletion began: tombstones), `orphans` (CKA_ID of a token
/// object no record claims -> its label and when it was first seen), `audit` (big-endian
/// sequence number -> audit entry, see `audit`), `meta` (schema version, the audit log's
/// token objects). It never holds key material, plain or wrapped. Every mutating
/// method returns only after sled has flushed the change to disk.
pub struct Store {
    pub(crate) db: sled::Db,
    pub(crate) keys: sled::Tree,
    pub(crate) aliases: sled::Tree,
    // Tombstones: key id -> when its deletion began.
    deleted: sled::Tree,
    // Token objects no record claims: CKA_ID -> label and when first seen.
    orphans: sled::Tree,
    grants: sled::Tree,
    // Audit entries: big-endian sequence number -> entry (see `audit.rs`).
    pub(crate) audit: sled::Tree,
    pub(crate) meta: sled::Tree,
    // Decoded key records; every write to `keys` invalidates it (see `cache.rs`).
    key_cache: KeyCache,
    dir: PathBuf,
    // Last: released after sled has been dropped.
    _lock: StoreLock,
}

/// Why a transaction gave up (carried out of sled's transaction closure).
#[derive(Clone, Copy, Debug)]
enum Refusal {
    KeyMissing,
    KeyExists,
    AliasExists,
    AliasMissing,
    AliasCorrupt,
}

impl From<TransactionError<Refusal>> for StoreError {
    fn from(e: TransactionError<Refusal>) -> Self {
        match e {
            TransactionError::Abort(Refusal::KeyMissing) => StoreError::KeyMissing,
            TransactionError::Abort(Refusal::KeyExists) => StoreError::KeyExists,
            TransactionError::Abort(Refusal::AliasExists) => StoreError::AliasExists,
            TransactionError::Abort(Refusal::AliasMissing) => StoreError::AliasMissing,
            TransactionError::Abort(Refusal::AliasCorrupt) => StoreError::Corrupt {
                tree: "aliases",
                key: "(alias being updated)".into(),
                reason: "undecodable record".into(),
            },
            TransactionError::Storage(e) => StoreError::Sled(e),
        }
    }
}

/// How long `Store::open` waits for the directory's lock before reporting it in use.
///
/// A dropped sled database finishes its last background writes on sled's own threads, and
/// those hold the lock for a moment after the drop; a reopen in the same process (an embedder
/// restarting its engine) would otherwise be refused at random. Another live process holds
/// the lock for good, so it is still reported, only this much later.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// The store's own lock file inside its directory: taken before sled opens, held while the
/// `Store` lives, so the repairs made before sled opens never race another process's sled.
pub const STORE_LOCK_FILE: &str = "lockbox-store.lock";

/// An exclusive `flock` on the store's lock file (0600); released when dropped, and by the
/// kernel when the process dies.
#[derive(Debug)]
struct StoreLock(#[allow(dead_code)] fs::File);

fn lock_store(dir: &Path) -> Result<StoreLock, StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(STORE_LOCK_FILE);
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| StoreError::io(format!("opening {}", path.display()), e))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(StoreLock(file)),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(fs::TryLockError::WouldBlock) => return Err(StoreError::InUse(dir.to_owned())),
            Err(fs::TryLockError::Error(e)) => {
                return Err(StoreError::io(format!("locking {}", path.display()), e));
            }
        }
    }
}

/// The incomplete snapshots in the store directory `dir`: `snap.<16 hex digits>.generating`.
///
/// sled 0.34.7 writes each snapshot under that name and renames it when it is complete and
/// synced; on open it also reads `.generating` files, takes the last name in order, and fails
/// ("Read corrupted data at file offset None") when that one was cut short by a kill
/// (spacejam/sled#1527). Complete snapshots (`snap.<16 hex digits>`) are never listed here.
pub fn incomplete_snapshots(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(format!("listing {}", dir.display()), e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(format!("listing {}", dir.display()), e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_generating = name
            .strip_prefix("snap.")
            .and_then(|rest| rest.strip_suffix(".generating"))
            .is_some_and(|lsn| lsn.len() == 16 && lsn.bytes().all(|b| b.is_ascii_hexdigit()));
        if is_generating && entry.file_type().is_ok_and(|t| t.is_file()) {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// Removes the incomplete snapshots of `dir` (see [`incomplete_snapshots`]); the caller holds
/// the store's lock, so no sled is writing one. sled then opens from the last complete
/// snapshot and replays its log from there: nothing flushed is lost. Returns what it removed.
fn remove_incomplete_snapshots(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let found = incomplete_snapshots(dir)?;
    for path in &found {
        fs::remove_file(path)
            .map_err(|e| StoreError::io(format!("removing {}", path.display()), e))?;
        tracing::warn!(file = %path.display(),
            "removed an incomplete sled snapshot (a process was killed while writing it)");
    }
    if !found.is_empty() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io(format!("syncing {}", dir.display()), e))?;
    }
    Ok(found)
}

/// Waits until no sled holds the lock on `dir/db` (a `Store` of this process dropped a
/// moment ago may still be finishing its writes on sled's threads), so that what
/// [`remove_incomplete_snapshots`] removes is never a snapshot being written.
fn wait_for_sled_to_let_go(dir: &Path) -> Result<(), StoreError> {
    let path = dir.join("db");
    let file = match fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(format!("opening {}", path.display()), e)),
    };
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            // Released when `file` is dropped, before sled opens.
            Ok(()) => return Ok(()),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(fs::TryLockError::WouldBlock) => return Err(StoreError::InUse(dir.to_owned())),
            Err(fs::TryLockError::Error(e)) => {
                return Err(StoreError::io(format!("locking {}", path.display()), e));
            }
        }
    }
}

fn open_waiting_for_lock(dir: &Path) -> Result<sled::Db, StoreError> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()
        {
            Ok(db) => return Ok(db),
            // sled 0.34 reports a held lock as an `Other` error with this text.
            Err(sled::Error::Io(io)) if io.to_string().starts_with("could not acquire lock") => {
                if Instant::now() >= deadline {
                    return Err(StoreError::InUse(dir.to_owned()));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(other) => return Err(StoreError::Sled(other)),
        }
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, which is made mode 0700; every file in
    /// it is kept at 0600.
    ///
    /// First it takes the store's lock ([`STORE_LOCK_FILE`], held while the `Store` lives;
    /// after 2 s, [`StoreError::InUse`]) and removes the incomplete snapshots a kill during
    /// sled's own open leaves ([`incomplete_snapshots`]), which sled would fail on.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))?;
        let lock = lock_store(dir)?;
        wait_for_sled_to_let_go(dir)?;
        remove_incomplete_snapshots(dir)?;
        let db = open_waiting_for_lock(dir)?;
        let meta = db.open_tree("meta")?;
        match meta.get(SCHEMA_KEY)? {
            None => {
                meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt {
                        tree: "meta",
                        key: "schema".into(),
                        reason: "not a 4-byte version".into(),
                    })?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::TooNew {
                        what: format!("the metadata store in {}", dir.display()),
                        version: found,
                    });
                }
                // Versions 1 and 2 lack only trees and keys that start empty, and 3's alias keys
                // and records are moved by `assign_region` (which finds them by their form, so
                // an interrupted move is finished at the next open): record the upgrade, so
                // that an older Lockbox refuses the store rather than misread it.
                if found < SCHEMA_VERSION {
                    meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
                }
            }
        }
        let store = Store {
            keys: db.open_tree("keys")?,
            aliases: db.open_tree("aliases")?,
            deleted: db.open_tree("deleted")?,
            orphans: db.open_tree("orphans")?,
            grants: db.open_tree("grants")?,
            audit: db.open_tree("audit")?,
            meta,
            db,
            key_cache: KeyCache::default(),
            dir: dir.to_owned(),
            _lock: lock,
        };
        store.db.flush()?;
        tighten(&store.dir)?;
        Ok(store)
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
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
        match self.keys.get(slot.as_bytes())? {
            Some(v) => {
                let r = Arc::new(decode_key(slot.as_bytes(), &v)?);
                self.key_cache.insert(generation, r.clone());
                Ok(Some(r))
            }
            None => Ok(None),
        }
    }

    /// Writes a key record (new or replaced) and flushes it.
    ///
    /// An error means the write may or may not have reached the disk.
    pub fn put_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        crate::failpoints::hit("store.put_key.before_insert")?;
        let inserted = encode_key(record).and_then(|v| {
            self.keys.insert(record.slot().as_bytes(), v)?;
            Ok(())
        });
        self.key_cache.invalidate();
        inserted?;
        self.commit()
    }

    /// Writes the records of several keys (the members of a multi-Region family) in one
    /// transaction, and flushes: a crash leaves all of them written or none.
    pub fn put_keys(&self, records: &[KeyRecord]) -> Result<(), StoreError> {
        crate::failpoints::hit("store.put_keys.before_insert")?;
        let encoded = records
            .iter()
            .map(|r| Ok((r.slot(), encode_key(r)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let written = self.keys.transaction(|keys| {
            for (slot, v) in &encoded {
                keys.insert(&slot.as_bytes()[..], v.as_slice())?;
            }
            Ok::<(), ConflictableTransactionError<Refusal>>(())
        });
        self.key_cache.invalidate();
        written?;
        self.commit()
    }

    /// Writes `new`, a key record whose slot must be empty (a replica of a multi-Region key),
    /// with `others` (the family's other members, which now list it) in one transaction, and
    /// flushes. The tombstone of an earlier key in the same slot (a replica deleted before, in
    /// the same Region) is removed in the same transaction: the slot holds a live key again.
    /// [`StoreError::KeyExists`] if the slot holds a record.
    pub fn create_member(&self, new: &KeyRecord, others: &[KeyRecord]) -> Result<(), StoreError> {
        crate::failpoints::hit("store.create_member.before_insert")?;
        let slot = new.slot();
        let value = encode_key(new)?;
        let encoded = others
            .iter()
            .map(|r| Ok((r.slot(), encode_key(r)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let written = (&self.keys, &self.deleted).transaction(|(keys, deleted)| {
            if keys.get(slot.as_bytes())?.is_some() {
                return Err(ConflictableTransactionError::Abort(Refusal::KeyExists));
            }
            keys.insert(&slot.as_bytes()[..], value.as_slice())?;
            deleted.remove(&slot.as_bytes()[..])?;
            for (s, v) in &encoded {
                keys.insert(&s.as_bytes()[..], v.as_slice())?;
            }
            Ok(())
        });
        self.key_cache.invalidate();
        written?;
        self.commit()
    }

    /// Removes a key record and flushes. Removing an absent record is not an error.
    pub fn delete_key(&self, slot: KeySlot) -> Result<(), StoreError> {
        crate::failpoints::hit("store.delete_key.before_remove")?;
        let removed = self.keys.remove(slot.as_bytes());
        self.key_cache.invalidate();
        removed?;
        self.commit()
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
        let start = match after {
            Some(slot) => Bound::Excluded(slot.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        let mut items = Vec::new();
        for entry in self.keys.range((start, Bound::Unbounded)) {
            let (k, v) = entry?;
            let record = decode_key(&k, &v)?;
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
        Ok(Page { items, more: false })
    }

    /// Where alias `name` of `account` in `region` points, if it exists.
    pub fn alias(
        &self,
        account: &str,
        region: &str,
        name: &AliasName,
    ) -> Result<Option<AliasRecord>, StoreError> {
        let k = alias_key(account, region, name);
        match self.aliases.get(&k)? {
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
        (&self.keys, &self.aliases).transaction(|(keys, aliases)| {
            if keys.get(slot.as_bytes())?.is_none() {
                return Err(ConflictableTransactionError::Abort(Refusal::KeyMissing));
            }
            if aliases.get(&k)?.is_some() {
                return Err(ConflictableTransactionError::Abort(Refusal::AliasExists));
            }
            aliases.insert(k.as_slice(), value.as_slice())?;
            Ok(())
        })?;
        self.commit()
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
        (&self.keys, &self.aliases).transaction(|(keys, aliases)| {
            if keys.get(slot.as_bytes())?.is_none() {
                return Err(ConflictableTransactionError::Abort(Refusal::KeyMissing));
            }
            let Some(old) = aliases.get(&k)? else {
                return Err(ConflictableTransactionError::Abort(Refusal::AliasMissing));
            };
            let mut record = decode_alias(&k, &old)
                .map_err(|_| ConflictableTransactionError::Abort(Refusal::AliasCorrupt))?;
            record.target = target;
            record.updated = now;
            let bytes = encode_alias(name.as_str(), &record)
                .map_err(|_| ConflictableTransactionError::Abort(Refusal::AliasCorrupt))?;
            aliases.insert(k.as_slice(), bytes)?;
            Ok(())
        })?;
        self.commit()
    }

    /// Deletes alias `name` of `account` in `region`.
    pub fn delete_alias(
        &self,
        account: &str,
        region: &str,
        name: &AliasName,
    ) -> Result<(), StoreError> {
        if self
            .aliases
            .remove(alias_key(account, region, name))?
            .is_none()
        {
            return Err(StoreError::AliasMissing);
        }
        self.commit()
    }

    /// Every alias of every account and Region, as `<account>:<region>:<alias name>` and its
    /// record.
    pub fn all_aliases(&self) -> Result<Vec<(String, AliasRecord)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.aliases.iter() {
            let (k, v) = entry?;
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
        let start = match after {
            Some(name) => Bound::Excluded(format!("{prefix}{name}").into_bytes()),
            None => Bound::Included(prefix.clone().into_bytes()),
        };
        let mut items = Vec::new();
        for entry in self.aliases.range((start, Bound::Unbounded)) {
            let (k, v) = entry?;
            let Some(rest) = k.strip_prefix(prefix.as_bytes()) else {
                break;
            };
            let record = decode_alias(&k, &v)?;
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
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: "not a valid alias name".into(),
                })?;
            items.push((name, record));
        }
        Ok(Page { items, more: false })
    }

    /// Records that the key in `slot` is being deleted, and flushes. The tombstone outlives
    /// the record: it is how a deleted key is told apart from one that never existed, and how
    /// an interrupted deletion is found and finished.
    pub fn begin_deletion(&self, slot: KeySlot, at: Timestamp) -> Result<(), StoreError> {
        // A retried deletion keeps the time the first attempt began; it still flushes, in
        // case the first attempt's flush failed.
        if self.deleted.contains_key(slot.as_bytes())? {
            return self.commit();
        }
        let value = encode_stamp("deleted", &slot.to_string(), at, "")?;
        self.deleted.insert(slot.as_bytes(), value)?;
        self.commit()
    }

    /// When the deletion of the key in `slot` began, if it did.
    pub fn tombstone(&self, slot: KeySlot) -> Result<Option<Timestamp>, StoreError> {
        match self.deleted.get(slot.as_bytes())? {
            Some(v) => Ok(Some(decode_stamp("deleted", slot.as_bytes(), &v)?.0)),
            None => Ok(None),
        }
    }

    /// Removes the record in `slot`, every alias that points at it (aliases of its account and
    /// Region naming its id) and its grants, and writes `others` (the remaining members of a
    /// multi-Region family, which no longer list it), in one transaction, and flushes. Returns
    /// the aliases removed. Its tombstone stays. An absent record removes nothing.
    pub fn finish_deletion(
        &self,
        slot: KeySlot,
        others: &[KeyRecord],
    ) -> Result<Vec<AliasName>, StoreError> {
        let Some(record) = self.key(slot)? else {
            return Ok(Vec::new());
        };
        let prefix = format!("{}:{}:", record.account, record.region);
        let mut alias_keys = Vec::new();
        let mut names = Vec::new();
        for entry in self.aliases.scan_prefix(prefix.as_bytes()) {
            let (k, v) = entry?;
            if decode_alias(&k, &v)?.target == record.id {
                // `<account>:<region>:<name>`; names have no ':'.
                if let Some(name) = std::str::from_utf8(&k)
                    .ok()
                    .and_then(|s| s.rsplit_once(':'))
                    .and_then(|(_, n)| AliasName::parse(n).ok())
                {
                    names.push(name);
                }
                alias_keys.push(k);
            }
        }
        let grant_keys = self
            .grants
            .scan_prefix(slot.as_bytes())
            .keys()
            .collect::<Result<Vec<_>, _>>()?;
        let encoded = others
            .iter()
            .map(|r| Ok((r.slot(), encode_key(r)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        crate::failpoints::hit("store.finish_deletion.before_remove")?;
        let removed =
            (&self.keys, &self.aliases, &self.grants).transaction(|(keys, aliases, grants)| {
                keys.remove(slot.as_bytes())?;
                for (s, v) in &encoded {
                    keys.insert(&s.as_bytes()[..], v.as_slice())?;
                }
                for k in &alias_keys {
                    aliases.remove(k)?;
                }
                for k in &grant_keys {
                    grants.remove(k)?;
                }
                Ok::<(), ConflictableTransactionError<Refusal>>(())
            });
        self.key_cache.invalidate();
        removed?;
        self.commit()?;
        Ok(names)
    }

    /// Gives every record and alias written before accounts existed to `account`, and
    /// flushes. Idempotent: a store with nothing to adopt is left alone.
    pub fn assign_owner(&self, account: &str) -> Result<usize, StoreError> {
        let adopted = self.adopt_records(account);
        self.key_cache.invalidate();
        let mut changed = adopted?;
        // Schema 2 keyed aliases by name alone ("alias/..."); 3 prefixes the account.
        for entry in self.aliases.iter() {
            let (k, v) = entry?;
            if k.starts_with(b"alias/") {
                let mut new_key = format!("{account}:").into_bytes();
                new_key.extend_from_slice(&k);
                (&self.aliases,).transaction(|(aliases,)| {
                    aliases.insert(new_key.as_slice(), v.clone())?;
                    aliases.remove(k.clone())?;
                    Ok::<(), ConflictableTransactionError<Refusal>>(())
                })?;
                changed += 1;
            }
        }
        if changed > 0 {
            self.commit()?;
        }
        Ok(changed)
    }

    /// Gives every key record without a Region, and every alias keyed without one (schema
    /// 3's `<account>:<name>`), to `region`, in one transaction, and flushes. Idempotent: a
    /// store with nothing to adopt is left alone. Returns how many records and aliases moved.
    pub fn assign_region(&self, region: &str) -> Result<usize, StoreError> {
        let mut records = Vec::new();
        for entry in self.keys.iter() {
            let (k, v) = entry?;
            let mut record = decode_key(&k, &v)?;
            if record.region.is_empty() {
                record.region = region.to_owned();
                records.push((k, encode_key(&record)?));
            }
        }
        let mut aliases = Vec::new();
        for entry in self.aliases.iter() {
            let (k, v) = entry?;
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
        let moved = (&self.keys, &self.aliases).transaction(|(keys, tree)| {
            for (k, v) in &records {
                keys.insert(k.clone(), v.clone())?;
            }
            for (old, new, v) in &aliases {
                tree.insert(new.as_slice(), v.clone())?;
                tree.remove(old.clone())?;
            }
            Ok::<(), ConflictableTransactionError<Refusal>>(())
        });
        self.key_cache.invalidate();
        moved?;
        self.commit()?;
        Ok(changed)
    }

    /// Gives every key record without an account to `account`; returns how many it changed.
    fn adopt_records(&self, account: &str) -> Result<usize, StoreError> {
        let mut changed = 0;
        for entry in self.keys.iter() {
            let (k, v) = entry?;
            let mut record = decode_key(&k, &v)?;
            if record.account.is_empty() {
                record.account = account.to_owned();
                self.keys.insert(k, encode_key(&record)?)?;
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Writes a grant, checking in the same transaction that its key exists and has fewer
    /// than `max_per_key` grants; flushes.
    pub fn put_grant(&self, grant: &GrantRecord, max_per_key: usize) -> Result<(), StoreError> {
        let value = encode_grant(grant)?;
        let count = self.grants.scan_prefix(grant.slot.as_bytes()).count();
        if count >= max_per_key {
            return Err(StoreError::TooManyGrants(max_per_key));
        }
        (&self.keys, &self.grants).transaction(|(keys, grants)| {
            if keys.get(grant.slot.as_bytes())?.is_none() {
                return Err(ConflictableTransactionError::Abort(Refusal::KeyMissing));
            }
            grants.insert(&grant.tree_key()[..], value.as_slice())?;
            Ok(())
        })?;
        self.commit()
    }

    /// Grant `id` of key `key`, if it exists.
    pub fn grant(&self, key: KeySlot, id: &[u8; 32]) -> Result<Option<GrantRecord>, StoreError> {
        let k = grant_key(key, id);
        match self.grants.get(k)? {
            Some(v) => Ok(Some(decode_grant(&k, &v)?)),
            None => Ok(None),
        }
    }

    /// Every grant of the key in slot `key`, in grant-id order.
    pub fn grants_of(&self, key: KeySlot) -> Result<Vec<GrantRecord>, StoreError> {
        let mut out = Vec::new();
        for entry in self.grants.scan_prefix(key.as_bytes()) {
            let (k, v) = entry?;
            out.push(decode_grant(&k, &v)?);
        }
        Ok(out)
    }

    /// Every grant whose retiring principal is `principal`, in key then grant-id order.
    pub fn grants_retirable_by(&self, principal: &str) -> Result<Vec<GrantRecord>, StoreError> {
        let mut out = Vec::new();
        for entry in self.grants.iter() {
            let (k, v) = entry?;
            let g = decode_grant(&k, &v)?;
            if g.retiring.as_deref() == Some(principal) {
                out.push(g);
            }
        }
        Ok(out)
    }

    /// Removes grant `id` of key `key` and flushes; false if there was none.
    pub fn delete_grant(&self, key: KeySlot, id: &[u8; 32]) -> Result<bool, StoreError> {
        if self.grants.remove(grant_key(key, id))?.is_none() {
            return Ok(false);
        }
        self.commit()?;
        Ok(true)
    }

    /// Keys whose deletion began but whose record is still present (the process stopped in
    /// the middle of a deletion).
    pub fn unfinished_deletions(&self) -> Result<Vec<KeySlot>, StoreError> {
        let mut out = Vec::new();
        for entry in self.deleted.iter() {
            let (k, _) = entry?;
            let id = <[u8; 16]>::try_from(k.as_ref())
                .map(KeySlot::from_bytes)
                .map_err(|_| StoreError::Corrupt {
                    tree: "deleted",
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: "not a 16-byte key id".into(),
                })?;
            if self.keys.contains_key(k)? {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Notes that token object `object` (labelled `label`) belongs to no record, and
    /// returns when it was first noted (`now`, if this is the first time). Flushes.
    pub fn note_orphan(
        &self,
        object: [u8; 16],
        label: &str,
        now: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        if let Some(v) = self.orphans.get(object)? {
            return Ok(decode_stamp("orphans", &object, &v)?.0);
        }
        let value = encode_stamp("orphans", &hex(object), now, label)?;
        self.orphans.insert(object, value)?;
        self.commit()?;
        Ok(now)
    }

    /// Forgets a noted orphan (destroyed, or claimed by a record after all). Flushes.
    pub fn forget_orphan(&self, object: [u8; 16]) -> Result<(), StoreError> {
        if self.orphans.remove(object)?.is_some() {
            self.commit()?;
        }
        Ok(())
    }

    /// Every noted orphan: object id, label, and when it was first noted.
    pub fn orphans(&self) -> Result<Vec<([u8; 16], String, Timestamp)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.orphans.iter() {
            let (k, v) = entry?;
            let id = <[u8; 16]>::try_from(k.as_ref()).map_err(|_| StoreError::Corrupt {
                tree: "orphans",
                key: String::from_utf8_lossy(&k).into_owned(),
                reason: "not a 16-byte object id".into(),
            })?;
            let (at, label) = decode_stamp("orphans", &k, &v)?;
            out.push((id, label, at));
        }
        Ok(out)
    }

    /// Flushes to disk, then keeps every file private (sled creates some files later, with
    /// the process umask).
    ///
    /// Only the flush decides the answer: once it succeeded the change is durable, and
    /// reporting a failure then would make the caller undo work that is in fact done. A file
    /// left with looser permissions is logged (the directory itself is 0700).
    pub(crate) fn commit(&self) -> Result<(), StoreError> {
        self.commit_at("store.commit.before_flush")
    }

    /// [`Store::commit`] with its own failpoint, for writers that run beside the operations
    /// a test arms `store.commit.before_flush` for (the audit log's background thread).
    pub(crate) fn commit_at(&self, failpoint: &'static str) -> Result<(), StoreError> {
        crate::failpoints::hit(failpoint)?;
        self.db.flush()?;
        if let Err(e) = tighten(&self.dir) {
            tracing::warn!(error = %e, "could not tighten permissions in the metadata store");
        }
        Ok(())
    }
}

fn alias_key(account: &str, region: &str, name: &AliasName) -> Vec<u8> {
    format!("{account}:{region}:{}", name.as_str()).into_bytes()
}

fn tighten(dir: &Path) -> Result<(), StoreError> {
    let entries =
        fs::read_dir(dir).map_err(|e| StoreError::io(format!("listing {}", dir.display()), e))?;
    set_mode(dir, 0o700)?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(format!("listing {}", dir.display()), e))?;
        let ty = entry
            .file_type()
            .map_err(|e| StoreError::io("reading a file type", e))?;
        if ty.is_dir() {
            tighten(&entry.path())?;
        } else if ty.is_file() {
            set_mode(&entry.path(), 0o600)?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), StoreError> {
    let meta = fs::metadata(path)
        .map_err(|e| StoreError::io(format!("inspecting {}", path.display()), e))?;
    if meta.permissions().mode() & 0o777 != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| StoreError::io(format!("setting mode of {}", path.display()), e))?;
    }
    Ok(())
}
