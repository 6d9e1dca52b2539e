//! `--debug` (each exchange on stderr, nothing secret in it) and `--no-verify-ssl` (a
//! self-signed server reached only with it, and a warning each time), against a server in the
//! test process on a throwaway SoftHSM token with a known credential.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use base64::Engine as _;
use lockbox::{Config, Engine};
use lockbox_server::credentials::{Credential, CredentialStore, SecretKey};
use lockbox_server::server::{Server, ServerConfig, ServerHandle};
use lockbox_token::testing::TestToken;
use lockbox_token::token_test;

const ACCESS_KEY: &str = "LBKCLIDEBUGTEST00001";
const SECRET: &str = "cliDebugSecret0123456789abcdefghijklmnopq";

fn start(t: &TestToken, tls: Option<(&Path, &Path)>) -> (ServerHandle, String) {
    let engine = Arc::new(Engine::open(Config::new(t.dir().join("data"), t.config())).unwrap());
    let principal = engine.default_caller("test").principal().clone();
    let credential =
        Credential::new(ACCESS_KEY, SecretKey::new(SECRET.to_owned()), principal).unwrap();
    let mut config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        shutdown_grace_ms: 500,
        ..ServerConfig::default()
    };
    let scheme = match tls {
        Some((cert, key)) => {
            config.tls_cert = Some(cert.to_owned());
            config.tls_key = Some(key.to_owned());
            "https"
        }
        None => "http",
    };
    let server = Server::start(
        engine,
        CredentialStore::from_entries([credential]).unwrap(),
        config,
    )
    .unwrap();
    let endpoint = format!("{scheme}://localhost:{}", server.local_addr().port());
    (server, endpoint)
}

/// `lockbox <args>` with the credential in the environment, and no AWS files.
fn lockbox(t: &TestToken, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(args)
        .env("LOCKBOX_HOME", t.dir().join("no-home"))
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", t.dir().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            t.dir().join("no-credentials"),
        )
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_KMS")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

token_test!(fn debug_shows_each_exchange_and_no_secret(t) {
    let (_server, endpoint) = start(t, None);
    let e = format!("--endpoint-url={endpoint}");
    let made = lockbox(t, &["create-key", &e, "--query", "KeyMetadata.KeyId", "--output", "text"]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let key = text(&made.stdout).trim().to_owned();
    let plaintext = "the plaintext nobody may see";
    let b64 = base64::engine::general_purpose::STANDARD.encode(plaintext);
    let sealed = lockbox(
        t,
        &["encrypt", &e, "--debug", "--key-id", &key, "--plaintext", &b64,
          "--query", "CiphertextBlob", "--output", "text"],
    );
    assert!(sealed.status.success(), "{}", text(&sealed.stderr));
    let blob = text(&sealed.stdout).trim().to_owned();
    let opened = lockbox(t, &["decrypt", &e, "--debug", "--ciphertext-blob", &blob]);
    assert!(opened.status.success(), "{}", text(&opened.stderr));
    let pair = lockbox(
        t,
        &["generate-data-key-pair", &e, "--debug", "--key-id", &key, "--key-pair-spec",
          "ECC_NIST_P256"],
    );
    assert!(pair.status.success(), "{}", text(&pair.stderr));
    let pair_out: serde_json::Value = serde_json::from_slice(&pair.stdout)?;
    let private = pair_out["PrivateKeyPlaintext"].as_str().unwrap().to_owned();
    // stdout is the response, as without --debug.
    let out: serde_json::Value = serde_json::from_slice(&opened.stdout)?;
    assert_eq!(out["Plaintext"], b64.as_str());

    for (run, op) in [(&sealed, "Encrypt"), (&opened, "Decrypt"), (&pair, "GenerateDataKeyPair")] {
        let err = text(&run.stderr);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 4, "{err}");
        assert!(
            lines[0].starts_with(&format!(
                "lockbox debug: request: POST {endpoint} X-Amz-Target: TrentService.{op}; "
            )) && lines[0].contains(&format!("Credential={ACCESS_KEY}/"))
                && lines[0].ends_with("Signature=<redacted>"),
            "{err}"
        );
        assert!(lines[1].starts_with("lockbox debug: request body: {"), "{err}");
        assert_eq!(lines[2].split(" after ").next(), Some("lockbox debug: response: HTTP 200"));
        assert!(lines[3].starts_with("lockbox debug: response body: {"), "{err}");
        // Nothing secret: not the plaintext (either way), not the private key, not the
        // secret access key.
        for secret in [plaintext, b64.as_str(), private.as_str(), SECRET] {
            assert!(!err.contains(secret), "{secret:?} in the debug output: {err}");
        }
    }
    assert!(text(&sealed.stderr).contains(r#""Plaintext":"<redacted: 40 characters>""#));
    assert!(text(&opened.stderr).contains(r#""Plaintext":"<redacted: 40 characters>""#));
    assert!(text(&pair.stderr).contains(r#""PrivateKeyPlaintext":"<redacted: "#));
    // The ciphertext is no secret: it is shown.
    assert!(text(&sealed.stderr).contains(&blob));

    // A refused call is shown too.
    let refused = lockbox(t, &["describe-key", &e, "--debug", "--key-id", "alias/none"]);
    assert_eq!(refused.status.code(), Some(254));
    let err = text(&refused.stderr);
    assert!(err.contains("lockbox debug: response: HTTP 400"), "{err}");
    assert!(err.contains("NotFoundException"), "{err}");
    Ok(())
});

token_test!(fn no_verify_ssl_reaches_a_self_signed_server_and_warns(t) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let cert_path = t.dir().join("server.crt");
    let key_path = t.dir().join("server.key");
    std::fs::write(&cert_path, cert.cert.pem())?;
    std::fs::write(&key_path, cert.signing_key.serialize_pem())?;
    let (_server, endpoint) = start(t, Some((&cert_path, &key_path)));
    let e = format!("--endpoint-url={endpoint}");
    // Checked, the self-signed certificate is refused: no response (255).
    let checked = lockbox(t, &["list-keys", &e]);
    assert_eq!(checked.status.code(), Some(255), "{}", text(&checked.stderr));
    assert!(checked.stdout.is_empty());
    // Unchecked, the call goes through, with the warning.
    let unchecked = lockbox(t, &["list-keys", &e, "--no-verify-ssl"]);
    assert!(unchecked.status.success(), "{}", text(&unchecked.stderr));
    let out: serde_json::Value = serde_json::from_slice(&unchecked.stdout)?;
    assert_eq!(out, serde_json::json!({"Keys": []}));
    assert_eq!(
        text(&unchecked.stderr),
        format!(
            "lockbox: warning: --no-verify-ssl: the TLS certificate of {endpoint} is not \
             checked. Anyone on the network path can pose as the server and read what is sent, \
             plaintexts included. Use --ca-bundle with the server's CA instead.\n"
        )
    );
    // With the CA, no need for it.
    let trusted = lockbox(t, &["list-keys", &e, "--ca-bundle", cert_path.to_str().unwrap()]);
    assert!(trusted.status.success(), "{}", text(&trusted.stderr));
    assert!(trusted.stderr.is_empty());
    // --ca-bundle goes with an endpoint from the environment too.
    let from_env = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["list-keys", "--ca-bundle", cert_path.to_str().unwrap()])
        .env("LOCKBOX_HOME", t.dir().join("no-home"))
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", t.dir().join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", t.dir().join("no-credentials"))
        .env("AWS_ENDPOINT_URL_KMS", &endpoint)
        .output()?;
    assert!(from_env.status.success(), "{}", text(&from_env.stderr));
    // Without any endpoint it is refused, naming where one may come from.
    let alone = lockbox(t, &["list-keys", "--ca-bundle", cert_path.to_str().unwrap()]);
    assert_eq!(alone.status.code(), Some(252));
    assert!(text(&alone.stderr).contains("--ca-bundle"), "{}", text(&alone.stderr));
    Ok(())
});
