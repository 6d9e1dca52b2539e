//! The start-up crash states of a data directory, found without opening anything.
//!
//! `lockbox doctor` names them before anything repairs them (opening an engine repairs the
//! safe ones by itself: it restores a cut-short token root file from its copy, removes
//! incomplete sled snapshots, refreshes the copy after login, and the store tightens
//! modes). The caller holds the data directory's lock while it looks.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use lockbox_token::softhsm::root::{self, CopyState, RootState, TokenDir};

use crate::config::{CONFIG_FILE, Config, SO_PIN_FILE, SOFTHSM_DIR, USER_PIN_FILE};
use crate::error::Error;

/// One crash state (or wrong setting) of a data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// The token's root file is missing or cut short. `copy` says whether it can be
    /// restored (`Current` or `Stale`: yes).
    RootBroken {
        /// The token directory.
        dir: PathBuf,
        /// What the root file is.
        root: RootState,
        /// What Lockbox's copy is.
        copy: CopyState,
    },
    /// The token's root file is in a layout Lockbox does not know; it is left alone.
    RootUnrecognized {
        /// The root file.
        file: PathBuf,
        /// What did not parse.
        reason: String,
    },
    /// The root file is complete but Lockbox's copy of it is missing, incomplete or stale.
    CopyNotCurrent {
        /// The token directory.
        dir: PathBuf,
        /// What the copy is.
        copy: CopyState,
    },
    /// A sled snapshot a kill interrupted (`snap.<lsn>.generating`).
    IncompleteSnapshot {
        /// The file.
        file: PathBuf,
    },
    /// A file or directory others may read, write or enter.
    Mode {
        /// The path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// True for a directory.
        dir: bool,
    },
}

impl Finding {
    /// True when `lockbox doctor --repair` (opening the directory) repairs it safely.
    pub fn safe_to_repair(&self) -> bool {
        match self {
            Finding::RootBroken { copy, .. } => {
                matches!(copy, CopyState::Current | CopyState::Stale)
            }
            Finding::RootUnrecognized { .. } => false,
            Finding::CopyNotCurrent { .. }
            | Finding::IncompleteSnapshot { .. }
            | Finding::Mode { .. } => true,
        }
    }
}

/// What a data directory without `lockbox.toml` holds of a provisioning that did not finish
/// (PIN files, the SoftHSM directory), if anything.
pub fn half_provisioned(data_dir: &Path) -> Vec<&'static str> {
    if data_dir.join(CONFIG_FILE).exists() {
        return Vec::new();
    }
    [USER_PIN_FILE, SO_PIN_FILE, SOFTHSM_DIR]
        .into_iter()
        .filter(|f| data_dir.join(f).exists())
        .collect()
}

/// Every start-up crash state of the data directory of `config`, in a fixed order: the
/// token's root files, the store's snapshots, then modes. The caller holds its lock.
pub fn diagnose(config: &Config) -> Result<Vec<Finding>, Error> {
    let mut found = Vec::new();
    if let Some(conf) = &config.token.softhsm_conf {
        // Another Lockbox process sharing the token could be mid-login: its root file would
        // read as empty for a moment.
        let _guard = root::RootGuard::acquire(conf)?;
        for dir in root::token_dirs(conf)? {
            let t = TokenDir::inspect(&dir)?;
            match t.root {
                RootState::Complete if t.copy != CopyState::Current => {
                    found.push(Finding::CopyNotCurrent {
                        dir: t.dir,
                        copy: t.copy,
                    });
                }
                RootState::Complete => {}
                RootState::Unrecognized(reason) => found.push(Finding::RootUnrecognized {
                    file: t.dir.join(root::ROOT_FILE),
                    reason,
                }),
                RootState::Missing | RootState::Short { .. } => found.push(Finding::RootBroken {
                    dir: t.dir,
                    root: t.root,
                    copy: t.copy,
                }),
            }
        }
    }
    let snapshots = lockbox_store::incomplete_snapshots(&config.data_dir.join("metadata"))?;
    let mut open = Vec::new();
    modes(&config.data_dir, &mut open)?;
    // An incomplete snapshot is removed, not tightened: named once, as what it is.
    open.retain(|f| !matches!(f, Finding::Mode { path, .. } if snapshots.contains(path)));
    found.extend(
        snapshots
            .into_iter()
            .map(|file| Finding::IncompleteSnapshot { file }),
    );
    found.extend(open);
    Ok(found)
}

/// Takes group and other permissions off every path a [`Finding::Mode`] names.
pub fn tighten(findings: &[Finding]) -> Result<(), Error> {
    for f in findings {
        if let Finding::Mode { path, mode, .. } = f {
            fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o700)).map_err(|e| {
                Error::Config(format!("cannot set the mode of {}: {e}", path.display()))
            })?;
        }
    }
    Ok(())
}

fn modes(dir: &Path, found: &mut Vec<Finding>) -> Result<(), Error> {
    let fail =
        |p: &Path, e: std::io::Error| Error::Config(format!("cannot inspect {}: {e}", p.display()));
    let meta = fs::symlink_metadata(dir).map_err(|e| fail(dir, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        found.push(Finding::Mode {
            path: dir.to_owned(),
            mode,
            dir: true,
        });
    }
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| fail(dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| fail(dir, e))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let ty = entry.file_type().map_err(|e| fail(&path, e))?;
        if ty.is_dir() {
            modes(&path, found)?;
        } else if ty.is_file() {
            let mode = entry
                .metadata()
                .map_err(|e| fail(&path, e))?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                found.push(Finding::Mode {
                    path,
                    mode,
                    dir: false,
                });
            }
        }
    }
    Ok(())
}
