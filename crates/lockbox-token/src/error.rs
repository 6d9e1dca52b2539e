//! Token-layer errors, classed by what the caller should do about them.

use cryptoki::context::Function;
use cryptoki::error::RvError;

/// What went wrong in the token layer.
///
/// Logs may carry the PKCS#11 function and return code; outward, the engine turns
/// [`TokenError::DecryptFailed`] into one opaque error and never reads it as device loss.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The configuration is wrong or incomplete (module path, PIN source, SOFTHSM2_CONF...).
    #[error("token configuration: {0}")]
    Config(String),
    /// The PKCS#11 module could not be loaded or initialized.
    #[error("cannot load PKCS#11 module {module}: {reason}")]
    Module {
        /// The module path.
        module: String,
        /// Why.
        reason: String,
    },
    /// No token matches the selector.
    #[error("no token with {0} is present")]
    TokenNotFound(String),
    /// More than one token matches the selector.
    #[error("more than one token has {0}; select it by serial number instead")]
    TokenAmbiguous(String),
    /// Login failed (wrong or locked PIN). The PIN itself is never part of the message.
    #[error("login to the token failed: {0}")]
    Login(String),
    /// The token lacks a mechanism or capability Lockbox needs.
    #[error("the token does not support {0}")]
    NotSupported(String),
    /// No Lockbox object with this CKA_ID exists on the token.
    #[error("no token object with CKA_ID {0}")]
    ObjectNotFound(String),
    /// An authenticated decryption failed: wrong key, IV, AAD or tag. Deliberately says no more.
    #[error("decryption failed")]
    DecryptFailed,
    /// The caller's input is not acceptable for the operation (a plaintext too long for an
    /// RSA modulus, ...): a bad request, not a token fault.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The output buffer is smaller than the operation needs.
    #[error("output buffer too small: {needed} bytes needed, {given} given")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        given: usize,
    },
    /// The token or module is not reachable (removed, not present, not initialized), even
    /// after one recovery attempt.
    #[error("the token is unavailable ({function}: {rv})")]
    Unavailable {
        /// The PKCS#11 function that failed.
        function: Function,
        /// Its return code.
        rv: RvError,
    },
    /// Any other PKCS#11 failure.
    #[error("{function} failed: {rv}")]
    Pkcs11 {
        /// The PKCS#11 function that failed.
        function: Function,
        /// Its return code.
        rv: RvError,
    },
    /// A failure inside the cryptoki wrapper that is not a PKCS#11 return code.
    #[error("cryptoki: {0}")]
    Cryptoki(String),
    /// A file-system failure (provisioning, PIN files).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl TokenError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        TokenError::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the token itself is unreachable (as opposed to a bad request or a failed check).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, TokenError::Unavailable { .. })
    }
}

impl From<cryptoki::error::Error> for TokenError {
    fn from(e: cryptoki::error::Error) -> Self {
        match e {
            cryptoki::error::Error::Pkcs11(rv, function) => match fault(rv) {
                Fault::Device => TokenError::Unavailable { function, rv },
                _ => TokenError::Pkcs11 { function, rv },
            },
            other => TokenError::Cryptoki(other.to_string()),
        }
    }
}

/// What a PKCS#11 return code says about the state of our connection to the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The session is gone (closed behind our back, or the token logged us out by closing it).
    Session,
    /// The process is no longer logged in.
    Login,
    /// An object handle went stale (handles are dropped on logout by some tokens).
    Handle,
    /// The token or module is gone or was finalized.
    Device,
    /// Not a connection problem: the request itself failed.
    None,
}

pub(crate) fn fault(rv: RvError) -> Fault {
    match rv {
        RvError::SessionHandleInvalid | RvError::SessionClosed => Fault::Session,
        RvError::UserNotLoggedIn => Fault::Login,
        RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid => Fault::Handle,
        RvError::DeviceRemoved
        | RvError::TokenNotPresent
        | RvError::TokenNotRecognized
        | RvError::CryptokiNotInitialized
        | RvError::SlotIdInvalid
        | RvError::DeviceError => Fault::Device,
        _ => Fault::None,
    }
}
