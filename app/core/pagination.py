"""Cursor pagination: opaque cursors over a unique, stable ordering key."""

from __future__ import annotations

import base64
import uuid
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel, Field

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


def encode_cursor(last: uuid.UUID | str) -> str:
    """The ordering key of a page's last item, opaque to clients: an id, or the code of
    a list ordered by code."""
    return base64.urlsafe_b64encode(orjson.dumps([str(last)])).decode().rstrip("=")


def _cursor_value(cursor: str) -> str:
    padded = cursor + "=" * (-len(cursor) % 4)
    data = orjson.loads(base64.urlsafe_b64decode(padded))
    if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], str):
        raise ValueError("not a cursor")
    return data[0]


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(_cursor_value(cursor))
    except Exception as exc:
        raise BadRequest("The cursor is not valid.", param="cursor") from exc


def decode_code_cursor(cursor: str) -> str:
    try:
        value = _cursor_value(cursor)
    except Exception as exc:
        raise BadRequest("The cursor is not valid.", param="cursor") from exc
    if not value or len(value) > 64 or not value.isprintable():
        raise BadRequest("The cursor is not valid.", param="cursor")
    return value


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


class CodePageParams(InputModel):
    """Paging of a list ordered by a unique code (the catalogue, branches, policies):
    `after` is the code of the previous page's last item."""

    limit: int
    after: str | None


async def code_page_params(
    limit: Annotated[
        int | None, Query(ge=1, description="Page size (capped by MAX_PAGE_SIZE).")
    ] = None,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> CodePageParams:
    settings = get_settings()
    size = min(limit or settings.default_page_size, settings.max_page_size)
    return CodePageParams(limit=size, after=decode_code_cursor(cursor) if cursor else None)


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


M = TypeVar("M", bound=BaseModel)


def page_of(model: type[M], rows: Page[Any]) -> Page[M]:
    """A page of records (ORM rows or mappings) as a page of `model`s, validated one by
    one from their attributes; the cursor is kept."""
    items = [model.model_validate(r) for r in rows.items]
    return Page[model](items=items, next_cursor=rows.next_cursor)  # type: ignore[valid-type]


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
