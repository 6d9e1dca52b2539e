//! The Lockbox engine: AWS KMS semantics over keys held in a PKCS#11 token.
//!
//! This is the crate an appliance embeds. [`Engine::client`] gives a
//! [`Kms`](lockbox_api::Kms) that acts for one caller (a principal in an account): every call
//! is authorized against the key's policy and grants, and audited. Customer master keys are
//! generated inside the token and never leave it; the engine keeps only metadata (key
//! records, policies, aliases, grants, audit) in a sled store; data keys come from the
//! token's RNG and are encrypted by the token under the CMK.
//!
//! Opening an engine on a configured token and using a key:
//!
//! ```no_run
//! use lockbox::api::{Caller, EncryptionContext, EncryptRequest, DecryptRequest, CreateKeyRequest, Kms, Plaintext, Principal};
//! use lockbox::{Config, Engine};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::open(Config::load("/var/lib/lockbox".as_ref())?)?;
//! let app = Principal::parse("arn:aws:iam::000000000000:role/backup-agent")?;
//! let kms = engine.client(Caller::new(app));
//! let key = kms.create_key(CreateKeyRequest::new().with_description("appliance secrets"))?;
//! let ctx = EncryptionContext::from_pairs([("purpose", "backup")])?;
//! let sealed = kms.encrypt(
//!     EncryptRequest::new(key.key_metadata.key_id, Plaintext::copy_from(b"s3cret"))
//!         .with_encryption_context(ctx.clone()),
//! )?;
//! let opened = kms.decrypt(DecryptRequest::new(sealed.ciphertext_blob).with_encryption_context(ctx))?;
//! assert_eq!(opened.plaintext.expose_secret(), b"s3cret");
//! # Ok(()) }
//! ```
//!
//! `examples/appliance.rs` does the same on a SoftHSM token it provisions itself.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod audit;
#[doc(hidden)]
pub mod authz;
pub mod backup;
pub mod blob;
pub mod checkup;
mod client;
mod clock;
mod config;
mod core;
mod engine;
mod error;
mod keykind;
mod lifecycle;
pub mod lock;
mod ops;
pub(crate) mod policy;
mod reconcile;
mod report;
mod store_config;

pub use crate::core::Engine;
pub use backup::{BackupOptions, Manifest};
pub use client::EngineClient;
pub use clock::{Clock, SystemClock};
pub use config::{
    CONFIG_FILE, Config, GCM_RANDOM_IV_BOUND, Lifecycle, PROVISIONED_TOKEN_LABEL, Regions,
};
pub use error::{CONFLICT_MESSAGE, Error, token_error_count};
pub use keykind::{KeySpecSupport, key_spec_support};
pub use lifecycle::{MAINTENANCE_LOCK, MaintenanceThread, MaterialUsage};
/// The vocabulary: requests, responses, ids, errors and the `Kms` trait.
pub use lockbox_api as api;
/// The metadata store's errors (to tell "in use" from "unopenable").
pub use lockbox_store::{Consistency, StoreError};
/// The token layer, for inspecting what the token holds and for SoftHSM set-up.
pub use lockbox_token as token;
pub use reconcile::{ORPHAN_LOCK, ReconcileStage};
pub use report::{MaintenanceReport, MissingMaterial, OpenReport, Orphan, ReconcileReport};
pub use store_config::{
    DEFAULT_CACHE_TTL, DEFAULT_POOL_SIZE, PasswordSource, PostgresConfig, StoreConfig,
};

/// Entries for the fuzz targets in `fuzz/`: parsers of untrusted input that are crate-private,
/// reached without a token. Not API: they may change without notice.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses a key policy document as PutKeyPolicy and CreateKey do (size limit, then the
    /// policy language): `Ok`, or the `MalformedPolicyDocumentException` the caller would get.
    pub fn parse_policy(document: &str) -> Result<(), crate::api::KmsError> {
        crate::authz::parse_policy(document).map(drop)
    }
}
