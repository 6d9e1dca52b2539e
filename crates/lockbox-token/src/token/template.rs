//! Key templates and the two calls that make keys from them: [`Token::generate_key`] for a
//! secret key and [`Token::generate_key_pair`] for a key pair.
//!
//! A template says what a key is for (its type, size and usages); the security attributes are
//! not part of it, because they are the same for every Lockbox key (design invariant 1):
//! CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE true; CKA_EXTRACTABLE, CKA_MODIFIABLE, CKA_COPYABLE
//! false. Every usage attribute the object class has is written, true for the usages the
//! template names and false for every other one, because token defaults differ (SoftHSM
//! makes a secret key able to encrypt, sign and wrap unless told otherwise).
//!
//! Templates come only from constructors that name a purpose (an AES-256 encryption key, an
//! HMAC key for one digest, an RSA or EC key pair for signing, encryption or key agreement),
//! so a template with no usage, a usage its key type cannot have, or an HMAC key shorter than
//! its digest cannot be written down.

use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::types::Ulong;

use super::{ObjectId, Token};
use crate::error::TokenError;

/// A usage attribute of a key object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Usage {
    /// CKA_ENCRYPT.
    Encrypt,
    /// CKA_DECRYPT.
    Decrypt,
    /// CKA_SIGN.
    Sign,
    /// CKA_VERIFY.
    Verify,
    /// CKA_SIGN_RECOVER.
    SignRecover,
    /// CKA_VERIFY_RECOVER.
    VerifyRecover,
    /// CKA_WRAP.
    Wrap,
    /// CKA_UNWRAP.
    Unwrap,
    /// CKA_DERIVE.
    Derive,
}

impl Usage {
    /// The PKCS#11 attribute name.
    pub fn name(self) -> &'static str {
        match self {
            Usage::Encrypt => "CKA_ENCRYPT",
            Usage::Decrypt => "CKA_DECRYPT",
            Usage::Sign => "CKA_SIGN",
            Usage::Verify => "CKA_VERIFY",
            Usage::SignRecover => "CKA_SIGN_RECOVER",
            Usage::VerifyRecover => "CKA_VERIFY_RECOVER",
            Usage::Wrap => "CKA_WRAP",
            Usage::Unwrap => "CKA_UNWRAP",
            Usage::Derive => "CKA_DERIVE",
        }
    }

    fn attribute(self, on: bool) -> Attribute {
        match self {
            Usage::Encrypt => Attribute::Encrypt(on),
            Usage::Decrypt => Attribute::Decrypt(on),
            Usage::Sign => Attribute::Sign(on),
            Usage::Verify => Attribute::Verify(on),
            Usage::SignRecover => Attribute::SignRecover(on),
            Usage::VerifyRecover => Attribute::VerifyRecover(on),
            Usage::Wrap => Attribute::Wrap(on),
            Usage::Unwrap => Attribute::Unwrap(on),
            Usage::Derive => Attribute::Derive(on),
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// The usage attributes a secret key object has (PKCS#11 2.40, 4.10; SoftHSM refuses a
/// template that names one the class lacks with CKR_ATTRIBUTE_TYPE_INVALID).
pub const SECRET_KEY_USAGES: &[Usage] = &[
    Usage::Encrypt,
    Usage::Decrypt,
    Usage::Wrap,
    Usage::Unwrap,
    Usage::Sign,
    Usage::Verify,
    Usage::Derive,
];
/// The usage attributes a private key object has (PKCS#11 2.40, 4.9).
pub const PRIVATE_KEY_USAGES: &[Usage] = &[
    Usage::Decrypt,
    Usage::Sign,
    Usage::SignRecover,
    Usage::Unwrap,
    Usage::Derive,
];
/// The usage attributes a public key object has (PKCS#11 2.40, 4.8).
pub const PUBLIC_KEY_USAGES: &[Usage] = &[
    Usage::Encrypt,
    Usage::Verify,
    Usage::VerifyRecover,
    Usage::Wrap,
    Usage::Derive,
];

/// A set of [`Usage`]s: the ones a key object is created with true.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Usages(u16);

impl Usages {
    /// No usage (the public half of a key-agreement pair has none).
    pub const NONE: Usages = Usages(0);

    fn of(usages: &[Usage]) -> Usages {
        Usages(usages.iter().fold(0, |acc, u| acc | u.bit()))
    }

    /// Whether `usage` is in the set.
    pub fn contains(self, usage: Usage) -> bool {
        self.0 & usage.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::fmt::Debug for Usages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const ALL: [Usage; 9] = [
            Usage::Encrypt,
            Usage::Decrypt,
            Usage::Sign,
            Usage::Verify,
            Usage::SignRecover,
            Usage::VerifyRecover,
            Usage::Wrap,
            Usage::Unwrap,
            Usage::Derive,
        ];
        f.debug_set()
            .entries(ALL.iter().filter(|u| self.contains(**u)).map(|u| u.name()))
            .finish()
    }
}

/// The digest of an HMAC key; the key is as long as the digest (SoftHSM refuses shorter
/// HMAC keys, and AWS's HMAC_224..HMAC_512 key specs have exactly these lengths).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HmacDigest {
    /// SHA-224: a 28-byte key, CKM_SHA224_HMAC.
    Sha224,
    /// SHA-256: a 32-byte key, CKM_SHA256_HMAC.
    Sha256,
    /// SHA-384: a 48-byte key, CKM_SHA384_HMAC.
    Sha384,
    /// SHA-512: a 64-byte key, CKM_SHA512_HMAC.
    Sha512,
}

impl HmacDigest {
    /// The key (and digest) length in bytes.
    pub fn key_len(self) -> u64 {
        match self {
            HmacDigest::Sha224 => 28,
            HmacDigest::Sha256 => 32,
            HmacDigest::Sha384 => 48,
            HmacDigest::Sha512 => 64,
        }
    }

    fn mechanism(self) -> (MechanismType, &'static str) {
        match self {
            HmacDigest::Sha224 => (MechanismType::SHA224_HMAC, "CKM_SHA224_HMAC"),
            HmacDigest::Sha256 => (MechanismType::SHA256_HMAC, "CKM_SHA256_HMAC"),
            HmacDigest::Sha384 => (MechanismType::SHA384_HMAC, "CKM_SHA384_HMAC"),
            HmacDigest::Sha512 => (MechanismType::SHA512_HMAC, "CKM_SHA512_HMAC"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SecretKind {
    Aes256,
    Hmac(HmacDigest),
}

/// What a secret key is: its type, length and usages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecretKeyTemplate {
    kind: SecretKind,
    usages: Usages,
}

impl SecretKeyTemplate {
    /// An AES-256 key (CKK_AES, 32 bytes) that encrypts and decrypts, and does nothing else:
    /// the material of a SYMMETRIC_DEFAULT key.
    pub fn aes_256_encrypt_decrypt() -> Self {
        SecretKeyTemplate {
            kind: SecretKind::Aes256,
            usages: Usages::of(&[Usage::Encrypt, Usage::Decrypt]),
        }
    }

    /// A generic-secret key (CKK_GENERIC_SECRET) as long as `digest`, that signs and verifies
    /// (computes and checks HMACs), and does nothing else.
    pub fn hmac(digest: HmacDigest) -> Self {
        SecretKeyTemplate {
            kind: SecretKind::Hmac(digest),
            usages: Usages::of(&[Usage::Sign, Usage::Verify]),
        }
    }

    /// The digest, if this is an HMAC key.
    pub fn hmac_digest(&self) -> Option<HmacDigest> {
        match self.kind {
            SecretKind::Aes256 => None,
            SecretKind::Hmac(d) => Some(d),
        }
    }

    /// CKA_KEY_TYPE.
    pub fn key_type(&self) -> KeyType {
        match self.kind {
            SecretKind::Aes256 => KeyType::AES,
            SecretKind::Hmac(_) => KeyType::GENERIC_SECRET,
        }
    }

    /// CKA_VALUE_LEN, in bytes.
    pub fn value_len(&self) -> u64 {
        match self.kind {
            SecretKind::Aes256 => 32,
            SecretKind::Hmac(d) => d.key_len(),
        }
    }

    /// The usages created true.
    pub fn usages(&self) -> Usages {
        self.usages
    }

    fn mechanism(&self) -> Mechanism<'static> {
        match self.kind {
            SecretKind::Aes256 => Mechanism::AesKeyGen,
            SecretKind::Hmac(_) => Mechanism::GenericSecretKeyGen,
        }
    }

    /// Mechanisms to check for before generating. AES-256-GCM keys need none: opening a
    /// token already requires CKM_AES_KEY_GEN and CKM_AES_GCM.
    fn required_mechanisms(&self) -> Vec<(MechanismType, &'static str)> {
        match self.kind {
            SecretKind::Aes256 => Vec::new(),
            SecretKind::Hmac(d) => vec![
                (
                    MechanismType::GENERIC_SECRET_KEY_GEN,
                    "CKM_GENERIC_SECRET_KEY_GEN",
                ),
                d.mechanism(),
            ],
        }
    }

    /// Whether keys of this template are made copyable when the token's `session_copies`
    /// flag is on: AES and HMAC keys (on SoftHSM, AES-GCM and HMAC run several times faster
    /// with a session copy; see docs/performance.md, "Session-object copies").
    pub fn allows_session_copies(&self) -> bool {
        matches!(self.kind, SecretKind::Aes256 | SecretKind::Hmac(_))
    }

    pub(super) fn attributes(&self, id: &ObjectId, label: &str) -> Vec<Attribute> {
        self.attributes_for(id, label, false)
    }

    /// The attributes of a key of this template; `copyable`: CKA_COPYABLE and CKA_MODIFIABLE
    /// true, so the token can make a session copy of it (see `copies.rs`), and every other
    /// attribute as without.
    pub(super) fn attributes_for(
        &self,
        id: &ObjectId,
        label: &str,
        copyable: bool,
    ) -> Vec<Attribute> {
        let mut a = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(self.key_type()),
            Attribute::ValueLen(Ulong::from(self.value_len())),
        ];
        if copyable {
            a.extend(copyable_object_attributes());
        } else {
            a.extend(private_object_attributes());
        }
        a.extend(usage_attributes(SECRET_KEY_USAGES, self.usages));
        a.push(Attribute::Id(id.as_bytes().to_vec()));
        a.push(Attribute::Label(label.as_bytes().to_vec()));
        a
    }
}

/// RSA modulus sizes (the public exponent is always 65537).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RsaBits {
    /// 2048 bits.
    Rsa2048,
    /// 3072 bits.
    Rsa3072,
    /// 4096 bits.
    Rsa4096,
}

impl RsaBits {
    /// The modulus length in bits.
    pub fn bits(self) -> u64 {
        match self {
            RsaBits::Rsa2048 => 2048,
            RsaBits::Rsa3072 => 3072,
            RsaBits::Rsa4096 => 4096,
        }
    }
}

/// What an RSA key pair is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RsaPurpose {
    /// The private half signs, the public half verifies.
    SignVerify,
    /// The public half encrypts, the private half decrypts.
    EncryptDecrypt,
}

/// Named elliptic curves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 (secp256r1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
    /// SECG secp256k1.
    Secp256k1,
}

impl Curve {
    /// CKA_EC_PARAMS: the DER encoding of the curve's object identifier.
    pub fn ec_params(self) -> &'static [u8] {
        match self {
            // 1.2.840.10045.3.1.7
            Curve::P256 => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
            // 1.3.132.0.34
            Curve::P384 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
            // 1.3.132.0.35
            Curve::P521 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
            // 1.3.132.0.10
            Curve::Secp256k1 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a],
        }
    }
}

/// What an EC key pair is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EcPurpose {
    /// The private half signs (ECDSA), the public half verifies.
    SignVerify,
    /// The private half derives shared secrets (ECDH); the public half has no usage.
    KeyAgreement,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PairKind {
    Rsa(RsaBits),
    Ec(Curve),
}

/// What a key pair is: its type, size or curve, and the usages of each half.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPairTemplate {
    kind: PairKind,
    private_usages: Usages,
    public_usages: Usages,
}

/// The public exponent of every RSA key Lockbox makes: 65537.
pub const RSA_PUBLIC_EXPONENT: [u8; 3] = [0x01, 0x00, 0x01];

impl KeyPairTemplate {
    /// An RSA key pair of `bits` with public exponent 65537, for `purpose`.
    pub fn rsa(bits: RsaBits, purpose: RsaPurpose) -> Self {
        let (private, public) = match purpose {
            RsaPurpose::SignVerify => (Usage::Sign, Usage::Verify),
            RsaPurpose::EncryptDecrypt => (Usage::Decrypt, Usage::Encrypt),
        };
        KeyPairTemplate {
            kind: PairKind::Rsa(bits),
            private_usages: Usages::of(&[private]),
            public_usages: Usages::of(&[public]),
        }
    }

    /// An EC key pair on `curve`, for `purpose`.
    pub fn ec(curve: Curve, purpose: EcPurpose) -> Self {
        let (private, public) = match purpose {
            EcPurpose::SignVerify => (Usages::of(&[Usage::Sign]), Usages::of(&[Usage::Verify])),
            EcPurpose::KeyAgreement => (Usages::of(&[Usage::Derive]), Usages::NONE),
        };
        KeyPairTemplate {
            kind: PairKind::Ec(curve),
            private_usages: private,
            public_usages: public,
        }
    }

    /// An RSA key pair of `bits` that unwraps key material being imported (GetParametersForImport's
    /// wrapping key): the private half decrypts and unwraps (raw RSA decryption is how a token
    /// without OAEP-SHA-256 unwrapping still keeps the private-key operation inside it), the
    /// public half encrypts and wraps.
    pub fn rsa_import_wrapping(bits: RsaBits) -> Self {
        KeyPairTemplate {
            kind: PairKind::Rsa(bits),
            private_usages: Usages::of(&[Usage::Decrypt, Usage::Unwrap]),
            public_usages: Usages::of(&[Usage::Encrypt, Usage::Wrap]),
        }
    }

    /// The modulus size, if this is an RSA key pair.
    pub fn rsa_bits(&self) -> Option<RsaBits> {
        match self.kind {
            PairKind::Rsa(bits) => Some(bits),
            PairKind::Ec(_) => None,
        }
    }

    /// The curve, if this is an EC key pair.
    pub fn curve(&self) -> Option<Curve> {
        match self.kind {
            PairKind::Rsa(_) => None,
            PairKind::Ec(curve) => Some(curve),
        }
    }

    /// CKA_KEY_TYPE of both halves.
    pub fn key_type(&self) -> KeyType {
        match self.kind {
            PairKind::Rsa(_) => KeyType::RSA,
            PairKind::Ec(_) => KeyType::EC,
        }
    }

    /// The usages the private half is created with true.
    pub fn private_usages(&self) -> Usages {
        self.private_usages
    }

    /// The usages the public half is created with true.
    pub fn public_usages(&self) -> Usages {
        self.public_usages
    }

    fn mechanism(&self) -> (Mechanism<'static>, MechanismType, &'static str) {
        match self.kind {
            PairKind::Rsa(_) => (
                Mechanism::RsaPkcsKeyPairGen,
                MechanismType::RSA_PKCS_KEY_PAIR_GEN,
                "CKM_RSA_PKCS_KEY_PAIR_GEN",
            ),
            PairKind::Ec(_) => (
                Mechanism::EccKeyPairGen,
                MechanismType::ECC_KEY_PAIR_GEN,
                "CKM_EC_KEY_PAIR_GEN",
            ),
        }
    }

    pub(super) fn private_attributes(&self, id: &ObjectId, label: &str) -> Vec<Attribute> {
        let mut a = vec![
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(self.key_type()),
        ];
        a.extend(private_object_attributes());
        a.extend(usage_attributes(PRIVATE_KEY_USAGES, self.private_usages));
        a.push(Attribute::Id(id.as_bytes().to_vec()));
        a.push(Attribute::Label(label.as_bytes().to_vec()));
        a
    }

    pub(super) fn public_attributes(&self, id: &ObjectId, label: &str) -> Vec<Attribute> {
        let mut a = vec![
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(self.key_type()),
        ];
        match self.kind {
            PairKind::Rsa(bits) => {
                a.push(Attribute::ModulusBits(Ulong::from(bits.bits())));
                a.push(Attribute::PublicExponent(RSA_PUBLIC_EXPONENT.to_vec()));
            }
            PairKind::Ec(curve) => a.push(Attribute::EcParams(curve.ec_params().to_vec())),
        }
        // A public key has no CKA_SENSITIVE or CKA_EXTRACTABLE: it is public. It is still a
        // private token object that cannot be changed or copied, so only a logged-in Lockbox
        // sees it and nobody can swap what it verifies or encrypts with.
        a.extend([
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Modifiable(false),
            Attribute::Copyable(false),
        ]);
        a.extend(usage_attributes(PUBLIC_KEY_USAGES, self.public_usages));
        a.push(Attribute::Id(id.as_bytes().to_vec()));
        a.push(Attribute::Label(label.as_bytes().to_vec()));
        a
    }
}

/// The CKA_IDs of the two halves of a key pair made by [`Token::generate_key_pair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyPairObjects {
    /// The private key object (CKO_PRIVATE_KEY).
    pub private: ObjectId,
    /// The public key object (CKO_PUBLIC_KEY).
    pub public: ObjectId,
}

/// The security attributes of every key object holding secret material (a secret key or a
/// private key): a private token object, sensitive, never extractable, never modified or
/// copied.
fn private_object_attributes() -> [Attribute; 6] {
    [
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Modifiable(false),
        Attribute::Copyable(false),
    ]
}

/// The security attributes of a secret key that may be copied into a session object: as
/// [`private_object_attributes`], but modifiable and copyable. SoftHSM 2.6.1 refuses a copy
/// of a key that is not copyable (CKR_ACTION_PROHIBITED), and a CKA_TOKEN=false copy of one
/// that is not modifiable (CKR_ATTRIBUTE_READ_ONLY). What that lets a PIN holder do is in
/// docs/SECURITY.md and decision 0036.
fn copyable_object_attributes() -> [Attribute; 6] {
    [
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Modifiable(true),
        Attribute::Copyable(true),
    ]
}

/// Every usage attribute of an object class, true for those in `on`.
fn usage_attributes(class_usages: &'static [Usage], on: Usages) -> impl Iterator<Item = Attribute> {
    class_usages
        .iter()
        .map(move |u| u.attribute(on.contains(*u)))
}

impl Token {
    /// Generates a secret key as `template` describes, as a token object labelled
    /// `<prefix>/<name>` with a random 16-byte CKA_ID drawn from the token's RNG.
    ///
    /// Every security attribute is set explicitly, because token defaults differ: TOKEN,
    /// PRIVATE, SENSITIVE true; EXTRACTABLE, MODIFIABLE, COPYABLE false (MODIFIABLE and
    /// COPYABLE true for a template that [allows session copies](SecretKeyTemplate::allows_session_copies)
    /// when the token's `session_copies` flag is on); the template's usages
    /// true and every other usage attribute of a secret key false. A token without a
    /// mechanism the template needs answers [`TokenError::NotSupported`] naming it. Object
    /// creation is serialized.
    pub fn generate_key(
        &self,
        template: &SecretKeyTemplate,
        name: &str,
    ) -> Result<ObjectId, TokenError> {
        let required = template.required_mechanisms();
        if !required.is_empty() {
            self.require_mechanisms(&required)?;
        }
        let label = format!("{}/{name}", self.label_prefix);
        let mechanism = template.mechanism();
        let copyable = self.session_copies_enabled() && template.allows_session_copies();
        let _serialized = super::objects_lock();
        self.run(|t, s| {
            let mut id = [0u8; 16];
            t.draw(s, &mut id)?;
            let id = ObjectId(id);
            let attributes = template.attributes_for(&id, &label, copyable);
            let handle = s.generate_key(&mechanism, &attributes)?;
            t.handles.write().insert(id, handle);
            Ok(id)
        })
    }

    /// Generates a key pair as `template` describes: two token objects, both labelled
    /// `<prefix>/<name>`.
    ///
    /// **How the halves are identified:** each half has a CKA_ID of its own, 16 random bytes
    /// drawn from the token's RNG, and both are returned; a caller keeps both ids, and finds
    /// either half by its id alone (the handle cache, [`Token::destroy`] and
    /// [`Token::list_objects`] work per object, as for secret keys). The shared label shows
    /// an operator which objects belong together (see decision 0013).
    ///
    /// The private half: TOKEN, PRIVATE, SENSITIVE true; EXTRACTABLE, MODIFIABLE, COPYABLE
    /// false; the template's private usages true and every other private-key usage false.
    /// The public half: TOKEN and PRIVATE true, MODIFIABLE and COPYABLE false, the template's
    /// public usages true and every other public-key usage false. A token without the
    /// key-pair mechanism answers [`TokenError::NotSupported`] naming it.
    pub fn generate_key_pair(
        &self,
        template: &KeyPairTemplate,
        name: &str,
    ) -> Result<KeyPairObjects, TokenError> {
        let (mechanism, mechanism_type, mechanism_name) = template.mechanism();
        self.require_mechanisms(&[(mechanism_type, mechanism_name)])?;
        let label = format!("{}/{name}", self.label_prefix);
        let _serialized = super::objects_lock();
        self.run(|t, s| {
            let mut ids = [0u8; 32];
            t.draw(s, &mut ids)?;
            let (private, public) = ids.split_at(16);
            let mut p = [0u8; 16];
            p.copy_from_slice(private);
            let private = ObjectId(p);
            p.copy_from_slice(public);
            let public = ObjectId(p);
            let (public_handle, private_handle) = s.generate_key_pair(
                &mechanism,
                &template.public_attributes(&public, &label),
                &template.private_attributes(&private, &label),
            )?;
            let mut handles = t.handles.write();
            handles.insert(private, private_handle);
            handles.insert(public, public_handle);
            Ok(KeyPairObjects { private, public })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use cryptoki::object::AttributeType;

    use super::*;

    /// What a built template says about each attribute type (booleans only).
    fn booleans(attrs: &[Attribute]) -> HashMap<AttributeType, bool> {
        attrs
            .iter()
            .filter_map(|a| {
                let v = match a {
                    Attribute::Token(b)
                    | Attribute::Private(b)
                    | Attribute::Sensitive(b)
                    | Attribute::Extractable(b)
                    | Attribute::Modifiable(b)
                    | Attribute::Copyable(b)
                    | Attribute::Encrypt(b)
                    | Attribute::Decrypt(b)
                    | Attribute::Sign(b)
                    | Attribute::Verify(b)
                    | Attribute::SignRecover(b)
                    | Attribute::VerifyRecover(b)
                    | Attribute::Wrap(b)
                    | Attribute::Unwrap(b)
                    | Attribute::Derive(b) => *b,
                    _ => return None,
                };
                Some((a.attribute_type(), v))
            })
            .collect()
    }

    fn usage_type(u: Usage) -> AttributeType {
        u.attribute(true).attribute_type()
    }

    /// Asserts that `attrs` sets every security attribute of a secret-holding object, and
    /// every usage attribute of the class, to the value invariant 1 requires. Dropping any
    /// one attribute from a template fails this (token defaults would then decide it).
    fn assert_explicit(attrs: &[Attribute], class: &[Usage], on: &[Usage], secret: bool) {
        use AttributeType as T;
        let b = booleans(attrs);
        let mut expected = vec![
            (T::Token, true),
            (T::Private, true),
            (T::Modifiable, false),
            (T::Copyable, false),
        ];
        if secret {
            expected.extend([(T::Sensitive, true), (T::Extractable, false)]);
        }
        for u in class {
            expected.push((usage_type(*u), on.contains(u)));
        }
        for (t, v) in &expected {
            assert_eq!(b.get(t), Some(v), "{t:?} must be set to {v}");
        }
        assert_eq!(b.len(), expected.len(), "unexpected attributes in {b:?}");
        let types: Vec<_> = attrs.iter().map(|a| a.attribute_type()).collect();
        assert!(types.contains(&T::Id) && types.contains(&T::Label));
    }

    #[test]
    fn every_template_sets_every_security_and_usage_attribute() {
        let id = ObjectId([7; 16]);
        let aes = SecretKeyTemplate::aes_256_encrypt_decrypt();
        let a = aes.attributes(&id, "lockbox/k/1");
        assert_explicit(
            &a,
            SECRET_KEY_USAGES,
            &[Usage::Encrypt, Usage::Decrypt],
            true,
        );
        assert!(a.contains(&Attribute::KeyType(KeyType::AES)));
        assert!(a.contains(&Attribute::ValueLen(Ulong::from(32))));

        for (d, len) in [
            (HmacDigest::Sha224, 28),
            (HmacDigest::Sha256, 32),
            (HmacDigest::Sha384, 48),
            (HmacDigest::Sha512, 64),
        ] {
            let a = SecretKeyTemplate::hmac(d).attributes(&id, "lockbox/h");
            assert_explicit(&a, SECRET_KEY_USAGES, &[Usage::Sign, Usage::Verify], true);
            assert!(a.contains(&Attribute::KeyType(KeyType::GENERIC_SECRET)));
            assert!(a.contains(&Attribute::ValueLen(Ulong::from(len))));
        }

        for (t, private, public) in [
            (
                KeyPairTemplate::rsa(RsaBits::Rsa2048, RsaPurpose::SignVerify),
                &[Usage::Sign][..],
                &[Usage::Verify][..],
            ),
            (
                KeyPairTemplate::rsa(RsaBits::Rsa4096, RsaPurpose::EncryptDecrypt),
                &[Usage::Decrypt],
                &[Usage::Encrypt],
            ),
            (
                KeyPairTemplate::ec(Curve::P256, EcPurpose::SignVerify),
                &[Usage::Sign],
                &[Usage::Verify],
            ),
            (
                KeyPairTemplate::ec(Curve::Secp256k1, EcPurpose::KeyAgreement),
                &[Usage::Derive],
                &[],
            ),
        ] {
            assert_explicit(
                &t.private_attributes(&id, "l"),
                PRIVATE_KEY_USAGES,
                private,
                true,
            );
            assert_explicit(
                &t.public_attributes(&id, "l"),
                PUBLIC_KEY_USAGES,
                public,
                false,
            );
        }
    }

    #[test]
    fn the_aes_template_is_exactly_the_one_keys_were_made_with() {
        // Keys made before templates existed had exactly these attributes; new ones must
        // look the same.
        let id = ObjectId([1; 16]);
        let expected = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(Ulong::from(32)),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Modifiable(false),
            Attribute::Copyable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
            Attribute::Id(vec![1; 16]),
            Attribute::Label(b"lockbox/k/1".to_vec()),
        ];
        assert_eq!(
            SecretKeyTemplate::aes_256_encrypt_decrypt().attributes(&id, "lockbox/k/1"),
            expected
        );
    }

    #[test]
    fn a_copyable_template_differs_only_in_modifiable_and_copyable() {
        let id = ObjectId([1; 16]);
        for t in [
            SecretKeyTemplate::aes_256_encrypt_decrypt(),
            SecretKeyTemplate::hmac(HmacDigest::Sha512),
        ] {
            assert!(t.allows_session_copies());
            let plain = t.attributes_for(&id, "lockbox/k/1", false);
            assert_eq!(plain, t.attributes(&id, "lockbox/k/1"));
            let copyable = t.attributes_for(&id, "lockbox/k/1", true);
            let expected: Vec<Attribute> = plain
                .into_iter()
                .map(|a| match a {
                    Attribute::Modifiable(false) => Attribute::Modifiable(true),
                    Attribute::Copyable(false) => Attribute::Copyable(true),
                    other => other,
                })
                .collect();
            assert_eq!(copyable, expected);
            assert!(copyable.contains(&Attribute::Sensitive(true)));
            assert!(copyable.contains(&Attribute::Extractable(false)));
        }
    }

    #[test]
    fn usage_sets_print_their_attribute_names() {
        let t = KeyPairTemplate::ec(Curve::P384, EcPurpose::KeyAgreement);
        assert_eq!(format!("{:?}", t.private_usages()), r#"{"CKA_DERIVE"}"#);
        assert!(t.public_usages().is_empty());
    }
}
