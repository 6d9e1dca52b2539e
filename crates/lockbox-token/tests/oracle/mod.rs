//! The outside oracle for asymmetric keys: `asym.py` (beside this file) run with Python's
//! `cryptography` from the project's virtualenv, which the end-to-end tests build under the
//! cargo target directory (`$CARGO_TARGET_TMPDIR/aws-clients-venv`, from
//! `tests/clients/requirements.txt`). `LOCKBOX_ORACLE_PYTHON` names another interpreter that
//! has `cryptography`. Without one, the tests that need it fail saying so: they are not
//! skipped.
//!
//! Shared by lockbox-token's and the engine's tests (`#[path]`).
#![allow(dead_code)]

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What `asym.py spki` says a DER SubjectPublicKeyInfo is: "RSA <bits> <n hex> <e>" or
/// "EC <curve> <x hex> <y hex>".
pub(crate) fn describe_spki(dir: &Path, spki: &[u8]) -> Result<String, Box<dyn Error>> {
    let path = dir.join("oracle-spki.der");
    std::fs::write(&path, spki)?;
    run(&["spki".as_ref(), path.as_os_str()])
}

/// Whether `cryptography` accepts `signature` over `message` (of `message_type`, RAW or
/// DIGEST) under `spki` with the AWS signing algorithm `algorithm`.
pub(crate) fn verifies(
    dir: &Path,
    spki: &[u8],
    algorithm: &str,
    message_type: &str,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, Box<dyn Error>> {
    let (k, m, s) = (
        dir.join("oracle-spki.der"),
        dir.join("oracle-message.bin"),
        dir.join("oracle-signature.bin"),
    );
    std::fs::write(&k, spki)?;
    std::fs::write(&m, message)?;
    std::fs::write(&s, signature)?;
    let out = run(&[
        "verify".as_ref(),
        k.as_os_str(),
        algorithm.as_ref(),
        message_type.as_ref(),
        m.as_os_str(),
        s.as_os_str(),
    ])?;
    match out.as_str() {
        "valid" => Ok(true),
        "invalid" => Ok(false),
        other => Err(format!("asym.py verify said {other:?}").into()),
    }
}

fn python() -> Result<PathBuf, Box<dyn Error>> {
    if let Some(p) = std::env::var_os("LOCKBOX_ORACLE_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("aws-clients-venv/bin/python");
    if venv.exists() {
        return Ok(venv);
    }
    Err(format!(
        "no Python with `cryptography` for the outside oracle: {} does not exist (run \
         `cargo test -p lockbox-tests --test aws_clients` once to build it) and \
         LOCKBOX_ORACLE_PYTHON is not set",
        venv.display()
    )
    .into())
}

fn run(args: &[&std::ffi::OsStr]) -> Result<String, Box<dyn Error>> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../lockbox-token/tests/oracle/asym.py");
    let out = Command::new(python()?).arg(&script).args(args).output()?;
    if !out.status.success() {
        return Err(format!(
            "asym.py {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}
