//! The JSON request decoder of every operation: the first byte picks the operation, the rest is
//! the body. Any body is decoded into a request (the Kms below then refuses it) or refused with
//! a 400 error naming what is wrong, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockbox_api::{ErrorKind, Kms, KmsError, Request, Response};
use lockbox_server::wire::{Operation, serve};

/// The message of every call that got past decoding.
const DECODED: &str = "fuzz: decoded";

/// A Kms that fails every call: only the decoder runs.
struct Refuse;

impl Kms for Refuse {
    fn call(&self, _request: Request) -> Result<Response, KmsError> {
        Err(KmsError::new(ErrorKind::NotFound, DECODED))
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let op = Operation::ALL[usize::from(pick) % Operation::ALL.len()];
    let e = serve(&Refuse, op, body).expect_err("the Kms refuses every call");
    if e.message == DECODED {
        return;
    }
    // Refused while decoding: a client error in AWS's vocabulary (the protocol's
    // Serialization/Validation/UnsupportedOperation, or a member parser's own kind, e.g.
    // NotFoundException for a malformed key id), never a server error.
    assert_eq!(e.status, 400, "{op:?}: {} {}", e.code, e.message);
    assert!(e.code.ends_with("Exception"), "{op:?}: {}", e.code);
    assert!(!e.message.is_empty(), "{op:?}: {}", e.code);
});
