"""Key material for import, made and wrapped by Python's `cryptography`, as AWS's guide says
a customer does it (the oracle of the import tests: nobody here wrote it).

  import.py material KIND OUT    write key material for KIND (AES_256, HMAC_224..HMAC_512:
                                 random bytes; RSA_2048.., ECC_NIST_P256.., ECC_SECG_P256K1:
                                 PKCS#8 DER) to OUT, and for a key pair its DER
                                 SubjectPublicKeyInfo to OUT.spki
  import.py wrap SPKI ALGORITHM MATERIAL
                                 print, in hex, MATERIAL wrapped under the RSA public key SPKI
                                 with AWS's wrapping ALGORITHM
  import.py gcm KEY IV AAD PLAINTEXT   print hex(ciphertext || tag), AES-GCM, 128-bit tag
  import.py hmac KEY DIGEST MESSAGE    print hex(HMAC), DIGEST one of SHA_224..SHA_512
(IV, AAD and PLAINTEXT/MESSAGE are given in hex.)
"""
import os
import sys

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

SECRET = {"AES_256": 32, "HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}
CURVES = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
DIGESTS = {
    "SHA_224": hashes.SHA224,
    "SHA_256": hashes.SHA256,
    "SHA_384": hashes.SHA384,
    "SHA_512": hashes.SHA512,
}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def oaep(h):
    return padding.OAEP(mgf=padding.MGF1(algorithm=h()), algorithm=h(), label=None)


def material(kind, out):
    if kind in SECRET:
        write(out, os.urandom(SECRET[kind]))
        return
    if kind.startswith("RSA_"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=int(kind[4:]))
    else:
        key = ec.generate_private_key(CURVES[kind]())
    write(out, key.private_bytes(serialization.Encoding.DER,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()))
    write(out + ".spki", key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def wrap(spki, algorithm, data):
    public = serialization.load_der_public_key(spki)
    h = hashes.SHA256 if algorithm.endswith("SHA_256") else hashes.SHA1
    if algorithm.startswith("RSAES_OAEP_"):
        return public.encrypt(data, oaep(h))
    if algorithm.startswith("RSA_AES_KEY_WRAP_"):
        aes = os.urandom(32)
        return public.encrypt(aes, oaep(h)) + aes_key_wrap_with_padding(aes, data)
    raise SystemExit("unknown wrapping algorithm " + algorithm)


def main(argv):
    if len(argv) == 4 and argv[1] == "material":
        material(argv[2], argv[3])
    elif len(argv) == 5 and argv[1] == "wrap":
        print(wrap(read(argv[2]), argv[3], read(argv[4])).hex())
    elif len(argv) == 6 and argv[1] == "gcm":
        key, iv, aad, pt = read(argv[2]), *(bytes.fromhex(a) for a in argv[3:6])
        print(AESGCM(key).encrypt(iv, pt, aad).hex())
    elif len(argv) == 5 and argv[1] == "hmac":
        mac = hmac.HMAC(read(argv[2]), DIGESTS[argv[3]]())
        mac.update(bytes.fromhex(argv[4]))
        print(mac.finalize().hex())
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
