//! Store errors.

/// What went wrong in the metadata store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// sled failed (I/O, corruption it detected, or it is already open in another process).
    #[error("metadata store: {0}")]
    Sled(#[from] sled::Error),
    /// PostgreSQL failed or could not be reached (the message names the database, never the
    /// password).
    #[error("metadata store (PostgreSQL): {0}")]
    Database(String),
    /// The store's configuration is unusable (the message names the setting).
    #[error("{0}")]
    Config(String),
    /// A file-system operation on the data directory failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A record could not be decoded: the store holds bytes this code did not write.
    #[error("corrupt {tree} record {key}: {reason}")]
    Corrupt {
        /// The tree.
        tree: &'static str,
        /// The record's key, printable.
        key: String,
        /// Why it failed.
        reason: String,
    },
    /// A record, or the whole store, was written by a newer Lockbox.
    #[error("{what} has format version {version}, newer than this Lockbox understands")]
    TooNew {
        /// What carries the version.
        what: String,
        /// The version found.
        version: u32,
    },
    /// The alias already exists.
    #[error("alias already exists")]
    AliasExists,
    /// The alias does not exist.
    #[error("alias does not exist")]
    AliasMissing,
    /// The key already has the most grants it may have.
    #[error("the key already has {0} grants")]
    TooManyGrants(usize),
    /// The key the operation names does not exist.
    #[error("key does not exist")]
    KeyMissing,
    /// A key is already kept where a new one was to be written.
    #[error("key already exists")]
    KeyExists,
    /// A key record was written back after another writer (another node) changed it since it
    /// was read: nothing was written. Read the record again and redo the change.
    #[error("the key record changed since it was read (a concurrent change); nothing was written")]
    Conflict,
    /// Another process (or another `Store` in this one) has the directory open.
    #[error("{} is in use by another Lockbox process; only one may open it at a time", .0.display())]
    InUse(std::path::PathBuf),
    /// A failure injected by a test (`failpoints` feature).
    #[error("injected failure at {0}")]
    Injected(&'static str),
}

impl StoreError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }
}
