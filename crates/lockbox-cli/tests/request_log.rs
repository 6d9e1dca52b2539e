//! `lockbox serve`'s log: what startup states, and one line per request (answered or
//! refused) naming request id, principal, operation, key, status and latency, in JSON or
//! text, levels from RUST_LOG; never a plaintext, secret or signature.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Kills the server if the test fails before it is stopped.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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

struct Serving {
    child: Reaper,
    stderr: mpsc::Receiver<String>,
    endpoint: String,
    access_key: String,
    secret: String,
}

/// Starts `lockbox serve` on a fresh data directory under `home`, with `args` and `RUST_LOG`
/// as given, and waits until it serves.
fn serve(home: &Path, args: &[&str], rust_log: Option<&str>) -> Serving {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lockbox"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("LOCKBOX_HOME", home)
        .env_remove("LOCKBOX_CALLER")
        .env_remove("SOFTHSM2_CONF")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(spec) = rust_log {
        command.env("RUST_LOG", spec);
    }
    let mut child = Reaper(command.spawn().unwrap());
    let stdout = lines_of(child.0.stdout.take().unwrap());
    let stderr = lines_of(child.0.stderr.take().unwrap());
    let mut printed: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !printed
        .last()
        .is_some_and(|l| l.starts_with("Serving until"))
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
    let endpoint = printed[0]
        .strip_prefix("lockbox: serving AWS KMS at ")
        .and_then(|rest| rest.split_once(' '))
        .map(|(endpoint, _)| endpoint.to_owned())
        .unwrap();
    let access_key = printed
        .iter()
        .find_map(|l| l.strip_prefix("export AWS_ACCESS_KEY_ID="))
        .unwrap()
        .to_owned();
    let credentials = std::fs::read_to_string(home.join("credentials.toml")).unwrap();
    let secret = credentials
        .lines()
        .find_map(|l| l.strip_prefix("secret_access_key = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap()
        .to_owned();
    Serving {
        child,
        stderr,
        endpoint,
        access_key,
        secret,
    }
}

impl Serving {
    /// `lockbox --endpoint-url <endpoint> <args>` with this server's credential (or `secret`).
    fn client(&self, client_home: &Path, secret: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .arg("--endpoint-url")
            .arg(&self.endpoint)
            .args(args)
            .env("LOCKBOX_HOME", client_home)
            .env_remove("LOCKBOX_CALLER")
            .env_remove("AWS_REGION")
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .output()
            .unwrap()
    }

    /// A raw HTTP/1.1 request; the status line's code.
    fn raw(&self, request: &str) -> u16 {
        self.raw_response(request).0
    }

    /// A raw HTTP/1.1 request; the status code and the body.
    fn raw_response(&self, request: &str) -> (u16, String) {
        let addr = self.endpoint.strip_prefix("http://").unwrap();
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        let status = response.split(' ').nth(1).unwrap().parse().unwrap();
        let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
        (status, body)
    }

    /// Stops the server with SIGTERM; everything it wrote to stderr.
    fn stop(mut self) -> Vec<String> {
        let pid = self.child.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "lockbox serve did not stop");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(status.code(), Some(0));
        self.stderr.iter().collect()
    }
}

const PLAINTEXT_B64: &str = "c2VjcmV0LXBsYWludGV4dC1kby1ub3QtbG9n"; // secret-plaintext-do-not-log

#[test]
fn json_request_log_has_one_line_per_request_refusals_included_and_no_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let client_home = tmp.path().join("client");
    let server = serve(&home, &["--log-format", "json"], None);

    // 1. CreateKey, answered.
    let out = server.client(&client_home, &server.secret, &["create-key"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let arn = created["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
    let key_id = created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    // 2. Encrypt, answered.
    let out = server.client(
        &client_home,
        &server.secret,
        &["encrypt", "--key-id", &key_id, "--plaintext", PLAINTEXT_B64],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let encrypted: Value = serde_json::from_slice(&out.stdout).unwrap();
    let blob = encrypted["CiphertextBlob"].as_str().unwrap().to_owned();
    // 3. Decrypt (no key id in the request: the log names the key from the answer).
    let out = server.client(
        &client_home,
        &server.secret,
        &["decrypt", "--ciphertext-blob", &blob],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 4. DescribeKey of a key that does not exist: refused by the engine.
    let missing = "11111111-2222-3333-4444-555555555555";
    let out = server.client(
        &client_home,
        &server.secret,
        &["describe-key", "--key-id", missing],
    );
    assert_eq!(
        out.status.code(),
        Some(254),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 5. A wrong secret: refused before the engine.
    let wrong = "wrongSecret0123456789abcdefghijklmnopqrs";
    let out = server.client(
        &client_home,
        wrong,
        &["encrypt", "--key-id", &key_id, "--plaintext", PLAINTEXT_B64],
    );
    assert_eq!(
        out.status.code(),
        Some(254),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 6. An unknown path, and 7. health.
    assert_eq!(
        server.raw("GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        404
    );
    assert_eq!(
        server.raw("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        200
    );
    // 8. The metrics: the seven requests before it, counted by operation and status.
    let (status, metrics) =
        server.raw_response("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 200);
    for line in [
        r#"lockbox_requests_total{operation="CreateKey",status="200"} 1"#,
        r#"lockbox_requests_total{operation="Encrypt",status="200"} 1"#,
        r#"lockbox_requests_total{operation="Encrypt",status="400"} 1"#,
        r#"lockbox_requests_total{operation="Decrypt",status="200"} 1"#,
        r#"lockbox_requests_total{operation="DescribeKey",status="400"} 1"#,
        r#"lockbox_requests_total{operation="-",status="404"} 1"#,
        r#"lockbox_requests_total{operation="-",status="200"} 1"#,
        r#"lockbox_request_duration_seconds_count{operation="Encrypt"} 2"#,
        "lockbox_token_errors_total 0",
        "lockbox_requests_in_flight 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "no {line}:\n{metrics}");
    }
    assert!(!metrics.contains(&key_id) && !metrics.contains(&server.access_key));
    let secret = server.secret.clone();
    let access_key = server.access_key.clone();
    let log = server.stop();

    let events: Vec<Value> = log
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    // Startup states what is served.
    let opened = events
        .iter()
        .find(|e| e["message"] == "lockbox serve: opened the data directory")
        .unwrap_or_else(|| panic!("{log:#?}"));
    assert_eq!(opened["level"], "INFO");
    assert_eq!(opened["data_dir"], home.display().to_string());
    assert_eq!(opened["store"], home.join("metadata").display().to_string());
    assert!(
        opened["token"].as_str().unwrap().starts_with("label '"),
        "{opened}"
    );
    assert!(
        opened["token_module"].as_str().unwrap().ends_with(".so"),
        "{opened}"
    );
    let listening = events
        .iter()
        .find(|e| e["message"] == "lockbox server listening")
        .unwrap_or_else(|| panic!("{log:#?}"));
    assert_eq!(
        listening["addr"],
        server_addr(&log).unwrap_or_default(),
        "{listening}"
    );
    assert_eq!(listening["tls"], false);
    assert!(listening["regions"].is_string(), "{listening}");

    let requests: Vec<&Value> = events
        .iter()
        .filter(|e| e["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 8, "{log:#?}");
    let ids: std::collections::BTreeSet<&str> = requests
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 8, "request ids are not distinct: {log:#?}");
    for r in &requests {
        assert_eq!(r["target"], "lockbox_server::request", "{r}");
        assert_eq!(r["level"], "INFO", "{r}");
        assert_eq!(r["peer"], "127.0.0.1", "{r}");
        assert!(r["latency_ms"].as_f64().unwrap() >= 0.0, "{r}");
    }
    let principal = "arn:aws:iam::000000000000:root".to_owned();
    let field = |i: usize, name: &str| requests[i][name].as_str().unwrap().to_owned();
    let summary: Vec<(String, String, String, u64, String)> = (0..8)
        .map(|i| {
            (
                field(i, "operation"),
                field(i, "principal"),
                field(i, "key"),
                requests[i]["status"].as_u64().unwrap(),
                field(i, "error"),
            )
        })
        .collect();
    let s = |x: &str| x.to_owned();
    assert_eq!(
        summary,
        vec![
            (s("CreateKey"), principal.clone(), arn.clone(), 200, s("-")),
            (s("Encrypt"), principal.clone(), arn.clone(), 200, s("-")),
            (s("Decrypt"), principal.clone(), arn.clone(), 200, s("-")),
            (
                s("DescribeKey"),
                principal.clone(),
                s(missing),
                400,
                s("NotFoundException")
            ),
            (
                s("Encrypt"),
                s("-"),
                key_id.clone(),
                400,
                s("InvalidSignatureException")
            ),
            (s("-"), s("-"), s("-"), 404, s("UnknownOperationException")),
            (s("-"), s("-"), s("-"), 200, s("-")),
            (s("-"), s("-"), s("-"), 200, s("-")),
        ],
        "{log:#?}"
    );
    assert_eq!(field(4, "access_key_id"), access_key);
    assert_eq!(field(5, "path"), "/nope");
    assert_eq!(field(7, "path"), "/metrics");

    // Nothing secret: not the plaintext (base64 or raw), the ciphertext, the secret access
    // key, the wrong secret, nor any signature.
    let text = log.join("\n");
    for secret_text in [
        PLAINTEXT_B64,
        "secret-plaintext-do-not-log",
        &blob,
        &secret,
        wrong,
        "Signature=",
        "Authorization",
    ] {
        assert!(
            !text.contains(secret_text),
            "the log holds {secret_text}:\n{text}"
        );
    }
}

/// The address `lockbox server listening` names (from the JSON line).
fn server_addr(log: &[String]) -> Option<String> {
    log.iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["message"] == "lockbox server listening")
        .and_then(|e| e["addr"].as_str().map(str::to_owned))
}

#[test]
fn text_log_by_default_and_rust_log_selects_levels() {
    let tmp = tempfile::tempdir().unwrap();
    // Text lines by default, with the request's fields.
    let home = tmp.path().join("text");
    let server = serve(&home, &[], None);
    assert_eq!(
        server.raw("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        200
    );
    // An unauthenticated request whose key id tries to forge a log line: still one line,
    // the key escaped.
    let body = r#"{"KeyId":"x y\n2026-01-01T00:00:00Z  INFO forged","Plaintext":"AAAA"}"#;
    assert_eq!(
        server.raw(&format!(
            "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/x-amz-json-1.1\r\nX-Amz-Target: TrentService.Encrypt\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        400
    );
    let log = server.stop();
    let requests: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("lockbox_server::request"))
        .collect();
    assert_eq!(requests.len(), 2, "{log:#?}");
    assert!(
        requests[1].contains(
            r#" operation=Encrypt principal=- access_key_id=- key=x\x20y?2026-01-01T00:00:00Z\x20\x20INFO\x20forged status=400 error=MissingAuthenticationTokenException "#
        ),
        "{}",
        requests[1]
    );
    assert!(!log.iter().any(|l| l.starts_with("2026-01-01")), "{log:#?}");
    let line = requests[0];
    assert!(line.contains(" INFO "), "{line}");
    assert!(line.contains("request request_id="), "{line}");
    assert!(line.contains(" path=/health "), "{line}");
    assert!(line.contains(" status=200 "), "{line}");
    assert!(serde_json::from_str::<Value>(line).is_err(), "{line}");

    // RUST_LOG=warn: no request lines, no startup lines.
    let home = tmp.path().join("quiet");
    let server = serve(&home, &[], Some("warn"));
    assert_eq!(
        server.raw("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        200
    );
    let log = server.stop();
    assert!(
        log.iter().all(|l| !l.contains(" INFO ")),
        "RUST_LOG=warn logged INFO lines: {log:#?}"
    );

    // A RUST_LOG that does not parse is named.
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("LOCKBOX_HOME", tmp.path().join("bad"))
        .env("RUST_LOG", "lockbox=notalevel")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("lockbox: RUST_LOG=lockbox=notalevel: "),
        "{err}"
    );
    assert!(!tmp.path().join("bad").exists());
}

/// Writes `text` as the credentials file the way an operator's tool would: a new file, mode
/// 0600, renamed into place.
fn write_credentials(home: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = home.join("credentials.toml.new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&tmp, home.join("credentials.toml")).unwrap();
}

#[test]
fn credentials_added_and_removed_take_effect_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let client_home = tmp.path().join("client");
    let server = serve(&home, &["--log-format", "json"], None);
    let original = std::fs::read_to_string(home.join("credentials.toml")).unwrap();
    let alice_id = "LBKALICEALICEALICE01";
    let alice_secret = "aliceSecret0123456789abcdefghijklmnopqrs";
    write_credentials(
        &home,
        &format!(
            "{original}\n[[credential]]\naccess_key_id = \"{alice_id}\"\n\
             secret_access_key = \"{alice_secret}\"\n\
             principal = \"arn:aws:iam::000000000000:user/alice\"\n"
        ),
    );
    let as_alice = |server: &Serving| {
        Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .args(["--endpoint-url", &server.endpoint, "list-keys"])
            .env("LOCKBOX_HOME", &client_home)
            .env_remove("AWS_REGION")
            .env("AWS_ACCESS_KEY_ID", alice_id)
            .env("AWS_SECRET_ACCESS_KEY", alice_secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .output()
            .unwrap()
    };
    let out = as_alice(&server);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Removed: refused at once, and the first credential still works.
    write_credentials(&home, &original);
    let out = as_alice(&server);
    assert_eq!(out.status.code(), Some(254));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "An error occurred (UnrecognizedClientException) when calling the ListKeys operation: \
         The security token included in the request is invalid.\n"
    );
    // A broken file is refused and the credentials loaded before stay.
    write_credentials(&home, "[[credential]]\naccess_key_id = 3\n");
    let out = server.client(&client_home, &server.secret, &["list-keys"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = server.stop();
    let reloads = log
        .iter()
        .filter(|l| l.contains("\"credentials file reloaded\""))
        .count();
    assert_eq!(reloads, 2, "{log:#?}");
    assert!(
        log.iter()
            .any(|l| l.contains("the changed credentials file does not load")),
        "{log:#?}"
    );
    // The secrets are not in the log.
    let text = log.join("\n");
    assert!(!text.contains(alice_secret) && !text.contains(&server_secret(&original)));
}

fn server_secret(credentials: &str) -> String {
    credentials
        .lines()
        .find_map(|l| l.strip_prefix("secret_access_key = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap()
        .to_owned()
}

#[test]
fn credentials_commands_work_beside_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let client_home = tmp.path().join("client");
    let server = serve(&home, &[], None);
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .args(args)
            .env("LOCKBOX_HOME", &home)
            .env_remove("SOFTHSM2_CONF")
            .output()
            .unwrap()
    };
    let carol = "arn:aws:iam::000000000000:user/carol";
    let out = run(&["credentials", "create", "--principal", carol]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["AccessKeyId"].as_str().unwrap().to_owned();
    assert_eq!(created["Principal"], carol);
    // Standard output is a pipe: the secret is not printed, only where it is.
    assert_eq!(
        created["SecretAccessKey"],
        format!(
            "<secret_access_key in {}>",
            home.join("credentials.toml").display()
        )
    );
    let file = std::fs::read_to_string(home.join("credentials.toml")).unwrap();
    let secret = file
        .split("[[credential]]")
        .find(|block| block.contains(&id))
        .and_then(server_secret_of_block)
        .unwrap();
    let as_carol = |secret: &str| {
        Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .args(["--endpoint-url", &server.endpoint, "list-keys"])
            .env("LOCKBOX_HOME", &client_home)
            .env_remove("AWS_REGION")
            .env("AWS_ACCESS_KEY_ID", &id)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .output()
            .unwrap()
    };
    let out = as_carol(&secret);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run(&["credentials", "list"]);
    assert!(out.status.success());
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut expected = vec![
        serde_json::json!({"AccessKeyId": server.access_key, "Principal": "arn:aws:iam::000000000000:root"}),
        serde_json::json!({"AccessKeyId": id, "Principal": carol}),
    ];
    expected.sort_by_key(|v| v["AccessKeyId"].as_str().unwrap().to_owned());
    assert_eq!(listed, serde_json::json!({ "Credentials": expected }));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains(&secret) && !text.contains(&server.secret));

    let out = run(&["credentials", "delete", "--access-key-id", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = as_carol(&secret);
    assert_eq!(out.status.code(), Some(254));
    let out = run(&["credentials", "delete", "--access-key-id", &id]);
    assert_eq!(out.status.code(), Some(252));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "Error parsing parameter '--access-key-id': no credential {id} in {}\n",
            home.join("credentials.toml").display()
        )
    );
    // The first credential still works, and the file is still private.
    let out = server.client(&client_home, &server.secret, &["list-keys"]);
    assert!(out.status.success());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(home.join("credentials.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    server.stop();
}

fn server_secret_of_block(block: &str) -> Option<String> {
    block
        .lines()
        .find_map(|l| l.strip_prefix("secret_access_key = \""))
        .and_then(|l| l.strip_suffix('"'))
        .map(str::to_owned)
}
