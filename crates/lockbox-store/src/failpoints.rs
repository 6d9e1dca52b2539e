//! Injected failures, for tests of what callers do when the store fails.
//!
//! Compiled to nothing unless the `failpoints` feature is on. With it, a test arms a named
//! point and the next pass through it returns an error instead of doing its work.

use crate::error::StoreError;

#[cfg(feature = "failpoints")]
static ARMED: parking_lot::Mutex<Vec<&'static str>> = parking_lot::const_mutex(Vec::new());

/// Makes the next pass through the point `name` fail (once).
#[cfg(feature = "failpoints")]
pub fn arm(name: &'static str) {
    ARMED.lock().push(name);
}

/// Disarms every point.
#[cfg(feature = "failpoints")]
pub fn clear() {
    ARMED.lock().clear();
}

#[cfg(feature = "failpoints")]
pub(crate) fn hit(name: &'static str) -> Result<(), StoreError> {
    let mut armed = ARMED.lock();
    match armed.iter().position(|n| *n == name) {
        Some(i) => {
            armed.remove(i);
            Err(StoreError::Injected(name))
        }
        None => Ok(()),
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn hit(_name: &'static str) -> Result<(), StoreError> {
    Ok(())
}
