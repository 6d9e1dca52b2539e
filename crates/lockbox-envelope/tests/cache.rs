//! The data-key cache: GenerateDataKey and Decrypt calls counted under each limit, on the
//! real engine, with a fake clock for age.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Setup, data};
use lockbox_envelope::cache::{CacheStats, Clock};
use lockbox_envelope::{
    CacheLimits, CachingMaterials, DecryptOptions, EncryptOptions, Encryptor, EnvelopeError,
    KmsKeyring, MaterialsManager, Suite,
};
use lockbox_token::testing::{TestResult, TestToken};
use parking_lot::Mutex;

struct FakeClock(Mutex<Instant>);

impl FakeClock {
    fn advance(&self, by: Duration) {
        *self.0.lock() += by;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        *self.0.lock()
    }
}

mod run {
    use lockbox_token::testing::run_isolated;

    isolated!(messages_limit_counts_generate_data_key_calls);
    isolated!(bytes_limit_counts_generate_data_key_calls);
    isolated!(entries_never_outlive_their_age);
    isolated!(capacity_evicts_the_least_recently_used);
    isolated!(entries_are_partitioned_by_suite_context_and_keys);
    isolated!(decryption_materials_are_cached_by_message_keys);
    isolated!(limits_are_validated);
    isolated!(an_idle_cache_drops_expired_entries_by_itself);
}

fn cache(
    s: &Setup,
    limits: CacheLimits,
) -> Result<(CachingMaterials, Arc<FakeClock>), EnvelopeError> {
    let keyring = Arc::new(KmsKeyring::new(s.kms(), &s.keys)?);
    let clock = Arc::new(FakeClock(Mutex::new(Instant::now())));
    let c =
        CachingMaterials::new(keyring, limits)?.with_clock(Arc::clone(&clock) as Arc<dyn Clock>);
    Ok((c, clock))
}

fn limits(age_s: u64) -> CacheLimits {
    CacheLimits::with_max_age(Duration::from_secs(age_s))
}

fn enc(c: &dyn MaterialsManager, ctx: &str, plain: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let opts = EncryptOptions::default()
        .with_suite(Suite::Aes256GcmHkdfSha512CommitKey)
        .with_context([("c", ctx)]);
    lockbox_envelope::encrypt(c, &opts, plain)
}

fn messages_limit_counts_generate_data_key_calls(t: &TestToken) -> TestResult {
    let s = Setup::new(t, 1)?;
    let (c, _) = cache(
        &s,
        CacheLimits {
            max_messages: 3,
            ..limits(60)
        },
    )?;
    let mut msgs = Vec::new();
    for i in 0..10u8 {
        msgs.push(enc(&c, "a", &[i; 10])?);
    }
    // Messages 1-3, 4-6, 7-9 and 10 each share a data key.
    assert_eq!(s.kms.calls("generate_data_key"), 4);
    assert_eq!(
        c.stats(),
        CacheStats {
            hits: 6,
            misses: 4,
            entries: 1
        }
    );
    let plain_keyring = KmsKeyring::new(s.kms(), &s.keys)?;
    for (i, m) in msgs.iter().enumerate() {
        let (p, _) = lockbox_envelope::decrypt(&plain_keyring, m, &DecryptOptions::default())?;
        assert_eq!(p, [i as u8; 10]);
    }
    // Same data key, different message ids: the encrypted data keys repeat, the bodies not.
    assert_ne!(msgs[0], msgs[1]);
    Ok(())
}

fn bytes_limit_counts_generate_data_key_calls(t: &TestToken) -> TestResult {
    let s = Setup::new(t, 1)?;
    let (c, _) = cache(
        &s,
        CacheLimits {
            max_bytes: 1000,
            ..limits(60)
        },
    )?;
    for _ in 0..10 {
        enc(&c, "a", &data(300, 1))?;
    }
    // 300, 600, 900 bytes on one key; the fourth message would make 1200.
    assert_eq!(s.kms.calls("generate_data_key"), 4);
    // A message of max_bytes or more is never cached.
    for _ in 0..3 {
        enc(&c, "big", &data(1000, 2))?;
    }
    assert_eq!(s.kms.calls("generate_data_key"), 7);
    // A stream of unknown length bypasses the cache.
    let opts = EncryptOptions::default()
        .with_suite(Suite::Aes256GcmHkdfSha512CommitKey)
        .with_context([("c", "a")]);
    for _ in 0..2 {
        let mut e = Encryptor::new(&c, &opts, None, Vec::new())?;
        e.write_all(b"streamed")?;
        e.finish()?;
    }
    assert_eq!(s.kms.calls("generate_data_key"), 9);
    Ok(())
}

fn entries_never_outlive_their_age(t: &TestToken) -> TestResult {
    let s = Setup::new(t, 1)?;
    let (c, clock) = cache(&s, limits(60))?;
    let m1 = enc(&c, "a", b"one")?;
    clock.advance(Duration::from_millis(59_999));
    enc(&c, "a", b"two")?;
    assert_eq!(
        s.kms.calls("generate_data_key"),
        1,
        "still young at 59.999 s"
    );
    clock.advance(Duration::from_millis(1));
    enc(&c, "a", b"three")?;
    assert_eq!(s.kms.calls("generate_data_key"), 2, "60 s old is too old");
    // Expired entries leave the cache at the next access or purge, with their data keys.
    enc(&c, "b", b"other")?;
    assert_eq!(c.stats().entries, 2);
    clock.advance(Duration::from_secs(60));
    c.purge_expired();
    assert_eq!(c.stats().entries, 0);
    // Decryption entries too.
    lockbox_envelope::decrypt(&c, &m1, &DecryptOptions::default())?;
    lockbox_envelope::decrypt(&c, &m1, &DecryptOptions::default())?;
    assert_eq!(s.kms.calls("decrypt"), 1);
    clock.advance(Duration::from_secs(60));
    lockbox_envelope::decrypt(&c, &m1, &DecryptOptions::default())?;
    assert_eq!(s.kms.calls("decrypt"), 2);
    Ok(())
}

fn capacity_evicts_the_least_recently_used(t: &TestToken) -> TestResult {
    let s = Setup::new(t, 1)?;
    let (c, _) = cache(
        &s,
        CacheLimits {
            capacity: 2,
            ..limits(60)
        },
    )?;
    enc(&c, "a", b"x")?;
    enc(&c, "b", b"x")?;
    enc(&c, "a", b"x")?; // a is now the most recently used
    enc(&c, "c", b"x")?; // evicts b
    assert_eq!(s.kms.calls("generate_data_key"), 3);
    enc(&c, "a", b"x")?;
    assert_eq!(s.kms.calls("generate_data_key"), 3, "a stayed");
    enc(&c, "b", b"x")?;
    assert_eq!(s.kms.calls("generate_data_key"), 4, "b was evicted");
    assert_eq!(c.stats().entries, 2);
    Ok(())
}

fn entries_are_partitioned_by_suite_context_and_keys(t: &TestToken) -> TestResult {
    let s = Setup::new(t, 2)?;
    let (c, _) = cache(&s, limits(60))?;
    enc(&c, "a", b"x")?;
    enc(&c, "a", b"x")?;
    assert_eq!(s.kms.calls("generate_data_key"), 1);
    enc(&c, "b", b"x")?;
    assert_eq!(s.kms.calls("generate_data_key"), 2, "another context");
    let signed = EncryptOptions::default()
        .with_suite(Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384)
        .with_context([("c", "a")]);
    let m1 = lockbox_envelope::encrypt(&c, &signed, b"x")?;
    let m2 = lockbox_envelope::encrypt(&c, &signed, b"y")?;
    assert_eq!(
        s.kms.calls("generate_data_key"),
        3,
        "another suite, then a hit"
    );
    let k = KmsKeyring::new(s.kms(), &s.keys)?;
    assert_eq!(
        lockbox_envelope::decrypt(&k, &m1, &DecryptOptions::default())?.0,
        b"x"
    );
    assert_eq!(
        lockbox_envelope::decrypt(&k, &m2, &DecryptOptions::default())?.0,
        b"y"
    );
    // Each message encrypts under both keys: GenerateDataKey, then Encrypt, once per miss.
    assert_eq!(s.kms.calls("encrypt"), 3);
    // A cache over a keyring of other keys never shares its entries.
    let only_second = Arc::new(KmsKeyring::new(s.kms(), &s.keys[1..])?);
    assert_ne!(only_second.cache_partition(), c.cache_partition());
    Ok(())
}

fn decryption_materials_are_cached_by_message_keys(t: &TestToken) -> TestResult {
    let s = Setup::new(t, 1)?;
    let keyring = KmsKeyring::new(s.kms(), &s.keys)?;
    let a = enc(&keyring, "a", b"first")?;
    let b = enc(&keyring, "a", b"second")?;
    let (c, _) = cache(&s, limits(60))?;
    for _ in 0..5 {
        assert_eq!(
            lockbox_envelope::decrypt(&c, &a, &DecryptOptions::default())?.0,
            b"first"
        );
    }
    assert_eq!(s.kms.calls("decrypt"), 1);
    assert_eq!(
        lockbox_envelope::decrypt(&c, &b, &DecryptOptions::default())?.0,
        b"second"
    );
    assert_eq!(
        s.kms.calls("decrypt"),
        2,
        "another data key is another entry"
    );
    Ok(())
}

fn limits_are_validated(t: &TestToken) -> TestResult {
    let s = Setup::new(t, 1)?;
    for (bad, says) in [
        (limits(0), "max age"),
        (
            CacheLimits {
                max_messages: 0,
                ..limits(1)
            },
            "max messages",
        ),
        (
            CacheLimits {
                max_messages: (1 << 32) + 1,
                ..limits(1)
            },
            "max messages",
        ),
        (
            CacheLimits {
                max_bytes: u64::MAX,
                ..limits(1)
            },
            "max bytes",
        ),
        (
            CacheLimits {
                capacity: 0,
                ..limits(1)
            },
            "capacity",
        ),
    ] {
        let err = cache(&s, bad).err().expect("refused");
        assert!(
            matches!(&err, EnvelopeError::InvalidInput(m) if m.contains(says)),
            "{err}"
        );
    }
    Ok(())
}

fn an_idle_cache_drops_expired_entries_by_itself(t: &TestToken) -> TestResult {
    let s = Setup::new(t, 1)?;
    let keyring = Arc::new(KmsKeyring::new(s.kms(), &s.keys)?);
    let c = Arc::new(CachingMaterials::new(
        keyring,
        CacheLimits::with_max_age(Duration::from_millis(200)),
    )?);
    let purger = c.start_purging();
    assert!(purger.is_running());
    enc(&*c, "a", b"x")?;
    assert_eq!(c.stats().entries, 1);
    // No access from here on: the purging thread alone empties the cache.
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.stats().entries > 0 {
        assert!(
            Instant::now() < deadline,
            "the entry outlived its age by 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(purger);
    Ok(())
}
