//! Keys over time, the mechanics under the operations: rotation (a new material version,
//! token first; by schedule and by use), the encryption count of each material version,
//! deletion (`delete_locked`), and the maintenance step that runs what is due. The rotation
//! and deletion *operations* are in `ops/`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use lockbox_api::*;
use lockbox_store::{AutoRotation, KeyRecord, KeySlot, Material, failpoints};
use lockbox_token::{ObjectId, TokenError};

use crate::core::{CONFLICT_RETRIES, Counter, Engine, missing_material};
use crate::error::{from_store, from_token};
use crate::report::MaintenanceReport;

/// One material version's use, for [`Engine::material_usage`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaterialUsage {
    /// The version (1 for the material CreateKey made).
    pub version: u32,
    /// When it was made.
    pub created: Timestamp,
    /// The rotation that made it (`None` for version 1).
    pub rotation: Option<RotationType>,
    /// Whether new ciphertexts use it.
    pub current: bool,
    /// The encryptions it has made: exact while the engine runs, and after engines that
    /// closed; an engine that was killed leaves the rest of its reserved block counted.
    pub encryptions: u64,
    /// The encryptions durably reserved for it: `encryptions` plus what this engine has
    /// reserved ahead and not used yet (given back when the engine closes).
    pub reserved: u64,
}

/// An engine gives back its unused encryption reservations when it closes (see
/// [`Engine::release_reservations`]); a process killed before leaves them counted.
impl Drop for Engine {
    fn drop(&mut self) {
        self.stop_background();
        if let Err(e) = self.release_reservations() {
            tracing::warn!(error = %e, "could not give back unused encryption reservations");
        }
    }
}

/// The background maintenance thread of a long-running process. Dropping it stops the
/// thread (and waits for a pass in progress to finish).
pub struct MaintenanceThread {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for MaintenanceThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the maintenance thread panicked");
        }
    }
}

/// The cluster lock the maintenance pass runs under (one node at a time).
pub const MAINTENANCE_LOCK: &str = "lockbox.maintenance";

impl Engine {
    /// Makes the next material version of `r` (a new token object) for a rotation of
    /// `kind`, and returns it for the record to name. Token first: if the record that names
    /// it is never stored, the object is left for reconciliation, never named by a record it
    /// is not in. Called with the write lock held.
    pub(crate) fn new_material(
        &self,
        r: &KeyRecord,
        kind: RotationType,
    ) -> Result<Material, KmsError> {
        let version = r.current_material().map_or(1, |m| m.version + 1);
        let made = crate::keykind::for_spec(r.spec)?
            .generate_material(&self.token, r.spec, r.usage, &format!("{}/{version}", r.id))
            .map_err(|e| from_token("rotate key", e))?;
        failpoints::hit("engine.rotate.after_material").map_err(|e| from_store("rotate key", e))?;
        Ok(Material {
            version,
            object_id: *made.object.as_bytes(),
            public_object_id: made.public.map(|p| *p.as_bytes()),
            created: self.clock.now(),
            rotation: Some(kind),
            encryptions_reserved: 0,
        })
    }

    /// Rotates `r` without a caller (by schedule or by use): a new material version, then
    /// the record that names it, stored durably. Called with the write lock held.
    fn rotate_locked(&self, r: &mut KeyRecord, kind: RotationType) -> Result<Material, KmsError> {
        self.try_rotate_locked(r, kind)?
            .ok_or_else(|| from_store("rotate key", lockbox_store::StoreError::Conflict))
    }

    /// As [`Engine::rotate_locked`]; `None` when another node changed the record since `r`
    /// was read: then nothing was written, and the material made for it is destroyed again
    /// (no record names it).
    fn try_rotate_locked(
        &self,
        r: &mut KeyRecord,
        kind: RotationType,
    ) -> Result<Option<Material>, KmsError> {
        let material = self.new_material(r, kind)?;
        let version = material.version;
        r.materials.push(material.clone());
        if !self.try_put("rotate key", r)? {
            r.materials.pop();
            self.destroy_unnamed(
                r.id,
                std::iter::once(material.object_id).chain(material.public_object_id),
            );
            return Ok(None);
        }
        tracing::info!(key = %r.id, version, kind = %kind, "key material rotated");
        Ok(Some(material))
    }

    /// Counts one encryption under the current material of `r` and returns the material to
    /// use. Counts are reserved durably in blocks before they are used; when the current
    /// version has used its allowance, the key is rotated first.
    pub(crate) fn count_encryption(&self, r: &KeyRecord) -> Result<Material, KmsError> {
        let mut material = r
            .current_material()
            .cloned()
            .ok_or_else(|| missing_material(self.arn(r)))?;
        // Lock order: counters, then writes.
        let mut counters = self.counters.lock();
        for _ in 0..4 {
            let c = counters.entry(material.object_id).or_insert(Counter {
                used: material.encryptions_reserved,
                reserved: material.encryptions_reserved,
                slot: r.slot(),
                version: material.version,
            });
            if c.used < c.reserved {
                c.used += 1;
                return Ok(material);
            }
            let limit = self.lifecycle.max_encryptions_per_version;
            if c.reserved >= limit {
                material = self.rotate_for_use(r.slot(), material.version)?;
                continue;
            }
            let (start, end) = self.claim(r.slot(), material.version, c.used)?;
            c.used = start;
            c.reserved = end;
        }
        Err(KmsError::internal(
            "The key's encryption count could not be advanced.",
        ))
    }

    /// Takes back one counted encryption that failed before it produced a ciphertext (so a
    /// token outage does not use up a version's allowance).
    pub(crate) fn uncount_encryption(&self, m: &Material) {
        if let Some(c) = self.counters.lock().get_mut(&m.object_id) {
            c.used = c.used.saturating_sub(1);
        }
    }

    /// Gives back what this engine reserved and did not use: every material version it
    /// counted encryptions under has its durable reservation lowered to the encryptions made.
    /// Run when the engine closes (its `Drop`), so that a process that encrypted once leaves
    /// a count of one, not a block (`lockbox key-usage` then shows what was used); safe at any
    /// time, since the counters lock is held throughout and a later encryption reserves again.
    /// A reservation changed by someone else meanwhile (a restore) is left alone.
    pub fn release_reservations(&self) -> Result<(), KmsError> {
        // Lock order: counters, then writes.
        let mut counters = self.counters.lock();
        for c in counters.values_mut() {
            if c.used >= c.reserved {
                continue;
            }
            let _w = self.writes.lock();
            let Some(mut r) = self.record(c.slot)?.map(Arc::unwrap_or_clone) else {
                continue;
            };
            let Some(m) = r.materials.iter_mut().find(|m| m.version == c.version) else {
                continue;
            };
            if m.encryptions_reserved != c.reserved {
                continue;
            }
            m.encryptions_reserved = c.used;
            self.put("release encryption reservations", &r)?;
            c.reserved = c.used;
        }
        Ok(())
    }

    /// Claims the next block of encryptions of version `version` for this engine, durably:
    /// from the stored reservation (or `used`, this engine's count, if higher) up to
    /// `encryption_count_block` more, at most the version's limit. Returns the block
    /// (`start..end`; empty when the version has no allowance left).
    ///
    /// The stored reservation is the sum of every node's claims, so counts made on several
    /// nodes never overlap: the count is an upper bound of the encryptions made, cluster-wide.
    /// On one node the stored reservation is this engine's own and `start` is `used`. A
    /// record another node changed meanwhile is read again and the claim made afresh.
    fn claim(&self, slot: KeySlot, version: u32, used: u64) -> Result<(u64, u64), KmsError> {
        let limit = self.lifecycle.max_encryptions_per_version;
        let _w = self.writes.lock();
        let mut fresh = false;
        for _ in 0..CONFLICT_RETRIES {
            let read = if fresh {
                self.record_fresh(slot)?
            } else {
                self.record(slot)?
            };
            let mut r = read
                .map(Arc::unwrap_or_clone)
                .ok_or_else(|| KmsError::not_found(format!("Key in slot {slot} does not exist")))?;
            let arn = self.arn(&r);
            let m = r
                .materials
                .iter_mut()
                .find(|m| m.version == version)
                .ok_or_else(|| missing_material(arn))?;
            let start = m.encryptions_reserved.max(used).min(limit);
            let end = start
                .saturating_add(self.lifecycle.encryption_count_block)
                .min(limit);
            // Written (and flushed) even when nothing changes: a write whose flush failed is
            // visible in memory but may not be on disk, and this reservation must be durable
            // before the encryptions it covers are made.
            m.encryptions_reserved = end;
            if self.try_put("count encryptions", &r)? {
                return Ok((start, end));
            }
            fresh = true;
        }
        Err(from_store(
            "count encryptions",
            lockbox_store::StoreError::Conflict,
        ))
    }

    /// Rotates key `id` because version `exhausted` has made as many encryptions as it may,
    /// unless another thread already did; returns the new current material.
    fn rotate_for_use(&self, slot: KeySlot, exhausted: u32) -> Result<Material, KmsError> {
        let _w = self.writes.lock();
        let mut fresh = false;
        for _ in 0..CONFLICT_RETRIES {
            let read = if fresh {
                self.record_fresh(slot)?
            } else {
                self.record(slot)?
            };
            let mut r = read
                .map(Arc::unwrap_or_clone)
                .ok_or_else(|| KmsError::not_found(format!("Key in slot {slot} does not exist")))?;
            let id = r.id;
            if let Some(m) = r.current_material()
                && m.version > exhausted
            {
                return Ok(m.clone());
            }
            KeyStates::Enabled.check(r.state_at(self.clock.now()), || self.arn(&r))?;
            if r.origin == Origin::External {
                // Lockbox cannot make imported material: the caller must import new material and
                // rotate to it (ImportKeyMaterial NEW_KEY_MATERIAL, RotateKeyOnDemand).
                return Err(KmsError::new(
                    ErrorKind::KmsInvalidState,
                    format!(
                        "The imported key material of {} has made as many encryptions as one \
                     version may; import new key material and rotate to it.",
                        self.arn(&r)
                    ),
                ));
            }
            tracing::warn!(key = %id, version = exhausted,
            limit = self.lifecycle.max_encryptions_per_version,
            "material version reached its encryption limit; rotating");
            // Another node may have rotated it meanwhile: then the record is read again, and
            // its new current material used.
            if let Some(m) = self.try_rotate_locked(&mut r, RotationType::Automatic)? {
                return Ok(m);
            }
            fresh = true;
        }
        Err(from_store(
            "rotate key",
            lockbox_store::StoreError::Conflict,
        ))
    }

    /// Each material version of a key and how many encryptions it has made (an upper bound).
    ///
    /// An operator's view, not a KMS operation: `caller` only says which account a bare key
    /// id or alias name is looked up in; no policy is consulted.
    pub fn material_usage(
        &self,
        caller: &Caller,
        key: &KeyRef,
    ) -> Result<Vec<MaterialUsage>, KmsError> {
        let region = self.region_of(caller)?;
        let r = self.resolve_in(caller.account(), region, key, &mut None)?;
        let current = r.current_material().map(|m| m.version);
        let counters = self.counters.lock();
        let mut out: Vec<MaterialUsage> = r
            .materials
            .iter()
            .map(|m| MaterialUsage {
                version: m.version,
                created: m.created,
                rotation: m.rotation,
                current: Some(m.version) == current,
                encryptions: counters
                    .get(&m.object_id)
                    .map_or(m.encryptions_reserved, |c| c.used),
                reserved: counters
                    .get(&m.object_id)
                    .map_or(m.encryptions_reserved, |c| c.reserved),
            })
            .collect();
        out.sort_by_key(|u| u.version);
        Ok(out)
    }

    /// Performs what is due: automatic rotations of enabled keys whose period has run out,
    /// and deletions whose date has come. Safe to run at any time and from any thread; a
    /// failure for one key is reported and does not stop the others.
    ///
    /// Runs on one node of a cluster at a time, under the cluster lock [`MAINTENANCE_LOCK`]:
    /// a node that does not get it skips the pass (an empty report; said at debug level),
    /// since the holder is doing the same work. On a sled store the lock is always granted.
    pub fn maintain(&self) -> Result<MaintenanceReport, KmsError> {
        let mut report = MaintenanceReport::default();
        let Some(_held) = self
            .store
            .try_cluster_lock(MAINTENANCE_LOCK)
            .map_err(|e| from_store("maintain", e))?
        else {
            tracing::debug!(
                lock = MAINTENANCE_LOCK,
                "another node holds the maintenance lock and runs this pass; skipped here"
            );
            return Ok(report);
        };
        let mut after = None;
        loop {
            let page = self
                .store
                .keys_page(None, after, 1000)
                .map_err(|e| from_store("maintain", e))?;
            after = page.items.last().map(|r| r.slot());
            for r in &page.items {
                let now = self.clock.now();
                let due_deletion = r.state == KeyState::PendingDeletion
                    && r.deletion.is_some_and(|d| d.date <= now);
                let due_rotation = r.state == KeyState::Enabled
                    && r.auto_rotation.is_some_and(|a| a.next() <= now);
                let due_expiry = r.imports.as_ref().is_some_and(|i| {
                    r.material_expired(now)
                        || i.wrapping_pairs.iter().any(|w| w.valid_to <= now)
                        || i.materials.iter().any(|m| {
                            m.pending_rotation.is_some() && m.valid_to.is_some_and(|t| t <= now)
                        })
                });
                // Each action done (or tried and failed) is an audit event, under the name
                // AWS CloudTrail gives it: DeleteExpiredKeyMaterial, DeleteKey, RotateKey.
                if due_expiry && !due_deletion {
                    match self.expire_due(r.slot()) {
                        Ok(true) => {
                            self.audit_maintenance(r, "DeleteExpiredKeyMaterial", None, None);
                            report.expired.push(r.id);
                        }
                        Ok(false) => {}
                        Err(e) => {
                            self.audit_maintenance(r, "DeleteExpiredKeyMaterial", None, Some(&e));
                            report.failed.push((r.id, e));
                        }
                    }
                }
                if due_deletion {
                    match self.delete_due(r.slot()) {
                        Ok(true) => {
                            self.audit_maintenance(r, "DeleteKey", None, None);
                            report.deleted.push(r.id);
                        }
                        Ok(false) => {}
                        Err(e) => {
                            self.audit_maintenance(r, "DeleteKey", None, Some(&e));
                            report.failed.push((r.id, e));
                        }
                    }
                } else if due_rotation {
                    match self.rotate_due(r.slot()) {
                        Ok(Some(v)) => {
                            self.audit_maintenance(r, "RotateKey", Some(v), None);
                            report.rotated.push((r.id, v));
                        }
                        Ok(None) => {}
                        Err(e) => {
                            self.audit_maintenance(r, "RotateKey", None, Some(&e));
                            report.failed.push((r.id, e));
                        }
                    }
                }
            }
            if !page.more {
                break;
            }
        }
        for (id, e) in &report.failed {
            tracing::error!(key = %id, error = %e, "maintenance failed for a key; will retry");
        }
        // Audit retention: a failure is logged (the segments stay in the store and the
        // next pass tries again); the keys' work above is done either way.
        if self.retention.is_set()
            && let Err(e) = self.prune_audit()
        {
            tracing::error!(error = %e, "exporting and pruning audit segments failed; will retry");
        }
        Ok(report)
    }

    /// Exports and removes the sealed audit segments that `[audit] retention` lets go (see
    /// [`crate::audit::prune`]); nothing when no retention is configured. Records after the
    /// last seal stay until a seal covers them.
    pub fn prune_audit(&self) -> Result<crate::audit::PruneReport, crate::Error> {
        self.prune_audit_with(&self.retention)
    }

    /// [`Engine::prune_audit`] under `retention` instead of the configured one (`lockbox
    /// audit prune --retention ...`).
    pub fn prune_audit_with(
        &self,
        retention: &crate::audit::Retention,
    ) -> Result<crate::audit::PruneReport, crate::Error> {
        crate::audit::prune(&self.store, &self.token, retention, self.clock.now())
    }

    /// The configured audit retention (`[audit] retention`, `retention_records`, `export_dir`).
    pub fn audit_retention(&self) -> &crate::audit::Retention {
        &self.retention
    }

    /// Writes the audit event of one maintenance action on key `r`: by the configured caller,
    /// source `maintenance`, naming the new material version of a rotation
    /// (`lockbox:material-version`) and the error of a failed action. The action is done
    /// already, so an audit failure is logged, not returned.
    fn audit_maintenance(
        &self,
        r: &KeyRecord,
        operation: &str,
        version: Option<u32>,
        error: Option<&KmsError>,
    ) {
        let caller = self.default_caller("maintenance");
        let mut request_id = [0u8; 16];
        if let Err(e) = self.token.random(&mut request_id) {
            tracing::error!(key = %r.id, error = %e, "maintenance: no request id for its audit event");
            return;
        }
        let event = lockbox_store::AuditEvent {
            time: Timestamp::now(),
            request_id: crate::audit::uuid_text(u128::from_be_bytes(request_id)),
            account: r.account.clone(),
            principal: caller.principal().arn().to_owned(),
            operation: operation.to_owned(),
            key_arn: Some(self.arn(r).to_string()),
            encryption_context: version
                .map(|v| ("lockbox:material-version".to_owned(), v.to_string()))
                .into_iter()
                .collect(),
            error: error.map(|e| (e.code().to_owned(), e.message().to_owned())),
            source: "maintenance".into(),
            grant_id: None,
            region: Some(self.region_of_record(r).to_owned()),
        };
        if let Err(e) = self.audit().append(event) {
            tracing::error!(key = %r.id, operation, error = %e,
                "maintenance: its audit event could not be written");
        }
    }

    /// Rotates key `id` if its automatic rotation is (still) due; returns the new version.
    fn rotate_due(&self, slot: KeySlot) -> Result<Option<u32>, KmsError> {
        let _w = self.writes.lock();
        let Some(mut r) = self.record(slot)?.map(Arc::unwrap_or_clone) else {
            return Ok(None);
        };
        let now = self.clock.now();
        let Some(auto) = r.auto_rotation else {
            return Ok(None);
        };
        if r.state != KeyState::Enabled || auto.next() > now {
            return Ok(None);
        }
        // A multi-Region family rotates by its primary's schedule (and `put` gives the new
        // version to every member); its replicas carry the same schedule but do not act on it.
        if r.family.as_ref().is_some_and(|f| f.primary != r.region) {
            return Ok(None);
        }
        r.auto_rotation = Some(AutoRotation {
            period_days: auto.period_days,
            since: now,
        });
        let m = self.rotate_locked(&mut r, RotationType::Automatic)?;
        Ok(Some(m.version))
    }

    /// Deletes key `id` if its deletion is (still) due. Returns whether it deleted it.
    fn delete_due(&self, slot: KeySlot) -> Result<bool, KmsError> {
        let _w = self.writes.lock();
        let Some(r) = self.record(slot)? else {
            return Ok(false);
        };
        let now = self.clock.now();
        if r.state != KeyState::PendingDeletion || r.deletion.is_none_or(|d| d.date > now) {
            return Ok(false);
        }
        self.delete_locked(&r)?;
        Ok(true)
    }

    /// Deletes a key for good: tombstone first (durably), then every token object, then the
    /// record and its aliases in one transaction. Each step can be interrupted and the whole
    /// done again: reconciliation finishes a deletion whose tombstone it finds beside a
    /// record. Called with the write lock held.
    ///
    /// A member of a multi-Region family destroys only the objects no other member names
    /// (the family shares its generated material), and the other members stop listing it in
    /// the transaction that removes its record. When the last replica of a primary that
    /// waits in PendingReplicaDeletion goes, the primary's own waiting period starts then.
    pub(crate) fn delete_locked(&self, r: &KeyRecord) -> Result<(), KmsError> {
        self.store
            .begin_deletion(r.slot(), self.clock.now())
            .map_err(|e| from_store("delete key", e))?;
        failpoints::hit("engine.delete.after_tombstone")
            .map_err(|e| from_store("delete key", e))?;
        let mut others = self.other_members(r)?;
        let named_elsewhere: std::collections::HashSet<[u8; 16]> =
            others.iter().flat_map(named_objects).collect();
        // An EXTERNAL key's wrapping pairs and new material waiting for a rotation go too.
        let imported = r.imports.iter().flat_map(|i| {
            i.wrapping_pairs
                .iter()
                .flat_map(|w| [w.private_object_id, w.public_object_id])
                .chain(
                    i.materials
                        .iter()
                        .filter_map(|m| m.pending_rotation)
                        .flat_map(|(o, p)| std::iter::once(o).chain(p)),
                )
        });
        for object in imported.collect::<Vec<_>>() {
            if named_elsewhere.contains(&object) {
                continue;
            }
            match self.token.destroy(&ObjectId::from_bytes(object)) {
                Ok(()) | Err(TokenError::ObjectNotFound(_)) => {}
                Err(e) => return Err(from_token("delete key", e)),
            }
        }
        for m in &r.materials {
            for object in std::iter::once(m.object_id).chain(m.public_object_id) {
                if named_elsewhere.contains(&object) {
                    continue;
                }
                match self.token.destroy(&ObjectId::from_bytes(object)) {
                    Ok(()) | Err(TokenError::ObjectNotFound(_)) => {}
                    Err(e) => return Err(from_token("delete key", e)),
                }
            }
            if !named_elsewhere.contains(&m.object_id) {
                self.unavailable.write().remove(&m.object_id);
            }
            failpoints::hit("engine.delete.after_destroy")
                .map_err(|e| from_store("delete key", e))?;
        }
        // The family without this member.
        let now = self.clock.now();
        for o in &mut others {
            if let Some(f) = o.family.as_mut() {
                f.replicas.retain(|g| *g != r.region);
            }
            let alone = o.family.as_ref().is_some_and(|f| f.replicas.is_empty());
            if alone && o.state == KeyState::PendingReplicaDeletion {
                if let Some(d) = o.deletion.as_mut() {
                    d.date = now.plus_days(d.window_days);
                }
                o.state = KeyState::PendingDeletion;
                tracing::info!(key = %o.id, region = %o.region,
                    "the last replica is deleted; the primary's waiting period starts");
            }
        }
        let aliases = self
            .store
            .finish_deletion(r.slot(), &others)
            .map_err(|e| from_store("delete key", e))?;
        tracing::info!(key = %r.id, region = %r.region, versions = r.materials.len(),
            aliases = aliases.len(), "key deleted");
        Ok(())
    }

    /// Starts a thread that runs [`Engine::maintain`] and [`Engine::reconcile`] every `every`, for long-running
    /// processes. It holds the engine weakly: it stops when the engine is dropped, or when
    /// the returned handle is. Fails only if the thread cannot be started.
    pub fn start_maintenance(
        self: &Arc<Self>,
        every: Duration,
    ) -> std::io::Result<MaintenanceThread> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let engine: Weak<Engine> = Arc::downgrade(self);
        let thread = std::thread::Builder::new()
            .name("lockbox-maintenance".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(every)
                {
                    let Some(engine) = engine.upgrade() else {
                        return;
                    };
                    if let Err(e) = engine.maintain() {
                        tracing::error!(error = %e, "maintenance pass failed");
                    }
                    // A long-running process holds the data directory, so `lockbox doctor`
                    // cannot run beside it: reconcile here too (findings go to the log).
                    match engine.reconcile() {
                        Ok(r) if r.has_problems() => tracing::error!(
                            missing = r.missing.len(),
                            orphans = r.orphans.len(),
                            "reconciliation found problems"
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "reconciliation pass failed"),
                    }
                }
            })?;
        Ok(MaintenanceThread {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// Expiry of imported material and wrapping pairs (keys of origin EXTERNAL; the import
/// operations are in `ops/import.rs`).
impl Engine {
    /// Destroys token objects a stored record no longer names. A failure leaves an orphan for
    /// reconciliation and is only logged: the record already says the objects are gone.
    pub(crate) fn destroy_unnamed(&self, key: KeyId, objects: impl IntoIterator<Item = [u8; 16]>) {
        for o in objects {
            match self.token.destroy(&ObjectId::from_bytes(o)) {
                Ok(()) | Err(TokenError::ObjectNotFound(_)) => {}
                Err(e) => tracing::warn!(key = %key, error = %e,
                    "could not destroy a token object the key no longer names; \
                     reconciliation will"),
            }
        }
    }

    /// Maintenance: removes imported material of key `id` whose ValidTo has passed, and
    /// retires expired wrapping pairs. Record first, then the objects. Returns whether
    /// material expired.
    pub(crate) fn expire_due(&self, slot: KeySlot) -> Result<bool, KmsError> {
        let _w = self.writes.lock();
        let Some(r) = self.record(slot)? else {
            return Ok(false);
        };
        let now = self.clock.now();
        let Some(imports) = &r.imports else {
            return Ok(false);
        };
        let expired: Vec<u32> = imports
            .materials
            .iter()
            .filter(|m| m.valid_to.is_some_and(|t| t <= now))
            .filter(|m| r.material(m.version).is_some() || m.pending_rotation.is_some())
            .map(|m| m.version)
            .collect();
        let pairs_due = imports.wrapping_pairs.iter().any(|w| w.valid_to <= now);
        if expired.is_empty() && !pairs_due {
            return Ok(false);
        }
        let mut r = Arc::unwrap_or_clone(r);
        let mut gone = Vec::new();
        for v in &expired {
            remove_material(&mut r, *v, &mut gone);
        }
        if let Some(i) = r.imports.as_mut() {
            i.wrapping_pairs.retain(|w| {
                let keep = w.valid_to > now;
                if !keep {
                    gone.extend([w.private_object_id, w.public_object_id]);
                }
                keep
            });
        }
        self.put("expire key material", &r)?;
        self.destroy_unnamed(r.id, gone);
        if !expired.is_empty() {
            tracing::info!(key = %r.id, versions = ?expired, "imported key material expired");
        }
        Ok(!expired.is_empty())
    }
}

/// Every token object record `r` names: its material versions (both halves), and an
/// EXTERNAL key's wrapping pairs and material waiting for a rotation.
pub(crate) fn named_objects(r: &KeyRecord) -> Vec<[u8; 16]> {
    let mut out: Vec<[u8; 16]> = r
        .materials
        .iter()
        .flat_map(|m| std::iter::once(m.object_id).chain(m.public_object_id))
        .collect();
    if let Some(i) = &r.imports {
        for w in &i.wrapping_pairs {
            out.extend([w.private_object_id, w.public_object_id]);
        }
        for (o, p) in i.materials.iter().filter_map(|m| m.pending_rotation) {
            out.push(o);
            out.extend(p);
        }
    }
    out
}

/// Takes material version `version` out of the token's keeping in record `r` (its objects
/// go to `gone`, to be destroyed once `r` is stored): the key waits for an import again,
/// unless it is pending deletion. New material waiting for a rotation is forgotten
/// altogether (it never protected anything).
pub(crate) fn remove_material(r: &mut KeyRecord, version: u32, gone: &mut Vec<[u8; 16]>) {
    if let Some(i) = r.imports.as_mut()
        && let Some(pos) = i.materials.iter().position(|m| m.version == version)
        && let Some((o, p)) = i.materials[pos].pending_rotation
    {
        gone.extend(std::iter::once(o).chain(p));
        i.materials.remove(pos);
        return;
    }
    if let Some(pos) = r.materials.iter().position(|m| m.version == version) {
        let m = r.materials.remove(pos);
        gone.extend(std::iter::once(m.object_id).chain(m.public_object_id));
    }
    if matches!(r.state, KeyState::Enabled | KeyState::Disabled) {
        r.state = KeyState::PendingImport;
    }
}
