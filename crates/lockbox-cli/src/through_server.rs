//! Commands on a data directory that a running `lockbox serve` holds: served through its
//! admin socket (`<data dir>/admin.sock`, see `lockbox_server::admin`) instead of failing
//! on the directory's lock.
//!
//! Client side: [`find`] asks the socket whether a server is there (a stale socket, or
//! none, means "run locally"); the KMS commands then send each AWS request's JSON body
//! through it ([`SocketTransport`]), and Lockbox's own commands send their command line
//! ([`run_there`]). Server side: [`runner`] runs those own commands on the server's engine,
//! with what they print captured and sent back, so the output and exit code are a local
//! run's. The command acts as the caller a local run would: `$LOCKBOX_CALLER` if set (the
//! socket's user could open the directory as anyone anyway), else the directory's
//! configured caller, in the Region of `--region`, `$AWS_REGION` or `$AWS_DEFAULT_REGION`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser;
use lockbox::Engine;
use lockbox::api::{ErrorKind, KmsError, Principal};
use lockbox_client::remote::{RemoteKms, Transport};
use lockbox_server::admin::{self, AdminRequest, AdminResponse, CommandOutput, CommandRunner};

use crate::cli::{AuditCommand, Cli, Command};
use crate::commands::{audit, doctor, rotation, token, upkeep};
use crate::error::CliError;
use crate::output;

/// A running server's admin socket, and who the command acts as there.
#[derive(Clone)]
pub(crate) struct Served {
    path: PathBuf,
    caller: Option<String>,
    region: Option<String>,
}

/// The server holding `dir`, if one answers on its admin socket. `region` is the command's
/// (`--region`, else the environment's). `$LOCKBOX_CALLER` is checked here, as a local run
/// checks it, so a bad one fails the same way (exit 255) without reaching the server.
pub(crate) fn find(dir: &Path, region: Option<String>) -> Result<Option<Served>, CliError> {
    let path = dir.join(admin::ADMIN_SOCKET);
    if !path.exists() {
        return Ok(None);
    }
    // Connection refused (a stale socket), or any failure to ask: run locally, which says
    // what is wrong with the directory if something is.
    match admin::call(&path, &AdminRequest::Ping) {
        Ok(Some(AdminResponse::Pong)) => {}
        _ => return Ok(None),
    }
    let caller = match std::env::var("LOCKBOX_CALLER") {
        Ok(arn) if !arn.is_empty() => {
            Principal::parse(&arn)
                .map_err(|e| CliError::Setup(format!("LOCKBOX_CALLER: {}", e.message())))?;
            Some(arn)
        }
        _ => None,
    };
    Ok(Some(Served {
        path,
        caller,
        region,
    }))
}

impl Served {
    /// A `Kms` whose every call goes to the server's engine.
    pub(crate) fn kms(&self) -> RemoteKms {
        RemoteKms::new(SocketTransport(self.clone()))
    }

    /// Runs one of Lockbox's own commands (this process's command line) on the server, and
    /// prints what it printed; fails with its exit code and error line.
    pub(crate) fn run_there(&self) -> Result<(), CliError> {
        self.run_there_to(None)
    }

    /// As [`Served::run_there`], writing what it printed to the file `output` (created as a
    /// local run creates it) when one is named: `audit export --output`, whose file is this
    /// command's, not the server's.
    pub(crate) fn run_there_to(&self, output: Option<&str>) -> Result<(), CliError> {
        let request = AdminRequest::Run {
            args: std::env::args().skip(1).collect(),
            caller: self.caller.clone(),
            region: self.region.clone(),
        };
        match admin::call(&self.path, &request).map_err(CliError::Setup)? {
            Some(AdminResponse::Output(out)) => deliver(out, output),
            Some(AdminResponse::Error(e)) => {
                Err(CliError::Setup(format!("the running server: {e}")))
            }
            Some(_) => Err(CliError::Setup(format!(
                "the running server answered another request on {}",
                self.path.display()
            ))),
            None => Err(stopped(&self.path)),
        }
    }
}

/// Prints what a command run elsewhere printed (or writes it to `output`, created as a
/// local run creates it), and fails with its exit code and error line.
pub(crate) fn deliver(out: CommandOutput, output: Option<&str>) -> Result<(), CliError> {
    use std::io::Write;
    match output {
        None => std::io::stdout()
            .write_all(out.stdout.as_bytes())
            .map_err(|e| CliError::Setup(format!("cannot write output: {e}")))?,
        Some(path) if out.exit == 0 => {
            let mut file = std::fs::File::create(path)
                .map_err(|e| CliError::param("--output", format!("cannot create {path}: {e}")))?;
            file.write_all(out.stdout.as_bytes())
                .map_err(|e| CliError::Setup(format!("audit export: writing {path}: {e}")))?;
        }
        Some(_) => {}
    }
    if out.exit == 0 {
        Ok(())
    } else {
        Err(CliError::Served {
            code: out.exit,
            message: out.stderr,
        })
    }
}

fn stopped(path: &Path) -> CliError {
    CliError::Setup(format!(
        "the server on {} stopped while this command ran; run it again",
        path.display()
    ))
}

/// The admin socket as a [`Transport`] for [`RemoteKms`]: the same JSON 1.1 bodies as over
/// HTTP, answered by the server's engine as this command's caller.
struct SocketTransport(Served);

impl Transport for SocketTransport {
    fn post(&self, operation: &str, body: &[u8]) -> Result<(u16, Vec<u8>), KmsError> {
        let failed = |m: String| KmsError::new(ErrorKind::KmsInternal, m);
        let body = std::str::from_utf8(body)
            .map_err(|_| failed("the request body is not UTF-8".into()))?
            .to_owned();
        let mut request = AdminRequest::Kms {
            operation: operation.to_owned(),
            body,
            caller: self.0.caller.clone(),
            region: self.0.region.clone(),
        };
        let answer = admin::call(&self.0.path, &request);
        if let AdminRequest::Kms { body, .. } = &mut request {
            zeroize::Zeroize::zeroize(body);
        }
        match answer {
            Ok(Some(AdminResponse::Wire { status, body })) => Ok((status, body.into_bytes())),
            Ok(Some(AdminResponse::Error(e))) => Err(failed(format!("the running server: {e}"))),
            Ok(Some(_)) => Err(failed("the running server answered another request".into())),
            Ok(None) => Err(failed(stopped(&self.0.path).to_string())),
            Err(e) => Err(failed(e)),
        }
    }
}

/// The server side: runs Lockbox's own commands that a client sent through the socket.
pub(crate) fn runner() -> CommandRunner {
    Arc::new(run_here)
}

fn run_here(
    engine: &Arc<Engine>,
    args: Vec<String>,
    caller: Option<String>,
    region: Option<String>,
    source: &str,
) -> CommandOutput {
    let failed = |e: CliError| CommandOutput {
        stdout: String::new(),
        exit: e.exit_code(),
        stderr: match e {
            CliError::Usage => String::new(),
            e => e.to_string(),
        },
    };
    let cli = match Cli::try_parse_from(std::iter::once("lockbox".to_owned()).chain(args)) {
        Ok(cli) => cli,
        Err(e) => return failed(CliError::Setup(format!("the command line: {e}"))),
    };
    let caller = match admin::caller_of(engine, caller.as_deref(), region.as_deref(), source) {
        Ok(c) => c,
        Err(e) => return failed(CliError::Setup(e)),
    };
    let (result, stdout) = output::capture(|| match cli.command {
        Command::KeyUsage(a) => rotation::key_usage(engine, &caller, a),
        Command::InspectToken => token::inspect_token(engine),
        // The pass the server ran when it opened is not this command's work.
        Command::Maintain => upkeep::maintain(engine, false),
        Command::Doctor(a) => doctor::doctor_served(engine, a),
        Command::Audit(AuditCommand::Export(a)) => {
            audit::export_served(engine, a, caller.principal(), region.as_deref())
        }
        Command::Audit(AuditCommand::Verify(a)) => {
            // What this process has queued is part of the log a local run would verify.
            engine.audit().flush()?;
            audit::verify(engine.store(), engine.token(), a.exported.as_deref())
        }
        Command::Audit(AuditCommand::Prune(a)) => audit::print_prune(
            engine
                .prune_audit_with(&a.retention(engine.audit_retention())?)
                .map_err(|e| CliError::Setup(format!("audit prune: {e}")))?,
        ),
        _ => Err(CliError::Setup(
            "this command is not served through the admin socket".into(),
        )),
    });
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    match result {
        Ok(()) => CommandOutput {
            stdout,
            exit: 0,
            stderr: String::new(),
        },
        Err(e) => CommandOutput {
            stdout,
            ..failed(e)
        },
    }
}
