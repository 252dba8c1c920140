"""Rendering a notice: a subject, a text part and an HTML part in the recipient's language.

Each notice type has one template per language (`templates/<lang>/<notice>.j2`) holding
three blocks of *plain text*: `subject`, `headline` and `body` (paragraphs separated by
blank lines). Two layouts shared by every language turn them into the parts:
`layout.txt.j2` and `layout.html.j2`, the second with autoescape on, so whatever a
ticket, a comment or a customer's name holds reaches the HTML only as escaped text;
no notice template writes markup. The HTML's CSS is then inlined (css_inline), as mail
readers drop `<style>`. The labels of each language (statuses, roles, footers) are
data in `templates/<lang>/labels.json`.

The subject of a ticket's notice starts with its number in brackets (`[T2026-000123]`,
`ids.subject_tag`), which inbound mail matches when the headers were lost. Staff get a
link to the ticket (MAIL_STAFF_URL); customers get none (they have no login), and the
reporter's resolution notice carries the survey link when there is one."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import css_inline
from jinja2 import (
    Environment,
    FileSystemLoader,
    Template,
    TemplateNotFound,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context

from app.core.config import get_settings
from app.mail.ids import subject_tag

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
SUBJECT_MAX = 250  # characters: one line that readers show whole; the column allows 998
_TEMPLATES = Path(__file__).parent / "templates"
_BLANK_LINES = re.compile(r"\n[ \t]*\n+")
# Line breaks and every other control character (C0, DEL, C1): a header holds none.
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False)


def language_of(value: object) -> str:
    """One of LANGUAGES for a contact's `language` or an engineer's first language:
    `en`, `en-GB` -> en; `zh`, `zh-Hans`, anything else -> zh-CN (the centre's own)."""
    if isinstance(value, str) and value.strip().lower().split("-")[0] == "en":
        return "en"
    return DEFAULT_LANGUAGE


def staff_link(ticket_id: object) -> str:
    """The ticket's page for staff (MAIL_STAFF_URL with `{ticket_id}`)."""
    return get_settings().mail_staff_url.replace("{ticket_id}", str(ticket_id))


def _local(value: object, tz: str = "Asia/Shanghai") -> str:
    """An instant (datetime or ISO text) as local wall-clock time, `YYYY-MM-DD HH:MM`."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    if value.tzinfo is None:
        return value.strftime("%Y-%m-%d %H:%M")
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


@pass_context
def _local_filter(context: Context, value: object) -> str:
    """`|local`: in the recipient's zone, which the render puts in the context."""
    return _local(value, str(context.get("tz") or "Asia/Shanghai"))


def _clip(value: object, limit: int = 2000) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@cache
def _env(layout: bool = True) -> Environment:
    """Two environments over the same files: the layouts' trims the line after a tag
    (they are markup-shaped), the notices' keeps every line break as written, so a
    blank line after an `{% endif %}` still separates two paragraphs."""
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        trim_blocks=layout,
        lstrip_blocks=layout,
        keep_trailing_newline=False,
        auto_reload=False,
    )
    env.filters["clip"] = _clip
    env.filters["local"] = _local_filter
    return env


@cache
def labels(language: str) -> Mapping[str, Any]:
    path = _TEMPLATES / language / "labels.json"
    data: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@cache
def _notice_template(language: str, notice: str) -> Template:
    try:
        return _env(layout=False).get_template(f"{language}/{notice}.j2")
    except TemplateNotFound:
        return _env(layout=False).get_template(f"{language}/_generic.j2")


def has_template(language: str, notice: str) -> bool:
    return (_TEMPLATES / language / f"{notice}.j2").is_file()


def _block(template: Template, name: str, context: dict[str, Any]) -> str:
    render = template.blocks.get(name)
    if render is None:
        return ""
    return "".join(render(template.new_context(context))).strip()


def one_line(text: str, limit: int = SUBJECT_MAX) -> str:
    """A header-safe line: no line breaks (no header injection), spaces collapsed,
    at most `limit` characters."""
    return _clip(" ".join(_LINE_BREAKS.sub(" ", text).split()), limit)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass
class Notice:
    """What a notice's templates are given."""

    notice: str
    language: str
    role: str | None = None
    staff: bool = False
    recipient_name: str | None = None
    tz: str = "Asia/Shanghai"
    ticket: Mapping[str, Any] | None = None  # number, subject, status, priority, ...
    incident: Mapping[str, Any] | None = None  # the incident's outbox payload
    data: Mapping[str, Any] = field(default_factory=dict)
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)
    actor: str | None = None
    ticket_link: str | None = None
    survey_link: str | None = None


def _facts(n: Notice, L: Mapping[str, Any]) -> list[tuple[str, str]]:
    t = n.ticket
    if not t:
        return []
    f = L["facts"]
    facts = [(f["number"], str(t.get("number") or "")), (f["subject"], str(t.get("subject") or ""))]
    if n.staff and t.get("customer"):
        facts.append((f["customer"], str(t["customer"])))
    facts.append((f["priority"], L["priority"].get(t.get("priority"), str(t.get("priority")))))
    facts.append((f["status"], L["status"].get(t.get("status"), str(t.get("status")))))
    if t.get("owner"):
        facts.append((f["owner"], str(t["owner"])))
    return facts


def _footer(n: Notice, L: Mapping[str, Any]) -> list[str]:
    role = L["roles"].get(n.role or "", n.role or "")
    if n.incident is not None:
        lines = [L["footer_incident"].format(role=role)]
    elif n.staff:
        lines = [L["footer_staff"].format(role=role)]
    else:
        number = (n.ticket or {}).get("number", "")
        lines = [L["footer_customer"].format(number=number)]
    return [*lines, L["automatic"]]


def _greeting(name: str | None, L: Mapping[str, Any]) -> str:
    if name:
        return str(L["greeting"]).format(name=one_line(name, 100))
    return str(L["greeting_anonymous"])


def _layout(
    language: str,
    subject: str,
    greeting: str,
    headline: str,
    body: str,
    *,
    facts: Sequence[tuple[str, str]] = (),
    actions: Sequence[tuple[str, str]] = (),
    footer: Sequence[str] = (),
    items: Sequence[Mapping[str, Any]] = (),
) -> tuple[str, str]:
    paragraphs = [p.strip("\n") for p in _BLANK_LINES.split(body) if p.strip()]
    context = {
        "lang": language, "L": labels(language), "subject": subject, "greeting": greeting,
        "headline": headline, "paragraphs": paragraphs, "facts": list(facts),
        "actions": list(actions), "footer": list(footer), "items": list(items),
    }  # fmt: skip
    text = _env().get_template("layout.txt.j2").render(context)
    html = _env().get_template("layout.html.j2").render(context)
    return text.strip() + "\n", _INLINER.inline(html)


def render(n: Notice, *, full: bool = True) -> Rendered:
    """The notice as mail: subject, text and HTML in `n.language` (only the subject
    when not `full`: what is stored for a skipped recipient)."""
    language = language_of(n.language)
    L = labels(language)
    template = _notice_template(language, n.notice)
    context: dict[str, Any] = {
        "notice": n.notice, "L": L, "t": dict(n.ticket or {}), "i": dict(n.incident or {}),
        "d": dict(n.data), "before": dict(n.before), "after": dict(n.after),
        "staff": n.staff, "role": n.role, "actor": n.actor, "survey": n.survey_link,
        "tz": n.tz,
    }  # fmt: skip
    subject = _block(template, "subject", context)
    if n.ticket and n.ticket.get("number"):
        subject = f"{subject_tag(str(n.ticket['number']))} {subject}"
    subject = one_line(subject)
    if not full:
        return Rendered(subject, "", "")
    headline = one_line(_block(template, "headline", context), 1000)
    body = _block(template, "body", context)
    actions: list[tuple[str, str]] = []
    if n.staff and n.ticket_link:
        actions.append((L["view_ticket"], n.ticket_link))
    if n.survey_link:
        actions.append((L["survey"], n.survey_link))
    text, html = _layout(
        language, subject, _greeting(n.recipient_name, L), headline, body,
        facts=_facts(n, L), actions=actions, footer=_footer(n, L),
    )  # fmt: skip
    return Rendered(subject, text, html)


@dataclass(frozen=True)
class DigestItem:
    at: datetime
    subject: str
    link: str | None = None


def render_digest(
    language: str,
    recipient_name: str | None,
    tz: str,
    items: Sequence[DigestItem],
    *,
    staff: bool = False,
    ticket: Mapping[str, Any] | None = None,
) -> Rendered:
    """One mail listing several notices (flood caps, a manager's hourly or daily
    digest): each notice's subject, when it happened, and for staff its ticket's link."""
    language = language_of(language)
    L = labels(language)
    template = _notice_template(language, "digest")
    context: dict[str, Any] = {"L": L, "items": list(items), "notice": "digest", "tz": tz}
    subject = _block(template, "subject", context)
    if ticket and ticket.get("number"):
        subject = f"{subject_tag(str(ticket['number']))} {subject}"
    subject = one_line(subject)
    headline = one_line(_block(template, "headline", context), 1000)
    rows = [{"when": _local(i.at, tz), "subject": i.subject, "link": i.link if staff else None}
            for i in items]  # fmt: skip
    text, html = _layout(
        language, subject, _greeting(recipient_name, L), headline, "",
        items=rows, footer=[L["footer_digest"], L["automatic"]],
    )  # fmt: skip
    return Rendered(subject, text, html)
