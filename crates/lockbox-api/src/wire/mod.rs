//! The AWS KMS JSON 1.1 protocol, bytes in and bytes out: every operation's request and
//! response bodies, both ways, from one definition per shape.
//!
//! Bodies are JSON objects whose members are named exactly as botocore's KMS model names them
//! (`KeyId`, `Plaintext`, `EncryptionContext`, `KeyMetadata.AWSAccountId`, ...). Blobs are
//! base64 strings, timestamps epoch seconds (fractional when they are not on a whole second),
//! and an error is `{"__type": "<code>", "message": "..."}` ([`WireError::body`]).
//!
//! Each shape is written once (`shapes.rs`): a line per member giving its field, JSON name,
//! kind and mode, from which the codec (`codec.rs`, over the reader and writer of `json.rs`)
//! derives both directions. So the server and the client cannot disagree on a name:
//!
//! - server: [`Request::decode`] a body, call a [`crate::Kms`], [`Response::encode`] the answer;
//! - client: [`Request::encode`] a request, [`Response::decode`] the answer.
//!
//! Decoding follows AWS: a body or member of the wrong JSON type is a
//! `SerializationException` naming the member, a missing required member or a broken model
//! constraint a `ValidationException` in AWS's wording, unknown members are ignored. Members
//! the model has but Lockbox does not implement (`Recipient`,
//! `CustomKeyStoreId`, service principals, ...) are refused with
//! `UnsupportedOperationException` naming them, never silently ignored.
//!
//! Secrets: plaintext is decoded from base64 straight into a zeroizing [`crate::Plaintext`]
//! and its base64 text is wiped; a body that carries plaintext is written into a buffer sized
//! once, and every encoded body comes back in a [`Zeroizing`] buffer.

pub(crate) mod codec;
mod error;
pub(crate) mod json;
pub(crate) mod shapes;
#[cfg(test)]
mod tests;

use zeroize::Zeroizing;

pub use error::WireError;
use json::Output;

use crate::{KmsError, Operation, Request, Response, shorten};

/// The `X-Amz-Target` prefix of every KMS operation.
pub const TARGET_PREFIX: &str = "TrentService.";

/// The content type of AWS JSON 1.1 requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

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
                        shorten(x_amz_target)
                    ),
                )
            })
    }
}

impl Request {
    /// Decodes a request body of `op` (an empty body counts as `{}`). Errors are 400
    /// `SerializationException`, `ValidationException` or `UnsupportedOperationException`,
    /// or the kind a value's own check gives (`NotFoundException` for a malformed key ARN,
    /// ...), worded as AWS words them.
    pub fn decode(op: Operation, body: &[u8]) -> Result<Request, WireError> {
        Request::decode_shape(op, body)
    }

    /// Encodes the request's body (zeroized when dropped: Encrypt's carries plaintext).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut o = Output::new();
        self.write_shape(&mut o);
        o.into_body()
    }
}

impl Response {
    /// Encodes the response's body (zeroized when dropped: the bodies of the operations
    /// where [`Operation::returns_plaintext`] is true carry plaintext).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut o = Output::new();
        self.write_shape(&mut o);
        o.into_body()
    }

    /// Decodes a success body of `op`; a body that does not fit the model is a
    /// `KMSInternalException` naming the operation and what was wrong.
    pub fn decode(op: Operation, body: &[u8]) -> Result<Response, KmsError> {
        Response::decode_shape(op, body).map_err(|e| {
            KmsError::internal(format!(
                "The server's {} response does not fit the AWS KMS model: {}",
                op.name(),
                e.message
            ))
        })
    }
}
