//! The multi-Region operations: ReplicateKey, UpdatePrimaryRegion.
//!
//! A family of multi-Region keys (one `mrk-` id, one member per Region) lives in one token:
//! a replica names the primary's token objects rather than copying them (decision 0025), so
//! "the same key material copied inside the token" costs nothing and never exports anything.
//! Every member's record lists the family; the records change together (`Store::put_keys`,
//! `Store::create_member`), and `Engine::put` gives every write of a member's shared
//! properties (material versions, rotation) to the others.

use lockbox_api::*;
use lockbox_store::{Family, ImportedMaterial, Imports, KeyRecord, Revision, StoreError};

use super::keys::check_description;
use super::tags::merge_tags;
use crate::authz::{Facts, default_policy, parse_policy};
use crate::core::{Aliases, Call, Engine, family_of};
use crate::error::from_store;

impl Engine {
    pub(crate) fn replicate_key(
        &self,
        call: &mut Call<'_>,
        req: ReplicateKeyRequest,
    ) -> Result<ReplicateKeyResponse, KmsError> {
        check_description(req.description.as_deref().unwrap_or_default())?;
        let policy = match &req.policy {
            Some(doc) => Some(parse_policy(doc)?),
            None => None,
        };
        let mut tags = Vec::new();
        merge_tags(&mut tags, &req.tags)?;
        let region = req.replica_region.as_str();
        self.check_member_region("ReplicaRegion", region)?;

        let _w = self.writes.lock();
        let r = self.resolve(call, &req.key_id, Aliases::Refused)?;
        let auth = self.authorize(call, Action::ReplicateKey, r, Facts::default())?;
        let primary = auth.record();
        let family = self.primary_family(primary)?;
        // The replica is a new key in the replica Region (kms:CreateKey there, in AWS): in
        // Lockbox, creating keys is the caller's own account's right.
        let account = self
            .authorize_account(call, Action::CreateKey, &primary.account)?
            .account();
        if family.has(region) {
            return Err(KmsError::new(
                ErrorKind::AlreadyExists,
                format!(
                    "{} already exists: the multi-Region key {} has a {} key in {region}.",
                    self.key_arn_in(account, region, primary.id),
                    primary.id,
                    if family.primary == region {
                        "primary"
                    } else {
                        "replica"
                    }
                ),
            ));
        }
        let replica_arn = self.key_arn_in(account, region, primary.id);
        if let Some(policy) = &policy
            && !req.bypass_policy_lockout_safety_check
        {
            self.check_lockout(call, &replica_arn, policy)?;
        }

        let mut replicas = family.replicas.clone();
        replicas.push(region.to_owned());
        replicas.sort();
        let family = Family {
            primary: family.primary,
            replicas,
        };
        // The replica: the primary's shared properties (id, spec, usage, origin, material
        // versions, rotation), its own description, policy, tags and state. Imported material
        // is imported into each member: the replica waits for it, and its import must be the
        // material the primary's versions are (their fingerprints).
        let external = primary.origin == Origin::External;
        let replica = KeyRecord {
            id: primary.id,
            created: self.clock.now(),
            description: req.description.clone().unwrap_or_default(),
            spec: primary.spec,
            usage: primary.usage,
            origin: primary.origin,
            state: if external {
                KeyState::PendingImport
            } else {
                KeyState::Enabled
            },
            deletion: None,
            materials: if external {
                Vec::new()
            } else {
                primary.materials.clone()
            },
            tags,
            auto_rotation: primary.auto_rotation,
            on_demand_rotations: primary.on_demand_rotations,
            account: account.to_owned(),
            policy: req.policy.clone(),
            imports: external.then(|| Imports {
                wrapping_pairs: Vec::new(),
                materials: primary
                    .imports
                    .iter()
                    .flat_map(|i| &i.materials)
                    .filter(|m| m.pending_rotation.is_none())
                    .map(|m| ImportedMaterial {
                        version: m.version,
                        fingerprint: m.fingerprint,
                        valid_to: None,
                        description: m.description.clone(),
                        pending_rotation: None,
                    })
                    .collect(),
            }),
            region: region.to_owned(),
            family: Some(family.clone()),
            revision: Revision::NEW,
        };
        let mut others = self.other_members(primary)?;
        others.push(primary.clone());
        for o in &mut others {
            o.family = Some(family.clone());
        }
        self.store
            .create_member(&replica, &others)
            .map_err(|e| match e {
                StoreError::KeyExists => KmsError::new(
                    ErrorKind::AlreadyExists,
                    format!("{replica_arn} already exists."),
                ),
                e => from_store("replicate key", e),
            })?;
        tracing::info!(key = %replica.id, primary = %family.primary, region,
            "multi-Region key replicated");
        // AWS records a CreateKey of the replica in its Region besides the ReplicateKey.
        call.also.push(("CreateKey", replica_arn));
        Ok(ReplicateKeyResponse {
            replica_key_metadata: self.metadata(&replica),
            replica_policy: replica
                .policy
                .clone()
                .unwrap_or_else(|| default_policy(self.arn_scope().partition(), account)),
            replica_tags: replica.tags.clone(),
        })
    }

    pub(crate) fn update_primary_region(
        &self,
        call: &mut Call<'_>,
        req: UpdatePrimaryRegionRequest,
    ) -> Result<(), KmsError> {
        let region = req.primary_region.as_str();
        self.check_member_region("PrimaryRegion", region)?;
        let _w = self.writes.lock();
        let r = self.resolve(call, &req.key_id, Aliases::Refused)?;
        let auth = self.authorize(call, Action::UpdatePrimaryRegion, r, Facts::default())?;
        let primary = auth.record();
        let family = self.primary_family(primary)?;
        if region == family.primary {
            return Err(KmsError::validation(format!(
                "{} is already the primary key of its multi-Region key; PrimaryRegion must \
                 name the Region of one of its replica keys.",
                self.arn(primary)
            )));
        }
        let missing = || {
            KmsError::not_found(format!(
                "Key '{}' does not exist",
                self.key_arn_in(&primary.account, region, primary.id)
            ))
        };
        if !family.has(region) {
            return Err(missing());
        }
        let new_primary = self.record_in(primary.id, region)?.ok_or_else(missing)?;
        // The replica that becomes the primary must allow it too (AWS: kms:UpdatePrimaryRegion
        // in both keys' policies) and be Enabled. Its authorization is decided as a call in
        // its own Region.
        let regional = call.caller.clone().with_region(region);
        let mut replica_call = Call::new(&regional, call.op);
        let replica = self.authorize(
            &mut replica_call,
            Action::UpdatePrimaryRegion,
            new_primary,
            Facts::default(),
        )?;

        let family = Family {
            primary: region.to_owned(),
            replicas: {
                let mut v: Vec<String> = family
                    .regions()
                    .filter(|g| *g != region)
                    .map(str::to_owned)
                    .collect();
                v.sort();
                v
            },
        };
        let mut all = self.other_members(primary)?;
        all.retain(|m| m.region != region);
        all.push(replica.record().clone());
        all.push(primary.clone());
        for m in &mut all {
            m.family = Some(family.clone());
        }
        self.store
            .put_keys(&all)
            .map_err(|e| from_store("update primary region", e))?;
        tracing::info!(key = %primary.id, from = %primary.region, to = region,
            "primary Region of a multi-Region key updated");
        // AWS records the update in both keys' Regions.
        call.also.push((
            "UpdatePrimaryRegion",
            self.key_arn_in(&primary.account, region, primary.id),
        ));
        Ok(())
    }

    /// The family of `r`, which must be a multi-Region primary key (UnsupportedOperation
    /// otherwise, as AWS answers ReplicateKey and UpdatePrimaryRegion on other keys).
    fn primary_family(&self, r: &KeyRecord) -> Result<Family, KmsError> {
        let Some(family) = family_of(r, self.region_of_record(r)) else {
            return Err(KmsError::new(
                ErrorKind::UnsupportedOperation,
                format!("{} is not a multi-Region key.", self.arn(r)),
            ));
        };
        if family.primary != self.region_of_record(r) {
            return Err(KmsError::new(
                ErrorKind::UnsupportedOperation,
                format!(
                    "{} is not a multi-Region primary key; its primary key is in {}.",
                    self.arn(r),
                    family.primary
                ),
            ));
        }
        Ok(family)
    }

    /// A Region a family member is to be in: of AWS's form and served here
    /// (ValidationException naming `member` or the Regions served otherwise).
    fn check_member_region(&self, member: &str, region: &str) -> Result<(), KmsError> {
        if !is_region_name(region) {
            return Err(KmsError::constraint(
                &lower_first(member),
                region,
                &format!("Member must satisfy regular expression pattern: {REGION_PATTERN}"),
            ));
        }
        if !self.serves_region(region) {
            return Err(KmsError::validation(format!(
                "Region '{region}' is not served by this installation; it serves {}",
                self.served_regions()
            )));
        }
        Ok(())
    }
}

/// `ReplicaRegion` → `replicaRegion`, as AWS names members in validation messages.
fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}
