//! The writer: header on creation, a frame whenever a frame's worth of plaintext is
//! buffered, the final frame and the signature on [`Encryptor::finish`].

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::{OsRng, RngCore};
use std::io::{self, Write};
use zeroize::Zeroizing;

use crate::body::{frame_aad, frame_iv};
use crate::error::EnvelopeError;
use crate::header::Header;
use crate::materials::{EncryptionRequest, MaterialsManager};
use crate::parallel::{Batching, batching, map};
use crate::sign::Signer;
use crate::suite::derive_keys;
use crate::{
    EncryptOptions, FINAL_FRAME_MARKER, IV_LEN, MAX_FRAME_LENGTH, MESSAGE_ID_LEN, TAG_LEN,
};

/// Room before the plaintext in the frame buffer: the final frame's marker, sequence
/// number, IV and length (a regular frame uses the last 16 of these bytes).
const PREFIX: usize = 4 + 4 + IV_LEN + 4;

/// Encrypts everything written to it into one message on `W`.
///
/// Dropping it without [`Encryptor::finish`] leaves a message with no final frame, which
/// every reader rejects as truncated.
pub struct Encryptor<W: Write> {
    out: Option<W>,
    cipher: Aes256Gcm,
    message_id: [u8; MESSAGE_ID_LEN],
    frame_length: usize,
    /// One buffer per frame of the batch: `PREFIX` bytes of frame header, the plaintext,
    /// then the tag once encrypted. Frames `0..=cur` hold plaintext; all but `cur` are full.
    slots: Vec<Zeroizing<Vec<u8>>>,
    cur: usize,
    batching: Batching,
    next_seq: u32,
    signer: Option<Signer>,
    declared_length: Option<u64>,
    written: u64,
    failed: bool,
    header: Header,
}

impl<W: Write> Encryptor<W> {
    /// Gets materials for the message, writes its header to `out`, and is ready for
    /// plaintext. `plaintext_length`, when given, is enforced (a cache needs it to count).
    pub fn new(
        materials: &dyn MaterialsManager,
        options: &EncryptOptions,
        plaintext_length: Option<u64>,
        mut out: W,
    ) -> Result<Encryptor<W>, EnvelopeError> {
        if options.frame_length == 0 || options.frame_length > MAX_FRAME_LENGTH {
            return Err(EnvelopeError::InvalidInput(format!(
                "frame length {} is outside 1..={MAX_FRAME_LENGTH}",
                options.frame_length
            )));
        }
        let frame_length = options.frame_length as usize;
        if let Some(n) = plaintext_length {
            let frames = frames_needed(n, options.frame_length);
            if frames > u64::from(FINAL_FRAME_MARKER) {
                return Err(EnvelopeError::Limit(format!(
                    "{n} bytes in frames of {frame_length} need {frames} frames; a message \
                     holds at most {FINAL_FRAME_MARKER}"
                )));
            }
        }
        let mats = materials.encryption_materials(&EncryptionRequest {
            context: &options.context,
            suite: options.suite,
            plaintext_length,
        })?;
        if mats.suite != options.suite {
            return Err(EnvelopeError::InvalidInput(format!(
                "the materials manager returned suite 0x{:04X} for a request of 0x{:04X}",
                mats.suite.id(),
                options.suite.id()
            )));
        }
        let mut message_id = [0u8; MESSAGE_ID_LEN];
        OsRng.fill_bytes(&mut message_id);
        let keys = derive_keys(mats.suite, mats.data_key.bytes(), &message_id);
        let cipher = Aes256Gcm::new_from_slice(keys.encryption.as_ref())
            .map_err(|_| EnvelopeError::InvalidInput("bad derived key length".into()))?;
        let header = Header {
            suite: mats.suite,
            message_id,
            context: mats.context.clone(),
            encrypted_data_keys: mats.encrypted_data_keys.clone(),
            frame_length: options.frame_length,
            commitment: keys.commitment,
        };
        let mut bytes = header.serialize()?;
        let tag = cipher
            .encrypt_inout_detached(
                &Nonce::from([0u8; IV_LEN]),
                &bytes,
                (&mut [0u8; 0][..]).into(),
            )
            .map_err(|_| EnvelopeError::InvalidInput("header authentication failed".into()))?;
        bytes.extend_from_slice(&tag);
        let mut signer = mats.signing_key.clone().map(Signer::new);
        if let Some(s) = signer.as_mut() {
            s.update(&bytes);
        }
        out.write_all(&bytes).map_err(EnvelopeError::Io)?;
        let first = plaintext_length.map_or(frame_length, |n| {
            usize::try_from(n).map_or(frame_length, |n| n.min(frame_length))
        });
        let mut buf = Zeroizing::new(Vec::with_capacity(PREFIX + first + TAG_LEN));
        buf.resize(PREFIX, 0);
        let batching = batching(options.threads, frame_length);
        // The data key is zeroized here unless a cache still holds the materials.
        drop(mats);
        Ok(Encryptor {
            out: Some(out),
            cipher,
            message_id,
            frame_length,
            slots: vec![buf],
            cur: 0,
            batching,
            next_seq: 1,
            signer,
            declared_length: plaintext_length,
            written: 0,
            failed: false,
            header,
        })
    }

    /// The header this message carries (its context includes any key the library added).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Writes the final frame and, for the signing suite, the signature; flushes and returns
    /// the output.
    pub fn finish(mut self) -> Result<W, EnvelopeError> {
        if self.failed {
            return Err(EnvelopeError::InvalidInput(
                "an earlier write failed; the message is incomplete".into(),
            ));
        }
        if let Some(n) = self.declared_length
            && self.written != n
        {
            self.failed = true;
            return Err(EnvelopeError::InvalidInput(format!(
                "{} bytes were written but the plaintext length was declared as {n}",
                self.written
            )));
        }
        self.flush_batch(true)?;
        let footer = match self.signer.take() {
            Some(s) => Some(s.footer()?),
            None => None,
        };
        let mut out = self
            .out
            .take()
            .ok_or_else(|| EnvelopeError::InvalidInput("finished twice".into()))?;
        if let Some(f) = footer {
            out.write_all(&f).map_err(EnvelopeError::Io)?;
        }
        out.flush().map_err(EnvelopeError::Io)?;
        Ok(out)
    }

    /// Encrypts frames `0..=cur` (the last one final if `last_is_final`) on the batch's
    /// threads, then signs and writes them in order.
    fn flush_batch(&mut self, last_is_final: bool) -> Result<(), EnvelopeError> {
        let count = self.cur + 1;
        let first = self.next_seq;
        let last = u64::from(first) + count as u64 - 1;
        let last_regular = if last_is_final { last - 1 } else { last };
        if first == 0
            || last_regular >= u64::from(FINAL_FRAME_MARKER)
            || last > u64::from(FINAL_FRAME_MARKER)
        {
            self.failed = true;
            return Err(EnvelopeError::Limit(format!(
                "a message holds at most {FINAL_FRAME_MARKER} frames"
            )));
        }
        let cipher = &self.cipher;
        let message_id = &self.message_id;
        let mut jobs: Vec<(&mut Zeroizing<Vec<u8>>, u32, bool)> = self.slots[..count]
            .iter_mut()
            .zip(first..)
            .enumerate()
            .map(|(i, (buf, seq))| (buf, seq, last_is_final && i + 1 == count))
            .collect();
        let starts = map(&mut jobs, self.batching.threads, |(buf, seq, is_final)| {
            seal_frame(cipher, message_id, buf, *seq, *is_final)
        });
        drop(jobs);
        let Some(out) = self.out.as_mut() else {
            return Err(EnvelopeError::InvalidInput("finished twice".into()));
        };
        for (buf, start) in self.slots[..count].iter_mut().zip(starts) {
            let start = match start {
                Ok(s) => s,
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            };
            if let Some(s) = self.signer.as_mut() {
                s.update(&buf[start..]);
            }
            if let Err(e) = out.write_all(&buf[start..]) {
                self.failed = true;
                return Err(EnvelopeError::Io(e));
            }
            buf.truncate(PREFIX);
        }
        self.cur = 0;
        // Past the final frame nothing more is written; wrapping only happens then.
        self.next_seq = first.wrapping_add(count as u32);
        Ok(())
    }
}

/// Encrypts one frame in place and fills in its header fields; returns where the frame's
/// bytes start in `buf` (the final frame's header is 8 bytes longer).
fn seal_frame(
    cipher: &Aes256Gcm,
    message_id: &[u8; MESSAGE_ID_LEN],
    buf: &mut Zeroizing<Vec<u8>>,
    seq: u32,
    is_final: bool,
) -> Result<usize, EnvelopeError> {
    let len = buf.len() - PREFIX;
    let aad = frame_aad(message_id, is_final, seq, len as u64);
    let iv = frame_iv(seq);
    let tag = cipher
        .encrypt_inout_detached(&Nonce::from(iv), &aad, (&mut buf[PREFIX..]).into())
        .map_err(|_| EnvelopeError::Limit("frame too long for AES-GCM".into()))?;
    buf.extend_from_slice(&tag);
    if is_final {
        buf[0..4].copy_from_slice(&FINAL_FRAME_MARKER.to_be_bytes());
        buf[4..8].copy_from_slice(&seq.to_be_bytes());
        buf[8..20].copy_from_slice(&iv);
        // `len` is at most the frame length, itself at most MAX_FRAME_LENGTH < 2^32.
        buf[20..24].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(0)
    } else {
        buf[8..12].copy_from_slice(&seq.to_be_bytes());
        buf[12..24].copy_from_slice(&iv);
        Ok(8)
    }
}

/// How many frames `n` plaintext bytes take: the final frame holds 0..=`frame_length`
/// bytes, so a multiple of the frame length ends in a full final frame, and an empty
/// plaintext is one empty final frame.
fn frames_needed(n: u64, frame_length: u32) -> u64 {
    n.div_ceil(u64::from(frame_length)).max(1)
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(EnvelopeError::InvalidInput(
                "an earlier write failed; the message is incomplete".into(),
            )
            .into());
        }
        if let Some(n) = self.declared_length
            && self.written.saturating_add(data.len() as u64) > n
        {
            self.failed = true;
            return Err(EnvelopeError::InvalidInput(format!(
                "more than the declared {n} plaintext bytes were written"
            ))
            .into());
        }
        let mut rest = data;
        while !rest.is_empty() {
            let pending = self.slots[self.cur].len() - PREFIX;
            if pending == self.frame_length {
                // The current frame is full and more plaintext follows: it is a regular frame.
                if self.cur + 1 == self.batching.frames {
                    self.flush_batch(false)?;
                } else {
                    self.cur += 1;
                    if self.slots.len() == self.cur {
                        let mut buf = Zeroizing::new(Vec::with_capacity(
                            PREFIX + self.frame_length + TAG_LEN,
                        ));
                        buf.resize(PREFIX, 0);
                        self.slots.push(buf);
                    }
                }
                continue;
            }
            let slot = &mut self.slots[self.cur];
            let take = (self.frame_length - pending).min(rest.len());
            if slot.capacity() < slot.len() + take + TAG_LEN {
                // Grow once, to a whole frame, into a fresh allocation: a reallocation would
                // free the old block with plaintext still in it.
                crate::grow_zeroized(slot, PREFIX + self.frame_length + TAG_LEN);
            }
            slot.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        self.written += data.len() as u64;
        Ok(data.len())
    }

    /// Flushes the output; buffered plaintext stays until a frame is full or `finish`.
    fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}
