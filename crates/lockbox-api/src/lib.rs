//! The Lockbox vocabulary.
//!
//! Key ids and ARNs, key specs, usages and states, the AWS-shaped requests and responses of
//! every operation, the [`Kms`] trait, [`KmsError`] with its AWS exception names, and
//! [`wire`]: the operations' JSON shapes, written once for both ends. No I/O, no PKCS#11, no
//! storage: every other Lockbox crate speaks this language.
//!
//! Untrusted input becomes these types at the edge (`KeyRef::parse`, `AliasName::parse`,
//! `EncryptionContext::new`, `Tag::new`, `NumberOfBytes::new`), so code past the edge never
//! re-checks a well-formed value.
//!
//! Secrets ([`Plaintext`]) have no `Debug`, `Display`, `Clone` or `Serialize`:
//!
//! ```compile_fail
//! let p = lockbox_api::Plaintext::new(vec![1, 2, 3]);
//! println!("{:?}", p);
//! ```
//!
//! ```compile_fail
//! let p = lockbox_api::Plaintext::new(vec![1, 2, 3]);
//! println!("{}", p);
//! ```
//!
//! ```compile_fail
//! let p = lockbox_api::Plaintext::new(vec![1, 2, 3]);
//! let q = p.clone();
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod access;
mod context;
mod enums;
mod error;
mod identity;
mod ids;
mod operation;
mod ops;
mod secret;
mod tag;
mod time;
pub mod wire;

pub use access::{
    CreateGrantRequest, CreateGrantResponse, DEFAULT_POLICY_NAME, GetKeyPolicyRequest,
    GetKeyPolicyResponse, GrantConstraints, GrantListEntry, GrantName, GrantTokens,
    ListGrantsRequest, ListGrantsResponse, ListKeyPoliciesRequest, ListKeyPoliciesResponse,
    ListRetirableGrantsRequest, MAX_GRANT_TOKEN_LEN, MAX_GRANT_TOKENS, MAX_GRANTS_PER_KEY,
    MAX_POLICY_LEN, PutKeyPolicyRequest, RetireGrantRequest, RetireGrantTarget, RevokeGrantRequest,
};
pub use context::EncryptionContext;
pub use enums::{
    AlgorithmSpec, DataKeyPairSpec, DataKeySpec, EncryptionAlgorithm, ExpirationModelType,
    GrantOperation, ImportState, ImportType, IncludeKeyMaterial, KeyAgreementAlgorithm, KeyManager,
    KeyMaterialState, KeySpec, KeyState, KeyUsage, MacAlgorithm, MessageType, MultiRegionKeyType,
    Origin, RotationType, SigningAlgorithm, WrappingKeySpec,
};
pub use error::{DRY_RUN_MESSAGE, ErrorKind, INVALID_CIPHERTEXT_MESSAGE, KmsError};
pub use identity::{Caller, MAX_PRINCIPAL_LEN, Principal, PrincipalKind, is_account_id};
pub use ids::{
    ALIAS_PREFIX, AliasArn, AliasName, ArnParts, ArnScope, KeyArn, KeyId, KeyRef,
    MAX_ALIAS_NAME_LEN, MAX_KEY_ID_LEN, MAX_REGION_LEN, MULTI_REGION_KEY_PREFIX, REGION_PATTERN,
    RESERVED_ALIAS_PREFIX, is_region_name, shorten,
};
pub use operation::{
    Action, AuditClass, KeyStates, Kms, Operation, Request, Response, ThrottleClass,
};
pub use ops::*;
pub use secret::Plaintext;
pub use tag::{MAX_TAGS_PER_KEY, Tag, check_tag_key};
pub use time::Timestamp;
