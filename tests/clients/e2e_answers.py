#!/usr/bin/env python3
"""boto3, unchanged, against a Lockbox server: STS GetCallerIdentity on the same endpoint,
and DryRun (issue 15).

Usage: LOCKBOX_ENDPOINT_URL=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=... \\
       AWS_SECRET_ACCESS_KEY=... AWS_DEFAULT_REGION=... python3 tests/clients/e2e_answers.py

STS: boto3's `sts` client (query protocol, XML) learns the account and ARN of the signing
credential, and an unknown access key is STS's InvalidClientTokenId (403). DryRun: a call
that would succeed is DryRunOperationException; one the key policy denies is
AccessDeniedException; one on a disabled key is DisabledException; the grant a dry
CreateGrant asked for is not made.
"""

import json
import os
import sys

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINT = sys.argv[1] if len(sys.argv) > 1 else os.environ["LOCKBOX_ENDPOINT_URL"]
REGION = os.environ["AWS_DEFAULT_REGION"]
CONFIG = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})
DRY_RUN_MESSAGE = "The request would have succeeded, but the DryRun option is set."

checks = 0


def expect(name, expected, actual):
    global checks
    if expected != actual:
        sys.exit(f"FAIL: {name}: expected {expected!r}, got {actual!r}")
    checks += 1
    print(f"ok: {name}")


def error_of(name, call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"].get("Message", ""), \
            e.response["ResponseMetadata"]["HTTPStatusCode"]
    sys.exit(f"FAIL: {name}: expected an error, the call succeeded")


sts = boto3.client("sts", endpoint_url=ENDPOINT, region_name=REGION, config=CONFIG)
kms = boto3.client("kms", endpoint_url=ENDPOINT, region_name=REGION, config=CONFIG)

# --- STS GetCallerIdentity
me = sts.get_caller_identity()
key = kms.create_key(Description="e2e-answers")["KeyMetadata"]
account = key["AWSAccountId"]
expect("sts: Account is the key's account", account, me["Account"])
expect("sts: Arn is the account's root", f"arn:aws:iam::{account}:root", me["Arn"])
expect("sts: the root's UserId is its account", account, me["UserId"])
expect("sts: request id", 36, len(me["ResponseMetadata"]["RequestId"]))
other = boto3.client("sts", endpoint_url=ENDPOINT, region_name=REGION, config=CONFIG,
                     aws_access_key_id="LBKUNKNOWNUNKNOWNUNK",
                     aws_secret_access_key="WrongWrongWrongWrongWrongWrongWrongWrong")
expect("sts: an unknown access key",
       ("InvalidClientTokenId", "The security token included in the request is invalid.", 403),
       error_of("sts unknown key", other.get_caller_identity))

# --- DryRun: allowed, then nothing done
key_id = key["KeyId"]
for name, call in [
    ("encrypt", lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x", DryRun=True)),
    ("generate-data-key", lambda: kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", DryRun=True)),
    ("create-grant", lambda: kms.create_grant(
        KeyId=key_id, GranteePrincipal=f"arn:aws:iam::{account}:role/worker",
        Operations=["Decrypt"], DryRun=True)),
]:
    expect(f"dry run {name}", ("DryRunOperationException", DRY_RUN_MESSAGE, 400),
           error_of(name, call))
expect("a dry CreateGrant made no grant", [], kms.list_grants(KeyId=key_id)["Grants"])
blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
expect("dry run decrypt", "DryRunOperationException",
       error_of("decrypt", lambda: kms.decrypt(CiphertextBlob=blob, DryRun=True))[0])

# --- DryRun: denied by the key policy
policy = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
     "Action": "kms:*", "Resource": "*"},
    {"Sid": "NoEncrypt", "Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt",
     "Resource": "*"}]})
denied = kms.create_key(Policy=policy)["KeyMetadata"]["KeyId"]
expect("dry run denied", "AccessDeniedException",
       error_of("denied", lambda: kms.encrypt(KeyId=denied, Plaintext=b"x", DryRun=True))[0])

# --- DryRun: a disabled key
kms.disable_key(KeyId=key_id)
expect("dry run on a disabled key", "DisabledException",
       error_of("disabled", lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x", DryRun=True))[0])

print(f"e2e_answers.py: {checks} checks passed")
