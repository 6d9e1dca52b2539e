//! maintain: runs the work that keeps keys healthy over time (rotations and deletions that
//! are due). Prints its report in full and then exits 1 if some of it failed.

use lockbox::{Engine, MaintenanceReport};
use serde::Serialize;

use crate::error::CliError;
use crate::output::print_json;

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
    expired: Vec<String>,
    failed: Vec<FailedOut>,
}

/// `at_open`: include what the pass at the engine's opening did (false for a server's
/// engine, whose opening pass was no command's).
pub(crate) fn maintain(kms: &Engine, at_open: bool) -> Result<(), CliError> {
    let mut report = kms
        .maintain()
        .map_err(|e| CliError::Setup(format!("maintenance: {e}")))?;
    // Opening the engine already ran a pass; what it did is part of this command's work.
    if let (true, Ok(at_open)) = (at_open, &kms.open_report().maintenance) {
        let mut done = at_open.clone();
        done.rotated.append(&mut report.rotated);
        done.deleted.append(&mut report.deleted);
        done.expired.append(&mut report.expired);
        report.rotated = done.rotated;
        report.deleted = done.deleted;
        report.expired = done.expired;
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
        expired: report.expired.iter().map(ToString::to_string).collect(),
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

pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use lockbox::api::{KeyId, KmsError};

    use super::*;

    fn key(n: u8) -> KeyId {
        KeyId::from_bytes([n; 16])
    }

    #[test]
    fn the_maintenance_report_as_json() {
        let report = MaintenanceReport {
            rotated: vec![(key(1), 4)],
            deleted: vec![key(2)],
            expired: vec![key(4)],
            failed: vec![(key(3), KmsError::internal("The token is gone."))],
        };
        assert_eq!(
            serde_json::to_value(maintain_out(&report)).unwrap(),
            serde_json::json!({
                "Rotated": [{"KeyId": key(1).to_string(), "Version": 4}],
                "Deleted": [key(2).to_string()],
                "Expired": [key(4).to_string()],
                "Failed": [{
                    "KeyId": key(3).to_string(),
                    "Error": "KMSInternalException: The token is gone."
                }],
            })
        );
        assert_eq!(
            serde_json::to_value(maintain_out(&MaintenanceReport::default())).unwrap(),
            serde_json::json!({"Rotated": [], "Deleted": [], "Expired": [], "Failed": []})
        );
    }
}
