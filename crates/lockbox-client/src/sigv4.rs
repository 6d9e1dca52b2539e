//! AWS Signature Version 4, header form (`Authorization: AWS4-HMAC-SHA256 Credential=...,
//! SignedHeaders=..., Signature=...` with `X-Amz-Date`): [`sign`] for the remote client, and
//! the canonicalization that signer and verifier share ([`canonical_request`],
//! [`canonical_query`], [`string_to_sign`], [`signing_key`]), written once here; the server's
//! verifier (`lockbox_server::sigv4::verify`) uses them. Written from AWS's public description
//! of the algorithm.
//!
//! The canonical request is what botocore (the AWS CLI), aws-sdk-rust and the other SDKs
//! build for a non-S3 service:
//!
//! - the path with dot segments and empty segments removed, each segment URI-encoded *as it
//!   appears on the wire* (so an encoded `%20` is signed as `%2520`: the SDKs' "double
//!   encoding" for every service but S3);
//! - the query parameters decoded, re-encoded strictly (only `A-Za-z0-9-_.~` unencoded) and
//!   sorted by name, then value ([`QueryStyle::Strict`]); the verifier also accepts
//!   botocore's form (sorted but not re-encoded, [`QueryStyle::AsSent`]), which differs only
//!   for queries not encoded the strict way;
//! - each signed header as `name:value`, lower-case name, its values trimmed, inner runs of
//!   whitespace collapsed to one space, several values joined by `,`;
//! - the hex SHA-256 of the body.

use std::time::SystemTime;

use hmac::{Hmac, Mac};
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use lockbox_api::wire::WireError;

use crate::credentials::SecretKey;

/// The only algorithm accepted and produced.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The header that carries the signing time.
pub const X_AMZ_DATE: &str = "x-amz-date";
/// The header that carries the body's SHA-256 (optional for KMS).
pub const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

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

/// A 400 `IncompleteSignatureException` (a signature that lacks a part).
pub fn incomplete(message: impl Into<String>) -> WireError {
    WireError::new(400, "IncompleteSignatureException", message)
}

/// `YYYYMMDD'T'HHMMSS'Z'` in UTC: the form of `X-Amz-Date`.
pub fn format_amz_date(t: OffsetDateTime) -> String {
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

/// The string to sign: algorithm, date, credential scope and the canonical request's hash.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request))
    )
}

/// The canonical request, as bytes (header values may be non-UTF-8 `obs-text`). A signed
/// header the request does not carry is an `IncompleteSignatureException`.
pub fn canonical_request(
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
pub fn canonical_uri(path: &str, out: &mut Vec<u8>) {
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
    // RFC 3986's remove_dot_segments keeps the slash before a final `.` or `..`
    // (`/a/b/.` is `/a/b/`), as the AWS SDKs sign it.
    let ends_in_directory = matches!(path.rsplit('/').next(), Some("" | "." | ".."));
    if !segments.is_empty() && ends_in_directory {
        out.push(b'/');
    }
}

/// How [`canonical_query`] treats names and values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryStyle {
    /// Each name and value decoded, then URI-encoded strictly: the specification.
    Strict,
    /// Names and values as sent, only sorted: what botocore signs.
    AsSent,
}

/// The canonical query string of `query`, in `style`.
pub fn canonical_query(query: &str, style: QueryStyle) -> Vec<u8> {
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
pub fn host_of(uri: &Uri) -> Option<String> {
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

/// HMAC-SHA256 keyed with `key`.
pub fn new_mac(key: &[u8]) -> Hmac<Sha256> {
    #[allow(clippy::expect_used)]
    // HMAC takes keys of any length (long ones are hashed): new_from_slice cannot fail.
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length")
}

/// HMAC-SHA256 of `data` under `key`, zeroized when dropped.
pub fn hmac(key: &[u8], data: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut mac = new_mac(key);
    mac.update(data);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// Lower-case hex (the `hex` crate, as everywhere in Lockbox).
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Lower- or upper-case hex to bytes; `None` if it is not 64 hex digits.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    hex::decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::canonical_uri;

    fn uri(path: &str) -> String {
        let mut out = Vec::new();
        canonical_uri(path, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn dot_segments_are_removed_as_rfc_3986_removes_them() {
        // A final `.` or `..` leaves the slash before it (the aws-sigv4 oracle found this).
        assert_eq!(uri("/~/_/."), "/~/_/");
        assert_eq!(uri("/a/b/.."), "/a/");
        assert_eq!(uri("/a/./b"), "/a/b");
        assert_eq!(uri("/a/../b"), "/b");
        assert_eq!(uri("/a/b/"), "/a/b/");
        assert_eq!(uri("/a//b"), "/a/b");
        assert_eq!(uri("/.."), "/");
        assert_eq!(uri("/"), "/");
        assert_eq!(uri("/%20x"), "/%2520x");
    }
}
