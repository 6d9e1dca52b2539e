//! The import operations: GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial (keys of Origin EXTERNAL), and RotateKeyOnDemand and
//! ListKeyRotations of imported symmetric keys. The expiry of imported material is
//! maintenance's (`lifecycle.rs`, `Engine::expire_due`).
//!
//! Order of writes (invariant 3, token first, metadata second; see `docs/durability.md`,
//! "Imported key material"): a wrapping pair or imported material is made in the token, then
//! the record that names it is stored durably; an object is destroyed only after the record
//! that stops naming it is stored. A crash in between leaves an unnamed token object, which
//! reconciliation destroys after its grace period, never a record that names nothing. A
//! refused import destroys what it made before it answers and writes nothing.
//!
//! The import token (`docs/formats/import.md`) names the key, the wrapping pair, the
//! wrapping algorithm, its expiry and 16 random bytes; the record keeps its SHA-256 beside
//! the pair, so ImportKeyMaterial accepts exactly a token this engine issued for this key and
//! not since retired, unaltered.

use lockbox_api::*;
use lockbox_store::{ImportedMaterial, KeyRecord, Material, WrappingPair};
use lockbox_token::{ObjectId, RsaBits, TokenError, WrappingAlgorithm};
use sha2::{Digest, Sha256};

use super::check_length;
use crate::core::{Call, Engine};
use crate::error::{from_store, from_token};
use crate::keykind::{self, MaterialTemplate};
use crate::lifecycle::remove_material;

/// The import token's first bytes.
const TOKEN_MAGIC: &[u8; 4] = b"LBIT";
/// The import token's format version.
const TOKEN_V1: u8 = 1;
/// magic, version, key id, two object ids, algorithm, expiry, nonce.
const TOKEN_LEN: usize = 4 + 1 + 16 + 16 + 16 + 1 + 8 + 16;
/// At most this many wrapping pairs wait for an import per key; a newer request retires the
/// oldest (its token then answers InvalidImportTokenException).
pub(crate) const MAX_WRAPPING_PAIRS: usize = 10;
/// ValidTo may be at most this many days after the request, as in AWS.
const MAX_VALID_TO_DAYS: u32 = 365;
const HOUR_MS: i64 = 3_600_000;

/// What an import token says. Authenticated by the digest the record keeps, not by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ImportToken {
    key: KeyId,
    private: [u8; 16],
    public: [u8; 16],
    algorithm: WrappingAlgorithm,
    valid_to: Timestamp,
    nonce: [u8; 16],
}

/// AWS's name of a wrapping algorithm.
fn algorithm_name(a: WrappingAlgorithm) -> &'static str {
    match a {
        WrappingAlgorithm::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
        WrappingAlgorithm::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
        WrappingAlgorithm::RsaAesKeyWrapSha1 => "RSA_AES_KEY_WRAP_SHA_1",
        WrappingAlgorithm::RsaAesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
    }
}

fn algorithm_code(a: WrappingAlgorithm) -> u8 {
    match a {
        WrappingAlgorithm::RsaesOaepSha1 => 1,
        WrappingAlgorithm::RsaesOaepSha256 => 2,
        WrappingAlgorithm::RsaAesKeyWrapSha1 => 3,
        WrappingAlgorithm::RsaAesKeyWrapSha256 => 4,
    }
}

impl ImportToken {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TOKEN_LEN);
        out.extend_from_slice(TOKEN_MAGIC);
        out.push(TOKEN_V1);
        out.extend_from_slice(self.key.as_bytes());
        out.extend_from_slice(&self.private);
        out.extend_from_slice(&self.public);
        out.push(algorithm_code(self.algorithm));
        out.extend_from_slice(&self.valid_to.unix_millis().to_be_bytes());
        out.extend_from_slice(&self.nonce);
        out
    }

    /// Total: any bytes give a token or `None`.
    fn decode(b: &[u8]) -> Option<ImportToken> {
        if b.len() != TOKEN_LEN || &b[..4] != TOKEN_MAGIC || b[4] != TOKEN_V1 {
            return None;
        }
        let id = |at: usize| -> Option<[u8; 16]> { b.get(at..at + 16)?.try_into().ok() };
        let algorithm = match b[53] {
            1 => WrappingAlgorithm::RsaesOaepSha1,
            2 => WrappingAlgorithm::RsaesOaepSha256,
            3 => WrappingAlgorithm::RsaAesKeyWrapSha1,
            4 => WrappingAlgorithm::RsaAesKeyWrapSha256,
            _ => return None,
        };
        let ms = i64::from_be_bytes(b.get(54..62)?.try_into().ok()?);
        Some(ImportToken {
            key: KeyId::from_bytes(id(5)?),
            private: id(21)?,
            public: id(37)?,
            algorithm,
            valid_to: Timestamp::from_unix_millis(ms),
            nonce: id(62)?,
        })
    }
}

fn invalid_token(arn: &KeyArn) -> KmsError {
    KmsError::new(
        ErrorKind::InvalidImportToken,
        format!(
            "The import token is invalid or is associated with a different KMS key than {arn}."
        ),
    )
}

/// The KeyMaterialId of imported material: the hex of its fingerprint.
pub(crate) fn imported_material_id(m: &ImportedMaterial) -> String {
    hex::encode(m.fingerprint)
}

fn wrapping_algorithm(a: AlgorithmSpec) -> Result<WrappingAlgorithm, KmsError> {
    match a {
        AlgorithmSpec::RsaesOaepSha1 => Ok(WrappingAlgorithm::RsaesOaepSha1),
        AlgorithmSpec::RsaesOaepSha256 => Ok(WrappingAlgorithm::RsaesOaepSha256),
        AlgorithmSpec::RsaAesKeyWrapSha1 => Ok(WrappingAlgorithm::RsaAesKeyWrapSha1),
        AlgorithmSpec::RsaAesKeyWrapSha256 => Ok(WrappingAlgorithm::RsaAesKeyWrapSha256),
        other => Err(KmsError::new(
            ErrorKind::UnsupportedOperation,
            format!(
                "WrappingAlgorithm {other} is not supported; use RSAES_OAEP_SHA_1, \
                 RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256."
            ),
        )),
    }
}

impl Engine {
    /// Refuses a key whose origin is not EXTERNAL.
    fn check_external(&self, r: &KeyRecord) -> Result<(), KmsError> {
        if r.origin != Origin::External {
            return Err(KmsError::new(
                ErrorKind::UnsupportedOperation,
                format!(
                    "{} has origin {}; key material can be imported only into a key with \
                     origin EXTERNAL.",
                    self.arn(r),
                    r.origin
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn get_parameters_for_import(
        &self,
        call: &mut Call<'_>,
        req: GetParametersForImportRequest,
    ) -> Result<GetParametersForImportResponse, KmsError> {
        let algorithm = wrapping_algorithm(req.wrapping_algorithm)?;
        let bits = match req.wrapping_key_spec {
            WrappingKeySpec::Rsa2048 => RsaBits::Rsa2048,
            WrappingKeySpec::Rsa3072 => RsaBits::Rsa3072,
            WrappingKeySpec::Rsa4096 => RsaBits::Rsa4096,
            other => {
                return Err(KmsError::new(
                    ErrorKind::UnsupportedOperation,
                    format!(
                        "WrappingKeySpec {other} is not supported; use RSA_2048, RSA_3072 or \
                         RSA_4096."
                    ),
                ));
            }
        };
        let _w = self.writes.lock();
        let auth = self.authorized_read(call, Action::GetParametersForImport, &req.key_id)?;
        let r = auth.record();
        self.check_external(r)?;
        let now = self.clock.now();
        let valid_to = Timestamp::from_unix_millis(
            now.unix_millis() + i64::from(IMPORT_PARAMETERS_VALID_HOURS) * HOUR_MS,
        );
        let op = "get parameters for import";
        let nonce: [u8; 16] = self
            .random(16)?
            .as_slice()
            .try_into()
            .map_err(|_| KmsError::internal("The token returned too few random bytes."))?;
        // Token first: the pair, then the record that names it.
        let pair = self
            .token
            .generate_wrapping_key_pair(bits, &format!("{}/wrapping", r.id))
            .map_err(|e| from_token(op, e))?;
        lockbox_store::failpoints::hit("engine.import.after_wrapping_pair")
            .map_err(|e| from_store(op, e))?;
        let public_key = self
            .token
            .public_key_info(&pair.public)
            .map_err(|e| from_token(op, e))?;
        let token = ImportToken {
            key: r.id,
            private: *pair.private.as_bytes(),
            public: *pair.public.as_bytes(),
            algorithm,
            valid_to,
            nonce,
        }
        .encode();
        let mut retired = Vec::new();
        let r = self.write_key(auth, |r| {
            let imports = r.imports.get_or_insert_with(Default::default);
            imports.wrapping_pairs.retain(|w| {
                let keep = w.valid_to > now;
                if !keep {
                    retired.push(*w);
                }
                keep
            });
            imports.wrapping_pairs.push(WrappingPair {
                private_object_id: *pair.private.as_bytes(),
                public_object_id: *pair.public.as_bytes(),
                valid_to,
                token_digest: Sha256::digest(&token).into(),
            });
            while imports.wrapping_pairs.len() > MAX_WRAPPING_PAIRS {
                retired.push(imports.wrapping_pairs.remove(0));
            }
            Ok(())
        })?;
        self.destroy_unnamed(
            r.id,
            retired
                .iter()
                .flat_map(|w| [w.private_object_id, w.public_object_id]),
        );
        Ok(GetParametersForImportResponse {
            key_id: self.arn(&r),
            import_token: token,
            public_key,
            parameters_valid_to: valid_to,
        })
    }

    pub(crate) fn import_key_material(
        &self,
        call: &mut Call<'_>,
        req: ImportKeyMaterialRequest,
    ) -> Result<ImportKeyMaterialResponse, KmsError> {
        check_length("importToken", req.import_token.len(), MAX_CIPHERTEXT_LEN)?;
        check_length(
            "encryptedKeyMaterial",
            req.encrypted_key_material.len(),
            MAX_CIPHERTEXT_LEN,
        )?;
        if let Some(d) = &req.key_material_description
            && d.len() > MAX_KEY_MATERIAL_DESCRIPTION_LEN
        {
            return Err(KmsError::length(
                "keyMaterialDescription",
                d.len(),
                MAX_KEY_MATERIAL_DESCRIPTION_LEN,
            ));
        }
        if let Some(d) = &req.key_material_description
            && !is_key_material_description(d)
        {
            return Err(KmsError::constraint(
                "keyMaterialDescription",
                d,
                &format!(
                    "Member must satisfy regular expression pattern: \
                     {KEY_MATERIAL_DESCRIPTION_PATTERN}"
                ),
            ));
        }
        let model = req
            .expiration_model
            .unwrap_or(ExpirationModelType::KeyMaterialExpires);
        let now = self.clock.now();
        let valid_to = match (model, req.valid_to) {
            (ExpirationModelType::KeyMaterialExpires, None) => {
                return Err(KmsError::validation(
                    "A ValidTo date is required when ExpirationModel is KEY_MATERIAL_EXPIRES.",
                ));
            }
            (ExpirationModelType::KeyMaterialDoesNotExpire, Some(_)) => {
                return Err(KmsError::validation(
                    "ValidTo is not valid when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.",
                ));
            }
            (ExpirationModelType::KeyMaterialExpires, Some(t)) => {
                if t <= now {
                    return Err(KmsError::validation(
                        "ValidTo must be a future date and time.",
                    ));
                }
                if t > now.plus_days(MAX_VALID_TO_DAYS) {
                    return Err(KmsError::validation(format!(
                        "ValidTo must be at most {MAX_VALID_TO_DAYS} days after the request."
                    )));
                }
                Some(t)
            }
            (ExpirationModelType::KeyMaterialDoesNotExpire, None) => None,
        };
        let _w = self.writes.lock();
        let auth = self.authorized_read(call, Action::ImportKeyMaterial, &req.key_id)?;
        let r = auth.record();
        self.check_external(r)?;
        let arn = self.arn(r);
        // The token: one this engine issued for this key, unaltered, not retired, not expired.
        let token = ImportToken::decode(&req.import_token).ok_or_else(|| invalid_token(&arn))?;
        let digest: [u8; 32] = Sha256::digest(&req.import_token).into();
        let issued = r.imports.as_ref().and_then(|i| {
            i.wrapping_pairs.iter().find(|w| {
                w.private_object_id == token.private
                    && w.public_object_id == token.public
                    && w.token_digest == digest
            })
        });
        if token.key != r.id || issued.is_none() {
            return Err(invalid_token(&arn));
        }
        if token.valid_to <= now {
            return Err(KmsError::new(
                ErrorKind::ExpiredImportToken,
                format!(
                    "The import token for {arn} expired at {}; call GetParametersForImport for \
                     a new one.",
                    token.valid_to.unix_millis()
                ),
            ));
        }
        let symmetric = r.spec == KeySpec::SymmetricDefault;
        let ever = r.imports.as_ref().is_some_and(|i| !i.materials.is_empty());
        if !symmetric
            && (req.key_material_description.is_some()
                || req.key_material_id.is_some()
                || req.import_type == Some(ImportType::NewKeyMaterial) && ever)
        {
            return Err(KmsError::new(
                ErrorKind::UnsupportedOperation,
                format!(
                    "{arn} is not a symmetric encryption key: ImportType NEW_KEY_MATERIAL after \
                     the first import, KeyMaterialId and KeyMaterialDescription are only for \
                     SYMMETRIC_DEFAULT keys."
                ),
            ));
        }
        let import_type = req.import_type.unwrap_or(if ever {
            ImportType::ExistingKeyMaterial
        } else {
            ImportType::NewKeyMaterial
        });
        if import_type == ImportType::NewKeyMaterial && ever && r.id.is_multi_region() {
            return Err(KmsError::new(
                ErrorKind::UnsupportedOperation,
                format!(
                    "{arn} is a multi-Region key: importing new key material (ImportType \
                     NEW_KEY_MATERIAL) after the first import, for on-demand rotation, is not \
                     available in this build of Lockbox."
                ),
            ));
        }
        if import_type == ImportType::NewKeyMaterial && req.key_material_id.is_some() {
            return Err(KmsError::validation(
                "KeyMaterialId cannot be given with ImportType NEW_KEY_MATERIAL.",
            ));
        }
        if import_type == ImportType::ExistingKeyMaterial && !ever {
            return Err(KmsError::new(
                ErrorKind::IncorrectKeyMaterial,
                format!(
                    "No key material has been imported into {arn} yet; import it as NEW_KEY_MATERIAL."
                ),
            ));
        }

        // Token first: the material, unwrapped into the token; refusals below destroy it.
        let op = "import key material";
        let versions = r.imports.as_ref().map_or(0, |i| {
            i.materials.iter().map(|m| m.version).max().unwrap_or(0)
        });
        let name = format!("{}/{}", r.id, versions + 1);
        let kind = keykind::for_spec(r.spec)?;
        let made = match kind.material_template(r.spec, r.usage) {
            MaterialTemplate::Secret(t) => self
                .token
                .import_secret_key(
                    &ObjectId::from_bytes(token.private),
                    token.algorithm,
                    &req.encrypted_key_material,
                    &t,
                    &name,
                )
                .map(|(object, fingerprint)| (object, None, fingerprint)),
            MaterialTemplate::KeyPair(t) => self
                .token
                .import_key_pair(
                    &ObjectId::from_bytes(token.private),
                    token.algorithm,
                    &req.encrypted_key_material,
                    &t,
                    &name,
                )
                .and_then(|p| {
                    let f = self.token.key_pair_fingerprint(&p.public);
                    match f {
                        Ok(f) => Ok((p.private, Some(p.public), f)),
                        Err(e) => {
                            self.destroy_unnamed(
                                r.id,
                                [*p.private.as_bytes(), *p.public.as_bytes()],
                            );
                            Err(e)
                        }
                    }
                }),
        };
        let (object, public, fingerprint) = match made {
            Ok(m) => m,
            Err(TokenError::DecryptFailed) => {
                return Err(KmsError::new(
                    ErrorKind::InvalidCiphertext,
                    format!(
                        "The encrypted key material could not be unwrapped with the wrapping key \
                         and algorithm of this import token ({}).",
                        algorithm_name(token.algorithm)
                    ),
                ));
            }
            Err(TokenError::InvalidInput(msg)) => {
                return Err(KmsError::new(
                    ErrorKind::IncorrectKeyMaterial,
                    format!("The key material is not valid for a {} key: {msg}.", r.spec),
                ));
            }
            Err(e) => return Err(from_token(op, e)),
        };
        let made_objects: Vec<[u8; 16]> = std::iter::once(*object.as_bytes())
            .chain(public.map(|p| *p.as_bytes()))
            .collect();
        let refuse = |e: KmsError| {
            self.destroy_unnamed(r.id, made_objects.iter().copied());
            Err(e)
        };
        lockbox_store::failpoints::hit("engine.import.after_material")
            .map_err(|e| from_store(op, e))?;

        let known = r
            .imports
            .as_ref()
            .and_then(|i| i.materials.iter().find(|m| m.fingerprint == fingerprint))
            .cloned();
        let material_id = hex::encode(fingerprint);
        let version = match (import_type, &known) {
            (ImportType::NewKeyMaterial, Some(_)) => {
                return refuse(KmsError::new(
                    ErrorKind::IncorrectKeyMaterial,
                    format!(
                        "The key material is already associated with {arn}; import it as \
                         EXISTING_KEY_MATERIAL."
                    ),
                ));
            }
            (ImportType::NewKeyMaterial, None) => versions + 1,
            (ImportType::ExistingKeyMaterial, None) => {
                return refuse(KmsError::new(
                    ErrorKind::IncorrectKeyMaterial,
                    format!(
                        "The key material is not the key material previously imported into \
                         {arn}."
                    ),
                ));
            }
            (ImportType::ExistingKeyMaterial, Some(k)) => {
                if req
                    .key_material_id
                    .as_ref()
                    .is_some_and(|id| *id != material_id)
                {
                    return refuse(KmsError::new(
                        ErrorKind::IncorrectKeyMaterial,
                        format!(
                            "The key material is not the key material with KeyMaterialId {} of \
                             {arn}.",
                            req.key_material_id.as_deref().unwrap_or_default()
                        ),
                    ));
                }
                k.version
            }
        };

        // The record: the version's objects and bookkeeping; objects it stops naming go after.
        let mut replaced: Vec<[u8; 16]> = Vec::new();
        let write = self.write_key(auth, |r| {
            let pending_rotation = version > 1 && import_type == ImportType::NewKeyMaterial
                || r.imported(version)
                    .is_some_and(|m| m.pending_rotation.is_some());
            let imports = r.imports.get_or_insert_with(Default::default);
            let description = req
                .key_material_description
                .clone()
                .or_else(|| known.as_ref().and_then(|k| k.description.clone()));
            let entry = ImportedMaterial {
                version,
                fingerprint,
                valid_to,
                description,
                pending_rotation: pending_rotation
                    .then_some((*object.as_bytes(), public.map(|p| *p.as_bytes()))),
            };
            match imports.materials.iter_mut().find(|m| m.version == version) {
                Some(m) => {
                    if let Some((o, p)) = m.pending_rotation {
                        replaced.extend(std::iter::once(o).chain(p));
                    }
                    *m = entry;
                }
                None => imports.materials.push(entry),
            }
            if !pending_rotation {
                let created = now;
                match r.materials.iter_mut().find(|m| m.version == version) {
                    Some(m) => {
                        replaced.extend(std::iter::once(m.object_id).chain(m.public_object_id));
                        m.object_id = *object.as_bytes();
                        m.public_object_id = public.map(|p| *p.as_bytes());
                    }
                    None => {
                        r.materials.push(Material {
                            version,
                            object_id: *object.as_bytes(),
                            public_object_id: public.map(|p| *p.as_bytes()),
                            created,
                            rotation: None,
                            encryptions_reserved: 0,
                        });
                        r.materials.sort_by_key(|m| m.version);
                    }
                }
            }
            // Every version that was in use is in the token again: the key can be used.
            if r.state == KeyState::PendingImport && all_in_token(r) {
                r.state = KeyState::Enabled;
            }
            Ok(())
        });
        let r = match write {
            Ok(r) => r,
            Err(e) => {
                // The record may or may not be on disk: leave the new objects for
                // reconciliation rather than risk a record that names nothing.
                return Err(e);
            }
        };
        self.destroy_unnamed(r.id, replaced);
        tracing::info!(key = %r.id, version, "key material imported");
        Ok(ImportKeyMaterialResponse {
            key_id: self.arn(&r),
            key_material_id: material_id,
        })
    }

    pub(crate) fn delete_imported_key_material(
        &self,
        call: &mut Call<'_>,
        req: DeleteImportedKeyMaterialRequest,
    ) -> Result<DeleteImportedKeyMaterialResponse, KmsError> {
        let _w = self.writes.lock();
        let auth = self.authorized_read(call, Action::DeleteImportedKeyMaterial, &req.key_id)?;
        let r = auth.record();
        self.check_external(r)?;
        let arn = self.arn(r);
        let entries = r
            .imports
            .as_ref()
            .map(|i| i.materials.as_slice())
            .unwrap_or_default();
        let target = match &req.key_material_id {
            Some(id) => match entries.iter().find(|m| imported_material_id(m) == *id) {
                Some(m) => Some(m.clone()),
                None => {
                    return Err(KmsError::not_found(format!(
                        "Key material {id} is not associated with {arn}."
                    )));
                }
            },
            None => r
                .current_material()
                .and_then(|m| r.imported(m.version))
                .cloned(),
        };
        let Some(target) = target else {
            // Nothing in the token: AWS answers success, with no effect.
            return Ok(DeleteImportedKeyMaterialResponse {
                key_id: arn,
                key_material_id: entries.last().map(imported_material_id).unwrap_or_default(),
            });
        };
        let mut gone: Vec<[u8; 16]> = Vec::new();
        let r = self.write_key(auth, |r| {
            remove_material(r, target.version, &mut gone);
            Ok(())
        })?;
        self.destroy_unnamed(r.id, gone);
        tracing::info!(key = %r.id, version = target.version, "imported key material deleted");
        Ok(DeleteImportedKeyMaterialResponse {
            key_id: self.arn(&r),
            key_material_id: imported_material_id(&target),
        })
    }
}

impl Engine {
    /// RotateKeyOnDemand of an EXTERNAL symmetric key: the oldest material imported as
    /// NEW_KEY_MATERIAL (PENDING_ROTATION) becomes the current version. Nothing is made in
    /// the token: the material is already there.
    pub(crate) fn rotate_to_imported(
        &self,
        auth: crate::authz::Authorized,
    ) -> Result<RotateKeyOnDemandResponse, KmsError> {
        let r = auth.record();
        let pending = r.imports.as_ref().and_then(|i| {
            i.materials
                .iter()
                .filter(|m| m.pending_rotation.is_some())
                .min_by_key(|m| m.version)
                .cloned()
        });
        let Some(pending) = pending else {
            return Err(KmsError::new(
                ErrorKind::KmsInvalidState,
                format!(
                    "{} has no key material in state PENDING_ROTATION; import new key material \
                     (ImportType NEW_KEY_MATERIAL) before rotating.",
                    self.arn(r)
                ),
            ));
        };
        let now = self.clock.now();
        let r = self.write_key(auth, |r| {
            let Some((object_id, public_object_id)) = pending.pending_rotation else {
                return Ok(());
            };
            if let Some(m) = r.imports.as_mut().and_then(|i| {
                i.materials
                    .iter_mut()
                    .find(|m| m.version == pending.version)
            }) {
                m.pending_rotation = None;
            }
            r.on_demand_rotations += 1;
            r.materials.push(Material {
                version: pending.version,
                object_id,
                public_object_id,
                created: now,
                rotation: Some(RotationType::OnDemand),
                encryptions_reserved: 0,
            });
            r.materials.sort_by_key(|m| m.version);
            Ok(())
        })?;
        tracing::info!(key = %r.id, version = pending.version, "rotated to imported key material");
        Ok(RotateKeyOnDemandResponse {
            key_id: self.arn(&r),
        })
    }

    /// ListKeyRotations of an EXTERNAL symmetric key: every version of imported material,
    /// with its import state, expiry and description; ROTATIONS_ONLY leaves out the first
    /// material and material pending rotation, as AWS does.
    pub(crate) fn imported_rotations(
        &self,
        r: &KeyRecord,
        all: bool,
        after: Option<u32>,
        limit: usize,
    ) -> ListKeyRotationsResponse {
        let current = r.current_material().map(|m| m.version);
        let mut listed: Vec<&ImportedMaterial> = r
            .imports
            .iter()
            .flat_map(|i| i.materials.iter())
            .filter(|m| all || r.material(m.version).is_some_and(|x| x.rotation.is_some()))
            .filter(|m| after.is_none_or(|a| m.version > a))
            .collect();
        listed.sort_by_key(|m| m.version);
        let more = listed.len() > limit;
        listed.truncate(limit);
        let next_marker = match (more, listed.last()) {
            (true, Some(m)) => Some(crate::core::opaque_marker(
                "rotations",
                &m.version.to_string(),
            )),
            _ => None,
        };
        ListKeyRotationsResponse {
            rotations: listed
                .into_iter()
                .map(|m| {
                    let held = r.material(m.version);
                    RotationsListEntry {
                        key_id: r.id,
                        key_material_id: imported_material_id(m),
                        key_material_state: if m.pending_rotation.is_some() {
                            KeyMaterialState::PendingRotation
                        } else if Some(m.version) == current {
                            KeyMaterialState::Current
                        } else {
                            KeyMaterialState::NonCurrent
                        },
                        rotation_date: held.and_then(|x| x.rotation.map(|_| x.created)),
                        rotation_type: held.and_then(|x| x.rotation),
                        import_state: Some(if held.is_some() || m.pending_rotation.is_some() {
                            ImportState::Imported
                        } else {
                            ImportState::PendingImport
                        }),
                        expiration_model: Some(if m.valid_to.is_some() {
                            ExpirationModelType::KeyMaterialExpires
                        } else {
                            ExpirationModelType::KeyMaterialDoesNotExpire
                        }),
                        valid_to: m.valid_to,
                        key_material_description: m.description.clone(),
                    }
                })
                .collect(),
            truncated: next_marker.is_some(),
            next_marker,
        }
    }
}

/// Whether every imported version that is not waiting for a rotation is in the token.
fn all_in_token(r: &KeyRecord) -> bool {
    r.imports.as_ref().is_none_or(|i| {
        i.materials
            .iter()
            .filter(|m| m.pending_rotation.is_none())
            .all(|m| r.material(m.version).is_some())
    }) && !r.materials.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_tokens_round_trip_and_anything_else_is_refused() {
        let t = ImportToken {
            key: KeyId::from_random_bytes([1; 16]),
            private: [2; 16],
            public: [3; 16],
            algorithm: WrappingAlgorithm::RsaAesKeyWrapSha256,
            valid_to: Timestamp::from_unix_millis(1_700_000_000_000),
            nonce: [4; 16],
        };
        let b = t.encode();
        assert_eq!(b.len(), TOKEN_LEN);
        assert_eq!(ImportToken::decode(&b), Some(t));
        assert_eq!(ImportToken::decode(&b[1..]), None);
        assert_eq!(ImportToken::decode(&[b.as_slice(), &[0]].concat()), None);
        for (at, v) in [(0, b'X'), (4, 2), (53, 0), (53, 5)] {
            let mut bad = b.clone();
            bad[at] = v;
            assert_eq!(ImportToken::decode(&bad), None, "byte {at}");
        }
        assert_eq!(ImportToken::decode(&[]), None);
    }
}
