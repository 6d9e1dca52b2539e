//! The writer: header on creation, a frame whenever a frame's worth of plaintext is
//! buffered, the final frame and the signature on [`Encryptor::finish`].

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::{OsRng, RngCore};
use std::io::{self, Read, Write};
use zeroize::Zeroizing;

use crate::body::{frame_aad, frame_iv};
use crate::error::EnvelopeError;
use crate::header::Header;
use crate::materials::{EncryptionRequest, MaterialsManager};
use crate::parallel::{Batching, batching, map, pipeline_frames};
use crate::pipeline::{Pipe, overlapped};
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
/// bytes start in `buf` (the final frame's header is 8 bytes longer). The tag is appended
/// only once the plaintext is encrypted: should the buffer grow for it, the block it leaves
/// holds ciphertext, not plaintext.
fn seal_frame(
    cipher: &Aes256Gcm,
    message_id: &[u8; MESSAGE_ID_LEN],
    buf: &mut Zeroizing<Vec<u8>>,
    seq: u32,
    is_final: bool,
) -> Result<usize, EnvelopeError> {
    let len = buf.len() - PREFIX;
    let tag = seal_body(cipher, message_id, &mut buf[PREFIX..], seq, is_final)?;
    buf.extend_from_slice(&tag);
    Ok(fill_frame_header(buf, len, seq, is_final))
}

/// Encrypts the frame in `frame` in place: `PREFIX` bytes of room for its header, the
/// plaintext, and `TAG_LEN` bytes for the tag, which it fills in with the header fields;
/// returns where the frame's bytes start (the final frame's header is 8 bytes longer).
fn seal_in_place(
    cipher: &Aes256Gcm,
    message_id: &[u8; MESSAGE_ID_LEN],
    frame: &mut [u8],
    seq: u32,
    is_final: bool,
) -> Result<usize, EnvelopeError> {
    let tag_at = frame.len() - TAG_LEN;
    let len = tag_at - PREFIX;
    let tag = seal_body(
        cipher,
        message_id,
        &mut frame[PREFIX..tag_at],
        seq,
        is_final,
    )?;
    frame[tag_at..].copy_from_slice(&tag);
    Ok(fill_frame_header(frame, len, seq, is_final))
}

/// AES-GCM of one frame's content in place; its tag.
fn seal_body(
    cipher: &Aes256Gcm,
    message_id: &[u8; MESSAGE_ID_LEN],
    body: &mut [u8],
    seq: u32,
    is_final: bool,
) -> Result<[u8; TAG_LEN], EnvelopeError> {
    let aad = frame_aad(message_id, is_final, seq, body.len() as u64);
    let tag = cipher
        .encrypt_inout_detached(&Nonce::from(frame_iv(seq)), &aad, body.into())
        .map_err(|_| EnvelopeError::Limit("frame too long for AES-GCM".into()))?;
    Ok(tag.into())
}

/// Writes a frame's header fields into the `PREFIX` bytes before its content of `len`
/// bytes; returns where the frame starts.
fn fill_frame_header(buf: &mut [u8], len: usize, seq: u32, is_final: bool) -> usize {
    let iv = frame_iv(seq);
    if is_final {
        buf[0..4].copy_from_slice(&FINAL_FRAME_MARKER.to_be_bytes());
        buf[4..8].copy_from_slice(&seq.to_be_bytes());
        buf[8..20].copy_from_slice(&iv);
        // `len` is at most the frame length, itself at most MAX_FRAME_LENGTH < 2^32.
        buf[20..24].copy_from_slice(&(len as u32).to_be_bytes());
        0
    } else {
        buf[8..12].copy_from_slice(&seq.to_be_bytes());
        buf[12..24].copy_from_slice(&iv);
        8
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

impl<W: Write> Encryptor<W> {
    /// After a whole stream: the signature (signing suite), then a flush of the output.
    /// `finish` writes the same tail inline: moving it into a shared function changed the
    /// code's layout so that `tests/freed_memory.rs` found plaintext, left on the stack by
    /// an earlier crypto call, in a freed heap block (see the issue-18 note); kept apart.
    fn pipeline_tail(mut self) -> Result<W, EnvelopeError> {
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

    /// Encrypts everything `input` yields, to its end, into this message and finishes it
    /// (as `write` of all of it, then [`Encryptor::finish`]), with reading and writing
    /// overlapped with sealing: the calling thread reads a batch of frames, signs and
    /// writes the batch sealed before it, while another thread seals (see
    /// `EncryptOptions::threads`). Neither `input` nor the output crosses threads.
    ///
    /// Takes the whole plaintext: an encryptor something was already written to is
    /// refused. A declared plaintext length is enforced as by `write`.
    pub fn encrypt_from<R: Read + ?Sized>(mut self, input: &mut R) -> Result<W, EnvelopeError> {
        if self.failed || self.written != 0 {
            return Err(EnvelopeError::InvalidInput(
                "encrypt_from takes the whole plaintext: nothing may be written to the \
                 encryptor before it"
                    .into(),
            ));
        }
        let frame_length = self.frame_length;
        let per_batch = pipeline_frames(self.batching, frame_length);
        let threads = self.batching.threads;
        let declared = self.declared_length;
        let Encryptor {
            out,
            cipher,
            message_id,
            signer,
            ..
        } = &mut self;
        let (cipher, message_id) = (&*cipher, &*message_id);
        let Some(out) = out.as_mut() else {
            return Err(EnvelopeError::InvalidInput("finished twice".into()));
        };
        let written = overlapped(
            |mut batch: SealBatch| {
                batch.seal(cipher, message_id, threads)?;
                Ok(batch)
            },
            |pipe: &mut Pipe<SealBatch, EnvelopeError>| -> Result<u64, EnvelopeError> {
                let mut reader = FrameReader::new(frame_length, declared);
                loop {
                    while !reader.ended && pipe.has_room() {
                        let batch = reader.read_batch(input, per_batch)?;
                        if !pipe.send(batch) {
                            break;
                        }
                    }
                    let Some(sealed) = pipe.recv() else {
                        return reader.check_length();
                    };
                    let mut batch = sealed?;
                    for (slot, &start) in batch.frames.iter().zip(&batch.starts) {
                        let bytes = &slot.buf[start..PREFIX + slot.len + TAG_LEN];
                        if let Some(s) = signer.as_mut() {
                            s.update(bytes);
                        }
                        out.write_all(bytes).map_err(EnvelopeError::Io)?;
                    }
                    reader.spares.append(&mut batch.frames);
                }
            },
        );
        match written {
            Ok(n) => {
                self.written = n;
                self.pipeline_tail()
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }
}

/// One frame's buffer in a whole-stream encryption: `PREFIX` bytes for the frame header,
/// room for plaintext, `TAG_LEN` for the tag. The buffer keeps its length (it is
/// initialized once, and reused for frame after frame); `len` is this frame's plaintext.
struct Slot {
    buf: Zeroizing<Vec<u8>>,
    len: usize,
}

/// A new slot's room for plaintext: the frame length, up to this (larger frames grow as
/// their bytes arrive, so a short input in huge frames does not allocate a whole frame).
const FIRST_ROOM: usize = 4 << 20;

impl Slot {
    fn new(frame_length: usize) -> Slot {
        Slot {
            buf: Zeroizing::new(vec![0u8; PREFIX + frame_length.min(FIRST_ROOM) + TAG_LEN]),
            len: 0,
        }
    }

    fn room(&self) -> usize {
        self.buf.len() - PREFIX - TAG_LEN
    }

    /// Reads up to `frame_length` bytes of plaintext into the slot; `true` if the input
    /// ended before the frame was full.
    fn fill<R: Read + ?Sized>(&mut self, input: &mut R, frame_length: usize) -> io::Result<bool> {
        self.len = 0;
        while self.len < frame_length {
            if self.len == self.room() {
                // Grow into a fresh allocation: a reallocation would free the old block
                // with plaintext still in it (the old one is zeroized as it is dropped).
                let room = (self.room().max(FIRST_ROOM) * 2).min(frame_length);
                let mut fresh = Zeroizing::new(vec![0u8; PREFIX + room + TAG_LEN]);
                fresh[..PREFIX + self.len].copy_from_slice(&self.buf[..PREFIX + self.len]);
                self.buf = fresh;
            }
            let end = PREFIX + self.room().min(frame_length);
            match input.read(&mut self.buf[PREFIX + self.len..end]) {
                Ok(0) => return Ok(true),
                Ok(n) => self.len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }
}

/// Frames read and on their way to be sealed, or sealed and on their way out.
struct SealBatch {
    frames: Vec<Slot>,
    first_seq: u32,
    last_is_final: bool,
    /// Once sealed: where each frame's bytes start in its slot.
    starts: Vec<usize>,
}

impl SealBatch {
    fn seal(
        &mut self,
        cipher: &Aes256Gcm,
        message_id: &[u8; MESSAGE_ID_LEN],
        threads: usize,
    ) -> Result<(), EnvelopeError> {
        let count = self.frames.len() as u64;
        let first = u64::from(self.first_seq);
        let last = first + count - 1;
        let last_regular = if self.last_is_final { last - 1 } else { last };
        if first == 0
            || last_regular >= u64::from(FINAL_FRAME_MARKER)
            || last > u64::from(FINAL_FRAME_MARKER)
        {
            return Err(EnvelopeError::Limit(format!(
                "a message holds at most {FINAL_FRAME_MARKER} frames"
            )));
        }
        let final_at = self.last_is_final.then(|| self.frames.len() - 1);
        let mut jobs: Vec<(usize, &mut Slot)> = self.frames.iter_mut().enumerate().collect();
        let starts = map(&mut jobs, threads, |(i, slot)| {
            // `first + i` is at most FINAL_FRAME_MARKER, checked above.
            let seq = (first + *i as u64) as u32;
            let end = PREFIX + slot.len + TAG_LEN;
            seal_in_place(
                cipher,
                message_id,
                &mut slot.buf[..end],
                seq,
                final_at == Some(*i),
            )
        });
        self.starts = starts.into_iter().collect::<Result<_, _>>()?;
        Ok(())
    }
}

/// The reading side of a whole-stream encryption. A full frame is not known to be regular
/// until one more byte has been read (a plaintext that is a multiple of the frame length
/// ends in a full final frame), so the last full frame read waits in `pending`.
struct FrameReader {
    frame_length: usize,
    declared: Option<u64>,
    pending: Option<Slot>,
    spares: Vec<Slot>,
    next_seq: u64,
    total: u64,
    ended: bool,
}

impl FrameReader {
    fn new(frame_length: usize, declared: Option<u64>) -> FrameReader {
        FrameReader {
            frame_length,
            declared,
            pending: None,
            spares: Vec::new(),
            next_seq: 1,
            total: 0,
            ended: false,
        }
    }

    /// Up to `frames` frames, the last one final if the input ended.
    fn read_batch<R: Read + ?Sized>(
        &mut self,
        input: &mut R,
        frames: usize,
    ) -> Result<SealBatch, EnvelopeError> {
        let first_seq = u32::try_from(self.next_seq).map_err(|_| {
            EnvelopeError::Limit(format!(
                "a message holds at most {FINAL_FRAME_MARKER} frames"
            ))
        })?;
        let mut batch = SealBatch {
            frames: Vec::with_capacity(frames),
            first_seq,
            last_is_final: false,
            starts: Vec::new(),
        };
        while batch.frames.len() < frames && !self.ended {
            let mut slot = self
                .spares
                .pop()
                .unwrap_or_else(|| Slot::new(self.frame_length));
            let ended = slot
                .fill(input, self.frame_length)
                .map_err(EnvelopeError::Io)?;
            self.total += slot.len as u64;
            if let Some(n) = self.declared
                && self.total > n
            {
                return Err(EnvelopeError::InvalidInput(format!(
                    "more than the declared {n} plaintext bytes were written"
                )));
            }
            if let Some(full) = self.pending.take() {
                if ended && slot.len == 0 {
                    // The input ended right after a full frame: that one is final.
                    batch.frames.push(full);
                    self.spares.push(slot);
                    self.ended = true;
                    break;
                }
                batch.frames.push(full);
            }
            if ended {
                // A short (or, for an empty input, empty) frame ends the message.
                batch.frames.push(slot);
                self.ended = true;
            } else {
                self.pending = Some(slot);
            }
        }
        batch.last_is_final = self.ended;
        self.next_seq += batch.frames.len() as u64;
        Ok(batch)
    }

    /// The plaintext's length, once the input has ended: it must be the declared one.
    fn check_length(&self) -> Result<u64, EnvelopeError> {
        match self.declared {
            Some(n) if n != self.total => Err(EnvelopeError::InvalidInput(format!(
                "{} bytes were written but the plaintext length was declared as {n}",
                self.total
            ))),
            _ => Ok(self.total),
        }
    }
}
