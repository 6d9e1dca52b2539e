//! PKCS#11 modules are process-wide: each is loaded and initialized once, and shared by every
//! `Token` opened on it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use parking_lot::Mutex;

use crate::config::PinSource;
use crate::error::TokenError;
use crate::ffi::RawCalls;

/// A loaded, initialized module.
pub(crate) struct Module {
    pub(crate) ctx: Pkcs11,
    pub(crate) raw: RawCalls,
    path: PathBuf,
    // Which PIN source logged this process in to each slot (login is per process).
    logins: Mutex<HashMap<u64, PinSource>>,
}

impl Module {
    pub(crate) fn record_login(&self, slot: u64, source: &PinSource) {
        self.logins.lock().insert(slot, source.clone());
    }

    pub(crate) fn login_source(&self, slot: u64) -> Option<PinSource> {
        self.logins.lock().get(&slot).cloned()
    }
}

static MODULES: Mutex<Vec<Arc<Module>>> = parking_lot::const_mutex(Vec::new());

/// The environment variable SoftHSM reads its configuration path from.
pub const SOFTHSM2_CONF: &str = "SOFTHSM2_CONF";

/// Returns the module at `path`, loading and initializing it on first use.
///
/// C_Initialize gets CKF_OS_LOCKING_OK: without it SoftHSM turns its own locking off, and
/// the engine calls the module from many threads. A module someone else in this process
/// already initialized is shared, not an error.
pub(crate) fn load(path: &Path, softhsm_conf: Option<&Path>) -> Result<Arc<Module>, TokenError> {
    if let Some(conf) = softhsm_conf {
        // SoftHSM reads its configuration at C_Initialize: a copied data directory's must name
        // its own tokens by then (embedders may never call `Config::load_or_provision`).
        crate::softhsm::relocate_conf(conf)?;
        check_softhsm_env(conf)?;
    }
    let mut modules = MODULES.lock();
    if let Some(m) = modules.iter().find(|m| m.path == path) {
        return Ok(Arc::clone(m));
    }
    let module_err = |reason: String| TokenError::Module {
        module: path.display().to_string(),
        reason,
    };
    if !path.exists() {
        return Err(module_err("no such file".into()));
    }
    let ctx = Pkcs11::new(path).map_err(|e| module_err(e.to_string()))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => {}
        Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {
            tracing::warn!(module = %path.display(),
                "the module was already initialized by other code in this process; if that \
                 code did not ask for OS locking, the module may not be thread-safe");
        }
        Err(e) => return Err(module_err(format!("C_Initialize: {e}"))),
    }
    let raw = RawCalls::load(path)?;
    let module = Arc::new(Module {
        ctx,
        raw,
        path: path.to_owned(),
        logins: Mutex::new(HashMap::new()),
    });
    modules.push(Arc::clone(&module));
    Ok(module)
}

/// Initializes the module again after it was finalized behind our back. "Already
/// initialized" is success: someone (another thread's recovery, or the code that finalized
/// it) got there first.
pub(crate) fn reinitialize(module: &Module) -> Result<(), TokenError> {
    match module
        .ctx
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
    {
        Ok(()) => {
            tracing::warn!(module = %module.path.display(), "PKCS#11 module initialized again");
            Ok(())
        }
        Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// SoftHSM reads `SOFTHSM2_CONF` once, in C_Initialize. Lockbox never changes the process
/// environment (that is unsound once threads run), so it checks instead and says what to do.
fn check_softhsm_env(conf: &Path) -> Result<(), TokenError> {
    let want = conf.canonicalize().unwrap_or_else(|_| conf.to_owned());
    let have = std::env::var_os(SOFTHSM2_CONF).map(PathBuf::from);
    let have_canon = have
        .as_ref()
        .map(|h| h.canonicalize().unwrap_or_else(|_| h.clone()));
    if have_canon.as_deref() == Some(want.as_path()) {
        return Ok(());
    }
    Err(TokenError::Config(format!(
        "this SoftHSM token is configured by {}, but {SOFTHSM2_CONF} is {}; SoftHSM reads \
         that variable when it starts, so start the process with {SOFTHSM2_CONF}={}",
        conf.display(),
        have.map(|h| format!("'{}'", h.display()))
            .unwrap_or_else(|| "not set".into()),
        conf.display()
    )))
}
