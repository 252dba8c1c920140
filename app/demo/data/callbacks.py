"""The demo's after-care records: a contact plan for the bank (定期主动式电话支持) and the
answered survey of its closed core-switch ticket. The resolved stories' callbacks need
no record here: their resolution scheduled them."""

from __future__ import annotations

# The plan: the bank's network lead called by the hotline every four weeks, on Mondays.
PLAN_CUSTOMER = "spdb"
PLAN_CONTACT = "spdb.wang"
PLAN_AGENT = "agent"
PLAN_EVERY_WEEKS = 4
PLAN_NOTE = (
    "重点客户定期回访: 核心网络运行情况, 备件与巡检需求 "
    "(Key account: four-weekly call on the core network, spare parts and inspections)"
)

# The survey: the reporter rates the core-switch repair after confirming it.
SURVEY_TICKET = "spdb.core"
SURVEY_ANSWERED_MINUTES = 1475  # after registration (confirmed at +1460)
SURVEY_RATING = 5
SURVEY_COMMENT = "工程师到场迅速, 备件准备充分, 业务恢复及时。Quick on site, well prepared."
