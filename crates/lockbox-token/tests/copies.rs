//! Session-object copies of CMK material (`session_copies`), against SoftHSM 2.6.1: when a
//! copy is made, what it is, when it goes, and what a holder of the PIN can and cannot do
//! with a copyable key (docs/SECURITY.md, decision 0036).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::misc::KeyDerivationStringData;
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass};
use lockbox_token::testing::{TestToken, cryptoki};
use lockbox_token::{
    GCM_IV_LEN, HmacDigest, SecretKeyTemplate, Token, TokenError, ValueAccess, token_test,
};

fn open(t: &TestToken, copies: bool, max: usize) -> Result<Token, TokenError> {
    let mut config = t.config();
    config.session_copies = copies;
    config.max_session_copies = max;
    Token::open(&config)
}

fn aes() -> SecretKeyTemplate {
    SecretKeyTemplate::aes_256_encrypt_decrypt()
}

fn seal(token: &Token, key: &lockbox_token::ObjectId, pt: &[u8]) -> ([u8; GCM_IV_LEN], Vec<u8>) {
    let mut out = vec![0u8; pt.len() + 16];
    let sealed = token.encrypt_aes_gcm(key, b"aad", pt, &mut out).unwrap();
    (sealed.iv, out)
}

fn open_blob(
    token: &Token,
    key: &lockbox_token::ObjectId,
    iv: &[u8; GCM_IV_LEN],
    ct: &[u8],
) -> Result<Vec<u8>, TokenError> {
    let mut out = vec![0u8; ct.len()];
    let n = token.decrypt_aes_gcm(key, iv, b"aad", ct, &mut out)?;
    out.truncate(n);
    Ok(out)
}

fn rv(e: &CkError) -> Option<RvError> {
    match e {
        CkError::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

token_test!(fn a_copy_is_made_on_the_second_use_and_is_sensitive_and_interoperable(t) {
    let token = open(t, true, 16)?;
    let key = token.generate_key(&aes(), "k/1")?;
    let report = token.inspect(&key)?;
    assert!(report.copyable && report.modifiable, "{report:?}");
    assert!(report.token && report.sensitive && !report.extractable && report.never_extractable);
    assert_eq!(report.value, ValueAccess::Sensitive);

    // First use: the token object (no copy yet), and its ciphertext.
    let (iv1, ct1) = seal(&token, &key, b"made with the token object");
    assert!(!token.has_session_copy(&key));
    assert_eq!(token.count_session_objects(&key)?, 0);
    // Second use makes the copy, and decrypts the token object's ciphertext.
    assert_eq!(open_blob(&token, &key, &iv1, &ct1)?, b"made with the token object");
    assert!(token.has_session_copy(&key));
    assert_eq!(token.session_copies_made(), 1);
    assert_eq!(token.count_session_objects(&key)?, 1);
    // Made with the copy, opened by the token object (through a session of its own).
    let (iv2, ct2) = seal(&token, &key, b"made with the copy");
    let raw = t.raw_session()?;
    let object = raw.find_objects(&[Attribute::Token(true), Attribute::Id(key.as_bytes().to_vec())])?;
    assert_eq!(object.len(), 1);
    let mut iv = iv2;
    let plain = raw.decrypt(
        &Mechanism::AesGcm(cryptoki::mechanism::aead::GcmParams::new(&mut iv, b"aad", 128.into())?),
        object[0],
        &ct2,
    )?;
    assert_eq!(plain, b"made with the copy");

    // The copy, as the token describes it: a private session object, sensitive, never
    // extractable, not modifiable; CKA_VALUE refused. (SoftHSM keeps CKA_COPYABLE as the
    // original's and refuses a copy that says it again or changes it.)
    let copy = raw.find_objects(&[Attribute::Token(false), Attribute::Id(key.as_bytes().to_vec())])?;
    assert_eq!(copy.len(), 1, "the copy is visible to every session of the process");
    let attrs = raw.get_attributes(copy[0], &[
        AttributeType::Token,
        AttributeType::Sensitive,
        AttributeType::Extractable,
        AttributeType::NeverExtractable,
        AttributeType::Modifiable,
        AttributeType::Private,
    ])?;
    assert_eq!(attrs, vec![
        Attribute::Token(false),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::NeverExtractable(true),
        Attribute::Modifiable(false),
        Attribute::Private(true),
    ]);
    assert!(matches!(
        raw.get_attribute_info(copy[0], &[AttributeType::Value])?.as_slice(),
        [AttributeInfo::Sensitive]
    ));
    // A tampered ciphertext still fails as one opaque error through the copy.
    let mut bad = ct2.clone();
    bad[0] ^= 1;
    assert!(matches!(open_blob(&token, &key, &iv2, &bad), Err(TokenError::DecryptFailed)));
    Ok(())
});

token_test!(fn with_the_flag_off_keys_are_made_as_before_and_never_copied(t) {
    let token = open(t, false, 16)?;
    assert!(!token.session_copies_enabled());
    let key = token.generate_key(&aes(), "k/1")?;
    let report = token.inspect(&key)?;
    assert!(!report.copyable && !report.modifiable, "{report:?}");
    for _ in 0..3 {
        let (iv, ct) = seal(&token, &key, b"x");
        assert_eq!(open_blob(&token, &key, &iv, &ct)?, b"x");
    }
    assert_eq!(token.session_copies_made(), 0);
    assert_eq!(token.count_session_objects(&key)?, 0);
    Ok(())
});

token_test!(fn a_key_made_before_keeps_the_token_object_path(t) {
    // Made with the flag off, used with it on: not copyable, so never copied, and it works.
    let old = {
        let token = open(t, false, 16)?;
        token.generate_key(&aes(), "old/1")?
    };
    let token = open(t, true, 16)?;
    let (iv, ct) = seal(&token, &old, b"old key");
    for _ in 0..3 {
        assert_eq!(open_blob(&token, &old, &iv, &ct)?, b"old key");
    }
    assert!(!token.has_session_copy(&old));
    assert_eq!(token.session_copies_made(), 0);
    assert_eq!(token.count_session_objects(&old)?, 0);
    Ok(())
});

token_test!(fn forget_destroy_and_the_bound_drop_copies_from_the_token(t) {
    let token = open(t, true, 2)?;
    let a = token.generate_key(&aes(), "a/1")?;
    let b = token.generate_key(&aes(), "b/1")?;
    let c = token.generate_key(&aes(), "c/1")?;
    for k in [&a, &b] {
        seal(&token, k, b"1");
        seal(&token, k, b"2");
    }
    assert_eq!(token.session_copies(), 2);
    // A third copy evicts the least recently used (a), from the token too.
    seal(&token, &b, b"3");
    seal(&token, &c, b"1");
    seal(&token, &c, b"2");
    assert_eq!(token.session_copies(), 2);
    assert!(!token.has_session_copy(&a) && token.has_session_copy(&b) && token.has_session_copy(&c));
    assert_eq!(token.count_session_objects(&a)?, 0);
    assert_eq!(token.count_session_objects(&c)?, 1);

    // forget_copy (disable, deletion scheduled, rotation): gone from the token; the key
    // still works with its token object, and a later second use copies it again.
    token.forget_copy(&b);
    assert!(!token.has_session_copy(&b));
    assert_eq!(token.count_session_objects(&b)?, 0);
    let (iv, ct) = seal(&token, &b, b"after");
    assert!(!token.has_session_copy(&b));
    assert_eq!(open_blob(&token, &b, &iv, &ct)?, b"after");
    assert!(token.has_session_copy(&b));

    // destroy: the copy goes before the material.
    assert_eq!(token.count_session_objects(&c)?, 1);
    token.destroy(&c)?;
    assert!(!token.has_session_copy(&c));
    assert_eq!(token.count_session_objects(&c)?, 0);
    let mut out = [0u8; 17];
    assert!(matches!(
        token.encrypt_aes_gcm(&c, b"", b"x", &mut out),
        Err(TokenError::ObjectNotFound(_))
    ));
    Ok(())
});

token_test!(fn recovery_forgets_copies_and_makes_them_again(t) {
    let token = open(t, true, 16)?;
    let key = token.generate_key(&aes(), "k/1")?;
    let (iv, ct) = seal(&token, &key, b"before");
    seal(&token, &key, b"copy");
    assert!(token.has_session_copy(&key));
    // Every session closed behind the engine's back: the anchor, and the copy with it.
    token.inject_close_all_sessions()?;
    assert_eq!(open_blob(&token, &key, &iv, &ct)?, b"before");
    assert_eq!(token.recoveries(), 1);
    // The key had a copy: its first use after recovery copies it again.
    assert!(token.has_session_copy(&key));
    assert_eq!(token.session_copies_made(), 2);
    assert_eq!(token.count_session_objects(&key)?, 1);
    // Logged out and in again: SoftHSM drops private session objects and handles.
    token.inject_relogin_behind_cache()?;
    assert_eq!(open_blob(&token, &key, &iv, &ct)?, b"before");
    assert_eq!(token.recoveries(), 2);
    assert!(token.has_session_copy(&key));
    assert_eq!(token.count_session_objects(&key)?, 1);
    Ok(())
});

// What a holder of the token PIN can do with a copyable, modifiable CMK (docs/SECURITY.md).
token_test!(fn a_pin_holder_cannot_get_the_material_of_a_copyable_key(t) {
    let token = open(t, true, 16)?;
    let key = token.generate_key(&aes(), "k/1")?;
    let raw = t.raw_session()?;
    let object = raw.find_objects(&[Attribute::Token(true), Attribute::Id(key.as_bytes().to_vec())])?[0];

    // Sensitive and extractable cannot be relaxed (PKCS#11: one-way attributes).
    for relax in [Attribute::Sensitive(false), Attribute::Extractable(true)] {
        let e = raw.update_attributes(object, std::slice::from_ref(&relax)).unwrap_err();
        assert_eq!(rv(&e), Some(RvError::AttributeReadOnly), "{relax:?}: {e}");
    }
    // Nor on a copy: a copy asking for them is refused (as is one that says them again).
    for relax in [
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
    ] {
        let e = raw.copy_object(object, &[Attribute::Token(false), relax.clone()]).unwrap_err();
        assert_eq!(rv(&e), Some(RvError::AttributeReadOnly), "{relax:?}: {e}");
    }
    // Usages can be flipped on the token object (what MODIFIABLE allows)...
    raw.update_attributes(object, &[Attribute::Wrap(true)])?;
    // ...but wrapping the key itself (with itself, or with any key) is refused: it is not
    // extractable.
    let wrapper = raw.generate_key(&Mechanism::AesKeyGen, &[
        Attribute::Token(false),
        Attribute::ValueLen(32.into()),
        Attribute::Wrap(true),
    ])?;
    let e = raw.wrap_key(&Mechanism::AesKeyWrapPad, wrapper, object).unwrap_err();
    assert_eq!(rv(&e), Some(RvError::KeyUnextractable), "{e}");
    let e = raw.wrap_key(&Mechanism::AesKeyWrapPad, object, object).unwrap_err();
    assert_eq!(rv(&e), Some(RvError::KeyUnextractable), "{e}");
    raw.update_attributes(object, &[Attribute::Wrap(false)])?;
    // CKA_DERIVE too; the derivations that would expose the value (XOR with known data,
    // concatenation) are not mechanisms of SoftHSM 2.6.1. (CKM_AES_ECB_ENCRYPT_DATA gives
    // E_K(data), what C_Encrypt with CKM_AES_ECB already gives a PIN holder today, below.)
    raw.update_attributes(object, &[Attribute::Derive(true)])?;
    let data = [0u8; 32];
    for m in [
        Mechanism::XorBaseAndData(KeyDerivationStringData::new(&data)),
        Mechanism::ConcatenateBaseAndData(KeyDerivationStringData::new(&data)),
        Mechanism::ConcatenateDataAndBase(KeyDerivationStringData::new(&data)),
    ] {
        let e = raw
            .derive_key(&m, object, &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Token(false),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
            ])
            .unwrap_err();
        assert_eq!(rv(&e), Some(RvError::MechanismInvalid), "{m:?}: {e}");
    }
    raw.update_attributes(object, &[Attribute::Derive(false)])?;

    // What it does give: a token-object copy, which a deletion of the original does not
    // reach (crypto-shredding against a PIN holder is lost; SECURITY.md). Still sensitive.
    let kept = raw.copy_object(object, &[Attribute::Label(b"kept".to_vec())])?;
    assert!(matches!(
        raw.get_attribute_info(kept, &[AttributeType::Value])?.as_slice(),
        [AttributeInfo::Sensitive]
    ));
    token.destroy(&key)?;
    assert_eq!(raw.get_attributes(kept, &[AttributeType::Class])?, vec![Attribute::Class(ObjectClass::SECRET_KEY)]);
    assert_eq!(raw.get_attributes(kept, &[AttributeType::KeyType])?, vec![Attribute::KeyType(KeyType::AES)]);
    raw.destroy_object(kept)?;

    // A key made with the flag off refuses both (today's protection).
    let plain = open(t, false, 16)?.generate_key(&aes(), "p/1")?;
    let object = raw.find_objects(&[Attribute::Token(true), Attribute::Id(plain.as_bytes().to_vec())])?[0];
    let e = raw.copy_object(object, &[Attribute::Label(b"kept".to_vec())]).unwrap_err();
    assert_eq!(rv(&e), Some(RvError::ActionProhibited), "{e}");
    let e = raw.update_attributes(object, &[Attribute::Wrap(true)]).unwrap_err();
    assert_eq!(rv(&e), Some(RvError::ActionProhibited), "{e}");
    // What a PIN holder has on any CMK, copyable or not: the token computes with it, with
    // any mechanism its usages allow (raw AES here), and never hands out its value.
    assert_eq!(raw.encrypt(&Mechanism::AesEcb, object, &[0u8; 16])?.len(), 16);
    Ok(())
});

token_test!(fn hmac_keys_are_copied_too_and_the_copy_agrees_with_the_object(t) {
    let token = open(t, true, 16)?;
    let key = token.generate_key(&SecretKeyTemplate::hmac(HmacDigest::Sha384), "h/1")?;
    let report = token.inspect(&key)?;
    assert!(report.copyable && report.modifiable && report.sensitive && !report.extractable);
    let by_object = token.hmac(&key, HmacDigest::Sha384, b"message")?;
    assert!(!token.has_session_copy(&key));
    assert!(token.hmac_verify(&key, HmacDigest::Sha384, b"message", &by_object)?);
    assert!(token.has_session_copy(&key));
    assert_eq!(token.count_session_objects(&key)?, 1);
    assert_eq!(token.hmac(&key, HmacDigest::Sha384, b"message")?, by_object);
    assert!(!token.hmac_verify(&key, HmacDigest::Sha384, b"messagE", &by_object)?);
    // With the flag off, an HMAC key is made as before.
    let plain = open(t, false, 16)?.generate_key(&SecretKeyTemplate::hmac(HmacDigest::Sha256), "h/2")?;
    let report = token.inspect(&plain)?;
    assert!(!report.copyable && !report.modifiable, "{report:?}");
    Ok(())
});

token_test!(fn a_round_robin_over_more_keys_than_the_bound_stays_on_the_token_objects(t) {
    let keys: Vec<_> = {
        let token = open(t, true, 16)?;
        (0..6).map(|i| token.generate_key(&aes(), &format!("k{i}/1")).unwrap()).collect()
    };
    // Six keys in turn, four copies at most: no key is used twice within the last two to
    // four keys used without a copy, so none is copied (copying would evict one on every
    // call).
    let token = open(t, true, 4)?;
    let before = token.session_copies_made();
    for _ in 0..4 {
        for k in &keys {
            seal(&token, k, b"x");
        }
    }
    assert_eq!(token.session_copies_made() - before, 0, "no copy in a round-robin of 6 over 4");
    assert_eq!(token.session_copies(), 0);
    // The same keys with room for all: each is copied once, on its second use, and kept.
    let token = open(t, true, 8)?;
    for _ in 0..4 {
        for k in &keys {
            seal(&token, k, b"x");
        }
    }
    assert_eq!(token.session_copies_made(), 6);
    assert_eq!(token.session_copies(), 6);
    Ok(())
});
