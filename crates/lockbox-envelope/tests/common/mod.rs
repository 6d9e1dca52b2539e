//! Shared by the envelope tests: an engine on a throwaway SoftHSM token, keys, and a `Kms`
//! that counts the calls made through it.
#![allow(dead_code, unreachable_pub, unused_macros)]

/// `isolated!(name)` inside a `mod run { use ...::run_isolated; ... }`: a test `run::name`
/// that runs `super::name` against a throwaway token in a child process.
macro_rules! isolated {
    ($name:ident) => {
        #[test]
        fn $name() {
            run_isolated(module_path!(), stringify!($name), super::$name);
        }
    };
}

use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;

use lockbox::api::*;
use lockbox::{Config, Engine};
use lockbox_token::testing::TestToken;
use parking_lot::Mutex;

/// Counts every call by operation, then passes it on.
pub struct CountingKms {
    inner: Arc<dyn Kms>,
    counts: Mutex<HashMap<&'static str, u64>>,
}

impl CountingKms {
    pub fn new(inner: Arc<dyn Kms>) -> CountingKms {
        CountingKms {
            inner,
            counts: Mutex::new(HashMap::new()),
        }
    }

    fn count(&self, op: &'static str) {
        *self.counts.lock().entry(op).or_default() += 1;
    }

    /// How many times `op` (the trait method's name) was called.
    pub fn calls(&self, op: &str) -> u64 {
        self.counts.lock().get(op).copied().unwrap_or(0)
    }
}

/// An engine, a counting client of it, and `n` fresh keys (their ARNs).
pub struct Setup {
    pub engine: Arc<Engine>,
    pub kms: Arc<CountingKms>,
    pub keys: Vec<String>,
}

impl Setup {
    pub fn new(t: &TestToken, n: usize) -> Result<Setup, Box<dyn Error>> {
        let engine = Arc::new(Engine::open(Config::new(t.dir().join("data"), t.config()))?);
        let client = engine.shared_client(engine.default_caller("envelope-test"));
        let kms = Arc::new(CountingKms::new(Arc::new(client)));
        let mut keys = Vec::new();
        for _ in 0..n {
            let made = kms.create_key(CreateKeyRequest::new())?;
            keys.push(made.key_metadata.arn.to_string());
        }
        Ok(Setup { engine, kms, keys })
    }

    pub fn kms(&self) -> Arc<dyn Kms> {
        Arc::clone(&self.kms) as Arc<dyn Kms>
    }
}

/// Deterministic, non-repeating-looking test data.
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

impl Kms for CountingKms {
    fn call(&self, request: Request) -> Result<Response, KmsError> {
        self.count(request.operation().method_name());
        self.inner.call(request)
    }
}
