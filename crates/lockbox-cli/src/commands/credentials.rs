//! `lockbox credentials create|list|delete`: the access keys `lockbox serve` accepts, in
//! `credentials.toml` in the data directory (0600). A running server reloads the file when it
//! changes, so none of these needs a restart; none opens the engine or takes the data
//! directory's lock, so they work while `serve` runs.

use std::io::IsTerminal;

use lockbox::api::Principal;
use lockbox_server::credentials::CredentialStore;
use serde::Serialize;

use crate::cli::CredentialsCommand;
use crate::error::CliError;
use crate::output::print_json;

/// The credentials file's name inside the data directory (as `serve` names it).
const CREDENTIALS_FILE: &str = "credentials.toml";

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    access_key_id: String,
    principal: String,
}

pub(crate) fn credentials(
    dir: &std::path::Path,
    command: CredentialsCommand,
) -> Result<(), CliError> {
    let path = dir.join(CREDENTIALS_FILE);
    let failed = |e: lockbox_server::credentials::CredentialError| {
        CliError::Setup(format!("{}: {e}", path.display()))
    };
    match command {
        CredentialsCommand::Create { principal } => {
            let principal = Principal::parse(&principal)
                .map_err(|e| CliError::param("--principal", e.message().to_owned()))?;
            if !dir.join(lockbox::CONFIG_FILE).exists() {
                return Err(CliError::Setup(format!(
                    "{} is not a Lockbox data directory (no {}): set LOCKBOX_HOME",
                    dir.display(),
                    lockbox::CONFIG_FILE
                )));
            }
            let new = CredentialStore::create(&path, &principal).map_err(failed)?;
            // The secret is shown once, and only to a terminal (as `serve` does); to a pipe,
            // where it is read from is named instead.
            let shown = if std::io::stdout().is_terminal() {
                zeroize::Zeroizing::new(new.secret().expose_secret().to_owned())
            } else {
                zeroize::Zeroizing::new(format!("<secret_access_key in {}>", path.display()))
            };
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Created<'a> {
                access_key_id: &'a str,
                secret_access_key: &'a str,
                principal: &'a str,
            }
            print_json(&Created {
                access_key_id: new.access_key_id(),
                secret_access_key: &shown,
                principal: new.principal().arn(),
            })
        }
        CredentialsCommand::List => {
            let entries: Vec<Entry> = CredentialStore::list(&path)
                .map_err(failed)?
                .into_iter()
                .map(|(access_key_id, p)| Entry {
                    access_key_id,
                    principal: p.arn().to_owned(),
                })
                .collect();
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Out {
                credentials: Vec<Entry>,
            }
            print_json(&Out {
                credentials: entries,
            })
        }
        CredentialsCommand::Delete { access_key_id } => {
            if CredentialStore::delete(&path, &access_key_id).map_err(failed)? {
                Ok(())
            } else {
                Err(CliError::param(
                    "--access-key-id",
                    format!("no credential {access_key_id} in {}", path.display()),
                ))
            }
        }
    }
}
