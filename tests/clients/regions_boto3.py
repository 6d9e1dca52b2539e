#!/usr/bin/env python3
"""boto3, unchanged, against a Lockbox server in three Regions (issue 15): keys and aliases of
one Region are invisible in another, the same alias name lives in each, ARNs name the
Region, a ciphertext is not decrypted outside its key's Region, and a Region the server
does not serve is refused. A multi-Region key is replicated from us-east-1 to eu-west-1:
ciphertexts cross between them, each member keeps its own description, alias, tags, policy
and state, rotation is the primary's, the primary moves with UpdatePrimaryRegion, and a
primary with a replica waits in PendingReplicaDeletion.

Usage: LOCKBOX_ENDPOINT_URL=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=... \\
       AWS_SECRET_ACCESS_KEY=... python3 tests/clients/regions_boto3.py

The server must serve every name of AWS's Region form (the default) and start empty in the
three Regions used here.
"""

import json
import os
import re
import sys
import time

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINT = sys.argv[1] if len(sys.argv) > 1 else os.environ["LOCKBOX_ENDPOINT_URL"]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
CONFIG = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})

checks = 0


def client(region):
    return boto3.client("kms", endpoint_url=ENDPOINT, region_name=region, config=CONFIG)


def expect(name, expected, actual):
    global checks
    if expected != actual:
        sys.exit(f"FAIL: {name}: expected {expected!r}, got {actual!r}")
    checks += 1
    print(f"ok: {name}")


# ReplicateKey and UpdatePrimaryRegion have the server's default quota, AWS's: 5 calls a
# second each, per account. The script makes more of them than that in a second and retries
# nothing (an answer must be the first one), so it paces them.
PACED = {"replicate_key": 0.25, "update_primary_region": 0.25}
last_call = {}


def pace(operation):
    gap = PACED.get(operation)
    if gap is not None:
        wait = last_call.get(operation, float("-inf")) + gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        last_call[operation] = time.monotonic()


def expect_error(name, code, message, kms, operation, **params):
    """`operation` must fail with `code`, HTTP 400 and exactly `message` (None: any)."""
    pace(operation)
    try:
        getattr(kms, operation)(**params)
    except ClientError as e:
        expect(f"{name}: error code", code, e.response["Error"]["Code"])
        expect(f"{name}: HTTP status", 400, e.response["ResponseMetadata"]["HTTPStatusCode"])
        if message is not None:
            expect(f"{name}: message", message, e.response["Error"]["Message"])
        return
    sys.exit(f"FAIL: {name}: {operation} succeeded; expected {code}")


def main():
    kms = {r: client(r) for r in REGIONS}
    keys = {}
    for region in REGIONS:
        meta = kms[region].create_key(Description=f"key of {region}")["KeyMetadata"]
        account = meta["AWSAccountId"]
        expect(f"{region}: ARN names the Region",
               f"arn:aws:kms:{region}:{account}:key/{meta['KeyId']}", meta["Arn"])
        # The same alias name in every Region, each for its own key.
        kms[region].create_alias(AliasName="alias/regional", TargetKeyId=meta["KeyId"])
        keys[region] = meta

    for region in REGIONS:
        own = keys[region]
        listed = [k["KeyId"] for k in kms[region].list_keys()["Keys"]]
        expect(f"{region}: ListKeys shows its own key only", [own["KeyId"]], listed)
        aliases = [(a["AliasName"], a["AliasArn"], a["TargetKeyId"])
                   for a in kms[region].list_aliases()["Aliases"]]
        expect(f"{region}: ListAliases shows its own alias only",
               [("alias/regional", f"arn:aws:kms:{region}:{own['AWSAccountId']}:alias/regional",
                 own["KeyId"])], aliases)
        via_alias = kms[region].describe_key(KeyId="alias/regional")["KeyMetadata"]
        expect(f"{region}: the alias names this Region's key", own["Arn"], via_alias["Arn"])

    east, west, south = (kms[r] for r in REGIONS)
    w = keys["eu-west-1"]
    expect_error("a key of eu-west-1 by id in us-east-1", "NotFoundException",
                 f"Key 'arn:aws:kms:us-east-1:{w['AWSAccountId']}:key/{w['KeyId']}' does not exist",
                 east, "describe_key", KeyId=w["KeyId"])
    expect_error("a key of eu-west-1 by ARN in ap-southeast-2", "NotFoundException",
                 "Invalid arn eu-west-1", south, "encrypt", KeyId=w["Arn"], Plaintext=b"x")
    blob = west.encrypt(KeyId="alias/regional", Plaintext=b"regional secret")["CiphertextBlob"]
    expect("eu-west-1 decrypts its ciphertext", b"regional secret",
           west.decrypt(CiphertextBlob=blob)["Plaintext"])
    expect_error("eu-west-1's ciphertext in us-east-1", "InvalidCiphertextException", None,
                 east, "decrypt", CiphertextBlob=blob)

    # Deleting an alias in one Region leaves its namesakes.
    west.delete_alias(AliasName="alias/regional")
    expect("us-east-1's alias survives eu-west-1's deletion", keys["us-east-1"]["KeyId"],
           east.describe_key(KeyId="alias/regional")["KeyMetadata"]["KeyId"])
    expect_error("the deleted alias in eu-west-1", "NotFoundException", None,
                 west, "describe_key", KeyId="alias/regional")

    # A multi-Region primary key without replicas: an mrk- id, its MultiRegionConfiguration,
    # blobs that decrypt in its Region only.
    mrk = west.create_key(MultiRegion=True, Description="multi-Region")["KeyMetadata"]
    expect("an mrk- id", True, re.fullmatch(r"mrk-[0-9a-f]{32}", mrk["KeyId"]) is not None)
    expect("MultiRegion", True, mrk["MultiRegion"])
    expect("MultiRegionConfiguration", {
        "MultiRegionKeyType": "PRIMARY",
        "PrimaryKey": {"Arn": mrk["Arn"], "Region": "eu-west-1"},
        "ReplicaKeys": [],
    }, west.describe_key(KeyId=mrk["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"])
    mrk_blob = west.encrypt(KeyId=mrk["KeyId"], Plaintext=b"mrk")["CiphertextBlob"]
    expect("the mrk key decrypts its ciphertext", b"mrk",
           west.decrypt(CiphertextBlob=mrk_blob)["Plaintext"])
    expect_error("the mrk key's ciphertext in us-east-1", "InvalidCiphertextException", None,
                 east, "decrypt", CiphertextBlob=mrk_blob)

    multi_region_family(east, west, south, keys)
    asymmetric_and_hmac_families(east, west)

    expect_error("a name not of AWS's Region form", "InvalidSignatureException",
                 "Credential should be scoped to a valid region. This server serves every "
                 "Region name of AWS's form (such as us-east-1).",
                 client("moon-1"), "list_keys")
    print(f"regions_boto3.py: {checks} checks passed")


def configuration(kind, primary, replicas, key_id, account):
    """A MultiRegionConfiguration as DescribeKey gives it."""
    arn = lambda region: f"arn:aws:kms:{region}:{account}:key/{key_id}"
    return {
        "MultiRegionKeyType": kind,
        "PrimaryKey": {"Arn": arn(primary), "Region": primary},
        "ReplicaKeys": [{"Arn": arn(r), "Region": r} for r in replicas],
    }


def multi_region_family(east, west, south, keys):
    """A multi-Region key made in us-east-1 and replicated to eu-west-1."""
    primary = east.create_key(MultiRegion=True, Description="family primary",
                              Tags=[{"TagKey": "side", "TagValue": "primary"}])["KeyMetadata"]
    key_id, account = primary["KeyId"], primary["AWSAccountId"]
    arn = lambda region: f"arn:aws:kms:{region}:{account}:key/{key_id}"

    pace("replicate_key")
    out = east.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1",
                             Description="family replica",
                             Tags=[{"TagKey": "side", "TagValue": "replica"},
                                   {"TagKey": "team", "TagValue": "ops"}])
    replica = out["ReplicaKeyMetadata"]
    expect("ReplicateKey: the replica has the primary's key id", key_id, replica["KeyId"])
    expect("ReplicateKey: the replica's ARN names eu-west-1", arn("eu-west-1"), replica["Arn"])
    expect("ReplicateKey: the replica is Enabled", ("Enabled", True),
           (replica["KeyState"], replica["Enabled"]))
    expect("ReplicateKey: the replica's description", "family replica", replica["Description"])
    expect("ReplicateKey: the shared properties", (
        primary["KeySpec"], primary["KeyUsage"], primary["Origin"], True,
        primary["EncryptionAlgorithms"]), (
        replica["KeySpec"], replica["KeyUsage"], replica["Origin"], replica["MultiRegion"],
        replica["EncryptionAlgorithms"]))
    expect("ReplicateKey: MultiRegionConfiguration",
           configuration("REPLICA", "us-east-1", ["eu-west-1"], key_id, account),
           replica["MultiRegionConfiguration"])
    # Without Policy: the default key policy, the one any key of the Region gets.
    default = west.get_key_policy(KeyId=keys["eu-west-1"]["KeyId"],
                                  PolicyName="default")["Policy"]
    expect("ReplicateKey: ReplicaPolicy is the default policy", json.loads(default),
           json.loads(out["ReplicaPolicy"]))
    expect("ReplicateKey: ReplicaTags as given",
           [{"TagKey": "side", "TagValue": "replica"}, {"TagKey": "team", "TagValue": "ops"}],
           out["ReplicaTags"])
    for region, kms, kind in [("us-east-1", east, "PRIMARY"), ("eu-west-1", west, "REPLICA")]:
        expect(f"DescribeKey in {region}: the family",
               configuration(kind, "us-east-1", ["eu-west-1"], key_id, account),
               kms.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"])
    expect_error("the family has no member in ap-southeast-2", "NotFoundException",
                 f"Key '{arn('ap-southeast-2')}' does not exist",
                 south, "describe_key", KeyId=key_id)

    # Ciphertexts cross between the Regions, both ways; Decrypt names its own Region's key.
    blob = east.encrypt(KeyId=key_id, Plaintext=b"from us-east-1")["CiphertextBlob"]
    opened = west.decrypt(CiphertextBlob=blob)
    expect("us-east-1's ciphertext decrypts in eu-west-1", (b"from us-east-1", arn("eu-west-1")),
           (opened["Plaintext"], opened["KeyId"]))
    opened = west.decrypt(CiphertextBlob=blob, KeyId=arn("eu-west-1"))
    expect("... also when Decrypt names the replica", b"from us-east-1", opened["Plaintext"])
    back = west.encrypt(KeyId=key_id, Plaintext=b"from eu-west-1")["CiphertextBlob"]
    opened = east.decrypt(CiphertextBlob=back)
    expect("eu-west-1's ciphertext decrypts in us-east-1", (b"from eu-west-1", arn("us-east-1")),
           (opened["Plaintext"], opened["KeyId"]))
    expect_error("neither decrypts in ap-southeast-2", "InvalidCiphertextException", None,
                 south, "decrypt", CiphertextBlob=back)

    # Each member's own properties: description, alias, tags, policy, enabled state.
    west.update_key_description(KeyId=key_id, Description="replica, renamed")
    expect("the replica's description changed alone", ("family primary", "replica, renamed"),
           (east.describe_key(KeyId=key_id)["KeyMetadata"]["Description"],
            west.describe_key(KeyId=key_id)["KeyMetadata"]["Description"]))
    west.create_alias(AliasName="alias/family", TargetKeyId=key_id)
    expect("an alias of the replica names it", arn("eu-west-1"),
           west.describe_key(KeyId="alias/family")["KeyMetadata"]["Arn"])
    expect_error("the replica's alias is not in us-east-1", "NotFoundException", None,
                 east, "describe_key", KeyId="alias/family")
    west.tag_resource(KeyId=key_id, Tags=[{"TagKey": "extra", "TagValue": "1"}])
    expect("the primary's tags are its own", [{"TagKey": "side", "TagValue": "primary"}],
           east.list_resource_tags(KeyId=key_id)["Tags"])
    expect("the replica's tags are its own",
           [{"TagKey": "extra", "TagValue": "1"}, {"TagKey": "side", "TagValue": "replica"},
            {"TagKey": "team", "TagValue": "ops"}],
           sorted(west.list_resource_tags(KeyId=key_id)["Tags"], key=lambda t: t["TagKey"]))
    replica_policy = json.loads(default)
    replica_policy["Statement"][0]["Sid"] = "replica only"
    west.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(replica_policy))
    expect("the replica's policy changed", "replica only", json.loads(
        west.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])["Statement"][0]["Sid"])
    expect("the primary's policy did not", json.loads(default), json.loads(
        east.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]))
    west.disable_key(KeyId=key_id)
    expect("the disabled replica", ("Disabled", False), tuple(
        west.describe_key(KeyId=key_id)["KeyMetadata"][f] for f in ("KeyState", "Enabled")))
    expect("the primary stays Enabled", "Enabled",
           east.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"])
    expect("the primary still encrypts and decrypts", b"still",
           east.decrypt(CiphertextBlob=east.encrypt(KeyId=key_id, Plaintext=b"still")[
               "CiphertextBlob"])["Plaintext"])
    expect_error("the disabled replica refuses Decrypt", "DisabledException",
                 f"{arn('eu-west-1')} is disabled.", west, "decrypt", CiphertextBlob=blob)
    expect_error("UpdatePrimaryRegion to a disabled replica", "DisabledException", None,
                 east, "update_primary_region", KeyId=key_id, PrimaryRegion="eu-west-1")
    west.enable_key(KeyId=key_id)

    # What ReplicateKey refuses.
    expect_error("ReplicateKey into eu-west-1 again", "AlreadyExistsException", None,
                 east, "replicate_key", KeyId=key_id, ReplicaRegion="eu-west-1")
    expect_error("ReplicateKey into the primary's own Region", "AlreadyExistsException", None,
                 east, "replicate_key", KeyId=key_id, ReplicaRegion="us-east-1")
    expect_error("ReplicateKey of the replica", "UnsupportedOperationException", None,
                 west, "replicate_key", KeyId=key_id, ReplicaRegion="ap-southeast-2")
    expect_error("ReplicateKey of a single-Region key", "UnsupportedOperationException", None,
                 east, "replicate_key", KeyId=keys["us-east-1"]["KeyId"],
                 ReplicaRegion="eu-west-1")
    expect_error("ReplicateKey into a name not of AWS's Region form", "ValidationException",
                 "1 validation error detected: Value 'moon' at 'replicaRegion' failed to "
                 "satisfy constraint: Member must satisfy regular expression pattern: "
                 "^([a-z]+-){2,3}\\d+$",
                 east, "replicate_key", KeyId=key_id, ReplicaRegion="moon")

    # Rotation is the primary's, and reaches the replica.
    east.rotate_key_on_demand(KeyId=key_id)
    rotations = west.list_key_rotations(KeyId=key_id)["Rotations"]
    expect("the replica lists the primary's on-demand rotation", [("ON_DEMAND", key_id)],
           [(r["RotationType"], r["KeyId"]) for r in rotations])
    fresh = east.encrypt(KeyId=key_id, Plaintext=b"after rotation")["CiphertextBlob"]
    expect("a ciphertext of the new material decrypts in eu-west-1", b"after rotation",
           west.decrypt(CiphertextBlob=fresh)["Plaintext"])
    expect("the old one too", b"from us-east-1", west.decrypt(CiphertextBlob=blob)["Plaintext"])
    for op, params in [("rotate_key_on_demand", {}), ("enable_key_rotation", {}),
                       ("disable_key_rotation", {})]:
        expect_error(f"{op} on the replica", "UnsupportedOperationException", None,
                     west, op, KeyId=key_id, **params)
    east.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=180)
    status = west.get_key_rotation_status(KeyId=key_id)
    expect("the replica shows the primary's rotation setting", (True, 180),
           (status["KeyRotationEnabled"], status["RotationPeriodInDays"]))

    # The primary moves to eu-west-1.
    expect_error("UpdatePrimaryRegion to a Region without a replica", "NotFoundException", None,
                 east, "update_primary_region", KeyId=key_id, PrimaryRegion="ap-southeast-2")
    expect_error("UpdatePrimaryRegion on the replica", "UnsupportedOperationException", None,
                 west, "update_primary_region", KeyId=key_id, PrimaryRegion="us-east-1")
    # The replica's own policy must allow it too (kms:UpdatePrimaryRegion on both keys).
    denying = json.loads(json.dumps(replica_policy))
    denying["Statement"].append({"Sid": "no move", "Effect": "Deny",
                                 "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                                 "Action": "kms:UpdatePrimaryRegion", "Resource": "*"})
    west.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(denying))
    expect_error("UpdatePrimaryRegion that the replica's policy denies", "AccessDeniedException",
                 None, east, "update_primary_region", KeyId=key_id, PrimaryRegion="eu-west-1")
    west.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(replica_policy))
    pace("update_primary_region")
    moved = east.update_primary_region(KeyId=key_id, PrimaryRegion="eu-west-1")
    expect("UpdatePrimaryRegion answers nothing", [],
           [k for k in moved if k != "ResponseMetadata"])
    for region, kms, kind in [("eu-west-1", west, "PRIMARY"), ("us-east-1", east, "REPLICA")]:
        expect(f"after UpdatePrimaryRegion, DescribeKey in {region}",
               configuration(kind, "eu-west-1", ["us-east-1"], key_id, account),
               kms.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"])
    expect_error("the old primary no longer rotates", "UnsupportedOperationException", None,
                 east, "rotate_key_on_demand", KeyId=key_id)

    # Deleting the primary while a replica exists: PendingReplicaDeletion, no date.
    deleting = west.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    expect("ScheduleKeyDeletion of the primary: PendingReplicaDeletion, no DeletionDate",
           ("PendingReplicaDeletion", 7, False),
           (deleting["KeyState"], deleting["PendingWindowInDays"], "DeletionDate" in deleting))
    described = west.describe_key(KeyId=key_id)["KeyMetadata"]
    expect("DescribeKey of the primary pending replica deletion",
           ("PendingReplicaDeletion", False, 7, False),
           (described["KeyState"], described["Enabled"],
            described["PendingDeletionWindowInDays"], "DeletionDate" in described))
    expect_error("the primary pending replica deletion refuses Encrypt",
                 "KMSInvalidStateException", None,
                 west, "encrypt", KeyId=key_id, Plaintext=b"x")
    expect("the replica keeps working", b"replica works", east.decrypt(
        CiphertextBlob=east.encrypt(KeyId=key_id, Plaintext=b"replica works")["CiphertextBlob"])[
        "Plaintext"])
    west.cancel_key_deletion(KeyId=key_id)
    expect("CancelKeyDeletion leaves the primary Disabled", "Disabled",
           west.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"])



def asymmetric_and_hmac_families(east, west):
    """RSA, ECC and HMAC multi-Region keys work across the two Regions as well."""
    def family(spec, usage):
        key_id = east.create_key(MultiRegion=True, KeySpec=spec, KeyUsage=usage)[
            "KeyMetadata"]["KeyId"]
        pace("replicate_key")
        replica = east.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")[
            "ReplicaKeyMetadata"]
        expect(f"{spec}: the replica is Enabled with the primary's spec and usage",
               ("Enabled", spec, usage),
               (replica["KeyState"], replica["KeySpec"], replica["KeyUsage"]))
        return key_id

    rsa = family("RSA_2048", "ENCRYPT_DECRYPT")
    expect("RSA_2048: the same public key in both Regions",
           east.get_public_key(KeyId=rsa)["PublicKey"], west.get_public_key(KeyId=rsa)["PublicKey"])
    sealed = west.encrypt(KeyId=rsa, Plaintext=b"rsa", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    expect("RSA_2048: eu-west-1's ciphertext decrypts in us-east-1", b"rsa", east.decrypt(
        KeyId=rsa, CiphertextBlob=sealed["CiphertextBlob"],
        EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"])
    ecc = family("ECC_NIST_P256", "SIGN_VERIFY")
    signature = east.sign(KeyId=ecc, Message=b"signed in us-east-1",
                          SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    expect("ECC_NIST_P256: us-east-1's signature verifies in eu-west-1", True, west.verify(
        KeyId=ecc, Message=b"signed in us-east-1", Signature=signature,
        SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"])
    hmac = family("HMAC_256", "GENERATE_VERIFY_MAC")
    mac = west.generate_mac(KeyId=hmac, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    expect("HMAC_256: eu-west-1's MAC verifies in us-east-1", True, east.verify_mac(
        KeyId=hmac, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"])


if __name__ == "__main__":
    main()
