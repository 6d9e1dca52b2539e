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
const META_AUDIT_OBJECTS: &[u8] = b"audit.objects";

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

impl AuditEntry {
    /// The stored bytes of this entry: version byte, then postcard.
    pub fn encode(&self) -> Result<Vec<u8>, StoreError> {
        let body = match &self.body {
            AuditBody::Event(e) => AuditBodyV1Ref::Event(AuditEventV1Ref {
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
            }),
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
        };
        let v1 = AuditEntryV1Ref {
            seq: self.seq,
            prev_hash: &self.prev_hash,
            body,
        };
        // Room for a typical event (about 300 bytes), so the encoding does not grow the buffer
        // step by step.
        let mut out = Vec::with_capacity(ENCODED_CAPACITY);
        out.push(AUDIT_ENTRY_V1);
        postcard::to_io(&v1, &mut out).map_err(|e| StoreError::Corrupt {
            tree: "audit",
            key: self.seq.to_string(),
            reason: format!("cannot encode: {e}"),
        })?;
        Ok(out)
    }

    /// Decodes stored bytes. Total: any bytes give an entry or an error.
    pub fn decode(bytes: &[u8]) -> Result<AuditEntry, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            tree: "audit",
            key: "(entry)".into(),
            reason,
        };
        let v1: AuditEntryV1 = match bytes.split_first() {
            Some((&AUDIT_ENTRY_V1, body)) => match postcard::take_from_bytes(body) {
                Ok((v, [])) => v,
                Ok((_, rest)) => return Err(corrupt(format!("{} trailing bytes", rest.len()))),
                Err(e) => return Err(corrupt(e.to_string())),
            },
            Some((0, _)) => return Err(corrupt("record version 0".into())),
            Some((&v, _)) => {
                return Err(StoreError::TooNew {
                    what: "an audit entry".into(),
                    version: u32::from(v),
                });
            }
            None => return Err(corrupt("empty record".into())),
        };
        let body = match v1.body {
            AuditBodyV1::Event(e) => AuditBody::Event(AuditEvent {
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
            }),
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
        };
        Ok(AuditEntry {
            seq: v1.seq,
            prev_hash: v1.prev_hash,
            body,
        })
    }
}

/// Entries of the audit tree in sequence order: (sequence number, stored bytes).
pub struct AuditIter(sled::Iter);

impl Iterator for AuditIter {
    type Item = Result<(u64, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.0.next()?;
        Some(
            item.map_err(StoreError::from)
                .and_then(|(k, v)| Ok((seq_of(&k)?, v.to_vec()))),
        )
    }
}

impl Store {
    /// Writes audit entries (sequence number, stored bytes) in order, then flushes once:
    /// when it returns `Ok`, every entry is durable.
    ///
    /// Entries are inserted one by one, not as a `sled::Batch`: sled applies a batch under a
    /// process-wide write lock that stalls every other read and write of the store (the key
    /// lookups of concurrent calls) for the whole batch. A crash part-way leaves a prefix of
    /// the entries, which is what the chain expects of an unsealed tail.
    pub fn append_audit(&self, entries: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        crate::failpoints::hit("store.append_audit.before_insert")?;
        for (seq, bytes) in entries {
            self.audit.insert(seq.to_be_bytes(), bytes.as_slice())?;
        }
        self.commit_at("store.append_audit.before_flush")
    }

    /// The newest audit entry: its sequence number and stored bytes.
    pub fn last_audit(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        match self.audit.last()? {
            Some((k, v)) => Ok(Some((seq_of(&k)?, v.to_vec()))),
            None => Ok(None),
        }
    }

    /// Audit entries from sequence number `from` on, in order.
    pub fn audit_from(&self, from: u64) -> AuditIter {
        AuditIter(self.audit.range(from.to_be_bytes()..))
    }

    /// The token objects of the audit log, once recorded.
    pub fn audit_objects(&self) -> Result<Option<AuditObjects>, StoreError> {
        let Some(v) = self.meta.get(META_AUDIT_OBJECTS)? else {
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

    /// Records the audit log's token objects, and flushes.
    pub fn set_audit_objects(&self, objects: &AuditObjects) -> Result<(), StoreError> {
        let mut v = Vec::with_capacity(32);
        v.extend_from_slice(&objects.key);
        v.extend_from_slice(&objects.mark);
        self.meta.insert(META_AUDIT_OBJECTS, v)?;
        self.commit()
    }

    /// Test support: the stored bytes of audit entry `seq`.
    #[cfg(feature = "test-support")]
    pub fn audit_raw(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.audit.get(seq.to_be_bytes())?.map(|v| v.to_vec()))
    }

    /// Test support: overwrites (or inserts) audit entry `seq` with `bytes`, and flushes.
    /// This is how tests tamper with the log.
    #[cfg(feature = "test-support")]
    pub fn put_audit_raw(&self, seq: u64, bytes: &[u8]) -> Result<(), StoreError> {
        self.audit.insert(seq.to_be_bytes(), bytes)?;
        self.commit()
    }

    /// Test support: removes audit entry `seq`, and flushes.
    #[cfg(feature = "test-support")]
    pub fn remove_audit_raw(&self, seq: u64) -> Result<(), StoreError> {
        self.audit.remove(seq.to_be_bytes())?;
        self.commit()
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
        }
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
            newer[0] = 2;
            assert!(matches!(
                AuditEntry::decode(&newer),
                Err(StoreError::TooNew { version: 2, .. })
            ));
            let mut longer = bytes;
            longer.push(0);
            assert!(matches!(
                AuditEntry::decode(&longer),
                Err(StoreError::Corrupt { .. })
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
