//! Who may use a key, end to end through the engine: key policies (separation of duties,
//! deny precedence, conditions over every KMS condition key the engine sets, cross-account
//! access, the lockout check) and grants (constraints, retirement, revocation, tokens).
//!
//! The policy language itself has its own table of some 170 decisions (src/policy/tests.rs);
//! this file checks that the engine asks the right question of it for each operation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::engine;
use lockbox::api::*;
use lockbox_token::token_test;

const A: &str = "111122223333";
const B: &str = "444455556666";
const C: &str = "777788889999";

fn arn(account: &str, rest: &str) -> String {
    format!("arn:aws:iam::{account}:{rest}")
}

fn pt(b: &[u8]) -> Plaintext {
    Plaintext::copy_from(b)
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
}

/// The policy of the table's key: administrators who cannot use it, users who cannot
/// administer it, and one statement per condition key under test.
fn policy() -> String {
    let a = |r: &str| arn(A, r);
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": a("role/admin")},
             "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                        "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                        "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                        "kms:CancelKeyDeletion"],
             "Resource": "*"},
            {"Sid": "Users", "Effect": "Allow",
             "Principal": {"AWS": [a("role/app"), format!("arn:aws:iam::{B}:root")]},
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                        "kms:DescribeKey"],
             "Resource": "*"},
            {"Sid": "NoClassified", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt",
             "Resource": "*",
             "Condition": {"StringEquals": {"kms:EncryptionContext:classified": "yes"}}},
            {"Sid": "Rotator", "Effect": "Allow", "Principal": {"AWS": a("role/rotator")},
             "Action": "kms:EnableKeyRotation", "Resource": "*",
             "Condition": {"NumericLessThanEquals": {"kms:RotationPeriodInDays": 180}}},
            {"Sid": "Janitor", "Effect": "Allow", "Principal": {"AWS": a("role/janitor")},
             "Action": "kms:ScheduleKeyDeletion", "Resource": "*",
             "Condition": {"NumericGreaterThanEquals":
                 {"kms:ScheduleKeyDeletionPendingWindowInDays": 14}}},
            {"Sid": "ByAliasOnly", "Effect": "Allow", "Principal": {"AWS": a("role/aliaser")},
             "Action": "kms:Encrypt", "Resource": "*",
             "Condition": {"StringLike": {"kms:RequestAlias": "alias/finance-*"}}},
            {"Sid": "Granter", "Effect": "Allow", "Principal": {"AWS": a("role/granter")},
             "Action": "kms:CreateGrant", "Resource": "*",
             "Condition": {"ForAllValues:StringEquals":
                               {"kms:GrantOperations": ["Encrypt", "Decrypt"]},
                           "Bool": {"kms:GrantIsForAWSResource": false}}},
            {"Sid": "DeptContext", "Effect": "Allow", "Principal": {"AWS": a("role/dept")},
             "Action": "kms:Encrypt", "Resource": "*",
             "Condition": {"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": "dept*"}}},
            {"Sid": "SpecAndCaller", "Effect": "Allow", "Principal": "*",
             "Action": "kms:GenerateDataKeyWithoutPlaintext", "Resource": "*",
             "Condition": {"StringEquals": {"kms:KeySpec": "SYMMETRIC_DEFAULT",
                                            "kms:KeyUsage": "ENCRYPT_DECRYPT",
                                            "kms:KeyOrigin": "AWS_KMS",
                                            "kms:CallerAccount": C}}},
            {"Sid": "NeedsContext", "Effect": "Allow", "Principal": {"AWS": a("role/ctx")},
             "Action": "kms:GenerateDataKey", "Resource": "*",
             "Condition": {"Null": {"kms:EncryptionContextKeys": "false"},
                           "StringEqualsIgnoreCase": {"kms:EncryptionContext:Tenant": "ACME"}}},
            {"Sid": "NotTheIntern", "Effect": "Allow",
             "NotPrincipal": {"AWS": a("user/intern")}, "Action": "kms:GetKeyRotationStatus",
             "Resource": "*"}
        ]
    })
    .to_string()
}

type Op = Box<dyn Fn(&dyn Kms) -> Result<(), KmsError>>;

token_test!(
/// One key, one policy, and dozens of callers and operations: each decided as AWS decides.
fn the_key_policy_decides_every_operation(t) {
    let kms = engine(t)?;
    let admin = kms.as_caller(&arn(A, "role/admin"));
    let key = admin
        .create_key(CreateKeyRequest::new().with_policy(policy()))?
        .key_metadata;
    let id = key.key_id;
    let key_arn = key.arn.to_string();
    assert_eq!(key.aws_account_id, A);
    admin.create_alias(AliasRequest::new(AliasName::parse("alias/finance-x")?, id))?;
    admin.create_alias(AliasRequest::new(AliasName::parse("alias/hr")?, id))?;
    let app = kms.as_caller(&arn(A, "role/app"));
    let plain = app.encrypt(EncryptRequest::new(id, pt(b"p")))?.ciphertext_blob;
    let classified_ctx = ctx(&[("classified", "yes")]);
    let classified = app
        .encrypt(EncryptRequest::new(id, pt(b"c")).with_encryption_context(classified_ctx.clone()))?
        .ciphertext_blob;

    let by_arn = || KeyRef::parse(&key_arn).unwrap();
    let encrypt = move |k: KeyRef, c: EncryptionContext| -> Op {
        Box::new(move |kms| kms.encrypt(EncryptRequest::new(k.clone(), pt(b"x")).with_encryption_context(c.clone())).map(drop))
    };
    let decrypt = |blob: &Vec<u8>, c: EncryptionContext| -> Op {
        let blob = blob.clone();
        Box::new(move |kms| kms.decrypt(DecryptRequest::new(blob.clone()).with_encryption_context(c.clone())).map(drop))
    };
    let op = |f: fn(&dyn Kms, KeyId) -> Result<(), KmsError>| -> Op { Box::new(move |kms| f(kms, id)) };
    let alias = |name: &str| KeyRef::parse(name).unwrap();
    let none = EncryptionContext::empty;
    use ErrorKind::{AccessDenied as Denied, NotFound};
    let cases: Vec<(&str, String, Op, Option<ErrorKind>)> = vec![
        // Separation of duties.
        ("admin describes", arn(A, "role/admin"), op(|k, id| k.describe_key(DescribeKeyRequest::new(id)).map(drop)), None),
        ("admin cannot encrypt", arn(A, "role/admin"), encrypt(id.into(), none()), Some(Denied)),
        ("admin cannot decrypt", arn(A, "role/admin"), decrypt(&plain, none()), Some(Denied)),
        ("admin disables and enables", arn(A, "role/admin"), op(|k, id| { k.disable_key(DisableKeyRequest::new(id))?; k.enable_key(EnableKeyRequest::new(id)) }), None),
        ("admin reads the policy", arn(A, "role/admin"), op(|k, id| k.get_key_policy(GetKeyPolicyRequest::new(id, None)?).map(drop)), None),
        ("app encrypts", arn(A, "role/app"), encrypt(id.into(), none()), None),
        ("app decrypts", arn(A, "role/app"), decrypt(&plain, none()), None),
        ("app re-encrypts (ReEncrypt* covers From and To)", arn(A, "role/app"), { let b = plain.clone(); Box::new(move |k: &dyn Kms| k.re_encrypt(ReEncryptRequest::new(b.clone(), id)).map(drop)) }, None),
        ("app cannot put a policy", arn(A, "role/app"), op(|k, id| k.put_key_policy(PutKeyPolicyRequest::new(id, policy(), None)?)), Some(Denied)),
        ("app cannot disable", arn(A, "role/app"), op(|k, id| k.disable_key(DisableKeyRequest::new(id))), Some(Denied)),
        ("app cannot tag", arn(A, "role/app"), op(|k, id| k.tag_resource(TagResourceRequest::new(id, vec![Tag::new("a", "b")?]))), Some(Denied)),
        ("app cannot list grants", arn(A, "role/app"), op(|k, id| k.list_grants(ListGrantsRequest::new(id)).map(drop)), Some(Denied)),
        // Deny wins, whoever is allowed otherwise.
        ("explicit deny beats the app's allow", arn(A, "role/app"), decrypt(&classified, classified_ctx.clone()), Some(Denied)),
        ("explicit deny is not lifted for the admin", arn(A, "role/admin"), decrypt(&classified, classified_ctx.clone()), Some(Denied)),
        // No statement: denied.
        ("a stranger in the account", arn(A, "role/other"), op(|k, id| k.describe_key(DescribeKeyRequest::new(id)).map(drop)), Some(Denied)),
        ("the account root is not named", arn(A, "root"), encrypt(id.into(), none()), Some(Denied)),
        // Cross-account.
        ("account B's root encrypts by key ARN", arn(B, "root"), encrypt(by_arn(), none()), None),
        ("a user of account B encrypts by key ARN", arn(B, "user/bob"), encrypt(by_arn(), none()), None),
        ("account B decrypts (blob names the key)", arn(B, "user/bob"), decrypt(&plain, none()), None),
        ("a bare key id is looked up in the caller's account", arn(B, "root"), encrypt(id.into(), none()), Some(NotFound)),
        ("account B cannot disable (not cross-account capable)", arn(B, "root"), { let k = by_arn(); Box::new(move |kms: &dyn Kms| kms.disable_key(DisableKeyRequest::new(k.clone()))) }, Some(Denied)),
        ("account C is not named", arn(C, "root"), encrypt(by_arn(), none()), Some(Denied)),
        // Condition keys.
        ("rotation period within the bound", arn(A, "role/rotator"), op(|k, id| k.enable_key_rotation(EnableKeyRotationRequest::new(id).with_rotation_period_in_days(180))), None),
        ("rotation period beyond the bound", arn(A, "role/rotator"), op(|k, id| k.enable_key_rotation(EnableKeyRotationRequest::new(id).with_rotation_period_in_days(365))), Some(Denied)),
        ("deletion window too short", arn(A, "role/janitor"), op(|k, id| k.schedule_key_deletion(ScheduleKeyDeletionRequest::new(id).with_pending_window_in_days(7)).map(drop)), Some(Denied)),
        ("deletion window long enough", arn(A, "role/janitor"), op(|k, id| k.schedule_key_deletion(ScheduleKeyDeletionRequest::new(id).with_pending_window_in_days(14)).map(drop)), None),
        ("the admin cancels it", arn(A, "role/admin"), op(|k, id| { k.cancel_key_deletion(CancelKeyDeletionRequest::new(id))?; k.enable_key(EnableKeyRequest::new(id)) }), None),
        ("by the finance alias", arn(A, "role/aliaser"), encrypt(alias("alias/finance-x"), none()), None),
        ("by another alias", arn(A, "role/aliaser"), encrypt(alias("alias/hr"), none()), Some(Denied)),
        ("by key id: no alias in the request", arn(A, "role/aliaser"), encrypt(id.into(), none()), Some(Denied)),
        ("grant of allowed operations", arn(A, "role/granter"), op(|k, id| k.create_grant(CreateGrantRequest::new(id, Principal::parse(&arn(A, "role/w"))?, vec![GrantOperation::Encrypt])).map(drop)), None),
        ("grant of one more operation", arn(A, "role/granter"), op(|k, id| k.create_grant(CreateGrantRequest::new(id, Principal::parse(&arn(A, "role/w"))?, vec![GrantOperation::Encrypt, GrantOperation::RetireGrant])).map(drop)), Some(Denied)),
        ("a dept* context key", arn(A, "role/dept"), encrypt(id.into(), ctx(&[("dept-code", "x")])), None),
        ("no dept* context key", arn(A, "role/dept"), encrypt(id.into(), ctx(&[("team", "x")])), Some(Denied)),
        ("no context at all (ForAnyValue of nothing)", arn(A, "role/dept"), encrypt(id.into(), none()), Some(Denied)),
        ("key spec, usage, origin and caller account C", arn(C, "user/carol"), { let k = by_arn(); Box::new(move |kms: &dyn Kms| kms.generate_data_key_without_plaintext(GenerateDataKeyRequest::new(k.clone(), DataKeySpec::Aes256)).map(drop)) }, None),
        ("the same for account B", arn(B, "user/bob2"), { let k = by_arn(); Box::new(move |kms: &dyn Kms| kms.generate_data_key(GenerateDataKeyRequest::new(k.clone(), DataKeySpec::Aes256)).map(drop)) }, None),
        ("context present, value matched ignoring case", arn(A, "role/ctx"), { Box::new(move |kms: &dyn Kms| kms.generate_data_key(GenerateDataKeyRequest::new(id, DataKeySpec::Aes256).with_encryption_context(ctx(&[("tenant", "acme")]))).map(drop)) }, None),
        ("context absent: Null says no", arn(A, "role/ctx"), op(|k, id| k.generate_data_key(GenerateDataKeyRequest::new(id, DataKeySpec::Aes256)).map(drop)), Some(Denied)),
        ("NotPrincipal: everyone but the intern", arn(A, "user/anyone"), op(|k, id| k.get_key_rotation_status(GetKeyRotationStatusRequest::new(id)).map(drop)), None),
        ("NotPrincipal: the intern", arn(A, "user/intern"), op(|k, id| k.get_key_rotation_status(GetKeyRotationStatusRequest::new(id)).map(drop)), Some(Denied)),
    ];
    assert!(cases.len() >= 40);
    for (name, caller, f, want) in &cases {
        let client = kms.as_caller(caller);
        let got = f(&client);
        match (want, got) {
            (None, Ok(())) => {}
            (Some(k), Err(e)) if e.kind() == *k => {
                if *k == Denied {
                    assert!(e.message().starts_with(&format!("User: {caller} is not authorized")), "{name}: {e}");
                }
            }
            (want, got) => panic!("{name}: wanted {want:?}, got {got:?}"),
        }
    }
    Ok(())
});

token_test!(
/// The key's account owns its aliases and listings: other accounts see none of them.
fn accounts_see_only_their_own_keys_and_aliases(t) {
    let kms = engine(t)?;
    let a = kms.as_caller(&arn(A, "user/ann"));
    let b = kms.as_caller(&arn(B, "user/ben"));
    let ka = a.create_key(CreateKeyRequest::new())?.key_metadata;
    let kb = b.create_key(CreateKeyRequest::new())?.key_metadata;
    assert_eq!((ka.aws_account_id.as_str(), kb.aws_account_id.as_str()), (A, B));
    assert!(ka.arn.to_string().contains(&format!(":{A}:key/")));
    // The same alias name in two accounts names two keys.
    a.create_alias(AliasRequest::new(AliasName::parse("alias/app")?, ka.key_id))?;
    b.create_alias(AliasRequest::new(AliasName::parse("alias/app")?, kb.key_id))?;
    let via = |k: &dyn Kms| k.describe_key(DescribeKeyRequest::new(KeyRef::parse("alias/app").unwrap())).unwrap().key_metadata.key_id;
    assert_eq!((via(&a), via(&b)), (ka.key_id, kb.key_id));
    let ids = |k: &dyn Kms| k.list_keys(ListKeysRequest::new()).unwrap().keys.into_iter().map(|e| e.key_id).collect::<Vec<_>>();
    assert_eq!(ids(&a), [ka.key_id]);
    assert_eq!(ids(&b), [kb.key_id]);
    assert_eq!(b.list_aliases(ListAliasesRequest::new())?.aliases.len(), 1);
    // The default policy lets every principal of the owning account in, and no one else.
    kms.as_caller(&arn(A, "role/anything")).encrypt(EncryptRequest::new(ka.key_id, pt(b"x")))?;
    let e = b.encrypt(EncryptRequest::new(KeyRef::parse(&ka.arn.to_string())?, pt(b"x"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AccessDenied);
    assert_eq!(e.message(), format!("User: {} is not authorized to perform: kms:Encrypt on resource: {} because no resource-based policy or grant allows the kms:Encrypt action", arn(B, "user/ben"), ka.arn));
    // An alias of another account's key cannot be made.
    let e = b.create_alias(AliasRequest::new(AliasName::parse("alias/theirs")?, KeyRef::parse(&ka.arn.to_string())?)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AccessDenied);
    // GenerateRandom and ListRetirableGrants act in the caller's account only.
    b.generate_random(GenerateRandomRequest::new(NumberOfBytes::new(8)?))?;
    let e = b.list_retirable_grants(ListRetirableGrantsRequest::new(Principal::parse(&arn(A, "user/ann"))?)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AccessDenied);
    Ok(())
});

token_test!(
/// The lockout check refuses a policy that would shut its author out; the bypass applies it;
/// a malformed document names the statement and field.
fn the_policy_lockout_check_and_malformed_documents(t) {
    let kms = engine(t)?;
    let admin = kms.as_caller(&arn(A, "role/admin"));
    let only_app = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": arn(A, "role/app")}, "Action": "kms:*", "Resource": "*"}]}).to_string();
    // CreateKey with a policy that does not let its creator change it.
    let e = admin.create_key(CreateKeyRequest::new().with_policy(only_app.clone())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MalformedPolicyDocument);
    assert!(e.message().starts_with("The new key policy will not allow you to update the key policy in the future"), "{e}");
    assert_eq!(admin.list_keys(ListKeysRequest::new())?.keys.len(), 0, "nothing was created");
    let key = admin.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    let e = admin.put_key_policy(PutKeyPolicyRequest::new(key, only_app.clone(), None)?).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MalformedPolicyDocument);
    // Nothing changed: the default policy is still in force and still readable.
    let got = admin.get_key_policy(GetKeyPolicyRequest::new(key, Some("default"))?)?;
    assert!(got.policy.contains(&format!("arn:aws:iam::{A}:root")));
    assert_eq!(admin.list_key_policies(ListKeyPoliciesRequest::new(key))?.policy_names, ["default"]);
    let e = GetKeyPolicyRequest::new(key, Some("other")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    // With the bypass the policy applies, and the admin is locked out for good.
    admin.put_key_policy(PutKeyPolicyRequest::new(key, only_app.clone(), None)?.with_bypass_policy_lockout_safety_check(true))?;
    assert_eq!(admin.get_key_policy(GetKeyPolicyRequest::new(key, None)?).unwrap_err().kind(), ErrorKind::AccessDenied);
    let app = kms.as_caller(&arn(A, "role/app"));
    assert_eq!(app.get_key_policy(GetKeyPolicyRequest::new(key, None)?)?.policy, only_app);
    // Malformed: the statement and field are named; nothing stored changes.
    for (doc, message) in [
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#,
         r#"Statement 1: Effect must be "Allow" or "Deny", found "allow""#),
        ("not json", "Policy: not valid JSON"),
    ] {
        let e = app.put_key_policy(PutKeyPolicyRequest::new(key, doc, None)?).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MalformedPolicyDocument, "{doc}");
        assert!(e.message().starts_with(message), "{doc}: {e}");
    }
    let big = format!("{{\"Version\":\"2012-10-17\",\"Id\":\"{}\",\"Statement\":[]}}", "x".repeat(MAX_POLICY_LEN));
    let e = app.put_key_policy(PutKeyPolicyRequest::new(key, big, None)?).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MalformedPolicyDocument);
    assert_eq!(app.get_key_policy(GetKeyPolicyRequest::new(key, None)?)?.policy, only_app);
    // A missing key is NotFoundException, whatever the document, as AWS answers.
    let missing = KeyId::from_random_bytes([7; 16]);
    let e = app.put_key_policy(PutKeyPolicyRequest::new(missing, "not json", None)?).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    Ok(())
});

fn principal(account: &str, rest: &str) -> Principal {
    Principal::parse(&arn(account, rest)).unwrap()
}

token_test!(
/// Grants: effective at once, bounded by their constraints, retired by the retiring principal
/// (and not by the grantee without RetireGrant), revoked by an administrator.
fn grants_delegate_narrow_rights_at_once(t) {
    let kms = engine(t)?;
    let owner = kms.as_caller(&arn(A, "role/owner"));
    let key = owner.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    let worker = kms.as_caller(&arn(A.replace('1', "9").as_str(), "role/worker"));
    // The grantee is in another account: without a grant it can do nothing.
    let key_arn = owner.describe_key(DescribeKeyRequest::new(key))?.key_metadata.arn.to_string();
    let k = || KeyRef::parse(&key_arn).unwrap();
    let tenant = ctx(&[("tenant", "acme"), ("request", "7")]);
    assert_eq!(worker.encrypt(EncryptRequest::new(k(), pt(b"x")).with_encryption_context(tenant.clone())).unwrap_err().kind(), ErrorKind::AccessDenied);

    let worker_p = worker.caller().principal().clone();
    let grant = owner.create_grant(
        CreateGrantRequest::new(key, worker_p.clone(), vec![GrantOperation::Encrypt, GrantOperation::Decrypt])
            .with_constraints(GrantConstraints { encryption_context_subset: Some(ctx(&[("tenant", "acme")])), encryption_context_equals: None })
            .with_retiring_principal(principal(A, "role/retirer")),
    )?;
    assert_eq!(grant.grant_id.len(), 64);
    // Used immediately, with its token or without.
    let blob = worker.encrypt(EncryptRequest::new(k(), pt(b"x")).with_encryption_context(tenant.clone()).with_grant_tokens(GrantTokens::new(vec![grant.grant_token.clone()])?))?.ciphertext_blob;
    worker.decrypt(DecryptRequest::new(blob.clone()).with_encryption_context(tenant.clone()))?;
    // The constraint: the context must contain tenant=acme.
    assert_eq!(worker.encrypt(EncryptRequest::new(k(), pt(b"x"))).unwrap_err().kind(), ErrorKind::AccessDenied);
    assert_eq!(worker.encrypt(EncryptRequest::new(k(), pt(b"x")).with_encryption_context(ctx(&[("tenant", "other")]))).unwrap_err().kind(), ErrorKind::AccessDenied);
    // Only the operations granted.
    assert_eq!(worker.describe_key(DescribeKeyRequest::new(k())).unwrap_err().kind(), ErrorKind::AccessDenied);
    assert_eq!(worker.generate_data_key(GenerateDataKeyRequest::new(k(), DataKeySpec::Aes256).with_encryption_context(tenant.clone())).map(drop).unwrap_err().kind(), ErrorKind::AccessDenied);
    // A malformed grant token is refused as such.
    let e = worker.encrypt(EncryptRequest::new(k(), pt(b"x")).with_encryption_context(tenant.clone()).with_grant_tokens(GrantTokens::new(vec!["forged".into()])?)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidGrantToken);

    // Listed for the key's administrators and for the retiring principal.
    let listed = owner.list_grants(ListGrantsRequest::new(key))?.grants;
    assert_eq!(listed.len(), 1);
    let g = &listed[0];
    assert_eq!((g.grant_id.as_str(), g.grantee_principal.as_str(), g.retiring_principal.as_deref()), (grant.grant_id.as_str(), worker_p.arn(), Some(arn(A, "role/retirer").as_str())));
    assert_eq!(g.operations, [GrantOperation::Decrypt, GrantOperation::Encrypt]);
    assert_eq!(g.issuing_account, arn(A, "root"));
    let retirer = kms.as_caller(&arn(A, "role/retirer"));
    let retirable = retirer.list_retirable_grants(ListRetirableGrantsRequest::new(principal(A, "role/retirer")))?.grants;
    assert_eq!(retirable.len(), 1);
    // The grantee may not retire it (RetireGrant is not one of its operations).
    let e = worker.retire_grant(RetireGrantRequest::by_token(grant.grant_token.clone())?).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AccessDenied);
    // The retiring principal may, by token; at once the worker is refused.
    retirer.retire_grant(RetireGrantRequest::by_token(grant.grant_token.clone())?)?;
    assert_eq!(worker.decrypt(DecryptRequest::new(blob).with_encryption_context(tenant.clone())).map(drop).unwrap_err().kind(), ErrorKind::AccessDenied);
    assert!(owner.list_grants(ListGrantsRequest::new(key))?.grants.is_empty());
    assert_eq!(retirer.retire_grant(RetireGrantRequest::by_token(grant.grant_token)?).unwrap_err().kind(), ErrorKind::NotFound);

    // EncryptionContextEquals: exactly that context. A name makes the call idempotent.
    let name = GrantName::new("exact-1")?;
    let equals = GrantConstraints { encryption_context_subset: None, encryption_context_equals: Some(ctx(&[("a", "1")])) };
    let req = CreateGrantRequest::new(key, worker_p.clone(), vec![GrantOperation::Encrypt]).with_constraints(equals.clone()).with_name(name.clone());
    let g1 = owner.create_grant(req.clone())?;
    let g2 = owner.create_grant(req)?;
    assert_eq!(g1.grant_id, g2.grant_id, "a retry with the same name and parameters");
    worker.encrypt(EncryptRequest::new(k(), pt(b"x")).with_encryption_context(ctx(&[("a", "1")])))?;
    assert_eq!(worker.encrypt(EncryptRequest::new(k(), pt(b"x")).with_encryption_context(ctx(&[("a", "1"), ("b", "2")]))).unwrap_err().kind(), ErrorKind::AccessDenied);
    // Revoked by an administrator: refused at once; a second revocation finds nothing.
    owner.revoke_grant(RevokeGrantRequest::new(key, g1.grant_id.clone()))?;
    assert_eq!(worker.encrypt(EncryptRequest::new(k(), pt(b"x")).with_encryption_context(ctx(&[("a", "1")]))).unwrap_err().kind(), ErrorKind::AccessDenied);
    assert_eq!(owner.revoke_grant(RevokeGrantRequest::new(key, g1.grant_id)).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(owner.revoke_grant(RevokeGrantRequest::new(key, "xyz".into())).unwrap_err().kind(), ErrorKind::InvalidGrantId);
    // Grants that no symmetric key can honour, or constraints on operations without context.
    assert_eq!(owner.create_grant(CreateGrantRequest::new(key, worker_p.clone(), vec![GrantOperation::Sign])).unwrap_err().kind(), ErrorKind::Validation);
    assert_eq!(owner.create_grant(CreateGrantRequest::new(key, worker_p.clone(), vec![])).unwrap_err().kind(), ErrorKind::Validation);
    Ok(())
});

token_test!(
/// A grant that allows CreateGrant allows only narrower grants; an explicit deny in the key
/// policy beats any grant.
fn grants_cannot_widen_themselves_or_beat_a_deny(t) {
    let kms = engine(t)?;
    let owner = kms.as_caller(&arn(A, "role/owner"));
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": arn(A, "root")}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": arn(B, "role/banned")}, "Action": "kms:Encrypt", "Resource": "*"}]}).to_string();
    let key = owner.create_key(CreateKeyRequest::new().with_policy(policy))?.key_metadata.arn.to_string();
    let k = || KeyRef::parse(&key).unwrap();
    // Explicit deny wins over a grant.
    owner.create_grant(CreateGrantRequest::new(k(), principal(B, "role/banned"), vec![GrantOperation::Encrypt]))?;
    let banned = kms.as_caller(&arn(B, "role/banned"));
    let e = banned.encrypt(EncryptRequest::new(k(), pt(b"x"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AccessDenied);
    assert!(e.message().ends_with("with an explicit deny in a resource-based policy"), "{e}");
    // A delegating grant: CreateGrant and Encrypt, context subset t=1.
    let sub = |pairs: &[(&str, &str)]| GrantConstraints { encryption_context_subset: Some(ctx(pairs)), encryption_context_equals: None };
    owner.create_grant(CreateGrantRequest::new(k(), principal(B, "role/delegate"), vec![GrantOperation::CreateGrant, GrantOperation::Encrypt]).with_constraints(sub(&[("t", "1")])))?;
    let delegate = kms.as_caller(&arn(B, "role/delegate"));
    let to = principal(B, "role/sub");
    delegate.create_grant(CreateGrantRequest::new(k(), to.clone(), vec![GrantOperation::Encrypt]).with_constraints(sub(&[("t", "1"), ("u", "2")])))?;
    for (ops, c) in [
        (vec![GrantOperation::Decrypt], Some(sub(&[("t", "1")]))),
        (vec![GrantOperation::Encrypt], None),
        (vec![GrantOperation::Encrypt], Some(sub(&[("t", "2")]))),
    ] {
        let mut req = CreateGrantRequest::new(k(), to.clone(), ops.clone());
        if let Some(c) = c.clone() { req = req.with_constraints(c); }
        assert_eq!(delegate.create_grant(req).unwrap_err().kind(), ErrorKind::AccessDenied, "{ops:?} {c:?}");
    }
    let sub_caller = kms.as_caller(&arn(B, "role/sub"));
    sub_caller.encrypt(EncryptRequest::new(k(), pt(b"x")).with_encryption_context(ctx(&[("t", "1"), ("u", "2"), ("v", "3")])))?;
    assert_eq!(sub_caller.encrypt(EncryptRequest::new(k(), pt(b"x")).with_encryption_context(ctx(&[("t", "1")]))).unwrap_err().kind(), ErrorKind::AccessDenied);
    Ok(())
});

token_test!(
/// Invariant 8: every call leaves an audit record — allowed or denied, succeeded or failed —
/// naming the caller, the operation, the key, the context and the outcome; the log verifies.
fn every_call_allowed_or_denied_leaves_an_audit_record(t) {
    let kms = engine(t)?;
    let owner = kms.as_caller(&arn(A, "user/owner"));
    let key = owner.create_key(CreateKeyRequest::new())?.key_metadata;
    let c = ctx(&[("purpose", "audit-test")]);
    owner.encrypt(EncryptRequest::new(key.key_id, pt(b"x")).with_encryption_context(c.clone()))?;
    let outsider = kms.as_caller(&arn(B, "user/mallory"));
    let key_ref = KeyRef::parse(&key.arn.to_string())?;
    assert_eq!(outsider.encrypt(EncryptRequest::new(key_ref, pt(b"x")).with_encryption_context(c)).unwrap_err().kind(), ErrorKind::AccessDenied);
    assert_eq!(owner.describe_key(DescribeKeyRequest::new(KeyRef::parse("alias/none")?)).unwrap_err().kind(), ErrorKind::NotFound);
    let last_request = owner.last_request_id().expect("a call was made");
    kms.audit().flush()?;
    let mut out = Vec::new();
    let n = lockbox::audit::export(kms.store(), &lockbox::audit::ExportFilter::default(), "us-east-1", &mut out)?;
    let events: Vec<serde_json::Value> = String::from_utf8(out)?.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(n as usize, events.len());
    let summary: Vec<(String, String, Option<String>)> = events.iter().map(|e| (
        e["eventName"].as_str().unwrap().to_owned(),
        e["userIdentity"]["arn"].as_str().unwrap().to_owned(),
        e["errorCode"].as_str().map(str::to_owned),
    )).collect();
    assert_eq!(summary, [
        ("CreateKey".to_owned(), arn(A, "user/owner"), None),
        ("Encrypt".to_owned(), arn(A, "user/owner"), None),
        ("Encrypt".to_owned(), arn(B, "user/mallory"), Some("AccessDeniedException".to_owned())),
        ("DescribeKey".to_owned(), arn(A, "user/owner"), Some("NotFoundException".to_owned())),
    ]);
    // The denied call names the key it was denied on, and the context it asked with.
    assert_eq!(events[2]["resources"][0]["ARN"], key.arn.to_string());
    assert_eq!(events[2]["requestParameters"]["encryptionContext"]["purpose"], "audit-test");
    let ids: std::collections::HashSet<&str> = events.iter().map(|e| e["requestID"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "request ids are unique");
    for id in &ids {
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{id} is shaped as a UUID");
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{id}");
    }
    // The client tells its caller the request id the record carries.
    assert_eq!(events[3]["requestID"], last_request.as_str());
    // The call's outcome message and its source are recorded as the call saw them.
    assert_eq!(events[3]["errorMessage"], "Alias arn:aws:kms:us-east-1:111122223333:alias/none is not found.");
    assert_eq!(events[1]["sourceIPAddress"], "in-process");
    kms.audit().seal()?;
    let report = lockbox::audit::verify(kms.store(), kms.token())?;
    assert!(report.is_clean(), "{report:?}");
    Ok(())
});
