//! The real AWS clients against a Lockbox server: the AWS CLI v1 (`aws kms ...
//! --endpoint-url`) and boto3 run `tests/clients/e2e.sh` and `tests/clients/e2e_boto3.py`,
//! unchanged, against `Server::start` on 127.0.0.1:0 over a throwaway SoftHSM token, with a
//! freshly generated credential. They prove that what botocore signs, sends and parses
//! (SigV4, AWS JSON 1.1, blobs, errors and exit codes) is what the server speaks.
//!
//! The clients come from PyPI, pinned in `tests/clients/requirements.txt`, into a virtualenv
//! under the cargo target directory (`$CARGO_TARGET_TMPDIR/aws-clients-venv`), made with
//! `python3 -m venv` and reused while its recorded requirements match the file. Python 3 with
//! venv and pip, and access to PyPI for the first run, are therefore needed: without them
//! the test fails, saying what is missing. To skip it on purpose (a machine without Python
//! or network), set `LOCKBOX_SKIP_AWS_CLIENTS=1`; the skip is printed on standard error, past
//! the test harness's capture, and is refused when `CI` is set, so CI always runs it.
//!
//! Secrets stay out of argv: the scripts get the endpoint and the credential in their
//! environment, which is cleared of everything else (no `~/.aws`, no profile, no proxy).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::error::Error;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use lockbox::{Config, Engine};
use lockbox_server::credentials::CredentialStore;
use lockbox_server::server::{Server, ServerConfig};
use lockbox_token::testing::{TestResult, TestToken, run_isolated};

/// Set to `1` to skip this test on purpose (refused under `CI`).
const SKIP_ENV: &str = "LOCKBOX_SKIP_AWS_CLIENTS";

/// The pinned clients; the virtualenv is rebuilt whenever this text changes.
const REQUIREMENTS: &str = include_str!("clients/requirements.txt");

#[test]
fn aws_cli_and_boto3_against_a_fresh_server() {
    if skip_requested() {
        return;
    }
    // The virtualenv first, in this process: it needs no token, and a failure to build it
    // is reported as itself rather than through the token child.
    if let Err(e) = python_env() {
        panic!(
            "could not set up the AWS clients (Python 3 with venv and pip, and PyPI): {e}\n\
             Set {SKIP_ENV}=1 to skip this test on purpose where they cannot be had."
        );
    }
    run_isolated(
        module_path!(),
        "aws_cli_and_boto3_against_a_fresh_server",
        against_a_fresh_server,
    );
}

fn against_a_fresh_server(t: &TestToken) -> TestResult {
    let venv = python_env()?;
    let engine = Arc::new(Engine::open(Config::new(t.dir().join("data"), t.config()))?);
    let region = engine.arn_scope().region().to_owned();
    let principal = engine.default_caller("test").principal().clone();
    let credentials_file = t.dir().join("credentials.toml");
    let credential = CredentialStore::create(&credentials_file, &principal)?;
    let server = Server::start(
        engine,
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
    let mut path = OsString::from(venv.join("bin"));
    if let Some(system) = std::env::var_os("PATH") {
        path.push(":");
        path.push(system);
    }
    let clients = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients");
    let scripts: [(OsString, PathBuf); 2] = [
        ("bash".into(), clients.join("e2e.sh")),
        (venv.join("bin/python").into(), clients.join("e2e_boto3.py")),
    ];
    for (interpreter, script) in &scripts {
        let out = Command::new(interpreter)
            .arg(script)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", &home)
            .env("TMPDIR", &tmp)
            .env("LANG", "C.UTF-8")
            .env("LOCKBOX_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", credential.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", credential.secret().expose_secret())
            .env("AWS_DEFAULT_REGION", &region)
            .env("AWS_REGION", &region)
            // Nothing from the machine's AWS setup: no files, no instance metadata.
            .env("AWS_CONFIG_FILE", home.join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                home.join("no-aws-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()?;
        check(script, &out)?;
    }

    server.shutdown();
    server.wait()?;
    Ok(())
}

/// Fails with the script's whole output unless it exited 0.
fn check(script: &Path, out: &Output) -> TestResult {
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .into())
}

/// True when the skip was asked for (and allowed): says so where it cannot be missed.
fn skip_requested() -> bool {
    if std::env::var_os(SKIP_ENV).is_none_or(|v| v.is_empty() || v == "0") {
        return false;
    }
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") {
        panic!("{SKIP_ENV} is set, but CI must run the AWS clients test: unset it");
    }
    // Straight to the process's stderr: libtest captures `eprintln!` of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED aws_cli_and_boto3_against_a_fresh_server: {SKIP_ENV} is set. The AWS CLI \
         and boto3 were NOT run against the server. ***\n"
    );
    true
}

/// The virtualenv holding the pinned clients: reused when its recorded requirements match,
/// else (re)built. A lock file serializes concurrent builders in one target directory.
fn python_env() -> Result<PathBuf, Box<dyn Error>> {
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
    let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/requirements.txt");
    run(Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-input",
            "--disable-pip-version-check",
            "--requirement",
        ])
        .arg(&requirements))?;
    // Last, so that an interrupted build is redone rather than reused.
    fs::write(&stamp, REQUIREMENTS)?;
    Ok(venv)
}

/// Runs a setup command; its output becomes the error when it fails or cannot start.
fn run(cmd: &mut Command) -> TestResult {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{shown} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}
