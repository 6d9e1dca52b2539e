//! The data directory, and opening the engine on it.
//!
//! `$LOCKBOX_HOME`, else `$XDG_DATA_HOME/lockbox`, else `~/.local/share/lockbox`. If it has
//! no `lockbox.toml` yet and SoftHSM is installed, the first command provisions it with a
//! SoftHSM token of its own.

use std::io::Write;
use std::path::{Path, PathBuf};

use lockbox::api::{Caller, Principal};
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

/// Opens the engine on `dir`, provisioning a SoftHSM token there on first use. This may
/// re-execute the command with `SOFTHSM2_CONF` set (see `Config::load_or_provision`).
pub(crate) fn open_engine(dir: &Path) -> Result<Engine, CliError> {
    let (config, provisioned) = Config::load_or_provision(dir)?;
    if provisioned && tracing::dispatcher::has_been_set() {
        // `serve`, whose stderr is its log (maybe JSON lines): the note is a log event.
        tracing::info!(data_dir = %dir.display(), "provisioned with a new SoftHSM token (first use)");
    } else if provisioned {
        let _ = writeln!(std::io::stderr(), "{}", provisioned_note(dir));
    }
    Ok(Engine::open(config)?)
}

/// What the first command on a new data directory says (once: later commands find it
/// provisioned). When no `LOCKBOX_HOME` chose the directory, the note says which default
/// did and how to choose another, so that a user who forgot it is not left wondering why
/// their keys and aliases are "not found".
fn provisioned_note(dir: &Path) -> String {
    let chosen_by_home = std::env::var_os("LOCKBOX_HOME").is_some_and(|d| !d.is_empty());
    if chosen_by_home {
        return format!(
            "lockbox: provisioned {} with a new SoftHSM token (first use)",
            dir.display()
        );
    }
    let default = if std::env::var_os("XDG_DATA_HOME").is_some_and(|d| !d.is_empty()) {
        "$XDG_DATA_HOME/lockbox"
    } else {
        "~/.local/share/lockbox"
    };
    format!(
        "lockbox: provisioned {} with a new SoftHSM token (first use): LOCKBOX_HOME is not \
         set, so the default data directory ({default}) was used; set LOCKBOX_HOME to use \
         another",
        dir.display()
    )
}

/// Who this command acts as: `$LOCKBOX_CALLER` (a principal ARN) if set, else the data
/// directory's configured default caller (`[caller] principal`, else the account root).
pub(crate) fn caller(engine: &Engine, region: Option<&str>) -> Result<Caller, CliError> {
    let caller = match std::env::var("LOCKBOX_CALLER") {
        Ok(arn) if !arn.is_empty() => Principal::parse(&arn)
            .map(|p| Caller::new(p).with_source("cli"))
            .map_err(|e| CliError::Setup(format!("LOCKBOX_CALLER: {}", e.message())))?,
        _ => engine.default_caller("cli"),
    };
    Ok(match region {
        Some(r) => caller.with_region(r),
        None => caller,
    })
}

/// The Region local commands act in, as the AWS CLI chooses it: `--region`, else
/// `$AWS_REGION`, else `$AWS_DEFAULT_REGION`; `None`: the data directory's `[arn] region`.
/// The engine refuses a Region it does not serve, naming those it does.
pub(crate) fn region(flag: Option<&str>) -> Option<String> {
    if let Some(r) = flag {
        return Some(r.to_owned());
    }
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()))
}
