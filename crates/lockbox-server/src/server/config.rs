//! `server.toml`: where and how `lockbox serve` listens, and its limits.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ServerError;
use crate::throttle::ThrottleConfig;

/// The configuration file's name inside a data directory.
pub const SERVER_CONFIG_FILE: &str = "server.toml";

/// The default port: 7300 ("lockbox" has no registered port; this one is unassigned by IANA
/// and clear of the ports other local AWS emulators use, 4566 and 8080).
pub const DEFAULT_PORT: u16 = 7300;

/// `<data_dir>/server.toml`. Every field is optional; the defaults are shown:
///
/// ```toml
/// listen = "127.0.0.1:7300"
/// # tls_cert = "server.crt"        # PEM certificate chain, leaf first; with tls_key, serve HTTPS
/// # tls_key = "server.key"         # PEM private key (PKCS#8, PKCS#1 or SEC1)
/// dangerously_allow_plain_http = false   # plain HTTP on a non-loopback address: SigV4 keeps
///                                        # secrets off the wire, but not plaintexts or data keys
/// # region = "us-east-1"           # deprecated: serve only this Region; default: every
///                                  # Region lockbox.toml's [arn] regions serves
/// max_body_bytes = 262144          # 256 KiB (AWS KMS's largest input is a 32 KiB policy)
/// header_read_timeout_ms = 10000   # a request's headers must arrive within this
/// body_read_timeout_ms = 30000     # and its body within this
/// idle_timeout_ms = 60000          # a keep-alive connection with no request is closed
/// max_concurrent_requests = 64     # requests in flight; more are answered 503
/// max_connections = 1024           # open connections; more wait in the listen backlog
/// shutdown_grace_ms = 30000        # how long shutdown waits for requests in flight
///
/// [throttle]                       # see lockbox_server::throttle
/// enabled = true
/// cryptographic = 5500
/// ```
///
/// Relative paths are relative to the data directory.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The PEM certificate chain (leaf first). TLS is on when this and `tls_key` are set.
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key.
    pub tls_key: Option<PathBuf>,
    /// Allows plain HTTP on an address that is not loopback. Dangerous: requests and
    /// responses (plaintexts, data keys) cross the network in the clear.
    pub dangerously_allow_plain_http: bool,
    /// Deprecated: when set, the only Region SigV4 signatures may name (a restriction of the
    /// Regions the engine serves, lockbox.toml's `[arn] regions`); `None`: every Region the
    /// engine serves.
    pub region: Option<String>,
    /// The largest request body accepted, in bytes; larger ones are answered 413.
    pub max_body_bytes: usize,
    /// How long a client may take to send a request's headers (and a TLS handshake), in ms.
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request's body, in ms.
    pub body_read_timeout_ms: u64,
    /// How long a keep-alive connection may sit without a request, in ms.
    pub idle_timeout_ms: u64,
    /// The most requests processed at once; more are answered 503 at once (the AWS SDKs
    /// retry 503 with back-off).
    pub max_concurrent_requests: usize,
    /// The most open connections; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// How long a graceful shutdown waits for requests in flight, in ms.
    pub shutdown_grace_ms: u64,
    /// Per-account throttling.
    pub throttle: ThrottleConfig,
    /// The principals (ARNs) that may run Lockbox's own commands (`audit`, `doctor`,
    /// `key-usage`, `maintain`) through `POST /lockbox/admin` with `--endpoint-url`; empty:
    /// nobody (decision 0027). Key policies do not decide these: they are the installation's.
    pub operators: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            tls_cert: None,
            tls_key: None,
            dangerously_allow_plain_http: false,
            region: None,
            max_body_bytes: 256 * 1024,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
            max_concurrent_requests: 64,
            max_connections: 1024,
            shutdown_grace_ms: 30_000,
            throttle: ThrottleConfig::default(),
            operators: Vec::new(),
        }
    }
}

impl ServerConfig {
    /// Reads `<data_dir>/server.toml`; the defaults if it does not exist. Relative TLS paths
    /// are resolved against `data_dir`. The configuration is checked.
    pub fn load(data_dir: &Path) -> Result<ServerConfig, ServerError> {
        let path = data_dir.join(SERVER_CONFIG_FILE);
        let mut config = match std::fs::read_to_string(&path) {
            Ok(text) => ServerConfig::parse(&text)
                .map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ServerConfig::default(),
            Err(e) => {
                return Err(ServerError::Config(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        };
        for p in [&mut config.tls_cert, &mut config.tls_key]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = data_dir.join(&*p);
            }
        }
        Ok(config)
    }

    /// Parses and checks the text of a `server.toml`.
    pub fn parse(text: &str) -> Result<ServerConfig, String> {
        let config: ServerConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        config.check()?;
        Ok(config)
    }

    /// Checks every bound; the message names the field and its allowed range.
    pub fn check(&self) -> Result<(), String> {
        fn range<T: PartialOrd + std::fmt::Display>(
            field: &str,
            v: T,
            lo: T,
            hi: T,
            unit: &str,
        ) -> Result<(), String> {
            if v < lo || v > hi {
                return Err(format!("{field} = {v}: must be {lo}..={hi}{unit}"));
            }
            Ok(())
        }
        range(
            "max_body_bytes",
            self.max_body_bytes,
            1024,
            16 << 20,
            " bytes",
        )?;
        range(
            "header_read_timeout_ms",
            self.header_read_timeout_ms,
            10,
            600_000,
            " ms",
        )?;
        range(
            "body_read_timeout_ms",
            self.body_read_timeout_ms,
            10,
            600_000,
            " ms",
        )?;
        range(
            "idle_timeout_ms",
            self.idle_timeout_ms,
            10,
            3_600_000,
            " ms",
        )?;
        range(
            "max_concurrent_requests",
            self.max_concurrent_requests,
            1,
            4096,
            "",
        )?;
        range("max_connections", self.max_connections, 1, 100_000, "")?;
        range(
            "shutdown_grace_ms",
            self.shutdown_grace_ms,
            0,
            3_600_000,
            " ms",
        )?;
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => return Err("tls_cert is set but tls_key is not".into()),
            (None, Some(_)) => return Err("tls_key is set but tls_cert is not".into()),
            _ => {}
        }
        if let Some(region) = &self.region
            && (region.is_empty()
                || region.len() > 32
                || !region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
        {
            return Err(format!(
                "region = {region:?}: must be 1 to 32 lowercase letters, digits and '-'"
            ));
        }
        for arn in &self.operators {
            lockbox_api::Principal::parse(arn)
                .map_err(|e| format!("operators: {arn:?}: {}", e.message()))?;
        }
        self.throttle.check()
    }

    /// [`ServerConfig::check`], and the transport rule: plain HTTP only on a loopback
    /// address unless `dangerously_allow_plain_http` is set.
    pub fn check_all(&self) -> Result<(), ServerError> {
        self.check().map_err(ServerError::Config)?;
        if !self.tls() && !self.listen.ip().is_loopback() && !self.dangerously_allow_plain_http {
            return Err(ServerError::PlainHttpRefused(self.listen));
        }
        Ok(())
    }

    /// Whether TLS is configured.
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some()
    }

    pub(crate) fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    pub(crate) fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }

    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    pub(crate) fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_empty_file_is_the_defaults() {
        assert_eq!(ServerConfig::parse("").unwrap(), ServerConfig::default());
        assert_eq!(ServerConfig::default().listen.to_string(), "127.0.0.1:7300");
    }

    #[test]
    fn fields_parse_and_bad_ones_are_named() {
        let c = ServerConfig::parse(
            "listen = \"0.0.0.0:8443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n\
             max_body_bytes = 4096\n[throttle]\ncreate_key = 2\n",
        )
        .unwrap();
        assert_eq!(
            (c.listen.port(), c.max_body_bytes, c.throttle.create_key),
            (8443, 4096, 2.0)
        );
        for (text, needle) in [
            (
                "max_body_bytes = 10",
                "max_body_bytes = 10: must be 1024..=16777216 bytes",
            ),
            (
                "header_read_timeout_ms = 0",
                "header_read_timeout_ms = 0: must be 10..=",
            ),
            (
                "max_concurrent_requests = 0",
                "max_concurrent_requests = 0: must be 1..=",
            ),
            ("max_connections = 0", "max_connections = 0: must be 1..="),
            ("tls_cert = \"c.pem\"", "tls_cert is set but tls_key is not"),
            ("region = \"US East\"", "region = \"US East\": must be"),
            ("listen = \"nowhere\"", "listen"),
            ("bogus = 1", "unknown field `bogus`"),
            ("[throttle]\nlists = 0", "throttle.lists = 0"),
        ] {
            let e = ServerConfig::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn load_resolves_relative_tls_paths_and_defaults_without_a_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            ServerConfig::load(dir.path()).unwrap(),
            ServerConfig::default()
        );
        std::fs::write(
            dir.path().join(SERVER_CONFIG_FILE),
            "tls_cert = \"c.pem\"\ntls_key = \"/abs/k.pem\"\n",
        )
        .unwrap();
        let c = ServerConfig::load(dir.path()).unwrap();
        assert_eq!(c.tls_cert.unwrap(), dir.path().join("c.pem"));
        assert_eq!(c.tls_key.unwrap(), PathBuf::from("/abs/k.pem"));
        std::fs::write(dir.path().join(SERVER_CONFIG_FILE), "max_connections = -1").unwrap();
        let e = ServerConfig::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("server.toml"), "{e}");
    }
}
