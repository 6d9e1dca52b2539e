//! The algorithm suites: what each fixes, and the key derivation they share.

use hkdf::Hkdf;
use sha2::Sha512;
use zeroize::{Zeroize, Zeroizing};

use crate::error::EnvelopeError;
use crate::{COMMITMENT_KEY_LEN, DATA_KEY_LEN, MESSAGE_ID_LEN};

/// An algorithm suite of message format version 2 that this library writes and reads.
///
/// Both derive a per-message AES-256-GCM key and a commitment key from the data key with
/// HKDF-SHA512 (salt: the message id), and carry the commitment key in the header, so a
/// message decrypts under exactly one data key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Suite {
    /// `0x0478`: AES_256_GCM_HKDF_SHA512_COMMIT_KEY.
    Aes256GcmHkdfSha512CommitKey,
    /// `0x0578`: AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384: the same, and an ECDSA
    /// P-384 (SHA-384) signature over the whole message in a footer.
    Aes256GcmHkdfSha512CommitKeyEcdsaP384,
}

impl Suite {
    /// The suite the AWS Encryption SDK uses by default: the signing one.
    pub const DEFAULT: Suite = Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384;

    /// The two-byte id written in the header.
    pub fn id(self) -> u16 {
        match self {
            Suite::Aes256GcmHkdfSha512CommitKey => 0x0478,
            Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384 => 0x0578,
        }
    }

    /// The suite a header id names.
    pub fn from_id(id: u16) -> Result<Suite, EnvelopeError> {
        match id {
            0x0478 => Ok(Suite::Aes256GcmHkdfSha512CommitKey),
            0x0578 => Ok(Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384),
            other => Err(EnvelopeError::Unsupported(format!(
                "algorithm suite 0x{other:04X}: only the committing suites 0x0478 and 0x0578 \
                 are supported"
            ))),
        }
    }

    /// The suite a name (`0478`, `0x0578`, or the AWS name) denotes.
    pub fn parse(s: &str) -> Result<Suite, EnvelopeError> {
        let t = s.trim();
        let hex = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or(t);
        if let Ok(id) = u16::from_str_radix(hex, 16) {
            return Suite::from_id(id);
        }
        match t {
            "AES_256_GCM_HKDF_SHA512_COMMIT_KEY" => Ok(Suite::Aes256GcmHkdfSha512CommitKey),
            "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384" => {
                Ok(Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384)
            }
            _ => Err(EnvelopeError::InvalidInput(format!(
                "unknown algorithm suite {:?}: use 0478 (AES_256_GCM_HKDF_SHA512_COMMIT_KEY) or \
                 0578 (AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384)",
                lockbox_api::shorten(s)
            ))),
        }
    }

    /// The AWS name of the suite.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Aes256GcmHkdfSha512CommitKey => "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
            Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384 => {
                "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384"
            }
        }
    }

    /// Whether messages of this suite end with a signature.
    pub fn is_signed(self) -> bool {
        matches!(self, Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384)
    }
}

/// The keys one message uses, derived from its data key and message id.
pub(crate) struct MessageKeys {
    /// The AES-256-GCM key of the header authentication and every frame.
    pub(crate) encryption: Zeroizing<[u8; DATA_KEY_LEN]>,
    /// The commitment key written in (or compared with) the header.
    pub(crate) commitment: [u8; COMMITMENT_KEY_LEN],
}

/// HKDF-SHA512 with the message id as salt: info `suite id || "DERIVEKEY"` gives the
/// encryption key, info `"COMMITKEY"` the commitment key.
pub(crate) fn derive_keys(
    suite: Suite,
    data_key: &[u8; DATA_KEY_LEN],
    message_id: &[u8; MESSAGE_ID_LEN],
) -> MessageKeys {
    let hk = Hkdf::<Sha512>::new(Some(message_id), data_key);
    let mut info = [0u8; 11];
    info[..2].copy_from_slice(&suite.id().to_be_bytes());
    info[2..].copy_from_slice(b"DERIVEKEY");
    let mut encryption = Zeroizing::new([0u8; DATA_KEY_LEN]);
    let mut commitment = [0u8; COMMITMENT_KEY_LEN];
    // Both lengths (32) are far below HKDF-SHA512's limit of 255 * 64 bytes, so expand
    // cannot fail; a failure would leave zeros, which then fail every check.
    if hk.expand(&info, encryption.as_mut()).is_err() {
        encryption.zeroize();
    }
    if hk.expand(b"COMMITKEY", &mut commitment).is_err() {
        commitment.zeroize();
    }
    MessageKeys {
        encryption,
        commitment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_names_and_parsing_agree() -> Result<(), EnvelopeError> {
        for suite in [
            Suite::Aes256GcmHkdfSha512CommitKey,
            Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
        ] {
            assert_eq!(Suite::from_id(suite.id())?, suite);
            assert_eq!(Suite::parse(suite.name())?, suite);
            assert_eq!(Suite::parse(&format!("0x{:04x}", suite.id()))?, suite);
        }
        assert_eq!(Suite::parse("0478")?.id(), 0x0478);
        assert!(matches!(
            Suite::from_id(0x0178),
            Err(EnvelopeError::Unsupported(_))
        ));
        assert!(matches!(
            Suite::parse("AES_128"),
            Err(EnvelopeError::InvalidInput(_))
        ));
        Ok(())
    }

    #[test]
    fn ciphers_zeroize_their_keys_on_drop() {
        // aes-gcm's `zeroize` feature: without it the AES round keys (the first two are the
        // message key itself) and the GHASH key are freed as they are. This does not compile
        // if the feature is off.
        fn zeroized_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        zeroized_on_drop::<aes_gcm::Aes256Gcm>();
    }

    #[test]
    fn derivation_depends_on_suite_key_and_message_id() {
        let a = derive_keys(Suite::Aes256GcmHkdfSha512CommitKey, &[1; 32], &[2; 32]);
        let b = derive_keys(
            Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
            &[1; 32],
            &[2; 32],
        );
        let c = derive_keys(Suite::Aes256GcmHkdfSha512CommitKey, &[1; 32], &[3; 32]);
        assert_ne!(*a.encryption, *b.encryption);
        // The commitment key's info has no suite id.
        assert_eq!(a.commitment, b.commitment);
        assert_ne!(a.commitment, c.commitment);
        assert_ne!(*a.encryption, [0; 32]);
        assert_ne!(a.commitment, *a.encryption);
    }
}
