//! Shared helpers for engine tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use lockbox::api::{ErrorKind, KmsError, Timestamp};
use lockbox::{Clock, Config, Engine};
use lockbox_token::testing::TestToken;
use parking_lot::Mutex;

#[path = "root.rs"]
mod root;
pub(crate) use root::Root;

/// A clock tests can set.
pub(crate) struct TestClock(pub(crate) Mutex<Timestamp>);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock()
    }
}

/// 2025-01-01T00:00:00Z
pub(crate) const T0: i64 = 1_735_689_600_000;

pub(crate) fn engine(t: &TestToken) -> Result<Root, lockbox::Error> {
    Engine::open(Config::new(t.dir().join("data"), t.config())).map(Root)
}

pub(crate) fn engine_at(t: &TestToken, ms: i64) -> Result<(Root, Arc<TestClock>), lockbox::Error> {
    let clock = Arc::new(TestClock(Mutex::new(Timestamp::from_unix_millis(ms))));
    let e = Engine::open_with_clock(Config::new(t.dir().join("data"), t.config()), clock.clone())?;
    Ok((Root(e), clock))
}

/// The error kind of a result that must be an error.
pub(crate) fn kind<T>(r: Result<T, KmsError>) -> ErrorKind {
    match r {
        Ok(_) => panic!("expected an error, got success"),
        Err(e) => e.kind(),
    }
}

pub(crate) const DAY: i64 = 86_400_000;

/// An engine on `t` at time `ms` with lifecycle settings of the test's own.
pub(crate) fn engine_with(
    t: &TestToken,
    ms: i64,
    lifecycle: lockbox::Lifecycle,
) -> Result<(Root, Arc<TestClock>), lockbox::Error> {
    let clock = Arc::new(TestClock(Mutex::new(Timestamp::from_unix_millis(ms))));
    let mut config = Config::new(t.dir().join("data"), t.config());
    config.lifecycle = lifecycle;
    let e = Engine::open_with_clock(config, clock.clone())?;
    Ok((Root(e), clock))
}

impl TestClock {
    /// Sets the time.
    pub(crate) fn set(&self, ms: i64) {
        *self.0.lock() = Timestamp::from_unix_millis(ms);
    }
}

/// The error of a result that must be an error (for responses that do not print).
pub(crate) fn err<T>(r: Result<T, KmsError>) -> KmsError {
    match r {
        Ok(_) => panic!("expected an error, got success"),
        Err(e) => e,
    }
}
