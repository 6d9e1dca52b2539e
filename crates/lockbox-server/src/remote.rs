//! A [`lockbox_api::Kms`] that calls a remote `lockbox serve` (or any AWS KMS endpoint).

use lockbox_api::KmsError;

/// How a request reaches the server: `post` sends one operation's JSON body and returns the
/// HTTP status and response body. The HTTP transport signs with SigV4; tests can plug in an
/// in-process one.
pub trait Transport: Send + Sync {
    /// POSTs `body` to the endpoint with `X-Amz-Target: TrentService.<operation>` and
    /// `Content-Type: application/x-amz-json-1.1`. An `Err` is a failure to get any
    /// response (connection refused, TLS, timeout), as a `KmsError` of kind
    /// `DependencyTimeout` or `KmsInternal` with a message naming the endpoint.
    fn post(&self, operation: &str, body: &[u8]) -> Result<(u16, Vec<u8>), KmsError>;
}
