//! SigV4 against an independent implementation: the `aws-sigv4` crate (the signer inside
//! aws-sdk-rust), a dev-only dependency used as a differential oracle.
//!
//! - KMS requests it signs (random bodies, header sets, paths, dates, regions, credentials with
//!   and without a session token) verify, and each part changed after signing fails with the
//!   exact error that part calls for.
//! - Requests Lockbox's `sign` makes carry exactly the Authorization the oracle computes for
//!   the same request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use lockbox_api::Principal;
use lockbox_client::SecretKey;
use lockbox_server::WireError;
use lockbox_server::credentials::{Credential, CredentialStore};
use lockbox_server::sigv4::{self, SIGNATURE_MISMATCH_MESSAGE, UNRECOGNIZED_CLIENT_MESSAGE};
use proptest::prelude::*;

const SERVICE: &str = "kms";
/// A second credential the server knows: a request re-labelled with it must fail as a
/// mismatch, not as an unknown key.
const OTHER_AKID: &str = "AKIDOTHERKEY0000";
const OTHER_SECRET: &str = "another/secret+that/is/forty/characters0";

/// One generated request, before signing.
#[derive(Clone, Debug)]
struct Case {
    akid: String,
    secret: String,
    token: Option<String>,
    region: String,
    /// Seconds since the epoch (X-Amz-Date has whole seconds).
    time: u64,
    /// Path and query as sent on the wire (already percent-encoded).
    path_and_query: String,
    /// Headers besides Host (lower-case names, distinct).
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Case {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.time)
    }

    fn host(&self) -> String {
        format!("kms.{}.amazonaws.com", self.region)
    }

    fn store(&self) -> CredentialStore {
        let p = Principal::parse("arn:aws:iam::111122223333:user/oracle").unwrap();
        CredentialStore::from_entries([
            Credential::new(&self.akid, SecretKey::new(self.secret.clone()), p.clone()).unwrap(),
            Credential::new(OTHER_AKID, SecretKey::new(OTHER_SECRET.into()), p).unwrap(),
        ])
        .unwrap()
    }

    fn verify(&self, p: &http::request::Parts, body: &[u8]) -> Result<String, WireError> {
        let store = self.store();
        sigv4::verify(p, body, &store, &self.region, SERVICE, self.now())
            .map(|c| c.access_key_id().to_owned())
    }

    /// The request signed by the oracle, as a server receives it (origin-form target).
    fn signed_by_oracle(&self) -> http::request::Parts {
        let url = format!("https://{}{}", self.host(), self.path_and_query);
        let mut headers: Vec<(String, String)> = vec![("host".into(), self.host())];
        headers.extend(self.headers.iter().cloned());
        let instructions = oracle_sign(self, "POST", &url, &headers, &self.body).0;
        let mut request = http::Request::builder()
            .method("POST")
            .uri(self.path_and_query.as_str());
        for (k, v) in &headers {
            request = request.header(k.as_str(), v.as_str());
        }
        let mut request = request.body(()).unwrap();
        instructions.apply_to_request_http1x(&mut request);
        request.into_parts().0
    }
}

/// Signs with `aws-sigv4`: the instructions (headers to add) and the signature.
fn oracle_sign(
    case: &Case,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (aws_sigv4::http_request::SigningInstructions, String) {
    let identity = Credentials::new(
        case.akid.clone(),
        case.secret.clone(),
        case.token.clone(),
        None,
        "oracle",
    )
    .into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(&case.region)
        .name(SERVICE)
        .time(case.now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, signature) = aws_sigv4::http_request::sign(signable, &params)
        .unwrap()
        .into_parts();
    (instructions, signature)
}

fn case_strategy(unsigned_headers_too: bool) -> impl Strategy<Value = Case> {
    let operation = prop_oneof![
        Just("Encrypt"),
        Just("Decrypt"),
        Just("GenerateDataKey"),
        Just("DescribeKey"),
        Just("ListAliases"),
    ];
    // Extra headers: random names (distinct once lower-cased, never a name either signer
    // treats specially) and values of visible ASCII with runs of spaces.
    let extra = proptest::collection::btree_map("x-lb-[a-z0-9-]{1,12}", "[ -~]{0,24}", 0..4);
    (
        "AKID[A-Z0-9]{12,16}",
        "[A-Za-z0-9/+]{40}",
        proptest::option::of("[A-Za-z0-9/+=]{16,64}"),
        (
            prop_oneof![Just("us"), Just("eu"), Just("ap"), Just("sa")],
            prop_oneof![Just("east"), Just("west"), Just("central"), Just("south")],
            1u8..4,
        ),
        // 2001 to 2099.
        978_307_200u64..4_102_444_800,
        prop_oneof![
            3 => Just(String::from("/")),
            1 => "(/[a-zA-Z0-9._~-]{1,8}|/%20x|/a%3Db){1,3}/?",
        ],
        proptest::option::of("[a-z]{1,4}=[a-zA-Z0-9%]{0,6}"),
        operation,
        extra,
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(
            move |(akid, secret, token, (r1, r2, r3), time, path, query, op, extra, ua, body)| {
                let mut headers = vec![
                    (
                        "content-type".to_owned(),
                        "application/x-amz-json-1.1".to_owned(),
                    ),
                    ("x-amz-target".to_owned(), format!("TrentService.{op}")),
                ];
                headers.extend(extra);
                if ua {
                    // Signed by neither signer.
                    headers.push(("user-agent".into(), "aws-cli/2.15 md/oracle".into()));
                }
                if unsigned_headers_too {
                    // The oracle signs it; Lockbox's signer does not, but its verifier takes
                    // whatever SignedHeaders names.
                    headers.push(("content-length".into(), body.len().to_string()));
                }
                // `%` only as the start of a valid escape.
                let query = query.filter(|q| !q.contains('%')).map(|q| format!("?{q}"));
                Case {
                    akid,
                    secret,
                    token,
                    region: format!("{r1}-{r2}-{r3}"),
                    time,
                    path_and_query: format!("{path}{}", query.unwrap_or_default()),
                    headers,
                    body,
                }
            },
        )
}

/// `YYYYMMDDTHHMMSSZ` for seconds since the epoch.
fn amz_date(secs: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap()).unwrap();
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

fn authorization(p: &http::request::Parts) -> String {
    p.headers[AUTHORIZATION].to_str().unwrap().to_owned()
}

fn with_authorization(p: &http::request::Parts, value: &str) -> http::request::Parts {
    let mut q = p.clone();
    q.headers
        .insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
    q
}

/// The error's status, code and message, for exact comparison.
fn error(r: Result<String, WireError>) -> (u16, String, String) {
    let e = r.unwrap_err();
    (e.status, e.code.into_owned(), e.message)
}

fn mismatch() -> (u16, String, String) {
    (
        400,
        "InvalidSignatureException".into(),
        SIGNATURE_MISMATCH_MESSAGE.into(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn requests_the_oracle_signs_verify_and_every_mutation_fails_exactly(
        case in case_strategy(true),
        flip_at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let p = case.signed_by_oracle();
        let auth = authorization(&p);
        prop_assert_eq!(case.verify(&p, &case.body), Ok(case.akid.clone()));
        if case.token.is_some() {
            prop_assert!(auth.contains("x-amz-security-token"), "{}", auth);
        }

        // The method.
        let mut q = p.clone();
        q.method = http::Method::PUT;
        prop_assert_eq!(error(case.verify(&q, &case.body)), mismatch());

        // The path: one more segment at its end, which no dot segment before it can undo
        // (a segment inserted at the front could be: `/lb/..` is `/`).
        let mut q = p.clone();
        let (path, query) = case
            .path_and_query
            .split_at(case.path_and_query.find('?').unwrap_or(case.path_and_query.len()));
        let path_and_query = format!("{}/lb{query}", path.trim_end_matches('/'));
        q.uri = path_and_query.parse().unwrap();
        prop_assert_eq!(error(case.verify(&q, &case.body)), mismatch());

        // A signed header's value.
        let mut q = p.clone();
        q.headers.insert("x-amz-target", "TrentService.ScheduleKeyDeletion".parse().unwrap());
        prop_assert_eq!(error(case.verify(&q, &case.body)), mismatch());

        // A signed header's name: the request no longer carries the header it signed...
        let mut q = p.clone();
        let target = q.headers.remove("x-amz-target").unwrap();
        q.headers.insert("x-amz-targets", target);
        prop_assert_eq!(
            error(case.verify(&q, &case.body)),
            (
                400,
                "IncompleteSignatureException".into(),
                "SignedHeaders names 'x-amz-target', which the request does not carry.".into()
            )
        );
        // ... or SignedHeaders leaves one out.
        let q = with_authorization(&p, &auth.replacen("content-type;", "", 1));
        prop_assert_eq!(error(case.verify(&q, &case.body)), mismatch());

        // The body: one byte changed, or one more.
        let mut body = case.body.clone();
        if body.is_empty() {
            body.push(byte);
        } else {
            let i = flip_at.index(body.len());
            body[i] ^= byte.max(1);
        }
        prop_assert_eq!(error(case.verify(&p, &body)), mismatch());

        // The date, one second later (still in the clock window; same day in the scope unless
        // it crosses midnight, which is its own error).
        let date = p.headers["x-amz-date"].to_str().unwrap().to_owned();
        let mut q = p.clone();
        let later_text = amz_date(case.time + 1);
        q.headers.insert("x-amz-date", later_text.parse().unwrap());
        let expected = if later_text[..8] == date[..8] {
            mismatch()
        } else {
            (
                400,
                "InvalidSignatureException".into(),
                format!(
                    "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of \
                     date from HTTP: '{}' != '{}', from '{later_text}'.",
                    &date[..8],
                    &later_text[..8]
                ),
            )
        };
        prop_assert_eq!(error(case.verify(&q, &case.body)), expected);

        // The region and the service in the credential scope.
        let scope_region = format!("/{}/{SERVICE}/", case.region);
        let q = with_authorization(&p, &auth.replacen(&scope_region, &format!("/xx-test-9/{SERVICE}/"), 1));
        prop_assert_eq!(
            error(case.verify(&q, &case.body)),
            (400, "InvalidSignatureException".into(), "Credential should be scoped to a valid region.".into())
        );
        let q = with_authorization(&p, &auth.replacen(&scope_region, &format!("/{}/kmsx/", case.region), 1));
        prop_assert_eq!(
            error(case.verify(&q, &case.body)),
            (
                400,
                "InvalidSignatureException".into(),
                format!("Credential should be scoped to correct service: '{SERVICE}'.")
            )
        );

        // The access key: one the server does not know, or another one it knows.
        let credential = format!("Credential={}/", case.akid);
        let q = with_authorization(&p, &auth.replacen(&credential, "Credential=AKIDUNKNOWN/", 1));
        prop_assert_eq!(
            error(case.verify(&q, &case.body)),
            (400, "UnrecognizedClientException".into(), UNRECOGNIZED_CLIENT_MESSAGE.into())
        );
        let q = with_authorization(&p, &auth.replacen(&credential, &format!("Credential={OTHER_AKID}/"), 1));
        prop_assert_eq!(error(case.verify(&q, &case.body)), mismatch());

        // One hex digit of the signature.
        let (head, signature) = auth.rsplit_once("Signature=").unwrap();
        let i = flip_at.index(signature.len());
        let mut digits = signature.as_bytes().to_vec();
        digits[i] = if digits[i] == b'0' { b'f' } else { b'0' };
        let q = with_authorization(&p, &format!("{head}Signature={}", String::from_utf8(digits).unwrap()));
        prop_assert_eq!(error(case.verify(&q, &case.body)), mismatch());

        // The session token, when there is one (it is a signed header).
        if let Some(token) = &case.token {
            let mut q = p.clone();
            q.headers.insert("x-amz-security-token", format!("{token}x").parse().unwrap());
            prop_assert_eq!(error(case.verify(&q, &case.body)), mismatch());
        }
    }

    #[test]
    fn requests_lockbox_signs_carry_the_oracles_authorization(case in case_strategy(false)) {
        let uri: Uri = format!("https://{}{}", case.host(), case.path_and_query).parse().unwrap();
        let mut headers = HeaderMap::new();
        for (k, v) in &case.headers {
            headers.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        if let Some(token) = &case.token {
            headers.insert("x-amz-security-token", token.parse().unwrap());
        }
        lockbox_client::sigv4::sign(
            "POST",
            &uri,
            &mut headers,
            &case.body,
            &case.akid,
            &SecretKey::new(case.secret.clone()),
            &case.region,
            SERVICE,
            case.now(),
        )
        .unwrap();

        // The oracle signs the same request: Host (which `sign` added) and the caller's
        // headers; it adds X-Amz-Date and the session token itself.
        let oracle_headers: Vec<(String, String)> = headers
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "authorization" | "x-amz-date" | "x-amz-security-token"))
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect();
        let (instructions, signature) =
            oracle_sign(&case, "POST", &uri.to_string(), &oracle_headers, &case.body);
        let expected: Vec<(String, String)> = instructions
            .headers()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
            .collect();
        let find = |name: &str| expected.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        prop_assert_eq!(
            headers[AUTHORIZATION].to_str().unwrap().to_owned(),
            find("authorization").unwrap()
        );
        let suffix = format!("Signature={signature}");
        prop_assert!(headers[AUTHORIZATION].to_str().unwrap().ends_with(&suffix));
        prop_assert_eq!(headers["x-amz-date"].to_str().unwrap().to_owned(), find("x-amz-date").unwrap());
    }
}
