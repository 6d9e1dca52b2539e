//! The rotation operations: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
//! RotateKeyOnDemand, ListKeyRotations. The mechanics (a new material version, token first;
//! rotation by schedule and by use) are `lifecycle`'s.

use lockbox_api::*;
use lockbox_store::{AutoRotation, KeyRecord, Material};

use crate::authz::{Facts, Value};
use crate::core::{
    Call, Engine, check_limit, invalid_marker, key_material_id, marker_position, opaque_marker,
};
use crate::policy::keys;

/// How long before a due automatic rotation RotateKeyOnDemand is refused with
/// ConflictException, as in AWS KMS.
const ROTATION_CONFLICT_WINDOW_MS: i64 = 20 * 60 * 1000;

fn check_rotation_period(days: u32) -> Result<(), KmsError> {
    if !(MIN_ROTATION_PERIOD_DAYS..=MAX_ROTATION_PERIOD_DAYS).contains(&days) {
        return Err(KmsError::range(
            "rotationPeriodInDays",
            i64::from(days),
            i64::from(MIN_ROTATION_PERIOD_DAYS),
            i64::from(MAX_ROTATION_PERIOD_DAYS),
        ));
    }
    Ok(())
}

impl Engine {
    /// Rotation applies to symmetric keys whose material Lockbox generated.
    fn check_rotatable(&self, r: &KeyRecord) -> Result<(), KmsError> {
        let rotatable = crate::keykind::for_spec(r.spec).is_ok_and(|k| k.rotatable());
        if !rotatable || r.origin != Origin::AwsKms {
            return Err(KmsError::new(
                ErrorKind::UnsupportedOperation,
                format!(
                    "{} cannot be rotated: only SYMMETRIC_DEFAULT keys with origin AWS_KMS can.",
                    self.arn(r)
                ),
            ));
        }
        Ok(())
    }

    /// Rotation of a multi-Region key is its primary's (AWS: "You can enable and disable
    /// automatic key rotation only on a primary key"); the replicas follow it.
    fn check_not_replica(&self, r: &KeyRecord) -> Result<(), KmsError> {
        if let Some(f) = &r.family
            && f.primary != r.region
        {
            return Err(KmsError::new(
                ErrorKind::UnsupportedOperation,
                format!(
                    "{} is a multi-Region replica key; rotation is managed on its primary key \
                     in {}.",
                    self.arn(r),
                    f.primary
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn enable_key_rotation(
        &self,
        call: &mut Call<'_>,
        req: EnableKeyRotationRequest,
    ) -> Result<(), KmsError> {
        let period = req
            .rotation_period_in_days
            .unwrap_or(DEFAULT_ROTATION_PERIOD_DAYS);
        check_rotation_period(period)?;
        let now = self.clock.now();
        let facts = Facts {
            extra: vec![(
                keys::ROTATION_PERIOD_IN_DAYS,
                Value::Number(i64::from(period)),
            )],
            ..Facts::default()
        };
        let action = Action::EnableKeyRotation;
        self.modify(call, action, &req.key_id, facts, |r| {
            self.check_rotatable(r)?;
            self.check_not_replica(r)?;
            // Changing the period of enabled rotation keeps the date the period runs from.
            let since = r.auto_rotation.map_or(now, |a| a.since);
            r.auto_rotation = Some(AutoRotation {
                period_days: period,
                since,
            });
            Ok(())
        })?;
        Ok(())
    }

    pub(crate) fn disable_key_rotation(
        &self,
        call: &mut Call<'_>,
        req: DisableKeyRotationRequest,
    ) -> Result<(), KmsError> {
        self.modify(
            call,
            Action::DisableKeyRotation,
            &req.key_id,
            Facts::default(),
            |r| {
                self.check_rotatable(r)?;
                self.check_not_replica(r)?;
                r.auto_rotation = None;
                Ok(())
            },
        )?;
        Ok(())
    }

    pub(crate) fn get_key_rotation_status(
        &self,
        call: &mut Call<'_>,
        req: GetKeyRotationStatusRequest,
    ) -> Result<GetKeyRotationStatusResponse, KmsError> {
        let auth = self.authorized_read(call, Action::GetKeyRotationStatus, &req.key_id)?;
        let r = auth.record();
        // A symmetric key with imported material has a rotation status too (on-demand
        // rotation to new imported material), though automatic rotation cannot be enabled.
        if !(r.origin == Origin::External && r.spec == KeySpec::SymmetricDefault) {
            self.check_rotatable(r)?;
        }
        Ok(GetKeyRotationStatusResponse {
            key_rotation_enabled: r.auto_rotation.is_some(),
            key_id: r.id,
            rotation_period_in_days: r.auto_rotation.map(|a| a.period_days),
            next_rotation_date: r.auto_rotation.map(|a| a.next()),
            on_demand_rotation_start_date: None,
        })
    }

    pub(crate) fn rotate_key_on_demand(
        &self,
        call: &mut Call<'_>,
        req: RotateKeyOnDemandRequest,
    ) -> Result<RotateKeyOnDemandResponse, KmsError> {
        let _w = self.writes.lock();
        let auth = self.authorized_read(call, Action::RotateKeyOnDemand, &req.key_id)?;
        let r = auth.record();
        self.check_not_replica(r)?;
        if r.origin == Origin::External && r.spec == KeySpec::SymmetricDefault {
            // Rotation to material imported as NEW_KEY_MATERIAL (ops/import.rs).
            return self.rotate_to_imported(auth);
        }
        self.check_rotatable(r)?;
        if r.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS {
            return Err(KmsError::new(
                ErrorKind::LimitExceeded,
                format!(
                    "{} has been rotated on demand {MAX_ON_DEMAND_ROTATIONS} times, the most \
                     allowed.",
                    self.arn(r)
                ),
            ));
        }
        let now = self.clock.now();
        if let Some(a) = r.auto_rotation
            && a.next().unix_millis() <= now.unix_millis() + ROTATION_CONFLICT_WINDOW_MS
        {
            return Err(KmsError::new(
                ErrorKind::Conflict,
                format!(
                    "An automatic rotation of {} is in progress or due within 20 minutes.",
                    self.arn(r)
                ),
            ));
        }
        // Token first: the new version's material, then the record that names it.
        let material = self.new_material(r, RotationType::OnDemand)?;
        let version = material.version;
        let r = self.write_key(auth, |r| {
            r.on_demand_rotations += 1;
            r.materials.push(material.clone());
            Ok(())
        })?;
        tracing::info!(key = %r.id, version, kind = %RotationType::OnDemand,
            "key material rotated");
        Ok(RotateKeyOnDemandResponse {
            key_id: self.arn(&r),
        })
    }

    pub(crate) fn list_key_rotations(
        &self,
        call: &mut Call<'_>,
        req: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse, KmsError> {
        let limit = check_limit(req.limit, 1000, 100)?;
        let auth = self.authorized_read(call, Action::ListKeyRotations, &req.key_id)?;
        let r = auth.record();
        let after = match &req.marker {
            Some(m) => Some(
                marker_position("rotations", m)?
                    .parse::<u32>()
                    .map_err(|_| invalid_marker())?,
            ),
            None => None,
        };
        let all = req.include_key_material == Some(IncludeKeyMaterial::AllKeyMaterial);
        if r.origin == Origin::External && r.spec == KeySpec::SymmetricDefault {
            return Ok(self.imported_rotations(r, all, after, limit));
        }
        self.check_rotatable(r)?;
        let current = r.current_material().map(|m| m.version);
        let mut listed: Vec<&Material> = r
            .materials
            .iter()
            .filter(|m| all || m.rotation.is_some())
            .filter(|m| after.is_none_or(|a| m.version > a))
            .collect();
        listed.sort_by_key(|m| m.version);
        let more = listed.len() > limit;
        listed.truncate(limit);
        let next_marker = match (more, listed.last()) {
            (true, Some(m)) => Some(opaque_marker("rotations", &m.version.to_string())),
            _ => None,
        };
        Ok(ListKeyRotationsResponse {
            rotations: listed
                .into_iter()
                .map(|m| RotationsListEntry {
                    key_id: r.id,
                    key_material_id: key_material_id(r.id, m),
                    key_material_state: if Some(m.version) == current {
                        KeyMaterialState::Current
                    } else {
                        KeyMaterialState::NonCurrent
                    },
                    rotation_date: m.rotation.map(|_| m.created),
                    rotation_type: m.rotation,
                    import_state: None,
                    expiration_model: None,
                    valid_to: None,
                    key_material_description: None,
                })
                .collect(),
            truncated: next_marker.is_some(),
            next_marker,
        })
    }
}
