//! doctor: names every known crash state of the data directory and what to do about it;
//! `--repair` makes the safe repairs and refuses the unsafe ones, saying why.
//!
//! Order matters: it looks (under the data directory's lock) before anything repairs,
//! because opening an engine repairs the safe start-up states by itself. Without
//! `--repair` it then stops if it found any; with it, it tightens modes and opens the engine
//! (which restores the token's root file, removes incomplete snapshots and refreshes the
//! copy), checks that each state is gone, and reconciles the token with the records.

use std::path::Path;

use lockbox::checkup::{self, Finding};
use lockbox::lock::DataDirLock;
use lockbox::token::softhsm::root::{CopyState, ROOT_FILE, RootState};
use lockbox::{Config, Engine, KeySpecSupport, ReconcileReport};
use serde_json::{Value, json};

use crate::cli::DoctorArgs;
use crate::commands::upkeep::count;
use crate::error::CliError;
use crate::output::{date, print_json, print_text};

/// The report: one line per finding, prefixes aligned, and a last line that starts with
/// `OK:` or `PROBLEMS:`. Scripts may rely on those prefixes. With `--json`, the same as one
/// JSON object (see [`Report::json`]).
#[derive(Default)]
struct Report {
    lines: Vec<String>,
    // What remains wrong, in words, for the last line.
    problems: Vec<String>,
    repaired: usize,
    json: bool,
    // Once the engine opened: the token's label and library, and the key specs it serves.
    token: Option<(String, String)>,
    specs: Vec<KeySpecSupport>,
}

impl Report {
    fn problem(&mut self, line: String, summary: impl Into<String>) {
        self.lines.push(line);
        self.problems.push(summary.into());
    }

    fn finish(mut self) -> Result<(), CliError> {
        if self.problems.is_empty() {
            let repaired = match self.repaired {
                0 => String::new(),
                n => format!("{} repaired; ", count(n, "state", "states")),
            };
            self.lines.push(format!(
                "OK: {repaired}every record has its material and no orphans remain."
            ));
        } else {
            self.lines.push(format!(
                "PROBLEMS: {}.",
                summarize(&self.problems).join(", ")
            ));
        }
        if self.json {
            print_json(&self.json())?;
        } else {
            let mut text = self.lines.join("\n");
            text.push('\n');
            print_text(&text)?;
        }
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(CliError::Problems(
                "doctor found problems (listed on standard output)".into(),
            ))
        }
    }
}

impl Report {
    /// The report as JSON: `Ok` (no problems), `Summary` (the last line), `Problems` (their
    /// summaries), `Lines` (every line of the human report, the last included), and once the
    /// engine opened, `Token` (`Label`, `Library`) and `KeySpecs`: one entry per key spec and
    /// usage Lockbox serves, `Supported`, and for one the token cannot serve, `Missing` (the
    /// mechanism or curve) and `Message` (CreateKey's refusal).
    fn json(&self) -> Value {
        let mut out = json!({
            "Ok": self.problems.is_empty(),
            "Summary": self.lines.last(),
            "Problems": summarize(&self.problems),
            "Lines": self.lines,
        });
        if let Some((label, library)) = &self.token {
            out["Token"] = json!({"Label": label, "Library": library});
            out["KeySpecs"] = self
                .specs
                .iter()
                .map(|s| {
                    let mut v = json!({
                        "KeySpec": s.spec.as_str(),
                        "KeyUsage": s.usage.as_str(),
                        "Supported": s.missing.is_none(),
                    });
                    if let (Some(m), Some(refusal)) = (&s.missing, &s.refusal) {
                        v["Missing"] = json!(m.to_string());
                        v["Message"] = json!(refusal);
                    }
                    v
                })
                .collect();
        }
        out
    }
}

pub(crate) fn doctor(dir: &Path, args: DoctorArgs) -> Result<(), CliError> {
    let repair = args.repair;
    let mut report = Report {
        json: args.json,
        ..Report::default()
    };
    let half = checkup::half_provisioned(dir);
    if !half.is_empty() {
        report.problem(
            format!(
                "PROVISION {}: a provisioning was interrupted ({} present, no lockbox.toml); no \
                 key can exist in it yet: remove the directory and run any lockbox command to \
                 provision it again{}",
                dir.display(),
                half.join(", "),
                if repair {
                    "; --repair does not remove a directory"
                } else {
                    ""
                }
            ),
            "half-finished provisioning",
        );
        return report.finish();
    }
    // Provisions a directory that holds nothing yet (as every command does), and may
    // re-execute this command with SOFTHSM2_CONF set: nothing is printed before this.
    let (config, _) = Config::load_or_provision(dir)?;
    let lock = match DataDirLock::acquire(dir) {
        Ok(lock) => lock,
        Err(e @ lockbox::Error::InUse { .. }) => {
            in_use(&mut report, &e);
            return report.finish();
        }
        Err(e) => return Err(e.into()),
    };
    if dir.join(lockbox::backup::RESTORE_JOURNAL).exists() {
        report.problem(
            format!(
                "RESTORE  {}: a restore was interrupted ({} present); the directory opens \
                 again once it is finished: run lockbox restore (without a backup) to finish \
                 it{}",
                dir.display(),
                lockbox::backup::RESTORE_JOURNAL,
                if repair {
                    "; --repair leaves that to restore"
                } else {
                    ""
                }
            ),
            "interrupted restore",
        );
        return report.finish();
    }
    let findings = checkup::diagnose(&config)?;
    for f in &findings {
        report.lines.push(describe(f));
    }
    let unsafe_states: Vec<&Finding> = findings.iter().filter(|f| !f.safe_to_repair()).collect();
    if !findings.is_empty() && (!repair || !unsafe_states.is_empty()) {
        for f in &findings {
            report.problems.push(summary(f).into());
        }
        report.lines.push(if unsafe_states.is_empty() {
            "ENGINE   not opened: opening repairs the states above; run lockbox doctor --repair"
                .to_owned()
        } else {
            "ENGINE   not opened: --repair makes no repair while a state above needs a backup \
             restored or a person to look"
                .to_owned()
        });
        return report.finish();
    }
    checkup::tighten(&findings)?;
    drop(lock);
    let engine = match Engine::open(config.clone()) {
        Ok(e) => e,
        Err(e) => {
            open_failed(&mut report, &e);
            return report.finish();
        }
    };
    // What is still there after the repairs the open made.
    let after = checkup::diagnose(&config)?;
    for f in &findings {
        if after.contains(f) {
            report.problem(
                format!("FAILED   still found after the repair: {}", describe(f)),
                summary(f),
            );
        } else {
            report.lines.push(repaired(f));
            report.repaired += 1;
        }
    }
    reconcile(&engine, repair, true, &mut report)?;
    report.finish()
}

/// doctor on the engine of a running server (through its admin socket): the server's open
/// checked and repaired the start-up states under the directory's lock, which it still
/// holds; what is left to look at is the engine-level findings, as a local run lists them.
pub(crate) fn doctor_served(engine: &Engine, args: DoctorArgs) -> Result<(), CliError> {
    let mut report = Report {
        json: args.json,
        ..Report::default()
    };
    reconcile(engine, args.repair, false, &mut report)?;
    report.finish()
}

/// The engine-level findings: what reconciliation finished, what is missing, the orphans.
/// `at_open`: include what the engine's opening finished and destroyed (false for a
/// server's engine, whose opening was no command's).
fn reconcile(
    kms: &Engine,
    repair: bool,
    at_open: bool,
    report: &mut Report,
) -> Result<(), CliError> {
    let mut r = kms
        .reconcile()
        .map_err(|e| CliError::Setup(format!("reconciliation: {e}")))?;
    // Opening the engine already reconciled: what it finished or destroyed then is part of
    // the story (what it merely found, this pass finds again).
    if let (true, Ok(at_open)) = (at_open, &kms.open_report().reconciliation) {
        let mut finished = at_open.finished_deletions.clone();
        finished.append(&mut r.finished_deletions);
        r.finished_deletions = finished;
        let mut orphans: Vec<_> = at_open
            .orphans
            .iter()
            .filter(|o| o.destroyed)
            .cloned()
            .collect();
        orphans.append(&mut r.orphans);
        r.orphans = orphans;
    }
    let d = kms.token().description();
    let specs = lockbox::key_spec_support(kms.token().capabilities());
    engine_lines(&d.label, &d.library, &specs, &r, repair, report);
    Ok(())
}

fn engine_lines(
    label: &str,
    library: &str,
    specs: &[KeySpecSupport],
    r: &ReconcileReport,
    repair: bool,
    report: &mut Report,
) {
    let mut head = vec![format!("Token: {label} ({library})")];
    head.append(&mut spec_lines(specs));
    head.push(format!(
        "Keys: {}, {}",
        count(r.keys, "record", "records"),
        count(r.objects, "token object", "token objects")
    ));
    head.append(&mut report.lines);
    report.lines = head;
    report.token = Some((label.to_owned(), library.to_owned()));
    report.specs = specs.to_vec();
    for id in &r.finished_deletions {
        report.lines.push(format!(
            "DELETED  key {id}: finished a deletion that had been interrupted"
        ));
    }
    for m in &r.missing {
        report.lines.push(format!(
            "MISSING  key {} version {}: the record names token object {} that the token does \
             not hold; the key answers KeyUnavailableException for it: restore the token from \
             a backup that holds it (--repair cannot recreate key material)",
            m.key, m.version, m.object
        ));
    }
    if !r.missing.is_empty() {
        report.problems.push(format!(
            "{} missing from the token",
            count(r.missing.len(), "material version", "material versions")
        ));
    }
    for o in &r.orphans {
        let fate = if o.destroyed {
            "destroyed".to_owned()
        } else if repair {
            format!(
                "will be destroyed after {}; --repair does not destroy it sooner: until then a \
                 restored metadata backup may still claim it",
                date(o.destroy_after)
            )
        } else {
            format!("will be destroyed after {}", date(o.destroy_after))
        };
        report.lines.push(format!(
            "ORPHAN   {} ({}): first seen {}, {fate}",
            o.label,
            o.object,
            date(o.first_seen)
        ));
    }
    let waiting = r.orphans.iter().filter(|o| !o.destroyed).count();
    if waiting > 0 {
        report.problems.push(format!(
            "{} awaiting destruction",
            count(waiting, "orphan", "orphans")
        ));
    }
}

/// The key specs the token serves on one line (a spec the token serves for some of its
/// usages only names them), then one `SPEC` line per spec and usage it cannot serve, with
/// what it lacks. Not a problem: CreateKey refuses those, and every other key works.
fn spec_lines(specs: &[KeySpecSupport]) -> Vec<String> {
    let mut served: Vec<String> = Vec::new();
    let mut seen: Vec<lockbox::api::KeySpec> = Vec::new();
    for s in specs {
        if seen.contains(&s.spec) {
            continue;
        }
        seen.push(s.spec);
        let of_spec: Vec<&KeySpecSupport> = specs.iter().filter(|o| o.spec == s.spec).collect();
        let usable: Vec<&str> = of_spec
            .iter()
            .filter(|o| o.missing.is_none())
            .map(|o| o.usage.as_str())
            .collect();
        if usable.len() == of_spec.len() {
            served.push(s.spec.as_str().to_owned());
        } else if !usable.is_empty() {
            served.push(format!("{} ({} only)", s.spec, usable.join(", ")));
        }
    }
    let mut lines = vec![format!(
        "Key specs: {}",
        if served.is_empty() {
            "none".to_owned()
        } else {
            served.join(", ")
        }
    )];
    for s in specs {
        if let Some(missing) = &s.missing {
            lines.push(format!(
                "SPEC     {} with {}: this token lacks {missing}; CreateKey refuses it \
                 (UnsupportedOperationException)",
                s.spec, s.usage
            ));
        }
    }
    lines
}

fn in_use(report: &mut Report, e: &lockbox::Error) {
    report.problem(
        format!(
            "IN USE   {e}: stop it first; doctor neither checks nor repairs a directory in use"
        ),
        "data directory in use",
    );
}

fn open_failed(report: &mut Report, e: &lockbox::Error) {
    match e {
        lockbox::Error::InUse { .. } => in_use(report, e),
        lockbox::Error::Store(lockbox::StoreError::InUse(_)) => in_use(report, e),
        lockbox::Error::Store(s) => report.problem(
            format!(
                "STORE    the metadata store cannot be opened ({s}): restore metadata/ from a \
                 backup (lockbox restore); --repair cannot fix this"
            ),
            "metadata store cannot be opened",
        ),
        lockbox::Error::Token(t) => report.problem(
            format!(
                "TOKEN    the token cannot be opened ({t}): check lockbox.toml, the PIN and the \
                 token; --repair cannot fix this"
            ),
            "token cannot be opened",
        ),
        other => report.problem(
            format!("ENGINE   cannot be opened ({other})"),
            "engine cannot be opened",
        ),
    }
}

/// The line that names a start-up state and its fix.
fn describe(f: &Finding) -> String {
    const LATER: &str =
        "run lockbox doctor --repair (it copies the file once a login proves it good)";
    match f {
        Finding::RootBroken { dir, root, copy } => {
            let file = dir.join(ROOT_FILE);
            let what = match root {
                RootState::Short { len: 0 } => "is empty".to_owned(),
                RootState::Short { len } => format!("is cut short at {len} bytes"),
                _ => "is missing".to_owned(),
            };
            match copy {
                CopyState::Current | CopyState::Stale => format!(
                    "ROOT     token root file {} {what} (a kill while SoftHSM rewrote it at login): \
                     run lockbox doctor --repair to restore its verified copy",
                    file.display()
                ),
                CopyState::Missing | CopyState::Incomplete => format!(
                    "ROOT     token root file {} {what} (a kill while SoftHSM rewrote it at login) \
                     and {}: restore {} from a backup; --repair cannot (the token key is lost \
                     with the file)",
                    file.display(),
                    if *copy == CopyState::Missing {
                        "there is no copy of it"
                    } else {
                        "its copy is incomplete"
                    },
                    dir.display()
                ),
            }
        }
        Finding::RootUnrecognized { file, reason } => format!(
            "ROOT     token root file {} is in a layout Lockbox does not know ({reason}): check \
             the SoftHSM version; --repair leaves it alone",
            file.display()
        ),
        Finding::CopyNotCurrent { dir, copy } => {
            let file = dir.join(ROOT_FILE);
            match copy {
                CopyState::Stale => format!(
                    "COPY     the verified copy of {} is stale (a PIN changed by another tool): \
                     {LATER}",
                    file.display()
                ),
                CopyState::Incomplete => format!(
                    "COPY     the verified copy of {} is incomplete: {LATER}",
                    file.display()
                ),
                _ => format!(
                    "COPY     token root file {} has no verified copy: {LATER}",
                    file.display()
                ),
            }
        }
        Finding::IncompleteSnapshot { file } => format!(
            "SNAPSHOT {} is an incomplete sled snapshot (a kill while sled wrote it; sled cannot \
             open the store with it): run lockbox doctor --repair to remove it (complete \
             snapshots are kept)",
            file.display()
        ),
        Finding::Mode { path, mode, dir } => format!(
            "MODE     {} is a {} of mode {mode:04o}, open to others: run lockbox doctor --repair \
             to make it {:04o}",
            path.display(),
            if *dir { "directory" } else { "file" },
            mode & 0o700,
        ),
    }
}

/// The line that says a state was repaired.
fn repaired(f: &Finding) -> String {
    match f {
        Finding::RootBroken { dir, .. } => format!(
            "REPAIRED restored token root file {} from its verified copy",
            dir.join(ROOT_FILE).display()
        ),
        Finding::CopyNotCurrent { dir, .. } => format!(
            "REPAIRED copied token root file {} to its verified copy after a login",
            dir.join(ROOT_FILE).display()
        ),
        Finding::IncompleteSnapshot { file } => {
            format!(
                "REPAIRED removed incomplete sled snapshot {}",
                file.display()
            )
        }
        Finding::Mode { path, mode, .. } => {
            format!("REPAIRED {} is now {:04o}", path.display(), mode & 0o700)
        }
        Finding::RootUnrecognized { file, .. } => {
            format!("REPAIRED token root file {} now parses", file.display())
        }
    }
}

/// The words for the last line.
fn summary(f: &Finding) -> &'static str {
    match f {
        Finding::RootBroken { copy, .. } => match copy {
            CopyState::Current | CopyState::Stale => "token root file cut short",
            _ => "token root file cut short without a copy",
        },
        Finding::RootUnrecognized { .. } => "token root file in an unknown layout",
        Finding::CopyNotCurrent { .. } => "copy of the token root file not current",
        Finding::IncompleteSnapshot { .. } => "incomplete sled snapshot",
        Finding::Mode { .. } => "path open to others",
    }
}

/// "2 incomplete sled snapshot(s)": equal summaries counted once, in order of first mention.
fn summarize(problems: &[String]) -> Vec<String> {
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for p in problems {
        match seen.iter_mut().find(|(s, _)| *s == p) {
            Some((_, n)) => *n += 1,
            None => seen.push((p, 1)),
        }
    }
    seen.into_iter()
        .map(|(s, n)| {
            if n == 1 {
                s.to_owned()
            } else {
                format!("{s} ({n})")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use lockbox::api::{KeyId, Timestamp};
    use lockbox::token::{Capabilities, Curve, KeySizes, Mech, ObjectId};
    use lockbox::{MissingMaterial, Orphan};

    use super::*;

    const ALL_CURVES: [Curve; 4] = [Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1];

    /// What a token with every mechanism and curve serves.
    fn every_spec() -> Vec<KeySpecSupport> {
        let caps = Capabilities::from_parts(
            Mech::ALL.map(|m| (m, KeySizes { min: 0, max: 0 })),
            ALL_CURVES,
        );
        lockbox::key_spec_support(&caps)
    }

    const EVERY_SPEC: &str = "Key specs: SYMMETRIC_DEFAULT, RSA_2048, RSA_3072, RSA_4096, \
                              ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, \
                              HMAC_224, HMAC_256, HMAC_384, HMAC_512";

    fn key(n: u8) -> KeyId {
        KeyId::from_bytes([n; 16])
    }

    fn text(label: &str, library: &str, r: &ReconcileReport, repair: bool) -> (String, bool) {
        let mut report = Report::default();
        engine_lines(label, library, &every_spec(), r, repair, &mut report);
        let problems = !report.problems.is_empty();
        let mut lines = report.lines;
        lines.push(if problems {
            format!("PROBLEMS: {}.", summarize(&report.problems).join(", "))
        } else {
            "OK: every record has its material and no orphans remain.".into()
        });
        (lines.join("\n") + "\n", problems)
    }

    #[test]
    fn a_clean_report() {
        let r = ReconcileReport {
            objects: 3,
            keys: 1,
            ..ReconcileReport::default()
        };
        assert_eq!(
            text("lockbox", "SoftHSM 2.6", &r, false),
            (
                format!(
                    "Token: lockbox (SoftHSM 2.6)\n\
                     {EVERY_SPEC}\n\
                     Keys: 1 record, 3 token objects\n\
                     OK: every record has its material and no orphans remain.\n"
                ),
                false
            )
        );
    }

    #[test]
    fn a_report_with_every_kind_of_finding() {
        let orphan = |n: u8, label: &str, destroyed| Orphan {
            object: ObjectId::from_bytes([n; 16]),
            label: label.into(),
            first_seen: Timestamp::from_unix_millis(1_735_689_600_000),
            destroy_after: Timestamp::from_unix_millis(1_735_776_000_000),
            destroyed,
        };
        let r = ReconcileReport {
            objects: 2,
            keys: 2,
            finished_deletions: vec![key(1)],
            missing: vec![MissingMaterial {
                key: key(2),
                version: 3,
                object: ObjectId::from_bytes([0xab; 16]),
            }],
            orphans: vec![
                orphan(1, "lockbox/old", true),
                orphan(2, "lockbox/new", false),
            ],
        };
        let (k1, k2) = (key(1), key(2));
        let common = format!(
            "Token: t (lib)\n\
             {EVERY_SPEC}\n\
             Keys: 2 records, 2 token objects\n\
             DELETED  key {k1}: finished a deletion that had been interrupted\n\
             MISSING  key {k2} version 3: the record names token object \
             abababababababababababababababab that the token does not hold; the key \
             answers KeyUnavailableException for it: restore the token from a backup that \
             holds it (--repair cannot recreate key material)\n\
             ORPHAN   lockbox/old (01010101010101010101010101010101): first seen \
             2025-01-01T00:00:00.000000+00:00, destroyed\n\
             ORPHAN   lockbox/new (02020202020202020202020202020202): first seen \
             2025-01-01T00:00:00.000000+00:00, will be destroyed after \
             2025-01-02T00:00:00.000000+00:00"
        );
        let last = "PROBLEMS: 1 material version missing from the token, 1 orphan awaiting \
                    destruction.\n";
        assert_eq!(
            text("t", "lib", &r, false),
            (format!("{common}\n{last}"), true)
        );
        assert_eq!(
            text("t", "lib", &r, true),
            (
                format!(
                    "{common}; --repair does not destroy it sooner: until then a restored \
                     metadata backup may still claim it\n{last}"
                ),
                true
            )
        );
        // A destroyed orphan alone is not a problem.
        let tidy = ReconcileReport {
            missing: Vec::new(),
            orphans: r.orphans[..1].to_vec(),
            ..r
        };
        assert!(
            text("t", "lib", &tidy, false)
                .0
                .ends_with("OK: every record has its material and no orphans remain.\n")
        );
    }

    #[test]
    fn specs_the_token_cannot_serve_are_named_with_what_it_lacks_and_are_no_problem() {
        // A token without secp256k1 and without ECDH, as some HSMs are.
        let caps = Capabilities::from_parts(
            Mech::ALL.map(|m| (m, KeySizes { min: 0, max: 0 })),
            ALL_CURVES,
        )
        .without_curve(Curve::Secp256k1)
        .without(Mech::Ecdh1Derive);
        let specs = lockbox::key_spec_support(&caps);
        let r = ReconcileReport::default();
        let mut report = Report {
            json: true,
            ..Report::default()
        };
        engine_lines("hsm", "lib", &specs, &r, false, &mut report);
        assert_eq!(
            report.lines,
            [
                "Token: hsm (lib)",
                "Key specs: SYMMETRIC_DEFAULT, RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256 \
                 (SIGN_VERIFY only), ECC_NIST_P384 (SIGN_VERIFY only), ECC_NIST_P521 \
                 (SIGN_VERIFY only), HMAC_224, HMAC_256, HMAC_384, HMAC_512",
                "SPEC     ECC_NIST_P256 with KEY_AGREEMENT: this token lacks CKM_ECDH1_DERIVE; \
                 CreateKey refuses it (UnsupportedOperationException)",
                "SPEC     ECC_NIST_P384 with KEY_AGREEMENT: this token lacks CKM_ECDH1_DERIVE; \
                 CreateKey refuses it (UnsupportedOperationException)",
                "SPEC     ECC_NIST_P521 with KEY_AGREEMENT: this token lacks CKM_ECDH1_DERIVE; \
                 CreateKey refuses it (UnsupportedOperationException)",
                "SPEC     ECC_SECG_P256K1 with SIGN_VERIFY: this token lacks the curve secp256k1 \
                 (CKM_EC_KEY_PAIR_GEN); CreateKey refuses it (UnsupportedOperationException)",
                "Keys: 0 records, 0 token objects",
            ]
        );
        assert!(report.problems.is_empty());
        report
            .lines
            .push("OK: every record has its material and no orphans remain.".into());
        let j = report.json();
        assert_eq!(j["Ok"], true);
        assert_eq!(j["Token"], json!({"Label": "hsm", "Library": "lib"}));
        let listed = j["KeySpecs"].as_array().unwrap();
        assert_eq!(listed.len(), 18);
        assert_eq!(
            listed[0],
            json!({"KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT", "Supported": true})
        );
        let k1 = listed
            .iter()
            .find(|v| v["KeySpec"] == "ECC_SECG_P256K1")
            .unwrap();
        assert_eq!(
            *k1,
            json!({
                "KeySpec": "ECC_SECG_P256K1", "KeyUsage": "SIGN_VERIFY", "Supported": false,
                "Missing": "the curve secp256k1 (CKM_EC_KEY_PAIR_GEN)",
                "Message": "KeySpec ECC_SECG_P256K1 needs the curve secp256k1 \
                            (CKM_EC_KEY_PAIR_GEN), which this token does not support."
            })
        );
        assert_eq!(listed.iter().filter(|v| v["Supported"] == false).count(), 4);
        assert_eq!(
            j["Summary"],
            "OK: every record has its material and no orphans remain."
        );
        assert_eq!(j["Lines"].as_array().unwrap().len(), 8);
    }

    #[test]
    fn equal_summaries_are_counted() {
        let p = |s: &str| s.to_owned();
        assert_eq!(
            summarize(&[p("a"), p("b"), p("a")]),
            vec![p("a (2)"), p("b")]
        );
    }
}
