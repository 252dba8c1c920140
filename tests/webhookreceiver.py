"""A live webhook receiver for tests and benchmarks: a small ASGI app served by uvicorn
on a free local port, in a background thread (so it serves while the test's own event
loop, or a synchronous benchmark, waits).

    with Receiver(secrets=[secret]) as rx:          # or rx.start() ... rx.stop()
        rx.script(Reply(500), Reply(200))           # then the default (200) for the rest
        ... point a subscription at rx.url ...
        await rx.wait_for(2)                        # (or rx.wait_for_sync(2))
        [first, second] = rx.requests
        assert second.verified_by == [secret]       # standardwebhooks checked it
        assert rx.by_id()[second.webhook_id] == [first, second]

API:
- `Receiver(secrets=(), host="127.0.0.1", default=Reply(), tls=None)`: `secrets` are the
  signing secrets each request is checked against (settable later through
  `rx.secrets`); `tls=(certfile, keyfile)` serves https.
- `rx.url` (`http://127.0.0.1:<port>/hook`), `rx.url_for(path, host=None)`, `rx.port`.
- `rx.script(*replies, path=None)`: answer the next requests (to `path`, or to any path)
  with these, in order; once used up, `default`. `Reply(status=200, headers={},
  body=b'{"ok":true}', delay=0.0, drip=0, drip_chunk=b"x", drip_every=0.0)`: `delay`
  seconds before answering; `drip` bytes more after the body, a chunk at a time
  (`rx.dripped` counts what was handed over).
- `rx.requests` (a copy, in arrival order): each a `Received` with `path`, `headers`
  (lower-case names), `body` (bytes), `json()`, `webhook_id`, `timestamp` (int),
  `signatures` (the `v1,...` entries), `verified_by` (which of the secrets produced one
  of the signatures, computed by the `standardwebhooks` package), `verify(secret,
  strict=False)` (strict: the package's full `Webhook.verify`, timestamp tolerance
  against the wall clock included), `at` (time.monotonic() of arrival) and `reply`
  (the Reply it got).
- `rx.by_id()`: requests grouped by `webhook-id` (a receiver de-duplicates on it);
  `rx.ids()`: the distinct ids; `rx.count()`; `rx.clear()`.
- `await rx.wait_for(n, timeout=10)` / `rx.wait_for_sync(n, timeout=10)`: until `n`
  requests arrived (AssertionError after the timeout).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from standardwebhooks import Webhook


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok":true}'
    delay: float = 0.0
    # After `body`, `drip` more bytes, one chunk of `drip_chunk` every `drip_every`
    # seconds (chunked, no length): an endless or trickling answer. The sender must stop
    # reading; uvicorn drops what is sent once the connection is closed.
    drip: int = 0
    drip_chunk: bytes = b"x"
    drip_every: float = 0.0


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    reply: Reply
    verified_by: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    @property
    def timestamp(self) -> int:
        return int(self.headers.get("webhook-timestamp", "0") or 0)

    @property
    def signatures(self) -> list[str]:
        return [s for s in self.headers.get("webhook-signature", "").split(" ") if s]

    def verify(self, secret: str, strict: bool = False) -> bool:
        """Whether `secret` made one of the signatures. `strict`: the package's own
        `verify` (which also wants the timestamp within 5 minutes of the wall clock)."""
        wh = Webhook(secret)
        if strict:
            try:
                wh.verify(self.body, self.headers)
            except Exception:
                return False
            return True
        if not self.webhook_id or not self.timestamp:
            return False
        at = datetime.fromtimestamp(self.timestamp, UTC)
        return wh.sign(self.webhook_id, at, self.body) in self.signatures


class Receiver:
    def __init__(
        self, secrets: list[str] | tuple[str, ...] = (), host: str = "127.0.0.1",
        default: Reply | None = None, tls: tuple[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.secrets = list(secrets)
        self.host = host
        self.tls = tls  # (certificate file, key file): served over https
        self.dripped = 0  # bytes of `Reply.drip` handed to the server so far
        self.default = default or Reply()
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        self._scripts: dict[str | None, deque[Reply]] = {}
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- life ---------------------------------------------------------------------------

    def start(self) -> Receiver:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(512)
        self._sock = sock
        config = uvicorn.Config(
            self._app, interface="asgi3", log_level="warning", lifespan="off", access_log=False,
            timeout_keep_alive=30, ssl_certfile=self.tls[0] if self.tls else None,
            ssl_keyfile=self.tls[1] if self.tls else None,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._sock is not None, "not started"
        return int(self._sock.getsockname()[1])

    def url_for(self, path: str = "/hook", host: str | None = None) -> str:
        """The URL of `path`, naming the receiver's address (or `host`, a name that
        resolves to it)."""
        host = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    @property
    def url(self) -> str:
        return self.url_for("/hook")

    # --- scripting and reading ------------------------------------------------------------

    def script(self, *replies: Reply, path: str | None = None) -> None:
        with self._lock:
            self._scripts.setdefault(path, deque()).extend(replies)

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    def count(self) -> int:
        with self._lock:
            return len(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._scripts.clear()

    def by_id(self) -> dict[str, list[Received]]:
        out: dict[str, list[Received]] = {}
        for r in self.requests:
            out.setdefault(r.webhook_id, []).append(r)
        return out

    def ids(self) -> set[str]:
        return set(self.by_id())

    async def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while self.count() < n:
            assert time.monotonic() < deadline, f"{self.count()} of {n} requests arrived"
            await asyncio.sleep(0.02)
        return self.requests

    def wait_for_sync(self, n: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while self.count() < n:
            assert time.monotonic() < deadline, f"{self.count()} of {n} requests arrived"
            time.sleep(0.02)
        return self.requests

    # --- the ASGI app -----------------------------------------------------------------------

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            for key in (path, None):
                queue = self._scripts.get(key)
                if queue:
                    return queue.popleft()
        return self.default

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        reply = self._next_reply(path)
        received = Received(scope["method"], path, headers, b"".join(chunks), time.monotonic(),
                            reply)  # fmt: skip
        received.verified_by = [s for s in self.secrets if received.verify(s)]
        with self._lock:
            self._requests.append(received)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        out_headers = [(b"content-type", b"application/json")]
        out_headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status,
                    "headers": out_headers})  # fmt: skip
        await send(
            {"type": "http.response.body", "body": reply.body, "more_body": bool(reply.drip)}
        )
        sent = 0
        while sent < reply.drip:
            chunk = reply.drip_chunk[: reply.drip - sent]
            sent += len(chunk)
            await send({"type": "http.response.body", "body": chunk,
                        "more_body": sent < reply.drip})  # fmt: skip
            await asyncio.sleep(reply.drip_every)
            with self._lock:
                self.dripped += len(chunk)
