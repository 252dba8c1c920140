"""Liveness, readiness (PostgreSQL and Redis answer) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.core.db import get_engine
from app.core.metrics import render
from app.core.queue import redis_ping

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="getHealth", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="getReadiness",
    summary="Readiness: PostgreSQL and Redis answer",
    responses={503: {"description": "A dependency does not answer."}},
)
async def readyz() -> JSONResponse:
    checks: dict[str, Any] = {}

    async def db() -> None:
        async with get_engine().connect() as conn:
            await conn.execute(text("SELECT 1"))

    for name, probe in (("postgres", db), ("redis", redis_ping)):
        try:
            await asyncio.wait_for(probe(), timeout=2.0)
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )


@router.get(
    "/metrics", operation_id="getMetrics", summary="Prometheus metrics", response_class=Response
)
async def metrics() -> Response:
    body, content_type = render()
    return Response(body, media_type=content_type)
