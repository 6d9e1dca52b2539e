//! Two pieces under ureq that take per-call costs out of the client's hot path (issue 18):
//!
//! - [`LiteralFirst`]: an endpoint whose host is an IP address is "resolved" by parsing it.
//!   ureq's own resolver, when the agent has a timeout (ours always has), starts a thread for
//!   every call to look the host up, even an address, even when the call then reuses a pooled
//!   connection: a thread start and a cross-thread wake-up per call. Host names still go to
//!   ureq's resolver.
//! - [`Coalesce`]: the request head and a body that fit together leave in one write. ureq
//!   writes the head, then the body, as two writes: two TCP segments with `TCP_NODELAY`, so the
//!   server wakes for the head, finds no body yet, and sleeps until the body arrives. The first
//!   output after a wait for input (a request's head) is held (up to [`HOLD_MAX`] bytes) and sent with the next one, or
//!   before the transport next waits for input (a request without a body, `Expect:
//!   100-continue`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use http::Uri;
use ureq::config::Config;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

/// The largest first output held back to go with the next one (a request head is well under).
pub(crate) const HOLD_MAX: usize = 16 * 1024;

/// The connector chain: ureq's default (TCP, then TLS for https), then [`Coalesce`].
pub(crate) fn connector() -> impl Connector<(), Out = Box<dyn Transport>> {
    DefaultConnector::new().chain(Coalesce)
}

/// Resolves IP-address hosts without a thread; host names go to ureq's resolver.
#[derive(Debug, Default)]
pub(crate) struct LiteralFirst(DefaultResolver);

/// The socket address of a URI whose host is an IP address (`127.0.0.1`, `[::1]`), with its
/// port or the scheme's default; None for a host name.
fn literal(uri: &Uri) -> Option<SocketAddr> {
    let host = uri.host()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: IpAddr = host.parse().ok()?;
    let port = match (uri.port_u16(), uri.scheme_str()) {
        (Some(p), _) => p,
        (None, Some("https")) => 443,
        (None, Some("http")) => 80,
        (None, _) => return None,
    };
    Some(SocketAddr::new(ip, port))
}

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match literal(uri) {
            Some(addr) => {
                let mut addrs = self.empty();
                addrs.push(addr);
                Ok(addrs)
            }
            None => self.0.resolve(uri, config, timeout),
        }
    }
}

/// Wraps each connection's transport in [`Coalescing`].
#[derive(Debug)]
pub(crate) struct Coalesce;

impl Connector<Box<dyn Transport>> for Coalesce {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        _details: &ConnectionDetails,
        chained: Option<Box<dyn Transport>>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(|inner| {
            Box::new(Coalescing {
                inner,
                held: Vec::new(),
                first: true,
            }) as Box<dyn Transport>
        }))
    }
}

/// A transport that holds a request's first output back until the next output or the next
/// wait for input, and then sends both in one write.
pub(crate) struct Coalescing {
    inner: Box<dyn Transport>,
    held: Vec<u8>,
    // No output since the last wait for input: the next output is a request's first.
    first: bool,
}

impl fmt::Debug for Coalescing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coalescing")
            .field("inner", &self.inner)
            .field("held", &self.held.len())
            .finish()
    }
}

impl Coalescing {
    /// Sends what is held, if anything.
    fn flush(&mut self, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if self.held.is_empty() {
            return Ok(());
        }
        let n = self.held.len();
        let output = self.inner.buffers().output();
        if output.len() < n {
            // Cannot happen: what is held came out of this buffer.
            return Err(ureq::Error::Io(std::io::Error::other(
                "the HTTP client's output buffer shrank",
            )));
        }
        output[..n].copy_from_slice(&self.held);
        self.held.clear();
        self.inner.transmit_output(n, timeout)
    }
}

impl Transport for Coalescing {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let n = self.held.len();
        let first = std::mem::replace(&mut self.first, false);
        if first && amount <= HOLD_MAX {
            let output = self.inner.buffers().output();
            self.held.extend_from_slice(&output[..amount]);
            return Ok(());
        }
        let output = self.inner.buffers().output();
        if n + amount <= output.len() {
            // Both in one write: this output moves up, what is held goes in front.
            output.copy_within(..amount, n);
            output[..n].copy_from_slice(&self.held);
            self.held.clear();
            return self.inner.transmit_output(n + amount, timeout);
        }
        // Too large to join: send what is held, then this.
        let this = output[..amount].to_vec();
        self.flush(timeout)?;
        self.inner.buffers().output()[..amount].copy_from_slice(&this);
        self.inner.transmit_output(amount, timeout)
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.flush(timeout)?;
        self.first = true;
        self.inner.maybe_await_input(timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.flush(timeout)?;
        self.first = true;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use ureq::unversioned::transport::LazyBuffers;
    use ureq::unversioned::transport::time::Duration;

    use super::*;

    /// A transport that records each write it is asked to make.
    #[derive(Debug)]
    struct Recorder {
        buffers: LazyBuffers,
        writes: Arc<Mutex<Vec<Vec<u8>>>>,
        awaited: Arc<Mutex<usize>>,
    }

    impl Transport for Recorder {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }
        fn transmit_output(&mut self, amount: usize, _: NextTimeout) -> Result<(), ureq::Error> {
            let bytes = self.buffers.output()[..amount].to_vec();
            self.writes.lock().unwrap().push(bytes);
            Ok(())
        }
        fn await_input(&mut self, _: NextTimeout) -> Result<bool, ureq::Error> {
            *self.awaited.lock().unwrap() += 1;
            Ok(false)
        }
        fn is_open(&mut self) -> bool {
            true
        }
    }

    type Writes = Arc<Mutex<Vec<Vec<u8>>>>;

    fn coalescing(output_size: usize) -> (Coalescing, Writes) {
        let writes = Writes::default();
        let inner = Recorder {
            buffers: LazyBuffers::new(1024, output_size),
            writes: writes.clone(),
            awaited: Arc::default(),
        };
        let c = Coalescing {
            inner: Box::new(inner),
            held: Vec::new(),
            first: true,
        };
        (c, writes)
    }

    fn timeout() -> NextTimeout {
        NextTimeout {
            after: Duration::from_secs(5),
            reason: ureq::Timeout::Global,
            per_read: None,
            per_write: None,
        }
    }

    /// Writes `bytes` into the transport's output buffer and transmits them, as ureq does.
    fn send(t: &mut Coalescing, bytes: &[u8]) {
        t.buffers().output()[..bytes.len()].copy_from_slice(bytes);
        t.transmit_output(bytes.len(), timeout()).unwrap();
    }

    fn writes(w: &Writes) -> Vec<Vec<u8>> {
        w.lock().unwrap().clone()
    }

    #[test]
    fn head_and_body_leave_in_one_write() {
        let (mut t, w) = coalescing(4096);
        send(&mut t, b"POST / HTTP/1.1\r\ncontent-length: 4\r\n\r\n");
        assert!(writes(&w).is_empty(), "the head left alone");
        send(&mut t, b"body");
        assert_eq!(
            writes(&w),
            vec![b"POST / HTTP/1.1\r\ncontent-length: 4\r\n\r\nbody".to_vec()]
        );
        // Nothing is left held: waiting for the answer sends nothing more.
        t.await_input(timeout()).unwrap();
        assert_eq!(writes(&w).len(), 1);
    }

    #[test]
    fn a_head_without_a_body_leaves_before_the_wait_for_the_answer() {
        let (mut t, w) = coalescing(4096);
        send(&mut t, b"GET /health HTTP/1.1\r\n\r\n");
        assert!(writes(&w).is_empty());
        t.maybe_await_input(timeout()).unwrap();
        assert_eq!(writes(&w), vec![b"GET /health HTTP/1.1\r\n\r\n".to_vec()]);
        // The next request is held again, and goes before the next wait.
        send(&mut t, b"GET / HTTP/1.1\r\n\r\n");
        t.await_input(timeout()).unwrap();
        assert_eq!(writes(&w).len(), 2);
        assert_eq!(writes(&w)[1], b"GET / HTTP/1.1\r\n\r\n".to_vec());
    }

    #[test]
    fn outputs_that_do_not_fit_together_leave_in_order() {
        // A 64-byte buffer: a 40-byte head and a 40-byte body chunk do not fit together.
        let (mut t, w) = coalescing(64);
        let head = [b'h'; 40];
        let body = [b'b'; 40];
        send(&mut t, &head);
        send(&mut t, &body);
        send(&mut t, &body);
        assert_eq!(
            writes(&w),
            vec![head.to_vec(), body.to_vec(), body.to_vec()]
        );
    }

    #[test]
    fn a_first_output_over_the_hold_limit_leaves_at_once() {
        let (mut t, w) = coalescing(2 * HOLD_MAX);
        let big = vec![b'x'; HOLD_MAX + 1];
        send(&mut t, &big);
        assert_eq!(writes(&w), vec![big]);
    }

    #[test]
    fn ip_address_hosts_resolve_without_a_lookup() {
        let uri: Uri = "http://127.0.0.1:7300/".parse().unwrap();
        assert_eq!(literal(&uri), Some("127.0.0.1:7300".parse().unwrap()));
        let uri: Uri = "https://[::1]/x".parse().unwrap();
        assert_eq!(literal(&uri), Some("[::1]:443".parse().unwrap()));
        let uri: Uri = "http://10.0.0.5/".parse().unwrap();
        assert_eq!(literal(&uri), Some("10.0.0.5:80".parse().unwrap()));
        let uri: Uri = "https://kms.example.com:8443/".parse().unwrap();
        assert_eq!(literal(&uri), None);
        let r = LiteralFirst::default()
            .resolve(
                &"http://127.0.0.1:7300/".parse().unwrap(),
                &Config::default(),
                timeout(),
            )
            .unwrap();
        assert_eq!(
            &r[..],
            &["127.0.0.1:7300".parse::<SocketAddr>().unwrap()][..]
        );
    }
}
