//! The AWS KMS JSON 1.1 protocol: every operation's request and response bodies, both ways.
//!
//! Bodies are JSON objects whose members are named exactly as botocore's KMS model names them
//! (`KeyId`, `Plaintext`, `EncryptionContext`, `KeyMetadata.AWSAccountId`, ...). Blobs are
//! base64 strings, timestamps epoch seconds (fractional when they are not on a whole second),
//! and an error is `{"__type": "<code>", "message": "..."}`.
//!
//! - Server side: [`FromTarget::from_target`] reads `X-Amz-Target`, and [`serve`] decodes the
//!   request, calls a [`Kms`] and encodes the answer (or a [`WireError`]).
//! - Client side: [`crate::remote::RemoteKms`] encodes requests and decodes answers with the
//!   same member names; [`error_from_response`] turns an error body into a [`KmsError`].
//!
//! Decoding follows AWS: a body or member of the wrong JSON type is a
//! `SerializationException` naming the member, a missing required member or a broken model
//! constraint a `ValidationException` in AWS's wording, unknown members are ignored. Members
//! the model has but Lockbox does not implement (`DryRun: true`, `Recipient`,
//! `CustomKeyStoreId`, service principals, ...) are refused with
//! `UnsupportedOperationException` naming them, never silently ignored.
//!
//! Secrets: request plaintext is decoded from base64 straight into a zeroizing
//! [`lockbox_api::Plaintext`] and its base64 text is wiped; response plaintext is encoded into
//! a buffer sized once. The bodies [`serve`] returns for the operations where
//! [`Operation::returns_plaintext`] is true hold plaintext: zeroize them once sent.

mod client;
pub(crate) mod json;
mod server;

use lockbox_api::{ErrorKind, Kms, KmsError};

use crate::error::WireError;

pub(crate) use client::*;

/// The `X-Amz-Target` prefix of every KMS operation.
pub const TARGET_PREFIX: &str = "TrentService.";

/// The content type of AWS JSON 1.1 requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

pub use lockbox_api::Operation;

/// Reading an operation from the `X-Amz-Target` header.
pub trait FromTarget: Sized {
    /// The operation an `X-Amz-Target` header names: `TrentService.<Name>`. Anything else
    /// (another service's prefix, an operation Lockbox does not serve) is a 400
    /// `UnknownOperationException`.
    fn from_target(x_amz_target: &str) -> Result<Self, WireError>;
}

impl FromTarget for Operation {
    fn from_target(x_amz_target: &str) -> Result<Operation, WireError> {
        x_amz_target
            .strip_prefix(TARGET_PREFIX)
            .and_then(Operation::from_name)
            .ok_or_else(|| {
                WireError::new(
                    400,
                    "UnknownOperationException",
                    format!(
                        "X-Amz-Target '{}' names no operation this service serves; expected \
                         {TARGET_PREFIX}<Operation>, e.g. {TARGET_PREFIX}Encrypt",
                        json::shorten(x_amz_target)
                    ),
                )
            })
    }
}

/// Serves one request: decodes `body` (an empty body counts as `{}`) as `op`'s request,
/// calls `kms`, and encodes the response body. Errors are protocol errors (400
/// `SerializationException`, `ValidationException`, `UnsupportedOperationException`) or
/// the engine's, through [`WireError::from_kms`].
pub fn serve(kms: &dyn Kms, op: Operation, body: &[u8]) -> Result<Vec<u8>, WireError> {
    server::serve(kms, op, json::Input::parse(body)?)
}

/// The [`KmsError`] an error response stands for: `{"__type", "message"}` with any status.
///
/// A code Lockbox knows becomes its [`ErrorKind`]. A code it does not know is kept as the
/// error's [`KmsError::code`] (so the CLI prints `InvalidSignatureException` as the AWS CLI
/// does, and [`crate::remote::is_throttling`] can tell); its kind is the nearest there is:
/// `DependencyTimeout` for throttling and unavailability (the codes SDKs retry),
/// `AccessDenied` for authentication failures, `Validation` for malformed requests,
/// `UnsupportedOperation` for unknown operations, `KmsInternal` otherwise.
pub fn error_from_response(status: u16, body: &[u8]) -> KmsError {
    let (code, message) = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(m)) => {
            let text = |k: &str| m.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            (
                text("__type")
                    .or_else(|| text("code"))
                    .or_else(|| text("Code")),
                text("message")
                    .or_else(|| text("Message"))
                    .unwrap_or_default(),
            )
        }
        _ => (None, String::new()),
    };
    let Some(code) = code else {
        let kind = if status == 429 || status == 503 || status == 504 {
            ErrorKind::DependencyTimeout
        } else {
            ErrorKind::KmsInternal
        };
        return KmsError::new(
            kind,
            format!("HTTP {status} from the server with no AWS error in the body"),
        );
    };
    let code = bare_code(&code);
    if let Some(kind) = KNOWN_KINDS.iter().copied().find(|k| k.name() == code) {
        return KmsError::new(kind, message);
    }
    let kind = match code {
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "RequestTimeout"
        | "RequestTimeoutException" => ErrorKind::DependencyTimeout,
        "InvalidSignatureException"
        | "IncompleteSignatureException"
        | "MissingAuthenticationTokenException"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "InvalidClientTokenId"
        | "ExpiredTokenException" => ErrorKind::AccessDenied,
        "SerializationException"
        | "ValidationError"
        | "InvalidParameterValue"
        | "MalformedQueryString" => ErrorKind::Validation,
        "UnknownOperationException" => ErrorKind::UnsupportedOperation,
        _ if status >= 500 => ErrorKind::DependencyTimeout,
        _ => ErrorKind::KmsInternal,
    };
    KmsError::with_code(kind, code, message)
}

/// `com.amazonaws.kms#NotFoundException:http://...` -> `NotFoundException`.
fn bare_code(code: &str) -> &str {
    let code = code.rsplit('#').next().unwrap_or(code);
    code.split(':').next().unwrap_or(code)
}

/// Every kind of `lockbox_api::ErrorKind`, to recognise codes by name.
const KNOWN_KINDS: &[ErrorKind] = &[
    ErrorKind::AccessDenied,
    ErrorKind::AlreadyExists,
    ErrorKind::Conflict,
    ErrorKind::DependencyTimeout,
    ErrorKind::Disabled,
    ErrorKind::IncorrectKey,
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
    ErrorKind::LimitExceeded,
    ErrorKind::MalformedPolicyDocument,
    ErrorKind::NotFound,
    ErrorKind::Tag,
    ErrorKind::UnsupportedOperation,
    ErrorKind::Validation,
];
