"""HTTP helpers of the spare-parts tests: a part, a warehouse and a receipt into stock,
each made over the API (the tests of every parts area import them)."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx

_seq = itertools.count(1)


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6].upper()}{next(_seq)}"


async def make_part(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    """A part with a new number each call: an active, unserialised switch part costing
    100.00 unless `overrides` say otherwise."""
    body: dict[str, Any] = {
        "number": _unique("P-"),
        "name": "交流电源模块",
        "name_en": "AC power module",
        "unit_cost": "100.00",
        "fits": [{"product_family": "switch", "model": ""}],
        **overrides,
    }
    r = await client.post("/v1/parts", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def make_warehouse(
    client: httpx.AsyncClient, headers: dict[str, str], branch_id: Any, **overrides: Any
) -> dict[str, Any]:
    """A warehouse of `branch_id` with a new code each call (kind branch unless given;
    a customer_site one needs `contract_id=`)."""
    body: dict[str, Any] = {
        "code": _unique("WH-"),
        "name": "分公司备件库",
        "kind": "branch",
        "branch_id": str(branch_id),
        "address": "上海市浦东新区张江路 88 号",
        **overrides,
    }
    r = await client.post("/v1/warehouses", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def receive(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    part_id: Any,
    warehouse_id: Any,
    quantity: int,
    serials: list[str] | None = None,
    loaner: bool = False,
) -> dict[str, Any]:
    """Units received from a supplier into a warehouse (POST /v1/stock/receipts)."""
    body: dict[str, Any] = {
        "part_id": str(part_id),
        "warehouse_id": str(warehouse_id),
        "quantity": quantity,
        "loaner": loaner,
    }
    if serials is not None:
        body["serials"] = serials
    r = await client.post("/v1/stock/receipts", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())
