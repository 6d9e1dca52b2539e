//! The two directions of every shape agree, and the bodies the client writes are the ones it
//! wrote before the shapes were shared (sparse members left out, PolicyName sent, plaintext
//! first and sized once).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::*;

fn key() -> KeyRef {
    KeyRef::parse("1234abcd-12ab-34cd-56ef-1234567890ab").unwrap()
}

fn arn() -> KeyArn {
    match KeyRef::parse(
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )
    .unwrap()
    {
        KeyRef::KeyArn(a) => a,
        _ => unreachable!(),
    }
}

fn alias() -> AliasName {
    AliasName::parse("alias/app").unwrap()
}

fn principal() -> Principal {
    Principal::parse("arn:aws:iam::111122223333:user/app").unwrap()
}

fn context() -> EncryptionContext {
    EncryptionContext::new(BTreeMap::from([("purpose".to_owned(), "test".to_owned())])).unwrap()
}

fn tokens() -> GrantTokens {
    GrantTokens::new(vec!["token".to_owned()]).unwrap()
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

fn body(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap()
}

/// One request of every operation, with every member set that the shape can carry.
fn requests() -> Vec<Request> {
    let mut create = CreateKeyRequest::new();
    create.description = "d".to_owned();
    create.key_usage = Some(KeyUsage::EncryptDecrypt);
    create.key_spec = Some(KeySpec::SymmetricDefault);
    create.origin = Some(Origin::AwsKms);
    create.tags = vec![Tag::new("k", "v").unwrap()];
    create.policy = Some("{}".to_owned());
    create.bypass_policy_lockout_safety_check = true;
    let mut list_keys = ListKeysRequest::new();
    list_keys.limit = Some(10);
    list_keys.marker = Some("m".to_owned());
    let mut schedule = ScheduleKeyDeletionRequest::new(key());
    schedule.pending_window_in_days = Some(7);
    let mut list_aliases = ListAliasesRequest::new();
    list_aliases.key_id = Some(key());
    let mut encrypt = EncryptRequest::new(key(), Plaintext::new(vec![1, 2, 3]))
        .with_encryption_context(context())
        .with_grant_tokens(tokens());
    encrypt.encryption_algorithm = Some(EncryptionAlgorithm::SymmetricDefault);
    let mut decrypt = DecryptRequest::new(vec![9; 40]).with_encryption_context(context());
    decrypt.key_id = Some(key());
    let mut re = ReEncryptRequest::new(vec![9; 40], key())
        .with_source_encryption_context(context())
        .with_destination_encryption_context(context());
    re.source_key_id = Some(key());
    let mut rotation = EnableKeyRotationRequest::new(key());
    rotation.rotation_period_in_days = Some(180);
    let mut rotations = ListKeyRotationsRequest::new(key());
    rotations.include_key_material = Some(IncludeKeyMaterial::AllKeyMaterial);
    let grant = CreateGrantRequest::new(key(), principal(), vec![GrantOperation::Decrypt])
        .with_retiring_principal(principal())
        .with_constraints(GrantConstraints {
            encryption_context_subset: Some(context()),
            encryption_context_equals: None,
        })
        .with_grant_tokens(tokens())
        .with_name(GrantName::new("g").unwrap());
    let mut list_grants = ListGrantsRequest::new(key());
    list_grants.grant_id = Some("gid".to_owned());
    list_grants.grantee_principal = Some(principal());
    vec![
        Request::CreateKey(create),
        Request::DescribeKey(DescribeKeyRequest::new(key()).with_grant_tokens(tokens())),
        Request::ListKeys(list_keys),
        Request::UpdateKeyDescription(UpdateKeyDescriptionRequest::new(key(), "d")),
        Request::EnableKey(EnableKeyRequest::new(key())),
        Request::DisableKey(DisableKeyRequest::new(key())),
        Request::ScheduleKeyDeletion(schedule),
        Request::CancelKeyDeletion(CancelKeyDeletionRequest::new(key())),
        Request::CreateAlias(AliasRequest::new(alias(), key())),
        Request::UpdateAlias(AliasRequest::new(alias(), key())),
        Request::DeleteAlias(DeleteAliasRequest::new(alias())),
        Request::ListAliases(list_aliases),
        Request::TagResource(TagResourceRequest::new(
            key(),
            vec![Tag::new("k", "v").unwrap()],
        )),
        Request::UntagResource(UntagResourceRequest::new(key(), vec!["k".to_owned()])),
        Request::ListResourceTags(ListResourceTagsRequest::new(key())),
        Request::Encrypt(encrypt),
        Request::Decrypt(decrypt),
        Request::ReEncrypt(re),
        Request::GenerateDataKey(GenerateDataKeyRequest::new(key(), DataKeySpec::Aes256)),
        Request::GenerateDataKeyWithoutPlaintext(GenerateDataKeyRequest::new(
            key(),
            DataKeySize::Bytes(NumberOfBytes::new(16).unwrap()),
        )),
        Request::GenerateRandom(GenerateRandomRequest::new(NumberOfBytes::new(32).unwrap())),
        Request::Sign(
            SignRequest::new(
                key(),
                Plaintext::new(vec![1; 32]),
                SigningAlgorithm::EcdsaSha256,
            )
            .with_message_type(MessageType::Digest)
            .with_grant_tokens(tokens()),
        ),
        Request::Verify(VerifyRequest::new(
            key(),
            Plaintext::new(vec![1, 2]),
            vec![3; 70],
            SigningAlgorithm::RsassaPssSha384,
        )),
        Request::GetPublicKey(GetPublicKeyRequest::new(key())),
        Request::GenerateMac(GenerateMacRequest::new(
            key(),
            Plaintext::new(vec![1, 2]),
            MacAlgorithm::HmacSha384,
        )),
        Request::VerifyMac(VerifyMacRequest::new(
            key(),
            Plaintext::new(vec![1, 2]),
            MacAlgorithm::HmacSha224,
            vec![4; 28],
        )),
        Request::GenerateDataKeyPair(
            GenerateDataKeyPairRequest::new(key(), DataKeyPairSpec::Rsa3072)
                .with_encryption_context(context()),
        ),
        Request::GenerateDataKeyPairWithoutPlaintext(GenerateDataKeyPairRequest::new(
            key(),
            DataKeyPairSpec::EccSecgP256k1,
        )),
        Request::DeriveSharedSecret(DeriveSharedSecretRequest::new(key(), vec![0x30; 91])),
        Request::EnableKeyRotation(rotation),
        Request::DisableKeyRotation(DisableKeyRotationRequest::new(key())),
        Request::GetKeyRotationStatus(GetKeyRotationStatusRequest::new(key())),
        Request::RotateKeyOnDemand(RotateKeyOnDemandRequest::new(key())),
        Request::ListKeyRotations(rotations),
        Request::PutKeyPolicy(
            PutKeyPolicyRequest::new(key(), "{}".to_owned(), None)
                .unwrap()
                .with_bypass_policy_lockout_safety_check(true),
        ),
        Request::GetKeyPolicy(GetKeyPolicyRequest::new(key(), Some("default")).unwrap()),
        Request::ListKeyPolicies(ListKeyPoliciesRequest::new(key())),
        Request::CreateGrant(grant),
        Request::ListGrants(list_grants),
        Request::ListRetirableGrants(ListRetirableGrantsRequest::new(principal())),
        Request::RetireGrant(RetireGrantRequest::by_id(key(), "gid".to_owned())),
        Request::RevokeGrant(RevokeGrantRequest::new(key(), "gid".to_owned())),
        Request::GetParametersForImport(GetParametersForImportRequest::new(
            key(),
            AlgorithmSpec::RsaAesKeyWrapSha256,
            WrappingKeySpec::Rsa4096,
        )),
        Request::ImportKeyMaterial(
            ImportKeyMaterialRequest::new(key(), vec![1; 40], vec![2; 512])
                .with_valid_to(at(1_800_000_000_000))
                .with_expiration_model(ExpirationModelType::KeyMaterialExpires)
                .with_import_type(ImportType::ExistingKeyMaterial)
                .with_key_material_description("v2".to_owned())
                .with_key_material_id("ab".repeat(32)),
        ),
        Request::DeleteImportedKeyMaterial(
            DeleteImportedKeyMaterialRequest::new(key()).with_key_material_id("ab".repeat(32)),
        ),
        Request::ReplicateKey(
            ReplicateKeyRequest::new(key(), "eu-west-1")
                .with_policy("{}".to_owned())
                .with_description("replica".to_owned())
                .with_tags(vec![Tag::new("k", "v").unwrap()]),
        ),
        Request::UpdatePrimaryRegion(UpdatePrimaryRegionRequest::new(key(), "eu-west-1")),
    ]
}

fn metadata(spec: KeySpec) -> KeyMetadata {
    KeyMetadata {
        aws_account_id: "111122223333".to_owned(),
        key_id: arn().key_id(),
        arn: arn(),
        creation_date: at(1_700_000_000_500),
        enabled: false,
        description: String::new(),
        key_usage: KeyUsage::EncryptDecrypt,
        key_state: KeyState::PendingDeletion,
        deletion_date: Some(at(1_700_000_000_000)),
        origin: Origin::AwsKms,
        key_manager: KeyManager::Customer,
        key_spec: spec,
        encryption_algorithms: vec![EncryptionAlgorithm::SymmetricDefault],
        signing_algorithms: vec![],
        mac_algorithms: vec![],
        key_agreement_algorithms: vec![],
        multi_region: true,
        multi_region_configuration: Some(MultiRegionConfiguration {
            multi_region_key_type: MultiRegionKeyType::Primary,
            primary_key: MultiRegionKey {
                arn: arn(),
                region: "us-east-1".to_owned(),
            },
            replica_keys: vec![MultiRegionKey {
                arn: arn(),
                region: "eu-west-1".to_owned(),
            }],
        }),
        pending_deletion_window_in_days: Some(7),
        valid_to: Some(at(1_800_000_000_000)),
        expiration_model: Some(ExpirationModelType::KeyMaterialExpires),
        current_key_material_id: Some("cd".repeat(32)),
    }
}

/// One response of every operation.
fn responses() -> Vec<Response> {
    let grants = ListGrantsResponse {
        grants: vec![GrantListEntry {
            key_id: arn(),
            grant_id: "gid".to_owned(),
            name: Some("g".to_owned()),
            creation_date: at(1_700_000_000_000),
            grantee_principal: principal().to_string(),
            retiring_principal: None,
            issuing_account: "arn:aws:iam::111122223333:root".to_owned(),
            operations: vec![GrantOperation::Encrypt, GrantOperation::Decrypt],
            constraints: Some(GrantConstraints {
                encryption_context_subset: None,
                encryption_context_equals: Some(context()),
            }),
        }],
        next_marker: Some("m".to_owned()),
        truncated: true,
    };
    vec![
        Response::CreateKey(CreateKeyResponse {
            key_metadata: metadata(KeySpec::SymmetricDefault),
        }),
        Response::DescribeKey(DescribeKeyResponse {
            key_metadata: metadata(KeySpec::SymmetricDefault),
        }),
        Response::ListKeys(ListKeysResponse {
            keys: vec![KeyListEntry {
                key_id: arn().key_id(),
                key_arn: arn(),
            }],
            next_marker: None,
            truncated: false,
        }),
        Response::UpdateKeyDescription(()),
        Response::EnableKey(()),
        Response::DisableKey(()),
        Response::ScheduleKeyDeletion(ScheduleKeyDeletionResponse {
            key_id: arn(),
            deletion_date: Some(at(1_700_000_000_000)),
            key_state: KeyState::PendingDeletion,
            pending_window_in_days: 7,
        }),
        Response::CancelKeyDeletion(CancelKeyDeletionResponse { key_id: arn() }),
        Response::CreateAlias(()),
        Response::UpdateAlias(()),
        Response::DeleteAlias(()),
        Response::ListAliases(ListAliasesResponse {
            aliases: vec![AliasListEntry {
                alias_name: alias(),
                alias_arn: ArnScope::default().alias_arn(&alias()),
                target_key_id: arn().key_id(),
                creation_date: at(1_700_000_000_000),
                last_updated_date: at(1_700_000_001_000),
            }],
            next_marker: Some("m".to_owned()),
            truncated: true,
        }),
        Response::TagResource(()),
        Response::UntagResource(()),
        Response::ListResourceTags(ListResourceTagsResponse {
            tags: vec![Tag::new("k", "v").unwrap()],
            next_marker: None,
            truncated: false,
        }),
        Response::Encrypt(EncryptResponse {
            ciphertext_blob: vec![7; 40],
            key_id: arn(),
            encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
        }),
        Response::Decrypt(DecryptResponse {
            key_id: arn(),
            plaintext: Plaintext::new(vec![1, 2, 3]),
            encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
        }),
        Response::ReEncrypt(ReEncryptResponse {
            ciphertext_blob: vec![7; 40],
            source_key_id: arn(),
            key_id: arn(),
            source_encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
            destination_encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
        }),
        Response::GenerateDataKey(GenerateDataKeyResponse {
            ciphertext_blob: vec![7; 40],
            plaintext: Plaintext::new(vec![5; 32]),
            key_id: arn(),
        }),
        Response::GenerateDataKeyWithoutPlaintext(GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob: vec![7; 40],
            key_id: arn(),
        }),
        Response::GenerateRandom(GenerateRandomResponse {
            plaintext: Plaintext::new(vec![5; 32]),
        }),
        Response::Sign(SignResponse {
            key_id: arn(),
            signature: vec![0x30; 71],
            signing_algorithm: SigningAlgorithm::EcdsaSha256,
        }),
        Response::Verify(VerifyResponse {
            key_id: arn(),
            signature_valid: true,
            signing_algorithm: SigningAlgorithm::RsassaPkcs1V15Sha512,
        }),
        Response::GetPublicKey(GetPublicKeyResponse {
            key_id: arn(),
            public_key: vec![0x30; 294],
            key_spec: KeySpec::Rsa2048,
            key_usage: KeyUsage::EncryptDecrypt,
            encryption_algorithms: vec![
                EncryptionAlgorithm::RsaesOaepSha1,
                EncryptionAlgorithm::RsaesOaepSha256,
            ],
            signing_algorithms: vec![],
            key_agreement_algorithms: vec![],
        }),
        Response::GenerateMac(GenerateMacResponse {
            mac: vec![9; 32],
            mac_algorithm: MacAlgorithm::HmacSha256,
            key_id: arn(),
        }),
        Response::VerifyMac(VerifyMacResponse {
            key_id: arn(),
            mac_valid: true,
            mac_algorithm: MacAlgorithm::HmacSha512,
        }),
        Response::GenerateDataKeyPair(GenerateDataKeyPairResponse {
            private_key_ciphertext_blob: vec![7; 200],
            private_key_plaintext: Plaintext::new(vec![0x30; 138]),
            public_key: vec![0x30; 91],
            key_id: arn(),
            key_pair_spec: DataKeyPairSpec::EccNistP256,
        }),
        Response::GenerateDataKeyPairWithoutPlaintext(
            GenerateDataKeyPairWithoutPlaintextResponse {
                private_key_ciphertext_blob: vec![7; 200],
                public_key: vec![0x30; 91],
                key_id: arn(),
                key_pair_spec: DataKeyPairSpec::Rsa2048,
            },
        ),
        Response::DeriveSharedSecret(DeriveSharedSecretResponse {
            key_id: arn(),
            shared_secret: Plaintext::new(vec![6; 32]),
            key_agreement_algorithm: KeyAgreementAlgorithm::Ecdh,
            key_origin: Origin::AwsKms,
        }),
        Response::EnableKeyRotation(()),
        Response::DisableKeyRotation(()),
        Response::GetKeyRotationStatus(GetKeyRotationStatusResponse {
            key_rotation_enabled: true,
            key_id: arn().key_id(),
            rotation_period_in_days: Some(365),
            next_rotation_date: Some(at(1_800_000_000_000)),
            on_demand_rotation_start_date: None,
        }),
        Response::RotateKeyOnDemand(RotateKeyOnDemandResponse { key_id: arn() }),
        Response::ListKeyRotations(ListKeyRotationsResponse {
            rotations: vec![RotationsListEntry {
                key_id: arn().key_id(),
                key_material_id: "ab".repeat(32),
                key_material_state: KeyMaterialState::Current,
                rotation_date: Some(at(1_700_000_000_000)),
                rotation_type: Some(RotationType::OnDemand),
                import_state: Some(ImportState::Imported),
                expiration_model: Some(ExpirationModelType::KeyMaterialDoesNotExpire),
                valid_to: None,
                key_material_description: Some("from the vault".to_owned()),
            }],
            next_marker: None,
            truncated: false,
        }),
        Response::PutKeyPolicy(()),
        Response::GetKeyPolicy(GetKeyPolicyResponse {
            policy: "{}".to_owned(),
            policy_name: "default".to_owned(),
        }),
        Response::ListKeyPolicies(ListKeyPoliciesResponse {
            policy_names: vec!["default".to_owned()],
            next_marker: None,
            truncated: false,
        }),
        Response::CreateGrant(CreateGrantResponse {
            grant_token: "token".to_owned(),
            grant_id: "gid".to_owned(),
        }),
        Response::ListGrants(grants.clone()),
        Response::ListRetirableGrants(grants),
        Response::RetireGrant(()),
        Response::RevokeGrant(()),
        Response::GetParametersForImport(GetParametersForImportResponse {
            key_id: arn(),
            import_token: vec![7; 100],
            public_key: vec![0x30; 294],
            parameters_valid_to: at(1_700_086_400_000),
        }),
        Response::ImportKeyMaterial(ImportKeyMaterialResponse {
            key_id: arn(),
            key_material_id: "ab".repeat(32),
        }),
        Response::DeleteImportedKeyMaterial(DeleteImportedKeyMaterialResponse {
            key_id: arn(),
            key_material_id: "ab".repeat(32),
        }),
        Response::ReplicateKey(ReplicateKeyResponse {
            replica_key_metadata: metadata(KeySpec::SymmetricDefault),
            replica_policy: "{}".to_owned(),
            replica_tags: vec![Tag::new("k", "v").unwrap()],
        }),
        Response::UpdatePrimaryRegion(()),
    ]
}

#[test]
fn every_request_shape_reads_what_it_writes() {
    let requests = requests();
    let ops: Vec<Operation> = requests.iter().map(Request::operation).collect();
    assert_eq!(
        ops,
        Operation::ALL,
        "one sample request per operation, in table order"
    );
    for r in requests {
        let op = r.operation();
        let first = r.encode();
        let again = Request::decode(op, &first)
            .unwrap_or_else(|e| panic!("{}: {e}", op.name()))
            .encode();
        assert_eq!(body(&first), body(&again), "{}", op.name());
    }
}

#[test]
fn every_response_shape_reads_what_it_writes() {
    let responses = responses();
    let ops: Vec<Operation> = responses.iter().map(Response::operation).collect();
    assert_eq!(
        ops,
        Operation::ALL,
        "one sample response per operation, in table order"
    );
    for r in responses {
        let op = r.operation();
        let first = r.encode();
        let again = Response::decode(op, &first)
            .unwrap_or_else(|e| panic!("{}: {e}", op.name()))
            .encode();
        assert_eq!(body(&first), body(&again), "{}", op.name());
    }
}

#[test]
fn request_bodies_leave_out_what_is_empty_and_name_the_default_policy() {
    let enc = |r: Request| body(&r.encode());
    assert_eq!(enc(Request::CreateKey(CreateKeyRequest::new())), json!({}));
    assert_eq!(
        enc(Request::DescribeKey(DescribeKeyRequest::new(key()))),
        json!({"KeyId": key().to_string()})
    );
    assert_eq!(
        enc(Request::PutKeyPolicy(
            PutKeyPolicyRequest::new(key(), "{}".to_owned(), None).unwrap()
        )),
        json!({"KeyId": key().to_string(), "PolicyName": "default", "Policy": "{}"})
    );
    assert_eq!(
        enc(Request::GetKeyPolicy(
            GetKeyPolicyRequest::new(key(), None).unwrap()
        )),
        json!({"KeyId": key().to_string(), "PolicyName": "default"})
    );
    assert_eq!(
        enc(Request::RetireGrant(
            RetireGrantRequest::by_token("t".to_owned()).unwrap()
        )),
        json!({"GrantToken": "t"})
    );
    assert_eq!(
        enc(Request::GenerateDataKey(GenerateDataKeyRequest::new(
            key(),
            DataKeySpec::Aes128
        ))),
        json!({"KeyId": key().to_string(), "KeySpec": "AES_128"})
    );
    // Plaintext goes first, written once into its buffer; nothing empty follows it.
    let e = Request::Encrypt(EncryptRequest::new(key(), Plaintext::new(vec![1, 2, 3]))).encode();
    assert_eq!(
        std::str::from_utf8(&e).unwrap(),
        format!(r#"{{"Plaintext":"AQID","KeyId":"{}"}}"#, key())
    );
}

#[test]
fn response_bodies_are_shaped_as_aws_shapes_them() {
    let md = |spec| {
        body(
            &Response::DescribeKey(DescribeKeyResponse {
                key_metadata: metadata(spec),
            })
            .encode(),
        )["KeyMetadata"]
            .clone()
    };
    let legacy = md(KeySpec::SymmetricDefault);
    assert_eq!(legacy["CustomerMasterKeySpec"], "SYMMETRIC_DEFAULT");
    assert_eq!(legacy["KeySpec"], "SYMMETRIC_DEFAULT");
    assert_eq!(legacy["Description"], "");
    assert_eq!(legacy["CreationDate"], json!(1_700_000_000.5));
    assert_eq!(legacy["DeletionDate"], json!(1_700_000_000));
    assert_eq!(legacy["Enabled"], false);
    assert_eq!(legacy["MultiRegion"], true);
    assert_eq!(
        legacy["MultiRegionConfiguration"],
        json!({
            "MultiRegionKeyType": "PRIMARY",
            "PrimaryKey": {"Arn": arn().to_string(), "Region": "us-east-1"},
            "ReplicaKeys": [{"Arn": arn().to_string(), "Region": "eu-west-1"}],
        })
    );
    assert_eq!(legacy["ExpirationModel"], "KEY_MATERIAL_EXPIRES");
    assert_eq!(legacy["ValidTo"], json!(1_800_000_000));
    assert_eq!(legacy["CurrentKeyMaterialId"], "cd".repeat(32));
    assert_eq!(legacy["AWSAccountId"], "111122223333");
    assert_eq!(legacy["KeyId"], arn().key_id().to_string());
    assert_eq!(legacy["Arn"], arn().to_string());
    let units: Vec<Response> = vec![Response::EnableKey(()), Response::RetireGrant(())];
    for u in units {
        assert_eq!(&u.encode()[..], b"{}");
    }
    let random = Response::GenerateRandom(GenerateRandomResponse {
        plaintext: Plaintext::new(vec![0xff; 3]),
    })
    .encode();
    assert_eq!(&random[..], br#"{"Plaintext":"////"}"#);
}

#[test]
fn request_decoding_keeps_aws_messages_and_order() {
    let err = |op, b: &str| {
        let e = Request::decode(op, b.as_bytes()).err().unwrap();
        (e.status, e.code.into_owned(), e.message)
    };
    // The first broken member in the model's order is the one named.
    assert_eq!(
        err(Operation::Encrypt, r#"{"Plaintext": 1, "KeyId": ""}"#),
        (
            400,
            "ValidationException".to_owned(),
            "1 validation error detected: Value '' at 'keyId' failed to satisfy constraint: \
             Member must have length greater than or equal to 1"
                .to_owned()
        )
    );
    assert_eq!(
        err(Operation::Encrypt, &format!(r#"{{"KeyId": "{}"}}"#, key())),
        (
            400,
            "ValidationException".to_owned(),
            "1 validation error detected: Value null at 'plaintext' failed to satisfy \
             constraint: Member must not be null"
                .to_owned()
        )
    );
    assert_eq!(
        err(
            Operation::CreateGrant,
            &format!(
                r#"{{"KeyId": "{}", "GranteePrincipal": "{}", "Operations": ["Decrypt"],
                    "Constraints": {{"SourceArn": "x", "EncryptionContextEquals": 3}}}}"#,
                key(),
                principal()
            )
        ),
        (
            400,
            "UnsupportedOperationException".to_owned(),
            "Constraints.SourceArn is not supported: Lockbox grants constrain only the \
             encryption context"
                .to_owned()
        )
    );
    assert_eq!(
        err(
            Operation::GenerateDataKey,
            &format!(
                r#"{{"KeyId": "{}", "KeySpec": "AES_256", "Recipient": {{}}}}"#,
                key()
            )
        )
        .1,
        "UnsupportedOperationException"
    );
    // GenerateDataKeyWithoutPlaintext's model has no Recipient: an unknown member, ignored.
    assert!(
        Request::decode(
            Operation::GenerateDataKeyWithoutPlaintext,
            format!(
                r#"{{"KeyId": "{}", "KeySpec": "AES_256", "Recipient": {{}}}}"#,
                key()
            )
            .as_bytes()
        )
        .is_ok()
    );
    assert_eq!(
        err(
            Operation::ListKeys,
            r#"{"ResourceOwners": ["OTHER_ACCOUNTS_VIA_RAM"]}"#
        )
        .2,
        "ResourceOwners OTHER_ACCOUNTS_VIA_RAM is not supported: Lockbox shares no keys \
         through Resource Access Manager"
    );
    assert_eq!(
        err(Operation::RetireGrant, r#"{"GrantId": "g"}"#).2,
        "RetireGrant needs either GrantToken, or both KeyId and GrantId"
    );
}

#[test]
fn a_response_that_does_not_fit_names_the_operation() {
    let e = Response::decode(Operation::Encrypt, br#"{"KeyId": "alias/x"}"#)
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::KmsInternal);
    assert_eq!(
        e.message(),
        "The server's Encrypt response does not fit the AWS KMS model: 1 validation error \
         detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must \
         not be null"
    );
    // An answer that carries nothing is not looked at.
    assert!(Response::decode(Operation::EnableKey, b"not json").is_ok());
}
