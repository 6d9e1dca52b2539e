#!/bin/sh
# Installs moto's server into target/moto-venv, for the comparison in benches/server.rs.
# Optional: without it the bench measures Lockbox alone and says so.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="${CARGO_TARGET_DIR:-$root/target}/moto-venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "moto[server]"
"$venv/bin/moto_server" --version
