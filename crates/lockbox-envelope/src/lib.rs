//! Client-side envelope encryption in the AWS Encryption SDK message format version 2.
//!
//! Status (issue 6): skeleton only. This crate fixes the constants of the format
//! for algorithm suite 0x0478 so the next session can build the header parser,
//! key derivation and framed body on them. `context` (encryption context bytes) exists. See docs/formats/envelope.md.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod context;

/// Message format version written and accepted.
pub const MESSAGE_FORMAT_VERSION: u8 = 0x02;
/// Algorithm suite 0x0478: AES-256-GCM, HKDF-SHA512, key commitment, no signature.
pub const SUITE_AES256_GCM_HKDF_SHA512_COMMIT_KEY: u16 = 0x0478;
/// Length of the message id in format version 2.
pub const MESSAGE_ID_LEN: usize = 32;
/// Length of the commitment key carried as algorithm suite data.
pub const COMMITMENT_KEY_LEN: usize = 32;
/// Content type of a framed body.
pub const CONTENT_TYPE_FRAMED: u8 = 0x02;
/// Provider id of encrypted data keys made by a KMS.
pub const PROVIDER_ID_AWS_KMS: &str = "aws-kms";
/// Body AAD content string of a regular frame.
pub const FRAME_AAD: &str = "AWSKMSEncryptionClient Frame";
/// Body AAD content string of the final frame.
pub const FINAL_FRAME_AAD: &str = "AWSKMSEncryptionClient Final Frame";
/// Sequence number that marks the final frame's header field.
pub const FINAL_FRAME_MARKER: u32 = 0xFFFF_FFFF;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_id_bytes_are_big_endian() {
        assert_eq!(
            SUITE_AES256_GCM_HKDF_SHA512_COMMIT_KEY.to_be_bytes(),
            [0x04, 0x78]
        );
        assert_eq!(MESSAGE_ID_LEN, COMMITMENT_KEY_LEN);
    }
}
