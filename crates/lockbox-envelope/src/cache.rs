//! A data-key cache in front of any [`MaterialsManager`], with the semantics of the AWS
//! Encryption SDK's caching materials manager: a maximum age (required), maximum messages
//! and bytes per data key, a capacity with least-recently-used eviction, and entries
//! partitioned by the keys, the suite and the encryption context (and, for decryption, the
//! encrypted data keys). Entries past their age are never used and are dropped (their data
//! key zeroized) at the next cache access.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::context;
use crate::error::EnvelopeError;
use crate::header::EncryptedDataKey;
use crate::materials::{
    DecryptionMaterials, DecryptionRequest, EncryptionMaterials, EncryptionRequest,
    MaterialsManager,
};

/// The AWS SDK's ceiling on messages per cached data key: 2^32.
pub const MAX_MESSAGES_PER_KEY: u64 = 1 << 32;
/// The AWS SDK's ceiling on bytes per cached data key: 2^63 - 1.
pub const MAX_BYTES_PER_KEY: u64 = i64::MAX as u64;

/// How long and how much a cached data key may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheLimits {
    /// An entry is not used once this old (required, more than zero).
    pub max_age: Duration,
    /// An encryption entry serves at most this many messages (1..=2^32).
    pub max_messages: u64,
    /// An encryption entry serves at most this many plaintext bytes in all (0..=2^63-1).
    pub max_bytes: u64,
    /// At most this many entries; the least recently used goes first (at least 1).
    pub capacity: usize,
}

impl CacheLimits {
    /// Limits with the given age and the AWS SDK's defaults for the rest (capacity 100).
    pub fn with_max_age(max_age: Duration) -> CacheLimits {
        CacheLimits {
            max_age,
            max_messages: MAX_MESSAGES_PER_KEY,
            max_bytes: MAX_BYTES_PER_KEY,
            capacity: 100,
        }
    }

    fn check(&self) -> Result<(), EnvelopeError> {
        if self.max_age.is_zero() {
            return Err(EnvelopeError::InvalidInput(
                "cache max age must be more than zero".into(),
            ));
        }
        if self.max_messages == 0 || self.max_messages > MAX_MESSAGES_PER_KEY {
            return Err(EnvelopeError::InvalidInput(format!(
                "cache max messages {} is outside 1..={MAX_MESSAGES_PER_KEY}",
                self.max_messages
            )));
        }
        if self.max_bytes > MAX_BYTES_PER_KEY {
            return Err(EnvelopeError::InvalidInput(format!(
                "cache max bytes {} is more than {MAX_BYTES_PER_KEY}",
                self.max_bytes
            )));
        }
        if self.capacity == 0 {
            return Err(EnvelopeError::InvalidInput(
                "cache capacity must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Where the cache reads the time (a fake clock in tests).
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Instant;
}

/// The monotonic system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Counters, for tests and `--verbose` output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Requests served from the cache.
    pub hits: u64,
    /// Requests passed to the inner manager.
    pub misses: u64,
    /// Entries in the cache now.
    pub entries: usize,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Encrypt {
        partition: String,
        suite: u16,
        context: Vec<u8>,
    },
    Decrypt {
        partition: String,
        suite: u16,
        edks: Vec<EncryptedDataKey>,
        context: Vec<u8>,
    },
}

enum Value {
    Encrypt(Arc<EncryptionMaterials>),
    Decrypt(Arc<DecryptionMaterials>),
}

struct Entry {
    value: Value,
    created: Instant,
    messages: u64,
    bytes: u64,
    tick: u64,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<Key, Entry>,
    order: BTreeMap<u64, Key>,
    tick: u64,
    stats: CacheStats,
}

impl Lru {
    fn remove(&mut self, key: &Key) {
        if let Some(e) = self.entries.remove(key) {
            self.order.remove(&e.tick);
        }
    }

    fn touch(&mut self, key: &Key) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(e) = self.entries.get_mut(key) {
            self.order.remove(&e.tick);
            e.tick = tick;
            self.order.insert(tick, key.clone());
        }
    }

    fn insert(&mut self, key: Key, value: Value, now: Instant, bytes: u64, capacity: usize) {
        self.remove(&key);
        while self.entries.len() >= capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.entries.insert(
            key,
            Entry {
                value,
                created: now,
                messages: 1,
                bytes,
                tick: self.tick,
            },
        );
    }

    fn purge_expired(&mut self, now: Instant, max_age: Duration) {
        let expired: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.created) >= max_age)
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            self.remove(&k);
        }
    }
}

/// Stops the purging thread of [`CachingMaterials::start_purging`] when dropped.
pub struct Purger {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Purger {
    /// Whether the thread could be started.
    pub fn is_running(&self) -> bool {
        self.thread.is_some()
    }
}

impl Drop for Purger {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            // The thread only sleeps and purges; it has nothing to report.
            let _ = t.join();
        }
    }
}

/// A [`MaterialsManager`] that reuses materials from a cache within [`CacheLimits`].
pub struct CachingMaterials {
    inner: Arc<dyn MaterialsManager>,
    partition: String,
    limits: CacheLimits,
    clock: Arc<dyn Clock>,
    lru: Mutex<Lru>,
}

impl CachingMaterials {
    /// A cache in front of `inner`.
    pub fn new(
        inner: Arc<dyn MaterialsManager>,
        limits: CacheLimits,
    ) -> Result<CachingMaterials, EnvelopeError> {
        limits.check()?;
        let partition = inner.cache_partition();
        Ok(CachingMaterials {
            inner,
            partition,
            limits,
            clock: Arc::new(SystemClock),
            lru: Mutex::new(Lru::default()),
        })
    }

    /// Reads time from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> CachingMaterials {
        self.clock = clock;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> CacheLimits {
        self.limits
    }

    /// Hits, misses and the number of entries.
    pub fn stats(&self) -> CacheStats {
        let lru = self.lru.lock();
        CacheStats {
            entries: lru.entries.len(),
            ..lru.stats
        }
    }

    /// Drops every entry past its age now (each access also does).
    pub fn purge_expired(&self) {
        let now = self.clock.now();
        self.lru.lock().purge_expired(now, self.limits.max_age);
    }

    /// Starts a thread that drops expired entries (zeroizing their data keys) every quarter
    /// of the max age (between 10 ms and 60 s), so they go even when the cache is idle. It
    /// holds the cache weakly and stops when the returned handle is dropped.
    pub fn start_purging(self: &Arc<Self>) -> Purger {
        let every =
            (self.limits.max_age / 4).clamp(Duration::from_millis(10), Duration::from_secs(60));
        let weak: Weak<CachingMaterials> = Arc::downgrade(self);
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("lockbox-envelope-cache-purge".into())
            .spawn(move || {
                loop {
                    match stopped.recv_timeout(every) {
                        Err(RecvTimeoutError::Timeout) => {}
                        // Stopped, or the handle is gone.
                        _ => return,
                    }
                    match weak.upgrade() {
                        Some(cache) => cache.purge_expired(),
                        None => return,
                    }
                }
            })
            .ok();
        Purger {
            stop: Some(stop),
            thread,
        }
    }

    fn context_bytes(ctx: &BTreeMap<String, String>) -> Result<Vec<u8>, EnvelopeError> {
        context::serialize(ctx).map_err(|e| EnvelopeError::Limit(e.to_string()))
    }
}

impl MaterialsManager for CachingMaterials {
    fn encryption_materials(
        &self,
        req: &EncryptionRequest<'_>,
    ) -> Result<Arc<EncryptionMaterials>, EnvelopeError> {
        // As in the AWS SDK: a stream of unknown length cannot be counted, so it bypasses
        // the cache.
        let Some(len) = req.plaintext_length else {
            return self.inner.encryption_materials(req);
        };
        let key = Key::Encrypt {
            partition: self.partition.clone(),
            suite: req.suite.id(),
            context: Self::context_bytes(req.context)?,
        };
        let now = self.clock.now();
        {
            let mut lru = self.lru.lock();
            lru.purge_expired(now, self.limits.max_age);
            let mut exceeded = false;
            let mut hit = None;
            if let Some(e) = lru.entries.get_mut(&key) {
                // Count this message first, then judge, as the AWS SDK does.
                e.messages = e.messages.saturating_add(1);
                e.bytes = e.bytes.saturating_add(len);
                if e.messages > self.limits.max_messages || e.bytes > self.limits.max_bytes {
                    exceeded = true;
                } else if let Value::Encrypt(m) = &e.value {
                    hit = Some(Arc::clone(m));
                }
            }
            if exceeded {
                lru.remove(&key);
            }
            if let Some(m) = hit {
                lru.touch(&key);
                lru.stats.hits += 1;
                return Ok(m);
            }
            lru.stats.misses += 1;
        }
        let fresh = self.inner.encryption_materials(req)?;
        if len < self.limits.max_bytes {
            self.lru.lock().insert(
                key,
                Value::Encrypt(Arc::clone(&fresh)),
                now,
                len,
                self.limits.capacity,
            );
        }
        Ok(fresh)
    }

    fn decryption_materials(
        &self,
        req: &DecryptionRequest<'_>,
    ) -> Result<Arc<DecryptionMaterials>, EnvelopeError> {
        let mut edks = req.encrypted_data_keys.to_vec();
        edks.sort();
        let key = Key::Decrypt {
            partition: self.partition.clone(),
            suite: req.suite.id(),
            edks,
            context: Self::context_bytes(req.context)?,
        };
        let now = self.clock.now();
        {
            let mut lru = self.lru.lock();
            lru.purge_expired(now, self.limits.max_age);
            let hit = match lru.entries.get(&key).map(|e| &e.value) {
                Some(Value::Decrypt(m)) => Some(Arc::clone(m)),
                _ => None,
            };
            if let Some(m) = hit {
                lru.touch(&key);
                lru.stats.hits += 1;
                return Ok(m);
            }
            lru.stats.misses += 1;
        }
        let fresh = self.inner.decryption_materials(req)?;
        self.lru.lock().insert(
            key,
            Value::Decrypt(Arc::clone(&fresh)),
            now,
            0,
            self.limits.capacity,
        );
        Ok(fresh)
    }

    fn cache_partition(&self) -> String {
        self.partition.clone()
    }
}
