//! The `aws` habits (issue 16): the README's server walkthrough run word for word with
//! `aws kms` and with `lockbox`, and `--query`/`--output`, `--profile` and
//! `AWS_ENDPOINT_URL[_KMS]` compared with the AWS CLI v1 (the pinned virtualenv) on the same
//! server. Both clients run with the cleared environment of `tests/common/clients.rs`; the
//! AWS CLI is told to print timestamps in ISO 8601 (`cli_timestamp_format = iso8601`, AWS CLI
//! v2's default and what `lockbox` prints).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/common/clients.rs"]
mod clients;

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lockbox_token::testing::{TestResult, TestToken};

use clients::TestServer;

/// A directory with `lockbox` in it, for PATH, and an AWS CLI config that prints ISO dates.
fn setup(t: &TestToken) -> Result<(PathBuf, PathBuf), Box<dyn Error>> {
    let bin = t.dir().join("bin");
    fs::create_dir_all(&bin)?;
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_lockbox"), bin.join("lockbox"))?;
    let config = t.dir().join("aws-config");
    fs::write(&config, "[default]\ncli_timestamp_format = iso8601\n")?;
    Ok((bin, config))
}

/// `program` in the server's cleared environment, `lockbox` first on PATH, the AWS CLI
/// config above, run in `dir`.
fn client(server: &TestServer, bin: &Path, config: &Path, dir: &Path, program: &str) -> Command {
    let mut cmd = server.command(program);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let venv_bin = server.python().parent().unwrap().to_owned();
    cmd.env("PATH", format!("{}:{path}", venv_bin.display()))
        .env("AWS_CONFIG_FILE", config)
        .env("LOCKBOX_HOME", dir.join("no-lockbox-home"))
        .current_dir(dir);
    cmd
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The README's "In the other shell" block, for `endpoint`.
fn walkthrough(endpoint: &str) -> String {
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let start = readme
        .find("In the other shell")
        .expect("the README's server walkthrough");
    let block = &readme[start..];
    let open = block.find("```sh\n").expect("its code block") + "```sh\n".len();
    let close = block[open..].find("```").expect("its end") + open;
    let script = &block[open..close];
    assert!(
        script.contains("--query KeyMetadata.KeyId --output text") && !script.contains("jq"),
        "the walkthrough takes the key id with --query, not jq:\n{script}"
    );
    script.replace("http://127.0.0.1:7300", endpoint)
}

#[test]
fn the_readme_walkthrough_is_the_same_with_lockbox_and_aws() {
    clients::run_with_python_clients(
        module_path!(),
        "the_readme_walkthrough_is_the_same_with_lockbox_and_aws",
        walkthrough_alike,
    );
}

fn walkthrough_alike(t: &TestToken) -> TestResult {
    let server = TestServer::start(t)?;
    let (bin, config) = setup(t)?;
    let script = walkthrough(server.endpoint());
    let mut outputs: Vec<Output> = Vec::new();
    for (name, text) in [
        ("aws", script.clone()),
        // `lockbox` in place of `aws kms`, nothing else changed.
        ("lockbox", script.replace("aws kms ", "lockbox ")),
    ] {
        let dir = t.dir().join(name);
        fs::create_dir_all(&dir)?;
        let out = client(&server, &bin, &config, &dir, "bash")
            .arg("-c")
            .arg(&text)
            .output()?;
        // The next run makes alias/app again.
        let del = client(&server, &bin, &config, &dir, "aws")
            .args(["kms", "delete-alias", "--alias-name", "alias/app"])
            .arg(format!("--endpoint-url={}", server.endpoint()))
            .output()?;
        clients::check(&"aws kms delete-alias", &del)?;
        outputs.push(out);
    }
    let (aws, lockbox) = (&outputs[0], &outputs[1]);
    // The plaintext comes back through --query Plaintext --output text | base64 -d.
    assert_eq!(
        text(&aws.stdout),
        "db password",
        "aws: {}",
        text(&aws.stderr)
    );
    assert_eq!(text(&lockbox.stdout), text(&aws.stdout));
    // The wrong context's error line is the same (AWS CLI v1 puts a blank line before it).
    let lines = |b: &[u8]| -> Vec<String> {
        text(b)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        lines(&aws.stderr),
        ["An error occurred (InvalidCiphertextException) when calling the Decrypt operation: "]
    );
    assert_eq!(lines(&lockbox.stderr), lines(&aws.stderr));
    server.stop()
}

#[test]
fn query_and_output_print_what_the_aws_cli_prints() {
    clients::run_with_python_clients(
        module_path!(),
        "query_and_output_print_what_the_aws_cli_prints",
        query_and_output_alike,
    );
}

/// Runs `args` with `aws kms` and with `lockbox`; both must exit alike and print the same.
fn same(server: &TestServer, bin: &Path, config: &Path, dir: &Path, args: &[&str]) -> String {
    let endpoint = format!("--endpoint-url={}", server.endpoint());
    let aws = client(server, bin, config, dir, "aws")
        .arg("kms")
        .args(args)
        .arg(&endpoint)
        .output()
        .unwrap();
    let lockbox = client(server, bin, config, dir, "lockbox")
        .args(args)
        .arg(&endpoint)
        .output()
        .unwrap();
    assert!(aws.status.success(), "aws {args:?}: {}", text(&aws.stderr));
    assert!(
        lockbox.status.success(),
        "lockbox {args:?}: {}",
        text(&lockbox.stderr)
    );
    assert_eq!(
        text(&lockbox.stdout),
        text(&aws.stdout),
        "lockbox {args:?} (left) and aws kms (right) differ"
    );
    text(&aws.stdout)
}

fn query_and_output_alike(t: &TestToken) -> TestResult {
    let server = TestServer::start(t)?;
    let (bin, config) = setup(t)?;
    let dir = t.dir().join("work");
    fs::create_dir_all(&dir)?;
    let s = |args: &[&str]| same(&server, &bin, &config, &dir, args);
    // One key and one alias, made once (with aws), so both clients list the same.
    let made = client(&server, &bin, &config, &dir, "aws")
        .args(["kms", "create-key", "--description", "app key", "--tags"])
        .args(["TagKey=team,TagValue=payments", "TagKey=env,TagValue=test"])
        .args(["--query", "KeyMetadata.KeyId", "--output", "text"])
        .arg(format!("--endpoint-url={}", server.endpoint()))
        .output()?;
    clients::check(&"aws kms create-key", &made)?;
    let key = text(&made.stdout).trim().to_owned();
    assert_eq!(key.len(), 36, "{key}");
    let k = key.as_str();
    let alias = client(&server, &bin, &config, &dir, "aws")
        .args(["kms", "create-alias", "--alias-name", "alias/app"])
        .args(["--target-key-id", k])
        .arg(format!("--endpoint-url={}", server.endpoint()))
        .output()?;
    clients::check(&"aws kms create-alias", &alias)?;
    for format in ["json", "text", "table"] {
        let o = ["--output", format];
        s(&[&["describe-key", "--key-id", k][..], &o].concat());
        s(&[&["list-keys"][..], &o].concat());
        s(&[&["list-aliases", "--key-id", k][..], &o].concat());
        s(&[&["list-resource-tags", "--key-id", k][..], &o].concat());
        s(&[&["get-key-rotation-status", "--key-id", k][..], &o].concat());
        s(&[
            &["get-key-policy", "--key-id", k, "--policy-name", "default"][..],
            &o,
        ]
        .concat());
        s(&[&["list-key-policies", "--key-id", k][..], &o].concat());
        for q in [
            "KeyMetadata",
            "KeyMetadata.[KeyId,Enabled,KeyState]",
            "{Id: KeyMetadata.KeyId, State: KeyMetadata.KeyState, Algs: KeyMetadata.EncryptionAlgorithms}",
            "KeyMetadata.EncryptionAlgorithms",
            "KeyMetadata.NoSuchField",
        ] {
            s(&[&["describe-key", "--key-id", k, "--query", q][..], &o].concat());
        }
        for q in [
            "Keys[].KeyId",
            "length(Keys)",
            "Keys[0]",
            "sort_by(Keys, &KeyId)[].{Arn: KeyArn, Id: KeyId}",
        ] {
            s(&[&["list-keys", "--query", q][..], &o].concat());
        }
        s(&[
            &[
                "list-aliases",
                "--query",
                "Aliases[?AliasName=='alias/app'].TargetKeyId",
            ][..],
            &o,
        ]
        .concat());
    }
    // --no-paginate: one call, the raw response (NextMarker, Truncated), as aws prints it.
    let second = client(&server, &bin, &config, &dir, "aws")
        .args(["kms", "create-key"])
        .arg(format!("--endpoint-url={}", server.endpoint()))
        .output()?;
    clients::check(&"aws kms create-key", &second)?;
    for format in ["json", "text"] {
        let o = ["--output", format];
        s(&[&["list-keys", "--no-paginate"][..], &o].concat());
        let one = s(&[&["list-keys", "--no-paginate", "--limit", "1"][..], &o].concat());
        assert!(one.contains("NextMarker") || one.contains("True"), "{one}");
        s(&[&["list-aliases", "--no-paginate", "--limit", "1"][..], &o].concat());
        s(&[
            &["list-keys", "--no-paginate", "--query", "Truncated"][..],
            &o,
        ]
        .concat());
    }
    let marker = s(&[
        "list-keys",
        "--no-paginate",
        "--limit",
        "1",
        "--query",
        "NextMarker",
        "--output",
        "text",
    ]);
    s(&[
        "list-keys",
        "--no-paginate",
        "--limit",
        "1",
        "--marker",
        marker.trim(),
    ]);
    // Pagination flags do not go with it: the AWS CLI's message and exit code.
    for program in ["aws", "lockbox"] {
        let mut cmd = client(&server, &bin, &config, &dir, program);
        if program == "aws" {
            cmd.arg("kms");
        }
        let out = cmd
            .args(["list-keys", "--no-paginate", "--page-size", "1"])
            .arg(format!("--endpoint-url={}", server.endpoint()))
            .output()?;
        assert_eq!(out.status.code(), Some(255), "{program}");
        assert!(
            text(&out.stderr).contains(
                "Error during pagination: Cannot specify --no-paginate along with pagination \
                 arguments: --page-size"
            ),
            "{program}: {}",
            text(&out.stderr)
        );
    }
    // --generate-cli-skeleton and --cli-input-json.
    s(&["schedule-key-deletion", "--generate-cli-skeleton"]);
    s(&["list-key-policies", "--generate-cli-skeleton"]);
    let input =
        format!(r#"{{"KeyId": "{k}", "Plaintext": "aGk=", "EncryptionContext": {{"app": "x"}}}}"#);
    let input_file = dir.join("input.json");
    fs::write(&input_file, &input)?;
    let file_arg = format!("file://{}", input_file.display());
    let one = |program: &str, args: &[&str]| -> String {
        let mut cmd = client(&server, &bin, &config, &dir, program);
        if program == "aws" {
            cmd.arg("kms");
        }
        let out = cmd
            .args(args)
            .arg(format!("--endpoint-url={}", server.endpoint()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    for json in [input.as_str(), file_arg.as_str()] {
        let query = ["--query", "CiphertextBlob", "--output", "text"];
        let by_aws = one(
            "aws",
            &[&["encrypt", "--cli-input-json", json][..], &query].concat(),
        );
        let by_lockbox = one(
            "lockbox",
            &[&["encrypt", "--cli-input-json", json][..], &query].concat(),
        );
        // Each decrypts with the other client: same key, plaintext and context.
        for (program, blob) in [("aws", &by_lockbox), ("lockbox", &by_aws)] {
            // The AWS CLI v1 takes a blob's raw bytes from fileb://.
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::STANDARD.decode(blob.trim())?;
            fs::write(dir.join("blob.bin"), raw)?;
            let opened = one(
                program,
                &[
                    "decrypt",
                    "--ciphertext-blob",
                    "fileb://blob.bin",
                    "--encryption-context",
                    "app=x",
                    "--query",
                    "Plaintext",
                    "--output",
                    "text",
                ],
            );
            // AWS CLI v1 takes a blob member's text as the bytes themselves (so "aGk=" comes
            // back base64-encoded); v2 and lockbox read it as base64 ("hi").
            let expected = if program == "lockbox" {
                "YUdrPQ==\n"
            } else {
                "aGk=\n"
            };
            assert_eq!(opened, expected, "{program}");
        }
    }
    // The command line wins over the JSON.
    s(&[
        "describe-key",
        "--key-id",
        k,
        "--cli-input-json",
        r#"{"KeyId": "alias/none"}"#,
        "--query",
        "KeyMetadata.KeyId",
        "--output",
        "text",
    ]);
    let table = s(&["describe-key", "--key-id", k, "--output", "table"]);
    assert!(
        table.contains("|  DescribeKey  |") || table.contains(" DescribeKey "),
        "{table}"
    );
    let text_out = s(&[
        "describe-key",
        "--key-id",
        k,
        "--query",
        "KeyMetadata.KeyState",
        "--output",
        "text",
    ]);
    assert_eq!(text_out, "Enabled\n");
    server.stop()
}

#[test]
fn yaml_reads_back_as_the_json() {
    clients::run_with_python_clients(module_path!(), "yaml_reads_back_as_the_json", yaml_alike);
}

/// AWS CLI v1 has no `--output yaml`: PyYAML (in the same virtualenv) reads `lockbox`'s YAML
/// back and must find the JSON's document, and dumps the JSON in block style to the same text.
fn yaml_alike(t: &TestToken) -> TestResult {
    let server = TestServer::start(t)?;
    let (bin, config) = setup(t)?;
    let dir = t.dir().join("work");
    fs::create_dir_all(&dir)?;
    let endpoint = format!("--endpoint-url={}", server.endpoint());
    let run = |args: &[&str]| {
        let out = client(&server, &bin, &config, &dir, "lockbox")
            .args(args)
            .arg(&endpoint)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        out.stdout
    };
    let key = run(&[
        "create-key",
        "--description",
        "it's: a #key",
        "--query",
        "KeyMetadata.KeyId",
        "--output",
        "text",
    ]);
    let key = text(&key).trim().to_owned();
    for args in [
        vec!["describe-key", "--key-id", key.as_str()],
        vec!["list-keys"],
        vec![
            "get-key-policy",
            "--key-id",
            key.as_str(),
            "--policy-name",
            "default",
        ],
    ] {
        fs::write(dir.join("out.json"), run(&args))?;
        fs::write(
            dir.join("out.yaml"),
            run(&[&args[..], &["--output", "yaml"]].concat()),
        )?;
        let check = client(&server, &bin, &config, &dir, "python")
            .arg("-c")
            .arg(
                "import json, yaml\n\
                 j = json.load(open('out.json'))\n\
                 y = open('out.yaml').read()\n\
                 assert yaml.safe_load(y) == j, (y, j)\n\
                 d = yaml.safe_dump(j, default_flow_style=False, sort_keys=False, allow_unicode=True, width=10**9)\n\
                 assert d == y, (d, y)\n",
            )
            .output()?;
        clients::check(&format!("yaml of {args:?}"), &check)?;
    }
    server.stop()
}

#[test]
fn profiles_and_endpoint_variables_reach_the_server() {
    clients::run_with_python_clients(
        module_path!(),
        "profiles_and_endpoint_variables_reach_the_server",
        profiles_alike,
    );
}

fn profiles_alike(t: &TestToken) -> TestResult {
    let server = TestServer::start(t)?;
    let (bin, _) = setup(t)?;
    let dir = t.dir().join("work");
    fs::create_dir_all(&dir)?;
    // The server's credential, moved from the environment into a profile.
    let probe = server.command("env").output()?;
    let env_text = text(&probe.stdout);
    let var = |name: &str| {
        env_text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_owned()
    };
    let (id, secret, region) = (
        var("AWS_ACCESS_KEY_ID"),
        var("AWS_SECRET_ACCESS_KEY"),
        var("AWS_REGION"),
    );
    let config = t.dir().join("profile-config");
    fs::write(
        &config,
        format!(
            "[default]\ncli_timestamp_format = iso8601\n\n[profile lab]\nregion = {region}\n\
             endpoint_url = {}\noutput = text\ncli_timestamp_format = iso8601\n",
            server.endpoint()
        ),
    )?;
    let credentials = t.dir().join("profile-credentials");
    fs::write(
        &credentials,
        format!("[lab]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"),
    )?;
    let bare = |program: &str| {
        let mut cmd = client(&server, &bin, &config, &dir, program);
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials);
        cmd
    };
    // A key to list.
    let made = bare("lockbox")
        .args([
            "--profile",
            "lab",
            "create-key",
            "--query",
            "KeyMetadata.KeyId",
        ])
        .output()?;
    clients::check(&"lockbox --profile lab create-key", &made)?;
    let key = text(&made.stdout).trim().to_owned();
    assert_eq!(key.len(), 36, "text output from the profile: {key:?}");
    // --profile: endpoint, region, output and keys from the files; the same as aws.
    let aws = bare("aws")
        .args(["--profile", "lab", "kms", "list-keys"])
        .output()?;
    clients::check(&"aws --profile lab kms list-keys", &aws)?;
    let lockbox = bare("lockbox")
        .args(["--profile", "lab", "list-keys"])
        .output()?;
    clients::check(&"lockbox --profile lab list-keys", &lockbox)?;
    assert_eq!(text(&lockbox.stdout), text(&aws.stdout));
    assert!(text(&aws.stdout).contains(&key), "{}", text(&aws.stdout));
    // AWS_PROFILE names it too.
    let lockbox = bare("lockbox")
        .env("AWS_PROFILE", "lab")
        .args([
            "describe-key",
            "--key-id",
            &key,
            "--query",
            "KeyMetadata.KeyState",
        ])
        .output()?;
    clients::check(&"AWS_PROFILE=lab lockbox describe-key", &lockbox)?;
    assert_eq!(text(&lockbox.stdout), "Enabled\n");
    // A profile that does not exist is named.
    let nope = bare("lockbox")
        .args(["--profile", "nope", "list-keys"])
        .output()?;
    assert_eq!(nope.status.code(), Some(255));
    assert!(
        text(&nope.stderr).contains("The config profile (nope) could not be found"),
        "{}",
        text(&nope.stderr)
    );
    // AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_KMS: the server, not the local directory (whose
    // LOCKBOX_HOME does not exist, so a local run would fail or provision one).
    for var in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS"] {
        let out = client(&server, &bin, &config, &dir, "lockbox")
            .env(var, server.endpoint())
            .args(["list-keys", "--query", "Keys[].KeyId", "--output", "text"])
            .output()?;
        clients::check(&format!("{var}=... lockbox list-keys"), &out)?;
        assert_eq!(text(&out.stdout), format!("{key}\n"), "{var}");
        assert!(
            !dir.join("no-lockbox-home").exists(),
            "{var} used the local directory"
        );
    }
    // The service-specific variable wins over the global one, as in botocore.
    let out = client(&server, &bin, &config, &dir, "lockbox")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ENDPOINT_URL_KMS", server.endpoint())
        .args(["list-keys", "--query", "Keys[].KeyId", "--output", "text"])
        .output()?;
    clients::check(&"AWS_ENDPOINT_URL_KMS over AWS_ENDPOINT_URL", &out)?;
    assert_eq!(text(&out.stdout), format!("{key}\n"));
    server.stop()
}
