//! The message header: what it holds, how it is written, and a parser that reads it from a
//! stream field by field, bounded, and never panics.

use std::collections::BTreeMap;
use std::io::Read;

use crate::context;
use crate::error::EnvelopeError;
use crate::suite::Suite;
use crate::{
    COMMITMENT_KEY_LEN, CONTENT_TYPE_FRAMED, CONTENT_TYPE_NON_FRAMED, MAX_FRAME_LENGTH,
    MESSAGE_FORMAT_VERSION, MESSAGE_ID_LEN, TAG_LEN,
};

/// One encrypted copy of the message's data key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EncryptedDataKey {
    /// Who can decrypt it: `aws-kms` for a KMS key.
    pub provider_id: String,
    /// Which key of that provider: for `aws-kms`, the key ARN.
    pub provider_info: Vec<u8>,
    /// The encrypted data key: for `aws-kms`, the KMS ciphertext blob.
    pub ciphertext: Vec<u8>,
}

impl EncryptedDataKey {
    /// The provider info as text (a key ARN for `aws-kms`), if it is UTF-8.
    pub fn provider_info_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.provider_info).ok()
    }

    pub(crate) fn serialize_into(&self, out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        for (what, field) in [
            ("key provider id", self.provider_id.as_bytes()),
            ("key provider info", &self.provider_info[..]),
            ("encrypted data key", &self.ciphertext[..]),
        ] {
            let len = u16::try_from(field.len()).map_err(|_| {
                EnvelopeError::Limit(format!(
                    "{what} is {} bytes; the format allows at most 65535",
                    field.len()
                ))
            })?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(field);
        }
        Ok(())
    }
}

/// A parsed (or to-be-written) header, without its authentication tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The algorithm suite.
    pub suite: Suite,
    /// 32 random bytes naming the message; the salt of its key derivation.
    pub message_id: [u8; MESSAGE_ID_LEN],
    /// The encryption context, including any pairs the library added (`aws-crypto-public-key`).
    pub context: BTreeMap<String, String>,
    /// The encrypted data keys, at least one.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    /// The plaintext length of every frame but the final one.
    pub frame_length: u32,
    /// The commitment key derived from the data key.
    pub commitment: [u8; COMMITMENT_KEY_LEN],
}

impl Header {
    /// The header body's bytes: everything the authentication tag covers.
    pub(crate) fn serialize(&self) -> Result<Vec<u8>, EnvelopeError> {
        let ctx =
            context::serialize(&self.context).map_err(|e| EnvelopeError::Limit(e.to_string()))?;
        let mut out = Vec::with_capacity(128 + ctx.len());
        out.push(MESSAGE_FORMAT_VERSION);
        out.extend_from_slice(&self.suite.id().to_be_bytes());
        out.extend_from_slice(&self.message_id);
        // `context::serialize` refuses anything longer than u16::MAX bytes.
        let ctx_len = u16::try_from(ctx.len())
            .map_err(|_| EnvelopeError::Limit("encryption context too long".into()))?;
        out.extend_from_slice(&ctx_len.to_be_bytes());
        out.extend_from_slice(&ctx);
        let count = u16::try_from(self.encrypted_data_keys.len()).map_err(|_| {
            EnvelopeError::Limit(format!(
                "{} encrypted data keys; the format allows at most 65535",
                self.encrypted_data_keys.len()
            ))
        })?;
        if count == 0 {
            return Err(EnvelopeError::InvalidInput(
                "a message needs at least one encrypted data key".into(),
            ));
        }
        out.extend_from_slice(&count.to_be_bytes());
        for edk in &self.encrypted_data_keys {
            edk.serialize_into(&mut out)?;
        }
        out.push(CONTENT_TYPE_FRAMED);
        out.extend_from_slice(&self.frame_length.to_be_bytes());
        out.extend_from_slice(&self.commitment);
        Ok(out)
    }
}

/// Limits a reader applies to a header before trusting anything in it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeaderLimits {
    /// At most this many encrypted data keys.
    pub(crate) max_encrypted_data_keys: u16,
}

/// Reads exactly what a field needs, keeping every byte read for the authentication tag.
struct Tee<'a, R: Read> {
    inner: &'a mut R,
    bytes: Vec<u8>,
}

impl<R: Read> Tee<'_, R> {
    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], EnvelopeError> {
        let start = self.bytes.len();
        let got = (&mut *self.inner)
            .take(n as u64)
            .read_to_end(&mut self.bytes)
            .map_err(EnvelopeError::from_io)?;
        if got < n {
            return Err(if start == 0 && got == 0 {
                EnvelopeError::Truncated("the input is empty: no message header".into())
            } else {
                EnvelopeError::Truncated(format!("the header ends in its {what}"))
            });
        }
        Ok(&self.bytes[start..])
    }

    fn u8(&mut self, what: &str) -> Result<u8, EnvelopeError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, EnvelopeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, EnvelopeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], EnvelopeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn vec16(&mut self, what: &str) -> Result<Vec<u8>, EnvelopeError> {
        let n = usize::from(self.u16(what)?);
        Ok(self.take(n, what)?.to_vec())
    }
}

/// Reads a header body and its authentication tag; returns the header, the body's bytes
/// (for the tag and the signature) and the tag.
pub(crate) fn read_header<R: Read>(
    input: &mut R,
    limits: HeaderLimits,
) -> Result<(Header, Vec<u8>, [u8; TAG_LEN]), EnvelopeError> {
    let mut t = Tee {
        inner: input,
        bytes: Vec::with_capacity(512),
    };
    let version = t.u8("version")?;
    if version != MESSAGE_FORMAT_VERSION {
        return Err(if version == 0x01 {
            EnvelopeError::Unsupported(
                "message format version 1 (non-committing suites); only version 2 is read".into(),
            )
        } else {
            EnvelopeError::Malformed(format!(
                "version byte 0x{version:02X} is not a message format version (expected 0x02)"
            ))
        });
    }
    let suite = Suite::from_id(t.u16("algorithm suite id")?)?;
    let message_id = t.array::<MESSAGE_ID_LEN>("message id")?;
    let ctx_len = usize::from(t.u16("encryption context length")?);
    let ctx_bytes = t.take(ctx_len, "encryption context")?.to_vec();
    let context =
        context::parse(&ctx_bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
    let count = t.u16("encrypted data key count")?;
    if count == 0 {
        return Err(EnvelopeError::Malformed(
            "the header lists no encrypted data key".into(),
        ));
    }
    if count > limits.max_encrypted_data_keys {
        return Err(EnvelopeError::Limit(format!(
            "the message has {count} encrypted data keys; this reader accepts at most {}",
            limits.max_encrypted_data_keys
        )));
    }
    let mut encrypted_data_keys = Vec::with_capacity(usize::from(count));
    for i in 0..count {
        let provider_id = t.vec16("key provider id")?;
        let provider_id = String::from_utf8(provider_id).map_err(|_| {
            EnvelopeError::Malformed(format!(
                "the key provider id of encrypted data key {} is not UTF-8",
                i + 1
            ))
        })?;
        let provider_info = t.vec16("key provider info")?;
        let ciphertext = t.vec16("encrypted data key")?;
        encrypted_data_keys.push(EncryptedDataKey {
            provider_id,
            provider_info,
            ciphertext,
        });
    }
    match t.u8("content type")? {
        CONTENT_TYPE_FRAMED => {}
        CONTENT_TYPE_NON_FRAMED => {
            return Err(EnvelopeError::Unsupported(
                "non-framed content (content type 0x01); messages with framed bodies \
                 (content type 0x02) are read"
                    .into(),
            ));
        }
        other => {
            return Err(EnvelopeError::Malformed(format!(
                "content type 0x{other:02X} is neither framed (0x02) nor non-framed (0x01)"
            )));
        }
    }
    let frame_length = t.u32("frame length")?;
    if frame_length == 0 || frame_length > MAX_FRAME_LENGTH {
        return Err(EnvelopeError::Malformed(format!(
            "frame length {frame_length} is outside 1..={MAX_FRAME_LENGTH}"
        )));
    }
    let commitment = t.array::<COMMITMENT_KEY_LEN>("algorithm suite data")?;
    let body_len = t.bytes.len();
    let tag = t.array::<TAG_LEN>("authentication tag")?;
    let mut body = t.bytes;
    body.truncate(body_len);
    let header = Header {
        suite,
        message_id,
        context,
        encrypted_data_keys,
        frame_length,
        commitment,
    };
    Ok((header, body, tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            suite: Suite::Aes256GcmHkdfSha512CommitKey,
            message_id: [7; 32],
            context: BTreeMap::from([("purpose".to_owned(), "test".to_owned())]),
            encrypted_data_keys: vec![EncryptedDataKey {
                provider_id: "aws-kms".into(),
                provider_info: b"arn:aws:kms:us-east-1:111122223333:key/k".to_vec(),
                ciphertext: vec![9; 40],
            }],
            frame_length: 4096,
            commitment: [5; 32],
        }
    }

    /// The worked example of `docs/formats/envelope.md`: a fixed message id and data key
    /// give fixed bytes, commitment key and tag (checked against the AWS Encryption SDK for
    /// Python's header parser and header authentication when written).
    #[test]
    fn worked_example_header_bytes() -> Result<(), EnvelopeError> {
        use aes_gcm::aead::{AeadInOut, KeyInit};
        use aes_gcm::{Aes256Gcm, Nonce};

        let suite = Suite::Aes256GcmHkdfSha512CommitKey;
        let mut message_id = [0u8; MESSAGE_ID_LEN];
        for (i, b) in message_id.iter_mut().enumerate() {
            *b = i as u8;
        }
        let keys = crate::suite::derive_keys(suite, &[0x5A; 32], &message_id);
        let h = Header {
            suite,
            message_id,
            context: BTreeMap::from([("purpose".to_owned(), "example".to_owned())]),
            encrypted_data_keys: vec![EncryptedDataKey {
                provider_id: "aws-kms".into(),
                provider_info: b"arn:aws:kms:us-east-1:111122223333:key/example".to_vec(),
                ciphertext: vec![0xC1; 8],
            }],
            frame_length: 4096,
            commitment: keys.commitment,
        };
        let body = h.serialize()?;
        let cipher = Aes256Gcm::new_from_slice(keys.encryption.as_ref())
            .map_err(|_| EnvelopeError::InvalidInput("key length".into()))?;
        let tag = cipher
            .encrypt_inout_detached(&Nonce::from([0u8; 12]), &body, (&mut [0u8; 0][..]).into())
            .map_err(|_| EnvelopeError::InvalidInput("gcm".into()))?;
        let hex = |b: &[u8]| hex::encode(b);
        assert_eq!(hex(&body), EXAMPLE_BODY);
        assert_eq!(hex(&tag), EXAMPLE_TAG);
        Ok(())
    }

    const EXAMPLE_BODY: &str = concat!(
        "020478",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "0014",
        "0001",
        "0007707572706f7365",
        "00076578616d706c65",
        "0001",
        "0007",
        "6177732d6b6d73",
        "002e",
        "61726e3a6177733a6b6d733a75732d656173742d313a3131313132323232333333333a6b65792f",
        "6578616d706c65",
        "0008",
        "c1c1c1c1c1c1c1c1",
        "02",
        "00001000",
        "83981c1cb8e00b169b8569b0e7ce8fa747e9eb168a8fe7965ddf3c08bc38dc04",
    );
    const EXAMPLE_TAG: &str = "1613dfa8fa8c42e0a2f50759e918e135";

    #[test]
    fn header_round_trips_and_every_truncation_is_reported() -> Result<(), EnvelopeError> {
        let h = sample();
        let mut bytes = h.serialize()?;
        bytes.extend_from_slice(&[0xAA; TAG_LEN]);
        let limits = HeaderLimits {
            max_encrypted_data_keys: 1,
        };
        let (parsed, body, tag) = read_header(&mut &bytes[..], limits)?;
        assert_eq!(parsed, h);
        assert_eq!(body, h.serialize()?);
        assert_eq!(tag, [0xAA; TAG_LEN]);
        for n in 0..bytes.len() {
            let err = read_header(&mut &bytes[..n], limits).err();
            assert!(
                matches!(err, Some(EnvelopeError::Truncated(_))),
                "cut at {n}: {err:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn header_fields_are_checked() -> Result<(), EnvelopeError> {
        let h = sample();
        let good = h.serialize()?;
        let limits = HeaderLimits {
            max_encrypted_data_keys: 10,
        };
        let parse = |b: &[u8]| {
            let mut v = b.to_vec();
            v.extend_from_slice(&[0; TAG_LEN]);
            read_header(&mut &v[..], limits).err()
        };
        let mut v1 = good.clone();
        v1[0] = 1;
        assert!(matches!(parse(&v1), Some(EnvelopeError::Unsupported(_))));
        let mut suite = good.clone();
        suite[1..3].copy_from_slice(&0x0178u16.to_be_bytes());
        assert!(matches!(parse(&suite), Some(EnvelopeError::Unsupported(_))));
        // Content type, frame length: at fixed offsets from the end.
        let ct = good.len() - 32 - 4 - 1;
        let mut nonframed = good.clone();
        nonframed[ct] = 1;
        assert!(matches!(
            parse(&nonframed),
            Some(EnvelopeError::Unsupported(_))
        ));
        let mut zero_frame = good.clone();
        zero_frame[ct + 1..ct + 5].copy_from_slice(&0u32.to_be_bytes());
        assert!(matches!(
            parse(&zero_frame),
            Some(EnvelopeError::Malformed(_))
        ));
        let strict = HeaderLimits {
            max_encrypted_data_keys: 0,
        };
        let mut v = good.clone();
        v.extend_from_slice(&[0; TAG_LEN]);
        assert!(matches!(
            read_header(&mut &v[..], strict),
            Err(EnvelopeError::Limit(_))
        ));
        Ok(())
    }
}
