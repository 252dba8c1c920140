"""The base of every request body and query model: the rules every text input obeys,
kept at one place so that no field and no later domain can forget them.

The rules (docs/api-guide.md, "Text"):

- no text holds a control character (U+0000-U+001F, U+007F-U+009F) or an unpaired
  surrogate: PostgreSQL text and JSONB cannot store NUL nor a surrogate (asyncpg
  refuses them with a 500 after half a request's work), and a control character in a
  one-line text would end up in a mail header or a log line;
- multi-line texts (declared `Text`: descriptions, comments, notes, reasons) may carry
  tab, line feed and carriage return; every other string is one line;
- a required text (no default, or a `min_length`) is not only white space.

How: every `str` in the core schema of an `InputModel` (its fields, the items of its
lists, the keys of its dicts, the models it nests) is wrapped in a before-validator
that runs one compiled regular expression (about 0.2 us per field; the ticket create
has six such fields). Free-form values (`Any`, `dict[str, Any]`, e.g. JSONB
attributes) are walked, which only costs where such a field is sent. The rules live in
the core schema, not in the JSON schema: the spec does not change.

Text in a path segment or a query parameter that no model reads is checked once per
request by `refuse_control_in_target` (routing.py calls it before matching).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, cast
from urllib.parse import parse_qsl

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, GetCoreSchemaHandler
from pydantic_core import CoreSchema, PydanticCustomError, core_schema
from starlette.routing import BaseRoute
from starlette.types import Scope

from app.core.errors import NotFound

# A one-line text: no C0 control (tab, LF and CR included), no DEL or C1 control, no
# unpaired surrogate (a pair is one code point in a Python str, so any surrogate left
# is unpaired).
_ONE_LINE_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# A multi-line text: the same, but tab, LF and CR are allowed.
_MULTILINE_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_MARK = "supportline_multiline"


class _Multiline:
    """Marks a string as multi-line text (tab, LF and CR allowed)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        schema = handler(source)
        metadata: dict[str, Any] = dict(schema.get("metadata") or {})
        metadata[_MARK] = True
        cast(dict[str, Any], schema)["metadata"] = metadata
        return schema


Text = Annotated[str, _Multiline()]
"""A multi-line text (description, comment, note, reason): may hold tab, LF and CR."""


def bad_character(value: str, multiline: bool) -> str | None:
    """The first character `value` may not hold, or None."""
    found = (_MULTILINE_BAD if multiline else _ONE_LINE_BAD).search(value)
    return None if found is None else found.group(0)


def _refusal(char: str, multiline: bool) -> PydanticCustomError:
    code = f"U+{ord(char):04X}"
    if 0xD800 <= ord(char) <= 0xDFFF:
        return PydanticCustomError(
            "string_unpaired_surrogate",
            "Text must not contain an unpaired surrogate ({character}).",
            {"character": code},
        )
    if char in "\t\n\r" and not multiline:
        return PydanticCustomError(
            "string_control_character",
            "A one-line text must not contain a line break or tab ({character}).",
            {"character": code},
        )
    return PydanticCustomError(
        "string_control_character",
        "Text must not contain the control character {character}.",
        {"character": code},
    )


_BLANK = PydanticCustomError("string_blank", "Text must not be blank (only white space).")


def _checker(multiline: bool, required: bool) -> Callable[[Any], Any]:
    bad = (_MULTILINE_BAD if multiline else _ONE_LINE_BAD).search

    def check(value: Any) -> Any:
        if type(value) is str:
            found = bad(value)
            if found is not None:
                raise _refusal(found.group(0), multiline)
            if required and (not value or value.isspace()):
                raise _BLANK
        return value

    return check


_CHECKERS = {(m, r): _checker(m, r) for m in (False, True) for r in (False, True)}
_OURS = frozenset(id(f) for f in _CHECKERS.values())


def _free_form(value: Any) -> Any:
    """A free-form value (JSON of any shape): every string obeys the multi-line rule,
    every key the one-line rule; the message says where the offender is."""
    where = _offender(value, "")
    if where is not None:
        path, char, multiline = where
        err = _refusal(char, multiline)
        raise PydanticCustomError(err.type, f"{path or 'value'}: {err.message()}")
    return value


def _offender(value: Any, path: str) -> tuple[str, str, bool] | None:
    if isinstance(value, str):
        char = bad_character(value, multiline=True)
        return None if char is None else (path, char, True)
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}[{key!r}]"
            if isinstance(key, str) and (char := bad_character(key, multiline=False)):
                return (here, char, False)
            if (found := _offender(item, here)) is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if (found := _offender(item, f"{path}[{i}]")) is not None:
                return found
    return None


_FREE_FORM_ID = id(_free_form)
# Schema members that hold one schema (or, for `tuple` and `chain`, a list of them).
_INNER = (
    "schema",
    "items_schema",
    "keys_schema",
    "values_schema",
    "extras_schema",
    "lax_schema",
    "strict_schema",
    "json_schema",
    "python_schema",
    "steps",
)
# Wrappers through which a field stays required (or not).
_TRANSPARENT = {
    "nullable",
    "function-before",
    "function-after",
    "function-wrap",
    "lax-or-strict",
    "json-or-python",
    "chain",
}
_FIELDS = {"model-field", "typed-dict-field", "dataclass-field"}


def _in_utc_range(value: datetime) -> datetime:
    """An aware instant that exists in UTC: `9999-12-31T23:59:59-14:00` is valid ISO 8601
    but falls in year 10000 once in UTC, where every later `astimezone` (and asyncpg)
    fails with a 500. Refused here, with the field named, for every model at once."""
    if value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise PydanticCustomError(
                "datetime_range", "The instant is out of range once in UTC (years 1 to 9999)."
            ) from None
    return value


_OURS_DATETIME = id(_in_utc_range)

# The same rule for an instant read by no model (a plain query parameter).
Instant = Annotated[datetime, AfterValidator(_in_utc_range)]


def _harden(node: Any, required: bool = False) -> Any:
    """The schema `node` with the text rules applied (in place where it can be)."""
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if kind == "str":
        mark = node.get("metadata", {}).get(_MARK, False)
        needed = required or node.get("min_length", 0) >= 1
        return core_schema.no_info_before_validator_function(_CHECKERS[(mark, needed)], node)
    if kind == "any":
        return core_schema.no_info_after_validator_function(_free_form, node)
    if kind == "datetime":
        return core_schema.no_info_after_validator_function(_in_utc_range, node)
    if kind in ("function-before", "function-after"):
        fn = node.get("function", {}).get("function")
        if id(fn) in _OURS or id(fn) in (_FREE_FORM_ID, _OURS_DATETIME):
            return node  # hardened already (a nested model seen again)
    if kind in _FIELDS:
        inner = node["schema"]
        node["schema"] = _harden(inner, required=inner.get("type") != "default")
        return node
    if kind == "model-fields":
        for field in node["fields"].values():
            _harden(field)
    elif kind == "dataclass-args":
        for field in node["fields"]:
            _harden(field)
    elif kind == "typed-dict":
        for field in node["fields"].values():
            _harden(field)
    elif kind == "union":
        node["choices"] = [
            (_harden(c[0]), c[1]) if isinstance(c, tuple) else _harden(c) for c in node["choices"]
        ]
    elif kind == "tagged-union":
        node["choices"] = {tag: _harden(c) for tag, c in node["choices"].items()}
    elif kind == "definitions":
        node["definitions"] = [_harden(d) for d in node["definitions"]]
    keep = required if kind in _TRANSPARENT else False
    for key in _INNER:
        if key not in node:
            continue
        inner = node[key]
        if isinstance(inner, list):
            node[key] = [_harden(i, keep) for i in inner]
        else:
            node[key] = _harden(inner, keep)
    return node


class InputModel(BaseModel):
    """Base of request bodies, query models and the parts they are made of."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[BaseModel], handler: GetCoreSchemaHandler, /
    ) -> CoreSchema:
        # Called once per model (and again where another model nests it: `_harden`
        # sees its own validators and leaves them).
        return _harden(handler(source))  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------
# Missing bodies


def accept_missing_bodies(routes: Iterable[BaseRoute]) -> None:
    """An operation whose JSON body is an InputModel with no required field (an action
    such as acknowledge or start, a PATCH) takes a missing body as `{}`. Not a PUT: a
    replacement is stated, never inferred from a body that got lost.

    FastAPI decides from the endpoint's signature: a body parameter without a default
    is required, and a request without a body gets "Field required". Giving the body
    parameter the empty model as its default (FastAPI copies it for each request) makes
    it optional, in the spec too (`requestBody.required` goes), for every route of
    every domain, present and future, without a line in their routers."""
    for route in routes:
        field = getattr(route, "body_field", None)
        if (
            not isinstance(route, APIRoute)
            or field is None
            or len(route.dependant.body_params) != 1
        ):
            continue
        model = field.field_info.annotation
        if not (isinstance(model, type) and issubclass(model, InputModel)):
            continue
        if (
            "PUT" in (route.methods or ())
            or not field.field_info.is_required()
            or any(f.is_required() for f in model.model_fields.values())
        ):
            continue
        field.field_info.default = model()


# ---------------------------------------------------------------------------------
# Path and query text outside any model


# What a raw query string may not hold: a C0 control or DEL as such or percent-escaped,
# or the escaped two-byte UTF-8 of a C1 control. (Invalid UTF-8, surrogates included,
# is decoded to U+FFFD, which is allowed.)
_QUERY_BAD = re.compile(rb"[\x00-\x1f\x7f]|%(?:[01][0-9A-Fa-f]|7[Ff]|[Cc]2%[89][0-9A-Fa-f])")


def refuse_control_in_target(scope: Scope) -> None:
    """A control character in the decoded path is a 404 (no resource has such a name);
    in a query parameter, a 422 naming it. Cheap when clean: one regex over the path,
    one over the raw query; the query is parsed only on a hit, to name the parameter."""
    if bad_character(scope["path"], multiline=False) is not None:
        raise NotFound("No resource has this path (it holds a control character).")
    raw: bytes = scope.get("query_string", b"")
    if not raw or _QUERY_BAD.search(raw) is None:
        return
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        for text in (name, value):
            char = bad_character(text, multiline=False)
            if char is not None:
                err = _refusal(char, multiline=False)
                raise RequestValidationError(
                    [{"loc": ("query", name), "msg": err.message(), "type": err.type}]
                )
