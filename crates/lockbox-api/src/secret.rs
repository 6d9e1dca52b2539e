//! Plaintext bytes: a type that does not print, does not serialize, and zeroizes on drop.

use zeroize::Zeroizing;

/// Secret bytes: plaintext handed to Encrypt, or a data key or random bytes handed back.
///
/// There is deliberately no `Debug`, `Display`, `Clone` or `Serialize`. The bytes are visible
/// only through [`Plaintext::expose_secret`], and the buffer is zeroized when dropped.
pub struct Plaintext(Zeroizing<Vec<u8>>);

impl Plaintext {
    /// Takes ownership of `bytes` without copying them.
    pub fn new(bytes: Vec<u8>) -> Self {
        Plaintext(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into a new zeroizing buffer of exactly their length.
    pub fn copy_from(bytes: &[u8]) -> Self {
        let mut v = Vec::with_capacity(bytes.len());
        v.extend_from_slice(bytes);
        Self::new(v)
    }

    /// The secret bytes. Call this at the last moment, and do not keep copies.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for Plaintext {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl From<Zeroizing<Vec<u8>>> for Plaintext {
    fn from(bytes: Zeroizing<Vec<u8>>) -> Self {
        Plaintext(bytes)
    }
}
