//! lockbox.toml: any text gives a configuration or a one-line error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = lockbox::Config::parse(std::path::Path::new("/data"), text) {
        assert_eq!(e.lines().count(), 1, "{e}");
    }
});
