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
