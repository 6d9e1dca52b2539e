//! Lockbox's metadata store: the only crate that knows sled.
//!
//! It keeps key records (with their policies), aliases, grants and the audit log as typed records, each
//! encoded as a version byte followed by postcard (see `docs/decisions/0001-postcard-records.md`).
//! Updates that touch several trees run in one sled transaction, and every mutation is flushed
//! to disk before the method returns: when the engine acknowledges a change, it is durable.
//!
//! Invariant: the store holds metadata only. Key material lives in the token; a record names
//! its material by the token object's CKA_ID.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod audit;
mod cache;
mod error;
mod export;
#[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
pub mod failpoints;
mod records;
mod store;
#[cfg(feature = "test-support")]
pub mod testing;

pub use audit::{AuditBody, AuditEntry, AuditEvent, AuditIter, AuditObjects, Refusal, Suppressed};
pub use error::StoreError;
pub use export::{EXPORT_MAGIC, EXPORT_VERSION, ExportSummary};
pub use records::{
    AliasRecord, AutoRotation, Deletion, Family, GrantRecord, ImportedMaterial, Imports, KeyRecord,
    KeySlot, Material, WrappingPair,
};
pub use store::{Page, SCHEMA_VERSION, STORE_LOCK_FILE, Store, incomplete_snapshots};
