"""E-mail addresses and phone numbers as people type them: the one check that customers'
contacts and engineers share (and the e-mail notices will rely on)."""

from __future__ import annotations

import re

# Loose on purpose: one '@', something on each side, a dot in the domain, no spaces.
# Deliverability is the mail server's business; this only catches obvious typing errors.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# Phones as people write them in China: "+86 10 8888 6666", "010-88886666 转 8001",
# "400-810-8888", "13800138000". At least five digits; only the usual separators.
PHONE = re.compile(r"^\+?[0-9][0-9 ()\-./#]*((转|ext\.?|x)\s*[0-9]+)?$", re.IGNORECASE)
PHONE_MIN_DIGITS = 5


def check_email(value: str | None) -> str | None:
    """A pydantic field validator: the value unchanged, or ValueError."""
    if value is not None and not EMAIL.match(value):
        raise ValueError("not a valid e-mail address")
    return value


def check_phone(value: str | None) -> str | None:
    """A pydantic field validator: the value unchanged, or ValueError."""
    if value is not None and (
        not PHONE.match(value.strip()) or sum(c.isdigit() for c in value) < PHONE_MIN_DIGITS
    ):
        raise ValueError("not a valid phone number")
    return value
