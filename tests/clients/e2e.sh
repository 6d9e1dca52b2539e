#!/usr/bin/env bash
# The AWS CLI v1, unchanged, against a Lockbox server: every KMS call an application makes
# from a shell, with exact checks of what comes back (values, error codes, exit codes).
#
# Usage: LOCKBOX_ENDPOINT_URL=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=... \
#        AWS_SECRET_ACCESS_KEY=... AWS_DEFAULT_REGION=... tests/clients/e2e.sh
# (the endpoint may also be the first argument). The server should be fresh: the script
# creates its own keys and alias, but expects the alias name to be free. Needs `aws` (v1) on
# PATH, bash, coreutils and openssl; not jq: values are picked with --query and --output text.
# tests/aws_clients.rs runs it against a server on a throwaway token.
set -euo pipefail

ENDPOINT=${1:-${LOCKBOX_ENDPOINT_URL:?set LOCKBOX_ENDPOINT_URL or pass the endpoint URL}}
: "${AWS_ACCESS_KEY_ID:?}" "${AWS_SECRET_ACCESS_KEY:?}" "${AWS_DEFAULT_REGION:?}"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CHECKS=0
TAB=$'\t' # --output text separates the fields of a row with tabs

kms() { aws kms --endpoint-url "$ENDPOINT" --output text "$@"; }

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# expect NAME EXPECTED ACTUAL
expect() {
    if [[ "$2" != "$3" ]]; then
        fail "$1: expected [$2], got [$3]"
    fi
    CHECKS=$((CHECKS + 1))
    echo "ok: $1"
}

# expect_error NAME CODE OPERATION MESSAGE-PREFIX -- ARGS...: `aws kms ARGS` must fail with
# the CLI's exit code for a service error and its one-line message for CODE and OPERATION.
# The AWS CLI v1 exits 255 for every error (v2, and `lockbox`, use 254 for service errors).
CLI_ERROR_RC=255
expect_error() {
    local name=$1 code=$2 op=$3 prefix=$4
    shift 5
    local rc=0
    kms "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
    [[ $rc == "$CLI_ERROR_RC" ]] ||
        fail "$name: exit code: expected [$CLI_ERROR_RC], got [$rc]; stderr: $(cat "$WORK/err")"
    CHECKS=$((CHECKS + 1))
    expect "$name: stdout" "" "$(cat "$WORK/out")"
    local want="An error occurred ($code) when calling the $op operation: $prefix"
    local got
    got=$(grep -v '^$' "$WORK/err")
    expect "$name: stderr" "$want" "${got:0:${#want}}"
}

# b64file FILE BASE64: decodes BASE64 into FILE.
b64file() { printf '%s' "$2" | base64 -d >"$1"; }

# --- create-key with a description and tags; describe-key; list-resource-tags
OUT=$(kms create-key --description "e2e-cli" --tags TagKey=team,TagValue=payments \
        TagKey=env,TagValue=test \
        --query 'KeyMetadata.[KeyId,Arn,Description,KeyState,Enabled,KeySpec,KeyUsage,KeyManager]')
read -r KEY_ID KEY_ARN DESCRIPTION STATE ENABLED SPEC USAGE MANAGER <<<"$OUT"
[[ $KEY_ID =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] ||
    fail "create-key: KeyId [$KEY_ID] is not a UUID"
ACCOUNT=$(cut -d: -f5 <<<"$KEY_ARN")
[[ $ACCOUNT =~ ^[0-9]{12}$ ]] || fail "create-key: no account in ARN [$KEY_ARN]"
expect "create-key: Arn" "arn:aws:kms:$AWS_DEFAULT_REGION:$ACCOUNT:key/$KEY_ID" "$KEY_ARN"
expect "create-key: Description" "e2e-cli" "$DESCRIPTION"
expect "create-key: KeyState" "Enabled" "$STATE"
expect "create-key: Enabled" "True" "$ENABLED"
expect "create-key: KeySpec" "SYMMETRIC_DEFAULT" "$SPEC"
expect "create-key: KeyUsage" "ENCRYPT_DECRYPT" "$USAGE"
expect "create-key: KeyManager" "CUSTOMER" "$MANAGER"

expect "describe-key" "$KEY_ID${TAB}$KEY_ARN${TAB}e2e-cli${TAB}Enabled" \
    "$(kms describe-key --key-id "$KEY_ID" \
        --query 'KeyMetadata.[KeyId,Arn,Description,KeyState]')"
expect "list-resource-tags" "env=test team=payments" \
    "$(kms list-resource-tags --key-id "$KEY_ID" --query 'Tags[].[TagKey,TagValue]' |
        tr '\t' '=' | sort | paste -sd' ')"

# --- create-alias, list-aliases, describe-key through the alias
kms create-alias --alias-name alias/e2e-cli --target-key-id "$KEY_ID"
ALIAS_ARN="arn:aws:kms:$AWS_DEFAULT_REGION:$ACCOUNT:alias/e2e-cli"
expect "list-aliases" "alias/e2e-cli${TAB}$ALIAS_ARN${TAB}$KEY_ID" \
    "$(kms list-aliases --key-id "$KEY_ID" --query 'Aliases[].[AliasName,AliasArn,TargetKeyId]')"
expect "describe-key by alias" "$KEY_ID" \
    "$(kms describe-key --key-id alias/e2e-cli --query KeyMetadata.KeyId)"

# --- encrypt with an encryption context, decrypt (raw bytes in with fileb://, base64 out)
printf 'db password \x00\xff binary' >"$WORK/plain"
OUT=$(kms encrypt --key-id alias/e2e-cli --plaintext "fileb://$WORK/plain" \
    --encryption-context purpose=e2e,team=payments \
    --query '[CiphertextBlob,KeyId,EncryptionAlgorithm]')
read -r CT ENC_KEY ALG <<<"$OUT"
expect "encrypt: KeyId" "$KEY_ARN" "$ENC_KEY"
expect "encrypt: EncryptionAlgorithm" "SYMMETRIC_DEFAULT" "$ALG"
b64file "$WORK/ct" "$CT"
OUT=$(kms decrypt --ciphertext-blob "fileb://$WORK/ct" \
    --encryption-context team=payments,purpose=e2e --query '[Plaintext,KeyId]')
read -r PT DEC_KEY <<<"$OUT"
expect "decrypt: KeyId" "$KEY_ARN" "$DEC_KEY"
b64file "$WORK/pt" "$PT"
cmp -s "$WORK/plain" "$WORK/pt" || fail "decrypt: plaintext differs from what was encrypted"
expect "decrypt: plaintext" "ok" "ok"
expect_error "decrypt with the wrong context" InvalidCiphertextException Decrypt "" -- \
    decrypt --ciphertext-blob "fileb://$WORK/ct" --encryption-context purpose=other

# --- generate-data-key: the plaintext key decrypts back from its blob
OUT=$(kms generate-data-key --key-id "$KEY_ID" --key-spec AES_256 \
    --encryption-context purpose=dek --query '[CiphertextBlob,Plaintext,KeyId]')
read -r DK_BLOB DK_PLAIN DK_KEY <<<"$OUT"
expect "generate-data-key: KeyId" "$KEY_ARN" "$DK_KEY"
b64file "$WORK/dk" "$DK_PLAIN"
expect "generate-data-key: plaintext length" 32 "$(wc -c <"$WORK/dk" | tr -d ' ')"
b64file "$WORK/dk.blob" "$DK_BLOB"
expect "generate-data-key: blob decrypts to the plaintext" "$DK_PLAIN" \
    "$(kms decrypt --ciphertext-blob "fileb://$WORK/dk.blob" --encryption-context purpose=dek \
        --query Plaintext)"

# --- generate-data-key-without-plaintext: only a blob, which decrypts to a 16-byte key
OUT=$(kms generate-data-key-without-plaintext --key-id alias/e2e-cli \
    --number-of-bytes 16 --query '[CiphertextBlob,KeyId]')
read -r NP_BLOB NP_KEY <<<"$OUT"
expect "generate-data-key-without-plaintext: KeyId" "$KEY_ARN" "$NP_KEY"
expect "generate-data-key-without-plaintext: no Plaintext" "None" \
    "$(kms generate-data-key-without-plaintext --key-id "$KEY_ID" --key-spec AES_128 \
        --query Plaintext)"
b64file "$WORK/np.blob" "$NP_BLOB"
kms decrypt --ciphertext-blob "fileb://$WORK/np.blob" --query Plaintext >"$WORK/np.b64"
expect "generate-data-key-without-plaintext: key length" 16 \
    "$(base64 -d <"$WORK/np.b64" | wc -c | tr -d ' ')"

# --- re-encrypt under a second key and a new context
OUT=$(kms create-key --description e2e-cli-2 \
    --query 'KeyMetadata.[KeyId,Arn]')
read -r KEY2_ID KEY2_ARN <<<"$OUT"
OUT=$(kms re-encrypt --ciphertext-blob "fileb://$WORK/ct" \
    --source-encryption-context purpose=e2e,team=payments --destination-key-id "$KEY2_ID" \
    --destination-encryption-context purpose=moved --query '[CiphertextBlob,SourceKeyId,KeyId]')
read -r RE_CT RE_SRC RE_KEY <<<"$OUT"
expect "re-encrypt: SourceKeyId" "$KEY_ARN" "$RE_SRC"
expect "re-encrypt: KeyId" "$KEY2_ARN" "$RE_KEY"
b64file "$WORK/re" "$RE_CT"
OUT=$(kms decrypt --ciphertext-blob "fileb://$WORK/re" \
    --encryption-context purpose=moved --query '[Plaintext,KeyId]')
read -r PT2 DEC2_KEY <<<"$OUT"
expect "re-encrypt: decrypts under the new key" "$KEY2_ARN" "$DEC2_KEY"
expect "re-encrypt: same plaintext" "$PT" "$PT2"

# --- generate-random
R1=$(kms generate-random --number-of-bytes 48 --query Plaintext)
R2=$(kms generate-random --number-of-bytes 48 --query Plaintext)
expect "generate-random: length" 48 "$(printf '%s' "$R1" | base64 -d | wc -c | tr -d ' ')"
[[ $R1 != "$R2" ]] || fail "generate-random: two calls returned the same bytes"

# --- key rotation
expect "get-key-rotation-status before" "False" \
    "$(kms get-key-rotation-status --key-id "$KEY_ID" --query KeyRotationEnabled)"
kms enable-key-rotation --key-id "$KEY_ID"
expect "get-key-rotation-status after" "True" \
    "$(kms get-key-rotation-status --key-id "$KEY_ID" --query KeyRotationEnabled)"

# --- key policy: what is put is what is got, byte for byte (newlines and spaces included)
cat >"$WORK/policy.json" <<EOF
{
  "Version": "2012-10-17",
  "Id": "e2e-cli",
  "Statement": [{
    "Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::$ACCOUNT:root"},
    "Action": "kms:*", "Resource": "*"
  }]
}
EOF
kms put-key-policy --key-id "$KEY_ID" --policy-name default --policy "file://$WORK/policy.json"
expect "get-key-policy" "$(cat "$WORK/policy.json")" \
    "$(kms get-key-policy --key-id "$KEY_ID" --policy-name default --query Policy)"
expect "list-key-policies" "default" \
    "$(kms list-key-policies --key-id "$KEY_ID" --query 'PolicyNames[]')"

# --- grants
GRANTEE="arn:aws:iam::$ACCOUNT:role/e2e-app"
OUT=$(kms create-grant --key-id "$KEY_ID" \
    --grantee-principal "$GRANTEE" --operations Encrypt Decrypt --name e2e-grant \
    --query '[GrantId,GrantToken]')
read -r GRANT_ID GRANT_TOKEN <<<"$OUT"
[[ -n $GRANT_ID && -n $GRANT_TOKEN ]] || fail "create-grant: no GrantId or GrantToken"
expect "list-grants" "$GRANT_ID${TAB}$KEY_ARN${TAB}$GRANTEE${TAB}e2e-grant" \
    "$(kms list-grants --key-id "$KEY_ID" --query 'Grants[].[GrantId,KeyId,GranteePrincipal,Name]')"
expect "list-grants: operations" "Decrypt Encrypt" \
    "$(kms list-grants --key-id "$KEY_ID" --query 'Grants[0].Operations' | tr '\t' '\n' |
        sort | paste -sd' ')"
kms revoke-grant --key-id "$KEY_ID" --grant-id "$GRANT_ID"
expect "list-grants after revoke-grant" "0" \
    "$(kms list-grants --key-id "$KEY_ID" --query 'length(Grants)')"

# --- disable-key: encrypt fails with DisabledException; enable-key: it works again
kms disable-key --key-id "$KEY_ID"
expect "describe-key: disabled" "Disabled${TAB}False" \
    "$(kms describe-key --key-id "$KEY_ID" --query 'KeyMetadata.[KeyState,Enabled]')"
expect_error "encrypt under a disabled key" DisabledException Encrypt "$KEY_ARN is disabled." -- \
    encrypt --key-id "$KEY_ID" --plaintext "fileb://$WORK/plain"
kms enable-key --key-id "$KEY_ID"
expect "encrypt after enable-key" "$KEY_ARN" \
    "$(kms encrypt --key-id "$KEY_ID" --plaintext "fileb://$WORK/plain" --query KeyId)"

# --- schedule-key-deletion and cancel-key-deletion (the key comes back disabled, as in AWS)
expect "schedule-key-deletion" "$KEY2_ARN${TAB}PendingDeletion${TAB}7" \
    "$(kms schedule-key-deletion --key-id "$KEY2_ID" --pending-window-in-days 7 \
        --query '[KeyId,KeyState,PendingWindowInDays]')"
expect "describe-key: pending deletion" "PendingDeletion" \
    "$(kms describe-key --key-id "$KEY2_ID" --query KeyMetadata.KeyState)"
expect_error "decrypt under a key pending deletion" KMSInvalidStateException Decrypt "" -- \
    decrypt --ciphertext-blob "fileb://$WORK/re" --encryption-context purpose=moved
expect "cancel-key-deletion" "$KEY2_ARN" \
    "$(kms cancel-key-deletion --key-id "$KEY2_ID" --query KeyId)"
expect "describe-key: after cancel" "Disabled" \
    "$(kms describe-key --key-id "$KEY2_ID" --query KeyMetadata.KeyState)"

# --- asymmetric keys: sign, verify, get-public-key (the signature checked by openssl)
OUT=$(kms create-key --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY \
    --query 'KeyMetadata.[KeyId,Arn,KeySpec,KeyUsage]')
read -r SIGN_ID SIGN_ARN SIGN_SPEC SIGN_USAGE <<<"$OUT"
expect "create-key ECC_NIST_P256: spec and usage" "ECC_NIST_P256 SIGN_VERIFY" \
    "$SIGN_SPEC $SIGN_USAGE"
expect "describe-key: SigningAlgorithms" "ECDSA_SHA_256" \
    "$(kms describe-key --key-id "$SIGN_ID" --query 'KeyMetadata.SigningAlgorithms')"
OUT=$(kms get-public-key --key-id "$SIGN_ID" \
    --query '[KeyId,KeySpec,KeyUsage,PublicKey]')
read -r PK_KEY PK_SPEC PK_USAGE PK <<<"$OUT"
expect "get-public-key" "$SIGN_ARN ECC_NIST_P256 SIGN_VERIFY" "$PK_KEY $PK_SPEC $PK_USAGE"
b64file "$WORK/pub.der" "$PK"
OUT=$(kms sign --key-id "$SIGN_ID" --message "fileb://$WORK/plain" \
    --message-type RAW --signing-algorithm ECDSA_SHA_256 \
    --query '[KeyId,SigningAlgorithm,Signature]')
read -r SIG_KEY SIG_ALG SIG <<<"$OUT"
expect "sign" "$SIGN_ARN ECDSA_SHA_256" "$SIG_KEY $SIG_ALG"
b64file "$WORK/sig" "$SIG"
expect "sign: openssl verifies the signature over get-public-key's key" "Verified OK" \
    "$(openssl dgst -sha256 -verify "$WORK/pub.der" -keyform DER -signature "$WORK/sig" \
        "$WORK/plain")"
expect "verify" "True${TAB}ECDSA_SHA_256" \
    "$(kms verify --key-id "$SIGN_ID" --message "fileb://$WORK/plain" \
        --signature "fileb://$WORK/sig" --signing-algorithm ECDSA_SHA_256 \
        --query '[SignatureValid,SigningAlgorithm]')"
printf 'another message' >"$WORK/other"
expect_error "verify of another message" KMSInvalidSignatureException Verify "" -- \
    verify --key-id "$SIGN_ID" --message "fileb://$WORK/other" \
    --signature "fileb://$WORK/sig" --signing-algorithm ECDSA_SHA_256
expect_error "sign with a symmetric key" InvalidKeyUsageException Sign \
    "$KEY_ARN key usage is ENCRYPT_DECRYPT which is not valid for this operation." -- \
    sign --key-id "$KEY_ID" --message "fileb://$WORK/plain" --signing-algorithm ECDSA_SHA_256

# --- HMAC keys: generate-mac, verify-mac
MAC_ID=$(kms create-key --key-spec HMAC_256 --key-usage GENERATE_VERIFY_MAC \
    --query KeyMetadata.KeyId)
expect "describe-key: MacAlgorithms" "HMAC_SHA_256" \
    "$(kms describe-key --key-id "$MAC_ID" --query 'KeyMetadata.MacAlgorithms')"
OUT=$(kms generate-mac --key-id "$MAC_ID" --message "fileb://$WORK/plain" \
    --mac-algorithm HMAC_SHA_256 --query '[MacAlgorithm,Mac]')
read -r MAC_ALG MAC <<<"$OUT"
expect "generate-mac: MacAlgorithm" "HMAC_SHA_256" "$MAC_ALG"
b64file "$WORK/mac" "$MAC"
expect "generate-mac: length" 32 "$(wc -c <"$WORK/mac" | tr -d ' ')"
expect "verify-mac" "True" \
    "$(kms verify-mac --key-id "$MAC_ID" --message "fileb://$WORK/plain" \
        --mac-algorithm HMAC_SHA_256 --mac "fileb://$WORK/mac" --query MacValid)"
expect_error "verify-mac of another message" KMSInvalidMacException VerifyMac "" -- \
    verify-mac --key-id "$MAC_ID" --message "fileb://$WORK/other" \
    --mac-algorithm HMAC_SHA_256 --mac "fileb://$WORK/mac"

# --- errors: an unknown key; a wrong secret; an unknown access key
UNKNOWN=00000000-0000-4000-8000-000000000000
expect_error "describe-key of an unknown key" NotFoundException DescribeKey \
    "Key 'arn:aws:kms:$AWS_DEFAULT_REGION:$ACCOUNT:key/$UNKNOWN' does not exist" -- \
    describe-key --key-id "$UNKNOWN"
# The wrong secret goes in the environment, like the right one: never on a command line.
AWS_SECRET_ACCESS_KEY=WrongWrongWrongWrongWrongWrongWrongWrong \
    expect_error "a wrong secret" InvalidSignatureException ListKeys \
    "The request signature we calculated does not match the signature you provided." -- \
    list-keys
AWS_ACCESS_KEY_ID=LBKUNKNOWNUNKNOWNUNK \
    expect_error "an unknown access key" UnrecognizedClientException ListKeys \
    "The security token included in the request is invalid." -- list-keys

# --- STS GetCallerIdentity on the same endpoint (issue 15): the signing credential's account
# and ARN, as `aws sts` prints them
OUT=$(aws sts get-caller-identity --endpoint-url "$ENDPOINT" --output text \
        --query '[Account,Arn,UserId]')
expect "sts get-caller-identity" "$ACCOUNT${TAB}arn:aws:iam::$ACCOUNT:root${TAB}$ACCOUNT" "$OUT"

echo "e2e.sh: $CHECKS checks passed"
