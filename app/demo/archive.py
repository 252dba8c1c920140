"""The demo's archive steps: catalogue, branches, people, customers and contacts,
devices, contracts, all made through the domain services. Records are looked up by
their natural keys (codes, serials, contract numbers) first, so `--force` does not
trip on them."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

from app.core.db import UnitOfWork
from app.demo import repository
from app.demo.context import BUSINESS_TZ, DemoContext
from app.demo.data.archive import (
    BRANCHES,
    CONTACTS,
    CONTRACTS,
    CUSTOMERS,
    DEVICES,
    ENGINEER_CONTACTS,
    ENGINEERS,
    RD_KEYS,
    TEAMS,
)
from app.demo.keys import issue_keys


async def step_catalogue(uow: UnitOfWork, ctx: DemoContext) -> None:
    """Categories, product families and service levels (7x24, 5x8, basic)."""
    from app.defaults import ensure_defaults

    await ensure_defaults(uow)


async def step_branches(uow: UnitOfWork, ctx: DemoContext) -> None:
    from app.branches import service
    from app.branches.schemas import BranchCreate

    for code, name, name_en, region in BRANCHES:
        branch_id = await repository.branch_id_by_code(uow, code)
        if branch_id is None:
            data = BranchCreate(code=code, name=name, name_en=name_en, region=region)
            branch_id = (await service.create(uow, data)).id
            ctx.count("branches")
        ctx.ids[f"branch:{code}"] = branch_id


# -- people: teams, engineers, rosters --------------------------------------------------


async def step_people(uow: UnitOfWork, ctx: DemoContext) -> None:
    """Teams of the Shanghai centre and R&D, engineer profiles with skills, weekday shifts
    09:00-18:00 (the R&D engineer 10:00-19:00) and a weekly 7x24 on-call rotation."""
    await issue_keys(uow, ctx, RD_KEYS)
    await _create_teams(uow, ctx)
    for alias, team_alias, line, skills, max_load, languages in ENGINEERS:
        await _create_engineer(uow, ctx, alias, team_alias, line, skills, max_load, languages)
        ctx.count("engineers")
    await _create_rotation(uow, ctx)


async def _create_teams(uow: UnitOfWork, ctx: DemoContext) -> None:
    from app.people import service
    from app.people.schemas import TeamCreate

    admin = ctx.principals["admin"]
    for alias, branch, code, name, name_en, line, manager in TEAMS:
        branch_id = ctx.ids[f"branch:{branch}"]
        # Looked up first, as every record with a natural key: `--force` loads again.
        found = await repository.team_id_by_code(uow, branch_id, code)
        if found is None:
            found = (await service.create_team(uow, admin, TeamCreate(
                code=code, name=name, name_en=name_en, line=line,  # type: ignore[arg-type]
                branch_id=branch_id, manager_id=ctx.principals[manager].id,
            ))).id  # fmt: skip
            ctx.count("teams")
        ctx.ids[f"team:{alias}"] = found


async def _create_engineer(
    uow: UnitOfWork,
    ctx: DemoContext,
    alias: str,
    team_alias: str | None,
    line: str,
    skills: list[tuple[str, str, int]],
    max_load: int,
    languages: list[str],
) -> None:
    """The profile of the key `alias` and its five weekday shifts."""
    from app.people import service
    from app.people.schemas import EngineerCreate, ShiftCreate

    admin = ctx.principals["admin"]
    p = ctx.principals[alias]
    home = p.branch_id or ctx.ids["branch:SH"]
    email, phone = ENGINEER_CONTACTS[alias]
    await service.create_engineer(uow, admin, EngineerCreate.model_validate({
        "api_key_id": p.id, "name": p.name.split(" ", 1)[0],
        "name_en": p.name.split(" ", 1)[1] if " " in p.name else None, "line": line,
        "branch_id": home, "team_id": ctx.ids[f"team:{team_alias}"] if team_alias else None,
        "languages": languages, "max_load": max_load, "email": email, "phone": phone,
        "skills": [{"kind": k, "code": c, "level": lv} for k, c, lv in skills],
    }))  # fmt: skip
    starts, ends = (time(10), time(19)) if line == "l3" else (time(9), time(18))
    for day in range(5):
        await service.create_shift(uow, admin, p.id,
                                   ShiftCreate(weekday=day, starts=starts, ends=ends))  # fmt: skip


async def _create_rotation(uow: UnitOfWork, ctx: DemoContext) -> None:
    from app.people import service
    from app.people.schemas import OnCallRotationCreate

    monday = ctx.today - timedelta(days=ctx.today.weekday())
    await service.create_rotation(uow, ctx.principals["admin"], ctx.ids["team:sh-l1"],
                                  OnCallRotationCreate(
        name="华东区7x24值班 (每周轮换)",
        starts_at=datetime(monday.year, monday.month, monday.day, 9, tzinfo=BUSINESS_TZ),
        period_hours=168, members=[ctx.principals["zhang"].id],
    ))  # fmt: skip


# -- customers and contacts -----------------------------------------------------------


async def step_customers(uow: UnitOfWork, ctx: DemoContext) -> None:
    await _create_customers(uow, ctx)
    await _create_contacts(uow, ctx)


async def _create_customers(uow: UnitOfWork, ctx: DemoContext) -> None:
    from app.customers import repository as customers
    from app.customers import service
    from app.customers.schemas import CustomerCreate

    admin = ctx.principals["admin"]
    for alias, branch, code, name, name_en, industry, address, notes in CUSTOMERS:
        customer_id = await customers.customer_id_by_code(uow, code)
        if customer_id is None:
            data = CustomerCreate(
                branch_id=ctx.ids[f"branch:{branch}"],
                code=code,
                name=name,
                name_en=name_en,
                industry=industry,
                address=address,
                notes=notes,
            )
            customer_id = (await service.create_customer(uow, admin, data)).id
            ctx.count("customers")
        ctx.ids[f"customer:{alias}"] = customer_id


async def _create_contacts(uow: UnitOfWork, ctx: DemoContext) -> None:
    from app.customers import repository as customers
    from app.customers import service
    from app.customers.schemas import ContactCreate

    admin = ctx.principals["admin"]
    for alias, customer, name, title, phone, email, language in CONTACTS:
        customer_id: uuid.UUID = ctx.ids[f"customer:{customer}"]
        contact_id = await customers.contact_id_by_name(uow, customer_id, name)
        if contact_id is None:
            contact = ContactCreate.model_validate(
                {"name": name, "title": title, "phone": phone, "email": email, "language": language}
            )
            contact_id = (await service.create_contact(uow, admin, customer_id, contact)).id
            ctx.count("contacts")
        ctx.ids[f"contact:{alias}"] = contact_id


# -- installed base and contracts -------------------------------------------------------


async def step_devices(uow: UnitOfWork, ctx: DemoContext) -> None:
    from app.devices import repository as devices
    from app.devices import service
    from app.devices.schemas import DeviceCreate

    admin = ctx.principals["admin"]
    today = ctx.today
    for alias, customer, model, family, serial, version, site, installed, warranty in DEVICES:
        device_id = await devices.find_by_model_serial(uow, model, serial)
        if device_id is None:
            data = DeviceCreate(
                customer_id=ctx.ids[f"customer:{customer}"],
                serial=serial,
                model=model,
                product_family=family,
                software_version=version,
                site=site,
                install_date=installed,
                warranty_end=today + timedelta(days=warranty),
            )
            device_id = (await service.create_device(uow, admin, data)).id
            ctx.count("devices")
        ctx.ids[f"device:{alias}"] = device_id


async def step_contracts(uow: UnitOfWork, ctx: DemoContext) -> None:
    from app.contracts import repository as contracts
    from app.contracts import service
    from app.contracts.schemas import ContractCreate

    admin = ctx.principals["admin"]
    today = ctx.today
    for number, customer, level, starts, ends, status, devices, notes in CONTRACTS:
        if await contracts.number_taken(uow, number):
            continue
        data = ContractCreate.model_validate(
            {
                "customer_id": ctx.ids[f"customer:{customer}"],
                "number": number,
                "service_level": level,
                "starts_on": today + timedelta(days=starts),
                "ends_on": today + timedelta(days=ends),
                "status": status,
                "notes": notes,
            }
        )
        contract = await service.create_contract(uow, admin, data)
        if devices:
            ids = [ctx.ids[f"device:{d}"] for d in devices]
            await service.replace_covered_devices(uow, admin, contract.id, ids, None)
        ctx.count("contracts")
