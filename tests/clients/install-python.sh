#!/usr/bin/env sh
# Installs Python 3 with venv and pip from the distribution if they are not there yet
# (Debian/Ubuntu): tests/aws_clients.rs and tests/esdk_python.rs make a virtualenv with them
# for the AWS CLI, boto3 and the AWS Encryption SDK (pinned in requirements.txt, installed
# from PyPI by the tests themselves).
set -eu
if python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3 python3-venv >/dev/null
python3 -c 'import ensurepip, venv'
