//! TEMPORARY: DELETE AT THE MERGE of the `wire`, `sigv4` and `credentials` branches.
//!
//! The signatures this module was written against, so that it builds and its tests (which
//! use test doubles, not these) run before those modules exist. Nothing here works: every
//! call that would need the real module fails with an error saying so.

#![allow(dead_code, unreachable_pub, missing_docs)]

const NOT_MERGED: &str = "built without the wire/sigv4/credentials modules (pre-merge shim)";

pub mod wire {
    use lockbox_api::Kms;

    use crate::error::WireError;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Operation(&'static str);

    impl Operation {
        pub fn from_target(_x_amz_target: &str) -> Result<Operation, WireError> {
            Err(WireError::new(
                500,
                "KMSInternalException",
                super::NOT_MERGED,
            ))
        }

        pub fn name(self) -> &'static str {
            self.0
        }
    }

    pub fn serve(_kms: &dyn Kms, _op: Operation, _body: &[u8]) -> Result<Vec<u8>, WireError> {
        Err(WireError::new(
            500,
            "KMSInternalException",
            super::NOT_MERGED,
        ))
    }
}

pub mod credentials {
    use std::path::Path;

    use lockbox_api::Principal;

    #[derive(Debug)]
    pub struct CredentialError(pub String);

    impl std::fmt::Display for CredentialError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl std::error::Error for CredentialError {}

    pub struct Credential {
        principal: Principal,
    }

    impl Credential {
        pub fn principal(&self) -> &Principal {
            &self.principal
        }
    }

    pub struct CredentialStore {}

    pub struct Secret(String);

    impl Secret {
        pub fn expose_secret(&self) -> &str {
            &self.0
        }
    }

    pub struct NewCredential {
        access_key_id: String,
        secret: Secret,
    }

    impl NewCredential {
        pub fn access_key_id(&self) -> &str {
            &self.access_key_id
        }

        pub fn secret(&self) -> &Secret {
            &self.secret
        }
    }

    impl CredentialStore {
        pub fn load(_path: &Path) -> Result<CredentialStore, CredentialError> {
            Err(CredentialError(super::NOT_MERGED.into()))
        }

        pub fn get(&self, _access_key_id: &str) -> Option<&Credential> {
            None
        }

        pub fn create(
            _path: &Path,
            _principal: &Principal,
        ) -> Result<NewCredential, CredentialError> {
            Err(CredentialError(super::NOT_MERGED.into()))
        }
    }
}

pub mod sigv4 {
    use std::time::SystemTime;

    use super::credentials::{Credential, CredentialStore};
    use crate::error::WireError;

    pub fn verify<'c>(
        _parts: &http::request::Parts,
        _body: &[u8],
        _store: &'c CredentialStore,
        _region: &str,
        _service: &str,
        _now: SystemTime,
    ) -> Result<&'c Credential, WireError> {
        Err(WireError::new(
            500,
            "KMSInternalException",
            super::NOT_MERGED,
        ))
    }
}
