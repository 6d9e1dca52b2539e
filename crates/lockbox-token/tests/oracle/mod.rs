//! The outside oracle for asymmetric keys: `asym.py` (beside this file) run with Python's
//! `cryptography`, which nobody here wrote.
//!
//! The interpreter is, in order: `LOCKBOX_ORACLE_PYTHON` if set; the AWS clients' virtualenv
//! (`$CARGO_TARGET_TMPDIR/aws-clients-venv`, from `tests/clients/requirements.txt`) if the
//! end-to-end tests have built it; else a small virtualenv of its own
//! (`$CARGO_TARGET_TMPDIR/oracle-venv`) with the same pinned `cryptography` (and its `cffi`
//! and `pycparser`), made with `python3 -m venv` and pip from wheels, once, under a lock file.
//! Without Python 3 or PyPI the tests that need it fail saying so: they are not skipped.
//!
//! Shared by lockbox-token's and the engine's tests (`#[path]`).
#![allow(dead_code)]

use std::error::Error;
use std::path::Path;
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

/// `cryptography`'s RSA-OAEP encryption of `plaintext` under `spki` with the AWS encryption
/// algorithm `algorithm` (RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256).
pub(crate) fn encrypt(
    dir: &Path,
    spki: &[u8],
    algorithm: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, Box<dyn Error>> {
    let (k, m) = (
        dir.join("oracle-spki.der"),
        dir.join("oracle-plaintext.bin"),
    );
    std::fs::write(&k, spki)?;
    std::fs::write(&m, plaintext)?;
    let out = run(&[
        "encrypt".as_ref(),
        k.as_os_str(),
        algorithm.as_ref(),
        m.as_os_str(),
    ])?;
    Ok(hex::decode(out)?)
}

/// The message `cryptography` finds in the EME-OAEP-SHA-256 block `em` (256 bytes), raised
/// to e under a throwaway key of its own and decrypted with RSAES-OAEP-SHA-256.
pub(crate) fn oaep_sha256_open(dir: &Path, em: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
    let path = dir.join("oracle-em.bin");
    std::fs::write(&path, em)?;
    Ok(hex::decode(run(&[
        "oaep-sha256-open".as_ref(),
        path.as_os_str(),
    ])?)?)
}

/// An EME-OAEP-SHA-256 block (256 bytes) of `message` made by `cryptography`: its
/// RSAES-OAEP-SHA-256 encryption under a throwaway key, with only the RSA step undone.
pub(crate) fn oaep_sha256_encode(dir: &Path, message: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
    let path = dir.join("oracle-message.bin");
    std::fs::write(&path, message)?;
    Ok(hex::decode(run(&[
        "oaep-sha256-encode".as_ref(),
        path.as_os_str(),
    ])?)?)
}

fn run(args: &[&std::ffi::OsStr]) -> Result<String, Box<dyn Error>> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../lockbox-token/tests/oracle/asym.py");
    let out = Command::new(lockbox_token::testing::python_with_cryptography()?)
        .arg(&script)
        .args(args)
        .output()?;
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
