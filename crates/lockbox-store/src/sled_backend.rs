//! The embedded backend: one sled database in the store's directory, one sled tree per
//! [`Tree`], every write flushed before it returns.

use std::collections::BTreeMap;
use std::fs;
use std::ops::Bound;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::backend::{Backend, Entry, LockHold, Tree, TxError, Txn};
use crate::error::StoreError;

// sled's page cache; metadata is small, and the default (1 GiB) is far more than it needs.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// How long opening waits for the directory's lock before reporting it in use.
///
/// A dropped sled database finishes its last background writes on sled's own threads, and
/// those hold the lock for a moment after the drop; a reopen in the same process (an embedder
/// restarting its engine) would otherwise be refused at random. Another live process holds
/// the lock for good, so it is still reported, only this much later.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// The store's own lock file inside its directory: taken before sled opens, held while the
/// store lives, so the repairs made before sled opens never race another process's sled.
pub const STORE_LOCK_FILE: &str = "lockbox-store.lock";

/// A sled store: the database, its trees in [`Tree::ALL`] order, and the directory's lock.
pub(crate) struct SledBackend {
    db: sled::Db,
    trees: Vec<sled::Tree>,
    // Held by each transaction from its first read to its flush (see `SledTxn`).
    writer: std::sync::Mutex<()>,
    // Held by each `transact_append` (the audit chain's appends) from its first read to its
    // flush.
    appender: std::sync::Mutex<()>,
    dir: PathBuf,
    // Last: released after sled has been dropped.
    _lock: StoreLock,
}

impl SledBackend {
    /// Opens (creating if needed) the sled store in `dir`, made mode 0700; every file in it is
    /// kept at 0600.
    ///
    /// First it takes the store's lock ([`STORE_LOCK_FILE`], held while the store lives;
    /// after 2 s, [`StoreError::InUse`]) and removes the incomplete snapshots a kill during
    /// sled's own open leaves ([`incomplete_snapshots`]), which sled would fail on.
    pub(crate) fn open(dir: &Path) -> Result<SledBackend, StoreError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))?;
        let lock = lock_store(dir)?;
        wait_for_sled_to_let_go(dir)?;
        remove_incomplete_snapshots(dir)?;
        let db = open_waiting_for_lock(dir)?;
        let trees = Tree::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SledBackend {
            db,
            trees,
            writer: std::sync::Mutex::new(()),
            appender: std::sync::Mutex::new(()),
            dir: dir.to_owned(),
            _lock: lock,
        })
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        &self.trees[index(tree)]
    }

    /// Flushes to disk, then keeps every file private (sled creates some files later, with
    /// the process umask).
    ///
    /// Only the flush decides the answer: once it succeeded the change is durable, and
    /// reporting a failure then would make the caller undo work that is in fact done. A file
    /// left with looser permissions is logged (the directory itself is 0700).
    fn flush(&self, failpoint: &'static str) -> Result<(), StoreError> {
        crate::failpoints::hit(failpoint)?;
        self.db.flush()?;
        if let Err(e) = tighten(&self.dir) {
            tracing::warn!(error = %e, "could not tighten permissions in the metadata store");
        }
        Ok(())
    }
}

fn index(tree: Tree) -> usize {
    Tree::ALL.iter().position(|t| *t == tree).unwrap_or(0)
}

/// A transaction on sled: reads go to the trees as committed, writes are buffered (reads see
/// them) and applied at the end in one sled transaction, which makes them atomic. Transactions
/// of one store run one at a time ([`SledBackend::writer`]), so nothing commits between a
/// transaction's reads and its writes. (sled's own transactions cannot scan a range, and a
/// read of a tree from inside one waits forever for the transaction's own lock.)
struct SledTxn<'a> {
    trees: &'a [sled::Tree],
    writes: BTreeMap<(Tree, Vec<u8>), Option<Vec<u8>>>,
}

fn sled_error(e: sled::Error) -> TxError {
    TxError::Fail(StoreError::Sled(e))
}

impl Txn for SledTxn<'_> {
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, TxError> {
        if let Some(v) = self.writes.get(&(tree, key.to_vec())) {
            return Ok(v.clone());
        }
        Ok(self.trees[index(tree)]
            .get(key)
            .map_err(sled_error)?
            .map(|v| v.to_vec()))
    }

    fn insert(&mut self, tree: Tree, key: &[u8], value: &[u8]) -> Result<(), TxError> {
        self.writes
            .insert((tree, key.to_vec()), Some(value.to_vec()));
        Ok(())
    }

    fn remove(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, TxError> {
        let old = self.get(tree, key)?;
        self.writes.insert((tree, key.to_vec()), None);
        Ok(old)
    }

    fn scan_prefix(&mut self, tree: Tree, prefix: &[u8]) -> Result<Vec<Entry>, TxError> {
        let mut merged = BTreeMap::new();
        for item in self.trees[index(tree)].scan_prefix(prefix) {
            let (k, v) = item.map_err(sled_error)?;
            merged.insert(k.to_vec(), Some(v.to_vec()));
        }
        for ((t, k), v) in &self.writes {
            if *t == tree && k.starts_with(prefix) {
                merged.insert(k.clone(), v.clone());
            }
        }
        Ok(merged
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    }
}

impl Backend for SledBackend {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree(tree).get(key)?.map(|v| v.to_vec()))
    }

    fn range(
        &self,
        tree: Tree,
        start: Bound<&[u8]>,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let start = match start {
            Bound::Included(k) => Bound::Included(k.to_vec()),
            Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
            Bound::Unbounded => Bound::Included(prefix.to_vec()),
        };
        let mut out = Vec::new();
        for item in self.tree(tree).range((start, Bound::Unbounded)) {
            if out.len() == limit {
                break;
            }
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn last(&self, tree: Tree) -> Result<Option<Entry>, StoreError> {
        Ok(self
            .tree(tree)
            .last()?
            .map(|(k, v)| (k.to_vec(), v.to_vec())))
    }

    fn count(&self, tree: Tree) -> Result<u64, StoreError> {
        Ok(self.tree(tree).len() as u64)
    }

    fn transact(
        &self,
        failpoint: &'static str,
        body: &mut (dyn FnMut(&mut dyn Txn) -> Result<(), TxError> + Send),
    ) -> Result<(), StoreError> {
        let _one_at_a_time = self.writer.lock();
        let writes = loop {
            let mut txn = SledTxn {
                trees: &self.trees,
                writes: BTreeMap::new(),
            };
            match body(&mut txn) {
                Ok(()) => break txn.writes,
                // Nothing else commits meanwhile, so a retry would read the same: only a body
                // that asks for one (it never does on sled) lands here.
                Err(TxError::Retry) => continue,
                Err(TxError::Fail(e)) => return Err(e),
            }
        };
        if writes.is_empty() {
            return self.flush(failpoint);
        }
        let applied = self
            .trees
            .as_slice()
            .transaction(|views: &Vec<TransactionalTree>| {
                for ((tree, k), v) in &writes {
                    let view = &views[index(*tree)];
                    match v {
                        Some(v) => {
                            view.insert(k.as_slice(), v.as_slice())?;
                        }
                        None => {
                            view.remove(k.as_slice())?;
                        }
                    }
                }
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            });
        match applied {
            Ok(()) => self.flush(failpoint),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
        }
    }

    fn transact_append(
        &self,
        failpoint: &'static str,
        body: &mut (dyn FnMut(&mut dyn Txn) -> Result<(), TxError> + Send),
    ) -> Result<(), StoreError> {
        let _one_at_a_time = self.appender.lock();
        let writes = loop {
            let mut txn = SledTxn {
                trees: &self.trees,
                writes: BTreeMap::new(),
            };
            match body(&mut txn) {
                Ok(()) => break txn.writes,
                Err(TxError::Retry) => continue,
                Err(TxError::Fail(e)) => return Err(e),
            }
        };
        // One by one, in key order (`Tree::Audit` sorts before `Tree::Meta`): single inserts
        // share sled's lock with readers, where a transaction or a batch would hold it.
        for ((tree, k), v) in &writes {
            let t = self.tree(*tree);
            match v {
                Some(v) => {
                    t.insert(k.as_slice(), v.as_slice())?;
                }
                None => {
                    t.remove(k.as_slice())?;
                }
            }
        }
        self.flush(failpoint)
    }

    fn append(
        &self,
        tree: Tree,
        entries: &[Entry],
        failpoint: &'static str,
    ) -> Result<(), StoreError> {
        // One by one, not as a `sled::Batch`: sled applies a batch under a process-wide write
        // lock that stalls every other read and write of the store (the key lookups of
        // concurrent calls) for the whole batch.
        let t = self.tree(tree);
        for (k, v) in entries {
            t.insert(k.as_slice(), v.as_slice())?;
        }
        self.flush(failpoint)
    }

    fn sync(&self, failpoint: &'static str) -> Result<(), StoreError> {
        self.flush(failpoint)
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    fn try_lock(&self, _name: &str) -> Result<Option<Box<dyn LockHold>>, StoreError> {
        // One process owns a sled store (its directory's lock): it is the whole cluster, and
        // the engine serializes its own jobs.
        Ok(Some(Box::new(SoleOwner)))
    }
}

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

/// Waits until no sled holds the lock on `dir/db` (a store of this process dropped a
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

/// The cluster lock of a store only this process can open: always granted.
struct SoleOwner;

impl LockHold for SoleOwner {
    fn still_held(&mut self) -> bool {
        true
    }
}
