//! Python's `cryptography`, pinned, for tests that check Lockbox's answers against code
//! nobody here wrote (ECDH secrets, PKCS#8 and SPKI encodings), including lib unit tests,
//! which have no `CARGO_TARGET_TMPDIR`.
//!
//! The asymmetric oracle (`tests/oracle/mod.rs`) runs its script with this interpreter too.
//! It is `LOCKBOX_ORACLE_PYTHON` if set; the AWS clients' virtualenv
//! (`target/tmp/aws-clients-venv`) if the end-to-end tests have built it; else
//! `target/tmp/oracle-venv` with the pinned `cryptography` (and `cffi`, `pycparser`), made
//! with `python3 -m venv` and pip from wheels, once, under a lock file and a stamp.
//! Without Python 3 or PyPI the tests that need it fail saying so: they are not skipped.

use std::error::Error;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// The pins of `tests/clients/requirements.txt` that `cryptography` needs (the oracle's stamp).
const ORACLE_REQUIREMENTS: &str = "cryptography==50.0.2\ncffi==2.1.1\npycparser==3.12\n";

/// The target directory's `tmp/`, found from the running test binary
/// (`<target>/<profile>/deps/<test>`).
fn target_tmp() -> Result<PathBuf, Box<dyn Error>> {
    let exe = std::env::current_exe()?;
    let target = exe
        .ancestors()
        .nth(3)
        .ok_or("the test binary is not under <target>/<profile>/deps")?;
    Ok(target.join("tmp"))
}

/// The Python interpreter with the pinned `cryptography`, its virtualenv made if needed.
pub fn python_with_cryptography() -> Result<PathBuf, Box<dyn Error>> {
    if let Some(p) = std::env::var_os("LOCKBOX_ORACLE_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let tmp = target_tmp()?;
    let clients = tmp.join("aws-clients-venv/bin/python");
    if clients.exists() {
        return Ok(clients);
    }
    let venv = tmp.join("oracle-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join("lockbox-requirements.txt");
    fs::create_dir_all(&tmp)?;
    let lock = fs::File::create(tmp.join("oracle-venv.lock"))?;
    lock.lock()?;
    if fs::read_to_string(&stamp).is_ok_and(|s| s == ORACLE_REQUIREMENTS) {
        return Ok(python);
    }
    if venv.exists() {
        fs::remove_dir_all(&venv)?;
    }
    let made = |c: &mut Command| -> Result<(), Box<dyn Error>> {
        let out = c.output()?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "could not make the oracle's virtualenv (Python 3 with venv and pip, and PyPI, are \
             needed; or set LOCKBOX_ORACLE_PYTHON to a Python with `cryptography`): {c:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into())
    };
    made(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    let requirements = venv.join("requirements.txt");
    fs::write(&requirements, ORACLE_REQUIREMENTS)?;
    made(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--no-input"])
            .args([
                "--disable-pip-version-check",
                "--only-binary",
                ":all:",
                "--requirement",
            ])
            .arg(&requirements),
    )?;
    // Last, so that an interrupted build is redone rather than reused.
    fs::write(&stamp, ORACLE_REQUIREMENTS)?;
    Ok(python)
}

/// Runs `script` with the pinned Python and `args`; its standard output, trimmed. A failing
/// script is an error carrying its standard error.
pub fn run_python(script: &str, args: &[String]) -> Result<String, Box<dyn Error>> {
    let out = Command::new(python_with_cryptography()?)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()?;
    if !out.status.success() {
        return Err(format!("python failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}
