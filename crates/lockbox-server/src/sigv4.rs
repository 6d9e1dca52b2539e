//! AWS Signature Version 4, header form (`Authorization: AWS4-HMAC-SHA256 Credential=...,
//! SignedHeaders=..., Signature=...` with `X-Amz-Date`): [`verify`] on the server. The
//! canonicalization it shares with the signer, and [`sign`] itself, live once in
//! [`lockbox_client::sigv4`] (re-exported here); see there for the canonical request.
//! [`verify`] accepts botocore's query form as well as the specification's.
//!
//! # Errors
//!
//! Every failure is a [`WireError`] with AWS's error code and, where AWS's wording is known,
//! its message. All are HTTP 400. A request without an `Authorization` header gets
//! `MissingAuthenticationTokenException` with 400 too: AWS's generic "common errors" page
//! lists 403 for it, but that is the REST (API Gateway style) front end; the JSON 1.x services
//! (DynamoDB, KMS) answer 400, and SDKs branch on the code, not the status.

use std::time::{Duration, SystemTime};

use hmac::Mac;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
pub use lockbox_client::sigv4::{ALGORITHM, SignError, sign, signing_key};
use lockbox_client::sigv4::{
    QueryStyle, X_AMZ_CONTENT_SHA256, X_AMZ_DATE, canonical_query, canonical_request,
    format_amz_date, hex, host_of, incomplete, new_mac, string_to_sign, unhex,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::credentials::{Credential, CredentialStore};
use crate::error::WireError;

/// How far `X-Amz-Date` may be from the server's clock, either way.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// The message of `UnrecognizedClientException`.
pub const UNRECOGNIZED_CLIENT_MESSAGE: &str =
    "The security token included in the request is invalid.";

/// The message of a signature mismatch.
pub const SIGNATURE_MISMATCH_MESSAGE: &str = "The request signature we calculated does not match \
     the signature you provided. Check your AWS Secret Access Key and signing method. Consult \
     the service documentation for details.";

/// The message of a credential scoped to a Region the server does not serve (AWS's; a
/// server serving several Regions appends which).
pub const INVALID_REGION_MESSAGE: &str = "Credential should be scoped to a valid region.";

/// Which Regions a credential scope may name: one (`&str`), or a server's set of them.
pub trait RegionRule {
    /// Accepts `region`, or says why not (the InvalidSignatureException message).
    fn check(&self, region: &str) -> Result<(), String>;
}

impl RegionRule for str {
    fn check(&self, region: &str) -> Result<(), String> {
        if region == self {
            Ok(())
        } else {
            Err(INVALID_REGION_MESSAGE.to_owned())
        }
    }
}

impl RegionRule for String {
    fn check(&self, region: &str) -> Result<(), String> {
        self.as_str().check(region)
    }
}

/// The Region a request's credential scope names, if its `Authorization` header has one
/// (unverified: read it after [`verify`] has accepted the request).
pub fn scope_region(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let rest = value.trim().strip_prefix(ALGORITHM)?;
    let credential = rest
        .split(',')
        .filter_map(|item| item.trim().split_once('='))
        .find(|(k, _)| k.trim() == "Credential")
        .map(|(_, v)| v.trim())?;
    parse_scope(credential).ok().map(|s| s.region.to_owned())
}

/// Checks the SigV4 signature of a request against `store` and returns the credential that
/// signed it. `region` says which Regions the credential scope may name (a `&str`: that one)
/// and `service` what it must name; `now` is the server's clock, which `X-Amz-Date` must be
/// within [`MAX_CLOCK_SKEW`] of.
pub fn verify<'c, R: RegionRule + ?Sized>(
    parts: &http::request::Parts,
    body: &[u8],
    store: &'c CredentialStore,
    region: &R,
    service: &str,
    now: SystemTime,
) -> Result<&'c Credential, WireError> {
    let auth = parse_authorization(&parts.headers)?;
    let amz_date = parse_amz_date(&parts.headers)?;
    let scope = parse_scope(auth.credential)?;

    let Some(credential) = store.get(scope.access_key_id) else {
        return Err(WireError::new(
            400,
            "UnrecognizedClientException",
            UNRECOGNIZED_CLIENT_MESSAGE,
        ));
    };
    region.check(scope.region).map_err(invalid_signature)?;
    if scope.service != service {
        return Err(invalid_signature(format!(
            "Credential should be scoped to correct service: '{service}'."
        )));
    }
    if scope.date != &amz_date.text[..8] {
        return Err(invalid_signature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{}' != '{}', from '{}'.",
            scope.date,
            &amz_date.text[..8],
            amz_date.text
        )));
    }
    check_clock(&amz_date, now)?;

    let body_hash = hex(&Sha256::digest(body));
    if let Some(claimed) = parts.headers.get(X_AMZ_CONTENT_SHA256) {
        let claimed = claimed.as_bytes();
        if claimed == b"UNSIGNED-PAYLOAD" || claimed.starts_with(b"STREAMING-") {
            return Err(invalid_signature(format!(
                "This service requires a signed payload: x-amz-content-sha256 must be the \
                 hex SHA-256 of the body, not '{}'.",
                String::from_utf8_lossy(&claimed[..claimed.len().min(80)])
            )));
        }
        if !claimed.eq_ignore_ascii_case(body_hash.as_bytes()) {
            return Err(invalid_signature(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .to_owned(),
            ));
        }
    }

    let key = signing_key(credential.secret(), scope.date, scope.region, service);
    let provided = unhex(auth.signature);
    let signature_matches = |canonical: &[u8]| {
        let mut mac = new_mac(key.as_ref());
        mac.update(string_to_sign(&amz_date.text, auth.credential_scope(), canonical).as_bytes());
        // Constant time: `verify_slice` compares without an early exit.
        provided
            .as_ref()
            .is_some_and(|p| mac.verify_slice(p).is_ok())
    };
    let query = parts.uri.query().unwrap_or("");
    let strict = canonical_query(query, QueryStyle::Strict);
    let canonical = canonical_request(
        parts.method.as_str(),
        parts.uri.path(),
        &strict,
        &parts.headers,
        &auth.signed_headers,
        host_of(&parts.uri),
        &body_hash,
    )?;
    let mut matches = signature_matches(&canonical);
    if !matches {
        // botocore signs the query as sent, only sorted; the specification (and the other
        // SDKs) decode and re-encode it. The two differ only for a query that is not encoded
        // the strict way, and then both forms decode to the same parameters: accept either.
        let raw = canonical_query(query, QueryStyle::AsSent);
        if raw != strict {
            let canonical = canonical_request(
                parts.method.as_str(),
                parts.uri.path(),
                &raw,
                &parts.headers,
                &auth.signed_headers,
                host_of(&parts.uri),
                &body_hash,
            )?;
            matches = signature_matches(&canonical);
        }
    }
    if !matches {
        tracing::debug!(
            access_key_id = scope.access_key_id,
            canonical_request = %String::from_utf8_lossy(&canonical),
            "SigV4 signature mismatch"
        );
        return Err(invalid_signature(SIGNATURE_MISMATCH_MESSAGE.to_owned()));
    }
    Ok(credential)
}

/// What a request's signature covers, as [`verify`] computes it first (the query decoded and
/// re-encoded strictly): the canonical request and the string to sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedText {
    /// The canonical request, as bytes (header values may be non-UTF-8 `obs-text`).
    pub canonical_request: Vec<u8>,
    /// `AWS4-HMAC-SHA256`, the date, the credential scope and the canonical request's hash.
    pub string_to_sign: String,
}

/// The canonical request and string to sign of a signed request, from its own
/// `Authorization` (signed headers, scope) and `X-Amz-Date`, with the same parsing and
/// errors as [`verify`] but no credential, clock or scope check. For the known-answer tests
/// (AWS's signing test suite) and for diagnosing a client's signature mismatch.
#[doc(hidden)]
pub fn signed_text(parts: &http::request::Parts, body: &[u8]) -> Result<SignedText, WireError> {
    let auth = parse_authorization(&parts.headers)?;
    let amz_date = parse_amz_date(&parts.headers)?;
    parse_scope(auth.credential)?;
    let query = canonical_query(parts.uri.query().unwrap_or(""), QueryStyle::Strict);
    let canonical_request = canonical_request(
        parts.method.as_str(),
        parts.uri.path(),
        &query,
        &parts.headers,
        &auth.signed_headers,
        host_of(&parts.uri),
        &hex(&Sha256::digest(body)),
    )?;
    let string_to_sign =
        string_to_sign(&amz_date.text, auth.credential_scope(), &canonical_request);
    Ok(SignedText {
        canonical_request,
        string_to_sign,
    })
}

/// The access key id a request's `Authorization` header names in its SigV4 credential, if
/// it has one that looks like an access key id (letters and digits, at most 128): for the
/// audit record of a refused request. Never the signature, never anything secret.
pub fn presented_access_key_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let rest = value.trim().strip_prefix(ALGORITHM)?;
    let credential = rest
        .split(',')
        .filter_map(|item| item.trim().split_once('='))
        .find(|(k, _)| k.trim() == "Credential")
        .map(|(_, v)| v.trim())?;
    let id = credential.split('/').next()?;
    (!id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| id.to_owned())
}

// ---------------------------------------------------------------------------------------------

fn invalid_signature(message: String) -> WireError {
    WireError::new(400, "InvalidSignatureException", message)
}

struct Authorization<'a> {
    credential: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

impl<'a> Authorization<'a> {
    /// The credential without the access key id: `date/region/service/aws4_request`.
    fn credential_scope(&self) -> &'a str {
        self.credential
            .split_once('/')
            .map_or(self.credential, |(_, s)| s)
    }
}

fn parse_authorization(headers: &HeaderMap) -> Result<Authorization<'_>, WireError> {
    let mut all = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = all.next() else {
        return Err(WireError::new(
            400,
            "MissingAuthenticationTokenException",
            "Request is missing Authentication Token",
        ));
    };
    if all.next().is_some() {
        return Err(incomplete(
            "The request carries more than one Authorization header.",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| incomplete("The Authorization header is not visible ASCII."))?;
    let (algorithm, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported Authorization algorithm '{}': only {ALGORITHM} is accepted.",
            algorithm.chars().take(40).collect::<String>()
        )));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for item in rest.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (k, v) = item.split_once('=').unwrap_or((item, ""));
        let slot = match k.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(v.trim()).is_some() {
            return Err(incomplete(format!(
                "Authorization header has more than one '{}' parameter.",
                k.trim()
            )));
        }
    }
    let mut missing = Vec::new();
    for (name, v) in [
        ("Credential", &credential),
        ("Signature", &signature),
        ("SignedHeaders", &signed_headers),
    ] {
        if v.is_none_or(str::is_empty) {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    if !headers.contains_key(X_AMZ_DATE) {
        missing.push("Authorization header requires existence of a 'X-Amz-Date' header.".into());
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed_headers, signature)
    else {
        return Err(incomplete(missing.join(" ")));
    };
    if !missing.is_empty() {
        return Err(incomplete(missing.join(" ")));
    }
    let signed_headers: Vec<&str> = signed.split(';').collect();
    if signed_headers.iter().any(|h| {
        h.is_empty()
            || !h.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.!#$%&'*+^`|~".contains(&b)
            })
    }) {
        return Err(incomplete(format!(
            "SignedHeaders must be lower-case header names separated by ';', got '{}'.",
            signed.chars().take(200).collect::<String>()
        )));
    }
    if !signed_headers.contains(&"host") {
        return Err(incomplete(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    Ok(Authorization {
        credential,
        signed_headers,
        signature,
    })
}

struct Scope<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
}

fn parse_scope(credential: &str) -> Result<Scope<'_>, WireError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let &[access_key_id, date, region, service, terminator] = parts.as_slice() else {
        return Err(incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got '{}'",
            credential.chars().take(200).collect::<String>()
        )));
    };
    if terminator != "aws4_request" {
        return Err(incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
            terminator.chars().take(40).collect::<String>()
        )));
    }
    if access_key_id.is_empty() || region.is_empty() || service.is_empty() {
        return Err(incomplete(
            "Credential must name an access key id, a region and a service.",
        ));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(incomplete(format!(
            "Credential should be scoped to a valid date (YYYYMMDD), not '{}'.",
            date.chars().take(40).collect::<String>()
        )));
    }
    Ok(Scope {
        access_key_id,
        date,
        region,
        service,
    })
}

struct AmzDate {
    text: String,
    at: OffsetDateTime,
}

fn parse_amz_date(headers: &HeaderMap) -> Result<AmzDate, WireError> {
    let raw = headers
        .get(X_AMZ_DATE)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    let bad = || {
        incomplete(format!(
            "X-Amz-Date must be in ISO-8601 basic format (YYYYMMDD'T'HHMMSS'Z'), got '{}'.",
            String::from_utf8_lossy(&raw[..raw.len().min(40)])
        ))
    };
    let digits_at = |range: std::ops::Range<usize>| -> Option<u32> {
        let s = raw.get(range)?;
        s.iter()
            .all(u8::is_ascii_digit)
            .then(|| s.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
    };
    if raw.len() != 16 || raw[8] != b'T' || raw[15] != b'Z' {
        return Err(bad());
    }
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = (
        digits_at(0..4),
        digits_at(4..6),
        digits_at(6..8),
        digits_at(9..11),
        digits_at(11..13),
        digits_at(13..15),
    ) else {
        return Err(bad());
    };
    let month = u8::try_from(mo)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(bad)?;
    let date = time::Date::from_calendar_date(y as i32, month, d as u8).map_err(|_| bad())?;
    let clock = time::Time::from_hms(h as u8, mi as u8, s as u8).map_err(|_| bad())?;
    Ok(AmzDate {
        text: String::from_utf8_lossy(raw).into_owned(),
        at: time::PrimitiveDateTime::new(date, clock).assume_utc(),
    })
}

fn check_clock(date: &AmzDate, now: SystemTime) -> Result<(), WireError> {
    let now = OffsetDateTime::from(now);
    let skew = time::Duration::try_from(MAX_CLOCK_SKEW).unwrap_or(time::Duration::MAX);
    if date.at < now - skew {
        return Err(invalid_signature(format!(
            "Signature expired: {} is now earlier than {} ({} - 15 min.)",
            date.text,
            format_amz_date(now - skew),
            format_amz_date(now)
        )));
    }
    if date.at > now + skew {
        return Err(invalid_signature(format!(
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            date.text,
            format_amz_date(now + skew),
            format_amz_date(now)
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::UNIX_EPOCH;

    use http::Uri;
    use http::header::HOST;
    use lockbox_api::Principal;
    use lockbox_client::SecretKey;
    use lockbox_client::sigv4::canonical_uri;
    use proptest::prelude::*;

    use super::*;

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    /// 2015-08-30T12:36:00Z, the date of AWS's examples.
    const EXAMPLE_TIME: u64 = 1_440_938_160;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn store() -> CredentialStore {
        let p = Principal::parse("arn:aws:iam::111122223333:user/admin").unwrap();
        CredentialStore::from_entries([Credential::new(
            AKID,
            SecretKey::new(SECRET.into()),
            p.clone(),
        )
        .unwrap()])
        .unwrap()
    }

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn authorization(p: &http::request::Parts) -> &str {
        p.headers[AUTHORIZATION].to_str().unwrap()
    }

    /// A KMS request signed now by `sign`, as the remote client makes them.
    fn signed_kms(body: &[u8], now: SystemTime) -> http::request::Parts {
        let mut p = parts(
            "POST",
            "/",
            &[
                ("host", "kms.example:4000"),
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "TrentService.Encrypt"),
            ],
        );
        let uri: Uri = "http://kms.example:4000/".parse().unwrap();
        sign(
            "POST",
            &uri,
            &mut p.headers,
            body,
            AKID,
            &SecretKey::new(SECRET.into()),
            "eu-west-1",
            "kms",
            now,
        )
        .unwrap();
        p
    }

    fn verify_kms(p: &http::request::Parts, body: &[u8], now: SystemTime) -> Result<(), WireError> {
        let s = store();
        verify(p, body, &s, "eu-west-1", "kms", now).map(|c| {
            assert_eq!(c.access_key_id(), AKID);
        })
    }

    fn assert_err(r: Result<(), WireError>, code: &str, message: &str) {
        let e = r.unwrap_err();
        assert_eq!((e.status, &*e.code), (400, code), "{e}");
        assert_eq!(e.message, message);
    }

    fn with_auth(p: &http::request::Parts, auth: &str) -> http::request::Parts {
        let mut q = p.clone();
        q.headers.insert(AUTHORIZATION, auth.parse().unwrap());
        q
    }

    #[test]
    fn signing_key_matches_the_aws_documentation() {
        let s = SecretKey::new(SECRET.into());
        assert_eq!(
            hex(signing_key(&s, "20120215", "us-east-1", "iam").as_ref()),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
        assert_eq!(
            hex(signing_key(&s, "20150830", "us-east-1", "iam").as_ref()),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    #[test]
    fn sign_reproduces_the_aws_documentation_example() {
        // IAM ListUsers, from AWS's SigV4 walkthrough.
        let uri: Uri = "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08"
            .parse()
            .unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        h.insert("user-agent", "not-signed/1.0".parse().unwrap());
        let s = SecretKey::new(SECRET.into());
        sign(
            "GET",
            &uri,
            &mut h,
            b"",
            AKID,
            &s,
            "us-east-1",
            "iam",
            at(EXAMPLE_TIME),
        )
        .unwrap();
        assert_eq!(h["host"], "iam.amazonaws.com");
        assert_eq!(h["x-amz-date"], "20150830T123600Z");
        assert_eq!(
            h[AUTHORIZATION],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );

        // get-vanilla from AWS's SigV4 test suite.
        let uri: Uri = "https://example.amazonaws.com/".parse().unwrap();
        let mut h = HeaderMap::new();
        sign(
            "GET",
            &uri,
            &mut h,
            b"",
            AKID,
            &s,
            "us-east-1",
            "service",
            at(EXAMPLE_TIME),
        )
        .unwrap();
        assert!(h[AUTHORIZATION].to_str().unwrap().ends_with(
            "SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        ));
    }

    #[test]
    fn verify_accepts_the_aws_documentation_example() {
        let p = parts(
            "GET",
            "/?Action=ListUsers&Version=2010-05-08",
            &[
                ("host", "iam.amazonaws.com"),
                (
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                ),
                ("x-amz-date", "20150830T123600Z"),
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
                     SignedHeaders=content-type;host;x-amz-date, \
                     Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
                ),
            ],
        );
        let s = store();
        let c = verify(&p, b"", &s, "us-east-1", "iam", at(EXAMPLE_TIME)).unwrap();
        assert_eq!(c.principal().arn(), "arn:aws:iam::111122223333:user/admin");
    }

    /// Requests signed by botocore 1.43 (the AWS CLI's signer), captured with a fixed clock.
    #[test]
    fn verify_accepts_what_botocore_signs() {
        let s = store();
        let p = parts(
            "POST",
            "/",
            &[
                ("host", "127.0.0.1:4000"),
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "TrentService.ListKeys"),
                ("x-amz-date", "20150830T123600Z"),
                ("user-agent", "aws-cli/2 (not signed)"),
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/kms/aws4_request, \
                     SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
                     Signature=3112ee96cddf39bd10ed6f1695a7824ea8a113f2c93f54cb7bdbe650caaec876",
                ),
            ],
        );
        verify(&p, b"{}", &s, "eu-west-1", "kms", at(EXAMPLE_TIME)).unwrap();

        // Dot segments, an encoded space in the path (signed double-encoded), an unsorted query
        // with a lower-case escape botocore leaves as sent, and a header with runs of spaces.
        let p = parts(
            "POST",
            "/a%20b/./c/../d/?Param2=value2&Param1=value%201&empty=&flag&z=%7e",
            &[
                ("host", "kms.example:8443"),
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "TrentService.Encrypt"),
                ("x-custom", "  a   b  c "),
                ("x-amz-date", "20150830T123600Z"),
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, \
                     SignedHeaders=content-type;host;x-amz-date;x-amz-target;x-custom, \
                     Signature=027d2547b7288a7d00d12b0eafc19d2bd239e635c8805ba27c29c29cd3ead015",
                ),
            ],
        );
        verify(
            &p,
            br#"{"KeyId":"alias/x"}"#,
            &s,
            "us-east-1",
            "kms",
            at(EXAMPLE_TIME),
        )
        .unwrap();
    }

    #[test]
    fn canonical_forms() {
        let mut out = Vec::new();
        canonical_uri("/a%20b/./c/../d//e/", &mut out);
        assert_eq!(out, b"/a%2520b/d/e/");
        out.clear();
        canonical_uri("", &mut out);
        assert_eq!(out, b"/");
        assert_eq!(
            canonical_query("b=2&a=x y&a=1&c&%7e=%2f&&", QueryStyle::Strict),
            b"a=1&a=x%20y&b=2&c=&~=%2F"
        );
        assert_eq!(
            canonical_query("b=2&a=x%20y&%7e=%2f", QueryStyle::AsSent),
            b"%7e=%2f&a=x%20y&b=2"
        );
    }

    #[test]
    fn sign_then_verify_round_trips_within_the_clock_window() {
        // X-Amz-Date has whole seconds.
        let now = at(SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs());
        let body = br#"{"KeyId":"alias/app","Plaintext":"aGk="}"#;
        let p = signed_kms(body, now);
        verify_kms(&p, body, now).unwrap();
        verify_kms(&p, body, now + MAX_CLOCK_SKEW).unwrap();
        verify_kms(&p, body, now - MAX_CLOCK_SKEW + Duration::from_secs(1)).unwrap();
        // A matching x-amz-content-sha256 is fine, signed or not.
        let mut q = p.clone();
        q.headers.insert(
            X_AMZ_CONTENT_SHA256,
            hex(&Sha256::digest(body)).parse().unwrap(),
        );
        verify_kms(&q, body, now).unwrap();
    }

    #[test]
    fn missing_authorization_is_a_missing_token() {
        let p = parts(
            "POST",
            "/",
            &[("host", "h"), ("x-amz-date", "20150830T123600Z")],
        );
        assert_err(
            verify_kms(&p, b"", at(EXAMPLE_TIME)),
            "MissingAuthenticationTokenException",
            "Request is missing Authentication Token",
        );
    }

    #[test]
    fn malformed_authorization_is_an_incomplete_signature_naming_what_is_missing() {
        let p = signed_kms(b"{}", at(EXAMPLE_TIME));
        let good = authorization(&p).to_owned();
        let (cred, rest) = good.split_once(", ").unwrap();
        let (signed, sig) = rest.split_once(", ").unwrap();
        let cases: Vec<(String, &str)> = vec![
            (
                format!("AWS4-HMAC-SHA256 {signed}, {sig}"),
                "Authorization header requires 'Credential' parameter.",
            ),
            (
                format!("{cred}, {sig}"),
                "Authorization header requires 'SignedHeaders' parameter.",
            ),
            (
                format!("{cred}, {signed}"),
                "Authorization header requires 'Signature' parameter.",
            ),
            (
                "AWS4-HMAC-SHA256".to_owned(),
                "Authorization header requires 'Credential' parameter. Authorization header \
                 requires 'Signature' parameter. Authorization header requires 'SignedHeaders' \
                 parameter.",
            ),
            (
                good.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"),
                "Unsupported Authorization algorithm 'AWS4-HMAC-SHA512': only AWS4-HMAC-SHA256 \
                 is accepted.",
            ),
            (
                good.replace("/eu-west-1/kms/aws4_request", "/eu-west-1/kms"),
                "Credential must have exactly 5 slash-delimited elements, e.g. \
                 keyid/date/region/service/term, got 'AKIDEXAMPLE/20150830/eu-west-1/kms'",
            ),
            (
                good.replace("/aws4_request", "/aws5_request"),
                "Credential should be scoped with a valid terminator: 'aws4_request', not \
                 'aws5_request'.",
            ),
            (
                good.replace("/20150830/", "/2015083x/"),
                "Credential should be scoped to a valid date (YYYYMMDD), not '2015083x'.",
            ),
            (
                good.replace(
                    "SignedHeaders=content-type;host;",
                    "SignedHeaders=content-type;",
                ),
                "'Host' must be a 'SignedHeader' in the AWS Authorization.",
            ),
            (
                good.replace("SignedHeaders=content-type", "SignedHeaders=Content-Type"),
                "SignedHeaders must be lower-case header names separated by ';', got \
                 'Content-Type;host;x-amz-date;x-amz-target'.",
            ),
            (
                good.replace("x-amz-target,", "x-amz-target;x-extra,"),
                "SignedHeaders names 'x-extra', which the request does not carry.",
            ),
            (
                format!("{good}, Signature=00"),
                "Authorization header has more than one 'Signature' parameter.",
            ),
        ];
        for (auth, message) in cases {
            let q = with_auth(&p, &auth);
            assert_err(
                verify_kms(&q, b"{}", at(EXAMPLE_TIME)),
                "IncompleteSignatureException",
                message,
            );
        }

        let mut q = p.clone();
        q.headers.remove(X_AMZ_DATE);
        assert_err(
            verify_kms(&q, b"{}", at(EXAMPLE_TIME)),
            "IncompleteSignatureException",
            "Authorization header requires existence of a 'X-Amz-Date' header.",
        );
        for bad in [
            "2015-08-30T12:36:00Z",
            "20150830T123600",
            "20151330T123600Z",
            "20150830T126000Z",
        ] {
            let mut q = p.clone();
            q.headers.insert(X_AMZ_DATE, bad.parse().unwrap());
            assert_err(
                verify_kms(&q, b"{}", at(EXAMPLE_TIME)),
                "IncompleteSignatureException",
                &format!(
                    "X-Amz-Date must be in ISO-8601 basic format (YYYYMMDD'T'HHMMSS'Z'), got '{bad}'."
                ),
            );
        }
        let mut q = p.clone();
        q.headers.append(AUTHORIZATION, good.parse().unwrap());
        assert_err(
            verify_kms(&q, b"{}", at(EXAMPLE_TIME)),
            "IncompleteSignatureException",
            "The request carries more than one Authorization header.",
        );
    }

    #[test]
    fn messages_echo_at_most_a_bounded_part_of_the_request() {
        // A request head may be 64 KiB; an error message quotes a bounded part of it.
        let p = signed_kms(b"{}", at(EXAMPLE_TIME));
        let long = "x".repeat(10_000);
        let q = with_auth(
            &p,
            &authorization(&p).replace("x-amz-target,", &format!("x-amz-target;{long},")),
        );
        assert_err(
            verify_kms(&q, b"{}", at(EXAMPLE_TIME)),
            "IncompleteSignatureException",
            &format!(
                "SignedHeaders names '{}', which the request does not carry.",
                &long[..200]
            ),
        );
        let mut q = p.clone();
        q.headers.insert(
            X_AMZ_CONTENT_SHA256,
            format!("STREAMING-{long}").parse().unwrap(),
        );
        assert_err(
            verify_kms(&q, b"{}", at(EXAMPLE_TIME)),
            "InvalidSignatureException",
            &format!(
                "This service requires a signed payload: x-amz-content-sha256 must be the hex \
                 SHA-256 of the body, not 'STREAMING-{}'.",
                &long[..70]
            ),
        );
    }

    #[test]
    fn unknown_access_key_is_an_unrecognized_client() {
        let p = signed_kms(b"{}", at(EXAMPLE_TIME));
        let q = with_auth(&p, &authorization(&p).replace(AKID, "AKIDUNKNOWN"));
        assert_err(
            verify_kms(&q, b"{}", at(EXAMPLE_TIME)),
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        );
    }

    #[test]
    fn wrong_scope_is_an_invalid_signature() {
        let p = signed_kms(b"{}", at(EXAMPLE_TIME));
        let s = store();
        let now = at(EXAMPLE_TIME);
        let e = verify(&p, b"{}", &s, "us-east-1", "kms", now).unwrap_err();
        assert_eq!(
            (e.status, &*e.code, &*e.message),
            (
                400,
                "InvalidSignatureException",
                "Credential should be scoped to a valid region."
            )
        );
        let e = verify(&p, b"{}", &s, "eu-west-1", "kms2", now).unwrap_err();
        assert_eq!(
            (&*e.code, &*e.message),
            (
                "InvalidSignatureException",
                "Credential should be scoped to correct service: 'kms2'."
            )
        );
        let q = with_auth(&p, &authorization(&p).replace("/20150830/", "/20150831/"));
        assert_err(
            verify_kms(&q, b"{}", now),
            "InvalidSignatureException",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '20150831' != '20150830', from '20150830T123600Z'.",
        );
    }

    #[test]
    fn stale_or_future_dates_are_refused_with_the_window() {
        let p = signed_kms(b"{}", at(EXAMPLE_TIME));
        assert_err(
            verify_kms(&p, b"{}", at(EXAMPLE_TIME + 15 * 60 + 1)),
            "InvalidSignatureException",
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z \
             (20150830T125101Z - 15 min.)",
        );
        assert_err(
            verify_kms(&p, b"{}", at(EXAMPLE_TIME - 15 * 60 - 1)),
            "InvalidSignatureException",
            "Signature not yet current: 20150830T123600Z is still later than 20150830T123559Z \
             (20150830T122059Z + 15 min.)",
        );
    }

    #[test]
    fn tampering_is_a_signature_mismatch() {
        let now = at(EXAMPLE_TIME);
        let body = br#"{"KeyId":"alias/app"}"#;
        let p = signed_kms(body, now);
        assert_err(
            verify_kms(&p, b"{}", now),
            "InvalidSignatureException",
            SIGNATURE_MISMATCH_MESSAGE,
        );
        // A wrong secret.
        let other = CredentialStore::from_entries([Credential::new(
            AKID,
            SecretKey::new("another secret".into()),
            Principal::parse("arn:aws:iam::111122223333:root").unwrap(),
        )
        .unwrap()])
        .unwrap();
        let e = verify(&p, body, &other, "eu-west-1", "kms", now).unwrap_err();
        assert_eq!(e.message, SIGNATURE_MISMATCH_MESSAGE);
        // A malformed signature.
        let q = with_auth(&p, &format!("{}zz", authorization(&p)));
        assert_err(
            verify_kms(&q, body, now),
            "InvalidSignatureException",
            SIGNATURE_MISMATCH_MESSAGE,
        );
        // x-amz-content-sha256 that does not match the body, or asks for an unsigned payload.
        let mut q = p.clone();
        q.headers.insert(
            X_AMZ_CONTENT_SHA256,
            hex(&Sha256::digest(b"{}")).parse().unwrap(),
        );
        assert_err(
            verify_kms(&q, body, now),
            "InvalidSignatureException",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        );
        q.headers
            .insert(X_AMZ_CONTENT_SHA256, "UNSIGNED-PAYLOAD".parse().unwrap());
        assert_err(
            verify_kms(&q, body, now),
            "InvalidSignatureException",
            "This service requires a signed payload: x-amz-content-sha256 must be the hex \
             SHA-256 of the body, not 'UNSIGNED-PAYLOAD'.",
        );
    }

    #[test]
    fn sign_refuses_inputs_that_would_break_the_header() {
        let uri: Uri = "/".parse().unwrap();
        let s = SecretKey::new(SECRET.into());
        let mut h = HeaderMap::new();
        let e = sign(
            "POST",
            &uri,
            &mut h,
            b"",
            AKID,
            &s,
            "r",
            "kms",
            at(EXAMPLE_TIME),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot sign the request: the request has no Host header and '/' names no host"
        );
        h.insert(HOST, "h".parse().unwrap());
        let e = sign(
            "POST",
            &uri,
            &mut h,
            b"",
            "AK/ID",
            &s,
            "r",
            "kms",
            at(EXAMPLE_TIME),
        )
        .unwrap_err();
        assert!(e.to_string().contains("access key id 'AK/ID'"), "{e}");
        let e = sign(
            "POST",
            &uri,
            &mut h,
            b"",
            AKID,
            &s,
            "eu west",
            "kms",
            at(EXAMPLE_TIME),
        )
        .unwrap_err();
        assert!(e.to_string().contains("region 'eu west'"), "{e}");
    }

    fn signed_generic(body: &[u8], path_and_query: &str, header: &str) -> http::request::Parts {
        let mut p = parts(
            "POST",
            path_and_query,
            &[("host", "kms.example"), ("x-custom", header)],
        );
        let uri: Uri = format!("http://kms.example{path_and_query}")
            .parse()
            .unwrap();
        sign(
            "POST",
            &uri,
            &mut p.headers,
            body,
            AKID,
            &SecretKey::new(SECRET.into()),
            "eu-west-1",
            "kms",
            at(EXAMPLE_TIME),
        )
        .unwrap();
        p
    }

    fn flip(s: &str, i: usize, to: u8) -> Option<String> {
        let mut b = s.as_bytes().to_vec();
        let i = i % b.len();
        if b[i] == to {
            return None;
        }
        b[i] = to;
        String::from_utf8(b).ok()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn any_single_byte_change_breaks_the_signature(
            body in proptest::collection::vec(any::<u8>(), 1..64),
            seg in "[a-z0-9]{1,8}",
            qv in "[a-z0-9]{1,8}",
            hv in "[a-z0-9]{1,8}",
            i in any::<usize>(),
            to in prop_oneof![b'a'..=b'z', b'0'..=b'9', Just(b'Z')],
            byte in any::<u8>(),
        ) {
            let pq = format!("/{seg}?q={qv}");
            let p = signed_generic(&body, &pq, &hv);
            let now = at(EXAMPLE_TIME);
            prop_assert!(verify_kms(&p, &body, now).is_ok());
            let mismatch = |r: Result<(), WireError>| {
                r.is_err_and(|e| e.code == "InvalidSignatureException" && e.message == SIGNATURE_MISMATCH_MESSAGE)
            };

            // The body.
            let mut b = body.clone();
            let j = i % b.len();
            if b[j] != byte {
                b[j] = byte;
                prop_assert!(mismatch(verify_kms(&p, &b, now)));
            }
            // A signed header.
            if let Some(v) = flip(&hv, i, to) {
                let mut q = p.clone();
                q.headers.insert("x-custom", v.parse().unwrap());
                prop_assert!(mismatch(verify_kms(&q, &body, now)));
            }
            // The path.
            if let Some(s2) = flip(&seg, i, to) {
                let mut q = p.clone();
                q.uri = format!("/{s2}?q={qv}").parse().unwrap();
                prop_assert!(mismatch(verify_kms(&q, &body, now)));
            }
            // The query.
            if let Some(v2) = flip(&qv, i, to) {
                let mut q = p.clone();
                q.uri = format!("/{seg}?q={v2}").parse().unwrap();
                prop_assert!(mismatch(verify_kms(&q, &body, now)));
            }
        }
    }
}
