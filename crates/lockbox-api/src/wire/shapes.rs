//! Every operation's request and response shape, each member written once.
//!
//! [`input`] holds the request shapes (the server reads them, the client writes them),
//! [`output`] the response shapes (the server writes them, the client reads them); each is
//! named after its operation, so the operation table finds them by name. Members are read in
//! the order listed, which is the order AWS checks them in where that shows (the first
//! broken member is the one named).

use super::codec::*;
use super::json::validation;
use crate::*;

/// The largest page size the model allows (`LimitType`).
const LIMIT_MAX: u32 = 1000;
/// A paging marker (`MarkerType`).
type Marker = BoundedStr<1, 1024>;
/// A grant id (`GrantIdType`).
type GrantId = BoundedStr<1, 128>;
/// A key policy document (`PolicyType`: the model's 1..=131072; the engine holds it to
/// AWS's 32 KiB quota).
type PolicyDocument = BoundedStr<1, 131072>;
/// A key's description (`DescriptionType`).
type Description = BoundedStr<0, 8192>;
/// A page size.
type Limit = U32<1, LIMIT_MAX>;
/// A count in a response (no model bound but its type's).
type Count = U32<0, { u32::MAX }>;
/// A Region name (`RegionType`).
type RegionName = PatternStr<1, 32, RegionPattern>;
/// A key material id (`BackingKeyIdType`: 64 hex digits).
type MaterialId = BoundedStr<64, 64>;
/// A data key or random bytes in a response.
type DataKeyPlaintext = Secret<{ MAX_NUMBER_OF_BYTES as usize }>;

const NO_RECIPIENT: &str =
    "Lockbox has no Nitro Enclaves attestation; plaintext is returned to the caller";
const NO_SERVICE_PRINCIPALS: &str =
    "Lockbox has no AWS service principals; name an IAM principal ARN";

/// Shapes nested in requests and responses.
pub(crate) mod common {
    use super::*;

    shape! {
        /// A tag.
        Tags: Tag {
            key: "TagKey" as Str => req, get |t| t.key().to_owned();
            value: "TagValue" as Str => req, get |t| t.value().to_owned();
        } => Tag::new(key, value)?

        /// A grant's constraints, as a grant list shows them.
        Constraints: GrantConstraints {
            encryption_context_subset: "EncryptionContextSubset" as Context => opt;
            encryption_context_equals: "EncryptionContextEquals" as Context => opt;
        }

        /// A grant's constraints, as CreateGrant takes them (`SourceArn` refused).
        ConstraintsInput: GrantConstraints {
            _: "SourceArn" as Refused =>
                refuse("Lockbox grants constrain only the encryption context");
            constraints: .. as Constraints => flatten;
        } => constraints

        /// `KeyMetadata`, shaped as botocore's model shapes it.
        Metadata: KeyMetadata {
            aws_account_id: "AWSAccountId" as Str => req;
            key_id: "KeyId" as KeyIds => req;
            arn: "Arn" as KeyArns => req;
            creation_date: "CreationDate" as Time => req;
            key_state: "KeyState" as Text<KeyState> => req;
            enabled: "Enabled" as Bool => or(key_state == KeyState::Enabled);
            description: "Description" as Str => or(String::new());
            key_usage: "KeyUsage" as Text<KeyUsage> => req;
            deletion_date: "DeletionDate" as Time => opt;
            origin: "Origin" as Text<Origin> => req;
            key_manager: "KeyManager" as Text<KeyManager> => or(KeyManager::Customer);
            key_spec: ("KeySpec", "CustomerMasterKeySpec") as MetadataKeySpec => req;
            encryption_algorithms: "EncryptionAlgorithms" as TextList<EncryptionAlgorithm>
                => sparse;
            signing_algorithms: "SigningAlgorithms" as TextList<SigningAlgorithm> => sparse;
            mac_algorithms: "MacAlgorithms" as TextList<MacAlgorithm> => sparse;
            key_agreement_algorithms: "KeyAgreementAlgorithms"
                as TextList<KeyAgreementAlgorithm> => sparse;
            multi_region: "MultiRegion" as Bool => or(false);
            multi_region_configuration: "MultiRegionConfiguration"
                as Nested<MultiRegionConfig> => opt;
            pending_deletion_window_in_days: "PendingDeletionWindowInDays" as Count => opt;
            valid_to: "ValidTo" as Time => opt;
            expiration_model: "ExpirationModel" as Text<ExpirationModelType> => opt;
            current_key_material_id: "CurrentKeyMaterialId" as Str => opt;
        }

        /// A multi-Region key's family.
        MultiRegionConfig: MultiRegionConfiguration {
            multi_region_key_type: "MultiRegionKeyType" as Text<MultiRegionKeyType> => req;
            primary_key: "PrimaryKey" as Nested<RegionKey> => req;
            replica_keys: "ReplicaKeys" as List<RegionKey> => or(Vec::new());
        }

        /// One member of a multi-Region key family.
        RegionKey: MultiRegionKey {
            arn: "Arn" as KeyArns => req;
            region: "Region" as Str => req;
        }

        /// An entry of ListKeys.
        KeyEntry: KeyListEntry {
            key_id: "KeyId" as KeyIds => req;
            key_arn: "KeyArn" as KeyArns => req;
        }

        /// An entry of ListAliases.
        AliasEntry: AliasListEntry {
            alias_name: "AliasName" as AliasNames => req;
            alias_arn: "AliasArn" as AliasArns => req;
            creation_date: "CreationDate" as Time => req;
            target_key_id: "TargetKeyId" as KeyIds => req;
            last_updated_date: "LastUpdatedDate" as Time => or(creation_date);
        }

        /// An entry of ListKeyRotations.
        RotationEntry: RotationsListEntry {
            key_id: "KeyId" as KeyIds => req;
            key_material_id: "KeyMaterialId" as Str => req;
            key_material_state: "KeyMaterialState" as Text<KeyMaterialState> => req;
            rotation_date: "RotationDate" as Time => opt;
            rotation_type: "RotationType" as Text<RotationType> => opt;
            import_state: "ImportState" as Text<ImportState> => opt;
            expiration_model: "ExpirationModel" as Text<ExpirationModelType> => opt;
            valid_to: "ValidTo" as Time => opt;
            key_material_description: "KeyMaterialDescription" as Str => opt;
        }

        /// An entry of ListGrants and ListRetirableGrants.
        GrantEntry: GrantListEntry {
            constraints: "Constraints" as Nested<Constraints> => opt;
            operations: "Operations" as TextList<GrantOperation> => or(Vec::new());
            key_id: "KeyId" as KeyArns => req;
            grant_id: "GrantId" as Str => req;
            name: "Name" as Str => opt;
            creation_date: "CreationDate" as Time => req;
            grantee_principal: "GranteePrincipal" as Str => req;
            retiring_principal: "RetiringPrincipal" as Str => opt;
            issuing_account: "IssuingAccount" as Str => req;
        }

        /// The members GenerateDataKey and GenerateDataKeyWithoutPlaintext share.
        DataKey: GenerateDataKeyRequest {
            key_id: "KeyId" as KeyRefs => req;
            encryption_context: "EncryptionContext" as Context => sparse;
            size: ("NumberOfBytes", "KeySpec") as DataKeySizes => req;
            grant_tokens: "GrantTokens" as Tokens => sparse;
            dry_run: "DryRun" as Bool => sparse;
        }

        /// CreateAlias and UpdateAlias.
        Alias: AliasRequest {
            alias_name: "AliasName" as AliasNames => req;
            target_key_id: "TargetKeyId" as KeyRefs => req;
        }

        /// ListGrants's and ListRetirableGrants's answer.
        Grants: ListGrantsResponse {
            grants: "Grants" as List<GrantEntry> => or(Vec::new());
            next_marker: "NextMarker" as Str => opt;
            truncated: "Truncated" as Bool => or(false);
        }
    }
}

/// The request shapes, one per operation (named after it).
pub(crate) mod input {
    use super::common::*;
    use super::*;

    shape! {
        /// CreateKey.
        CreateKey: CreateKeyRequest {
            policy: "Policy" as PolicyDocument => opt;
            description: "Description" as Description => sparse;
            key_usage: "KeyUsage" as Text<KeyUsage> => opt;
            key_spec: ("CustomerMasterKeySpec", "KeySpec") as RequestKeySpec => opt;
            origin: "Origin" as Text<Origin> => opt;
            _: "CustomKeyStoreId" as Refused =>
                refuse("Lockbox has no custom key stores; its keys live in its own token");
            _: "XksKeyId" as Refused => refuse("Lockbox has no external key stores");
            multi_region: "MultiRegion" as Bool => sparse;
            bypass_policy_lockout_safety_check: "BypassPolicyLockoutSafetyCheck" as Bool
                => sparse;
            tags: "Tags" as List<Tags> => sparse;
        }

        /// DescribeKey.
        DescribeKey: DescribeKeyRequest {
            key_id: "KeyId" as KeyRefs => req;
            grant_tokens: "GrantTokens" as Tokens => sparse;
        }

        /// ListKeys.
        ListKeys: ListKeysRequest {
            limit: "Limit" as Limit => opt;
            marker: "Marker" as Marker => opt;
            _: "ResourceOwners" as ResourceOwners => check;
        }

        /// UpdateKeyDescription.
        UpdateKeyDescription: UpdateKeyDescriptionRequest {
            key_id: "KeyId" as KeyRefs => req;
            description: "Description" as Description => req;
        }

        /// EnableKey.
        EnableKey: EnableKeyRequest {
            key_id: "KeyId" as KeyRefs => req;
        }

        /// DisableKey.
        DisableKey: DisableKeyRequest {
            key_id: "KeyId" as KeyRefs => req;
        }

        /// ScheduleKeyDeletion.
        ScheduleKeyDeletion: ScheduleKeyDeletionRequest {
            key_id: "KeyId" as KeyRefs => req;
            pending_window_in_days: "PendingWindowInDays" as U32<1, 365> => opt;
        }

        /// CancelKeyDeletion.
        CancelKeyDeletion: CancelKeyDeletionRequest {
            key_id: "KeyId" as KeyRefs => req;
        }

        /// DeleteAlias.
        DeleteAlias: DeleteAliasRequest {
            alias_name: "AliasName" as AliasNames => req;
        }

        /// ListAliases.
        ListAliases: ListAliasesRequest {
            key_id: "KeyId" as KeyRefs => opt;
            limit: "Limit" as Limit => opt;
            marker: "Marker" as Marker => opt;
        }

        /// TagResource.
        TagResource: TagResourceRequest {
            key_id: "KeyId" as KeyRefs => req;
            tags: "Tags" as List<Tags> => req;
        }

        /// UntagResource.
        UntagResource: UntagResourceRequest {
            key_id: "KeyId" as KeyRefs => req;
            tag_keys: "TagKeys" as StrList => req;
        }

        /// ListResourceTags.
        ListResourceTags: ListResourceTagsRequest {
            key_id: "KeyId" as KeyRefs => req;
            limit: "Limit" as Limit => opt;
            marker: "Marker" as Marker => opt;
        }

        /// Encrypt.
        Encrypt: EncryptRequest {
            key_id: "KeyId" as KeyRefs => req;
            plaintext: "Plaintext" as Secret<MAX_PLAINTEXT_LEN> => req;
            encryption_context: "EncryptionContext" as Context => sparse;
            grant_tokens: "GrantTokens" as Tokens => sparse;
            encryption_algorithm: "EncryptionAlgorithm" as Text<EncryptionAlgorithm> => opt;
            dry_run: "DryRun" as Bool => sparse;
        }

        /// Decrypt.
        Decrypt: DecryptRequest {
            ciphertext_blob: "CiphertextBlob" as Blob<MAX_CIPHERTEXT_LEN> => req;
            encryption_context: "EncryptionContext" as Context => sparse;
            grant_tokens: "GrantTokens" as Tokens => sparse;
            key_id: "KeyId" as KeyRefs => opt;
            encryption_algorithm: "EncryptionAlgorithm" as Text<EncryptionAlgorithm> => opt;
            _: "Recipient" as Refused => refuse(NO_RECIPIENT);
            dry_run: "DryRun" as Bool => sparse;
        }

        /// ReEncrypt.
        ReEncrypt: ReEncryptRequest {
            ciphertext_blob: "CiphertextBlob" as Blob<MAX_CIPHERTEXT_LEN> => req;
            source_encryption_context: "SourceEncryptionContext" as Context => sparse;
            source_key_id: "SourceKeyId" as KeyRefs => opt;
            destination_key_id: "DestinationKeyId" as KeyRefs => req;
            destination_encryption_context: "DestinationEncryptionContext" as Context
                => sparse;
            grant_tokens: "GrantTokens" as Tokens => sparse;
            source_encryption_algorithm: "SourceEncryptionAlgorithm"
                as Text<EncryptionAlgorithm> => opt;
            destination_encryption_algorithm: "DestinationEncryptionAlgorithm"
                as Text<EncryptionAlgorithm> => opt;
            dry_run: "DryRun" as Bool => sparse;
        }

        /// GenerateDataKey.
        GenerateDataKey: GenerateDataKeyRequest {
            request: .. as DataKey => flatten;
            _: "Recipient" as Refused => refuse(NO_RECIPIENT);
        } => request

        /// GenerateDataKeyWithoutPlaintext.
        GenerateDataKeyWithoutPlaintext: GenerateDataKeyRequest {
            request: .. as DataKey => flatten;
        } => request

        /// GenerateRandom.
        /// NumberOfBytes is optional in the model, but AWS refuses its absence in words of
        /// its own (not the model's "Member must not be null").
        GenerateRandom: GenerateRandomRequest {
            number_of_bytes: "NumberOfBytes" as Bytes => opt, get |r| Some(r.number_of_bytes);
            _: "CustomKeyStoreId" as Refused => refuse(
                "Lockbox has no custom key stores; random bytes come from its token"
            );
            _: "Recipient" as Refused => refuse(NO_RECIPIENT);
        } => GenerateRandomRequest::new(
            number_of_bytes.ok_or_else(|| validation("NumberOfBytes is required."))?,
        )

        /// Sign.
        Sign: SignRequest {
            key_id: "KeyId" as KeyRefs => req;
            message: "Message" as Secret<MAX_MESSAGE_LEN> => req;
            message_type: "MessageType" as Text<MessageType> => opt;
            grant_tokens: "GrantTokens" as Tokens => sparse;
            signing_algorithm: "SigningAlgorithm" as Text<SigningAlgorithm> => req;
            dry_run: "DryRun" as Bool => sparse;
        }

        /// Verify.
        Verify: VerifyRequest {
            key_id: "KeyId" as KeyRefs => req;
            message: "Message" as Secret<MAX_MESSAGE_LEN> => req;
            message_type: "MessageType" as Text<MessageType> => opt;
            signature: "Signature" as Blob<MAX_CIPHERTEXT_LEN> => req;
            signing_algorithm: "SigningAlgorithm" as Text<SigningAlgorithm> => req;
            grant_tokens: "GrantTokens" as Tokens => sparse;
            dry_run: "DryRun" as Bool => sparse;
        }

        /// GetPublicKey.
        GetPublicKey: GetPublicKeyRequest {
            key_id: "KeyId" as KeyRefs => req;
            grant_tokens: "GrantTokens" as Tokens => sparse;
        }

        /// GenerateMac.
        GenerateMac: GenerateMacRequest {
            message: "Message" as Secret<MAX_MESSAGE_LEN> => req;
            key_id: "KeyId" as KeyRefs => req;
            mac_algorithm: "MacAlgorithm" as Text<MacAlgorithm> => req;
            grant_tokens: "GrantTokens" as Tokens => sparse;
            dry_run: "DryRun" as Bool => sparse;
        }

        /// VerifyMac.
        VerifyMac: VerifyMacRequest {
            message: "Message" as Secret<MAX_MESSAGE_LEN> => req;
            key_id: "KeyId" as KeyRefs => req;
            mac_algorithm: "MacAlgorithm" as Text<MacAlgorithm> => req;
            mac: "Mac" as Blob<MAX_CIPHERTEXT_LEN> => req;
            grant_tokens: "GrantTokens" as Tokens => sparse;
            dry_run: "DryRun" as Bool => sparse;
        }

        /// GenerateDataKeyPair.
        GenerateDataKeyPair: GenerateDataKeyPairRequest {
            encryption_context: "EncryptionContext" as Context => sparse;
            key_id: "KeyId" as KeyRefs => req;
            key_pair_spec: "KeyPairSpec" as Text<DataKeyPairSpec> => req;
            grant_tokens: "GrantTokens" as Tokens => sparse;
            _: "Recipient" as Refused => refuse(NO_RECIPIENT);
            dry_run: "DryRun" as Bool => sparse;
        }

        /// GenerateDataKeyPairWithoutPlaintext.
        GenerateDataKeyPairWithoutPlaintext: GenerateDataKeyPairRequest {
            encryption_context: "EncryptionContext" as Context => sparse;
            key_id: "KeyId" as KeyRefs => req;
            key_pair_spec: "KeyPairSpec" as Text<DataKeyPairSpec> => req;
            grant_tokens: "GrantTokens" as Tokens => sparse;
            dry_run: "DryRun" as Bool => sparse;
        }

        /// DeriveSharedSecret.
        DeriveSharedSecret: DeriveSharedSecretRequest {
            key_id: "KeyId" as KeyRefs => req;
            key_agreement_algorithm: "KeyAgreementAlgorithm" as Text<KeyAgreementAlgorithm>
                => req;
            public_key: "PublicKey" as Blob<MAX_PUBLIC_KEY_LEN> => req;
            grant_tokens: "GrantTokens" as Tokens => sparse;
            dry_run: "DryRun" as Bool => sparse;
            _: "Recipient" as Refused => refuse(NO_RECIPIENT);
        }

        /// EnableKeyRotation.
        EnableKeyRotation: EnableKeyRotationRequest {
            key_id: "KeyId" as KeyRefs => req;
            rotation_period_in_days: "RotationPeriodInDays"
                as U32<MIN_ROTATION_PERIOD_DAYS, MAX_ROTATION_PERIOD_DAYS> => opt;
        }

        /// DisableKeyRotation.
        DisableKeyRotation: DisableKeyRotationRequest {
            key_id: "KeyId" as KeyRefs => req;
        }

        /// GetKeyRotationStatus.
        GetKeyRotationStatus: GetKeyRotationStatusRequest {
            key_id: "KeyId" as KeyRefs => req;
        }

        /// RotateKeyOnDemand.
        RotateKeyOnDemand: RotateKeyOnDemandRequest {
            key_id: "KeyId" as KeyRefs => req;
        }

        /// ListKeyRotations.
        ListKeyRotations: ListKeyRotationsRequest {
            key_id: "KeyId" as KeyRefs => req;
            include_key_material: "IncludeKeyMaterial" as Text<IncludeKeyMaterial> => opt;
            limit: "Limit" as Limit => opt;
            marker: "Marker" as Marker => opt;
        }

        /// PutKeyPolicy (the policy name can only be `default`; it is always sent).
        PutKeyPolicy: PutKeyPolicyRequest {
            key_id: "KeyId" as KeyRefs => req;
            policy_name: "PolicyName" as Str => opt,
                get |_r| Some(DEFAULT_POLICY_NAME.to_owned());
            policy: "Policy" as PolicyDocument => req;
            bypass_policy_lockout_safety_check: "BypassPolicyLockoutSafetyCheck" as Bool
                => sparse;
        } => PutKeyPolicyRequest::new(key_id, policy, policy_name.as_deref())?
            .with_bypass_policy_lockout_safety_check(bypass_policy_lockout_safety_check)

        /// GetKeyPolicy.
        GetKeyPolicy: GetKeyPolicyRequest {
            key_id: "KeyId" as KeyRefs => req;
            policy_name: "PolicyName" as Str => opt,
                get |_r| Some(DEFAULT_POLICY_NAME.to_owned());
        } => GetKeyPolicyRequest::new(key_id, policy_name.as_deref())?

        /// ListKeyPolicies.
        ListKeyPolicies: ListKeyPoliciesRequest {
            key_id: "KeyId" as KeyRefs => req;
            limit: "Limit" as Limit => opt;
            marker: "Marker" as Marker => opt;
        }

        /// CreateGrant.
        CreateGrant: CreateGrantRequest {
            key_id: "KeyId" as KeyRefs => req;
            _: "GranteeServicePrincipal" as Refused => refuse(NO_SERVICE_PRINCIPALS);
            _: "RetiringServicePrincipal" as Refused => refuse(NO_SERVICE_PRINCIPALS);
            grantee_principal: "GranteePrincipal" as Principals => req;
            retiring_principal: "RetiringPrincipal" as Principals => opt;
            operations: "Operations" as TextList<GrantOperation> => req;
            grant_tokens: "GrantTokens" as Tokens => sparse;
            constraints: "Constraints" as Nested<ConstraintsInput> => opt;
            name: "Name" as GrantNames => opt;
            dry_run: "DryRun" as Bool => sparse;
        }

        /// ListGrants.
        ListGrants: ListGrantsRequest {
            limit: "Limit" as Limit => opt;
            marker: "Marker" as Marker => opt;
            key_id: "KeyId" as KeyRefs => req;
            grant_id: "GrantId" as GrantId => opt;
            grantee_principal: "GranteePrincipal" as Principals => opt;
            _: "GranteeServicePrincipal" as Refused => refuse(NO_SERVICE_PRINCIPALS);
        }

        /// ListRetirableGrants.
        ListRetirableGrants: ListRetirableGrantsRequest {
            limit: "Limit" as Limit => opt;
            marker: "Marker" as Marker => opt;
            retiring_principal: "RetiringPrincipal" as Principals => req;
            _: "RetiringServicePrincipal" as Refused => refuse(NO_SERVICE_PRINCIPALS);
        }

        /// RetireGrant: by grant token, or by key and grant id.
        RetireGrant: RetireGrantRequest {
            grant_token: "GrantToken" as Str => opt, get |r| match &r.target {
                RetireGrantTarget::Token(t) => Some(t.clone()),
                RetireGrantTarget::Id { .. } => None,
            };
            key_id: "KeyId" as KeyRefs => opt, get |r| match &r.target {
                RetireGrantTarget::Id { key_id, .. } => Some(key_id.clone()),
                RetireGrantTarget::Token(_) => None,
            };
            grant_id: "GrantId" as GrantId => opt, get |r| match &r.target {
                RetireGrantTarget::Id { grant_id, .. } => Some(grant_id.clone()),
                RetireGrantTarget::Token(_) => None,
            };
            dry_run: "DryRun" as Bool => sparse, get |r| r.dry_run;
        } => match (grant_token, key_id, grant_id) {
            (Some(token), _, _) => RetireGrantRequest::by_token(token)?.with_dry_run(dry_run),
            (None, Some(key), Some(id)) => RetireGrantRequest::by_id(key, id).with_dry_run(dry_run),
            (None, _, _) => {
                return Err(validation(
                    "RetireGrant needs either GrantToken, or both KeyId and GrantId",
                ));
            }
        }

        /// RevokeGrant.
        RevokeGrant: RevokeGrantRequest {
            key_id: "KeyId" as KeyRefs => req;
            grant_id: "GrantId" as GrantId => req;
            dry_run: "DryRun" as Bool => sparse;
        }

        /// GetParametersForImport.
        GetParametersForImport: GetParametersForImportRequest {
            key_id: "KeyId" as KeyRefs => req;
            wrapping_algorithm: "WrappingAlgorithm" as Text<AlgorithmSpec> => req;
            wrapping_key_spec: "WrappingKeySpec" as Text<WrappingKeySpec> => req;
        }

        /// ImportKeyMaterial.
        ImportKeyMaterial: ImportKeyMaterialRequest {
            key_id: "KeyId" as KeyRefs => req;
            import_token: "ImportToken" as Blob<MAX_CIPHERTEXT_LEN> => req;
            encrypted_key_material: "EncryptedKeyMaterial" as Blob<MAX_CIPHERTEXT_LEN> => req;
            valid_to: "ValidTo" as Time => opt;
            expiration_model: "ExpirationModel" as Text<ExpirationModelType> => opt;
            import_type: "ImportType" as Text<ImportType> => opt;
            key_material_description: "KeyMaterialDescription"
                as PatternStr<0, MAX_KEY_MATERIAL_DESCRIPTION_LEN, MaterialDescriptionPattern>
                => opt;
            key_material_id: "KeyMaterialId" as MaterialId => opt;
        }

        /// DeleteImportedKeyMaterial.
        DeleteImportedKeyMaterial: DeleteImportedKeyMaterialRequest {
            key_id: "KeyId" as KeyRefs => req;
            key_material_id: "KeyMaterialId" as MaterialId => opt;
        }

        /// ReplicateKey.
        ReplicateKey: ReplicateKeyRequest {
            key_id: "KeyId" as KeyRefs => req;
            replica_region: "ReplicaRegion" as RegionName => req;
            policy: "Policy" as PolicyDocument => opt;
            bypass_policy_lockout_safety_check: "BypassPolicyLockoutSafetyCheck" as Bool
                => sparse;
            description: "Description" as Description => opt;
            tags: "Tags" as List<Tags> => sparse;
        }

        /// UpdatePrimaryRegion.
        UpdatePrimaryRegion: UpdatePrimaryRegionRequest {
            key_id: "KeyId" as KeyRefs => req;
            primary_region: "PrimaryRegion" as RegionName => req;
        }
    }

    /// CreateAlias.
    pub(crate) type CreateAlias = Alias;
    /// UpdateAlias.
    pub(crate) type UpdateAlias = Alias;
}

/// The response shapes, one per operation (named after it).
pub(crate) mod output {
    use super::common::*;
    use super::*;

    shape! {
        /// CreateKey.
        CreateKey: CreateKeyResponse {
            key_metadata: "KeyMetadata" as Nested<Metadata> => req;
        }

        /// DescribeKey.
        DescribeKey: DescribeKeyResponse {
            key_metadata: "KeyMetadata" as Nested<Metadata> => req;
        }

        /// ListKeys.
        ListKeys: ListKeysResponse {
            keys: "Keys" as List<KeyEntry> => or(Vec::new());
            next_marker: "NextMarker" as Str => opt;
            truncated: "Truncated" as Bool => or(false);
        }

        /// ScheduleKeyDeletion.
        ScheduleKeyDeletion: ScheduleKeyDeletionResponse {
            key_id: "KeyId" as KeyArns => req;
            deletion_date: "DeletionDate" as Time => opt;
            key_state: "KeyState" as Text<KeyState> => req;
            pending_window_in_days: "PendingWindowInDays" as Count => req;
        }

        /// CancelKeyDeletion.
        CancelKeyDeletion: CancelKeyDeletionResponse {
            key_id: "KeyId" as KeyArns => req;
        }

        /// ListAliases.
        ListAliases: ListAliasesResponse {
            aliases: "Aliases" as List<AliasEntry> => or(Vec::new());
            next_marker: "NextMarker" as Str => opt;
            truncated: "Truncated" as Bool => or(false);
        }

        /// ListResourceTags.
        ListResourceTags: ListResourceTagsResponse {
            tags: "Tags" as List<Tags> => or(Vec::new());
            next_marker: "NextMarker" as Str => opt;
            truncated: "Truncated" as Bool => or(false);
        }

        /// Encrypt.
        Encrypt: EncryptResponse {
            ciphertext_blob: "CiphertextBlob" as Blob<MAX_CIPHERTEXT_LEN> => req;
            key_id: "KeyId" as KeyArns => req;
            encryption_algorithm: "EncryptionAlgorithm" as Text<EncryptionAlgorithm>
                => or(EncryptionAlgorithm::SymmetricDefault);
        }

        /// Decrypt.
        Decrypt: DecryptResponse {
            key_id: "KeyId" as KeyArns => req;
            plaintext: "Plaintext" as Secret<MAX_PLAINTEXT_LEN> => req;
            encryption_algorithm: "EncryptionAlgorithm" as Text<EncryptionAlgorithm>
                => or(EncryptionAlgorithm::SymmetricDefault);
        }

        /// ReEncrypt.
        ReEncrypt: ReEncryptResponse {
            ciphertext_blob: "CiphertextBlob" as Blob<MAX_CIPHERTEXT_LEN> => req;
            source_key_id: "SourceKeyId" as KeyArns => req;
            key_id: "KeyId" as KeyArns => req;
            source_encryption_algorithm: "SourceEncryptionAlgorithm"
                as Text<EncryptionAlgorithm> => or(EncryptionAlgorithm::SymmetricDefault);
            destination_encryption_algorithm: "DestinationEncryptionAlgorithm"
                as Text<EncryptionAlgorithm> => or(EncryptionAlgorithm::SymmetricDefault);
        }

        /// GenerateDataKey.
        GenerateDataKey: GenerateDataKeyResponse {
            ciphertext_blob: "CiphertextBlob" as Blob<MAX_CIPHERTEXT_LEN> => req;
            plaintext: "Plaintext" as DataKeyPlaintext => req;
            key_id: "KeyId" as KeyArns => req;
        }

        /// GenerateDataKeyWithoutPlaintext.
        GenerateDataKeyWithoutPlaintext: GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob: "CiphertextBlob" as Blob<MAX_CIPHERTEXT_LEN> => req;
            key_id: "KeyId" as KeyArns => req;
        }

        /// Sign.
        Sign: SignResponse {
            key_id: "KeyId" as KeyArns => req;
            signature: "Signature" as Blob<MAX_CIPHERTEXT_LEN> => req;
            signing_algorithm: "SigningAlgorithm" as Text<SigningAlgorithm> => req;
        }

        /// Verify.
        Verify: VerifyResponse {
            key_id: "KeyId" as KeyArns => req;
            signature_valid: "SignatureValid" as Bool => req;
            signing_algorithm: "SigningAlgorithm" as Text<SigningAlgorithm> => req;
        }

        /// GetPublicKey.
        GetPublicKey: GetPublicKeyResponse {
            key_id: "KeyId" as KeyArns => req;
            public_key: "PublicKey" as Blob<MAX_PUBLIC_KEY_LEN> => req;
            key_spec: ("KeySpec", "CustomerMasterKeySpec") as MetadataKeySpec => req;
            key_usage: "KeyUsage" as Text<KeyUsage> => req;
            encryption_algorithms: "EncryptionAlgorithms" as TextList<EncryptionAlgorithm>
                => sparse;
            signing_algorithms: "SigningAlgorithms" as TextList<SigningAlgorithm> => sparse;
            key_agreement_algorithms: "KeyAgreementAlgorithms"
                as TextList<KeyAgreementAlgorithm> => sparse;
        }

        /// GenerateMac.
        GenerateMac: GenerateMacResponse {
            mac: "Mac" as Blob<MAX_CIPHERTEXT_LEN> => req;
            mac_algorithm: "MacAlgorithm" as Text<MacAlgorithm> => req;
            key_id: "KeyId" as KeyArns => req;
        }

        /// VerifyMac.
        VerifyMac: VerifyMacResponse {
            key_id: "KeyId" as KeyArns => req;
            mac_valid: "MacValid" as Bool => req;
            mac_algorithm: "MacAlgorithm" as Text<MacAlgorithm> => req;
        }

        /// GenerateDataKeyPair.
        GenerateDataKeyPair: GenerateDataKeyPairResponse {
            private_key_ciphertext_blob: "PrivateKeyCiphertextBlob"
                as Blob<MAX_CIPHERTEXT_LEN> => req;
            private_key_plaintext: "PrivateKeyPlaintext" as Secret<MAX_PLAINTEXT_LEN> => req;
            public_key: "PublicKey" as Blob<MAX_PUBLIC_KEY_LEN> => req;
            key_id: "KeyId" as KeyArns => req;
            key_pair_spec: "KeyPairSpec" as Text<DataKeyPairSpec> => req;
        }

        /// GenerateDataKeyPairWithoutPlaintext.
        GenerateDataKeyPairWithoutPlaintext: GenerateDataKeyPairWithoutPlaintextResponse {
            private_key_ciphertext_blob: "PrivateKeyCiphertextBlob"
                as Blob<MAX_CIPHERTEXT_LEN> => req;
            public_key: "PublicKey" as Blob<MAX_PUBLIC_KEY_LEN> => req;
            key_id: "KeyId" as KeyArns => req;
            key_pair_spec: "KeyPairSpec" as Text<DataKeyPairSpec> => req;
        }

        /// DeriveSharedSecret.
        DeriveSharedSecret: DeriveSharedSecretResponse {
            key_id: "KeyId" as KeyArns => req;
            shared_secret: "SharedSecret" as Secret<MAX_PLAINTEXT_LEN> => req;
            key_agreement_algorithm: "KeyAgreementAlgorithm" as Text<KeyAgreementAlgorithm>
                => req;
            key_origin: "KeyOrigin" as Text<Origin> => req;
        }

        /// GenerateRandom.
        GenerateRandom: GenerateRandomResponse {
            plaintext: "Plaintext" as DataKeyPlaintext => req;
        }

        /// GetKeyRotationStatus.
        GetKeyRotationStatus: GetKeyRotationStatusResponse {
            key_rotation_enabled: "KeyRotationEnabled" as Bool => or(false);
            key_id: "KeyId" as KeyIds => req;
            rotation_period_in_days: "RotationPeriodInDays" as Count => opt;
            next_rotation_date: "NextRotationDate" as Time => opt;
            on_demand_rotation_start_date: "OnDemandRotationStartDate" as Time => opt;
        }

        /// RotateKeyOnDemand.
        RotateKeyOnDemand: RotateKeyOnDemandResponse {
            key_id: "KeyId" as KeyArns => req;
        }

        /// ListKeyRotations.
        ListKeyRotations: ListKeyRotationsResponse {
            rotations: "Rotations" as List<RotationEntry> => or(Vec::new());
            next_marker: "NextMarker" as Str => opt;
            truncated: "Truncated" as Bool => or(false);
        }

        /// GetKeyPolicy.
        GetKeyPolicy: GetKeyPolicyResponse {
            policy: "Policy" as Str => req;
            policy_name: "PolicyName" as Str => or(DEFAULT_POLICY_NAME.to_owned());
        }

        /// ListKeyPolicies.
        ListKeyPolicies: ListKeyPoliciesResponse {
            policy_names: "PolicyNames" as StrList => or(Vec::new());
            next_marker: "NextMarker" as Str => opt;
            truncated: "Truncated" as Bool => or(false);
        }

        /// CreateGrant.
        CreateGrant: CreateGrantResponse {
            grant_token: "GrantToken" as Str => req;
            grant_id: "GrantId" as Str => req;
        }
    }

    /// ListGrants.
    pub(crate) type ListGrants = Grants;
    /// ListRetirableGrants.
    pub(crate) type ListRetirableGrants = Grants;
    /// UpdateKeyDescription.
    pub(crate) type UpdateKeyDescription = Unit;
    /// EnableKey.
    pub(crate) type EnableKey = Unit;
    /// DisableKey.
    pub(crate) type DisableKey = Unit;
    /// CreateAlias.
    pub(crate) type CreateAlias = Unit;
    /// UpdateAlias.
    pub(crate) type UpdateAlias = Unit;
    /// DeleteAlias.
    pub(crate) type DeleteAlias = Unit;
    /// TagResource.
    pub(crate) type TagResource = Unit;
    /// UntagResource.
    pub(crate) type UntagResource = Unit;
    /// EnableKeyRotation.
    pub(crate) type EnableKeyRotation = Unit;
    /// DisableKeyRotation.
    pub(crate) type DisableKeyRotation = Unit;
    /// PutKeyPolicy.
    pub(crate) type PutKeyPolicy = Unit;
    /// RetireGrant.
    pub(crate) type RetireGrant = Unit;
    /// RevokeGrant.
    pub(crate) type RevokeGrant = Unit;
    /// UpdatePrimaryRegion.
    pub(crate) type UpdatePrimaryRegion = Unit;

    shape! {
        /// GetParametersForImport.
        GetParametersForImport: GetParametersForImportResponse {
            key_id: "KeyId" as KeyArns => req;
            import_token: "ImportToken" as Blob<MAX_CIPHERTEXT_LEN> => req;
            public_key: "PublicKey" as Blob<MAX_PLAINTEXT_LEN> => req;
            parameters_valid_to: "ParametersValidTo" as Time => req;
        }

        /// ImportKeyMaterial.
        ImportKeyMaterial: ImportKeyMaterialResponse {
            key_id: "KeyId" as KeyArns => req;
            key_material_id: "KeyMaterialId" as Str => req;
        }

        /// DeleteImportedKeyMaterial.
        DeleteImportedKeyMaterial: DeleteImportedKeyMaterialResponse {
            key_id: "KeyId" as KeyArns => req;
            key_material_id: "KeyMaterialId" as Str => req;
        }

        /// ReplicateKey.
        ReplicateKey: ReplicateKeyResponse {
            replica_key_metadata: "ReplicaKeyMetadata" as Nested<Metadata> => req;
            replica_policy: "ReplicaPolicy" as Str => req;
            replica_tags: "ReplicaTags" as List<Tags> => or(Vec::new());
        }
    }
}
