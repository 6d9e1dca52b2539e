//! The `Kms` trait: the operations, one method each.

use crate::access::*;
use crate::error::KmsError;
use crate::ops::*;

/// A key-management service with AWS KMS semantics.
///
/// The in-process engine (`lockbox::Engine`) implements it; so will the remote client. Every
/// method is safe to call from many threads at once.
pub trait Kms: Send + Sync {
    /// Creates a key whose material is generated in the token.
    fn create_key(&self, req: CreateKeyRequest) -> Result<CreateKeyResponse, KmsError>;
    /// Describes a key.
    fn describe_key(&self, req: DescribeKeyRequest) -> Result<DescribeKeyResponse, KmsError>;
    /// Lists keys, a page at a time.
    fn list_keys(&self, req: ListKeysRequest) -> Result<ListKeysResponse, KmsError>;
    /// Replaces a key's description.
    fn update_key_description(&self, req: UpdateKeyDescriptionRequest) -> Result<(), KmsError>;
    /// Enables a key.
    fn enable_key(&self, req: EnableKeyRequest) -> Result<(), KmsError>;
    /// Disables a key.
    fn disable_key(&self, req: DisableKeyRequest) -> Result<(), KmsError>;
    /// Schedules a key for deletion after a waiting period.
    fn schedule_key_deletion(
        &self,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError>;
    /// Cancels a scheduled deletion; the key becomes `Disabled`.
    fn cancel_key_deletion(
        &self,
        req: CancelKeyDeletionRequest,
    ) -> Result<CancelKeyDeletionResponse, KmsError>;
    /// Creates an alias.
    fn create_alias(&self, req: AliasRequest) -> Result<(), KmsError>;
    /// Points an existing alias at another key.
    fn update_alias(&self, req: AliasRequest) -> Result<(), KmsError>;
    /// Deletes an alias.
    fn delete_alias(&self, req: DeleteAliasRequest) -> Result<(), KmsError>;
    /// Lists aliases, a page at a time.
    fn list_aliases(&self, req: ListAliasesRequest) -> Result<ListAliasesResponse, KmsError>;
    /// Adds or overwrites tags on a key.
    fn tag_resource(&self, req: TagResourceRequest) -> Result<(), KmsError>;
    /// Removes tags from a key.
    fn untag_resource(&self, req: UntagResourceRequest) -> Result<(), KmsError>;
    /// Lists a key's tags, a page at a time.
    fn list_resource_tags(
        &self,
        req: ListResourceTagsRequest,
    ) -> Result<ListResourceTagsResponse, KmsError>;
    /// Encrypts up to 4096 bytes under a key.
    fn encrypt(&self, req: EncryptRequest) -> Result<EncryptResponse, KmsError>;
    /// Decrypts a blob from Encrypt, GenerateDataKey or ReEncrypt.
    fn decrypt(&self, req: DecryptRequest) -> Result<DecryptResponse, KmsError>;
    /// Decrypts and encrypts again under another key (or context), inside the service.
    fn re_encrypt(&self, req: ReEncryptRequest) -> Result<ReEncryptResponse, KmsError>;
    /// Returns a fresh data key, in plaintext and encrypted under a key.
    fn generate_data_key(
        &self,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, KmsError>;
    /// Returns a fresh data key, encrypted under a key only.
    fn generate_data_key_without_plaintext(
        &self,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse, KmsError>;
    /// Returns random bytes from the token.
    fn generate_random(
        &self,
        req: GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse, KmsError>;
    /// Turns on automatic rotation of a key's material (or changes its period).
    fn enable_key_rotation(&self, req: EnableKeyRotationRequest) -> Result<(), KmsError>;
    /// Turns off automatic rotation.
    fn disable_key_rotation(&self, req: DisableKeyRotationRequest) -> Result<(), KmsError>;
    /// Says whether automatic rotation is on, its period, and when it is next due.
    fn get_key_rotation_status(
        &self,
        req: GetKeyRotationStatusRequest,
    ) -> Result<GetKeyRotationStatusResponse, KmsError>;
    /// Rotates a key's material now.
    fn rotate_key_on_demand(
        &self,
        req: RotateKeyOnDemandRequest,
    ) -> Result<RotateKeyOnDemandResponse, KmsError>;
    /// Lists a key's material versions made by rotation, a page at a time.
    fn list_key_rotations(
        &self,
        req: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse, KmsError>;
    /// Replaces a key's policy.
    fn put_key_policy(&self, req: PutKeyPolicyRequest) -> Result<(), KmsError>;
    /// Returns a key's policy document.
    fn get_key_policy(&self, req: GetKeyPolicyRequest) -> Result<GetKeyPolicyResponse, KmsError>;
    /// Lists a key's policy names (always `default`).
    fn list_key_policies(
        &self,
        req: ListKeyPoliciesRequest,
    ) -> Result<ListKeyPoliciesResponse, KmsError>;
    /// Gives a principal some operations on a key.
    fn create_grant(&self, req: CreateGrantRequest) -> Result<CreateGrantResponse, KmsError>;
    /// Lists a key's grants, a page at a time.
    fn list_grants(&self, req: ListGrantsRequest) -> Result<ListGrantsResponse, KmsError>;
    /// Lists the grants a principal may retire, a page at a time.
    fn list_retirable_grants(
        &self,
        req: ListRetirableGrantsRequest,
    ) -> Result<ListGrantsResponse, KmsError>;
    /// Retires a grant (its retiring principal or grantee gives it up).
    fn retire_grant(&self, req: RetireGrantRequest) -> Result<(), KmsError>;
    /// Revokes a grant (a key administrator takes it away).
    fn revoke_grant(&self, req: RevokeGrantRequest) -> Result<(), KmsError>;
}
