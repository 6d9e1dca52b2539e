//! Encrypt, Decrypt and ReEncrypt with RSA ENCRYPT_DECRYPT keys through the engine: every key
//! spec with both OAEP algorithms, AWS's plaintext limits and errors, ReEncrypt in and out of
//! RSA keys, grants and `kms:EncryptionAlgorithm` conditions, and ciphertexts made by
//! Python's `cryptography` (the project's oracle) with the key's public key from GetPublicKey.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../lockbox-token/tests/oracle/mod.rs"]
mod oracle;

use common::{T0, engine, engine_with, err, kind};
use lockbox::api::*;
use lockbox_token::token_test;

use EncryptionAlgorithm::{RsaesOaepSha1 as SHA1, RsaesOaepSha256 as SHA256, SymmetricDefault};

const A: &str = "111122223333";

fn arn(rest: &str) -> String {
    format!("arn:aws:iam::{A}:{rest}")
}

fn pt(b: &[u8]) -> Plaintext {
    Plaintext::copy_from(b)
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
}

fn rsa_key(kms: &dyn Kms, spec: KeySpec) -> KeyMetadata {
    kms.create_key(
        CreateKeyRequest::new()
            .with_key_spec(spec)
            .with_key_usage(KeyUsage::EncryptDecrypt),
    )
    .unwrap()
    .key_metadata
}

fn encrypt(
    kms: &dyn Kms,
    key: KeyId,
    alg: EncryptionAlgorithm,
    m: &[u8],
) -> Result<EncryptResponse, KmsError> {
    kms.encrypt(EncryptRequest::new(key, pt(m)).with_encryption_algorithm(alg))
}

fn decrypt(
    kms: &dyn Kms,
    key: KeyId,
    alg: EncryptionAlgorithm,
    c: &[u8],
) -> Result<DecryptResponse, KmsError> {
    kms.decrypt(
        DecryptRequest::new(c.to_vec())
            .with_key_id(key.into())
            .with_encryption_algorithm(alg),
    )
}

fn message(e: KmsError) -> (ErrorKind, String) {
    (e.kind(), e.message().to_owned())
}

fn modulus_len(spec: KeySpec) -> usize {
    match spec {
        KeySpec::Rsa2048 => 256,
        KeySpec::Rsa3072 => 384,
        _ => 512,
    }
}

token_test!(fn every_spec_and_algorithm_round_trips_up_to_awss_limit_and_refuses_one_byte_more(t) {
    let kms = engine(t)?;
    for (spec, sha1_max, sha256_max) in [(KeySpec::Rsa2048, 214, 190), (KeySpec::Rsa3072, 342, 318), (KeySpec::Rsa4096, 470, 446)] {
        let md = rsa_key(&kms, spec);
        assert_eq!(md.encryption_algorithms, [SHA1, SHA256]);
        for (alg, max) in [(SHA1, sha1_max), (SHA256, sha256_max)] {
            for len in [1, max] {
                let m: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
                let e = encrypt(&kms, md.key_id, alg, &m)?;
                assert_eq!((e.key_id.clone(), e.encryption_algorithm, e.ciphertext_blob.len()), (md.arn.clone(), alg, modulus_len(spec)));
                let d = decrypt(&kms, md.key_id, alg, &e.ciphertext_blob)?;
                assert_eq!((d.key_id, d.encryption_algorithm, d.plaintext.expose_secret()), (md.arn.clone(), alg, m.as_slice()));
            }
            assert_eq!(message(err(encrypt(&kms, md.key_id, alg, &vec![1; max + 1]))),
                (ErrorKind::Validation, format!("Algorithm {alg} and key spec {spec} cannot encrypt data larger than {max} bytes.")));
        }
    }
    Ok(())
});

token_test!(fn rsa_refusals_have_awss_kinds(t) {
    let kms = engine(t)?;
    let md = rsa_key(&kms, KeySpec::Rsa2048);
    let other = rsa_key(&kms, KeySpec::Rsa2048);
    let sym = kms.create_key(CreateKeyRequest::new())?.key_metadata;
    let incompatible = (ErrorKind::InvalidKeyUsage, "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.".to_owned());
    let no_context = (ErrorKind::Validation, format!("EncryptionContext is not supported with asymmetric KMS keys: {} has key spec RSA_2048; send the request without an encryption context.", md.arn));

    // Encrypt: the algorithm is required (AWS's default, SYMMETRIC_DEFAULT, is refused).
    assert_eq!(message(err(kms.encrypt(EncryptRequest::new(md.key_id, pt(b"x"))))), incompatible);
    assert_eq!(message(err(encrypt(&kms, md.key_id, SymmetricDefault, b"x"))),
        (ErrorKind::InvalidKeyUsage, format!("{} is a RSA key; the encryption algorithm SYMMETRIC_DEFAULT is not valid for it.", md.arn)));
    assert_eq!(message(err(kms.encrypt(EncryptRequest::new(md.key_id, pt(b"x")).with_encryption_algorithm(SHA256).with_encryption_context(ctx(&[("a", "b")]))))), no_context);
    // The model's 4096-byte bound comes first.
    assert_eq!(kind(encrypt(&kms, md.key_id, SHA256, &[0; 4097])), ErrorKind::Validation);

    let c = encrypt(&kms, md.key_id, SHA256, b"secret")?.ciphertext_blob;
    // Decrypt without KeyId reads the ciphertext as a Lockbox blob: not one.
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(c.clone()))), ErrorKind::InvalidCiphertext);
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(c.clone()).with_encryption_algorithm(SHA256))), ErrorKind::InvalidCiphertext);
    // With KeyId, the algorithm is required.
    assert_eq!(message(err(kms.decrypt(DecryptRequest::new(c.clone()).with_key_id(md.key_id.into())))), incompatible);
    assert_eq!(message(err(kms.decrypt(DecryptRequest::new(c.clone()).with_key_id(md.key_id.into()).with_encryption_algorithm(SHA256).with_encryption_context(ctx(&[("a", "b")]))))), no_context);
    // Wrong algorithm, other key, changed bit, cut or lengthened: one opaque error.
    let opaque = |r: Result<DecryptResponse, KmsError>| message(err(r));
    let invalid = (ErrorKind::InvalidCiphertext, KmsError::invalid_ciphertext().message().to_owned());
    assert_eq!(opaque(decrypt(&kms, md.key_id, SHA1, &c)), invalid);
    assert_eq!(opaque(decrypt(&kms, other.key_id, SHA256, &c)), invalid);
    for byte in [0, 1, 128, 255] {
        let mut bad = c.clone();
        bad[byte] ^= 4;
        assert_eq!(opaque(decrypt(&kms, md.key_id, SHA256, &bad)), invalid, "byte {byte}");
    }
    assert_eq!(opaque(decrypt(&kms, md.key_id, SHA256, &c[..255])), invalid);
    assert_eq!(opaque(decrypt(&kms, md.key_id, SHA256, &[c.as_slice(), b"x"].concat())), invalid);
    // A symmetric blob under the RSA key's id, and the RSA ciphertext under the symmetric one.
    let blob = kms.encrypt(EncryptRequest::new(sym.key_id, pt(b"x")))?.ciphertext_blob;
    assert_eq!(opaque(decrypt(&kms, md.key_id, SHA256, &blob)), invalid);
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(c.clone()).with_key_id(sym.key_id.into()))), ErrorKind::InvalidCiphertext);
    // A symmetric key still refuses RSA algorithms as before.
    assert_eq!(kind(encrypt(&kms, sym.key_id, SHA1, b"x")), ErrorKind::InvalidKeyUsage);
    // And the ciphertext still opens.
    assert_eq!(decrypt(&kms, md.key_id, SHA256, &c)?.plaintext.expose_secret(), b"secret");

    // Data keys are never made under RSA keys.
    for r in [kms.generate_data_key(GenerateDataKeyRequest::new(md.key_id, DataKeySpec::Aes256)).map(drop),
              kms.generate_data_key_without_plaintext(GenerateDataKeyRequest::new(md.key_id, DataKeySpec::Aes256)).map(drop)] {
        assert_eq!(message(err(r)), incompatible);
    }
    // A SIGN_VERIFY RSA key neither encrypts nor decrypts.
    let signer = kms.create_key(CreateKeyRequest::new().with_key_spec(KeySpec::Rsa2048).with_key_usage(KeyUsage::SignVerify))?.key_metadata;
    let usage = (ErrorKind::InvalidKeyUsage, format!("{} key usage is SIGN_VERIFY which is not valid for this operation.", signer.arn));
    assert_eq!(message(err(encrypt(&kms, signer.key_id, SHA256, b"x"))), usage);
    assert_eq!(message(err(decrypt(&kms, signer.key_id, SHA256, &c))), usage);
    // A disabled key does neither.
    kms.disable_key(DisableKeyRequest::new(md.key_id))?;
    assert_eq!(kind(encrypt(&kms, md.key_id, SHA256, b"x")), ErrorKind::Disabled);
    assert_eq!(kind(decrypt(&kms, md.key_id, SHA256, &c)), ErrorKind::Disabled);
    Ok(())
});

token_test!(fn re_encrypt_moves_ciphertexts_into_out_of_and_between_rsa_keys(t) {
    let kms = engine(t)?;
    let (r1, r2) = (rsa_key(&kms, KeySpec::Rsa2048), rsa_key(&kms, KeySpec::Rsa3072));
    let sym = kms.create_key(CreateKeyRequest::new())?.key_metadata;
    let c = ctx(&[("v", "1")]);
    let blob = kms.encrypt(EncryptRequest::new(sym.key_id, pt(b"moving")).with_encryption_context(c.clone()))?.ciphertext_blob;

    // Symmetric to RSA.
    let into = kms.re_encrypt(ReEncryptRequest::new(blob.clone(), r1.key_id).with_source_encryption_context(c.clone()).with_destination_encryption_algorithm(SHA256))?;
    assert_eq!((into.source_key_id, into.key_id, into.source_encryption_algorithm, into.destination_encryption_algorithm), (sym.arn.clone(), r1.arn.clone(), SymmetricDefault, SHA256));
    assert_eq!(decrypt(&kms, r1.key_id, SHA256, &into.ciphertext_blob)?.plaintext.expose_secret(), b"moving");
    // RSA to RSA.
    let between = kms.re_encrypt(ReEncryptRequest::new(into.ciphertext_blob.clone(), r2.key_id).with_source_key_id(r1.key_id.into())
        .with_source_encryption_algorithm(SHA256).with_destination_encryption_algorithm(SHA1))?;
    assert_eq!((between.source_encryption_algorithm, between.destination_encryption_algorithm, between.ciphertext_blob.len()), (SHA256, SHA1, 384));
    assert_eq!(decrypt(&kms, r2.key_id, SHA1, &between.ciphertext_blob)?.plaintext.expose_secret(), b"moving");
    // RSA back to symmetric, with a new context.
    let out = kms.re_encrypt(ReEncryptRequest::new(between.ciphertext_blob.clone(), sym.key_id).with_source_key_id(r2.key_id.into())
        .with_source_encryption_algorithm(SHA1).with_destination_encryption_context(ctx(&[("v", "2")])))?;
    assert_eq!((out.source_key_id, out.source_encryption_algorithm, out.destination_encryption_algorithm), (r2.arn.clone(), SHA1, SymmetricDefault));
    let back = kms.decrypt(DecryptRequest::new(out.ciphertext_blob).with_encryption_context(ctx(&[("v", "2")])))?;
    assert_eq!((back.plaintext.expose_secret(), back.encryption_algorithm), (&b"moving"[..], SymmetricDefault));

    let incompatible = (ErrorKind::InvalidKeyUsage, "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.".to_owned());
    let rsa_ct = into.ciphertext_blob;
    // An RSA source needs SourceKeyId (else it is read as a blob) and its algorithm.
    assert_eq!(kind(kms.re_encrypt(ReEncryptRequest::new(rsa_ct.clone(), sym.key_id).with_source_encryption_algorithm(SHA256))), ErrorKind::InvalidCiphertext);
    assert_eq!(message(err(kms.re_encrypt(ReEncryptRequest::new(rsa_ct.clone(), sym.key_id).with_source_key_id(r1.key_id.into())))), incompatible);
    assert_eq!(kind(kms.re_encrypt(ReEncryptRequest::new(rsa_ct.clone(), sym.key_id).with_source_key_id(r1.key_id.into()).with_source_encryption_algorithm(SHA1))), ErrorKind::InvalidCiphertext);
    // An RSA destination needs its algorithm and takes no context.
    assert_eq!(message(err(kms.re_encrypt(ReEncryptRequest::new(blob.clone(), r1.key_id).with_source_encryption_context(c.clone())))), incompatible);
    assert_eq!(kind(kms.re_encrypt(ReEncryptRequest::new(blob.clone(), r1.key_id).with_source_encryption_context(c.clone())
        .with_destination_encryption_algorithm(SHA1).with_destination_encryption_context(c.clone()))), ErrorKind::Validation);
    // The symmetric path still names SYMMETRIC_DEFAULT both ways.
    let sym_moved = kms.re_encrypt(ReEncryptRequest::new(blob, sym.key_id).with_source_encryption_context(c))?;
    assert_eq!((sym_moved.source_encryption_algorithm, sym_moved.destination_encryption_algorithm), (SymmetricDefault, SymmetricDefault));
    Ok(())
});

token_test!(fn grants_and_encryption_algorithm_conditions_govern_rsa_keys(t) {
    let kms = engine(t)?;
    let owner = kms.as_caller(&arn("role/owner"));
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": arn("role/owner")}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": arn("role/app")}, "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}}}]}).to_string();
    let md = owner.create_key(CreateKeyRequest::new().with_key_spec(KeySpec::Rsa2048).with_key_usage(KeyUsage::EncryptDecrypt).with_policy(policy))?.key_metadata;
    let app = kms.as_caller(&arn("role/app"));
    let c256 = encrypt(&app, md.key_id, SHA256, b"x")?.ciphertext_blob;
    assert_eq!(decrypt(&app, md.key_id, SHA256, &c256)?.plaintext.expose_secret(), b"x");
    assert_eq!(kind(encrypt(&app, md.key_id, SHA1, b"x")), ErrorKind::AccessDenied);
    let c1 = encrypt(&owner, md.key_id, SHA1, b"y")?.ciphertext_blob;
    assert_eq!(kind(decrypt(&app, md.key_id, SHA1, &c1)), ErrorKind::AccessDenied);
    // Without an algorithm the request is SYMMETRIC_DEFAULT's, which the condition refuses.
    assert_eq!(kind(app.encrypt(EncryptRequest::new(md.key_id, pt(b"x")))), ErrorKind::AccessDenied);

    // A grant of Decrypt alone lets its grantee decrypt, nothing else.
    let worker = kms.as_caller(&arn("role/worker"));
    assert_eq!(kind(decrypt(&worker, md.key_id, SHA1, &c1)), ErrorKind::AccessDenied);
    owner.create_grant(CreateGrantRequest::new(md.key_id, Principal::parse(&arn("role/worker"))?, vec![GrantOperation::Decrypt]))?;
    assert_eq!(decrypt(&worker, md.key_id, SHA1, &c1)?.plaintext.expose_secret(), b"y");
    assert_eq!(kind(encrypt(&worker, md.key_id, SHA1, b"x")), ErrorKind::AccessDenied);
    Ok(())
});

token_test!(fn rsa_encryptions_are_not_counted_against_the_gcm_limit(t) {
    // The count bounds AES-GCM IVs per material version. With an allowance of 2, a third
    // symmetric encryption rotates the key; RSA encryptions are neither counted nor reserved
    // (and an RSA key is never rotated).
    let lifecycle = lockbox::Lifecycle { max_encryptions_per_version: 2, encryption_count_block: 1, ..lockbox::Lifecycle::default() };
    let (kms, _clock) = engine_with(t, T0, lifecycle)?;
    let usage = |key: KeyId| -> Vec<(u32, bool, u64)> {
        kms.material_usage(&kms.default_caller("test"), &key.into()).unwrap().iter().map(|u| (u.version, u.current, u.encryptions)).collect()
    };
    let md = rsa_key(&kms, KeySpec::Rsa2048);
    let mut cts = Vec::new();
    for i in 0..5u8 {
        cts.push(encrypt(&kms, md.key_id, SHA256, &[i])?.ciphertext_blob);
    }
    assert_eq!(usage(md.key_id), [(1, true, 0)]);
    for (i, c) in cts.iter().enumerate() {
        assert_eq!(decrypt(&kms, md.key_id, SHA256, c)?.plaintext.expose_secret(), [i as u8]);
    }
    // The symmetric path is unchanged: the third encryption comes from a new version.
    let sym = kms.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    for _ in 0..3 {
        kms.encrypt(EncryptRequest::new(sym, pt(b"x")))?;
    }
    assert_eq!(usage(sym), [(1, false, 2), (2, true, 1)]);
    Ok(())
});

token_test!(fn ciphertexts_made_by_python_cryptography_with_the_public_key_decrypt_through_lockbox(t) {
    let kms = engine(t)?;
    for spec in [KeySpec::Rsa2048, KeySpec::Rsa3072, KeySpec::Rsa4096] {
        let md = rsa_key(&kms, spec);
        let pk = kms.get_public_key(GetPublicKeyRequest::new(md.key_id))?;
        assert_eq!((pk.key_usage, pk.encryption_algorithms.clone()), (KeyUsage::EncryptDecrypt, vec![SHA1, SHA256]));
        for alg in [SHA1, SHA256] {
            let m = format!("{spec} {alg} from cryptography");
            let c = oracle::encrypt(t.dir(), &pk.public_key, alg.as_str(), m.as_bytes())?;
            assert_eq!(c.len(), modulus_len(spec));
            let d = decrypt(&kms, md.key_id, alg, &c)?;
            assert_eq!((d.plaintext.expose_secret(), d.encryption_algorithm), (m.as_bytes(), alg));
            // And not with the other algorithm.
            let other = if alg == SHA1 { SHA256 } else { SHA1 };
            assert_eq!(kind(decrypt(&kms, md.key_id, other, &c)), ErrorKind::InvalidCiphertext);
        }
    }
    Ok(())
});
