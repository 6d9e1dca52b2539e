//! create-grant, list-grants, list-retirable-grants, retire-grant, revoke-grant.

use lockbox::api::*;
use serde::Serialize;

use super::paginate;
use crate::cli::{
    CreateGrantArgs, ListGrantsArgs, ListRetirableGrantsArgs, RetireGrantArgs, RevokeGrantArgs,
};
use crate::error::{CliError, OrKms};
use crate::output::{GrantOut, print_json};
use crate::params;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateGrantOut {
    grant_token: String,
    grant_id: String,
}

pub(crate) fn create_grant(kms: &dyn Kms, a: CreateGrantArgs) -> Result<(), CliError> {
    const OP: &str = "CreateGrant";
    let key = params::key_ref(OP, &a.key_id)?;
    let grantee = params::principal("--grantee-principal", &a.grantee_principal)?;
    let operations = a
        .operations
        .iter()
        .map(|o| o.parse::<GrantOperation>())
        .collect::<Result<Vec<_>, _>>()
        .op(OP)?;
    let mut req = CreateGrantRequest::new(key, grantee, operations)
        .with_grant_tokens(params::grant_tokens(OP, &a.grant_tokens.grant_tokens)?);
    req.dry_run = a.dry_run.dry_run;
    if let Some(p) = &a.retiring_principal {
        req = req.with_retiring_principal(params::principal("--retiring-principal", p)?);
    }
    if let Some(c) = &a.constraints {
        req = req.with_constraints(params::constraints("--constraints", c)?);
    }
    if let Some(n) = &a.name {
        req = req.with_name(GrantName::new(n).op(OP)?);
    }
    let out = kms.create_grant(req).op(OP)?;
    print_json(&CreateGrantOut {
        grant_token: out.grant_token,
        grant_id: out.grant_id,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListGrantsOut {
    grants: Vec<GrantOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(crate) fn list_grants(kms: &dyn Kms, a: ListGrantsArgs) -> Result<(), CliError> {
    const OP: &str = "ListGrants";
    let key = params::key_ref(OP, &a.key_id)?;
    let grantee = a
        .grantee_principal
        .as_deref()
        .map(|p| params::principal("--grantee-principal", p))
        .transpose()?;
    let (grants, next_token) = paginate(&a.page, 100, |limit, marker| {
        let mut req = ListGrantsRequest::new(key.clone());
        req.limit = limit;
        req.marker = marker;
        req.grant_id = a.grant_id.clone();
        req.grantee_principal = grantee.clone();
        let page = kms.list_grants(req).op(OP)?;
        Ok((
            page.grants.iter().map(GrantOut::from).collect(),
            page.next_marker,
        ))
    })?;
    print_json(&ListGrantsOut { grants, next_token })
}

pub(crate) fn list_retirable_grants(
    kms: &dyn Kms,
    a: ListRetirableGrantsArgs,
) -> Result<(), CliError> {
    const OP: &str = "ListRetirableGrants";
    let retiring = params::principal("--retiring-principal", &a.retiring_principal)?;
    let (grants, next_token) = paginate(&a.page, 100, |limit, marker| {
        let mut req = ListRetirableGrantsRequest::new(retiring.clone());
        req.limit = limit;
        req.marker = marker;
        let page = kms.list_retirable_grants(req).op(OP)?;
        Ok((
            page.grants.iter().map(GrantOut::from).collect(),
            page.next_marker,
        ))
    })?;
    print_json(&ListGrantsOut { grants, next_token })
}

pub(crate) fn retire_grant(kms: &dyn Kms, a: RetireGrantArgs) -> Result<(), CliError> {
    const OP: &str = "RetireGrant";
    // clap has already refused every other shape (see `RetireGrantArgs`).
    let mut req = match (a.grant_token, a.key_id, a.grant_id) {
        (Some(token), None, None) => RetireGrantRequest::by_token(token).op(OP)?,
        (None, Some(key), Some(grant_id)) => {
            RetireGrantRequest::by_id(params::key_ref(OP, &key)?, grant_id)
        }
        _ => {
            return Err(CliError::param(
                "--grant-token",
                "give either --grant-token, or --key-id and --grant-id",
            ));
        }
    };
    req.dry_run = a.dry_run.dry_run;
    kms.retire_grant(req).op(OP)
}

pub(crate) fn revoke_grant(kms: &dyn Kms, a: RevokeGrantArgs) -> Result<(), CliError> {
    const OP: &str = "RevokeGrant";
    let key = params::key_ref(OP, &a.key_id)?;
    let mut req = RevokeGrantRequest::new(key, a.grant_id);
    req.dry_run = a.dry_run.dry_run;
    kms.revoke_grant(req).op(OP)
}
