//! `--dry-run` as the AWS CLI has it (issue 15, DryRun): on each of the 15 commands whose
//! operation has DryRun in AWS's model, the call is checked and not made; the answer is
//! DryRunOperationException (exit 254, AWS CLI's code for a service error) when it would have
//! succeeded, and the error it would have met otherwise. `--no-dry-run` makes the call.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn lockbox(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(args)
        .env("LOCKBOX_HOME", home)
        .env_remove("SOFTHSM2_CONF")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("LOCKBOX_CALLER")
        .output()
        .unwrap()
}

fn ok(home: &Path, args: &[&str]) -> serde_json::Value {
    let out = lockbox(home, args);
    assert!(
        out.status.success(),
        "lockbox {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// The command must fail with exit 254 and nothing on stdout; returns its stderr line.
fn refused(home: &Path, args: &[&str]) -> String {
    let out = lockbox(home, args);
    assert_eq!(out.status.code(), Some(254), "lockbox {args:?}: {out:?}");
    assert!(
        out.stdout.is_empty(),
        "lockbox {args:?} printed {:?}",
        out.stdout
    );
    String::from_utf8(out.stderr).unwrap().trim_end().to_owned()
}

fn dry(op: &str) -> String {
    format!(
        "An error occurred (DryRunOperationException) when calling the {op} operation: The \
         request would have succeeded, but the DryRun option is set."
    )
}

#[test]
#[rustfmt::skip] // one command per line reads better than rustfmt's one argument per line
fn dry_run_checks_each_call_and_makes_none() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let id = |v: serde_json::Value| v["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let sym = id(ok(&home, &["create-key"]));
    let sig = id(ok(&home, &["create-key", "--key-spec", "ECC_NIST_P256", "--key-usage", "SIGN_VERIFY"]));
    let mac = id(ok(&home, &["create-key", "--key-spec", "HMAC_256", "--key-usage", "GENERATE_VERIFY_MAC"]));
    let agree = id(ok(&home, &["create-key", "--key-spec", "ECC_NIST_P256", "--key-usage", "KEY_AGREEMENT"]));
    let blob = ok(&home, &["encrypt", "--key-id", &sym, "--plaintext", "aGk="])["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_owned();
    let signature = ok(&home, &["sign", "--key-id", &sig, "--message", "aGk=", "--signing-algorithm", "ECDSA_SHA_256"])["Signature"]
        .as_str()
        .unwrap()
        .to_owned();
    let tag = ok(&home, &["generate-mac", "--key-id", &mac, "--message", "aGk=", "--mac-algorithm", "HMAC_SHA_256"])["Mac"]
        .as_str()
        .unwrap()
        .to_owned();
    let peer = ok(&home, &["get-public-key", "--key-id", &agree])["PublicKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let grant = ok(&home, &["create-grant", "--key-id", &sym, "--grantee-principal", "arn:aws:iam::000000000000:role/app", "--operations", "Decrypt"])["GrantId"]
        .as_str()
        .unwrap()
        .to_owned();

    let calls: Vec<(&str, Vec<&str>)> = vec![
        ("Encrypt", vec!["encrypt", "--key-id", &sym, "--plaintext", "aGk="]),
        ("Decrypt", vec!["decrypt", "--ciphertext-blob", &blob]),
        ("ReEncrypt", vec!["re-encrypt", "--ciphertext-blob", &blob, "--destination-key-id", &sym]),
        ("GenerateDataKey", vec!["generate-data-key", "--key-id", &sym, "--key-spec", "AES_256"]),
        ("GenerateDataKeyWithoutPlaintext", vec!["generate-data-key-without-plaintext", "--key-id", &sym, "--key-spec", "AES_256"]),
        ("GenerateDataKeyPair", vec!["generate-data-key-pair", "--key-id", &sym, "--key-pair-spec", "ECC_NIST_P256"]),
        ("GenerateDataKeyPairWithoutPlaintext", vec!["generate-data-key-pair-without-plaintext", "--key-id", &sym, "--key-pair-spec", "ECC_NIST_P256"]),
        ("Sign", vec!["sign", "--key-id", &sig, "--message", "aGk=", "--signing-algorithm", "ECDSA_SHA_256"]),
        ("Verify", vec!["verify", "--key-id", &sig, "--message", "aGk=", "--signature", &signature, "--signing-algorithm", "ECDSA_SHA_256"]),
        ("GenerateMac", vec!["generate-mac", "--key-id", &mac, "--message", "aGk=", "--mac-algorithm", "HMAC_SHA_256"]),
        ("VerifyMac", vec!["verify-mac", "--key-id", &mac, "--message", "aGk=", "--mac", &tag, "--mac-algorithm", "HMAC_SHA_256"]),
        ("DeriveSharedSecret", vec!["derive-shared-secret", "--key-id", &agree, "--key-agreement-algorithm", "ECDH", "--public-key", &peer]),
        ("CreateGrant", vec!["create-grant", "--key-id", &sym, "--grantee-principal", "arn:aws:iam::000000000000:role/other", "--operations", "Encrypt"]),
        ("RetireGrant", vec!["retire-grant", "--key-id", &sym, "--grant-id", &grant]),
        ("RevokeGrant", vec!["revoke-grant", "--key-id", &sym, "--grant-id", &grant]),
    ];
    for (op, args) in &calls {
        let mut with = args.clone();
        with.push("--dry-run");
        assert_eq!(refused(&home, &with), dry(op), "{op}");
    }
    // Nothing was made: the grant is still the only one, and still there.
    let grants = ok(&home, &["list-grants", "--key-id", &sym]);
    assert_eq!(grants["Grants"].as_array().unwrap().len(), 1, "{grants}");
    assert_eq!(grants["Grants"][0]["GrantId"], grant.as_str());

    // The error the call would have met, not DryRun's: a disabled key.
    ok(&home, &["disable-key", "--key-id", &sym]);
    assert_eq!(
        refused(&home, &["encrypt", "--key-id", &sym, "--plaintext", "aGk=", "--dry-run"]),
        format!(
            "An error occurred (DisabledException) when calling the Encrypt operation: \
             arn:aws:kms:us-east-1:000000000000:key/{sym} is disabled."
        )
    );
    ok(&home, &["enable-key", "--key-id", &sym]);
    // --no-dry-run (last wins, as in the AWS CLI) makes the call.
    let made = ok(&home, &["encrypt", "--key-id", &sym, "--plaintext", "aGk=", "--dry-run", "--no-dry-run"]);
    assert!(made["CiphertextBlob"].as_str().is_some(), "{made}");
}
