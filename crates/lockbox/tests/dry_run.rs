//! DryRun through the engine, on each of the 15 operations whose AWS model has it: a call
//! that would succeed answers DryRunOperationException and does nothing (no grant made or
//! removed); a call that would fail answers the error it would have met (AccessDenied for a
//! caller the policy does not allow, DisabledException for a disabled key,
//! InvalidKeyUsageException for a key of the wrong usage); each is audited as AWS logs it,
//! with its error code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Root, engine, err};
use lockbox::api::*;
use lockbox_token::token_test;

/// Another account: the default key policy gives its principals nothing.
const OUTSIDER: &str = "arn:aws:iam::444455556666:user/mallory";

fn pt(b: &[u8]) -> Plaintext {
    Plaintext::copy_from(b)
}

/// The keys the operations need, and what one successful call of each made.
struct Keys {
    aes: KeyArn,
    sign: KeyArn,
    hmac: KeyArn,
    agree: KeyArn,
    ciphertext: Vec<u8>,
    signature: Vec<u8>,
    mac: Vec<u8>,
    peer: Vec<u8>,
    grant_id: String,
    grant_token: String,
}

/// A new key, named by its ARN (so that a caller of another account can name it).
fn create(kms: &Root, spec: KeySpec, usage: KeyUsage) -> KeyArn {
    kms.create_key(
        CreateKeyRequest::new()
            .with_key_spec(spec)
            .with_key_usage(usage),
    )
    .unwrap()
    .key_metadata
    .arn
}

fn keys(kms: &Root) -> Keys {
    let aes = create(kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let sign = create(kms, KeySpec::EccNistP256, KeyUsage::SignVerify);
    let hmac = create(kms, KeySpec::Hmac256, KeyUsage::GenerateVerifyMac);
    let agree = create(kms, KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    let other = create(kms, KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    let ciphertext = kms
        .encrypt(EncryptRequest::new(aes.clone(), pt(b"hello")))
        .unwrap()
        .ciphertext_blob;
    let signature = kms
        .sign(SignRequest::new(
            sign.clone(),
            pt(b"msg"),
            SigningAlgorithm::EcdsaSha256,
        ))
        .unwrap()
        .signature;
    let mac = kms
        .generate_mac(GenerateMacRequest::new(
            hmac.clone(),
            pt(b"msg"),
            MacAlgorithm::HmacSha256,
        ))
        .unwrap()
        .mac;
    let peer = kms
        .get_public_key(GetPublicKeyRequest::new(other))
        .unwrap()
        .public_key;
    let retiree = Principal::parse("arn:aws:iam::000000000000:role/retiree").unwrap();
    let g = kms
        .create_grant(
            CreateGrantRequest::new(aes.clone(), retiree.clone(), vec![GrantOperation::Encrypt])
                .with_retiring_principal(retiree),
        )
        .unwrap();
    Keys {
        aes,
        sign,
        hmac,
        agree,
        ciphertext,
        signature,
        mac,
        peer,
        grant_id: g.grant_id,
        grant_token: g.grant_token,
    }
}

/// Each operation with DryRun, as a request with `DryRun` set.
fn dry_requests(k: &Keys) -> Vec<Request> {
    let grantee = Principal::parse("arn:aws:iam::000000000000:role/worker").unwrap();
    vec![
        Request::Encrypt(EncryptRequest::new(k.aes.clone(), pt(b"x")).with_dry_run(true)),
        Request::Decrypt(DecryptRequest::new(k.ciphertext.clone()).with_dry_run(true)),
        Request::ReEncrypt(
            ReEncryptRequest::new(k.ciphertext.clone(), k.aes.clone()).with_dry_run(true),
        ),
        Request::GenerateDataKey(
            GenerateDataKeyRequest::new(k.aes.clone(), DataKeySpec::Aes256).with_dry_run(true),
        ),
        Request::GenerateDataKeyWithoutPlaintext(
            GenerateDataKeyRequest::new(k.aes.clone(), DataKeySpec::Aes128).with_dry_run(true),
        ),
        Request::GenerateDataKeyPair(
            GenerateDataKeyPairRequest::new(k.aes.clone(), DataKeyPairSpec::EccNistP256)
                .with_dry_run(true),
        ),
        Request::GenerateDataKeyPairWithoutPlaintext(
            GenerateDataKeyPairRequest::new(k.aes.clone(), DataKeyPairSpec::EccNistP256)
                .with_dry_run(true),
        ),
        Request::Sign(
            SignRequest::new(k.sign.clone(), pt(b"msg"), SigningAlgorithm::EcdsaSha256)
                .with_dry_run(true),
        ),
        Request::Verify(
            VerifyRequest::new(
                k.sign.clone(),
                pt(b"msg"),
                k.signature.clone(),
                SigningAlgorithm::EcdsaSha256,
            )
            .with_dry_run(true),
        ),
        Request::GenerateMac(
            GenerateMacRequest::new(k.hmac.clone(), pt(b"msg"), MacAlgorithm::HmacSha256)
                .with_dry_run(true),
        ),
        Request::VerifyMac(
            VerifyMacRequest::new(
                k.hmac.clone(),
                pt(b"msg"),
                MacAlgorithm::HmacSha256,
                k.mac.clone(),
            )
            .with_dry_run(true),
        ),
        Request::DeriveSharedSecret(
            DeriveSharedSecretRequest::new(k.agree.clone(), k.peer.clone()).with_dry_run(true),
        ),
        Request::CreateGrant(
            CreateGrantRequest::new(k.aes.clone(), grantee, vec![GrantOperation::Decrypt])
                .with_dry_run(true),
        ),
        Request::RetireGrant(
            RetireGrantRequest::by_token(k.grant_token.clone())
                .unwrap()
                .with_dry_run(true),
        ),
        Request::RevokeGrant(
            RevokeGrantRequest::new(k.aes.clone(), k.grant_id.clone()).with_dry_run(true),
        ),
    ]
}

fn grant_count(kms: &Root, key: &KeyArn) -> usize {
    kms.list_grants(ListGrantsRequest::new(key.clone()))
        .unwrap()
        .grants
        .len()
}

token_test!(
/// Every operation whose model has DryRun answers DryRunOperationException, in AWS's words,
/// when the call would succeed, and does nothing: the grant is neither made, nor retired,
/// nor revoked. Every such call is in the audit log with that error code.
fn an_allowed_dry_run_answers_dry_run_operation_and_does_nothing(t) {
    let kms = engine(t)?;
    let k = keys(&kms);
    let requests = dry_requests(&k);
    let ops: Vec<Operation> = requests.iter().map(Request::operation).collect();
    assert_eq!(ops.len(), 15);
    for r in requests {
        let op = r.operation();
        assert!(r.dry_run(), "{op:?}");
        let e = err(kms.call(r));
        assert_eq!(e.kind(), ErrorKind::DryRunOperation, "{op:?}: {e}");
        assert_eq!(e.code(), "DryRunOperationException");
        assert_eq!(e.message(), "The request would have succeeded, but the DryRun option is set.");
    }
    // The one grant made above is still there, and no other was made.
    assert_eq!(grant_count(&kms, &k.aes), 1);
    // The same requests without DryRun succeed: the dry run answered what the call would do.
    for r in dry_requests(&k) {
        let plain = match r {
            Request::Encrypt(r) => Request::Encrypt(r.with_dry_run(false)),
            Request::Sign(r) => Request::Sign(r.with_dry_run(false)),
            Request::CreateGrant(r) => Request::CreateGrant(r.with_dry_run(false)),
            _ => continue,
        };
        kms.call(plain)?;
    }
    assert_eq!(grant_count(&kms, &k.aes), 2);

    kms.audit().flush()?;
    let mut out = Vec::new();
    lockbox::audit::export(kms.store(), &lockbox::audit::ExportFilter::default(), "us-east-1", &mut out)?;
    let events: Vec<serde_json::Value> = String::from_utf8(out)?
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let dry: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["errorCode"] == "DryRunOperationException")
        .map(|e| (e["eventName"].as_str().unwrap(), e["resources"][0]["ARN"].as_str().unwrap_or("")))
        .collect();
    let names: Vec<&str> = dry.iter().map(|d| d.0).collect();
    assert_eq!(names, ops.iter().map(|o| o.name()).collect::<Vec<_>>());
    assert!(dry.iter().all(|d| d.1.starts_with("arn:aws:kms:")), "each names its key: {dry:?}");
    Ok(())
});

token_test!(
/// A caller the key's policy does not allow gets AccessDeniedException under DryRun, as it
/// would without: the dry run checks permissions first of all.
fn a_denied_dry_run_is_access_denied(t) {
    let kms = engine(t)?;
    let k = keys(&kms);
    let outsider = kms.as_caller(OUTSIDER);
    for r in dry_requests(&k) {
        let op = r.operation();
        let e = err(outsider.call(r));
        assert_eq!(e.kind(), ErrorKind::AccessDenied, "{op:?}: {e}");
    }
    assert_eq!(grant_count(&kms, &k.aes), 1);
    Ok(())
});

token_test!(
/// Under DryRun a disabled key is DisabledException, a key of the wrong usage
/// InvalidKeyUsageException, an unknown key NotFoundException, and a ciphertext Lockbox did
/// not make InvalidCiphertextException: the checks the real call makes before its
/// cryptography all run.
fn a_dry_run_that_would_fail_answers_the_failure(t) {
    let kms = engine(t)?;
    let k = keys(&kms);
    kms.disable_key(DisableKeyRequest::new(k.aes.clone()))?;
    for r in dry_requests(&k) {
        let op = r.operation();
        let e = err(kms.call(r));
        let want = match op {
            // Those that use the other keys, and the grant operations, which a disabled key
            // allows (AWS's key-state table).
            Operation::Sign | Operation::Verify | Operation::GenerateMac | Operation::VerifyMac
            | Operation::DeriveSharedSecret | Operation::CreateGrant | Operation::RetireGrant
            | Operation::RevokeGrant => {
                ErrorKind::DryRunOperation
            }
            _ => ErrorKind::Disabled,
        };
        assert_eq!(e.kind(), want, "{op:?}: {e}");
    }
    kms.enable_key(EnableKeyRequest::new(k.aes.clone()))?;

    let e = err(kms.sign(SignRequest::new(k.aes.clone(), pt(b"m"), SigningAlgorithm::EcdsaSha256).with_dry_run(true)));
    assert_eq!(e.kind(), ErrorKind::InvalidKeyUsage, "{e}");
    let e = err(kms.encrypt(EncryptRequest::new(k.hmac.clone(), pt(b"m")).with_dry_run(true)));
    assert_eq!(e.kind(), ErrorKind::InvalidKeyUsage, "{e}");
    let e = err(kms.generate_mac(GenerateMacRequest::new(k.hmac.clone(), pt(b"m"), MacAlgorithm::HmacSha512).with_dry_run(true)));
    assert_eq!(e.kind(), ErrorKind::InvalidKeyUsage, "{e}");
    let e = err(kms.encrypt(EncryptRequest::new(KeyId::from_bytes([7; 16]), pt(b"m")).with_dry_run(true)));
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = err(kms.decrypt(DecryptRequest::new(vec![1, 2, 3]).with_dry_run(true)));
    assert_eq!(e.kind(), ErrorKind::InvalidCiphertext, "{e}");
    let e = err(kms.revoke_grant(RevokeGrantRequest::new(k.aes.clone(), "ab".repeat(32)).with_dry_run(true)));
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    Ok(())
});
