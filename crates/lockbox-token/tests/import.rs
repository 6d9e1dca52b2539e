//! Importing key material into a throwaway SoftHSM token, checked against Python's
//! `cryptography`, which made and wrapped the material (`tests/oracle/import.py`): for every
//! wrapping algorithm and every kind of key, the imported key works with what was made
//! outside (an AES-GCM ciphertext decrypts in the token; HMACs are equal; the public key is
//! the one `cryptography` derived, and the token's signature verifies there), the objects
//! carry invariant 1's attributes, and a refused import leaves nothing in the token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "oracle/import_material.rs"]
mod import_material;
mod oracle;

use import_material::{gcm, hmac, material, wrap};
use lockbox_token::{
    Curve, EcPurpose, HmacDigest, KeyPairTemplate, RsaBits, RsaPurpose, SecretKeyTemplate,
    SignatureHash, SignatureScheme, Token, TokenError, ValueAccess, WrappingAlgorithm, token_test,
};
use sha2::{Digest, Sha256};

const ALGORITHMS: [(WrappingAlgorithm, &str); 4] = [
    (WrappingAlgorithm::RsaesOaepSha1, "RSAES_OAEP_SHA_1"),
    (WrappingAlgorithm::RsaesOaepSha256, "RSAES_OAEP_SHA_256"),
    (
        WrappingAlgorithm::RsaAesKeyWrapSha1,
        "RSA_AES_KEY_WRAP_SHA_1",
    ),
    (
        WrappingAlgorithm::RsaAesKeyWrapSha256,
        "RSA_AES_KEY_WRAP_SHA_256",
    ),
];

fn assert_cmk_object(token: &Token, id: &lockbox_token::ObjectId, usages: &[&str]) {
    let r = token.inspect(id).unwrap();
    assert!(
        r.token && r.private && r.sensitive && !r.extractable,
        "{r:?}"
    );
    assert!(!r.modifiable && !r.copyable, "{r:?}");
    // It existed outside the token once: PKCS#11 says so.
    assert!(!r.always_sensitive && !r.never_extractable, "{r:?}");
    assert_eq!(r.usages, usages, "{r:?}");
    // A secret key's CKA_VALUE is refused; an RSA private key has none to ask for.
    assert!(
        matches!(
            r.value,
            ValueAccess::Sensitive | ValueAccess::NoSuchAttribute
        ),
        "{r:?}"
    );
}

token_test!(fn the_wrapping_pair_is_sensitive_unwrap_only_and_its_public_key_is_readable(t) {
    let token = t.open()?;
    for (bits, k) in [(RsaBits::Rsa2048, 256), (RsaBits::Rsa3072, 384), (RsaBits::Rsa4096, 512)] {
        let pair = token.generate_wrapping_key_pair(bits, "import/wrap")?;
        let r = token.inspect(&pair.private)?;
        assert!(r.token && r.private && r.sensitive && !r.extractable && r.never_extractable);
        assert_eq!(r.usages, ["CKA_DECRYPT", "CKA_UNWRAP"]);
        assert_ne!(r.value, ValueAccess::Readable(0));
        assert!(!matches!(r.value, ValueAccess::Readable(_)));
        let spki = token.public_key_info(&pair.public)?;
        let described = oracle::describe_spki(t.dir(), &spki)?;
        assert!(described.starts_with(&format!("RSA {} ", k * 8)), "{described}");
        // A restart finds both (they are token objects).
        drop(token.destroy(&pair.private));
        drop(token.destroy(&pair.public));
    }
    let pair = token.generate_wrapping_key_pair(RsaBits::Rsa2048, "import/wrap")?;
    drop(token);
    let token = t.open()?;
    let ids: Vec<_> = token.list_objects()?.into_iter().map(|o| o.id).collect();
    assert!(ids.contains(&pair.private) && ids.contains(&pair.public));
    Ok(())
});

token_test!(fn aes_material_wrapped_by_cryptography_imports_with_every_algorithm_and_decrypts_its_ciphertext(t) {
    let token = t.open()?;
    let wrapping = token.generate_wrapping_key_pair(RsaBits::Rsa2048, "import/wrap")?;
    let spki = token.public_key_info(&wrapping.public)?;
    let template = SecretKeyTemplate::aes_256_encrypt_decrypt();
    let m = material(t.dir(), "AES_256", "aes.bin")?;
    let iv = [7u8; 12];
    let outside = gcm(&m, &iv, b"aad", b"made outside the token")?;
    let mut fingerprint = None;
    for (algorithm, name) in ALGORITHMS {
        let wrapped = wrap(t.dir(), &spki, name, &m)?;
        let (key, imported) = token.import_secret_key(&wrapping.private, algorithm, &wrapped, &template, "k/1")?;
        assert_cmk_object(&token, &key, &["CKA_ENCRYPT", "CKA_DECRYPT"]);
        assert_eq!(token.secret_key_fingerprint(&key, &template)?, imported);
        let mut out = vec![0u8; outside.len()];
        let n = token.decrypt_aes_gcm(&key, &iv, b"aad", &outside, &mut out)?;
        assert_eq!(&out[..n], b"made outside the token", "{name}");
        // The same material has the same fingerprint, whichever way it came in.
        let f = token.secret_key_fingerprint(&key, &template)?;
        assert_eq!(*fingerprint.get_or_insert(f), f, "{name}");
        token.destroy(&key)?;
    }
    // Other material has another fingerprint.
    let other = material(t.dir(), "AES_256", "other.bin")?;
    let wrapped = wrap(t.dir(), &spki, "RSAES_OAEP_SHA_1", &other)?;
    let (key, _) = token.import_secret_key(&wrapping.private, WrappingAlgorithm::RsaesOaepSha1, &wrapped, &template, "k/2")?;
    assert_ne!(Some(token.secret_key_fingerprint(&key, &template)?), fingerprint);
    Ok(())
});

token_test!(fn hmac_material_of_every_length_imports_and_macs_as_cryptography_does(t) {
    let token = t.open()?;
    let wrapping = token.generate_wrapping_key_pair(RsaBits::Rsa3072, "import/wrap")?;
    let spki = token.public_key_info(&wrapping.public)?;
    for (digest, spec, name) in [
        (HmacDigest::Sha224, "HMAC_224", "SHA_224"),
        (HmacDigest::Sha256, "HMAC_256", "SHA_256"),
        (HmacDigest::Sha384, "HMAC_384", "SHA_384"),
        (HmacDigest::Sha512, "HMAC_512", "SHA_512"),
    ] {
        let m = material(t.dir(), spec, "hmac.bin")?;
        let expected = hmac(&m, name, b"message")?;
        for (algorithm, alg_name) in ALGORITHMS {
            let wrapped = wrap(t.dir(), &spki, alg_name, &m)?;
            let template = SecretKeyTemplate::hmac(digest);
            let (key, _) = token.import_secret_key(&wrapping.private, algorithm, &wrapped, &template, "h/1")?;
            assert_cmk_object(&token, &key, &["CKA_SIGN", "CKA_VERIFY"]);
            assert_eq!(token.hmac(&key, digest, b"message")?, expected, "{spec} {alg_name}");
            token.destroy(&key)?;
        }
    }
    Ok(())
});

token_test!(fn key_pairs_import_and_sign_for_cryptography(t) {
    let token = t.open()?;
    let wrapping = token.generate_wrapping_key_pair(RsaBits::Rsa4096, "import/wrap")?;
    let spki = token.public_key_info(&wrapping.public)?;
    let cases = [
        ("RSA_2048", KeyPairTemplate::rsa(RsaBits::Rsa2048, RsaPurpose::SignVerify),
            SignatureScheme::RsaPss(SignatureHash::Sha256), "RSASSA_PSS_SHA_256"),
        ("RSA_4096", KeyPairTemplate::rsa(RsaBits::Rsa4096, RsaPurpose::SignVerify),
            SignatureScheme::RsaPkcs1v15(SignatureHash::Sha512), "RSASSA_PKCS1_V1_5_SHA_512"),
        ("ECC_NIST_P256", KeyPairTemplate::ec(Curve::P256, EcPurpose::SignVerify),
            SignatureScheme::Ecdsa(Curve::P256, SignatureHash::Sha256), "ECDSA_SHA_256"),
        ("ECC_NIST_P384", KeyPairTemplate::ec(Curve::P384, EcPurpose::SignVerify),
            SignatureScheme::Ecdsa(Curve::P384, SignatureHash::Sha384), "ECDSA_SHA_384"),
        ("ECC_NIST_P521", KeyPairTemplate::ec(Curve::P521, EcPurpose::SignVerify),
            SignatureScheme::Ecdsa(Curve::P521, SignatureHash::Sha512), "ECDSA_SHA_512"),
        ("ECC_SECG_P256K1", KeyPairTemplate::ec(Curve::Secp256k1, EcPurpose::SignVerify),
            SignatureScheme::Ecdsa(Curve::Secp256k1, SignatureHash::Sha256), "ECDSA_SHA_256"),
    ];
    for (spec, template, scheme, aws_algorithm) in cases {
        let m = material(t.dir(), spec, "pair.der")?;
        // RSA private keys are too long for RSAES-OAEP alone; EC private keys take all four.
        let algorithms = if template.rsa_bits().is_some() { &ALGORITHMS[2..] } else { &ALGORITHMS[..] };
        for (algorithm, alg_name) in algorithms {
            let wrapped = wrap(t.dir(), &spki, alg_name, &m)?;
            let pair = token.import_key_pair(&wrapping.private, *algorithm, &wrapped, &template, "p/1")?;
            assert_cmk_object(&token, &pair.private, &["CKA_SIGN"]);
            let public = token.public_key_info(&pair.public)?;
            assert_eq!(Some(&public), m.spki.as_ref(), "{spec} {alg_name}");
            assert_eq!(token.key_pair_fingerprint(&pair.public)?, <[u8; 32]>::from(Sha256::digest(&public)));
            let digest = match scheme.hash() {
                SignatureHash::Sha256 => Sha256::digest(b"message").to_vec(),
                SignatureHash::Sha384 => sha2::Sha384::digest(b"message").to_vec(),
                SignatureHash::Sha512 => sha2::Sha512::digest(b"message").to_vec(),
            };
            let signature = token.sign_digest(&pair.private, scheme, &digest)?;
            assert!(oracle::verifies(t.dir(), &public, aws_algorithm, "RAW", b"message", &signature)?,
                "{spec} {alg_name}");
            token.destroy(&pair.private)?;
            token.destroy(&pair.public)?;
        }
    }
    Ok(())
});

token_test!(fn refused_imports_leave_nothing_in_the_token(t) {
    let token = t.open()?;
    let wrapping = token.generate_wrapping_key_pair(RsaBits::Rsa2048, "import/wrap")?;
    let other = token.generate_wrapping_key_pair(RsaBits::Rsa2048, "import/other")?;
    let spki = token.public_key_info(&wrapping.public)?;
    let ids = |t: &Token| -> Result<Vec<lockbox_token::ObjectId>, TokenError> {
        let mut v: Vec<_> = t.list_objects()?.into_iter().map(|o| o.id).collect();
        v.sort();
        Ok(v)
    };
    let before = ids(&token)?;
    let aes = SecretKeyTemplate::aes_256_encrypt_decrypt();
    let m = material(t.dir(), "AES_256", "aes.bin")?;
    let short = material(t.dir(), "HMAC_224", "short.bin")?;
    let rsa = material(t.dir(), "RSA_2048", "rsa.der")?;
    let p384 = material(t.dir(), "ECC_NIST_P384", "p384.der")?;
    for (algorithm, name) in ALGORITHMS {
        let wrapped = wrap(t.dir(), &spki, name, &m)?;
        // Wrapped for another key pair, or altered: the one opaque failure.
        assert!(matches!(token.import_secret_key(&other.private, algorithm, &wrapped, &aes, "k"),
            Err(TokenError::DecryptFailed)), "{name}");
        let mut bad = wrapped.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(token.import_secret_key(&wrapping.private, algorithm, &bad, &aes, "k"),
            Err(TokenError::DecryptFailed)), "{name}");
        // 28 bytes are not an AES-256 key. Where the host saw the material (SoftHSM's
        // OAEP-SHA-256 path) its length is known; elsewhere SoftHSM does not say it, and the
        // key's first use in the token refuses it.
        let wrapped = wrap(t.dir(), &spki, name, &short)?;
        let expected = if algorithm == WrappingAlgorithm::RsaesOaepSha256 {
            "the key material is 28 bytes; this key spec takes exactly 32"
        } else {
            "the key material is not a 32-byte key its mechanism accepts"
        };
        match token.import_secret_key(&wrapping.private, algorithm, &wrapped, &aes, "k") {
            Err(TokenError::InvalidInput(msg)) => assert_eq!(msg, expected, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        // An AES-128 key is refused too, by the AES-KWP length where the token does not say.
        let aes128 = import_material::Material { bytes: m.bytes[..16].to_vec(), path: t.dir().join("aes128.bin"), spki: None };
        std::fs::write(&aes128.path, &aes128.bytes)?;
        let wrapped = wrap(t.dir(), &spki, name, &aes128)?;
        let expected = match algorithm {
            WrappingAlgorithm::RsaesOaepSha256 => "the key material is 16 bytes; this key spec takes exactly 32",
            _ => "the key material is 9..16 bytes; this key spec takes exactly 32",
        };
        match token.import_secret_key(&wrapping.private, algorithm, &wrapped, &aes, "k") {
            Err(TokenError::InvalidInput(msg)) => assert_eq!(msg, expected, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    for (algorithm, name) in &ALGORITHMS[..2] {
        // A P-384 key where P-256 was declared, through either OAEP path (the token's
        // C_UnwrapKey with SHA-1, the host's decoding with SHA-256).
        let p256 = KeyPairTemplate::ec(Curve::P256, EcPurpose::SignVerify);
        let wrapped = wrap(t.dir(), &spki, name, &p384)?;
        match token.import_key_pair(&wrapping.private, *algorithm, &wrapped, &p256, "p") {
            Err(TokenError::InvalidInput(msg)) => assert_eq!(msg, "the private key is not on the key spec's curve (P256)", "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    for (algorithm, name) in &ALGORITHMS[2..] {
        // An RSA key where a P-256 one was declared; a P-384 key where P-256 was.
        let p256 = KeyPairTemplate::ec(Curve::P256, EcPurpose::SignVerify);
        let wrapped = wrap(t.dir(), &spki, name, &rsa)?;
        assert!(matches!(token.import_key_pair(&wrapping.private, *algorithm, &wrapped, &p256, "p"),
            Err(TokenError::DecryptFailed | TokenError::InvalidInput(_) | TokenError::Pkcs11 { .. })));
        let wrapped = wrap(t.dir(), &spki, name, &p384)?;
        match token.import_key_pair(&wrapping.private, *algorithm, &wrapped, &p256, "p") {
            Err(TokenError::InvalidInput(msg)) => assert_eq!(msg, "the private key is not on the key spec's curve (P256)"),
            other => panic!("{other:?}"),
        }
        let rsa3072 = KeyPairTemplate::rsa(RsaBits::Rsa3072, RsaPurpose::SignVerify);
        let wrapped = wrap(t.dir(), &spki, name, &rsa)?;
        match token.import_key_pair(&wrapping.private, *algorithm, &wrapped, &rsa3072, "p") {
            Err(TokenError::InvalidInput(msg)) => assert_eq!(msg, "the private key has a 2048-bit modulus; this key spec takes 3072"),
            other => panic!("{other:?}"),
        }
    }
    // A private key cannot be wrapped with RSAES-OAEP alone.
    let rsa2048 = KeyPairTemplate::rsa(RsaBits::Rsa2048, RsaPurpose::SignVerify);
    match token.import_key_pair(&wrapping.private, WrappingAlgorithm::RsaesOaepSha1, &[0; 256], &rsa2048, "p") {
        Err(TokenError::InvalidInput(msg)) => assert!(msg.starts_with("an RSA private key is too long for RSAES-OAEP")),
        other => panic!("{other:?}"),
    }
    assert_eq!(ids(&token)?, before);
    // A fresh open sees the same.
    drop(token);
    assert_eq!(ids(&t.open()?)?, before);
    Ok(())
});
