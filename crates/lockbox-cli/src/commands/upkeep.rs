//! maintain and doctor: Lockbox's own commands for the work that keeps keys healthy over
//! time. Both print their report in full and then exit 1 if it shows something wrong.

use lockbox::{Engine, MaintenanceReport, ReconcileReport};
use serde::Serialize;

use crate::error::CliError;
use crate::output::{date, print_json, print_text};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RotatedOut {
    key_id: String,
    version: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct FailedOut {
    key_id: String,
    /// `ExceptionName: message`, as the error line of a failed command names it.
    error: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MaintainOut {
    rotated: Vec<RotatedOut>,
    deleted: Vec<String>,
    failed: Vec<FailedOut>,
}

pub(crate) fn maintain(kms: &Engine) -> Result<(), CliError> {
    let mut report = kms
        .maintain()
        .map_err(|e| CliError::Setup(format!("maintenance: {e}")))?;
    // Opening the engine already ran a pass; what it did is part of this command's work.
    if let Ok(at_open) = &kms.open_report().maintenance {
        let mut done = at_open.clone();
        done.rotated.append(&mut report.rotated);
        done.deleted.append(&mut report.deleted);
        report.rotated = done.rotated;
        report.deleted = done.deleted;
    }
    print_json(&maintain_out(&report))?;
    if !report.failed.is_empty() {
        return Err(CliError::Problems(format!(
            "maintenance failed for {}; it is tried again on the next pass",
            count(report.failed.len(), "key", "keys")
        )));
    }
    Ok(())
}

fn maintain_out(report: &MaintenanceReport) -> MaintainOut {
    MaintainOut {
        rotated: report
            .rotated
            .iter()
            .map(|(id, version)| RotatedOut {
                key_id: id.to_string(),
                version: *version,
            })
            .collect(),
        deleted: report.deleted.iter().map(ToString::to_string).collect(),
        failed: report
            .failed
            .iter()
            .map(|(id, e)| FailedOut {
                key_id: id.to_string(),
                error: e.to_string(),
            })
            .collect(),
    }
}

pub(crate) fn doctor(kms: &Engine) -> Result<(), CliError> {
    let mut report = kms
        .reconcile()
        .map_err(|e| CliError::Setup(format!("reconciliation: {e}")))?;
    // Opening the engine already reconciled: what it finished or destroyed then is part of
    // the story (what it merely found, this pass finds again).
    if let Ok(at_open) = &kms.open_report().reconciliation {
        let mut finished = at_open.finished_deletions.clone();
        finished.append(&mut report.finished_deletions);
        report.finished_deletions = finished;
        let mut orphans: Vec<_> = at_open
            .orphans
            .iter()
            .filter(|o| o.destroyed)
            .cloned()
            .collect();
        orphans.append(&mut report.orphans);
        report.orphans = orphans;
    }
    let d = kms.token().description();
    print_text(&doctor_text(&d.label, &d.library, &report))?;
    if report.has_problems() {
        return Err(CliError::Problems(
            "doctor found problems (listed on standard output)".into(),
        ));
    }
    Ok(())
}

/// The doctor's report: one line per finding, prefixes aligned, and a last line that starts
/// with `OK:` or `PROBLEMS:`. Scripts may rely on those prefixes.
fn doctor_text(label: &str, library: &str, r: &ReconcileReport) -> String {
    let mut lines = vec![
        format!("Token: {label} ({library})"),
        format!(
            "Keys: {}, {}",
            count(r.keys, "record", "records"),
            count(r.objects, "token object", "token objects")
        ),
    ];
    for id in &r.finished_deletions {
        lines.push(format!(
            "DELETED  key {id}: finished a deletion that had been interrupted"
        ));
    }
    for m in &r.missing {
        lines.push(format!(
            "MISSING  key {} version {}: the record names token object {} that the token does \
             not hold; the key answers KeyUnavailableException for it",
            m.key, m.version, m.object
        ));
    }
    for o in &r.orphans {
        let fate = if o.destroyed {
            "destroyed".to_owned()
        } else {
            format!("will be destroyed after {}", date(o.destroy_after))
        };
        lines.push(format!(
            "ORPHAN   {} ({}): first seen {}, {fate}",
            o.label,
            o.object,
            date(o.first_seen)
        ));
    }
    let waiting = r.orphans.iter().filter(|o| !o.destroyed).count();
    if r.has_problems() {
        let mut problems = Vec::new();
        if !r.missing.is_empty() {
            problems.push(format!(
                "{} missing from the token",
                count(r.missing.len(), "material version", "material versions")
            ));
        }
        if waiting > 0 {
            problems.push(format!(
                "{} awaiting destruction",
                count(waiting, "orphan", "orphans")
            ));
        }
        lines.push(format!("PROBLEMS: {}.", problems.join(", ")));
    } else {
        lines.push("OK: every record has its material and no orphans remain.".into());
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use lockbox::api::{KeyId, KmsError, Timestamp};
    use lockbox::token::ObjectId;
    use lockbox::{MissingMaterial, Orphan};

    use super::*;

    fn key(n: u8) -> KeyId {
        KeyId::from_bytes([n; 16])
    }

    #[test]
    fn the_maintenance_report_as_json() {
        let report = MaintenanceReport {
            rotated: vec![(key(1), 4)],
            deleted: vec![key(2)],
            failed: vec![(key(3), KmsError::internal("The token is gone."))],
        };
        assert_eq!(
            serde_json::to_value(maintain_out(&report)).unwrap(),
            serde_json::json!({
                "Rotated": [{"KeyId": key(1).to_string(), "Version": 4}],
                "Deleted": [key(2).to_string()],
                "Failed": [{
                    "KeyId": key(3).to_string(),
                    "Error": "KMSInternalException: The token is gone."
                }],
            })
        );
        assert_eq!(
            serde_json::to_value(maintain_out(&MaintenanceReport::default())).unwrap(),
            serde_json::json!({"Rotated": [], "Deleted": [], "Failed": []})
        );
    }

    #[test]
    fn a_clean_report() {
        let r = ReconcileReport {
            objects: 3,
            keys: 1,
            ..ReconcileReport::default()
        };
        assert_eq!(
            doctor_text("lockbox", "SoftHSM 2.6", &r),
            "Token: lockbox (SoftHSM 2.6)\n\
             Keys: 1 record, 3 token objects\n\
             OK: every record has its material and no orphans remain.\n"
        );
    }

    #[test]
    fn a_report_with_every_kind_of_finding() {
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
                Orphan {
                    object: ObjectId::from_bytes([0x01; 16]),
                    label: "lockbox/old".into(),
                    first_seen: Timestamp::from_unix_millis(1_735_689_600_000),
                    destroy_after: Timestamp::from_unix_millis(1_735_776_000_000),
                    destroyed: true,
                },
                Orphan {
                    object: ObjectId::from_bytes([0x02; 16]),
                    label: "lockbox/new".into(),
                    first_seen: Timestamp::from_unix_millis(1_735_689_600_000),
                    destroy_after: Timestamp::from_unix_millis(1_735_776_000_000),
                    destroyed: false,
                },
            ],
        };
        let (k1, k2) = (key(1), key(2));
        assert_eq!(
            doctor_text("t", "lib", &r),
            format!(
                "Token: t (lib)\n\
                 Keys: 2 records, 2 token objects\n\
                 DELETED  key {k1}: finished a deletion that had been interrupted\n\
                 MISSING  key {k2} version 3: the record names token object \
                 abababababababababababababababab that the token does not hold; the key \
                 answers KeyUnavailableException for it\n\
                 ORPHAN   lockbox/old (01010101010101010101010101010101): first seen \
                 2025-01-01T00:00:00.000000+00:00, destroyed\n\
                 ORPHAN   lockbox/new (02020202020202020202020202020202): first seen \
                 2025-01-01T00:00:00.000000+00:00, will be destroyed after \
                 2025-01-02T00:00:00.000000+00:00\n\
                 PROBLEMS: 1 material version missing from the token, 1 orphan awaiting \
                 destruction.\n"
            )
        );
        // A destroyed orphan alone is not a problem.
        let tidy = ReconcileReport {
            missing: Vec::new(),
            orphans: r.orphans[..1].to_vec(),
            ..r
        };
        assert!(
            doctor_text("t", "lib", &tidy)
                .ends_with("OK: every record has its material and no orphans remain.\n")
        );
    }
}
