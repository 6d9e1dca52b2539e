//! AWS's SigV4 signing test suite as known-answer tests (the vectors and where they come from:
//! `tests/sigv4-suite/README.md`).
//!
//! For every header-signed case: Lockbox's canonical request, string to sign and signature are
//! the suite's; the suite's signed request verifies; the same request with one hex digit of its
//! signature changed fails with AWS's exact mismatch error; and, where Lockbox's signer signs
//! the same header set as the suite's signer, `sign` writes the suite's exact Authorization.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use lockbox_api::Principal;
use lockbox_server::credentials::{Credential, CredentialStore, SecretKey};
use lockbox_server::sigv4::{self, SIGNATURE_MISMATCH_MESSAGE};
use sha2::{Digest, Sha256};

/// How a case is checked.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Check {
    /// `sign` reproduces the suite's Authorization; the signed request verifies.
    SignAndVerify,
    /// The signed request verifies; `sign` is not compared because the suite's signer signs a
    /// header Lockbox's signer deliberately leaves unsigned (`content-length`: transports set
    /// it after signing). The verifier honours whatever `SignedHeaders` names.
    VerifyOnly,
}

/// Every case committed under `tests/sigv4-suite/v4`, and how it is checked. The test fails if
/// the directory holds a case this list does not name, or misses one it names.
const CASES: &[(&str, Check)] = &[
    ("double-encode-path", Check::SignAndVerify),
    ("double-url-encode", Check::SignAndVerify),
    ("get-header-key-duplicate", Check::SignAndVerify),
    ("get-header-value-order", Check::SignAndVerify),
    ("get-header-value-trim", Check::SignAndVerify),
    ("get-relative-normalized", Check::SignAndVerify),
    ("get-relative-relative-normalized", Check::SignAndVerify),
    ("get-slash-dot-slash-normalized", Check::SignAndVerify),
    ("get-slash-normalized", Check::SignAndVerify),
    ("get-slash-pointless-dot-normalized", Check::SignAndVerify),
    ("get-slashes-normalized", Check::SignAndVerify),
    ("get-unreserved", Check::SignAndVerify),
    ("get-vanilla", Check::SignAndVerify),
    ("get-vanilla-empty-query-key", Check::SignAndVerify),
    ("get-vanilla-query", Check::SignAndVerify),
    ("get-vanilla-query-order-encoded", Check::SignAndVerify),
    ("get-vanilla-query-order-key-case", Check::SignAndVerify),
    ("get-vanilla-query-unreserved", Check::SignAndVerify),
    ("get-vanilla-utf8-query", Check::SignAndVerify),
    ("get-vanilla-with-session-token", Check::SignAndVerify),
    ("post-header-key-case", Check::SignAndVerify),
    ("post-header-key-sort", Check::SignAndVerify),
    ("post-header-value-case", Check::SignAndVerify),
    ("post-sts-header-after", Check::SignAndVerify),
    ("post-sts-header-before", Check::SignAndVerify),
    ("post-vanilla", Check::SignAndVerify),
    ("post-vanilla-empty-query-value", Check::SignAndVerify),
    ("post-vanilla-query", Check::SignAndVerify),
    ("post-x-www-form-urlencoded", Check::VerifyOnly),
    ("post-x-www-form-urlencoded-parameters", Check::VerifyOnly),
];

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4-suite/v4")
}

/// A request as the suite writes it: a request line, `Name:value` header lines (a name may
/// repeat), a blank line, the body.
struct SuiteRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn parse_request(text: &[u8]) -> SuiteRequest {
    let (head, body) = match text.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&text[..i], text[i + 2..].to_vec()),
        None => (text, Vec::new()),
    };
    let head = std::str::from_utf8(head).unwrap();
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let mut words = request_line.split(' ');
    let method = words.next().unwrap().to_owned();
    let target = words.next().unwrap().to_owned();
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, value) = l.split_once(':').unwrap();
            // An HTTP parser strips the optional whitespace around a field value.
            (name.to_owned(), value.trim_matches([' ', '\t']).to_owned())
        })
        .collect();
    SuiteRequest {
        method,
        target,
        headers,
        body,
    }
}

/// An HTTP/1.1 request target is ASCII: a client percent-encodes any other byte before
/// sending it (and hyper refuses raw ones), so that is what Lockbox's verifier sees.
fn on_the_wire(target: &str) -> String {
    let mut out = String::new();
    for b in target.bytes() {
        if b.is_ascii() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn header_map(headers: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn parts(r: &SuiteRequest) -> http::request::Parts {
    let mut p = http::Request::builder()
        .method(r.method.as_str())
        .uri(on_the_wire(&r.target))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    p.headers = header_map(&r.headers);
    p
}

struct Context {
    access_key_id: String,
    secret: String,
    token: Option<String>,
    omit_session_token: bool,
    sign_body: bool,
    region: String,
    service: String,
    time: SystemTime,
}

fn context(dir: &Path) -> Context {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("context.json")).unwrap()).unwrap();
    let s = |v: &serde_json::Value| v.as_str().unwrap().to_owned();
    let creds = &json["credentials"];
    // Every case normalizes the path: the unnormalized (S3-style) ones are not committed.
    assert_eq!(json["normalize"], serde_json::Value::Bool(true), "{dir:?}");
    Context {
        access_key_id: s(&creds["access_key_id"]),
        secret: s(&creds["secret_access_key"]),
        token: creds.get("token").map(s),
        omit_session_token: json["omit_session_token"].as_bool().unwrap_or(false),
        sign_body: json["sign_body"].as_bool().unwrap(),
        region: s(&json["region"]),
        service: s(&json["service"]),
        time: rfc3339(&s(&json["timestamp"])),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the suite's timestamps.
fn rfc3339(text: &str) -> SystemTime {
    let t = time::PrimitiveDateTime::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"),
    )
    .unwrap()
    .assume_utc();
    UNIX_EPOCH + Duration::from_secs(u64::try_from(t.unix_timestamp()).unwrap())
}

/// A file of the case, if the case has it. One trailing newline is the file's, not the text's
/// (a canonical request ends with the payload hash, a string to sign with the request's hash).
fn read(dir: &Path, file: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(file)).ok()?;
    Some(text.strip_suffix('\n').map(str::to_owned).unwrap_or(text))
}

fn store(c: &Context) -> CredentialStore {
    CredentialStore::from_entries([Credential::new(
        &c.access_key_id,
        SecretKey::new(c.secret.clone()),
        Principal::parse("arn:aws:iam::111122223333:user/suite").unwrap(),
    )
    .unwrap()])
    .unwrap()
}

fn authorization_of(r: &SuiteRequest) -> &str {
    &r.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .unwrap()
        .1
}

fn signature_of(authorization: &str) -> &str {
    authorization.rsplit_once("Signature=").unwrap().1
}

#[test]
fn the_committed_cases_are_the_listed_ones() {
    let mut on_disk: Vec<String> = std::fs::read_dir(suite_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    let listed: Vec<String> = CASES.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(on_disk, listed);
}

#[test]
fn the_suites_signed_requests_verify_and_their_canonical_forms_match() {
    for (name, _) in CASES {
        let dir = suite_dir().join(name);
        let c = context(&dir);
        let signed = parse_request(&std::fs::read(dir.join("header-signed-request.txt")).unwrap());
        let p = parts(&signed);

        // The canonical request and the string to sign, where the case gives them.
        let text = sigv4::signed_text(&p, &signed.body).unwrap();
        if let Some(expected) = read(&dir, "header-canonical-request.txt") {
            assert_eq!(
                String::from_utf8(text.canonical_request.clone()).unwrap(),
                expected,
                "{name}: canonical request"
            );
        }
        if let Some(expected) = read(&dir, "header-string-to-sign.txt") {
            assert_eq!(text.string_to_sign, expected, "{name}: string to sign");
        }
        if let Some(expected) = read(&dir, "header-signature.txt") {
            assert_eq!(
                signature_of(authorization_of(&signed)),
                expected.trim(),
                "{name}: the signed request carries the case's signature"
            );
        }

        let s = store(&c);
        let credential = sigv4::verify(&p, &signed.body, &s, &c.region, &c.service, c.time)
            .unwrap_or_else(|e| panic!("{name}: {} {}", e.code, e.message));
        assert_eq!(credential.access_key_id(), c.access_key_id);

        // One hex digit of the signature changed: AWS's exact mismatch error.
        let auth = authorization_of(&signed).to_owned();
        let last = auth.chars().last().unwrap();
        let other = if last == '0' { '1' } else { '0' };
        let tampered = format!("{}{other}", &auth[..auth.len() - 1]);
        let mut q = p.clone();
        q.headers
            .insert(AUTHORIZATION, HeaderValue::from_str(&tampered).unwrap());
        let e = sigv4::verify(&q, &signed.body, &s, &c.region, &c.service, c.time).unwrap_err();
        assert_eq!(
            (e.status, &*e.code, &*e.message),
            (400, "InvalidSignatureException", SIGNATURE_MISMATCH_MESSAGE),
            "{name}"
        );
    }
}

#[test]
fn sign_writes_the_suites_authorization() {
    let mut signed_cases = 0;
    for (name, check) in CASES {
        if *check != Check::SignAndVerify {
            continue;
        }
        let dir = suite_dir().join(name);
        let c = context(&dir);
        let request = parse_request(&std::fs::read(dir.join("request.txt")).unwrap());
        let expected =
            parse_request(&std::fs::read(dir.join("header-signed-request.txt")).unwrap());

        let mut headers = header_map(&request.headers);
        // What the suite's signer adds before signing: the session token (unless the case
        // adds it after), the body's hash when the case signs it. Lockbox's signer signs every
        // header the caller set, so the caller sets these.
        if let (Some(token), false) = (&c.token, c.omit_session_token) {
            headers.insert("x-amz-security-token", token.parse().unwrap());
        }
        if c.sign_body {
            let hash: String = Sha256::digest(&request.body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            headers.insert("x-amz-content-sha256", hash.parse().unwrap());
        }
        // The suite's request is sent over TLS to the Host it names.
        let host = headers["host"].to_str().unwrap().to_owned();
        let uri: Uri = format!("https://{host}{}", on_the_wire(&request.target))
            .parse()
            .unwrap();
        sigv4::sign(
            &request.method,
            &uri,
            &mut headers,
            &request.body,
            &c.access_key_id,
            &SecretKey::new(c.secret.clone()),
            &c.region,
            &c.service,
            c.time,
        )
        .unwrap();

        // The Authorization header, byte for byte (the suite writes one space after each
        // comma, as Lockbox does), and the date.
        assert_eq!(
            headers[AUTHORIZATION].to_str().unwrap(),
            authorization_of(&expected),
            "{name}"
        );
        let date = expected
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("x-amz-date"))
            .unwrap();
        assert_eq!(headers["x-amz-date"].to_str().unwrap(), date.1, "{name}");
        signed_cases += 1;
    }
    assert_eq!(signed_cases, 28);
}
