"""Placeholder: the callbacks and surveys API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["callbacks"])
ROUTERS = [router]
