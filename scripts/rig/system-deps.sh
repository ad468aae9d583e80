#!/bin/bash
# System packages and services the test rig needs, on Debian 12, as root.
# Idempotent: installs only what is missing (apt-get update runs once, and only
# then), and starts PostgreSQL / Mosquitto only when nothing listens on
# 127.0.0.1:5432 / 127.0.0.1:1883.
#
# What it changes on a fresh install:
#   - PostgreSQL: pg_hba.conf gets "host all all 127.0.0.1/32 trust" as its
#     first rule (marked "dialer test rig"), and a superuser role "root" is
#     created, so tests connect as postgres or root over 127.0.0.1 without a
#     password. A test machine only: never do this on a shared server.
#   - Mosquitto: if no listener is configured, conf.d/dialer-rig.conf adds
#     "listener 1883 127.0.0.1" with anonymous access.
set -euo pipefail

# chromium: the console's browser tests drive Debian's Chromium through Playwright (which is
# never let download a browser of its own).
PACKAGES=(sip-tester debootstrap espeak-ng sox postgresql mosquitto chromium)

if [ "$(id -u)" -ne 0 ]; then
    echo "system-deps.sh: must run as root" >&2
    exit 1
fi

listening() { # host port
    timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

wait_listening() { # host port what
    for _ in $(seq 1 100); do
        if listening "$1" "$2"; then return 0; fi
        sleep 0.1
    done
    echo "system-deps.sh: $3 does not listen on $1:$2" >&2
    return 1
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "system-deps.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
else
    echo "system-deps.sh: packages present: ${PACKAGES[*]}"
fi

# ------------------------------------------------------------------ PostgreSQL
pg_version=$(ls /etc/postgresql | sort -V | tail -n 1)
hba=/etc/postgresql/$pg_version/main/pg_hba.conf
if ! grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    echo "system-deps.sh: PostgreSQL $pg_version: trust auth for 127.0.0.1 (test rig only)"
    tmp=$(mktemp)
    { echo "# dialer test rig: trust local TCP connections (scripts/rig/system-deps.sh)"
      echo "host all all 127.0.0.1/32 trust"
      cat "$hba"; } >"$tmp"
    cat "$tmp" >"$hba"
    rm -f "$tmp"
    hba_changed=1
else
    hba_changed=0
fi
if listening 127.0.0.1 5432; then
    if [ "$hba_changed" -eq 1 ]; then
        pg_ctlcluster --skip-systemctl-redirect "$pg_version" main reload
    fi
    echo "system-deps.sh: PostgreSQL already listens on 127.0.0.1:5432"
else
    echo "system-deps.sh: starting PostgreSQL $pg_version"
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
    wait_listening 127.0.0.1 5432 PostgreSQL
fi
if ! psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_roles where rolname = 'root'" | grep -q 1; then
    echo "system-deps.sh: creating PostgreSQL superuser role root"
    psql -h 127.0.0.1 -U postgres -c "create role root superuser login"
fi

# ------------------------------------------------------------------- Mosquitto
if ! grep -rqsE '^[[:space:]]*listener[[:space:]]' /etc/mosquitto/mosquitto.conf /etc/mosquitto/conf.d; then
    if [ -d /etc/mosquitto/conf.d ]; then
        printf '%s\n' "# dialer test rig (scripts/rig/system-deps.sh)" \
            "listener 1883 127.0.0.1" "allow_anonymous true" >/etc/mosquitto/conf.d/dialer-rig.conf
    fi
fi
if listening 127.0.0.1 1883; then
    echo "system-deps.sh: Mosquitto already listens on 127.0.0.1:1883"
else
    echo "system-deps.sh: starting Mosquitto"
    install -d -o mosquitto -g mosquitto /run/mosquitto 2>/dev/null || mkdir -p /run/mosquitto
    mosquitto -d -c /etc/mosquitto/mosquitto.conf
    wait_listening 127.0.0.1 1883 Mosquitto
fi
echo "system-deps.sh: done"
