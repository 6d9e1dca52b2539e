//! Retention: sealed segments of the audit chain exported to files, then removed from the
//! store; and the check of those files.
//!
//! A *segment* is the run of entries up to and including a seal. Pruning takes the oldest
//! segment whose seal is older than the retention age (or whose removal still leaves at
//! least `max_records` entries), checks it (the chain inside it, and the seal's MAC in the
//! token), writes it to a segment file in the export directory (flushed, then renamed into
//! place, then the directory flushed), and only then removes its entries from the store,
//! all but its seal, in one transaction that also records where the stored chain now
//! starts. The seal stays as the first stored entry: the next entry chains to it, and its
//! MAC, made in the token, covers the chain hash of the last removed entry. A kill at any
//! point leaves either the segment in the store (and perhaps its file already written:
//! written again, byte for byte, by the next prune) or the segment in its file.
//!
//! The file format is in `docs/formats/audit-segments.md`.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lockbox_api::Timestamp;
use lockbox_store::{AuditBody, AuditEntry, Store};
use lockbox_token::{ObjectId, Token};
use sha2::{Digest, Sha256};

use super::verify::{Problem, ProblemKind};
use super::{chain_hash, seal_input};
use crate::error::Error;

/// The cluster lock pruning runs under (one node prunes at a time).
pub const PRUNE_LOCK: &str = "lockbox.audit.prune";
/// The first bytes of a segment file.
pub const SEGMENT_MAGIC: &[u8; 8] = b"LBAUDSEG";
/// The segment file format's version.
pub const SEGMENT_VERSION: u8 = 1;
/// The trailer's marker.
pub const SEGMENT_END: &[u8; 8] = b"LBAUDEND";
/// A stored entry is at most this long in a segment file (the largest entry Lockbox writes
/// is a few KiB: an event with a full encryption context).
pub const SEGMENT_ENTRY_MAX: u32 = 1 << 20;

/// The `[audit]` retention settings: what may be pruned, and where it goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Prune segments whose seal is older than this (`[audit] retention`).
    pub max_age: Option<Duration>,
    /// Prune the oldest segments while at least this many entries stay after them
    /// (`[audit] retention_records`).
    pub max_records: Option<u64>,
    /// Where segment files are written (`[audit] export_dir`; by default
    /// `<data_dir>/audit-export`). On a cluster, a directory every node writes to.
    pub export_dir: PathBuf,
}

impl Retention {
    /// Whether anything is ever pruned.
    pub fn is_set(&self) -> bool {
        self.max_age.is_some() || self.max_records.is_some()
    }
}

/// A retention age as written in `[audit] retention` and `--retention`: a whole number and
/// a unit, `s`, `m`, `h` or `d` ("90d", "12h"), from one second to 36,500 days. The error
/// says what was expected ("must be ...").
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "must be a whole number and a unit s, m, h or d (such as \"90d\"), from 1s to \
             36500d, not \"{text}\""
        )
    };
    let t = text.trim();
    let (n, unit) = t.split_at(t.len().saturating_sub(1));
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(bad)?;
    if !(1..=36_500 * 86_400).contains(&secs) {
        return Err(bad());
    }
    Ok(Duration::from_secs(secs))
}

/// What [`prune`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Segments exported and removed.
    pub segments: u64,
    /// Entries removed from the store (each is in a segment file).
    pub entries: u64,
    /// The files written, oldest first.
    pub files: Vec<PathBuf>,
    /// Where the stored chain starts now (`None`: nothing was ever pruned).
    pub starts_at: Option<u64>,
    /// True when another node held the prune lock, so this one did nothing.
    pub skipped: bool,
}

/// The file name of the segment holding entries `first..=seal`.
pub fn segment_file_name(first: u64, seal: u64) -> String {
    format!("audit-{first:020}-{seal:020}.lbaudit")
}

/// Exports and removes every segment that `retention` lets go, oldest first, as of `now`.
///
/// Each segment is checked before it is exported (its entries are contiguous and chained,
/// and its seal's MAC verifies in `token`); a segment that fails the check stops pruning
/// with an error, leaving it in the store as evidence (run `lockbox audit verify`).
/// Under the cluster lock [`PRUNE_LOCK`]: when another node holds it, nothing is done.
pub fn prune(
    store: &Store,
    token: &Token,
    retention: &Retention,
    now: Timestamp,
) -> Result<PruneReport, Error> {
    let mut report = PruneReport {
        starts_at: store.audit_pruned()?,
        ..PruneReport::default()
    };
    if !retention.is_set() {
        return Ok(report);
    }
    let Some(_lock) = store.try_cluster_lock(PRUNE_LOCK)? else {
        report.skipped = true;
        return Ok(report);
    };
    let Some(objects) = store.audit_objects()? else {
        return Ok(report);
    };
    let key = ObjectId::from_bytes(objects.key);
    let Some((last_seq, _)) = store.last_audit()? else {
        return Ok(report);
    };
    crate::config::make_private_dir(&retention.export_dir)?;
    remove_stale_temporaries(&retention.export_dir)?;
    loop {
        let starts = store.audit_pruned()?;
        let from = starts.unwrap_or(0);
        let Some(segment) = next_segment(store, token, &key, from, starts.is_some())? else {
            break;
        };
        let old_enough = retention.max_age.is_some_and(|age| {
            let age_ms = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
            segment.sealed_at.unix_millis().saturating_add(age_ms) <= now.unix_millis()
        });
        let too_many = retention
            .max_records
            .is_some_and(|max| last_seq - segment.seal >= max);
        if !(old_enough || too_many) {
            break;
        }
        let first = segment.entries[0].0;
        let path = retention
            .export_dir
            .join(segment_file_name(first, segment.seal));
        write_segment(&path, &segment.entries)?;
        if !store.prune_audit(from, segment.seal)? {
            // Another process pruned meanwhile (the lock is advisory on sled's side only if
            // two processes share a store, which the data directory's lock prevents).
            break;
        }
        report.segments += 1;
        report.entries += segment.seal - from;
        report.files.push(path);
        report.starts_at = Some(segment.seal);
        tracing::info!(
            first,
            seal = segment.seal,
            "exported and pruned an audit segment"
        );
    }
    Ok(report)
}

struct Segment {
    // The entries to export: from the first not yet exported through the seal.
    entries: Vec<(u64, Vec<u8>)>,
    seal: u64,
    sealed_at: Timestamp,
}

/// The sealed segment after `from` (where the stored chain starts; `kept_seal`: it starts
/// with the seal kept by the last prune, which is in the previous segment's file already),
/// checked; `None` when the entries after `from` are not sealed yet.
fn next_segment(
    store: &Store,
    token: &Token,
    key: &ObjectId,
    from: u64,
    kept_seal: bool,
) -> Result<Option<Segment>, Error> {
    let bad = |seq: u64, why: String| {
        Error::Audit(format!(
            "cannot prune the audit log: entry {seq} {why}; run `lockbox audit verify`"
        ))
    };
    let mut entries = Vec::new();
    let mut prev: Option<[u8; 32]> = if from == 0 && !kept_seal {
        Some([0; 32])
    } else {
        None
    };
    for (expected, item) in (from..).zip(store.audit_from(from)) {
        let (seq, bytes) = item?;
        if seq != expected {
            return Err(bad(expected, "is missing".into()));
        }
        let entry =
            AuditEntry::decode(&bytes).map_err(|e| bad(seq, format!("does not decode ({e})")))?;
        if entry.seq != seq {
            return Err(bad(seq, format!("says it is entry {}", entry.seq)));
        }
        if let Some(p) = prev
            && entry.prev_hash != p
        {
            return Err(bad(seq, "does not chain to the entry before it".into()));
        }
        let hash = chain_hash(&bytes);
        if seq == from && kept_seal {
            prev = Some(hash);
            continue;
        }
        if let AuditBody::Seal {
            through_seq,
            chain_hash: sealed,
            mac,
            at,
        } = &entry.body
        {
            if *through_seq + 1 != seq || Some(*sealed) != prev {
                return Err(bad(
                    seq,
                    "is a seal that does not cover the entry before it".into(),
                ));
            }
            if !token.hmac_sha256_verify(key, &seal_input(*through_seq, sealed), mac)? {
                return Err(bad(
                    seq,
                    "is a seal whose MAC does not verify in the token".into(),
                ));
            }
            entries.push((seq, bytes));
            return Ok(Some(Segment {
                entries,
                seal: seq,
                sealed_at: *at,
            }));
        }
        entries.push((seq, bytes));
        prev = Some(hash);
    }
    Ok(None)
}

/// The bytes of a segment file holding `entries`.
pub fn encode_segment(entries: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let size: usize = entries.iter().map(|(_, b)| 12 + b.len()).sum();
    let mut out = Vec::with_capacity(9 + size + 48);
    out.extend_from_slice(SEGMENT_MAGIC);
    out.push(SEGMENT_VERSION);
    for (seq, bytes) in entries {
        out.extend_from_slice(&seq.to_be_bytes());
        // Entries are far below 4 GiB (the store refuses none, but Lockbox writes none over
        // a few KiB); a longer one could not be exported, and says so on reading.
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(bytes);
    }
    let digest: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(SEGMENT_END);
    out.extend_from_slice(&(entries.len() as u64).to_be_bytes());
    out.extend_from_slice(&digest);
    out
}

/// Parses a segment file's bytes into its entries (sequence number, stored bytes). Total:
/// any bytes give entries or an error in words.
pub fn decode_segment(bytes: &[u8]) -> Result<Vec<(u64, Vec<u8>)>, String> {
    let body_end = bytes
        .len()
        .checked_sub(48)
        .filter(|&n| n >= 9)
        .ok_or_else(|| format!("{} bytes: too short for a segment file", bytes.len()))?;
    if &bytes[..8] != SEGMENT_MAGIC {
        return Err("it does not start with LBAUDSEG: not a segment file".into());
    }
    if bytes[8] != SEGMENT_VERSION {
        return Err(format!(
            "format version {}, this Lockbox reads {SEGMENT_VERSION}",
            bytes[8]
        ));
    }
    let (body, trailer) = bytes.split_at(body_end);
    if &trailer[..8] != SEGMENT_END {
        return Err("no LBAUDEND trailer: the file is cut short or damaged".into());
    }
    let digest: [u8; 32] = Sha256::digest(body).into();
    if trailer[16..] != digest {
        return Err("its SHA-256 does not match the trailer's: the file is damaged".into());
    }
    let mut count_bytes = [0u8; 8];
    count_bytes.copy_from_slice(&trailer[8..16]);
    let count = u64::from_be_bytes(count_bytes);
    let mut entries = Vec::new();
    let mut rest = &body[9..];
    while !rest.is_empty() {
        if rest.len() < 12 {
            return Err("an entry's header is cut short".into());
        }
        let (head, tail) = rest.split_at(12);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&head[..8]);
        let mut len = [0u8; 4];
        len.copy_from_slice(&head[8..]);
        let len = u32::from_be_bytes(len);
        if len > SEGMENT_ENTRY_MAX || len as usize > tail.len() {
            return Err(format!(
                "entry {} claims {len} bytes, more than the file holds or {SEGMENT_ENTRY_MAX}",
                u64::from_be_bytes(seq)
            ));
        }
        let (entry, after) = tail.split_at(len as usize);
        entries.push((u64::from_be_bytes(seq), entry.to_vec()));
        rest = after;
    }
    if entries.len() as u64 != count {
        return Err(format!(
            "the trailer counts {count} entries, the file holds {}",
            entries.len()
        ));
    }
    Ok(entries)
}

/// Writes the segment file at `path`: to a temporary name, flushed, renamed into place, and
/// the directory flushed; 0600.
fn write_segment(path: &Path, entries: &[(u64, Vec<u8>)]) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |what: &str, p: &Path, e: std::io::Error| {
        Error::Audit(format!("audit export: {what} {}: {e}", p.display()))
    };
    let dir = path
        .parent()
        .ok_or_else(|| Error::Audit(format!("{} has no directory", path.display())))?;
    let tmp = path.with_extension("lbaudit.tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| fail("creating", &tmp, e))?;
    f.write_all(&encode_segment(entries))
        .and_then(|()| f.sync_all())
        .map_err(|e| fail("writing", &tmp, e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| fail("renaming into place", path, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail("flushing", dir, e))
}

/// Removes temporary files a killed prune left (their segment is still in the store).
fn remove_stale_temporaries(dir: &Path) -> Result<(), Error> {
    let entries = fs::read_dir(dir)
        .map_err(|e| Error::Audit(format!("audit export: listing {}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".lbaudit.tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// The segment files in `dir`, oldest first (their names sort in sequence order).
pub fn segment_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::Audit(format!("listing {}: {e}", dir.display())))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("audit-") && n.ends_with(".lbaudit"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// What [`verify_segments`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentReport {
    /// Segment files read.
    pub files: u64,
    /// Entries in them.
    pub entries: u64,
    /// The first and last sequence numbers they hold.
    pub first_seq: Option<u64>,
    /// See `first_seq`.
    pub last_seq: Option<u64>,
    /// Everything wrong, in file order.
    pub problems: Vec<Problem>,
}

/// Checks the segment files in `dir`: each on its own (intact, entries contiguous and
/// chained, ending with a seal that covers the entry before it and whose MAC verifies in
/// `token`), each against the one before it (the next entry chains to its seal), and the
/// last against the store, if given (it ends with the seal the stored chain starts with,
/// byte for byte).
pub fn verify_segments(
    dir: &Path,
    token: &Token,
    store: Option<&Store>,
) -> Result<SegmentReport, Error> {
    let mut r = SegmentReport::default();
    let key = match store {
        Some(s) => s.audit_objects()?.map(|o| ObjectId::from_bytes(o.key)),
        None => None,
    };
    let mut prev: Option<(u64, [u8; 32])> = None;
    let problem = |seq: u64, kind: ProblemKind, message: String| Problem { seq, kind, message };
    let mut problems = Vec::new();
    for path in segment_files(dir)? {
        r.files += 1;
        let name = path.display().to_string();
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| Error::Audit(format!("reading {name}: {e}")))?;
        let entries = match decode_segment(&bytes) {
            Ok(e) => e,
            Err(why) => {
                problems.push(problem(
                    prev.map_or(0, |(s, _)| s + 1),
                    ProblemKind::Undecodable,
                    format!("{name}: {why}"),
                ));
                prev = None;
                continue;
            }
        };
        let mut last_was_seal = false;
        for (seq, stored) in &entries {
            let (seq, hash) = (*seq, chain_hash(stored));
            r.entries += 1;
            r.first_seq.get_or_insert(seq);
            r.last_seq = Some(seq);
            let entry = match AuditEntry::decode(stored) {
                Ok(e) if e.seq == seq => e,
                Ok(e) => {
                    problems.push(problem(
                        seq,
                        ProblemKind::Misplaced,
                        format!("{name}: the entry stored as {seq} says it is {}", e.seq),
                    ));
                    prev = Some((seq, hash));
                    continue;
                }
                Err(e) => {
                    problems.push(problem(
                        seq,
                        ProblemKind::Undecodable,
                        format!("{name}: the entry does not decode ({e})"),
                    ));
                    prev = Some((seq, hash));
                    continue;
                }
            };
            match prev {
                None if seq == 0 && entry.prev_hash != [0; 32] => problems.push(problem(
                    seq,
                    ProblemKind::ChainBroken,
                    format!("{name}: entry 0 does not start the chain (prev_hash not zero)"),
                )),
                Some((p, _)) if p + 1 != seq => problems.push(problem(
                    p + 1,
                    ProblemKind::Gap,
                    format!("{name}: entries {} to {} are in no file", p + 1, seq - 1),
                )),
                Some((_, h)) if entry.prev_hash != h => problems.push(problem(
                    seq,
                    ProblemKind::ChainBroken,
                    format!(
                        "{name}: prev_hash does not match the hash of entry {}",
                        seq - 1
                    ),
                )),
                _ => {}
            }
            last_was_seal = false;
            if let AuditBody::Seal {
                through_seq,
                chain_hash: sealed,
                mac,
                ..
            } = &entry.body
            {
                last_was_seal = true;
                if prev.is_some_and(|(p, h)| (p, h) != (*through_seq, *sealed))
                    || entry.prev_hash != *sealed
                {
                    problems.push(problem(
                        seq,
                        ProblemKind::SealMismatch,
                        format!("{name}: the seal does not cover the entry before it"),
                    ));
                }
                if let Some(k) = &key
                    && !token.hmac_sha256_verify(k, &seal_input(*through_seq, sealed), mac)?
                {
                    problems.push(problem(
                        seq,
                        ProblemKind::BadMac,
                        format!("{name}: the seal's MAC does not verify in the token"),
                    ));
                }
            }
            prev = Some((seq, hash));
        }
        if !last_was_seal {
            problems.push(problem(
                r.last_seq.unwrap_or(0),
                ProblemKind::SealMismatch,
                format!("{name}: the segment does not end with a seal"),
            ));
        }
    }
    if key.is_none() && r.entries > 0 {
        problems.push(problem(
            0,
            ProblemKind::Unverifiable,
            "no store given (or it records no audit key): the seals' MACs were not checked".into(),
        ));
    }
    if let Some(store) = store {
        match (store.audit_pruned()?, prev) {
            (Some(k), Some((last, hash))) => {
                // The files reach the seal the store starts with, or past it (a prune killed
                // after writing a file and before removing its segment): either way the
                // store's copy of the files' last entry has the same chain hash, which covers
                // every entry before it.
                let stored = if last >= k {
                    store.audit_from(last).next().transpose()?
                } else {
                    None
                };
                let same = stored.is_some_and(|(s, b)| s == last && chain_hash(&b) == hash);
                if !same {
                    problems.push(problem(
                        last,
                        ProblemKind::Gap,
                        if last < k {
                            format!(
                                "the files end at entry {last}, but the store starts at its \
                                 seal {k}: entries {} to {} are in neither",
                                last + 1,
                                k - 1
                            )
                        } else {
                            format!(
                                "the files end at entry {last}, and the store's entry {last} is \
                                 missing or differs (the store starts at {k})"
                            )
                        },
                    ));
                }
            }
            (Some(k), None) if r.files > 0 => problems.push(problem(
                k,
                ProblemKind::Gap,
                format!("the store was pruned up to entry {k}, but no file could be read"),
            )),
            _ => {}
        }
    }
    r.problems = problems;
    Ok(r)
}
