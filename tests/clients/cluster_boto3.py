#!/usr/bin/env python3
"""boto3 against a cluster of `lockbox serve` nodes (issue 17): calls spread over every node,
then checks that what any node acknowledged is there on every node, and measures how soon a
change made through one node is honoured by another.

Environment: LOCKBOX_ENDPOINTS (comma-separated node URLs), LOCKBOX_CREDENTIALS_FILE (a
lockbox credentials.toml: the first credential is the account's admin, the one whose
principal is APP_PRINCIPAL below is the grantee), AWS_DEFAULT_REGION. Secrets are read from
the file, never from argv.

Usage:
  cluster_boto3.py load STATE UNITS [STOP_FILE]
      4 threads each repeat a unit of work (CreateKey with tags, CreateAlias, CreateGrant,
      Encrypt, GenerateDataKey, TagResource, Decrypt) on the nodes in turn, until UNITS units
      are done in all, or, with STOP_FILE, until that file exists. With
      LOCKBOX_CREATE_ENDPOINT set, CreateKey goes to that node first (every other call is
      spread): SoftHSM loses track of other processes' new objects when several processes
      create objects at once (see docs/operations.md, "Running a cluster"). A call that fails for the
      node's sake (connection refused or reset, a timeout, a 5xx) is retried on the next node,
      with a short backoff, for up to 60 s, as an SDK behind a load balancer would. Only what
      was acknowledged is recorded, in STATE (JSON, merged with what STATE already holds).
      Prints `units N` after each unit, for the test to follow the run.
  cluster_boto3.py check STATE URL...
      On each URL: DescribeKey (state and tags) of every key, ListAliases and ListGrants hold
      every alias and grant, Decrypt of every ciphertext gives back its plaintext.
  cluster_boto3.py propagate CHANGER DEFAULT_NODE STRICT_NODE ROUNDS BOUND_MS
      ROUNDS times: a key disabled, then enabled again, through CHANGER; the time until
      DEFAULT_NODE (default consistency) honours each change is measured, and must be under
      BOUND_MS; STRICT_NODE (strict consistency) must honour it on the very next call. Then
      ROUNDS/5 grants revoked through CHANGER, measured the same way. Prints one JSON line
      `{"changes": N, "median_ms": M, "worst_ms": W, ...}`.
"""

import base64
import json
import os
import random
import statistics
import sys
import threading
import time
import tomllib
import traceback
import uuid

import boto3
import botocore.config
from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

REGION = os.environ["AWS_DEFAULT_REGION"]
ENDPOINTS = [e for e in os.environ["LOCKBOX_ENDPOINTS"].split(",") if e]
# Optional: the node that CreateKey goes to first (see `load`).
CREATE_ENDPOINT = os.environ.get("LOCKBOX_CREATE_ENDPOINT") or None
APP_PRINCIPAL = "arn:aws:iam::111122223333:user/app"
# No SDK retries: this client retries itself, on the next node, and knows what it retried.
CONFIG = botocore.config.Config(
    retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=20
)
RETRY_FOR = 60.0


def credentials():
    with open(os.environ["LOCKBOX_CREDENTIALS_FILE"], "rb") as f:
        entries = tomllib.load(f)["credential"]
    admin = next(e for e in entries if e["principal"] != APP_PRINCIPAL)
    app = next(e for e in entries if e["principal"] == APP_PRINCIPAL)
    return admin, app


ADMIN, APP = credentials()


def client(endpoint, who=None):
    who = who or ADMIN
    return boto3.session.Session().client(
        "kms",
        endpoint_url=endpoint,
        region_name=REGION,
        config=CONFIG,
        aws_access_key_id=who["access_key_id"],
        aws_secret_access_key=who["secret_access_key"],
    )


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr, flush=True)
    os._exit(1)


def code(e):
    return e.response.get("Error", {}).get("Code")


def node_fault(e):
    """True for a failure of the node or its database, which a client retries elsewhere."""
    if isinstance(e, (EndpointConnectionError, BotoConnectionError, ReadTimeoutError)):
        return True
    if isinstance(e, ClientError):
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500 or code(e) in ("ThrottlingException",)
    return False


class Spreader:
    """One thread's clients, one per node, used in turn; a call that meets a node fault
    moves on to the next node."""

    def __init__(self, start):
        self.clients = [client(e) for e in ENDPOINTS]
        self.next = start
        self.retried = {}
        self.creator = ENDPOINTS.index(CREATE_ENDPOINT) if CREATE_ENDPOINT else None

    def call(self, operation, **params):
        deadline = time.monotonic() + RETRY_FOR
        attempt = 0
        while True:
            if operation == "create_key" and self.creator is not None and attempt == 0:
                kms = self.clients[self.creator]
            else:
                kms = self.clients[self.next % len(self.clients)]
                self.next += 1
            try:
                return getattr(kms, operation)(**params), attempt
            except Exception as e:  # noqa: BLE001 (classified just below)
                if not node_fault(e):
                    e.lockbox_attempts = attempt
                    raise
                if time.monotonic() > deadline:
                    fail(f"{operation}: nodes kept failing for {RETRY_FOR:.0f} s: {e!r}")
                kind = type(e).__name__ if not isinstance(e, ClientError) else code(e)
                self.retried[kind] = self.retried.get(kind, 0) + 1
                attempt += 1
                time.sleep(min(0.02 * attempt, 0.25))


def attempts_of(e):
    """How many times the call that raised `e` had been tried before on a failing node."""
    return getattr(e, "lockbox_attempts", 0)


def b64(b):
    return base64.b64encode(b).decode()


def load(state_path, units, stop_file):
    state = read_state(state_path)
    lock = threading.Lock()
    done = [0]
    retried = {}

    claimed = [0]

    def more():
        with lock:
            if stop_file:
                return not os.path.exists(stop_file)
            if claimed[0] >= units:
                return False
            claimed[0] += 1
            return True

    def unit(s, rng):
        tag = {"TagKey": "unit", "TagValue": uuid.uuid4().hex[:12]}
        key, _ = s.call("create_key", Description="cluster", Tags=[tag])
        key_id = key["KeyMetadata"]["KeyId"]
        arn = key["KeyMetadata"]["Arn"]
        with lock:
            state["keys"][key_id] = {"arn": arn, "tags": {tag["TagKey"]: tag["TagValue"]}}
        alias = f"alias/cluster-{uuid.uuid4().hex[:16]}"
        target = key_id
        try:
            s.call("create_alias", AliasName=alias, TargetKeyId=key_id)
            with lock:
                state["aliases"][alias] = key_id
            target = alias
        except ClientError as e:
            # Only after a retry: the first attempt may have committed before its node or the
            # database went away, and was not acknowledged.
            if code(e) != "AlreadyExistsException" or attempts_of(e) == 0:
                raise
        grant, _ = s.call(
            "create_grant",
            KeyId=key_id,
            GranteePrincipal=APP_PRINCIPAL,
            Operations=["Encrypt", "Decrypt", "GenerateDataKey"],
        )
        with lock:
            state["grants"][grant["GrantId"]] = key_id
        plain = rng.randbytes(rng.randint(1, 200))
        context = {"unit": tag["TagValue"]}
        ct, _ = s.call(
            "encrypt", KeyId=target, Plaintext=plain, EncryptionContext=context,
        )
        record_ciphertext(state, lock, ct["CiphertextBlob"], plain, context)
        dk, _ = s.call("generate_data_key", KeyId=key_id, KeySpec="AES_256")
        if len(dk["Plaintext"]) != 32:
            fail(f"GenerateDataKey gave {len(dk['Plaintext'])} bytes")
        record_ciphertext(state, lock, dk["CiphertextBlob"], dk["Plaintext"], {})
        extra = {"TagKey": "extra", "TagValue": tag["TagValue"]}
        s.call("tag_resource", KeyId=key_id, Tags=[extra])
        with lock:
            state["keys"][key_id]["tags"]["extra"] = extra["TagValue"]
        # A ciphertext decrypts on whichever node the next call goes to.
        out, _ = s.call("decrypt", CiphertextBlob=ct["CiphertextBlob"], EncryptionContext=context)
        if out["Plaintext"] != plain:
            fail(f"Decrypt of a fresh ciphertext of {key_id} gave other bytes")

    def worker(n):
        s = Spreader(n)
        rng = random.Random(n)
        while more():
            try:
                unit(s, rng)
            except Exception:  # noqa: BLE001 (any failure fails the run, with its trace)
                fail(f"a unit failed on a thread:\n{traceback.format_exc()}")
            with lock:
                done[0] += 1
                print(f"units {done[0]}", flush=True)
        with lock:
            for k, v in s.retried.items():
                retried[k] = retried.get(k, 0) + v

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    write_state(state_path, state)
    print(json.dumps({"units": done[0], "retried": retried}), flush=True)


def record_ciphertext(state, lock, blob, plain, context):
    with lock:
        state["ciphertexts"].append({"blob": b64(blob), "plain": b64(plain), "context": context})


def read_state(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {"keys": {}, "aliases": {}, "grants": {}, "ciphertexts": []}


def write_state(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


def all_pages(kms, operation, field, **params):
    items, marker = [], None
    while True:
        page = getattr(kms, operation)(**params, **({"Marker": marker} if marker else {}))
        items += page[field]
        if not page.get("Truncated"):
            return items
        marker = page["NextMarker"]


def check(state_path, urls):
    state = read_state(state_path)
    if not state["keys"]:
        fail("nothing was acknowledged: the state is empty")
    calls = 0
    for url in urls:
        kms = client(url)
        for key_id, want in state["keys"].items():
            meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
            if (meta["KeyId"], meta["Arn"], meta["KeyState"]) != (key_id, want["arn"], "Enabled"):
                fail(f"{url}: DescribeKey {key_id}: {meta!r}")
            tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key_id)["Tags"]}
            if tags != want["tags"]:
                fail(f"{url}: tags of {key_id}: expected {want['tags']!r}, got {tags!r}")
            calls += 2
        aliases = {a["AliasName"]: a.get("TargetKeyId") for a in all_pages(kms, "list_aliases", "Aliases")}
        calls += 1
        for alias, key_id in state["aliases"].items():
            if aliases.get(alias) != key_id:
                fail(f"{url}: alias {alias}: expected {key_id}, got {aliases.get(alias)!r}")
        grants_of = {}
        for grant_id, key_id in state["grants"].items():
            grants_of.setdefault(key_id, set()).add(grant_id)
        for key_id, want in grants_of.items():
            got = {g["GrantId"] for g in all_pages(kms, "list_grants", "Grants", KeyId=key_id)}
            calls += 1
            if not want <= got:
                fail(f"{url}: grants of {key_id}: {sorted(want - got)} missing")
        for c in state["ciphertexts"]:
            out = kms.decrypt(CiphertextBlob=base64.b64decode(c["blob"]), EncryptionContext=c["context"])
            calls += 1
            if out["Plaintext"] != base64.b64decode(c["plain"]):
                fail(f"{url}: a ciphertext of {out['KeyId']} decrypted to other bytes")
    print(json.dumps({
        "nodes": len(urls), "keys": len(state["keys"]), "aliases": len(state["aliases"]),
        "grants": len(state["grants"]), "ciphertexts": len(state["ciphertexts"]), "calls": calls,
    }), flush=True)


def propagate(changer_url, default_url, strict_url, rounds, bound_ms):
    changer, default, strict = client(changer_url), client(default_url), client(strict_url)
    key = changer.create_key(Description="propagation")["KeyMetadata"]
    key_id, arn = key["KeyId"], key["Arn"]
    bound = bound_ms / 1000.0
    waits = []

    def outcome(kms, **params):
        try:
            kms.encrypt(KeyId=params.get("key", key_id), Plaintext=b"x")
            return "ok"
        except ClientError as e:
            return code(e)

    def measure(kms, old, want, what, key=key_id):
        """Seconds until `kms` answers `want`; until then only `old` may come back."""
        start = time.monotonic()
        while True:
            got = outcome(kms, key=key)
            if got == want:
                return time.monotonic() - start
            if got != old:
                fail(f"{what}: {got} (waiting for {want})")
            if time.monotonic() - start > bound:
                fail(f"{what}: still {got} {bound_ms} ms after the change was acknowledged")

    for r in range(rounds):
        for kms in (default, strict):
            if outcome(kms) != "ok":
                fail(f"round {r}: encrypt before the change")
        changer.disable_key(KeyId=key_id)
        got = outcome(strict)
        if got != "DisabledException":
            fail(f"round {r}: strict node after DisableKey: {got}, not DisabledException at once")
        waits.append(measure(default, "ok", "DisabledException", f"round {r}: default node after DisableKey"))
        changer.enable_key(KeyId=key_id)
        got = outcome(strict)
        if got != "ok":
            fail(f"round {r}: strict node after EnableKey: {got}, not ok at once")
        waits.append(measure(default, "DisabledException", "ok", f"round {r}: default node after EnableKey"))

    # Grants: the grantee encrypts through its grant on both nodes; revoked on the changer,
    # it is refused at once by the strict node, within the bound by the default one.
    app_default = client(default_url, APP)
    app_strict = client(strict_url, APP)
    grant_waits = []
    for r in range(max(1, rounds // 5)):
        grant = changer.create_grant(KeyId=key_id, GranteePrincipal=APP_PRINCIPAL, Operations=["Encrypt"])
        for kms in (app_default, app_strict):
            # A new grant is usable at once through another node (it is read from the store
            # when the cache does not have it).
            got = outcome(kms, key=arn)
            if got != "ok":
                fail(f"grant {r}: grantee's encrypt before the revocation: {got}")
        changer.revoke_grant(KeyId=key_id, GrantId=grant["GrantId"])
        got = outcome(app_strict, key=arn)
        if got != "AccessDeniedException":
            fail(f"grant {r}: strict node after RevokeGrant: {got}, not AccessDeniedException at once")
        grant_waits.append(
            measure(app_default, "ok", "AccessDeniedException", f"grant {r}: default node after RevokeGrant", key=arn)
        )
    waits += grant_waits
    ms = sorted(w * 1000 for w in waits)
    print(json.dumps({
        "changes": len(ms), "key_changes": 2 * rounds, "grant_revocations": len(grant_waits),
        "median_ms": round(statistics.median(ms), 2), "worst_ms": round(ms[-1], 2),
        "bound_ms": bound_ms,
    }), flush=True)


def main(argv):
    if len(argv) >= 3 and argv[0] == "load":
        load(argv[1], int(argv[2]), argv[3] if len(argv) > 3 else None)
    elif len(argv) >= 3 and argv[0] == "check":
        check(argv[1], argv[2:])
    elif len(argv) == 6 and argv[0] == "propagate":
        propagate(argv[1], argv[2], argv[3], int(argv[4]), int(argv[5]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
