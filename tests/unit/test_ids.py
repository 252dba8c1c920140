"""UUIDv7 ids: version and variant bits, strictly increasing within a process, unique,
and a forked child never repeats its parent's random bits (they are read in blocks)."""

from __future__ import annotations

import os

from app.core.ids import uuid7


def test_ids_are_v7_increasing_and_unique() -> None:
    ids = [uuid7() for _ in range(5000)]
    assert all(i.version == 7 and i.variant == "specified in RFC 4122" for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_child_draws_its_own_random_bits() -> None:
    uuid7()  # the parent has a block of random bits, mostly unread
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids' random parts, to the parent
        os.close(read)
        os.write(write, b"".join(uuid7().bytes[8:] for _ in range(50)))
        os._exit(0)
    os.close(write)
    parent = {uuid7().bytes[8:] for _ in range(50)}
    data = b""
    while chunk := os.read(read, 4096):
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    child = {data[i : i + 8] for i in range(0, len(data), 8)}
    assert len(child) == 50
    # The low 62 bits are random: a shared block would give the same ones in both.
    mask = lambda b: int.from_bytes(b, "big") & ((1 << 62) - 1)  # noqa: E731
    assert not {mask(b) for b in child} & {mask(b) for b in parent}
