//! The AWS KMS JSON 1.1 codec, both ways: `RemoteKms` over an in-process loopback to
//! `wire::serve` drives a real engine (SoftHSM token) through every operation and must get
//! the engine's own answers; `serve` on raw bodies answers each malformed input with its
//! exact code, status and message; responses carry botocore's member names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lockbox::api::*;
use lockbox::{Clock, Config, Engine};
use lockbox_client::remote::{RemoteKms, Transport, is_throttling};
use lockbox_server::WireError;
use lockbox_server::wire::{self, FromTarget, Operation};
use lockbox_token::testing::TestToken;
use lockbox_token::token_test;
use serde_json::{Value, json};

/// 2025-01-01T00:00:00.250Z: a time off the whole second, to check fractional seconds.
const T0: i64 = 1_735_689_600_250;
const ROOT: &str = "arn:aws:iam::000000000000:root";
/// In another account, so only its grants let it use the key.
const APP: &str = "arn:aws:iam::111122223333:role/app";
const RETIRER: &str = "arn:aws:iam::000000000000:role/retirer";

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(T0)
    }
}

fn open(t: &TestToken) -> Result<Arc<Engine>, lockbox::Error> {
    let config = Config::new(t.dir().join("data"), t.config());
    Engine::open_with_clock(config, Arc::new(FixedClock)).map(Arc::new)
}

fn caller(arn: &str) -> Caller {
    Caller::new(Principal::parse(arn).unwrap())
}

/// A transport that serves each request in process, as `caller`, through the JSON codec.
struct Loopback {
    engine: Arc<Engine>,
    caller: Caller,
}

impl Transport for Loopback {
    fn post(&self, operation: &str, body: &[u8]) -> Result<(u16, Vec<u8>), KmsError> {
        let result = Operation::from_target(&format!("TrentService.{operation}"))
            .and_then(|op| wire::serve(&self.engine.client(self.caller.clone()), op, body));
        Ok(match result {
            Ok(body) => (200, body),
            Err(e) => (e.status, e.body()),
        })
    }
}

fn remote(engine: &Arc<Engine>, arn: &str) -> RemoteKms {
    RemoteKms::new(Loopback {
        engine: engine.clone(),
        caller: caller(arn),
    })
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
}

#[track_caller]
fn err<T>(r: Result<T, KmsError>) -> KmsError {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

fn policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": ROOT},
             "Action": "kms:*", "Resource": "*"}
        ]
    })
    .to_string()
}

token_test!(fn remote_kms_drives_the_whole_lifecycle_through_json(t) {
    let engine = open(t)?;
    let direct = engine.client(caller(ROOT));
    let kms = remote(&engine, ROOT);

    // Create with tags and policy; describe matches the engine's own answer.
    let tags = vec![Tag::new("team", "crypto")?, Tag::new("env", "test")?];
    let created = kms.create_key(
        CreateKeyRequest::new()
            .with_description("wire key")
            .with_tags(tags.clone())
            .with_policy(policy()),
    )?.key_metadata;
    let key = created.key_id;
    assert_eq!(created.description, "wire key");
    assert_eq!(created.creation_date, Timestamp::from_unix_millis(T0));
    let described = kms.describe_key(DescribeKeyRequest::new(key))?.key_metadata;
    assert_eq!(described, direct.describe_key(DescribeKeyRequest::new(key))?.key_metadata);
    assert_eq!(described, created);
    assert_eq!(kms.list_keys(ListKeysRequest::new())?, direct.list_keys(ListKeysRequest::new())?);
    let page = kms.list_keys(ListKeysRequest::new().with_limit(1))?;
    assert_eq!(page.keys.len(), 1);
    assert_eq!(page, direct.list_keys(ListKeysRequest::new().with_limit(1))?);

    let listed_tags = kms.list_resource_tags(ListResourceTagsRequest::new(key))?;
    assert_eq!(listed_tags, direct.list_resource_tags(ListResourceTagsRequest::new(key))?);
    assert_eq!(listed_tags.tags.len(), 2);
    kms.untag_resource(UntagResourceRequest::new(key, vec!["env".to_owned()]))?;
    kms.tag_resource(TagResourceRequest::new(key, vec![Tag::new("owner", "ops")?]))?;
    let keys: Vec<_> = direct.list_resource_tags(ListResourceTagsRequest::new(key))?
        .tags.iter().map(|t| t.key().to_owned()).collect();
    assert_eq!(keys, ["owner", "team"]);

    // Policies.
    let got = kms.get_key_policy(GetKeyPolicyRequest::new(key, None)?)?;
    assert_eq!(got, direct.get_key_policy(GetKeyPolicyRequest::new(key, Some("default"))?)?);
    assert_eq!(got.policy, policy());
    let policy2 = policy().replace("\"Root\"", "\"RootToo\"");
    kms.put_key_policy(PutKeyPolicyRequest::new(key, policy2.clone(), Some("default"))?)?;
    assert_eq!(direct.get_key_policy(GetKeyPolicyRequest::new(key, None)?)?.policy, policy2);
    assert_eq!(
        kms.list_key_policies(ListKeyPoliciesRequest::new(key))?,
        direct.list_key_policies(ListKeyPoliciesRequest::new(key))?
    );

    // Aliases.
    let key2 = kms.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    let alias = AliasName::parse("alias/wire")?;
    kms.create_alias(AliasRequest::new(alias.clone(), key))?;
    assert_eq!(
        kms.describe_key(DescribeKeyRequest::new(alias.clone()))?.key_metadata.key_id,
        key
    );
    let aliases = kms.list_aliases(ListAliasesRequest::new())?;
    assert_eq!(aliases, direct.list_aliases(ListAliasesRequest::new())?);
    assert_eq!(aliases.aliases.len(), 1);
    assert_eq!(
        kms.list_aliases(ListAliasesRequest::new().with_key_id(KeyRef::from(key)))?,
        direct.list_aliases(ListAliasesRequest::new().with_key_id(KeyRef::from(key)))?
    );
    kms.update_alias(AliasRequest::new(alias.clone(), key2))?;
    assert_eq!(direct.describe_key(DescribeKeyRequest::new(alias.clone()))?.key_metadata.key_id, key2);
    assert_eq!(err(kms.create_alias(AliasRequest::new(alias.clone(), key))).kind(), ErrorKind::AlreadyExists);
    kms.delete_alias(DeleteAliasRequest::new(alias.clone()))?;
    assert!(direct.list_aliases(ListAliasesRequest::new())?.aliases.is_empty());

    // Encrypt over the wire, decrypt both ways.
    let c = ctx(&[("purpose", "wire"), ("tenant", "7")]);
    let sealed = kms.encrypt(
        EncryptRequest::new(key, Plaintext::copy_from(b"over the wire"))
            .with_encryption_context(c.clone()),
    )?;
    assert_eq!(sealed.key_id, created.arn);
    assert_eq!(sealed.encryption_algorithm, EncryptionAlgorithm::SymmetricDefault);
    let opened = direct.decrypt(DecryptRequest::new(sealed.ciphertext_blob.clone()).with_encryption_context(c.clone()))?;
    assert_eq!(opened.plaintext.expose_secret(), b"over the wire");
    let opened = kms.decrypt(
        DecryptRequest::new(sealed.ciphertext_blob.clone())
            .with_encryption_context(c.clone())
            .with_key_id(KeyRef::from(key)),
    )?;
    assert_eq!(opened.plaintext.expose_secret(), b"over the wire");
    assert_eq!(opened.key_id, created.arn);
    let wrong = err(kms.decrypt(DecryptRequest::new(sealed.ciphertext_blob.clone())));
    assert_eq!(wrong, KmsError::invalid_ciphertext());
    let wrong_key = err(kms.decrypt(DecryptRequest::new(sealed.ciphertext_blob.clone()).with_encryption_context(c.clone()).with_key_id(KeyRef::from(key2))));
    assert_eq!(wrong_key.kind(), ErrorKind::IncorrectKey);

    // Data keys.
    let dk = kms.generate_data_key(
        GenerateDataKeyRequest::new(key, DataKeySpec::Aes256).with_encryption_context(c.clone()),
    )?;
    assert_eq!(dk.plaintext.len(), 32);
    assert_eq!(dk.key_id, created.arn);
    let again = direct.decrypt(DecryptRequest::new(dk.ciphertext_blob.clone()).with_encryption_context(c.clone()))?;
    assert_eq!(again.plaintext.expose_secret(), dk.plaintext.expose_secret());
    let dk64 = kms.generate_data_key(GenerateDataKeyRequest::new(key, DataKeySize::Bytes(NumberOfBytes::new(64)?)))?;
    assert_eq!(dk64.plaintext.len(), 64);
    let wp = kms.generate_data_key_without_plaintext(GenerateDataKeyRequest::new(key, DataKeySpec::Aes128))?;
    assert_eq!(wp.key_id, created.arn);
    assert_eq!(kms.decrypt(DecryptRequest::new(wp.ciphertext_blob))?.plaintext.len(), 16);

    // ReEncrypt to the second key under a new context.
    let c2 = ctx(&[("moved", "yes")]);
    let moved = kms.re_encrypt(
        ReEncryptRequest::new(sealed.ciphertext_blob.clone(), key2)
            .with_source_encryption_context(c.clone())
            .with_destination_encryption_context(c2.clone()),
    )?;
    assert_eq!(moved.source_key_id, created.arn);
    assert_eq!(moved.key_id.key_id(), key2);
    let opened = direct.decrypt(DecryptRequest::new(moved.ciphertext_blob).with_encryption_context(c2))?;
    assert_eq!(opened.plaintext.expose_secret(), b"over the wire");

    // Random bytes.
    let r = kms.generate_random(GenerateRandomRequest::new(NumberOfBytes::new(48)?))?;
    assert_eq!(r.plaintext.len(), 48);

    // Rotation.
    kms.enable_key_rotation(EnableKeyRotationRequest::new(key).with_rotation_period_in_days(180))?;
    let status = kms.get_key_rotation_status(GetKeyRotationStatusRequest::new(key))?;
    assert_eq!(status, direct.get_key_rotation_status(GetKeyRotationStatusRequest::new(key))?);
    assert!(status.key_rotation_enabled);
    assert_eq!(status.rotation_period_in_days, Some(180));
    assert_eq!(kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(key))?.key_id.key_id(), key);
    let rotations = kms.list_key_rotations(ListKeyRotationsRequest::new(key))?;
    assert_eq!(rotations, direct.list_key_rotations(ListKeyRotationsRequest::new(key))?);
    assert_eq!(rotations.rotations.len(), 1);
    assert_eq!(rotations.rotations[0].rotation_type, Some(RotationType::OnDemand));
    let all = ListKeyRotationsRequest::new(key).with_include_key_material(IncludeKeyMaterial::AllKeyMaterial);
    assert_eq!(kms.list_key_rotations(all.clone())?, direct.list_key_rotations(all)?);
    kms.disable_key_rotation(DisableKeyRotationRequest::new(key))?;
    assert!(!direct.get_key_rotation_status(GetKeyRotationStatusRequest::new(key))?.key_rotation_enabled);
    // Old ciphertext still opens after rotation.
    assert_eq!(
        kms.decrypt(DecryptRequest::new(sealed.ciphertext_blob.clone()).with_encryption_context(c.clone()))?
            .plaintext.expose_secret(),
        b"over the wire"
    );

    // Grants: create, list, retire (by the retiring principal, by token), revoke.
    let app = Principal::parse(APP)?;
    let retirer = Principal::parse(RETIRER)?;
    let g1 = kms.create_grant(
        CreateGrantRequest::new(key, app.clone(), vec![GrantOperation::Encrypt, GrantOperation::Decrypt])
            .with_retiring_principal(retirer.clone())
            .with_constraints(GrantConstraints {
                encryption_context_subset: Some(ctx(&[("tenant", "7")])),
                encryption_context_equals: None,
            })
            .with_name(GrantName::new("wire-grant")?),
    )?;
    let g2 = kms.create_grant(CreateGrantRequest::new(key, app.clone(), vec![GrantOperation::DescribeKey]))?;
    let grants = kms.list_grants(ListGrantsRequest::new(key))?;
    assert_eq!(grants, direct.list_grants(ListGrantsRequest::new(key))?);
    assert_eq!(grants.grants.len(), 2);
    let one = kms.list_grants(ListGrantsRequest::new(key).with_grant_id(g1.grant_id.clone()))?;
    assert_eq!(one.grants.len(), 1);
    assert_eq!(one.grants[0].name.as_deref(), Some("wire-grant"));
    assert_eq!(one.grants[0].constraints.as_ref().unwrap().encryption_context_subset, Some(ctx(&[("tenant", "7")])));
    // The grantee can now encrypt with the context the grant allows, over the wire.
    let as_app = remote(&engine, APP);
    as_app.encrypt(EncryptRequest::new(created.arn.clone(), Plaintext::copy_from(b"granted")).with_encryption_context(c.clone()))?;
    let retirable = kms.list_retirable_grants(ListRetirableGrantsRequest::new(retirer.clone()))?;
    assert_eq!(retirable, direct.list_retirable_grants(ListRetirableGrantsRequest::new(retirer.clone()))?);
    assert_eq!(retirable.grants.len(), 1);
    remote(&engine, RETIRER).retire_grant(RetireGrantRequest::by_token(g1.grant_token.clone())?)?;
    assert_eq!(
        err(as_app.encrypt(EncryptRequest::new(created.arn.clone(), Plaintext::copy_from(b"x")).with_encryption_context(c.clone()))).kind(),
        ErrorKind::AccessDenied
    );
    kms.revoke_grant(RevokeGrantRequest::new(key, g2.grant_id.clone()))?;
    assert!(direct.list_grants(ListGrantsRequest::new(key))?.grants.is_empty());
    let again = err(kms.revoke_grant(RevokeGrantRequest::new(key, g2.grant_id.clone())));
    assert_eq!(again, err(direct.revoke_grant(RevokeGrantRequest::new(key, g2.grant_id))));
    assert_eq!(again.kind(), ErrorKind::NotFound);

    // Description, disable, enable, deletion schedule and cancel.
    kms.update_key_description(UpdateKeyDescriptionRequest::new(key, "renamed"))?;
    assert_eq!(direct.describe_key(DescribeKeyRequest::new(key))?.key_metadata.description, "renamed");
    kms.disable_key(DisableKeyRequest::new(key))?;
    let off = err(kms.encrypt(EncryptRequest::new(key, Plaintext::copy_from(b"x"))));
    assert_eq!(off.kind(), ErrorKind::Disabled);
    assert_eq!(kms.describe_key(DescribeKeyRequest::new(key))?.key_metadata.key_state, KeyState::Disabled);
    kms.enable_key(EnableKeyRequest::new(key))?;
    let scheduled = kms.schedule_key_deletion(ScheduleKeyDeletionRequest::new(key).with_pending_window_in_days(7))?;
    assert_eq!(scheduled.key_id, created.arn);
    assert_eq!(scheduled.key_state, KeyState::PendingDeletion);
    assert_eq!(scheduled.pending_window_in_days, 7);
    assert_eq!(
        scheduled.deletion_date,
        Some(Timestamp::from_unix_millis(T0).plus_days(7))
    );
    let md = kms.describe_key(DescribeKeyRequest::new(key))?.key_metadata;
    assert_eq!(md, direct.describe_key(DescribeKeyRequest::new(key))?.key_metadata);
    assert_eq!(md.deletion_date, scheduled.deletion_date);
    assert_eq!(md.pending_deletion_window_in_days, Some(7));
    assert_eq!(kms.cancel_key_deletion(CancelKeyDeletionRequest::new(key))?.key_id, created.arn);
    assert_eq!(direct.describe_key(DescribeKeyRequest::new(key))?.key_metadata.key_state, KeyState::Disabled);

    // Engine errors keep their kind and message across the wire.
    let missing = KeyId::from_random_bytes([9; 16]);
    let there = err(kms.describe_key(DescribeKeyRequest::new(missing)));
    let here = err(direct.describe_key(DescribeKeyRequest::new(missing)));
    assert_eq!(there, here);
    assert_eq!(there.kind(), ErrorKind::NotFound);
    Ok(())
});

/// One `serve` call on a raw body.
fn call(kms: &dyn Kms, op: Operation, body: &str) -> Result<Value, WireError> {
    wire::serve(kms, op, body.as_bytes()).map(|b| serde_json::from_slice(&b).unwrap())
}

token_test!(fn serve_answers_malformed_requests_with_aws_codes(t) {
    let engine = open(t)?;
    let kms = engine.client(caller(ROOT));
    let key = kms.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    let ser = "SerializationException";
    let val = "ValidationException";
    let uns = "UnsupportedOperationException";
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(Operation, String, &str, &str)> = vec![
        (Operation::Encrypt, "[1]".into(), ser, "The request body must be a JSON object"),
        (Operation::Encrypt, r#"{"KeyId": 5, "Plaintext": "AA=="}"#.into(), ser, "Value of KeyId must be a string"),
        (Operation::Encrypt, r#"{"KeyId": "alias/x"}"#.into(), val,
            "1 validation error detected: Value null at 'plaintext' failed to satisfy constraint: Member must not be null"),
        (Operation::Encrypt, format!(r#"{{"KeyId": "{key}", "Plaintext": "not*base64"}}"#), ser, "Value of Plaintext is not valid base64"),
        (Operation::Encrypt, format!(r#"{{"KeyId": "{key}", "Plaintext": ""}}"#), val,
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1"),
        (Operation::Encrypt, format!(r#"{{"KeyId": "{key}", "Plaintext": "AA==", "EncryptionContext": {{"a": 1}}}}"#), ser,
            "Value of EncryptionContext must be a map of strings to strings"),
        (Operation::Encrypt, format!(r#"{{"KeyId": "{key}", "Plaintext": "AA==", "GrantTokens": "t"}}"#), ser,
            "Value of GrantTokens must be a list of strings"),
        (Operation::Encrypt, format!(r#"{{"KeyId": "{key}", "Plaintext": "AA==", "DryRun": true}}"#), "DryRunOperationException",
            "The request would have succeeded, but the DryRun option is set."),
        (Operation::Encrypt, format!(r#"{{"KeyId": "{key}", "Plaintext": "AA==", "DryRun": "yes"}}"#), ser, "Value of DryRun must be a boolean"),
        (Operation::DescribeKey, String::new(), val,
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"),
        (Operation::DescribeKey, r#"{"KeyId": null}"#.into(), val,
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"),
        (Operation::ReEncrypt, r#"{"CiphertextBlob": "AAAA"}"#.into(), val,
            "1 validation error detected: Value null at 'destinationKeyId' failed to satisfy constraint: Member must not be null"),
        (Operation::Decrypt, r#"{"CiphertextBlob": 7}"#.into(), ser, "Value of CiphertextBlob must be a base64-encoded string"),
        (Operation::GenerateRandom, r#"{"NumberOfBytes": "32"}"#.into(), ser, "Value of NumberOfBytes must be an integer"),
        (Operation::GenerateRandom, r#"{"NumberOfBytes": 1.5}"#.into(), ser, "Value of NumberOfBytes must be an integer"),
        (Operation::GenerateRandom, r#"{"NumberOfBytes": 2000}"#.into(), val,
            "1 validation error detected: Value '2000' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"),
        // Optional in the model, required by AWS, in its own words (issue 15).
        (Operation::GenerateRandom, "{}".into(), val, "NumberOfBytes is required."),
        (Operation::GenerateRandom, r#"{"NumberOfBytes": 8, "Recipient": {}}"#.into(), uns,
            "Recipient is not supported: Lockbox has no Nitro Enclaves attestation; plaintext is returned to the caller"),
        (Operation::ListKeys, r#"{"Limit": 0}"#.into(), val,
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"),
        (Operation::CreateKey, r#"{"Tags": [{"TagKey": "a"}]}"#.into(), val,
            "1 validation error detected: Value null at 'tags.1.member.tagValue' failed to satisfy constraint: Member must not be null"),
        (Operation::CreateKey, r#"{"Tags": {"TagKey": "a"}}"#.into(), ser, "Value of Tags must be a list of objects"),
        (Operation::CreateKey, r#"{"KeySpec": "AES_999"}"#.into(), val,
            "1 validation error detected: Value 'AES_999' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, SYMMETRIC_DEFAULT, HMAC_224, HMAC_256, HMAC_384, HMAC_512, SM2, ML_DSA_44, ML_DSA_65, ML_DSA_87, ECC_NIST_EDWARDS25519, ML_KEM_512, ML_KEM_768, ML_KEM_1024]"),
        (Operation::CreateKey, r#"{"CustomKeyStoreId": "cks-1"}"#.into(), uns,
            "CustomKeyStoreId is not supported: Lockbox has no custom key stores; its keys live in its own token"),
        (Operation::CreateGrant, format!(r#"{{"KeyId": "{key}", "GranteePrincipal": "{APP}", "Operations": ["Encrypt"], "Constraints": {{"SourceArn": "arn:aws:s3:::b"}}}}"#), uns,
            "Constraints.SourceArn is not supported: Lockbox grants constrain only the encryption context"),
        (Operation::CreateGrant, format!(r#"{{"KeyId": "{key}", "GranteePrincipal": "{APP}", "Operations": ["Encrypt"], "Constraints": {{"EncryptionContextEquals": [1]}}}}"#), ser,
            "Value of Constraints.EncryptionContextEquals must be a map of strings to strings"),
        (Operation::CreateGrant, format!(r#"{{"KeyId": "{key}", "GranteePrincipal": "{APP}"}}"#), val,
            "1 validation error detected: Value null at 'operations' failed to satisfy constraint: Member must not be null"),
        (Operation::RetireGrant, "{}".into(), val, "RetireGrant needs either GrantToken, or both KeyId and GrantId"),
        (Operation::ListKeys, r#"{"Marker": ""}"#.into(), val,
            "1 validation error detected: Value '' at 'marker' failed to satisfy constraint: Member must have length greater than or equal to 1"),
        (Operation::ListKeys, deep, ser, "The request body is not valid JSON: recursion limit exceeded at line 1 column 128"),
    ];
    for (op, body, code, message) in cases {
        let e = call(&kms, op, &body).err().unwrap_or_else(|| panic!("{op:?} {} succeeded", &body[..body.len().min(200)]));
        assert_eq!((e.status, e.code.as_ref(), e.message.as_str()), (400, code, message), "{op:?} {}", &body[..body.len().min(200)]);
    }

    // Bad JSON: the parser's position is in the message.
    let e = call(&kms, Operation::Encrypt, "{not json").unwrap_err();
    assert_eq!((e.status, e.code.as_ref()), (400, ser));
    assert!(e.message.starts_with("The request body is not valid JSON: key must be a string at line 1 column 2"), "{}", e.message);

    // Engine errors pass through with their AWS names.
    let e = call(&kms, Operation::Decrypt, r#"{"CiphertextBlob": "AAAA"}"#).unwrap_err();
    assert_eq!(e, WireError::from_kms(&KmsError::invalid_ciphertext()));
    let e = call(&kms, Operation::DescribeKey, r#"{"KeyId": "nope"}"#).unwrap_err();
    assert_eq!((e.status, e.code.as_ref(), e.message.as_str()), (400, "NotFoundException", "Invalid keyId 'nope'"));
    let e = call(&kms, Operation::CreateAlias, &format!(r#"{{"AliasName": "alias/aws/x", "TargetKeyId": "{key}"}}"#)).unwrap_err();
    assert_eq!(e.code, "NotFoundException".to_owned().replace("NotFound", "InvalidAliasName"));

    // Unknown members are ignored; an empty body is `{}`.
    let ok = call(&kms, Operation::DescribeKey, &format!(r#"{{"KeyId": "{key}", "Bogus": [1, {{"x": null}}]}}"#))?;
    assert_eq!(ok["KeyMetadata"]["KeyId"], json!(key.to_string()));
    assert_eq!(call(&kms, Operation::ListKeys, "")?["Keys"].as_array().unwrap().len(), 1);
    assert_eq!(call(&kms, Operation::ListKeys, " \n")?["Truncated"], json!(false));
    // A unit operation answers `{}`; `DryRun: false` is an ordinary call.
    assert_eq!(call(&kms, Operation::DisableKey, &format!(r#"{{"KeyId": "{key}"}}"#))?, json!({}));
    assert_eq!(call(&kms, Operation::EnableKey, &format!(r#"{{"KeyId": "{key}"}}"#))?, json!({}));
    let e = call(&kms, Operation::Encrypt, &format!(r#"{{"KeyId": "{key}", "Plaintext": "aGk", "DryRun": false}}"#))?;
    assert_eq!(kms.decrypt(DecryptRequest::new(STANDARD.decode(e["CiphertextBlob"].as_str().unwrap())?))?.plaintext.expose_secret(), b"hi");
    Ok(())
});

token_test!(fn responses_use_botocore_member_names(t) {
    let engine = open(t)?;
    let kms = engine.client(caller(ROOT));
    let md = kms.create_key(CreateKeyRequest::new().with_description("d"))?.key_metadata;
    let key = md.key_id;
    let arn = md.arn.to_string();

    let described = call(&kms, Operation::DescribeKey, &format!(r#"{{"KeyId": "{arn}"}}"#))?;
    assert_eq!(described, json!({
        "KeyMetadata": {
            "AWSAccountId": "000000000000",
            "KeyId": key.to_string(),
            "Arn": arn,
            "CreationDate": 1_735_689_600.25,
            "Enabled": true,
            "Description": "d",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeyState": "Enabled",
            "Origin": "AWS_KMS",
            "KeyManager": "CUSTOMER",
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "MultiRegion": false,
            "CurrentKeyMaterialId": described["KeyMetadata"]["CurrentKeyMaterialId"],
        }
    }));
    let material = described["KeyMetadata"]["CurrentKeyMaterialId"].as_str().unwrap();
    assert!(material.len() == 64 && material.starts_with(&key.to_string().replace('-', "")), "{material}");

    let encrypted = call(&kms, Operation::Encrypt, &format!(
        r#"{{"KeyId": "{key}", "Plaintext": "{}", "EncryptionContext": {{"k": "v"}}}}"#, STANDARD.encode(b"secret")))?;
    let members: Vec<&str> = encrypted.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(members, ["CiphertextBlob", "EncryptionAlgorithm", "KeyId"]);
    assert_eq!(encrypted["KeyId"], json!(arn));
    assert_eq!(encrypted["EncryptionAlgorithm"], json!("SYMMETRIC_DEFAULT"));
    let blob = encrypted["CiphertextBlob"].as_str().unwrap();

    let decrypted = call(&kms, Operation::Decrypt, &format!(
        r#"{{"CiphertextBlob": "{blob}", "EncryptionContext": {{"k": "v"}}}}"#))?;
    assert_eq!(decrypted, json!({
        "KeyId": arn,
        "Plaintext": STANDARD.encode(b"secret"),
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }));

    let scheduled = call(&kms, Operation::ScheduleKeyDeletion, &format!(r#"{{"KeyId": "{key}", "PendingWindowInDays": 7}}"#))?;
    assert_eq!(scheduled, json!({
        "KeyId": arn,
        "DeletionDate": 1_735_689_600.25 + 7.0 * 86_400.0,
        "KeyState": "PendingDeletion",
        "PendingWindowInDays": 7,
    }));
    let pending = call(&kms, Operation::DescribeKey, &format!(r#"{{"KeyId": "{key}"}}"#))?;
    assert_eq!(pending["KeyMetadata"]["DeletionDate"], json!(1_735_689_600.25 + 7.0 * 86_400.0));
    assert_eq!(pending["KeyMetadata"]["PendingDeletionWindowInDays"], json!(7));
    assert_eq!(pending["KeyMetadata"]["Enabled"], json!(false));

    let listed = call(&kms, Operation::ListKeys, "{}")?;
    assert_eq!(listed, json!({"Keys": [{"KeyId": key.to_string(), "KeyArn": arn}], "Truncated": false}));

    let random = call(&kms, Operation::GenerateRandom, r#"{"NumberOfBytes": 5}"#)?;
    let members: Vec<&str> = random.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(members, ["Plaintext"]);
    assert_eq!(STANDARD.decode(random["Plaintext"].as_str().unwrap())?.len(), 5);

    // The error body.
    let e = call(&kms, Operation::Encrypt, &format!(r#"{{"KeyId": "{key}", "Plaintext": "AA=="}}"#)).unwrap_err();
    let body: Value = serde_json::from_slice(&e.body())?;
    assert_eq!(e.status, 400);
    assert_eq!(body, json!({
        "__type": "KMSInvalidStateException",
        "message": format!("{arn} is pending deletion."),
    }));
    Ok(())
});

#[test]
fn targets_name_operations() {
    assert_eq!(Operation::ALL.len(), 47);
    for op in Operation::ALL {
        assert_eq!(
            Operation::from_target(&format!("TrentService.{}", op.name())),
            Ok(*op)
        );
    }
    for bad in [
        "TrentService.CreateCustomKeyStore",
        "TrentService.encrypt",
        "Encrypt",
        "Kinesis_20131202.PutRecord",
        "",
    ] {
        let e = Operation::from_target(bad).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_ref()),
            (400, "UnknownOperationException"),
            "{bad}"
        );
        assert!(e.message.contains(&format!("'{bad}'")), "{}", e.message);
    }
    assert!(Operation::Decrypt.returns_plaintext());
    assert!(Operation::GenerateDataKeyPair.returns_plaintext());
    assert!(Operation::DeriveSharedSecret.returns_plaintext());
    assert!(!Operation::Encrypt.returns_plaintext());
    assert!(!Operation::GenerateDataKeyPairWithoutPlaintext.returns_plaintext());
    assert!(!Operation::Sign.returns_plaintext());
}

#[test]
fn error_responses_become_kms_errors() {
    let e = lockbox_client::error_from_response(
        400,
        br#"{"__type": "NotFoundException", "message": "gone"}"#,
    );
    assert_eq!(e, KmsError::new(ErrorKind::NotFound, "gone"));
    let e = lockbox_client::error_from_response(
        400,
        br#"{"__type": "com.amazonaws.kms#DisabledException:http://internal", "Message": "off"}"#,
    );
    assert_eq!(e, KmsError::new(ErrorKind::Disabled, "off"));
    let e = lockbox_client::error_from_response(
        400,
        br#"{"__type": "ThrottlingException", "message": "Rate exceeded"}"#,
    );
    assert_eq!(
        e,
        KmsError::with_code(
            ErrorKind::DependencyTimeout,
            "ThrottlingException",
            "Rate exceeded"
        )
    );
    assert!(is_throttling(&e));
    assert!(!is_throttling(&KmsError::new(
        ErrorKind::DependencyTimeout,
        "token timed out"
    )));
    let e = lockbox_client::error_from_response(
        403,
        br#"{"__type": "InvalidSignatureException", "message": "bad sig"}"#,
    );
    assert_eq!(
        e,
        KmsError::with_code(
            ErrorKind::AccessDenied,
            "InvalidSignatureException",
            "bad sig"
        )
    );
    let e = lockbox_client::error_from_response(
        400,
        br#"{"__type": "SerializationException", "message": "x"}"#,
    );
    assert_eq!(
        e,
        KmsError::with_code(ErrorKind::Validation, "SerializationException", "x")
    );
    let e = lockbox_client::error_from_response(400, br#"{"__type": "UnknownOperationException"}"#);
    assert_eq!(
        e,
        KmsError::with_code(
            ErrorKind::UnsupportedOperation,
            "UnknownOperationException",
            ""
        )
    );
    let e = lockbox_client::error_from_response(
        500,
        br#"{"__type": "SomethingNewException", "message": "?"}"#,
    );
    assert_eq!(
        e,
        KmsError::with_code(ErrorKind::DependencyTimeout, "SomethingNewException", "?")
    );
    let e = lockbox_client::error_from_response(
        400,
        br#"{"__type": "SomethingNewException", "message": "?"}"#,
    );
    assert_eq!(
        e,
        KmsError::with_code(ErrorKind::KmsInternal, "SomethingNewException", "?")
    );
    let e = lockbox_client::error_from_response(502, b"<html>bad gateway</html>");
    assert_eq!(
        e,
        KmsError::new(
            ErrorKind::KmsInternal,
            "HTTP 502 from the server with no AWS error in the body"
        )
    );
    let e = lockbox_client::error_from_response(503, b"");
    assert_eq!(e.kind(), ErrorKind::DependencyTimeout);
    // Every engine error survives the round trip through a body.
    for kind in [
        ErrorKind::KmsInvalidState,
        ErrorKind::InvalidCiphertext,
        ErrorKind::KmsInternal,
        ErrorKind::DependencyTimeout,
    ] {
        let original = KmsError::new(kind, "m");
        let w = WireError::from_kms(&original);
        assert_eq!(
            lockbox_client::error_from_response(w.status, &w.body()),
            original
        );
    }
}

/// A transport that answers every request with one canned response.
struct Canned(Result<(u16, Vec<u8>), KmsError>);

impl Transport for Canned {
    fn post(&self, _operation: &str, _body: &[u8]) -> Result<(u16, Vec<u8>), KmsError> {
        self.0.clone()
    }
}

#[test]
fn remote_reports_transport_failures_and_malformed_responses() {
    let down = KmsError::new(
        ErrorKind::DependencyTimeout,
        "cannot reach https://kms.invalid",
    );
    let kms = RemoteKms::new(Canned(Err(down.clone())));
    assert_eq!(err(kms.list_keys(ListKeysRequest::new())), down);

    let kms = RemoteKms::new(Canned(Ok((200, br#"{"Keys": "none"}"#.to_vec()))));
    assert_eq!(
        err(kms.list_keys(ListKeysRequest::new())),
        KmsError::internal(
            "The server's ListKeys response does not fit the AWS KMS model: Value of Keys must be a list of objects"
        )
    );
    let kms = RemoteKms::new(Canned(Ok((200, br#"{"Plaintext": "%%%"}"#.to_vec()))));
    assert_eq!(
        err(kms.generate_random(GenerateRandomRequest::new(NumberOfBytes::new(4).unwrap()))),
        KmsError::internal(
            "The server's GenerateRandom response does not fit the AWS KMS model: Value of Plaintext is not valid base64"
        )
    );
    let kms = RemoteKms::new(Canned(Ok((
        429,
        br#"{"__type": "ThrottlingException", "message": "slow down"}"#.to_vec(),
    ))));
    let e = err(kms.list_keys(ListKeysRequest::new()));
    assert!(is_throttling(&e));
    assert_eq!(e.to_string(), "ThrottlingException: slow down");
    // A unit operation takes an empty body as success.
    let kms = RemoteKms::new(Canned(Ok((200, Vec::new()))));
    kms.enable_key(EnableKeyRequest::new(KeyId::from_random_bytes([1; 16])))
        .unwrap();
}
