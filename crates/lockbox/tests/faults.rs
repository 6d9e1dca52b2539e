//! Token faults behind the engine's back: it recovers without a restart, and while the token
//! is truly gone, calls fail with a dependency error and write nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Barrier};

use common::{Root, engine, err, kind};
use lockbox::api::*;
use lockbox::token::{Token, TokenError};
use lockbox_token::token_test;

fn pt(b: &[u8]) -> Plaintext {
    Plaintext::copy_from(b)
}

/// Encrypts and decrypts on four threads at once, `rounds` times each.
fn burst(kms: &Arc<Root>, key: KeyId, rounds: usize) {
    let start = Arc::new(Barrier::new(4));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (kms, start) = (kms.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for i in 0..rounds {
                    let msg = format!("{w}/{i}");
                    let blob = kms
                        .encrypt(EncryptRequest::new(key, pt(msg.as_bytes())))
                        .unwrap()
                        .ciphertext_blob;
                    let back = kms.decrypt(DecryptRequest::new(blob)).unwrap();
                    assert_eq!(back.plaintext.expose_secret(), msg.as_bytes());
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a worker failed");
    }
}

type Fault = fn(&Token) -> Result<(), TokenError>;

token_test!(fn the_engine_recovers_from_token_faults_without_a_restart(t) {
    let kms = Arc::new(engine(t)?);
    let key = kms.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    let old = kms.encrypt(EncryptRequest::new(key, pt(b"before the faults")))?.ciphertext_blob;
    let faults: [(&str, Fault); 5] = [
        ("every session closed (which logs out)", Token::inject_close_all_sessions),
        ("logged out, sessions kept", Token::inject_logout),
        ("object handles invalidated", Token::inject_relogin_behind_cache),
        ("module finalized", Token::inject_finalize),
        ("module finalized and initialized again", Token::inject_reinitialize),
    ];
    for (name, inject) in faults {
        // Fill the session pool, then fault with no thread inside the module (SoftHSM
        // 2.6.1 crashes when C_Finalize or C_CloseAllSessions races another call).
        burst(&kms, key, 5);
        let before = kms.token().recoveries();
        inject(kms.token())?;
        // Four threads meet the fault at once; one recovery serves them all.
        burst(&kms, key, 5);
        let after = kms.token().recoveries();
        assert!(after > before, "{name}: no recovery happened");
        assert!(after - before <= 4, "{name}: {} recoveries for one fault", after - before);
        let back = kms.decrypt(DecryptRequest::new(old.clone()))?;
        assert_eq!(back.plaintext.expose_secret(), b"before the faults", "{name}");
        // Creation and rotation (token objects) work too.
        kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key))?;
    }
    assert_eq!(kms.key_objects()?.len(), 6);
    Ok(())
});

token_test!(fn while_the_token_is_gone_calls_fail_with_a_dependency_error_and_write_nothing(t) {
    let kms = engine(t)?;
    let key = kms.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    kms.create_alias(AliasRequest::new(AliasName::parse("alias/k")?, key))?;
    let blob = kms.encrypt(EncryptRequest::new(key, pt(b"kept")))?.ciphertext_blob;
    let metadata = |kms: &Root| {
        (
            kms.describe_key(DescribeKeyRequest::new(key)).unwrap().key_metadata,
            kms.list_keys(ListKeysRequest::new()).unwrap().keys.len(),
            kms.list_key_rotations(ListKeyRotationsRequest::new(key).with_include_key_material(IncludeKeyMaterial::AllKeyMaterial)).unwrap().rotations,
            kms.material_usage(&kms.default_caller("test"), &key.into()).unwrap(),
        )
    };
    let before = metadata(&kms);

    // The token disappears: the module is reset and its token directory is gone.
    let tokens = t.dir().join("softhsm/tokens");
    let away = t.dir().join("softhsm/tokens-away");
    kms.token().inject_finalize()?;
    std::fs::rename(&tokens, &away)?;
    std::fs::create_dir(&tokens)?;
    let token_errors = lockbox::token_error_count();
    for round in 0..3 {
        let errors = [
            err(kms.encrypt(EncryptRequest::new(key, pt(b"x")))),
            err(kms.decrypt(DecryptRequest::new(blob.clone()))),
            err(kms.generate_data_key(GenerateDataKeyRequest::new(key, DataKeySpec::Aes256))),
            err(kms.generate_random(GenerateRandomRequest::new(NumberOfBytes::new(8)?))),
            err(kms.create_key(CreateKeyRequest::new())),
            err(kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key))),
        ];
        for e in errors {
            assert_eq!(e.kind(), ErrorKind::DependencyTimeout, "round {round}: {e}");
            assert_eq!(e.message(), "The hardware security module is not reachable; try again later.");
        }
        assert_eq!(kind(kms.reconcile()), ErrorKind::DependencyTimeout);
    }
    assert_eq!(metadata(&kms), before, "a failed call changed the metadata");
    // Each failed call is a token error for the server's metrics (/metrics).
    assert!(
        lockbox::token_error_count() >= token_errors + 18,
        "token errors counted: {} -> {}",
        token_errors,
        lockbox::token_error_count()
    );

    // It comes back (SoftHSM reads its token directory only in C_Initialize, so the module
    // is reset again, as an HSM would be): the same engine serves again.
    std::fs::remove_dir(&tokens)?;
    std::fs::rename(&away, &tokens)?;
    kms.token().inject_finalize()?;
    let back = kms.decrypt(DecryptRequest::new(blob))?;
    assert_eq!(back.plaintext.expose_secret(), b"kept");
    kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key))?;
    let r = kms.reconcile()?;
    assert_eq!((r.objects, r.keys, r.missing.len(), r.orphans.len()), (2, 1, 0, 0));
    Ok(())
});
