//! Lockbox's PKCS#11 layer: the only crate that links cryptoki.
//!
//! It loads a module from configuration (once per process, with OS locking), finds the token
//! by label or serial (never by slot index), logs in with a PIN from an environment variable
//! or a private file, and offers the typed operations the engine needs: generate CMK
//! material from a [`SecretKeyTemplate`] or a [`KeyPairTemplate`] as non-extractable token
//! objects (every security attribute set explicitly), AES-256-GCM into caller-sized buffers,
//! random bytes, enumerate and destroy Lockbox objects.
//!
//! Behind those operations: an anchor session that stays open (closing the last session logs
//! the process out), a session pool, an object-handle cache keyed by CKA_ID, and one
//! transparent recovery from session, login and stale-handle faults. A failed tag check is
//! [`TokenError::DecryptFailed`] whatever code the token used, and is never taken for device
//! loss.
//!
//! [`softhsm`] provisions a SoftHSM token in a directory of its own, for development and
//! tests. With the `test-support` feature, `testing` runs each test against a throwaway
//! token in a child process.
//!
//! A [`Pin`] does not print and cannot be copied:
//!
//! ```compile_fail
//! let pin = lockbox_token::Pin::new("1234".into());
//! println!("{:?}", pin);
//! ```
//!
//! ```compile_fail
//! let pin = lockbox_token::Pin::new("1234".into());
//! println!("{}", pin);
//! ```
//!
//! ```compile_fail
//! let pin = lockbox_token::Pin::new("1234".into());
//! let copy = pin.clone();
//! ```
#![deny(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod config;
mod error;
mod ffi;
mod module;
pub mod oaep;
pub mod softhsm;
#[cfg(feature = "test-support")]
pub mod testing;
mod token;

pub use config::{
    DEFAULT_LABEL_PREFIX, DEFAULT_MAX_SESSION_COPIES, DEFAULT_REPLICATION_WAIT, IvGeneration, Pin,
    PinSource, TokenConfig, TokenSelector,
};
pub use error::TokenError;
pub use module::SOFTHSM2_CONF;
#[cfg(feature = "test-support")]
pub use token::HIDE_CAPABILITIES_ENV;
pub use token::{
    Capabilities, CreationWatch, Curve, EcPrivateComponents, EcPurpose, GCM_IV_LEN, GCM_TAG_LEN,
    GcmSealed, HMAC_SHA256_LEN, HmacDigest, KeyObjectReport, KeyPairObjects, KeyPairTemplate,
    KeySizes, Mech, ObjectId, ObjectInfo, ObjectsHeld, PRIVATE_KEY_USAGES, PUBLIC_KEY_USAGES,
    RSA_PUBLIC_EXPONENT, Requirement, RsaBits, RsaPrivateComponents, RsaPurpose, SECRET_KEY_USAGES,
    SecretKeyTemplate, Token, TokenDescription, Usage, Usages, ValueAccess, curve_name,
};
pub use token::{MaterialFingerprint, WrappingAlgorithm};
pub use token::{OaepHash, RsaPublicNumbers};
pub use token::{SignatureHash, SignatureScheme, ec_public_key_info, rsa_public_key_info};
