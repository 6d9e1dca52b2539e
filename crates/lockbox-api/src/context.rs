//! Encryption context: non-secret key-value pairs bound to a ciphertext as associated data.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::KmsError;
use crate::ids::shorten;

/// An encryption context whose canonical encoding is within [`EncryptionContext::MAX_ENCODED_LEN`].
///
/// Order does not matter: two contexts with the same pairs are equal and encode identically.
/// Keys are non-empty; values may be empty. The canonical encoding (specified in
/// `docs/formats/ciphertext-blob.md`) is:
///
/// ```text
/// u16 BE  pair count
/// then, per pair in ascending byte order of the key:
///   u16 BE  key length in bytes,   key (UTF-8)
///   u16 BE  value length in bytes, value (UTF-8)
/// ```
///
/// Cloning is cheap (the pairs are shared, and the empty context holds none), so a context
/// can be kept for the audit record of a call without copying it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncryptionContext(Option<Arc<BTreeMap<String, String>>>);

/// What an empty context's [`EncryptionContext::as_map`] returns.
static NO_PAIRS: BTreeMap<String, String> = BTreeMap::new();

impl EncryptionContext {
    /// The largest canonical encoding accepted, in bytes (count and length prefixes included).
    pub const MAX_ENCODED_LEN: usize = 8192;

    /// The empty context.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Checks and wraps a set of pairs.
    pub fn new(pairs: BTreeMap<String, String>) -> Result<Self, KmsError> {
        let mut encoded = 2usize;
        for (k, v) in &pairs {
            if k.is_empty() {
                return Err(KmsError::validation(
                    "Encryption context keys must not be empty",
                ));
            }
            encoded += 4 + k.len() + v.len();
        }
        // Each length fits u16 as long as the whole does.
        if encoded > Self::MAX_ENCODED_LEN {
            return Err(KmsError::validation(format!(
                "Encryption context is too large: its canonical encoding is {encoded} bytes; \
                 the limit is {} bytes",
                Self::MAX_ENCODED_LEN
            )));
        }
        Ok(EncryptionContext(if pairs.is_empty() {
            None
        } else {
            Some(Arc::new(pairs))
        }))
    }

    /// Builds a context from pairs; a repeated key is an error.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self, KmsError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            let k = k.into();
            if map.contains_key(&k) {
                return Err(KmsError::validation(format!(
                    "Encryption context key '{}' appears more than once",
                    shorten(&k)
                )));
            }
            map.insert(k, v.into());
        }
        Self::new(map)
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The pairs, in canonical (ascending key) order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.as_map().iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The pairs as a map.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        self.0.as_deref().unwrap_or(&NO_PAIRS)
    }

    /// Appends the canonical encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        push_u16(out, self.as_map().len());
        for (k, v) in self.as_map() {
            push_u16(out, k.len());
            out.extend_from_slice(k.as_bytes());
            push_u16(out, v.len());
            out.extend_from_slice(v.as_bytes());
        }
    }

    /// The length of the canonical encoding.
    pub fn encoded_len(&self) -> usize {
        2 + self
            .as_map()
            .iter()
            .map(|(k, v)| 4 + k.len() + v.len())
            .sum::<usize>()
    }
}

fn push_u16(out: &mut Vec<u8>, n: usize) {
    // `new` bounds the whole encoding by MAX_ENCODED_LEN (< u16::MAX), so every count and
    // length fits; saturating keeps this total even if that ever changed.
    let n = u16::try_from(n).unwrap_or(u16::MAX);
    out.extend_from_slice(&n.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn encode(ctx: &EncryptionContext) -> Vec<u8> {
        let mut v = Vec::new();
        ctx.encode_into(&mut v);
        v
    }

    #[test]
    fn encoding_is_canonical_and_order_independent() -> Result<(), KmsError> {
        let a = EncryptionContext::from_pairs([("b", "2"), ("a", "1")])?;
        let b = EncryptionContext::from_pairs([("a", "1"), ("b", "2")])?;
        assert_eq!(a, b);
        assert_eq!(
            encode(&a),
            [0, 2, 0, 1, b'a', 0, 1, b'1', 0, 1, b'b', 0, 1, b'2']
        );
        assert_eq!(encode(&a).len(), a.encoded_len());
        assert_eq!(encode(&EncryptionContext::empty()), [0, 0]);
        Ok(())
    }

    #[test]
    fn limits() {
        assert_eq!(
            EncryptionContext::from_pairs([("", "x")])
                .unwrap_err()
                .kind(),
            ErrorKind::Validation
        );
        assert_eq!(
            EncryptionContext::from_pairs([("k", "1"), ("k", "2")])
                .unwrap_err()
                .kind(),
            ErrorKind::Validation
        );
        // 2 (count) + 4 (lengths) + 1 (key) + value = 8192 exactly
        let fits = "v".repeat(8192 - 7);
        assert!(EncryptionContext::from_pairs([("k", fits.as_str())]).is_ok());
        let over = "v".repeat(8192 - 6);
        assert_eq!(
            EncryptionContext::from_pairs([("k", over.as_str())])
                .unwrap_err()
                .kind(),
            ErrorKind::Validation
        );
    }
}
