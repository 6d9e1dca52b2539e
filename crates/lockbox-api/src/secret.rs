//! Plaintext bytes: a type that does not print, does not serialize, and zeroizes on drop.

use zeroize::{Zeroize, Zeroizing};

/// Secret bytes: plaintext handed to Encrypt, or a data key or random bytes handed back.
///
/// There is deliberately no `Debug`, `Display`, `Clone` or `Serialize`. The bytes are visible
/// only through [`Plaintext::expose_secret`], and the buffer (its spare capacity included)
/// is zeroized when dropped.
pub struct Plaintext(Vec<u8>);

impl Plaintext {
    /// Takes ownership of `bytes` without copying them.
    pub fn new(bytes: Vec<u8>) -> Self {
        Plaintext(bytes)
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

impl Drop for Plaintext {
    fn drop(&mut self) {
        // Not `Zeroizing<Vec<u8>>`: zeroize's `Vec` impl clears the elements one volatile byte
        // at a time (about 6,000 instructions for 4 KiB, a quarter of the engine's overhead on
        // Encrypt), while its slice impls fill and then fence the writes with an optimization
        // barrier. Same bytes cleared: every element, then the spare capacity.
        self.0.as_mut_slice().zeroize();
        self.0.spare_capacity_mut().zeroize();
    }
}

impl From<Vec<u8>> for Plaintext {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl From<Zeroizing<Vec<u8>>> for Plaintext {
    fn from(mut bytes: Zeroizing<Vec<u8>>) -> Self {
        // Moves the buffer out (no copy); what is left behind is an empty `Vec`.
        Plaintext(std::mem::take(&mut *bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_bytes_it_is_given() {
        let p = Plaintext::from(Zeroizing::new(vec![1, 2, 3]));
        assert_eq!(p.expose_secret(), &[1, 2, 3]);
        assert_eq!(
            Plaintext::copy_from(&[7; 4096]).expose_secret(),
            &[7; 4096][..]
        );
        assert!(Plaintext::new(Vec::new()).is_empty());
    }
}
