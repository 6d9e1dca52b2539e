//! The data directory's lock: one Lockbox process in a data directory at a time, from
//! before its token is touched until its engine is dropped.
//!
//! An exclusive `flock` on `<data>/lockbox.lock` (0600). The kernel drops it when the
//! process dies, however it dies, so a kill never leaves the directory locked. It is what
//! keeps a second process off this directory's store and token files. Processes with data
//! directories of their own that share one SoftHSM token (cluster nodes) are kept apart,
//! for the token's root file, by the token directory's guard (`softhsm::root::RootGuard`).

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::Error;

/// The lock file's name inside a data directory.
pub const LOCK_FILE: &str = "lockbox.lock";

/// How long opening waits for the lock before reporting the directory in use (as the store
/// waits for its own: a dropped engine's background threads may hold it a moment longer).
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// The held lock of a data directory; dropping it releases the lock.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock of `data_dir` (which must exist), waiting up to 2 s for another holder
    /// to let go; then reports the directory in use.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock, Error> {
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match Self::try_acquire(data_dir)? {
                Some(lock) => return Ok(lock),
                None if Instant::now() >= deadline => {
                    return Err(Error::InUse {
                        dir: data_dir.to_owned(),
                        holder: holder(&data_dir.join(LOCK_FILE)),
                    });
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    /// Takes the lock of `data_dir` if it is free, without waiting.
    pub fn try_acquire(data_dir: &Path) -> Result<Option<DataDirLock>, Error> {
        let path = data_dir.join(LOCK_FILE);
        let fail = |what: &str, e: std::io::Error| {
            Error::Config(format!("cannot {what} {}: {e}", path.display()))
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| fail("open", e))?;
        if file.metadata().map_err(|e| fail("inspect", e))?.mode() & 0o777 != 0o600 {
            file.set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(|e| fail("restrict", e))?;
        }
        match file.try_lock() {
            Ok(()) => Ok(Some(DataDirLock { _file: file, path })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(fail("lock", e)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The process holding the lock on `path`, from `/proc/locks` (Linux), with its command
/// name when `/proc` shows it: `1234 (lockbox)`.
pub fn holder(path: &Path) -> Option<String> {
    let meta = fs::metadata(path).ok()?;
    let locks = fs::read_to_string("/proc/locks").ok()?;
    for line in locks.lines() {
        // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(1) != Some(&"FLOCK") || f.get(2) == Some(&"->") {
            continue;
        }
        let (Some(pid), Some(dev_ino)) = (f.get(4), f.get(5)) else {
            continue;
        };
        // MAJOR:MINOR (hex) : INODE (decimal), as the kernel prints them.
        let mut parts = dev_ino.split(':');
        let (Some(major), Some(minor), Some(ino)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let same = u64::from_str_radix(major, 16).ok() == Some(dev_major(meta.dev()))
            && u64::from_str_radix(minor, 16).ok() == Some(dev_minor(meta.dev()))
            && ino.parse::<u64>().ok() == Some(meta.ino());
        if same {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok();
            return Some(match comm {
                Some(c) => format!("{pid} ({})", c.trim_end()),
                None => (*pid).to_owned(),
            });
        }
    }
    None
}

// glibc's gnu_dev_major / gnu_dev_minor, the encoding of Linux's dev_t.
fn dev_major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}

fn dev_minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}

/// Opens the token of `config`, the caller holding the data directory's lock. For a
/// provisioned SoftHSM token, first restores a root file a kill cut short (from the copy),
/// and once the login has proved the root file good, refreshes the copy if it is missing or
/// stale (see `lockbox_token::softhsm::root`). Any other token is opened as it is.
pub(crate) fn open_token(config: &crate::Config) -> Result<lockbox_token::Token, Error> {
    // Under the token directory's own guard as well, which other Lockbox processes sharing
    // the token take too: this lock keeps out only those of this data directory.
    let opened = lockbox_token::softhsm::root::open_token(&config.token)?;
    for copy in opened.copies {
        tracing::info!(file = %copy.display(), "wrote the verified copy of the token's root file");
    }
    Ok(opened.token)
}
