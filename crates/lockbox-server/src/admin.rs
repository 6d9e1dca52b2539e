//! The local admin socket: `<data dir>/admin.sock`, through which commands ask a running
//! `lockbox serve` to do what needs its engine (the engine holds the data directory, so
//! another process cannot open it).
//!
//! One request per connection, one JSON line each way. Today there is one request,
//! `{"Command":"Backup","Dest":"/abs/path","IncludePins":false,"IncludeCredentials":false}`,
//! answered `{"Manifest":{...}}` or `{"Error":"..."}`. The socket is 0600 in the 0700 data
//! directory, and every connection's peer credentials (SO_PEERCRED) must name the uid that
//! owns the socket; anything else is answered with an error and closed.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use lockbox::{BackupOptions, Engine, Manifest};
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
    /// The backup was made.
    Manifest(Box<Manifest>),
    /// The request failed; the message says why.
    Error(String),
}

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
            .spawn(move || runtime.block_on(serve(listener, engine, owner, stopped)))
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
        // keep the next one waiting. Backups still run one at a time (each blocks this
        // runtime's one thread, and holds the engine's write lock anyway).
        let engine = Arc::clone(&engine);
        tokio::spawn(async move {
            if let Err(e) = handle(stream, &engine, owner).await {
                tracing::warn!(error = %e, "admin socket connection failed");
            }
        });
    }
}

async fn handle(stream: UnixStream, engine: &Engine, owner: u32) -> std::io::Result<()> {
    let peer = stream.peer_cred()?;
    let (read, mut write) = stream.into_split();
    // Read the request whoever sent it (bounded), so a refusal reaches the peer rather than
    // a broken pipe.
    let mut line = String::new();
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
            Ok(AdminRequest::Backup {
                dest,
                include_pins,
                include_credentials,
            }) => {
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
    };
    let mut out = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await
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
    let mut line = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .map_err(|e| format!("writing to {}: {e}", path.display()))?;
    let mut answer = String::new();
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
