#!/usr/bin/env bash
# Smoke test of `make run` on embedded servers (DATABASE_URL / REDIS_URL unset):
#   start it in its own process group with a fresh DATA_DIR, wait for /readyz = 200,
#   read the demo admin key from DATA_DIR/demo-keys.txt, GET /v1/me with it,
#   stop it with SIGINT (as Ctrl-C does) and check that the API, the worker and the
#   embedded PostgreSQL and Redis are all gone. Then once more on the same DATA_DIR
#   (a restart: data kept, demo not loaded twice, the same key still works).
# Needs `make install` done (uses .venv/bin/python for HTTP and process checks).
set -euo pipefail
cd "$(dirname "$0")/.."

READY_TIMEOUT=${READY_TIMEOUT:-120}
STOP_TIMEOUT=${STOP_TIMEOUT:-60}
PY=.venv/bin/python

unset DATABASE_URL REDIS_URL
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sl-smoke.XXXXXX")
export DATA_DIR="$WORK/data"
export PORT=${SMOKE_PORT:-$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
export HOST=127.0.0.1
BASE="http://127.0.0.1:$PORT"
PGID=""

log() { printf '[smoke %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# Every process that belongs to this run: the process group of `make run`, and anything
# whose working directory or command line mentions DATA_DIR (the embedded PostgreSQL
# chdirs into its data directory, redis-server into its dbdir).
leftovers() {
    $PY - "$DATA_DIR" "${PGID:-0}" <<'EOF'
import os, sys
import psutil
data_dir, pgid = sys.argv[1], int(sys.argv[2])
me = os.getpid()
for p in psutil.process_iter(["pid", "name", "cmdline", "cwd"]):
    if p.info["pid"] in (me, os.getppid()):
        continue
    try:
        in_group = pgid > 0 and os.getpgid(p.info["pid"]) == pgid
    except OSError:
        continue
    cmd = " ".join(p.info["cmdline"] or [])
    cwd = p.info["cwd"] or ""
    if p.status() == psutil.STATUS_ZOMBIE:
        continue
    if in_group or data_dir in cmd or cwd.startswith(data_dir):
        print(f'{p.info["pid"]} {p.info["name"]} {cmd[:160]}')
EOF
}

cleanup() {
    local rc=$?
    if [[ -n "$PGID" ]] && kill -0 -- "-$PGID" 2>/dev/null; then
        log "cleanup: killing process group $PGID"
        kill -KILL -- "-$PGID" 2>/dev/null || true
    fi
    # Last resort for servers that daemonised out of the group.
    for pid in $(leftovers | awk '{print $1}'); do kill -KILL "$pid" 2>/dev/null || true; done
    if [[ $rc -ne 0 && -f "$WORK/run.log" ]]; then
        echo "----- make run output (last 80 lines) -----"
        tail -n 80 "$WORK/run.log" || true
        echo "-------------------------------------------"
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

http_get() { # url [api key] -> prints "<status> <body>"
    $PY - "$@" <<'EOF'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1])
if len(sys.argv) > 2:
    req.add_header("Authorization", f"Bearer {sys.argv[2]}")
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
except Exception as e:
    print(0, type(e).__name__)
EOF
}

one_run() { # label
    local label=$1 t0 started status body key
    : >"$WORK/run.log"
    t0=$(date +%s)
    setsid make run >>"$WORK/run.log" 2>&1 &
    PGID=$!
    log "$label: make run started (pgid $PGID, port $PORT, DATA_DIR $DATA_DIR)"

    started=""
    while (($(date +%s) - t0 < READY_TIMEOUT)); do
        if ! kill -0 "$PGID" 2>/dev/null; then
            log "$label: make run exited before it was ready"
            return 1
        fi
        read -r status body < <(http_get "$BASE/readyz")
        if [[ "$status" == 200 ]]; then
            started=yes
            break
        fi
        sleep 1
    done
    [[ -n "$started" ]] || { log "$label: /readyz not 200 within ${READY_TIMEOUT}s (last: $status $body)"; return 1; }
    log "$label: /readyz = 200 after $(($(date +%s) - t0))s: $body"

    # `supportline dev` prints the docs URL once the API is ready.
    for _ in $(seq 1 20); do grep -q "$BASE/docs" "$WORK/run.log" && break; sleep 0.5; done
    grep -q "$BASE/docs" "$WORK/run.log" || { log "$label: the docs URL was not printed"; return 1; }

    [[ -s "$DATA_DIR/demo-keys.txt" ]] || { log "$label: $DATA_DIR/demo-keys.txt missing"; return 1; }
    key=$(awk '$1 == "admin" { print $2; exit }' "$DATA_DIR/demo-keys.txt")
    [[ -n "$key" ]] || { log "$label: no admin key in demo-keys.txt"; return 1; }
    read -r status body < <(http_get "$BASE/v1/me" "$key")
    [[ "$status" == 200 && "$body" == *'"role":"admin"'* ]] || { log "$label: GET /v1/me -> $status $body"; return 1; }
    log "$label: GET /v1/me = 200 with the demo admin key"
    read -r status body < <(http_get "$BASE/v1/me")
    [[ "$status" == 401 ]] || { log "$label: GET /v1/me without a key -> $status (want 401)"; return 1; }

    log "$label: sending SIGINT to the process group (Ctrl-C)"
    local t1
    t1=$(date +%s)
    kill -INT -- "-$PGID"
    local rest=""
    while (($(date +%s) - t1 < STOP_TIMEOUT)); do
        rest=$(leftovers)
        [[ -z "$rest" ]] && break
        sleep 0.5
    done
    if [[ -n "$rest" ]]; then
        log "$label: still running ${STOP_TIMEOUT}s after SIGINT:"
        echo "$rest"
        return 1
    fi
    wait "$PGID" 2>/dev/null || true
    PGID=""
    grep -q "Stopped." "$WORK/run.log" || { log "$label: no 'Stopped.' in the output"; return 1; }
    log "$label: everything stopped $(($(date +%s) - t1))s after SIGINT (run total $(($(date +%s) - t0))s)"
}

one_run "first start"
grep -q "Demo data loaded" "$WORK/run.log" || { log "demo data was not loaded on the first start"; exit 1; }
cp "$DATA_DIR/demo-keys.txt" "$WORK/keys.first"

one_run "restart"
grep -q "Demo data already loaded" "$WORK/run.log" || { log "demo data loaded twice"; exit 1; }
cmp -s "$DATA_DIR/demo-keys.txt" "$WORK/keys.first" || { log "demo-keys.txt changed on restart"; exit 1; }
log "smoke test passed"
