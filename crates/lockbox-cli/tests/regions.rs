//! The CLI's Region (issue 15): `--region`, else `$AWS_REGION`, else `$AWS_DEFAULT_REGION`,
//! else the data directory's `[arn] region`, for local commands as for `--endpoint-url`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn lockbox(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lockbox"));
    command
        .args(args)
        .env("LOCKBOX_HOME", home)
        .env_remove("SOFTHSM2_CONF")
        .env_remove("LOCKBOX_CALLER")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .envs(env.iter().copied());
    command.output().unwrap()
}

fn ok(home: &Path, env: &[(&str, &str)], args: &[&str]) -> serde_json::Value {
    let out = lockbox(home, env, args);
    assert!(
        out.status.success(),
        "lockbox {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn key_ids(v: &serde_json::Value) -> Vec<String> {
    v["Keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["KeyId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn local_commands_act_in_the_region_of_the_flag_or_the_environment() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let made = ok(&home, &[], &["--region", "eu-west-1", "create-key"]);
    let id = made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    assert_eq!(
        made["KeyMetadata"]["Arn"].as_str().unwrap(),
        format!("arn:aws:kms:eu-west-1:000000000000:key/{id}")
    );
    // Without a Region: the configured one, where the key is not.
    assert_eq!(
        key_ids(&ok(&home, &[], &["list-keys"])),
        Vec::<String>::new()
    );
    // $AWS_REGION, then $AWS_DEFAULT_REGION; the flag wins over both.
    assert_eq!(
        key_ids(&ok(&home, &[("AWS_REGION", "eu-west-1")], &["list-keys"])),
        vec![id.clone()]
    );
    assert_eq!(
        key_ids(&ok(
            &home,
            &[("AWS_DEFAULT_REGION", "eu-west-1")],
            &["list-keys"]
        )),
        vec![id.clone()]
    );
    assert_eq!(
        key_ids(&ok(
            &home,
            &[
                ("AWS_REGION", "us-east-1"),
                ("AWS_DEFAULT_REGION", "eu-west-1")
            ],
            &["list-keys"]
        )),
        Vec::<String>::new()
    );
    assert_eq!(
        key_ids(&ok(
            &home,
            &[("AWS_REGION", "us-east-1")],
            &["--region", "eu-west-1", "list-keys"]
        )),
        vec![id.clone()]
    );
    let other = lockbox(&home, &[], &["describe-key", "--key-id", &id]);
    assert_eq!(other.status.code(), Some(254));
    assert_eq!(
        String::from_utf8_lossy(&other.stderr).trim_end(),
        format!(
            "An error occurred (NotFoundException) when calling the DescribeKey operation: \
             Key 'arn:aws:kms:us-east-1:000000000000:key/{id}' does not exist"
        )
    );
    // A Region the installation does not serve.
    let refused = lockbox(&home, &[], &["--region", "moon-1", "list-keys"]);
    assert_eq!(refused.status.code(), Some(254));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr).trim_end(),
        "An error occurred (ValidationException) when calling the ListKeys operation: Region \
         'moon-1' is not served by this installation; it serves every Region name of AWS's form \
         (such as us-east-1)"
    );
    Ok(())
}

#[test]
fn create_key_multi_region_makes_a_primary_with_an_mrk_id() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let made = ok(
        &home,
        &[("AWS_REGION", "eu-west-1")],
        &["create-key", "--multi-region"],
    );
    let md = &made["KeyMetadata"];
    let id = md["KeyId"].as_str().unwrap();
    assert!(id.starts_with("mrk-") && id.len() == 36, "{id}");
    assert_eq!(md["MultiRegion"], serde_json::json!(true));
    let arn = format!("arn:aws:kms:eu-west-1:000000000000:key/{id}");
    assert_eq!(md["Arn"].as_str().unwrap(), arn);
    assert_eq!(
        md["MultiRegionConfiguration"],
        serde_json::json!({
            "MultiRegionKeyType": "PRIMARY",
            "PrimaryKey": {"Arn": arn, "Region": "eu-west-1"},
            "ReplicaKeys": []
        })
    );
    // A single-Region key has no MultiRegionConfiguration.
    let single = ok(&home, &[], &["create-key"]);
    assert_eq!(
        single["KeyMetadata"]["MultiRegion"],
        serde_json::json!(false)
    );
    assert!(
        single["KeyMetadata"]
            .get("MultiRegionConfiguration")
            .is_none()
    );
    Ok(())
}

/// A failed run: (exit code, the one stderr line); nothing on standard output.
fn fails(home: &Path, args: &[&str]) -> (i32, String) {
    let out = lockbox(home, &[], args);
    assert!(!out.status.success(), "lockbox {args:?} succeeded");
    assert!(
        out.stdout.is_empty(),
        "a failed command printed {:?}",
        out.stdout
    );
    let err = String::from_utf8(out.stderr).unwrap();
    (out.status.code().unwrap(), err.trim_end().to_owned())
}

/// `lockbox <args>` that succeeds and prints nothing, as update-primary-region does.
fn quiet(home: &Path, args: &[&str]) {
    let out = lockbox(home, &[], args);
    assert!(
        out.status.success(),
        "lockbox {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "{args:?} printed {:?}", out.stdout);
}

fn mrk_arn(region: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:000000000000:key/{id}")
}

/// DescribeKey's MultiRegionConfiguration of a family whose primary is in `primary`.
fn family(kind: &str, primary: &str, replicas: &[&str], id: &str) -> serde_json::Value {
    serde_json::json!({
        "MultiRegionKeyType": kind,
        "PrimaryKey": {"Arn": mrk_arn(primary, id), "Region": primary},
        "ReplicaKeys": replicas
            .iter()
            .map(|r| serde_json::json!({"Arn": mrk_arn(r, id), "Region": r}))
            .collect::<Vec<_>>(),
    })
}

fn encrypt_in(home: &Path, region: &str, key: &str, plaintext: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(plaintext);
    let out = ok(
        home,
        &[],
        &[
            "--region",
            region,
            "encrypt",
            "--key-id",
            key,
            "--plaintext",
            &b64,
        ],
    );
    out["CiphertextBlob"].as_str().unwrap().to_owned()
}

fn decrypt_in(home: &Path, region: &str, blob: &str) -> (Vec<u8>, String) {
    use base64::Engine as _;
    let out = ok(
        home,
        &[],
        &["--region", region, "decrypt", "--ciphertext-blob", blob],
    );
    let plaintext = base64::engine::general_purpose::STANDARD
        .decode(out["Plaintext"].as_str().unwrap())
        .unwrap();
    (plaintext, out["KeyId"].as_str().unwrap().to_owned())
}

#[test]
fn replicate_key_and_update_primary_region_move_a_family_across_regions() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let made = ok(
        &home,
        &[],
        &[
            "--region",
            "us-east-1",
            "create-key",
            "--multi-region",
            "--description",
            "primary",
            "--tags",
            "TagKey=side,TagValue=primary",
        ],
    );
    let id = made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();

    // Without --policy, --description or --tags: the default policy, no description and no
    // tags (not the primary's, as AWS documents).
    let bare = ok(
        &home,
        &[],
        &[
            "--region",
            "us-east-1",
            "replicate-key",
            "--key-id",
            &id,
            "--replica-region",
            "ap-southeast-2",
        ],
    );
    let md = &bare["ReplicaKeyMetadata"];
    assert_eq!(md["Arn"], mrk_arn("ap-southeast-2", &id).as_str());
    assert_eq!(md["Description"], "");
    assert_eq!(bare["ReplicaTags"], serde_json::json!([]));
    let policy: serde_json::Value = serde_json::from_str(bare["ReplicaPolicy"].as_str().unwrap())?;
    assert_eq!(
        policy["Statement"],
        serde_json::json!([{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
            "Action": "kms:*",
            "Resource": "*"
        }])
    );

    // With them all; the policy from a file, as create-key takes it.
    let policy_doc = r#"{"Version":"2012-10-17","Statement":[{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"}]}"#;
    let policy_file = tmp.path().join("policy.json");
    std::fs::write(&policy_file, policy_doc)?;
    let policy_arg = format!("file://{}", policy_file.display());
    let replica = ok(
        &home,
        &[],
        &[
            "--region",
            "us-east-1",
            "replicate-key",
            "--key-id",
            &mrk_arn("us-east-1", &id),
            "--replica-region",
            "eu-west-1",
            "--description",
            "replica",
            "--policy",
            &policy_arg,
            "--tags",
            "TagKey=side,TagValue=replica",
            "TagKey=team,TagValue=ops",
        ],
    );
    let md = &replica["ReplicaKeyMetadata"];
    assert_eq!(md["KeyId"], id.as_str());
    assert_eq!(md["Arn"], mrk_arn("eu-west-1", &id).as_str());
    assert_eq!(md["KeyState"], "Enabled");
    assert_eq!(md["Enabled"], true);
    assert_eq!(md["Description"], "replica");
    assert_eq!(md["MultiRegion"], true);
    assert_eq!(
        md["MultiRegionConfiguration"],
        family(
            "REPLICA",
            "us-east-1",
            &["ap-southeast-2", "eu-west-1"],
            &id
        )
    );
    assert_eq!(replica["ReplicaPolicy"], policy_doc);
    assert_eq!(
        replica["ReplicaTags"],
        serde_json::json!([
            {"TagKey": "side", "TagValue": "replica"},
            {"TagKey": "team", "TagValue": "ops"}
        ])
    );
    // The primary lists its replicas; its own properties are untouched.
    let primary = ok(
        &home,
        &[],
        &["--region", "us-east-1", "describe-key", "--key-id", &id],
    );
    assert_eq!(primary["KeyMetadata"]["Description"], "primary");
    assert_eq!(
        primary["KeyMetadata"]["MultiRegionConfiguration"],
        family(
            "PRIMARY",
            "us-east-1",
            &["ap-southeast-2", "eu-west-1"],
            &id
        )
    );

    // A ciphertext of one Region decrypts in the other, both ways, under that Region's ARN.
    let east_blob = encrypt_in(&home, "us-east-1", &id, b"made in us-east-1");
    assert_eq!(
        decrypt_in(&home, "eu-west-1", &east_blob),
        (b"made in us-east-1".to_vec(), mrk_arn("eu-west-1", &id))
    );
    let west_blob = encrypt_in(&home, "eu-west-1", &id, b"made in eu-west-1");
    assert_eq!(
        decrypt_in(&home, "us-east-1", &west_blob),
        (b"made in eu-west-1".to_vec(), mrk_arn("us-east-1", &id))
    );

    // The refusals, with AWS's exception names.
    let (code, err) = fails(
        &home,
        &[
            "--region",
            "us-east-1",
            "replicate-key",
            "--key-id",
            &id,
            "--replica-region",
            "eu-west-1",
        ],
    );
    assert_eq!(code, 254);
    assert!(
        err.starts_with(
            "An error occurred (AlreadyExistsException) when calling the ReplicateKey operation: "
        ),
        "{err}"
    );
    let (code, err) = fails(
        &home,
        &[
            "--region",
            "eu-west-1",
            "replicate-key",
            "--key-id",
            &id,
            "--replica-region",
            "us-west-2",
        ],
    );
    assert_eq!(code, 254);
    assert!(
        err.starts_with(
            "An error occurred (UnsupportedOperationException) when calling the ReplicateKey \
             operation: "
        ),
        "{err}"
    );
    let single = ok(&home, &[], &["--region", "us-east-1", "create-key"]);
    let single = single["KeyMetadata"]["KeyId"].as_str().unwrap();
    let (code, err) = fails(
        &home,
        &[
            "--region",
            "us-east-1",
            "replicate-key",
            "--key-id",
            single,
            "--replica-region",
            "eu-west-1",
        ],
    );
    assert_eq!(code, 254);
    assert!(
        err.starts_with(
            "An error occurred (UnsupportedOperationException) when calling the ReplicateKey \
             operation: "
        ),
        "{err}"
    );
    assert_eq!(
        fails(
            &home,
            &[
                "--region",
                "us-east-1",
                "update-primary-region",
                "--key-id",
                &id,
                "--primary-region",
                "us-west-2",
            ],
        ),
        (
            254,
            format!(
                "An error occurred (NotFoundException) when calling the UpdatePrimaryRegion \
                 operation: Key '{}' does not exist",
                mrk_arn("us-west-2", &id)
            )
        )
    );
    let (code, err) = fails(
        &home,
        &[
            "--region",
            "eu-west-1",
            "update-primary-region",
            "--key-id",
            &id,
            "--primary-region",
            "us-east-1",
        ],
    );
    assert_eq!(code, 254);
    assert!(
        err.starts_with(
            "An error occurred (UnsupportedOperationException) when calling the \
             UpdatePrimaryRegion operation: "
        ),
        "{err}"
    );

    // eu-west-1 becomes the primary: it prints nothing, and every member says so.
    quiet(
        &home,
        &[
            "--region",
            "us-east-1",
            "update-primary-region",
            "--key-id",
            &id,
            "--primary-region",
            "eu-west-1",
        ],
    );
    for (region, kind) in [
        ("eu-west-1", "PRIMARY"),
        ("us-east-1", "REPLICA"),
        ("ap-southeast-2", "REPLICA"),
    ] {
        let md = ok(
            &home,
            &[],
            &["--region", region, "describe-key", "--key-id", &id],
        );
        assert_eq!(
            md["KeyMetadata"]["MultiRegionConfiguration"],
            family(kind, "eu-west-1", &["ap-southeast-2", "us-east-1"], &id),
            "{region}"
        );
    }
    // Only the new primary replicates now, and the old ciphertexts still decrypt.
    let (code, err) = fails(
        &home,
        &[
            "--region",
            "us-east-1",
            "replicate-key",
            "--key-id",
            &id,
            "--replica-region",
            "us-west-2",
        ],
    );
    assert_eq!(code, 254);
    assert!(err.contains("(UnsupportedOperationException)"), "{err}");
    assert_eq!(
        decrypt_in(&home, "ap-southeast-2", &east_blob).0,
        b"made in us-east-1"
    );
    Ok(())
}

#[test]
fn help_lists_the_multi_region_commands_and_their_flags() -> TestResult {
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .arg("--help")
        .output()?;
    let help = String::from_utf8(out.stdout)?;
    for cmd in ["replicate-key", "update-primary-region"] {
        assert!(
            help.lines()
                .any(|l| l.trim() == cmd || l.trim_start().starts_with(&format!("{cmd} "))),
            "--help lacks {cmd}:\n{help}"
        );
    }
    for (cmd, flags, text) in [
        (
            "replicate-key",
            &[
                "--key-id",
                "--replica-region",
                "--policy",
                "--bypass-policy-lockout-safety-check",
                "--description",
                "--tags",
            ][..],
            "ReplicaKeyMetadata",
        ),
        (
            "update-primary-region",
            &["--key-id", "--primary-region"][..],
            "prints nothing",
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

const ACCESS_KEY: &str = "LBKCLIREGIONSTEST001";
const SECRET: &str = "cliRegionsSecret0123456789abcdefghijklmn";

/// `lockbox --endpoint-url <endpoint> --region <region> <args>` with the test credential
/// and no other AWS variable; `home` must stay untouched.
fn remote(home: &Path, endpoint: &str, region: &str, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lockbox"));
    command
        .args(["--endpoint-url", endpoint, "--region", region])
        .args(args)
        .env("LOCKBOX_HOME", home)
        .env_remove("LOCKBOX_CALLER")
        .env_remove("SOFTHSM2_CONF")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    let out = command.output().unwrap();
    assert!(
        !home.exists(),
        "a remote command touched the data directory"
    );
    out
}

fn remote_ok(home: &Path, endpoint: &str, region: &str, args: &[&str]) -> Output {
    let out = remote(home, endpoint, region, args);
    assert!(
        out.status.success(),
        "lockbox {args:?} in {region}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn remote_json(home: &Path, endpoint: &str, region: &str, args: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&remote_ok(home, endpoint, region, args).stdout).unwrap()
}

lockbox_token::token_test!(fn replicas_through_an_endpoint(t) {
    use lockbox_server::credentials::{Credential, CredentialStore, SecretKey};
    use lockbox_server::server::{Server, ServerConfig};
    let engine = std::sync::Arc::new(lockbox::Engine::open(lockbox::Config::new(
        t.dir().join("data"),
        t.config(),
    ))?);
    let principal = engine.default_caller("test").principal().clone();
    let credential = Credential::new(ACCESS_KEY, SecretKey::new(SECRET.to_owned()), principal)?;
    let server = Server::start(
        engine.clone(),
        CredentialStore::from_entries([credential])?,
        ServerConfig {
            listen: "127.0.0.1:0".parse()?,
            shutdown_grace_ms: 500,
            ..ServerConfig::default()
        },
    )?;
    let endpoint = format!("http://{}", server.local_addr());
    let home = t.dir().join("no-home");

    let made = remote_json(&home, &endpoint, "us-east-1", &["create-key", "--multi-region"]);
    let id = made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let replica = remote_json(
        &home,
        &endpoint,
        "us-east-1",
        &[
            "replicate-key",
            "--key-id",
            &id,
            "--replica-region",
            "eu-west-1",
            "--description",
            "remote replica",
            "--tags",
            "TagKey=k,TagValue=v",
        ],
    );
    let md = &replica["ReplicaKeyMetadata"];
    assert_eq!(md["Arn"], mrk_arn("eu-west-1", &id).as_str());
    assert_eq!(md["KeyState"], "Enabled");
    assert_eq!(md["Description"], "remote replica");
    assert_eq!(
        md["MultiRegionConfiguration"],
        family("REPLICA", "us-east-1", &["eu-west-1"], &id)
    );
    assert_eq!(
        replica["ReplicaTags"],
        serde_json::json!([{"TagKey": "k", "TagValue": "v"}])
    );
    assert!(replica["ReplicaPolicy"].as_str().unwrap().contains("kms:*"));

    // Encrypted through the server in us-east-1, decrypted through it in eu-west-1.
    let sealed = remote_json(
        &home,
        &endpoint,
        "us-east-1",
        &["encrypt", "--key-id", &id, "--plaintext", "cmVtb3Rl"],
    );
    let opened = remote_json(
        &home,
        &endpoint,
        "eu-west-1",
        &[
            "decrypt",
            "--ciphertext-blob",
            sealed["CiphertextBlob"].as_str().unwrap(),
        ],
    );
    assert_eq!(opened["Plaintext"], "cmVtb3Rl");
    assert_eq!(opened["KeyId"], mrk_arn("eu-west-1", &id).as_str());

    let moved = remote_ok(
        &home,
        &endpoint,
        "us-east-1",
        &["update-primary-region", "--key-id", &id, "--primary-region", "eu-west-1"],
    );
    assert!(moved.stdout.is_empty(), "{:?}", moved.stdout);
    for (region, kind) in [("eu-west-1", "PRIMARY"), ("us-east-1", "REPLICA")] {
        let md = remote_json(&home, &endpoint, region, &["describe-key", "--key-id", &id]);
        assert_eq!(
            md["KeyMetadata"]["MultiRegionConfiguration"],
            family(kind, "eu-west-1", &["us-east-1"], &id),
            "{region}"
        );
    }
    // A refusal crosses the wire with its exception name.
    let out = remote(
        &home,
        &endpoint,
        "eu-west-1",
        &["update-primary-region", "--key-id", &id, "--primary-region", "ap-south-1"],
    );
    assert_eq!(out.status.code(), Some(254));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!(
            "An error occurred (NotFoundException) when calling the UpdatePrimaryRegion \
             operation: Key '{}' does not exist",
            mrk_arn("ap-south-1", &id)
        )
    );
    server.shutdown();
    server.wait()?;
    Ok(())
});
