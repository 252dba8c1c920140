"""How an alert's labels and fields become a ticket's customer, device, category and
priority: the source's `mapping` (pure; the lookups of codes and serials are the
service's).

A mapping is a JSON object with at most these keys (any other is refused when a source
is written, `app/hooks/schemas/sources.py`):

    {
      "customer_code": "labels.customer",            # a path, or a list of paths
      "device_serial": ["labels.serial", "labels.instance"],
      "category": "labels.category",
      "priority": "labels.severity",
      "values": {                                     # per target: value -> ours
        "priority": {"critical": "P1", "warning": "P3"},
        "category": {"disk_full": "hardware"}
      }
    }

A path is read in the alert object as sent: `labels.<name>` and `annotations.<name>`
name one entry of those maps (a label's name may hold dots in a generic alert, so the
rest after the first dot is the name); any other path is dotted keys into the alert
object (a generic sender's own fields, e.g. `site.customer`). The first path that gives
a non-empty text (or number) wins; its value, trimmed, goes through the target's value
map if it has one (matched exactly, then case-insensitively), and what comes out is the
candidate. For the priority, a candidate that is not P1..P4 is no priority.

What is not given falls back to `DEFAULT_MAPPING` (the labels a Prometheus rule would
carry: `customer`, `serial`, `category`, and `severity` with the usual words), and what
finds nothing falls back to the source's own customer, category and priority: a firing
alert always opens a ticket somewhere. The service checks each candidate (a customer
code that names no active customer, an unknown or inactive category, a serial of no
device, or of another customer's device) and falls back the same way, so a sender's
typo is a ticket on the source's defaults, never a lost alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TARGETS = ("customer_code", "device_serial", "category", "priority")
PRIORITIES = ("P1", "P2", "P3", "P4")
MAX_PATHS = 8

DEFAULT_MAPPING: dict[str, Any] = {
    "customer_code": ["labels.customer"],
    "device_serial": ["labels.serial"],
    "category": ["labels.category"],
    "priority": ["labels.priority", "labels.severity"],
    "values": {
        "priority": {
            "critical": "P1",
            "disaster": "P1",
            "page": "P1",
            "high": "P2",
            "error": "P2",
            "major": "P2",
            "warning": "P3",
            "average": "P3",
            "minor": "P3",
            "info": "P4",
            "information": "P4",
            "low": "P4",
        }
    },
}


@dataclass(frozen=True)
class Candidates:
    """What an alert asks for; None where its mapping finds nothing."""

    customer_code: str | None
    device_serial: str | None
    category: str | None
    priority: str | None


def effective(mapping: dict[str, Any]) -> dict[str, Any]:
    """The source's mapping over the defaults, per target (a target's paths replace the
    default's; a value map replaces the default's value map of that target)."""
    out: dict[str, Any] = {t: list(DEFAULT_MAPPING[t]) for t in TARGETS}
    values: dict[str, dict[str, str]] = dict(DEFAULT_MAPPING["values"])
    for target in TARGETS:
        given = mapping.get(target)
        if given is not None:
            out[target] = [given] if isinstance(given, str) else list(given)
    values.update(mapping.get("values") or {})
    out["values"] = values
    return out


def read_path(alert: dict[str, Any], path: str) -> str | None:
    """The text at `path` in the alert object, or None (absent, empty, not a scalar)."""
    head, _, rest = path.partition(".")
    if head in ("labels", "annotations") and rest:
        holder = alert.get(head)
        value = holder.get(rest) if isinstance(holder, dict) else None
    else:
        value = alert
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
            if value is None:
                return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = str(value).strip()
    return text or None


def _first(alert: dict[str, Any], paths: list[str]) -> str | None:
    for path in paths:
        found = read_path(alert, path)
        if found is not None:
            return found
    return None


def _mapped(value: str, table: dict[str, str] | None) -> str:
    if not table:
        return value
    if value in table:
        return table[value]
    lowered = value.casefold()
    for key, mapped in table.items():
        if key.casefold() == lowered:
            return mapped
    return value


def candidates(alert: dict[str, Any], mapping: dict[str, Any]) -> Candidates:
    """What the alert's own data asks for, by the source's mapping (`effective`)."""
    rules = effective(mapping)
    found: dict[str, str | None] = {}
    for target in TARGETS:
        value = _first(alert, rules[target])
        found[target] = None if value is None else _mapped(value, rules["values"].get(target))
    priority = found["priority"]
    if priority is not None:
        priority = priority.upper()
        if priority not in PRIORITIES:
            priority = None
    return Candidates(
        customer_code=found["customer_code"],
        device_serial=found["device_serial"],
        category=found["category"],
        priority=priority,
    )
