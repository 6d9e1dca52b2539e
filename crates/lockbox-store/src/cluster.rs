//! Cluster locks: jobs that must run on one node at a time (sealing the audit log, the
//! maintenance pass, destroying orphans) take a named lock first, and skip their run when
//! another node holds it.
//!
//! On PostgreSQL the lock is a session advisory lock held on a connection of its own, with no
//! transaction open, for as long as the [`ClusterLock`] lives: dropping it unlocks, and when
//! the holding node dies (or its connection is cut) PostgreSQL releases the lock with the
//! session, so another node takes it at its next run. On sled one process owns the store, and
//! the lock is always granted.

use crate::backend::LockHold;
use crate::error::StoreError;
use crate::store::Store;

/// A held cluster lock; dropping it releases the lock.
pub struct ClusterLock {
    name: String,
    hold: Box<dyn LockHold>,
}

impl std::fmt::Debug for ClusterLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLock")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ClusterLock {
    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this node still holds the lock (on PostgreSQL, whether the connection that
    /// holds it is still alive: a lock whose connection died is already someone else's).
    pub fn still_held(&mut self) -> bool {
        self.hold.still_held()
    }
}

impl Store {
    /// Takes the cluster lock `name` if no other node holds it; `Ok(None)` when one does.
    /// Never waits.
    pub fn try_cluster_lock(&self, name: &str) -> Result<Option<ClusterLock>, StoreError> {
        Ok(self.backend.try_lock(name)?.map(|hold| ClusterLock {
            name: name.to_owned(),
            hold,
        }))
    }
}
