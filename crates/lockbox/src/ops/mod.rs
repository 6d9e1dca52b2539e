//! The engine's operations, one file per family (in the manner of mini-redis's `src/cmd/`),
//! and one match from a [`Request`] to the code that serves it.
//!
//! The match is exhaustive, so an operation added to the table in `lockbox-api` does not
//! compile until the engine serves it. Each operation resolves its key, asks `authz` for an
//! [`Authorized`] proof (which also checks the key state its table row allows), and acts
//! through paths that take the proof.

mod aliases;
mod crypto;
mod data_keys;
mod deletion;
mod grants;
mod keys;
mod policies;
mod rotation;
mod tags;

use std::sync::Arc;

use lockbox_api::{Action, KeyRef, KmsError, Request, Response};
use lockbox_store::KeyRecord;

use crate::authz::{Authorized, Facts};
use crate::core::{Aliases, Call, Engine};

impl Engine {
    /// Runs one operation for `call`'s caller. Authorization happens inside each operation;
    /// auditing around this call, in `EngineClient`.
    pub(crate) fn dispatch(
        &self,
        call: &mut Call<'_>,
        request: Request,
    ) -> Result<Response, KmsError> {
        use Request as Q;
        use Response as A;
        Ok(match request {
            Q::CreateKey(r) => A::CreateKey(self.create_key(call, r)?),
            Q::DescribeKey(r) => A::DescribeKey(self.describe_key(call, r)?),
            Q::ListKeys(r) => A::ListKeys(self.list_keys(call, r)?),
            Q::UpdateKeyDescription(r) => {
                A::UpdateKeyDescription(self.update_key_description(call, r)?)
            }
            Q::EnableKey(r) => A::EnableKey(self.enable_key(call, r)?),
            Q::DisableKey(r) => A::DisableKey(self.disable_key(call, r)?),
            Q::ScheduleKeyDeletion(r) => {
                A::ScheduleKeyDeletion(self.schedule_key_deletion(call, r)?)
            }
            Q::CancelKeyDeletion(r) => A::CancelKeyDeletion(self.cancel_key_deletion(call, r)?),
            Q::CreateAlias(r) => A::CreateAlias(self.create_alias(call, r)?),
            Q::UpdateAlias(r) => A::UpdateAlias(self.update_alias(call, r)?),
            Q::DeleteAlias(r) => A::DeleteAlias(self.delete_alias(call, r)?),
            Q::ListAliases(r) => A::ListAliases(self.list_aliases(call, r)?),
            Q::TagResource(r) => A::TagResource(self.tag_resource(call, r)?),
            Q::UntagResource(r) => A::UntagResource(self.untag_resource(call, r)?),
            Q::ListResourceTags(r) => A::ListResourceTags(self.list_resource_tags(call, r)?),
            Q::Encrypt(r) => A::Encrypt(self.encrypt(call, r)?),
            Q::Decrypt(r) => A::Decrypt(self.decrypt(call, r)?),
            Q::ReEncrypt(r) => A::ReEncrypt(self.re_encrypt(call, r)?),
            Q::GenerateDataKey(r) => A::GenerateDataKey(self.generate_data_key(call, r)?),
            Q::GenerateDataKeyWithoutPlaintext(r) => A::GenerateDataKeyWithoutPlaintext(
                self.generate_data_key_without_plaintext(call, r)?,
            ),
            Q::GenerateRandom(r) => A::GenerateRandom(self.generate_random(call, r)?),
            Q::EnableKeyRotation(r) => A::EnableKeyRotation(self.enable_key_rotation(call, r)?),
            Q::DisableKeyRotation(r) => A::DisableKeyRotation(self.disable_key_rotation(call, r)?),
            Q::GetKeyRotationStatus(r) => {
                A::GetKeyRotationStatus(self.get_key_rotation_status(call, r)?)
            }
            Q::RotateKeyOnDemand(r) => A::RotateKeyOnDemand(self.rotate_key_on_demand(call, r)?),
            Q::ListKeyRotations(r) => A::ListKeyRotations(self.list_key_rotations(call, r)?),
            Q::PutKeyPolicy(r) => A::PutKeyPolicy(self.put_key_policy(call, r)?),
            Q::GetKeyPolicy(r) => A::GetKeyPolicy(self.get_key_policy(call, r)?),
            Q::ListKeyPolicies(r) => A::ListKeyPolicies(self.list_key_policies(call, r)?),
            Q::CreateGrant(r) => A::CreateGrant(self.create_grant(call, r)?),
            Q::ListGrants(r) => A::ListGrants(self.list_grants(call, r)?),
            Q::ListRetirableGrants(r) => {
                A::ListRetirableGrants(self.list_retirable_grants(call, r)?)
            }
            Q::RetireGrant(r) => A::RetireGrant(self.retire_grant(call, r)?),
            Q::RevokeGrant(r) => A::RevokeGrant(self.revoke_grant(call, r)?),
        })
    }
}

impl Engine {
    /// Applies `change` to key `key_id` under the write lock, once the caller is authorized
    /// for `action` (and the key's state allows the call's operation), and stores the result
    /// durably.
    pub(crate) fn modify(
        &self,
        call: &mut Call<'_>,
        action: Action,
        key_id: &KeyRef,
        facts: Facts<'_>,
        change: impl FnOnce(&mut KeyRecord) -> Result<(), KmsError>,
    ) -> Result<KeyRecord, KmsError> {
        let _w = self.writes.lock();
        let r = self.resolve(call, key_id, Aliases::Refused)?;
        let auth = self.authorize(call, action, r, facts)?;
        self.write_key(auth, change)
    }

    /// Resolves the key a read names (aliases refused) and authorizes `action` on it.
    pub(crate) fn authorized_read(
        &self,
        call: &mut Call<'_>,
        action: Action,
        key_id: &KeyRef,
    ) -> Result<Authorized, KmsError> {
        let r: Arc<KeyRecord> = self.resolve(call, key_id, Aliases::Refused)?;
        self.authorize(call, action, r, Facts::default())
    }
}
