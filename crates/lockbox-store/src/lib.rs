//! Lockbox's metadata store: the only crate that knows the metadata engines (sled embedded,
//! PostgreSQL for clusters), behind one boundary (`backend::Backend`).
//!
//! It keeps key records (with their policies), aliases, grants and the audit log as typed records, each
//! encoded as a version byte followed by postcard (see `docs/decisions/0001-postcard-records.md`).
//! Every mutation is one transaction of the backend (it may touch several trees), durable before
//! the method returns (sled flushed, PostgreSQL committed): when the engine acknowledges a
//! change, it is durable. A key record is written back only over the version it was read
//! from ([`Revision`]), so concurrent writers on several nodes never lose each other's
//! changes.
//!
//! Invariant: the store holds metadata only. Key material lives in the token; a record names
//! its material by the token object's CKA_ID.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod audit;
mod backend;
mod cache;
mod cluster;
mod error;
mod export;
#[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
pub mod failpoints;
mod postgres;
mod records;
mod sled_backend;
mod store;
#[cfg(feature = "test-support")]
pub mod testing;

pub use audit::{
    Appended, AuditBody, AuditEntry, AuditEvent, AuditIter, AuditObjects, ChainHead, Refusal,
    Suppressed,
};
pub use cache::DEFAULT_KEY_CACHE_ENTRIES;
pub use cluster::ClusterLock;
pub use error::StoreError;
pub use export::{EXPORT_MAGIC, EXPORT_VERSION, ExportSummary};
pub use postgres::{CHANNEL, Consistency, DbPassword, PostgresOptions};
pub use records::{
    AliasRecord, AutoRotation, Deletion, Family, GrantRecord, ImportedMaterial, Imports, KeyRecord,
    KeySlot, Material, Revision, WrappingPair,
};
pub use sled_backend::{STORE_LOCK_FILE, incomplete_snapshots};
pub use store::{Page, SCHEMA_VERSION, Store};
