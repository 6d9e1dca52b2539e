//! What the passes that keep the engine in order found and did: reconciliation, maintenance,
//! and both at open. Plain data, so that the engine's core can keep the report of its open
//! without knowing the passes.

use lockbox_api::{KeyId, KmsError, Timestamp};
use lockbox_token::ObjectId;

/// What opening the engine found and did: its reconciliation and maintenance passes.
#[derive(Clone, Debug)]
pub struct OpenReport {
    /// The reconciliation pass.
    pub reconciliation: Result<ReconcileReport, KmsError>,
    /// The maintenance pass.
    pub maintenance: Result<MaintenanceReport, KmsError>,
}

/// What opening did before it returned, and the reconciliation it left running (kept by the
/// engine until `Engine::open_report` or closing takes it).
pub(crate) struct AtOpen {
    pub(crate) finished: Result<Vec<KeyId>, KmsError>,
    pub(crate) maintenance: Result<MaintenanceReport, KmsError>,
    pub(crate) stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub(crate) thread: Option<std::thread::JoinHandle<Result<ReconcileReport, KmsError>>>,
    // The reconciliation, when no thread could be started for it and open ran it itself.
    pub(crate) ran_here: Option<Result<ReconcileReport, KmsError>>,
}

/// What one maintenance pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Keys rotated automatically, with the material version each rotation made.
    pub rotated: Vec<(KeyId, u32)>,
    /// Keys whose deletion date had come, now deleted.
    pub deleted: Vec<KeyId>,
    /// Keys whose imported material expired, now without it (PendingImport).
    pub expired: Vec<KeyId>,
    /// Work that was due but failed (it is tried again on the next pass).
    pub failed: Vec<(KeyId, KmsError)>,
}

/// What reconciliation found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Key-material objects on the token (Lockbox objects other than the audit log's key).
    pub objects: usize,
    /// Key records in the store.
    pub keys: usize,
    /// Deletions that had been interrupted, now finished.
    pub finished_deletions: Vec<KeyId>,
    /// Material versions that records name and the token does not hold.
    pub missing: Vec<MissingMaterial>,
    /// Token objects no record names.
    pub orphans: Vec<Orphan>,
}

impl ReconcileReport {
    /// True when reconciliation found something still wrong: missing material, or orphans
    /// not yet destroyed.
    pub fn has_problems(&self) -> bool {
        !self.missing.is_empty() || self.orphans.iter().any(|o| !o.destroyed)
    }
}

/// A material version whose token object is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingMaterial {
    /// The key.
    pub key: KeyId,
    /// The version.
    pub version: u32,
    /// The CKA_ID the record names.
    pub object: ObjectId,
}

/// A token object under this instance's label prefix that no record names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orphan {
    /// Its CKA_ID.
    pub object: ObjectId,
    /// Its CKA_LABEL.
    pub label: String,
    /// When reconciliation first saw it unclaimed.
    pub first_seen: Timestamp,
    /// When it will be (or was) destroyed: first seen plus the grace period.
    pub destroy_after: Timestamp,
    /// Whether this pass destroyed it.
    pub destroyed: bool,
}
