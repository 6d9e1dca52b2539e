//! The reader: parses and authenticates the header on creation, then yields each frame's
//! plaintext only after its tag verifies; the final frame's plaintext only after the
//! signature (signing suite) verifies and the input has ended.

use std::collections::BTreeMap;
use std::io::{self, Read};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::body::{frame_aad, frame_iv};
use crate::error::EnvelopeError;
use crate::header::{Header, HeaderLimits, read_header};
use crate::materials::{DecryptionRequest, MaterialsManager};
use crate::sign::{PUBLIC_KEY_CONTEXT_KEY, Verifier};
use crate::suite::derive_keys;
use crate::{DecryptOptions, FINAL_FRAME_MARKER, IV_LEN, TAG_LEN};

enum State {
    Frames,
    Done,
    Failed,
}

/// Decrypts one message read from `R`; `Read` yields authenticated plaintext.
///
/// A read returns an error (kind `InvalidData`, carrying an [`EnvelopeError`]; see
/// [`EnvelopeError::from_io`]) as soon as the message is found truncated, reordered,
/// tampered with, or followed by other bytes; after that every read fails.
pub struct Decryptor<R: Read> {
    input: R,
    header: Header,
    cipher: Aes256Gcm,
    verifier: Option<Verifier>,
    /// The current frame as read; decrypted in place; `pos..end` is yet to be returned.
    raw: Zeroizing<Vec<u8>>,
    pos: usize,
    end: usize,
    next_seq: u32,
    state: State,
}

impl<R: Read> Decryptor<R> {
    /// Reads the header, gets the data key from `materials`, and checks key commitment,
    /// the header's authentication tag and `options.expected_context`.
    pub fn new(
        materials: &dyn MaterialsManager,
        mut input: R,
        options: &DecryptOptions,
    ) -> Result<Decryptor<R>, EnvelopeError> {
        let limits = HeaderLimits {
            max_encrypted_data_keys: options.max_encrypted_data_keys,
        };
        let (header, body, tag) = read_header(&mut input, limits)?;
        // As the AWS SDKs' default materials manager: a public key in the context of a
        // suite that does not sign is a malformed message, whatever manager is in use.
        if !header.suite.is_signed() && header.context.contains_key(PUBLIC_KEY_CONTEXT_KEY) {
            return Err(EnvelopeError::Malformed(format!(
                "suite 0x{:04X} does not sign messages but the encryption context has {}",
                header.suite.id(),
                PUBLIC_KEY_CONTEXT_KEY
            )));
        }
        check_expected_context(&header.context, &options.expected_context)?;
        let mats = materials.decryption_materials(&DecryptionRequest {
            suite: header.suite,
            encrypted_data_keys: &header.encrypted_data_keys,
            context: &header.context,
        })?;
        let keys = derive_keys(header.suite, mats.data_key.bytes(), &header.message_id);
        if !bool::from(keys.commitment.ct_eq(&header.commitment)) {
            return Err(EnvelopeError::Authentication(
                "key commitment does not match: the data key is not the one this message \
                 was encrypted with"
                    .into(),
            ));
        }
        let cipher = Aes256Gcm::new_from_slice(keys.encryption.as_ref())
            .map_err(|_| EnvelopeError::InvalidInput("bad derived key length".into()))?;
        cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(&[0u8; IV_LEN]),
                &body,
                &mut [],
                Tag::from_slice(&tag),
            )
            .map_err(|_| {
                EnvelopeError::Authentication(
                    "the header authentication tag does not verify".into(),
                )
            })?;
        let verifier = match (header.suite.is_signed(), &mats.verifying_key) {
            (true, Some(key)) => {
                let mut v = Verifier::new(key.clone());
                v.update(&body);
                v.update(&tag);
                Some(v)
            }
            (true, None) => {
                return Err(EnvelopeError::InvalidInput(
                    "the materials manager returned no verification key for a signing suite".into(),
                ));
            }
            (false, _) => None,
        };
        Ok(Decryptor {
            input,
            header,
            cipher,
            verifier,
            raw: Zeroizing::new(Vec::new()),
            pos: 0,
            end: 0,
            next_seq: 1,
            state: State::Frames,
        })
    }

    /// The authenticated header: suite, context, encrypted data keys, frame length.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Whether the whole message has been read and verified.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Done) && self.pos == self.end
    }

    /// Reads `n` bytes of the current frame into `raw` (appending); `what` names the field.
    fn fill(&mut self, n: usize, what: &str) -> Result<(), EnvelopeError> {
        let got = (&mut self.input)
            .take(n as u64)
            .read_to_end(&mut self.raw)
            .map_err(EnvelopeError::from_io)?;
        if got < n {
            return Err(EnvelopeError::Truncated(format!(
                "the message ends in the {what} of frame {}",
                self.next_seq
            )));
        }
        Ok(())
    }

    fn u32_at(&self, at: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.raw[at..at + 4]);
        u32::from_be_bytes(b)
    }

    /// Reads, checks and decrypts the next frame.
    fn next_frame(&mut self) -> Result<(), EnvelopeError> {
        self.raw.clear();
        let got = (&mut self.input)
            .take(4)
            .read_to_end(&mut self.raw)
            .map_err(EnvelopeError::from_io)?;
        if got == 0 {
            return Err(EnvelopeError::Truncated(format!(
                "the message ends after frame {} with no final frame",
                self.next_seq - 1
            )));
        }
        if got < 4 {
            return Err(EnvelopeError::Truncated(format!(
                "the message ends in the sequence number of frame {}",
                self.next_seq
            )));
        }
        let first = self.u32_at(0);
        let is_final = first == FINAL_FRAME_MARKER;
        let (seq, iv_at, content_len) = if is_final {
            self.fill(4, "sequence number")?;
            self.fill(IV_LEN + 4, "IV and length")?;
            let len = self.u32_at(4 + 4 + IV_LEN);
            if len > self.header.frame_length {
                return Err(EnvelopeError::Malformed(format!(
                    "the final frame claims {len} bytes, more than the frame length {}",
                    self.header.frame_length
                )));
            }
            (self.u32_at(4), 8, len as usize)
        } else {
            self.fill(IV_LEN, "IV")?;
            (first, 4, self.header.frame_length as usize)
        };
        if seq != self.next_seq {
            return Err(EnvelopeError::Authentication(format!(
                "frame {seq} found where frame {} belongs: frames are missing or reordered",
                self.next_seq
            )));
        }
        let expected_iv = frame_iv(seq);
        if self.raw[iv_at..iv_at + IV_LEN] != expected_iv {
            return Err(EnvelopeError::Authentication(format!(
                "frame {seq} has an IV that is not its sequence number's"
            )));
        }
        let start = self.raw.len();
        self.fill(content_len, "content")?;
        self.fill(TAG_LEN, "authentication tag")?;
        if let Some(v) = self.verifier.as_mut() {
            v.update(&self.raw);
        }
        let tag_at = start + content_len;
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&self.raw[tag_at..tag_at + TAG_LEN]);
        let aad = frame_aad(&self.header.message_id, is_final, seq, content_len as u64);
        self.cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(&expected_iv),
                &aad,
                &mut self.raw[start..tag_at],
                Tag::from_slice(&tag),
            )
            .map_err(|_| {
                EnvelopeError::Authentication(format!(
                    "frame {seq}{} does not authenticate",
                    if is_final { " (final)" } else { "" }
                ))
            })?;
        if is_final {
            self.finish_message()?;
            self.state = State::Done;
        } else {
            self.next_seq = seq
                .checked_add(1)
                .ok_or_else(|| EnvelopeError::Malformed("sequence numbers overflow".into()))?;
        }
        self.pos = start;
        self.end = tag_at;
        Ok(())
    }

    /// After the final frame: the signature (signing suite), then nothing more.
    fn finish_message(&mut self) -> Result<(), EnvelopeError> {
        if let Some(verifier) = self.verifier.take() {
            let mut len = [0u8; 2];
            read_exact_or(&mut self.input, &mut len, "the signature's length")?;
            let n = usize::from(u16::from_be_bytes(len));
            let mut sig = Vec::with_capacity(n);
            let got = (&mut self.input)
                .take(n as u64)
                .read_to_end(&mut sig)
                .map_err(EnvelopeError::from_io)?;
            if got < n {
                return Err(EnvelopeError::Truncated(
                    "the message ends in its signature".into(),
                ));
            }
            verifier.verify(&sig)?;
        }
        let mut probe = [0u8; 1];
        loop {
            match self.input.read(&mut probe) {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    return Err(EnvelopeError::Malformed(
                        "bytes follow the end of the message".into(),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(EnvelopeError::from_io(e)),
            }
        }
    }
}

fn read_exact_or<R: Read>(input: &mut R, buf: &mut [u8], what: &str) -> Result<(), EnvelopeError> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => {
                return Err(EnvelopeError::Truncated(format!(
                    "the message ends in {what}"
                )));
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(EnvelopeError::from_io(e)),
        }
    }
    Ok(())
}

/// Every expected pair must be in the header's context with the same value.
pub(crate) fn check_expected_context(
    actual: &BTreeMap<String, String>,
    expected: &BTreeMap<String, String>,
) -> Result<(), EnvelopeError> {
    for (k, v) in expected {
        match actual.get(k) {
            Some(found) if found == v => {}
            Some(_) => {
                return Err(EnvelopeError::Authentication(format!(
                    "encryption context key {:?} has another value in the message",
                    lockbox_api::shorten(k)
                )));
            }
            None => {
                return Err(EnvelopeError::Authentication(format!(
                    "encryption context key {:?} is not in the message",
                    lockbox_api::shorten(k)
                )));
            }
        }
    }
    Ok(())
}

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.end {
                let n = (self.end - self.pos).min(out.len());
                out[..n].copy_from_slice(&self.raw[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            match self.state {
                State::Done => return Ok(0),
                State::Failed => {
                    return Err(EnvelopeError::InvalidInput(
                        "decryption already failed; nothing more is released".into(),
                    )
                    .into());
                }
                State::Frames => {
                    if out.is_empty() {
                        return Ok(0);
                    }
                    if let Err(e) = self.next_frame() {
                        self.state = State::Failed;
                        self.pos = 0;
                        self.end = 0;
                        self.raw.zeroize();
                        return Err(e.into());
                    }
                }
            }
        }
    }
}
