//! Multi-Region replica keys through the engine (issue 15): ReplicateKey shares the primary's
//! material inside the token, so a ciphertext made in one Region decrypts in another; each
//! member has its own description, policy, tags, aliases, grants and state; rotation is the
//! primary's and reaches every replica; UpdatePrimaryRegion moves the primary; deletion
//! follows AWS's rules (a primary waits in PendingReplicaDeletion for its replicas, and the
//! material is destroyed only with the family's last member).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../lockbox-token/tests/oracle/import_material.rs"]
mod import_material;
#[path = "../../lockbox-token/tests/oracle/mod.rs"]
mod oracle;

use common::{DAY, T0, err, kind};
use lockbox::api::*;
use lockbox::{Config, Engine, Regions};
use lockbox_token::token_test;

const ACCOUNT: &str = "000000000000";
const EAST: &str = "us-east-1";
const WEST: &str = "eu-west-1";
const ASIA: &str = "ap-southeast-2";

fn root() -> Principal {
    Principal::parse(&format!("arn:aws:iam::{ACCOUNT}:root")).unwrap()
}

fn in_region<'e>(e: &'e Engine, region: &str) -> lockbox::EngineClient<'e> {
    e.client(Caller::new(root()).with_region(region))
}

fn arn(region: &str, id: KeyId) -> String {
    format!("arn:aws:kms:{region}:{ACCOUNT}:key/{id}")
}

fn pt(b: &[u8]) -> Plaintext {
    Plaintext::copy_from(b)
}

fn mrk(c: &impl Kms) -> KeyMetadata {
    c.create_key(CreateKeyRequest::new().with_multi_region(true))
        .unwrap()
        .key_metadata
}

/// (type, primary Region, replica Regions) of a key's MultiRegionConfiguration.
fn family(c: &impl Kms, id: KeyId) -> (MultiRegionKeyType, String, Vec<String>) {
    let m = c
        .describe_key(DescribeKeyRequest::new(id))
        .unwrap()
        .key_metadata;
    let f = m.multi_region_configuration.unwrap();
    assert_eq!(
        f.primary_key.arn.to_string(),
        arn(&f.primary_key.region, id)
    );
    for r in &f.replica_keys {
        assert_eq!(r.arn.to_string(), arn(&r.region, id));
    }
    (
        f.multi_region_key_type,
        f.primary_key.region,
        f.replica_keys.into_iter().map(|r| r.region).collect(),
    )
}

fn decrypts(c: &impl Kms, blob: &[u8], want: &[u8]) {
    let out = c.decrypt(DecryptRequest::new(blob.to_vec())).unwrap();
    assert_eq!(out.plaintext.expose_secret(), want);
}

token_test!(fn a_replica_shares_the_material_and_nothing_else(t) {
    let e = Engine::open(Config::new(t.dir().join("data"), t.config()))?;
    let (east, west, asia) = (in_region(&e, EAST), in_region(&e, WEST), in_region(&e, ASIA));
    let p = mrk(&east);
    let objects = e.token().list_objects()?.len();
    east.create_alias(AliasRequest::new(AliasName::parse("alias/app")?, p.key_id))?;

    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    let out = east.replicate_key(
        ReplicateKeyRequest::new(p.key_id, WEST)
            .with_description("the Irish copy".to_owned())
            .with_policy(policy.clone())
            .with_tags(vec![Tag::new("team", "eu")?]),
    )?;
    let r = &out.replica_key_metadata;
    assert_eq!((r.key_id, r.arn.to_string()), (p.key_id, arn(WEST, p.key_id)));
    assert_eq!((r.key_state, r.enabled, r.description.as_str()), (KeyState::Enabled, true, "the Irish copy"));
    assert_eq!((r.key_spec, r.key_usage, r.origin), (p.key_spec, p.key_usage, p.origin));
    assert_eq!(r.current_key_material_id, p.current_key_material_id);
    assert_eq!(out.replica_policy, policy);
    assert_eq!(out.replica_tags, vec![Tag::new("team", "eu")?]);
    // Nothing was copied: the replica names the primary's token object.
    assert_eq!(e.token().list_objects()?.len(), objects);

    assert_eq!(family(&east, p.key_id), (MultiRegionKeyType::Primary, EAST.into(), vec![WEST.into()]));
    assert_eq!(family(&west, p.key_id), (MultiRegionKeyType::Replica, EAST.into(), vec![WEST.into()]));
    // A third member: every member lists every replica, sorted by Region.
    let third = east.replicate_key(ReplicateKeyRequest::new(p.key_id, ASIA))?;
    assert_eq!(third.replica_key_metadata.description, "");
    assert!(third.replica_policy.contains("\"Id\": \"key-default-1\""), "{}", third.replica_policy);
    assert_eq!(third.replica_tags, vec![]);
    let all = vec![ASIA.to_owned(), WEST.to_owned()];
    for c in [&east, &west, &asia] {
        assert_eq!(family(c, p.key_id).2, all);
    }

    // Ciphertexts cross Regions, every way.
    let from_east = east.encrypt(EncryptRequest::new(p.key_id, pt(b"made in the east")))?.ciphertext_blob;
    let from_west = west.encrypt(EncryptRequest::new(p.key_id, pt(b"made in the west")))?.ciphertext_blob;
    decrypts(&west, &from_east, b"made in the east");
    decrypts(&asia, &from_east, b"made in the east");
    decrypts(&east, &from_west, b"made in the west");
    let dk = asia.generate_data_key(GenerateDataKeyRequest::new(p.key_id, DataKeySpec::Aes256))?;
    let back = east.decrypt(DecryptRequest::new(dk.ciphertext_blob))?;
    assert_eq!(back.plaintext.expose_secret(), dk.plaintext.expose_secret());

    // Independent: description, alias, tags, state, grants.
    assert_eq!(east.describe_key(DescribeKeyRequest::new(p.key_id))?.key_metadata.description, "");
    assert_eq!(kind(west.describe_key(DescribeKeyRequest::new(KeyRef::parse("alias/app")?))), ErrorKind::NotFound);
    west.create_alias(AliasRequest::new(AliasName::parse("alias/app")?, p.key_id))?;
    assert_eq!(east.list_resource_tags(ListResourceTagsRequest::new(p.key_id))?.tags, vec![]);
    west.disable_key(DisableKeyRequest::new(p.key_id))?;
    assert_eq!(kind(west.encrypt(EncryptRequest::new(p.key_id, pt(b"x")))), ErrorKind::Disabled);
    decrypts(&east, &from_west, b"made in the west");
    west.enable_key(EnableKeyRequest::new(p.key_id))?;
    let grantee = Principal::parse(&format!("arn:aws:iam::{ACCOUNT}:role/reader"))?;
    west.create_grant(CreateGrantRequest::new(p.key_id, grantee, vec![GrantOperation::Decrypt]))?;
    assert_eq!(east.list_grants(ListGrantsRequest::new(p.key_id))?.grants.len(), 0);
    assert_eq!(west.list_grants(ListGrantsRequest::new(p.key_id))?.grants.len(), 1);
    // ListKeys in each Region shows its member.
    for c in [&east, &west, &asia] {
        let keys = c.list_keys(ListKeysRequest::new())?.keys;
        assert_eq!(keys.iter().map(|k| k.key_id).collect::<Vec<_>>(), vec![p.key_id]);
    }

    // Refusals.
    let again = err(east.replicate_key(ReplicateKeyRequest::new(p.key_id, WEST)));
    assert_eq!(again.kind(), ErrorKind::AlreadyExists);
    assert!(again.message().starts_with(&format!("{} already exists", arn(WEST, p.key_id))), "{}", again.message());
    assert_eq!(kind(east.replicate_key(ReplicateKeyRequest::new(p.key_id, EAST))), ErrorKind::AlreadyExists);
    let from_replica = err(west.replicate_key(ReplicateKeyRequest::new(p.key_id, "sa-east-1")));
    assert_eq!(from_replica.kind(), ErrorKind::UnsupportedOperation);
    assert_eq!(from_replica.message(), format!("{} is not a multi-Region primary key; its primary key is in {EAST}.", arn(WEST, p.key_id)));
    let single = east.create_key(CreateKeyRequest::new())?.key_metadata;
    let e1 = err(east.replicate_key(ReplicateKeyRequest::new(single.key_id, WEST)));
    assert_eq!((e1.kind(), e1.message().to_owned()), (ErrorKind::UnsupportedOperation, format!("{} is not a multi-Region key.", single.arn)));
    // Only an Enabled primary is replicated (AWS's key-state table).
    east.disable_key(DisableKeyRequest::new(p.key_id))?;
    let disabled = err(east.replicate_key(ReplicateKeyRequest::new(p.key_id, "sa-east-1")));
    assert_eq!((disabled.kind(), disabled.message().to_owned()), (ErrorKind::Disabled, format!("{} is disabled.", arn(EAST, p.key_id))));
    east.enable_key(EnableKeyRequest::new(p.key_id))?;
    let waiting = east
        .create_key(CreateKeyRequest::new().with_multi_region(true).with_origin(Origin::External))?
        .key_metadata;
    let pending = err(east.replicate_key(ReplicateKeyRequest::new(waiting.key_id, WEST)));
    assert_eq!((pending.kind(), pending.message().to_owned()), (ErrorKind::KmsInvalidState, format!("{} is pending import.", waiting.arn)));
    let bad = err(east.replicate_key(ReplicateKeyRequest::new(p.key_id, "Mars")));
    assert_eq!(bad.kind(), ErrorKind::Validation);
    assert_eq!(bad.message(), "1 validation error detected: Value 'Mars' at 'replicaRegion' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\\d+$");
    // A refused replication changed nothing.
    assert_eq!(family(&east, p.key_id).2, all);
    // The token holds one more object: `single`'s material (`waiting` has none).
    assert_eq!(e.token().list_objects()?.len(), objects + 1);
    Ok(())
});

token_test!(fn only_served_regions_take_replicas_and_the_replica_policy_is_checked(t) {
    let mut config = Config::new(t.dir().join("data"), t.config());
    config.regions = Regions::Only(vec![EAST.into(), WEST.into()]);
    let e = Engine::open(config)?;
    let east = in_region(&e, EAST);
    let p = mrk(&east);
    let e1 = err(east.replicate_key(ReplicateKeyRequest::new(p.key_id, ASIA)));
    assert_eq!(e1.kind(), ErrorKind::Validation);
    assert!(e1.message().starts_with("Region 'ap-southeast-2' is not served by this installation; it serves"), "{}", e1.message());
    // A policy that would lock the caller out of the replica is refused (the lockout check),
    // unless bypassed.
    let lockout = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;
    let e2 = err(east.replicate_key(ReplicateKeyRequest::new(p.key_id, WEST).with_policy(lockout.into())));
    assert_eq!(e2.kind(), ErrorKind::MalformedPolicyDocument);
    assert_eq!(family(&east, p.key_id).2, Vec::<String>::new());
    let out = east.replicate_key(
        ReplicateKeyRequest::new(p.key_id, WEST)
            .with_policy(lockout.into())
            .with_bypass_policy_lockout_safety_check(true),
    )?;
    assert_eq!(out.replica_policy, lockout);
    // The replica's own policy governs it: the account's root no longer may use it.
    let west = in_region(&e, WEST);
    assert_eq!(kind(west.encrypt(EncryptRequest::new(p.key_id, pt(b"x")))), ErrorKind::AccessDenied);
    assert!(east.encrypt(EncryptRequest::new(p.key_id, pt(b"x"))).is_ok());
    Ok(())
});

token_test!(fn rotation_is_the_primarys_and_reaches_every_replica(t) {
    let (e, clock) = common::engine_at(t, T0)?;
    let (east, west) = (in_region(&e, EAST), in_region(&e, WEST));
    let p = mrk(&east);
    east.replicate_key(ReplicateKeyRequest::new(p.key_id, WEST))?;
    let old = east.encrypt(EncryptRequest::new(p.key_id, pt(b"v1")))?.ciphertext_blob;

    east.rotate_key_on_demand(RotateKeyOnDemandRequest::new(p.key_id))?;
    let rotations = west.list_key_rotations(ListKeyRotationsRequest::new(p.key_id))?.rotations;
    assert_eq!(rotations.len(), 1);
    assert_eq!(rotations[0].rotation_type, Some(RotationType::OnDemand));
    let current = |c: &lockbox::EngineClient<'_>| c.describe_key(DescribeKeyRequest::new(p.key_id)).unwrap().key_metadata.current_key_material_id;
    assert_eq!(current(&west), current(&east));
    let new = west.encrypt(EncryptRequest::new(p.key_id, pt(b"v2")))?.ciphertext_blob;
    assert_ne!(new[17..21], old[17..21], "the replica encrypts under the new version");
    decrypts(&east, &new, b"v2");
    decrypts(&west, &old, b"v1");

    // Rotation is managed on the primary only.
    for r in [
        err(west.enable_key_rotation(EnableKeyRotationRequest::new(p.key_id))),
        err(west.disable_key_rotation(DisableKeyRotationRequest::new(p.key_id))),
        err(west.rotate_key_on_demand(RotateKeyOnDemandRequest::new(p.key_id))),
    ] {
        assert_eq!(r.kind(), ErrorKind::UnsupportedOperation);
        assert_eq!(r.message(), format!("{} is a multi-Region replica key; rotation is managed on its primary key in {EAST}.", arn(WEST, p.key_id)));
    }
    east.enable_key_rotation(EnableKeyRotationRequest::new(p.key_id).with_rotation_period_in_days(90))?;
    let status = west.get_key_rotation_status(GetKeyRotationStatusRequest::new(p.key_id))?;
    assert_eq!((status.key_rotation_enabled, status.rotation_period_in_days), (true, Some(90)));

    // The schedule rotates the family once, by its primary.
    clock.set(T0 + 90 * DAY);
    let report = e.maintain()?;
    assert_eq!(report.rotated, vec![(p.key_id, 3)]);
    let listed = west.list_key_rotations(ListKeyRotationsRequest::new(p.key_id))?.rotations;
    assert_eq!(listed.iter().map(|r| r.rotation_type).collect::<Vec<_>>(), vec![Some(RotationType::OnDemand), Some(RotationType::Automatic)]);
    assert_eq!(current(&west), current(&east));
    east.disable_key_rotation(DisableKeyRotationRequest::new(p.key_id))?;
    assert!(!west.get_key_rotation_status(GetKeyRotationStatusRequest::new(p.key_id))?.key_rotation_enabled);
    Ok(())
});

token_test!(fn the_encryption_allowance_of_a_version_is_the_familys(t) {
    let lifecycle = lockbox::Lifecycle {
        max_encryptions_per_version: 6,
        encryption_count_block: 2,
        ..lockbox::Lifecycle::default()
    };
    let (e, _clock) = common::engine_with(t, T0, lifecycle)?;
    let (east, west) = (in_region(&e, EAST), in_region(&e, WEST));
    let p = mrk(&east);
    east.replicate_key(ReplicateKeyRequest::new(p.key_id, WEST))?;
    // Six encryptions in all, alternating Regions, then the seventh rotates the family.
    for i in 0..6 {
        let c = if i % 2 == 0 { &east } else { &west };
        c.encrypt(EncryptRequest::new(p.key_id, pt(b"x")))?;
    }
    assert_eq!(west.list_key_rotations(ListKeyRotationsRequest::new(p.key_id))?.rotations.len(), 0);
    west.encrypt(EncryptRequest::new(p.key_id, pt(b"x")))?;
    let rotations = east.list_key_rotations(ListKeyRotationsRequest::new(p.key_id))?.rotations;
    assert_eq!(rotations.len(), 1);
    let usage = e.material_usage(&Caller::new(root()).with_region(WEST), &KeyRef::Id(p.key_id))?;
    assert_eq!(usage.iter().map(|u| (u.version, u.encryptions)).collect::<Vec<_>>(), vec![(1, 6), (2, 1)]);
    Ok(())
});

token_test!(fn the_primary_region_moves_to_a_replica(t) {
    let e = Engine::open(Config::new(t.dir().join("data"), t.config()))?;
    let (east, west, asia) = (in_region(&e, EAST), in_region(&e, WEST), in_region(&e, ASIA));
    let p = mrk(&east);
    east.replicate_key(ReplicateKeyRequest::new(p.key_id, WEST))?;
    east.replicate_key(ReplicateKeyRequest::new(p.key_id, ASIA))?;

    // Refusals first: not a primary, a Region without a member, the primary's own Region,
    // a disabled replica.
    assert_eq!(kind(west.update_primary_region(UpdatePrimaryRegionRequest::new(p.key_id, ASIA))), ErrorKind::UnsupportedOperation);
    let none = err(east.update_primary_region(UpdatePrimaryRegionRequest::new(p.key_id, "sa-east-1")));
    assert_eq!((none.kind(), none.message().to_owned()), (ErrorKind::NotFound, format!("Key '{}' does not exist", arn("sa-east-1", p.key_id))));
    assert_eq!(kind(east.update_primary_region(UpdatePrimaryRegionRequest::new(p.key_id, EAST))), ErrorKind::Validation);
    west.disable_key(DisableKeyRequest::new(p.key_id))?;
    assert_eq!(kind(east.update_primary_region(UpdatePrimaryRegionRequest::new(p.key_id, WEST))), ErrorKind::Disabled);
    west.enable_key(EnableKeyRequest::new(p.key_id))?;

    east.update_primary_region(UpdatePrimaryRegionRequest::new(p.key_id, WEST))?;
    let want = vec![ASIA.to_owned(), EAST.to_owned()];
    assert_eq!(family(&west, p.key_id), (MultiRegionKeyType::Primary, WEST.into(), want.clone()));
    assert_eq!(family(&east, p.key_id), (MultiRegionKeyType::Replica, WEST.into(), want.clone()));
    assert_eq!(family(&asia, p.key_id), (MultiRegionKeyType::Replica, WEST.into(), want));
    // The new primary replicates and rotates; the old one no longer does.
    assert_eq!(kind(east.replicate_key(ReplicateKeyRequest::new(p.key_id, "sa-east-1"))), ErrorKind::UnsupportedOperation);
    assert_eq!(kind(east.rotate_key_on_demand(RotateKeyOnDemandRequest::new(p.key_id))), ErrorKind::UnsupportedOperation);
    west.rotate_key_on_demand(RotateKeyOnDemandRequest::new(p.key_id))?;
    assert_eq!(asia.list_key_rotations(ListKeyRotationsRequest::new(p.key_id))?.rotations.len(), 1);
    west.replicate_key(ReplicateKeyRequest::new(p.key_id, "sa-east-1"))?;
    let blob = in_region(&e, "sa-east-1").encrypt(EncryptRequest::new(p.key_id, pt(b"south")))?.ciphertext_blob;
    decrypts(&east, &blob, b"south");

    // It holds across a restart.
    drop((east, west, asia));
    drop(e);
    let e = Engine::open(Config::new(t.dir().join("data"), t.config()))?;
    assert_eq!(family(&in_region(&e, EAST), p.key_id).1, WEST);
    let report = e.reconcile()?;
    assert!(!report.has_problems(), "{report:?}");
    decrypts(&in_region(&e, ASIA), &blob, b"south");
    Ok(())
});

token_test!(fn a_primary_waits_for_its_replicas_and_the_material_goes_with_the_last_member(t) {
    let (e, clock) = common::engine_at(t, T0)?;
    let (east, west) = (in_region(&e, EAST), in_region(&e, WEST));
    let p = mrk(&east);
    east.replicate_key(ReplicateKeyRequest::new(p.key_id, WEST))?;
    let blob = east.encrypt(EncryptRequest::new(p.key_id, pt(b"keep me")))?.ciphertext_blob;
    let material = e.key_objects()?.len();
    assert_eq!(material, 1);

    // The primary with a replica: PendingReplicaDeletion, no date, the replica unaffected.
    let s = east.schedule_key_deletion(ScheduleKeyDeletionRequest::new(p.key_id).with_pending_window_in_days(7))?;
    assert_eq!((s.key_state, s.deletion_date, s.pending_window_in_days), (KeyState::PendingReplicaDeletion, None, 7));
    let m = east.describe_key(DescribeKeyRequest::new(p.key_id))?.key_metadata;
    assert_eq!((m.key_state, m.deletion_date, m.pending_deletion_window_in_days, m.enabled), (KeyState::PendingReplicaDeletion, None, Some(7), false));
    let refused = err(east.decrypt(DecryptRequest::new(blob.to_vec())));
    assert_eq!((refused.kind(), refused.message().to_owned()), (ErrorKind::KmsInvalidState, format!("{} is pending replica deletion.", arn(EAST, p.key_id))));
    assert_eq!(kind(east.replicate_key(ReplicateKeyRequest::new(p.key_id, ASIA))), ErrorKind::KmsInvalidState);
    decrypts(&west, &blob, b"keep me");
    // Cancelled: Disabled, as any key. Scheduled again.
    east.cancel_key_deletion(CancelKeyDeletionRequest::new(p.key_id))?;
    assert_eq!(east.describe_key(DescribeKeyRequest::new(p.key_id))?.key_metadata.key_state, KeyState::Disabled);
    east.schedule_key_deletion(ScheduleKeyDeletionRequest::new(p.key_id).with_pending_window_in_days(7))?;
    // Time passes: nothing is deleted while the replica lives.
    clock.set(T0 + 30 * DAY);
    assert_eq!(e.maintain()?.deleted, vec![]);
    decrypts(&west, &blob, b"keep me");

    // The replica goes after its own window; the material stays for the primary, whose
    // window starts then.
    west.schedule_key_deletion(ScheduleKeyDeletionRequest::new(p.key_id).with_pending_window_in_days(7))?;
    clock.set(T0 + 37 * DAY);
    assert_eq!(e.maintain()?.deleted, vec![p.key_id]);
    assert_eq!(kind(west.describe_key(DescribeKeyRequest::new(p.key_id))), ErrorKind::NotFound);
    assert_eq!(e.key_objects()?.len(), material);
    let m = east.describe_key(DescribeKeyRequest::new(p.key_id))?.key_metadata;
    assert_eq!((m.key_state, m.deletion_date), (KeyState::PendingDeletion, Some(Timestamp::from_unix_millis(T0 + 44 * DAY))));
    assert_eq!(family(&east, p.key_id), (MultiRegionKeyType::Primary, EAST.into(), vec![]));
    assert!(!e.reconcile()?.has_problems());

    // Replicated again before the primary goes: the old ciphertext decrypts in the new
    // replica (the deleted replica's tombstone is not in its way).
    east.cancel_key_deletion(CancelKeyDeletionRequest::new(p.key_id))?;
    east.enable_key(EnableKeyRequest::new(p.key_id))?;
    east.replicate_key(ReplicateKeyRequest::new(p.key_id, WEST))?;
    decrypts(&west, &blob, b"keep me");
    assert!(!e.reconcile()?.has_problems());

    // Deleting a replica destroys nothing; deleting the family's last member destroys the
    // material.
    west.schedule_key_deletion(ScheduleKeyDeletionRequest::new(p.key_id).with_pending_window_in_days(7))?;
    east.schedule_key_deletion(ScheduleKeyDeletionRequest::new(p.key_id).with_pending_window_in_days(7))?;
    clock.set(T0 + 44 * DAY);
    assert_eq!(e.maintain()?.deleted, vec![p.key_id]);
    assert_eq!(e.key_objects()?.len(), material);
    clock.set(T0 + 51 * DAY);
    assert_eq!(e.maintain()?.deleted, vec![p.key_id]);
    assert_eq!(e.key_objects()?.len(), 0);
    assert_eq!(kind(east.describe_key(DescribeKeyRequest::new(p.key_id))), ErrorKind::NotFound);
    Ok(())
});

token_test!(fn an_imported_family_imports_the_same_material_into_each_member(t) {
    let e = Engine::open(Config::new(t.dir().join("data"), t.config()))?;
    let (east, west) = (in_region(&e, EAST), in_region(&e, WEST));
    let p = east
        .create_key(CreateKeyRequest::new().with_multi_region(true).with_origin(Origin::External))?
        .key_metadata;
    let import = |c: &lockbox::EngineClient<'_>, m: &import_material::Material| -> Result<ImportKeyMaterialResponse, KmsError> {
        let params = c.get_parameters_for_import(GetParametersForImportRequest::new(
            p.key_id,
            AlgorithmSpec::RsaesOaepSha256,
            WrappingKeySpec::Rsa2048,
        ))?;
        let wrapped = import_material::wrap(t.dir(), &params.public_key, "RSAES_OAEP_SHA_256", m).unwrap();
        c.import_key_material(
            ImportKeyMaterialRequest::new(p.key_id, params.import_token, wrapped)
                .with_expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire),
        )
    };
    let material = import_material::material(t.dir(), "AES_256", "mine.bin")?;
    let other = import_material::material(t.dir(), "AES_256", "other.bin")?;
    import(&east, &material)?;
    let r = east.replicate_key(ReplicateKeyRequest::new(p.key_id, WEST))?.replica_key_metadata;
    assert_eq!((r.key_state, r.origin), (KeyState::PendingImport, Origin::External));
    // Only the primary's material is accepted, and then the family interoperates.
    let wrong = err(import(&west, &other));
    assert_eq!(wrong.kind(), ErrorKind::IncorrectKeyMaterial);
    assert_eq!(e.reconcile()?.orphans.len(), 0, "a refused import leaves nothing in the token");
    let done = import(&west, &material)?;
    assert_eq!(done.key_material_id, east.describe_key(DescribeKeyRequest::new(p.key_id))?.key_metadata.current_key_material_id.unwrap());
    assert_eq!(west.describe_key(DescribeKeyRequest::new(p.key_id))?.key_metadata.key_state, KeyState::Enabled);
    let blob = east.encrypt(EncryptRequest::new(p.key_id, pt(b"imported")))?.ciphertext_blob;
    decrypts(&west, &blob, b"imported");
    // Each member holds its own object: deleting the replica's material leaves the primary's.
    west.delete_imported_key_material(DeleteImportedKeyMaterialRequest::new(p.key_id))?;
    decrypts(&east, &blob, b"imported");
    assert_eq!(kind(west.decrypt(DecryptRequest::new(blob.to_vec()))), ErrorKind::KmsInvalidState);
    Ok(())
});

token_test!(fn the_audit_trail_records_both_regions_as_cloudtrail_does(t) {
    let e = Engine::open(Config::new(t.dir().join("data"), t.config()))?;
    let east = in_region(&e, EAST);
    let p = mrk(&east);
    east.replicate_key(ReplicateKeyRequest::new(p.key_id, WEST))?;
    east.update_primary_region(UpdatePrimaryRegionRequest::new(p.key_id, WEST))?;
    // A refused call leaves one event only.
    assert_eq!(kind(east.replicate_key(ReplicateKeyRequest::new(p.key_id, ASIA))), ErrorKind::UnsupportedOperation);
    e.audit().flush()?;
    let mut out = Vec::new();
    lockbox::audit::export(e.store(), &lockbox::audit::ExportFilter::default(), EAST, &mut out)?;
    let events: Vec<serde_json::Value> = String::from_utf8(out)?.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let seen: Vec<(String, String, String, bool)> = events[1..]
        .iter()
        .map(|v| (
            v["eventName"].as_str().unwrap().to_owned(),
            v["awsRegion"].as_str().unwrap().to_owned(),
            v["resources"][0]["ARN"].as_str().unwrap_or_default().to_owned(),
            v["errorCode"].is_string(),
        ))
        .collect();
    assert_eq!(seen, [
        ("ReplicateKey".to_owned(), EAST.to_owned(), arn(EAST, p.key_id), false),
        ("CreateKey".to_owned(), WEST.to_owned(), arn(WEST, p.key_id), false),
        ("UpdatePrimaryRegion".to_owned(), EAST.to_owned(), arn(EAST, p.key_id), false),
        ("UpdatePrimaryRegion".to_owned(), WEST.to_owned(), arn(WEST, p.key_id), false),
        ("ReplicateKey".to_owned(), EAST.to_owned(), arn(EAST, p.key_id), true),
    ]);
    // Each pair is one request.
    assert_eq!(events[1]["requestID"], events[2]["requestID"]);
    assert_eq!(events[3]["requestID"], events[4]["requestID"]);
    assert_ne!(events[2]["requestID"], events[3]["requestID"]);
    Ok(())
});
