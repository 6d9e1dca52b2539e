//! The remote client's HTTP transport: a blocking HTTP/1.1 client (ureq, TLS with rustls)
//! that signs every request with SigV4 and keeps connections alive between calls.
//!
//! ```no_run
//! use lockbox_client::http_client::{EnvCredentials, HttpTransport};
//! # fn main() -> Result<(), lockbox_api::KmsError> {
//! let creds = EnvCredentials::from_env()?; // AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
//! let region = creds.region().unwrap_or("us-east-1").to_owned();
//! let (id, secret) = creds.into_key();
//! let transport = HttpTransport::builder("https://kms.internal:4443", &region, id, secret)
//!     .ca_bundle("/etc/lockbox/ca.pem")
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! Proxies from `HTTPS_PROXY` and friends are not used: a KMS endpoint is reached directly.
//! Redirects are not followed (a signed request is bound to its host).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderValue, Uri};
use lockbox_api::{ErrorKind, KmsError};

use crate::credentials::SecretKey;
use crate::remote::Transport;
use crate::sigv4;

/// The default time allowed to connect (TCP and TLS handshake).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default time allowed for a whole call: connect, send, wait, read the response.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The error code of a transport failure: the endpoint could not be connected to (refused,
/// unreachable, no such host). botocore's name, as are the four below.
pub const ENDPOINT_CONNECTION_ERROR: &str = "EndpointConnectionError";
/// The error code of a connection that was not set up in time.
pub const CONNECT_TIMEOUT_ERROR: &str = "ConnectTimeoutError";
/// The error code of a response that did not come in time.
pub const READ_TIMEOUT_ERROR: &str = "ReadTimeoutError";
/// The error code of a connection closed before a whole response came.
pub const CONNECTION_CLOSED_ERROR: &str = "ConnectionClosedError";
/// The error code of a TLS failure (certificate not trusted, handshake failed).
pub const SSL_ERROR: &str = "SSLError";

/// True for an error that says no response came from the endpoint (one of the codes
/// above): the request may or may not have been carried out.
pub fn is_transport_failure(e: &KmsError) -> bool {
    e.kind() == ErrorKind::DependencyTimeout
        && [
            ENDPOINT_CONNECTION_ERROR,
            CONNECT_TIMEOUT_ERROR,
            READ_TIMEOUT_ERROR,
            CONNECTION_CLOSED_ERROR,
            SSL_ERROR,
        ]
        .contains(&e.code())
}

/// The largest response body read; KMS responses are a few KiB (a full ListKeys page or a
/// 4 KiB plaintext in base64), so anything near this is not a KMS response.
pub const MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;

/// The SigV4 service name of AWS KMS.
const SERVICE: &str = "kms";

/// A [`Transport`] over HTTP(S) with SigV4 signing. Cheap to share: calls from several threads
/// use the connection pool concurrently.
pub struct HttpTransport {
    agent: ureq::Agent,
    endpoint: Uri,
    host: HeaderValue,
    region: String,
    access_key_id: String,
    secret: SecretKey,
}

impl HttpTransport {
    /// A transport to `endpoint` (`http://host[:port]` or `https://host[:port]`, optionally
    /// with a path) with default timeouts and the built-in (Mozilla) root certificates.
    pub fn new(
        endpoint: &str,
        region: &str,
        access_key_id: String,
        secret: SecretKey,
    ) -> Result<HttpTransport, KmsError> {
        Self::builder(endpoint, region, access_key_id, secret).build()
    }

    /// A builder, for a CA bundle or other timeouts.
    pub fn builder(
        endpoint: &str,
        region: &str,
        access_key_id: String,
        secret: SecretKey,
    ) -> HttpTransportBuilder {
        HttpTransportBuilder {
            endpoint: endpoint.to_owned(),
            region: region.to_owned(),
            access_key_id,
            secret,
            ca_bundle: None,
            verify_tls: true,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A transport with the credentials and region of the environment, as the AWS CLI reads
    /// them ([`EnvCredentials`]); `region` overrides the environment's.
    pub fn from_env(endpoint: &str, region: Option<&str>) -> Result<HttpTransport, KmsError> {
        let creds = EnvCredentials::from_env()?;
        let region = match (region, creds.region()) {
            (Some(r), _) | (None, Some(r)) => r.to_owned(),
            (None, None) => {
                return Err(KmsError::new(
                    ErrorKind::Validation,
                    "no region: set AWS_REGION (or AWS_DEFAULT_REGION) or pass one",
                ));
            }
        };
        let (id, secret) = creds.into_key();
        Self::new(endpoint, &region, id, secret)
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &Uri {
        &self.endpoint
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The access key id requests are signed with.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    fn unreachable(&self, e: &ureq::Error) -> KmsError {
        use std::io::ErrorKind as Io;
        let endpoint = &self.endpoint;
        // botocore's exceptions for these, with its messages, so that `lockbox` reports them
        // as the AWS CLI does.
        let failed = |code: &str, message: String| {
            tracing::debug!(%endpoint, error = %e, "transport failure");
            KmsError::with_code(ErrorKind::DependencyTimeout, code, message)
        };
        let connect = || {
            failed(
                ENDPOINT_CONNECTION_ERROR,
                format!("Could not connect to the endpoint URL: \"{endpoint}\""),
            )
        };
        let read_timeout = || {
            failed(
                READ_TIMEOUT_ERROR,
                format!("Read timeout on endpoint URL: \"{endpoint}\""),
            )
        };
        match e {
            ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => failed(
                CONNECT_TIMEOUT_ERROR,
                format!("Connect timeout on endpoint URL: \"{endpoint}\""),
            ),
            ureq::Error::Timeout(_) => read_timeout(),
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => connect(),
            ureq::Error::Io(io) => match io.kind() {
                Io::ConnectionRefused
                | Io::AddrNotAvailable
                | Io::NotFound
                | Io::NetworkUnreachable
                | Io::HostUnreachable => connect(),
                Io::TimedOut | Io::WouldBlock => read_timeout(),
                // rustls reports a refused certificate or handshake through the stream.
                Io::InvalidData if endpoint.scheme_str() == Some("https") => failed(
                    SSL_ERROR,
                    format!("SSL validation failed for {endpoint} {io}"),
                ),
                _ => failed(
                    CONNECTION_CLOSED_ERROR,
                    format!(
                        "Connection was closed before we received a valid response from \
                         endpoint URL: \"{endpoint}\"."
                    ),
                ),
            },
            ureq::Error::Tls(t) => failed(
                SSL_ERROR,
                format!("SSL validation failed for {endpoint} {t}"),
            ),
            ureq::Error::BodyExceedsLimit(_) => KmsError::new(
                ErrorKind::KmsInternal,
                format!(
                    "the response from {endpoint} is larger than {MAX_RESPONSE_BYTES} bytes: \
                     is it a KMS endpoint?"
                ),
            ),
            other => KmsError::new(
                ErrorKind::KmsInternal,
                format!("HTTP exchange with {endpoint} failed: {other}"),
            ),
        }
    }
}

impl HttpTransport {
    /// POSTs `body` (`{"Args": [...]}`) to `lockbox serve`'s `/lockbox/admin` route beside
    /// the endpoint, signed as a KMS request: one of Lockbox's own commands, for an operator.
    /// Returns the HTTP status and body, as [`Transport::post`] does.
    pub fn post_admin(&self, body: &[u8]) -> Result<(u16, Vec<u8>), KmsError> {
        let mut parts = self.endpoint.clone().into_parts();
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/lockbox/admin"));
        let uri = Uri::from_parts(parts)
            .map_err(|e| KmsError::new(ErrorKind::Validation, format!("admin URL: {e}")))?;
        self.send(&uri, None, body)
    }
}

impl Transport for HttpTransport {
    fn post(&self, operation: &str, body: &[u8]) -> Result<(u16, Vec<u8>), KmsError> {
        self.send(&self.endpoint, Some(operation), body)
    }
}

impl HttpTransport {
    /// One signed POST to `uri`, with `X-Amz-Target: TrentService.<operation>` when given.
    fn send(
        &self,
        uri: &Uri,
        operation: Option<&str>,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), KmsError> {
        let mut headers = HeaderMap::with_capacity(8);
        headers.insert(HOST, self.host.clone());
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        if let Some(operation) = operation {
            let target =
                HeaderValue::from_str(&format!("TrentService.{operation}")).map_err(|_| {
                    KmsError::new(
                        ErrorKind::Validation,
                        format!("'{operation}' cannot be an operation name"),
                    )
                })?;
            headers.insert("x-amz-target", target);
        }
        sigv4::sign(
            "POST",
            uri,
            &mut headers,
            body,
            &self.access_key_id,
            &self.secret,
            &self.region,
            SERVICE,
            SystemTime::now(),
        )
        .map_err(|e| KmsError::new(ErrorKind::KmsInternal, e.to_string()))?;
        let mut request = http::Request::new(body);
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = headers;
        let mut response = self.agent.run(request).map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| self.unreachable(&e))?;
        Ok((status, bytes))
    }
}

/// Settings of an [`HttpTransport`] before it is built.
pub struct HttpTransportBuilder {
    endpoint: String,
    region: String,
    access_key_id: String,
    secret: SecretKey,
    ca_bundle: Option<PathBuf>,
    verify_tls: bool,
    connect_timeout: Duration,
    timeout: Duration,
}

impl HttpTransportBuilder {
    /// Does not check the endpoint's TLS certificate at all (the AWS CLI's
    /// `--no-verify-ssl`). Dangerous: anyone on the network path can then pose as the server
    /// and read every request, plaintexts included. Prefer [`Self::ca_bundle`].
    pub fn danger_no_verify_tls(mut self) -> Self {
        self.verify_tls = false;
        self
    }

    /// Trusts the CA certificates in this PEM file *instead of* the built-in Mozilla roots
    /// (like the AWS CLI's `--ca-bundle`): for a server with a private or self-signed
    /// certificate.
    pub fn ca_bundle(mut self, pem_file: impl AsRef<Path>) -> Self {
        self.ca_bundle = Some(pem_file.as_ref().to_owned());
        self
    }

    /// The time allowed to connect, TLS handshake included (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// The time allowed for a whole call (default 60 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Checks the settings and builds the transport. Connects lazily, on the first call.
    pub fn build(self) -> Result<HttpTransport, KmsError> {
        let endpoint = parse_endpoint(&self.endpoint)?;
        let host = endpoint
            .authority()
            .map(|a| {
                let default = if endpoint.scheme_str() == Some("https") {
                    443
                } else {
                    80
                };
                match a.port_u16() {
                    Some(p) if p != default => format!("{}:{p}", a.host()),
                    _ => a.host().to_owned(),
                }
            })
            .and_then(|h| HeaderValue::from_str(&h).ok())
            .ok_or_else(|| bad_endpoint(&self.endpoint, "it names no host"))?;
        for (what, v) in [
            ("region", &self.region),
            ("access key id", &self.access_key_id),
        ] {
            if v.is_empty()
                || !v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(KmsError::new(
                    ErrorKind::Validation,
                    format!("the {what} '{v}' is malformed (letters, digits, '-' and '_' only)"),
                ));
            }
        }
        if self.secret.expose_secret().is_empty() {
            return Err(KmsError::new(
                ErrorKind::Validation,
                "the secret access key is empty",
            ));
        }
        let mut tls = ureq::tls::TlsConfig::builder().disable_verification(!self.verify_tls);
        if let Some(path) = &self.ca_bundle {
            tls = tls.root_certs(ureq::tls::RootCerts::from(read_ca_bundle(path)?));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .user_agent(concat!("lockbox/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(self.connect_timeout))
            .timeout_global(Some(self.timeout))
            .tls_config(tls.build())
            .build();
        Ok(HttpTransport {
            // IP-address endpoints resolve without a thread per call, and a request's head
            // and body leave in one write (`http_io`).
            agent: ureq::Agent::with_parts(
                config,
                crate::http_io::connector(),
                crate::http_io::LiteralFirst::default(),
            ),
            endpoint,
            host,
            region: self.region,
            access_key_id: self.access_key_id,
            secret: self.secret,
        })
    }
}

/// Credentials read from the environment the way the AWS CLI reads them:
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, and the region from `AWS_REGION`, else
/// `AWS_DEFAULT_REGION`. Secrets never come from the command line. (`AWS_SESSION_TOKEN` is
/// not supported: Lockbox issues no temporary credentials.)
pub struct EnvCredentials {
    access_key_id: String,
    secret: SecretKey,
    region: Option<String>,
}

impl EnvCredentials {
    /// Reads the process environment.
    pub fn from_env() -> Result<EnvCredentials, KmsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads through `lookup` (an environment stand-in); empty values count as unset.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<EnvCredentials, KmsError> {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let missing = |name: &str| {
            KmsError::new(
                ErrorKind::Validation,
                format!(
                    "{name} is not set: the remote client takes its credentials from \
                     AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                ),
            )
        };
        let access_key_id = get("AWS_ACCESS_KEY_ID").ok_or_else(|| missing("AWS_ACCESS_KEY_ID"))?;
        let secret = get("AWS_SECRET_ACCESS_KEY")
            .map(SecretKey::new)
            .ok_or_else(|| missing("AWS_SECRET_ACCESS_KEY"))?;
        let region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION"));
        Ok(EnvCredentials {
            access_key_id,
            secret,
            region,
        })
    }

    /// The access key id.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The region, if the environment names one.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The access key id and secret, for [`HttpTransport::new`].
    pub fn into_key(self) -> (String, SecretKey) {
        (self.access_key_id, self.secret)
    }
}

fn bad_endpoint(endpoint: &str, why: &str) -> KmsError {
    KmsError::new(
        ErrorKind::Validation,
        format!("endpoint '{endpoint}' is not usable: {why}"),
    )
}

fn parse_endpoint(endpoint: &str) -> Result<Uri, KmsError> {
    let uri: Uri = endpoint
        .parse()
        .map_err(|e| bad_endpoint(endpoint, &format!("{e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(bad_endpoint(
                endpoint,
                "it must start with http:// or https://",
            ));
        }
    }
    let Some(authority) = uri.authority() else {
        return Err(bad_endpoint(endpoint, "it names no host"));
    };
    if authority.as_str().contains('@') {
        return Err(bad_endpoint(
            endpoint,
            "credentials do not go in the URL (use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
        ));
    }
    if uri.query().is_some() {
        return Err(bad_endpoint(endpoint, "it must not have a query"));
    }
    if uri.path().is_empty() {
        // `http://host` parses with an empty path; requests go to `/`.
        return Uri::builder()
            .scheme(uri.scheme_str().unwrap_or("https"))
            .authority(authority.as_str())
            .path_and_query("/")
            .build()
            .map_err(|e| bad_endpoint(endpoint, &e.to_string()));
    }
    Ok(uri)
}

fn read_ca_bundle(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, KmsError> {
    let bad = |why: String| {
        KmsError::new(
            ErrorKind::Validation,
            format!("CA bundle {}: {why}", path.display()),
        )
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        // A key or anything else in a CA bundle is ignored, as curl and the AWS CLI do.
        if let ureq::tls::PemItem::Certificate(c) =
            item.map_err(|e| bad(format!("not valid PEM: {e}")))?
        {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err(bad("it holds no PEM certificate".to_owned()));
    }
    Ok(certs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    const AKID: &str = "LBKAAAAAAAAAAAAAAAAA";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn transport(endpoint: &str, secret: &str) -> HttpTransport {
        HttpTransport::new(
            endpoint,
            "eu-west-1",
            AKID.to_owned(),
            SecretKey::new(secret.into()),
        )
        .unwrap()
    }

    #[test]
    fn a_refused_connection_is_reported_as_botocore_does() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let endpoint = format!("http://127.0.0.1:{port}");
        let e = transport(&endpoint, SECRET)
            .post("ListKeys", b"{}")
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.code(), e.message()),
            (
                ErrorKind::DependencyTimeout,
                ENDPOINT_CONNECTION_ERROR,
                format!("Could not connect to the endpoint URL: \"http://127.0.0.1:{port}/\"")
                    .as_str()
            )
        );
        assert!(is_transport_failure(&e));
    }

    #[test]
    fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let t = HttpTransport::builder(
            &endpoint,
            "eu-west-1",
            AKID.into(),
            SecretKey::new(SECRET.into()),
        )
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
        let started = std::time::Instant::now();
        let e = t.post("ListKeys", b"{}").unwrap_err();
        assert_eq!(
            (e.kind(), e.code(), e.message()),
            (
                ErrorKind::DependencyTimeout,
                READ_TIMEOUT_ERROR,
                format!("Read timeout on endpoint URL: \"{endpoint}/\"").as_str()
            )
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(listener);
    }

    #[test]
    fn a_connection_closed_mid_request_is_reported_as_botocore_does() {
        use std::io::Read;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            // Read the request head, then hang up without a response.
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).unwrap();
        });
        let e = transport(&endpoint, SECRET)
            .post("ListKeys", b"{}")
            .unwrap_err();
        server.join().unwrap();
        assert_eq!(
            (e.kind(), e.code(), e.message()),
            (
                ErrorKind::DependencyTimeout,
                CONNECTION_CLOSED_ERROR,
                format!(
                    "Connection was closed before we received a valid response from endpoint \
                     URL: \"{endpoint}/\"."
                )
                .as_str()
            )
        );
    }

    #[test]
    fn bad_settings_are_refused_naming_them() {
        let mk = |endpoint: &str, region: &str, id: &str| {
            HttpTransport::new(endpoint, region, id.into(), SecretKey::new(SECRET.into()))
                .err()
                .map(|e| (e.kind(), e.message().to_owned()))
        };
        for (endpoint, why) in [
            ("ftp://kms", "it must start with http:// or https://"),
            ("kms.example:4000", "it must start with http:// or https://"),
            ("http://kms/?x=1", "it must not have a query"),
            ("https://user:pw@kms", "credentials do not go in the URL"),
        ] {
            let (kind, msg) = mk(endpoint, "eu-west-1", AKID).unwrap();
            assert_eq!(kind, ErrorKind::Validation);
            assert!(
                msg.starts_with(&format!("endpoint '{endpoint}' is not usable: {why}")),
                "{msg}"
            );
        }
        let (_, msg) = mk("http://kms", "eu west", AKID).unwrap();
        assert_eq!(
            msg,
            "the region 'eu west' is malformed (letters, digits, '-' and '_' only)"
        );
        assert!(mk("https://kms.example", "eu-west-1", AKID).is_none());
        assert_eq!(
            transport("http://kms.example:80", SECRET).host,
            "kms.example"
        );
        assert_eq!(
            transport("https://kms.example:4443/", SECRET).host,
            "kms.example:4443"
        );
    }

    #[test]
    fn ca_bundle_must_be_pem_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let build = |p: &Path| {
            HttpTransport::builder(
                "https://kms.example",
                "eu-west-1",
                AKID.into(),
                SecretKey::new(SECRET.into()),
            )
            .ca_bundle(p)
            .build()
            .err()
            .unwrap()
        };
        let missing = dir.path().join("missing.pem");
        let e = build(&missing);
        assert_eq!(e.kind(), ErrorKind::Validation);
        assert!(
            e.message()
                .starts_with(&format!("CA bundle {}: ", missing.display())),
            "{}",
            e.message()
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        assert_eq!(
            build(&junk).message(),
            format!("CA bundle {}: it holds no PEM certificate", junk.display())
        );
    }

    #[test]
    fn environment_credentials_follow_the_aws_cli() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let c = EnvCredentials::from_lookup(env(&[
            ("AWS_ACCESS_KEY_ID", AKID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ]))
        .unwrap();
        assert_eq!((c.access_key_id(), c.region()), (AKID, Some("eu-west-1")));
        let (id, secret) = c.into_key();
        assert_eq!((id.as_str(), secret.expose_secret()), (AKID, SECRET));

        let c = EnvCredentials::from_lookup(env(&[
            ("AWS_ACCESS_KEY_ID", AKID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_REGION", ""),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ]))
        .unwrap();
        assert_eq!(c.region(), Some("us-east-1"));

        let e = EnvCredentials::from_lookup(env(&[("AWS_ACCESS_KEY_ID", AKID)]))
            .err()
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::Validation);
        assert!(
            e.message().starts_with("AWS_SECRET_ACCESS_KEY is not set"),
            "{}",
            e.message()
        );
        let e = EnvCredentials::from_lookup(env(&[])).err().unwrap();
        assert!(e.message().starts_with("AWS_ACCESS_KEY_ID is not set"));
    }
}
