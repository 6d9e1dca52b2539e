#!/usr/bin/env python3
"""boto3, unchanged, against a Lockbox server: bring your own key material. Every import
operation (CreateKey Origin=EXTERNAL, GetParametersForImport, ImportKeyMaterial,
DeleteImportedKeyMaterial, and RotateKeyOnDemand / ListKeyRotations of imported material),
with material made and wrapped by `cryptography` for all four wrapping algorithms, and the
imported keys checked against `cryptography`: a ciphertext blob sealed outside with the same
AES material (docs/formats/ciphertext-blob.md) decrypts; an imported RSA key's public key and
signatures are `cryptography`'s.

Usage: LOCKBOX_ENDPOINT_URL=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=... \\
       AWS_SECRET_ACCESS_KEY=... AWS_DEFAULT_REGION=... python3 tests/clients/e2e_import.py
"""

import datetime
import os
import sys
import uuid

import boto3
import botocore.config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

ENDPOINT = os.environ["LOCKBOX_ENDPOINT_URL"]
REGION = os.environ["AWS_DEFAULT_REGION"]
CONFIG = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})
ALGORITHMS = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"]

checks = 0


def expect(name, expected, actual):
    global checks
    if expected != actual:
        sys.exit(f"FAIL: {name}: expected {expected!r}, got {actual!r}")
    checks += 1
    print(f"ok: {name}")


def call(kms, operation, **params):
    response = getattr(kms, operation)(**params)
    expect(f"{operation}: HTTP status", 200, response["ResponseMetadata"]["HTTPStatusCode"])
    return response


def expect_error(name, code, kms, operation, **params):
    try:
        getattr(kms, operation)(**params)
    except ClientError as e:
        expect(f"{name}: error code", code, e.response["Error"]["Code"])
        expect(f"{name}: HTTP status", 400, e.response["ResponseMetadata"]["HTTPStatusCode"])
        return e.response["Error"]["Message"]
    sys.exit(f"FAIL: {name}: {operation} succeeded; expected {code}")


def wrap(public_der, algorithm, material):
    public = serialization.load_der_public_key(public_der)
    h = hashes.SHA256 if algorithm.endswith("SHA_256") else hashes.SHA1
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=h()), algorithm=h(), label=None)
    if algorithm.startswith("RSAES_OAEP"):
        return public.encrypt(material, oaep)
    aes = os.urandom(32)
    return public.encrypt(aes, oaep) + aes_key_wrap_with_padding(aes, material)


def params(kms, key_id, algorithm, spec="RSA_2048"):
    p = call(kms, "get_parameters_for_import", KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec)
    return p["ImportToken"], p["PublicKey"], p


def outside_blob(material, key_id, version, plaintext):
    """A ciphertext blob sealed by cryptography: header, IV, AES-256-GCM with the header and
    the empty context's canonical encoding (two zero bytes) as associated data."""
    header = bytes([1]) + uuid.UUID(key_id).bytes + version.to_bytes(4, "big") + bytes([1])
    iv = os.urandom(12)
    return header + iv + AESGCM(material).encrypt(iv, plaintext, header + b"\0\0")


def main():
    kms = boto3.client("kms", endpoint_url=ENDPOINT, region_name=REGION, config=CONFIG)

    for algorithm in ALGORITHMS:
        meta = call(kms, "create_key", Origin="EXTERNAL", Description=f"import {algorithm}")["KeyMetadata"]
        key_id, arn = meta["KeyId"], meta["Arn"]
        expect(f"{algorithm}: created waiting", ("EXTERNAL", "PendingImport", False),
               (meta["Origin"], meta["KeyState"], meta["Enabled"]))
        token, public, p = params(kms, key_id, algorithm)
        expect(f"{algorithm}: parameters for the key", arn, p["KeyId"])
        expect(f"{algorithm}: ParametersValidTo is a time", True, isinstance(p["ParametersValidTo"], datetime.datetime))
        material = os.urandom(32)
        done = call(kms, "import_key_material", KeyId=key_id, ImportToken=token,
                    EncryptedKeyMaterial=wrap(public, algorithm, material),
                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        expect(f"{algorithm}: import answers the key", arn, done["KeyId"])
        described = call(kms, "describe_key", KeyId=key_id)["KeyMetadata"]
        expect(f"{algorithm}: enabled with its material",
               ("Enabled", "KEY_MATERIAL_DOES_NOT_EXPIRE", done["KeyMaterialId"]),
               (described["KeyState"], described["ExpirationModel"], described["CurrentKeyMaterialId"]))
        blob = outside_blob(material, key_id, 1, b"sealed by cryptography")
        expect(f"{algorithm}: a blob sealed outside decrypts", b"sealed by cryptography",
               call(kms, "decrypt", CiphertextBlob=blob)["Plaintext"])
        c = call(kms, "encrypt", KeyId=key_id, Plaintext=b"round trip")["CiphertextBlob"]
        expect(f"{algorithm}: round trip", b"round trip", call(kms, "decrypt", CiphertextBlob=c)["Plaintext"])

    # Expiry, refusals, deletion and re-import on one key.
    meta = call(kms, "create_key", Origin="EXTERNAL")["KeyMetadata"]
    key_id, arn = meta["KeyId"], meta["Arn"]
    expect_error("encrypt before the import", "KMSInvalidStateException", kms, "encrypt", KeyId=key_id, Plaintext=b"x")
    token, public, _ = params(kms, key_id, "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096")
    material = os.urandom(32)
    wrapped = wrap(public, "RSA_AES_KEY_WRAP_SHA_256", material)
    altered = bytes([token[0] ^ 1]) + token[1:]
    msg = expect_error("altered import token", "InvalidImportTokenException", kms, "import_key_material",
                       KeyId=key_id, ImportToken=altered, EncryptedKeyMaterial=wrapped,
                       ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    expect("altered import token: message",
           f"The import token is invalid or is associated with a different KMS key than {arn}.", msg)
    expect_error("ValidTo missing", "ValidationException", kms, "import_key_material",
                 KeyId=key_id, ImportToken=token, EncryptedKeyMaterial=wrapped)
    valid_to = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(days=30)
    first = call(kms, "import_key_material", KeyId=key_id, ImportToken=token, EncryptedKeyMaterial=wrapped,
                 ValidTo=valid_to, ExpirationModel="KEY_MATERIAL_EXPIRES")["KeyMaterialId"]
    described = call(kms, "describe_key", KeyId=key_id)["KeyMetadata"]
    expect("ValidTo and ExpirationModel", (valid_to, "KEY_MATERIAL_EXPIRES"),
           (described["ValidTo"], described["ExpirationModel"]))
    kept = call(kms, "encrypt", KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]
    expect_error("other material", "IncorrectKeyMaterialException", kms, "import_key_material",
                 KeyId=key_id, ImportToken=token,
                 EncryptedKeyMaterial=wrap(public, "RSA_AES_KEY_WRAP_SHA_256", os.urandom(32)),
                 ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    deleted = call(kms, "delete_imported_key_material", KeyId=key_id)
    expect("delete_imported_key_material", (arn, first), (deleted["KeyId"], deleted["KeyMaterialId"]))
    expect("deleted: pending import", "PendingImport", call(kms, "describe_key", KeyId=key_id)["KeyMetadata"]["KeyState"])
    expect_error("decrypt after the deletion", "KMSInvalidStateException", kms, "decrypt", CiphertextBlob=kept)
    again = call(kms, "import_key_material", KeyId=key_id, ImportToken=token, EncryptedKeyMaterial=wrapped,
                 ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="EXISTING_KEY_MATERIAL",
                 KeyMaterialId=first)
    expect("re-import: same KeyMaterialId", first, again["KeyMaterialId"])
    expect("re-import: the old ciphertext decrypts", b"kept", call(kms, "decrypt", CiphertextBlob=kept)["Plaintext"])

    # New material, then on-demand rotation to it.
    second = os.urandom(32)
    token, public, _ = params(kms, key_id, "RSAES_OAEP_SHA_256")
    new = call(kms, "import_key_material", KeyId=key_id, ImportToken=token,
               EncryptedKeyMaterial=wrap(public, "RSAES_OAEP_SHA_256", second),
               ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="NEW_KEY_MATERIAL",
               KeyMaterialDescription="second")["KeyMaterialId"]
    listed = call(kms, "list_key_rotations", KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    expect("list_key_rotations: the new material waits",
           [(first, "CURRENT", "IMPORTED"), (new, "PENDING_ROTATION", "IMPORTED")],
           [(r["KeyMaterialId"], r["KeyMaterialState"], r["ImportState"]) for r in listed])
    expect("rotate_key_on_demand", arn, call(kms, "rotate_key_on_demand", KeyId=key_id)["KeyId"])
    expect("rotated: current material", new, call(kms, "describe_key", KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"])
    blob = outside_blob(second, key_id, 2, b"second")
    expect("rotated: the new material decrypts", b"second", call(kms, "decrypt", CiphertextBlob=blob)["Plaintext"])

    # An RSA signing key pair, its PKCS#8 wrapped with RSA_AES_KEY_WRAP_SHA_1.
    meta = call(kms, "create_key", Origin="EXTERNAL", KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs8 = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    token, public, _ = params(kms, meta["KeyId"], "RSA_AES_KEY_WRAP_SHA_1", "RSA_3072")
    call(kms, "import_key_material", KeyId=meta["KeyId"], ImportToken=token,
         EncryptedKeyMaterial=wrap(public, "RSA_AES_KEY_WRAP_SHA_1", pkcs8),
         ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    spki = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    expect("imported RSA key: GetPublicKey is cryptography's", spki,
           call(kms, "get_public_key", KeyId=meta["KeyId"])["PublicKey"])
    signature = call(kms, "sign", KeyId=meta["KeyId"], Message=b"imported", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["Signature"]
    private.public_key().verify(signature, b"imported", padding.PKCS1v15(), hashes.SHA256())
    expect("imported RSA key: the signature verifies outside", True, True)

    print(f"e2e_import: {checks} checks passed")


if __name__ == "__main__":
    main()
