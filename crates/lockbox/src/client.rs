//! [`EngineClient`]: the engine as one caller sees it. Every call is authorized inside the
//! operation and, whatever its outcome, written to the audit trail here.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lockbox_api::*;

use crate::access::Call;
use crate::engine::Engine;

/// The engine acting for one caller. Implements [`Kms`]; cheap to make (one per request is
/// fine) and `Send + Sync`.
///
/// ```no_run
/// # fn f(engine: &lockbox::Engine) -> Result<(), lockbox::api::KmsError> {
/// use lockbox::api::{Caller, CreateKeyRequest, Kms, Principal};
/// let alice = Caller::new(Principal::parse("arn:aws:iam::111122223333:user/alice")?);
/// let key = engine.client(alice).create_key(CreateKeyRequest::new())?;
/// # Ok(()) }
/// ```
pub struct EngineClient<'e> {
    engine: EngineHandle<'e>,
    caller: Caller,
    // The request number of the latest call, plus one (0: no call yet).
    last_request: AtomicU64,
}

/// A borrowed engine ([`Engine::client`]) or a shared one ([`Engine::shared_client`]).
enum EngineHandle<'e> {
    Borrowed(&'e Engine),
    Shared(Arc<Engine>),
}

impl Deref for EngineHandle<'_> {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        match self {
            EngineHandle::Borrowed(e) => e,
            EngineHandle::Shared(e) => e,
        }
    }
}

impl<'e> EngineClient<'e> {
    pub(crate) fn new(engine: &'e Engine, caller: Caller) -> Self {
        EngineClient {
            engine: EngineHandle::Borrowed(engine),
            caller,
            last_request: AtomicU64::new(0),
        }
    }

    pub(crate) fn shared(engine: Arc<Engine>, caller: Caller) -> EngineClient<'static> {
        EngineClient {
            engine: EngineHandle::Shared(engine),
            caller,
            last_request: AtomicU64::new(0),
        }
    }

    /// Who this client acts for.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The request id (UUID text) of the latest call made through this client, as its audit
    /// record names it; `None` before the first call. A server returns it to its client
    /// (`x-amzn-RequestId`), so that the two can be matched.
    pub fn last_request_id(&self) -> Option<String> {
        match self.last_request.load(Ordering::Acquire) {
            0 => None,
            n => Some(crate::audit::uuid_text(self.engine.request_id(n - 1))),
        }
    }

    /// Runs operation `op` as the caller, then audits it: allowed or denied, succeeded or
    /// failed. If the audit record cannot be written, the call fails (fail closed).
    fn run<T>(
        &self,
        op: &'static str,
        context: Option<EncryptionContext>,
        f: impl FnOnce(&Engine, &mut Call<'_>) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        let mut call = Call::new(&self.caller);
        let result = f(&self.engine, &mut call);
        let n = self.engine.next_request();
        self.last_request.store(n + 1, Ordering::Release);
        self.engine.audit_call(
            self.engine.request_id(n),
            &call,
            op,
            context,
            result.as_ref().err(),
        )?;
        result
    }
}

impl Kms for EngineClient<'_> {
    fn create_key(&self, req: CreateKeyRequest) -> Result<CreateKeyResponse, KmsError> {
        self.run("CreateKey", None, |e, c| e.create_key(c, req))
    }

    fn describe_key(&self, req: DescribeKeyRequest) -> Result<DescribeKeyResponse, KmsError> {
        self.run("DescribeKey", None, |e, c| e.describe_key(c, req))
    }

    fn list_keys(&self, req: ListKeysRequest) -> Result<ListKeysResponse, KmsError> {
        self.run("ListKeys", None, |e, c| e.list_keys(c, req))
    }

    fn update_key_description(&self, req: UpdateKeyDescriptionRequest) -> Result<(), KmsError> {
        self.run("UpdateKeyDescription", None, |e, c| {
            e.update_key_description(c, req)
        })
    }

    fn enable_key(&self, req: EnableKeyRequest) -> Result<(), KmsError> {
        self.run("EnableKey", None, |e, c| e.enable_key(c, req))
    }

    fn disable_key(&self, req: DisableKeyRequest) -> Result<(), KmsError> {
        self.run("DisableKey", None, |e, c| e.disable_key(c, req))
    }

    fn schedule_key_deletion(
        &self,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError> {
        self.run("ScheduleKeyDeletion", None, |e, c| {
            e.schedule_key_deletion(c, req)
        })
    }

    fn cancel_key_deletion(
        &self,
        req: CancelKeyDeletionRequest,
    ) -> Result<CancelKeyDeletionResponse, KmsError> {
        self.run("CancelKeyDeletion", None, |e, c| {
            e.cancel_key_deletion(c, req)
        })
    }

    fn create_alias(&self, req: AliasRequest) -> Result<(), KmsError> {
        self.run("CreateAlias", None, |e, c| e.create_alias(c, req))
    }

    fn update_alias(&self, req: AliasRequest) -> Result<(), KmsError> {
        self.run("UpdateAlias", None, |e, c| e.update_alias(c, req))
    }

    fn delete_alias(&self, req: DeleteAliasRequest) -> Result<(), KmsError> {
        self.run("DeleteAlias", None, |e, c| e.delete_alias(c, req))
    }

    fn list_aliases(&self, req: ListAliasesRequest) -> Result<ListAliasesResponse, KmsError> {
        self.run("ListAliases", None, |e, c| e.list_aliases(c, req))
    }

    fn tag_resource(&self, req: TagResourceRequest) -> Result<(), KmsError> {
        self.run("TagResource", None, |e, c| e.tag_resource(c, req))
    }

    fn untag_resource(&self, req: UntagResourceRequest) -> Result<(), KmsError> {
        self.run("UntagResource", None, |e, c| e.untag_resource(c, req))
    }

    fn list_resource_tags(
        &self,
        req: ListResourceTagsRequest,
    ) -> Result<ListResourceTagsResponse, KmsError> {
        self.run("ListResourceTags", None, |e, c| {
            e.list_resource_tags(c, req)
        })
    }

    fn encrypt(&self, req: EncryptRequest) -> Result<EncryptResponse, KmsError> {
        let ctx = req.encryption_context.clone();
        self.run("Encrypt", Some(ctx), |e, c| e.encrypt(c, req))
    }

    fn decrypt(&self, req: DecryptRequest) -> Result<DecryptResponse, KmsError> {
        let ctx = req.encryption_context.clone();
        self.run("Decrypt", Some(ctx), |e, c| e.decrypt(c, req))
    }

    fn re_encrypt(&self, req: ReEncryptRequest) -> Result<ReEncryptResponse, KmsError> {
        let ctx = req.destination_encryption_context.clone();
        self.run("ReEncrypt", Some(ctx), |e, c| e.re_encrypt(c, req))
    }

    fn generate_data_key(
        &self,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        let ctx = req.encryption_context.clone();
        self.run("GenerateDataKey", Some(ctx), |e, c| {
            e.generate_data_key(c, req)
        })
    }

    fn generate_data_key_without_plaintext(
        &self,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse, KmsError> {
        let ctx = req.encryption_context.clone();
        self.run("GenerateDataKeyWithoutPlaintext", Some(ctx), |e, c| {
            e.generate_data_key_without_plaintext(c, req)
        })
    }

    fn generate_random(
        &self,
        req: GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse, KmsError> {
        self.run("GenerateRandom", None, |e, c| e.generate_random(c, req))
    }

    fn enable_key_rotation(&self, req: EnableKeyRotationRequest) -> Result<(), KmsError> {
        self.run("EnableKeyRotation", None, |e, c| e.enable_rotation(c, req))
    }

    fn disable_key_rotation(&self, req: DisableKeyRotationRequest) -> Result<(), KmsError> {
        self.run("DisableKeyRotation", None, |e, c| {
            e.disable_rotation(c, req)
        })
    }

    fn get_key_rotation_status(
        &self,
        req: GetKeyRotationStatusRequest,
    ) -> Result<GetKeyRotationStatusResponse, KmsError> {
        self.run("GetKeyRotationStatus", None, |e, c| {
            e.rotation_status(c, req)
        })
    }

    fn rotate_key_on_demand(
        &self,
        req: RotateKeyOnDemandRequest,
    ) -> Result<RotateKeyOnDemandResponse, KmsError> {
        self.run("RotateKeyOnDemand", None, |e, c| e.rotate_on_demand(c, req))
    }

    fn list_key_rotations(
        &self,
        req: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse, KmsError> {
        self.run("ListKeyRotations", None, |e, c| e.list_rotations(c, req))
    }

    fn put_key_policy(&self, req: PutKeyPolicyRequest) -> Result<(), KmsError> {
        self.run("PutKeyPolicy", None, |e, c| e.put_key_policy(c, req))
    }

    fn get_key_policy(&self, req: GetKeyPolicyRequest) -> Result<GetKeyPolicyResponse, KmsError> {
        self.run("GetKeyPolicy", None, |e, c| e.get_key_policy(c, req))
    }

    fn list_key_policies(
        &self,
        req: ListKeyPoliciesRequest,
    ) -> Result<ListKeyPoliciesResponse, KmsError> {
        self.run("ListKeyPolicies", None, |e, c| e.list_key_policies(c, req))
    }

    fn create_grant(&self, req: CreateGrantRequest) -> Result<CreateGrantResponse, KmsError> {
        self.run("CreateGrant", None, |e, c| e.create_grant(c, req))
    }

    fn list_grants(&self, req: ListGrantsRequest) -> Result<ListGrantsResponse, KmsError> {
        self.run("ListGrants", None, |e, c| e.list_grants(c, req))
    }

    fn list_retirable_grants(
        &self,
        req: ListRetirableGrantsRequest,
    ) -> Result<ListGrantsResponse, KmsError> {
        self.run("ListRetirableGrants", None, |e, c| {
            e.list_retirable_grants(c, req)
        })
    }

    fn retire_grant(&self, req: RetireGrantRequest) -> Result<(), KmsError> {
        self.run("RetireGrant", None, |e, c| e.retire_grant(c, req))
    }

    fn revoke_grant(&self, req: RevokeGrantRequest) -> Result<(), KmsError> {
        self.run("RevokeGrant", None, |e, c| e.revoke_grant(c, req))
    }
}
