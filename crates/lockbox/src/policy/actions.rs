//! The KMS actions a policy may name.

/// Every KMS action, sorted by byte order so a canonical name is found by binary search.
///
/// The API operations of botocore's KMS model (`kms/2014-11-01/service-2.json`, botocore
/// 1.44.5), plus the three permissions that are no API operation: `ReEncryptFrom` and
/// `ReEncryptTo` (ReEncrypt is authorized as these, once on each key) and
/// `SynchronizeMultiRegionKey`. A statement's actions are compiled to a bit set over this list.
pub(super) const ACTIONS: &[&str] = &[
    "CancelKeyDeletion",
    "ConnectCustomKeyStore",
    "CreateAlias",
    "CreateCustomKeyStore",
    "CreateGrant",
    "CreateKey",
    "Decapsulate",
    "Decrypt",
    "DeleteAlias",
    "DeleteCustomKeyStore",
    "DeleteImportedKeyMaterial",
    "DeriveSharedSecret",
    "DescribeCustomKeyStores",
    "DescribeKey",
    "DisableKey",
    "DisableKeyRotation",
    "DisconnectCustomKeyStore",
    "EnableKey",
    "EnableKeyRotation",
    "Encapsulate",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "GenerateRandom",
    "GetKeyLastUsage",
    "GetKeyPolicy",
    "GetKeyRotationStatus",
    "GetParametersForImport",
    "GetPublicKey",
    "ImportKeyMaterial",
    "ListAliases",
    "ListGrants",
    "ListKeyPolicies",
    "ListKeyRotations",
    "ListKeys",
    "ListResourceTags",
    "ListRetirableGrants",
    "PutKeyPolicy",
    "ReEncrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "ReplicateKey",
    "RetireGrant",
    "RevokeGrant",
    "RotateKeyOnDemand",
    "ScheduleKeyDeletion",
    "Sign",
    "SynchronizeMultiRegionKey",
    "TagResource",
    "UntagResource",
    "UpdateAlias",
    "UpdateCustomKeyStore",
    "UpdateKeyDescription",
    "UpdatePrimaryRegion",
    "Verify",
    "VerifyMac",
];

/// Bits in an action set; the const assertion keeps the list inside it.
pub(super) type ActionBits = u128;

const _: () = assert!(ACTIONS.len() <= ActionBits::BITS as usize);

/// The index in [`ACTIONS`] of a request's action (`kms:Encrypt`), `None` when it is no known
/// KMS action. The canonical spelling is found by binary search; any other casing by a scan.
pub(super) fn index(action: &str) -> Option<usize> {
    let name = strip_service(action)?;
    ACTIONS.binary_search(&name).ok().or_else(|| {
        ACTIONS
            .iter()
            .position(|known| known.eq_ignore_ascii_case(name))
    })
}

/// The index of a policy's action name (without `kms:`), compared case-insensitively.
pub(super) fn index_of_name(name: &str) -> Option<usize> {
    ACTIONS
        .iter()
        .position(|known| known.eq_ignore_ascii_case(name))
}

/// `Encrypt` for `kms:Encrypt` (any casing of `kms`), `None` for another service.
pub(super) fn strip_service(action: &str) -> Option<&str> {
    let (service, name) = action.split_once(':')?;
    service.eq_ignore_ascii_case("kms").then_some(name)
}
