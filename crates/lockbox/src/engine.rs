//! The engine: AWS KMS semantics over a PKCS#11 token (material) and a sled store (metadata).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use lockbox_api::*;
use lockbox_store::{KeyRecord, Material, Store, StoreError};
use lockbox_token::{ObjectId, Token};
use parking_lot::{Mutex, RwLock};
use zeroize::Zeroizing;

use crate::blob;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Lifecycle};
use crate::error::{Error, from_store, from_token};
use crate::lifecycle::Counter;
use crate::state::{self, Use};

/// Whether an operation accepts an alias (name or ARN) where it takes a key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aliases {
    Accepted,
    Refused(&'static str),
}

/// The Lockbox engine. Implements [`Kms`]; `Send + Sync`, so one engine serves every thread.
///
/// Invariants it keeps (each has a test): key material is generated in the token and never
/// leaves it; the store holds metadata only; material is created before the record that
/// names it; a mutation returns only after the store has flushed it; data keys come from the
/// token's RNG and are encrypted by the token; ciphertext blobs describe themselves and fail
/// as one opaque `InvalidCiphertextException`.
pub struct Engine {
    pub(crate) token: Token,
    pub(crate) store: Store,
    scope: ArnScope,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) lifecycle: Lifecycle,
    // Serializes read-modify-write of records (and creation, rotation, deletion and
    // reconciliation), so concurrent mutations cannot lose each other's changes and
    // reconciliation never sees a key half-made. Cryptographic operations take it only to
    // reserve encryption counts. Lock order: `counters`, then `writes`.
    pub(crate) writes: Mutex<()>,
    // Encryptions per (key, material version) since this engine opened.
    pub(crate) counters: Mutex<HashMap<(KeyId, u32), Counter>>,
    // CKA_IDs of material that reconciliation found missing from the token.
    pub(crate) unavailable: RwLock<HashSet<[u8; 16]>>,
    opened: OpenReport,
}

/// What opening the engine found and did: its reconciliation and maintenance passes.
#[derive(Clone, Debug)]
pub struct OpenReport {
    /// The reconciliation pass.
    pub reconciliation: Result<crate::ReconcileReport, KmsError>,
    /// The maintenance pass.
    pub maintenance: Result<crate::MaintenanceReport, KmsError>,
}

impl Engine {
    /// Opens the token and the metadata store named by `config`.
    pub fn open(config: Config) -> Result<Engine, Error> {
        Self::open_with_clock(config, Arc::new(SystemClock))
    }

    /// As [`Engine::open`], with a clock of the caller's (tests move time with it).
    ///
    /// Opening reconciles the token with the store (finishing interrupted deletions,
    /// destroying orphans past their grace period, reporting missing material) and then runs
    /// one maintenance pass. Problems either finds are logged, not fatal: the engine serves
    /// every key it can.
    pub fn open_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<Engine, Error> {
        config.lifecycle.check().map_err(Error::Config)?;
        crate::config::make_private_dir(&config.data_dir)?;
        let token = Token::open(&config.token)?;
        let store = Store::open(&config.data_dir.join("metadata"))?;
        let mut engine = Engine {
            token,
            store,
            scope: config.arn,
            clock,
            lifecycle: config.lifecycle,
            writes: Mutex::new(()),
            counters: Mutex::new(HashMap::new()),
            unavailable: RwLock::new(HashSet::new()),
            opened: OpenReport {
                reconciliation: Ok(Default::default()),
                maintenance: Ok(Default::default()),
            },
        };
        let reconciliation = engine.reconcile();
        match &reconciliation {
            Ok(r) if r.has_problems() => tracing::error!(
                missing = r.missing.len(),
                orphans = r.orphans.len(),
                "reconciliation found problems; run `lockbox doctor`"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "reconciliation at open failed"),
        }
        let maintenance = engine.maintain();
        if let Err(e) = &maintenance {
            tracing::error!(error = %e, "maintenance at open failed");
        }
        engine.opened = OpenReport {
            reconciliation,
            maintenance,
        };
        Ok(engine)
    }

    /// What the reconciliation and maintenance passes run by opening found and did.
    pub fn open_report(&self) -> &OpenReport {
        &self.opened
    }

    /// The token this engine uses (for inspection: what it holds, how it describes itself).
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// The ARN scope of this engine's keys.
    pub fn arn_scope(&self) -> &ArnScope {
        &self.scope
    }

    pub(crate) fn key_arn(&self, id: KeyId) -> KeyArn {
        self.scope.key_arn(id)
    }

    /// Finds the key a request names.
    pub(crate) fn resolve(&self, key: &KeyRef, aliases: Aliases) -> Result<KeyRecord, KmsError> {
        if let (true, Aliases::Refused(op)) = (key.is_alias(), aliases) {
            return Err(KmsError::not_found(format!(
                "{op} does not accept an alias ('{key}'); use the key ID or key ARN"
            )));
        }
        let id = match key {
            KeyRef::Id(id) => *id,
            KeyRef::KeyArn(arn) if arn.scope() == &self.scope => arn.key_id(),
            KeyRef::KeyArn(arn) => {
                return Err(KmsError::not_found(format!("Key '{arn}' does not exist")));
            }
            KeyRef::Alias(name) => self.alias_target(name)?,
            KeyRef::AliasArn(arn) if arn.scope() == &self.scope => {
                self.alias_target(arn.alias())?
            }
            KeyRef::AliasArn(arn) => {
                return Err(KmsError::not_found(format!("Alias {arn} is not found.")));
            }
        };
        self.record(id)?.ok_or_else(|| {
            KmsError::not_found(format!("Key '{}' does not exist", self.key_arn(id)))
        })
    }

    fn alias_target(&self, name: &AliasName) -> Result<KeyId, KmsError> {
        match self
            .store
            .alias(name)
            .map_err(|e| from_store("resolve", e))?
        {
            Some(a) => Ok(a.target),
            None => Err(KmsError::not_found(format!(
                "Alias {} is not found.",
                self.scope.alias_arn(name)
            ))),
        }
    }

    pub(crate) fn record(&self, id: KeyId) -> Result<Option<KeyRecord>, KmsError> {
        self.store.key(id).map_err(|e| from_store("read key", e))
    }

    pub(crate) fn put(&self, op: &'static str, record: &KeyRecord) -> Result<(), KmsError> {
        self.store.put_key(record).map_err(|e| from_store(op, e))
    }

    fn metadata(&self, r: &KeyRecord) -> KeyMetadata {
        KeyMetadata {
            aws_account_id: self.scope.account().to_owned(),
            key_id: r.id,
            arn: self.key_arn(r.id),
            creation_date: r.created,
            enabled: r.state == KeyState::Enabled,
            description: r.description.clone(),
            key_usage: r.usage,
            key_state: r.state,
            deletion_date: r.deletion.map(|d| d.date),
            origin: r.origin,
            key_manager: KeyManager::Customer,
            key_spec: r.spec,
            encryption_algorithms: vec![EncryptionAlgorithm::SymmetricDefault],
            multi_region: false,
            pending_deletion_window_in_days: r.deletion.map(|d| d.window_days),
        }
    }

    /// Applies `change` to key `key_id` under the write lock, after checking its state allows
    /// `u`, and stores the result durably.
    pub(crate) fn modify(
        &self,
        op: &'static str,
        key_id: &KeyRef,
        u: Use,
        change: impl FnOnce(&mut KeyRecord) -> Result<(), KmsError>,
    ) -> Result<KeyRecord, KmsError> {
        let _w = self.writes.lock();
        let mut r = self.resolve(key_id, Aliases::Refused(op))?;
        state::check(r.state, u, || self.key_arn(r.id))?;
        change(&mut r)?;
        self.put(op, &r)?;
        Ok(r)
    }

    /// The key a cryptographic operation uses, after state and usage checks.
    fn usable(
        &self,
        key_id: &KeyRef,
        algorithm: Option<EncryptionAlgorithm>,
    ) -> Result<KeyRecord, KmsError> {
        let r = self.resolve(key_id, Aliases::Accepted)?;
        self.check_usable(&r, algorithm)?;
        Ok(r)
    }

    fn check_usable(
        &self,
        r: &KeyRecord,
        algorithm: Option<EncryptionAlgorithm>,
    ) -> Result<(), KmsError> {
        state::check(r.state, Use::Cryptographic, || self.key_arn(r.id))?;
        if r.usage != KeyUsage::EncryptDecrypt {
            return Err(KmsError::new(
                ErrorKind::InvalidKeyUsage,
                format!(
                    "{} key usage is {} which is not valid for this operation.",
                    self.key_arn(r.id),
                    r.usage
                ),
            ));
        }
        match algorithm {
            None | Some(EncryptionAlgorithm::SymmetricDefault) => Ok(()),
            Some(other) => Err(KmsError::new(
                ErrorKind::InvalidKeyUsage,
                format!(
                    "{} is a symmetric key; the encryption algorithm {other} is not valid for it.",
                    self.key_arn(r.id)
                ),
            )),
        }
    }

    /// Encrypts `plaintext` under the current material of `r` into a new blob.
    fn seal(
        &self,
        r: &KeyRecord,
        ctx: &EncryptionContext,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        let material = self.count_encryption(r)?;
        let material = &material;
        if let Err(e) = self.check_available(r, material) {
            self.uncount_encryption(r.id, material.version);
            return Err(e);
        }
        let mut out = blob::allocate(r.id, material.version, plaintext.len());
        let mut aad = Vec::with_capacity(blob::HEADER_LEN + ctx.encoded_len());
        aad.extend_from_slice(&out[..blob::HEADER_LEN]);
        ctx.encode_into(&mut aad);
        let object = ObjectId::from_bytes(material.object_id);
        let sealed = self
            .token
            .encrypt_aes_gcm(
                &object,
                &aad,
                plaintext,
                &mut out[blob::HEADER_LEN + blob::IV_LEN..],
            )
            .map_err(|e| {
                self.uncount_encryption(r.id, material.version);
                self.material_error("encrypt", r, material, e)
            })?;
        out[blob::HEADER_LEN..blob::HEADER_LEN + blob::IV_LEN].copy_from_slice(&sealed.iv);
        Ok(out)
    }

    /// Decrypts a blob: returns the key record and the plaintext.
    fn open_blob(
        &self,
        ciphertext: &[u8],
        ctx: &EncryptionContext,
        expected_key: Option<&KeyRef>,
        algorithm: Option<EncryptionAlgorithm>,
    ) -> Result<(KeyRecord, Plaintext), KmsError> {
        if ciphertext.is_empty() || ciphertext.len() > MAX_CIPHERTEXT_LEN {
            return Err(KmsError::validation(format!(
                "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy \
                 constraint: Member must have length between 1 and {MAX_CIPHERTEXT_LEN} \
                 (it has {} bytes)",
                ciphertext.len()
            )));
        }
        let expected = match expected_key {
            Some(k) => Some(self.resolve(k, Aliases::Accepted)?.id),
            None => None,
        };
        let b = blob::parse(ciphertext).ok_or_else(KmsError::invalid_ciphertext)?;
        if let Some(want) = expected
            && want != b.key_id
        {
            return Err(KmsError::new(
                ErrorKind::IncorrectKey,
                "The key ID in the request does not identify a KMS key that can perform this \
                 operation.",
            ));
        }
        let Some(r) = self.record(b.key_id)? else {
            // A deleted key is named as such; an id no key ever had is indistinguishable
            // from a corrupted one: the same opaque error.
            return Err(match self.store.tombstone(b.key_id) {
                Ok(Some(_)) => KmsError::not_found(format!(
                    "Key '{}' does not exist: it was deleted",
                    self.key_arn(b.key_id)
                )),
                Ok(None) => KmsError::invalid_ciphertext(),
                Err(e) => from_store("decrypt", e),
            });
        };
        self.check_usable(&r, algorithm)?;
        let material = r
            .material(b.material_version)
            .ok_or_else(KmsError::invalid_ciphertext)?;
        self.check_available(&r, material)?;
        let mut aad = Vec::with_capacity(blob::HEADER_LEN + ctx.encoded_len());
        aad.extend_from_slice(b.header);
        ctx.encode_into(&mut aad);
        let mut out = Zeroizing::new(vec![0u8; b.sealed.len()]);
        let n = self
            .token
            .decrypt_aes_gcm(
                &ObjectId::from_bytes(material.object_id),
                &b.iv,
                &aad,
                b.sealed,
                &mut out,
            )
            .map_err(|e| self.material_error("decrypt", &r, material, e))?;
        out.truncate(n);
        Ok((r, Plaintext::from(out)))
    }

    /// Refuses material that reconciliation found missing, without asking the token.
    fn check_available(&self, r: &KeyRecord, m: &Material) -> Result<(), KmsError> {
        if self.unavailable.read().contains(&m.object_id) {
            return Err(missing_material(self.key_arn(r.id)));
        }
        Ok(())
    }

    fn material_error(
        &self,
        op: &'static str,
        r: &KeyRecord,
        m: &Material,
        e: lockbox_token::TokenError,
    ) -> KmsError {
        match e {
            lockbox_token::TokenError::ObjectNotFound(_) => {
                tracing::error!(op, key = %r.id, version = m.version,
                    "the record names key material that is not on the token");
                missing_material(self.key_arn(r.id))
            }
            other => from_token(op, other),
        }
    }

    fn random(&self, n: usize) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let mut buf = Zeroizing::new(vec![0u8; n]);
        self.token
            .random(&mut buf)
            .map_err(|e| from_token("random", e))?;
        Ok(buf)
    }

    fn data_key(&self, req: &GenerateDataKeyRequest) -> Result<DataKey, KmsError> {
        let r = self.usable(&req.key_id, None)?;
        let plaintext = self.random(req.size.byte_len())?;
        let ciphertext_blob = self.seal(&r, &req.encryption_context, &plaintext)?;
        Ok(DataKey {
            key_arn: self.key_arn(r.id),
            plaintext: Plaintext::from(plaintext),
            ciphertext_blob,
        })
    }
}

/// A fresh data key and its blob.
struct DataKey {
    key_arn: KeyArn,
    plaintext: Plaintext,
    ciphertext_blob: Vec<u8>,
}

pub(crate) fn missing_material(arn: KeyArn) -> KmsError {
    KmsError::new(
        ErrorKind::KeyUnavailable,
        format!("{arn} is unavailable: its key material is missing from the token."),
    )
}

fn check_description(d: &str) -> Result<(), KmsError> {
    if d.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(KmsError::validation(format!(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: \
             Member must have length less than or equal to {MAX_DESCRIPTION_LEN}"
        )));
    }
    Ok(())
}

pub(crate) fn check_limit(limit: Option<u32>, max: u32, default: u32) -> Result<usize, KmsError> {
    match limit {
        None => Ok(default as usize),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(n) => Err(KmsError::constraint(
            "limit",
            n,
            &format!("Member must have value between 1 and {max}"),
        )),
    }
}

pub(crate) fn invalid_marker() -> KmsError {
    KmsError::new(
        ErrorKind::InvalidMarker,
        "The marker is not one this service issued.",
    )
}

fn merge_tags(existing: &mut Vec<Tag>, new: &[Tag]) -> Result<(), KmsError> {
    for (i, t) in new.iter().enumerate() {
        if new[..i].iter().any(|u| u.key() == t.key()) {
            return Err(KmsError::new(
                ErrorKind::Tag,
                format!("Duplicate tag key '{}' in the request", t.key()),
            ));
        }
    }
    for t in new {
        match existing.iter_mut().find(|e| e.key() == t.key()) {
            Some(e) => *e = t.clone(),
            None => existing.push(t.clone()),
        }
    }
    if existing.len() > MAX_TAGS_PER_KEY {
        return Err(KmsError::new(
            ErrorKind::LimitExceeded,
            format!("A key can have at most {MAX_TAGS_PER_KEY} tags"),
        ));
    }
    existing.sort_by(|a, b| a.key().cmp(b.key()));
    Ok(())
}

impl Kms for Engine {
    fn create_key(&self, req: CreateKeyRequest) -> Result<CreateKeyResponse, KmsError> {
        check_description(&req.description)?;
        let spec = req.key_spec.unwrap_or(KeySpec::SymmetricDefault);
        let usage = req.key_usage.unwrap_or(KeyUsage::EncryptDecrypt);
        let origin = req.origin.unwrap_or(Origin::AwsKms);
        if spec != KeySpec::SymmetricDefault {
            return Err(KmsError::new(
                ErrorKind::UnsupportedOperation,
                format!("KeySpec {spec} is not supported yet; SYMMETRIC_DEFAULT is."),
            ));
        }
        if usage != KeyUsage::EncryptDecrypt {
            return Err(KmsError::validation(format!(
                "KeyUsage {usage} is not compatible with KeySpec {spec}."
            )));
        }
        if origin != Origin::AwsKms {
            return Err(KmsError::new(
                ErrorKind::UnsupportedOperation,
                format!("Origin {origin} is not supported yet; AWS_KMS is."),
            ));
        }
        let mut tags = Vec::new();
        merge_tags(&mut tags, &req.tags)?;

        let mut id_bytes = [0u8; 16];
        self.token
            .random(&mut id_bytes)
            .map_err(|e| from_token("create key", e))?;
        let id = KeyId::from_random_bytes(id_bytes);
        let now = self.clock.now();
        let _w = self.writes.lock();
        // Token first, metadata second: a crash in between leaves an orphan object, never a
        // record that names missing material.
        let object = self
            .token
            .generate_aes256_key(&format!("{id}/1"))
            .map_err(|e| from_token("create key", e))?;
        lockbox_store::failpoints::hit("engine.create.after_material")
            .map_err(|e| from_store("create key", e))?;
        let record = KeyRecord {
            id,
            created: now,
            description: req.description,
            spec,
            usage,
            origin,
            state: KeyState::Enabled,
            deletion: None,
            materials: vec![Material {
                version: 1,
                object_id: *object.as_bytes(),
                created: now,
                rotation: None,
                encryptions_reserved: 0,
            }],
            tags,
            auto_rotation: None,
            on_demand_rotations: 0,
        };
        if let Err(e) = self.put("create key", &record) {
            // The record may or may not be on disk. Destroy the material only once the record
            // is surely gone; otherwise leave an orphan object for reconciliation, never a
            // record that names missing material.
            match self.store.delete_key(id) {
                Ok(()) => {
                    if let Err(d) = self.token.destroy(&object) {
                        tracing::warn!(key = %id, error = %d,
                            "could not destroy the material of a key that was not created");
                    }
                }
                Err(d) => tracing::warn!(key = %id, error = %d,
                    "could not remove a half-written key record; its material stays as an orphan"),
            }
            return Err(e);
        }
        tracing::info!(key = %id, "key created");
        Ok(CreateKeyResponse {
            key_metadata: self.metadata(&record),
        })
    }

    fn describe_key(&self, req: DescribeKeyRequest) -> Result<DescribeKeyResponse, KmsError> {
        let r = self.resolve(&req.key_id, Aliases::Accepted)?;
        Ok(DescribeKeyResponse {
            key_metadata: self.metadata(&r),
        })
    }

    fn list_keys(&self, req: ListKeysRequest) -> Result<ListKeysResponse, KmsError> {
        let limit = check_limit(req.limit, 1000, 100)?;
        let after = match &req.marker {
            Some(m) => Some(KeyId::parse(m).map_err(|_| invalid_marker())?),
            None => None,
        };
        let page = self
            .store
            .keys_page(after, limit)
            .map_err(|e| from_store("list keys", e))?;
        let next_marker = match (page.more, page.items.last()) {
            (true, Some(last)) => Some(last.id.to_string()),
            _ => None,
        };
        Ok(ListKeysResponse {
            keys: page
                .items
                .iter()
                .map(|r| KeyListEntry {
                    key_id: r.id,
                    key_arn: self.key_arn(r.id),
                })
                .collect(),
            truncated: next_marker.is_some(),
            next_marker,
        })
    }

    fn update_key_description(&self, req: UpdateKeyDescriptionRequest) -> Result<(), KmsError> {
        check_description(&req.description)?;
        self.modify("UpdateKeyDescription", &req.key_id, Use::Manage, |r| {
            r.description = req.description;
            Ok(())
        })?;
        Ok(())
    }

    fn enable_key(&self, req: EnableKeyRequest) -> Result<(), KmsError> {
        self.modify("EnableKey", &req.key_id, Use::Manage, |r| {
            r.state = KeyState::Enabled;
            Ok(())
        })?;
        Ok(())
    }

    fn disable_key(&self, req: DisableKeyRequest) -> Result<(), KmsError> {
        self.modify("DisableKey", &req.key_id, Use::Manage, |r| {
            r.state = KeyState::Disabled;
            Ok(())
        })?;
        Ok(())
    }

    fn schedule_key_deletion(
        &self,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError> {
        let window = req.pending_window_in_days.unwrap_or(30);
        if !(7..=30).contains(&window) {
            return Err(KmsError::validation(format!(
                "PendingWindowInDays must be between 7 and 30 (it is {window})"
            )));
        }
        let date = self.clock.now().plus_days(window);
        let r = self.modify("ScheduleKeyDeletion", &req.key_id, Use::Manage, |r| {
            r.state = KeyState::PendingDeletion;
            r.deletion = Some(lockbox_store::Deletion {
                date,
                window_days: window,
            });
            Ok(())
        })?;
        tracing::info!(key = %r.id, days = window, "key deletion scheduled");
        Ok(ScheduleKeyDeletionResponse {
            key_id: self.key_arn(r.id),
            deletion_date: date,
            key_state: KeyState::PendingDeletion,
            pending_window_in_days: window,
        })
    }

    fn cancel_key_deletion(
        &self,
        req: CancelKeyDeletionRequest,
    ) -> Result<CancelKeyDeletionResponse, KmsError> {
        let r = self.modify("CancelKeyDeletion", &req.key_id, Use::CancelDeletion, |r| {
            // A deletion that began (and was interrupted) cannot be taken back: some of the
            // key's material may already be destroyed. Reconciliation finishes it.
            if self
                .store
                .tombstone(r.id)
                .map_err(|e| from_store("cancel key deletion", e))?
                .is_some()
            {
                return Err(KmsError::new(
                    ErrorKind::KmsInvalidState,
                    format!(
                        "{} is being deleted; the deletion cannot be cancelled.",
                        self.key_arn(r.id)
                    ),
                ));
            }
            r.state = KeyState::Disabled;
            r.deletion = None;
            Ok(())
        })?;
        Ok(CancelKeyDeletionResponse {
            key_id: self.key_arn(r.id),
        })
    }

    fn create_alias(&self, req: AliasRequest) -> Result<(), KmsError> {
        check_alias_writable(&req.alias_name)?;
        let _w = self.writes.lock();
        let target = self.resolve(&req.target_key_id, Aliases::Refused("CreateAlias"))?;
        state::check(target.state, Use::Manage, || self.key_arn(target.id))?;
        match self
            .store
            .create_alias(&req.alias_name, target.id, self.clock.now())
        {
            Ok(()) => Ok(()),
            Err(StoreError::AliasExists) => Err(KmsError::new(
                ErrorKind::AlreadyExists,
                format!(
                    "An alias with the name {} already exists",
                    self.scope.alias_arn(&req.alias_name)
                ),
            )),
            Err(StoreError::KeyMissing) => Err(KmsError::not_found(format!(
                "Key '{}' does not exist",
                self.key_arn(target.id)
            ))),
            Err(e) => Err(from_store("create alias", e)),
        }
    }

    fn update_alias(&self, req: AliasRequest) -> Result<(), KmsError> {
        check_alias_writable(&req.alias_name)?;
        let _w = self.writes.lock();
        let alias_missing = || {
            KmsError::not_found(format!(
                "Alias {} is not found.",
                self.scope.alias_arn(&req.alias_name)
            ))
        };
        let current = self
            .store
            .alias(&req.alias_name)
            .map_err(|e| from_store("update alias", e))?
            .ok_or_else(alias_missing)?;
        let target = self.resolve(&req.target_key_id, Aliases::Refused("UpdateAlias"))?;
        state::check(target.state, Use::Manage, || self.key_arn(target.id))?;
        if let Some(old) = self.record(current.target)?
            && (old.spec != target.spec || old.usage != target.usage)
        {
            return Err(KmsError::validation(format!(
                "The alias {} points to a {} {} key; its new target must be of the same key \
                 spec and usage",
                req.alias_name, old.spec, old.usage
            )));
        }
        match self
            .store
            .update_alias(&req.alias_name, target.id, self.clock.now())
        {
            Ok(()) => Ok(()),
            Err(StoreError::AliasMissing) => Err(alias_missing()),
            Err(StoreError::KeyMissing) => Err(KmsError::not_found(format!(
                "Key '{}' does not exist",
                self.key_arn(target.id)
            ))),
            Err(e) => Err(from_store("update alias", e)),
        }
    }

    fn delete_alias(&self, req: DeleteAliasRequest) -> Result<(), KmsError> {
        let _w = self.writes.lock();
        match self.store.delete_alias(&req.alias_name) {
            Ok(()) => Ok(()),
            Err(StoreError::AliasMissing) => Err(KmsError::not_found(format!(
                "Alias {} is not found.",
                self.scope.alias_arn(&req.alias_name)
            ))),
            Err(e) => Err(from_store("delete alias", e)),
        }
    }

    fn list_aliases(&self, req: ListAliasesRequest) -> Result<ListAliasesResponse, KmsError> {
        let limit = check_limit(req.limit, 100, 50)?;
        let target = match &req.key_id {
            Some(k) => Some(self.resolve(k, Aliases::Refused("ListAliases"))?.id),
            None => None,
        };
        let after = match &req.marker {
            Some(m) => Some(AliasName::parse(m).map_err(|_| invalid_marker())?),
            None => None,
        };
        let page = self
            .store
            .aliases_page(after.as_ref().map(AliasName::as_str), limit, target)
            .map_err(|e| from_store("list aliases", e))?;
        let next_marker = match (page.more, page.items.last()) {
            (true, Some((name, _))) => Some(name.to_string()),
            _ => None,
        };
        Ok(ListAliasesResponse {
            aliases: page
                .items
                .into_iter()
                .map(|(name, a)| AliasListEntry {
                    alias_arn: self.scope.alias_arn(&name),
                    alias_name: name,
                    target_key_id: a.target,
                    creation_date: a.created,
                    last_updated_date: a.updated,
                })
                .collect(),
            truncated: next_marker.is_some(),
            next_marker,
        })
    }

    fn tag_resource(&self, req: TagResourceRequest) -> Result<(), KmsError> {
        self.modify("TagResource", &req.key_id, Use::Manage, |r| {
            merge_tags(&mut r.tags, &req.tags)
        })?;
        Ok(())
    }

    fn untag_resource(&self, req: UntagResourceRequest) -> Result<(), KmsError> {
        for k in &req.tag_keys {
            check_tag_key(k)?;
        }
        self.modify("UntagResource", &req.key_id, Use::Manage, |r| {
            r.tags
                .retain(|t| !req.tag_keys.iter().any(|k| k == t.key()));
            Ok(())
        })?;
        Ok(())
    }

    fn list_resource_tags(
        &self,
        req: ListResourceTagsRequest,
    ) -> Result<ListResourceTagsResponse, KmsError> {
        let limit = check_limit(req.limit, 50, 50)?;
        let r = self.resolve(&req.key_id, Aliases::Refused("ListResourceTags"))?;
        let start = match &req.marker {
            Some(m) => m
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= r.tags.len())
                .ok_or_else(invalid_marker)?,
            None => 0,
        };
        let end = (start + limit).min(r.tags.len());
        let more = end < r.tags.len();
        Ok(ListResourceTagsResponse {
            tags: r.tags[start..end].to_vec(),
            next_marker: more.then(|| end.to_string()),
            truncated: more,
        })
    }

    fn encrypt(&self, req: EncryptRequest) -> Result<EncryptResponse, KmsError> {
        let n = req.plaintext.len();
        if n == 0 || n > MAX_PLAINTEXT_LEN {
            return Err(KmsError::validation(format!(
                "1 validation error detected: Value at 'plaintext' failed to satisfy \
                 constraint: Member must have length between 1 and {MAX_PLAINTEXT_LEN} \
                 (it has {n} bytes)"
            )));
        }
        let r = self.usable(&req.key_id, req.encryption_algorithm)?;
        let ciphertext_blob =
            self.seal(&r, &req.encryption_context, req.plaintext.expose_secret())?;
        Ok(EncryptResponse {
            ciphertext_blob,
            key_id: self.key_arn(r.id),
            encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
        })
    }

    fn decrypt(&self, req: DecryptRequest) -> Result<DecryptResponse, KmsError> {
        let (r, plaintext) = self.open_blob(
            &req.ciphertext_blob,
            &req.encryption_context,
            req.key_id.as_ref(),
            req.encryption_algorithm,
        )?;
        Ok(DecryptResponse {
            key_id: self.key_arn(r.id),
            plaintext,
            encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
        })
    }

    fn re_encrypt(&self, req: ReEncryptRequest) -> Result<ReEncryptResponse, KmsError> {
        let destination = self.usable(
            &req.destination_key_id,
            req.destination_encryption_algorithm,
        )?;
        let (source, plaintext) = self.open_blob(
            &req.ciphertext_blob,
            &req.source_encryption_context,
            req.source_key_id.as_ref(),
            req.source_encryption_algorithm,
        )?;
        let ciphertext_blob = self.seal(
            &destination,
            &req.destination_encryption_context,
            plaintext.expose_secret(),
        )?;
        Ok(ReEncryptResponse {
            ciphertext_blob,
            source_key_id: self.key_arn(source.id),
            key_id: self.key_arn(destination.id),
            source_encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
            destination_encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
        })
    }

    fn generate_data_key(
        &self,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        let dk = self.data_key(&req)?;
        Ok(GenerateDataKeyResponse {
            ciphertext_blob: dk.ciphertext_blob,
            plaintext: dk.plaintext,
            key_id: dk.key_arn,
        })
    }

    fn generate_data_key_without_plaintext(
        &self,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse, KmsError> {
        // The plaintext key is dropped (and zeroized) here, unseen.
        let dk = self.data_key(&req)?;
        Ok(GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob: dk.ciphertext_blob,
            key_id: dk.key_arn,
        })
    }

    fn generate_random(
        &self,
        req: GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse, KmsError> {
        Ok(GenerateRandomResponse {
            plaintext: Plaintext::from(self.random(req.number_of_bytes.get())?),
        })
    }

    fn enable_key_rotation(&self, req: EnableKeyRotationRequest) -> Result<(), KmsError> {
        self.enable_rotation(req)
    }

    fn disable_key_rotation(&self, req: DisableKeyRotationRequest) -> Result<(), KmsError> {
        self.disable_rotation(req)
    }

    fn get_key_rotation_status(
        &self,
        req: GetKeyRotationStatusRequest,
    ) -> Result<GetKeyRotationStatusResponse, KmsError> {
        self.rotation_status(req)
    }

    fn rotate_key_on_demand(
        &self,
        req: RotateKeyOnDemandRequest,
    ) -> Result<RotateKeyOnDemandResponse, KmsError> {
        self.rotate_on_demand(req)
    }

    fn list_key_rotations(
        &self,
        req: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse, KmsError> {
        self.list_rotations(req)
    }
}

fn check_alias_writable(name: &AliasName) -> Result<(), KmsError> {
    if name.is_reserved() {
        return Err(KmsError::new(
            ErrorKind::InvalidAliasName,
            format!(
                "Alias {name} cannot be created or changed: names beginning with {RESERVED_ALIAS_PREFIX} are reserved for AWS managed keys"
            ),
        ));
    }
    Ok(())
}
