//! Which operations each key state allows, and the error each refusal is, as in AWS KMS's
//! key-state table.

use lockbox_api::{ErrorKind, KeyArn, KeyState, KmsError};

/// The classes of operation the key-state table distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Use {
    /// Encrypt, Decrypt, ReEncrypt, GenerateDataKey*: only `Enabled`.
    Cryptographic,
    /// UpdateKeyDescription, EnableKey, DisableKey, ScheduleKeyDeletion, CreateAlias,
    /// UpdateAlias (new target), TagResource, UntagResource: anything but `PendingDeletion`.
    Manage,
    /// CancelKeyDeletion: only `PendingDeletion`.
    CancelDeletion,
    /// EnableKeyRotation, DisableKeyRotation, RotateKeyOnDemand: only `Enabled`; a
    /// disabled key is refused with DisabledException.
    Rotate,
    /// GetKeyRotationStatus, ListKeyRotations: `Enabled`, `Disabled`, `PendingDeletion`.
    Read,
    // DescribeKey, ListResourceTags, ListAliases and DeleteAlias work in every state, so
    // they check nothing.
}

/// Checks that a key in `state` may be used for `u`. `arn` names the key in a refusal; it is
/// only built when one is needed.
pub(crate) fn check(state: KeyState, u: Use, arn: impl FnOnce() -> KeyArn) -> Result<(), KmsError> {
    let refuse = |kind, what: &str| Err(KmsError::new(kind, format!("{} is {what}.", arn())));
    match (u, state) {
        (Use::Cryptographic | Use::Rotate, KeyState::Enabled) => Ok(()),
        (Use::Cryptographic | Use::Rotate, KeyState::Disabled) => {
            refuse(ErrorKind::Disabled, "disabled")
        }
        (Use::Read, KeyState::Enabled | KeyState::Disabled | KeyState::PendingDeletion) => Ok(()),
        (Use::CancelDeletion, KeyState::PendingDeletion) => Ok(()),
        (Use::CancelDeletion, _) => refuse(ErrorKind::KmsInvalidState, "not pending deletion"),
        (_, KeyState::PendingDeletion) => refuse(ErrorKind::KmsInvalidState, "pending deletion"),
        (Use::Manage, KeyState::Enabled | KeyState::Disabled) => Ok(()),
        (_, KeyState::PendingImport) => refuse(ErrorKind::KmsInvalidState, "pending import"),
        (_, KeyState::Unavailable) => refuse(ErrorKind::KmsInvalidState, "unavailable"),
        (_, other) => refuse(ErrorKind::KmsInvalidState, &format!("in state {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockbox_api::{ArnScope, KeyId};

    #[test]
    fn the_aws_key_state_table() {
        let arn = ArnScope::default().key_arn(KeyId::from_random_bytes([1; 16]));
        use ErrorKind as E;
        use KeyState as S;
        let cases: &[(Use, S, Option<E>)] = &[
            (Use::Cryptographic, S::Enabled, None),
            (Use::Cryptographic, S::Disabled, Some(E::Disabled)),
            (
                Use::Cryptographic,
                S::PendingDeletion,
                Some(E::KmsInvalidState),
            ),
            (
                Use::Cryptographic,
                S::PendingImport,
                Some(E::KmsInvalidState),
            ),
            (Use::Cryptographic, S::Unavailable, Some(E::KmsInvalidState)),
            (Use::Manage, S::Enabled, None),
            (Use::Manage, S::Disabled, None),
            (Use::Manage, S::PendingDeletion, Some(E::KmsInvalidState)),
            (Use::CancelDeletion, S::PendingDeletion, None),
            (Use::CancelDeletion, S::Enabled, Some(E::KmsInvalidState)),
            (Use::CancelDeletion, S::Disabled, Some(E::KmsInvalidState)),
            (Use::Rotate, S::Enabled, None),
            (Use::Rotate, S::Disabled, Some(E::Disabled)),
            (Use::Rotate, S::PendingDeletion, Some(E::KmsInvalidState)),
            (Use::Read, S::Enabled, None),
            (Use::Read, S::Disabled, None),
            (Use::Read, S::PendingDeletion, None),
            (Use::Read, S::PendingImport, Some(E::KmsInvalidState)),
        ];
        for (u, s, want) in cases {
            let got = check(*s, *u, || arn.clone()).err().map(|e| e.kind());
            assert_eq!(got, *want, "{u:?} in {s}");
        }
        let e = check(S::Disabled, Use::Cryptographic, || arn.clone()).unwrap_err();
        assert_eq!(e.message(), format!("{arn} is disabled."));
    }
}
