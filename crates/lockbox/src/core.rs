//! The engine's core: the [`Engine`] value and what every operation stands on. Assembling an
//! engine from its token, store and audit trail; finding the key a request names (`resolve`,
//! `record`); the durable write of a record (`put`); the per-call context ([`Call`]); key
//! metadata as the API shows it; request ids and the audit record of a call.
//!
//! Core imports none of `authz`, `lifecycle` or `ops`: those build on it. The state they keep
//! in the engine (the encryption counters, the parsed-policy cache) is declared here as plain
//! data and worked on there.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lockbox_api::*;
use lockbox_store::{Family, KeyRecord, KeySlot, Material, Store, StoreError};
use lockbox_token::{Token, TokenError};
use parking_lot::{Mutex, RwLock};
use zeroize::Zeroizing;

use crate::audit::{AuditLog, CallRecord};
use crate::clock::Clock;
use crate::config::{Config, Lifecycle, Regions};
use crate::error::{Error, from_store, from_token};
use crate::keykind;
use crate::lock::DataDirLock;
use crate::policy::Policy;

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
    // The Regions served (`[arn] regions`); the configured Region always is.
    regions: Regions,
    default_caller: Principal,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) lifecycle: Lifecycle,
    // Which sealed audit segments maintenance exports and prunes (`[audit] retention`).
    pub(crate) retention: crate::audit::Retention,
    // Serializes read-modify-write of records (and creation, rotation, deletion and
    // reconciliation), so concurrent mutations cannot lose each other's changes and
    // reconciliation never sees a key half-made. Cryptographic operations take it only to
    // reserve encryption counts. Lock order: `counters`, then `writes`.
    // Shared with the reconciliation thread started at open (`reconcile::Reconciler`).
    pub(crate) writes: Arc<Mutex<()>>,
    // Encryptions per material version since this engine opened (`lifecycle` counts), keyed
    // by the version's token object: the members of a multi-Region family share their
    // material, and its allowance is the family's, not each member's.
    pub(crate) counters: Mutex<HashMap<[u8; 16], Counter>>,
    // CKA_IDs of material that reconciliation found missing from the token.
    pub(crate) unavailable: Arc<RwLock<HashSet<[u8; 16]>>>,
    // Parsed key policies (`authz` fills and reads it).
    pub(crate) policies: PolicyCache,
    // ARN scopes per (account, Region), in the configured partition.
    scopes: RwLock<HashMap<(String, String), ArnScope>>,
    // What opening found and did: complete once the background reconciliation has finished
    // (`Engine::open_report` waits for it); until then its parts are in `at_open`.
    pub(crate) opened: std::sync::OnceLock<crate::report::OpenReport>,
    pub(crate) at_open: Mutex<Option<crate::report::AtOpen>>,
    // Where the data directory is, and what a backup copies from it.
    pub(crate) paths: DataPaths,
    // The data directory's lock, held from before the token is touched; last, so it is
    // released after everything above has been dropped.
    _lock: DataDirLock,
}

/// How many times a change that conflicted with another node's (the record changed since it
/// was read) is read again and redone before the call gives up.
pub(crate) const CONFLICT_RETRIES: u32 = 16;

/// The data directory of an engine, as backups need it.
pub(crate) struct DataPaths {
    pub(crate) data_dir: std::path::PathBuf,
    // This directory provisioned its own SoftHSM token (`softhsm/` under it).
    pub(crate) provisioned_softhsm: bool,
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

/// In-memory encryption count of one material version (`lifecycle` keeps the counts).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Counter {
    /// Encryptions counted so far (starts at the durable reservation: after a restart, every
    /// reserved encryption is assumed used).
    pub(crate) used: u64,
    /// Encryptions the store durably allows for.
    pub(crate) reserved: u64,
    /// The key and version counted, to give back an unused reservation on close
    /// (`Engine::release_reservations`).
    pub(crate) slot: KeySlot,
    pub(crate) version: u32,
}

/// Parsed policies, so that a call parses none: per key (checked against the record's
/// document) and the default policy per account. `authz` fills and reads it.
#[derive(Default)]
pub(crate) struct PolicyCache {
    pub(crate) keys: RwLock<HashMap<KeyId, (String, Arc<Policy>)>>,
    pub(crate) defaults: RwLock<HashMap<String, Arc<Policy>>>,
}

/// One call in progress: who makes it, which operation, and what the audit trail should say
/// about it.
pub(crate) struct Call<'a> {
    pub(crate) caller: &'a Caller,
    /// The operation (its row of the table: key states, name).
    pub(crate) op: Operation,
    /// The key the call acted on, once resolved (for the audit record).
    pub(crate) key: Option<KeyArn>,
    /// The alias the request named the key by, if it did (`kms:RequestAlias`).
    pub(crate) alias: Option<String>,
    /// The grant that allowed the call, if one did.
    pub(crate) grant: Option<[u8; 32]>,
    /// The request set `DryRun`: the call stops at [`Call::proceed`].
    pub(crate) dry_run: bool,
    /// Further audit events a successful call leaves, as AWS's CloudTrail records them in
    /// another Region: (event name, the key it concerns). ReplicateKey's CreateKey of the
    /// replica; UpdatePrimaryRegion's event at the new primary.
    pub(crate) also: Vec<(&'static str, KeyArn)>,
    /// What each authorization of the call rested on: the key record as read, and the grant
    /// that allowed it, if one did (strict consistency checks them again before the call
    /// answers).
    pub(crate) basis: Vec<(Arc<KeyRecord>, Option<[u8; 32]>)>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(caller: &'a Caller, op: Operation) -> Self {
        Call {
            caller,
            op,
            key: None,
            alias: None,
            grant: None,
            dry_run: false,
            also: Vec::new(),
            basis: Vec::new(),
        }
    }

    /// The point of no return of an operation that has `DryRun`: every check that decides
    /// whether the call succeeds (validation, key resolution, key state, usage and
    /// algorithm, authorization with grants and conditions) is behind it, and all its
    /// cryptography and writes after it. Under DryRun the call ends here, with AWS's
    /// `DryRunOperationException`, having done nothing.
    pub(crate) fn proceed(&self) -> Result<(), KmsError> {
        if self.dry_run {
            return Err(KmsError::dry_run());
        }
        Ok(())
    }
}

/// Whether an operation accepts an alias (name or ARN) where it takes a key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aliases {
    Accepted,
    /// Refused, naming the call's operation.
    Refused,
}

impl Engine {
    /// Assembles an engine on a data directory whose lock `lock` is held: opens the token
    /// and the metadata store named by `config` and the audit trail. Runs no pass
    /// (`Engine::open_with_clock` runs them).
    pub(crate) fn assemble(
        config: Config,
        clock: Arc<dyn Clock>,
        lock: DataDirLock,
    ) -> Result<Engine, Error> {
        let paths = DataPaths::of(&config);
        let token = Arc::new(crate::lock::open_token(&config)?);
        let metadata = config.data_dir.join("metadata");
        let store = Arc::new(match &config.store {
            crate::StoreConfig::Sled => Store::open(&metadata)?,
            crate::StoreConfig::Postgres(pg) => Store::open_postgres(&pg.options()?, &metadata)?,
        });
        // Records and aliases from before accounts existed belong to the configured account.
        let adopted = store.assign_owner(config.arn.account())?;
        if adopted > 0 {
            tracing::info!(
                records = adopted,
                account = config.arn.account(),
                "gave records from before accounts existed to the configured account"
            );
        }
        // Records and aliases from before Regions existed belong to the configured Region.
        let moved = store.assign_region(config.arn.region())?;
        if moved > 0 {
            tracing::info!(
                records_and_aliases = moved,
                region = config.arn.region(),
                "gave records and aliases from before Regions existed to the configured Region"
            );
        }
        Ok(Engine {
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
            regions: config.regions,
            default_caller: config.default_caller,
            clock,
            lifecycle: config.lifecycle,
            retention: config.audit_retention,
            writes: Arc::new(Mutex::new(())),
            counters: Mutex::new(HashMap::new()),
            unavailable: Arc::new(RwLock::new(HashSet::new())),
            policies: PolicyCache::default(),
            scopes: RwLock::new(HashMap::new()),
            opened: std::sync::OnceLock::new(),
            at_open: Mutex::new(None),
            paths,
            _lock: lock,
        })
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

    /// The configured default caller (`[caller] principal`, else the root of the default
    /// account), as a caller from `source`.
    pub fn default_caller(&self, source: &str) -> Caller {
        Caller::new(self.default_caller.clone()).with_source(source)
    }

    /// The audit trail (to flush or seal it on demand; `lockbox audit` reads it).
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Whether this installation serves Region `region` (`[arn] regions`; the configured
    /// Region always).
    pub fn serves_region(&self, region: &str) -> bool {
        region == self.scope.region() || self.regions.serves(region)
    }

    /// The Regions served, as a refusal names them.
    pub fn served_regions(&self) -> String {
        self.regions.describe(self.scope.region())
    }

    /// The Region `caller` addresses: its own, else the configured one. A Region this
    /// installation does not serve is refused (ValidationException naming those it serves).
    pub(crate) fn region_of<'c>(&'c self, caller: &'c Caller) -> Result<&'c str, KmsError> {
        match caller.region() {
            None => Ok(self.scope.region()),
            Some(r) if self.serves_region(r) => Ok(r),
            Some(r) => Err(KmsError::validation(format!(
                "Region '{}' is not served by this installation; it serves {}",
                shorten(r),
                self.served_regions()
            ))),
        }
    }

    /// The Region of a call (its caller's, checked when the call began).
    pub(crate) fn call_region<'c>(&'c self, call: &Call<'c>) -> &'c str {
        call.caller.region().unwrap_or(self.scope.region())
    }

    /// The ARN scope of `account` in `region` (the configured partition).
    pub(crate) fn scope_of(&self, account: &str, region: &str) -> ArnScope {
        if account == self.scope.account() && region == self.scope.region() {
            return self.scope.clone();
        }
        let k = (account.to_owned(), region.to_owned());
        if let Some(s) = self.scopes.read().get(&k) {
            return s.clone();
        }
        match ArnScope::new(self.scope.partition(), region, account) {
            Ok(s) => {
                self.scopes.write().insert(k, s.clone());
                s
            }
            // Accounts and Regions come from validated principals, callers and records; fall
            // back rather than fail.
            Err(_) => self.scope.clone(),
        }
    }

    /// The ARN of key `r` (its account and Region).
    pub(crate) fn arn(&self, r: &KeyRecord) -> KeyArn {
        self.scope_of(&r.account, self.region_of_record(r))
            .key_arn(r.id)
    }

    /// The Region key `r` belongs to (records are given one at open; the configured Region
    /// for one that somehow has none).
    pub(crate) fn region_of_record<'r>(&'r self, r: &'r KeyRecord) -> &'r str {
        if r.region.is_empty() {
            self.scope.region()
        } else {
            &r.region
        }
    }

    /// The ARN of key `id` in `account` and `region`.
    pub(crate) fn key_arn_in(&self, account: &str, region: &str, id: KeyId) -> KeyArn {
        self.scope_of(account, region).key_arn(id)
    }

    /// Finds the key a request names, as `call`'s caller sees it: a bare key id or alias
    /// name is looked up in the caller's account; an ARN names its own account.
    pub(crate) fn resolve(
        &self,
        call: &mut Call<'_>,
        key: &KeyRef,
        aliases: Aliases,
    ) -> Result<Arc<KeyRecord>, KmsError> {
        if key.is_alias() && aliases == Aliases::Refused {
            return Err(KmsError::not_found(format!(
                "{} does not accept an alias ('{key}'); use the key ID or key ARN",
                call.op.name()
            )));
        }
        let region = self.call_region(call);
        self.resolve_in(call.caller.account(), region, key, &mut call.alias)
    }

    /// Finds the key `key` names as seen from `caller_account` in `region` (aliases
    /// accepted); an alias it went through is left in `alias`. Keys of other Regions do not
    /// exist for it, as in AWS.
    pub(crate) fn resolve_in(
        &self,
        caller_account: &str,
        region: &str,
        key: &KeyRef,
        alias: &mut Option<String>,
    ) -> Result<Arc<KeyRecord>, KmsError> {
        let same_region =
            |s: &ArnScope| s.partition() == self.scope.partition() && s.region() == region;
        let (account, id) = match key {
            KeyRef::Id(id) => (caller_account.to_owned(), *id),
            KeyRef::KeyArn(arn) if same_region(arn.scope()) => {
                (arn.scope().account().to_owned(), arn.key_id())
            }
            // An ARN of another Region: AWS's words ("Invalid arn us-west-2").
            KeyRef::KeyArn(arn) if arn.scope().region() != region => {
                return Err(invalid_arn_region(arn.scope()));
            }
            KeyRef::KeyArn(arn) => {
                return Err(KmsError::not_found(format!("Key '{arn}' does not exist")));
            }
            KeyRef::Alias(name) => {
                *alias = Some(name.as_str().to_owned());
                let id = self.alias_target(caller_account, region, name)?;
                (caller_account.to_owned(), id)
            }
            KeyRef::AliasArn(arn) if same_region(arn.scope()) => {
                *alias = Some(arn.alias().as_str().to_owned());
                let id = self.alias_target(arn.scope().account(), region, arn.alias())?;
                (arn.scope().account().to_owned(), id)
            }
            KeyRef::AliasArn(arn) if arn.scope().region() != region => {
                return Err(invalid_arn_region(arn.scope()));
            }
            KeyRef::AliasArn(arn) => {
                return Err(KmsError::not_found(format!("Alias {arn} is not found.")));
            }
        };
        match self.record_in(id, region)? {
            Some(r) if r.account == account && self.region_of_record(&r) == region => Ok(r),
            _ => Err(KmsError::not_found(format!(
                "Key '{}' does not exist",
                self.key_arn_in(&account, region, id)
            ))),
        }
    }

    fn alias_target(
        &self,
        account: &str,
        region: &str,
        name: &AliasName,
    ) -> Result<KeyId, KmsError> {
        match self
            .store
            .alias(account, region, name)
            .map_err(|e| from_store("resolve", e))?
        {
            Some(a) => Ok(a.target),
            None => Err(KmsError::not_found(format!(
                "Alias {} is not found.",
                self.scope_of(account, region).alias_arn(name)
            ))),
        }
    }

    /// The record kept in `slot`, shared with the store's cache of decoded records: to change
    /// it, take a copy (`Arc::unwrap_or_clone`).
    pub(crate) fn record(&self, slot: KeySlot) -> Result<Option<Arc<KeyRecord>>, KmsError> {
        self.store
            .key_shared(slot)
            .map_err(|e| from_store("read key", e))
    }

    /// The record of key `id` in `region` (a single-Region key's slot is its id, wherever it
    /// is: the caller checks the Region).
    pub(crate) fn record_in(
        &self,
        id: KeyId,
        region: &str,
    ) -> Result<Option<Arc<KeyRecord>>, KmsError> {
        self.record(KeySlot::of(id, region))
    }

    /// Stores a record durably. Callers: creation (no key to authorize on yet), maintenance
    /// (rotation, counting, no caller), and `authz`'s writes, which take an `Authorized`.
    /// Called with the write lock held.
    ///
    /// A member of a multi-Region family is written with every other member, in one
    /// transaction, each given `record`'s shared properties ([`share_properties`]): whatever
    /// changed them (a rotation, a rotation setting, an encryption reservation), the family
    /// stays one. `record` is always read under the write lock before it is changed, so its
    /// shared properties are the family's newest.
    pub(crate) fn put(&self, op: &'static str, record: &KeyRecord) -> Result<(), KmsError> {
        if self.try_put(op, record)? {
            Ok(())
        } else {
            Err(from_store(op, StoreError::Conflict))
        }
    }

    /// As [`Engine::put`], but a record (or a family member) that another writer changed since
    /// it was read is reported as `Ok(false)`, with nothing written: the caller reads the
    /// record again ([`Engine::record_fresh`]) and redoes its change, or gives up.
    pub(crate) fn try_put(&self, op: &'static str, record: &KeyRecord) -> Result<bool, KmsError> {
        let written = if record.family.as_ref().is_none_or(|f| f.replicas.is_empty()) {
            self.store.put_key(record)
        } else {
            let mut all = self.other_members(record)?;
            for m in &mut all {
                share_properties(record, m);
            }
            all.push(record.clone());
            let written = self.store.put_keys(&all);
            if written.is_ok() {
                all.iter().for_each(|m| self.drop_session_copies(m));
            }
            written
        };
        match written {
            Ok(()) => {
                self.drop_session_copies(record);
                Ok(true)
            }
            Err(StoreError::Conflict) => {
                tracing::debug!(op, key = %record.id,
                    "the key record changed since it was read (another node); reading it again");
                Ok(false)
            }
            Err(e) => Err(from_store(op, e)),
        }
    }

    /// Destroys the token's session copies of `r`'s material that may no longer be used
    /// from a copy, now that `r` is durably what it says: every version's, unless the key is
    /// Enabled (disabled, deletion scheduled or pending, ...); otherwise every version's but
    /// the current one (rotated away from: decryption of older ciphertexts uses the token
    /// object, or a copy made again on use). Every record write passes here, so no path that
    /// changes a key's state or rotates it can miss it. The engine's own check of the record
    /// before each token call is what keeps an unusable key unused; this keeps its copies
    /// from living on (see docs/SECURITY.md). `authorize` calls it too when it refuses a key
    /// for its state, which is how a node learns of a change another node wrote.
    pub(crate) fn drop_session_copies(&self, r: &KeyRecord) {
        if !self.token.session_copies_enabled() {
            return;
        }
        let usable = r.state == KeyState::Enabled;
        let current = r.current_material().map(|m| m.object_id);
        for m in &r.materials {
            if !usable || Some(m.object_id) != current {
                self.token
                    .forget_copy(&lockbox_token::ObjectId::from_bytes(m.object_id));
            }
        }
    }

    /// The record kept in `slot` as the store holds it now, not as this node cached it
    /// (after a conflict: another node changed it).
    pub(crate) fn record_fresh(&self, slot: KeySlot) -> Result<Option<Arc<KeyRecord>>, KmsError> {
        self.store
            .key_fresh(slot)
            .map_err(|e| from_store("read key", e))
    }

    /// The records of the other members of `r`'s multi-Region family (none for a key that
    /// has no replicas). A member the family lists but the store lacks is skipped: the
    /// family's records are written together, so this happens only to a damaged store.
    pub(crate) fn other_members(&self, r: &KeyRecord) -> Result<Vec<KeyRecord>, KmsError> {
        let Some(family) = &r.family else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for region in family.regions().filter(|g| *g != r.region) {
            match self.record_in(r.id, region)? {
                Some(m) => out.push(Arc::unwrap_or_clone(m)),
                None => tracing::error!(key = %r.id, region,
                    "a multi-Region key's family lists a member the store does not have"),
            }
        }
        Ok(out)
    }

    pub(crate) fn metadata(&self, r: &KeyRecord) -> KeyMetadata {
        let kind = keykind::for_spec(r.spec).ok();
        let state = r.state_at(self.clock.now());
        let current = r.current_material();
        let imported = current.and_then(|m| r.imported(m.version));
        KeyMetadata {
            aws_account_id: r.account.clone(),
            key_id: r.id,
            arn: self.arn(r),
            creation_date: r.created,
            enabled: state == KeyState::Enabled,
            description: r.description.clone(),
            key_usage: r.usage,
            key_state: state,
            // A primary waiting for its replicas' deletion has no date yet (AWS omits it).
            deletion_date: r
                .deletion
                .filter(|_| r.state != KeyState::PendingReplicaDeletion)
                .map(|d| d.date),
            origin: r.origin,
            key_manager: KeyManager::Customer,
            key_spec: r.spec,
            encryption_algorithms: kind
                .map(|k| k.encryption_algorithms(r.usage).to_vec())
                .unwrap_or_default(),
            signing_algorithms: kind
                .map(|k| k.signing_algorithms(r.spec, r.usage).to_vec())
                .unwrap_or_default(),
            mac_algorithms: kind
                .map(|k| k.mac_algorithms(r.spec, r.usage).to_vec())
                .unwrap_or_default(),
            key_agreement_algorithms: kind
                .map(|k| k.key_agreement_algorithms(r.usage).to_vec())
                .unwrap_or_default(),
            multi_region: r.id.is_multi_region(),
            multi_region_configuration: family_of(r, self.region_of_record(r)).map(|f| {
                let member = |region: &str| MultiRegionKey {
                    arn: self.key_arn_in(&r.account, region, r.id),
                    region: region.to_owned(),
                };
                MultiRegionConfiguration {
                    multi_region_key_type: if f.primary == self.region_of_record(r) {
                        MultiRegionKeyType::Primary
                    } else {
                        MultiRegionKeyType::Replica
                    },
                    primary_key: member(&f.primary),
                    replica_keys: f.replicas.iter().map(|g| member(g)).collect(),
                }
            }),
            pending_deletion_window_in_days: r.deletion.map(|d| d.window_days),
            valid_to: imported.and_then(|i| i.valid_to),
            expiration_model: imported.map(|i| {
                if i.valid_to.is_some() {
                    ExpirationModelType::KeyMaterialExpires
                } else {
                    ExpirationModelType::KeyMaterialDoesNotExpire
                }
            }),
            current_key_material_id: match (current, imported) {
                (_, Some(i)) => Some(hex::encode(i.fingerprint)),
                (Some(m), None) => Some(key_material_id(r.id, m)),
                (None, None) => None,
            },
        }
    }

    /// Refuses material that reconciliation found missing, without asking the token.
    pub(crate) fn check_available(&self, r: &KeyRecord, m: &Material) -> Result<(), KmsError> {
        if self.unavailable.read().contains(&m.object_id) {
            return Err(missing_material(self.arn(r)));
        }
        Ok(())
    }

    /// A token failure on material version `m` of `r`: a missing object is the key's
    /// material gone missing (KeyUnavailableException), anything else the token's error.
    pub(crate) fn material_error(
        &self,
        op: &'static str,
        r: &KeyRecord,
        m: &Material,
        e: TokenError,
    ) -> KmsError {
        match e {
            TokenError::ObjectNotFound(_) => {
                tracing::error!(op, key = %r.id, version = m.version,
                    "the record names key material that is not on the token");
                missing_material(self.arn(r))
            }
            other => from_token(op, other),
        }
    }

    /// `n` bytes from the token's RNG, in a zeroizing buffer.
    pub(crate) fn random(&self, n: usize) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let mut buf = Zeroizing::new(vec![0u8; n]);
        self.token
            .random(&mut buf)
            .map_err(|e| from_token("random", e))?;
        Ok(buf)
    }

    /// The next request number.
    pub(crate) fn next_request(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::Relaxed)
    }

    /// Request number `n` as a 128-bit request id: this engine's random prefix, then `n`.
    pub(crate) fn request_id(&self, n: u64) -> u128 {
        (u128::from(self.request_prefix) << 64) | u128::from(n)
    }

    /// Writes the audit record of a finished call.
    ///
    /// The call's result is not released unless its record is accepted: a log that cannot be
    /// written fails every call (fail closed).
    pub(crate) fn audit_call(
        &self,
        id: u128,
        call: &Call<'_>,
        context: Option<EncryptionContext>,
        error: Option<&KmsError>,
    ) -> Result<(), KmsError> {
        let op = call.op.name();
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
        let refused = |e: Error| {
            tracing::error!(error = %e, op, "the audit trail refused a record; failing the call");
            KmsError::internal("The audit trail could not be written; the call was not completed.")
        };
        self.audit.append_call(record).map_err(refused)?;
        for (name, key) in &call.also {
            let caller = call.caller.clone().with_region(key.scope().region());
            self.audit
                .append_call(CallRecord {
                    time: self.clock.now(),
                    request_id: id,
                    caller,
                    operation: name,
                    key: Some(key.clone()),
                    context: None,
                    error: None,
                    grant: None,
                })
                .map_err(refused)?;
        }
        Ok(())
    }
}

/// The family of multi-Region key `r` (in `region`): its record's, or, for a primary that
/// has never been replicated, itself alone. `None` for a single-Region key.
pub(crate) fn family_of(r: &KeyRecord, region: &str) -> Option<Family> {
    if !r.id.is_multi_region() {
        return None;
    }
    Some(r.family.clone().unwrap_or_else(|| Family {
        primary: region.to_owned(),
        replicas: Vec::new(),
    }))
}

/// Gives `member` the properties a multi-Region family shares, from `source`: the family
/// itself, the rotation settings and on-demand count, and (for material Lockbox generated)
/// the material versions, each version's encryption reservation the larger of the two.
/// Imported material is each member's own token object (every member imports it), but which
/// material each version is, is the family's: a version `member` has no bookkeeping for gets
/// `source`'s fingerprint (and description), so that its import must be the same material
/// (`ops/import.rs` refuses other material with IncorrectKeyMaterialException).
pub(crate) fn share_properties(source: &KeyRecord, member: &mut KeyRecord) {
    member.family = source.family.clone();
    member.auto_rotation = source.auto_rotation;
    member.on_demand_rotations = source.on_demand_rotations;
    if source.origin == Origin::External {
        let known = source.imports.iter().flat_map(|i| &i.materials);
        let mine = member.imports.get_or_insert_with(Default::default);
        for m in known.filter(|m| m.pending_rotation.is_none()) {
            if !mine.materials.iter().any(|x| x.version == m.version) {
                mine.materials.push(lockbox_store::ImportedMaterial {
                    version: m.version,
                    fingerprint: m.fingerprint,
                    valid_to: None,
                    description: m.description.clone(),
                    pending_rotation: None,
                });
            }
        }
        mine.materials.sort_by_key(|m| m.version);
        return;
    }
    let mut materials = source.materials.clone();
    for m in &mut materials {
        if let Some(own) = member.material(m.version) {
            m.encryptions_reserved = m.encryptions_reserved.max(own.encryptions_reserved);
        }
    }
    member.materials = materials;
}

/// The error for an ARN of a Region other than the call's, in AWS's words: the key is not
/// found in this Region (NotFoundException "Invalid arn us-west-2").
pub(crate) fn invalid_arn_region(scope: &ArnScope) -> KmsError {
    KmsError::not_found(format!("Invalid arn {}", scope.region()))
}

/// The error for a key whose material the token no longer holds (KeyUnavailableException).
pub(crate) fn missing_material(arn: KeyArn) -> KmsError {
    KmsError::new(
        ErrorKind::KeyUnavailable,
        format!("{arn} is unavailable: its key material is missing from the token."),
    )
}

/// The 64-hex-digit identifier of a material version (ListKeyRotations' `KeyMaterialId`,
/// DescribeKey's `CurrentKeyMaterialId`): the key id and the token object's CKA_ID, both 16
/// bytes.
pub(crate) fn key_material_id(key: KeyId, m: &Material) -> String {
    let mut both = [0u8; 32];
    both[..16].copy_from_slice(key.as_bytes());
    both[16..].copy_from_slice(&m.object_id);
    hex::encode(both)
}

/// The page size a List operation asks for: `default` when absent, else 1..=`max`.
pub(crate) fn check_limit(limit: Option<u32>, max: u32, default: u32) -> Result<usize, KmsError> {
    match limit {
        None => Ok(default as usize),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(n) => Err(KmsError::range("limit", i64::from(n), 1, i64::from(max))),
    }
}

/// The error for a paging marker this service did not issue (InvalidMarkerException).
/// Paging markers are opaque, as AWS's are: a list operation's position (a key's slot, an
/// alias name, a grant id, a version number) is not shown to the caller as such, so nothing is
/// built on its form. A marker is the unpadded URL-safe base64 of `lbm1`, the list's kind, a
/// NUL byte and the position's text; [`marker_position`] takes back only a marker of the same
/// kind. (Not a secret: a marker names a position in the caller's own listing.)
pub(crate) fn opaque_marker(kind: &str, position: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{MARKER_MAGIC}{kind}\0{position}"))
}

/// The position a marker of list `kind` names; InvalidMarkerException for anything else.
pub(crate) fn marker_position(kind: &str, marker: &str) -> Result<String, KmsError> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(marker)
        .map_err(|_| invalid_marker())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid_marker())?;
    text.strip_prefix(MARKER_MAGIC)
        .and_then(|rest| rest.split_once('\0'))
        .filter(|(k, _)| *k == kind)
        .map(|(_, position)| position.to_owned())
        .ok_or_else(invalid_marker)
}

const MARKER_MAGIC: &str = "lbm1";

pub(crate) fn invalid_marker() -> KmsError {
    KmsError::new(
        ErrorKind::InvalidMarker,
        "The marker is not one this service issued.",
    )
}
