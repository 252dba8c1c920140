"""Demo data for `make run` / `supportline demo`: a Chinese support centre.

`load_demo()` runs a list of loader steps in one transaction, once: the marker is the
API key named "demo admin". Each step takes the unit of work and a `DemoContext` and
adds what it needs (later steps see what earlier ones made through the context). The
plain API keys issued are written to DATA_DIR/demo-keys.txt and printed, so scripts
(and the CI smoke test) can read them.

To add demo records: write `async def _step_xxx(uow, ctx) -> None` using the domain
services (never raw SQL) and append it to STEPS in dependency order.

What is loaded: the default catalogue; four branches (SH, BJ, GZ, CD); one key per role
(two SH engineers, one engineer in each other branch, two integrations); eight customers
(a bank, a metro, hospitals, universities, a power grid, a foreign-invested plant with
an English-speaking contact); 23 devices; seven contracts (7x24 for the bank and the
grid, 5x8 for others, one expired, one suspended); sixteen tickets in every status,
registered and worked through the ticket service by the people whose keys are issued;
six engineer profiles with work e-mail and mobile; one open major incident (the grid's
two tickets) with status updates.

Ticket stories are dated in the past (hours to days before the load) by pinning the
injected clock to each step's moment while the services run, so timelines, first
responses and visits read like real work; the clock is restored afterwards. Archive
records are looked up by their natural keys (codes, serials, contract numbers) before
being created, so `--force` adds new keys and tickets without tripping on them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import select, text
from sqlmodel import col

from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork, dispose_engine, open_uow
from app.core.security import Principal, Role

MARKER_KEY_NAME = "demo admin"
KEYS_FILE = "demo-keys.txt"
# Any constant works: it only serialises concurrent `supportline demo` runs.
_ADVISORY_LOCK = 0x5D_E40
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class DemoKey:
    role: Role
    name: str
    plain: str
    branch_id: uuid.UUID | None = None


@dataclass
class DemoContext:
    """What the steps made so far, by a short name (e.g. ctx.ids["branch:SH"])."""

    keys: list[DemoKey] = field(default_factory=list)
    ids: dict[str, Any] = field(default_factory=dict)
    principals: dict[str, Principal] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    # The moment of the load: ticket stories are dated back from it.
    now: datetime = field(default_factory=lambda: get_clock().now())

    @property
    def today(self) -> date:
        """The business date in China (contract and warranty dates are meant there)."""
        return self.now.astimezone(BUSINESS_TZ).date()

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


Step = Callable[[UnitOfWork, DemoContext], Awaitable[None]]


# -- keys -----------------------------------------------------------------------------


async def _issue_key(
    uow: UnitOfWork,
    ctx: DemoContext,
    name: str,
    role: Role,
    branch_id: uuid.UUID | None = None,
    alias: str | None = None,
) -> Principal:
    """Issues a key and remembers its principal (as `resolve()` would build it) under
    `alias`, so later steps act as that person through the services."""
    from app.access import service

    key, plain = await service.create_key(uow, name, role, branch_id)
    ctx.keys.append(DemoKey(role=role, name=name, plain=plain, branch_id=branch_id))
    principal = Principal(id=key.id, name=key.name, role=Role(key.role), branch_id=key.branch_id)
    ctx.principals[alias or role.value] = principal
    ctx.count("api keys")
    return principal


async def _step_catalogue(uow: UnitOfWork, ctx: DemoContext) -> None:
    """Categories, product families and service levels (7x24, 5x8, basic)."""
    from app.defaults import ensure_defaults

    await ensure_defaults(uow)


async def _step_admin_key(uow: UnitOfWork, ctx: DemoContext) -> None:
    """The marker: an all-branches admin key (the first line of demo-keys.txt)."""
    await _issue_key(uow, ctx, MARKER_KEY_NAME, Role.admin)


# -- branches -------------------------------------------------------------------------

# code, name, name_en, region
_BRANCHES = [
    ("SH", "上海分公司", "Shanghai Branch", "华东"),
    ("BJ", "北京分公司", "Beijing Branch", "华北"),
    ("GZ", "广州分公司", "Guangzhou Branch", "华南"),
    ("CD", "成都服务网点", "Chengdu Service Point", "西南"),
]


async def _step_branches(uow: UnitOfWork, ctx: DemoContext) -> None:
    from app.branches import service
    from app.branches.models import Branch
    from app.branches.schemas import BranchCreate

    for code, name, name_en, region in _BRANCHES:
        found = await uow.session.execute(select(col(Branch.id)).where(col(Branch.code) == code))
        branch_id = found.scalar_one_or_none()
        if branch_id is None:
            data = BranchCreate(code=code, name=name, name_en=name_en, region=region)
            branch_id = (await service.create(uow, data)).id
            ctx.count("branches")
        ctx.ids[f"branch:{code}"] = branch_id


# -- the other keys -------------------------------------------------------------------

# alias, role, name, branch code (None: all branches)
_KEYS: list[tuple[str, Role, str, str | None]] = [
    ("manager", Role.manager, "孙经理 Sun Li (技术支持经理)", "SH"),
    ("dispatcher", Role.dispatcher, "周敏 Zhou Min (派单调度)", "SH"),
    ("zhang", Role.engineer, "张工 Zhang Wei", "SH"),
    ("wang", Role.engineer, "王工 Wang Lei", "SH"),
    ("li", Role.engineer, "李工 Li Qiang", "BJ"),
    ("chen", Role.engineer, "陈工 Chen Hao", "GZ"),
    ("liu", Role.engineer, "刘工 Liu Yang", "CD"),
    ("agent", Role.agent, "林晓 Lin Xiao (400热线坐席)", None),
    ("crm", Role.integration, "CRM集成", None),
    ("nms", Role.integration, "网管监控告警接入 NMS", None),
]


async def _step_keys(uow: UnitOfWork, ctx: DemoContext) -> None:
    for alias, role, name, branch in _KEYS:
        branch_id = ctx.ids[f"branch:{branch}"] if branch else None
        await _issue_key(uow, ctx, name, role, branch_id, alias=alias)


# -- people: teams, engineers, rosters --------------------------------------------------

# alias, branch, code, name, name_en, line, manager alias
_TEAMS = [
    ("sh-l1", "SH", "SH-L1", "华东区一线技术支持组", "East China line-1 support", "l1", "manager"),
    ("sh-l2", "SH", "SH-L2", "华东区二线网络专家组", "East China line-2 network experts", "l2",
     "manager"),
    ("rd", "SH", "RD-NET", "研发支持部 网络产品线", "R&D support, network products", "l3",
     "rd_manager"),
]  # fmt: skip
# key alias, team alias, line, skills ((kind, code, level)), max load, languages
_ENGINEERS = [
    ("zhang", "sh-l1", "l1", [("product_family", "switch", 4), ("category", "network", 4)], 12,
     ["zh-CN", "en"]),
    ("wang", "sh-l2", "l2", [("product_family", "switch", 5), ("product_family", "router", 4),
                             ("category", "network", 5)], 8, ["zh-CN"]),
    ("li", None, "l1", [("product_family", "storage", 3), ("category", "hardware", 4)], 10,
     ["zh-CN"]),
    ("chen", None, "l1", [("product_family", "server", 4), ("category", "hardware", 3)], 10,
     ["zh-CN", "en"]),
    ("liu", None, "l1", [("product_family", "firewall", 4), ("category", "network", 3)], 10,
     ["zh-CN"]),
    ("rd_liu", "rd", "l3", [("product_family", "switch", 5), ("category", "software", 5)], 6,
     ["zh-CN", "en"]),
]  # fmt: skip


# key alias: (work e-mail, mobile); the e-mail notices reach engineers here.
_ENGINEER_CONTACTS = {
    "zhang": ("zhang.wei@supportline.example.cn", "13816620101"),
    "wang": ("wang.lei@supportline.example.cn", "13816620102"),
    "li": ("li.qiang@supportline.example.cn", "13801160103"),
    "chen": ("chen.hao@supportline.example.cn", "13802200104"),
    "liu": ("liu.yang@supportline.example.cn", "13808280105"),
    "rd_liu": ("liu.bo@supportline.example.cn", "13816620199"),
}


async def _step_people(uow: UnitOfWork, ctx: DemoContext) -> None:
    """Teams of the Shanghai centre and R&D, engineer profiles with skills, weekday shifts
    09:00-18:00 (the R&D engineer 10:00-19:00) and a weekly 7x24 on-call rotation."""
    from datetime import time

    from app.people import service
    from app.people.schemas import (
        EngineerCreate,
        OnCallRotationCreate,
        ShiftCreate,
        TeamCreate,
    )

    admin = ctx.principals["admin"]
    rd_manager = await _issue_key(uow, ctx, "吴总监 Wu Jun (研发支持部经理)", Role.manager,
                                  ctx.ids["branch:SH"], alias="rd_manager")  # fmt: skip
    rd_engineer = await _issue_key(uow, ctx, "刘博士 Dr. Liu Bo (研发支持)", Role.engineer, None,
                                   alias="rd_liu")  # fmt: skip
    _ = rd_manager, rd_engineer
    for alias, branch, code, name, name_en, line, manager in _TEAMS:
        created = await service.create_team(uow, admin, TeamCreate(
            code=code, name=name, name_en=name_en, line=line,  # type: ignore[arg-type]
            branch_id=ctx.ids[f"branch:{branch}"], manager_id=ctx.principals[manager].id,
        ))  # fmt: skip
        ctx.ids[f"team:{alias}"] = created.id
        ctx.count("teams")
    for alias, team_alias, line, skills, max_load, languages in _ENGINEERS:
        p = ctx.principals[alias]
        home = p.branch_id or ctx.ids["branch:SH"]
        email, phone = _ENGINEER_CONTACTS[alias]
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
        ctx.count("engineers")
    monday = ctx.today - timedelta(days=ctx.today.weekday())
    await service.create_rotation(uow, admin, ctx.ids["team:sh-l1"], OnCallRotationCreate(
        name="华东区7x24值班 (每周轮换)",
        starts_at=datetime(monday.year, monday.month, monday.day, 9, tzinfo=BUSINESS_TZ),
        period_hours=168, members=[ctx.principals["zhang"].id],
    ))  # fmt: skip


# -- customers and contacts -----------------------------------------------------------

# alias, branch, code, name, name_en, industry, address, notes
_CUSTOMERS = [
    ("spdb", "SH", "C-SH-000101", "上海浦东发展银行数据中心", "SPDB Data Centre", "金融",
     "上海市浦东新区张江高科技园区博霞路18号", "核心业务系统, 7x24 保障; 变更需提前3个工作日报备"),
    ("fudan", "SH", "C-SH-000102", "复旦大学信息化办公室", "Fudan University IT Office", "教育",
     "上海市杨浦区邯郸路220号", "寒暑假为集中割接窗口"),
    ("jiayu", "SH", "C-SH-000103", "上海嘉昱精密制造有限公司", "Jiayu Precision Manufacturing (Shanghai) Co., Ltd.",
     "制造业", "上海市浦东新区金桥出口加工区新金桥路1888号", "外资企业, IT 由亚太区团队管理; 暂无维保合同"),
    ("bjsubway", "BJ", "C-BJ-000201", "北京地铁运营有限公司", "Beijing Subway Operation Co., Ltd.",
     "交通运输", "北京市西城区西直门外大街2号 调度指挥中心", "运营时段 05:00-23:30 禁止变更"),
    ("bit", "BJ", "C-BJ-000202", "北京理工大学网络信息技术中心", "BIT Network & Information Technology Centre",
     "教育", "北京市海淀区中关村南大街5号", "合同因续费审批暂停服务"),
    ("gzfph", "GZ", "C-GZ-000301", "广州市第一人民医院", "Guangzhou First People's Hospital", "医疗卫生",
     "广州市越秀区盘福路1号", "HIS/PACS 系统, 门诊高峰 08:00-12:00"),
    ("sysu", "GZ", "C-GZ-000302", "中山大学网络与信息中心", "Sun Yat-sen University Network & Information Centre",
     "教育", "广州市海珠区新港西路135号", "维保合同已到期, 续签商务洽谈中"),
    ("scgrid", "CD", "C-CD-000401", "国网四川省电力公司信息通信分公司",
     "State Grid Sichuan Electric Power ICT Company", "电力能源",
     "四川省成都市高新区蜀锦路68号 调度大楼", "电力调度数据网, 重大保电期间驻场值守"),
]  # fmt: skip

# alias, customer, name, title, phone, email, language
_CONTACTS = [
    ("spdb.wang", "spdb", "王建国", "网络运维主管", "13816628801", "wang.jianguo@spdb-dc.example.cn", "zh-CN"),
    ("spdb.chen", "spdb", "陈静", "存储系统管理员", "13917735502", "chen.jing@spdb-dc.example.cn", "zh-CN"),
    ("fudan.zhou", "fudan", "周明", "网络中心工程师", "021-6564 3207", "zhouming@fudan.example.edu.cn", "zh-CN"),
    ("jiayu.miller", "jiayu", "David Miller", "IT Manager, APAC", "+86 21 5899 1200 ext. 215", "david.miller@jiayu-precision.example.com", "en"),
    ("jiayu.xu", "jiayu", "徐磊", "IT专员", "13764512208", "xu.lei@jiayu-precision.example.com", "zh-CN"),
    ("bjsubway.li", "bjsubway", "李娜", "通信信号部 网络工程师", "13910086604", "lina@bjsubway.example.com.cn", "zh-CN"),
    ("bjsubway.zhao", "bjsubway", "赵强", "调度指挥中心 值班长", "13701132205", None, "zh-CN"),
    ("bit.gao", "bit", "高远", "存储管理员", "18601245509", "gaoyuan@bit.example.edu.cn", "zh-CN"),
    ("gzfph.huang", "gzfph", "黄志华", "信息科科长", "13802256607", "huangzh@gzfph.example.org.cn", "zh-CN"),
    ("gzfph.lin", "gzfph", "林小燕", "信息科 系统工程师", "13925012310", "linxy@gzfph.example.org.cn", "zh-CN"),
    ("sysu.deng", "sysu", "邓伟", "网络运维组组长", "13660288811", "dengwei@sysu.example.edu.cn", "zh-CN"),
    ("scgrid.yang", "scgrid", "杨帆", "信通调度 运维班班长", "13880018809", "yangfan@sc.sgcc.example.com.cn", "zh-CN"),
    ("scgrid.liu", "scgrid", "刘晓东", "网络安全专责", "13540026610", "liuxd@sc.sgcc.example.com.cn", "zh-CN"),
]  # fmt: skip


async def _step_customers(uow: UnitOfWork, ctx: DemoContext) -> None:
    from app.customers import service
    from app.customers.models import Contact, Customer
    from app.customers.schemas import ContactCreate, CustomerCreate

    admin = ctx.principals["admin"]
    for alias, branch, code, name, name_en, industry, address, notes in _CUSTOMERS:
        found = await uow.session.execute(
            select(col(Customer.id)).where(col(Customer.code) == code)
        )
        customer_id = found.scalar_one_or_none()
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
    for alias, customer, name, title, phone, email, language in _CONTACTS:
        customer_id = ctx.ids[f"customer:{customer}"]
        found = await uow.session.execute(
            select(col(Contact.id)).where(
                col(Contact.customer_id) == customer_id, col(Contact.name) == name
            )
        )
        contact_id = found.scalar_one_or_none()
        if contact_id is None:
            contact = ContactCreate.model_validate(
                {"name": name, "title": title, "phone": phone, "email": email, "language": language}
            )
            contact_id = (await service.create_contact(uow, admin, customer_id, contact)).id
            ctx.count("contacts")
        ctx.ids[f"contact:{alias}"] = contact_id


# -- installed base -------------------------------------------------------------------

# alias, customer, model, family, serial, software version, site, installed,
# warranty end in days from today (negative: already expired)
_DEVICES = [
    ("spdb.core1", "spdb", "S12700E-8", "switch", "2102352168P0L7000031", "V200R021C10SPC600",
     "张江数据中心 3楼 A区 A05机柜", date(2021, 11, 20), 540),
    ("spdb.core2", "spdb", "S12700E-8", "switch", "2102352168P0L7000032", "V200R021C10SPC600",
     "张江数据中心 3楼 A区 A06机柜", date(2021, 11, 20), 540),
    ("spdb.wan", "spdb", "NE40E-X8A", "router", "2102351NKR10M4000117", "V800R021C10SPC600",
     "张江数据中心 3楼 网络区 N02机柜", date(2022, 3, 8), 720),
    ("spdb.storage", "spdb", "OceanStor 5500 V5", "storage", "2102351QLH10N3000086", "V500R007C60SPC300",
     "张江数据中心 4楼 存储区 S01机柜", date(2020, 9, 15), 300),
    ("spdb.fw", "spdb", "USG6650E", "firewall", "2102353GQR10P1000245", "V600R007C20SPC600",
     "张江数据中心 3楼 安全区 F03机柜", date(2023, 5, 26), 900),
    ("spdb.access", "spdb", "S5735-L48T4X-A1", "switch", "2102312LGD10K9001482", "V200R019C10SPC500",
     "陆家嘴营业部 2楼 弱电间", date(2019, 7, 1), -420),
    ("fudan.core", "fudan", "S12700E-4", "switch", "2102352169P0M2000054", "V200R022C00SPC500",
     "邯郸校区 网络中心机房 2楼 B03机柜", date(2022, 8, 12), 480),
    ("fudan.access", "fudan", "S5735-S48T4X", "switch", "2102312LGE10L1002216", "V200R019C10SPC500",
     "光华楼 12楼 弱电间", date(2019, 8, 20), -610),
    ("fudan.egress", "fudan", "AR6300", "router", "2102352BCS10N7000312", "V300R019C13SPC200",
     "邯郸校区 网络中心机房 2楼 B01机柜", date(2021, 1, 18), 120),
    ("jiayu.router", "jiayu", "AR6300", "router", "2102352BCS10P2000540", "V300R021C10SPC100",
     "金桥工厂 行政楼1楼 机房", date(2022, 4, 6), 60),
    ("jiayu.server", "jiayu", "FusionServer 2288H V5", "server", "2102311XBSN0K9000731", "iBMC V3.36.01.10",
     "金桥工厂 行政楼1楼 机房 R02机柜", date(2020, 2, 28), -250),
    ("bjsubway.core", "bjsubway", "S12700E-8", "switch", "2102352168P0N5000078", "V200R021C10SPC600",
     "西直门调度指挥中心 5楼 通信机房 C02机柜", date(2021, 6, 30), 400),
    ("bjsubway.wan", "bjsubway", "NE40E-X3A", "router", "2102351NKS10M8000203", "V800R013C00SPC100",
     "西直门调度指挥中心 5楼 通信机房 C04机柜", date(2020, 10, 9), 200),
    ("bjsubway.fw", "bjsubway", "USG6680E", "firewall", "2102353GQS10N6000088", "V600R007C20SPC600",
     "西直门调度指挥中心 5楼 安全区 D01机柜", date(2022, 12, 15), 650),
    ("bit.storage", "bit", "OceanStor 5500 V5", "storage", "2102351QLH10M7000019", "V500R007C71SPC100",
     "中关村校区 信息楼 B1 数据中心 S03机柜", date(2021, 3, 22), 180),
    ("gzfph.storage", "gzfph", "OceanStor 5500 V5", "storage", "2102351QLJ10P4000157", "V500R007C60SPC300",
     "门诊楼 B1 信息中心机房 S02机柜", date(2022, 7, 1), 560),
    ("gzfph.his", "gzfph", "FusionServer 2288H V6", "server", "2102313LNB10P5000412", "iBMC V6.22.01.10",
     "门诊楼 B1 信息中心机房 R05机柜", date(2023, 2, 14), 800),
    ("gzfph.access", "gzfph", "S5735-L48T4X-A1", "switch", "2102312LGD10N2003307", "V200R021C10SPC600",
     "门诊楼 3楼 弱电间", date(2022, 7, 1), 560),
    ("sysu.core", "sysu", "S12700E-4", "switch", "2102352169P0K6000021", "V200R019C10SPC500",
     "南校园 网络中心 1楼 核心机房", date(2019, 5, 10), -90),
    ("scgrid.wan", "scgrid", "NE40E-X8A", "router", "2102351NKR10N1000066", "V800R021C10SPC600",
     "调度大楼 12楼 信通机房 A03机柜", date(2022, 1, 16), 1000),
    ("scgrid.core", "scgrid", "S12700E-8", "switch", "2102352168P0P1000140", "V200R022C00SPC500",
     "调度大楼 12楼 信通机房 A01机柜", date(2022, 1, 16), 1000),
    ("scgrid.fw", "scgrid", "USG6680E", "firewall", "2102353GQS10P3000301", "V600R007C20SPC600",
     "调度大楼 12楼 信通机房 安全区 B02机柜", date(2023, 9, 5), 1100),
    ("scgrid.storage", "scgrid", "OceanStor 5500 V5", "storage", "2102351QLJ10N9000244", "V500R007C71SPC100",
     "调度大楼 11楼 数据机房 S01机柜", date(2021, 12, 1), 330),
]  # fmt: skip


async def _step_devices(uow: UnitOfWork, ctx: DemoContext) -> None:
    from app.devices import repository, service
    from app.devices.schemas import DeviceCreate

    admin = ctx.principals["admin"]
    today = ctx.today
    for alias, customer, model, family, serial, version, site, installed, warranty in _DEVICES:
        device_id = await repository.find_by_model_serial(uow, model, serial)
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


# -- contracts ------------------------------------------------------------------------

# number, customer, level, starts / ends in days from today, status, covered devices
# (empty: the contract covers all the customer's devices), notes
_CONTRACTS = [
    ("HT-2025-SH-0018", "spdb", "7x24", -420, 680, "active",
     ["spdb.core1", "spdb.core2", "spdb.wan", "spdb.storage", "spdb.fw"],
     "核心设备 7x24 保障, 备件4小时到场, 每季度巡检一次; 营业网点接入设备不在保"),
    ("HT-2025-CD-0007", "scgrid", "7x24", -300, 800, "active",
     ["scgrid.wan", "scgrid.core", "scgrid.fw", "scgrid.storage"],
     "电力调度数据网核心设备, 含本地备件库与重大保电驻场"),
    ("HT-2024-SH-0032", "fudan", "5x8", -500, 230, "active", ["fudan.core", "fudan.egress"],
     "校园网核心与出口; 楼宇接入交换机已过保, 不在保修范围"),
    ("HT-2025-BJ-0011", "bjsubway", "5x8", -200, 530, "active", [],
     "全部在网设备 5x8 远程支持, 紧急故障另行计费上门"),
    ("HT-2025-GZ-0005", "gzfph", "5x8", -150, 580, "active", [], "信息中心设备 5x8 支持, 每半年巡检"),
    ("HT-2022-GZ-0003", "sysu", "5x8", -1140, -45, "active", [], "已到期, 续签商务流程中"),
    ("HT-2025-BJ-0016", "bit", "5x8", -100, 630, "suspended", [], "续费审批未完成, 服务暂停"),
]  # fmt: skip


async def _step_contracts(uow: UnitOfWork, ctx: DemoContext) -> None:
    from app.contracts import repository, service
    from app.contracts.schemas import ContractCreate

    admin = ctx.principals["admin"]
    today = ctx.today
    for number, customer, level, starts, ends, status, devices, notes in _CONTRACTS:
        if await repository.number_taken(uow, number):
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


# -- tickets --------------------------------------------------------------------------

# (minutes after registration, who, what, arguments). `what` is a lifecycle action
# (acknowledge, assign, start, wait, resume, resolve, confirm, reopen, cancel) with its
# API body, or comment / attempt / visit. Argument shorthands: "to" (owner by alias),
# "contact" (contact by alias), "via" (the channel the change came from; defaults by
# actor), "arrived"/"departed" (visit times in minutes after registration).
_Op = tuple[int, str, str, dict[str, Any]]

# Where each actor's changes come from unless an op says otherwise.
_ACTOR_CHANNEL = {"agent": "phone", "crm": "api", "nms": "webhook"}


@dataclass
class _Story:
    ago: timedelta  # registered this long before the load
    by: str  # who registers it (a key alias)
    customer: str
    contact: str | None
    device: str | None
    ticket: dict[str, Any]  # the rest of TicketCreate
    ops: list[_Op] = field(default_factory=list)
    fault_minutes: int | None = None  # the fault began this long before registration
    alias: str | None = None  # kept as ctx.ids["ticket:<alias>"] for later steps


def _h(hours: float) -> timedelta:
    return timedelta(hours=hours)


_STORIES = [
    # Closed: P1 core switch outage, dispatched, spare part, on-site visit, confirmed.
    _Story(
        _h(77), "agent", "spdb", "spdb.wang", "spdb.core1",
        {
            "channel": "phone", "category": "hardware.board", "service_type": "onsite",
            "impact": "high", "urgency": "high",
            "subject": "核心交换机主控板故障,业务中断",
            "description": "张江数据中心核心交换机 S12700E-8 (A05机柜) 主用主控板 MPU 指示灯红色常亮, "
            "主备倒换失败, 下联柜面前置与网银区业务中断。客户已启动应急预案, 部分业务切换至同城灾备。",
            "affected_system": "生产网核心 (柜面前置/网银)", "product_version": "V200R021C10SPC600",
        },
        [
            (3, "agent", "comment", {"body": "已受理您的故障申报, 已通知上海分公司值班工程师, 30分钟内与您联系。"}),
            (5, "dispatcher", "assign", {"to": "zhang", "note": "P1 核心故障, 指派张工现场处理, 王工远程支持", "via": "web"}),
            (8, "manager", "comment", {"body": "已按重大故障通报应急小组, 每30分钟同步一次进展。", "visibility": "internal"}),
            (9, "zhang", "start", {"note": "已电话联系王建国, 立即出发前往张江数据中心"}),
            (35, "zhang", "attempt", {"kind": "diagnosis", "description": "远程采集 display device / display alarm active: 主用 MPU 硬件故障; 备用 MPU 补丁版本与主用不一致, 未能接管。", "outcome": "partial", "minutes_spent": 25}),
            (50, "zhang", "wait", {"on": "parts", "note": "申请主控板备件 (客户现场本地备件库), 预计1小时内送达机房"}),
            (112, "zhang", "resume", {"note": "备件已送达现场"}),
            (205, "zhang", "comment", {"body": "新主控板上线, 备板补丁已同步; 主备倒换测试两次均正常。", "visibility": "internal"}),
            (236, "zhang", "visit", {"arrived": 52, "departed": 236, "notes": "现场更换主用主控板并同步备板补丁, 配合客户回切业务, 观察30分钟无告警。"}),
            (240, "zhang", "resolve", {"resolution_summary": "更换故障主控板, 将备用主控板补丁升级至与主用一致, 主备倒换测试通过, 业务已回切生产并恢复。坏件已返修。"}),
            (1460, "agent", "confirm", {"contact": "spdb.wang", "note": "客户王建国电话确认业务已稳定运行24小时, 同意关闭"}),
        ],
        fault_minutes=12,
    ),
    # Reopened: resolved, then the problem came back at the next failover drill.
    _Story(
        _h(98), "agent", "spdb", "spdb.wang", "spdb.fw",
        {
            "channel": "phone", "category": "network.config", "priority": "P2",
            "subject": "防火墙HA主备倒换后部分IPSec VPN会话中断",
            "description": "昨晚 22:10 USG6650E 双机热备发生主备倒换, 倒换后与3家分行之间的 IPSec VPN 隧道"
            "中断约20分钟后才自动恢复, 期间分行柜面业务受影响。请协助排查会话同步配置。",
            "affected_system": "分行互联VPN", "product_version": "V600R007C20SPC600",
        },
        [
            (8, "zhang", "acknowledge", {"note": "已电话回复王建国, 先远程收集双机热备与 IKE 日志"}),
            (15, "zhang", "start", {}),
            (40, "zhang", "comment", {"body": "HRP 备份通道正常, 但 IKE/IPSec SA 未在主备间同步, 怀疑缺少 VPN 会话的 HRP 镜像配置。", "visibility": "internal"}),
            (95, "zhang", "attempt", {"kind": "diagnosis", "description": "对比主备配置: 备机缺少 IPSec 策略的 HRP 同步配置。", "outcome": "partial", "minutes_spent": 50}),
            (300, "zhang", "resolve", {"resolution_summary": "在主备防火墙开启 IPSec 会话的 HRP 镜像备份, 客户配合完成一次倒换演练, VPN 未中断。"}),
            (302, "agent", "comment", {"body": "您好, 已开启防火墙双机间 VPN 会话同步, 倒换演练验证通过。如无异议请回复确认关闭工单。", "via": "email"}),
            (1500, "agent", "reopen", {"reason": "客户反馈今晨 06:30 例行倒换演练中, 苏州分行隧道再次中断约5分钟"}),
            (1530, "zhang", "comment", {"body": "苏州分行对端为第三方设备, 需核对 DPD 与 IKE 重协商参数; 已约客户下午远程排查。", "visibility": "internal"}),
        ],
        fault_minutes=720,
    ),
    # Closed: hardware fault on a 5x8 contract, part next day, night-window visit.
    _Story(
        _h(56), "agent", "bjsubway", "bjsubway.zhao", "bjsubway.wan",
        {
            "channel": "phone", "category": "hardware", "service_type": "onsite",
            "impact": "medium", "urgency": "medium",
            "subject": "NE40E-X3A 风扇模块告警",
            "description": "网管持续上报 FAN 槽位硬件故障告警, 设备温度较平时高约 8℃, 业务暂无影响。",
            "product_version": "V800R013C00SPC100",
        },
        [
            (20, "li", "acknowledge", {"note": "远程确认 FAN1 风扇模块故障, 安排夜间天窗期更换"}),
            (25, "li", "start", {}),
            (30, "li", "wait", {"on": "parts", "note": "申请风扇模块备件, 北京备件库次日到货"}),
            (900, "li", "resume", {"note": "备件到货, 已报备当晚天窗期作业"}),
            (1232, "li", "visit", {"arrived": 1150, "departed": 1230, "notes": "天窗期 00:50 进场, 热插拔更换 FAN1, 温度恢复正常后离场。"}),
            (1235, "li", "resolve", {"resolution_summary": "更换故障风扇模块, 告警清除, 单板温度恢复至 38℃。"}),
            (1900, "agent", "confirm", {"contact": "bjsubway.zhao", "note": "客户来电确认告警未再出现"}),
        ],
        fault_minutes=120,
    ),
    # Closed: expired contract (uncontracted), waited on the customer, confirmed by e-mail.
    _Story(
        _h(52), "crm", "sysu", "sysu.deng", "sysu.core",
        {
            "channel": "email", "category": "network.connectivity",
            "impact": "medium", "urgency": "medium",
            "subject": "核心交换机 OSPF 邻居频繁 down/up",
            "description": "S12700E-4 日志频繁上报与图书馆汇聚之间的 OSPF 邻居 down/up, 每小时数次, "
            "图书馆区域上网时断时续。",
            "product_version": "V200R019C10SPC500",
        },
        [
            (45, "chen", "acknowledge", {"note": "合同已到期, 按基础服务级别受理; 已请客户经理跟进续签"}),
            (50, "chen", "start", {}),
            (120, "chen", "attempt", {"kind": "diagnosis", "description": "邻居断开原因为 dead timer expired; 核心至图书馆汇聚链路 CRC 错误计数持续增长。", "outcome": "partial", "minutes_spent": 40}),
            (200, "chen", "comment", {"body": "经排查为核心至图书馆汇聚的光链路 CRC 错误, 请安排人员清洁或更换 XGE3/0/12 两端光模块与跳线。", "via": "email"}),
            (230, "chen", "wait", {"on": "customer", "note": "等待客户更换光模块/跳线"}),
            (1500, "chen", "resume", {"note": "客户已更换跳线"}),
            (1560, "chen", "attempt", {"kind": "fix", "description": "更换跳线后观察60分钟, CRC 不再增长, OSPF 邻居稳定。", "outcome": "fixed", "minutes_spent": 60}),
            (1565, "chen", "resolve", {"resolution_summary": "光跳线老化导致 CRC 错误, 引发 OSPF 邻居震荡; 更换跳线后恢复。"}),
            (2900, "crm", "confirm", {"contact": "sysu.deng", "note": "客户邮件回复确认已恢复", "via": "email"}),
        ],
        fault_minutes=600,
    ),
    # Resolved, awaiting the reporter's confirmation: a how-to question over chat.
    _Story(
        _h(27), "agent", "bjsubway", "bjsubway.li", "bjsubway.fw",
        {
            "channel": "chat", "category": "consultation.usage", "priority": "P4",
            "subject": "防火墙策略配置咨询",
            "description": "想在 USG6680E 上配置只在运营时段以外放行维护终端访问的安全策略, 请提供配置方法。",
        },
        [
            (6, "li", "acknowledge", {"note": "在线答复中", "via": "chat"}),
            (8, "li", "start", {"via": "chat"}),
            (40, "li", "comment", {"body": "可先创建时间段对象 (time-range), 再在安全策略中引用; 示例配置已通过邮件发送。", "via": "chat"}),
            (55, "li", "resolve", {"resolution_summary": "已提供基于时间段的安全策略配置示例, 客户在测试环境验证可用。"}),
        ],
    ),
    # Cancelled: the customer found the cause (a planned power cut) and withdrew it.
    _Story(
        _h(30), "agent", "gzfph", "gzfph.lin", "gzfph.access",
        {
            "channel": "phone", "category": "network.connectivity", "service_type": "onsite",
            "impact": "high", "urgency": "medium",
            "subject": "门诊楼3楼网络中断, 挂号窗口无法连网",
            "description": "门诊楼3楼挂号收费窗口全部无法访问 HIS, 3楼弱电间交换机指示灯全灭。",
        },
        [
            (4, "agent", "comment", {"body": "已记录, 工程师将尽快与您联系。"}),
            (10, "chen", "acknowledge", {"note": "已联系林小燕, 了解到3楼弱电间无电, 请客户先核实供电"}),
            (35, "agent", "cancel", {"reason": "客户自查为门诊楼3楼配电检修导致断电, 来电后已自行恢复, 客户要求撤单"}),
        ],
        fault_minutes=15,
    ),
    # Resolved: a suspended contract (uncontracted); two attempts, the second fixed it.
    _Story(
        _h(22), "crm", "bit", "bit.gao", "bit.storage",
        {
            "channel": "web", "category": "software.bug", "priority": "P3",
            "subject": "OceanStor 5500 管理界面无法登录",
            "description": "DeviceManager 登录页面打开后提示连接超时, CLI 可以正常登录, 业务读写正常。",
            "product_version": "V500R007C71SPC100",
        },
        [
            (60, "li", "acknowledge", {"note": "合同暂停中, 按基础服务受理, 已告知客户"}),
            (65, "li", "start", {}),
            (90, "li", "attempt", {"kind": "diagnosis", "description": "DeviceManager 登录超时, 检查发现管理网口证书已过期。", "outcome": "partial", "minutes_spent": 25}),
            (150, "li", "attempt", {"kind": "fix", "description": "指导客户通过 CLI 重新生成并导入证书, 重启管理服务。", "outcome": "fixed", "minutes_spent": 45}),
            (155, "li", "resolve", {"resolution_summary": "管理证书过期导致 DeviceManager 无法登录; 已更新证书, 登录恢复。建议后续升级补丁以支持证书自动续期。"}),
        ],
    ),
    # Waiting on parts: a monitoring alert, RAID degraded, disk from the regional depot.
    _Story(
        _h(20), "nms", "spdb", "spdb.chen", "spdb.storage",
        {
            "channel": "webhook", "category": "hardware.disk", "service_type": "onsite",
            "impact": "high", "urgency": "medium",
            "subject": "存储阵列硬盘告警,RAID降级",
            "description": "[NMS] OceanStor 5500 V5 (SN 2102351QLH10N3000086) 告警: 硬盘域 DiskDomain001 "
            "中 CTE0.12 槽位硬盘故障, RAID 组降级, 热备盘重构中。",
            "external_ref": "NMS-ALM-88213407", "product_version": "V500R007C60SPC300",
        },
        [
            (12, "wang", "acknowledge", {"note": "已确认告警, 热备盘已开始重构, 业务无影响"}),
            (15, "wang", "start", {}),
            (40, "wang", "comment", {"body": "重构进度 35%, 预计6小时完成; 故障盘为 1.92TB SSD, 本地备件库无库存, 走区域库调拨。", "visibility": "internal"}),
            (60, "wang", "wait", {"on": "parts", "note": "已申请 1.92TB SSD 备件, 区域库调拨, 预计明早 10:00 到场"}),
            (62, "agent", "comment", {"body": "您好, 已为您申请更换硬盘, 备件预计明早到达, 届时工程师上门更换。", "via": "email"}),
        ],
        fault_minutes=3,
    ),
    # Waiting on the customer: an upgrade plan sent, the maintenance window not yet agreed.
    _Story(
        _h(18), "agent", "fudan", "fudan.zhou", "fudan.egress",
        {
            "channel": "email", "category": "software.upgrade", "service_type": "upgrade",
            "priority": "P4",
            "subject": "AR6300 出口路由器版本升级咨询与实施",
            "description": "当前版本 V300R019C13SPC200, 安全通告建议升级至 V300R021C10SPC100, "
            "请评估升级风险并给出实施与回退方案。",
            "product_version": "V300R019C13SPC200",
        },
        [
            (50, "zhang", "acknowledge", {"note": "已收到, 评估升级路径中"}),
            (55, "zhang", "start", {}),
            (180, "zhang", "comment", {"body": "升级方案与回退方案已邮件发送, 预计中断15分钟, 请确认割接窗口 (建议周六 22:00 后)。", "via": "email"}),
            (185, "zhang", "wait", {"on": "customer", "note": "等待客户确认割接窗口"}),
        ],
    ),
    # Waiting on the vendor: two failed attempts, then the vendor's TAC.
    _Story(
        _h(6), "nms", "scgrid", "scgrid.yang", "scgrid.wan",
        {
            "channel": "webhook", "category": "network.connectivity", "priority": "P2",
            "subject": "BGP邻居反复震荡",
            "description": "[NMS] NE40E-X8A CD-DD-CORE-01: BGP peer 10.255.12.2 (AS 64512) state changed "
            "Established -> Idle, 30分钟内12次。调度数据网至地调方向路由波动。",
            "external_ref": "NMS-ALM-88219960", "affected_system": "电力调度数据网 省调-地调互联",
            "product_version": "V800R021C10SPC600",
        },
        [
            (6, "liu", "acknowledge", {"note": "已确认, 远程登录排查"}),
            (8, "liu", "start", {}),
            (40, "liu", "attempt", {"kind": "diagnosis", "description": "检查接口光功率与错包均正常; 邻居因 hold timer 超时断开, 怀疑控制面丢包。", "outcome": "failed", "minutes_spent": 30}),
            (95, "liu", "attempt", {"kind": "fix", "description": "调整 BGP keepalive/hold 为 10/30 并启用 BFD, 观察30分钟仍有震荡。", "outcome": "failed", "minutes_spent": 45}),
            (100, "liu", "comment", {"body": "两次尝试未解决。抓包显示对端 Keepalive 正常到达, 本端上送 CPU 队列有丢弃, 疑似已知软件缺陷。", "visibility": "internal"}),
            (130, "liu", "wait", {"on": "vendor", "note": "已提交厂商技术支持中心, 案例号 TAC-5518204, 附诊断信息与抓包"}),
            (135, "agent", "comment", {"body": "已升级厂商技术支持中心分析, 期间已启用静态路由备份保障调度业务。"}),
        ],
        fault_minutes=25,
        alias="scgrid.bgp",
    ),
    # In progress: raised proactively from an inspection finding.
    _Story(
        _h(5), "liu", "scgrid", "scgrid.liu", "scgrid.fw",
        {
            "channel": "proactive", "category": "software.license", "service_type": "proactive",
            "priority": "P3",
            "subject": "巡检发现: 防火墙威胁防护 license 即将过期",
            "description": "季度巡检发现 USG6680E (B02机柜) IPS/AV 特征库升级 license 将于15天后到期, "
            "过期后特征库无法更新。建议尽快续费并在到期前导入新 license。",
            "product_version": "V600R007C20SPC600",
        },
        [
            (2, "liu", "start", {"via": "proactive"}),
            (30, "liu", "comment", {"body": "已将 license 到期情况与续费流程发送给刘晓东, 新 license 到货后我方远程协助导入。", "via": "email"}),
        ],
    ),
    # In progress: an on-site check found the cause outside the device.
    _Story(
        _h(4), "agent", "gzfph", "gzfph.huang", "gzfph.his",
        {
            "channel": "phone", "category": "hardware.power", "service_type": "onsite",
            "impact": "low", "urgency": "high",
            "subject": "HIS数据库服务器电源模块告警",
            "description": "2288H V6 iBMC 告警 PSU2 输入电压丢失, 服务器单电源运行, 业务暂时正常。",
            "affected_system": "HIS 数据库", "product_version": "iBMC V6.22.01.10",
        },
        [
            (15, "chen", "acknowledge", {"note": "已回电黄科长, 安排上门检查"}),
            (20, "chen", "start", {}),
            (90, "chen", "visit", {"arrived": 60, "departed": 88, "notes": "现场检查: PSU2 电源线所接 PDU-B 空开跳闸, 客户机房动力正在排查。"}),
            (95, "chen", "comment", {"body": "初判非设备故障, 待客户 PDU 恢复后复核电源模块状态。", "visibility": "internal"}),
        ],
        fault_minutes=40,
    ),
    # Assigned by the dispatcher: a device out of warranty and not under the contract.
    _Story(
        _h(1.7), "agent", "fudan", "fudan.zhou", "fudan.access",
        {
            "channel": "phone", "category": "network.connectivity", "service_type": "onsite",
            "impact": "medium", "urgency": "medium",
            "subject": "光华楼12楼接入交换机端口批量down",
            "description": "12楼东侧办公室约20个信息点无法上网, 交换机 GE0/0/1-24 端口指示灯灭, 已重启无效。",
        },
        [
            (10, "dispatcher", "assign", {"to": "wang", "note": "接入交换机已过保且不在合同内, 按基础服务处理; 王工明天上午现场", "via": "web"}),
        ],
        fault_minutes=90,
    ),
    # Acknowledged (assigned to the engineer who took it).
    _Story(
        _h(0.85), "agent", "scgrid", "scgrid.yang", "scgrid.core",
        {
            "channel": "phone", "category": "network.performance",
            "impact": "medium", "urgency": "high",
            "subject": "核心交换机 CPU 占用率持续 90% 以上",
            "description": "S12700E-8 主控 CPU 占用率近一小时持续 90% 以上, 网管登录缓慢, 业务暂未中断。",
            "product_version": "V200R022C00SPC500",
        },
        [
            (7, "liu", "acknowledge", {"note": "已回电杨帆, 正在收集 CPU 占用与 cpu-defend 统计"}),
        ],
        fault_minutes=60,
        alias="scgrid.cpu",
    ),
    # New: an English e-mail from an uncontracted customer, via the e-mail gateway.
    _Story(
        _h(2), "crm", "jiayu", "jiayu.miller", "jiayu.router",
        {
            "channel": "email", "category": "network.connectivity",
            "impact": "medium", "urgency": "medium",
            "subject": "VPN tunnel to Munich HQ drops every night around 02:00",
            "description": "Hi team, since last Monday the IPSec tunnel between our AR6300 in Jinqiao and "
            "the Munich HQ firewall goes down almost every night between 01:50 and 02:10 and only comes "
            "back after about 15 minutes. This breaks the nightly MES-to-SAP batch upload. "
            "Logs will follow in the next mail. Regards, David Miller",
            "external_ref": "MAIL-GW-73120417", "product_version": "V300R021C10SPC100",
        },
        [
            (6, "agent", "comment", {"body": "Thank you, David. Your ticket is registered; an engineer will contact you within one business day.", "via": "email"}),
        ],
    ),
    # New: a web form a few minutes ago, nobody on it yet.
    _Story(
        _h(0.4), "crm", "gzfph", "gzfph.lin", "gzfph.storage",
        {
            "channel": "web", "category": "data", "impact": "medium", "urgency": "high",
            "subject": "门诊挂号系统访问缓慢, 疑似存储时延高",
            "description": "上午门诊高峰期挂号系统响应超过10秒, 数据库 AWR 报告显示 IO 等待高, "
            "存储 DeviceManager 显示 LUN 平均时延 35ms。",
            "affected_system": "门诊挂号/HIS", "product_version": "V500R007C60SPC300",
        },
        [],
        fault_minutes=50,
    ),
]  # fmt: skip

_ACTION_BODIES: dict[str, str] = {
    "acknowledge": "AcknowledgeBody",
    "assign": "AssignBody",
    "start": "AcknowledgeBody",
    "wait": "WaitBody",
    "resume": "ActionBody",
    "resolve": "ResolveBody",
    "confirm": "ConfirmBody",
    "reopen": "ReasonBody",
    "cancel": "ReasonBody",
}


async def _play(uow: UnitOfWork, ctx: DemoContext, story: _Story, clock: Any) -> None:
    """Registers one ticket and runs its ops through the ticket service, each at its
    moment on the pinned clock, as the people named."""
    from app.tickets import schemas, service

    registered = ctx.now - story.ago
    clock.set(registered)
    data = {
        **story.ticket,
        "customer_id": ctx.ids[f"customer:{story.customer}"],
        "contact_id": ctx.ids[f"contact:{story.contact}"] if story.contact else None,
        "device_id": ctx.ids[f"device:{story.device}"] if story.device else None,
    }
    if story.fault_minutes is not None:
        data["fault_started_at"] = registered - timedelta(minutes=story.fault_minutes)
    creator = ctx.principals[story.by]
    ticket = await service.create(uow, creator, schemas.TicketCreate.model_validate(data))
    ctx.count("tickets")
    if story.alias is not None:
        ctx.ids[f"ticket:{story.alias}"] = ticket.id
    for minutes, who, op, raw in story.ops:
        at = registered + timedelta(minutes=minutes)
        if at > ctx.now:
            raise ValueError(
                f"Demo ticket '{ticket.subject}': {op} at +{minutes} min is after now."
            )
        clock.set(at)
        actor = ctx.principals[who]
        args = dict(raw)
        via = args.pop("via", _ACTOR_CHANNEL.get(who, "web"))
        if op == "comment":
            comment = schemas.CommentCreate.model_validate(args)
            await service.add_comment(uow, actor, ticket.id, comment, via)
        elif op == "attempt":
            attempt = schemas.AttemptCreate.model_validate(args)
            await service.add_attempt(uow, actor, ticket.id, attempt, via)
        elif op == "visit":
            visit = schemas.VisitCreate(
                arrived_at=registered + timedelta(minutes=args.pop("arrived")),
                departed_at=registered + timedelta(minutes=args.pop("departed")),
                **args,
            )
            await service.add_visit(uow, actor, ticket.id, visit, via)
        else:
            if "to" in args:
                args["owner_id"] = ctx.principals[args.pop("to")].id
            if "contact" in args:
                args["contact_id"] = ctx.ids[f"contact:{args.pop('contact')}"]
            body_model: type[BaseModel] = getattr(schemas, _ACTION_BODIES[op])
            body = body_model.model_validate(args).model_dump()
            await service.act(uow, actor, ticket.id, op, body, None, via)


async def _step_tickets(uow: UnitOfWork, ctx: DemoContext) -> None:
    """Sixteen tickets, oldest first (so numbers and ids follow registration order)."""
    from app.core.clock import FixedClock, set_clock

    previous = get_clock()
    clock = FixedClock(ctx.now)
    set_clock(clock)
    try:
        for story in sorted(_STORIES, key=lambda s: s.ago, reverse=True):
            await _play(uow, ctx, story, clock)
    finally:
        set_clock(previous)


# -- a major incident -------------------------------------------------------------------

# The grid's two open tickets turn out to be one outage: the duty admin declares a major
# incident (重大事故) across product families, links both, and posts status updates on
# its 30-minute timer; it is still open, the next update due shortly after the load.
# Minutes are before the load; texts in Chinese and English (the readers are both).
_INCIDENT_TITLE = (
    "国网四川调度数据网控制面异常: BGP 震荡与核心交换机 CPU 过高 / "
    "State Grid Sichuan dispatch network: BGP flapping and core switch CPU overload"
)
_INCIDENT_DESCRIPTION = (
    "省调-地调互联 NE40E-X8A BGP 邻居反复震荡, 同机房 S12700E-8 主控 CPU 持续 90% 以上, "
    "疑为同一异常流量冲击控制面。调度业务已切换静态路由备份, 保电期间每30分钟通报进展。\n\n"
    "The NE40E-X8A BGP peers towards the regional dispatch centres keep flapping and the "
    "S12700E-8 in the same room runs its main control board above 90% CPU, most likely one "
    "traffic storm hitting both control planes. Dispatch traffic runs on static backup "
    "routes; status updates every 30 minutes while power supply protection is on."
)
_INCIDENT_AT = 35
_INCIDENT_UPDATES = [
    (28, "已在两台设备启用 cpu-defend 限速并采集上送 CPU 报文; 厂商 TAC 已加入电话会议。 / "
         "cpu-defend rate limits set on both devices and the CPU-bound packets captured; "
         "the vendor's TAC joined the bridge call."),
    (6, "定位到地调侧一台接入交换机环路引发广播风暴, 已远程关闭该端口, BGP 稳定10分钟, CPU 降至35%。 / "
        "Cause found: a loop on an access switch at the regional centre caused a broadcast "
        "storm; its port is shut remotely, BGP stable for 10 minutes, CPU down to 35%."),
]  # fmt: skip


async def _step_incident(uow: UnitOfWork, ctx: DemoContext) -> None:
    """One open major incident with two linked tickets and two status updates, dated
    like the stories (the clock pinned to each moment)."""
    from app.core.clock import FixedClock, set_clock
    from app.incidents import service

    admin = ctx.principals["admin"]
    previous = get_clock()
    clock = FixedClock(ctx.now - timedelta(minutes=_INCIDENT_AT))
    set_clock(clock)
    try:
        # No product family (the outage spans two), so `--force` may declare another.
        incident = await service.declare_by_hand(
            uow, admin, _INCIDENT_TITLE, _INCIDENT_DESCRIPTION, None, 30,
            [ctx.ids["ticket:scgrid.bgp"], ctx.ids["ticket:scgrid.cpu"]],
        )  # fmt: skip
        ctx.count("major incidents")
        for minutes, body in _INCIDENT_UPDATES:
            clock.set(ctx.now - timedelta(minutes=minutes))
            await service.post_update(uow, admin, incident.id, body)
    finally:
        set_clock(previous)


# Loader steps, in dependency order.
STEPS: list[Step] = [
    _step_catalogue,
    _step_admin_key,
    _step_branches,
    _step_keys,
    _step_people,
    _step_customers,
    _step_devices,
    _step_contracts,
    _step_tickets,
    _step_incident,
]


async def _already_loaded(uow: UnitOfWork) -> bool:
    from app.access.models import ApiKey

    row = await uow.session.execute(
        select(col(ApiKey.id)).where(col(ApiKey.name) == MARKER_KEY_NAME).limit(1)
    )
    return row.first() is not None


def keys_path() -> Path:
    return Path(get_settings().data_dir) / KEYS_FILE


def _write_keys(ctx: DemoContext) -> Path:
    path = keys_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Supportline demo API keys: <role> <key>  # <name>",
        "# Use as `Authorization: Bearer <key>`. Shown once; only their hashes are stored.",
    ]
    for key in ctx.keys:
        scope = f" (branch {key.branch_id})" if key.branch_id else ""
        lines.append(f"{key.role.value} {key.plain}  # {key.name}{scope}")
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    tmp.replace(path)
    return path


async def load_demo(force: bool = False) -> int:
    """Loads the demo data once (again with force). Returns a process exit code."""
    ctx = DemoContext()
    loaded = False
    try:
        async with open_uow() as uow:
            await uow.session.execute(
                text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK}
            )
            if force or not await _already_loaded(uow):
                for step in STEPS:
                    await step(uow, ctx)
                loaded = True
    finally:
        await dispose_engine()

    if not loaded:
        print(f"Demo data already loaded; its API keys are in {keys_path()}", flush=True)
        return 0
    path = _write_keys(ctx)
    print(f"Demo data loaded. API keys (also in {path}):", flush=True)
    for key in ctx.keys:
        print(f"  {key.role.value:<12} {key.plain}   {key.name}", flush=True)
    if ctx.counts:
        made = ", ".join(f"{n} {what}" for what, n in ctx.counts.items())
        print(f"  Records: {made}.", flush=True)
    return 0
