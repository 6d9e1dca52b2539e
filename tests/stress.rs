//! Stress: several threads mix every kind of operation on a few keys for a bounded time;
//! afterwards every ciphertext decrypts, no material version was used past its limit, and
//! the token and the records agree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../crates/lockbox/tests/common/root.rs"]
mod root;
use root::Root;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockbox::api::*;
use lockbox::{Config, Engine, Lifecycle};
use lockbox_token::token_test;
use parking_lot::Mutex;

const THREADS: usize = 4;
const RUN_FOR: Duration = Duration::from_secs(3);
const LIMIT: u64 = 12;
const ALIASES: [&str; 3] = ["alias/s0", "alias/s1", "alias/s2"];

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Ciphertext, expected plaintext, context.
type Sealed = (Vec<u8>, Vec<u8>, EncryptionContext);

#[derive(Default)]
struct Shared {
    keys: Mutex<Vec<KeyId>>,
    blobs: Mutex<Vec<Sealed>>,
    ops: Mutex<HashMap<&'static str, usize>>,
}

impl Shared {
    fn count(&self, op: &'static str) {
        *self.ops.lock().entry(op).or_default() += 1;
    }
}

/// Failures a mix of concurrent operations may legitimately meet: a key disabled by another
/// thread, or out of on-demand rotations.
fn tolerated(e: &KmsError) -> bool {
    matches!(e.kind(), ErrorKind::Disabled | ErrorKind::LimitExceeded)
}

fn work(kms: &Root, shared: &Shared, seed: u64) {
    let mut rng = Rng(seed);
    let deadline = Instant::now() + RUN_FOR;
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let key = {
            let keys = shared.keys.lock();
            keys[rng.below(keys.len())]
        };
        let ctx = EncryptionContext::from_pairs([("n", n.to_string())]).unwrap();
        let result = match rng.below(20) {
            0 if rng.below(2) == 0 => kms.create_key(CreateKeyRequest::new()).map(|r| {
                shared.keys.lock().push(r.key_metadata.key_id);
                shared.count("create");
            }),
            1..=6 => {
                let msg = format!("{seed}/{n}").into_bytes();
                kms.encrypt(
                    EncryptRequest::new(key, Plaintext::copy_from(&msg))
                        .with_encryption_context(ctx.clone()),
                )
                .map(|r| {
                    shared.blobs.lock().push((r.ciphertext_blob, msg, ctx));
                    shared.count("encrypt");
                })
            }
            7..=9 => kms
                .generate_data_key(
                    GenerateDataKeyRequest::new(key, DataKeySpec::Aes256)
                        .with_encryption_context(ctx.clone()),
                )
                .map(|r| {
                    shared.blobs.lock().push((
                        r.ciphertext_blob,
                        r.plaintext.expose_secret().to_vec(),
                        ctx,
                    ));
                    shared.count("generate-data-key");
                }),
            10..=13 => {
                let pick = {
                    let blobs = shared.blobs.lock();
                    (!blobs.is_empty()).then(|| blobs[rng.below(blobs.len())].clone())
                };
                match pick {
                    Some((blob, msg, ctx)) => kms
                        .decrypt(DecryptRequest::new(blob).with_encryption_context(ctx))
                        .map(|r| {
                            assert_eq!(r.plaintext.expose_secret(), msg.as_slice());
                            shared.count("decrypt");
                        }),
                    None => Ok(()),
                }
            }
            14 => kms
                .rotate_key_on_demand(RotateKeyOnDemandRequest::new(key))
                .map(|_| shared.count("rotate")),
            15 => kms
                .disable_key(DisableKeyRequest::new(key))
                .map(|_| shared.count("disable")),
            16 | 17 => kms
                .enable_key(EnableKeyRequest::new(key))
                .map(|_| shared.count("enable")),
            0 => Ok(()),
            _ => {
                let alias = AliasName::parse(ALIASES[rng.below(ALIASES.len())]).unwrap();
                kms.update_alias(AliasRequest::new(alias, key))
                    .map(|_| shared.count("update-alias"))
            }
        };
        if let Err(e) = result {
            assert!(tolerated(&e), "unexpected failure under load: {e}");
        }
    }
}

token_test!(
    fn concurrent_mixed_operations_leave_everything_consistent(t) {
        let mut config = Config::new(t.dir().join("data"), t.config());
        config.lifecycle = Lifecycle { max_encryptions_per_version: LIMIT, encryption_count_block: 7, ..Lifecycle::default() };
        let kms = Arc::new(Root(Engine::open(config)?));
        let shared = Arc::new(Shared::default());
        for alias in ALIASES {
            let key = kms.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
            kms.create_alias(AliasRequest::new(AliasName::parse(alias)?, key))?;
            shared.keys.lock().push(key);
        }
        let workers: Vec<_> = (0..THREADS)
            .map(|w| {
                let (kms, shared) = (kms.clone(), shared.clone());
                std::thread::spawn(move || work(&kms, &shared, 0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1)))
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| "a worker thread failed")?;
        }

        let keys = shared.keys.lock().clone();
        for key in &keys {
            kms.enable_key(EnableKeyRequest::new(*key))?;
        }
        // Every ciphertext decrypts, and no material version made more than LIMIT of them.
        let blobs = shared.blobs.lock().clone();
        let mut per_version: HashMap<(Vec<u8>, u32), u64> = HashMap::new();
        for (blob, msg, ctx) in &blobs {
            let out = kms.decrypt(DecryptRequest::new(blob.clone()).with_encryption_context(ctx.clone()))?;
            assert_eq!(out.plaintext.expose_secret(), msg.as_slice());
            let version = u32::from_be_bytes(blob[17..21].try_into()?);
            *per_version.entry((blob[1..17].to_vec(), version)).or_default() += 1;
        }
        assert!(per_version.values().all(|&n| n <= LIMIT), "a version passed its limit: {per_version:?}");
        println!("stress: {} ciphertexts, {} keys, operations {:?}", blobs.len(), keys.len(), shared.ops.lock());
        let mut rotated_by_use = false;
        for key in &keys {
            let usage = kms.material_usage(&kms.default_caller("test"), &(*key).into())?;
            assert_eq!(usage.iter().filter(|u| u.current).count(), 1);
            for u in &usage {
                let made = per_version.get(&(key.as_bytes().to_vec(), u.version)).copied().unwrap_or(0);
                assert!(u.encryptions >= made && u.encryptions <= LIMIT, "{key} v{}: counted {}, made {made}", u.version, u.encryptions);
                rotated_by_use |= u.rotation == Some(RotationType::Automatic);
            }
        }
        assert!(rotated_by_use, "the load never reached the per-version limit");
        // The token and the records agree; aliases point at keys that exist.
        let r = kms.reconcile()?;
        assert!(!r.has_problems() && r.finished_deletions.is_empty(), "{r:?}");
        assert_eq!(r.keys, keys.len());
        let versions: usize = keys.iter().map(|k| kms.material_usage(&kms.default_caller("test"), &(*k).into()).map(|u| u.len())).sum::<Result<_, _>>()?;
        assert_eq!(r.objects, versions);
        let aliases = kms.list_aliases(ListAliasesRequest::new())?.aliases;
        assert_eq!(aliases.len(), ALIASES.len());
        assert!(aliases.iter().all(|a| keys.contains(&a.target_key_id)));
        let ops = shared.ops.lock();
        for op in ["encrypt", "decrypt", "generate-data-key", "rotate", "disable", "enable", "update-alias"] {
            assert!(ops.get(op).copied().unwrap_or(0) > 0, "no {op} succeeded");
        }
        Ok(())
    }
);
