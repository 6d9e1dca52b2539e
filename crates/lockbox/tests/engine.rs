//! Every operation of the engine, and every error path, against a real SoftHSM token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Root, T0, engine, engine_at, kind};
use lockbox::api::*;
use lockbox_token::token_test;

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
}

fn alias(s: &str) -> AliasName {
    AliasName::parse(s).unwrap()
}

fn new_key(kms: &impl Kms) -> KeyId {
    kms.create_key(CreateKeyRequest::new())
        .unwrap()
        .key_metadata
        .key_id
}

fn pt(b: &[u8]) -> Plaintext {
    Plaintext::copy_from(b)
}

token_test!(fn create_key_returns_aws_shaped_metadata(t) {
    let (kms, _clock) = engine_at(t, T0)?;
    let tags = vec![Tag::new("team", "crypto")?, Tag::new("env", "test")?];
    let md = kms.create_key(CreateKeyRequest::new().with_description("first key").with_tags(tags))?.key_metadata;
    assert_eq!(md.aws_account_id, "000000000000");
    assert_eq!(md.arn.to_string(), format!("arn:aws:kms:us-east-1:000000000000:key/{}", md.key_id));
    assert_eq!(md.creation_date, Timestamp::from_unix_millis(T0));
    assert!(md.enabled);
    assert_eq!(md.description, "first key");
    assert_eq!(md.key_usage, KeyUsage::EncryptDecrypt);
    assert_eq!(md.key_state, KeyState::Enabled);
    assert_eq!(md.key_spec, KeySpec::SymmetricDefault);
    assert_eq!(md.origin, Origin::AwsKms);
    assert_eq!(md.key_manager, KeyManager::Customer);
    assert_eq!(md.encryption_algorithms, [EncryptionAlgorithm::SymmetricDefault]);
    assert_eq!((md.deletion_date, md.pending_deletion_window_in_days, md.multi_region), (None, None, false));
    let tags = kms.list_resource_tags(ListResourceTagsRequest::new(md.key_id))?.tags;
    let tags: Vec<_> = tags.iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("env", "test"), ("team", "crypto")]);

    // DescribeKey takes all four forms of key reference.
    kms.create_alias(AliasRequest::new(alias("alias/first"), md.key_id))?;
    for r in [
        md.key_id.to_string(),
        md.arn.to_string(),
        "alias/first".to_owned(),
        "arn:aws:kms:us-east-1:000000000000:alias/first".to_owned(),
    ] {
        let d = kms.describe_key(DescribeKeyRequest::new(KeyRef::parse(&r)?))?.key_metadata;
        assert_eq!(d, md, "{r}");
    }
    Ok(())
});

token_test!(fn create_key_enforces_the_model(t) {
    let kms = engine(t)?;
    assert_eq!(kind(kms.create_key(CreateKeyRequest::new().with_description(&"d".repeat(8193)))), ErrorKind::Validation);
    kms.create_key(CreateKeyRequest::new().with_description(&"d".repeat(8192)))?;
    assert_eq!(kind(kms.create_key(CreateKeyRequest::new().with_key_spec(KeySpec::Rsa2048))), ErrorKind::Validation);
    assert_eq!(kind(kms.create_key(CreateKeyRequest::new().with_key_spec(KeySpec::MlDsa65).with_key_usage(KeyUsage::SignVerify))), ErrorKind::UnsupportedOperation);
    assert_eq!(kind(kms.create_key(CreateKeyRequest::new().with_key_usage(KeyUsage::SignVerify))), ErrorKind::Validation);
    assert_eq!(kind(kms.create_key(CreateKeyRequest::new().with_origin(Origin::AwsCloudhsm))), ErrorKind::UnsupportedOperation);
    // EXTERNAL keys wait for imported material (tests/import.rs).
    assert_eq!(kms.create_key(CreateKeyRequest::new().with_origin(Origin::External))?.key_metadata.key_state, KeyState::PendingImport);
    let dup = vec![Tag::new("a", "1")?, Tag::new("a", "2")?];
    assert_eq!(kind(kms.create_key(CreateKeyRequest::new().with_tags(dup))), ErrorKind::Tag);
    let many: Vec<_> = (0..51).map(|i| Tag::new(format!("k{i}"), "v").unwrap()).collect();
    assert_eq!(kind(kms.create_key(CreateKeyRequest::new().with_tags(many[..51].to_vec()))), ErrorKind::Tag);
    kms.create_key(CreateKeyRequest::new().with_tags(many[..50].to_vec()))?;
    // The refused requests left nothing behind: three keys (one waiting for imported
    // material), two token objects.
    assert_eq!(kms.list_keys(ListKeysRequest::new())?.keys.len(), 3);
    assert_eq!(kms.key_objects()?.len(), 2);
    Ok(())
});

token_test!(fn list_keys_pages_with_markers(t) {
    let kms = engine(t)?;
    let mut ids: Vec<_> = (0..5).map(|_| new_key(&kms)).collect();
    ids.sort();
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let mut req = ListKeysRequest::new().with_limit(2);
        req.marker = marker.clone();
        let page = kms.list_keys(req)?;
        assert!(page.keys.len() <= 2);
        for k in &page.keys {
            assert_eq!(k.key_arn.key_id(), k.key_id);
        }
        seen.extend(page.keys.iter().map(|k| k.key_id));
        assert_eq!(page.truncated, page.next_marker.is_some());
        match page.next_marker {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, ids);
    assert_eq!(kms.list_keys(ListKeysRequest::new())?.keys.len(), 5);
    assert_eq!(kind(kms.list_keys(ListKeysRequest::new().with_marker("bogus".into()))), ErrorKind::InvalidMarker);
    assert_eq!(kind(kms.list_keys(ListKeysRequest::new().with_limit(0))), ErrorKind::Validation);
    assert_eq!(kind(kms.list_keys(ListKeysRequest::new().with_limit(1001))), ErrorKind::Validation);
    Ok(())
});

token_test!(fn update_key_description(t) {
    let kms = engine(t)?;
    let id = new_key(&kms);
    kms.update_key_description(UpdateKeyDescriptionRequest::new(id, "new words"))?;
    assert_eq!(kms.describe_key(DescribeKeyRequest::new(id))?.key_metadata.description, "new words");
    assert_eq!(kind(kms.update_key_description(UpdateKeyDescriptionRequest::new(id, "x".repeat(8193)))), ErrorKind::Validation);
    kms.create_alias(AliasRequest::new(alias("alias/k"), id))?;
    assert_eq!(kind(kms.update_key_description(UpdateKeyDescriptionRequest::new(alias("alias/k"), "x"))), ErrorKind::NotFound);
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest::new(id))?;
    assert_eq!(kind(kms.update_key_description(UpdateKeyDescriptionRequest::new(id, "x"))), ErrorKind::KmsInvalidState);
    assert_eq!(kms.describe_key(DescribeKeyRequest::new(id))?.key_metadata.description, "new words");
    Ok(())
});

token_test!(fn disabled_keys_refuse_cryptography_until_enabled(t) {
    let kms = engine(t)?;
    let id = new_key(&kms);
    let blob = kms.encrypt(EncryptRequest::new(id, pt(b"hello")))?.ciphertext_blob;
    kms.disable_key(DisableKeyRequest::new(id))?;
    let md = kms.describe_key(DescribeKeyRequest::new(id))?.key_metadata;
    assert_eq!((md.key_state, md.enabled), (KeyState::Disabled, false));
    assert_eq!(kind(kms.encrypt(EncryptRequest::new(id, pt(b"hello")))), ErrorKind::Disabled);
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(blob.clone()))), ErrorKind::Disabled);
    assert_eq!(kind(kms.generate_data_key(GenerateDataKeyRequest::new(id, DataKeySpec::Aes256))), ErrorKind::Disabled);
    assert_eq!(kind(kms.generate_data_key_without_plaintext(GenerateDataKeyRequest::new(id, DataKeySpec::Aes256))), ErrorKind::Disabled);
    let other = new_key(&kms);
    assert_eq!(kind(kms.re_encrypt(ReEncryptRequest::new(blob.clone(), other))), ErrorKind::Disabled);
    let other_blob = kms.encrypt(EncryptRequest::new(other, pt(b"x")))?.ciphertext_blob;
    assert_eq!(kind(kms.re_encrypt(ReEncryptRequest::new(other_blob, id))), ErrorKind::Disabled);
    let err = kms.encrypt(EncryptRequest::new(id, pt(b"x"))).err().unwrap();
    assert_eq!(err.message(), format!("{} is disabled.", md.arn));
    // Disabling twice is fine; so is enabling twice.
    kms.disable_key(DisableKeyRequest::new(id))?;
    kms.enable_key(EnableKeyRequest::new(id))?;
    kms.enable_key(EnableKeyRequest::new(id))?;
    assert_eq!(kms.decrypt(DecryptRequest::new(blob))?.plaintext.expose_secret(), b"hello");
    assert_eq!(kind(kms.disable_key(DisableKeyRequest::new(KeyRef::parse("alias/none")?))), ErrorKind::NotFound);
    Ok(())
});

token_test!(fn deletion_is_scheduled_gated_and_cancelled(t) {
    let (kms, _clock) = engine_at(t, T0)?;
    let id = new_key(&kms);
    let blob = kms.encrypt(EncryptRequest::new(id, pt(b"hello")))?.ciphertext_blob;
    for bad in [0, 6, 31, 365] {
        assert_eq!(kind(kms.schedule_key_deletion(ScheduleKeyDeletionRequest::new(id).with_pending_window_in_days(bad))), ErrorKind::Validation, "{bad}");
    }
    let s = kms.schedule_key_deletion(ScheduleKeyDeletionRequest::new(id))?;
    assert_eq!(s.pending_window_in_days, 30);
    assert_eq!(s.key_state, KeyState::PendingDeletion);
    assert_eq!(s.deletion_date, Some(Timestamp::from_unix_millis(T0 + 30 * 86_400_000)));
    assert_eq!(s.key_id.key_id(), id);
    let md = kms.describe_key(DescribeKeyRequest::new(id))?.key_metadata;
    assert_eq!((md.key_state, md.enabled, md.deletion_date, md.pending_deletion_window_in_days), (KeyState::PendingDeletion, false, s.deletion_date, Some(30)));

    assert_eq!(kind(kms.encrypt(EncryptRequest::new(id, pt(b"x")))), ErrorKind::KmsInvalidState);
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(blob.clone()))), ErrorKind::KmsInvalidState);
    assert_eq!(kind(kms.generate_data_key(GenerateDataKeyRequest::new(id, DataKeySpec::Aes256))), ErrorKind::KmsInvalidState);
    assert_eq!(kind(kms.enable_key(EnableKeyRequest::new(id))), ErrorKind::KmsInvalidState);
    assert_eq!(kind(kms.disable_key(DisableKeyRequest::new(id))), ErrorKind::KmsInvalidState);
    assert_eq!(kind(kms.schedule_key_deletion(ScheduleKeyDeletionRequest::new(id))), ErrorKind::KmsInvalidState);
    assert_eq!(kind(kms.create_alias(AliasRequest::new(alias("alias/late"), id))), ErrorKind::KmsInvalidState);
    assert_eq!(kind(kms.tag_resource(TagResourceRequest::new(id, vec![Tag::new("a", "b")?]))), ErrorKind::KmsInvalidState);
    assert_eq!(kind(kms.untag_resource(UntagResourceRequest::new(id, vec!["a".into()]))), ErrorKind::KmsInvalidState);
    // Reading still works in every state.
    kms.list_resource_tags(ListResourceTagsRequest::new(id))?;

    let c = kms.cancel_key_deletion(CancelKeyDeletionRequest::new(id))?;
    assert_eq!(c.key_id.key_id(), id);
    let md = kms.describe_key(DescribeKeyRequest::new(id))?.key_metadata;
    assert_eq!((md.key_state, md.deletion_date, md.pending_deletion_window_in_days), (KeyState::Disabled, None, None));
    assert_eq!(kind(kms.cancel_key_deletion(CancelKeyDeletionRequest::new(id))), ErrorKind::KmsInvalidState);
    kms.enable_key(EnableKeyRequest::new(id))?;
    assert_eq!(kms.decrypt(DecryptRequest::new(blob))?.plaintext.expose_secret(), b"hello");

    let s = kms.schedule_key_deletion(ScheduleKeyDeletionRequest::new(id).with_pending_window_in_days(7))?;
    assert_eq!(s.deletion_date, Some(Timestamp::from_unix_millis(T0 + 7 * 86_400_000)));
    Ok(())
});

token_test!(fn aliases_create_update_delete_list(t) {
    let kms = engine(t)?;
    let (a, b) = (new_key(&kms), new_key(&kms));
    kms.create_alias(AliasRequest::new(alias("alias/app"), a))?;
    assert_eq!(kind(kms.create_alias(AliasRequest::new(alias("alias/app"), b))), ErrorKind::AlreadyExists);
    assert_eq!(kind(kms.create_alias(AliasRequest::new(alias("alias/aws/ebs"), a))), ErrorKind::InvalidAliasName);
    assert_eq!(kind(kms.update_alias(AliasRequest::new(alias("alias/aws/ebs"), a))), ErrorKind::InvalidAliasName);
    let unknown = KeyId::from_random_bytes([1; 16]);
    assert_eq!(kind(kms.create_alias(AliasRequest::new(alias("alias/x"), unknown))), ErrorKind::NotFound);
    assert_eq!(kind(kms.create_alias(AliasRequest::new(alias("alias/x"), KeyRef::parse("alias/app")?))), ErrorKind::NotFound);

    let via = |r: &str| kms.encrypt(EncryptRequest::new(KeyRef::parse(r).unwrap(), pt(b"x"))).map(|o| o.key_id.key_id());
    assert_eq!(via("alias/app")?, a);
    assert_eq!(via("arn:aws:kms:us-east-1:000000000000:alias/app")?, a);
    assert_eq!(kind(via("alias/unknown")), ErrorKind::NotFound);
    assert_eq!(kind(via("arn:aws:kms:eu-west-1:000000000000:alias/app")), ErrorKind::NotFound);
    assert_eq!(kind(via(&format!("arn:aws:kms:us-east-1:111122223333:key/{a}"))), ErrorKind::NotFound);

    kms.update_alias(AliasRequest::new(alias("alias/app"), b))?;
    assert_eq!(via("alias/app")?, b);
    assert_eq!(kind(kms.update_alias(AliasRequest::new(alias("alias/none"), b))), ErrorKind::NotFound);
    assert_eq!(kind(kms.update_alias(AliasRequest::new(alias("alias/app"), unknown))), ErrorKind::NotFound);

    kms.create_alias(AliasRequest::new(alias("alias/a2"), a))?;
    kms.create_alias(AliasRequest::new(alias("alias/a3"), a))?;
    let all = kms.list_aliases(ListAliasesRequest::new())?;
    let names: Vec<_> = all.aliases.iter().map(|e| e.alias_name.to_string()).collect();
    assert_eq!(names, ["alias/a2", "alias/a3", "alias/app"]);
    assert_eq!(all.aliases[2].target_key_id, b);
    assert_eq!(all.aliases[2].alias_arn.to_string(), "arn:aws:kms:us-east-1:000000000000:alias/app");
    let of_a = kms.list_aliases(ListAliasesRequest::new().with_key_id(a.into()))?;
    assert_eq!(of_a.aliases.len(), 2);
    let page = kms.list_aliases(ListAliasesRequest::new().with_limit(1))?;
    assert!(page.truncated);
    let rest = kms.list_aliases(ListAliasesRequest::new().with_marker(page.next_marker.unwrap()))?;
    assert_eq!(rest.aliases.len(), 2);
    assert!(!rest.truncated);
    assert_eq!(kind(kms.list_aliases(ListAliasesRequest::new().with_marker("not an alias".into()))), ErrorKind::InvalidMarker);
    assert_eq!(kind(kms.list_aliases(ListAliasesRequest::new().with_limit(101))), ErrorKind::Validation);
    assert_eq!(kind(kms.list_aliases(ListAliasesRequest::new().with_key_id(unknown.into()))), ErrorKind::NotFound);

    kms.delete_alias(DeleteAliasRequest::new(alias("alias/app")))?;
    assert_eq!(kind(kms.delete_alias(DeleteAliasRequest::new(alias("alias/app")))), ErrorKind::NotFound);
    assert_eq!(kind(via("alias/app")), ErrorKind::NotFound);
    // DeleteAlias works whatever the target's state.
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest::new(a))?;
    kms.delete_alias(DeleteAliasRequest::new(alias("alias/a2")))?;
    assert_eq!(kind(kms.update_alias(AliasRequest::new(alias("alias/a3"), a))), ErrorKind::KmsInvalidState);
    Ok(())
});

token_test!(fn tags_are_added_overwritten_removed_and_paged(t) {
    let kms = engine(t)?;
    let id = new_key(&kms);
    kms.tag_resource(TagResourceRequest::new(id, vec![Tag::new("b", "1")?, Tag::new("a", "1")?]))?;
    kms.tag_resource(TagResourceRequest::new(id, vec![Tag::new("b", "2")?, Tag::new("c", "3")?]))?;
    let all = kms.list_resource_tags(ListResourceTagsRequest::new(id))?;
    let pairs: Vec<_> = all.tags.iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
    assert_eq!(pairs, [("a".into(), "1".into()), ("b".into(), "2".into()), ("c".into(), "3".into())] as [(String, String); 3]);
    let p1 = kms.list_resource_tags(ListResourceTagsRequest::new(id).with_limit(2))?;
    assert_eq!((p1.tags.len(), p1.truncated), (2, true));
    let p2 = kms.list_resource_tags(ListResourceTagsRequest::new(id).with_marker(p1.next_marker.unwrap()))?;
    assert_eq!((p2.tags.len(), p2.truncated, p2.tags[0].key()), (1, false, "c"));
    assert_eq!(kind(kms.list_resource_tags(ListResourceTagsRequest::new(id).with_marker("99".into()))), ErrorKind::InvalidMarker);
    assert_eq!(kind(kms.list_resource_tags(ListResourceTagsRequest::new(id).with_limit(51))), ErrorKind::Validation);

    kms.untag_resource(UntagResourceRequest::new(id, vec!["a".into(), "zz".into()]))?;
    assert_eq!(kms.list_resource_tags(ListResourceTagsRequest::new(id))?.tags.len(), 2);
    assert_eq!(kind(kms.untag_resource(UntagResourceRequest::new(id, vec!["aws:x".into()]))), ErrorKind::Tag);
    assert_eq!(kind(kms.tag_resource(TagResourceRequest::new(id, vec![Tag::new("d", "1")?, Tag::new("d", "2")?]))), ErrorKind::Tag);
    let many: Vec<_> = (0..49).map(|i| Tag::new(format!("k{i}"), "v").unwrap()).collect();
    assert_eq!(kind(kms.tag_resource(TagResourceRequest::new(id, many))), ErrorKind::Tag);
    assert_eq!(kind(kms.untag_resource(UntagResourceRequest::new(id, vec!["AWS:x".into()]))), ErrorKind::Tag);
    assert_eq!(kms.list_resource_tags(ListResourceTagsRequest::new(id))?.tags.len(), 2, "a refused request changes nothing");
    Ok(())
});

token_test!(fn encrypt_decrypt_with_context(t) {
    let kms = engine(t)?;
    let id = new_key(&kms);
    let c = ctx(&[("purpose", "test"), ("tenant", "a")]);
    let out = kms.encrypt(EncryptRequest::new(id, pt(b"secret")).with_encryption_context(c.clone()))?;
    assert_eq!(out.key_id.key_id(), id);
    assert_eq!(out.encryption_algorithm, EncryptionAlgorithm::SymmetricDefault);
    assert_eq!(out.ciphertext_blob.len(), 22 + 12 + 6 + 16);
    let back = kms.decrypt(DecryptRequest::new(out.ciphertext_blob.clone()).with_encryption_context(ctx(&[("tenant", "a"), ("purpose", "test")])))?;
    assert_eq!(back.plaintext.expose_secret(), b"secret");
    assert_eq!(back.key_id.key_id(), id);
    kms.create_alias(AliasRequest::new(alias("alias/k"), id))?;
    let with_key = kms.decrypt(DecryptRequest::new(out.ciphertext_blob.clone()).with_encryption_context(c.clone()).with_key_id(KeyRef::parse("alias/k")?))?;
    assert_eq!(with_key.plaintext.expose_secret(), b"secret");

    for wrong in [ctx(&[]), ctx(&[("purpose", "test")]), ctx(&[("purpose", "test"), ("tenant", "b")]), ctx(&[("purpose", "test"), ("tenant", "a"), ("x", "")])] {
        assert_eq!(kind(kms.decrypt(DecryptRequest::new(out.ciphertext_blob.clone()).with_encryption_context(wrong))), ErrorKind::InvalidCiphertext);
    }
    // Equal plaintexts encrypt differently.
    let again = kms.encrypt(EncryptRequest::new(id, pt(b"secret")).with_encryption_context(c))?;
    assert_ne!(again.ciphertext_blob, out.ciphertext_blob);
    Ok(())
});

token_test!(fn plaintext_limits(t) {
    let kms = engine(t)?;
    let id = new_key(&kms);
    assert_eq!(kind(kms.encrypt(EncryptRequest::new(id, pt(&[0; 4097])))), ErrorKind::Validation);
    assert_eq!(kind(kms.encrypt(EncryptRequest::new(id, pt(&[])))), ErrorKind::Validation);
    let big = kms.encrypt(EncryptRequest::new(id, pt(&[7; 4096])))?;
    assert_eq!(big.ciphertext_blob.len(), 4096 + 50);
    assert_eq!(kms.decrypt(DecryptRequest::new(big.ciphertext_blob))?.plaintext.expose_secret(), &[7; 4096][..]);
    let one = kms.encrypt(EncryptRequest::new(id, pt(&[1])))?;
    assert_eq!(kms.decrypt(DecryptRequest::new(one.ciphertext_blob))?.plaintext.expose_secret(), [1]);
    // The message names the limit, never the plaintext.
    let e = kms.encrypt(EncryptRequest::new(id, pt(&[b'Z'; 4097]))).err().unwrap();
    assert!(e.message().contains("4096") && !e.message().contains("ZZZ"), "{}", e.message());
    Ok(())
});

token_test!(fn every_flipped_bit_and_every_truncation_is_one_opaque_error(t) {
    let kms = engine(t)?;
    let id = new_key(&kms);
    let c = ctx(&[("k", "v")]);
    let blob = kms.encrypt(EncryptRequest::new(id, pt(b"0123456789")).with_encryption_context(c.clone()))?.ciphertext_blob;
    for bit in 0..blob.len() * 8 {
        let mut bad = blob.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let err = kms.decrypt(DecryptRequest::new(bad).with_encryption_context(c.clone())).err().expect("a flipped bit decrypted");
        assert_eq!((err.kind(), err.message()), (ErrorKind::InvalidCiphertext, INVALID_CIPHERTEXT_MESSAGE), "bit {bit}");
    }
    for len in 1..blob.len() {
        let err = kms.decrypt(DecryptRequest::new(blob[..len].to_vec()).with_encryption_context(c.clone())).err().expect("a truncated blob decrypted");
        assert_eq!((err.kind(), err.message()), (ErrorKind::InvalidCiphertext, INVALID_CIPHERTEXT_MESSAGE), "length {len}");
    }
    let mut longer = blob.clone();
    longer.push(0);
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(longer).with_encryption_context(c.clone()))), ErrorKind::InvalidCiphertext);
    // Foreign blobs: random bytes, another format version, an AWS-looking blob.
    let mut random = vec![0u8; 200];
    for (i, b) in random.iter_mut().enumerate() { *b = (i * 37 % 251) as u8; }
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(random))), ErrorKind::InvalidCiphertext);
    let mut v2 = blob.clone();
    v2[0] = 2;
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(v2))), ErrorKind::InvalidCiphertext);
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(vec![1, 2, 2, 0, 120]))), ErrorKind::InvalidCiphertext);
    // Size limits of the model are validation errors.
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(vec![]))), ErrorKind::Validation);
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(vec![1; 6145]))), ErrorKind::Validation);
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(vec![1; 6144]))), ErrorKind::InvalidCiphertext);
    // And the untouched blob still decrypts.
    kms.decrypt(DecryptRequest::new(blob).with_encryption_context(c))?;
    Ok(())
});

token_test!(fn key_kind_refusals_keep_their_exact_messages(t) {
    // CreateKey's and Encrypt's refusals come from the key kind now; their words do not change.
    let kms = engine(t)?;
    let msg = |r: Result<CreateKeyResponse, KmsError>| { let e = r.unwrap_err(); (e.kind(), e.message().to_owned()) };
    // Every kind but symmetric encryption needs KeyUsage, as in AWS.
    for spec in [KeySpec::EccNistP256, KeySpec::Rsa2048, KeySpec::Hmac256] {
        assert_eq!(msg(kms.create_key(CreateKeyRequest::new().with_key_spec(spec))),
            (ErrorKind::Validation, format!("You must specify a KeyUsage value for a KMS key with KeySpec {spec}; only symmetric encryption keys have a default (ENCRYPT_DECRYPT).")));
    }
    assert_eq!(msg(kms.create_key(CreateKeyRequest::new().with_key_spec(KeySpec::EccSecgP256k1).with_key_usage(KeyUsage::KeyAgreement))),
        (ErrorKind::Validation, "KeyUsage KEY_AGREEMENT is not compatible with KeySpec ECC_SECG_P256K1.".to_owned()));
    assert_eq!(msg(kms.create_key(CreateKeyRequest::new().with_key_spec(KeySpec::Sm2).with_key_usage(KeyUsage::SignVerify))),
        (ErrorKind::UnsupportedOperation, "KeySpec SM2 is not supported yet: it needs an SM2 mechanism (PKCS#11 has only vendor-defined ones), which Lockbox does not use; SYMMETRIC_DEFAULT, RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, HMAC_224, HMAC_256, HMAC_384, HMAC_512 are.".to_owned()));
    assert_eq!(msg(kms.create_key(CreateKeyRequest::new().with_key_usage(KeyUsage::GenerateVerifyMac))),
        (ErrorKind::Validation, "KeyUsage GENERATE_VERIFY_MAC is not compatible with KeySpec SYMMETRIC_DEFAULT.".to_owned()));
    let md = kms.create_key(CreateKeyRequest::new())?.key_metadata;
    assert_eq!(md.encryption_algorithms, [EncryptionAlgorithm::SymmetricDefault]);
    let e = kms.encrypt(EncryptRequest::new(md.key_id, pt(b"x")).with_encryption_algorithm(EncryptionAlgorithm::RsaesOaepSha256)).unwrap_err();
    assert_eq!((e.kind(), e.message()), (ErrorKind::InvalidKeyUsage,
        format!("{} is a symmetric key; the encryption algorithm RSAES_OAEP_SHA_256 is not valid for it.", md.arn).as_str()));
    Ok(())
});

token_test!(fn a_blob_decrypted_with_another_keys_id_is_incorrect_key(t) {
    let kms = engine(t)?;
    let (a, b) = (new_key(&kms), new_key(&kms));
    let blob = kms.encrypt(EncryptRequest::new(a, pt(b"x")))?.ciphertext_blob;
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(blob.clone()).with_key_id(b.into()))), ErrorKind::IncorrectKey);
    kms.create_alias(AliasRequest::new(alias("alias/b"), b))?;
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(blob.clone()).with_key_id(KeyRef::parse("alias/b")?))), ErrorKind::IncorrectKey);
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(blob.clone()).with_key_id(KeyRef::parse("alias/missing")?))), ErrorKind::NotFound);
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(blob.clone()).with_encryption_algorithm(EncryptionAlgorithm::RsaesOaepSha256))), ErrorKind::InvalidKeyUsage);
    assert_eq!(kind(kms.encrypt(EncryptRequest::new(a, pt(b"x")).with_encryption_algorithm(EncryptionAlgorithm::RsaesOaepSha1))), ErrorKind::InvalidKeyUsage);
    kms.decrypt(DecryptRequest::new(blob).with_key_id(a.into()))?;
    Ok(())
});

token_test!(fn re_encrypt_moves_a_ciphertext_between_keys_and_contexts(t) {
    let kms = engine(t)?;
    let (a, b) = (new_key(&kms), new_key(&kms));
    let blob = kms.encrypt(EncryptRequest::new(a, pt(b"moving")).with_encryption_context(ctx(&[("v", "1")])))?.ciphertext_blob;
    let moved = kms.re_encrypt(
        ReEncryptRequest::new(blob.clone(), b)
            .with_source_encryption_context(ctx(&[("v", "1")]))
            .with_destination_encryption_context(ctx(&[("v", "2")])),
    )?;
    assert_eq!((moved.source_key_id.key_id(), moved.key_id.key_id()), (a, b));
    assert_eq!(moved.destination_encryption_algorithm, EncryptionAlgorithm::SymmetricDefault);
    let back = kms.decrypt(DecryptRequest::new(moved.ciphertext_blob.clone()).with_encryption_context(ctx(&[("v", "2")])))?;
    assert_eq!((back.key_id.key_id(), back.plaintext.expose_secret()), (b, &b"moving"[..]));
    assert_eq!(kind(kms.decrypt(DecryptRequest::new(moved.ciphertext_blob).with_encryption_context(ctx(&[("v", "1")])))), ErrorKind::InvalidCiphertext);
    // Same key, new context.
    let rotated = kms.re_encrypt(ReEncryptRequest::new(blob.clone(), a).with_source_encryption_context(ctx(&[("v", "1")])))?;
    assert_eq!(kms.decrypt(DecryptRequest::new(rotated.ciphertext_blob))?.plaintext.expose_secret(), b"moving");
    assert_eq!(kind(kms.re_encrypt(ReEncryptRequest::new(blob.clone(), b))), ErrorKind::InvalidCiphertext);
    assert_eq!(kind(kms.re_encrypt(ReEncryptRequest::new(blob.clone(), b).with_source_encryption_context(ctx(&[("v", "1")])).with_source_key_id(b.into()))), ErrorKind::IncorrectKey);
    assert_eq!(kind(kms.re_encrypt(ReEncryptRequest::new(blob, KeyRef::parse("alias/none")?))), ErrorKind::NotFound);
    Ok(())
});

token_test!(fn data_keys_by_spec_and_by_length(t) {
    let kms = engine(t)?;
    let id = new_key(&kms);
    let c = ctx(&[("file", "a.txt")]);
    for (size, len) in [
        (DataKeySize::Spec(DataKeySpec::Aes256), 32),
        (DataKeySize::Spec(DataKeySpec::Aes128), 16),
        (DataKeySize::from_parts(Some(1), None)?, 1),
        (DataKeySize::from_parts(Some(1024), None)?, 1024),
    ] {
        let dk = kms.generate_data_key(GenerateDataKeyRequest::new(id, size).with_encryption_context(c.clone()))?;
        assert_eq!(dk.plaintext.len(), len);
        assert_eq!(dk.key_id.key_id(), id);
        let back = kms.decrypt(DecryptRequest::new(dk.ciphertext_blob.clone()).with_encryption_context(c.clone()))?;
        assert_eq!(back.plaintext.expose_secret(), dk.plaintext.expose_secret());
        assert_eq!(kind(kms.decrypt(DecryptRequest::new(dk.ciphertext_blob))), ErrorKind::InvalidCiphertext);
    }
    let a = kms.generate_data_key(GenerateDataKeyRequest::new(id, DataKeySpec::Aes256))?;
    let b = kms.generate_data_key(GenerateDataKeyRequest::new(id, DataKeySpec::Aes256))?;
    assert_ne!(a.plaintext.expose_secret(), b.plaintext.expose_secret());
    let np = kms.generate_data_key_without_plaintext(GenerateDataKeyRequest::new(id, DataKeySpec::Aes128).with_encryption_context(c.clone()))?;
    assert_eq!(np.key_id.key_id(), id);
    assert_eq!(kms.decrypt(DecryptRequest::new(np.ciphertext_blob).with_encryption_context(c))?.plaintext.len(), 16);
    for (n, spec) in [(Some(0), None), (Some(1025), None), (Some(-1), None), (Some(32), Some(DataKeySpec::Aes256)), (None, None)] {
        assert_eq!(kind(DataKeySize::from_parts(n, spec)), ErrorKind::Validation);
    }
    assert_eq!(kind(kms.generate_data_key(GenerateDataKeyRequest::new(KeyRef::parse("alias/none")?, DataKeySpec::Aes256))), ErrorKind::NotFound);
    Ok(())
});

token_test!(fn generate_random(t) {
    let kms = engine(t)?;
    for n in [1, 32, 1024] {
        let r = kms.generate_random(GenerateRandomRequest::new(NumberOfBytes::new(n)?))?;
        assert_eq!(r.plaintext.len(), n as usize);
    }
    let a = kms.generate_random(GenerateRandomRequest::new(NumberOfBytes::new(32)?))?;
    let b = kms.generate_random(GenerateRandomRequest::new(NumberOfBytes::new(32)?))?;
    assert_ne!(a.plaintext.expose_secret(), b.plaintext.expose_secret());
    assert_eq!(kind(NumberOfBytes::new(0)), ErrorKind::Validation);
    assert_eq!(kind(NumberOfBytes::new(1025)), ErrorKind::Validation);
    Ok(())
});

token_test!(fn everything_survives_reopening(t) {
    let (id, blob) = {
        let kms = engine(t)?;
        let id = new_key(&kms);
        kms.create_alias(AliasRequest::new(alias("alias/durable"), id))?;
        kms.tag_resource(TagResourceRequest::new(id, vec![Tag::new("a", "b")?]))?;
        kms.disable_key(DisableKeyRequest::new(id))?;
        kms.enable_key(EnableKeyRequest::new(id))?;
        let blob = kms.encrypt(EncryptRequest::new(KeyRef::parse("alias/durable")?, pt(b"kept")))?.ciphertext_blob;
        (id, blob)
    };
    let kms = engine(t)?;
    assert_eq!(kms.decrypt(DecryptRequest::new(blob))?.plaintext.expose_secret(), b"kept");
    assert_eq!(kms.list_aliases(ListAliasesRequest::new())?.aliases[0].target_key_id, id);
    assert_eq!(kms.list_resource_tags(ListResourceTagsRequest::new(id))?.tags.len(), 1);
    Ok(())
});

token_test!(fn the_engine_serves_many_threads(t) {
    let kms = std::sync::Arc::new(engine(t)?);
    let id = new_key(&*kms);
    let workers: Vec<_> = (0..4).map(|w| {
        let kms = kms.clone();
        std::thread::spawn(move || -> Result<(), KmsError> {
            for i in 0..100 {
                let msg = format!("worker {w} message {i}");
                let c = EncryptionContext::from_pairs([("w", w.to_string())])?;
                let blob = kms.encrypt(EncryptRequest::new(id, Plaintext::copy_from(msg.as_bytes())).with_encryption_context(c.clone()))?.ciphertext_blob;
                let back = kms.decrypt(DecryptRequest::new(blob).with_encryption_context(c))?;
                assert_eq!(back.plaintext.expose_secret(), msg.as_bytes());
                if i % 25 == 0 {
                    kms.tag_resource(TagResourceRequest::new(id, vec![Tag::new(format!("w{w}"), i.to_string())?]))?;
                }
            }
            Ok(())
        })
    }).collect();
    for w in workers {
        w.join().map_err(|_| "worker panicked")??;
    }
    assert_eq!(kms.list_resource_tags(ListResourceTagsRequest::new(id))?.tags.len(), 4);
    Ok(())
});

token_test!(
    /// Invariant 3: material first, record second, and a failed CreateKey never leaves a
    /// record that names missing material (it may leave an orphan object).
    fn a_failed_create_key_never_leaves_a_record_without_material(t) {
        use lockbox_store::failpoints;
        let kms = engine(t)?;
        let consistent = |kms: &Root| -> Result<usize, KmsError> {
            let keys = kms.list_keys(ListKeysRequest::new())?.keys;
            for k in &keys {
                kms.encrypt(EncryptRequest::new(k.key_id, pt(b"still usable")))?;
            }
            Ok(keys.len())
        };
        // The record is never written: the material is destroyed again.
        failpoints::arm("store.put_key.before_insert");
        assert_eq!(kind(kms.create_key(CreateKeyRequest::new())), ErrorKind::KmsInternal);
        assert_eq!((consistent(&kms)?, kms.key_objects()?.len()), (0, 0));
        // Written but not flushed: the record is removed first, then the material destroyed.
        failpoints::arm("store.commit.before_flush");
        assert_eq!(kind(kms.create_key(CreateKeyRequest::new())), ErrorKind::KmsInternal);
        assert_eq!((consistent(&kms)?, kms.key_objects()?.len()), (0, 0));
        // Written, and removing it fails too: the material must stay.
        failpoints::arm("store.commit.before_flush");
        failpoints::arm("store.delete_key.before_remove");
        assert_eq!(kind(kms.create_key(CreateKeyRequest::new())), ErrorKind::KmsInternal);
        let listed = consistent(&kms)?;
        assert!(kms.key_objects()?.len() >= listed);
        drop(kms);
        let kms = engine(t)?;
        assert_eq!(consistent(&kms)?, listed);
        Ok(())
    }
);

token_test!(
    /// The data directory is Lockbox's alone: made 0700 even if it existed with a looser mode.
    fn the_data_directory_is_made_private(t) {
        use std::os::unix::fs::PermissionsExt;
        let data = t.dir().join("data");
        std::fs::create_dir(&data)?;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755))?;
        let _kms = engine(t)?;
        assert_eq!(std::fs::metadata(&data)?.permissions().mode() & 0o777, 0o700);
        Ok(())
    }
);

token_test!(fn paging_markers_are_opaque_and_belong_to_their_list(t) {
    let kms = engine(t)?;
    let ids: Vec<KeyId> = (0..3).map(|_| kms.create_key(CreateKeyRequest::new()).unwrap().key_metadata.key_id).collect();
    let page = kms.list_keys(ListKeysRequest::new().with_limit(1))?;
    let marker = page.next_marker.unwrap();
    // Nothing of the position shows: no key id, in any form.
    for id in &ids {
        assert!(!marker.contains(&id.to_string()) && !marker.contains(&hex::encode(id.as_bytes())), "{marker}");
    }
    assert!(marker.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{marker}");
    // It pages on, and only in its own list.
    assert_eq!(kms.list_keys(ListKeysRequest::new().with_marker(marker.clone()))?.keys.len(), 2);
    kms.tag_resource(TagResourceRequest::new(ids[0], vec![Tag::new("a", "1")?, Tag::new("b", "2")?]))?;
    let tags = kms.list_resource_tags(ListResourceTagsRequest::new(ids[0]).with_limit(1))?;
    let tag_marker = tags.next_marker.unwrap();
    assert_eq!(kind(kms.list_keys(ListKeysRequest::new().with_marker(tag_marker.clone()))), ErrorKind::InvalidMarker);
    assert_eq!(kind(kms.list_resource_tags(ListResourceTagsRequest::new(ids[0]).with_marker(marker.clone()))), ErrorKind::InvalidMarker);
    assert_eq!(kind(kms.list_aliases(ListAliasesRequest::new().with_marker(marker.clone()))), ErrorKind::InvalidMarker);
    // A key id where a marker goes (what Lockbox's markers were) is refused.
    assert_eq!(kind(kms.list_keys(ListKeysRequest::new().with_marker(ids[0].to_string()))), ErrorKind::InvalidMarker);
    Ok(())
});
