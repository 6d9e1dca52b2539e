//! A test engine that implements `Kms` as the configured default caller (the root of the
//! default account), so tests written before callers existed read as they did. Every call
//! still goes through `Engine::client`: authorized by the key's policy, and audited.
#![allow(dead_code)]

use std::ops::Deref;

use lockbox::Engine;
use lockbox::api::*;

/// An engine whose `Kms` calls are made by its default caller.
pub(crate) struct Root(pub(crate) Engine);

impl Deref for Root {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.0
    }
}

impl Root {
    /// The token's key-material objects: every Lockbox object but the audit log's HMAC key
    /// and mark.
    pub(crate) fn key_objects(
        &self,
    ) -> Result<Vec<lockbox::token::ObjectInfo>, lockbox::token::TokenError> {
        Ok(self
            .0
            .token()
            .list_objects()?
            .into_iter()
            .filter(|o| {
                !o.label
                    .ends_with(&format!("/{}", lockbox::audit::AUDIT_KEY_NAME))
                    && !o
                        .label
                        .ends_with(&format!("/{}", lockbox::audit::AUDIT_MARK_NAME))
            })
            .collect())
    }

    /// The engine acting for `caller` instead.
    pub(crate) fn as_caller(&self, arn: &str) -> lockbox::EngineClient<'_> {
        self.0.client(Caller::new(Principal::parse(arn).unwrap()))
    }
}

impl Kms for Root {
    fn create_key(&self, req: CreateKeyRequest) -> Result<CreateKeyResponse, KmsError> {
        self.0.client(self.0.default_caller("test")).create_key(req)
    }
    fn describe_key(&self, req: DescribeKeyRequest) -> Result<DescribeKeyResponse, KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .describe_key(req)
    }
    fn list_keys(&self, req: ListKeysRequest) -> Result<ListKeysResponse, KmsError> {
        self.0.client(self.0.default_caller("test")).list_keys(req)
    }
    fn update_key_description(&self, req: UpdateKeyDescriptionRequest) -> Result<(), KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .update_key_description(req)
    }
    fn enable_key(&self, req: EnableKeyRequest) -> Result<(), KmsError> {
        self.0.client(self.0.default_caller("test")).enable_key(req)
    }
    fn disable_key(&self, req: DisableKeyRequest) -> Result<(), KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .disable_key(req)
    }
    fn schedule_key_deletion(
        &self,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .schedule_key_deletion(req)
    }
    fn cancel_key_deletion(
        &self,
        req: CancelKeyDeletionRequest,
    ) -> Result<CancelKeyDeletionResponse, KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .cancel_key_deletion(req)
    }
    fn create_alias(&self, req: AliasRequest) -> Result<(), KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .create_alias(req)
    }
    fn update_alias(&self, req: AliasRequest) -> Result<(), KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .update_alias(req)
    }
    fn delete_alias(&self, req: DeleteAliasRequest) -> Result<(), KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .delete_alias(req)
    }
    fn list_aliases(&self, req: ListAliasesRequest) -> Result<ListAliasesResponse, KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .list_aliases(req)
    }
    fn tag_resource(&self, req: TagResourceRequest) -> Result<(), KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .tag_resource(req)
    }
    fn untag_resource(&self, req: UntagResourceRequest) -> Result<(), KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .untag_resource(req)
    }
    fn list_resource_tags(
        &self,
        req: ListResourceTagsRequest,
    ) -> Result<ListResourceTagsResponse, KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .list_resource_tags(req)
    }
    fn encrypt(&self, req: EncryptRequest) -> Result<EncryptResponse, KmsError> {
        self.0.client(self.0.default_caller("test")).encrypt(req)
    }
    fn decrypt(&self, req: DecryptRequest) -> Result<DecryptResponse, KmsError> {
        self.0.client(self.0.default_caller("test")).decrypt(req)
    }
    fn re_encrypt(&self, req: ReEncryptRequest) -> Result<ReEncryptResponse, KmsError> {
        self.0.client(self.0.default_caller("test")).re_encrypt(req)
    }
    fn generate_data_key(
        &self,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .generate_data_key(req)
    }
    fn generate_data_key_without_plaintext(
        &self,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse, KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .generate_data_key_without_plaintext(req)
    }
    fn generate_random(
        &self,
        req: GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse, KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .generate_random(req)
    }
    fn enable_key_rotation(&self, req: EnableKeyRotationRequest) -> Result<(), KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .enable_key_rotation(req)
    }
    fn disable_key_rotation(&self, req: DisableKeyRotationRequest) -> Result<(), KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .disable_key_rotation(req)
    }
    fn get_key_rotation_status(
        &self,
        req: GetKeyRotationStatusRequest,
    ) -> Result<GetKeyRotationStatusResponse, KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .get_key_rotation_status(req)
    }
    fn rotate_key_on_demand(
        &self,
        req: RotateKeyOnDemandRequest,
    ) -> Result<RotateKeyOnDemandResponse, KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .rotate_key_on_demand(req)
    }
    fn list_key_rotations(
        &self,
        req: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse, KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .list_key_rotations(req)
    }
    fn put_key_policy(&self, req: PutKeyPolicyRequest) -> Result<(), KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .put_key_policy(req)
    }
    fn get_key_policy(&self, req: GetKeyPolicyRequest) -> Result<GetKeyPolicyResponse, KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .get_key_policy(req)
    }
    fn list_key_policies(
        &self,
        req: ListKeyPoliciesRequest,
    ) -> Result<ListKeyPoliciesResponse, KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .list_key_policies(req)
    }
    fn create_grant(&self, req: CreateGrantRequest) -> Result<CreateGrantResponse, KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .create_grant(req)
    }
    fn list_grants(&self, req: ListGrantsRequest) -> Result<ListGrantsResponse, KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .list_grants(req)
    }
    fn list_retirable_grants(
        &self,
        req: ListRetirableGrantsRequest,
    ) -> Result<ListGrantsResponse, KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .list_retirable_grants(req)
    }
    fn retire_grant(&self, req: RetireGrantRequest) -> Result<(), KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .retire_grant(req)
    }
    fn revoke_grant(&self, req: RevokeGrantRequest) -> Result<(), KmsError> {
        self.0
            .client(self.0.default_caller("test"))
            .revoke_grant(req)
    }
}
