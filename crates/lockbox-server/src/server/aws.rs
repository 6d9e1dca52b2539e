//! The real frontend: AWS KMS JSON 1.1 (`wire`) authenticated with SigV4 (`sigv4`) against a
//! credentials file (`credentials`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use lockbox_api::{Kms, Principal, ThrottleClass};

use super::Frontend;
use crate::error::WireError;
use crate::{credentials, sigv4, wire};

/// AWS KMS as botocore and the AWS SDKs speak it: `X-Amz-Target: TrentService.<Op>`, JSON
/// 1.1 bodies, SigV4 for service `kms`.
pub struct AwsKms {
    credentials: parking_lot::RwLock<credentials::CredentialStore>,
    file: Option<Watched>,
}

/// The credentials file a frontend reloads when it changes.
struct Watched {
    path: PathBuf,
    seen: parking_lot::Mutex<Option<Stamp>>,
}

/// What tells a file changed: a rewrite (`CredentialStore::create` renames a new file into
/// place: a new inode) or an edit in place (modification time, length).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    std::fs::metadata(path).ok().map(|m| Stamp {
        ino: m.ino(),
        len: m.len(),
        modified: m.modified().ok(),
    })
}

impl AwsKms {
    /// The frontend, verifying signatures against `credentials`.
    pub fn new(credentials: credentials::CredentialStore) -> Self {
        AwsKms {
            credentials: parking_lot::RwLock::new(credentials),
            file: None,
        }
    }

    /// The frontend, verifying signatures against the credentials file at `path`, read now
    /// and again whenever it changes (checked before each authentication: one `stat`), so
    /// credentials are added, rotated and removed without a restart. A changed file that
    /// does not load (bad syntax, wrong mode) is logged, and the credentials loaded before
    /// stay in force.
    pub fn watching(path: &Path) -> Result<Self, credentials::CredentialError> {
        let seen = stamp(path);
        let store = credentials::CredentialStore::load(path)?;
        Ok(AwsKms {
            credentials: parking_lot::RwLock::new(store),
            file: Some(Watched {
                path: path.to_owned(),
                seen: parking_lot::Mutex::new(seen),
            }),
        })
    }

    /// Reloads the credentials file if it changed since it was last read.
    fn refresh(&self) {
        let Some(w) = &self.file else { return };
        let now = stamp(&w.path);
        let mut seen = w.seen.lock();
        if *seen == now {
            return;
        }
        *seen = now;
        match credentials::CredentialStore::load(&w.path) {
            Ok(store) => {
                tracing::info!(
                    path = %w.path.display(),
                    credentials = store.len(),
                    "credentials file reloaded"
                );
                *self.credentials.write() = store;
            }
            Err(e) => tracing::error!(
                error = %e,
                "the changed credentials file does not load; the credentials loaded before \
                 stay in force"
            ),
        }
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
        self.refresh();
        sigv4::verify(parts, body, &self.credentials.read(), region, "kms", now)
            .map(|c| c.principal().clone())
    }

    fn authenticate_sts(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        region: &dyn sigv4::RegionRule,
        now: SystemTime,
    ) -> Result<Principal, WireError> {
        self.refresh();
        sigv4::verify(parts, body, &self.credentials.read(), region, "sts", now)
            .map(|c| c.principal().clone())
    }

    fn access_key_id(&self, headers: &http::HeaderMap) -> Option<String> {
        sigv4::presented_access_key_id(headers)
    }

    fn key_of(
        &self,
        _op: wire::Operation,
        request: &[u8],
        response: Option<&[u8]>,
    ) -> Option<String> {
        match response {
            Some(body) => serde_json::from_slice::<KeyFields>(body).ok()?.key(),
            None => serde_json::from_slice::<KeyFields>(request).ok()?.key(),
        }
    }

    fn serve(&self, kms: &dyn Kms, op: wire::Operation, body: &[u8]) -> Result<Vec<u8>, WireError> {
        wire::serve(kms, op, body)
    }
}

/// The fields of a request or response body that name a key; every other field is skipped
/// unread (serde ignores it), so no plaintext or ciphertext is kept.
#[derive(serde::Deserialize)]
struct KeyFields {
    #[serde(rename = "KeyId")]
    key_id: Option<String>,
    /// ReEncrypt's request.
    #[serde(rename = "DestinationKeyId")]
    destination_key_id: Option<String>,
    /// CreateAlias and UpdateAlias.
    #[serde(rename = "TargetKeyId")]
    target_key_id: Option<String>,
    /// CreateKey, DescribeKey, ReplicateKey.
    #[serde(rename = "KeyMetadata")]
    key_metadata: Option<KeyMetadataId>,
}

#[derive(serde::Deserialize)]
struct KeyMetadataId {
    #[serde(rename = "Arn")]
    arn: Option<String>,
}

impl KeyFields {
    fn key(self) -> Option<String> {
        self.key_metadata
            .and_then(|m| m.arn)
            .or(self.key_id)
            .or(self.destination_key_id)
            .or(self.target_key_id)
    }
}
