//! `lockbox serve`: its flags, and its refusals before anything is provisioned. (Serving
//! itself is tested in lockbox-server; the end-to-end run with the AWS CLI's protocol, once
//! SigV4 and the codec are in, by the cross-crate tests.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn lockbox(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(args)
        .env("LOCKBOX_HOME", home)
        .env_remove("LOCKBOX_CALLER")
        .output()
        .unwrap()
}

#[test]
fn serve_help_names_its_flags() -> TestResult {
    let dir = tempfile::tempdir()?;
    let out = lockbox(dir.path(), &["serve", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout)?;
    for flag in [
        "--listen <ADDR>",
        "--tls-cert <PATH>",
        "--tls-key <PATH>",
        "--dangerously-allow-plain-http",
        "credentials.toml",
        "SIGTERM",
    ] {
        assert!(help.contains(flag), "help lacks {flag}:\n{help}");
    }
    let out = lockbox(dir.path(), &["--help"]);
    assert!(String::from_utf8(out.stdout)?.contains("serve"));
    Ok(())
}

#[test]
fn plain_http_on_a_public_address_is_refused_before_anything_is_made() -> TestResult {
    let dir = tempfile::tempdir()?;
    let home = dir.path().join("home");
    let out = lockbox(&home, &["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8(out.stderr)?;
    assert!(
        err.starts_with("lockbox: refusing to serve plain HTTP on 0.0.0.0:0")
            && err.contains("dangerously_allow_plain_http"),
        "{err}"
    );
    assert!(!home.exists(), "the data directory was provisioned");
    Ok(())
}

#[test]
fn tls_flags_go_together_and_bad_settings_are_named() -> TestResult {
    let dir = tempfile::tempdir()?;
    let out = lockbox(dir.path(), &["serve", "--tls-cert", "c.pem"]);
    assert_eq!(out.status.code(), Some(252));
    std::fs::write(dir.path().join("server.toml"), "max_connections = 0\n")?;
    let out = lockbox(dir.path(), &["serve"]);
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8(out.stderr)?;
    assert!(
        err.contains("server.toml: max_connections = 0: must be 1..=100000"),
        "{err}"
    );
    Ok(())
}
