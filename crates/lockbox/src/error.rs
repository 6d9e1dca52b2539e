//! Errors of opening an engine, and how lower-layer failures become AWS error kinds.

use lockbox_api::{ErrorKind, KmsError};
use lockbox_store::StoreError;
use lockbox_token::TokenError;

/// Why an engine could not be opened or provisioned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is missing, unreadable or wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// The token could not be opened.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The metadata store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit log failed or refused (a failed write stops it; a truncated log is not
    /// opened).
    #[error("audit log: {0}")]
    Audit(String),
    /// A backup or restore failed or refused (the message names the file and the reason).
    #[error("backup: {0}")]
    Backup(String),
    /// Another process holds the data directory's lock.
    #[error("{} is in use by another Lockbox process{}; only one may open it at a time",
        .dir.display(), .holder.as_ref().map(|h| format!(" (process {h})")).unwrap_or_default())]
    InUse {
        /// The data directory.
        dir: std::path::PathBuf,
        /// The holder, `pid (command)`, when `/proc/locks` shows it.
        holder: Option<String>,
    },
}

/// Token failures seen by operations in this process (not counting a ciphertext the token
/// could not decrypt, which is the ciphertext's fault): the server's metrics show it.
static TOKEN_ERRORS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many token failures operations in this process have met (unreachable token, failed
/// PKCS#11 call); for monitoring (`lockbox serve`'s `/metrics`).
pub fn token_error_count() -> u64 {
    TOKEN_ERRORS.load(std::sync::atomic::Ordering::Relaxed)
}

/// A token failure seen by an operation. The details go to the log; the caller gets a kind
/// it can act on and a message that leaks nothing.
pub(crate) fn from_token(op: &'static str, e: TokenError) -> KmsError {
    if !matches!(e, TokenError::DecryptFailed) {
        TOKEN_ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    match e {
        TokenError::DecryptFailed => KmsError::invalid_ciphertext(),
        // TokenNotFound here means recovery looked for the token again and it was gone.
        TokenError::Unavailable { .. } | TokenError::TokenNotFound(_) => {
            tracing::error!(op, error = %e, "token unavailable");
            KmsError::new(
                ErrorKind::DependencyTimeout,
                "The hardware security module is not reachable; try again later.",
            )
        }
        other => {
            tracing::error!(op, error = %other, "token operation failed");
            KmsError::internal("The token failed to perform the operation.")
        }
    }
}

/// A store failure seen by an operation.
/// What a call answers when the key it changes was changed by another node meanwhile and
/// the call could not redo its change itself: nothing was changed, and a retry (which AWS
/// SDKs make on their own for a KMSInternalException) reads the key afresh.
pub const CONFLICT_MESSAGE: &str = "The key was changed by another request while this one ran; nothing was changed. Retry the request.";

pub(crate) fn from_store(op: &'static str, e: StoreError) -> KmsError {
    if let StoreError::Conflict = e {
        // Nothing was written; the caller's retry reads the record afresh.
        tracing::info!(op, "a key record changed on another node during the call");
        return KmsError::internal(CONFLICT_MESSAGE);
    }
    tracing::error!(op, error = %e, "metadata store failed");
    KmsError::internal("The metadata store failed.")
}
