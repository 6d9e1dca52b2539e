//! What the audit log needs from the token: an HMAC key that never leaves it, and a
//! high-water mark that someone holding only the metadata store cannot roll back.
//!
//! The mark is a private CKO_DATA token object. PKCS#11 lets only attributes marked
//! "modifiable" change after creation, and for a data object that is CKA_LABEL alone:
//! SoftHSM 2.6.1 answers C_SetAttributeValue on CKA_VALUE (and CKA_APPLICATION) with
//! CKR_ATTRIBUTE_READ_ONLY even when CKA_MODIFIABLE is true, and refuses CKA_ID on a data
//! object (CKR_ATTRIBUTE_TYPE_INVALID). So a mark is never modified: writing one creates a
//! new object with a higher generation and then destroys the older ones, and the object's
//! identity (the `ObjectId` callers keep) lives in its value: `id (16) || generation (u64
//! big-endian) || payload`. A crash between the create and the destroy leaves two objects;
//! the higher generation wins, and the next write removes the other.

use cryptoki::error::RvError;
use cryptoki::mechanism::MechanismType;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState};

use super::{HmacDigest, ObjectId, Token};
use crate::error::TokenError;

/// HMAC-SHA256 output length.
pub const HMAC_SHA256_LEN: usize = 32;
const MARK_HEADER: usize = 16 + 8;
const MARK_APPLICATION: &[u8] = b"lockbox audit mark";

impl Token {
    /// HMAC-SHA256 of `data` under the token key `key` (C_Sign with CKM_SHA256_HMAC; see
    /// [`Token::hmac`]).
    pub fn hmac_sha256(
        &self,
        key: &ObjectId,
        data: &[u8],
    ) -> Result<[u8; HMAC_SHA256_LEN], TokenError> {
        let mac = self.hmac(key, HmacDigest::Sha256, data)?;
        <[u8; HMAC_SHA256_LEN]>::try_from(mac.as_slice()).map_err(|_| {
            TokenError::Cryptoki(format!(
                "C_Sign returned {} bytes of HMAC-SHA256, expected 32",
                mac.len()
            ))
        })
    }

    /// Checks an HMAC-SHA256 of `data` under `key` inside the token (C_Verify; see
    /// [`Token::hmac_verify`]). A MAC that does not match (or has the wrong length) is
    /// `Ok(false)`, never an error.
    pub fn hmac_sha256_verify(
        &self,
        key: &ObjectId,
        data: &[u8],
        mac: &[u8],
    ) -> Result<bool, TokenError> {
        self.hmac_verify(key, HmacDigest::Sha256, data, mac)
    }

    /// Creates a mark: a private CKO_DATA token object named `<prefix>/<name>` holding
    /// `value` (see the module docs for why it is replaced, not modified, on each write).
    pub fn create_mark(&self, name: &str, value: &[u8]) -> Result<ObjectId, TokenError> {
        let label = format!("{}/{name}", self.label_prefix);
        let _serialized = self.object_lock.lock();
        self.run(|t, s| {
            let mut id = [0u8; 16];
            t.draw(s, &mut id)?;
            create_mark_object(s, &label, &ObjectId(id), 1, value)?;
            Ok(ObjectId(id))
        })
    }

    /// Replaces the value of mark `mark`: a new object with the next generation is created
    /// first, then the older ones are destroyed.
    pub fn write_mark(&self, mark: &ObjectId, value: &[u8]) -> Result<(), TokenError> {
        let _serialized = self.object_lock.lock();
        self.run(|t, s| {
            let found = t.find_marks(s, mark)?;
            let Some(newest) = found.iter().max_by_key(|m| m.generation) else {
                return Err(TokenError::ObjectNotFound(mark.to_string()));
            };
            create_mark_object(s, &newest.label, mark, newest.generation + 1, value)?;
            for old in &found {
                if let Err(e) = s.destroy_object(old.handle) {
                    // The new generation is written and wins; the next write retries.
                    tracing::warn!(mark = %mark, error = %e,
                        "could not destroy an older generation of a token mark");
                }
            }
            Ok(())
        })
    }

    /// The current value of mark `mark` (its newest generation).
    pub fn read_mark(&self, mark: &ObjectId) -> Result<Vec<u8>, TokenError> {
        self.run(|t, s| {
            t.find_marks(s, mark)?
                .into_iter()
                .max_by_key(|m| m.generation)
                .map(|m| m.value)
                .ok_or_else(|| TokenError::ObjectNotFound(mark.to_string()))
        })
    }

    pub(super) fn require_mechanisms(
        &self,
        wanted: &[(MechanismType, &str)],
    ) -> Result<(), TokenError> {
        let slot = *self.slot.read();
        let have = self.module.ctx.get_mechanism_list(slot)?;
        for (mech, name) in wanted {
            if !have.contains(mech) {
                return Err(TokenError::NotSupported((*name).into()));
            }
        }
        Ok(())
    }

    /// Every generation of mark `mark` on the token. Marks are few and written rarely (once
    /// per audit seal), so they are found by a scan rather than cached.
    fn find_marks(&self, s: &Session, mark: &ObjectId) -> Result<Vec<MarkObject>, TokenError> {
        // A session that is not logged in sees no private object: that is a login fault,
        // not "no mark" (the same check the key listing makes).
        let state = s.get_session_info()?.session_state();
        if !matches!(state, SessionState::RoUser | SessionState::RwUser) {
            return Err(TokenError::Pkcs11 {
                function: cryptoki::context::Function::GetSessionInfo,
                rv: RvError::UserNotLoggedIn,
            });
        }
        let prefix = format!("{}/", self.label_prefix);
        let template = [
            Attribute::Token(true),
            Attribute::Class(ObjectClass::DATA),
            Attribute::Application(MARK_APPLICATION.to_vec()),
        ];
        let mut out = Vec::new();
        for handle in s.find_objects(&template)? {
            let (mut label, mut value) = (None, None);
            for a in s.get_attributes(handle, &[AttributeType::Label, AttributeType::Value])? {
                match a {
                    Attribute::Label(v) => label = String::from_utf8(v).ok(),
                    Attribute::Value(v) => value = Some(v),
                    _ => {}
                }
            }
            let (Some(label), Some(value)) = (label, value) else {
                continue;
            };
            if !label.starts_with(&prefix) || value.len() < MARK_HEADER {
                continue;
            }
            let (head, payload) = value.split_at(MARK_HEADER);
            let (id, generation) = head.split_at(16);
            if id != mark.as_bytes() {
                continue;
            }
            let mut g = [0u8; 8];
            g.copy_from_slice(generation);
            out.push(MarkObject {
                handle,
                label,
                generation: u64::from_be_bytes(g),
                value: payload.to_vec(),
            });
        }
        Ok(out)
    }
}

struct MarkObject {
    handle: ObjectHandle,
    label: String,
    generation: u64,
    value: Vec<u8>,
}

fn create_mark_object(
    s: &Session,
    label: &str,
    id: &ObjectId,
    generation: u64,
    payload: &[u8],
) -> Result<ObjectHandle, TokenError> {
    let mut value = Vec::with_capacity(MARK_HEADER + payload.len());
    value.extend_from_slice(id.as_bytes());
    value.extend_from_slice(&generation.to_be_bytes());
    value.extend_from_slice(payload);
    let template = [
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Private(true),
        // Replaced, never modified (see the module docs).
        Attribute::Modifiable(false),
        Attribute::Application(MARK_APPLICATION.to_vec()),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Value(value),
    ];
    Ok(s.create_object(&template)?)
}
