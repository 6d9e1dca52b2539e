//! The SigV4 request parser: any bytes as the Authorization header (and, split off by newlines,
//! as X-Amz-Date, the request target, X-Amz-Content-Sha256 when not empty, and the body) give
//! one of SigV4's 400 errors with a bounded message, never a panic; a request is accepted only
//! for the credential that signed it.
#![no_main]

use std::time::{Duration, SystemTime};

use http::{HeaderValue, Uri};
use libfuzzer_sys::fuzz_target;
use lockbox_api::Principal;
use lockbox_server::credentials::{Credential, CredentialStore, SecretKey};
use lockbox_server::sigv4;

/// 2015-08-30T12:36:00Z, the date of AWS's examples: a well-formed X-Amz-Date in the window.
const NOW: u64 = 1_440_938_160;

fuzz_target!(|data: &[u8]| {
    let mut pieces = data.splitn(5, |&b| b == b'\n');
    let authorization = pieces.next().unwrap_or_default();
    let amz_date = pieces.next();
    let target = pieces.next();
    let content_sha256 = pieces.next().filter(|p| !p.is_empty());
    let body = pieces.next().unwrap_or_default();

    let Ok(authorization) = HeaderValue::from_bytes(authorization) else {
        return;
    };
    let uri = target
        .and_then(|t| Uri::try_from(t).ok())
        .unwrap_or_else(|| Uri::from_static("/"));
    let mut request = http::Request::builder().method("POST").uri(uri);
    request = request.header("host", "kms.eu-west-1.amazonaws.com");
    request = request.header("authorization", authorization);
    match amz_date.map(HeaderValue::from_bytes) {
        Some(Ok(d)) => request = request.header("x-amz-date", d),
        Some(Err(_)) => return,
        None => request = request.header("x-amz-date", "20150830T123600Z"),
    }
    if let Some(claimed) = content_sha256 {
        let Ok(claimed) = HeaderValue::from_bytes(claimed) else {
            return;
        };
        request = request.header("x-amz-content-sha256", claimed);
    }
    let Ok(request) = request.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();

    let store = CredentialStore::from_entries([Credential::new(
        "AKIDEXAMPLE",
        SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
        Principal::parse("arn:aws:iam::111122223333:user/fuzz").unwrap(),
    )
    .unwrap()])
    .unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
    match sigv4::verify(&parts, body, &store, "eu-west-1", "kms", now) {
        // A seed's valid signature, or a mutation that keeps it valid (spacing in the header,
        // upper-case hex, an ignored parameter).
        Ok(c) => assert_eq!(c.access_key_id(), "AKIDEXAMPLE"),
        Err(e) => check(&e),
    }
    if let Err(e) = sigv4::signed_text(&parts, body) {
        check(&e);
    }
    if let Some(id) = sigv4::presented_access_key_id(&parts.headers) {
        assert!(!id.is_empty() && id.len() <= 128);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
});

fn check(e: &lockbox_server::WireError) {
    assert_eq!(e.status, 400);
    assert!(
        matches!(
            &*e.code,
            "MissingAuthenticationTokenException"
                | "IncompleteSignatureException"
                | "InvalidSignatureException"
                | "UnrecognizedClientException"
        ),
        "{}",
        e.code
    );
    // Echoed input is cut short: the message never grows with the header.
    assert!(
        e.message.len() <= 600,
        "{} bytes: {}",
        e.message.len(),
        e.message
    );
}
