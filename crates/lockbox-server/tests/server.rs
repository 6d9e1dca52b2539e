//! The HTTP server against a real engine on a throwaway SoftHSM token, spoken to with raw
//! HTTP over std sockets (and rustls for TLS).
//!
//! The frontend here is a test double (operations `GenerateRandom`, `CreateKey`, `Sleep` and
//! `Thread`,
//! authentication by an `Authorization: Test <principal ARN>` header), so these tests pin the
//! server's own behaviour: routing, limits, timeouts, throttling, TLS, shutdown. The AWS
//! frontend (JSON 1.1 codec and SigV4) is tested end to end by the tests that cross the
//! three modules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lockbox::api::{CreateKeyRequest, GenerateRandomRequest, Kms, NumberOfBytes, Principal};
use lockbox::{Config, Engine};
use lockbox_server::WireError;
use lockbox_server::server::{Frontend, Server, ServerConfig, ServerError, ServerHandle};
use lockbox_token::testing::TestToken;
use lockbox_token::token_test;

#[path = "common/http.rs"]
mod http_raw;
use http_raw::{Reply, parse, send};

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::444455556666:user/bob";

#[derive(Clone, Copy)]
enum Op {
    GenerateRandom,
    CreateKey,
    Sleep,
    // Answers the name and id of the thread the call runs on.
    Thread,
}

struct TestFrontend;

impl Frontend for TestFrontend {
    type Operation = Op;

    fn operation(&self, target: &str) -> Result<Op, WireError> {
        match target {
            "TrentService.GenerateRandom" => Ok(Op::GenerateRandom),
            "TrentService.CreateKey" => Ok(Op::CreateKey),
            "TrentService.Sleep" => Ok(Op::Sleep),
            "TrentService.Thread" => Ok(Op::Thread),
            _ => Err(WireError::new(
                400,
                "UnknownOperationException",
                format!("unknown {target}"),
            )),
        }
    }

    fn throttle_class(&self, op: Op) -> lockbox_api::ThrottleClass {
        match op {
            Op::GenerateRandom => lockbox_api::ThrottleClass::Cryptographic,
            Op::CreateKey => lockbox_api::ThrottleClass::CreateKey,
            Op::Sleep | Op::Thread => lockbox_api::ThrottleClass::Management,
        }
    }

    fn operation_name(&self, op: Op) -> &'static str {
        match op {
            Op::GenerateRandom => "GenerateRandom",
            Op::CreateKey => "CreateKey",
            Op::Sleep => "Sleep",
            Op::Thread => "Thread",
        }
    }

    fn authenticate(
        &self,
        parts: &http::request::Parts,
        _body: &[u8],
        region: &dyn lockbox_server::sigv4::RegionRule,
        _now: SystemTime,
    ) -> Result<Principal, WireError> {
        assert_eq!(region.check("us-east-1"), Ok(()));
        let auth = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Test "))
            .ok_or_else(|| {
                WireError::new(400, "MissingAuthenticationTokenException", "no Test auth")
            })?;
        Principal::parse(auth)
            .map_err(|e| WireError::new(400, "UnrecognizedClientException", e.message()))
    }

    fn serve(&self, kms: &dyn Kms, op: Op, body: &[u8]) -> Result<Vec<u8>, WireError> {
        match op {
            Op::GenerateRandom => {
                let r = kms
                    .generate_random(GenerateRandomRequest::new(NumberOfBytes::new(16).unwrap()))
                    .map_err(|e| WireError::from_kms(&e))?;
                Ok(format!(r#"{{"n":{}}}"#, r.plaintext.expose_secret().len()).into_bytes())
            }
            Op::CreateKey => {
                let r = kms
                    .create_key(CreateKeyRequest::new())
                    .map_err(|e| WireError::from_kms(&e))?;
                Ok(format!(r#"{{"KeyId":"{}"}}"#, r.key_metadata.key_id).into_bytes())
            }
            Op::Sleep => {
                let ms: u64 = std::str::from_utf8(body).unwrap().trim().parse().unwrap();
                std::thread::sleep(Duration::from_millis(ms));
                Ok(br#"{"slept":true}"#.to_vec())
            }
            Op::Thread => {
                let t = std::thread::current();
                Ok(
                    format!(r#"{{"thread":"{} {:?}"}}"#, t.name().unwrap_or("-"), t.id())
                        .into_bytes(),
                )
            }
        }
    }
}

fn engine(t: &TestToken) -> Arc<Engine> {
    Arc::new(Engine::open(Config::new(t.dir().join("data"), t.config())).unwrap())
}

fn config() -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    }
}

fn start(t: &TestToken, config: ServerConfig) -> (Arc<Engine>, ServerHandle) {
    let engine = engine(t);
    let handle = Server::start_with(engine.clone(), TestFrontend, config).unwrap();
    (engine, handle)
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

fn api(target: &str, principal: &str, body: &[u8]) -> Vec<u8> {
    let auth = format!("Test {principal}");
    request(
        "POST",
        "/",
        &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", target),
            ("Authorization", &auth),
        ],
        body,
    )
}

fn call(addr: SocketAddr, target: &str, principal: &str, body: &[u8]) -> Reply {
    send(addr, &api(target, principal, body))
}

fn health(addr: SocketAddr) -> Reply {
    send(addr, &request("GET", "/health", &[], b""))
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

token_test!(fn health_answers_without_auth_with_a_request_id(t) {
    let (_engine, server) = start(t, config());
    let r = health(server.local_addr());
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"status":"ok"}"#));
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    assert!(is_uuid(r.header("x-amzn-requestid").unwrap()));
    server.shutdown();
    server.wait()?;
    Ok(())
});

token_test!(fn wrong_methods_and_paths_get_aws_style_errors(t) {
    let (_engine, server) = start(t, config());
    let addr = server.local_addr();
    let r = send(addr, &request("GET", "/", &[], b""));
    assert_eq!(r.error(), (405, "MethodNotAllowedException".into()));
    assert_eq!(r.header("allow"), Some("POST"));
    let r = send(addr, &request("POST", "/health", &[], b""));
    assert_eq!(r.error(), (405, "MethodNotAllowedException".into()));
    let r = send(addr, &request("POST", "/keys", &[], b"{}"));
    assert_eq!(r.error(), (404, "UnknownOperationException".into()));
    assert!(is_uuid(r.header("x-amzn-requestid").unwrap()));
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    // Garbage instead of HTTP: hyper answers 400 and the server goes on.
    let r = send(addr, b"NOT HTTP AT ALL\r\n\r\n");
    assert_eq!(r.status, 400);
    assert_eq!(health(addr).status, 200);
    Ok(())
});

token_test!(fn missing_target_wrong_content_type_and_auth_failures(t) {
    let (_engine, server) = start(t, config());
    let addr = server.local_addr();
    let r = send(
        addr,
        &request("POST", "/", &[("Content-Type", "application/x-amz-json-1.1")], b"{}"),
    );
    assert_eq!(r.error(), (400, "UnknownOperationException".into()));
    assert!(r.body.contains("X-Amz-Target header is missing"), "{}", r.body);
    let r = send(
        addr,
        &request(
            "POST",
            "/",
            &[("Content-Type", "application/json"), ("X-Amz-Target", "TrentService.CreateKey")],
            b"{}",
        ),
    );
    assert_eq!(r.error(), (415, "UnsupportedMediaTypeException".into()));
    // The frontend's own errors pass through: unknown target, failed authentication.
    let r = call(addr, "TrentService.Nope", ALICE, b"{}");
    assert_eq!(r.error(), (400, "UnknownOperationException".into()));
    let r = send(
        addr,
        &request(
            "POST",
            "/",
            &[
                ("Content-Type", "application/x-amz-json-1.0"),
                ("X-Amz-Target", "TrentService.CreateKey"),
            ],
            b"{}",
        ),
    );
    assert_eq!(r.error(), (400, "MissingAuthenticationTokenException".into()));
    Ok(())
});

token_test!(fn engine_calls_carry_the_audit_request_id_and_the_peer_address(t) {
    let (engine, server) = start(t, config());
    let r = call(server.local_addr(), "TrentService.CreateKey", ALICE, b"{}");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.starts_with(r#"{"KeyId":""#), "{}", r.body);
    let id = r.header("x-amzn-requestid").unwrap().to_owned();
    assert!(is_uuid(&id));
    engine.audit().flush()?;
    let mut out = Vec::new();
    lockbox::audit::export(engine.store(), &Default::default(), "us-east-1", &mut out)?;
    let records: Vec<serde_json::Value> = String::from_utf8(out)?
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rec = records
        .iter()
        .find(|r| r["requestID"] == id.as_str())
        .expect("an audit record with the response's request id");
    assert_eq!(rec["eventName"], "CreateKey");
    assert_eq!(rec["sourceIPAddress"], "127.0.0.1");
    assert_eq!(rec["userIdentity"]["arn"], ALICE);
    Ok(())
});

token_test!(fn an_oversize_body_is_refused_with_413_and_the_server_goes_on(t) {
    let mut c = config();
    c.max_body_bytes = 4096;
    let (_engine, server) = start(t, c);
    let addr = server.local_addr();
    // Declared too large: refused before reading.
    let big = vec![b'x'; 5000];
    let r = call(addr, "TrentService.GenerateRandom", ALICE, &big);
    assert_eq!(r.error(), (413, "RequestEntityTooLargeException".into()));
    assert_eq!(r.header("connection"), Some("close"));
    // Chunked, no length: refused while reading.
    let mut raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n\
X-Amz-Target: TrentService.GenerateRandom\r\nAuthorization: Test "
        .to_vec();
    raw.extend_from_slice(ALICE.as_bytes());
    raw.extend_from_slice(b"\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..5 {
        raw.extend_from_slice(b"400\r\n");
        raw.extend_from_slice(&[b'y'; 0x400]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let r = send(addr, &raw);
    assert_eq!(r.error(), (413, "RequestEntityTooLargeException".into()));
    // Still serving.
    assert_eq!(health(addr).status, 200);
    let r = call(addr, "TrentService.GenerateRandom", ALICE, b"{}");
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"n":16}"#));
    Ok(())
});

token_test!(fn slow_headers_are_dropped_while_others_are_served(t) {
    let mut c = config();
    c.header_read_timeout_ms = 300;
    let (_engine, server) = start(t, c);
    let addr = server.local_addr();
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let started = Instant::now();
        for b in b"POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: TrentService.CreateKey\r\n" {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            if started.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
        // The server must have closed the connection by now.
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        (n, started.elapsed())
    });
    // Meanwhile, others are served.
    for _ in 0..5 {
        assert_eq!(health(addr).status, 200);
        std::thread::sleep(Duration::from_millis(50));
    }
    let (n, elapsed) = slow.join().unwrap();
    assert_eq!(n, 0, "the slow connection got a response instead of being closed");
    assert!(elapsed < Duration::from_secs(2), "closed only after {elapsed:?}");
    Ok(())
});

token_test!(fn idle_keep_alive_connections_outlive_the_header_timeout_but_not_the_idle_one(t) {
    let mut c = config();
    c.header_read_timeout_ms = 200;
    c.idle_timeout_ms = 1500;
    let (_engine, server) = start(t, c);
    let mut s = TcpStream::connect(server.local_addr())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let get = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    let read_reply = |s: &mut TcpStream| {
        let mut buf = vec![0u8; 1024];
        let n = s.read(&mut buf).unwrap();
        parse(&buf[..n])
    };
    s.write_all(get)?;
    assert_eq!(read_reply(&mut s).status, 200);
    // Idle longer than the header timeout: still open.
    std::thread::sleep(Duration::from_millis(600));
    s.write_all(get)?;
    assert_eq!(read_reply(&mut s).status, 200);
    // Idle longer than the idle timeout: closed.
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0);
    let waited = started.elapsed();
    assert!(
        waited > Duration::from_millis(1200) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
    Ok(())
});

token_test!(fn requests_over_the_concurrency_cap_get_503(t) {
    let mut c = config();
    c.max_concurrent_requests = 1;
    let (_engine, server) = start(t, c);
    let addr = server.local_addr();
    let slow = std::thread::spawn(move || call(addr, "TrentService.Sleep", ALICE, b"800"));
    std::thread::sleep(Duration::from_millis(300));
    let r = call(addr, "TrentService.GenerateRandom", ALICE, b"{}");
    assert_eq!(r.error(), (503, "ServiceUnavailableException".into()));
    // Health is not counted.
    assert_eq!(health(addr).status, 200);
    let r = slow.join().unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"slept":true}"#));
    // The slot is free again.
    assert_eq!(call(addr, "TrentService.GenerateRandom", ALICE, b"{}").status, 200);
    Ok(())
});

token_test!(fn throttled_requests_get_throttling_exception_per_account(t) {
    let mut c = config();
    c.throttle.cryptographic = 2.0;
    let (_engine, server) = start(t, c);
    let addr = server.local_addr();
    for _ in 0..2 {
        assert_eq!(call(addr, "TrentService.GenerateRandom", ALICE, b"{}").status, 200);
    }
    let r = call(addr, "TrentService.GenerateRandom", ALICE, b"{}");
    assert_eq!(r.error(), (400, "ThrottlingException".into()));
    let v: serde_json::Value = serde_json::from_str(&r.body)?;
    assert_eq!(v["message"], "Rate exceeded");
    // Another account has its own bucket; another class too.
    assert_eq!(call(addr, "TrentService.GenerateRandom", BOB, b"{}").status, 200);
    assert_eq!(call(addr, "TrentService.CreateKey", ALICE, b"{}").status, 200);
    // Health is not throttled.
    for _ in 0..10 {
        assert_eq!(health(addr).status, 200);
    }
    Ok(())
});

token_test!(fn plain_http_on_a_non_loopback_address_needs_the_dangerous_flag(t) {
    let engine = engine(t);
    let mut c = config();
    c.listen = "0.0.0.0:0".parse()?;
    match Server::start_with(engine.clone(), TestFrontend, c.clone()) {
        Err(ServerError::PlainHttpRefused(a)) => assert_eq!(a, c.listen),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("plain HTTP on 0.0.0.0 was allowed"),
    }
    let message = Server::start_with(engine.clone(), TestFrontend, c.clone())
        .err()
        .unwrap()
        .to_string();
    assert!(message.contains("dangerously_allow_plain_http"), "{message}");
    c.dangerously_allow_plain_http = true;
    let server = Server::start_with(engine, TestFrontend, c)?;
    let port = server.local_addr().port();
    assert_eq!(health(SocketAddr::from(([127, 0, 0, 1], port))).status, 200);
    Ok(())
});

token_test!(fn tls_serves_with_a_configured_certificate(t) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let cert_path = t.dir().join("server.crt");
    let key_path = t.dir().join("server.key");
    std::fs::write(&cert_path, cert.cert.pem())?;
    std::fs::write(&key_path, cert.signing_key.serialize_pem())?;
    let engine = engine(t);
    let mut c = config();
    // TLS makes a non-loopback address acceptable without the flag.
    c.listen = "0.0.0.0:0".parse()?;
    c.tls_cert = Some(cert_path);
    c.tls_key = Some(key_path.clone());
    let server = Server::start_with(engine.clone(), TestFrontend, c.clone())?;
    let addr = SocketAddr::from(([127, 0, 0, 1], server.local_addr().port()));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone())?;
    let client = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let tls_call = |raw: &[u8]| -> Reply {
        let conn =
            rustls::ClientConnection::new(client.clone(), "localhost".try_into().unwrap()).unwrap();
        let sock = TcpStream::connect(addr).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        tls.write_all(raw).unwrap();
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out);
        parse(&out)
    };
    let r = tls_call(&request("GET", "/health", &[], b""));
    assert_eq!(r.status, 200);
    let r = tls_call(&api("TrentService.CreateKey", ALICE, b"{}"));
    assert_eq!(r.status, 200, "{}", r.body);
    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(&request("GET", "/health", &[], b""))?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(!out.starts_with(b"HTTP/1.1 200"));
    drop(server);

    // A key file that is not a key is named in the error.
    std::fs::write(&key_path, "not a key")?;
    match Server::start_with(engine, TestFrontend, c) {
        Err(ServerError::Tls(m)) => assert!(m.starts_with("tls_key "), "{m}"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a bad key was accepted"),
    }
    Ok(())
});

token_test!(fn graceful_shutdown_lets_an_in_flight_request_finish(t) {
    let mut c = config();
    c.shutdown_grace_ms = 5000;
    let (_engine, server) = start(t, c);
    let addr = server.local_addr();
    let slow = std::thread::spawn(move || call(addr, "TrentService.Sleep", ALICE, b"700"));
    std::thread::sleep(Duration::from_millis(250));
    let started = Instant::now();
    server.shutdown();
    // No new connections once the listener is closed.
    std::thread::sleep(Duration::from_millis(100));
    assert!(TcpStream::connect(addr).is_err(), "still accepting after shutdown");
    let r = slow.join().unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"slept":true}"#));
    server.wait()?;
    assert!(started.elapsed() < Duration::from_secs(3));
    Ok(())
});

token_test!(fn shutdown_gives_up_on_requests_after_the_grace_period(t) {
    let mut c = config();
    c.shutdown_grace_ms = 200;
    let (_engine, server) = start(t, c);
    let addr = server.local_addr();
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&api("TrentService.Sleep", ALICE, b"3000")).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    });
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    server.shutdown();
    server.wait()?;
    let waited = started.elapsed();
    assert!(waited < Duration::from_millis(2000), "waited {waited:?}");
    // The client got no response: its connection was dropped.
    assert!(slow.join().unwrap().is_empty());
    Ok(())
});

/// The `thread` values of the `Thread` answers in `raw` (several responses), in order.
fn threads_in(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    text.split(r#"{"thread":""#)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

/// Two `Thread` calls sent together on one keep-alive connection; the `thread` of each.
fn two_calls_on_one_connection(addr: SocketAddr) -> Vec<String> {
    let auth = format!("Test {ALICE}");
    let call = |close: &str| {
        format!(
            "POST / HTTP/1.1\r\nHost: localhost\r\n{close}Content-Type: \
             application/x-amz-json-1.1\r\nX-Amz-Target: TrentService.Thread\r\n\
             Authorization: {auth}\r\nContent-Length: 2\r\n\r\n{{}}"
        )
    };
    let raw = format!("{}{}", call(""), call("Connection: close\r\n"));
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    threads_in(&out)
}

token_test!(fn engine_calls_run_on_their_connections_own_thread(t) {
    // No hand-off to another thread for the engine call (issue 18, decision 0037): both
    // calls of a connection run on that connection's thread, and another connection has
    // another thread.
    let (_engine, server) = start(t, config());
    let addr = server.local_addr();
    let first = two_calls_on_one_connection(addr);
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first[0].starts_with("lockbox-conn ThreadId("), "{first:?}");
    assert_eq!(first[0], first[1]);
    // Another connection has another thread (thread ids are never reused).
    let second = two_calls_on_one_connection(addr);
    assert_eq!(second.len(), 2, "{second:?}");
    assert_eq!(second[0], second[1]);
    assert!(second[0].starts_with("lockbox-conn ThreadId("), "{second:?}");
    assert_ne!(first[0], second[0]);
    Ok(())
});

token_test!(fn a_long_call_holds_up_only_its_own_connection(t) {
    let (_engine, server) = start(t, config());
    let addr = server.local_addr();
    let slow = std::thread::spawn(move || call(addr, "TrentService.Sleep", ALICE, b"3000"));
    std::thread::sleep(Duration::from_millis(200));
    // Other connections are served, health and engine calls alike, while it runs.
    for _ in 0..10 {
        assert_eq!(health(addr).status, 200);
        let r = call(addr, "TrentService.GenerateRandom", ALICE, b"{}");
        assert_eq!((r.status, r.body.as_str()), (200, r#"{"n":16}"#));
    }
    assert!(!slow.is_finished(), "the long call ended before the others were served");
    let r = slow.join().unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"slept":true}"#));
    Ok(())
});
