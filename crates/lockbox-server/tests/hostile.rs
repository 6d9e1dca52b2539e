//! Hostile input against a real server: the AWS frontend (JSON 1.1 codec and SigV4) over a real
//! engine on a throwaway SoftHSM token, spoken to with raw HTTP over std sockets.
//!
//! Every case asserts the exact status, `__type` and the words of the message that name the
//! fault; after each, a valid signed request on a new connection must still be answered
//! correctly. Requests that need a signature are signed with `sigv4::sign`, as a client
//! would sign them, and then tampered with.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::header::{AUTHORIZATION, HeaderName};
use http::{HeaderMap, HeaderValue, Uri};
use lockbox::{Config, Engine};
use lockbox_server::credentials::{Credential, CredentialStore, SecretKey};
use lockbox_server::server::{CONTENT_TYPE, MAX_HEAD_BYTES, Server, ServerConfig, ServerHandle};
use lockbox_server::sigv4::{self, SIGNATURE_MISMATCH_MESSAGE, UNRECOGNIZED_CLIENT_MESSAGE};
use lockbox_token::testing::TestToken;
use lockbox_token::token_test;

#[path = "common/http.rs"]
mod http_raw;
use http_raw::{Reply, parse, send};
use serde_json::json;

const ACCESS_KEY: &str = "LBKHOSTILETEST000001";
const SECRET: &str = "hostileTestSecret0123456789abcdefghijklm";
const MINUTE: Duration = Duration::from_secs(60);

/// A server with one credential (for the engine's default principal) and one key, created
/// through the wire.
struct Fixture {
    // Dropped (shut down) before the test's token goes away.
    server: ServerHandle,
    engine: Arc<Engine>,
    addr: SocketAddr,
    region: String,
    key_id: String,
}

fn start(t: &TestToken, tweak: impl FnOnce(&mut ServerConfig)) -> Fixture {
    start_engine(t, |_| {}, tweak)
}

fn start_engine(
    t: &TestToken,
    engine_tweak: impl FnOnce(&mut Config),
    tweak: impl FnOnce(&mut ServerConfig),
) -> Fixture {
    let mut engine_config = Config::new(t.dir().join("data"), t.config());
    engine_tweak(&mut engine_config);
    let engine = Arc::new(Engine::open(engine_config).unwrap());
    let region = engine.arn_scope().region().to_owned();
    let principal = engine.default_caller("test").principal().clone();
    let credential =
        Credential::new(ACCESS_KEY, SecretKey::new(SECRET.to_owned()), principal).unwrap();
    let store = CredentialStore::from_entries([credential]).unwrap();
    let mut config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        shutdown_grace_ms: 500,
        ..ServerConfig::default()
    };
    tweak(&mut config);
    let server = Server::start(engine.clone(), store, config).unwrap();
    let addr = server.local_addr();
    let mut f = Fixture {
        server,
        engine,
        addr,
        region,
        key_id: String::new(),
    };
    let r = send(addr, &f.signed("CreateKey", b"{}"));
    assert_eq!(r.status, 200, "{}", r.body);
    f.key_id = r.json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    f
}

impl Fixture {
    /// A request for `op` signed now with the right credential, region and service.
    fn signed(&self, op: &str, body: &[u8]) -> Vec<u8> {
        raw(&self.sign_with(op, body, |_| {}))
    }

    /// The signed headers of a request for `op`; `tweak` changes the signing inputs.
    fn sign_with(&self, op: &str, body: &[u8], tweak: impl FnOnce(&mut Signing)) -> Request {
        let mut s = Signing {
            access_key: ACCESS_KEY.to_owned(),
            secret: SECRET.to_owned(),
            region: self.region.clone(),
            service: "kms".to_owned(),
            now: SystemTime::now(),
            extra: Vec::new(),
        };
        tweak(&mut s);
        let uri: Uri = format!("http://{}/", self.addr).parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "host",
            HeaderValue::from_str(&self.addr.to_string()).unwrap(),
        );
        headers.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
        headers.insert(
            "x-amz-target",
            HeaderValue::from_str(&format!("TrentService.{op}")).unwrap(),
        );
        for (k, v) in &s.extra {
            headers.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        sigv4::sign(
            "POST",
            &uri,
            &mut headers,
            body,
            &s.access_key,
            &SecretKey::new(s.secret),
            &s.region,
            &s.service,
            s.now,
        )
        .unwrap();
        Request {
            headers,
            body: body.to_vec(),
        }
    }

    /// Asserts that a valid signed request on a new connection is answered correctly.
    #[track_caller]
    fn assert_serves(&self) {
        let body = json!({ "KeyId": self.key_id }).to_string();
        let r = send(self.addr, &self.signed("DescribeKey", body.as_bytes()));
        assert_eq!(r.status, 200, "after a hostile request: {}", r.body);
        assert_eq!(r.json()["KeyMetadata"]["KeyId"], self.key_id.as_str());
    }
}

struct Signing {
    access_key: String,
    secret: String,
    region: String,
    service: String,
    now: SystemTime,
    /// More headers, signed too.
    extra: Vec<(&'static str, String)>,
}

struct Request {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// The request on the wire, with `Content-Length` and `Connection: close` (neither signed).
fn raw(r: &Request) -> Vec<u8> {
    let mut out = b"POST / HTTP/1.1\r\n".to_vec();
    for (k, v) in &r.headers {
        out.extend_from_slice(k.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            r.body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&r.body);
    out
}

/// An unsigned request with these headers (and `Host`, `Content-Length`, `Connection: close`).
fn unsigned(headers: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    let mut out = b"POST / HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    for (k, v) in headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
    out
}

/// Asserts an error reply: status, `__type`, and words of the message.
#[track_caller]
fn assert_error(r: &Reply, status: u16, code: &str, words: &[&str]) {
    let v = r.json();
    assert_eq!(
        (r.status, v["__type"].as_str().unwrap_or("")),
        (status, code),
        "{}",
        r.body
    );
    let message = v["message"].as_str().unwrap();
    for w in words {
        assert!(message.contains(w), "{message:?} lacks {w:?}");
    }
    assert_eq!(r.header("content-type"), Some(CONTENT_TYPE));
    assert!(uuid::Uuid::parse_str(r.header("x-amzn-requestid").unwrap()).is_ok());
}

/// Whether the server has closed `s` (reads EOF) rather than leaving it open with nothing to
/// read.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1];
    let closed = match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => panic!("the server sent bytes on an idle connection"),
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(_) => true,
    };
    s.set_nonblocking(false).unwrap();
    closed
}

/// A signed malformed request: (what, operation, body, `__type`, words of the message).
type SignedCase<'a> = (&'a str, &'a str, Vec<u8>, &'a str, &'a [&'a str]);
/// An unsigned one: (what, headers, status, `__type`, words of the message).
type UnsignedCase<'a> = (
    &'a str,
    Vec<(&'a str, &'a [u8])>,
    u16,
    &'a str,
    &'a [&'a str],
);

token_test!(fn malformed_requests_get_exact_errors_and_the_server_goes_on(t) {
    let f = start(t, |_| {});
    let key = f.key_id.clone();
    let deep_array = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_member = format!(r#"{{"KeyId":{}1{}}}"#, "[".repeat(5000), "]".repeat(5000));
    let deep_object = format!("{}1{}", r#"{"a":"#.repeat(5000), "}".repeat(5000));
    let signed_cases: Vec<SignedCase> = vec![
        ("bad JSON", "DescribeKey", br#"{"KeyId": "#.to_vec(),
            "SerializationException", &["not valid JSON"]),
        ("array body", "DescribeKey", br#"["KeyId"]"#.to_vec(),
            "SerializationException", &["must be a JSON object"]),
        ("string body", "DescribeKey", br#""KeyId""#.to_vec(),
            "SerializationException", &["must be a JSON object"]),
        ("KeyId a number", "DescribeKey", br#"{"KeyId": 5}"#.to_vec(),
            "SerializationException", &["Value of KeyId must be a string"]),
        ("Plaintext a list", "Encrypt",
            json!({"KeyId": key, "Plaintext": ["aGk="]}).to_string().into_bytes(),
            "SerializationException", &["Value of Plaintext must be a base64-encoded string"]),
        ("EncryptionContext a string", "Encrypt",
            json!({"KeyId": key, "Plaintext": "aGk=", "EncryptionContext": "a=b"})
                .to_string().into_bytes(),
            "SerializationException",
            &["Value of EncryptionContext must be a map of strings to strings"]),
        ("bad base64 Plaintext", "Encrypt",
            json!({"KeyId": key, "Plaintext": "not*base64!"}).to_string().into_bytes(),
            "SerializationException", &["Value of Plaintext is not valid base64"]),
        ("bad base64 CiphertextBlob", "Decrypt",
            json!({"CiphertextBlob": "%%%%"}).to_string().into_bytes(),
            "SerializationException", &["Value of CiphertextBlob is not valid base64"]),
        ("deeply nested arrays", "DescribeKey", deep_array.into_bytes(),
            "SerializationException", &["not valid JSON", "recursion limit exceeded"]),
        ("deeply nested member", "DescribeKey", deep_member.into_bytes(),
            "SerializationException", &["not valid JSON", "recursion limit exceeded"]),
        ("deeply nested objects", "DescribeKey", deep_object.into_bytes(),
            "SerializationException", &["not valid JSON", "recursion limit exceeded"]),
        ("non-UTF-8 in a string", "DescribeKey", b"{\"KeyId\": \"\xff\xfe\"}".to_vec(),
            "SerializationException", &["not valid JSON"]),
        ("non-UTF-8 outside strings", "DescribeKey", b"\xff\xfe{}".to_vec(),
            "SerializationException", &["not valid JSON"]),
        ("unknown target", "Nope", b"{}".to_vec(),
            "UnknownOperationException", &["X-Amz-Target 'TrentService.Nope' names no operation"]),
    ];
    for (what, op, body, code, words) in &signed_cases {
        let r = send(f.addr, &f.signed(op, body));
        eprintln!("case: {what}");
        assert_error(&r, 400, code, words);
        f.assert_serves();
    }

    let unsigned_cases: Vec<UnsignedCase> = vec![
        ("missing target", vec![("Content-Type", CONTENT_TYPE.as_bytes())], 400,
            "UnknownOperationException", &["X-Amz-Target header is missing"]),
        ("target not ASCII",
            vec![("Content-Type", CONTENT_TYPE.as_bytes()), ("X-Amz-Target", b"TrentService.\xffx")],
            400, "UnknownOperationException", &["X-Amz-Target header is not visible ASCII"]),
        ("wrong content type",
            vec![("Content-Type", b"application/json"), ("X-Amz-Target", b"TrentService.Encrypt")],
            415, "UnsupportedMediaTypeException",
            &["Content-Type must be application/x-amz-json-1.1, not 'application/json'"]),
        ("no content type", vec![("X-Amz-Target", b"TrentService.Encrypt")], 415,
            "UnsupportedMediaTypeException", &["Content-Type must be"]),
        ("missing Authorization",
            vec![("Content-Type", CONTENT_TYPE.as_bytes()), ("X-Amz-Target", b"TrentService.ListKeys")],
            400, "MissingAuthenticationTokenException", &["Request is missing Authentication Token"]),
    ];
    for (what, headers, status, code, words) in &unsigned_cases {
        eprintln!("case: {what}");
        let r = send(f.addr, &unsigned(headers, b"{}"));
        assert_error(&r, *status, code, words);
        f.assert_serves();
    }
    Ok(())
});

token_test!(fn authentication_failures_get_aws_error_names_and_the_server_goes_on(t) {
    let f = start(t, |_| {});
    let body = json!({ "KeyId": f.key_id }).to_string().into_bytes();

    // One hex digit of the signature changed.
    let mut forged = f.sign_with("DescribeKey", &body, |_| {});
    let auth = forged.headers[AUTHORIZATION].to_str().unwrap().to_owned();
    let last = auth.chars().last().unwrap();
    let flipped = format!(
        "{}{}",
        &auth[..auth.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    forged.headers.insert(AUTHORIZATION, HeaderValue::from_str(&flipped).unwrap());

    // Signed over one body, sent with another (same length, and a different length).
    let mut swapped = f.sign_with("DescribeKey", &body, |_| {});
    swapped.body = body.iter().map(|b| if *b == b'-' { b'_' } else { *b }).collect();
    let mut longer = f.sign_with("DescribeKey", &body, |_| {});
    longer.body = json!({ "KeyId": f.key_id, "GrantTokens": [] }).to_string().into_bytes();
    // The same, with the body's hash in a signed x-amz-content-sha256 header.
    let hash: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect()
    };
    let mut hashed = f.sign_with("DescribeKey", &body, |s| {
        s.extra.push(("x-amz-content-sha256", hash));
    });
    hashed.body = swapped.body.clone();
    // A signed header changed after signing.
    let mut retargeted = f.sign_with("DescribeKey", &body, |_| {});
    retargeted
        .headers
        .insert("x-amz-target", HeaderValue::from_static("TrentService.ScheduleKeyDeletion"));

    let now = SystemTime::now();
    let cases: Vec<(&str, Request, &str, Vec<String>)> = vec![
        ("forged signature", forged, "InvalidSignatureException",
            vec![SIGNATURE_MISMATCH_MESSAGE.to_owned()]),
        ("body swapped after signing", swapped, "InvalidSignatureException",
            vec![SIGNATURE_MISMATCH_MESSAGE.to_owned()]),
        ("longer body after signing", longer, "InvalidSignatureException",
            vec![SIGNATURE_MISMATCH_MESSAGE.to_owned()]),
        ("body swapped under a content hash", hashed, "InvalidSignatureException",
            vec!["'x-amz-content-sha256' header does not match".to_owned()]),
        ("target changed after signing", retargeted, "InvalidSignatureException",
            vec![SIGNATURE_MISMATCH_MESSAGE.to_owned()]),
        ("unknown access key",
            f.sign_with("DescribeKey", &body, |s| s.access_key = "LBKNOSUCHKEY00000000".into()),
            "UnrecognizedClientException", vec![UNRECOGNIZED_CLIENT_MESSAGE.to_owned()]),
        ("wrong secret",
            f.sign_with("DescribeKey", &body, |s| s.secret = SECRET.replace('h', "H")),
            "InvalidSignatureException", vec![SIGNATURE_MISMATCH_MESSAGE.to_owned()]),
        ("signed 20 minutes ago",
            f.sign_with("DescribeKey", &body, |s| s.now = now - 20 * MINUTE),
            "InvalidSignatureException",
            vec!["Signature expired".to_owned(), "is now earlier than".to_owned()]),
        ("signed 20 minutes ahead",
            f.sign_with("DescribeKey", &body, |s| s.now = now + 20 * MINUTE),
            "InvalidSignatureException",
            vec!["Signature not yet current".to_owned()]),
        ("wrong region",
            f.sign_with("DescribeKey", &body, |s| {
                // Not of AWS's Region form, so not served.
                s.region = "moon-1".into()
            }),
            "InvalidSignatureException",
            vec!["Credential should be scoped to a valid region.".to_owned()]),
        ("wrong service",
            f.sign_with("DescribeKey", &body, |s| s.service = "s3".into()),
            "InvalidSignatureException",
            vec!["Credential should be scoped to correct service: 'kms'.".to_owned()]),
    ];
    for (what, request, code, words) in &cases {
        eprintln!("case: {what}");
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        assert_error(&send(f.addr, &raw(request)), 400, code, &words);
        f.assert_serves();
    }

    // Within the skew window a signature from 10 minutes ago is still good.
    let recent = f.sign_with("DescribeKey", &body, |s| s.now = now - 10 * MINUTE);
    assert_eq!(send(f.addr, &raw(&recent)).status, 200);
    Ok(())
});

token_test!(fn bodies_over_the_cap_are_refused_declared_or_chunked(t) {
    let f = start(t, |c| c.max_body_bytes = 4096);
    // Exactly at the cap: served (JSON allows trailing white space).
    let mut body = json!({ "KeyId": f.key_id }).to_string().into_bytes();
    body.resize(4096, b' ');
    let r = send(f.addr, &f.signed("DescribeKey", &body));
    assert_eq!(r.status, 200, "{}", r.body);
    // One byte over: refused before the signature is even looked at.
    body.push(b' ');
    let r = send(f.addr, &f.signed("DescribeKey", &body));
    assert_error(&r, 413, "RequestEntityTooLargeException", &["larger than the server's limit of 4096 bytes"]);
    assert_eq!(r.header("connection"), Some("close"));
    f.assert_serves();

    // Declared far over the cap, with no body sent: answered at once, nothing read.
    let mut s = TcpStream::connect(f.addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {CONTENT_TYPE}\r\n\
             X-Amz-Target: TrentService.Encrypt\r\nContent-Length: 1000000000\r\n\r\n"
        )
        .as_bytes(),
    )?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert_error(&parse(&out), 413, "RequestEntityTooLargeException", &["4096 bytes"]);
    f.assert_serves();

    // Chunked, no length: refused while reading.
    let mut chunked = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {CONTENT_TYPE}\r\n\
         X-Amz-Target: TrentService.Encrypt\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..5 {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend_from_slice(&[b' '; 0x400]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = send(f.addr, &chunked);
    assert_error(&r, 413, "RequestEntityTooLargeException", &["4096 bytes"]);
    f.assert_serves();
    Ok(())
});

token_test!(fn header_floods_are_refused_and_the_server_goes_on(t) {
    let f = start(t, |_| {});
    // Many headers: more than hyper's 100.
    let mut many = b"POST / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..500 {
        many.extend_from_slice(format!("X-Flood-{i}: {i}\r\n").as_bytes());
    }
    many.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let r = send(f.addr, &many);
    assert_eq!(r.status, 431, "{}", r.body);
    f.assert_serves();

    // A head over MAX_HEAD_BYTES: one huge header line, and (under the header count) many
    // long ones. Each is a complete, otherwise valid request, which must not be served.
    let huge_line = format!("X-Huge: {}\r\n", "a".repeat(100 * 1024));
    let long_lines: String = (0..90)
        .map(|i| format!("X-Long-{i}: {}\r\n", "b".repeat(1000)))
        .collect();
    for extra in [huge_line, long_lines] {
        assert!(extra.len() > MAX_HEAD_BYTES);
        let mut req = raw(&f.sign_with("ListKeys", b"{}", |_| {}));
        let at = req.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        req.splice(at..at, extra.into_bytes());
        // `None`: the server closed with our bytes unread, and the reset overtook its 431.
        if let Some(r) = send_racing_close(f.addr, &req) {
            assert_eq!(r.status, 431, "{}", r.body);
        }
        f.assert_serves();
    }
    Ok(())
});

/// Sends `raw` while reading: the server may answer and close before it has read all of
/// it, and then the reset its close causes can destroy the answer in our receive buffer,
/// unless it was read first. `None` if the connection ended without an answer.
fn send_racing_close(addr: SocketAddr, raw: &[u8]) -> Option<Reply> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = s.try_clone().unwrap();
    let read = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = reader.read_to_end(&mut out);
        out
    });
    let _ = (&s).write_all(raw);
    let out = read.join().unwrap();
    (!out.is_empty()).then(|| parse(&out))
}

token_test!(fn slow_headers_and_slow_bodies_are_cut_off_while_others_are_served(t) {
    let f = start(t, |c| {
        c.header_read_timeout_ms = 300;
        c.body_read_timeout_ms = 300;
    });
    let addr = f.addr;
    // Slowloris: one byte of the head every 50 ms, for up to 5 s.
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let started = Instant::now();
        let head = b"POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: TrentService.ListKeys\r\n\
                     Content-Type: application/x-amz-json-1.1\r\nX-Padding: aaaaaaaaaaaaaaaa\r\n";
        for b in head {
            if s.write_all(&[*b]).is_err() || started.elapsed() > Duration::from_secs(5) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        (n, started.elapsed())
    });
    // Meanwhile, signed requests are served.
    for _ in 0..5 {
        f.assert_serves();
        std::thread::sleep(Duration::from_millis(50));
    }
    let (n, elapsed) = slow.join().unwrap();
    assert_eq!(n, 0, "the slow connection got a response instead of being closed");
    // The head needs > 7 s at this pace; the connection is closed soon after 300 ms.
    assert!(elapsed < Duration::from_secs(3), "closed only after {elapsed:?}");

    // A body that never comes: 408 once the body timeout is over.
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {CONTENT_TYPE}\r\n\
             X-Amz-Target: TrentService.ListKeys\r\nContent-Length: 100\r\n\r\n{{"
        )
        .as_bytes(),
    )?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert_error(&parse(&out), 408, "RequestTimeoutException", &["did not arrive within 300 ms"]);
    f.assert_serves();
    Ok(())
});

token_test!(fn idle_connections_up_to_the_cap_do_not_lock_out_a_new_client(t) {
    let f = start(t, |c| {
        c.max_connections = 4;
        c.header_read_timeout_ms = 500;
    });
    // Below the cap: idle connections hold their slots, and a new client is served
    // meanwhile.
    let mut idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(f.addr).unwrap()).collect();
    f.assert_serves();
    for s in &mut idle {
        assert!(!closed_by_server(s), "an idle connection was closed early");
    }
    // Over the cap: the newcomer waits in the backlog until the header timeout frees the
    // slots the idle connections hold, then is served.
    idle.extend((0..6).map(|_| TcpStream::connect(f.addr).unwrap()));
    f.assert_serves();
    std::thread::sleep(Duration::from_millis(800));
    // The first three had their slots and sent nothing: closed by the header timeout.
    for s in &mut idle[..3] {
        assert!(closed_by_server(s), "an idle connection outlived the header timeout");
    }
    f.assert_serves();
    drop(f.server);
    Ok(())
});

/// (what, request, status, code, operation, access key id, authenticated)
type RefusalCase<'a> = (
    &'a str,
    Vec<u8>,
    u16,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    bool,
);

/// The refusal entries of the audit log, in order (after flushing what is queued).
fn refusals(f: &Fixture) -> Vec<lockbox::audit::Refusal> {
    f.engine.audit().flush().unwrap();
    f.engine
        .store()
        .audit_from(0)
        .filter_map(|e| {
            match lockbox::audit::AuditEntry::decode(&e.unwrap().1)
                .unwrap()
                .body
            {
                lockbox::audit::AuditBody::Refused(r) => Some(r),
                _ => None,
            }
        })
        .collect()
}

token_test!(fn requests_refused_before_the_engine_leave_audit_records(t) {
    let f = start_engine(
        t,
        |c| c.audit.refusals.per_source_burst = 1000,
        |c| {
            c.max_body_bytes = 16 * 1024;
            c.throttle.cryptographic = 3.0;
        },
    );
    let body = json!({ "KeyId": f.key_id }).to_string().into_bytes();
    let now = SystemTime::now();
    let mut forged = f.sign_with("DescribeKey", &body, |_| {});
    let auth = forged.headers[AUTHORIZATION].to_str().unwrap().to_owned();
    let signature = auth.rsplit_once("Signature=").unwrap().1.to_owned();
    let flipped = format!("{}{}", &auth[..auth.len() - 1], if auth.ends_with('0') { '1' } else { '0' });
    forged.headers.insert(AUTHORIZATION, HeaderValue::from_str(&flipped).unwrap());
    let plaintext = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 4097]);
    let huge = vec![b' '; 20_000];
    let encrypt_4097 = json!({ "KeyId": f.key_id, "Plaintext": plaintext }).to_string();
    let cases: Vec<RefusalCase> = vec![
        ("forged signature", raw(&forged), 400, "InvalidSignatureException", Some("DescribeKey"), Some(ACCESS_KEY), false),
        ("unknown access key", raw(&f.sign_with("DescribeKey", &body, |s| s.access_key = "LBKNOSUCHKEY00000000".into())),
            400, "UnrecognizedClientException", Some("DescribeKey"), Some("LBKNOSUCHKEY00000000"), false),
        ("signed 20 minutes ago", raw(&f.sign_with("DescribeKey", &body, |s| s.now = now - 20 * MINUTE)),
            400, "InvalidSignatureException", Some("DescribeKey"), Some(ACCESS_KEY), false),
        ("wrong region", raw(&f.sign_with("DescribeKey", &body, |s| s.region = "moon-2".into())),
            400, "InvalidSignatureException", Some("DescribeKey"), Some(ACCESS_KEY), false),
        ("wrong service", raw(&f.sign_with("DescribeKey", &body, |s| s.service = "s3".into())),
            400, "InvalidSignatureException", Some("DescribeKey"), Some(ACCESS_KEY), false),
        ("no signature", unsigned(&[("content-type", CONTENT_TYPE.as_bytes()), ("x-amz-target", b"TrentService.DescribeKey")], &body),
            400, "MissingAuthenticationTokenException", Some("DescribeKey"), None, false),
        ("unknown target", f.signed("Frobnicate", b"{}"), 400, "UnknownOperationException", None, Some(ACCESS_KEY), false),
        ("bad JSON", f.signed("DescribeKey", b"{\"KeyId\":"), 400, "SerializationException", Some("DescribeKey"), Some(ACCESS_KEY), true),
        ("4097-byte plaintext", f.signed("Encrypt", encrypt_4097.as_bytes()), 400, "ValidationException", Some("Encrypt"), Some(ACCESS_KEY), true),
        ("GenerateRandom 1025", f.signed("GenerateRandom", br#"{"NumberOfBytes":1025}"#), 400, "ValidationException", Some("GenerateRandom"), Some(ACCESS_KEY), true),
        ("body too large", f.signed("DescribeKey", &huge), 413, "RequestEntityTooLargeException", Some("DescribeKey"), Some(ACCESS_KEY), false),
    ];
    let mut want = Vec::new();
    for (what, request, status, code, op, akid, authenticated) in &cases {
        eprintln!("case: {what}");
        let r = send(f.addr, request);
        assert_eq!(r.error(), (*status, (*code).to_owned()), "{what}: {}", r.body);
        want.push((code.to_string(), op.map(str::to_owned), akid.map(str::to_owned), *authenticated, r.header("x-amzn-requestid").unwrap().to_owned(), r.json()["message"].as_str().unwrap().to_owned()));
    }
    // Throttling: the cryptographic class allows 3 a second; calls past it are refused.
    let r = (0..50)
        .map(|_| send(f.addr, &f.signed("GenerateRandom", br#"{"NumberOfBytes":8}"#)))
        .find(|r| r.status != 200)
        .expect("never throttled");
    assert_eq!(r.error(), (400, "ThrottlingException".to_owned()));
    want.push(("ThrottlingException".into(), Some("GenerateRandom".into()), Some(ACCESS_KEY.into()), true, r.header("x-amzn-requestid").unwrap().to_owned(), "Rate exceeded".into()));
    // A wrong path is refused too.
    let r = send(f.addr, b"GET /nope HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert_eq!(r.error(), (404, "UnknownOperationException".to_owned()));
    want.push(("UnknownOperationException".into(), None, None, false, r.header("x-amzn-requestid").unwrap().to_owned(), r.json()["message"].as_str().unwrap().to_owned()));

    let got = refusals(&f);
    let principal = f.engine.default_caller("test").principal().arn().to_owned();
    let got: Vec<_> = got
        .iter()
        .map(|r| {
            assert_eq!(r.source, "127.0.0.1");
            assert_eq!(r.principal.is_some(), r.principal.as_deref() == Some(principal.as_str()));
            (r.error_code.clone(), r.operation.clone(), r.access_key_id.clone(), r.principal.is_some(), r.request_id.clone(), r.error_message.clone())
        })
        .collect();
    assert_eq!(got, want);
    // Nothing of the signature or the secret is in the log.
    let mut all = Vec::new();
    for e in f.engine.store().audit_from(0) {
        all.extend(e.unwrap().1);
    }
    let text = String::from_utf8_lossy(&all);
    assert!(!text.contains(&signature) && !text.contains(SECRET));
    // Calls that reached the engine are audited by the engine, not as refusals.
    assert!(got.iter().all(|g| g.0 != "NotFoundException"));
    Ok(())
});

token_test!(fn a_flood_of_bad_requests_writes_at_most_the_refusal_budget(t) {
    let f = start(t, |_| {});
    let budget = lockbox::audit::RefusalBudget::default();
    let first = f.engine.audit().next_seq();
    let started = Instant::now();
    let n = 600;
    for i in 0..n {
        let request = f.sign_with("DescribeKey", b"{}", |s| s.secret = format!("wrong{i}"));
        let r = send(f.addr, &raw(&request));
        assert_eq!(r.error().1, "InvalidSignatureException");
    }
    let elapsed = started.elapsed();
    f.engine.audit().flush().unwrap();
    let (mut bytes, mut recorded) = (0u64, 0u64);
    for e in f.engine.store().audit_from(first) {
        let (_, b) = e.unwrap();
        bytes += b.len() as u64;
        if let lockbox::audit::AuditBody::Refused(_) = lockbox::audit::AuditEntry::decode(&b).unwrap().body {
            recorded += 1;
        }
    }
    let bound = budget.max_bytes(elapsed);
    eprintln!("{n} bad requests in {elapsed:?}: {recorded} recorded, {bytes} bytes (bound {bound})");
    // One source: its burst, then one a second.
    assert!(recorded >= u64::from(budget.per_source_burst));
    assert!(recorded <= u64::from(budget.per_source_burst) + elapsed.as_secs() + 1, "{recorded}");
    assert!(bytes <= bound, "{bytes} > {bound}");
    Ok(())
});

token_test!(fn calls_draw_on_the_quota_of_their_keys_kind(t) {
    // RSA keys and data key pairs have quotas of their own (AWS KMS's request quotas); the
    // server learns the key's kind before the call and charges that bucket only.
    let f = start(t, |c| {
        c.throttle.rsa = 1.0;
        c.throttle.data_key_pair_rsa_4096 = 0.1;
    });
    let r = send(f.addr, &f.signed("CreateKey", br#"{"KeySpec":"RSA_2048","KeyUsage":"ENCRYPT_DECRYPT"}"#));
    assert_eq!(r.status, 200, "{}", r.body);
    let rsa = r.json()["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let throttled = |r: &Reply| r.status == 400 && r.json()["__type"] == "ThrottlingException";
    let encrypt = |key: &str| {
        let body = json!({ "KeyId": key, "Plaintext": "AAAA", "EncryptionAlgorithm": "RSAES_OAEP_SHA_256" });
        send(f.addr, &f.signed("Encrypt", body.to_string().as_bytes()))
    };
    // The first RSA call is within the quota (whatever the engine answers); the second is not.
    assert!(!throttled(&encrypt(&rsa)));
    let second = encrypt(&rsa);
    assert!(throttled(&second), "{} {}", second.status, second.body);
    assert_eq!(second.json()["message"], "Rate exceeded");
    // Symmetric calls draw on the symmetric bucket, untouched.
    let sym = json!({ "KeyId": f.key_id, "Plaintext": "AAAA" }).to_string();
    assert_eq!(send(f.addr, &f.signed("Encrypt", sym.as_bytes())).status, 200);
    // Data key pairs: per pair spec, both operations sharing it.
    let pair = |op: &str, spec: &str| {
        let body = json!({ "KeyId": f.key_id, "KeyPairSpec": spec }).to_string();
        send(f.addr, &f.signed(op, body.as_bytes()))
    };
    assert!(!throttled(&pair("GenerateDataKeyPair", "RSA_4096")));
    assert!(throttled(&pair("GenerateDataKeyPairWithoutPlaintext", "RSA_4096")));
    assert!(!throttled(&pair("GenerateDataKeyPair", "ECC_NIST_P256")));
    Ok(())
});
