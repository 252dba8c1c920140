"""Rendering notices (app/mail/render.py and app/mail/templates): every notice type in
both languages, the subject's ticket tag and its safety as a header, HTML escaping and
inlined CSS, links for staff only, the survey link, local times, digests."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from app.mail.defaults import NOTICE_TYPES
from app.mail.render import (
    LANGUAGES,
    DigestItem,
    Notice,
    language_of,
    one_line,
    render,
    render_digest,
)

TICKET = {
    "number": "T2026-000123", "subject": "核心交换机电源模块告警", "status": "in_progress",
    "priority": "P3", "customer": "上海浦东发展银行数据中心", "owner": "王磊",
    "resolution_summary": "更换电源模块", "support_line": "l1",
}  # fmt: skip
INCIDENT = {
    "incident_id": "0192f3c4-0000-7000-8000-000000000001", "title": "华东区交换机大面积掉线",
    "product_family": "switch", "state": "open", "next_update_due_at": "2026-10-08T01:30:00+00:00",
    "ticket_ids": ["a", "b"], "body": "已定位为 V8.2.1 缺陷", "summary": "升级补丁后恢复",
    "last_update_at": "2026-10-08T01:00:00+00:00", "resolved_ticket_ids": ["a"],
}  # fmt: skip
# What each notice's event carries (the publishers' data), enough for every template.
DATA: dict[str, Any] = {
    "note": "请提供日志", "reason": "客户要求", "body": "已重启设备", "metric": "resolution",
    "due_at": "2026-10-08T01:00:00+00:00", "clock_id": "c", "level": 2, "after": "breach",
    "what": "现场更换电源", "until": "2026-10-08T06:00:00+00:00", "report": "已更换",
    "advice": "请先升级补丁", "line": "l1", "number": "PR-2026-0001", "quantity": 2,
    "approval_reasons": ["uncontracted"], "state": "shipped_back", "vendor": "华为",
    "part_number": "02312SHD", "serial": "2102351931P0K8000123", "due_back_on": "2026-10-20",
    "close_reason": "closed_by_silence", "trigger": "attempts",
}  # fmt: skip
LEFTOVERS = re.compile(r"\{\{|\{%|None|Undefined|\bnan\b")


def _notice(notice: str, language: str, **kw: Any) -> Notice:
    incident = notice.startswith("incident.")
    return Notice(
        notice=notice, language=language, role=kw.pop("role", "owner"),
        staff=kw.pop("staff", True), recipient_name=kw.pop("name", "王磊"),
        ticket=None if incident else TICKET, incident=INCIDENT if incident else None,
        data=DATA, before={"priority": "P4"}, after={"priority": "P3", "support_line": "l2"},
        actor="李强", ticket_link=None if incident else "https://desk.example.cn/tickets/1",
        **kw,
    )  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("notice", NOTICE_TYPES)
def test_every_notice_renders_in_both_languages(notice: str, language: str) -> None:
    mail = render(_notice(notice, language))
    for part in (mail.subject, mail.text, mail.html):
        assert not LEFTOVERS.search(part), (notice, language, part)
    if notice.startswith("incident."):
        assert mail.subject.startswith("[") and INCIDENT["title"] in mail.subject
        assert "T2026-000123" not in mail.subject
    else:
        assert mail.subject.startswith("[T2026-000123] ")
        assert "https://desk.example.cn/tickets/1" in mail.text
    lines = mail.text.splitlines()
    assert lines[0] in ("王磊，您好：", "Dear 王磊,") and lines[1] == "" and lines[2]
    assert "\n-- \n" in mail.text  # the signature separator
    assert mail.html.startswith("<!DOCTYPE html>") and f'lang="{language}"' in mail.html
    assert "<style" not in mail.html and 'style="' in mail.html  # inlined
    # Nothing a Chinese reader gets is English boilerplate, and the other way round.
    if language == "zh-CN":
        assert "Dear" not in mail.text and "This e-mail" not in mail.text
    else:
        assert "您好" not in mail.text and "此邮件" not in mail.text


def test_the_language_follows_the_recipient_with_chinese_the_default() -> None:
    for value in ("en", "EN", "en-GB", " en ", "en-US"):
        assert language_of(value) == "en", value
    for value in ("zh-CN", "zh", "zh-Hans", "ja", "", None, 7):
        assert language_of(value) == "zh-CN"
    en = render(_notice("ticket.created", "en-US", role="reporter", staff=False))
    assert en.subject == "[T2026-000123] Received: 核心交换机电源模块告警"


def test_the_ticket_number_leads_the_subject_and_the_subject_is_one_safe_line() -> None:
    hostile = {**TICKET, "subject": "告警\r\nBcc: victim@example.com\n" + "长" * 400}
    mail = render(Notice(notice="ticket.created", language="zh-CN", role="reporter",
                         ticket=hostile))  # fmt: skip
    assert mail.subject.startswith("[T2026-000123] 已受理：告警 Bcc: victim@example.com ")
    assert "\r" not in mail.subject and "\n" not in mail.subject
    assert len(mail.subject) <= 250 and mail.subject.endswith("…")
    assert one_line("a\u2028b\tc  d") == "a b c d"


def test_what_people_wrote_is_escaped_in_html_and_kept_in_text() -> None:
    evil = '<script>alert("x")</script> & <a href="http://evil">点我</a>'
    ticket = {**TICKET, "subject": "<b>subject</b>"}
    mail = render(Notice(notice="ticket.comment_added", language="zh-CN", role="reporter",
                         ticket=ticket, data={"body": evil}, actor="<img src=x>",
                         recipient_name="<i>王伟</i>"))  # fmt: skip
    assert evil in mail.text and "<img src=x>" in mail.text
    assert "<script>" not in mail.html and "<img src=x>" not in mail.html
    # (css_inline writes the document again: quotes in text need no escaping there.)
    assert '&lt;script&gt;alert("x")&lt;/script&gt; &amp; &lt;a href="http://evil"&gt;' in mail.html
    assert '<a href="http://evil"' not in mail.html
    assert "&lt;b&gt;subject&lt;/b&gt;" in mail.html and "&lt;i&gt;王伟&lt;/i&gt;" in mail.html


def test_customers_get_no_staff_link_and_the_resolution_brings_the_survey() -> None:
    survey = "http://127.0.0.1:8000/v1/surveys/tok"
    mail = render(Notice(notice="ticket.resolved", language="zh-CN", role="reporter",
                         staff=False, recipient_name="王伟", ticket=TICKET,
                         ticket_link="https://desk.example.cn/tickets/1", survey_link=survey))  # fmt: skip
    assert "desk.example.cn" not in mail.text and "desk.example.cn" not in mail.html
    assert f"评价本次服务: {survey}" in mail.text and f'href="{survey}"' in mail.html
    assert "请确认问题是否已经解决" in mail.text and "更换电源模块" in mail.text
    assert "保留主题中的工单号 T2026-000123" in mail.text  # how a reply finds the ticket
    # Without a survey, no survey paragraph.
    bare = render(Notice(notice="ticket.resolved", language="en", role="reporter",
                         ticket=TICKET))  # fmt: skip
    assert "rate our service" not in bare.text.lower()
    staff = render(Notice(notice="ticket.reopened", language="en", role="owner", staff=True,
                          ticket=TICKET, ticket_link="https://desk.example.cn/tickets/1"))  # fmt: skip
    assert "You receive this e-mail as the ticket's owner." in staff.text


def test_times_are_shown_in_the_recipients_zone() -> None:
    data = {"metric": "resolution", "due_at": "2026-10-08T01:00:00+00:00"}
    shanghai = render(Notice(notice="sla.warning", language="zh-CN", ticket=TICKET, data=data))
    assert "到期时间：2026-10-08 09:00" in shanghai.text
    berlin = render(Notice(notice="sla.warning", language="en", ticket=TICKET, data=data,
                           tz="Europe/Berlin"))  # fmt: skip
    assert "Due: 2026-10-08 03:00" in berlin.text


def test_long_texts_are_clipped() -> None:
    mail = render(Notice(notice="ticket.comment_added", language="zh-CN", ticket=TICKET,
                         data={"body": "字" * 20000}))  # fmt: skip
    assert "字" * 7990 in mail.text and "字" * 8000 not in mail.text and "…" in mail.text


def test_a_digest_lists_its_notices_with_links_for_staff_only() -> None:
    at = datetime(2026, 10, 8, 1, 5, tzinfo=UTC)
    items = [DigestItem(at, "[T2026-000123] 新回复：a", "https://desk.example.cn/tickets/1"),
             DigestItem(at, "[T2026-000124] 已受理：<b>", "https://desk.example.cn/tickets/2")]  # fmt: skip
    staff = render_digest("zh-CN", "赵经理", "Asia/Shanghai", items, staff=True)
    assert staff.subject == "[Supportline] 通知汇总（2 条）"
    assert "2026-10-08 09:05  [T2026-000123] 新回复：a" in staff.text
    assert "https://desk.example.cn/tickets/2" in staff.text and "&lt;b&gt;" in staff.html
    customer = render_digest("en", "Wang Wei", "Asia/Shanghai", items[:1], staff=False,
                             ticket={"number": "T2026-000123"})  # fmt: skip
    assert customer.subject == "[T2026-000123] [Supportline] Digest: 1 notice"
    assert "desk.example.cn" not in customer.text
