//! The real frontend: AWS KMS JSON 1.1 (`wire`) authenticated with SigV4 (`sigv4`) against a
//! credentials file (`credentials`).

use std::time::SystemTime;

use lockbox_api::{Kms, Principal, ThrottleClass};

use super::Frontend;
use crate::error::WireError;
use crate::{credentials, sigv4, wire};

/// AWS KMS as botocore and the AWS SDKs speak it: `X-Amz-Target: TrentService.<Op>`, JSON
/// 1.1 bodies, SigV4 for service `kms`.
pub struct AwsKms {
    credentials: credentials::CredentialStore,
}

impl AwsKms {
    /// The frontend, verifying signatures against `credentials`.
    pub fn new(credentials: credentials::CredentialStore) -> Self {
        AwsKms { credentials }
    }
}

impl Frontend for AwsKms {
    type Operation = wire::Operation;

    fn operation(&self, target: &str) -> Result<wire::Operation, WireError> {
        <wire::Operation as wire::FromTarget>::from_target(target)
    }

    fn operation_name(&self, op: wire::Operation) -> &'static str {
        op.name()
    }

    fn throttle_class(&self, op: wire::Operation) -> ThrottleClass {
        op.throttle_class()
    }

    fn throttled_by_request(&self, op: wire::Operation) -> bool {
        op.throttled_by_request()
    }

    fn authenticate(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        region: &dyn sigv4::RegionRule,
        now: SystemTime,
    ) -> Result<Principal, WireError> {
        sigv4::verify(parts, body, &self.credentials, region, "kms", now)
            .map(|c| c.principal().clone())
    }

    fn authenticate_sts(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        region: &dyn sigv4::RegionRule,
        now: SystemTime,
    ) -> Result<Principal, WireError> {
        sigv4::verify(parts, body, &self.credentials, region, "sts", now)
            .map(|c| c.principal().clone())
    }

    fn access_key_id(&self, headers: &http::HeaderMap) -> Option<String> {
        sigv4::presented_access_key_id(headers)
    }

    fn serve(&self, kms: &dyn Kms, op: wire::Operation, body: &[u8]) -> Result<Vec<u8>, WireError> {
        wire::serve(kms, op, body)
    }
}
