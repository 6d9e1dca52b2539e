//! Data key pairs (GenerateDataKeyPair): a key pair the token generates for the caller to
//! hold, returned as a DER SubjectPublicKeyInfo and a PKCS#8 private key.

use lockbox_api::{DataKeyPairSpec, ErrorKind, KmsError};
use lockbox_token::Token;
use zeroize::Zeroizing;

use super::KindError;

/// A data key pair.
pub(crate) struct DataKeyPair {
    /// X.509 SubjectPublicKeyInfo, DER.
    pub(crate) public_key: Vec<u8>,
    /// PKCS#8 PrivateKeyInfo, DER, in a zeroizing buffer.
    pub(crate) private_key: Zeroizing<Vec<u8>>,
}

/// Generates a data key pair of `spec` with the token.
pub(crate) fn generate_data_key_pair(
    _token: &Token,
    spec: DataKeyPairSpec,
) -> Result<DataKeyPair, KindError> {
    Err(KindError::Refused(KmsError::new(
        ErrorKind::UnsupportedOperation,
        format!("KeyPairSpec {spec} is not supported."),
    )))
}
