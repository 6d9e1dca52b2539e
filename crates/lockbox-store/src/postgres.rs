//! The cluster backend: the store's trees in one PostgreSQL table, shared by every node.
//!
//! Schema (versioned; see [`MIGRATIONS`] and `docs/formats/postgres.md`): `lockbox_kv(tree
//! text, k bytea, v bytea, primary key (tree, k))`, and `lockbox_schema(version)`, the
//! migrations applied. Each migration runs in its own transaction under a transaction-level
//! advisory lock, so nodes starting together apply it once, one at a time.
//!
//! Every write is one SERIALIZABLE transaction, retried from the start when PostgreSQL
//! reports a serialization failure or a deadlock; it ends with `pg_notify` on
//! [`CHANNEL`] naming the trees it wrote, so the notification is sent exactly when the change
//! commits. Each node listens on its own connection and drops its cached key records on
//! every notification; while that connection is down the cache is off (see `cache.rs`).

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, IsolationLevel, NoTls, Transaction};
use zeroize::Zeroizing;

use crate::backend::{Backend, Entry, LockHold, Tree, TxError, Txn};
use crate::cache::KeyCache;
use crate::error::StoreError;

/// The LISTEN/NOTIFY channel of store changes.
pub const CHANNEL: &str = "lockbox_changes";

/// The schema's migrations, in order: migration `i` takes the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &["CREATE TABLE lockbox_kv (
        tree text NOT NULL,
        k bytea NOT NULL,
        v bytea NOT NULL,
        PRIMARY KEY (tree, k)
    )"];

/// The advisory lock key migrations are applied under (an arbitrary constant: "lbxmigr").
const MIGRATION_LOCK: i64 = 0x006c_6278_6d69_6772;

/// How many times a transaction is tried before its conflicts are reported.
const MAX_ATTEMPTS: u32 = 50;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A database password: never printed, zeroized when dropped.
pub struct DbPassword(Zeroizing<String>);

impl DbPassword {
    /// Wraps a password read from the environment or a file (without a trailing newline).
    pub fn new(password: String) -> DbPassword {
        DbPassword(Zeroizing::new(password))
    }
}

/// How fresh what a node answers must be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Consistency {
    /// Cached key records, dropped on every change another node notifies, and when the
    /// listener connection is lost; an entry lives at most the cache's time-to-live.
    #[default]
    Default,
    /// No cached key records: every call reads the database (see `docs/operations.md`).
    Strict,
}

/// How to reach PostgreSQL and how to use it.
pub struct PostgresOptions {
    /// A libpq connection string or `postgresql://` URL, without a password.
    pub url: String,
    /// The password (from an environment variable or a 0600 file), if the server asks for one.
    pub password: Option<DbPassword>,
    /// PEM file of the CA certificates to trust for TLS (with `sslmode=require`); without
    /// it, the public web roots.
    pub ca_file: Option<PathBuf>,
    /// The consistency promised (see [`Consistency`]).
    pub consistency: Consistency,
    /// The longest a cached key record is used (default mode).
    pub cache_ttl: Duration,
    /// Connections kept open for this node's calls.
    pub pool_size: usize,
}

/// Where the connections come from: the parsed configuration, password included, and TLS.
struct Connector {
    config: postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    shown: String,
}

impl Connector {
    fn new(options: &PostgresOptions) -> Result<Connector, StoreError> {
        let mut config = postgres::Config::from_str(&options.url).map_err(|e| {
            StoreError::Config(format!("[store] url is not a valid connection string: {e}"))
        })?;
        if config.get_password().is_some() {
            return Err(StoreError::Config(
                "[store] url must not hold the password: give it in the environment variable \
                 named by password_env, or in password_file"
                    .into(),
            ));
        }
        if let Some(p) = &options.password {
            config.password(p.0.as_bytes());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let tls = match config.get_ssl_mode() {
            postgres::config::SslMode::Disable => None,
            _ => Some(tls_connector(options.ca_file.as_deref())?),
        };
        let shown = describe(&config);
        Ok(Connector { config, tls, shown })
    }

    fn connect(&self) -> Result<Client, StoreError> {
        let client = match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        };
        client.map_err(|e| StoreError::Database(format!("connecting to {}: {e}", self.shown)))
    }
}

fn tls_connector(
    ca_file: Option<&Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    StoreError::Config(format!("[store] ca_file {}: {e}", path.display()))
                })?;
            if certs.is_empty() {
                return Err(StoreError::Config(format!(
                    "[store] ca_file {} holds no certificate",
                    path.display()
                )));
            }
            for c in certs {
                roots.add(c).map_err(|e| {
                    StoreError::Config(format!("[store] ca_file {}: {e}", path.display()))
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Config(format!("TLS to PostgreSQL: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The connection string as messages show it: host, port, database, user; never the password.
fn describe(config: &postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "PostgreSQL database {} on {} port {} as {}",
        config.get_dbname().unwrap_or("(default)"),
        if hosts.is_empty() {
            "(default host)".into()
        } else {
            hosts.join(",")
        },
        if ports.is_empty() {
            "5432".into()
        } else {
            ports.join(",")
        },
        config.get_user().unwrap_or("(default user)"),
    )
}

/// A PostgreSQL store shared by the nodes of a cluster.
pub(crate) struct PostgresBackend {
    connector: Arc<Connector>,
    // Idle connections; a call takes one (or opens one) and gives it back.
    pool: Mutex<Vec<Client>>,
    pool_size: usize,
    // This node's name in notifications (random per process).
    node: String,
    // Tells the listener thread to stop.
    closed: Arc<AtomicBool>,
}

impl PostgresBackend {
    /// Connects, applies the schema's migrations (one node at a time) and starts the
    /// listener that keeps `cache` honest.
    pub(crate) fn open(
        options: &PostgresOptions,
        cache: &Arc<KeyCache>,
    ) -> Result<PostgresBackend, StoreError> {
        let connector = Arc::new(Connector::new(options)?);
        let mut client = connector.connect()?;
        migrate(&mut client, &connector.shown)?;
        let mut node = [0u8; 8];
        getrandom::fill(&mut node)
            .map_err(|e| StoreError::Database(format!("no randomness for the node name: {e}")))?;
        let backend = PostgresBackend {
            connector: connector.clone(),
            pool: Mutex::new(vec![client]),
            pool_size: options.pool_size.max(1),
            node: crate::records::hex(node),
            closed: Arc::new(AtomicBool::new(false)),
        };
        match options.consistency {
            Consistency::Strict => cache.switch_off(),
            Consistency::Default => {
                cache.set_ttl(options.cache_ttl);
                // Off until the listener is listening: a change made before then would
                // otherwise be missed.
                cache.switch_off();
                let listener = Listener {
                    connector,
                    cache: Arc::downgrade(cache),
                    closed: backend.closed.clone(),
                };
                std::thread::Builder::new()
                    .name("lockbox-store-listen".into())
                    .spawn(move || listener.run())
                    .map_err(|e| StoreError::io("starting the store's listener thread", e))?;
            }
        }
        Ok(backend)
    }

    /// Runs `f` on a pooled connection; a connection that failed is dropped, not pooled.
    fn with_client<T: Send>(
        &self,
        f: impl FnMut(&mut Client) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        off_runtime(|| self.with_client_here(f))
    }

    fn with_client_here<T>(
        &self,
        mut f: impl FnMut(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.pool.lock().pop();
        let (mut client, fresh) = match pooled {
            Some(c) if !c.is_closed() => (c, false),
            _ => (self.connector.connect()?, true),
        };
        let mut out = f(&mut client);
        if out.is_err() && client.is_closed() && !fresh {
            // A pooled connection the server closed meanwhile (a restart): once more, afresh.
            client = self.connector.connect()?;
            out = f(&mut client);
        }
        if !client.is_closed() {
            let mut pool = self.pool.lock();
            if pool.len() < self.pool_size {
                pool.push(client);
            }
        }
        out
    }
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        // Each client's drop shuts its runtime down, which tokio refuses on a runtime thread.
        let pool = std::mem::take(&mut *self.pool.lock());
        off_runtime(move || drop(pool));
    }
}

fn migrate(client: &mut Client, shown: &str) -> Result<(), StoreError> {
    let db = |e: postgres::Error| StoreError::Database(format!("migrating {shown}: {e}"));
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i32 + 1;
        let mut tx = client.transaction().map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(db)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS lockbox_schema (version integer PRIMARY KEY, \
             applied timestamptz NOT NULL DEFAULT now())",
        )
        .map_err(db)?;
        let newest: Option<i32> = tx
            .query_one("SELECT max(version) FROM lockbox_schema", &[])
            .map_err(db)?
            .get(0);
        let newest = newest.unwrap_or(0);
        if newest > MIGRATIONS.len() as i32 {
            return Err(StoreError::TooNew {
                what: format!("the schema of {shown}"),
                version: newest as u32,
            });
        }
        if newest >= version {
            continue;
        }
        tx.batch_execute(sql).map_err(db)?;
        tx.execute(
            "INSERT INTO lockbox_schema (version) VALUES ($1)",
            &[&version],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        tracing::info!(version, database = shown, "applied a schema migration");
    }
    Ok(())
}

/// Whether `e` asks for the transaction to be tried again.
fn is_conflict(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// A failure before the commit: nothing was written, so a conflict or a connection lost
/// (a server restart, a stale pooled connection) is tried again.
fn db_error(e: postgres::Error) -> TxError {
    if is_conflict(&e) || e.is_closed() {
        TxError::Retry
    } else {
        TxError::Fail(StoreError::Database(e.to_string()))
    }
}

/// The smallest key greater than every key that starts with `prefix` (`None`: no bound).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Rows of `tree` from `start` on, with `prefix`, in key order, at most `limit`.
fn select_range(
    q: &mut impl postgres::GenericClient,
    tree: Tree,
    start: Bound<&[u8]>,
    prefix: &[u8],
    limit: Option<usize>,
) -> Result<Vec<Entry>, postgres::Error> {
    let (from, inclusive) = match start {
        Bound::Included(k) if k >= prefix => (k, true),
        Bound::Excluded(k) if k >= prefix => (k, false),
        _ => (prefix, true),
    };
    let end = prefix_end(prefix);
    let limit = limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let sql = match (inclusive, end.is_some()) {
        (true, true) => {
            "SELECT k, v FROM lockbox_kv WHERE tree = $1 AND k >= $2 AND k < $3 ORDER BY k LIMIT $4"
        }
        (false, true) => {
            "SELECT k, v FROM lockbox_kv WHERE tree = $1 AND k > $2 AND k < $3 ORDER BY k LIMIT $4"
        }
        (true, false) => {
            "SELECT k, v FROM lockbox_kv WHERE tree = $1 AND k >= $2 AND $3::bytea IS NULL ORDER BY k LIMIT $4"
        }
        (false, false) => {
            "SELECT k, v FROM lockbox_kv WHERE tree = $1 AND k > $2 AND $3::bytea IS NULL ORDER BY k LIMIT $4"
        }
    };
    let rows = q.query(sql, &[&tree.name(), &from, &end, &limit])?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// A transaction in progress, and the trees it wrote (named in its notification).
struct PgTxn<'a, 'b> {
    tx: &'a mut Transaction<'b>,
    written: Vec<Tree>,
}

impl PgTxn<'_, '_> {
    fn wrote(&mut self, tree: Tree) {
        if !self.written.contains(&tree) {
            self.written.push(tree);
        }
    }
}

impl Txn for PgTxn<'_, '_> {
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, TxError> {
        let row = self
            .tx
            .query_opt(
                "SELECT v FROM lockbox_kv WHERE tree = $1 AND k = $2",
                &[&tree.name(), &key],
            )
            .map_err(db_error)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn insert(&mut self, tree: Tree, key: &[u8], value: &[u8]) -> Result<(), TxError> {
        self.tx
            .execute(
                "INSERT INTO lockbox_kv (tree, k, v) VALUES ($1, $2, $3) \
                 ON CONFLICT (tree, k) DO UPDATE SET v = EXCLUDED.v",
                &[&tree.name(), &key, &value],
            )
            .map_err(db_error)?;
        self.wrote(tree);
        Ok(())
    }

    fn remove(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, TxError> {
        let row = self
            .tx
            .query_opt(
                "DELETE FROM lockbox_kv WHERE tree = $1 AND k = $2 RETURNING v",
                &[&tree.name(), &key],
            )
            .map_err(db_error)?;
        if row.is_some() {
            self.wrote(tree);
        }
        Ok(row.map(|r| r.get(0)))
    }

    fn scan_prefix(&mut self, tree: Tree, prefix: &[u8]) -> Result<Vec<Entry>, TxError> {
        select_range(self.tx, tree, Bound::Unbounded, prefix, None).map_err(db_error)
    }
}

impl Backend for PostgresBackend {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_client(|c| {
            let row = c
                .query_opt(
                    "SELECT v FROM lockbox_kv WHERE tree = $1 AND k = $2",
                    &[&tree.name(), &key],
                )
                .map_err(|e| StoreError::Database(e.to_string()))?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn range(
        &self,
        tree: Tree,
        start: Bound<&[u8]>,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        self.with_client(|c| {
            select_range(c, tree, start, prefix, Some(limit))
                .map_err(|e| StoreError::Database(e.to_string()))
        })
    }

    fn last(&self, tree: Tree) -> Result<Option<Entry>, StoreError> {
        self.with_client(|c| {
            let row = c
                .query_opt(
                    "SELECT k, v FROM lockbox_kv WHERE tree = $1 ORDER BY k DESC LIMIT 1",
                    &[&tree.name()],
                )
                .map_err(|e| StoreError::Database(e.to_string()))?;
            Ok(row.map(|r| (r.get(0), r.get(1))))
        })
    }

    fn count(&self, tree: Tree) -> Result<u64, StoreError> {
        self.with_client(|c| {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM lockbox_kv WHERE tree = $1",
                    &[&tree.name()],
                )
                .map_err(|e| StoreError::Database(e.to_string()))?
                .get(0);
            Ok(n.max(0) as u64)
        })
    }

    fn transact(
        &self,
        failpoint: &'static str,
        body: &mut (dyn FnMut(&mut dyn Txn) -> Result<(), TxError> + Send),
    ) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let done = self.with_client(|c| {
                let mut tx = match c
                    .build_transaction()
                    .isolation_level(IsolationLevel::Serializable)
                    .start()
                {
                    Ok(tx) => tx,
                    Err(e) => return Ok(Err(db_error(e))),
                };
                let mut txn = PgTxn {
                    tx: &mut tx,
                    written: Vec::new(),
                };
                if let Err(e) = body(&mut txn) {
                    return Ok(Err(e));
                }
                if !txn.written.is_empty() {
                    let trees: Vec<&str> = txn.written.iter().map(|t| t.name()).collect();
                    let payload = format!("{} {}", self.node, trees.join(","));
                    if let Err(e) = tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]) {
                        return Ok(Err(db_error(e)));
                    }
                }
                crate::failpoints::hit(failpoint)?;
                // A commit that failed with the connection may or may not have happened: that
                // is reported, never tried again (the caller's change might be made twice).
                Ok(tx.commit().map_err(|e| {
                    if is_conflict(&e) {
                        TxError::Retry
                    } else {
                        TxError::Fail(StoreError::Database(format!(
                            "committing (the change may or may not have been made): {e}"
                        )))
                    }
                }))
            })?;
            match done {
                Ok(()) => return Ok(()),
                Err(TxError::Retry) if attempt < MAX_ATTEMPTS => {
                    // Back off a little, growing, so that the writers that conflicted do not
                    // meet again at once.
                    let mut jitter = [0u8; 1];
                    let _ = getrandom::fill(&mut jitter);
                    let ms = u64::from(attempt.min(10)) * 2 + u64::from(jitter[0] % 8);
                    std::thread::sleep(Duration::from_millis(ms));
                }
                Err(TxError::Retry) => {
                    return Err(StoreError::Database(format!(
                        "a transaction still conflicted with concurrent writers after \
                         {MAX_ATTEMPTS} attempts"
                    )));
                }
                Err(TxError::Fail(e)) => return Err(e),
            }
        }
    }

    fn transact_append(
        &self,
        failpoint: &'static str,
        body: &mut (dyn FnMut(&mut dyn Txn) -> Result<(), TxError> + Send),
    ) -> Result<(), StoreError> {
        self.transact(failpoint, body)
    }

    fn append(
        &self,
        tree: Tree,
        entries: &[Entry],
        failpoint: &'static str,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.transact(failpoint, &mut |tx| {
            for (k, v) in entries {
                tx.insert(tree, k, v)?;
            }
            Ok(())
        })
    }

    fn sync(&self, failpoint: &'static str) -> Result<(), StoreError> {
        // Every committed transaction is already durable (synchronous_commit).
        crate::failpoints::hit(failpoint)
    }

    fn describe(&self) -> String {
        self.connector.shown.clone()
    }

    fn try_lock(&self, name: &str) -> Result<Option<Box<dyn LockHold>>, StoreError> {
        // A session advisory lock on a connection of its own, never pooled: it is held while
        // that connection lives, with no transaction open, and PostgreSQL releases it when
        // the connection ends, including when this node dies or is cut off.
        let key = lock_key(name);
        let taken = off_runtime(|| -> Result<Option<Client>, StoreError> {
            let mut client = self.connector.connect()?;
            let got: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .map_err(|e| StoreError::Database(format!("taking the cluster lock {name}: {e}")))?
                .get(0);
            Ok(got.then_some(client))
        })?;
        let Some(client) = taken else {
            return Ok(None);
        };
        Ok(Some(Box::new(AdvisoryLock {
            client: Some(client),
            key,
            name: name.to_owned(),
        })))
    }
}

/// The advisory lock key of the cluster lock `name`: FNV-1a of the name, in the half of the
/// key space whose top byte is 0x4c ("L"), apart from the migrations' lock.
fn lock_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let key = (0x4c_u64 << 56) | (h >> 8);
    i64::from_be_bytes(key.to_be_bytes())
}

/// A held session advisory lock and the connection that holds it.
struct AdvisoryLock {
    client: Option<Client>,
    key: i64,
    name: String,
}

impl LockHold for AdvisoryLock {
    fn still_held(&mut self) -> bool {
        let Some(client) = self.client.as_mut() else {
            return false;
        };
        off_runtime(|| !client.is_closed() && client.batch_execute("SELECT 1").is_ok())
    }
}

impl Drop for AdvisoryLock {
    fn drop(&mut self) {
        let Some(mut client) = self.client.take() else {
            return;
        };
        let (key, name) = (self.key, &self.name);
        // Closing the connection would release it too; unlocking says so at once. Both
        // (the client's drop closes it) off any tokio runtime thread.
        off_runtime(move || {
            if !client.is_closed()
                && let Err(e) = client.execute("SELECT pg_advisory_unlock($1)", &[&key])
            {
                tracing::debug!(lock = %name, error = %e,
                    "could not unlock the cluster lock; closing its connection releases it");
            }
            drop(client);
        });
    }
}

/// Runs `f` where rust-postgres can block: its sync client drives a tokio runtime of its own
/// (`block_on`), which tokio refuses (a panic) on a thread that is driving a runtime already.
/// The server runs engine calls on each connection's own runtime thread (decision 0037), so
/// from such a thread the database work runs on a scoped thread of its own: a hand-off that
/// costs tens of microseconds beside a database round trip. Elsewhere `f` runs here.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        // A panic in `f` is a bug: carry it to the caller's thread as it is.
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// The thread that listens for other nodes' changes and drops the cached key records.
struct Listener {
    connector: Arc<Connector>,
    cache: Weak<KeyCache>,
    closed: Arc<AtomicBool>,
}

/// Whether a notification's payload (`<node> <trees>`) says the `keys` tree changed: only
/// key records are cached, so a change elsewhere (an audit batch, an alias, a grant) leaves
/// the cache alone. A payload of another form counts as a change.
fn names_keys(payload: &str) -> bool {
    match payload.split_once(' ') {
        Some((_, trees)) => trees.split(',').any(|t| t == Tree::Keys.name()),
        None => true,
    }
}

/// How long the listener waits for a notification before checking its connection.
const LISTEN_POLL: Duration = Duration::from_millis(500);

impl Listener {
    fn run(self) {
        let mut backoff = Duration::from_millis(50);
        while !self.closed.load(Ordering::SeqCst) {
            let Some(cache) = self.cache.upgrade() else {
                return;
            };
            cache.switch_off();
            drop(cache);
            match self.listen() {
                Ok(()) => return,
                Err(e) => {
                    // Off at once, not after the backoff: changes made meanwhile go unnoticed.
                    if let Some(cache) = self.cache.upgrade() {
                        cache.switch_off();
                    }
                    tracing::warn!(error = %e,
                        "lost the store's change listener; key records are not cached until it is back");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Listens until the store is closed (`Ok`) or the connection fails (`Err`).
    fn listen(&self) -> Result<(), StoreError> {
        let mut client = self.connector.connect()?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        // Listening from here on: whatever changed before is dropped, and caching resumes.
        match self.cache.upgrade() {
            Some(cache) => cache.switch_on(),
            None => return Ok(()),
        }
        tracing::info!("listening for the other nodes' changes to the store");
        let mut checked = Instant::now();
        loop {
            if self.closed.load(Ordering::SeqCst) {
                return Ok(());
            }
            let changed = {
                let mut pending = client.notifications();
                let first = pending
                    .timeout_iter(LISTEN_POLL)
                    .next()
                    .map_err(|e| StoreError::Database(e.to_string()))?;
                let mut changed = first.as_ref().is_some_and(|n| names_keys(n.payload()));
                if first.is_some() {
                    // One invalidation covers every notification already here.
                    while let Some(n) = pending
                        .iter()
                        .next()
                        .map_err(|e| StoreError::Database(e.to_string()))?
                    {
                        changed |= names_keys(n.payload());
                    }
                }
                changed
            };
            let Some(cache) = self.cache.upgrade() else {
                return Ok(());
            };
            if changed {
                cache.invalidate();
            }
            if client.is_closed() {
                cache.switch_off();
                return Err(StoreError::Database(
                    "the listener's connection closed".into(),
                ));
            }
            // A connection that died silently (a server restarted behind a proxy) shows only
            // when it is used.
            if checked.elapsed() >= LISTEN_POLL * 4 {
                checked = Instant::now();
                if let Err(e) = client.batch_execute("SELECT 1") {
                    cache.switch_off();
                    return Err(StoreError::Database(e.to_string()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(url: &str) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            password: Some(DbPassword::new("hunter2".into())),
            ca_file: None,
            consistency: Consistency::Default,
            cache_ttl: Duration::from_secs(1),
            pool_size: 1,
        }
    }

    fn refusal(o: &PostgresOptions) -> String {
        match Connector::new(o) {
            Ok(_) => panic!("accepted {}", o.url),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_url_with_a_password_is_refused_and_none_is_ever_shown() {
        let e = refusal(&options("postgresql://lb:s3cret@db:5432/kms"));
        assert!(
            e.starts_with("[store] url must not hold the password"),
            "{e}"
        );
        assert!(!e.contains("s3cret"));
        let e = refusal(&options("host=db password=s3cret"));
        assert!(
            e.starts_with("[store] url must not hold the password"),
            "{e}"
        );
        let c = Connector::new(&options(
            "host=db port=6543 dbname=kms user=lb sslmode=disable",
        ))
        .unwrap();
        assert_eq!(c.shown, "PostgreSQL database kms on db port 6543 as lb");
        assert!(!c.shown.contains("hunter2"));
    }

    #[test]
    fn a_bad_url_or_ca_file_is_refused_by_name() {
        let e = refusal(&options("postgresql://db:notaport/kms"));
        assert!(
            e.starts_with("[store] url is not a valid connection string"),
            "{e}"
        );
        let mut o = options("host=db sslmode=require");
        o.ca_file = Some("/nonexistent/ca.pem".into());
        let e = refusal(&o);
        assert!(e.starts_with("[store] ca_file /nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn only_a_change_of_the_keys_tree_empties_the_cache() {
        assert!(names_keys("0123456789abcdef keys"));
        assert!(names_keys("0123456789abcdef aliases,keys"));
        assert!(!names_keys("0123456789abcdef audit,meta"));
        assert!(!names_keys("0123456789abcdef grants"));
        assert!(names_keys("unexpected"));
    }

    #[test]
    fn prefix_ends_bound_every_key_with_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }
}
