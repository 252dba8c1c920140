"""The development webhook receiver of `supportline dev` (`make run`): an HTTP server in
the `dev` process (a thread of its own) that the demo's outbound subscription delivers
to, so a developer sees what Supportline sends without a receiving system. Every
request is one JSON line in DATA_DIR/webhooks.jsonl: when it came, the method and path,
the headers, the body (as JSON when it is JSON) and whether its Standard Webhooks
signature verified with a secret the receiver knows (the demo subscription's, and any
in DEV_WEBHOOK_SECRETS). `tail -f .data/webhooks.jsonl | jq .` follows them.

It answers 204 to everything, a bad signature too (said in its line, and on stderr):
it shows what arrives; a 401 would only make the sender retry and, after days of it,
disable the demo subscription. A real receiver must refuse it (docs/api-guide.md).

Development only: it listens on 127.0.0.1, at a fixed port (DEV_WEBHOOK_PORT, default
8091) because the demo subscription's URL is written once, when the demo loads."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from app.hooks.signing import SignatureError, verify

HOST = "127.0.0.1"
DEFAULT_PORT = 8091
PATH = "/webhooks"
# The demo subscription's signing secret (`whsec_` + base64 of 32 bytes): known on
# purpose, so this receiver can verify what the demo sends. Development data only.
DEMO_SECRET = "whsec_c3VwcG9ydGxpbmUtZGVtby13ZWJob29rLXNlY3JldCE="  # noqa: S105
# A signed request older or newer than this is reported as such (as the API's inbound
# check does, HOOK_TIMESTAMP_TOLERANCE_SECONDS' default).
TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 4 * 1024 * 1024


def dev_port() -> int:
    return int(os.environ.get("DEV_WEBHOOK_PORT") or DEFAULT_PORT)


def dev_url(port: int | None = None) -> str:
    """Where the demo subscription delivers: this receiver, as `make run` starts it."""
    return f"http://{HOST}:{port or dev_port()}{PATH}"


def known_secrets() -> list[str]:
    extra = os.environ.get("DEV_WEBHOOK_SECRETS", "").split()
    return [DEMO_SECRET, *extra]


def check_signature(secrets: Iterable[str], headers: dict[str, str], body: bytes) -> str:
    """`valid`, `unsigned` (no webhook-signature header) or `invalid: <why>`."""
    if "webhook-signature" not in headers:
        return "unsigned"
    try:
        verify(secrets, headers, body, datetime.now(UTC), TOLERANCE_SECONDS)
    except SignatureError as exc:
        return f"invalid: {exc}"
    return "valid"


class _Handler(BaseHTTPRequestHandler):
    server: DevWebhookServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the sender's connection pool expects
    timeout = 60  # an idle kept-alive connection frees its thread after this

    def do_POST(self) -> None:
        self._receive()

    def do_PUT(self) -> None:
        self._receive()

    def _receive(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            self._answer(413)
            return
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        signature = check_signature(self.server.receiver.secrets, headers, body)
        self.server.receiver.record(
            {
                "received_at": datetime.now(UTC).isoformat(),
                "method": self.command,
                "path": self.path,
                "signature": signature,
                "headers": headers,
                "body": _body(body),
            }
        )
        if signature.startswith("invalid"):
            print(f"dev webhook receiver: {headers.get('webhook-id')}: {signature}",
                  file=sys.stderr, flush=True)  # fmt: skip
        self._answer(204)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the JSON lines are the log."""


def _body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


class DevWebhookServer(ThreadingHTTPServer):
    daemon_threads = True
    # The sender opens up to WEBHOOK_CONCURRENCY connections at once (a burst after the
    # demo loads): socketserver's backlog of 5 would drop some (read errors, retries).
    request_queue_size = 128

    def __init__(self, receiver: DevWebhookReceiver, address: tuple[str, int]) -> None:
        self.receiver = receiver
        super().__init__(address, _Handler)


class DevWebhookReceiver:
    """`start()` binds HOST:port (OSError when it is taken) and serves in a thread;
    `stop()` closes it. Each delivery is appended to `path` as one JSON line."""

    def __init__(self, path: Path, port: int | None = None, host: str = HOST) -> None:
        self.path = path
        self.host = host
        self.port = port if port is not None else dev_port()
        self.secrets = known_secrets()
        self._lock = threading.Lock()
        self._server: DevWebhookServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{PATH}"

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        server = DevWebhookServer(self, (self.host, self.port))
        self.port = int(server.server_address[1])  # port 0: the one the system chose
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="dev-webhook-receiver", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def record(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
