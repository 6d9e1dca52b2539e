"""An outside oracle for Lockbox's asymmetric keys: Python's `cryptography` (pyca), which
nobody here wrote, loads what Lockbox exports and checks what it signs.

    asym.py spki SPKI_FILE
        Loads a DER SubjectPublicKeyInfo and prints what it is, one line:
        "RSA <bits> <modulus hex> <exponent>" or "EC <curve name> <x hex> <y hex>".
    asym.py verify SPKI_FILE ALGORITHM MESSAGE_TYPE MESSAGE_FILE SIGNATURE_FILE
        Verifies a signature with AWS KMS's signing algorithm names (RSASSA_PSS_SHA_256, ...,
        ECDSA_SHA_512) and message types (RAW, DIGEST). Prints "valid" or "invalid".
    asym.py encrypt SPKI_FILE ALGORITHM PLAINTEXT_FILE
        Encrypts with the RSA public key and AWS KMS's encryption algorithm name
        (RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256: MGF1 with the same hash, no label). Prints the
        ciphertext in hex.
    asym.py oaep-sha256-open EM_FILE
        With a throwaway 2048-bit key of its own: raises the encoded block EM (256 bytes) to
        the public exponent and decrypts the result with RSAES-OAEP-SHA-256. Prints the
        message in hex (checks an EME-OAEP encoding made elsewhere).
    asym.py oaep-sha256-encode MESSAGE_FILE
        With a throwaway 2048-bit key of its own: encrypts the message with RSAES-OAEP-SHA-256
        and undoes only the RSA step (c^d mod n). Prints the encoded block EM in hex (an
        EME-OAEP encoding for a decoder made elsewhere).

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


def oaep(h):
    return padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)


ENCRYPTION = {"RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256}


def read(path):
    with open(path, "rb") as f:
        return f.read()


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
    elif len(argv) == 5 and argv[1] == "encrypt":
        _, _, spki, algorithm, plaintext = argv
        print(load(spki).encrypt(read(plaintext), oaep(ENCRYPTION[algorithm]())).hex())
    elif len(argv) == 3 and argv[1] in ("oaep-sha256-open", "oaep-sha256-encode"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        n, e = key.public_key().public_numbers().n, key.public_key().public_numbers().e
        data = read(argv[2])
        if argv[1] == "oaep-sha256-open":
            c = pow(int.from_bytes(data, "big"), e, n).to_bytes(256, "big")
            print(key.decrypt(c, oaep(hashes.SHA256())).hex())
        else:
            c = key.public_key().encrypt(data, oaep(hashes.SHA256()))
            d = key.private_numbers().d
            print(pow(int.from_bytes(c, "big"), d, n).to_bytes(256, "big").hex())
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
