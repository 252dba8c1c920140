"""Time-ordered UUIDv7 identifiers (RFC 9562), so primary keys index in insert order."""

from __future__ import annotations

import os
import struct
import time
import uuid

_last_ms = 0
_counter = 0
# Random bits are read from the OS in blocks: one getrandom() system call per 512 ids
# instead of one per id (a ticket creation makes twelve), unpacked into 62-bit words
# with the variant bits already set, once per block.
_BLOCK_IDS = 512
_UNPACK = struct.Struct(f">{_BLOCK_IDS}Q").unpack
_RAND_B_MASK = (1 << 62) - 1
_VARIANT = 0b10 << 62
_words: list[int] = []


def _forget_random() -> None:
    # A forked child must not reuse its parent's unread bits (their ids would collide).
    _words.clear()


os.register_at_fork(after_in_child=_forget_random)


def _refill() -> None:
    _words.extend(_VARIANT | (w & _RAND_B_MASK) for w in _UNPACK(os.urandom(8 * _BLOCK_IDS)))


_new = object.__new__
_set = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown


def _from_int(value: int) -> uuid.UUID:
    # What `uuid.UUID(int=value)` builds, without its keyword handling and range check
    # (uuid7 builds the value in range): less than half the cost, twelve times per
    # ticket creation. CPython's own uuid7 (3.14) builds its UUIDs the same way.
    u = _new(uuid.UUID)
    _set(u, "int", value)
    _set(u, "is_safe", _UNKNOWN)
    return u  # type: ignore[no-any-return]


def uuid7() -> uuid.UUID:
    # A 12-bit counter in rand_a keeps ids monotonic within the same millisecond,
    # which keeps cursor pagination by id stable for rows created together.
    global _last_ms, _counter
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
    if not _words:
        _refill()
    # unix_ts_ms (48 bits) | version 7 | rand_a = counter | variant | rand_b
    return _from_int(
        ((ms & 0xFFFF_FFFF_FFFF) << 80) | (0x7 << 76) | (_counter << 64) | _words.pop()
    )
