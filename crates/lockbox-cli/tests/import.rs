//! The import commands of the `lockbox` binary (create-key --origin EXTERNAL,
//! get-parameters-for-import, import-key-material, delete-imported-key-material), end to end
//! on a fresh data directory, with the key material made and wrapped by Python's
//! `cryptography` (code nobody here wrote) and given to the CLI as `fileb://` files, as the
//! AWS CLI takes them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../lockbox-token/tests/oracle/import_material.rs"]
mod import_material;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn lockbox(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .env("LOCKBOX_HOME", home)
        .env_remove("LOCKBOX_CALLER")
        .env_remove("SOFTHSM2_CONF")
        .args(args)
        .output()
        .unwrap()
}

fn ok(home: &Path, args: &[&str]) -> Value {
    let out = lockbox(home, args);
    assert!(
        out.status.success(),
        "lockbox {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn fails(home: &Path, args: &[&str]) -> String {
    let out = lockbox(home, args);
    assert!(!out.status.success(), "lockbox {args:?} succeeded");
    assert!(out.stdout.is_empty());
    String::from_utf8(out.stderr).unwrap().trim_end().to_owned()
}

#[test]
fn import_commands_take_wrapped_material_from_files() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let dir = tmp.path();
    let md = ok(&home, &["create-key", "--origin", "EXTERNAL"]);
    assert_eq!(md["KeyMetadata"]["KeyState"], "PendingImport");
    assert_eq!(md["KeyMetadata"]["Origin"], "EXTERNAL");
    let key = md["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let public = dir.join("wrapping.der");
    let token = dir.join("token.bin");
    let p = ok(
        &home,
        &[
            "get-parameters-for-import",
            "--key-id",
            &key,
            "--wrapping-algorithm",
            "RSA_AES_KEY_WRAP_SHA_256",
            "--wrapping-key-spec",
            "RSA_4096",
            "--public-key-out",
            public.to_str().unwrap(),
            "--import-token-out",
            token.to_str().unwrap(),
        ],
    );
    assert_eq!(
        p["KeyId"],
        format!("arn:aws:kms:us-east-1:000000000000:key/{key}").as_str()
    );
    assert!(p["ParametersValidTo"].is_string() && p["PublicKey"].is_string());
    assert_eq!(
        std::fs::metadata(&token)?.permissions().mode() & 0o777,
        0o600
    );
    let m = import_material::material(dir, "AES_256", "aes.bin")?;
    let wrapped = import_material::wrap(
        dir,
        &std::fs::read(&public)?,
        "RSA_AES_KEY_WRAP_SHA_256",
        &m,
    )?;
    let material = dir.join("wrapped.bin");
    std::fs::write(&material, wrapped)?;
    let token_arg = format!("fileb://{}", token.display());
    let material_arg = format!("fileb://{}", material.display());
    // KEY_MATERIAL_EXPIRES is the default and needs --valid-to.
    let e = fails(
        &home,
        &[
            "import-key-material",
            "--key-id",
            &key,
            "--import-token",
            &token_arg,
            "--encrypted-key-material",
            &material_arg,
        ],
    );
    assert!(
        e.contains("ValidationException") && e.contains("ValidTo"),
        "{e}"
    );
    let e = fails(
        &home,
        &[
            "import-key-material",
            "--key-id",
            &key,
            "--import-token",
            &token_arg,
            "--encrypted-key-material",
            &material_arg,
            "--valid-to",
            "yesterday",
        ],
    );
    assert!(e.contains("--valid-to"), "{e}");
    let done = ok(
        &home,
        &[
            "import-key-material",
            "--key-id",
            &key,
            "--import-token",
            &token_arg,
            "--encrypted-key-material",
            &material_arg,
            "--expiration-model",
            "KEY_MATERIAL_DOES_NOT_EXPIRE",
        ],
    );
    let id = done["KeyMaterialId"].as_str().unwrap().to_owned();
    let md = ok(&home, &["describe-key", "--key-id", &key]);
    assert_eq!(md["KeyMetadata"]["KeyState"], "Enabled");
    assert_eq!(md["KeyMetadata"]["CurrentKeyMaterialId"], id.as_str());
    assert_eq!(
        md["KeyMetadata"]["ExpirationModel"],
        "KEY_MATERIAL_DOES_NOT_EXPIRE"
    );
    let c = ok(
        &home,
        &["encrypt", "--key-id", &key, "--plaintext", "aGVsbG8="],
    );
    let blob = c["CiphertextBlob"].as_str().unwrap().to_owned();
    assert_eq!(
        ok(&home, &["decrypt", "--ciphertext-blob", &blob])["Plaintext"],
        "aGVsbG8="
    );
    let del = ok(&home, &["delete-imported-key-material", "--key-id", &key]);
    assert_eq!(del["KeyMaterialId"], id.as_str());
    let e = fails(&home, &["decrypt", "--ciphertext-blob", &blob]);
    assert!(
        e.contains("KMSInvalidStateException") && e.contains("is pending import"),
        "{e}"
    );
    Ok(())
}
