"""Cursor pagination: opaque cursors over a unique, stable ordering key."""

from __future__ import annotations

import base64
import uuid
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import Field

from app.core.config import get_settings
from app.core.errors import BadRequest
from app.core.inputs import InputModel
from app.core.outputs import OutputModel

T = TypeVar("T")


class Page(OutputModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` to get the next page; null on the last page."
    )


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([str(last_id)])).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded))
        return uuid.UUID(data[0])
    except Exception as exc:
        raise BadRequest("The cursor is not valid.", param="cursor") from exc


class PageParams(InputModel):
    limit: int
    after: uuid.UUID | None


async def page_params(
    limit: Annotated[
        int | None, Query(ge=1, description="Page size (capped by MAX_PAGE_SIZE).")
    ] = None,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> PageParams:
    settings = get_settings()
    size = min(limit or settings.default_page_size, settings.max_page_size)
    return PageParams(limit=size, after=decode_cursor(cursor) if cursor else None)


class PageQuery(InputModel):
    """The paging part of a list's query model (`Annotated[Model, Query()]`): one
    validation for every query parameter of a hot list, where separate parameters cost
    FastAPI a walk over each one's annotation per request."""

    limit: int | None = Field(None, ge=1, description="Page size (capped by MAX_PAGE_SIZE).")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")

    def page(self) -> PageParams:
        settings = get_settings()
        size = min(self.limit or settings.default_page_size, settings.max_page_size)
        return PageParams(limit=size, after=decode_cursor(self.cursor) if self.cursor else None)


def make_page(rows: list[T], limit: int, key: str = "id") -> Page[T]:
    """`rows` must be fetched with `limit + 1` to know whether a next page exists."""
    has_more = len(rows) > limit
    items = rows[:limit]
    next_cursor = encode_cursor(getattr(items[-1], key)) if has_more and items else None
    return Page[T](items=items, next_cursor=next_cursor)


def page_json(rows: list[dict[str, Any]], limit: int, key: str = "id") -> bytes:
    """A page as JSON bytes straight from plain row dicts, for the hot lists: orjson
    instead of validating each row into a model and serialising it again (about ten
    times cheaper per page). The list endpoint still declares its `Page[...]` model
    for the spec, and a test checks the bytes against it. `default=str` covers asyncpg's
    own UUID type; timestamps come out as pydantic writes them (`...Z`)."""
    has_more = len(rows) > limit
    items = rows[:limit]
    next_cursor = encode_cursor(items[-1][key]) if has_more and items else None
    return orjson.dumps(
        {"items": items, "next_cursor": next_cursor}, option=orjson.OPT_UTC_Z, default=str
    )
