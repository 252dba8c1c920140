"""Placeholder: filled by its area."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["mail"])
