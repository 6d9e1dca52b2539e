//! The reader: parses and authenticates the header on creation, then yields each frame's
//! plaintext only after its tag verifies; the final frame's plaintext only after the
//! signature (signing suite) verifies and the input has ended.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::body::{frame_aad, frame_iv};
use crate::error::EnvelopeError;
use crate::header::{Header, HeaderLimits, read_header};
use crate::materials::{DecryptionRequest, MaterialsManager};
use crate::parallel::{Batching, batching, map, pipeline_frames};
use crate::pipeline::{Pipe, overlapped};
use crate::sign::{PUBLIC_KEY_CONTEXT_KEY, Verifier};
use crate::suite::derive_keys;
use crate::{DecryptOptions, FINAL_FRAME_MARKER, IV_LEN, TAG_LEN};

/// A final frame's header: marker, sequence number, IV, content length.
const FINAL_FRAME_HEADER: usize = 4 + 4 + IV_LEN + 4;

/// The most a reader reserves for a frame before its bytes arrive.
const RESERVE_AHEAD: usize = 16 << 20;

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
    batching: Batching,
    /// One buffer per frame of the batch, as read, then decrypted in place.
    slots: Vec<Zeroizing<Vec<u8>>>,
    /// The plaintext range of each decrypted frame of the batch, by slot.
    ready: Vec<(usize, usize)>,
    /// The slot being returned, and how far.
    at: usize,
    pos: usize,
    next_seq: u32,
    state: State,
}

/// A frame read and checked, not yet decrypted.
struct Frame {
    seq: u32,
    is_final: bool,
    /// Where the content starts in the slot; the tag follows it.
    start: usize,
    len: usize,
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
        if header.frame_length > options.max_frame_length {
            return Err(EnvelopeError::Limit(format!(
                "the message's frame length is {}; this reader accepts at most {}",
                header.frame_length, options.max_frame_length
            )));
        }
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
            .decrypt_inout_detached(
                &Nonce::from([0u8; IV_LEN]),
                &body,
                (&mut [0u8; 0][..]).into(),
                &Tag::from(tag),
            )
            .map_err(|_| {
                EnvelopeError::Authentication(
                    "the header authentication tag does not verify".into(),
                )
            })?;
        let frame_length = header.frame_length as usize;
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
            batching: batching(options.threads, frame_length),
            slots: Vec::new(),
            ready: Vec::new(),
            at: 0,
            pos: 0,
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
        matches!(self.state, State::Done) && self.at >= self.ready.len()
    }

    /// Reads `n` more bytes of frame `seq` into `buf`; `what` names the field.
    fn fill(
        input: &mut R,
        buf: &mut Vec<u8>,
        n: usize,
        what: &str,
        seq: u32,
    ) -> Result<(), EnvelopeError> {
        let got = input
            .take(n as u64)
            .read_to_end(buf)
            .map_err(EnvelopeError::from_io)?;
        if got < n {
            return Err(EnvelopeError::Truncated(format!(
                "the message ends in the {what} of frame {seq}"
            )));
        }
        Ok(())
    }

    /// Reads the next frame into `buf` and checks its sequence number, IV and length.
    fn read_frame(&mut self, buf: &mut Zeroizing<Vec<u8>>) -> Result<Frame, EnvelopeError> {
        buf.clear();
        let expected = self.next_seq;
        let got = (&mut self.input)
            .take(4)
            .read_to_end(buf)
            .map_err(EnvelopeError::from_io)?;
        if got == 0 {
            return Err(EnvelopeError::Truncated(if expected == 1 {
                "the message ends after its header, with no frames".into()
            } else {
                format!(
                    "the message ends after frame {} with no final frame",
                    expected - 1
                )
            }));
        }
        if got < 4 {
            return Err(EnvelopeError::Truncated(format!(
                "the message ends in the sequence number of frame {expected}"
            )));
        }
        let first = be32(&buf[0..4]);
        let is_final = first == FINAL_FRAME_MARKER;
        let (seq, iv_at, len) = if is_final {
            Self::fill(&mut self.input, buf, 4 + IV_LEN + 4, "header", expected)?;
            let len = be32(&buf[4 + 4 + IV_LEN..]);
            if len > self.header.frame_length {
                return Err(EnvelopeError::Malformed(format!(
                    "the final frame claims {len} bytes, more than the frame length {}",
                    self.header.frame_length
                )));
            }
            (be32(&buf[4..8]), 8, len as usize)
        } else {
            Self::fill(&mut self.input, buf, IV_LEN, "IV", expected)?;
            (first, 4, self.header.frame_length as usize)
        };
        if seq != expected {
            return Err(EnvelopeError::Authentication(format!(
                "frame {seq} found where frame {expected} belongs: frames are missing or \
                 reordered"
            )));
        }
        if buf[iv_at..iv_at + IV_LEN] != frame_iv(seq) {
            return Err(EnvelopeError::Authentication(format!(
                "frame {seq} has an IV that is not its sequence number's"
            )));
        }
        let start = buf.len();
        if buf.capacity() < start + len + TAG_LEN {
            // The slot holds an earlier frame's plaintext: move to a fresh allocation (the
            // old one is zeroized as it is dropped) rather than let a reallocation free it
            // as it is. Room for a final frame's longer header too, so that a slot sized by
            // a regular frame never grows for the final one; but never more than 16 MiB
            // before the bytes arrive: the frame length is the sender's choice (up to 2 GiB).
            let want = FINAL_FRAME_HEADER + len.min(RESERVE_AHEAD) + TAG_LEN;
            crate::grow_zeroized(buf, want);
        }
        Self::fill(&mut self.input, buf, len, "content", seq)?;
        Self::fill(&mut self.input, buf, TAG_LEN, "authentication tag", seq)?;
        if let Some(v) = self.verifier.as_mut() {
            v.update(buf);
        }
        if !is_final {
            self.next_seq = seq
                .checked_add(1)
                .ok_or_else(|| EnvelopeError::Malformed("sequence numbers overflow".into()))?;
        }
        Ok(Frame {
            seq,
            is_final,
            start,
            len,
        })
    }

    /// Reads a batch of frames (up to the final one), decrypts them on the batch's threads,
    /// and, after the final frame, checks the signature and the end of the input. Nothing of
    /// the batch is released unless all of it checked out.
    fn next_batch(&mut self) -> Result<(), EnvelopeError> {
        self.ready.clear();
        self.at = 0;
        self.pos = 0;
        let slots = std::mem::take(&mut self.slots);
        let mut batch = match self.read_batch(slots, self.batching.frames) {
            Ok(b) => b,
            Err((e, slots)) => {
                self.slots = slots;
                return Err(e);
            }
        };
        let opened = batch.open(&self.cipher, &self.header.message_id, self.batching.threads);
        self.slots = std::mem::take(&mut batch.slots);
        opened?;
        if batch.is_final() {
            self.finish_message()?;
            self.state = State::Done;
        }
        self.ready = batch
            .frames
            .iter()
            .map(|f| (f.start, f.start + f.len))
            .collect();
        Ok(())
    }

    /// Reads up to `count` frames into `slots` (more are added as needed), stopping after
    /// the final one. On failure the slots come back with the error.
    #[allow(clippy::type_complexity)]
    fn read_batch(
        &mut self,
        mut slots: Vec<Zeroizing<Vec<u8>>>,
        count: usize,
    ) -> Result<OpenBatch, (EnvelopeError, Vec<Zeroizing<Vec<u8>>>)> {
        let mut frames = Vec::with_capacity(count);
        while frames.len() < count {
            if slots.len() == frames.len() {
                slots.push(Zeroizing::new(Vec::new()));
            }
            match self.read_frame(&mut slots[frames.len()]) {
                Ok(f) => {
                    let fin = f.is_final;
                    frames.push(f);
                    if fin {
                        break;
                    }
                }
                Err(e) => return Err((e, slots)),
            }
        }
        Ok(OpenBatch { slots, frames })
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

impl<R: Read> Decryptor<R> {
    /// Decrypts the whole message into `out`, with reading and writing overlapped with the
    /// decryption: the calling thread reads a batch of frames, and writes the batch opened
    /// before it, while another thread opens (see `DecryptOptions::threads`). What reaches
    /// `out` is what `read` would release, in the same order: a batch only once every frame
    /// of it authenticated, the final one only once the signature verified and the input
    /// ended. `Ok` means the whole message was read and verified.
    ///
    /// Takes the whole message: a decryptor something was already read from is refused.
    pub fn decrypt_to<W: Write + ?Sized>(mut self, out: &mut W) -> Result<(), EnvelopeError> {
        if !matches!(self.state, State::Frames) || !self.ready.is_empty() || self.next_seq != 1 {
            return Err(EnvelopeError::InvalidInput(
                "decrypt_to takes the whole message: nothing may be read from the decryptor \
                 before it"
                    .into(),
            ));
        }
        let per_batch = pipeline_frames(self.batching, self.header.frame_length as usize);
        let threads = self.batching.threads;
        let cipher = self.cipher.clone();
        let message_id = self.header.message_id;
        let result = overlapped(
            |mut batch: OpenBatch| {
                batch.open(&cipher, &message_id, threads)?;
                Ok(batch)
            },
            |pipe: &mut Pipe<OpenBatch, EnvelopeError>| -> Result<(), EnvelopeError> {
                let mut spares: Vec<Zeroizing<Vec<u8>>> = Vec::new();
                let mut read_all = false;
                // A read that failed: reported once the batches before it are out, as
                // `read` would have released them first.
                let mut failed_read = None;
                loop {
                    while !read_all && failed_read.is_none() && pipe.has_room() {
                        match self.read_batch(std::mem::take(&mut spares), per_batch) {
                            Ok(batch) => {
                                read_all = batch.is_final();
                                if !pipe.send(batch) {
                                    break;
                                }
                            }
                            Err((e, slots)) => {
                                spares = slots;
                                failed_read = Some(e);
                            }
                        }
                    }
                    let Some(opened) = pipe.recv() else {
                        return match failed_read {
                            Some(e) => Err(e),
                            None => Ok(()),
                        };
                    };
                    let mut batch = opened?;
                    if batch.is_final() {
                        self.finish_message()?;
                    }
                    for (slot, f) in batch.slots.iter().zip(&batch.frames) {
                        out.write_all(&slot[f.start..f.start + f.len])
                            .map_err(EnvelopeError::Io)?;
                    }
                    spares.append(&mut batch.slots);
                }
            },
        );
        self.state = match &result {
            Ok(()) => State::Done,
            Err(_) => State::Failed,
        };
        result
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
            if let Some(&(start, end)) = self.ready.get(self.at) {
                let from = start + self.pos;
                if from < end {
                    let n = (end - from).min(out.len());
                    out[..n].copy_from_slice(&self.slots[self.at][from..from + n]);
                    self.pos += n;
                    return Ok(n);
                }
                self.at += 1;
                self.pos = 0;
                continue;
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
                    if let Err(e) = self.next_batch() {
                        self.state = State::Failed;
                        self.ready.clear();
                        for slot in &mut self.slots {
                            slot.zeroize();
                        }
                        return Err(e.into());
                    }
                }
            }
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

/// Frames read and checked, to be opened; then opened, to be released.
struct OpenBatch {
    /// One buffer per frame (and maybe spare ones after them).
    slots: Vec<Zeroizing<Vec<u8>>>,
    frames: Vec<Frame>,
}

impl OpenBatch {
    fn is_final(&self) -> bool {
        self.frames.last().is_some_and(|f| f.is_final)
    }

    /// Authenticates and decrypts every frame, on up to `threads` threads.
    fn open(
        &mut self,
        cipher: &Aes256Gcm,
        message_id: &[u8; crate::MESSAGE_ID_LEN],
        threads: usize,
    ) -> Result<(), EnvelopeError> {
        let mut jobs: Vec<(&mut Zeroizing<Vec<u8>>, &Frame)> =
            self.slots.iter_mut().zip(self.frames.iter()).collect();
        let opened = map(&mut jobs, threads, |(buf, f)| {
            open_frame(cipher, message_id, buf, f)
        });
        opened.into_iter().collect()
    }
}

/// Authenticates and decrypts one frame in place.
fn open_frame(
    cipher: &Aes256Gcm,
    message_id: &[u8; crate::MESSAGE_ID_LEN],
    buf: &mut Zeroizing<Vec<u8>>,
    f: &Frame,
) -> Result<(), EnvelopeError> {
    let tag_at = f.start + f.len;
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&buf[tag_at..tag_at + TAG_LEN]);
    let aad = frame_aad(message_id, f.is_final, f.seq, f.len as u64);
    cipher
        .decrypt_inout_detached(
            &Nonce::from(frame_iv(f.seq)),
            &aad,
            (&mut buf[f.start..tag_at]).into(),
            &Tag::from(tag),
        )
        .map_err(|_| {
            EnvelopeError::Authentication(format!(
                "frame {}{} does not authenticate",
                f.seq,
                if f.is_final { " (final)" } else { "" }
            ))
        })
}
