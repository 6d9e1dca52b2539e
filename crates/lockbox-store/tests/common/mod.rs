//! What the store's test files share: a store on either backend, reopened the same way.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lockbox_store::testing::PgCluster;
use lockbox_store::{Consistency, DbPassword, PostgresOptions, Store, StoreError};

/// Where a test's store lives: a sled directory, or a database of its own in the test
/// process's shared PostgreSQL cluster (plus the node's own directory).
pub(crate) struct Harness {
    dir: tempfile::TempDir,
    url: Option<String>,
    database: String,
}

impl Harness {
    /// A fresh sled store directory.
    pub(crate) fn sled() -> Result<Harness, Box<dyn std::error::Error>> {
        Ok(Harness {
            dir: tempfile::tempdir()?,
            url: None,
            database: String::new(),
        })
    }

    /// A fresh database named `name` (unique in the test process) in the shared cluster.
    pub(crate) fn postgres(name: &str) -> Result<Harness, Box<dyn std::error::Error>> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        // Database names are at most 63 bytes: a number keeps truncated names apart.
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{n}_{}", &name[..name.len().min(56)]);
        let url = PgCluster::shared()?.create_database(&name)?;
        Ok(Harness {
            dir: tempfile::tempdir()?,
            url: Some(url),
            database: name,
        })
    }

    pub(crate) fn is_postgres(&self) -> bool {
        self.url.is_some()
    }

    /// The database's name (PostgreSQL).
    pub(crate) fn database(&self) -> &str {
        &self.database
    }

    /// The database's connection string (PostgreSQL).
    pub(crate) fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Opens the store (again: for PostgreSQL, a new `Store` on the same database).
    pub(crate) fn open(&self) -> Result<Store, StoreError> {
        self.open_with(Consistency::Default)
    }

    pub(crate) fn open_with(&self, consistency: Consistency) -> Result<Store, StoreError> {
        match &self.url {
            None => Store::open(self.dir.path()),
            Some(url) => Store::open_postgres(&pg_options(url, consistency), self.dir.path()),
        }
    }
}

/// Options for a store on `url` in the shared cluster.
pub(crate) fn pg_options(url: &str, consistency: Consistency) -> PostgresOptions {
    let shared = PgCluster::shared().expect("the shared cluster runs");
    pg_options_on(shared, url, consistency)
}

/// Options for a store on `url` in `cluster`.
pub(crate) fn pg_options_on(
    cluster: &PgCluster,
    url: &str,
    consistency: Consistency,
) -> PostgresOptions {
    PostgresOptions {
        url: url.to_owned(),
        password: Some(DbPassword::new(cluster.password().to_owned())),
        ca_file: None,
        consistency,
        cache_ttl: Duration::from_secs(300),
        pool_size: 4,
    }
}

/// Generates, for each `fn name(h: &Harness) -> TestResult` listed, a test `on_sled::name` on a
/// fresh sled directory and a test `on_postgres::name` on a fresh database (named after the
/// test) of the process's shared cluster.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sled {
            $(
                #[test]
                fn $name() -> super::TestResult {
                    super::$name(&$crate::common::Harness::sled()?)
                }
            )*
        }
        mod on_postgres {
            $(
                #[test]
                fn $name() -> super::TestResult {
                    super::$name(&$crate::common::Harness::postgres(stringify!($name))?)
                }
            )*
        }
    };
}
