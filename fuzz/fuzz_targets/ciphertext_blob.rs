//! The ciphertext blob parser: total, bounded, and exact about what it hands back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockbox::blob::{HEADER_LEN, IV_LEN, MAX_LEN, MIN_LEN, TAG_LEN, parse};

fuzz_target!(|data: &[u8]| {
    if let Some(b) = parse(data) {
        assert!((MIN_LEN..=MAX_LEN).contains(&data.len()));
        assert_eq!(b.header, &data[..HEADER_LEN]);
        assert_eq!(&b.iv[..], &data[HEADER_LEN..HEADER_LEN + IV_LEN]);
        assert_eq!(b.sealed, &data[HEADER_LEN + IV_LEN..]);
        assert!(b.sealed.len() > TAG_LEN);
    }
});
