#!/usr/bin/env bash
# Postfix from Debian's packages, the MTA users run in front of `supportline mail-in`
# (issue 12, item 5), for tests/workers/test_mail_postfix.py. Called by .ci/run before
# the tests.
#   bash .ci/postfix.sh          install it if missing, configure it, start it (or reload
#                                it when it runs already); idempotent
#   bash .ci/postfix.sh stop     stop it
# The configuration (postconf -e), for a test and nothing else: no inet service at all
# (no smtpd on port 25: mail enters only through /usr/sbin/sendmail and the pickup
# service), loopback only, nothing leaves the machine (the default and relay transports
# are `error`), $POSTFIX_TEST_DOMAIN relayed to lmtp:inet:127.0.0.1:$POSTFIX_LMTP_PORT,
# the log in $POSTFIX_LOG (maillog_file: containers have no syslog, and the test reads
# what Postfix did there). It rewrites the machine's Postfix configuration (main.cf is
# saved once as main.cf.supportline-orig): for CI machines and throwaway containers.
# Needs root, or sudo without a password (sudo -n: never a prompt that hangs CI).
set -euo pipefail

DOMAIN=${POSTFIX_TEST_DOMAIN:-supportline.local}
PORT=${POSTFIX_LMTP_PORT:-18024}
LOG=${POSTFIX_LOG:-/var/log/postfix.log}
MYHOSTNAME=${POSTFIX_HOSTNAME:-mx.supportline.test}
TRANSPORT=/etc/postfix/supportline_transport
# apt-get waits for another dpkg at most this long, and gives up on a silent mirror.
APT_OPTS=(-q -o DPkg::Lock::Timeout=120 -o Acquire::Retries=3 -o Acquire::http::Timeout=30
    -o Acquire::https::Timeout=30 -o Dpkg::Options::=--force-confdef
    -o Dpkg::Options::=--force-confold)
export PATH="$PATH:/usr/sbin:/sbin"

log() { printf '[postfix %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}

installed() {
    [[ $(dpkg-query -W -f='${Status}' postfix 2>/dev/null) == "install ok installed" ]] &&
        [[ -x /usr/sbin/postfix ]]
}

install_postfix() {
    installed && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        log "Postfix is not installed and there is no apt-get (not Debian): install it, or set CI_POSTFIX=skip"
        return 1
    fi
    log "installing Postfix from Debian's packages"
    # Debconf answered beforehand: the package's own questions never wait for a terminal.
    printf '%s\n' "postfix postfix/main_mailer_type select Local only" \
        "postfix postfix/mailname string $MYHOSTNAME" | as_root debconf-set-selections
    as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y \
        --no-install-recommends postfix
    installed
}

configure() {
    [[ -e /etc/postfix/main.cf.supportline-orig ]] ||
        as_root cp -p /etc/postfix/main.cf /etc/postfix/main.cf.supportline-orig
    as_root postconf -e \
        "myhostname = $MYHOSTNAME" \
        "mydestination = localhost" \
        "inet_interfaces = loopback-only" \
        "inet_protocols = ipv4" \
        "master_service_disable = inet" \
        "relayhost =" \
        "relay_domains = $DOMAIN" \
        "transport_maps = hash:$TRANSPORT" \
        "default_transport = error" \
        "relay_transport = error" \
        "smtputf8_enable = yes" \
        "maillog_file = $LOG"
    # maillog_file is written by the postlog service (in Debian's master.cf; added if not).
    if [[ -z $(as_root postconf -M postlog/unix-dgram) ]]; then
        as_root postconf -Me "postlog/unix-dgram = postlog unix-dgram n - n - 1 postlogd"
    fi
    local route="$DOMAIN lmtp:inet:127.0.0.1:$PORT"
    if [[ ! -f $TRANSPORT || $(as_root cat "$TRANSPORT") != "$route" ]]; then
        printf '%s\n' "$route" | as_root tee "$TRANSPORT" >/dev/null
    fi
    as_root postmap "hash:$TRANSPORT"
    as_root postfix check
}

running() { as_root postfix status >/dev/null 2>&1; }

start() {
    install_postfix
    configure
    if running; then
        log "running already: reloading the configuration"
        as_root postfix reload
    else
        # Debian's init scripts prepare the chroot (resolv.conf, ...) with this first.
        if [[ -x /usr/lib/postfix/configure-instance.sh ]]; then
            as_root /usr/lib/postfix/configure-instance.sh -
        fi
        as_root postfix start
    fi
    # Started when the queue can be read: the test step must find it serving.
    local i
    for i in $(seq 1 60); do
        if postqueue -j >/dev/null 2>&1; then
            log "Postfix $(postconf -h mail_version) running: $DOMAIN -> lmtp:inet:127.0.0.1:$PORT, log $LOG"
            return 0
        fi
        sleep 0.5
    done
    log "Postfix did not start: its queue cannot be read (see $LOG)"
    return 1
}

stop() {
    if ! installed; then
        log "not installed: nothing to stop"
    elif running; then
        as_root postfix stop
        log "stopped"
    else
        log "not running"
    fi
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
*)
    echo "usage: $0 [start|stop]" >&2
    exit 2
    ;;
esac
