//! AWS Signature Version 4, header form (`Authorization: AWS4-HMAC-SHA256 Credential=...,
//! SignedHeaders=..., Signature=...` with `X-Amz-Date`): [`verify`] on the server, [`sign`] in
//! the remote client. Written from AWS's public description of the algorithm.
//!
//! The canonical request is what botocore (the AWS CLI), aws-sdk-rust and the other SDKs
//! build for a non-S3 service:
//!
//! - the path with dot segments and empty segments removed, each segment URI-encoded *as it
//!   appears on the wire* (so an encoded `%20` is signed as `%2520`: the SDKs' "double
//!   encoding" for every service but S3);
//! - the query parameters decoded, re-encoded strictly (only `A-Za-z0-9-_.~` unencoded) and
//!   sorted by name, then value; [`verify`] also accepts botocore's form (sorted but not
//!   re-encoded), which differs only for queries not encoded the strict way;
//! - each signed header as `name:value`, lower-case name, its values trimmed, inner runs of
//!   whitespace collapsed to one space, several values joined by `,`;
//! - the hex SHA-256 of the body.
//!
//! # Errors
//!
//! Every failure is a [`WireError`] with AWS's error code and, where AWS's wording is known,
//! its message. All are HTTP 400. A request without an `Authorization` header gets
//! `MissingAuthenticationTokenException` with 400 too: AWS's generic "common errors" page
//! lists 403 for it, but that is the REST (API Gateway style) front end; the JSON 1.x services
//! (DynamoDB, KMS) answer 400, and SDKs branch on the code, not the status.

use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::credentials::{Credential, CredentialStore, SecretKey};
use crate::error::WireError;

/// The only algorithm accepted and produced.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// How far `X-Amz-Date` may be from the server's clock, either way.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// The message of `UnrecognizedClientException`.
pub const UNRECOGNIZED_CLIENT_MESSAGE: &str =
    "The security token included in the request is invalid.";

/// The message of a signature mismatch.
pub const SIGNATURE_MISMATCH_MESSAGE: &str = "The request signature we calculated does not match \
     the signature you provided. Check your AWS Secret Access Key and signing method. Consult \
     the service documentation for details.";

const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

/// Headers [`sign`] never signs: set or changed by transports and proxies after signing
/// (the SDKs leave out the same ones).
const UNSIGNED_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "content-length",
    "expect",
    "transfer-encoding",
    "user-agent",
    "x-amzn-trace-id",
];

/// Checks the SigV4 signature of a request against `store` and returns the credential that
/// signed it. `region` and `service` are what the credential scope must name; `now` is the
/// server's clock, which `X-Amz-Date` must be within [`MAX_CLOCK_SKEW`] of.
pub fn verify<'c>(
    parts: &http::request::Parts,
    body: &[u8],
    store: &'c CredentialStore,
    region: &str,
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
    if scope.region != region {
        return Err(invalid_signature(
            "Credential should be scoped to a valid region.".to_owned(),
        ));
    }
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

    let key = signing_key(credential.secret(), scope.date, region, service);
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

/// Signs a request: sets `x-amz-date` (from `now`), `host` (from `uri` when the caller did not
/// set it) and `authorization` in `headers`. Every header already in `headers` is signed,
/// except those a transport may change (`user-agent`, `content-length`, `connection`, ...).
#[allow(clippy::too_many_arguments)] // the inputs of the algorithm; a struct would only rename them
pub fn sign(
    method: &str,
    uri: &Uri,
    headers: &mut HeaderMap,
    body: &[u8],
    access_key_id: &str,
    secret: &SecretKey,
    region: &str,
    service: &str,
    now: SystemTime,
) -> Result<(), SignError> {
    for (what, value) in [
        ("access key id", access_key_id),
        ("region", region),
        ("service", service),
    ] {
        if value.is_empty()
            || !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(SignError(format!(
                "the {what} '{value}' cannot go in a SigV4 credential scope (letters, digits, \
                 '-', '_' and '.' only)"
            )));
        }
    }
    if !headers.contains_key(HOST) {
        let host = host_of(uri).ok_or_else(|| {
            SignError(format!(
                "the request has no Host header and '{uri}' names no host"
            ))
        })?;
        let value = HeaderValue::from_str(&host)
            .map_err(|_| SignError(format!("'{host}' cannot be a Host header")))?;
        headers.insert(HOST, value);
    }
    let amz_date = format_amz_date(OffsetDateTime::from(now));
    headers.insert(
        HeaderName::from_static(X_AMZ_DATE),
        HeaderValue::from_str(&amz_date)
            .map_err(|_| SignError(format!("'{amz_date}' cannot be a header value")))?,
    );
    headers.remove(AUTHORIZATION);

    let mut names: Vec<&str> = headers
        .keys()
        .map(HeaderName::as_str)
        .filter(|n| !UNSIGNED_HEADERS.contains(n))
        .collect();
    names.sort_unstable();
    let signed_headers = names.join(";");
    let body_hash = hex(&Sha256::digest(body));
    let query = canonical_query(uri.query().unwrap_or(""), QueryStyle::Strict);
    let canonical = canonical_request(
        method,
        uri.path(),
        &query,
        headers,
        &names,
        host_of(uri),
        &body_hash,
    )
    .map_err(|e| SignError(e.message))?;
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let key = signing_key(secret, date, region, service);
    let mut mac = new_mac(key.as_ref());
    mac.update(string_to_sign(&amz_date, &scope, &canonical).as_bytes());
    let signature = hex(&mac.finalize().into_bytes());
    let value = format!(
        "{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={signed_headers}, \
         Signature={signature}"
    );
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&value)
            .map_err(|_| SignError("the Authorization header is not a valid value".to_owned()))?,
    );
    Ok(())
}

/// Why [`sign`] could not sign: an input that cannot go into the headers it writes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot sign the request: {0}")]
pub struct SignError(String);

/// The SigV4 signing key for a date (`YYYYMMDD`), region and service: HMAC-SHA256 chained
/// over them, starting from `"AWS4" + secret`.
pub fn signing_key(
    secret: &SecretKey,
    date: &str,
    region: &str,
    service: &str,
) -> Zeroizing<[u8; 32]> {
    let secret = secret.expose_secret();
    let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + secret.len()));
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let k_date = hmac(&k_secret, date.as_bytes());
    let k_region = hmac(k_date.as_ref(), region.as_bytes());
    let k_service = hmac(k_region.as_ref(), service.as_bytes());
    hmac(k_service.as_ref(), b"aws4_request")
}

// ---------------------------------------------------------------------------------------------

fn invalid_signature(message: String) -> WireError {
    WireError::new(400, "InvalidSignatureException", message)
}

fn incomplete(message: impl Into<String>) -> WireError {
    WireError::new(400, "IncompleteSignatureException", message)
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

fn format_amz_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request))
    )
}

/// The canonical request, as bytes (header values may be non-UTF-8 `obs-text`).
fn canonical_request(
    method: &str,
    path: &str,
    canonical_query: &[u8],
    headers: &HeaderMap,
    signed_headers: &[&str],
    uri_host: Option<String>,
    payload_hash: &str,
) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(method.as_bytes());
    out.push(b'\n');
    canonical_uri(path, &mut out);
    out.push(b'\n');
    out.extend_from_slice(canonical_query);
    out.push(b'\n');
    for name in signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut values = headers.get_all(*name).iter().peekable();
        if values.peek().is_none() {
            if *name == "host" {
                // HTTP/2 carries the host in the URI (":authority"), not a header.
                let host = uri_host.as_deref().ok_or_else(|| {
                    incomplete("SignedHeaders names 'host', which the request does not carry.")
                })?;
                out.extend_from_slice(host.as_bytes());
                out.push(b'\n');
                continue;
            }
            return Err(incomplete(format!(
                "SignedHeaders names '{}', which the request does not carry.",
                name.chars().take(200).collect::<String>()
            )));
        }
        let mut first = true;
        for v in values {
            if !first {
                out.push(b',');
            }
            first = false;
            let mut words = v
                .as_bytes()
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty());
            if let Some(w) = words.next() {
                out.extend_from_slice(w);
            }
            for w in words {
                out.push(b' ');
                out.extend_from_slice(w);
            }
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    Ok(out)
}

/// The path with `.`, `..` and empty segments resolved, each segment URI-encoded as it
/// stands (so percent-escapes are encoded again, as the SDKs do for non-S3 services).
fn canonical_uri(path: &str, out: &mut Vec<u8>) {
    let mut segments: Vec<&str> = Vec::new();
    for s in path.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    out.push(b'/');
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        uri_encode(s.as_bytes(), out);
    }
    if !segments.is_empty() && path.ends_with('/') {
        out.push(b'/');
    }
}

#[derive(Clone, Copy)]
enum QueryStyle {
    /// Each name and value decoded, then URI-encoded strictly: the specification.
    Strict,
    /// Names and values as sent, only sorted: what botocore signs.
    AsSent,
}

fn canonical_query(query: &str, style: QueryStyle) -> Vec<u8> {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            match style {
                QueryStyle::Strict => {
                    let mut ek = Vec::with_capacity(k.len());
                    uri_encode(&percent_decode(k), &mut ek);
                    let mut ev = Vec::with_capacity(v.len());
                    uri_encode(&percent_decode(v), &mut ev);
                    (ek, ev)
                }
                QueryStyle::AsSent => (k.as_bytes().to_vec(), v.as_bytes().to_vec()),
            }
        })
        .collect();
    pairs.sort();
    let mut out = Vec::with_capacity(query.len() + 8);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(k);
        out.push(b'=');
        out.extend_from_slice(v);
    }
    out
}

fn uri_encode(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                b.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// `host[:port]` from an absolute URI, without the scheme's default port.
fn host_of(uri: &Uri) -> Option<String> {
    let authority = uri.authority()?;
    let host = authority.host();
    let default = match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    Some(match authority.port_u16() {
        Some(p) if Some(p) != default => format!("{host}:{p}"),
        _ => host.to_owned(),
    })
}

fn new_mac(key: &[u8]) -> Hmac<Sha256> {
    #[allow(clippy::expect_used)]
    // HMAC takes keys of any length (long ones are hashed): new_from_slice cannot fail.
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length")
}

fn hmac(key: &[u8], data: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut mac = new_mac(key);
    mac.update(data);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// Lower- or upper-case hex to bytes; `None` if it is not 64 hex digits.
fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|p| {
            let h = (p[0] as char).to_digit(16)?;
            let l = (p[1] as char).to_digit(16)?;
            Some((h * 16 + l) as u8)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::UNIX_EPOCH;

    use lockbox_api::Principal;
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
