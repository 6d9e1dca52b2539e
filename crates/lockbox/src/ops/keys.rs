//! The key operations: CreateKey, DescribeKey, ListKeys, UpdateKeyDescription, EnableKey,
//! DisableKey.

use lockbox_api::*;
use lockbox_store::{KeyRecord, KeySlot, Material, Revision};

use super::grants::check_grant_tokens;
use super::tags::merge_tags;
use crate::authz::{Facts, parse_policy};
use crate::core::{
    Aliases, Call, Engine, check_limit, invalid_marker, marker_position, opaque_marker,
};
use crate::error::{from_store, from_token};
use crate::keykind;

impl Engine {
    pub(crate) fn create_key(
        &self,
        call: &mut Call<'_>,
        req: CreateKeyRequest,
    ) -> Result<CreateKeyResponse, KmsError> {
        let caller = call.caller;
        let auth = self.authorize_account(call, Action::CreateKey, caller.account())?;
        check_description(&req.description)?;
        let policy = match &req.policy {
            Some(doc) => Some(parse_policy(doc)?),
            None => None,
        };
        let spec = req.key_spec.unwrap_or(KeySpec::SymmetricDefault);
        let origin = req.origin.unwrap_or(Origin::AwsKms);
        let kind = keykind::for_spec(spec)?;
        let usage = match req.key_usage.or(kind.default_usage()) {
            Some(u) => u,
            None => {
                return Err(KmsError::validation(format!(
                    "You must specify a KeyUsage value for a KMS key with KeySpec {spec}; \
                     only symmetric encryption keys have a default ({}).",
                    KeyUsage::EncryptDecrypt
                )));
            }
        };
        kind.check_usage(spec, usage)?;
        match origin {
            Origin::AwsKms | Origin::External => {}
            other => {
                return Err(KmsError::new(
                    ErrorKind::UnsupportedOperation,
                    format!(
                        "Origin {other} is not supported; AWS_KMS and EXTERNAL are (Lockbox has \
                         no custom key stores)."
                    ),
                ));
            }
        }
        kind.check_token_supports(self.token.capabilities(), spec, usage)?;
        let mut tags = Vec::new();
        merge_tags(&mut tags, &req.tags)?;

        let mut id_bytes = [0u8; 16];
        self.token
            .random(&mut id_bytes)
            .map_err(|e| from_token("create key", e))?;
        // A multi-Region primary key has an `mrk-` id (decision 0025); it has no replicas
        // until ReplicateKey, which this build does not offer yet.
        let id = if req.multi_region {
            KeyId::new_multi_region(id_bytes)
        } else {
            KeyId::from_random_bytes(id_bytes)
        };
        if let Some(policy) = &policy
            && !req.bypass_policy_lockout_safety_check
        {
            let region = self.call_region(call);
            self.check_lockout(call, &self.key_arn_in(auth.account(), region, id), policy)?;
        }
        let now = self.clock.now();
        let _w = self.writes.lock();
        if origin == Origin::External {
            // No material: the key waits for ImportKeyMaterial (see ops/import.rs).
            let record = KeyRecord {
                id,
                created: now,
                description: req.description,
                spec,
                usage,
                origin,
                state: KeyState::PendingImport,
                deletion: None,
                materials: Vec::new(),
                tags,
                auto_rotation: None,
                on_demand_rotations: 0,
                account: auth.account().to_owned(),
                policy: req.policy,
                imports: Some(Default::default()),
                // A key belongs to the Region it was created in.
                region: self.call_region(call).to_owned(),
                family: None,
                revision: Revision::NEW,
            };
            call.key = Some(self.arn(&record));
            self.put("create key", &record)?;
            tracing::info!(key = %id, "key created for imported material");
            return Ok(CreateKeyResponse {
                key_metadata: self.metadata(&record),
            });
        }
        // Token first, metadata second: a crash in between leaves an orphan object, never a
        // record that names missing material.
        let made = kind
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
                object_id: *made.object.as_bytes(),
                public_object_id: made.public.map(|p| *p.as_bytes()),
                created: now,
                rotation: None,
                encryptions_reserved: 0,
            }],
            tags,
            auto_rotation: None,
            on_demand_rotations: 0,
            account: auth.account().to_owned(),
            policy: req.policy,
            imports: None,
            // A key belongs to the Region it was created in.
            region: self.call_region(call).to_owned(),
            family: None,
            revision: Revision::NEW,
        };
        call.key = Some(self.arn(&record));
        if let Err(e) = self.put("create key", &record) {
            // The record may or may not be on disk. Destroy the material only once the record
            // is surely gone; otherwise leave an orphan object for reconciliation, never a
            // record that names missing material.
            match self.store.delete_key(record.slot()) {
                Ok(()) => {
                    for object in std::iter::once(made.object).chain(made.public) {
                        if let Err(d) = self.token.destroy(&object) {
                            tracing::warn!(key = %id, error = %d,
                                "could not destroy the material of a key that was not created");
                        }
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
        check_grant_tokens(&req.grant_tokens)?;
        let r = self.resolve(call, &req.key_id, Aliases::Accepted)?;
        let auth = self.authorize(call, Action::DescribeKey, r, Facts::default())?;
        Ok(DescribeKeyResponse {
            key_metadata: self.metadata(auth.record()),
        })
    }

    pub(crate) fn list_keys(
        &self,
        call: &mut Call<'_>,
        req: ListKeysRequest,
    ) -> Result<ListKeysResponse, KmsError> {
        let caller = call.caller;
        let auth = self.authorize_account(call, Action::ListKeys, caller.account())?;
        let limit = check_limit(req.limit, 1000, 100)?;
        let after = match &req.marker {
            Some(m) => Some(parse_list_marker(&marker_position("keys", m)?)?),
            None => None,
        };
        let page = self
            .store
            .keys_page_in(
                Some(auth.account()),
                Some(self.call_region(call)),
                after,
                limit,
            )
            .map_err(|e| from_store("list keys", e))?;
        let next_marker = match (page.more, page.items.last()) {
            (true, Some(last)) => Some(opaque_marker("keys", &list_marker(last))),
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
        self.modify(
            call,
            Action::UpdateKeyDescription,
            &req.key_id,
            Facts::default(),
            |r| {
                r.description = req.description.clone();
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
        self.modify(
            call,
            Action::EnableKey,
            &req.key_id,
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
        self.modify(
            call,
            Action::DisableKey,
            &req.key_id,
            Facts::default(),
            |r| {
                r.state = KeyState::Disabled;
                Ok(())
            },
        )?;
        Ok(())
    }
}

/// Refuses a description longer than AWS allows, in AWS's words.
pub(super) fn check_description(d: &str) -> Result<(), KmsError> {
    if d.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(KmsError::validation(format!(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: \
             Member must have length less than or equal to {MAX_DESCRIPTION_LEN}"
        )));
    }
    Ok(())
}

/// ListKeys' marker after record `r`: its key id when that is its slot (a single-Region key,
/// as before multi-Region keys), else its slot's 32 hex digits.
fn list_marker(r: &KeyRecord) -> String {
    let slot = r.slot();
    if slot.as_bytes() == r.id.as_bytes() {
        r.id.to_string()
    } else {
        slot.to_string()
    }
}

/// The slot a ListKeys marker names ([`list_marker`]'s two forms).
fn parse_list_marker(m: &str) -> Result<KeySlot, KmsError> {
    if let Ok(id) = KeyId::parse(m)
        && !id.is_multi_region()
    {
        return Ok(KeySlot::of(id, ""));
    }
    let bytes: [u8; 16] = hex::decode(m)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(invalid_marker)?;
    Ok(KeySlot::from_bytes(bytes))
}
