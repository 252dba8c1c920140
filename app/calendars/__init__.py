"""Business calendars: working hours, days off and adjusted working days, and the
business-time arithmetic SLA targets run on.

Pure code (no database, no web framework). `businesstime` is the engine;
`holiday_source` feeds it public holidays and China's adjusted working days (调休)
from the maintained `holidays` package.
"""
