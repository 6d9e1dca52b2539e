//! Shared by the envelope tests: an engine on a throwaway SoftHSM token, keys, and a `Kms`
//! that counts the calls made through it.
#![allow(dead_code, unreachable_pub, unused_macros)]

/// `isolated!(name)` inside a `mod run { use ...::run_isolated; ... }`: a test `run::name`
/// that runs `super::name` against a throwaway token in a child process.
macro_rules! isolated {
    ($name:ident) => {
        #[test]
        fn $name() {
            run_isolated(module_path!(), stringify!($name), super::$name);
        }
    };
}

use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;

use lockbox::api::*;
use lockbox::{Config, Engine};
use lockbox_token::testing::TestToken;
use parking_lot::Mutex;

/// Counts every call by operation, then passes it on.
pub struct CountingKms {
    inner: Arc<dyn Kms>,
    counts: Mutex<HashMap<&'static str, u64>>,
}

impl CountingKms {
    pub fn new(inner: Arc<dyn Kms>) -> CountingKms {
        CountingKms {
            inner,
            counts: Mutex::new(HashMap::new()),
        }
    }

    fn count(&self, op: &'static str) {
        *self.counts.lock().entry(op).or_default() += 1;
    }

    /// How many times `op` (the trait method's name) was called.
    pub fn calls(&self, op: &str) -> u64 {
        self.counts.lock().get(op).copied().unwrap_or(0)
    }
}

/// An engine, a counting client of it, and `n` fresh keys (their ARNs).
pub struct Setup {
    pub engine: Arc<Engine>,
    pub kms: Arc<CountingKms>,
    pub keys: Vec<String>,
}

impl Setup {
    pub fn new(t: &TestToken, n: usize) -> Result<Setup, Box<dyn Error>> {
        let engine = Arc::new(Engine::open(Config::new(t.dir().join("data"), t.config()))?);
        let client = engine.shared_client(engine.default_caller("envelope-test"));
        let kms = Arc::new(CountingKms::new(Arc::new(client)));
        let mut keys = Vec::new();
        for _ in 0..n {
            let made = kms.create_key(CreateKeyRequest::new())?;
            keys.push(made.key_metadata.arn.to_string());
        }
        Ok(Setup { engine, kms, keys })
    }

    pub fn kms(&self) -> Arc<dyn Kms> {
        Arc::clone(&self.kms) as Arc<dyn Kms>
    }
}

/// Deterministic, non-repeating-looking test data.
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

impl Kms for CountingKms {
    fn create_key(&self, req: CreateKeyRequest) -> Result<CreateKeyResponse, KmsError> {
        self.count("create_key");
        self.inner.create_key(req)
    }
    fn describe_key(&self, req: DescribeKeyRequest) -> Result<DescribeKeyResponse, KmsError> {
        self.count("describe_key");
        self.inner.describe_key(req)
    }
    fn list_keys(&self, req: ListKeysRequest) -> Result<ListKeysResponse, KmsError> {
        self.count("list_keys");
        self.inner.list_keys(req)
    }
    fn update_key_description(&self, req: UpdateKeyDescriptionRequest) -> Result<(), KmsError> {
        self.count("update_key_description");
        self.inner.update_key_description(req)
    }
    fn enable_key(&self, req: EnableKeyRequest) -> Result<(), KmsError> {
        self.count("enable_key");
        self.inner.enable_key(req)
    }
    fn disable_key(&self, req: DisableKeyRequest) -> Result<(), KmsError> {
        self.count("disable_key");
        self.inner.disable_key(req)
    }
    fn schedule_key_deletion(
        &self,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError> {
        self.count("schedule_key_deletion");
        self.inner.schedule_key_deletion(req)
    }
    fn cancel_key_deletion(
        &self,
        req: CancelKeyDeletionRequest,
    ) -> Result<CancelKeyDeletionResponse, KmsError> {
        self.count("cancel_key_deletion");
        self.inner.cancel_key_deletion(req)
    }
    fn create_alias(&self, req: AliasRequest) -> Result<(), KmsError> {
        self.count("create_alias");
        self.inner.create_alias(req)
    }
    fn update_alias(&self, req: AliasRequest) -> Result<(), KmsError> {
        self.count("update_alias");
        self.inner.update_alias(req)
    }
    fn delete_alias(&self, req: DeleteAliasRequest) -> Result<(), KmsError> {
        self.count("delete_alias");
        self.inner.delete_alias(req)
    }
    fn list_aliases(&self, req: ListAliasesRequest) -> Result<ListAliasesResponse, KmsError> {
        self.count("list_aliases");
        self.inner.list_aliases(req)
    }
    fn tag_resource(&self, req: TagResourceRequest) -> Result<(), KmsError> {
        self.count("tag_resource");
        self.inner.tag_resource(req)
    }
    fn untag_resource(&self, req: UntagResourceRequest) -> Result<(), KmsError> {
        self.count("untag_resource");
        self.inner.untag_resource(req)
    }
    fn list_resource_tags(
        &self,
        req: ListResourceTagsRequest,
    ) -> Result<ListResourceTagsResponse, KmsError> {
        self.count("list_resource_tags");
        self.inner.list_resource_tags(req)
    }
    fn encrypt(&self, req: EncryptRequest) -> Result<EncryptResponse, KmsError> {
        self.count("encrypt");
        self.inner.encrypt(req)
    }
    fn decrypt(&self, req: DecryptRequest) -> Result<DecryptResponse, KmsError> {
        self.count("decrypt");
        self.inner.decrypt(req)
    }
    fn re_encrypt(&self, req: ReEncryptRequest) -> Result<ReEncryptResponse, KmsError> {
        self.count("re_encrypt");
        self.inner.re_encrypt(req)
    }
    fn generate_data_key(
        &self,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        self.count("generate_data_key");
        self.inner.generate_data_key(req)
    }
    fn generate_data_key_without_plaintext(
        &self,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse, KmsError> {
        self.count("generate_data_key_without_plaintext");
        self.inner.generate_data_key_without_plaintext(req)
    }
    fn generate_random(
        &self,
        req: GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse, KmsError> {
        self.count("generate_random");
        self.inner.generate_random(req)
    }
    fn enable_key_rotation(&self, req: EnableKeyRotationRequest) -> Result<(), KmsError> {
        self.count("enable_key_rotation");
        self.inner.enable_key_rotation(req)
    }
    fn disable_key_rotation(&self, req: DisableKeyRotationRequest) -> Result<(), KmsError> {
        self.count("disable_key_rotation");
        self.inner.disable_key_rotation(req)
    }
    fn get_key_rotation_status(
        &self,
        req: GetKeyRotationStatusRequest,
    ) -> Result<GetKeyRotationStatusResponse, KmsError> {
        self.count("get_key_rotation_status");
        self.inner.get_key_rotation_status(req)
    }
    fn rotate_key_on_demand(
        &self,
        req: RotateKeyOnDemandRequest,
    ) -> Result<RotateKeyOnDemandResponse, KmsError> {
        self.count("rotate_key_on_demand");
        self.inner.rotate_key_on_demand(req)
    }
    fn list_key_rotations(
        &self,
        req: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse, KmsError> {
        self.count("list_key_rotations");
        self.inner.list_key_rotations(req)
    }
    fn put_key_policy(&self, req: PutKeyPolicyRequest) -> Result<(), KmsError> {
        self.count("put_key_policy");
        self.inner.put_key_policy(req)
    }
    fn get_key_policy(&self, req: GetKeyPolicyRequest) -> Result<GetKeyPolicyResponse, KmsError> {
        self.count("get_key_policy");
        self.inner.get_key_policy(req)
    }
    fn list_key_policies(
        &self,
        req: ListKeyPoliciesRequest,
    ) -> Result<ListKeyPoliciesResponse, KmsError> {
        self.count("list_key_policies");
        self.inner.list_key_policies(req)
    }
    fn create_grant(&self, req: CreateGrantRequest) -> Result<CreateGrantResponse, KmsError> {
        self.count("create_grant");
        self.inner.create_grant(req)
    }
    fn list_grants(&self, req: ListGrantsRequest) -> Result<ListGrantsResponse, KmsError> {
        self.count("list_grants");
        self.inner.list_grants(req)
    }
    fn list_retirable_grants(
        &self,
        req: ListRetirableGrantsRequest,
    ) -> Result<ListGrantsResponse, KmsError> {
        self.count("list_retirable_grants");
        self.inner.list_retirable_grants(req)
    }
    fn retire_grant(&self, req: RetireGrantRequest) -> Result<(), KmsError> {
        self.count("retire_grant");
        self.inner.retire_grant(req)
    }
    fn revoke_grant(&self, req: RevokeGrantRequest) -> Result<(), KmsError> {
        self.count("revoke_grant");
        self.inner.revoke_grant(req)
    }
}
