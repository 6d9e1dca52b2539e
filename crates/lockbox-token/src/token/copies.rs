//! Session-object copies of CMK material: the token's full speed.
//!
//! SoftHSM 2.6.1 runs AES-GCM and HMAC several times faster with a session object than with the
//! token object it was copied from (see docs/performance.md, "Session-object copies"; a
//! token object is backed by a file SoftHSM re-checks, with its private attributes encrypted
//! under the token key, where a session object lives in memory: the likely cause, not
//! measured apart). So, when the token configuration allows it
//! (`session_copies`), a key made copyable (see `template.rs`) is copied with C_CopyObject
//! into a session object (CKA_TOKEN false, still private, sensitive and never extractable,
//! not modifiable) and operations use the copy.
//!
//! - The copy is made in the anchor session, which lives as long as the `Token`: session
//!   objects die with the session that made them, and are usable from every session of the
//!   process.
//! - It is made on a key's **second** use within the last `max_session_copies` keys used
//!   without a copy (one copy costs a C_CopyObject and a check of the copy's attributes,
//!   about what one or two operations cost). A working set larger than the bound, used
//!   round-robin, so stays on the token objects instead of copying and destroying a copy on
//!   every call, and keys used once are never copied. (The keys used once are remembered in
//!   two generations of at most half the bound each.)
//! - At most `max_session_copies` live at once; the least recently used is destroyed to
//!   make room (HSMs limit session objects).
//! - [`Token::forget_copy`] destroys a key's copy (the engine calls it when a key is disabled,
//!   scheduled for deletion, or rotated away from); [`Token::destroy`] does it before it
//!   destroys the token object; recovery forgets every copy (the anchor session they lived
//!   in is gone) and the next uses make them again.
//! - A key whose object is not copyable (made before, or with the flag off) keeps the token
//!   object path; that is learnt once per key from its CKA_COPYABLE and CKA_MODIFIABLE. So
//!   does a key whose copy the token refuses (a policy, a session-object quota), or whose
//!   copy is not sensitive and non-extractable (it is destroyed at once).
//!
//! An operation holds the map's read lock while the token uses the copy, so a copy is never
//! destroyed under a running operation (its handle would be invalid, and the operation would
//! take that for a fault and recover the whole connection).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectHandle};
use cryptoki::session::Session;
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{ObjectId, Token};
use crate::error::{Fault, TokenError, fault};

/// How many keys known not copyable are remembered at most; past it the set starts again
/// (16 bytes an entry).
const REMEMBERED: usize = 65_536;

/// The session copies of one `Token`.
pub(super) struct Copies {
    enabled: bool,
    max: usize,
    inner: RwLock<Inner>,
    clock: AtomicU64,
    made: AtomicU64,
}

#[derive(Default)]
pub(super) struct Inner {
    live: HashMap<ObjectId, Entry>,
    // Used once without a copy, recently: the next use copies them. Two generations of at
    // most `max / 2` keys: a key is copied if it was used within the last `max / 2` to
    // `max` keys used without a copy.
    seen: HashSet<ObjectId>,
    seen_before: HashSet<ObjectId>,
    // Token objects that cannot be copied (CKA_COPYABLE or CKA_MODIFIABLE false).
    plain: HashSet<ObjectId>,
}

struct Entry {
    handle: ObjectHandle,
    last_used: AtomicU64,
}

/// The handle an operation uses for a key: its session copy (with the read lock that keeps
/// the copy alive until the operation is done), or its token object.
pub(super) enum KeyHandle<'a> {
    Copy {
        _alive: RwLockReadGuard<'a, Inner>,
        handle: ObjectHandle,
    },
    Object(ObjectHandle),
}

impl KeyHandle<'_> {
    pub(super) fn handle(&self) -> ObjectHandle {
        match self {
            KeyHandle::Copy { handle: h, .. } | KeyHandle::Object(h) => *h,
        }
    }
}

impl Copies {
    pub(super) fn new(enabled: bool, max: usize) -> Copies {
        Copies {
            enabled: enabled && max > 0,
            max,
            inner: RwLock::new(Inner::default()),
            clock: AtomicU64::new(0),
            made: AtomicU64::new(0),
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.enabled
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// After a recovery: every copy lived in the anchor session that is gone. The keys that
    /// had one are copied again on their next use.
    pub(super) fn forget_all(&self) {
        let mut inner = self.inner.write();
        let ids: Vec<ObjectId> = inner.live.drain().map(|(id, _)| id).collect();
        inner.plain.clear();
        inner.seen_before.clear();
        inner.seen = ids.into_iter().collect();
    }

    /// Notes a use of `id` without a copy; whether it is the second within the window.
    fn second_use(&self, inner: &mut Inner, id: &ObjectId) -> bool {
        if inner.seen.remove(id) || inner.seen_before.remove(id) {
            return true;
        }
        if inner.seen.len() >= (self.max / 2).max(1) {
            inner.seen_before = std::mem::take(&mut inner.seen);
        }
        inner.seen.insert(*id);
        false
    }
}

fn remember(set: &mut HashSet<ObjectId>, id: ObjectId) {
    if set.len() >= REMEMBERED {
        set.clear();
    }
    set.insert(id);
}

/// The attributes a copy is made with: a private session object that cannot be modified.
/// Sensitivity and extractability are the original's: SoftHSM 2.6.1 refuses a copy template
/// that names CKA_SENSITIVE, CKA_EXTRACTABLE or CKA_COPYABLE at all, even with the value the
/// key already has (CKR_ATTRIBUTE_READ_ONLY), so the copy is checked after it is made
/// instead (`check_copy`). It stays copyable, as its original: only this process sees it.
fn copy_template() -> [Attribute; 3] {
    [
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Modifiable(false),
    ]
}

impl Token {
    /// Whether operations on copyable keys use session-object copies (`session_copies` in
    /// the token configuration).
    pub fn session_copies_enabled(&self) -> bool {
        self.copies.enabled()
    }

    /// How many session copies are live now.
    pub fn session_copies(&self) -> usize {
        self.copies.inner.read().live.len()
    }

    /// How many session copies this `Token` has made since it opened.
    pub fn session_copies_made(&self) -> u64 {
        self.copies.made.load(Ordering::Relaxed)
    }

    /// Whether the key `id` has a live session copy.
    pub fn has_session_copy(&self, id: &ObjectId) -> bool {
        self.copies.inner.read().live.contains_key(id)
    }

    /// Destroys the session copy of `id`, if it has one: the engine calls this when the key
    /// stops being usable (disabled, scheduled for deletion) or its material is rotated away
    /// from. A later use of a usable key may copy it again. Never fails: a copy the token
    /// will not destroy is forgotten (it dies with the anchor session) and logged.
    pub fn forget_copy(&self, id: &ObjectId) {
        if !self.copies.enabled {
            return;
        }
        let mut inner = self.copies.inner.write();
        inner.seen.remove(id);
        inner.seen_before.remove(id);
        if let Some(e) = inner.live.remove(id) {
            self.destroy_copy(id, e.handle);
        }
    }

    /// The handle to use for the key `id` in session `s`.
    pub(super) fn key_handle(
        &self,
        s: &Session,
        id: &ObjectId,
    ) -> Result<KeyHandle<'_>, TokenError> {
        if !self.copies.enabled {
            return Ok(KeyHandle::Object(self.handle(s, id)?));
        }
        {
            let inner = self.copies.inner.read();
            if let Some(e) = inner.live.get(id) {
                e.last_used.store(self.copies.tick(), Ordering::Relaxed);
                let h = e.handle;
                return Ok(KeyHandle::Copy {
                    _alive: inner,
                    handle: h,
                });
            }
            if inner.plain.contains(id) {
                drop(inner);
                return Ok(KeyHandle::Object(self.handle(s, id)?));
            }
        }
        let object = self.handle(s, id)?;
        let generation = self.generation.load(Ordering::Acquire);
        let mut inner = self.copies.inner.write();
        if let Some(e) = inner.live.get(id) {
            // Another thread copied it meanwhile.
            let h = e.handle;
            return Ok(KeyHandle::Copy {
                _alive: RwLockWriteGuard::downgrade(inner),
                handle: h,
            });
        }
        if !self.copies.second_use(&mut inner, id) {
            return Ok(KeyHandle::Object(object));
        }
        if !copyable(s, object)? {
            remember(&mut inner.plain, *id);
            return Ok(KeyHandle::Object(object));
        }
        if inner.live.len() >= self.copies.max {
            let oldest = inner
                .live
                .iter()
                .min_by_key(|(_, e)| e.last_used.load(Ordering::Relaxed))
                .map(|(id, e)| (*id, e.handle));
            if let Some((old, h)) = oldest {
                inner.live.remove(&old);
                self.destroy_copy(&old, h);
            }
        }
        let made = self.anchor.lock().copy_object(object, &copy_template());
        let copy = match made {
            Ok(copy) => copy,
            // A session, login, handle or device fault: the call recovers and retries.
            Err(cryptoki::error::Error::Pkcs11(rv, f)) if fault(rv) != Fault::None => {
                return Err(cryptoki::error::Error::Pkcs11(rv, f).into());
            }
            // A token that will not copy this key (a policy, a full session-object quota):
            // the key keeps its token object, and the call goes on.
            Err(e) => {
                remember(&mut inner.plain, *id);
                tracing::warn!(object = %id, error = %e,
                    "the token refused a session copy; using the token object");
                return Ok(KeyHandle::Object(object));
            }
        };
        // The copy must say what Lockbox requires of CMK material; a token that copied
        // anything else gets no copy used, and the key keeps its token object.
        match check_copy(s, copy) {
            Ok(()) => {}
            Err(e) => {
                self.destroy_copy(id, copy);
                remember(&mut inner.plain, *id);
                tracing::warn!(object = %id, error = %e,
                    "the token's session copy was not sensitive and non-extractable; \
                     using the token object");
                return Ok(KeyHandle::Object(object));
            }
        }
        if self.generation.load(Ordering::Acquire) != generation {
            // A recovery replaced the anchor session meanwhile: this copy may be in the old
            // one, and recovery has already forgotten every copy. Use the object this time.
            self.destroy_copy(id, copy);
            return Ok(KeyHandle::Object(object));
        }
        self.copies.made.fetch_add(1, Ordering::Relaxed);
        inner.live.insert(
            *id,
            Entry {
                handle: copy,
                last_used: AtomicU64::new(self.copies.tick()),
            },
        );
        tracing::debug!(object = %id, "session copy made");
        Ok(KeyHandle::Copy {
            _alive: RwLockWriteGuard::downgrade(inner),
            handle: copy,
        })
    }

    fn destroy_copy(&self, id: &ObjectId, handle: ObjectHandle) {
        let anchor = self.anchor.lock();
        if let Err(e) = anchor.destroy_object(handle) {
            tracing::warn!(object = %id, error = %e,
                "could not destroy a session copy; it lasts until the anchor session closes");
        }
    }

    /// Test support: how many session objects (CKA_TOKEN false) with this CKA_ID a session of
    /// this process finds on the token: the copies that exist, whatever the map says.
    #[cfg(feature = "test-support")]
    pub fn count_session_objects(&self, id: &ObjectId) -> Result<usize, TokenError> {
        self.run(|_, s| {
            Ok(s.find_objects(&[
                Attribute::Token(false),
                Attribute::Id(id.as_bytes().to_vec()),
            ])?
            .len())
        })
    }
}

/// Whether the token object may be copied into a session object: SoftHSM refuses a copy of
/// a key that is not copyable (CKR_ACTION_PROHIBITED) and a CKA_TOKEN=false copy of one that
/// is not modifiable (CKR_ATTRIBUTE_READ_ONLY).
fn copyable(s: &Session, object: ObjectHandle) -> Result<bool, TokenError> {
    let (mut copy, mut modify) = (false, false);
    for a in s.get_attributes(
        object,
        &[AttributeType::Copyable, AttributeType::Modifiable],
    )? {
        match a {
            Attribute::Copyable(b) => copy = b,
            Attribute::Modifiable(b) => modify = b,
            _ => {}
        }
    }
    Ok(copy && modify)
}

fn check_copy(s: &Session, copy: ObjectHandle) -> Result<(), TokenError> {
    let attrs = s.get_attributes(
        copy,
        &[
            AttributeType::Token,
            AttributeType::Sensitive,
            AttributeType::Extractable,
        ],
    )?;
    let expected = [
        Attribute::Token(false),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
    ];
    let value_hidden = matches!(
        s.get_attribute_info(copy, &[AttributeType::Value])?.first(),
        Some(AttributeInfo::Sensitive)
    );
    if expected.iter().all(|e| attrs.contains(e)) && value_hidden {
        Ok(())
    } else {
        Err(TokenError::Cryptoki(format!(
            "session copy has {attrs:?}, CKA_VALUE sensitive: {value_hidden}"
        )))
    }
}
