//! `lockbox serve` driven by the official AWS SDK for Rust (`aws-sdk-kms`), as an application
//! would: each test starts the real server (`Server::start`: AWS JSON 1.1 and SigV4) on
//! 127.0.0.1:0 over an engine on its own throwaway SoftHSM token, with a credentials store of
//! known test keys, and talks to it over plain HTTP with the SDK's own signer, codec, error
//! parsing and retry strategy.
//!
//! What these pin down beyond the codec tests: that the SDK accepts every response body
//! (its deserializers are strict about types), that each AWS error code reaches the caller as
//! the SDK's typed variant (or, for codes the KMS model does not declare, as an error whose
//! `code()` is that code), that the SDK's signatures verify, that its request id is the one the
//! audit log records, and that the SDK's retry strategy recovers from our throttling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::error::Error;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_kms::Client;
use aws_sdk_kms::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_kms::error::{BoxError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::operation::create_alias::CreateAliasError;
use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::operation::describe_key::DescribeKeyError;
use aws_sdk_kms::operation::encrypt::EncryptError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeySpec, EncryptionAlgorithmSpec, GrantOperation, KeySpec, KeyState, KeyUsageType,
    RotationType, Tag,
};
use lockbox::api::Principal;
use lockbox::{Config, Engine};
use lockbox_server::credentials::{Credential, CredentialStore, SecretKey};
use lockbox_server::server::{Server, ServerConfig, ServerHandle};
use lockbox_token::testing::{TestResult, TestToken};
use lockbox_token::token_test;

/// The key administrator: in the engine's own account, which the key policy allows.
const ADMIN: &str = "arn:aws:iam::000000000000:user/admin";
const ADMIN_KEY_ID: &str = "LBKSDKTESTADMIN00001";
const ADMIN_SECRET: &str = "sdk-test-secret-admin-0000000000000000000";
/// An application in another account: only grants let it use the key.
const APP: &str = "arn:aws:iam::111122223333:role/app";
const APP_KEY_ID: &str = "LBKSDKTESTAPP0000002";
const APP_SECRET: &str = "sdk-test-secret-app-00000000000000000000";
/// A principal that neither the policy nor any grant names.
const MALLORY: &str = "arn:aws:iam::444455556666:user/mallory";
const MALLORY_KEY_ID: &str = "LBKSDKTESTMALLORY003";
const MALLORY_SECRET: &str = "sdk-test-secret-mallory-0000000000000000";

const REGION: &str = "us-east-1";

fn policy(sid: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{sid}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    )
}

fn credentials() -> CredentialStore {
    let entry = |id: &str, secret: &str, arn: &str| {
        Credential::new(
            id,
            SecretKey::new(secret.to_owned()),
            Principal::parse(arn).unwrap(),
        )
        .unwrap()
    };
    CredentialStore::from_entries([
        entry(ADMIN_KEY_ID, ADMIN_SECRET, ADMIN),
        entry(APP_KEY_ID, APP_SECRET, APP),
        entry(MALLORY_KEY_ID, MALLORY_SECRET, MALLORY),
    ])
    .unwrap()
}

/// Starts the real server over a new engine on `t`'s token.
fn start(t: &TestToken, config: ServerConfig) -> (Arc<Engine>, ServerHandle) {
    let engine = Arc::new(Engine::open(Config::new(t.dir().join("data"), t.config())).unwrap());
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..config
    };
    let server = Server::start(engine.clone(), credentials(), config).unwrap();
    (engine, server)
}

/// Runs `body` on a runtime of the test's own: the server has its own runtime, which must not
/// be started or stopped from inside another.
fn run<F: Future<Output = TestResult>>(body: F) -> TestResult {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(body)
}

/// An SDK client for `addr`, built as an application would without `aws-config`, on smithy's
/// hyper client without TLS (`build_http`: public though hidden from the docs; a TLS provider
/// would compile rustls and aws-lc or ring for a loopback server that speaks plain HTTP).
fn client(addr: SocketAddr, access_key_id: &str, secret: &str) -> Client {
    client_with(addr, access_key_id, secret, RetryConfig::standard(), None)
}

fn client_with(
    addr: SocketAddr,
    access_key_id: &str,
    secret: &str,
    retry: RetryConfig,
    attempts: Option<Attempts>,
) -> Client {
    let mut config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(format!("http://{addr}"))
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            access_key_id,
            secret,
            None,
            None,
            "lockbox-tests",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(retry);
    if let Some(a) = attempts {
        config = config.interceptor(a);
    }
    Client::from_conf(config.build())
}

/// Counts the HTTP attempts the SDK makes (one per try, retries included).
#[derive(Clone, Debug, Default)]
struct Attempts(Arc<AtomicU32>);

impl Attempts {
    fn count(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Intercept for Attempts {
    fn name(&self) -> &'static str {
        "Attempts"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Turns an SDK result into one whose error prints the whole chain (the SDK's own `Display`
/// says only "service error").
trait Sdk<T> {
    fn sdk(self) -> Result<T, Box<dyn Error>>;
}

impl<T, E: Error + 'static, R: Debug> Sdk<T> for Result<T, SdkError<E, R>> {
    fn sdk(self) -> Result<T, Box<dyn Error>> {
        self.map_err(|e| format!("{}", DisplayErrorContext(&e)).into())
    }
}

/// The service error a call answered; panics if it succeeded or failed before an answer.
#[track_caller]
fn service_error<T: Debug, E: Error + 'static, R: Debug>(r: Result<T, SdkError<E, R>>) -> E {
    match r {
        Ok(v) => panic!("expected a service error, got {v:?}"),
        Err(SdkError::ServiceError(e)) => e.into_err(),
        Err(e) => panic!("expected a service error, got {}", DisplayErrorContext(&e)),
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .tag_key(key)
        .tag_value(value)
        .build()
        .unwrap()
}

fn bytes(blob: Option<&Blob>) -> &[u8] {
    blob.expect("a blob").as_ref()
}

token_test!(fn the_aws_sdk_drives_the_whole_key_lifecycle(t) {
    let (engine, server) = start(t, ServerConfig::default());
    let addr = server.local_addr();
    run(async {
        let admin = client(addr, ADMIN_KEY_ID, ADMIN_SECRET);
        let app = client(addr, APP_KEY_ID, APP_SECRET);
        let mallory = client(addr, MALLORY_KEY_ID, MALLORY_SECRET);

        // CreateKey with a description, tags and a policy; DescribeKey agrees.
        let created = admin
            .create_key()
            .description("sdk key")
            .tags(tag("team", "crypto"))
            .tags(tag("env", "test"))
            .policy(policy("Admins"))
            .send()
            .await
            .sdk()?;
        let meta = created.key_metadata().expect("metadata").clone();
        let key = meta.key_id().to_owned();
        let arn = meta.arn().expect("an ARN").to_owned();
        assert_eq!(arn, format!("arn:aws:kms:{REGION}:000000000000:key/{key}"));
        assert_eq!(meta.description(), Some("sdk key"));
        assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
        assert!(meta.enabled());
        assert_eq!(meta.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
        assert_eq!(meta.key_spec(), Some(&KeySpec::SymmetricDefault));
        assert_eq!(meta.aws_account_id(), Some("000000000000"));
        let described = admin.describe_key().key_id(&key).send().await.sdk()?;
        assert_eq!(described.key_metadata(), Some(&meta));
        let by_arn = admin.describe_key().key_id(&arn).send().await.sdk()?;
        assert_eq!(by_arn.key_metadata(), Some(&meta));
        let tags = admin.list_resource_tags().key_id(&key).send().await.sdk()?;
        let pairs: BTreeSet<_> = tags.tags().iter().map(|t| (t.tag_key(), t.tag_value())).collect();
        assert_eq!(pairs, BTreeSet::from([("env", "test"), ("team", "crypto")]));

        // ListKeys shows both keys.
        let key2_meta = admin.create_key().send().await.sdk()?;
        let key2 = key2_meta.key_metadata().expect("metadata").key_id().to_owned();
        let arn2 = key2_meta.key_metadata().and_then(|m| m.arn()).expect("an ARN").to_owned();
        let listed = admin.list_keys().send().await.sdk()?;
        let ids: BTreeSet<_> = listed.keys().iter().filter_map(|k| k.key_id()).collect();
        assert_eq!(ids, BTreeSet::from([key.as_str(), key2.as_str()]));
        assert!(!listed.truncated());

        // Aliases: create, list, a duplicate, update, use, delete.
        admin.create_alias().alias_name("alias/sdk-app").target_key_id(&key).send().await.sdk()?;
        let aliases = admin.list_aliases().key_id(&key).send().await.sdk()?;
        let names: Vec<_> = aliases.aliases().iter().map(|a| (a.alias_name(), a.target_key_id())).collect();
        assert_eq!(names, [(Some("alias/sdk-app"), Some(key.as_str()))]);
        assert_eq!(
            aliases.aliases()[0].alias_arn(),
            Some(format!("arn:aws:kms:{REGION}:000000000000:alias/sdk-app").as_str())
        );
        let dup = service_error(
            admin.create_alias().alias_name("alias/sdk-app").target_key_id(&key2).send().await,
        );
        assert!(matches!(dup, CreateAliasError::AlreadyExistsException(_)), "{dup:?}");
        admin.update_alias().alias_name("alias/sdk-app").target_key_id(&key2).send().await.sdk()?;
        let all = admin.list_aliases().send().await.sdk()?;
        let target = all
            .aliases()
            .iter()
            .find(|a| a.alias_name() == Some("alias/sdk-app"))
            .and_then(|a| a.target_key_id());
        assert_eq!(target, Some(key2.as_str()));
        let via_alias = admin
            .encrypt()
            .key_id("alias/sdk-app")
            .plaintext(Blob::new(b"via alias".to_vec()))
            .send()
            .await
            .sdk()?;
        assert_eq!(via_alias.key_id(), Some(arn2.as_str()));
        admin.delete_alias().alias_name("alias/sdk-app").send().await.sdk()?;
        let gone = service_error(admin.describe_key().key_id("alias/sdk-app").send().await);
        assert!(matches!(gone, DescribeKeyError::NotFoundException(_)), "{gone:?}");
        let missing = service_error(
            admin.describe_key().key_id("1234abcd-12ab-34cd-56ef-1234567890ab").send().await,
        );
        assert!(matches!(missing, DescribeKeyError::NotFoundException(_)), "{missing:?}");
        assert_eq!(missing.code(), Some("NotFoundException"));

        // Encrypt and Decrypt with an encryption context; Decrypt needs no KeyId.
        let encrypted = admin
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(b"attack at dawn".to_vec()))
            .encryption_context("purpose", "sdk-test")
            .send()
            .await
            .sdk()?;
        assert_eq!(encrypted.key_id(), Some(arn.as_str()));
        assert_eq!(
            encrypted.encryption_algorithm(),
            Some(&EncryptionAlgorithmSpec::SymmetricDefault)
        );
        let ciphertext = bytes(encrypted.ciphertext_blob()).to_vec();
        let decrypted = admin
            .decrypt()
            .ciphertext_blob(Blob::new(ciphertext.clone()))
            .encryption_context("purpose", "sdk-test")
            .send()
            .await
            .sdk()?;
        assert_eq!(bytes(decrypted.plaintext()), b"attack at dawn");
        assert_eq!(decrypted.key_id(), Some(arn.as_str()));

        // The SDK's request id is the one the audit log records for the call.
        let request_id = decrypted.request_id().expect("a request id").to_owned();
        engine.audit().flush()?;
        let mut out = Vec::new();
        lockbox::audit::export(engine.store(), &Default::default(), REGION, &mut out)?;
        let records: Vec<serde_json::Value> = String::from_utf8(out)?
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        let record = records
            .iter()
            .find(|r| r["requestID"] == request_id.as_str())
            .expect("an audit record with the SDK's request id");
        assert_eq!(record["eventName"], "Decrypt");
        assert_eq!(record["userIdentity"]["arn"], ADMIN);
        assert_eq!(record["sourceIPAddress"], "127.0.0.1");

        // Decrypt's failures, each as the SDK's typed variant.
        let wrong_context = service_error(
            admin
                .decrypt()
                .ciphertext_blob(Blob::new(ciphertext.clone()))
                .encryption_context("purpose", "other")
                .send()
                .await,
        );
        assert!(
            matches!(wrong_context, DecryptError::InvalidCiphertextException(_)),
            "{wrong_context:?}"
        );
        let no_context = service_error(
            admin.decrypt().ciphertext_blob(Blob::new(ciphertext.clone())).send().await,
        );
        assert!(
            matches!(no_context, DecryptError::InvalidCiphertextException(_)),
            "{no_context:?}"
        );
        let mut tampered = ciphertext.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let bad_tag = service_error(
            admin
                .decrypt()
                .ciphertext_blob(Blob::new(tampered))
                .encryption_context("purpose", "sdk-test")
                .send()
                .await,
        );
        assert!(matches!(bad_tag, DecryptError::InvalidCiphertextException(_)), "{bad_tag:?}");
        let wrong_key = service_error(
            admin
                .decrypt()
                .key_id(&key2)
                .ciphertext_blob(Blob::new(ciphertext.clone()))
                .encryption_context("purpose", "sdk-test")
                .send()
                .await,
        );
        assert!(matches!(wrong_key, DecryptError::IncorrectKeyException(_)), "{wrong_key:?}");

        // Data keys: the plaintext decrypts back from its ciphertext.
        let data_key = admin
            .generate_data_key()
            .key_id(&key)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context("file", "a.txt")
            .send()
            .await
            .sdk()?;
        assert_eq!(data_key.key_id(), Some(arn.as_str()));
        assert_eq!(bytes(data_key.plaintext()).len(), 32);
        let unwrapped = admin
            .decrypt()
            .ciphertext_blob(data_key.ciphertext_blob().expect("a blob").clone())
            .encryption_context("file", "a.txt")
            .send()
            .await
            .sdk()?;
        assert_eq!(bytes(unwrapped.plaintext()), bytes(data_key.plaintext()));
        let sealed = admin
            .generate_data_key_without_plaintext()
            .key_id(&key)
            .key_spec(DataKeySpec::Aes128)
            .send()
            .await
            .sdk()?;
        assert_eq!(sealed.key_id(), Some(arn.as_str()));
        let opened = admin
            .decrypt()
            .ciphertext_blob(sealed.ciphertext_blob().expect("a blob").clone())
            .send()
            .await
            .sdk()?;
        assert_eq!(bytes(opened.plaintext()).len(), 16);

        // ReEncrypt to the other key, under a new context.
        let moved = admin
            .re_encrypt()
            .ciphertext_blob(Blob::new(ciphertext.clone()))
            .source_encryption_context("purpose", "sdk-test")
            .destination_key_id(&key2)
            .destination_encryption_context("purpose", "moved")
            .send()
            .await
            .sdk()?;
        assert_eq!(moved.source_key_id(), Some(arn.as_str()));
        assert_eq!(moved.key_id(), Some(arn2.as_str()));
        let moved_back = admin
            .decrypt()
            .ciphertext_blob(moved.ciphertext_blob().expect("a blob").clone())
            .encryption_context("purpose", "moved")
            .send()
            .await
            .sdk()?;
        assert_eq!(bytes(moved_back.plaintext()), b"attack at dawn");
        assert_eq!(moved_back.key_id(), Some(arn2.as_str()));

        // GenerateRandom.
        let r1 = admin.generate_random().number_of_bytes(32).send().await.sdk()?;
        let r2 = admin.generate_random().number_of_bytes(32).send().await.sdk()?;
        assert_eq!(bytes(r1.plaintext()).len(), 32);
        assert_ne!(bytes(r1.plaintext()), bytes(r2.plaintext()));

        // Rotation: automatic on, then one on demand; old ciphertexts still decrypt.
        let status = admin.get_key_rotation_status().key_id(&key).send().await.sdk()?;
        assert!(!status.key_rotation_enabled());
        admin.enable_key_rotation().key_id(&key).rotation_period_in_days(90).send().await.sdk()?;
        let status = admin.get_key_rotation_status().key_id(&key).send().await.sdk()?;
        assert!(status.key_rotation_enabled());
        assert_eq!(status.rotation_period_in_days(), Some(90));
        let rotated = admin.rotate_key_on_demand().key_id(&key).send().await.sdk()?;
        assert_eq!(rotated.key_id(), Some(arn.as_str()));
        let rotations = admin.list_key_rotations().key_id(&key).send().await.sdk()?;
        let types: Vec<_> = rotations.rotations().iter().map(|r| r.rotation_type()).collect();
        assert_eq!(types, [Some(&RotationType::OnDemand)]);
        assert_eq!(rotations.rotations()[0].key_id(), Some(key.as_str()));
        let after_rotation = admin
            .decrypt()
            .ciphertext_blob(Blob::new(ciphertext.clone()))
            .encryption_context("purpose", "sdk-test")
            .send()
            .await
            .sdk()?;
        assert_eq!(bytes(after_rotation.plaintext()), b"attack at dawn");

        // Key policies.
        let got = admin.get_key_policy().key_id(&key).policy_name("default").send().await.sdk()?;
        assert_eq!(got.policy(), Some(policy("Admins").as_str()));
        admin
            .put_key_policy()
            .key_id(&key)
            .policy_name("default")
            .policy(policy("KeyAdmins"))
            .send()
            .await
            .sdk()?;
        let got = admin.get_key_policy().key_id(&key).send().await.sdk()?;
        assert_eq!(got.policy(), Some(policy("KeyAdmins").as_str()));
        let names = admin.list_key_policies().key_id(&key).send().await.sdk()?;
        assert_eq!(names.policy_names(), ["default"]);

        // A principal the policy does not name is refused; the KMS model declares no
        // AccessDeniedException, so the SDK surfaces it by code.
        let denied = service_error(mallory.describe_key().key_id(&arn).send().await);
        assert_eq!(denied.code(), Some("AccessDeniedException"));
        assert!(!denied.is_not_found_exception());

        // Grants: the application in another account uses the key by ARN, with grant tokens,
        // only while a grant allows it.
        let refused = service_error(
            app.encrypt().key_id(&arn).plaintext(Blob::new(b"x".to_vec())).send().await,
        );
        assert_eq!(refused.code(), Some("AccessDeniedException"));
        let grant = admin
            .create_grant()
            .key_id(&key)
            .grantee_principal(APP)
            .retiring_principal(APP)
            .operations(GrantOperation::Encrypt)
            .operations(GrantOperation::Decrypt)
            .name("sdk-app")
            .send()
            .await
            .sdk()?;
        let grant_id = grant.grant_id().expect("a grant id").to_owned();
        let grant_token = grant.grant_token().expect("a grant token").to_owned();
        let app_encrypted = app
            .encrypt()
            .key_id(&arn)
            .plaintext(Blob::new(b"for the app".to_vec()))
            .grant_tokens(&grant_token)
            .send()
            .await
            .sdk()?;
        let app_decrypted = app
            .decrypt()
            .key_id(&arn)
            .ciphertext_blob(app_encrypted.ciphertext_blob().expect("a blob").clone())
            .grant_tokens(&grant_token)
            .send()
            .await
            .sdk()?;
        assert_eq!(bytes(app_decrypted.plaintext()), b"for the app");
        let grants = admin.list_grants().key_id(&key).send().await.sdk()?;
        let listed: Vec<_> = grants
            .grants()
            .iter()
            .map(|g| (g.grant_id(), g.grantee_principal(), g.retiring_principal(), g.name()))
            .collect();
        assert_eq!(listed, [(Some(grant_id.as_str()), Some(APP), Some(APP), Some("sdk-app"))]);
        let ops: BTreeSet<_> = grants.grants()[0].operations().iter().map(|o| o.as_str()).collect();
        assert_eq!(ops, BTreeSet::from(["Decrypt", "Encrypt"]));
        // The retiring principal retires it by token.
        app.retire_grant().grant_token(&grant_token).send().await.sdk()?;
        assert!(admin.list_grants().key_id(&key).send().await.sdk()?.grants().is_empty());
        let retired = service_error(
            app.encrypt().key_id(&arn).plaintext(Blob::new(b"x".to_vec())).send().await,
        );
        assert_eq!(retired.code(), Some("AccessDeniedException"));
        // The administrator revokes another.
        let grant2 = admin
            .create_grant()
            .key_id(&key)
            .grantee_principal(APP)
            .operations(GrantOperation::Encrypt)
            .send()
            .await
            .sdk()?;
        let grant2_id = grant2.grant_id().expect("a grant id").to_owned();
        app.encrypt()
            .key_id(&arn)
            .plaintext(Blob::new(b"x".to_vec()))
            .grant_tokens(grant2.grant_token().expect("a grant token"))
            .send()
            .await
            .sdk()?;
        admin.revoke_grant().key_id(&key).grant_id(&grant2_id).send().await.sdk()?;
        assert!(admin.list_grants().key_id(&key).send().await.sdk()?.grants().is_empty());
        let revoked = service_error(
            app.encrypt().key_id(&arn).plaintext(Blob::new(b"x".to_vec())).send().await,
        );
        assert_eq!(revoked.code(), Some("AccessDeniedException"));

        // Tags.
        admin.tag_resource().key_id(&key).tags(tag("owner", "ops")).send().await.sdk()?;
        let tags = admin.list_resource_tags().key_id(&key).send().await.sdk()?;
        let pairs: BTreeSet<_> = tags.tags().iter().map(|t| (t.tag_key(), t.tag_value())).collect();
        assert_eq!(
            pairs,
            BTreeSet::from([("env", "test"), ("owner", "ops"), ("team", "crypto")])
        );

        // Disabled keys refuse to encrypt with the SDK's DisabledException.
        admin.disable_key().key_id(&key).send().await.sdk()?;
        let state = admin.describe_key().key_id(&key).send().await.sdk()?;
        assert_eq!(state.key_metadata().and_then(|m| m.key_state()), Some(&KeyState::Disabled));
        let disabled = service_error(
            admin.encrypt().key_id(&key).plaintext(Blob::new(b"x".to_vec())).send().await,
        );
        assert!(matches!(disabled, EncryptError::DisabledException(_)), "{disabled:?}");
        admin.enable_key().key_id(&key).send().await.sdk()?;
        admin.encrypt().key_id(&key).plaintext(Blob::new(b"x".to_vec())).send().await.sdk()?;

        // Deletion: scheduled (the key is unusable), then cancelled (it comes back disabled).
        let scheduled = admin
            .schedule_key_deletion()
            .key_id(&key)
            .pending_window_in_days(7)
            .send()
            .await
            .sdk()?;
        assert_eq!(scheduled.key_id(), Some(arn.as_str()));
        assert_eq!(scheduled.key_state(), Some(&KeyState::PendingDeletion));
        assert_eq!(scheduled.pending_window_in_days(), Some(7));
        let deletion_date = scheduled.deletion_date().expect("a deletion date");
        let pending = admin.describe_key().key_id(&key).send().await.sdk()?;
        let pending = pending.key_metadata().expect("metadata");
        assert_eq!(pending.key_state(), Some(&KeyState::PendingDeletion));
        assert_eq!(pending.deletion_date(), Some(deletion_date));
        let unusable = service_error(
            admin.encrypt().key_id(&key).plaintext(Blob::new(b"x".to_vec())).send().await,
        );
        assert!(matches!(unusable, EncryptError::KmsInvalidStateException(_)), "{unusable:?}");
        let cancelled = admin.cancel_key_deletion().key_id(&key).send().await.sdk()?;
        assert_eq!(cancelled.key_id(), Some(arn.as_str()));
        let back = admin.describe_key().key_id(&key).send().await.sdk()?;
        let back = back.key_metadata().expect("metadata");
        assert_eq!(back.key_state(), Some(&KeyState::Disabled));
        assert_eq!(back.deletion_date(), None);
        Ok(())
    })?;
    server.shutdown();
    server.wait()?;
    Ok(())
});

token_test!(fn signature_failures_reach_the_sdk_as_aws_error_codes(t) {
    let (_engine, server) = start(t, ServerConfig::default());
    let addr = server.local_addr();
    run(async {
        // The right access key id with the wrong secret: the signature does not verify.
        let forged = client(addr, ADMIN_KEY_ID, "not-the-secret-0000000000000000000000000");
        let e = service_error(forged.generate_random().number_of_bytes(8).send().await);
        assert_eq!(e.code(), Some("InvalidSignatureException"));
        let e = service_error(forged.list_keys().send().await);
        assert_eq!(e.code(), Some("InvalidSignatureException"));
        // An access key id the server does not know.
        let stranger = client(addr, "LBKUNKNOWNKEY0000000", ADMIN_SECRET);
        let e = service_error(stranger.generate_random().number_of_bytes(8).send().await);
        assert_eq!(e.code(), Some("UnrecognizedClientException"));
        // And the right credential still works on the same server.
        let admin = client(addr, ADMIN_KEY_ID, ADMIN_SECRET);
        let r = admin.generate_random().number_of_bytes(8).send().await.sdk()?;
        assert_eq!(bytes(r.plaintext()).len(), 8);
        Ok(())
    })?;
    server.shutdown();
    server.wait()?;
    Ok(())
});

token_test!(fn the_sdk_retries_throttled_calls_until_they_succeed(t) {
    // One cryptographic call per second per account: a bucket of one token, refilled at 1/s.
    let mut config = ServerConfig::default();
    config.throttle.cryptographic = 1.0;
    let (_engine, server) = start(t, config);
    let addr = server.local_addr();
    run(async {
        // Without retries, the second call of a burst is refused with ThrottlingException.
        let once = client_with(addr, ADMIN_KEY_ID, ADMIN_SECRET, RetryConfig::disabled(), None);
        once.generate_random().number_of_bytes(8).send().await.sdk()?;
        let e = service_error(once.generate_random().number_of_bytes(8).send().await);
        assert_eq!(e.code(), Some("ThrottlingException"));
        assert_eq!(e.message(), Some("Rate exceeded"));

        // With the SDK's standard retries (no jitter: the first retry waits exactly the 1 s
        // initial back-off, by which time the bucket holds a token again), every call of a
        // burst succeeds. Right after a success the bucket is empty, so each call after the
        // first is refused once and succeeds on its retry; the first may find a token already.
        let attempts = Attempts::default();
        let retrying = client_with(
            addr,
            ADMIN_KEY_ID,
            ADMIN_SECRET,
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_use_static_exponential_base(true),
            Some(attempts.clone()),
        );
        let calls = 3;
        for _ in 0..calls {
            let r = retrying.generate_random().number_of_bytes(8).send().await.sdk()?;
            assert_eq!(bytes(r.plaintext()).len(), 8);
        }
        let n = attempts.count();
        assert!(
            (2 * calls - 1..=2 * calls).contains(&n),
            "{calls} calls took {n} attempts"
        );
        Ok(())
    })?;
    server.shutdown();
    server.wait()?;
    Ok(())
});

token_test!(fn the_sdk_encrypts_and_decrypts_with_an_rsa_key(t) {
    let (_engine, server) = start(t, ServerConfig::default());
    let addr = server.local_addr();
    run(async {
        let admin = client(addr, ADMIN_KEY_ID, ADMIN_SECRET);
        let meta = admin.create_key().key_spec(KeySpec::Rsa3072).key_usage(KeyUsageType::EncryptDecrypt)
            .send().await.sdk()?.key_metadata().expect("metadata").clone();
        let key = meta.key_id().to_owned();
        assert_eq!(meta.encryption_algorithms(), [EncryptionAlgorithmSpec::RsaesOaepSha1, EncryptionAlgorithmSpec::RsaesOaepSha256]);
        for alg in [EncryptionAlgorithmSpec::RsaesOaepSha1, EncryptionAlgorithmSpec::RsaesOaepSha256] {
            let enc = admin.encrypt().key_id(&key).plaintext(Blob::new(b"over the wire".to_vec()))
                .encryption_algorithm(alg.clone()).send().await.sdk()?;
            assert_eq!(enc.encryption_algorithm(), Some(&alg));
            let ct = bytes(enc.ciphertext_blob()).to_vec();
            assert_eq!(ct.len(), 384);
            let dec = admin.decrypt().ciphertext_blob(Blob::new(ct.clone())).key_id(&key)
                .encryption_algorithm(alg.clone()).send().await.sdk()?;
            assert_eq!((bytes(dec.plaintext()), dec.encryption_algorithm()), (&b"over the wire"[..], Some(&alg)));
            // Without KeyId the ciphertext is read as a blob and is not one.
            let e = service_error(admin.decrypt().ciphertext_blob(Blob::new(ct)).encryption_algorithm(alg.clone()).send().await);
            assert!(matches!(e, DecryptError::InvalidCiphertextException(_)), "{e:?}");
        }
        // The algorithm is required, as AWS requires it.
        let e = service_error(admin.encrypt().key_id(&key).plaintext(Blob::new(b"x".to_vec())).send().await);
        assert_eq!((e.code(), e.message()), (Some("InvalidKeyUsageException"), Some("Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_3072.")));
        Ok(())
    })?;
    server.shutdown();
    server.wait()?;
    Ok(())
});

/// Runs openssl (code nobody here wrote), which must succeed; its standard output.
fn openssl(args: &[&str]) -> Result<Vec<u8>, Box<dyn Error>> {
    let out = std::process::Command::new("openssl").args(args).output()?;
    if !out.status.success() {
        return Err(format!(
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(out.stdout)
}

token_test!(fn the_aws_sdk_drives_asymmetric_hmac_and_key_agreement_keys(t) {
    use aws_sdk_kms::operation::derive_shared_secret::DeriveSharedSecretError;
    use aws_sdk_kms::operation::sign::SignError;
    use aws_sdk_kms::operation::verify::VerifyError;
    use aws_sdk_kms::operation::verify_mac::VerifyMacError;
    use aws_sdk_kms::types::{
        DataKeyPairSpec, KeyAgreementAlgorithmSpec, MacAlgorithmSpec, MessageType, OriginType,
        SigningAlgorithmSpec,
    };

    let (_engine, server) = start(t, ServerConfig::default());
    let addr = server.local_addr();
    let dir = t.dir().join("sdk-asymmetric");
    std::fs::create_dir(&dir)?;
    let file = |name: &str, bytes: &[u8]| -> Result<String, Box<dyn Error>> {
        let p = dir.join(name);
        std::fs::write(&p, bytes)?;
        Ok(p.display().to_string())
    };
    let message = b"pay 100 to alice \x00\xff".to_vec();
    let msg_file = file("msg", &message)?;
    run(async {
        let admin = client(addr, ADMIN_KEY_ID, ADMIN_SECRET);
        let create = |spec: KeySpec, usage: KeyUsageType| {
            let admin = admin.clone();
            async move {
                let md = admin
                    .create_key()
                    .key_spec(spec.clone())
                    .key_usage(usage.clone())
                    .send()
                    .await
                    .sdk()?
                    .key_metadata
                    .expect("metadata");
                assert_eq!((md.key_spec(), md.key_usage()), (Some(&spec), Some(&usage)));
                Ok::<_, Box<dyn Error>>(md)
            }
        };

        // Sign (RAW and DIGEST) and Verify; openssl verifies each signature over GetPublicKey.
        for (spec, algorithm, hash, sigopts) in [
            (KeySpec::EccNistP384, SigningAlgorithmSpec::EcdsaSha384, "-sha384", &[][..]),
            (
                KeySpec::Rsa2048,
                SigningAlgorithmSpec::RsassaPssSha256,
                "-sha256",
                &["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"][..],
            ),
        ] {
            let md = create(spec.clone(), KeyUsageType::SignVerify).await?;
            assert!(md.signing_algorithms().contains(&algorithm), "{md:?}");
            assert!(md.encryption_algorithms().is_empty(), "{md:?}");
            let key = md.key_id().to_owned();
            let public = admin.get_public_key().key_id(&key).send().await.sdk()?;
            assert_eq!(public.key_id(), md.arn());
            assert_eq!(public.key_spec(), Some(&spec));
            assert_eq!(public.key_usage(), Some(&KeyUsageType::SignVerify));
            assert_eq!(public.signing_algorithms(), md.signing_algorithms());
            let pub_der = file("pub.der", bytes(public.public_key()))?;
            let signed = admin
                .sign()
                .key_id(&key)
                .message(Blob::new(message.clone()))
                .signing_algorithm(algorithm.clone())
                .send()
                .await
                .sdk()?;
            assert_eq!(signed.key_id(), md.arn());
            assert_eq!(signed.signing_algorithm(), Some(&algorithm));
            let sig = file("sig", bytes(signed.signature()))?;
            let mut args = vec![
                "dgst", hash, "-verify", &pub_der, "-keyform", "DER", "-signature", &sig,
            ];
            args.extend_from_slice(sigopts);
            args.push(&msg_file);
            assert_eq!(openssl(&args)?, b"Verified OK\n", "{spec:?}");
            let digest = openssl(&["dgst", hash, "-binary", &msg_file])?;
            let signed = admin
                .sign()
                .key_id(&key)
                .message(Blob::new(digest))
                .message_type(MessageType::Digest)
                .signing_algorithm(algorithm.clone())
                .send()
                .await
                .sdk()?;
            let sig = file("sig", bytes(signed.signature()))?;
            args[7] = &sig;
            assert_eq!(openssl(&args)?, b"Verified OK\n", "{spec:?} DIGEST");
            let verified = admin
                .verify()
                .key_id(&key)
                .message(Blob::new(message.clone()))
                .signature(signed.signature().expect("a signature").clone())
                .signing_algorithm(algorithm.clone())
                .send()
                .await
                .sdk()?;
            assert!(verified.signature_valid());
            assert_eq!(verified.key_id(), md.arn());
            let bad = service_error(
                admin
                    .verify()
                    .key_id(&key)
                    .message(Blob::new(b"pay 900 to mallory".to_vec()))
                    .signature(signed.signature().expect("a signature").clone())
                    .signing_algorithm(algorithm.clone())
                    .send()
                    .await,
            );
            assert!(matches!(bad, VerifyError::KmsInvalidSignatureException(_)), "{bad:?}");
        }

        // RSA: openssl encrypts with the public key (OAEP SHA-256), the SDK decrypts.
        let md = create(KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await?;
        assert_eq!(
            md.encryption_algorithms(),
            [EncryptionAlgorithmSpec::RsaesOaepSha1, EncryptionAlgorithmSpec::RsaesOaepSha256]
        );
        let public = admin.get_public_key().key_id(md.key_id()).send().await.sdk()?;
        let pub_der = file("rsa.der", bytes(public.public_key()))?;
        let ciphertext = openssl(&[
            "pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", &pub_der, "-in",
            &msg_file, "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
            "-pkeyopt", "rsa_mgf1_md:sha256",
        ])?;
        let opened = admin
            .decrypt()
            .key_id(md.key_id())
            .ciphertext_blob(Blob::new(ciphertext))
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .send()
            .await
            .sdk()?;
        assert_eq!(bytes(opened.plaintext()), message);
        assert_eq!(opened.key_id(), md.arn());

        // GenerateMac and VerifyMac.
        let md = create(KeySpec::Hmac384, KeyUsageType::GenerateVerifyMac).await?;
        assert_eq!(md.mac_algorithms(), [MacAlgorithmSpec::HmacSha384]);
        let made = admin
            .generate_mac()
            .key_id(md.key_id())
            .message(Blob::new(message.clone()))
            .mac_algorithm(MacAlgorithmSpec::HmacSha384)
            .send()
            .await
            .sdk()?;
        assert_eq!(bytes(made.mac()).len(), 48);
        assert_eq!(made.key_id(), md.arn());
        let checked = admin
            .verify_mac()
            .key_id(md.key_id())
            .message(Blob::new(message.clone()))
            .mac(made.mac().expect("a MAC").clone())
            .mac_algorithm(MacAlgorithmSpec::HmacSha384)
            .send()
            .await
            .sdk()?;
        assert!(checked.mac_valid());
        let bad = service_error(
            admin
                .verify_mac()
                .key_id(md.key_id())
                .message(Blob::new(b"another message".to_vec()))
                .mac(made.mac().expect("a MAC").clone())
                .mac_algorithm(MacAlgorithmSpec::HmacSha384)
                .send()
                .await,
        );
        assert!(matches!(bad, VerifyMacError::KmsInvalidMacException(_)), "{bad:?}");
        let hmac_key = md.key_id().to_owned();

        // GenerateDataKeyPair(WithoutPlaintext): openssl reads the PKCS#8 and derives the
        // public key; Decrypt opens the blob with the same context.
        let sym = create(KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt).await?;
        let pair = admin
            .generate_data_key_pair()
            .key_id(sym.key_id())
            .key_pair_spec(DataKeyPairSpec::EccNistP256)
            .encryption_context("purpose", "pair")
            .send()
            .await
            .sdk()?;
        assert_eq!(pair.key_id(), sym.arn());
        assert_eq!(pair.key_pair_spec(), Some(&DataKeyPairSpec::EccNistP256));
        let private = file("pair.der", bytes(pair.private_key_plaintext()))?;
        assert_eq!(
            openssl(&["pkey", "-inform", "DER", "-in", &private, "-pubout", "-outform", "DER"])?,
            bytes(pair.public_key())
        );
        let opened = admin
            .decrypt()
            .ciphertext_blob(pair.private_key_ciphertext_blob().expect("a blob").clone())
            .encryption_context("purpose", "pair")
            .send()
            .await
            .sdk()?;
        assert_eq!(bytes(opened.plaintext()), bytes(pair.private_key_plaintext()));
        let bare = admin
            .generate_data_key_pair_without_plaintext()
            .key_id(sym.key_id())
            .key_pair_spec(DataKeyPairSpec::Rsa2048)
            .send()
            .await
            .sdk()?;
        let opened = admin
            .decrypt()
            .ciphertext_blob(bare.private_key_ciphertext_blob().expect("a blob").clone())
            .send()
            .await
            .sdk()?;
        let private = file("bare.der", bytes(opened.plaintext()))?;
        assert_eq!(
            openssl(&["pkey", "-inform", "DER", "-in", &private, "-pubout", "-outform", "DER"])?,
            bytes(bare.public_key())
        );

        // DeriveSharedSecret: the secret openssl derives on the peer's side.
        let md = create(KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await?;
        assert_eq!(md.key_agreement_algorithms(), [KeyAgreementAlgorithmSpec::Ecdh]);
        let public = admin.get_public_key().key_id(md.key_id()).send().await.sdk()?;
        let ours = file("ours.der", bytes(public.public_key()))?;
        let peer = dir.join("peer.pem").display().to_string();
        let curve = "ec_paramgen_curve:prime256v1";
        openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", curve, "-out", &peer])?;
        let peer_der = openssl(&["pkey", "-in", &peer, "-pubout", "-outform", "DER"])?;
        let expected = openssl(&[
            "pkeyutl", "-derive", "-inkey", &peer, "-peerkey", &ours, "-peerform", "DER",
        ])?;
        let derived = admin
            .derive_shared_secret()
            .key_id(md.key_id())
            .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(Blob::new(peer_der))
            .send()
            .await
            .sdk()?;
        assert_eq!(bytes(derived.shared_secret()), expected);
        assert_eq!(derived.key_origin(), Some(&OriginType::AwsKms));
        assert_eq!(derived.key_agreement_algorithm(), Some(&KeyAgreementAlgorithmSpec::Ecdh));

        // Keys used for what their usage does not allow: the SDK's typed variants.
        let wrong = service_error(
            admin
                .sign()
                .key_id(&hmac_key)
                .message(Blob::new(message.clone()))
                .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                .send()
                .await,
        );
        assert!(matches!(wrong, SignError::InvalidKeyUsageException(_)), "{wrong:?}");
        let wrong = service_error(
            admin
                .derive_shared_secret()
                .key_id(sym.key_id())
                .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
                .public_key(Blob::new(bytes(public.public_key()).to_vec()))
                .send()
                .await,
        );
        assert!(
            matches!(wrong, DeriveSharedSecretError::InvalidKeyUsageException(_)),
            "{wrong:?}"
        );
        Ok(())
    })?;
    server.shutdown();
    server.wait()?;
    Ok(())
});

// Bring your own key material (issue 15) through the SDK: every import operation, the
// material made and wrapped by Python's `cryptography`.

#[path = "../crates/lockbox-token/tests/oracle/import_material.rs"]
mod import_material;

token_test!(fn the_sdk_imports_key_material_and_deletes_it(t) {
    use aws_sdk_kms::operation::import_key_material::ImportKeyMaterialError;
    use aws_sdk_kms::primitives::DateTime;
    use aws_sdk_kms::types::{AlgorithmSpec, ExpirationModelType, OriginType, WrappingKeySpec};
    let (_engine, server) = start(t, ServerConfig::default());
    let addr = server.local_addr();
    let dir = t.dir().to_owned();
    run(async move {
        let admin = client(addr, ADMIN_KEY_ID, ADMIN_SECRET);
        let meta = admin.create_key().origin(OriginType::External).send().await.sdk()?
            .key_metadata().expect("metadata").clone();
        assert_eq!(meta.key_state(), Some(&KeyState::PendingImport));
        let key = meta.key_id().to_owned();
        let p = admin.get_parameters_for_import().key_id(&key)
            .wrapping_algorithm(AlgorithmSpec::RsaAesKeyWrapSha256)
            .wrapping_key_spec(WrappingKeySpec::Rsa2048).send().await.sdk()?;
        let token = bytes(p.import_token()).to_vec();
        let m = import_material::material(&dir, "AES_256", "sdk.bin")?;
        let wrapped = import_material::wrap(&dir, bytes(p.public_key()), "RSA_AES_KEY_WRAP_SHA_256", &m)?;
        // An altered token is InvalidImportTokenException, typed as the SDK's model has it.
        let mut bad = token.clone();
        bad[10] ^= 1;
        let e = service_error(admin.import_key_material().key_id(&key).import_token(Blob::new(bad))
            .encrypted_key_material(Blob::new(wrapped.clone()))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire).send().await);
        assert!(matches!(e, ImportKeyMaterialError::InvalidImportTokenException(_)), "{e:?}");
        let valid_to = DateTime::from_secs(p.parameters_valid_to().expect("valid to").secs() + 86_400);
        let done = admin.import_key_material().key_id(&key).import_token(Blob::new(token))
            .encrypted_key_material(Blob::new(wrapped))
            .expiration_model(ExpirationModelType::KeyMaterialExpires).valid_to(valid_to)
            .send().await.sdk()?;
        let md = admin.describe_key().key_id(&key).send().await.sdk()?.key_metadata().expect("metadata").clone();
        assert_eq!((md.key_state(), md.valid_to(), md.expiration_model(), md.current_key_material_id()),
            (Some(&KeyState::Enabled), Some(&valid_to), Some(&ExpirationModelType::KeyMaterialExpires), done.key_material_id()));
        let ct = admin.encrypt().key_id(&key).plaintext(Blob::new(b"imported".to_vec())).send().await.sdk()?;
        let back = admin.decrypt().ciphertext_blob(ct.ciphertext_blob().expect("blob").clone()).send().await.sdk()?;
        assert_eq!(bytes(back.plaintext()), b"imported");
        let del = admin.delete_imported_key_material().key_id(&key).send().await.sdk()?;
        assert_eq!(del.key_material_id(), done.key_material_id());
        let md = admin.describe_key().key_id(&key).send().await.sdk()?.key_metadata().expect("metadata").clone();
        assert_eq!(md.key_state(), Some(&KeyState::PendingImport));
        Ok(())
    })?;
    server.shutdown();
    server.wait()?;
    Ok(())
});

// Regions and multi-Region keys (issue 15) through the SDK: one server, clients signing for
// three Regions; keys and aliases of one Region unseen in the others; a multi-Region key
// replicated across two of them, its primary moved; material imported in the third.

/// A client of `addr` signing for `region`.
fn client_in(addr: SocketAddr, region: &str) -> Client {
    let config = client(addr, ADMIN_KEY_ID, ADMIN_SECRET)
        .config()
        .to_builder()
        .region(Region::new(region.to_owned()))
        .build();
    Client::from_conf(config)
}

token_test!(fn the_sdk_uses_three_regions_each_with_its_own_keys(t) {
    use aws_sdk_kms::operation::replicate_key::ReplicateKeyError;
    use aws_sdk_kms::operation::update_primary_region::UpdatePrimaryRegionError;
    use aws_sdk_kms::types::{
        AlgorithmSpec, ExpirationModelType, KeyState, MultiRegionKeyType, OriginType, Tag,
        WrappingKeySpec,
    };
    let (_engine, server) = start(t, ServerConfig::default());
    let addr = server.local_addr();
    let dir = t.dir().to_owned();
    run(async move {
        let east = client_in(addr, "us-east-1");
        let west = client_in(addr, "eu-west-1");
        let south = client_in(addr, "ap-southeast-2");

        // A single-Region key belongs to its Region: its ARN says so, the others see nothing.
        let md = west.create_key().send().await.sdk()?.key_metadata().expect("metadata").clone();
        assert!(md.arn().expect("arn").starts_with("arn:aws:kms:eu-west-1:000000000000:key/"));
        for other in [&east, &south] {
            let e = service_error(other.describe_key().key_id(md.key_id()).send().await);
            assert!(matches!(e, DescribeKeyError::NotFoundException(_)), "{e:?}");
        }
        // One alias name in two Regions, each naming its own Region's key.
        let here = east.create_key().send().await.sdk()?.key_metadata().expect("metadata").key_id().to_owned();
        east.create_alias().alias_name("alias/app").target_key_id(&here).send().await.sdk()?;
        west.create_alias().alias_name("alias/app").target_key_id(md.key_id()).send().await.sdk()?;
        let named = |c: &Client| {
            let c = c.clone();
            async move {
                c.describe_key().key_id("alias/app").send().await.sdk()
                    .map(|d| d.key_metadata().expect("metadata").key_id().to_owned())
            }
        };
        assert_eq!((named(&east).await?, named(&west).await?), (here.clone(), md.key_id().to_owned()));
        let listed = south.list_keys().send().await.sdk()?;
        assert!(listed.keys().is_empty(), "{listed:?}");

        // A multi-Region key, replicated to eu-west-1: same id, each Region's own ARN.
        let primary = east.create_key().multi_region(true).description("mrk").send().await.sdk()?
            .key_metadata().expect("metadata").clone();
        let id = primary.key_id().to_owned();
        let arn = |region: &str| format!("arn:aws:kms:{region}:000000000000:key/{id}");
        assert!(id.starts_with("mrk-") && id.len() == 36, "{id}");
        assert_eq!(primary.multi_region(), Some(true));
        let config = primary.multi_region_configuration().expect("configuration");
        assert_eq!(config.multi_region_key_type(), Some(&MultiRegionKeyType::Primary));
        assert_eq!(config.primary_key().and_then(|k| k.region()), Some("us-east-1"));
        // Before ReplicateKey, other Regions have no member of the family.
        let e = service_error(west.describe_key().key_id(&id).send().await);
        assert!(matches!(e, DescribeKeyError::NotFoundException(_)), "{e:?}");
        let out = east.replicate_key().key_id(&id).replica_region("eu-west-1")
            .description("replica")
            .tags(Tag::builder().tag_key("side").tag_value("replica").build()?)
            .send().await.sdk()?;
        let replica = out.replica_key_metadata().expect("replica metadata");
        assert_eq!(replica.key_id(), id);
        assert_eq!(replica.arn(), Some(arn("eu-west-1").as_str()));
        assert_eq!(replica.key_state(), Some(&KeyState::Enabled));
        assert_eq!(replica.description(), Some("replica"));
        let config = replica.multi_region_configuration().expect("configuration");
        assert_eq!(config.multi_region_key_type(), Some(&MultiRegionKeyType::Replica));
        assert_eq!(config.primary_key().and_then(|k| k.arn()), Some(arn("us-east-1").as_str()));
        let replicas: Vec<_> = config.replica_keys().iter().map(|k| (k.arn(), k.region())).collect();
        assert_eq!(replicas, [(Some(arn("eu-west-1").as_str()), Some("eu-west-1"))]);
        assert!(out.replica_policy().is_some_and(|p| p.contains("kms:*")), "{out:?}");
        let tags: Vec<_> = out.replica_tags().iter().map(|t| (t.tag_key(), t.tag_value())).collect();
        assert_eq!(tags, [("side", "replica")]);
        // Refusals, typed as the SDK models them.
        let e = service_error(east.replicate_key().key_id(&id).replica_region("eu-west-1").send().await);
        assert!(matches!(e, ReplicateKeyError::AlreadyExistsException(_)), "{e:?}");
        let e = service_error(west.replicate_key().key_id(&id).replica_region("ap-southeast-2").send().await);
        assert!(matches!(e, ReplicateKeyError::UnsupportedOperationException(_)), "{e:?}");
        let e = service_error(east.replicate_key().key_id(&here).replica_region("eu-west-1").send().await);
        assert!(matches!(e, ReplicateKeyError::UnsupportedOperationException(_)), "{e:?}");

        // A ciphertext of either Region decrypts in the other, under that Region's ARN.
        for (from, to, to_region) in [(&east, &west, "eu-west-1"), (&west, &east, "us-east-1")] {
            let sealed = from.encrypt().key_id(&id).plaintext(Blob::new(b"mrk".to_vec())).send().await.sdk()?;
            let opened = to.decrypt().ciphertext_blob(sealed.ciphertext_blob().expect("blob").clone()).send().await.sdk()?;
            assert_eq!(bytes(opened.plaintext()), b"mrk");
            assert_eq!(opened.key_id(), Some(arn(to_region).as_str()));
            let e = service_error(south.decrypt().ciphertext_blob(sealed.ciphertext_blob().expect("blob").clone()).send().await);
            assert!(matches!(e, DecryptError::InvalidCiphertextException(_)), "{e:?}");
        }

        // The primary moves to eu-west-1; only a Region with a replica can take it.
        let e = service_error(east.update_primary_region().key_id(&id).primary_region("ap-southeast-2").send().await);
        assert!(matches!(e, UpdatePrimaryRegionError::NotFoundException(_)), "{e:?}");
        east.update_primary_region().key_id(&id).primary_region("eu-west-1").send().await.sdk()?;
        for (client, kind) in [(&west, MultiRegionKeyType::Primary), (&east, MultiRegionKeyType::Replica)] {
            let md = client.describe_key().key_id(&id).send().await.sdk()?.key_metadata().expect("metadata").clone();
            let config = md.multi_region_configuration().expect("configuration");
            assert_eq!(config.multi_region_key_type(), Some(&kind));
            assert_eq!(config.primary_key().and_then(|k| k.region()), Some("eu-west-1"));
            let replicas: Vec<_> = config.replica_keys().iter().filter_map(|k| k.region()).collect();
            assert_eq!(replicas, ["us-east-1"]);
        }
        let e = service_error(east.update_primary_region().key_id(&id).primary_region("eu-west-1").send().await);
        assert!(matches!(e, UpdatePrimaryRegionError::UnsupportedOperationException(_)), "{e:?}");

        // The third Region imports material into an EXTERNAL key of its own.
        let ext = south.create_key().origin(OriginType::External).send().await.sdk()?
            .key_metadata().expect("metadata").clone();
        assert!(ext.arn().expect("arn").starts_with("arn:aws:kms:ap-southeast-2:"));
        let p = south.get_parameters_for_import().key_id(ext.key_id())
            .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha1)
            .wrapping_key_spec(WrappingKeySpec::Rsa3072).send().await.sdk()?;
        let m = import_material::material(&dir, "AES_256", "south.bin")?;
        let wrapped = import_material::wrap(&dir, bytes(p.public_key()), "RSAES_OAEP_SHA_1", &m)?;
        south.import_key_material().key_id(ext.key_id())
            .import_token(p.import_token().expect("token").clone())
            .encrypted_key_material(Blob::new(wrapped))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .send().await.sdk()?;
        let sealed = south.encrypt().key_id(ext.key_id()).plaintext(Blob::new(b"south".to_vec())).send().await.sdk()?;
        let opened = south.decrypt().ciphertext_blob(sealed.ciphertext_blob().expect("blob").clone()).send().await.sdk()?;
        assert_eq!(bytes(opened.plaintext()), b"south");
        Ok(())
    })?;
    server.shutdown();
    server.wait()?;
    Ok(())
});
