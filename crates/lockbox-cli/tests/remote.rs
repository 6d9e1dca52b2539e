//! `lockbox --endpoint-url`: the binary against a server, as a user runs it with the AWS
//! CLI's environment variables. The server runs in the test process on a throwaway SoftHSM
//! token, with a known credential; `lockbox serve` itself is run once as a child process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lockbox::api::{DescribeKeyRequest, KeyId, Kms};
use lockbox::{Config, Engine};
use lockbox_server::credentials::{Credential, CredentialStore, SecretKey};
use lockbox_server::server::{Server, ServerConfig, ServerHandle};
use lockbox_server::sigv4::SIGNATURE_MISMATCH_MESSAGE;
use lockbox_token::testing::TestToken;
use lockbox_token::token_test;

const ACCESS_KEY: &str = "LBKCLIREMOTETEST0001";
const SECRET: &str = "cliRemoteSecret0123456789abcdefghijklmno";

fn start(t: &TestToken) -> (Arc<Engine>, ServerHandle, String) {
    let engine = Arc::new(Engine::open(Config::new(t.dir().join("data"), t.config())).unwrap());
    let principal = engine.default_caller("test").principal().clone();
    let credential =
        Credential::new(ACCESS_KEY, SecretKey::new(SECRET.to_owned()), principal).unwrap();
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        shutdown_grace_ms: 500,
        ..ServerConfig::default()
    };
    let server = Server::start(
        engine.clone(),
        CredentialStore::from_entries([credential]).unwrap(),
        config,
    )
    .unwrap();
    let endpoint = format!("http://{}", server.local_addr());
    (engine, server, endpoint)
}

/// Runs `lockbox --endpoint-url <endpoint> <args>` with exactly the AWS variables in `env`
/// (none inherited), and `LOCKBOX_HOME` pointing at `home`, which a remote command must not
/// create.
fn lockbox(home: &Path, endpoint: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lockbox"));
    command
        .arg("--endpoint-url")
        .arg(endpoint)
        .args(args)
        .env("LOCKBOX_HOME", home)
        .env_remove("LOCKBOX_CALLER")
        .env_remove("SOFTHSM2_CONF");
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let out = command.output().unwrap();
    assert!(
        !home.exists(),
        "a remote command touched the data directory"
    );
    out
}

const GOOD: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
    ("AWS_SECRET_ACCESS_KEY", SECRET),
    ("AWS_DEFAULT_REGION", "us-east-1"),
];

fn ok(home: &Path, endpoint: &str, args: &[&str]) -> serde_json::Value {
    let out = lockbox(home, endpoint, GOOD, args);
    assert!(
        out.status.success(),
        "lockbox {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A failed run: (exit code, the one stderr line); nothing on standard output.
fn fails(home: &Path, endpoint: &str, env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let out = lockbox(home, endpoint, env, args);
    assert!(!out.status.success(), "lockbox {args:?} succeeded");
    assert!(
        out.stdout.is_empty(),
        "a failed command printed {:?}",
        out.stdout
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    (out.status.code().unwrap(), err.trim_end().to_owned())
}

token_test!(fn kms_commands_go_to_the_server(t) {
    let (engine, _server, endpoint) = start(t);
    let home = t.dir().join("no-home");
    let created = ok(&home, &endpoint, &["create-key", "--description", "remote key"]);
    let key = created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let arn = format!("arn:aws:kms:us-east-1:000000000000:key/{key}");
    assert_eq!(created["KeyMetadata"]["Arn"], arn.as_str());
    assert_eq!(created["KeyMetadata"]["Description"], "remote key");
    // The key is the server's engine's.
    let id: KeyId = key.parse()?;
    let md = engine
        .client(engine.default_caller("test"))
        .describe_key(DescribeKeyRequest::new(id))?
        .key_metadata;
    assert_eq!(md.description, "remote key");

    let sealed = ok(
        &home,
        &endpoint,
        &[
            "encrypt", "--key-id", &key, "--plaintext", "aGVsbG8=",
            "--encryption-context", "purpose=remote",
        ],
    );
    assert_eq!(sealed["KeyId"], arn.as_str());
    assert_eq!(sealed["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
    let blob = sealed["CiphertextBlob"].as_str().unwrap();
    let opened = ok(
        &home,
        &endpoint,
        &["decrypt", "--ciphertext-blob", blob, "--encryption-context", "purpose=remote"],
    );
    assert_eq!(opened["Plaintext"], "aGVsbG8=");
    assert_eq!(opened["KeyId"], arn.as_str());
    // The context is bound: without it, the server refuses as AWS KMS does.
    assert_eq!(
        fails(&home, &endpoint, GOOD, &["decrypt", "--ciphertext-blob", blob]),
        (254, "An error occurred (InvalidCiphertextException) when calling the Decrypt operation:".to_owned())
    );

    assert_eq!(
        fails(
            &home,
            &endpoint,
            GOOD,
            &["describe-key", "--key-id", "0b2a3c4d-0000-4000-8000-000000000000"],
        ),
        (254, "An error occurred (NotFoundException) when calling the DescribeKey operation: Key \
             'arn:aws:kms:us-east-1:000000000000:key/0b2a3c4d-0000-4000-8000-000000000000' does \
             not exist".to_owned())
    );
    Ok(())
});

token_test!(fn files_are_encrypted_and_decrypted_through_the_server(t) {
    let (_engine, _server, endpoint) = start(t);
    let home = t.dir().join("no-home");
    let created = ok(&home, &endpoint, &["create-key"]);
    let key = created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let files = t.dir().join("files");
    std::fs::create_dir(&files)?;
    let p = |name: &str| files.join(name).display().to_string();
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(p("a.bin"), &big)?;
    std::fs::write(p("b.bin"), b"second")?;

    let out = lockbox(
        &home,
        &endpoint,
        GOOD,
        &[
            "encrypt-file", "--key-id", &key, "--encryption-context", "purpose=remote",
            "--cache-max-age", "60", "--verbose", &p("a.bin"), &p("b.bin"),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8(out.stderr)?,
        "lockbox: encrypt-file: 2 file(s) done, 0 failed; data keys from the KMS: 1; from the \
         cache: 1\n"
    );
    std::fs::remove_file(p("a.bin"))?;
    std::fs::remove_file(p("b.bin"))?;
    let out = lockbox(
        &home,
        &endpoint,
        GOOD,
        &[
            "decrypt-file", "--key-id", &key, "--encryption-context", "purpose=remote",
            &p("a.bin.encrypted"), &p("b.bin.encrypted"),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(p("a.bin"))?, big);
    assert_eq!(std::fs::read(p("b.bin"))?, b"second");

    assert_eq!(
        fails(
            &home,
            &endpoint,
            GOOD,
            &[
                "decrypt-file", "--encryption-context", "purpose=local", "-o", &p("c.bin"),
                &p("a.bin.encrypted"),
            ],
        ),
        (1, format!(
            "lockbox: decrypt-file {}: authentication failed: encryption context key \
             \"purpose\" has another value in the message",
            p("a.bin.encrypted")
        ))
    );
    assert!(!files.join("c.bin").exists());
    assert_eq!(
        fails(
            &home,
            &endpoint,
            GOOD,
            &["encrypt-file", "--key-id", "alias/missing", "-o", &p("d"), &p("a.bin")],
        ),
        (254, "An error occurred (NotFoundException) when calling the DescribeKey operation: \
               Alias arn:aws:kms:us-east-1:000000000000:alias/missing is not found."
            .to_owned())
    );
    Ok(())
});

token_test!(fn bad_credentials_and_local_only_commands_are_refused(t) {
    let (_engine, _server, endpoint) = start(t);
    let home = t.dir().join("no-home");
    let wrong_secret = [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", "not-the-secret"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ];
    assert_eq!(
        fails(&home, &endpoint, &wrong_secret, &["list-keys"]),
        (
            254,
            format!(
                "An error occurred (InvalidSignatureException) when calling the ListKeys \
                 operation: {SIGNATURE_MISMATCH_MESSAGE}"
            )
        )
    );
    let unknown_key = [
        ("AWS_ACCESS_KEY_ID", "LBKNOSUCHKEY00000000"),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ];
    assert_eq!(
        fails(&home, &endpoint, &unknown_key, &["list-keys"]),
        (254, "An error occurred (UnrecognizedClientException) when calling the ListKeys \
               operation: The security token included in the request is invalid."
            .to_owned())
    );
    // Every name of AWS's Region form is served by default; another name is refused, naming
    // what is served.
    let wrong_region = [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_REGION", "moon-1"),
    ];
    assert_eq!(
        fails(&home, &endpoint, &wrong_region, &["list-keys"]),
        (254, "An error occurred (InvalidSignatureException) when calling the ListKeys \
               operation: Credential should be scoped to a valid region. This server serves \
               every Region name of AWS's form (such as us-east-1)."
            .to_owned())
    );
    let other_region = [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_REGION", "eu-west-1"),
    ];
    let out = lockbox(&home, &endpoint, &other_region, &["list-keys"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout)?, serde_json::json!({"Keys": []}));

    let no_key_id = [("AWS_SECRET_ACCESS_KEY", SECRET), ("AWS_DEFAULT_REGION", "us-east-1")];
    // Nor in a profile (issue 16: ~/.aws/credentials is read as the AWS CLI reads it).
    let (code, message) = fails(&home, &endpoint, &no_key_id, &["list-keys"]);
    assert_eq!(code, 255);
    assert!(
        message.starts_with(&format!(
            "lockbox: --endpoint-url {endpoint}: Unable to locate credentials: \
             AWS_ACCESS_KEY_ID is not set, and the profile (default) has no aws_access_key_id"
        )),
        "{message}"
    );
    let no_region = [("AWS_ACCESS_KEY_ID", ACCESS_KEY), ("AWS_SECRET_ACCESS_KEY", SECRET)];
    assert_eq!(
        fails(&home, &endpoint, &no_region, &["list-keys"]),
        (252, "Error parsing parameter '--region': no region: pass --region, or set AWS_REGION \
               or AWS_DEFAULT_REGION, or the profile's region".to_owned())
    );
    // --region wins over the environment.
    let listed = {
        let out = lockbox(&home, &endpoint, &no_region, &["--region", "us-east-1", "list-keys"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout)?
    };
    assert_eq!(listed, serde_json::json!({"Keys": []}));

    // Lockbox's own commands that make sense remotely need an operator (none is configured).
    for command in ["doctor", "maintain"] {
        assert_eq!(
            fails(&home, &endpoint, GOOD, &[command]),
            (254, "An error occurred (AccessDeniedException) when calling the LockboxAdmin \
                   operation: arn:aws:iam::000000000000:root is not an operator of this server: \
                   Lockbox's own commands are allowed to the principals server.toml's operators \
                   names".to_owned()),
            "{command}"
        );
    }
    for command in ["inspect-token", "serve"] {
        assert_eq!(
            fails(&home, &endpoint, GOOD, &[command]),
            (252, "Error parsing parameter '--endpoint-url': this command works on the local \
                   data directory only, not on a remote endpoint".to_owned()),
            "{command}"
        );
    }
    Ok(())
});

/// Reads a child's output lines on a thread, so they can be awaited with a time limit.
fn lines_of(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Kills the server if the test fails before it is stopped.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn lockbox_serve_prints_how_to_use_it_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let child = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("LOCKBOX_HOME", &home)
        .env_remove("LOCKBOX_CALLER")
        .env_remove("SOFTHSM2_CONF")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Reaper(child);
    let stdout = lines_of(child.0.stdout.take().unwrap());
    let stderr = lines_of(child.0.stderr.take().unwrap());

    // Everything up to "Serving until ...", within a generous bound (it provisions a token).
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !printed
        .last()
        .is_some_and(|l: &String| l.starts_with("Serving until"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match stdout.recv_timeout(left) {
            Ok(line) => printed.push(line),
            Err(_) => panic!(
                "lockbox serve printed only {printed:?}; stderr: {:?}",
                stderr.try_iter().collect::<Vec<_>>()
            ),
        }
    }
    let text = printed.join("\n");
    let endpoint = printed[0]
        .strip_prefix("lockbox: serving AWS KMS at ")
        .and_then(|rest| rest.split_once(' '))
        .map(|(endpoint, _)| endpoint.to_owned())
        .unwrap_or_else(|| panic!("{text}"));
    let port: u16 = endpoint
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("{text}"))
        .parse()
        .unwrap();
    assert_ne!(port, 0, "{text}");
    assert!(
        printed[0].contains(&format!(
            "(listening on 127.0.0.1:{port}; data directory {}",
            home.display()
        )),
        "{text}"
    );
    let access_key = printed
        .iter()
        .find_map(|l| l.strip_prefix("export AWS_ACCESS_KEY_ID="))
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned();
    // Standard output is a pipe, not a terminal: the secret is not printed, only where it is.
    assert!(
        printed.contains(
            &"export AWS_SECRET_ACCESS_KEY=<secret_access_key from the credentials file>"
                .to_owned()
        ),
        "{text}"
    );
    assert!(
        printed.contains(&"export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1".to_owned()),
        "{text}"
    );
    assert!(
        printed.contains(&format!("aws kms create-key --endpoint-url {endpoint}")),
        "{text}"
    );
    let credentials = std::fs::read_to_string(home.join("credentials.toml")).unwrap();
    let secret = credentials
        .lines()
        .find_map(|l| l.strip_prefix("secret_access_key = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap()
        .to_owned();
    assert!(!text.contains(&secret), "the secret was printed to a pipe");

    let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["--endpoint-url", &endpoint, "create-key"])
        .env("LOCKBOX_HOME", tmp.path().join("client-home"))
        .env_remove("AWS_REGION")
        .env("AWS_ACCESS_KEY_ID", &access_key)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = created["KeyMetadata"]["KeyId"].as_str().unwrap();
    assert_eq!(
        created["KeyMetadata"]["Arn"],
        format!("arn:aws:kms:us-east-1:000000000000:key/{key}")
    );

    let pid = child.0.id().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "lockbox serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    let rest: Vec<String> = stdout.iter().collect();
    assert_eq!(rest, ["lockbox: stopped"]);
}

/// A port nobody listens on: reported as the AWS CLI reports it (botocore's
/// EndpointConnectionError), exit 255, not as a service error.
#[test]
fn a_refused_connection_says_could_not_connect_and_exits_255() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let endpoint = format!("http://127.0.0.1:{port}");
    assert_eq!(
        fails(&home, &endpoint, GOOD, &["list-keys"]),
        (
            255,
            format!("Could not connect to the endpoint URL: \"http://127.0.0.1:{port}/\"")
        )
    );
}
