//! Key references and alias names as callers send them: parse, and print back identically.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockbox_api::{AliasName, KeyRef};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(r) = KeyRef::parse(s) {
        // Key ids print in canonical lowercase; everything else round-trips exactly.
        let printed = r.to_string();
        assert_eq!(printed.to_ascii_lowercase(), s.to_ascii_lowercase());
        assert_eq!(KeyRef::parse(&printed).ok(), Some(r));
    }
    if let Ok(a) = AliasName::parse(s) {
        assert_eq!(a.as_str(), s);
    }
});
