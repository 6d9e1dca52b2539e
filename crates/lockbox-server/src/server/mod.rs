//! `lockbox serve`: the engine as an AWS KMS endpoint over HTTP/1.1 (TLS with rustls).
//!
//! A request goes through these steps; the first that fails answers it, with an AWS-style
//! JSON error (`{"__type", "message"}`), and the connection goes on serving:
//!
//! 1. Routing. `GET /health` answers `{"status":"ok"}` at once: no authentication, no
//!    throttling, not counted against the in-flight limit (it is for load balancers and
//!    supervisors, and says only that the server is up). `GET /metrics` answers the
//!    counters in Prometheus text (module `metrics`), likewise. `POST /` is the API; other methods
//!    on `/` or `/health` get 405 `MethodNotAllowedException`, other paths 404
//!    `UnknownOperationException`.
//! 2. The in-flight limit (`max_concurrent_requests`): over it, 503
//!    `ServiceUnavailableException` at once rather than a queue (a queue only adds latency
//!    to a saturated token; the AWS SDKs retry 503 with back-off).
//! 3. `Content-Type` must be `application/x-amz-json-1.1` (what botocore and the AWS SDKs
//!    send for KMS) or `application/x-amz-json-1.0` (tolerated); anything else is 415
//!    `UnsupportedMediaTypeException`, as AWS JSON services answer.
//! 4. `X-Amz-Target` names the operation (`TrentService.Encrypt`); missing, 400
//!    `UnknownOperationException`.
//! 5. The body is read within `body_read_timeout_ms` (else 408 `RequestTimeoutException`)
//!    and at most `max_body_bytes` of it (else 413 `RequestEntityTooLargeException`; a
//!    declared `Content-Length` over the cap is refused before reading). Both close the
//!    connection, whose remaining input is unread.
//! 6. SigV4: the signature is verified against the credentials file (service `kms`, a
//!    Region the engine serves: `[arn] regions` in lockbox.toml, narrowed to server.toml's
//!    deprecated `region` when set); it yields the principal, and the scope's Region is the
//!    call's (`Caller::with_region`). An unserved Region is 400 `InvalidSignatureException`
//!    "Credential should be scoped to a valid region." followed by the Regions served.
//! 7. Throttling per (account, operation class): 400 `ThrottlingException`, "Rate exceeded".
//! 8. The engine call runs on the connection's own thread, as
//!    `engine.client(Caller::new(principal).with_source(peer ip))` (see "Threads" below).
//!
//! Every request refused before the engine (any error answer from steps 1-7, and a body
//! the wire layer rejects before calling the engine: bad JSON, a 4097-byte plaintext,
//! GenerateRandom of 1025, ...) leaves a refusal record in the audit log, with its error
//! code, operation if known, source address, presented access key id and principal if
//! authenticated, within the log's refusal budget (`lockbox::audit::RefusalBudget`; over it,
//! refusals are counted in a summary record). Calls that reach the engine are audited there.
//!
//! A `POST /` whose `Content-Type` is `application/x-www-form-urlencoded` is an STS request
//! (the query protocol, SigV4 service `sts`): `GetCallerIdentity` is answered in STS's XML
//! (module `sts`).
//!
//! Every KMS response has `Content-Type: application/x-amz-json-1.1` and `x-amzn-RequestId`:
//! the engine's request id when the engine was called (so it matches the audit record),
//! else a fresh random UUID. Every request, answered or refused, is one line of the request
//! log (`log_request`: request id, peer, operation, principal, key, status, error code,
//! latency), never a body, signature or secret.
//!
//! Connections: at most `max_connections` are open (further ones wait in the listen
//! backlog); a request's headers (and the TLS handshake) must arrive within
//! `header_read_timeout_ms`, and a keep-alive connection idle for `idle_timeout_ms` is
//! closed. Shutdown is graceful: the listener closes, idle connections close, and requests
//! in flight have `shutdown_grace_ms` to finish.
//!
//! Threads: one thread (a small tokio runtime) accepts connections; each accepted connection
//! gets a thread of its own, with a single-threaded tokio runtime that does all of that
//! connection's work: TLS, HTTP parsing, the timeouts above, SigV4, JSON, and the engine call
//! itself, which blocks that thread only. An HTTP/1.1 connection answers one request at a
//! time, so a long call (an RSA-4096 signature, a key creation, a wait on the store or the
//! token) holds up only the client that made it; no other connection shares its thread. A
//! short call makes no hand-off between threads: the kernel wakes the connection's thread
//! when the request arrives, and the client when the answer is written, as for `/health`
//! (issue 18; decision 0037). Each open connection costs a thread and about six file
//! descriptors (its socket, a duplicate kept to shut it when the shutdown grace period ends,
//! and its runtime's epoll, eventfd and signal descriptors), so `max_connections` bounds the
//! threads too.

mod admin_http;
mod aws;
mod config;
mod conn;
mod metrics;
mod sts;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use lockbox::Engine;
use lockbox::audit::RefusedRequest;
use lockbox_api::shorten;
use lockbox_api::{Caller, Kms, KmsError, Principal};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;

pub use aws::AwsKms;
pub use config::{DEFAULT_PORT, SERVER_CONFIG_FILE, ServerConfig};

use self::conn::{ConnState, Tracked};
use crate::error::WireError;
use crate::throttle::{Quota, Throttle};

/// The content type of every response (and of requests, as AWS KMS clients send them).
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The largest request head (request line and headers) accepted, in bytes; larger ones are
/// answered 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The protocol between HTTP and the engine: how an operation is named, how a request is
/// authenticated, and how a body becomes a call. [`AwsKms`] is the real one (AWS JSON 1.1
/// and SigV4); tests plug in doubles.
pub trait Frontend: Send + Sync + 'static {
    /// A parsed operation name.
    type Operation: Copy + Send + 'static;

    /// The operation an `X-Amz-Target` value names; an unknown one is an error to answer.
    fn operation(&self, target: &str) -> Result<Self::Operation, WireError>;

    /// The operation's AWS name (`Encrypt`), for throttling and logs.
    fn operation_name(&self, op: Self::Operation) -> &'static str;

    /// The operation's request-rate quota class (for KMS operations, the operation table's).
    fn throttle_class(&self, op: Self::Operation) -> lockbox_api::ThrottleClass;

    /// Whether a call's quota class depends on the call (its key's kind, say), so that the
    /// server charges it only once the request is decoded, through the `Kms` it hands to
    /// [`Frontend::serve`] (see `lockbox_api::Request::throttle_class`). False by default.
    fn throttled_by_request(&self, _op: Self::Operation) -> bool {
        false
    }

    /// Authenticates a request (its head and whole body) at time `now`: the principal that
    /// signed it, or the error to answer.
    fn authenticate(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        region: &dyn crate::sigv4::RegionRule,
        now: SystemTime,
    ) -> Result<Principal, WireError>;

    /// Authenticates an STS (query protocol) request, signed for service `sts`: the
    /// principal, or the error to answer. By default the frontend serves no STS.
    fn authenticate_sts(
        &self,
        _parts: &http::request::Parts,
        _body: &[u8],
        _region: &dyn crate::sigv4::RegionRule,
        _now: SystemTime,
    ) -> Result<Principal, WireError> {
        Err(WireError::new(
            400,
            "InvalidAction",
            "this server answers no STS requests",
        ))
    }

    /// The access key id a request presents, if any (for the audit record of a refusal;
    /// never a secret or signature). None by default.
    fn access_key_id(&self, _headers: &http::HeaderMap) -> Option<String> {
        None
    }

    /// The key a request is about, for the request log: from the response when there is one
    /// (the key's ARN, an alias resolved), else from the request. Only key ids, ARNs and
    /// alias names: never anything else of either body. None by default.
    fn key_of(
        &self,
        _op: Self::Operation,
        _request: &[u8],
        _response: Option<&[u8]>,
    ) -> Option<String> {
        None
    }

    /// Runs `op` with request body `body` on `kms`: the response body, or the error to
    /// answer. Called on the connection's own thread, which it may block.
    fn serve(&self, kms: &dyn Kms, op: Self::Operation, body: &[u8]) -> Result<Vec<u8>, WireError>;
}

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid; the message names the field.
    #[error("server configuration: {0}")]
    Config(String),
    /// Plain HTTP on a non-loopback address without `dangerously_allow_plain_http`.
    #[error(
        "refusing to serve plain HTTP on {0}, which is not a loopback address: configure \
         tls_cert and tls_key, listen on 127.0.0.1, or (dangerous: plaintexts and data keys \
         cross the network in the clear) set dangerously_allow_plain_http"
    )]
    PlainHttpRefused(SocketAddr),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// The server's runtime could not be started or failed.
    #[error("server runtime: {0}")]
    Runtime(String),
}

/// Starts servers. See the module documentation for what a server does.
pub struct Server;

impl Server {
    /// Serves `engine` as AWS KMS, authenticating with `credentials`: binds
    /// `config.listen`, starts a small runtime of its own, and returns at once.
    pub fn start(
        engine: Arc<Engine>,
        credentials: crate::credentials::CredentialStore,
        config: ServerConfig,
    ) -> Result<ServerHandle, ServerError> {
        Server::start_with(engine, AwsKms::new(credentials), config)
    }

    /// As [`Server::start`], with a frontend of the caller's.
    pub fn start_with<F: Frontend>(
        engine: Arc<Engine>,
        frontend: F,
        config: ServerConfig,
    ) -> Result<ServerHandle, ServerError> {
        Server::start_inner(engine, frontend, config, None)
    }

    /// As [`Server::start_with`], also serving `POST /lockbox/admin`: Lockbox's own commands,
    /// run by `runner` for the principals `config.operators` names.
    pub fn start_with_runner<F: Frontend>(
        engine: Arc<Engine>,
        frontend: F,
        config: ServerConfig,
        runner: crate::admin::CommandRunner,
    ) -> Result<ServerHandle, ServerError> {
        Server::start_inner(engine, frontend, config, Some(runner))
    }

    fn start_inner<F: Frontend>(
        engine: Arc<Engine>,
        frontend: F,
        config: ServerConfig,
        runner: Option<crate::admin::CommandRunner>,
    ) -> Result<ServerHandle, ServerError> {
        config.check_all()?;
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
            _ => None,
        };
        // The accept loop and the signal handler; connections run on threads of their own.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lockbox-server")
            .enable_all()
            .build()
            .map_err(|e| ServerError::Runtime(format!("cannot start: {e}")))?;
        let listener = runtime
            .block_on(TcpListener::bind(config.listen))
            .map_err(|source| ServerError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
        if let Some(r) = &config.region {
            tracing::warn!(
                region = %r,
                "server.toml's `region` is deprecated: it restricts this server to one Region; \
                 lockbox.toml's [arn] regions says which Regions an installation serves"
            );
        }
        let region = ServedRegions {
            engine: engine.clone(),
            only: config.region.clone(),
        };
        tracing::info!(
            %addr,
            tls = tls.is_some(),
            regions = %region.describe(),
            "lockbox server listening"
        );
        let shared = Arc::new(Shared {
            engine,
            runner,
            frontend,
            throttle: Throttle::new(config.throttle.clone()),
            in_flight: Arc::new(Semaphore::new(config.max_concurrent_requests)),
            region,
            metrics: metrics::Metrics::default(),
            config,
        });
        let (stop, stopped) = watch::channel(false);
        let done = runtime.spawn(accept_loop(listener, tls, shared, stopped));
        Ok(ServerHandle {
            addr,
            stop,
            done: Some(done),
            runtime: Some(runtime),
        })
    }
}

/// A running server.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    done: Option<tokio::task::JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl ServerHandle {
    /// The address the server listens on (with the actual port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Begins a graceful shutdown and returns at once: the listener closes, idle
    /// connections close, requests in flight have `shutdown_grace_ms` to finish.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }

    /// Shuts down gracefully on SIGINT or SIGTERM.
    pub fn shutdown_on_signal(&self) -> Result<(), ServerError> {
        use tokio::signal::unix::{SignalKind, signal};
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| ServerError::Runtime("the server has stopped".into()))?;
        let _guard = runtime.enter();
        let mut int = signal(SignalKind::interrupt())
            .map_err(|e| ServerError::Runtime(format!("cannot handle SIGINT: {e}")))?;
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| ServerError::Runtime(format!("cannot handle SIGTERM: {e}")))?;
        let stop = self.stop.clone();
        runtime.spawn(async move {
            let which = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            tracing::info!(signal = which, "shutting down");
            stop.send_replace(true);
        });
        Ok(())
    }

    /// Blocks until the server has stopped (after [`ServerHandle::shutdown`] or a signal).
    pub fn wait(mut self) -> Result<(), ServerError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), ServerError> {
        let (Some(runtime), Some(done)) = (self.runtime.take(), self.done.take()) else {
            return Ok(());
        };
        let r = runtime.block_on(done);
        // The accept loop has told the connections still open to close (after the grace
        // period); engine calls still running cannot be cancelled, and their threads end
        // when the call returns. Do not wait for them.
        runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        r.map_err(|e| ServerError::Runtime(format!("the accept loop failed: {e}")))
    }
}

impl Drop for ServerHandle {
    /// Dropping the handle shuts the server down gracefully and waits for it.
    fn drop(&mut self) {
        self.shutdown();
        if let Err(e) = self.finish() {
            tracing::error!(error = %e, "server shutdown");
        }
    }
}

/// The Regions a server accepts in a credential scope: those its engine serves, narrowed to
/// server.toml's (deprecated) `region` when set.
struct ServedRegions {
    engine: Arc<Engine>,
    only: Option<String>,
}

impl ServedRegions {
    fn describe(&self) -> String {
        match &self.only {
            Some(r) => r.clone(),
            None => self.engine.served_regions(),
        }
    }
}

impl crate::sigv4::RegionRule for ServedRegions {
    fn check(&self, region: &str) -> Result<(), String> {
        let served = match &self.only {
            Some(r) => r == region,
            None => self.engine.serves_region(region),
        };
        if served {
            Ok(())
        } else {
            Err(format!(
                "{} This server serves {}.",
                crate::sigv4::INVALID_REGION_MESSAGE,
                self.describe()
            ))
        }
    }
}

struct Shared<F> {
    engine: Arc<Engine>,
    // Runs Lockbox's own commands for `POST /lockbox/admin` (`admin_http`); none: refused.
    runner: Option<crate::admin::CommandRunner>,
    frontend: F,
    config: ServerConfig,
    region: ServedRegions,
    throttle: Throttle,
    in_flight: Arc<Semaphore>,
    metrics: metrics::Metrics,
}

fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServerError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ServerError::Tls(format!("tls_cert {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!(
            "tls_cert {}: no CERTIFICATE in the file",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ServerError::Tls(format!("tls_key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| ServerError::Tls(format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn accept_loop<F: Frontend>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared<F>>,
    mut stop: watch::Receiver<bool>,
) {
    let connections = Arc::new(Semaphore::new(shared.config.max_connections));
    // Each connection holds a sender; when all are dropped, every connection has ended.
    let (live, mut all_closed) = mpsc::channel::<()>(1);
    // The open connections' sockets (duplicates), to close any still open when the shutdown
    // grace period is over: a thread inside an engine call cannot be interrupted, but its
    // client is let go at once, and the answer, when the call returns, goes nowhere.
    let open = Arc::new(OpenConnections::default());
    loop {
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => p,
            _ = stop.wait_for(|s| *s) => break,
        };
        // The semaphore is never closed.
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        // The connection moves to a thread of its own (see the module documentation).
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot take over an accepted connection");
                continue;
            }
        };
        let registered = match open.register(&stream) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot take over an accepted connection");
                continue;
            }
        };
        let shared = shared.clone();
        let tls = tls.clone();
        let stop = stop.clone();
        let live = live.clone();
        let spawned = std::thread::Builder::new()
            .name("lockbox-conn".to_owned())
            .spawn(move || {
                connection_thread(stream, peer, tls, shared, stop);
                drop(registered);
                drop(permit);
                drop(live);
            });
        if let Err(e) = spawned {
            // Out of threads or memory: the connection (moved into the closure) is closed.
            // Back off instead of spinning.
            tracing::warn!(%peer, error = %e, "cannot start a thread for a connection; closed it");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    drop(listener);
    drop(live);
    let grace = shared.config.shutdown_grace();
    if tokio::time::timeout(grace, all_closed.recv())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = shared.config.shutdown_grace_ms,
            "shutdown grace period over with requests still in flight"
        );
        // Close what is still open; a thread inside an engine call ends after the call.
        open.shut_all();
        let _ =
            tokio::time::timeout(std::time::Duration::from_millis(250), all_closed.recv()).await;
    }
    tracing::info!("lockbox server stopped");
}

/// The sockets of the open connections, each a duplicate of the one its thread serves.
#[derive(Default)]
struct OpenConnections {
    sockets: parking_lot::Mutex<(u64, std::collections::HashMap<u64, std::net::TcpStream>)>,
}

impl OpenConnections {
    /// Keeps a duplicate of `stream` until the returned value is dropped.
    fn register(self: &Arc<Self>, stream: &std::net::TcpStream) -> std::io::Result<Registered> {
        let dup = stream.try_clone()?;
        let mut g = self.sockets.lock();
        g.0 += 1;
        let id = g.0;
        g.1.insert(id, dup);
        Ok(Registered(self.clone(), id))
    }

    /// Shuts down every open connection's socket, both ways.
    fn shut_all(&self) {
        for s in self.sockets.lock().1.values() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// A connection's place in [`OpenConnections`], given up when dropped.
struct Registered(Arc<OpenConnections>, u64);

impl Drop for Registered {
    fn drop(&mut self) {
        self.0.sockets.lock().1.remove(&self.1);
    }
}

/// One connection's thread: a single-threaded runtime that serves the connection to its end.
fn connection_thread<F: Frontend>(
    stream: std::net::TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared<F>>,
    stop: watch::Receiver<bool>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "cannot start a connection's runtime; closed it");
            return;
        }
    };
    runtime.block_on(async move {
        // Registers the socket with this thread's runtime.
        match TcpStream::from_std(stream) {
            Ok(stream) => connection(stream, peer, tls, shared, stop).await,
            Err(e) => tracing::warn!(%peer, error = %e, "cannot serve a connection; closed it"),
        }
    });
}

async fn connection<F: Frontend>(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared<F>>,
    stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let state = ConnState::new();
    match tls {
        None => {
            serve_connection(
                Tracked::new(stream, state.clone()),
                peer,
                state,
                shared,
                stop,
            )
            .await
        }
        Some(acceptor) => {
            let handshake = acceptor.accept(stream);
            match tokio::time::timeout(shared.config.header_read_timeout(), handshake).await {
                Ok(Ok(s)) => {
                    let io = Tracked::new(s, state.clone());
                    serve_connection(io, peer, state, shared, stop).await
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

async fn serve_connection<S, F>(
    io: S,
    peer: SocketAddr,
    state: Arc<ConnState>,
    shared: Arc<Shared<F>>,
    mut stop: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: Frontend,
{
    let header_timeout = shared.config.header_read_timeout();
    let idle_timeout = shared.config.idle_timeout();
    let service = {
        let state = state.clone();
        service_fn(move |req| {
            let shared = shared.clone();
            let guard = state.request_started();
            async move {
                let response = handle(req, peer, &shared).await;
                drop(guard);
                Ok::<_, Infallible>(response)
            }
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Our watchdog times headers and idleness apart (see conn.rs).
        .header_read_timeout(None)
        .keep_alive(true)
        // A request head (request line and headers) larger than this is refused (431): KMS
        // requests have a handful of short headers. `max_buf_size` alone does not bound the
        // head: one read may fill the buffer's spare capacity past it, and a head that
        // completes in that read is accepted (a 100 KiB header got through).
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let watchdog = conn::watchdog(state, header_timeout, idle_timeout);
    let mut watchdog = std::pin::pin!(watchdog);
    let mut stopping = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            why = &mut watchdog => {
                tracing::debug!(%peer, reason = why, "closing connection");
                return;
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What a request came to, before it becomes a response.
struct Answer {
    status: u16,
    body: Vec<u8>,
    request_id: Option<String>,
    operation: Option<&'static str>,
    close: bool,
    allow: Option<&'static str>,
    // The error answered (code, message), when it is one.
    error: Option<(String, String)>,
    // The engine was called: the engine audits the call itself.
    engine_called: bool,
    // The authenticated principal, once known.
    principal: Option<String>,
    // The response's content type: KMS's JSON, or STS's XML.
    content_type: &'static str,
    // The key the request is about, for the request log (see `Frontend::key_of`).
    key: Option<String>,
}

impl Answer {
    fn error(e: WireError) -> Answer {
        Answer {
            status: e.status,
            body: e.body(),
            request_id: None,
            operation: None,
            close: false,
            allow: None,
            error: Some((e.code.into_owned(), e.message)),
            engine_called: false,
            principal: None,
            content_type: CONTENT_TYPE,
            key: None,
        }
    }

    fn ok(body: Vec<u8>) -> Answer {
        Answer {
            status: 200,
            body,
            request_id: None,
            operation: None,
            close: false,
            allow: None,
            error: None,
            engine_called: false,
            principal: None,
            content_type: CONTENT_TYPE,
            key: None,
        }
    }

    fn closing(mut self) -> Answer {
        self.close = true;
        self
    }
}

async fn handle<F: Frontend>(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: &Arc<Shared<F>>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let access_key_id = shared.frontend.access_key_id(req.headers());
    let answer = match (path.as_str(), &method) {
        ("/health", &Method::GET | &Method::HEAD) => Answer::ok(br#"{"status":"ok"}"#.to_vec()),
        // Counters for Prometheus; unauthenticated as /health is (see `metrics`).
        ("/metrics", &Method::GET | &Method::HEAD) => {
            let max = shared.config.max_concurrent_requests;
            let in_flight = max.saturating_sub(shared.in_flight.available_permits());
            let text = shared
                .metrics
                .render(in_flight, max, lockbox::token_error_count());
            Answer {
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                ..Answer::ok(text.into_bytes())
            }
        }
        ("/metrics", _) => Answer {
            allow: Some("GET, HEAD"),
            ..Answer::error(WireError::new(
                405,
                "MethodNotAllowedException",
                format!("{method} is not allowed on /metrics; use GET"),
            ))
        },
        // A form-encoded POST is STS's query protocol (GetCallerIdentity): see `sts`.
        ("/", &Method::POST) if sts::is_query(&req) => sts::api(req, peer, shared).await,
        ("/", &Method::POST) => api(req, peer, shared).await,
        (admin_http::PATH, &Method::POST) => admin_http::api(req, peer, shared).await,
        ("/health", _) => Answer {
            allow: Some("GET, HEAD"),
            ..Answer::error(WireError::new(
                405,
                "MethodNotAllowedException",
                format!("{method} is not allowed on /health; use GET"),
            ))
        },
        ("/", _) => Answer {
            allow: Some("POST"),
            ..Answer::error(WireError::new(
                405,
                "MethodNotAllowedException",
                format!("{method} is not allowed on /; AWS KMS requests are POST /"),
            ))
        },
        _ => Answer::error(WireError::new(
            404,
            "UnknownOperationException",
            format!(
                "no such path '{}': AWS KMS requests are POST /, and health is GET /health",
                shorten(&path)
            ),
        )),
    };
    let request_id = answer
        .request_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let (Some((code, message)), false) = (&answer.error, answer.engine_called) {
        record_refusal(
            shared,
            RefusedRequest {
                request_id: request_id.clone(),
                source: source_of(peer.ip()),
                operation: answer.operation.map(str::to_owned),
                access_key_id: access_key_id.clone(),
                principal: answer.principal.clone(),
                error_code: code.clone(),
                error_message: message.clone(),
            },
        );
    }
    let elapsed = started.elapsed();
    shared.metrics.observe(
        answer.operation,
        answer.status,
        answer.error.as_ref().map(|(code, _)| code.as_str()),
        elapsed.as_secs_f64(),
    );
    log_request(&RequestLine {
        request_id: &request_id,
        peer: peer.ip(),
        method: &method,
        path: &path,
        answer: &answer,
        access_key_id: access_key_id.as_deref(),
        latency_ms: elapsed.as_secs_f64() * 1000.0,
    });
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(answer.content_type),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    if let Some(allow) = answer.allow {
        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if answer.close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// `POST /`: an AWS KMS request.
async fn api<F: Frontend>(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: &Arc<Shared<F>>,
) -> Answer {
    let Ok(permit) = shared.in_flight.clone().try_acquire_owned() else {
        return Answer::error(WireError::new(
            503,
            "ServiceUnavailableException",
            format!(
                "the server is at its limit of {} requests in flight; retry later",
                shared.config.max_concurrent_requests
            ),
        ));
    };
    let (parts, body) = req.into_parts();

    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case(CONTENT_TYPE)
        && !media.eq_ignore_ascii_case("application/x-amz-json-1.0")
    {
        return Answer::error(WireError::new(
            415,
            "UnsupportedMediaTypeException",
            format!(
                "Content-Type must be {CONTENT_TYPE}, not '{}'",
                shorten(content_type)
            ),
        ))
        .closing();
    }

    let op = match parts.headers.get("x-amz-target").map(|v| v.to_str()) {
        None => {
            return Answer::error(WireError::new(
                400,
                "UnknownOperationException",
                "the X-Amz-Target header is missing; it names the operation, e.g. \
                 TrentService.Encrypt",
            ))
            .closing();
        }
        Some(Err(_)) => {
            return Answer::error(WireError::new(
                400,
                "UnknownOperationException",
                "the X-Amz-Target header is not visible ASCII",
            ))
            .closing();
        }
        Some(Ok(target)) => match shared.frontend.operation(target) {
            Ok(op) => op,
            Err(e) => return Answer::error(e).closing(),
        },
    };
    let name = shared.frontend.operation_name(op);
    let with_op = |a: Answer| Answer {
        operation: Some(name),
        ..a
    };

    let max = shared.config.max_body_bytes;
    let too_large = || {
        with_op(
            Answer::error(WireError::new(
                413,
                "RequestEntityTooLargeException",
                format!("the request body is larger than the server's limit of {max} bytes"),
            ))
            .closing(),
        )
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return too_large();
    }
    let read = tokio::time::timeout(
        shared.config.body_read_timeout(),
        Limited::new(body, max).collect(),
    )
    .await;
    let body = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Ok(Err(e)) => {
            return with_op(
                Answer::error(WireError::new(
                    400,
                    "SerializationException",
                    format!("cannot read the request body: {e}"),
                ))
                .closing(),
            );
        }
        Err(_) => {
            return with_op(
                Answer::error(WireError::new(
                    408,
                    "RequestTimeoutException",
                    format!(
                        "the request body did not arrive within {} ms",
                        shared.config.body_read_timeout_ms
                    ),
                ))
                .closing(),
            );
        }
    };

    // The key the request names, for the request log (refused requests included).
    let key = shared.frontend.key_of(op, &body, None);
    let with_op = |a: Answer| Answer {
        key: key.clone(),
        ..with_op(a)
    };
    let principal =
        match shared
            .frontend
            .authenticate(&parts, &body, &shared.region, SystemTime::now())
        {
            Ok(p) => p,
            Err(e) => return with_op(Answer::error(e)),
        };
    // The call's Region: the one the (verified, served) credential scope names.
    let region = crate::sigv4::scope_region(&parts.headers)
        .unwrap_or_else(|| shared.engine.arn_scope().region().to_owned());
    let with_principal = |a: Answer| Answer {
        principal: Some(principal.arn().to_owned()),
        ..with_op(a)
    };
    let by_request = shared.frontend.throttled_by_request(op);
    if !by_request {
        let class = shared.frontend.throttle_class(op);
        if let Err(e) = shared
            .throttle
            .check(principal.account(), &region, Quota::new(class, name))
        {
            return with_principal(Answer::error(e));
        }
    }
    let principal_arn = principal.arn().to_owned();

    let source = source_of(peer.ip());
    // On this connection's own thread, without a hand-off (see the module documentation);
    // a panic is answered 500, as a failed call, and the connection goes on.
    let task = {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let account = principal.account().to_owned();
            let client = shared.engine.client(
                Caller::new(principal)
                    .with_source(&source)
                    .with_region(&region),
            );
            let result = if by_request {
                let charged = ChargedByKey {
                    inner: &client,
                    engine: &shared.engine,
                    throttle: &shared.throttle,
                    account: &account,
                    region: &region,
                };
                shared.frontend.serve(&charged, op, &body)
            } else {
                shared.frontend.serve(&client, op, &body)
            };
            (result, client.last_request_id())
        }))
    };
    let answer = match task {
        Ok((Ok(body), request_id)) => Answer {
            request_id,
            operation: Some(name),
            engine_called: true,
            principal: Some(principal_arn),
            key: shared
                .frontend
                .key_of(op, &[], Some(&body))
                .or_else(|| key.clone()),
            ..Answer::ok(body)
        },
        // Refused by the wire layer before the engine was called (no request id): the
        // handler records the refusal.
        Ok((Err(e), None)) => Answer {
            principal: Some(principal_arn),
            ..with_op(Answer::error(e))
        },
        Ok((Err(e), request_id)) => Answer {
            request_id,
            engine_called: true,
            principal: Some(principal_arn),
            ..with_op(Answer::error(e))
        },
        Err(_) => {
            tracing::error!(operation = name, "the engine call panicked");
            Answer {
                engine_called: true,
                ..with_op(Answer::error(WireError::new(
                    500,
                    "KMSInternalException",
                    "the server failed while processing the request",
                )))
            }
        }
    };
    drop(permit);
    answer
}

/// What the request log says of one request.
struct RequestLine<'a> {
    request_id: &'a str,
    peer: IpAddr,
    method: &'a Method,
    path: &'a str,
    answer: &'a Answer,
    access_key_id: Option<&'a str>,
    latency_ms: f64,
}

/// The request log: one line per request, answered or refused, at level INFO (a 5xx answer
/// at WARN), target `lockbox_server::request`. It names the request id (`x-amzn-RequestId`,
/// and the audit record's), the peer, the operation, the principal once authenticated, the
/// access key id presented (an identifier, not a secret: AWS's CloudTrail records it too),
/// the key the request names, the status, the error code of a refusal, and the latency.
/// Never a body, a signature or a secret: what comes from the request is only the
/// operation name (parsed), the path, the access key id and the key id, all shortened and
/// with control characters escaped so that no request can forge a log line.
fn log_request(line: &RequestLine<'_>) {
    let a = line.answer;
    let principal = a.principal.as_deref().unwrap_or("-");
    let key = a.key.as_deref().map(log_safe);
    let key = key.as_deref().unwrap_or("-");
    let access_key_id = line.access_key_id.map(log_safe);
    let access_key_id = access_key_id.as_deref().unwrap_or("-");
    let error = a
        .error
        .as_ref()
        .map(|(code, _)| code.as_str())
        .unwrap_or("-");
    let path = log_safe(line.path);
    let latency_ms = (line.latency_ms * 1000.0).round() / 1000.0;
    macro_rules! emit {
        ($level:expr) => {
            tracing::event!(
                target: "lockbox_server::request",
                $level,
                request_id = %line.request_id,
                peer = %source_of(line.peer),
                method = %line.method,
                path = %path,
                operation = %a.operation.unwrap_or("-"),
                principal = %principal,
                access_key_id = %access_key_id,
                key = %key,
                status = a.status,
                error = %error,
                latency_ms,
                "request"
            )
        };
    }
    if a.status >= 500 {
        emit!(tracing::Level::WARN);
    } else {
        emit!(tracing::Level::INFO);
    }
}

/// Text from a request, made fit for a log line: shortened, and any character that is not
/// visible (control characters, spaces, quotes, backslashes) escaped.
fn log_safe(s: &str) -> String {
    let s = shorten(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == ' ' {
            out.push_str("\\x20");
        } else if c.is_control() || c.is_whitespace() || c == '"' || c == '\\' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The `Kms` a call whose quota depends on its key is served through: it charges the
/// class the decoded request draws on (`Request::throttle_class`, with the key's spec from
/// the engine, unauthorized and unaudited, only to pick the bucket), then calls the engine.
/// A throttled call never reaches the engine, and is recorded as a refusal.
struct ChargedByKey<'a> {
    inner: &'a dyn Kms,
    engine: &'a Engine,
    throttle: &'a Throttle,
    account: &'a str,
    region: &'a str,
}

impl Kms for ChargedByKey<'_> {
    fn call(&self, request: lockbox_api::Request) -> Result<lockbox_api::Response, KmsError> {
        let class =
            request.throttle_class(|k| self.engine.key_spec_of(self.account, self.region, k));
        if let Err(e) = self.throttle.check(
            self.account,
            self.region,
            Quota::new(class, request.operation().name()),
        ) {
            return Err(KmsError::with_code(
                lockbox_api::ErrorKind::LimitExceeded,
                &e.code,
                e.message,
            ));
        }
        self.inner.call(request)
    }
}

/// Hands a refusal to the audit log (which records it or counts it, within its budget).
/// The log may write synchronously (every-record durability), which blocks only this
/// connection's thread. A failure is logged: the request is refused anyway.
fn record_refusal<F: Frontend>(shared: &Shared<F>, refusal: RefusedRequest) {
    if let Err(e) = shared.engine.audit().refused(refusal) {
        tracing::error!(error = %e, "could not audit a refused request");
    }
}

/// The caller's source as the audit trail records it: the peer's IP address.
fn source_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}
