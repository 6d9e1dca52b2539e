//! Request throttling: token buckets per (account, Region, operation class), shaped like AWS
//! KMS's request quotas.
//!
//! AWS KMS limits each account's request rate per operation in each Region, and shares one
//! quota among the symmetric cryptographic operations. Lockbox does the same with one token
//! bucket per account, Region and quota: a bucket holds at most one second's worth of requests (its rate) and
//! refills continuously, so a client may burst up to the rate and then sustain it. A request
//! that finds its bucket empty is refused with `ThrottlingException` ("Rate exceeded"), status
//! 400, which the AWS SDKs retry with back-off.
//!
//! The classes and their default rates (requests per second; a fraction is a slower rate:
//! 0.1 is one request every ten seconds), after AWS KMS's defaults:
//!
//! | class (`[throttle]` key) | operations | default | bucket |
//! | --- | --- | --- | --- |
//! | `cryptographic` | Encrypt, Decrypt, ReEncrypt with symmetric keys; GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateRandom, GenerateMac, VerifyMac | 5500 | one, shared |
//! | `rsa` | Encrypt, Decrypt, ReEncrypt, Sign, Verify with RSA keys | 1000 | one, shared |
//! | `ecc` | Sign, Verify, DeriveSharedSecret with ECC keys | 1000 | one, shared |
//! | `get_public_key` | GetPublicKey | 2000 | |
//! | `data_key_pair_rsa_2048`, `_rsa_3072`, `_rsa_4096` | GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext of that pair spec | 1, 0.5, 0.1 | one per spec, shared by both operations |
//! | `data_key_pair_ecc_nist_p256`, `_p384`, `_p521`, `data_key_pair_ecc_secg_p256k1` | the same, for EC pairs | 25, 10, 5, 25 | one per spec |
//! | `describe_key` | DescribeKey | 2000 | |
//! | `key_reads` | GetKeyPolicy, GetKeyRotationStatus | 1000 | per operation |
//! | `lists` | ListKeys, ListAliases, ListGrants, ListRetirableGrants, ListKeyPolicies, ListResourceTags, ListKeyRotations | 100 | per operation |
//! | `create_key` | CreateKey | 50 | |
//! | `create_grant` | CreateGrant | 50 | |
//! | `retire_revoke_grant` | RetireGrant, RevokeGrant | 30 | per operation |
//! | `put_key_policy` | PutKeyPolicy | 15 | |
//! | `tag_resource` | TagResource | 10 | |
//! | `management` | CreateAlias, UpdateAlias, DeleteAlias, EnableKey, DisableKey, EnableKeyRotation, DisableKeyRotation, RotateKeyOnDemand, ScheduleKeyDeletion, CancelKeyDeletion, UpdateKeyDescription, UntagResource | 5 | per operation |
//!
//! Which of `cryptographic`, `rsa` and `ecc` a call draws on depends on its key
//! (`lockbox_api::Request::throttle_class`): the server asks the engine for the key's spec
//! before the call. A bucket holds one second's worth of its rate, and at least one request.
//!
//! The server keeps one bucket per account that has called (accounts come only from
//! authenticated credentials, so their number is bounded by the credentials file).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lockbox_api::Operation;
use parking_lot::Mutex;
use serde::Deserialize;

use crate::error::WireError;

/// A quota class: the operation table's (`lockbox_api::Operation::throttle_class`).
pub use lockbox_api::ThrottleClass as Class;

/// What one request draws on: its operation's class, and its name for classes whose
/// operations each have a bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    class: Class,
    operation: &'static str,
}

impl Quota {
    /// The quota of an operation that is not in the operation table (a test double's).
    pub fn new(class: Class, operation: &'static str) -> Quota {
        Quota { class, operation }
    }
}

impl From<Operation> for Quota {
    fn from(op: Operation) -> Quota {
        Quota::new(op.throttle_class(), op.name())
    }
}

/// The largest rate a class may be given, per second.
pub const MAX_RATE: f64 = 1_000_000.0;
/// The smallest rate a class may be given: one request a day.
pub const MIN_RATE: f64 = 1.0 / 86_400.0;

/// `[throttle]` in `server.toml`: whether throttling is on, and each class's rate in
/// requests per second (see the module documentation for the defaults).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Throttling on (default) or off.
    pub enabled: bool,
    /// Symmetric cryptographic operations, shared.
    pub cryptographic: f64,
    /// Cryptographic operations with RSA keys, shared.
    pub rsa: f64,
    /// Cryptographic operations with ECC keys, shared.
    pub ecc: f64,
    /// GetPublicKey.
    pub get_public_key: f64,
    /// Data key pairs of RSA_2048.
    pub data_key_pair_rsa_2048: f64,
    /// Data key pairs of RSA_3072.
    pub data_key_pair_rsa_3072: f64,
    /// Data key pairs of RSA_4096.
    pub data_key_pair_rsa_4096: f64,
    /// Data key pairs of ECC_NIST_P256.
    pub data_key_pair_ecc_nist_p256: f64,
    /// Data key pairs of ECC_NIST_P384.
    pub data_key_pair_ecc_nist_p384: f64,
    /// Data key pairs of ECC_NIST_P521.
    pub data_key_pair_ecc_nist_p521: f64,
    /// Data key pairs of ECC_SECG_P256K1.
    pub data_key_pair_ecc_secg_p256k1: f64,
    /// DescribeKey.
    pub describe_key: f64,
    /// GetKeyPolicy, GetKeyRotationStatus.
    pub key_reads: f64,
    /// The List operations.
    pub lists: f64,
    /// CreateKey.
    pub create_key: f64,
    /// CreateGrant.
    pub create_grant: f64,
    /// RetireGrant, RevokeGrant.
    pub retire_revoke_grant: f64,
    /// PutKeyPolicy.
    pub put_key_policy: f64,
    /// TagResource.
    pub tag_resource: f64,
    /// Key and alias management.
    pub management: f64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            enabled: true,
            cryptographic: 5500.0,
            rsa: 1000.0,
            ecc: 1000.0,
            get_public_key: 2000.0,
            data_key_pair_rsa_2048: 1.0,
            data_key_pair_rsa_3072: 0.5,
            data_key_pair_rsa_4096: 0.1,
            data_key_pair_ecc_nist_p256: 25.0,
            data_key_pair_ecc_nist_p384: 10.0,
            data_key_pair_ecc_nist_p521: 5.0,
            data_key_pair_ecc_secg_p256k1: 25.0,
            describe_key: 2000.0,
            key_reads: 1000.0,
            lists: 100.0,
            create_key: 50.0,
            create_grant: 50.0,
            retire_revoke_grant: 30.0,
            put_key_policy: 15.0,
            tag_resource: 10.0,
            management: 5.0,
        }
    }
}

impl ThrottleConfig {
    /// The rate of `class`, per second.
    pub fn rate(&self, class: Class) -> f64 {
        match class {
            Class::Cryptographic => self.cryptographic,
            Class::Rsa => self.rsa,
            Class::Ecc => self.ecc,
            Class::GetPublicKey => self.get_public_key,
            Class::DataKeyPairRsa2048 => self.data_key_pair_rsa_2048,
            Class::DataKeyPairRsa3072 => self.data_key_pair_rsa_3072,
            Class::DataKeyPairRsa4096 => self.data_key_pair_rsa_4096,
            Class::DataKeyPairEccNistP256 => self.data_key_pair_ecc_nist_p256,
            Class::DataKeyPairEccNistP384 => self.data_key_pair_ecc_nist_p384,
            Class::DataKeyPairEccNistP521 => self.data_key_pair_ecc_nist_p521,
            Class::DataKeyPairEccSecgP256k1 => self.data_key_pair_ecc_secg_p256k1,
            Class::DescribeKey => self.describe_key,
            Class::KeyReads => self.key_reads,
            Class::Lists => self.lists,
            Class::CreateKey => self.create_key,
            Class::CreateGrant => self.create_grant,
            Class::RetireRevokeGrant => self.retire_revoke_grant,
            Class::PutKeyPolicy => self.put_key_policy,
            Class::TagResource => self.tag_resource,
            Class::Management => self.management,
        }
    }

    /// Checks every rate is within [`MIN_RATE`]..=[`MAX_RATE`] (one a day to a million a
    /// second); the message names the field.
    pub fn check(&self) -> Result<(), String> {
        for &class in Class::ALL {
            let rate = self.rate(class);
            if !(MIN_RATE..=MAX_RATE).contains(&rate) {
                return Err(format!(
                    "throttle.{} = {rate}: a rate must be between one request a day \
                     ({MIN_RATE:.8}) and {MAX_RATE} requests per second (to turn throttling \
                     off, set throttle.enabled = false)",
                    class.name()
                ));
            }
        }
        Ok(())
    }
}

/// Token buckets per (account, Region, class or operation). `Send + Sync`.
pub struct Throttle {
    config: ThrottleConfig,
    buckets: Mutex<HashMap<BucketKey, Bucket>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct BucketKey {
    account: String,
    // AWS KMS's quotas are per account and Region.
    region: String,
    class: Class,
    // The operation, for classes whose operations each have a bucket; "" for shared ones.
    operation: &'static str,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Throttle {
    /// Buckets with these rates. The configuration should have passed
    /// [`ThrottleConfig::check`]; a rate of 0 refuses every request of its class.
    pub fn new(config: ThrottleConfig) -> Self {
        Throttle {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for one call by `account` in `region` that draws on `quota`, now.
    pub fn check(
        &self,
        account: &str,
        region: &str,
        quota: impl Into<Quota>,
    ) -> Result<(), WireError> {
        self.check_at(account, region, quota, Instant::now())
    }

    /// As [`Throttle::check`], at `now` (tests drive the clock). Times earlier than a
    /// bucket's last refill count as that time.
    pub fn check_at(
        &self,
        account: &str,
        region: &str,
        quota: impl Into<Quota>,
        now: Instant,
    ) -> Result<(), WireError> {
        if !self.config.enabled {
            return Ok(());
        }
        let Quota { class, operation } = quota.into();
        let rate = self.config.rate(class);
        // One second's worth, and at least one request (a rate of 0.1 still allows one).
        let capacity = rate.max(1.0);
        let key = BucketKey {
            account: account.to_owned(),
            region: region.to_owned(),
            class,
            operation: if class.shared() { "" } else { operation },
        };
        let mut buckets = self.buckets.lock();
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: capacity,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last);
        bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * rate).min(capacity);
        bucket.last = bucket.last.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(throttled())
        }
    }

    /// How long until `account` may make a call in `region` that draws on `quota` again (zero
    /// if it may now).
    pub fn retry_after(
        &self,
        account: &str,
        region: &str,
        quota: impl Into<Quota>,
        now: Instant,
    ) -> Duration {
        let Quota { class, operation } = quota.into();
        let rate = self.config.rate(class);
        let key = BucketKey {
            account: account.to_owned(),
            region: region.to_owned(),
            class,
            operation: if class.shared() { "" } else { operation },
        };
        match self.buckets.lock().get(&key) {
            Some(b) => {
                let tokens = b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate;
                if tokens >= 1.0 || rate <= 0.0 {
                    Duration::ZERO
                } else {
                    Duration::from_secs_f64((1.0 - tokens) / rate)
                }
            }
            None => Duration::ZERO,
        }
    }
}

/// The error AWS KMS answers a throttled request with.
pub fn throttled() -> WireError {
    WireError::new(400, "ThrottlingException", "Rate exceeded")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The Region of the tests' calls.
    const R: &str = "us-east-1";

    fn quotas(f: impl FnOnce(&mut ThrottleConfig)) -> Throttle {
        let mut c = ThrottleConfig::default();
        f(&mut c);
        Throttle::new(c)
    }

    #[test]
    fn a_bucket_allows_its_rate_as_a_burst_then_refuses_with_throttling_exception() {
        let t = quotas(|c| c.create_key = 3.0);
        let t0 = Instant::now();
        for _ in 0..3 {
            t.check_at("111122223333", R, Operation::CreateKey, t0)
                .unwrap();
        }
        let e = t
            .check_at("111122223333", R, Operation::CreateKey, t0)
            .unwrap_err();
        assert_eq!(
            (e.status, e.code.as_ref(), e.message.as_str()),
            (400, "ThrottlingException", "Rate exceeded")
        );
        assert_eq!(
            t.retry_after("111122223333", R, Operation::CreateKey, t0),
            Duration::from_secs_f64(1.0 / 3.0)
        );
    }

    #[test]
    fn tokens_refill_continuously_up_to_one_second_of_rate() {
        let t = quotas(|c| c.create_key = 10.0);
        let t0 = Instant::now();
        for _ in 0..10 {
            t.check_at("a", R, Operation::CreateKey, t0).unwrap();
        }
        assert!(t.check_at("a", R, Operation::CreateKey, t0).is_err());
        // 100 ms at 10/s is one token.
        let t1 = t0 + Duration::from_millis(100);
        t.check_at("a", R, Operation::CreateKey, t1).unwrap();
        assert!(t.check_at("a", R, Operation::CreateKey, t1).is_err());
        // A long pause refills to the cap (10), not beyond.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..10 {
            t.check_at("a", R, Operation::CreateKey, t2).unwrap();
        }
        assert!(t.check_at("a", R, Operation::CreateKey, t2).is_err());
        // A clock that steps back changes nothing.
        assert!(t.check_at("a", R, Operation::CreateKey, t0).is_err());
    }

    #[test]
    fn cryptographic_operations_share_one_bucket_and_others_have_their_own() {
        let t = quotas(|c| {
            c.cryptographic = 2.0;
            c.management = 1.0;
        });
        let t0 = Instant::now();
        t.check_at("a", R, Operation::Encrypt, t0).unwrap();
        t.check_at("a", R, Operation::GenerateDataKey, t0).unwrap();
        assert!(t.check_at("a", R, Operation::Decrypt, t0).is_err());
        // Management operations each have a bucket of their own at the class rate.
        t.check_at("a", R, Operation::EnableKey, t0).unwrap();
        t.check_at("a", R, Operation::DisableKey, t0).unwrap();
        assert!(t.check_at("a", R, Operation::EnableKey, t0).is_err());
    }

    #[test]
    fn a_rate_below_one_allows_one_request_then_one_per_period() {
        // RSA_4096 data key pairs: 0.1 per second, one every ten seconds.
        let t = quotas(|_| {});
        let t0 = Instant::now();
        t.check_at(
            "a",
            R,
            Quota::new(Class::DataKeyPairRsa4096, "GenerateDataKeyPair"),
            t0,
        )
        .unwrap();
        let pair = |at| {
            t.check_at(
                "a",
                R,
                Quota::new(
                    Class::DataKeyPairRsa4096,
                    "GenerateDataKeyPairWithoutPlaintext",
                ),
                at,
            )
        };
        // Both operations share the spec's bucket.
        assert!(pair(t0 + Duration::from_secs(9)).is_err());
        pair(t0 + Duration::from_secs(10)).unwrap();
        // Other specs have buckets of their own.
        t.check_at(
            "a",
            R,
            Quota::new(Class::DataKeyPairRsa3072, "GenerateDataKeyPair"),
            t0,
        )
        .unwrap();
    }

    #[test]
    fn rsa_and_ecc_keys_have_their_own_shared_buckets() {
        let t = quotas(|c| {
            c.cryptographic = 1.0;
            c.rsa = 1.0;
            c.ecc = 1.0;
        });
        let t0 = Instant::now();
        t.check_at("a", R, Quota::new(Class::Rsa, "Sign"), t0)
            .unwrap();
        assert!(
            t.check_at("a", R, Quota::new(Class::Rsa, "Decrypt"), t0)
                .is_err()
        );
        t.check_at("a", R, Quota::new(Class::Ecc, "Verify"), t0)
            .unwrap();
        t.check_at("a", R, Operation::Encrypt, t0).unwrap();
        assert!(
            t.check_at("a", R, Quota::new(Class::Ecc, "DeriveSharedSecret"), t0)
                .is_err()
        );
    }

    #[test]
    fn accounts_are_throttled_separately() {
        let t = quotas(|c| c.describe_key = 1.0);
        let t0 = Instant::now();
        t.check_at("111111111111", R, Operation::DescribeKey, t0)
            .unwrap();
        assert!(
            t.check_at("111111111111", R, Operation::DescribeKey, t0)
                .is_err()
        );
        t.check_at("222222222222", R, Operation::DescribeKey, t0)
            .unwrap();
    }

    /// AWS KMS's quotas are per account and Region: one account's calls in another Region
    /// draw on buckets of their own.
    #[test]
    fn regions_are_throttled_separately() {
        let t = quotas(|c| c.describe_key = 1.0);
        let t0 = Instant::now();
        t.check_at("111111111111", R, Operation::DescribeKey, t0)
            .unwrap();
        assert!(
            t.check_at("111111111111", R, Operation::DescribeKey, t0)
                .is_err()
        );
        t.check_at("111111111111", "eu-west-1", Operation::DescribeKey, t0)
            .unwrap();
        assert!(t.retry_after("111111111111", R, Operation::DescribeKey, t0) > Duration::ZERO);
        assert_eq!(
            t.retry_after("111111111111", "ap-southeast-2", Operation::DescribeKey, t0),
            Duration::ZERO
        );
    }

    #[test]
    fn disabled_throttling_allows_everything() {
        let t = quotas(|c| {
            c.enabled = false;
            c.create_key = 1.0;
        });
        let t0 = Instant::now();
        for _ in 0..100 {
            t.check_at("a", R, Operation::CreateKey, t0).unwrap();
        }
    }

    #[test]
    fn defaults_follow_aws_kms_and_bounds_name_the_field() {
        let c = ThrottleConfig::default();
        assert_eq!(c.rate(Operation::Decrypt.throttle_class()), 5500.0);
        assert_eq!(c.rate(Operation::DescribeKey.throttle_class()), 2000.0);
        assert_eq!(c.rate(Operation::CreateKey.throttle_class()), 50.0);
        assert_eq!(c.rate(Operation::CreateAlias.throttle_class()), 5.0);
        assert_eq!(c.rate(Operation::ListKeys.throttle_class()), 100.0);
        assert_eq!(c.rate(Operation::GetPublicKey.throttle_class()), 2000.0);
        assert_eq!(c.rate(Class::Rsa), 1000.0);
        assert_eq!(c.rate(Class::Ecc), 1000.0);
        assert_eq!(c.rate(Class::DataKeyPairRsa4096), 0.1);
        assert_eq!(c.rate(Class::DataKeyPairEccNistP256), 25.0);
        c.check().unwrap();
        let bad = ThrottleConfig {
            lists: 0.0,
            ..ThrottleConfig::default()
        };
        assert!(bad.check().unwrap_err().starts_with("throttle.lists = 0: "));
        let parsed: ThrottleConfig =
            toml::from_str("create_key = 7\ndata_key_pair_rsa_2048 = 0.25").unwrap();
        assert_eq!(
            (
                parsed.create_key,
                parsed.cryptographic,
                parsed.data_key_pair_rsa_2048
            ),
            (7.0, 5500.0, 0.25)
        );
        let e = toml::from_str::<ThrottleConfig>("create_keys = 7").unwrap_err();
        assert!(e.to_string().contains("unknown field `create_keys`"), "{e}");
    }
}
