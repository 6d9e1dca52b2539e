#!/usr/bin/env sh
# Installs SoftHSM2, strace and OpenSC from the distribution if they are not there yet
# (Debian/Ubuntu). Lockbox provisions its own tokens; this only puts the PKCS#11 module on the
# machine. strace is what the kill test (crates/lockbox-cli/tests/kill.rs) injects its SIGKILLs
# with; OpenSC's pkcs11-tool is the second PKCS#11 client tests/invariants.rs asks whether every
# private and secret key is sensitive and never extractable.
set -eu
missing=""
command -v softhsm2-util >/dev/null 2>&1 || missing="$missing softhsm2"
command -v strace >/dev/null 2>&1 || missing="$missing strace"
command -v pkcs11-tool >/dev/null 2>&1 || missing="$missing opensc"
if [ -z "$missing" ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086 # one word per package
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
softhsm2-util --version >/dev/null
strace -V >/dev/null
command -v pkcs11-tool >/dev/null
