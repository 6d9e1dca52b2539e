//! Requests and responses of the KMS operations, shaped as the AWS KMS model shapes them.
//!
//! Requests hold parsed values (`KeyRef`, `AliasName`, `EncryptionContext`, ...), so whoever
//! builds one has already turned untrusted input into well-formed values. Requests are
//! `#[non_exhaustive]`: build them with `new` and the `with_*` methods.

use crate::access::GrantTokens;
use crate::context::EncryptionContext;
use crate::enums::{
    AlgorithmSpec, DataKeyPairSpec, DataKeySpec, EncryptionAlgorithm, ExpirationModelType,
    ImportState, ImportType, IncludeKeyMaterial, KeyAgreementAlgorithm, KeyManager,
    KeyMaterialState, KeySpec, KeyState, KeyUsage, MacAlgorithm, MessageType, MultiRegionKeyType,
    Origin, RotationType, SigningAlgorithm, WrappingKeySpec,
};
use crate::error::KmsError;
use crate::ids::{AliasArn, AliasName, KeyArn, KeyId, KeyRef};
use crate::secret::Plaintext;
use crate::tag::Tag;
use crate::time::Timestamp;

/// The longest key description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 8192;
/// The most plaintext bytes Encrypt accepts.
pub const MAX_PLAINTEXT_LEN: usize = 4096;
/// The longest ciphertext blob any operation accepts or returns.
pub const MAX_CIPHERTEXT_LEN: usize = 6144;
/// The shortest automatic rotation period, in days.
pub const MIN_ROTATION_PERIOD_DAYS: u32 = 90;
/// The longest automatic rotation period, in days.
pub const MAX_ROTATION_PERIOD_DAYS: u32 = 2560;
/// The automatic rotation period when EnableKeyRotation names none, in days.
pub const DEFAULT_ROTATION_PERIOD_DAYS: u32 = 365;
/// How many times RotateKeyOnDemand may rotate one key.
pub const MAX_ON_DEMAND_ROTATIONS: u32 = 25;
/// The most message bytes Sign, Verify, GenerateMac and VerifyMac accept.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// The longest public key GetPublicKey returns or DeriveSharedSecret accepts.
pub const MAX_PUBLIC_KEY_LEN: usize = 8192;
/// The most bytes GenerateRandom and GenerateDataKey return.
pub const MAX_NUMBER_OF_BYTES: u16 = 1024;

/// A byte count for GenerateRandom and GenerateDataKey: 1..=1024.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NumberOfBytes(u16);

impl NumberOfBytes {
    /// Checks the range.
    pub fn new(n: i64) -> Result<Self, KmsError> {
        match u16::try_from(n) {
            Ok(n) if (1..=MAX_NUMBER_OF_BYTES).contains(&n) => Ok(NumberOfBytes(n)),
            _ => Err(KmsError::range(
                "numberOfBytes",
                n,
                1,
                i64::from(MAX_NUMBER_OF_BYTES),
            )),
        }
    }

    /// The count.
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

/// How long a data key is: named by spec, or a byte count. Never both, never neither. (A
/// length, not a key: it may print.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKeySize {
    /// `KeySpec`: AES_128 or AES_256.
    Spec(DataKeySpec),
    /// `NumberOfBytes`: 1..=1024.
    Bytes(NumberOfBytes),
}

impl DataKeySize {
    /// Builds the size from the two optional wire parameters, which exclude each other.
    pub fn from_parts(
        number_of_bytes: Option<i64>,
        key_spec: Option<DataKeySpec>,
    ) -> Result<Self, KmsError> {
        match (number_of_bytes, key_spec) {
            (Some(_), Some(_)) => Err(KmsError::validation(
                "Please specify either number of bytes or key spec, not both.",
            )),
            (None, None) => Err(KmsError::validation(
                "Please specify either number of bytes or key spec.",
            )),
            (Some(n), None) => Ok(DataKeySize::Bytes(NumberOfBytes::new(n)?)),
            (None, Some(spec)) => Ok(DataKeySize::Spec(spec)),
        }
    }

    /// The data key's length in bytes.
    pub fn byte_len(self) -> usize {
        match self {
            DataKeySize::Spec(spec) => spec.byte_len(),
            DataKeySize::Bytes(n) => n.get(),
        }
    }
}

impl From<DataKeySpec> for DataKeySize {
    fn from(spec: DataKeySpec) -> Self {
        DataKeySize::Spec(spec)
    }
}

/// Everything DescribeKey says about a key.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyMetadata {
    /// The account that owns the key.
    pub aws_account_id: String,
    /// The key id.
    pub key_id: KeyId,
    /// The key ARN.
    pub arn: KeyArn,
    /// When the key was created.
    pub creation_date: Timestamp,
    /// True exactly when the state is `Enabled`.
    pub enabled: bool,
    /// The description.
    pub description: String,
    /// What the key may be used for.
    pub key_usage: KeyUsage,
    /// The lifecycle state.
    pub key_state: KeyState,
    /// When the key will be deleted, if deletion is scheduled.
    pub deletion_date: Option<Timestamp>,
    /// Where the material came from.
    pub origin: Origin,
    /// Who manages the key.
    pub key_manager: KeyManager,
    /// The type of key material.
    pub key_spec: KeySpec,
    /// The encryption algorithms the key supports (ENCRYPT_DECRYPT keys).
    pub encryption_algorithms: Vec<EncryptionAlgorithm>,
    /// The signing algorithms the key supports (SIGN_VERIFY keys).
    pub signing_algorithms: Vec<SigningAlgorithm>,
    /// The MAC algorithms the key supports (GENERATE_VERIFY_MAC keys).
    pub mac_algorithms: Vec<MacAlgorithm>,
    /// The key agreement algorithms the key supports (KEY_AGREEMENT keys).
    pub key_agreement_algorithms: Vec<KeyAgreementAlgorithm>,
    /// True for a multi-Region key (primary or replica).
    pub multi_region: bool,
    /// A multi-Region key's primary and replicas; `None` for a single-Region key.
    pub multi_region_configuration: Option<MultiRegionConfiguration>,
    /// The waiting period, if deletion is scheduled.
    pub pending_deletion_window_in_days: Option<u32>,
    /// When imported material expires (Origin EXTERNAL, `KEY_MATERIAL_EXPIRES`).
    pub valid_to: Option<Timestamp>,
    /// Whether imported material expires (Origin EXTERNAL keys only).
    pub expiration_model: Option<ExpirationModelType>,
    /// The material version new ciphertexts use (absent while no material is in the token).
    pub current_key_material_id: Option<String>,
}

/// A multi-Region key's place in its family: which Region holds the primary, which replicas.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiRegionConfiguration {
    /// Whether this key is the primary or a replica.
    pub multi_region_key_type: MultiRegionKeyType,
    /// The primary key.
    pub primary_key: MultiRegionKey,
    /// Every replica, in Region order.
    pub replica_keys: Vec<MultiRegionKey>,
}

/// One member of a multi-Region key family.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiRegionKey {
    /// Its key ARN.
    pub arn: KeyArn,
    /// Its Region.
    pub region: String,
}

macro_rules! with_methods {
    ($ty:ident { $( $(#[$m:meta])* $name:ident : $field:ident : $fty:ty ),+ $(,)? }) => {
        impl $ty {
            $( $(#[$m])* pub fn $name(mut self, value: $fty) -> Self { self.$field = value.into(); self } )+
        }
    };
}

/// CreateKey.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CreateKeyRequest {
    /// The description (0..=8192 characters).
    pub description: String,
    /// Default `ENCRYPT_DECRYPT`.
    pub key_usage: Option<KeyUsage>,
    /// Default `SYMMETRIC_DEFAULT`.
    pub key_spec: Option<KeySpec>,
    /// Default `AWS_KMS`.
    pub origin: Option<Origin>,
    /// Tags, at most 50, keys unique.
    pub tags: Vec<Tag>,
    /// The key policy document; default: the account's root may do everything.
    pub policy: Option<String>,
    /// Skips the check that the caller can change the new policy afterwards. Dangerous.
    pub bypass_policy_lockout_safety_check: bool,
    /// Makes a multi-Region primary key (`mrk-` id).
    pub multi_region: bool,
}

impl CreateKeyRequest {
    /// A request with every parameter at its default.
    pub fn new() -> Self {
        Self::default()
    }
}

with_methods!(CreateKeyRequest {
    /// Sets the description.
    with_description: description: &str,
    /// Sets the key usage.
    with_key_usage: key_usage: KeyUsage,
    /// Sets the key spec.
    with_key_spec: key_spec: KeySpec,
    /// Sets the origin.
    with_origin: origin: Origin,
    /// Sets the tags.
    with_tags: tags: Vec<Tag>,
    /// Sets the key policy document.
    with_policy: policy: String,
    /// Skips the policy lockout safety check.
    with_bypass_policy_lockout_safety_check: bypass_policy_lockout_safety_check: bool,
    /// Makes a multi-Region primary key.
    with_multi_region: multi_region: bool,
});

/// CreateKey's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateKeyResponse {
    /// The new key.
    pub key_metadata: KeyMetadata,
}

/// Requests that name only a key.
macro_rules! key_request {
    ($(#[$m:meta])* $ty:ident) => {
        $(#[$m])*
        #[derive(Clone, Debug)]
        #[non_exhaustive]
        pub struct $ty {
            /// The key.
            pub key_id: KeyRef,
        }
        impl $ty {
            /// A request for `key_id`.
            pub fn new(key_id: impl Into<KeyRef>) -> Self {
                $ty { key_id: key_id.into() }
            }
        }
    };
}

/// DescribeKey (any of the four key forms).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DescribeKeyRequest {
    /// The key.
    pub key_id: KeyRef,
    /// Grant tokens.
    pub grant_tokens: GrantTokens,
}

impl DescribeKeyRequest {
    /// A request for `key_id`.
    pub fn new(key_id: impl Into<KeyRef>) -> Self {
        DescribeKeyRequest {
            key_id: key_id.into(),
            grant_tokens: GrantTokens::none(),
        }
    }
}

with_methods!(DescribeKeyRequest {
    /// Sets the grant tokens.
    with_grant_tokens: grant_tokens: GrantTokens,
});
key_request!(
    /// EnableKey (key id or key ARN).
    EnableKeyRequest
);
key_request!(
    /// DisableKey (key id or key ARN).
    DisableKeyRequest
);
key_request!(
    /// CancelKeyDeletion (key id or key ARN).
    CancelKeyDeletionRequest
);
key_request!(
    /// DisableKeyRotation (key id or key ARN).
    DisableKeyRotationRequest
);
key_request!(
    /// GetKeyRotationStatus (key id or key ARN).
    GetKeyRotationStatusRequest
);
key_request!(
    /// RotateKeyOnDemand (key id or key ARN).
    RotateKeyOnDemandRequest
);

/// DescribeKey's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct DescribeKeyResponse {
    /// The key.
    pub key_metadata: KeyMetadata,
}

/// ListKeys.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ListKeysRequest {
    /// Page size, 1..=1000, default 100.
    pub limit: Option<u32>,
    /// `next_marker` of the previous page.
    pub marker: Option<String>,
}

impl ListKeysRequest {
    /// The first page at the default size.
    pub fn new() -> Self {
        Self::default()
    }
}

with_methods!(ListKeysRequest {
    /// Sets the page size.
    with_limit: limit: u32,
    /// Continues after a previous page.
    with_marker: marker: String,
});

/// One key in a ListKeys page.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyListEntry {
    /// The key id.
    pub key_id: KeyId,
    /// The key ARN.
    pub key_arn: KeyArn,
}

/// A page of keys.
#[derive(Clone, Debug, PartialEq)]
pub struct ListKeysResponse {
    /// The keys, in a stable order.
    pub keys: Vec<KeyListEntry>,
    /// Present when there are more.
    pub next_marker: Option<String>,
    /// True when there are more.
    pub truncated: bool,
}

/// UpdateKeyDescription.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct UpdateKeyDescriptionRequest {
    /// The key (id or ARN).
    pub key_id: KeyRef,
    /// The new description (0..=8192 characters).
    pub description: String,
}

impl UpdateKeyDescriptionRequest {
    /// Sets `key_id`'s description.
    pub fn new(key_id: impl Into<KeyRef>, description: impl Into<String>) -> Self {
        UpdateKeyDescriptionRequest {
            key_id: key_id.into(),
            description: description.into(),
        }
    }
}

/// ScheduleKeyDeletion.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ScheduleKeyDeletionRequest {
    /// The key (id or ARN).
    pub key_id: KeyRef,
    /// Waiting period in days, 7..=30, default 30.
    pub pending_window_in_days: Option<u32>,
}

impl ScheduleKeyDeletionRequest {
    /// Schedules `key_id` for deletion after the default 30 days.
    pub fn new(key_id: impl Into<KeyRef>) -> Self {
        ScheduleKeyDeletionRequest {
            key_id: key_id.into(),
            pending_window_in_days: None,
        }
    }
}

with_methods!(ScheduleKeyDeletionRequest {
    /// Sets the waiting period.
    with_pending_window_in_days: pending_window_in_days: u32,
});

/// ScheduleKeyDeletion's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleKeyDeletionResponse {
    /// The key.
    pub key_id: KeyArn,
    /// When it will be deleted; `None` for a multi-Region primary that waits for its
    /// replicas' deletion (its date is not known yet).
    pub deletion_date: Option<Timestamp>,
    /// `PendingDeletion`, or `PendingReplicaDeletion` for a multi-Region primary that has
    /// replicas.
    pub key_state: KeyState,
    /// The waiting period.
    pub pending_window_in_days: u32,
}

/// CancelKeyDeletion's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct CancelKeyDeletionResponse {
    /// The key, now `Disabled`.
    pub key_id: KeyArn,
}

/// CreateAlias and UpdateAlias.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AliasRequest {
    /// The alias.
    pub alias_name: AliasName,
    /// The key it points to (id or ARN).
    pub target_key_id: KeyRef,
}

impl AliasRequest {
    /// Points `alias_name` at `target_key_id`.
    pub fn new(alias_name: AliasName, target_key_id: impl Into<KeyRef>) -> Self {
        AliasRequest {
            alias_name,
            target_key_id: target_key_id.into(),
        }
    }
}

/// DeleteAlias.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DeleteAliasRequest {
    /// The alias.
    pub alias_name: AliasName,
}

impl DeleteAliasRequest {
    /// Deletes `alias_name`.
    pub fn new(alias_name: AliasName) -> Self {
        DeleteAliasRequest { alias_name }
    }
}

/// ListAliases.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ListAliasesRequest {
    /// Only aliases of this key (id or ARN).
    pub key_id: Option<KeyRef>,
    /// Page size, 1..=100, default 50.
    pub limit: Option<u32>,
    /// `next_marker` of the previous page.
    pub marker: Option<String>,
}

impl ListAliasesRequest {
    /// The first page of all aliases.
    pub fn new() -> Self {
        Self::default()
    }
}

with_methods!(ListAliasesRequest {
    /// Lists only aliases of this key.
    with_key_id: key_id: KeyRef,
    /// Sets the page size.
    with_limit: limit: u32,
    /// Continues after a previous page.
    with_marker: marker: String,
});

/// One alias in a ListAliases page.
#[derive(Clone, Debug, PartialEq)]
pub struct AliasListEntry {
    /// The alias name.
    pub alias_name: AliasName,
    /// The alias ARN.
    pub alias_arn: AliasArn,
    /// The key it points to.
    pub target_key_id: KeyId,
    /// When it was created.
    pub creation_date: Timestamp,
    /// When it was last pointed somewhere.
    pub last_updated_date: Timestamp,
}

/// A page of aliases.
#[derive(Clone, Debug, PartialEq)]
pub struct ListAliasesResponse {
    /// The aliases, in name order.
    pub aliases: Vec<AliasListEntry>,
    /// Present when there are more.
    pub next_marker: Option<String>,
    /// True when there are more.
    pub truncated: bool,
}

/// TagResource.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TagResourceRequest {
    /// The key (id or ARN).
    pub key_id: KeyRef,
    /// Tags to add or overwrite.
    pub tags: Vec<Tag>,
}

impl TagResourceRequest {
    /// Adds `tags` to `key_id`.
    pub fn new(key_id: impl Into<KeyRef>, tags: Vec<Tag>) -> Self {
        TagResourceRequest {
            key_id: key_id.into(),
            tags,
        }
    }
}

/// UntagResource.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct UntagResourceRequest {
    /// The key (id or ARN).
    pub key_id: KeyRef,
    /// Tag keys to remove; absent keys are ignored.
    pub tag_keys: Vec<String>,
}

impl UntagResourceRequest {
    /// Removes `tag_keys` from `key_id`.
    pub fn new(key_id: impl Into<KeyRef>, tag_keys: Vec<String>) -> Self {
        UntagResourceRequest {
            key_id: key_id.into(),
            tag_keys,
        }
    }
}

/// ListResourceTags.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ListResourceTagsRequest {
    /// The key (id or ARN).
    pub key_id: KeyRef,
    /// Page size, 1..=50, default 50.
    pub limit: Option<u32>,
    /// `next_marker` of the previous page.
    pub marker: Option<String>,
}

impl ListResourceTagsRequest {
    /// The first page of `key_id`'s tags.
    pub fn new(key_id: impl Into<KeyRef>) -> Self {
        ListResourceTagsRequest {
            key_id: key_id.into(),
            limit: None,
            marker: None,
        }
    }
}

with_methods!(ListResourceTagsRequest {
    /// Sets the page size.
    with_limit: limit: u32,
    /// Continues after a previous page.
    with_marker: marker: String,
});

/// A page of tags.
#[derive(Clone, Debug, PartialEq)]
pub struct ListResourceTagsResponse {
    /// The tags, in key order.
    pub tags: Vec<Tag>,
    /// Present when there are more.
    pub next_marker: Option<String>,
    /// True when there are more.
    pub truncated: bool,
}

/// Encrypt.
#[non_exhaustive]
pub struct EncryptRequest {
    /// The key (any form).
    pub key_id: KeyRef,
    /// 1..=4096 bytes.
    pub plaintext: Plaintext,
    /// Bound to the ciphertext; Decrypt must present the same.
    pub encryption_context: EncryptionContext,
    /// `SYMMETRIC_DEFAULT` (the default) for symmetric keys.
    pub encryption_algorithm: Option<EncryptionAlgorithm>,
    /// Grant tokens.
    pub grant_tokens: GrantTokens,
    /// Checks whether the call would succeed without doing it: the answer is then
    /// `DryRunOperationException` (or the error the call would have met).
    pub dry_run: bool,
}

impl EncryptRequest {
    /// Encrypts `plaintext` under `key_id` with an empty context.
    pub fn new(key_id: impl Into<KeyRef>, plaintext: Plaintext) -> Self {
        EncryptRequest {
            dry_run: false,
            key_id: key_id.into(),
            plaintext,
            encryption_context: EncryptionContext::empty(),
            encryption_algorithm: None,
            grant_tokens: GrantTokens::none(),
        }
    }
}

with_methods!(EncryptRequest {
    /// Sets the encryption context.
    with_encryption_context: encryption_context: EncryptionContext,
    /// Sets the algorithm.
    with_encryption_algorithm: encryption_algorithm: EncryptionAlgorithm,
    /// Sets the grant tokens.
    with_grant_tokens: grant_tokens: GrantTokens,
});

/// Encrypt's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct EncryptResponse {
    /// The ciphertext blob.
    pub ciphertext_blob: Vec<u8>,
    /// The key that encrypted it.
    pub key_id: KeyArn,
    /// The algorithm used.
    pub encryption_algorithm: EncryptionAlgorithm,
}

/// Decrypt.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DecryptRequest {
    /// The blob Encrypt, GenerateDataKey or ReEncrypt returned.
    pub ciphertext_blob: Vec<u8>,
    /// The context given when it was made.
    pub encryption_context: EncryptionContext,
    /// If given, the blob must be this key's (else `IncorrectKeyException`).
    pub key_id: Option<KeyRef>,
    /// `SYMMETRIC_DEFAULT` (the default) for symmetric keys.
    pub encryption_algorithm: Option<EncryptionAlgorithm>,
    /// Grant tokens.
    pub grant_tokens: GrantTokens,
    /// Checks whether the call would succeed without doing it: the answer is then
    /// `DryRunOperationException` (or the error the call would have met).
    pub dry_run: bool,
}

impl DecryptRequest {
    /// Decrypts `ciphertext_blob` with an empty context.
    pub fn new(ciphertext_blob: Vec<u8>) -> Self {
        DecryptRequest {
            dry_run: false,
            ciphertext_blob,
            encryption_context: EncryptionContext::empty(),
            key_id: None,
            encryption_algorithm: None,
            grant_tokens: GrantTokens::none(),
        }
    }
}

with_methods!(DecryptRequest {
    /// Sets the encryption context.
    with_encryption_context: encryption_context: EncryptionContext,
    /// Requires the blob to be this key's.
    with_key_id: key_id: KeyRef,
    /// Sets the algorithm.
    with_encryption_algorithm: encryption_algorithm: EncryptionAlgorithm,
    /// Sets the grant tokens.
    with_grant_tokens: grant_tokens: GrantTokens,
});

/// Decrypt's answer.
pub struct DecryptResponse {
    /// The key that decrypted it.
    pub key_id: KeyArn,
    /// The plaintext.
    pub plaintext: Plaintext,
    /// The algorithm used.
    pub encryption_algorithm: EncryptionAlgorithm,
}

/// ReEncrypt: decrypt under one key, encrypt under another, without releasing the plaintext.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReEncryptRequest {
    /// The blob to re-encrypt.
    pub ciphertext_blob: Vec<u8>,
    /// The context it was made with.
    pub source_encryption_context: EncryptionContext,
    /// If given, the blob must be this key's.
    pub source_key_id: Option<KeyRef>,
    /// The key to encrypt under (any form).
    pub destination_key_id: KeyRef,
    /// The context to bind to the new blob.
    pub destination_encryption_context: EncryptionContext,
    /// `SYMMETRIC_DEFAULT` (the default).
    pub source_encryption_algorithm: Option<EncryptionAlgorithm>,
    /// `SYMMETRIC_DEFAULT` (the default).
    pub destination_encryption_algorithm: Option<EncryptionAlgorithm>,
    /// Grant tokens.
    pub grant_tokens: GrantTokens,
    /// Checks whether the call would succeed without doing it: the answer is then
    /// `DryRunOperationException` (or the error the call would have met).
    pub dry_run: bool,
}

impl ReEncryptRequest {
    /// Re-encrypts `ciphertext_blob` under `destination_key_id`, empty contexts.
    pub fn new(ciphertext_blob: Vec<u8>, destination_key_id: impl Into<KeyRef>) -> Self {
        ReEncryptRequest {
            dry_run: false,
            ciphertext_blob,
            source_encryption_context: EncryptionContext::empty(),
            source_key_id: None,
            destination_key_id: destination_key_id.into(),
            destination_encryption_context: EncryptionContext::empty(),
            source_encryption_algorithm: None,
            destination_encryption_algorithm: None,
            grant_tokens: GrantTokens::none(),
        }
    }
}

with_methods!(ReEncryptRequest {
    /// Sets the source context.
    with_source_encryption_context: source_encryption_context: EncryptionContext,
    /// Requires the blob to be this key's.
    with_source_key_id: source_key_id: KeyRef,
    /// Sets the destination context.
    with_destination_encryption_context: destination_encryption_context: EncryptionContext,
    /// Sets the source algorithm.
    with_source_encryption_algorithm: source_encryption_algorithm: EncryptionAlgorithm,
    /// Sets the destination algorithm.
    with_destination_encryption_algorithm: destination_encryption_algorithm: EncryptionAlgorithm,
    /// Sets the grant tokens.
    with_grant_tokens: grant_tokens: GrantTokens,
});

/// ReEncrypt's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct ReEncryptResponse {
    /// The new blob.
    pub ciphertext_blob: Vec<u8>,
    /// The key that decrypted the old blob.
    pub source_key_id: KeyArn,
    /// The key that encrypted the new blob.
    pub key_id: KeyArn,
    /// The source algorithm.
    pub source_encryption_algorithm: EncryptionAlgorithm,
    /// The destination algorithm.
    pub destination_encryption_algorithm: EncryptionAlgorithm,
}

/// GenerateDataKey and GenerateDataKeyWithoutPlaintext. Holds no secret, so it may print.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GenerateDataKeyRequest {
    /// The key to encrypt the data key under (any form).
    pub key_id: KeyRef,
    /// How long the data key is.
    pub size: DataKeySize,
    /// Bound to the encrypted data key.
    pub encryption_context: EncryptionContext,
    /// Grant tokens.
    pub grant_tokens: GrantTokens,
    /// Checks whether the call would succeed without doing it: the answer is then
    /// `DryRunOperationException` (or the error the call would have met).
    pub dry_run: bool,
}

impl GenerateDataKeyRequest {
    /// A data key of `size` under `key_id`, empty context.
    pub fn new(key_id: impl Into<KeyRef>, size: impl Into<DataKeySize>) -> Self {
        GenerateDataKeyRequest {
            dry_run: false,
            key_id: key_id.into(),
            size: size.into(),
            encryption_context: EncryptionContext::empty(),
            grant_tokens: GrantTokens::none(),
        }
    }
}

with_methods!(GenerateDataKeyRequest {
    /// Sets the encryption context.
    with_encryption_context: encryption_context: EncryptionContext,
    /// Sets the grant tokens.
    with_grant_tokens: grant_tokens: GrantTokens,
});

/// GenerateDataKey's answer.
pub struct GenerateDataKeyResponse {
    /// The data key encrypted under the CMK (a ciphertext blob Decrypt accepts).
    pub ciphertext_blob: Vec<u8>,
    /// The data key. Use it, then drop it.
    pub plaintext: Plaintext,
    /// The CMK.
    pub key_id: KeyArn,
}

/// GenerateDataKeyWithoutPlaintext's answer: only the encrypted key, so it may print.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateDataKeyWithoutPlaintextResponse {
    /// The data key encrypted under the CMK.
    pub ciphertext_blob: Vec<u8>,
    /// The CMK.
    pub key_id: KeyArn,
}

/// GenerateRandom.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GenerateRandomRequest {
    /// 1..=1024 bytes.
    pub number_of_bytes: NumberOfBytes,
}

impl GenerateRandomRequest {
    /// `number_of_bytes` random bytes.
    pub fn new(number_of_bytes: NumberOfBytes) -> Self {
        GenerateRandomRequest { number_of_bytes }
    }
}

/// GenerateRandom's answer.
pub struct GenerateRandomResponse {
    /// Random bytes from the token's generator.
    pub plaintext: Plaintext,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn data_key_size_takes_exactly_one_of_its_parts() -> Result<(), KmsError> {
        assert_eq!(DataKeySize::from_parts(Some(64), None)?.byte_len(), 64);
        assert_eq!(
            DataKeySize::from_parts(None, Some(DataKeySpec::Aes128))?.byte_len(),
            16
        );
        for (n, spec) in [(Some(32), Some(DataKeySpec::Aes256)), (None, None)] {
            assert_eq!(
                DataKeySize::from_parts(n, spec).unwrap_err().kind(),
                ErrorKind::Validation
            );
        }
        Ok(())
    }

    #[test]
    fn number_of_bytes_range() {
        for bad in [0, 1025, -1, i64::MAX] {
            assert_eq!(
                NumberOfBytes::new(bad).unwrap_err().kind(),
                ErrorKind::Validation
            );
        }
        assert!(NumberOfBytes::new(1).is_ok());
        assert!(NumberOfBytes::new(1024).is_ok());
    }
}

/// EnableKeyRotation.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EnableKeyRotationRequest {
    /// The key (id or ARN).
    pub key_id: KeyRef,
    /// Days between automatic rotations, 90..=2560, default 365.
    pub rotation_period_in_days: Option<u32>,
}

impl EnableKeyRotationRequest {
    /// Enables yearly automatic rotation of `key_id`.
    pub fn new(key_id: impl Into<KeyRef>) -> Self {
        EnableKeyRotationRequest {
            key_id: key_id.into(),
            rotation_period_in_days: None,
        }
    }
}

with_methods!(EnableKeyRotationRequest {
    /// Sets the rotation period.
    with_rotation_period_in_days: rotation_period_in_days: u32,
});

/// GetKeyRotationStatus's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct GetKeyRotationStatusResponse {
    /// Whether automatic rotation is enabled.
    pub key_rotation_enabled: bool,
    /// The key.
    pub key_id: KeyId,
    /// The automatic rotation period, when rotation is enabled.
    pub rotation_period_in_days: Option<u32>,
    /// When the next automatic rotation is due, when rotation is enabled.
    pub next_rotation_date: Option<Timestamp>,
    /// When an on-demand rotation still in progress began. Lockbox rotates synchronously,
    /// so this is always `None`; the field is kept for the wire shape.
    pub on_demand_rotation_start_date: Option<Timestamp>,
}

/// RotateKeyOnDemand's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct RotateKeyOnDemandResponse {
    /// The key's ARN (AWS answers the ARN, whatever form the request named the key in).
    pub key_id: KeyArn,
}

/// ListKeyRotations.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ListKeyRotationsRequest {
    /// The key (id or ARN).
    pub key_id: KeyRef,
    /// `ROTATIONS_ONLY` (the default) or `ALL_KEY_MATERIAL` (adds the first material).
    pub include_key_material: Option<IncludeKeyMaterial>,
    /// Page size, 1..=1000, default 100.
    pub limit: Option<u32>,
    /// `next_marker` of the previous page.
    pub marker: Option<String>,
}

impl ListKeyRotationsRequest {
    /// The first page of `key_id`'s rotations.
    pub fn new(key_id: impl Into<KeyRef>) -> Self {
        ListKeyRotationsRequest {
            key_id: key_id.into(),
            include_key_material: None,
            limit: None,
            marker: None,
        }
    }
}

with_methods!(ListKeyRotationsRequest {
    /// Sets which materials are listed.
    with_include_key_material: include_key_material: IncludeKeyMaterial,
    /// Sets the page size.
    with_limit: limit: u32,
    /// Continues after a previous page.
    with_marker: marker: String,
});

/// One material version in ListKeyRotations.
#[derive(Clone, Debug, PartialEq)]
pub struct RotationsListEntry {
    /// The key.
    pub key_id: KeyId,
    /// 64 hex digits that identify this material version.
    pub key_material_id: String,
    /// Whether new ciphertexts use this version.
    pub key_material_state: KeyMaterialState,
    /// When the rotation that made this version completed (absent for the first material).
    pub rotation_date: Option<Timestamp>,
    /// Why this version was made (absent for the first material).
    pub rotation_type: Option<RotationType>,
    /// Imported material: whether it is in the token now.
    pub import_state: Option<ImportState>,
    /// Imported material: whether it expires.
    pub expiration_model: Option<ExpirationModelType>,
    /// Imported material: when it expires.
    pub valid_to: Option<Timestamp>,
    /// Imported material: the description given when it was imported.
    pub key_material_description: Option<String>,
}

/// ListKeyRotations's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct ListKeyRotationsResponse {
    /// This page, oldest first.
    pub rotations: Vec<RotationsListEntry>,
    /// Pass as `marker` to get the next page.
    pub next_marker: Option<String>,
    /// Whether there is a next page.
    pub truncated: bool,
}

/// Sign: a signature over a message (or its digest) with an asymmetric SIGN_VERIFY key.
#[non_exhaustive]
pub struct SignRequest {
    /// The key (any form).
    pub key_id: KeyRef,
    /// The message, or its digest when `message_type` is DIGEST: 1..=4096 bytes.
    pub message: Plaintext,
    /// RAW (the default) or DIGEST.
    pub message_type: Option<MessageType>,
    /// The algorithm; the key's spec allows some.
    pub signing_algorithm: SigningAlgorithm,
    /// Grant tokens.
    pub grant_tokens: GrantTokens,
    /// Checks whether the call would succeed without doing it: the answer is then
    /// `DryRunOperationException` (or the error the call would have met).
    pub dry_run: bool,
}

impl SignRequest {
    /// Signs the RAW `message` with `signing_algorithm`.
    pub fn new(
        key_id: impl Into<KeyRef>,
        message: Plaintext,
        signing_algorithm: SigningAlgorithm,
    ) -> Self {
        SignRequest {
            dry_run: false,
            key_id: key_id.into(),
            message,
            message_type: None,
            signing_algorithm,
            grant_tokens: GrantTokens::none(),
        }
    }
}

with_methods!(SignRequest {
    /// Sets the message type.
    with_message_type: message_type: MessageType,
    /// Sets the grant tokens.
    with_grant_tokens: grant_tokens: GrantTokens,
});

/// Sign's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct SignResponse {
    /// The key that signed.
    pub key_id: KeyArn,
    /// The signature (DER-encoded for ECDSA, as AWS returns it).
    pub signature: Vec<u8>,
    /// The algorithm used.
    pub signing_algorithm: SigningAlgorithm,
}

/// Verify: checks a signature with an asymmetric SIGN_VERIFY key.
#[non_exhaustive]
pub struct VerifyRequest {
    /// The key (any form).
    pub key_id: KeyRef,
    /// The message, or its digest when `message_type` is DIGEST: 1..=4096 bytes.
    pub message: Plaintext,
    /// RAW (the default) or DIGEST.
    pub message_type: Option<MessageType>,
    /// The signature to check.
    pub signature: Vec<u8>,
    /// The algorithm it was made with.
    pub signing_algorithm: SigningAlgorithm,
    /// Grant tokens.
    pub grant_tokens: GrantTokens,
    /// Checks whether the call would succeed without doing it: the answer is then
    /// `DryRunOperationException` (or the error the call would have met).
    pub dry_run: bool,
}

impl VerifyRequest {
    /// Checks `signature` over the RAW `message`.
    pub fn new(
        key_id: impl Into<KeyRef>,
        message: Plaintext,
        signature: Vec<u8>,
        signing_algorithm: SigningAlgorithm,
    ) -> Self {
        VerifyRequest {
            dry_run: false,
            key_id: key_id.into(),
            message,
            message_type: None,
            signature,
            signing_algorithm,
            grant_tokens: GrantTokens::none(),
        }
    }
}

with_methods!(VerifyRequest {
    /// Sets the message type.
    with_message_type: message_type: MessageType,
    /// Sets the grant tokens.
    with_grant_tokens: grant_tokens: GrantTokens,
});

/// Verify's answer: a signature that does not verify is `KMSInvalidSignatureException`,
/// so `signature_valid` is true in every answer Lockbox gives.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyResponse {
    /// The key that verified.
    pub key_id: KeyArn,
    /// True.
    pub signature_valid: bool,
    /// The algorithm used.
    pub signing_algorithm: SigningAlgorithm,
}

/// GetPublicKey: the public half of an asymmetric key.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GetPublicKeyRequest {
    /// The key (any form).
    pub key_id: KeyRef,
    /// Grant tokens.
    pub grant_tokens: GrantTokens,
}

impl GetPublicKeyRequest {
    /// The public key of `key_id`.
    pub fn new(key_id: impl Into<KeyRef>) -> Self {
        GetPublicKeyRequest {
            key_id: key_id.into(),
            grant_tokens: GrantTokens::none(),
        }
    }
}

with_methods!(GetPublicKeyRequest {
    /// Sets the grant tokens.
    with_grant_tokens: grant_tokens: GrantTokens,
});

/// GetPublicKey's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct GetPublicKeyResponse {
    /// The key.
    pub key_id: KeyArn,
    /// The DER-encoded X.509 SubjectPublicKeyInfo (RFC 5280).
    pub public_key: Vec<u8>,
    /// The key's spec.
    pub key_spec: KeySpec,
    /// The key's usage.
    pub key_usage: KeyUsage,
    /// The encryption algorithms it supports (ENCRYPT_DECRYPT keys).
    pub encryption_algorithms: Vec<EncryptionAlgorithm>,
    /// The signing algorithms it supports (SIGN_VERIFY keys).
    pub signing_algorithms: Vec<SigningAlgorithm>,
    /// The key agreement algorithms it supports (KEY_AGREEMENT keys).
    pub key_agreement_algorithms: Vec<KeyAgreementAlgorithm>,
}

/// GenerateMac: an HMAC of a message with a GENERATE_VERIFY_MAC key.
#[non_exhaustive]
pub struct GenerateMacRequest {
    /// The key (any form).
    pub key_id: KeyRef,
    /// 1..=4096 bytes.
    pub message: Plaintext,
    /// The algorithm; the key's spec allows exactly one.
    pub mac_algorithm: MacAlgorithm,
    /// Grant tokens.
    pub grant_tokens: GrantTokens,
    /// Checks whether the call would succeed without doing it: the answer is then
    /// `DryRunOperationException` (or the error the call would have met).
    pub dry_run: bool,
}

impl GenerateMacRequest {
    /// The MAC of `message` under `key_id`.
    pub fn new(key_id: impl Into<KeyRef>, message: Plaintext, mac_algorithm: MacAlgorithm) -> Self {
        GenerateMacRequest {
            dry_run: false,
            key_id: key_id.into(),
            message,
            mac_algorithm,
            grant_tokens: GrantTokens::none(),
        }
    }
}

with_methods!(GenerateMacRequest {
    /// Sets the grant tokens.
    with_grant_tokens: grant_tokens: GrantTokens,
});

/// GenerateMac's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateMacResponse {
    /// The MAC.
    pub mac: Vec<u8>,
    /// The algorithm used.
    pub mac_algorithm: MacAlgorithm,
    /// The key.
    pub key_id: KeyArn,
}

/// VerifyMac: checks an HMAC with a GENERATE_VERIFY_MAC key.
#[non_exhaustive]
pub struct VerifyMacRequest {
    /// The key (any form).
    pub key_id: KeyRef,
    /// 1..=4096 bytes.
    pub message: Plaintext,
    /// The algorithm it was made with.
    pub mac_algorithm: MacAlgorithm,
    /// The MAC to check.
    pub mac: Vec<u8>,
    /// Grant tokens.
    pub grant_tokens: GrantTokens,
    /// Checks whether the call would succeed without doing it: the answer is then
    /// `DryRunOperationException` (or the error the call would have met).
    pub dry_run: bool,
}

impl VerifyMacRequest {
    /// Checks `mac` over `message`.
    pub fn new(
        key_id: impl Into<KeyRef>,
        message: Plaintext,
        mac_algorithm: MacAlgorithm,
        mac: Vec<u8>,
    ) -> Self {
        VerifyMacRequest {
            dry_run: false,
            key_id: key_id.into(),
            message,
            mac_algorithm,
            mac,
            grant_tokens: GrantTokens::none(),
        }
    }
}

with_methods!(VerifyMacRequest {
    /// Sets the grant tokens.
    with_grant_tokens: grant_tokens: GrantTokens,
});

/// VerifyMac's answer: a MAC that does not verify is `KMSInvalidMacException`, so
/// `mac_valid` is true in every answer Lockbox gives.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyMacResponse {
    /// The key.
    pub key_id: KeyArn,
    /// True.
    pub mac_valid: bool,
    /// The algorithm used.
    pub mac_algorithm: MacAlgorithm,
}

/// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext: a fresh asymmetric key pair,
/// its private key encrypted under a symmetric key.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GenerateDataKeyPairRequest {
    /// The symmetric key that encrypts the private key (any form).
    pub key_id: KeyRef,
    /// The kind of pair.
    pub key_pair_spec: DataKeyPairSpec,
    /// Bound to the private key's ciphertext; Decrypt must present the same.
    pub encryption_context: EncryptionContext,
    /// Grant tokens.
    pub grant_tokens: GrantTokens,
    /// Checks whether the call would succeed without doing it: the answer is then
    /// `DryRunOperationException` (or the error the call would have met).
    pub dry_run: bool,
}

impl GenerateDataKeyPairRequest {
    /// A pair of `key_pair_spec` under `key_id`, with an empty context.
    pub fn new(key_id: impl Into<KeyRef>, key_pair_spec: DataKeyPairSpec) -> Self {
        GenerateDataKeyPairRequest {
            dry_run: false,
            key_id: key_id.into(),
            key_pair_spec,
            encryption_context: EncryptionContext::empty(),
            grant_tokens: GrantTokens::none(),
        }
    }
}

with_methods!(GenerateDataKeyPairRequest {
    /// Sets the encryption context.
    with_encryption_context: encryption_context: EncryptionContext,
    /// Sets the grant tokens.
    with_grant_tokens: grant_tokens: GrantTokens,
});

/// GenerateDataKeyPair's answer.
pub struct GenerateDataKeyPairResponse {
    /// The private key (PKCS#8 DER) encrypted under the key: a blob Decrypt opens.
    pub private_key_ciphertext_blob: Vec<u8>,
    /// The private key, PKCS#8 DER.
    pub private_key_plaintext: Plaintext,
    /// The public key, X.509 SubjectPublicKeyInfo DER.
    pub public_key: Vec<u8>,
    /// The key that encrypted the private key.
    pub key_id: KeyArn,
    /// The kind of pair.
    pub key_pair_spec: DataKeyPairSpec,
}

/// GenerateDataKeyPairWithoutPlaintext's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateDataKeyPairWithoutPlaintextResponse {
    /// The private key (PKCS#8 DER) encrypted under the key: a blob Decrypt opens.
    pub private_key_ciphertext_blob: Vec<u8>,
    /// The public key, X.509 SubjectPublicKeyInfo DER.
    pub public_key: Vec<u8>,
    /// The key that encrypted the private key.
    pub key_id: KeyArn,
    /// The kind of pair.
    pub key_pair_spec: DataKeyPairSpec,
}

/// DeriveSharedSecret: ECDH between a KEY_AGREEMENT key and a peer's public key.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DeriveSharedSecretRequest {
    /// The key (any form).
    pub key_id: KeyRef,
    /// ECDH.
    pub key_agreement_algorithm: KeyAgreementAlgorithm,
    /// The peer's public key, X.509 SubjectPublicKeyInfo DER, on the key's curve.
    pub public_key: Vec<u8>,
    /// Grant tokens.
    pub grant_tokens: GrantTokens,
    /// Checks whether the call would succeed without doing it: the answer is then
    /// `DryRunOperationException` (or the error the call would have met).
    pub dry_run: bool,
}

impl DeriveSharedSecretRequest {
    /// The ECDH secret of `key_id` and the peer `public_key`.
    pub fn new(key_id: impl Into<KeyRef>, public_key: Vec<u8>) -> Self {
        DeriveSharedSecretRequest {
            dry_run: false,
            key_id: key_id.into(),
            key_agreement_algorithm: KeyAgreementAlgorithm::Ecdh,
            public_key,
            grant_tokens: GrantTokens::none(),
        }
    }
}

with_methods!(DeriveSharedSecretRequest {
    /// Sets the grant tokens.
    with_grant_tokens: grant_tokens: GrantTokens,
});

/// DeriveSharedSecret's answer.
pub struct DeriveSharedSecretResponse {
    /// The key.
    pub key_id: KeyArn,
    /// The raw shared secret (the x-coordinate of the shared point, as AWS returns it).
    pub shared_secret: Plaintext,
    /// ECDH.
    pub key_agreement_algorithm: KeyAgreementAlgorithm,
    /// The key's origin.
    pub key_origin: Origin,
}

/// The longest key material description (`KeyMaterialDescriptionType`).
pub const MAX_KEY_MATERIAL_DESCRIPTION_LEN: usize = 256;

/// The pattern of a KeyMaterialDescription (the model's `KeyMaterialDescriptionType`), as
/// AWS's validation message prints it.
pub const KEY_MATERIAL_DESCRIPTION_PATTERN: &str = "^[a-zA-Z0-9:/_\\s.-]+$";

/// Whether `s` matches [`KEY_MATERIAL_DESCRIPTION_PATTERN`]: at least one character, each an
/// ASCII letter or digit, `:`, `/`, `_`, `.`, `-` or white space (Java's `\s`: space, tab,
/// line feed, vertical tab, form feed, carriage return).
pub fn is_key_material_description(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, ':' | '/' | '_' | '.' | '-')
                || matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
        })
}
/// How long the parameters GetParametersForImport returns stay valid, in hours.
pub const IMPORT_PARAMETERS_VALID_HOURS: u32 = 24;

/// GetParametersForImport: a wrapping public key and an import token for an EXTERNAL key.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GetParametersForImportRequest {
    /// The key (id or ARN).
    pub key_id: KeyRef,
    /// How the material will be wrapped.
    pub wrapping_algorithm: AlgorithmSpec,
    /// The wrapping key pair's spec.
    pub wrapping_key_spec: WrappingKeySpec,
}

impl GetParametersForImportRequest {
    /// A request for `key_id`.
    pub fn new(
        key_id: impl Into<KeyRef>,
        wrapping_algorithm: AlgorithmSpec,
        wrapping_key_spec: WrappingKeySpec,
    ) -> Self {
        GetParametersForImportRequest {
            key_id: key_id.into(),
            wrapping_algorithm,
            wrapping_key_spec,
        }
    }
}

/// GetParametersForImport's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct GetParametersForImportResponse {
    /// The key's ARN.
    pub key_id: KeyArn,
    /// The opaque token ImportKeyMaterial must be given with the wrapped material.
    pub import_token: Vec<u8>,
    /// The wrapping public key (DER SubjectPublicKeyInfo). Public: it may print.
    pub public_key: Vec<u8>,
    /// When the import token and the wrapping key expire.
    pub parameters_valid_to: Timestamp,
}

/// ImportKeyMaterial: wrapped material for an EXTERNAL key.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ImportKeyMaterialRequest {
    /// The key (id or ARN).
    pub key_id: KeyRef,
    /// From GetParametersForImport.
    pub import_token: Vec<u8>,
    /// The material, wrapped with the wrapping public key.
    pub encrypted_key_material: Vec<u8>,
    /// When the material expires (`KEY_MATERIAL_EXPIRES` only).
    pub valid_to: Option<Timestamp>,
    /// Default `KEY_MATERIAL_EXPIRES`.
    pub expiration_model: Option<ExpirationModelType>,
    /// New material (for a rotation) or material the key had before.
    pub import_type: Option<ImportType>,
    /// A description of this material.
    pub key_material_description: Option<String>,
    /// The material id, when re-importing material the key had.
    pub key_material_id: Option<String>,
}

impl ImportKeyMaterialRequest {
    /// A request with the required members.
    pub fn new(
        key_id: impl Into<KeyRef>,
        import_token: Vec<u8>,
        encrypted_key_material: Vec<u8>,
    ) -> Self {
        ImportKeyMaterialRequest {
            key_id: key_id.into(),
            import_token,
            encrypted_key_material,
            valid_to: None,
            expiration_model: None,
            import_type: None,
            key_material_description: None,
            key_material_id: None,
        }
    }
}

with_methods!(ImportKeyMaterialRequest {
    /// Sets when the material expires.
    with_valid_to: valid_to: Timestamp,
    /// Sets the expiration model.
    with_expiration_model: expiration_model: ExpirationModelType,
    /// Sets the import type.
    with_import_type: import_type: ImportType,
    /// Sets the material description.
    with_key_material_description: key_material_description: String,
    /// Names the material being re-imported.
    with_key_material_id: key_material_id: String,
});

/// ImportKeyMaterial's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportKeyMaterialResponse {
    /// The key's ARN.
    pub key_id: KeyArn,
    /// The imported material's id.
    pub key_material_id: String,
}

/// DeleteImportedKeyMaterial.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DeleteImportedKeyMaterialRequest {
    /// The key (id or ARN).
    pub key_id: KeyRef,
    /// Which material; default the current one.
    pub key_material_id: Option<String>,
}

impl DeleteImportedKeyMaterialRequest {
    /// A request for `key_id`'s current material.
    pub fn new(key_id: impl Into<KeyRef>) -> Self {
        DeleteImportedKeyMaterialRequest {
            key_id: key_id.into(),
            key_material_id: None,
        }
    }
}

with_methods!(DeleteImportedKeyMaterialRequest {
    /// Names the material to delete.
    with_key_material_id: key_material_id: String,
});

/// DeleteImportedKeyMaterial's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct DeleteImportedKeyMaterialResponse {
    /// The key's ARN.
    pub key_id: KeyArn,
    /// The deleted material's id.
    pub key_material_id: String,
}

/// ReplicateKey: a replica of a multi-Region primary key in another Region.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReplicateKeyRequest {
    /// The primary key (id or ARN).
    pub key_id: KeyRef,
    /// The Region of the new replica.
    pub replica_region: String,
    /// The replica's key policy; default: the account's root may do everything.
    pub policy: Option<String>,
    /// Skips the policy lockout safety check. Dangerous.
    pub bypass_policy_lockout_safety_check: bool,
    /// The replica's description; default the primary's.
    pub description: Option<String>,
    /// The replica's tags.
    pub tags: Vec<Tag>,
}

impl ReplicateKeyRequest {
    /// A request to replicate `key_id` into `replica_region`.
    pub fn new(key_id: impl Into<KeyRef>, replica_region: &str) -> Self {
        ReplicateKeyRequest {
            key_id: key_id.into(),
            replica_region: replica_region.to_owned(),
            policy: None,
            bypass_policy_lockout_safety_check: false,
            description: None,
            tags: Vec::new(),
        }
    }
}

with_methods!(ReplicateKeyRequest {
    /// Sets the replica's key policy.
    with_policy: policy: String,
    /// Skips the policy lockout safety check.
    with_bypass_policy_lockout_safety_check: bypass_policy_lockout_safety_check: bool,
    /// Sets the replica's description.
    with_description: description: String,
    /// Sets the replica's tags.
    with_tags: tags: Vec<Tag>,
});

/// ReplicateKey's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicateKeyResponse {
    /// The new replica.
    pub replica_key_metadata: KeyMetadata,
    /// The replica's key policy document.
    pub replica_policy: String,
    /// The replica's tags.
    pub replica_tags: Vec<Tag>,
}

/// UpdatePrimaryRegion: makes the replica in `primary_region` the primary.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct UpdatePrimaryRegionRequest {
    /// The current primary key (id or ARN).
    pub key_id: KeyRef,
    /// The Region of the replica that becomes the primary.
    pub primary_region: String,
}

impl UpdatePrimaryRegionRequest {
    /// A request to move `key_id`'s primary to `primary_region`.
    pub fn new(key_id: impl Into<KeyRef>, primary_region: &str) -> Self {
        UpdatePrimaryRegionRequest {
            key_id: key_id.into(),
            primary_region: primary_region.to_owned(),
        }
    }
}

impl EncryptRequest {
    /// Asks only whether the call would succeed (`DryRun`).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

impl DecryptRequest {
    /// Asks only whether the call would succeed (`DryRun`).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

impl ReEncryptRequest {
    /// Asks only whether the call would succeed (`DryRun`).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

impl GenerateDataKeyRequest {
    /// Asks only whether the call would succeed (`DryRun`).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

impl SignRequest {
    /// Asks only whether the call would succeed (`DryRun`).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

impl VerifyRequest {
    /// Asks only whether the call would succeed (`DryRun`).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

impl GenerateMacRequest {
    /// Asks only whether the call would succeed (`DryRun`).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

impl VerifyMacRequest {
    /// Asks only whether the call would succeed (`DryRun`).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

impl GenerateDataKeyPairRequest {
    /// Asks only whether the call would succeed (`DryRun`).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

impl DeriveSharedSecretRequest {
    /// Asks only whether the call would succeed (`DryRun`).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}
