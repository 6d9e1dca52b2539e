//! Decoded key records, so that a cryptographic call does not decode its key's record again.
//!
//! Invariant: an entry is the decoding of what the `keys` tree held at some moment after the
//! last write to that tree finished. Every method of [`crate::Store`] that writes the `keys`
//! tree holds a [`KeyCache::writing`] guard over the write, which drops the entries before and
//! after it, whether it succeeded or not; a reader that raced a write does not insert what it
//! read (the generation and in-progress checks below). sled is
//! opened by one process per data directory (its directory lock), so no write can come from
//! elsewhere. With PostgreSQL other nodes write too: their changes arrive as notifications,
//! each of which invalidates the cache; while the listener is not connected the cache is
//! switched off (every read goes to the database), and an entry is never used longer than
//! the time-to-live, a backstop for a notification lost in a way nobody saw.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::records::KeySlot;

use crate::records::KeyRecord;

/// At most this many records are kept by default ([`crate::Store::set_key_cache_entries`]
/// changes it): enough for AWS's default quota of 100,000 keys per account and Region to
/// fit (issue 18). A record is a few hundred bytes (more with a long policy), so a full cache
/// of 131,072 records is some tens of megabytes. Beyond it, each insert evicts one entry
/// chosen by the map's random order, so a working set larger than the cache keeps a hit
/// rate of about capacity / working set instead of falling off a cliff.
pub const DEFAULT_KEY_CACHE_ENTRIES: usize = 131_072;

pub(crate) struct KeyCache {
    // Raised when a write to the `keys` tree begins and again when it ends, before the
    // entries are dropped.
    generation: AtomicU64,
    // Writes to the `keys` tree of this store in progress: nothing read meanwhile is kept.
    writing: AtomicU64,
    entries: RwLock<HashMap<KeySlot, (Arc<KeyRecord>, Instant)>>,
    // False: nothing is kept or served (strict consistency, or a lost listener).
    on: AtomicBool,
    // The longest an entry is served, in milliseconds (u64::MAX: no limit).
    ttl_ms: AtomicU64,
    // The most entries kept.
    capacity: AtomicUsize,
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache {
            generation: AtomicU64::new(0),
            writing: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
            on: AtomicBool::new(true),
            ttl_ms: AtomicU64::new(u64::MAX),
            capacity: AtomicUsize::new(DEFAULT_KEY_CACHE_ENTRIES),
        }
    }
}

impl KeyCache {
    /// Stops keeping and serving entries, and forgets those kept.
    pub(crate) fn switch_off(&self) {
        self.on.store(false, Ordering::SeqCst);
        self.invalidate();
    }

    /// Starts keeping entries again, from an empty cache.
    pub(crate) fn switch_on(&self) {
        self.invalidate();
        self.on.store(true, Ordering::SeqCst);
    }

    /// Whether entries are kept and served.
    pub(crate) fn is_on(&self) -> bool {
        self.on.load(Ordering::SeqCst)
    }

    /// Serves an entry for at most `ttl` after it was read.
    pub(crate) fn set_ttl(&self, ttl: Duration) {
        self.ttl_ms.store(
            u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// Keeps at most `entries` records (0: none), dropping what is over at once.
    pub(crate) fn set_capacity(&self, entries: usize) {
        self.capacity.store(entries, Ordering::SeqCst);
        self.invalidate();
    }

    /// How many records are kept now.
    pub(crate) fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The generation to pass to [`KeyCache::insert`]: read it before reading the tree.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub(crate) fn get(&self, id: KeySlot) -> Option<Arc<KeyRecord>> {
        // The map is only ever changed by one whole insert, remove or clear, so a panic
        // elsewhere while the lock was held cannot have left it half-changed.
        if !self.is_on() {
            return None;
        }
        let ttl = self.ttl_ms.load(Ordering::Relaxed);
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .filter(|(_, at)| ttl == u64::MAX || at.elapsed().as_millis() < u128::from(ttl))
            .map(|(r, _)| r.clone())
    }

    /// Keeps `record`, read from the tree after [`KeyCache::generation`] returned
    /// `generation`, unless the tree was written since: then it may already be stale.
    pub(crate) fn insert(&self, generation: u64, record: Arc<KeyRecord>) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock that `invalidate` takes after raising the generation: a
        // write either raised it before this check (nothing is inserted) or empties the map
        // after this insert.
        if self.generation.load(Ordering::SeqCst) != generation
            || self.writing.load(Ordering::SeqCst) != 0
            || !self.is_on()
        {
            return;
        }
        let capacity = self.capacity.load(Ordering::Relaxed);
        if capacity == 0 {
            return;
        }
        let slot = record.slot();
        if entries.len() >= capacity && !entries.contains_key(&slot) {
            // One entry out, in the map's (randomly seeded) order: a gentle decline.
            if let Some(victim) = entries.keys().next().copied() {
                entries.remove(&victim);
            }
        }
        entries.insert(slot, (record, Instant::now()));
    }

    /// Marks a write to the `keys` tree in progress until the guard is dropped (after the
    /// write, whether it succeeded or not), and forgets every record at both ends.
    ///
    /// Raising the generation only after the write is not enough: between the commit and that
    /// raise, a reader that read the old record before the commit could still insert it over
    /// the new one another reader had just inserted, and a later read would go back in time.
    /// While a write is in progress nothing is inserted at all.
    pub(crate) fn writing(&self) -> Writing<'_> {
        self.writing.fetch_add(1, Ordering::SeqCst);
        self.invalidate();
        Writing(self)
    }

    /// Forgets every record (a write by this store ended, another node's was notified).
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// A write to the `keys` tree in progress (see [`KeyCache::writing`]).
pub(crate) struct Writing<'a>(&'a KeyCache);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.invalidate();
        self.0.writing.fetch_sub(1, Ordering::SeqCst);
    }
}
