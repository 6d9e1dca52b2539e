//! The embedding example runs against SoftHSM, twice on one directory (create, then reuse).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

fn run_example(dir: &Path) -> String {
    // Cargo sets CARGO for the tests it runs; its build lock is free while tests run.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["run", "-q", "-p", "lockbox", "--example", "appliance", "--"])
        .arg(dir)
        .env_remove("SOFTHSM2_CONF")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_appliance_example_runs_on_softhsm() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("appliance-data");
    let first = run_example(&dir);
    assert!(
        first.contains("secret sealed into 78 bytes and opened again"),
        "{first}"
    );
    assert!(
        first.contains("data key: 32 bytes to use, 82 bytes to store"),
        "{first}"
    );
    assert!(dir.join("lockbox.toml").exists());
    let second = run_example(&dir);
    assert_eq!(
        first.lines().next(),
        second.lines().next(),
        "the second run did not reuse the key"
    );
}
