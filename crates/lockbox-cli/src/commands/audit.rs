//! `lockbox audit export` and `lockbox audit verify`: the audit log, read without an
//! engine (they open the token and the metadata store of the data directory directly).

use std::io::Write;
use std::path::Path;

use lockbox::Config;
use lockbox::api::{Principal, Timestamp};
use lockbox::audit::{self, ExportFilter};

use crate::cli::{AuditCommand, AuditExportArgs};
use crate::error::CliError;
use crate::output::print_text;

pub(crate) fn audit(
    dir: &Path,
    command: AuditCommand,
    region: Option<&str>,
) -> Result<(), CliError> {
    let (config, _) = Config::load_or_provision(dir)?;
    let (store, token, _lock) = audit::open_parts(&config)?;
    match command {
        AuditCommand::Export(a) => {
            let caller = match std::env::var("LOCKBOX_CALLER") {
                Ok(arn) if !arn.is_empty() => Principal::parse(&arn)
                    .map_err(|e| CliError::Setup(format!("LOCKBOX_CALLER: {}", e.message())))?,
                _ => config.default_caller.clone(),
            };
            export(&config.arn, &store, a, &caller, region)
        }
        AuditCommand::Verify(a) => verify(&store, &token, a.exported.as_deref()),
        AuditCommand::Prune(a) => print_prune(
            audit::prune(
                &store,
                &token,
                &a.retention(&config.audit_retention)?,
                Timestamp::now(),
            )
            .map_err(|e| CliError::Setup(format!("audit prune: {e}")))?,
        ),
    }
}

/// `audit export` on the engine of a running server (through its admin socket), as
/// `caller` in `region`. It writes to standard output, which the socket carries back;
/// the client writes `--output` itself.
pub(crate) fn export_served(
    engine: &lockbox::Engine,
    a: AuditExportArgs,
    caller: &Principal,
    region: Option<&str>,
) -> Result<(), CliError> {
    engine
        .audit()
        .flush()
        .map_err(|e| CliError::Setup(format!("audit export: {e}")))?;
    let a = AuditExportArgs { output: None, ..a };
    export(engine.arn_scope(), engine.store(), a, caller, region)
}

fn export(
    scope: &lockbox::api::ArnScope,
    store: &audit::Store,
    a: AuditExportArgs,
    caller: &Principal,
    region: Option<&str>,
) -> Result<(), CliError> {
    let filter = ExportFilter {
        start: a
            .start_time
            .as_deref()
            .map(|t| time_param("--start-time", t))
            .transpose()?,
        end: a
            .end_time
            .as_deref()
            .map(|t| time_param("--end-time", t))
            .transpose()?,
        key: a
            .key_id
            .as_deref()
            .map(|k| export_key(scope, store, k, caller, region))
            .transpose()?,
        principal: a.principal,
    };
    let region = scope.region().to_owned();
    let failed = |e: lockbox::Error| CliError::Setup(format!("audit export: {e}"));
    match a.output {
        None => {
            let (watched, broken) = crate::pipe::Watched::new(crate::output::Stdout::lock());
            let mut out = std::io::BufWriter::new(watched);
            match audit::export(store, &filter, &region, &mut out) {
                Ok(_) => {}
                // The reader stopped reading (`| head`): not an error to print.
                Err(_) if broken.get() => return Ok(()),
                Err(e) => return Err(failed(e)),
            }
        }
        Some(path) => {
            let file = std::fs::File::create(&path)
                .map_err(|e| CliError::param("--output", format!("cannot create {path}: {e}")))?;
            let mut out = std::io::BufWriter::new(file);
            audit::export(store, &filter, &region, &mut out).map_err(failed)?;
            out.flush()
                .map_err(|e| CliError::Setup(format!("audit export: writing {path}: {e}")))?;
        }
    }
    Ok(())
}

/// The key `--key-id` names, as every other command reads it: a key id or key ARN as given;
/// an alias name or alias ARN resolved to the key it points to now (in the caller's account,
/// `$LOCKBOX_CALLER` or the configured default, and the Region of `--region`, `$AWS_REGION`
/// or the configured one, for a bare alias name).
fn export_key(
    scope: &lockbox::api::ArnScope,
    store: &audit::Store,
    key: &str,
    caller: &Principal,
    region: Option<&str>,
) -> Result<String, CliError> {
    use lockbox::api::KeyRef;
    // Anything that is not an alias is matched against the records' key ARNs as given (as
    // before: the log may name keys that no longer exist).
    let parsed = match KeyRef::parse(key) {
        Ok(k) => k,
        Err(e) if key.starts_with("alias/") || key.contains(":alias/") => {
            return Err(CliError::param("--key-id", e.message()));
        }
        Err(_) => return Ok(key.to_owned()),
    };
    let (account, alias_region, alias) = match &parsed {
        KeyRef::Id(_) | KeyRef::KeyArn(_) => return Ok(key.to_owned()),
        KeyRef::Alias(name) => {
            let region = region.unwrap_or(scope.region()).to_owned();
            (caller.account().to_owned(), region, name)
        }
        KeyRef::AliasArn(arn) => (
            arn.scope().account().to_owned(),
            arn.scope().region().to_owned(),
            arn.alias(),
        ),
    };
    match store
        .alias(&account, &alias_region, alias)
        .map_err(|e| CliError::Setup(format!("audit export: {e}")))?
    {
        Some(record) => Ok(record.target.to_string()),
        None => Err(CliError::param(
            "--key-id",
            format!("alias {key} is not found in account {account}, Region {alias_region}"),
        )),
    }
}

/// Prints what a prune did: one line per segment file written, then where the stored chain
/// starts.
pub(crate) fn print_prune(r: audit::PruneReport) -> Result<(), CliError> {
    let mut lines: Vec<String> = r
        .files
        .iter()
        .map(|f| format!("EXPORTED {}", f.display()))
        .collect();
    if r.skipped {
        lines.push("Skipped: another node holds the prune lock and is pruning".into());
    }
    lines.push(format!(
        "Pruned {} segments ({} entries); the stored chain starts at {}",
        r.segments,
        r.entries,
        match r.starts_at {
            Some(s) => format!("seq {s}"),
            None => "seq 0 (nothing ever pruned)".into(),
        }
    ));
    print_text(&(lines.join("\n") + "\n"))
}

pub(crate) fn verify(
    store: &audit::Store,
    token: &lockbox::token::Token,
    exported: Option<&str>,
) -> Result<(), CliError> {
    let r =
        audit::verify(store, token).map_err(|e| CliError::Setup(format!("audit verify: {e}")))?;
    let mut lines = vec![format!(
        "Audit log: {} records, {} seals{}",
        r.records,
        r.seals,
        match r.last_seq {
            Some(s) => format!(", last seq {s}"),
            None => String::new(),
        }
    )];
    if let (Some(a), Some(b)) = (r.first_time, r.last_time) {
        lines.push(format!(
            "Events from {} to {}",
            crate::output::date(a),
            crate::output::date(b)
        ));
    }
    if r.refusals > 0 || r.suppressed.0 > 0 {
        lines.push(format!(
            "Refused before the engine: {} recorded, {} more counted in {} summaries",
            r.refusals, r.suppressed.1, r.suppressed.0
        ));
    }
    if r.unsealed_tail > 0 {
        lines.push(format!("Unsealed tail: {} records", r.unsealed_tail));
    }
    if let Some(k) = r.pruned_before {
        lines.push(format!(
            "Pruned: entries before seq {k} are in segment files; the chain is checked from \
             the seal at {k} on"
        ));
    }
    let mut problems: Vec<String> = r.problems.iter().map(ToString::to_string).collect();
    if let Some(dir) = exported {
        let s = audit::verify_segments(Path::new(dir), token, Some(store))
            .map_err(|e| CliError::Setup(format!("audit verify --exported: {e}")))?;
        lines.push(format!(
            "Exported: {} segment files, {} entries{}",
            s.files,
            s.entries,
            match (s.first_seq, s.last_seq) {
                (Some(a), Some(b)) => format!(", seq {a} to {b}"),
                _ => String::new(),
            }
        ));
        problems.extend(s.problems.iter().map(ToString::to_string));
    }
    for n in &r.notes {
        lines.push(format!("NOTE     {n}"));
    }
    for p in &problems {
        lines.push(format!("PROBLEM  {p}"));
    }
    lines.push(if problems.is_empty() {
        "OK: the chain, every seal and the token's mark agree".into()
    } else {
        format!("PROBLEMS: {}", problems.len())
    });
    print_text(&(lines.join("\n") + "\n"))?;
    if let Some(first) = problems.first() {
        return Err(CliError::Problems(format!(
            "the audit log does not verify ({} problems; first: {first})",
            problems.len()
        )));
    }
    Ok(())
}

fn time_param(flag: &'static str, text: &str) -> Result<Timestamp, CliError> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            CliError::param(
                flag,
                format!("expected an RFC 3339 time such as 2025-01-01T00:00:00Z: {e}"),
            )
        })?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms)
        .map(Timestamp::from_unix_millis)
        .map_err(|_| CliError::param(flag, "time out of range"))
}
