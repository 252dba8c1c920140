"""The demo's ticket stories: sixteen tickets in every status, each registered and
worked through the ticket service by the people whose keys the demo issues."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from app.demo.data.parts import DEFECTIVE_MPU

# (minutes after registration, who, what, arguments). `what` is a lifecycle action
# (acknowledge, assign, start, wait, resume, resolve, confirm, reopen, cancel) with its
# API body, or comment / attempt / visit, or a spare-parts op (app.demo.parts): "parts"
# (a part request, its lines naming "part" and "warehouse" by alias; the ticket waits on
# parts), then on the ticket's latest request "part_step" ("action": approve, dispatch,
# deliver...; delivering resumes the ticket), "fit", "defective-return" (to "warehouse").
# Argument shorthands: "to" (owner by alias), "contact" (contact by alias), "via" (the
# channel the change came from; defaults by actor), "arrived"/"departed" (visit times in
# minutes after registration).
Op = tuple[int, str, str, dict[str, Any]]

# Where each actor's changes come from unless an op says otherwise.
ACTOR_CHANNEL = {"agent": "phone", "crm": "api", "nms": "webhook"}


@dataclass
class Story:
    ago: timedelta  # registered this long before the load
    by: str  # who registers it (a key alias)
    customer: str
    contact: str | None
    device: str | None
    ticket: dict[str, Any]  # the rest of TicketCreate
    ops: list[Op] = field(default_factory=list)
    fault_minutes: int | None = None  # the fault began this long before registration
    alias: str | None = None  # kept as ctx.ids["ticket:<alias>"] for later steps


def _h(hours: float) -> timedelta:
    return timedelta(hours=hours)


STORIES = [
    # Closed: P1 core switch outage, dispatched, spare part, on-site visit, confirmed.
    Story(
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
            (50, "zhang", "parts", {"lines": [{"part": "s12700e.mpu", "warehouse": "spdb.site"}], "note": "申请主控板备件 (客户现场本地备件库), 预计1小时内送达机房"}),
            (53, "manager", "part_step", {"action": "approve", "note": "P1 核心故障, 同意动用客户本地备件库主控板"}),
            (58, "store", "part_step", {"action": "dispatch", "note": "本地备件库出库 MPUE 1 块, 由客户机房值班员陪同送往 3 楼 A05 机柜"}),
            (112, "zhang", "part_step", {"action": "deliver", "note": "备件已送达现场, 料号与序列号核对无误"}),
            (200, "zhang", "fit", {"note": "已更换主用主控板 (槽位 9), 故障板带回"}),
            (205, "zhang", "comment", {"body": "新主控板上线, 备板补丁已同步; 主备倒换测试两次均正常。", "visibility": "internal"}),
            (236, "zhang", "visit", {"arrived": 52, "departed": 236, "notes": "现场更换主用主控板并同步备板补丁, 配合客户回切业务, 观察30分钟无告警。"}),
            (240, "zhang", "resolve", {"resolution_summary": "更换故障主控板, 将备用主控板补丁升级至与主用一致, 主备倒换测试通过, 业务已回切生产并恢复。故障板寄回华东区域备件库返厂维修。"}),
            (600, "zhang", "defective-return", {"warehouse": "ec.regional", "serials": [DEFECTIVE_MPU], "note": "故障主控板已寄回华东区域备件库, 顺丰 SF1408 2236 9157, 待返厂"}),
            (1460, "agent", "confirm", {"contact": "spdb.wang", "note": "客户王建国电话确认业务已稳定运行24小时, 同意关闭"}),
        ],
        fault_minutes=12,
        alias="spdb.core",
    ),
    # Reopened: resolved, then the problem came back at the next failover drill.
    Story(
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
    Story(
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
            (30, "li", "parts", {"lines": [{"part": "ne40e.fan", "warehouse": "cn.central"}], "note": "申请风扇模块备件, 北京备件库次日到货"}),
            (240, "store", "part_step", {"action": "dispatch", "note": "北京中央备件库出库, 同城快递次日上午送达西直门调度指挥中心"}),
            (900, "li", "part_step", {"action": "deliver", "note": "备件到货, 已报备当晚天窗期作业"}),
            (1228, "li", "fit", {"note": "天窗期热插拔更换 FAN1, 旧风扇模块带回待返还备件库"}),
            (1232, "li", "visit", {"arrived": 1150, "departed": 1230, "notes": "天窗期 00:50 进场, 热插拔更换 FAN1, 温度恢复正常后离场。"}),
            (1235, "li", "resolve", {"resolution_summary": "更换故障风扇模块, 告警清除, 单板温度恢复至 38℃。"}),
            (1900, "agent", "confirm", {"contact": "bjsubway.zhao", "note": "客户来电确认告警未再出现"}),
        ],
        fault_minutes=120,
    ),
    # Closed: expired contract (uncontracted), waited on the customer, confirmed by e-mail.
    Story(
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
    Story(
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
    Story(
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
    Story(
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
    # Waiting on parts: a monitoring alert, RAID degraded, a disk on its way from the
    # regional depot (approved, dispatched, not yet delivered).
    Story(
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
            (60, "wang", "parts", {"lines": [{"part": "ssd.1920", "warehouse": "ec.regional"}], "note": "已申请 1.92TB SSD 备件, 区域库调拨, 预计明早 10:00 到场"}),
            (62, "agent", "comment", {"body": "您好, 已为您申请更换硬盘, 备件预计明早到达, 届时工程师上门更换。", "via": "email"}),
            (75, "manager", "part_step", {"action": "approve", "note": "设备在保且在合同内, 同意更换"}),
            (150, "store", "part_step", {"action": "dispatch", "note": "华东区域备件库出库, 专车配送张江数据中心, 预计明早 10:00 到场"}),
        ],
        fault_minutes=3,
    ),
    # Waiting on the customer: an upgrade plan sent, the maintenance window not yet agreed.
    Story(
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
    Story(
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
    Story(
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
    Story(
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
    Story(
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
        alias="fudan.access",
    ),
    # Acknowledged (assigned to the engineer who took it).
    Story(
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
    Story(
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
    Story(
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
