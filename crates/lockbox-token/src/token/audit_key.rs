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
//!
//! Finding a mark is a search of the token, and on SoftHSM every search walks every object
//! of the token (issue 18: with 100,000 keys a seal took seconds). So the `Token` keeps the
//! handle, label and generation of each mark it found or wrote ([`MarkAt`]): a seal reads and
//! replaces the mark through that handle, after one C_GetAttributeValue that checks the object
//! is still there and still the generation written. Only the first use after opening (or
//! after a recovery, which forgets handles) searches. If another node replaced the mark
//! meanwhile, the object behind the handle is gone (that node destroyed it) and the search
//! runs again; the one case the check cannot see is another node that created a newer
//! generation and died before destroying the older one: then this node writes a generation
//! equal to that one, and the next search keeps either (both name a seal in the log; the
//! next write removes the other).

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
            let handle = create_mark_object(s, &label, &ObjectId(id), 1, value)?;
            t.marks.lock().insert(
                ObjectId(id),
                MarkAt {
                    handle,
                    label: label.clone(),
                    generation: 1,
                },
            );
            Ok(ObjectId(id))
        })
    }

    /// Replaces the value of mark `mark`: a new object with the next generation is created
    /// first, then the older ones are destroyed. The mark is found through the handle kept
    /// since it was last found or written (see the module docs), else by a search.
    pub fn write_mark(&self, mark: &ObjectId, value: &[u8]) -> Result<(), TokenError> {
        let _serialized = self.object_lock.lock();
        self.run(|t, s| {
            let (label, generation, older) = match t.known_mark(s, mark) {
                Some((at, _)) => (at.label, at.generation, vec![at.handle]),
                None => {
                    let found = t.find_marks(s, mark)?;
                    let Some(newest) = found.iter().max_by_key(|m| m.generation) else {
                        return Err(TokenError::ObjectNotFound(mark.to_string()));
                    };
                    let handles = found.iter().map(|m| m.handle).collect();
                    (newest.label.clone(), newest.generation, handles)
                }
            };
            let handle = create_mark_object(s, &label, mark, generation + 1, value)?;
            t.marks.lock().insert(
                *mark,
                MarkAt {
                    handle,
                    label,
                    generation: generation + 1,
                },
            );
            for old in older {
                if let Err(e) = s.destroy_object(old) {
                    // The new generation is written and wins; the next search finds the old
                    // one and the write after it removes it.
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
            if let Some((_, value)) = t.known_mark(s, mark) {
                return Ok(value);
            }
            let newest = t
                .find_marks(s, mark)?
                .into_iter()
                .max_by_key(|m| m.generation)
                .ok_or_else(|| TokenError::ObjectNotFound(mark.to_string()))?;
            t.marks.lock().insert(
                *mark,
                MarkAt {
                    handle: newest.handle,
                    label: newest.label,
                    generation: newest.generation,
                },
            );
            Ok(newest.value)
        })
    }

    /// Where mark `mark` is and its value, from the kept handle, if that still holds the
    /// generation last seen; otherwise the kept handle is forgotten and `None` returned (the
    /// caller searches).
    fn known_mark(&self, s: &Session, mark: &ObjectId) -> Option<(MarkAt, Vec<u8>)> {
        let at = self.marks.lock().get(mark).cloned()?;
        let prefix = format!("{}/", self.label_prefix);
        match read_mark_object(s, at.handle, &prefix, mark) {
            Ok(Some(m)) if m.generation == at.generation => Some((at, m.value)),
            other => {
                tracing::debug!(mark = %mark, found = other.is_ok(),
                    "the kept handle of a token mark no longer holds it; searching");
                self.marks.lock().remove(mark);
                None
            }
        }
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

    /// Every generation of mark `mark` on the token, by one search (a full walk of the token
    /// on SoftHSM: used only when no kept handle holds the mark).
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
        self.count_search();
        for handle in s.find_objects(&template)? {
            if let Some(m) = read_mark_object(s, handle, &prefix, mark)? {
                out.push(m);
            }
        }
        Ok(out)
    }
}

/// Where the `Token` last saw a mark: its object's handle, label and generation.
#[derive(Clone)]
pub(super) struct MarkAt {
    handle: ObjectHandle,
    label: String,
    generation: u64,
}

/// The generation of mark `mark` that `handle` holds; `None` if `handle` is no generation of
/// that mark under `prefix`.
fn read_mark_object(
    s: &Session,
    handle: ObjectHandle,
    prefix: &str,
    mark: &ObjectId,
) -> Result<Option<MarkObject>, TokenError> {
    let (mut label, mut value) = (None, None);
    for a in s.get_attributes(handle, &[AttributeType::Label, AttributeType::Value])? {
        match a {
            Attribute::Label(v) => label = String::from_utf8(v).ok(),
            Attribute::Value(v) => value = Some(v),
            _ => {}
        }
    }
    let (Some(label), Some(value)) = (label, value) else {
        return Ok(None);
    };
    if !label.starts_with(prefix) || value.len() < MARK_HEADER {
        return Ok(None);
    }
    let (head, payload) = value.split_at(MARK_HEADER);
    let (id, generation) = head.split_at(16);
    if id != mark.as_bytes() {
        return Ok(None);
    }
    let mut g = [0u8; 8];
    g.copy_from_slice(generation);
    Ok(Some(MarkObject {
        handle,
        label,
        generation: u64::from_be_bytes(g),
        value: payload.to_vec(),
    }))
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
