//! What the token layer needs to know: which module, which token, where the PIN comes from.

use std::fmt;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::error::TokenError;

/// Everything needed to open a token. Building one does no I/O; `Token::open` uses it.
#[derive(Clone, Debug)]
pub struct TokenConfig {
    /// Path of the PKCS#11 module (`.so`).
    pub module: PathBuf,
    /// Which token to use. Never a slot index: slot ids change when tokens are initialized.
    pub token: TokenSelector,
    /// Where the user PIN comes from. Never the command line.
    pub pin: PinSource,
    /// Namespace of the objects this Lockbox instance owns: their labels start with
    /// `<prefix>/`. Two instances sharing one token partition need different prefixes.
    pub label_prefix: String,
    /// Who makes AES-GCM IVs on this token.
    pub iv_generation: IvGeneration,
    /// For SoftHSM: the configuration file this token lives under. SoftHSM reads it from
    /// `SOFTHSM2_CONF` when the module initializes, so opening fails unless the process
    /// environment names this file (see `softhsm::ensure_conf_env`).
    pub softhsm_conf: Option<PathBuf>,
    /// Idle sessions kept open for reuse (beyond the always-open anchor session).
    pub max_idle_sessions: usize,
    /// How long a lookup keeps searching for an object it does not find before reporting
    /// it missing ([`TokenError::ObjectNotFound`]). Several Lockbox nodes share one token:
    /// a node uses keys another node created, and a network HSM cluster may show a new
    /// object on one member only some time after another member created it.
    pub replication_wait: Duration,
    /// Whether new AES and HMAC keys are made copyable, and operations use a session-object
    /// copy of a copyable key (see docs/operations.md and decision 0036). Off here; the
    /// engine's configuration turns it on by default for a SoftHSM token.
    pub session_copies: bool,
    /// The most session copies alive at once; the least recently used is destroyed to make
    /// room. HSMs limit session objects per session or per partition.
    pub max_session_copies: usize,
}

impl TokenConfig {
    /// A configuration with the defaults for everything but module, token and PIN.
    pub fn new(module: impl Into<PathBuf>, token: TokenSelector, pin: PinSource) -> Self {
        TokenConfig {
            module: module.into(),
            token,
            pin,
            label_prefix: DEFAULT_LABEL_PREFIX.to_owned(),
            iv_generation: IvGeneration::Host,
            softhsm_conf: None,
            max_idle_sessions: 32,
            replication_wait: DEFAULT_REPLICATION_WAIT,
            session_copies: false,
            max_session_copies: DEFAULT_MAX_SESSION_COPIES,
        }
    }
}

/// How long a lookup waits for an object to appear when none is configured (2 s). Raise it
/// to the replication delay of the HSM cluster in use (see docs/operations.md).
pub const DEFAULT_REPLICATION_WAIT: Duration = Duration::from_secs(2);

/// How many session copies live at once when no bound is configured.
pub const DEFAULT_MAX_SESSION_COPIES: usize = 4096;

/// The label prefix used when none is configured.
pub const DEFAULT_LABEL_PREFIX: &str = "lockbox";

/// How to find the token among the module's slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSelector {
    /// The token whose label is exactly this (labels are padded to 32 bytes on the token).
    Label(String),
    /// The token whose serial number is exactly this.
    Serial(String),
}

impl fmt::Display for TokenSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSelector::Label(l) => write!(f, "label '{l}'"),
            TokenSelector::Serial(s) => write!(f, "serial '{s}'"),
        }
    }
}

/// Where the user PIN is read from, at open and at every re-login. It names a variable or a
/// file, never holds the PIN, so it may print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinSource {
    /// An environment variable of this name.
    Env(String),
    /// A file readable by its owner only (mode 0600 or stricter); one trailing newline is
    /// ignored.
    File(PathBuf),
}

/// Who makes the 96-bit IV of each AES-GCM encryption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IvGeneration {
    /// Lockbox draws the IV from the token's RNG and passes it in (SoftHSM, most HSMs).
    Host,
    /// The token generates the IV and writes it back into the parameter block (as CloudHSM
    /// does). Lockbox checks that it did, and refuses to encrypt if the IV came back unchanged.
    Token,
}

/// A PIN. It does not print, and it is zeroized on drop.
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// Wraps a PIN held in memory (the caller should have read it from a safe place).
    pub fn new(pin: String) -> Self {
        Pin(Zeroizing::new(pin))
    }

    /// Reads the PIN from its source.
    pub fn read(source: &PinSource) -> Result<Self, TokenError> {
        match source {
            PinSource::Env(var) => {
                let missing =
                    || TokenError::Config(format!("the PIN environment variable {var} is not set"));
                let value = std::env::var_os(var).ok_or_else(missing)?;
                // Moved, not copied; a value that is not UTF-8 is wiped before it is dropped.
                let bytes = Zeroizing::new(std::os::unix::ffi::OsStringExt::into_vec(value));
                match std::str::from_utf8(&bytes) {
                    Ok("") => Err(missing()),
                    Ok(text) => {
                        let mut pin = String::with_capacity(text.len());
                        pin.push_str(text);
                        Ok(Pin::new(pin))
                    }
                    Err(_) => Err(TokenError::Config(format!(
                        "the PIN environment variable {var} is not UTF-8"
                    ))),
                }
            }
            PinSource::File(path) => read_pin_file(path),
        }
    }

    /// The PIN text. Call it at the last moment.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// True if both PINs are the same (compared without early exit).
    pub fn matches(&self, other: &Pin) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

fn read_pin_file(path: &Path) -> Result<Pin, TokenError> {
    let cannot = |what: &str, e: std::io::Error| {
        TokenError::Config(format!("cannot {what} PIN file {}: {e}", path.display()))
    };
    let mut file = fs::File::open(path).map_err(|e| cannot("open", e))?;
    let mode = file
        .metadata()
        .map_err(|e| cannot("inspect", e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(TokenError::Config(format!(
            "PIN file {} is readable by others (mode {:o}); make it 0600",
            path.display(),
            mode & 0o777
        )));
    }
    // One byte more than the limit, allocated up front: reading never reallocates (which
    // would leave a copy behind), and an over-long file is noticed rather than cut short.
    const MAX_PIN_FILE: usize = 1024;
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_PIN_FILE + 1));
    (&mut file)
        .take(MAX_PIN_FILE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot("read", e))?;
    if bytes.len() > MAX_PIN_FILE {
        return Err(TokenError::Config(format!(
            "PIN file {} is longer than {MAX_PIN_FILE} bytes",
            path.display()
        )));
    }
    let mut end = bytes.len();
    if bytes[..end].ends_with(b"\n") {
        end -= 1;
        if bytes[..end].ends_with(b"\r") {
            end -= 1;
        }
    }
    let text = std::str::from_utf8(&bytes[..end])
        .map_err(|_| TokenError::Config(format!("PIN file {} is not UTF-8", path.display())))?;
    if text.is_empty() {
        return Err(TokenError::Config(format!(
            "PIN file {} is empty",
            path.display()
        )));
    }
    let mut pin = String::with_capacity(text.len());
    pin.push_str(text);
    Ok(Pin::new(pin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pin_file(mode: u32, content: &[u8]) -> Result<(tempfile::TempDir, PathBuf), std::io::Error> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("pin");
        let mut f = fs::File::create(&path)?;
        f.write_all(content)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        Ok((dir, path))
    }

    #[test]
    fn pin_file_must_be_private() -> Result<(), Box<dyn std::error::Error>> {
        let (_d, path) = pin_file(0o644, b"1234\n")?;
        let err = Pin::read(&PinSource::File(path))
            .err()
            .ok_or("accepted 0644")?;
        assert!(err.to_string().contains("readable by others"), "{err}");
        let (_d, path) = pin_file(0o600, b"1234\r\n")?;
        assert_eq!(Pin::read(&PinSource::File(path))?.expose_secret(), "1234");
        let (_d, path) = pin_file(0o400, b"")?;
        assert!(Pin::read(&PinSource::File(path)).is_err());
        Ok(())
    }

    #[test]
    fn missing_env_pin_names_the_variable_not_a_value() {
        let err = Pin::read(&PinSource::Env("LOCKBOX_TEST_SURELY_UNSET_PIN".into()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("LOCKBOX_TEST_SURELY_UNSET_PIN"), "{err}");
    }
}
