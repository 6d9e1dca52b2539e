#!/usr/bin/env python3
"""boto3, unchanged, against a Lockbox server in three Regions (issue 15): keys and aliases of
one Region are invisible in another, the same alias name lives in each, ARNs name the
Region, a ciphertext is not decrypted outside its key's Region, and a Region the server
does not serve is refused.

Usage: LOCKBOX_ENDPOINT_URL=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=... \\
       AWS_SECRET_ACCESS_KEY=... python3 tests/clients/regions_boto3.py

The server must serve every name of AWS's Region form (the default) and start empty in the
three Regions used here.
"""

import os
import re
import sys

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


def expect_error(name, code, message, kms, operation, **params):
    """`operation` must fail with `code`, HTTP 400 and exactly `message` (None: any)."""
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

    # A multi-Region primary key: an mrk- id, its MultiRegionConfiguration, blobs that decrypt
    # in its Region only (replicas are not offered yet).
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
    expect_error("ReplicateKey", "UnsupportedOperationException", None,
                 west, "replicate_key", KeyId=mrk["KeyId"], ReplicaRegion="us-east-1")

    expect_error("a name not of AWS's Region form", "InvalidSignatureException",
                 "Credential should be scoped to a valid region. This server serves every "
                 "Region name of AWS's form (such as us-east-1).",
                 client("moon-1"), "list_keys")
    print(f"regions_boto3.py: {checks} checks passed")


if __name__ == "__main__":
    main()
