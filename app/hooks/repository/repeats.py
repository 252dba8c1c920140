"""The hot path of inbound alerts: a request whose every alert repeats a firing we hold,
on an open ticket, applied in one statement (Alertmanager resends a group's firing
alerts every `group_interval` while any changes and every `repeat_interval` while none
does, so most of what a source sends is this).

What the statement does is what app/hooks/service/alerts.py does for a repeat, row for
row: each alert's row locked in fingerprint order (the order the general path locks in,
so the two wait for each other rather than deadlock) with its ticket (FOR SHARE: the
ticket stays open until the event is written), `fire_count` + 1 and what was seen
updated, an `alert.repeated` timeline event (not announced) per alert, and the
request's `hook_requests` row. It does all of that only when *every* alert qualifies;
otherwise it writes nothing (the locks it took are kept by the transaction, harmless)
and the caller takes the general path, in the same transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from app.core.db import RawSQL, UnitOfWork
from app.tickets import interface as tickets

_REPEATS = RawSQL(
    f"""
    WITH x AS (
        SELECT * FROM unnest(:fingerprints::text[], :event_ids::uuid[], :starts::timestamptz[],
                             :ends::timestamptz[], :labels::text[], :annotations::text[],
                             :names::text[], :urls::text[]) WITH ORDINALITY
            AS x(fingerprint, event_id, starts_at, ends_at, labels, annotations, name, url, n)
    ), a AS (
        SELECT h.id, h.ticket_id, t.number, h.fire_count + 1 AS count, x.*
        FROM hook_alerts h
        JOIN x ON x.fingerprint = h.fingerprint
        JOIN tickets t ON t.id = h.ticket_id
        WHERE h.source_id = :source_id::uuid AND h.state = 'firing'
          AND t.status = ANY(:open::text[])
          AND (h.starts_at IS NULL OR x.starts_at IS NULL OR h.starts_at = x.starts_at)
        ORDER BY h.fingerprint COLLATE "C"
        FOR UPDATE OF h FOR SHARE OF t
    ), ok AS (
        SELECT count(*) = cardinality(:fingerprints::text[]) AS all_repeat FROM a
    ), u AS (
        UPDATE hook_alerts h
        SET fire_count = a.count, last_seen_at = :now::timestamptz, name = a.name,
            labels = a.labels::jsonb, annotations = a.annotations::jsonb,
            generator_url = a.url, starts_at = coalesce(a.starts_at, h.starts_at),
            ends_at = a.ends_at
        FROM a, ok WHERE ok.all_repeat AND h.id = a.id
        RETURNING h.id
    ), e AS (
        {
        tickets.insert_select(
            id="a.event_id",
            ticket_id="a.ticket_id",
            type="'alert.repeated'",
            actor_id=":actor_id::uuid",
            actor_name=":actor_name::text",
            actor_role=":actor_role::text",
            channel=":channel::text",
            at=":now::timestamptz",
            data="jsonb_build_object('fingerprint', a.fingerprint, 'count', a.count, "
            "'source', :source_key::text)",
            source="a, ok WHERE ok.all_repeat",
        )
    }
    ), r AS (
        INSERT INTO hook_requests (id, source_id, webhook_id, received_at, outcome,
                                   status_code, body_bytes, alerts)
        SELECT :request_id::uuid, :source_id::uuid, NULL, :now::timestamptz, 'accepted', 202,
               :body_bytes::int,
               (SELECT jsonb_agg(jsonb_build_object(
                    'fingerprint', a.fingerprint, 'status', 'firing', 'action', 'repeated',
                    'ticket_id', a.ticket_id::text, 'ticket_number', a.number) ORDER BY a.n)
                FROM a)
        FROM ok WHERE ok.all_repeat
    )
    SELECT a.fingerprint, a.ticket_id, a.number, a.n, ok.all_repeat FROM a, ok ORDER BY a.n
    """
)


async def apply_if_all_repeat(uow: UnitOfWork, values: dict[str, Any]) -> list[Any] | None:
    """The request's alerts applied as repeats, in request order (fingerprint, ticket
    id, ticket number); None when one of them is no repeat (nothing written)."""
    conn = await uow.connection()
    rows = await conn.fetch(_REPEATS.sql, *_REPEATS.args(values))
    if not rows or not rows[0]["all_repeat"]:
        return None
    return [(r["fingerprint"], r["ticket_id"], r["number"]) for r in rows]


def values(
    *,
    source_id: uuid.UUID,
    source_key: str,
    request_id: uuid.UUID,
    now: datetime,
    body_bytes: int,
    actor: Any,
    channel: str,
    alerts: list[Any],
    event_ids: list[uuid.UUID],
) -> dict[str, Any]:
    """The statement's parameters: the request's, and the alerts' as parallel arrays."""
    return {
        "source_id": source_id,
        "source_key": source_key,
        "request_id": request_id,
        "now": now,
        "body_bytes": body_bytes,
        "open": list(tickets.OPEN_STATUSES),
        "actor_id": actor.id,
        "actor_name": actor.name,
        "actor_role": actor.role.value,
        "channel": channel,
        "fingerprints": [a.fingerprint for a in alerts],
        "event_ids": event_ids,
        "starts": [a.starts_at for a in alerts],
        "ends": [a.ends_at for a in alerts],
        "labels": [orjson.dumps(a.labels).decode() for a in alerts],
        "annotations": [orjson.dumps(a.annotations).decode() for a in alerts],
        "names": [a.name[:300] for a in alerts],
        "urls": [a.generator_url for a in alerts],
    }
