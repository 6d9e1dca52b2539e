//! Errors as the wire carries them.

use std::borrow::Cow;

use crate::{ErrorKind, KmsError};

/// An error response: HTTP status, AWS error code (the `__type` member) and message.
///
/// Engine errors keep their AWS exception names ([`WireError::from_kms`]); errors that only
/// the protocol layer can raise (authentication, throttling, malformed requests) use the
/// names AWS services use for them (`InvalidSignatureException`, `ThrottlingException`,
/// `SerializationException`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireError {
    /// The HTTP status code.
    pub status: u16,
    /// The AWS error code, e.g. `NotFoundException`.
    pub code: Cow<'static, str>,
    /// The message for humans.
    pub message: String,
}

impl WireError {
    /// An error with this status, code and message.
    pub fn new(
        status: u16,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        WireError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// The wire form of an engine error: its AWS error code (the kind's exception name, or
    /// the code it carries, such as `ThrottlingException`); status 500 for internal errors,
    /// 503 for an unavailable dependency, 400 otherwise (as AWS KMS answers).
    pub fn from_kms(e: &KmsError) -> Self {
        let status = match e.kind() {
            ErrorKind::KmsInternal => 500,
            ErrorKind::DependencyTimeout => 503,
            _ => 400,
        };
        WireError::new(status, e.code().to_owned(), e.message())
    }

    /// The response body: `{"__type": code, "message": message}`. An empty message is left out, as AWS answers `InvalidCiphertextException`:
    /// `{"__type": code}`.
    pub fn body(&self) -> Vec<u8> {
        if self.message.is_empty() {
            return serde_json::json!({ "__type": self.code })
                .to_string()
                .into_bytes();
        }
        serde_json::json!({ "__type": self.code, "message": self.message })
            .to_string()
            .into_bytes()
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for WireError {}

impl From<KmsError> for WireError {
    fn from(e: KmsError) -> Self {
        WireError::from_kms(&e)
    }
}
