"""The demo's spare parts records: the storekeeper's key, warehouses, the parts catalogue,
the opening stock, reorder levels, and the RMA and the loan the last step makes. Aliases
are the short names the steps keep ids under (ctx.ids["part:s12700e.mpu"],
ctx.ids["warehouse:ec.regional"]) and the ticket stories refer to."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.security import Role

# The central parts team's storekeeper (库管): receives stock, dispatches part requests
# and runs RMAs for every branch, as warehouse staff do (stock:write).
# alias, role, name, branch code (None: all branches)
STORE_KEYS: list[tuple[str, Role, str, str | None]] = [
    ("store", Role.dispatcher, "钱库管 Qian Jun (备件中心库管)", None),
]

# The warehouses and the opening stock are dated this long before the load, so that the
# ledger as of any story's moment already holds the parts the story takes.
STOCKED_DAYS_AGO = 30

# alias, code, name, name_en, kind, branch code, contract number (customer_site only),
# address
WAREHOUSES = [
    ("cn.central", "WH-CN-CENTRAL", "北京中央备件库", "Beijing central parts depot", "central",
     "BJ", None, "北京市顺义区天竺综合保税区 裕华路28号 3号库"),
    ("ec.regional", "WH-EC-REGION", "华东区域备件库", "East China regional parts depot",
     "regional", "SH", None, "上海市嘉定区外冈镇恒永路318号 华东物流中心B栋"),
    ("sh.branch", "WH-SH-BRANCH", "上海分公司备件库", "Shanghai branch parts store", "branch",
     "SH", None, "上海市徐汇区宜山路1618号 B1 备件间"),
    ("bj.branch", "WH-BJ-BRANCH", "北京分公司备件库", "Beijing branch parts store", "branch",
     "BJ", None, "北京市海淀区上地信息路26号 B1 备件间"),
    ("spdb.site", "WH-SITE-SPDB-ZJ", "浦发银行张江数据中心本地备件库",
     "SPDB Zhangjiang data centre on-site parts store", "customer_site", "SH",
     "HT-2025-SH-0018", "上海市浦东新区张江高科技园区博霞路18号 数据中心1楼 备件间"),
    ("scgrid.site", "WH-SITE-SCGRID", "国网四川调度大楼本地备件库",
     "State Grid Sichuan dispatch building on-site parts store", "customer_site", "CD",
     "HT-2025-CD-0007", "四川省成都市高新区蜀锦路68号 调度大楼12楼 备件柜"),
]  # fmt: skip

# alias, number, name, name_en, description, unit cost (CNY), serialised,
# fits ((product family, model), '' for every model), substitute alias (set: the part
# is discontinued, 停产, and the substitute replaces it; listed before it)
PARTS = [
    ("s12700e.mpu", "03033RLH", "S12700E 主控板 (MPUE)", "S12700E main processing unit (MPUE)",
     "S12700E-4/-8 主控板, 含 4GB 内存与 CF 卡; 主备板补丁版本须一致。", "68500.00", True,
     [("switch", "S12700E-8"), ("switch", "S12700E-4")], None),
    ("ne40e.fan", "02312DDP", "NE40E-X3A 风扇模块 (FAN-X3A)", "NE40E-X3A fan module (FAN-X3A)",
     "支持热插拔。", "2860.00", False, [("router", "NE40E-X3A")], None),
    ("ssd.1920", "02353VHN", "1.92TB SAS SSD 硬盘 (2.5英寸)", "1.92TB SAS SSD (2.5-inch)",
     "OceanStor 5500 V5 硬盘框用, 含硬盘托架。", "9800.00", True,
     [("storage", "OceanStor 5500 V5")], None),
    ("sfp.10g-lr", "34060494", "10GE SFP+ 光模块 (1310nm, 10km, LC)",
     "10GE SFP+ optical module (1310 nm, 10 km, LC)", None, "680.00", False,
     [("switch", ""), ("router", "")], None),
    ("psu.900w", "02312QMS", "900W 交流电源模块 (PAC900S12)", "900W AC power module (PAC900S12)",
     "FusionServer 2288H V5/V6 用, 热插拔。", "1650.00", False,
     [("server", "FusionServer 2288H V6"), ("server", "FusionServer 2288H V5")], None),
    ("psu.750w", "02311JYF", "750W 交流电源模块 (PAC750S12, 停产)",
     "750W AC power module (PAC750S12, discontinued)", "已停产, 由 900W 电源模块 02312QMS 替代。",
     "1280.00", False, [("server", "FusionServer 2288H V5")], "psu.900w"),
    ("s5735.loaner", "02353GBF", "S5735-S48T4X 接入交换机整机 (备机)",
     "S5735-S48T4X access switch (loaner unit)", "48 个千兆电口 + 4 个万兆光口, 借用备机。",
     "9600.00", True, [("switch", "S5735-S48T4X"), ("switch", "S5735-L48T4X-A1")], None),
]  # fmt: skip

# The serial of the main control board taken off the bank's core switch (story 1): it
# comes back defective to the regional depot and goes to the vendor under an RMA.
DEFECTIVE_MPU = "020UQN10J7000089"
LOANER_S5735 = "2102312LGE10P6000908"

# part alias, warehouse alias, units (a count, or the serials of a serialised part),
# reason, loaner (into the loaner pool, 备机)
RECEIPTS: list[tuple[str, str, int | list[str], str, bool]] = [
    ("s12700e.mpu", "spdb.site", ["020UQN10M4000217", "020UQN10M4000218"],
     "合同 HT-2025-SH-0018 本地备件库备件 / on-site stock of the contract", False),
    ("s12700e.mpu", "ec.regional", ["020UQN10N1000305"], "采购入库 PO-2025-0931", False),
    ("s12700e.mpu", "cn.central", ["020UQN10N1000306", "020UQN10N1000307"],
     "采购入库 PO-2025-0931", False),
    ("s12700e.mpu", "scgrid.site", ["020UQN10L9000152"],
     "合同 HT-2025-CD-0007 本地备件库备件 / on-site stock of the contract", False),
    ("ne40e.fan", "cn.central", 4, "采购入库 PO-2025-0874", False),
    ("ssd.1920", "ec.regional",
     ["2102312QLM10N5004418", "2102312QLM10N5004419", "2102312QLM10N5004420"],
     "采购入库 PO-2025-1012", False),
    ("ssd.1920", "cn.central",
     ["2102312QLM10N5004501", "2102312QLM10N5004502", "2102312QLM10P1000733"],
     "采购入库 PO-2025-1012", False),
    ("sfp.10g-lr", "cn.central", 48, "采购入库 PO-2025-0902", False),
    ("sfp.10g-lr", "ec.regional", 32, "采购入库 PO-2025-0902", False),
    ("sfp.10g-lr", "spdb.site", 6, "合同 HT-2025-SH-0018 本地备件库备件", False),
    ("sfp.10g-lr", "scgrid.site", 6, "合同 HT-2025-CD-0007 本地备件库备件", False),
    ("psu.900w", "cn.central", 10, "采购入库 PO-2025-0955", False),
    ("psu.900w", "ec.regional", 4, "采购入库 PO-2025-0955", False),
    ("psu.750w", "cn.central", 1, "停产前库存 / stock left before it was discontinued", False),
    ("s5735.loaner", "sh.branch", [LOANER_S5735], "备机池入库 / into the loaner pool", True),
]  # fmt: skip

# Transfers (调拨) of the opening stock to the branch stores, shipped a day after the
# receipts and received the day after: part alias, from and to warehouse aliases,
# units (a count, or the serials), reason
TRANSFERS: list[tuple[str, str, str, int | list[str], str]] = [
    ("sfp.10g-lr", "ec.regional", "sh.branch", 12, "区域库调拨补货 / restocking from the region"),
    ("sfp.10g-lr", "cn.central", "bj.branch", 8, "中央库调拨补货 / restocking from central"),
    ("ssd.1920", "cn.central", "bj.branch", ["2102312QLM10P1000733"],
     "中央库调拨补货 / restocking from central"),
]  # fmt: skip

# A replenishment on its way at the load (in transit): part alias, from, to, quantity,
# reason, shipped this many hours before the load.
REPLENISHMENT = ("psu.900w", "cn.central", "ec.regional", 2,
                 "按目标库存补货 (目标 6) / topping up to the target level", 3)  # fmt: skip

# part alias, warehouse alias, reorder point, target level
LEVELS = [
    ("s12700e.mpu", "spdb.site", 1, 2),
    ("ssd.1920", "ec.regional", 2, 4),
    ("sfp.10g-lr", "sh.branch", 4, 12),
    ("psu.900w", "ec.regional", 2, 6),
]


@dataclass(frozen=True)
class RmaStory:
    """The RMA of a defective part a story returned: minutes after its ticket's
    registration for each step, as `by` (a key alias)."""

    ticket: str  # ticket alias
    part: str
    serial: str
    warehouse: str
    vendor: str
    reason: str
    by: str
    created: int
    received: int
    sent: int
    receive_note: str
    send_note: str


@dataclass(frozen=True)
class LoanStory:
    """A loaner lent against an open ticket, `at` minutes after its registration, due
    back `days` after the load's business date."""

    ticket: str
    part: str
    serial: str
    by: str
    at: int
    days: int
    note: str


RMA = RmaStory(
    ticket="spdb.core", part="s12700e.mpu", serial=DEFECTIVE_MPU, warehouse="ec.regional",
    vendor="华为技术有限公司",
    reason="浦发银行张江数据中心 S12700E-8 主用主控板硬件故障 (指示灯红色常亮, 主备倒换失败), "
    "现场更换后返厂检测维修",
    by="store", created=700, received=705, sent=1500,
    receive_note="故障板已在华东区域备件库, 外观完好, 随附故障日志",
    send_note="寄华为深圳返修中心, 顺丰 SF1408 2291 7736",
)  # fmt: skip

LOAN = LoanStory(
    ticket="fudan.access", part="s5735.loaner", serial=LOANER_S5735, by="store", at=40, days=7,
    note="接入交换机已过保, 先借用 S5735 备机恢复光华楼12楼东侧办公网络; 王工明早现场安装, "
    "客户采购新设备到货后归还",
)  # fmt: skip
