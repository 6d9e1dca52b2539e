//! A program that only talks to a Lockbox server links no token, store or server: the
//! normal dependencies of lockbox-client, as `cargo tree` resolves them, hold no cryptoki,
//! sled, hyper or tokio (nor any Lockbox crate but lockbox-api).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::Command;

/// Crates the client must never link.
const FORBIDDEN: &[&str] = &[
    "cryptoki",
    "cryptoki-sys",
    "sled",
    "hyper",
    "hyper-util",
    "tokio",
    "tokio-rustls",
    "lockbox",
    "lockbox-token",
    "lockbox-store",
    "lockbox-server",
    "lockbox-envelope",
];

/// The names of the packages in lockbox-client's tree of normal dependencies.
fn normal_dependencies() -> BTreeSet<String> {
    // The cargo running this test (cargo sets CARGO for the programs it runs).
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--edges",
            "normal",
            "--package",
            "lockbox-client",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_client_links_no_token_store_or_server() {
    let deps = normal_dependencies();
    // The tree is the real one: the client, its vocabulary and its HTTP client are in it.
    for expected in ["lockbox-client", "lockbox-api", "ureq", "rustls"] {
        assert!(deps.contains(expected), "{expected} missing from {deps:?}");
    }
    let linked: Vec<&str> = FORBIDDEN
        .iter()
        .copied()
        .filter(|name| deps.contains(*name))
        .collect();
    assert!(linked.is_empty(), "lockbox-client links {linked:?}");
}
