//! Key policy documents, as PutKeyPolicy and CreateKey receive them: any text gives a policy
//! or a MalformedPolicyDocumentException with a message, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockbox_api::ErrorKind;

fuzz_target!(|data: &[u8]| {
    let Ok(document) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = lockbox::fuzzing::parse_policy(document) {
        assert_eq!(e.kind(), ErrorKind::MalformedPolicyDocument, "{e}");
        assert!(!e.message().is_empty());
    }
});
