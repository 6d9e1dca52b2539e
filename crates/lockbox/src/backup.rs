//! Backups of a data directory, and restoring one (`docs/formats/backup.md`,
//! `docs/operations.md`).
//!
//! A backup is a directory: `manifest.json` (what is in it, when, from which Lockbox, with
//! SHA-256 checksums), `metadata.lbx` (a logical export of every tree of the store),
//! `lockbox.toml`, and, when the data directory provisioned its own SoftHSM token, that
//! token's files under `softhsm/`. PIN files and `credentials.toml` only when asked.
//!
//! [`Engine::backup`] makes one while the engine serves: it holds the engine's write lock
//! (no key, alias, grant or policy changes), seals the audit log and holds it (nothing is
//! appended), and holds the token's object creation, destruction and re-login, while it
//! copies. It writes into a temporary directory beside the destination and renames it
//! when everything is written and fsynced.
//!
//! [`restore`] verifies a backup before it touches anything, compares it with the directory
//! it would replace ([`RollbackReport`]), and refuses unless the rollback is accepted. It
//! stages the restored files inside the data directory, writes a journal, then swaps each
//! item (the previous ones are kept in `pre-restore-<time>/`); a kill after the journal is
//! written is finished by the next `restore`, and an engine refuses to open meanwhile.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use lockbox_api::{KeyId, Principal, Timestamp};
use lockbox_store::{AuditEvent, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::AuditLog;
use crate::clock::SystemClock;
use crate::config::{CONFIG_FILE, Config};
use crate::core::Engine;
use crate::error::Error;

/// The manifest's file name inside a backup.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The metadata export's file name inside a backup.
pub const METADATA_FILE: &str = "metadata.lbx";
/// The manifest's `format` value.
pub const BACKUP_FORMAT: &str = "lockbox-backup";
/// The backup format version this Lockbox writes and reads.
pub const BACKUP_VERSION: u32 = 1;
/// The journal of a restore in progress, in the data directory.
pub const RESTORE_JOURNAL: &str = "restore.journal";
const STAGING: &str = ".restore-staging";
const SOFTHSM_DIR: &str = "softhsm";
const PIN_FILES: [&str; 2] = ["token-user.pin", "token-so.pin"];
const CREDENTIALS_FILE: &str = "credentials.toml";
const MAX_MANIFEST: u64 = 16 << 20;

/// What a backup includes beyond metadata, configuration and a provisioned token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackupOptions {
    /// The PIN files of a provisioned SoftHSM token (`token-user.pin`, `token-so.pin`).
    /// Whoever holds them and the token files holds the keys.
    pub include_pins: bool,
    /// `credentials.toml` (the server's secret access keys).
    pub include_credentials: bool,
}

/// The manifest of a backup (`manifest.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`BACKUP_FORMAT`].
    pub format: String,
    /// [`BACKUP_VERSION`].
    pub version: u32,
    /// When the backup was made (RFC 3339, UTC).
    pub created: String,
    /// The same instant, in milliseconds since the Unix epoch.
    pub created_unix_ms: i64,
    /// The version of the Lockbox that made it.
    pub lockbox_version: String,
    /// The data directory it was made from.
    pub source: String,
    /// The metadata store's schema version.
    pub metadata_schema: u32,
    /// Entries per tree of the metadata export.
    pub trees: BTreeMap<String, u64>,
    /// Key records in the backup.
    pub keys: u64,
    /// The audit log's next sequence number at the backup.
    pub audit_next_seq: u64,
    /// The newest audit seal (sequence number and chain hash, hex), which the token's mark
    /// named at the backup.
    pub audit_seal: Option<SealRef>,
    /// Whether the provisioned SoftHSM token's files are in it.
    pub softhsm_token: bool,
    /// Whether the PIN files are in it.
    pub pins: bool,
    /// Whether `credentials.toml` is in it.
    pub credentials: bool,
    /// Every other file, with its size and SHA-256.
    pub files: Vec<FileEntry>,
}

/// An audit seal a backup names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealRef {
    /// The seal entry's sequence number.
    pub seq: u64,
    /// Its chain hash (SHA-256 of its stored bytes), lower-case hex.
    pub chain_hash: String,
}

/// One file of a backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Its path inside the backup, `/`-separated, relative.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
}

impl Engine {
    /// Writes a consistent backup of this engine's data directory to `dest`, which must not
    /// exist. Callable while the engine serves: mutations wait while it copies (cryptographic
    /// calls go on, except those that must reserve encryption counts), audit records queue.
    ///
    /// The backup is an audited event of its own (`CreateBackup`, by the configured default
    /// caller, naming the destination and whether PINs and credentials were copied), written
    /// whether it succeeded or failed: a copy of the directory, PINs perhaps included, is not
    /// something to make unseen.
    pub fn backup(&self, dest: &Path, options: BackupOptions) -> Result<Manifest, Error> {
        let result = self.backup_unaudited(dest, options);
        let named = std::path::absolute(dest).unwrap_or_else(|_| dest.to_owned());
        let caller = self.default_caller("backup");
        let mut request_id = [0u8; 16];
        self.token.random(&mut request_id)?;
        let flag = |b: bool| if b { "true" } else { "false" }.to_owned();
        self.audit().append(AuditEvent {
            time: Timestamp::now(),
            request_id: crate::audit::uuid_text(u128::from_be_bytes(request_id)),
            account: caller.account().to_owned(),
            principal: caller.principal().arn().to_owned(),
            operation: "CreateBackup".into(),
            key_arn: None,
            encryption_context: BTreeMap::from([
                ("lockbox:backup".to_owned(), named.display().to_string()),
                (
                    "lockbox:include-pins".to_owned(),
                    flag(options.include_pins),
                ),
                (
                    "lockbox:include-credentials".to_owned(),
                    flag(options.include_credentials),
                ),
            ]),
            error: result
                .as_ref()
                .err()
                .map(|e| ("BackupFailed".to_owned(), e.to_string())),
            source: "backup".into(),
            grant_id: None,
            region: None,
        })?;
        result
    }

    fn backup_unaudited(&self, dest: &Path, options: BackupOptions) -> Result<Manifest, Error> {
        let fail = |what: String, e: std::io::Error| Error::Backup(format!("{what}: {e}"));
        let dest = std::path::absolute(dest)
            .map_err(|e| fail(format!("resolving {}", dest.display()), e))?;
        if dest.exists() {
            return Err(Error::Backup(format!(
                "{} already exists; name a new directory",
                dest.display()
            )));
        }
        let name = dest
            .file_name()
            .ok_or_else(|| Error::Backup(format!("{} names no directory", dest.display())))?;
        let parent = dest
            .parent()
            .ok_or_else(|| Error::Backup(format!("{} has no parent", dest.display())))?;
        if !parent.is_dir() {
            return Err(Error::Backup(format!(
                "{} does not exist; create it first",
                parent.display()
            )));
        }
        let data_dir = self.paths.data_dir.clone();
        let mut partial_name = std::ffi::OsString::from(".");
        partial_name.push(name);
        partial_name.push(format!(".partial-{}", std::process::id()));
        let partial = parent.join(partial_name);
        if partial.exists() {
            fs::remove_dir_all(&partial)
                .map_err(|e| fail(format!("removing {}", partial.display()), e))?;
        }
        make_dir(&partial)?;

        match self.write_backup(&data_dir, &partial, options) {
            Ok(manifest) => {
                fs::rename(&partial, &dest).map_err(|e| {
                    fail(
                        format!("renaming {} to {}", partial.display(), dest.display()),
                        e,
                    )
                })?;
                sync_dir(parent)?;
                Ok(manifest)
            }
            Err(e) => {
                // Nothing but the temporary directory was written: remove it.
                let _ = fs::remove_dir_all(&partial);
                Err(e)
            }
        }
    }

    /// Writes the backup's files into `partial` and fsyncs them; holds the engine still only
    /// while it copies.
    fn write_backup(
        &self,
        data_dir: &Path,
        partial: &Path,
        options: BackupOptions,
    ) -> Result<Manifest, Error> {
        let softhsm = self.paths.provisioned_softhsm;
        let _writes = self.writes.lock();
        let audit = self.audit().quiesce()?;
        let _objects = softhsm.then(|| self.token.hold_objects()).transpose()?;
        let created = Timestamp::now();
        let mut files = Vec::new();

        let (summary, entry) = {
            let path = partial.join(METADATA_FILE);
            let mut w = HashingWriter::new(create_private(&path)?);
            let summary = self.store.export(&mut w)?;
            (summary, w.finish(METADATA_FILE, &path)?)
        };
        files.push(entry);
        let keys = summary
            .trees
            .iter()
            .find(|(n, _)| n == "keys")
            .map_or(0, |(_, n)| *n);
        // An embedder may configure the engine in code, with no lockbox.toml.
        if data_dir.join(CONFIG_FILE).exists() {
            files.push(copy_file(data_dir, partial, CONFIG_FILE)?);
        }
        if softhsm {
            copy_tree(data_dir, partial, Path::new(SOFTHSM_DIR), &mut files)?;
        }
        if options.include_pins {
            for pin in PIN_FILES {
                if data_dir.join(pin).exists() {
                    files.push(copy_file(data_dir, partial, pin)?);
                }
            }
        }
        if options.include_credentials && data_dir.join(CREDENTIALS_FILE).exists() {
            files.push(copy_file(data_dir, partial, CREDENTIALS_FILE)?);
        }
        let manifest = Manifest {
            format: BACKUP_FORMAT.into(),
            version: BACKUP_VERSION,
            created: rfc3339(created),
            created_unix_ms: created.unix_millis(),
            lockbox_version: env!("CARGO_PKG_VERSION").into(),
            source: data_dir.display().to_string(),
            metadata_schema: summary.schema,
            trees: summary.trees.iter().cloned().collect(),
            keys,
            audit_next_seq: audit.next_seq(),
            audit_seal: audit.last_seal().map(|(seq, h)| SealRef {
                seq,
                chain_hash: crate::audit::hex(&h),
            }),
            softhsm_token: softhsm,
            pins: options.include_pins,
            credentials: options.include_credentials,
            files,
        };
        drop(_objects);
        drop(audit);
        drop(_writes);

        let text = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::Backup(format!("encoding the manifest: {e}")))?;
        write_private(&partial.join(MANIFEST_FILE), &text)?;
        sync_dir(partial)?;
        Ok(manifest)
    }
}

/// Reads a backup's manifest and checks every file it names (size and SHA-256) and that the
/// backup holds nothing else. Touches nothing.
pub fn verify_backup(src: &Path) -> Result<Manifest, Error> {
    let path = src.join(MANIFEST_FILE);
    let bad = |m: String| Error::Backup(format!("{}: {m}", src.display()));
    let meta = fs::metadata(&path).map_err(|e| bad(format!("no readable {MANIFEST_FILE}: {e}")))?;
    if meta.len() > MAX_MANIFEST {
        return Err(bad(format!("{MANIFEST_FILE} is larger than 16 MiB")));
    }
    let text = fs::read(&path).map_err(|e| bad(format!("reading {MANIFEST_FILE}: {e}")))?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| {
        bad(format!(
            "{MANIFEST_FILE} is not a Lockbox backup manifest: {e}"
        ))
    })?;
    if manifest.format != BACKUP_FORMAT {
        return Err(bad(format!(
            "format is \"{}\", not \"{BACKUP_FORMAT}\"",
            manifest.format
        )));
    }
    if manifest.version != BACKUP_VERSION {
        return Err(bad(format!(
            "backup format version {} (this Lockbox reads {BACKUP_VERSION})",
            manifest.version
        )));
    }
    let mut named = BTreeSet::new();
    for f in &manifest.files {
        let rel = safe_relative(&f.path)
            .ok_or_else(|| bad(format!("unsafe path \"{}\" in the manifest", f.path)))?;
        if !named.insert(rel.clone()) {
            return Err(bad(format!("\"{}\" is named twice", f.path)));
        }
        let p = src.join(&rel);
        let (size, sha) = hash_file(&p).map_err(|e| bad(format!("{}: {e}", f.path)))?;
        if size != f.size || sha != f.sha256 {
            return Err(bad(format!(
                "{} does not match the manifest (size {size}, expected {}; checksum {})",
                f.path,
                f.size,
                if sha == f.sha256 {
                    "matches"
                } else {
                    "differs"
                }
            )));
        }
    }
    if !named.contains(Path::new(METADATA_FILE)) {
        return Err(bad(format!("the manifest does not name {METADATA_FILE}")));
    }
    let mut present = Vec::new();
    list_files(src, Path::new(""), &mut present).map_err(|e| bad(format!("listing: {e}")))?;
    for p in present {
        if p != Path::new(MANIFEST_FILE) && !named.contains(&p) {
            return Err(bad(format!("{} is not named in the manifest", p.display())));
        }
    }
    Ok(manifest)
}

/// What replacing a data directory's state with a backup's takes back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RollbackReport {
    /// When the backup was made.
    pub backup_created: String,
    /// Whether the backup carries the SoftHSM token's files (they replace the current ones).
    pub token_restored: bool,
    /// Whether the data directory had metadata to compare with.
    pub had_current: bool,
    /// Keys the directory has and the backup does not: made after the backup.
    pub keys_made_after: Vec<KeyId>,
    /// Keys the backup has and the directory does not: deleted after the backup.
    pub keys_deleted_after: Vec<KeyId>,
    /// Keys in both, with the material versions the directory has beyond the backup's.
    pub versions_rotated_since: Vec<(KeyId, Vec<u32>)>,
    /// Aliases (`account:alias/name`) that are new, gone or point elsewhere in the backup.
    pub aliases_changed: Vec<String>,
    /// Audit records written after the backup (the restored log ends before them).
    pub audit_records_after: u64,
}

impl std::fmt::Display for RollbackReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Restoring the backup of {} rolls this directory back:",
            self.backup_created
        )?;
        if !self.had_current {
            return writeln!(f, "  (the directory has no metadata: nothing to lose)");
        }
        let list = |ids: &[KeyId]| {
            ids.iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.keys_made_after.is_empty() {
            writeln!(f, "  keys made after the backup: none")?;
        } else if self.token_restored {
            writeln!(
                f,
                "  keys made after the backup ({}), GONE: their records and material are not in \
                 the backup (the previous token files are kept in pre-restore-*/): {}",
                self.keys_made_after.len(),
                list(&self.keys_made_after)
            )?;
        } else {
            writeln!(
                f,
                "  keys made after the backup ({}): their material stays on the HSM as ORPHANS, \
                 which reconciliation destroys after [lifecycle] orphan_grace_hours (default \
                 24); data encrypted under them cannot be decrypted after the restore: {}",
                self.keys_made_after.len(),
                list(&self.keys_made_after)
            )?;
        }
        if self.keys_deleted_after.is_empty() {
            writeln!(f, "  keys deleted after the backup: none")?;
        } else if self.token_restored {
            writeln!(
                f,
                "  keys deleted after the backup ({}) come back, with their material: {}",
                self.keys_deleted_after.len(),
                list(&self.keys_deleted_after)
            )?;
        } else {
            writeln!(
                f,
                "  keys deleted after the backup ({}) come back as records whose material the \
                 HSM destroyed: MISSING MATERIAL, unusable: {}",
                self.keys_deleted_after.len(),
                list(&self.keys_deleted_after)
            )?;
        }
        if self.versions_rotated_since.is_empty() {
            writeln!(f, "  versions rotated in since the backup: none")?;
        } else {
            let what = if self.token_restored {
                "gone, with what they encrypted"
            } else {
                "orphaned on the HSM; what they encrypted cannot be decrypted"
            };
            for (k, v) in &self.versions_rotated_since {
                writeln!(
                    f,
                    "  key {k}: material versions {v:?} rotated in since the backup: {what}"
                )?;
            }
        }
        if self.aliases_changed.is_empty() {
            writeln!(f, "  aliases changed since the backup: none")?;
        } else {
            writeln!(
                f,
                "  aliases that differ from the backup: {}",
                self.aliases_changed.join(", ")
            )?;
        }
        writeln!(
            f,
            "  audit records written after the backup: {} (they leave the log; the restore is \
             recorded in it{})",
            self.audit_records_after,
            if self.token_restored {
                ""
            } else {
                ", naming the audit mark it supersedes"
            }
        )
    }
}

/// What [`restore`] did.
#[derive(Debug)]
pub enum RestoreOutcome {
    /// The rollback was not accepted: nothing changed.
    Refused(RollbackReport),
    /// Restored.
    Restored {
        /// What the rollback took back.
        report: RollbackReport,
        /// Where the replaced files are kept.
        previous: PathBuf,
        /// The audit mark the restore superseded (metadata restored under a newer token).
        superseded_mark: Option<u64>,
    },
    /// An interrupted restore was finished (no new backup was read).
    Finished {
        /// The backup that interrupted restore was restoring.
        backup: String,
        /// Where the replaced files are kept.
        previous: PathBuf,
        /// The audit mark the restore superseded.
        superseded_mark: Option<u64>,
    },
}

/// The journal of a restore: written once everything is staged, removed when it is done.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Journal {
    backup: String,
    backup_created: String,
    previous: String,
    items: Vec<String>,
}

/// An error if `data_dir` holds an unfinished restore: nothing may open it until `lockbox
/// restore` finishes it.
pub fn refuse_interrupted_restore(data_dir: &Path) -> Result<(), Error> {
    if data_dir.join(RESTORE_JOURNAL).exists() {
        return Err(Error::Backup(format!(
            "{} holds an interrupted restore ({RESTORE_JOURNAL}); run `lockbox restore` to \
             finish it",
            data_dir.display()
        )));
    }
    Ok(())
}

/// The `softhsm2.conf` a restore of `src` into `data_dir` will use, if any: the process must
/// run with `SOFTHSM2_CONF` naming it before [`restore`] loads the token module.
pub fn restore_softhsm_conf(data_dir: &Path, src: Option<&Path>) -> Result<Option<PathBuf>, Error> {
    let journal = data_dir.join(RESTORE_JOURNAL);
    let config_text = if journal.exists() {
        let staged = data_dir.join(STAGING).join(CONFIG_FILE);
        let path = if staged.exists() {
            staged
        } else {
            data_dir.join(CONFIG_FILE)
        };
        read_text(&path)?
    } else if let Some(src) = src {
        read_text(&src.join(CONFIG_FILE))?
    } else {
        return Ok(None);
    };
    let config = Config::parse(data_dir, &config_text).map_err(Error::Config)?;
    Ok(config.token.softhsm_conf)
}

/// Restores the backup in `src` into `data_dir`, which nothing may hold; or, with `src`
/// `None` or when `data_dir` holds an interrupted restore, finishes that restore.
///
/// The backup is verified first. Unless `accept_rollback`, the comparison is returned as
/// [`RestoreOutcome::Refused`] and nothing changes. The restored directory's audit log is
/// opened with `config` (an embedder's), else with the restored `lockbox.toml`. The process
/// must run with the `SOFTHSM2_CONF` [`restore_softhsm_conf`] names, if any.
pub fn restore(
    data_dir: &Path,
    src: Option<&Path>,
    accept_rollback: bool,
    config: Option<&Config>,
) -> Result<RestoreOutcome, Error> {
    if data_dir.join(RESTORE_JOURNAL).exists() {
        let lock = crate::lock::DataDirLock::acquire(data_dir)?;
        let journal = read_journal(data_dir)?;
        let (previous, superseded_mark) = roll_forward(data_dir, &journal, config, lock)?;
        return Ok(RestoreOutcome::Finished {
            backup: journal.backup,
            previous,
            superseded_mark,
        });
    }
    let src = src.ok_or_else(|| Error::Backup("name the backup to restore".into()))?;
    let src = std::path::absolute(src)
        .map_err(|e| Error::Backup(format!("resolving {}: {e}", src.display())))?;
    let manifest = verify_backup(&src)?;
    preflight(data_dir, &src, &manifest, config)?;
    crate::config::make_private_dir(data_dir)?;
    // No other Lockbox process in the directory while it is compared and swapped.
    let lock = crate::lock::DataDirLock::acquire(data_dir)?;
    let staging = data_dir.join(STAGING);
    if staging.exists() {
        // Left by a restore killed before its journal: never used, safe to drop.
        fs::remove_dir_all(&staging)
            .map_err(|e| Error::Backup(format!("removing {}: {e}", staging.display())))?;
    }
    make_dir(&staging)?;
    let (items, report) = match stage_and_compare(data_dir, &src, &manifest, &staging) {
        Ok(v) => v,
        Err(e) => {
            // Nothing but the staging area was written: leave the directory as it was.
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if !accept_rollback {
        fs::remove_dir_all(&staging)
            .map_err(|e| Error::Backup(format!("removing {}: {e}", staging.display())))?;
        return Ok(RestoreOutcome::Refused(report));
    }
    let journal = Journal {
        backup: src.display().to_string(),
        backup_created: manifest.created.clone(),
        previous: format!("pre-restore-{}", compact_time(Timestamp::now())),
        items,
    };
    let text = serde_json::to_vec_pretty(&journal)
        .map_err(|e| Error::Backup(format!("encoding the journal: {e}")))?;
    let tmp = data_dir.join(format!("{RESTORE_JOURNAL}.tmp"));
    let _ = fs::remove_file(&tmp);
    write_private(&tmp, &text)?;
    fs::rename(&tmp, data_dir.join(RESTORE_JOURNAL))
        .map_err(|e| Error::Backup(format!("writing the journal: {e}")))?;
    sync_dir(data_dir)?;
    let (previous, superseded_mark) = roll_forward(data_dir, &journal, config, lock)?;
    Ok(RestoreOutcome::Restored {
        report,
        previous,
        superseded_mark,
    })
}

/// Builds the staging area and compares it with the directory; returns the items to swap.
fn stage_and_compare(
    data_dir: &Path,
    src: &Path,
    manifest: &Manifest,
    staging: &Path,
) -> Result<(Vec<String>, RollbackReport), Error> {
    {
        let mut r = BufReader::new(open_file(&src.join(METADATA_FILE))?);
        Store::import(&staging.join("metadata"), &mut r)?;
    }
    let mut items = vec!["metadata".to_owned()];
    let mut top = BTreeSet::new();
    for f in &manifest.files {
        if f.path == METADATA_FILE {
            continue;
        }
        let rel = safe_relative(&f.path)
            .ok_or_else(|| Error::Backup(format!("unsafe path {}", f.path)))?;
        if let Some(parent) = rel.parent() {
            make_dirs(staging, parent)?;
        }
        copy_into(&src.join(&rel), &staging.join(&rel), &f.path)?;
        if let Some(Component::Normal(first)) = rel.components().next() {
            top.insert(first.to_string_lossy().into_owned());
        }
    }
    items.extend(top);
    sync_tree(staging)?;

    let report = {
        let staged = Store::open(&staging.join("metadata"))?;
        let current_dir = data_dir.join("metadata");
        let current = if current_dir.join("db").exists() || current_dir.join("conf").exists() {
            Some(Store::open(&current_dir)?)
        } else {
            None
        };
        compare(current.as_ref(), &staged, manifest)?
    };
    Ok((items, report))
}

/// Refuses, before anything is written, a restore whose result could not be opened: no
/// configuration to open it with, or a PIN file that neither the directory nor the backup has.
fn preflight(
    data_dir: &Path,
    src: &Path,
    manifest: &Manifest,
    config: Option<&Config>,
) -> Result<(), Error> {
    let named = |f: &str| manifest.files.iter().any(|e| e.path == f);
    let config = match config {
        Some(c) => c.clone(),
        None if named(CONFIG_FILE) => {
            Config::parse(data_dir, &read_text(&src.join(CONFIG_FILE))?).map_err(Error::Config)?
        }
        None if data_dir.join(CONFIG_FILE).exists() => Config::load(data_dir)?,
        None => {
            return Err(Error::Backup(format!(
                "{} has no {CONFIG_FILE} (an embedding application made it) and neither has {}: \
                 restore it through that application (lockbox::backup::restore with its Config)",
                src.display(),
                data_dir.display()
            )));
        }
    };
    if let lockbox_token::PinSource::File(pin) = &config.token.pin {
        let in_backup = pin
            .strip_prefix(data_dir)
            .ok()
            .and_then(|rel| rel.to_str())
            .is_some_and(named);
        if !in_backup && !pin.exists() {
            return Err(Error::Backup(format!(
                "the token's PIN file {} does not exist and the backup has none (it was made \
                 without --include-pins): put the PIN file in place first",
                pin.display()
            )));
        }
    }
    Ok(())
}

/// Moves every staged item into place (each current one first into `previous`), records
/// the restore in the audit log, then removes the journal. Idempotent: a kill anywhere is
/// finished by running it again.
fn roll_forward(
    data_dir: &Path,
    journal: &Journal,
    config: Option<&Config>,
    lock: crate::lock::DataDirLock,
) -> Result<(PathBuf, Option<u64>), Error> {
    let staging = data_dir.join(STAGING);
    let previous = data_dir.join(&journal.previous);
    make_dir(&previous)?;
    for item in &journal.items {
        let rel = safe_relative(item)
            .ok_or_else(|| Error::Backup(format!("unsafe journal item {item}")))?;
        let staged = staging.join(&rel);
        let live = data_dir.join(&rel);
        let old = previous.join(&rel);
        if !staged.exists() {
            continue; // moved already
        }
        if live.exists() {
            if old.exists() {
                return Err(Error::Backup(format!(
                    "cannot finish the restore: {} exists both in the directory and in {}; \
                     move one of them away",
                    item,
                    previous.display()
                )));
            }
            rename(&live, &old)?;
            sync_dir(&previous)?;
        }
        rename(&staged, &live)?;
        sync_dir(data_dir)?;
    }
    // Recording the restore opens the token and the store, which takes the lock again. The
    // journal is still there until that is done, and every open refuses a directory that
    // holds one, so no other process gets in between.
    drop(lock);
    let superseded = match config {
        Some(c) => record_restore(c, journal)?,
        None => record_restore(&Config::load(data_dir)?, journal)?,
    };
    if staging.exists() {
        fs::remove_dir_all(&staging)
            .map_err(|e| Error::Backup(format!("removing {}: {e}", staging.display())))?;
    }
    // A restore into a directory that held nothing replaced nothing: keep no empty
    // pre-restore directory (`remove_dir` refuses one that is not empty).
    if fs::read_dir(&previous).is_ok_and(|mut d| d.next().is_none()) {
        fs::remove_dir(&previous)
            .map_err(|e| Error::Backup(format!("removing {}: {e}", previous.display())))?;
    }
    fs::remove_file(data_dir.join(RESTORE_JOURNAL))
        .map_err(|e| Error::Backup(format!("removing the journal: {e}")))?;
    sync_dir(data_dir)?;
    Ok((previous, superseded))
}

/// Opens the restored directory's audit log, accepting the rollback (see
/// [`AuditLog::open_accepting_rollback`]), records the restore, and seals.
fn record_restore(config: &Config, journal: &Journal) -> Result<Option<u64>, Error> {
    if let Some(conf) = &config.token.softhsm_conf {
        lockbox_token::softhsm::relocate_conf(conf)?;
    }
    let (store, token, _lock) = crate::audit::open_parts(config)?;
    let principal = Principal::root(config.arn.partition(), config.arn.account())
        .map_err(|e| Error::Config(e.message().to_owned()))?;
    let mut request_id = [0u8; 16];
    token.random(&mut request_id)?;
    let event = AuditEvent {
        time: Timestamp::now(),
        request_id: crate::audit::uuid_text(u128::from_be_bytes(request_id)),
        account: config.arn.account().to_owned(),
        principal: principal.arn().to_owned(),
        operation: "RestoreBackup".into(),
        key_arn: None,
        encryption_context: BTreeMap::from([
            ("lockbox:backup".to_owned(), journal.backup.clone()),
            (
                "lockbox:backup-created".to_owned(),
                journal.backup_created.clone(),
            ),
        ]),
        error: None,
        source: "lockbox restore".into(),
        grant_id: None,
        region: None,
    };
    let (log, superseded) = AuditLog::open_accepting_rollback(
        Arc::clone(&store),
        token,
        config.audit,
        Arc::new(SystemClock),
        event.clone(),
    )?;
    if superseded.is_none() {
        log.append(event)?;
    }
    log.close()?;
    Ok(superseded.map(|m| m.seq))
}

fn compare(
    current: Option<&Store>,
    backup: &Store,
    manifest: &Manifest,
) -> Result<RollbackReport, Error> {
    let mut report = RollbackReport {
        backup_created: manifest.created.clone(),
        token_restored: manifest.softhsm_token,
        had_current: current.is_some(),
        ..Default::default()
    };
    let Some(current) = current else {
        return Ok(report);
    };
    let now = all_keys(current)?;
    let then = all_keys(backup)?;
    for (id, versions) in &now {
        match then.get(id) {
            None => report.keys_made_after.push(*id),
            Some(old) => {
                let newer: Vec<u32> = versions
                    .iter()
                    .filter(|v| !old.contains(v))
                    .copied()
                    .collect();
                if !newer.is_empty() {
                    report.versions_rotated_since.push((*id, newer));
                }
            }
        }
    }
    for id in then.keys() {
        if !now.contains_key(id) {
            report.keys_deleted_after.push(*id);
        }
    }
    let a_now = all_aliases(current)?;
    let a_then = all_aliases(backup)?;
    for (name, target) in &a_now {
        if a_then.get(name) != Some(target) {
            report.aliases_changed.push(name.clone());
        }
    }
    for name in a_then.keys() {
        if !a_now.contains_key(name) {
            report.aliases_changed.push(name.clone());
        }
    }
    report.aliases_changed.sort();
    let next_now = current.last_audit()?.map_or(0, |(s, _)| s + 1);
    report.audit_records_after = next_now.saturating_sub(manifest.audit_next_seq);
    Ok(report)
}

fn all_keys(store: &Store) -> Result<BTreeMap<KeyId, Vec<u32>>, Error> {
    let mut out = BTreeMap::new();
    let mut after = None;
    loop {
        let page = store.keys_page(None, after, 1000)?;
        for r in &page.items {
            out.insert(r.id, r.materials.iter().map(|m| m.version).collect());
        }
        after = page.items.last().map(|r| r.slot());
        if !page.more {
            return Ok(out);
        }
    }
}

fn all_aliases(store: &Store) -> Result<BTreeMap<String, KeyId>, Error> {
    Ok(store
        .all_aliases()?
        .into_iter()
        .map(|(name, r)| (name, r.target))
        .collect())
}

fn read_journal(data_dir: &Path) -> Result<Journal, Error> {
    let text = read_text(&data_dir.join(RESTORE_JOURNAL))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::Backup(format!(
            "{} is damaged ({e}); the restore it describes cannot be finished automatically: \
             see docs/operations.md",
            data_dir.join(RESTORE_JOURNAL).display()
        ))
    })
}

/// A relative path with only normal components, from a manifest or journal.
fn safe_relative(p: &str) -> Option<PathBuf> {
    let path = Path::new(p);
    if p.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(path.to_owned())
}

fn rfc3339(t: Timestamp) -> String {
    let nanos = i128::from(t.unix_millis()) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.unix_millis().to_string())
}

fn compact_time(t: Timestamp) -> String {
    rfc3339(t).replace([':', '-'], "").replace('.', "-")
}

fn read_text(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|e| Error::Backup(format!("reading {}: {e}", path.display())))
}

fn open_file(path: &Path) -> Result<File, Error> {
    File::open(path).map_err(|e| Error::Backup(format!("opening {}: {e}", path.display())))
}

fn rename(from: &Path, to: &Path) -> Result<(), Error> {
    fs::rename(from, to).map_err(|e| {
        Error::Backup(format!(
            "renaming {} to {}: {e}",
            from.display(),
            to.display()
        ))
    })
}

fn make_dir(dir: &Path) -> Result<(), Error> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(0o700)))
        .map_err(|e| Error::Backup(format!("creating {}: {e}", dir.display())))
}

fn make_dirs(root: &Path, rel: &Path) -> Result<(), Error> {
    let mut d = root.to_owned();
    for c in rel.components() {
        d.push(c);
        make_dir(&d)?;
    }
    Ok(())
}

fn create_private(path: &Path) -> Result<File, Error> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::Backup(format!("creating {}: {e}", path.display())))?;
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::Backup(format!("setting the mode of {}: {e}", path.display())))?;
    Ok(f)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut f = create_private(path)?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::Backup(format!("writing {}: {e}", path.display())))
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::Backup(format!("syncing {}: {e}", dir.display())))
}

fn sync_tree(dir: &Path) -> Result<(), Error> {
    for entry in
        fs::read_dir(dir).map_err(|e| Error::Backup(format!("listing {}: {e}", dir.display())))?
    {
        let entry = entry.map_err(|e| Error::Backup(format!("listing {}: {e}", dir.display())))?;
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            sync_tree(&entry.path())?;
        }
    }
    sync_dir(dir)
}

/// Copies `from` to the new file `to` (0600), fsynced; returns its manifest entry.
fn copy_into(from: &Path, to: &Path, rel: &str) -> Result<FileEntry, Error> {
    let mut r = open_file(from)?;
    let mut w = HashingWriter::new(create_private(to)?);
    std::io::copy(&mut r, &mut w)
        .map_err(|e| Error::Backup(format!("copying {}: {e}", from.display())))?;
    w.finish(rel, to)
}

fn copy_file(from_root: &Path, to_root: &Path, rel: &str) -> Result<FileEntry, Error> {
    copy_into(&from_root.join(rel), &to_root.join(rel), rel)
}

/// Copies the directory `rel` of `from_root` (regular files and directories; the copy's
/// directories 0700) into `to_root`, adding an entry per file.
fn copy_tree(
    from_root: &Path,
    to_root: &Path,
    rel: &Path,
    files: &mut Vec<FileEntry>,
) -> Result<(), Error> {
    make_dir(&to_root.join(rel))?;
    let dir = from_root.join(rel);
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Error::Backup(format!("listing {}: {e}", dir.display())))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let ty = entry
            .file_type()
            .map_err(|e| Error::Backup(format!("inspecting {}: {e}", entry.path().display())))?;
        let name = rel.join(entry.file_name());
        if ty.is_dir() {
            copy_tree(from_root, to_root, &name, files)?;
        } else if ty.is_file() {
            let text = name
                .to_str()
                .ok_or_else(|| Error::Backup(format!("{} is not UTF-8", name.display())))?;
            files.push(copy_into(&entry.path(), &to_root.join(&name), text)?);
        }
    }
    sync_dir(&to_root.join(rel))
}

fn list_files(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(root.join(rel))? {
        let entry = entry?;
        let name = rel.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            list_files(root, &name, out)?;
        } else {
            out.push(name);
        }
    }
    Ok(())
}

fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, crate::audit::hex(&h.finalize())))
}

/// Writes through a buffer, counting and hashing what it writes.
struct HashingWriter {
    inner: BufWriter<File>,
    hash: Sha256,
    size: u64,
}

impl HashingWriter {
    fn new(f: File) -> Self {
        HashingWriter {
            inner: BufWriter::new(f),
            hash: Sha256::new(),
            size: 0,
        }
    }

    /// Flushes and fsyncs the file; returns its manifest entry.
    fn finish(self, rel: &str, path: &Path) -> Result<FileEntry, Error> {
        let f = self
            .inner
            .into_inner()
            .map_err(|e| Error::Backup(format!("writing {}: {}", path.display(), e.error())))?;
        f.sync_all()
            .map_err(|e| Error::Backup(format!("syncing {}: {e}", path.display())))?;
        Ok(FileEntry {
            path: rel.to_owned(),
            size: self.size,
            sha256: crate::audit::hex(&self.hash.finalize()),
        })
    }
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
