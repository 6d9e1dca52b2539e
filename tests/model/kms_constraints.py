#!/usr/bin/env python3
"""Every input constraint of botocore's KMS model, as test cases for Lockbox's wire decoder.

Usage: python3 tests/model/kms_constraints.py [service-2.json.gz] > cases.jsonl

For each operation of the model: a baseline request body (every required member with a
valid value), then one case per constraint of each top-level member (and of Tags' members):
required (the member left out), length and value bounds (one past each), enum (a value
outside the set) and pattern (a value that does not match). Each case is one JSON line:

  {"operation": "Encrypt", "case": "keyId: required", "body": {...},
   "expect": {"path": "keyId", "rule": "Member must not be null", "value": null}}

the baseline with "expect": null (the decoder must accept it). `rule` is AWS's wording of
the constraint ("Member must have length less than or equal to 4096", "Member must satisfy
enum value set: [A, B]", ...), `path` the member path as AWS names it (`tags.1.member.tagKey`).
tests/model_constraints.rs runs Lockbox's decoder over the cases and measures where it
answers as AWS does.
"""

import base64
import gzip
import json
import re
import sys

MODEL = sys.argv[1] if len(sys.argv) > 1 else None

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
PRINCIPAL = "arn:aws:iam::111122223333:root"
MAX_CASE = 70_000  # lengths beyond this are not generated (the decoder's body cap)

# Members optional in the model that the service requires (its API reference says so, and
# it refuses their absence): the baseline sends them.
SERVICE_REQUIRED = {
    "Decrypt": ["CiphertextBlob"],
    "ReEncrypt": ["CiphertextBlob"],
    "GenerateDataKey": ["KeySpec"],
    "GenerateDataKeyWithoutPlaintext": ["KeySpec"],
    "GenerateRandom": ["NumberOfBytes"],
    "RetireGrant": ["GrantToken"],
}
# Members that exclude another: a case of the first drops the second from the baseline.
EXCLUDES = {"NumberOfBytes": "KeySpec"}


def load():
    if MODEL:
        return json.load(gzip.open(MODEL))
    import botocore.loaders
    return botocore.loaders.Loader().load_service_model("kms", "service-2")


def lower_first(name):
    return name[:1].lower() + name[1:]


def string_value(name, shape):
    """A valid value for string member `name` of `shape`."""
    if "enum" in shape:
        return shape["enum"][0]
    lo = shape.get("min", 1)
    candidates = []
    if name.endswith("KeyId") or name == "KeyId":
        candidates.append(KEY_ID)
    if "Alias" in name:
        candidates.append("alias/example")
    if "Principal" in name:
        candidates.append(PRINCIPAL)
    if name == "Policy":
        candidates.append('{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                          '"Principal":{"AWS":"%s"},"Action":"kms:*","Resource":"*"}]}' % PRINCIPAL)
    if name == "GrantId":
        candidates.append("ab" * 32)
    if "Region" in name:
        candidates.append("us-west-2")
    candidates += ["default", "x" * max(lo, 1), "a1"]
    pattern = shape.get("pattern")
    for c in candidates:
        if len(c) >= lo and len(c) <= shape.get("max", 1 << 30) and \
                (pattern is None or re.search(pattern, c)):
            return c
    return "x" * max(lo, 1)


def value(shapes, name, ref):
    shape = shapes[ref]
    t = shape["type"]
    if t == "string":
        return string_value(name, shape)
    if t == "blob":
        return base64.b64encode(b"\x01" * max(shape.get("min", 1), 4 if "Ciphertext" in name else 1)).decode()
    if t in ("integer", "long"):
        return max(shape.get("min", 1), 1) if name != "RotationPeriodInDays" else 365
    if t == "boolean":
        return False
    if t == "timestamp":
        return 1_900_000_000
    if t == "list":
        return [value(shapes, name, shape["member"]["shape"])] * max(shape.get("min", 1), 1)
    if t == "map":
        return {"k": "v"}
    if t == "structure":
        return {m: value(shapes, m, shapes_ref(shape, m)) for m in shape.get("required", [])}
    raise ValueError(t)


def shapes_ref(structure, member):
    return structure["members"][member]["shape"]


def baseline(shapes, op_name, input_shape):
    wanted = input_shape.get("required", []) + SERVICE_REQUIRED.get(op_name, [])
    return {m: value(shapes, m, shapes_ref(input_shape, m)) for m in wanted}


def show(v):
    return v if isinstance(v, str) else json.dumps(v)


def member_cases(shapes, name, ref, required, path, put):
    """Cases for one member: `put(v)` makes the body with the member set to v (None: left out)."""
    shape = shapes[ref]
    t = shape["type"]
    out = []
    if required:
        out.append((f"{path}: required", put(None), path, "Member must not be null", None))
    lo, hi = shape.get("min"), shape.get("max")
    if t == "string" and "enum" not in shape:
        good = string_value(name, shape)
        if lo and lo > 0:
            v = good[: lo - 1] if len(good) >= lo else ""
            out.append((f"{path}: min length {lo}", put(v), path,
                        f"Member must have length greater than or equal to {lo}", v))
        if hi and hi + 1 <= MAX_CASE:
            v = (good * (hi // max(len(good), 1) + 2))[: hi + 1]
            out.append((f"{path}: max length {hi}", put(v), path,
                        f"Member must have length less than or equal to {hi}", v))
        pattern = shape.get("pattern")
        if pattern:
            for bad in ["\u0001bad value\u0001", "bad value!*", " "]:
                if not re.search(pattern, bad) and (lo is None or len(bad) >= lo) and (hi is None or len(bad) <= hi):
                    out.append((f"{path}: pattern", put(bad), path,
                                f"Member must satisfy regular expression pattern: {pattern}", bad))
                    break
    if t == "string" and "enum" in shape:
        out.append((f"{path}: enum", put("NOT_A_VALUE"), path,
                    "Member must satisfy enum value set: [" + ", ".join(shape["enum"]) + "]",
                    "NOT_A_VALUE"))
    if t == "blob":
        if lo and lo > 0:
            out.append((f"{path}: min length {lo}", put(base64.b64encode(b"\x01" * (lo - 1)).decode()), path,
                        f"Member must have length greater than or equal to {lo}", None))
        if hi and hi + 1 <= MAX_CASE:
            out.append((f"{path}: max length {hi}", put(base64.b64encode(b"\x01" * (hi + 1)).decode()), path,
                        f"Member must have length less than or equal to {hi}", None))
    if t in ("integer", "long"):
        if lo is not None:
            out.append((f"{path}: min value {lo}", put(lo - 1), path,
                        f"Member must have value greater than or equal to {lo}", lo - 1))
        if hi is not None:
            out.append((f"{path}: max value {hi}", put(hi + 1), path,
                        f"Member must have value less than or equal to {hi}", hi + 1))
    if t == "list":
        good = value(shapes, name, ref)
        if lo and lo > 0:
            out.append((f"{path}: min length {lo}", put([]), path,
                        f"Member must have length greater than or equal to {lo}", None))
        if hi and hi + 1 <= 1000:
            out.append((f"{path}: max length {hi}", put(good[:1] * (hi + 1)), path,
                        f"Member must have length less than or equal to {hi}", None))
        # Tags: the members of the first tag, as AWS names them (tags.1.member.tagKey).
        member = shapes[shape["member"]["shape"]]
        if member["type"] == "structure" and name == "Tags":
            for m in member["members"]:
                def put_in(v, m=m):
                    tag = dict(good[0])
                    if v is None:
                        tag.pop(m, None)
                    else:
                        tag[m] = v
                    return put([tag])
                out += member_cases(shapes, m, member["members"][m]["shape"], m in member.get("required", []),
                                    f"{path}.1.member.{lower_first(m)}", put_in)
    return out


def main():
    model = load()
    shapes = model["shapes"]
    for op_name, op in sorted(model["operations"].items()):
        input_ref = op.get("input", {}).get("shape")
        input_shape = shapes[input_ref] if input_ref else {"members": {}}
        base = baseline(shapes, op_name, input_shape)
        print(json.dumps({"operation": op_name, "case": "baseline", "body": base, "expect": None}))
        required = set(input_shape.get("required", []))
        for m in input_shape["members"]:
            ref = shapes_ref(input_shape, m)

            def put(v, m=m):
                body = dict(base)
                if m in EXCLUDES and m not in input_shape.get("required", []):
                    body.pop(EXCLUDES[m], None)
                if v is None:
                    body.pop(m, None)
                else:
                    body[m] = v
                return body
            for case, body, path, rule, shown in member_cases(shapes, m, ref, m in required, lower_first(m), put):
                print(json.dumps({"operation": op_name, "case": case, "body": body,
                                  "expect": {"path": path, "rule": rule,
                                             "value": None if shown is None else show(shown)}}))


main()
