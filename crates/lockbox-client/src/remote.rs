//! A [`lockbox_api::Kms`] that calls a remote `lockbox serve` (or any AWS KMS endpoint).

use lockbox_api::{ErrorKind, Kms, KmsError, Request, Response};
use zeroize::Zeroizing;

/// How a request reaches the server: `post` sends one operation's JSON body and returns the
/// HTTP status and response body. The HTTP transport signs with SigV4; tests can plug in an
/// in-process one.
pub trait Transport: Send + Sync {
    /// POSTs `body` to the endpoint with `X-Amz-Target: TrentService.<operation>` and
    /// `Content-Type: application/x-amz-json-1.1`. An `Err` is a failure to get any
    /// response (connection refused, TLS, timeout), as a `KmsError` of kind
    /// `DependencyTimeout` or `KmsInternal` with a message naming the endpoint.
    fn post(&self, operation: &str, body: &[u8]) -> Result<(u16, Vec<u8>), KmsError>;
}

/// A [`Kms`] whose every call is one request to a server, through a [`Transport`].
///
/// Requests and responses are encoded by [`lockbox_api::wire`] with the AWS KMS member
/// names, so the server may be `lockbox serve` or any endpoint that speaks AWS KMS's JSON 1.1
/// protocol. An error response becomes the [`KmsError`] its `__type` names (see
/// [`error_from_response`]).
pub struct RemoteKms {
    transport: Box<dyn Transport>,
}

impl RemoteKms {
    /// A client that sends its requests through `transport`.
    pub fn new(transport: impl Transport + 'static) -> Self {
        RemoteKms {
            transport: Box::new(transport),
        }
    }
}

/// True for an error the server answered because of throttling (`ThrottlingException` and
/// kin), which is worth retrying after a pause. `lockbox_api::ErrorKind` has no throttling
/// kind: these arrive as `DependencyTimeout` with the service's code in [`KmsError::code`].
pub fn is_throttling(e: &KmsError) -> bool {
    e.kind() == ErrorKind::DependencyTimeout
        && [
            "ThrottlingException",
            "Throttling",
            "TooManyRequestsException",
            "RequestLimitExceeded",
        ]
        .contains(&e.code())
}

impl Kms for RemoteKms {
    /// One request: the body [`Request::encode`] writes (zeroized once sent), the answer
    /// [`Response::decode`] reads, or the error the response stands for.
    fn call(&self, request: Request) -> Result<Response, KmsError> {
        let op = request.operation();
        let body = request.encode();
        let (status, response) = self.transport.post(op.name(), &body)?;
        drop(body);
        // Some answers carry plaintext: the body is zeroized when dropped.
        let response = Zeroizing::new(response);
        if !(200..300).contains(&status) {
            return Err(error_from_response(status, &response));
        }
        Response::decode(op, &response)
    }
}

/// The [`KmsError`] an error response stands for: `{"__type", "message"}` with any status.
///
/// A code Lockbox knows becomes its [`ErrorKind`]. A code it does not know is kept as the
/// error's [`KmsError::code`] (so the CLI prints `InvalidSignatureException` as the AWS CLI
/// does, and [`is_throttling`] can tell); its kind is the nearest there is:
/// `DependencyTimeout` for throttling and unavailability (the codes SDKs retry),
/// `AccessDenied` for authentication failures, `Validation` for malformed requests,
/// `UnsupportedOperation` for unknown operations, `KmsInternal` otherwise.
pub fn error_from_response(status: u16, body: &[u8]) -> KmsError {
    let (code, message) = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(m)) => {
            let text = |k: &str| m.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            (
                text("__type")
                    .or_else(|| text("code"))
                    .or_else(|| text("Code")),
                text("message")
                    .or_else(|| text("Message"))
                    .unwrap_or_default(),
            )
        }
        _ => (None, String::new()),
    };
    let Some(code) = code else {
        let kind = if status == 429 || status == 503 || status == 504 {
            ErrorKind::DependencyTimeout
        } else {
            ErrorKind::KmsInternal
        };
        return KmsError::new(
            kind,
            format!("HTTP {status} from the server with no AWS error in the body"),
        );
    };
    let code = bare_code(&code);
    if let Some(kind) = ErrorKind::ALL.iter().copied().find(|k| k.name() == code) {
        return KmsError::new(kind, message);
    }
    let kind = match code {
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "RequestTimeout"
        | "RequestTimeoutException" => ErrorKind::DependencyTimeout,
        "InvalidSignatureException"
        | "IncompleteSignatureException"
        | "MissingAuthenticationTokenException"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "InvalidClientTokenId"
        | "ExpiredTokenException" => ErrorKind::AccessDenied,
        "SerializationException"
        | "ValidationError"
        | "InvalidParameterValue"
        | "MalformedQueryString" => ErrorKind::Validation,
        "UnknownOperationException" => ErrorKind::UnsupportedOperation,
        _ if status >= 500 => ErrorKind::DependencyTimeout,
        _ => ErrorKind::KmsInternal,
    };
    KmsError::with_code(kind, code, message)
}

/// `com.amazonaws.kms#NotFoundException:http://...` -> `NotFoundException`.
fn bare_code(code: &str) -> &str {
    let code = code.rsplit('#').next().unwrap_or(code);
    code.split(':').next().unwrap_or(code)
}
