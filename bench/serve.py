"""Serve a bench ASGI app with exactly the uvicorn options of `supportline serve`
(app/cli.py cmd_serve), so the ceiling and the floor run under the same server
configuration as the real API.

    python -m bench.serve bench.ceiling_app:app --port 8101 --workers 2
"""

from __future__ import annotations

import argparse
import logging

import uvicorn


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("app")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    uvicorn.run(
        a.app,
        host=a.host,
        port=a.port,
        workers=a.workers,
        access_log=False,
        proxy_headers=True,
        log_config=None,
    )


if __name__ == "__main__":
    main()
