//! A secret access key, as the signer holds it.

use zeroize::Zeroizing;

/// A secret access key. No `Debug`, `Display`, `Clone` or `Serialize`; zeroized on drop;
/// readable only through [`SecretKey::expose_secret`].
pub struct SecretKey(Zeroizing<String>);

impl SecretKey {
    /// Takes ownership of `secret` without copying it. Any non-empty string is accepted here
    /// (a client may hold a key issued by AWS or another server); the credentials file is
    /// stricter.
    pub fn new(secret: String) -> SecretKey {
        SecretKey(Zeroizing::new(secret))
    }

    /// The secret. Call this at the last moment (to sign, or to show a new key to the
    /// operator once) and keep no copies.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}
