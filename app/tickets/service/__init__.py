"""The ticket rules, one module for each thing they hold: reading (`views`), creation,
changes outside the lifecycle (`changes`), the lifecycle actions (`actions`), the work
log (`worklog`) and attachments. This package is the tickets router's service layer;
other domains use `app.tickets.interface`."""

from app.tickets.service.actions import act
from app.tickets.service.attachments import (
    add_attachment,
    get_attachment_content,
    list_attachments,
)
from app.tickets.service.changes import set_line, set_owner, set_secondary, touch, update
from app.tickets.service.creation import BUSINESS_ZONE, create
from app.tickets.service.views import (
    allowed_actions,
    clocks,
    device_history_page,
    full_out,
    get,
    get_by_number,
    list_events,
    list_for_query,
    list_page,
    to_out,
)
from app.tickets.service.worklog import (
    add_attempt,
    add_comment,
    add_visit,
    list_attempts,
    list_comments,
    list_visits,
    update_visit,
)

__all__ = [
    "BUSINESS_ZONE",
    "act",
    "add_attachment",
    "add_attempt",
    "add_comment",
    "add_visit",
    "allowed_actions",
    "clocks",
    "create",
    "device_history_page",
    "full_out",
    "get",
    "get_attachment_content",
    "get_by_number",
    "list_attachments",
    "list_attempts",
    "list_comments",
    "list_events",
    "list_for_query",
    "list_page",
    "list_visits",
    "set_line",
    "set_owner",
    "set_secondary",
    "to_out",
    "touch",
    "update",
    "update_visit",
]
