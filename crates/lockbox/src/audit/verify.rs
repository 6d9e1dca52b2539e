//! Walking the chain: every problem, named with the sequence number it concerns.

use std::fmt;

use lockbox_api::Timestamp;
use lockbox_store::{AuditBody, AuditEntry, Store};
use lockbox_token::{ObjectId, Token};

use super::{chain_hash, hex, parse_mark, seal_input};
use crate::error::Error;

/// What [`verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Event entries (audited calls).
    pub records: u64,
    /// Seal entries.
    pub seals: u64,
    /// Refusal entries: requests the server refused before they reached the engine.
    pub refusals: u64,
    /// Summary entries of refusals not recorded one by one, and how many refusals they count.
    pub suppressed: (u64, u64),
    /// The sequence number of the last entry, if any.
    pub last_seq: Option<u64>,
    /// The time of the first and of the last event or refusal.
    pub first_time: Option<Timestamp>,
    /// See `first_time`.
    pub last_time: Option<Timestamp>,
    /// Where the stored chain starts when older entries were pruned (exported to segment
    /// files): the seal kept as the first stored entry. `None`: nothing was pruned.
    pub pruned_before: Option<u64>,
    /// Entries other than seals after the last seal: not a problem, but not protected
    /// against deletion yet.
    pub unsealed_tail: u64,
    /// Everything wrong, in sequence order (the token's mark last).
    pub problems: Vec<Problem>,
    /// Findings that are not problems (an interrupted mark update, which the next seal
    /// repairs).
    pub notes: Vec<String>,
}

impl VerifyReport {
    /// True when no problem was found (an unsealed tail is allowed).
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One problem, at one place in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The sequence number it concerns.
    pub seq: u64,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// What was found and where, in words.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {}: {}", self.seq, self.message)
    }
}

/// Kinds of [`Problem`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// Sequence numbers are missing: entries were deleted.
    Gap,
    /// An entry stored under one sequence number says it is another: entries were moved
    /// (inserted, reordered).
    Misplaced,
    /// An entry's `prev_hash` is not the hash of the entry before it: that entry was
    /// modified, or this one was inserted or moved here.
    ChainBroken,
    /// An entry's bytes do not decode.
    Undecodable,
    /// A seal does not name the entry before it or that entry's chain hash.
    SealMismatch,
    /// A seal's MAC does not verify in the token: forged, or the chain was rewritten.
    BadMac,
    /// The token's mark names a seal the log does not have: truncated or rolled back.
    Truncated,
    /// The log cannot be checked at all (no audit key recorded, mark unreadable).
    Unverifiable,
}

/// Walks the whole audit chain in `store`, checking seals with `token`.
///
/// Errors are for failing to read (the store or token failed); everything wrong with the
/// log itself is a [`Problem`] in the report.
pub fn verify(store: &Store, token: &Token) -> Result<VerifyReport, Error> {
    let mut r = VerifyReport::default();
    let objects = store.audit_objects()?;
    let key = objects.map(|o| ObjectId::from_bytes(o.key));

    let pruned = store.audit_pruned()?;
    r.pruned_before = pruned;
    let mut expected: u64 = pruned.unwrap_or(0);
    // The previous entry's sequence number and chain hash.
    let mut prev: Option<(u64, [u8; 32])> = None;
    let mut last_seal: Option<(u64, [u8; 32])> = None;
    for item in store.audit_from(0) {
        let (seq, bytes) = item?;
        let hash = chain_hash(&bytes);
        let after_gap = seq != expected;
        if after_gap {
            r.problems.push(Problem {
                seq: expected,
                kind: ProblemKind::Gap,
                message: if seq - expected == 1 {
                    format!("entry {expected} is missing (deleted); the log resumes at {seq}")
                } else {
                    format!(
                        "entries {expected} to {} are missing (deleted); the log resumes at {seq}",
                        seq - 1
                    )
                },
            });
        }
        expected = seq.saturating_add(1);
        r.last_seq = Some(seq);
        let entry = match AuditEntry::decode(&bytes) {
            Ok(e) => e,
            Err(e) => {
                r.problems.push(Problem {
                    seq,
                    kind: ProblemKind::Undecodable,
                    message: format!("the entry does not decode ({e})"),
                });
                prev = Some((seq, hash));
                continue;
            }
        };
        if entry.seq != seq {
            r.problems.push(Problem {
                seq,
                kind: ProblemKind::Misplaced,
                message: format!(
                    "the entry stored here says it is entry {}: entries were inserted, \
                     reordered or moved",
                    entry.seq
                ),
            });
        }
        // After a gap the chain is broken by definition; the gap says why.
        let want_prev = match prev {
            None if seq == 0 => Some([0u8; 32]),
            Some((p, h)) if p + 1 == seq => Some(h),
            _ => None,
        };
        if let Some(want) = want_prev
            && !after_gap
            && entry.prev_hash != want
        {
            r.problems.push(Problem {
                seq,
                kind: ProblemKind::ChainBroken,
                message: format!(
                    "prev_hash does not match the hash of entry {}: entry {} was modified, or \
                     this entry was inserted or moved here",
                    seq.wrapping_sub(1),
                    seq.wrapping_sub(1)
                ),
            });
        }
        if Some(seq) == pruned && prev.is_none() && !matches!(entry.body, AuditBody::Seal { .. }) {
            r.problems.push(Problem {
                seq,
                kind: ProblemKind::ChainBroken,
                message: "the store says the chain starts here after pruning, at a seal, but                           this entry is not a seal"
                    .into(),
            });
        }
        match &entry.body {
            AuditBody::Event(e) => {
                r.records += 1;
                r.unsealed_tail += 1;
                if r.first_time.is_none() {
                    r.first_time = Some(e.time);
                }
                r.last_time = Some(e.time);
            }
            AuditBody::Refused(refusal) => {
                r.refusals += 1;
                r.unsealed_tail += 1;
                if r.first_time.is_none() {
                    r.first_time = Some(refusal.time);
                }
                r.last_time = Some(refusal.time);
            }
            AuditBody::Suppressed(summary) => {
                r.suppressed.0 += 1;
                r.suppressed.1 += summary.count;
                r.unsealed_tail += 1;
            }
            AuditBody::Seal {
                through_seq,
                chain_hash: sealed_hash,
                mac,
                ..
            } => {
                r.seals += 1;
                r.unsealed_tail = 0;
                let chained = match prev {
                    // The seal pruning kept: the entries it covers are in segment files; it
                    // must name the entry before it as its own prev_hash does.
                    None if Some(seq) == pruned && *through_seq + 1 == seq => {
                        Some((*through_seq, entry.prev_hash))
                    }
                    p => p.filter(|(p, _)| p + 1 == seq),
                };
                if chained != Some((*through_seq, *sealed_hash)) {
                    r.problems.push(Problem {
                        seq,
                        kind: ProblemKind::SealMismatch,
                        message: format!(
                            "the seal covers entry {through_seq} with hash {}, but {}",
                            hex(sealed_hash),
                            match chained {
                                Some((p, h)) =>
                                    format!("the entry before it is {p} with hash {}", hex(&h)),
                                None => "the entry before it is missing".into(),
                            }
                        ),
                    });
                }
                if let Some(k) = key
                    && !token.hmac_sha256_verify(&k, &seal_input(*through_seq, sealed_hash), mac)?
                {
                    r.problems.push(Problem {
                        seq,
                        kind: ProblemKind::BadMac,
                        message: "the seal's MAC does not verify in the token: the seal was \
                                  forged or altered, or the chain before it rewritten"
                            .into(),
                    });
                }
                last_seal = Some((seq, hash));
            }
        }
        prev = Some((seq, hash));
    }

    let Some(objects) = objects else {
        if r.last_seq.is_some() {
            r.problems.push(Problem {
                seq: 0,
                kind: ProblemKind::Unverifiable,
                message: "the store records no audit key or mark: no seal can be checked".into(),
            });
        }
        return Ok(r);
    };
    let mark_id = ObjectId::from_bytes(objects.mark);
    // Under the seal lock, as the nodes read and move it.
    let read = {
        let _held = super::wait_for_seal_lock(store, "read the token's audit mark")?;
        token.read_mark(&mark_id)
    };
    let mark = match read {
        Ok(v) => parse_mark(&v),
        Err(lockbox_token::TokenError::ObjectNotFound(_)) => Err("it is not on the token".into()),
        Err(e) => return Err(e.into()),
    };
    match mark {
        Err(why) => r.problems.push(Problem {
            seq: r.last_seq.unwrap_or(0),
            kind: ProblemKind::Unverifiable,
            message: format!("the token's audit mark cannot be read: {why}"),
        }),
        Ok(None) => {
            if let Some((s, _)) = last_seal {
                r.notes.push(format!(
                    "the token's mark predates the first seal (at seq {s}); the next seal moves it"
                ));
            }
        }
        Ok(Some((mseq, mhash))) => {
            let at = store.audit_from(mseq).next().transpose()?;
            match at {
                Some((s, bytes)) if s == mseq && chain_hash(&bytes) == mhash => {
                    if last_seal.is_some_and(|(s, _)| s > mseq) {
                        r.notes.push(format!(
                            "the token's mark is at the seal at seq {mseq}, the log's last seal \
                             is later (an interrupted mark update; the next seal repairs it)"
                        ));
                    }
                }
                Some((s, bytes)) if s == mseq => r.problems.push(Problem {
                    seq: mseq,
                    kind: ProblemKind::Truncated,
                    message: format!(
                        "the token's mark says seal at seq {mseq} with hash {}, but the log's \
                         entry {mseq} has hash {}: the log was rolled back or rewritten",
                        hex(&mhash),
                        hex(&chain_hash(&bytes))
                    ),
                }),
                _ => r.problems.push(Problem {
                    seq: mseq,
                    kind: ProblemKind::Truncated,
                    message: format!(
                        "the token's mark says seal at seq {mseq} with hash {}, {}: the log \
                         was truncated",
                        hex(&mhash),
                        match r.last_seq {
                            Some(y) => format!("the log ends at seq {y}"),
                            None => "the log is empty".into(),
                        }
                    ),
                }),
            }
        }
    }
    Ok(r)
}
