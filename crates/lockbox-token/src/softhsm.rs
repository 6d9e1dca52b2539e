//! SoftHSM for development and tests: a token of Lockbox's own, in a directory of its own.
//!
//! SoftHSM keeps its tokens in the directory its configuration file names, and finds that
//! file through `SOFTHSM2_CONF`, read once when the module initializes. So a Lockbox data
//! directory carries its own `softhsm/softhsm2.conf` and `softhsm/tokens/`, and every process
//! that opens the token runs with `SOFTHSM2_CONF` pointing there ([`ensure_conf_env`]).

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use zeroize::{Zeroize, Zeroizing};

use crate::config::{PinSource, TokenConfig, TokenSelector};
use crate::error::TokenError;
use crate::module::{self, SOFTHSM2_CONF};

pub mod root;

/// Where distributions install the SoftHSM2 module, most likely first.
pub const MODULE_CANDIDATES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/lib/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
];

/// The installed SoftHSM2 module, if any.
pub fn find_module() -> Option<PathBuf> {
    MODULE_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// The configuration file of the SoftHSM directory `dir`.
pub fn conf_path(dir: &Path) -> PathBuf {
    dir.join("softhsm2.conf")
}

/// Creates `dir` (0700) with a `tokens/` directory (0700) and a `softhsm2.conf` (0600) that
/// keeps tokens there. Returns the configuration path. An existing configuration is kept.
pub fn write_conf(dir: &Path) -> Result<PathBuf, TokenError> {
    let tokens = dir.join("tokens");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&tokens)
        .map_err(|e| TokenError::io(format!("creating {}", tokens.display()), e))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| TokenError::io(format!("resolving {}", dir.display()), e))?;
    let conf = conf_path(&dir);
    if conf.exists() {
        return Ok(conf);
    }
    write_private(&conf, conf_text(&dir).as_bytes())?;
    Ok(conf)
}

/// The first line of every `softhsm2.conf` Lockbox writes: only such files are relocated.
const CONF_HEADER: &str = "# SoftHSM2 configuration written by Lockbox for this data directory.";

/// The configuration Lockbox writes for the SoftHSM directory `dir` (absolute): tokens in
/// `dir/tokens`.
fn conf_text(dir: &Path) -> String {
    format!(
        "{CONF_HEADER}\n\
         # Processes that open the token run with SOFTHSM2_CONF={conf}\n\
         directories.tokendir = {tokens}\n\
         objectstore.backend = file\n\
         log.level = ERROR\n\
         slots.removable = false\n",
        conf = conf_path(dir).display(),
        tokens = dir.join("tokens").display(),
    )
}

/// Keeps a Lockbox-written `softhsm2.conf` pointing at the `tokens/` directory beside it.
///
/// SoftHSM needs an absolute `directories.tokendir`, so a data directory that was copied,
/// moved or restored elsewhere carries a configuration naming the *original's* tokens: its
/// processes would use, and change, another directory's token. This rewrites such a file
/// (atomically: a temporary file, fsynced, renamed over it, the directory fsynced) before any
/// module is loaded. Files Lockbox did not write (no Lockbox header) are left alone.
/// Returns whether the file was rewritten.
pub fn relocate_conf(conf: &Path) -> Result<bool, TokenError> {
    let text = match fs::read_to_string(conf) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(TokenError::io(format!("reading {}", conf.display()), e)),
    };
    if text.lines().next() != Some(CONF_HEADER) {
        return Ok(false);
    }
    let dir = conf
        .parent()
        .ok_or_else(|| TokenError::Config(format!("{} has no directory", conf.display())))?
        .canonicalize()
        .map_err(|e| TokenError::io(format!("resolving the directory of {}", conf.display()), e))?;
    let want = conf_text(&dir);
    if text == want {
        return Ok(false);
    }
    let tmp = dir.join(".softhsm2.conf.relocating");
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(TokenError::io(format!("removing {}", tmp.display()), e)),
    }
    write_private(&tmp, want.as_bytes())?;
    let target = conf_path(&dir);
    fs::rename(&tmp, &target)
        .map_err(|e| TokenError::io(format!("replacing {}", target.display()), e))?;
    fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| TokenError::io(format!("syncing {}", dir.display()), e))?;
    Ok(true)
}

/// Initializes a new token labelled `label` in SoftHSM's free slot, with freshly generated
/// SO and user PINs stored 0600 in `so_pin_file` and `user_pin_file` (written before the
/// token is initialized, so a PIN is never lost). Returns a configuration that opens it.
///
/// The process must run with `SOFTHSM2_CONF` = `conf`.
pub fn init_token(
    module_path: &Path,
    conf: &Path,
    label: &str,
    user_pin_file: &Path,
    so_pin_file: &Path,
) -> Result<TokenConfig, TokenError> {
    if label.is_empty() || label.len() > 32 {
        return Err(TokenError::Config(format!(
            "token label '{label}' must be 1 to 32 bytes"
        )));
    }
    let module = module::load(module_path, Some(conf))?;
    let ctx = &module.ctx;
    for slot in ctx.get_slots_with_initialized_token()? {
        if ctx.get_token_info(slot)?.label().trim_end() == label {
            return Err(TokenError::Config(format!(
                "a token labelled '{label}' already exists"
            )));
        }
    }
    let mut free = None;
    for slot in ctx.get_slots_with_token()? {
        if !ctx.get_token_info(slot)?.token_initialized() {
            free = Some(slot);
            break;
        }
    }
    let free = free.ok_or_else(|| {
        TokenError::Config("SoftHSM offers no free slot to initialize a token in".into())
    })?;
    let so_pin = generate_pin()?;
    let user_pin = generate_pin()?;
    write_private(so_pin_file, so_pin.as_bytes())?;
    write_private(user_pin_file, user_pin.as_bytes())?;
    ctx.init_token(free, &AuthPin::new(Box::from(so_pin.as_str())), label)?;
    // Initializing moves the token to a new slot id: find it again, by label.
    let mut slot = None;
    for s in ctx.get_slots_with_initialized_token()? {
        if ctx.get_token_info(s)?.label().trim_end() == label {
            slot = Some(s);
        }
    }
    let slot = slot.ok_or_else(|| TokenError::TokenNotFound(format!("label '{label}'")))?;
    let session = ctx.open_rw_session(slot)?;
    session.login(
        UserType::So,
        Some(&AuthPin::new(Box::from(so_pin.as_str()))),
    )?;
    session.init_pin(&AuthPin::new(Box::from(user_pin.as_str())))?;
    session.logout()?;
    drop(session);
    drop(module);
    // The token is complete: keep the verified copy of its root file from now on.
    root::refresh_copies(conf)?;
    let mut config = TokenConfig::new(
        module_path,
        TokenSelector::Label(label.to_owned()),
        PinSource::File(user_pin_file.to_owned()),
    );
    config.softhsm_conf = Some(conf.to_owned());
    Ok(config)
}

/// Makes sure this process runs with `SOFTHSM2_CONF` = `conf`.
///
/// If it does not, the current program is executed again, with the same arguments and that
/// variable set, replacing this process: Lockbox never changes the environment of a running
/// process (unsound once threads exist). Returns `Ok` only when the variable already matched.
pub fn ensure_conf_env(conf: &Path) -> Result<(), TokenError> {
    const GUARD: &str = "LOCKBOX_SOFTHSM_REEXEC";
    let want = conf.canonicalize().unwrap_or_else(|_| conf.to_owned());
    let have = std::env::var_os(SOFTHSM2_CONF)
        .map(PathBuf::from)
        .map(|p| p.canonicalize().unwrap_or(p));
    if have.as_deref() == Some(want.as_path()) {
        return Ok(());
    }
    if std::env::var_os(GUARD).as_deref() == Some(want.as_os_str()) {
        return Err(TokenError::Config(format!(
            "re-executed with {SOFTHSM2_CONF}={} but the variable still does not match",
            want.display()
        )));
    }
    let exe =
        std::env::current_exe().map_err(|e| TokenError::io("finding the current executable", e))?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let err = Command::new(exe)
        .args(args)
        .env(SOFTHSM2_CONF, &want)
        .env(GUARD, &want)
        .exec();
    Err(TokenError::io(
        format!("re-executing with {SOFTHSM2_CONF}={}", want.display()),
        err,
    ))
}

/// Writes `bytes` to a new file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TokenError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| TokenError::io(format!("creating {}", path.display()), e))?;
    // The mode given to open is filtered by the umask; set it exactly.
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| TokenError::io(format!("setting mode of {}", path.display()), e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| TokenError::io(format!("writing {}", path.display()), e))
}

/// 32 characters from [A-Za-z0-9] (about 190 bits), from the operating system's RNG.
fn generate_pin() -> Result<Zeroizing<String>, TokenError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut pin = Zeroizing::new(String::with_capacity(32));
    let mut byte = [0u8; 1];
    while pin.len() < 32 {
        getrandom::fill(&mut byte)
            .map_err(|e| TokenError::Config(format!("the OS random generator failed: {e}")))?;
        // 248 = 4 * 62: rejecting the rest keeps every character equally likely.
        if byte[0] < 248 {
            pin.push(char::from(ALPHABET[usize::from(byte[0] % 62)]));
        }
    }
    byte.zeroize();
    Ok(pin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copied_configuration_is_pointed_at_its_own_tokens_once() {
        let tmp = tempfile::tempdir().unwrap();
        let original = tmp.path().join("a/softhsm");
        let conf = write_conf(&original).unwrap();
        let copy = tmp.path().join("b/softhsm");
        fs::create_dir_all(copy.join("tokens")).unwrap();
        let copied = conf_path(&copy);
        fs::copy(&conf, &copied).unwrap();

        assert!(relocate_conf(&copied).unwrap());
        let text = fs::read_to_string(&copied).unwrap();
        let copy = copy.canonicalize().unwrap();
        assert_eq!(text, conf_text(&copy));
        assert!(text.contains(&format!(
            "directories.tokendir = {}\n",
            copy.join("tokens").display()
        )));
        assert_eq!(
            fs::metadata(&copied).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(
            !relocate_conf(&copied).unwrap(),
            "a second load rewrites nothing"
        );
        assert!(
            !relocate_conf(&conf).unwrap(),
            "the original is already right"
        );
        assert!(!copy.join(".softhsm2.conf.relocating").exists());

        // A configuration Lockbox did not write is never touched.
        let foreign = tmp.path().join("foreign.conf");
        fs::write(&foreign, "directories.tokendir = /elsewhere\n").unwrap();
        assert!(!relocate_conf(&foreign).unwrap());
        assert_eq!(
            fs::read_to_string(&foreign).unwrap(),
            "directories.tokendir = /elsewhere\n"
        );
        assert!(!relocate_conf(&tmp.path().join("missing.conf")).unwrap());
    }
}
