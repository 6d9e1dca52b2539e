//! RSAES-OAEP with a key pair in the token (MGF1 with the same hash, empty label), as AWS's
//! RSAES_OAEP_SHA_1 and RSAES_OAEP_SHA_256 define it.
//!
//! SHA-1: `CKM_RSA_PKCS_OAEP` in the token, both ways. SHA-256: `CKM_RSA_PKCS_OAEP` with
//! SHA-256 where the token accepts those parameters; SoftHSM 2.6.1 refuses them at
//! C_EncryptInit/C_DecryptInit (CKR_ARGUMENTS_BAD), and then the padding is done on the host
//! ([`crate::oaep`]) around raw RSA in the token (`CKM_RSA_X_509`): with the public object
//! to encrypt (the seed drawn from the token's RNG), with the private object to decrypt, so
//! the private-key operation never leaves the token. Which path a token takes is decided on
//! each call by the token's answer to the init (an init that is refused costs no RSA
//! operation), so it is right for every token without state; see
//! `docs/formats/asymmetric.md` and, for the decryption side, `docs/SECURITY.md`.
//!
//! Every failure to decrypt, whichever step failed and whichever code the token used, is
//! the one opaque [`TokenError::DecryptFailed`].

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::Session;
use zeroize::Zeroizing;

use super::{ObjectId, Token, is_authentication_failure};
use crate::error::TokenError;
use crate::oaep;

/// The hash (and MGF1 hash) of an RSAES-OAEP operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OaepHash {
    /// SHA-1 (AWS's RSAES_OAEP_SHA_1).
    Sha1,
    /// SHA-256 (AWS's RSAES_OAEP_SHA_256).
    Sha256,
}

impl OaepHash {
    /// The hash's output length in bytes (hLen).
    pub fn output_len(self) -> usize {
        match self {
            OaepHash::Sha1 => 20,
            OaepHash::Sha256 => oaep::SHA256_LEN,
        }
    }

    /// The longest plaintext this hash lets a modulus of `modulus_len` bytes carry:
    /// `k - 2 hLen - 2` (RSA_2048: 214 with SHA-1, 190 with SHA-256).
    pub fn max_plaintext_len(self, modulus_len: usize) -> usize {
        oaep::max_message_len(modulus_len, self.output_len())
    }

    fn params(self) -> PkcsOaepParams<'static> {
        let (hash, mgf) = match self {
            OaepHash::Sha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
            OaepHash::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
        };
        PkcsOaepParams::new(hash, mgf, PkcsOaepSource::empty())
    }
}

/// The public numbers of an RSA key, as the token holds them (big-endian, as PKCS#11 stores
/// them). Public, so they may be read: they are what GetPublicKey encodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaPublicNumbers {
    /// CKA_MODULUS.
    pub modulus: Vec<u8>,
    /// CKA_PUBLIC_EXPONENT.
    pub public_exponent: Vec<u8>,
}

impl RsaPublicNumbers {
    /// The modulus length in bytes (k), leading zero bytes not counted.
    pub fn modulus_len(&self) -> usize {
        let zeros = self.modulus.iter().take_while(|b| **b == 0).count();
        self.modulus.len() - zeros
    }
}

/// Codes with which a token refuses OAEP parameters it does not implement, at init.
fn refuses_parameters(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::ArgumentsBad | RvError::MechanismParamInvalid | RvError::MechanismInvalid
    )
}

impl Token {
    /// The modulus and public exponent of the RSA key object `key` (either half of a pair).
    pub fn rsa_public_numbers(&self, key: &ObjectId) -> Result<RsaPublicNumbers, TokenError> {
        self.run(|t, s| {
            let handle = t.handle(s, key)?;
            read_public_numbers(s, handle)
        })
    }

    /// RSAES-OAEP encryption of `plaintext` with the public key object `public`.
    ///
    /// Returns the ciphertext, exactly the modulus length. A plaintext longer than
    /// [`OaepHash::max_plaintext_len`] is [`TokenError::InvalidInput`].
    pub fn rsa_oaep_encrypt(
        &self,
        public: &ObjectId,
        hash: OaepHash,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, TokenError> {
        self.run(|t, s| {
            let handle = t.handle(s, public)?;
            let k = read_public_numbers(s, handle)?.modulus_len();
            let max = hash.max_plaintext_len(k);
            if plaintext.len() > max {
                return Err(TokenError::InvalidInput(format!(
                    "RSAES-OAEP with a {}-bit modulus carries at most {max} bytes; {} given",
                    k * 8,
                    plaintext.len()
                )));
            }
            let mut out = vec![0u8; k];
            let params = hash.params();
            match s.encrypt_init(&Mechanism::RsaPkcsOaep(params), handle) {
                Ok(()) => {
                    let n = t.module.raw.encrypt(s.handle(), plaintext, &mut out)?;
                    return exact(out, n, k);
                }
                Err(CkError::Pkcs11(rv, _))
                    if hash == OaepHash::Sha256 && refuses_parameters(rv) => {}
                Err(e) => return Err(e.into()),
            }
            // The token cannot do OAEP with SHA-256: encode here, raw RSA with the public key
            // in the token.
            let mut seed = Zeroizing::new([0u8; oaep::SHA256_LEN]);
            t.draw(s, &mut seed[..])?;
            let em = oaep::encode_sha256(k, plaintext, &seed).ok_or_else(|| {
                TokenError::InvalidInput(format!("{} bytes do not fit", plaintext.len()))
            })?;
            s.encrypt_init(&Mechanism::RsaX509, handle)?;
            let n = t.module.raw.encrypt(s.handle(), &em, &mut out)?;
            exact(out, n, k)
        })
    }

    /// RSAES-OAEP decryption of `ciphertext` with the private key object `private`.
    ///
    /// Any failure to decrypt (a ciphertext of the wrong length or not below the modulus, a
    /// wrong key, hash or padding, whichever code the token answered with) is
    /// [`TokenError::DecryptFailed`], and the host-side decoding takes the same time whatever
    /// was wrong with the padding.
    pub fn rsa_oaep_decrypt(
        &self,
        private: &ObjectId,
        hash: OaepHash,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, TokenError> {
        self.run(|t, s| {
            let handle = t.handle(s, private)?;
            let k = read_public_numbers(s, handle)?.modulus_len();
            if ciphertext.len() != k {
                // RFC 8017 §7.1.2 step 1: the length is public, this says nothing secret.
                return Err(TokenError::DecryptFailed);
            }
            let mut out = Zeroizing::new(vec![0u8; k]);
            let params = hash.params();
            match s.decrypt_init(&Mechanism::RsaPkcsOaep(params), handle) {
                Ok(()) => {
                    let n = decrypt_call(t, s, ciphertext, &mut out)?;
                    out.truncate(n);
                    return Ok(out);
                }
                Err(CkError::Pkcs11(rv, _))
                    if hash == OaepHash::Sha256 && refuses_parameters(rv) => {}
                Err(e) => return Err(e.into()),
            }
            // Raw RSA with the private key, in the token; the decoding here is constant-time
            // and has one failure.
            s.decrypt_init(&Mechanism::RsaX509, handle)?;
            let n = decrypt_call(t, s, ciphertext, &mut out)?;
            if n < k {
                // A token may drop the leading zero bytes of the integer: put them back.
                out.copy_within(..n, k - n);
                out[..k - n].fill(0);
            }
            oaep::decode_sha256(&out).map_err(|_| TokenError::DecryptFailed)
        })
    }
}

/// One C_Decrypt into `out`; a failure of the decryption itself is `DecryptFailed`.
fn decrypt_call(
    t: &Token,
    s: &Session,
    ciphertext: &[u8],
    out: &mut [u8],
) -> Result<usize, TokenError> {
    match t.module.raw.decrypt(s.handle(), ciphertext, out) {
        Ok(n) if n <= out.len() => Ok(n),
        Ok(n) => Err(TokenError::Cryptoki(format!(
            "C_Decrypt returned {n} bytes for a {}-byte modulus",
            out.len()
        ))),
        Err(CkError::Pkcs11(rv, _)) if is_authentication_failure(rv) => {
            Err(TokenError::DecryptFailed)
        }
        Err(e) => Err(e.into()),
    }
}

/// The output of an RSA encryption, which must fill the modulus length exactly.
fn exact(out: Vec<u8>, n: usize, k: usize) -> Result<Vec<u8>, TokenError> {
    if n != k {
        return Err(TokenError::Cryptoki(format!(
            "C_Encrypt wrote {n} bytes of RSA output for a {k}-byte modulus"
        )));
    }
    Ok(out)
}

pub(super) fn read_public_numbers(
    s: &Session,
    handle: ObjectHandle,
) -> Result<RsaPublicNumbers, TokenError> {
    let (mut modulus, mut public_exponent) = (None, None);
    for a in s.get_attributes(
        handle,
        &[AttributeType::Modulus, AttributeType::PublicExponent],
    )? {
        match a {
            Attribute::Modulus(v) => modulus = Some(v),
            Attribute::PublicExponent(v) => public_exponent = Some(v),
            _ => {}
        }
    }
    match (modulus, public_exponent) {
        (Some(modulus), Some(public_exponent)) if !modulus.is_empty() => Ok(RsaPublicNumbers {
            modulus,
            public_exponent,
        }),
        _ => Err(TokenError::Cryptoki(
            "the object has no RSA modulus and public exponent (not an RSA key?)".into(),
        )),
    }
}
