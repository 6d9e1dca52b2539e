//! Requests refused before the engine: one audit record each, within a budget.
//!
//! A server refuses some requests before they reach the engine (a bad signature, a
//! malformed body, throttling, ...). Each leaves a [`Refusal`] entry in the chain, like any
//! call; but anyone who can reach the port can send them, so they are rate-limited, or a
//! flood of bad requests would fill the disk. Two token buckets decide: one per source
//! address (so one noisy client cannot use up the budget of the others) and one for all
//! sources together (so many addresses, e.g. an IPv6 prefix, cannot either). A refusal over
//! either budget is only counted; once per `summary_interval` in which some were counted, a
//! [`Suppressed`] entry says how many, from which sources.
//!
//! Every field of a refusal is capped ([`cap`]), so an entry is at most
//! [`REFUSAL_ENTRY_MAX_BYTES`]; with the seal it may bring about, a recorded refusal costs at
//! most [`RECORD_COST_MAX_BYTES`]. [`RefusalBudget::max_bytes`] is the resulting bound.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lockbox_api::Timestamp;
use lockbox_store::{Refusal, Suppressed};

/// The largest encoded refusal or summary entry, in bytes (a test encodes the largest
/// possible of each).
pub const REFUSAL_ENTRY_MAX_BYTES: u64 = 896;
/// The largest encoded seal entry, in bytes.
pub const SEAL_ENTRY_MAX_BYTES: u64 = 128;
/// What one recorded refusal or summary can add to the log at most: its entry and a seal.
pub const RECORD_COST_MAX_BYTES: u64 = REFUSAL_ENTRY_MAX_BYTES + SEAL_ENTRY_MAX_BYTES;
/// How many sources a summary names (the others are counted together).
pub const SUMMARY_SOURCES: usize = 8;

// Field caps, in bytes (cut at a character boundary).
const CAP_REQUEST_ID: usize = 40;
const CAP_SOURCE: usize = 64;
const CAP_OPERATION: usize = 64;
const CAP_ACCESS_KEY_ID: usize = 128;
const CAP_PRINCIPAL: usize = 200;
const CAP_CODE: usize = 64;
const CAP_MESSAGE: usize = 200;

/// How many refusals are recorded one by one (the `[audit]` section of `lockbox.toml`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RefusalBudget {
    /// Records per second for all sources together (default 5).
    pub per_second: f64,
    /// Records at once for all sources together (default 50).
    pub burst: u32,
    /// Records per second for one source address (default 1).
    pub per_source_per_second: f64,
    /// Records at once for one source address (default 10).
    pub per_source_burst: u32,
    /// How often a summary of suppressed refusals is written while there are some (default
    /// 10 s).
    pub summary_interval: Duration,
    /// Source addresses tracked at once (default 4096); a new source beyond them while all
    /// are active is suppressed. Bounds the memory a flood from many addresses takes.
    pub max_sources: usize,
}

impl Default for RefusalBudget {
    fn default() -> Self {
        RefusalBudget {
            per_second: 5.0,
            burst: 50,
            per_source_per_second: 1.0,
            per_source_burst: 10,
            summary_interval: Duration::from_secs(10),
            max_sources: 4096,
        }
    }
}

impl RefusalBudget {
    /// Checks the bounds; the message names the field.
    pub fn check(&self) -> Result<(), String> {
        let rate = |name: &str, v: f64| {
            if v.is_finite() && (0.0..=10_000.0).contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "[audit] {name} must be between 0 and 10000, not {v}"
                ))
            }
        };
        rate("refusals_per_second", self.per_second)?;
        rate("refusals_per_source_per_second", self.per_source_per_second)?;
        if !(1..=1_000_000).contains(&self.burst) {
            return Err(format!(
                "[audit] refusal_burst must be between 1 and 1000000, not {}",
                self.burst
            ));
        }
        if !(1..=1_000_000).contains(&self.per_source_burst) {
            return Err(format!(
                "[audit] refusal_burst_per_source must be between 1 and 1000000, not {}",
                self.per_source_burst
            ));
        }
        let ms = self.summary_interval.as_millis();
        if !(100..=86_400_000).contains(&ms) {
            return Err(format!(
                "[audit] refusal_summary_interval_ms must be between 100 and 86400000, not {ms}"
            ));
        }
        if !(1..=1_000_000).contains(&self.max_sources) {
            return Err(format!(
                "[audit] refusal_max_sources must be between 1 and 1000000, not {}",
                self.max_sources
            ));
        }
        Ok(())
    }

    /// The most bytes refusals can add to the log in `elapsed` from any start, whatever
    /// arrives: the global bucket's burst and refill, one summary per interval and one more
    /// (the close), each costing at most [`RECORD_COST_MAX_BYTES`]. With the defaults:
    /// 51 KiB + 5.1 KiB/s (at most 441 MiB a day under a sustained flood from at least five
    /// addresses; about a third of that with typical record sizes).
    pub fn max_bytes(&self, elapsed: Duration) -> u64 {
        let secs = elapsed.as_secs_f64();
        let records = u64::from(self.burst) + (self.per_second * secs).ceil() as u64;
        let summaries = (secs / self.summary_interval.as_secs_f64()).floor() as u64 + 2;
        (records + summaries) * RECORD_COST_MAX_BYTES
    }
}

/// A refused request as a server reports it to [`super::AuditLog::refused`]. Fields longer
/// than the log keeps are cut.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefusedRequest {
    /// The request id the refusal was answered with.
    pub request_id: String,
    /// The peer's IP address.
    pub source: String,
    /// The AWS operation name, when the request named a known one.
    pub operation: Option<String>,
    /// The access key id the request presented (never a secret or signature).
    pub access_key_id: Option<String>,
    /// The authenticated principal's ARN, when the refusal came after authentication.
    pub principal: Option<String>,
    /// The AWS error code answered.
    pub error_code: String,
    /// The error message answered.
    pub error_message: String,
}

/// What became of a refusal handed to the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Recorded as an entry of its own.
    Recorded,
    /// Over budget: counted for the next summary.
    Suppressed,
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub(crate) fn cap(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

impl RefusedRequest {
    pub(crate) fn into_refusal(self, time: Timestamp) -> Refusal {
        Refusal {
            time,
            request_id: cap(&self.request_id, CAP_REQUEST_ID),
            source: cap(&self.source, CAP_SOURCE),
            operation: self.operation.map(|o| cap(&o, CAP_OPERATION)),
            access_key_id: self.access_key_id.map(|k| cap(&k, CAP_ACCESS_KEY_ID)),
            principal: self.principal.map(|p| cap(&p, CAP_PRINCIPAL)),
            error_code: cap(&self.error_code, CAP_CODE),
            error_message: cap(&self.error_message, CAP_MESSAGE),
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(burst),
            at: now,
        }
    }

    /// Refills to `now`; true if a token is there to take.
    fn refill(&mut self, burst: u32, rate: f64, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * rate).min(f64::from(burst));
        self.at = now;
        self.tokens >= 1.0
    }
}

/// The budget's state: buckets, and what was suppressed since the last summary.
pub(crate) struct Limiter {
    budget: RefusalBudget,
    global: Bucket,
    sources: HashMap<String, Bucket>,
    // Suppressed per source since `since` (at most `max_sources` sources; the rest counted
    // in `overflow`).
    suppressed: HashMap<String, u64>,
    overflow: u64,
    since: Option<(Instant, Timestamp)>,
}

impl Limiter {
    pub(crate) fn new(budget: RefusalBudget) -> Limiter {
        Limiter {
            budget,
            global: Bucket::full(budget.burst, Instant::now()),
            sources: HashMap::new(),
            suppressed: HashMap::new(),
            overflow: 0,
            since: None,
        }
    }

    /// Takes a record from the budgets of `source` and of all sources, or counts the refusal
    /// as suppressed.
    pub(crate) fn admit(&mut self, source: &str, now: Instant, time: Timestamp) -> Admission {
        let b = self.budget;
        let source = cap(source, CAP_SOURCE);
        let source = source.as_str();
        let global_ok = self.global.refill(b.burst, b.per_second, now);
        if !self.sources.contains_key(source) && self.sources.len() >= b.max_sources {
            // Forget sources whose bucket has refilled: they are as good as new.
            self.sources.retain(|_, bucket| {
                bucket.refill(b.per_source_burst, b.per_source_per_second, now);
                bucket.tokens < f64::from(b.per_source_burst)
            });
        }
        let known = self.sources.len();
        let source_ok = match self.sources.get_mut(source) {
            Some(bucket) => bucket.refill(b.per_source_burst, b.per_source_per_second, now),
            None if known < b.max_sources => {
                self.sources
                    .insert(source.to_owned(), Bucket::full(b.per_source_burst, now));
                true
            }
            None => false,
        };
        if global_ok && source_ok {
            self.global.tokens -= 1.0;
            if let Some(bucket) = self.sources.get_mut(source) {
                bucket.tokens -= 1.0;
            }
            return Admission::Recorded;
        }
        if self.since.is_none() {
            self.since = Some((now, time));
        }
        let known = self.suppressed.len();
        match self.suppressed.get_mut(source) {
            Some(n) => *n += 1,
            None if known < b.max_sources => {
                self.suppressed.insert(source.to_owned(), 1);
            }
            None => self.overflow += 1,
        }
        Admission::Suppressed
    }

    /// When the next summary is due, if refusals are waiting to be summed up.
    pub(crate) fn summary_due(&self) -> Option<Instant> {
        self.since
            .map(|(start, _)| start + self.budget.summary_interval)
    }

    /// The summary of what was suppressed, if some was and it is due at `now` (or `force`).
    pub(crate) fn take_summary(
        &mut self,
        now: Instant,
        time: Timestamp,
        force: bool,
    ) -> Option<Suppressed> {
        let due = self.summary_due()?;
        if !force && now < due {
            return None;
        }
        let (_, from) = self.since.take()?;
        let mut all: Vec<(String, u64)> = self.suppressed.drain().collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let count = all.iter().map(|(_, n)| n).sum::<u64>() + self.overflow;
        let others = all
            .iter()
            .skip(SUMMARY_SOURCES)
            .map(|(_, n)| n)
            .sum::<u64>()
            + std::mem::take(&mut self.overflow);
        all.truncate(SUMMARY_SOURCES);
        Some(Suppressed {
            from,
            until: time,
            count,
            by_source: all,
            others,
        })
    }
}

#[cfg(test)]
mod tests {
    use lockbox_store::{AuditBody, AuditEntry};

    use super::*;

    #[test]
    fn the_largest_entries_fit_their_stated_bounds() {
        let long = "\u{10348}".repeat(500); // 4-byte characters, so cuts fall mid-character
        let refusal = RefusedRequest {
            request_id: long.clone(),
            source: long.clone(),
            operation: Some(long.clone()),
            access_key_id: Some(long.clone()),
            principal: Some(long.clone()),
            error_code: long.clone(),
            error_message: long.clone(),
        }
        .into_refusal(Timestamp::from_unix_millis(i64::MIN));
        let summary = Suppressed {
            from: Timestamp::from_unix_millis(i64::MIN),
            until: Timestamp::from_unix_millis(i64::MAX),
            count: u64::MAX,
            by_source: vec![(cap(&long, CAP_SOURCE), u64::MAX); SUMMARY_SOURCES],
            others: u64::MAX,
        };
        let seal = AuditBody::Seal {
            through_seq: u64::MAX,
            chain_hash: [0xff; 32],
            mac: [0xff; 32],
            at: Timestamp::from_unix_millis(i64::MIN),
        };
        let size = |body: AuditBody| {
            AuditEntry {
                seq: u64::MAX,
                prev_hash: [0xff; 32],
                body,
            }
            .encode()
            .map(|b| b.len() as u64)
        };
        let r = size(AuditBody::Refused(refusal)).unwrap();
        let s = size(AuditBody::Suppressed(summary)).unwrap();
        let z = size(seal).unwrap();
        assert!(r <= REFUSAL_ENTRY_MAX_BYTES, "refusal entry {r} bytes");
        assert!(s <= REFUSAL_ENTRY_MAX_BYTES, "summary entry {s} bytes");
        assert!(z <= SEAL_ENTRY_MAX_BYTES, "seal entry {z} bytes");
        // The bounds are not loose by more than a little.
        assert!(r > REFUSAL_ENTRY_MAX_BYTES - 128, "refusal entry {r} bytes");
    }

    #[test]
    fn cap_cuts_at_a_character_boundary() {
        assert_eq!(cap("abc", 5), "abc");
        assert_eq!(cap("abcdef", 3), "abc");
        assert_eq!(cap("aé", 2), "a"); // é is two bytes
    }

    #[test]
    fn one_source_gets_its_burst_then_its_rate_and_the_rest_is_summed_up() {
        let budget = RefusalBudget {
            per_second: 100.0,
            burst: 100,
            per_source_per_second: 1.0,
            per_source_burst: 3,
            summary_interval: Duration::from_secs(10),
            max_sources: 2,
        };
        let mut l = Limiter::new(budget);
        let t0 = Instant::now();
        let ts = Timestamp::from_unix_millis(1000);
        let got: Vec<Admission> = (0..5).map(|_| l.admit("a", t0, ts)).collect();
        assert_eq!(
            got,
            [
                Admission::Recorded,
                Admission::Recorded,
                Admission::Recorded,
                Admission::Suppressed,
                Admission::Suppressed
            ]
        );
        // Another source has its own budget.
        assert_eq!(l.admit("b", t0, ts), Admission::Recorded);
        // A third, beyond max_sources while both are active: suppressed, counted.
        assert_eq!(l.admit("c", t0, ts), Admission::Suppressed);
        // One second later "a" has one more record.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(l.admit("a", t1, ts), Admission::Recorded);
        assert_eq!(l.admit("a", t1, ts), Admission::Suppressed);
        assert_eq!(l.take_summary(t1, ts, false), None, "not due yet");
        let s = l
            .take_summary(
                t0 + Duration::from_secs(10),
                Timestamp::from_unix_millis(11_000),
                false,
            )
            .unwrap();
        assert_eq!(
            (s.count, s.by_source.clone(), s.others),
            (4, vec![("a".to_owned(), 3), ("c".to_owned(), 1)], 0),
            "{s:?}"
        );
        assert_eq!((s.from, s.until), (ts, Timestamp::from_unix_millis(11_000)));
        assert_eq!(l.take_summary(t0 + Duration::from_secs(60), ts, true), None);
    }

    #[test]
    fn the_global_budget_holds_whatever_the_number_of_sources() {
        let budget = RefusalBudget {
            burst: 20,
            ..RefusalBudget::default()
        };
        let mut l = Limiter::new(budget);
        let t0 = Instant::now();
        let ts = Timestamp::from_unix_millis(0);
        let recorded = (0..1000)
            .filter(|i| {
                l.admit(&format!("10.0.{}.{}", i / 256, i % 256), t0, ts) == Admission::Recorded
            })
            .count();
        assert_eq!(recorded, 20);
        let s = l.take_summary(t0, ts, true).unwrap();
        assert_eq!(
            (s.count, s.by_source.len(), s.others),
            (980, SUMMARY_SOURCES, 972)
        );
    }
}
