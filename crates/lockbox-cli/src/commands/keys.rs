//! create-key, describe-key, list-keys, update-key-description, enable-key, disable-key,
//! schedule-key-deletion, cancel-key-deletion.

use lockbox::api::*;
use serde::Serialize;

use super::paginate;
use crate::cli::{
    CreateKeyArgs, DescribeKeyArgs, KeyIdArgs, PageArgs, ScheduleKeyDeletionArgs,
    UpdateKeyDescriptionArgs,
};
use crate::error::{CliError, OrKms};
use crate::output::{KeyMetadataOut, KeyMetadataResponse, date, print_json};
use crate::params;

pub(crate) fn create_key(kms: &dyn Kms, a: CreateKeyArgs) -> Result<(), CliError> {
    const OP: &str = "CreateKey";
    let mut req = CreateKeyRequest::new()
        .with_description(&a.description)
        .with_tags(params::tags("--tags", &a.tags)?);
    req.key_usage = a.key_usage.map(|s| s.parse()).transpose().op(OP)?;
    req.key_spec = a.key_spec.map(|s| s.parse()).transpose().op(OP)?;
    req.origin = a.origin.map(|s| s.parse()).transpose().op(OP)?;
    if let Some(p) = &a.policy {
        req = req.with_policy(params::text("--policy", p)?);
    }
    req = req
        .with_bypass_policy_lockout_safety_check(a.bypass_policy_lockout_safety_check)
        .with_multi_region(a.multi_region);
    let md = kms.create_key(req).op(OP)?.key_metadata;
    print_json(&KeyMetadataResponse {
        key_metadata: KeyMetadataOut::from(&md),
    })
}

pub(crate) fn describe_key(kms: &dyn Kms, a: DescribeKeyArgs) -> Result<(), CliError> {
    const OP: &str = "DescribeKey";
    let req = DescribeKeyRequest::new(params::key_ref(OP, &a.key_id)?)
        .with_grant_tokens(params::grant_tokens(OP, &a.grant_tokens.grant_tokens)?);
    let md = kms.describe_key(req).op(OP)?.key_metadata;
    print_json(&KeyMetadataResponse {
        key_metadata: KeyMetadataOut::from(&md),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyEntry {
    key_id: String,
    key_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListKeysOut {
    keys: Vec<KeyEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(crate) fn list_keys(kms: &dyn Kms, a: PageArgs) -> Result<(), CliError> {
    const OP: &str = "ListKeys";
    let (keys, next_token) = paginate(&a, 1000, |limit, marker| {
        let mut req = ListKeysRequest::new();
        req.limit = limit;
        req.marker = marker;
        let page = kms.list_keys(req).op(OP)?;
        let keys = page
            .keys
            .iter()
            .map(|k| KeyEntry {
                key_id: k.key_id.to_string(),
                key_arn: k.key_arn.to_string(),
            })
            .collect();
        Ok((keys, page.next_marker))
    })?;
    print_json(&ListKeysOut { keys, next_token })
}

pub(crate) fn update_key_description(
    kms: &dyn Kms,
    a: UpdateKeyDescriptionArgs,
) -> Result<(), CliError> {
    const OP: &str = "UpdateKeyDescription";
    let key = params::key_ref(OP, &a.key_id)?;
    kms.update_key_description(UpdateKeyDescriptionRequest::new(key, a.description))
        .op(OP)
}

pub(crate) fn enable_key(kms: &dyn Kms, a: KeyIdArgs) -> Result<(), CliError> {
    const OP: &str = "EnableKey";
    kms.enable_key(EnableKeyRequest::new(params::key_ref(OP, &a.key_id)?))
        .op(OP)
}

pub(crate) fn disable_key(kms: &dyn Kms, a: KeyIdArgs) -> Result<(), CliError> {
    const OP: &str = "DisableKey";
    kms.disable_key(DisableKeyRequest::new(params::key_ref(OP, &a.key_id)?))
        .op(OP)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ScheduleOut {
    key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_date: Option<String>,
    key_state: &'static str,
    pending_window_in_days: u32,
}

pub(crate) fn schedule_key_deletion(
    kms: &dyn Kms,
    a: ScheduleKeyDeletionArgs,
) -> Result<(), CliError> {
    const OP: &str = "ScheduleKeyDeletion";
    let mut req = ScheduleKeyDeletionRequest::new(params::key_ref(OP, &a.key_id)?);
    req.pending_window_in_days = a.pending_window_in_days;
    let out = kms.schedule_key_deletion(req).op(OP)?;
    print_json(&ScheduleOut {
        key_id: out.key_id.to_string(),
        deletion_date: out.deletion_date.map(date),
        key_state: out.key_state.as_str(),
        pending_window_in_days: out.pending_window_in_days,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CancelOut {
    key_id: String,
}

pub(crate) fn cancel_key_deletion(kms: &dyn Kms, a: KeyIdArgs) -> Result<(), CliError> {
    const OP: &str = "CancelKeyDeletion";
    let out = kms
        .cancel_key_deletion(CancelKeyDeletionRequest::new(params::key_ref(
            OP, &a.key_id,
        )?))
        .op(OP)?;
    print_json(&CancelOut {
        key_id: out.key_id.to_string(),
    })
}
