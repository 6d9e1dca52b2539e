//! What can go wrong, in words that name the field, frame or key at fault.

use std::io;

use lockbox_api::KmsError;

/// Why an envelope operation failed.
///
/// Nothing here carries key material or plaintext; messages name fields, frames and key ids.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// A parameter of the call is not acceptable (frame length 0, a reserved context key, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The bytes are not a message this library can read: bad field values or lengths.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The message ended early: in a field, or with no final frame.
    #[error("truncated message: {0}")]
    Truncated(String),
    /// Header authentication, key commitment, a frame's tag or the signature did not verify.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// No encrypted data key in the message could be decrypted with the allowed keys.
    #[error("no encrypted data key could be decrypted: {0}")]
    NoDecryptableKey(String),
    /// A limit of the format or of the caller's configuration was reached.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// The message uses a format version, algorithm suite or content type not supported here.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The KMS refused or failed a call.
    #[error("KMS call failed: {0}")]
    Kms(#[from] KmsError),
    /// Reading the input or writing the output failed.
    #[error("I/O error: {0}")]
    Io(io::Error),
}

impl EnvelopeError {
    /// Recovers the envelope error an `io::Error` from a `Read`/`Write` adapter carries, or
    /// wraps a plain I/O error.
    pub fn from_io(e: io::Error) -> EnvelopeError {
        if e.get_ref().is_some_and(|inner| inner.is::<EnvelopeError>()) {
            match e
                .into_inner()
                .map(|inner| inner.downcast::<EnvelopeError>())
            {
                Some(Ok(env)) => return *env,
                // Unreachable after the check above; keep the error rather than panic.
                Some(Err(other)) => return EnvelopeError::Io(io::Error::other(other)),
                None => return EnvelopeError::Io(io::Error::other("I/O error")),
            }
        }
        EnvelopeError::Io(e)
    }

    /// Whether the message itself is bad (malformed, truncated, tampered or unreadable with
    /// the keys given), as opposed to an I/O, KMS or caller error.
    pub fn is_bad_message(&self) -> bool {
        matches!(
            self,
            EnvelopeError::Malformed(_)
                | EnvelopeError::Truncated(_)
                | EnvelopeError::Authentication(_)
                | EnvelopeError::NoDecryptableKey(_)
                | EnvelopeError::Unsupported(_)
        )
    }
}

impl From<io::Error> for EnvelopeError {
    fn from(e: io::Error) -> Self {
        EnvelopeError::from_io(e)
    }
}

impl From<EnvelopeError> for io::Error {
    fn from(e: EnvelopeError) -> Self {
        match e {
            EnvelopeError::Io(io) => io,
            other => {
                let kind = if other.is_bad_message() {
                    io::ErrorKind::InvalidData
                } else {
                    io::ErrorKind::Other
                };
                io::Error::new(kind, other)
            }
        }
    }
}
