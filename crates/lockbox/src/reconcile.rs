//! Reconciliation: the token's Lockbox objects against the store's records.
//!
//! Invariant 3 (token first, metadata second) means a crash can leave a token object that no
//! record names (an orphan), never a record that names nothing. Reconciliation finds both
//! anyway: orphans are destroyed once they have been unclaimed for the grace period, and a
//! record whose material is missing is reported loudly and its key answers
//! KeyUnavailableException; it is never dropped.
//!
//! Listing a token is linear in its objects (on SoftHSM every search walks every object), so
//! at open reconciliation runs on a thread of its own and the engine serves meanwhile
//! (issue 18: with 100,000 keys a listing takes seconds). It does not hold the write lock
//! while it lists and reads records; instead, within one process, no record is ever on its
//! way unseen: the pass opens a creation watch on the token under the write lock (no key is
//! half-made at that instant, because creation holds it from the token object to the flushed
//! record), so every object it lists was either made before, with its record already
//! flushed and read by the scan that follows, or is one the watch saw created, which is never
//! an orphan. Material a record names but the listing lacks is looked up once more, and then
//! the record is read again under the write lock: a key deleted or rotated meanwhile no
//! longer names it and is not reported missing. The grace period is for the cases it cannot
//! see: metadata restored from an older backup while the token kept newer keys, or a second
//! data directory misconfigured to share this one's label prefix. It gives an operator time
//! to notice (`lockbox doctor` lists orphans) before anything is destroyed.
//!
//! Several nodes over one store and one token: another node's key is an orphan here from
//! its token object's creation until its record is committed (milliseconds), so the grace
//! period must stay far longer than any create, and only one node at a time may destroy.
//! Material missing from the listing is looked up once more, with the token's replication
//! wait, before it is reported missing (an HSM cluster may show a new object late).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lockbox_api::{KeyId, KmsError, Timestamp};
use lockbox_store::{KeySlot, Store};
use lockbox_token::{ObjectId, Token, TokenError};
use parking_lot::{Mutex, RwLock};

use crate::core::Engine;
use crate::error::{from_store, from_token};
use crate::report::{MissingMaterial, Orphan, ReconcileReport};

/// The cluster lock orphan destruction runs under (one node at a time).
pub const ORPHAN_LOCK: &str = "lockbox.reconcile.orphans";

/// Where a reconciliation pass has got to, for [`Engine::reconcile_observed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReconcileStage {
    /// The creation watch is open; the token is about to be listed.
    Watching,
    /// The token has been listed; the records are about to be read.
    Listed,
}

/// What a reconciliation pass needs, held by value so that the pass can run on a thread of
/// its own after the engine has opened.
pub(crate) struct Reconciler {
    pub(crate) token: Arc<Token>,
    pub(crate) store: Arc<Store>,
    pub(crate) grace: Duration,
    pub(crate) writes: Arc<Mutex<()>>,
    pub(crate) unavailable: Arc<RwLock<HashSet<[u8; 16]>>>,
}

impl Engine {
    /// Compares the token's Lockbox objects with the records, finishes interrupted
    /// deletions, destroys orphans older than the grace period, and reports. Runs in the
    /// background after the engine opens ([`Engine::open_report`] waits for it), on demand
    /// (`lockbox doctor`), and in the maintenance thread.
    pub fn reconcile(&self) -> Result<ReconcileReport, KmsError> {
        self.reconcile_observed(&|_| {})
    }

    /// As [`Engine::reconcile`], calling `observe` at each [`ReconcileStage`] (tests make
    /// changes there, to show a pass never takes a key made meanwhile for an orphan or its
    /// material for missing).
    #[doc(hidden)]
    pub fn reconcile_observed(
        &self,
        observe: &dyn Fn(ReconcileStage),
    ) -> Result<ReconcileReport, KmsError> {
        // One pass at a time from the caller's view: the pass opening started finishes
        // first, so what this one reports is not half-done by the other.
        let _ = self.open_report();
        let finished = self.finish_deletions()?;
        let mut report =
            self.reconciler()
                .run(&AtomicBool::new(false), self.clock.now(), observe)?;
        report.finished_deletions = finished;
        Ok(report)
    }

    /// Finishes the deletions a crash interrupted (a record marked deleting whose objects
    /// may still be on the token). Few, and found without listing the token.
    pub(crate) fn finish_deletions(&self) -> Result<Vec<KeyId>, KmsError> {
        let _w = self.writes.lock();
        let mut finished = Vec::new();
        let unfinished = self
            .store
            .unfinished_deletions()
            .map_err(|e| from_store("reconcile", e))?;
        for slot in unfinished {
            if let Some(r) = self.record(slot)? {
                tracing::warn!(key = %r.id, region = %r.region,
                    "finishing a deletion that was interrupted");
                self.delete_locked(&r)?;
                finished.push(r.id);
            }
        }
        Ok(finished)
    }

    pub(crate) fn reconciler(&self) -> Reconciler {
        Reconciler {
            token: self.token.clone(),
            store: self.store.clone(),
            grace: self.lifecycle.orphan_grace,
            writes: self.writes.clone(),
            unavailable: self.unavailable.clone(),
        }
    }
}

/// The pass was asked to stop (the engine is closing).
fn stopped() -> KmsError {
    KmsError::internal("reconciliation stopped: the engine closed before it finished")
}

impl Reconciler {
    /// One pass (finished deletions aside, which need the engine), judging orphans' age at
    /// `now` (opening's pass: the time of the open, however late its thread runs). Checks
    /// `stop` between steps and gives up with an error when it is set.
    pub(crate) fn run(
        &self,
        stop: &AtomicBool,
        now: Timestamp,
        observe: &dyn Fn(ReconcileStage),
    ) -> Result<ReconcileReport, KmsError> {
        let check = || {
            if stop.load(Ordering::Relaxed) {
                Err(stopped())
            } else {
                Ok(())
            }
        };
        let mut report = ReconcileReport::default();
        // Opened under the write lock: no key is half-made in this process at this instant.
        let watch = {
            let _w = self.writes.lock();
            self.token.watch_creations()
        };
        observe(ReconcileStage::Watching);
        let objects: BTreeMap<ObjectId, String> = self
            .token
            .list_objects_unless(stop)
            .map_err(|e| from_token("reconcile", e))?
            .ok_or_else(stopped)?
            .into_iter()
            .map(|o| (o.id, o.label))
            .collect();
        observe(ReconcileStage::Listed);
        check()?;
        let mut claimed = HashSet::new();
        // The audit log's HMAC key is claimed by the store's meta tree, not by a key record.
        let audit_key = self
            .store
            .audit_objects()
            .map_err(|e| from_store("reconcile", e))?
            .map(|a| ObjectId::from_bytes(a.key));
        claimed.extend(audit_key);
        let mut unseen: Vec<(KeySlot, KeyId, u32, ObjectId)> = Vec::new();
        let mut after = None;
        loop {
            check()?;
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
                    if !objects.contains_key(&object) {
                        unseen.push((r.slot(), r.id, m.version, object));
                    }
                }
            }
            if !page.more {
                break;
            }
        }
        let fresh = watch.created();
        drop(watch);
        report.objects = objects.keys().filter(|id| Some(**id) != audit_key).count();
        let mut missing_now = HashSet::new();
        for (slot, key, version, object) in unseen {
            check()?;
            if fresh.contains(&object) {
                continue;
            }
            // Not in the listing is not yet missing: on a cluster another node may have
            // created it a moment ago, and an HSM cluster may show it here only after its
            // replication delay. The lookup waits for that.
            if self
                .token
                .is_present(&object)
                .map_err(|e| from_token("reconcile", e))?
            {
                continue;
            }
            // A key deleted or rotated while this pass ran no longer names the object: read
            // the record again, with no write of this process in progress.
            let still_named = {
                let _w = self.writes.lock();
                self.store
                    .key(slot)
                    .map_err(|e| from_store("reconcile", e))?
                    .is_some_and(|r| {
                        r.materials
                            .iter()
                            .any(|m| m.version == version && m.object_id == *object.as_bytes())
                    })
            };
            if !still_named {
                continue;
            }
            tracing::error!(key = %key, version, object = %object,
                "the record names key material that is not on the token; the \
                 key cannot use this version");
            missing_now.insert(*object.as_bytes());
            report.missing.push(MissingMaterial {
                key,
                version,
                object,
            });
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
        let grace_ms = i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX);
        for (object, label) in &objects {
            // An object made while this pass ran belongs to a key whose record it may not
            // have read.
            if claimed.contains(object) || fresh.contains(object) {
                continue;
            }
            check()?;
            // A key deleted while this pass ran: its record went before the scan read it,
            // and its objects are gone or going now.
            if !self
                .token
                .is_present(object)
                .map_err(|e| from_token("reconcile", e))?
            {
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
