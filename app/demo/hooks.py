"""The demo's webhooks (issue 13): an Alertmanager source for the SPDB data centre's
monitoring, and an outbound subscription to the development receiver `make run` starts
(app/hooks/devreceiver.py, deliveries in DATA_DIR/webhooks.jsonl).

Both have known secrets, on purpose and for development only, so that a developer can
post alerts and check signatures without reading them from the database:

    curl -X POST http://127.0.0.1:8000/v1/hooks/alertmanager-idc \\
         -H 'Authorization: Bearer demo-alertmanager-idc-token-for-development-only' \\
         -H 'content-type: application/json' -d @alertmanager-payload.json

and, in an alertmanager.yml, `http_config: {authorization: {type: Bearer, credentials:
demo-alertmanager-idc-token-for-development-only}}`. The subscription signs with
`app.hooks.devreceiver.DEMO_SECRET`, which the receiver knows."""

from __future__ import annotations

from app.core.db import UnitOfWork
from app.core.pagination import PageParams
from app.demo.context import DemoContext
from app.hooks.devreceiver import DEMO_SECRET, dev_url

ALERTMANAGER_KEY = "alertmanager-idc"
ALERTMANAGER_NAME = "机房监控 Alertmanager (IDC monitoring)"
# 32+ URL-safe characters, as generated tokens are; development data only.
ALERTMANAGER_TOKEN = "demo-alertmanager-idc-token-for-development-only"  # noqa: S105

# The source's tickets: the bank's data centre, hardware, P3 unless the severity says.
ALERTMANAGER_CUSTOMER = "spdb"
ALERTMANAGER_CATEGORY = "hardware"
# Alertmanager's usual `severity` label (and the words Chinese rule files use) -> ours.
SEVERITY_PRIORITY = {
    "critical": "P1",
    "紧急": "P1",
    "major": "P2",
    "严重": "P2",
    "warning": "P3",
    "警告": "P3",
    "info": "P4",
    "提示": "P4",
}
SUBSCRIPTION_NAME = "开发环境接收端 (dev webhook receiver)"
SUBSCRIPTION_DESCRIPTION = (
    "make run 启动的本地接收端, 每次投递写入 .data/webhooks.jsonl "
    "(the local receiver `make run` starts; each delivery is a line of .data/webhooks.jsonl)"
)
SUBSCRIPTION_EVENTS = [
    "ticket.*", "sla.*", "escalation.*", "incident.*", "part_request.*", "rma.*",
    "stock.*", "loan.*", "callback.*", "survey.*", "webhook.*",
]  # fmt: skip
# The receiver is on loopback, which only WEBHOOK_ALLOW_NETWORKS lets through.
RECEIVER_NETWORK = "127.0.0.1/32"


async def step_hooks(uow: UnitOfWork, ctx: DemoContext) -> None:
    await _alertmanager_source(uow, ctx)
    await _dev_subscription(uow, ctx)


async def _alertmanager_source(uow: UnitOfWork, ctx: DemoContext) -> None:
    from app.core.errors import Conflict
    from app.hooks.schemas.sources import HookMapping, HookSourceCreate, ValueMaps
    from app.hooks.service import sources

    body = HookSourceCreate(
        key=ALERTMANAGER_KEY,
        name=ALERTMANAGER_NAME,
        kind="alertmanager",
        auth="bearer",
        secret=ALERTMANAGER_TOKEN,
        customer_id=ctx.ids[f"customer:{ALERTMANAGER_CUSTOMER}"],
        category=ALERTMANAGER_CATEGORY,
        priority="P3",
        mapping=HookMapping(
            device_serial=["labels.serial", "labels.instance"],
            priority="labels.severity",
            values=ValueMaps(priority=SEVERITY_PRIORITY),
        ),
        resolve_on_recovery=False,
    )
    try:
        created = await sources.create(uow, body)
    except Conflict:  # loaded before (--force): the key is taken, nothing was written
        return
    ctx.ids["hook_source:alertmanager"] = created.id
    ctx.count("webhook sources")


async def _dev_subscription(uow: UnitOfWork, ctx: DemoContext) -> None:
    from app.hooks.schemas.subscriptions import WebhookSubscriptionCreate
    from app.hooks.service import subscriptions

    url = dev_url()
    existing = await subscriptions.list_page(uow, PageParams(limit=200, after=None), None)
    if any(s.url == url and s.name == SUBSCRIPTION_NAME for s in existing.items):
        return
    body = WebhookSubscriptionCreate(
        name=SUBSCRIPTION_NAME,
        url=url,
        event_types=SUBSCRIPTION_EVENTS,
        description=SUBSCRIPTION_DESCRIPTION,
        secret=DEMO_SECRET,
    )
    # Loopback allowed for this registration only, as `make run` allows it to its
    # children: a demo loaded elsewhere (a test, `supportline demo` on a server) has the
    # row all the same, and its sends are refused until WEBHOOK_ALLOW_NETWORKS allows it.
    row = await subscriptions.create(uow, body, also_allow=[RECEIVER_NETWORK])
    ctx.ids["webhook_subscription:dev"] = row.id
    ctx.count("webhook subscriptions")
