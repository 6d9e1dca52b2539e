//! The SoftHSM token's root file, `token.object`, and Lockbox's verified copy of it.
//!
//! SoftHSM 2.6.1 keeps a token's label, serial, flags and the two PIN-wrapped copies of the
//! token key in `<tokendir>/<uuid>/token.object`. Every successful `C_Login` truncates that
//! file and writes it again in place, with no temporary file: a process killed in between
//! leaves it empty or short, the token then reads as uninitialized, and every object in it
//! is lost with the token key.
//!
//! Measured here (byte comparison before and after logins): a login changes only the file's
//! first 8 bytes, SoftHSM's generation counter; the attributes after it are the same bytes.
//! `C_SetPIN` re-wraps the same token key under the new PIN, so an older root file still
//! opens every object, with the older PIN.
//!
//! So Lockbox keeps a copy, `token.object.lockbox-copy` beside it, written atomically (temp
//! file, fsync, rename, fsync of the directory) from a root file a login has just proved
//! good, and, before the module is loaded, restores the root file from the copy when it is
//! missing or short.
//!
//! Several Lockbox processes may share one token directory (cluster nodes, each with a data
//! directory and a data-directory lock of its own), so that lock does not keep the others
//! out. SoftHSM's own lock does not either: under strace, a login takes a POSIX write lock
//! on `token.object`, reads it, truncates it, *releases the lock*, and only then writes the
//! new bytes (buffered until the file is closed). A reader in that window, with or without
//! SoftHSM's lock, finds an empty file. Measured with three processes logging in over and
//! over (`pkcs11-tool --login`): a reader taking SoftHSM's read lock found the file empty in
//! 7,770 of 999,461 reads; of 600 such process starts, 47 failed, 43 of them because the
//! module, initializing while another process logged in, found no token with the label (the
//! file was empty, so the token read as uninitialized). A process already running keeps the
//! attributes it read before when it finds the file empty (SoftHSM's `ObjectFile::refresh`).
//! Lockbox, reading the file to repair it, would restore a file a live process is in the
//! middle of writing, and a node starting beside a node logging in would not find its token.
//! Hence [`RootGuard`]: an exclusive `flock` on `token.object.lockbox-lock` in each token
//! directory, which every Lockbox process takes around what reads or rewrites the root file
//! (repair, copy, module initialization, login). Among Lockbox processes a short root file
//! is then always one a killed process left. Other programs do not take it.
//!
//! Layout of an `ObjectFile` (SoftHSM's `File::writeULong` is 8 bytes, big-endian): a
//! generation counter, then per attribute its type, its kind (1 boolean: 1 byte; 2 integer:
//! 8 bytes; 3 byte string: an 8-byte length and the bytes) and its value. A root file is
//! complete when it parses to its last byte and holds the five attributes SoftHSM writes,
//! `CKA_VENDOR_DEFINED + 0x5349 ..= 0x534d` (label, serial, flags, SO PIN blob, user PIN
//! blob), in the ascending order SoftHSM's attribute map writes them.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::TokenError;

/// The token's root file, as SoftHSM names it.
pub const ROOT_FILE: &str = "token.object";
/// Lockbox's verified copy of the root file, in the same directory (SoftHSM indexes only
/// `*.object` files there, so it ignores it).
pub const ROOT_COPY: &str = "token.object.lockbox-copy";
/// Lockbox's lock file in a token directory (see [`RootGuard`]); SoftHSM ignores it too.
pub const ROOT_LOCK: &str = "token.object.lockbox-lock";
/// How long [`RootGuard::acquire`] waits for other Lockbox processes (a login holds the
/// guard for milliseconds; a repair for as long as a few small fsynced writes).
pub const ROOT_GUARD_WAIT: Duration = Duration::from_secs(30);
// Temporary names of the two atomic writes; a leftover one is an interrupted write.
const ROOT_TEMP: &str = "token.object.lockbox-restore";
const COPY_TEMP: &str = "token.object.lockbox-copy.tmp";

// CKA_VENDOR_DEFINED + "SI".."SM": SoftHSM's CKA_OS_TOKENLABEL .. CKA_OS_USERPIN.
const REQUIRED: [u64; 5] = [
    0x8000_5349,
    0x8000_534a,
    0x8000_534b,
    0x8000_534c,
    0x8000_534d,
];

/// What a root file (or its copy) holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootState {
    /// Parses to its last byte and holds every attribute SoftHSM writes.
    Complete,
    /// Absent.
    Missing,
    /// Empty or cut short: a write that was interrupted (`len` bytes are there).
    Short {
        /// Its length in bytes.
        len: u64,
    },
    /// Not in a layout Lockbox knows (another SoftHSM version?): left alone.
    Unrecognized(String),
}

/// The state of Lockbox's copy of a root file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyState {
    /// No copy.
    Missing,
    /// The copy itself is incomplete (it is never used).
    Incomplete,
    /// Complete, and holds the root file's attributes (or the root file is not complete,
    /// so there is nothing newer to compare it with).
    Current,
    /// Complete, but the complete root file holds other attributes (a PIN changed by
    /// another tool since the copy was made).
    Stale,
}

/// One SoftHSM token directory: its root file and Lockbox's copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenDir {
    /// The directory, `<tokendir>/<uuid>`.
    pub dir: PathBuf,
    /// Its root file.
    pub root: RootState,
    /// Lockbox's copy.
    pub copy: CopyState,
}

impl TokenDir {
    /// Reads the root file and the copy of the token directory `dir`.
    pub fn inspect(dir: &Path) -> Result<TokenDir, TokenError> {
        let root = read_opt(&dir.join(ROOT_FILE))?;
        let copy = read_opt(&dir.join(ROOT_COPY))?;
        let root_state = root.as_deref().map_or(RootState::Missing, parse);
        let copy_state = match copy.as_deref() {
            None => CopyState::Missing,
            Some(c) if parse(c) != RootState::Complete => CopyState::Incomplete,
            Some(c) => match root.as_deref() {
                Some(r) if root_state == RootState::Complete && r[8..] != c[8..] => {
                    CopyState::Stale
                }
                _ => CopyState::Current,
            },
        };
        Ok(TokenDir {
            dir: dir.to_owned(),
            root: root_state,
            copy: copy_state,
        })
    }

    /// True when the root file is gone or short and a complete copy can replace it.
    pub fn restorable(&self) -> bool {
        matches!(self.root, RootState::Missing | RootState::Short { .. })
            && matches!(self.copy, CopyState::Current | CopyState::Stale)
    }

    /// The root file's path.
    pub fn root_path(&self) -> PathBuf {
        self.dir.join(ROOT_FILE)
    }
}

/// Exclusive `flock`s on [`ROOT_LOCK`] in every token directory of a SoftHSM configuration,
/// held by the Lockbox process that reads or rewrites root files; dropping it lets go.
///
/// A `flock` belongs to its open file description: the kernel drops it when the process
/// dies, so a kill never leaves it held, and two acquisitions in one process exclude each
/// other as two processes do (never nest them). Directories are locked in sorted order, so
/// two processes cannot each hold one the other waits for.
#[derive(Debug)]
pub struct RootGuard {
    _files: Vec<File>,
}

impl RootGuard {
    /// Takes the guard of every token directory of `conf`, waiting up to
    /// [`ROOT_GUARD_WAIT`] for other Lockbox processes to let go.
    pub fn acquire(conf: &Path) -> Result<RootGuard, TokenError> {
        let deadline = Instant::now() + ROOT_GUARD_WAIT;
        let mut files = Vec::new();
        for dir in token_dirs(conf)? {
            let path = dir.join(ROOT_LOCK);
            let io = |what: &str, e| TokenError::io(format!("{what} {}", path.display()), e);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(|e| io("opening", e))?;
            loop {
                match file.try_lock() {
                    Ok(()) => break,
                    Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(fs::TryLockError::WouldBlock) => {
                        return Err(TokenError::Config(format!(
                            "another Lockbox process has held {} for {} s (a login or a \
                             repair of the token's root file should take milliseconds)",
                            path.display(),
                            ROOT_GUARD_WAIT.as_secs()
                        )));
                    }
                    Err(fs::TryLockError::Error(e)) => return Err(io("locking", e)),
                }
            }
            files.push(file);
        }
        Ok(RootGuard { _files: files })
    }
}

/// The token directories of the SoftHSM configuration `conf` (each subdirectory of its
/// `directories.tokendir` that holds a root file or Lockbox's copy of one).
pub fn token_dirs(conf: &Path) -> Result<Vec<PathBuf>, TokenError> {
    let tokens = token_root(conf)?;
    let mut dirs = Vec::new();
    let entries = match fs::read_dir(&tokens) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(dirs),
        Err(e) => return Err(TokenError::io(format!("listing {}", tokens.display()), e)),
    };
    for entry in entries {
        let path = entry
            .map_err(|e| TokenError::io(format!("listing {}", tokens.display()), e))?
            .path();
        if path.is_dir() && (path.join(ROOT_FILE).exists() || path.join(ROOT_COPY).exists()) {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// SoftHSM's per-token change counter: eight bytes, a big-endian u64.
const GENERATION_FILE: &str = "generation";

/// Makes every process that has a token of `conf` open re-read the token's directory at its
/// next search, by raising the token's change counter (`generation`).
///
/// SoftHSM 2.6.1 learns of objects other processes created from that counter: a search
/// re-reads the directory when the file differs from the value the process last knew. But a
/// process that commits a change of its own writes the file's value plus one and takes that
/// as the value it knows, so another process's change committed just before is never noticed:
/// that process's new objects stay invisible to it until some third change (measured with
/// three nodes creating keys at once; `crates/lockbox-cli/tests/cluster_serve.rs`). Raising
/// the counter is such a change. No lock is taken: SoftHSM's are POSIX record locks, which a
/// second descriptor of the same file in this process would release when closed; an 8-byte
/// write at offset 0 is not seen half done, and a raise lost to a concurrent commit of this
/// process is made again at the next miss. Missing or unreadable counters are skipped.
pub fn raise_generations(conf: &Path) -> Result<(), TokenError> {
    use std::os::unix::fs::FileExt;
    for dir in token_dirs(conf)? {
        let path = dir.join(GENERATION_FILE);
        let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else {
            continue;
        };
        let mut now = [0u8; 8];
        if file.read_exact_at(&mut now, 0).is_err() {
            continue;
        }
        let next = u64::from_be_bytes(now).wrapping_add(1).max(1);
        file.write_all_at(&next.to_be_bytes(), 0)
            .map_err(|e| TokenError::io(format!("writing {}", path.display()), e))?;
    }
    Ok(())
}

/// A token opened by [`open_token`], and what its root files needed.
pub struct Opened {
    /// The open token.
    pub token: crate::Token,
    /// Root files restored from their copies before the module was loaded.
    pub restored: Vec<PathBuf>,
    /// Copies written after the login proved the root files good.
    pub copies: Vec<PathBuf>,
}

/// Opens the token of `config` as every Lockbox process must (the caller holding its data
/// directory's lock): for a SoftHSM token, repairs root files a kill cut short, opens and
/// logs in, then refreshes the copies, each step under the [`RootGuard`] and never nested
/// (`Token::open` takes the guard itself around the module's start and the login).
pub fn open_token(config: &crate::TokenConfig) -> Result<Opened, TokenError> {
    let Some(conf) = config.softhsm_conf.as_deref() else {
        return Ok(Opened {
            token: crate::Token::open(config)?,
            restored: Vec::new(),
            copies: Vec::new(),
        });
    };
    let restored = {
        let _guard = RootGuard::acquire(conf)?;
        repair_before_load(conf)?
    };
    let token = crate::Token::open(config)?;
    let copies = {
        let _guard = RootGuard::acquire(conf)?;
        refresh_copies(conf)?
    };
    Ok(Opened {
        token,
        restored,
        copies,
    })
}

/// Before the module is loaded, under the data directory's lock and a [`RootGuard`]: removes
/// leftovers of interrupted writes and restores every root file that is missing or short
/// from its copy.
/// Returns the root files it restored. A short root file without a usable copy is an
/// error that says so (SoftHSM would report only that the token is not there).
pub fn repair_before_load(conf: &Path) -> Result<Vec<PathBuf>, TokenError> {
    let mut restored = Vec::new();
    for dir in token_dirs(conf)? {
        for leftover in [ROOT_TEMP, COPY_TEMP] {
            remove_if_present(&dir.join(leftover))?;
        }
        let t = TokenDir::inspect(&dir)?;
        match (&t.root, t.restorable()) {
            // A directory from before copies existed: a complete root file is what SoftHSM
            // wrote in full, so copy it before this process's login can cut it short.
            (RootState::Complete, _)
                if matches!(t.copy, CopyState::Missing | CopyState::Incomplete) =>
            {
                save_copy(&dir)?;
            }
            (RootState::Complete, _) => {}
            (RootState::Unrecognized(why), _) => {
                tracing::warn!(file = %t.root_path().display(), reason = %why,
                    "the token's root file is in a layout Lockbox does not know; left alone");
            }
            (_, true) => {
                restore_root(&dir)?;
                tracing::warn!(file = %t.root_path().display(), state = ?t.root,
                    "the token's root file was cut short (a process was killed while SoftHSM \
                     rewrote it at login); restored it from Lockbox's verified copy");
                restored.push(t.root_path());
            }
            (_, false) => return Err(unrecoverable(&t)),
        }
    }
    Ok(restored)
}

/// After a successful login (which proves the root files good), under the data directory's
/// lock and a [`RootGuard`]: makes the copy of every complete root file whose copy is
/// missing, incomplete or stale. Returns the copies it wrote.
pub fn refresh_copies(conf: &Path) -> Result<Vec<PathBuf>, TokenError> {
    let mut written = Vec::new();
    for dir in token_dirs(conf)? {
        let t = TokenDir::inspect(&dir)?;
        if t.root == RootState::Complete && t.copy != CopyState::Current {
            save_copy(&dir)?;
            written.push(dir.join(ROOT_COPY));
        }
    }
    Ok(written)
}

/// Replaces the root file of `dir` with Lockbox's copy, atomically.
pub fn restore_root(dir: &Path) -> Result<(), TokenError> {
    let copy = fs::read(dir.join(ROOT_COPY))
        .map_err(|e| TokenError::io(format!("reading {}", dir.join(ROOT_COPY).display()), e))?;
    if parse(&copy) != RootState::Complete {
        return Err(TokenError::Config(format!(
            "{} is incomplete; it cannot restore the token's root file",
            dir.join(ROOT_COPY).display()
        )));
    }
    replace_atomically(dir, ROOT_TEMP, ROOT_FILE, &copy)
}

/// Writes Lockbox's copy of the (complete) root file of `dir`, atomically.
pub fn save_copy(dir: &Path) -> Result<(), TokenError> {
    let root = fs::read(dir.join(ROOT_FILE))
        .map_err(|e| TokenError::io(format!("reading {}", dir.join(ROOT_FILE).display()), e))?;
    if parse(&root) != RootState::Complete {
        return Err(TokenError::Config(format!(
            "{} is not complete; no copy is made of it",
            dir.join(ROOT_FILE).display()
        )));
    }
    replace_atomically(dir, COPY_TEMP, ROOT_COPY, &root)
}

/// What a short root file without a copy means, in words.
pub fn unrecoverable(t: &TokenDir) -> TokenError {
    let copy = match t.copy {
        CopyState::Missing => "there is no copy of it",
        _ => "its copy is incomplete",
    };
    TokenError::Config(format!(
        "the token's root file {} is {} (a process was killed while SoftHSM rewrote it) and \
         {copy}: restore {} from a backup",
        t.root_path().display(),
        match t.root {
            RootState::Short { len: 0 } => "empty".to_owned(),
            RootState::Short { len } => format!("cut short at {len} bytes"),
            _ => "missing".to_owned(),
        },
        t.dir.display()
    ))
}

/// Classifies the bytes of a SoftHSM root file.
pub fn parse(bytes: &[u8]) -> RootState {
    let len = bytes.len() as u64;
    let short = RootState::Short { len };
    let Some(mut rest) = bytes.get(8..) else {
        return short;
    };
    let mut seen = Vec::with_capacity(REQUIRED.len());
    while !rest.is_empty() {
        let (Some(ty), Some(kind)) = (be_u64(rest, 0), be_u64(rest, 8)) else {
            return short;
        };
        rest = &rest[16..];
        let size = match kind {
            1 => 1,
            2 => 8,
            3 => match be_u64(rest, 0) {
                Some(n) => n.saturating_add(8),
                None => return short,
            },
            other => {
                return RootState::Unrecognized(format!(
                    "attribute {ty:#x} has kind {other}, which a root file does not use"
                ));
            }
        };
        match usize::try_from(size).ok().filter(|&s| s <= rest.len()) {
            Some(s) => rest = &rest[s..],
            None => return short,
        }
        seen.push(ty);
    }
    // SoftHSM writes its attribute map in ascending order: a file cut at an attribute
    // boundary lacks the last ones.
    if seen.len() < REQUIRED.len() && REQUIRED.starts_with(&seen) {
        return short;
    }
    if seen != REQUIRED {
        return RootState::Unrecognized(format!("attributes {seen:x?}"));
    }
    RootState::Complete
}

fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

fn token_root(conf: &Path) -> Result<PathBuf, TokenError> {
    let text = fs::read_to_string(conf)
        .map_err(|e| TokenError::io(format!("reading {}", conf.display()), e))?;
    let dir = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == "directories.tokendir")
        .map(|(_, v)| PathBuf::from(v.trim()))
        .ok_or_else(|| {
            TokenError::Config(format!("{} names no directories.tokendir", conf.display()))
        })?;
    Ok(if dir.is_absolute() {
        dir
    } else {
        conf.parent().unwrap_or(Path::new(".")).join(dir)
    })
}

fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, TokenError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TokenError::io(format!("reading {}", path.display()), e)),
    }
}

fn remove_if_present(path: &Path) -> Result<(), TokenError> {
    // Looked at first: an open stays free of failing unlinks (and of their strace noise).
    if !path.exists() {
        return Ok(());
    }
    match fs::remove_file(path) {
        Ok(()) => {
            tracing::info!(file = %path.display(), "removed the leftover of an interrupted write");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(TokenError::io(format!("removing {}", path.display()), e)),
    }
}

/// Writes `bytes` to `dir/temp` (0600), syncs it, renames it to `dir/name` and syncs the
/// directory: `name` holds the old bytes or the new ones, never a part.
fn replace_atomically(dir: &Path, temp: &str, name: &str, bytes: &[u8]) -> Result<(), TokenError> {
    let temp = dir.join(temp);
    let target = dir.join(name);
    let io = |what: &str, p: &Path, e| TokenError::io(format!("{what} {}", p.display()), e);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| io("creating", &temp, e))?;
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| io("setting mode of", &temp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| io("writing", &temp, e))?;
    drop(f);
    fs::rename(&temp, &target).map_err(|e| io("renaming to", &target, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("syncing", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(ty: u64, kind: u64, value: &[u8]) -> Vec<u8> {
        let mut v = ty.to_be_bytes().to_vec();
        v.extend_from_slice(&kind.to_be_bytes());
        if kind == 3 {
            v.extend_from_slice(&(value.len() as u64).to_be_bytes());
        }
        v.extend_from_slice(value);
        v
    }

    fn root_file() -> Vec<u8> {
        let mut f = 10u64.to_be_bytes().to_vec();
        f.extend(attr(REQUIRED[0], 3, &[b' '; 32]));
        f.extend(attr(REQUIRED[1], 3, b"0123456789abcdef"));
        f.extend(attr(REQUIRED[2], 2, &0x42du64.to_be_bytes()));
        f.extend(attr(REQUIRED[3], 3, &[7; 72]));
        f.extend(attr(REQUIRED[4], 3, &[9; 72]));
        f
    }

    #[test]
    fn every_prefix_of_a_root_file_is_short_and_only_the_whole_is_complete() {
        let f = root_file();
        assert_eq!(
            f.len(),
            320,
            "the size of the root file SoftHSM 2.6.1 writes"
        );
        assert_eq!(parse(&f), RootState::Complete);
        for n in 0..f.len() {
            assert_eq!(parse(&f[..n]), RootState::Short { len: n as u64 }, "{n}");
        }
    }

    #[test]
    fn other_layouts_are_unrecognized_not_short() {
        let mut f = root_file();
        f.extend(attr(0x8000_5350, 2, &[0; 8]));
        assert!(matches!(parse(&f), RootState::Unrecognized(_)));
        let mut f = root_file();
        f[8 + 15] = 9;
        assert!(matches!(parse(&f), RootState::Unrecognized(_)));
    }

    #[test]
    fn a_copy_is_stale_when_the_attributes_differ_not_the_generation() -> Result<(), TokenError> {
        let dir = tempfile::tempdir().map_err(|e| TokenError::io("tempdir", e))?;
        let d = dir.path();
        let f = root_file();
        fs::write(d.join(ROOT_FILE), &f).map_err(|e| TokenError::io("w", e))?;
        assert_eq!(TokenDir::inspect(d)?.copy, CopyState::Missing);
        save_copy(d)?;
        let mut newer = f.clone();
        newer[7] = 11;
        fs::write(d.join(ROOT_FILE), &newer).map_err(|e| TokenError::io("w", e))?;
        assert_eq!(TokenDir::inspect(d)?.copy, CopyState::Current);
        let mut repinned = newer.clone();
        let last = repinned.len() - 1;
        repinned[last] ^= 1;
        fs::write(d.join(ROOT_FILE), &repinned).map_err(|e| TokenError::io("w", e))?;
        assert_eq!(TokenDir::inspect(d)?.copy, CopyState::Stale);
        fs::write(d.join(ROOT_FILE), b"").map_err(|e| TokenError::io("w", e))?;
        let t = TokenDir::inspect(d)?;
        assert_eq!(
            (t.root.clone(), t.copy, t.restorable()),
            (RootState::Short { len: 0 }, CopyState::Current, true)
        );
        restore_root(d)?;
        assert_eq!(
            fs::read(d.join(ROOT_FILE)).map_err(|e| TokenError::io("r", e))?,
            f
        );
        let mode = fs::metadata(d.join(ROOT_FILE))
            .map_err(|e| TokenError::io("m", e))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        Ok(())
    }
}
