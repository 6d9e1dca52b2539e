//! Shared helpers for engine tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use lockbox::api::{ErrorKind, KmsError, Timestamp};
use lockbox::{Clock, Config, Engine};
use lockbox_token::testing::TestToken;
use parking_lot::Mutex;

/// A clock tests can set.
pub(crate) struct TestClock(pub(crate) Mutex<Timestamp>);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock()
    }
}

/// 2025-01-01T00:00:00Z
pub(crate) const T0: i64 = 1_735_689_600_000;

pub(crate) fn engine(t: &TestToken) -> Result<Engine, lockbox::Error> {
    Engine::open(Config::new(t.dir().join("data"), t.config()))
}

pub(crate) fn engine_at(
    t: &TestToken,
    ms: i64,
) -> Result<(Engine, Arc<TestClock>), lockbox::Error> {
    let clock = Arc::new(TestClock(Mutex::new(Timestamp::from_unix_millis(ms))));
    let e = Engine::open_with_clock(Config::new(t.dir().join("data"), t.config()), clock.clone())?;
    Ok((e, clock))
}

/// The error kind of a result that must be an error.
pub(crate) fn kind<T>(r: Result<T, KmsError>) -> ErrorKind {
    match r {
        Ok(_) => panic!("expected an error, got success"),
        Err(e) => e.kind(),
    }
}
