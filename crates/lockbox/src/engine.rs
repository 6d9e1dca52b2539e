//! The engine: AWS KMS semantics over a PKCS#11 token (material) and a sled store (metadata).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lockbox_api::*;
use lockbox_store::{KeyRecord, Material, Store, StoreError};
use lockbox_token::{ObjectId, Token};
use parking_lot::{Mutex, RwLock};
use zeroize::Zeroizing;

use crate::access::{Call, Facts, Permit, PolicyCache, Value};
use crate::audit::{AuditLog, CallRecord};
use crate::blob;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Lifecycle};
use crate::error::{Error, from_store, from_token};
use crate::keykind::{self, KindError, MaterialRef};
use crate::lifecycle::Counter;
use crate::state::{self, Use};

/// Whether an operation accepts an alias (name or ARN) where it takes a key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aliases {
    Accepted,
    Refused(&'static str),
}

/// The Lockbox engine; `Send + Sync`, so one engine serves every thread.
///
/// Every operation is made by a caller: [`Engine::client`] gives a [`Kms`] that acts as one,
/// and each of its calls is authorized (key policy and grants) and audited.
///
/// Invariants it keeps (each has a test): key material is generated in the token and never
/// leaves it; the store holds metadata only; material is created before the record that
/// names it; a mutation returns only after the store has flushed it; data keys come from the
/// token's RNG and are encrypted by the token; ciphertext blobs describe themselves and fail
/// as one opaque `InvalidCiphertextException`.
pub struct Engine {
    pub(crate) token: Arc<Token>,
    pub(crate) store: Arc<Store>,
    // The audit trail every call is written to.
    audit: AuditLog,
    // Request ids: a random per-engine prefix and a counter.
    request_prefix: u64,
    requests: AtomicU64,
    scope: ArnScope,
    default_caller: Principal,
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
    // Parsed key policies.
    pub(crate) policies: PolicyCache,
    // ARN scopes per account (the configured partition and region).
    scopes: RwLock<HashMap<String, ArnScope>>,
    opened: OpenReport,
    // Where the data directory is, and what a backup copies from it.
    pub(crate) paths: DataPaths,
    // The data directory's lock, held from before the token is touched; last, so it is
    // released after everything above has been dropped.
    _lock: crate::lock::DataDirLock,
}

/// The data directory of an engine, as backups need it.
pub(crate) struct DataPaths {
    pub(crate) data_dir: std::path::PathBuf,
    // This directory provisioned its own SoftHSM token (`softhsm/` under it).
    pub(crate) provisioned_softhsm: bool,
}

/// What opening the engine found and did: its reconciliation and maintenance passes.
#[derive(Clone, Debug)]
pub struct OpenReport {
    /// The reconciliation pass.
    pub reconciliation: Result<crate::ReconcileReport, KmsError>,
    /// The maintenance pass.
    pub maintenance: Result<crate::MaintenanceReport, KmsError>,
}

impl DataPaths {
    fn of(config: &Config) -> DataPaths {
        let data_dir = config
            .data_dir
            .canonicalize()
            .unwrap_or_else(|_| config.data_dir.clone());
        let own = data_dir.join("softhsm");
        let provisioned_softhsm = config.token.softhsm_conf.as_ref().is_some_and(|c| {
            c.parent()
                .and_then(|p| p.canonicalize().ok())
                .is_some_and(|p| p == own)
        });
        DataPaths {
            data_dir,
            provisioned_softhsm,
        }
    }
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
        let lock = crate::lock::DataDirLock::acquire(&config.data_dir)?;
        crate::backup::refuse_interrupted_restore(&config.data_dir)?;
        let paths = DataPaths::of(&config);
        let token = Arc::new(crate::lock::open_token(&config)?);
        let store = Arc::new(Store::open(&config.data_dir.join("metadata"))?);
        // Records and aliases from before accounts existed belong to the configured account.
        let adopted = store.assign_owner(config.arn.account())?;
        if adopted > 0 {
            tracing::info!(
                records = adopted,
                account = config.arn.account(),
                "gave records from before accounts existed to the configured account"
            );
        }
        let mut engine = Engine {
            audit: AuditLog::open(store.clone(), token.clone(), config.audit, clock.clone())?,
            request_prefix: {
                let mut b = [0u8; 8];
                token.random(&mut b)?;
                u64::from_be_bytes(b)
            },
            requests: AtomicU64::new(0),
            token,
            store,
            scope: config.arn,
            default_caller: config.default_caller,
            clock,
            lifecycle: config.lifecycle,
            writes: Mutex::new(()),
            counters: Mutex::new(HashMap::new()),
            unavailable: RwLock::new(HashSet::new()),
            policies: PolicyCache::default(),
            scopes: RwLock::new(HashMap::new()),
            opened: OpenReport {
                reconciliation: Ok(Default::default()),
                maintenance: Ok(Default::default()),
            },
            paths,
            _lock: lock,
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

    /// The metadata store (for inspection and for `lockbox audit`).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The configured ARN scope: partition, region, and the default account (the account of
    /// the CLI's default caller, and of keys from before accounts existed).
    pub fn arn_scope(&self) -> &ArnScope {
        &self.scope
    }

    /// A [`Kms`] whose every call is made by `caller`: authorized against each key's policy
    /// and grants, and written to the audit trail.
    pub fn client(&self, caller: Caller) -> crate::EngineClient<'_> {
        crate::EngineClient::new(self, caller)
    }

    /// The same as [`Engine::client`], holding the engine by `Arc`, so the client can be
    /// kept (as an `Arc<dyn Kms>`, say) without borrowing.
    pub fn shared_client(self: &Arc<Self>, caller: Caller) -> crate::EngineClient<'static> {
        crate::EngineClient::shared(Arc::clone(self), caller)
    }

    /// The configured default caller (`[caller] principal`, else the root of the default
    /// account), as a caller from `source`.
    pub fn default_caller(&self, source: &str) -> Caller {
        Caller::new(self.default_caller.clone()).with_source(source)
    }

    /// The ARN scope of `account` (the configured partition and region).
    pub(crate) fn scope_of(&self, account: &str) -> ArnScope {
        if account == self.scope.account() {
            return self.scope.clone();
        }
        if let Some(s) = self.scopes.read().get(account) {
            return s.clone();
        }
        match ArnScope::new(self.scope.partition(), self.scope.region(), account) {
            Ok(s) => {
                self.scopes.write().insert(account.to_owned(), s.clone());
                s
            }
            // Accounts come from validated principals and records; fall back rather than fail.
            Err(_) => self.scope.clone(),
        }
    }

    /// The ARN of key `r`.
    pub(crate) fn arn(&self, r: &KeyRecord) -> KeyArn {
        self.scope_of(&r.account).key_arn(r.id)
    }

    /// The ARN of key `id` in `account`.
    pub(crate) fn key_arn_in(&self, account: &str, id: KeyId) -> KeyArn {
        self.scope_of(account).key_arn(id)
    }

    /// Finds the key a request names, as `call`'s caller sees it: a bare key id or alias
    /// name is looked up in the caller's account; an ARN names its own account.
    pub(crate) fn resolve(
        &self,
        call: &mut Call<'_>,
        key: &KeyRef,
        aliases: Aliases,
    ) -> Result<Arc<KeyRecord>, KmsError> {
        if let (true, Aliases::Refused(op)) = (key.is_alias(), aliases) {
            return Err(KmsError::not_found(format!(
                "{op} does not accept an alias ('{key}'); use the key ID or key ARN"
            )));
        }
        let caller_account = call.caller.account();
        let same_region = |s: &ArnScope| {
            s.partition() == self.scope.partition() && s.region() == self.scope.region()
        };
        let (account, id) = match key {
            KeyRef::Id(id) => (caller_account.to_owned(), *id),
            KeyRef::KeyArn(arn) if same_region(arn.scope()) => {
                (arn.scope().account().to_owned(), arn.key_id())
            }
            KeyRef::KeyArn(arn) => {
                return Err(KmsError::not_found(format!("Key '{arn}' does not exist")));
            }
            KeyRef::Alias(name) => {
                call.alias = Some(name.as_str().to_owned());
                let id = self.alias_target(caller_account, name)?;
                (caller_account.to_owned(), id)
            }
            KeyRef::AliasArn(arn) if same_region(arn.scope()) => {
                call.alias = Some(arn.alias().as_str().to_owned());
                let id = self.alias_target(arn.scope().account(), arn.alias())?;
                (arn.scope().account().to_owned(), id)
            }
            KeyRef::AliasArn(arn) => {
                return Err(KmsError::not_found(format!("Alias {arn} is not found.")));
            }
        };
        match self.record(id)? {
            Some(r) if r.account == account => Ok(r),
            _ => Err(KmsError::not_found(format!(
                "Key '{}' does not exist",
                self.key_arn_in(&account, id)
            ))),
        }
    }

    fn alias_target(&self, account: &str, name: &AliasName) -> Result<KeyId, KmsError> {
        match self
            .store
            .alias(account, name)
            .map_err(|e| from_store("resolve", e))?
        {
            Some(a) => Ok(a.target),
            None => Err(KmsError::not_found(format!(
                "Alias {} is not found.",
                self.scope_of(account).alias_arn(name)
            ))),
        }
    }

    /// The record of key `id`, shared with the store's cache of decoded records: to change
    /// it, take a copy (`Arc::unwrap_or_clone`).
    pub(crate) fn record(&self, id: KeyId) -> Result<Option<Arc<KeyRecord>>, KmsError> {
        self.store
            .key_shared(id)
            .map_err(|e| from_store("read key", e))
    }

    /// Stores a record changed by maintenance (rotation, counting): no caller, no permit.
    pub(crate) fn put(&self, op: &'static str, record: &KeyRecord) -> Result<(), KmsError> {
        self.store.put_key(record).map_err(|e| from_store(op, e))
    }

    /// Stores a record changed by a caller's operation, which `permit` allowed.
    pub(crate) fn put_permitted(
        &self,
        permit: &Permit,
        action: &'static str,
        record: &KeyRecord,
    ) -> Result<(), KmsError> {
        permit.require(record, action)?;
        self.put(action, record)
    }

    pub(crate) fn metadata(&self, r: &KeyRecord) -> KeyMetadata {
        KeyMetadata {
            aws_account_id: r.account.clone(),
            key_id: r.id,
            arn: self.arn(r),
            creation_date: r.created,
            enabled: r.state == KeyState::Enabled,
            description: r.description.clone(),
            key_usage: r.usage,
            key_state: r.state,
            deletion_date: r.deletion.map(|d| d.date),
            origin: r.origin,
            key_manager: KeyManager::Customer,
            key_spec: r.spec,
            encryption_algorithms: keykind::for_spec(r.spec)
                .map(|k| k.encryption_algorithms(r.usage).to_vec())
                .unwrap_or_default(),
            multi_region: false,
            pending_deletion_window_in_days: r.deletion.map(|d| d.window_days),
        }
    }

    /// Applies `change` to key `key_id` under the write lock, after the caller is authorized
    /// for `action` and the key's state allows `u`, and stores the result durably.
    pub(crate) fn modify(
        &self,
        call: &mut Call<'_>,
        action: &'static str,
        key_id: &KeyRef,
        u: Use,
        facts: Facts<'_>,
        change: impl FnOnce(&mut KeyRecord) -> Result<(), KmsError>,
    ) -> Result<KeyRecord, KmsError> {
        let _w = self.writes.lock();
        let mut r =
            Arc::unwrap_or_clone(self.resolve(call, key_id, Aliases::Refused(op_name(action)))?);
        let permit = self.authorize(call, action, &r, facts)?;
        state::check(r.state, u, || self.arn(&r))?;
        change(&mut r)?;
        self.put_permitted(&permit, action, &r)?;
        Ok(r)
    }

    /// The key a cryptographic operation uses, once the caller is authorized for `action`
    /// and the key's state and usage allow it.
    fn usable(
        &self,
        call: &mut Call<'_>,
        action: &'static str,
        key_id: &KeyRef,
        context: &EncryptionContext,
        algorithm: Option<EncryptionAlgorithm>,
    ) -> Result<(Arc<KeyRecord>, Permit), KmsError> {
        let r = self.resolve(call, key_id, Aliases::Accepted)?;
        let permit = self.authorize(call, action, &r, crypto_facts(context, algorithm))?;
        self.check_usable(&r, algorithm)?;
        Ok((r, permit))
    }

    fn check_usable(
        &self,
        r: &KeyRecord,
        algorithm: Option<EncryptionAlgorithm>,
    ) -> Result<(), KmsError> {
        state::check(r.state, Use::Cryptographic, || self.arn(r))?;
        if r.usage != KeyUsage::EncryptDecrypt {
            return Err(KmsError::new(
                ErrorKind::InvalidKeyUsage,
                format!(
                    "{} key usage is {} which is not valid for this operation.",
                    self.arn(r),
                    r.usage
                ),
            ));
        }
        keykind::for_spec(r.spec)?.encryption_algorithm(&|| self.arn(r), r.usage, algorithm)?;
        Ok(())
    }

    /// Encrypts `plaintext` under the current material of `r` into a new blob, as `permit`
    /// (decided for `action` on `r`) allows.
    fn seal(
        &self,
        permit: &Permit,
        action: &'static str,
        r: &KeyRecord,
        ctx: &EncryptionContext,
        what: Sealed,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        permit.require(r, action)?;
        let kind = keykind::for_spec(r.spec)?;
        let material = self.count_encryption(r)?;
        let material = &material;
        if let Err(e) = self.check_available(r, material) {
            self.uncount_encryption(r.id, material.version);
            return Err(e);
        }
        let m = material_ref(r, material);
        let sealed = match what {
            Sealed::Plaintext => kind.encrypt(&self.token, &m, ctx, plaintext),
            Sealed::DataKey => kind.encrypt_data_key(&self.token, &m, ctx, plaintext),
        };
        sealed.map_err(|e| {
            self.uncount_encryption(r.id, material.version);
            self.kind_error("encrypt", r, material, e)
        })
    }

    /// Decrypts a blob for `call`'s caller, who must be authorized for `action` on the key
    /// the blob names: returns the key record and the plaintext.
    fn open_blob(
        &self,
        call: &mut Call<'_>,
        action: &'static str,
        ciphertext: &[u8],
        ctx: &EncryptionContext,
        expected_key: Option<&KeyRef>,
        algorithm: Option<EncryptionAlgorithm>,
    ) -> Result<(Arc<KeyRecord>, Plaintext), KmsError> {
        if ciphertext.is_empty() || ciphertext.len() > MAX_CIPHERTEXT_LEN {
            return Err(KmsError::validation(format!(
                "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy \
                 constraint: Member must have length between 1 and {MAX_CIPHERTEXT_LEN} \
                 (it has {} bytes)",
                ciphertext.len()
            )));
        }
        let expected = match expected_key {
            Some(k) => Some(self.resolve(call, k, Aliases::Accepted)?.id),
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
                    "Key with id {} does not exist: it was deleted",
                    b.key_id
                )),
                Ok(None) => KmsError::invalid_ciphertext(),
                Err(e) => from_store("decrypt", e),
            });
        };
        let permit = self.authorize(call, action, &r, crypto_facts(ctx, algorithm))?;
        self.check_usable(&r, algorithm)?;
        permit.require(&r, action)?;
        let material = r
            .material(b.material_version)
            .ok_or_else(KmsError::invalid_ciphertext)?;
        self.check_available(&r, material)?;
        let out = keykind::for_spec(r.spec)?
            .decrypt(&self.token, &material_ref(&r, material), &b, ctx)
            .map_err(|e| self.kind_error("decrypt", &r, material, e))?;
        Ok((r, Plaintext::from(out)))
    }

    /// Refuses material that reconciliation found missing, without asking the token.
    fn check_available(&self, r: &KeyRecord, m: &Material) -> Result<(), KmsError> {
        if self.unavailable.read().contains(&m.object_id) {
            return Err(missing_material(self.arn(r)));
        }
        Ok(())
    }

    /// A key kind's failure seen by an operation.
    fn kind_error(&self, op: &'static str, r: &KeyRecord, m: &Material, e: KindError) -> KmsError {
        match e {
            KindError::Unsupported(u) => u.into(),
            KindError::Token(e) => self.material_error(op, r, m, e),
        }
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
                missing_material(self.arn(r))
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

    fn data_key(
        &self,
        call: &mut Call<'_>,
        action: &'static str,
        req: &GenerateDataKeyRequest,
    ) -> Result<DataKey, KmsError> {
        self.check_grant_tokens(&req.grant_tokens)?;
        let (r, permit) = self.usable(call, action, &req.key_id, &req.encryption_context, None)?;
        let plaintext = self.random(req.size.byte_len())?;
        let ciphertext_blob = self.seal(
            &permit,
            action,
            &r,
            &req.encryption_context,
            Sealed::DataKey,
            &plaintext,
        )?;
        Ok(DataKey {
            key_arn: self.arn(&r),
            plaintext: Plaintext::from(plaintext),
            ciphertext_blob,
        })
    }
}

/// What a blob is sealed for: the key kind may allow one and not the other (an RSA key
/// encrypts, but makes no data keys).
#[derive(Clone, Copy)]
enum Sealed {
    Plaintext,
    DataKey,
}

/// The material version `m` of `r`, as a key kind takes it.
fn material_ref(r: &KeyRecord, m: &Material) -> MaterialRef {
    MaterialRef {
        spec: r.spec,
        key_id: r.id,
        version: m.version,
        object: ObjectId::from_bytes(m.object_id),
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

impl Engine {
    /// Writes the audit record of a finished call.
    ///
    /// The call's result is not released unless its record is accepted: a log that cannot be
    /// written fails every call (fail closed).
    /// The next request number.
    pub(crate) fn next_request(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::Relaxed)
    }

    /// Request number `n` as a 128-bit request id: this engine's random prefix, then `n`.
    pub(crate) fn request_id(&self, n: u64) -> u128 {
        (u128::from(self.request_prefix) << 64) | u128::from(n)
    }

    pub(crate) fn audit_call(
        &self,
        id: u128,
        call: &Call<'_>,
        op: &'static str,
        context: Option<EncryptionContext>,
        error: Option<&KmsError>,
    ) -> Result<(), KmsError> {
        let record = CallRecord {
            time: self.clock.now(),
            request_id: id,
            caller: call.caller.clone(),
            operation: op,
            key: call.key.clone(),
            context,
            error: error.map(|e| (e.kind().name(), e.message().to_owned())),
            grant: call.grant,
        };
        self.audit.append_call(record).map_err(|e| {
            tracing::error!(error = %e, op, "the audit trail refused a record; failing the call");
            KmsError::internal("The audit trail could not be written; the call was not completed.")
        })
    }

    /// The audit trail (to flush or seal it on demand; `lockbox audit` reads it).
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }
}

/// The facts a cryptographic operation tells its decision: context and algorithm.
fn crypto_facts(ctx: &EncryptionContext, algorithm: Option<EncryptionAlgorithm>) -> Facts<'_> {
    Facts {
        context: Some(ctx),
        algorithm: Some(
            algorithm
                .unwrap_or(EncryptionAlgorithm::SymmetricDefault)
                .as_str(),
        ),
        extra: Vec::new(),
        new_grant: None,
    }
}

/// `kms:Encrypt` -> `Encrypt`.
pub(crate) fn op_name(action: &'static str) -> &'static str {
    action.strip_prefix("kms:").unwrap_or(action)
}
impl Engine {
    pub(crate) fn create_key(
        &self,
        call: &mut Call<'_>,
        req: CreateKeyRequest,
    ) -> Result<CreateKeyResponse, KmsError> {
        let account = call.caller.account().to_owned();
        let permit = self.authorize_account(call, "kms:CreateKey", &account)?;
        check_description(&req.description)?;
        let policy = match &req.policy {
            Some(doc) => Some(crate::access::parse_policy(doc)?),
            None => None,
        };
        let spec = req.key_spec.unwrap_or(KeySpec::SymmetricDefault);
        let origin = req.origin.unwrap_or(Origin::AwsKms);
        let kind = keykind::for_spec(spec)?;
        let usage = req.key_usage.unwrap_or(kind.default_usage());
        kind.check_usage(spec, usage)?;
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
        if let Some(policy) = &policy
            && !req.bypass_policy_lockout_safety_check
        {
            self.check_lockout(call, &self.key_arn_in(&account, id), policy)?;
        }
        let now = self.clock.now();
        permit.require_account("kms:CreateKey")?;
        let _w = self.writes.lock();
        // Token first, metadata second: a crash in between leaves an orphan object, never a
        // record that names missing material.
        let object = kind
            .generate_material(&self.token, spec, usage, &format!("{id}/1"))
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
            account,
            policy: req.policy,
        };
        call.key = Some(self.arn(&record));
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

    pub(crate) fn describe_key(
        &self,
        call: &mut Call<'_>,
        req: DescribeKeyRequest,
    ) -> Result<DescribeKeyResponse, KmsError> {
        self.check_grant_tokens(&req.grant_tokens)?;
        let r = self.resolve(call, &req.key_id, Aliases::Accepted)?;
        let permit = self.authorize(call, "kms:DescribeKey", &r, Facts::default())?;
        permit.require(&r, "kms:DescribeKey")?;
        Ok(DescribeKeyResponse {
            key_metadata: self.metadata(&r),
        })
    }

    pub(crate) fn list_keys(
        &self,
        call: &mut Call<'_>,
        req: ListKeysRequest,
    ) -> Result<ListKeysResponse, KmsError> {
        let account = call.caller.account().to_owned();
        let permit = self.authorize_account(call, "kms:ListKeys", &account)?;
        permit.require_account("kms:ListKeys")?;
        let limit = check_limit(req.limit, 1000, 100)?;
        let after = match &req.marker {
            Some(m) => Some(KeyId::parse(m).map_err(|_| invalid_marker())?),
            None => None,
        };
        let page = self
            .store
            .keys_page(Some(&account), after, limit)
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
                    key_arn: self.arn(r),
                })
                .collect(),
            truncated: next_marker.is_some(),
            next_marker,
        })
    }

    pub(crate) fn update_key_description(
        &self,
        call: &mut Call<'_>,
        req: UpdateKeyDescriptionRequest,
    ) -> Result<(), KmsError> {
        check_description(&req.description)?;
        let action = "kms:UpdateKeyDescription";
        self.modify(
            call,
            action,
            &req.key_id,
            Use::Manage,
            Facts::default(),
            |r| {
                r.description = req.description;
                Ok(())
            },
        )?;
        Ok(())
    }

    pub(crate) fn enable_key(
        &self,
        call: &mut Call<'_>,
        req: EnableKeyRequest,
    ) -> Result<(), KmsError> {
        let action = "kms:EnableKey";
        self.modify(
            call,
            action,
            &req.key_id,
            Use::Manage,
            Facts::default(),
            |r| {
                r.state = KeyState::Enabled;
                Ok(())
            },
        )?;
        Ok(())
    }

    pub(crate) fn disable_key(
        &self,
        call: &mut Call<'_>,
        req: DisableKeyRequest,
    ) -> Result<(), KmsError> {
        let action = "kms:DisableKey";
        self.modify(
            call,
            action,
            &req.key_id,
            Use::Manage,
            Facts::default(),
            |r| {
                r.state = KeyState::Disabled;
                Ok(())
            },
        )?;
        Ok(())
    }

    pub(crate) fn schedule_key_deletion(
        &self,
        call: &mut Call<'_>,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError> {
        let window = req.pending_window_in_days.unwrap_or(30);
        if !(7..=30).contains(&window) {
            return Err(KmsError::validation(format!(
                "PendingWindowInDays must be between 7 and 30 (it is {window})"
            )));
        }
        let date = self.clock.now().plus_days(window);
        let facts = Facts {
            extra: vec![(
                "kms:ScheduleKeyDeletionPendingWindowInDays",
                Value::Number(i64::from(window)),
            )],
            ..Facts::default()
        };
        let action = "kms:ScheduleKeyDeletion";
        let r = self.modify(call, action, &req.key_id, Use::Manage, facts, |r| {
            r.state = KeyState::PendingDeletion;
            r.deletion = Some(lockbox_store::Deletion {
                date,
                window_days: window,
            });
            Ok(())
        })?;
        tracing::info!(key = %r.id, days = window, "key deletion scheduled");
        Ok(ScheduleKeyDeletionResponse {
            key_id: self.arn(&r),
            deletion_date: date,
            key_state: KeyState::PendingDeletion,
            pending_window_in_days: window,
        })
    }

    pub(crate) fn cancel_key_deletion(
        &self,
        call: &mut Call<'_>,
        req: CancelKeyDeletionRequest,
    ) -> Result<CancelKeyDeletionResponse, KmsError> {
        let action = "kms:CancelKeyDeletion";
        let facts = Facts::default();
        let r = self.modify(call, action, &req.key_id, Use::CancelDeletion, facts, |r| {
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
                        self.arn(r)
                    ),
                ));
            }
            r.state = KeyState::Disabled;
            r.deletion = None;
            Ok(())
        })?;
        Ok(CancelKeyDeletionResponse {
            key_id: self.arn(&r),
        })
    }

    pub(crate) fn create_alias(
        &self,
        call: &mut Call<'_>,
        req: AliasRequest,
    ) -> Result<(), KmsError> {
        check_alias_writable(&req.alias_name)?;
        let account = call.caller.account().to_owned();
        let _w = self.writes.lock();
        let target = self.resolve(call, &req.target_key_id, Aliases::Refused("CreateAlias"))?;
        let permit = self.authorize(call, "kms:CreateAlias", &target, Facts::default())?;
        if target.account != account {
            return Err(KmsError::new(
                ErrorKind::AccessDenied,
                "An alias must be in the same account as the key it points to.",
            ));
        }
        state::check(target.state, Use::Manage, || self.arn(&target))?;
        permit.require(&target, "kms:CreateAlias")?;
        match self
            .store
            .create_alias(&account, &req.alias_name, target.id, self.clock.now())
        {
            Ok(()) => Ok(()),
            Err(StoreError::AliasExists) => Err(KmsError::new(
                ErrorKind::AlreadyExists,
                format!(
                    "An alias with the name {} already exists",
                    self.scope_of(&account).alias_arn(&req.alias_name)
                ),
            )),
            Err(StoreError::KeyMissing) => Err(KmsError::not_found(format!(
                "Key '{}' does not exist",
                self.arn(&target)
            ))),
            Err(e) => Err(from_store("create alias", e)),
        }
    }

    pub(crate) fn update_alias(
        &self,
        call: &mut Call<'_>,
        req: AliasRequest,
    ) -> Result<(), KmsError> {
        check_alias_writable(&req.alias_name)?;
        let account = call.caller.account().to_owned();
        let _w = self.writes.lock();
        let alias_missing = || {
            KmsError::not_found(format!(
                "Alias {} is not found.",
                self.scope_of(&account).alias_arn(&req.alias_name)
            ))
        };
        let current = self
            .store
            .alias(&account, &req.alias_name)
            .map_err(|e| from_store("update alias", e))?
            .ok_or_else(alias_missing)?;
        // The caller needs kms:UpdateAlias on both the key the alias leaves and the key it
        // goes to.
        let old = self.record(current.target)?;
        if let Some(old) = &old {
            self.authorize(call, "kms:UpdateAlias", old, Facts::default())?;
        }
        let target = self.resolve(call, &req.target_key_id, Aliases::Refused("UpdateAlias"))?;
        let permit = self.authorize(call, "kms:UpdateAlias", &target, Facts::default())?;
        if target.account != account {
            return Err(KmsError::new(
                ErrorKind::AccessDenied,
                "An alias must be in the same account as the key it points to.",
            ));
        }
        state::check(target.state, Use::Manage, || self.arn(&target))?;
        if let Some(old) = &old
            && (old.spec != target.spec || old.usage != target.usage)
        {
            return Err(KmsError::validation(format!(
                "The alias {} points to a {} {} key; its new target must be of the same key \
                 spec and usage",
                req.alias_name, old.spec, old.usage
            )));
        }
        permit.require(&target, "kms:UpdateAlias")?;
        match self
            .store
            .update_alias(&account, &req.alias_name, target.id, self.clock.now())
        {
            Ok(()) => Ok(()),
            Err(StoreError::AliasMissing) => Err(alias_missing()),
            Err(StoreError::KeyMissing) => Err(KmsError::not_found(format!(
                "Key '{}' does not exist",
                self.arn(&target)
            ))),
            Err(e) => Err(from_store("update alias", e)),
        }
    }

    pub(crate) fn delete_alias(
        &self,
        call: &mut Call<'_>,
        req: DeleteAliasRequest,
    ) -> Result<(), KmsError> {
        let account = call.caller.account().to_owned();
        let _w = self.writes.lock();
        let alias_missing = || {
            KmsError::not_found(format!(
                "Alias {} is not found.",
                self.scope_of(&account).alias_arn(&req.alias_name)
            ))
        };
        let current = self
            .store
            .alias(&account, &req.alias_name)
            .map_err(|e| from_store("delete alias", e))?
            .ok_or_else(alias_missing)?;
        let target = self.record(current.target)?.ok_or_else(alias_missing)?;
        let permit = self.authorize(call, "kms:DeleteAlias", &target, Facts::default())?;
        permit.require(&target, "kms:DeleteAlias")?;
        match self.store.delete_alias(&account, &req.alias_name) {
            Ok(()) => Ok(()),
            Err(StoreError::AliasMissing) => Err(alias_missing()),
            Err(e) => Err(from_store("delete alias", e)),
        }
    }

    pub(crate) fn list_aliases(
        &self,
        call: &mut Call<'_>,
        req: ListAliasesRequest,
    ) -> Result<ListAliasesResponse, KmsError> {
        let account = call.caller.account().to_owned();
        let permit = self.authorize_account(call, "kms:ListAliases", &account)?;
        let limit = check_limit(req.limit, 100, 50)?;
        let target = match &req.key_id {
            Some(k) => {
                let r = self.resolve(call, k, Aliases::Refused("ListAliases"))?;
                if r.account != account {
                    return Err(KmsError::not_found(format!(
                        "Key '{}' does not exist",
                        self.key_arn_in(&account, r.id)
                    )));
                }
                Some(r.id)
            }
            None => None,
        };
        let after = match &req.marker {
            Some(m) => Some(AliasName::parse(m).map_err(|_| invalid_marker())?),
            None => None,
        };
        permit.require_account("kms:ListAliases")?;
        let page = self
            .store
            .aliases_page(
                &account,
                after.as_ref().map(AliasName::as_str),
                limit,
                target,
            )
            .map_err(|e| from_store("list aliases", e))?;
        let next_marker = match (page.more, page.items.last()) {
            (true, Some((name, _))) => Some(name.to_string()),
            _ => None,
        };
        let scope = self.scope_of(&account);
        Ok(ListAliasesResponse {
            aliases: page
                .items
                .into_iter()
                .map(|(name, a)| AliasListEntry {
                    alias_arn: scope.alias_arn(&name),
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

    pub(crate) fn tag_resource(
        &self,
        call: &mut Call<'_>,
        req: TagResourceRequest,
    ) -> Result<(), KmsError> {
        let action = "kms:TagResource";
        self.modify(
            call,
            action,
            &req.key_id,
            Use::Manage,
            Facts::default(),
            |r| merge_tags(&mut r.tags, &req.tags),
        )?;
        Ok(())
    }

    pub(crate) fn untag_resource(
        &self,
        call: &mut Call<'_>,
        req: UntagResourceRequest,
    ) -> Result<(), KmsError> {
        for k in &req.tag_keys {
            check_tag_key(k)?;
        }
        let action = "kms:UntagResource";
        self.modify(
            call,
            action,
            &req.key_id,
            Use::Manage,
            Facts::default(),
            |r| {
                r.tags
                    .retain(|t| !req.tag_keys.iter().any(|k| k == t.key()));
                Ok(())
            },
        )?;
        Ok(())
    }

    pub(crate) fn list_resource_tags(
        &self,
        call: &mut Call<'_>,
        req: ListResourceTagsRequest,
    ) -> Result<ListResourceTagsResponse, KmsError> {
        let limit = check_limit(req.limit, 50, 50)?;
        let r = self.resolve(call, &req.key_id, Aliases::Refused("ListResourceTags"))?;
        let permit = self.authorize(call, "kms:ListResourceTags", &r, Facts::default())?;
        permit.require(&r, "kms:ListResourceTags")?;
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

    pub(crate) fn encrypt(
        &self,
        call: &mut Call<'_>,
        req: EncryptRequest,
    ) -> Result<EncryptResponse, KmsError> {
        let n = req.plaintext.len();
        if n == 0 || n > MAX_PLAINTEXT_LEN {
            return Err(KmsError::validation(format!(
                "1 validation error detected: Value at 'plaintext' failed to satisfy \
                 constraint: Member must have length between 1 and {MAX_PLAINTEXT_LEN} \
                 (it has {n} bytes)"
            )));
        }
        self.check_grant_tokens(&req.grant_tokens)?;
        let action = "kms:Encrypt";
        let (r, permit) = self.usable(
            call,
            action,
            &req.key_id,
            &req.encryption_context,
            req.encryption_algorithm,
        )?;
        let ciphertext_blob = self.seal(
            &permit,
            action,
            &r,
            &req.encryption_context,
            Sealed::Plaintext,
            req.plaintext.expose_secret(),
        )?;
        Ok(EncryptResponse {
            ciphertext_blob,
            key_id: self.arn(&r),
            encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
        })
    }

    pub(crate) fn decrypt(
        &self,
        call: &mut Call<'_>,
        req: DecryptRequest,
    ) -> Result<DecryptResponse, KmsError> {
        self.check_grant_tokens(&req.grant_tokens)?;
        let (r, plaintext) = self.open_blob(
            call,
            "kms:Decrypt",
            &req.ciphertext_blob,
            &req.encryption_context,
            req.key_id.as_ref(),
            req.encryption_algorithm,
        )?;
        Ok(DecryptResponse {
            key_id: self.arn(&r),
            plaintext,
            encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
        })
    }

    pub(crate) fn re_encrypt(
        &self,
        call: &mut Call<'_>,
        req: ReEncryptRequest,
    ) -> Result<ReEncryptResponse, KmsError> {
        self.check_grant_tokens(&req.grant_tokens)?;
        let to = "kms:ReEncryptTo";
        let (destination, permit) = self.usable(
            call,
            to,
            &req.destination_key_id,
            &req.destination_encryption_context,
            req.destination_encryption_algorithm,
        )?;
        let destination_arn = call.key.take();
        let (source, plaintext) = self.open_blob(
            call,
            "kms:ReEncryptFrom",
            &req.ciphertext_blob,
            &req.source_encryption_context,
            req.source_key_id.as_ref(),
            req.source_encryption_algorithm,
        )?;
        let ciphertext_blob = self.seal(
            &permit,
            to,
            &destination,
            &req.destination_encryption_context,
            Sealed::Plaintext,
            plaintext.expose_secret(),
        )?;
        // The audit record names the source key (the one whose blob was opened), as AWS does.
        if call.key.is_none() {
            call.key = destination_arn;
        }
        Ok(ReEncryptResponse {
            ciphertext_blob,
            source_key_id: self.arn(&source),
            key_id: self.arn(&destination),
            source_encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
            destination_encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
        })
    }

    pub(crate) fn generate_data_key(
        &self,
        call: &mut Call<'_>,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        let dk = self.data_key(call, "kms:GenerateDataKey", &req)?;
        Ok(GenerateDataKeyResponse {
            ciphertext_blob: dk.ciphertext_blob,
            plaintext: dk.plaintext,
            key_id: dk.key_arn,
        })
    }

    pub(crate) fn generate_data_key_without_plaintext(
        &self,
        call: &mut Call<'_>,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse, KmsError> {
        // The plaintext key is dropped (and zeroized) here, unseen.
        let dk = self.data_key(call, "kms:GenerateDataKeyWithoutPlaintext", &req)?;
        Ok(GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob: dk.ciphertext_blob,
            key_id: dk.key_arn,
        })
    }

    pub(crate) fn generate_random(
        &self,
        call: &mut Call<'_>,
        req: GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse, KmsError> {
        let account = call.caller.account().to_owned();
        let permit = self.authorize_account(call, "kms:GenerateRandom", &account)?;
        permit.require_account("kms:GenerateRandom")?;
        Ok(GenerateRandomResponse {
            plaintext: Plaintext::from(self.random(req.number_of_bytes.get())?),
        })
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
