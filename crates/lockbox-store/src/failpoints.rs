//! Injected failures, for tests of what callers do when the store fails or the process dies.
//!
//! Compiled to nothing unless the `failpoints` feature is on. With it, a test arms a named
//! point, and the next pass through it either returns an error instead of doing its work
//! ([`arm`]) or stops the process there ([`arm_pause`]) so that a crash test can kill it at
//! exactly that step. The engine places its own points with [`hit`], so one registry serves
//! the whole process.

use crate::error::StoreError;

#[cfg(feature = "failpoints")]
enum Action {
    Fail,
    Pause,
}

#[cfg(feature = "failpoints")]
static ARMED: parking_lot::Mutex<Vec<(String, Action)>> = parking_lot::const_mutex(Vec::new());

/// The line a paused point writes to standard output before it blocks:
/// `<PAUSED_PREFIX><name>`.
pub const PAUSED_PREFIX: &str = "lockbox-failpoint-paused: ";

/// Makes the next pass through the point `name` fail (once).
#[cfg(feature = "failpoints")]
pub fn arm(name: &str) {
    ARMED.lock().push((name.to_owned(), Action::Fail));
}

/// Makes the next pass through the point `name` write `<PAUSED_PREFIX><name>` on standard
/// output and then block forever, for a crash test to kill the process right there.
#[cfg(feature = "failpoints")]
pub fn arm_pause(name: &str) {
    ARMED.lock().push((name.to_owned(), Action::Pause));
}

/// Disarms every point.
#[cfg(feature = "failpoints")]
pub fn clear() {
    ARMED.lock().clear();
}

/// Passes the point `name`: does what it was armed to do, or nothing.
#[cfg(feature = "failpoints")]
pub fn hit(name: &'static str) -> Result<(), StoreError> {
    let action = {
        let mut armed = ARMED.lock();
        match armed.iter().position(|(n, _)| n == name) {
            Some(i) => armed.remove(i).1,
            None => return Ok(()),
        }
    };
    match action {
        Action::Fail => Err(StoreError::Injected(name)),
        Action::Pause => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            // If the announcement cannot be written, the test waiting for it times out and
            // says so; blocking here is still right.
            let _ = writeln!(out, "{PAUSED_PREFIX}{name}");
            let _ = out.flush();
            drop(out);
            loop {
                std::thread::park();
            }
        }
    }
}

/// Passes the point `name` (failpoints are compiled out: nothing happens).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &'static str) -> Result<(), StoreError> {
    Ok(())
}
