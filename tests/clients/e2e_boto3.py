#!/usr/bin/env python3
"""boto3, unchanged, against a Lockbox server: the checks of e2e.sh through the SDK, and
encryption with an RSA key (with a ciphertext made by `cryptography` from GetPublicKey).

Usage: LOCKBOX_ENDPOINT_URL=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=... \\
       AWS_SECRET_ACCESS_KEY=... AWS_DEFAULT_REGION=... python3 tests/clients/e2e_boto3.py

Every call must carry a request id in its response metadata, errors included; error cases
assert the exact error code (ClientError.response["Error"]["Code"]) and HTTP status.
tests/aws_clients.rs runs it against a server on a throwaway token, after e2e.sh, so it
names its alias differently.
"""

import os
import re
import sys
import uuid

import boto3
import botocore.config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

ENDPOINT = sys.argv[1] if len(sys.argv) > 1 else os.environ["LOCKBOX_ENDPOINT_URL"]
REGION = os.environ["AWS_DEFAULT_REGION"]
# No retries: a retried call would hide a server error behind a later success.
CONFIG = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})

checks = 0


def client(**credentials):
    return boto3.client(
        "kms", endpoint_url=ENDPOINT, region_name=REGION, config=CONFIG, **credentials
    )


def expect(name, expected, actual):
    global checks
    if expected != actual:
        sys.exit(f"FAIL: {name}: expected {expected!r}, got {actual!r}")
    checks += 1
    print(f"ok: {name}")


def has_request_id(response):
    request_id = response["ResponseMetadata"].get("RequestId", "")
    return re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", request_id)


def call(kms, operation, **params):
    """Calls `operation`; checks the response's HTTP status and request id."""
    response = getattr(kms, operation)(**params)
    expect(f"{operation}: HTTP status", 200, response["ResponseMetadata"]["HTTPStatusCode"])
    if not has_request_id(response):
        sys.exit(f"FAIL: {operation}: no request id in {response['ResponseMetadata']!r}")
    return response


def expect_error(name, code, message_prefix, kms, operation, **params):
    """Calls `operation`, which must fail with `code` (HTTP 400) and a request id."""
    try:
        getattr(kms, operation)(**params)
    except ClientError as e:
        expect(f"{name}: error code", code, e.response["Error"]["Code"])
        expect(f"{name}: HTTP status", 400, e.response["ResponseMetadata"]["HTTPStatusCode"])
        message = e.response["Error"]["Message"]
        expect(f"{name}: message", message_prefix, message[: len(message_prefix)])
        if not has_request_id(e.response):
            sys.exit(f"FAIL: {name}: no request id in {e.response['ResponseMetadata']!r}")
        return
    sys.exit(f"FAIL: {name}: {operation} succeeded; expected {code}")


def main():
    kms = client()

    # create-key with a description and tags; describe-key; tags
    meta = call(
        kms,
        "create_key",
        Description="e2e-boto3",
        Tags=[{"TagKey": "team", "TagValue": "payments"}, {"TagKey": "env", "TagValue": "test"}],
    )["KeyMetadata"]
    key_id, key_arn = meta["KeyId"], meta["Arn"]
    expect("create_key: KeyId is a UUID", str(uuid.UUID(key_id)), key_id)
    account = key_arn.split(":")[4]
    expect("create_key: Arn", f"arn:aws:kms:{REGION}:{account}:key/{key_id}", key_arn)
    expect(
        "create_key: metadata",
        ("e2e-boto3", "Enabled", True, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "CUSTOMER"),
        tuple(
            meta[f]
            for f in ("Description", "KeyState", "Enabled", "KeySpec", "KeyUsage", "KeyManager")
        ),
    )
    described = call(kms, "describe_key", KeyId=key_id)["KeyMetadata"]
    expect(
        "describe_key",
        (key_id, key_arn, "e2e-boto3"),
        (described["KeyId"], described["Arn"], described["Description"]),
    )
    tags = call(kms, "list_resource_tags", KeyId=key_id)["Tags"]
    expect(
        "list_resource_tags",
        [("env", "test"), ("team", "payments")],
        sorted((t["TagKey"], t["TagValue"]) for t in tags),
    )

    # create-alias, list-aliases
    call(kms, "create_alias", AliasName="alias/e2e-boto3", TargetKeyId=key_id)
    aliases = call(kms, "list_aliases", KeyId=key_id)["Aliases"]
    expect(
        "list_aliases",
        [("alias/e2e-boto3", f"arn:aws:kms:{REGION}:{account}:alias/e2e-boto3", key_id)],
        [(a["AliasName"], a["AliasArn"], a["TargetKeyId"]) for a in aliases],
    )

    # encrypt with an encryption context, decrypt
    plaintext = b"db password \x00\xff binary"
    context = {"purpose": "e2e", "team": "payments"}
    enc = call(
        kms, "encrypt", KeyId="alias/e2e-boto3", Plaintext=plaintext, EncryptionContext=context
    )
    expect("encrypt: KeyId", key_arn, enc["KeyId"])
    expect("encrypt: EncryptionAlgorithm", "SYMMETRIC_DEFAULT", enc["EncryptionAlgorithm"])
    ciphertext = enc["CiphertextBlob"]
    dec = call(kms, "decrypt", CiphertextBlob=ciphertext, EncryptionContext=context)
    expect("decrypt: plaintext", plaintext, dec["Plaintext"])
    expect("decrypt: KeyId", key_arn, dec["KeyId"])
    expect_error(
        "decrypt with the wrong context",
        "InvalidCiphertextException",
        "",
        kms,
        "decrypt",
        CiphertextBlob=ciphertext,
        EncryptionContext={"purpose": "other"},
    )

    # generate-data-key: the plaintext decrypts back from the blob
    dk = call(
        kms,
        "generate_data_key",
        KeyId=key_id,
        KeySpec="AES_256",
        EncryptionContext={"purpose": "dek"},
    )
    expect("generate_data_key: KeyId", key_arn, dk["KeyId"])
    expect("generate_data_key: plaintext length", 32, len(dk["Plaintext"]))
    back = call(
        kms, "decrypt", CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"purpose": "dek"}
    )
    expect("generate_data_key: blob decrypts to the plaintext", dk["Plaintext"], back["Plaintext"])

    # generate-data-key-without-plaintext
    np = call(kms, "generate_data_key_without_plaintext", KeyId="alias/e2e-boto3", NumberOfBytes=16)
    expect("generate_data_key_without_plaintext: no Plaintext", False, "Plaintext" in np)
    expect("generate_data_key_without_plaintext: KeyId", key_arn, np["KeyId"])
    back = call(kms, "decrypt", CiphertextBlob=np["CiphertextBlob"])
    expect("generate_data_key_without_plaintext: key length", 16, len(back["Plaintext"]))

    # re-encrypt under a second key and a new context
    key2 = call(kms, "create_key", Description="e2e-boto3-2")["KeyMetadata"]
    re_enc = call(
        kms,
        "re_encrypt",
        CiphertextBlob=ciphertext,
        SourceEncryptionContext=context,
        DestinationKeyId=key2["KeyId"],
        DestinationEncryptionContext={"purpose": "moved"},
    )
    expect("re_encrypt: SourceKeyId", key_arn, re_enc["SourceKeyId"])
    expect("re_encrypt: KeyId", key2["Arn"], re_enc["KeyId"])
    moved = call(
        kms,
        "decrypt",
        CiphertextBlob=re_enc["CiphertextBlob"],
        EncryptionContext={"purpose": "moved"},
    )
    expect(
        "re_encrypt: decrypts under the new key",
        (plaintext, key2["Arn"]),
        (moved["Plaintext"], moved["KeyId"]),
    )

    # generate-random
    r1 = call(kms, "generate_random", NumberOfBytes=48)["Plaintext"]
    r2 = call(kms, "generate_random", NumberOfBytes=48)["Plaintext"]
    expect("generate_random: length", 48, len(r1))
    expect("generate_random: two calls differ", True, r1 != r2)

    # key rotation
    expect(
        "get_key_rotation_status before",
        False,
        call(kms, "get_key_rotation_status", KeyId=key_id)["KeyRotationEnabled"],
    )
    call(kms, "enable_key_rotation", KeyId=key_id)
    expect(
        "get_key_rotation_status after",
        True,
        call(kms, "get_key_rotation_status", KeyId=key_id)["KeyRotationEnabled"],
    )

    # key policy: what is put is what is got
    policy = (
        '{"Version":"2012-10-17","Id":"e2e-boto3","Statement":[{"Sid":"Root","Effect":"Allow",'
        f'"Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}]}}'
    )
    call(kms, "put_key_policy", KeyId=key_id, PolicyName="default", Policy=policy)
    expect(
        "get_key_policy",
        policy,
        call(kms, "get_key_policy", KeyId=key_id, PolicyName="default")["Policy"],
    )

    # grants
    grantee = f"arn:aws:iam::{account}:role/e2e-app"
    grant = call(
        kms,
        "create_grant",
        KeyId=key_id,
        GranteePrincipal=grantee,
        Operations=["Encrypt", "Decrypt"],
        Name="e2e-grant",
    )
    expect("create_grant: GrantToken present", True, bool(grant["GrantToken"]))
    grants = call(kms, "list_grants", KeyId=key_id)["Grants"]
    expect(
        "list_grants",
        [(grant["GrantId"], key_arn, grantee, "e2e-grant", ["Decrypt", "Encrypt"])],
        [
            (g["GrantId"], g["KeyId"], g["GranteePrincipal"], g["Name"], sorted(g["Operations"]))
            for g in grants
        ],
    )
    call(kms, "revoke_grant", KeyId=key_id, GrantId=grant["GrantId"])
    expect("list_grants after revoke_grant", [], call(kms, "list_grants", KeyId=key_id)["Grants"])

    # disable-key: encrypt fails with DisabledException; enable-key: it works again
    call(kms, "disable_key", KeyId=key_id)
    expect(
        "describe_key: disabled",
        "Disabled",
        call(kms, "describe_key", KeyId=key_id)["KeyMetadata"]["KeyState"],
    )
    expect_error(
        "encrypt under a disabled key",
        "DisabledException",
        f"{key_arn} is disabled.",
        kms,
        "encrypt",
        KeyId=key_id,
        Plaintext=plaintext,
    )
    call(kms, "enable_key", KeyId=key_id)
    expect(
        "encrypt after enable_key",
        key_arn,
        call(kms, "encrypt", KeyId=key_id, Plaintext=plaintext)["KeyId"],
    )

    # schedule-key-deletion and cancel-key-deletion (the key comes back disabled)
    sched = call(kms, "schedule_key_deletion", KeyId=key2["KeyId"], PendingWindowInDays=7)
    expect(
        "schedule_key_deletion",
        (key2["Arn"], "PendingDeletion", 7),
        (sched["KeyId"], sched["KeyState"], sched["PendingWindowInDays"]),
    )
    expect_error(
        "decrypt under a key pending deletion",
        "KMSInvalidStateException",
        "",
        kms,
        "decrypt",
        CiphertextBlob=re_enc["CiphertextBlob"],
        EncryptionContext={"purpose": "moved"},
    )
    expect(
        "cancel_key_deletion",
        key2["Arn"],
        call(kms, "cancel_key_deletion", KeyId=key2["KeyId"])["KeyId"],
    )
    expect(
        "describe_key: after cancel",
        "Disabled",
        call(kms, "describe_key", KeyId=key2["KeyId"])["KeyMetadata"]["KeyState"],
    )

    # RSA encryption: Encrypt and Decrypt name the algorithm, Decrypt names the key; a
    # ciphertext made by `cryptography` with the GetPublicKey SPKI decrypts through the server.
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    rsa_key = call(kms, "create_key", KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    expect(
        "create_key RSA_2048: EncryptionAlgorithms",
        ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"],
        rsa_key["EncryptionAlgorithms"],
    )
    enc = call(
        kms, "encrypt", KeyId=rsa_key["KeyId"], Plaintext=b"rsa secret",
        EncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )
    expect("encrypt RSA: EncryptionAlgorithm", "RSAES_OAEP_SHA_256", enc["EncryptionAlgorithm"])
    expect("encrypt RSA: ciphertext length", 256, len(enc["CiphertextBlob"]))
    dec = call(
        kms, "decrypt", CiphertextBlob=enc["CiphertextBlob"], KeyId=rsa_key["KeyId"],
        EncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )
    expect("decrypt RSA: plaintext", b"rsa secret", dec["Plaintext"])
    expect("decrypt RSA: EncryptionAlgorithm", "RSAES_OAEP_SHA_256", dec["EncryptionAlgorithm"])
    public = serialization.load_der_public_key(
        call(kms, "get_public_key", KeyId=rsa_key["KeyId"])["PublicKey"]
    )
    sha1 = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    outside = public.encrypt(b"made by cryptography", sha1)
    dec = call(
        kms, "decrypt", CiphertextBlob=outside, KeyId=rsa_key["Arn"],
        EncryptionAlgorithm="RSAES_OAEP_SHA_1",
    )
    expect("decrypt RSA: a cryptography ciphertext", b"made by cryptography", dec["Plaintext"])
    expect_error(
        "encrypt RSA without an algorithm",
        "InvalidKeyUsageException",
        "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.",
        kms,
        "encrypt",
        KeyId=rsa_key["KeyId"],
        Plaintext=b"x",
    )
    expect_error(
        "decrypt RSA without KeyId",
        "InvalidCiphertextException",
        "",
        kms,
        "decrypt",
        CiphertextBlob=outside,
        EncryptionAlgorithm="RSAES_OAEP_SHA_1",
    )
    expect_error(
        "encrypt RSA over the limit",
        "ValidationException",
        "Algorithm RSAES_OAEP_SHA_256 and key spec RSA_2048 cannot encrypt data larger than 190 bytes.",
        kms,
        "encrypt",
        KeyId=rsa_key["KeyId"],
        Plaintext=b"x" * 191,
        EncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )

    # errors: an unknown key; a wrong secret; an unknown access key
    unknown = "00000000-0000-4000-8000-000000000000"
    expect_error(
        "describe_key of an unknown key",
        "NotFoundException",
        f"Key 'arn:aws:kms:{REGION}:{account}:key/{unknown}' does not exist",
        kms,
        "describe_key",
        KeyId=unknown,
    )
    wrong_secret = client(
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key="Wrong" * 8,
    )
    expect_error(
        "a wrong secret",
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided.",
        wrong_secret,
        "list_keys",
    )
    unknown_id = client(
        aws_access_key_id="LBKUNKNOWNUNKNOWNUNK",
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    )
    expect_error(
        "an unknown access key",
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        unknown_id,
        "list_keys",
    )

    asymmetric(kms, key_id, key_arn)

    print(f"e2e_boto3.py: {checks} checks passed")


DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
HASHES = {"SHA_256": hashes.SHA256(), "SHA_384": hashes.SHA384(), "SHA_512": hashes.SHA512()}


def create(kms, spec, usage):
    """CreateKey of `spec` and `usage`; checks the metadata names them. Returns it."""
    meta = call(kms, "create_key", KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    expect(f"create_key {spec} {usage}", (spec, usage), (meta["KeySpec"], meta["KeyUsage"]))
    return meta


def public_key(kms, meta, usage, algorithms_member):
    """GetPublicKey, loaded by `cryptography`; checks its spec, usage and algorithm list."""
    out = call(kms, "get_public_key", KeyId=meta["KeyId"])
    expect(
        f"get_public_key {meta['KeySpec']}",
        (meta["Arn"], meta["KeySpec"], usage, meta[algorithms_member]),
        (out["KeyId"], out["KeySpec"], out["KeyUsage"], out[algorithms_member]),
    )
    return serialization.load_der_public_key(out["PublicKey"])


def check_signature(public, algorithm, signature, message):
    """Verifies with `cryptography`, which raises InvalidSignature if it does not hold."""
    family, _, rest = algorithm.partition("_SHA_")
    digest = HASHES["SHA_" + rest]
    if family == "ECDSA":
        public.verify(signature, message, ec.ECDSA(digest))
    elif family == "RSASSA_PSS":
        # AWS KMS's PSS salt is as long as the digest.
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        public.verify(signature, message, pss, digest)
    else:
        public.verify(signature, message, padding.PKCS1v15(), digest)


def asymmetric(kms, symmetric_key_id, symmetric_key_arn):
    """Every operation of asymmetric, HMAC and key-agreement keys, checked by `cryptography`."""
    message = b"pay 100 to alice \x00\xff"

    # Sign (RAW and DIGEST) and Verify; each signature verified by cryptography
    for spec, algorithm in [
        ("ECC_NIST_P256", "ECDSA_SHA_256"),
        ("ECC_NIST_P384", "ECDSA_SHA_384"),
        ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
        ("RSA_2048", "RSASSA_PSS_SHA_256"),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_384"),
    ]:
        meta = create(kms, spec, "SIGN_VERIFY")
        expect(f"{spec}: no EncryptionAlgorithms", False, "EncryptionAlgorithms" in meta)
        public = public_key(kms, meta, "SIGN_VERIFY", "SigningAlgorithms")
        name = f"{spec} {algorithm}"
        signed = call(
            kms, "sign", KeyId=meta["KeyId"], Message=message, SigningAlgorithm=algorithm
        )
        expect(
            f"sign {name}", (meta["Arn"], algorithm), (signed["KeyId"], signed["SigningAlgorithm"])
        )
        check_signature(public, algorithm, signed["Signature"], message)
        expect(f"sign {name}: cryptography verifies", True, True)
        digest = hashes.Hash(HASHES["SHA_" + algorithm.partition("_SHA_")[2]])
        digest.update(message)
        signed_digest = call(
            kms,
            "sign",
            KeyId=meta["KeyId"],
            Message=digest.finalize(),
            MessageType="DIGEST",
            SigningAlgorithm=algorithm,
        )
        check_signature(public, algorithm, signed_digest["Signature"], message)
        expect(f"sign {name} DIGEST: cryptography verifies", True, True)
        verified = call(
            kms,
            "verify",
            KeyId=meta["KeyId"],
            Message=message,
            Signature=signed_digest["Signature"],
            SigningAlgorithm=algorithm,
        )
        expect(
            f"verify {name}",
            (meta["Arn"], True, algorithm),
            (verified["KeyId"], verified["SignatureValid"], verified["SigningAlgorithm"]),
        )
        expect_error(
            f"verify {name}: another message",
            "KMSInvalidSignatureException",
            "",
            kms,
            "verify",
            KeyId=meta["KeyId"],
            Message=b"pay 900 to mallory",
            Signature=signed["Signature"],
            SigningAlgorithm=algorithm,
        )

    # RSA Encrypt with cryptography (the public key from GetPublicKey), Decrypt by the server
    meta = create(kms, "RSA_2048", "ENCRYPT_DECRYPT")
    public = public_key(kms, meta, "ENCRYPT_DECRYPT", "EncryptionAlgorithms")
    for algorithm, digest in [
        ("RSAES_OAEP_SHA_256", hashes.SHA256()),
        ("RSAES_OAEP_SHA_1", hashes.SHA1()),
    ]:
        oaep = padding.OAEP(mgf=padding.MGF1(digest), algorithm=digest, label=None)
        ciphertext = public.encrypt(message, oaep)
        opened = call(
            kms,
            "decrypt",
            CiphertextBlob=ciphertext,
            KeyId=meta["KeyId"],
            EncryptionAlgorithm=algorithm,
        )
        expect(
            f"decrypt {algorithm} of cryptography's ciphertext",
            (message, meta["Arn"], algorithm),
            (opened["Plaintext"], opened["KeyId"], opened["EncryptionAlgorithm"]),
        )

    # GenerateMac and VerifyMac
    meta = create(kms, "HMAC_256", "GENERATE_VERIFY_MAC")
    expect("create_key HMAC_256: MacAlgorithms", ["HMAC_SHA_256"], meta["MacAlgorithms"])
    made = call(
        kms, "generate_mac", KeyId=meta["KeyId"], Message=message, MacAlgorithm="HMAC_SHA_256"
    )
    expect(
        "generate_mac",
        (meta["Arn"], "HMAC_SHA_256", 32),
        (made["KeyId"], made["MacAlgorithm"], len(made["Mac"])),
    )
    checked = call(
        kms,
        "verify_mac",
        KeyId=meta["KeyId"],
        Message=message,
        MacAlgorithm="HMAC_SHA_256",
        Mac=made["Mac"],
    )
    expect("verify_mac", (meta["Arn"], True), (checked["KeyId"], checked["MacValid"]))
    expect_error(
        "verify_mac: another message",
        "KMSInvalidMacException",
        "",
        kms,
        "verify_mac",
        KeyId=meta["KeyId"],
        Message=b"another message",
        MacAlgorithm="HMAC_SHA_256",
        Mac=made["Mac"],
    )
    hmac_arn = meta["Arn"]

    # GenerateDataKeyPair(WithoutPlaintext): the PKCS#8 loads and matches the public key;
    # Decrypt opens the blob with the same context. One call per pair spec and operation:
    # the server has AWS's quotas (RSA_2048 pairs: one a second), and botocore does not retry.
    context = {"purpose": "pair"}
    for spec, bare_spec in [("ECC_NIST_P256", "ECC_NIST_P384"), ("RSA_2048", "ECC_SECG_P256K1")]:
        pair = call(
            kms,
            "generate_data_key_pair",
            KeyId=symmetric_key_id,
            KeyPairSpec=spec,
            EncryptionContext=context,
        )
        expect(
            f"generate_data_key_pair {spec}",
            (symmetric_key_arn, spec),
            (pair["KeyId"], pair["KeyPairSpec"]),
        )
        private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], password=None)
        expect(
            f"generate_data_key_pair {spec}: the PKCS#8 holds the public key",
            pair["PublicKey"],
            private.public_key().public_bytes(DER, SPKI),
        )
        opened = call(
            kms,
            "decrypt",
            CiphertextBlob=pair["PrivateKeyCiphertextBlob"],
            EncryptionContext=context,
        )
        expect(
            f"generate_data_key_pair {spec}: Decrypt opens the blob",
            pair["PrivateKeyPlaintext"],
            opened["Plaintext"],
        )
        bare = call(
            kms,
            "generate_data_key_pair_without_plaintext",
            KeyId=symmetric_key_id,
            KeyPairSpec=bare_spec,
            EncryptionContext=context,
        )
        expect(
            f"generate_data_key_pair_without_plaintext {bare_spec}: KeyPairSpec",
            (symmetric_key_arn, bare_spec),
            (bare["KeyId"], bare["KeyPairSpec"]),
        )
        expect(
            f"generate_data_key_pair_without_plaintext {bare_spec}: no plaintext",
            False,
            "PrivateKeyPlaintext" in bare,
        )
        opened = call(
            kms,
            "decrypt",
            CiphertextBlob=bare["PrivateKeyCiphertextBlob"],
            EncryptionContext=context,
        )
        private = serialization.load_der_private_key(opened["Plaintext"], password=None)
        expect(
            f"generate_data_key_pair_without_plaintext {bare_spec}: the blob holds the key",
            bare["PublicKey"],
            private.public_key().public_bytes(DER, SPKI),
        )

    # DeriveSharedSecret: the secret cryptography computes on the peer's side
    for spec, curve in [("ECC_NIST_P256", ec.SECP256R1()), ("ECC_NIST_P384", ec.SECP384R1())]:
        meta = create(kms, spec, "KEY_AGREEMENT")
        ours = public_key(kms, meta, "KEY_AGREEMENT", "KeyAgreementAlgorithms")
        peer = ec.generate_private_key(curve)
        derived = call(
            kms,
            "derive_shared_secret",
            KeyId=meta["KeyId"],
            KeyAgreementAlgorithm="ECDH",
            PublicKey=peer.public_key().public_bytes(DER, SPKI),
        )
        expect(
            f"derive_shared_secret {spec}",
            (meta["Arn"], "ECDH", "AWS_KMS", peer.exchange(ec.ECDH(), ours)),
            tuple(
                derived[m] for m in ("KeyId", "KeyAgreementAlgorithm", "KeyOrigin", "SharedSecret")
            ),
        )

    # A key used for what its usage does not allow: InvalidKeyUsageException
    expect_error(
        "sign with a symmetric key",
        "InvalidKeyUsageException",
        f"{symmetric_key_arn} key usage is ENCRYPT_DECRYPT which is not valid for this operation.",
        kms,
        "sign",
        KeyId=symmetric_key_id,
        Message=message,
        SigningAlgorithm="ECDSA_SHA_256",
    )
    expect_error(
        "sign with an HMAC key",
        "InvalidKeyUsageException",
        f"{hmac_arn} key usage is GENERATE_VERIFY_MAC which is not valid for this operation.",
        kms,
        "sign",
        KeyId=hmac_arn,
        Message=message,
        SigningAlgorithm="ECDSA_SHA_256",
    )


if __name__ == "__main__":
    main()
