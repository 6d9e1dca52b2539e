//! Envelope encryption for data of any size, in the AWS Encryption SDK's message format
//! version 2, over any [`lockbox_api::Kms`]: the in-process engine or a remote server.
//!
//! A message is a header (suite, message id, encryption context, one encrypted data key per
//! KMS key, frame length, commitment key, authentication tag), a framed body (AES-256-GCM
//! with a key derived from the data key by HKDF-SHA512), and, for the signing suite, an
//! ECDSA P-384 signature. Messages written here are read by the AWS Encryption SDKs and the
//! other way round. The format as implemented, with every limit, is in
//! `docs/formats/envelope.md`.
//!
//! ```no_run
//! # fn demo(kms: std::sync::Arc<dyn lockbox_api::Kms>) -> Result<(), lockbox_envelope::EnvelopeError> {
//! use lockbox_envelope::{DecryptOptions, EncryptOptions, KmsKeyring};
//! let keyring = KmsKeyring::new(kms, &["alias/app".to_owned()])?;
//! let options = EncryptOptions::default().with_context([("purpose", "backup")]);
//! let message = lockbox_envelope::encrypt(&keyring, &options, b"a large file")?;
//! let (plaintext, header) = lockbox_envelope::decrypt(&keyring, &message, &DecryptOptions::default())?;
//! assert_eq!(plaintext, b"a large file");
//! assert_eq!(header.context["purpose"], "backup");
//! # Ok(()) }
//! ```
//!
//! For streams, [`Encryptor`] is a `Write` and [`Decryptor`] a `Read`, both in memory of one
//! frame. [`CachingMaterials`] reuses data keys within limits, as the AWS SDK's caching
//! materials manager does.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::io::Read;

mod body;
pub mod cache;
pub mod context;
mod decrypt;
mod encrypt;
mod error;
mod header;
pub mod materials;
mod parallel;
mod pipeline;
mod sign;
mod suite;

pub use cache::{CacheLimits, CachingMaterials};
pub use decrypt::Decryptor;
pub use encrypt::Encryptor;
pub use error::EnvelopeError;
pub use header::{EncryptedDataKey, Header};
pub use materials::{DecryptKeys, KmsKeyring, MaterialsManager};
pub use sign::{MessageSigningKey, MessageVerifyingKey, PUBLIC_KEY_CONTEXT_KEY};
pub use suite::Suite;

/// Message format version written and accepted.
pub const MESSAGE_FORMAT_VERSION: u8 = 0x02;
/// Length of the message id in format version 2.
pub const MESSAGE_ID_LEN: usize = 32;
/// Length of the data key and of the derived AES-256 key.
pub const DATA_KEY_LEN: usize = 32;
/// Length of the commitment key carried as algorithm suite data.
pub const COMMITMENT_KEY_LEN: usize = 32;
/// AES-GCM IV length.
pub const IV_LEN: usize = 12;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Content type of a non-framed body (read: refused as unsupported).
pub const CONTENT_TYPE_NON_FRAMED: u8 = 0x01;
/// Content type of a framed body.
pub const CONTENT_TYPE_FRAMED: u8 = 0x02;
/// Largest frame length written or read: 2^31 - 1, as the AWS Encryption SDKs allow.
pub const MAX_FRAME_LENGTH: u32 = i32::MAX as u32;
/// Frame length of [`EncryptOptions::default`], the AWS Encryption SDK's default.
pub const DEFAULT_FRAME_LENGTH: u32 = 4096;
/// Provider id of encrypted data keys made by a KMS.
pub const PROVIDER_ID_AWS_KMS: &str = "aws-kms";
/// Encryption-context keys with this prefix are reserved for the library.
pub const RESERVED_CONTEXT_PREFIX: &str = "aws-crypto-";
/// Body AAD content string of a regular frame.
pub const FRAME_AAD: &str = "AWSKMSEncryptionClient Frame";
/// Body AAD content string of the final frame.
pub const FINAL_FRAME_AAD: &str = "AWSKMSEncryptionClient Final Frame";
/// Sequence-number field value that marks the final frame (so regular frames stop below it).
pub const FINAL_FRAME_MARKER: u32 = 0xFFFF_FFFF;

/// How to encrypt a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptOptions {
    /// The algorithm suite; by default the signing one, as in the AWS Encryption SDK.
    pub suite: Suite,
    /// Plaintext bytes per frame, 1..=2^31-1; by default 4096.
    pub frame_length: u32,
    /// The encryption context: stored in the header in the clear, authenticated, and bound
    /// to every encrypted data key.
    pub context: BTreeMap<String, String>,
    /// Threads that encrypt frames in parallel: 0 (the default) for one per core, at most
    /// 8. Memory is one batch of frames: about 4 MiB per thread, or one frame per thread
    /// when frames are larger.
    pub threads: usize,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        EncryptOptions {
            suite: Suite::DEFAULT,
            frame_length: DEFAULT_FRAME_LENGTH,
            context: BTreeMap::new(),
            threads: 0,
        }
    }
}

impl EncryptOptions {
    /// Sets the suite.
    pub fn with_suite(mut self, suite: Suite) -> Self {
        self.suite = suite;
        self
    }

    /// Sets the frame length.
    pub fn with_frame_length(mut self, frame_length: u32) -> Self {
        self.frame_length = frame_length;
        self
    }

    /// Sets the number of threads (0: one per core).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Adds context pairs.
    pub fn with_context<K: Into<String>, V: Into<String>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.context
            .extend(pairs.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }
}

/// How to decrypt a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecryptOptions {
    /// Refuse messages with more encrypted data keys than this (before any KMS call).
    pub max_encrypted_data_keys: u16,
    /// Refuse messages whose frame length is more than this (before any KMS call): a reader
    /// holds one frame (or a batch of them) in memory. By default the format's maximum,
    /// 2^31 - 1.
    pub max_frame_length: u32,
    /// Pairs the message's encryption context must contain, with these values.
    pub expected_context: BTreeMap<String, String>,
    /// Threads that decrypt frames in parallel, as [`EncryptOptions::threads`]. With more
    /// than one, the reader reads a batch of frames ahead before releasing any of them.
    pub threads: usize,
}

impl Default for DecryptOptions {
    fn default() -> Self {
        DecryptOptions {
            max_encrypted_data_keys: u16::MAX,
            max_frame_length: MAX_FRAME_LENGTH,
            expected_context: BTreeMap::new(),
            threads: 0,
        }
    }
}

/// Gives `buf` at least `capacity` bytes of room by moving its bytes into a fresh
/// allocation; the old one is zeroized (all of its capacity) as it is dropped. `Vec`'s own
/// growth would free the old block with whatever plaintext it held.
pub(crate) fn grow_zeroized(buf: &mut zeroize::Zeroizing<Vec<u8>>, capacity: usize) {
    if buf.capacity() >= capacity {
        return;
    }
    let mut fresh = Vec::with_capacity(capacity);
    fresh.extend_from_slice(buf);
    *buf = zeroize::Zeroizing::new(fresh);
}

/// Encrypts `plaintext` into one message.
pub fn encrypt(
    materials: &dyn MaterialsManager,
    options: &EncryptOptions,
    plaintext: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    let out = Vec::with_capacity(plaintext.len() + 1024);
    let mut enc = Encryptor::new(materials, options, Some(plaintext.len() as u64), out)?;
    std::io::Write::write_all(&mut enc, plaintext).map_err(EnvelopeError::from_io)?;
    enc.finish()
}

/// Decrypts one whole message; the plaintext is returned only when every frame, the
/// signature (signing suite) and the end of the message have been checked.
pub fn decrypt(
    materials: &dyn MaterialsManager,
    message: &[u8],
    options: &DecryptOptions,
) -> Result<(Vec<u8>, Header), EnvelopeError> {
    let mut dec = Decryptor::new(materials, message, options)?;
    let mut plaintext = zeroize::Zeroizing::new(Vec::with_capacity(message.len()));
    dec.read_to_end(&mut plaintext)
        .map_err(EnvelopeError::from_io)?;
    if !dec.is_complete() {
        return Err(EnvelopeError::Truncated("the message did not end".into()));
    }
    let header = dec.header().clone();
    Ok((std::mem::take(&mut *plaintext), header))
}
