//! The JSON request decoder of every operation (`lockbox_api::Request::decode`, which the
//! server's `wire::serve` runs first): the first byte picks the operation, the rest is the
//! body. Any body is decoded into a request or refused with a 400 error naming what is wrong,
//! never a panic; and a request that decodes writes a body (`Request::encode`, the client's
//! side of the same shape) that decodes again to the same body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockbox_api::{Operation, Request};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let op = Operation::ALL[usize::from(pick) % Operation::ALL.len()];
    match Request::decode(op, body) {
        Ok(request) => {
            assert_eq!(request.operation(), op);
            // The shape's two directions agree on whatever got through.
            let written = request.encode();
            let again = Request::decode(op, &written)
                .unwrap_or_else(|e| panic!("{op:?}: its own body refused: {e}"));
            assert_eq!(&again.encode()[..], &written[..], "{op:?}");
        }
        Err(e) => {
            // Refused while decoding: a client error in AWS's vocabulary (the protocol's
            // Serialization/Validation/UnsupportedOperation, or a member parser's own kind,
            // e.g. NotFoundException for a malformed key id), never a server error.
            assert_eq!(e.status, 400, "{op:?}: {} {}", e.code, e.message);
            assert!(e.code.ends_with("Exception"), "{op:?}: {}", e.code);
            assert!(!e.message.is_empty(), "{op:?}: {}", e.code);
        }
    }
});
