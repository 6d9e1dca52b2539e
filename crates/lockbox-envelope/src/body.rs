//! The framed body: per-frame IVs and associated data, shared by writer and reader.

use crate::{FINAL_FRAME_AAD, FRAME_AAD, IV_LEN, MESSAGE_ID_LEN};

/// A frame's IV: 8 zero bytes, then the sequence number (u32 BE). The header's is all zero.
pub(crate) fn frame_iv(seq: u32) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    iv[IV_LEN - 4..].copy_from_slice(&seq.to_be_bytes());
    iv
}

/// A frame's associated data: message id, content string, sequence number (u32 BE),
/// plaintext length (u64 BE).
pub(crate) fn frame_aad(
    message_id: &[u8; MESSAGE_ID_LEN],
    is_final: bool,
    seq: u32,
    len: u64,
) -> Vec<u8> {
    let label = if is_final { FINAL_FRAME_AAD } else { FRAME_AAD };
    let mut aad = Vec::with_capacity(MESSAGE_ID_LEN + label.len() + 12);
    aad.extend_from_slice(message_id);
    aad.extend_from_slice(label.as_bytes());
    aad.extend_from_slice(&seq.to_be_bytes());
    aad.extend_from_slice(&len.to_be_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iv_and_aad_layout() {
        assert_eq!(frame_iv(0x0102_0304), [0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
        let aad = frame_aad(&[0xEE; 32], true, 7, 300);
        assert_eq!(&aad[..32], &[0xEE; 32]);
        assert_eq!(&aad[32..66], b"AWSKMSEncryptionClient Final Frame");
        assert_eq!(&aad[66..70], &[0, 0, 0, 7]);
        assert_eq!(&aad[70..], &[0, 0, 0, 0, 0, 0, 1, 44]);
        assert_eq!(
            &frame_aad(&[0; 32], false, 1, 0)[32..60],
            b"AWSKMSEncryptionClient Frame"
        );
    }
}
