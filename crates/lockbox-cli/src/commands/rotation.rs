//! enable-key-rotation, disable-key-rotation, get-key-rotation-status, rotate-key-on-demand,
//! list-key-rotations, and Lockbox's own key-usage (each material version and its use).

use lockbox::Engine;
use lockbox::api::*;
use serde::Serialize;

use super::paginate;
use crate::cli::{EnableKeyRotationArgs, KeyIdArgs, ListKeyRotationsArgs};
use crate::error::{CliError, OrKms};
use crate::output::{date, print_json};
use crate::params;

pub(crate) fn enable_key_rotation(kms: &dyn Kms, a: EnableKeyRotationArgs) -> Result<(), CliError> {
    const OP: &str = "EnableKeyRotation";
    let mut req = EnableKeyRotationRequest::new(params::key_ref(OP, &a.key_id)?);
    req.rotation_period_in_days = a.rotation_period_in_days;
    kms.enable_key_rotation(req).op(OP)
}

pub(crate) fn disable_key_rotation(kms: &dyn Kms, a: KeyIdArgs) -> Result<(), CliError> {
    const OP: &str = "DisableKeyRotation";
    kms.disable_key_rotation(DisableKeyRotationRequest::new(params::key_ref(
        OP, &a.key_id,
    )?))
    .op(OP)
}

/// GetKeyRotationStatus's answer, fields in the order the AWS CLI prints them.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RotationStatusOut {
    key_rotation_enabled: bool,
    key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_period_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_rotation_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_demand_rotation_start_date: Option<String>,
}

pub(crate) fn get_key_rotation_status(kms: &dyn Kms, a: KeyIdArgs) -> Result<(), CliError> {
    const OP: &str = "GetKeyRotationStatus";
    let out = kms
        .get_key_rotation_status(GetKeyRotationStatusRequest::new(params::key_ref(
            OP, &a.key_id,
        )?))
        .op(OP)?;
    print_json(&RotationStatusOut {
        key_rotation_enabled: out.key_rotation_enabled,
        key_id: out.key_id.to_string(),
        rotation_period_in_days: out.rotation_period_in_days,
        next_rotation_date: out.next_rotation_date.map(date),
        on_demand_rotation_start_date: out.on_demand_rotation_start_date.map(date),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RotateOut {
    key_id: String,
}

pub(crate) fn rotate_key_on_demand(kms: &dyn Kms, a: KeyIdArgs) -> Result<(), CliError> {
    const OP: &str = "RotateKeyOnDemand";
    let out = kms
        .rotate_key_on_demand(RotateKeyOnDemandRequest::new(params::key_ref(
            OP, &a.key_id,
        )?))
        .op(OP)?;
    print_json(&RotateOut {
        key_id: out.key_id.to_string(),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RotationOut {
    key_id: String,
    key_material_id: String,
    key_material_state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    import_state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration_model: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_material_description: Option<String>,
}

impl From<&RotationsListEntry> for RotationOut {
    fn from(r: &RotationsListEntry) -> Self {
        RotationOut {
            key_id: r.key_id.to_string(),
            key_material_id: r.key_material_id.clone(),
            key_material_state: r.key_material_state.as_str(),
            rotation_date: r.rotation_date.map(date),
            rotation_type: r.rotation_type.map(RotationType::as_str),
            import_state: r.import_state.map(ImportState::as_str),
            expiration_model: r.expiration_model.map(ExpirationModelType::as_str),
            valid_to: r.valid_to.map(date),
            key_material_description: r.key_material_description.clone(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListRotationsOut {
    rotations: Vec<RotationOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(crate) fn list_key_rotations(kms: &dyn Kms, a: ListKeyRotationsArgs) -> Result<(), CliError> {
    const OP: &str = "ListKeyRotations";
    let key = params::key_ref(OP, &a.key_id)?;
    let include = a
        .include_key_material
        .map(|s| s.parse::<IncludeKeyMaterial>())
        .transpose()
        .op(OP)?;
    let (rotations, next_token) = paginate(&a.page, 1000, |limit, marker| {
        let mut req = ListKeyRotationsRequest::new(key.clone());
        req.include_key_material = include;
        req.limit = limit;
        req.marker = marker;
        let page = kms.list_key_rotations(req).op(OP)?;
        Ok((
            page.rotations.iter().map(RotationOut::from).collect(),
            page.next_marker,
        ))
    })?;
    print_json(&ListRotationsOut {
        rotations,
        next_token,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MaterialOut {
    version: u32,
    current: bool,
    creation_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_type: Option<&'static str>,
    /// The encryptions made (see `lockbox key-usage --help`).
    encryptions: u64,
    /// Reserved ahead and not used yet, by the engine answering (a running server): shown
    /// only when there is such a reservation.
    #[serde(skip_serializing_if = "Option::is_none")]
    encryptions_reserved: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyUsageOut {
    key_id: String,
    materials: Vec<MaterialOut>,
}

pub(crate) fn key_usage(engine: &Engine, caller: &Caller, a: KeyIdArgs) -> Result<(), CliError> {
    let kms = engine.client(caller.clone());
    // Not an AWS operation; errors still name one, as the others do.
    const OP: &str = "KeyUsage";
    // Resolved once (an alias may be repointed meanwhile), so the id printed is the key
    // whose materials are listed.
    let key_id = kms
        .describe_key(DescribeKeyRequest::new(params::key_ref(OP, &a.key_id)?))
        .op(OP)?
        .key_metadata
        .key_id;
    let materials = engine
        .material_usage(caller, &KeyRef::from(key_id))
        .op(OP)?
        .into_iter()
        .map(|m| MaterialOut {
            version: m.version,
            current: m.current,
            creation_date: date(m.created),
            rotation_type: m.rotation.map(RotationType::as_str),
            encryptions: m.encryptions,
            encryptions_reserved: (m.reserved > m.encryptions).then_some(m.reserved),
        })
        .collect();
    print_json(&KeyUsageOut {
        key_id: key_id.to_string(),
        materials,
    })
}
