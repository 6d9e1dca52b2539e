//! Reconciliation: the token's Lockbox objects against the store's records.
//!
//! Invariant 3 (token first, metadata second) means a crash can leave a token object that no
//! record names (an orphan), never a record that names nothing. Reconciliation finds both
//! anyway: orphans are destroyed once they have been unclaimed for the grace period, and a
//! record whose material is missing is reported loudly and its key answers
//! KeyUnavailableException; it is never dropped. Within one process no record is ever on
//! its way (reconciliation holds the write lock); the grace period is for the cases it
//! cannot see: metadata restored from an older backup while the token kept newer keys, or
//! a second data directory misconfigured to share this one's label prefix. It gives an
//! operator time to notice (`lockbox doctor` lists orphans) before anything is destroyed.
//!
//! Several nodes over one store and one token: another node's key is an orphan here from
//! its token object's creation until its record is committed (milliseconds), so the grace
//! period must stay far longer than any create, and only one node at a time may destroy.
//! Material missing from the listing is looked up once more, with the token's replication
//! wait, before it is reported missing (an HSM cluster may show a new object late).

use std::collections::{BTreeMap, HashSet};

use lockbox_api::{KmsError, Timestamp};
use lockbox_token::{ObjectId, TokenError};

use crate::core::Engine;
use crate::error::{from_store, from_token};
use crate::report::{MissingMaterial, Orphan, ReconcileReport};

/// The cluster lock orphan destruction runs under (one node at a time).
pub const ORPHAN_LOCK: &str = "lockbox.reconcile.orphans";

impl Engine {
    /// Compares the token's Lockbox objects with the records, finishes interrupted
    /// deletions, destroys orphans older than the grace period, and reports. Runs when the
    /// engine opens and on demand (`lockbox doctor`).
    pub fn reconcile(&self) -> Result<ReconcileReport, KmsError> {
        // Under the write lock, no key is half-created or half-rotated in this process.
        let _w = self.writes.lock();
        let mut report = ReconcileReport::default();

        let unfinished = self
            .store
            .unfinished_deletions()
            .map_err(|e| from_store("reconcile", e))?;
        for slot in unfinished {
            if let Some(r) = self.record(slot)? {
                tracing::warn!(key = %r.id, region = %r.region,
                    "finishing a deletion that was interrupted");
                self.delete_locked(&r)?;
                report.finished_deletions.push(r.id);
            }
        }

        let objects: BTreeMap<ObjectId, String> = self
            .token
            .list_objects()
            .map_err(|e| from_token("reconcile", e))?
            .into_iter()
            .map(|o| (o.id, o.label))
            .collect();
        let mut claimed = HashSet::new();
        // The audit log's HMAC key is claimed by the store's meta tree, not by a key record.
        if let Some(audit) = self
            .store
            .audit_objects()
            .map_err(|e| from_store("reconcile", e))?
        {
            claimed.insert(ObjectId::from_bytes(audit.key));
        }
        report.objects = objects
            .iter()
            .filter(|(id, _)| !claimed.contains(id))
            .count();
        let mut missing_now = HashSet::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .keys_page(None, after, 1000)
                .map_err(|e| from_store("reconcile", e))?;
            after = page.items.last().map(|r| r.slot());
            report.keys += page.items.len();
            for r in &page.items {
                // An EXTERNAL key's wrapping pairs and new material waiting for a rotation.
                if let Some(i) = &r.imports {
                    for w in &i.wrapping_pairs {
                        claimed.insert(ObjectId::from_bytes(w.private_object_id));
                        claimed.insert(ObjectId::from_bytes(w.public_object_id));
                    }
                    for (o, p) in i.materials.iter().filter_map(|m| m.pending_rotation) {
                        claimed.insert(ObjectId::from_bytes(o));
                        if let Some(p) = p {
                            claimed.insert(ObjectId::from_bytes(p));
                        }
                    }
                }
                for m in &r.materials {
                    let object = ObjectId::from_bytes(m.object_id);
                    claimed.insert(object);
                    // A key pair's public half is claimed too. Without it GetPublicKey and
                    // Verify fail, but the private half still signs: the version is missing
                    // only when the object that holds secret material is.
                    if let Some(public) = m.public_object_id {
                        claimed.insert(ObjectId::from_bytes(public));
                    }
                    // Not in the listing is not yet missing: on a cluster another node may
                    // have created it a moment ago, and an HSM cluster may show it here
                    // only after its replication delay. The lookup waits for that.
                    if !objects.contains_key(&object)
                        && !self
                            .token
                            .is_present(&object)
                            .map_err(|e| from_token("reconcile", e))?
                    {
                        tracing::error!(key = %r.id, version = m.version, object = %object,
                            "the record names key material that is not on the token; the \
                             key cannot use this version");
                        missing_now.insert(m.object_id);
                        report.missing.push(MissingMaterial {
                            key: r.id,
                            version: m.version,
                            object,
                        });
                    }
                }
            }
            if !page.more {
                break;
            }
        }
        *self.unavailable.write() = missing_now;

        // Destroying orphans is one node's job at a time (`ORPHAN_LOCK`): a node that does
        // not get the lock still notes and reports them, and leaves the destroying to the
        // holder.
        let held = self
            .store
            .try_cluster_lock(ORPHAN_LOCK)
            .map_err(|e| from_store("reconcile", e))?;
        if held.is_none() {
            tracing::debug!(
                lock = ORPHAN_LOCK,
                "another node holds the orphan lock; orphans are not destroyed by this run"
            );
        }
        let now = self.clock.now();
        let grace_ms = i64::try_from(self.lifecycle.orphan_grace.as_millis()).unwrap_or(i64::MAX);
        for (object, label) in &objects {
            if claimed.contains(object) {
                continue;
            }
            let first_seen = self
                .store
                .note_orphan(*object.as_bytes(), label, now)
                .map_err(|e| from_store("reconcile", e))?;
            let destroy_after =
                Timestamp::from_unix_millis(first_seen.unix_millis().saturating_add(grace_ms));
            let destroyed = if destroy_after <= now && held.is_some() {
                match self.token.destroy(object) {
                    Ok(()) | Err(TokenError::ObjectNotFound(_)) => {
                        self.store
                            .forget_orphan(*object.as_bytes())
                            .map_err(|e| from_store("reconcile", e))?;
                        tracing::warn!(object = %object, label, "destroyed an orphan token object");
                        true
                    }
                    Err(e) => return Err(from_token("reconcile", e)),
                }
            } else {
                tracing::warn!(object = %object, label,
                    "a token object belongs to no key; it will be destroyed after the grace period");
                false
            };
            report.orphans.push(Orphan {
                object: *object,
                label: label.clone(),
                first_seen,
                destroy_after,
                destroyed,
            });
        }
        // Orphans noted earlier that are gone or claimed now need no more watching.
        for (id, _, _) in self
            .store
            .orphans()
            .map_err(|e| from_store("reconcile", e))?
        {
            let object = ObjectId::from_bytes(id);
            if !objects.contains_key(&object) || claimed.contains(&object) {
                self.store
                    .forget_orphan(id)
                    .map_err(|e| from_store("reconcile", e))?;
            }
        }
        Ok(report)
    }
}
