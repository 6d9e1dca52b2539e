//! Key material for import made and wrapped by Python's `cryptography` (`import.py` beside
//! this file), as a customer following AWS's guide would. Shared by lockbox-token's and the
//! engine's import tests (`#[path]`).
#![allow(dead_code)]

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Key material `cryptography` made for an AWS key spec: raw bytes for AES_256 and
/// HMAC_*, PKCS#8 DER for RSA_* and ECC_*; `spki` is a key pair's public key.
pub(crate) struct Material {
    pub(crate) path: PathBuf,
    pub(crate) bytes: Vec<u8>,
    pub(crate) spki: Option<Vec<u8>>,
}

/// New material for `key_spec` (AWS's name), written under `dir` as `<name>`.
pub(crate) fn material(dir: &Path, key_spec: &str, name: &str) -> Result<Material, Box<dyn Error>> {
    let path = dir.join(name);
    run(&["material".as_ref(), key_spec.as_ref(), path.as_os_str()])?;
    let spki_path = dir.join(format!("{name}.spki"));
    Ok(Material {
        bytes: std::fs::read(&path)?,
        spki: std::fs::read(&spki_path).ok(),
        path,
    })
}

/// `material` wrapped under the RSA public key `wrapping_spki` with AWS's `algorithm`.
pub(crate) fn wrap(
    dir: &Path,
    wrapping_spki: &[u8],
    algorithm: &str,
    material: &Material,
) -> Result<Vec<u8>, Box<dyn Error>> {
    let spki = dir.join("wrapping-key.der");
    std::fs::write(&spki, wrapping_spki)?;
    Ok(hex::decode(run(&[
        "wrap".as_ref(),
        spki.as_os_str(),
        algorithm.as_ref(),
        material.path.as_os_str(),
    ])?)?)
}

/// AES-256-GCM (128-bit tag) of `plaintext` under `material` made by `cryptography`:
/// ciphertext followed by the tag.
pub(crate) fn gcm(
    material: &Material,
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, Box<dyn Error>> {
    Ok(hex::decode(run(&[
        "gcm".as_ref(),
        material.path.as_os_str(),
        hex::encode(iv).as_ref(),
        hex::encode(aad).as_ref(),
        hex::encode(plaintext).as_ref(),
    ])?)?)
}

/// HMAC of `message` under `material` with `digest` (SHA_224..SHA_512) by `cryptography`.
pub(crate) fn hmac(
    material: &Material,
    digest: &str,
    message: &[u8],
) -> Result<Vec<u8>, Box<dyn Error>> {
    Ok(hex::decode(run(&[
        "hmac".as_ref(),
        material.path.as_os_str(),
        digest.as_ref(),
        hex::encode(message).as_ref(),
    ])?)?)
}

fn run(args: &[&std::ffi::OsStr]) -> Result<String, Box<dyn Error>> {
    // Found from whichever package includes this file (a crate under crates/, or tests/).
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("crates/lockbox-token/tests/oracle/import.py"))
        .find(|p| p.exists())
        .ok_or("crates/lockbox-token/tests/oracle/import.py not found above the package")?;
    let out = Command::new(lockbox_token::testing::python_with_cryptography()?)
        .arg(&script)
        .args(args)
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "import.py {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}
