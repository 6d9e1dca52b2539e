//! Bring your own key material through the engine (GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial, expiry), against a throwaway SoftHSM token. The material is made
//! and wrapped by Python's `cryptography`, which nobody here wrote, and the imported key is
//! checked against it: a ciphertext blob sealed outside (per docs/formats/ciphertext-blob.md)
//! decrypts, an HMAC matches, a signature verifies outside.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../lockbox-token/tests/oracle/import_material.rs"]
mod import_material;
#[path = "../../lockbox-token/tests/oracle/mod.rs"]
mod oracle;

use common::*;
use import_material::{Material, gcm, hmac, material, wrap};
use lockbox::api::*;
use lockbox_token::token_test;

const ALGORITHMS: [(AlgorithmSpec, &str); 4] = [
    (AlgorithmSpec::RsaesOaepSha1, "RSAES_OAEP_SHA_1"),
    (AlgorithmSpec::RsaesOaepSha256, "RSAES_OAEP_SHA_256"),
    (AlgorithmSpec::RsaAesKeyWrapSha1, "RSA_AES_KEY_WRAP_SHA_1"),
    (
        AlgorithmSpec::RsaAesKeyWrapSha256,
        "RSA_AES_KEY_WRAP_SHA_256",
    ),
];

fn pt(b: &[u8]) -> Plaintext {
    Plaintext::copy_from(b)
}

fn external(e: &impl Kms, spec: KeySpec, usage: Option<KeyUsage>) -> Result<KeyMetadata, KmsError> {
    let mut req = CreateKeyRequest::new()
        .with_key_spec(spec)
        .with_origin(Origin::External);
    if let Some(u) = usage {
        req = req.with_key_usage(u);
    }
    Ok(e.create_key(req)?.key_metadata)
}

fn params(
    e: &impl Kms,
    key: KeyId,
    alg: AlgorithmSpec,
) -> Result<GetParametersForImportResponse, KmsError> {
    e.get_parameters_for_import(GetParametersForImportRequest::new(
        key,
        alg,
        WrappingKeySpec::Rsa3072,
    ))
}

/// Imports `m` into `key` with `alg`, material that does not expire.
fn import(
    e: &impl Kms,
    dir: &std::path::Path,
    key: KeyId,
    alg: (AlgorithmSpec, &str),
    m: &Material,
) -> Result<Result<ImportKeyMaterialResponse, KmsError>, Box<dyn std::error::Error>> {
    let p = params(e, key, alg.0)?;
    let wrapped = wrap(dir, &p.public_key, alg.1, m)?;
    Ok(e.import_key_material(
        ImportKeyMaterialRequest::new(key, p.import_token, wrapped)
            .with_expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire),
    ))
}

/// A ciphertext blob for `key` version `version` sealed by `cryptography` with material `m`:
/// header, IV, AES-256-GCM of `plaintext` with the header and the empty context's encoding
/// (two zero bytes) as associated data.
fn outside_blob(
    m: &Material,
    key: KeyId,
    version: u32,
    plaintext: &[u8],
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut header = vec![1u8];
    header.extend_from_slice(key.as_bytes());
    header.extend_from_slice(&version.to_be_bytes());
    header.push(1);
    let iv = [0x5a; 12];
    let aad = [header.as_slice(), &[0, 0]].concat();
    let sealed = gcm(m, &iv, &aad, plaintext)?;
    Ok([header.as_slice(), &iv, &sealed].concat())
}

token_test!(fn an_external_key_waits_for_its_material_and_aws_key_state_rules_apply(t) {
    let e = engine(t)?;
    let before = e.key_objects()?.len();
    let k = external(&e, KeySpec::SymmetricDefault, None)?;
    assert_eq!(k.origin, Origin::External);
    assert_eq!(k.key_state, KeyState::PendingImport);
    assert!(!k.enabled);
    assert_eq!(k.current_key_material_id, None);
    assert_eq!(k.expiration_model, None);
    assert_eq!(e.key_objects()?.len(), before, "no material in the token");
    let x = err(e.encrypt(EncryptRequest::new(k.key_id, pt(b"x"))));
    assert_eq!(x.kind(), ErrorKind::KmsInvalidState);
    assert_eq!(x.message(), format!("{} is pending import.", k.arn));
    assert_eq!(kind(e.enable_key(EnableKeyRequest::new(k.key_id))), ErrorKind::KmsInvalidState);
    assert_eq!(kind(e.disable_key(DisableKeyRequest::new(k.key_id))), ErrorKind::KmsInvalidState);
    // Key management AWS allows on a key pending import.
    e.tag_resource(TagResourceRequest::new(k.key_id, vec![Tag::new("a", "b")?]))?;
    e.update_key_description(UpdateKeyDescriptionRequest::new(k.key_id, "waiting"))?;
    // Scheduling and cancelling deletion brings it back to PendingImport, not Disabled.
    e.schedule_key_deletion(ScheduleKeyDeletionRequest::new(k.key_id))?;
    e.cancel_key_deletion(CancelKeyDeletionRequest::new(k.key_id))?;
    assert_eq!(e.describe_key(DescribeKeyRequest::new(k.key_id))?.key_metadata.key_state, KeyState::PendingImport);
    // Import operations refuse keys whose origin is not EXTERNAL.
    let own = e.create_key(CreateKeyRequest::new())?.key_metadata;
    let x = err(params(&e, own.key_id, AlgorithmSpec::RsaesOaepSha256));
    assert_eq!(x.kind(), ErrorKind::UnsupportedOperation);
    assert_eq!(x.message(), format!("{} has origin AWS_KMS; key material can be imported only into a key with origin EXTERNAL.", own.arn));
    // Wrapping choices AWS no longer (or here never) offers.
    assert_eq!(kind(params(&e, k.key_id, AlgorithmSpec::RsaesPkcs1V15)), ErrorKind::UnsupportedOperation);
    assert_eq!(kind(e.get_parameters_for_import(GetParametersForImportRequest::new(k.key_id, AlgorithmSpec::RsaesOaepSha256, WrappingKeySpec::Sm2))), ErrorKind::UnsupportedOperation);
    Ok(())
});

token_test!(fn aes_material_wrapped_every_way_imports_and_decrypts_a_blob_sealed_outside(t) {
    let e = engine(t)?;
    for alg in ALGORITHMS {
        let k = external(&e, KeySpec::SymmetricDefault, None)?;
        let m = material(t.dir(), "AES_256", "aes.bin")?;
        let p = params(&e, k.key_id, alg.0)?;
        assert_eq!(p.key_id, k.arn);
        assert!(oracle::describe_spki(t.dir(), &p.public_key)?.starts_with("RSA 3072 "));
        let wrapped = wrap(t.dir(), &p.public_key, alg.1, &m)?;
        let done = e.import_key_material(ImportKeyMaterialRequest::new(k.key_id, p.import_token, wrapped)
            .with_expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire))?;
        assert_eq!(done.key_id, k.arn);
        assert_eq!(done.key_material_id.len(), 64);
        let md = e.describe_key(DescribeKeyRequest::new(k.key_id))?.key_metadata;
        assert_eq!(md.key_state, KeyState::Enabled, "{}", alg.1);
        assert_eq!(md.current_key_material_id.as_deref(), Some(done.key_material_id.as_str()));
        assert_eq!(md.expiration_model, Some(ExpirationModelType::KeyMaterialDoesNotExpire));
        assert_eq!(md.valid_to, None);
        let blob = outside_blob(&m, k.key_id, 1, b"sealed by cryptography")?;
        let back = e.decrypt(DecryptRequest::new(blob))?;
        assert_eq!(back.plaintext.expose_secret(), b"sealed by cryptography", "{}", alg.1);
        let c = e.encrypt(EncryptRequest::new(k.key_id, pt(b"round trip")))?.ciphertext_blob;
        assert_eq!(e.decrypt(DecryptRequest::new(c))?.plaintext.expose_secret(), b"round trip");
    }
    Ok(())
});

token_test!(fn hmac_and_key_pair_material_import_and_work_as_cryptography_expects(t) {
    let e = engine(t)?;
    let k = external(&e, KeySpec::Hmac384, Some(KeyUsage::GenerateVerifyMac))?;
    let m = material(t.dir(), "HMAC_384", "hmac.bin")?;
    import(&e, t.dir(), k.key_id, ALGORITHMS[0], &m)??;
    let mac = e.generate_mac(GenerateMacRequest::new(k.key_id, pt(b"message"), MacAlgorithm::HmacSha384))?.mac;
    assert_eq!(mac, hmac(&m, "SHA_384", b"message")?);
    for (spec, name, signing, sa, alg) in [
        (KeySpec::Rsa2048, "RSA_2048", SigningAlgorithm::RsassaPssSha256, "RSASSA_PSS_SHA_256", ALGORITHMS[3]),
        (KeySpec::EccNistP256, "ECC_NIST_P256", SigningAlgorithm::EcdsaSha256, "ECDSA_SHA_256", ALGORITHMS[2]),
        // An EC key with RSAES-OAEP alone, as AWS allows (SHA-256: decoded on the host).
        (KeySpec::EccNistP384, "ECC_NIST_P384", SigningAlgorithm::EcdsaSha384, "ECDSA_SHA_384", ALGORITHMS[1]),
        (KeySpec::EccSecgP256k1, "ECC_SECG_P256K1", SigningAlgorithm::EcdsaSha256, "ECDSA_SHA_256", ALGORITHMS[0]),
    ] {
        let k = external(&e, spec, Some(KeyUsage::SignVerify))?;
        let m = material(t.dir(), name, "pair.der")?;
        import(&e, t.dir(), k.key_id, alg, &m)??;
        let public = e.get_public_key(GetPublicKeyRequest::new(k.key_id))?.public_key;
        assert_eq!(Some(&public), m.spki.as_ref(), "{name}");
        let s = e.sign(SignRequest::new(k.key_id, pt(b"signed inside"), signing))?.signature;
        assert!(oracle::verifies(t.dir(), &public, sa, "RAW", b"signed inside", &s)?, "{name}");
        // A key pair's material cannot be replaced by other material.
        let other = material(t.dir(), name, "other.der")?;
        let x = import(&e, t.dir(), k.key_id, alg, &other)?.unwrap_err();
        assert_eq!(x.kind(), ErrorKind::IncorrectKeyMaterial, "{name}");
    }
    Ok(())
});

token_test!(fn import_tokens_are_bound_to_their_key_unaltered_and_expire(t) {
    let (e, clock) = engine_at(t, T0)?;
    let k = external(&e, KeySpec::SymmetricDefault, None)?;
    let other = external(&e, KeySpec::SymmetricDefault, None)?;
    let m = material(t.dir(), "AES_256", "aes.bin")?;
    let alg = ALGORITHMS[1];
    let p = params(&e, k.key_id, alg.0)?;
    assert_eq!(p.parameters_valid_to.unix_millis(), T0 + DAY);
    let wrapped = wrap(t.dir(), &p.public_key, alg.1, &m)?;
    let req = |token: Vec<u8>, key: KeyId| ImportKeyMaterialRequest::new(key, token, wrapped.clone())
        .with_expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire);
    // Another key's token, an altered token, a token of another form.
    let x = err(e.import_key_material(req(p.import_token.clone(), other.key_id)));
    assert_eq!(x.kind(), ErrorKind::InvalidImportToken);
    assert_eq!(x.message(), format!("The import token is invalid or is associated with a different KMS key than {}.", other.arn));
    for at in [0, 10, 30, 53, 60, 70] {
        let mut bad = p.import_token.clone();
        bad[at] ^= 1;
        assert_eq!(kind(e.import_key_material(req(bad, k.key_id))), ErrorKind::InvalidImportToken, "byte {at}");
    }
    assert_eq!(kind(e.import_key_material(req(vec![7; 40], k.key_id))), ErrorKind::InvalidImportToken);
    // Material wrapped under another key's public key does not open.
    let p2 = params(&e, other.key_id, alg.0)?;
    let foreign = wrap(t.dir(), &p2.public_key, alg.1, &m)?;
    let x = err(e.import_key_material(ImportKeyMaterialRequest::new(k.key_id, p.import_token.clone(), foreign)
        .with_expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)));
    assert_eq!((x.kind(), x.message()), (ErrorKind::InvalidCiphertext,
        "The encrypted key material could not be unwrapped with the wrapping key and algorithm of this import token (RSAES_OAEP_SHA_256)."));
    // ValidTo as AWS requires it.
    let bare = ImportKeyMaterialRequest::new(k.key_id, p.import_token.clone(), wrapped.clone());
    let x = err(e.import_key_material(bare.clone()));
    assert_eq!((x.kind(), x.message()), (ErrorKind::Validation, "A ValidTo date is required when ExpirationModel is KEY_MATERIAL_EXPIRES."));
    let x = err(e.import_key_material(bare.clone().with_expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire).with_valid_to(Timestamp::from_unix_millis(T0 + DAY))));
    assert_eq!(x.kind(), ErrorKind::Validation);
    assert_eq!(kind(e.import_key_material(bare.clone().with_valid_to(Timestamp::from_unix_millis(T0)))), ErrorKind::Validation);
    assert_eq!(kind(e.import_key_material(bare.clone().with_valid_to(Timestamp::from_unix_millis(T0 + 366 * DAY)))), ErrorKind::Validation);
    // Nothing refused left anything in the token or changed the key.
    assert_eq!(e.describe_key(DescribeKeyRequest::new(k.key_id))?.key_metadata.key_state, KeyState::PendingImport);
    let objects = e.key_objects()?.len();
    // 24 hours later the token has expired.
    clock.set(T0 + DAY);
    let x = err(e.import_key_material(req(p.import_token.clone(), k.key_id)));
    assert_eq!(x.kind(), ErrorKind::ExpiredImportToken);
    assert_eq!(e.key_objects()?.len(), objects);
    // Maintenance destroys expired wrapping pairs (two keys, two objects each), record first.
    e.maintain()?;
    assert_eq!(e.key_objects()?.len(), objects - 4);
    assert!(e.reconcile()?.orphans.is_empty());
    Ok(())
});

token_test!(fn material_expires_on_time_and_the_same_material_brings_the_key_back(t) {
    let (e, clock) = engine_at(t, T0)?;
    let k = external(&e, KeySpec::SymmetricDefault, None)?;
    let m = material(t.dir(), "AES_256", "aes.bin")?;
    let alg = ALGORITHMS[2];
    let p = params(&e, k.key_id, alg.0)?;
    let wrapped = wrap(t.dir(), &p.public_key, alg.1, &m)?;
    let valid_to = Timestamp::from_unix_millis(T0 + 2 * DAY);
    let first = e.import_key_material(ImportKeyMaterialRequest::new(k.key_id, p.import_token, wrapped)
        .with_valid_to(valid_to))?;
    let md = e.describe_key(DescribeKeyRequest::new(k.key_id))?.key_metadata;
    assert_eq!((md.key_state, md.valid_to, md.expiration_model), (KeyState::Enabled, Some(valid_to), Some(ExpirationModelType::KeyMaterialExpires)));
    let blob = e.encrypt(EncryptRequest::new(k.key_id, pt(b"kept")))?.ciphertext_blob;
    let objects = e.key_objects()?.len();
    // At ValidTo the key is unusable at once, before maintenance runs.
    clock.set(T0 + 2 * DAY);
    let x = err(e.decrypt(DecryptRequest::new(blob.clone())));
    assert_eq!((x.kind(), x.message().to_owned()), (ErrorKind::KmsInvalidState, format!("{} is pending import.", k.arn)));
    assert_eq!(e.describe_key(DescribeKeyRequest::new(k.key_id))?.key_metadata.key_state, KeyState::PendingImport);
    // Maintenance takes the material out of the token (and the expired wrapping pair: 24 h).
    let report = e.maintain()?;
    assert_eq!(report.expired, vec![k.key_id]);
    assert_eq!(e.key_objects()?.len(), objects - 3);
    // Other material is refused and leaves nothing behind.
    let other = material(t.dir(), "AES_256", "other.bin")?;
    let x = import(&e, t.dir(), k.key_id, alg, &other)?.unwrap_err();
    assert_eq!(x.kind(), ErrorKind::IncorrectKeyMaterial);
    assert_eq!(x.message(), format!("The key material is not the key material previously imported into {}.", k.arn));
    assert_eq!(e.key_objects()?.len(), objects - 3 + 2, "only the new wrapping pair");
    // The same material (another wrapping, another algorithm) restores the key and its
    // ciphertexts; the KeyMaterialId is the same.
    let again = import(&e, t.dir(), k.key_id, ALGORITHMS[0], &m)??;
    assert_eq!(again.key_material_id, first.key_material_id);
    assert_eq!(e.describe_key(DescribeKeyRequest::new(k.key_id))?.key_metadata.key_state, KeyState::Enabled);
    assert_eq!(e.decrypt(DecryptRequest::new(blob))?.plaintext.expose_secret(), b"kept");
    assert!(e.reconcile()?.orphans.is_empty());
    Ok(())
});

token_test!(fn deleting_imported_material_destroys_it_and_reimport_restores_it(t) {
    let e = engine(t)?;
    let k = external(&e, KeySpec::SymmetricDefault, None)?;
    let m = material(t.dir(), "AES_256", "aes.bin")?;
    let done = import(&e, t.dir(), k.key_id, ALGORITHMS[3], &m)??;
    let blob = e.encrypt(EncryptRequest::new(k.key_id, pt(b"kept")))?.ciphertext_blob;
    let objects = e.key_objects()?.len();
    let del = e.delete_imported_key_material(DeleteImportedKeyMaterialRequest::new(k.key_id))?;
    assert_eq!((del.key_id, del.key_material_id.as_str()), (k.arn.clone(), done.key_material_id.as_str()));
    assert_eq!(e.key_objects()?.len(), objects - 1);
    assert_eq!(e.describe_key(DescribeKeyRequest::new(k.key_id))?.key_metadata.key_state, KeyState::PendingImport);
    assert_eq!(kind(e.decrypt(DecryptRequest::new(blob.clone()))), ErrorKind::KmsInvalidState);
    // Again: no effect.
    e.delete_imported_key_material(DeleteImportedKeyMaterialRequest::new(k.key_id))?;
    assert_eq!(e.key_objects()?.len(), objects - 1);
    // Re-import by KeyMaterialId; a wrong id is refused.
    let p = params(&e, k.key_id, AlgorithmSpec::RsaesOaepSha1)?;
    let wrapped = wrap(t.dir(), &p.public_key, "RSAES_OAEP_SHA_1", &m)?;
    let req = ImportKeyMaterialRequest::new(k.key_id, p.import_token, wrapped)
        .with_expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .with_import_type(ImportType::ExistingKeyMaterial);
    assert_eq!(kind(e.import_key_material(req.clone().with_key_material_id("00".repeat(32)))), ErrorKind::IncorrectKeyMaterial);
    e.import_key_material(req.with_key_material_id(done.key_material_id.clone()))?;
    assert_eq!(e.decrypt(DecryptRequest::new(blob))?.plaintext.expose_secret(), b"kept");
    // The imported object carries invariant 1's attributes.
    for o in e.key_objects()? {
        let r = e.token().inspect(&o.id)?;
        assert!(r.token && r.private && !r.modifiable && !r.copyable, "{r:?}");
        if r.usages.contains(&"CKA_ENCRYPT") && r.is_aes {
            assert!(r.sensitive && !r.extractable);
            assert_eq!(r.value, lockbox::token::ValueAccess::Sensitive);
        }
    }
    // Importing NEW material that is already the key's is refused.
    let p = params(&e, k.key_id, AlgorithmSpec::RsaesOaepSha1)?;
    let wrapped = wrap(t.dir(), &p.public_key, "RSAES_OAEP_SHA_1", &m)?;
    let x = err(e.import_key_material(ImportKeyMaterialRequest::new(k.key_id, p.import_token, wrapped)
        .with_expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .with_import_type(ImportType::NewKeyMaterial)));
    assert_eq!(x.kind(), ErrorKind::IncorrectKeyMaterial);
    Ok(())
});

token_test!(fn a_restart_keeps_imported_keys_and_their_wrapping_pairs(t) {
    let e = engine(t)?;
    let k = external(&e, KeySpec::SymmetricDefault, None)?;
    let m = material(t.dir(), "AES_256", "aes.bin")?;
    let p = params(&e, k.key_id, AlgorithmSpec::RsaAesKeyWrapSha1)?;
    let wrapped = wrap(t.dir(), &p.public_key, "RSA_AES_KEY_WRAP_SHA_1", &m)?;
    drop(e);
    // The import token is still good after a restart (the pair is a token object).
    let e = engine(t)?;
    assert!(e.reconcile()?.orphans.is_empty());
    e.import_key_material(ImportKeyMaterialRequest::new(k.key_id, p.import_token, wrapped)
        .with_expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire))?;
    let blob = outside_blob(&m, k.key_id, 1, b"x")?;
    drop(e);
    let e = engine(t)?;
    assert_eq!(e.decrypt(DecryptRequest::new(blob))?.plaintext.expose_secret(), b"x");
    // Deleting the key destroys its material and wrapping pair.
    let before = e.key_objects()?.len();
    e.schedule_key_deletion(ScheduleKeyDeletionRequest::new(k.key_id).with_pending_window_in_days(7))?;
    drop(e);
    let (e, _) = engine_at(t, Timestamp::now().unix_millis() + 8 * DAY)?;
    e.maintain()?;
    assert_eq!(e.key_objects()?.len(), before - 3);
    Ok(())
});

token_test!(fn new_material_waits_for_rotate_key_on_demand_and_every_version_is_listed(t) {
    let e = engine(t)?;
    let k = external(&e, KeySpec::SymmetricDefault, None)?;
    let first = material(t.dir(), "AES_256", "first.bin")?;
    let id1 = import(&e, t.dir(), k.key_id, ALGORITHMS[0], &first)??.key_material_id;
    let old = e.encrypt(EncryptRequest::new(k.key_id, pt(b"old")))?.ciphertext_blob;
    let x = err(e.rotate_key_on_demand(RotateKeyOnDemandRequest::new(k.key_id)));
    assert_eq!(x.kind(), ErrorKind::KmsInvalidState);
    // New material, with a description, waits for the rotation.
    let second = material(t.dir(), "AES_256", "second.bin")?;
    let p = params(&e, k.key_id, AlgorithmSpec::RsaAesKeyWrapSha256)?;
    let wrapped = wrap(t.dir(), &p.public_key, "RSA_AES_KEY_WRAP_SHA_256", &second)?;
    let id2 = e.import_key_material(ImportKeyMaterialRequest::new(k.key_id, p.import_token, wrapped)
        .with_expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .with_import_type(ImportType::NewKeyMaterial)
        .with_key_material_description("second".into()))?.key_material_id;
    let md = e.describe_key(DescribeKeyRequest::new(k.key_id))?.key_metadata;
    assert_eq!(md.current_key_material_id.as_deref(), Some(id1.as_str()));
    let list = |include| e.list_key_rotations(ListKeyRotationsRequest::new(k.key_id).with_include_key_material(include));
    let all = list(IncludeKeyMaterial::AllKeyMaterial)?.rotations;
    let states: Vec<_> = all.iter().map(|r| (r.key_material_id.clone(), r.key_material_state, r.import_state, r.key_material_description.clone())).collect();
    assert_eq!(states, vec![
        (id1.clone(), KeyMaterialState::Current, Some(ImportState::Imported), None),
        (id2.clone(), KeyMaterialState::PendingRotation, Some(ImportState::Imported), Some("second".into())),
    ]);
    assert!(list(IncludeKeyMaterial::RotationsOnly)?.rotations.is_empty());
    // The rotation makes it current: what Encrypt seals now opens as the second material.
    let rotated = e.rotate_key_on_demand(RotateKeyOnDemandRequest::new(k.key_id))?;
    assert_eq!(rotated.key_id, k.arn);
    // It has a rotation status (on demand only): automatic rotation cannot be enabled.
    let status = e.get_key_rotation_status(GetKeyRotationStatusRequest::new(k.key_id))?;
    assert_eq!((status.key_rotation_enabled, status.rotation_period_in_days), (false, None));
    let x = err(e.enable_key_rotation(EnableKeyRotationRequest::new(k.key_id)));
    assert_eq!(x.kind(), ErrorKind::UnsupportedOperation);
    let md = e.describe_key(DescribeKeyRequest::new(k.key_id))?.key_metadata;
    assert_eq!(md.current_key_material_id.as_deref(), Some(id2.as_str()));
    let rotations = list(IncludeKeyMaterial::RotationsOnly)?.rotations;
    assert_eq!(rotations.len(), 1);
    assert_eq!((rotations[0].key_material_id.as_str(), rotations[0].key_material_state, rotations[0].rotation_type),
        (id2.as_str(), KeyMaterialState::Current, Some(RotationType::OnDemand)));
    let blob = outside_blob(&second, k.key_id, 2, b"second material")?;
    assert_eq!(e.decrypt(DecryptRequest::new(blob))?.plaintext.expose_secret(), b"second material");
    assert_eq!(e.decrypt(DecryptRequest::new(old.clone()))?.plaintext.expose_secret(), b"old");
    // Deleting the first material makes the key wait for it: old ciphertexts need it.
    e.delete_imported_key_material(DeleteImportedKeyMaterialRequest::new(k.key_id).with_key_material_id(id1.clone()))?;
    assert_eq!(e.describe_key(DescribeKeyRequest::new(k.key_id))?.key_metadata.key_state, KeyState::PendingImport);
    // ListKeyRotations says which material is missing (AWS lists keys pending import).
    let all = list(IncludeKeyMaterial::AllKeyMaterial)?.rotations;
    assert_eq!((all[0].import_state, all[1].import_state), (Some(ImportState::PendingImport), Some(ImportState::Imported)));
    import(&e, t.dir(), k.key_id, ALGORITHMS[1], &first)??;
    assert_eq!(e.decrypt(DecryptRequest::new(old))?.plaintext.expose_secret(), b"old");
    // HMAC and asymmetric keys take no new material after the first.
    let h = external(&e, KeySpec::Hmac256, Some(KeyUsage::GenerateVerifyMac))?;
    let hm = material(t.dir(), "HMAC_256", "h.bin")?;
    import(&e, t.dir(), h.key_id, ALGORITHMS[0], &hm)??;
    let p = params(&e, h.key_id, AlgorithmSpec::RsaesOaepSha1)?;
    let other = material(t.dir(), "HMAC_256", "h2.bin")?;
    let wrapped = wrap(t.dir(), &p.public_key, "RSAES_OAEP_SHA_1", &other)?;
    let x = err(e.import_key_material(ImportKeyMaterialRequest::new(h.key_id, p.import_token, wrapped)
        .with_expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .with_import_type(ImportType::NewKeyMaterial)));
    assert_eq!(x.kind(), ErrorKind::UnsupportedOperation);
    Ok(())
});

token_test!(fn a_failure_between_unwrapping_and_the_record_leaves_an_orphan_never_a_half_key(t) {
    use lockbox_store::failpoints;
    let e = engine(t)?;
    let k = external(&e, KeySpec::SymmetricDefault, None)?;
    let m = material(t.dir(), "AES_256", "aes.bin")?;
    let before = e.key_objects()?.len();
    // The process "dies" between making the wrapping pair and writing the record.
    failpoints::arm("engine.import.after_wrapping_pair");
    assert_eq!(kind(params(&e, k.key_id, AlgorithmSpec::RsaesOaepSha1)), ErrorKind::KmsInternal);
    assert_eq!(e.key_objects()?.len(), before + 2);
    // And between unwrapping the material and writing the record.
    let p = params(&e, k.key_id, AlgorithmSpec::RsaesOaepSha1)?;
    let wrapped = wrap(t.dir(), &p.public_key, "RSAES_OAEP_SHA_1", &m)?;
    let req = ImportKeyMaterialRequest::new(k.key_id, p.import_token, wrapped)
        .with_expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire);
    failpoints::arm("engine.import.after_material");
    assert_eq!(kind(e.import_key_material(req.clone())), ErrorKind::KmsInternal);
    assert_eq!(e.describe_key(DescribeKeyRequest::new(k.key_id))?.key_metadata.key_state, KeyState::PendingImport);
    // Reconciliation sees exactly the unnamed pair and material (not the named pair).
    let r = e.reconcile()?;
    assert_eq!((r.orphans.len(), r.missing.len()), (3, 0));
    // The import itself can be done again.
    e.import_key_material(req)?;
    assert_eq!(e.describe_key(DescribeKeyRequest::new(k.key_id))?.key_metadata.key_state, KeyState::Enabled);
    Ok(())
});

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

token_test!(fn the_store_never_holds_imported_material(t) {
    // Invariant 2: the record keeps fingerprints and object ids, never the material.
    let e = engine(t)?;
    let mut secrets = Vec::new();
    for (spec, usage, name) in [
        (KeySpec::SymmetricDefault, None, "AES_256"),
        (KeySpec::Hmac512, Some(KeyUsage::GenerateVerifyMac), "HMAC_512"),
        (KeySpec::EccNistP384, Some(KeyUsage::SignVerify), "ECC_NIST_P384"),
    ] {
        let k = external(&e, spec, usage)?;
        let m = material(t.dir(), name, &format!("{name}.bin"))?;
        import(&e, t.dir(), k.key_id, ALGORITHMS[3], &m)??;
        secrets.push(m.bytes);
    }
    drop(e);
    let data = t.dir().join("data");
    for f in files(&data) {
        let bytes = std::fs::read(&f)?;
        for s in &secrets {
            for piece in s.chunks(16).filter(|c| c.len() == 16) {
                assert!(!bytes.windows(16).any(|w| w == piece), "{} holds imported material", f.display());
            }
        }
    }
    Ok(())
});
