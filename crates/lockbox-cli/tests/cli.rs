//! The `lockbox` binary, driven as a user drives it: fresh data directories, real SoftHSM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Runs `lockbox` with `home` as its data directory. SOFTHSM2_CONF is removed from the
/// environment, so the binary must find (and re-execute with) its own.
fn lockbox(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(args)
        .env("LOCKBOX_HOME", home)
        .env_remove("SOFTHSM2_CONF")
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

/// Runs a command that must fail; returns (exit code, the single stderr line).
fn fails(home: &Path, args: &[&str]) -> (i32, String) {
    let out = lockbox(home, args);
    assert!(!out.status.success(), "lockbox {args:?} succeeded");
    assert!(
        out.stdout.is_empty(),
        "a failed command printed {:?}",
        out.stdout
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    (out.status.code().unwrap(), err.trim_end().to_owned())
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_command_provisions_a_private_data_directory() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let out = lockbox(&home, &["list-keys"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("provisioned"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v, serde_json::json!({"Keys": []}));
    assert_eq!(mode(&home), 0o700);
    for f in [
        "lockbox.toml",
        "token-user.pin",
        "token-so.pin",
        "softhsm/softhsm2.conf",
    ] {
        assert_eq!(mode(&home.join(f)), 0o600, "{f}");
    }
    let config = std::fs::read_to_string(home.join("lockbox.toml"))?;
    assert!(config.contains("pin_file = \"token-user.pin\""), "{config}");
    let pin = std::fs::read_to_string(home.join("token-user.pin"))?;
    assert!(
        !config.contains(&pin),
        "the PIN is in the configuration file"
    );
    // Only the first command provisions.
    let again = lockbox(&home, &["list-keys"]);
    assert!(again.status.success());
    assert!(
        again.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    Ok(())
}

#[test]
fn the_aws_kms_workflow_end_to_end() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let p = |name: &str| tmp.path().join(name).display().to_string();

    let md = ok(
        &home,
        &[
            "create-key",
            "--description",
            "app key",
            "--tags",
            "TagKey=team,TagValue=crypto",
            "TagKey=env,TagValue=test",
        ],
    );
    let key = md["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    assert_eq!(md["KeyMetadata"]["KeyState"], "Enabled");
    assert_eq!(
        md["KeyMetadata"]["Arn"],
        format!("arn:aws:kms:us-east-1:000000000000:key/{key}")
    );
    assert!(
        md["KeyMetadata"]["CreationDate"]
            .as_str()
            .unwrap()
            .ends_with("+00:00")
    );
    let other = ok(&home, &["create-key"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        ok(
            &home,
            &[
                "create-alias",
                "--alias-name",
                "alias/app",
                "--target-key-id",
                &key
            ]
        ),
        serde_json::Value::Null
    );

    // Encrypt a file, raw ciphertext to a file; decrypt it back to a file.
    std::fs::write(p("secret.txt"), b"the secret")?;
    let enc = ok(
        &home,
        &[
            "encrypt",
            "--key-id",
            "alias/app",
            "--plaintext",
            &format!("fileb://{}", p("secret.txt")),
            "--encryption-context",
            "purpose=test",
            "--ciphertext-out",
            &p("ct.bin"),
        ],
    );
    assert_eq!(
        enc,
        serde_json::json!({"KeyId": format!("arn:aws:kms:us-east-1:000000000000:key/{key}"), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
    );
    let dec = ok(
        &home,
        &[
            "decrypt",
            "--ciphertext-blob",
            &format!("fileb://{}", p("ct.bin")),
            "--encryption-context",
            "purpose=test",
            "--plaintext-out",
            &p("back.txt"),
        ],
    );
    assert!(dec.get("Plaintext").is_none());
    assert_eq!(std::fs::read(p("back.txt"))?, b"the secret");
    assert_eq!(mode(Path::new(&p("back.txt"))), 0o600);
    // Base64 in, base64 out, as the AWS CLI v2 does.
    let enc = ok(
        &home,
        &["encrypt", "--key-id", &key, "--plaintext", "aGVsbG8="],
    );
    let blob = enc["CiphertextBlob"].as_str().unwrap().to_owned();
    assert_eq!(
        ok(&home, &["decrypt", "--ciphertext-blob", &blob])["Plaintext"],
        "aGVsbG8="
    );
    let raw = lockbox(
        &home,
        &[
            "decrypt",
            "--ciphertext-blob",
            &blob,
            "--plaintext-out",
            "-",
        ],
    );
    assert_eq!(raw.stdout, b"hello");

    let re = ok(
        &home,
        &[
            "re-encrypt",
            "--ciphertext-blob",
            &format!("fileb://{}", p("ct.bin")),
            "--source-encryption-context",
            "purpose=test",
            "--destination-key-id",
            &other,
            "--destination-encryption-context",
            r#"{"purpose":"moved"}"#,
        ],
    );
    assert_eq!(
        re["SourceKeyId"],
        format!("arn:aws:kms:us-east-1:000000000000:key/{key}")
    );
    let moved = re["CiphertextBlob"].as_str().unwrap();
    let back = ok(
        &home,
        &[
            "decrypt",
            "--ciphertext-blob",
            moved,
            "--encryption-context",
            "purpose=moved",
        ],
    );
    assert_eq!(back["Plaintext"], "dGhlIHNlY3JldA==");

    let dk = ok(
        &home,
        &[
            "generate-data-key",
            "--key-id",
            "alias/app",
            "--key-spec",
            "AES_256",
        ],
    );
    let plain = dk["Plaintext"].as_str().unwrap();
    assert_eq!(plain.len(), 44);
    let again = ok(
        &home,
        &[
            "decrypt",
            "--ciphertext-blob",
            dk["CiphertextBlob"].as_str().unwrap(),
        ],
    );
    assert_eq!(again["Plaintext"], plain);
    let np = ok(
        &home,
        &[
            "generate-data-key-without-plaintext",
            "--key-id",
            &key,
            "--number-of-bytes",
            "64",
        ],
    );
    assert!(np.get("Plaintext").is_none());
    let np_back = ok(
        &home,
        &[
            "decrypt",
            "--ciphertext-blob",
            np["CiphertextBlob"].as_str().unwrap(),
        ],
    );
    assert_eq!(np_back["Plaintext"].as_str().unwrap().len(), 88);
    assert_eq!(
        ok(&home, &["generate-random", "--number-of-bytes", "12"])["Plaintext"]
            .as_str()
            .unwrap()
            .len(),
        16
    );

    // Tags, description, states.
    ok(
        &home,
        &[
            "tag-resource",
            "--key-id",
            &key,
            "--tags",
            r#"[{"TagKey":"owner","TagValue":"me"}]"#,
        ],
    );
    ok(
        &home,
        &["untag-resource", "--key-id", &key, "--tag-keys", "env"],
    );
    let tags = ok(&home, &["list-resource-tags", "--key-id", &key]);
    assert_eq!(
        tags,
        serde_json::json!({"Tags": [{"TagKey": "owner", "TagValue": "me"}, {"TagKey": "team", "TagValue": "crypto"}]})
    );
    ok(
        &home,
        &[
            "update-key-description",
            "--key-id",
            &key,
            "--description",
            "renamed",
        ],
    );
    assert_eq!(
        ok(&home, &["describe-key", "--key-id", "alias/app"])["KeyMetadata"]["Description"],
        "renamed"
    );
    ok(&home, &["disable-key", "--key-id", &key]);
    assert_eq!(
        fails(&home, &["encrypt", "--key-id", &key, "--plaintext", "aGk="]).0,
        254
    );
    ok(&home, &["enable-key", "--key-id", &key]);
    let s = ok(
        &home,
        &[
            "schedule-key-deletion",
            "--key-id",
            &key,
            "--pending-window-in-days",
            "7",
        ],
    );
    assert_eq!(
        (s["KeyState"].as_str(), s["PendingWindowInDays"].as_u64()),
        (Some("PendingDeletion"), Some(7))
    );
    assert_eq!(
        ok(&home, &["describe-key", "--key-id", &key])["KeyMetadata"]["PendingDeletionWindowInDays"],
        7
    );
    assert_eq!(
        ok(&home, &["cancel-key-deletion", "--key-id", &key])["KeyId"],
        format!("arn:aws:kms:us-east-1:000000000000:key/{key}")
    );
    assert_eq!(
        ok(&home, &["describe-key", "--key-id", &key])["KeyMetadata"]["KeyState"],
        "Disabled"
    );

    ok(
        &home,
        &[
            "update-alias",
            "--alias-name",
            "alias/app",
            "--target-key-id",
            &other,
        ],
    );
    ok(
        &home,
        &[
            "create-alias",
            "--alias-name",
            "alias/b",
            "--target-key-id",
            &other,
        ],
    );
    let aliases = ok(&home, &["list-aliases", "--key-id", &other]);
    assert_eq!(aliases["Aliases"].as_array().unwrap().len(), 2);
    ok(&home, &["delete-alias", "--alias-name", "alias/b"]);

    // Pagination as the AWS CLI does it: --max-items, NextToken, --starting-token.
    ok(&home, &["create-key"]);
    let first = ok(&home, &["list-keys", "--max-items", "2"]);
    assert_eq!(first["Keys"].as_array().unwrap().len(), 2);
    let token = first["NextToken"].as_str().unwrap();
    let rest = ok(
        &home,
        &["list-keys", "--starting-token", token, "--page-size", "1"],
    );
    assert_eq!(rest["Keys"].as_array().unwrap().len(), 1);
    assert!(rest.get("NextToken").is_none());
    assert_eq!(
        ok(&home, &["list-keys"])["Keys"].as_array().unwrap().len(),
        3
    );
    Ok(())
}

#[test]
fn rotation_usage_maintenance_and_doctor() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let key = ok(&home, &["create-key"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_eq!(
        ok(&home, &["get-key-rotation-status", "--key-id", &key]),
        serde_json::json!({"KeyRotationEnabled": false, "KeyId": key})
    );
    assert_eq!(
        ok(
            &home,
            &[
                "enable-key-rotation",
                "--key-id",
                &key,
                "--rotation-period-in-days",
                "90"
            ]
        ),
        serde_json::Value::Null
    );
    // Raw text: the fields come in the AWS CLI's order.
    let out = lockbox(&home, &["get-key-rotation-status", "--key-id", &key]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout)?;
    let at = |field: &str| text.find(&format!("\"{field}\"")).unwrap();
    assert!(
        at("KeyRotationEnabled") < at("KeyId")
            && at("KeyId") < at("RotationPeriodInDays")
            && at("RotationPeriodInDays") < at("NextRotationDate"),
        "{text}"
    );
    let status: serde_json::Value = serde_json::from_str(&text)?;
    assert_eq!(
        (
            &status["KeyRotationEnabled"],
            &status["RotationPeriodInDays"]
        ),
        (&serde_json::json!(true), &serde_json::json!(90))
    );
    assert!(
        status["NextRotationDate"]
            .as_str()
            .unwrap()
            .ends_with("+00:00"),
        "{status}"
    );
    assert_eq!(
        fails(&home, &["enable-key-rotation", "--key-id", &key, "--rotation-period-in-days", "89"]),
        (254, "An error occurred (ValidationException) when calling the EnableKeyRotation operation: 1 validation error detected: Value '89' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value between 90 and 2560".into())
    );
    ok(&home, &["disable-key-rotation", "--key-id", &key]);
    assert_eq!(
        ok(&home, &["get-key-rotation-status", "--key-id", &key]),
        serde_json::json!({"KeyRotationEnabled": false, "KeyId": key})
    );

    // One encryption under the first material, then two rotations.
    let old = ok(
        &home,
        &[
            "encrypt",
            "--key-id",
            &key,
            "--plaintext",
            "b2xkIHNlY3JldA==",
        ],
    )["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        assert_eq!(
            ok(&home, &["rotate-key-on-demand", "--key-id", &key]),
            serde_json::json!({"KeyId": key})
        );
    }
    let rotations = ok(&home, &["list-key-rotations", "--key-id", &key]);
    let listed = rotations["Rotations"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{rotations}");
    assert!(rotations.get("NextToken").is_none());
    for (entry, state) in listed.iter().zip(["NON_CURRENT", "CURRENT"]) {
        assert_eq!(entry["KeyId"], key.as_str());
        assert_eq!(entry["KeyMaterialState"], state);
        assert_eq!(entry["RotationType"], "ON_DEMAND");
        assert!(entry["RotationDate"].as_str().unwrap().ends_with("+00:00"));
        assert_eq!(entry["KeyMaterialId"].as_str().unwrap().len(), 64);
    }
    let all = ok(
        &home,
        &[
            "list-key-rotations",
            "--key-id",
            &key,
            "--include-key-material",
            "ALL_KEY_MATERIAL",
        ],
    );
    let all = all["Rotations"].as_array().unwrap();
    assert_eq!(all.len(), 3);
    // The first material was made by CreateKey, not by a rotation.
    assert_eq!(
        all[0].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["KeyId", "KeyMaterialId", "KeyMaterialState"]
    );
    assert_eq!(&all[1..], listed);
    // Paged as the AWS CLI pages.
    let first = ok(
        &home,
        &[
            "list-key-rotations",
            "--key-id",
            &key,
            "--include-key-material",
            "ALL_KEY_MATERIAL",
            "--max-items",
            "2",
        ],
    );
    assert_eq!(first["Rotations"].as_array().unwrap()[..], all[..2]);
    let rest = ok(
        &home,
        &[
            "list-key-rotations",
            "--key-id",
            &key,
            "--include-key-material",
            "ALL_KEY_MATERIAL",
            "--starting-token",
            first["NextToken"].as_str().unwrap(),
        ],
    );
    assert_eq!(rest["Rotations"].as_array().unwrap()[..], all[2..]);

    // Made before the rotations, still decrypts.
    assert_eq!(
        ok(&home, &["decrypt", "--ciphertext-blob", &old])["Plaintext"],
        "b2xkIHNlY3JldA=="
    );
    for _ in 0..2 {
        ok(&home, &["encrypt", "--key-id", &key, "--plaintext", "aGk="]);
    }
    let usage = ok(&home, &["key-usage", "--key-id", &key]);
    assert_eq!(usage["KeyId"], key.as_str());
    let materials = usage["Materials"].as_array().unwrap();
    assert_eq!(
        materials
            .iter()
            .map(|m| (
                m["Version"].as_u64().unwrap(),
                m["Current"].as_bool().unwrap()
            ))
            .collect::<Vec<_>>(),
        [(1, false), (2, false), (3, true)]
    );
    assert!(materials[0].get("RotationType").is_none());
    assert_eq!(materials[1]["RotationType"], "ON_DEMAND");
    // Each command is a process of its own, which reserves a block of counts durably on its
    // first encryption under a version and never gets the unused rest back. So version 1
    // (one encryption, one process) shows exactly one block, version 2 (never used) shows
    // none, and version 3 (two encryptions, two processes) at least 2 and at most two blocks.
    let block = lockbox::Lifecycle::default().encryption_count_block;
    let encryptions = |i: usize| materials[i]["Encryptions"].as_u64().unwrap();
    assert_eq!(encryptions(0), block);
    assert_eq!(encryptions(1), 0);
    assert!((2..=2 * block).contains(&encryptions(2)), "{usage}");

    assert_eq!(
        ok(&home, &["maintain"]),
        serde_json::json!({"Rotated": [], "Deleted": [], "Failed": []})
    );
    let out = lockbox(&home, &["doctor"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8(out.stdout)?;
    let lines: Vec<&str> = report.lines().collect();
    assert!(lines[0].starts_with("Token: lockbox ("), "{report}");
    assert_eq!(
        lines[1..],
        [
            "Keys: 1 record, 3 token objects",
            "OK: every record has its material and no orphans remain."
        ],
        "{report}"
    );
    Ok(())
}

#[test]
fn errors_are_one_line_with_the_aws_error_name_and_exit_code() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    ok(&home, &["list-keys"]);
    assert_eq!(
        fails(&home, &["describe-key", "--key-id", "alias/missing"]),
        (254, "An error occurred (NotFoundException) when calling the DescribeKey operation: Alias arn:aws:kms:us-east-1:000000000000:alias/missing is not found.".into())
    );
    assert_eq!(
        fails(&home, &["describe-key", "--key-id", "nonsense"]),
        (254, "An error occurred (NotFoundException) when calling the DescribeKey operation: Invalid keyId 'nonsense'".into())
    );
    let key = ok(&home, &["create-key"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, line) = fails(
        &home,
        &[
            "encrypt",
            "--key-id",
            &key,
            "--plaintext",
            &"QUFB".repeat(1366),
        ],
    );
    assert_eq!(code, 254);
    assert!(
        line.starts_with(
            "An error occurred (ValidationException) when calling the Encrypt operation:"
        ),
        "{line}"
    );
    assert_eq!(
        fails(&home, &["decrypt", "--ciphertext-blob", "AAAA"]),
        (
            254,
            "An error occurred (InvalidCiphertextException) when calling the Decrypt operation: \
             The ciphertext is damaged, was made with another encryption context, or was not \
             made by this service."
                .into()
        )
    );
    assert_eq!(
        fails(
            &home,
            &[
                "create-alias",
                "--alias-name",
                "alias/aws/x",
                "--target-key-id",
                &key
            ]
        )
        .0,
        254
    );
    assert_eq!(
        fails(&home, &["generate-data-key", "--key-id", &key, "--number-of-bytes", "0"]),
        (254, "An error occurred (ValidationException) when calling the GenerateDataKey operation: 1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024".into())
    );
    assert_eq!(
        fails(&home, &["encrypt", "--key-id", &key, "--plaintext", "fileb:///no/such/file"]),
        (252, "Error parsing parameter '--plaintext': Unable to load paramfile fileb:///no/such/file: No such file or directory (os error 2)".into())
    );
    assert_eq!(
        fails(
            &home,
            &["encrypt", "--key-id", &key, "--plaintext", "not base64!"]
        )
        .0,
        252
    );
    assert_eq!(
        fails(
            &home,
            &[
                "encrypt",
                "--key-id",
                &key,
                "--plaintext",
                "aGk=",
                "--encryption-context",
                "nokey"
            ]
        )
        .0,
        252
    );
    // Unknown flags, a PIN on the command line included, are usage errors.
    let out = lockbox(&home, &["list-keys", "--pin", "1234"]);
    assert_eq!(out.status.code(), Some(252));
    Ok(())
}

#[test]
fn a_broken_configuration_is_reported_in_one_line() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    std::fs::create_dir(&home)?;
    std::fs::write(
        home.join("lockbox.toml"),
        "[token]\nmodule = \"/nonexistent/p11.so\"\nlabel = \"x\"\npin_env = \"LOCKBOX_TEST_PIN\"\n",
    )?;
    let (code, line) = fails(&home, &["list-keys"]);
    assert_eq!(code, 255);
    assert_eq!(
        line,
        "lockbox: cannot load PKCS#11 module /nonexistent/p11.so: no such file"
    );
    std::fs::write(
        home.join("lockbox.toml"),
        "[token]\nmodule = \"m\"\nlabel = \"x\"\npin = \"1234\"\n",
    )?;
    let (code, line) = fails(&home, &["list-keys"]);
    assert_eq!(code, 255);
    assert!(
        line.starts_with("lockbox: configuration: ") && line.contains("unknown field `pin`"),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1, "{line}");
    Ok(())
}

#[test]
fn help_lists_the_aws_kms_commands_and_their_flags() -> TestResult {
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .arg("--help")
        .output()?;
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout)?;
    for cmd in [
        "demo",
        "inspect-token",
        "create-key",
        "describe-key",
        "list-keys",
        "update-key-description",
        "enable-key",
        "disable-key",
        "schedule-key-deletion",
        "cancel-key-deletion",
        "enable-key-rotation",
        "disable-key-rotation",
        "get-key-rotation-status",
        "rotate-key-on-demand",
        "list-key-rotations",
        "key-usage",
        "maintain",
        "doctor",
        "audit",
        "create-alias",
        "update-alias",
        "delete-alias",
        "list-aliases",
        "tag-resource",
        "untag-resource",
        "list-resource-tags",
        "encrypt",
        "decrypt",
        "re-encrypt",
        "generate-data-key",
        "generate-data-key-without-plaintext",
        "generate-random",
    ] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{cmd} "))),
            "--help lacks {cmd}:\n{help}"
        );
    }
    assert!(help.contains("PINs are never taken from the command line"));
    assert!(
        help.contains("Exit codes: 0 success; 1 maintain, doctor or audit verify"),
        "{help}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["audit", "export", "--help"])
        .output()?;
    let help = String::from_utf8(out.stdout)?;
    for flag in [
        "--start-time",
        "--end-time",
        "--key-id",
        "--principal",
        "--output",
    ] {
        assert!(
            help.contains(flag),
            "audit export --help lacks {flag}:\n{help}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["audit", "verify", "--help"])
        .output()?;
    let help = String::from_utf8(out.stdout)?;
    assert!(help.contains("unsealed tail"), "{help}");
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["encrypt", "--help"])
        .output()?;
    let help = String::from_utf8(out.stdout)?;
    for flag in [
        "--key-id",
        "--plaintext",
        "--encryption-context",
        "--encryption-algorithm",
        "--ciphertext-out",
    ] {
        assert!(help.contains(flag), "encrypt --help lacks {flag}:\n{help}");
    }
    assert!(help.contains("fileb://PATH"));
    for (cmd, flags, text) in [
        (
            "enable-key-rotation",
            &["--key-id", "--rotation-period-in-days"][..],
            "90 to 2560",
        ),
        (
            "list-key-rotations",
            &[
                "--key-id",
                "--include-key-material",
                "--max-items",
                "--page-size",
                "--starting-token",
            ][..],
            "ALL_KEY_MATERIAL",
        ),
        (
            "key-usage",
            &["--key-id"][..],
            "Encryptions is an upper bound",
        ),
        ("maintain", &[][..], "exits 1 if anything failed"),
        ("doctor", &[][..], "Exits 1 if material is missing"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .args([cmd, "--help"])
            .output()?;
        assert!(out.status.success());
        let help = String::from_utf8(out.stdout)?;
        for flag in flags {
            assert!(help.contains(flag), "{cmd} --help lacks {flag}:\n{help}");
        }
        assert!(help.contains(text), "{cmd} --help lacks {text:?}:\n{help}");
    }
    Ok(())
}

#[test]
fn the_demo_runs_on_a_fresh_token_and_starts_over_when_run_again() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .arg("demo")
            .current_dir(tmp.path())
            .env_remove("SOFTHSM2_CONF")
            .env_remove("LOCKBOX_HOME")
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let text = String::from_utf8(first.stdout)?;
    for expected in [
        "InvalidCiphertextException",
        "CKA_SENSITIVE=true CKA_EXTRACTABLE=false",
        "CKA_VALUE: refused by the token (CKR_ATTRIBUTE_SENSITIVE)",
        "gives the same 32 bytes: yes",
        "the plaintext data key is in none of them",
    ] {
        assert!(
            text.contains(expected),
            "demo output lacks {expected:?}:\n{text}"
        );
    }
    let key_line = |t: &str| {
        t.lines()
            .find(|l| l.trim_start().starts_with("KeyId"))
            .map(str::to_owned)
    };
    let second = run();
    assert!(second.status.success());
    let text2 = String::from_utf8(second.stdout)?;
    assert_ne!(
        key_line(&text),
        key_line(&text2),
        "the second run reused the first token"
    );
    // It will not clear a directory it did not make.
    let foreign = tmp.path().join("mine");
    std::fs::create_dir(&foreign)?;
    std::fs::write(foreign.join("precious"), b"x")?;
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["demo", "--home", foreign.to_str().unwrap()])
        .env_remove("SOFTHSM2_CONF")
        .output()?;
    assert_eq!(out.status.code(), Some(255));
    assert!(foreign.join("precious").exists());
    Ok(())
}

#[test]
fn a_closed_output_pipe_ends_the_command_without_a_panic() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    ok(&home, &["list-keys"]);
    for args in [
        &["demo"][..],
        &["list-keys"][..],
        &["generate-random", "--number-of-bytes", "8"][..],
    ] {
        // Both ends closed before the command writes anything, as `lockbox ... 2>&1 | head -0`.
        let mut child = Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .args(args)
            .current_dir(tmp.path())
            .env("LOCKBOX_HOME", &home)
            .env_remove("SOFTHSM2_CONF")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        drop(child.stdout.take());
        drop(child.stderr.take());
        let status = child.wait()?;
        assert_eq!(status.code(), Some(255), "lockbox {args:?}: {status}");
    }
    Ok(())
}

/// Set in the child that writes an audit log (see `write_audit_log`).
const AUDIT_WRITER_ENV: &str = "LOCKBOX_TEST_AUDIT_HOME";

/// Not a test by itself: the child process `write_audit_log` starts, which opens the data
/// directory's token (SoftHSM reads SOFTHSM2_CONF once per process, so it needs a process
/// of its own) and writes 120 audited calls with seals.
#[test]
#[ignore = "run by audit_verify_names_a_tampered_record as a child process"]
fn audit_writer_child() -> TestResult {
    let Some(home) = std::env::var_os(AUDIT_WRITER_ENV) else {
        return Ok(());
    };
    let config = lockbox::Config::load(Path::new(&home))?;
    let (store, token) = lockbox::audit::open_parts(&config)?;
    let audit_config = lockbox::audit::AuditConfig {
        seal_every: 50,
        ..Default::default()
    };
    let clock: std::sync::Arc<dyn lockbox::Clock> = std::sync::Arc::new(lockbox::SystemClock);
    let log = lockbox::audit::AuditLog::open(store, token, audit_config, clock)?;
    for i in 0..120u64 {
        log.append(lockbox::audit::AuditEvent {
            time: lockbox::api::Timestamp::from_unix_millis(1_735_689_600_000 + i as i64 * 1000),
            request_id: format!("00000000-0000-4000-8000-{i:012}"),
            account: "000000000000".into(),
            principal: "arn:aws:iam::000000000000:root".into(),
            operation: "Encrypt".into(),
            key_arn: Some(format!(
                "arn:aws:kms:us-east-1:000000000000:key/{}",
                if i < 20 { "first" } else { "other" }
            )),
            encryption_context: Default::default(),
            error: None,
            source: "cli".into(),
            grant_id: None,
        })?;
        if i % 60 == 59 {
            log.flush()?;
        }
    }
    log.close()?;
    Ok(())
}

fn write_audit_log(home: &Path) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["audit_writer_child", "--exact", "--ignored", "--nocapture"])
        .env(AUDIT_WRITER_ENV, home)
        .env("SOFTHSM2_CONF", home.join("softhsm/softhsm2.conf"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the audit writer failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn audit_verify_names_a_tampered_record() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    // A fresh directory: no log yet, nothing wrong.
    let out = lockbox(&home, &["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Audit log: 0 records, 0 seals"));

    write_audit_log(&home);
    let out = lockbox(&home, &["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("Audit log: 120 records, 2 seals, last seq 121"),
        "{text}"
    );
    assert!(
        text.trim_end()
            .ends_with("OK: the chain, every seal and the token's mark agree"),
        "{text}"
    );

    // Export: JSON Lines, filtered by key and time.
    let out = lockbox(&home, &["audit", "export", "--key-id", "first"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)?
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 20);
    assert_eq!(lines[0]["eventName"], "Encrypt");
    assert_eq!(lines[0]["userIdentity"]["type"], "Root");
    assert_eq!(lines[0]["eventTime"], "2025-01-01T00:00:00Z");
    let file = tmp.path().join("export.jsonl");
    ok(
        &home,
        &[
            "audit",
            "export",
            "--start-time",
            "2025-01-01T00:01:00Z",
            "--end-time",
            "2025-01-01T00:01:09Z",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read_to_string(&file)?.lines().count(), 10);
    let (code, err) = fails(&home, &["audit", "export", "--start-time", "yesterday"]);
    assert_eq!(code, 252);
    assert!(err.contains("--start-time"), "{err}");

    // Tamper with record 7 in the store, then verify again.
    {
        let store = lockbox_store::Store::open(&home.join("metadata"))?;
        let mut e = lockbox_store::AuditEntry::decode(&store.audit_raw(7)?.unwrap())?;
        if let lockbox_store::AuditBody::Event(ev) = &mut e.body {
            ev.operation = "ScheduleKeyDeletion".into();
        }
        store.put_audit_raw(7, &e.encode()?)?;
    }
    let out = lockbox(&home, &["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "PROBLEM  seq 8: prev_hash does not match the hash of entry 7: entry 7 was modified"
        ),
        "{text}"
    );
    assert!(text.trim_end().ends_with("PROBLEMS: 1"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not verify"));
    Ok(())
}
