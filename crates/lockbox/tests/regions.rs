//! One installation, several Regions (issue 15): a key belongs to the Region it was created
//! in, its ARN says so, and other Regions do not see it (by id, ARN, alias or ciphertext);
//! ListKeys, ListAliases and ListRetirableGrants are per Region; aliases are per account and
//! Region; a Region the installation does not serve is refused, naming those it serves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{err, kind};
use lockbox::api::*;
use lockbox::{Config, Engine, Regions};
use lockbox_token::testing::TestToken;
use lockbox_token::token_test;

const ACCOUNT: &str = "000000000000";

fn root() -> Principal {
    Principal::parse(&format!("arn:aws:iam::{ACCOUNT}:root")).unwrap()
}

fn open(t: &TestToken, regions: Regions) -> Engine {
    let mut config = Config::new(t.dir().join("data"), t.config());
    config.regions = regions;
    Engine::open(config).unwrap()
}

/// The engine as the account's root, in `region`.
fn in_region<'e>(e: &'e Engine, region: &str) -> lockbox::EngineClient<'e> {
    e.client(Caller::new(root()).with_region(region))
}

fn alias(s: &str) -> AliasName {
    AliasName::parse(s).unwrap()
}

token_test!(fn keys_belong_to_their_region_and_other_regions_do_not_see_them(t) {
    let e = open(t, Regions::AwsForm);
    let east = in_region(&e, "us-east-1");
    let west = in_region(&e, "eu-west-1");
    let asia = in_region(&e, "ap-southeast-2");

    let k = west.create_key(CreateKeyRequest::new())?.key_metadata;
    assert_eq!(k.arn.to_string(), format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{}", k.key_id));
    assert_eq!(k.arn.scope().region(), "eu-west-1");
    // DescribeKey in its Region, by id and ARN, gives the same ARN.
    assert_eq!(west.describe_key(DescribeKeyRequest::new(k.key_id))?.key_metadata.arn, k.arn);
    let by_arn = KeyRef::parse(&k.arn.to_string())?;
    assert_eq!(west.describe_key(DescribeKeyRequest::new(by_arn.clone()))?.key_metadata.key_id, k.key_id);

    // Another Region: by id, the key does not exist there (AWS names it in the caller's
    // Region); by ARN, AWS's "Invalid arn <region>".
    let e1 = err(east.describe_key(DescribeKeyRequest::new(k.key_id)));
    assert_eq!(e1.kind(), ErrorKind::NotFound);
    assert_eq!(e1.message(), format!("Key 'arn:aws:kms:us-east-1:{ACCOUNT}:key/{}' does not exist", k.key_id));
    let e2 = err(asia.describe_key(DescribeKeyRequest::new(by_arn.clone())));
    assert_eq!(e2.kind(), ErrorKind::NotFound);
    assert_eq!(e2.message(), "Invalid arn eu-west-1");
    assert_eq!(kind(east.encrypt(EncryptRequest::new(k.key_id, Plaintext::copy_from(b"x")))), ErrorKind::NotFound);
    assert_eq!(kind(east.disable_key(DisableKeyRequest::new(k.key_id))), ErrorKind::NotFound);
    assert_eq!(kind(east.schedule_key_deletion(ScheduleKeyDeletionRequest::new(k.key_id))), ErrorKind::NotFound);

    // A ciphertext made in eu-west-1 decrypts there, and is an opaque
    // InvalidCiphertextException anywhere else.
    let blob = west.encrypt(EncryptRequest::new(k.key_id, Plaintext::copy_from(b"secret")))?.ciphertext_blob;
    assert_eq!(west.decrypt(DecryptRequest::new(blob.clone()))?.plaintext.expose_secret(), b"secret");
    let e3 = err(east.decrypt(DecryptRequest::new(blob.clone())));
    assert_eq!(e3.kind(), ErrorKind::InvalidCiphertext);

    // ListKeys is per Region.
    let e_key = east.create_key(CreateKeyRequest::new())?.key_metadata;
    let ids = |c: &lockbox::EngineClient<'_>| -> Vec<KeyId> {
        c.list_keys(ListKeysRequest::new()).unwrap().keys.into_iter().map(|k| k.key_id).collect()
    };
    assert_eq!(ids(&west), vec![k.key_id]);
    assert_eq!(ids(&east), vec![e_key.key_id]);
    assert_eq!(ids(&asia), Vec::<KeyId>::new());
    assert_eq!(e_key.arn.scope().region(), "us-east-1");
    // A caller without a Region is in the configured one.
    let default = e.client(Caller::new(root()));
    assert_eq!(ids(&default), vec![e_key.key_id]);
    Ok(())
});

token_test!(fn aliases_are_per_account_and_region(t) {
    let e = open(t, Regions::AwsForm);
    let east = in_region(&e, "us-east-1");
    let west = in_region(&e, "eu-west-1");
    let ke = east.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    let kw = west.create_key(CreateKeyRequest::new())?.key_metadata.key_id;

    // The same name in two Regions, each for its own key.
    east.create_alias(AliasRequest::new(alias("alias/app"), ke))?;
    west.create_alias(AliasRequest::new(alias("alias/app"), kw))?;
    let target = |c: &lockbox::EngineClient<'_>| {
        c.describe_key(DescribeKeyRequest::new(KeyRef::parse("alias/app").unwrap())).unwrap().key_metadata.key_id
    };
    assert_eq!(target(&east), ke);
    assert_eq!(target(&west), kw);
    let listed = |c: &lockbox::EngineClient<'_>| -> Vec<(String, String, KeyId)> {
        c.list_aliases(ListAliasesRequest::new()).unwrap().aliases.into_iter()
            .map(|a| (a.alias_name.to_string(), a.alias_arn.to_string(), a.target_key_id)).collect()
    };
    assert_eq!(listed(&east), vec![("alias/app".into(), format!("arn:aws:kms:us-east-1:{ACCOUNT}:alias/app"), ke)]);
    assert_eq!(listed(&west), vec![("alias/app".into(), format!("arn:aws:kms:eu-west-1:{ACCOUNT}:alias/app"), kw)]);

    // An alias of one Region is not found in another.
    west.create_alias(AliasRequest::new(alias("alias/west-only"), kw))?;
    let e1 = err(east.describe_key(DescribeKeyRequest::new(KeyRef::parse("alias/west-only")?)));
    assert_eq!(e1.kind(), ErrorKind::NotFound);
    assert_eq!(e1.message(), format!("Alias arn:aws:kms:us-east-1:{ACCOUNT}:alias/west-only is not found."));
    let west_arn = KeyRef::parse(&format!("arn:aws:kms:eu-west-1:{ACCOUNT}:alias/west-only"))?;
    assert_eq!(err(east.encrypt(EncryptRequest::new(west_arn.clone(), Plaintext::copy_from(b"x")))).message(), "Invalid arn eu-west-1");
    west.encrypt(EncryptRequest::new(west_arn, Plaintext::copy_from(b"x")))?;
    assert_eq!(kind(east.delete_alias(DeleteAliasRequest::new(alias("alias/west-only")))), ErrorKind::NotFound);
    assert_eq!(kind(east.update_alias(AliasRequest::new(alias("alias/west-only"), ke))), ErrorKind::NotFound);
    // An alias cannot point at a key of another Region (the key is not found there).
    assert_eq!(kind(east.create_alias(AliasRequest::new(alias("alias/cross"), kw))), ErrorKind::NotFound);
    assert_eq!(kind(east.update_alias(AliasRequest::new(alias("alias/app"), kw))), ErrorKind::NotFound);

    // Deleting an alias in one Region leaves the same name in another.
    west.delete_alias(DeleteAliasRequest::new(alias("alias/app")))?;
    assert_eq!(target(&east), ke);
    assert_eq!(listed(&west).len(), 1);
    Ok(())
});

token_test!(fn retirable_grants_are_listed_per_region(t) {
    let e = open(t, Regions::AwsForm);
    let east = in_region(&e, "us-east-1");
    let west = in_region(&e, "eu-west-1");
    let retirer = Principal::parse(&format!("arn:aws:iam::{ACCOUNT}:role/retirer"))?;
    let grantee = Principal::parse(&format!("arn:aws:iam::{ACCOUNT}:role/app"))?;
    let ke = east.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    let kw = west.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    for (c, k) in [(&east, ke), (&west, kw)] {
        c.create_grant(CreateGrantRequest::new(k, grantee.clone(), vec![GrantOperation::Encrypt])
            .with_retiring_principal(retirer.clone()))?;
    }
    let keys = |c: &lockbox::EngineClient<'_>| -> Vec<String> {
        c.list_retirable_grants(ListRetirableGrantsRequest::new(retirer.clone())).unwrap()
            .grants.into_iter().map(|g| g.key_id.to_string()).collect()
    };
    assert_eq!(keys(&east), vec![format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{ke}")]);
    assert_eq!(keys(&west), vec![format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{kw}")]);
    // ListGrants of a key of another Region: not found.
    assert_eq!(kind(east.list_grants(ListGrantsRequest::new(kw))), ErrorKind::NotFound);
    Ok(())
});

token_test!(fn unserved_regions_are_refused_naming_the_served_ones(t) {
    {
        // By default every name of AWS's Region form is served, and nothing else.
        let e = open(t, Regions::AwsForm);
        in_region(&e, "us-gov-west-1").list_keys(ListKeysRequest::new())?;
        let refused = err(in_region(&e, "moon-1").list_keys(ListKeysRequest::new()));
        assert_eq!(refused.kind(), ErrorKind::Validation);
        assert_eq!(refused.message(), "Region 'moon-1' is not served by this installation; it serves every Region name of AWS's form (such as us-east-1)");
        assert!(e.serves_region("eu-central-1") && !e.serves_region("EU-central-1"));
    }
    let e = open(t, Regions::Only(vec!["us-east-1".into(), "eu-west-1".into()]));
    in_region(&e, "eu-west-1").create_key(CreateKeyRequest::new())?;
    let refused = err(in_region(&e, "ap-south-1").create_key(CreateKeyRequest::new()));
    assert_eq!(refused.kind(), ErrorKind::Validation);
    assert_eq!(refused.message(), "Region 'ap-south-1' is not served by this installation; it serves us-east-1, eu-west-1");
    // The refused call made nothing.
    assert_eq!(in_region(&e, "eu-west-1").list_keys(ListKeysRequest::new())?.keys.len(), 1);
    assert_eq!(e.served_regions(), "us-east-1, eu-west-1");
    Ok(())
});

token_test!(fn keys_keep_their_region_across_a_reopen(t) {
    let id = {
        let e = open(t, Regions::AwsForm);
        in_region(&e, "sa-east-1").create_key(CreateKeyRequest::new())?.key_metadata.key_id
    };
    let e = open(t, Regions::AwsForm);
    let md = in_region(&e, "sa-east-1").describe_key(DescribeKeyRequest::new(id))?.key_metadata;
    assert_eq!(md.arn.to_string(), format!("arn:aws:kms:sa-east-1:{ACCOUNT}:key/{id}"));
    assert_eq!(kind(e.client(Caller::new(root())).describe_key(DescribeKeyRequest::new(id))), ErrorKind::NotFound);
    Ok(())
});

token_test!(fn multi_region_primary_keys_have_mrk_ids_and_work_like_any_key(t) {
    let (root, clock) = common::engine_at(t, common::T0)?;
    let e: &Engine = &root;
    let west = in_region(e, "eu-west-1");
    let md = west.create_key(CreateKeyRequest::new().with_multi_region(true))?.key_metadata;
    let id = md.key_id;
    assert!(id.is_multi_region());
    let text = id.to_string();
    assert!(text.starts_with("mrk-") && text.len() == 36, "{text}");
    assert!(md.multi_region);
    assert_eq!(md.arn.to_string(), format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{text}"));
    assert_eq!(
        md.multi_region_configuration,
        Some(MultiRegionConfiguration {
            multi_region_key_type: MultiRegionKeyType::Primary,
            primary_key: MultiRegionKey { arn: md.arn.clone(), region: "eu-west-1".into() },
            replica_keys: vec![],
        })
    );
    // By its mrk- id, ARN and an alias; DescribeKey says the same.
    west.create_alias(AliasRequest::new(alias("alias/global"), id))?;
    for r in [KeyRef::parse(&text)?, KeyRef::parse(&md.arn.to_string())?, KeyRef::parse("alias/global")?] {
        assert_eq!(west.describe_key(DescribeKeyRequest::new(r))?.key_metadata, md);
    }
    // Its ciphertexts are blob format version 2 and decrypt; rotation keeps old ones working.
    let blob = west.encrypt(EncryptRequest::new(id, Plaintext::copy_from(b"global")))?.ciphertext_blob;
    assert_eq!(blob[0], 2);
    west.rotate_key_on_demand(RotateKeyOnDemandRequest::new(id))?;
    let newer = west.encrypt(EncryptRequest::new(id, Plaintext::copy_from(b"newer")))?.ciphertext_blob;
    assert_eq!(west.decrypt(DecryptRequest::new(blob.clone()))?.plaintext.expose_secret(), b"global");
    assert_eq!(west.decrypt(DecryptRequest::new(newer))?.plaintext.expose_secret(), b"newer");
    // Not in another Region (no replica there): by id, and its ciphertext.
    let east = in_region(e, "us-east-1");
    let missing = err(east.describe_key(DescribeKeyRequest::new(id)));
    assert_eq!((missing.kind(), missing.message().to_owned()), (ErrorKind::NotFound, format!("Key 'arn:aws:kms:us-east-1:{ACCOUNT}:key/{text}' does not exist")));
    assert_eq!(kind(east.decrypt(DecryptRequest::new(blob.clone()))), ErrorKind::InvalidCiphertext);
    // HMAC, RSA and ECC keys can be multi-Region too.
    for (spec, usage) in [
        (KeySpec::Hmac256, KeyUsage::GenerateVerifyMac),
        (KeySpec::Rsa2048, KeyUsage::SignVerify),
        (KeySpec::EccNistP256, KeyUsage::SignVerify),
    ] {
        let k = west.create_key(CreateKeyRequest::new().with_key_spec(spec).with_key_usage(usage).with_multi_region(true))?.key_metadata;
        assert!(k.key_id.is_multi_region() && k.multi_region, "{spec}");
    }
    // Grants, ListKeys paging (mrk keys page by their slot) and deletion work as for any key.
    let grantee = Principal::parse(&format!("arn:aws:iam::{ACCOUNT}:role/app"))?;
    west.create_grant(CreateGrantRequest::new(id, grantee, vec![GrantOperation::Decrypt]))?;
    assert_eq!(west.list_grants(ListGrantsRequest::new(id))?.grants.len(), 1);
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let mut req = ListKeysRequest::new();
        req.limit = Some(1);
        req.marker = marker.clone();
        let page = west.list_keys(req)?;
        seen.extend(page.keys.iter().map(|k| k.key_id));
        marker = page.next_marker;
        if marker.is_none() {
            break;
        }
    }
    seen.sort();
    let mut want: Vec<KeyId> = west.list_keys(ListKeysRequest::new())?.keys.into_iter().map(|k| k.key_id).collect();
    want.sort();
    assert_eq!((seen.len(), seen), (4, want));
    west.schedule_key_deletion(ScheduleKeyDeletionRequest::new(id).with_pending_window_in_days(7))?;
    clock.set(common::T0 + 7 * common::DAY);
    assert!(e.maintain()?.deleted.contains(&id));
    let gone = err(west.decrypt(DecryptRequest::new(blob)));
    assert_eq!((gone.kind(), gone.message().to_owned()), (ErrorKind::NotFound, format!("Key with id {text} does not exist: it was deleted")));
    assert_eq!(kind(west.describe_key(DescribeKeyRequest::new(KeyRef::parse("alias/global")?))), ErrorKind::NotFound);
    // A deleted primary cannot be replicated.
    let e2 = err(west.replicate_key(ReplicateKeyRequest::new(KeyRef::parse(&text)?, "us-east-1")));
    assert_eq!(e2.kind(), ErrorKind::NotFound);
    Ok(())
});

token_test!(fn a_failed_move_to_the_configured_region_moves_nothing_and_the_next_open_moves_it(t) {
    // A key made now, then written back as a record from before Regions (no Region).
    let e = open(t, Regions::AwsForm);
    let made = e.client(Caller::new(root())).create_key(CreateKeyRequest::new())?.key_metadata;
    drop(e);
    let store = lockbox_store::Store::open(&t.dir().join("data/metadata"))?;
    let slot = lockbox_store::KeySlot::of(made.key_id, "us-east-1");
    let mut old = store.key(slot)?.unwrap();
    old.region = String::new();
    store.put_key(&old)?;
    drop(store);

    // The move fails just before its transaction: the engine does not open, and nothing moved.
    lockbox_store::failpoints::arm("store.assign_region.before_move");
    let refused = Engine::open(Config::new(t.dir().join("data"), t.config()));
    assert!(refused.is_err(), "the engine opened past a failed move");
    drop(refused);
    let store = lockbox_store::Store::open(&t.dir().join("data/metadata"))?;
    assert_eq!(store.key(slot)?.unwrap().region, "");
    drop(store);

    // The next open moves it, and the key works in the configured Region.
    let e = open(t, Regions::AwsForm);
    let kms = e.client(Caller::new(root()));
    let md = kms.describe_key(DescribeKeyRequest::new(made.key_id))?.key_metadata;
    assert_eq!(md.arn, made.arn);
    kms.encrypt(EncryptRequest::new(made.key_id, Plaintext::copy_from(b"x")))?;
    assert_eq!(e.store().key(slot)?.unwrap().region, "us-east-1");
    Ok(())
});

token_test!(fn the_audit_trail_names_the_region_of_each_call(t) {
    let e = open(t, Regions::AwsForm);
    let west = in_region(&e, "eu-west-1");
    let asia = in_region(&e, "ap-southeast-2");
    let k = west.create_key(CreateKeyRequest::new())?.key_metadata;
    west.list_keys(ListKeysRequest::new())?;
    asia.generate_random(GenerateRandomRequest::new(NumberOfBytes::new(8)?))?;
    e.client(Caller::new(root())).list_aliases(ListAliasesRequest::new())?;
    e.audit().flush()?;
    let mut out = Vec::new();
    lockbox::audit::export(e.store(), &lockbox::audit::ExportFilter::default(), "us-east-1", &mut out)?;
    let events: Vec<(String, String)> = String::from_utf8(out)?
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| (v["eventName"].as_str().unwrap().to_owned(), v["awsRegion"].as_str().unwrap().to_owned()))
        .collect();
    // A call that names a key is in its key's Region; one that names none, in the Region it was
    // addressed to (the configured one for a caller that named none).
    assert_eq!(events, [
        ("CreateKey".to_owned(), "eu-west-1".to_owned()),
        ("ListKeys".to_owned(), "eu-west-1".to_owned()),
        ("GenerateRandom".to_owned(), "ap-southeast-2".to_owned()),
        ("ListAliases".to_owned(), "us-east-1".to_owned()),
    ]);
    assert_eq!(k.arn.scope().region(), "eu-west-1");
    Ok(())
});
