//! What the tests that run Python AWS clients against `lockbox serve` share
//! (tests/aws_clients.rs, tests/esdk_python.rs): the pinned virtualenv, the on-purpose skip,
//! and a server on a throwaway token with a fresh credential, whose clients run with a
//! cleared environment.
//!
//! The clients come from PyPI, pinned in `tests/clients/requirements.txt`, into a virtualenv
//! under the cargo target directory (`$CARGO_TARGET_TMPDIR/aws-clients-venv`), made with
//! `python3 -m venv` and reused while its recorded requirements match the file. Python 3 with
//! venv and pip, and access to PyPI for the first run, are therefore needed: without them
//! the tests fail, saying what is missing. To skip them on purpose (a machine without Python
//! or network), set `LOCKBOX_SKIP_AWS_CLIENTS=1`; the skip is printed on standard error, past
//! the test harness's capture, and is refused when `CI` is set, so CI always runs them.
//!
//! Secrets stay out of argv: the clients get the endpoint and the credential in their
//! environment, which is cleared of everything else (no `~/.aws`, no profile, no proxy).
// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::error::Error;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use lockbox::{Config, Engine};
use lockbox_client::http_client::HttpTransport;
use lockbox_client::remote::RemoteKms;
use lockbox_server::credentials::{CredentialStore, NewCredential, SecretKey};
use lockbox_server::server::{Server, ServerConfig, ServerHandle};
use lockbox_token::testing::{TestResult, TestToken};

/// Set to `1` to skip these tests on purpose (refused under `CI`).
pub(crate) const SKIP_ENV: &str = "LOCKBOX_SKIP_AWS_CLIENTS";

/// The pinned clients; the virtualenv is rebuilt whenever this text changes.
const REQUIREMENTS: &str = include_str!("../clients/requirements.txt");

/// True when the skip was asked for (and allowed): says so, naming `test`, where it cannot
/// be missed.
pub(crate) fn skip_requested(test: &str) -> bool {
    if std::env::var_os(SKIP_ENV).is_none_or(|v| v.is_empty() || v == "0") {
        return false;
    }
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") {
        panic!("{SKIP_ENV} is set, but CI must run the AWS clients tests: unset it");
    }
    // Straight to the process's stderr: libtest captures `eprintln!` of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED {test}: {SKIP_ENV} is set. The Python AWS clients were NOT run against \
         the server. ***\n"
    );
    true
}

/// A test that needs the pinned Python clients: skipped when asked (never under CI), else
/// the virtualenv is made in this process, then `body` runs against a throwaway token in a
/// child process (`run_isolated`).
pub(crate) fn run_with_python_clients(
    module_path: &str,
    name: &str,
    body: impl FnOnce(&TestToken) -> TestResult,
) {
    if skip_requested(name) {
        return;
    }
    python_env_or_panic();
    lockbox_token::testing::run_isolated(module_path, name, body);
}

/// `python_env`, or a panic that says what is missing and how to skip on purpose. Called in
/// the test's own process before the token child starts, so that a failure to build the
/// virtualenv is reported as itself.
pub(crate) fn python_env_or_panic() {
    if let Err(e) = python_env() {
        panic!(
            "could not set up the AWS clients (Python 3 with venv and pip, and PyPI): {e}\n\
             Set {SKIP_ENV}=1 to skip this test on purpose where they cannot be had."
        );
    }
}

/// The virtualenv holding the pinned clients: reused when its recorded requirements match,
/// else (re)built. A lock file serializes concurrent builders in one target directory.
pub(crate) fn python_env() -> Result<PathBuf, Box<dyn Error>> {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let venv = root.join("aws-clients-venv");
    let stamp = venv.join("lockbox-requirements.txt");
    let lock = fs::File::create(root.join("aws-clients-venv.lock"))?;
    lock.lock()?;
    if fs::read_to_string(&stamp).is_ok_and(|s| s == REQUIREMENTS) && venv.join("bin/aws").exists()
    {
        return Ok(venv);
    }
    if venv.exists() {
        fs::remove_dir_all(&venv)?;
    }
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-input",
            "--disable-pip-version-check",
            // Wheels only: what was pinned is what runs, with no compiler and no build step.
            "--only-binary",
            ":all:",
            "--requirement",
        ])
        .arg(clients_dir().join("requirements.txt")))?;
    // Last, so that an interrupted build is redone rather than reused.
    fs::write(&stamp, REQUIREMENTS)?;
    Ok(venv)
}

/// tests/clients: the scripts the tests run.
pub(crate) fn clients_dir() -> PathBuf {
    // The workspace's `tests/clients`, whichever crate's tests include this file (the
    // `lockbox-tests` crate is `tests/`; `lockbox-cli`'s tests include it by path).
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|d| d.join("tests/clients"))
        .find(|c| c.join("requirements.txt").is_file())
        .unwrap_or_else(|| manifest.join("clients"))
}

/// A `lockbox serve` on 127.0.0.1 over the test's throwaway token, with one fresh credential
/// for the engine's default caller, and the virtualenv to run clients from.
pub(crate) struct TestServer {
    engine: Arc<Engine>,
    server: ServerHandle,
    credential: NewCredential,
    endpoint: String,
    region: String,
    venv: PathBuf,
    home: PathBuf,
    tmp: PathBuf,
}

impl TestServer {
    /// Opens an engine on `t`'s token and serves it on an ephemeral port.
    pub(crate) fn start(t: &TestToken) -> Result<TestServer, Box<dyn Error>> {
        let venv = python_env()?;
        let engine = Arc::new(Engine::open(Config::new(t.dir().join("data"), t.config()))?);
        let region = engine.arn_scope().region().to_owned();
        let principal = engine.default_caller("test").principal().clone();
        let credentials_file = t.dir().join("credentials.toml");
        let credential = CredentialStore::create(&credentials_file, &principal)?;
        let server = Server::start(
            Arc::clone(&engine),
            CredentialStore::load(&credentials_file)?,
            ServerConfig {
                listen: "127.0.0.1:0".parse()?,
                ..ServerConfig::default()
            },
        )?;
        let endpoint = format!("http://{}", server.local_addr());
        let home = t.dir().join("home");
        let tmp = t.dir().join("tmp");
        fs::create_dir_all(&home)?;
        fs::create_dir_all(&tmp)?;
        Ok(TestServer {
            engine,
            server,
            credential,
            endpoint,
            region,
            venv,
            home,
            tmp,
        })
    }

    /// The engine behind the server, for setting up keys in-process.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A `Kms` that calls this server over HTTP with the test's credential (SigV4).
    pub(crate) fn remote_kms(&self) -> Result<RemoteKms, Box<dyn Error>> {
        let transport = HttpTransport::new(
            &self.endpoint,
            &self.region,
            self.credential.access_key_id().to_owned(),
            SecretKey::new(self.credential.secret().expose_secret().to_owned()),
        )?;
        Ok(RemoteKms::new(transport))
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The virtualenv's Python.
    pub(crate) fn python(&self) -> PathBuf {
        self.venv.join("bin/python")
    }

    /// `program` with a cleared environment: the virtualenv first on PATH, a private HOME and
    /// TMPDIR, the endpoint in `LOCKBOX_ENDPOINT_URL`, the credential and region in the
    /// standard AWS variables, and nothing from the machine's AWS setup.
    pub(crate) fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut path = OsString::from(self.venv.join("bin"));
        if let Some(system) = std::env::var_os("PATH") {
            path.push(":");
            path.push(system);
        }
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", &path)
            .env("HOME", &self.home)
            .env("TMPDIR", &self.tmp)
            .env("LANG", "C.UTF-8")
            .env("LOCKBOX_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", self.credential.access_key_id())
            .env(
                "AWS_SECRET_ACCESS_KEY",
                self.credential.secret().expose_secret(),
            )
            .env("AWS_DEFAULT_REGION", &self.region)
            .env("AWS_REGION", &self.region)
            // Nothing from the machine's AWS setup: no files, no instance metadata.
            .env("AWS_CONFIG_FILE", self.home.join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home.join("no-aws-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd
    }

    /// Shuts the server down and waits for it.
    pub(crate) fn stop(self) -> TestResult {
        self.server.shutdown();
        self.server.wait()?;
        Ok(())
    }
}

/// Fails with `what`'s whole output unless it exited 0.
pub(crate) fn check(what: &dyn std::fmt::Display, out: &Output) -> TestResult {
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .into())
}

/// Runs a setup command; its output becomes the error when it fails or cannot start.
fn run(cmd: &mut Command) -> TestResult {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    check(&shown, &out)
}
