//! The one table of operations, and the [`Kms`] trait it generates.
//!
//! Every KMS operation Lockbox serves is one row of [`operations!`] below: its wire name, its
//! request and response types, the IAM actions it is authorized as, which key states allow
//! it, its throttle class, and whether it is audited as a read or a write. Every KMS action a
//! key policy may name is one row of [`actions!`]: whether a grant can allow it (and as which
//! grant operation) and whether AWS allows it on a key of another account. Everything else
//! derives from these two tables: [`Operation`], [`Action`], the [`Request`] and [`Response`]
//! enums, and the typed methods of [`Kms`], whose implementors write one method, [`Kms::call`].
//!
//! Adding an operation is one row here; the compiler then names every place that must handle
//! it (the engine's dispatch, the wire shapes), and nothing can forget its throttle class or
//! key states, because the row does not parse without them.

use std::fmt;

use crate::access::*;
use crate::enums::{DataKeyPairSpec, GrantOperation, KeySpec, KeyState};
use crate::error::{ErrorKind, KmsError};
use crate::ids::{KeyArn, KeyRef};
use crate::ops::*;

/// Which key states allow an operation on the key its request names, and the error the
/// others get, after AWS KMS's key-state table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyStates {
    /// The operation acts on the caller's account, not on a key (CreateKey, ListKeys, ...).
    NoKey,
    /// Every state (DescribeKey, ListResourceTags, DeleteAlias, the grant and policy reads).
    Any,
    /// Only `Enabled` (cryptographic operations, rotation); `Disabled` is refused with
    /// `DisabledException`, every other state with `KMSInvalidStateException`.
    Enabled,
    /// `Enabled` or `Disabled` (key management: description, enable, disable, schedule
    /// deletion, aliases, tags, policy, grants).
    EnabledOrDisabled,
    /// `Enabled`, `Disabled` or `PendingDeletion` (rotation status and history).
    NotPending,
    /// Only `PendingDeletion` (CancelKeyDeletion).
    PendingDeletion,
    /// `Enabled`, `Disabled` or `PendingImport` (the import operations).
    Importable,
    /// `Enabled`, `Disabled` or `PendingImport`: the key management AWS's key-state table
    /// allows on a key that waits for imported material (description, scheduling deletion,
    /// aliases, tags, policy). EnableKey, DisableKey and CreateGrant are `EnabledOrDisabled`:
    /// AWS refuses them on such a key.
    Manageable,
    /// `Enabled`, `Disabled`, `PendingImport` or `PendingDeletion` (DeleteImportedKeyMaterial,
    /// which AWS allows on a key pending deletion).
    MaterialDeletable,
}

impl KeyStates {
    /// Checks that a key in `state` may be used under this rule. `arn` names the key in a
    /// refusal; it is only built when one is needed.
    pub fn check(self, state: KeyState, arn: impl FnOnce() -> KeyArn) -> Result<(), KmsError> {
        let refuse = |kind, what: &str| Err(KmsError::new(kind, format!("{} is {what}.", arn())));
        match (self, state) {
            (KeyStates::NoKey | KeyStates::Any, _) => Ok(()),
            (KeyStates::Enabled, KeyState::Enabled) => Ok(()),
            (KeyStates::Enabled, KeyState::Disabled) => refuse(ErrorKind::Disabled, "disabled"),
            (
                KeyStates::NotPending,
                KeyState::Enabled | KeyState::Disabled | KeyState::PendingDeletion,
            ) => Ok(()),
            (KeyStates::PendingDeletion, KeyState::PendingDeletion) => Ok(()),
            (KeyStates::MaterialDeletable, KeyState::PendingDeletion) => Ok(()),
            // A multi-Region primary waiting for its replicas' deletion is pending deletion
            // for every operation (AWS's key-state table has the two states alike).
            (
                KeyStates::NotPending | KeyStates::PendingDeletion | KeyStates::MaterialDeletable,
                KeyState::PendingReplicaDeletion,
            ) => Ok(()),
            (_, KeyState::PendingReplicaDeletion) => {
                refuse(ErrorKind::KmsInvalidState, "pending replica deletion")
            }
            (KeyStates::PendingDeletion, _) => {
                refuse(ErrorKind::KmsInvalidState, "not pending deletion")
            }
            (_, KeyState::PendingDeletion) => {
                refuse(ErrorKind::KmsInvalidState, "pending deletion")
            }
            (KeyStates::EnabledOrDisabled, KeyState::Enabled | KeyState::Disabled) => Ok(()),
            (
                KeyStates::Importable | KeyStates::Manageable | KeyStates::MaterialDeletable,
                KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport,
            ) => Ok(()),
            (_, KeyState::PendingImport) => refuse(ErrorKind::KmsInvalidState, "pending import"),
            (_, KeyState::Unavailable) => refuse(ErrorKind::KmsInvalidState, "unavailable"),
            (_, other) => refuse(ErrorKind::KmsInvalidState, &format!("in state {other}")),
        }
    }
}

/// A request-rate quota class: operations that share a default rate (and, for
/// [`ThrottleClass::Cryptographic`], one bucket), after AWS KMS's request quotas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThrottleClass {
    /// The symmetric cryptographic operations, sharing one bucket.
    Cryptographic,
    /// DescribeKey.
    DescribeKey,
    /// GetKeyPolicy and GetKeyRotationStatus.
    KeyReads,
    /// The List operations.
    Lists,
    /// CreateKey.
    CreateKey,
    /// CreateGrant.
    CreateGrant,
    /// RetireGrant and RevokeGrant.
    RetireRevokeGrant,
    /// PutKeyPolicy.
    PutKeyPolicy,
    /// TagResource.
    TagResource,
    /// Key and alias management.
    Management,
    /// Cryptographic operations with RSA keys (Encrypt, Decrypt, ReEncrypt, Sign, Verify),
    /// sharing one bucket.
    Rsa,
    /// Cryptographic operations with ECC keys (Sign, Verify, DeriveSharedSecret), sharing one
    /// bucket.
    Ecc,
    /// GetPublicKey.
    GetPublicKey,
    /// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext of RSA_2048 pairs, sharing
    /// one bucket (and likewise for each pair spec below).
    DataKeyPairRsa2048,
    /// Data key pairs of RSA_3072.
    DataKeyPairRsa3072,
    /// Data key pairs of RSA_4096.
    DataKeyPairRsa4096,
    /// Data key pairs of ECC_NIST_P256.
    DataKeyPairEccNistP256,
    /// Data key pairs of ECC_NIST_P384.
    DataKeyPairEccNistP384,
    /// Data key pairs of ECC_NIST_P521.
    DataKeyPairEccNistP521,
    /// Data key pairs of ECC_SECG_P256K1.
    DataKeyPairEccSecgP256k1,
}

impl ThrottleClass {
    /// Every class.
    pub const ALL: &'static [ThrottleClass] = &[
        ThrottleClass::Cryptographic,
        ThrottleClass::DescribeKey,
        ThrottleClass::KeyReads,
        ThrottleClass::Lists,
        ThrottleClass::CreateKey,
        ThrottleClass::CreateGrant,
        ThrottleClass::RetireRevokeGrant,
        ThrottleClass::PutKeyPolicy,
        ThrottleClass::TagResource,
        ThrottleClass::Management,
        ThrottleClass::Rsa,
        ThrottleClass::Ecc,
        ThrottleClass::GetPublicKey,
        ThrottleClass::DataKeyPairRsa2048,
        ThrottleClass::DataKeyPairRsa3072,
        ThrottleClass::DataKeyPairRsa4096,
        ThrottleClass::DataKeyPairEccNistP256,
        ThrottleClass::DataKeyPairEccNistP384,
        ThrottleClass::DataKeyPairEccNistP521,
        ThrottleClass::DataKeyPairEccSecgP256k1,
    ];

    /// The class's key in `server.toml`'s `[throttle]`.
    pub fn name(self) -> &'static str {
        match self {
            ThrottleClass::Cryptographic => "cryptographic",
            ThrottleClass::DescribeKey => "describe_key",
            ThrottleClass::KeyReads => "key_reads",
            ThrottleClass::Lists => "lists",
            ThrottleClass::CreateKey => "create_key",
            ThrottleClass::CreateGrant => "create_grant",
            ThrottleClass::RetireRevokeGrant => "retire_revoke_grant",
            ThrottleClass::PutKeyPolicy => "put_key_policy",
            ThrottleClass::TagResource => "tag_resource",
            ThrottleClass::Management => "management",
            ThrottleClass::Rsa => "rsa",
            ThrottleClass::Ecc => "ecc",
            ThrottleClass::GetPublicKey => "get_public_key",
            ThrottleClass::DataKeyPairRsa2048 => "data_key_pair_rsa_2048",
            ThrottleClass::DataKeyPairRsa3072 => "data_key_pair_rsa_3072",
            ThrottleClass::DataKeyPairRsa4096 => "data_key_pair_rsa_4096",
            ThrottleClass::DataKeyPairEccNistP256 => "data_key_pair_ecc_nist_p256",
            ThrottleClass::DataKeyPairEccNistP384 => "data_key_pair_ecc_nist_p384",
            ThrottleClass::DataKeyPairEccNistP521 => "data_key_pair_ecc_nist_p521",
            ThrottleClass::DataKeyPairEccSecgP256k1 => "data_key_pair_ecc_secg_p256k1",
        }
    }

    /// Whether the class's operations share one bucket (else each operation has its own at
    /// the class's rate).
    pub fn shared(self) -> bool {
        !matches!(
            self,
            ThrottleClass::DescribeKey
                | ThrottleClass::KeyReads
                | ThrottleClass::Lists
                | ThrottleClass::CreateKey
                | ThrottleClass::CreateGrant
                | ThrottleClass::RetireRevokeGrant
                | ThrottleClass::PutKeyPolicy
                | ThrottleClass::TagResource
                | ThrottleClass::Management
                | ThrottleClass::GetPublicKey
        )
    }

    /// The class of a cryptographic operation on a key of `spec`, as AWS KMS counts it: RSA
    /// and ECC keys have quotas of their own; symmetric and HMAC keys count as symmetric.
    pub fn for_key_spec(spec: KeySpec) -> ThrottleClass {
        match spec {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => ThrottleClass::Rsa,
            KeySpec::EccNistP256
            | KeySpec::EccNistP384
            | KeySpec::EccNistP521
            | KeySpec::EccSecgP256k1 => ThrottleClass::Ecc,
            _ => ThrottleClass::Cryptographic,
        }
    }

    /// The class of GenerateDataKeyPair* for pairs of `spec` (a spec Lockbox does not make
    /// counts as symmetric: the call is refused anyway).
    pub fn for_data_key_pair(spec: DataKeyPairSpec) -> ThrottleClass {
        match spec {
            DataKeyPairSpec::Rsa2048 => ThrottleClass::DataKeyPairRsa2048,
            DataKeyPairSpec::Rsa3072 => ThrottleClass::DataKeyPairRsa3072,
            DataKeyPairSpec::Rsa4096 => ThrottleClass::DataKeyPairRsa4096,
            DataKeyPairSpec::EccNistP256 => ThrottleClass::DataKeyPairEccNistP256,
            DataKeyPairSpec::EccNistP384 => ThrottleClass::DataKeyPairEccNistP384,
            DataKeyPairSpec::EccNistP521 => ThrottleClass::DataKeyPairEccNistP521,
            DataKeyPairSpec::EccSecgP256k1 => ThrottleClass::DataKeyPairEccSecgP256k1,
            _ => ThrottleClass::Cryptographic,
        }
    }
}

/// How the audit trail classes an operation: CloudTrail's `readOnly`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditClass {
    /// Changes nothing (CloudTrail marks the cryptographic operations read-only too).
    Read,
    /// Changes a key, an alias, a policy or a grant.
    Write,
}

macro_rules! actions {
    ($( $action:ident $([$($flag:ident),+])? ; )+) => {
        /// A KMS action: what a key policy's `Action` names (`kms:Encrypt`) and what an
        /// operation is authorized as. Every action of botocore's KMS model, plus the three
        /// permissions that are no API operation (`ReEncryptFrom`, `ReEncryptTo`,
        /// `SynchronizeMultiRegionKey`), sorted by name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $( #[doc = concat!("`kms:", stringify!($action), "`")] $action, )+
        }

        impl Action {
            /// Every action, sorted by name (byte order).
            pub const ALL: &'static [Action] = &[$(Action::$action),+];

            /// The action's name without its service (`Encrypt`).
            pub fn name(self) -> &'static str {
                match self { $(Action::$action => stringify!($action),)+ }
            }

            /// The action as a policy names it (`kms:Encrypt`).
            pub fn as_str(self) -> &'static str {
                match self { $(Action::$action => concat!("kms:", stringify!($action)),)+ }
            }

            /// The grant operation that allows this action, if a grant can.
            pub fn grant_operation(self) -> Option<GrantOperation> {
                match self {
                    $(Action::$action => actions!(@grant $action $($($flag)+)?),)+
                }
            }

            /// Whether AWS KMS allows this action on a key of another account (when the
            /// key's policy says so).
            pub fn cross_account(self) -> bool {
                match self {
                    $(Action::$action => actions!(@cross $($($flag)+)?),)+
                }
            }

            /// The action a name without its service names, exactly spelled.
            pub fn from_name(name: &str) -> Option<Action> {
                Action::ALL.binary_search_by(|a| a.name().cmp(name)).ok().map(|i| Action::ALL[i])
            }
        }
    };
    (@grant $action:ident grant $($rest:ident)*) => { Some(GrantOperation::$action) };
    (@grant $action:ident cross $($rest:ident)*) => { actions!(@grant $action $($rest)*) };
    (@grant $action:ident) => { None };
    (@cross cross $($rest:ident)*) => { true };
    (@cross grant $($rest:ident)*) => { actions!(@cross $($rest)*) };
    (@cross) => { false };
}

// `grant`: a grant can allow the action (as the grant operation of the same name);
// `cross`: AWS KMS allows it on a key of another account.
actions! {
    CancelKeyDeletion;
    ConnectCustomKeyStore;
    CreateAlias;
    CreateCustomKeyStore;
    CreateGrant [grant, cross];
    CreateKey;
    Decapsulate [grant];
    Decrypt [grant, cross];
    DeleteAlias;
    DeleteCustomKeyStore;
    DeleteImportedKeyMaterial;
    DeriveSharedSecret [grant, cross];
    DescribeCustomKeyStores;
    DescribeKey [grant, cross];
    DisableKey;
    DisableKeyRotation;
    DisconnectCustomKeyStore;
    EnableKey;
    EnableKeyRotation;
    Encapsulate [grant];
    Encrypt [grant, cross];
    GenerateDataKey [grant, cross];
    GenerateDataKeyPair [grant, cross];
    GenerateDataKeyPairWithoutPlaintext [grant, cross];
    GenerateDataKeyWithoutPlaintext [grant, cross];
    GenerateMac [grant, cross];
    GenerateRandom;
    GetKeyLastUsage;
    GetKeyPolicy;
    GetKeyRotationStatus [cross];
    GetParametersForImport;
    GetPublicKey [grant, cross];
    ImportKeyMaterial;
    ListAliases;
    ListGrants [cross];
    ListKeyPolicies;
    ListKeyRotations;
    ListKeys;
    ListResourceTags;
    ListRetirableGrants;
    PutKeyPolicy;
    ReEncrypt;
    ReEncryptFrom [grant, cross];
    ReEncryptTo [grant, cross];
    ReplicateKey;
    RetireGrant [grant, cross];
    RevokeGrant [cross];
    RotateKeyOnDemand;
    ScheduleKeyDeletion;
    Sign [grant, cross];
    SynchronizeMultiRegionKey;
    TagResource;
    UntagResource;
    UpdateAlias;
    UpdateCustomKeyStore;
    UpdateKeyDescription;
    UpdatePrimaryRegion;
    Verify [grant, cross];
    VerifyMac [grant, cross];
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! operations {
    ($(
        $(#[doc = $doc:literal])+
        $op:ident, $method:ident($req:ty) -> $resp:ty {
            actions: [$($action:ident),+],
            key: $states:ident,
            throttle: $class:ident,
            audit: $audit:ident,
            by_kind: $by_kind:literal $(,)?
        }
    )+) => {
        /// A KMS operation Lockbox serves: one row of the operation table.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Operation {
            $( $(#[doc = $doc])+ $op, )+
        }

        impl Operation {
            /// Every operation, in the order of the table (and of [`Kms`]'s methods).
            pub const ALL: &'static [Operation] = &[$(Operation::$op),+];

            /// The operation's AWS name (`Encrypt`), as it follows `TrentService.` on the wire
            /// and as the audit trail records it.
            pub fn name(self) -> &'static str {
                match self { $(Operation::$op => stringify!($op),)+ }
            }

            /// The name of the operation's typed method of [`Kms`] (`generate_data_key`).
            pub fn method_name(self) -> &'static str {
                match self { $(Operation::$op => stringify!($method),)+ }
            }

            /// The operation an AWS name names, exactly spelled.
            pub fn from_name(name: &str) -> Option<Operation> {
                match name {
                    $(stringify!($op) => Some(Operation::$op),)+
                    _ => None,
                }
            }

            /// The IAM actions the operation is authorized as: one, except ReEncrypt
            /// (`ReEncryptFrom` on the source key, `ReEncryptTo` on the destination).
            pub fn actions(self) -> &'static [Action] {
                match self { $(Operation::$op => &[$(Action::$action),+],)+ }
            }

            /// The action the operation is authorized as (the first of [`Operation::actions`]).
            pub fn action(self) -> Action {
                self.actions()[0]
            }

            /// Which key states allow the operation on the key its request names.
            pub fn key_states(self) -> KeyStates {
                match self { $(Operation::$op => KeyStates::$states,)+ }
            }

            /// The operation's request-rate quota class.
            pub fn throttle_class(self) -> ThrottleClass {
                match self { $(Operation::$op => ThrottleClass::$class,)+ }
            }

            /// Whether what the operation does with a key depends on the key's kind (its
            /// cryptography, its material) rather than on its metadata only: a key kind
            /// serves such an operation only if it lists it.
            pub fn depends_on_key_kind(self) -> bool {
                match self { $(Operation::$op => $by_kind,)+ }
            }

            /// Whether the audit trail records the operation as a read or a write.
            pub fn audit_class(self) -> AuditClass {
                match self { $(Operation::$op => AuditClass::$audit,)+ }
            }

            /// True for the operations whose response carries plaintext (Decrypt,
            /// GenerateDataKey, GenerateRandom, GenerateDataKeyPair's private key,
            /// DeriveSharedSecret's secret): whoever holds an encoded response should
            /// zeroize it once sent.
            pub fn returns_plaintext(self) -> bool {
                matches!(
                    self,
                    Operation::Decrypt
                        | Operation::GenerateDataKey
                        | Operation::GenerateRandom
                        | Operation::GenerateDataKeyPair
                        | Operation::DeriveSharedSecret
                )
            }
        }

        /// One operation's request: the argument of [`Kms::call`].
        pub enum Request {
            $( $(#[doc = $doc])+ $op($req), )+
        }

        impl Request {
            /// The operation this request is for.
            pub fn operation(&self) -> Operation {
                match self { $(Request::$op(_) => Operation::$op,)+ }
            }
        }

        /// One operation's response: what [`Kms::call`] returns.
        pub enum Response {
            $( $(#[doc = $doc])+ $op($resp), )+
        }

        impl Response {
            /// The operation this response answers.
            pub fn operation(&self) -> Operation {
                match self { $(Response::$op(_) => Operation::$op,)+ }
            }
        }

        // The wire shapes of each operation: `wire::shapes::{input, output}::<Operation>`.
        impl Request {
            /// Reads a request body of `op`.
            pub(crate) fn decode_shape(
                op: Operation,
                body: &[u8],
            ) -> Result<Request, crate::wire::WireError> {
                use crate::wire::codec::Shape as _;
                Ok(match op {
                    $(Operation::$op => Request::$op(crate::wire::shapes::input::$op::decode(body)?),)+
                })
            }

            /// Writes the request's shape into `o`.
            pub(crate) fn write_shape(&self, o: &mut crate::wire::json::Output) {
                use crate::wire::codec::Shape as _;
                match self {
                    $(Request::$op(r) => crate::wire::shapes::input::$op::write(r, o),)+
                }
            }
        }

        impl Response {
            /// Reads a response body of `op`.
            pub(crate) fn decode_shape(
                op: Operation,
                body: &[u8],
            ) -> Result<Response, crate::wire::WireError> {
                use crate::wire::codec::Shape as _;
                Ok(match op {
                    $(Operation::$op => Response::$op(crate::wire::shapes::output::$op::decode(body)?),)+
                })
            }

            /// Writes the response's shape into `o`.
            pub(crate) fn write_shape(&self, o: &mut crate::wire::json::Output) {
                use crate::wire::codec::Shape as _;
                match self {
                    $(Response::$op(r) => crate::wire::shapes::output::$op::write(r, o),)+
                }
            }
        }

        /// A key-management service with AWS KMS semantics.
        ///
        /// Implementors write [`Kms::call`], which takes any operation's [`Request`]; the
        /// typed methods, one per operation, are derived from it. The in-process engine
        /// (`lockbox::EngineClient`) and the remote client implement it; a wrapper (a
        /// counter, a test double) forwards `call` and nothing else. Every method is safe to
        /// call from many threads at once.
        pub trait Kms: Send + Sync {
            /// Performs one operation. The response is the variant of the request's
            /// operation.
            fn call(&self, request: Request) -> Result<Response, KmsError>;

            $(
                $(#[doc = $doc])+
                fn $method(&self, req: $req) -> Result<$resp, KmsError> {
                    match self.call(Request::$op(req))? {
                        Response::$op(r) => Ok(r),
                        other => Err(mismatch(Operation::$op, other.operation())),
                    }
                }
            )+
        }
    };
}

/// A `Kms::call` that answered another operation's response: a bug in the implementor.
fn mismatch(asked: Operation, answered: Operation) -> KmsError {
    KmsError::internal(format!(
        "{} was answered with a {} response.",
        asked.name(),
        answered.name()
    ))
}

/// The operation table itself: `operation_table!(m)` expands to `m! { <rows> }`, so that a
/// crate other than this one can derive what it needs from the same rows (the engine's
/// dispatch does) instead of listing the operations again. Each row: docs, then
/// `Name, method(Request) -> Response { actions, key, throttle, audit, by_kind }`.
#[macro_export]
#[doc(hidden)]
macro_rules! operation_table {
    ($callback:ident) => {
        $callback! {
            /// Creates a key whose material is generated in the token.
            CreateKey, create_key(CreateKeyRequest) -> CreateKeyResponse {
                actions: [CreateKey], key: NoKey, throttle: CreateKey, audit: Write,
                by_kind: false,
            }
            /// Describes a key.
            DescribeKey, describe_key(DescribeKeyRequest) -> DescribeKeyResponse {
                actions: [DescribeKey], key: Any, throttle: DescribeKey, audit: Read,
                by_kind: false,
            }
            /// Lists keys, a page at a time.
            ListKeys, list_keys(ListKeysRequest) -> ListKeysResponse {
                actions: [ListKeys], key: NoKey, throttle: Lists, audit: Read,
                by_kind: false,
            }
            /// Replaces a key's description.
            UpdateKeyDescription, update_key_description(UpdateKeyDescriptionRequest) -> () {
                actions: [UpdateKeyDescription], key: Manageable, throttle: Management,
                audit: Write,
                by_kind: false,
            }
            /// Enables a key.
            EnableKey, enable_key(EnableKeyRequest) -> () {
                actions: [EnableKey], key: EnabledOrDisabled, throttle: Management, audit: Write,
                by_kind: false,
            }
            /// Disables a key.
            DisableKey, disable_key(DisableKeyRequest) -> () {
                actions: [DisableKey], key: EnabledOrDisabled, throttle: Management, audit: Write,
                by_kind: false,
            }
            /// Schedules a key for deletion after a waiting period.
            ScheduleKeyDeletion, schedule_key_deletion(ScheduleKeyDeletionRequest)
                -> ScheduleKeyDeletionResponse {
                actions: [ScheduleKeyDeletion], key: Manageable, throttle: Management,
                audit: Write,
                by_kind: false,
            }
            /// Cancels a scheduled deletion; the key becomes `Disabled`.
            CancelKeyDeletion, cancel_key_deletion(CancelKeyDeletionRequest)
                -> CancelKeyDeletionResponse {
                actions: [CancelKeyDeletion], key: PendingDeletion, throttle: Management, audit: Write,
                by_kind: false,
            }
            /// Creates an alias.
            CreateAlias, create_alias(AliasRequest) -> () {
                actions: [CreateAlias], key: Manageable, throttle: Management, audit: Write,
                by_kind: false,
            }
            /// Points an existing alias at another key.
            UpdateAlias, update_alias(AliasRequest) -> () {
                actions: [UpdateAlias], key: Manageable, throttle: Management, audit: Write,
                by_kind: false,
            }
            /// Deletes an alias.
            DeleteAlias, delete_alias(DeleteAliasRequest) -> () {
                actions: [DeleteAlias], key: Any, throttle: Management, audit: Write,
                by_kind: false,
            }
            /// Lists aliases, a page at a time.
            ListAliases, list_aliases(ListAliasesRequest) -> ListAliasesResponse {
                actions: [ListAliases], key: NoKey, throttle: Lists, audit: Read,
                by_kind: false,
            }
            /// Adds or overwrites tags on a key.
            TagResource, tag_resource(TagResourceRequest) -> () {
                actions: [TagResource], key: Manageable, throttle: TagResource, audit: Write,
                by_kind: false,
            }
            /// Removes tags from a key.
            UntagResource, untag_resource(UntagResourceRequest) -> () {
                actions: [UntagResource], key: Manageable, throttle: Management, audit: Write,
                by_kind: false,
            }
            /// Lists a key's tags, a page at a time.
            ListResourceTags, list_resource_tags(ListResourceTagsRequest) -> ListResourceTagsResponse {
                actions: [ListResourceTags], key: Any, throttle: Lists, audit: Read,
                by_kind: false,
            }
            /// Encrypts up to 4096 bytes under a key.
            Encrypt, encrypt(EncryptRequest) -> EncryptResponse {
                actions: [Encrypt], key: Enabled, throttle: Cryptographic, audit: Read,
                by_kind: true,
            }
            /// Decrypts a blob from Encrypt, GenerateDataKey or ReEncrypt.
            Decrypt, decrypt(DecryptRequest) -> DecryptResponse {
                actions: [Decrypt], key: Enabled, throttle: Cryptographic, audit: Read,
                by_kind: true,
            }
            /// Decrypts and encrypts again under another key (or context), inside the service.
            ReEncrypt, re_encrypt(ReEncryptRequest) -> ReEncryptResponse {
                actions: [ReEncryptFrom, ReEncryptTo], key: Enabled, throttle: Cryptographic,
                audit: Read,
                by_kind: true,
            }
            /// Returns a fresh data key, in plaintext and encrypted under a key.
            GenerateDataKey, generate_data_key(GenerateDataKeyRequest) -> GenerateDataKeyResponse {
                actions: [GenerateDataKey], key: Enabled, throttle: Cryptographic, audit: Read,
                by_kind: true,
            }
            /// Returns a fresh data key, encrypted under a key only.
            GenerateDataKeyWithoutPlaintext,
                generate_data_key_without_plaintext(GenerateDataKeyRequest)
                -> GenerateDataKeyWithoutPlaintextResponse {
                actions: [GenerateDataKeyWithoutPlaintext], key: Enabled, throttle: Cryptographic,
                audit: Read,
                by_kind: true,
            }
            /// Returns random bytes from the token.
            GenerateRandom, generate_random(GenerateRandomRequest) -> GenerateRandomResponse {
                actions: [GenerateRandom], key: NoKey, throttle: Cryptographic, audit: Read,
                by_kind: false,
            }
            /// Signs a message or digest with an asymmetric key.
            Sign, sign(SignRequest) -> SignResponse {
                actions: [Sign], key: Enabled, throttle: Cryptographic, audit: Read,
                by_kind: true,
            }
            /// Verifies a signature with an asymmetric key.
            Verify, verify(VerifyRequest) -> VerifyResponse {
                actions: [Verify], key: Enabled, throttle: Cryptographic, audit: Read,
                by_kind: true,
            }
            /// Returns the public half of an asymmetric key.
            GetPublicKey, get_public_key(GetPublicKeyRequest) -> GetPublicKeyResponse {
                actions: [GetPublicKey], key: Enabled, throttle: GetPublicKey, audit: Read,
                by_kind: true,
            }
            /// Computes an HMAC with an HMAC key.
            GenerateMac, generate_mac(GenerateMacRequest) -> GenerateMacResponse {
                actions: [GenerateMac], key: Enabled, throttle: Cryptographic, audit: Read,
                by_kind: true,
            }
            /// Verifies an HMAC with an HMAC key.
            VerifyMac, verify_mac(VerifyMacRequest) -> VerifyMacResponse {
                actions: [VerifyMac], key: Enabled, throttle: Cryptographic, audit: Read,
                by_kind: true,
            }
            /// Returns a fresh asymmetric key pair, its private key encrypted under a key.
            GenerateDataKeyPair, generate_data_key_pair(GenerateDataKeyPairRequest)
                -> GenerateDataKeyPairResponse {
                actions: [GenerateDataKeyPair], key: Enabled, throttle: Cryptographic,
                audit: Read,
                by_kind: true,
            }
            /// Returns a fresh asymmetric key pair without its plaintext private key.
            GenerateDataKeyPairWithoutPlaintext,
                generate_data_key_pair_without_plaintext(GenerateDataKeyPairRequest)
                -> GenerateDataKeyPairWithoutPlaintextResponse {
                actions: [GenerateDataKeyPairWithoutPlaintext], key: Enabled,
                throttle: Cryptographic, audit: Read,
                by_kind: true,
            }
            /// Derives an ECDH shared secret from a key-agreement key and a peer's public key.
            DeriveSharedSecret, derive_shared_secret(DeriveSharedSecretRequest)
                -> DeriveSharedSecretResponse {
                actions: [DeriveSharedSecret], key: Enabled, throttle: Cryptographic,
                audit: Read,
                by_kind: true,
            }
            /// Turns on automatic rotation of a key's material (or changes its period).
            EnableKeyRotation, enable_key_rotation(EnableKeyRotationRequest) -> () {
                actions: [EnableKeyRotation], key: Enabled, throttle: Management, audit: Write,
                by_kind: true,
            }
            /// Turns off automatic rotation.
            DisableKeyRotation, disable_key_rotation(DisableKeyRotationRequest) -> () {
                actions: [DisableKeyRotation], key: Enabled, throttle: Management, audit: Write,
                by_kind: true,
            }
            /// Says whether automatic rotation is on, its period, and when it is next due.
            GetKeyRotationStatus, get_key_rotation_status(GetKeyRotationStatusRequest)
                -> GetKeyRotationStatusResponse {
                actions: [GetKeyRotationStatus], key: NotPending, throttle: KeyReads, audit: Read,
                by_kind: true,
            }
            /// Rotates a key's material now.
            RotateKeyOnDemand, rotate_key_on_demand(RotateKeyOnDemandRequest)
                -> RotateKeyOnDemandResponse {
                actions: [RotateKeyOnDemand], key: Enabled, throttle: Management, audit: Write,
                by_kind: true,
            }
            /// Lists a key's material versions made by rotation, a page at a time.
            ListKeyRotations, list_key_rotations(ListKeyRotationsRequest) -> ListKeyRotationsResponse {
                actions: [ListKeyRotations], key: Any, throttle: Lists, audit: Read,
                by_kind: true,
            }
            /// Replaces a key's policy.
            PutKeyPolicy, put_key_policy(PutKeyPolicyRequest) -> () {
                actions: [PutKeyPolicy], key: Manageable, throttle: PutKeyPolicy, audit: Write,
                by_kind: false,
            }
            /// Returns a key's policy document.
            GetKeyPolicy, get_key_policy(GetKeyPolicyRequest) -> GetKeyPolicyResponse {
                actions: [GetKeyPolicy], key: Any, throttle: KeyReads, audit: Read,
                by_kind: false,
            }
            /// Lists a key's policy names (always `default`).
            ListKeyPolicies, list_key_policies(ListKeyPoliciesRequest) -> ListKeyPoliciesResponse {
                actions: [ListKeyPolicies], key: Any, throttle: Lists, audit: Read,
                by_kind: false,
            }
            /// Gives a principal some operations on a key.
            CreateGrant, create_grant(CreateGrantRequest) -> CreateGrantResponse {
                actions: [CreateGrant], key: EnabledOrDisabled, throttle: CreateGrant, audit: Write,
                by_kind: false,
            }
            /// Lists a key's grants, a page at a time.
            ListGrants, list_grants(ListGrantsRequest) -> ListGrantsResponse {
                actions: [ListGrants], key: Any, throttle: Lists, audit: Read,
                by_kind: false,
            }
            /// Lists the grants a principal may retire, a page at a time.
            ListRetirableGrants, list_retirable_grants(ListRetirableGrantsRequest)
                -> ListGrantsResponse {
                actions: [ListRetirableGrants], key: NoKey, throttle: Lists, audit: Read,
                by_kind: false,
            }
            /// Retires a grant (its retiring principal or grantee gives it up).
            RetireGrant, retire_grant(RetireGrantRequest) -> () {
                actions: [RetireGrant], key: Any, throttle: RetireRevokeGrant, audit: Write,
                by_kind: false,
            }
            /// Revokes a grant (a key administrator takes it away).
            RevokeGrant, revoke_grant(RevokeGrantRequest) -> () {
                actions: [RevokeGrant], key: Any, throttle: RetireRevokeGrant, audit: Write,
                by_kind: false,
            }
            /// The wrapping public key and import token for importing material into a key.
            GetParametersForImport, get_parameters_for_import(GetParametersForImportRequest)
                -> GetParametersForImportResponse {
                actions: [GetParametersForImport], key: Importable, throttle: Management,
                audit: Write,
                by_kind: false,
            }
            /// Imports wrapped key material into an EXTERNAL key.
            ImportKeyMaterial, import_key_material(ImportKeyMaterialRequest)
                -> ImportKeyMaterialResponse {
                actions: [ImportKeyMaterial], key: Importable, throttle: Management,
                audit: Write,
                by_kind: false,
            }
            /// Deletes an EXTERNAL key's imported material; the key waits for an import.
            DeleteImportedKeyMaterial, delete_imported_key_material(
                DeleteImportedKeyMaterialRequest) -> DeleteImportedKeyMaterialResponse {
                actions: [DeleteImportedKeyMaterial], key: MaterialDeletable, throttle: Management,
                audit: Write,
                by_kind: false,
            }
            /// Makes a replica of a multi-Region primary key in another Region.
            ReplicateKey, replicate_key(ReplicateKeyRequest) -> ReplicateKeyResponse {
                actions: [ReplicateKey], key: Enabled, throttle: Management,
                audit: Write,
                by_kind: false,
            }
            /// Makes a replica the primary of its multi-Region family.
            UpdatePrimaryRegion, update_primary_region(UpdatePrimaryRegionRequest) -> () {
                actions: [UpdatePrimaryRegion], key: Enabled, throttle: Management,
                audit: Write,
                by_kind: false,
            }
        }
    };
}

operation_table!(operations);

impl Operation {
    /// Whether the request-rate quota of a call depends on the call, not just on the
    /// operation: the cryptographic operations whose key kind decides their quota (RSA and
    /// ECC keys have their own, as in AWS KMS), and the data-key-pair operations, whose pair
    /// spec does. See [`Request::throttle_class`].
    pub fn throttled_by_request(self) -> bool {
        self.throttle_class() == ThrottleClass::Cryptographic && self.depends_on_key_kind()
    }
}

impl Request {
    /// Whether the request sets `DryRun`: it asks only whether the call would succeed. Only
    /// the operations whose AWS model has the member can set it.
    pub fn dry_run(&self) -> bool {
        match self {
            Request::Encrypt(r) => r.dry_run,
            Request::Decrypt(r) => r.dry_run,
            Request::ReEncrypt(r) => r.dry_run,
            Request::GenerateDataKey(r) | Request::GenerateDataKeyWithoutPlaintext(r) => r.dry_run,
            Request::GenerateDataKeyPair(r) | Request::GenerateDataKeyPairWithoutPlaintext(r) => {
                r.dry_run
            }
            Request::Sign(r) => r.dry_run,
            Request::Verify(r) => r.dry_run,
            Request::GenerateMac(r) => r.dry_run,
            Request::VerifyMac(r) => r.dry_run,
            Request::DeriveSharedSecret(r) => r.dry_run,
            Request::CreateGrant(r) => r.dry_run,
            Request::RetireGrant(r) => r.dry_run,
            Request::RevokeGrant(r) => r.dry_run,
            _ => false,
        }
    }

    /// The quota class this call draws on, as AWS KMS counts it: the key's kind for Encrypt,
    /// Decrypt, ReEncrypt (the destination key), Sign, Verify and DeriveSharedSecret; the
    /// pair spec for GenerateDataKeyPair*; else the operation's row. `key_spec` tells the
    /// spec of the key a reference names (`None` when it names none: the call then counts
    /// as its row says, and fails on its own).
    pub fn throttle_class(&self, key_spec: impl Fn(&KeyRef) -> Option<KeySpec>) -> ThrottleClass {
        let by_key = |k: &KeyRef| {
            key_spec(k).map_or(ThrottleClass::Cryptographic, ThrottleClass::for_key_spec)
        };
        match self {
            Request::Encrypt(r) => by_key(&r.key_id),
            Request::Decrypt(r) => r
                .key_id
                .as_ref()
                .map_or(ThrottleClass::Cryptographic, by_key),
            Request::ReEncrypt(r) => by_key(&r.destination_key_id),
            Request::Sign(r) => by_key(&r.key_id),
            Request::Verify(r) => by_key(&r.key_id),
            Request::DeriveSharedSecret(_) => ThrottleClass::Ecc,
            Request::GenerateDataKeyPair(r) | Request::GenerateDataKeyPairWithoutPlaintext(r) => {
                ThrottleClass::for_data_key_pair(r.key_pair_spec)
            }
            other => other.operation().throttle_class(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ArnScope, KeyId};

    #[test]
    fn names_round_trip_and_actions_are_sorted() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_name(op.name()), Some(*op));
        }
        assert_eq!(Operation::from_name("encrypt"), None);
        assert!(Action::ALL.windows(2).all(|w| w[0].name() < w[1].name()));
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.name()), Some(*a));
            assert_eq!(a.as_str(), format!("kms:{}", a.name()));
        }
        assert_eq!(Action::from_name("Nothing"), None);
    }

    #[test]
    fn the_table_says_what_the_engine_did_before_it() {
        assert_eq!(
            Operation::ReEncrypt.actions(),
            &[Action::ReEncryptFrom, Action::ReEncryptTo]
        );
        // A grant operation is the action of the same name, where grants can allow it.
        for a in Action::ALL {
            if let Some(g) = a.grant_operation() {
                assert_eq!(g.as_str(), a.name());
            }
        }
        assert_eq!(Action::RevokeGrant.grant_operation(), None);
        assert_eq!(
            Action::ReEncryptTo.grant_operation(),
            Some(GrantOperation::ReEncryptTo)
        );
        let cross: Vec<_> = Operation::ALL
            .iter()
            .flat_map(|o| o.actions())
            .filter(|a| a.cross_account())
            .map(|a| a.name())
            .collect();
        assert_eq!(
            cross,
            [
                "DescribeKey",
                "Encrypt",
                "Decrypt",
                "ReEncryptFrom",
                "ReEncryptTo",
                "GenerateDataKey",
                "GenerateDataKeyWithoutPlaintext",
                "Sign",
                "Verify",
                "GetPublicKey",
                "GenerateMac",
                "VerifyMac",
                "GenerateDataKeyPair",
                "GenerateDataKeyPairWithoutPlaintext",
                "DeriveSharedSecret",
                "GetKeyRotationStatus",
                "CreateGrant",
                "ListGrants",
                "RetireGrant",
                "RevokeGrant",
            ]
        );
        assert_eq!(
            Operation::GenerateRandom.throttle_class(),
            ThrottleClass::Cryptographic
        );
        assert_eq!(Operation::ListKeys.audit_class(), AuditClass::Read);
        let by_kind: Vec<_> = Operation::ALL
            .iter()
            .filter(|o| o.depends_on_key_kind())
            .map(|o| o.name())
            .collect();
        assert_eq!(
            by_kind,
            [
                "Encrypt",
                "Decrypt",
                "ReEncrypt",
                "GenerateDataKey",
                "GenerateDataKeyWithoutPlaintext",
                "Sign",
                "Verify",
                "GetPublicKey",
                "GenerateMac",
                "VerifyMac",
                "GenerateDataKeyPair",
                "GenerateDataKeyPairWithoutPlaintext",
                "DeriveSharedSecret",
                "EnableKeyRotation",
                "DisableKeyRotation",
                "GetKeyRotationStatus",
                "RotateKeyOnDemand",
                "ListKeyRotations",
            ]
        );
        assert_eq!(Operation::CreateKey.audit_class(), AuditClass::Write);
    }

    #[test]
    fn a_calls_quota_follows_its_keys_kind_as_aws_counts_it() {
        let rsa = KeyRef::Id(KeyId::from_random_bytes([1; 16]));
        let ecc = KeyRef::Id(KeyId::from_random_bytes([2; 16]));
        let sym = KeyRef::Id(KeyId::from_random_bytes([3; 16]));
        let spec = |k: &KeyRef| match k {
            k if *k == rsa => Some(KeySpec::Rsa3072),
            k if *k == ecc => Some(KeySpec::EccSecgP256k1),
            k if *k == sym => Some(KeySpec::SymmetricDefault),
            _ => None,
        };
        let msg = || crate::Plaintext::new(vec![1]);
        let sign = |k: &KeyRef| {
            Request::Sign(SignRequest::new(
                k.clone(),
                msg(),
                crate::SigningAlgorithm::EcdsaSha256,
            ))
        };
        assert_eq!(sign(&rsa).throttle_class(spec), ThrottleClass::Rsa);
        assert_eq!(sign(&ecc).throttle_class(spec), ThrottleClass::Ecc);
        let enc = |k: &KeyRef| Request::Encrypt(EncryptRequest::new(k.clone(), msg()));
        assert_eq!(enc(&rsa).throttle_class(spec), ThrottleClass::Rsa);
        assert_eq!(enc(&sym).throttle_class(spec), ThrottleClass::Cryptographic);
        // A reference that names no key counts as its row says; the call fails on its own.
        let unknown = KeyRef::Id(KeyId::from_random_bytes([9; 16]));
        assert_eq!(
            enc(&unknown).throttle_class(spec),
            ThrottleClass::Cryptographic
        );
        // Decrypt without KeyId opens a blob: symmetric.
        let dec = Request::Decrypt(DecryptRequest::new(vec![1; 40]));
        assert_eq!(dec.throttle_class(spec), ThrottleClass::Cryptographic);
        let dec = Request::Decrypt(DecryptRequest::new(vec![1; 40]).with_key_id(rsa.clone()));
        assert_eq!(dec.throttle_class(spec), ThrottleClass::Rsa);
        let pair = Request::GenerateDataKeyPairWithoutPlaintext(GenerateDataKeyPairRequest::new(
            sym.clone(),
            DataKeyPairSpec::Rsa4096,
        ));
        assert_eq!(pair.throttle_class(spec), ThrottleClass::DataKeyPairRsa4096);
        let derive =
            Request::DeriveSharedSecret(DeriveSharedSecretRequest::new(ecc.clone(), vec![1]));
        assert_eq!(derive.throttle_class(spec), ThrottleClass::Ecc);
        let gpk = Request::GetPublicKey(GetPublicKeyRequest::new(rsa.clone()));
        assert_eq!(gpk.throttle_class(spec), ThrottleClass::GetPublicKey);
        let mac = Request::GenerateMac(GenerateMacRequest::new(
            sym.clone(),
            msg(),
            crate::MacAlgorithm::HmacSha256,
        ));
        assert_eq!(mac.throttle_class(spec), ThrottleClass::Cryptographic);
        assert!(Operation::Sign.throttled_by_request());
        assert!(!Operation::GenerateRandom.throttled_by_request());
        assert!(!Operation::GetPublicKey.throttled_by_request());
        assert!(!ThrottleClass::GetPublicKey.shared());
        assert!(ThrottleClass::Rsa.shared() && ThrottleClass::DataKeyPairRsa2048.shared());
    }

    #[test]
    fn the_aws_key_state_table() {
        let arn = ArnScope::default().key_arn(KeyId::from_random_bytes([1; 16]));
        use ErrorKind as E;
        use KeyState as S;
        use KeyStates as K;
        let cases: &[(K, S, Option<E>)] = &[
            (K::Enabled, S::Enabled, None),
            (K::Enabled, S::Disabled, Some(E::Disabled)),
            (K::Enabled, S::PendingDeletion, Some(E::KmsInvalidState)),
            (K::Enabled, S::PendingImport, Some(E::KmsInvalidState)),
            (K::Enabled, S::Unavailable, Some(E::KmsInvalidState)),
            (K::EnabledOrDisabled, S::Enabled, None),
            (K::EnabledOrDisabled, S::Disabled, None),
            (
                K::EnabledOrDisabled,
                S::PendingDeletion,
                Some(E::KmsInvalidState),
            ),
            (K::PendingDeletion, S::PendingDeletion, None),
            (K::PendingDeletion, S::Enabled, Some(E::KmsInvalidState)),
            (K::PendingDeletion, S::Disabled, Some(E::KmsInvalidState)),
            (K::NotPending, S::Enabled, None),
            (K::NotPending, S::Disabled, None),
            (K::NotPending, S::PendingDeletion, None),
            (K::NotPending, S::PendingImport, Some(E::KmsInvalidState)),
            (K::Any, S::PendingDeletion, None),
            (K::Any, S::Unavailable, None),
            (
                K::EnabledOrDisabled,
                S::PendingImport,
                Some(E::KmsInvalidState),
            ),
            (K::Manageable, S::Enabled, None),
            (K::Manageable, S::Disabled, None),
            (K::Manageable, S::PendingImport, None),
            (K::Manageable, S::PendingDeletion, Some(E::KmsInvalidState)),
            (K::Importable, S::PendingImport, None),
            (K::Importable, S::PendingDeletion, Some(E::KmsInvalidState)),
            (K::MaterialDeletable, S::PendingDeletion, None),
            (K::MaterialDeletable, S::PendingImport, None),
            (
                K::MaterialDeletable,
                S::Unavailable,
                Some(E::KmsInvalidState),
            ),
        ];
        for (k, s, want) in cases {
            let got = k.check(*s, || arn.clone()).err().map(|e| e.kind());
            assert_eq!(got, *want, "{k:?} in {s}");
        }
        let e = K::Enabled.check(S::Disabled, || arn.clone()).unwrap_err();
        assert_eq!(e.message(), format!("{arn} is disabled."));
        // AWS's footnote 5 of the key-state table.
        let e = K::EnabledOrDisabled
            .check(S::PendingImport, || arn.clone())
            .unwrap_err();
        assert_eq!(e.message(), format!("{arn} is pending import."));
    }
}
