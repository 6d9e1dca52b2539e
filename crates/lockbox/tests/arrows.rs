//! The engine's files point one way (docs/ARCHITECTURE.md, "the arrows between them"): the
//! core imports no room built on it, authz imports the core only, and the operation files
//! import no module above them. Read from the sources, as `use crate::` and `crate::` paths.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

/// The engine modules `file` names by `crate::` path (`crate::core::Call` -> `core`).
fn modules_named(file: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut out: Vec<String> = text
        .match_indices("crate::")
        .filter(|(i, _)| !text[..*i].ends_with('$'))
        .map(|(i, m)| {
            text[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .filter(|m: &String| !m.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn assert_names_none(file: &str, forbidden: &[&str]) {
    let named = modules_named(file);
    let wrong: Vec<_> = named
        .iter()
        .filter(|m| forbidden.contains(&m.as_str()))
        .collect();
    assert!(wrong.is_empty(), "{file} names {wrong:?}");
}

/// Everything built on the core.
const ABOVE_CORE: &[&str] = &[
    "authz",
    "ops",
    "lifecycle",
    "reconcile",
    "engine",
    "client",
    "backup",
];

#[test]
fn the_core_imports_nothing_built_on_it() {
    assert_names_none("core.rs", ABOVE_CORE);
    // It names the core's own leaves, so the check above reads real paths.
    assert!(modules_named("core.rs").contains(&"audit".to_owned()));
}

#[test]
fn authz_imports_the_core_only() {
    assert_names_none("authz.rs", ABOVE_CORE);
    assert!(modules_named("authz.rs").contains(&"core".to_owned()));
}

#[test]
fn lifecycle_builds_on_the_core_not_on_authz_or_the_operations() {
    assert_names_none(
        "lifecycle.rs",
        &["authz", "ops", "reconcile", "engine", "client", "backup"],
    );
    assert_names_none(
        "reconcile.rs",
        &["authz", "ops", "engine", "client", "backup"],
    );
}

#[test]
fn operations_import_nothing_above_them() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ops");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert_names_none(
            &format!("ops/{name}"),
            &["engine", "client", "reconcile", "backup"],
        );
        files += 1;
    }
    // mod.rs and the fifteen families (the scan must have read them all; issue 15 added
    // import.rs and replication.rs).
    assert_eq!(files, 16);
}
