#!/bin/sh
# Build the rig's Asterisk chroot (Debian sid, Asterisk 22) once.
#
#   scripts/rig/build-asterisk.sh [DIR]      (default: .rig/asterisk-root; needs root)
#
# A finished build writes DIR/.rig-complete and is skipped next time. A directory
# left half-built by an interrupted run (no marker, or debootstrap's own work
# dir DIR/debootstrap still there) is wiped and rebuilt. A complete build made
# without this script (no marker, but debootstrap finished and asterisk -V
# works) is adopted as is.
#
# Environment: DEBIAN_MIRROR (optional) is passed to debootstrap as its mirror.
set -eu

ROOT=${1:-$(cd "$(dirname "$0")/../.." && pwd)/.rig/asterisk-root}
MARKER="$ROOT/.rig-complete"
LOG="$(dirname "$ROOT")/debootstrap.log"

if [ "$(id -u)" -ne 0 ]; then
    echo "build-asterisk.sh: must run as root (debootstrap, chroot)" >&2
    exit 1
fi

fix_ownership() {
    # The package's asterisk user maps to another uid on the host; Asterisk
    # runs as root in the rig, and fails with "ASTdb initialization failed"
    # when these are not root's.
    mkdir -p "$ROOT/var/run/asterisk"
    for d in var/lib/asterisk var/log/asterisk var/spool/asterisk etc/asterisk var/run/asterisk; do
        mkdir -p "$ROOT/$d"
        chown -R root:root "$ROOT/$d"
    done
}

is_complete_build() {
    [ ! -d "$ROOT/debootstrap" ] && [ -x "$ROOT/usr/sbin/asterisk" ] &&
        chroot "$ROOT" asterisk -V >/dev/null 2>&1
}

if [ -f "$MARKER" ]; then
    fix_ownership
    echo "build-asterisk.sh: $ROOT is complete ($(cat "$MARKER"))"
    exit 0
fi

if [ -d "$ROOT" ] && is_complete_build; then
    fix_ownership
    chroot "$ROOT" asterisk -V >"$MARKER"
    echo "build-asterisk.sh: adopted the existing build in $ROOT ($(cat "$MARKER"))"
    exit 0
fi

if [ -e "$ROOT" ]; then
    echo "build-asterisk.sh: $ROOT is half-built; rebuilding it"
    if [ -e "$ROOT/proc/self" ]; then umount "$ROOT/proc"; fi
    rm -rf --one-file-system "$ROOT"
fi

mkdir -p "$(dirname "$ROOT")"
echo "build-asterisk.sh: debootstrap into $ROOT (log: $LOG)"
start=$(date +%s)
set +e
# shellcheck disable=SC2086
nice debootstrap --variant=minbase --include=asterisk,asterisk-modules \
    sid "$ROOT" ${DEBIAN_MIRROR:-} >"$LOG" 2>&1
rc=$?
set -e
echo "rc=$rc" >>"$LOG"
if [ "$rc" -ne 0 ]; then
    echo "build-asterisk.sh: debootstrap failed (rc=$rc); last lines of $LOG:" >&2
    tail -n 20 "$LOG" >&2
    exit 1
fi
fix_ownership
chroot "$ROOT" asterisk -V >"$MARKER"
echo "build-asterisk.sh: built $(cat "$MARKER") in $(( $(date +%s) - start )) s"
