//! The asymmetric, HMAC and key-agreement commands of the `lockbox` binary (sign, verify,
//! get-public-key, generate-mac, verify-mac, generate-data-key-pair(-without-plaintext),
//! derive-shared-secret), end to end on a fresh data directory and through `--endpoint-url`
//! against a server, with every cryptographic result checked by OpenSSL (code nobody here
//! wrote): signatures verify with `openssl dgst -verify` over get-public-key's DER, the PKCS#8
//! of a data key pair gives back its public key, and the ECDH secret equals OpenSSL's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lockbox::{Config, Engine};
use lockbox_server::credentials::{Credential, CredentialStore, SecretKey};
use lockbox_server::server::{Server, ServerConfig, ServerHandle};
use lockbox_token::testing::TestToken;
use lockbox_token::token_test;
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const ACCESS_KEY: &str = "LBKCLIASYMMETRIC0001";
const SECRET: &str = "cliAsymmetricSecret0123456789abcdefghijk";

/// How a test runs `lockbox`: on a local data directory, or against a server.
struct Lockbox {
    home: PathBuf,
    endpoint: Option<String>,
}

impl Lockbox {
    /// A fresh data directory, provisioned (the first command says so on stderr).
    fn local(home: PathBuf) -> Self {
        let lb = Lockbox {
            home,
            endpoint: None,
        };
        assert!(lb.output(&["list-keys"]).status.success());
        lb
    }

    fn output(&self, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lockbox"));
        command
            .env("LOCKBOX_HOME", &self.home)
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
        if let Some(endpoint) = &self.endpoint {
            command
                .args(["--endpoint-url", endpoint])
                .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
                .env("AWS_SECRET_ACCESS_KEY", SECRET)
                .env("AWS_DEFAULT_REGION", "us-east-1");
        }
        command.args(args).output().unwrap()
    }

    /// A command that must succeed; its JSON (or Null when it printed nothing).
    fn ok(&self, args: &[&str]) -> Value {
        let out = self.raw(args);
        if out.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&out).unwrap()
        }
    }

    /// A command that must succeed; its standard output, raw. Nothing on standard error.
    fn raw(&self, args: &[&str]) -> Vec<u8> {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "lockbox {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "lockbox {args:?} wrote to stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// A command that must fail: (exit code, its one stderr line); nothing on stdout.
    fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.output(args);
        assert!(!out.status.success(), "lockbox {args:?} succeeded");
        assert!(
            out.stdout.is_empty(),
            "a failed command printed {:?}",
            out.stdout
        );
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(!err.contains("panicked"), "{err}");
        (out.status.code().unwrap(), err.trim_end().to_owned())
    }

    /// Creates a key of `spec` and `usage`; its id and ARN.
    fn create_key(&self, spec: &str, usage: &str) -> (String, String) {
        let md = self.ok(&["create-key", "--key-spec", spec, "--key-usage", usage]);
        let id = md["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
        (id.clone(), arn(&id))
    }
}

fn arn(key: &str) -> String {
    format!("arn:aws:kms:us-east-1:000000000000:key/{key}")
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn unb64(v: &Value) -> Vec<u8> {
    STANDARD
        .decode(v.as_str().expect("a base64 string"))
        .unwrap()
}

/// Runs openssl, which must succeed; its standard output.
fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The path of `name` in `dir`, as a string for a command line.
fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

fn fileb(dir: &Path, name: &str) -> String {
    format!("fileb://{}", path(dir, name))
}

/// A message with bytes no text would hold.
const MESSAGE: &[u8] = b"pay 100 to alice\x00\xff\n";

/// sign, verify and get-public-key for ECDSA (NIST and secp256k1) and RSA (PSS and
/// PKCS #1 v1.5), RAW and DIGEST, each signature checked by `openssl dgst -verify`.
fn signing(lb: &Lockbox, dir: &Path) {
    std::fs::write(dir.join("msg"), MESSAGE).unwrap();
    std::fs::write(dir.join("tampered"), b"pay 900 to mallory").unwrap();
    let cases: [(&str, &str, &str, &[&str]); 5] = [
        ("ECC_NIST_P256", "ECDSA_SHA_256", "-sha256", &[]),
        ("ECC_NIST_P384", "ECDSA_SHA_384", "-sha384", &[]),
        ("ECC_SECG_P256K1", "ECDSA_SHA_256", "-sha256", &[]),
        (
            "RSA_2048",
            "RSASSA_PSS_SHA_256",
            "-sha256",
            // AWS's PSS salt is as long as the digest.
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
            ],
        ),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512", "-sha512", &[]),
    ];
    for (spec, algorithm, hash, sigopts) in cases {
        let (key, key_arn) = lb.create_key(spec, "SIGN_VERIFY");
        // get-public-key: JSON with only the signing algorithms, and the same DER raw.
        let public = lb.ok(&["get-public-key", "--key-id", &key]);
        assert_eq!(public["KeyId"], key_arn.as_str());
        assert_eq!(public["KeySpec"], spec);
        assert_eq!(public["CustomerMasterKeySpec"], spec);
        assert_eq!(public["KeyUsage"], "SIGN_VERIFY");
        assert!(
            public["SigningAlgorithms"]
                .as_array()
                .unwrap()
                .contains(&json!(algorithm)),
            "{public}"
        );
        assert!(public.get("EncryptionAlgorithms").is_none(), "{public}");
        assert!(public.get("KeyAgreementAlgorithms").is_none(), "{public}");
        let pub_der = path(dir, "pub.der");
        let shown = lb.ok(&[
            "get-public-key",
            "--key-id",
            &key,
            "--public-key-out",
            &pub_der,
        ]);
        assert!(shown.get("PublicKey").is_none(), "{shown}");
        assert_eq!(shown["KeySpec"], spec);
        assert_eq!(
            std::fs::read(&pub_der).unwrap(),
            unb64(&public["PublicKey"])
        );
        let pub_pem = path(dir, "pub.pem");
        openssl(&[
            "pkey", "-pubin", "-inform", "DER", "-in", &pub_der, "-out", &pub_pem,
        ]);

        let verified_by_openssl = |signature: &str| {
            let mut args = vec!["dgst", hash, "-verify", &pub_pem, "-signature", signature];
            args.extend_from_slice(sigopts);
            let msg = path(dir, "msg");
            args.push(&msg);
            assert_eq!(
                String::from_utf8(openssl(&args)).unwrap(),
                "Verified OK\n",
                "{spec} {algorithm}"
            );
        };

        // RAW, signature to a file.
        let sig = path(dir, "sig.bin");
        let signed = lb.ok(&[
            "sign",
            "--key-id",
            &key,
            "--message",
            &fileb(dir, "msg"),
            "--signing-algorithm",
            algorithm,
            "--signature-out",
            &sig,
        ]);
        assert_eq!(
            signed,
            json!({"KeyId": key_arn, "SigningAlgorithm": algorithm})
        );
        verified_by_openssl(&sig);

        // DIGEST (the digest OpenSSL computed), signature in base64, message type named.
        std::fs::write(
            dir.join("digest"),
            openssl(&["dgst", hash, "-binary", &path(dir, "msg")]),
        )
        .unwrap();
        let signed = lb.ok(&[
            "sign",
            "--key-id",
            &key,
            "--message",
            &fileb(dir, "digest"),
            "--message-type",
            "DIGEST",
            "--signing-algorithm",
            algorithm,
        ]);
        assert_eq!(signed["KeyId"], key_arn.as_str());
        assert_eq!(signed["SigningAlgorithm"], algorithm);
        let signature = unb64(&signed["Signature"]);
        std::fs::write(dir.join("sig2.bin"), &signature).unwrap();
        verified_by_openssl(&path(dir, "sig2.bin"));

        // verify: raw signature file and RAW message; base64 signature and DIGEST.
        let valid =
            json!({"KeyId": key_arn, "SignatureValid": true, "SigningAlgorithm": algorithm});
        assert_eq!(
            lb.ok(&[
                "verify",
                "--key-id",
                &key,
                "--message",
                &fileb(dir, "msg"),
                "--signature",
                &fileb(dir, "sig.bin"),
                "--signing-algorithm",
                algorithm,
            ]),
            valid
        );
        assert_eq!(
            lb.ok(&[
                "verify",
                "--key-id",
                &key,
                "--message",
                &b64(&std::fs::read(dir.join("digest")).unwrap()),
                "--message-type",
                "DIGEST",
                "--signature",
                &b64(&signature),
                "--signing-algorithm",
                algorithm,
            ]),
            valid
        );
        // Another message: KMSInvalidSignatureException, exit 254.
        let (code, line) = lb.fails(&[
            "verify",
            "--key-id",
            &key,
            "--message",
            &fileb(dir, "tampered"),
            "--signature",
            &fileb(dir, "sig.bin"),
            "--signing-algorithm",
            algorithm,
        ]);
        assert_eq!(code, 254, "{line}");
        assert!(
            line.starts_with(
                "An error occurred (KMSInvalidSignatureException) when calling the Verify \
                 operation: "
            ),
            "{line}"
        );
    }

    // --signature-out -: the raw signature alone on standard output.
    let (key, _) = lb.create_key("ECC_NIST_P256", "SIGN_VERIFY");
    let raw = lb.raw(&[
        "sign",
        "--key-id",
        &key,
        "--message",
        &fileb(dir, "msg"),
        "--signing-algorithm",
        "ECDSA_SHA_256",
        "--signature-out",
        "-",
    ]);
    std::fs::write(dir.join("stdout.sig"), &raw).unwrap();
    let pub_der = path(dir, "p256.der");
    lb.ok(&[
        "get-public-key",
        "--key-id",
        &key,
        "--public-key-out",
        &pub_der,
    ]);
    assert_eq!(
        openssl(&[
            "dgst",
            "-sha256",
            "-verify",
            &pub_der,
            "-keyform",
            "DER",
            "-signature",
            &path(dir, "stdout.sig"),
            &path(dir, "msg"),
        ]),
        b"Verified OK\n"
    );
}

/// generate-mac and verify-mac for every HMAC key spec.
fn macs(lb: &Lockbox, dir: &Path) {
    std::fs::write(dir.join("msg"), MESSAGE).unwrap();
    for (spec, algorithm, len) in [
        ("HMAC_224", "HMAC_SHA_224", 28),
        ("HMAC_256", "HMAC_SHA_256", 32),
        ("HMAC_384", "HMAC_SHA_384", 48),
        ("HMAC_512", "HMAC_SHA_512", 64),
    ] {
        let (key, key_arn) = lb.create_key(spec, "GENERATE_VERIFY_MAC");
        let made = lb.ok(&[
            "generate-mac",
            "--key-id",
            &key,
            "--message",
            &fileb(dir, "msg"),
            "--mac-algorithm",
            algorithm,
        ]);
        assert_eq!(made["KeyId"], key_arn.as_str());
        assert_eq!(made["MacAlgorithm"], algorithm);
        let mac = unb64(&made["Mac"]);
        assert_eq!(mac.len(), len, "{spec}");
        // HMAC is deterministic: --mac-out writes the same MAC, raw.
        let mac_file = path(dir, "mac.bin");
        assert_eq!(
            lb.ok(&[
                "generate-mac",
                "--key-id",
                &key,
                "--message",
                &b64(MESSAGE),
                "--mac-algorithm",
                algorithm,
                "--mac-out",
                &mac_file,
            ]),
            json!({"MacAlgorithm": algorithm, "KeyId": key_arn})
        );
        assert_eq!(std::fs::read(&mac_file).unwrap(), mac);
        assert_eq!(
            lb.ok(&[
                "verify-mac",
                "--key-id",
                &key,
                "--message",
                &fileb(dir, "msg"),
                "--mac-algorithm",
                algorithm,
                "--mac",
                &fileb(dir, "mac.bin"),
            ]),
            json!({"KeyId": key_arn, "MacValid": true, "MacAlgorithm": algorithm})
        );
        let mut wrong = mac.clone();
        wrong[0] ^= 1;
        let (code, line) = lb.fails(&[
            "verify-mac",
            "--key-id",
            &key,
            "--message",
            &fileb(dir, "msg"),
            "--mac-algorithm",
            algorithm,
            "--mac",
            &b64(&wrong),
        ]);
        assert_eq!(code, 254, "{line}");
        assert!(
            line.starts_with(
                "An error occurred (KMSInvalidMacException) when calling the VerifyMac \
                 operation: "
            ),
            "{line}"
        );
        // Another key of the same spec makes another MAC.
        let (other, _) = lb.create_key(spec, "GENERATE_VERIFY_MAC");
        let theirs = lb.ok(&[
            "generate-mac",
            "--key-id",
            &other,
            "--message",
            &fileb(dir, "msg"),
            "--mac-algorithm",
            algorithm,
        ]);
        assert_ne!(unb64(&theirs["Mac"]), mac, "{spec}");
    }
}

/// generate-data-key-pair(-without-plaintext): the PKCS#8 parses with OpenSSL and gives back
/// the public key; the encrypted private key decrypts to it with the same context.
fn data_key_pairs(lb: &Lockbox, dir: &Path) {
    let (sym, sym_arn) = lb.create_key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT");
    for (spec, openssl_says) in [
        ("ECC_NIST_P256", "prime256v1"),
        ("ECC_SECG_P256K1", "secp256k1"),
        ("RSA_2048", "Private-Key: (2048 bit, 2 primes)"),
    ] {
        let (public, private, blob) = (
            path(dir, "pair.pub.der"),
            path(dir, "pair.priv.der"),
            path(dir, "pair.blob"),
        );
        let answer = lb.ok(&[
            "generate-data-key-pair",
            "--key-id",
            &sym,
            "--key-pair-spec",
            spec,
            "--encryption-context",
            "purpose=pair",
            "--public-key-out",
            &public,
            "--private-key-out",
            &private,
            "--ciphertext-out",
            &blob,
        ]);
        assert_eq!(answer, json!({"KeyId": sym_arn, "KeyPairSpec": spec}));
        assert_eq!(mode(Path::new(&private)), 0o600);
        let text = String::from_utf8(openssl(&[
            "pkey", "-inform", "DER", "-in", &private, "-noout", "-text",
        ]))
        .unwrap();
        assert!(text.contains(openssl_says), "{spec}: {text}");
        let derived = openssl(&[
            "pkey", "-inform", "DER", "-in", &private, "-pubout", "-outform", "DER",
        ]);
        assert_eq!(derived, std::fs::read(&public).unwrap(), "{spec}");
        let back = path(dir, "pair.back.der");
        lb.ok(&[
            "decrypt",
            "--ciphertext-blob",
            &format!("fileb://{blob}"),
            "--encryption-context",
            "purpose=pair",
            "--plaintext-out",
            &back,
        ]);
        assert_eq!(
            std::fs::read(&back).unwrap(),
            std::fs::read(&private).unwrap()
        );

        // JSON: every member in base64.
        let answer = lb.ok(&[
            "generate-data-key-pair",
            "--key-id",
            &sym,
            "--key-pair-spec",
            spec,
        ]);
        assert_eq!(answer["KeyId"], sym_arn.as_str());
        assert_eq!(answer["KeyPairSpec"], spec);
        std::fs::write(
            dir.join("json.priv.der"),
            unb64(&answer["PrivateKeyPlaintext"]),
        )
        .unwrap();
        assert_eq!(
            openssl(&[
                "pkey",
                "-inform",
                "DER",
                "-in",
                &path(dir, "json.priv.der"),
                "-pubout",
                "-outform",
                "DER",
            ]),
            unb64(&answer["PublicKey"])
        );
        let opened = lb.ok(&[
            "decrypt",
            "--ciphertext-blob",
            answer["PrivateKeyCiphertextBlob"].as_str().unwrap(),
        ]);
        assert_eq!(opened["Plaintext"], answer["PrivateKeyPlaintext"]);

        // Without plaintext: no private key member, and the blob opens to the pair's.
        let answer = lb.ok(&[
            "generate-data-key-pair-without-plaintext",
            "--key-id",
            &sym,
            "--key-pair-spec",
            spec,
            "--encryption-context",
            "purpose=np",
        ]);
        let members: Vec<&str> = answer
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            members,
            [
                "KeyId",
                "KeyPairSpec",
                "PrivateKeyCiphertextBlob",
                "PublicKey"
            ]
        );
        lb.ok(&[
            "decrypt",
            "--ciphertext-blob",
            answer["PrivateKeyCiphertextBlob"].as_str().unwrap(),
            "--encryption-context",
            "purpose=np",
            "--plaintext-out",
            &back,
        ]);
        assert_eq!(
            openssl(&[
                "pkey", "-inform", "DER", "-in", &back, "-pubout", "-outform", "DER",
            ]),
            unb64(&answer["PublicKey"])
        );
    }
    assert_eq!(
        lb.fails(&[
            "generate-data-key-pair-without-plaintext",
            "--key-id",
            &sym,
            "--key-pair-spec",
            "ECC_NIST_P256",
            "--private-key-out",
            &path(dir, "never"),
        ]),
        (
            252,
            "Error parsing parameter '--private-key-out': \
             generate-data-key-pair-without-plaintext returns no private key"
                .into()
        )
    );
    assert_eq!(
        lb.fails(&[
            "generate-data-key-pair",
            "--key-id",
            &sym,
            "--key-pair-spec",
            "ECC_NIST_P256",
            "--private-key-out",
            "-",
            "--public-key-out",
            "-",
        ]),
        (
            252,
            "Error parsing parameter '--private-key-out': only one of --ciphertext-out, \
             --public-key-out and --private-key-out can be standard output"
                .into()
        )
    );
    assert!(!dir.join("never").exists());
}

/// derive-shared-secret: the secret equals what OpenSSL derives on the peer's side.
fn key_agreement(lb: &Lockbox, dir: &Path) {
    for (spec, curve) in [
        ("ECC_NIST_P256", "prime256v1"),
        ("ECC_NIST_P384", "secp384r1"),
        ("ECC_NIST_P521", "secp521r1"),
    ] {
        let (key, key_arn) = lb.create_key(spec, "KEY_AGREEMENT");
        let ours = path(dir, "ours.der");
        let public = lb.ok(&[
            "get-public-key",
            "--key-id",
            &key,
            "--public-key-out",
            &ours,
        ]);
        assert_eq!(public["KeyAgreementAlgorithms"], json!(["ECDH"]));
        assert_eq!(public["KeyUsage"], "KEY_AGREEMENT");
        assert!(public.get("SigningAlgorithms").is_none(), "{public}");
        let (peer, peer_der) = (path(dir, "peer.pem"), path(dir, "peer.der"));
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &format!("ec_paramgen_curve:{curve}"),
            "-out",
            &peer,
        ]);
        openssl(&[
            "pkey", "-in", &peer, "-pubout", "-outform", "DER", "-out", &peer_der,
        ]);
        let expected = openssl(&[
            "pkeyutl",
            "-derive",
            "-inkey",
            &peer,
            "-peerkey",
            &ours,
            "-peerform",
            "DER",
        ]);
        let secret = path(dir, "secret.bin");
        assert_eq!(
            lb.ok(&[
                "derive-shared-secret",
                "--key-id",
                &key,
                "--key-agreement-algorithm",
                "ECDH",
                "--public-key",
                &format!("fileb://{peer_der}"),
                "--shared-secret-out",
                &secret,
            ]),
            json!({"KeyId": key_arn, "KeyAgreementAlgorithm": "ECDH", "KeyOrigin": "AWS_KMS"})
        );
        assert_eq!(mode(Path::new(&secret)), 0o600);
        assert_eq!(std::fs::read(&secret).unwrap(), expected, "{spec}");
        let answer = lb.ok(&[
            "derive-shared-secret",
            "--key-id",
            &key,
            "--key-agreement-algorithm",
            "ECDH",
            "--public-key",
            &b64(&std::fs::read(&peer_der).unwrap()),
        ]);
        assert_eq!(unb64(&answer["SharedSecret"]), expected);
        // Bytes that are no public key: AWS's ValidationException.
        let (code, line) = lb.fails(&[
            "derive-shared-secret",
            "--key-id",
            &key,
            "--key-agreement-algorithm",
            "ECDH",
            "--public-key",
            &b64(b"not a public key"),
        ]);
        assert_eq!(code, 254, "{line}");
        assert!(
            line.starts_with(
                "An error occurred (ValidationException) when calling the DeriveSharedSecret \
                 operation: "
            ),
            "{line}"
        );
    }
}

#[test]
fn sign_verify_and_get_public_key_interoperate_with_openssl() -> TestResult {
    let tmp = tempfile::tempdir()?;
    signing(&Lockbox::local(tmp.path().join("home")), tmp.path());
    Ok(())
}

#[test]
fn macs_verify_and_a_changed_mac_is_refused() -> TestResult {
    let tmp = tempfile::tempdir()?;
    macs(&Lockbox::local(tmp.path().join("home")), tmp.path());
    Ok(())
}

#[test]
fn data_key_pairs_open_with_openssl_and_decrypt() -> TestResult {
    let tmp = tempfile::tempdir()?;
    data_key_pairs(&Lockbox::local(tmp.path().join("home")), tmp.path());
    Ok(())
}

#[test]
fn derived_secrets_equal_openssl_ecdh() -> TestResult {
    let tmp = tempfile::tempdir()?;
    key_agreement(&Lockbox::local(tmp.path().join("home")), tmp.path());
    Ok(())
}

fn start(t: &TestToken) -> (Arc<Engine>, ServerHandle, String) {
    let engine = Arc::new(Engine::open(Config::new(t.dir().join("data"), t.config())).unwrap());
    let principal = engine.default_caller("test").principal().clone();
    let credential =
        Credential::new(ACCESS_KEY, SecretKey::new(SECRET.to_owned()), principal).unwrap();
    let mut config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        shutdown_grace_ms: 500,
        ..ServerConfig::default()
    };
    // The flows call GenerateDataKeyPair of RSA_2048 three times in a row; AWS's quota for
    // it (one a second) is the server's default, and throttling is not what is tested here.
    config.throttle.enabled = false;
    let server = Server::start(
        engine.clone(),
        CredentialStore::from_entries([credential]).unwrap(),
        config,
    )
    .unwrap();
    let endpoint = format!("http://{}", server.local_addr());
    (engine, server, endpoint)
}

token_test!(fn every_new_command_works_through_endpoint_url(t) {
    let (_engine, _server, endpoint) = start(t);
    let lb = Lockbox {
        home: t.dir().join("no-home"),
        endpoint: Some(endpoint),
    };
    let dir = t.dir().join("work");
    std::fs::create_dir(&dir)?;
    signing(&lb, &dir);
    macs(&lb, &dir);
    data_key_pairs(&lb, &dir);
    key_agreement(&lb, &dir);
    assert!(!lb.home.exists(), "a remote command touched the data directory");
    Ok(())
});

/// `describe-key` of a key `create-key` made with `spec` and `usage`: the algorithm lists
/// that apply, and no others.
fn algorithms(lb: &Lockbox, spec: &str, usage: &str) -> Value {
    let created = lb.ok(&["create-key", "--key-spec", spec, "--key-usage", usage]);
    let key = created["KeyMetadata"]["KeyId"].as_str().unwrap();
    let described = lb.ok(&["describe-key", "--key-id", key]);
    assert_eq!(described, created);
    let md = &described["KeyMetadata"];
    assert_eq!(
        (md["KeySpec"].as_str(), md["KeyUsage"].as_str()),
        (Some(spec), Some(usage))
    );
    assert_eq!(md["CustomerMasterKeySpec"], spec);
    let lists: serde_json::Map<String, Value> = md
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.ends_with("Algorithms"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(lists)
}

#[test]
fn create_key_takes_every_new_spec_and_describe_key_lists_its_algorithms() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let lb = Lockbox::local(tmp.path().join("home"));
    let rsa_sign = json!({"SigningAlgorithms": [
        "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
        "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"
    ]});
    for (spec, usage, expected) in [
        (
            "SYMMETRIC_DEFAULT",
            "ENCRYPT_DECRYPT",
            json!({"EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]}),
        ),
        (
            "RSA_2048",
            "ENCRYPT_DECRYPT",
            json!({"EncryptionAlgorithms": ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]}),
        ),
        ("RSA_2048", "SIGN_VERIFY", rsa_sign.clone()),
        ("RSA_3072", "SIGN_VERIFY", rsa_sign.clone()),
        ("RSA_4096", "SIGN_VERIFY", rsa_sign),
        (
            "ECC_NIST_P256",
            "SIGN_VERIFY",
            json!({"SigningAlgorithms": ["ECDSA_SHA_256"]}),
        ),
        (
            "ECC_NIST_P384",
            "SIGN_VERIFY",
            json!({"SigningAlgorithms": ["ECDSA_SHA_384"]}),
        ),
        (
            "ECC_NIST_P521",
            "SIGN_VERIFY",
            json!({"SigningAlgorithms": ["ECDSA_SHA_512"]}),
        ),
        (
            "ECC_SECG_P256K1",
            "SIGN_VERIFY",
            json!({"SigningAlgorithms": ["ECDSA_SHA_256"]}),
        ),
        (
            "ECC_NIST_P256",
            "KEY_AGREEMENT",
            json!({"KeyAgreementAlgorithms": ["ECDH"]}),
        ),
        (
            "ECC_NIST_P521",
            "KEY_AGREEMENT",
            json!({"KeyAgreementAlgorithms": ["ECDH"]}),
        ),
        (
            "HMAC_224",
            "GENERATE_VERIFY_MAC",
            json!({"MacAlgorithms": ["HMAC_SHA_224"]}),
        ),
        (
            "HMAC_256",
            "GENERATE_VERIFY_MAC",
            json!({"MacAlgorithms": ["HMAC_SHA_256"]}),
        ),
        (
            "HMAC_384",
            "GENERATE_VERIFY_MAC",
            json!({"MacAlgorithms": ["HMAC_SHA_384"]}),
        ),
        (
            "HMAC_512",
            "GENERATE_VERIFY_MAC",
            json!({"MacAlgorithms": ["HMAC_SHA_512"]}),
        ),
    ] {
        assert_eq!(algorithms(&lb, spec, usage), expected, "{spec} {usage}");
    }
    Ok(())
}

#[test]
fn wrong_key_usage_and_bad_input_are_aws_errors() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let lb = Lockbox::local(dir.join("home"));
    std::fs::write(dir.join("msg"), MESSAGE)?;
    let msg = fileb(dir, "msg");
    let (sym, sym_arn) = lb.create_key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT");
    let (ecc, ecc_arn) = lb.create_key("ECC_NIST_P256", "SIGN_VERIFY");
    let (hmac, hmac_arn) = lb.create_key("HMAC_256", "GENERATE_VERIFY_MAC");
    let usage = |op: &str, arn: &str, usage: &str| {
        (
            254,
            format!(
                "An error occurred (InvalidKeyUsageException) when calling the {op} operation: \
                 {arn} key usage is {usage} which is not valid for this operation."
            ),
        )
    };
    let sign = |key: &str, algorithm: &str| {
        lb.fails(&[
            "sign",
            "--key-id",
            key,
            "--message",
            &msg,
            "--signing-algorithm",
            algorithm,
        ])
    };
    assert_eq!(
        sign(&sym, "ECDSA_SHA_256"),
        usage("Sign", &sym_arn, "ENCRYPT_DECRYPT")
    );
    assert_eq!(
        sign(&hmac, "ECDSA_SHA_256"),
        usage("Sign", &hmac_arn, "GENERATE_VERIFY_MAC")
    );
    assert_eq!(
        lb.fails(&[
            "generate-mac",
            "--key-id",
            &ecc,
            "--message",
            &msg,
            "--mac-algorithm",
            "HMAC_SHA_256",
        ]),
        usage("GenerateMac", &ecc_arn, "SIGN_VERIFY")
    );
    assert_eq!(
        lb.fails(&[
            "derive-shared-secret",
            "--key-id",
            &ecc,
            "--key-agreement-algorithm",
            "ECDH",
            "--public-key",
            "AAAA",
        ]),
        usage("DeriveSharedSecret", &ecc_arn, "SIGN_VERIFY")
    );
    let (code, line) = lb.fails(&["encrypt", "--key-id", &ecc, "--plaintext", &msg]);
    assert_eq!(code, 254);
    assert!(
        line.starts_with(
            "An error occurred (InvalidKeyUsageException) when calling the Encrypt operation: "
        ),
        "{line}"
    );
    let (code, line) = lb.fails(&[
        "generate-data-key-pair",
        "--key-id",
        &ecc,
        "--key-pair-spec",
        "ECC_NIST_P256",
    ]);
    assert_eq!(code, 254);
    assert!(
        line.starts_with(
            "An error occurred (InvalidKeyUsageException) when calling the GenerateDataKeyPair \
             operation: "
        ),
        "{line}"
    );
    // An algorithm the key's spec does not allow, named with the ones it does.
    assert_eq!(
        sign(&ecc, "ECDSA_SHA_384"),
        (
            254,
            format!(
                "An error occurred (InvalidKeyUsageException) when calling the Sign operation: \
                 Signing algorithm ECDSA_SHA_384 is not valid for {ecc_arn}, whose key spec is \
                 ECC_NIST_P256; it supports ECDSA_SHA_256."
            )
        )
    );
    assert_eq!(
        lb.fails(&[
            "generate-mac",
            "--key-id",
            &hmac,
            "--message",
            &msg,
            "--mac-algorithm",
            "HMAC_SHA_384",
        ]),
        (
            254,
            format!(
                "An error occurred (InvalidKeyUsageException) when calling the GenerateMac \
                 operation: MAC algorithm HMAC_SHA_384 is not valid for {hmac_arn}, whose key \
                 spec is HMAC_256; it supports HMAC_SHA_256."
            )
        )
    );
    // Not an algorithm at all: the enum constraint, as AWS words it.
    assert_eq!(
        sign(&ecc, "ECDSA_SHA_1"),
        (
            254,
            "An error occurred (ValidationException) when calling the Sign operation: 1 \
             validation error detected: Value 'ECDSA_SHA_1' at 'signingAlgorithm' failed to \
             satisfy constraint: Member must satisfy enum value set: [RSASSA_PSS_SHA_256, \
             RSASSA_PSS_SHA_384, RSASSA_PSS_SHA_512, RSASSA_PKCS1_V1_5_SHA_256, \
             RSASSA_PKCS1_V1_5_SHA_384, RSASSA_PKCS1_V1_5_SHA_512, ECDSA_SHA_256, \
             ECDSA_SHA_384, ECDSA_SHA_512, SM2DSA, ML_DSA_SHAKE_256, ED25519_SHA_512, \
             ED25519_PH_SHA_512]"
                .into()
        )
    );
    // A digest of the wrong length.
    assert_eq!(
        lb.fails(&[
            "sign",
            "--key-id",
            &ecc,
            "--message",
            &b64(&[7; 48]),
            "--message-type",
            "DIGEST",
            "--signing-algorithm",
            "ECDSA_SHA_256",
        ]),
        (
            254,
            "An error occurred (ValidationException) when calling the Sign operation: Digest \
             is invalid length for algorithm ECDSA_SHA_256: it has 48 bytes, the algorithm's \
             digest has 32."
                .into()
        )
    );
    // Messages of 0 and 4097 bytes.
    for n in [0, 4097] {
        std::fs::write(dir.join("long"), vec![b'x'; n])?;
        let refused = |op: &str| {
            (
                254,
                format!(
                    "An error occurred (ValidationException) when calling the {op} operation: 1 \
                     validation error detected: Value at 'message' failed to satisfy \
                     constraint: Member must have length {}",
                    if n == 0 {
                        "greater than or equal to 1"
                    } else {
                        "less than or equal to 4096"
                    }
                ),
            )
        };
        assert_eq!(
            lb.fails(&[
                "sign",
                "--key-id",
                &ecc,
                "--message",
                &fileb(dir, "long"),
                "--signing-algorithm",
                "ECDSA_SHA_256",
            ]),
            refused("Sign")
        );
        assert_eq!(
            lb.fails(&[
                "generate-mac",
                "--key-id",
                &hmac,
                "--message",
                &fileb(dir, "long"),
                "--mac-algorithm",
                "HMAC_SHA_256",
            ]),
            refused("GenerateMac")
        );
    }
    // An HMAC key spec without a key usage.
    let (code, line) = lb.fails(&["create-key", "--key-spec", "HMAC_256"]);
    assert_eq!(code, 254);
    assert!(
        line.starts_with(
            "An error occurred (ValidationException) when calling the CreateKey operation: "
        ),
        "{line}"
    );
    // A required flag missing, a signature that is not base64: the command line's errors.
    assert_eq!(
        lb.fails(&["sign", "--key-id", &ecc, "--message", &msg]).0,
        252
    );
    let (code, line) = lb.fails(&[
        "verify",
        "--key-id",
        &ecc,
        "--message",
        &msg,
        "--signature",
        "not base64!",
        "--signing-algorithm",
        "ECDSA_SHA_256",
    ]);
    assert_eq!(code, 252);
    assert!(
        line.starts_with("Error parsing parameter '--signature': Invalid base64"),
        "{line}"
    );
    Ok(())
}

#[test]
fn help_names_the_new_commands_and_their_flags() -> TestResult {
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .arg("--help")
        .output()?;
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout)?;
    for cmd in [
        "sign",
        "verify",
        "get-public-key",
        "generate-mac",
        "verify-mac",
        "generate-data-key-pair",
        "generate-data-key-pair-without-plaintext",
        "derive-shared-secret",
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
    for (cmd, flags, text) in [
        (
            "sign",
            &[
                "--key-id",
                "--message",
                "--message-type",
                "--signing-algorithm",
                "--signature-out",
                "--grant-tokens",
            ][..],
            "RAW (the default: Lockbox hashes the message) or DIGEST",
        ),
        (
            "verify",
            &[
                "--key-id",
                "--message",
                "--message-type",
                "--signature",
                "--signing-algorithm",
                "--grant-tokens",
            ][..],
            "KMSInvalidSignatureException",
        ),
        (
            "get-public-key",
            &["--key-id", "--public-key-out", "--grant-tokens"][..],
            "raw DER public key",
        ),
        (
            "generate-mac",
            &[
                "--key-id",
                "--message",
                "--mac-algorithm",
                "--mac-out",
                "--grant-tokens",
            ][..],
            "HMAC_SHA_224",
        ),
        (
            "verify-mac",
            &[
                "--key-id",
                "--message",
                "--mac-algorithm",
                "--mac",
                "--grant-tokens",
            ][..],
            "KMSInvalidMacException",
        ),
        (
            "generate-data-key-pair",
            &[
                "--key-id",
                "--key-pair-spec",
                "--encryption-context",
                "--public-key-out",
                "--private-key-out",
                "--ciphertext-out",
                "--grant-tokens",
            ][..],
            "PKCS#8 DER private key to this file (mode 0600)",
        ),
        (
            "generate-data-key-pair-without-plaintext",
            &["--key-id", "--key-pair-spec", "--ciphertext-out"][..],
            "ECC_SECG_P256K1",
        ),
        (
            "derive-shared-secret",
            &[
                "--key-id",
                "--key-agreement-algorithm",
                "--public-key",
                "--shared-secret-out",
                "--grant-tokens",
            ][..],
            "(mode 0600; - for standard output)",
        ),
        (
            "create-key",
            &["--key-spec", "--key-usage"][..],
            "GENERATE_VERIFY_MAC",
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
