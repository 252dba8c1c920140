#!/usr/bin/env bash
# Prometheus Alertmanager from Debian's packages, the monitoring that posts to
# `POST /v1/hooks/{key}` (issue 13, item 4), for tests/workers/test_alertmanager.py.
# Called by .ci/run before the tests.
#   bash .ci/alertmanager.sh         install it if missing; leave no Alertmanager service
#                                    running; idempotent
#   bash .ci/alertmanager.sh check   only say whether the binary is there (exit 1 if not)
# Nothing is configured or started here: the test starts its own Alertmanager process
# (its own configuration, storage in a temporary directory, free ports, no cluster
# gossip). The package's system service would listen on :9093 and :9094 and send to
# nobody, so it is kept from starting while the package installs (policy-rc.d, when the
# machine has none) and stopped and disabled afterwards, on systemd and on init scripts.
# Needs root, or sudo without a password (sudo -n: never a prompt that hangs CI).
set -euo pipefail

PACKAGE=prometheus-alertmanager
BINARY=/usr/bin/prometheus-alertmanager
SERVICE=prometheus-alertmanager
POLICY=/usr/sbin/policy-rc.d
# apt-get waits for another dpkg at most this long, and gives up on a silent mirror.
APT_OPTS=(-q -o DPkg::Lock::Timeout=120 -o Acquire::Retries=3 -o Acquire::http::Timeout=30
    -o Acquire::https::Timeout=30 -o Dpkg::Options::=--force-confdef
    -o Dpkg::Options::=--force-confold)
export PATH="$PATH:/usr/sbin:/sbin"

log() { printf '[alertmanager %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}

installed() {
    [[ $(dpkg-query -W -f='${Status}' "$PACKAGE" 2>/dev/null) == "install ok installed" ]] &&
        [[ -x $BINARY ]]
}

version() { "$BINARY" --version 2>&1 | head -n 1; }

OUR_POLICY=""
drop_policy() {
    if [[ -n $OUR_POLICY ]]; then
        as_root rm -f "$POLICY"
        OUR_POLICY=""
    fi
}

install_alertmanager() {
    installed && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        log "Alertmanager is not installed and there is no apt-get (not Debian): install it, or set CI_ALERTMANAGER=skip"
        return 1
    fi
    log "installing $PACKAGE from Debian's packages"
    # invoke-rc.d asks policy-rc.d whether it may start a service: 101 is "no". Only a
    # policy of ours, and only for the install (a machine's own policy stays as it is).
    if [[ ! -e $POLICY ]]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$POLICY" >/dev/null
        as_root chmod 755 "$POLICY"
        OUR_POLICY=yes
        trap drop_policy EXIT
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y \
        --no-install-recommends "$PACKAGE"
    drop_policy
    installed
}

systemd_running() { [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; }

stop_service() {
    if systemd_running; then
        if systemctl is-active --quiet "$SERVICE" || systemctl is-enabled --quiet "$SERVICE" 2>/dev/null; then
            as_root systemctl disable --now "$SERVICE"
            log "the $SERVICE service is stopped and disabled (systemd)"
        fi
    elif [[ -x /etc/init.d/$SERVICE ]]; then
        if as_root /etc/init.d/"$SERVICE" status >/dev/null 2>&1; then
            as_root /etc/init.d/"$SERVICE" stop
            log "the $SERVICE service is stopped (init script)"
        fi
        # No start at the next boot either (a no-op when it is disabled already).
        if command -v update-rc.d >/dev/null 2>&1; then
            as_root update-rc.d "$SERVICE" disable >/dev/null 2>&1 || true
        fi
    fi
    # What the service runs as; the test's own processes are never running yet here.
    if pgrep -u prometheus -f "^$BINARY" >/dev/null 2>&1; then
        log "an Alertmanager of user prometheus still runs (pid $(pgrep -u prometheus -f "^$BINARY" | tr '\n' ' ')): the test uses free ports, but stop it"
    fi
}

start() {
    install_alertmanager
    stop_service
    log "$(version) at $BINARY; no service running (the test starts its own)"
}

check() {
    if installed; then
        log "$(version) at $BINARY"
    else
        log "$PACKAGE is not installed (bash .ci/alertmanager.sh installs it)"
        return 1
    fi
}

case "${1:-start}" in
start) start ;;
check) check ;;
*)
    echo "usage: $0 [start|check]" >&2
    exit 2
    ;;
esac
