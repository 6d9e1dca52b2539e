//! The HTTP transport of lockbox-client against a small blocking server that verifies each
//! request with the server's `sigv4::verify`: signing, connection reuse, TLS with a private
//! CA, error bodies, and transport failures named as botocore names them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::path::Path;
use std::time::SystemTime;

use lockbox_api::{ErrorKind, Principal};
use lockbox_client::SecretKey;
use lockbox_client::http_client::*;
use lockbox_client::remote::Transport;
use lockbox_server::credentials::{Credential, CredentialStore};
use lockbox_server::sigv4;

const AKID: &str = "LBKAAAAAAAAAAAAAAAAA";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// What the test server saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    requests: AtomicUsize,
}

/// A one-request-at-a-time HTTP/1.1 server on 127.0.0.1 that verifies each request's
/// signature with `sigv4::verify` and answers `{"Keys":[]}` or the verification error.
/// It serves `max_connections` connections, each until the client closes it.
fn server(max_connections: usize) -> (String, Arc<Seen>) {
    server_with(max_connections, None)
}

fn test_store() -> CredentialStore {
    CredentialStore::from_entries([Credential::new(
        AKID,
        SecretKey::new(SECRET.into()),
        Principal::parse("arn:aws:iam::111122223333:user/admin").unwrap(),
    )
    .unwrap()])
    .unwrap()
}

/// The server's certificate (for localhost and 127.0.0.1) and key, issued by
/// testdata/ca.pem; made with openssl, valid for 100 years.
fn tls_config() -> Arc<rustls::ServerConfig> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let cert = std::fs::read(dir.join("server.pem")).unwrap();
    let key = std::fs::read(dir.join("server.key")).unwrap();
    let cert = match ureq::tls::parse_pem(&cert).next().unwrap().unwrap() {
        ureq::tls::PemItem::Certificate(c) => c.der().to_vec(),
        _ => panic!("server.pem holds no certificate"),
    };
    let key = match ureq::tls::parse_pem(&key).next().unwrap().unwrap() {
        ureq::tls::PemItem::PrivateKey(k) => k.der().to_vec(),
        _ => panic!("server.key holds no key"),
    };
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![rustls::pki_types::CertificateDer::from(cert)],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
    )
    .unwrap();
    Arc::new(config)
}

fn server_with(
    max_connections: usize,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (String, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let seen2 = Arc::clone(&seen);
    let scheme = if tls.is_some() { "https" } else { "http" };
    std::thread::spawn(move || {
        let store = test_store();
        for stream in listener.incoming().take(max_connections) {
            seen2.connections.fetch_add(1, Ordering::SeqCst);
            let stream = stream.unwrap();
            match &tls {
                Some(config) => {
                    let conn = rustls::ServerConnection::new(Arc::clone(config)).unwrap();
                    serve_connection(rustls::StreamOwned::new(conn, stream), &store, &seen2);
                }
                None => serve_connection(stream, &store, &seen2),
            }
        }
    });
    (format!("{scheme}://{addr}"), seen)
}

fn serve_connection(stream: impl Read + Write, store: &CredentialStore, seen: &Seen) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut words = line.split_whitespace();
        let (method, target) = (words.next().unwrap(), words.next().unwrap());
        let mut builder = http::Request::builder().method(method).uri(target);
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.insert(k.to_ascii_lowercase(), v.trim().to_owned());
            builder = builder.header(k, v.trim());
        }
        let len: usize = headers["content-length"].parse().unwrap();
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        seen.requests.fetch_add(1, Ordering::SeqCst);
        let parts = builder.body(()).unwrap().into_parts().0;
        let (status, reply) = if headers.get("x-amz-target").map(String::as_str)
            != Some("TrentService.ListKeys")
            || headers.get("content-type").map(String::as_str) != Some("application/x-amz-json-1.1")
        {
            (400, b"{\"__type\":\"UnknownOperationException\"}".to_vec())
        } else {
            match sigv4::verify(&parts, &body, store, "eu-west-1", "kms", SystemTime::now()) {
                Ok(c) => {
                    assert_eq!(c.access_key_id(), AKID);
                    (200, b"{\"Keys\":[]}".to_vec())
                }
                Err(e) => (e.status, e.body()),
            }
        };
        let out = reader.get_mut();
        write!(
            out,
            "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.1\r\n\
             content-length: {}\r\n\r\n",
            reply.len()
        )
        .unwrap();
        out.write_all(&reply).unwrap();
        out.flush().unwrap();
    }
}

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
fn posts_signed_requests_and_reuses_the_connection() {
    let (endpoint, seen) = server(1);
    let t = transport(&endpoint, SECRET);
    for _ in 0..3 {
        let (status, body) = t.post("ListKeys", b"{}").unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"{\"Keys\":[]}"[..]));
    }
    assert_eq!(seen.requests.load(Ordering::SeqCst), 3);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
}

#[test]
fn https_with_a_private_ca_bundle() {
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/ca.pem");
    let (endpoint, seen) = server_with(2, Some(tls_config()));
    // The built-in roots do not know the test CA: the handshake fails.
    let e = transport(&endpoint, SECRET)
        .post("ListKeys", b"{}")
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::DependencyTimeout, SSL_ERROR)
    );
    assert!(is_transport_failure(&e));
    assert!(
        e.message()
            .starts_with(&format!("SSL validation failed for {endpoint}/ ")),
        "{}",
        e.message()
    );
    let t = HttpTransport::builder(
        &endpoint,
        "eu-west-1",
        AKID.into(),
        SecretKey::new(SECRET.into()),
    )
    .ca_bundle(&ca)
    .build()
    .unwrap();
    for _ in 0..2 {
        let (status, body) = t.post("ListKeys", b"{}").unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"{\"Keys\":[]}"[..]));
    }
    assert_eq!(seen.requests.load(Ordering::SeqCst), 2);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
}

#[test]
fn error_responses_come_back_as_status_and_body() {
    let (endpoint, _) = server(1);
    let t = transport(&endpoint, "not the secret");
    let (status, body) = t.post("ListKeys", b"{}").unwrap();
    assert_eq!(status, 400);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["__type"], "InvalidSignatureException");
    assert_eq!(v["message"], sigv4::SIGNATURE_MISMATCH_MESSAGE);
}
