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
    fn call(&self, request: Request) -> Result<Response, KmsError> {
        use Operation as O;
        use Request as Q;
        use Response as A;
        Ok(match request {
            Q::CreateKey(req) => A::CreateKey(self.call_with(
                O::CreateKey,
                &wire::create_key_request(&req),
                wire::create_key_response,
            )?),
            Q::DescribeKey(req) => A::DescribeKey(self.call_with(
                O::DescribeKey,
                &wire::describe_key_request(&req),
                wire::describe_key_response,
            )?),
            Q::ListKeys(req) => A::ListKeys(self.call_with(
                O::ListKeys,
                &wire::list_keys_request(&req),
                wire::list_keys_response,
            )?),
            Q::UpdateKeyDescription(req) => A::UpdateKeyDescription(self.call_unit(
                O::UpdateKeyDescription,
                &wire::update_key_description_request(&req),
            )?),
            Q::EnableKey(req) => {
                A::EnableKey(self.call_unit(O::EnableKey, &wire::enable_key_request(&req))?)
            }
            Q::DisableKey(req) => {
                A::DisableKey(self.call_unit(O::DisableKey, &wire::disable_key_request(&req))?)
            }
            Q::ScheduleKeyDeletion(req) => A::ScheduleKeyDeletion(self.call_with(
                O::ScheduleKeyDeletion,
                &wire::schedule_key_deletion_request(&req),
                wire::schedule_key_deletion_response,
            )?),
            Q::CancelKeyDeletion(req) => A::CancelKeyDeletion(self.call_with(
                O::CancelKeyDeletion,
                &wire::cancel_key_deletion_request(&req),
                wire::cancel_key_deletion_response,
            )?),
            Q::CreateAlias(req) => {
                A::CreateAlias(self.call_unit(O::CreateAlias, &wire::alias_request(&req))?)
            }
            Q::UpdateAlias(req) => {
                A::UpdateAlias(self.call_unit(O::UpdateAlias, &wire::alias_request(&req))?)
            }
            Q::DeleteAlias(req) => {
                A::DeleteAlias(self.call_unit(O::DeleteAlias, &wire::delete_alias_request(&req))?)
            }
            Q::ListAliases(req) => A::ListAliases(self.call_with(
                O::ListAliases,
                &wire::list_aliases_request(&req),
                wire::list_aliases_response,
            )?),
            Q::TagResource(req) => {
                A::TagResource(self.call_unit(O::TagResource, &wire::tag_resource_request(&req))?)
            }
            Q::UntagResource(req) => A::UntagResource(
                self.call_unit(O::UntagResource, &wire::untag_resource_request(&req))?,
            ),
            Q::ListResourceTags(req) => A::ListResourceTags(self.call_with(
                O::ListResourceTags,
                &wire::list_resource_tags_request(&req),
                wire::list_resource_tags_response,
            )?),
            Q::Encrypt(req) => A::Encrypt(self.call_with(
                O::Encrypt,
                &wire::encrypt_request(&req),
                wire::encrypt_response,
            )?),
            Q::Decrypt(req) => A::Decrypt(self.call_with(
                O::Decrypt,
                &wire::decrypt_request(&req),
                wire::decrypt_response,
            )?),
            Q::ReEncrypt(req) => A::ReEncrypt(self.call_with(
                O::ReEncrypt,
                &wire::re_encrypt_request(&req),
                wire::re_encrypt_response,
            )?),
            Q::GenerateDataKey(req) => A::GenerateDataKey(self.call_with(
                O::GenerateDataKey,
                &wire::generate_data_key_request(&req),
                wire::generate_data_key_response,
            )?),
            Q::GenerateDataKeyWithoutPlaintext(req) => {
                A::GenerateDataKeyWithoutPlaintext(self.call_with(
                    O::GenerateDataKeyWithoutPlaintext,
                    &wire::generate_data_key_request(&req),
                    wire::generate_data_key_without_plaintext_response,
                )?)
            }
            Q::GenerateRandom(req) => A::GenerateRandom(self.call_with(
                O::GenerateRandom,
                &wire::generate_random_request(&req),
                wire::generate_random_response,
            )?),
            Q::EnableKeyRotation(req) => A::EnableKeyRotation(self.call_unit(
                O::EnableKeyRotation,
                &wire::enable_key_rotation_request(&req),
            )?),
            Q::DisableKeyRotation(req) => A::DisableKeyRotation(self.call_unit(
                O::DisableKeyRotation,
                &wire::disable_key_rotation_request(&req),
            )?),
            Q::GetKeyRotationStatus(req) => A::GetKeyRotationStatus(self.call_with(
                O::GetKeyRotationStatus,
                &wire::get_key_rotation_status_request(&req),
                wire::get_key_rotation_status_response,
            )?),
            Q::RotateKeyOnDemand(req) => A::RotateKeyOnDemand(self.call_with(
                O::RotateKeyOnDemand,
                &wire::rotate_key_on_demand_request(&req),
                wire::rotate_key_on_demand_response,
            )?),
            Q::ListKeyRotations(req) => A::ListKeyRotations(self.call_with(
                O::ListKeyRotations,
                &wire::list_key_rotations_request(&req),
                wire::list_key_rotations_response,
            )?),
            Q::PutKeyPolicy(req) => A::PutKeyPolicy(
                self.call_unit(O::PutKeyPolicy, &wire::put_key_policy_request(&req))?,
            ),
            Q::GetKeyPolicy(req) => A::GetKeyPolicy(self.call_with(
                O::GetKeyPolicy,
                &wire::get_key_policy_request(&req),
                wire::get_key_policy_response,
            )?),
            Q::ListKeyPolicies(req) => A::ListKeyPolicies(self.call_with(
                O::ListKeyPolicies,
                &wire::list_key_policies_request(&req),
                wire::list_key_policies_response,
            )?),
            Q::CreateGrant(req) => A::CreateGrant(self.call_with(
                O::CreateGrant,
                &wire::create_grant_request(&req),
                wire::create_grant_response,
            )?),
            Q::ListGrants(req) => A::ListGrants(self.call_with(
                O::ListGrants,
                &wire::list_grants_request(&req),
                wire::list_grants_response,
            )?),
            Q::ListRetirableGrants(req) => A::ListRetirableGrants(self.call_with(
                O::ListRetirableGrants,
                &wire::list_retirable_grants_request(&req),
                wire::list_grants_response,
            )?),
            Q::RetireGrant(req) => {
                A::RetireGrant(self.call_unit(O::RetireGrant, &wire::retire_grant_request(&req))?)
            }
            Q::RevokeGrant(req) => {
                A::RevokeGrant(self.call_unit(O::RevokeGrant, &wire::revoke_grant_request(&req))?)
            }
        })
    }
}
