//! A test engine that implements `Kms` as the configured default caller (the root of the
//! default account), so tests written before callers existed read as they did. Every call
//! still goes through `Engine::client`: authorized by the key's policy, and audited.
#![allow(dead_code)]

use std::ops::Deref;

use lockbox::Engine;
use lockbox::api::*;

/// An engine whose `Kms` calls are made by its default caller.
pub(crate) struct Root(pub(crate) Engine);

impl Deref for Root {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.0
    }
}

impl Root {
    /// The token's key-material objects: every Lockbox object but the audit log's HMAC key
    /// and mark.
    pub(crate) fn key_objects(
        &self,
    ) -> Result<Vec<lockbox::token::ObjectInfo>, lockbox::token::TokenError> {
        Ok(self
            .0
            .token()
            .list_objects()?
            .into_iter()
            .filter(|o| {
                !o.label
                    .ends_with(&format!("/{}", lockbox::audit::AUDIT_KEY_NAME))
                    && !o
                        .label
                        .ends_with(&format!("/{}", lockbox::audit::AUDIT_MARK_NAME))
            })
            .collect())
    }

    /// The engine acting for `caller` instead.
    pub(crate) fn as_caller(&self, arn: &str) -> lockbox::EngineClient<'_> {
        self.0.client(Caller::new(Principal::parse(arn).unwrap()))
    }
}

impl Kms for Root {
    fn call(&self, request: Request) -> Result<Response, KmsError> {
        self.0.client(self.0.default_caller("test")).call(request)
    }
}
