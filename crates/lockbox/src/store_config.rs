//! The `[store]` section of `lockbox.toml`: which metadata engine a node uses.
//!
//! ```toml
//! [store]                          # optional; without it, the embedded sled store
//! backend = "postgres"             # "sled" (default) or "postgres" (several nodes)
//! url = "postgresql://lockbox@db.example:5432/lockbox?sslmode=require"
//!                                  # or any libpq connection string; never the password
//! password_env = "LOCKBOX_DB_PASSWORD"   # or: password_file = "db.password" (0600)
//! ca_file = "db-ca.pem"            # TLS: the CA that signed the server's certificate
//! consistency = "default"          # or "strict" (see docs/operations.md)
//! cache_ttl_ms = 1000              # default mode: the longest a cached record is used
//! pool_size = 16                   # connections kept open for this node's calls
//! ```

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lockbox_store::{Consistency, DbPassword, PostgresOptions};
use serde::Deserialize;

use crate::error::Error;

/// Where a node keeps its metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StoreConfig {
    /// sled in `<data>/metadata`: one node (the embedded default).
    #[default]
    Sled,
    /// One PostgreSQL database shared by every node of a cluster.
    Postgres(PostgresConfig),
}

/// How to reach PostgreSQL. Holds where the password is, never the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresConfig {
    /// A libpq connection string or `postgresql://` URL, without a password.
    pub url: String,
    /// Where the password comes from, if the server asks for one.
    pub password: Option<PasswordSource>,
    /// The CA certificates (PEM) trusted for TLS to the server.
    pub ca_file: Option<PathBuf>,
    /// Default (cached records, invalidated by notifications) or strict (no cache).
    pub consistency: Consistency,
    /// Default mode: the longest a cached key record is used.
    pub cache_ttl: Duration,
    /// Connections kept open for this node's calls.
    pub pool_size: usize,
}

/// Where the database password is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    /// An environment variable of the node's process.
    Env(String),
    /// A file that only its owner can read (0600 or stricter).
    File(PathBuf),
}

/// The default time-to-live of a cached key record in default mode.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_millis(1000);
/// The default number of pooled connections per node.
pub const DEFAULT_POOL_SIZE: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreSection {
    backend: Option<String>,
    url: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    consistency: Option<String>,
    cache_ttl_ms: Option<u64>,
    pool_size: Option<usize>,
}

impl StoreSection {
    /// The checked configuration; relative paths are made absolute by `rel`.
    pub(crate) fn check(self, rel: impl Fn(PathBuf) -> PathBuf) -> Result<StoreConfig, String> {
        match self.backend.as_deref() {
            None | Some("sled") => {
                let extra = [
                    ("url", self.url.is_some()),
                    ("password_env", self.password_env.is_some()),
                    ("password_file", self.password_file.is_some()),
                    ("ca_file", self.ca_file.is_some()),
                    ("consistency", self.consistency.is_some()),
                    ("cache_ttl_ms", self.cache_ttl_ms.is_some()),
                    ("pool_size", self.pool_size.is_some()),
                ];
                if let Some((name, _)) = extra.iter().find(|(_, set)| *set) {
                    return Err(format!(
                        "[store] {name} applies only to backend = \"postgres\""
                    ));
                }
                Ok(StoreConfig::Sled)
            }
            Some("postgres") => {
                let url = self.url.ok_or(
                    "[store] backend = \"postgres\" needs `url` (a libpq connection string)",
                )?;
                let password = match (self.password_env, self.password_file) {
                    (Some(v), None) => Some(PasswordSource::Env(v)),
                    (None, Some(f)) => Some(PasswordSource::File(rel(f))),
                    (None, None) => None,
                    (Some(_), Some(_)) => {
                        return Err(
                            "[store] give at most one of `password_env` and `password_file`".into(),
                        );
                    }
                };
                let consistency = match self.consistency.as_deref() {
                    None | Some("default") => Consistency::Default,
                    Some("strict") => Consistency::Strict,
                    Some(other) => {
                        return Err(format!(
                            "[store] consistency must be \"default\" or \"strict\", not \"{other}\""
                        ));
                    }
                };
                let cache_ttl = match self.cache_ttl_ms {
                    None => DEFAULT_CACHE_TTL,
                    Some(ms) if (1..=60_000).contains(&ms) => Duration::from_millis(ms),
                    Some(ms) => {
                        return Err(format!("[store] cache_ttl_ms must be 1 to 60000, not {ms}"));
                    }
                };
                let pool_size = match self.pool_size {
                    None => DEFAULT_POOL_SIZE,
                    Some(n) if (1..=1024).contains(&n) => n,
                    Some(n) => return Err(format!("[store] pool_size must be 1 to 1024, not {n}")),
                };
                Ok(StoreConfig::Postgres(PostgresConfig {
                    url,
                    password,
                    ca_file: self.ca_file.map(rel),
                    consistency,
                    cache_ttl,
                    pool_size,
                }))
            }
            Some(other) => Err(format!(
                "[store] backend must be \"sled\" or \"postgres\", not \"{other}\""
            )),
        }
    }
}

impl PostgresConfig {
    /// The options to open the store with, the password read now (from the environment or
    /// its file).
    pub(crate) fn options(&self) -> Result<PostgresOptions, Error> {
        let password = match &self.password {
            None => None,
            Some(PasswordSource::Env(var)) => {
                Some(DbPassword::new(std::env::var(var).map_err(|_| {
                    Error::Config(format!(
                        "[store] password_env names {var}, which is not set (or not UTF-8)"
                    ))
                })?))
            }
            Some(PasswordSource::File(path)) => Some(read_password_file(path)?),
        };
        Ok(PostgresOptions {
            url: self.url.clone(),
            password,
            ca_file: self.ca_file.clone(),
            consistency: self.consistency,
            cache_ttl: self.cache_ttl,
            pool_size: self.pool_size,
        })
    }
}

fn read_password_file(path: &Path) -> Result<DbPassword, Error> {
    let cannot = |what: &str, e: std::io::Error| {
        Error::Config(format!(
            "[store] cannot {what} password_file {}: {e}",
            path.display()
        ))
    };
    let mut file = fs::File::open(path).map_err(|e| cannot("open", e))?;
    let mode = file
        .metadata()
        .map_err(|e| cannot("inspect", e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(Error::Config(format!(
            "[store] password_file {} is readable by others (mode {:o}); make it 0600",
            path.display(),
            mode & 0o777
        )));
    }
    let mut text = zeroize::Zeroizing::new(String::new());
    file.read_to_string(&mut text)
        .map_err(|e| cannot("read", e))?;
    let password = text.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(Error::Config(format!(
            "[store] password_file {} is empty",
            path.display()
        )));
    }
    Ok(DbPassword::new(password.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::Config;

    const TOKEN: &str = "[token]\nmodule=\"m\"\nlabel=\"l\"\npin_env=\"P\"\n";

    fn parse(store: &str) -> Result<Config, String> {
        Config::parse(Path::new("/d"), &format!("{TOKEN}{store}"))
    }

    #[test]
    fn without_a_store_section_the_store_is_sled() {
        assert_eq!(parse("").unwrap().store, StoreConfig::Sled);
        assert_eq!(
            parse("[store]\nbackend=\"sled\"\n").unwrap().store,
            StoreConfig::Sled
        );
    }

    #[test]
    fn a_postgres_store_is_read_with_its_defaults_and_relative_paths() {
        let c = parse(
            "[store]\nbackend=\"postgres\"\nurl=\"host=db dbname=kms user=lb\"\n\
             password_file=\"db.pw\"\nca_file=\"/etc/ca.pem\"\n",
        )
        .unwrap();
        assert_eq!(
            c.store,
            StoreConfig::Postgres(PostgresConfig {
                url: "host=db dbname=kms user=lb".into(),
                password: Some(PasswordSource::File("/d/db.pw".into())),
                ca_file: Some("/etc/ca.pem".into()),
                consistency: Consistency::Default,
                cache_ttl: DEFAULT_CACHE_TTL,
                pool_size: DEFAULT_POOL_SIZE,
            })
        );
        let c = parse(
            "[store]\nbackend=\"postgres\"\nurl=\"u\"\npassword_env=\"PGPW\"\n\
             consistency=\"strict\"\ncache_ttl_ms=250\npool_size=3\n",
        )
        .unwrap();
        let StoreConfig::Postgres(p) = c.store else {
            panic!("not postgres")
        };
        assert_eq!(p.password, Some(PasswordSource::Env("PGPW".into())));
        assert_eq!(p.consistency, Consistency::Strict);
        assert_eq!(p.cache_ttl, Duration::from_millis(250));
        assert_eq!(p.pool_size, 3);
    }

    #[test]
    fn bad_store_sections_are_refused_by_name() {
        let err = |t: &str| parse(t).unwrap_err();
        assert_eq!(
            err("[store]\nbackend=\"mysql\"\n"),
            "[store] backend must be \"sled\" or \"postgres\", not \"mysql\""
        );
        assert_eq!(
            err("[store]\nurl=\"u\"\n"),
            "[store] url applies only to backend = \"postgres\""
        );
        assert_eq!(
            err("[store]\nbackend=\"postgres\"\n"),
            "[store] backend = \"postgres\" needs `url` (a libpq connection string)"
        );
        assert_eq!(
            err(
                "[store]\nbackend=\"postgres\"\nurl=\"u\"\npassword_env=\"A\"\npassword_file=\"f\"\n"
            ),
            "[store] give at most one of `password_env` and `password_file`"
        );
        assert_eq!(
            err("[store]\nbackend=\"postgres\"\nurl=\"u\"\nconsistency=\"eventual\"\n"),
            "[store] consistency must be \"default\" or \"strict\", not \"eventual\""
        );
        assert_eq!(
            err("[store]\nbackend=\"postgres\"\nurl=\"u\"\ncache_ttl_ms=0\n"),
            "[store] cache_ttl_ms must be 1 to 60000, not 0"
        );
        assert_eq!(
            err("[store]\nbackend=\"postgres\"\nurl=\"u\"\npool_size=0\n"),
            "[store] pool_size must be 1 to 1024, not 0"
        );
        assert!(
            err("[store]\nbackend=\"postgres\"\nurl=\"u\"\npassword=\"x\"\n")
                .contains("unknown field `password`")
        );
        assert!(
            err("[lifecycle]\norphan_grace_hours=0\n[store]\nbackend=\"postgres\"\nurl=\"u\"\n")
                .starts_with("[lifecycle] orphan_grace_hours must be above 0 with [store] backend = \"postgres\"")
        );
    }

    #[test]
    fn a_password_file_readable_by_others_or_empty_is_refused() {
        use std::os::unix::fs::OpenOptionsExt;
        let d = tempfile::tempdir().unwrap();
        let write = |name: &str, mode: u32, text: &[u8]| {
            let p = d.path().join(name);
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&p)
                .unwrap();
            std::io::Write::write_all(&mut f, text).unwrap();
            p
        };
        let config = |p: PathBuf| PostgresConfig {
            url: "host=db".into(),
            password: Some(PasswordSource::File(p)),
            ca_file: None,
            consistency: Consistency::Default,
            cache_ttl: DEFAULT_CACHE_TTL,
            pool_size: 1,
        };
        let open = write("open", 0o644, b"s3cret\n");
        let e = config(open).options().err().unwrap().to_string();
        assert!(
            e.contains("is readable by others (mode 644); make it 0600"),
            "{e}"
        );
        assert!(!e.contains("s3cret"));
        let empty = write("empty", 0o600, b"\n");
        let e = config(empty).options().err().unwrap().to_string();
        assert!(e.ends_with("is empty"), "{e}");
        let good = write("good", 0o600, b"s3cret\r\n");
        assert!(config(good).options().is_ok());
        let e = PostgresConfig {
            password: Some(PasswordSource::Env(
                "LOCKBOX_TEST_SURELY_UNSET_DB_PW".into(),
            )),
            ..config(PathBuf::new())
        }
        .options()
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("LOCKBOX_TEST_SURELY_UNSET_DB_PW"), "{e}");
    }
}
