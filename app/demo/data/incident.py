"""The demo's open major incident: its title, description and status updates."""

from __future__ import annotations

# The grid's two open tickets turn out to be one outage: the duty admin declares a major
# incident (重大事故) across product families, links both, and posts status updates on
# its 30-minute timer; it is still open, the next update due shortly after the load.
# Minutes are before the load; texts in Chinese and English (the readers are both).
INCIDENT_TITLE = (
    "国网四川调度数据网控制面异常: BGP 震荡与核心交换机 CPU 过高 / "
    "State Grid Sichuan dispatch network: BGP flapping and core switch CPU overload"
)
INCIDENT_DESCRIPTION = (
    "省调-地调互联 NE40E-X8A BGP 邻居反复震荡, 同机房 S12700E-8 主控 CPU 持续 90% 以上, "
    "疑为同一异常流量冲击控制面。调度业务已切换静态路由备份, 保电期间每30分钟通报进展。\n\n"
    "The NE40E-X8A BGP peers towards the regional dispatch centres keep flapping and the "
    "S12700E-8 in the same room runs its main control board above 90% CPU, most likely one "
    "traffic storm hitting both control planes. Dispatch traffic runs on static backup "
    "routes; status updates every 30 minutes while power supply protection is on."
)
INCIDENT_AT = 35
INCIDENT_UPDATES = [
    (28, "已在两台设备启用 cpu-defend 限速并采集上送 CPU 报文; 厂商 TAC 已加入电话会议。 / "
         "cpu-defend rate limits set on both devices and the CPU-bound packets captured; "
         "the vendor's TAC joined the bridge call."),
    (6, "定位到地调侧一台接入交换机环路引发广播风暴, 已远程关闭该端口, BGP 稳定10分钟, CPU 降至35%。 / "
        "Cause found: a loop on an access switch at the regional centre caused a broadcast "
        "storm; its port is shut remotely, BGP stable for 10 minutes, CPU down to 35%."),
]  # fmt: skip
