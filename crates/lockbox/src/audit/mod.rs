//! The audit log: one record per KMS call, hash-chained, sealed by an HMAC made inside the
//! token, with a high-water mark on the token that truncation cannot roll back.
//!
//! Each entry of the store's `audit` tree carries the SHA-256 of the previous entry's
//! stored bytes (its *chain hash*; entry 0 carries zeros). Every `seal_every` records, every
//! `seal_interval` while records come, and when the log is closed, a **seal** entry is
//! appended: HMAC-SHA256, computed by the token under a key that never leaves it, over
//! [`SEAL_DOMAIN`], the sealed entry's sequence number and its chain hash. After the seal is
//! durable, the token's **mark** is replaced with the seal's own sequence number and chain
//! hash. So, for someone who holds the database but not the token:
//!
//! - changing, deleting, inserting or reordering an entry breaks the chain at that point;
//! - rewriting the chain consistently from some point on needs a seal MAC they cannot make;
//! - deleting the newest entries together with their seals leaves the log short of the mark.
//!
//! What they can do undetected: delete records written after the last seal (the *unsealed
//! tail*, at most `seal_every` records or `seal_interval` of time). In batched durability a
//! crash also loses records queued but not yet written (at most `batch_max` old). A process
//! killed before it could seal leaves its tail unsealed; the next [`AuditLog::open`] seals
//! it at once, so the window for deleting such records lasts until the restart.
//!
//! [`verify`] walks the chain and reports every problem with the sequence number it
//! concerns; [`export`] writes the events as CloudTrail-like JSON Lines.

mod export;
mod prune;
mod refusals;
mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lockbox_api::{Caller, EncryptionContext, KeyArn, Timestamp};
use lockbox_store::{AuditObjects, ClusterLock};
use lockbox_token::{HmacDigest, ObjectId, SecretKeyTemplate, Token};
use parking_lot::{Condvar, Mutex};
use refusals::Limiter;
use sha2::{Digest, Sha256};

pub use export::{ExportFilter, export};
/// The metadata store, as [`open_parts`] hands it out (so the CLI can name it).
pub use lockbox_store::Store;
/// The stored entries, as [`Store::audit_from`] hands them out (to read them back).
pub use lockbox_store::{AuditBody, AuditEntry, AuditEvent, Refusal, Suppressed};
pub use prune::{
    PRUNE_LOCK, PruneReport, Retention, SEGMENT_END, SEGMENT_ENTRY_MAX, SEGMENT_MAGIC,
    SEGMENT_VERSION, SegmentReport, decode_segment, encode_segment, parse_age, prune,
    segment_file_name, segment_files, verify_segments,
};
pub use refusals::{
    Admission, RECORD_COST_MAX_BYTES, REFUSAL_ENTRY_MAX_BYTES, RefusalBudget, RefusedRequest,
    SEAL_ENTRY_MAX_BYTES, SUMMARY_SOURCES,
};
pub use verify::{Problem, ProblemKind, VerifyReport, verify};

use crate::clock::Clock;
use crate::config::Config;
use crate::error::Error;

/// The domain-separation prefix of every seal's MAC input (followed by the sealed entry's
/// sequence number, big-endian, and its chain hash).
pub const SEAL_DOMAIN: &[u8] = b"lockbox audit seal v1\0";
/// How long the log refuses records after a failed write before it tries again.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// The label (under the token's prefix) of the audit HMAC key.
pub const AUDIT_KEY_NAME: &str = "audit-hmac";
/// The label (under the token's prefix) of the audit mark.
pub const AUDIT_MARK_NAME: &str = "audit-mark";

/// The cluster lock sealing runs under (one node seals at a time).
pub const SEAL_LOCK: &str = "lockbox.audit.seal";
/// How long opening and closing the log wait for the seal lock before leaving the seal to
/// the node that holds it.
const SEAL_LOCK_WAIT: Duration = Duration::from_secs(5);
/// How many times a seal is made again because other nodes appended meanwhile.
const SEAL_ATTEMPTS: u32 = 20;

/// When an appended record becomes durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `append` writes, chains and flushes the record before it returns.
    EveryRecord,
    /// `append` queues the record; a background thread writes and flushes queued records
    /// together, at most `batch_max` after the oldest was queued.
    Batched,
}

/// The `[audit]` section of `lockbox.toml`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AuditConfig {
    /// When a record is durable (default: batched).
    pub durability: Durability,
    /// Batched mode: how long a record may wait before it is written (default 50 ms;
    /// 1 ms to 10 s).
    pub batch_max: Duration,
    /// Seal after this many records (default 1000; 1 to 1,000,000).
    pub seal_every: u64,
    /// Seal at least this often while records come (default 60 s; 100 ms to 1 day).
    pub seal_interval: Duration,
    /// How many requests refused before the engine are recorded one by one.
    pub refusals: RefusalBudget,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            durability: Durability::Batched,
            batch_max: Duration::from_millis(50),
            seal_every: 1000,
            seal_interval: Duration::from_millis(60_000),
            refusals: RefusalBudget::default(),
        }
    }
}

impl AuditConfig {
    /// Checks the bounds; the message names the field.
    pub fn check(&self) -> Result<(), String> {
        let ms = |d: Duration| d.as_millis();
        if !(1..=10_000).contains(&ms(self.batch_max)) {
            return Err(format!(
                "[audit] batch_max_ms must be between 1 and 10000, not {}",
                ms(self.batch_max)
            ));
        }
        if !(1..=1_000_000).contains(&self.seal_every) {
            return Err(format!(
                "[audit] seal_every must be between 1 and 1000000, not {}",
                self.seal_every
            ));
        }
        if !(100..=86_400_000).contains(&ms(self.seal_interval)) {
            return Err(format!(
                "[audit] seal_interval_ms must be between 100 and 86400000, not {}",
                ms(self.seal_interval)
            ));
        }
        self.refusals.check()
    }
}

/// The SHA-256 of an entry's stored bytes: the next entry's `prev_hash`.
pub fn chain_hash(stored: &[u8]) -> [u8; 32] {
    Sha256::digest(stored).into()
}

/// The bytes a seal's MAC is computed over.
pub fn seal_input(through_seq: u64, chain_hash: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SEAL_DOMAIN.len() + 8 + 32);
    m.extend_from_slice(SEAL_DOMAIN);
    m.extend_from_slice(&through_seq.to_be_bytes());
    m.extend_from_slice(chain_hash);
    m
}

/// Opens the token and the metadata store of `config` without an engine (for `lockbox
/// audit verify` and `export`, which need no keys). Takes the data directory's lock, as an
/// engine does (one process per data directory), and hands it back: hold it as long as the
/// store and token are used.
pub fn open_parts(
    config: &Config,
) -> Result<(Arc<Store>, Arc<Token>, crate::lock::DataDirLock), Error> {
    crate::config::make_private_dir(&config.data_dir)?;
    let lock = crate::lock::DataDirLock::acquire(&config.data_dir)?;
    let token = crate::lock::open_token(config)?;
    // The configured store: on a cluster node, the cluster's database, so `audit verify` and
    // `export` read the one chain every node appends to.
    let metadata = config.data_dir.join("metadata");
    let store = match &config.store {
        crate::StoreConfig::Sled => Store::open(&metadata)?,
        crate::StoreConfig::Postgres(pg) => Store::open_postgres(&pg.options()?, &metadata)?,
    };
    Ok((Arc::new(store), Arc::new(token), lock))
}

/// Takes the seal lock, trying for up to [`SEAL_LOCK_WAIT`]; an error naming `why` after.
fn wait_for_seal_lock(store: &Store, why: &str) -> Result<ClusterLock, Error> {
    let deadline = Instant::now() + SEAL_LOCK_WAIT;
    loop {
        if let Some(l) = store.try_cluster_lock(SEAL_LOCK)? {
            return Ok(l);
        }
        if Instant::now() >= deadline {
            return Err(Error::Audit(format!(
                "another node held the cluster lock {SEAL_LOCK} for {}s while this one \
                 waited to {why}",
                SEAL_LOCK_WAIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Creates the audit log's token objects (HMAC key, mark) and records them in the store,
/// under the seal lock: nodes of a cluster opening a fresh store together create them once
/// (the others find them recorded when they get the lock).
fn create_objects(store: &Store, token: &Token) -> Result<AuditObjects, Error> {
    let _lock = wait_for_seal_lock(store, "create the audit log's token objects")?;
    if let Some(o) = store.audit_objects()? {
        return Ok(o);
    }
    let key = token.generate_key(&SecretKeyTemplate::hmac(HmacDigest::Sha256), AUDIT_KEY_NAME)?;
    let mark = token.create_mark(AUDIT_MARK_NAME, &[])?;
    let objects = AuditObjects {
        key: *key.as_bytes(),
        mark: *mark.as_bytes(),
    };
    store.set_audit_objects(&objects)?;
    Ok(objects)
}

/// The audit log of one data directory. `Send + Sync`; share it behind an `Arc`.
///
/// Dropping it stops its background thread, writes what is queued and seals (failures are
/// logged); [`AuditLog::close`] does the same and reports them.
pub struct AuditLog {
    inner: Arc<Inner>,
    worker: Option<JoinHandle<()>>,
}

struct Inner {
    store: Arc<Store>,
    token: Arc<Token>,
    clock: Arc<dyn Clock>,
    config: AuditConfig,
    key: ObjectId,
    mark: ObjectId,
    // Batched mode: events not yet written, and when the oldest of them was queued.
    queue: Mutex<Queue>,
    wake: Condvar,
    // Held while entries are chained and written: one writer at a time, in queue order.
    chain: Mutex<Chain>,
    // Set when a write failed: the log refuses records (every call fails: fail closed) for
    // `RETRY_AFTER`, then tries again; a write that succeeds clears it.
    failed: AtomicBool,
    failure: Mutex<Option<(String, Instant)>>,
    // The budget of refusals recorded one by one.
    limiter: Mutex<Limiter>,
    // Every-record mode: records waiting for the next group commit.
    group: Mutex<Group>,
    group_done: Condvar,
    group_arrived: Condvar,
    // How many chained appends (each made durable at once) succeeded.
    writes: AtomicU64,
}

/// The longest a group commit's writer waits for more records before it writes.
const MAX_GATHER: Duration = Duration::from_millis(2);

/// Every-record durability's group commit: callers that arrive while a write is being made
/// durable wait here together, and the next writer (the first of them to find no write under
/// way) writes all their records as one append, with one flush. Each caller is answered
/// only by the outcome of the write that covered its own record.
#[derive(Default)]
struct Group {
    // Records not yet taken by a writer, each with the slot its caller waits on.
    waiting: Vec<(Pending, Arc<Slot>)>,
    // True while a writer has taken records and not yet answered them (or is gathering).
    writing: bool,
    // How many callers the last group commit found active: those it answered and those that
    // queued while it wrote. The next writer waits for that many records before it writes
    // (the answered ones are about to append again), up to half the last write's time.
    expect: usize,
    last_write: Duration,
}

/// Where a group commit leaves one caller's answer: `None` until the write that covered
/// the record is durable (`Ok`) or failed (the failure, in words).
type Slot = Mutex<Option<Result<(), String>>>;

/// One KMS call as the engine hands it to the log, before it is spelled out as an
/// [`AuditEvent`]. Making one allocates nothing on a successful call (caller, key ARN and
/// context are shared, the request id is a number); in batched durability the background
/// thread does the spelling out, off the caller's thread.
pub(crate) struct CallRecord {
    pub(crate) time: Timestamp,
    pub(crate) request_id: u128,
    pub(crate) caller: Caller,
    pub(crate) operation: &'static str,
    pub(crate) key: Option<KeyArn>,
    pub(crate) context: Option<EncryptionContext>,
    /// The AWS error code and message, for a failed call.
    pub(crate) error: Option<(&'static str, String)>,
    pub(crate) grant: Option<[u8; 32]>,
}

impl CallRecord {
    fn into_event(self) -> AuditEvent {
        AuditEvent {
            time: self.time,
            request_id: uuid_text(self.request_id),
            account: self.caller.account().to_owned(),
            principal: self.caller.principal().arn().to_owned(),
            operation: self.operation.to_owned(),
            key_arn: self.key.as_ref().map(ToString::to_string),
            encryption_context: self.context.map(|c| c.as_map().clone()).unwrap_or_default(),
            error: self.error.map(|(code, message)| (code.to_owned(), message)),
            source: self.caller.source().to_owned(),
            grant_id: self.grant.as_ref().map(|g| hex(g)),
            region: self.caller.region().map(str::to_owned),
        }
    }
}

/// A 128-bit id in UUID text form (8-4-4-4-12 lower-case hex digits).
pub(crate) fn uuid_text(id: u128) -> String {
    // Spelled out digit by digit: the audit thread makes one per record, and two `format!`
    // calls cost about 3,000 instructions where this takes a few hundred.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, b) in id.to_be_bytes().iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// A queued record: a call from the engine, or an event or refusal made elsewhere.
enum Pending {
    Call(CallRecord),
    Event(AuditEvent),
    Other(AuditBody),
}

impl Pending {
    fn into_body(self) -> AuditBody {
        match self {
            Pending::Call(c) => AuditBody::Event(c.into_event()),
            Pending::Event(e) => AuditBody::Event(e),
            Pending::Other(b) => b,
        }
    }
}

#[derive(Default)]
struct Queue {
    events: Vec<Pending>,
    oldest: Option<Instant>,
    stop: bool,
}

struct Chain {
    // The queue's previous buffer, emptied, kept for its capacity: the queue and this swap
    // at every write, so queuing does not allocate in the steady state.
    spare: Vec<Pending>,
    next_seq: u64,
    last_hash: [u8; 32],
    // Events this node wrote since the last seal it knows of.
    unsealed: u64,
    // Seal once `unsealed` reaches this: `seal_every`, or, after another node held the seal
    // lock, `seal_every` more records on (so a busy node does not ask for it at every write).
    seal_at: u64,
    last_seal_at: Instant,
    // The newest seal in the log, and what the token's mark says.
    last_seal: Option<(u64, [u8; 32])>,
    mark: Option<(u64, [u8; 32])>,
}

impl AuditLog {
    /// Opens the audit log in `store`, sealing with `token`.
    ///
    /// On first open it creates the HMAC key and the mark on the token and then records
    /// their ids in the store, flushed (token first, metadata second). It resumes the chain
    /// from the last entry. It refuses to open a log that ends before the seal the token's
    /// mark names, or whose entry there has another hash: the log was truncated or rolled
    /// back, and sealing on top would overwrite the evidence (run `lockbox audit verify`).
    /// Records after the last seal (a killed process's tail) are sealed before it returns,
    /// and the mark moved to that seal; a failure to seal them fails the open.
    pub fn open(
        store: Arc<Store>,
        token: Arc<Token>,
        config: AuditConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<AuditLog, Error> {
        Self::open_inner(store, token, config, clock, None).map(|(log, _)| log)
    }

    /// Opens the audit log of a directory whose metadata was restored from a backup, and
    /// records the rollback explicitly instead of refusing it.
    ///
    /// If the token's mark names a seal the log does not have (the token's mark is newer
    /// than the restored log: a real HSM keeps its objects across a metadata restore),
    /// `event` is appended at the end of the restored chain, then a seal, and the mark is
    /// moved to that seal. The chain stays unbroken, so `lockbox audit verify` passes, and
    /// the event, which names the mark it supersedes, shows that the rollback happened.
    /// `event` gets the superseded mark in its encryption context
    /// (`lockbox:superseded-mark-seq`, `lockbox:superseded-mark-hash`).
    /// Returns the log and the superseded mark (`None` when the mark matched the log, as it
    /// does when the token's files were restored with the metadata).
    pub fn open_accepting_rollback(
        store: Arc<Store>,
        token: Arc<Token>,
        config: AuditConfig,
        clock: Arc<dyn Clock>,
        event: AuditEvent,
    ) -> Result<(AuditLog, Option<SupersededMark>), Error> {
        Self::open_inner(store, token, config, clock, Some(event))
    }

    fn open_inner(
        store: Arc<Store>,
        token: Arc<Token>,
        config: AuditConfig,
        clock: Arc<dyn Clock>,
        mut accept: Option<AuditEvent>,
    ) -> Result<(AuditLog, Option<SupersededMark>), Error> {
        config.check().map_err(Error::Config)?;
        let objects = match store.audit_objects()? {
            Some(o) => o,
            None => create_objects(&store, &token)?,
        };
        let key = ObjectId::from_bytes(objects.key);
        let mark = ObjectId::from_bytes(objects.mark);
        // Read under the seal lock: SoftHSM fails a mark write that a read races with, and
        // another node may be moving the mark.
        let token_mark = {
            let _held = wait_for_seal_lock(&store, "read the token's audit mark")?;
            token.read_mark(&mark)?
        };
        let token_mark = parse_mark(&token_mark)
            .map_err(|m| Error::Audit(format!("the token's audit mark is unreadable: {m}")))?;
        let mut mark_value = token_mark;
        let mut superseded = None;

        // The entry the mark names must be in the log, as it was sealed.
        if let Some((seq, hash)) = mark_value {
            let found = store.audit_from(seq).next().transpose()?;
            match found {
                Some((s, bytes)) if s == seq && chain_hash(&bytes) == hash => {}
                _ if accept.is_some() => {
                    // A restore accepted this rollback: resume from the start of the log,
                    // and record what the mark said before moving it.
                    superseded = Some(SupersededMark {
                        seq,
                        chain_hash: hash,
                    });
                    mark_value = None;
                }
                _ => {
                    let end = store.last_audit()?.map(|(s, _)| s);
                    return Err(Error::Audit(format!(
                        "the token's mark says the log was sealed at seq {seq} with hash {}, \
                         but {}: the log was truncated or rolled back; run `lockbox audit \
                         verify`",
                        hex(&hash),
                        match end {
                            Some(e) if e < seq => format!("the log ends at seq {e}"),
                            None => "the log is empty".into(),
                            Some(_) => format!("entry {seq} differs"),
                        }
                    )));
                }
            }
        }
        // Resume: walk from the mark (or the start) to the end.
        let mut chain = Chain {
            spare: Vec::new(),
            next_seq: 0,
            last_hash: [0; 32],
            unsealed: 0,
            seal_at: config.seal_every,
            last_seal_at: Instant::now(),
            last_seal: mark_value,
            mark: token_mark,
        };
        let from = mark_value.map_or(0, |(s, _)| s);
        for item in store.audit_from(from) {
            let (seq, bytes) = item?;
            let hash = chain_hash(&bytes);
            match AuditEntry::decode(&bytes).map(|e| e.body) {
                Ok(AuditBody::Seal { .. }) => {
                    chain.last_seal = Some((seq, hash));
                    chain.unsealed = 0;
                }
                _ if Some(seq) == mark_value.map(|(s, _)| s) => {}
                _ => chain.unsealed += 1,
            }
            chain.next_seq = seq + 1;
            chain.last_hash = hash;
        }
        let inner = Arc::new(Inner {
            store,
            token,
            clock,
            config,
            key,
            mark,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            chain: Mutex::new(chain),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            limiter: Mutex::new(Limiter::new(config.refusals)),
            group: Mutex::new(Group::default()),
            group_done: Condvar::new(),
            group_arrived: Condvar::new(),
            writes: AtomicU64::new(0),
        });
        match (&superseded, accept.take()) {
            (Some(m), Some(mut event)) => {
                event
                    .encryption_context
                    .insert("lockbox:superseded-mark-seq".into(), m.seq.to_string());
                event
                    .encryption_context
                    .insert("lockbox:superseded-mark-hash".into(), hex(&m.chain_hash));
                let mut chain = inner.chain.lock();
                inner.write(&mut chain, &mut vec![Pending::Event(event)])?;
                inner.seal_locked(&mut chain, true)?;
                if chain.mark != chain.last_seal {
                    return Err(Error::Audit(
                        "recorded the accepted rollback but could not move the token's mark".into(),
                    ));
                }
            }
            _ => {
                let mut chain = inner.chain.lock();
                // A seal written just before a crash may not have reached the mark.
                inner.repair_mark(&mut chain);
                // Records after the last seal were left by a process that stopped without
                // sealing (killed, or its token failed): seal them now, durably, and move the
                // mark, so they are protected from deletion from this moment on rather than
                // from this process's first seal (which may be `seal_interval` away, or never).
                if chain.unsealed > 0 {
                    let inherited = chain.unsealed;
                    inner.seal_locked(&mut chain, true)?;
                    tracing::info!(
                        records = inherited,
                        "sealed the audit records a previous process left unsealed"
                    );
                }
            }
        }
        let worker = {
            let inner = Arc::clone(&inner);
            std::thread::Builder::new()
                .name("lockbox-audit".into())
                .spawn(move || inner.run_worker())
                .map_err(|e| Error::Audit(format!("cannot start the audit thread: {e}")))?
        };
        Ok((
            AuditLog {
                inner,
                worker: Some(worker),
            },
            superseded,
        ))
    }

    /// Records one KMS call.
    ///
    /// Every-record durability: chained, written and flushed before it returns. Batched: queued
    /// (cheap: no encoding, hashing or I/O on the caller's thread) and written within
    /// `batch_max`. After a write has failed, every append fails (fail closed) for
    /// [`RETRY_AFTER`]; then the log tries again, and writes what batched calls queued.
    pub fn append(&self, event: AuditEvent) -> Result<(), Error> {
        self.push(Pending::Event(event))
    }

    /// Records one KMS call made through the engine (as [`AuditLog::append`]).
    pub(crate) fn append_call(&self, call: CallRecord) -> Result<(), Error> {
        self.push(Pending::Call(call))
    }

    fn push(&self, event: Pending) -> Result<(), Error> {
        self.inner.check_failed()?;
        match self.inner.config.durability {
            Durability::EveryRecord => self.inner.group_commit(event),
            Durability::Batched => {
                let mut q = self.inner.queue.lock();
                if q.oldest.is_none() {
                    q.oldest = Some(Instant::now());
                    self.inner.wake.notify_one();
                }
                q.events.push(event);
                Ok(())
            }
        }
    }

    /// Records a request a server refused before it reached the engine, within the
    /// refusal budget (see [`RefusalBudget`]): recorded as an entry of its own (durable as
    /// [`AuditLog::append`] makes events), or, over budget, counted for the next summary
    /// entry. Fields longer than the log keeps are cut. Fails only when the log has stopped
    /// after a failed write.
    pub fn refused(&self, request: RefusedRequest) -> Result<Admission, Error> {
        self.inner.check_failed()?;
        let now = Instant::now();
        let time = self.inner.clock.now();
        let (admission, summary) = {
            let mut l = self.inner.limiter.lock();
            let summary = l.take_summary(now, time, false);
            (l.admit(&request.source, now, time), summary)
        };
        if let Some(s) = summary {
            self.push(Pending::Other(AuditBody::Suppressed(s)))?;
        }
        if admission == Admission::Recorded {
            self.push(Pending::Other(AuditBody::Refused(
                request.into_refusal(time),
            )))?;
        }
        Ok(admission)
    }

    /// Writes and flushes everything queued.
    pub fn flush(&self) -> Result<(), Error> {
        self.inner.flush()
    }

    /// Writes everything queued, then seals the chain now (if anything is unsealed) and
    /// moves the token's mark to the seal.
    pub fn seal(&self) -> Result<(), Error> {
        self.inner.flush()?;
        let mut chain = self.inner.chain.lock();
        self.inner.seal_locked(&mut chain, true)
    }

    /// How many writes of records (chained appends, each made durable as one: one flush or
    /// one commit) this log has made since it was opened, seals not counted. With
    /// every-record durability, fewer than the records appended when calls came together:
    /// they shared a group commit.
    pub fn writes(&self) -> u64 {
        self.inner.writes.load(Ordering::Relaxed)
    }

    /// When an appended record is durable.
    pub fn durability(&self) -> Durability {
        self.inner.config.durability
    }

    /// Writes everything queued, seals, and then holds the log: until the returned guard is
    /// dropped nothing is written to the audit tree and the token's mark does not move
    /// (batched appends queue; every-record appends wait). For a consistent backup.
    pub(crate) fn quiesce(&self) -> Result<Quiesced<'_>, Error> {
        let mut chain = self.inner.chain.lock();
        self.inner.flush_locked(&mut chain)?;
        self.inner.seal_locked(&mut chain, true)?;
        Ok(Quiesced { chain })
    }

    /// The sequence number the next entry will get.
    pub fn next_seq(&self) -> u64 {
        self.inner.chain.lock().next_seq
    }

    /// Stops the background thread, writes what is queued (and the summary of suppressed
    /// refusals, if any) and seals; reports failures.
    pub fn close(mut self) -> Result<(), Error> {
        self.stop_worker();
        self.inner.write_summary(true)?;
        self.seal()
    }

    fn stop_worker(&mut self) {
        self.inner.queue.lock().stop = true;
        self.inner.wake.notify_all();
        if let Some(t) = self.worker.take()
            && t.join().is_err()
        {
            tracing::error!("the audit thread panicked");
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        if self.worker.is_none() {
            return; // closed
        }
        self.stop_worker();
        if let Err(e) = self.inner.write_summary(true).and_then(|()| self.seal()) {
            tracing::error!(error = %e, "could not write and seal the audit log on close");
        }
    }
}

impl Inner {
    /// Every-record durability: returns once `event` is written and durable, in a group
    /// commit with whatever records concurrent callers appended meanwhile (one chained
    /// append, one flush for all of them). Fails, without the record, when the write that
    /// would have covered it failed.
    fn group_commit(&self, event: Pending) -> Result<(), Error> {
        let slot: Arc<Slot> = Arc::new(Mutex::new(None));
        let mut g = self.group.lock();
        g.waiting.push((event, Arc::clone(&slot)));
        if g.writing {
            self.group_arrived.notify_one();
        }
        loop {
            if let Some(outcome) = slot.lock().take() {
                return outcome.map_err(Error::Audit);
            }
            if !g.writing {
                break;
            }
            self.group_done.wait(&mut g);
        }
        // This caller writes: its own record and everything waiting (its record is among
        // them: every writer before it took only records queued before it had finished).
        g.writing = true;
        // Callers the last write answered are about to append again: wait for them a little
        // (at most half a write), so that they share this write rather than the next. A lone
        // caller (expect 1) never waits.
        if g.waiting.len() < g.expect {
            let deadline = Instant::now() + (g.last_write / 2).min(MAX_GATHER);
            while g.waiting.len() < g.expect
                && !self.group_arrived.wait_until(&mut g, deadline).timed_out()
            {}
        }
        let batch = std::mem::take(&mut g.waiting);
        drop(g);
        let started = Instant::now();
        let (mut events, slots): (Vec<Pending>, Vec<Arc<Slot>>) = batch.into_iter().unzip();
        let outcome = {
            let mut chain = self.chain.lock();
            self.check_failed()
                .and_then(|()| self.write(&mut chain, &mut events))
                .and_then(|()| {
                    if chain.unsealed >= chain.seal_at {
                        self.seal_locked(&mut chain, false)
                    } else {
                        Ok(())
                    }
                })
        };
        // Every caller of the group gets the group's outcome: a failed write or a failed seal
        // after it fails them all, as it failed the one caller of a write before group commit.
        let shared = match &outcome {
            Ok(()) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        for s in &slots {
            *s.lock() = Some(shared.clone());
        }
        let mut g = self.group.lock();
        g.writing = false;
        g.expect = slots.len() + g.waiting.len();
        g.last_write = started.elapsed();
        drop(g);
        self.group_done.notify_all();
        // This caller's own answer is the outcome itself (with its error kind intact).
        outcome
    }

    /// Refuses records for [`RETRY_AFTER`] after a failed write; after that the next write is
    /// tried (the store numbers and chains each append after the head it finds, so a failed
    /// append leaves nothing to repair).
    fn check_failed(&self) -> Result<(), Error> {
        if self.failed.load(Ordering::Acquire) {
            let failure = self.failure.lock();
            if let Some((why, at)) = failure.as_ref()
                && at.elapsed() < RETRY_AFTER
            {
                return Err(Error::Audit(format!(
                    "the audit log stopped after a failed write ({why}); no call can be \
                     audited until a write succeeds again (tried every {} ms)",
                    RETRY_AFTER.as_millis()
                )));
            }
        }
        Ok(())
    }

    fn fail(&self, e: &Error) {
        tracing::error!(error = %e, "audit log write failed; refusing further records for a while");
        *self.failure.lock() = Some((e.to_string(), Instant::now()));
        self.failed.store(true, Ordering::Release);
    }

    /// Queues (batched) or writes (every record) the summary of suppressed refusals, if it
    /// is due, or if `force` and there is one.
    fn write_summary(&self, force: bool) -> Result<(), Error> {
        let summary = self
            .limiter
            .lock()
            .take_summary(Instant::now(), self.clock.now(), force);
        let Some(s) = summary else { return Ok(()) };
        self.check_failed()?;
        let mut chain = self.chain.lock();
        // Behind whatever is queued, so the log stays in arrival order.
        let spare = std::mem::take(&mut chain.spare);
        let mut events = {
            let mut q = self.queue.lock();
            q.oldest = None;
            std::mem::replace(&mut q.events, spare)
        };
        events.push(Pending::Other(AuditBody::Suppressed(s)));
        self.write(&mut chain, &mut events)?;
        chain.spare = events;
        if chain.unsealed >= chain.seal_at {
            self.seal_locked(&mut chain, false)?;
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), Error> {
        let mut chain = self.chain.lock();
        self.flush_locked(&mut chain)
    }

    fn flush_locked(&self, chain: &mut Chain) -> Result<(), Error> {
        self.check_failed()?;
        let spare = std::mem::take(&mut chain.spare);
        let mut events = {
            let mut q = self.queue.lock();
            q.oldest = None;
            std::mem::replace(&mut q.events, spare)
        };
        if events.is_empty() {
            chain.spare = events;
            return Ok(());
        }
        self.write(chain, &mut events)?;
        chain.spare = events;
        if chain.unsealed >= chain.seal_at {
            self.seal_locked(chain, false)?;
        }
        Ok(())
    }

    /// Writes `events` as one chained append: the store numbers and chains them after the
    /// chain's head as it finds it in its transaction (another node may have appended since
    /// this one last did). Any failure stops the log. `events` is left empty.
    ///
    /// A failure stops the log for [`RETRY_AFTER`] (fail closed). Batched records, whose calls
    /// were answered already, are put back at the head of the queue and written when a
    /// write succeeds again (a database that restarted, a failover): lost only if the process
    /// dies first. If the failed append did commit (its answer lost), they are written twice:
    /// a record is never lost for that.
    fn write(&self, chain: &mut Chain, events: &mut Vec<Pending>) -> Result<(), Error> {
        let bodies: Vec<AuditBody> = events.drain(..).map(Pending::into_body).collect();
        match self.store.append_audit_chained(&bodies) {
            Ok(appended) => {
                self.writes.fetch_add(1, Ordering::Relaxed);
                chain.unsealed += bodies.len() as u64;
                chain.next_seq = appended.last.seq + 1;
                chain.last_hash = appended.last.hash;
                if self.failed.swap(false, Ordering::AcqRel) {
                    tracing::warn!("the audit log writes again after a failed write");
                }
                Ok(())
            }
            Err(e) => {
                let e = Error::from(e);
                self.fail(&e);
                if self.config.durability == Durability::Batched {
                    let mut q = self.queue.lock();
                    let later = std::mem::take(&mut q.events);
                    q.events = bodies.into_iter().map(Pending::Other).collect();
                    q.events.extend(later);
                    q.oldest.get_or_insert_with(Instant::now);
                }
                Err(e)
            }
        }
    }

    /// Takes the seal lock: at once, or (`wait`) trying for up to [`SEAL_LOCK_WAIT`]. `None`
    /// when another node holds it (said at debug level: that node is sealing).
    fn seal_lock(&self, wait: bool) -> Result<Option<ClusterLock>, Error> {
        let held = if wait {
            match wait_for_seal_lock(&self.store, "seal") {
                Ok(l) => Some(l),
                Err(Error::Audit(_)) => None,
                Err(e) => return Err(e),
            }
        } else {
            self.store.try_cluster_lock(SEAL_LOCK)?
        };
        if held.is_none() {
            tracing::debug!(
                lock = SEAL_LOCK,
                "another node holds the audit seal lock; it seals, this node skips this seal"
            );
        }
        Ok(held)
    }

    /// Seals the chain as it stands in the store (nothing to do if no event came since this
    /// node's last seal, or if the chain already ends with a seal), then moves the token's
    /// mark forward to the seal. Under the cluster's seal lock: one node seals at a time, and
    /// it reads the chain's head under the lock, so the mark never goes backwards. When
    /// another node holds the lock this node skips (`wait`: after trying for a while); its
    /// records are covered by the next seal. A token failure leaves the records durable but
    /// unsealed (logged; the next seal covers them); a store failure stops the log.
    fn seal_locked(&self, chain: &mut Chain, wait: bool) -> Result<(), Error> {
        if chain.unsealed == 0 {
            self.repair_mark(chain);
            return Ok(());
        }
        self.check_failed()?;
        let Some(_lock) = self.seal_lock(wait)? else {
            chain.seal_at = chain.unsealed + self.config.seal_every;
            chain.last_seal_at = Instant::now();
            return Ok(());
        };
        let mut attempts = 0;
        let sealed = loop {
            attempts += 1;
            let Some((through, bytes)) = self.store.last_audit()? else {
                return Ok(());
            };
            let head_hash = chain_hash(&bytes);
            if let Ok(AuditEntry {
                body: AuditBody::Seal { .. },
                ..
            }) = AuditEntry::decode(&bytes)
            {
                // Another node sealed after this node's records: they are covered.
                break (through, head_hash);
            }
            let mac = self
                .token
                .hmac_sha256(&self.key, &seal_input(through, &head_hash))?;
            let body = AuditBody::Seal {
                through_seq: through,
                chain_hash: head_hash,
                mac,
                at: self.clock.now(),
            };
            match self.store.append_audit_seal(&body) {
                Ok(Some(a)) => break (a.last.seq, a.last.hash),
                // Another node appended between the read and the seal: seal the new head.
                Ok(None) if attempts < SEAL_ATTEMPTS => continue,
                Ok(None) => {
                    tracing::warn!(
                        attempts,
                        "other nodes kept appending while this node sealed; the next seal \
                         covers these records"
                    );
                    chain.seal_at = chain.unsealed + self.config.seal_every;
                    chain.last_seal_at = Instant::now();
                    return Ok(());
                }
                Err(e) => {
                    let e = Error::from(e);
                    self.fail(&e);
                    return Err(e);
                }
            }
        };
        chain.last_seal = Some(sealed);
        chain.next_seq = sealed.0 + 1;
        chain.last_hash = sealed.1;
        chain.unsealed = 0;
        chain.seal_at = self.config.seal_every;
        chain.last_seal_at = Instant::now();
        self.advance_mark(sealed)?;
        chain.mark = chain.last_seal;
        Ok(())
    }

    /// Moves the token's mark to the seal `seal` unless it already names that seal or a later
    /// one of this chain (another node's seal, which is in the log as the mark says). A mark
    /// naming an entry the log does not have (a rollback accepted at open) is replaced. Call
    /// with the seal lock held.
    fn advance_mark(&self, seal: (u64, [u8; 32])) -> Result<(), Error> {
        let current = parse_mark(&self.token.read_mark(&self.mark)?)
            .map_err(|m| Error::Audit(format!("the token's audit mark is unreadable: {m}")))?;
        if let Some((seq, hash)) = current
            && seq >= seal.0
        {
            let found = self.store.audit_from(seq).next().transpose()?;
            if found.is_some_and(|(s, bytes)| s == seq && chain_hash(&bytes) == hash) {
                return Ok(());
            }
        }
        self.token
            .write_mark(&self.mark, &mark_bytes(seal.0, &seal.1))?;
        Ok(())
    }

    /// Moves the mark up to the newest seal if an earlier attempt did not.
    fn repair_mark(&self, chain: &mut Chain) {
        if chain.last_seal == chain.mark {
            return;
        }
        let Some(seal) = chain.last_seal else { return };
        match self.seal_lock(false) {
            Ok(Some(_lock)) => match self.advance_mark(seal) {
                Ok(()) => chain.mark = chain.last_seal,
                Err(e) => tracing::error!(error = %e, "could not move the audit mark"),
            },
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "could not move the audit mark"),
        }
    }

    fn run_worker(&self) {
        loop {
            // Lock order: `chain`, then `queue` (as `flush` takes them); never both here.
            let seal_due = self.chain.lock().last_seal_at + self.config.seal_interval;
            let seal_due = match self.limiter.lock().summary_due() {
                Some(t) => seal_due.min(t),
                None => seal_due,
            };
            let mut q = self.queue.lock();
            if q.stop {
                return;
            }
            // Wait for the first queued event, or for the sealing interval to come round.
            let now = Instant::now();
            let deadline = match q.oldest {
                Some(t) => (t + self.config.batch_max).min(seal_due),
                None => seal_due,
            };
            if deadline > now {
                self.wake.wait_until(&mut q, deadline);
                if q.stop {
                    return;
                }
                // Woken by the first event of a batch: wait for the batch to fill.
                if q.oldest
                    .is_some_and(|t| t + self.config.batch_max > Instant::now())
                {
                    continue;
                }
            }
            drop(q);
            if self.check_failed().is_err() {
                // Fail closed for a while: appends report the failure; what is queued waits
                // for the next try.
                std::thread::sleep(self.config.batch_max.min(RETRY_AFTER));
                continue;
            }
            if let Err(e) = self.flush() {
                tracing::error!(error = %e, "audit batch write failed");
                continue;
            }
            if let Err(e) = self.write_summary(false) {
                tracing::error!(error = %e, "audit write of the refusal summary failed");
                continue;
            }
            let mut chain = self.chain.lock();
            if chain.unsealed > 0
                && chain.last_seal_at + self.config.seal_interval <= Instant::now()
            {
                if let Err(e) = self.seal_locked(&mut chain, false) {
                    tracing::error!(error = %e, "audit seal failed; the next seal covers these records");
                    chain.last_seal_at = Instant::now();
                }
            } else if chain.unsealed == 0 {
                chain.last_seal_at = Instant::now();
            }
        }
    }
}

/// The token's audit mark a restore superseded: the seal it named, which the restored log
/// does not have (see [`AuditLog::open_accepting_rollback`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SupersededMark {
    /// The sequence number of the seal the mark named.
    pub seq: u64,
    /// That seal's chain hash.
    pub chain_hash: [u8; 32],
}

/// The audit log held still (see [`AuditLog::quiesce`]).
pub(crate) struct Quiesced<'a> {
    chain: parking_lot::MutexGuard<'a, Chain>,
}

impl Quiesced<'_> {
    /// The sequence number the next entry will get.
    pub(crate) fn next_seq(&self) -> u64 {
        self.chain.next_seq
    }

    /// The newest seal, which the token's mark names.
    pub(crate) fn last_seal(&self) -> Option<(u64, [u8; 32])> {
        self.chain.last_seal
    }
}

fn mark_bytes(seq: u64, hash: &[u8; 32]) -> Vec<u8> {
    let mut v = Vec::with_capacity(40);
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(hash);
    v
}

/// The mark's value: empty before the first seal, else the seal's sequence number and
/// chain hash.
pub(crate) fn parse_mark(v: &[u8]) -> Result<Option<(u64, [u8; 32])>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    if v.len() != 40 {
        return Err(format!("{} bytes, expected 0 or 40", v.len()));
    }
    let (s, h) = v.split_at(8);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(s);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(h);
    Ok(Some((u64::from_be_bytes(seq), hash)))
}

/// Lowercase hex, as every identifier in the audit trail is written.
pub(crate) fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::uuid_text;

    #[test]
    fn uuid_text_is_8_4_4_4_12_lower_case_hex() {
        assert_eq!(uuid_text(0), "00000000-0000-0000-0000-000000000000");
        assert_eq!(uuid_text(u128::MAX), "ffffffff-ffff-ffff-ffff-ffffffffffff");
        assert_eq!(
            uuid_text(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210),
            "01234567-89ab-cdef-fedc-ba9876543210"
        );
        // The spelling request ids had before, for ids of an engine's kind (prefix, counter).
        for id in [
            1u128,
            (0xdead_beef_u128 << 64) | 42,
            u128::from(u64::MAX) << 64,
        ] {
            let h = format!("{id:032x}");
            let old = format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            );
            assert_eq!(uuid_text(id), old);
        }
    }
}
