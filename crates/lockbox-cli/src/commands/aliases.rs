//! create-alias, update-alias, delete-alias, list-aliases.

use lockbox::api::*;
use serde::Serialize;

use super::paginate;
use crate::cli::{AliasArgs, AliasNameArgs, ListAliasesArgs};
use crate::error::{CliError, OrKms};
use crate::output::{AliasOut, print_json};
use crate::params;

fn alias_request(op: &'static str, a: &AliasArgs) -> Result<AliasRequest, CliError> {
    let name = AliasName::parse(&a.alias_name).op(op)?;
    Ok(AliasRequest::new(
        name,
        params::key_ref(op, &a.target_key_id)?,
    ))
}

pub(crate) fn create_alias(kms: &dyn Kms, a: AliasArgs) -> Result<(), CliError> {
    const OP: &str = "CreateAlias";
    kms.create_alias(alias_request(OP, &a)?).op(OP)
}

pub(crate) fn update_alias(kms: &dyn Kms, a: AliasArgs) -> Result<(), CliError> {
    const OP: &str = "UpdateAlias";
    kms.update_alias(alias_request(OP, &a)?).op(OP)
}

pub(crate) fn delete_alias(kms: &dyn Kms, a: AliasNameArgs) -> Result<(), CliError> {
    const OP: &str = "DeleteAlias";
    let name = AliasName::parse(&a.alias_name).op(OP)?;
    kms.delete_alias(DeleteAliasRequest::new(name)).op(OP)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListAliasesOut {
    aliases: Vec<AliasOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(crate) fn list_aliases(kms: &dyn Kms, a: ListAliasesArgs) -> Result<(), CliError> {
    const OP: &str = "ListAliases";
    let key = a
        .key_id
        .as_deref()
        .map(|k| params::key_ref(OP, k))
        .transpose()?;
    let (aliases, next_token) = paginate(&a.page, 100, |limit, marker| {
        let mut req = ListAliasesRequest::new();
        req.key_id = key.clone();
        req.limit = limit;
        req.marker = marker;
        let page = kms.list_aliases(req).op(OP)?;
        Ok((
            page.aliases.iter().map(AliasOut::from).collect(),
            page.next_marker,
        ))
    })?;
    print_json(&ListAliasesOut {
        aliases,
        next_token,
    })
}
