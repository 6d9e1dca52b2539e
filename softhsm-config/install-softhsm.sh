#!/usr/bin/env sh
# Installs SoftHSM2 from the distribution if it is not there yet (Debian/Ubuntu).
# Lockbox provisions its own tokens; this only puts the PKCS#11 module on the machine.
set -eu
if command -v softhsm2-util >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq softhsm2 >/dev/null
softhsm2-util --version >/dev/null
