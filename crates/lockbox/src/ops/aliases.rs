//! The alias operations: CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

use lockbox_api::*;
use lockbox_store::StoreError;

use crate::authz::{Authorized, Facts};
use crate::core::{
    Aliases, Call, Engine, check_limit, invalid_marker, marker_position, opaque_marker,
};
use crate::error::from_store;

/// What an alias write does to alias `name` of the authorized key's account.
enum AliasWrite {
    Create,
    Update,
    Delete,
}

impl Engine {
    /// Points alias `name` of `account` at the authorized key (creating it or moving it),
    /// or deletes it: the alias writes, each taking the proof for the key involved. Aliases
    /// are per account and Region: the alias is in the key's Region (which is the call's,
    /// since keys of other Regions do not resolve).
    fn write_alias(
        &self,
        auth: &Authorized,
        account: &str,
        name: &AliasName,
        what: AliasWrite,
    ) -> Result<(), StoreError> {
        let target = auth.record().id;
        let region = self.region_of_record(auth.record());
        match what {
            AliasWrite::Create => {
                self.store
                    .create_alias(account, region, name, target, self.clock.now())
            }
            AliasWrite::Update => {
                self.store
                    .update_alias(account, region, name, target, self.clock.now())
            }
            AliasWrite::Delete => self.store.delete_alias(account, region, name),
        }
    }

    pub(crate) fn create_alias(
        &self,
        call: &mut Call<'_>,
        req: AliasRequest,
    ) -> Result<(), KmsError> {
        check_alias_writable(&req.alias_name)?;
        let account = call.caller.account().to_owned();
        let region = self.call_region(call).to_owned();
        let _w = self.writes.lock();
        let target = self.resolve(call, &req.target_key_id, Aliases::Refused)?;
        let auth = self.authorize(call, Action::CreateAlias, target, Facts::default())?;
        let target = auth.record();
        if target.account != account {
            return Err(KmsError::new(
                ErrorKind::AccessDenied,
                "An alias must be in the same account as the key it points to.",
            ));
        }
        match self.write_alias(&auth, &account, &req.alias_name, AliasWrite::Create) {
            Ok(()) => Ok(()),
            Err(StoreError::AliasExists) => Err(KmsError::new(
                ErrorKind::AlreadyExists,
                format!(
                    "An alias with the name {} already exists",
                    self.scope_of(&account, &region).alias_arn(&req.alias_name)
                ),
            )),
            Err(StoreError::KeyMissing) => Err(KmsError::not_found(format!(
                "Key '{}' does not exist",
                self.arn(target)
            ))),
            Err(e) => Err(from_store("create alias", e)),
        }
    }

    pub(crate) fn update_alias(
        &self,
        call: &mut Call<'_>,
        req: AliasRequest,
    ) -> Result<(), KmsError> {
        check_alias_writable(&req.alias_name)?;
        let account = call.caller.account().to_owned();
        let region = self.call_region(call).to_owned();
        let _w = self.writes.lock();
        let alias_missing = || {
            KmsError::not_found(format!(
                "Alias {} is not found.",
                self.scope_of(&account, &region).alias_arn(&req.alias_name)
            ))
        };
        let current = self
            .store
            .alias(&account, &region, &req.alias_name)
            .map_err(|e| from_store("update alias", e))?
            .ok_or_else(alias_missing)?;
        // The caller needs kms:UpdateAlias on both the key the alias leaves and the key it
        // goes to.
        let old = self.record_in(current.target, &region)?;
        if let Some(old) = &old {
            self.check_allowed(call, Action::UpdateAlias, old)?;
        }
        let target = self.resolve(call, &req.target_key_id, Aliases::Refused)?;
        let auth = self.authorize(call, Action::UpdateAlias, target, Facts::default())?;
        let target = auth.record();
        if target.account != account {
            return Err(KmsError::new(
                ErrorKind::AccessDenied,
                "An alias must be in the same account as the key it points to.",
            ));
        }
        if let Some(old) = &old
            && (old.spec != target.spec || old.usage != target.usage)
        {
            return Err(KmsError::validation(format!(
                "The alias {} points to a {} {} key; its new target must be of the same key \
                 spec and usage",
                req.alias_name, old.spec, old.usage
            )));
        }
        match self.write_alias(&auth, &account, &req.alias_name, AliasWrite::Update) {
            Ok(()) => Ok(()),
            Err(StoreError::AliasMissing) => Err(alias_missing()),
            Err(StoreError::KeyMissing) => Err(KmsError::not_found(format!(
                "Key '{}' does not exist",
                self.arn(target)
            ))),
            Err(e) => Err(from_store("update alias", e)),
        }
    }

    pub(crate) fn delete_alias(
        &self,
        call: &mut Call<'_>,
        req: DeleteAliasRequest,
    ) -> Result<(), KmsError> {
        let account = call.caller.account().to_owned();
        let region = self.call_region(call).to_owned();
        let _w = self.writes.lock();
        let alias_missing = || {
            KmsError::not_found(format!(
                "Alias {} is not found.",
                self.scope_of(&account, &region).alias_arn(&req.alias_name)
            ))
        };
        let current = self
            .store
            .alias(&account, &region, &req.alias_name)
            .map_err(|e| from_store("delete alias", e))?
            .ok_or_else(alias_missing)?;
        let target = self
            .record_in(current.target, &region)?
            .ok_or_else(alias_missing)?;
        let auth = self.authorize(call, Action::DeleteAlias, target, Facts::default())?;
        match self.write_alias(&auth, &account, &req.alias_name, AliasWrite::Delete) {
            Ok(()) => Ok(()),
            Err(StoreError::AliasMissing) => Err(alias_missing()),
            Err(e) => Err(from_store("delete alias", e)),
        }
    }

    pub(crate) fn list_aliases(
        &self,
        call: &mut Call<'_>,
        req: ListAliasesRequest,
    ) -> Result<ListAliasesResponse, KmsError> {
        let caller = call.caller;
        let region = self.call_region(call).to_owned();
        let auth = self.authorize_account(call, Action::ListAliases, caller.account())?;
        let account = auth.account();
        let limit = check_limit(req.limit, 100, 50)?;
        let target = match &req.key_id {
            Some(k) => {
                let r = self.resolve(call, k, Aliases::Refused)?;
                if r.account != account {
                    return Err(KmsError::not_found(format!(
                        "Key '{}' does not exist",
                        self.key_arn_in(account, &region, r.id)
                    )));
                }
                Some(r.id)
            }
            None => None,
        };
        let after = match &req.marker {
            Some(m) => Some(
                AliasName::parse(&marker_position("aliases", m)?).map_err(|_| invalid_marker())?,
            ),
            None => None,
        };
        let page = self
            .store
            .aliases_page(
                account,
                &region,
                after.as_ref().map(AliasName::as_str),
                limit,
                target,
            )
            .map_err(|e| from_store("list aliases", e))?;
        let next_marker = match (page.more, page.items.last()) {
            (true, Some((name, _))) => Some(opaque_marker("aliases", name.as_str())),
            _ => None,
        };
        let scope = self.scope_of(account, &region);
        Ok(ListAliasesResponse {
            aliases: page
                .items
                .into_iter()
                .map(|(name, a)| AliasListEntry {
                    alias_arn: scope.alias_arn(&name),
                    alias_name: name,
                    target_key_id: a.target,
                    creation_date: a.created,
                    last_updated_date: a.updated,
                })
                .collect(),
            truncated: next_marker.is_some(),
            next_marker,
        })
    }
}

fn check_alias_writable(name: &AliasName) -> Result<(), KmsError> {
    if name.is_reserved() {
        return Err(KmsError::new(
            ErrorKind::InvalidAliasName,
            format!(
                "Alias {name} cannot be created or changed: names beginning with {RESERVED_ALIAS_PREFIX} are reserved for AWS managed keys"
            ),
        ));
    }
    Ok(())
}
