"""An outside oracle for Lockbox's asymmetric keys: Python's `cryptography` (pyca), which
nobody here wrote, loads what Lockbox exports and checks what it signs.

    asym.py spki SPKI_FILE
        Loads a DER SubjectPublicKeyInfo and prints what it is, one line:
        "RSA <bits> <modulus hex> <exponent>" or "EC <curve name> <x hex> <y hex>".
    asym.py verify SPKI_FILE ALGORITHM MESSAGE_TYPE MESSAGE_FILE SIGNATURE_FILE
        Verifies a signature with AWS KMS's signing algorithm names (RSASSA_PSS_SHA_256, ...,
        ECDSA_SHA_512) and message types (RAW, DIGEST). Prints "valid" or "invalid".

Exits non-zero (with a message on stderr) on anything else: a key that does not load is an
error, not "invalid".
"""
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def load(path):
    with open(path, "rb") as f:
        return serialization.load_der_public_key(f.read())


def describe(key):
    if isinstance(key, rsa.RSAPublicKey):
        n = key.public_numbers()
        return f"RSA {key.key_size} {n.n:x} {n.e}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        n = key.public_numbers()
        return f"EC {key.curve.name} {n.x:x} {n.y:x}"
    raise SystemExit(f"not an RSA or EC public key: {type(key).__name__}")


def verify(key, algorithm, message_type, message, signature):
    h = HASHES[algorithm.rsplit("_", 1)[1]]()
    if message_type == "RAW":
        data, alg = message, h
    elif message_type == "DIGEST":
        data, alg = message, utils.Prehashed(h)
    else:
        raise SystemExit(f"unknown message type {message_type}")
    try:
        if algorithm.startswith("RSASSA_PSS_"):
            key.verify(signature, data,
                       padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), alg)
        elif algorithm.startswith("RSASSA_PKCS1_V1_5_"):
            key.verify(signature, data, padding.PKCS1v15(), alg)
        elif algorithm.startswith("ECDSA_"):
            key.verify(signature, data, ec.ECDSA(alg))
        else:
            raise SystemExit(f"unknown signing algorithm {algorithm}")
    except InvalidSignature:
        return "invalid"
    return "valid"


def main(argv):
    if len(argv) == 3 and argv[1] == "spki":
        print(describe(load(argv[2])))
    elif len(argv) == 7 and argv[1] == "verify":
        _, _, spki, algorithm, message_type, message, signature = argv
        with open(message, "rb") as f:
            message = f.read()
        with open(signature, "rb") as f:
            signature = f.read()
        print(verify(load(spki), algorithm, message_type, message, signature))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
