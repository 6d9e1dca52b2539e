//! Throwaway SoftHSM tokens for tests, one per test, each in a process of its own.
//!
//! SoftHSM reads `SOFTHSM2_CONF` once per process, so tests in one test binary cannot each
//! have their own configuration and token directory in-process. [`run_isolated`] therefore
//! runs the test body in a child: the parent creates a temporary directory and a SoftHSM
//! configuration in it, re-runs the current test binary for exactly this test with
//! `SOFTHSM2_CONF` set, and removes the directory when the child is done. The child
//! initializes a fresh token there and runs the body. Tests run in parallel and leave
//! nothing behind; the same works under `cargo test` and `cargo nextest`.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

use crate::config::{Pin, TokenConfig, TokenSelector};
use crate::error::TokenError;
use crate::module::SOFTHSM2_CONF;
use crate::softhsm;
use crate::token::Token;

/// cryptoki, for tests that talk to the token directly beside the code under test.
pub use cryptoki;

mod python;
pub use python::{python_with_cryptography, run_python};

/// The result type of a test body.
pub type TestResult = Result<(), Box<dyn Error>>;

/// Set in the child: the directory the parent made for it.
const CHILD_DIR_ENV: &str = "LOCKBOX_TEST_TOKEN_DIR";

/// The label of every test token.
pub const TEST_TOKEN_LABEL: &str = "lockbox-test";

/// A freshly initialized SoftHSM token, private to one test.
pub struct TestToken {
    dir: PathBuf,
    config: TokenConfig,
}

impl TestToken {
    /// The test's private directory (the token lives under `softhsm/`; the rest is free).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A configuration that opens the token.
    pub fn config(&self) -> TokenConfig {
        self.config.clone()
    }

    /// Opens the token.
    pub fn open(&self) -> Result<Token, TokenError> {
        Token::open(&self.config)
    }

    /// Creates an AES key object with a known `value` (for test vectors) as a token object
    /// with `id` and `label`. Unlike Lockbox's own keys it is not sensitive: a test key.
    pub fn import_known_aes_key(
        &self,
        value: &[u8],
        id: [u8; 16],
        label: &str,
    ) -> Result<(), Box<dyn Error>> {
        use cryptoki::object::{Attribute, KeyType, ObjectClass};
        self.raw_session()?.create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Value(value.to_vec()),
            Attribute::Id(id.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
        ])?;
        Ok(())
    }

    /// Creates a generic-secret key object with a known `value` that computes and checks
    /// HMACs (for test vectors, such as RFC 4231's) as a token object with `id` and `label`.
    /// Like [`TestToken::import_known_aes_key`], not sensitive: a test key.
    pub fn import_known_hmac_key(
        &self,
        value: &[u8],
        id: [u8; 16],
        label: &str,
    ) -> Result<(), Box<dyn Error>> {
        use cryptoki::object::{Attribute, KeyType, ObjectClass};
        self.raw_session()?.create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sign(true),
            Attribute::Verify(true),
            Attribute::Value(value.to_vec()),
            Attribute::Id(id.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
        ])?;
        Ok(())
    }

    /// A session on the token through a cryptoki context of the test's own, logged in as
    /// the user: tests ask the token directly with it, not through the code under test.
    pub fn raw_session(&self) -> Result<Session, Box<dyn Error>> {
        raw_session(&self.config)
    }
}

/// A logged-in session on the token `config` names, through a cryptoki context of the
/// caller's own (the module is shared with any `Token` in the process).
pub fn raw_session(config: &TokenConfig) -> Result<Session, Box<dyn Error>> {
    let ctx = Pkcs11::new(&config.module)?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(e.into()),
    }
    let TokenSelector::Label(label) = &config.token else {
        return Err("raw_session finds tokens by label".into());
    };
    let mut slot = None;
    for s in ctx.get_slots_with_initialized_token()? {
        if ctx.get_token_info(s)?.label().trim_end() == label {
            slot = Some(s);
        }
    }
    let session = ctx.open_rw_session(slot.ok_or("test token not found")?)?;
    let pin = Pin::read(&config.pin)?;
    match session.login(
        UserType::User,
        Some(&AuthPin::new(Box::from(pin.expose_secret()))),
    ) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(e) => Err(e.into()),
    }
}

/// Runs `body` against a throwaway token in a child process (see the module docs).
///
/// `module_path` and `name` locate the test (`module_path!()` and the function name) so the
/// child runs exactly it. Panics, as a test should, when the child fails or runs no test:
/// this is test-harness code, and a panic is how libtest is told a test failed.
pub fn run_isolated(module_path: &str, name: &str, body: impl FnOnce(&TestToken) -> TestResult) {
    if let Some(dir) = std::env::var_os(CHILD_DIR_ENV) {
        let token = match provision(Path::new(&dir)) {
            Ok(t) => t,
            Err(e) => panic!("could not provision the test token: {e}"),
        };
        if let Err(e) = body(&token) {
            panic!("{e}");
        }
        return;
    }
    if let Err(e) = run_child(module_path, name) {
        panic!("{e}");
    }
}

fn run_child(module_path: &str, name: &str) -> TestResult {
    // Test names are module paths without the crate name.
    let test = match module_path.split_once("::") {
        Some((_, rest)) => format!("{rest}::{name}"),
        None => name.to_owned(),
    };
    let dir = tempfile::Builder::new().prefix("lockbox-test-").tempdir()?;
    let conf = softhsm::write_conf(&dir.path().join("softhsm"))?;
    let out = Command::new(std::env::current_exe()?)
        .args([test.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir.path())
        .env(SOFTHSM2_CONF, &conf)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stdout.contains("1 passed") {
        return Err(format!(
            "test {test} failed in its token process ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status
        )
        .into());
    }
    Ok(())
}

fn provision(dir: &Path) -> Result<TestToken, Box<dyn Error>> {
    let module = softhsm::find_module()
        .ok_or("SoftHSM2 is not installed (on Debian/Ubuntu: apt-get install -y softhsm2)")?;
    let conf = softhsm::conf_path(&dir.join("softhsm").canonicalize()?);
    let config = softhsm::init_token(
        &module,
        &conf,
        TEST_TOKEN_LABEL,
        &dir.join("user.pin"),
        &dir.join("so.pin"),
    )?;
    Ok(TestToken {
        dir: dir.to_owned(),
        config,
    })
}

/// Defines a `#[test]` whose body runs against its own throwaway SoftHSM token.
///
/// ```ignore
/// lockbox_token::token_test!(fn generates_keys(t) {
///     let token = t.open()?;
///     token.generate_key(&lockbox_token::SecretKeyTemplate::aes_256_encrypt_decrypt(), "k/1")?;
///     Ok(())
/// });
/// ```
#[macro_export]
macro_rules! token_test {
    ($(#[$meta:meta])* fn $name:ident($token:ident) $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            $crate::testing::run_isolated(
                module_path!(),
                stringify!($name),
                |$token: &$crate::testing::TestToken| -> $crate::testing::TestResult { $body },
            );
        }
    };
}
