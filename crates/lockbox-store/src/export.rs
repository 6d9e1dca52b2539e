//! A logical copy of the whole store: every tree, every entry, as bytes (the format is
//! `docs/formats/backup.md`, "metadata.lbx").
//!
//! Backups use this rather than copying sled's files: an export reads through sled's own
//! API, so it does not depend on which files sled happens to have on disk or in what state
//! its background threads left them, and an import builds a fresh store whose files sled
//! wrote itself (no snapshot or segment from another process's life).

use std::io::{Read, Write};
use std::path::Path;

use crate::backend::Tree;
use crate::error::StoreError;
use crate::store::{SCHEMA_VERSION, Store};

/// The first bytes of an export.
pub const EXPORT_MAGIC: &[u8; 8] = b"LBXMETA\0";
/// The export format this code writes and reads.
pub const EXPORT_VERSION: u32 = 1;
const TREE_TAG: u8 = b'T';
const END_TAG: u8 = b'E';
/// sled's name for its default tree.
const DEFAULT_TREE: &[u8] = b"__sled__default";
const MAX_NAME: usize = 255;
/// Entries written to the new store at a time by an import.
const IMPORT_BATCH: usize = 4096;
const MAX_KEY: usize = 1 << 20;
const MAX_VALUE: usize = 1 << 24;

/// What an export or import held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// The store's schema version.
    pub schema: u32,
    /// Trees written, by name, with their entry counts.
    pub trees: Vec<(String, u64)>,
}

impl ExportSummary {
    /// Entries across all trees.
    pub fn entries(&self) -> u64 {
        self.trees.iter().map(|(_, n)| n).sum()
    }
}

impl Store {
    /// Writes every tree of the store to `w`. The caller makes sure nothing writes to the
    /// store meanwhile (the engine holds its write lock and quiesces the audit log); the
    /// trees are read one after the other, not as one snapshot.
    pub fn export(&self, w: &mut impl Write) -> Result<ExportSummary, StoreError> {
        let io = |e| StoreError::io("writing the metadata export", e);
        let schema = self.schema()?;
        w.write_all(EXPORT_MAGIC).map_err(io)?;
        w.write_all(&EXPORT_VERSION.to_be_bytes()).map_err(io)?;
        w.write_all(&schema.to_be_bytes()).map_err(io)?;
        let mut summary = ExportSummary {
            schema,
            trees: Vec::new(),
        };
        for tree in Tree::ALL {
            let name = tree.name().as_bytes();
            let entries = self.scan_all(tree, b"")?;
            let count = entries.len() as u64;
            w.write_all(&[TREE_TAG]).map_err(io)?;
            w.write_all(&(name.len() as u16).to_be_bytes())
                .map_err(io)?;
            w.write_all(name).map_err(io)?;
            w.write_all(&count.to_be_bytes()).map_err(io)?;
            for (k, v) in &entries {
                w.write_all(&(k.len() as u32).to_be_bytes()).map_err(io)?;
                w.write_all(k).map_err(io)?;
                w.write_all(&(v.len() as u32).to_be_bytes()).map_err(io)?;
                w.write_all(v).map_err(io)?;
            }
            summary.trees.push((tree.name().to_owned(), count));
        }
        w.write_all(&[END_TAG]).map_err(io)?;
        w.write_all(&summary.entries().to_be_bytes()).map_err(io)?;
        w.flush().map_err(io)?;
        Ok(summary)
    }

    /// Builds a new store in `dir` (which must not exist yet) from an export, flushes it and
    /// makes its files private. The store is closed again when this returns.
    pub fn import(dir: &Path, r: &mut impl Read) -> Result<ExportSummary, StoreError> {
        let mut magic = [0u8; 8];
        read_exact(r, &mut magic)?;
        if &magic != EXPORT_MAGIC {
            return Err(corrupt("not a Lockbox metadata export (bad magic)"));
        }
        let version = read_u32(r)?;
        if version != EXPORT_VERSION {
            return Err(StoreError::TooNew {
                what: "the metadata export".into(),
                version,
            });
        }
        let schema = read_u32(r)?;
        if schema > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                what: "the metadata in the export".into(),
                version: schema,
            });
        }
        if dir.exists() {
            return Err(StoreError::io(
                format!("importing into {}", dir.display()),
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            ));
        }
        let mut summary = ExportSummary {
            schema,
            trees: Vec::new(),
        };
        {
            let store = Store::open(dir)?;
            loop {
                let mut tag = [0u8; 1];
                read_exact(r, &mut tag)?;
                match tag[0] {
                    TREE_TAG => {
                        let mut len = [0u8; 2];
                        read_exact(r, &mut len)?;
                        let name = read_bytes(r, usize::from(u16::from_be_bytes(len)), MAX_NAME)?;
                        let count = read_u64(r)?;
                        // sled's default tree, which Lockbox never wrote, may appear (empty)
                        // in exports made before the store had a backend boundary.
                        let tree = match Tree::named(&name) {
                            Some(t) => Some(t),
                            None if name == DEFAULT_TREE && count == 0 => None,
                            None => return Err(corrupt("an unknown tree")),
                        };
                        if let Some(tree) = tree {
                            if store.backend.count(tree)? != 0 && tree != Tree::Meta {
                                return Err(corrupt("a tree appears twice"));
                            }
                            let mut batch = Vec::new();
                            for _ in 0..count {
                                let klen = read_u32(r)? as usize;
                                let k = read_bytes(r, klen, MAX_KEY)?;
                                let vlen = read_u32(r)? as usize;
                                let v = read_bytes(r, vlen, MAX_VALUE)?;
                                batch.push((k, v));
                                if batch.len() == IMPORT_BATCH {
                                    store.backend.append(tree, &batch, "store.import.flush")?;
                                    batch.clear();
                                }
                            }
                            store.backend.append(tree, &batch, "store.import.flush")?;
                        }
                        summary
                            .trees
                            .push((String::from_utf8_lossy(&name).into_owned(), count));
                    }
                    END_TAG => {
                        let total = read_u64(r)?;
                        if total != summary.entries() {
                            return Err(corrupt("the entry count at the end does not match"));
                        }
                        break;
                    }
                    _ => return Err(corrupt("an unknown section tag")),
                }
            }
            let mut rest = [0u8; 1];
            if r.read(&mut rest)
                .map_err(|e| StoreError::io("reading the metadata export", e))?
                != 0
            {
                return Err(corrupt("bytes after the end"));
            }
            store.backend.sync("store.import.flush")?;
        }
        Ok(summary)
    }

    fn schema(&self) -> Result<u32, StoreError> {
        match self.backend.get(Tree::Meta, b"schema")? {
            Some(v) => <[u8; 4]>::try_from(v.as_slice())
                .map(u32::from_be_bytes)
                .map_err(|_| corrupt("the schema version is not 4 bytes")),
            None => Ok(SCHEMA_VERSION),
        }
    }
}

fn corrupt(reason: &str) -> StoreError {
    StoreError::Corrupt {
        tree: "(export)",
        key: String::new(),
        reason: reason.into(),
    }
}

fn read_exact(r: &mut impl Read, buf: &mut [u8]) -> Result<(), StoreError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            corrupt("the export is truncated")
        } else {
            StoreError::io("reading the metadata export", e)
        }
    })
}

fn read_u32(r: &mut impl Read) -> Result<u32, StoreError> {
    let mut b = [0u8; 4];
    read_exact(r, &mut b)?;
    Ok(u32::from_be_bytes(b))
}

fn read_u64(r: &mut impl Read) -> Result<u64, StoreError> {
    let mut b = [0u8; 8];
    read_exact(r, &mut b)?;
    Ok(u64::from_be_bytes(b))
}

fn read_bytes(r: &mut impl Read, len: usize, max: usize) -> Result<Vec<u8>, StoreError> {
    if len > max {
        return Err(corrupt("a length beyond the format's bound"));
    }
    let mut v = vec![0u8; len];
    read_exact(r, &mut v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_imports_to_the_same_trees_and_bytes() {
        let d = tempfile::tempdir().unwrap();
        let src = Store::open(&d.path().join("a")).unwrap();
        let put = |store: &Store, tree: Tree, k: &[u8], v: &[u8]| {
            store
                .backend
                .append(tree, &[(k.to_vec(), v.to_vec())], "test")
                .unwrap()
        };
        put(&src, Tree::Keys, b"k1", b"v1");
        put(&src, Tree::Aliases, b"acct:alias/x", &[7u8; 3000]);
        put(&src, Tree::Audit, &1u64.to_be_bytes(), b"entry");
        let mut bytes = Vec::new();
        let summary = src.export(&mut bytes).unwrap();
        assert_eq!(summary.schema, SCHEMA_VERSION);
        let back = Store::import(&d.path().join("b"), &mut bytes.as_slice()).unwrap();
        assert_eq!(back, summary);
        drop(src);
        let dst = Store::open(&d.path().join("b")).unwrap();
        assert_eq!(dst.backend.get(Tree::Keys, b"k1").unwrap().unwrap(), b"v1");
        assert_eq!(
            dst.backend
                .get(Tree::Aliases, b"acct:alias/x")
                .unwrap()
                .unwrap(),
            vec![7u8; 3000]
        );
        let mut again = Vec::new();
        assert_eq!(dst.export(&mut again).unwrap(), summary);
        assert_eq!(again, bytes, "export, import, export gives the same bytes");
    }

    #[test]
    fn damaged_exports_are_refused_by_name() {
        let d = tempfile::tempdir().unwrap();
        let src = Store::open(&d.path().join("a")).unwrap();
        src.backend
            .append(Tree::Keys, &[(b"k1".to_vec(), b"v1".to_vec())], "test")
            .unwrap();
        let mut bytes = Vec::new();
        src.export(&mut bytes).unwrap();
        let err = |b: &[u8], n: &str| {
            Store::import(&d.path().join(n), &mut &b[..])
                .unwrap_err()
                .to_string()
        };
        assert!(err(&bytes[..bytes.len() - 3], "t").contains("truncated"));
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(err(&bad, "m").contains("bad magic"));
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(err(&extra, "e").contains("bytes after the end"));
        let mut newer = bytes.clone();
        newer[8..12].copy_from_slice(&2u32.to_be_bytes());
        assert!(err(&newer, "v").contains("newer than this Lockbox"));
    }
}
