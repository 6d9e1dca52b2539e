//! The small things of an operator's day (issue 16, point 4), each as the user meets it:
//! `audit export | head`, `key-usage` after two calls, a command run without LOCKBOX_HOME,
//! the audit HMAC key's one name, and AccessDeniedException's message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn command(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lockbox"));
    c.env("LOCKBOX_HOME", home)
        .env_remove("LOCKBOX_CALLER")
        .env_remove("SOFTHSM2_CONF")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION");
    c
}

fn lockbox(home: &Path, args: &[&str]) -> Output {
    command(home).args(args).output().unwrap()
}

fn ok(home: &Path, args: &[&str]) -> Value {
    let out = lockbox(home, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn new_key(home: &Path) -> String {
    ok(home, &["create-key"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn audit_export_into_a_closed_pipe_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let key = new_key(&home);
    ok(&home, &["describe-key", "--key-id", &key]);
    // The reader is gone before the export writes anything (`| head` that stopped).
    let mut child = command(&home)
        .args(["audit", "export"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.status.code(), Some(0));
    // A real write failure is still one: an --output that cannot be made.
    let out = lockbox(
        &home,
        &["audit", "export", "--output", "/nonexistent-dir/x.jsonl"],
    );
    assert_eq!(out.status.code(), Some(252));
}

#[test]
fn key_usage_shows_the_encryptions_made_not_the_blocks_reserved() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let key = new_key(&home);
    for _ in 0..2 {
        ok(
            &home,
            &["encrypt", "--key-id", &key, "--plaintext", "aGVsbG8="],
        );
    }
    ok(
        &home,
        &[
            "generate-data-key",
            "--key-id",
            &key,
            "--key-spec",
            "AES_256",
        ],
    );
    let usage = ok(&home, &["key-usage", "--key-id", &key]);
    let m = &usage["Materials"][0];
    assert_eq!(m["Version"], 1, "{usage}");
    assert_eq!(m["Encryptions"], 3, "{usage}");
    // No engine holds a reservation now: nothing reserved is shown.
    assert!(m.get("EncryptionsReserved").is_none(), "{usage}");
    let help = lockbox(&home, &["key-usage", "--help"]);
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("gives back what it reserved"), "{help}");
}

#[test]
fn without_lockbox_home_the_default_directory_is_named_once() {
    let tmp = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .args(["list-aliases"])
            .env_remove("LOCKBOX_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("SOFTHSM2_CONF")
            .env_remove("LOCKBOX_CALLER")
            .env("HOME", tmp.path())
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success());
    let dir = tmp.path().join(".local/share/lockbox");
    assert_eq!(
        String::from_utf8(first.stderr).unwrap(),
        format!(
            "lockbox: provisioned {} with a new SoftHSM token (first use): LOCKBOX_HOME is not \
             set, so the default data directory (~/.local/share/lockbox) was used; set \
             LOCKBOX_HOME to use another\n",
            dir.display()
        )
    );
    let second = run();
    assert!(second.status.success());
    assert_eq!(String::from_utf8(second.stderr).unwrap(), "");
    // With LOCKBOX_HOME, the note names the directory only.
    let home = tmp.path().join("chosen");
    let out = lockbox(&home, &["list-aliases"]);
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "lockbox: provisioned {} with a new SoftHSM token (first use)\n",
            home.display()
        )
    );
}

#[test]
fn the_audit_hmac_key_has_one_name_in_inspect_token_and_demo() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let key = new_key(&home);
    let report = ok(&home, &["inspect-token"]);
    let objects = report["Objects"].as_array().unwrap();
    let audit = objects
        .iter()
        .find(|o| o["Label"] == "lockbox/audit-hmac")
        .unwrap_or_else(|| panic!("{report}"));
    // pkcs11-tool says "Secret Key Object; Generic secret length 32".
    assert_eq!(audit["KeyType"], "Generic secret", "{audit}");
    assert_eq!(
        audit["Purpose"], "audit HMAC key (HMAC-SHA256 seals of the audit log)",
        "{audit}"
    );
    let material = objects
        .iter()
        .find(|o| o["Label"] == format!("lockbox/{key}/1"))
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(material["KeyType"], "AES");
    assert_eq!(
        material["Purpose"],
        format!("key material of KMS key {key}, version 1")
    );

    let demo = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["demo", "--home"])
        .arg(tmp.path().join("demo"))
        .env_remove("LOCKBOX_HOME")
        .env_remove("SOFTHSM2_CONF")
        .env_remove("LOCKBOX_CALLER")
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let text = String::from_utf8(demo.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("Token object lockbox/audit-hmac "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.ends_with(
            ": Generic secret, 32 bytes: audit HMAC key (HMAC-SHA256 seals of the audit log)"
        ),
        "{line}"
    );
}

#[test]
fn access_denied_messages_end_without_trailing_space() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let root = "arn:aws:iam::000000000000:root";
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"{root}"}},"Action":"kms:*","Resource":"*",
              "Condition":{{"StringEquals":{{"aws:PrincipalArn":"{root}"}}}}}},
            {{"Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::000000000000:user/eve"}},
              "Action":"kms:Decrypt","Resource":"*"}}]}}"#
    );
    let key = ok(&home, &["create-key", "--policy", &policy])["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_owned();
    let as_user = |user: &str, args: &[&str]| {
        command(&home)
            .args(args)
            .env(
                "LOCKBOX_CALLER",
                format!("arn:aws:iam::000000000000:user/{user}"),
            )
            .output()
            .unwrap()
    };
    let out = as_user(
        "bob",
        &["encrypt", "--key-id", &key, "--plaintext", "aGVsbG8="],
    );
    assert_eq!(out.status.code(), Some(254));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "An error occurred (AccessDeniedException) when calling the Encrypt operation: \
             User: arn:aws:iam::000000000000:user/bob is not authorized to perform: \
             kms:Encrypt on resource: {key} because no resource-based policy or grant allows \
             the kms:Encrypt action\n"
        )
    );
    let blob = ok(
        &home,
        &["encrypt", "--key-id", &key, "--plaintext", "aGVsbG8="],
    )["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = as_user("eve", &["decrypt", "--ciphertext-blob", &blob]);
    assert_eq!(out.status.code(), Some(254));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "An error occurred (AccessDeniedException) when calling the Decrypt operation: \
             User: arn:aws:iam::000000000000:user/eve is not authorized to perform: \
             kms:Decrypt on resource: {key} with an explicit deny in a resource-based policy\n"
        )
    );
}
