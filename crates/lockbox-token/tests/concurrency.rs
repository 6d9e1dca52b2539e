//! SoftHSM 2.6.1 fails a C_GenerateKey (CKR_GENERAL_ERROR, "Some horrible, unrecoverable
//! error") that a search of the token in another thread of the same process overlaps, also
//! when the two are different `Token`s (two engines on one token in one process). Since
//! reconciliation lists the token in the background while calls create keys (issue 18), the
//! `Token` runs searches and object changes one at a time in the process. Without that,
//! this test failed in every run. And a listing reading a mark's label while another thread
//! rewrites it can see the label grow between sizing and reading (CKR_BUFFER_TOO_SMALL):
//! such a read is made again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};

use lockbox_token::{SecretKeyTemplate, token_test};

token_test!(fn creating_writing_and_searching_at_once_all_succeed(t) {
    let maker = t.open()?;
    let lister = t.open()?;
    let mark = maker.create_mark("audit-mark", b"x")?;
    let stop = AtomicBool::new(false);
    let errors = std::thread::scope(|s| {
        // Listings (a search and attribute reads over every object), from another Token.
        let listing = s.spawn(|| {
            let mut errors = Vec::new();
            let mut lists = 0;
            while !stop.load(Ordering::Relaxed) || lists == 0 {
                match lister.list_objects() {
                    Ok(_) => lists += 1,
                    Err(e) => errors.push(format!("list: {e}")),
                }
            }
            errors
        });
        let mut errors = Vec::new();
        for i in 0..200u32 {
            match maker.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), &format!("k{i}/1")) {
                Ok(id) => {
                    // The other Token finds the new key by a search of its own, and uses it.
                    let mut out = [0u8; 64];
                    if let Err(e) = lister.encrypt_aes_gcm(&id, b"", b"data", &mut out) {
                        errors.push(format!("encrypt: {e}"));
                    }
                }
                Err(e) => errors.push(format!("create: {e}")),
            }
            if i % 10 == 0
                && let Err(e) = lister.write_mark(&mark, &i.to_be_bytes())
            {
                errors.push(format!("mark: {e}"));
            }
        }
        stop.store(true, Ordering::Relaxed);
        errors.extend(listing.join().unwrap());
        errors
    });
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(maker.read_mark(&mark)?, 190u32.to_be_bytes());
    assert_eq!(t.open()?.list_objects()?.len(), 200);
    Ok(())
});
