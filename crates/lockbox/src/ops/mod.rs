//! The engine's operations: one match from a [`Request`] to the code that serves it.
//!
//! The match is exhaustive, so an operation added to the table in `lockbox-api` does not
//! compile until the engine serves it.

use lockbox_api::{KmsError, Request, Response};

use crate::access::Call;
use crate::engine::Engine;

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
            Q::EnableKeyRotation(r) => A::EnableKeyRotation(self.enable_rotation(call, r)?),
            Q::DisableKeyRotation(r) => A::DisableKeyRotation(self.disable_rotation(call, r)?),
            Q::GetKeyRotationStatus(r) => A::GetKeyRotationStatus(self.rotation_status(call, r)?),
            Q::RotateKeyOnDemand(r) => A::RotateKeyOnDemand(self.rotate_on_demand(call, r)?),
            Q::ListKeyRotations(r) => A::ListKeyRotations(self.list_rotations(call, r)?),
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
