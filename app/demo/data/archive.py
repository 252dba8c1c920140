"""The demo's archive records, as the loader steps create them (in this order): branches,
API keys, teams and engineers, customers and their contacts, devices, contracts. Each
row is a tuple whose fields the comment above it names; aliases are the short names
the steps keep ids under (ctx.ids["customer:spdb"]) and the stories refer to."""

from __future__ import annotations

from datetime import date

from app.core.security import Role

# -- branches -------------------------------------------------------------------------

# code, name, name_en, region
BRANCHES = [
    ("SH", "上海分公司", "Shanghai Branch", "华东"),
    ("BJ", "北京分公司", "Beijing Branch", "华北"),
    ("GZ", "广州分公司", "Guangzhou Branch", "华南"),
    ("CD", "成都服务网点", "Chengdu Service Point", "西南"),
]


# -- the other keys -------------------------------------------------------------------

# alias, role, name, branch code (None: all branches)
KEYS: list[tuple[str, Role, str, str | None]] = [
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

# The R&D support keys the people step issues for its own teams:
# alias, role, name, branch code (None: all branches)
RD_KEYS: list[tuple[str, Role, str, str | None]] = [
    ("rd_manager", Role.manager, "吴总监 Wu Jun (研发支持部经理)", "SH"),
    ("rd_liu", Role.engineer, "刘博士 Dr. Liu Bo (研发支持)", None),
]


# -- people: teams, engineers, rosters --------------------------------------------------

# alias, branch, code, name, name_en, line, manager alias
TEAMS = [
    ("sh-l1", "SH", "SH-L1", "华东区一线技术支持组", "East China line-1 support", "l1", "manager"),
    ("sh-l2", "SH", "SH-L2", "华东区二线网络专家组", "East China line-2 network experts", "l2",
     "manager"),
    ("rd", "SH", "RD-NET", "研发支持部 网络产品线", "R&D support, network products", "l3",
     "rd_manager"),
]  # fmt: skip
# key alias, team alias, line, skills ((kind, code, level)), max load, languages
ENGINEERS = [
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
ENGINEER_CONTACTS = {
    "zhang": ("zhang.wei@supportline.example.cn", "13816620101"),
    "wang": ("wang.lei@supportline.example.cn", "13816620102"),
    "li": ("li.qiang@supportline.example.cn", "13801160103"),
    "chen": ("chen.hao@supportline.example.cn", "13802200104"),
    "liu": ("liu.yang@supportline.example.cn", "13808280105"),
    "rd_liu": ("liu.bo@supportline.example.cn", "13816620199"),
}


# -- customers and contacts -----------------------------------------------------------

# alias, branch, code, name, name_en, industry, address, notes
CUSTOMERS = [
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
CONTACTS = [
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


# -- installed base -------------------------------------------------------------------

# alias, customer, model, family, serial, software version, site, installed,
# warranty end in days from today (negative: already expired)
DEVICES = [
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


# -- contracts ------------------------------------------------------------------------

# number, customer, level, starts / ends in days from today, status, covered devices
# (empty: the contract covers all the customer's devices), notes
CONTRACTS = [
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
