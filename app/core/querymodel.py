"""Query models read by one dependency: `Depends(query_model(Model))`.

Why: FastAPI (0.16x) reads a query model (`Annotated[Model, Query()]`) by walking every
field's annotation twice per request to learn whether it is a list, which for the
ticket list's fifteen filters was a fifth of the request's CPU (bench/README.md, "The
cost of a request"). Here the list fields are found once, when the route is declared,
and a request is one dict of strings validated by the model's own validator.

What the client sees is unchanged: the same values reach the model (a list field gets
every repetition of its parameter, a scalar the first; an absent parameter or an empty
list is left to the field's default; other parameters follow the model's `extra`
policy), errors are the same `RequestValidationError` with locations under `query`,
and the spec declares the model's parameters exactly as FastAPI does for
`Annotated[Model, Query()]` (`spec_dependant` puts the declaration back for
`app.main.build_openapi`).
"""

from __future__ import annotations

import copy
import inspect
import typing
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
_MARK = "__supportline_query_model__"


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    return any(_is_list(a) for a in typing.get_args(annotation) if a is not type(None))


def query_model(model: type[M]) -> Callable[[Request], Coroutine[Any, Any, M]]:
    """A dependency that validates the request's query string into `model`."""
    fields = [(f.alias or name, _is_list(f.annotation)) for name, f in model.model_fields.items()]
    names = {alias for alias, _ in fields}
    validate = model.__pydantic_validator__.validate_python
    extras = model.model_config.get("extra") in ("allow", "forbid")

    async def read(request: Request) -> M:
        params = request.query_params
        data: dict[str, Any] = {}
        for alias, is_list in fields:
            if is_list:
                values = params.getlist(alias)
                if values:
                    data[alias] = values
            else:
                value = params.get(alias)
                if value is not None:
                    data[alias] = value
        if extras:
            # As FastAPI passes them: one value as itself, repetitions as a list.
            grouped: dict[str, list[str]] = {}
            for key, value in params.multi_items():
                if key not in names:
                    grouped.setdefault(key, []).append(value)
            data.update((k, v[0] if len(v) == 1 else v) for k, v in grouped.items())
        try:
            return validate(data, from_attributes=True)  # type: ignore[no-any-return]
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from None

    setattr(read, _MARK, model)
    return read


def _declared(model: type[BaseModel]) -> Callable[..., Any]:
    async def declared(**_: Any) -> None:
        return None

    # A signature object, not an annotation: this module's annotations are strings.
    param = inspect.Parameter(
        "query", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[model, Query()]
    )
    declared.__signature__ = inspect.Signature([param])  # type: ignore[attr-defined]
    return declared


def spec_dependant(dependant: Dependant, path: str) -> Dependant:
    """`dependant` with every `query_model` dependency declared as FastAPI's own query
    model, for the spec only (the route keeps the cheap one)."""
    model = getattr(dependant.call, _MARK, None)
    if model is not None:
        declared = get_dependant(path=path, call=_declared(model))
        declared.call = dependant.call
        declared.name = dependant.name
        return declared
    if not any(_has_query_model(d) for d in dependant.dependencies):
        return dependant
    out = copy.copy(dependant)
    out.dependencies = [spec_dependant(d, path) for d in dependant.dependencies]
    return out


def _has_query_model(dependant: Dependant) -> bool:
    return hasattr(dependant.call, _MARK) or any(
        _has_query_model(d) for d in dependant.dependencies
    )
