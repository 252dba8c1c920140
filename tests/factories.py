"""Builders for test data, through the ORM and the same unit of work the API uses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from app.core.db import open_uow


@dataclass
class World:
    branch_id: uuid.UUID
    other_branch_id: uuid.UUID
    customer_id: uuid.UUID
    contact_id: uuid.UUID
    device_id: uuid.UUID
    bare_device_id: uuid.UUID
    contract_id: uuid.UUID
    other_customer_id: uuid.UUID
    other_contact_id: uuid.UUID
    other_device_id: uuid.UUID


async def _merge(uow: Any, obj: Any) -> Any:
    merged = await uow.session.merge(obj)
    await uow.session.flush()
    return merged


async def build_world() -> World:
    """Two branches; a customer in the first with a contact, a covered device, an
    uncovered device and a 7x24 contract; a customer of the second branch."""
    from app.branches.models import Branch
    from app.catalogue.models import Category, ProductFamily, ServiceLevel
    from app.contracts.models import Contract, ContractDevice
    from app.customers.models import Contact, Customer
    from app.devices.models import Device

    suffix = uuid.uuid4().hex[:6]
    async with open_uow() as uow:
        await _merge(uow, Category(code="hardware", name="硬件", name_en="Hardware"))
        await _merge(uow, Category(code="software", name="软件", name_en="Software"))
        await _merge(uow, ProductFamily(code="switch", name="交换机", name_en="Switches"))
        await _merge(uow, ServiceLevel(code="7x24", name="7x24小时", name_en="7x24"))
        await _merge(
            uow, ServiceLevel(code="basic", name="基础服务", name_en="Basic", is_default=True)
        )
        b1 = Branch(code=f"SH{suffix}", name="上海分公司")
        b2 = Branch(code=f"BJ{suffix}", name="北京分公司")
        uow.session.add_all([b1, b2])
        await uow.session.flush()
        c1 = Customer(branch_id=b1.id, code=f"C1{suffix}", name="上海浦东发展银行数据中心")
        c2 = Customer(branch_id=b2.id, code=f"C2{suffix}", name="北京地铁运营有限公司")
        uow.session.add_all([c1, c2])
        await uow.session.flush()
        p1 = Contact(customer_id=c1.id, name="王伟", phone="13800138000", email="wang@example.cn")
        p2 = Contact(customer_id=c2.id, name="李娜", phone="13900139000", language="zh-CN")
        d1 = Device(
            customer_id=c1.id, serial=f"SN{suffix}1", model="S12700", product_family="switch"
        )
        d2 = Device(
            customer_id=c1.id, serial=f"SN{suffix}2", model="S5720", product_family="switch"
        )
        d3 = Device(
            customer_id=c2.id, serial=f"SN{suffix}3", model="S5720", product_family="switch"
        )
        uow.session.add_all([p1, p2, d1, d2, d3])
        await uow.session.flush()
        today = date.today()
        k = Contract(
            customer_id=c1.id,
            number=f"HT-{suffix}",
            service_level="7x24",
            starts_on=today - timedelta(days=30),
            ends_on=today + timedelta(days=335),
        )
        uow.session.add(k)
        await uow.session.flush()
        uow.session.add(ContractDevice(contract_id=k.id, device_id=d1.id))
        world = World(
            branch_id=b1.id,
            other_branch_id=b2.id,
            customer_id=c1.id,
            contact_id=p1.id,
            device_id=d1.id,
            bare_device_id=d2.id,
            contract_id=k.id,
            other_customer_id=c2.id,
            other_contact_id=p2.id,
            other_device_id=d3.id,
        )
    return world


def ticket_body(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": str(world.customer_id),
        "contact_id": str(world.contact_id),
        "device_id": str(world.device_id),
        "channel": "phone",
        "category": "hardware",
        "service_type": "onsite",
        "impact": "high",
        "urgency": "high",
        "subject": "核心交换机电源模块告警,业务中断",
        "description": "机房A的核心交换机两路电源均告警 power supply failure",
        "fault_started_at": "2026-03-02T08:40:00+08:00",
        "affected_system": "生产网核心",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}
