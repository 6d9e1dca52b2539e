//! What the RSA and ECC kinds share for Sign, Verify and GetPublicKey: the public key object
//! of a key pair, and the export of its SubjectPublicKeyInfo (docs/formats/asymmetric.md).

use lockbox_api::{ErrorKind, KmsError};
use lockbox_token::{ObjectId, Token};

use super::{KindError, MaterialRef};

/// GetPublicKey: the DER SubjectPublicKeyInfo of `m`'s public half, read from its public
/// key object (public attributes only).
pub(super) fn public_key(token: &Token, m: &MaterialRef) -> Result<Vec<u8>, KindError> {
    Ok(token.public_key_info(&public_object(m)?)?)
}

/// The public key object of a key pair's material version. A key-pair record always names
/// one (key record v4); one without it is damaged metadata, not a caller's mistake.
pub(super) fn public_object(m: &MaterialRef) -> Result<ObjectId, KindError> {
    m.public.ok_or_else(|| {
        KindError::Refused(KmsError::new(
            ErrorKind::KmsInternal,
            format!(
                "Material version {} of key {} has no public key object.",
                m.version, m.key_id
            ),
        ))
    })
}
