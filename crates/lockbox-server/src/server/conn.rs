//! One connection's timeouts: headers must arrive within `header_read_timeout`, and a
//! keep-alive connection with no request is closed after `idle_timeout`.
//!
//! hyper's own header timer also runs while a keep-alive connection waits for its next
//! request, which would make the idle timeout the (short) header timeout. So the server keeps
//! the phase of each connection itself: the I/O wrapper notes when the first byte of a request
//! arrives, the service notes when a request starts and ends, and a watchdog closes the
//! connection when a phase outlasts its limit.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    // Waiting for the first byte of the next request.
    Idle,
    // Some bytes of a request head have arrived; the request has not started.
    ReadingHead,
    // At least one request is being processed.
    InRequest(usize),
}

/// The phase of one connection, shared by its I/O, its service and its watchdog.
pub(super) struct ConnState {
    inner: Mutex<(Phase, Instant)>,
}

impl ConnState {
    /// A new connection: its first request's head is due within the header timeout.
    pub(super) fn new() -> Arc<ConnState> {
        Arc::new(ConnState {
            inner: Mutex::new((Phase::ReadingHead, Instant::now())),
        })
    }

    fn bytes_arrived(&self) {
        let mut g = self.inner.lock();
        if g.0 == Phase::Idle {
            *g = (Phase::ReadingHead, Instant::now());
        }
    }

    /// A request has started; the returned guard ends it.
    pub(super) fn request_started(self: &Arc<Self>) -> RequestGuard {
        let mut g = self.inner.lock();
        let n = match g.0 {
            Phase::InRequest(n) => n + 1,
            _ => 1,
        };
        *g = (Phase::InRequest(n), Instant::now());
        RequestGuard(self.clone())
    }

    /// If the connection has outlasted a limit: which one.
    pub(super) fn expired(&self, header: Duration, idle: Duration) -> Option<&'static str> {
        let g = self.inner.lock();
        let age = g.1.elapsed();
        match g.0 {
            Phase::ReadingHead if age > header => Some("header read timeout"),
            Phase::Idle if age > idle => Some("idle timeout"),
            _ => None,
        }
    }
}

/// Ends a request's phase when dropped (also when the request is cancelled).
pub(super) struct RequestGuard(Arc<ConnState>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut g = self.0.inner.lock();
        *g = match g.0 {
            Phase::InRequest(n) if n > 1 => (Phase::InRequest(n - 1), g.1),
            _ => (Phase::Idle, Instant::now()),
        };
    }
}

/// I/O that reports arriving bytes to its connection's state.
pub(super) struct Tracked<S> {
    io: S,
    state: Arc<ConnState>,
}

impl<S> Tracked<S> {
    pub(super) fn new(io: S, state: Arc<ConnState>) -> Self {
        Tracked { io, state }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.bytes_arrived();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Resolves when the connection outlasts a limit, naming it; checks a few times per limit.
pub(super) async fn watchdog(
    state: Arc<ConnState>,
    header: Duration,
    idle: Duration,
) -> &'static str {
    let tick = (header.min(idle) / 4).clamp(Duration::from_millis(5), Duration::from_secs(1));
    loop {
        tokio::time::sleep(tick).await;
        if let Some(why) = state.expired(header, idle) {
            return why;
        }
    }
}
