"""Inbound payloads read into one list of alerts, whatever the source's kind (pure).

Two kinds:

- `alertmanager`: Prometheus Alertmanager's webhook body, version 4 (`version`,
  `groupKey`, `status`, `receiver`, `groupLabels`, `commonLabels`, `commonAnnotations`,
  `externalURL`, `truncatedAlerts`, `alerts[]`). The group's own `status` is ignored:
  each alert carries its own (a group "firing" holds alerts already resolved), and so
  does `endsAt` (a firing alert's `endsAt` is Alertmanager's own time-out, in the future
  or not, never a recovery). `endsAt` of `0001-01-01T00:00:00Z` means "unset".
- `generic`: one alert object, or `{"alerts": [...]}` of them, each
  `{status?, fingerprint?, name?, summary?, description?, labels?, annotations?,
  starts_at?, ends_at?, url?, ...}` plus any fields of the sender's own that a source's
  mapping may read (`app/hooks/mapping.py`). `status` defaults to firing.

An alert without a `fingerprint` gets the one Alertmanager would give it: a hash of its
sorted labels (a generic alert with neither labels nor a fingerprint is refused: it
could never be matched with its recovery).

Everything that will be stored is checked here, so that a hostile body is a 422 naming
the field, never a 500 from the database: no control characters (PostgreSQL's JSONB
cannot hold NUL), labels and annotations are flat string maps of bounded size, times
are RFC 3339 instants inside the years 1-9999.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.core.inputs import bad_character

KINDS = ("alertmanager", "generic")
STATUSES = ("firing", "resolved")
MAX_ALERTS = 1000  # in one request (Alertmanager's own `max_alerts` default is 0: all)
MAX_LABELS = 100  # labels (and annotations) of one alert
MAX_NAME = 256  # a label's name
MAX_LABEL_VALUE = 2048
MAX_ANNOTATION_VALUE = 16_384
MAX_FINGERPRINT = 200
MAX_URL = 2000
MAX_FIELD = 2048  # a generic alert's own top-level text field

Loc = tuple[str | int, ...]


class PayloadError(Exception):
    """Why a body is no payload of its kind: where (a path into the body) and what."""

    def __init__(self, loc: Loc, msg: str, type_: str = "value_error") -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg
        self.type = type_

    def as_error(self) -> dict[str, Any]:
        return {"loc": ["body", *self.loc], "msg": self.msg, "type": self.type}


@dataclass
class Alert:
    """One alert as the rest of the package sees it. `raw` is the alert object as sent
    (checked), for the mapping's paths."""

    fingerprint: str
    status: str
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    generator_url: str | None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        return self.annotations.get("summary") or self.annotations.get("message") or ""


def parse(kind: str, body: Any) -> list[Alert]:
    """The alerts of a decoded JSON body of a source of `kind`; PayloadError if it is
    not one."""
    if not isinstance(body, dict):
        raise PayloadError((), "The body must be a JSON object.", "dict_type")
    if kind == "alertmanager":
        return _alertmanager(body)
    return _generic(body)


# -- Alertmanager ------------------------------------------------------------------------


def _alertmanager(body: dict[str, Any]) -> list[Alert]:
    version = body.get("version")
    if version is not None and version != "4":
        raise PayloadError(("version",), 'Only version "4" of Alertmanager\'s webhook is read.')
    for key in ("groupKey", "receiver", "externalURL", "status"):
        if key in body and body[key] is not None:
            _text(body[key], (key,), MAX_URL)
    for key in ("groupLabels", "commonLabels", "commonAnnotations"):
        if key in body and body[key] is not None:
            _string_map(body[key], (key,), MAX_ANNOTATION_VALUE)
    truncated = body.get("truncatedAlerts", 0)
    if truncated is not None and (type(truncated) is not int or truncated < 0):
        raise PayloadError(("truncatedAlerts",), "Must be a non-negative integer.", "int_type")
    alerts = _alert_list(body.get("alerts"), ("alerts",), required=True)
    return [_am_alert(a, ("alerts", i)) for i, a in enumerate(alerts)]


def _am_alert(item: Any, loc: Loc) -> Alert:
    if not isinstance(item, dict):
        raise PayloadError(loc, "An alert must be a JSON object.", "dict_type")
    status = _status(item.get("status"), (*loc, "status"), required=True)
    labels = _string_map(item.get("labels"), (*loc, "labels"), MAX_LABEL_VALUE, required=True)
    annotations = _string_map(item.get("annotations"), (*loc, "annotations"), MAX_ANNOTATION_VALUE)
    fingerprint = _fingerprint(item.get("fingerprint"), (*loc, "fingerprint"), labels)
    return Alert(
        fingerprint=fingerprint,
        status=status,
        name=labels.get("alertname", ""),
        labels=labels,
        annotations=annotations,
        starts_at=_instant(item.get("startsAt"), (*loc, "startsAt")),
        ends_at=_instant(item.get("endsAt"), (*loc, "endsAt")),
        generator_url=_optional_text(item.get("generatorURL"), (*loc, "generatorURL"), MAX_URL),
        raw=item,
    )


# -- generic -----------------------------------------------------------------------------

_GENERIC_TEXT = {"name": MAX_NAME, "summary": MAX_FIELD, "description": MAX_ANNOTATION_VALUE}


def _generic(body: dict[str, Any]) -> list[Alert]:
    if "alerts" in body:
        items = _alert_list(body["alerts"], ("alerts",), required=True)
        return [_generic_alert(a, ("alerts", i)) for i, a in enumerate(items)]
    return [_generic_alert(body, ())]


def _generic_alert(item: Any, loc: Loc) -> Alert:
    if not isinstance(item, dict):
        raise PayloadError(loc, "An alert must be a JSON object.", "dict_type")
    status = _status(item.get("status", "firing"), (*loc, "status"), required=True)
    labels = _string_map(item.get("labels"), (*loc, "labels"), MAX_LABEL_VALUE)
    annotations = _string_map(item.get("annotations"), (*loc, "annotations"), MAX_ANNOTATION_VALUE)
    texts = {}
    for key, limit in _GENERIC_TEXT.items():
        texts[key] = _optional_text(item.get(key), (*loc, key), limit) or ""
    # The sender's own fields: scalars of bounded size, for the mapping to read.
    for key, value in item.items():
        if key in ("labels", "annotations") or key in _GENERIC_TEXT:
            continue
        _check_key(key, (*loc, key))
        if isinstance(value, str):
            _text(value, (*loc, key), MAX_URL if key == "url" else MAX_FIELD)
        elif value is not None and type(value) not in (int, float, bool):
            raise PayloadError(
                (*loc, key), "A field of a generic alert must be text, a number or a boolean."
            )
    if "summary" not in annotations and texts["summary"]:
        annotations["summary"] = texts["summary"]
    if "description" not in annotations and texts["description"]:
        annotations["description"] = texts["description"]
    given = item.get("fingerprint")
    if given is None and not labels:
        raise PayloadError(
            (*loc, "fingerprint"),
            "Give a fingerprint or labels: an alert is recognised by one of them.",
            "missing",
        )
    name = texts["name"] or labels.get("alertname", "")
    return Alert(
        fingerprint=_fingerprint(given, (*loc, "fingerprint"), labels),
        status=status,
        name=name,
        labels=labels,
        annotations=annotations,
        starts_at=_instant(item.get("starts_at"), (*loc, "starts_at")),
        ends_at=_instant(item.get("ends_at"), (*loc, "ends_at")),
        generator_url=_optional_text(item.get("url"), (*loc, "url"), MAX_URL),
        raw=item,
    )


# -- the pieces --------------------------------------------------------------------------


def _alert_list(value: Any, loc: Loc, required: bool) -> list[Any]:
    if value is None and required:
        raise PayloadError(loc, "Field required.", "missing")
    if not isinstance(value, list):
        raise PayloadError(loc, "Must be a list of alerts.", "list_type")
    if not value:
        raise PayloadError(loc, "Must hold at least one alert.", "too_short")
    if len(value) > MAX_ALERTS:
        raise PayloadError(loc, f"At most {MAX_ALERTS} alerts in one request.", "too_long")
    return value


def _status(value: Any, loc: Loc, required: bool) -> str:
    if value is None and required:
        raise PayloadError(loc, "Field required.", "missing")
    if value not in STATUSES:
        raise PayloadError(loc, "Must be 'firing' or 'resolved'.", "literal_error")
    return str(value)


def _check_key(key: Any, loc: Loc) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_NAME:
        raise PayloadError(loc, f"A name must be 1 to {MAX_NAME} characters.")
    if bad_character(key, multiline=False) is not None:
        raise PayloadError(loc, "A name must not contain a control character.")
    return key


def _text(value: Any, loc: Loc, limit: int, multiline: bool = False) -> str:
    if not isinstance(value, str):
        raise PayloadError(loc, "Must be a string.", "string_type")
    if len(value) > limit:
        raise PayloadError(loc, f"At most {limit} characters.", "string_too_long")
    char = bad_character(value, multiline=multiline)
    if char is not None:
        raise PayloadError(
            loc, f"Must not contain the control character U+{ord(char):04X}.",
            "string_control_character",
        )  # fmt: skip
    return value


def _optional_text(value: Any, loc: Loc, limit: int) -> str | None:
    return None if value is None else _text(value, loc, limit, multiline=True)


def _string_map(value: Any, loc: Loc, limit: int, required: bool = False) -> dict[str, str]:
    if value is None:
        if required:
            raise PayloadError(loc, "Field required.", "missing")
        return {}
    if not isinstance(value, dict):
        raise PayloadError(loc, "Must be an object of strings.", "dict_type")
    if len(value) > MAX_LABELS:
        raise PayloadError(loc, f"At most {MAX_LABELS} entries.", "too_long")
    out: dict[str, str] = {}
    for key, item in value.items():
        _check_key(key, (*loc, key))
        out[key] = _text(item, (*loc, key), limit, multiline=True)
    return out


def _fingerprint(value: Any, loc: Loc, labels: dict[str, str]) -> str:
    if value is None or value == "":
        return label_fingerprint(labels)
    text = _text(value, loc, MAX_FINGERPRINT)
    if not text.strip():
        raise PayloadError(loc, "Must not be blank.", "string_blank")
    return text


def label_fingerprint(labels: dict[str, str]) -> str:
    """A stable fingerprint of a label set (16 hex digits, as Alertmanager's look)."""
    joined = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


_UNSET = datetime(1, 1, 1, tzinfo=UTC)


def _instant(value: Any, loc: Loc) -> datetime | None:
    """An RFC 3339 instant, None when absent or Alertmanager's zero time."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise PayloadError(loc, "Must be an RFC 3339 date-time.", "datetime_type")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(loc, "Must be an RFC 3339 date-time.", "datetime_parsing") from None
    if at.tzinfo is None:
        raise PayloadError(loc, "Must carry its time zone (e.g. Z).", "timezone_aware")
    try:
        at = at.astimezone(UTC)
    except (OverflowError, ValueError):
        raise PayloadError(loc, "Out of range once in UTC.", "datetime_range") from None
    return None if at <= _UNSET else at
