//! The `lockbox` binary, driven as a user drives it: fresh data directories, real SoftHSM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Runs `lockbox` with `home` as its data directory, as its default caller. SOFTHSM2_CONF is
/// removed from the environment, so the binary must find (and re-execute with) its own.
fn lockbox(home: &Path, args: &[&str]) -> Output {
    lockbox_as(home, None, args)
}

/// Runs `lockbox` as `caller` (a principal ARN, through LOCKBOX_CALLER), or as the data
/// directory's default caller.
fn lockbox_as(home: &Path, caller: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lockbox"));
    command
        .args(args)
        .env("LOCKBOX_HOME", home)
        .env_remove("SOFTHSM2_CONF")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION");
    match caller {
        Some(c) => command.env("LOCKBOX_CALLER", c),
        None => command.env_remove("LOCKBOX_CALLER"),
    };
    command.output().unwrap()
}

fn ok(home: &Path, args: &[&str]) -> serde_json::Value {
    ok_as(home, None, args)
}

fn ok_as(home: &Path, caller: Option<&str>, args: &[&str]) -> serde_json::Value {
    let out = lockbox_as(home, caller, args);
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
    fails_as(home, None, args)
}

fn fails_as(home: &Path, caller: Option<&str>, args: &[&str]) -> (i32, String) {
    let out = lockbox_as(home, caller, args);
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
        (254, "An error occurred (ValidationException) when calling the EnableKeyRotation operation: 1 validation error detected: Value '89' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value greater than or equal to 90".into())
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
            serde_json::json!({"KeyId": key_arn(&key)})
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
    // first encryption under a version and gives the unused rest back when it ends. So
    // version 1 (one encryption) shows 1, version 2 (never used) none, version 3 (two
    // encryptions, two processes) 2.
    let encryptions = |i: usize| materials[i]["Encryptions"].as_u64().unwrap();
    assert_eq!(encryptions(0), 1, "{usage}");
    assert_eq!(encryptions(1), 0, "{usage}");
    assert_eq!(encryptions(2), 2, "{usage}");

    assert_eq!(
        ok(&home, &["maintain"]),
        serde_json::json!({"Rotated": [], "Deleted": [], "Expired": [], "Failed": []})
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
            // SoftHSM serves every key spec and usage Lockbox has.
            "Key specs: SYMMETRIC_DEFAULT, RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, \
             ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, HMAC_224, HMAC_256, HMAC_384, \
             HMAC_512",
            "Keys: 1 record, 3 token objects",
            "OK: every record has its material and no orphans remain."
        ],
        "{report}"
    );
    // The same as JSON, with one entry per key spec and usage.
    let out = lockbox(&home, &["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(j["Ok"], true);
    assert_eq!(j["Token"]["Label"], "lockbox");
    assert_eq!(j["Lines"].as_array().unwrap().len(), 4);
    let specs = j["KeySpecs"].as_array().unwrap();
    assert_eq!(specs.len(), 18);
    assert!(
        specs
            .iter()
            .all(|s| s["Supported"] == true && s.get("Missing").is_none()),
        "{specs:?}"
    );
    assert!(specs.contains(&serde_json::json!({"KeySpec": "ECC_SECG_P256K1", "KeyUsage": "SIGN_VERIFY", "Supported": true})));
    assert!(specs.contains(&serde_json::json!({"KeySpec": "HMAC_224", "KeyUsage": "GENERATE_VERIFY_MAC", "Supported": true})));
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
    // AWS's InvalidCiphertextException has an empty message: the line ends at the colon
    // (and the space after it, which `fails` trims), as the AWS CLI prints it.
    assert_eq!(
        fails(&home, &["decrypt", "--ciphertext-blob", "AAAA"]),
        (
            254,
            "An error occurred (InvalidCiphertextException) when calling the Decrypt operation:"
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
        (254, "An error occurred (ValidationException) when calling the GenerateDataKey operation: 1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1".into())
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

/// The default caller: the root of the default account.
const ROOT: &str = "arn:aws:iam::000000000000:root";
const ADMIN: &str = "arn:aws:iam::000000000000:user/admin";
const APP: &str = "arn:aws:iam::000000000000:user/app";

fn key_arn(key: &str) -> String {
    format!("arn:aws:kms:us-east-1:000000000000:key/{key}")
}

/// Writes `text` to `dir/name` and returns `file://` and the path.
fn param_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    format!("file://{}", path.display())
}

/// A policy: `admin` may do everything, `users` may encrypt and decrypt.
fn admin_and_users_policy(admin: &str, users: &[&str]) -> String {
    let mut statements = vec![serde_json::json!({
        "Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": admin},
        "Action": "kms:*", "Resource": "*"})];
    if !users.is_empty() {
        statements.push(serde_json::json!({
            "Sid": "Use", "Effect": "Allow", "Principal": {"AWS": users},
            "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}));
    }
    let doc = serde_json::json!({"Version": "2012-10-17", "Statement": statements});
    // As a person writes a file: indented, with a final newline, which must survive.
    serde_json::to_string_pretty(&doc).unwrap() + "\n"
}

#[test]
fn key_policies_round_trip_and_refuse_malformed_documents_and_lockout() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let key = ok(&home, &["create-key"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = Some(ADMIN);

    // The admin (allowed by the default policy) puts a policy from a file: prints nothing.
    let policy = admin_and_users_policy(ADMIN, &[APP]);
    let file = param_file(tmp.path(), "policy.json", &policy);
    let out = lockbox_as(
        &home,
        admin,
        &["put-key-policy", "--key-id", &key, "--policy", &file],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!((&out.stdout[..], &out.stderr[..]), (&b""[..], &b""[..]));
    let got = serde_json::json!({"Policy": policy, "PolicyName": "default"});
    assert_eq!(
        ok_as(&home, admin, &["get-key-policy", "--key-id", &key]),
        got
    );
    assert_eq!(
        ok_as(
            &home,
            admin,
            &[
                "get-key-policy",
                "--key-id",
                &key_arn(&key),
                "--policy-name",
                "default"
            ]
        ),
        got
    );
    assert_eq!(
        ok_as(&home, admin, &["list-key-policies", "--key-id", &key]),
        serde_json::json!({"PolicyNames": ["default"]})
    );
    assert_eq!(
        fails_as(&home, admin, &["get-key-policy", "--key-id", &key, "--policy-name", "other"]),
        (254, "An error occurred (NotFoundException) when calling the GetKeyPolicy operation: No such policy exists: 'other'. A key has one policy, named 'default'.".into())
    );
    // The policy is in force at once: the app encrypts; the account root, not named, is out.
    ok_as(
        &home,
        Some(APP),
        &["encrypt", "--key-id", &key, "--plaintext", "aGk="],
    );
    assert_eq!(
        fails(&home, &["get-key-policy", "--key-id", &key]),
        (
            254,
            format!(
                "An error occurred (AccessDeniedException) when calling the GetKeyPolicy operation: User: {ROOT} is not authorized to perform: kms:GetKeyPolicy on resource: {} because no resource-based policy or grant allows the kms:GetKeyPolicy action",
                key_arn(&key)
            )
        )
    );

    // Malformed documents name the statement and field; unreadable files name the flag.
    let bad_action = policy.replace("\"kms:Encrypt\"", "\"kms:Encrypts\"");
    assert_eq!(
        fails_as(&home, admin, &["put-key-policy", "--key-id", &key, "--policy", &bad_action]),
        (254, "An error occurred (MalformedPolicyDocumentException) when calling the PutKeyPolicy operation: Statement 2 (Sid \"Use\"): Action: unknown KMS action \"kms:Encrypts\"".into())
    );
    let (code, line) = fails_as(
        &home,
        admin,
        &[
            "put-key-policy",
            "--key-id",
            &key,
            "--policy",
            "{\"Version\": ",
        ],
    );
    assert_eq!(code, 254);
    assert!(
        line.starts_with("An error occurred (MalformedPolicyDocumentException) when calling the PutKeyPolicy operation: Policy: not valid JSON"),
        "{line}"
    );
    assert_eq!(
        fails_as(&home, admin, &["put-key-policy", "--key-id", &key, "--policy", &policy, "--policy-name", "custom"]),
        (254, "An error occurred (NotFoundException) when calling the PutKeyPolicy operation: No such policy exists: 'custom'. A key has one policy, named 'default'.".into())
    );
    assert_eq!(
        fails_as(&home, admin, &["put-key-policy", "--key-id", &key, "--policy", "file:///no/such/policy.json"]),
        (252, "Error parsing parameter '--policy': Unable to load paramfile file:///no/such/policy.json: No such file or directory (os error 2)".into())
    );

    // A policy that shuts its author out is refused, and nothing changes...
    let app_only = admin_and_users_policy(APP, &[]);
    let app_file = param_file(tmp.path(), "app-only.json", &app_only);
    assert_eq!(
        fails_as(
            &home,
            admin,
            &["put-key-policy", "--key-id", &key, "--policy", &app_file]
        ),
        (
            254,
            format!(
                "An error occurred (MalformedPolicyDocumentException) when calling the PutKeyPolicy operation: The new key policy will not allow you to update the key policy in the future: it does not allow {ADMIN} kms:PutKeyPolicy. Set BypassPolicyLockoutSafetyCheck to apply it anyway."
            )
        )
    );
    assert_eq!(
        ok_as(&home, admin, &["get-key-policy", "--key-id", &key]),
        got
    );
    // ...unless the check is bypassed: then the admin is out and the app is in charge.
    ok_as(
        &home,
        admin,
        &[
            "put-key-policy",
            "--key-id",
            &key,
            "--policy",
            &app_file,
            "--bypass-policy-lockout-safety-check",
        ],
    );
    assert_eq!(
        fails_as(&home, admin, &["get-key-policy", "--key-id", &key]).0,
        254
    );
    assert_eq!(
        ok_as(&home, Some(APP), &["get-key-policy", "--key-id", &key]),
        serde_json::json!({"Policy": app_only, "PolicyName": "default"})
    );
    Ok(())
}

#[test]
fn create_key_takes_its_policy_from_a_file() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let policy = admin_and_users_policy(ADMIN, &[APP]);
    let file = param_file(tmp.path(), "policy.json", &policy);
    ok(&home, &["list-keys"]);
    // The root is not in it: refused, and no key is made.
    assert_eq!(
        fails(&home, &["create-key", "--policy", &file]),
        (
            254,
            format!(
                "An error occurred (MalformedPolicyDocumentException) when calling the CreateKey operation: The new key policy will not allow you to update the key policy in the future: it does not allow {ROOT} kms:PutKeyPolicy. Set BypassPolicyLockoutSafetyCheck to apply it anyway."
            )
        )
    );
    assert_eq!(ok(&home, &["list-keys"]), serde_json::json!({"Keys": []}));
    // The admin may create it; the document is kept exactly as written.
    let md = ok_as(
        &home,
        Some(ADMIN),
        &["create-key", "--description", "guarded", "--policy", &file],
    );
    let key = md["KeyMetadata"]["KeyId"].as_str().unwrap();
    assert_eq!(md["KeyMetadata"]["Description"], "guarded");
    assert_eq!(
        ok_as(&home, Some(ADMIN), &["get-key-policy", "--key-id", key]),
        serde_json::json!({"Policy": policy, "PolicyName": "default"})
    );
    // With the bypass the root may create a key it cannot manage afterwards.
    let other = ok(
        &home,
        &[
            "create-key",
            "--policy",
            &file,
            "--bypass-policy-lockout-safety-check",
        ],
    )["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(fails(&home, &["describe-key", "--key-id", &other]).0, 254);
    assert_eq!(
        ok_as(&home, Some(ADMIN), &["describe-key", "--key-id", &other])["KeyMetadata"]["KeyId"],
        other.as_str()
    );
    Ok(())
}

#[test]
fn grants_give_another_principal_narrow_use_until_retired_or_revoked() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let key = ok(&home, &["create-key"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let arn = key_arn(&key);
    // The grantee is in another account: the default policy lets it do nothing.
    let worker = "arn:aws:iam::111122223333:user/worker";
    let retirer = "arn:aws:iam::000000000000:role/retirer";
    let as_worker = Some(worker);
    let denied = |op: &str, action: &str| {
        (
            254,
            format!(
                "An error occurred (AccessDeniedException) when calling the {op} operation: User: {worker} is not authorized to perform: kms:{action} on resource: {arn} because no resource-based policy or grant allows the kms:{action} action"
            ),
        )
    };
    let encrypt = |context: &str, tokens: &[&str]| {
        let mut args = vec![
            "encrypt",
            "--key-id",
            &arn,
            "--plaintext",
            "aGk=",
            "--encryption-context",
            context,
        ];
        if !tokens.is_empty() {
            args.push("--grant-tokens");
            args.extend(tokens);
        }
        lockbox_as(&home, as_worker, &args)
    };
    let fails_encrypt = |context: &str, tokens: &[&str]| {
        let out = encrypt(context, tokens);
        assert!(out.stdout.is_empty());
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).trim_end().to_owned(),
        )
    };
    assert_eq!(
        fails_encrypt("tenant=acme", &[]),
        denied("Encrypt", "Encrypt")
    );

    let grant = ok(
        &home,
        &[
            "create-grant",
            "--key-id",
            &key,
            "--grantee-principal",
            worker,
            "--operations",
            "Encrypt",
            "Decrypt",
            "GenerateDataKey",
            "--retiring-principal",
            retirer,
            "--constraints",
            "EncryptionContextSubset={tenant=acme}",
            "--name",
            "worker-acme",
        ],
    );
    let grant_id = grant["GrantId"].as_str().unwrap().to_owned();
    let token = grant["GrantToken"].as_str().unwrap().to_owned();
    assert_eq!(
        grant.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["GrantId", "GrantToken"]
    );
    assert_eq!(grant_id.len(), 64);
    assert!(grant_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(token.ends_with(&grant_id), "{token}");

    // The grantee uses it at once, with its token, in a context that contains tenant=acme...
    let out = encrypt("tenant=acme,request=7", &[&token]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let enc: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(enc["KeyId"], arn.as_str());
    assert_eq!(
        ok_as(
            &home,
            as_worker,
            &[
                "decrypt",
                "--ciphertext-blob",
                enc["CiphertextBlob"].as_str().unwrap(),
                "--encryption-context",
                "request=7,tenant=acme",
                "--grant-tokens",
                &token,
            ]
        )["Plaintext"],
        "aGk="
    );
    let dk = ok_as(
        &home,
        as_worker,
        &[
            "generate-data-key",
            "--key-id",
            &arn,
            "--key-spec",
            "AES_128",
            "--encryption-context",
            "tenant=acme",
            "--grant-tokens",
            &token,
        ],
    );
    assert_eq!(dk["Plaintext"].as_str().unwrap().len(), 24);
    // ...and not in any other context, nor for operations the grant lacks.
    assert_eq!(
        fails_encrypt("tenant=other", &[&token]),
        denied("Encrypt", "Encrypt")
    );
    assert_eq!(fails_encrypt("", &[&token]), denied("Encrypt", "Encrypt"));
    assert_eq!(
        fails_as(
            &home,
            as_worker,
            &[
                "generate-data-key-without-plaintext",
                "--key-id",
                &arn,
                "--key-spec",
                "AES_256",
                "--encryption-context",
                "tenant=acme",
                "--grant-tokens",
                &token,
            ]
        ),
        denied(
            "GenerateDataKeyWithoutPlaintext",
            "GenerateDataKeyWithoutPlaintext"
        )
    );
    assert_eq!(
        fails_as(
            &home,
            as_worker,
            &["describe-key", "--key-id", &arn, "--grant-tokens", &token]
        ),
        denied("DescribeKey", "DescribeKey")
    );
    // Tokens are checked even where the policy allows the call.
    assert_eq!(
        fails_encrypt("tenant=acme", &["forged"]),
        (254, "An error occurred (InvalidGrantTokenException) when calling the Encrypt operation: The grant token is not valid: it is not a token Lockbox issued.".into())
    );
    let eleven = vec![token.as_str(); 11];
    assert_eq!(
        fails_encrypt("tenant=acme", &eleven),
        (254, "An error occurred (ValidationException) when calling the Encrypt operation: 1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10".into())
    );
    assert_eq!(
        ok(
            &home,
            &[
                "describe-key",
                "--key-id",
                &key,
                "--grant-tokens",
                &token,
                &token
            ]
        )["KeyMetadata"]["KeyId"],
        key.as_str()
    );
    let re = ok(
        &home,
        &[
            "re-encrypt",
            "--ciphertext-blob",
            enc["CiphertextBlob"].as_str().unwrap(),
            "--source-encryption-context",
            "tenant=acme,request=7",
            "--destination-key-id",
            &key,
            "--grant-tokens",
            &token,
        ],
    );
    assert_eq!(re["SourceKeyId"], arn.as_str());

    // Listed for the key's administrators, field for field.
    let mut listed = ok(&home, &["list-grants", "--key-id", &key]);
    let created = listed["Grants"][0]
        .as_object_mut()
        .unwrap()
        .remove("CreationDate")
        .unwrap();
    assert!(created.as_str().unwrap().ends_with("+00:00"), "{created}");
    let entry = serde_json::json!({
        "KeyId": arn,
        "GrantId": grant_id,
        "Name": "worker-acme",
        "GranteePrincipal": worker,
        "RetiringPrincipal": retirer,
        "IssuingAccount": ROOT,
        "Operations": ["Decrypt", "Encrypt", "GenerateDataKey"],
        "Constraints": {"EncryptionContextSubset": {"tenant": "acme"}},
    });
    assert_eq!(listed, serde_json::json!({"Grants": [entry]}));
    let mut with_date = entry.clone();
    with_date["CreationDate"] = created;
    let one = serde_json::json!({"Grants": [with_date]});
    assert_eq!(
        ok(
            &home,
            &[
                "list-grants",
                "--key-id",
                &key,
                "--grant-id",
                &grant_id,
                "--grantee-principal",
                worker
            ]
        ),
        one
    );
    assert_eq!(
        ok(
            &home,
            &[
                "list-grants",
                "--key-id",
                &key,
                "--grantee-principal",
                retirer
            ]
        ),
        serde_json::json!({"Grants": []})
    );
    assert_eq!(
        fails(&home, &["list-grants", "--key-id", &key, "--grant-id", "nope"]),
        (254, "An error occurred (InvalidGrantIdException) when calling the ListGrants operation: The grant id is not valid: a grant id is 64 lowercase hex digits.".into())
    );
    // The retiring principal sees it among the grants it may retire.
    assert_eq!(
        ok_as(
            &home,
            Some(retirer),
            &["list-retirable-grants", "--retiring-principal", retirer]
        ),
        one
    );

    // The grantee may not retire it (the grant lacks RetireGrant); the retirer may, by token.
    let (code, line) = fails_as(&home, as_worker, &["retire-grant", "--grant-token", &token]);
    assert_eq!(code, 254);
    assert!(
        line.starts_with(&format!("An error occurred (AccessDeniedException) when calling the RetireGrant operation: User: {worker} is not authorized to perform: kms:RetireGrant on grant {grant_id}")),
        "{line}"
    );
    assert_eq!(
        ok_as(
            &home,
            Some(retirer),
            &["retire-grant", "--grant-token", &token]
        ),
        serde_json::Value::Null
    );
    assert_eq!(
        fails_encrypt("tenant=acme", &[&token]),
        denied("Encrypt", "Encrypt")
    );
    assert_eq!(
        ok(&home, &["list-grants", "--key-id", &key]),
        serde_json::json!({"Grants": []})
    );

    // Two plain grants: paged as the AWS CLI pages; one retired by key and id, one revoked.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let g = ok(
            &home,
            &[
                "create-grant",
                "--key-id",
                &arn,
                "--grantee-principal",
                worker,
                "--operations",
                "Encrypt",
                "--retiring-principal",
                retirer,
            ],
        );
        ids.push(g["GrantId"].as_str().unwrap().to_owned());
    }
    ids.sort();
    let first = ok(
        &home,
        &["list-grants", "--key-id", &key, "--max-items", "1"],
    );
    assert_eq!(first["Grants"][0]["GrantId"], ids[0].as_str());
    assert!(
        first["Grants"][0].get("Constraints").is_none() && first["Grants"][0].get("Name").is_none()
    );
    let rest = ok(
        &home,
        &[
            "list-grants",
            "--key-id",
            &key,
            "--starting-token",
            first["NextToken"].as_str().unwrap(),
        ],
    );
    assert_eq!(rest["Grants"].as_array().unwrap().len(), 1);
    assert_eq!(rest["Grants"][0]["GrantId"], ids[1].as_str());
    assert!(rest.get("NextToken").is_none());
    ok_as(
        &home,
        as_worker,
        &["encrypt", "--key-id", &arn, "--plaintext", "aGk="],
    );
    ok_as(
        &home,
        Some(retirer),
        &["retire-grant", "--key-id", &key, "--grant-id", &ids[0]],
    );
    assert_eq!(
        ok(
            &home,
            &["revoke-grant", "--key-id", &key, "--grant-id", &ids[1]]
        ),
        serde_json::Value::Null
    );
    assert_eq!(
        fails_as(
            &home,
            as_worker,
            &["encrypt", "--key-id", &arn, "--plaintext", "aGk="]
        ),
        denied("Encrypt", "Encrypt")
    );
    assert_eq!(
        fails(
            &home,
            &["revoke-grant", "--key-id", &key, "--grant-id", &ids[1]]
        ),
        (
            254,
            format!(
                "An error occurred (NotFoundException) when calling the RevokeGrant operation: Grant {} of {arn} does not exist.",
                ids[1]
            )
        )
    );

    // Bad input names the parameter.
    let create = |extra: &[&str]| {
        let mut args = vec!["create-grant", "--key-id", &key, "--operations", "Encrypt"];
        args.extend(extra);
        fails(&home, &args)
    };
    assert_eq!(
        create(&["--grantee-principal", "worker"]),
        (252, "Error parsing parameter '--grantee-principal': 'worker' is not a principal ARN: expected arn:<partition>:iam::<account>:<root|user/...|role/...> or arn:<partition>:sts::<account>:assumed-role/<role>/<session>".into())
    );
    assert_eq!(
        create(&["--grantee-principal", worker, "--retiring-principal", "arn:aws:iam::12:root"]),
        (252, "Error parsing parameter '--retiring-principal': 'arn:aws:iam::12:root' is not a principal ARN: the account must be 12 digits".into())
    );
    assert_eq!(
        create(&["--grantee-principal", worker, "--constraints", "EncryptionContextSubset=tenant=acme"]),
        (252, "Error parsing parameter '--constraints': The value of EncryptionContextSubset must be {k1=v1,k2=v2}".into())
    );
    assert_eq!(
        create(&["--grantee-principal", worker, "--constraints", "SourceArn={a=1}"]),
        (252, "Error parsing parameter '--constraints': Unknown member 'SourceArn', expected EncryptionContextSubset={k1=v1,k2=v2} or EncryptionContextEquals={k1=v1,k2=v2}".into())
    );
    assert_eq!(
        create(&["--grantee-principal", worker, "--operations", "Sing"]),
        (254, "An error occurred (ValidationException) when calling the CreateGrant operation: 1 validation error detected: Value 'Sing' at 'operations' failed to satisfy constraint: Member must satisfy enum value set: [Decrypt, Encrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, ReEncryptFrom, ReEncryptTo, Sign, Verify, GetPublicKey, CreateGrant, RetireGrant, DescribeKey, GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext, GenerateMac, VerifyMac, DeriveSharedSecret, Encapsulate, Decapsulate]".into())
    );
    assert_eq!(
        create(&["--grantee-principal", worker, "--name", "no spaces"]),
        (254, "An error occurred (ValidationException) when calling the CreateGrant operation: 1 validation error detected: Value 'no spaces' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$".into())
    );
    // RetireGrant takes a token, or a key and a grant id: any other shape names the flags.
    for (args, first_line) in [
        (
            &["retire-grant"][..],
            "error: the following required arguments were not provided:",
        ),
        (
            &["retire-grant", "--grant-token", &token, "--key-id", &key][..],
            "error: the argument '--grant-token <GRANT_TOKEN>' cannot be used with '--key-id <KEY_ID>'",
        ),
        (
            &["retire-grant", "--key-id", &key][..],
            "error: the following required arguments were not provided:",
        ),
    ] {
        let (code, text) = fails(&home, args);
        assert_eq!(code, 252, "{args:?}");
        assert_eq!(text.lines().next(), Some(first_line), "{args:?}: {text}");
        assert!(
            text.contains("--grant-token <GRANT_TOKEN>") && text.contains("--grant-id <GRANT_ID>"),
            "{text}"
        );
    }
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
        "backup",
        "restore",
        "audit",
        "create-alias",
        "update-alias",
        "delete-alias",
        "list-aliases",
        "tag-resource",
        "untag-resource",
        "list-resource-tags",
        "put-key-policy",
        "get-key-policy",
        "list-key-policies",
        "create-grant",
        "list-grants",
        "list-retirable-grants",
        "retire-grant",
        "revoke-grant",
        "encrypt",
        "decrypt",
        "re-encrypt",
        "generate-data-key",
        "generate-data-key-without-plaintext",
        "generate-random",
        "encrypt-file",
        "decrypt-file",
    ] {
        assert!(
            // The name alone on its line (clap puts the summary on the next line once a
            // command's name, e.g. generate-data-key-pair-without-plaintext, is long), or
            // followed by its summary.
            help.lines()
                .any(|l| l.trim() == cmd || l.trim_start().starts_with(&format!("{cmd} "))),
            "--help lacks {cmd}:\n{help}"
        );
    }
    assert!(help.contains("PINs are never taken from the command line"));
    assert!(help.contains("Commands act as $LOCKBOX_CALLER"), "{help}");
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
        "--grant-tokens",
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
        (
            "put-key-policy",
            &[
                "--key-id",
                "--policy",
                "--policy-name",
                "--bypass-policy-lockout-safety-check",
            ][..],
            "file://PATH",
        ),
        (
            "create-key",
            &["--policy", "--bypass-policy-lockout-safety-check", "--tags"][..],
            "Dangerous",
        ),
        (
            "create-grant",
            &[
                "--key-id",
                "--grantee-principal",
                "--operations",
                "--retiring-principal",
                "--constraints",
                "--name",
                "--grant-tokens",
            ][..],
            "EncryptionContextSubset={k1=v1,k2=v2}",
        ),
        (
            "list-grants",
            &[
                "--key-id",
                "--grant-id",
                "--grantee-principal",
                "--max-items",
                "--page-size",
                "--starting-token",
            ][..],
            "Only this grant",
        ),
        (
            "retire-grant",
            &["--grant-token", "--key-id", "--grant-id"][..],
            "lockbox retire-grant --key-id <KEY_ID> --grant-id <GRANT_ID>",
        ),
        ("describe-key", &["--key-id", "--grant-tokens"][..], "alias"),
        (
            "doctor",
            &["--repair"][..],
            "Exits 1 if anything remains wrong",
        ),
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
    let (store, token, _lock) = lockbox::audit::open_parts(&config)?;
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
            region: None,
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

/// `audit export --key-id` takes what every other command takes: a key id, a key ARN, an
/// alias name or alias ARN (resolved to the key it names now); an unknown alias is refused.
#[test]
fn audit_export_resolves_alias_names_as_other_commands_do() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let key = ok(&home, &["create-key"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = ok(&home, &["create-key"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        &home,
        &[
            "create-alias",
            "--alias-name",
            "alias/app",
            "--target-key-id",
            &key,
        ],
    );
    std::fs::write(tmp.path().join("secret.txt"), "db password")?;
    let secret = format!("fileb://{}", tmp.path().join("secret.txt").display());
    ok(
        &home,
        &["encrypt", "--key-id", "alias/app", "--plaintext", &secret],
    );
    ok(
        &home,
        &["encrypt", "--key-id", &other, "--plaintext", &secret],
    );
    let export = |k: &str| {
        let out = lockbox(&home, &["audit", "export", "--key-id", k]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let by_id = export(&key);
    let names: Vec<String> = by_id
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["eventName"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["CreateKey", "CreateAlias", "Encrypt"], "{by_id}");
    assert_eq!(export("alias/app"), by_id);
    let account = "000000000000";
    assert_eq!(
        export(&format!("arn:aws:kms:us-east-1:{account}:alias/app")),
        by_id
    );
    assert_eq!(
        fails(&home, &["audit", "export", "--key-id", "alias/nope"]),
        (
            252,
            format!(
                "Error parsing parameter '--key-id': alias alias/nope is not found in account {account}, Region us-east-1"
            )
        )
    );
    Ok(())
}

/// Runs `lockbox` as `lockbox()` does, but under umask 000, as a careless shell would start
/// it: the modes of what it creates must not depend on the caller's umask.
fn lockbox_umask_000(home: &Path, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_lockbox"))
        .args(args)
        .env("LOCKBOX_HOME", home)
        .env_remove("SOFTHSM2_CONF")
        .env_remove("LOCKBOX_CALLER")
        .output()
        .unwrap()
}

/// Every file and directory in a data directory, after the commands that create them
/// (provisioning, keys, encryption, rotation, policies, grants, aliases, audit, doctor,
/// maintain and a server), is 0600 or 0700 — even when Lockbox is started under umask 000.
#[test]
fn every_file_lockbox_or_sled_creates_is_private_whatever_the_umask() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let run = |args: &[&str]| -> serde_json::Value {
        let out = lockbox_umask_000(&home, args);
        assert!(
            out.status.success(),
            "lockbox {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    };
    let key = run(&["create-key"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    run(&["encrypt", "--key-id", &key, "--plaintext", "aGVsbG8="]);
    run(&["rotate-key-on-demand", "--key-id", &key]);
    run(&[
        "create-alias",
        "--alias-name",
        "alias/modes",
        "--target-key-id",
        &key,
    ]);
    run(&[
        "create-grant",
        "--key-id",
        &key,
        "--grantee-principal",
        "arn:aws:iam::000000000000:role/worker",
        "--operations",
        "Encrypt",
    ]);
    run(&[
        "schedule-key-deletion",
        "--key-id",
        &key,
        "--pending-window-in-days",
        "7",
    ]);
    run(&["cancel-key-deletion", "--key-id", &key]);
    run(&["maintain"]);
    run(&["doctor"]);
    run(&["audit", "verify"]);
    // A server: it writes credentials.toml and its own files.
    let mut server = Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_lockbox"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("LOCKBOX_HOME", &home)
        .env_remove("SOFTHSM2_CONF")
        .env_remove("LOCKBOX_CALLER")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let stdout = server.stdout.take().unwrap();
    let serving = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .any(|l| l.starts_with("Serving until"));
    server.kill()?;
    server.wait()?;
    assert!(serving, "lockbox serve did not start");
    run(&["list-keys"]);
    // Killed just after sled renamed its new snapshot into place, at the unlink of the old
    // one: no later open has had the chance to tighten the new snapshot's mode.
    let killed = Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$@\"")
        .arg("sh")
        .args(["strace", "-f", "-o", "/dev/null", "-e", "trace=unlink"])
        .args(["-e", "inject=unlink:signal=KILL:when=1"])
        .arg(env!("CARGO_BIN_EXE_lockbox"))
        .arg("list-keys")
        .env("LOCKBOX_HOME", &home)
        .env_remove("SOFTHSM2_CONF")
        .output()?;
    // strace ends itself with the signal that ended its tracee.
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&killed.status),
        Some(9),
        "{}",
        String::from_utf8_lossy(&killed.stderr)
    );
    let snapshots = std::fs::read_dir(home.join("metadata"))?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("snap."))
        .count();
    assert_eq!(
        snapshots, 2,
        "the new snapshot beside the old one it was about to remove"
    );

    let mut seen = 0;
    let mut stack = vec![home.clone()];
    while let Some(dir) = stack.pop() {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            seen += 1;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            } else {
                assert_eq!(mode(&entry.path()), 0o600, "{}", entry.path().display());
            }
        }
    }
    // The token's files, sled's snapshot, the lock files and the root file's copy are there.
    for f in [
        "lockbox.lock",
        "metadata/lockbox-store.lock",
        "credentials.toml",
    ] {
        assert!(home.join(f).exists(), "{f}");
    }
    assert!(seen > 20, "only {seen} entries");
    Ok(())
}

/// An RSA ENCRYPT_DECRYPT key with the `aws kms` flags: the algorithm is named on both sides,
/// Decrypt names the key, and the answers name the algorithm used.
#[test]
fn rsa_keys_encrypt_and_decrypt_with_the_aws_cli_flags() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let md = ok(
        &home,
        &[
            "create-key",
            "--key-spec",
            "RSA_2048",
            "--key-usage",
            "ENCRYPT_DECRYPT",
        ],
    );
    let key = md["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let arn = format!("arn:aws:kms:us-east-1:000000000000:key/{key}");
    assert_eq!(
        md["KeyMetadata"]["EncryptionAlgorithms"],
        serde_json::json!(["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
    );
    for alg in ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"] {
        let enc = ok(
            &home,
            &[
                "encrypt",
                "--key-id",
                &key,
                "--plaintext",
                "aGVsbG8=",
                "--encryption-algorithm",
                alg,
            ],
        );
        assert_eq!(
            (enc["KeyId"].as_str(), enc["EncryptionAlgorithm"].as_str()),
            (Some(arn.as_str()), Some(alg))
        );
        let ct = enc["CiphertextBlob"].as_str().unwrap().to_owned();
        assert_eq!(ct.len(), 344, "256 bytes in base64");
        assert_eq!(
            ok(
                &home,
                &[
                    "decrypt",
                    "--ciphertext-blob",
                    &ct,
                    "--key-id",
                    &key,
                    "--encryption-algorithm",
                    alg
                ]
            ),
            serde_json::json!({"KeyId": arn, "Plaintext": "aGVsbG8=", "EncryptionAlgorithm": alg})
        );
        // Without the key it is read as a blob, and is not one.
        assert_eq!(
            fails(
                &home,
                &[
                    "decrypt",
                    "--ciphertext-blob",
                    &ct,
                    "--encryption-algorithm",
                    alg
                ]
            ),
            (
                254,
                "An error occurred (InvalidCiphertextException) when calling the Decrypt operation:"
                    .to_owned()
                    + lockbox::api::KmsError::invalid_ciphertext().message()
            )
        );
    }
    assert_eq!(
        fails(&home, &["encrypt", "--key-id", &key, "--plaintext", "aGVsbG8="]),
        (254, "An error occurred (InvalidKeyUsageException) when calling the Encrypt operation: Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.".into())
    );
    Ok(())
}

/// On a token that lacks the curve secp256k1 and ECDH (as some HSMs do; made here by hiding
/// them from the capability probe), CreateKey refuses exactly those specs and usages, naming
/// what is missing, and `lockbox doctor` lists them as `SPEC` lines without calling them
/// problems.
#[test]
fn a_token_lacking_a_curve_or_mechanism_refuses_those_specs_and_doctor_names_them() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .args(args)
            .env("LOCKBOX_HOME", &home)
            .env_remove("SOFTHSM2_CONF")
            .env_remove("LOCKBOX_CALLER")
            .env(
                lockbox_token::HIDE_CAPABILITIES_ENV,
                "secp256k1, CKM_ECDH1_DERIVE",
            )
            .output()
            .unwrap()
    };
    // Provisions the directory (which says so on standard error).
    assert!(run(&["list-keys"]).status.success());
    let refused = |spec: &str, usage: &str| {
        let out = run(&["create-key", "--key-spec", spec, "--key-usage", usage]);
        assert_eq!(out.status.code(), Some(254), "{spec} {usage}");
        assert!(out.stdout.is_empty());
        String::from_utf8_lossy(&out.stderr).trim_end().to_owned()
    };
    assert_eq!(
        refused("ECC_SECG_P256K1", "SIGN_VERIFY"),
        "An error occurred (UnsupportedOperationException) when calling the CreateKey \
         operation: KeySpec ECC_SECG_P256K1 needs the curve secp256k1 (CKM_EC_KEY_PAIR_GEN), \
         which this token does not support."
    );
    assert_eq!(
        refused("ECC_NIST_P256", "KEY_AGREEMENT"),
        "An error occurred (UnsupportedOperationException) when calling the CreateKey \
         operation: KeySpec ECC_NIST_P256 with KeyUsage KEY_AGREEMENT needs CKM_ECDH1_DERIVE, \
         which this token does not support."
    );
    // What the token has still works, and the refusals made no key.
    let out = run(&[
        "create-key",
        "--key-spec",
        "ECC_NIST_P256",
        "--key-usage",
        "SIGN_VERIFY",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&run(&["list-keys"]).stdout)?;
    assert_eq!(listed["Keys"].as_array().unwrap().len(), 1);

    let out = run(&["doctor"]);
    let report = String::from_utf8(out.stdout)?;
    assert_eq!(out.status.code(), Some(0), "{report}");
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(
        lines[1..],
        [
            "Key specs: SYMMETRIC_DEFAULT, RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256 \
             (SIGN_VERIFY only), ECC_NIST_P384 (SIGN_VERIFY only), ECC_NIST_P521 (SIGN_VERIFY \
             only), HMAC_224, HMAC_256, HMAC_384, HMAC_512",
            "SPEC     ECC_NIST_P256 with KEY_AGREEMENT: this token lacks CKM_ECDH1_DERIVE; \
             CreateKey refuses it (UnsupportedOperationException)",
            "SPEC     ECC_NIST_P384 with KEY_AGREEMENT: this token lacks CKM_ECDH1_DERIVE; \
             CreateKey refuses it (UnsupportedOperationException)",
            "SPEC     ECC_NIST_P521 with KEY_AGREEMENT: this token lacks CKM_ECDH1_DERIVE; \
             CreateKey refuses it (UnsupportedOperationException)",
            "SPEC     ECC_SECG_P256K1 with SIGN_VERIFY: this token lacks the curve secp256k1 \
             (CKM_EC_KEY_PAIR_GEN); CreateKey refuses it (UnsupportedOperationException)",
            // The key pair's two halves.
            "Keys: 1 record, 2 token objects",
            "OK: every record has its material and no orphans remain.",
        ],
        "{report}"
    );
    let out = run(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let unsupported: Vec<(&str, &str, &str)> = j["KeySpecs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Supported"] == false)
        .map(|s| {
            (
                s["KeySpec"].as_str().unwrap(),
                s["KeyUsage"].as_str().unwrap(),
                s["Missing"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        unsupported,
        [
            ("ECC_NIST_P256", "KEY_AGREEMENT", "CKM_ECDH1_DERIVE"),
            ("ECC_NIST_P384", "KEY_AGREEMENT", "CKM_ECDH1_DERIVE"),
            ("ECC_NIST_P521", "KEY_AGREEMENT", "CKM_ECDH1_DERIVE"),
            (
                "ECC_SECG_P256K1",
                "SIGN_VERIFY",
                "the curve secp256k1 (CKM_EC_KEY_PAIR_GEN)"
            ),
        ]
    );
    // A misspelt name fails the open rather than hiding nothing.
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["list-keys"])
        .env("LOCKBOX_HOME", &home)
        .env_remove("SOFTHSM2_CONF")
        .env(lockbox_token::HIDE_CAPABILITIES_ENV, "secp256q1")
        .output()?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("'secp256q1' names no mechanism or curve"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
