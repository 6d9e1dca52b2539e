//! Commands on a data directory that a running `lockbox serve` holds go through its admin
//! socket and answer as a local run does (issue 16): the real binary, a real SoftHSM token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "../../lockbox-token/tests/oracle/import_material.rs"]
mod import_material;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// `lockbox ARGS` on `home`, as its configured caller or `caller`.
fn run_as(home: &Path, caller: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lockbox"));
    command
        .args(args)
        .env("LOCKBOX_HOME", home)
        .env_remove("SOFTHSM2_CONF")
        .env_remove("LOCKBOX_SOFTHSM_REEXEC")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION");
    match caller {
        Some(c) => command.env("LOCKBOX_CALLER", c),
        None => command.env_remove("LOCKBOX_CALLER"),
    };
    command.output().unwrap()
}

fn run(home: &Path, args: &[&str]) -> Output {
    run_as(home, None, args)
}

fn json_ok(home: &Path, args: &[&str]) -> Value {
    let out = run(home, args);
    assert!(
        out.status.success(),
        "lockbox {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (exit code, stdout, stderr)
fn outcome(out: &Output) -> (i32, String, String) {
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A create-key answer without what differs from one key to the next.
fn shape(mut created: Value) -> Value {
    let m = created["KeyMetadata"].as_object_mut().unwrap();
    for field in [
        "KeyId",
        "Arn",
        "CreationDate",
        "Description",
        "CurrentKeyMaterialId",
    ] {
        assert!(m.remove(field).is_some(), "no {field}");
    }
    created
}

/// Kills the server (by its own id) when dropped, so a failed test leaves none.
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `lockbox serve` on `home` and waits for its admin socket.
fn serve(home: &Path) -> Reaper {
    serve_with(home, &[])
}

fn serve_with(home: &Path, flags: &[&str]) -> Reaper {
    let child = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(flags)
        .env("LOCKBOX_HOME", home)
        .env_remove("LOCKBOX_CALLER")
        .env_remove("SOFTHSM2_CONF")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Reaper(child);
    let mut lines = std::io::BufReader::new(server.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("lockbox: serving AWS KMS at "), "{first}");
    // Keep reading its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let deadline = Instant::now() + Duration::from_secs(30);
    while !home.join("admin.sock").exists() {
        assert!(Instant::now() < deadline, "no admin socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

fn stop(mut server: Reaper, signal: &str) {
    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn commands_beside_a_running_server_answer_as_a_local_run() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let mallory = "arn:aws:iam::999988887777:user/mallory";

    // Local runs first, on a directory nothing holds.
    let local_key = json_ok(&home, &["create-key", "--description", "local"]);
    let k1 = local_key["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let local_usage = outcome(&run(&home, &["key-usage", "--key-id", &k1]));
    let local_missing = outcome(&run(&home, &["describe-key", "--key-id", "alias/none"]));
    let local_denied = outcome(&run_as(
        &home,
        Some(mallory),
        &["describe-key", "--key-id", &k1],
    ));
    let local_verify = outcome(&run(&home, &["audit", "verify"]));
    let local_inspect = outcome(&run(&home, &["inspect-token"]));
    let local_maintain = outcome(&run(&home, &["maintain"]));
    assert_eq!(local_inspect.0, 0, "{}", local_inspect.2);
    assert_eq!(local_maintain.0, 0, "{}", local_maintain.2);
    let local_doctor = outcome(&run(&home, &["doctor"]));
    let local_doctor_json = outcome(&run(&home, &["doctor", "--json"]));
    assert_eq!(local_doctor.0, 0, "{}", local_doctor.2);
    assert!(local_doctor.1.contains("\nOK: "), "{}", local_doctor.1);
    assert_eq!(local_usage.0, 0, "{}", local_usage.2);
    assert_eq!(local_missing.0, 254, "{}", local_missing.2);
    assert_eq!(local_denied.0, 254, "{}", local_denied.2);
    assert_eq!(local_verify.0, 0, "{}", local_verify.2);

    let server = serve(&home);

    // The same commands through the server: the same output, error line and exit code.
    assert_eq!(outcome(&run(&home, &["doctor"])), local_doctor);
    assert_eq!(outcome(&run(&home, &["inspect-token"])), local_inspect);
    assert_eq!(outcome(&run(&home, &["maintain"])), local_maintain);
    assert_eq!(
        outcome(&run(&home, &["doctor", "--json"])),
        local_doctor_json
    );
    assert_eq!(
        outcome(&run(&home, &["key-usage", "--key-id", &k1])),
        local_usage
    );
    assert_eq!(
        outcome(&run(&home, &["describe-key", "--key-id", "alias/none"])),
        local_missing
    );
    assert_eq!(
        outcome(&run_as(
            &home,
            Some(mallory),
            &["describe-key", "--key-id", &k1]
        )),
        local_denied
    );
    let served_key = json_ok(&home, &["create-key", "--description", "served"]);
    assert_eq!(shape(served_key.clone()), shape(local_key));
    assert_eq!(served_key["KeyMetadata"]["Description"], "served");
    let k2 = served_key["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    // A round trip through the server's engine.
    let blob = json_ok(
        &home,
        &["encrypt", "--key-id", &k2, "--plaintext", "aGVsbG8="],
    )["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_owned();
    let clear = json_ok(&home, &["decrypt", "--ciphertext-blob", &blob]);
    assert_eq!(clear["Plaintext"], "aGVsbG8=");
    assert_eq!(clear["KeyId"], served_key["KeyMetadata"]["Arn"]);
    let served_verify = outcome(&run(&home, &["audit", "verify"]));
    assert_eq!(served_verify.0, 0, "{}", served_verify.2);
    assert_eq!(served_verify.2, "");
    assert_eq!(
        served_verify.1.lines().last(),
        local_verify.1.lines().last()
    );
    assert!(
        served_verify.1.starts_with("Audit log: "),
        "{}",
        served_verify.1
    );

    // audit export: its --output file is written by this command, where it runs.
    let exported = tmp.path().join("k1.jsonl");
    let served_export = outcome(&run(
        &home,
        &[
            "audit",
            "export",
            "--key-id",
            &k1,
            "--output",
            exported.to_str().unwrap(),
        ],
    ));
    assert_eq!(served_export, (0, String::new(), String::new()));
    let served_lines = std::fs::read_to_string(&exported)?;
    assert!(served_lines.lines().count() >= 2, "{served_lines}");

    stop(server, "-TERM");
    assert!(!home.join("admin.sock").exists());
    let local_export = outcome(&run(&home, &["audit", "export", "--key-id", &k1]));
    assert_eq!(local_export.0, 0, "{}", local_export.2);
    assert!(
        local_export.1.starts_with(&served_lines),
        "{}\n---\n{served_lines}",
        local_export.1
    );

    // Afterwards, locally: the key made through the server is there, its calls audited as
    // a local command's (source cli, the configured caller), and the log verifies.
    let described = json_ok(&home, &["describe-key", "--key-id", &k2]);
    assert_eq!(described["KeyMetadata"]["Description"], "served");
    let after = outcome(&run(&home, &["audit", "verify"]));
    assert_eq!(after.0, 0, "{}", after.2);
    assert_eq!(after.1.lines().last(), local_verify.1.lines().last());
    let export = outcome(&run(&home, &["audit", "export"]));
    assert_eq!(export.0, 0, "{}", export.2);
    let created: Vec<Value> = export
        .1
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e.to_string().contains(&k2) && e["eventName"] == "CreateKey")
        .collect();
    assert_eq!(created.len(), 1, "{}", export.1);
    assert_eq!(created[0]["sourceIPAddress"], "cli", "{}", created[0]);
    Ok(())
}

#[test]
fn a_stale_admin_socket_is_not_an_error() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let key = json_ok(&home, &["create-key"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = serve(&home);
    // Killed outright, the server leaves its socket behind with nobody listening.
    stop(server, "-KILL");
    assert!(home.join("admin.sock").exists());
    let started = Instant::now();
    let usage = json_ok(&home, &["key-usage", "--key-id", &key]);
    assert_eq!(usage["KeyId"], key.as_str());
    assert!(started.elapsed() < Duration::from_secs(30));
    let verify = outcome(&run(&home, &["audit", "verify"]));
    assert_eq!(verify.0, 0, "{}", verify.2);
    Ok(())
}

#[test]
fn serve_runs_due_maintenance_on_its_timer_and_audits_it() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let home = dir.join("home");
    json_ok(&home, &["list-keys"]);
    let server = serve_with(&home, &["--maintenance-interval", "1"]);
    // Imported material that expires in a few seconds, made through the server (the
    // fileb:// files are read and written by this command, the request runs there).
    let key = json_ok(&home, &["create-key", "--origin", "EXTERNAL"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (public, token) = (dir.join("wrapping.der"), dir.join("token.bin"));
    json_ok(
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
    let m = import_material::material(dir, "AES_256", "aes.bin")?;
    let wrapped = import_material::wrap(
        dir,
        &std::fs::read(&public)?,
        "RSA_AES_KEY_WRAP_SHA_256",
        &m,
    )?;
    let material = dir.join("wrapped.bin");
    std::fs::write(&material, wrapped)?;
    let valid_to = String::from_utf8(
        Command::new("date")
            .args(["-u", "-d", "+4 seconds", "+%Y-%m-%dT%H:%M:%SZ"])
            .output()?
            .stdout,
    )?;
    json_ok(
        &home,
        &[
            "import-key-material",
            "--key-id",
            &key,
            "--import-token",
            &format!("fileb://{}", token.display()),
            "--encrypted-key-material",
            &format!("fileb://{}", material.display()),
            "--valid-to",
            valid_to.trim(),
        ],
    );
    let state =
        || json_ok(&home, &["describe-key", "--key-id", &key])["KeyMetadata"]["KeyState"].clone();
    assert_eq!(state(), "Enabled");
    let materials = || {
        json_ok(&home, &["key-usage", "--key-id", &key])["Materials"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(materials(), 1);
    // Nothing but the server's timer removes the expired material (no command opens the
    // directory meanwhile). The key is PendingImport from the instant it expires.
    let deadline = Instant::now() + Duration::from_secs(60);
    while materials() != 0 {
        assert!(Instant::now() < deadline, "the material was not removed");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(state(), "PendingImport");
    stop(server, "-TERM");
    let export = outcome(&run(&home, &["audit", "export"]));
    assert_eq!(export.0, 0, "{}", export.2);
    let expired: Vec<Value> = export
        .1
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["eventName"] == "DeleteExpiredKeyMaterial")
        .collect();
    assert_eq!(expired.len(), 1, "{}", export.1);
    assert_eq!(expired[0]["sourceIPAddress"], "maintenance");
    assert_eq!(
        expired[0]["resources"][0]["ARN"],
        format!("arn:aws:kms:us-east-1:000000000000:key/{key}").as_str()
    );
    Ok(())
}

/// `lockbox --endpoint-url ENDPOINT ARGS` with the access key `id`, from a data directory of
/// its own (the server's is not this command's).
fn remote(client: &Path, endpoint: &str, (id, secret): (&str, &str), args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .arg("--endpoint-url")
        .arg(endpoint)
        .args(args)
        .env("LOCKBOX_HOME", client)
        .env("AWS_ACCESS_KEY_ID", id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_REGION")
        .env_remove("LOCKBOX_CALLER")
        .output()
        .unwrap()
}

#[test]
fn endpoint_url_runs_lockbox_commands_for_operators_only() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let client = tmp.path().join("client");
    let key = json_ok(&home, &["create-key"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let ops_arn = "arn:aws:iam::000000000000:user/ops";
    let root = (
        "LBKROOT0000000000001",
        "rootsecretrootsecretrootsecretrootsecret",
    );
    let ops = (
        "LBKOPS00000000000001",
        "opssecret0opssecret0opssecret0opssecret0",
    );
    let credentials = home.join("credentials.toml");
    std::fs::write(
        &credentials,
        format!(
            "[[credential]]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\nprincipal = \
             \"arn:aws:iam::000000000000:root\"\n\n[[credential]]\naccess_key_id = \"{}\"\n\
             secret_access_key = \"{}\"\nprincipal = \"{ops_arn}\"\n",
            root.0, root.1, ops.0, ops.1
        ),
    )?;
    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o600))?;
    std::fs::write(
        home.join("server.toml"),
        format!("operators = [\"{ops_arn}\"]\n"),
    )?;

    let mut child = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("LOCKBOX_HOME", &home)
        .env_remove("LOCKBOX_CALLER")
        .env_remove("SOFTHSM2_CONF")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().unwrap();
    let server = Reaper(child);
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = lines.next().unwrap()?;
    let endpoint = first
        .strip_prefix("lockbox: serving AWS KMS at ")
        .and_then(|rest| rest.split_once(' '))
        .map(|(e, _)| e.to_owned())
        .unwrap_or_else(|| panic!("{first}"));
    std::thread::spawn(move || for _ in lines {});
    while !home.join("admin.sock").exists() {
        std::thread::sleep(Duration::from_millis(20));
    }

    // An operator gets what the same command gives through the admin socket as that
    // principal (the same engine, the same code).
    for args in [
        &["doctor"][..],
        &["doctor", "--json"],
        &["key-usage", "--key-id", &key],
        &["maintain"],
    ] {
        let there = outcome(&remote(&client, &endpoint, ops, args));
        let here = outcome(&run_as(&home, Some(ops_arn), args));
        assert_eq!(there, here, "{args:?}");
    }
    let verify = outcome(&remote(&client, &endpoint, ops, &["audit", "verify"]));
    assert_eq!(verify.0, 0, "{}", verify.2);
    assert!(
        verify.1.lines().last().unwrap().starts_with("OK: "),
        "{}",
        verify.1
    );
    let exported = tmp.path().join("export.jsonl");
    let export = outcome(&remote(
        &client,
        &endpoint,
        ops,
        &["audit", "export", "--output", exported.to_str().unwrap()],
    ));
    assert_eq!(export, (0, String::new(), String::new()));
    assert!(std::fs::read_to_string(&exported)?.contains("\"eventName\":\"CreateKey\""));

    // Anyone else, the account root included, is refused: not an operator.
    for args in [&["audit", "verify"][..], &["doctor"], &["maintain"]] {
        let (code, out, err) = outcome(&remote(&client, &endpoint, root, args));
        assert_eq!((code, out.as_str()), (254, ""), "{args:?}: {err}");
        assert_eq!(
            err,
            "An error occurred (AccessDeniedException) when calling the LockboxAdmin operation: \
             arn:aws:iam::000000000000:root is not an operator of this server: Lockbox's own \
             commands are allowed to the principals server.toml's operators names\n"
        );
    }
    // A wrong secret is refused before anything runs.
    let (code, _, err) = outcome(&remote(
        &client,
        &endpoint,
        (ops.0, "wrongsecretwrongsecretwrongsecretwrongse"),
        &["doctor"],
    ));
    assert_eq!(code, 254, "{err}");
    assert!(
        err.contains("SignatureDoesNotMatch") || err.contains("InvalidSignatureException"),
        "{err}"
    );
    // inspect-token stays local.
    let (code, _, err) = outcome(&remote(&client, &endpoint, ops, &["inspect-token"]));
    assert_eq!(code, 252, "{err}");
    assert!(
        !client.exists(),
        "a remote command provisioned a local directory"
    );
    stop(server, "-TERM");
    // Each operator command is an audit event, from the peer's address; refusals are
    // recorded (as refused requests, not events).
    let export = outcome(&run(&home, &["audit", "export"]));
    assert_eq!(export.0, 0, "{}", export.2);
    let events: Vec<Value> = export
        .1
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["eventName"] == "LockboxAdmin")
        .collect();
    let refused: Vec<&str> = events
        .iter()
        .filter(|e| e["additionalEventData"]["refused"] == true)
        .map(|e| e["errorCode"].as_str().unwrap())
        .collect();
    assert_eq!(
        refused,
        [
            "AccessDeniedException",
            "AccessDeniedException",
            "AccessDeniedException",
            "InvalidSignatureException"
        ]
    );
    let admin: Vec<(String, String, String)> = events
        .iter()
        .filter(|e| e.get("errorCode").is_none())
        .map(|e| {
            (
                e["userIdentity"]["arn"].as_str().unwrap().to_owned(),
                e["sourceIPAddress"].as_str().unwrap().to_owned(),
                e["requestParameters"].to_string(),
            )
        })
        .collect();
    assert_eq!(admin.len(), 6, "{admin:?}");
    assert!(
        admin
            .iter()
            .all(|(who, from, _)| who == ops_arn && from == "127.0.0.1"),
        "{admin:?}"
    );
    assert!(admin[5].2.contains("audit export"), "{admin:?}");
    Ok(())
}
