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
