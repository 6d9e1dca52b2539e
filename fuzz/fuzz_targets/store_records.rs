//! The store's record decoders, on any bytes a damaged or hostile data directory could hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockbox_store::{AliasRecord, KeyRecord};

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let (key, value) = data.split_at(16);
    if let Ok(r) = KeyRecord::decode(key, value) {
        assert_eq!(r.id.as_bytes(), key);
    }
    let _ = AliasRecord::decode(b"alias/fuzz", value);
});
