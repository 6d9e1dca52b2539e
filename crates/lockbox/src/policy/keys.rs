//! The condition keys the engine sets in a request's context, each named once. They are not
//! actions (those are [`lockbox_api::Action`]); a policy's Condition reads them.

/// The caller's account.
pub(crate) const CALLER_ACCOUNT: &str = "kms:CallerAccount";
/// The caller's principal ARN.
pub(crate) const PRINCIPAL_ARN: &str = "aws:PrincipalArn";
/// The caller's principal's account.
pub(crate) const PRINCIPAL_ACCOUNT: &str = "aws:PrincipalAccount";
/// The key's spec (`SYMMETRIC_DEFAULT`, ...).
pub(crate) const KEY_SPEC: &str = "kms:KeySpec";
/// The key's usage (`ENCRYPT_DECRYPT`, ...).
pub(crate) const KEY_USAGE: &str = "kms:KeyUsage";
/// The key's origin (`AWS_KMS`, ...).
pub(crate) const KEY_ORIGIN: &str = "kms:KeyOrigin";
/// The alias the request named the key by.
pub(crate) const REQUEST_ALIAS: &str = "kms:RequestAlias";
/// One pair of the request's encryption context: this prefix, then the pair's key.
pub(crate) const ENCRYPTION_CONTEXT_PREFIX: &str = "kms:EncryptionContext:";
/// The keys of the request's encryption context.
pub(crate) const ENCRYPTION_CONTEXT_KEYS: &str = "kms:EncryptionContextKeys";
/// The encryption algorithm of a cryptographic operation.
pub(crate) const ENCRYPTION_ALGORITHM: &str = "kms:EncryptionAlgorithm";
/// The signing algorithm of Sign or Verify.
pub(crate) const SIGNING_ALGORITHM: &str = "kms:SigningAlgorithm";
/// The message type of Sign or Verify (`RAW`, `DIGEST`).
pub(crate) const MESSAGE_TYPE: &str = "kms:MessageType";
/// The MAC algorithm of GenerateMac or VerifyMac.
pub(crate) const MAC_ALGORITHM: &str = "kms:MacAlgorithm";
/// The key agreement algorithm of DeriveSharedSecret.
pub(crate) const KEY_AGREEMENT_ALGORITHM: &str = "kms:KeyAgreementAlgorithm";
/// The key pair spec of GenerateDataKeyPair*.
pub(crate) const DATA_KEY_PAIR_SPEC: &str = "kms:DataKeyPairSpec";
/// EnableKeyRotation's rotation period.
pub(crate) const ROTATION_PERIOD_IN_DAYS: &str = "kms:RotationPeriodInDays";
/// ScheduleKeyDeletion's waiting period.
pub(crate) const SCHEDULE_KEY_DELETION_PENDING_WINDOW_IN_DAYS: &str =
    "kms:ScheduleKeyDeletionPendingWindowInDays";
/// Whether PutKeyPolicy (or CreateKey) skips the lockout safety check.
pub(crate) const BYPASS_POLICY_LOCKOUT_SAFETY_CHECK: &str = "kms:BypassPolicyLockoutSafetyCheck";
/// The operations a grant being created allows.
pub(crate) const GRANT_OPERATIONS: &str = "kms:GrantOperations";
/// The grantee of a grant being created.
pub(crate) const GRANTEE_PRINCIPAL: &str = "kms:GranteePrincipal";
/// Whether a grant is created by an AWS service (never, in Lockbox).
pub(crate) const GRANT_IS_FOR_AWS_RESOURCE: &str = "kms:GrantIsForAWSResource";
/// The constraint types of a grant being created.
pub(crate) const GRANT_CONSTRAINT_TYPE: &str = "kms:GrantConstraintType";
/// The retiring principal of a grant being created.
pub(crate) const RETIRING_PRINCIPAL: &str = "kms:RetiringPrincipal";

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key the engine sets is one a policy may name: a misspelt constant here would be
    /// a condition no policy could ever match.
    #[test]
    fn every_key_the_engine_sets_is_a_known_condition_key() {
        for key in [
            CALLER_ACCOUNT,
            PRINCIPAL_ARN,
            PRINCIPAL_ACCOUNT,
            KEY_SPEC,
            KEY_USAGE,
            KEY_ORIGIN,
            REQUEST_ALIAS,
            ENCRYPTION_CONTEXT_KEYS,
            ENCRYPTION_ALGORITHM,
            SIGNING_ALGORITHM,
            MESSAGE_TYPE,
            MAC_ALGORITHM,
            KEY_AGREEMENT_ALGORITHM,
            DATA_KEY_PAIR_SPEC,
            ROTATION_PERIOD_IN_DAYS,
            SCHEDULE_KEY_DELETION_PENDING_WINDOW_IN_DAYS,
            BYPASS_POLICY_LOCKOUT_SAFETY_CHECK,
            GRANT_OPERATIONS,
            GRANTEE_PRINCIPAL,
            GRANT_IS_FOR_AWS_RESOURCE,
            GRANT_CONSTRAINT_TYPE,
            RETIRING_PRINCIPAL,
            &format!("{ENCRYPTION_CONTEXT_PREFIX}purpose"),
        ] {
            assert_eq!(super::super::condition::check_key(key), Ok(()), "{key}");
        }
        assert!(super::super::condition::check_key("kms:RotationPeriodInDay").is_err());
    }
}
