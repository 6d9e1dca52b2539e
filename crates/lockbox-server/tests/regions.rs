//! One server, several Regions (issue 15): the Region of each call is the one its SigV4
//! credential scope names; keys and aliases of one Region are invisible in another; a Region
//! the installation (or server.toml's deprecated `region`) does not serve is refused with
//! InvalidSignatureException naming the Regions served.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use lockbox::{Config, Engine, Regions};
use lockbox_api::*;
use lockbox_client::SecretKey;
use lockbox_client::http_client::HttpTransport;
use lockbox_client::remote::RemoteKms;
use lockbox_server::credentials::{Credential, CredentialStore};
use lockbox_server::server::{Server, ServerConfig, ServerHandle};
use lockbox_token::testing::TestToken;
use lockbox_token::token_test;

const ACCESS_KEY: &str = "LBKREGIONSTEST000000";
const SECRET: &str = "regionsTestSecret0123456789abcdefghijklmn";

fn start(t: &TestToken, regions: Regions, only: Option<&str>) -> (ServerHandle, Arc<Engine>) {
    let mut config = Config::new(t.dir().join("data"), t.config());
    config.regions = regions;
    let engine = Arc::new(Engine::open(config).unwrap());
    let principal = engine.default_caller("test").principal().clone();
    let store = CredentialStore::from_entries([Credential::new(
        ACCESS_KEY,
        SecretKey::new(SECRET.to_owned()),
        principal,
    )
    .unwrap()])
    .unwrap();
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        shutdown_grace_ms: 500,
        region: only.map(str::to_owned),
        ..ServerConfig::default()
    };
    (
        Server::start(engine.clone(), store, config).unwrap(),
        engine,
    )
}

/// A client of `server` that signs for `region`.
fn client(server: &ServerHandle, region: &str) -> RemoteKms {
    let endpoint = format!("http://{}", server.local_addr());
    RemoteKms::new(
        HttpTransport::new(
            &endpoint,
            region,
            ACCESS_KEY.to_owned(),
            SecretKey::new(SECRET.to_owned()),
        )
        .unwrap(),
    )
}

token_test!(fn each_request_is_served_in_the_region_its_signature_names(t) {
    let (server, _engine) = start(t, Regions::AwsForm, None);
    let east = client(&server, "us-east-1");
    let west = client(&server, "eu-west-1");
    let south = client(&server, "ap-south-1");
    let kw = west.create_key(CreateKeyRequest::new())?.key_metadata;
    assert_eq!(kw.arn.scope().region(), "eu-west-1");
    let ke = east.create_key(CreateKeyRequest::new())?.key_metadata;
    assert_eq!(ke.arn.scope().region(), "us-east-1");
    let ids = |c: &RemoteKms| -> Vec<KeyId> {
        c.list_keys(ListKeysRequest::new()).unwrap().keys.into_iter().map(|k| k.key_id).collect()
    };
    assert_eq!(ids(&west), vec![kw.key_id]);
    assert_eq!(ids(&east), vec![ke.key_id]);
    assert_eq!(ids(&south), Vec::<KeyId>::new());
    let e = east.describe_key(DescribeKeyRequest::new(kw.key_id)).unwrap_err();
    assert_eq!((e.kind(), e.message().to_owned()), (ErrorKind::NotFound, format!("Key 'arn:aws:kms:us-east-1:000000000000:key/{}' does not exist", kw.key_id)));
    let e = east.describe_key(DescribeKeyRequest::new(KeyRef::parse(&kw.arn.to_string())?)).unwrap_err();
    assert_eq!((e.kind(), e.message()), (ErrorKind::NotFound, "Invalid arn eu-west-1"));
    // The same alias name in two Regions.
    let name = AliasName::parse("alias/shared")?;
    east.create_alias(AliasRequest::new(name.clone(), ke.key_id))?;
    west.create_alias(AliasRequest::new(name.clone(), kw.key_id))?;
    let via_alias = |c: &RemoteKms| c.describe_key(DescribeKeyRequest::new(KeyRef::parse("alias/shared").unwrap())).map(|r| r.key_metadata.key_id);
    assert_eq!(via_alias(&east)?, ke.key_id);
    assert_eq!(via_alias(&west)?, kw.key_id);
    assert_eq!(via_alias(&south).unwrap_err().kind(), ErrorKind::NotFound);
    // A ciphertext of one Region's key is not decrypted in another.
    let blob = west.encrypt(EncryptRequest::new(kw.key_id, Plaintext::copy_from(b"x")))?.ciphertext_blob;
    assert_eq!(east.decrypt(DecryptRequest::new(blob.clone())).err().map(|e| e.kind()), Some(ErrorKind::InvalidCiphertext));
    assert_eq!(west.decrypt(DecryptRequest::new(blob))?.plaintext.expose_secret(), b"x");
    // A name not of AWS's Region form is not served.
    let e = client(&server, "moon-1").list_keys(ListKeysRequest::new()).unwrap_err();
    assert_eq!(e.code(), "InvalidSignatureException");
    assert_eq!(e.message(), "Credential should be scoped to a valid region. This server serves every Region name of AWS's form (such as us-east-1).");
    Ok(())
});

token_test!(fn unserved_regions_are_refused_naming_the_served_ones(t) {
    {
        let (server, _engine) = start(t, Regions::Only(vec!["us-east-1".into(), "eu-west-1".into()]), None);
        client(&server, "eu-west-1").list_keys(ListKeysRequest::new())?;
        let e = client(&server, "ap-south-1").list_keys(ListKeysRequest::new()).unwrap_err();
        assert_eq!(e.code(), "InvalidSignatureException");
        assert_eq!(e.message(), "Credential should be scoped to a valid region. This server serves us-east-1, eu-west-1.");
    }
    // server.toml's deprecated `region` narrows the served Regions to one.
    let (server, _engine) = start(t, Regions::AwsForm, Some("eu-west-1"));
    client(&server, "eu-west-1").list_keys(ListKeysRequest::new())?;
    let e = client(&server, "us-east-1").list_keys(ListKeysRequest::new()).unwrap_err();
    assert_eq!(e.code(), "InvalidSignatureException");
    assert_eq!(e.message(), "Credential should be scoped to a valid region. This server serves eu-west-1.");
    Ok(())
});
