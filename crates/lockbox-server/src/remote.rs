//! A [`lockbox_api::Kms`] that calls a remote `lockbox serve` (or any AWS KMS endpoint).

use lockbox_api::*;
use zeroize::Zeroizing;

use crate::wire::{self, Operation, json};

/// How a request reaches the server: `post` sends one operation's JSON body and returns the
/// HTTP status and response body. The HTTP transport signs with SigV4; tests can plug in an
/// in-process one.
pub trait Transport: Send + Sync {
    /// POSTs `body` to the endpoint with `X-Amz-Target: TrentService.<operation>` and
    /// `Content-Type: application/x-amz-json-1.1`. An `Err` is a failure to get any
    /// response (connection refused, TLS, timeout), as a `KmsError` of kind
    /// `DependencyTimeout` or `KmsInternal` with a message naming the endpoint.
    fn post(&self, operation: &str, body: &[u8]) -> Result<(u16, Vec<u8>), KmsError>;
}

/// A [`Kms`] whose every call is one request to a server, through a [`Transport`].
///
/// Requests and responses are encoded by [`crate::wire`] with the AWS KMS member names, so
/// the server may be `lockbox serve` or any endpoint that speaks AWS KMS's JSON 1.1
/// protocol. An error response becomes the [`KmsError`] its `__type` names (see
/// [`crate::wire::error_from_response`]).
pub struct RemoteKms {
    transport: Box<dyn Transport>,
}

impl RemoteKms {
    /// A client that sends its requests through `transport`.
    pub fn new(transport: impl Transport + 'static) -> Self {
        RemoteKms {
            transport: Box::new(transport),
        }
    }

    /// Sends one request and returns the success body (zeroized when dropped, since some
    /// carry plaintext), or the error the response stands for.
    fn call(&self, op: Operation, body: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let (status, response) = self.transport.post(op.name(), body)?;
        let response = Zeroizing::new(response);
        if !(200..300).contains(&status) {
            return Err(wire::error_from_response(status, &response));
        }
        Ok(response)
    }

    /// Sends a request whose response carries nothing.
    fn call_unit(&self, op: Operation, body: &[u8]) -> Result<(), KmsError> {
        self.call(op, body).map(drop)
    }

    /// Sends a request and decodes its response with `decode`.
    fn call_with<T>(
        &self,
        op: Operation,
        body: &[u8],
        decode: impl FnOnce(&mut json::Input) -> Result<T, crate::WireError>,
    ) -> Result<T, KmsError> {
        let response = self.call(op, body)?;
        wire::decode(op, &response, decode)
    }
}

/// True for an error the server answered because of throttling (`ThrottlingException` and
/// kin), which is worth retrying after a pause. `lockbox_api::ErrorKind` has no throttling
/// kind: these arrive as `DependencyTimeout` with the service's code in [`KmsError::code`].
pub fn is_throttling(e: &KmsError) -> bool {
    e.kind() == ErrorKind::DependencyTimeout
        && [
            "ThrottlingException",
            "Throttling",
            "TooManyRequestsException",
            "RequestLimitExceeded",
        ]
        .contains(&e.code())
}

impl Kms for RemoteKms {
    fn create_key(&self, req: CreateKeyRequest) -> Result<CreateKeyResponse, KmsError> {
        self.call_with(
            Operation::CreateKey,
            &wire::create_key_request(&req),
            wire::create_key_response,
        )
    }

    fn describe_key(&self, req: DescribeKeyRequest) -> Result<DescribeKeyResponse, KmsError> {
        self.call_with(
            Operation::DescribeKey,
            &wire::describe_key_request(&req),
            wire::describe_key_response,
        )
    }

    fn list_keys(&self, req: ListKeysRequest) -> Result<ListKeysResponse, KmsError> {
        self.call_with(
            Operation::ListKeys,
            &wire::list_keys_request(&req),
            wire::list_keys_response,
        )
    }

    fn update_key_description(&self, req: UpdateKeyDescriptionRequest) -> Result<(), KmsError> {
        self.call_unit(
            Operation::UpdateKeyDescription,
            &wire::update_key_description_request(&req),
        )
    }

    fn enable_key(&self, req: EnableKeyRequest) -> Result<(), KmsError> {
        self.call_unit(Operation::EnableKey, &wire::enable_key_request(&req))
    }

    fn disable_key(&self, req: DisableKeyRequest) -> Result<(), KmsError> {
        self.call_unit(Operation::DisableKey, &wire::disable_key_request(&req))
    }

    fn schedule_key_deletion(
        &self,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError> {
        self.call_with(
            Operation::ScheduleKeyDeletion,
            &wire::schedule_key_deletion_request(&req),
            wire::schedule_key_deletion_response,
        )
    }

    fn cancel_key_deletion(
        &self,
        req: CancelKeyDeletionRequest,
    ) -> Result<CancelKeyDeletionResponse, KmsError> {
        self.call_with(
            Operation::CancelKeyDeletion,
            &wire::cancel_key_deletion_request(&req),
            wire::cancel_key_deletion_response,
        )
    }

    fn create_alias(&self, req: AliasRequest) -> Result<(), KmsError> {
        self.call_unit(Operation::CreateAlias, &wire::alias_request(&req))
    }

    fn update_alias(&self, req: AliasRequest) -> Result<(), KmsError> {
        self.call_unit(Operation::UpdateAlias, &wire::alias_request(&req))
    }

    fn delete_alias(&self, req: DeleteAliasRequest) -> Result<(), KmsError> {
        self.call_unit(Operation::DeleteAlias, &wire::delete_alias_request(&req))
    }

    fn list_aliases(&self, req: ListAliasesRequest) -> Result<ListAliasesResponse, KmsError> {
        self.call_with(
            Operation::ListAliases,
            &wire::list_aliases_request(&req),
            wire::list_aliases_response,
        )
    }

    fn tag_resource(&self, req: TagResourceRequest) -> Result<(), KmsError> {
        self.call_unit(Operation::TagResource, &wire::tag_resource_request(&req))
    }

    fn untag_resource(&self, req: UntagResourceRequest) -> Result<(), KmsError> {
        self.call_unit(
            Operation::UntagResource,
            &wire::untag_resource_request(&req),
        )
    }

    fn list_resource_tags(
        &self,
        req: ListResourceTagsRequest,
    ) -> Result<ListResourceTagsResponse, KmsError> {
        self.call_with(
            Operation::ListResourceTags,
            &wire::list_resource_tags_request(&req),
            wire::list_resource_tags_response,
        )
    }

    fn encrypt(&self, req: EncryptRequest) -> Result<EncryptResponse, KmsError> {
        self.call_with(
            Operation::Encrypt,
            &wire::encrypt_request(&req),
            wire::encrypt_response,
        )
    }

    fn decrypt(&self, req: DecryptRequest) -> Result<DecryptResponse, KmsError> {
        self.call_with(
            Operation::Decrypt,
            &wire::decrypt_request(&req),
            wire::decrypt_response,
        )
    }

    fn re_encrypt(&self, req: ReEncryptRequest) -> Result<ReEncryptResponse, KmsError> {
        self.call_with(
            Operation::ReEncrypt,
            &wire::re_encrypt_request(&req),
            wire::re_encrypt_response,
        )
    }

    fn generate_data_key(
        &self,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        self.call_with(
            Operation::GenerateDataKey,
            &wire::generate_data_key_request(&req),
            wire::generate_data_key_response,
        )
    }

    fn generate_data_key_without_plaintext(
        &self,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse, KmsError> {
        self.call_with(
            Operation::GenerateDataKeyWithoutPlaintext,
            &wire::generate_data_key_request(&req),
            wire::generate_data_key_without_plaintext_response,
        )
    }

    fn generate_random(
        &self,
        req: GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse, KmsError> {
        self.call_with(
            Operation::GenerateRandom,
            &wire::generate_random_request(&req),
            wire::generate_random_response,
        )
    }

    fn enable_key_rotation(&self, req: EnableKeyRotationRequest) -> Result<(), KmsError> {
        self.call_unit(
            Operation::EnableKeyRotation,
            &wire::enable_key_rotation_request(&req),
        )
    }

    fn disable_key_rotation(&self, req: DisableKeyRotationRequest) -> Result<(), KmsError> {
        self.call_unit(
            Operation::DisableKeyRotation,
            &wire::disable_key_rotation_request(&req),
        )
    }

    fn get_key_rotation_status(
        &self,
        req: GetKeyRotationStatusRequest,
    ) -> Result<GetKeyRotationStatusResponse, KmsError> {
        self.call_with(
            Operation::GetKeyRotationStatus,
            &wire::get_key_rotation_status_request(&req),
            wire::get_key_rotation_status_response,
        )
    }

    fn rotate_key_on_demand(
        &self,
        req: RotateKeyOnDemandRequest,
    ) -> Result<RotateKeyOnDemandResponse, KmsError> {
        self.call_with(
            Operation::RotateKeyOnDemand,
            &wire::rotate_key_on_demand_request(&req),
            wire::rotate_key_on_demand_response,
        )
    }

    fn list_key_rotations(
        &self,
        req: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse, KmsError> {
        self.call_with(
            Operation::ListKeyRotations,
            &wire::list_key_rotations_request(&req),
            wire::list_key_rotations_response,
        )
    }

    fn put_key_policy(&self, req: PutKeyPolicyRequest) -> Result<(), KmsError> {
        self.call_unit(Operation::PutKeyPolicy, &wire::put_key_policy_request(&req))
    }

    fn get_key_policy(&self, req: GetKeyPolicyRequest) -> Result<GetKeyPolicyResponse, KmsError> {
        self.call_with(
            Operation::GetKeyPolicy,
            &wire::get_key_policy_request(&req),
            wire::get_key_policy_response,
        )
    }

    fn list_key_policies(
        &self,
        req: ListKeyPoliciesRequest,
    ) -> Result<ListKeyPoliciesResponse, KmsError> {
        self.call_with(
            Operation::ListKeyPolicies,
            &wire::list_key_policies_request(&req),
            wire::list_key_policies_response,
        )
    }

    fn create_grant(&self, req: CreateGrantRequest) -> Result<CreateGrantResponse, KmsError> {
        self.call_with(
            Operation::CreateGrant,
            &wire::create_grant_request(&req),
            wire::create_grant_response,
        )
    }

    fn list_grants(&self, req: ListGrantsRequest) -> Result<ListGrantsResponse, KmsError> {
        self.call_with(
            Operation::ListGrants,
            &wire::list_grants_request(&req),
            wire::list_grants_response,
        )
    }

    fn list_retirable_grants(
        &self,
        req: ListRetirableGrantsRequest,
    ) -> Result<ListGrantsResponse, KmsError> {
        self.call_with(
            Operation::ListRetirableGrants,
            &wire::list_retirable_grants_request(&req),
            wire::list_grants_response,
        )
    }

    fn retire_grant(&self, req: RetireGrantRequest) -> Result<(), KmsError> {
        self.call_unit(Operation::RetireGrant, &wire::retire_grant_request(&req))
    }

    fn revoke_grant(&self, req: RevokeGrantRequest) -> Result<(), KmsError> {
        self.call_unit(Operation::RevokeGrant, &wire::revoke_grant_request(&req))
    }
}
