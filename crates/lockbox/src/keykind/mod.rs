//! Key kinds: what each family of key specs is, as data behind one trait.
//!
//! A [`KeyKind`] is a `&'static` value, one per key family (as rustls's `CryptoProvider`
//! makes cipher suites values): the key specs it serves, the key usages it allows (and the
//! default one), the algorithms each usage allows, the token template that makes a material
//! version, and the cryptographic operations it can do. An operation a kind cannot do is the
//! trait's default: a typed [`Unsupported`] naming the operation and the key spec, never a
//! panic or a match on key specs in the engine.
//!
//! The engine asks [`for_spec`] for a key's kind and calls it; it names no algorithm itself.
//! Adding a key family is one file here and a line in [`KINDS`].

use lockbox_api::{
    EncryptionAlgorithm, EncryptionContext, ErrorKind, KeyAgreementAlgorithm, KeyArn, KeyId,
    KeySpec, KeyUsage, KmsError, MacAlgorithm, Operation, SigningAlgorithm,
};
use lockbox_token::{
    Capabilities, KeyPairTemplate, ObjectId, Requirement, SecretKeyTemplate, Token, TokenError,
};
use zeroize::Zeroizing;

use crate::blob::Blob;

mod ecc;
mod hmac;
mod pairs;
mod peer_key;
mod rsa;
mod signatures;
mod symmetric;

pub(crate) use ecc::ECC;
pub(crate) use hmac::HMAC;
pub(crate) use pairs::{DataKeyPair, generate_data_key_pair};
pub(crate) use rsa::RSA;
pub(crate) use symmetric::SYMMETRIC_DEFAULT;

/// Every key kind Lockbox has. A key spec is served by at most one of them.
pub(crate) static KINDS: &[&'static dyn KeyKind] = &[&SYMMETRIC_DEFAULT, &RSA, &ECC, &HMAC];

/// The kind that serves `spec`.
///
/// A spec no kind serves (SM2, ML-DSA, ...) is refused: `UnsupportedOperationException`
/// naming the PKCS#11 mechanisms such a key needs and every spec some kind serves ("KeySpec
/// ML_DSA_65 is not supported yet: it needs CKM_ML_DSA_KEY_PAIR_GEN and CKM_ML_DSA, which
/// Lockbox does not use; SYMMETRIC_DEFAULT, RSA_2048, ... are.").
pub(crate) fn for_spec(spec: KeySpec) -> Result<&'static dyn KeyKind, KmsError> {
    KINDS
        .iter()
        .copied()
        .find(|k| k.specs().contains(&spec))
        .ok_or_else(|| {
            let served: Vec<&str> = KINDS
                .iter()
                .flat_map(|k| k.specs().iter().map(|s| s.as_str()))
                .collect();
            let verb = if served.len() == 1 { "is" } else { "are" };
            KmsError::new(
                ErrorKind::UnsupportedOperation,
                format!(
                    "KeySpec {spec} is not supported yet: it needs {}, which Lockbox does not \
                     use; {} {verb}.",
                    mechanisms_of_unserved(spec),
                    served.join(", ")
                ),
            )
        })
}

/// What a key of a spec no kind serves would need of a PKCS#11 token, for the refusal.
fn mechanisms_of_unserved(spec: KeySpec) -> &'static str {
    match spec {
        KeySpec::Sm2 => "an SM2 mechanism (PKCS#11 has only vendor-defined ones)",
        KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => {
            "CKM_ML_DSA_KEY_PAIR_GEN and CKM_ML_DSA"
        }
        KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024 => {
            "CKM_ML_KEM_KEY_PAIR_GEN and CKM_ML_KEM"
        }
        KeySpec::EccNistEdwards25519 => "CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA",
        _ => "mechanisms of a key kind Lockbox does not have",
    }
}

/// One family of key specs: what its keys may be used for, how their material is made, and
/// what they can do.
///
/// Implementations are `&'static` values listed in [`KINDS`]. The capability methods
/// (`encrypt`, `decrypt`, `encrypt_data_key`, later sign, MAC, agreement) default to
/// [`Unsupported`]; a kind overrides those it can do.
pub(crate) trait KeyKind: Send + Sync {
    /// A short name for logs ("symmetric").
    fn name(&self) -> &'static str;

    /// The key specs this kind serves.
    fn specs(&self) -> &'static [KeySpec];

    /// The key usages a key of `spec` may have.
    fn usages(&self, spec: KeySpec) -> &'static [KeyUsage];

    /// The usage a CreateKey without KeyUsage gives a key of this kind; `None` when AWS
    /// requires KeyUsage for it (every kind but symmetric encryption).
    fn default_usage(&self) -> Option<KeyUsage>;

    /// The encryption algorithms a key with `usage` allows, the default first (AWS's
    /// `EncryptionAlgorithms` in key metadata). None unless the kind encrypts.
    fn encryption_algorithms(&self, _usage: KeyUsage) -> &'static [EncryptionAlgorithm] {
        &[]
    }

    /// The signing algorithms a key of `spec` with `usage` allows (AWS's `SigningAlgorithms`).
    fn signing_algorithms(&self, _spec: KeySpec, _usage: KeyUsage) -> &'static [SigningAlgorithm] {
        &[]
    }

    /// The MAC algorithms a key of `spec` with `usage` allows (AWS's `MacAlgorithms`).
    fn mac_algorithms(&self, _spec: KeySpec, _usage: KeyUsage) -> &'static [MacAlgorithm] {
        &[]
    }

    /// The key agreement algorithms a key with `usage` allows (AWS's
    /// `KeyAgreementAlgorithms`).
    fn key_agreement_algorithms(&self, _usage: KeyUsage) -> &'static [KeyAgreementAlgorithm] {
        &[]
    }

    /// Whether this kind's ciphertexts are raw (RSA's OAEP output, which names no key, so
    /// Decrypt needs KeyId and EncryptionAlgorithm) rather than Lockbox blobs.
    fn raw_ciphertexts(&self) -> bool {
        false
    }

    /// The token template that makes one material version of a key of `spec` and `usage`.
    fn material_template(&self, spec: KeySpec, usage: KeyUsage) -> MaterialTemplate;

    /// What the token must have to make and use a key of `spec` and `usage`: the key
    /// generation first, then the mechanisms of the usage's operations. A kind that needs
    /// nothing beyond what every token Lockbox opens has (AES key generation and AES-GCM,
    /// checked at open) may leave the default.
    fn token_requirements(&self, _spec: KeySpec, _usage: KeyUsage) -> Vec<Requirement> {
        Vec::new()
    }

    /// Refuses `spec` and `usage` if the token lacks something they need, as CreateKey
    /// words it: `UnsupportedOperationException` naming the missing mechanism or curve.
    fn check_token_supports(
        &self,
        capabilities: &Capabilities,
        spec: KeySpec,
        usage: KeyUsage,
    ) -> Result<(), KmsError> {
        match capabilities.first_missing(&self.token_requirements(spec, usage)) {
            None => Ok(()),
            Some(missing) => Err(KmsError::new(
                ErrorKind::UnsupportedOperation,
                unsupported_by_token(spec, usage, missing),
            )),
        }
    }

    /// The operations this kind does, of those whose answer depends on a key's kind (see
    /// the table's `Operation::depends_on_key_kind`).
    fn operations(&self) -> &'static [Operation];

    /// Whether an operation on a key of this kind is served: an operation that depends on
    /// the kind when the kind lists it, every other operation (key management, operations
    /// that name no key) always.
    fn supports(&self, op: Operation) -> bool {
        !op.depends_on_key_kind() || self.operations().contains(&op)
    }

    /// Whether Lockbox rotates keys of this kind: it supports every rotation operation.
    fn rotatable(&self) -> bool {
        ROTATION.iter().all(|op| self.supports(*op))
    }

    /// Refuses `usage` for `spec` unless this kind allows it, as CreateKey words it.
    fn check_usage(&self, spec: KeySpec, usage: KeyUsage) -> Result<(), KmsError> {
        if self.usages(spec).contains(&usage) {
            return Ok(());
        }
        Err(KmsError::validation(format!(
            "KeyUsage {usage} is not compatible with KeySpec {spec}."
        )))
    }

    /// The encryption algorithm a call on a key of `usage` uses: the requested one if the
    /// kind allows it, else its default when none was requested. `key` names the key in a
    /// refusal; it is only called to make one.
    fn encryption_algorithm(
        &self,
        key: &dyn Fn() -> KeyArn,
        usage: KeyUsage,
        requested: Option<EncryptionAlgorithm>,
    ) -> Result<EncryptionAlgorithm, KmsError> {
        let allowed = self.encryption_algorithms(usage);
        match requested {
            Some(a) if allowed.contains(&a) => Ok(a),
            Some(a) => Err(KmsError::new(
                ErrorKind::InvalidKeyUsage,
                format!(
                    "{} is a {} key; the encryption algorithm {a} is not valid for it.",
                    key(),
                    self.name()
                ),
            )),
            None => allowed.first().copied().ok_or_else(|| {
                KmsError::new(
                    ErrorKind::InvalidKeyUsage,
                    format!("{} is a {} key; it does not encrypt.", key(), self.name()),
                )
            }),
        }
    }

    /// Makes one material version on the token, labelled `<prefix>/<name>` (a key pair's
    /// halves share the label).
    fn generate_material(
        &self,
        token: &Token,
        spec: KeySpec,
        usage: KeyUsage,
        name: &str,
    ) -> Result<NewMaterial, TokenError> {
        match self.material_template(spec, usage) {
            MaterialTemplate::Secret(t) => Ok(NewMaterial {
                object: token.generate_key(&t, name)?,
                public: None,
            }),
            MaterialTemplate::KeyPair(t) => {
                let pair = token.generate_key_pair(&t, name)?;
                Ok(NewMaterial {
                    object: pair.private,
                    public: Some(pair.public),
                })
            }
        }
    }

    /// Encrypt: encrypts `plaintext` under `m` with `algorithm` (one this kind allows): a
    /// new ciphertext blob with the encryption context as associated data, or a raw
    /// ciphertext for a kind with [`KeyKind::raw_ciphertexts`].
    fn encrypt(
        &self,
        _token: &Token,
        m: &MaterialRef,
        _algorithm: EncryptionAlgorithm,
        _context: &EncryptionContext,
        _plaintext: &[u8],
    ) -> Result<Vec<u8>, KindError> {
        Err(Unsupported::new("Encrypt", m.spec).into())
    }

    /// GenerateDataKey: seals a data key the engine drew from the token's RNG under `m`.
    fn encrypt_data_key(
        &self,
        _token: &Token,
        m: &MaterialRef,
        _context: &EncryptionContext,
        _data_key: &[u8],
    ) -> Result<Vec<u8>, KindError> {
        Err(Unsupported::new("GenerateDataKey", m.spec).into())
    }

    /// Decrypt: opens a parsed blob `b` that names `m`. A blob this kind did not make, a
    /// wrong context or any changed bit is `TokenError::DecryptFailed` (one opaque
    /// InvalidCiphertext outward).
    fn decrypt(
        &self,
        _token: &Token,
        m: &MaterialRef,
        _b: &Blob<'_>,
        _context: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, KindError> {
        Err(Unsupported::new("Decrypt", m.spec).into())
    }

    /// Decrypt of a raw ciphertext (a kind with [`KeyKind::raw_ciphertexts`]) under `m` with
    /// `algorithm`. Any failure to decrypt is `TokenError::DecryptFailed` (one opaque
    /// InvalidCiphertext outward, whatever step failed: no padding oracle).
    fn decrypt_raw(
        &self,
        _token: &Token,
        m: &MaterialRef,
        _algorithm: EncryptionAlgorithm,
        _ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KindError> {
        Err(Unsupported::new("Decrypt", m.spec).into())
    }

    /// GetPublicKey: the public half of `m` as a DER X.509 SubjectPublicKeyInfo.
    fn public_key(&self, _token: &Token, m: &MaterialRef) -> Result<Vec<u8>, KindError> {
        Err(Unsupported::new("GetPublicKey", m.spec).into())
    }

    /// Sign: a signature with `algorithm` (one this kind allows for `m`) over `digest`,
    /// the message's hash under the algorithm's hash function (the engine hashes a RAW
    /// message and checks a DIGEST's length). ECDSA signatures are DER, as AWS returns them.
    fn sign(
        &self,
        _token: &Token,
        m: &MaterialRef,
        _algorithm: SigningAlgorithm,
        _digest: &[u8],
    ) -> Result<Vec<u8>, KindError> {
        Err(Unsupported::new("Sign", m.spec).into())
    }

    /// Verify: whether `signature` is `m`'s signature with `algorithm` over `digest`. A
    /// malformed signature is `Ok(false)`, not an error.
    fn verify(
        &self,
        _token: &Token,
        m: &MaterialRef,
        _algorithm: SigningAlgorithm,
        _digest: &[u8],
        _signature: &[u8],
    ) -> Result<bool, KindError> {
        Err(Unsupported::new("Verify", m.spec).into())
    }

    /// GenerateMac: the MAC of `message` under `m` with `algorithm`.
    fn generate_mac(
        &self,
        _token: &Token,
        m: &MaterialRef,
        _algorithm: MacAlgorithm,
        _message: &[u8],
    ) -> Result<Vec<u8>, KindError> {
        Err(Unsupported::new("GenerateMac", m.spec).into())
    }

    /// VerifyMac: whether `mac` is the MAC of `message` under `m` with `algorithm`,
    /// compared in constant time (or by the token).
    fn verify_mac(
        &self,
        _token: &Token,
        m: &MaterialRef,
        _algorithm: MacAlgorithm,
        _message: &[u8],
        _mac: &[u8],
    ) -> Result<bool, KindError> {
        Err(Unsupported::new("VerifyMac", m.spec).into())
    }

    /// DeriveSharedSecret: the ECDH shared secret of `m`'s private key and the peer's
    /// public key (DER SubjectPublicKeyInfo), computed in the token. A malformed peer key,
    /// or one on another curve, is `KindError::Refused` with AWS's error.
    fn derive_shared_secret(
        &self,
        _token: &Token,
        m: &MaterialRef,
        _peer_public_key: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KindError> {
        Err(Unsupported::new("DeriveSharedSecret", m.spec).into())
    }
}

/// Why the token cannot serve `spec` with `usage`: what is missing for the key generation
/// names the spec alone, what is missing for an operation names the usage too.
fn unsupported_by_token(spec: KeySpec, usage: KeyUsage, missing: Requirement) -> String {
    if missing.is_key_generation() {
        format!("KeySpec {spec} needs {missing}, which this token does not support.")
    } else {
        format!(
            "KeySpec {spec} with KeyUsage {usage} needs {missing}, which this token does not \
             support."
        )
    }
}

/// Whether the token can serve one key spec with one key usage (see [`key_spec_support`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySpecSupport {
    /// The key spec.
    pub spec: KeySpec,
    /// The key usage.
    pub usage: KeyUsage,
    /// The first thing the token lacks for them; `None` when CreateKey can make such a key.
    pub missing: Option<Requirement>,
    /// CreateKey's refusal when something is missing.
    pub refusal: Option<String>,
}

/// Every key spec and usage Lockbox serves, and whether a token with `capabilities` can
/// serve each (what `lockbox doctor` lists), in the order of the kinds and their specs.
pub fn key_spec_support(capabilities: &Capabilities) -> Vec<KeySpecSupport> {
    let mut out = Vec::new();
    for kind in KINDS {
        for spec in kind.specs() {
            for usage in kind.usages(*spec) {
                let missing = capabilities.first_missing(&kind.token_requirements(*spec, *usage));
                out.push(KeySpecSupport {
                    spec: *spec,
                    usage: *usage,
                    missing,
                    refusal: missing.map(|m| unsupported_by_token(*spec, *usage, m)),
                });
            }
        }
    }
    out
}

/// The rotation operations (a kind supports all of them or none).
const ROTATION: [Operation; 5] = [
    Operation::EnableKeyRotation,
    Operation::DisableKeyRotation,
    Operation::GetKeyRotationStatus,
    Operation::RotateKeyOnDemand,
    Operation::ListKeyRotations,
];

/// The token template that makes a material version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MaterialTemplate {
    /// One secret key object.
    Secret(SecretKeyTemplate),
    /// A key pair: a private key object and a public key object, each with its own CKA_ID
    /// (decision 0013); the material record names both.
    KeyPair(KeyPairTemplate),
}

/// The token objects one new material version is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NewMaterial {
    /// The secret key, or the private half of a key pair.
    pub(crate) object: ObjectId,
    /// The public half of a key pair.
    pub(crate) public: Option<ObjectId>,
}

/// The material version a cryptographic operation uses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MaterialRef {
    /// The key's spec.
    pub(crate) spec: KeySpec,
    /// The key's usage.
    pub(crate) usage: KeyUsage,
    /// The key.
    pub(crate) key_id: KeyId,
    /// The material version.
    pub(crate) version: u32,
    /// Its token object (the private half, for a key pair).
    pub(crate) object: ObjectId,
    /// The public half's token object, for a key pair.
    pub(crate) public: Option<ObjectId>,
}

/// An operation a key kind cannot do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Unsupported {
    /// The operation, by its AWS name.
    pub(crate) operation: &'static str,
    /// The key spec asked to do it.
    pub(crate) spec: KeySpec,
}

impl Unsupported {
    pub(crate) fn new(operation: &'static str, spec: KeySpec) -> Self {
        Unsupported { operation, spec }
    }
}

impl From<Unsupported> for KmsError {
    fn from(u: Unsupported) -> KmsError {
        KmsError::new(
            ErrorKind::UnsupportedOperation,
            format!(
                "{} is not supported for keys with KeySpec {}.",
                u.operation, u.spec
            ),
        )
    }
}

/// Why a key kind's cryptographic operation failed.
#[derive(Debug)]
pub(crate) enum KindError {
    /// The kind cannot do the operation.
    Unsupported(Unsupported),
    /// The request's input is not acceptable for this key (a plaintext too long for RSA, a
    /// malformed peer public key): AWS's error for it.
    Refused(KmsError),
    /// The token failed or refused (a failed tag check is `TokenError::DecryptFailed`).
    Token(TokenError),
}

impl From<Unsupported> for KindError {
    fn from(u: Unsupported) -> Self {
        KindError::Unsupported(u)
    }
}

impl From<TokenError> for KindError {
    fn from(e: TokenError) -> Self {
        KindError::Token(e)
    }
}

#[cfg(test)]
mod tests {
    use lockbox_token::token_test;

    use super::*;

    #[test]
    fn symmetric_default_is_served_by_the_symmetric_kind() {
        let k = for_spec(KeySpec::SymmetricDefault).unwrap();
        assert_eq!(k.name(), "symmetric");
        assert_eq!(k.default_usage(), Some(KeyUsage::EncryptDecrypt));
        assert_eq!(
            k.usages(KeySpec::SymmetricDefault),
            [KeyUsage::EncryptDecrypt]
        );
        assert_eq!(
            k.encryption_algorithms(KeyUsage::EncryptDecrypt),
            [EncryptionAlgorithm::SymmetricDefault]
        );
        assert!(k.rotatable());
    }

    #[test]
    fn a_spec_no_kind_serves_is_refused_naming_those_served() {
        let refused = [
            KeySpec::Sm2,
            KeySpec::MlDsa44,
            KeySpec::MlDsa65,
            KeySpec::MlDsa87,
            KeySpec::EccNistEdwards25519,
            KeySpec::MlKem512,
            KeySpec::MlKem768,
            KeySpec::MlKem1024,
        ];
        for spec in KeySpec::ALL {
            match for_spec(*spec) {
                Ok(k) => assert!(!refused.contains(spec), "{spec} is served by {}", k.name()),
                Err(e) => {
                    assert!(refused.contains(spec), "{spec} is refused");
                    assert_eq!(e.kind(), ErrorKind::UnsupportedOperation);
                    assert_eq!(
                        e.message(),
                        format!(
                            "KeySpec {spec} is not supported yet: it needs {}, which Lockbox \
                             does not use; SYMMETRIC_DEFAULT, RSA_2048, RSA_3072, RSA_4096, \
                             ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, \
                             HMAC_224, HMAC_256, HMAC_384, HMAC_512 are.",
                            mechanisms_of_unserved(*spec)
                        )
                    );
                    assert!(!mechanisms_of_unserved(*spec).starts_with("mechanisms of"));
                }
            }
        }
    }

    #[test]
    fn every_spec_has_at_most_one_kind() {
        for spec in KeySpec::ALL {
            let n = KINDS.iter().filter(|k| k.specs().contains(spec)).count();
            assert!(n <= 1, "{spec} is served by {n} kinds");
        }
    }

    #[test]
    fn usages_are_checked_with_create_keys_message() {
        let k = for_spec(KeySpec::SymmetricDefault).unwrap();
        assert!(
            k.check_usage(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt)
                .is_ok()
        );
        for usage in KeyUsage::ALL
            .iter()
            .filter(|u| **u != KeyUsage::EncryptDecrypt)
        {
            let e = k
                .check_usage(KeySpec::SymmetricDefault, *usage)
                .err()
                .unwrap();
            assert_eq!(e.kind(), ErrorKind::Validation);
            assert_eq!(
                e.message(),
                format!("KeyUsage {usage} is not compatible with KeySpec SYMMETRIC_DEFAULT.")
            );
        }
    }

    /// A kind that overrides nothing it does not have to.
    struct Bare;

    impl KeyKind for Bare {
        fn name(&self) -> &'static str {
            "bare"
        }
        fn specs(&self) -> &'static [KeySpec] {
            &[KeySpec::Hmac256]
        }
        fn usages(&self, _: KeySpec) -> &'static [KeyUsage] {
            &[KeyUsage::GenerateVerifyMac]
        }
        fn default_usage(&self) -> Option<KeyUsage> {
            Some(KeyUsage::GenerateVerifyMac)
        }
        fn material_template(&self, _: KeySpec, _: KeyUsage) -> MaterialTemplate {
            MaterialTemplate::Secret(SecretKeyTemplate::hmac(lockbox_token::HmacDigest::Sha256))
        }
        fn operations(&self) -> &'static [Operation] {
            &[]
        }
    }

    #[test]
    fn symmetric_keys_support_every_operation_but_the_asymmetric_and_hmac_ones() {
        let k = for_spec(KeySpec::SymmetricDefault).unwrap();
        let not_symmetric = [
            Operation::Sign,
            Operation::Verify,
            Operation::GetPublicKey,
            Operation::GenerateMac,
            Operation::VerifyMac,
            Operation::DeriveSharedSecret,
        ];
        for op in Operation::ALL {
            assert_eq!(k.supports(*op), !not_symmetric.contains(op), "{op:?}");
        }
        // What it lists is exactly the kind-dependent operations it does.
        let listed: Vec<_> = Operation::ALL
            .iter()
            .copied()
            .filter(|op| op.depends_on_key_kind() && !not_symmetric.contains(op))
            .collect();
        assert_eq!(k.operations(), listed);
    }

    #[test]
    fn a_kind_supports_key_management_always_and_its_own_operations_only() {
        for op in Operation::ALL {
            assert_eq!(Bare.supports(*op), !op.depends_on_key_kind(), "{op:?}");
        }
        for op in [
            Operation::DescribeKey,
            Operation::ScheduleKeyDeletion,
            Operation::CreateGrant,
            Operation::TagResource,
        ] {
            assert!(Bare.supports(op));
        }
        for op in [
            Operation::Encrypt,
            Operation::Decrypt,
            Operation::GenerateDataKey,
            Operation::RotateKeyOnDemand,
        ] {
            assert!(!Bare.supports(op));
        }
        assert!(!Bare.rotatable());
    }

    /// A token with every mechanism Lockbox uses and every curve, sizes unstated.
    fn full() -> Capabilities {
        use lockbox_token::{Curve, KeySizes, Mech};
        Capabilities::from_parts(
            Mech::ALL.map(|m| (m, KeySizes { min: 0, max: 0 })),
            [Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1],
        )
    }

    #[test]
    fn createkey_refuses_a_spec_whose_mechanism_the_token_lacks_naming_it() {
        use lockbox_token::{Curve, KeySizes, Mech};
        // With everything, every spec and usage is supported.
        let all = key_spec_support(&full());
        assert_eq!(all.len(), 18, "1 symmetric, 6 RSA, 7 ECC, 4 HMAC");
        assert!(
            all.iter()
                .all(|s| s.missing.is_none() && s.refusal.is_none()),
            "{all:?}"
        );
        // Each thing a spec and usage need, removed, refuses exactly the specs that need it.
        for kind in KINDS {
            for spec in kind.specs() {
                for usage in kind.usages(*spec) {
                    let needs = kind.token_requirements(*spec, *usage);
                    assert!(!needs.is_empty(), "{spec} {usage} needs something");
                    for r in &needs {
                        let caps = match r {
                            Requirement::Mechanism(m) => full().without(*m),
                            Requirement::Curve(c) => full().without_curve(*c),
                            Requirement::RsaModulus(bits) => Capabilities::from_parts(
                                Mech::ALL.map(|m| {
                                    (
                                        m,
                                        KeySizes {
                                            min: 512,
                                            max: bits - 1,
                                        },
                                    )
                                }),
                                [],
                            ),
                        };
                        let e = kind.check_token_supports(&caps, *spec, *usage).unwrap_err();
                        assert_eq!(e.kind(), ErrorKind::UnsupportedOperation);
                        assert!(e.message().contains(&r.to_string()), "{e}");
                    }
                }
            }
        }
        let refusal = |kind: &dyn KeyKind, caps: &Capabilities, spec, usage| {
            kind.check_token_supports(caps, spec, usage)
                .unwrap_err()
                .message()
                .to_owned()
        };
        assert_eq!(
            refusal(
                &ECC,
                &full().without_curve(Curve::Secp256k1),
                KeySpec::EccSecgP256k1,
                KeyUsage::SignVerify
            ),
            "KeySpec ECC_SECG_P256K1 needs the curve secp256k1 (CKM_EC_KEY_PAIR_GEN), which this \
             token does not support."
        );
        // The other curves are unaffected.
        ECC.check_token_supports(
            &full().without_curve(Curve::Secp256k1),
            KeySpec::EccNistP256,
            KeyUsage::SignVerify,
        )
        .unwrap();
        assert_eq!(
            refusal(
                &ECC,
                &full().without(Mech::Ecdh1Derive),
                KeySpec::EccNistP384,
                KeyUsage::KeyAgreement
            ),
            "KeySpec ECC_NIST_P384 with KeyUsage KEY_AGREEMENT needs CKM_ECDH1_DERIVE, which this \
             token does not support."
        );
        ECC.check_token_supports(
            &full().without(Mech::Ecdh1Derive),
            KeySpec::EccNistP384,
            KeyUsage::SignVerify,
        )
        .unwrap();
        assert_eq!(
            refusal(
                &RSA,
                &full().without(Mech::RsaPkcsPss),
                KeySpec::Rsa2048,
                KeyUsage::SignVerify
            ),
            "KeySpec RSA_2048 with KeyUsage SIGN_VERIFY needs CKM_RSA_PKCS_PSS, which this token \
             does not support."
        );
        RSA.check_token_supports(
            &full().without(Mech::RsaPkcsPss),
            KeySpec::Rsa2048,
            KeyUsage::EncryptDecrypt,
        )
        .unwrap();
        let small = Capabilities::from_parts(
            Mech::ALL.map(|m| {
                (
                    m,
                    KeySizes {
                        min: 1024,
                        max: 3072,
                    },
                )
            }),
            [],
        );
        assert_eq!(
            refusal(&RSA, &small, KeySpec::Rsa4096, KeyUsage::EncryptDecrypt),
            "KeySpec RSA_4096 needs 4096-bit RSA keys (CKM_RSA_PKCS_KEY_PAIR_GEN), which this \
             token does not support."
        );
        RSA.check_token_supports(&small, KeySpec::Rsa3072, KeyUsage::EncryptDecrypt)
            .unwrap();
        assert_eq!(
            refusal(
                &HMAC,
                &full().without(Mech::Sha224Hmac),
                KeySpec::Hmac224,
                KeyUsage::GenerateVerifyMac
            ),
            "KeySpec HMAC_224 with KeyUsage GENERATE_VERIFY_MAC needs CKM_SHA224_HMAC, which this \
             token does not support."
        );
        assert_eq!(
            refusal(
                &HMAC,
                &full().without(Mech::GenericSecretKeyGen),
                KeySpec::Hmac512,
                KeyUsage::GenerateVerifyMac
            ),
            "KeySpec HMAC_512 needs CKM_GENERIC_SECRET_KEY_GEN, which this token does not support."
        );
        // What doctor lists says the same.
        let listed = key_spec_support(&full().without_curve(Curve::Secp256k1));
        let k1: Vec<_> = listed.iter().filter(|s| s.missing.is_some()).collect();
        assert_eq!(k1.len(), 1);
        assert_eq!(
            (k1[0].spec, k1[0].usage, k1[0].missing),
            (
                KeySpec::EccSecgP256k1,
                KeyUsage::SignVerify,
                Some(Requirement::Curve(Curve::Secp256k1))
            )
        );
    }

    token_test!(fn softhsm_supports_every_key_spec_and_usage_lockbox_serves(t) {
        let token = t.open()?;
        let all = key_spec_support(token.capabilities());
        assert_eq!(all.len(), 18);
        for s in &all {
            assert_eq!(s.missing, None, "{} {}: {:?}", s.spec, s.usage, s.refusal);
        }
        Ok(())
    });

    fn unsupported(r: Result<impl Sized, KindError>) -> KmsError {
        match r {
            Err(KindError::Unsupported(u)) => u.into(),
            Err(KindError::Token(e)) => panic!("expected Unsupported, got a token error: {e}"),
            Err(KindError::Refused(e)) => panic!("expected Unsupported, got a refusal: {e}"),
            Ok(_) => panic!("expected Unsupported, got a result"),
        }
    }

    token_test!(fn capabilities_a_kind_does_not_have_are_typed_unsupported_errors(t) {
        let token = t.open()?;
        let m = MaterialRef {
            spec: KeySpec::Hmac256,
            usage: KeyUsage::GenerateVerifyMac,
            key_id: KeyId::from_random_bytes([3; 16]),
            version: 1,
            object: ObjectId::from_bytes([4; 16]),
            public: None,
        };
        let ctx = EncryptionContext::default();
        let blob = crate::blob::allocate(crate::blob::ALGORITHMS[0], m.key_id, 1, 1);
        let b = crate::blob::parse(&blob).unwrap();
        for (e, op) in [
            (unsupported(Bare.encrypt(&token, &m, EncryptionAlgorithm::SymmetricDefault, &ctx, b"x")), "Encrypt"),
            (unsupported(Bare.encrypt_data_key(&token, &m, &ctx, b"x")), "GenerateDataKey"),
            (unsupported(Bare.decrypt(&token, &m, &b, &ctx)), "Decrypt"),
            (unsupported(Bare.decrypt_raw(&token, &m, EncryptionAlgorithm::RsaesOaepSha256, b"x")), "Decrypt"),
            (unsupported(Bare.public_key(&token, &m)), "GetPublicKey"),
            (unsupported(Bare.sign(&token, &m, SigningAlgorithm::EcdsaSha256, &[0; 32])), "Sign"),
            (unsupported(Bare.verify(&token, &m, SigningAlgorithm::EcdsaSha256, &[0; 32], b"s")), "Verify"),
            (unsupported(Bare.generate_mac(&token, &m, MacAlgorithm::HmacSha256, b"x")), "GenerateMac"),
            (unsupported(Bare.verify_mac(&token, &m, MacAlgorithm::HmacSha256, b"x", b"m")), "VerifyMac"),
            (unsupported(Bare.derive_shared_secret(&token, &m, b"k")), "DeriveSharedSecret"),
        ] {
            assert_eq!(e.kind(), ErrorKind::UnsupportedOperation);
            assert_eq!(e.message(), format!("{op} is not supported for keys with KeySpec HMAC_256."));
        }
        // Defaults for what a kind that does not encrypt is asked.
        let arn = lockbox_api::ArnScope::new("aws", "us-east-1", "111122223333")?.key_arn(m.key_id);
        let e = Bare.encryption_algorithm(&|| arn.clone(), KeyUsage::GenerateVerifyMac, None).err().unwrap();
        assert_eq!((e.kind(), e.message()), (ErrorKind::InvalidKeyUsage, format!("{arn} is a bare key; it does not encrypt.").as_str()));
        assert!(!Bare.rotatable());
        // The template is what makes material: an HMAC key on the token.
        let made = Bare.generate_material(&token, KeySpec::Hmac256, KeyUsage::GenerateVerifyMac, "k/1")?;
        assert!(token.inspect(&made.object)?.is_generic_secret);
        assert_eq!(made.public, None);
        Ok(())
    });
}
