//! Cluster mode (issue 17) through the engine: two nodes, each an engine with its own data
//! directory, over one PostgreSQL database and one SoftHSM token. What one node
//! acknowledges, the other serves; a change on one is honoured on the other (at once under
//! strict consistency, within the cache's bound by default); concurrent changes of one key on
//! both nodes lose nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::time::{Duration, Instant};

use common::kind;
use lockbox::api::*;
use lockbox::{Config, Consistency, Engine, PasswordSource, PostgresConfig, StoreConfig};
use lockbox_store::testing::PgCluster;
use lockbox_token::testing::TestToken;
use lockbox_token::token_test;

/// A node: an engine with data directory `<token dir>/<name>` over database `db`.
fn node(t: &TestToken, name: &str, db: &str, consistency: Consistency, ttl_ms: u64) -> Engine {
    let mut config = Config::new(t.dir().join(name), t.config());
    config.store = node_config(t, db, consistency, ttl_ms);
    Engine::open(config).unwrap()
}

fn database(name: &str) -> String {
    let pg = PgCluster::shared().unwrap();
    pg.create_database(name).unwrap();
    name.to_owned()
}

fn root(e: &Engine) -> lockbox::EngineClient<'_> {
    e.client(Caller::new(
        Principal::parse("arn:aws:iam::000000000000:root").unwrap(),
    ))
}

fn pt(b: &[u8]) -> Plaintext {
    Plaintext::copy_from(b)
}

token_test!(
    /// Keys, aliases, grants and ciphertexts acknowledged by one node are there on the other.
    fn what_one_node_acknowledges_the_other_serves(t) {
        let db = database("serves");
        let a = node(t, "a", &db, Consistency::Default, 1000);
        let b = node(t, "b", &db, Consistency::Default, 1000);
        let (ca, cb) = (root(&a), root(&b));
        let key = ca.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
        let blob = ca
            .encrypt(EncryptRequest::new(key, pt(b"across nodes")))?
            .ciphertext_blob;
        let out = cb.decrypt(DecryptRequest::new(blob))?;
        assert_eq!(out.plaintext.expose_secret(), b"across nodes");
        ca.create_alias(AliasRequest::new(AliasName::parse("alias/shared")?, key))?;
        let via_alias = cb.encrypt(EncryptRequest::new(
            KeyRef::parse("alias/shared")?,
            pt(b"by alias"),
        ))?;
        assert_eq!(
            ca.decrypt(DecryptRequest::new(via_alias.ciphertext_blob))?
                .plaintext
                .expose_secret(),
            b"by alias"
        );
        let listed = cb.list_aliases(ListAliasesRequest::new())?.aliases;
        assert!(listed.iter().any(|a| a.alias_name.as_str() == "alias/shared"));
        let keys = cb.list_keys(ListKeysRequest::new())?.keys;
        assert!(keys.iter().any(|k| k.key_id == key));
        Ok(())
    }
);

token_test!(
    /// Under strict consistency, a key disabled on node A is refused on node B at once: the
    /// very next call, with no wait.
    fn strict_a_disabled_key_is_refused_on_the_other_node_at_once(t) {
        let db = database("strict");
        let a = node(t, "a", &db, Consistency::Strict, 1000);
        let b = node(t, "b", &db, Consistency::Strict, 1000);
        let (ca, cb) = (root(&a), root(&b));
        let key = ca.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
        for round in 0..20 {
            cb.encrypt(EncryptRequest::new(key, pt(b"x")))?;
            ca.disable_key(DisableKeyRequest::new(key))?;
            assert_eq!(
                kind(cb.encrypt(EncryptRequest::new(key, pt(b"x")))),
                ErrorKind::Disabled,
                "round {round}"
            );
            ca.enable_key(EnableKeyRequest::new(key))?;
        }
        Ok(())
    }
);

token_test!(
    /// By default, a key disabled on node A is refused on node B within the cache's bound
    /// (here 1 s, the default time-to-live); measured: the time until B refuses.
    fn default_a_disabled_key_is_refused_on_the_other_node_within_the_bound(t) {
        let db = database("bounded");
        let a = node(t, "a", &db, Consistency::Default, 1000);
        let b = node(t, "b", &db, Consistency::Default, 1000);
        let (ca, cb) = (root(&a), root(&b));
        let key = ca.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
        let mut waits = Vec::new();
        for _ in 0..20 {
            cb.encrypt(EncryptRequest::new(key, pt(b"warm the cache")))?;
            ca.disable_key(DisableKeyRequest::new(key))?;
            let acked = Instant::now();
            loop {
                match cb.encrypt(EncryptRequest::new(key, pt(b"x"))) {
                    Err(e) if e.kind() == ErrorKind::Disabled => break,
                    Ok(_) => {}
                    Err(e) => panic!("unexpected {e}"),
                }
                assert!(
                    acked.elapsed() < Duration::from_millis(1500),
                    "node B still encrypted 1.5 s after node A acknowledged DisableKey"
                );
            }
            waits.push(acked.elapsed());
            ca.enable_key(EnableKeyRequest::new(key))?;
            let acked = Instant::now();
            while cb
                .encrypt(EncryptRequest::new(key, pt(b"x")))
                .is_err()
            {
                assert!(acked.elapsed() < Duration::from_millis(1500));
            }
            waits.push(acked.elapsed());
        }
        waits.sort();
        eprintln!(
            "default consistency: a change honoured on the other node after median {:?}, worst {:?} ({} changes)",
            waits[waits.len() / 2],
            waits[waits.len() - 1],
            waits.len()
        );
        Ok(())
    }
);

token_test!(
    /// Both nodes encrypt under one key at once, with small count blocks (each claim a
    /// read-modify-write of the record): every call succeeds, and the durable reservation
    /// covers every encryption made on both nodes (the blocks do not overlap).
    fn concurrent_encryptions_on_both_nodes_count_every_one(t) {
        let db = database("counts");
        let lifecycle = lockbox::Lifecycle {
            encryption_count_block: 8,
            ..Default::default()
        };
        let mut config_a = Config::new(t.dir().join("a"), t.config());
        let mut config_b = Config::new(t.dir().join("b"), t.config());
        config_a.store = node_config(t, &db, Consistency::Default, 1000);
        config_b.store = node_config(t, &db, Consistency::Default, 1000);
        config_a.lifecycle = lifecycle;
        config_b.lifecycle = lifecycle;
        let a = Engine::open(config_a)?;
        let b = Engine::open(config_b)?;
        let key = root(&a).create_key(CreateKeyRequest::new())?.key_metadata.key_id;
        const EACH: usize = 150;
        std::thread::scope(|s| {
            for e in [&a, &b] {
                s.spawn(move || {
                    let c = root(e);
                    for _ in 0..EACH {
                        c.encrypt(EncryptRequest::new(key, pt(b"count me")))
                            .unwrap();
                    }
                });
            }
        });
        // Each node gives back what it reserved and did not use when it closes; what stays
        // reserved is then an upper bound of the encryptions both made.
        drop((a, b));
        let mut config = Config::new(t.dir().join("a"), t.config());
        config.store = node_config(t, &db, Consistency::Default, 1000);
        let a = Engine::open(config)?;
        let usage = a.material_usage(
            &Caller::new(Principal::parse("arn:aws:iam::000000000000:root")?),
            &KeyRef::from(key),
        )?;
        let counted: u64 = usage.iter().map(|u| u.encryptions).sum();
        assert!(
            counted >= 2 * EACH as u64,
            "the reservation ({counted}) must cover both nodes' {} encryptions",
            2 * EACH
        );
        Ok(())
    }
);

/// The `[store]` of a node over database `db` of the shared cluster.
fn node_config(t: &TestToken, db: &str, consistency: Consistency, ttl_ms: u64) -> StoreConfig {
    let pg = PgCluster::shared().unwrap();
    let password = t.dir().join("db.password");
    if !password.exists() {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&password)
            .unwrap();
        std::io::Write::write_all(&mut f, pg.password().as_bytes()).unwrap();
    }
    StoreConfig::Postgres(PostgresConfig {
        url: pg.url_for(db),
        password: Some(PasswordSource::File(password)),
        ca_file: None,
        consistency,
        cache_ttl: Duration::from_millis(ttl_ms),
        pool_size: 4,
    })
}
