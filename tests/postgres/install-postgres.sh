#!/usr/bin/env sh
# Installs PostgreSQL's server programs (initdb, pg_ctl, postgres, psql) from the distribution
# (Debian/Ubuntu) if they are not there yet, with sudo when not root. The tests start throwaway
# clusters of their own with them (lockbox_store::testing::PgCluster), as the unprivileged
# user `postgres` that the package creates when the tests run as root.
#
# It creates no cluster of the distribution's and so starts no server: before the server
# package is installed, create_main_cluster = false goes into
# /etc/postgresql-common/createcluster.conf (unless that file already says otherwise), and the
# postgresql service has no cluster to run.
set -eu

have_server() {
    if [ -n "${LOCKBOX_PG_BINDIR:-}" ] && [ -x "$LOCKBOX_PG_BINDIR/initdb" ]; then
        return 0
    fi
    for bin in /usr/lib/postgresql/*/bin; do
        if [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && [ -x "$bin/postgres" ]; then
            return 0
        fi
    done
    command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 &&
        command -v postgres >/dev/null 2>&1
}

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
# As root the server runs as `postgres` (or $LOCKBOX_PG_USER); setpriv (util-linux) switches.
if have_server && command -v psql >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1 &&
    { [ -n "$SUDO" ] || id -u "${LOCKBOX_PG_USER:-postgres}" >/dev/null 2>&1; }; then
    exit 0
fi

apt_install() {
    # shellcheck disable=SC2086 # $SUDO is empty or one word
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

$SUDO apt-get update -qq
apt_install postgresql-common util-linux
conf=/etc/postgresql-common/createcluster.conf
if ! grep -Eq '^[[:space:]]*create_main_cluster[[:space:]]*=' "$conf" 2>/dev/null; then
    echo 'create_main_cluster = false' | $SUDO tee -a "$conf" >/dev/null
fi
# The distribution's supported major version, server and client.
apt_install postgresql postgresql-client

have_server
command -v psql >/dev/null
command -v setpriv >/dev/null
if [ -z "$SUDO" ]; then id -u postgres >/dev/null; fi
