//! The records the store keeps, and their versioned encoding.
//!
//! Every value is one version byte followed by the postcard encoding of that version's
//! struct. Enums are stored by their AWS names, so the encoding does not depend on the order
//! of Rust enum variants. A reader accepts every version it knows and refuses newer ones.

use lockbox_api::{
    GrantOperation, KeyId, KeySpec, KeyState, KeyUsage, Origin, RotationType, Tag, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// One version of a key's material: a token object, named by its CKA_ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Material {
    /// 1 for the material CreateKey made; rotation adds 2, 3, ...
    pub version: u32,
    /// The CKA_ID of the token object that holds it (the private half, for a key pair). An
    /// identifier, not key material.
    pub object_id: [u8; 16],
    /// For a key pair, the CKA_ID of its public half (a token object of its own, decision
    /// 0013); `None` for a secret key.
    pub public_object_id: Option<[u8; 16]>,
    /// When it was generated.
    pub created: Timestamp,
    /// The rotation that made it; `None` for the material CreateKey made.
    pub rotation: Option<RotationType>,
    /// An upper bound on how many encryptions this version has made: the engine raises it
    /// in blocks, durably, before it uses the encryptions it covers, so a crash can only
    /// make the count too high.
    pub encryptions_reserved: u64,
}

/// Automatic rotation, when enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoRotation {
    /// Days between rotations (90..=2560).
    pub period_days: u32,
    /// When the period last started: rotation was enabled, or the key last rotated
    /// automatically. The next rotation is due one period later.
    pub since: Timestamp,
}

impl AutoRotation {
    /// When the next automatic rotation is due.
    pub fn next(&self) -> Timestamp {
        self.since.plus_days(self.period_days)
    }
}

/// A scheduled deletion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deletion {
    /// When the key is due to be deleted.
    pub date: Timestamp,
    /// The waiting period that was asked for.
    pub window_days: u32,
}

/// Everything Lockbox knows about a key, except its material.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyRecord {
    /// The key id.
    pub id: KeyId,
    /// Creation time.
    pub created: Timestamp,
    /// Description.
    pub description: String,
    /// Key spec.
    pub spec: KeySpec,
    /// Key usage.
    pub usage: KeyUsage,
    /// Origin.
    pub origin: Origin,
    /// Lifecycle state.
    pub state: KeyState,
    /// Set exactly when the state is `PendingDeletion`.
    pub deletion: Option<Deletion>,
    /// Material versions, oldest first; never empty for a usable key.
    pub materials: Vec<Material>,
    /// Tags, in key order, keys unique.
    pub tags: Vec<Tag>,
    /// Automatic rotation, when enabled.
    pub auto_rotation: Option<AutoRotation>,
    /// How many times RotateKeyOnDemand has rotated this key.
    pub on_demand_rotations: u32,
    /// The 12-digit account that owns the key. Empty only in a record written before
    /// accounts existed, until [`crate::Store::assign_owner`] gives it the default account.
    pub account: String,
    /// The key policy document as it was put; `None` is the default policy (the owning
    /// account's root may do everything).
    pub policy: Option<String>,
    /// A key of Origin EXTERNAL: its wrapping key pairs and what is known of each version of
    /// material imported into it; `None` for every other key.
    pub imports: Option<Imports>,
    // --- Regions (issue 15, branch `regions`): key record versions 5 and 7. ---
    /// The Region the key belongs to (the Region it was created in), e.g. `us-east-1`. Empty
    /// only in a record written before Regions existed, until [`crate::Store::assign_region`]
    /// gives it the configured Region.
    pub region: String,
    // --- Multi-Region replicas (issue 15): key record version 8. ---
    /// The family of a multi-Region key once it has been replicated: every member's record
    /// lists the whole family, and a write that changes it writes every member in one
    /// transaction. `None` for a single-Region key and for a multi-Region primary that has
    /// never had a replica (it is then the family's only member and its primary).
    pub family: Option<Family>,
    /// Which stored version of the record this copy was read from (not part of the record's
    /// value, not encoded): a write of the record succeeds only if the store still holds
    /// that version ([`StoreError::Conflict`](crate::StoreError::Conflict) otherwise), so a
    /// read-modify-write never overwrites a change made meanwhile by another node. A record
    /// built in memory ([`Revision::NEW`]) may only fill an empty slot.
    pub revision: Revision,
}

/// The stored version a [`KeyRecord`] was read from: the stored bytes themselves, so that any
/// change to the record is a new revision (a record written back unchanged keeps its
/// revision, which is harmless: nothing it holds was lost). Every revision is equal to every
/// other under `==`, so two records compare by their contents alone.
#[derive(Clone, Default)]
pub struct Revision(Option<std::sync::Arc<[u8]>>);

impl Revision {
    /// A record not read from the store: its slot must be empty when it is written.
    pub const NEW: Revision = Revision(None);

    pub(crate) fn of(stored: &[u8]) -> Revision {
        Revision(Some(stored.into()))
    }

    /// The stored bytes this revision stands for (`None`: the slot must be empty).
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        self.0.as_deref()
    }

    /// True for a record read from the store.
    pub fn is_stored(&self) -> bool {
        self.0.is_some()
    }
}

impl PartialEq for Revision {
    fn eq(&self, _: &Revision) -> bool {
        true
    }
}

impl Eq for Revision {}

impl std::fmt::Debug for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_stored() {
            "Revision(stored)"
        } else {
            "Revision::NEW"
        })
    }
}

/// The members of a multi-Region key family (all share one `mrk-` id), by Region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Family {
    /// The Region of the primary key.
    pub primary: String,
    /// The Regions of the replica keys, sorted, without the primary's.
    pub replicas: Vec<String>,
}

impl Family {
    /// Every member's Region: the primary's first, then the replicas'.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.primary.as_str()).chain(self.replicas.iter().map(String::as_str))
    }

    /// Whether a member of the family is in `region`.
    pub fn has(&self, region: &str) -> bool {
        self.regions().any(|r| r == region)
    }
}

/// What a key of Origin EXTERNAL keeps about importing its material (record version 6).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Imports {
    /// The wrapping key pairs GetParametersForImport made and that are not destroyed yet: each
    /// is destroyed once an import used it or it expired, after the record stops naming it.
    pub wrapping_pairs: Vec<WrappingPair>,
    /// Every version of material ever imported into the key, by version. A version is in the
    /// token exactly when [`KeyRecord::materials`] names it (or, for new material waiting for
    /// a rotation, when `pending_rotation` does).
    pub materials: Vec<ImportedMaterial>,
}

/// A wrapping key pair of GetParametersForImport: two token objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrappingPair {
    /// The private half's CKA_ID.
    pub private_object_id: [u8; 16],
    /// The public half's CKA_ID.
    pub public_object_id: [u8; 16],
    /// When its import token expires.
    pub valid_to: Timestamp,
    /// SHA-256 of the import token handed out with it: ImportKeyMaterial accepts exactly that
    /// token (see `docs/formats/import.md`).
    pub token_digest: [u8; 32],
}

/// One version of imported material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedMaterial {
    /// The material version it is (or will be, for new material waiting for a rotation).
    pub version: u32,
    /// What names this material without revealing it (lockbox-token's `MaterialFingerprint`):
    /// re-importing must bring material with the same fingerprint. Its hex is the version's
    /// KeyMaterialId.
    pub fingerprint: [u8; 32],
    /// When it expires (`KEY_MATERIAL_EXPIRES`); `None`: it does not expire.
    pub valid_to: Option<Timestamp>,
    /// The description given with its last import.
    pub description: Option<String>,
    /// New material imported for a rotation that has not happened yet: its token objects
    /// (private or secret, and public half). RotateKeyOnDemand moves it into `materials`.
    pub pending_rotation: Option<([u8; 16], Option<[u8; 16]>)>,
}

// --- Regions and multi-Region keys (issue 15, branch `regions`): storage slots. ---

/// Where a key's record, grants and tombstone are kept: 16 bytes, unique per (key id, Region).
///
/// A single-Region key's slot is its id's 16 bytes (ids are unique, so nothing stored before
/// multi-Region keys moves). The members of a multi-Region key family share one `mrk-` id and
/// differ by Region, so theirs is the first 16 bytes of SHA-256(`"lockbox mrk slot\0"`, the
/// id's 16 bytes, the Region's name). It cannot collide with a single-Region key's slot but
/// with probability 2^-122 per pair (a v4 UUID has 122 random bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeySlot([u8; 16]);

impl KeySlot {
    /// The slot of key `id` in `region`.
    pub fn of(id: KeyId, region: &str) -> KeySlot {
        if !id.is_multi_region() {
            return KeySlot(*id.as_bytes());
        }
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"lockbox mrk slot\0");
        h.update(id.as_bytes());
        h.update(region.as_bytes());
        let digest = h.finalize();
        let mut slot = [0u8; 16];
        slot.copy_from_slice(&digest[..16]);
        KeySlot(slot)
    }

    /// Rebuilds a slot from its 16 bytes (a tree key).
    pub fn from_bytes(bytes: [u8; 16]) -> KeySlot {
        KeySlot(bytes)
    }

    /// The 16 bytes (the tree key of the record, the prefix of its grants' keys).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl std::fmt::Display for KeySlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex(self.0))
    }
}

impl KeyRecord {
    /// Where this record is kept ([`KeySlot::of`] its id and Region).
    pub fn slot(&self) -> KeySlot {
        KeySlot::of(self.id, &self.region)
    }

    /// Decodes a stored value of the `keys` tree; `key` is its tree key (the 16-byte id).
    /// Total: any bytes give a record or an error.
    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<KeyRecord, StoreError> {
        decode_key(key, bytes)
    }

    /// The newest material version (the one Encrypt uses).
    pub fn current_material(&self) -> Option<&Material> {
        self.materials.iter().max_by_key(|m| m.version)
    }

    /// The material version a ciphertext names.
    pub fn material(&self, version: u32) -> Option<&Material> {
        self.materials.iter().find(|m| m.version == version)
    }

    /// The import bookkeeping of material version `version`, for a key of Origin EXTERNAL.
    pub fn imported(&self, version: u32) -> Option<&ImportedMaterial> {
        self.imports
            .as_ref()?
            .materials
            .iter()
            .find(|m| m.version == version)
    }

    /// Whether imported material the key holds has passed its ValidTo at `now`.
    pub fn material_expired(&self, now: Timestamp) -> bool {
        self.materials.iter().any(|m| {
            self.imported(m.version)
                .and_then(|i| i.valid_to)
                .is_some_and(|t| t <= now)
        })
    }

    /// The key's state at `now`: an Enabled or Disabled key whose imported material has
    /// expired is PendingImport from that instant, before maintenance removes the material
    /// (AWS: the key is unusable once its material expires).
    pub fn state_at(&self, now: Timestamp) -> KeyState {
        match self.state {
            KeyState::Enabled | KeyState::Disabled if self.material_expired(now) => {
                KeyState::PendingImport
            }
            s => s,
        }
    }
}

/// Where an alias points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AliasRecord {
    /// The target key.
    pub target: KeyId,
    /// When the alias was created.
    pub created: Timestamp,
    /// When it was last pointed somewhere.
    pub updated: Timestamp,
}

impl AliasRecord {
    /// Decodes a stored value of the `aliases` tree; `key` is its tree key (the alias name).
    /// Total: any bytes give a record or an error.
    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<AliasRecord, StoreError> {
        decode_alias(key, bytes)
    }
}

const KEY_RECORD_V1: u8 = 1;
const KEY_RECORD_V2: u8 = 2;
const KEY_RECORD_V3: u8 = 3;
const KEY_RECORD_V4: u8 = 4;
/// Version 6 adds the import bookkeeping of an EXTERNAL key to a version-4 body (5 is left
/// to the Regions work of the same issue).
const KEY_RECORD_V6: u8 = 6;
/// Version 5 (Regions, issue 15): a version-4 body and the key's Region. Every record with a
/// Region is version 5, or 7 when it has import bookkeeping.
const KEY_RECORD_V5: u8 = 5;
/// Version 7 (Regions, issue 15): a version-6 body and the key's Region.
const KEY_RECORD_V7: u8 = 7;
/// Version 8 (multi-Region replicas, issue 15): a version-7 body (its import bookkeeping
/// marked present or not) and the key's family. Written only for members of a family.
const KEY_RECORD_V8: u8 = 8;
const GRANT_RECORD_V1: u8 = 1;
const GRANT_RECORD_V2: u8 = 2;
const ALIAS_RECORD_V1: u8 = 1;

#[derive(Serialize, Deserialize)]
struct KeyRecordV1 {
    id: [u8; 16],
    created_ms: i64,
    description: String,
    spec: String,
    usage: String,
    origin: String,
    state: String,
    deletion: Option<(i64, u32)>,
    materials: Vec<MaterialV1>,
    tags: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct MaterialV1 {
    version: u32,
    object_id: [u8; 16],
    created_ms: i64,
}

/// Version 2 adds automatic rotation, the on-demand rotation count, and per-material
/// rotation type and encryption count.
#[derive(Serialize, Deserialize)]
struct KeyRecordV2 {
    id: [u8; 16],
    created_ms: i64,
    description: String,
    spec: String,
    usage: String,
    origin: String,
    state: String,
    deletion: Option<(i64, u32)>,
    materials: Vec<MaterialV2>,
    tags: Vec<(String, String)>,
    auto_rotation: Option<(u32, i64)>,
    on_demand_rotations: u32,
}

#[derive(Serialize, Deserialize)]
struct MaterialV2 {
    version: u32,
    object_id: [u8; 16],
    created_ms: i64,
    rotation: Option<String>,
    encryptions_reserved: u64,
}

/// Version 3 adds the owning account and the key policy.
#[derive(Serialize, Deserialize)]
struct KeyRecordV3 {
    v2: KeyRecordV2,
    account: String,
    policy: Option<String>,
}

/// Version 4 adds the public half of each material version of a key pair, in the order of
/// `materials`. A record whose materials have no public half is still written as version 3.
#[derive(Serialize, Deserialize)]
struct KeyRecordV4 {
    v3: KeyRecordV3,
    public_halves: Vec<Option<[u8; 16]>>,
}

/// Version 6: a version-4 body and the import bookkeeping of an EXTERNAL key. Written only
/// for keys that have it.
#[derive(Serialize, Deserialize)]
struct KeyRecordV6 {
    v4: KeyRecordV4,
    wrapping_pairs: Vec<WrappingPairV6>,
    imported: Vec<ImportedMaterialV6>,
}

/// Version 5 (Regions, issue 15): a version-4 body and the Region the key belongs to.
/// Versions 1 to 4 and 6 decode with an empty Region, which the store fills in at open
/// ([`crate::Store::assign_region`]).
#[derive(Serialize, Deserialize)]
struct KeyRecordV5 {
    v4: KeyRecordV4,
    region: String,
}

/// Version 7 (Regions, issue 15): a version-6 body (import bookkeeping) and the Region.
#[derive(Serialize, Deserialize)]
struct KeyRecordV7 {
    v6: KeyRecordV6,
    region: String,
}

/// Version 8: a version-7 body, whether its import bookkeeping is real (a key that is not
/// EXTERNAL has none; its version-6 lists are then empty), and the family: the primary's
/// Region and the replicas' Regions.
#[derive(Serialize, Deserialize)]
struct KeyRecordV8 {
    v7: KeyRecordV7,
    has_imports: bool,
    primary: String,
    replicas: Vec<String>,
}

/// A wrapping pair: private and public CKA_IDs, expiry (ms), the import token's SHA-256.
type WrappingPairV6 = ([u8; 16], [u8; 16], i64, [u8; 32]);

/// A version-4 body's parts: the version-3 body and the public half of each material version.
type V4Parts = (KeyRecordV3, Vec<Option<[u8; 16]>>);

#[derive(Serialize, Deserialize)]
struct ImportedMaterialV6 {
    version: u32,
    fingerprint: [u8; 32],
    valid_to_ms: Option<i64>,
    description: Option<String>,
    pending_rotation: Option<([u8; 16], Option<[u8; 16]>)>,
}

impl From<KeyRecordV2> for KeyRecordV3 {
    fn from(v2: KeyRecordV2) -> Self {
        KeyRecordV3 {
            v2,
            account: String::new(),
            policy: None,
        }
    }
}

impl From<KeyRecordV1> for KeyRecordV2 {
    fn from(v1: KeyRecordV1) -> Self {
        KeyRecordV2 {
            id: v1.id,
            created_ms: v1.created_ms,
            description: v1.description,
            spec: v1.spec,
            usage: v1.usage,
            origin: v1.origin,
            state: v1.state,
            deletion: v1.deletion,
            materials: v1
                .materials
                .into_iter()
                .map(|m| MaterialV2 {
                    version: m.version,
                    object_id: m.object_id,
                    created_ms: m.created_ms,
                    rotation: None,
                    encryptions_reserved: 0,
                })
                .collect(),
            tags: v1.tags,
            auto_rotation: None,
            on_demand_rotations: 0,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct AliasRecordV1 {
    target: [u8; 16],
    created_ms: i64,
    updated_ms: i64,
}

pub(crate) fn encode_key(r: &KeyRecord) -> Result<Vec<u8>, StoreError> {
    let v2 = KeyRecordV2 {
        id: *r.id.as_bytes(),
        created_ms: r.created.unix_millis(),
        description: r.description.clone(),
        spec: r.spec.as_str().to_owned(),
        usage: r.usage.as_str().to_owned(),
        origin: r.origin.as_str().to_owned(),
        state: r.state.as_str().to_owned(),
        deletion: r.deletion.map(|d| (d.date.unix_millis(), d.window_days)),
        materials: r
            .materials
            .iter()
            .map(|m| MaterialV2 {
                version: m.version,
                object_id: m.object_id,
                created_ms: m.created.unix_millis(),
                rotation: m.rotation.map(|t| t.as_str().to_owned()),
                encryptions_reserved: m.encryptions_reserved,
            })
            .collect(),
        tags: r
            .tags
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect(),
        auto_rotation: r
            .auto_rotation
            .map(|a| (a.period_days, a.since.unix_millis())),
        on_demand_rotations: r.on_demand_rotations,
    };
    let v3 = KeyRecordV3 {
        v2,
        account: r.account.clone(),
        policy: r.policy.clone(),
    };
    if r.region.is_empty()
        && r.imports.is_none()
        && r.materials.iter().all(|m| m.public_object_id.is_none())
    {
        return versioned(KEY_RECORD_V3, &v3, "keys", &r.id.to_string());
    }
    let v4 = KeyRecordV4 {
        v3,
        public_halves: r.materials.iter().map(|m| m.public_object_id).collect(),
    };
    // Regions: a record with a Region is version 5, or 7 with import bookkeeping; a member
    // of a multi-Region family is version 8.
    let region = r.region.clone();
    if let Some(family) = &r.family {
        let empty = Imports::default();
        return versioned(
            KEY_RECORD_V8,
            &KeyRecordV8 {
                v7: KeyRecordV7 {
                    v6: v6_of(v4, r.imports.as_ref().unwrap_or(&empty)),
                    region,
                },
                has_imports: r.imports.is_some(),
                primary: family.primary.clone(),
                replicas: family.replicas.clone(),
            },
            "keys",
            &r.id.to_string(),
        );
    }
    match (&r.imports, region.is_empty()) {
        (None, true) => versioned(KEY_RECORD_V4, &v4, "keys", &r.id.to_string()),
        (None, false) => versioned(
            KEY_RECORD_V5,
            &KeyRecordV5 { v4, region },
            "keys",
            &r.id.to_string(),
        ),
        (Some(imports), true) => versioned(
            KEY_RECORD_V6,
            &v6_of(v4, imports),
            "keys",
            &r.id.to_string(),
        ),
        (Some(imports), false) => versioned(
            KEY_RECORD_V7,
            &KeyRecordV7 {
                v6: v6_of(v4, imports),
                region,
            },
            "keys",
            &r.id.to_string(),
        ),
    }
}

/// A version-6 body: `v4` and the import bookkeeping.
fn v6_of(v4: KeyRecordV4, imports: &Imports) -> KeyRecordV6 {
    KeyRecordV6 {
        v4,
        wrapping_pairs: imports
            .wrapping_pairs
            .iter()
            .map(|w| {
                (
                    w.private_object_id,
                    w.public_object_id,
                    w.valid_to.unix_millis(),
                    w.token_digest,
                )
            })
            .collect(),
        imported: imports
            .materials
            .iter()
            .map(|m| ImportedMaterialV6 {
                version: m.version,
                fingerprint: m.fingerprint,
                valid_to_ms: m.valid_to.map(|t| t.unix_millis()),
                description: m.description.clone(),
                pending_rotation: m.pending_rotation,
            })
            .collect(),
    }
}

/// The import bookkeeping of a version-6 body, and its version-4 body.
fn imports_of(v6: KeyRecordV6) -> (Imports, KeyRecordV4) {
    let imports = Imports {
        wrapping_pairs: v6
            .wrapping_pairs
            .iter()
            .map(
                |&(private_object_id, public_object_id, ms, token_digest)| WrappingPair {
                    private_object_id,
                    public_object_id,
                    valid_to: Timestamp::from_unix_millis(ms),
                    token_digest,
                },
            )
            .collect(),
        materials: v6
            .imported
            .into_iter()
            .map(|m| ImportedMaterial {
                version: m.version,
                fingerprint: m.fingerprint,
                valid_to: m.valid_to_ms.map(Timestamp::from_unix_millis),
                description: m.description,
                pending_rotation: m.pending_rotation,
            })
            .collect(),
    };
    (imports, v6.v4)
}

pub(crate) fn decode_key(key: &[u8], bytes: &[u8]) -> Result<KeyRecord, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        tree: "keys",
        key: printable(key),
        reason,
    };
    let mut imports = None;
    let mut region = String::new();
    let mut family = None;
    let (v3, public_halves): V4Parts = match bytes.split_first() {
        Some((&KEY_RECORD_V1, body)) => (
            KeyRecordV2::from(exact::<KeyRecordV1>(body).map_err(corrupt)?).into(),
            Vec::new(),
        ),
        Some((&KEY_RECORD_V2, body)) => (
            exact::<KeyRecordV2>(body).map_err(corrupt)?.into(),
            Vec::new(),
        ),
        Some((&KEY_RECORD_V3, body)) => (exact(body).map_err(corrupt)?, Vec::new()),
        Some((&KEY_RECORD_V4, body)) => v4_parts(exact(body).map_err(corrupt)?).map_err(corrupt)?,
        Some((&KEY_RECORD_V5, body)) => {
            let v5: KeyRecordV5 = exact(body).map_err(corrupt)?;
            region = v5.region;
            v4_parts(v5.v4).map_err(corrupt)?
        }
        Some((&KEY_RECORD_V6, body)) => {
            let (i, v4) = imports_of(exact(body).map_err(corrupt)?);
            imports = Some(i);
            v4_parts(v4).map_err(corrupt)?
        }
        Some((&KEY_RECORD_V7, body)) => {
            let v7: KeyRecordV7 = exact(body).map_err(corrupt)?;
            region = v7.region;
            let (i, v4) = imports_of(v7.v6);
            imports = Some(i);
            v4_parts(v4).map_err(corrupt)?
        }
        Some((&KEY_RECORD_V8, body)) => {
            let v8: KeyRecordV8 = exact(body).map_err(corrupt)?;
            region = v8.v7.region;
            family = Some(Family {
                primary: v8.primary,
                replicas: v8.replicas,
            });
            let (i, v4) = imports_of(v8.v7.v6);
            if v8.has_imports {
                imports = Some(i);
            } else if i != Imports::default() {
                return Err(corrupt("import bookkeeping on a key that has none".into()));
            }
            v4_parts(v4).map_err(corrupt)?
        }
        Some((0, _)) => return Err(corrupt("record version 0".into())),
        Some((&v, _)) => {
            return Err(StoreError::TooNew {
                what: format!("key record {}", printable(key)),
                version: u32::from(v),
            });
        }
        None => return Err(corrupt("empty record".into())),
    };
    let KeyRecordV3 {
        v2,
        account,
        policy,
    } = v3;
    if !account.is_empty() && !lockbox_api::is_account_id(&account) {
        return Err(corrupt(format!("account '{account}' is not 12 digits")));
    }
    if !region.is_empty() && lockbox_api::ArnScope::new("aws", &region, "000000000000").is_err() {
        return Err(corrupt(format!(
            "Region '{}' is not a Region name",
            printable(region.as_bytes())
        )));
    }
    if let Some(f) = &family {
        let names = f.regions().collect::<Vec<_>>();
        if let Some(bad) = names
            .iter()
            .find(|n| lockbox_api::ArnScope::new("aws", n, "000000000000").is_err())
        {
            return Err(corrupt(format!(
                "family Region '{}' is not a Region name",
                printable(bad.as_bytes())
            )));
        }
        if !f.has(&region)
            || !f.replicas.windows(2).all(|w| w[0] < w[1])
            || f.replicas.contains(&f.primary)
        {
            return Err(corrupt(format!(
                "the family ({}) is not a sorted set of Regions with this key's ({region})",
                names.join(", ")
            )));
        }
        if !KeyId::from_bytes(v2.id).is_multi_region() {
            return Err(corrupt("a family on a single-Region key".into()));
        }
    }
    let spec: KeySpec = v2.spec.parse().map_err(|e| corrupt(format!("{e}")))?;
    let usage: KeyUsage = v2.usage.parse().map_err(|e| corrupt(format!("{e}")))?;
    let origin: Origin = v2.origin.parse().map_err(|e| corrupt(format!("{e}")))?;
    let state: KeyState = v2.state.parse().map_err(|e| corrupt(format!("{e}")))?;
    let tags = v2
        .tags
        .into_iter()
        .map(|(k, v)| Tag::new(k, v).map_err(|e| corrupt(format!("tag: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let materials = v2
        .materials
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let rotation = match m.rotation {
                Some(t) => Some(
                    t.parse::<RotationType>()
                        .map_err(|e| corrupt(format!("{e}")))?,
                ),
                None => None,
            };
            Ok(Material {
                version: m.version,
                object_id: m.object_id,
                public_object_id: public_halves.get(i).copied().flatten(),
                created: Timestamp::from_unix_millis(m.created_ms),
                rotation,
                encryptions_reserved: m.encryptions_reserved,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    if key != KeySlot::of(KeyId::from_bytes(v2.id), &region).as_bytes() {
        return Err(corrupt("the record's id differs from its key".into()));
    }
    Ok(KeyRecord {
        id: KeyId::from_bytes(v2.id),
        created: Timestamp::from_unix_millis(v2.created_ms),
        description: v2.description,
        spec,
        usage,
        origin,
        state,
        deletion: v2.deletion.map(|(ms, window_days)| Deletion {
            date: Timestamp::from_unix_millis(ms),
            window_days,
        }),
        materials,
        tags,
        auto_rotation: v2.auto_rotation.map(|(period_days, ms)| AutoRotation {
            period_days,
            since: Timestamp::from_unix_millis(ms),
        }),
        on_demand_rotations: v2.on_demand_rotations,
        account,
        policy,
        imports,
        region,
        family,
        revision: Revision::of(bytes),
    })
}

/// A version-4 body's parts, its public halves checked against its materials.
fn v4_parts(v4: KeyRecordV4) -> Result<V4Parts, String> {
    if v4.public_halves.len() != v4.v3.v2.materials.len() {
        return Err(format!(
            "{} public halves for {} material versions",
            v4.public_halves.len(),
            v4.v3.v2.materials.len()
        ));
    }
    Ok((v4.v3, v4.public_halves))
}

pub(crate) fn encode_alias(name: &str, r: &AliasRecord) -> Result<Vec<u8>, StoreError> {
    let v1 = AliasRecordV1 {
        target: *r.target.as_bytes(),
        created_ms: r.created.unix_millis(),
        updated_ms: r.updated.unix_millis(),
    };
    versioned(ALIAS_RECORD_V1, &v1, "aliases", name)
}

pub(crate) fn decode_alias(key: &[u8], bytes: &[u8]) -> Result<AliasRecord, StoreError> {
    let name = printable(key);
    match bytes.split_first() {
        Some((&ALIAS_RECORD_V1, body)) => {
            let v1: AliasRecordV1 = exact(body).map_err(|reason| StoreError::Corrupt {
                tree: "aliases",
                key: name,
                reason,
            })?;
            Ok(AliasRecord {
                target: KeyId::from_bytes(v1.target),
                created: Timestamp::from_unix_millis(v1.created_ms),
                updated: Timestamp::from_unix_millis(v1.updated_ms),
            })
        }
        Some((0, _)) => Err(StoreError::Corrupt {
            tree: "aliases",
            key: name,
            reason: "record version 0".into(),
        }),
        Some((&v, _)) => Err(StoreError::TooNew {
            what: format!("alias record {name}"),
            version: u32::from(v),
        }),
        None => Err(StoreError::Corrupt {
            tree: "aliases",
            key: name,
            reason: "empty record".into(),
        }),
    }
}

/// A grant: a principal may perform some operations on a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantRecord {
    /// The key.
    pub key: KeyId,
    /// Where the key is kept ([`KeyRecord::slot`]): grants follow their key's slot, so a
    /// multi-Region key's replicas have grants of their own.
    pub slot: KeySlot,
    /// The grant id (shown as 64 hex digits).
    pub id: [u8; 32],
    /// The name CreateGrant was given.
    pub name: Option<String>,
    /// When it was created.
    pub created: Timestamp,
    /// Who gets the permissions (a principal ARN).
    pub grantee: String,
    /// Who may retire it (a principal ARN).
    pub retiring: Option<String>,
    /// The account whose principal created it.
    pub issuing_account: String,
    /// The operations it allows.
    pub operations: Vec<GrantOperation>,
    /// Encryption-context pairs the request's context must contain.
    pub context_subset: Option<Vec<(String, String)>>,
    /// The encryption context the request's context must equal.
    pub context_equals: Option<Vec<(String, String)>>,
}

impl GrantRecord {
    /// The grant's tree key: key slot then grant id.
    pub fn tree_key(&self) -> [u8; 48] {
        grant_key(self.slot, &self.id)
    }

    /// Decodes a stored value of the `grants` tree. Total.
    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<GrantRecord, StoreError> {
        decode_grant(key, bytes)
    }
}

pub(crate) fn grant_key(key: KeySlot, id: &[u8; 32]) -> [u8; 48] {
    let mut k = [0u8; 48];
    k[..16].copy_from_slice(key.as_bytes());
    k[16..].copy_from_slice(id);
    k
}

#[derive(Serialize, Deserialize)]
struct GrantRecordV1 {
    created_ms: i64,
    name: Option<String>,
    grantee: String,
    retiring: Option<String>,
    issuing_account: String,
    operations: Vec<String>,
    context_subset: Option<Vec<(String, String)>>,
    context_equals: Option<Vec<(String, String)>>,
}

/// Version 2 (issue 15) adds the key id, for a grant whose key's slot is not its id (a
/// multi-Region key); other grants are still written as version 1.
#[derive(Serialize, Deserialize)]
struct GrantRecordV2 {
    v1: GrantRecordV1,
    key_id: [u8; 16],
}

pub(crate) fn encode_grant(g: &GrantRecord) -> Result<Vec<u8>, StoreError> {
    let v1 = GrantRecordV1 {
        created_ms: g.created.unix_millis(),
        name: g.name.clone(),
        grantee: g.grantee.clone(),
        retiring: g.retiring.clone(),
        issuing_account: g.issuing_account.clone(),
        operations: g.operations.iter().map(|o| o.as_str().to_owned()).collect(),
        context_subset: g.context_subset.clone(),
        context_equals: g.context_equals.clone(),
    };
    if g.slot.as_bytes() == g.key.as_bytes() {
        return versioned(GRANT_RECORD_V1, &v1, "grants", &hex(g.id));
    }
    let v2 = GrantRecordV2 {
        v1,
        key_id: *g.key.as_bytes(),
    };
    versioned(GRANT_RECORD_V2, &v2, "grants", &hex(g.id))
}

pub(crate) fn decode_grant(key: &[u8], bytes: &[u8]) -> Result<GrantRecord, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        tree: "grants",
        key: hex(key),
        reason,
    };
    let (Ok(key_id), Ok(id)) = (
        <[u8; 16]>::try_from(key.get(..16).unwrap_or_default()),
        <[u8; 32]>::try_from(key.get(16..).unwrap_or_default()),
    ) else {
        return Err(corrupt("not a 48-byte grant key".into()));
    };
    let (v1, key_id): (GrantRecordV1, [u8; 16]) = match bytes.split_first() {
        Some((&GRANT_RECORD_V1, body)) => (exact(body).map_err(corrupt)?, key_id),
        Some((&GRANT_RECORD_V2, body)) => {
            let v2: GrantRecordV2 = exact(body).map_err(corrupt)?;
            (v2.v1, v2.key_id)
        }
        Some((0, _)) => return Err(corrupt("record version 0".into())),
        Some((&v, _)) => {
            return Err(StoreError::TooNew {
                what: format!("grant record {}", hex(key)),
                version: u32::from(v),
            });
        }
        None => return Err(corrupt("empty record".into())),
    };
    let operations = v1
        .operations
        .iter()
        .map(|o| {
            o.parse::<GrantOperation>()
                .map_err(|e| corrupt(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let slot: [u8; 16] = key
        .get(..16)
        .and_then(|k| k.try_into().ok())
        .unwrap_or_default();
    Ok(GrantRecord {
        key: KeyId::from_bytes(key_id),
        slot: KeySlot::from_bytes(slot),
        id,
        name: v1.name,
        created: Timestamp::from_unix_millis(v1.created_ms),
        grantee: v1.grantee,
        retiring: v1.retiring,
        issuing_account: v1.issuing_account,
        operations,
        context_subset: v1.context_subset,
        context_equals: v1.context_equals,
    })
}

pub(crate) use hex::encode as hex;

const STAMP_V1: u8 = 1;

/// A tombstone (deleted key) or orphan (unclaimed token object) entry: a time, and for
/// orphans the object's label.
#[derive(Serialize, Deserialize)]
struct StampV1 {
    at_ms: i64,
    label: String,
}

pub(crate) fn encode_stamp(
    tree: &'static str,
    key: &str,
    at: Timestamp,
    label: &str,
) -> Result<Vec<u8>, StoreError> {
    let v1 = StampV1 {
        at_ms: at.unix_millis(),
        label: label.to_owned(),
    };
    versioned(STAMP_V1, &v1, tree, key)
}

pub(crate) fn decode_stamp(
    tree: &'static str,
    key: &[u8],
    bytes: &[u8],
) -> Result<(Timestamp, String), StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        tree,
        key: printable(key),
        reason,
    };
    match bytes.split_first() {
        Some((&STAMP_V1, body)) => {
            let v1: StampV1 = exact(body).map_err(corrupt)?;
            Ok((Timestamp::from_unix_millis(v1.at_ms), v1.label))
        }
        Some((0, _)) => Err(corrupt("record version 0".into())),
        Some((&v, _)) => Err(StoreError::TooNew {
            what: format!("{tree} record {}", printable(key)),
            version: u32::from(v),
        }),
        None => Err(corrupt("empty record".into())),
    }
}

/// Decodes a whole body: bytes left over mean the record is not what we wrote.
fn exact<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    match postcard::take_from_bytes(body) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(format!("{} trailing bytes", rest.len())),
        Err(e) => Err(e.to_string()),
    }
}

fn versioned<T: Serialize>(
    version: u8,
    value: &T,
    tree: &'static str,
    key: &str,
) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![version];
    postcard::to_io(value, &mut out).map_err(|e| StoreError::Corrupt {
        tree,
        key: key.to_owned(),
        reason: format!("cannot encode: {e}"),
    })?;
    Ok(out)
}

fn printable(key: &[u8]) -> String {
    match <[u8; 16]>::try_from(key) {
        Ok(id) => KeyId::from_bytes(id).to_string(),
        Err(_) => String::from_utf8_lossy(key).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> KeyRecord {
        KeyRecord {
            id: KeyId::from_random_bytes([3; 16]),
            created: Timestamp::from_unix_millis(5),
            description: "d".into(),
            spec: KeySpec::SymmetricDefault,
            usage: KeyUsage::EncryptDecrypt,
            origin: Origin::AwsKms,
            state: KeyState::Disabled,
            deletion: None,
            materials: vec![],
            tags: vec![],
            auto_rotation: None,
            on_demand_rotations: 0,
            account: "000000000000".into(),
            policy: None,
            imports: None,
            // Written before Regions existed (the v5 test sets one).
            region: String::new(),
            family: None,
            revision: Revision::NEW,
        }
    }

    #[test]
    fn family_members_are_version_8_with_or_without_import_bookkeeping() {
        let mut r = sample();
        r.id = KeyId::new_multi_region([4; 16]);
        r.region = "eu-west-1".into();
        r.family = Some(Family {
            primary: "us-east-1".into(),
            replicas: vec!["ap-southeast-2".into(), "eu-west-1".into()],
        });
        let key = *r.slot().as_bytes();
        let bytes = encode_key(&r).unwrap();
        assert_eq!(bytes[0], KEY_RECORD_V8);
        assert_eq!(decode_key(&key, &bytes).unwrap(), r);
        r.origin = Origin::External;
        r.imports = Some(Imports::default());
        let bytes = encode_key(&r).unwrap();
        assert_eq!(bytes[0], KEY_RECORD_V8);
        assert_eq!(decode_key(&key, &bytes).unwrap(), r);
    }

    #[test]
    fn a_family_that_does_not_hold_its_own_key_or_is_unsorted_is_corrupt() {
        let mut r = sample();
        r.id = KeyId::new_multi_region([4; 16]);
        r.region = "eu-west-1".into();
        let key = *r.slot().as_bytes();
        for (primary, replicas) in [
            ("us-east-1", vec!["ap-southeast-2"]),
            ("us-east-1", vec!["eu-west-1", "ap-southeast-2"]),
            ("us-east-1", vec!["eu-west-1", "eu-west-1"]),
            ("eu-west-1", vec!["eu-west-1"]),
            ("not a region", vec!["eu-west-1"]),
        ] {
            r.family = Some(Family {
                primary: primary.into(),
                replicas: replicas.iter().map(|s| s.to_string()).collect(),
            });
            let bytes = encode_key(&r).unwrap();
            assert!(
                matches!(decode_key(&key, &bytes), Err(StoreError::Corrupt { .. })),
                "{primary} {replicas:?}"
            );
        }
        // A single-Region key has no family.
        let mut single = sample();
        single.region = "us-east-1".into();
        single.family = Some(Family {
            primary: "us-east-1".into(),
            replicas: vec![],
        });
        let bytes = encode_key(&single).unwrap();
        assert!(matches!(
            decode_key(single.id.as_bytes(), &bytes),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn records_with_a_region_are_version_5_and_keep_their_public_halves() {
        let mut r = sample();
        r.region = "eu-west-3".into();
        r.materials = vec![Material {
            version: 1,
            object_id: [0xaa; 16],
            public_object_id: Some([0xab; 16]),
            created: Timestamp::from_unix_millis(7),
            rotation: None,
            encryptions_reserved: 0,
        }];
        let bytes = encode_key(&r).unwrap();
        assert_eq!(bytes[0], KEY_RECORD_V5);
        let key = *r.id.as_bytes();
        assert_eq!(decode_key(&key, &bytes).unwrap(), r);
        let v5: KeyRecordV5 = exact(&bytes[1..]).unwrap();
        let bad = KeyRecordV5 {
            v4: v5.v4,
            region: "EU West".into(),
        };
        let bytes = versioned(KEY_RECORD_V5, &bad, "keys", "k").unwrap();
        assert!(matches!(
            decode_key(&key, &bytes),
            Err(StoreError::Corrupt { reason, .. }) if reason == "Region 'EU West' is not a Region name"
        ));
    }

    #[test]
    fn imported_keys_with_a_region_are_version_7() {
        let mut r = sample();
        r.region = "ap-south-1".into();
        r.imports = Some(Imports::default());
        let bytes = encode_key(&r).unwrap();
        assert_eq!(bytes[0], KEY_RECORD_V7);
        assert_eq!(decode_key(r.id.as_bytes(), &bytes).unwrap(), r);
        r.region = String::new();
        assert_eq!(encode_key(&r).unwrap()[0], KEY_RECORD_V6);
    }

    #[test]
    fn version_1_records_still_decode_with_rotation_off() {
        // Every key id before multi-Region keys is a v4 UUID.
        let id = *KeyId::from_random_bytes([3; 16]).as_bytes();
        let v1 = KeyRecordV1 {
            id,
            created_ms: 5,
            description: "d".into(),
            spec: "SYMMETRIC_DEFAULT".into(),
            usage: "ENCRYPT_DECRYPT".into(),
            origin: "AWS_KMS".into(),
            state: "Disabled".into(),
            deletion: None,
            materials: vec![MaterialV1 {
                version: 1,
                object_id: [9; 16],
                created_ms: 5,
            }],
            tags: vec![],
        };
        let bytes = versioned(KEY_RECORD_V1, &v1, "keys", "k").unwrap();
        let mut want = sample();
        want.id = KeyId::from_bytes(id);
        want.materials = vec![Material {
            version: 1,
            object_id: [9; 16],
            public_object_id: None,
            created: Timestamp::from_unix_millis(5),
            rotation: None,
            encryptions_reserved: 0,
        }];
        // Written before accounts existed: no owner yet (the store assigns one), default policy.
        want.account = String::new();
        assert_eq!(decode_key(&id, &bytes).unwrap(), want);
        // Written back, it is version 3.
        assert_eq!(encode_key(&want).unwrap()[0], KEY_RECORD_V3);
    }

    #[test]
    fn key_pairs_are_version_4_and_secret_keys_stay_version_3() {
        let mut pair = sample();
        pair.spec = KeySpec::EccNistP256;
        pair.usage = KeyUsage::SignVerify;
        pair.materials = vec![Material {
            version: 1,
            object_id: [0xaa; 16],
            public_object_id: Some([0xab; 16]),
            created: Timestamp::from_unix_millis(7),
            rotation: None,
            encryptions_reserved: 0,
        }];
        let bytes = encode_key(&pair).unwrap();
        assert_eq!(bytes[0], KEY_RECORD_V4);
        let key = *pair.id.as_bytes();
        assert_eq!(decode_key(&key, &bytes).unwrap(), pair);
        assert_eq!(encode_key(&sample()).unwrap()[0], KEY_RECORD_V3);
        // A public half for each material version, no more and no less.
        let v4: KeyRecordV4 = exact(&bytes[1..]).unwrap();
        let short = KeyRecordV4 {
            v3: v4.v3,
            public_halves: Vec::new(),
        };
        let bytes = versioned(KEY_RECORD_V4, &short, "keys", "k").unwrap();
        assert!(matches!(
            decode_key(&key, &bytes),
            Err(StoreError::Corrupt { reason, .. }) if reason == "0 public halves for 1 material versions"
        ));
    }

    #[test]
    fn external_keys_are_version_6_with_their_import_bookkeeping() {
        let mut r = sample();
        r.origin = Origin::External;
        r.state = KeyState::PendingImport;
        r.imports = Some(Imports::default());
        let key = *r.id.as_bytes();
        let bytes = encode_key(&r).unwrap();
        assert_eq!(bytes[0], KEY_RECORD_V6);
        assert_eq!(decode_key(&key, &bytes).unwrap(), r);
        r.state = KeyState::Enabled;
        r.materials = vec![Material {
            version: 2,
            object_id: [0xaa; 16],
            public_object_id: Some([0xab; 16]),
            created: Timestamp::from_unix_millis(7),
            rotation: None,
            encryptions_reserved: 0,
        }];
        r.imports = Some(Imports {
            wrapping_pairs: vec![WrappingPair {
                private_object_id: [1; 16],
                public_object_id: [2; 16],
                valid_to: Timestamp::from_unix_millis(86_400_000),
                token_digest: [4; 32],
            }],
            materials: vec![
                ImportedMaterial {
                    version: 1,
                    fingerprint: [9; 32],
                    valid_to: Some(Timestamp::from_unix_millis(1_000)),
                    description: Some("first".into()),
                    pending_rotation: None,
                },
                ImportedMaterial {
                    version: 2,
                    fingerprint: [8; 32],
                    valid_to: None,
                    description: None,
                    pending_rotation: Some(([3; 16], None)),
                },
            ],
        });
        let bytes = encode_key(&r).unwrap();
        assert_eq!(bytes[0], KEY_RECORD_V6);
        assert_eq!(decode_key(&key, &bytes).unwrap(), r);
        // The version-4 body inside is checked as a version-4 record is.
        let mut v6: KeyRecordV6 = exact(&bytes[1..]).unwrap();
        v6.v4.public_halves.clear();
        let bytes = versioned(KEY_RECORD_V6, &v6, "keys", "k").unwrap();
        assert!(matches!(
            decode_key(&key, &bytes),
            Err(StoreError::Corrupt { reason, .. }) if reason == "0 public halves for 1 material versions"
        ));
    }

    #[test]
    fn records_carry_their_version_and_newer_ones_are_refused() {
        let mut with_policy = sample();
        with_policy.policy = Some("{}".into());
        let bytes = encode_key(&with_policy).unwrap();
        assert_eq!(
            decode_key(with_policy.id.as_bytes(), &bytes).unwrap(),
            with_policy
        );
        let bytes = encode_key(&sample()).unwrap();
        assert_eq!(bytes[0], KEY_RECORD_V3);
        let key = *sample().id.as_bytes();
        assert_eq!(decode_key(&key, &bytes).unwrap(), sample());
        assert!(matches!(
            decode_key(&[0; 16], &bytes),
            Err(StoreError::Corrupt { .. })
        ));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            decode_key(&key, &trailing),
            Err(StoreError::Corrupt { .. })
        ));
        let mut zero = bytes.clone();
        zero[0] = 0;
        assert!(matches!(
            decode_key(&key, &zero),
            Err(StoreError::Corrupt { .. })
        ));
        let mut newer = bytes.clone();
        newer[0] = KEY_RECORD_V8 + 1;
        assert!(matches!(
            decode_key(&key, &newer),
            Err(StoreError::TooNew { version: 9, .. })
        ));
        assert!(matches!(
            decode_key(&[0; 16], &[]),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            decode_key(&key, &bytes[..bytes.len() - 1]),
            Err(StoreError::Corrupt { .. })
        ));
        let mut bad_state = sample();
        bad_state.state = KeyState::Enabled;
        let mut b = encode_key(&bad_state).unwrap();
        // "Enabled" -> "Enablex": an enum name this code does not know is corruption.
        let pos = b.windows(7).position(|w| w == b"Enabled").unwrap();
        b[pos + 6] = b'x';
        assert!(matches!(
            decode_key(&[0; 16], &b),
            Err(StoreError::Corrupt { .. })
        ));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_key(&[1; 16], &bytes);
            let _ = decode_alias(b"alias/x", &bytes);
        }

        /// Random bytes mostly stop at the version byte; damaged real records go deeper.
        #[test]
        fn decoding_damaged_records_never_panics(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            cut in any::<usize>(),
        ) {
            let mut r = sample();
            r.tags = vec![Tag::new("team", "crypto").unwrap()];
            r.materials = vec![Material { version: 1, object_id: [5; 16], public_object_id: None, created: Timestamp::from_unix_millis(9), rotation: Some(RotationType::OnDemand), encryptions_reserved: 7 }];
            r.auto_rotation = Some(AutoRotation { period_days: 90, since: Timestamp::from_unix_millis(3) });
            let mut bytes = encode_key(&r).unwrap();
            for (pos, val) in edits {
                let i = 1 + pos % (bytes.len() - 1);
                bytes[i] = val;
            }
            bytes.truncate(1 + cut % bytes.len());
            let _ = decode_key(r.id.as_bytes(), &bytes);
        }

        #[test]
        fn key_records_round_trip(desc in ".{0,64}", created in any::<i64>(), versions in proptest::collection::vec(any::<u32>(), 0..5)) {
            let mut r = sample();
            r.description = desc;
            r.created = Timestamp::from_unix_millis(created);
            r.materials = versions.iter().map(|&v| Material { version: v, object_id: [v as u8; 16], public_object_id: (v % 3 == 0).then_some([!(v as u8); 16]), created: Timestamp::from_unix_millis(created), rotation: (v % 2 == 0).then_some(RotationType::Automatic), encryptions_reserved: u64::from(v) << 8 }).collect();
            r.on_demand_rotations = versions.len() as u32;
            r.auto_rotation = versions.first().map(|&v| AutoRotation { period_days: v, since: Timestamp::from_unix_millis(created) });
            let back = decode_key(r.id.as_bytes(), &encode_key(&r).unwrap()).unwrap();
            prop_assert_eq!(back, r);
        }
    }
}
