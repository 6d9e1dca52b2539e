#!/usr/bin/env python3
"""The AWS Encryption SDK for Python, unchanged, as a command-line tool for Lockbox's tests.

    esdk.py encrypt --key-arn ARN [--key-arn ARN ...] --suite 0478|0578 --frame-length N
                    [--context K=V ...] --in FILE --out FILE
    esdk.py decrypt --key-arn ARN [--key-arn ARN ...] [--expect-context K=V ...]
                    [--expect-suite 0478|0578] --in FILE --out FILE

Both stream: the input is read and the output written a few frames at a time, so a large
file is never held whole. Both use the commitment policy REQUIRE_ENCRYPT_REQUIRE_DECRYPT and
a strict KMS master key provider over the given key ARNs (the first one generates the data
key; the others encrypt it too). On success they print one JSON line describing the message
header: suite id, frame length, encryption context, and the encrypted data keys' provider ids
and key ARNs. On failure they print `esdk.py: <ExceptionName>: <message>` on standard error,
remove the output file, and exit 1 (2 for a usage error).

The KMS endpoint comes from AWS_ENDPOINT_URL, which botocore honours for every client it
makes, including the ones the SDK makes itself: the tool refuses to run without it, so it
never reaches real AWS KMS. Credentials come from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY; nothing secret is taken from argv. tests/esdk_python.rs drives it.
"""

import argparse
import json
import os
import sys

import botocore.session
import aws_encryption_sdk
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy

SUITES = {
    "0478": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    "0578": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
}

# Plaintext bytes asked of the SDK per read, at most: the SDK builds each read's output by
# concatenating frames, so a read should span a bounded number of frames.
MAX_READ = 1 << 20
MAX_FRAMES_PER_READ = 64


class UsageError(Exception):
    """A bad argument or environment (exit status 2)."""


class ContextMismatch(Exception):
    """The message's encryption context lacks an expected pair."""


class SuiteMismatch(Exception):
    """The message was written with another algorithm suite than expected."""


def pairs(values):
    """`K=V` arguments as a dict; a key given twice is a usage error."""
    context = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise UsageError(f"not KEY=VALUE: {value!r}")
        if key in context:
            raise UsageError(f"key given twice: {key!r}")
        context[key] = val
    return context


def read_size(frame_length):
    """How many bytes to ask of the SDK at once: whole frames, a bounded number of them."""
    frames = max(1, min(MAX_FRAMES_PER_READ, MAX_READ // frame_length))
    return frames * frame_length


def provider(key_arns):
    session = botocore.session.Session()
    return aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=key_arns, botocore_session=session
    )


def describe(header):
    """The header facts a test asserts on, as JSON-ready values."""
    keys = sorted(
        (edk.key_provider.provider_id, edk.key_provider.key_info.decode("utf-8", "replace"))
        for edk in header.encrypted_data_keys
    )
    return {
        "suite": f"{header.algorithm.algorithm_id:04x}",
        "frame_length": header.frame_length,
        "encryption_context": dict(sorted(header.encryption_context.items())),
        "encrypted_data_keys": [{"provider_id": p, "key_info": k} for p, k in keys],
    }


def pump(stream, out, chunk):
    while True:
        data = stream.read(chunk)
        if not data:
            return
        out.write(data)


def encrypt(client, args, context):
    with open(args.input, "rb") as src, open(args.output, "wb") as out:
        with client.stream(
            mode="e",
            source=src,
            key_provider=provider(args.key_arn),
            encryption_context=context,
            algorithm=SUITES[args.suite],
            frame_length=args.frame_length,
        ) as encryptor:
            pump(encryptor, out, read_size(args.frame_length))
            return describe(encryptor.header)


def decrypt(client, args, expected):
    with open(args.input, "rb") as src, open(args.output, "wb") as out:
        with client.stream(mode="d", source=src, key_provider=provider(args.key_arn)) as decryptor:
            header = decryptor.header
            if args.expect_suite and header.algorithm != SUITES[args.expect_suite]:
                raise SuiteMismatch(
                    f"expected suite {args.expect_suite}, message has "
                    f"{header.algorithm.algorithm_id:04x}"
                )
            for key, value in expected.items():
                if header.encryption_context.get(key) != value:
                    raise ContextMismatch(f"the encryption context has no pair {key}={value}")
            # Frames are bounded by the header: a hostile frame length cannot make us ask for more.
            pump(decryptor, out, read_size(max(1, min(header.frame_length, MAX_READ))))
            return describe(header)


def parser():
    top = argparse.ArgumentParser(prog="esdk.py", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    for name in ("encrypt", "decrypt"):
        sub = commands.add_parser(name)
        sub.add_argument("--key-arn", action="append", required=True, metavar="ARN")
        sub.add_argument("--in", dest="input", required=True, metavar="FILE")
        sub.add_argument("--out", dest="output", required=True, metavar="FILE")
        if name == "encrypt":
            sub.add_argument("--suite", choices=sorted(SUITES), required=True)
            sub.add_argument("--frame-length", type=int, required=True, metavar="N")
            sub.add_argument("--context", action="append", default=[], metavar="K=V")
        else:
            sub.add_argument("--expect-context", action="append", default=[], metavar="K=V")
            sub.add_argument("--expect-suite", choices=sorted(SUITES))
    return top


def fail(e, status):
    print(f"esdk.py: {type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(status)


def main():
    args = parser().parse_args()
    # Usage checks first, before the output file is touched.
    try:
        if not os.environ.get("AWS_ENDPOINT_URL"):
            raise UsageError("AWS_ENDPOINT_URL is not set: refusing to reach real AWS KMS")
        if args.command == "encrypt":
            if args.frame_length < 1:
                raise UsageError("--frame-length must be positive")
            pairs_given = pairs(args.context)
        else:
            pairs_given = pairs(args.expect_context)
    except UsageError as e:
        fail(e, 2)
    try:
        client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        )
        run = encrypt if args.command == "encrypt" else decrypt
        summary = run(client, args, pairs_given)
    except Exception as e:  # every failure: its exception's name, no partial output, exit 1
        if os.path.exists(args.output):
            os.remove(args.output)
        fail(e, 1)
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
