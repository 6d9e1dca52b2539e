//! The AWS KMS JSON 1.1 protocol on the server: [`serve`] decodes a request body with
//! [`lockbox_api::wire`]'s shapes, calls a [`Kms`] and encodes the answer. The shapes, the
//! codec, [`FromTarget`] and [`WireError`] live in lockbox-api, written once for the server
//! and the client (`lockbox_client::RemoteKms`); they are re-exported here.
//!
//! The bodies [`serve`] returns for the operations where [`Operation::returns_plaintext`] is
//! true hold plaintext: zeroize them once sent.

pub use lockbox_api::Operation;
pub use lockbox_api::wire::{CONTENT_TYPE, FromTarget, TARGET_PREFIX, WireError};
use lockbox_api::{Kms, KmsError, Request};

/// Serves one request: decodes `body` (an empty body counts as `{}`) as `op`'s request,
/// calls `kms`, and encodes the response body. Errors are protocol errors (400
/// `SerializationException`, `ValidationException`, `UnsupportedOperationException`) or
/// the engine's, through [`WireError::from_kms`].
pub fn serve(kms: &dyn Kms, op: Operation, body: &[u8]) -> Result<Vec<u8>, WireError> {
    let request = Request::decode(op, body)?;
    let response = kms.call(request)?;
    if response.operation() != op {
        return Err(WireError::from_kms(&KmsError::internal(format!(
            "{} was answered with a {} response.",
            op.name(),
            response.operation().name()
        ))));
    }
    // The buffer moves out without a copy; the caller zeroizes it once sent.
    let mut body = response.encode();
    Ok(std::mem::take(&mut *body))
}
