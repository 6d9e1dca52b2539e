//! backup and restore: a consistent copy of the data directory, and putting one back.

use std::path::Path;

use lockbox::BackupOptions;
use lockbox::backup::{self, RestoreOutcome};
use lockbox_server::admin::{self, AdminRequest, AdminResponse};
use serde::Serialize;

use crate::cli::{BackupArgs, RestoreArgs};
use crate::error::CliError;
use crate::home;
use crate::output::{print_json, print_text};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BackupOut {
    backup: String,
    created: String,
    keys: u64,
    audit_records: u64,
    soft_hsm_token: bool,
    pins: bool,
    credentials: bool,
    files: usize,
}

pub(crate) fn backup(data_dir: &Path, args: BackupArgs) -> Result<(), CliError> {
    let dest = std::path::absolute(&args.dest)
        .map_err(|e| CliError::Setup(format!("cannot resolve {}: {e}", args.dest.display())))?;
    let options = BackupOptions {
        include_pins: args.include_pins,
        include_credentials: args.include_credentials,
    };
    // A running `lockbox serve` holds the directory: ask it, through its admin socket.
    let request = AdminRequest::Backup {
        dest: dest.clone(),
        include_pins: options.include_pins,
        include_credentials: options.include_credentials,
    };
    let manifest = match admin::call(&data_dir.join(admin::ADMIN_SOCKET), &request)
        .map_err(CliError::Setup)?
    {
        Some(AdminResponse::Manifest(m)) => *m,
        Some(AdminResponse::Error(e)) => {
            return Err(CliError::Setup(format!("the running server: {e}")));
        }
        Some(_) => {
            return Err(CliError::Setup(
                "the running server answered another request".into(),
            ));
        }
        None => home::open_engine(data_dir)?.backup(&dest, options)?,
    };
    print_json(&BackupOut {
        backup: dest.display().to_string(),
        created: manifest.created,
        keys: manifest.keys,
        audit_records: manifest.audit_next_seq,
        soft_hsm_token: manifest.softhsm_token,
        pins: manifest.pins,
        credentials: manifest.credentials,
        files: manifest.files.len() + 1,
    })
}

pub(crate) fn restore(data_dir: &Path, args: RestoreArgs) -> Result<(), CliError> {
    // The token module reads SOFTHSM2_CONF once: set it (re-executing if need be) for the
    // token configuration the directory will have after the restore.
    if let Some(conf) = backup::restore_softhsm_conf(data_dir, args.src.as_deref())? {
        lockbox::token::softhsm::ensure_conf_env(&conf).map_err(lockbox::Error::from)?;
    }
    match backup::restore(data_dir, args.src.as_deref(), args.accept_rollback, None)? {
        RestoreOutcome::Refused(report) => {
            print_text(&report.to_string())?;
            Err(CliError::Problems(
                "nothing was changed; give --accept-rollback to restore and accept this rollback"
                    .into(),
            ))
        }
        RestoreOutcome::Restored {
            report,
            previous,
            superseded_mark,
        } => {
            print_text(&report.to_string())?;
            print_text(&done(data_dir, &previous, superseded_mark))
        }
        RestoreOutcome::Finished {
            backup,
            previous,
            superseded_mark,
        } => {
            print_text(&format!("Finished an interrupted restore of {backup}.\n"))?;
            print_text(&done(data_dir, &previous, superseded_mark))?;
            match args.src {
                Some(src) if std::path::absolute(&src).ok() != Some(backup.into()) => {
                    Err(CliError::Problems(format!(
                        "{} was not restored: run `lockbox restore` again to restore it",
                        src.display()
                    )))
                }
                _ => Ok(()),
            }
        }
    }
}

fn done(data_dir: &Path, previous: &Path, superseded_mark: Option<u64>) -> String {
    let mut text = if previous.exists() {
        format!(
            "Restored {}. The replaced files are in {}: delete it when you no longer need \
             them.\n",
            data_dir.display(),
            previous.display()
        )
    } else {
        format!(
            "Restored {}. It held nothing the backup replaced.\n",
            data_dir.display()
        )
    };
    if let Some(seq) = superseded_mark {
        text.push_str(&format!(
            "The audit log records the accepted rollback (the token's mark at seq {seq} is \
             superseded); `lockbox audit verify` passes.\n"
        ));
    }
    text
}
