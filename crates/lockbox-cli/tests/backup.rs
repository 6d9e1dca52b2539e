//! `lockbox backup` and `lockbox restore`, and data directories that work wherever they are
//! copied: the real binary on fresh data directories and real SoftHSM tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Runs `lockbox` on the data directory `home`, as its default caller (or `caller`), with
/// SOFTHSM2_CONF unset so the binary must find its own.
fn run_as(home: &Path, caller: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lockbox"));
    command
        .args(args)
        .env("LOCKBOX_HOME", home)
        .env_remove("SOFTHSM2_CONF")
        .env_remove("LOCKBOX_SOFTHSM_REEXEC");
    match caller {
        Some(c) => command.env("LOCKBOX_CALLER", c),
        None => command.env_remove("LOCKBOX_CALLER"),
    };
    command.output().unwrap()
}

fn run(home: &Path, args: &[&str]) -> Output {
    run_as(home, None, args)
}

fn ok(home: &Path, args: &[&str]) -> Value {
    ok_as(home, None, args)
}

fn ok_as(home: &Path, caller: Option<&str>, args: &[&str]) -> Value {
    let out = run_as(home, caller, args);
    assert!(
        out.status.success(),
        "lockbox {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// A command that must fail: (exit code, stdout, stderr).
fn fails(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = run(home, args);
    assert!(!out.status.success(), "lockbox {args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        err,
    )
}

fn text_ok(home: &Path, args: &[&str]) -> String {
    let out = run(home, args);
    assert!(
        out.status.success(),
        "lockbox {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn key_ids(home: &Path) -> Vec<String> {
    let mut ids: Vec<String> = ok(home, &["list-keys"])["Keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["KeyId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn create_key(home: &Path, description: &str) -> String {
    ok(home, &["create-key", "--description", description])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Encrypts "hello" (aGVsbG8=) under `key` with the context purpose=test.
fn encrypt(home: &Path, key: &str) -> String {
    ok(
        home,
        &[
            "encrypt",
            "--key-id",
            key,
            "--plaintext",
            "aGVsbG8=",
            "--encryption-context",
            "purpose=test",
        ],
    )["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn decrypt_args(blob: &str) -> Vec<&str> {
    vec![
        "decrypt",
        "--ciphertext-blob",
        blob,
        "--encryption-context",
        "purpose=test",
    ]
}

fn decrypts(home: &Path, blob: &str) -> bool {
    let out = run(home, &decrypt_args(blob));
    if !out.status.success() {
        return false;
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Plaintext"], "aGVsbG8=");
    true
}

fn decrypt_error(home: &Path, blob: &str) -> String {
    let (code, _, err) = fails(home, &decrypt_args(blob));
    assert_eq!(code, 254, "{err}");
    err
}

fn alias_targets(home: &Path) -> BTreeMap<String, String> {
    ok(home, &["list-aliases"])["Aliases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["AliasName"].as_str().unwrap().to_owned(),
                a["TargetKeyId"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

const USER: &str = "arn:aws:iam::000000000000:user/app";

fn policy_for_root_and(user: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Sid":"user","Effect":"Allow","Principal":{{"AWS":"{user}"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}}]}}"#
    )
}

#[test]
fn backup_then_changes_then_restore_brings_back_the_backup_exactly() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let backup = tmp.path().join("backup-1");

    // The state the backup will hold.
    let k1 = create_key(&home, "kept");
    let k2 = create_key(&home, "deleted later");
    ok(
        &home,
        &[
            "create-alias",
            "--alias-name",
            "alias/app",
            "--target-key-id",
            &k1,
        ],
    );
    let policy = policy_for_root_and(USER);
    ok(
        &home,
        &[
            "put-key-policy",
            "--key-id",
            &k2,
            "--policy-name",
            "default",
            "--policy",
            &policy,
        ],
    );
    let grant = ok(
        &home,
        &[
            "create-grant",
            "--key-id",
            &k1,
            "--grantee-principal",
            "arn:aws:iam::000000000000:role/grantee",
            "--operations",
            "Encrypt",
            "Decrypt",
        ],
    )["GrantId"]
        .as_str()
        .unwrap()
        .to_owned();
    let c1 = encrypt(&home, &k1);
    let c2 = encrypt(&home, &k2);

    let made = ok(&home, &["backup", backup.to_str().unwrap()]);
    assert_eq!(made["Keys"], 2);
    assert_eq!(made["SoftHsmToken"], true);
    assert_eq!(made["Pins"], false);
    assert_eq!(made["Credentials"], false);
    assert_eq!(mode(&backup), 0o700);
    let files = snapshot(&backup);
    for f in files.keys() {
        assert_eq!(mode(&backup.join(f)), 0o600, "{}", f.display());
        assert!(
            !f.to_string_lossy().ends_with(".pin"),
            "a PIN file was backed up without --include-pins: {}",
            f.display()
        );
    }
    for f in [
        "manifest.json",
        "metadata.lbx",
        "lockbox.toml",
        "softhsm/softhsm2.conf",
    ] {
        assert!(files.contains_key(Path::new(f)), "{f} is missing");
    }
    assert_eq!(made["Files"], files.len());
    let manifest: Value = serde_json::from_slice(&files[Path::new("manifest.json")])?;
    assert_eq!(manifest["format"], "lockbox-backup");
    assert_eq!(manifest["version"], 1);
    assert_eq!(manifest["trees"]["keys"], 2);
    assert_eq!(manifest["trees"]["aliases"], 1);
    assert_eq!(manifest["trees"]["grants"], 1);
    // A second backup to the same place is refused, and the first is untouched.
    let (code, _, err) = fails(&home, &["backup", backup.to_str().unwrap()]);
    assert_eq!(code, 255, "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(snapshot(&backup), files);

    // Changes after the backup: a new key, a rotation, aliases moved and added, a deletion
    // scheduled, the grant revoked, the policy replaced.
    let k3 = create_key(&home, "made after the backup");
    let c3 = encrypt(&home, &k3);
    ok(&home, &["rotate-key-on-demand", "--key-id", &k1]);
    let c1_v2 = encrypt(&home, &k1);
    ok(
        &home,
        &[
            "update-alias",
            "--alias-name",
            "alias/app",
            "--target-key-id",
            &k3,
        ],
    );
    ok(
        &home,
        &[
            "create-alias",
            "--alias-name",
            "alias/new",
            "--target-key-id",
            &k3,
        ],
    );
    ok(
        &home,
        &[
            "schedule-key-deletion",
            "--key-id",
            &k2,
            "--pending-window-in-days",
            "7",
        ],
    );
    ok(
        &home,
        &["revoke-grant", "--key-id", &k1, "--grant-id", &grant],
    );
    let root_only = policy_for_root_and("arn:aws:iam::000000000000:user/other");
    ok(
        &home,
        &[
            "put-key-policy",
            "--key-id",
            &k1,
            "--policy-name",
            "default",
            "--policy",
            &root_only,
        ],
    );

    // Without --accept-rollback: the report, exit 1, nothing changed.
    let (code, report, err) = fails(&home, &["restore", backup.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--accept-rollback"), "{err}");
    assert!(
        report.contains("keys made after the backup (1), GONE") && report.contains(&k3),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "key {k1}: material versions [2] rotated in since the backup"
        )),
        "{report}"
    );
    assert!(
        report.contains("keys deleted after the backup: none"),
        "{report}"
    );
    assert!(
        report.contains(
            "aliases that differ from the backup: 000000000000:us-east-1:alias/app, \
             000000000000:us-east-1:alias/new"
        ),
        "{report}"
    );
    let mut now = vec![k1.clone(), k2.clone(), k3.clone()];
    now.sort();
    assert_eq!(key_ids(&home), now);
    assert!(!home.join(".restore-staging").exists());

    // With it: the backup's state, exactly.
    let restored = text_ok(
        &home,
        &["restore", backup.to_str().unwrap(), "--accept-rollback"],
    );
    assert!(restored.contains("Restored "), "{restored}");
    let mut then = vec![k1.clone(), k2.clone()];
    then.sort();
    assert_eq!(key_ids(&home), then);
    let (code, _, err) = fails(&home, &["describe-key", "--key-id", &k3]);
    assert_eq!(code, 254);
    assert!(err.contains("(NotFoundException)"), "{err}");
    assert_eq!(
        alias_targets(&home),
        BTreeMap::from([("alias/app".to_owned(), k1.clone())])
    );
    assert_eq!(
        ok(&home, &["describe-key", "--key-id", &k2])["KeyMetadata"]["KeyState"],
        "Enabled"
    );
    let got = ok(
        &home,
        &[
            "get-key-policy",
            "--key-id",
            &k2,
            "--policy-name",
            "default",
        ],
    );
    let got: Value = serde_json::from_str(got["Policy"].as_str().unwrap())?;
    assert_eq!(got, serde_json::from_str::<Value>(&policy)?);
    // The policy lets the user encrypt under k2, as it did at the backup.
    ok_as(
        &home,
        Some(USER),
        &["encrypt", "--key-id", &k2, "--plaintext", "aGVsbG8="],
    );
    let grants = ok(&home, &["list-grants", "--key-id", &k1])["Grants"].clone();
    assert_eq!(grants.as_array().unwrap().len(), 1);
    assert_eq!(grants[0]["GrantId"], grant);
    ok_as(
        &home,
        Some("arn:aws:iam::000000000000:role/grantee"),
        &["encrypt", "--key-id", &k1, "--plaintext", "aGVsbG8="],
    );
    assert!(decrypts(&home, &c1));
    assert!(decrypts(&home, &c2));
    assert!(decrypt_error(&home, &c1_v2).contains("(InvalidCiphertextException)"));
    assert!(decrypt_error(&home, &c3).contains("(InvalidCiphertextException)"));
    // New work goes on from the restored state.
    let c1_again = encrypt(&home, "alias/app");
    assert!(decrypts(&home, &c1_again));
    // The audit log verifies and records the restore.
    let verify = text_ok(&home, &["audit", "verify"]);
    assert!(verify.contains("OK:"), "{verify}");
    let export = text_ok(&home, &["audit", "export"]);
    assert!(export.contains("\"RestoreBackup\""), "{export}");
    // The replaced state is kept, private.
    let previous: Vec<PathBuf> = std::fs::read_dir(&home)?
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("pre-restore-")
        })
        .collect();
    assert_eq!(previous.len(), 1);
    assert_eq!(mode(&previous[0]), 0o700);
    assert!(previous[0].join("metadata").is_dir());
    assert!(previous[0].join("softhsm/tokens").is_dir());
    assert!(!home.join("restore.journal").exists());
    Ok(())
}

#[test]
fn pins_and_credentials_are_backed_up_only_when_asked() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    create_key(&home, "k");
    std::fs::write(home.join("credentials.toml"), "# test\n")?;
    let b = tmp.path().join("b");
    let made = ok(
        &home,
        &[
            "backup",
            b.to_str().unwrap(),
            "--include-pins",
            "--include-credentials",
        ],
    );
    assert_eq!(made["Pins"], true);
    assert_eq!(made["Credentials"], true);
    for f in ["token-user.pin", "token-so.pin", "credentials.toml"] {
        assert_eq!(
            std::fs::read(b.join(f))?,
            std::fs::read(home.join(f))?,
            "{f}"
        );
        assert_eq!(mode(&b.join(f)), 0o600);
    }

    // Into a new place: a backup without PIN files is refused before anything is written;
    // one with them restores a directory that works on its own.
    let k = key_ids(&home).remove(0);
    let c = encrypt(&home, &k);
    let no_pins = tmp.path().join("no-pins");
    ok(&home, &["backup", no_pins.to_str().unwrap()]);
    // Each backup is an audited event, naming where it went and what it copied.
    let export = text_ok(&home, &["audit", "export"]);
    let backups: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["eventName"] == "CreateBackup")
        .collect();
    assert_eq!(backups.len(), 2, "{export}");
    for (event, dest, flag) in [(&backups[0], &b, "true"), (&backups[1], &no_pins, "false")] {
        let context = &event["requestParameters"]["encryptionContext"];
        assert_eq!(context["lockbox:backup"], dest.to_str().unwrap(), "{event}");
        assert_eq!(context["lockbox:include-pins"], flag, "{event}");
        assert_eq!(context["lockbox:include-credentials"], flag, "{event}");
        assert!(event.get("errorCode").is_none(), "{event}");
    }
    let elsewhere = tmp.path().join("elsewhere");
    let (code, _, err) = fails(
        &elsewhere,
        &["restore", no_pins.to_str().unwrap(), "--accept-rollback"],
    );
    assert_eq!(code, 255, "{err}");
    assert!(
        err.contains("token-user.pin does not exist and the backup has none"),
        "{err}"
    );
    assert!(!elsewhere.exists());
    let restored = text_ok(
        &elsewhere,
        &["restore", b.to_str().unwrap(), "--accept-rollback"],
    );
    assert!(
        restored.ends_with(&format!(
            "Restored {}. It held nothing the backup replaced.\n",
            elsewhere.display()
        )),
        "{restored}"
    );
    // Nothing was replaced, so no pre-restore directory is kept.
    for entry in std::fs::read_dir(&elsewhere)? {
        let name = entry?.file_name();
        assert!(
            !name.to_string_lossy().starts_with("pre-restore-"),
            "{name:?}"
        );
    }
    assert_eq!(key_ids(&elsewhere), vec![k]);
    assert!(decrypts(&elsewhere, &c));
    let conf = std::fs::read_to_string(elsewhere.join("softhsm/softhsm2.conf"))?;
    assert!(
        conf.contains(&format!(
            "directories.tokendir = {}\n",
            elsewhere.canonicalize()?.join("softhsm/tokens").display()
        )),
        "{conf}"
    );
    Ok(())
}

#[test]
fn a_damaged_backup_is_refused_before_anything_changes() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let k1 = create_key(&home, "k");
    let b = tmp.path().join("b");
    ok(&home, &["backup", b.to_str().unwrap()]);
    create_key(&home, "later");
    let before = key_ids(&home);

    let mut bytes = std::fs::read(b.join("metadata.lbx"))?;
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(b.join("metadata.lbx"), &bytes)?;
    let (code, _, err) = fails(
        &home,
        &["restore", b.to_str().unwrap(), "--accept-rollback"],
    );
    assert_eq!(code, 255, "{err}");
    assert!(
        err.contains("metadata.lbx does not match the manifest")
            && err.contains("checksum differs"),
        "{err}"
    );
    bytes[last] ^= 1;
    std::fs::write(b.join("metadata.lbx"), &bytes)?;
    std::fs::write(b.join("extra"), b"x")?;
    let (code, _, err) = fails(
        &home,
        &["restore", b.to_str().unwrap(), "--accept-rollback"],
    );
    assert_eq!(code, 255, "{err}");
    assert!(err.contains("extra is not named in the manifest"), "{err}");
    std::fs::remove_file(b.join("extra"))?;
    std::fs::remove_file(b.join("manifest.json"))?;
    let (code, _, err) = fails(
        &home,
        &["restore", b.to_str().unwrap(), "--accept-rollback"],
    );
    assert_eq!(code, 255, "{err}");
    assert!(err.contains("no readable manifest.json"), "{err}");
    assert_eq!(key_ids(&home), before);
    assert!(before.contains(&k1));
    Ok(())
}

#[test]
fn a_copied_data_directory_works_beside_its_original() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let original = tmp.path().join("original");
    let k1 = create_key(&original, "in both");
    let c1 = encrypt(&original, &k1);
    let copy = tmp.path().join("copy");
    let status = Command::new("cp")
        .args(["-a", original.to_str().unwrap(), copy.to_str().unwrap()])
        .status()?;
    assert!(status.success());
    let tokens_before = snapshot(&original.join("softhsm/tokens"));

    // The copy has the original's keys and ciphertexts, and makes its own.
    assert_eq!(key_ids(&copy), vec![k1.clone()]);
    assert!(decrypts(&copy, &c1));
    let k2 = create_key(&copy, "only in the copy");
    let c2 = encrypt(&copy, &k2);
    ok(&copy, &["rotate-key-on-demand", "--key-id", &k1]);
    let conf = std::fs::read_to_string(copy.join("softhsm/softhsm2.conf"))?;
    let copy_tokens = copy.canonicalize()?.join("softhsm/tokens");
    assert!(
        conf.contains(&format!(
            "directories.tokendir = {}\n",
            copy_tokens.display()
        )),
        "{conf}"
    );
    assert!(!conf.contains(original.to_str().unwrap()), "{conf}");
    assert_eq!(mode(&copy.join("softhsm/softhsm2.conf")), 0o600);
    // Nothing else in the copy names the original.
    for (path, bytes) in snapshot(&copy) {
        if path.starts_with("metadata") || path.starts_with("softhsm/tokens") {
            continue;
        }
        assert!(
            !String::from_utf8_lossy(&bytes).contains(original.to_str().unwrap()),
            "{} names the original directory",
            path.display()
        );
    }
    // The original's token files are untouched by all of that.
    assert_eq!(snapshot(&original.join("softhsm/tokens")), tokens_before);

    // The original sees only its own keys; the copy's key and its ciphertext are unknown.
    assert_eq!(key_ids(&original), vec![k1.clone()]);
    let (code, _, err) = fails(&original, &["describe-key", "--key-id", &k2]);
    assert_eq!(code, 254);
    assert!(err.contains("(NotFoundException)"), "{err}");
    assert!(decrypt_error(&original, &c2).contains("(InvalidCiphertextException)"));
    assert_eq!(
        ok(&original, &["list-key-rotations", "--key-id", &k1])["Rotations"],
        serde_json::json!([])
    );
    let mut both = vec![k1.clone(), k2.clone()];
    both.sort();
    assert_eq!(key_ids(&copy), both);
    Ok(())
}

/// A token that is not the data directory's own, as a real HSM is: its objects outlive a
/// metadata restore.
struct ExternalToken {
    conf: PathBuf,
    pin: PathBuf,
}

fn external_token(dir: &Path) -> ExternalToken {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let out = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "hsm",
            "--so-pin",
            "87654321",
            "--pin",
            "12345678",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pin = dir.join("user.pin");
    std::fs::write(&pin, "12345678").unwrap();
    std::fs::set_permissions(&pin, std::fs::Permissions::from_mode(0o600)).unwrap();
    ExternalToken { conf, pin }
}

fn configure_for(home: &Path, hsm: &ExternalToken) {
    std::fs::create_dir_all(home).unwrap();
    std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(
        home.join("lockbox.toml"),
        format!(
            "[token]\nmodule = \"/usr/lib/softhsm/libsofthsm2.so\"\nlabel = \"hsm\"\n\
             pin_file = \"{}\"\nsofthsm_conf = \"{}\"\n",
            hsm.pin.display(),
            hsm.conf.display()
        ),
    )
    .unwrap();
    // As an operator's configuration should be: doctor reports anything open to others.
    std::fs::set_permissions(
        home.join("lockbox.toml"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

#[test]
fn a_metadata_restore_under_a_newer_hsm_records_the_rollback_and_names_the_orphans() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let hsm = external_token(&tmp.path().join("hsm"));
    let home = tmp.path().join("home");
    configure_for(&home, &hsm);
    let k1 = create_key(&home, "before");
    let c1 = encrypt(&home, &k1);
    let b = tmp.path().join("b");
    let made = ok(&home, &["backup", b.to_str().unwrap()]);
    assert_eq!(made["SoftHsmToken"], false);
    assert!(!b.join("softhsm").exists());
    let k2 = create_key(&home, "after");
    let c2 = encrypt(&home, &k2);
    // Seal what came after the backup, so the token's mark is beyond the backup's log.
    text_ok(&home, &["audit", "verify"]);

    let (code, report, _) = fails(&home, &["restore", b.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        report
            .contains("keys made after the backup (1): their material stays on the HSM as ORPHANS")
            && report.contains(&k2),
        "{report}"
    );
    assert!(
        report.contains("naming the audit mark it supersedes"),
        "{report}"
    );

    let out = text_ok(
        &home,
        &["restore", b.to_str().unwrap(), "--accept-rollback"],
    );
    assert!(
        out.contains("The audit log records the accepted rollback"),
        "{out}"
    );
    // The directory opens, verifies, and the rollback is on record with the mark it
    // superseded.
    assert_eq!(key_ids(&home), vec![k1.clone()]);
    assert!(decrypts(&home, &c1));
    let verify = text_ok(&home, &["audit", "verify"]);
    assert!(verify.contains("OK:"), "{verify}");
    let export = text_ok(&home, &["audit", "export"]);
    let restore_line = export
        .lines()
        .find(|l| l.contains("\"RestoreBackup\""))
        .unwrap_or_else(|| panic!("no RestoreBackup record in {export}"));
    assert!(
        restore_line.contains("lockbox:superseded-mark-seq"),
        "{restore_line}"
    );
    // k2's material is an orphan on the HSM, and its ciphertext no longer decrypts.
    let out = run(&home, &["doctor"]);
    let doctor = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{doctor}");
    assert!(doctor.contains("orphan"), "{doctor}");
    assert!(decrypt_error(&home, &c2).contains("(InvalidCiphertextException)"));
    Ok(())
}

#[test]
fn an_interrupted_restore_blocks_the_directory_until_restore_finishes_it() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let k1 = create_key(&home, "in the backup");
    let b = tmp.path().join("b");
    ok(&home, &["backup", b.to_str().unwrap()]);
    let k2 = create_key(&home, "after");
    // Kill the restore as it moves the staged metadata into place: the journal is written,
    // the current metadata has been moved aside, and the restored one is not in yet.
    let metadata = home.join("metadata");
    let staged = home.join(".restore-staging/metadata");
    let out = Command::new("strace")
        .args([
            "-f",
            "-o",
            "/dev/null",
            "-P",
            staged.to_str().unwrap(),
            "-e",
            "trace=rename,renameat,renameat2",
            "-e",
            "inject=rename,renameat,renameat2:signal=KILL:when=1",
            env!("CARGO_BIN_EXE_lockbox"),
            "restore",
            b.to_str().unwrap(),
            "--accept-rollback",
        ])
        .env("LOCKBOX_HOME", &home)
        .env_remove("SOFTHSM2_CONF")
        .output()?;
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(home.join("restore.journal").exists());
    assert!(!metadata.exists());
    let (code, _, err) = fails(&home, &["list-keys"]);
    assert_eq!(code, 255, "{err}");
    assert!(err.contains("interrupted restore"), "{err}");
    // doctor names the state and the command that finishes it, and --repair leaves it alone.
    for (flags, tail) in [
        (&["doctor"][..], ""),
        (
            &["doctor", "--repair"][..],
            "; --repair leaves that to restore",
        ),
    ] {
        let out = run(&home, flags);
        assert_eq!(out.status.code(), Some(1), "{flags:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!(
                "RESTORE  {}: a restore was interrupted (restore.journal present); the directory \
                 opens again once it is finished: run lockbox restore (without a backup) to \
                 finish it{tail}\nPROBLEMS: interrupted restore.\n",
                home.display()
            ),
            "{flags:?}"
        );
        assert!(home.join("restore.journal").exists());
    }
    let finished = text_ok(&home, &["restore"]);
    assert!(
        finished.contains(&format!(
            "Finished an interrupted restore of {}.",
            b.display()
        )),
        "{finished}"
    );
    assert_eq!(key_ids(&home), vec![k1]);
    assert!(!key_ids(&home).contains(&k2));
    assert!(text_ok(&home, &["audit", "verify"]).contains("OK:"));
    Ok(())
}

/// Kills a child process (by its own id) when dropped, so a failed test leaves no server.
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn backup_reaches_a_running_server_through_its_admin_socket() -> TestResult {
    use std::io::BufRead;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let k1 = create_key(&home, "before the server");
    let c1 = encrypt(&home, &k1);
    let child = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("LOCKBOX_HOME", &home)
        .env_remove("LOCKBOX_CALLER")
        .env_remove("SOFTHSM2_CONF")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut server = Reaper(child);
    let mut lines = std::io::BufReader::new(server.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap()?;
    let endpoint = first
        .strip_prefix("lockbox: serving AWS KMS at ")
        .and_then(|rest| rest.split_once(' '))
        .map(|(e, _)| e.to_owned())
        .unwrap_or_else(|| panic!("{first}"));
    let socket = home.join("admin.sock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "no admin socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&socket)?.file_type().is_socket());
    assert_eq!(mode(&socket), 0o600);
    let credentials = std::fs::read_to_string(home.join("credentials.toml"))?;
    let field = |name: &str| {
        credentials
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = \"")))
            .and_then(|l| l.strip_suffix('"'))
            .unwrap()
            .to_owned()
    };
    let (id, secret) = (field("access_key_id"), field("secret_access_key"));
    let remote = |args: &[&str]| -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .arg("--endpoint-url")
            .arg(&endpoint)
            .args(args)
            .env("LOCKBOX_HOME", tmp.path().join("client"))
            .env("AWS_ACCESS_KEY_ID", &id)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env_remove("AWS_REGION")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };

    // A client that connects to the admin socket and never sends a request does not hold
    // up the backup below.
    let _idle = std::os::unix::net::UnixStream::connect(&socket)?;
    // Keys are being made through the server while the backup runs.
    let made_during = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            (0..6)
                .map(|_| {
                    remote(&["create-key"])["KeyMetadata"]["KeyId"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(200));
        let b = tmp.path().join("b");
        let made = ok(&home, &["backup", b.to_str().unwrap()]);
        (writer.join().unwrap(), made)
    });
    let (during, made) = made_during;
    let backed_up = made["Keys"].as_u64().unwrap();
    assert!((1..=7).contains(&backed_up), "{made}");
    let after = remote(&["create-key"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    // A restore while the server holds the directory is refused before anything changes.
    let (code, _, err) = fails(
        &home,
        &[
            "restore",
            tmp.path().join("b").to_str().unwrap(),
            "--accept-rollback",
        ],
    );
    assert_eq!(code, 255, "{err}");
    assert!(
        err.contains("is in use by another Lockbox process"),
        "{err}"
    );
    assert!(!home.join(".restore-staging").exists());
    assert!(!home.join("restore.journal").exists());

    // Stop the server (by its own pid); its socket goes with it.
    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()?
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.0.try_wait()?.is_none() {
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!socket.exists(), "the admin socket outlived the server");

    // The backup restores to exactly what it held: k1 and the keys made before it.
    let restored = text_ok(
        &home,
        &[
            "restore",
            tmp.path().join("b").to_str().unwrap(),
            "--accept-rollback",
        ],
    );
    assert!(restored.contains(&after), "{restored}");
    let ids = key_ids(&home);
    assert_eq!(ids.len() as u64, backed_up);
    assert!(ids.contains(&k1));
    assert!(!ids.contains(&after));
    assert!(ids.iter().all(|k| k == &k1 || during.contains(k)));
    for k in &ids {
        let c = encrypt(&home, k);
        assert!(decrypts(&home, &c));
    }
    assert!(decrypts(&home, &c1));
    assert!(text_ok(&home, &["audit", "verify"]).contains("OK:"));
    Ok(())
}

#[test]
fn the_admin_socket_answers_only_its_own_user() -> TestResult {
    use std::io::{BufRead, Read, Write};
    use std::os::unix::fs::MetadataExt;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    create_key(&home, "k");
    let child = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("LOCKBOX_HOME", &home)
        .env_remove("SOFTHSM2_CONF")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut server = Reaper(child);
    let mut lines = std::io::BufReader::new(server.0.stdout.take().unwrap()).lines();
    lines.next().unwrap()?;
    let socket = home.join("admin.sock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "no admin socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ask = |line: &str| -> String {
        let mut s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        s.write_all(line.as_bytes()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    };
    // Its own user: a malformed request and a relative path are refused by name.
    let answer = ask("{\"Command\":\"Shutdown\"}\n");
    assert!(
        answer.starts_with("{\"Error\":\"malformed request"),
        "{answer}"
    );
    let answer = ask(
        "{\"Command\":\"Backup\",\"Dest\":\"rel\",\"IncludePins\":false,\"IncludeCredentials\":false}\n",
    );
    assert_eq!(answer, "{\"Error\":\"rel is not an absolute path\"}\n");

    // Another user, let through the file modes on purpose, is refused by the uid check.
    if std::fs::metadata("/proc/self")?.uid() != 0 {
        eprintln!("not root: cannot run a client as another user; the uid check is not exercised");
        return Ok(());
    }
    for dir in [tmp.path(), home.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))?;
    }
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666))?;
    let dest = tmp.path().join("stolen");
    // The other user runs `lockbox backup` itself, which asks the server through the socket.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_lockbox"))
        .args(["backup", dest.to_str().unwrap(), "--include-pins"])
        .env("LOCKBOX_HOME", &home)
        .env_remove("SOFTHSM2_CONF")
        .output()?;
    assert_eq!(out.status.code(), Some(255));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8(out.stderr)?,
        "lockbox: the running server: refused: uid 65534 is not the server's user\n"
    );
    assert!(!dest.exists());
    Ok(())
}
