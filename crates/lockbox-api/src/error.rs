//! The one error type every `Kms` implementation returns: an AWS exception name and a message.

use std::fmt;

/// The message of every `InvalidCiphertextException`: empty, as AWS KMS answers it. Whatever
/// check failed (a damaged blob, another encryption context, a blob not made here, a key
/// that no longer has the material), the caller learns only the exception's name.
pub const INVALID_CIPHERTEXT_MESSAGE: &str = "";

/// The message of every `DryRunOperationException`.
pub const DRY_RUN_MESSAGE: &str = "The request would have succeeded, but the DryRun option is set.";

/// What went wrong, named exactly as AWS KMS names its exceptions.
///
/// Callers (the CLI, the HTTP server, SDK users) branch on the kind; the message is for humans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller is not allowed to do this: no policy statement or grant allows it, or one
    /// denies it explicitly.
    AccessDenied,
    /// An alias or other named resource already exists.
    AlreadyExists,
    /// An automatic rotation of the key is in progress or due within 20 minutes.
    Conflict,
    /// The system timed out (or could not reach the token) while fulfilling the request.
    DependencyTimeout,
    /// The key is disabled.
    Disabled,
    /// The request would have succeeded, but it set `DryRun`: nothing was done.
    DryRunOperation,
    /// The key named in the request is not the key that encrypted the ciphertext.
    IncorrectKey,
    /// Imported key material is not the material the key had, or not what it expects.
    IncorrectKeyMaterial,
    /// The import token has expired.
    ExpiredImportToken,
    /// The import token is not one issued for this key, or was altered.
    InvalidImportToken,
    /// The alias name is malformed or reserved.
    InvalidAliasName,
    /// The ARN is malformed.
    InvalidArn,
    /// The grant id names no grant of the key.
    InvalidGrantId,
    /// A grant token is malformed or names no grant.
    InvalidGrantToken,
    /// The ciphertext is corrupt, was encrypted under another context, or is not ours.
    InvalidCiphertext,
    /// The key's usage does not allow this operation or algorithm.
    InvalidKeyUsage,
    /// The paging marker is not one this service issued.
    InvalidMarker,
    /// The key's material is not available (the token lost it, or it is not reachable).
    KeyUnavailable,
    /// An internal failure; details are in the engine's log, not in the message.
    KmsInternal,
    /// The key's state does not allow this operation.
    KmsInvalidState,
    /// Verify: the signature is not valid for the message, key and algorithm.
    KmsInvalidSignature,
    /// VerifyMac: the MAC is not valid for the message, key and algorithm.
    KmsInvalidMac,
    /// A quota was exceeded.
    LimitExceeded,
    /// A key policy is not valid JSON, breaks the policy grammar, or would lock its caller out.
    MalformedPolicyDocument,
    /// The key, alias or other resource does not exist.
    NotFound,
    /// A tag is invalid, or there are too many.
    Tag,
    /// The request is well-formed but asks for something this service does not do.
    UnsupportedOperation,
    /// A parameter violates a constraint of the AWS KMS model (length, range, pattern, enum).
    Validation,
}

impl ErrorKind {
    /// Every kind, to recognise AWS error codes by name.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::AccessDenied,
        ErrorKind::AlreadyExists,
        ErrorKind::Conflict,
        ErrorKind::DependencyTimeout,
        ErrorKind::Disabled,
        ErrorKind::DryRunOperation,
        ErrorKind::IncorrectKey,
        ErrorKind::IncorrectKeyMaterial,
        ErrorKind::ExpiredImportToken,
        ErrorKind::InvalidImportToken,
        ErrorKind::InvalidAliasName,
        ErrorKind::InvalidArn,
        ErrorKind::InvalidGrantId,
        ErrorKind::InvalidGrantToken,
        ErrorKind::InvalidCiphertext,
        ErrorKind::InvalidKeyUsage,
        ErrorKind::InvalidMarker,
        ErrorKind::KeyUnavailable,
        ErrorKind::KmsInternal,
        ErrorKind::KmsInvalidState,
        ErrorKind::KmsInvalidSignature,
        ErrorKind::KmsInvalidMac,
        ErrorKind::LimitExceeded,
        ErrorKind::MalformedPolicyDocument,
        ErrorKind::NotFound,
        ErrorKind::Tag,
        ErrorKind::UnsupportedOperation,
        ErrorKind::Validation,
    ];

    /// The AWS exception name, as it appears in `__type` on the wire and in the AWS CLI.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::AccessDenied => "AccessDeniedException",
            ErrorKind::AlreadyExists => "AlreadyExistsException",
            ErrorKind::Conflict => "ConflictException",
            ErrorKind::DependencyTimeout => "DependencyTimeoutException",
            ErrorKind::Disabled => "DisabledException",
            ErrorKind::DryRunOperation => "DryRunOperationException",
            ErrorKind::IncorrectKey => "IncorrectKeyException",
            ErrorKind::IncorrectKeyMaterial => "IncorrectKeyMaterialException",
            ErrorKind::ExpiredImportToken => "ExpiredImportTokenException",
            ErrorKind::InvalidImportToken => "InvalidImportTokenException",
            ErrorKind::InvalidAliasName => "InvalidAliasNameException",
            ErrorKind::InvalidArn => "InvalidArnException",
            ErrorKind::InvalidGrantId => "InvalidGrantIdException",
            ErrorKind::InvalidGrantToken => "InvalidGrantTokenException",
            ErrorKind::InvalidCiphertext => "InvalidCiphertextException",
            ErrorKind::InvalidKeyUsage => "InvalidKeyUsageException",
            ErrorKind::InvalidMarker => "InvalidMarkerException",
            ErrorKind::KeyUnavailable => "KeyUnavailableException",
            ErrorKind::KmsInternal => "KMSInternalException",
            ErrorKind::KmsInvalidSignature => "KMSInvalidSignatureException",
            ErrorKind::KmsInvalidMac => "KMSInvalidMacException",
            ErrorKind::KmsInvalidState => "KMSInvalidStateException",
            ErrorKind::LimitExceeded => "LimitExceededException",
            ErrorKind::MalformedPolicyDocument => "MalformedPolicyDocumentException",
            ErrorKind::NotFound => "NotFoundException",
            ErrorKind::Tag => "TagException",
            ErrorKind::UnsupportedOperation => "UnsupportedOperationException",
            ErrorKind::Validation => "ValidationException",
        }
    }
}

/// The constraint a member of `n` items outside `1..=max` breaks, in AWS's words.
pub(crate) fn length_rule(n: usize, max: usize) -> String {
    length_rule_in(n, 1, max)
}

/// The constraint a member of `n` items (bytes, characters, list entries) outside
/// `min..=max` breaks, in AWS's words: the bound it crosses, never "between".
pub(crate) fn length_rule_in(n: usize, min: usize, max: usize) -> String {
    if n < min {
        format!("Member must have length greater than or equal to {min}")
    } else {
        format!("Member must have length less than or equal to {max}")
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed KMS operation: its kind and a message that says what was wrong.
///
/// Messages never contain plaintext, key material or PINs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsError {
    kind: ErrorKind,
    message: String,
    // The AWS error code, when a remote service answered one that no kind names
    // (`ThrottlingException`, `InvalidSignatureException`, ...).
    code: Option<Box<str>>,
}

impl KmsError {
    /// An error of `kind` with a human-readable `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        KmsError {
            kind,
            message: message.into(),
            code: None,
        }
    }

    /// An error a remote service answered with an AWS error `code` that no [`ErrorKind`]
    /// names (`ThrottlingException`, `InvalidSignatureException`, ...): `kind` is the
    /// nearest kind, [`KmsError::code`] keeps the service's code.
    pub fn with_code(kind: ErrorKind, code: &str, message: impl Into<String>) -> Self {
        KmsError {
            kind,
            message: message.into(),
            code: Some(code.into()),
        }
    }

    /// The AWS error code: the service's own when it answered one no kind names, else the
    /// kind's name (`NotFoundException`).
    pub fn code(&self) -> &str {
        self.code.as_deref().unwrap_or(self.kind.name())
    }

    /// A `ValidationException`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Validation, message)
    }

    /// A `ValidationException` worded the way AWS words model-constraint violations.
    pub fn constraint(field: &str, value: impl fmt::Display, constraint: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
        ))
    }

    /// The `ValidationException` of a blob or list member of `n` items (bytes, tokens)
    /// outside `1..=max`, as AWS words it: "Member must have length greater than or equal to
    /// 1" for an empty one, "less than or equal to <max>" for one too long.
    pub fn length(field: &str, n: usize, max: usize) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: {}",
            length_rule(n, max)
        ))
    }

    /// The `ValidationException` of a number `value` outside `min..=max`, as AWS words it
    /// (and the wire decoder does): "Member must have value greater than or equal to <min>"
    /// below, "less than or equal to <max>" above.
    pub fn range(field: &str, value: i64, min: i64, max: i64) -> Self {
        let rule = if value < min {
            format!("Member must have value greater than or equal to {min}")
        } else {
            format!("Member must have value less than or equal to {max}")
        };
        Self::constraint(field, value, &rule)
    }

    /// A `NotFoundException`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// The one opaque `InvalidCiphertextException`, with AWS's empty message whatever check
    /// failed.
    pub fn invalid_ciphertext() -> Self {
        Self::new(ErrorKind::InvalidCiphertext, INVALID_CIPHERTEXT_MESSAGE)
    }

    /// The `DryRunOperationException` a call with `DryRun` set answers once every check
    /// that decides whether it would succeed has passed, in AWS's words.
    pub fn dry_run() -> Self {
        Self::new(ErrorKind::DryRunOperation, DRY_RUN_MESSAGE)
    }

    /// A `KMSInternalException`. The details belong in the log; the message stays generic.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::KmsInternal, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The human-readable message (may be empty, as for `InvalidCiphertextException`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(self.code())
        } else {
            write!(f, "{}: {}", self.code(), self.message)
        }
    }
}

impl std::error::Error for KmsError {}
