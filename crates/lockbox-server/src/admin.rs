//! The local admin socket: `<data dir>/admin.sock`, through which commands ask a running
//! `lockbox serve` to do what needs its engine (the engine holds the data directory, so
//! another process cannot open it).
//!
//! One request per connection, one JSON line each way (see docs/ARCHITECTURE.md, "The admin
//! socket", and decision 0027):
//!
//! - `{"Command":"Ping"}` → `"Pong"`: is a server there (the CLI asks before it would open
//!   the directory itself).
//! - `{"Command":"Kms","Operation":"CreateKey","Body":"{...}","Caller":null,"Region":null}` →
//!   `{"Wire":{"Status":200,"Body":"{...}"}}`: one AWS KMS request in its JSON 1.1 body, run
//!   on the engine through `Engine::client` as the caller named (a principal ARN; `null`: the
//!   directory's configured caller) with source `cli`, so audited as a local command is.
//! - `{"Command":"Run","Args":["key-usage","--key-id","..."],"Caller":null,"Region":null}` →
//!   `{"Output":{"Stdout":"...","Exit":0,"Stderr":""}}`: one of Lockbox's own commands, run
//!   by the embedding program's [`CommandRunner`] (the CLI's `serve` gives one).
//! - `{"Command":"Backup","Dest":"/abs/path","IncludePins":false,"IncludeCredentials":false}`
//!   → `{"Manifest":{...}}`.
//!
//! Any request may be answered `{"Error":"..."}`. The socket is 0600 in the 0700 data
//! directory, and every connection's peer credentials (SO_PEERCRED) must name the uid that
//! owns the socket; anything else is answered with an error and closed.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use lockbox::api::{Caller, Principal};
use lockbox::{BackupOptions, Engine, Manifest};
use lockbox_api::Operation;
use lockbox_api::wire::WireError;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use crate::server::ServerError;

/// The socket's name inside the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";
/// The longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;

/// A request on the admin socket.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "Command", rename_all = "PascalCase", deny_unknown_fields)]
pub enum AdminRequest {
    /// Is a server listening? Answered [`AdminResponse::Pong`].
    Ping,
    /// One AWS KMS request, as its JSON 1.1 body.
    #[serde(rename_all = "PascalCase")]
    Kms {
        /// The AWS operation name, e.g. `CreateKey`.
        operation: String,
        /// The request body (JSON).
        body: String,
        /// The principal ARN to act as; `None`: the data directory's configured caller.
        caller: Option<String>,
        /// The Region to act in; `None`: the data directory's.
        region: Option<String>,
    },
    /// One of Lockbox's own commands (`key-usage`, `audit verify`, ...), run by the
    /// embedding program's [`CommandRunner`].
    #[serde(rename_all = "PascalCase")]
    Run {
        /// The command line after the program name.
        args: Vec<String>,
        /// The principal ARN to act as; `None`: the data directory's configured caller.
        caller: Option<String>,
        /// The Region to act in; `None`: the data directory's.
        region: Option<String>,
    },
    /// `Engine::backup` to `dest` (an absolute path).
    #[serde(rename_all = "PascalCase")]
    Backup {
        /// The backup directory to create.
        dest: PathBuf,
        /// Copy the PIN files.
        include_pins: bool,
        /// Copy credentials.toml.
        include_credentials: bool,
    },
}

/// The answer to an [`AdminRequest`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub enum AdminResponse {
    /// The answer to [`AdminRequest::Ping`].
    Pong,
    /// The answer to [`AdminRequest::Kms`]: the HTTP status and body `lockbox serve` would
    /// have answered (an error is `{"__type","message"}` with a status of 400 or more).
    #[serde(rename_all = "PascalCase")]
    Wire {
        /// The HTTP status.
        status: u16,
        /// The response body (JSON). Some answers hold plaintext: zeroize it once used.
        body: String,
    },
    /// The answer to [`AdminRequest::Run`].
    Output(CommandOutput),
    /// The backup was made.
    Manifest(Box<Manifest>),
    /// The request failed; the message says why.
    Error(String),
}

/// What a command run through the socket printed, and how it ended.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CommandOutput {
    /// What it printed on standard output.
    pub stdout: String,
    /// Its exit code.
    pub exit: u8,
    /// Its error line, if it failed (empty otherwise).
    pub stderr: String,
}

/// Runs one of the embedding program's own commands on the engine: the command line after
/// the program name, the caller's principal ARN and Region as the client sent them, and
/// where the request came from (`cli` on the admin socket, the peer's address over HTTP),
/// for the audit log.
pub type CommandRunner = Arc<
    dyn Fn(&Arc<Engine>, Vec<String>, Option<String>, Option<String>, &str) -> CommandOutput
        + Send
        + Sync,
>;

/// The admin socket of a running server. Dropping it stops it and removes the socket file.
pub struct AdminSocket {
    path: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl AdminSocket {
    /// Binds `<data_dir>/admin.sock` (replacing a stale one: the caller holds the data
    /// directory, so no other server can be using it) and serves it on a thread of its own.
    pub fn start(engine: Arc<Engine>, data_dir: &Path) -> Result<AdminSocket, ServerError> {
        Self::start_with(engine, data_dir, None)
    }

    /// As [`AdminSocket::start`], with a runner for [`AdminRequest::Run`] (without one, such
    /// requests are answered with an error).
    pub fn start_with(
        engine: Arc<Engine>,
        data_dir: &Path,
        runner: Option<CommandRunner>,
    ) -> Result<AdminSocket, ServerError> {
        let path = data_dir.join(ADMIN_SOCKET);
        let fail = |what: &str, e: std::io::Error| {
            ServerError::Runtime(format!("admin socket {}: {what}: {e}", path.display()))
        };
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail("removing a stale socket", e)),
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .max_blocking_threads(4)
            .build()
            .map_err(|e| fail("starting its runtime", e))?;
        let listener = {
            let _guard = runtime.enter();
            UnixListener::bind(&path).map_err(|e| fail("binding", e))?
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| fail("making it 0600", e))?;
        let owner = std::fs::metadata(&path)
            .map_err(|e| fail("inspecting", e))?
            .uid();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("lockbox-admin".into())
            .spawn(move || runtime.block_on(serve(listener, engine, runner, owner, stopped)))
            .map_err(|e| fail("starting its thread", e))?;
        tracing::info!(socket = %path.display(), "admin socket listening");
        Ok(AdminSocket {
            path,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AdminSocket {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the admin socket thread panicked");
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve(
    listener: UnixListener,
    engine: Arc<Engine>,
    runner: Option<CommandRunner>,
    owner: u32,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::error!(error = %e, "admin socket accept failed");
                    continue;
                }
            },
        };
        // A task per connection: a client that connects and never sends its line must not
        // keep the next one waiting. The work itself runs on the blocking pool.
        let engine = Arc::clone(&engine);
        let runner = runner.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, engine, runner, owner).await {
                tracing::warn!(error = %e, "admin socket connection failed");
            }
        });
    }
}

async fn handle(
    stream: UnixStream,
    engine: Arc<Engine>,
    runner: Option<CommandRunner>,
    owner: u32,
) -> std::io::Result<()> {
    let peer = stream.peer_cred()?;
    let (read, mut write) = stream.into_split();
    // Read the request whoever sent it (bounded), so a refusal reaches the peer rather than
    // a broken pipe.
    let mut line = zeroize::Zeroizing::new(String::new());
    let mut reader = tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_REQUEST));
    reader.read_line(&mut line).await?;
    let response = if peer.uid() != owner {
        tracing::warn!(
            uid = peer.uid(),
            "admin socket: refused a peer of another user"
        );
        AdminResponse::Error(format!(
            "refused: uid {} is not the server's user",
            peer.uid()
        ))
    } else {
        match serde_json::from_str::<AdminRequest>(&line) {
            Err(e) => AdminResponse::Error(format!("malformed request: {e}")),
            Ok(AdminRequest::Ping) => AdminResponse::Pong,
            Ok(request) => tokio::task::spawn_blocking(move || answer(&engine, runner, request))
                .await
                .unwrap_or_else(|e| AdminResponse::Error(format!("the request failed: {e}"))),
        }
    };
    drop(line);
    let mut out =
        zeroize::Zeroizing::new(serde_json::to_vec(&response).map_err(std::io::Error::other)?);
    // A KMS answer's body may hold plaintext.
    if let AdminResponse::Wire { mut body, .. } = response {
        zeroize::Zeroize::zeroize(&mut body);
    }
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await
}

/// Does what `request` asks, on the blocking pool.
fn answer(
    engine: &Arc<Engine>,
    runner: Option<CommandRunner>,
    request: AdminRequest,
) -> AdminResponse {
    match request {
        AdminRequest::Ping => AdminResponse::Pong,
        AdminRequest::Kms {
            operation,
            body,
            caller,
            region,
        } => {
            let body = zeroize::Zeroizing::new(body.into_bytes());
            let caller = match caller_of(engine, caller.as_deref(), region.as_deref(), "cli") {
                Ok(c) => c,
                Err(e) => return AdminResponse::Error(e),
            };
            let Some(op) = Operation::from_name(&operation) else {
                let e = WireError::new(
                    400,
                    "UnsupportedOperationException",
                    format!("{operation} is not an AWS KMS operation Lockbox serves."),
                );
                return wire_answer(e.status, e.body());
            };
            let client = engine.client(caller);
            match crate::wire::serve(&client, op, &body) {
                Ok(out) => wire_answer(200, out),
                Err(e) => wire_answer(e.status, e.body()),
            }
        }
        AdminRequest::Run {
            args,
            caller,
            region,
        } => match runner {
            Some(run) => {
                tracing::info!(
                    command = args.first().map_or("", String::as_str),
                    "command run on the admin socket"
                );
                AdminResponse::Output(run(engine, args, caller, region, "cli"))
            }
            None => {
                AdminResponse::Error("this server does not run commands on its admin socket".into())
            }
        },
        AdminRequest::Backup {
            dest,
            include_pins,
            include_credentials,
        } => {
            if !dest.is_absolute() {
                AdminResponse::Error(format!("{} is not an absolute path", dest.display()))
            } else {
                tracing::info!(dest = %dest.display(), "backup requested on the admin socket");
                let options = BackupOptions {
                    include_pins,
                    include_credentials,
                };
                match engine.backup(&dest, options) {
                    Ok(m) => AdminResponse::Manifest(Box::new(m)),
                    Err(e) => AdminResponse::Error(e.to_string()),
                }
            }
        }
    }
}

/// A wire answer; the body (which may hold plaintext) is moved, not copied.
fn wire_answer(status: u16, body: Vec<u8>) -> AdminResponse {
    match String::from_utf8(body) {
        Ok(body) => AdminResponse::Wire { status, body },
        Err(e) => {
            zeroize::Zeroize::zeroize(&mut e.into_bytes());
            AdminResponse::Error("the engine answered a body that is not UTF-8".into())
        }
    }
}

/// The caller a command acts as: the principal ARN it names, else the data directory's
/// configured caller; from `source` (`cli` on the socket, as a local command's); in
/// `region` if given.
pub fn caller_of(
    engine: &Engine,
    principal: Option<&str>,
    region: Option<&str>,
    source: &str,
) -> Result<Caller, String> {
    let caller = match principal {
        Some(arn) => Principal::parse(arn)
            .map(|p| Caller::new(p).with_source(source))
            .map_err(|e| format!("LOCKBOX_CALLER: {}", e.message()))?,
        None => engine.default_caller(source),
    };
    Ok(match region {
        Some(r) => caller.with_region(r),
        None => caller,
    })
}

/// Sends `request` to the admin socket at `path` and returns the answer; a blocking client
/// for the CLI. `Ok(None)` when no server listens there (no socket, or a stale one).
pub fn call(path: &Path, request: &AdminRequest) -> Result<Option<AdminResponse>, String> {
    let mut stream = match std::os::unix::net::UnixStream::connect(path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(format!("connecting to {}: {e}", path.display())),
    };
    // A KMS request or answer may hold plaintext: both buffers are zeroized when dropped.
    let mut line = zeroize::Zeroizing::new(serde_json::to_vec(request).map_err(|e| e.to_string())?);
    line.push(b'\n');
    stream
        .write_all(&line)
        .map_err(|e| format!("writing to {}: {e}", path.display()))?;
    let mut answer = zeroize::Zeroizing::new(String::new());
    BufReader::new(stream)
        .read_line(&mut answer)
        .map_err(|e| format!("reading from {}: {e}", path.display()))?;
    serde_json::from_str(&answer).map(Some).map_err(|e| {
        format!(
            "the server's answer on {} is malformed: {e}",
            path.display()
        )
    })
}
