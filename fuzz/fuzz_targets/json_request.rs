//! The JSON request decoder of every operation: the first byte picks the operation, the rest is
//! the body. Any body is decoded into a request (the Kms below then refuses it) or refused with
//! a 400 error naming what is wrong, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockbox_api::*;
use lockbox_server::wire::{Operation, serve};

/// The message of every call that got past decoding.
const DECODED: &str = "fuzz: decoded";

/// A Kms that fails every call: only the decoder runs.
struct Refuse;

macro_rules! refuse {
    ($($method:ident($req:ty) -> $resp:ty;)+) => {
        impl Kms for Refuse {
            $(fn $method(&self, _req: $req) -> Result<$resp, KmsError> {
                Err(KmsError::new(ErrorKind::NotFound, DECODED))
            })+
        }
    };
}

refuse! {
    create_key(CreateKeyRequest) -> CreateKeyResponse;
    describe_key(DescribeKeyRequest) -> DescribeKeyResponse;
    list_keys(ListKeysRequest) -> ListKeysResponse;
    update_key_description(UpdateKeyDescriptionRequest) -> ();
    enable_key(EnableKeyRequest) -> ();
    disable_key(DisableKeyRequest) -> ();
    schedule_key_deletion(ScheduleKeyDeletionRequest) -> ScheduleKeyDeletionResponse;
    cancel_key_deletion(CancelKeyDeletionRequest) -> CancelKeyDeletionResponse;
    create_alias(AliasRequest) -> ();
    update_alias(AliasRequest) -> ();
    delete_alias(DeleteAliasRequest) -> ();
    list_aliases(ListAliasesRequest) -> ListAliasesResponse;
    tag_resource(TagResourceRequest) -> ();
    untag_resource(UntagResourceRequest) -> ();
    list_resource_tags(ListResourceTagsRequest) -> ListResourceTagsResponse;
    encrypt(EncryptRequest) -> EncryptResponse;
    decrypt(DecryptRequest) -> DecryptResponse;
    re_encrypt(ReEncryptRequest) -> ReEncryptResponse;
    generate_data_key(GenerateDataKeyRequest) -> GenerateDataKeyResponse;
    generate_data_key_without_plaintext(GenerateDataKeyRequest) -> GenerateDataKeyWithoutPlaintextResponse;
    generate_random(GenerateRandomRequest) -> GenerateRandomResponse;
    enable_key_rotation(EnableKeyRotationRequest) -> ();
    disable_key_rotation(DisableKeyRotationRequest) -> ();
    get_key_rotation_status(GetKeyRotationStatusRequest) -> GetKeyRotationStatusResponse;
    rotate_key_on_demand(RotateKeyOnDemandRequest) -> RotateKeyOnDemandResponse;
    list_key_rotations(ListKeyRotationsRequest) -> ListKeyRotationsResponse;
    put_key_policy(PutKeyPolicyRequest) -> ();
    get_key_policy(GetKeyPolicyRequest) -> GetKeyPolicyResponse;
    list_key_policies(ListKeyPoliciesRequest) -> ListKeyPoliciesResponse;
    create_grant(CreateGrantRequest) -> CreateGrantResponse;
    list_grants(ListGrantsRequest) -> ListGrantsResponse;
    list_retirable_grants(ListRetirableGrantsRequest) -> ListGrantsResponse;
    retire_grant(RetireGrantRequest) -> ();
    revoke_grant(RevokeGrantRequest) -> ();
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let op = Operation::ALL[usize::from(pick) % Operation::ALL.len()];
    let e = serve(&Refuse, op, body).expect_err("the Kms refuses every call");
    if e.message == DECODED {
        return;
    }
    // Refused while decoding: a client error in AWS's vocabulary (the protocol's
    // Serialization/Validation/UnsupportedOperation, or a member parser's own kind, e.g.
    // NotFoundException for a malformed key id), never a server error.
    assert_eq!(e.status, 400, "{op:?}: {} {}", e.code, e.message);
    assert!(e.code.ends_with("Exception"), "{op:?}: {}", e.code);
    assert!(!e.message.is_empty(), "{op:?}: {}", e.code);
});
