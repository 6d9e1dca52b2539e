//! HMACs under generic-secret keys held in the token: GenerateMac and VerifyMac for HMAC
//! CMKs, and the audit log's seals (which are HMAC-SHA256, see `audit_key`).
//!
//! Both directions run in the token (C_Sign and C_Verify with CKM_SHA*_HMAC); the key never
//! leaves it. The check is the token's C_Verify rather than a C_Sign and a comparison here:
//! it is one call either way, the expected MAC never crosses the PKCS#11 boundary, and the
//! token compares it (SoftHSM 2.6.1 checks the length first, CKR_SIGNATURE_LEN_RANGE, then
//! the bytes, CKR_SIGNATURE_INVALID). Both answers mean "not this MAC", so both are `false`.

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;

use super::{HmacDigest, ObjectId, Token};
use crate::error::TokenError;

/// The PKCS#11 mechanism that computes an HMAC with `digest`.
pub(super) fn mechanism(digest: HmacDigest) -> Mechanism<'static> {
    match digest {
        HmacDigest::Sha224 => Mechanism::Sha224Hmac,
        HmacDigest::Sha256 => Mechanism::Sha256Hmac,
        HmacDigest::Sha384 => Mechanism::Sha384Hmac,
        HmacDigest::Sha512 => Mechanism::Sha512Hmac,
    }
}

impl Token {
    /// The HMAC of `message` with `digest` under the token key `key` (C_Sign): as long as
    /// the digest (28, 32, 48 or 64 bytes).
    pub fn hmac(
        &self,
        key: &ObjectId,
        digest: HmacDigest,
        message: &[u8],
    ) -> Result<Vec<u8>, TokenError> {
        let want = usize::try_from(digest.key_len()).unwrap_or(usize::MAX);
        self.run(|t, s| {
            let key = t.key_handle(s, key)?;
            let handle = key.handle();
            let mac = s.sign(&mechanism(digest), handle, message)?;
            if mac.len() != want {
                return Err(TokenError::Cryptoki(format!(
                    "C_Sign returned {} bytes of HMAC with {digest:?}, expected {want}",
                    mac.len()
                )));
            }
            Ok(mac)
        })
    }

    /// Checks in the token (C_Verify) that `mac` is the HMAC of `message` with `digest`
    /// under `key`. A MAC that does not match, or has another length (a truncated MAC), is
    /// `Ok(false)`, never an error.
    pub fn hmac_verify(
        &self,
        key: &ObjectId,
        digest: HmacDigest,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, TokenError> {
        self.run(|t, s| {
            let key = t.key_handle(s, key)?;
            let handle = key.handle();
            match s.verify(&mechanism(digest), handle, message, mac) {
                Ok(()) => Ok(true),
                // C_Verify ends the operation on either answer, so the session is clean.
                Err(CkError::Pkcs11(RvError::SignatureInvalid | RvError::SignatureLenRange, _)) => {
                    Ok(false)
                }
                Err(e) => Err(e.into()),
            }
        })
    }
}
