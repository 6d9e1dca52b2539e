//! The audit tree: one entry per KMS call, and now and then a seal, keyed by big-endian
//! sequence number.
//!
//! Each value is a version byte and the postcard encoding of that version's entry, as for
//! every other record. The store only keeps bytes in order: chaining (each entry carries the
//! SHA-256 of the previous entry's stored bytes), sealing (an HMAC made inside the token)
//! and verification are the engine's (`lockbox::audit`). The bytes are kept exactly as
//! written, because the chain hash is taken over them.

use std::collections::BTreeMap;

use lockbox_api::Timestamp;
use serde::{Deserialize, Serialize};

use crate::backend::{Tree, TxError, Txn};
use crate::error::StoreError;
use crate::store::Store;

/// One audited KMS call: who asked for what, on which key, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// When the call was made.
    pub time: Timestamp,
    /// The request id (a UUID) the caller was given.
    pub request_id: String,
    /// The account the call was made in (12 digits).
    pub account: String,
    /// The caller's ARN.
    pub principal: String,
    /// The AWS operation name, e.g. `Encrypt`.
    pub operation: String,
    /// The ARN of the key the call concerned, when it concerned one and it was resolved.
    pub key_arn: Option<String>,
    /// The encryption context of the request (empty when none was given). Never plaintext.
    pub encryption_context: BTreeMap<String, String>,
    /// `None` for success; else the AWS error code (e.g. `AccessDeniedException`) and message.
    pub error: Option<(String, String)>,
    /// Where the call came from: `in-process`, `cli`, or a socket address.
    pub source: String,
    /// The grant that allowed the call, if a grant did.
    pub grant_id: Option<String>,
    /// The Region the call was addressed to (entry version 3), when the caller named one;
    /// `None` for a call in the configured Region by a caller that named none, and in every
    /// entry written before Regions existed.
    pub region: Option<String>,
}

/// A request the server refused before it reached the engine (bad signature, malformed
/// request, throttled, too large, ...). Every field is what the request presented; nothing
/// here was authenticated unless `principal` is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// When it was refused.
    pub time: Timestamp,
    /// The request id (a UUID) the refusal was answered with.
    pub request_id: String,
    /// The peer's IP address.
    pub source: String,
    /// The AWS operation name, when the request named a known one.
    pub operation: Option<String>,
    /// The access key id the request's SigV4 credential named, if it presented one (never
    /// a secret or a signature).
    pub access_key_id: Option<String>,
    /// The authenticated principal's ARN, when the refusal came after authentication
    /// (throttling, wire validation).
    pub principal: Option<String>,
    /// The AWS error code it was answered with (e.g. `InvalidSignatureException`).
    pub error_code: String,
    /// The error message it was answered with.
    pub error_message: String,
}

/// Refusals that were counted but not recorded one by one, because their source (or all
/// sources together) was over its record budget: one summary per interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppressed {
    /// The start of the interval.
    pub from: Timestamp,
    /// The end of the interval (when the summary was made).
    pub until: Timestamp,
    /// How many refusals were not recorded in the interval.
    pub count: u64,
    /// The sources with the most suppressed refusals, most first, with their counts.
    pub by_source: Vec<(String, u64)>,
    /// How many suppressed refusals came from sources not in `by_source`.
    pub others: u64,
}

/// What an audit entry holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditBody {
    /// An audited call.
    Event(AuditEvent),
    /// A seal over the chain up to and including entry `through_seq`.
    Seal {
        /// The last entry the seal covers (the entry just before the seal).
        through_seq: u64,
        /// The chain hash of entry `through_seq`.
        chain_hash: [u8; 32],
        /// HMAC-SHA256, computed in the token, over the seal's domain string,
        /// `through_seq` and `chain_hash`.
        mac: [u8; 32],
        /// When the seal was made.
        at: Timestamp,
    },
    /// A request refused before the engine (entry version 2).
    Refused(Refusal),
    /// A count of refusals not recorded one by one (entry version 2).
    Suppressed(Suppressed),
}

/// One entry of the audit tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its sequence number (0, 1, 2, ...), also its key in the tree.
    pub seq: u64,
    /// The chain hash of entry `seq - 1` (all zeros for entry 0).
    pub prev_hash: [u8; 32],
    /// An event or a seal.
    pub body: AuditBody,
}

/// The token objects the audit log uses, recorded in the `meta` tree so that reconciliation
/// counts them as claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditObjects {
    /// CKA_ID of the HMAC key seals are made with.
    pub key: [u8; 16],
    /// Identity of the token's high-water mark (the newest seal's sequence number and hash).
    pub mark: [u8; 16],
}

const AUDIT_ENTRY_V1: u8 = 1;
// Version 2 is version 1's layout with two more body variants (refusals and their
// summaries). Events and seals are still written as version 1, byte for byte as before; an
// entry holding a new variant is written as version 2, so a Lockbox that predates them
// reports it as too new rather than as corrupt.
const AUDIT_ENTRY_V2: u8 = 2;
// Version 3 (issue 15, Regions): one more body variant, an event with the Region the call was
// addressed to. Written only for events that have one, so every other entry keeps its bytes.
const AUDIT_ENTRY_V3: u8 = 3;
const META_AUDIT_OBJECTS: &[u8] = b"audit.objects";
/// The chain's head: the last entry's sequence number (8 bytes, big-endian) and chain hash
/// (32 bytes). Every chained append reads and rewrites it in its transaction, so appends
/// from several nodes conflict on this one row and are serialized.
const META_AUDIT_HEAD: &[u8] = b"audit.head";
/// Where the stored chain starts after pruning: the sequence number (8 bytes, big-endian) of
/// the first entry kept, a seal (every entry before it was exported and removed). Absent
/// until the first prune: the chain starts at entry 0.
const META_AUDIT_PRUNED: &[u8] = b"audit.pruned";

/// Where the audit chain ends: its last entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainHead {
    /// The last entry's sequence number.
    pub seq: u64,
    /// The SHA-256 of its stored bytes (the next entry's `prev_hash`).
    pub hash: [u8; 32],
}

/// What a chained append wrote: entries `first..=last.seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The sequence number of the first entry written.
    pub first: u64,
    /// The last entry written, now the chain's head.
    pub last: ChainHead,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

// Stored form. Variant order of `AuditBodyV1` is part of the format (postcard encodes the
// variant index): add variants at the end, or make a version 2.
#[derive(Serialize, Deserialize)]
struct AuditEntryV1 {
    seq: u64,
    prev_hash: [u8; 32],
    body: AuditBodyV1,
}

#[derive(Serialize, Deserialize)]
enum AuditBodyV1 {
    Event(AuditEventV1),
    Seal {
        through_seq: u64,
        chain_hash: [u8; 32],
        mac: [u8; 32],
        at_ms: i64,
    },
    // Version 2 only.
    Refused(RefusalV2),
    // Version 2 only.
    Suppressed(SuppressedV2),
    // Version 3 only.
    RegionalEvent(AuditEventV1, String),
}

#[derive(Serialize, Deserialize)]
struct RefusalV2 {
    time_ms: i64,
    request_id: String,
    source: String,
    operation: Option<String>,
    access_key_id: Option<String>,
    principal: Option<String>,
    error_code: String,
    error_message: String,
}

#[derive(Serialize, Deserialize)]
struct SuppressedV2 {
    from_ms: i64,
    until_ms: i64,
    count: u64,
    by_source: Vec<(String, u64)>,
    others: u64,
}

// What `encode` writes: the same layout, borrowing from the entry instead of copying its
// strings. serde serializes a reference exactly as the value it points to, and postcard
// writes neither type nor variant names, so the bytes are those of `AuditEntryV1` (a test
// below checks it).
#[derive(Serialize)]
struct AuditEntryV1Ref<'a> {
    seq: u64,
    prev_hash: &'a [u8; 32],
    body: AuditBodyV1Ref<'a>,
}

#[derive(Serialize)]
enum AuditBodyV1Ref<'a> {
    Event(AuditEventV1Ref<'a>),
    Seal {
        through_seq: u64,
        chain_hash: &'a [u8; 32],
        mac: &'a [u8; 32],
        at_ms: i64,
    },
    Refused(RefusalV2Ref<'a>),
    Suppressed(SuppressedV2Ref<'a>),
    RegionalEvent(AuditEventV1Ref<'a>, &'a str),
}

#[derive(Serialize)]
struct RefusalV2Ref<'a> {
    time_ms: i64,
    request_id: &'a str,
    source: &'a str,
    operation: &'a Option<String>,
    access_key_id: &'a Option<String>,
    principal: &'a Option<String>,
    error_code: &'a str,
    error_message: &'a str,
}

#[derive(Serialize)]
struct SuppressedV2Ref<'a> {
    from_ms: i64,
    until_ms: i64,
    count: u64,
    by_source: &'a [(String, u64)],
    others: u64,
}

#[derive(Serialize)]
struct AuditEventV1Ref<'a> {
    time_ms: i64,
    request_id: &'a str,
    account: &'a str,
    principal: &'a str,
    operation: &'a str,
    key_arn: &'a Option<String>,
    encryption_context: &'a BTreeMap<String, String>,
    error: &'a Option<(String, String)>,
    source: &'a str,
    grant_id: &'a Option<String>,
}

const ENCODED_CAPACITY: usize = 512;

#[derive(Serialize, Deserialize)]
struct AuditEventV1 {
    time_ms: i64,
    request_id: String,
    account: String,
    principal: String,
    operation: String,
    key_arn: Option<String>,
    encryption_context: BTreeMap<String, String>,
    error: Option<(String, String)>,
    source: String,
    grant_id: Option<String>,
}

/// The stored form of an event's fields, borrowed.
fn event_ref(e: &AuditEvent) -> AuditEventV1Ref<'_> {
    AuditEventV1Ref {
        time_ms: e.time.unix_millis(),
        request_id: &e.request_id,
        account: &e.account,
        principal: &e.principal,
        operation: &e.operation,
        key_arn: &e.key_arn,
        encryption_context: &e.encryption_context,
        error: &e.error,
        source: &e.source,
        grant_id: &e.grant_id,
    }
}

impl AuditEntry {
    /// The stored bytes of this entry: version byte, then postcard.
    pub fn encode(&self) -> Result<Vec<u8>, StoreError> {
        encode_entry(self.seq, &self.prev_hash, &self.body)
    }
}

/// The stored bytes of the entry `seq` with `prev_hash` and `body`.
fn encode_entry(seq: u64, prev_hash: &[u8; 32], body: &AuditBody) -> Result<Vec<u8>, StoreError> {
    let body = match body {
        AuditBody::Event(e) => match &e.region {
            None => AuditBodyV1Ref::Event(event_ref(e)),
            Some(r) => AuditBodyV1Ref::RegionalEvent(event_ref(e), r),
        },
        AuditBody::Seal {
            through_seq,
            chain_hash,
            mac,
            at,
        } => AuditBodyV1Ref::Seal {
            through_seq: *through_seq,
            chain_hash,
            mac,
            at_ms: at.unix_millis(),
        },
        AuditBody::Refused(r) => AuditBodyV1Ref::Refused(RefusalV2Ref {
            time_ms: r.time.unix_millis(),
            request_id: &r.request_id,
            source: &r.source,
            operation: &r.operation,
            access_key_id: &r.access_key_id,
            principal: &r.principal,
            error_code: &r.error_code,
            error_message: &r.error_message,
        }),
        AuditBody::Suppressed(x) => AuditBodyV1Ref::Suppressed(SuppressedV2Ref {
            from_ms: x.from.unix_millis(),
            until_ms: x.until.unix_millis(),
            count: x.count,
            by_source: &x.by_source,
            others: x.others,
        }),
    };
    let version = match body {
        AuditBodyV1Ref::Event(_) | AuditBodyV1Ref::Seal { .. } => AUDIT_ENTRY_V1,
        AuditBodyV1Ref::Refused(_) | AuditBodyV1Ref::Suppressed(_) => AUDIT_ENTRY_V2,
        AuditBodyV1Ref::RegionalEvent(..) => AUDIT_ENTRY_V3,
    };
    let v1 = AuditEntryV1Ref {
        seq,
        prev_hash,
        body,
    };
    // Room for a typical event (about 300 bytes), so the encoding does not grow the buffer
    // step by step.
    let mut out = Vec::with_capacity(ENCODED_CAPACITY);
    out.push(version);
    postcard::to_io(&v1, &mut out).map_err(|e| StoreError::Corrupt {
        tree: "audit",
        key: seq.to_string(),
        reason: format!("cannot encode: {e}"),
    })?;
    Ok(out)
}

impl AuditEntry {
    /// Decodes stored bytes. Total: any bytes give an entry or an error.
    pub fn decode(bytes: &[u8]) -> Result<AuditEntry, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            tree: "audit",
            key: "(entry)".into(),
            reason,
        };
        let (version, v1): (u8, AuditEntryV1) = match bytes.split_first() {
            Some((&v @ (AUDIT_ENTRY_V1 | AUDIT_ENTRY_V2 | AUDIT_ENTRY_V3), body)) => {
                match postcard::take_from_bytes(body) {
                    Ok((e, [])) => (v, e),
                    Ok((_, rest)) => return Err(corrupt(format!("{} trailing bytes", rest.len()))),
                    Err(e) => return Err(corrupt(e.to_string())),
                }
            }
            Some((0, _)) => return Err(corrupt("record version 0".into())),
            Some((&v, _)) => {
                return Err(StoreError::TooNew {
                    what: "an audit entry".into(),
                    version: u32::from(v),
                });
            }
            None => return Err(corrupt("empty record".into())),
        };
        let event = |e: AuditEventV1, region: Option<String>| AuditEvent {
            time: Timestamp::from_unix_millis(e.time_ms),
            request_id: e.request_id,
            account: e.account,
            principal: e.principal,
            operation: e.operation,
            key_arn: e.key_arn,
            encryption_context: e.encryption_context,
            error: e.error,
            source: e.source,
            grant_id: e.grant_id,
            region,
        };
        let body = match v1.body {
            AuditBodyV1::Event(e) => AuditBody::Event(event(e, None)),
            AuditBodyV1::RegionalEvent(..) if version != AUDIT_ENTRY_V3 => {
                return Err(corrupt(format!(
                    "a version {version} entry holds a version 3 body"
                )));
            }
            AuditBodyV1::RegionalEvent(e, region) => AuditBody::Event(event(e, Some(region))),
            AuditBodyV1::Seal {
                through_seq,
                chain_hash,
                mac,
                at_ms,
            } => AuditBody::Seal {
                through_seq,
                chain_hash,
                mac,
                at: Timestamp::from_unix_millis(at_ms),
            },
            AuditBodyV1::Refused(_) | AuditBodyV1::Suppressed(_) if version == AUDIT_ENTRY_V1 => {
                return Err(corrupt("a version 1 entry holds a version 2 body".into()));
            }
            AuditBodyV1::Refused(r) => AuditBody::Refused(Refusal {
                time: Timestamp::from_unix_millis(r.time_ms),
                request_id: r.request_id,
                source: r.source,
                operation: r.operation,
                access_key_id: r.access_key_id,
                principal: r.principal,
                error_code: r.error_code,
                error_message: r.error_message,
            }),
            AuditBodyV1::Suppressed(x) => AuditBody::Suppressed(Suppressed {
                from: Timestamp::from_unix_millis(x.from_ms),
                until: Timestamp::from_unix_millis(x.until_ms),
                count: x.count,
                by_source: x.by_source,
                others: x.others,
            }),
        };
        Ok(AuditEntry {
            seq: v1.seq,
            prev_hash: v1.prev_hash,
            body,
        })
    }
}

/// Audit entries in sequence order, read from the backend in batches.
pub struct AuditIter<'a> {
    store: &'a Store,
    next: Option<u64>,
    batch: std::vec::IntoIter<(Vec<u8>, Vec<u8>)>,
    failed: bool,
}

impl Iterator for AuditIter<'_> {
    type Item = Result<(u64, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if let Some((k, v)) = self.batch.next() {
            return Some(seq_of(&k).map(|seq| {
                self.next = seq.checked_add(1);
                (seq, v)
            }));
        }
        let from = self.next?;
        match self.store.backend.range(
            Tree::Audit,
            std::ops::Bound::Included(&from.to_be_bytes()),
            b"",
            AUDIT_BATCH,
        ) {
            Ok(batch) if batch.is_empty() => {
                self.next = None;
                None
            }
            Ok(batch) => {
                self.batch = batch.into_iter();
                self.next()
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Audit entries read from the backend at a time.
const AUDIT_BATCH: usize = 1024;

impl Store {
    /// Appends `bodies` to the audit chain as one durable transaction, numbering and chaining
    /// them there: the head is read inside the transaction, so appends from several nodes
    /// sharing a database are serialized by it (PostgreSQL: both rewrite the head row, one
    /// conflicts and runs again on the new head), and no node needs to know where the chain
    /// ends. All of `bodies` are written, or none (a prefix of the log either way).
    pub fn append_audit_chained(&self, bodies: &[AuditBody]) -> Result<Appended, StoreError> {
        crate::failpoints::hit("store.append_audit.before_insert")?;
        match self.chain_append(bodies, None)? {
            Some(a) => Ok(a),
            None => Err(StoreError::Corrupt {
                tree: "audit",
                key: "(head)".into(),
                reason: "nothing to append".into(),
            }),
        }
    }

    /// Appends the seal `seal` only if the chain still ends at the entry it seals
    /// (`through_seq` with `chain_hash`): `Ok(None)` when another entry came meanwhile (seal
    /// the new head instead). Not a seal: a [`StoreError::Corrupt`] naming it.
    pub fn append_audit_seal(&self, seal: &AuditBody) -> Result<Option<Appended>, StoreError> {
        let AuditBody::Seal {
            through_seq,
            chain_hash,
            ..
        } = seal
        else {
            return Err(StoreError::Corrupt {
                tree: "audit",
                key: "(seal)".into(),
                reason: "append_audit_seal was given an entry that is not a seal".into(),
            });
        };
        crate::failpoints::hit("store.append_audit.before_insert")?;
        let after = ChainHead {
            seq: *through_seq,
            hash: *chain_hash,
        };
        self.chain_append(std::slice::from_ref(seal), Some(after))
    }

    /// The audit chain's head as committed (`None`: the log is empty).
    pub fn audit_head(&self) -> Result<Option<ChainHead>, StoreError> {
        let mut head = None;
        self.backend
            .transact_append("store.audit_head", &mut |tx| {
                head = self.head_in(tx)?;
                Ok(())
            })?;
        Ok(head)
    }

    fn chain_append(
        &self,
        bodies: &[AuditBody],
        after: Option<ChainHead>,
    ) -> Result<Option<Appended>, StoreError> {
        if bodies.is_empty() {
            return Ok(None);
        }
        let mut out = None;
        self.backend
            .transact_append("store.append_audit.before_flush", &mut |tx| {
                out = None;
                let head = self.head_in(tx)?;
                if after.is_some() && head != after {
                    return Ok(());
                }
                let (mut seq, mut prev) = match head {
                    Some(h) => (h.seq.checked_add(1).ok_or_else(full)?, h.hash),
                    None => (0, [0; 32]),
                };
                let first = seq;
                let mut last = ChainHead { seq, hash: prev };
                for body in bodies {
                    let bytes = encode_entry(seq, &prev, body)?;
                    prev = sha256(&bytes);
                    tx.insert(Tree::Audit, &seq.to_be_bytes(), &bytes)?;
                    last = ChainHead { seq, hash: prev };
                    seq = seq.checked_add(1).ok_or_else(full)?;
                }
                let mut v = Vec::with_capacity(40);
                v.extend_from_slice(&last.seq.to_be_bytes());
                v.extend_from_slice(&last.hash);
                tx.insert(Tree::Meta, META_AUDIT_HEAD, &v)?;
                out = Some(Appended { first, last });
                Ok(())
            })?;
        Ok(out)
    }

    /// The head inside a transaction: the recorded one, if the tree agrees with it (its entry
    /// is there with that hash, and nothing after it); else the tree's last entry as
    /// committed (a log written before heads were recorded, entries removed or written by
    /// hand, a restore), which the head written next then records.
    fn head_in(&self, tx: &mut dyn Txn) -> Result<Option<ChainHead>, TxError> {
        if let Some(v) = tx.get(Tree::Meta, META_AUDIT_HEAD)?
            && v.len() == 40
        {
            let (s, h) = v.split_at(8);
            let seq = u64::from_be_bytes(s.try_into().map_err(|_| TxError::Fail(full()))?);
            let hash: [u8; 32] = h.try_into().map_err(|_| TxError::Fail(full()))?;
            let here = tx.get(Tree::Audit, &seq.to_be_bytes())?;
            let next = match seq.checked_add(1) {
                Some(n) => tx.get(Tree::Audit, &n.to_be_bytes())?,
                None => None,
            };
            if next.is_none() && here.is_some_and(|b| sha256(&b) == hash) {
                return Ok(Some(ChainHead { seq, hash }));
            }
        }
        match self.backend.last(Tree::Audit)? {
            Some((k, v)) => Ok(Some(ChainHead {
                seq: seq_of(&k)?,
                hash: sha256(&v),
            })),
            None => Ok(None),
        }
    }

    /// Writes audit entries (sequence number, stored bytes) in order, then makes them durable
    /// once: when it returns `Ok`, every entry is durable. A crash part-way leaves a prefix of
    /// the entries, which is what the chain expects of an unsealed tail.
    pub fn append_audit(&self, entries: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        crate::failpoints::hit("store.append_audit.before_insert")?;
        let entries: Vec<_> = entries
            .iter()
            .map(|(seq, bytes)| (seq.to_be_bytes().to_vec(), bytes.clone()))
            .collect();
        self.backend
            .append(Tree::Audit, &entries, "store.append_audit.before_flush")
    }

    /// Where the stored chain starts after pruning: the sequence number of the first entry
    /// kept (a seal); `None` when nothing was ever pruned (the chain starts at entry 0).
    pub fn audit_pruned(&self) -> Result<Option<u64>, StoreError> {
        match self.backend.get(Tree::Meta, META_AUDIT_PRUNED)? {
            None => Ok(None),
            Some(v) => Ok(Some(
                <[u8; 8]>::try_from(v.as_slice())
                    .map(u64::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt {
                        tree: "meta",
                        key: "audit.pruned".into(),
                        reason: format!("{} bytes, expected 8", v.len()),
                    })?,
            )),
        }
    }

    /// Removes the audit entries before `keep` (from `from`, where the stored chain starts)
    /// and records that the chain now starts at `keep`, in one transaction, made durable
    /// before it returns. `keep` must be a stored seal. Returns `false` and changes nothing
    /// when the chain no longer starts at `from` (another node pruned meanwhile).
    ///
    /// The store checks only where the chain starts; that the removed entries were exported,
    /// and that `keep` seals them, is the caller's (`lockbox::audit::prune`).
    pub fn prune_audit(&self, from: u64, keep: u64) -> Result<bool, StoreError> {
        if keep <= from {
            return Err(StoreError::Corrupt {
                tree: "audit",
                key: keep.to_string(),
                reason: format!("pruning must keep an entry after {from}, not {keep}"),
            });
        }
        let mut done = false;
        self.backend
            .transact("store.prune_audit.before_flush", &mut |tx| {
                done = false;
                let starts = match tx.get(Tree::Meta, META_AUDIT_PRUNED)? {
                    None => 0,
                    Some(v) => u64::from_be_bytes(
                        <[u8; 8]>::try_from(v.as_slice()).map_err(|_| TxError::Fail(full()))?,
                    ),
                };
                if starts != from {
                    return Ok(());
                }
                let kept = tx.get(Tree::Audit, &keep.to_be_bytes())?;
                let is_seal = kept.as_deref().map(AuditEntry::decode).is_some_and(|e| {
                    matches!(
                        e,
                        Ok(AuditEntry {
                            body: AuditBody::Seal { .. },
                            ..
                        })
                    )
                });
                if !is_seal {
                    return Err(TxError::Fail(StoreError::Corrupt {
                        tree: "audit",
                        key: keep.to_string(),
                        reason: "pruning must keep a seal, and this entry is not one".into(),
                    }));
                }
                for seq in from..keep {
                    tx.remove(Tree::Audit, &seq.to_be_bytes())?;
                }
                tx.insert(Tree::Meta, META_AUDIT_PRUNED, &keep.to_be_bytes())?;
                done = true;
                Ok(())
            })?;
        Ok(done)
    }

    /// How many entries the audit tree holds.
    pub fn audit_count(&self) -> Result<u64, StoreError> {
        self.backend.count(Tree::Audit)
    }

    /// The newest audit entry: its sequence number and stored bytes.
    pub fn last_audit(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        match self.backend.last(Tree::Audit)? {
            Some((k, v)) => Ok(Some((seq_of(&k)?, v))),
            None => Ok(None),
        }
    }

    /// Audit entries from sequence number `from` on, in order.
    pub fn audit_from(&self, from: u64) -> AuditIter<'_> {
        AuditIter {
            store: self,
            next: Some(from),
            batch: Vec::new().into_iter(),
            failed: false,
        }
    }

    /// The token objects of the audit log, once recorded.
    pub fn audit_objects(&self) -> Result<Option<AuditObjects>, StoreError> {
        let Some(v) = self.backend.get(Tree::Meta, META_AUDIT_OBJECTS)? else {
            return Ok(None);
        };
        let corrupt = || StoreError::Corrupt {
            tree: "meta",
            key: "audit.objects".into(),
            reason: "not two 16-byte object ids".into(),
        };
        let (key, mark) = v.split_at_checked(16).ok_or_else(corrupt)?;
        Ok(Some(AuditObjects {
            key: key.try_into().map_err(|_| corrupt())?,
            mark: mark.try_into().map_err(|_| corrupt())?,
        }))
    }

    /// Records the token objects of the audit log, durably.
    pub fn set_audit_objects(&self, objects: &AuditObjects) -> Result<(), StoreError> {
        let mut v = Vec::with_capacity(32);
        v.extend_from_slice(&objects.key);
        v.extend_from_slice(&objects.mark);
        self.backend
            .transact("store.commit.before_flush", &mut |tx| {
                tx.insert(Tree::Meta, META_AUDIT_OBJECTS, &v)
            })
    }

    /// The stored bytes of audit entry `seq` (tests tamper with the log through these).
    #[cfg(feature = "test-support")]
    pub fn audit_raw(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend.get(Tree::Audit, &seq.to_be_bytes())
    }

    /// Overwrites audit entry `seq` with `bytes`, durably.
    #[cfg(feature = "test-support")]
    pub fn put_audit_raw(&self, seq: u64, bytes: &[u8]) -> Result<(), StoreError> {
        self.backend
            .transact("store.commit.before_flush", &mut |tx| {
                tx.insert(Tree::Audit, &seq.to_be_bytes(), bytes)
            })
    }

    /// Removes audit entry `seq`, durably.
    #[cfg(feature = "test-support")]
    pub fn remove_audit_raw(&self, seq: u64) -> Result<(), StoreError> {
        self.backend
            .transact("store.commit.before_flush", &mut |tx| {
                tx.remove(Tree::Audit, &seq.to_be_bytes())?;
                Ok(())
            })
    }
}

fn full() -> StoreError {
    StoreError::Corrupt {
        tree: "audit",
        key: "(head)".into(),
        reason: "the sequence numbers are exhausted".into(),
    }
}

fn seq_of(key: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt {
            tree: "audit",
            key: format!("{key:02x?}"),
            reason: "not an 8-byte sequence number".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event() -> AuditEvent {
        AuditEvent {
            time: Timestamp::from_unix_millis(1_735_689_600_123),
            request_id: "5f0c8a1e-0000-4000-8000-000000000001".into(),
            account: "111122223333".into(),
            principal: "arn:aws:iam::111122223333:user/alice".into(),
            operation: "Encrypt".into(),
            key_arn: Some("arn:aws:kms:us-east-1:111122223333:key/k".into()),
            encryption_context: [("purpose".to_owned(), "backup".to_owned())].into(),
            error: Some(("AccessDeniedException".into(), "no".into())),
            source: "cli".into(),
            grant_id: None,
            region: None,
        }
    }

    /// An event with a Region is version 3 (the version-1 event's fields and the Region); the
    /// same event without one keeps its version-1 bytes.
    #[test]
    fn events_with_a_region_are_version_3() {
        let mut e = event();
        e.region = Some("eu-west-1".into());
        let entry = AuditEntry {
            seq: 3,
            prev_hash: [1; 32],
            body: AuditBody::Event(e.clone()),
        };
        let bytes = entry.encode().unwrap();
        assert_eq!(bytes[0], AUDIT_ENTRY_V3);
        assert_eq!(AuditEntry::decode(&bytes).unwrap(), entry);
        // The variant is refused under an older version byte.
        let mut older = bytes.clone();
        older[0] = AUDIT_ENTRY_V2;
        assert!(matches!(
            AuditEntry::decode(&older),
            Err(StoreError::Corrupt { .. })
        ));
        e.region = None;
        let plain = AuditEntry {
            seq: 3,
            prev_hash: [1; 32],
            body: AuditBody::Event(e),
        };
        assert_eq!(plain.encode().unwrap()[0], AUDIT_ENTRY_V1);
    }

    /// `encode` borrows (`AuditEntryV1Ref`); the bytes must be those of the owned stored form.
    #[test]
    fn encoding_borrowed_gives_the_bytes_of_the_owned_form() {
        let mut without = event();
        (without.key_arn, without.error, without.grant_id) = (None, None, Some("ab".into()));
        without.encryption_context.clear();
        for (seq, body) in [
            (7, AuditBody::Event(event())),
            (u64::MAX, AuditBody::Event(without)),
            (
                0,
                AuditBody::Seal {
                    through_seq: 41,
                    chain_hash: [3; 32],
                    mac: [4; 32],
                    at: Timestamp::from_unix_millis(-5),
                },
            ),
        ] {
            let owned = AuditEntryV1 {
                seq,
                prev_hash: [9; 32],
                body: match &body {
                    AuditBody::Event(e) => AuditBodyV1::Event(AuditEventV1 {
                        time_ms: e.time.unix_millis(),
                        request_id: e.request_id.clone(),
                        account: e.account.clone(),
                        principal: e.principal.clone(),
                        operation: e.operation.clone(),
                        key_arn: e.key_arn.clone(),
                        encryption_context: e.encryption_context.clone(),
                        error: e.error.clone(),
                        source: e.source.clone(),
                        grant_id: e.grant_id.clone(),
                    }),
                    AuditBody::Seal {
                        through_seq,
                        chain_hash,
                        mac,
                        at,
                    } => AuditBodyV1::Seal {
                        through_seq: *through_seq,
                        chain_hash: *chain_hash,
                        mac: *mac,
                        at_ms: at.unix_millis(),
                    },
                    AuditBody::Refused(_) | AuditBody::Suppressed(_) => unreachable!(),
                },
            };
            let mut want = vec![AUDIT_ENTRY_V1];
            want.extend(postcard::to_stdvec(&owned).unwrap());
            let entry = AuditEntry {
                seq,
                prev_hash: [9; 32],
                body,
            };
            assert_eq!(entry.encode().unwrap(), want);
        }
    }

    #[test]
    fn entries_round_trip_and_carry_their_version() {
        for body in [
            AuditBody::Event(event()),
            AuditBody::Seal {
                through_seq: 41,
                chain_hash: [3; 32],
                mac: [4; 32],
                at: Timestamp::from_unix_millis(5),
            },
        ] {
            let e = AuditEntry {
                seq: 42,
                prev_hash: [9; 32],
                body,
            };
            let bytes = e.encode().unwrap();
            assert_eq!(bytes[0], 1);
            assert_eq!(AuditEntry::decode(&bytes).unwrap(), e);
            let mut newer = bytes.clone();
            newer[0] = 4;
            assert!(matches!(
                AuditEntry::decode(&newer),
                Err(StoreError::TooNew { version: 4, .. })
            ));
            let mut longer = bytes;
            longer.push(0);
            assert!(matches!(
                AuditEntry::decode(&longer),
                Err(StoreError::Corrupt { .. })
            ));
        }
    }

    fn refusal() -> Refusal {
        Refusal {
            time: Timestamp::from_unix_millis(1_735_689_600_123),
            request_id: "5f0c8a1e-0000-4000-8000-000000000002".into(),
            source: "192.0.2.7".into(),
            operation: Some("Encrypt".into()),
            access_key_id: Some("AKIDEXAMPLE".into()),
            principal: None,
            error_code: "InvalidSignatureException".into(),
            error_message: "The request signature we calculated does not match".into(),
        }
    }

    /// Refusals and summaries are version 2 entries; events and seals stay version 1 (their
    /// bytes unchanged, so old logs keep their chain hashes and old binaries read new events).
    #[test]
    fn refusals_and_summaries_round_trip_as_version_2() {
        let mut anonymous = refusal();
        (anonymous.operation, anonymous.access_key_id) = (None, None);
        anonymous.principal = Some("arn:aws:iam::111122223333:user/alice".into());
        for body in [
            AuditBody::Refused(refusal()),
            AuditBody::Refused(anonymous),
            AuditBody::Suppressed(Suppressed {
                from: Timestamp::from_unix_millis(1),
                until: Timestamp::from_unix_millis(10_001),
                count: 12_345,
                by_source: vec![("192.0.2.7".into(), 12_000), ("2001:db8::1".into(), 300)],
                others: 45,
            }),
        ] {
            let e = AuditEntry {
                seq: 9,
                prev_hash: [7; 32],
                body,
            };
            let bytes = e.encode().unwrap();
            assert_eq!(bytes[0], 2);
            assert_eq!(AuditEntry::decode(&bytes).unwrap(), e);
            // The same bytes labelled version 1 are not a version 1 entry.
            let mut v1 = bytes.clone();
            v1[0] = 1;
            assert!(matches!(
                AuditEntry::decode(&v1),
                Err(StoreError::Corrupt { reason, .. }) if reason.contains("version 2 body")
            ));
        }
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = AuditEntry::decode(&bytes);
        }
    }
}
