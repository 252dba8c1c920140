"""Time-ordered UUIDv7 identifiers (RFC 9562), so primary keys index in insert order."""

from __future__ import annotations

import os
import time
import uuid

_last_ms = 0
_counter = 0
# Random bits are read from the OS in blocks: one getrandom() system call per 512 ids
# instead of one per id (a ticket creation makes twelve).
_RANDOM_BLOCK = 8 * 512
_random = b""
_at = _RANDOM_BLOCK


def _forget_random() -> None:
    # A forked child must not reuse its parent's unread bits (their ids would collide).
    global _at
    _at = _RANDOM_BLOCK


os.register_at_fork(after_in_child=_forget_random)


def uuid7() -> uuid.UUID:
    # A 12-bit counter in rand_a keeps ids monotonic within the same millisecond,
    # which keeps cursor pagination by id stable for rows created together.
    global _last_ms, _counter, _random, _at
    ms = time.time_ns() // 1_000_000
    if ms <= _last_ms:
        _counter += 1
        if _counter > 0xFFF:
            _last_ms += 1
            _counter = 0
        ms = _last_ms
    else:
        _last_ms = ms
        _counter = 0
    if _at >= _RANDOM_BLOCK:
        _random, _at = os.urandom(_RANDOM_BLOCK), 0
    rand_b = int.from_bytes(_random[_at : _at + 8], "big") & ((1 << 62) - 1)
    _at += 8
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= _counter << 64
    value |= 0b10 << 62
    value |= rand_b
    return uuid.UUID(int=value)
