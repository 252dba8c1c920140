"""bench/seed: a fresh benchmark database with N tickets (default 1,000,000) bulk-loaded
with COPY, for bench/ticket_list.

    bench/seed [--count 1000000] [--db sl_bench_1m] [--server postgresql://...]

What it loads: 10 branches, 2,000 customers (2 contacts each), 20,000 devices,
contracts for 70% of the customers, 80 branch-scoped engineer/agent API keys, then the
tickets: UUIDv7 ids built from synthetic creation times spread over two years (so id
order is creation order), numbers T{year}-{n:06d} per Asia/Shanghai year as the API
makes them (the per-year sequences ticket_number_{year} are moved past the seeded
numbers), Chinese / English subjects and descriptions from templates, statuses that
depend on the ticket's age, and search_vector = to_tsvector('simple',
document(subject, description)) computed by PostgreSQL from app.core.search.document.

How: the secondary indexes of `tickets` are dropped (their definitions kept) and its
triggers (the foreign-key checks) disabled; rows stream with binary COPY into a view
whose INSTEAD OF trigger inserts them with the tsvector computed; then the indexes are
rebuilt two at a time, the foreign keys are checked with anti-joins, the triggers
re-enabled and the table VACUUM ANALYZEd.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import hashlib
import itertools
import multiprocessing as mp
import random
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from app.core.search import document
from bench import common

SH = ZoneInfo("Asia/Shanghai")
STAGE = "bench_seed_stage"

BRANCHES = [
    ("BJ2", "北京第二分公司", "Beijing II", "华北"),
    ("SH", "上海分公司", "Shanghai", "华东"),
    ("GZ", "广州分公司", "Guangzhou", "华南"),
    ("SZ", "深圳分公司", "Shenzhen", "华南"),
    ("CD", "成都分公司", "Chengdu", "西南"),
    ("WH", "武汉分公司", "Wuhan", "华中"),
    ("XA", "西安分公司", "Xi'an", "西北"),
    ("SY", "沈阳分公司", "Shenyang", "东北"),
    ("NJ", "南京分公司", "Nanjing", "华东"),
    ("HZ", "杭州分公司", "Hangzhou", "华东"),
]
CITY = [
    "北京",
    "上海",
    "广州",
    "深圳",
    "成都",
    "武汉",
    "西安",
    "沈阳",
    "南京",
    "杭州",
    "天津",
    "重庆",
]
INDUSTRY = [
    ("银行", "Bank"),
    ("证券", "Securities"),
    ("保险", "Insurance"),
    ("电力", "Power"),
    ("医院", "Hospital"),
    ("大学", "University"),
    ("制造", "Manufacturing"),
    ("物流", "Logistics"),
    ("政务", "Government"),
    ("运营商", "Carrier"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
]
MODELS = {
    "switch": ["S12700E-8", "S6730-H48X6C", "CE6881-48S6CQ", "H3C S10508", "Catalyst 9300"],
    "router": ["NE40E-X8", "AR6280", "Cisco ASR 9006", "MX204"],
    "firewall": ["USG6650E", "FortiGate 600E", "PA-3220", "SecPath F5000"],
    "wlan": ["AirEngine 9700", "WX5540H", "AP7060DN"],
    "storage": ["OceanStor 5310", "NetApp AFF A400", "Unity XT 480", "MSA 2060"],
    "server": ["PowerEdge R750", "ProLiant DL380 Gen10", "FusionServer 2288H V6", "NF5280M6"],
    "software-platform": ["FusionSphere 8.0", "vSphere 7.0", "OpenStack Yoga", "iMaster NCE"],
    "ups": ["Galaxy VS 60kVA", "UPS5000-E"],
    "loadbalancer": ["BIG-IP i5800", "A10 Thunder 3040"],
}
PRODUCT_CN = {
    "switch": ["核心交换机", "汇聚交换机", "接入交换机", "数据中心交换机"],
    "router": ["出口路由器", "广域网路由器", "边界路由器"],
    "firewall": ["防火墙", "下一代防火墙", "边界防火墙"],
    "wlan": ["无线控制器", "无线AP"],
    "storage": ["存储阵列", "存储控制器", "备份一体机"],
    "server": ["机架服务器", "数据库服务器", "刀片服务器"],
    "software-platform": ["虚拟化平台", "云管理平台", "网管平台"],
    "ups": ["UPS电源", "不间断电源"],
    "loadbalancer": ["负载均衡器", "应用交付设备"],
}
FAULT_CN = [
    "电源模块告警",
    "端口down",
    "光模块故障",
    "存储阵列降级",
    "风扇故障",
    "内存报错",
    "硬盘离线",
    "CPU利用率持续过高",
    "配置丢失",
    "无法登录管理界面",
    "单板异常重启",
    "链路中断",
    "丢包严重",
    "温度过高告警",
    "固件升级失败",
    "许可证过期",
    "主备切换异常",
    "业务中断",
    "网络延迟高",
    "控制器离线",
    "RAID重建失败",
    "电池告警",
    "时钟不同步",
    "VPN隧道断开",
    "证书过期",
    "数据库连接超时",
    "备份任务失败",
    "虚拟机无法启动",
]
FAULT_EN = [
    "BGP session flapping",
    "license expired",
    "OSPF neighbor down",
    "high CPU usage",
    "packet loss on uplink",
    "disk failure",
    "RAID degraded",
    "fan failure",
    "PSU failure",
    "link down",
    "memory ECC errors",
    "firmware upgrade failed",
    "certificate expired",
    "HA failover did not complete",
    "kernel panic after reboot",
    "SNMP timeout",
    "interface CRC errors",
    "spanning tree loop",
    "DHCP pool exhausted",
    "NTP unsynchronised",
]
SITES = [
    "机房A",
    "机房B",
    "二号楼机房",
    "数据中心三层",
    "灾备中心",
    "营业部",
    "总部大楼",
    "分支机构",
]
SYSTEMS = [
    "生产网核心",
    "办公网",
    "核心业务系统",
    "网银系统",
    "HIS系统",
    "ERP",
    "视频会议",
    "邮件系统",
]
IMPACT_CN = [
    "业务中断",
    "部分用户无法访问",
    "影响网银交易",
    "影响生产系统",
    "暂无业务影响",
    "性能明显下降",
    "存在单点风险",
]
ACTION_CN = [
    "已远程登录查看日志",
    "已收集诊断信息并上传",
    "建议更换备件",
    "已联系厂商TAC协助分析",
    "计划安排工程师现场处理",
    "已升级至二线支持",
    "临时规避措施已生效",
    "客户要求今日内恢复",
]
ACTION_EN = [
    "Logs collected and attached.",
    "Vendor TAC case opened.",
    "Spare part requested from the warehouse.",
    "Workaround applied, monitoring.",
    "Engineer dispatched on site.",
    "Escalated to level 2.",
]
LOG_LINES = [
    "%PSU-2-FAIL: Power supply 2 output voltage out of range",
    "%BGP-5-ADJCHANGE: neighbor 10.1.1.2 Down Hold timer expired",
    "%LINK-3-UPDOWN: Interface GigabitEthernet1/0/24 changed state to down",
    "RAID group 3 degraded, disk 0:1:5 failed",
    "ECC uncorrectable error on DIMM A2",
    "license file expired, feature disabled",
    "fan tray 1 speed abnormal",
    "temperature sensor 3 exceeds threshold 75C",
]
RESOLUTIONS = [
    "更换电源模块后业务恢复。",
    "更换故障光模块,链路恢复正常。",
    "重新导入许可证文件,功能恢复。",
    "升级固件至最新补丁版本后问题解决。",
    "更换故障硬盘,RAID重建完成。",
    "调整BGP定时器并修复对端配置。",
    "Replaced the failed PSU; service restored.",
    "Applied vendor hotfix, issue no longer reproduces.",
]

CHANNELS = [
    ("phone", 35),
    ("email", 20),
    ("web", 20),
    ("chat", 10),
    ("webhook", 8),
    ("proactive", 5),
    ("fax", 2),
]
SERVICE_TYPES = [
    ("remote", 60),
    ("onsite", 25),
    ("proactive", 5),
    ("upgrade", 5),
    ("installation", 3),
    ("training", 2),
]
PRIORITIES = [("P1", 5), ("P2", 20), ("P3", 50), ("P4", 25)]
LEVELS = ["high", "medium", "low"]
MATRIX = {
    ("high", "high"): "P1",
    ("high", "medium"): "P2",
    ("medium", "high"): "P2",
    ("high", "low"): "P3",
    ("medium", "medium"): "P3",
    ("low", "high"): "P3",
    ("medium", "low"): "P4",
    ("low", "medium"): "P4",
    ("low", "low"): "P4",
}
# (max age in days, [(status, weight)]): old tickets are mostly closed.
STATUS_BY_AGE = [
    (
        2,
        [
            ("new", 30),
            ("assigned", 25),
            ("in_progress", 30),
            ("waiting_customer", 5),
            ("waiting_parts", 3),
            ("waiting_vendor", 2),
            ("resolved", 5),
        ],
    ),
    (
        14,
        [
            ("new", 3),
            ("assigned", 7),
            ("in_progress", 25),
            ("waiting_customer", 10),
            ("waiting_parts", 6),
            ("waiting_vendor", 4),
            ("resolved", 25),
            ("closed", 17),
            ("cancelled", 3),
        ],
    ),
    (
        60,
        [
            ("in_progress", 3),
            ("waiting_customer", 2),
            ("waiting_parts", 1),
            ("resolved", 4),
            ("closed", 85),
            ("cancelled", 5),
        ],
    ),
    (
        10**6,
        [
            ("in_progress", 0.3),
            ("waiting_customer", 0.2),
            ("resolved", 0.5),
            ("closed", 93),
            ("cancelled", 6),
        ],
    ),
]

TICKET_COLUMNS = [
    "id",
    "number",
    "branch_id",
    "customer_id",
    "contact_id",
    "device_id",
    "contract_id",
    "uncontracted",
    "service_level",
    "channel",
    "category",
    "service_type",
    "impact",
    "urgency",
    "priority",
    "priority_source",
    "status",
    "subject",
    "description",
    "product_version",
    "affected_system",
    "fault_started_at",
    "external_ref",
    "owner_id",
    "created_by",
    "resolution_summary",
    "acknowledged_at",
    "resolved_at",
    "closed_at",
    "close_reason",
    "cancelled_at",
    "reopen_count",
    "version",
    "created_at",
    "updated_at",
]


class Weighted:
    def __init__(self, pairs: list[tuple[Any, float]], rng: random.Random) -> None:
        self.values = [v for v, _ in pairs]
        self.cum = list(itertools.accumulate(w for _, w in pairs))
        self.total = self.cum[-1]
        self.rng = rng

    def __call__(self) -> Any:
        return self.values[bisect.bisect_right(self.cum, self.rng.random() * self.total)]


def uuid7_at(ms: int, counter: int, rng: random.Random) -> uuid.UUID:
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (counter & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rng.getrandbits(62)
    return uuid.UUID(int=value)


@dataclass
class Customer:
    id: uuid.UUID
    branch_id: uuid.UUID
    short: str
    contacts: list[uuid.UUID]
    devices: list[tuple[uuid.UUID, str, str, str, str]]  # id, family, model, serial, version
    contract: tuple[uuid.UUID, str] | None
    covered: set[uuid.UUID] | None  # None: the contract covers every device
    engineers: list[uuid.UUID]
    agents: list[uuid.UUID]


# --------------------------------------------------------------------------------------
# Reference data


async def load_reference(
    conn: asyncpg.Connection, rng: random.Random, customers_n: int, devices_per: int
) -> tuple[list[Customer], list[str], str, list[str]]:
    families = [r["code"] for r in await conn.fetch("SELECT code FROM product_families")]
    levels = await conn.fetch("SELECT code, is_default FROM service_levels WHERE active")
    default_level = next((r["code"] for r in levels if r["is_default"]), levels[0]["code"])
    contract_levels = [r["code"] for r in levels if not r["is_default"]] or [default_level]
    cats = await conn.fetch("SELECT code, parent_code FROM categories WHERE active")
    parents = {r["parent_code"] for r in cats if r["parent_code"]}
    leaves = [r["code"] for r in cats if r["code"] not in parents] or [r["code"] for r in cats]

    branch_ids = [common.BRANCH_ID]
    branch_rows = []
    for code, name, name_en, region in BRANCHES[:9]:
        bid = uuid.uuid4()
        branch_ids.append(bid)
        branch_rows.append(
            {
                "id": bid,
                "code": code,
                "name": name,
                "name_en": name_en,
                "region": region,
                "timezone": "Asia/Shanghai",
            }
        )
    await common.insert_rows(conn, "branches", branch_rows)

    # API keys: per branch 6 engineers + 2 agents (hashes of random keys: nobody logs in).
    keys: dict[uuid.UUID, tuple[list[uuid.UUID], list[uuid.UUID]]] = {}
    key_rows = []
    for bid in branch_ids:
        eng, agt = [], []
        for role, bucket, n in (("engineer", eng, 6), ("agent", agt, 2)):
            for i in range(n):
                kid = uuid.uuid4()
                bucket.append(kid)
                key_rows.append(
                    {
                        "id": kid,
                        "name": f"{role}-{i}-{str(bid)[-4:]}",
                        "prefix": secrets.token_hex(6),
                        "key_hash": hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
                        "role": role,
                        "branch_id": bid,
                    }
                )
        keys[bid] = (eng, agt)
    await common.insert_rows(conn, "api_keys", key_rows)

    customers: list[Customer] = []
    cust_rows, contact_rows, device_rows, contract_rows, cd_rows = [], [], [], [], []
    fam_pool = [f for f in families if f in MODELS] or ["switch"]
    for i in range(customers_n):
        bid = branch_ids[i % len(branch_ids)]
        city = rng.choice(CITY)
        ind, ind_en = rng.choice(INDUSTRY)
        short = f"{city}{ind}{i:04d}"
        cid = common.CUSTOMER_ID if i == 0 else uuid.uuid4()
        cust_rows.append(
            {
                "id": cid,
                "branch_id": bid,
                "code": f"C{i:06d}",
                "name": f"{short}有限公司",
                "name_en": f"{ind_en} {i:04d}",
                "industry": ind,
            }
        )
        contacts = []
        for _ in range(2):
            kid = uuid.uuid4()
            contacts.append(kid)
            contact_rows.append(
                {
                    "id": kid,
                    "customer_id": cid,
                    "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                    "phone": f"1{rng.randint(3, 9)}{rng.randint(0, 999999999):09d}",
                    "language": "zh-CN",
                }
            )
        devices = []
        for j in range(devices_per):
            fam = rng.choice(fam_pool)
            model = rng.choice(MODELS[fam])
            serial = f"SN{i:04d}{j:02d}{rng.randint(0, 99999):05d}"
            version = f"V{rng.randint(5, 9)}.{rng.randint(0, 5)}.{rng.randint(0, 9)}"
            did = uuid.uuid4()
            devices.append((did, fam, model, serial, version))
            device_rows.append(
                {
                    "id": did,
                    "customer_id": cid,
                    "serial": serial,
                    "model": model,
                    "product_family": fam if fam in families else families[0],
                    "software_version": version,
                    "site": rng.choice(SITES),
                    "install_date": date(2022, 1, 1) + timedelta(days=rng.randint(0, 900)),
                    "warranty_end": date(2026, 1, 1) + timedelta(days=rng.randint(0, 1000)),
                }
            )
        contract = None
        covered: set[uuid.UUID] | None = None
        if rng.random() < 0.7:
            kid = uuid.uuid4()
            level = rng.choice(contract_levels)
            contract = (kid, level)
            contract_rows.append(
                {
                    "id": kid,
                    "customer_id": cid,
                    "number": f"HT{i:06d}",
                    "service_level": level,
                    "starts_on": date(2023, 1, 1),
                    "ends_on": date(2030, 12, 31),
                    "status": "active",
                }
            )
            if rng.random() < 0.5:
                covered = {d[0] for d in devices[: max(1, devices_per // 2)]}
                cd_rows.extend({"contract_id": kid, "device_id": d} for d in covered)
        eng, agt = keys[bid]
        customers.append(Customer(cid, bid, short, contacts, devices, contract, covered, eng, agt))
    for table, rows in (
        ("customers", cust_rows),
        ("contacts", contact_rows),
        ("devices", device_rows),
        ("contracts", contract_rows),
        ("contract_devices", cd_rows),
    ):
        await common.insert_rows(conn, table, rows)
    return customers, leaves, default_level, contract_levels


# --------------------------------------------------------------------------------------
# Tickets


def text_for(
    rng: random.Random, customer: Customer, device: tuple[Any, ...]
) -> tuple[str, str, str]:
    _, fam, model, serial, version = device
    product = rng.choice(PRODUCT_CN.get(fam, ["设备"]))
    site = rng.choice(SITES)
    fault = rng.choice(FAULT_CN)
    fault_en = rng.choice(FAULT_EN)
    impact = rng.choice(IMPACT_CN)
    r = rng.random()
    if r < 0.45:
        subject = f"{site}{product}{fault},{impact}"
    elif r < 0.65:
        subject = f"{customer.short}{product}{fault}"
    elif r < 0.85:
        subject = f"{model} {fault_en}"
    else:
        subject = f"{product}{fault} / {fault_en}"
    parts = [
        f"客户反馈{site}的{product}({model},序列号{serial},版本{version}){fault},{impact}。",
        f"{rng.randint(1, 23)}点{rng.randint(0, 59)}分开始出现,{rng.choice(ACTION_CN)}。",
    ]
    if rng.random() < 0.5:
        parts.append(f"日志显示: {rng.choice(LOG_LINES)}。")
    if rng.random() < 0.4:
        parts.append(f"Customer reports {fault_en} on {model}. {rng.choice(ACTION_EN)}")
    if rng.random() < 0.3:
        parts.append(f"{rng.choice(ACTION_CN)},{rng.choice(IMPACT_CN)}。")
    return subject[:300], "".join(parts), rng.choice(SYSTEMS)


def make_times(n: int, rng: random.Random, end: datetime, days: int) -> list[int]:
    """n creation times (ms since epoch), strictly ascending, over `days` days before
    `end`: one id per millisecond, so the UUIDv7 counter is always 0."""
    end_ms = int(end.timestamp() * 1000)
    span = days * 86_400_000
    times = sorted(end_ms - int(rng.random() * span) for _ in range(n))
    for k in range(1, n):
        if times[k] <= times[k - 1]:
            times[k] = times[k - 1] + 1
    return times


def year_of(ms: int) -> int:
    return datetime.fromtimestamp(ms / 1000, SH).year


@dataclass
class Plan:
    """What every generator process needs: creation times decide ids, numbers, ages."""

    times: list[int]
    first_of_year: dict[int, int]  # year -> index of its first ticket
    width: int
    end_ms: int
    now: datetime
    customers: list[Customer]
    leaves: list[str]
    default_level: str
    admin_id: uuid.UUID


def make_plan(
    n: int,
    rng: random.Random,
    customers: list[Customer],
    leaves: list[str],
    default_level: str,
    admin_id: uuid.UUID,
) -> Plan:
    now = datetime.now(UTC)
    end = now - timedelta(minutes=5)
    times = make_times(n, rng, end, 730)
    first: dict[int, int] = {}
    for y in range(year_of(times[0]), year_of(times[-1]) + 1):
        start_ms = int(datetime(y, 1, 1, tzinfo=SH).timestamp() * 1000)
        first[y] = bisect.bisect_left(times, start_ms)
    # The API pads numbers to 6 digits (lpad(n, 6, '0')); a year with more tickets
    # than that would need a wider number (and lpad truncates: see bench/README.md).
    years = sorted(first)
    per_year = [
        (first[years[i + 1]] if i + 1 < len(years) else n) - first[y] for i, y in enumerate(years)
    ]
    return Plan(
        times=times,
        first_of_year=first,
        width=max(6, len(str(max(per_year, default=1)))),
        end_ms=int(end.timestamp() * 1000),
        now=now,
        customers=customers,
        leaves=leaves,
        default_level=default_level,
        admin_id=admin_id,
    )


def plan_last_per_year(plan: Plan) -> dict[int, int]:
    """year -> index of its last ticket."""
    years = sorted(y for y, k in plan.first_of_year.items() if k < len(plan.times))
    out = {}
    for i, y in enumerate(years):
        nxt = (
            plan.first_of_year.get(years[i + 1], len(plan.times))
            if i + 1 < len(years)
            else len(plan.times)
        )
        if nxt > plan.first_of_year[y]:
            out[y] = nxt - 1
    return out


def number_for(plan: Plan, k: int) -> tuple[int, str]:
    year = year_of(plan.times[k])
    n = k - plan.first_of_year[year] + 1
    return year, f"T{year}-{n:0{plan.width}d}"


def ticket_rows(
    plan: Plan, start: int, stop: int, rng: random.Random, part: int
) -> Iterator[tuple[Any, ...]]:
    """Rows for tickets [start, stop) in creation order (the COPY record layout)."""
    customers = plan.customers
    now = plan.now
    # Zipf-like: a few big customers open many tickets.
    cust_w = [1.0 / (i + 1) ** 0.8 for i in range(len(customers))]
    cust_cum = list(itertools.accumulate(cust_w))
    channel = Weighted(CHANNELS, rng)
    service_type = Weighted(SERVICE_TYPES, rng)
    prio = Weighted(PRIORITIES, rng)
    status_pickers = [(age, Weighted(w, rng)) for age, w in STATUS_BY_AGE]
    cat_w = Weighted([(c, 1 + (i % 4)) for i, c in enumerate(plan.leaves)], rng)
    day = 86_400_000
    for k in range(start, stop):
        ms = plan.times[k]
        tid = uuid7_at(ms, 0, rng)
        created = datetime.fromtimestamp(ms / 1000, UTC)
        _, number = number_for(plan, k)
        cust = customers[bisect.bisect_right(cust_cum, rng.random() * cust_cum[-1])]
        device = rng.choice(cust.devices) if rng.random() < 0.85 else None
        contact = rng.choice(cust.contacts) if rng.random() < 0.9 else None
        contract_id, level, uncontracted = None, plan.default_level, True
        if cust.contract is not None and (
            cust.covered is None or (device is not None and device[0] in cust.covered)
        ):
            contract_id, level, uncontracted = cust.contract[0], cust.contract[1], False
        if rng.random() < 0.6:
            impact, urgency = rng.choice(LEVELS), rng.choice(LEVELS)
            priority, source = MATRIX[(impact, urgency)], "derived"
        else:
            impact = urgency = None
            priority, source = prio(), "given"
        age_days = (plan.end_ms - ms) / day
        status = next(p for age, p in status_pickers if age_days < age)()
        subject, description, system = text_for(rng, cust, device or ("", "", "", "", ""))
        owner = None
        ack = resolved = closed = cancelled = None
        resolution = close_reason = None
        updated = created
        if status not in ("new", "cancelled"):
            owner = rng.choice(cust.engineers)
            ack = created + timedelta(minutes=rng.randint(2, 90))
            updated = ack
        if status in ("resolved", "closed"):
            resolved = (ack or created) + timedelta(hours=rng.uniform(0.5, 96))
            resolution = rng.choice(RESOLUTIONS)
            updated = resolved
        if status == "closed":
            closed = (resolved or created) + timedelta(hours=rng.uniform(1, 72))
            close_reason = "confirmed" if rng.random() < 0.7 else "auto"
            updated = closed
        if status == "cancelled":
            cancelled = created + timedelta(hours=rng.uniform(0.1, 48))
            updated = cancelled
        creator = rng.choice(cust.agents) if rng.random() < 0.8 else plan.admin_id
        yield (
            tid,
            number,
            cust.branch_id,
            cust.id,
            contact,
            device[0] if device else None,
            contract_id,
            uncontracted,
            level,
            channel(),
            cat_w(),
            service_type(),
            impact,
            urgency,
            priority,
            source,
            status,
            subject,
            description,
            device[4] if device else None,
            system,
            created - timedelta(minutes=rng.randint(5, 600)),
            f"EXT-{k:08d}" if rng.random() < 0.1 else None,
            owner,
            creator,
            resolution,
            min(ack, now) if ack else None,
            min(resolved, now) if resolved else None,
            min(closed, now) if closed else None,
            close_reason,
            min(cancelled, now) if cancelled else None,
            1 if status == "closed" and rng.random() < 0.02 else 0,
            1 + (status != "new") + (resolved is not None) + (closed is not None),
            created,
            min(updated, now),
            document(subject, description),
            part,
        )


def _generate(dsn: str, plan: Plan, start: int, stop: int, seed: int, part: int) -> float:
    """A generator process: rows [start, stop) streamed by binary COPY into the stage."""

    async def go() -> float:
        t0 = time.perf_counter()
        conn = await asyncpg.connect(dsn)
        try:
            rng = random.Random(seed)
            rows = ticket_rows(plan, start, stop, rng, part)

            def counted() -> Iterator[tuple[Any, ...]]:
                for i, row in enumerate(rows, 1):
                    if i % 100_000 == 0:
                        el = time.perf_counter() - t0
                        common.log(f"  part {part}: {i:,} rows, {i / el:,.0f} rows/s")
                    yield row

            await conn.copy_records_to_table(
                STAGE, records=counted(), columns=[*TICKET_COLUMNS, "doc", "part"]
            )
        finally:
            await conn.close()
        return time.perf_counter() - t0

    return asyncio.run(go())


# --------------------------------------------------------------------------------------
# Bulk-load plumbing


async def secondary_indexes(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        """
        SELECT i.relname AS name, pg_get_indexdef(x.indexrelid) AS def
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        WHERE t.relname = 'tickets' AND t.relnamespace = 'public'::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        ORDER BY i.relname
        """
    )
    return [(r["name"], r["def"]) for r in rows]


async def create_stage(conn: asyncpg.Connection) -> None:
    cols = await common.table_columns(conn, "tickets")
    missing = [c for c in TICKET_COLUMNS if c not in cols]
    if missing:
        raise SystemExit(f"tickets lacks columns the seed writes: {missing}")
    required = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND table_name = 'tickets' AND is_nullable = 'NO' AND column_default IS NULL"
    )
    unknown = [r["column_name"] for r in required if r["column_name"] not in TICKET_COLUMNS]
    if unknown:
        raise SystemExit(f"tickets has NOT NULL columns the seed does not know: {unknown}")
    await conn.execute(
        f"DROP TABLE IF EXISTS {STAGE}; CREATE UNLOGGED TABLE {STAGE} AS"
        f" SELECT {', '.join(TICKET_COLUMNS)}, NULL::text AS doc, 0::smallint AS part"
        " FROM tickets WITH NO DATA"
    )


async def stage_to_tickets(dsn: str, parts: int) -> None:
    """INSERT ... SELECT from the stage, one connection per part (a contiguous id range),
    PostgreSQL computing search_vector exactly as the API's INSERT does."""
    cols = ", ".join(TICKET_COLUMNS)

    async def one(part: int) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            t0 = time.perf_counter()
            await conn.execute(
                f"INSERT INTO tickets ({cols}, search_vector)"
                f" SELECT {cols}, to_tsvector('simple', doc) FROM {STAGE}"
                f" WHERE part = {part} ORDER BY id"
            )
            common.log(f"  part {part} into tickets: {time.perf_counter() - t0:.1f}s")
        finally:
            await conn.close()

    await asyncio.gather(*(one(p) for p in range(parts)))


FK_CHECKS = [
    ("branch_id", "branches", "id"),
    ("customer_id", "customers", "id"),
    ("contact_id", "contacts", "id"),
    ("device_id", "devices", "id"),
    ("contract_id", "contracts", "id"),
    ("category", "categories", "code"),
    ("owner_id", "api_keys", "id"),
    ("created_by", "api_keys", "id"),
]


async def check_foreign_keys(conn: asyncpg.Connection) -> None:
    for col, table, key in FK_CHECKS:
        bad = await conn.fetchval(
            f"SELECT count(*) FROM tickets t WHERE t.{col} IS NOT NULL AND NOT EXISTS"
            f" (SELECT 1 FROM {table} r WHERE r.{key} = t.{col})"
        )
        if bad:
            raise SystemExit(f"seed bug: {bad} tickets with a dangling {col}")


async def build_indexes(dsn: str, defs: list[tuple[str, str]], parallel: int = 2) -> None:
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for d in sorted(defs, key=lambda d: "gin" not in d[1].lower()):  # the GIN one first
        queue.put_nowait(d)

    async def worker() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SET maintenance_work_mem = '512MB'")
            await conn.execute("SET max_parallel_maintenance_workers = 0")
            while not queue.empty():
                name, ddl = queue.get_nowait()
                t0 = time.perf_counter()
                await conn.execute(ddl)
                common.log(f"  index {name}: {time.perf_counter() - t0:.1f}s")
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(parallel)))


async def seed(a: argparse.Namespace) -> dict[str, Any]:
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    rng = random.Random(a.random_seed)
    t0 = time.perf_counter()
    await common.fresh_database(a.db, a.server)
    timings["create+migrate+fixtures"] = time.perf_counter() - t0
    dsn = common.dsn(a.db, a.server)
    conn = await asyncpg.connect(dsn)
    try:
        t0 = time.perf_counter()
        customers, leaves, default_level, _ = await load_reference(
            conn, rng, a.customers, a.devices // a.customers
        )
        admin_id = await conn.fetchval(
            "SELECT id FROM api_keys WHERE role = 'admin' ORDER BY created_at LIMIT 1"
        )
        timings["reference data"] = time.perf_counter() - t0
        common.log(
            f"reference data: {len(customers)} customers, "
            f"{sum(len(c.devices) for c in customers)} devices, {timings['reference data']:.1f}s"
        )

        defs = await secondary_indexes(conn)
        common.log(f"dropping {len(defs)} secondary indexes of tickets, disabling its triggers")
        for name, _ in defs:
            await conn.execute(f'DROP INDEX "{name}"')
        await conn.execute("ALTER TABLE tickets DISABLE TRIGGER ALL")
        await create_stage(conn)

        plan = make_plan(a.count, rng, customers, leaves, default_level, admin_id)
        parts = max(1, a.procs)
        bounds = [a.count * i // parts for i in range(parts + 1)]
        common.log(f"generating {a.count:,} tickets in {parts} processes, COPY into {STAGE}")
        t0 = time.perf_counter()
        ctx = mp.get_context("spawn")
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(parts, mp_context=ctx) as pool:
            await asyncio.gather(
                *(
                    loop.run_in_executor(
                        pool,
                        _generate,
                        dsn,
                        plan,
                        bounds[i],
                        bounds[i + 1],
                        a.random_seed * 100 + i,
                        i,
                    )
                    for i in range(parts)
                )
            )
        timings["generate + COPY to stage"] = time.perf_counter() - t0
        common.log(
            f"COPY: {a.count:,} rows in {timings['generate + COPY to stage']:.1f}s "
            f"({a.count / timings['generate + COPY to stage']:,.0f} rows/s)"
        )
        t0 = time.perf_counter()
        await stage_to_tickets(dsn, parts)
        await conn.execute(f"DROP TABLE {STAGE}")
        timings["stage -> tickets (tsvector)"] = time.perf_counter() - t0
        counters = {y: number_for(plan, k)[1] for y, k in plan_last_per_year(plan).items()}

        t0 = time.perf_counter()
        common.log(f"rebuilding {len(defs)} indexes (2 at a time)")
        await build_indexes(dsn, defs)
        timings["indexes"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        await check_foreign_keys(conn)
        await conn.execute("ALTER TABLE tickets ENABLE TRIGGER ALL")
        timings["foreign key check"] = time.perf_counter() - t0

        # The API's per-year number sequences continue after the seeded numbers.
        for year, last in plan_last_per_year(plan).items():
            n = last - plan.first_of_year[year] + 1
            await conn.execute(f"CREATE SEQUENCE IF NOT EXISTS ticket_number_{year}")
            await conn.execute(f"SELECT setval('ticket_number_{year}', {n})")

        t0 = time.perf_counter()
        common.log("VACUUM ANALYZE")
        await conn.execute("VACUUM (ANALYZE) tickets")
        await conn.execute("ANALYZE")
        timings["vacuum analyze"] = time.perf_counter() - t0
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('tickets'))")
        heap = await conn.fetchval("SELECT pg_size_pretty(pg_relation_size('tickets'))")
        dist = await conn.fetch(
            "SELECT status, count(*) AS n FROM tickets GROUP BY status ORDER BY n DESC"
        )
    finally:
        await conn.close()
    timings["total"] = time.perf_counter() - t_all
    return {
        "count": a.count,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "copy_rows_per_s": round(a.count / timings["generate + COPY to stage"]),
        "overall_rows_per_s": round(a.count / timings["total"]),
        "tickets_total_size": size,
        "tickets_heap_size": heap,
        "status_counts": {r["status"]: r["n"] for r in dist},
        "numbers_per_year": counters,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--server", default=common.DEFAULT_SERVER)
    p.add_argument("--db", default="sl_bench_1m", help="database to (re)create")
    p.add_argument("--count", type=int, default=1_000_000)
    p.add_argument("--customers", type=int, default=2_000)
    p.add_argument("--devices", type=int, default=20_000)
    p.add_argument("--random-seed", type=int, default=20261122)
    p.add_argument("--procs", type=int, default=2, help="generator processes")
    a = p.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    r = asyncio.run(seed(a))
    print(f"\nseed  {started}  {common.machine()}  db {a.db}")
    for k, v in r["timings_s"].items():
        print(f"  {k:<24} {v:8.1f} s")
    print(f"  COPY rate                {r['copy_rows_per_s']:8,} rows/s")
    print(f"  overall                  {r['overall_rows_per_s']:8,} rows/s")
    print(f"  tickets size             {r['tickets_total_size']} (heap {r['tickets_heap_size']})")
    print(f"  statuses                 {r['status_counts']}")
    path = common.save("seed", {"started": started, "machine": common.machine(), **r})
    print(f"saved {path.relative_to(common.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
