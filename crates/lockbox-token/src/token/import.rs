//! Bring your own key material: the RSA wrapping key pair GetParametersForImport hands out,
//! and the unwrapping of material wrapped under it into the token as a CMK object.
//!
//! What stays in the token, by wrapping algorithm (SoftHSM 2.6.1 measured; see
//! `docs/SECURITY.md`, "Imported key material", for the host-memory account):
//!
//! - `RSAES_OAEP_SHA_1`: C_UnwrapKey with CKM_RSA_PKCS_OAEP (SHA-1) into the key object; a
//!   second one into a sensitive session copy, which the token wraps again with AES-KWP under
//!   a session key of its own, so that the output's length bounds the material's (SoftHSM
//!   does not report an unwrapped key's length): the material never reaches the host.
//! - `RSAES_OAEP_SHA_256`: C_UnwrapKey with OAEP-SHA-256 where the token accepts it; SoftHSM
//!   refuses those parameters (CKR_ARGUMENTS_BAD), and then the RSA decryption is raw RSA in
//!   the token (CKM_RSA_X_509 with the private half), the EME-OAEP decoding is done on the
//!   host ([`crate::oaep`]), and the material is created in the token with C_CreateObject:
//!   the material is on the host, in zeroizing buffers, for the duration of one call.
//! - `RSA_AES_KEY_WRAP_SHA_1`/`_256`: the first modulus-length bytes are an RSA-OAEP
//!   encryption of an ephemeral AES key, which is unwrapped into a **session** object (with
//!   SHA-256 on SoftHSM: raw RSA in the token, decoding on the host, C_CreateObject of the
//!   session key); the rest is the material wrapped with AES key wrap with padding (RFC 5649,
//!   CKM_AES_KEY_WRAP_PAD), which C_UnwrapKey unwraps into the token under that session key.
//!   Secret keys and RSA private keys (PKCS#8) never reach the host this way. EC private keys
//!   may also come with RSAES-OAEP alone (as AWS allows; RSA private keys are too long): with
//!   SHA-1 C_UnwrapKey into the private key object, with SHA-256 on SoftHSM the PKCS#8 is
//!   decoded on the host and the object made from its scalar with C_CreateObject. An EC private
//!   key's public point is not an attribute of the unwrapped private object, and no token
//!   mechanism computes it from the private key, so the PKCS#8 is unwrapped a second time as
//!   a readable session secret, read into a zeroizing buffer, its optional `publicKey`
//!   member taken, and the buffer and the session object destroyed before the call returns.
//!
//! Every object made here holds the security attributes [`Token::generate_key`] and
//! [`Token::generate_key_pair`] set (the same templates), except that a token reports an
//! unwrapped or created key as not ALWAYS_SENSITIVE and not NEVER_EXTRACTABLE, as PKCS#11
//! requires: it existed outside the token once, in the caller's hands.
//!
//! A refusal of any kind (the wrapping does not open, the material has the wrong length,
//! type, size or curve) destroys whatever this call made before it returns, so a refused
//! import leaves no material in the token.

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::MechanismType;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::object::{
    Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::Session;
use cryptoki::types::Ulong;
use der::Decode;
use der::Encode;
use der::asn1::OctetString;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::{
    Curve, GCM_IV_LEN, KeyPairObjects, KeyPairTemplate, ObjectId, RsaBits, SecretKeyTemplate,
    Token, is_authentication_failure,
};
use crate::error::TokenError;
use crate::oaep;

/// How imported key material was wrapped (AWS's `WrappingAlgorithm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WrappingAlgorithm {
    /// RSAES-OAEP with SHA-1 (and MGF1-SHA-1), empty label.
    RsaesOaepSha1,
    /// RSAES-OAEP with SHA-256 (and MGF1-SHA-256), empty label.
    RsaesOaepSha256,
    /// An ephemeral AES key wrapped with RSAES-OAEP-SHA-1, followed by the material wrapped
    /// under it with AES key wrap with padding (RFC 5649).
    RsaAesKeyWrapSha1,
    /// As [`WrappingAlgorithm::RsaAesKeyWrapSha1`] with RSAES-OAEP-SHA-256.
    RsaAesKeyWrapSha256,
}

impl WrappingAlgorithm {
    fn sha256(self) -> bool {
        matches!(
            self,
            WrappingAlgorithm::RsaesOaepSha256 | WrappingAlgorithm::RsaAesKeyWrapSha256
        )
    }

    fn two_step(self) -> bool {
        matches!(
            self,
            WrappingAlgorithm::RsaAesKeyWrapSha1 | WrappingAlgorithm::RsaAesKeyWrapSha256
        )
    }

    fn oaep(self) -> PkcsOaepParams<'static> {
        if self.sha256() {
            PkcsOaepParams::new(
                MechanismType::SHA256,
                PkcsMgfType::MGF1_SHA256,
                PkcsOaepSource::empty(),
            )
        } else {
            PkcsOaepParams::new(
                MechanismType::SHA1,
                PkcsMgfType::MGF1_SHA1,
                PkcsOaepSource::empty(),
            )
        }
    }
}

/// How "the same key material" is recognized without reading it: for a secret key, SHA-256
/// of a value only the key can produce, computed in the token (for AES: the GCM tag of an
/// empty message under a fixed IV and fixed associated data; for HMAC: the HMAC of a fixed
/// message); for a key pair, SHA-256 of its DER SubjectPublicKeyInfo. It names the material
/// and reveals nothing about it beyond what any ciphertext or MAC made with it does.
pub type MaterialFingerprint = [u8; 32];

/// The associated data (and HMAC message) of a secret key's fingerprint.
const FINGERPRINT_DATA: &[u8] = b"lockbox imported key material fingerprint v1";
/// The fixed IV of an AES key's fingerprint. Lockbox's own GCM IVs are random, so one of
/// them equals this with probability 2^-96.
const FINGERPRINT_IV: [u8; GCM_IV_LEN] = [0xff; GCM_IV_LEN];

/// Codes with which a token refuses a mechanism or its parameters at init or in the call.
fn refuses_mechanism(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::ArgumentsBad | RvError::MechanismParamInvalid | RvError::MechanismInvalid
    )
}

/// Codes with which C_UnwrapKey says the wrapped bytes did not open (bad padding, a wrong
/// key, a wrong length), whichever the token chose.
fn unwrap_failed(rv: RvError) -> bool {
    is_authentication_failure(rv)
        || matches!(
            rv,
            RvError::WrappedKeyInvalid
                | RvError::WrappedKeyLenRange
                | RvError::UnwrappingKeyTypeInconsistent
                | RvError::TemplateInconsistent
                | RvError::KeySizeRange
        )
}

/// What is known of the length of material unwrapped into the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Length {
    /// The host saw the material (the OAEP-SHA-256 fallback): exactly this many bytes.
    Exact(u64),
    /// The material was AES-KWP-wrapped into this many bytes (RFC 5649: 8 bytes of integrity
    /// check plus the material padded to a multiple of 8).
    Kwp(u64),
    /// The token unwrapped it and does not say.
    Unknown,
}

/// A PKCS#8 private key the host decoded (the OAEP-SHA-256 fallback), in a zeroizing buffer.
type HostPkcs8 = Zeroizing<Vec<u8>>;

/// What the material unwrapped into the token will be.
enum Target<'a> {
    Secret(&'a SecretKeyTemplate),
    Private(&'a KeyPairTemplate),
}

/// The attributes of the ephemeral AES key of an RSA_AES_KEY_WRAP import: a sensitive
/// session object that can only unwrap.
fn ephemeral_aes_attributes() -> Vec<Attribute> {
    modifiable_last(vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Modifiable(false),
        Attribute::Copyable(false),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Wrap(false),
        Attribute::Unwrap(true),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Derive(false),
    ])
}

impl Target<'_> {
    /// The unwrap template: the generation template without what C_UnwrapKey must not be
    /// given (PKCS#11 2.40 table footnote 6: CKA_VALUE_LEN of a secret key is taken from the
    /// unwrapped value), checked after the unwrap instead.
    ///
    /// CKA_MODIFIABLE false comes last: SoftHSM 2.6.1 applies an unwrap template in order
    /// and answers CKR_ATTRIBUTE_READ_ONLY for every attribute after it (measured).
    fn attributes(&self, id: &ObjectId, label: &str) -> Vec<Attribute> {
        let all = match self {
            Target::Secret(t) => t.attributes(id, label),
            Target::Private(t) => t.private_attributes(id, label),
        };
        modifiable_last(
            all.into_iter()
                .filter(|a| !matches!(a, Attribute::ValueLen(_)))
                .collect(),
        )
    }
}

/// The template of a session copy of unwrapped material: a generic secret with no usage, which
/// the token can wrap again (extractable); readable by the host only when not `sensitive`.
fn session_copy(sensitive: bool) -> Vec<Attribute> {
    modifiable_last(vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(sensitive),
        Attribute::Extractable(true),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Derive(false),
        Attribute::Modifiable(false),
    ])
}

/// `attributes` with CKA_MODIFIABLE moved to the end (see [`Target::attributes`]).
fn modifiable_last(mut attributes: Vec<Attribute>) -> Vec<Attribute> {
    let modifiable: Vec<Attribute> = attributes
        .iter()
        .filter(|a| matches!(a, Attribute::Modifiable(_)))
        .cloned()
        .collect();
    attributes.retain(|a| !matches!(a, Attribute::Modifiable(_)));
    attributes.extend(modifiable);
    attributes
}

/// Reads one attribute of `object` into a zeroizing buffer sized from the token's answer.
fn read_secret_value(
    t: &Token,
    s: &Session,
    object: ObjectHandle,
) -> Result<Zeroizing<Vec<u8>>, TokenError> {
    let n = match s
        .get_attribute_info(object, &[AttributeType::Value])?
        .first()
    {
        Some(AttributeInfo::Available(n)) => *n,
        other => {
            return Err(TokenError::Cryptoki(format!(
                "the token did not reveal the unwrapped PKCS#8 ({other:?})"
            )));
        }
    };
    let mut buf = Zeroizing::new(vec![0u8; n]);
    let mut wanted = [(
        cryptoki_sys::CK_ATTRIBUTE_TYPE::from(AttributeType::Value),
        buf.as_mut_slice(),
    )];
    t.module
        .raw
        .read_attributes(s.handle(), object.handle(), &mut wanted)?;
    Ok(buf)
}

/// Objects this call made, destroyed on drop unless kept: a refused import leaves nothing.
struct Made<'s> {
    s: &'s Session,
    handles: Vec<ObjectHandle>,
}

impl Made<'_> {
    fn add(&mut self, h: ObjectHandle) -> ObjectHandle {
        self.handles.push(h);
        h
    }

    fn keep(&mut self, h: ObjectHandle) {
        self.handles.retain(|x| *x != h);
    }
}

impl Drop for Made<'_> {
    fn drop(&mut self) {
        for h in self.handles.drain(..) {
            if let Err(e) = self.s.destroy_object(h) {
                tracing::warn!(error = %e, "could not destroy an object of a refused import");
            }
        }
    }
}

/// Creates an object from `attributes` plus CKA_VALUE `value`, and wipes the attribute's own
/// copy of the value afterwards, whatever happened.
fn create_with_value(
    s: &Session,
    mut attributes: Vec<Attribute>,
    value: &[u8],
) -> Result<ObjectHandle, CkError> {
    let mut v = Vec::with_capacity(value.len());
    v.extend_from_slice(value);
    attributes.push(Attribute::Value(v));
    let made = s.create_object(&attributes);
    for a in attributes.iter_mut() {
        if let Attribute::Value(v) = a {
            v.zeroize();
        }
    }
    made
}

fn value_len(s: &Session, h: ObjectHandle) -> Result<Option<u64>, TokenError> {
    for a in s.get_attributes(h, &[AttributeType::ValueLen])? {
        if let Attribute::ValueLen(n) = a {
            return Ok(Some(u64::from(n)));
        }
    }
    Ok(None)
}

fn map_unwrap(e: CkError) -> TokenError {
    match e {
        CkError::Pkcs11(rv, _) if unwrap_failed(rv) => TokenError::DecryptFailed,
        e => e.into(),
    }
}

impl Token {
    /// Generates the RSA wrapping key pair of an import (GetParametersForImport): token
    /// objects labelled `<prefix>/<name>`, each with its own CKA_ID, which survive a restart
    /// (an import token is valid 24 hours). The private half is sensitive, never extractable,
    /// and can only decrypt and unwrap; the public half is read with
    /// [`Token::public_key_info`]. Destroy both with [`Token::destroy`] when done with them.
    pub fn generate_wrapping_key_pair(
        &self,
        bits: RsaBits,
        name: &str,
    ) -> Result<KeyPairObjects, TokenError> {
        self.generate_key_pair(&KeyPairTemplate::rsa_import_wrapping(bits), name)
    }

    /// Unwraps imported secret-key material (`wrapped`, as the caller wrapped it under the
    /// public half of the wrapping pair whose private half is `wrapping_private`) into the
    /// token as a key object made from `template`, labelled `<prefix>/<name>`.
    /// Returns the new object and the material's fingerprint.
    ///
    /// The material must be exactly `template.value_len()` bytes (see the length check in the
    /// body for what a token that does not report the length allows). A wrapping that does
    /// not open is [`TokenError::DecryptFailed`]; material of the wrong length is
    /// [`TokenError::InvalidInput`]. Either way nothing is left in the token.
    pub fn import_secret_key(
        &self,
        wrapping_private: &ObjectId,
        algorithm: WrappingAlgorithm,
        wrapped: &[u8],
        template: &SecretKeyTemplate,
        name: &str,
    ) -> Result<(ObjectId, MaterialFingerprint), TokenError> {
        let label = format!("{}/{name}", self.label_prefix);
        let _serialized = super::objects_lock();
        self.run(|t, s| {
            let mut id = [0u8; 16];
            t.draw(s, &mut id)?;
            let id = ObjectId(id);
            let target = Target::Secret(template);
            let mut made = Made {
                s,
                handles: Vec::new(),
            };
            let (h, seen) = t.unwrap_material(
                s,
                &mut made,
                wrapping_private,
                algorithm,
                wrapped,
                &target,
                &id,
                &label,
            )?;
            let want = template.value_len();
            let wrong = |n: u64| {
                TokenError::InvalidInput(format!(
                    "the key material is {n} bytes; this key spec takes exactly {want}"
                ))
            };
            match (seen, value_len(s, h)?) {
                // What the host saw (the OAEP-SHA-256 fallback) or the token reports.
                (Length::Exact(n), _) | (_, Some(n @ 1..)) if n != want => return Err(wrong(n)),
                (Length::Exact(_), _) | (_, Some(1..)) => {}
                // SoftHSM leaves CKA_VALUE_LEN 0 on C_UnwrapKey and refuses it in the
                // template: bound the length from the AES-KWP output, and let the key's first
                // use below refuse what its mechanism cannot take (an AES key of another AES
                // length than 16, 24 or 32; an HMAC key shorter than its digest).
                (Length::Unknown, _) => {
                    return Err(TokenError::Cryptoki(
                        "the token neither reports the unwrapped key's length nor let it be \
                         bounded"
                            .into(),
                    ));
                }
                (Length::Kwp(kwp), _) => {
                    if kwp != 8 + want.div_ceil(8) * 8 {
                        return Err(TokenError::InvalidInput(format!(
                            "the key material is {}..{} bytes; this key spec takes exactly {want}",
                            kwp.saturating_sub(15),
                            kwp.saturating_sub(8)
                        )));
                    }
                }
            }
            let fingerprint = match fingerprint_of(t, s, h, template) {
                Ok(f) => f,
                Err(TokenError::Pkcs11 { rv, .. }) if key_refused(rv) => {
                    return Err(TokenError::InvalidInput(format!(
                        "the key material is not a {}-byte key its mechanism accepts",
                        template.value_len()
                    )));
                }
                Err(e) => return Err(e),
            };
            made.keep(h);
            t.handles.write().insert(id, h);
            Ok((id, fingerprint))
        })
    }

    /// Unwraps an imported private key (PKCS#8 DER, wrapped with an RSA_AES_KEY_WRAP
    /// algorithm) into the token as the private half of a key pair made from `template`, and
    /// creates its public half as a token object from the public numbers: both labelled
    /// `<prefix>/<name>`, each with its own CKA_ID.
    ///
    /// The key must be of the template's type and size (RSA modulus) or curve; an EC key's
    /// PKCS#8 must carry its public key (the optional `publicKey` of ECPrivateKey, which
    /// OpenSSL and `cryptography` write). Otherwise [`TokenError::InvalidInput`]; a wrapping
    /// that does not open is [`TokenError::DecryptFailed`]. Either way nothing is left.
    pub fn import_key_pair(
        &self,
        wrapping_private: &ObjectId,
        algorithm: WrappingAlgorithm,
        wrapped: &[u8],
        template: &KeyPairTemplate,
        name: &str,
    ) -> Result<KeyPairObjects, TokenError> {
        if !algorithm.two_step() && template.rsa_bits().is_some() {
            return Err(TokenError::InvalidInput(
                "an RSA private key is too long for RSAES-OAEP: wrap it with \
                 RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256"
                    .into(),
            ));
        }
        let label = format!("{}/{name}", self.label_prefix);
        let _serialized = super::objects_lock();
        self.run(|t, s| {
            let mut ids = [0u8; 32];
            t.draw(s, &mut ids)?;
            let mut p = [0u8; 16];
            p.copy_from_slice(&ids[..16]);
            let private = ObjectId(p);
            p.copy_from_slice(&ids[16..]);
            let public = ObjectId(p);
            let mut made = Made {
                s,
                handles: Vec::new(),
            };
            let target = Target::Private(template);
            let (h, host_pkcs8) = match template.curve() {
                Some(curve) if !algorithm.two_step() => {
                    let rsa = t.handle(s, wrapping_private)?;
                    let attributes = target.attributes(&private, &label);
                    t.ec_oaep_unwrap(s, &mut made, rsa, algorithm, wrapped, attributes, curve)?
                }
                _ => {
                    let (h, _) = t.unwrap_material(
                        s,
                        &mut made,
                        wrapping_private,
                        algorithm,
                        wrapped,
                        &target,
                        &private,
                        &label,
                    )?;
                    (h, None)
                }
            };
            let mut public_attrs: Vec<Attribute> = template
                .public_attributes(&public, &label)
                .into_iter()
                .filter(|a| !matches!(a, Attribute::ModulusBits(_) | Attribute::PublicExponent(_)))
                .collect();
            if let Some(bits) = template.rsa_bits() {
                let numbers = super::rsa_oaep::read_public_numbers(s, h)?;
                let got = numbers.modulus_len() * 8;
                if u64::try_from(got).ok() != Some(bits.bits()) {
                    return Err(TokenError::InvalidInput(format!(
                        "the private key has a {got}-bit modulus; this key spec takes {}",
                        bits.bits()
                    )));
                }
                public_attrs.push(Attribute::Modulus(numbers.modulus));
                public_attrs.push(Attribute::PublicExponent(numbers.public_exponent));
            } else if let Some(curve) = template.curve() {
                let params = s
                    .get_attributes(h, &[AttributeType::EcParams])?
                    .into_iter()
                    .find_map(|a| match a {
                        Attribute::EcParams(v) => Some(v),
                        _ => None,
                    });
                if params.as_deref() != Some(curve.ec_params()) {
                    return Err(TokenError::InvalidInput(format!(
                        "the private key is not on the key spec's curve ({curve:?})"
                    )));
                }
                let point = match &host_pkcs8 {
                    Some(pkcs8) => public_point_of_pkcs8(pkcs8, curve)?,
                    None => t.ec_public_point(
                        s,
                        &mut made,
                        wrapping_private,
                        algorithm,
                        wrapped,
                        curve,
                    )?,
                };
                drop(host_pkcs8);
                let der = OctetString::new(point)
                    .and_then(|o| o.to_der())
                    .map_err(super::public_key::der_error)?;
                public_attrs.push(Attribute::EcPoint(der));
            }
            let ph = made.add(s.create_object(&public_attrs)?);
            if template.curve().is_some() && template.private_usages().contains(super::Usage::Sign)
            {
                // The public point came from the PKCS#8's optional member, not from the
                // private scalar: prove in the token that they belong together.
                let digest = Sha256::digest(FINGERPRINT_DATA);
                let signature = s.sign(&Mechanism::Ecdsa, h, &digest)?;
                if s.verify(&Mechanism::Ecdsa, ph, &digest, &signature)
                    .is_err()
                {
                    return Err(TokenError::InvalidInput(
                        "the EC private key's PKCS#8 names a public key that is not its own".into(),
                    ));
                }
            }
            made.keep(h);
            made.keep(ph);
            let mut handles = t.handles.write();
            handles.insert(private, h);
            handles.insert(public, ph);
            Ok(KeyPairObjects { private, public })
        })
    }

    /// The fingerprint of a secret key's material (see [`MaterialFingerprint`]), computed in
    /// the token with the key's own usage (AES: encrypt; HMAC: sign).
    pub fn secret_key_fingerprint(
        &self,
        key: &ObjectId,
        template: &SecretKeyTemplate,
    ) -> Result<MaterialFingerprint, TokenError> {
        self.run(|t, s| {
            let handle = t.handle(s, key)?;
            fingerprint_of(t, s, handle, template)
        })
    }

    /// The fingerprint of a key pair's material: SHA-256 of its public key's DER
    /// SubjectPublicKeyInfo.
    pub fn key_pair_fingerprint(
        &self,
        public: &ObjectId,
    ) -> Result<MaterialFingerprint, TokenError> {
        Ok(Sha256::digest(self.public_key_info(public)?).into())
    }

    /// Unwraps `wrapped` into a token object with `target`'s attributes plus `id` and
    /// `label`; registered in `made`.
    #[allow(clippy::too_many_arguments)]
    fn unwrap_material(
        &self,
        s: &Session,
        made: &mut Made<'_>,
        wrapping_private: &ObjectId,
        algorithm: WrappingAlgorithm,
        wrapped: &[u8],
        target: &Target<'_>,
        id: &ObjectId,
        label: &str,
    ) -> Result<(ObjectHandle, Length), TokenError> {
        let rsa = self.handle(s, wrapping_private)?;
        let attributes = target.attributes(id, label);
        if !algorithm.two_step() {
            return self.rsa_unwrap_resealed(s, made, rsa, algorithm, wrapped, attributes);
        }
        let (aes, material) = self.open_ephemeral(s, made, rsa, algorithm, wrapped)?;
        let h = s
            .unwrap_key(&Mechanism::AesKeyWrapPad, aes, material, &attributes)
            .map_err(map_unwrap)?;
        Ok((made.add(h), Length::Kwp(material.len() as u64)))
    }

    /// RSA-OAEP unwrap of secret material into an object with `attributes`, in the token,
    /// with a bound on its length: SoftHSM reports no CKA_VALUE_LEN for an unwrapped key, so
    /// the material is also unwrapped as a sensitive session secret and wrapped again in the
    /// token with AES-KWP under a session key the token generates, whose output length bounds
    /// the material's length (SoftHSM 2.6.1 pads the value with zeros to a multiple of 8
    /// before wrapping, and writes that length into RFC 5649's length field, so only the
    /// output length is used, and the key object is the one unwrapped directly). The session
    /// objects are destroyed before the call returns. Where the token refuses OAEP-SHA-256
    /// the host fallback of [`Token::rsa_unwrap`] is taken instead.
    fn rsa_unwrap_resealed(
        &self,
        s: &Session,
        made: &mut Made<'_>,
        rsa: ObjectHandle,
        algorithm: WrappingAlgorithm,
        wrapped: &[u8],
        attributes: Vec<Attribute>,
    ) -> Result<(ObjectHandle, Length), TokenError> {
        let (h, length) = self.rsa_unwrap(s, made, rsa, algorithm, wrapped, attributes)?;
        if let Length::Exact(_) = length {
            return Ok((h, length));
        }
        // Sensitive, and extractable only so that the token can wrap it again, under a key of
        // its own making.
        let copy_attributes = session_copy(true);
        let copy = made.add(
            s.unwrap_key(
                &Mechanism::RsaPkcsOaep(algorithm.oaep()),
                rsa,
                wrapped,
                &copy_attributes,
            )
            .map_err(map_unwrap)?,
        );
        let kek = made.add(s.generate_key(
            &Mechanism::AesKeyGen,
            &modifiable_last(vec![
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(Ulong::from(32u64)),
                Attribute::Token(false),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Encrypt(false),
                Attribute::Decrypt(false),
                Attribute::Wrap(true),
                Attribute::Unwrap(true),
                Attribute::Sign(false),
                Attribute::Verify(false),
                Attribute::Derive(false),
                Attribute::Modifiable(false),
            ]),
        )?);
        let resealed = s.wrap_key(&Mechanism::AesKeyWrapPad, kek, copy)?;
        Ok((h, Length::Kwp(resealed.len() as u64)))
    }

    /// RSA-OAEP unwrap of `wrapped` into an object with `attributes`: C_UnwrapKey where the
    /// token takes the parameters, else raw RSA in the token, the OAEP decoding here, and
    /// C_CreateObject (then the length the host saw is returned too).
    fn rsa_unwrap(
        &self,
        s: &Session,
        made: &mut Made<'_>,
        rsa: ObjectHandle,
        algorithm: WrappingAlgorithm,
        wrapped: &[u8],
        attributes: Vec<Attribute>,
    ) -> Result<(ObjectHandle, Length), TokenError> {
        match s.unwrap_key(
            &Mechanism::RsaPkcsOaep(algorithm.oaep()),
            rsa,
            wrapped,
            &attributes,
        ) {
            Ok(h) => return Ok((made.add(h), Length::Unknown)),
            Err(CkError::Pkcs11(rv, _)) if algorithm.sha256() && refuses_mechanism(rv) => {}
            Err(e) => return Err(map_unwrap(e)),
        }
        let plain = self.raw_oaep_sha256(s, rsa, wrapped)?;
        let h = create_with_value(s, attributes, &plain)?;
        Ok((made.add(h), Length::Exact(plain.len() as u64)))
    }

    /// RSAES-OAEP-SHA-256 decryption for a token that cannot: raw RSA with the private key in
    /// the token, the constant-time decoding of [`crate::oaep`] here.
    fn raw_oaep_sha256(
        &self,
        s: &Session,
        rsa: ObjectHandle,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, TokenError> {
        let k = super::rsa_oaep::read_public_numbers(s, rsa)?.modulus_len();
        if wrapped.len() != k {
            return Err(TokenError::DecryptFailed);
        }
        let mut em = Zeroizing::new(vec![0u8; k]);
        s.decrypt_init(&Mechanism::RsaX509, rsa)?;
        let n = match self.module.raw.decrypt(s.handle(), wrapped, &mut em) {
            Ok(n) if n <= k => n,
            Ok(n) => {
                return Err(TokenError::Cryptoki(format!(
                    "C_Decrypt returned {n} bytes for a {k}-byte modulus"
                )));
            }
            Err(CkError::Pkcs11(rv, _)) if is_authentication_failure(rv) => {
                return Err(TokenError::DecryptFailed);
            }
            Err(e) => return Err(e.into()),
        };
        if n < k {
            em.copy_within(..n, k - n);
            em[..k - n].fill(0);
        }
        oaep::decode_sha256(&em).map_err(|_| TokenError::DecryptFailed)
    }

    /// Opens the first step of an RSA_AES_KEY_WRAP import: the ephemeral AES key, as a
    /// session object that can only unwrap; returns it and the rest of `wrapped`.
    fn open_ephemeral<'w>(
        &self,
        s: &Session,
        made: &mut Made<'_>,
        rsa: ObjectHandle,
        algorithm: WrappingAlgorithm,
        wrapped: &'w [u8],
    ) -> Result<(ObjectHandle, &'w [u8]), TokenError> {
        let k = super::rsa_oaep::read_public_numbers(s, rsa)?.modulus_len();
        // RFC 5649 output is at least 16 bytes.
        if wrapped.len() < k + 16 {
            return Err(TokenError::DecryptFailed);
        }
        let (rsa_part, material) = wrapped.split_at(k);
        let (aes, seen) = self.rsa_unwrap(
            s,
            made,
            rsa,
            algorithm,
            rsa_part,
            ephemeral_aes_attributes(),
        )?;
        // An AES key of another length is refused by the AES-KWP unwrap itself where the
        // token cannot say its length.
        match (seen, value_len(s, aes)?) {
            (Length::Exact(16 | 24 | 32), _)
            | (Length::Kwp(_) | Length::Unknown, Some(0 | 16 | 24 | 32) | None) => {
                Ok((aes, material))
            }
            _ => Err(TokenError::DecryptFailed),
        }
    }

    /// RSAES-OAEP unwrap of an EC private key's PKCS#8 into a private key object with
    /// `attributes`: C_UnwrapKey where the token takes the parameters (SoftHSM 2.6.1 does with
    /// SHA-1), else raw RSA in the token, the decoding here, and C_CreateObject from the
    /// private scalar (the key's curve checked first); then the PKCS#8, which the host holds
    /// anyway on that path, is returned for its public key.
    #[allow(clippy::too_many_arguments)]
    fn ec_oaep_unwrap(
        &self,
        s: &Session,
        made: &mut Made<'_>,
        rsa: ObjectHandle,
        algorithm: WrappingAlgorithm,
        wrapped: &[u8],
        attributes: Vec<Attribute>,
        curve: Curve,
    ) -> Result<(ObjectHandle, Option<HostPkcs8>), TokenError> {
        match s.unwrap_key(
            &Mechanism::RsaPkcsOaep(algorithm.oaep()),
            rsa,
            wrapped,
            &attributes,
        ) {
            Ok(h) => return Ok((made.add(h), None)),
            Err(CkError::Pkcs11(rv, _)) if algorithm.sha256() && refuses_mechanism(rv) => {}
            Err(e) => return Err(map_unwrap(e)),
        }
        let pkcs8 = self.raw_oaep_sha256(s, rsa, wrapped)?;
        let scalar = ec_scalar_of_pkcs8(&pkcs8, curve)?;
        let mut attributes = attributes;
        attributes.push(Attribute::EcParams(curve.ec_params().to_vec()));
        let h = create_with_value(s, attributes, &scalar)?;
        Ok((made.add(h), Some(pkcs8)))
    }

    /// The public point of an imported EC private key, from the PKCS#8's `publicKey`: the
    /// PKCS#8 is unwrapped once more as a readable session secret, read into a zeroizing
    /// buffer, and the session object destroyed (see the module's documentation).
    fn ec_public_point(
        &self,
        s: &Session,
        made: &mut Made<'_>,
        wrapping_private: &ObjectId,
        algorithm: WrappingAlgorithm,
        wrapped: &[u8],
        curve: Curve,
    ) -> Result<Vec<u8>, TokenError> {
        let rsa = self.handle(s, wrapping_private)?;
        let readable = session_copy(false);
        let copy = if algorithm.two_step() {
            let (aes, material) = self.open_ephemeral(s, made, rsa, algorithm, wrapped)?;
            s.unwrap_key(&Mechanism::AesKeyWrapPad, aes, material, &readable)
        } else {
            s.unwrap_key(
                &Mechanism::RsaPkcsOaep(algorithm.oaep()),
                rsa,
                wrapped,
                &readable,
            )
        };
        let copy = made.add(copy.map_err(map_unwrap)?);
        let pkcs8 = read_secret_value(self, s, copy);
        // The readable copy goes now, not when the call ends.
        made.keep(copy);
        s.destroy_object(copy)?;
        let pkcs8 = pkcs8?;
        let point = public_point_of_pkcs8(&pkcs8, curve)?;
        Ok(point)
    }
}

/// The fingerprint of the secret key `handle` (see [`MaterialFingerprint`]).
fn fingerprint_of(
    t: &Token,
    s: &Session,
    handle: ObjectHandle,
    template: &SecretKeyTemplate,
) -> Result<MaterialFingerprint, TokenError> {
    let check = match template.hmac_digest() {
        Some(d) => s.sign(&super::mac::mechanism(d), handle, FINGERPRINT_DATA)?,
        None => {
            let mut iv = FINGERPRINT_IV;
            let mechanism = Mechanism::AesGcm(GcmParams::new(
                &mut iv,
                FINGERPRINT_DATA,
                Ulong::from(super::GCM_TAG_BITS),
            )?);
            s.encrypt_init(&mechanism, handle)?;
            let mut out = [0u8; super::GCM_TAG_LEN];
            let n = t.module.raw.encrypt(s.handle(), &[], &mut out)?;
            drop(mechanism);
            if n != out.len() {
                return Err(TokenError::Cryptoki(format!(
                    "C_Encrypt of an empty message wrote {n} bytes, not a 16-byte tag"
                )));
            }
            out.to_vec()
        }
    };
    Ok(Sha256::digest(&check).into())
}

/// Codes with which a token refuses a key its mechanism cannot take (a wrong length).
fn key_refused(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::KeySizeRange | RvError::KeyTypeInconsistent | RvError::GeneralError
            | RvError::KeyFunctionNotPermitted
            // SoftHSM 2.6.1 at C_EncryptInit with AES-GCM for a 28-byte AES key (measured);
            // AES-GCM itself is required when the token is opened.
            | RvError::MechanismInvalid
    )
}

/// The private scalar of an EC PKCS#8 on `curve`, in a zeroizing buffer.
fn ec_scalar_of_pkcs8(pkcs8: &[u8], curve: Curve) -> Result<Zeroizing<Vec<u8>>, TokenError> {
    let bad = |why: &str| TokenError::InvalidInput(format!("the EC private key {why}"));
    let info = pkcs8::PrivateKeyInfo::from_der(pkcs8).map_err(|_| bad("is not PKCS#8 DER"))?;
    let params = info
        .algorithm
        .parameters
        .map(|p| p.to_der())
        .transpose()
        .map_err(|_| bad("has unreadable parameters"))?;
    if params.as_deref() != Some(curve.ec_params()) {
        return Err(TokenError::InvalidInput(format!(
            "the private key is not on the key spec's curve ({curve:?})"
        )));
    }
    let ec = sec1::EcPrivateKey::from_der(info.private_key)
        .map_err(|_| bad("is not an ECPrivateKey"))?;
    Ok(Zeroizing::new(ec.private_key.to_vec()))
}

/// The uncompressed public point in an EC PKCS#8's ECPrivateKey `publicKey`.
fn public_point_of_pkcs8(pkcs8: &[u8], curve: Curve) -> Result<Vec<u8>, TokenError> {
    let bad = |why: &str| TokenError::InvalidInput(format!("the EC private key {why}"));
    let info = pkcs8::PrivateKeyInfo::from_der(pkcs8).map_err(|_| bad("is not PKCS#8 DER"))?;
    let ec = sec1::EcPrivateKey::from_der(info.private_key)
        .map_err(|_| bad("is not an ECPrivateKey"))?;
    let point = ec.public_key.ok_or_else(|| {
        bad(
            "has no public key in its PKCS#8 (ECPrivateKey's optional publicKey): Lockbox needs \
             it, as the token cannot compute it",
        )
    })?;
    let want = 1 + 2 * curve.field_len();
    if point.len() != want || point.first() != Some(&0x04) {
        return Err(bad(
            "has a public key that is not an uncompressed point on its curve",
        ));
    }
    Ok(point.to_vec())
}
