//! STS `GetCallerIdentity` on the KMS endpoint, since tools ask it first to learn the
//! account (Terraform's AWS provider, `aws sts get-caller-identity`, boto3 session helpers).
//!
//! AWS STS speaks the query protocol: `POST /` with a form-encoded body
//! (`Action=GetCallerIdentity&Version=2011-06-15`), `Content-Type:
//! application/x-www-form-urlencoded`, signed with SigV4 for service `sts`; it answers XML
//! (`text/xml`), a `GetCallerIdentityResponse` or an `ErrorResponse`. The server sends a
//! `POST /` of that content type here instead of to KMS's JSON protocol.
//!
//! The answer names the signing credential's principal: its ARN, its account, and a
//! `UserId`. AWS's `UserId` is IAM's unique id (`AIDA...` for a user, `AROA...:session` for
//! an assumed role, the account id for the root); Lockbox has no IAM, so for users and roles
//! it is derived from the ARN (SHA-256, in IAM's alphabet and length), stable for a
//! principal and distinct between principals, the account id for the root as in AWS.
//!
//! Nothing here calls the engine: the call is not in the audit log (a refused one is, as a
//! refusal, like every request refused before the engine), and it is not throttled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use http::header;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::Request;
use hyper::body::Incoming;
use lockbox_api::{Principal, PrincipalKind};
use sha2::{Digest, Sha256};

use super::{Answer, Frontend, Shared};
use crate::error::WireError;

/// The content type of a query-protocol request.
const FORM: &str = "application/x-www-form-urlencoded";
/// The content type of every STS answer.
pub(super) const XML: &str = "text/xml";
/// STS's API version, the only one there is.
const VERSION: &str = "2011-06-15";
/// The XML namespace of STS's answers.
const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// The largest STS request body read: GetCallerIdentity's is some 43 bytes.
const MAX_BODY: usize = 16 * 1024;

/// Whether `req` is a query-protocol (STS) request: form-encoded.
pub(super) fn is_query<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(FORM))
}

/// `POST /` of a form: an STS request.
pub(super) async fn api<F: Frontend>(
    req: Request<Incoming>,
    _peer: SocketAddr,
    shared: &Arc<Shared<F>>,
) -> Answer {
    let request_id = uuid::Uuid::new_v4().to_string();
    let answer = |a: Answer| Answer {
        request_id: Some(request_id.clone()),
        operation: Some("GetCallerIdentity"),
        content_type: XML,
        ..a
    };
    let Ok(_permit) = shared.in_flight.clone().try_acquire_owned() else {
        return answer(error(
            WireError::new(503, "ServiceUnavailable", "Service is unavailable"),
            &request_id,
        ));
    };
    let (parts, body) = req.into_parts();
    let limit = MAX_BODY.min(shared.config.max_body_bytes);
    let read = tokio::time::timeout(
        shared.config.body_read_timeout(),
        Limited::new(body, limit).collect(),
    )
    .await;
    let body = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            let e = WireError::new(
                413,
                "RequestEntityTooLarge",
                format!("the request body is larger than {limit} bytes"),
            );
            return answer(error(e, &request_id)).closing();
        }
        Ok(Err(_)) | Err(_) => {
            let e = WireError::new(400, "MalformedInput", "the request body could not be read");
            return answer(error(e, &request_id)).closing();
        }
    };
    let principal =
        match shared
            .frontend
            .authenticate_sts(&parts, &body, &shared.region, SystemTime::now())
        {
            Ok(p) => p,
            Err(e) => return answer(error(sts_error(e), &request_id)),
        };
    let with_principal = |a: Answer| Answer {
        principal: Some(principal.arn().to_owned()),
        ..answer(a)
    };
    if let Err(e) = check_action(&body) {
        return with_principal(error(e, &request_id));
    }
    tracing::debug!(principal = %principal.arn(), "GetCallerIdentity");
    with_principal(Answer::ok(
        identity_xml(&principal, &request_id).into_bytes(),
    ))
}

/// Checks that the form asks for `GetCallerIdentity` of version 2011-06-15.
fn check_action(body: &[u8]) -> Result<(), WireError> {
    let mut action = None;
    let mut version = None;
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "Action" => action = Some(v.into_owned()),
            "Version" => version = Some(v.into_owned()),
            _ => {}
        }
    }
    let Some(action) = action else {
        return Err(WireError::new(
            400,
            "MissingAction",
            "The request must contain the parameter Action.",
        ));
    };
    let version = version.unwrap_or_default();
    if action != "GetCallerIdentity" || version != VERSION {
        return Err(WireError::new(
            400,
            "InvalidAction",
            format!(
                "Could not find operation {} for version {}",
                short(&action),
                short(&version)
            ),
        ));
    }
    Ok(())
}

fn short(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A SigV4 refusal in STS's terms: STS names its authentication errors without KMS's
/// `Exception` suffix, and answers 403 for a credential it does not know or a signature
/// that does not match.
fn sts_error(e: WireError) -> WireError {
    match e.code.as_ref() {
        "UnrecognizedClientException" => WireError::new(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ),
        "InvalidSignatureException" => WireError::new(403, "SignatureDoesNotMatch", e.message),
        "IncompleteSignatureException" => WireError::new(400, "IncompleteSignature", e.message),
        "MissingAuthenticationTokenException" => {
            WireError::new(403, "MissingAuthenticationToken", e.message)
        }
        _ => e,
    }
}

/// An answer carrying STS's XML error document for `e`.
fn error(e: WireError, request_id: &str) -> Answer {
    // AWS's query protocol: `Sender` for the caller's faults, `Receiver` for the service's.
    let kind = if e.status >= 500 {
        "Receiver"
    } else {
        "Sender"
    };
    let body = format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>{kind}</Type>\n    \
         <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
         <RequestId>{}</RequestId>\n</ErrorResponse>\n",
        escape(&e.code),
        escape(&e.message),
        escape(request_id)
    );
    Answer {
        body: body.into_bytes(),
        ..Answer::error(e)
    }
}

/// GetCallerIdentity's answer for `p`.
fn identity_xml(p: &Principal, request_id: &str) -> String {
    format!(
        "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\">\n  <GetCallerIdentityResult>\n    \
         <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n  \
         </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  \
         </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
        escape(p.arn()),
        escape(&user_id(p)),
        escape(p.account()),
        escape(request_id)
    )
}

/// The `UserId` of `p`: the account id for the root (as AWS answers); for a user `AIDA` and
/// for a role `AROA` followed by 17 characters of IAM's alphabet derived from the ARN; for
/// an assumed role, the role's id, a colon and the session name (as AWS answers).
pub(crate) fn user_id(p: &Principal) -> String {
    let derived = |prefix: &str, of: &str| {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let digest = Sha256::digest(of.as_bytes());
        let mut bits = digest
            .iter()
            .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1));
        let mut id = prefix.to_owned();
        for _ in 0..17 {
            let v = (0..5).fold(0usize, |acc, _| {
                (acc << 1) | usize::from(bits.next().unwrap_or(0))
            });
            id.push(char::from(ALPHABET[v]));
        }
        id
    };
    match p.kind() {
        PrincipalKind::Root => p.account().to_owned(),
        PrincipalKind::User => derived("AIDA", p.arn()),
        PrincipalKind::Role => derived("AROA", p.arn()),
        PrincipalKind::AssumedRole => {
            // arn:<partition>:sts::<account>:assumed-role/<role>/<session>
            let rest = p.arn().rsplit_once(":assumed-role/").map_or("", |(_, r)| r);
            let (role, session) = rest.split_once('/').unwrap_or((rest, ""));
            let role_arn = format!("arn:{}:iam::{}:role/{role}", p.partition(), p.account());
            format!("{}:{session}", derived("AROA", &role_arn))
        }
    }
}

/// `s` with XML's five special characters escaped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(arn: &str) -> Principal {
        Principal::parse(arn).unwrap_or_else(|e| panic!("{arn}: {e}"))
    }

    #[test]
    fn user_ids_have_iams_shape_and_the_roots_is_its_account() {
        assert_eq!(
            user_id(&p("arn:aws:iam::111122223333:root")),
            "111122223333"
        );
        let alice = user_id(&p("arn:aws:iam::111122223333:user/alice"));
        let bob = user_id(&p("arn:aws:iam::111122223333:user/bob"));
        for id in [&alice, &bob] {
            assert!(id.starts_with("AIDA") && id.len() == 21, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
            );
        }
        assert_ne!(alice, bob);
        assert_eq!(alice, user_id(&p("arn:aws:iam::111122223333:user/alice")));
        let role = user_id(&p("arn:aws:iam::111122223333:role/app"));
        assert!(role.starts_with("AROA") && role.len() == 21, "{role}");
        // An assumed role's id is its role's, a colon, and the session.
        assert_eq!(
            user_id(&p("arn:aws:sts::111122223333:assumed-role/app/build-7")),
            format!("{role}:build-7")
        );
    }

    #[test]
    fn the_action_must_be_get_caller_identity_of_2011_06_15() {
        assert!(check_action(b"Action=GetCallerIdentity&Version=2011-06-15").is_ok());
        let e = check_action(b"Version=2011-06-15").unwrap_err();
        assert_eq!((e.status, e.code.as_ref()), (400, "MissingAction"));
        let e = check_action(b"Action=AssumeRole&Version=2011-06-15").unwrap_err();
        assert_eq!(e.code.as_ref(), "InvalidAction");
        assert_eq!(
            e.message,
            "Could not find operation AssumeRole for version 2011-06-15"
        );
        let e = check_action(b"Action=GetCallerIdentity").unwrap_err();
        assert_eq!(
            e.message,
            "Could not find operation GetCallerIdentity for version "
        );
    }

    #[test]
    fn errors_are_stss_xml_document_with_its_codes() {
        let e = sts_error(WireError::new(400, "UnrecognizedClientException", "x"));
        assert_eq!((e.status, e.code.as_ref()), (403, "InvalidClientTokenId"));
        let a = error(
            WireError::new(400, "InvalidAction", "Could not find operation <A&B>"),
            "rid",
        );
        assert_eq!(a.status, 400);
        assert_eq!(
            String::from_utf8(a.body).unwrap(),
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    \
             <Type>Sender</Type>\n    <Code>InvalidAction</Code>\n    <Message>Could not find \
             operation &lt;A&amp;B&gt;</Message>\n  </Error>\n  <RequestId>rid</RequestId>\n\
             </ErrorResponse>\n"
        );
    }
}
