//! Decoded key records, so that a cryptographic call does not decode its key's record again.
//!
//! Invariant: an entry is the decoding of what the `keys` tree held at some moment after the
//! last write to that tree finished. Every method of [`crate::Store`] that writes the `keys`
//! tree calls [`KeyCache::invalidate`] after the write, whether it succeeded or not; a reader
//! that raced a write does not insert what it read (the generation check below). sled is
//! opened by one process per data directory (its directory lock), so no write can come from
//! elsewhere.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::records::KeySlot;

use crate::records::KeyRecord;

/// At most this many records are kept; a full cache is emptied and refills with the keys in
/// use. A record is a few hundred bytes (more with a long policy).
const MAX_ENTRIES: usize = 4096;

#[derive(Default)]
pub(crate) struct KeyCache {
    // Raised by every write to the `keys` tree, before the entries are dropped.
    generation: AtomicU64,
    entries: RwLock<HashMap<KeySlot, Arc<KeyRecord>>>,
}

impl KeyCache {
    /// The generation to pass to [`KeyCache::insert`]: read it before reading the tree.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub(crate) fn get(&self, id: KeySlot) -> Option<Arc<KeyRecord>> {
        // The map is only ever changed by one whole insert, remove or clear, so a panic
        // elsewhere while the lock was held cannot have left it half-changed.
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// Keeps `record`, read from the tree after [`KeyCache::generation`] returned
    /// `generation`, unless the tree was written since: then it may already be stale.
    pub(crate) fn insert(&self, generation: u64, record: Arc<KeyRecord>) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock that `invalidate` takes after raising the generation: a
        // write either raised it before this check (nothing is inserted) or empties the map
        // after this insert.
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(record.slot(), record);
    }

    /// Forgets every record; called after each write to the `keys` tree.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
