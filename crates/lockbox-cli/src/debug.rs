//! `--debug`: each request to an endpoint and its response on standard error, as the AWS
//! CLI's `--debug` shows them, with nothing secret: plaintexts, private keys, shared secrets
//! and signatures in bodies are replaced by their length (`output_format::redacted`), the
//! Authorization header is shown without its signature, and the secret access key is never
//! shown at all.

use std::io::Write;
use std::time::Instant;

use lockbox::api::KmsError;
use lockbox_client::Transport;

use crate::output_format::redacted;

/// A transport that reports each exchange on standard error before returning it.
pub(crate) struct DebugTransport<T> {
    inner: T,
    endpoint: String,
    region: String,
    access_key_id: String,
}

impl<T: Transport> DebugTransport<T> {
    pub(crate) fn new(inner: T, endpoint: &str, region: &str, access_key_id: &str) -> Self {
        DebugTransport {
            inner,
            endpoint: endpoint.to_owned(),
            region: region.to_owned(),
            access_key_id: access_key_id.to_owned(),
        }
    }
}

/// One line on standard error; a closed stderr is ignored (the exit code still tells).
pub(crate) fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "lockbox debug: {line}");
}

impl<T: Transport> Transport for DebugTransport<T> {
    fn post(&self, operation: &str, body: &[u8]) -> Result<(u16, Vec<u8>), KmsError> {
        say(&format!(
            "request: POST {} X-Amz-Target: TrentService.{operation}; Content-Type: \
             application/x-amz-json-1.1; Authorization: AWS4-HMAC-SHA256 \
             Credential={}/<date>/{}/kms/aws4_request, Signature=<redacted>",
            self.endpoint, self.access_key_id, self.region
        ));
        say(&format!("request body: {}", redacted(body)));
        let started = Instant::now();
        let result = self.inner.post(operation, body);
        let ms = started.elapsed().as_millis();
        match &result {
            Ok((status, bytes)) => {
                say(&format!("response: HTTP {status} after {ms} ms"));
                say(&format!("response body: {}", redacted(bytes)));
            }
            Err(e) => say(&format!("no response after {ms} ms: {}", e.message())),
        }
        result
    }
}
