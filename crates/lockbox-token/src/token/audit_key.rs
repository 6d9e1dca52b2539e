//! What the audit log needs from the token: an HMAC key that never leaves it, and a
//! high-water mark that someone holding only the metadata store cannot roll back.
//!
//! The mark is two private CKO_DATA token objects, its *slots*, written in turn. PKCS#11 lets
//! only attributes marked "modifiable" change after creation, and for a data object that is
//! CKA_LABEL alone: SoftHSM 2.6.1 answers C_SetAttributeValue on CKA_VALUE (and
//! CKA_APPLICATION) with CKR_ATTRIBUTE_READ_ONLY even when CKA_MODIFIABLE is true, and refuses
//! CKA_ID on a data object (CKR_ATTRIBUTE_TYPE_INVALID). So each slot's fixed identity lives in
//! its value, `id (16) || slot (1)`, and what it says lives in its label,
//! `<prefix>/<name>#<hex(generation (u64 big-endian) || payload)>#<hex(check)>`, where `check`
//! is the first 8 bytes of SHA-256(`"lockbox audit mark 2" || id || slot || generation ||
//! payload`). A write rewrites the label of the slot with the lower generation (or the one
//! whose label does not check) with the next generation: one C_SetAttributeValue, no object
//! created or destroyed. The newest slot that checks is the mark's value. A write torn by a
//! crash can spoil only the slot being written; the other still holds the generation before.
//!
//! Why not one object replaced on each write (the first form, `MARK_APPLICATION_1`: a new
//! object with the next generation, then the older destroyed): on SoftHSM, creating or
//! destroying a token object makes every process re-read the token directory, a `stat` per
//! object file, so each audit seal cost time linear in the number of keys (46 ms per write
//! with 2,000 objects, against 0.67 ms for a label rewrite; issue 18). Marks of the first form
//! are still read, and the first write moves such a mark to slots.
//!
use cryptoki::error::RvError;
use cryptoki::mechanism::MechanismType;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState};

use super::{HmacDigest, ObjectId, Token};
use crate::error::TokenError;

/// HMAC-SHA256 output length.
pub const HMAC_SHA256_LEN: usize = 32;
/// A mark of the first form: `id (16) || generation (u64 big-endian) || payload` in its value.
const MARK_HEADER: usize = 16 + 8;
const MARK_APPLICATION_1: &[u8] = b"lockbox audit mark";
/// A slot of a mark of the second form (see the module docs).
const MARK_APPLICATION_2: &[u8] = b"lockbox audit mark 2";
const CHECK_LEN: usize = 8;

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

    /// Creates a mark named `<prefix>/<name>` holding `value`: its two slots, the first at
    /// generation 1, the second at 0 (see the module docs).
    pub fn create_mark(&self, name: &str, value: &[u8]) -> Result<ObjectId, TokenError> {
        let base = format!("{}/{name}", self.label_prefix);
        let _serialized = super::objects_lock();
        self.run(|t, s| {
            let mut id = [0u8; 16];
            t.draw(s, &mut id)?;
            let id = ObjectId(id);
            let first = create_slot(s, &base, &id, 0, 1, value)?;
            let second = create_slot(s, &base, &id, 1, 0, value)?;
            t.marks.lock().insert(
                id,
                MarkAt {
                    slots: [first, second],
                },
            );
            Ok(id)
        })
    }

    /// Writes `value` as the next generation of mark `mark`: the label of its older slot is
    /// rewritten (see the module docs). The slots are reached through the handles kept since
    /// the mark was last found, else by a search; a mark found in the first form, or with a
    /// slot missing (a crash while it was made), is moved to two slots first.
    pub fn write_mark(&self, mark: &ObjectId, value: &[u8]) -> Result<(), TokenError> {
        let _serialized = super::objects_lock();
        self.run(|t, s| {
            let prefix = format!("{}/", t.label_prefix);
            let found = match t.known_slots(s, mark, &prefix) {
                Some(slots) => slots.to_vec(),
                None => t.find_marks(s, mark)?,
            };
            let Some(newest) = newest(&found) else {
                return Err(TokenError::ObjectNotFound(mark.to_string()));
            };
            let generation = newest.generation + 1;
            let base = newest.base.clone();
            let slot = |n: u8| found.iter().find(|m| m.form == Form::Slot(n));
            if let (Some(a), Some(b)) = (slot(0), slot(1)) {
                // The older slot, or the one that does not check, takes the next generation.
                let older = match (&a.value, &b.value) {
                    (None, _) => a,
                    (_, None) => b,
                    _ if a.generation <= b.generation => a,
                    _ => b,
                };
                let Form::Slot(n) = older.form else {
                    return Err(TokenError::Cryptoki(
                        "a mark slot without its number".into(),
                    ));
                };
                let label = slot_label(&base, mark, n, generation, value);
                s.update_attributes(older.handle, &[Attribute::Label(label.into_bytes())])?;
                t.marks.lock().insert(
                    *mark,
                    MarkAt {
                        slots: [a.handle, b.handle],
                    },
                );
                return Ok(());
            }
            // Move the mark to two slots: the missing ones are made (the first holding this
            // write, the second the generation before), then the first form is destroyed.
            let previous = newest.value.clone().unwrap_or_default();
            let mut handles = [slot(0).map(|m| m.handle), slot(1).map(|m| m.handle)];
            let mut wrote = false;
            for (n, h) in handles.iter_mut().enumerate() {
                if h.is_none() {
                    let (g, v) = if wrote {
                        (newest.generation, previous.as_slice())
                    } else {
                        (generation, value)
                    };
                    *h = Some(create_slot(s, &base, mark, n as u8, g, v)?);
                    wrote = true;
                }
            }
            if let [Some(a), Some(b)] = handles {
                t.marks.lock().insert(*mark, MarkAt { slots: [a, b] });
            }
            for old in found.iter().filter(|m| m.form == Form::Replaced) {
                if let Err(e) = s.destroy_object(old.handle) {
                    // The slots hold a newer generation and win; the next search finds the
                    // old object and the write after it removes it.
                    tracing::warn!(mark = %mark, error = %e,
                        "could not destroy a token mark of the first form");
                }
            }
            Ok(())
        })
    }

    /// The current value of mark `mark` (its newest generation that checks).
    pub fn read_mark(&self, mark: &ObjectId) -> Result<Vec<u8>, TokenError> {
        self.run(|t, s| {
            let prefix = format!("{}/", t.label_prefix);
            if let Some(slots) = t.known_slots(s, mark, &prefix)
                && let Some(value) = newest(&slots).and_then(|m| m.value.clone())
            {
                return Ok(value);
            }
            let found = t.find_marks(s, mark)?;
            let slot = |n: u8| found.iter().find(|m| m.form == Form::Slot(n));
            if let (Some(a), Some(b)) = (slot(0), slot(1)) {
                t.marks.lock().insert(
                    *mark,
                    MarkAt {
                        slots: [a.handle, b.handle],
                    },
                );
            }
            newest(&found)
                .and_then(|m| m.value.clone())
                .ok_or_else(|| TokenError::ObjectNotFound(mark.to_string()))
        })
    }

    /// Both slots of mark `mark` through the handles kept for it; if a handle no longer
    /// holds its slot (recovery, another process's doing), they are forgotten and `None`
    /// returned (the caller searches).
    fn known_slots(&self, s: &Session, mark: &ObjectId, prefix: &str) -> Option<[MarkObject; 2]> {
        let at = self.marks.lock().get(mark).cloned()?;
        let read = |h| read_mark_object(s, h, prefix, mark).ok().flatten();
        match (read(at.slots[0]), read(at.slots[1])) {
            (Some(a), Some(b)) if a.form == Form::Slot(0) && b.form == Form::Slot(1) => {
                Some([a, b])
            }
            _ => {
                tracing::debug!(mark = %mark,
                    "the kept handles of a token mark no longer hold its slots; searching");
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

    /// Every object of mark `mark` on the token (slots and objects of the first form), by one search (a full walk of the token
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
        // Both forms (their CKA_APPLICATION differs): one walk either way on SoftHSM.
        let template = [Attribute::Token(true), Attribute::Class(ObjectClass::DATA)];
        let mut out = Vec::new();
        self.count_search();
        for handle in self.search(s, &template)? {
            if let Some(m) = read_mark_object(s, handle, &prefix, mark)? {
                out.push(m);
            }
        }
        Ok(out)
    }
}

/// The handles of a mark's two slots, kept since the `Token` last found or made them.
#[derive(Clone)]
pub(super) struct MarkAt {
    slots: [ObjectHandle; 2],
}

/// Which form a mark's object has (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Form {
    /// The first form: one object per generation, replaced on each write.
    Replaced,
    /// One of the two slots of the second form.
    Slot(u8),
}

/// One object of a mark, as read from the token.
#[derive(Clone)]
struct MarkObject {
    handle: ObjectHandle,
    form: Form,
    /// `<prefix>/<name>`: the label without what a slot's label adds.
    base: String,
    generation: u64,
    /// `None` for a slot whose label does not check (a torn write): it is written next.
    value: Option<Vec<u8>>,
}

/// The newest generation among `found` that holds a value.
fn newest(found: &[MarkObject]) -> Option<&MarkObject> {
    found
        .iter()
        .filter(|m| m.value.is_some())
        .max_by_key(|m| m.generation)
}

/// What object `handle` holds of mark `mark`; `None` if it is no object of that mark under
/// `prefix`.
fn read_mark_object(
    s: &Session,
    handle: ObjectHandle,
    prefix: &str,
    mark: &ObjectId,
) -> Result<Option<MarkObject>, TokenError> {
    let (mut label, mut value, mut application) = (None, None, None);
    let wanted = [
        AttributeType::Label,
        AttributeType::Value,
        AttributeType::Application,
    ];
    for a in super::read_attributes(s, handle, &wanted)? {
        match a {
            Attribute::Label(v) => label = String::from_utf8(v).ok(),
            Attribute::Value(v) => value = Some(v),
            Attribute::Application(v) => application = Some(v),
            _ => {}
        }
    }
    let (Some(label), Some(value), Some(application)) = (label, value, application) else {
        return Ok(None);
    };
    if !label.starts_with(prefix) {
        return Ok(None);
    }
    if application == MARK_APPLICATION_2 {
        let [fixed @ .., n] = value.as_slice() else {
            return Ok(None);
        };
        if fixed != mark.as_bytes() || *n > 1 {
            return Ok(None);
        }
        return Ok(Some(parse_slot(handle, &label, mark, *n)));
    }
    if application != MARK_APPLICATION_1 || value.len() < MARK_HEADER {
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
        form: Form::Replaced,
        base: label,
        generation: u64::from_be_bytes(g),
        value: Some(payload.to_vec()),
    }))
}

/// A slot from its label: a label that does not parse or check gives a slot with no value.
fn parse_slot(handle: ObjectHandle, label: &str, mark: &ObjectId, n: u8) -> MarkObject {
    match parse_slot_label(label, mark, n) {
        Some((base, generation, payload)) => MarkObject {
            handle,
            form: Form::Slot(n),
            base,
            generation,
            value: Some(payload),
        },
        None => MarkObject {
            handle,
            form: Form::Slot(n),
            base: label.split('#').next().unwrap_or(label).to_owned(),
            generation: 0,
            value: None,
        },
    }
}

/// `(base, generation, payload)` from a slot's label, if it parses and checks.
fn parse_slot_label(label: &str, mark: &ObjectId, n: u8) -> Option<(String, u64, Vec<u8>)> {
    let (rest, check) = label.rsplit_once('#')?;
    let (base, data) = rest.rsplit_once('#')?;
    let data = hex::decode(data).ok()?;
    let check = hex::decode(check).ok()?;
    if data.len() < 8 || check != slot_check(mark, n, &data) {
        return None;
    }
    let (generation, payload) = data.split_at(8);
    let mut g = [0u8; 8];
    g.copy_from_slice(generation);
    Some((base.to_owned(), u64::from_be_bytes(g), payload.to_vec()))
}

fn slot_check(mark: &ObjectId, n: u8, data: &[u8]) -> [u8; CHECK_LEN] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(MARK_APPLICATION_2);
    h.update(mark.as_bytes());
    h.update([n]);
    h.update(data);
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&h.finalize()[..CHECK_LEN]);
    out
}

/// The label of slot `n` of mark `mark` holding `payload` at `generation`.
fn slot_label(base: &str, mark: &ObjectId, n: u8, generation: u64, payload: &[u8]) -> String {
    let mut data = generation.to_be_bytes().to_vec();
    data.extend_from_slice(payload);
    let check = slot_check(mark, n, &data);
    format!("{base}#{}#{}", hex::encode(&data), hex::encode(check))
}

fn create_slot(
    s: &Session,
    base: &str,
    mark: &ObjectId,
    n: u8,
    generation: u64,
    payload: &[u8],
) -> Result<ObjectHandle, TokenError> {
    let mut value = mark.as_bytes().to_vec();
    value.push(n);
    let template = [
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Private(true),
        // The label is rewritten on each write (see the module docs).
        Attribute::Modifiable(true),
        Attribute::Application(MARK_APPLICATION_2.to_vec()),
        Attribute::Label(slot_label(base, mark, n, generation, payload).into_bytes()),
        Attribute::Value(value),
    ];
    Ok(s.create_object(&template)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_label_checks_and_a_spoiled_one_does_not() {
        let mark = ObjectId([9; 16]);
        let label = slot_label("lockbox/audit-mark", &mark, 1, 7, b"payload");
        assert_eq!(
            parse_slot_label(&label, &mark, 1),
            Some(("lockbox/audit-mark".to_owned(), 7, b"payload".to_vec()))
        );
        // Another slot number, another mark, a cut, or any changed character: nothing.
        assert_eq!(parse_slot_label(&label, &mark, 0), None);
        assert_eq!(parse_slot_label(&label, &ObjectId([8; 16]), 1), None);
        assert_eq!(parse_slot_label(&label[..label.len() - 3], &mark, 1), None);
        let hex_from = label.find('#').map_or(0, |i| i + 1);
        for i in hex_from..label.len() {
            let mut spoiled = label.clone().into_bytes();
            if spoiled[i] == b'#' {
                continue;
            }
            spoiled[i] = if spoiled[i] == b'0' { b'1' } else { b'0' };
            let spoiled = String::from_utf8(spoiled).unwrap_or_default();
            assert_eq!(parse_slot_label(&spoiled, &mark, 1), None, "{spoiled}");
        }
    }
}
