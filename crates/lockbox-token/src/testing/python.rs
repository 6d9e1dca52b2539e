//! Python's `cryptography`, pinned, for tests that check Lockbox's answers against code
//! nobody here wrote (ECDH secrets, PKCS#8 and SPKI encodings, signatures).
//!
//! It lives in a virtualenv of its own under the target directory
//! (`target/tmp/cryptography-venv`), made with `python3 -m venv` and installed from PyPI on
//! first use, reused while its recorded pins match. A file lock serializes the test
//! processes that may build it at once. Python 3 with venv and pip, and PyPI for the first
//! run, are needed (CI installs them with tests/clients/install-python.sh); without them the
//! test fails saying so.

use std::error::Error;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// The pins, as in tests/clients/requirements.txt.
const PINS: [&str; 3] = ["cffi==2.1.1", "cryptography==50.0.2", "pycparser==3.12"];

/// The target directory's `tmp/`, found from the running test binary
/// (`<target>/<profile>/deps/<test>`): lib unit tests have no `CARGO_TARGET_TMPDIR`.
fn target_tmp() -> Result<PathBuf, Box<dyn Error>> {
    let exe = std::env::current_exe()?;
    let target = exe
        .ancestors()
        .nth(3)
        .ok_or("the test binary is not under <target>/<profile>/deps")?;
    Ok(target.join("tmp"))
}

/// The Python interpreter of a virtualenv that has the pinned `cryptography`, made if needed.
pub fn python_with_cryptography() -> Result<PathBuf, Box<dyn Error>> {
    let tmp = target_tmp()?;
    fs::create_dir_all(&tmp)?;
    let venv = tmp.join("cryptography-venv");
    let python = venv.join("bin").join("python");
    let stamp = venv.join("lockbox-pins.txt");
    let wanted = PINS.join("\n");
    let ready = || fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) && python.exists();
    if ready() {
        return Ok(python);
    }
    let lock = fs::File::create(tmp.join("cryptography-venv.lock"))?;
    lock.lock()?;
    if ready() {
        return Ok(python);
    }
    if venv.exists() {
        fs::remove_dir_all(&venv)?;
    }
    let run = |c: &mut Command, what: &str| -> Result<(), Box<dyn Error>> {
        let out = c.output().map_err(|e| format!("{what}: {e}"))?;
        if !out.status.success() {
            return Err(format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(())
    };
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv (Python 3 with venv is needed)",
    )?;
    run(
        Command::new(&python)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args(PINS),
        "pip install cryptography (PyPI is needed on first use)",
    )?;
    fs::write(&stamp, wanted)?;
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
