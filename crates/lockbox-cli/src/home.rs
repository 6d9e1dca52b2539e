//! The data directory, and opening the engine on it.
//!
//! `$LOCKBOX_HOME`, else `$XDG_DATA_HOME/lockbox`, else `~/.local/share/lockbox`. If it has
//! no `lockbox.toml` yet and SoftHSM is installed, the first command provisions it with a
//! SoftHSM token of its own.

use std::path::{Path, PathBuf};

use lockbox::token::softhsm;
use lockbox::{Config, Engine};

use crate::error::CliError;

/// The data directory, as an absolute path.
pub(crate) fn data_dir() -> Result<PathBuf, CliError> {
    let dir = if let Some(d) = std::env::var_os("LOCKBOX_HOME").filter(|d| !d.is_empty()) {
        PathBuf::from(d)
    } else if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        PathBuf::from(d).join("lockbox")
    } else if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        PathBuf::from(h).join(".local/share/lockbox")
    } else {
        return Err(CliError::Setup(
            "set LOCKBOX_HOME to the data directory (HOME is not set either)".into(),
        ));
    };
    std::path::absolute(&dir)
        .map_err(|e| CliError::Setup(format!("cannot resolve {}: {e}", dir.display())))
}

/// Opens the engine on `dir`, provisioning a SoftHSM token there on first use.
///
/// A SoftHSM token needs `SOFTHSM2_CONF` to name its configuration when the process starts;
/// if it does not, this re-executes the command with it set (the process is replaced).
pub(crate) fn open_engine(dir: &Path) -> Result<Engine, CliError> {
    let config = if Config::exists(dir) {
        let config = Config::load(dir)?;
        if let Some(conf) = &config.token.softhsm_conf {
            softhsm::ensure_conf_env(conf).map_err(lockbox::Error::from)?;
        }
        config
    } else {
        if softhsm::find_module().is_none() {
            return Err(CliError::Setup(format!(
                "{} has no {} and SoftHSM2 is not installed: install it (Debian/Ubuntu: \
                 apt-get install -y softhsm2) for a development token, or write {} to point \
                 Lockbox at your HSM (see README.md)",
                dir.display(),
                lockbox::CONFIG_FILE,
                dir.join(lockbox::CONFIG_FILE).display(),
            )));
        }
        softhsm::ensure_conf_env(&Config::softhsm_conf_path(dir)).map_err(lockbox::Error::from)?;
        eprintln!(
            "lockbox: provisioning {} with a new SoftHSM token (first use)",
            dir.display()
        );
        Config::provision_softhsm(dir)?
    };
    Ok(Engine::open(config)?)
}
